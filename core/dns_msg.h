/*
 * dns_msg: the pure half of dns. Host-name syntax (RFC 1035 2.3.1, RFC
 * 1123 2.1), and reading the answers c-ares hands over: the MX records
 * of an answer with their least TTL (RFC 1035 3.3.9, RFC 7505 for the
 * null MX), and the negative TTL of an SOA (RFC 2308 5).
 *
 * Pure: no I/O, no globals, no state kept between calls. The only
 * allocation is c-ares's ares_expand_name for an MX host, freed before
 * the call returns (it needs no ares_library_init).
 *
 * Every input is hostile. A message is msg[0..len), never read past len:
 * every count, length and compression pointer is checked against it, and
 * label types 01 and 10 are refused. msg may be NULL when len is 0; a
 * message shorter than a header or longer than DNS_MSG_LEN_MAX is
 * malformed. A TTL with its top bit set counts as 0 (RFC 2181 8).
 */
#ifndef VD_DNS_MSG_H
#define VD_DNS_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "core/dns.h"

enum {
	DNS_MSG_T_A = 1,
	DNS_MSG_T_SOA = 6,
	DNS_MSG_T_MX = 15,
	DNS_MSG_T_AAAA = 28,
	DNS_MSG_C_IN = 1,
};

/* No message is longer: a TCP answer's length is 16 bits (RFC 1035 4.2.2). */
#define DNS_MSG_LEN_MAX 65535u
/* MX records read from one answer; the rest are passed over. c-ares
 * follows a loop of compression pointers up to the message's length
 * before it gives up, so each name costs up to that much. */
#define DNS_MSG_MX_READ_MAX 128u

/*
 * in (a C string) as a host name into out (DNS_NAME_MAX bytes): lower
 * case, without its trailing dot. Letters, digits and '-', labels of 1..63
 * bytes that neither start nor end with '-', at most 253 bytes in all.
 * 0, or -1 when in is none (out is then untouched).
 */
int dns_msg_name_norm(const char *in, char *out);

/*
 * How long the negative answer msg may be kept: the TTL or the MINIMUM of
 * the first SOA of its authority section, whichever is less (RFC 2308 5).
 * 0 without one ("SHOULD NOT be cached") or when msg is malformed. Not
 * capped: the cache sets its own limit.
 */
uint32_t dns_msg_neg_ttl(const unsigned char *msg, size_t len);

/*
 * The MX records (class IN) of msg's answer section into mx[0..*n_r),
 * sorted by preference; mx has room for DNS_MX_MAX, the most preferred
 * of a larger answer. Only the first DNS_MSG_MX_READ_MAX MX records are
 * read. A host that is no host name (dns_msg_name_norm) is skipped.
 * Records of other types (a CNAME on the way) count only for the TTL.
 * Owner names are not matched against the question: c-ares did that, and
 * the answer comes from the resolver we were configured with. *why_r is a
 * static text for a log line. Returns:
 *   DNS_OK        *n_r >= 1; *ttl_r the least TTL of the answer section
 *   DNS_NULLMX    one MX, and its host is "." (RFC 7505 3); *n_r is 0,
 *                 *ttl_r as for DNS_OK
 *   DNS_NODATA    no MX record; *n_r is 0, *ttl_r dns_msg_neg_ttl(msg,
 *                 len)
 *   DNS_TEMPFAIL  malformed, or no MX host left; *n_r and *ttl_r are 0
 * (never DNS_NXDOMAIN: that is the answer's RCODE, which c-ares reads).
 */
enum dns_status dns_msg_mx_parse(const unsigned char *msg, size_t len,
				 struct dns_mx *mx, unsigned *n_r,
				 uint32_t *ttl_r, const char **why_r);

#endif
