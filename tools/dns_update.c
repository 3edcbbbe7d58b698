/*
 * dns_update: RFC 2136 UPDATE of one MX record, TSIG-signed (RFC 8945),
 * SOA lookup of the zone and MX query (RFC 1035). The contract is in
 * dns_update.h. Layout: names, packet writer, packet reader, TSIG,
 * transport (UDP with TCP on truncation), then the three operations.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>

#include "tools/dns_update.h"

enum {
	HDR_LEN = 12,
	NAME_WIRE_MAX = 255, /* RFC 1035 2.3.4 */
	NAME_TEXT_MAX = 1024, /* a decoded name, bytes escaped as \DDD */
	PTR_HOPS_MAX = 64,
	PKT_MAX = 65535,
	REQ_MAX = 2048, /* our requests: 3 names, one RR, one TSIG */
	T_CNAME = 5,
	T_SOA = 6,
	T_MX = 15,
	T_TSIG = 250,
	C_IN = 1,
	C_ANY = 255,
	OP_QUERY = 0,
	OP_UPDATE = 5,
	FUDGE = 300,
	TRIES = 2,
};

/* RFC 1035 4.1.1 header flags. */
#define F_QR 0x8000u
#define F_AA 0x0400u
#define F_TC 0x0200u
#define F_OPCODE(f) (((f) >> 11) & 0xFu)
#define F_RCODE(f) ((f) & 0xFu)

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* RFC 1035 4.1.1 and RFC 2136 2.2 rcodes, RFC 8945 4.3 TSIG errors. */
static const char *
rcode_name(unsigned rc)
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

static const char *
rcode_hint(unsigned rc)
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
static int
name_norm(const char *in, char *out, size_t outlen, const char *what,
	  char *err, size_t errlen)
{
	size_t n = strlen(in), label = 0;

	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0)
		return fail(err, errlen, "%s is empty", what);
	if (n > 253 || n + 1 > outlen)
		return fail(err, errlen, "%s is longer than 253 characters",
			    what);
	for (size_t i = 0; i <= n; i++) {
		if (i == n || in[i] == '.') {
			if (label == 0 || label > 63)
				return fail(err, errlen, "%s '%s': a label is "
					    "empty or longer than 63", what, in);
			if (out[i - label] == '-' || out[i - 1] == '-')
				return fail(err, errlen, "%s '%s': a label "
					    "starts or ends with '-'", what, in);
			out[i] = i == n ? '\0' : '.';
			label = 0;
			continue;
		}
		unsigned char ch = (unsigned char)in[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		if (!name_char_ok(ch))
			return fail(err, errlen, "%s '%s': byte 0x%02x is not "
				    "a letter, digit, '-' or '_'", what, in, ch);
		out[i] = (char)ch;
		label++;
	}
	return 0;
}

/* true when name equals zone or lies below it (label-aligned). */
static bool
name_within(const char *name, const char *zone)
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

struct wbuf {
	unsigned char *p;
	size_t cap, len;
	bool full;
};

static void
w_bytes(struct wbuf *w, const void *d, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void
w_u16(struct wbuf *w, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	w_bytes(w, b, 2);
}

static void
w_u32(struct wbuf *w, uint32_t v)
{
	w_u16(w, (unsigned)(v >> 16));
	w_u16(w, (unsigned)(v & 0xFFFFu));
}

static void
w_patch16(struct wbuf *w, size_t at, unsigned v)
{
	if (!w->full && at + 2 <= w->len) {
		w->p[at] = (unsigned char)(v >> 8);
		w->p[at + 1] = (unsigned char)v;
	}
}

/*
 * A name from name_norm ("" is the root), uncompressed: this is also the
 * canonical form TSIG digests use (RFC 8945 4.3.3, RFC 4034 6.2).
 */
static void
w_name(struct wbuf *w, const char *name)
{
	const char *p = name;

	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		unsigned char len = (unsigned char)n;

		w_bytes(w, &len, 1);
		w_bytes(w, p, n);
		p += n + (dot != NULL);
	}
	w_bytes(w, "", 1);
}

static void
w_header(struct wbuf *w, unsigned id, unsigned flags, unsigned qd,
	 unsigned an, unsigned ns, unsigned ar)
{
	w_u16(w, id);
	w_u16(w, flags);
	w_u16(w, qd);
	w_u16(w, an);
	w_u16(w, ns);
	w_u16(w, ar);
}

/* ---- packet reader ---- */

struct msg {
	const unsigned char *p;
	size_t len;
};

struct hdr {
	unsigned id, flags, qd, an, ns, ar;
};

