#include "tools/dir_gen.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cdb/tbl_build.h"
#include "core/log.h"
#include "core/util.h"
#include "tools/strmap.h"

#define VAL_MAX (TBL_TEXT_MAX * 3 + 1) /* a %-escaped field value */
#define OUT_MAX ((size_t)1 << 40)      /* a domain's text: no real ceiling */

/* A text being built in a struct buf; oom: an append failed. */
struct text {
	struct buf b;
	int oom;
};

static void
sb_add(struct text *t, const char *s, size_t n)
{
	if (buf_append(&t->b, s, n) < 0)
		t->oom = 1;
}

static void
sb_str(struct text *t, const char *s)
{
	sb_add(t, s, strlen(s));
}

/* " name=VALUE" with VALUE %-escaped as the table format wants. */
static void
sb_field(struct text *t, const char *name, const char *v, size_t vlen)
{
	char esc[VAL_MAX];

	if (dent_escape(v, vlen, esc, sizeof(esc)) < 0) {
		/* Too long to be valid: let the record check name the field. */
		util_strlcpy(esc, "%00", sizeof(esc));
	}
	/* "KEY " starts a record: the first field needs no separator. */
	if (t->b.len > 0 && buf_data(&t->b)[t->b.len - 1] != ' ')
		sb_str(t, " ");
	sb_str(t, name);
	sb_str(t, "=");
	sb_str(t, esc);
}

static void
lower_copy(char *out, size_t outlen, const char *s)
{
	util_strlcpy(out, s, outlen);
	util_lower(out, strlen(out));
}

static void
log_entry(const char *what, const struct dent *e, const char *attr,
	  const char *why)
{
	char dn[256];

	util_log_escape(dn, sizeof(dn), e->dn, strlen(e->dn));
	log_warnx("vdsync: %s dn=\"%s\": attribute %s: %s", what, dn, attr,
		  why);
}

void
dgen_skip(struct dmap_stats *st, const struct dent *e, const char *attr,
	  const char *why)
{
	log_entry("skipped entry", e, attr, why);
	st->skipped++;
}

void
dgen_note(const struct dent *e, const char *attr, const char *why)
{
	log_entry("entry", e, attr, why);
}

struct gen {
	const struct dgen_ctx *x;
	const struct dgen_domain *d;
	struct text out[TBL_NKINDS];
	struct strmap keys[TBL_NKINDS]; /* keys this domain already gave */
	int oom;
};

static void
out_add(struct gen *g, enum tbl_kind k, const char *s, size_t n)
{
	sb_add(&g->out[k], s, n);
}

/* Field names of the tables -> the attribute an admin must fix. */
static const char *
attr_of_field(enum tbl_kind k, const char *err)
{
	static const char *const map[][2] = {
		{ "status", "inetUserStatus/inetDomainStatus/inetMailGroupStatus" },
		{ "mailstatus", "mailUserStatus/mailDomainStatus" },
		{ "services", "mailAllowedServiceAccess" },
		{ "postmaster", "vdmailDomainPostmaster" },
		{ "admin", "vdmailDomainAdmin" },
		{ "quota", "mailQuota/mailDomainDiskQuota" },
		{ "msgquota", "mailMsgQuota/mailDomainMsgQuota" },
		{ "mailhost", "mailHost" },
		{ "delivery", "mailDeliveryOption" },
		{ "forward", "mailForwardingAddress" },
		{ "program", "mailProgramDeliveryInfo" },
		{ "file", "mailDeliveryFileURL" },
		{ "shared", "vdmailSharedFolder" },
		{ "replymode", "mailAutoReplyMode" },
		{ "replysubject", "mailAutoReplySubject" },
		{ "replytext", "mailAutoReplyText" },
		{ "replyinternal", "mailAutoReplyTextInternal" },
		{ "replytimeout", "mailAutoReplyTimeOut" },
		{ "vacstart", "vacationStartDate" },
		{ "vacend", "vacationEndDate" },
		{ "member", "uniqueMember/mgrpRFC822MailMember/memberURL" },
		{ "broadcaster", "mgrpAllowedBroadcaster" },
		{ "alloweddomain", "mgrpAllowedDomain" },
		{ "moderator", "mgrpModerator" },
		{ "errorsto", "mgrpErrorsTo" },
		{ "rejectaction", "mgrpMsgRejectAction" },
		{ "maxsize", "mgrpMsgMaxSize" },
		{ "relay", "mailRoutingSmartHost" },
		{ "host", "mailRoutingHosts" },
		{ "user", "mail" },
		{ "list", "mail" },
	};
	const char *f = strstr(err, "field '");
	char name[32];

	if (f == NULL)
		return k == TBL_PASSWORDS ? "userPassword" : "mail";
	f += 7;
	size_t n = strcspn(f, "'");
	if (util_copy(name, sizeof(name), f, n) < 0)
		return "mail";
	for (size_t i = 0; i < UTIL_ARRAY_LEN(map); i++)
		if (strcmp(map[i][0], name) == 0)
			return map[i][1];
	return "mail";
}

