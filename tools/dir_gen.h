/*
 * dir_gen: the table records of one domain, generated from its directory
 * entries (research/schema.md 6; README "The directory"):
 *   domains  the domain (status, services, postmaster, admins, quotas) and
 *            an alias record per other associatedDomain value
 *   routes   mailRoutingSmartHost, mailRoutingHosts
 *   users    each user: statuses, services, mailHost, delivery options,
 *            forwarding, autoreply, program, file, shared folder, quotas;
 *            passwords from userPassword; addresses from mail,
 *            mailAlternateAddress (@domain = catch-all), mailEquivalentAddress
 *   lists    each list: status, delivery, members (static DNs resolved to
 *            their mail, RFC 822 members, memberURL through the expand
 *            callback), broadcasters, moderators, errors-to, limits
 * Every record of an entry is checked with tbl_rec before it is kept; an
 * entry with a bad record is skipped whole, logged with its DN and the
 * attribute to fix (dgen_skip). Only addresses of the domain itself (or
 * of its alias domains) are taken: a domain administrator may write any
 * value into its entries. No I/O but the callbacks and logging.
 */
#ifndef VD_DIR_GEN_H
#define VD_DIR_GEN_H

#include <stdbool.h>
#include <stddef.h>

#include "cdb/tbl_rec.h"
#include "core/buf.h"
#include "tools/dir_entry.h"
#include "tools/dir_map.h"

struct dgen_ctx {
	/* The entry a DN names (any domain), or NULL: static members. */
	const struct dent *(*by_dn)(void *arg, const char *dn);
	void *by_dn_arg;
	dmap_expand_fn *expand; /* memberURL; NULL: left out, logged */
	void *expand_arg;
	struct dmap_stats *st;
};

struct dgen_domain {
	const char *name;           /* canonical, lower-case */
	const struct dent *e;       /* the domain's entry */
	struct dent *const *members; /* its users and lists */
	size_t nmem;
};

/*
 * Generates the domain's records, "KEY VALUE\n" lines, into out[kind]
 * (initialised here; the caller owns and frees them). Returns 0, or -1
 * when memory ran out (out is still valid, but incomplete).
 */
int dgen_domain(const struct dgen_ctx *x, const struct dgen_domain *d,
		struct buf out[TBL_NKINDS]);

/* What an entry is to the mapping, from its object classes. */
enum dgen_kind {
	DGEN_OTHER = 1,
	DGEN_DOMAIN, /* sunManagedOrganization (Schema 2) or inetDomain (1) */
	DGEN_USER,   /* inetMailUser or inetLocalMailRecipient, not a list */
	DGEN_GROUP,  /* inetMailGroup or groupOfUniqueNames/Names/URLs */
};
enum dgen_kind dgen_classify(const struct dent *e);

/* e->kind is set (dmap_update does it once per entry): compare it. */
static inline bool
dgen_is(const struct dent *e, enum dgen_kind k)
{
	return e->kind == (unsigned char)k;
}

/* Logs "skipped entry dn=...: attribute A: why" and counts it. */
void dgen_skip(struct dmap_stats *st, const struct dent *e, const char *attr,
	       const char *why);
/* Logs a problem with one value of an entry that is kept. */
void dgen_note(const struct dent *e, const char *attr, const char *why);

#endif