struct rr {
	char name[NAME_TEXT_MAX];
	unsigned type, class;
	uint32_t ttl;
	size_t start, rdata, rdlen; /* offsets into the message */
};

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Caller checked m->len >= HDR_LEN. */
static void
hdr_read(const struct msg *m, struct hdr *h)
{
	h->id = get16(m->p);
	h->flags = get16(m->p + 2);
	h->qd = get16(m->p + 4);
	h->an = get16(m->p + 6);
	h->ns = get16(m->p + 8);
	h->ar = get16(m->p + 10);
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
static int
rd_name(const struct msg *m, size_t *off, size_t end, char *out,
	size_t outlen)
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

static int
rd_rr(const struct msg *m, size_t *off, struct rr *rr)
{
	const unsigned char *p;

	rr->start = *off;
	if (rd_name(m, off, m->len, rr->name, sizeof(rr->name)) < 0 ||
	    m->len - *off < 10)
		return -1;
	p = m->p + *off;
	rr->type = get16(p);
	rr->class = get16(p + 2);
	rr->ttl = get32(p + 4);
	rr->rdlen = get16(p + 8);
	*off += 10;
	if (rr->rdlen > m->len - *off)
		return -1;
	rr->rdata = *off;
	*off += rr->rdlen;
	return 0;
}

/* Skips the question (zone) section; *off is then the answer section. */
static int
skip_questions(const struct msg *m, const struct hdr *h, size_t *off)
{
	char name[NAME_TEXT_MAX];

	*off = HDR_LEN;
	for (unsigned i = 0; i < h->qd; i++) {
		if (rd_name(m, off, m->len, name, sizeof(name)) < 0 ||
		    m->len - *off < 4)
			return -1;
		*off += 4;
	}
	return 0;
}

/*
 * Walks every RR. A TSIG RR must be the last of the additional section
 * (RFC 8945 5.4.1): *tsig_r is then filled and 1 returned; 0 when there is
 * none; -1 when the message is malformed or has bytes after its records.
 */
static int
msg_walk(const struct msg *m, const struct hdr *h, struct rr *tsig_r)
{
	struct rr rr;
	size_t off, total = (size_t)h->an + h->ns + h->ar;
	int found = 0;

	if (skip_questions(m, h, &off) < 0)
		return -1;
	for (size_t i = 0; i < total; i++) {
		if (rd_rr(m, &off, &rr) < 0)
			return -1;
		if (rr.type == T_TSIG) {
			if (i + 1 != total || h->ar == 0)
				return -1;
			*tsig_r = rr;
			found = 1;
		}
	}
	return off == m->len ? found : -1;
}

/* ---- TSIG (RFC 8945) ---- */

struct tsig_alg {
	const char *name; /* also the algorithm's domain name (4.2) */
	const br_hash_class *hash;
	size_t maclen;
};

static const struct tsig_alg tsig_algs[] = {
	{ "hmac-sha256", &br_sha256_vtable, 32 },
	{ "hmac-sha512", &br_sha512_vtable, 64 },
	{ "hmac-sha1", &br_sha1_vtable, 20 },
};

struct tsig_key {
	char name[256];
	const struct tsig_alg *alg;
	const unsigned char *secret;
	size_t len;
};

/* Algorithm names are matched case-insensitively, a trailing dot allowed. */
static const struct tsig_alg *
tsig_alg_find(const char *name, size_t len)
{
	if (len > 0 && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < sizeof(tsig_algs) / sizeof(tsig_algs[0]); i++)
		if (strlen(tsig_algs[i].name) == len &&
		    strncasecmp(tsig_algs[i].name, name, len) == 0)
			return &tsig_algs[i];
	return NULL;
}

static int
tsig_key_from(const struct dns_update_cfg *c, struct tsig_key *k, char *err,
	      size_t errlen)
{
	if (name_norm(c->tsig_name, k->name, sizeof(k->name), "key name",
		      err, errlen) < 0)
		return -1;
	k->alg = tsig_alg_find(c->tsig_alg, strnlen(c->tsig_alg,
						    sizeof(c->tsig_alg)));
	if (k->alg == NULL)
		return fail(err, errlen, "TSIG algorithm '%.31s' is not one "
			    "of hmac-sha256, hmac-sha512, hmac-sha1",
			    c->tsig_alg);
	if (c->tsig_len == 0 || c->tsig_len > sizeof(c->tsig_secret))
		return fail(err, errlen, "TSIG key %s has no secret", k->name);
	k->secret = c->tsig_secret;
	k->len = c->tsig_len;
	return 0;
}

/* The TSIG variables of RFC 8945 4.3.3, in canonical form. */
static void
tsig_vars(struct wbuf *w, const struct tsig_key *k, uint64_t t,
	  unsigned fudge, unsigned error, const unsigned char *other,
	  size_t otherlen)
{
	w_name(w, k->name);
	w_u16(w, C_ANY);
	w_u32(w, 0);
	w_name(w, k->alg->name);
	w_u16(w, (unsigned)(t >> 32) & 0xFFFFu);
	w_u32(w, (uint32_t)t);
	w_u16(w, fudge);
	w_u16(w, error);
	w_u16(w, (unsigned)otherlen);
	w_bytes(w, other, otherlen);
}

static void
hmac_begin(br_hmac_context *hc, const struct tsig_key *k)
{
	br_hmac_key_context kc;

	br_hmac_key_init(&kc, k->alg->hash, k->secret, k->len);
	br_hmac_init(hc, &kc, 0);
}

/*
 * Signs the request in w (ARCOUNT still 0): MAC over the message and the
 * variables (4.3.1), then appends the TSIG RR (4.2, 5.1) and sets ARCOUNT
 * to 1. The MAC is kept in mac_r (alg->maclen bytes) for the answer.
 */
static int
tsig_sign(struct wbuf *w, const struct tsig_key *k, unsigned id,
	  unsigned char *mac_r)
{
	unsigned char vb[600];
	struct wbuf v = { vb, sizeof(vb), 0, false };
	uint64_t now = (uint64_t)time(NULL);
	br_hmac_context hc;
	size_t rdlen_at;

	tsig_vars(&v, k, now, FUDGE, 0, NULL, 0);
	if (v.full || w->full)
		return -1;
	hmac_begin(&hc, k);
	br_hmac_update(&hc, w->p, w->len);
	br_hmac_update(&hc, v.p, v.len);
	br_hmac_out(&hc, mac_r);
	w_name(w, k->name);
	w_u16(w, T_TSIG);
	w_u16(w, C_ANY);
	w_u32(w, 0);
	rdlen_at = w->len;
	w_u16(w, 0);
	w_name(w, k->alg->name);
	w_u16(w, (unsigned)(now >> 32) & 0xFFFFu);
	w_u32(w, (uint32_t)now);
	w_u16(w, FUDGE);
	w_u16(w, (unsigned)k->alg->maclen);
	w_bytes(w, mac_r, k->alg->maclen);
	w_u16(w, id);  /* Original ID */
	w_u16(w, 0);   /* Error */
	w_u16(w, 0);   /* Other Len */
	w_patch16(w, rdlen_at, (unsigned)(w->len - rdlen_at - 2));
	w_patch16(w, 10, 1);
	return w->full ? -1 : 0;
}

/* The fields of a TSIG RR's RDATA (RFC 8945 4.2). */
struct tsig_rd {
	char alg[NAME_TEXT_MAX];
	uint64_t time;
	unsigned fudge, maclen, orig_id, error, otherlen;
	const unsigned char *mac, *other;
};

static int
tsig_rd_parse(const struct msg *m, const struct rr *rr, struct tsig_rd *t)
{
	size_t off = rr->rdata, end = rr->rdata + rr->rdlen;
	const unsigned char *p;

	if (rd_name(m, &off, end, t->alg, sizeof(t->alg)) < 0 ||
	    end - off < 10)
		return -1;
	p = m->p + off;
	t->time = (uint64_t)get16(p) << 32 | get32(p + 2);
	t->fudge = get16(p + 6);
	t->maclen = get16(p + 8);
	off += 10;
	if (t->maclen > end - off || end - off - t->maclen < 6)
		return -1;
	t->mac = m->p + off;
	off += t->maclen;
	p = m->p + off;
	t->orig_id = get16(p);
	t->error = get16(p + 2);
	t->otherlen = get16(p + 4);
	off += 6;
	if (t->otherlen != end - off)
		return -1;
	t->other = m->p + off;
	return 0;
}

/* Constant time, so that a forger learns nothing from timing. */
static bool
mac_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/*
 * The MAC of an answer (4.3.2): the request's MAC with its length, the
 * answer with the TSIG RR removed, ARCOUNT one less and the original ID,
 * then the answer's TSIG variables.
 */
static int
tsig_answer_mac(const struct msg *m, const struct rr *rr,
		const struct tsig_rd *t, const struct tsig_key *k,
		const unsigned char *reqmac, unsigned char *mac_r)
{
	unsigned char vb[1200], len2[2], hdr[HDR_LEN];
	struct wbuf v = { vb, sizeof(vb), 0, false };
	br_hmac_context hc;

	tsig_vars(&v, k, t->time, t->fudge, t->error, t->other, t->otherlen);
	if (v.full)
		return -1;
	memcpy(hdr, m->p, HDR_LEN);
	hdr[0] = (unsigned char)(t->orig_id >> 8);
	hdr[1] = (unsigned char)t->orig_id;
	unsigned ar = get16(m->p + 10) - 1;
	hdr[10] = (unsigned char)(ar >> 8);
	hdr[11] = (unsigned char)ar;
	len2[0] = (unsigned char)(k->alg->maclen >> 8);
	len2[1] = (unsigned char)k->alg->maclen;
	hmac_begin(&hc, k);
	br_hmac_update(&hc, len2, 2);
	br_hmac_update(&hc, reqmac, k->alg->maclen);
	br_hmac_update(&hc, hdr, HDR_LEN);
	br_hmac_update(&hc, m->p + HDR_LEN, rr->start - HDR_LEN);
	br_hmac_update(&hc, v.p, v.len);
	br_hmac_out(&hc, mac_r);
	return 0;
}

/*
 * Client processing of a signed request's answer (RFC 8945 5.4): the key
 * and algorithm must be ours, the MAC full length and correct, the time
 * within the fudge. An unsigned error answer (5.3.2: BADSIG, BADKEY) is
 * reported for what it says; it can only make us fail, never succeed.
 */
static int
tsig_check(const struct msg *m, const struct hdr *h,
	   const struct tsig_key *k, const unsigned char *reqmac, char *err,
	   size_t errlen)
{
	struct rr rr;
	struct tsig_rd t;
	unsigned char mac[64];
	int found = msg_walk(m, h, &rr);
	unsigned rc = F_RCODE(h->flags);
	long long skew;

	if (found < 0)
		return fail(err, errlen, "malformed answer");
	if (found == 0)
		return rc != 0 ? fail(err, errlen, "%s (%s; the answer is not "
				      "signed)", rcode_name(rc), rcode_hint(rc))
			       : fail(err, errlen, "the answer to our signed "
				      "update is not signed: not trusted");
	if (rr.class != C_ANY || rr.ttl != 0 || tsig_rd_parse(m, &rr, &t) < 0)
		return fail(err, errlen, "malformed TSIG record in the answer");
	if (t.maclen == 0 && t.error != 0)
		return fail(err, errlen, "%s, TSIG error %s: the server %s key "
			    "%s (%s)", rcode_name(rc), rcode_name(t.error),
			    t.error == 17 ? "does not know" :
			    t.error == 18 ? "finds our clock wrong for" :
			    "could not verify our signature with",
			    k->name, t.error == 16 ? "wrong secret?" :
			    t.error == 17 ? "name or algorithm differ?" :
			    "check the clocks");
	if (strcmp(rr.name, k->name) != 0 || strcmp(t.alg, k->alg->name) != 0)
		return fail(err, errlen, "the answer is signed with key '%s' "
			    "(%s), not ours", rr.name, t.alg);
	if (t.maclen != k->alg->maclen)
		return fail(err, errlen, "the answer's TSIG MAC has %u bytes, "
			    "not %zu: not trusted", t.maclen, k->alg->maclen);
	if (tsig_answer_mac(m, &rr, &t, k, reqmac, mac) < 0 ||
	    !mac_equal(mac, t.mac, t.maclen))
		return fail(err, errlen, "the answer's TSIG MAC does not "
			    "verify (forged, or another secret): not trusted");
	skew = (long long)t.time - (long long)time(NULL);
	if (t.error != 0)
		return fail(err, errlen, "%s, TSIG error %s from the server "
			    "(its time minus ours: %llds)", rcode_name(rc),
			    rcode_name(t.error), skew);
	if (skew > (long long)t.fudge || -skew > (long long)t.fudge)
		return fail(err, errlen, "the answer's TSIG time is %llds "
			    "off ours (BADTIME, fudge %u)", skew, t.fudge);
	return 0;
}

/* ---- transport ---- */

struct peer {
	struct sockaddr_storage ss;
	socklen_t len;
};

static int
peer_set(const struct dns_update_cfg *c, struct peer *pe, char *err,
	 size_t errlen)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&pe->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&pe->ss;
	char ip[sizeof(c->server)];

	memset(pe, 0, sizeof(*pe));
	memcpy(ip, c->server, sizeof(ip));
	ip[sizeof(ip) - 1] = '\0';
	if (c->port == 0 || c->port > 65535)
		return fail(err, errlen, "port %u is out of range", c->port);
	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)c->port);
		pe->len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)c->port);
		pe->len = sizeof(*in6);
		return 0;
	}
	return fail(err, errlen, "server '%s' is not an IPv4 or IPv6 address",
		    ip);
}

