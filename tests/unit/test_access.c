/* access (the login policy of Figs. 6-7 and Sun's service rules) and
 * throttle (failed-login delays and blocks). */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "cdb/tbl.h"
#include "cdb/tbl_build.h"
#include "core/access.h"
#include "core/throttle.h"
#include "tests/unit/t.h"

/* Builds TABLE from text into dir (as test_records.c does). */
static void
build(const char *dir, enum tbl_kind kind, const char *text)
{
	char src[512], dst[512];
	FILE *f, *errs = fopen("/dev/null", "w");

	snprintf(src, sizeof(src), "%s/%s.txt", dir, tbl_rec_kind_name(kind));
	snprintf(dst, sizeof(dst), "%s/%s.cdb", dir, tbl_rec_kind_name(kind));
	f = fopen(src, "w");
	T_ASSERT(f != NULL && errs != NULL);
	fputs(text, f);
	fclose(f);
	if (tbl_build_text(kind, src, dst, errs) != 0)
		t_fail(__FILE__, __LINE__, "table %s does not build",
		       tbl_rec_kind_name(kind));
	fclose(errs);
}

/* Every status domain has a healthy user, so only the domain's status
 * can stop a login there. */
static void
open_demo(struct tbl_set *s)
{
	const char *dir = t_tmpdir();
	char err[256];

	build(dir, TBL_DOMAINS,
	      "example.com\n"
	      "example.net alias=example.com\n"
	      "off.test status=inactive\n"
	      "hold.test mailstatus=hold\n"
	      "odd.test mailstatus=frozen\n"
	      "gone.test status=deleted\n"
	      "removed.test mailstatus=removed\n"
	      "dis.test mailstatus=disabled\n"
	      "prec.test status=inactive mailstatus=disabled\n"
	      "full.test mailstatus=overquota\n"
	      "other.test\n"
	      "nopop.test services=-pop,pops:ALL\n"
	      "onlyimap.test services=+imap:ALL\n"
	      "badrule.test services=+imap:10.0.0.0/33\n"
	      "broken.test alias=missing.test\n"
	      "abc.com\n"
	      "exact.test\n"
	      "imap.exact.test\n");
	build(dir, TBL_USERS,
	      "alice@example.com\n"
	      "bob@example.com status=inactive\n"
	      "carl@example.com mailstatus=disabled\n"
	      "dan@example.com status=deleted\n"
	      "eve@example.com mailstatus=removed\n"
	      "hank@example.com mailstatus=hold\n"
	      "odd@example.com mailstatus=frozen\n"
	      "prec@example.com status=inactive mailstatus=disabled\n"
	      "quinn@example.com mailstatus=overquota\n"
	      "ursula@example.com services=-imap,imaps:ALL\n"
	      "vic@example.com services=+imap:192.0.2.0/24\n"
	      "mbx@example.com mailbox=custom/box\n"
	      "carol@off.test\nhal@hold.test\nollie@odd.test\n"
	      "gus@gone.test\nrex@removed.test\ndora@dis.test\n"
	      "pru@prec.test\npat@full.test\nzed@other.test\n"
	      "nina@nopop.test services=+pop:ALL\n"
	      "ivy@onlyimap.test\nbea@badrule.test\n"
	      "sam@abc.com\ntom@imap.exact.test\ned@exact.test\n");
	build(dir, TBL_ADDRESSES,
	      "a.liddell@example.com user=alice@example.com\n"
	      "al@example.net user=alice@example.com\n"
	      "zed@example.com user=zed@other.test\n"
	      "staff@example.com list=staff@example.com\n"
	      "ghost@example.com user=nobody@example.com\n"
	      "@example.com user=alice@example.com\n");
	if (tbl_set_open(s, dir, TBL_MASK_SERVER, err, sizeof(err)) != 0)
		t_fail(__FILE__, __LINE__, "tbl_set_open: %s", err);
}

static struct sockaddr_storage *
addr(struct sockaddr_storage *ss, const char *ip)
{
	memset(ss, 0, sizeof(*ss));
	if (ip == NULL)
		return NULL;
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return ss;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return ss;
	}
	t_fail(__FILE__, __LINE__, "bad test address %s", ip);
}

struct acase {
	const char *id;
	const char *def, *sni;
	enum access_service svc;
	const char *client;
	enum access_decision want;
	const char *reason;
	const char *login, *domain, *mailbox; /* NULL: not checked */
};

static const char *const dec_name[] = { "ALLOW", "DENY", "TEMPFAIL" };

static void
run_cases(const struct acase *c, size_t n, int line)
{
	struct tbl_set s;

	open_demo(&s);
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		struct access_req q = {
			.identity = c[i].id, .idlen = strlen(c[i].id),
			.default_domain = c[i].def, .sni = c[i].sni,
			.service = c[i].svc, .client = addr(&ss, c[i].client),
		};
		struct access_result r;
		enum access_decision d = access_check(&s, &q, &r);
		if (d != r.decision || d != c[i].want ||
		    strcmp(r.reason, c[i].reason) != 0 ||
		    (c[i].login && strcmp(r.login, c[i].login)) ||
		    (c[i].domain && strcmp(r.domain, c[i].domain)) ||
		    (c[i].mailbox && strcmp(r.mailbox, c[i].mailbox)))
			t_fail(__FILE__, line,
			       "'%s' (def %s, sni %s, %s): got %s %s login=%s "
			       "domain=%s mailbox=%s, want %s %s",
			       c[i].id, c[i].def ? c[i].def : "-",
			       c[i].sni ? c[i].sni : "-",
			       access_service_name(c[i].svc), dec_name[d],
			       r.reason, r.login, r.domain, r.mailbox,
			       dec_name[c[i].want], c[i].reason);
	}
	tbl_set_close(&s);
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]), __LINE__)
#define A ACCESS_ALLOW
#define D ACCESS_DENY
#define TF ACCESS_TEMPFAIL

