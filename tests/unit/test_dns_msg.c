/*
 * dns_msg: the parser alone, fed the canned answers of t_dnsd.h's server
 * directly, whole, cut and mutated, each in a block of exactly its length
 * so that the sanitizer sees a read past the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dns.h"
#include "core/dns_msg.h"
#include "tests/unit/t.h"
#include "tests/unit/t_dnsd.h"

/* The short names the tests below use for t_dnsd's helpers. */
static size_t
canned(struct pkt *p, const char *name, unsigned qtype)
{
	return t_dnsd_canned(p, name, qtype);
}

static void
check_most_preferred(const struct got *g, unsigned first, const char *domain)
{
	t_dnsd_check_most_preferred(g, first, domain);
}

/* msg[0..len) in a block of exactly len bytes, so that the sanitizer
 * sees a read past the end; NULL for 0. */
static unsigned char *
exact_copy(const unsigned char *msg, size_t len)
{
	unsigned char *copy;

	if (len == 0)
		return NULL;
	T_ASSERT((copy = malloc(len)) != NULL);
	memcpy(copy, msg, len);
	return copy;
}

static void
parse(const unsigned char *msg, size_t len, struct got *g, uint32_t *ttl_r)
{
	struct dns_mx mx[DNS_MX_MAX];
	unsigned char *copy = exact_copy(msg, len);
	const char *why = NULL;
	unsigned n = 99;
	enum dns_status st;

	st = dns_msg_mx_parse(copy, len, mx, &n, ttl_r, &why);
	free(copy);
	T_ASSERT(why != NULL);
	T_ASSERT(n <= DNS_MX_MAX);
	memset(g, 0, sizeof(*g));
	t_dnsd_got_mx(g, st, mx, n, why);
}

T_TEST(dns_msg_name_norm_rules)
{
	static const char *const bad[] = {
		"", ".", "..", "a..b", ".a", "-a.b", "a-.b", "a.-b", "a.b-",
		"a_b", "a b", "a.b..", "a\\.b", "\xc3\xa4.test",
	};
	char out[DNS_NAME_MAX], in[300];

	T_EQ_INT(dns_msg_name_norm("Mail.Example.COM.", out), 0);
	T_EQ_STR(out, "mail.example.com");
	T_EQ_INT(dns_msg_name_norm("x-1.2y", out), 0);
	T_EQ_STR(out, "x-1.2y");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(out, sizeof(out), "kept");
		if (dns_msg_name_norm(bad[i], out) != -1)
			t_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
		T_EQ_STR(out, "kept");
	}
	/* A label of 63 and a name of 253 (with its dot, 254) are the most. */
	memset(in, 'a', 64);
	in[63] = '\0';
	T_EQ_INT(dns_msg_name_norm(in, out), 0);
	in[63] = 'a';
	in[64] = '\0';
	T_EQ_INT(dns_msg_name_norm(in, out), -1);
	memset(in, 'a', 255);
	for (size_t i = 63; i < 255; i += 64)
		in[i] = '.';
	in[253] = '\0';
	T_EQ_INT(dns_msg_name_norm(in, out), 0);
	T_EQ_SIZE(strlen(out), 253);
	in[253] = '.';
	in[254] = '\0';
	T_EQ_INT(dns_msg_name_norm(in, out), 0);
	in[253] = 'a';
	T_EQ_INT(dns_msg_name_norm(in, out), -1);
}

T_TEST(dns_msg_mx_canned_answers)
{
	static const struct {
		const char *domain, *text, *why;
		enum dns_status st;
		uint32_t ttl;
	} cases[] = {
		{ "sorted.test",
		  "10 mx10.sorted.test, 20 mx20.sorted.test, "
		  "30 mx30.sorted.test",
		  "ok", DNS_OK, 300 },
		{ "null.test", "", "null MX: the domain takes no mail",
		  DNS_NULLMX, 300 },
		{ "nullmix.test", "10 mx.nullmix.test", "ok", DNS_OK, 300 },
		{ "badname.test", "40 good.badname.test", "ok", DNS_OK, 300 },
		{ "cnamemx.test", "10 mx.mail.test", "ok", DNS_OK, 300 },
		{ "ttl0.test", "10 mx.ttl0.test", "ok", DNS_OK, 0 },
		{ "nodata.test", "", "no MX record", DNS_NODATA, 30 },
		{ "cnameonly.test", "", "no MX record", DNS_NODATA, 30 },
		{ "negmin0.test", "", "no MX record", DNS_NODATA, 0 },
		{ "nosoa.test", "", "no MX record", DNS_NODATA, 0 },
		{ "allbad.test", "", NO_VALID_HOST, DNS_TEMPFAIL, 0 },
		{ "loop.test", "", NO_VALID_HOST, DNS_TEMPFAIL, 0 },
		{ "far.test", "", NO_VALID_HOST, DNS_TEMPFAIL, 0 },
		{ "overrun.test", "", NO_VALID_HOST, DNS_TEMPFAIL, 0 },
		{ "count.test", "", "malformed answer", DNS_TEMPFAIL, 0 },
		{ "label.test", "", "malformed answer", DNS_TEMPFAIL, 0 },
	};
	struct pkt p;
	struct got g;
	uint32_t ttl;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		canned(&p, cases[i].domain, RR_MX);
		parse(p.b, p.len, &g, &ttl);
		WANT(g, cases[i].st, cases[i].text, cases[i].why);
		if (ttl != cases[i].ttl)
			t_fail(__FILE__, __LINE__, "%s: ttl %u",
			       cases[i].domain, (unsigned)ttl);
	}
	canned(&p, "vast.test", RR_MX); /* only mx0..mx127 are read */
	parse(p.b, p.len, &g, &ttl);
	check_most_preferred(&g, 127, "vast.test");
	/* RFC 2181 8: a TTL of 2^31 or more is 0. */
	size_t rr = canned(&p, "sorted.test", RR_MX);
	p.b[rr + 6] = 0x80;
	parse(p.b, p.len, &g, &ttl);
	T_EQ_INT(g.st, DNS_OK);
	T_EQ_INT(ttl, 0);
}