static struct timespec
deadline_in(unsigned ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static int
ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* 1 ready, 0 deadline passed, -1 poll error. */
static int
wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { fd, events, 0 };

	for (;;) {
		int ms = ms_left(deadline);
		if (ms == 0)
			return 0;
		int n = poll(&pfd, 1, ms);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Ours: the request's ID, QR set, the request's opcode (RFC 1035 7.3). */
static bool
answer_is_ours(const unsigned char *q, const unsigned char *a, size_t alen)
{
	unsigned qf = get16(q + 2), af;

	if (alen < HDR_LEN || get16(a) != get16(q))
		return false;
	af = get16(a + 2);
	return (af & F_QR) != 0 && F_OPCODE(af) == F_OPCODE(qf);
}

/* Reads or writes exactly n bytes on a non-blocking stream before deadline. */
static int
tcp_full(int fd, unsigned char *b, size_t n, bool out,
	 const struct timespec *deadline)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = out ? send(fd, b + done, n - done, MSG_NOSIGNAL)
				: recv(fd, b + done, n - done, 0);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
		if (wait_fd(fd, out ? POLLOUT : POLLIN, deadline) <= 0)
			return -1;
	}
	return 0;
}

/* RFC 1035 4.2.2 (RFC 7766 8): each message behind a two-byte length. */
static int
tcp_exchange(const struct dns_update_cfg *c, const struct peer *pe,
	     const unsigned char *q, size_t qlen, unsigned char *a,
	     size_t *alen_r, char *err, size_t errlen)
{
	struct timespec deadline = deadline_in(c->timeout_ms);
	unsigned char frame[2 + REQ_MAX], len2[2];
	int fd, rc = -1;
	size_t n = 0;

	fd = socket(pe->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, errlen, "socket: %s", strerror(errno));
	frame[0] = (unsigned char)(qlen >> 8);
	frame[1] = (unsigned char)qlen;
	memcpy(frame + 2, q, qlen);
	if (connect(fd, (const struct sockaddr *)&pe->ss, pe->len) < 0 &&
	    errno != EINPROGRESS) {
		fail(err, errlen, "TCP connect to %s: %s", c->server,
		     strerror(errno));
	} else if (tcp_full(fd, frame, qlen + 2, true, &deadline) < 0 ||
		   tcp_full(fd, len2, 2, false, &deadline) < 0 ||
		   (n = get16(len2)) < HDR_LEN ||
		   tcp_full(fd, a, n, false, &deadline) < 0) {
		fail(err, errlen, "TCP exchange with %s port %u failed or "
		     "timed out (%u ms) after a truncated UDP answer",
		     c->server, c->port, c->timeout_ms);
	} else if (!answer_is_ours(q, a, n)) {
		fail(err, errlen, "the TCP answer has another ID, no QR flag "
		     "or another opcode");
	} else {
		*alen_r = n;
		rc = 0;
	}
	close(fd);
	return rc;
}

