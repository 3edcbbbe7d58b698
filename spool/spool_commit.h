/*
 * spool_commit: group commit. Messages that finished DATA during one loop
 * turn are made durable together, from the loop's prepare hook: each file
 * is fdatasync'd and renamed (NOREPLACE) from tmp/ into queue/, then the
 * queue directory is fsync'd once for the whole batch, and only then is
 * each waiting session told (its 250 goes out after this). A failure
 * anywhere reports an error to that message's session (451), never a 250.
 * Committed messages are handed to the queue runner through queued().
 * Blocks only on local disk (the fsyncs of one batch).
 */
#ifndef VD_SPOOL_COMMIT_H
#define VD_SPOOL_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "spool/spool.h"

struct spool_commit {
	struct spool *spool;
	struct spool_file *head;
	struct spool_file **tail;
	void (*queued)(void *arg, const char *qid);
	void *queued_arg;
	uint64_t batches;
	uint64_t files;
};

void spool_commit_init(struct spool_commit *gc, struct spool *spool,
		       void (*queued)(void *arg, const char *qid), void *arg);

/*
 * Queues a finished file (spool_finish returned 0) for the next batch.
 * done(arg, 0) is called once it is durable in queue/, or done(arg, errno)
 * when it could not be made durable (the file is then gone). The file's
 * fd is closed either way. done may be called from spool_commit_run only.
 */
void spool_commit(struct spool_commit *gc, struct spool_file *f,
		  void (*done)(void *arg, int err), void *arg);

/* Runs one batch (from the prepare hook). */
void spool_commit_run(struct spool_commit *gc);

static inline bool
spool_commit_pending(const struct spool_commit *gc)
{
	return gc->head != NULL;
}

#endif
