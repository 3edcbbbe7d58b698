#include "tools/dir_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "tools/dir_gen.h"
#include "tools/strmap.h"

#define DN_MAX 1024


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
	dent_dn_norm(e->dn, dn, sizeof(dn));
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
	struct dom *d;         /* never reallocated: the indexes point in */
	size_t nd, capd;
	struct strmap bases;   /* normalized base DN -> struct dom */
	struct strmap names;   /* canonical name -> struct dom */
	struct strmap dns;     /* normalized DN -> struct dent */
	struct dgen_ctx gen;
	struct dmap_stats *st;
	bool schema1_pass;     /* collecting DC-tree nodes (Schema 1) */
	int oom;
};

static void
map_fini(struct map *m)
{
	for (size_t i = 0; i < m->nd; i++)
		free(m->d[i].members);
	free(m->d);
	strmap_free(&m->bases);
	strmap_free(&m->names);
	strmap_free(&m->dns);
}

/* Finds the domain entries and indexes their names and base DNs. */
static int
collect_domain(void *arg, struct dent *e)
{
	struct map *m = arg;
	char name[TBL_DOMAIN_MAX], base[DN_MAX];

	/* Schema 2 nodes first, so a DC-tree index node meets its domain. */
	if (!dgen_is(e, DGEN_DOMAIN) || m->nd == m->capd ||
	    dent_has_class(e, "sunManagedOrganization") == m->schema1_pass)
		return 0;
	if (domain_name(e, name, sizeof(name)) < 0) {
		dgen_skip(m->st, e, "sunPreferredDomain", "no domain name");
		return 0;
	}
	util_lower(name, strlen(name));
	if (!tbl_rec_is_domain(name, strlen(name))) {
		dgen_skip(m->st, e, "sunPreferredDomain", "not a domain name");
		return 0;
	}
	const char *b = dent_first(e, "inetDomainBaseDN");
	dent_dn_norm(b ? b : e->dn, base, sizeof(base));
	struct dom *same = strmap_get(&m->names, name);
	if (same != NULL) {
		/* Sun's compatibility layout: a DC node pointing at the domain. */
		if (m->schema1_pass && strmap_get(&m->bases, base) == same)
			return 0;
		dgen_skip(m->st, e, "sunPreferredDomain",
			  "domain name already used by another entry");
		return 0;
	}
	struct dom *d = &m->d[m->nd];
	memset(d, 0, sizeof(*d));
	util_strlcpy(d->name, name, sizeof(d->name));
	d->e = e;
	if (strmap_put(&m->names, name, d) < 0 ||
	    strmap_put(&m->bases, base, d) < 0)
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

	dent_dn_norm(e->dn, dn, sizeof(dn));
	if (strmap_put(&m->dns, dn, e) < 0)
		m->oom = 1;
	return 0;
}

static const struct dent *
by_dn(void *arg, const char *dn)
{
	struct map *m = arg;
	char n[DN_MAX];

	dent_dn_norm(dn, n, sizeof(n));
	return strmap_get(&m->dns, n);
}

/* The domain an entry belongs to: nearest base DN above, else its mail. */
static struct dom *
owner_of(struct map *m, const struct dent *e)
{
	char dn[DN_MAX];
	struct dom *d;

	dent_dn_norm(e->dn, dn, sizeof(dn));
	for (char *p = dn; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if ((d = strmap_get(&m->bases, p)) != NULL)
			return d;
	}
	const char *mail = dent_first(e, "mail"), *at;
	if (mail != NULL && (at = strrchr(mail, '@')) != NULL) {
		char dom[TBL_DOMAIN_MAX];
		lower_copy(dom, sizeof(dom), at + 1);
		return strmap_get(&m->names, dom);
	}
	return NULL;
}

static void
mark_dirty_name(struct map *m, const char *name)
{
	struct dom *d = name ? strmap_get(&m->names, name) : NULL;
	struct dcache_frag *f = name ? dcache_frag(m->c, name, false) : NULL;

	if (d != NULL)
		d->dirty = true;
	if (f != NULL)
		f->dirty = true;
}

static int
assign_one(void *arg, struct dent *e)
{
	struct map *m = arg;

	if (dgen_is(e, DGEN_DOMAIN) || !(dgen_is(e, DGEN_USER) || dgen_is(e, DGEN_GROUP)))
		return 0;
	struct dom *d = owner_of(m, e);
	const char *now = d != NULL ? d->name : NULL;
	if (e->changed || (now == NULL) != (e->domain == NULL) ||
	    (now && strcmp(now, e->domain) != 0)) {
		mark_dirty_name(m, e->domain);
		mark_dirty_name(m, now);
		free(e->domain);
		e->domain = now ? strdup(now) : NULL;
	}
	if (d == NULL) {
		if (e->changed)
			dgen_skip(m->st, e, "mail", "not below any domain and "
				  "not in a known domain");
		return 0;
	}
	if (d->nmem == d->capmem) {
		size_t ncap = d->capmem ? d->capmem * 2 : 8;
		void *n = realloc(d->members, ncap * sizeof(*d->members));
		if (n == NULL)
			return m->oom = 1;
		d->members = n;
		d->capmem = ncap;
	}
	d->members[d->nmem++] = e;
	if (dgen_is(e, DGEN_GROUP) && (dent_attr(e, "memberURL") != NULL ||
			    dent_attr(e, "mgrpDeliverTo") != NULL))
		d->dynamic = true;
	return 0;
}