/* One record into a scratch line; checked before it is kept. */
struct rec {
	enum tbl_kind kind;
	struct text line; /* "KEY VALUE" without newline */
	size_t klen;
};

static void
rec_start(struct rec *r, enum tbl_kind k, const char *key)
{
	r->kind = k;
	if (r->line.b.max == 0)
		buf_init(&r->line.b, TBL_BUILD_LINE_MAX);
	buf_reset(&r->line.b);
	r->line.oom = 0;
	sb_str(&r->line, key);
	r->klen = strlen(key);
	sb_str(&r->line, " ");
}

/* Checks the record; returns 0, or -1 with err filled. */
static int
rec_check(const struct rec *r, char *err, size_t errlen)
{
	const char *v = buf_data(&r->line.b) + r->klen + 1;
	size_t vlen = r->line.b.len - r->klen - 1;

	while (vlen > 0 && *v == ' ') {
		v++;
		vlen--;
	}
	if (r->line.oom)
		return snprintf(err, errlen, "record too long"), -1;
	return tbl_rec_check(r->kind, buf_data(&r->line.b), r->klen, v, vlen, err,
			     errlen);
}

/* Pending records of one entry: kept only when every one checks out. */
struct pending {
	struct rec r[64];
	size_t n;
};

static struct rec *
pend_new(struct pending *p, enum tbl_kind k, const char *key)
{
	if (p->n == UTIL_ARRAY_LEN(p->r))
		return NULL;
	struct rec *r = &p->r[p->n++];
	rec_start(r, k, key);
	return r;
}

static void
pend_free(struct pending *p)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(p->r); i++)
		buf_free(&p->r[i].line.b);
}

/* Keeps the entry's records, or skips the entry with the reason. */
static void
pend_commit(struct gen *g, const struct dent *e, struct pending *p)
{
	char err[TBL_ERR_MAX];

	for (size_t i = 0; i < p->n; i++)
		if (rec_check(&p->r[i], err, sizeof(err)) < 0) {
			dgen_skip(g->x->st, e, attr_of_field(p->r[i].kind, err),
				   err);
			p->n = 0;
			return;
		}
	for (size_t i = 0; i < p->n; i++) {
		struct rec *r = &p->r[i];
		char key[TBL_ADDR_MAX + 2];
		if (util_copy(key, sizeof(key), buf_data(&r->line.b), r->klen) < 0)
			continue;
		int added = strmap_put(&g->keys[r->kind], key, NULL);
		if (added < 0)
			g->oom = 1;
		if (added <= 0) {
			if (added == 0)
				dgen_skip(g->x->st, e, "mail", "address already "
					   "claimed by another entry");
			continue;
		}
		out_add(g, r->kind, buf_data(&r->line.b), r->line.b.len);
		out_add(g, r->kind, "\n", 1);
	}
	p->n = 0;
}

