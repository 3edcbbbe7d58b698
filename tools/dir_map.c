#include "tools/dir_map.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"

#define DN_MAX 1024
#define VAL_MAX (TBL_TEXT_MAX * 3 + 1) /* a %-escaped field value */

/* A growable byte string. */
struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* " name=VALUE" with VALUE %-escaped as the table format wants. */
static void
sb_field(struct sbuf *b, const char *name, const char *v, size_t vlen)
{
	char esc[VAL_MAX];

	if (dent_escape(v, vlen, esc, sizeof(esc)) < 0) {
		/* Too long to be valid: let the record check name the field. */
		util_strlcpy(esc, "%00", sizeof(esc));
	}
	/* "KEY " starts a record: the first field needs no separator. */
	if (b->len > 0 && b->p[b->len - 1] != ' ')
		sb_str(b, " ");
	sb_str(b, name);
	sb_str(b, "=");
	sb_str(b, esc);
}

/* A set of strings (open addressing), to deduplicate keys and members. */
struct strset {
	char **slot;
	size_t cap, n;
};

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void
set_free(struct strset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/* 1 added, 0 already there, -1 out of memory. */
static int
set_add(struct strset *s, const char *str)
{
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		char **n = calloc(ncap, sizeof(*n));
		if (n == NULL)
			return -1;
		for (size_t i = 0; i < s->cap; i++) {
			if (s->slot[i] == NULL)
				continue;
			size_t j = hash_str(s->slot[i]) & (ncap - 1);
			while (n[j] != NULL)
				j = (j + 1) & (ncap - 1);
			n[j] = s->slot[i];
		}
		free(s->slot);
		s->slot = n;
		s->cap = ncap;
	}
	size_t j = hash_str(str) & (s->cap - 1);
	while (s->slot[j] != NULL) {
		if (strcmp(s->slot[j], str) == 0)
			return 0;
		j = (j + 1) & (s->cap - 1);
	}
	if ((s->slot[j] = strdup(str)) == NULL)
		return -1;
	s->n++;
	return 1;
}

