#include "core/loop.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/tls.h"
#include "core/vd.h"

/* Rounds of commit-then-resume per prepare; each round needs new input. */
#define LOOP_PREPARE_ROUNDS 16

static void
loop_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct vd *vd = w->data;

	(void)loop;
	(void)revents;
	for (int i = 0; i < LOOP_PREPARE_ROUNDS; i++) {
		if (vd->resumes == NULL && !spool_commit_pending(&vd->commit))
			break;
		spool_commit_run(&vd->commit);
		conn_run_resumes(vd);
	}
	log_flush();
}

static void
loop_table_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct vd *vd = w->data;

	(void)loop;
	(void)revents;
	tbl_set_refresh(&vd->tables);
	/* vdctl queue requests: one fstat of ctl/ when nothing changed */
	sched_control(&vd->sched, false);
}

static void
loop_grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct vd *vd = w->data;

	(void)revents;
	log_info("shutdown grace of %.0fs over: closing %u connection(s)",
		 vd->cfg.shutdown_grace, vd->nconns);
	conn_close_all(vd, "shutdown");
	ev_break(loop, EVBREAK_ALL);
}

static void
loop_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct vd *vd = w->data;

	(void)loop;
	(void)revents;
	if (w->signum == SIGHUP)
		loop_reload(vd);
	else if (w->signum == SIGUSR1)
		sched_control(&vd->sched, true); /* vdctl queue ... */
	else
		loop_shutdown(vd);
}

void
loop_init(struct vd *vd)
{
	ev_prepare_init(&vd->prepare, loop_prepare_cb);
	vd->prepare.data = vd;
	ev_prepare_start(vd->loop, &vd->prepare);
	ev_signal_init(&vd->sig_term, loop_signal_cb, SIGTERM);
	ev_signal_init(&vd->sig_int, loop_signal_cb, SIGINT);
	ev_signal_init(&vd->sig_hup, loop_signal_cb, SIGHUP);
	ev_signal_init(&vd->sig_usr1, loop_signal_cb, SIGUSR1);
	vd->sig_term.data = vd->sig_int.data = vd->sig_hup.data = vd;
	vd->sig_usr1.data = vd;
	ev_signal_start(vd->loop, &vd->sig_usr1);
	ev_signal_start(vd->loop, &vd->sig_term);
	ev_signal_start(vd->loop, &vd->sig_int);
	ev_signal_start(vd->loop, &vd->sig_hup);
	ev_timer_init(&vd->table_timer, loop_table_cb,
		      vd->cfg.table_check_interval,
		      vd->cfg.table_check_interval);
	vd->table_timer.data = vd;
	if (vd->cfg.table_check_interval > 0)
		ev_timer_start(vd->loop, &vd->table_timer);
	ev_init(&vd->grace_timer, loop_grace_cb);
	vd->grace_timer.data = vd;
}

void
loop_fini(struct vd *vd)
{
	ev_prepare_stop(vd->loop, &vd->prepare);
	ev_signal_stop(vd->loop, &vd->sig_term);
	ev_signal_stop(vd->loop, &vd->sig_int);
	ev_signal_stop(vd->loop, &vd->sig_hup);
	ev_signal_stop(vd->loop, &vd->sig_usr1);
	ev_timer_stop(vd->loop, &vd->table_timer);
	ev_timer_stop(vd->loop, &vd->grace_timer);
}

static bool
needs_restart(const struct cfg *a, const struct cfg *b)
{
	if (a->nlisten != b->nlisten)
		return true;
	for (unsigned i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].text, b->listen[i].text) != 0 ||
		    a->listen[i].implicit_tls != b->listen[i].implicit_tls)
			return true;
	return strcmp(a->spool_dir, b->spool_dir) != 0 ||
	       strcmp(a->store_dir, b->store_dir) != 0 ||
	       strcmp(a->table_dir, b->table_dir) != 0 ||
	       strcmp(a->user, b->user) != 0 ||
	       strcmp(a->hostname, b->hostname) != 0 ||
	       a->log_syslog != b->log_syslog;
}

void
loop_reload(struct vd *vd)
{
	char err[512];
	struct cfg *n = malloc(sizeof(*n));
	struct tls_ctx *tls;

	if (n == NULL || cfg_load(n, vd->cfg.path, err, sizeof(err)) < 0) {
		log_warnx("reload: configuration kept: %s",
			  n ? err : "out of memory");
		free(n);
		return;
	}
	tls = tls_ctx_load(n, err, sizeof(err));
	if (tls == NULL && err[0] != '\0') {
		log_warnx("reload: configuration kept: %s", err);
		free(n);
		return;
	}
	if (needs_restart(&vd->cfg, n))
		log_warnx("reload: listeners, directories, user, hostname and "
			  "log_syslog change only with a restart");
	/* Keep what the running process was built around. */
	memcpy(n->listen, vd->cfg.listen, sizeof(n->listen));
	n->nlisten = vd->cfg.nlisten;
	memcpy(n->spool_dir, vd->cfg.spool_dir, sizeof(n->spool_dir));
	memcpy(n->store_dir, vd->cfg.store_dir, sizeof(n->store_dir));
	memcpy(n->table_dir, vd->cfg.table_dir, sizeof(n->table_dir));
	memcpy(n->user, vd->cfg.user, sizeof(n->user));
	memcpy(n->hostname, vd->cfg.hostname, sizeof(n->hostname));
	n->log_syslog = vd->cfg.log_syslog;
	vd->cfg = *n;
	log_set_debug(vd->cfg.log_debug);
	free(n);
	tls_ctx_unref(vd->tls);
	vd->tls = tls;
	vd->sched.retry_min = vd->cfg.queue_retry_min;
	vd->sched.retry_max = vd->cfg.queue_retry_max;
	vd->sched.batch = vd->cfg.delivery_batch;
	vd->sched.wait = vd->cfg.delivery_wait;
	ev_timer_stop(vd->loop, &vd->table_timer);
	ev_timer_set(&vd->table_timer, vd->cfg.table_check_interval,
		     vd->cfg.table_check_interval);
	if (vd->cfg.table_check_interval > 0)
		ev_timer_start(vd->loop, &vd->table_timer);
	tbl_set_refresh(&vd->tables);
	log_info("reload: configuration and certificates reloaded%s",
		 vd->tls ? "" : " (no TLS certificate)");
}

void
loop_shutdown(struct vd *vd)
{
	if (vd->stopping) {
		log_info("second stop signal: closing now");
		conn_close_all(vd, "shutdown");
		ev_break(vd->loop, EVBREAK_ALL);
		return;
	}
	vd->stopping = true;
	outq_stop(&vd->outq);
	log_info("shutdown: no longer accepting; %u connection(s) to finish",
		 vd->nconns);
	listen_close_all(vd);
	conn_shutdown_all(vd);
	if (vd->nconns == 0) {
		ev_break(vd->loop, EVBREAK_ALL);
		return;
	}
	ev_timer_set(&vd->grace_timer, vd->cfg.shutdown_grace, 0);
	ev_timer_start(vd->loop, &vd->grace_timer);
}

void
loop_conn_gone(struct vd *vd)
{
	if (vd->stopping && vd->nconns == 0)
		ev_break(vd->loop, EVBREAK_ALL);
}