/* Adds field=value for each value of attr (lower-cased when lower). */
static void
add_values(struct rec *r, const struct dent *e, const char *attr,
	   const char *field, bool lower, bool first_only)
{
	const struct dent_attr *a = dent_attr(e, attr);
	char v[VAL_MAX];

	for (size_t i = 0; a != NULL && i < a->nv; i++) {
		if (util_copy(v, sizeof(v), a->v[i].s, a->v[i].len) < 0) {
			sb_field(&r->line, field, a->v[i].s, a->v[i].len);
			continue;
		}
		if (lower)
			util_lower(v, strlen(v));
		sb_field(&r->line, field, v, strlen(v));
		if (first_only)
			break;
	}
}

/* Quotas: -2 (and absent) means the system default, so it is left out. */
static void
add_quota(struct rec *r, const struct dent *e, const char *attr,
	  const char *field)
{
	const char *q = dent_first(e, attr);

	if (q != NULL && strcmp(q, "-2") != 0)
		sb_field(&r->line, field, q, strlen(q));
}

static void
gen_domain(struct gen *g)
{
	struct pending p = { .n = 0 };
	const struct dent *e = g->d->e;
	struct rec *r = pend_new(&p, TBL_DOMAINS, g->d->name);

	add_values(r, e, "inetDomainStatus", "status", true, true);
	add_values(r, e, "mailDomainStatus", "mailstatus", true, true);
	add_values(r, e, "mailDomainAllowedServiceAccess", "services", false,
		   true);
	add_values(r, e, "vdmailDomainPostmaster", "postmaster", true, true);
	add_values(r, e, "vdmailDomainAdmin", "admin", false, false);
	add_quota(r, e, "mailDomainDiskQuota", "quota");
	add_quota(r, e, "mailDomainMsgQuota", "msgquota");
	const struct dent_attr *a = dent_attr(e, "associatedDomain");
	for (size_t i = 0; a != NULL && i < a->nv; i++) {
		char alias[TBL_DOMAIN_MAX];
		lower_copy(alias, sizeof(alias), a->v[i].s);
		if (strcmp(alias, g->d->name) == 0)
			continue;
		struct rec *ar = pend_new(&p, TBL_DOMAINS, alias);
		if (ar != NULL)
			sb_field(&ar->line, "alias", g->d->name,
				 strlen(g->d->name));
	}
	const char *smart = dent_first(e, "mailRoutingSmartHost");
	if (smart != NULL || dent_attr(e, "mailRoutingHosts") != NULL) {
		struct rec *rr = pend_new(&p, TBL_ROUTES, g->d->name);
		if (rr != NULL && smart != NULL) {
			char h[TBL_DOMAIN_MAX + 8];
			/* "[host]:port" as Sun writes a literal smarthost */
			size_t o = 0;
			for (const char *s = smart; *s && o + 1 < sizeof(h); s++)
				if (*s != '[' && *s != ']')
					h[o++] = (char)(*s >= 'A' && *s <= 'Z'
								? *s + 32 : *s);
			h[o] = '\0';
			sb_field(&rr->line, "relay", h, o);
		}
		if (rr != NULL)
			add_values(rr, e, "mailRoutingHosts", "host", true,
				   false);
	}
	pend_commit(g, e, &p);
	pend_free(&p);
	g->x->st->domains++;
}

/*
 * Whether addr is in the domain (or one of its alias domains). A domain's
 * administrator may write any value into its entries (slapd does not
 * check them), so an address in another domain is never taken from it.
 */
static bool
own_address(const struct dgen_domain *d, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const struct dent_attr *a = dent_attr(d->e, "associatedDomain");

	if (at == NULL)
		return false;
	if (strcasecmp(at + 1, d->name) == 0)
		return true;
	for (size_t i = 0; a != NULL && i < a->nv; i++)
		if (strcasecmp(at + 1, a->v[i].s) == 0)
			return true;
	return false;
}

