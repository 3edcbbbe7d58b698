#include "tools/dir_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdb/tbl_build.h"
#include "core/util.h"
#include "tools/strmap.h"

#define DCACHE_MAGIC "V vdsync-cache 1"

int
dcache_init(struct dcache *c)
{
	memset(c, 0, sizeof(*c));
	c->ecap = 1024;
	c->fcap = 256;
	c->eh = calloc(c->ecap, sizeof(*c->eh));
	c->fh = calloc(c->fcap, sizeof(*c->fh));
	if (c->eh == NULL || c->fh == NULL) {
		dcache_fini(c);
		return -1;
	}
	return 0;
}

static void
frag_free(struct dcache_frag *f)
{
	for (int k = 0; k < TBL_NKINDS; k++)
		free(f->text[k]);
	free(f->name);
	free(f);
}

void
dcache_clear(struct dcache *c)
{
	for (size_t i = 0; i < c->ecap; i++)
		while (c->eh[i] != NULL) {
			struct dent *e = c->eh[i];
			c->eh[i] = e->next;
			dent_free(e);
		}
	for (size_t i = 0; i < c->fcap; i++)
		while (c->fh[i] != NULL) {
			struct dcache_frag *f = c->fh[i];
			c->fh[i] = f->next;
			frag_free(f);
		}
	c->nent = c->nfrag = 0;
	c->cookie[0] = '\0';
	for (size_t i = 0; i < c->ngone; i++)
		free(c->gone_dns[i]);
	free(c->gone_dns);
	c->gone_dns = NULL;
	c->ngone = 0;
}

void
dcache_fini(struct dcache *c)
{
	if (c->eh != NULL && c->fh != NULL)
		dcache_clear(c);
	free(c->eh);
	free(c->fh);
	c->eh = NULL;
	c->fh = NULL;
}

/* Doubles the entry table when it is full, so chains stay short. */
static void
grow_entries(struct dcache *c)
{
	size_t ncap = c->ecap * 2;
	struct dent **n = calloc(ncap, sizeof(*n));

	if (n == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < c->ecap; i++)
		while (c->eh[i] != NULL) {
			struct dent *e = c->eh[i];
			c->eh[i] = e->next;
			size_t b = strmap_hash(e->uuid) & (ncap - 1);
			e->next = n[b];
			n[b] = e;
		}
	free(c->eh);
	c->eh = n;
	c->ecap = ncap;
}

struct dent *
dcache_get(struct dcache *c, const char *uuid)
{
	for (struct dent *e = c->eh[strmap_hash(uuid) & (c->ecap - 1)]; e;
	     e = e->next)
		if (strcmp(e->uuid, uuid) == 0)
			return e;
	return NULL;
}

struct dent *
dcache_take(struct dcache *c, const char *uuid)
{
	struct dent **pp = &c->eh[strmap_hash(uuid) & (c->ecap - 1)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->uuid, uuid) == 0) {
			struct dent *e = *pp;
			*pp = e->next;
			e->next = NULL;
			c->nent--;
			return e;
		}
	return NULL;
}

int
dcache_put(struct dcache *c, struct dent *e)
{
	struct dent *old = dcache_take(c, e->uuid);

	if (old != NULL) {
		if (e->domain == NULL) {
			e->domain = old->domain;
			old->domain = NULL;
		}
		dent_free(old);
	}
	if (c->nent >= c->ecap)
		grow_entries(c);
	size_t b = strmap_hash(e->uuid) & (c->ecap - 1);
	e->next = c->eh[b];
	c->eh[b] = e;
	c->nent++;
	return 0;
}

int
dcache_each(struct dcache *c, dcache_each_fn *fn, void *arg)
{
	for (size_t i = 0; i < c->ecap; i++)
		for (struct dent *e = c->eh[i], *n; e != NULL; e = n) {
			n = e->next; /* fn may take e out */
			int rc = fn(arg, e);
			if (rc != 0)
				return rc;
		}
	return 0;
}

