/*
 * vdsync's pure half, without a directory: dir_entry (names, values, the
 * cache's text form), dir_cache (save, load, torn files), dir_map and
 * dir_gen (entries of both layouts to records, malformed entries, the
 * own-domain rule, and Fig. 7: a change regenerates only its domain).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "tests/unit/t.h"
#include "tools/dir_cache.h"
#include "tools/dir_entry.h"
#include "tools/dir_map.h"
#include "tools/strmap.h"

static struct dent *
entry(const char *uuid, const char *dn, const char *const *av)
{
	struct dent *e = dent_new(uuid, dn);

	T_ASSERT(e != NULL);
	for (size_t i = 0; av[i] != NULL; i += 2)
		T_ASSERT(dent_add(e, av[i], av[i + 1], strlen(av[i + 1])) == 0);
	e->changed = true;
	return e;
}

T_TEST(dent_names_fold_case_and_aliases)
{
	static const char *const av[] = {
		"MailLocalAddress", "a@x.test", "mailAlternateAddress", "b@x.test",
		"mail;lang-en", "m@x.test", "objectClass", "InetMailUser", NULL,
	};
	struct dent *e = entry("00000000-0000-0000-0000-000000000001",
			       "uid=a,o=x", av);
	const struct dent_attr *a = dent_attr(e, "MAILALTERNATEADDRESS");

	T_ASSERT(a != NULL && a->nv == 2);
	T_EQ_STR(dent_first(e, "mail"), "m@x.test");
	T_ASSERT(dent_has_class(e, "inetmailuser"));
	T_ASSERT(!dent_has_class(e, "inetMailGroup"));
	dent_free(e);
}

T_TEST(dent_dn_compare_ignores_case_and_spaces)
{
	T_ASSERT(dent_dn_under("uid=a,ou=People, O=ABC.com ,o=isp",
			       "o=abc.com, o=isp"));
	T_ASSERT(dent_dn_under("o=abc.com,o=isp", "o=abc.com,o=isp"));
	T_ASSERT(!dent_dn_under("o=xabc.com,o=isp", "abc.com,o=isp"));
	T_ASSERT(!dent_dn_under("o=isp", "o=abc.com,o=isp"));
	T_ASSERT(!dent_dn_under("o=isp", ""));
}

T_TEST(dent_text_form_round_trips_any_byte)
{
	static const char nasty[] = "a b%c\n\rd\x01\x7f\xff=.";
	struct dent *e = dent_new("00000000-0000-0000-0000-000000000002",
				  "cn=with space\\,comma,o=x");
	char *line = NULL;
	size_t cap = 0;
	struct dent *back = NULL;
	char path[512];

	T_ASSERT(e != NULL);
	T_ASSERT(dent_add(e, "description", nasty, sizeof(nasty)) == 0);
	e->domain = strdup("x.test");
	snprintf(path, sizeof(path), "%s/e", t_tmpdir());
	FILE *f = fopen(path, "w+");
	T_ASSERT(f != NULL && dent_write(e, f) == 0);
	rewind(f);
	T_EQ_INT(dent_read(f, &line, &cap, &back), 1);
	T_EQ_STR(back->dn, e->dn);
	T_EQ_STR(back->domain, "x.test");
	const struct dent_attr *a = dent_attr(back, "description");
	T_ASSERT(a != NULL && a->nv == 1);
	T_EQ_MEM(a->v[0].s, a->v[0].len, nasty, sizeof(nasty));
	fclose(f);
	free(line);
	dent_free(e);
	dent_free(back);
}

T_TEST(strmap_grows_and_keeps_the_first_value)
{
	struct strmap m = { 0 };
	char k[32];
	int one = 1, two = 2;

	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "key%d", i);
		T_EQ_INT(strmap_put(&m, k, i % 2 ? &one : &two), 1);
	}
	T_EQ_INT(strmap_put(&m, "key7", &two), 0);
	T_ASSERT(strmap_get(&m, "key7") == &one);
	T_ASSERT(strmap_has(&m, "key4999") && !strmap_has(&m, "key5000"));
	T_EQ_SIZE(m.n, 5000);
	strmap_free(&m);
	T_ASSERT(!strmap_has(&m, "key1"));
}

/* Two domains of Schema 2, one of Schema 1 with a DC index node. */
static void
load_tree(struct dcache *c)
{
	static const char *const abc[] = {
		"objectClass", "organization", "objectClass",
		"sunManagedOrganization", "sunPreferredDomain", "ABC.test",
		"associatedDomain", "abc.test", "associatedDomain", "abc.net",
		"inetDomainStatus", "active", "vdmailDomainPostmaster",
		"pm@abc.test", "vdmailDomainAdmin", "cn=admin with space,o=isp",
		NULL,
	};
	static const char *const abc_index[] = {
		"objectClass", "domain", "objectClass", "inetDomain",
		"inetDomainBaseDN", "o=abc.test,o=isp", NULL,
	};
	static const char *const xyz[] = {
		"objectClass", "domain", "objectClass", "inetDomain",
		"inetDomainBaseDN", "o=xyz.test,o=isp", "inetDomainStatus",
		"inactive", NULL,
	};
	static const char *const alice[] = {
		"objectClass", "inetOrgPerson", "objectClass", "inetMailUser",
		"mail", "Alice@ABC.test", "mailLocalAddress", "a.liddell@abc.net",
		"mailAlternateAddress", "@abc.test", "mailQuota", "10M",
		"userPassword", "{SSHA}abcd", "mailDeliveryOption", "mailbox",
		"mailDeliveryOption", "forward", "mailForwardingAddress",
		"out@remote.test", "mailAutoReplyText", "Gone fishing, back soon",
		NULL,
	};
	static const char *const thief[] = {
		"objectClass", "inetMailUser", "mail", "t@abc.test",
		"mailAlternateAddress", "ceo@xyz.test", NULL,
	};
	static const char *const bad[] = {
		"objectClass", "inetMailUser", "mail", "b@abc.test", "mailQuota",
		"lots", NULL,
	};
	static const char *const dan[] = {
		"objectClass", "inetMailUser", "mail", "dan@xyz.test", NULL,
	};
	static const char *const staff[] = {
		"objectClass", "groupOfUniqueNames", "objectClass",
		"inetMailGroup", "mail", "staff@abc.test", "uniqueMember",
		"UID=alice, ou=people,o=abc.test,o=isp", "uniqueMember",
		"uid=dan,o=xyz.test,o=isp", "mgrpRFC822MailMember",
		"Ext@Remote.test%External Person", NULL,
	};
	struct {
		const char *uuid, *dn;
		const char *const *av;
	} all[] = {
		{ "00000000-0000-0000-0000-00000000000a", "o=abc.test,o=isp", abc },
		{ "00000000-0000-0000-0000-00000000000b",
		  "dc=abc,dc=test,o=internet,o=isp", abc_index },
		{ "00000000-0000-0000-0000-00000000000c",
		  "dc=xyz,dc=test,o=internet,o=isp", xyz },
		{ "00000000-0000-0000-0000-00000000000d",
		  "uid=alice,ou=people,o=abc.test,o=isp", alice },
		{ "00000000-0000-0000-0000-00000000000e",
		  "uid=t,ou=people,o=abc.test,o=isp", thief },
		{ "00000000-0000-0000-0000-00000000000f",
		  "uid=b,ou=people,o=abc.test,o=isp", bad },
		{ "00000000-0000-0000-0000-000000000010", "uid=dan,o=xyz.test,o=isp",
		  dan },
		{ "00000000-0000-0000-0000-000000000011",
		  "cn=staff,ou=groups,o=abc.test,o=isp", staff },
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		T_ASSERT(dcache_put(c, entry(all[i].uuid, all[i].dn,
					     all[i].av)) == 0);
}

static char *
text_of(struct dcache *c, enum tbl_kind k)
{
	char *t = NULL;
	unsigned long n;

	T_ASSERT(dmap_table_text(c, k, &t, &n) >= 0);
	return t;
}

static void
has_line(const char *text, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strncmp(text, want + 1, strlen(want + 1)) != 0 &&
	    strstr(text, want) == NULL)
		t_fail(__FILE__, __LINE__, "missing line \"%s\" in:\n%s", line,
		       text);
}

