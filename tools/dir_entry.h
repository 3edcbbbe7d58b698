/*
 * dir_entry: one directory entry as vdsync keeps it (its DN, entryUUID
 * and attributes), independent of libldap so the mapping and the cache
 * can be tested without a server.
 * Attribute names are folded to one canonical lower-case name: LDAP names
 * compare case-insensitively, and slapd returns the first NAME of a type
 * whatever was asked (research/schema.md 1.9), so mailLocalAddress and
 * mailAlternateAddress are one attribute here. Values are kept as given
 * (binary-safe length + NUL for convenience).
 * Owns its memory; dent_free releases it. No I/O, no global state.
 */
#ifndef VD_DIR_ENTRY_H
#define VD_DIR_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define DENT_UUID_LEN 36
#define DENT_NAME_MAX 64
#define DENT_VALUE_MAX (256 * 1024) /* longer values are refused */

struct dent_val {
	char *s;
	size_t len;
};

struct dent_attr {
	char name[DENT_NAME_MAX]; /* canonical, lower-case */
	struct dent_val *v;
	size_t nv;
};

struct dent {
	char uuid[DENT_UUID_LEN + 1];
	char *dn;
	struct dent_attr *a;
	size_t na;
	/* Bookkeeping for the sync; not part of the entry. */
	char *domain;      /* canonical domain it was mapped to (cached) */
	unsigned char kind; /* dir_gen's classification; 0 = not made yet */
	bool present;      /* seen during a refresh's present phase */
	bool changed;      /* added or modified since the tables were built */
	struct dent *next; /* hash chain in dir_cache */
};

/* A new empty entry (NULL when out of memory). */
struct dent *dent_new(const char *uuid, const char *dn);
void dent_free(struct dent *e);

/* The canonical name of an attribute name (aliases folded), into out. */
void dent_canon(const char *name, char *out, size_t outlen);

/* Adds a value to attribute name (canonicalised). 0, or -1 (no memory,
 * value too long). */
int dent_add(struct dent *e, const char *name, const char *v, size_t len);

/* The attribute (canonical name), or NULL. */
const struct dent_attr *dent_attr(const struct dent *e, const char *name);
/* The first value of an attribute, or NULL. */
const char *dent_first(const struct dent *e, const char *name);
/* Whether objectClass has the value (case-insensitive). */
bool dent_has_class(const struct dent *e, const char *oc);

/* Formats 16 raw bytes as the RFC 4122 text form into out (37 bytes). */
void dent_uuid_text(const unsigned char *raw, size_t len, char *out);

/*
 * Writes e in the cache's text form: "E uuid\nN dn\n[G domain\n]A name
 * value\n...\n.\n"
 * with DN and values %-escaped (bytes < 0x21, '%', 0x7f). 0 or -1.
 */
int dent_write(const struct dent *e, FILE *f);
/*
 * Reads the next entry in that form. 1 with *e_r, 0 at a clean end of
 * the entries (a line that does not start with "E "; it is left in line),
 * -1 malformed.
 */
int dent_read(FILE *f, char **line, size_t *cap, struct dent **e_r);

/* %-escapes src into out (always NUL-terminated); -1 when it does not fit. */
int dent_escape(const char *src, size_t len, char *out, size_t outlen);

/* dn lower-cased, without spaces after ',' or around '=': enough to
 * compare the DNs one server hands out with DNs an admin typed into an
 * attribute. */
void dent_dn_norm(const char *dn, char *out, size_t outlen);

/* Whether DN dn is at or below base, comparing case-insensitively and
 * ignoring spaces after commas. */
bool dent_dn_under(const char *dn, const char *base);

#endif