/* The entry's key, its mail lower-cased, which must be of its domain. */
static int
entry_key(struct gen *g, const struct dent *e, char *key, size_t keylen)
{
	const char *mail = dent_first(e, "mail");

	if (mail == NULL) {
		dgen_skip(g->x->st, e, "mail", "missing");
		return -1;
	}
	lower_copy(key, keylen, mail);
	if (!own_address(g->d, key)) {
		dgen_skip(g->x->st, e, "mail", "not an address of the entry's "
			  "domain");
		return -1;
	}
	return 0;
}

/* The addresses of an entry: mail, alternates, equivalents. */
static void
gen_addresses(struct gen *g, struct pending *p, const struct dent *e,
	      const char *key, const char *field)
{
	static const char *const attrs[] = {
		"mail", "mailAlternateAddress", "mailEquivalentAddress",
	};
	char a[TBL_ADDR_MAX + 8];

	for (size_t i = 0; i < UTIL_ARRAY_LEN(attrs); i++) {
		const struct dent_attr *at = dent_attr(e, attrs[i]);
		for (size_t j = 0; at != NULL && j < at->nv; j++) {
			lower_copy(a, sizeof(a), at->v[j].s);
			if (!own_address(g->d, a)) {
				dgen_note(e, attrs[i], "address outside the "
					  "entry's domain ignored");
				continue;
			}
			struct rec *r = pend_new(p, TBL_ADDRESSES, a);
			if (r != NULL)
				sb_field(&r->line, field, key, strlen(key));
		}
	}
}

static void
add_delivery(struct rec *r, const struct dent *e)
{
	static const char *const known[] = {
		"mailbox", "native", "unix", "forward", "hold", "autoreply",
		"program", "file", "shared", "members", "members_offline",
	};
	const struct dent_attr *a = dent_attr(e, "mailDeliveryOption");
	char v[256] = "";
	size_t o = 0;

	for (size_t i = 0; a != NULL && i < a->nv; i++) {
		size_t k;
		for (k = 0; k < UTIL_ARRAY_LEN(known); k++)
			if (strcasecmp(a->v[i].s, known[k]) == 0)
				break;
		if (k == UTIL_ARRAY_LEN(known)) {
			dgen_note(e, "mailDeliveryOption", "unknown value "
				  "ignored");
			continue;
		}
		/* Sun's "unix" is our "native" (a Berkeley mbox). */
		const char *name = k == 2 ? "native" : known[k];
		int n = snprintf(v + o, sizeof(v) - o, "%s%s", o ? "," : "",
				 name);
		if (n > 0 && (size_t)n < sizeof(v) - o)
			o += (size_t)n;
	}
	if (o > 0)
		sb_field(&r->line, "delivery", v, o);
}

static void
gen_password(struct pending *p, const struct dent *e, const char *key)
{
	static const char *const schemes[] = {
		"{SSHA}", "{SSHA256}", "{SSHA512}", "{CRYPT}", "{ARGON2}",
	};
	const struct dent_attr *a = dent_attr(e, "userPassword");

	for (size_t i = 0; a != NULL && i < a->nv; i++)
		for (size_t s = 0; s < UTIL_ARRAY_LEN(schemes); s++) {
			if (!util_has_iprefix(a->v[i].s, a->v[i].len,
					      schemes[s]))
				continue;
			struct rec *r = pend_new(p, TBL_PASSWORDS, key);
			if (r != NULL)
				sb_add(&r->line, a->v[i].s, a->v[i].len);
			return;
		}
	if (a != NULL) {
		dgen_note(e, "userPassword", "no supported {SCHEME}; the user "
			  "cannot log in");
	}
}