static bool
set_has(const struct strset *s, const char *str)
{
	if (s->cap == 0)
		return false;
	for (size_t j = hash_str(str) & (s->cap - 1); s->slot[j] != NULL;
	     j = (j + 1) & (s->cap - 1))
		if (strcmp(s->slot[j], str) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */

/* Lower-case, no spaces after ',' or around '=' (as dent_dn_under). */
static void
dn_norm(const char *dn, char *out, size_t outlen)
{
	size_t o = 0;
	bool skip = true;

	for (const char *p = dn; *p != '\0' && o + 1 < outlen; p++) {
		if (*p == ' ' && (skip || p[1] == '=' || p[1] == ','))
			continue;
		out[o++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
		skip = *p == ',' || *p == '=';
	}
	out[o] = '\0';
}

static bool
is_domain_entry(const struct dent *e)
{
	return dent_has_class(e, "sunManagedOrganization") ||
	       dent_has_class(e, "inetDomain");
}

static bool
is_group(const struct dent *e)
{
	return dent_has_class(e, "inetMailGroup") ||
	       dent_has_class(e, "groupOfUniqueNames") ||
	       dent_has_class(e, "groupOfNames") ||
	       dent_has_class(e, "groupOfURLs");
}

static bool
is_user(const struct dent *e)
{
	return !is_group(e) && (dent_has_class(e, "inetMailUser") ||
				dent_has_class(e, "inetLocalMailRecipient"));
}

/*
 * The name of a domain entry: sunPreferredDomain (Schema 2), else the
 * dc= RDNs from the start of the DN (Schema 1), else associatedDomain.
 */
static int
domain_name(const struct dent *e, char *out, size_t outlen)
{
	const char *p = dent_first(e, "sunPreferredDomain");
	char dn[DN_MAX];
	size_t o = 0;

	if (p != NULL)
		return util_strlcpy(out, p, outlen) < outlen ? 0 : -1;
	dn_norm(e->dn, dn, sizeof(dn));
	for (char *c = dn; strncmp(c, "dc=", 3) == 0;) {
		char *end = strchr(c, ',');
		size_t n = end ? (size_t)(end - c - 3) : strlen(c + 3);
		if (o + n + 2 > outlen)
			return -1;
		if (o)
			out[o++] = '.';
		memcpy(out + o, c + 3, n);
		o += n;
		if (end == NULL)
			break;
		c = end + 1;
	}
	out[o] = '\0';
	if (o == 0 && (p = dent_first(e, "associatedDomain")) != NULL)
		return util_strlcpy(out, p, outlen) < outlen ? 0 : -1;
	return o ? 0 : -1;
}

static void
lower_copy(char *out, size_t outlen, const char *s)
{
	util_strlcpy(out, s, outlen);
	util_lower(out, strlen(out));
}

/* ------------------------------------------------------------------ */

struct dom {
	char name[TBL_DOMAIN_MAX];
	struct dent *e;
	struct dent **members; /* users and groups that belong here */
	size_t nmem, capmem;
	bool dirty;
	bool dynamic;          /* has a dynamic list */
};

struct map {
	struct dcache *c;
	struct dom *d;
	size_t nd, capd;
	struct strset names;     /* canonical and alias names */
	/* base DN (normalized) -> domain index, and name -> index */
	char **bkey;
	size_t *bval, bcap;
	char **nkey;
	size_t *nval, ncap;
	/* normalized DN -> entry, for static members */
	char **dkey;
	struct dent **dval;
	size_t dcap;
	dmap_expand_fn *expand;
	void *arg;
	struct dmap_stats *st;
	int oom;
};

/* A tiny string -> value map: open addressing, keys owned. */
static int
map_put(char ***keys, void *vals, size_t vsize, size_t *cap,
	const char *k, const void *v)
{
	if (*cap == 0)
		return -1;
	size_t j = hash_str(k) & (*cap - 1);
	while ((*keys)[j] != NULL) {
		if (strcmp((*keys)[j], k) == 0)
			return 0; /* first one stays */
		j = (j + 1) & (*cap - 1);
	}
	if (((*keys)[j] = strdup(k)) == NULL)
		return -1;
	memcpy((char *)vals + j * vsize, v, vsize);
	return 1;
}

static long
map_find(char **keys, size_t cap, const char *k)
{
	if (cap == 0)
		return -1;
	for (size_t j = hash_str(k) & (cap - 1); keys[j] != NULL;
	     j = (j + 1) & (cap - 1))
		if (strcmp(keys[j], k) == 0)
			return (long)j;
	return -1;
}

static size_t
pow2_above(size_t n)
{
	size_t c = 64;

	while (c < n * 2 + 2)
		c *= 2;
	return c;
}

static void
keys_free(char **keys, size_t cap)
{
	for (size_t i = 0; keys != NULL && i < cap; i++)
		free(keys[i]);
	free(keys);
}

static void
map_fini(struct map *m)
{
	for (size_t i = 0; i < m->nd; i++)
		free(m->d[i].members);
	free(m->d);
	set_free(&m->names);
	keys_free(m->bkey, m->bcap);
	free(m->bval);
	keys_free(m->nkey, m->ncap);
	free(m->nval);
	keys_free(m->dkey, m->dcap);
	free(m->dval);
}

static void
skip_entry(struct map *m, const struct dent *e, const char *attr,
	   const char *why)
{
	char dn[256];

	util_log_escape(dn, sizeof(dn), e->dn, strlen(e->dn));
	log_warnx("vdsync: skipped entry dn=\"%s\": attribute %s: %s", dn,
		  attr, why);
	m->st->skipped++;
}

struct counting {
	size_t domains, total;
};

static int
count_one(void *arg, struct dent *e)
{
	struct counting *k = arg;

	k->total++;
	if (is_domain_entry(e))
		k->domains++;
	return 0;
}

/* Finds the domain entries and indexes their names and base DNs. */
static int
collect_domain(void *arg, struct dent *e)
{
	struct map *m = arg;
	char name[TBL_DOMAIN_MAX], base[DN_MAX];

	if (!is_domain_entry(e))
		return 0;
	if (domain_name(e, name, sizeof(name)) < 0) {
		skip_entry(m, e, "sunPreferredDomain", "no domain name");
		return 0;
	}
	util_lower(name, strlen(name));
	if (!tbl_rec_is_domain(name, strlen(name))) {
		skip_entry(m, e, "sunPreferredDomain", "not a domain name");
		return 0;
	}
	if (set_has(&m->names, name)) {
		skip_entry(m, e, "sunPreferredDomain",
			   "domain name already used by another entry");
		return 0;
	}
	const char *b = dent_first(e, "inetDomainBaseDN");
	dn_norm(b ? b : e->dn, base, sizeof(base));
	struct dom *d = &m->d[m->nd];
	memset(d, 0, sizeof(*d));
	util_strlcpy(d->name, name, sizeof(d->name));
	d->e = e;
	if (set_add(&m->names, name) < 0 ||
	    map_put(&m->bkey, m->bval, sizeof(size_t), &m->bcap, base,
		    &m->nd) < 0 ||
	    map_put(&m->nkey, m->nval, sizeof(size_t), &m->ncap, name,
		    &m->nd) < 0)
		return m->oom = 1;
	/* A domain entry "belongs" to itself: a change dirties its name. */
	if (e->changed || e->domain == NULL || strcmp(e->domain, name) != 0) {
		d->dirty = true;
		if (e->domain != NULL && strcmp(e->domain, name) != 0) {
			struct dcache_frag *f = dcache_frag(m->c, e->domain, false);
			if (f != NULL)
				f->dirty = true;
		}
		free(e->domain);
		e->domain = strdup(name);
	}
	m->nd++;
	return 0;
}

static int
index_dn(void *arg, struct dent *e)
{
	struct map *m = arg;
	char dn[DN_MAX];

	dn_norm(e->dn, dn, sizeof(dn));
	if (map_put(&m->dkey, m->dval, sizeof(struct dent *), &m->dcap, dn,
		    &e) < 0)
		m->oom = 1;
	return 0;
}

/* The domain an entry belongs to: nearest base DN above, else its mail. */
static long
owner_of(struct map *m, const struct dent *e)
{
	char dn[DN_MAX];
	long j;

	dn_norm(e->dn, dn, sizeof(dn));
	for (char *p = dn; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if ((j = map_find(m->bkey, m->bcap, p)) >= 0)
			return (long)m->bval[j];
	}
	const char *mail = dent_first(e, "mail"), *at;
	if (mail != NULL && (at = strrchr(mail, '@')) != NULL) {
		char dom[TBL_DOMAIN_MAX];
		lower_copy(dom, sizeof(dom), at + 1);
		if ((j = map_find(m->nkey, m->ncap, dom)) >= 0)
			return (long)m->nval[j];
	}
	return -1;
}

static void
mark_dirty_name(struct map *m, const char *name)
{
	long j = name ? map_find(m->nkey, m->ncap, name) : -1;

	if (j >= 0)
		m->d[m->nval[j]].dirty = true;
	struct dcache_frag *f = name ? dcache_frag(m->c, name, false) : NULL;
	if (f != NULL)
		f->dirty = true;
}

static int
assign_one(void *arg, struct dent *e)
{
	struct map *m = arg;

	if (is_domain_entry(e) || !(is_user(e) || is_group(e)))
		return 0;
	long o = owner_of(m, e);
	const char *now = o >= 0 ? m->d[o].name : NULL;
	if (e->changed || (now == NULL) != (e->domain == NULL) ||
	    (now && strcmp(now, e->domain) != 0)) {
		mark_dirty_name(m, e->domain);
		mark_dirty_name(m, now);
		free(e->domain);
		e->domain = now ? strdup(now) : NULL;
	}
	if (o < 0) {
		if (e->changed)
			skip_entry(m, e, "mail", "not below any domain and not "
				   "in a known domain");
		return 0;
	}
	struct dom *d = &m->d[o];
	if (d->nmem == d->capmem) {
		size_t ncap = d->capmem ? d->capmem * 2 : 8;
		void *n = realloc(d->members, ncap * sizeof(*d->members));
		if (n == NULL)
			return m->oom = 1;
		d->members = n;
		d->capmem = ncap;
	}
	d->members[d->nmem++] = e;
	if (is_group(e) && (dent_attr(e, "memberURL") != NULL ||
			    dent_attr(e, "mgrpDeliverTo") != NULL))
		d->dynamic = true;
	return 0;
}

/* A changed entry also dirties the domains whose lists name its DN. */
static void
dirty_referrers(struct map *m, const struct strset *changed_dns)
{
	static const char *const refs[] = {
		"uniqueMember", "member", "mgrpAllowedBroadcaster",
		"mgrpModerator",
	};
	char dn[DN_MAX];

	for (size_t i = 0; i < m->nd; i++)
		for (size_t j = 0; j < m->d[i].nmem && !m->d[i].dirty; j++) {
			const struct dent *g = m->d[i].members[j];
			if (!is_group(g))
				continue;
			for (size_t r = 0; r < UTIL_ARRAY_LEN(refs); r++) {
				const struct dent_attr *a = dent_attr(g, refs[r]);
				for (size_t v = 0; a && v < a->nv; v++) {
					const char *s = a->v[v].s;
					if (strncasecmp(s, "ldap:///", 8) == 0)
						s += 8;
					dn_norm(s, dn, sizeof(dn));
					if (set_has(changed_dns, dn))
						m->d[i].dirty = true;
				}
			}
		}
}

/* ------------------------------------------------------------------ */
/* Record generation */

struct gen {
	struct map *m;
	struct dom *d;
	struct sbuf out[TBL_NKINDS];
	struct strset keys[TBL_NKINDS]; /* keys this domain already gave */
};

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
	struct sbuf line; /* "KEY VALUE" without newline */
	size_t klen;
};

static void
rec_start(struct rec *r, enum tbl_kind k, const char *key)
{
	r->kind = k;
	r->line.len = 0;
	sb_str(&r->line, key);
	r->klen = strlen(key);
	sb_str(&r->line, " ");
}

/* Checks the record; returns 0, or -1 with err filled. */
static int
rec_check(const struct rec *r, char *err, size_t errlen)
{
	const char *v = r->line.p + r->klen + 1;
	size_t vlen = r->line.len - r->klen - 1;

	while (vlen > 0 && *v == ' ') {
		v++;
		vlen--;
	}
	if (r->line.oom)
		return snprintf(err, errlen, "out of memory"), -1;
	return tbl_rec_check(r->kind, r->line.p, r->klen, v, vlen, err,
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
		free(p->r[i].line.p);
}

/* Keeps the entry's records, or skips the entry with the reason. */
static void
pend_commit(struct gen *g, const struct dent *e, struct pending *p)
{
	char err[TBL_ERR_MAX];

	for (size_t i = 0; i < p->n; i++)
		if (rec_check(&p->r[i], err, sizeof(err)) < 0) {
			skip_entry(g->m, e, attr_of_field(p->r[i].kind, err),
				   err);
			p->n = 0;
			return;
		}
	for (size_t i = 0; i < p->n; i++) {
		struct rec *r = &p->r[i];
		char key[TBL_ADDR_MAX + 2];
		if (util_copy(key, sizeof(key), r->line.p, r->klen) < 0)
			continue;
		int added = set_add(&g->keys[r->kind], key);
		if (added < 0)
			g->m->oom = 1;
		if (added <= 0) {
			if (added == 0)
				skip_entry(g->m, e, "mail", "address already "
					   "claimed by another entry");
			continue;
		}
		sb_add(&g->out[r->kind], r->line.p, r->line.len);
		sb_str(&g->out[r->kind], "\n");
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
	g->m->st->domains++;
}

/*
 * Whether addr is in the domain (or one of its alias domains). A domain's
 * administrator may write any value into its entries (slapd does not
 * check them), so an address in another domain is never taken from it.
 */
static bool
own_address(const struct dom *d, const char *addr)
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
				skip_entry(g->m, e, attrs[i], "address outside "
					   "the entry's domain ignored");
				g->m->st->skipped--;
				continue;
			}
			struct rec *r = pend_new(p, TBL_ADDRESSES, a);
			if (r != NULL)
				sb_field(&r->line, field, key, strlen(key));
		}
	}
}