T_TEST(access_domain_resolution_and_status)
{
	static const struct acase c[] = {
		{ "alice@example.com", 0, 0, ACCESS_IMAP, 0, A, "ok",
		  "alice@example.com", "example.com", "example.com/alice" },
		{ "x@nowhere.test", 0, 0, ACCESS_IMAP, 0, D, "unknown_domain",
		  "", "", "" },
		{ "alice@example.net", 0, 0, ACCESS_POP, 0, A, "ok",
		  "alice@example.com", "example.com", "example.com/alice" },
		{ "alice@broken.test", 0, 0, ACCESS_IMAP, 0, TF, "table_error",
		  0, 0, 0 },
		{ "carol@off.test", 0, 0, ACCESS_IMAP, 0, TF, "domain_inactive",
		  "", "off.test", 0 },
		{ "hal@hold.test", 0, 0, ACCESS_IMAP, 0, TF, "domain_inactive",
		  0, 0, 0 },
		{ "ollie@odd.test", 0, 0, ACCESS_IMAP, 0, TF, "domain_inactive",
		  0, 0, 0 },
		{ "gus@gone.test", 0, 0, ACCESS_IMAP, 0, D, "domain_deleted",
		  0, 0, 0 },
		{ "rex@removed.test", 0, 0, ACCESS_IMAP, 0, D, "domain_deleted",
		  0, 0, 0 },
		{ "dora@dis.test", 0, 0, ACCESS_IMAP, 0, D, "domain_disabled",
		  0, 0, 0 },
		/* inetDomainStatus is read first: inactive beats disabled. */
		{ "pru@prec.test", 0, 0, ACCESS_IMAP, 0, TF, "domain_inactive",
		  0, 0, 0 },
		{ "pat@full.test", 0, 0, ACCESS_IMAP, 0, A, "ok",
		  "pat@full.test", "full.test", "full.test/pat" },
	};

	RUN(c);
}

T_TEST(access_user_lookup_and_status)
{
	static const struct acase c[] = {
		{ "nosuch@example.com", 0, 0, ACCESS_IMAP, 0, D, "unknown_user",
		  "", "example.com", "" },
		/* An alternate address, in the domain and in its alias. */
		{ "A.Liddell@example.com", 0, 0, ACCESS_IMAP, 0, A, "ok",
		  "alice@example.com", "example.com", "example.com/alice" },
		{ "al@example.net", 0, 0, ACCESS_IMAP, 0, A, "ok",
		  "alice@example.com", "example.com", 0 },
		/* An address of example.com reaching a user of other.test. */
		{ "zed@example.com", 0, 0, ACCESS_IMAP, 0, D, "unknown_user",
		  "", 0, 0 },
		{ "zed@other.test", 0, 0, ACCESS_IMAP, 0, A, "ok",
		  "zed@other.test", 0, 0 },
		{ "staff@example.com", 0, 0, ACCESS_IMAP, 0, D, "unknown_user",
		  0, 0, 0 },
		{ "ghost@example.com", 0, 0, ACCESS_IMAP, 0, TF, "table_error",
		  0, 0, 0 },
		/* No delimiter on logins, and no catch-all. */
		{ "alice+box@example.com", 0, 0, ACCESS_IMAP, 0, D,
		  "unknown_user", 0, 0, 0 },
		{ "bob@example.com", 0, 0, ACCESS_IMAP, 0, D, "user_inactive",
		  "bob@example.com", 0, 0 },
		{ "carl@example.com", 0, 0, ACCESS_IMAP, 0, D, "user_disabled",
		  0, 0, 0 },
		{ "dan@example.com", 0, 0, ACCESS_IMAP, 0, D, "user_deleted",
		  0, 0, 0 },
		{ "eve@example.com", 0, 0, ACCESS_IMAP, 0, D, "user_deleted",
		  0, 0, 0 },
		{ "hank@example.com", 0, 0, ACCESS_IMAP, 0, D, "user_hold",
		  0, 0, 0 },
		{ "odd@example.com", 0, 0, ACCESS_IMAP, 0, D, "user_inactive",
		  0, 0, 0 },
		{ "prec@example.com", 0, 0, ACCESS_IMAP, 0, D, "user_inactive",
		  0, 0, 0 },
		{ "quinn@example.com", 0, 0, ACCESS_IMAP, 0, A, "ok", 0, 0, 0 },
		{ "mbx@example.com", 0, 0, ACCESS_IMAP, 0, A, "ok",
		  "mbx@example.com", 0, "custom/box" },
	};

	RUN(c);
}

