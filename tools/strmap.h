/*
 * strmap: a string-keyed hash map (open addressing, FNV-1a), growing as
 * it fills; keys are copied and owned, values are the caller's pointers
 * (NULL allowed: then it is a set). Used by vdsync for its indexes (DNs,
 * base DNs, domain names) and to deduplicate keys and members.
 * No I/O, no global state; every call is O(1) on average.
 */
#ifndef VD_STRMAP_H
#define VD_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap {
	char **key;
	void **val;
	size_t cap, n;
};

uint32_t strmap_hash(const char *s);

/* Adds k -> v when k is new: 1 added, 0 already there (kept), -1 no memory. */
int strmap_put(struct strmap *m, const char *k, void *v);
bool strmap_has(const struct strmap *m, const char *k);
/* The value of k, or NULL (absent, or stored as NULL). */
void *strmap_get(const struct strmap *m, const char *k);
void strmap_free(struct strmap *m);

#endif
