/*
 * spool: the queue directory and the writing of one message.
 *
 * On-disk states of a message (SPOOL/...):
 *   tmp/QID      being received; never acknowledged; deleted at start-up.
 *   queue/QID    complete: written, fdatasync'd, renamed here, and the
 *                queue directory fsync'd (spool_commit) before the client
 *                got its 250. Delivered by the queue runner.
 *   corrupt/QID  a queue file that failed validation, kept for the admin.
 * Transitions: spool_open creates tmp/QID (O_EXCL) with the envelope;
 * spool_write appends text; spool_finish fixes the size; spool_commit
 * makes it durable and renames it (renameat2 NOREPLACE) into queue/;
 * spool_abort unlinks tmp/QID. After delivery the queue runner marks
 * recipients done in place and unlinks queue/QID (see deliver.h).
 *
 * Blocks only on local disk. Write errors are latched in the file and
 * reported by spool_finish / the commit, never silently dropped.
 */
#ifndef VD_SPOOL_H
#define VD_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "spool/spool_env.h"

#define SPOOL_PATH_MAX 512
#define SPOOL_WBUF_MAX (64 * 1024)
#define SPOOL_WBUF_FLUSH (32 * 1024)

struct spool {
	char dir[SPOOL_PATH_MAX];
	int tmp_dfd;
	int queue_dfd;
	int corrupt_dfd;
	uint64_t last_us; /* queue ids grow strictly */
};

struct spool_file {
	char qid[SPOOL_QID_MAX];
	int fd;
	int err;          /* first errno latched, 0 if none */
	uint64_t text;    /* text bytes written so far */
	size_t zoff;      /* file offset of the Z digits */
	size_t env_len;   /* envelope length (text starts here) */
	struct buf wbuf;  /* pending writes */
	/* group commit */
	struct spool_file *next_commit;
	void (*done)(void *arg, int err);
	void *arg;
};

/* Creates SPOOL/{tmp,queue,corrupt} if needed and opens them. 0 or -1. */
int spool_init(struct spool *s, const char *dir);
void spool_fini(struct spool *s);

/* Removes every tmp/ file (messages never acknowledged). Returns count. */
int spool_clean_tmp(struct spool *s);

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

/* Closes and unlinks tmp/QID. */
void spool_abort(struct spool *s, struct spool_file *f);

#endif