T_TEST(access_bare_user_default_domain_and_sni)
{
	static const struct acase c[] = {
		{ "alice", "example.com", 0, ACCESS_IMAP, 0, A, "ok",
		  "alice@example.com", "example.com", "example.com/alice" },
		{ "alice", "EXAMPLE.NET", 0, ACCESS_IMAP, 0, A, "ok",
		  "alice@example.com", "example.com", 0 },
		{ "alice", "nowhere.test", "example.com", ACCESS_IMAP, 0, D,
		  "unknown_domain", "", "", 0 },
		/* The default domain comes before the SNI name. */
		{ "sam", "example.com", "mail.abc.com", ACCESS_IMAP, 0, D,
		  "unknown_user", 0, "example.com", 0 },
		{ "alice", 0, "example.com", ACCESS_IMAPS, 0, A, "ok",
		  "alice@example.com", 0, 0 },
		{ "sam", 0, "mail.abc.com", ACCESS_IMAPS, 0, A, "ok",
		  "sam@abc.com", "abc.com", 0 },
		{ "sam", 0, "a.b.mail.ABC.com", ACCESS_POPS, 0, A, "ok",
		  "sam@abc.com", 0, 0 },
		/* The name itself when it is a domain, not its parent. */
		{ "tom", 0, "imap.exact.test", ACCESS_IMAPS, 0, A, "ok",
		  "tom@imap.exact.test", "imap.exact.test", 0 },
		{ "ed", 0, "imap.exact.test", ACCESS_IMAPS, 0, D,
		  "unknown_user", 0, "imap.exact.test", 0 },
		{ "ed", 0, "pop.exact.test", ACCESS_POPS, 0, A, "ok",
		  "ed@exact.test", 0, 0 },
		{ "alice", 0, "mail.nowhere.test", ACCESS_IMAPS, 0, D,
		  "unknown_domain", 0, "", 0 },
		{ "alice", 0, "bad..name", ACCESS_IMAPS, 0, D,
		  "unknown_domain", 0, 0, 0 },
		{ "alice", 0, 0, ACCESS_IMAP, 0, D, "unknown_domain", 0, "", 0 },
		{ "alice", "", 0, ACCESS_IMAP, 0, D, "unknown_domain", 0, 0, 0 },
		/* A domain named by the client wins over both. */
		{ "sam@abc.com", "example.com", "example.com", ACCESS_IMAP, 0, A,
		  "ok", "sam@abc.com", 0, 0 },
	};

	RUN(c);
}

T_TEST(access_services_of_domain_user_and_client)
{
	static const struct acase c[] = {
		/* The domain refuses POP; the user's own rule cannot undo it. */
		{ "nina@nopop.test", 0, 0, ACCESS_POP, 0, D,
		  "service_denied_domain", "nina@nopop.test", 0, 0 },
		{ "nina@nopop.test", 0, 0, ACCESS_POPS, 0, D,
		  "service_denied_domain", 0, 0, 0 },
		{ "nina@nopop.test", 0, 0, ACCESS_IMAP, 0, D,
		  "service_denied_user", 0, 0, 0 },
		{ "ursula@example.com", 0, 0, ACCESS_IMAPS, 0, D,
		  "service_denied_user", 0, 0, 0 },
		{ "ursula@example.com", 0, 0, ACCESS_POP, 0, A, "ok", 0, 0, 0 },
		/* Allow rules alone deny every other service. */
		{ "ivy@onlyimap.test", 0, 0, ACCESS_IMAP, 0, A, "ok", 0, 0, 0 },
		{ "ivy@onlyimap.test", 0, 0, ACCESS_SMTP, 0, D,
		  "service_denied_domain", 0, 0, 0 },
		{ "vic@example.com", 0, 0, ACCESS_IMAP, "192.0.2.5", A, "ok",
		  0, 0, 0 },
		{ "vic@example.com", 0, 0, ACCESS_IMAP, "::ffff:192.0.2.5", A,
		  "ok", 0, 0, 0 },
		{ "vic@example.com", 0, 0, ACCESS_IMAP, "198.51.100.1", D,
		  "service_denied_user", 0, 0, 0 },
		{ "vic@example.com", 0, 0, ACCESS_IMAP, 0, D,
		  "service_denied_user", 0, 0, 0 },
		{ "vic@example.com", 0, 0, ACCESS_POP, "192.0.2.5", D,
		  "service_denied_user", 0, 0, 0 },
		/* A malformed rule fails closed. */
		{ "bea@badrule.test", 0, 0, ACCESS_IMAP, "10.0.0.1", D,
		  "service_denied_domain", 0, 0, 0 },
	};

	RUN(c);
}

