/*
 * dir_cache: the directory cache of the routing-table patent, kept by
 * vdsync: every entry it has seen, keyed by entryUUID (RFC 4533 delete
 * and present notices carry only the UUID), the sync cookie, and per
 * domain the table records last generated from it (so an incremental
 * sync rebuilds only the domains that changed, seed 002 Fig. 7).
 * Persisted as one text file written atomically (temporary file, fsync,
 * rename, fsync of the directory); a file that does not end with its
 * end marker is refused as a whole, never half-read. Single-threaded;
 * blocks on local disk only.
 */
#ifndef VD_DIR_CACHE_H
#define VD_DIR_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdb/tbl_rec.h"
#include "tools/dir_entry.h"

#define DCACHE_COOKIE_MAX 1024

/* The records one domain contributes to each table, one line each. */
struct dcache_frag {
	char *name;                 /* canonical domain */
	char *text[TBL_NKINDS];     /* "KEY VALUE\n" lines, or NULL */
	size_t len[TBL_NKINDS];
	bool dirty;                 /* to be generated again */
	bool seen;                  /* still a domain at the last mapping */
	struct dcache_frag *next;
};

struct dcache {
	struct dent **eh;           /* entries by UUID */
	size_t ecap, nent;
	struct dcache_frag **fh;    /* fragments by domain */
	size_t fcap, nfrag;
	char cookie[DCACHE_COOKIE_MAX];
	uint32_t table_crc[TBL_NKINDS]; /* of the text last written */
	bool have_tables;           /* table_crc is meaningful */
	/* A table whose records changed since it was last written (in
	 * memory only: a saved cache matches the tables in service). */
	bool kind_dirty[TBL_NKINDS];
	char **gone_dns;            /* DNs deleted since the last mapping */
	size_t ngone;
};

int dcache_init(struct dcache *c);
void dcache_fini(struct dcache *c);
/* Drops every entry and fragment (a full refresh starts from nothing). */
void dcache_clear(struct dcache *c);

struct dent *dcache_get(struct dcache *c, const char *uuid);
/* Takes e, replacing (and freeing) an entry with its UUID; the old
 * entry's domain carries over. 0 or -1. */
int dcache_put(struct dcache *c, struct dent *e);
/* Removes and returns the entry (the caller frees it), or NULL. */
struct dent *dcache_take(struct dcache *c, const char *uuid);
/* Calls fn for every entry until it returns non-zero. */
typedef int dcache_each_fn(void *arg, struct dent *e);
int dcache_each(struct dcache *c, dcache_each_fn *fn, void *arg);

/* The fragment of a domain, created empty (and dirty) when create. */
struct dcache_frag *dcache_frag(struct dcache *c, const char *name,
				bool create);
void dcache_frag_drop(struct dcache *c, const char *name);
typedef int dcache_frag_fn(void *arg, struct dcache_frag *f);
int dcache_each_frag(struct dcache *c, dcache_frag_fn *fn, void *arg);

/* 1 loaded, 0 no cache file yet, -1 unreadable or torn (err says). */
int dcache_load(struct dcache *c, const char *path, char *err,
		size_t errlen);
int dcache_save(const struct dcache *c, const char *path, char *err,
		size_t errlen);

#endif
