/*
 * dns_tsig: TSIG (RFC 8945) for dns_update: reads a key into a
 * dns_update_cfg, signs a request and verifies the answer to it with
 * HMAC-SHA-256, -512 or -1 (BearSSL, so this module links -lbearssl).
 *
 * No I/O, no allocation, no state kept between calls; the clock is read
 * with time(2) to sign (with a fudge of 300 s) and to check the answer's
 * time against the fudge it carries. Key names follow dns_wire_name_norm;
 * secrets are 1 to 128 bytes (the size of dns_update_cfg's tsig_secret).
 *
 * An answer is trusted only when it carries a TSIG from our key and
 * algorithm with a full-length MAC that verifies (compared in constant
 * time) and a time within the fudge; an unsigned error answer (5.3.2) is
 * reported for what it says, so it can make us fail but never succeed.
 *
 * Results: 0 on success; -1, with one line of text in err where one is
 * taken.
 */
#ifndef VD_DNS_TSIG_H
#define VD_DNS_TSIG_H

#include <stddef.h>

#include "tools/dns_wire.h"

enum {
	DNS_TSIG_MAC_MAX = 64, /* the longest MAC: HMAC-SHA-512 */
};

struct dns_update_cfg;
struct dns_tsig_alg; /* private: one of the three HMACs */

/* A checked key; secret points into the dns_update_cfg it came from. */
struct dns_tsig_key {
	char name[256];
	const struct dns_tsig_alg *alg;
	const unsigned char *secret;
	size_t len;
};

/*
 * The implementation of dns_update_parse_key (see dns_update.h): "NAME ALG
 * BASE64SECRET" or a BIND key file's first key into c's tsig_name,
 * tsig_alg, tsig_secret and tsig_len; c is left unchanged on error.
 */
int dns_tsig_parse_key(struct dns_update_cfg *c, const char *text,
		       size_t len, char *err, size_t errlen);

/* Checks c's tsig_name, tsig_alg and secret into k; 0 or -1 with err. */
int dns_tsig_key_from(const struct dns_update_cfg *c, struct dns_tsig_key *k,
		      char *err, size_t errlen);

/*
 * Signs the request in w (ARCOUNT still 0): appends the TSIG RR and sets
 * ARCOUNT to 1. The request's MAC goes to mac_r (DNS_TSIG_MAC_MAX bytes
 * hold any), for dns_tsig_check. Returns 0, or -1 when w is full.
 */
int dns_tsig_sign(struct dns_wire_buf *w, const struct dns_tsig_key *k,
		  unsigned id, unsigned char *mac_r);

/*
 * Checks the answer m (header h, already read) to a request signed with k
 * whose MAC was reqmac (RFC 8945 5.4). Returns 0 when its TSIG verifies
 * (the rcode is the caller's to judge), -1 with err otherwise, also when
 * the answer is malformed.
 */
int dns_tsig_check(const struct dns_wire_msg *m, const struct dns_wire_hdr *h,
		   const struct dns_tsig_key *k, const unsigned char *reqmac,
		   char *err, size_t errlen);

#endif
