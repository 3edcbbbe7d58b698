#include "cdb/tbl_check.h"

#include <string.h>

#include "core/util.h"

struct walk {
	struct tbl_set *s;
	FILE *out;
	int problems;
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

static void
check_domains(struct walk *w)
{
	struct cdb *c = &w->s->t[TBL_DOMAINS].cdb;
	unsigned pos;
	char err[TBL_ERR_MAX];

	cdb_seqinit(&pos, c);
	while (cdb_seqnext(&pos, c) > 0) {
		struct tbl_domain d, cd;
		const char *k = cdb_getkey(c);
		unsigned kl = cdb_keylen(c);
		if (tbl_rec_decode_domain(cdb_getdata(c), cdb_datalen(c), &d,
					  err, sizeof(err)) < 0)
			continue;
		if (d.alias_of[0] != '\0') {
			int rc = tbl_lookup_domain(w->s, d.alias_of,
						   strlen(d.alias_of), &cd);
			if (rc <= 0)
				problem(w, "domains", k, kl, "alias of an "
					"unknown domain");
			else if (cd.alias_of[0] != '\0')
				problem(w, "domains", k, kl, "alias of an "
					"alias (one level only)");
		}
		if (d.postmaster[0] != '\0' &&
		    domain_known(w->s, d.postmaster,
				     strlen(d.postmaster)) <= 0)
			problem(w, "domains", k, kl, "postmaster is in an "
				"unknown domain");
	}
}

static void
check_addresses(struct walk *w)
{
	struct cdb *c = &w->s->t[TBL_ADDRESSES].cdb;
	unsigned pos;
	char err[TBL_ERR_MAX];

	cdb_seqinit(&pos, c);
	while (cdb_seqnext(&pos, c) > 0) {
		struct tbl_address a;
		struct tbl_user u;
		const char *k = cdb_getkey(c);
		unsigned kl = cdb_keylen(c);
		if (tbl_rec_decode_address(cdb_getdata(c), cdb_datalen(c), &a,
					   err, sizeof(err)) < 0)
			continue;
		if (tbl_lookup_user(w->s, a.user, strlen(a.user), &u) <= 0)
			problem(w, "addresses", k, kl, "its user is not in "
				"the users table");
		if (domain_known(w->s, k, kl) <= 0)
			problem(w, "addresses", k, kl, "its domain is not in "
				"the domains table");
	}
}

static void
check_users(struct walk *w)
{
	struct cdb *c = &w->s->t[TBL_USERS].cdb;
	unsigned pos;

	cdb_seqinit(&pos, c);
	while (cdb_seqnext(&pos, c) > 0) {
		const char *k = cdb_getkey(c);
		unsigned kl = cdb_keylen(c);
		if (domain_known(w->s, k, kl) <= 0)
			problem(w, "users", k, kl, "its domain is not in the "
				"domains table");
	}
}

int
tbl_check_set(struct tbl_set *s, FILE *out)
{
	struct walk w = { s, out, 0 };

	if (s->t[TBL_DOMAINS].fd >= 0)
		check_domains(&w);
	if (s->t[TBL_ADDRESSES].fd >= 0 && s->t[TBL_USERS].fd >= 0)
		check_addresses(&w);
	if (s->t[TBL_USERS].fd >= 0 && s->t[TBL_DOMAINS].fd >= 0)
		check_users(&w);
	return w.problems;
}
