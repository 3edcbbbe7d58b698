#include "core/throttle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012) keyed by t->seed: the slot
 * a key lands in cannot be predicted, so an attacker cannot pick keys
 * that all land in the window of an account they want to keep unblocked
 * (the hash-flooding attack, e.g. CVE-2011-4885).
 */
static uint64_t
rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static void
sip_round(uint64_t v[4])
{
	v[0] += v[1], v[1] = rotl(v[1], 13), v[1] ^= v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3], v[3] = rotl(v[3], 16), v[3] ^= v[2];
	v[0] += v[3], v[3] = rotl(v[3], 21), v[3] ^= v[0];
	v[2] += v[1], v[1] = rotl(v[1], 17), v[1] ^= v[2];
	v[2] = rotl(v[2], 32);
}

static void
sip_block(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	sip_round(v);
	sip_round(v);
	v[0] ^= m;
}

static uint64_t
siphash(const uint64_t k[2], const unsigned char *p, size_t len)
{
	uint64_t v[4] = {
		k[0] ^ UINT64_C(0x736f6d6570736575),
		k[1] ^ UINT64_C(0x646f72616e646f6d),
		k[0] ^ UINT64_C(0x6c7967656e657261),
		k[1] ^ UINT64_C(0x7465646279746573),
	};
	uint64_t m = (uint64_t)len << 56;
	size_t full = len - len % 8;

	for (size_t i = 0; i < full; i += 8) {
		uint64_t w = 0;
		for (unsigned j = 0; j < 8; j++)
			w |= (uint64_t)p[i + j] << (8 * j);
		sip_block(v, w);
	}
	for (size_t j = 0; j < len % 8; j++)
		m |= (uint64_t)p[full + j] << (8 * j);
	sip_block(v, m);
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

int
thr_init(struct thr *t, size_t slots, unsigned limit, double block_secs)
{
	memset(t, 0, sizeof(*t));
	if (slots == 0 || limit == 0 || limit > THR_LIMIT_MAX ||
	    !(block_secs > 0) || !isfinite(block_secs))
		return -1;
	t->slot = calloc(slots, sizeof(*t->slot));
	if (t->slot == NULL)
		return -1;
	t->nslots = slots;
	t->limit = limit;
	t->block_secs = block_secs;
	/* Without entropy (a very early boot) the table still works; only
	 * the slots become predictable. */
	if (getrandom(t->seed, sizeof(t->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(t->seed)) {
		t->seed[0] = (uint64_t)(uintptr_t)t->slot;
		t->seed[1] = (uint64_t)(uintptr_t)t ^ UINT64_C(0x9e3779b97f4a7c15);
	}
	return 0;
}

void
thr_fini(struct thr *t)
{
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

static size_t
key_len(const char *key)
{
	return strnlen(key, THR_KEY_MAX);
}

static size_t
home(const struct thr *t, const char *key, size_t len)
{
	return (size_t)(siphash(t->seed, (const unsigned char *)key, len) %
			t->nslots);
}

static size_t
window(const struct thr *t)
{
	return t->nslots < THR_PROBE ? t->nslots : THR_PROBE;
}

static struct thr_slot *
find(struct thr *t, const char *key, size_t len)
{
	size_t h = home(t, key, len);

	/* The whole window is searched (no stop at a free slot), so
	 * forgetting a key needs no tombstone. */
	for (size_t i = 0; i < window(t); i++) {
		struct thr_slot *s = &t->slot[(h + i) % t->nslots];
		if (s->used && s->klen == len && memcmp(s->key, key, len) == 0)
			return s;
	}
	return NULL;
}

static bool
blocked(const struct thr_slot *s, double now)
{
	return s->blocking && now < s->blocked_until;
}

/* Free first, then the least recently failed unblocked slot, then the
 * blocked slot whose block ends first: an attacker's spray of one-off
 * failures never lifts a block it has earned. */
static struct thr_slot *
victim(struct thr *t, const char *key, size_t len, double now)
{
	size_t h = home(t, key, len);
	struct thr_slot *best = NULL;
	int best_class = 3;
	double best_time = 0;

	for (size_t i = 0; i < window(t); i++) {
		struct thr_slot *s = &t->slot[(h + i) % t->nslots];
		int c = !s->used ? 0 : blocked(s, now) ? 2 : 1;
		double when = c == 2 ? s->blocked_until : s->last;
		if (c < best_class || (c == best_class && c > 0 &&
				       when < best_time)) {
			best = s;
			best_class = c;
			best_time = when;
		}
	}
	return best;
}

/* Failures within block_secs of now (a clock step back counts them). */
static unsigned
recent(const struct thr *t, const struct thr_slot *s, double now)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->nfail; i++)
		n += now - s->when[i] < t->block_secs;
	return n;
}

double
thr_delay(struct thr *t, const char *key, double now)
{
	struct thr_slot *s = find(t, key, key_len(key));
	double d = 0.5;

	if (s == NULL)
		return 0;
	if (blocked(s, now))
		return -1;
	unsigned n = recent(t, s, now);
	if (n == 0)
		return 0;
	for (unsigned i = 1; i < n && d < THR_DELAY_MAX; i++)
		d *= 2;
	return d < THR_DELAY_MAX ? d : THR_DELAY_MAX;
}

void
thr_fail(struct thr *t, const char *key, double now)
{
	size_t len = key_len(key);
	struct thr_slot *s = find(t, key, len);

	if (s == NULL) {
		s = victim(t, key, len, now);
		memset(s, 0, sizeof(*s));
		s->used = true;
		s->klen = (uint16_t)len;
		memcpy(s->key, key, len);
	}
	if (blocked(s, now))
		return;
	if (s->blocking) {
		/* A block that ran out: the failures behind it are at least
		 * block_secs old, so the key starts afresh. */
		s->blocking = false;
		s->nfail = s->head = 0;
	}
	s->when[s->head] = now;
	s->head = (unsigned char)((s->head + 1) % t->limit);
	if (s->nfail < t->limit)
		s->nfail++;
	s->last = now;
	if (recent(t, s, now) >= t->limit) {
		s->blocking = true;
		s->blocked_until = now + t->block_secs;
	}
}

void
thr_success(struct thr *t, const char *key)
{
	struct thr_slot *s = find(t, key, key_len(key));

	if (s != NULL)
		memset(s, 0, sizeof(*s));
}
