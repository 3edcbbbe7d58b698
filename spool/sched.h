/*
 * sched: the queue runner, in the reactor. A committed message is due at
 * once; due messages are delivered in batches (deliver.h) from a timer
 * that fires delivery_wait seconds after the first one became due, or
 * right away once a full batch is waiting, so a batch shares its flushes
 * and sessions are never starved. A deferred message waits retry_min
 * seconds, doubling per attempt up to retry_max. At start-up every file in
 * queue/ is due (the restart after a crash). Blocks only on local disk.
 */
#ifndef VD_SCHED_H
#define VD_SCHED_H

#include <ev.h>
#include <stdbool.h>

#include "spool/deliver.h"
#include "spool/spool_env.h"

struct sched;

struct sched_entry {
	struct sched_entry *next;
	struct sched *owner;
	ev_tstamp due;
	unsigned attempts;
	bool fresh;
	char qid[SPOOL_QID_MAX];
};

struct sched {
	struct ev_loop *loop;
	struct deliver *deliver;
	unsigned retry_min, retry_max, batch;
	double wait;
	struct sched_entry *ready, **ready_tail;
	struct sched_entry *deferred;
	unsigned nready, ndeferred;
	ev_timer kick;  /* runs a batch */
	ev_timer timer; /* the next deferred message is due */
};

void sched_init(struct sched *s, struct ev_loop *loop, struct deliver *d,
		unsigned retry_min, unsigned retry_max, unsigned batch,
		double wait);
void sched_fini(struct sched *s);

/* A message is due now; fresh when it was never tried. */
void sched_add(struct sched *s, const char *qid, bool fresh);

/* Adds every file in the queue directory. Returns the count or -1. */
int sched_scan(struct sched *s, int queue_dfd);

/* Delivers one batch of due messages now. */
void sched_run(struct sched *s);

#endif