static void
grow_frags(struct dcache *c)
{
	size_t ncap = c->fcap * 2;
	struct dcache_frag **n = calloc(ncap, sizeof(*n));

	if (n == NULL)
		return;
	for (size_t i = 0; i < c->fcap; i++)
		while (c->fh[i] != NULL) {
			struct dcache_frag *f = c->fh[i];
			c->fh[i] = f->next;
			size_t b = strmap_hash(f->name) & (ncap - 1);
			f->next = n[b];
			n[b] = f;
		}
	free(c->fh);
	c->fh = n;
	c->fcap = ncap;
}

struct dcache_frag *
dcache_frag(struct dcache *c, const char *name, bool create)
{
	size_t b = strmap_hash(name) & (c->fcap - 1);

	for (struct dcache_frag *f = c->fh[b]; f != NULL; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	if (!create)
		return NULL;
	struct dcache_frag *f = calloc(1, sizeof(*f));
	if (f == NULL || (f->name = strdup(name)) == NULL) {
		free(f);
		return NULL;
	}
	f->dirty = true;
	if (c->nfrag >= c->fcap) {
		grow_frags(c);
		b = strmap_hash(name) & (c->fcap - 1);
	}
	f->next = c->fh[b];
	c->fh[b] = f;
	c->nfrag++;
	return f;
}

void
dcache_frag_drop(struct dcache *c, const char *name)
{
	struct dcache_frag **pp = &c->fh[strmap_hash(name) & (c->fcap - 1)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0) {
			struct dcache_frag *f = *pp;
			*pp = f->next;
			frag_free(f);
			c->nfrag--;
			return;
		}
}

int
dcache_each_frag(struct dcache *c, dcache_frag_fn *fn, void *arg)
{
	for (size_t i = 0; i < c->fcap; i++)
		for (struct dcache_frag *f = c->fh[i], *n; f != NULL; f = n) {
			n = f->next;
			int rc = fn(arg, f);
			if (rc != 0)
				return rc;
		}
	return 0;
}

/*
 * File layout: the magic line; "C cookie" (escaped, "C -" for none);
 * "K crc crc ..." the CRCs of the tables last written; the entries;
 * then per domain "F name" and "R k LINE" record lines; "Z" ends it.
 */
struct saver {
	FILE *f;
};

static int
save_entry(void *arg, struct dent *e)
{
	return dent_write(e, ((struct saver *)arg)->f);
}

static int
save_frag(void *arg, struct dcache_frag *f)
{
	FILE *out = ((struct saver *)arg)->f;

	if (fprintf(out, "F %s\n", f->name) < 0)
		return -1;
	for (int k = 0; k < TBL_NKINDS; k++) {
		const char *p = f->text[k];
		if (p == NULL)
			continue;
		const char *end = p + f->len[k];
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (fprintf(out, "R %d %.*s\n", k, (int)n, p) < 0)
				return -1;
			p += n + 1;
		}
	}
	return 0;
}