/*
 * One UDP try: send, then read until our answer or the deadline. connect()
 * makes the kernel drop datagrams from any other address or port.
 */
static int
udp_try(int fd, const unsigned char *q, size_t qlen, unsigned char *a,
	size_t *alen_r, unsigned ms, unsigned *ignored, char *err,
	size_t errlen)
{
	struct timespec deadline = deadline_in(ms);

	if (send(fd, q, qlen, 0) < 0)
		return errno == ECONNREFUSED ? fail(err, errlen, "refused "
						    "(ICMP port unreachable)")
					     : fail(err, errlen, "send: %s",
						    strerror(errno));
	for (;;) {
		int r = wait_fd(fd, POLLIN, &deadline);
		if (r <= 0)
			return r < 0 ? fail(err, errlen, "poll: %s",
					    strerror(errno)) : 0;
		ssize_t n = recv(fd, a, PKT_MAX, 0);
		if (n < 0 && errno == ECONNREFUSED)
			return fail(err, errlen, "nothing listens there (ICMP "
				    "port unreachable)");
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return fail(err, errlen, "recv: %s", strerror(errno));
		if (n < 0)
			continue;
		if (answer_is_ours(q, a, (size_t)n)) {
			*alen_r = (size_t)n;
			return 1;
		}
		(*ignored)++;
	}
}

