#include "cdb/route.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "spool/store.h"

struct ctx {
	struct tbl_set *t;
	const struct route_opts *o;
	struct route_result *r;
	route_trace_fn *trace;
	void *arg;
};

static void
step(struct ctx *x, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
step(struct ctx *x, const char *name, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	if (x->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	x->trace(x->arg, name, detail);
}

static enum route_action
answer(struct ctx *x, int code, const char *enh, const char *reason,
       const char *text)
{
	struct route_result *r = x->r;

	r->code = code;
	util_strlcpy(r->enh, enh, sizeof(r->enh));
	util_strlcpy(r->text, text, sizeof(r->text));
	r->reason = reason;
	r->action = code < 300 ? ROUTE_DELIVER
		    : code < 500 ? ROUTE_TEMPFAIL : ROUTE_REJECT;
	return r->action;
}

static enum route_action
broken_table(struct ctx *x, const char *what)
{
	step(x, "table", "%s: the tables are inconsistent or unreadable", what);
	return answer(x, 451, "4.3.0", "table_error",
		      "Temporary lookup failure, try again later");
}

/* Sun precedence: the first status that is not active wins. */
static enum tbl_status
effective(enum tbl_status general, enum tbl_status mail)
{
	return general != TBL_ST_ACTIVE ? general : mail;
}

/* Status to reply; returns -1 for active. */
static int
status_answer(struct ctx *x, enum tbl_status st, bool domain)
{
	switch (st) {
	case TBL_ST_ACTIVE:
		return -1;
	case TBL_ST_OVERQUOTA:
		return (int)answer(x, 452, "4.2.2", domain ? "domain_overquota"
						: "user_overquota",
			      "Mailbox full, try again later");
	case TBL_ST_DISABLED:
		return (int)answer(x, 550, "5.2.1", domain ? "domain_disabled"
						: "user_disabled",
			      domain ? "Domain disabled, mail not accepted"
				     : "Mailbox disabled, mail not accepted");
	case TBL_ST_DELETED:
	case TBL_ST_REMOVED:
		if (domain)
			return (int)answer(x, 550, "5.1.2", "domain_deleted",
				      "Domain deleted, no such destination");
		return (int)answer(x, 550, "5.1.1", "user_deleted",
			      "Mailbox deleted, no such user");
	default:
		/* inactive, hold and unknown values: the sender retries. */
		return (int)answer(x, 450, "4.2.1", domain ? "domain_inactive"
						: "user_inactive",
			      domain ? "Domain temporarily unavailable, try "
				       "again later"
				     : "Mailbox temporarily unavailable, try "
				       "again later");
	}
}

/* Looks key up in addresses; 1 found (user in *a), 0 no, -1 error. */
static int
try_address(struct ctx *x, const char *key, struct tbl_address *a)
{
	int rc = tbl_lookup_address(x->t, key, strlen(key), a);

	if (rc > 0)
		step(x, "address", "%s -> user %s", key, a->user);
	else if (rc == 0)
		step(x, "address", "%s: not found", key);
	return rc;
}

static int
find_address(struct ctx *x, const char *local, const char *dom,
	     const char *canon, struct tbl_address *a)
{
	const char *doms[2] = { dom, canon };
	size_t ndoms = strcmp(dom, canon) ? 2 : 1;
	char key[TBL_ADDR_MAX + 2], base[TBL_LOCAL_MAX + 1];
	int rc;

	util_strlcpy(base, local, sizeof(base));
	char *delim = x->o->delimiter ? strchr(base, x->o->delimiter) : NULL;
	if (delim != NULL && delim > base)
		*delim = '\0';
	else
		delim = NULL;
	for (size_t i = 0; i < ndoms; i++) {
		if (util_fmt(key, sizeof(key), "%s@%s", local, doms[i]) == 0 &&
		    (rc = try_address(x, key, a)) != 0)
			return rc;
		if (delim != NULL &&
		    util_fmt(key, sizeof(key), "%s@%s", base, doms[i]) == 0 &&
		    (rc = try_address(x, key, a)) != 0)
			return rc;
	}
	for (size_t i = 0; i < ndoms; i++)
		if (util_fmt(key, sizeof(key), "@%s", doms[i]) == 0 &&
		    (rc = try_address(x, key, a)) != 0)
			return rc;
	return 0;
}

static enum route_action
check_quota(struct ctx *x, const struct tbl_user *u)
{
	struct route_result *r = x->r;
	struct store_usage use;
	char def[STORE_QUOTA_DEF_MAX];

	r->quota = u->quota == TBL_QUOTA_DEFAULT ? x->o->default_quota
						 : u->quota;
	r->msgquota = u->msgquota == TBL_QUOTA_DEFAULT
			      ? x->o->default_msg_quota
			      : u->msgquota;
	if ((r->quota < 0 && r->msgquota < 0) || x->o->store == NULL) {
		step(x, "quota", "unlimited");
		return ROUTE_DELIVER;
	}
	store_quota_def(def, sizeof(def), r->quota, r->msgquota);
	if (store_quota_usage(x->o->store, r->mailbox, def, &use) < 0)
		return broken_table(x, "maildirsize");
	r->used_bytes = use.bytes;
	r->used_msgs = use.msgs;
	step(x, "quota", "%llu of %lld bytes, %llu of %lld messages%s",
	     (unsigned long long)use.bytes, (long long)r->quota,
	     (unsigned long long)use.msgs, (long long)r->msgquota,
	     x->o->size ? " (with the declared SIZE)" : "");
	if ((r->quota >= 0 && (use.bytes >= (uint64_t)r->quota ||
			       use.bytes + x->o->size > (uint64_t)r->quota)) ||
	    (r->msgquota >= 0 && use.msgs >= (uint64_t)r->msgquota))
		return answer(x, 452, "4.2.2", "over_quota",
			      "Mailbox full, try again later");
	return ROUTE_DELIVER;
}

static enum route_action
route_user(struct ctx *x, const char *login)
{
	struct route_result *r = x->r;
	struct tbl_user u;
	int rc = tbl_lookup_user(x->t, login, strlen(login), &u);

	if (rc <= 0)
		return broken_table(x, login);
	util_strlcpy(r->login, login, sizeof(r->login));
	step(x, "user", "%s: status=%s mailstatus=%s", login,
	     tbl_rec_status_name(u.status), tbl_rec_status_name(u.mailstatus));
	if (status_answer(x, effective(u.status, u.mailstatus), false) >= 0)
		return r->action;
	if (tbl_rec_user_mailbox(login, strlen(login), &u, r->mailbox,
				 sizeof(r->mailbox)) < 0)
		return broken_table(x, "mailbox path");
	if (u.mailhost[0] != '\0') {
		bool here = x->o->hostname != NULL &&
			    util_is_ieq(u.mailhost, strlen(u.mailhost),
					x->o->hostname);
		step(x, "mailhost", "%s%s", u.mailhost,
		     here ? " (this host)" : " (another host)");
		if (!here) {
			util_strlcpy(r->mailhost, u.mailhost,
				     sizeof(r->mailhost));
			r->mailbox[0] = '\0';
			answer(x, 250, "2.1.5", "mailhost_elsewhere",
			       "Ok, for another host");
			return r->action = ROUTE_REMOTE;
		}
	}
	if (check_quota(x, &u) != ROUTE_DELIVER)
		return r->action;
	step(x, "mailbox", "%s", r->mailbox);
	return answer(x, 250, "2.1.5", "ok", "Ok");
}

static enum route_action route_addr(struct ctx *x, const char *addr,
				    size_t len, int depth);

static enum route_action
route_list(struct ctx *x, const char *key)
{
	struct route_result *r = x->r;
	struct tbl_list l;
	int rc = tbl_lookup_list(x->t, key, strlen(key), &l, 0, NULL, NULL);

	if (rc <= 0)
		return broken_table(x, key);
	step(x, "list", "%s: status=%s members=%u", key,
	     tbl_rec_status_name(l.status), l.nmembers);
	util_strlcpy(r->list, key, sizeof(r->list));
	if (l.status == TBL_ST_DELETED)
		return answer(x, 550, "5.1.1", "list_deleted",
			      "List deleted, no such address");
	if (l.status == TBL_ST_DISABLED)
		return answer(x, 550, "5.2.1", "list_disabled",
			      "List disabled, mail not accepted");
	if (l.status != TBL_ST_ACTIVE)
		return answer(x, 450, "4.2.1", "list_inactive",
			      "List temporarily unavailable, try again later");
	answer(x, 250, "2.1.5", "ok", "Ok");
	return r->action = ROUTE_LIST;
}

/* RFC 5321 4.5.1: postmaster must always be accepted. */
static enum route_action
route_postmaster(struct ctx *x, const struct tbl_domain *d, int depth)
{
	const char *to = d && d->postmaster[0] ? d->postmaster
					       : x->o->postmaster;

	step(x, "postmaster", "-> %s%s", to,
	     d && d->postmaster[0] ? " (the domain's postmaster)"
				   : " (the server's postmaster)");
	if (depth > 0 || to == NULL || to[0] == '\0')
		return answer(x, 550, "5.1.1", "unknown_user",
			      "No such user here");
	return route_addr(x, to, strlen(to), depth + 1);
}

static enum route_action
route_addr(struct ctx *x, const char *addr, size_t len, int depth)
{
	struct route_result *r = x->r;
	struct tbl_domain d, cd;
	struct tbl_address a;
	char local[TBL_LOCAL_MAX + 1], dom[TBL_DOMAIN_MAX];
	long at = -1;
	int rc;

	for (size_t i = 0; i < len; i++)
		if (addr[i] == '@')
			at = (long)i;
	if (at < 0 && util_is_ieq(addr, len, "postmaster"))
		return route_postmaster(x, NULL, depth);
	if (at <= 0 || util_copy(local, sizeof(local), addr, (size_t)at) < 0 ||
	    util_copy(dom, sizeof(dom), addr + at + 1, len - (size_t)at - 1) < 0)
		return answer(x, 550, "5.1.3", "bad_address",
			      "Bad recipient address syntax");
	util_lower(local, strlen(local));
	util_lower(dom, strlen(dom));
	rc = tbl_lookup_domain(x->t, dom, strlen(dom), &d);
	if (rc < 0)
		return broken_table(x, dom);
	if (rc == 0) {
		step(x, "domain", "%s: not a local domain", dom);
		return answer(x, 554, "5.7.1", "relay_denied",
			      "Relay access denied");
	}
	util_strlcpy(r->domain, dom, sizeof(r->domain));
	cd = d;
	if (d.alias_of[0] != '\0') {
		step(x, "domain", "%s: alias of %s", dom, d.alias_of);
		rc = tbl_lookup_domain(x->t, d.alias_of, strlen(d.alias_of), &cd);
		if (rc <= 0 || cd.alias_of[0] != '\0')
			return broken_table(x, d.alias_of);
		util_strlcpy(r->domain, d.alias_of, sizeof(r->domain));
	}
	step(x, "domain", "%s: status=%s mailstatus=%s", r->domain,
	     tbl_rec_status_name(cd.status), tbl_rec_status_name(cd.mailstatus));
	if (status_answer(x, effective(cd.status, cd.mailstatus), true) >= 0)
		return r->action;
	rc = find_address(x, local, dom, r->domain, &a);
	if (rc < 0)
		return broken_table(x, "addresses");
	if (rc == 0) {
		if (strcmp(local, "postmaster") == 0)
			return route_postmaster(x, &cd, depth);
		return answer(x, 550, "5.1.1", "unknown_user",
			      "No such user here");
	}
	if (a.list[0] != '\0')
		return route_list(x, a.list);
	return route_user(x, a.user);
}

enum route_action
route_rcpt(struct tbl_set *t, const char *addr, size_t len,
	   const struct route_opts *o, struct route_result *r,
	   route_trace_fn *trace, void *arg)
{
	struct ctx x = { t, o, r, trace, arg };

	memset(r, 0, sizeof(*r));
	r->quota = r->msgquota = TBL_QUOTA_NONE;
	return route_addr(&x, addr, len, 0);
}
