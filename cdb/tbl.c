#include "cdb/tbl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define TBL_KEY_MAX 512

static bool
same_file(const struct stat *st, dev_t dev, ino_t ino, struct timespec mt,
	  off_t size)
{
	return st->st_dev == dev && st->st_ino == ino &&
	       st->st_mtim.tv_sec == mt.tv_sec &&
	       st->st_mtim.tv_nsec == mt.tv_nsec && st->st_size == size;
}

int
tbl_each(struct cdb *c, tbl_each_fn *fn, void *arg)
{
	unsigned pos;
	int rc;

	cdb_seqinit(&pos, c);
	while ((rc = cdb_seqnext(&pos, c)) > 0) {
		const char *k = cdb_getkey(c), *v = cdb_getdata(c);
		if (k == NULL || v == NULL)
			return -1;
		rc = fn(arg, k, cdb_keylen(c), v, cdb_datalen(c));
		if (rc != 0)
			return rc;
	}
	return rc < 0 ? -1 : 0;
}

struct validation {
	enum tbl_kind kind;
	const char *path;
	char *err;
	size_t errlen;
};

static int
validate_one(void *arg, const char *k, unsigned kl, const char *v,
	     unsigned vl)
{
	struct validation *w = arg;
	char why[TBL_ERR_MAX], key[128];

	if (tbl_rec_check(w->kind, k, kl, v, vl, why, sizeof(why)) == 0)
		return 0;
	util_log_escape(key, sizeof(key), k, kl);
	snprintf(w->err, w->errlen, "%s: key '%s': %s", w->path, key, why);
	return 1;
}

/* Every record must decode: a table is taken whole or not at all. */
static int
validate(struct cdb *c, enum tbl_kind kind, const char *path, char *err,
	 size_t errlen)
{
	struct validation w = { kind, path, err, errlen };
	int rc = tbl_each(c, validate_one, &w);

	if (rc < 0)
		snprintf(err, errlen, "%s: corrupt file", path);
	return rc == 0 ? 0 : -1;
}

