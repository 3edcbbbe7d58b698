/*
 * dns: the resolver on a real loop, through real c-ares, against the tiny
 * DNS server of t_dnsd.h: UDP and TCP on one port of 127.0.0.1, answering
 * from a table of canned answers, some of them hostile. It counts the
 * queries it gets, so a test can tell a cached answer from a fresh one.
 * Every wait is bounded: a lookup that never answers fails its test
 * instead of hanging the runner. The parser alone is test_dns_msg.c's.
 */
#include <ev.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/dns.h"
#include "tests/unit/t.h"
#include "tests/unit/t_dnsd.h"

/* The short names the tests below use for t_dnsd's helpers. */
static void
env_up(struct env *e, double timeout)
{
	t_dnsd_env_up(e, timeout);
}

static void
env_down(struct env *e)
{
	t_dnsd_env_down(e);
}

static void
got_mx(void *arg, enum dns_status st, const struct dns_mx *mx, unsigned n,
       const char *why)
{
	t_dnsd_got_mx(arg, st, mx, n, why);
}

static void
got_addr(void *arg, enum dns_status st, const struct dns_addr *a, unsigned n,
	 const char *why)
{
	t_dnsd_got_addr(arg, st, a, n, why);
}

static void
run_until(struct env *e, const int *calls, int want, double secs)
{
	t_dnsd_run_until(e, calls, want, secs);
}

static void
mx(struct env *e, const char *domain, struct got *g)
{
	t_dnsd_mx(e, domain, g);
}

static void
addr(struct env *e, const char *host, struct got *g)
{
	t_dnsd_addr(e, host, g);
}

static unsigned
udp_port(int *fd_r)
{
	return t_dnsd_udp_port(fd_r);
}

static void
check_most_preferred(const struct got *g, unsigned first, const char *domain)
{
	t_dnsd_check_most_preferred(g, first, domain);
}

#define SERVERS_FAILED "servers failed, refused or unreachable"

/* ------------------------------------------------------------------ */
/* MX */

T_TEST(dns_mx_sorted_by_preference)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "Sorted.Test.", &g);
	WANT(g, DNS_OK, "10 mx10.sorted.test, 20 mx20.sorted.test, "
			 "30 mx30.sorted.test", "ok");
	T_EQ_INT(g.n, 3);
	T_EQ_INT(e.srv.queries, 1);
	env_down(&e);
}

T_TEST(dns_mx_equal_preferences_shuffled)
{
	struct env e;
	struct got g;
	int first[3] = { 0 };

	env_up(&e, 1);
	for (int i = 0; i < 60; i++) {
		mx(&e, "equal.test", &g);
		T_EQ_INT(g.st, DNS_OK);
		T_EQ_INT(g.n, 4);
		T_EQ_STR(g.mx[3].host, "z.equal.test");
		int sum = 0;
		for (int k = 0; k < 3; k++) {
			T_EQ_INT(g.mx[k].pref, 10);
			sum += g.mx[k].host[0];
		}
		T_EQ_INT(sum, 'a' + 'b' + 'c');
		first[g.mx[0].host[0] - 'a']++;
	}
	/* Each first at least once: misses one with odds of about 1e-10. */
	T_ASSERT(first[0] > 0 && first[1] > 0 && first[2] > 0);
	T_EQ_INT(e.srv.queries, 1); /* and shuffled from the cache too */
	env_down(&e);
}

T_TEST(dns_mx_null_mx)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "null.test", &g);
	WANT(g, DNS_NULLMX, "", "null MX: the domain takes no mail");
	/* Beside another MX, "." is only a bad host, skipped. */
	mx(&e, "nullmix.test", &g);
	WANT(g, DNS_OK, "10 mx.nullmix.test", "ok");
	env_down(&e);
}

T_TEST(dns_mx_nodata_and_nxdomain)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "nodata.test", &g);
	WANT(g, DNS_NODATA, "", "no MX record");
	mx(&e, "nosuch.test", &g);
	WANT(g, DNS_NXDOMAIN, "", "no such domain");
	/* Through a CNAME: to an MX, and to a name without one. */
	mx(&e, "cnamemx.test", &g);
	WANT(g, DNS_OK, "10 mx.mail.test", "ok");
	mx(&e, "cnameonly.test", &g);
	WANT(g, DNS_NODATA, "", "no MX record");
	env_down(&e);
}