T_TEST(access_identity_edge_cases)
{
	static const struct acase c[] = {
		{ "", 0, 0, ACCESS_IMAP, 0, D, "bad_identity", "", "", "" },
		{ "a@b@example.com", 0, 0, ACCESS_IMAP, 0, D, "bad_identity",
		  0, 0, 0 },
		{ "alice@", 0, 0, ACCESS_IMAP, 0, D, "bad_identity", 0, 0, 0 },
		{ "@example.com", 0, 0, ACCESS_IMAP, 0, D, "bad_identity",
		  0, 0, 0 },
		{ "alice @example.com", 0, 0, ACCESS_IMAP, 0, D, "bad_identity",
		  0, 0, 0 },
		{ "alice\r\n", "example.com", 0, ACCESS_IMAP, 0, D,
		  "bad_identity", 0, 0, 0 },
		{ "al\x7f" "ice@example.com", 0, 0, ACCESS_IMAP, 0, D,
		  "bad_identity", 0, 0, 0 },
		{ "alice@exa..mple.com", 0, 0, ACCESS_IMAP, 0, D,
		  "bad_identity", 0, 0, 0 },
		{ "alice@example.com.", 0, 0, ACCESS_IMAP, 0, D, "bad_identity",
		  0, 0, 0 },
		{ "ALICE@EXAMPLE.COM", 0, 0, ACCESS_SMTP, 0, A, "ok",
		  "alice@example.com", "example.com", "example.com/alice" },
		{ "Alice", "example.com", 0, ACCESS_SMTPS, 0, A, "ok",
		  "alice@example.com", 0, 0 },
	};
	struct tbl_set s;
	struct access_result r;
	struct access_req q = { .service = ACCESS_IMAP };
	char big[1000 + 13];

	RUN(c);
	open_demo(&s);
	/* 1000 bytes, alone and as the local part of a real domain. */
	memset(big, 'a', 1000);
	memcpy(big + 1000, "@example.com", 13);
	for (size_t n = 1000; n <= 1012; n += 12) {
		q.identity = big;
		q.idlen = n;
		q.default_domain = "example.com";
		T_EQ_INT(access_check(&s, &q, &r), ACCESS_DENY);
		T_EQ_STR(r.reason, "bad_identity");
	}
	/* 65 bytes of local part: over RFC 5321's 64. */
	memcpy(big + 65, "@example.com", 13);
	q.idlen = strlen(big);
	T_EQ_INT(access_check(&s, &q, &r), ACCESS_DENY);
	T_EQ_STR(r.reason, "bad_identity");
	/* A NUL inside: what follows it must not be ignored. */
	q.identity = "alice\0@example.com";
	q.idlen = 18;
	T_EQ_INT(access_check(&s, &q, &r), ACCESS_DENY);
	T_EQ_STR(r.reason, "bad_identity");
	q.idlen = 5; /* the same bytes without the NUL: a fine bare user */
	T_EQ_INT(access_check(&s, &q, &r), ACCESS_ALLOW);
	q.identity = NULL;
	q.idlen = 0;
	T_EQ_INT(access_check(&s, &q, &r), ACCESS_DENY);
	T_EQ_STR(r.reason, "bad_identity");
	tbl_set_close(&s);
}

struct rcase {
	const char *rule;
	enum access_service svc;
	const char *client;
	int want;
};

static void
run_rules(const struct rcase *c, size_t n, int line)
{
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		int got = access_rule_allows(c[i].rule, strlen(c[i].rule),
					     c[i].svc, addr(&ss, c[i].client));
		if (got != c[i].want)
			t_fail(__FILE__, line, "'%s' %s from %s: %d, want %d",
			       c[i].rule, access_service_name(c[i].svc),
			       c[i].client ? c[i].client : "(none)", got,
			       c[i].want);
	}
}

#define RULES(cases) \
	run_rules(cases, sizeof(cases) / sizeof(cases[0]), __LINE__)

T_TEST(access_rule_sun_evaluation_order)
{
	static const struct rcase c[] = {
		{ "", ACCESS_IMAP, 0, 1 },
		{ "$", ACCESS_IMAP, 0, 1 },
		{ "+imap:ALL", ACCESS_IMAP, 0, 1 },
		{ "+imap:ALL", ACCESS_POP, 0, 0 }, /* allow rules only */
		{ "+imap:ALL$+pop:ALL$+http:ALL", ACCESS_SMTP, 0, 0 },
		{ "-pop:ALL", ACCESS_POP, 0, 0 },
		{ "-pop:ALL", ACCESS_IMAP, 0, 1 },
		{ "+imap:ALL$-pop:ALL", ACCESS_SMTP, 0, 1 }, /* both kinds */
		{ "-imap:*$-pop:*$-http:*", ACCESS_IMAP, 0, 0 },
		{ "-imap:*$-pop:*$-http:*", ACCESS_SMTPS, 0, 1 },
		{ "-ALL:ALL", ACCESS_SMTPS, 0, 0 },
		{ "-*:*", ACCESS_POPS, 0, 0 },
		/* An allow that matches wins wherever it stands. */
		{ "-imap:ALL$+imap:ALL", ACCESS_IMAP, 0, 1 },
		{ "+ALL:ALL$-ALL:ALL", ACCESS_POP, 0, 1 },
		{ "-IMAP:all", ACCESS_IMAP, 0, 0 },
		{ "+Imaps:All", ACCESS_IMAPS, 0, 1 },
		{ "+Imaps:All", ACCESS_IMAP, 0, 0 },
		{ "-pop,imap:ALL", ACCESS_IMAP, 0, 0 },
		{ "-pop, imap:ALL", ACCESS_SMTP, 0, 1 },
		{ "+http,smime:ALL", ACCESS_IMAP, 0, 0 },
		{ " +imap:ALL $ -pop:ALL ", ACCESS_IMAP, 0, 1 },
		{ " +imap:ALL $ -pop:ALL ", ACCESS_POP, 0, 0 },
		{ " +imap:ALL $ -pop:ALL ", ACCESS_SMTP, 0, 1 },
		{ "+imap:ALL$$", ACCESS_IMAP, 0, 1 },
		/* EXCEPT in the service list too (hosts_access(5)). */
		{ "-ALL EXCEPT imap:ALL", ACCESS_IMAP, 0, 1 },
		{ "-ALL EXCEPT imap:ALL", ACCESS_POP, 0, 0 },
	};

	RULES(c);
	T_EQ_INT(access_rule_allows(NULL, 0, ACCESS_IMAP, NULL), 1);
	T_EQ_STR(access_service_name(ACCESS_SMTP), "smtp");
	T_EQ_STR(access_service_name(ACCESS_SMTPS), "smtps");
	T_EQ_STR(access_service_name(ACCESS_POP), "pop");
	T_EQ_STR(access_service_name(ACCESS_POPS), "pops");
	T_EQ_STR(access_service_name(ACCESS_IMAP), "imap");
	T_EQ_STR(access_service_name(ACCESS_IMAPS), "imaps");
	T_EQ_STR(access_service_name((enum access_service)42), "unknown");
}

