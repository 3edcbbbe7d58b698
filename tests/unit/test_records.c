/* tbl_rec, tbl, tbl_build, route: records, tables, and the Fig. 5 path. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cdb/route.h"
#include "cdb/tbl.h"
#include "cdb/tbl_build.h"
#include "cdb/tbl_check.h"
#include "spool/store.h"
#include "tests/unit/t.h"

static int
check(enum tbl_kind k, const char *key, const char *val, char *err)
{
	return tbl_rec_check(k, key, strlen(key), val, strlen(val), err,
			     TBL_ERR_MAX);
}

T_TEST(tbl_rec_valid_records)
{
	static const struct {
		enum tbl_kind kind;
		const char *key, *val;
	} ok[] = {
		{ TBL_DOMAINS, "example.com", "" },
		{ TBL_DOMAINS, "example.com", "status=active mailstatus=hold "
		  "postmaster=pm@example.com admin=uid=a,o=x admin=uid=b,o=x "
		  "services=+imap:ALL$-pop:ALL%20EXCEPT%20x" },
		{ TBL_DOMAINS, "example.net", "alias=example.com" },
		{ TBL_DOMAINS, "xn--bcher-kva.example", "" },
		{ TBL_ADDRESSES, "alice@example.com", "user=alice@example.com" },
		{ TBL_ADDRESSES, "@example.com", "user=catch@example.com" },
		{ TBL_USERS, "alice@example.com", "" },
		{ TBL_USERS, "alice@example.com", "quota=10M msgquota=-1 "
		  "mailbox=x/y_z+1 status=inactive mailstatus=overquota" },
		{ TBL_USERS, "bob@example.com", "quota=0" },
		{ TBL_PASSWORDS, "alice@example.com", "{SSHA}abcdef" },
		{ TBL_PASSWORDS, "alice@example.com", "{CRYPT}$y$j9T$x$y" },
		{ TBL_ADDRESSES, "staff@example.com", "list=staff@example.com" },
		{ TBL_DOMAINS, "example.com", "quota=1G msgquota=-1" },
		{ TBL_USERS, "alice@example.com", "mailhost=mail.example.com "
		  "delivery=mailbox,forward,autoreply forward=a@b.test "
		  "forward=c@d.test program=vacation file=mbox/alice "
		  "shared=team replymode=echo replysubject=Away%20%24SUBJECT "
		  "replytext=Back%20soon replyinternal=Hi replytimeout=168 "
		  "vacstart=20261201000000Z vacend=20261224Z" },
		{ TBL_LISTS, "staff@example.com", "status=active "
		  "member=alice@example.com member=ext@remote.test "
		  "errorsto=owner@example.com broadcaster=alice@example.com "
		  "alloweddomain=*.example.com moderator=bob@example.com "
		  "rejectaction=toModerator maxsize=100000 delivery=members" },
		{ TBL_LISTS, "empty@example.com", "" },
		{ TBL_ROUTES, "example.com", "relay=smart.example.net:2525" },
		{ TBL_ROUTES, "example.org", "host=mx1.example.org "
		  "host=mx2.example.org" },
	};
	char err[TBL_ERR_MAX];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (check(ok[i].kind, ok[i].key, ok[i].val, err) != 0)
			t_fail(__FILE__, __LINE__, "%s %s: %s", ok[i].key,
			       ok[i].val, err);
}

T_TEST(tbl_rec_invalid_records_name_the_field)
{
	static const struct {
		enum tbl_kind kind;
		const char *key, *val, *want;
	} bad[] = {
		{ TBL_DOMAINS, "Example.com", "", "lower-case" },
		{ TBL_DOMAINS, "ex ample.com", "", "key" },
		{ TBL_DOMAINS, "example..com", "", "key" },
		{ TBL_DOMAINS, "a.test", "alias=b.test status=active", "alias" },
		{ TBL_DOMAINS, "a.test", "alias=b.test admin=x", "alias" },
		{ TBL_DOMAINS, "a.test", "alias=B.test", "alias" },
		{ TBL_DOMAINS, "a.test", "status=active status=active", "twice" },
		{ TBL_DOMAINS, "a.test", "status=", "empty" },
		{ TBL_USERS, "a@x.test", "mailstatus=", "empty" },
		{ TBL_DOMAINS, "a.test", "postmaster=nobody", "postmaster" },
		{ TBL_DOMAINS, "a.test", "bogus=1", "bogus" },
		{ TBL_DOMAINS, "a.test", "services=%4", "%-escape" },
		{ TBL_DOMAINS, "a.test", "services=%zz", "%-escape" },
		{ TBL_DOMAINS, "a.test", "status", "name=value" },
		{ TBL_DOMAINS, "a.test", "=x", "name=value" },
		{ TBL_ADDRESSES, "a@x.test", "", "missing" },
		{ TBL_ADDRESSES, "a@x.test", "user=b@x.test user=c@x.test",
		  "twice" },
		{ TBL_ADDRESSES, "a@x.test", "list=l@x.test user=l@x.test",
		  "twice" },
		{ TBL_ADDRESSES, "a@x.test", "group=l@x.test", "group" },
		{ TBL_USERS, "a@x.test", "delivery=mailbox,teleport", "teleport" },
		{ TBL_USERS, "a@x.test", "delivery=", "delivery" },
		{ TBL_USERS, "a@x.test", "program=/bin/sh", "program" },
		{ TBL_USERS, "a@x.test", "file=../x", "file" },
		{ TBL_USERS, "a@x.test", "replymode=shout", "replymode" },
		{ TBL_USERS, "a@x.test", "vacstart=tomorrow", "vacstart" },
		{ TBL_USERS, "a@x.test", "mailhost=Mail.X", "mailhost" },
		{ TBL_USERS, "a@x.test", "forward=nobody", "forward" },
		{ TBL_LISTS, "l@x.test", "member=nobody", "member" },
		{ TBL_LISTS, "l@x.test", "maxsize=big", "maxsize" },
		{ TBL_LISTS, "l@x.test", "owner=a@x.test", "owner" },
		{ TBL_LISTS, "@x.test", "", "list address" },
		{ TBL_ROUTES, "x.test", "", "relay" },
		{ TBL_ROUTES, "x.test", "relay=a.test:0", "relay" },
		{ TBL_ROUTES, "x.test", "relay=a.test:99999", "relay" },
		{ TBL_ADDRESSES, "ax.test", "user=b@x.test", "key" },
		{ TBL_USERS, "a@x.test", "quota=ten", "quota" },
		{ TBL_USERS, "a@x.test", "quota=5000G", "quota" },
		{ TBL_USERS, "a@x.test", "mailbox=../etc", "mailbox" },
		{ TBL_USERS, "a@x.test", "mailbox=/etc", "mailbox" },
		{ TBL_USERS, "a@x.test", "mailbox=x/.hidden", "mailbox" },
		{ TBL_USERS, "a/b@x.test", "", "mailbox" },
		{ TBL_USERS, "@x.test", "", "key" },
		{ TBL_PASSWORDS, "a@x.test", "secret", "SCHEME" },
		{ TBL_PASSWORDS, "a@x.test", "{SSHA}", "empty" },
		{ TBL_PASSWORDS, "a@x.test", "{SSHA}a b", "space" },
	};
	char err[TBL_ERR_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check(bad[i].kind, bad[i].key, bad[i].val, err) == 0)
			t_fail(__FILE__, __LINE__, "accepted: %s %s",
			       bad[i].key, bad[i].val);
		if (strstr(err, bad[i].want) == NULL)
			t_fail(__FILE__, __LINE__, "%s %s: \"%s\" lacks \"%s\"",
			       bad[i].key, bad[i].val, err, bad[i].want);
	}
}

static int
collect(void *arg, const char *val, size_t len)
{
	char *out = arg;
	size_t used = strlen(out);

	snprintf(out + used, 256 - used, "%s%.*s", used ? "," : "", (int)len,
		 val);
	return 0;
}

T_TEST(tbl_rec_list_members_and_delivery_names)
{
	static const char v[] = "status=disabled member=a@x.test "
				"broadcaster=b@x.test member=c%40d@x.test "
				"delivery=members,file";
	struct tbl_list l;
	char err[TBL_ERR_MAX], got[256] = "", names[64];

	T_ASSERT(tbl_rec_decode_list(v, strlen(v), &l, err, sizeof(err)) == 0);
	T_ASSERT(l.status == TBL_ST_DISABLED && l.nmembers == 2 &&
		 l.nbroadcasters == 1);
	tbl_rec_list_each(v, strlen(v), TBL_LIST_MEMBER, collect, got);
	T_ASSERT(strcmp(got, "a@x.test,c@d@x.test") == 0);
	tbl_rec_delivery_names(l.delivery, names, sizeof(names));
	T_ASSERT(strcmp(names, "file,members") == 0);
	tbl_rec_delivery_names(0, names, sizeof(names));
	T_ASSERT(strcmp(names, "-") == 0);
}

T_TEST(tbl_rec_sun_status_rule)
{
	struct tbl_domain d;
	struct tbl_user u;
	char err[TBL_ERR_MAX];
	const char *v;

	v = "status=frozen mailstatus=hold";
	T_EQ_INT(tbl_rec_decode_domain(v, strlen(v), &d, err, sizeof(err)), 0);
	T_EQ_INT(d.status, TBL_ST_UNKNOWN);
	T_EQ_INT(d.mailstatus, TBL_ST_HOLD);
	/* The general status knows only active/inactive/deleted. */
	v = "status=disabled";
	T_EQ_INT(tbl_rec_decode_domain(v, strlen(v), &d, err, sizeof(err)), 0);
	T_EQ_INT(d.status, TBL_ST_UNKNOWN);
	v = "";
	T_EQ_INT(tbl_rec_decode_user(v, 0, &u, err, sizeof(err)), 0);
	T_EQ_INT(u.status, TBL_ST_ACTIVE);
	T_EQ_INT(u.quota, TBL_QUOTA_DEFAULT);
	v = "quota=2K msgquota=-1 services=a%20b%25";
	T_EQ_INT(tbl_rec_decode_user(v, strlen(v), &u, err, sizeof(err)), 0);
	T_EQ_INT(u.quota, 2048);
	T_EQ_INT(u.msgquota, TBL_QUOTA_NONE);
	T_EQ_STR(u.services, "a b%");
}