/*
 * Sends q (2 UDP tries), falls back to TCP on TC; a (PKT_MAX bytes) gets an
 * answer that passed answer_is_ours.
 */
static int
transact(const struct dns_update_cfg *c, const unsigned char *q,
	 size_t qlen, unsigned char *a, size_t *alen_r, char *err,
	 size_t errlen)
{
	struct peer pe;
	unsigned ignored = 0;
	int fd, r = 0;
	char why[160] = "";

	if (peer_set(c, &pe, err, errlen) < 0)
		return -1;
	fd = socket(pe.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, errlen, "socket: %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)&pe.ss, pe.len) < 0) {
		fail(err, errlen, "connect to %s: %s", c->server,
		     strerror(errno));
		close(fd);
		return -1;
	}
	for (int i = 0; i < TRIES && r == 0; i++)
		r = udp_try(fd, q, qlen, a, alen_r, c->timeout_ms, &ignored,
			    why, sizeof(why));
	close(fd);
	if (r < 0)
		return fail(err, errlen, "%s port %u: %s", c->server, c->port,
			    why);
	if (r == 0)
		return fail(err, errlen, "no answer from %s port %u: timed out "
			    "after %d tries of %u ms (%u unrelated or malformed "
			    "datagrams ignored)", c->server, c->port, TRIES,
			    c->timeout_ms, ignored);
	if ((get16(a + 2) & F_TC) != 0)
		return tcp_exchange(c, &pe, q, qlen, a, alen_r, err, errlen);
	return 0;
}

/* ---- queries ---- */

