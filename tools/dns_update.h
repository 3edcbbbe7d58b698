/*
 * dns_update: makes this host the MX of a domain at its primary name server
 * with one RFC 2136 UPDATE, signed with TSIG (RFC 8945) when a key is set,
 * and reads a domain's MX records back with a plain query (RFC 1035).
 *
 * Blocking, for vdctl and vdsync only, never the server's loop: one
 * exchange is at most 2 UDP tries of timeout_ms each, plus one TCP exchange
 * of timeout_ms when the UDP answer is truncated (TC); dns_update_mx makes
 * two exchanges (SOA lookup, UPDATE) when the zone is not configured.
 * No allocation, no state kept between calls.
 *
 * Answers are hostile input: only a datagram on a socket connected to the
 * server (so from its address and port) carrying our ID, QR set and our
 * opcode is looked at; others are counted and ignored until the timeout.
 * Every length is checked against the packet's end, compression pointers
 * must point backwards, names are at most 255 octets. A signed UPDATE is
 * accepted only with a verified TSIG on its answer.
 *
 * Names (domain, MX host, zone, key name) are letters, digits, '-' and
 * '_', labels of 1-63 not starting or ending with '-', at most 253
 * characters, one trailing dot allowed; they are lower-cased and written
 * uncompressed. The routines need getrandom(2) and link with -lbearssl
 * (HMAC-SHA-256/512/1 for TSIG).
 *
 * Results: 0 (or a count) on success; -1 with one line of text in err.
 */
#ifndef VD_DNS_UPDATE_H
#define VD_DNS_UPDATE_H

#include <stddef.h>

struct dns_update_cfg {
	char server[64];     /* name server IP literal (IPv4 or IPv6) */
	unsigned port;       /* 53 */
	char zone[256];      /* zone to update; "" = find it with an SOA query */
	char mx_host[256];   /* this host's name: the MX target */
	unsigned mx_pref;    /* 10 */
	unsigned ttl;        /* 3600 */
	char tsig_name[256]; /* "" = unsigned update */
	char tsig_alg[32];   /* "hmac-sha256", "hmac-sha512" or "hmac-sha1" */
	unsigned char tsig_secret[128];
	size_t tsig_len;
	unsigned timeout_ms; /* per try; 0 means 3000 */
};

/*
 * Parses a TSIG key into c's tsig_name, tsig_alg, tsig_secret and tsig_len
 * from len bytes of text: either "NAME ALG BASE64SECRET" or a BIND key
 * file (key "NAME" { algorithm ALG; secret "B64"; };), whose first key is
 * taken. c is left unchanged on error. Returns 0, or -1 with err.
 */
int dns_update_parse_key(struct dns_update_cfg *c, const char *text,
			 size_t len, char *err, size_t errlen);

/*
 * Sends an UPDATE adding "DOMAIN TTL IN MX PREF MX_HOST" to c->zone, or to
 * the zone whose SOA the server names for DOMAIN (answer or authority
 * section of an SOA query) when c->zone is "". Adding an identical RR is a
 * no-op (RFC 2136 3.4.2.2), so re-running is harmless. Returns 0 when the
 * server answered NOERROR (and, if signed, the answer's TSIG verified);
 * -1 with err on timeouts, error codes (REFUSED, NOTAUTH, NOTZONE, ...),
 * TSIG errors (BADSIG, BADKEY, BADTIME), bad names or malformed answers.
 */
int dns_update_mx(const struct dns_update_cfg *c, const char *domain,
		  char *err, size_t errlen);

/*
 * Asks the server for DOMAIN's MX records (plain, unsigned query; follows
 * CNAMEs within the answer) and writes one "PREF HOST\n" line per record
 * into out (NUL-terminated; HOST without the trailing dot, "." for the
 * root). Returns the count (0 for NODATA or NXDOMAIN), or -1 with err,
 * also when out is too small.
 */
int dns_update_query_mx(const struct dns_update_cfg *c, const char *domain,
			char *out, size_t outlen, char *err, size_t errlen);

#endif