T_TEST(tbl_rec_user_mailbox_path)
{
	struct tbl_user u;
	char path[TBL_PATH_MAX], err[TBL_ERR_MAX];

	tbl_rec_decode_user("", 0, &u, err, sizeof(err));
	T_EQ_INT(tbl_rec_user_mailbox("a.b@x.test", 10, &u, path,
				      sizeof(path)), 0);
	T_EQ_STR(path, "x.test/a.b");
	T_EQ_INT(tbl_rec_user_mailbox(".a@x.test", 9, &u, path,
				      sizeof(path)), -1);
	T_EQ_INT(tbl_rec_user_mailbox("a@x.test", 8, &u, path, 3), -1);
}

/* Builds TABLE from text into dir; returns vdctl-style bad count. */
static int
build(const char *dir, enum tbl_kind kind, const char *text)
{
	char src[512], dst[512];
	FILE *f, *errs = fopen("/dev/null", "w");
	int rc;

	snprintf(src, sizeof(src), "%s/%s.txt", dir, tbl_rec_kind_name(kind));
	snprintf(dst, sizeof(dst), "%s/%s.cdb", dir, tbl_rec_kind_name(kind));
	f = fopen(src, "w");
	fputs(text, f);
	fclose(f);
	rc = tbl_build_text(kind, src, dst, errs);
	fclose(errs);
	return rc;
}