static void
add_delivery(struct rec *r, const struct dent *e, struct map *m)
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
			skip_entry(m, e, "mailDeliveryOption", "unknown value "
				   "ignored");
			m->st->skipped--; /* the entry itself is kept */
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
gen_password(struct pending *p, const struct dent *e, const char *key,
	     struct map *m)
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
		skip_entry(m, e, "userPassword", "no supported {SCHEME}; the "
			   "user cannot log in");
		m->st->skipped--;
	}
}

static void
gen_user(struct gen *g, const struct dent *e)
{
	struct pending p = { .n = 0 };
	const char *mail = dent_first(e, "mail");
	char key[TBL_ADDR_MAX + 8];

	if (mail == NULL) {
		skip_entry(g->m, e, "mail", "missing");
		return;
	}
	lower_copy(key, sizeof(key), mail);
	if (!own_address(g->d, key)) {
		skip_entry(g->m, e, "mail", "not an address of the entry's "
			   "domain");
		return;
	}
	struct rec *r = pend_new(&p, TBL_USERS, key);
	add_values(r, e, "inetUserStatus", "status", true, true);
	add_values(r, e, "mailUserStatus", "mailstatus", true, true);
	add_values(r, e, "mailAllowedServiceAccess", "services", false, true);
	add_quota(r, e, "mailQuota", "quota");
	add_quota(r, e, "mailMsgQuota", "msgquota");
	add_values(r, e, "mailHost", "mailhost", true, true);
	add_delivery(r, e, g->m);
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
	gen_password(&p, e, key, g->m);
	size_t before = g->out[TBL_USERS].len;
	pend_commit(g, e, &p);
	if (g->out[TBL_USERS].len != before)
		g->m->st->users++;
	pend_free(&p);
}