/* RFC 5452 4.3: an unpredictable ID. */
static int
new_id(unsigned *id, char *err, size_t errlen)
{
	unsigned char b[2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return fail(err, errlen, "getrandom: %s", strerror(errno));
	*id = get16(b);
	return 0;
}

/*
 * A plain query for name/type (no recursion wanted: we ask the primary).
 * The answer must repeat our question when it has one.
 */
static int
query(const struct dns_update_cfg *c, const char *name, unsigned type,
      unsigned char *a, struct msg *m, char *err, size_t errlen)
{
	unsigned char qb[REQ_MAX];
	struct wbuf w = { qb, sizeof(qb), 0, false };
	char got[NAME_TEXT_MAX];
	size_t off = HDR_LEN;
	struct hdr h;
	unsigned id;

	if (new_id(&id, err, errlen) < 0)
		return -1;
	w_header(&w, id, OP_QUERY << 11, 1, 0, 0, 0);
	w_name(&w, name);
	w_u16(&w, type);
	w_u16(&w, C_IN);
	if (w.full)
		return fail(err, errlen, "query too long");
	if (transact(c, w.p, w.len, a, &m->len, err, errlen) < 0)
		return -1;
	m->p = a;
	hdr_read(m, &h);
	if (h.qd > 1)
		return fail(err, errlen, "malformed answer: %u questions",
			    h.qd);
	if (h.qd == 1 &&
	    (rd_name(m, &off, m->len, got, sizeof(got)) < 0 ||
	     m->len - off < 4 || strcmp(got, name) != 0 ||
	     get16(m->p + off) != type || get16(m->p + off + 2) != C_IN))
		return fail(err, errlen, "malformed answer: not our question");
	return 0;
}

/*
 * The zone of name from an SOA query's answer: the owner of the SOA the
 * server names in the answer (name is the apex) or authority section
 * (name is below it) of an authoritative answer (RFC 2136 4.3; RFC 2308
 * 3 for the negative case). The zone must contain name.
 */
static int
soa_parse(const struct msg *m, const char *name, char *zone, size_t zonelen,
	  char *err, size_t errlen)
{
	struct hdr h;
	struct rr rr;
	size_t off;
	char why[200];

	hdr_read(m, &h);
	unsigned rc = F_RCODE(h.flags);
	if (rc != 0 && rc != 3)
		return fail(err, errlen, "SOA lookup for %s: %s (%s)", name,
			    rcode_name(rc), rc == 5 ? "the server serves no "
			    "zone containing it" : rcode_hint(rc));
	if ((h.flags & F_AA) == 0)
		return fail(err, errlen, "SOA lookup for %s: the server is not "
			    "authoritative for it (give --zone?)", name);
	if (skip_questions(m, &h, &off) < 0)
		return fail(err, errlen, "SOA lookup for %s: malformed answer",
			    name);
	for (unsigned i = 0; i < h.an + h.ns; i++) {
		if (rd_rr(m, &off, &rr) < 0)
			return fail(err, errlen, "SOA lookup for %s: malformed "
				    "answer", name);
		if (rr.type != T_SOA || rr.class != C_IN)
			continue;
		if (name_norm(rr.name, zone, zonelen, "zone", why,
			      sizeof(why)) < 0 || !name_within(name, zone))
			return fail(err, errlen, "SOA lookup for %s: the server "
				    "names zone '%s', which does not contain it",
				    name, rr.name);
		return 0;
	}
	return fail(err, errlen, "SOA lookup for %s: no SOA record in the "
		    "answer (%s)", name, rcode_name(rc));
}

static int
find_zone(const struct dns_update_cfg *c, const char *name, char *zone,
	  size_t zonelen, char *err, size_t errlen)
{
	unsigned char a[PKT_MAX];
	struct msg m;

	if (query(c, name, T_SOA, a, &m, err, errlen) < 0)
		return -1;
	return soa_parse(&m, name, zone, zonelen, err, errlen);
}

static int
build_update(struct wbuf *w, unsigned id, const char *zone,
	     const char *domain, const struct dns_update_cfg *c,
	     const char *host)
{
	size_t rdlen_at;

	/* RFC 2136 2.2-2.5: ZOCOUNT 1, PRCOUNT 0, UPCOUNT 1, ADCOUNT 0. */
	w_header(w, id, OP_UPDATE << 11, 1, 0, 1, 0);
	w_name(w, zone);
	w_u16(w, T_SOA);
	w_u16(w, C_IN);
	/* 2.5.1: "Add To An RRset", CLASS is the zone's class. */
	w_name(w, domain);
	w_u16(w, T_MX);
	w_u16(w, C_IN);
	w_u32(w, c->ttl);
	rdlen_at = w->len;
	w_u16(w, 0);
	w_u16(w, c->mx_pref); /* RFC 1035 3.3.9 */
	w_name(w, host);
	w_patch16(w, rdlen_at, (unsigned)(w->len - rdlen_at - 2));
	return w->full ? -1 : 0;
}

/* One update: the names checked, the zone known, the key if any. */
struct job {
	char dom[256], host[256], zone[256];
	struct tsig_key k;
	bool sign;
};

static int
job_prepare(const struct dns_update_cfg *c, const char *domain,
	    struct job *j, char *err, size_t errlen)
{
	if (c->mx_pref > 65535 || c->ttl > 0x7FFFFFFFu)
		return fail(err, errlen, "MX preference %u or TTL %u out of "
			    "range (RFC 1035 3.3.9, RFC 2181 8)", c->mx_pref,
			    c->ttl);
	if (name_norm(domain, j->dom, sizeof(j->dom), "domain", err,
		      errlen) < 0 ||
	    name_norm(c->mx_host, j->host, sizeof(j->host), "MX host", err,
		      errlen) < 0)
		return -1;
	j->sign = c->tsig_name[0] != '\0';
	if (j->sign && tsig_key_from(c, &j->k, err, errlen) < 0)
		return -1;
	if (c->zone[0] == '\0')
		return find_zone(c, j->dom, j->zone, sizeof(j->zone), err,
				 errlen);
	if (name_norm(c->zone, j->zone, sizeof(j->zone), "zone", err,
		      errlen) < 0)
		return -1;
	if (!name_within(j->dom, j->zone))
		return fail(err, errlen, "%s is not within zone %s", j->dom,
			    j->zone);
	return 0;
}

static int
job_send(const struct dns_update_cfg *c, const struct job *j, char *err,
	 size_t errlen)
{
	unsigned char a[PKT_MAX], qb[REQ_MAX], reqmac[64];
	struct wbuf w = { qb, sizeof(qb), 0, false };
	struct msg m;
	struct hdr h;
	struct rr rr;
	unsigned id, rc;

	if (new_id(&id, err, errlen) < 0)
		return -1;
	if (build_update(&w, id, j->zone, j->dom, c, j->host) < 0 ||
	    (j->sign && tsig_sign(&w, &j->k, id, reqmac) < 0))
		return fail(err, errlen, "update too long");
	if (transact(c, w.p, w.len, a, &m.len, err, errlen) < 0)
		return -1;
	m.p = a;
	hdr_read(&m, &h);
	rc = F_RCODE(h.flags);
	if (j->sign) {
		if (tsig_check(&m, &h, &j->k, reqmac, err, errlen) < 0)
			return -1;
	} else if (msg_walk(&m, &h, &rr) < 0) {
		return fail(err, errlen, "malformed answer");
	}
	if (rc != 0)
		return fail(err, errlen, "update of %s in zone %s: %s (%s)",
			    j->dom, j->zone, rcode_name(rc), rcode_hint(rc));
	return 0;
}

int
dns_update_mx(const struct dns_update_cfg *c, const char *domain, char *err,
	      size_t errlen)
{
	struct dns_update_cfg cc = *c;
	struct job j;
	int r;

	if (cc.timeout_ms == 0)
		cc.timeout_ms = 3000;
	cc.server[sizeof(cc.server) - 1] = cc.zone[sizeof(cc.zone) - 1] = '\0';
	cc.mx_host[sizeof(cc.mx_host) - 1] = '\0';
	cc.tsig_name[sizeof(cc.tsig_name) - 1] = '\0';
	r = job_prepare(&cc, domain, &j, err, errlen);
	if (r == 0)
		r = job_send(&cc, &j, err, errlen);
	explicit_bzero(&cc, sizeof(cc)); /* the copy of the secret */
	return r;
}

/* Appends "PREF HOST\n" for an MX RR's RDATA (RFC 1035 3.3.9). */
static int
mx_line(const struct msg *m, const struct rr *rr, char *out, size_t outlen,
	size_t *o)
{
	char host[NAME_TEXT_MAX];
	size_t off = rr->rdata, end = rr->rdata + rr->rdlen;
	unsigned pref;
	int n;

	if (rr->rdlen < 3)
		return -1;
	pref = get16(m->p + off);
	off += 2;
	if (rd_name(m, &off, end, host, sizeof(host)) < 0 || off != end)
		return -1;
	n = snprintf(out + *o, outlen - *o, "%u %s\n", pref,
		     host[0] != '\0' ? host : ".");
	if (n < 0 || (size_t)n >= outlen - *o)
		return -2;
	*o += (size_t)n;
	return 0;
}

/*
 * The MX records of dom in an MX query's answer, as "PREF HOST\n" lines
 * into out (which is NUL-terminated); CNAMEs in the answer are followed
 * (RFC 1034 3.6.2). Returns the count, or -1 with err.
 */
static int
mx_parse(const struct msg *m, const char *dom, char *out, size_t outlen,
	 char *err, size_t errlen)
{
	char owner[NAME_TEXT_MAX];
	struct hdr h;
	struct rr rr;
	size_t off, o = 0;
	int count = 0;

	hdr_read(m, &h);
	unsigned rc = F_RCODE(h.flags);
	if (rc == 3)
		return 0;
	if (rc != 0)
		return fail(err, errlen, "MX query for %s: %s (%s)", dom,
			    rcode_name(rc), rc == 5 ? "the server does not "
			    "serve that name" : rcode_hint(rc));
	if (skip_questions(m, &h, &off) < 0)
		return fail(err, errlen, "MX query for %s: malformed answer",
			    dom);
	memcpy(owner, dom, strlen(dom) + 1);
	for (unsigned i = 0; i < h.an; i++) {
		if (rd_rr(m, &off, &rr) < 0)
			return fail(err, errlen, "MX query for %s: malformed "
				    "answer", dom);
		if (rr.class != C_IN || strcmp(rr.name, owner) != 0)
			continue;
		if (rr.type == T_CNAME) {
			size_t t = rr.rdata;
			if (rd_name(m, &t, rr.rdata + rr.rdlen, owner,
				    sizeof(owner)) < 0 ||
			    t != rr.rdata + rr.rdlen)
				return fail(err, errlen, "MX query for %s: "
					    "malformed CNAME", dom);
		} else if (rr.type == T_MX) {
			int r = mx_line(m, &rr, out, outlen, &o);
			if (r < 0)
				return fail(err, errlen, r == -2 ? "MX query for "
					    "%s: too many records for the "
					    "buffer" : "MX query for %s: "
					    "malformed MX", dom);
			count++;
		}
	}
	return count;
}

int
dns_update_query_mx(const struct dns_update_cfg *c, const char *domain,
		    char *out, size_t outlen, char *err, size_t errlen)
{
	unsigned char a[PKT_MAX];
	struct dns_update_cfg cc = *c;
	char dom[256];
	struct msg m;

	if (outlen == 0)
		return fail(err, errlen, "no room for the answer");
	out[0] = '\0';
	if (cc.timeout_ms == 0)
		cc.timeout_ms = 3000;
	if (name_norm(domain, dom, sizeof(dom), "domain", err, errlen) < 0 ||
	    query(&cc, dom, T_MX, a, &m, err, errlen) < 0)
		return -1;
	return mx_parse(&m, dom, out, outlen, err, errlen);
}

/* ---- keys ---- */

static int
b64_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* RFC 4648 4, padding required; returns the length or -1. */
static long
b64_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	size_t o = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			v[j] = b64_val((unsigned char)s[i + j]);
			if (s[i + j] == '=' && i + 4 == len && j >= 2 &&
			    (j == 3 || s[i + 3] == '=')) {
				v[j] = 0;
				pad++;
			} else if (v[j] < 0) {
				return -1;
			}
		}
		uint32_t n = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		if ((size_t)(3 - pad) > cap - o)
			return -1;
		out[o++] = (unsigned char)(n >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(n >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)n;
	}
	return (long)o;
}

