/*
 * dns_wire: the DNS message format (RFC 1035 4.1) for dns_update: names,
 * the request writer and the defensive answer reader. The contract is in
 * dns_wire.h.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tools/dns_wire.h"

enum {
	NAME_WIRE_MAX = 255, /* RFC 1035 2.3.4 */
	PTR_HOPS_MAX = 64,
};

int
dns_wire_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* RFC 1035 4.1.1 and RFC 2136 2.2 rcodes, RFC 8945 4.3 TSIG errors. */
const char *
dns_wire_rcode_name(unsigned rc)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
		"REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
		"NOTZONE",
	};

	if (rc < sizeof(names) / sizeof(names[0]))
		return names[rc];
	switch (rc) {
	case 16: return "BADSIG";
	case 17: return "BADKEY";
	case 18: return "BADTIME";
	case 22: return "BADTRUNC";
	default: return "unknown code";
	}
}

const char *
dns_wire_rcode_hint(unsigned rc)
{
	switch (rc) {
	case 1: return "the server could not parse the request";
	case 2: return "the server failed (see its log)";
	case 3: return "the name does not exist";
	case 4: return "the server does not implement this";
	case 5: return "refused by policy: an update not allowed for this "
		       "client or key, or a query for a zone not served";
	case 9: return "the server is not authoritative for the zone, or "
		       "the request's signature was rejected";
	case 10: return "the name is not within the zone";
	default: return "";
	}
}

/* ---- names ---- */

static bool
name_char_ok(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

/*
 * Checks a name typed by the admin and writes it lower-cased, without the
 * trailing dot, into out (which holds 256). RFC 1035 2.3.1 and 2.3.4 (the
 * 253 characters are 255 wire octets), plus '_' for service-style labels.
 */
int
dns_wire_name_norm(const char *in, char *out, size_t outlen, const char *what,
		   char *err, size_t errlen)
{
	size_t n = strlen(in), label = 0;

	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0)
		return dns_wire_fail(err, errlen, "%s is empty", what);
	if (n > 253 || n + 1 > outlen)
		return dns_wire_fail(err, errlen, "%s is longer than 253 "
				     "characters", what);
	for (size_t i = 0; i <= n; i++) {
		if (i == n || in[i] == '.') {
			if (label == 0 || label > 63)
				return dns_wire_fail(err, errlen, "%s '%s': a "
						     "label is empty or longer "
						     "than 63", what, in);
			if (out[i - label] == '-' || out[i - 1] == '-')
				return dns_wire_fail(err, errlen, "%s '%s': a "
						     "label starts or ends "
						     "with '-'", what, in);
			out[i] = i == n ? '\0' : '.';
			label = 0;
			continue;
		}
		unsigned char ch = (unsigned char)in[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		if (!name_char_ok(ch))
			return dns_wire_fail(err, errlen, "%s '%s': byte "
					     "0x%02x is not a letter, digit, "
					     "'-' or '_'", what, in, ch);
		out[i] = (char)ch;
		label++;
	}
	return 0;
}

bool
dns_wire_name_within(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);

	if (z == 0)
		return true;
	if (n == z)
		return strcmp(name, zone) == 0;
	return n > z && name[n - z - 1] == '.' &&
	       strcmp(name + n - z, zone) == 0;
}

/* ---- packet writer ---- */

void
dns_wire_put(struct dns_wire_buf *w, const void *d, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->len, d, n);
	w->len += n;
}

void
dns_wire_put16(struct dns_wire_buf *w, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	dns_wire_put(w, b, 2);
}

void
dns_wire_put32(struct dns_wire_buf *w, uint32_t v)
{
	dns_wire_put16(w, (unsigned)(v >> 16));
	dns_wire_put16(w, (unsigned)(v & 0xFFFFu));
}

void
dns_wire_patch16(struct dns_wire_buf *w, size_t at, unsigned v)
{
	if (!w->full && at + 2 <= w->len) {
		w->p[at] = (unsigned char)(v >> 8);
		w->p[at + 1] = (unsigned char)v;
	}
}

/*
 * A name from dns_wire_name_norm ("" is the root), uncompressed: this is
 * also the canonical form TSIG digests use (RFC 8945 4.3.3, RFC 4034 6.2).
 */
void
dns_wire_put_name(struct dns_wire_buf *w, const char *name)
{
	const char *p = name;

	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		unsigned char len = (unsigned char)n;

		dns_wire_put(w, &len, 1);
		dns_wire_put(w, p, n);
		p += n + (dot != NULL);
	}
	dns_wire_put(w, "", 1);
}

void
dns_wire_put_header(struct dns_wire_buf *w, unsigned id, unsigned flags,
		    unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
	dns_wire_put16(w, id);
	dns_wire_put16(w, flags);
	dns_wire_put16(w, qd);
	dns_wire_put16(w, an);
	dns_wire_put16(w, ns);
	dns_wire_put16(w, ar);
}

/* ---- packet reader ---- */

unsigned
dns_wire_get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

uint32_t
dns_wire_get32(const unsigned char *p)
{
	return (uint32_t)dns_wire_get16(p) << 16 | dns_wire_get16(p + 2);
}

