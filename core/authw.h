/*
 * authw: the password workers. A small pool of child processes that alone
 * read the passwords table and run the slow hashes (pwhash), so the loop
 * never waits for one. Requests and answers travel over one socketpair per
 * worker, non-blocking on our side:
 *     request  'Q' id(4) loginlen(2) pwlen(2) login pw
 *     answer   'A' id(4) result(1)
 * A worker that dies (or takes longer than the timeout, and is killed) is
 * replaced, and every check it held answers AUTHW_TEMPFAIL. A full queue
 * answers at once: authw_check returns NULL, the caller says "try again
 * later", nothing blocks. An unknown login is checked against a dummy
 * hash of the default scheme, so it costs what a real one costs (no
 * account probing by timing).
 * Workers run with the privileges vdmaild has when authw_start is called
 * (after it dropped them), with stdin on /dev/null and every other
 * descriptor closed. Buffers holding passwords are wiped.
 */
#ifndef VD_AUTHW_H
#define VD_AUTHW_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

#define AUTHW_MAX_WORKERS 16
#define AUTHW_LOGIN_MAX 320
#define AUTHW_PW_MAX 1024

enum authw_result {
	AUTHW_OK,       /* the password matches */
	AUTHW_FAIL,     /* unknown login or wrong password: one answer */
	AUTHW_TEMPFAIL, /* no answer could be had: try again later */
};

typedef void authw_done_fn(void *arg, enum authw_result r);

struct authw_req {
	uint32_t id;
	authw_done_fn *cb;  /* NULL once cancelled */
	void *arg;
	ev_tstamp sent;
	struct authw_req *next;
};

struct authw_worker {
	struct authw_pool *pool;
	pid_t pid;          /* 0: not running */
	int fd;
	ev_io io;
	ev_child child;
	struct buf out, in;
	struct authw_req *head, **tail; /* in the order sent */
	unsigned pending;
};

struct authw_pool {
	struct ev_loop *loop;
	char table_dir[1024];
	bool allow_plain;
	unsigned nworkers, per_worker;
	double timeout;
	uint32_t next_id;
	struct authw_worker w[AUTHW_MAX_WORKERS];
	ev_timer tick;      /* timeouts and restarts */
	unsigned long checks, tempfails;
};

/*
 * Starts nworkers workers (1..AUTHW_MAX_WORKERS) that read
 * TABLE_DIR/passwords.cdb. per_worker bounds the checks queued at each,
 * timeout the seconds one may take. 0, or -1 when a worker cannot start.
 */
int authw_start(struct authw_pool *p, struct ev_loop *loop, unsigned nworkers,
		const char *table_dir, bool allow_plain, unsigned per_worker,
		double timeout);
void authw_stop(struct authw_pool *p);

/*
 * Queues a check of pw for login. cb(arg, result) is called exactly once,
 * from the loop, later (never from inside this call), unless the request
 * is cancelled first. Returns the request, or NULL when every queue is
 * full or the input is too long (answer "try again later" / fail).
 */
struct authw_req *authw_check(struct authw_pool *p, const char *login,
			      size_t llen, const char *pw, size_t pwlen,
			      authw_done_fn *cb, void *arg);
/* The callback of r will not be called (its connection went away). */
void authw_cancel(struct authw_req *r);

#endif