/* ------------------------------------------------------------------ */
/* Lists */

struct members {
	struct rec *r;
	struct strset seen;
	const char *field;
};

static int
member_add(void *arg, const char *mail)
{
	struct members *mb = arg;
	char a[TBL_ADDR_MAX + 8];

	lower_copy(a, sizeof(a), mail);
	if (set_add(&mb->seen, a) == 1)
		sb_field(&mb->r->line, mb->field, a, strlen(a));
	return 0;
}

/* The mail of the entry a DN names, or NULL. */
static const char *
mail_of_dn(struct map *m, const char *dn)
{
	char n[DN_MAX];
	long j;

	dn_norm(dn, n, sizeof(n));
	j = map_find(m->dkey, m->dcap, n);
	return j >= 0 ? dent_first(m->dval[j], "mail") : NULL;
}

/*
 * One value that names addresses: a DN, "ldap:///DN", an LDAP URL with a
 * filter (expanded through the directory), "mailto:addr", or an address
 * (Netscape's "addr%Display Name" form too).
 */
static void
add_ref(struct map *m, const struct dent *g, struct members *mb,
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
		    (mail = mail_of_dn(m, rest + 1)) != NULL) {
			member_add(mb, mail);
			return;
		}
		if (m->expand == NULL || m->expand(m->arg, v, member_add, mb) < 0)
			skip_entry(m, g, "memberURL", "URL could not be "
				   "expanded; its members are left out");
		return;
	}
	if (strchr(v, '=') != NULL && strchr(v, '@') == NULL) {
		if ((mail = mail_of_dn(m, v)) != NULL)
			member_add(mb, mail);
		return; /* a member entry without mail receives nothing */
	}
	util_strlcpy(a, v, sizeof(a));
	a[strcspn(a, "%")] = '\0';
	member_add(mb, a);
}

