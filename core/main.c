/*
 * vdmaild: the server. Reads the configuration, opens the tables and the
 * certificates, binds the listeners, drops privileges, recovers the spool
 * (tmp/ cleared, every queued message due), then runs the loop until
 * SIGTERM. `vdmaild -t` checks configuration, certificates and tables and
 * exits.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdb/tbl_check.h"
#include "core/conn.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/tls.h"
#include "core/util.h"
#include "core/vd.h"
#include "protocols/pop3.h"
#include "protocols/smtp_server.h"

#define DEFAULT_CONFIG "/etc/vdmail/vdmaild.conf"

static void
usage(void)
{
	fprintf(stderr, "usage: vdmaild [-c config] [-t] [-d]\n"
			"  -c FILE  configuration (default %s)\n"
			"  -t       check configuration, certificates and "
			"tables, then exit\n"
			"  -d       debug logging\n",
			DEFAULT_CONFIG);
	exit(2);
}

static void
drop_privileges(const struct cfg *cfg)
{
	struct passwd *pw;

	if (cfg->user[0] == '\0') {
		if (geteuid() == 0)
			log_warnx("running as root: set user = NAME to drop "
				  "privileges after binding");
		return;
	}
	if (geteuid() != 0)
		return;
	pw = getpwnam(cfg->user);
	if (pw == NULL)
		log_fatalx("user %s: no such user", cfg->user);
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		log_fatal("cannot drop privileges to %s", cfg->user);
	log_info("running as %s (uid %ld)", cfg->user, (long)pw->pw_uid);
}

static void
write_pid(const struct cfg *cfg)
{
	FILE *f;

	if (cfg->pid_file[0] == '\0')
		return;
	f = fopen(cfg->pid_file, "w");
	if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 ||
	    fclose(f) != 0)
		log_fatal("%s", cfg->pid_file);
}

/* Everything -t checks; also the first half of a normal start. */
static void
load_static(struct vd *vd, const char *path)
{
	char err[1024];

	if (cfg_load(&vd->cfg, path, err, sizeof(err)) < 0)
		log_fatalx("%s", err);
	if (tbl_set_open(&vd->tables, vd->cfg.table_dir, TBL_MASK_SERVER, err,
			 sizeof(err)) < 0)
		log_fatalx("tables: %s", err);
	vd->tls = tls_ctx_load(&vd->cfg, err, sizeof(err));
	if (vd->tls == NULL && err[0] != '\0')
		log_fatalx("tls: %s", err);
}

static int
check_only(struct vd *vd)
{
	int problems = tbl_check_set(&vd->tables, stderr);

	if (vd->cfg.nlisten == 0)
		fprintf(stderr, "%s: no listen line\n", vd->cfg.path);
	printf("vdmaild: %s: %s\n", vd->cfg.path,
	       problems || vd->cfg.nlisten == 0 ? "problems found" : "ok");
	return problems || vd->cfg.nlisten == 0 ? 1 : 0;
}

static void
queued_cb(void *arg, const char *qid)
{
	struct vd *vd = arg;

	sched_add(&vd->sched, qid, true);
}

static void
start_outq(struct vd *vd)
{
	char err[256];

	if (outq_init(&vd->outq, vd, err, sizeof(err)) < 0)
		log_fatalx("outbound delivery: %s", err);
	vd->sched.outq = &vd->outq;
}

static void
start_spool(struct vd *vd)
{
	int n;

	if (spool_init(&vd->spool, vd->cfg.spool_dir) < 0)
		log_fatal("spool %s", vd->cfg.spool_dir);
	vd->spool.sync = strcmp(vd->cfg.sync_method, "fsync") == 0
				 ? SPOOL_SYNC_FSYNC
				 : SPOOL_SYNC_SYNCFS;
	if (store_init(&vd->store, vd->cfg.store_dir, vd->cfg.hostname) < 0)
		log_fatal("store %s", vd->cfg.store_dir);
	store_open_alloc(&vd->store);
	if (spool_scan_tmp(&vd->spool) < 0)
		log_fatal("spool %s/tmp", vd->cfg.spool_dir);
	if (vd->spool.sync == SPOOL_SYNC_SYNCFS)
		flush_init(&vd->flush, vd->loop, vd->spool.queue_dfd,
			   vd->store.dfd);
	spool_commit_init(&vd->commit, &vd->spool, &vd->flush, queued_cb, vd);
	vd->deliver.spool = &vd->spool;
	vd->deliver.store = &vd->store;
	vd->deliver.sync = vd->spool.sync;
	vd->deliver.flush = &vd->flush;
	sched_init(&vd->sched, vd->loop, &vd->deliver, vd->cfg.queue_retry_min,
		   vd->cfg.queue_retry_max, vd->cfg.delivery_batch,
		   vd->cfg.delivery_wait);
	start_outq(vd);
	n = sched_scan(&vd->sched, vd->spool.queue_dfd);
	if (n < 0)
		log_fatal("spool %s/queue", vd->cfg.spool_dir);
	if (n > 0)
		log_info("spool: %d queued message(s) to deliver", n);
	/* Local submission: vdmail-sendmail's files in SPOOL/maildrop. */
	pickup_init(&vd->pickup, vd->loop, &vd->spool, &vd->commit,
		    &vd->tables, &vd->store, &vd->cfg);
}

