/*
 * vdctl: the admin's tool.
 *   vdctl cdb build TABLE SRC.txt DEST.cdb   validate, then replace atomically
 *   vdctl cdb build-all SRCDIR DESTDIR       every TABLE.txt found in SRCDIR
 *   vdctl cdb dump FILE.cdb                  the text form (= cdb -d -m)
 *   vdctl cdb check TABLE FILE               a .txt or .cdb, record by record
 *   vdctl [-c CONF] check                    the served tables, across tables
 *   vdctl [-c CONF] route ADDRESS [SIZE]     how vdmaild would handle ADDRESS
 *   vdctl [-c CONF] queue list|show|flush|hold|release|delete  the queue
 *                                            (tools/vdctl_queue.h)
 *   vdctl [-s SYNCCONF] [-D DN -y PWFILE] domain|user ...   the directory
 *                                            (tools/vdctl_dir.h)
 * Exit status: 0 fine, 1 problems found (or the route is not a delivery,
 * or the directory refused), 2 usage, 3 I/O errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdb/nexthop.h"
#include "cdb/route.h"
#include "cdb/tbl.h"
#include "cdb/tbl_build.h"
#include "cdb/tbl_check.h"
#include "core/cfg.h"
#include "core/log.h"
#include "core/util.h"
#include "spool/store.h"
#include "tools/vdctl_dir.h"
#include "tools/vdctl_queue.h"

#define DEFAULT_CONFIG "/etc/vdmail/vdmaild.conf"
#define DEFAULT_SYNC_CONFIG "/etc/vdmail/vdsync.conf"

static void
usage(void)
{
	fprintf(stderr,
		"usage: vdctl [-c config] COMMAND\n"
		"  cdb build TABLE SRC.txt DEST.cdb\n"
		"  cdb build-all SRCDIR DESTDIR\n"
		"  cdb dump FILE.cdb\n"
		"  cdb check TABLE FILE.txt|FILE.cdb\n"
		"  check\n"
		"  route ADDRESS [SIZE]\n"
		"  queue list | queue show ID\n"
		"  [-s vdsync.conf] [-D DN -y PWFILE] domain add NAME [--admin DN]"
		" [--postmaster ADDR] [--services RULE] [--no-dns] [--no-sync]\n"
		"  domain suspend|activate|delete NAME\n"
		"  user add|passwd ADDRESS   (password on stdin)\n"
		"  user suspend|activate|delete ADDRESS\n"
		"TABLE is one of: domains addresses users passwords lists routes\n");
	exit(2);
}

static enum tbl_kind
kind_arg(const char *name)
{
	int k = tbl_rec_kind_parse(name);

	if (k < 0) {
		fprintf(stderr, "vdctl: unknown table '%s'\n", name);
		usage();
	}
	return (enum tbl_kind)k;
}

static bool
has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcmp(s + a - b, suf) == 0;
}

static int
status_of(int rc)
{
	return rc < 0 ? 3 : rc > 0 ? 1 : 0;
}

static int
cdb_build_all(const char *srcdir, const char *destdir)
{
	char src[1024], dst[1024];
	int bad = 0, built = 0;

	for (int k = 0; k < TBL_NKINDS; k++) {
		const char *name = tbl_rec_kind_name((enum tbl_kind)k);
		if (util_fmt(src, sizeof(src), "%s/%s.txt", srcdir, name) < 0 ||
		    util_fmt(dst, sizeof(dst), "%s/%s.cdb", destdir, name) < 0)
			return 3;
		if (access(src, F_OK) != 0)
			continue;
		int rc = tbl_build_text((enum tbl_kind)k, src, dst, stderr);
		if (rc != 0)
			bad = rc < 0 ? -1 : bad + rc;
		else
			built++;
	}
	if (bad == 0)
		printf("vdctl: built %d table(s) in %s\n", built, destdir);
	return status_of(bad);
}

static int
cmd_cdb(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "build") == 0 && argc == 4)
		return status_of(tbl_build_text(kind_arg(argv[1]), argv[2],
						 argv[3], stderr));
	if (argc == 3 && strcmp(argv[0], "build-all") == 0)
		return cdb_build_all(argv[1], argv[2]);
	if (argc == 2 && strcmp(argv[0], "dump") == 0) {
		if (tbl_build_dump(argv[1], stdout) < 0) {
			fprintf(stderr, "vdctl: %s: cannot read as a cdb\n",
				argv[1]);
			return 3;
		}
		return 0;
	}
	if (argc == 3 && strcmp(argv[0], "check") == 0) {
		enum tbl_kind k = kind_arg(argv[1]);
		int rc = has_suffix(argv[2], ".cdb")
				 ? tbl_build_check_cdb(k, argv[2], stderr)
				 : tbl_build_text(k, argv[2], NULL, stderr);
		if (rc == 0)
			printf("vdctl: %s: ok\n", argv[2]);
		return status_of(rc);
	}
	usage();
	return 2;
}

static void
load_cfg(struct cfg *cfg, const char *path)
{
	char err[1024];

	if (cfg_load(cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "vdctl: %s\n", err);
		exit(3);
	}
}

static int
open_tables(struct tbl_set *t, const struct cfg *cfg)
{
	char err[1024];

	if (tbl_set_open(t, cfg->table_dir, TBL_MASK_SERVER, err,
			 sizeof(err)) < 0) {
		fprintf(stderr, "vdctl: %s\n", err);
		return -1;
	}
	return 0;
}

static int
cmd_check(const char *conf)
{
	struct cfg cfg;
	struct tbl_set t;
	int problems;

	load_cfg(&cfg, conf);
	if (open_tables(&t, &cfg) < 0)
		return 3;
	problems = tbl_check_set(&t, stdout);
	tbl_set_close(&t);
	printf("vdctl: tables in %s: %s\n", cfg.table_dir,
	       problems ? "problems found" : "ok");
	return problems ? 1 : 0;
}

static void
print_step(void *arg, const char *step, const char *detail)
{
	(void)arg;
	printf("%-10s %s\n", step, detail);
}

struct route_ctx {
	struct tbl_set *t;
	const struct cfg *cfg;
};

/* The next hop of an address stored elsewhere (cdb/nexthop.h). */
static void
print_nexthop(const struct route_ctx *x, const char *addr)
{
	const struct cfg *c = x->cfg;
	struct nexthop_opts o = {
		.hostname = c->hostname, .relay_host = c->relay_host,
		.port = c->outbound_port,
		.tls_policy = strcmp(c->outbound_tls, "verify") == 0 ? 2
			      : strcmp(c->outbound_tls, "encrypt") == 0 ? 1
									: 0,
	};
	static const char *const tls[] = { "may", "encrypt", "verify" };
	struct nexthop nh;

	if (nexthop_for(x->t, addr, &o, &nh) < 0) {
		printf("%-10s %s: %s\n", "nexthop", addr, nh.why);
		return;
	}
	printf("%-10s %s -> %s %s port %u tls=%s (%s)\n", "nexthop", addr,
	       nh.kind == NEXTHOP_MX ? "MX of" : nh.kind == NEXTHOP_HOST
							? "host" : "relay",
	       nh.name, nh.port,
	       strcmp(c->outbound_tls, "none") == 0 ? "none"
						     : tls[nh.tls_policy],
	       nh.why);
}

