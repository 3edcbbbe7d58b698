/*
 * throttle: failed-login throttling, all in memory and bounded. Callers
 * key it by client ("ip:ADDR") and by account ("acct:LOGIN"), ask
 * thr_delay before answering an authentication attempt, and report the
 * outcome with thr_fail or thr_success.
 *
 * Delay: 0 without a failure in the last block_secs, then 0.5, 1, 2, 4,
 * and 8 seconds from the fifth failure on. Block: once a key collects
 * `limit` failures within block_secs, thr_delay answers -1 (refuse with a
 * temporary error, without checking any password) for block_secs; failures
 * reported while blocked are not counted, so a block is not extended by
 * the attempts it refuses. Failures older than block_secs stop counting.
 *
 * Memory is one array of `slots` slots, allocated by thr_init and never
 * grown. A key lives in one of THR_PROBE slots after its (keyed) hash;
 * a new key takes a free slot there, else the least recently failed one
 * that is not blocked, else the blocked one whose block ends first. So
 * every call costs at most THR_PROBE comparisons, and an attacker spraying
 * keys can neither grow memory nor lift a block. Keys longer than
 * THR_KEY_MAX bytes are cut to THR_KEY_MAX, the same way every time.
 * No global state, no I/O after thr_init (which reads getrandom(2) for the
 * hash key); time comes from the caller, in seconds (a monotonic clock).
 */
#ifndef VD_THROTTLE_H
#define VD_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define THR_KEY_MAX 400   /* "acct:" + a login, "ip:" + an address */
#define THR_LIMIT_MAX 16  /* largest limit: the failures kept per key */
#define THR_PROBE 8       /* slots a key may live in */
#define THR_DELAY_MAX 8.0 /* seconds */

struct thr_slot {
	bool used;
	bool blocking;               /* blocked until blocked_until */
	unsigned char nfail, head;   /* ring of the last failure times */
	uint16_t klen;
	double last;                 /* the latest failure counted */
	double blocked_until;
	double when[THR_LIMIT_MAX];  /* failure times, ring of `limit` */
	char key[THR_KEY_MAX];
};

struct thr {
	struct thr_slot *slot;
	size_t nslots;
	unsigned limit;
	double block_secs;
	uint64_t seed[2]; /* the hash key, so slots cannot be aimed at */
};

/*
 * slots > 0, 0 < limit <= THR_LIMIT_MAX, block_secs > 0.
 * Returns 0, or -1 (bad argument or out of memory; t is then empty).
 */
int thr_init(struct thr *t, size_t slots, unsigned limit, double block_secs);
void thr_fini(struct thr *t);

/* Seconds to wait before the next answer to key, or -1 while blocked. */
double thr_delay(struct thr *t, const char *key, double now);
/* Counts a failure of key at now (a no-op while key is blocked). */
void thr_fail(struct thr *t, const char *key, double now);
/* Forgets key: the next delay is 0. */
void thr_success(struct thr *t, const char *key);

#endif