T_TEST(dns_mx_server_failure_is_tempfail)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "servfail.test", &g);
	WANT(g, DNS_TEMPFAIL, "", SERVERS_FAILED);
	mx(&e, "refused.test", &g);
	WANT(g, DNS_TEMPFAIL, "", SERVERS_FAILED);
	mx(&e, "servfail.test", &g); /* failures are never cached */
	T_EQ_INT(e.srv.queries, 3);
	env_down(&e);
}

T_TEST(dns_mx_no_answer_times_out)
{
	struct env e;
	struct got g;

	env_up(&e, 0.2);
	ev_tstamp t0 = ev_time();
	mx(&e, "drop.test", &g);
	double took = ev_time() - t0;
	WANT(g, DNS_TEMPFAIL, "", "timeout");
	T_ASSERT(took > 0.15 && took < 2);
	env_down(&e);
}

T_TEST(dns_mx_truncated_answer)
{
	struct env e;
	struct got g;

	env_up(&e, 0.2);
	mx(&e, "cut.test", &g);
	WANT(g, DNS_TEMPFAIL, "", "malformed answer");
	env_down(&e);
}

T_TEST(dns_mx_hostile_answers)
{
	static const struct {
		const char *domain, *why; /* why NULL: any */
	} cases[] = {
		{ "loop.test", NO_VALID_HOST },  { "far.test", NO_VALID_HOST },
		{ "overrun.test", NO_VALID_HOST },
		{ "count.test", "malformed answer" },
		{ "label.test", "malformed answer" },
		{ "short.test", "timeout" }, /* c-ares drops it */
		{ "empty.test", NULL },
	};
	struct env e;
	struct got g;

	env_up(&e, 0.2);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mx(&e, cases[i].domain, &g);
		if (g.st != DNS_TEMPFAIL || g.n != 0 ||
		    (cases[i].why != NULL && strcmp(g.why, cases[i].why) != 0))
			t_fail(__FILE__, __LINE__, "%s: status %d n %u (%s)",
			       cases[i].domain, g.st, g.n, g.why);
	}
	env_down(&e);
}

T_TEST(dns_mx_bad_host_names_skipped)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "badname.test", &g);
	WANT(g, DNS_OK, "40 good.badname.test", "ok");
	mx(&e, "allbad.test", &g);
	WANT(g, DNS_TEMPFAIL, "", NO_VALID_HOST);
	env_down(&e);
}
T_TEST(dns_mx_huge_answer_keeps_the_best)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "many.test", &g); /* one datagram, with EDNS */
	check_most_preferred(&g, 39, "many.test");
	T_EQ_INT(e.srv.tcp_queries, 0);
	mx(&e, "huge.test", &g); /* TC over UDP, then TCP */
	check_most_preferred(&g, 99, "huge.test");
	T_EQ_INT(e.srv.tcp_queries, 1);
	mx(&e, "vast.test", &g); /* only mx0..mx127 are read */
	check_most_preferred(&g, 127, "vast.test");
	env_down(&e);
}

/* ------------------------------------------------------------------ */
/* Addresses */

T_TEST(dns_addr_a_and_aaaa)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	addr(&e, "HOST.test", &g);
	WANT(g, DNS_OK, "192.0.2.1, 192.0.2.2, 2001:db8::1", "ok");
	T_EQ_INT(e.srv.queries, 2);
	addr(&e, "alias.test", &g); /* through a CNAME */
	WANT(g, DNS_OK, "192.0.2.9", "ok");
	addr(&e, "noaddr.test", &g);
	WANT(g, DNS_NODATA, "", "no address record");
	addr(&e, "nosuch.test", &g);
	WANT(g, DNS_NXDOMAIN, "", "no such domain");
	addr(&e, "cutaddr.test", &g);
	WANT(g, DNS_TEMPFAIL, "", "malformed answer");
	env_down(&e);
}