static int
print_rcpt(void *arg, const char *addr, char kind, const char *value,
	   const char *errorsto)
{
	static const struct { char kind; const char *what; } names[] = {
		{ 'L', "deliver" }, { 'H', "hold" }, { 'A', "autoreply" },
		{ 'P', "program" }, { 'M', "file" },
	};

	if (kind == 'X') {
		print_nexthop(arg, addr);
	} else {
		for (size_t i = 0; i < UTIL_ARRAY_LEN(names); i++)
			if (names[i].kind == kind)
				printf("%-10s %s -> %s\n", names[i].what, addr,
				       value);
	}
	if (errorsto != NULL)
		printf("%-10s %s: errors to %s\n", "", addr, errorsto);
	return 0;
}

static int
cmd_route(const char *conf, const char *addr, const char *size)
{
	struct cfg cfg;
	struct tbl_set t;
	struct store st;
	struct route_result r;
	struct route_opts o;
	uint64_t sz = 0;

	if (size != NULL && util_parse_u64(size, strlen(size), UINT64_MAX,
					   &sz) < 0)
		usage();
	load_cfg(&cfg, conf);
	if (open_tables(&t, &cfg) < 0)
		return 3;
	memset(&st, 0, sizeof(st));
	st.dfd = -1;
	util_strlcpy(st.dir, cfg.store_dir, sizeof(st.dir));
	/* Read-only: quota usage of an existing store, nothing created. */
	if (access(cfg.store_dir, F_OK) == 0 &&
	    store_init(&st, cfg.store_dir, cfg.hostname) < 0)
		st.dfd = -1;
	st.readonly = true;
	memset(&o, 0, sizeof(o));
	o.store = st.dfd >= 0 ? &st : NULL;
	o.default_quota = cfg.default_quota;
	o.default_msg_quota = cfg.default_msg_quota;
	o.size = sz;
	o.postmaster = cfg.postmaster;
	o.delimiter = cfg.recipient_delimiter[0];
	o.hostname = cfg.hostname;
	printf("%-10s %s\n", "address", addr);
	struct route_ctx x = { &t, &cfg };
	route_expand(&t, &o, addr, 0, &r, print_rcpt, &x, print_step, NULL);
	if (r.action == ROUTE_REJECT && strcmp(r.reason, "relay_denied") == 0)
		print_nexthop(&x, addr);
	printf("%-10s %s\n", "decision",
	       r.action == ROUTE_DELIVER ? "accept and deliver"
	       : r.action == ROUTE_TEMPFAIL ? "refuse for now (the sender "
					      "retries)"
	       : strcmp(r.reason, "relay_denied") == 0
		       ? "refuse (an authenticated sender may relay there)"
		       : "refuse");
	printf("%-10s %d %s %s\n", "reply", r.code, r.enh, r.text);
	store_fini(&st);
	tbl_set_close(&t);
	return r.action == ROUTE_DELIVER ? 0 : 1;
}