int
tbl_load(struct tbl *t, enum tbl_kind kind, const char *path, char *err,
	 size_t errlen)
{
	struct stat st;
	struct cdb c;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || cdb_init(&c, fd) < 0) {
		snprintf(err, errlen, "%s: not a cdb file (%s)", path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (validate(&c, kind, path, err, errlen) < 0) {
		cdb_free(&c);
		close(fd);
		return -1;
	}
	tbl_close(t);
	t->kind = kind;
	if (path != t->path)
		util_strlcpy(t->path, path, sizeof(t->path));
	t->fd = fd;
	t->cdb = c;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->mtime = st.st_mtim;
	t->size = st.st_size;
	return 0;
}

void
tbl_close(struct tbl *t)
{
	if (t->fd >= 0) {
		cdb_free(&t->cdb);
		close(t->fd);
	}
	t->fd = -1;
}

int
tbl_set_open(struct tbl_set *s, const char *dir, unsigned mask, char *err,
	     size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->mask = mask;
	for (int k = 0; k < TBL_NKINDS; k++) {
		struct tbl *t = &s->t[k];
		char path[TBL_FILE_PATH_MAX];

		t->fd = -1;
		t->kind = (enum tbl_kind)k;
		if (!(mask & TBL_MASK(k)))
			continue;
		if (util_fmt(path, sizeof(path), "%s/%s.cdb", dir,
			     tbl_rec_kind_name(t->kind)) < 0) {
			snprintf(err, errlen, "table directory path too long");
			tbl_set_close(s);
			return -1;
		}
		util_strlcpy(t->path, path, sizeof(t->path));
		if ((TBL_MASK(k) & TBL_MASK_OPTIONAL) && access(path, F_OK) < 0 &&
		    errno == ENOENT)
			continue;
		if (tbl_load(t, t->kind, path, err, errlen) < 0) {
			tbl_set_close(s);
			return -1;
		}
	}
	return 0;
}

void
tbl_set_close(struct tbl_set *s)
{
	for (int k = 0; k < TBL_NKINDS; k++)
		tbl_close(&s->t[k]);
}

static int
refresh_one(struct tbl *t)
{
	char err[512];
	struct stat st;

	if (stat(t->path, &st) < 0) {
		if (t->fd < 0)
			return 0; /* an optional table that is not there yet */
		if (t->bad_ino != 1)
			log_warn("table %s: keeping the table in service",
				 t->path);
		t->bad_ino = 1; /* no real inode is 1 on our file systems */
		return 0;
	}
	if (same_file(&st, t->dev, t->ino, t->mtime, t->size))
		return 0;
	if (st.st_dev == t->bad_dev && st.st_ino == t->bad_ino &&
	    st.st_mtim.tv_sec == t->bad_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == t->bad_mtime.tv_nsec)
		return 0;
	if (tbl_load(t, t->kind, t->path, err, sizeof(err)) < 0) {
		log_warnx("table %s: new file rejected, previous table stays "
			  "in service: %s", tbl_rec_kind_name(t->kind), err);
		t->bad_dev = st.st_dev;
		t->bad_ino = st.st_ino;
		t->bad_mtime = st.st_mtim;
		return 0;
	}
	t->bad_dev = 0;
	t->bad_ino = 0;
	log_info("table %s: reloaded %s", tbl_rec_kind_name(t->kind),
		 t->path);
	return 1;
}

int
tbl_set_refresh(struct tbl_set *s)
{
	int n = 0;

	for (int k = 0; k < TBL_NKINDS; k++)
		if ((s->mask & TBL_MASK(k)) &&
		    (s->t[k].fd >= 0 || (TBL_MASK(k) & TBL_MASK_OPTIONAL)))
			n += refresh_one(&s->t[k]);
	return n;
}

/*
 * Finds key (lower-cased) and returns a pointer into the mmap and its
 * length; the caller decodes before anything can reopen the table.
 */
static int
find(struct tbl_set *s, enum tbl_kind kind, const char *key, size_t len,
     const char **v_r, unsigned *vlen_r)
{
	struct tbl *t = &s->t[kind];
	char k[TBL_KEY_MAX], esc[128];
	int rc;

	if (t->fd < 0 || len == 0 || len >= sizeof(k))
		return 0;
	memcpy(k, key, len);
	util_lower(k, len);
	rc = cdb_find(&t->cdb, k, (unsigned)len);
	if (rc <= 0) {
		if (rc < 0) {
			util_log_escape(esc, sizeof(esc), k, len);
			log_warn("table %s: lookup '%s'",
				 tbl_rec_kind_name(kind), esc);
		}
		return rc;
	}
	*v_r = cdb_get(&t->cdb, cdb_datalen(&t->cdb), cdb_datapos(&t->cdb));
	*vlen_r = cdb_datalen(&t->cdb);
	if (*v_r == NULL) {
		util_log_escape(esc, sizeof(esc), k, len);
		log_warnx("table %s: key '%s': record out of bounds",
			  tbl_rec_kind_name(kind), esc);
		return -1;
	}
	return 1;
}

/* Finds key and decodes its record into r; logs a broken record. */
static int
lookup(struct tbl_set *s, enum tbl_kind kind, const char *key, size_t len,
       void *r, size_t rlen)
{
	char err[TBL_ERR_MAX], esc[128];
	const char *v;
	unsigned vl;
	int rc = find(s, kind, key, len, &v, &vl);

	if (rc <= 0)
		return rc;
	switch (kind) {
	case TBL_DOMAINS:
		rc = tbl_rec_decode_domain(v, vl, r, err, sizeof(err));
		break;
	case TBL_ADDRESSES:
		rc = tbl_rec_decode_address(v, vl, r, err, sizeof(err));
		break;
	case TBL_USERS:
		rc = tbl_rec_decode_user(v, vl, r, err, sizeof(err));
		break;
	case TBL_LISTS:
		rc = tbl_rec_decode_list(v, vl, r, err, sizeof(err));
		break;
	case TBL_ROUTES:
		rc = tbl_rec_decode_route(v, vl, r, err, sizeof(err));
		break;
	default:
		rc = tbl_rec_decode_password(v, vl, r, rlen, err, sizeof(err));
		break;
	}
	if (rc == 0)
		return 1;
	util_log_escape(esc, sizeof(esc), key, len);
	log_warnx("table %s: key '%s': %s", tbl_rec_kind_name(kind), esc, err);
	return -1;
}

int
tbl_lookup_domain(struct tbl_set *s, const char *name, size_t len,
		  struct tbl_domain *r)
{
	return lookup(s, TBL_DOMAINS, name, len, r, sizeof(*r));
}

int
tbl_lookup_address(struct tbl_set *s, const char *addr, size_t len,
		   struct tbl_address *r)
{
	return lookup(s, TBL_ADDRESSES, addr, len, r, sizeof(*r));
}

int
tbl_lookup_user(struct tbl_set *s, const char *login, size_t len,
		struct tbl_user *r)
{
	return lookup(s, TBL_USERS, login, len, r, sizeof(*r));
}

int
tbl_lookup_password(struct tbl_set *s, const char *login, size_t len, char *r,
		    size_t rlen)
{
	return lookup(s, TBL_PASSWORDS, login, len, r, rlen);
}

int
tbl_lookup_route(struct tbl_set *s, const char *name, size_t len,
		 struct tbl_route *r)
{
	return lookup(s, TBL_ROUTES, name, len, r, sizeof(*r));
}

int
tbl_lookup_list(struct tbl_set *s, const char *addr, size_t len,
		struct tbl_list *r, enum tbl_list_field f, tbl_rec_each_fn *fn,
		void *arg)
{
	const char *v;
	unsigned vl;
	int rc = lookup(s, TBL_LISTS, addr, len, r, sizeof(*r));

	if (rc <= 0 || fn == NULL)
		return rc;
	/* The record decoded just now; nothing can reopen the table here. */
	if (find(s, TBL_LISTS, addr, len, &v, &vl) <= 0)
		return -1;
	tbl_rec_list_each(v, vl, f, fn, arg);
	return 1;
}