static void
gen_user(struct gen *g, const struct dent *e)
{
	struct pending p = { .n = 0 };
	char key[TBL_ADDR_MAX + 8];

	if (entry_key(g, e, key, sizeof(key)) < 0)
		return;
	struct rec *r = pend_new(&p, TBL_USERS, key);
	add_values(r, e, "inetUserStatus", "status", true, true);
	add_values(r, e, "mailUserStatus", "mailstatus", true, true);
	add_values(r, e, "mailAllowedServiceAccess", "services", false, true);
	add_quota(r, e, "mailQuota", "quota");
	add_quota(r, e, "mailMsgQuota", "msgquota");
	add_values(r, e, "mailHost", "mailhost", true, true);
	add_delivery(r, e);
	add_values(r, e, "mailForwardingAddress", "forward", true, false);
	add_values(r, e, "mailProgramDeliveryInfo", "program", false, false);
	const char *file = dent_first(e, "mailDeliveryFileURL");
	if (file != NULL) {
		if (strncasecmp(file, "file:", 5) == 0)
			file += 5;
		sb_field(&r->line, "file", file, strlen(file));
	}
	add_values(r, e, "vdmailSharedFolder", "shared", false, true);
	add_values(r, e, "mailAutoReplyMode", "replymode", true, true);
	add_values(r, e, "mailAutoReplySubject", "replysubject", false, true);
	add_values(r, e, "mailAutoReplyText", "replytext", false, true);
	add_values(r, e, "mailAutoReplyTextInternal", "replyinternal", false,
		   true);
	add_values(r, e, "mailAutoReplyTimeOut", "replytimeout", false, true);
	add_values(r, e, "vacationStartDate", "vacstart", false, true);
	add_values(r, e, "vacationEndDate", "vacend", false, true);
	gen_addresses(g, &p, e, key, "user");
	gen_password(&p, e, key);
	size_t before = g->out[TBL_USERS].b.len;
	pend_commit(g, e, &p);
	if (g->out[TBL_USERS].b.len != before)
		g->x->st->users++;
	pend_free(&p);
}

/* ------------------------------------------------------------------ */
/* Lists */

struct members {
	struct rec *r;
	struct strmap seen;
	const char *field;
};

static int
member_add(void *arg, const char *mail)
{
	struct members *mb = arg;
	char a[TBL_ADDR_MAX + 8];

	lower_copy(a, sizeof(a), mail);
	if (strmap_put(&mb->seen, a, NULL) == 1)
		sb_field(&mb->r->line, mb->field, a, strlen(a));
	return 0;
}

/* The mail of the entry a DN names, or NULL. */
static const char *
mail_of_dn(struct gen *g, const char *dn)
{
	const struct dent *e = g->x->by_dn(g->x->by_dn_arg, dn);

	return e != NULL ? dent_first(e, "mail") : NULL;
}

/*
 * One value that names addresses: a DN, "ldap:///DN", an LDAP URL with a
 * filter (expanded through the directory), "mailto:addr", or an address
 * (Netscape's "addr%Display Name" form too).
 */
static void
add_ref(struct gen *g, const struct dent *e, struct members *mb,
	const char *v)
{
	char a[TBL_ADDR_MAX + 8];
	const char *mail;

	if (strncasecmp(v, "mailto:", 7) == 0) {
		member_add(mb, v + 7);
		return;
	}
	if (strncasecmp(v, "ldap://", 7) == 0) {
		const char *rest = strchr(v + 7, '/');
		if (rest != NULL && strchr(rest, '?') == NULL &&
		    (mail = mail_of_dn(g, rest + 1)) != NULL) {
			member_add(mb, mail);
			return;
		}
		if (g->x->expand == NULL ||
		    g->x->expand(g->x->expand_arg, v, member_add, mb) < 0)
			dgen_note(e, "memberURL", "URL could not be expanded; "
				  "its members are left out");
		return;
	}
	if (strchr(v, '=') != NULL && strchr(v, '@') == NULL) {
		if ((mail = mail_of_dn(g, v)) != NULL)
			member_add(mb, mail);
		return; /* a member entry without mail receives nothing */
	}
	util_strlcpy(a, v, sizeof(a));
	a[strcspn(a, "%")] = '\0';
	member_add(mb, a);
}