T_TEST(dns_addr_one_family_missing_or_failed)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	addr(&e, "v4only.test", &g);
	WANT(g, DNS_OK, "192.0.2.4", "ok");
	addr(&e, "v6fail.test", &g);
	WANT(g, DNS_OK, "192.0.2.6", "ok");
	T_EQ_INT(e.srv.queries, 4);
	/* Half failed: not cached, so asked again; the whole one is. */
	addr(&e, "v6fail.test", &g);
	addr(&e, "v4only.test", &g);
	T_EQ_INT(e.srv.queries, 6);
	env_down(&e);
}

T_TEST(dns_addr_ip_literal_without_query)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	addr(&e, "127.0.0.2", &g);
	WANT(g, DNS_OK, "127.0.0.2", "ok");
	addr(&e, "::1", &g);
	WANT(g, DNS_OK, "::1", "ok");
	T_EQ_INT(e.srv.queries, 0);
	env_down(&e);
}

T_TEST(dns_bad_names_without_query)
{
	static const char *const bad[] = {
		"", ".", "bad_host.test", "a..b", "-x.test", "x-.test",
		"sp ace.test", "a.b..", "[192.0.2.1]",
	};
	struct env e;
	struct got g;
	char longlabel[80], longname[300];

	env_up(&e, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		addr(&e, bad[i], &g);
		T_EQ_INT(g.st, DNS_NXDOMAIN);
		T_EQ_STR(g.why, "bad host name");
		mx(&e, bad[i], &g);
		T_EQ_INT(g.st, DNS_NXDOMAIN);
		T_EQ_STR(g.why, "bad domain name");
	}
	memset(longlabel, 'a', 64);
	strcpy(longlabel + 64, ".test");
	addr(&e, longlabel, &g);
	T_EQ_INT(g.st, DNS_NXDOMAIN);
	for (size_t i = 0; i < 254; i += 2)
		memcpy(longname + i, "a.", 2);
	longname[254] = 'a'; /* 255 characters */
	longname[255] = '\0';
	mx(&e, longname, &g);
	T_EQ_INT(g.st, DNS_NXDOMAIN);
	T_EQ_INT(e.srv.queries, 0);
	mx(&e, "nosuch.test.", &g); /* one trailing dot is fine */
	T_EQ_INT(g.st, DNS_NXDOMAIN);
	T_EQ_STR(g.why, "no such domain");
	T_EQ_INT(e.srv.queries, 1);
	env_down(&e);
}

/* ------------------------------------------------------------------ */
/* The cache */

T_TEST(dns_cache_answers_without_query)
{
	static const struct {
		const char *domain;
		unsigned queries; /* for two lookups */
	} cases[] = {
		{ "sorted.test", 1 },  { "nosuch.test", 1 }, /* NXDOMAIN, SOA */
		{ "nodata.test", 1 },  { "null.test", 1 },
		{ "ttl0.test", 2 },    { "nosoa.test", 2 }, /* RFC 2308 5 */
		{ "negmin0.test", 2 }, { "servfail.test", 2 },
		{ "cutnx.test", 2 }, /* its SOA cannot be read */
	};
	struct env e;
	struct got g, h;

	env_up(&e, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned before = e.srv.queries;
		mx(&e, cases[i].domain, &g);
		mx(&e, cases[i].domain, &h);
		T_EQ_INT(g.st, h.st);
		T_EQ_STR(g.text, h.text);
		if (e.srv.queries - before != cases[i].queries)
			t_fail(__FILE__, __LINE__, "%s: %u queries",
			       cases[i].domain, e.srv.queries - before);
	}
	unsigned before = e.srv.queries;
	mx(&e, "SORTED.test.", &g); /* case-folded key */
	T_EQ_STR(g.mx[0].host, "mx10.sorted.test");
	addr(&e, "host.test", &g);
	addr(&e, "Host.Test", &h);
	T_EQ_STR(h.text, g.text);
	mx(&e, "host.test", &g); /* another kind: its own entry */
	T_EQ_INT(e.srv.queries - before, 3);
	/* Two at once both ask; the second answer replaces the first. */
	struct got c[2] = { 0 };
	T_ASSERT(dns_mx(e.d, "equal.test", got_mx, &c[0]) != NULL);
	T_ASSERT(dns_mx(e.d, "equal.test", got_mx, &c[1]) != NULL);
	run_until(&e, &c[1].calls, 1, 3);
	T_EQ_INT(c[0].calls + c[1].calls, 2);
	mx(&e, "equal.test", &g);
	T_EQ_INT(g.n, 4);
	T_EQ_INT(e.srv.queries - before, 5);
	env_down(&e);
}

