/*
 * sched: the queue runner, in the reactor. Committed messages are due at
 * once; an ev_check hook delivers up to `batch` of them after each poll
 * (and an ev_idle keeps the loop from sleeping while more are due), so
 * delivery keeps pace under load without starving sessions. A deferred
 * message waits retry_min seconds, doubling per attempt up to retry_max.
 * At start-up every file in queue/ is due (the restart after a crash).
 * Blocks only on local disk (through deliver).
 */
#ifndef VD_SCHED_H
#define VD_SCHED_H

#include <ev.h>
#include <stdbool.h>

#include "spool/deliver.h"
#include "spool/spool_env.h"

struct sched_entry {
	struct sched_entry *next;
	ev_tstamp due;
	unsigned attempts;
	bool fresh;
	char qid[SPOOL_QID_MAX];
};

struct sched {
	struct ev_loop *loop;
	struct deliver *deliver;
	unsigned retry_min, retry_max, batch;
	struct sched_entry *ready, **ready_tail;
	struct sched_entry *deferred;
	unsigned nready, ndeferred;
	ev_check check;
	ev_idle idle;
	ev_timer timer;
};

void sched_init(struct sched *s, struct ev_loop *loop, struct deliver *d,
		unsigned retry_min, unsigned retry_max, unsigned batch);
void sched_fini(struct sched *s);

/* A message is due now; fresh when it was never tried. */
void sched_add(struct sched *s, const char *qid, bool fresh);

/* Adds every file in the queue directory. Returns the count or -1. */
int sched_scan(struct sched *s, int queue_dfd);

/* Delivers up to one batch now (also used at shutdown). */
void sched_run(struct sched *s);

#endif