T_TEST(access_rule_client_patterns)
{
	static const struct rcase c[] = {
		{ "-imap:192.0.2.1", ACCESS_IMAP, "192.0.2.1", 0 },
		{ "-imap:192.0.2.1", ACCESS_IMAP, "192.0.2.2", 1 },
		{ "-imap:192.0.2.1", ACCESS_IMAP, 0, 1 },
		{ "-imap:10.0.0.1, 192.0.2.1", ACCESS_IMAP, "192.0.2.1", 0 },
		{ "-imap:10.0.0.1,192.0.2.1", ACCESS_IMAP, "10.0.0.1", 0 },
		{ "-imap:10.0.0.1 192.0.2.1", ACCESS_IMAP, "10.0.0.2", 1 },
		/* Prefix ending in a dot. */
		{ "-imap:192.168.", ACCESS_IMAP, "192.168.5.5", 0 },
		{ "-imap:192.168.", ACCESS_IMAP, "192.169.0.1", 1 },
		{ "-imap:10.", ACCESS_IMAP, "10.1.2.3", 0 },
		{ "-imap:10.1.2.", ACCESS_IMAP, "10.1.3.2", 1 },
		/* Dotted mask. */
		{ "-imap:10.1.0.0/255.255.0.0", ACCESS_IMAP, "10.1.9.9", 0 },
		{ "-imap:10.1.0.0/255.255.0.0", ACCESS_IMAP, "10.2.0.1", 1 },
		/* CIDR, v4. */
		{ "-imap:10.0.0.0/8", ACCESS_IMAP, "10.200.1.1", 0 },
		{ "-imap:10.0.0.0/8", ACCESS_IMAP, "11.0.0.1", 1 },
		{ "-imap:192.0.2.128/25", ACCESS_IMAP, "192.0.2.200", 0 },
		{ "-imap:192.0.2.128/25", ACCESS_IMAP, "192.0.2.127", 1 },
		{ "-imap:192.0.2.9/32", ACCESS_IMAP, "192.0.2.9", 0 },
		{ "-imap:0.0.0.0/0", ACCESS_IMAP, "203.0.113.7", 0 },
		{ "-imap:0.0.0.0/0", ACCESS_IMAP, "2001:db8::1", 1 },
		/* IPv6, bare and bracketed, exact and CIDR. */
		{ "-imap:2001:db8::1", ACCESS_IMAP, "2001:db8::1", 0 },
		{ "-imap:2001:db8::1", ACCESS_IMAP, "2001:db8::2", 1 },
		{ "-imap:[2001:db8::1]", ACCESS_IMAP, "2001:db8::1", 0 },
		{ "-imap:2001:db8::/32", ACCESS_IMAP, "2001:db8:ffff::1", 0 },
		{ "-imap:2001:db8::/32", ACCESS_IMAP, "2001:db9::1", 1 },
		{ "-imap:[2001:db8::]/48", ACCESS_IMAP, "2001:db8:0:1::1", 0 },
		{ "-imap:[2001:db8::]/48", ACCESS_IMAP, "2001:db8:1::1", 1 },
		{ "-imap:2001:db8::/32", ACCESS_IMAP, "192.0.2.1", 1 },
		/* IPv4-mapped clients meet IPv4 patterns, and the reverse. */
		{ "-imap:192.0.2.0/24", ACCESS_IMAP, "::ffff:192.0.2.7", 0 },
		{ "-imap:192.168.", ACCESS_IMAP, "::ffff:192.168.1.1", 0 },
		{ "-imap:192.0.2.7", ACCESS_IMAP, "::ffff:192.0.2.7", 0 },
		{ "-imap:::ffff:192.0.2.0/120", ACCESS_IMAP, "192.0.2.9", 0 },
		{ "-imap:192.0.2.0/24", ACCESS_IMAP, "2001:db8::1", 1 },
		/* Name wildcards: only addresses are known here. */
		{ "-imap:ALL", ACCESS_IMAP, "192.0.2.1", 0 },
		{ "-imap:*", ACCESS_IMAP, 0, 0 },
		{ "-imap:UNKNOWN", ACCESS_IMAP, "192.0.2.1", 0 },
		{ "-imap:UNKNOWN", ACCESS_IMAP, 0, 0 },
		{ "-imap:KNOWN", ACCESS_IMAP, "192.0.2.1", 1 },
		{ "+imap:KNOWN", ACCESS_IMAP, "192.0.2.1", 0 },
		{ "-imap:LOCAL", ACCESS_IMAP, "127.0.0.1", 1 },
		{ "-imap:local", ACCESS_IMAP, "::1", 1 },
		{ "-imap:DNSSPOOFER PARANOID", ACCESS_IMAP, "192.0.2.1", 1 },
		{ "-imap:server1.sesta.com", ACCESS_IMAP, "192.0.2.1", 1 },
		{ "-imap:.sesta.com @netgroup *.x.test", ACCESS_IMAP,
		  "192.0.2.1", 1 },
		/* EXCEPT, nested to the right. */
		{ "-ALL:ALL EXCEPT server1.sesta.com", ACCESS_IMAP, "192.0.2.1",
		  0 },
		{ "-imap:ALL EXCEPT 192.0.2.1", ACCESS_IMAP, "192.0.2.1", 1 },
		{ "-imap:ALL except 192.0.2.1", ACCESS_IMAP, "192.0.2.2", 0 },
		{ "+imap:10.0.0.0/8 EXCEPT 10.1.0.0/16", ACCESS_IMAP, "10.2.0.1",
		  1 },
		{ "+imap:10.0.0.0/8 EXCEPT 10.1.0.0/16", ACCESS_IMAP, "10.1.0.1",
		  0 },
		{ "-imap:ALL EXCEPT 10.0.0.0/8 EXCEPT 10.1.0.0/16", ACCESS_IMAP,
		  "10.1.0.1", 0 },
		{ "-imap:ALL EXCEPT 10.0.0.0/8 EXCEPT 10.1.0.0/16", ACCESS_IMAP,
		  "10.2.0.1", 1 },
		{ "-imap:ALL EXCEPT 10.0.0.0/8 EXCEPT 10.1.0.0/16", ACCESS_IMAP,
		  "11.0.0.1", 0 },
		{ "-imap:10.0.0.1 192.0.2.1 EXCEPT 192.0.2.0/24", ACCESS_IMAP,
		  "192.0.2.1", 1 },
		{ "-imap:10.0.0.1 192.0.2.1 EXCEPT 192.0.2.0/24", ACCESS_IMAP,
		  "10.0.0.1", 0 },
	};

	RULES(c);
}