T_TEST(dns_msg_length_limits)
{
	static unsigned char big[DNS_MSG_LEN_MAX + 1];
	struct pkt p;
	struct got g;
	uint32_t ttl;

	parse(NULL, 0, &g, &ttl);
	WANT(g, DNS_TEMPFAIL, "", "malformed answer");
	T_EQ_INT(dns_msg_neg_ttl(NULL, 0), 0);
	memset(big, 0, 12);
	parse(big, 12, &g, &ttl); /* a header, and nothing in it */
	WANT(g, DNS_NODATA, "", "no MX record");
	T_EQ_INT(ttl, 0);
	/* Bytes after the last record are not looked at, up to the most a
	 * message can be. */
	canned(&p, "sorted.test", RR_MX);
	memcpy(big, p.b, p.len);
	parse(big, DNS_MSG_LEN_MAX, &g, &ttl);
	T_EQ_INT(g.st, DNS_OK);
	T_EQ_INT(g.n, 3);
	parse(big, DNS_MSG_LEN_MAX + 1, &g, &ttl);
	WANT(g, DNS_TEMPFAIL, "", "malformed answer");
	canned(&p, "nodata.test", RR_MX);
	memcpy(big, p.b, p.len);
	T_EQ_INT(dns_msg_neg_ttl(big, DNS_MSG_LEN_MAX), 30);
	T_EQ_INT(dns_msg_neg_ttl(big, DNS_MSG_LEN_MAX + 1), 0);
}

/* Every record, the last one too, is needed whole. */
T_TEST(dns_msg_every_cut_is_malformed)
{
	struct pkt p;
	struct got g;
	uint32_t ttl;

	canned(&p, "sorted.test", RR_MX);
	for (size_t len = 0; len < p.len; len++) {
		parse(p.b, len, &g, &ttl);
		if (g.st != DNS_TEMPFAIL || g.n != 0 || ttl != 0 ||
		    strcmp(g.why, "malformed answer") != 0)
			t_fail(__FILE__, __LINE__, "cut at %zu: %d %s", len,
			       g.st, g.why);
	}
	/* The SOA ends this one: cut, it is no SOA, and no TTL. */
	canned(&p, "nodata.test", RR_MX);
	T_EQ_INT(dns_msg_neg_ttl(p.b, p.len), 30);
	for (size_t len = 0; len < p.len; len++) {
		unsigned char *copy = exact_copy(p.b, len);
		uint32_t neg = dns_msg_neg_ttl(copy, len);
		free(copy);
		if (neg != 0)
			t_fail(__FILE__, __LINE__, "cut at %zu: %u", len,
			       (unsigned)neg);
		parse(p.b, len, &g, &ttl);
		T_ASSERT(g.st == DNS_TEMPFAIL ||
			 (g.st == DNS_NODATA && ttl == 0));
	}
}

/* What comes out of a mangled answer still keeps the contract. */
static void
check_mangled(const struct got *g, uint32_t ttl)
{
	char norm[DNS_NAME_MAX];

	T_ASSERT(g->st == DNS_OK || g->st == DNS_NULLMX ||
		 g->st == DNS_NODATA || g->st == DNS_TEMPFAIL);
	T_ASSERT((g->st == DNS_OK) == (g->n > 0));
	T_ASSERT(ttl <= INT32_MAX);
	for (unsigned i = 0; i < g->n; i++) {
		T_EQ_INT(dns_msg_name_norm(g->mx[i].host, norm), 0);
		T_EQ_STR(norm, g->mx[i].host);
		T_ASSERT(i == 0 || g->mx[i - 1].pref <= g->mx[i].pref);
	}
}

T_TEST(dns_msg_mangled_bytes_stay_in_bounds)
{
	static const char *const domains[] = {
		"sorted.test", "cnamemx.test", "nodata.test", "badname.test",
	};
	static const unsigned char with[] = {
		0x00, 0x01, 0x3F, 0x40, 0x80, 0xC0, 0xC1, 0xFF,
	};
	struct pkt p;
	struct got g;
	uint32_t ttl;

	for (size_t d = 0; d < sizeof(domains) / sizeof(domains[0]); d++) {
		canned(&p, domains[d], RR_MX);
		for (size_t at = 0; at < p.len; at++) {
			unsigned char keep = p.b[at];
			for (size_t v = 0; v < sizeof(with); v++) {
				p.b[at] = with[v];
				parse(p.b, p.len, &g, &ttl);
				check_mangled(&g, ttl);
				T_ASSERT(dns_msg_neg_ttl(p.b, p.len) <=
					 INT32_MAX);
			}
			p.b[at] = keep;
		}
	}
}
