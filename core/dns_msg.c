#include "core/dns_msg.h"

#include <ares.h>
#include <stdbool.h>
#include <string.h>

#include "core/util.h"

enum { HDR_LEN = 12 }; /* RFC 1035 4.1.1 */

/* ------------------------------------------------------------------ */
/* Host names */

static bool
is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

int
dns_msg_name_norm(const char *in, char *out)
{
	size_t len = strnlen(in, DNS_NAME_MAX), label = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '.') {
			if (label == 0 || in[i - 1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (!is_ldh(in[i]) || (label == 0 && in[i] == '-') ||
		    ++label > 63)
			return -1;
	}
	if (label == 0 || in[len - 1] == '-')
		return -1;
	memcpy(out, in, len);
	out[len] = '\0';
	util_lower(out, len);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The walker: every length checked against the message's end */

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint32_t
ttl_min(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* RFC 2181 8: a TTL with its top bit set is taken as 0. */
static uint32_t
ttl_get(const unsigned char *p)
{
	uint32_t ttl = get32(p);

	return ttl > INT32_MAX ? 0 : ttl;
}

struct walk {
	const unsigned char *p;
	size_t len, off;
	unsigned an, ns; /* answer and authority records */
};

struct rr {
	unsigned type, class;
	uint32_t ttl;
	size_t rdata, rdlen; /* offset and length of the RDATA */
};

/* Moves past a name; a compression pointer ends it (RFC 1035 4.1.4). */
static int
skip_name(struct walk *w)
{
	while (w->off < w->len) {
		unsigned c = w->p[w->off];
		if (c == 0) {
			w->off++;
			return 0;
		}
		if ((c & 0xC0) == 0xC0) {
			if (w->len - w->off < 2)
				return -1;
			w->off += 2;
			return 0;
		}
		if (c & 0xC0) /* label types 01 and 10: not for us */
			return -1;
		w->off += 1 + c;
	}
	return -1;
}

/* Past the header and the questions: the answers are next. */
static int
walk_start(struct walk *w, const unsigned char *msg, size_t len)
{
	w->p = msg;
	w->len = msg != NULL ? len : 0;
	w->off = HDR_LEN;
	if (w->len < HDR_LEN || w->len > DNS_MSG_LEN_MAX)
		return -1;
	w->an = get16(msg + 6);
	w->ns = get16(msg + 8);
	for (unsigned i = get16(msg + 4); i > 0; i--) {
		if (skip_name(w) < 0 || w->len - w->off < 4)
			return -1;
		w->off += 4;
	}
	return 0;
}

static int
walk_rr(struct walk *w, struct rr *rr)
{
	const unsigned char *h;

	if (skip_name(w) < 0 || w->len - w->off < 10)
		return -1;
	h = w->p + w->off;
	rr->type = get16(h);
	rr->class = get16(h + 2);
	rr->ttl = ttl_get(h + 4);
	rr->rdlen = get16(h + 8);
	rr->rdata = w->off + 10;
	if (w->len - rr->rdata < rr->rdlen)
		return -1;
	w->off = rr->rdata + rr->rdlen;
	return 0;
}

uint32_t
dns_msg_neg_ttl(const unsigned char *msg, size_t len)
{
	struct walk w;
	struct rr rr;

	if (walk_start(&w, msg, len) < 0)
		return 0;
	for (unsigned i = 0; i < w.an + w.ns; i++) {
		if (walk_rr(&w, &rr) < 0)
			return 0;
		/* Two names of at least one byte, then five 32-bit fields. */
		if (i >= w.an && rr.type == DNS_MSG_T_SOA && rr.rdlen >= 22)
			return ttl_min(rr.ttl,
				       ttl_get(w.p + rr.rdata + rr.rdlen - 4));
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* MX answers */

/* The host of an MX record: 1 a host name, 0 the root ("."), -1 bad. */
static int
mx_host(const struct walk *w, const struct rr *rr, char *host)
{
	char *s;
	long enclen;
	int rc = -1;

	/* w->len is at most DNS_MSG_LEN_MAX, so it fits an int. */
	if (rr->rdlen < 3 ||
	    ares_expand_name(w->p + rr->rdata + 2, w->p, (int)w->len, &s,
			     &enclen) != ARES_SUCCESS)
		return -1;
	/* The name fills the rest of the RDATA, exactly. c-ares leaves odd
	 * bytes (a space) as they are, so dns_msg_name_norm has the last
	 * word. */
	if (enclen == (long)rr->rdlen - 2) {
		if (s[0] == '\0' || strcmp(s, ".") == 0)
			rc = 0;
		else if (dns_msg_name_norm(s, host) == 0)
			rc = 1;
	}
	ares_free_string(s);
	return rc;
}

/* Keeps the DNS_MX_MAX most preferred hosts of a huge answer. */
static void
mx_keep(struct dns_mx *mx, unsigned *n, const char *host, unsigned pref)
{
	unsigned at = *n;

	if (*n == DNS_MX_MAX) {
		at = 0;
		for (unsigned i = 1; i < *n; i++)
			if (mx[i].pref > mx[at].pref)
				at = i;
		if (mx[at].pref <= pref)
			return;
	} else
		(*n)++;
	util_strlcpy(mx[at].host, host, DNS_NAME_MAX);
	mx[at].pref = pref;
}

static void
mx_sort(struct dns_mx *mx, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		struct dns_mx t = mx[i];
		unsigned j = i;
		for (; j > 0 && mx[j - 1].pref > t.pref; j--)
			mx[j] = mx[j - 1];
		mx[j] = t;
	}
}

/* The outcome once the answer section is read. */
static enum dns_status
mx_verdict(unsigned seen, unsigned root, unsigned n, const char **why_r)
{
	if (seen == 1 && root == 1) { /* RFC 7505 3 */
		*why_r = "null MX: the domain takes no mail";
		return DNS_NULLMX;
	}
	if (n > 0) {
		*why_r = "ok";
		return DNS_OK;
	}
	if (seen == 0) {
		*why_r = "no MX record";
		return DNS_NODATA;
	}
	*why_r = "no valid host name in the MX";
	return DNS_TEMPFAIL;
}

enum dns_status
dns_msg_mx_parse(const unsigned char *msg, size_t len, struct dns_mx *mx,
		 unsigned *n_r, uint32_t *ttl_r, const char **why_r)
{
	struct walk w;
	struct rr rr;
	char host[DNS_NAME_MAX];
	unsigned seen = 0, root = 0;
	uint32_t ttl = INT32_MAX; /* what ttl_get gives at the most */
	enum dns_status st;

	*n_r = 0;
	if (walk_start(&w, msg, len) < 0)
		goto bad;
	for (unsigned i = 0; i < w.an; i++) {
		if (walk_rr(&w, &rr) < 0)
			goto bad;
		ttl = ttl_min(ttl, rr.ttl);
		if (rr.type != DNS_MSG_T_MX || rr.class != DNS_MSG_C_IN)
			continue;
		if (++seen > DNS_MSG_MX_READ_MAX)
			continue;
		int h = mx_host(&w, &rr, host);
		root += h == 0;
		if (h == 1)
			mx_keep(mx, n_r, host, get16(w.p + rr.rdata));
	}
	mx_sort(mx, *n_r);
	st = mx_verdict(seen, root, *n_r, why_r);
	*ttl_r = st == DNS_NODATA ? dns_msg_neg_ttl(msg, len)
		 : st == DNS_TEMPFAIL ? 0 : ttl;
	return st;
bad:
	*n_r = 0;
	*ttl_r = 0;
	*why_r = "malformed answer";
	return DNS_TEMPFAIL;
}