/* Each bad rule follows one that grants: only its being malformed can
 * deny, wherever it stands. */
T_TEST(access_rule_malformed_denies)
{
	static const char *const bad[] = {
		"imap:ALL", "+imapALL", "+imap:", "+imap: ,", "+:ALL", "-:ALL",
		"bogus", "+imap/x:ALL", "+imap:10.0.0.0/33",
		"-pop:10.0.0.0/33", "+imap:2001:db8::/129", "+imap:1.2.3.4/abc",
		"+imap:1.2.3.4/", "+imap:999.1.1.1", "+imap:01.2.3.4",
		"+imap:1.2.3.4.5.", "+imap:192.168.01.", "+imap:10..",
		"+imap:.", "+imap:2001:zz::1", "+imap:[192.0.2.1]",
		"+imap:10.1.0.0/255.255.0", "+imap:2001:db8::/ffff::",
		"+imap:ALL EXCEPT", "+imap:EXCEPT 10.0.0.1",
		"-imap:ALL EXCEPT EXCEPT 10.0.0.1", "+EXCEPT imap:ALL",
		"-pop:foo!bar", "-pop:/etc/hosts.allow",
	};
	static const char nul[] = "+imap:ALL$-pop:AL\0L";
	char rule[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_EQ_INT(access_rule_allows(bad[i], strlen(bad[i]), ACCESS_IMAP,
					    NULL), 0);
		snprintf(rule, sizeof(rule), "+imap:ALL$%s", bad[i]);
		if (access_rule_allows(rule, strlen(rule), ACCESS_IMAP,
				       NULL) != 0)
			t_fail(__FILE__, __LINE__, "'%s' allows", rule);
		snprintf(rule, sizeof(rule), "%s$+imap:ALL", bad[i]);
		if (access_rule_allows(rule, strlen(rule), ACCESS_IMAP,
				       NULL) != 0)
			t_fail(__FILE__, __LINE__, "'%s' allows", rule);
	}
	T_EQ_INT(access_rule_allows(nul, sizeof(nul) - 1, ACCESS_IMAP, NULL),
		 0);
	T_EQ_INT(access_rule_allows(nul, sizeof(nul) - 2, ACCESS_IMAP, NULL),
		 0);
	/* The same string cut before the NUL is fine: len, not NUL, ends it. */
	T_EQ_INT(access_rule_allows(nul, 16, ACCESS_IMAP, NULL), 1);
}

