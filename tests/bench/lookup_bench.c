/*
 * lookup_bench: lookups per second on the tables vdsync wrote (a
 * benchmark helper of tests/bench/sync_bench.py, never built by make).
 *   lookup_bench TABLE_DIR DOMAINS USERS_PER_DOMAIN SECONDS
 * Picks random existing keys (uN@dNNNNN.test, alt.uN@dNNNNN.test), then
 * for SECONDS each:
 *   tbl   tbl_lookup_address + tbl_lookup_user (what vdmaild does per
 *         RCPT), counted as two lookups
 *   raw   tinycdb cdb_find on users.cdb (the floor: no decoding)
 * Prints "tbl LOOKUPS_PER_S MISSES" and "raw LOOKUPS_PER_S MISSES".
 */
#include <cdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdb/tbl.h"
#include "core/log.h"

#define NKEYS 65536 /* a power of two */

static char addr_keys[NKEYS][64];
static char alt_keys[NKEYS][64];
static size_t addr_len[NKEYS], alt_len[NKEYS];

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct tbl_set s;
	char err[512];
	static struct tbl_address a;
	static struct tbl_user u;

	if (argc != 5) {
		fprintf(stderr, "usage: lookup_bench DIR DOMAINS USERS SECONDS\n");
		return 2;
	}
	long domains = atol(argv[2]), users = atol(argv[3]);
	double secs = atof(argv[4]);
	if (domains < 1 || users < 1 || secs <= 0 || secs > 60)
		return 2;
	log_init("lookup_bench", false, false);
	if (tbl_set_open(&s, argv[1], TBL_MASK_SERVER, err, sizeof(err)) < 0) {
		fprintf(stderr, "lookup_bench: %s\n", err);
		return 3;
	}
	srand(12345);
	for (int i = 0; i < NKEYS; i++) {
		long d = rand() % domains, n = rand() % users;
		addr_len[i] = (size_t)snprintf(addr_keys[i], 64, "u%ld@d%05ld.test",
					       n, d);
		alt_len[i] = (size_t)snprintf(alt_keys[i], 64,
					      "alt.u%ld@d%05ld.test", n, d);
	}

	/* tbl: address (the alias, which names the user) then the user */
	unsigned long n = 0, miss = 0;
	double t0 = now(), t = t0;
	while (t - t0 < secs) {
		for (int k = 0; k < 4096; k++, n++) {
			unsigned i = n & (NKEYS - 1);
			if (tbl_lookup_address(&s, alt_keys[i], alt_len[i], &a) != 1 ||
			    tbl_lookup_user(&s, a.user, strlen(a.user), &u) != 1)
				miss++;
		}
		t = now();
	}
	printf("tbl %.0f %lu\n", 2.0 * n / (t - t0), miss);

	/* raw: cdb_find on users.cdb, no decoding */
	struct cdb *c = &s.t[TBL_USERS].cdb;
	n = 0;
	miss = 0;
	t0 = now();
	t = t0;
	while (t - t0 < secs) {
		for (int k = 0; k < 4096; k++, n++) {
			unsigned i = n & (NKEYS - 1);
			if (cdb_find(c, addr_keys[i], (unsigned)addr_len[i]) <= 0)
				miss++;
		}
		t = now();
	}
	printf("raw %.0f %lu\n", n / (t - t0), miss);
	tbl_set_close(&s);
	return 0;
}
