/*
 * spool: the queue directory and the writing of one message.
 *
 * On-disk states of a message (SPOOL/...):
 *   tmp/NAME     a file being written, or a spare file kept for reuse;
 *                never acknowledged, never delivered.
 *   queue/QID    complete: written, made durable, renamed here, and the
 *                rename made durable (spool_commit) before the client got
 *                its 250. Delivered by the queue runner.
 *   corrupt/QID  a queue file that failed validation, kept for the admin.
 *   hold/QID     a message the admin held (vdctl queue hold): kept, not
 *                delivered, until released back into queue/.
 *   ctl/VERB[.QID] a request of vdctl's for the running vdmaild
 *                (flush, hold, release, delete; sched.h), removed once done.
 * Transitions: spool_open takes a spare file from tmp/ (or creates one),
 * writes the envelope over it from offset 0; spool_write appends text;
 * spool_finish fixes the size and cuts the file to it; spool_commit makes
 * its data durable, renames it (renameat2 NOREPLACE) into queue/QID and
 * makes that durable; spool_abort returns it to tmp/ as a spare. After
 * delivery the queue runner marks recipients done in place, and once all
 * are done and durable, spool_recycle moves queue/QID back to tmp/ as a
 * spare (or unlinks it when there are enough spares).
 * Spares exist because reusing a file's inode and blocks is much cheaper
 * for the file system than creating and deleting one per message.
 *
 * Blocks only on local disk. Write errors are latched in the file and
 * reported by spool_finish / the commit, never silently dropped.
 */
#ifndef VD_SPOOL_H
#define VD_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "spool/flush.h"
#include "spool/spool_env.h"

struct spool_commit;

#define SPOOL_PATH_MAX 512
#define SPOOL_WBUF_MAX (64 * 1024)
#define SPOOL_WBUF_FLUSH (32 * 1024)

/*
 * How a batch is made durable: fdatasync/fsync of each file and directory,
 * or one syncfs(2) of the file system for the whole batch (far fewer
 * journal commits; it also flushes other programs' data on that file
 * system).
 */
enum spool_sync { SPOOL_SYNC_SYNCFS, SPOOL_SYNC_FSYNC };

#define SPOOL_SPARES_MAX 1024

struct spool {
	enum spool_sync sync;
	char dir[SPOOL_PATH_MAX];
	int tmp_dfd;
	int queue_dfd;
	int corrupt_dfd;
	int hold_dfd;
	int ctl_dfd;
	uint64_t last_us; /* queue ids grow strictly */
	char (*spares)[SPOOL_QID_MAX]; /* names of spare files in tmp/ */
	unsigned nspares;
};

struct spool_file {
	char qid[SPOOL_QID_MAX];
	char tmpname[SPOOL_QID_MAX]; /* its name in tmp/ until committed */
	int fd;
	int err;          /* first errno latched, 0 if none */
	uint64_t text;    /* text bytes written so far */
	uint32_t crc;     /* CRC-32 of the text so far */
	size_t zoff;      /* file offset of the Z digits */
	size_t env_len;   /* envelope length (text starts here) */
	struct buf wbuf;  /* pending writes */
	/* group commit: the first file of a batch carries the batch */
	struct spool_file *next_commit;
	struct flush_req batch_req;
	struct spool_commit *batch_gc;
	void (*done)(void *arg, int err);
	void *arg;
};

/* Creates SPOOL/{tmp,queue,corrupt} if needed and opens them. 0 or -1. */
int spool_init(struct spool *s, const char *dir);
void spool_fini(struct spool *s);

/*
 * Takes stock of tmp/ at start-up: every file there was never
 * acknowledged and becomes a spare (extra ones are removed). Returns the
 * number of spares, or -1.
 */
int spool_scan_tmp(struct spool *s);

/* A fresh queue id: 16 hex digits of microseconds, strictly increasing. */
void spool_new_qid(struct spool *s, char qid[SPOOL_QID_MAX]);

/*
 * Creates tmp/QID with env's envelope (env->qid is the id to use).
 * Returns 0, or -1 with errno (nothing left behind).
 */
int spool_open(struct spool *s, const struct spool_env *env,
	       struct spool_file *f);

/* Appends message text; errors are latched (see f->err). */
void spool_write(struct spool_file *f, const void *data, size_t len);

/*
 * Flushes and writes the final size into the envelope. Returns 0, or -1
 * with the latched errno. The file is then ready for spool_commit.
 */
int spool_finish(struct spool_file *f);

/* Gives up the message: its file goes back to the spares (or away). */
void spool_abort(struct spool *s, struct spool_file *f);

/*
 * queue/QID is fully delivered (and that is durable): it becomes a spare
 * in tmp/, or is unlinked when there are enough. 0 or -1.
 */
int spool_recycle(struct spool *s, const char *qid);

#endif