static void
lacks(const char *text, const char *part)
{
	if (strstr(text, part) != NULL)
		t_fail(__FILE__, __LINE__, "unexpected \"%s\" in:\n%s", part,
		       text);
}

T_TEST(dmap_both_layouts_to_records)
{
	struct dcache c;
	struct dmap_stats st;

	T_ASSERT(dcache_init(&c) == 0);
	load_tree(&c);
	T_ASSERT(dmap_update(&c, true, NULL, NULL, &st) == 0);
	char *d = text_of(&c, TBL_DOMAINS), *a = text_of(&c, TBL_ADDRESSES);
	char *u = text_of(&c, TBL_USERS), *l = text_of(&c, TBL_LISTS);
	char *p = text_of(&c, TBL_PASSWORDS);
	has_line(d, "abc.test status=active postmaster=pm@abc.test "
		    "admin=cn=admin%20with%20space,o=isp");
	has_line(d, "abc.net alias=abc.test");
	has_line(d, "xyz.test status=inactive");
	lacks(d, "skipped"); /* the DC index node of abc.test is no duplicate */
	has_line(a, "alice@abc.test user=alice@abc.test");
	has_line(a, "a.liddell@abc.net user=alice@abc.test");
	has_line(a, "@abc.test user=alice@abc.test");
	has_line(a, "staff@abc.test list=staff@abc.test");
	has_line(a, "dan@xyz.test user=dan@xyz.test");
	has_line(u, "alice@abc.test quota=10M delivery=mailbox,forward "
		    "forward=out@remote.test "
		    "replytext=Gone%20fishing,%20back%20soon");
	has_line(p, "alice@abc.test {SSHA}abcd");
	has_line(l, "staff@abc.test member=alice@abc.test member=dan@xyz.test "
		    "member=ext@remote.test");
	/* A domain admin's entry cannot claim another domain's address. */
	has_line(u, "t@abc.test ");
	lacks(a, "ceo@xyz.test");
	/* A malformed entry is skipped whole. */
	lacks(u, "b@abc.test");
	lacks(a, "b@abc.test");
	T_EQ_INT(st.skipped, 1);
	T_EQ_INT(st.domains, 2);
	free(d);
	free(a);
	free(u);
	free(l);
	free(p);
	dcache_fini(&c);
}

