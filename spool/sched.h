/*
 * sched: the queue runner, in the reactor. A committed message is due at
 * once; due messages are delivered in batches (deliver.h) from a timer
 * that fires delivery_wait seconds after the first one became due, or
 * right away once a full batch is waiting, so a batch shares its flushes
 * and sessions are never starved. A deferred message waits retry_min
 * seconds, doubling per attempt up to retry_max. At start-up every file in
 * queue/ is due (the restart after a crash). A message with recipients
 * for other hosts goes on to outbound delivery (outq.h) once its local
 * part is settled, and comes back through sched_outq_done; a message is
 * with one of the two at a time, never both. Blocks only on local disk.
 */
#ifndef VD_SCHED_H
#define VD_SCHED_H

#include <ev.h>
#include <stdbool.h>
#include <time.h>

#include "spool/deliver.h"
#include "spool/spool_env.h"

struct sched;
struct outq;

struct sched_op;

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
	struct outq *outq;      /* NULL: remote recipients just wait */
	unsigned retry_min, retry_max, batch;
	double wait;
	struct sched_entry *ready, **ready_tail;
	struct sched_entry *deferred;
	unsigned nready, ndeferred;
	ev_timer kick;  /* runs a batch */
	ev_timer timer; /* the next deferred message is due */
	struct sched_op *ops; /* hold/delete asked while a message was out */
	struct timespec ctl_mtime; /* of ctl/, when it was last read */
};

void sched_init(struct sched *s, struct ev_loop *loop, struct deliver *d,
		unsigned retry_min, unsigned retry_max, unsigned batch,
		double wait);
void sched_fini(struct sched *s);

/* A message is due now; fresh when it was never tried. */
void sched_add(struct sched *s, const char *qid, bool fresh);

/* Adds every file in the queue directory. Returns the count or -1. */
int sched_scan(struct sched *s, int queue_dfd);

/*
 * Outbound delivery is done with the message cookie came with: DONE (the
 * file is gone), DEFER (retry later), GONE.
 */
void sched_outq_done(void *cookie, enum deliver_result res, const char *why);

/* Every deferred message is due now (vdctl queue flush). */
void sched_flush(struct sched *s);

/*
 * Carries out vdctl's requests in the spool's ctl/ directory (its mtime
 * is checked first unless force): flush (every deferred message due now),
 * flush.QID, hold.QID (queue/ -> hold/), release.QID (hold/ -> queue/,
 * due now; for a message in queue/, its held recipients (H, the delivery
 * option hold) become mailbox ones, due now), delete.QID (removed,
 * logged). A message being delivered at
 * that moment is held or deleted when its attempt ends. Each request file
 * is removed once done; a malformed one is removed and logged.
 */
void sched_control(struct sched *s, bool force);

/* Delivers one batch of due messages now. */
void sched_run(struct sched *s);

#endif