static void
build_demo(const char *dir)
{
	T_EQ_INT(build(dir, TBL_DOMAINS,
		       "example.com postmaster=pm@example.com\n"
		       "example.net alias=example.com\n"
		       "off.test status=inactive\n"
		       "gone.test status=deleted\n"
		       "dis.test mailstatus=disabled\n"), 0);
	T_EQ_INT(build(dir, TBL_ADDRESSES,
		       "alice@example.com user=alice@example.com\n"
		       "pm@example.com user=pm@example.com\n"
		       "erin@example.com user=erin@example.com\n"
		       "frank@example.com user=frank@example.com\n"
		       "gina@example.com user=gina@example.com\n"
		       "full@example.com user=full@example.com\n"
		       "carol@off.test user=carol@off.test\n"
		       "dave@gone.test user=dave@gone.test\n"
		       "dora@dis.test user=dora@dis.test\n"
		       "ghost@example.com user=nobody@example.com\n"), 0);
	T_EQ_INT(build(dir, TBL_USERS,
		       "alice@example.com\npm@example.com\n"
		       "erin@example.com status=inactive\n"
		       "frank@example.com mailstatus=disabled\n"
		       "gina@example.com status=deleted\n"
		       "full@example.com quota=0\n"
		       "carol@off.test\ndave@gone.test\ndora@dis.test\n"), 0);
}