static void
add_refs(struct gen *g, const struct dent *e, struct rec *r,
	 const char *const *attrs, size_t nattrs, const char *field)
{
	struct members mb = { .r = r, .field = field };

	for (size_t i = 0; i < nattrs; i++) {
		const struct dent_attr *a = dent_attr(e, attrs[i]);
		for (size_t j = 0; a != NULL && j < a->nv; j++)
			add_ref(g, e, &mb, a->v[j].s);
	}
	strmap_free(&mb.seen);
}

static void
gen_list(struct gen *g, const struct dent *e)
{
	static const char *const members[] = {
		"uniqueMember", "member", "mgrpRFC822MailMember", "memberURL",
		"mgrpDeliverTo",
	};
	static const char *const broadcasters[] = { "mgrpAllowedBroadcaster" };
	static const char *const moderators[] = { "mgrpModerator" };
	struct pending p = { .n = 0 };
	char key[TBL_ADDR_MAX + 8];

	if (entry_key(g, e, key, sizeof(key)) < 0)
		return;
	struct rec *r = pend_new(&p, TBL_LISTS, key);
	add_values(r, e, "inetMailGroupStatus", "status", true, true);
	add_delivery(r, e);
	add_refs(g, e, r, members, UTIL_ARRAY_LEN(members), "member");
	add_refs(g, e, r, broadcasters, 1, "broadcaster");
	add_refs(g, e, r, moderators, 1, "moderator");
	add_values(r, e, "mgrpAllowedDomain", "alloweddomain", true, false);
	const char *errs = dent_first(e, "mgrpErrorsTo");
	if (errs != NULL) {
		char a[TBL_ADDR_MAX + 8];
		lower_copy(a, sizeof(a), strncasecmp(errs, "mailto:", 7) == 0
						 ? errs + 7 : errs);
		sb_field(&r->line, "errorsto", a, strlen(a));
	}
	add_values(r, e, "mgrpMsgRejectAction", "rejectaction", false, true);
	add_values(r, e, "mgrpMsgMaxSize", "maxsize", false, true);
	gen_addresses(g, &p, e, key, "list");
	size_t before = g->out[TBL_LISTS].b.len;
	pend_commit(g, e, &p);
	if (g->out[TBL_LISTS].b.len != before)
		g->x->st->lists++;
	pend_free(&p);
}


enum dgen_kind
dgen_classify(const struct dent *e)
{
	if (dent_has_class(e, "sunManagedOrganization") ||
	    dent_has_class(e, "inetDomain"))
		return DGEN_DOMAIN;
	if (dent_has_class(e, "inetMailGroup") ||
	    dent_has_class(e, "groupOfUniqueNames") ||
	    dent_has_class(e, "groupOfNames") ||
	    dent_has_class(e, "groupOfURLs"))
		return DGEN_GROUP;
	if (dent_has_class(e, "inetMailUser") ||
	    dent_has_class(e, "inetLocalMailRecipient"))
		return DGEN_USER;
	return DGEN_OTHER;
}

int
dgen_domain(const struct dgen_ctx *x, const struct dgen_domain *d,
	    struct buf out[TBL_NKINDS])
{
	struct gen g = { .x = x, .d = d };
	int rc = 0;

	for (int k = 0; k < TBL_NKINDS; k++)
		buf_init(&g.out[k].b, OUT_MAX);
	gen_domain(&g);
	for (size_t i = 0; i < d->nmem; i++) {
		if (dgen_is(d->members[i], DGEN_GROUP))
			gen_list(&g, d->members[i]);
		else
			gen_user(&g, d->members[i]);
	}
	for (int k = 0; k < TBL_NKINDS; k++) {
		if (g.out[k].oom)
			rc = -1;
		out[k] = g.out[k].b;
		strmap_free(&g.keys[k]);
	}
	return g.oom ? -1 : rc;
}