/* sync_config: vdmaild keeps `vdsync -c CONF follow` running. */
static void
start_sync(struct vd *vd)
{
	char prog[CFG_PATH_MAX];
	const char *argv[] = { prog, "-c", vd->cfg.sync_config, "follow",
			       NULL };

	if (vd->cfg.sync_config[0] == '\0')
		return;
	if (vd->cfg.sync_program[0] != '\0') {
		util_strlcpy(prog, vd->cfg.sync_program, sizeof(prog));
	} else {
		ssize_t n = readlink("/proc/self/exe", prog, sizeof(prog) - 1);
		char *slash;
		if (n <= 0)
			log_fatal("readlink /proc/self/exe");
		prog[n] = '\0';
		slash = strrchr(prog, '/');
		if (slash == NULL ||
		    (size_t)(slash - prog) + sizeof("/vdsync") > sizeof(prog))
			log_fatalx("cannot locate vdsync; set sync_program");
		memcpy(slash, "/vdsync", sizeof("/vdsync"));
	}
	if (sup_start(&vd->sync, vd->loop, "vdsync", argv) < 0)
		log_fatalx("cannot start %s (sync_config is set)", prog);
}

static void
shutdown_all(struct vd *vd)
{
	sup_stop(&vd->sync);
	authw_stop(&vd->auth);
	thr_fini(&vd->throttle);
	/* Commits still pending are finished so no session waits forever. */
	spool_commit_run(&vd->commit);
	if (vd->spool.sync == SPOOL_SYNC_SYNCFS)
		flush_fini(&vd->flush);
	pickup_fini(&vd->pickup); /* after the commits it waited for */
	conn_run_resumes(vd);
	conn_close_all(vd, "shutdown");
	listen_close_all(vd);
	listen_ip_free(vd);
	outq_fini(&vd->outq);
	sched_fini(&vd->sched);
	loop_fini(vd);
	tls_ctx_unref(vd->tls);
	tbl_set_close(&vd->tables);
	spool_fini(&vd->spool);
	store_fini(&vd->store);
	if (vd->cfg.pid_file[0] != '\0')
		unlink(vd->cfg.pid_file);
	ev_loop_destroy(vd->loop);
}

int
main(int argc, char **argv)
{
	static const struct conn_proto *const protos[] = {
		[CFG_PROTO_SMTP] = &smtp_server_proto,
		[CFG_PROTO_SUBMISSION] = &smtp_server_proto,
		[CFG_PROTO_POP3] = &pop3_proto,
	};
	static const char *const busy[] = {
		[CFG_PROTO_SMTP] = SMTP_BUSY_REPLY,
		[CFG_PROTO_SUBMISSION] = SMTP_BUSY_REPLY,
		[CFG_PROTO_POP3] = POP3_BUSY_REPLY,
	};
	const char *path = DEFAULT_CONFIG;
	bool check = false, debug = false;
	char err[1024];
	struct vd *vd;
	int ch;

	while ((ch = getopt(argc, argv, "c:td")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 't': check = true; break;
		case 'd': debug = true; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	log_init("vdmaild", debug, false);
	vd = calloc(1, sizeof(*vd));
	if (vd == NULL)
		log_fatal("calloc");
	load_static(vd, path);
	if (check) {
		int rc = check_only(vd);
		tls_ctx_unref(vd->tls);
		tbl_set_close(&vd->tables);
		free(vd);
		return rc;
	}
	log_init("vdmaild", debug || vd->cfg.log_debug, vd->cfg.log_syslog);
	signal(SIGPIPE, SIG_IGN);
	vd->loop = ev_default_loop(EVFLAG_AUTO);
	if (vd->loop == NULL)
		log_fatalx("cannot initialise libev");
	/* The signal watchers exist before the ports answer: a SIGHUP or
	 * SIGTERM sent the moment they do waits for ev_run, not lost or
	 * fatal. No watcher runs before ev_run, when everything is set up. */
	loop_init(vd);
	if (listen_open_all(vd, protos, busy, err, sizeof(err)) < 0)
		log_fatalx("%s", err);
	drop_privileges(&vd->cfg);
	/* After the drop: the workers read the passwords table as we do. */
	if (authw_start(&vd->auth, vd->loop, vd->cfg.auth_workers,
			vd->cfg.table_dir, vd->cfg.auth_plain,
			vd->cfg.auth_queue, vd->cfg.auth_timeout) < 0)
		log_fatalx("cannot start the password workers");
	/* Failed logins: 10 within 5 minutes block a client or an account. */
	if (thr_init(&vd->throttle, 4096, 10, 300) < 0)
		log_fatalx("cannot allocate the login throttle");
	write_pid(&vd->cfg);
	start_spool(vd);
	start_sync(vd);
	listen_start_all(vd);
	log_buffered(true);
	log_info("vdmaild started: host %s, %u listener(s), TLS %s",
		 vd->cfg.hostname, vd->cfg.nlisten, vd->tls ? "on" : "off");
	ev_run(vd->loop, 0);
	log_info("vdmaild stopping: %llu message(s) queued in %llu batch(es), "
		 "%lu flush(es)", (unsigned long long)vd->commit.files,
		 (unsigned long long)vd->commit.batches, vd->flush.syncs);
	shutdown_all(vd);
	log_flush();
	free(vd);
	return 0;
}