/* A token of a key file (named.conf syntax): a word, a "string" or one
 * of { } ; — kind 'w', 's' or the character itself. */
struct tok {
	const char *p;
	size_t len;
	char kind;
};

/* 1 with *t, 0 at the end, -1 on an unterminated string or comment. */
static int
tok_next(const char *s, size_t len, size_t *pos, struct tok *t)
{
	size_t i = *pos;

	for (;;) {
		while (i < len && (s[i] == ' ' || s[i] == '\t' ||
				   s[i] == '\n' || s[i] == '\r'))
			i++;
		if (i < len && (s[i] == '#' || (s[i] == '/' && i + 1 < len &&
						s[i + 1] == '/'))) {
			while (i < len && s[i] != '\n')
				i++;
		} else if (i + 1 < len && s[i] == '/' && s[i + 1] == '*') {
			const char *e = memmem(s + i + 2, len - i - 2, "*/", 2);
			if (e == NULL)
				return -1;
			i = (size_t)(e - s) + 2;
		} else {
			break;
		}
	}
	if (i >= len)
		return 0;
	if (s[i] == '"') {
		const char *e = memchr(s + i + 1, '"', len - i - 1);
		if (e == NULL)
			return -1;
		*t = (struct tok){ s + i + 1, (size_t)(e - s - i - 1), 's' };
		*pos = (size_t)(e - s) + 1;
		return 1;
	}
	if (strchr("{};", s[i]) != NULL && s[i] != '\0') {
		*t = (struct tok){ s + i, 1, s[i] };
		*pos = i + 1;
		return 1;
	}
	size_t j = i;
	while (j < len && strchr(" \t\r\n{};\"", s[j]) == NULL && s[j] != '\0')
		j++;
	*t = (struct tok){ s + i, j - i, 'w' };
	*pos = j;
	return 1;
}

