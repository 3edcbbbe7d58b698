#include "spool/spool_commit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "core/log.h"

void
spool_commit_init(struct spool_commit *gc, struct spool *spool,
		  struct flush *flush,
		  void (*queued)(void *arg, const char *qid), void *arg)
{
	gc->spool = spool;
	gc->flush = flush;
	gc->head = NULL;
	gc->tail = &gc->head;
	gc->queued = queued;
	gc->queued_arg = arg;
	gc->inflight = 0;
	gc->batches = gc->files = 0;
}

void
spool_commit(struct spool_commit *gc, struct spool_file *f,
	     void (*done)(void *arg, int err), void *arg)
{
	f->done = done;
	f->arg = arg;
	f->next_commit = NULL;
	*gc->tail = f;
	gc->tail = &f->next_commit;
}

/* Visible name for a durable file. */
static bool
commit_file(struct spool *s, struct spool_file *f)
{
	if (f->err == 0 && s->sync == SPOOL_SYNC_FSYNC && fdatasync(f->fd) < 0) {
		f->err = errno;
		log_warn("%s: fdatasync of queue file", f->qid);
	}
	if (f->err == 0 && renameat2(s->tmp_dfd, f->tmpname, s->queue_dfd,
				     f->qid, RENAME_NOREPLACE) < 0) {
		f->err = errno;
		log_warn("%s: rename into queue", f->qid);
	}
	if (f->err != 0) {
		spool_abort(s, f);
		return false;
	}
	close(f->fd);
	f->fd = -1;
	return true;
}

/* The names are durable: tell every session of the batch. */
static void
names_durable(void *arg, int err)
{
	struct spool_file *head = arg, *f, *next;
	struct spool_commit *gc = head->batch_gc;

	if (err != 0) {
		/*
		 * The renames may not survive a crash: no 250 may go out.
		 * The files stay queued, so at worst the client's retry
		 * delivers a duplicate; nothing acknowledged is lost.
		 */
		errno = err;
		log_warn("making the queue directory durable");
	}
	gc->inflight--;
	/* done() may free its file, the head included: read next first. */
	for (f = head; f != NULL; f = next) {
		int e = f->err ? f->err : err;
		next = f->next_commit;
		if (f->err == 0) {
			gc->files++;
			gc->queued(gc->queued_arg, f->qid);
		}
		f->done(f->arg, e);
	}
}

/* The data is durable: rename into queue/, then make that durable. */
static void
data_durable(void *arg, int err)
{
	struct spool_file *head = arg, *f;
	struct spool_commit *gc = head->batch_gc;
	bool any = false;
	int derr = 0;

	if (err != 0) {
		errno = err;
		log_warn("flushing queue files");
	}
	for (f = head; f != NULL; f = f->next_commit) {
		if (f->err == 0)
			f->err = err;
		any |= commit_file(gc->spool, f);
	}
	if (any && gc->spool->sync == SPOOL_SYNC_SYNCFS) {
		flush_request(gc->flush, &head->batch_req, FLUSH_DIR,
			      names_durable, head);
		return;
	}
	if (any && fsync(gc->spool->queue_dfd) < 0)
		derr = errno;
	names_durable(head, derr);
}

void
spool_commit_run(struct spool_commit *gc)
{
	struct spool_file *head = gc->head;

	if (head == NULL)
		return;
	gc->head = NULL;
	gc->tail = &gc->head;
	gc->inflight++;
	gc->batches++;
	head->batch_gc = gc;
	if (gc->spool->sync == SPOOL_SYNC_SYNCFS)
		flush_request(gc->flush, &head->batch_req, FLUSH_ALL,
			      data_durable, head);
	else
		data_durable(head, 0);
}