T_TEST(tbl_lookups_and_reopen)
{
	const char *dir = t_tmpdir();
	struct tbl_set s;
	struct tbl_domain d;
	struct tbl_address a;
	char err[256], path[512];

	build_demo(dir);
	T_EQ_INT(tbl_set_open(&s, dir, TBL_MASK_SERVER, err, sizeof(err)), 0);
	T_EQ_INT(tbl_lookup_domain(&s, "EXAMPLE.COM", 11, &d), 1);
	T_EQ_STR(d.postmaster, "pm@example.com");
	T_EQ_INT(tbl_lookup_domain(&s, "nope.test", 9, &d), 0);
	T_EQ_INT(tbl_lookup_address(&s, "Alice@Example.com", 17, &a), 1);
	T_EQ_STR(a.user, "alice@example.com");
	/* Replaced by rename: picked up. */
	T_EQ_INT(build(dir, TBL_DOMAINS, "new.test\n"), 0);
	T_EQ_INT(tbl_set_refresh(&s), 1);
	T_EQ_INT(tbl_lookup_domain(&s, "new.test", 8, &d), 1);
	T_EQ_INT(tbl_lookup_domain(&s, "example.com", 11, &d), 0);
	/* A garbage file renamed over it: the previous table stays. */
	snprintf(path, sizeof(path), "%s/junk", dir);
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 5000; i++)
		fputc(i * 7, f);
	fclose(f);
	snprintf(err, sizeof(err), "%s/domains.cdb", dir);
	T_EQ_INT(rename(path, err), 0);
	T_EQ_INT(tbl_set_refresh(&s), 0);
	T_EQ_INT(tbl_lookup_domain(&s, "new.test", 8, &d), 1);
	tbl_set_close(&s);
	/* A set with a missing table does not open. */
	unlink(err);
	T_EQ_INT(tbl_set_open(&s, dir, TBL_MASK_SERVER, err, sizeof(err)), -1);
}

