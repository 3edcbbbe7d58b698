/*
 * dns_tsig: TSIG (RFC 8945) for dns_update: signing a request, verifying
 * its answer, and reading keys. The contract is in dns_tsig.h.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <bearssl.h>

#include "core/util.h"
#include "tools/dns_tsig.h"
#include "tools/dns_update.h"
#include "tools/dns_wire.h"

enum {
	FUDGE = 300,
};

struct dns_tsig_alg {
	const char *name; /* also the algorithm's domain name (4.2) */
	const br_hash_class *hash;
	size_t maclen;
};

static const struct dns_tsig_alg tsig_algs[] = {
	{ "hmac-sha256", &br_sha256_vtable, 32 },
	{ "hmac-sha512", &br_sha512_vtable, 64 },
	{ "hmac-sha1", &br_sha1_vtable, 20 },
};

/* Algorithm names are matched case-insensitively, a trailing dot allowed. */
static const struct dns_tsig_alg *
tsig_alg_find(const char *name, size_t len)
{
	if (len > 0 && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < sizeof(tsig_algs) / sizeof(tsig_algs[0]); i++)
		if (util_is_ieq(name, len, tsig_algs[i].name))
			return &tsig_algs[i];
	return NULL;
}

int
dns_tsig_key_from(const struct dns_update_cfg *c, struct dns_tsig_key *k,
		  char *err, size_t errlen)
{
	if (dns_wire_name_norm(c->tsig_name, k->name, sizeof(k->name),
			       "key name", err, errlen) < 0)
		return -1;
	k->alg = tsig_alg_find(c->tsig_alg, strnlen(c->tsig_alg,
						    sizeof(c->tsig_alg)));
	if (k->alg == NULL)
		return dns_wire_fail(err, errlen, "TSIG algorithm '%.31s' is "
				     "not one of hmac-sha256, hmac-sha512, "
				     "hmac-sha1", c->tsig_alg);
	if (c->tsig_len == 0 || c->tsig_len > sizeof(c->tsig_secret))
		return dns_wire_fail(err, errlen, "TSIG key %s has no secret",
				     k->name);
	k->secret = c->tsig_secret;
	k->len = c->tsig_len;
	return 0;
}

/* The TSIG variables of RFC 8945 4.3.3, in canonical form. */
static void
tsig_vars(struct dns_wire_buf *w, const struct dns_tsig_key *k, uint64_t t,
	  unsigned fudge, unsigned error, const unsigned char *other,
	  size_t otherlen)
{
	dns_wire_put_name(w, k->name);
	dns_wire_put16(w, DNS_WIRE_C_ANY);
	dns_wire_put32(w, 0);
	dns_wire_put_name(w, k->alg->name);
	dns_wire_put16(w, (unsigned)(t >> 32) & 0xFFFFu);
	dns_wire_put32(w, (uint32_t)t);
	dns_wire_put16(w, fudge);
	dns_wire_put16(w, error);
	dns_wire_put16(w, (unsigned)otherlen);
	dns_wire_put(w, other, otherlen);
}

static void
hmac_begin(br_hmac_context *hc, const struct dns_tsig_key *k)
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
int
dns_tsig_sign(struct dns_wire_buf *w, const struct dns_tsig_key *k, unsigned id,
	      unsigned char *mac_r)
{
	unsigned char vb[600];
	struct dns_wire_buf v = { vb, sizeof(vb), 0, false };
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
	dns_wire_put_name(w, k->name);
	dns_wire_put16(w, DNS_WIRE_T_TSIG);
	dns_wire_put16(w, DNS_WIRE_C_ANY);
	dns_wire_put32(w, 0);
	rdlen_at = w->len;
	dns_wire_put16(w, 0);
	dns_wire_put_name(w, k->alg->name);
	dns_wire_put16(w, (unsigned)(now >> 32) & 0xFFFFu);
	dns_wire_put32(w, (uint32_t)now);
	dns_wire_put16(w, FUDGE);
	dns_wire_put16(w, (unsigned)k->alg->maclen);
	dns_wire_put(w, mac_r, k->alg->maclen);
	dns_wire_put16(w, id); /* Original ID */
	dns_wire_put16(w, 0); /* Error */
	dns_wire_put16(w, 0); /* Other Len */
	dns_wire_patch16(w, rdlen_at, (unsigned)(w->len - rdlen_at - 2));
	dns_wire_patch16(w, 10, 1);
	return w->full ? -1 : 0;
}