static void
add_refs(struct map *m, const struct dent *g, struct rec *r,
	 const char *const *attrs, size_t nattrs, const char *field)
{
	struct members mb = { .r = r, .field = field };

	for (size_t i = 0; i < nattrs; i++) {
		const struct dent_attr *a = dent_attr(g, attrs[i]);
		for (size_t j = 0; a != NULL && j < a->nv; j++)
			add_ref(m, g, &mb, a->v[j].s);
	}
	set_free(&mb.seen);
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
	const char *mail = dent_first(e, "mail");
	char key[TBL_ADDR_MAX + 8];

	if (mail == NULL) {
		skip_entry(g->m, e, "mail", "missing");
		return;
	}
	lower_copy(key, sizeof(key), mail);
	if (!own_address(g->d, key)) {
		skip_entry(g->m, e, "mail", "not an address of the entry's "
			   "domain");
		return;
	}
	struct rec *r = pend_new(&p, TBL_LISTS, key);
	add_values(r, e, "inetMailGroupStatus", "status", true, true);
	add_delivery(r, e, g->m);
	add_refs(g->m, e, r, members, UTIL_ARRAY_LEN(members), "member");
	add_refs(g->m, e, r, broadcasters, 1, "broadcaster");
	add_refs(g->m, e, r, moderators, 1, "moderator");
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
	size_t before = g->out[TBL_LISTS].len;
	pend_commit(g, e, &p);
	if (g->out[TBL_LISTS].len != before)
		g->m->st->lists++;
	pend_free(&p);
}

