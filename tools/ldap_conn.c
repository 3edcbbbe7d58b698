#include "tools/ldap_conn.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int
lconn_open(const struct sync_cfg *c, const char *dn, const char *pw,
	   LDAP **ld_r, char *err, size_t errlen)
{
	int version = LDAP_VERSION3, rc;
	struct timeval tv = { (time_t)c->timeout, 0 };
	struct berval cred = { pw ? strlen(pw) : 0, (char *)(pw ? pw : "") };

	*ld_r = NULL;
	rc = ldap_initialize(ld_r, c->uri);
	if (rc != LDAP_SUCCESS) {
		snprintf(err, errlen, "%s: %s", c->uri, ldap_err2string(rc));
		return -1;
	}
	ldap_set_option(*ld_r, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(*ld_r, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(*ld_r, LDAP_OPT_TIMEOUT, &tv);
	ldap_set_option(*ld_r, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	rc = ldap_sasl_bind_s(*ld_r, dn && dn[0] ? dn : NULL, LDAP_SASL_SIMPLE,
			      &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
		snprintf(err, errlen, "bind to %s as \"%s\": %s", c->uri,
			 dn ? dn : "", ldap_err2string(rc));
		ldap_unbind_ext_s(*ld_r, NULL, NULL);
		*ld_r = NULL;
		return -1;
	}
	return 0;
}