/* The fields of a TSIG RR's RDATA (RFC 8945 4.2). */
struct tsig_rd {
	char alg[DNS_WIRE_NAME_TEXT_MAX];
	uint64_t time;
	unsigned fudge, maclen, orig_id, error, otherlen;
	const unsigned char *mac, *other;
};

static int
tsig_rd_parse(const struct dns_wire_msg *m, const struct dns_wire_rr *rr,
	      struct tsig_rd *t)
{
	size_t off = rr->rdata, end = rr->rdata + rr->rdlen;
	const unsigned char *p;

	if (dns_wire_read_name(m, &off, end, t->alg, sizeof(t->alg)) < 0 ||
	    end - off < 10)
		return -1;
	p = m->p + off;
	t->time = (uint64_t)dns_wire_get16(p) << 32 | dns_wire_get32(p + 2);
	t->fudge = dns_wire_get16(p + 6);
	t->maclen = dns_wire_get16(p + 8);
	off += 10;
	if (t->maclen > end - off || end - off - t->maclen < 6)
		return -1;
	t->mac = m->p + off;
	off += t->maclen;
	p = m->p + off;
	t->orig_id = dns_wire_get16(p);
	t->error = dns_wire_get16(p + 2);
	t->otherlen = dns_wire_get16(p + 4);
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
tsig_answer_mac(const struct dns_wire_msg *m, const struct dns_wire_rr *rr,
		const struct tsig_rd *t, const struct dns_tsig_key *k,
		const unsigned char *reqmac, unsigned char *mac_r)
{
	unsigned char vb[1200], len2[2], hdr[DNS_WIRE_HDR_LEN];
	struct dns_wire_buf v = { vb, sizeof(vb), 0, false };
	br_hmac_context hc;

	tsig_vars(&v, k, t->time, t->fudge, t->error, t->other, t->otherlen);
	if (v.full)
		return -1;
	memcpy(hdr, m->p, DNS_WIRE_HDR_LEN);
	hdr[0] = (unsigned char)(t->orig_id >> 8);
	hdr[1] = (unsigned char)t->orig_id;
	unsigned ar = dns_wire_get16(m->p + 10) - 1;
	hdr[10] = (unsigned char)(ar >> 8);
	hdr[11] = (unsigned char)ar;
	len2[0] = (unsigned char)(k->alg->maclen >> 8);
	len2[1] = (unsigned char)k->alg->maclen;
	hmac_begin(&hc, k);
	br_hmac_update(&hc, len2, 2);
	br_hmac_update(&hc, reqmac, k->alg->maclen);
	br_hmac_update(&hc, hdr, DNS_WIRE_HDR_LEN);
	br_hmac_update(&hc, m->p + DNS_WIRE_HDR_LEN,
		       rr->start - DNS_WIRE_HDR_LEN);
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
int
dns_tsig_check(const struct dns_wire_msg *m, const struct dns_wire_hdr *h,
	       const struct dns_tsig_key *k, const unsigned char *reqmac,
	       char *err, size_t errlen)
{
	struct dns_wire_rr rr;
	struct tsig_rd t;
	unsigned char mac[DNS_TSIG_MAC_MAX];
	int found = dns_wire_walk(m, h, &rr);
	unsigned rc = DNS_WIRE_F_RCODE(h->flags);
	long long skew;

	if (found < 0)
		return dns_wire_fail(err, errlen, "malformed answer");
	if (found == 0 && rc != 0)
		return dns_wire_fail(err, errlen, "%s (%s; the answer is not "
				     "signed)", dns_wire_rcode_name(rc),
				     dns_wire_rcode_hint(rc));
	if (found == 0)
		return dns_wire_fail(err, errlen, "the answer to our signed "
				     "update is not signed: not trusted");
	if (rr.class != DNS_WIRE_C_ANY || rr.ttl != 0 ||
	    tsig_rd_parse(m, &rr, &t) < 0)
		return dns_wire_fail(err, errlen, "malformed TSIG record in "
				     "the answer");
	if (t.maclen == 0 && t.error != 0) {
		const char *does = t.error == 17 ? "does not know" :
				   t.error == 18 ? "finds our clock wrong for" :
				   "could not verify our signature with";
		const char *hint = t.error == 16 ? "wrong secret?" :
				   t.error == 17 ? "name or algorithm differ?" :
				   "check the clocks";
		return dns_wire_fail(err, errlen, "%s, TSIG error %s: the "
				     "server %s key %s (%s)",
				     dns_wire_rcode_name(rc),
				     dns_wire_rcode_name(t.error), does,
				     k->name, hint);
	}
	if (strcmp(rr.name, k->name) != 0 || strcmp(t.alg, k->alg->name) != 0)
		return dns_wire_fail(err, errlen, "the answer is signed with "
				     "key '%s' (%s), not ours", rr.name, t.alg);
	if (t.maclen != k->alg->maclen)
		return dns_wire_fail(err, errlen, "the answer's TSIG MAC has "
				     "%u bytes, not %zu: not trusted", t.maclen,
				     k->alg->maclen);
	if (tsig_answer_mac(m, &rr, &t, k, reqmac, mac) < 0 ||
	    !mac_equal(mac, t.mac, t.maclen))
		return dns_wire_fail(err, errlen, "the answer's TSIG MAC does "
				     "not verify (forged, or another secret): "
				     "not trusted");
	skew = (long long)t.time - (long long)time(NULL);
	if (t.error != 0)
		return dns_wire_fail(err, errlen, "%s, TSIG error %s from the "
				     "server (its time minus ours: %llds)",
				     dns_wire_rcode_name(rc),
				     dns_wire_rcode_name(t.error), skew);
	if (skew > (long long)t.fudge || -skew > (long long)t.fudge)
		return dns_wire_fail(err, errlen, "the answer's TSIG time is "
				     "%llds off ours (BADTIME, fudge %u)", skew,
				     t.fudge);
	return 0;
}

/* ---- keys ---- */

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
	return t->kind == 'w' && util_is_ieq(t->p, t->len, word);
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
dns_tsig_parse_key(struct dns_update_cfg *c, const char *text, size_t len,
		   char *err, size_t errlen)
{
	struct tok t[4], name, alg, secret;
	size_t pos = 0;
	int n = 0, r = 0;
	char nbuf[256], tmp[256];
	unsigned char sec[sizeof(c->tsig_secret)];
	const struct dns_tsig_alg *a;
	long seclen;

	while (n < 4 && (r = tok_next(text, len, &pos, &t[n])) == 1)
		n++;
	if (n >= 3 && tok_is(&t[0], "key") && t[2].kind == '{' &&
	    (t[1].kind == 's' || t[1].kind == 'w')) {
		/* Only the first key of a file counts; t[3] is re-read. */
		pos = (size_t)(t[2].p - text) + 1;
		if (key_body(text, len, &pos, &alg, &secret) < 0)
			return dns_wire_fail(err, errlen, "key file: expected "
					     "key \"NAME\" { algorithm ALG; "
					     "secret \"BASE64\"; };");
		name = t[1];
	} else if (n == 3 && r == 0 && t[0].kind == 'w' && t[1].kind == 'w' &&
		   t[2].kind == 'w') {
		name = t[0];
		alg = t[1];
		secret = t[2];
	} else {
		return dns_wire_fail(err, errlen, "key: expected \"NAME ALG "
				     "SECRET\" or a BIND key file");
	}
	if (util_copy(tmp, sizeof(tmp), name.p, name.len) < 0)
		return dns_wire_fail(err, errlen, "key name is too long");
	if (dns_wire_name_norm(tmp, nbuf, sizeof(nbuf), "key name", err,
			       errlen) < 0)
		return -1;
	a = tsig_alg_find(alg.p, alg.len);
	if (a == NULL)
		return dns_wire_fail(err, errlen, "key %s: algorithm '%.*s' "
				     "is not hmac-sha256, hmac-sha512 or "
				     "hmac-sha1", nbuf,
				     (int)(alg.len > 40 ? 40 : alg.len), alg.p);
	seclen = util_b64_decode(secret.p, secret.len, sec, sizeof(sec));
	if (seclen <= 0)
		return dns_wire_fail(err, errlen, "key %s: the secret is not "
				     "base64 of 1 to %zu bytes", nbuf,
				     sizeof(sec));
	memcpy(c->tsig_name, nbuf, strlen(nbuf) + 1);
	util_strlcpy(c->tsig_alg, a->name, sizeof(c->tsig_alg));
	memcpy(c->tsig_secret, sec, (size_t)seclen);
	c->tsig_len = (size_t)seclen;
	explicit_bzero(sec, sizeof(sec));
	return 0;
}