/* ---- throttle ---- */

static size_t
used_slots(const struct thr *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nslots; i++)
		n += t->slot[i].used;
	return n;
}

T_TEST(throttle_init_rejects_bad_arguments)
{
	struct thr t;

	T_EQ_INT(thr_init(&t, 0, 5, 60), -1);
	T_EQ_INT(thr_init(&t, 16, 0, 60), -1);
	T_EQ_INT(thr_init(&t, 16, THR_LIMIT_MAX + 1, 60), -1);
	T_EQ_INT(thr_init(&t, 16, 5, 0), -1);
	T_EQ_INT(thr_init(&t, 16, 5, -1), -1);
	T_EQ_INT(thr_init(&t, 16, 5, NAN), -1);
	T_EQ_INT(thr_init(&t, 16, 5, INFINITY), -1);
	T_EQ_INT(thr_init(&t, 16, THR_LIMIT_MAX, 60), 0);
	T_EQ_SIZE(t.nslots, 16);
	thr_fini(&t);
	T_ASSERT(t.slot == NULL);
}

T_TEST(throttle_delays_grow_then_block)
{
	static const double want[] = { 0.5, 1, 2, 4, 8, 8, 8, 8, 8 };
	struct thr t;
	double now = 1000;

	T_EQ_INT(thr_init(&t, 64, 10, 60), 0);
	T_ASSERT(thr_delay(&t, "ip:192.0.2.1", now) == 0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		thr_fail(&t, "ip:192.0.2.1", now += 1);
		if (thr_delay(&t, "ip:192.0.2.1", now) != want[i])
			t_fail(__FILE__, __LINE__, "after %zu failures: %g, "
			       "want %g", i + 1,
			       thr_delay(&t, "ip:192.0.2.1", now), want[i]);
	}
	T_ASSERT(thr_delay(&t, "acct:alice@example.com", now) == 0);
	thr_fail(&t, "ip:192.0.2.1", now += 1); /* the tenth */
	T_ASSERT(thr_delay(&t, "ip:192.0.2.1", now) == -1);
	T_ASSERT(thr_delay(&t, "ip:192.0.2.1", now + 59.9) == -1);
	/* The block ends block_secs after the failure that set it; by then
	 * every failure behind it has aged out. */
	T_ASSERT(thr_delay(&t, "ip:192.0.2.1", now + 60) == 0);
	thr_fail(&t, "ip:192.0.2.1", now + 61);
	T_ASSERT(thr_delay(&t, "ip:192.0.2.1", now + 61) == 0.5);
	thr_fini(&t);
}

T_TEST(throttle_failures_while_blocked_do_not_count)
{
	struct thr t;

	T_EQ_INT(thr_init(&t, 64, 3, 60), 0);
	thr_fail(&t, "acct:bob@example.com", 0);
	thr_fail(&t, "acct:bob@example.com", 1);
	T_ASSERT(thr_delay(&t, "acct:bob@example.com", 1) == 1);
	thr_fail(&t, "acct:bob@example.com", 2);
	T_ASSERT(thr_delay(&t, "acct:bob@example.com", 2) == -1);
	thr_fail(&t, "acct:bob@example.com", 30);
	T_ASSERT(thr_delay(&t, "acct:bob@example.com", 61.9) == -1);
	T_ASSERT(thr_delay(&t, "acct:bob@example.com", 62.1) == 0);
	thr_fini(&t);
}

T_TEST(throttle_failures_decay_after_block_secs)
{
	struct thr t;

	T_EQ_INT(thr_init(&t, 64, 10, 60), 0);
	thr_fail(&t, "ip:2001:db8::1", 0);
	thr_fail(&t, "ip:2001:db8::1", 1);
	thr_fail(&t, "ip:2001:db8::1", 2);
	T_ASSERT(thr_delay(&t, "ip:2001:db8::1", 2) == 2);
	T_ASSERT(thr_delay(&t, "ip:2001:db8::1", 59.9) == 2);
	T_ASSERT(thr_delay(&t, "ip:2001:db8::1", 60.5) == 1);
	T_ASSERT(thr_delay(&t, "ip:2001:db8::1", 61.5) == 0.5);
	T_ASSERT(thr_delay(&t, "ip:2001:db8::1", 62.5) == 0);
	/* Sliding: limit failures spread wider than block_secs never block. */
	for (int i = 0; i < 50; i++)
		thr_fail(&t, "ip:2001:db8::1", 100 + 7.0 * i);
	T_ASSERT(thr_delay(&t, "ip:2001:db8::1", 100 + 7.0 * 49) == 8);
	thr_fini(&t);
}

T_TEST(throttle_success_forgets_the_key)
{
	struct thr t;

	T_EQ_INT(thr_init(&t, 64, 5, 60), 0);
	for (int i = 0; i < 4; i++) {
		thr_fail(&t, "acct:carl@example.com", i);
		thr_fail(&t, "ip:192.0.2.9", i);
	}
	T_ASSERT(thr_delay(&t, "acct:carl@example.com", 4) == 4);
	thr_success(&t, "acct:carl@example.com");
	thr_success(&t, "acct:never@example.com");
	T_ASSERT(thr_delay(&t, "acct:carl@example.com", 4) == 0);
	T_ASSERT(thr_delay(&t, "ip:192.0.2.9", 4) == 4);
	thr_fail(&t, "acct:carl@example.com", 5);
	T_ASSERT(thr_delay(&t, "acct:carl@example.com", 5) == 0.5);
	thr_fini(&t);
}