/*
 * The directory commands: vdmaild's configuration (when it is there)
 * gives the default vdsync.conf (sync_config) and the MX host name.
 */
static int
cmd_dir(const char *conf, struct vdctl_dir_opts *o, int argc, char **argv)
{
	static struct cfg cfg;
	char err[1024];

	cfg_defaults(&cfg);
	if (access(conf, F_OK) == 0 && cfg_load(&cfg, conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "vdctl: %s\n", err);
		return 3;
	}
	if (o->sync_conf == NULL)
		o->sync_conf = cfg.sync_config[0] ? cfg.sync_config
						  : DEFAULT_SYNC_CONFIG;
	o->hostname = cfg.hostname;
	return vdctl_dir(o, argc, argv);
}

int
main(int argc, char **argv)
{
	const char *conf = DEFAULT_CONFIG;
	struct vdctl_dir_opts dir = { NULL, NULL, NULL, NULL };
	int ch;

	log_init("vdctl", false, false);
	while ((ch = getopt(argc, argv, "+c:s:D:y:")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 's': dir.sync_conf = optarg; break;
		case 'D': dir.bind_dn = optarg; break;
		case 'y': dir.pw_file = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (strcmp(argv[0], "cdb") == 0)
		return cmd_cdb(argc - 1, argv + 1);
	if (strcmp(argv[0], "check") == 0 && argc == 1)
		return cmd_check(conf);
	if (strcmp(argv[0], "queue") == 0) {
		struct cfg cfg;
		load_cfg(&cfg, conf);
		return vdctl_queue(cfg.spool_dir, cfg.pid_file, argc, argv);
	}
	if (strcmp(argv[0], "domain") == 0 || strcmp(argv[0], "user") == 0)
		return cmd_dir(conf, &dir, argc, argv);
	if (strcmp(argv[0], "route") == 0 && (argc == 2 || argc == 3))
		return cmd_route(conf, argv[1], argc == 3 ? argv[2] : NULL);
	usage();
	return 2;
}
