#include "core/access.h"

#include <string.h>

#include "core/util.h"

/*
 * The login decision of the virtual-host patent's Figs. 6-7 (the contract
 * is in access.h); the service rules are evaluated in access_rule.c.
 */

struct ctx {
	struct tbl_set *t;
	const struct access_req *q;
	struct access_result *r;
	char local[TBL_LOCAL_MAX + 1]; /* lower-cased */
	char dom[TBL_DOMAIN_MAX];      /* the domain as named, lower-cased */
	struct tbl_domain d;           /* the canonical domain's record */
};

static enum access_decision
answer(struct access_result *r, enum access_decision d, const char *reason)
{
	r->decision = d;
	r->reason = reason;
	return d;
}

/*
 * Splits the identity into local part and domain ("" for a bare user).
 * Table keys never hold a byte <= 0x20 or DEL (tbl_rec's encoding), and
 * a NUL would cut the key short; RFC 5321 4.5.3.1.1-2 bound the parts.
 */
static int
split_identity(struct ctx *x)
{
	const char *id = x->q->identity;
	size_t len = x->q->idlen;
	long at = -1;

	if (id == NULL || len == 0 || len >= TBL_ADDR_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c <= 0x20 || c == 0x7f || (c == '@' && at >= 0))
			return -1;
		if (c == '@')
			at = (long)i;
	}
	size_t ln = at < 0 ? len : (size_t)at;
	if (ln == 0 || util_copy(x->local, sizeof(x->local), id, ln) < 0)
		return -1;
	util_lower(x->local, ln);
	x->dom[0] = '\0';
	if (at < 0)
		return 0;
	size_t dn = len - ln - 1;
	if (util_copy(x->dom, sizeof(x->dom), id + at + 1, dn) < 0)
		return -1;
	util_lower(x->dom, dn);
	return tbl_rec_is_domain(x->dom, dn) ? 0 : -1;
}

/*
 * Looks name up and follows an alias (one level, as route.c). 1 found
 * (canon set, *d the canonical record), 0 not a domain, -1 broken.
 */
static int
canonical(struct tbl_set *t, const char *name, struct tbl_domain *d,
	  char *canon, size_t clen)
{
	int rc = tbl_lookup_domain(t, name, strlen(name), d);

	if (rc <= 0)
		return rc;
	if (d->alias_of[0] == '\0') {
		util_strlcpy(canon, name, clen);
		return 1;
	}
	util_strlcpy(canon, d->alias_of, clen);
	rc = tbl_lookup_domain(t, canon, strlen(canon), d);
	return rc <= 0 || d->alias_of[0] != '\0' ? -1 : 1;
}

/* A candidate domain (default or SNI): lower-cased, checked, looked up. */
static int
try_domain(struct ctx *x, const char *name, size_t len)
{
	if (util_copy(x->dom, sizeof(x->dom), name, len) < 0)
		return 0;
	util_lower(x->dom, len);
	if (!tbl_rec_is_domain(x->dom, len))
		return 0;
	return canonical(x->t, x->dom, &x->d, x->r->domain,
			 sizeof(x->r->domain));
}

/*
 * The domain of a bare user: the listener's default domain, else the SNI
 * name (RFC 6066 3) or its parents, one label at a time
 * (mail.abc.com -> abc.com), never a bare top-level label.
 */
static int
bare_user_domain(struct ctx *x)
{
	const char *def = x->q->default_domain, *sni = x->q->sni;

	if (def != NULL && def[0] != '\0')
		return try_domain(x, def, strlen(def));
	for (const char *p = sni; p != NULL;) {
		int rc = try_domain(x, p, strlen(p));
		if (rc != 0)
			return rc;
		const char *dot = strchr(p, '.');
		p = dot != NULL && strchr(dot + 1, '.') != NULL ? dot + 1 : NULL;
	}
	return 0;
}

/* Sun precedence (schema.md 1.4): the first status not active wins. */
static enum tbl_status
effective(enum tbl_status general, enum tbl_status mail)
{
	return general != TBL_ST_ACTIVE ? general : mail;
}

/* -1 when the domain lets logins through, else the decision made. */
static int
domain_status(struct ctx *x)
{
	switch (effective(x->d.status, x->d.mailstatus)) {
	case TBL_ST_ACTIVE:
	case TBL_ST_OVERQUOTA: /* refuses mail, not logins */
		return -1;
	case TBL_ST_DISABLED:
		return (int)answer(x->r, ACCESS_DENY, "domain_disabled");
	case TBL_ST_DELETED:
	case TBL_ST_REMOVED:
		return (int)answer(x->r, ACCESS_DENY, "domain_deleted");
	default:
		/* inactive, hold, an unknown word: the admin may be moving
		 * the domain; the client is told to try again later. */
		return (int)answer(x->r, ACCESS_TEMPFAIL, "domain_inactive");
	}
}

/*
 * 1 when login's own domain is canon (directly or as an alias), 0 when
 * not, -1 broken. An alternate address in one domain must not open a
 * login to a user of another: each domain is its own login space.
 */