T_TEST(tbl_build_reports_and_leaves_nothing)
{
	const char *dir = t_tmpdir();
	char src[512], dst[512];
	char *report = NULL;
	size_t rlen = 0;
	FILE *errs = open_memstream(&report, &rlen);

	snprintf(src, sizeof(src), "%s/u.txt", dir);
	snprintf(dst, sizeof(dst), "%s/u.cdb", dir);
	FILE *f = fopen(src, "w");
	fputs("# comment\n\na@x.test\nb@x.test quota=x\na@x.test\n", f);
	fclose(f);
	T_EQ_INT(tbl_build_text(TBL_USERS, src, dst, errs), 2);
	fclose(errs);
	T_ASSERT(strstr(report, "u.txt:4: field 'quota'") != NULL);
	T_ASSERT(strstr(report, "u.txt:5: key 'a@x.test': given twice") !=
		 NULL);
	free(report);
	T_ASSERT(access(dst, F_OK) != 0);
	/* And a good build dumps back to its source. */
	f = fopen(src, "w");
	fputs("a@x.test quota=1K\nb@x.test \n", f);
	fclose(f);
	errs = fopen("/dev/null", "w");
	T_EQ_INT(tbl_build_text(TBL_USERS, src, dst, errs), 0);
	fclose(errs);
	report = NULL;
	errs = open_memstream(&report, &rlen);
	T_EQ_INT(tbl_build_dump(dst, errs), 0);
	fclose(errs);
	T_EQ_STR(report, "a@x.test quota=1K\nb@x.test \n");
	free(report);
}

struct trace {
	char text[4096];
};

static void
trace_cb(void *arg, const char *step, const char *detail)
{
	struct trace *t = arg;
	size_t n = strlen(t->text);

	snprintf(t->text + n, sizeof(t->text) - n, "%s: %s\n", step, detail);
}

T_TEST(route_every_decision)
{
	static const struct {
		const char *addr;
		int code;
		const char *enh, *trace;
	} cases[] = {
		{ "alice@example.com", 250, "2.1.5", "mailbox: example.com/alice" },
		{ "ALICE@example.net", 250, "2.1.5", "alias of example.com" },
		{ "alice+x@example.com", 250, "2.1.5", "-> user alice" },
		{ "postmaster@example.net", 250, "2.1.5", "domain's postmaster" },
		{ "postmaster", 250, "2.1.5", "server's postmaster" },
		{ "nobody@example.com", 550, "5.1.1", "not found" },
		{ "erin@example.com", 450, "4.2.1", "status=inactive" },
		{ "frank@example.com", 550, "5.2.1", "mailstatus=disabled" },
		{ "gina@example.com", 550, "5.1.1", "status=deleted" },
		{ "full@example.com", 452, "4.2.2", "quota" },
		{ "carol@off.test", 450, "4.2.1", "status=inactive" },
		{ "dave@gone.test", 550, "5.1.2", "status=deleted" },
		{ "dora@dis.test", 550, "5.2.1", "mailstatus=disabled" },
		{ "x@elsewhere.test", 554, "5.7.1", "not a local domain" },
		{ "ghost@example.com", 451, "4.3.0", "inconsistent" },
		{ "noat", 550, "5.1.3", "" },
	};
	const char *dir = t_tmpdir();
	struct tbl_set s;
	struct store st;
	char err[256], sdir[512];
	struct route_opts o = {
		.store = &st, .default_quota = -1, .default_msg_quota = -1,
		.postmaster = "pm@example.com", .delimiter = '+',
	};

	build_demo(dir);
	snprintf(sdir, sizeof(sdir), "%s/store", dir);
	T_EQ_INT(store_init(&st, sdir, "host.test"), 0);
	T_EQ_INT(tbl_set_open(&s, dir, TBL_MASK_SERVER, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route_result r;
		struct trace t = { "" };
		route_rcpt(&s, cases[i].addr, strlen(cases[i].addr), &o, &r,
			   trace_cb, &t);
		if (r.code != cases[i].code || strcmp(r.enh, cases[i].enh) ||
		    strstr(t.text, cases[i].trace) == NULL)
			t_fail(__FILE__, __LINE__, "%s: %d %s\n%s",
			       cases[i].addr, r.code, r.enh, t.text);
	}
	FILE *out = fopen("/dev/null", "w");
	T_EQ_INT(tbl_check_set(&s, out), 1); /* the ghost address */
	fclose(out);
	tbl_set_close(&s);
	store_fini(&st);
}