void
dns_wire_hdr_read(const struct dns_wire_msg *m, struct dns_wire_hdr *h)
{
	h->id = dns_wire_get16(m->p);
	h->flags = dns_wire_get16(m->p + 2);
	h->qd = dns_wire_get16(m->p + 4);
	h->an = dns_wire_get16(m->p + 6);
	h->ns = dns_wire_get16(m->p + 8);
	h->ar = dns_wire_get16(m->p + 10);
}

/* Appends one label byte to a text name: kept if safe, else \DDD. */
static int
text_put(char *out, size_t outlen, size_t *o, unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		ch = (unsigned char)(ch - 'A' + 'a');
	if (name_char_ok(ch) || ch == '*') {
		if (*o + 2 > outlen)
			return -1;
		out[(*o)++] = (char)ch;
		return 0;
	}
	if (*o + 5 > outlen)
		return -1;
	snprintf(out + *o, 5, "\\%03u", ch);
	*o += 4;
	return 0;
}

/*
 * Reads a name at *off into out as lower-case text ("" for the root) and
 * moves *off past it; the uncompressed part must end by end. RFC 1035
 * 4.1.4: a pointer must point before where this name, or the last jump,
 * began, so every jump goes strictly backwards and a loop cannot be
 * written; the hop limit and the 255-octet limit bound the rest.
 * Label types 01 and 10 (RFC 6891 5) are not accepted.
 */
int
dns_wire_read_name(const struct dns_wire_msg *m, size_t *off, size_t end,
		   char *out, size_t outlen)
{
	size_t pos = *off, limit = *off, next = 0, wire = 0, o = 0;
	unsigned hops = 0;

	for (;;) {
		size_t stop = hops > 0 ? m->len : end;
		if (pos >= stop)
			return -1;
		unsigned b = m->p[pos];
		if ((b & 0xC0u) == 0xC0u) {
			if (pos + 1 >= stop || ++hops > PTR_HOPS_MAX)
				return -1;
			size_t target = (b & 0x3Fu) << 8 | m->p[pos + 1];
			if (target >= limit)
				return -1;
			if (hops == 1)
				next = pos + 2;
			limit = pos = target;
			continue;
		}
		if ((b & 0xC0u) != 0)
			return -1;
		wire += 1 + b;
		if (wire > NAME_WIRE_MAX)
			return -1;
		if (b == 0)
			break;
		if (b > stop - pos - 1)
			return -1;
		if (o > 0) {
			if (o + 2 > outlen)
				return -1;
			out[o++] = '.'; /* a '.' inside a label is escaped */
		}
		for (size_t i = 1; i <= b; i++)
			if (text_put(out, outlen, &o, m->p[pos + i]) < 0)
				return -1;
		pos += 1 + b;
	}
	if (outlen == 0)
		return -1;
	out[o] = '\0';
	*off = hops > 0 ? next : pos + 1;
	return 0;
}

int
dns_wire_read_rr(const struct dns_wire_msg *m, size_t *off,
		 struct dns_wire_rr *rr)
{
	const unsigned char *p;

	rr->start = *off;
	if (dns_wire_read_name(m, off, m->len, rr->name,
			       sizeof(rr->name)) < 0 ||
	    m->len - *off < 10)
		return -1;
	p = m->p + *off;
	rr->type = dns_wire_get16(p);
	rr->class = dns_wire_get16(p + 2);
	rr->ttl = dns_wire_get32(p + 4);
	rr->rdlen = dns_wire_get16(p + 8);
	*off += 10;
	if (rr->rdlen > m->len - *off)
		return -1;
	rr->rdata = *off;
	*off += rr->rdlen;
	return 0;
}

int
dns_wire_skip_questions(const struct dns_wire_msg *m,
			const struct dns_wire_hdr *h, size_t *off)
{
	char name[DNS_WIRE_NAME_TEXT_MAX];

	*off = DNS_WIRE_HDR_LEN;
	for (unsigned i = 0; i < h->qd; i++) {
		if (dns_wire_read_name(m, off, m->len, name,
				       sizeof(name)) < 0 ||
		    m->len - *off < 4)
			return -1;
		*off += 4;
	}
	return 0;
}

/* A TSIG RR must be the last of the additional section (RFC 8945 5.4.1). */
int
dns_wire_walk(const struct dns_wire_msg *m, const struct dns_wire_hdr *h,
	      struct dns_wire_rr *tsig_r)
{
	struct dns_wire_rr rr;
	size_t off, total = (size_t)h->an + h->ns + h->ar;
	int found = 0;

	if (dns_wire_skip_questions(m, h, &off) < 0)
		return -1;
	for (size_t i = 0; i < total; i++) {
		if (dns_wire_read_rr(m, &off, &rr) < 0)
			return -1;
		if (rr.type == DNS_WIRE_T_TSIG) {
			if (i + 1 != total || h->ar == 0)
				return -1;
			*tsig_r = rr;
			found = 1;
		}
	}
	return off == m->len ? found : -1;
}
