/*
 * dir_map: directory entries -> table records (research/schema.md 6).
 *   domains  Schema 2 nodes (sunManagedOrganization: sunPreferredDomain,
 *            alias domains as further associatedDomain values) and Schema 1
 *            DC nodes (inetDomain: the name from the dc= RDNs, users below
 *            inetDomainBaseDN); status, services, postmaster, admins, quotas
 *   users    inetMailUser / inetLocalMailRecipient entries with mail: status,
 *            services, mailHost, delivery options, forwarding, autoreply,
 *            program, file, shared folder, quotas; passwords from
 *            userPassword; addresses from mail, mailAlternateAddress
 *            (@domain = catch-all) and mailEquivalentAddress
 *   lists    inetMailGroup / groupOf* entries with mail: static members
 *            (DNs resolved to their mail), RFC 822 members, dynamic
 *            memberURL/mgrpDeliverTo members (expanded through the caller)
 *   routes   mailRoutingSmartHost, mailRoutingHosts of a domain
 * An entry belongs to the domain whose base DN is the nearest above it
 * (else to the domain of its mail address). Records are generated per
 * domain into the cache's fragments, and only for dirty domains: an
 * entry that changed dirties the domains it belongs (and belonged) to, and
 * the domains whose lists name it; a changed user dirties the domains
 * with dynamic lists. A malformed entry is skipped with a log line naming
 * its DN and the attribute. No I/O but the expand callback and logging.
 */
#ifndef VD_DIR_MAP_H
#define VD_DIR_MAP_H

#include <stdbool.h>

#include "tools/dir_cache.h"

/* Calls add(arg2, mail) for every entry an LDAP URL selects; 0 or -1. */
typedef int dmap_add_fn(void *arg2, const char *mail);
typedef int dmap_expand_fn(void *arg, const char *url, dmap_add_fn *add,
			   void *arg2);

struct dmap_stats {
	unsigned domains, users, lists, skipped, regenerated;
};

/*
 * Brings every fragment up to date with the entries (all of them when
 * all is true, else only the dirty domains) and clears the entries'
 * changed marks. Returns 0, or -1 when out of memory.
 */
int dmap_update(struct dcache *c, bool all, dmap_expand_fn *expand,
		void *arg, struct dmap_stats *st);

/*
 * Notes an entry about to leave the cache (deleted in the directory): its
 * domain, and the domains whose lists name its DN, are regenerated at the
 * next dmap_update. Call before freeing e.
 */
void dmap_forget(struct dcache *c, const struct dent *e);

/*
 * Assembles the text form of table kind from every fragment, in domain
 * order; a key given twice (two entries claiming one address) keeps the
 * first and logs the other. *out is malloc'ed; returns its length or -1.
 * *nrec_r receives the number of records.
 */
long dmap_table_text(struct dcache *c, enum tbl_kind kind, char **out,
		     unsigned long *nrec_r);

#endif
