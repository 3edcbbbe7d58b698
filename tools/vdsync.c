/*
 * vdsync: keeps the tables vdmaild serves in step with the LDAP directory.
 *   vdsync [-c CONF] full [--force]         rebuild the cache and every table
 *   vdsync [-c CONF] incremental [--force]  apply what changed since the last run
 *   vdsync [-c CONF] follow                 apply each change as it happens
 *   vdsync dns-mx [options] DOMAIN          the DNS part of `vdctl domain add`
 * Exit status: 0 done, 1 refused (shrink guard) or DNS refused, 2 usage,
 * 3 LDAP or I/O error.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "tools/dir_sync.h"
#include "tools/dns_cli.h"
#include "tools/sync_cfg.h"

#define DEFAULT_SYNC_CONFIG "/etc/vdmail/vdsync.conf"

static int
usage(void)
{
	fprintf(stderr,
		"usage: vdsync [-c config] full|incremental [--force]\n"
		"       vdsync [-c config] follow\n"
		"       vdsync dns-mx [--server IP] [--port N] [--zone Z] "
		"[--mx HOST] [--key 'NAME ALG SECRET'] DOMAIN\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *conf = DEFAULT_SYNC_CONFIG;
	struct sync_cfg cfg;
	char err[1200];
	bool force = false;
	enum dsync_mode mode;
	int ch;

	log_init("vdsync", false, false);
	if (argc > 1 && strcmp(argv[1], "dns-mx") == 0)
		return dns_cli_main(argc - 1, argv + 1);
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		if (ch != 'c')
			return usage();
		conf = optarg;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		return usage();
	if (argc == 2) {
		if (strcmp(argv[1], "--force") != 0)
			return usage();
		force = true;
	}
	if (strcmp(argv[0], "full") == 0)
		mode = DSYNC_FULL;
	else if (strcmp(argv[0], "incremental") == 0)
		mode = DSYNC_INCREMENTAL;
	else if (strcmp(argv[0], "follow") == 0 && !force)
		mode = DSYNC_FOLLOW;
	else
		return usage();
	if (sync_cfg_load(&cfg, conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "vdsync: %s\n", err);
		return 2;
	}
	return dsync_run(&cfg, mode, force);
}