/* Regenerates one domain's fragment. */
static int
gen_fragment(struct map *m, struct dom *d)
{
	struct gen g = { .m = m, .d = d };
	struct dcache_frag *f = dcache_frag(m->c, d->name, true);
	int rc = 0;

	if (f == NULL)
		return -1;
	gen_domain(&g);
	for (size_t i = 0; i < d->nmem; i++) {
		if (is_group(d->members[i]))
			gen_list(&g, d->members[i]);
		else
			gen_user(&g, d->members[i]);
	}
	for (int k = 0; k < TBL_NKINDS; k++) {
		if (g.out[k].oom)
			rc = -1;
		free(f->text[k]);
		f->text[k] = g.out[k].p;
		f->len[k] = g.out[k].len;
		set_free(&g.keys[k]);
	}
	f->dirty = false;
	m->st->regenerated++;
	return rc;
}

static int
clear_changed(void *arg, struct dent *e)
{
	struct strset *dns = arg;
	char dn[DN_MAX];

	if (e->changed) {
		dn_norm(e->dn, dn, sizeof(dn));
		set_add(dns, dn);
	}
	e->changed = false;
	return 0;
}

struct stale {
	struct map *m;
};

/* Drops fragments of names that are no longer a domain. */
static int
drop_stale(void *arg, struct dcache_frag *f)
{
	struct map *m = arg;

	if (map_find(m->nkey, m->ncap, f->name) < 0)
		dcache_frag_drop(m->c, f->name);
	return 0;
}

static int
map_alloc(struct map *m, struct dcache *c)
{
	struct counting k = { 0, 0 };

	dcache_each(c, count_one, &k);
	m->capd = k.domains + 1;
	m->bcap = m->ncap = pow2_above(k.domains);
	m->dcap = pow2_above(k.total);
	m->d = calloc(m->capd, sizeof(*m->d));
	m->bkey = calloc(m->bcap, sizeof(char *));
	m->bval = calloc(m->bcap, sizeof(size_t));
	m->nkey = calloc(m->ncap, sizeof(char *));
	m->nval = calloc(m->ncap, sizeof(size_t));
	m->dkey = calloc(m->dcap, sizeof(char *));
	m->dval = calloc(m->dcap, sizeof(struct dent *));
	return m->d && m->bkey && m->bval && m->nkey && m->nval && m->dkey &&
			       m->dval
		       ? 0
		       : -1;
}

int
dmap_update(struct dcache *c, bool all, dmap_expand_fn *expand, void *arg,
	    struct dmap_stats *st)
{
	struct map m = { .c = c, .expand = expand, .arg = arg, .st = st };
	struct strset changed = { 0 };
	int rc = 0;