static bool
tok_is(const struct tok *t, const char *word)
{
	return t->kind == 'w' && t->len == strlen(word) &&
	       strncasecmp(t->p, word, t->len) == 0;
}

/* The inside of a BIND key statement: algorithm X; secret "Y"; then }. */
static int
key_body(const char *s, size_t len, size_t *pos, struct tok *alg,
	 struct tok *secret)
{
	struct tok t, v, semi;

	alg->len = secret->len = 0;
	for (;;) {
		if (tok_next(s, len, pos, &t) != 1)
			return -1;
		if (t.kind == '}')
			return alg->len > 0 && secret->len > 0 ? 0 : -1;
		if (tok_next(s, len, pos, &v) != 1 ||
		    (v.kind != 'w' && v.kind != 's') ||
		    tok_next(s, len, pos, &semi) != 1 || semi.kind != ';')
			return -1;
		if (tok_is(&t, "algorithm"))
			*alg = v;
		else if (tok_is(&t, "secret"))
			*secret = v;
		else
			return -1;
	}
}

int
dns_update_parse_key(struct dns_update_cfg *c, const char *text, size_t len,
		     char *err, size_t errlen)
{
	struct tok t[4], name, alg, secret;
	size_t pos = 0;
	int n = 0, r = 0;
	char nbuf[256], tmp[256];
	unsigned char sec[sizeof(c->tsig_secret)];
	const struct tsig_alg *a;
	long seclen;

	while (n < 4 && (r = tok_next(text, len, &pos, &t[n])) == 1)
		n++;
	if (n >= 3 && tok_is(&t[0], "key") && t[2].kind == '{' &&
	    (t[1].kind == 's' || t[1].kind == 'w')) {
		/* Only the first key of a file counts; t[3] is re-read. */
		pos = (size_t)(t[2].p - text) + 1;
		if (key_body(text, len, &pos, &alg, &secret) < 0)
			return fail(err, errlen, "key file: expected key \"NAME\""
				    " { algorithm ALG; secret \"BASE64\"; };");
		name = t[1];
	} else if (n == 3 && r == 0 && t[0].kind == 'w' && t[1].kind == 'w' &&
		   t[2].kind == 'w') {
		name = t[0];
		alg = t[1];
		secret = t[2];
	} else {
		return fail(err, errlen, "key: expected \"NAME ALG SECRET\" or "
			    "a BIND key file");
	}
	if (name.len >= sizeof(tmp))
		return fail(err, errlen, "key name is too long");
	memcpy(tmp, name.p, name.len);
	tmp[name.len] = '\0';
	if (name_norm(tmp, nbuf, sizeof(nbuf), "key name", err, errlen) < 0)
		return -1;
	a = tsig_alg_find(alg.p, alg.len);
	if (a == NULL)
		return fail(err, errlen, "key %s: algorithm '%.*s' is not "
			    "hmac-sha256, hmac-sha512 or hmac-sha1", nbuf,
			    (int)(alg.len > 40 ? 40 : alg.len), alg.p);
	seclen = b64_decode(secret.p, secret.len, sec, sizeof(sec));
	if (seclen <= 0)
		return fail(err, errlen, "key %s: the secret is not base64 of "
			    "1 to %zu bytes", nbuf, sizeof(sec));
	memcpy(c->tsig_name, nbuf, strlen(nbuf) + 1);
	snprintf(c->tsig_alg, sizeof(c->tsig_alg), "%s", a->name);
	memcpy(c->tsig_secret, sec, (size_t)seclen);
	c->tsig_len = (size_t)seclen;
	explicit_bzero(sec, sizeof(sec));
	return 0;
}
