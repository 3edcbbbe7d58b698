/*
 * loop: the reactor's own watchers. The prepare hook (once per loop turn,
 * before polling) resumes paused sessions and runs the group commit, so
 * replies held behind a commit are released before the loop sleeps.
 * SIGTERM/SIGINT: stop accepting, let sessions finish (up to
 * shutdown_grace seconds), then leave the loop. SIGHUP: reload the
 * configuration and certificates (loop_reload). SIGUSR1: vdctl's queue
 * requests (sched_control). A timer checks the tables, and the requests,
 * every table_check_interval seconds.
 */
#ifndef VD_LOOP_H
#define VD_LOOP_H

struct vd;

void loop_init(struct vd *vd);
void loop_fini(struct vd *vd);

/* Re-reads the configuration file and certificates; keeps the old on error. */
void loop_reload(struct vd *vd);

/* Starts the graceful shutdown. */
void loop_shutdown(struct vd *vd);

/* Called when a connection goes: ends the loop once shutdown drained. */
void loop_conn_gone(struct vd *vd);

#endif
