/*
 * spool_commit: group commit. Messages that finished DATA during one loop
 * turn are made durable together, from the loop's prepare hook:
 *   syncfs mode: every file is renamed (NOREPLACE) from tmp/ into queue/,
 *     then one syncfs through the flush child makes data and names
 *     durable; a file torn by a crash before it completed fails the size
 *     and CRC check of its envelope and is never delivered;
 *   fsync mode: fdatasync of each file, rename, one fsync of queue/.
 * Only then is each waiting session told, so its 250 goes out after the
 * message is on disk. A failure anywhere reports an error to that
 * message's session (451), never a 250, and its file leaves the queue.
 * Committed messages go to the queue runner via queued(). With the flush
 * child the loop never waits for the disk; in fsync mode it does
 * (bounded local disk work).
 */
#ifndef VD_SPOOL_COMMIT_H
#define VD_SPOOL_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "spool/flush.h"
#include "spool/spool.h"

struct spool_commit {
	struct spool *spool;
	struct flush *flush; /* used in SPOOL_SYNC_SYNCFS mode */
	struct spool_file *head;
	struct spool_file **tail;
	void (*queued)(void *arg, const char *qid);
	void *queued_arg;
	unsigned inflight; /* batches waiting for the disk */
	uint64_t batches;
	uint64_t files;
};

void spool_commit_init(struct spool_commit *gc, struct spool *spool,
		       struct flush *flush,
		       void (*queued)(void *arg, const char *qid), void *arg);

/*
 * Queues a finished file (spool_finish returned 0) for the next batch.
 * done(arg, 0) is called once it is durable in queue/, or done(arg, errno)
 * when it could not be made durable (the file is then gone). The file's
 * fd is closed either way. done is called from the loop, never from
 * spool_commit itself.
 */
void spool_commit(struct spool_commit *gc, struct spool_file *f,
		  void (*done)(void *arg, int err), void *arg);

/* Starts one batch with what is queued (from the prepare hook). */
void spool_commit_run(struct spool_commit *gc);

static inline bool
spool_commit_pending(const struct spool_commit *gc)
{
	return gc->head != NULL;
}

#endif
