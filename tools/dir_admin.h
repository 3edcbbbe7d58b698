/*
 * dir_admin: the directory writes behind `vdctl domain ...` and
 * `vdctl user ...` (seed 002 Fig. 6; the virtual-host patent's domain and
 * user states). Every change is a plain LDAP add or modify made as the
 * configured admin (admin_dn, else bind_dn) or as the DN given on the
 * command line, so slapd's ACLs decide (a domain administrator may change
 * its own domain only: etc/ldap/vdmail-acl.ldif).
 *
 *   domain add NAME   every missing component of the name in the DC tree
 *                     below domain_base (dc=com, then dc=abc,dc=com, ...;
 *                     domain_base itself too), the last one an inetDomain
 *                     index node pointing at the domain node o=NAME,org_base
 *                     (sunManagedOrganization: sunPreferredDomain, status,
 *                     postmaster, administrators, services) with ou=people
 *                     and ou=groups below it. An entry that exists is left
 *                     as it is, so running it again changes nothing.
 *   domain status     inetDomainStatus of the domain node
 *   user add          uid=LOCAL,ou=people below the domain's base with the
 *                     Sun user classes and a {CRYPT} yescrypt userPassword
 *   user passwd/status  userPassword / inetUserStatus of the entry whose
 *                     mail is the address
 * What was done is printed to out, one line each. Blocking (LDAP): tools
 * only. Returns 0, or -1 with the reason in err.
 */
#ifndef VD_DIR_ADMIN_H
#define VD_DIR_ADMIN_H

#include <ldap.h>
#include <stdio.h>

#include "tools/sync_cfg.h"

struct dadm {
	const struct sync_cfg *cfg;
	LDAP *ld;
	FILE *out;
	char err[1024];
	char domain_base[SYNC_CFG_STR];
	char org_base[SYNC_CFG_STR];
};

struct dadm_domain_opts {
	const char *admin;      /* DN of a domain administrator, or NULL */
	const char *postmaster; /* address, or NULL */
	const char *services;   /* mailDomainAllowedServiceAccess, or NULL */
};

/* Binds as dn/pw, or as the config's admin when dn is NULL. */
int dadm_open(struct dadm *a, const struct sync_cfg *cfg, const char *dn,
	      const char *pw, FILE *out);
void dadm_close(struct dadm *a);

int dadm_domain_add(struct dadm *a, const char *name,
		    const struct dadm_domain_opts *o);
/* status: active, inactive or deleted. */
int dadm_domain_status(struct dadm *a, const char *name, const char *status);
int dadm_user_add(struct dadm *a, const char *addr, const char *password);
int dadm_user_passwd(struct dadm *a, const char *addr, const char *password);
int dadm_user_status(struct dadm *a, const char *addr, const char *status);

#endif
