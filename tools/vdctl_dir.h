/*
 * vdctl_dir: the directory half of vdctl (seed 002 Fig. 6):
 *   domain add NAME [--admin DN] [--postmaster ADDR] [--services RULE]
 *                   [--no-dns] [--no-sync]
 *   domain suspend|activate|delete NAME
 *   user add|passwd ADDRESS   (the password is the first line of stdin)
 *   user suspend|activate|delete ADDRESS
 * Each writes the directory (dir_admin), `domain add` then makes this host
 * the domain's MX at the configured name server (dns_update), and each
 * ends with an incremental sync so the tables vdmaild serves follow at
 * once. Exit status: 0 done, 1 refused (by slapd's ACLs, the name server,
 * or the shrink guard), 2 usage, 3 LDAP or I/O error.
 */
#ifndef VD_VDCTL_DIR_H
#define VD_VDCTL_DIR_H

struct vdctl_dir_opts {
	const char *sync_conf; /* vdsync.conf */
	const char *hostname;  /* the MX target when mx_host is not set */
	const char *bind_dn;   /* -D: act as this DN (NULL: the config's admin) */
	const char *pw_file;   /* -y: its password */
};

int vdctl_dir(const struct vdctl_dir_opts *o, int argc, char **argv);

#endif
