/*
 * supervise: one long-running helper program that vdmaild keeps alive
 * (today `vdsync follow`, which keeps the tables in step with the
 * directory while vdmaild serves them). Started with fork+exec once the
 * loop runs, with stdin on /dev/null and stdout/stderr shared with
 * vdmaild's; restarted when it exits, after a delay that doubles from 1 s
 * to 60 s and starts over once the child has run for 60 s. vdmaild never
 * waits for it: the tables it writes are picked up by tbl_set_refresh,
 * and when it is down the last good tables stay in service.
 * sup_stop sends SIGTERM and waits at most a few seconds, then SIGKILL.
 */
#ifndef VD_SUPERVISE_H
#define VD_SUPERVISE_H

#include <ev.h>
#include <stdbool.h>
#include <sys/types.h>

#define SUP_ARGS_MAX 8
#define SUP_ARG_LEN 1024

struct sup {
	struct ev_loop *loop;
	char name[32];
	char argv_buf[SUP_ARGS_MAX][SUP_ARG_LEN];
	char *argv[SUP_ARGS_MAX + 1];
	pid_t pid;            /* 0: not running */
	ev_child child;
	ev_timer restart;
	double delay;         /* before the next restart */
	ev_tstamp started;
	bool active;
};

/* Starts argv[0] with its arguments (NULL-terminated). 0 or -1. */
int sup_start(struct sup *s, struct ev_loop *loop, const char *name,
	      const char *const *argv);
void sup_stop(struct sup *s);

#endif
