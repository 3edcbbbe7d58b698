/*
 * sync_cfg: vdsync's configuration file (`key = value` lines, '#'
 * comments), the only place LDAP credentials live. A file that holds a
 * password (bind_pw, admin_pw) must not be readable by group or others: it is
 * refused otherwise. Unknown keys and bad values are errors naming the
 * line. README "vdsync" lists every key.
 */
#ifndef VD_SYNC_CFG_H
#define VD_SYNC_CFG_H

#include <stdbool.h>
#include <stddef.h>

#define SYNC_CFG_STR 1024

struct sync_cfg {
	char uri[SYNC_CFG_STR];      /* ldap://127.0.0.1:389/ */
	char bind_dn[SYNC_CFG_STR];  /* "" = anonymous */
	char bind_pw[256];
	char base[SYNC_CFG_STR];     /* search base of domains, users, lists */
	char filter[SYNC_CFG_STR];   /* entries to read */
	char table_dir[SYNC_CFG_STR];
	char state_dir[SYNC_CFG_STR]; /* the directory cache and text tables */
	double shrink_limit;         /* share of a table a sync may remove */
	unsigned shrink_min;         /* removals always allowed */
	double timeout;              /* seconds for one LDAP operation */
	double follow_delay;         /* seconds to gather changes in follow */
	double backoff_max;          /* seconds between reconnects, at most */
	/* Directory writes (vdctl domain|user ...) */
	char admin_dn[SYNC_CFG_STR];  /* "" = bind_dn */
	char admin_pw[256];
	char domain_base[SYNC_CFG_STR]; /* DC tree; "" = o=internet,BASE */
	char org_base[SYNC_CFG_STR];    /* domain nodes; "" = BASE */
	char mx_host[256];
	unsigned mx_pref;
	char dns_server[64];
	unsigned dns_port;
	char dns_zone[256];
	char dns_key[SYNC_CFG_STR];  /* "NAME ALG SECRET" */
};

/* Reads path into c (defaults first). 0, or -1 with err naming the line. */
int sync_cfg_load(struct sync_cfg *c, const char *path, char *err,
		  size_t errlen);

#endif
