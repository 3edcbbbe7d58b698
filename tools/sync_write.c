#include "tools/sync_write.h"

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdb/tbl.h"
#include "cdb/tbl_build.h"
#include "core/log.h"
#include "core/util.h"
#include "tools/dir_map.h"

#define PATH_MAX_ 1200

/* The order tables are put in service: targets before what points at them. */
static const enum tbl_kind order[TBL_NKINDS] = {
	TBL_USERS, TBL_LISTS, TBL_PASSWORDS, TBL_ROUTES, TBL_ADDRESSES,
	TBL_DOMAINS,
};

struct pending_tbl {
	bool changed;
	uint32_t crc;
	unsigned long nrec;
	char txt[PATH_MAX_], txt_tmp[PATH_MAX_], cdb[PATH_MAX_],
		cdb_new[PATH_MAX_];
};

static int
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t off = 0;

	if (fd < 0)
		return -1;
	fchmod(fd, mode);
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

struct counter {
	struct cdb *newer;
	unsigned long old, removed;
};

static int
count_removed(void *arg, const char *k, unsigned kl, const char *v,
	      unsigned vl)
{
	struct counter *c = arg;

	(void)v;
	(void)vl;
	c->old++;
	if (c->newer == NULL || cdb_find(c->newer, k, kl) <= 0)
		c->removed++;
	return 0;
}

/* Keys of the table in service that the new one lacks: -1 on error. */
static int
shrinkage(const char *cur, const char *next, unsigned long *old_r,
	  unsigned long *removed_r)
{
	struct cdb a, b;
	int fa = open(cur, O_RDONLY | O_CLOEXEC), fb;
	struct counter cnt = { 0 };

	*old_r = *removed_r = 0;
	if (fa < 0)
		return errno == ENOENT ? 0 : -1;
	fb = open(next, O_RDONLY | O_CLOEXEC);
	if (fb < 0 || cdb_init(&a, fa) < 0) {
		close(fa);
		if (fb >= 0)
			close(fb);
		return -1;
	}
	if (cdb_init(&b, fb) < 0) {
		cdb_free(&a);
		close(fa);
		close(fb);
		return -1;
	}
	cnt.newer = &b;
	int rc = tbl_each(&a, count_removed, &cnt);
	cdb_free(&a);
	cdb_free(&b);
	close(fa);
	close(fb);
	*old_r = cnt.old;
	*removed_r = cnt.removed;
	return rc < 0 ? -1 : 0;
}

static int
prepare(struct dcache *c, const struct sync_cfg *cfg, enum tbl_kind k,
	struct pending_tbl *p)
{
	const char *name = tbl_rec_kind_name(k);
	char *text = NULL;
	long len;

	if (util_fmt(p->txt, sizeof(p->txt), "%s/%s.txt", cfg->state_dir,
		     name) < 0 ||
	    util_fmt(p->txt_tmp, sizeof(p->txt_tmp), "%s.tmp", p->txt) < 0 ||
	    util_fmt(p->cdb, sizeof(p->cdb), "%s/%s.cdb", cfg->table_dir,
		     name) < 0 ||
	    util_fmt(p->cdb_new, sizeof(p->cdb_new), "%s.new", p->cdb) < 0)
		return -1;
	/* No regenerated domain changed this table's records: skip it whole. */
	if (c->have_tables && !c->kind_dirty[k] && access(p->cdb, F_OK) == 0)
		return 0;
	if ((len = dmap_table_text(c, k, &text, &p->nrec)) < 0) {
		log_warnx("vdsync: table %s: out of memory", name);
		return -1;
	}
	p->crc = util_crc32(0, text, (size_t)len);
	p->changed = !c->have_tables || c->table_crc[k] != p->crc ||
		     access(p->cdb, F_OK) != 0;
	if (!p->changed) {
		c->kind_dirty[k] = false; /* regenerated to the same records */
		free(text);
		return 0;
	}
	int rc = write_file(p->txt_tmp, text, (size_t)len,
			    k == TBL_PASSWORDS ? 0600 : 0644);
	free(text);
	if (rc < 0) {
		log_warn("vdsync: %s", p->txt_tmp);
		return -1;
	}
	/* The records were checked one by one; this checks them as a table. */
	if (tbl_build_text(k, p->txt_tmp, p->cdb_new, stderr) != 0) {
		log_warnx("vdsync: table %s: could not be built", name);
		return -1;
	}
	return 0;
}

static bool
guard_refuses(const struct sync_cfg *cfg, enum tbl_kind k,
	      const struct pending_tbl *p)
{
	unsigned long old, removed;

	if (shrinkage(p->cdb, p->cdb_new, &old, &removed) < 0) {
		log_warn("vdsync: table %s: cannot compare with %s",
			 tbl_rec_kind_name(k), p->cdb);
		return true;
	}
	if (removed <= cfg->shrink_min ||
	    (double)removed <= cfg->shrink_limit * (double)old)
		return false;
	log_warnx("vdsync: table %s: would remove %lu of %lu entries (more "
		  "than %.0f%%): refused, the tables in service stay; check "
		  "base and filter, or run with --force",
		  tbl_rec_kind_name(k), removed, old, cfg->shrink_limit * 100);
	return true;
}

static void
discard(struct pending_tbl *p)
{
	for (int i = 0; i < TBL_NKINDS; i++)
		if (p[i].changed) {
			unlink(p[i].cdb_new);
			unlink(p[i].txt_tmp);
		}
}

int
sync_write_tables(struct dcache *c, const struct sync_cfg *cfg, bool force,
		  unsigned *written_r)
{
	struct pending_tbl p[TBL_NKINDS];
	bool refused = false;

	*written_r = 0;
	memset(p, 0, sizeof(p));
	for (int i = 0; i < TBL_NKINDS; i++)
		if (prepare(c, cfg, (enum tbl_kind)i, &p[i]) < 0) {
			discard(p);
			return -1;
		}
	for (int i = 0; i < TBL_NKINDS && !force; i++)
		if (p[i].changed && guard_refuses(cfg, (enum tbl_kind)i, &p[i]))
			refused = true;
	if (refused) {
		discard(p);
		return 1;
	}
	for (int i = 0; i < TBL_NKINDS; i++) {
		enum tbl_kind k = order[i];
		if (!p[k].changed)
			continue;
		if (rename(p[k].cdb_new, p[k].cdb) < 0 ||
		    rename(p[k].txt_tmp, p[k].txt) < 0) {
			log_warn("vdsync: table %s: rename",
				 tbl_rec_kind_name(k));
			discard(p);
			return -1;
		}
		tbl_build_sync_dir(p[k].cdb);
		c->table_crc[k] = p[k].crc;
		c->kind_dirty[k] = false;
		log_info("vdsync: table %s: %lu records in service",
			 tbl_rec_kind_name(k), p[k].nrec);
		(*written_r)++;
		p[k].changed = false;
	}
	tbl_build_sync_dir(p[0].txt);
	c->have_tables = true;
	return 0;
}