static int
same_domain(struct tbl_set *t, const char *login, const char *canon)
{
	const char *at = strrchr(login, '@');
	struct tbl_domain d;
	char c[TBL_DOMAIN_MAX];

	if (at == NULL)
		return 0;
	if (strcmp(at + 1, canon) == 0)
		return 1;
	int rc = canonical(t, at + 1, &d, c, sizeof(c));
	return rc <= 0 ? rc : strcmp(c, canon) == 0;
}

/*
 * The users key: local@canonical, else an alternate address (as named,
 * then with the canonical domain). Catch-alls (@domain) and lists are
 * addresses to deliver to, not identities. 1 found, 0 none, -1 broken.
 */
static int
find_user(struct ctx *x, struct tbl_user *u)
{
	const char *doms[2] = { x->dom, x->r->domain };
	char key[TBL_ADDR_MAX + 2];
	struct tbl_address a;
	int rc;

	if (util_fmt(key, sizeof(key), "%s@%s", x->local, x->r->domain) < 0)
		return 0;
	rc = tbl_lookup_user(x->t, key, strlen(key), u);
	if (rc > 0)
		util_strlcpy(x->r->login, key, sizeof(x->r->login));
	if (rc != 0)
		return rc;
	/* Named with the canonical domain already: one lookup, not two. */
	for (size_t i = strcmp(doms[0], doms[1]) == 0 ? 1 : 0; i < 2; i++) {
		if (util_fmt(key, sizeof(key), "%s@%s", x->local, doms[i]) < 0)
			continue;
		rc = tbl_lookup_address(x->t, key, strlen(key), &a);
		if (rc <= 0) {
			if (rc < 0)
				return -1;
			continue;
		}
		if (a.user[0] == '\0')
			return 0;
		rc = same_domain(x->t, a.user, x->r->domain);
		if (rc <= 0)
			return rc;
		/* The address names a user that is not there: inconsistent. */
		if (tbl_lookup_user(x->t, a.user, strlen(a.user), u) <= 0)
			return -1;
		util_strlcpy(x->r->login, a.user, sizeof(x->r->login));
		return 1;
	}
	return 0;
}

/* -1 when the user may log in, else the decision made. */
static int
user_status(struct ctx *x, const struct tbl_user *u)
{
	switch (effective(u->status, u->mailstatus)) {
	case TBL_ST_ACTIVE:
	case TBL_ST_OVERQUOTA: /* a full mailbox can still be read */
		return -1;
	case TBL_ST_DISABLED:
		return (int)answer(x->r, ACCESS_DENY, "user_disabled");
	case TBL_ST_DELETED:
	case TBL_ST_REMOVED:
		return (int)answer(x->r, ACCESS_DENY, "user_deleted");
	case TBL_ST_HOLD: /* Sun: a held user cannot log in */
		return (int)answer(x->r, ACCESS_DENY, "user_hold");
	default:
		return (int)answer(x->r, ACCESS_DENY, "user_inactive");
	}
}

static enum access_decision
check_user(struct ctx *x)
{
	const struct access_req *q = x->q;
	struct access_result *r = x->r;
	struct tbl_user u;
	int rc = find_user(x, &u);

	if (rc < 0)
		return answer(r, ACCESS_TEMPFAIL, "table_error");
	if (rc == 0)
		return answer(r, ACCESS_DENY, "unknown_user");
	if (user_status(x, &u) >= 0)
		return r->decision;
	if (!access_rule_allows(x->d.services, strlen(x->d.services),
				q->service, q->client))
		return answer(r, ACCESS_DENY, "service_denied_domain");
	if (!access_rule_allows(u.services, strlen(u.services), q->service,
				q->client))
		return answer(r, ACCESS_DENY, "service_denied_user");
	if (tbl_rec_user_mailbox(r->login, strlen(r->login), &u, r->mailbox,
				 sizeof(r->mailbox)) < 0)
		return answer(r, ACCESS_TEMPFAIL, "table_error");
	util_strlcpy(r->mailhost, u.mailhost, sizeof(r->mailhost));
	return answer(r, ACCESS_ALLOW, "ok");
}

enum access_decision
access_check(struct tbl_set *t, const struct access_req *q,
	     struct access_result *r)
{
	struct ctx x;
	int rc;

	memset(r, 0, sizeof(*r));
	memset(&x, 0, sizeof(x));
	x.t = t;
	x.q = q;
	x.r = r;
	if (split_identity(&x) < 0)
		return answer(r, ACCESS_DENY, "bad_identity");
	if (x.dom[0] != '\0')
		rc = canonical(t, x.dom, &x.d, r->domain, sizeof(r->domain));
	else
		rc = bare_user_domain(&x);
	if (rc < 0)
		return answer(r, ACCESS_TEMPFAIL, "table_error");
	if (rc == 0) {
		r->domain[0] = '\0';
		return answer(r, ACCESS_DENY, "unknown_domain");
	}
	if (domain_status(&x) >= 0)
		return r->decision;
	return check_user(&x);
}
