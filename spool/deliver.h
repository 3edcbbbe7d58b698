/*
 * deliver: local delivery of queued messages into the store, a batch at a
 * time so a batch shares its flushes.
 *
 * Only L recipients (a mailbox) are delivered here. Recipients for other
 * hosts (X) are left to outbound delivery: a message that has any gets
 * DELIVER_REMOTE; autoreply, program and file ones (A, P, M) to the
 * delivery options, DELIVER_OPTIONS; held ones (H) wait, pending.
 * Order, so that a crash at any point neither loses nor doubles a
 * recipient's copy:
 *   1. (retries only) a recipient whose message name is already in its
 *      mailbox counts as delivered;
 *   2. each message's text, with a Return-Path header, is written once
 *      into an unnamed file (O_TMPFILE) in its first pending mailbox's
 *      tmp/, so no reader can see a partial message and a crash leaves
 *      nothing behind;
 *   3. the batch's files are made durable (one syncfs through the flush
 *      child, or an fdatasync each: enum spool_sync);
 *   4. each is linked into new/ of every pending mailbox (single
 *      instance; a copy where a link cannot be made);
 *   5. the links are made durable (one syncfs, or an fsync of each new/);
 *   6. a message whose recipients are all done has its queue file
 *      unlinked; otherwise the delivered recipients are marked D in place
 *      and that is made durable.
 * The Maildir name is derived from the queue id, so step 1 finds an
 * earlier attempt's link. A queue file that fails validation (torn, bad
 * envelope) moves to corrupt/ and is logged; it is never delivered nor
 * deleted. Steps 3, 5 and 6 wait for the flush child without blocking the
 * loop; one batch is in flight at a time. Blocks only on local disk.
 */
#ifndef VD_DELIVER_H
#define VD_DELIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "spool/spool.h"

struct store;
struct flush;
struct deliver_job;

enum deliver_result {
	DELIVER_DONE,  /* every recipient delivered; queue file removed */
	DELIVER_DEFER, /* some recipient must be tried again later */
	DELIVER_GONE,  /* no such queue file (or moved to corrupt/) */
	DELIVER_REMOTE, /* the local part is settled (some may still be
			   pending); recipients for other hosts wait for
			   outbound delivery (outq.h) */
	DELIVER_OPTIONS, /* the same, and autoreply, program or file
			    recipients wait for dlvopt.h (then outq.h) */
};

#define DELIVER_BATCH_MAX 256
#define DELIVER_FDS_MAX 512 /* mailbox directories open in one batch */

typedef void deliver_result_fn(void *cookie, enum deliver_result res,
			       const char *why);

struct deliver {
	struct spool *spool;
	struct store *store;
	struct flush *flush; /* SPOOL_SYNC_SYNCFS: the flush child */
	enum spool_sync sync;
	double now; /* set by the caller, for delay= in logs */
	struct deliver_job *jobs[DELIVER_BATCH_MAX];
	unsigned njobs;
	unsigned nfds;
	bool running;        /* a batch waits for a flush */
	struct flush_req req;
	deliver_result_fn *result;
	void (*batch_done)(void *arg);
	void *batch_arg;
};

/*
 * Adds queue/QID to the next batch and runs steps 1-2 for it. fresh says
 * it was never tried (step 1 is skipped). cookie comes back with its
 * result. Returns 0, or -1 when the batch is full or one is running.
 */
int deliver_add(struct deliver *d, const char *qid, bool fresh, void *cookie);

/*
 * Runs steps 3-6 for the batch: result(cookie, ...) for every message,
 * then batch_done(arg). Both may run before deliver_run returns (fsync
 * mode, or no flush child).
 */
void deliver_run(struct deliver *d, deliver_result_fn *result,
		 void (*batch_done)(void *arg), void *arg);

#endif
