#include "spool/spool_commit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "core/log.h"

void
spool_commit_init(struct spool_commit *gc, struct spool *spool,
		  void (*queued)(void *arg, const char *qid), void *arg)
{
	gc->spool = spool;
	gc->head = NULL;
	gc->tail = &gc->head;
	gc->queued = queued;
	gc->queued_arg = arg;
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

/* Durable file, then visible name; the directory is synced per batch. */
static bool
commit_file(struct spool *s, struct spool_file *f)
{
	if (fdatasync(f->fd) < 0) {
		f->err = errno;
		log_warn("%s: fdatasync of queue file", f->qid);
	} else if (renameat2(s->tmp_dfd, f->qid, s->queue_dfd, f->qid,
			     RENAME_NOREPLACE) < 0) {
		f->err = errno;
		log_warn("%s: rename into queue", f->qid);
	}
	close(f->fd);
	f->fd = -1;
	if (f->err != 0) {
		unlinkat(s->tmp_dfd, f->qid, 0);
		return false;
	}
	return true;
}

void
spool_commit_run(struct spool_commit *gc)
{
	struct spool_file *list = gc->head, *f, *next;
	bool any = false;
	int dir_err = 0;

	if (list == NULL)
		return;
	gc->head = NULL;
	gc->tail = &gc->head;
	for (f = list; f != NULL; f = f->next_commit)
		any |= commit_file(gc->spool, f);
	if (any && fsync(gc->spool->queue_dfd) < 0) {
		/*
		 * The renames may not survive a crash: no 250 may go out.
		 * The files stay queued, so at worst the client's retry
		 * delivers a duplicate; nothing acknowledged is lost.
		 */
		dir_err = errno;
		log_warn("fsync of queue directory");
	}
	gc->batches++;
	for (f = list; f != NULL; f = next) {
		next = f->next_commit;
		int err = f->err ? f->err : dir_err;
		if (f->err == 0) {
			gc->files++;
			gc->queued(gc->queued_arg, f->qid);
		}
		f->done(f->arg, err);
	}
}