T_TEST(dns_cache_expires_with_the_ttl)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "sorted.test", &g);
	mx(&e, "ttl1.test", &g);
	mx(&e, "ttl1.test", &g);
	T_EQ_INT(e.srv.queries, 2);
	run_until(&e, NULL, 0, 1.1);
	mx(&e, "ttl1.test", &g);
	T_EQ_INT(g.st, DNS_OK);
	T_EQ_INT(e.srv.queries, 3);
	mx(&e, "sorted.test", &g); /* still there */
	T_EQ_INT(e.srv.queries, 3);
	env_down(&e);
}

static void
tally_cb(void *arg, enum dns_status st, const struct dns_mx *mx, unsigned n,
	 const char *why)
{
	(void)st;
	(void)mx;
	(void)n;
	(void)why;
	(*(int *)arg)++;
}

T_TEST(dns_cache_evicts_the_oldest)
{
	struct env e;
	struct got g;
	char name[64];
	int calls = 0;

	env_up(&e, 1);
	/* DNS_CACHE_MAX + 1 answers (NXDOMAIN with an SOA: kept 30 s), 64
	 * at a time. */
	for (unsigned i = 0; i <= DNS_CACHE_MAX; i++) {
		snprintf(name, sizeof(name), "h%u.test", i);
		T_ASSERT(dns_mx(e.d, name, tally_cb, &calls) != NULL);
		if (i % 64 == 63 || i == DNS_CACHE_MAX)
			run_until(&e, &calls, (int)i + 1, 3);
	}
	T_EQ_INT(calls, DNS_CACHE_MAX + 1);
	T_EQ_INT(e.srv.queries, DNS_CACHE_MAX + 1);
	snprintf(name, sizeof(name), "h%u.test", DNS_CACHE_MAX);
	mx(&e, name, &g);
	T_EQ_INT(g.st, DNS_NXDOMAIN);
	T_EQ_INT(e.srv.queries, DNS_CACHE_MAX + 1);
	mx(&e, "h0.test", &g); /* the oldest went */
	T_EQ_INT(e.srv.queries, DNS_CACHE_MAX + 2);
	env_down(&e);
}

/* ------------------------------------------------------------------ */
/* Cancel, free, callbacks that call back in */

T_TEST(dns_cancel_callback_never_runs)
{
	struct env e;
	struct got g, c[4];

	env_up(&e, 0.2);
	memset(c, 0, sizeof(c));
	mx(&e, "equal.test", &g); /* now cached */
	/* In c-ares; answered from the cache; a literal; two parts. */
	dns_cancel(dns_mx(e.d, "sorted.test", got_mx, &c[0]));
	dns_cancel(dns_mx(e.d, "equal.test", got_mx, &c[1]));
	dns_cancel(dns_addr(e.d, "192.0.2.1", got_addr, &c[2]));
	dns_cancel(dns_addr(e.d, "host.test", got_addr, &c[3]));
	dns_cancel(NULL);
	run_until(&e, NULL, 0, 0.3);
	for (int i = 0; i < 4; i++)
		T_EQ_INT(c[i].calls, 0);
	T_EQ_INT(e.srv.queries, 4);
	/* A cancelled query's answer still went into the cache. */
	mx(&e, "sorted.test", &g);
	T_EQ_INT(g.n, 3);
	T_EQ_INT(e.srv.queries, 4);
	env_down(&e);
}

T_TEST(dns_free_cancels_pending_queries)
{
	struct env e;
	struct got g, c[4];

	env_up(&e, 0.2);
	memset(c, 0, sizeof(c));
	mx(&e, "equal.test", &g);
	T_ASSERT(dns_mx(e.d, "drop.test", got_mx, &c[0]) != NULL);
	T_ASSERT(dns_mx(e.d, "equal.test", got_mx, &c[1]) != NULL);
	T_ASSERT(dns_addr(e.d, "host.test", got_addr, &c[2]) != NULL);
	T_ASSERT(dns_addr(e.d, "::1", got_addr, &c[3]) != NULL);
	run_until(&e, NULL, 0, 0); /* the queries are out */
	dns_free(e.d);
	e.d = NULL;
	run_until(&e, NULL, 0, 0.3);
	for (int i = 0; i < 4; i++)
		T_EQ_INT(c[i].calls, 0);
	env_down(&e);
}