int
dcache_save(const struct dcache *c, const char *path, char *err,
	    size_t errlen)
{
	char tmp[1100], ck[DCACHE_COOKIE_MAX * 3 + 4];
	struct saver sv;
	int fd, rc = 0;

	if (util_fmt(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) < 0)
		return snprintf(err, errlen, "cache path too long"), -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (sv.f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (c->cookie[0] == '\0')
		util_strlcpy(ck, "-", sizeof(ck));
	else
		dent_escape(c->cookie, strlen(c->cookie), ck, sizeof(ck));
	fprintf(sv.f, "%s\nC %s\nK %d", DCACHE_MAGIC, ck, c->have_tables);
	for (int k = 0; k < TBL_NKINDS; k++)
		fprintf(sv.f, " %08x", c->table_crc[k]);
	fputc('\n', sv.f);
	/* The cache is walked read-only; the casts keep the iterators generic. */
	if (dcache_each((struct dcache *)c, save_entry, &sv) != 0 ||
	    dcache_each_frag((struct dcache *)c, save_frag, &sv) != 0 ||
	    fputs("Z\n", sv.f) == EOF || fflush(sv.f) != 0 ||
	    fsync(fileno(sv.f)) < 0)
		rc = -1;
	if (fclose(sv.f) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	tbl_build_sync_dir(path);
	return 0;
}

static int
frag_append(struct dcache_frag *f, int k, const char *line, size_t len)
{
	char *n = realloc(f->text[k], f->len[k] + len + 2);

	if (n == NULL)
		return -1;
	memcpy(n + f->len[k], line, len);
	n[f->len[k] + len] = '\n';
	f->text[k] = n;
	f->len[k] += len + 1;
	return 0;
}

static int
load_body(struct dcache *c, FILE *f, char **line, size_t *cap)
{
	struct dent *e;
	struct dcache_frag *fr = NULL;
	int rc;

	while ((rc = dent_read(f, line, cap, &e)) > 0)
		dcache_put(c, e);
	if (rc < 0)
		return -1;
	/* dent_read left the first line after the entries in *line. */
	for (;;) {
		char *l = *line;
		size_t n = strlen(l);
		if (strcmp(l, "Z") == 0)
			return 0;
		if (strncmp(l, "F ", 2) == 0) {
			if ((fr = dcache_frag(c, l + 2, true)) == NULL)
				return -1;
			fr->dirty = false;
		} else if (strncmp(l, "R ", 2) == 0 && n > 4 && fr != NULL &&
			   l[2] >= '0' && l[2] < '0' + TBL_NKINDS && l[3] == ' ') {
			if (frag_append(fr, l[2] - '0', l + 4, n - 4) < 0)
				return -1;
		} else {
			return -1;
		}
		ssize_t got = getline(line, cap, f);
		if (got <= 0)
			return -1; /* no end marker: torn */
		if ((*line)[got - 1] == '\n')
			(*line)[got - 1] = '\0';
	}
}

static int
load_head(struct dcache *c, FILE *f, char **line, size_t *cap)
{
	ssize_t n;
	int have;
	char *p;

	if ((n = getline(line, cap, f)) <= 0 ||
	    strcmp(*line, DCACHE_MAGIC "\n") != 0)
		return -1;
	if ((n = getline(line, cap, f)) <= 2 || strncmp(*line, "C ", 2) != 0)
		return -1;
	(*line)[n - 1] = '\0';
	if (strcmp(*line + 2, "-") != 0) {
		char *s = *line + 2, *o = c->cookie;
		for (; *s && o < c->cookie + sizeof(c->cookie) - 1; s++) {
			int hi, lo;
			if (*s == '%' && (hi = util_hexval(s[1])) >= 0 &&
			    (lo = util_hexval(s[2])) >= 0) {
				*o++ = (char)(hi * 16 + lo);
				s += 2;
			} else {
				*o++ = *s;
			}
		}
		*o = '\0';
	}
	if (getline(line, cap, f) <= 2 || strncmp(*line, "K ", 2) != 0)
		return -1;
	have = (int)strtol(*line + 2, &p, 10);
	for (int k = 0; k < TBL_NKINDS; k++)
		c->table_crc[k] = (uint32_t)strtoul(p, &p, 16);
	c->have_tables = have == 1;
	return 0;
}

int
dcache_load(struct dcache *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	int rc;

	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	dcache_clear(c);
	rc = load_head(c, f, &line, &cap) < 0 ? -1
	     : load_body(c, f, &line, &cap);
	free(line);
	fclose(f);
	if (rc < 0) {
		dcache_clear(c);
		c->have_tables = false;
		snprintf(err, errlen, "%s: malformed or torn cache file", path);
		return -1;
	}
	return 1;
}
