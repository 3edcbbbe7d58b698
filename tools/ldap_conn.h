/*
 * ldap_conn: opens an LDAPv3 connection for vdsync and vdctl: simple bind
 * as the given DN (NULL or "" = anonymous), network and operation
 * timeouts from the sync config, no referral chasing. Blocking: tools only.
 */
#ifndef VD_LDAP_CONN_H
#define VD_LDAP_CONN_H

#include <ldap.h>
#include <stddef.h>

#include "tools/sync_cfg.h"

/* 0 with *ld_r, or -1 with the reason in err (the URI and DN named). */
int lconn_open(const struct sync_cfg *c, const char *dn, const char *pw,
	       LDAP **ld_r, char *err, size_t errlen);

#endif