T_TEST(dmap_a_change_regenerates_only_its_domain)
{
	static const char *const dan2[] = {
		"objectClass", "inetMailUser", "mail", "dan@xyz.test",
		"mailQuota", "5M", NULL,
	};
	struct dcache c;
	struct dmap_stats st;

	T_ASSERT(dcache_init(&c) == 0);
	load_tree(&c);
	T_ASSERT(dmap_update(&c, true, NULL, NULL, &st) == 0);
	T_ASSERT(dmap_update(&c, false, NULL, NULL, &st) == 0);
	T_EQ_INT(st.regenerated, 0);
	/* dan is in xyz.test, and abc.test's list names him: both. */
	T_ASSERT(dcache_put(&c, entry("00000000-0000-0000-0000-000000000010",
				      "uid=dan,o=xyz.test,o=isp", dan2)) == 0);
	T_ASSERT(dmap_update(&c, false, NULL, NULL, &st) == 0);
	T_EQ_INT(st.regenerated, 2);
	/* alice is named by no other domain: hers alone. */
	struct dent *e = dcache_get(&c, "00000000-0000-0000-0000-00000000000d");
	e->changed = true;
	T_ASSERT(dmap_update(&c, false, NULL, NULL, &st) == 0);
	T_EQ_INT(st.regenerated, 1);
	/* A deletion: the entry's domain, and the list that named it. */
	e = dcache_take(&c, "00000000-0000-0000-0000-000000000010");
	dmap_forget(&c, e);
	dent_free(e);
	T_ASSERT(dmap_update(&c, false, NULL, NULL, &st) == 0);
	T_EQ_INT(st.regenerated, 2);
	char *l = text_of(&c, TBL_LISTS), *u = text_of(&c, TBL_USERS);
	lacks(l, "dan@xyz.test");
	lacks(u, "dan@xyz.test");
	free(l);
	free(u);
	dcache_fini(&c);
}

T_TEST(dcache_round_trips_and_refuses_torn_files)
{
	struct dcache c, back;
	struct dmap_stats st;
	char path[512], err[256];

	T_ASSERT(dcache_init(&c) == 0 && dcache_init(&back) == 0);
	load_tree(&c);
	T_ASSERT(dmap_update(&c, true, NULL, NULL, &st) == 0);
	util_strlcpy(c.cookie, "rid=000,csn=20261201#x y", sizeof(c.cookie));
	snprintf(path, sizeof(path), "%s/cache", t_tmpdir());
	T_ASSERT(dcache_save(&c, path, err, sizeof(err)) == 0);
	T_EQ_INT(dcache_load(&back, path, err, sizeof(err)), 1);
	T_EQ_STR(back.cookie, c.cookie);
	T_EQ_SIZE(back.nent, c.nent);
	for (int k = 0; k < TBL_NKINDS; k++) {
		char *a = text_of(&c, (enum tbl_kind)k);
		char *b = text_of(&back, (enum tbl_kind)k);
		T_EQ_STR(a, b);
		free(a);
		free(b);
	}
	/* Every cut of the file is refused whole, never half-read. */
	FILE *f = fopen(path, "r");
	T_ASSERT(f != NULL);
	static char data[1 << 16];
	size_t len = fread(data, 1, sizeof(data), f);
	fclose(f);
	T_ASSERT(len > 100 && len < sizeof(data));
	char cut[512];
	snprintf(cut, sizeof(cut), "%s/cut", t_tmpdir());
	for (size_t n = 0; n < len - 1; n += 7) {
		int fd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		T_ASSERT(fd >= 0 && write(fd, data, n) == (ssize_t)n);
		close(fd);
		if (dcache_load(&back, cut, err, sizeof(err)) != -1)
			t_fail(__FILE__, __LINE__, "a cut at %zu was taken", n);
		T_EQ_SIZE(back.nent, 0);
	}
	T_EQ_INT(dcache_load(&back, "/nonexistent/cache", err, sizeof(err)), 0);
	dcache_fini(&c);
	dcache_fini(&back);
}