/* Whether a list names one of the DNs (as a DN or an ldap:/// URL). */
static bool
names_any(const struct dent *g, const struct strmap *dns)
{
	static const char *const refs[] = {
		"uniqueMember", "member", "mgrpAllowedBroadcaster",
		"mgrpModerator",
	};
	char dn[DN_MAX];

	for (size_t r = 0; r < UTIL_ARRAY_LEN(refs); r++) {
		const struct dent_attr *a = dent_attr(g, refs[r]);
		for (size_t v = 0; a != NULL && v < a->nv; v++) {
			const char *s = a->v[v].s;
			if (strncasecmp(s, "ldap:///", 8) == 0)
				s += 8;
			dent_dn_norm(s, dn, sizeof(dn));
			if (strmap_has(dns, dn))
				return true;
		}
	}
	return false;
}

/* A changed entry also dirties the domains whose lists name its DN. */
static void
dirty_referrers(struct map *m, const struct strmap *changed_dns)
{
	for (size_t i = 0; i < m->nd; i++)
		for (size_t j = 0; j < m->d[i].nmem && !m->d[i].dirty; j++)
			if (dgen_is(m->d[i].members[j], DGEN_GROUP) &&
			    names_any(m->d[i].members[j], changed_dns))
				m->d[i].dirty = true;
}

/* Regenerates one domain's fragment. */
static int
gen_fragment(struct map *m, struct dom *d)
{
	struct dgen_domain gd = { d->name, d->e, d->members, d->nmem };
	struct dcache_frag *f = dcache_frag(m->c, d->name, true);
	struct buf out[TBL_NKINDS];

	if (f == NULL)
		return -1;
	int rc = dgen_domain(&m->gen, &gd, out);
	for (int k = 0; k < TBL_NKINDS; k++) {
		if (out[k].len != f->len[k] ||
		    (out[k].len && memcmp(out[k].p, f->text[k], out[k].len)))
			m->c->kind_dirty[k] = true;
		free(f->text[k]);
		/* Appends only: the data starts at p, which becomes the text. */
		f->text[k] = out[k].p;
		f->len[k] = out[k].len;
	}
	f->dirty = false;
	m->st->regenerated++;
	return rc;
}

static int
clear_changed(void *arg, struct dent *e)
{
	struct strmap *dns = arg;
	char dn[DN_MAX];

	if (e->changed) {
		dent_dn_norm(e->dn, dn, sizeof(dn));
		strmap_put(dns, dn, NULL);
	}
	e->changed = false;
	return 0;
}

/* Drops fragments of names that are no longer a domain. */
static int
drop_stale(void *arg, struct dcache_frag *f)
{
	struct map *m = arg;

	if (strmap_has(&m->names, f->name))
		return 0;
	for (int k = 0; k < TBL_NKINDS; k++)
		if (f->len[k] > 0)
			m->c->kind_dirty[k] = true;
	dcache_frag_drop(m->c, f->name);
	return 0;
}

/* Classifies each entry once (a changed entry is a new struct dent). */
static int
count_one(void *arg, struct dent *e)
{
	if (e->kind == 0)
		e->kind = (unsigned char)dgen_classify(e);
	if (dgen_is(e, DGEN_DOMAIN))
		(*(size_t *)arg)++;
	return 0;
}

static size_t
count_domains(struct dcache *c)
{
	size_t n = 0;

	dcache_each(c, count_one, &n);
	return n;
}

/* The DNs of entries that changed or left since the last mapping. */
static void
take_changes(struct dcache *c, struct strmap *changed)
{
	dcache_each(c, clear_changed, changed);
	for (size_t i = 0; i < c->ngone; i++) {
		char dn[DN_MAX];
		dent_dn_norm(c->gone_dns[i], dn, sizeof(dn));
		strmap_put(changed, dn, NULL);
		free(c->gone_dns[i]);
	}
	free(c->gone_dns);
	c->gone_dns = NULL;
	c->ngone = 0;
}

int
dmap_update(struct dcache *c, bool all, dmap_expand_fn *expand, void *arg,
	    struct dmap_stats *st)
{
	struct map m = { .c = c, .st = st };
	struct strmap changed = { 0 };
	int rc = 0;

	memset(st, 0, sizeof(*st));
	m.gen = (struct dgen_ctx){ by_dn, &m, expand, arg, st };
	m.capd = count_domains(c) + 1;
	if ((m.d = calloc(m.capd, sizeof(*m.d))) == NULL)
		return -1;
	dcache_each(c, collect_domain, &m);
	m.schema1_pass = true;
	dcache_each(c, collect_domain, &m);
	dcache_each(c, index_dn, &m);
	dcache_each(c, assign_one, &m);
	take_changes(c, &changed);
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
	strmap_free(&changed);
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
	struct strmap keys = { 0 };
	struct buf b;
	int oom = 0;
	char key[TBL_ADDR_MAX + 2];

	*nrec_r = 0;
	buf_init(&b, (size_t)1 << 40);
	if (dcache_each_frag(c, gather, &a) != 0) {
		free(a.frags);
		return -1;
	}
	if (a.n > 1)
		qsort(a.frags, a.n, sizeof(*a.frags), by_name);
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
			    strmap_put(&keys, key, NULL) == 1) {
				if (buf_append(&b, p, n + 1) < 0)
					oom = 1; /* n + 1: its newline */
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
	strmap_free(&keys);
	free(a.frags);
	if (oom || buf_append(&b, "", 1) < 0) { /* NUL: *out is a string */
		buf_free(&b);
		return -1;
	}
	*out = b.p;
	return (long)b.len - 1;
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
