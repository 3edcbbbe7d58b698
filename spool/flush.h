/*
 * flush: durability without blocking the loop. A child process, forked at
 * start-up, calls syncfs(2) on the spool's and the store's file systems
 * whenever asked; the loop goes on serving sessions meanwhile.
 * A request is answered by a syncfs that started after the request was
 * made, so everything written before flush_request() is on disk when its
 * callback runs. Requests made while a syncfs runs are gathered and
 * answered together by the next one (group commit across the spool and
 * the queue runner).
 * If the child dies its requests go to a new one; if no child can be
 * started the syncfs runs in the loop itself (logged once).
 */
#ifndef VD_FLUSH_H
#define VD_FLUSH_H

#include <ev.h>
#include <stdbool.h>
#include <sys/types.h>

struct flush_req {
	struct flush_req *next;
	void (*done)(void *arg, int err); /* err: 0, or the errno */
	void *arg;
};

struct flush {
	struct ev_loop *loop;
	int fds[2];          /* directories whose file systems to sync */
	pid_t pid;           /* the child, 0 if none */
	int sock;            /* our end of the socketpair, -1 if none */
	ev_io io;
	ev_child child;
	struct flush_req *pending, **pending_tail;
	struct flush_req *inflight;
	unsigned long syncs; /* syncfs calls made, for logs and tests */
};

/*
 * Starts the child. fd_a and fd_b are open directories (fd_b may be -1 or
 * on the same file system as fd_a). Returns 0, or -1 when the child could
 * not be started (requests are then served in the loop).
 */
int flush_init(struct flush *f, struct ev_loop *loop, int fd_a, int fd_b);

/* Stops the child; requests still waiting are served in the loop. */
void flush_fini(struct flush *f);

/*
 * Asks for a flush; done(arg, err) runs from the loop once it is done
 * (before flush_request returns when there is no child).
 */
void flush_request(struct flush *f, struct flush_req *r,
		   void (*done)(void *arg, int err), void *arg);

#endif
