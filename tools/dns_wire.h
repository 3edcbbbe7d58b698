/*
 * dns_wire: the DNS message format (RFC 1035 4.1) as dns_update and
 * dns_tsig use it: names typed by the admin, a request writer and an
 * answer reader.
 *
 * Pure: no I/O, no allocation, no state kept between calls.
 *
 * The writer never overruns its buffer: a write that does not fit sets
 * full and every later write is dropped, so a caller checks full once
 * when the message is done. Names are written uncompressed, which is also
 * the canonical form TSIG digests (RFC 8945 4.3.3).
 *
 * The reader takes answers as hostile input: every length is checked
 * against the end given, compression pointers must point backwards (at
 * most 64 hops), names are at most 255 octets on the wire and come out as
 * lower-case text that DNS_WIRE_NAME_TEXT_MAX bytes always hold (bytes
 * other than letters, digits, '-', '_' and '*' escaped as \DDD); label
 * types 01 and 10 are refused.
 *
 * Results, unless a function says otherwise: 0 on success, -1 on a bad
 * name (with one line of text in err) or a malformed message.
 */
#ifndef VD_DNS_WIRE_H
#define VD_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	DNS_WIRE_HDR_LEN = 12,
	DNS_WIRE_NAME_TEXT_MAX = 1024, /* a decoded name, bytes as \DDD */
	DNS_WIRE_T_CNAME = 5,
	DNS_WIRE_T_SOA = 6,
	DNS_WIRE_T_MX = 15,
	DNS_WIRE_T_TSIG = 250,
	DNS_WIRE_C_IN = 1,
	DNS_WIRE_C_ANY = 255,
	DNS_WIRE_OP_QUERY = 0,
	DNS_WIRE_OP_UPDATE = 5,
};

/* RFC 1035 4.1.1 header flags. */
#define DNS_WIRE_F_QR 0x8000u
#define DNS_WIRE_F_AA 0x0400u
#define DNS_WIRE_F_TC 0x0200u
#define DNS_WIRE_F_OPCODE(f) (((f) >> 11) & 0xFu)
#define DNS_WIRE_F_RCODE(f) ((f) & 0xFu)

/* A message being written into p[0..cap). */
struct dns_wire_buf {
	unsigned char *p;
	size_t cap, len;
	bool full;
};

/* A message received, p[0..len). */
struct dns_wire_msg {
	const unsigned char *p;
	size_t len;
};

struct dns_wire_hdr {
	unsigned id, flags, qd, an, ns, ar;
};

struct dns_wire_rr {
	char name[DNS_WIRE_NAME_TEXT_MAX];
	unsigned type, class;
	uint32_t ttl;
	size_t start, rdata, rdlen; /* offsets into the message */
};

/* Formats one line into err and returns -1; the dns_* modules' error path. */
int dns_wire_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The name of an rcode or TSIG error ("REFUSED", "BADSIG"), never NULL. */
const char *dns_wire_rcode_name(unsigned rc);
/* What an rcode means for us, in a few words; "" when nothing to add. */
const char *dns_wire_rcode_hint(unsigned rc);

/*
 * Checks a name typed by the admin (letters, digits, '-' and '_', labels of
 * 1-63 not starting or ending with '-', at most 253 characters, one
 * trailing dot allowed) and writes it lower-cased without the trailing dot
 * into out (outlen 256 holds any). what names it in err ("domain").
 * Returns 0, or -1 with err.
 */
int dns_wire_name_norm(const char *in, char *out, size_t outlen,
		       const char *what, char *err, size_t errlen);
/* true when name equals zone or lies below it (label-aligned). */
bool dns_wire_name_within(const char *name, const char *zone);

/*
 * Writers: n bytes, 16 and 32 bits big-endian, a name from
 * dns_wire_name_norm ("" is the root), a header; patch16 overwrites 16
 * bits already written at offset at.
 */
void dns_wire_put(struct dns_wire_buf *w, const void *d, size_t n);
void dns_wire_put16(struct dns_wire_buf *w, unsigned v);
void dns_wire_put32(struct dns_wire_buf *w, uint32_t v);
void dns_wire_patch16(struct dns_wire_buf *w, size_t at, unsigned v);
void dns_wire_put_name(struct dns_wire_buf *w, const char *name);
void dns_wire_put_header(struct dns_wire_buf *w, unsigned id, unsigned flags,
			 unsigned qd, unsigned an, unsigned ns, unsigned ar);

/* Big-endian reads; the caller checked that the bytes are there. */
unsigned dns_wire_get16(const unsigned char *p);
uint32_t dns_wire_get32(const unsigned char *p);

/* The header of m; the caller checked m->len >= DNS_WIRE_HDR_LEN. */
void dns_wire_hdr_read(const struct dns_wire_msg *m, struct dns_wire_hdr *h);

/*
 * Reads the name at *off into out as text ("" for the root) and moves
 * *off past it; its uncompressed part must end by end (pointers may reach
 * anywhere before in m). Returns 0, or -1 when malformed or out is small.
 */
int dns_wire_read_name(const struct dns_wire_msg *m, size_t *off, size_t end,
		       char *out, size_t outlen);
/* Reads the RR at *off into rr and moves *off past it; 0 or -1. */
int dns_wire_read_rr(const struct dns_wire_msg *m, size_t *off,
		     struct dns_wire_rr *rr);
/* Skips the question (zone) section; *off is then the answer section. */
int dns_wire_skip_questions(const struct dns_wire_msg *m,
			    const struct dns_wire_hdr *h, size_t *off);
/*
 * Walks every RR. A TSIG RR must be the last of the additional section
 * (RFC 8945 5.4.1): *tsig_r is then filled and 1 returned; 0 when there is
 * none; -1 when the message is malformed or has bytes after its records.
 */
int dns_wire_walk(const struct dns_wire_msg *m, const struct dns_wire_hdr *h,
		  struct dns_wire_rr *tsig_r);

#endif
