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

/* The file's name in queue/ (its data made durable first in fsync mode). */
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

/*
 * fsync mode: each file's data is durable, then its name; the directory
 * is synced once for the batch.
 */
static void
commit_fsync(struct spool_file *head)
{
	struct spool_commit *gc = head->batch_gc;
	struct spool_file *f;
	bool any = false;
	int derr = 0;

	for (f = head; f != NULL; f = f->next_commit)
		any |= commit_file(gc->spool, f);
	if (any && fsync(gc->spool->queue_dfd) < 0)
		derr = errno;
	names_durable(head, derr);
}

/*
 * syncfs mode: the renames come first, then one flush makes data and
 * names durable together. Until it has, no 250 goes out; a crash before
 * leaves at worst a torn queue file, which the size and CRC of its
 * envelope expose (never delivered).
 */
static void
flushed(void *arg, int err)
{
	struct spool_file *head = arg, *f;
	struct spool_commit *gc = head->batch_gc;

	if (err != 0) {
		errno = err;
		log_warn("flushing queue files");
		/* Not durable and not acknowledged: take them back out. */
		for (f = head; f != NULL; f = f->next_commit)
			if (f->err == 0 &&
			    unlinkat(gc->spool->queue_dfd, f->qid, 0) < 0)
				log_warn("%s: unlink from queue", f->qid);
	}
	names_durable(head, err);
}

void
spool_commit_run(struct spool_commit *gc)
{
	struct spool_file *head = gc->head, *f;
	bool any = false;

	if (head == NULL)
		return;
	gc->head = NULL;
	gc->tail = &gc->head;
	gc->inflight++;
	gc->batches++;
	head->batch_gc = gc;
	if (gc->spool->sync == SPOOL_SYNC_FSYNC) {
		commit_fsync(head);
		return;
	}
	for (f = head; f != NULL; f = f->next_commit)
		any |= commit_file(gc->spool, f);
	if (!any) {
		names_durable(head, 0);
		return;
	}
	flush_request(gc->flush, &head->batch_req, flushed, head);
}