	memset(st, 0, sizeof(*st));
	if (map_alloc(&m, c) < 0) {
		map_fini(&m);
		return -1;
	}
	dcache_each(c, collect_domain, &m);
	dcache_each(c, index_dn, &m);
	dcache_each(c, assign_one, &m);
	dcache_each(c, clear_changed, &changed);
	for (size_t i = 0; i < c->ngone; i++) {
		char dn[DN_MAX];
		dn_norm(c->gone_dns[i], dn, sizeof(dn));
		set_add(&changed, dn);
		free(c->gone_dns[i]);
	}
	free(c->gone_dns);
	c->gone_dns = NULL;
	c->ngone = 0;
	if (changed.n > 0 && !all) {
		dirty_referrers(&m, &changed);
		for (size_t i = 0; i < m.nd; i++)
			if (m.d[i].dynamic)
				m.d[i].dirty = true;
	}
	dcache_each_frag(c, drop_stale, &m);
	for (size_t i = 0; i < m.nd && rc == 0; i++) {
		struct dcache_frag *f = dcache_frag(c, m.d[i].name, false);
		if (all || m.d[i].dirty || f == NULL || f->dirty)
			rc = gen_fragment(&m, &m.d[i]);
	}
	if (m.oom)
		rc = -1;
	set_free(&changed);
	map_fini(&m);
	return rc;
}

/* ------------------------------------------------------------------ */

struct assembly {
	enum tbl_kind kind;
	const struct dcache_frag **frags;
	size_t n, cap;
};

static int
gather(void *arg, struct dcache_frag *f)
{
	struct assembly *a = arg;

	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 64;
		void *n = realloc(a->frags, ncap * sizeof(*a->frags));
		if (n == NULL)
			return -1;
		a->frags = n;
		a->cap = ncap;
	}
	a->frags[a->n++] = f;
	return 0;
}

static int
by_name(const void *x, const void *y)
{
	const struct dcache_frag *const *a = x, *const *b = y;

	return strcmp((*a)->name, (*b)->name);
}

long
dmap_table_text(struct dcache *c, enum tbl_kind kind, char **out,
		unsigned long *nrec_r)
{
	struct assembly a = { .kind = kind };
	struct strset keys = { 0 };
	struct sbuf b = { 0 };
	char key[TBL_ADDR_MAX + 2];

	*nrec_r = 0;
	if (dcache_each_frag(c, gather, &a) != 0) {
		free(a.frags);
		return -1;
	}
	if (a.n > 1)
		qsort(a.frags, a.n, sizeof(*a.frags), by_name);
	sb_add(&b, "", 0);
	for (size_t i = 0; i < a.n; i++) {
		const char *p = a.frags[i]->text[kind];
		if (p == NULL)
			continue; /* no record of this kind in the domain */
		const char *end = p + a.frags[i]->len[kind];
		while (p != NULL && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			size_t kl = strcspn(p, " \n");
			if (kl > n)
				kl = n;
			if (util_copy(key, sizeof(key), p, kl) == 0 &&
			    set_add(&keys, key) == 1) {
				sb_add(&b, p, n);
				sb_str(&b, "\n");
				(*nrec_r)++;
			} else {
				log_warnx("vdsync: table %s: key '%.*s' given by "
					  "two domains; domain %s's is left "
					  "out", tbl_rec_kind_name(kind),
					  (int)(kl > 200 ? 200 : kl), p,
					  a.frags[i]->name);
			}
			p += n + 1;
		}
	}
	set_free(&keys);
	free(a.frags);
	if (b.oom) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	return (long)b.len;
}

void
dmap_forget(struct dcache *c, const struct dent *e)
{
	struct dcache_frag *f = e->domain ? dcache_frag(c, e->domain, false)
					  : NULL;
	char **n = realloc(c->gone_dns, (c->ngone + 1) * sizeof(*n));

	if (f != NULL)
		f->dirty = true;
	if (n == NULL)
		return;
	c->gone_dns = n;
	if ((n[c->ngone] = strdup(e->dn)) != NULL)
		c->ngone++;
}
