#include "cdb/tbl_check.h"

#include <stdbool.h>
#include <string.h>

#include "core/util.h"

struct walk {
	struct tbl_set *s;
	FILE *out;
	int problems;
	const char *table; /* the table user_one walks: users or lists */
};

static void
problem(struct walk *w, const char *table, const char *key, size_t klen,
	const char *what)
{
	char esc[300];

	util_log_escape(esc, sizeof(esc), key, klen);
	fprintf(w->out, "%s: key '%s': %s\n", table, esc, what);
	w->problems++;
}

/* Whether the domain part of addr is in the domains table: 1, 0 or -1. */
static int
domain_known(struct tbl_set *s, const char *addr, size_t len)
{
	long at = -1;
	struct tbl_domain d;

	for (size_t i = 0; i < len; i++)
		if (addr[i] == '@')
			at = (long)i;
	if (at < 0)
		return 0;
	return tbl_lookup_domain(s, addr + at + 1, len - (size_t)at - 1, &d);
}

/* The address, or its domain's catch-all, is in the addresses table. */
static bool
address_known(struct tbl_set *s, const char *addr)
{
	struct tbl_address a;
	const char *at = strrchr(addr, '@');

	if (tbl_lookup_address(s, addr, strlen(addr), &a) > 0)
		return true;
	return at != NULL && tbl_lookup_address(s, at, strlen(at), &a) > 0;
}

static int
domain_one(void *arg, const char *k, unsigned kl, const char *v, unsigned vl)
{
	struct walk *w = arg;
	struct tbl_domain d, cd;
	char err[TBL_ERR_MAX];

	if (tbl_rec_decode_domain(v, vl, &d, err, sizeof(err)) < 0)
		return 0;
	if (d.alias_of[0] != '\0') {
		int rc = tbl_lookup_domain(w->s, d.alias_of,
					   strlen(d.alias_of), &cd);
		if (rc <= 0)
			problem(w, "domains", k, kl, "alias of an unknown "
				"domain");
		else if (cd.alias_of[0] != '\0')
			problem(w, "domains", k, kl, "alias of an alias (one "
				"level only)");
	}
	if (d.postmaster[0] != '\0') {
		if (domain_known(w->s, d.postmaster, strlen(d.postmaster)) <= 0)
			problem(w, "domains", k, kl, "postmaster is in an "
				"unknown domain");
		else if (!address_known(w->s, d.postmaster))
			problem(w, "domains", k, kl, "postmaster is not in the "
				"addresses table (no catch-all either)");
	}
	return 0;
}

static int
address_one(void *arg, const char *k, unsigned kl, const char *v,
	    unsigned vl)
{
	struct walk *w = arg;
	struct tbl_address a;
	struct tbl_user u;
	struct tbl_list l;
	char err[TBL_ERR_MAX];

	if (tbl_rec_decode_address(v, vl, &a, err, sizeof(err)) < 0)
		return 0;
	if (a.list[0] != '\0') {
		if (tbl_lookup_list(w->s, a.list, strlen(a.list), &l, 0, NULL,
				    NULL) <= 0)
			problem(w, "addresses", k, kl, "its list is not in the "
				"lists table");
	} else if (tbl_lookup_user(w->s, a.user, strlen(a.user), &u) <= 0) {
		problem(w, "addresses", k, kl, "its user is not in the users "
			"table");
	}
	if (domain_known(w->s, k, kl) <= 0)
		problem(w, "addresses", k, kl, "its domain is not in the "
			"domains table");
	return 0;
}

static int
user_one(void *arg, const char *k, unsigned kl, const char *v, unsigned vl)
{
	struct walk *w = arg;

	(void)v;
	(void)vl;
	if (domain_known(w->s, k, kl) <= 0)
		problem(w, w->table, k, kl, "its domain is not in the domains "
			"table");
	return 0;
}

int
tbl_check_set(struct tbl_set *s, FILE *out)
{
	struct walk w = { s, out, 0, "users" };

	if (s->t[TBL_DOMAINS].fd >= 0)
		tbl_each(&s->t[TBL_DOMAINS].cdb, domain_one, &w);
	if (s->t[TBL_ADDRESSES].fd >= 0 && s->t[TBL_USERS].fd >= 0)
		tbl_each(&s->t[TBL_ADDRESSES].cdb, address_one, &w);
	if (s->t[TBL_USERS].fd >= 0 && s->t[TBL_DOMAINS].fd >= 0)
		tbl_each(&s->t[TBL_USERS].cdb, user_one, &w);
	w.table = "lists";
	if (s->t[TBL_LISTS].fd >= 0 && s->t[TBL_DOMAINS].fd >= 0)
		tbl_each(&s->t[TBL_LISTS].cdb, user_one, &w);
	return w.problems;
}