struct reenter {
	struct env *e;
	struct got first, second;
	bool second_sync; /* its callback ran inside dns_mx */
	bool free_in_callback;
	int after_free;   /* callbacks run after dns_free */
};

static void
reenter_cb(void *arg, enum dns_status st, const struct dns_mx *mx,
	   unsigned n, const char *why)
{
	struct reenter *r = arg;

	got_mx(&r->first, st, mx, n, why);
	if (r->free_in_callback) {
		dns_free(r->e->d);
		r->e->d = NULL;
		return;
	}
	dns_mx(r->e->d, "sorted.test", got_mx, &r->second);
	r->second_sync = r->second.calls != 0;
}

T_TEST(dns_callbacks_may_call_back_in)
{
	struct env e;
	struct got g;
	struct reenter r;

	env_up(&e, 1);
	mx(&e, "sorted.test", &g); /* cached from now on */
	memset(&r, 0, sizeof(r));
	r.e = &e;
	T_ASSERT(dns_mx(e.d, "sorted.test", reenter_cb, &r) != NULL);
	run_until(&e, &r.second.calls, 1, 3);
	T_EQ_INT(r.first.calls, 1);
	T_EQ_INT(r.second.calls, 1);
	T_ASSERT(!r.second_sync);
	T_EQ_INT(r.second.n, 3);
	/* dns_free from a callback: the answers queued behind never come. */
	r.free_in_callback = true;
	r.first.calls = 0;
	T_ASSERT(dns_mx(e.d, "sorted.test", reenter_cb, &r) != NULL);
	T_ASSERT(dns_mx(e.d, "sorted.test", tally_cb, &r.after_free) != NULL);
	T_ASSERT(dns_mx(e.d, "drop.test", tally_cb, &r.after_free) != NULL);
	run_until(&e, &r.first.calls, 1, 3);
	T_EQ_INT(r.first.calls, 1);
	T_ASSERT(e.d == NULL);
	run_until(&e, NULL, 0, 0.2);
	T_EQ_INT(r.after_free, 0);
	env_down(&e);
}

/* ------------------------------------------------------------------ */
/* Servers */

T_TEST(dns_new_checks_the_server_list)
{
	static const char *const bad[] = {
		"garbage", "1.2.3.4:99999", "1.2.3.4:0", "1.2.3.4,", ",1.2.3.4",
		"[::1]", "[::1]:x", "1.2.3.4:53:1", "[1.2.3.4]:53", "1.2.3.4:",
		"localhost",
	};
	static const char *const good[] = {
		"127.0.0.1", "127.0.0.1:5353,[::1]:53", "::1", "192.0.2.1:53",
		"", /* /etc/resolv.conf */
	};
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		struct dns *d = dns_new(loop, bad[i], 1, 1, err, sizeof(err));
		if (d != NULL)
			t_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
		T_ASSERT(strstr(err, "bad server list") != NULL);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct dns *d = dns_new(loop, good[i], 1, 1, err, sizeof(err));
		if (d == NULL)
			t_fail(__FILE__, __LINE__, "\"%s\": %s", good[i], err);
		dns_free(d);
	}
	dns_free(NULL);
	ev_loop_destroy(loop);
}

T_TEST(dns_server_unreachable_is_tempfail)
{
	struct env e;
	struct got g;
	char err[256], spec[64];

	env_up(&e, 0.2);
	dns_free(e.d);
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", udp_port(NULL));
	e.d = dns_new(e.loop, spec, 0.2, 1, err, sizeof(err));
	T_ASSERT(e.d != NULL);
	mx(&e, "sorted.test", &g);
	T_EQ_INT(g.st, DNS_TEMPFAIL);
	addr(&e, "host.test", &g);
	T_EQ_INT(g.st, DNS_TEMPFAIL);
	env_down(&e);
}