T_TEST(throttle_long_keys_are_cut_consistently)
{
	struct thr t;
	char a[THR_KEY_MAX + 2], b[THR_KEY_MAX + 2], c[THR_KEY_MAX];

	T_EQ_INT(thr_init(&t, 64, 5, 60), 0);
	memset(a, 'k', sizeof(a));
	memcpy(b, a, sizeof(b));
	a[THR_KEY_MAX] = 'x';
	b[THR_KEY_MAX] = 'y';
	a[THR_KEY_MAX + 1] = b[THR_KEY_MAX + 1] = '\0';
	memcpy(c, a, THR_KEY_MAX - 1);
	c[THR_KEY_MAX - 1] = '\0';
	thr_fail(&t, a, 0);
	thr_fail(&t, b, 1);
	T_ASSERT(thr_delay(&t, a, 1) == 1);
	T_ASSERT(thr_delay(&t, c, 1) == 0); /* one byte shorter: another key */
	thr_fini(&t);
}

T_TEST(throttle_spray_keeps_memory_fixed_and_the_hot_key)
{
	struct thr t;
	struct thr_slot *mem;
	char key[64];
	double now = 10;
	unsigned spray = 0;

	T_EQ_INT(thr_init(&t, 64, 5, 600), 0);
	mem = t.slot;
	/* Seven fresh keys between two failures of the hot key cannot make
	 * it the least recently failed of a full window of THR_PROBE. */
	for (int round = 0; round < 4; round++) {
		thr_fail(&t, "ip:198.51.100.66", now += 0.01);
		for (int i = 0; i < THR_PROBE - 1; i++) {
			snprintf(key, sizeof(key), "ip:10.%u", spray++);
			thr_fail(&t, key, now += 0.01);
		}
		T_ASSERT(thr_delay(&t, "ip:198.51.100.66", now) ==
			 0.5 * (1 << round));
	}
	thr_fail(&t, "ip:198.51.100.66", now += 0.01);
	T_ASSERT(thr_delay(&t, "ip:198.51.100.66", now) == -1);
	/* A spray never lifts a block it earned, nor grows the table. */
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "acct:spray%d@example.com", i);
		thr_fail(&t, key, now += 0.001);
	}
	T_ASSERT(thr_delay(&t, "ip:198.51.100.66", now) == -1);
	T_ASSERT(t.slot == mem);
	T_EQ_SIZE(t.nslots, 64);
	T_EQ_SIZE(used_slots(&t), 64);
	/* The oldest sprayed keys were the ones evicted. */
	T_ASSERT(thr_delay(&t, "ip:10.0", now) == 0);
	T_ASSERT(thr_delay(&t, "acct:spray19999@example.com", now) == 0.5);
	thr_fini(&t);
}

/* Fewer slots than THR_PROBE: the window is the whole table, so which
 * slot goes does not depend on where the (random) hash puts a key. */
T_TEST(throttle_eviction_order_in_a_full_window)
{
	struct thr t;
	char key[32], prev[32];

	T_EQ_INT(thr_init(&t, 2, 5, 60), 0);
	snprintf(prev, sizeof(prev), "ip:0");
	thr_fail(&t, prev, 0);
	for (int i = 1; i < 40; i++) {
		/* The older key fails again first: it must not be taken. */
		thr_fail(&t, prev, i);
		snprintf(key, sizeof(key), "ip:%d", i);
		thr_fail(&t, key, i + 0.5);
		T_ASSERT(thr_delay(&t, prev, i + 0.5) > 0);
		T_ASSERT(thr_delay(&t, key, i + 0.5) == 0.5);
		memcpy(prev, key, sizeof(prev));
	}
	T_EQ_SIZE(used_slots(&t), 2);
	thr_fini(&t);
}

T_TEST(throttle_full_of_blocks_evicts_the_one_ending_first)
{
	struct thr t;
	char key[32], prev[32];

	T_EQ_INT(thr_init(&t, 2, 1, 60), 0);
	thr_fail(&t, "ip:a", 0);
	thr_fail(&t, "ip:b", 1);
	T_ASSERT(thr_delay(&t, "ip:a", 1) == -1);
	thr_fail(&t, "ip:c", 2);
	T_ASSERT(thr_delay(&t, "ip:a", 2) == 0);
	T_ASSERT(thr_delay(&t, "ip:b", 2) == -1);
	T_ASSERT(thr_delay(&t, "ip:c", 2) == -1);
	/* Each new block pushes out the older one, never the newer. */
	memcpy(prev, "ip:c", 5);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "ip:%d", i);
		thr_fail(&t, key, 3 + i);
		T_ASSERT(thr_delay(&t, prev, 3 + i) == -1);
		T_ASSERT(thr_delay(&t, key, 3 + i) == -1);
		memcpy(prev, key, sizeof(prev));
	}
	T_EQ_SIZE(used_slots(&t), 2);
	thr_fini(&t);
}
