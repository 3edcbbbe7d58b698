/*
 * tbl: the lookup API over the CDB tables (domains, addresses, users,
 * passwords), our layer over tinycdb (which owns the cdb_ prefix).
 * Owns the open table files. Lookups lower-case the key, copy the decoded
 * record into the caller's struct and keep no pointer into the mmap, so a
 * reopen never leaves anything dangling.
 * tbl_set_refresh() notices a table replaced by rename (or rewritten) and
 * swaps it in after validating every record; a table that fails keeps the
 * previous one in service and logs once per failed file.
 * Blocks only on bounded local disk work (stat, open, mmap).
 * Lookups return 1 found, 0 not found, -1 broken record or I/O (logged).
 */
#ifndef VD_TBL_H
#define VD_TBL_H

#include <cdb.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "cdb/tbl_rec.h"

#define TBL_FILE_PATH_MAX 1024

struct tbl {
	enum tbl_kind kind;
	char path[TBL_FILE_PATH_MAX];
	int fd; /* -1: nothing in service */
	struct cdb cdb;
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
	/* Identity of the last file that failed, so it is logged once. */
	dev_t bad_dev;
	ino_t bad_ino;
	struct timespec bad_mtime;
};

struct tbl_set {
	struct tbl t[TBL_NKINDS];
	unsigned mask; /* which kinds this set serves */
};

#define TBL_MASK(kind) (1u << (kind))
#define TBL_MASK_SERVER                                                     \
	(TBL_MASK(TBL_DOMAINS) | TBL_MASK(TBL_ADDRESSES) | TBL_MASK(TBL_USERS) | \
	 TBL_MASK(TBL_LISTS) | TBL_MASK(TBL_ROUTES))
/* Tables that may be absent (a directory without lists): empty until the
 * file appears, then taken like any replaced table. */
#define TBL_MASK_OPTIONAL (TBL_MASK(TBL_LISTS) | TBL_MASK(TBL_ROUTES))

/*
 * Opens DIR/<kind>.cdb for each kind in mask. Returns 0, or -1 with a
 * message in err when a table is missing (and not optional) or invalid
 * (nothing stays open).
 */
int tbl_set_open(struct tbl_set *s, const char *dir, unsigned mask,
		 char *err, size_t errlen);
void tbl_set_close(struct tbl_set *s);

/*
 * Swaps in any table whose file changed since it was opened. Returns the
 * number of tables reopened. Never fails: problems are logged and the
 * previous table stays in service.
 */
int tbl_set_refresh(struct tbl_set *s);

/*
 * Opens and fully validates one table file (every key and record). On
 * success fills t (closing what t held before) and returns 0; otherwise
 * returns -1 with a message naming the record in err and leaves t as it was.
 */
int tbl_load(struct tbl *t, enum tbl_kind kind, const char *path, char *err,
	     size_t errlen);
void tbl_close(struct tbl *t);

/*
 * Calls fn for every record of an open cdb, in file order, until fn
 * returns non-zero. Returns 0, fn's non-zero value, or -1 when the file is
 * corrupt (tinycdb checks every offset against the file size).
 */
typedef int tbl_each_fn(void *arg, const char *k, unsigned klen,
			const char *v, unsigned vlen);
int tbl_each(struct cdb *c, tbl_each_fn *fn, void *arg);

int tbl_lookup_domain(struct tbl_set *s, const char *name, size_t len,
		      struct tbl_domain *r);
int tbl_lookup_address(struct tbl_set *s, const char *addr, size_t len,
		       struct tbl_address *r);
int tbl_lookup_user(struct tbl_set *s, const char *login, size_t len,
		    struct tbl_user *r);
int tbl_lookup_route(struct tbl_set *s, const char *name, size_t len,
		     struct tbl_route *r);
/*
 * Decodes the list record of addr into r; when fn is not NULL, calls it
 * with each value of field f before returning (fn's non-zero stops it).
 */
int tbl_lookup_list(struct tbl_set *s, const char *addr, size_t len,
		    struct tbl_list *r, enum tbl_list_field f,
		    tbl_rec_each_fn *fn, void *arg);
/* Copies the raw {SCHEME}hash of login into r (auth workers only). */
int tbl_lookup_password(struct tbl_set *s, const char *login, size_t len,
			char *r, size_t rlen);

#endif
