/*
 * store: the Maildir++ message store below STORE/ (one directory per
 * mailbox, STORE/DOMAIN/LOCALPART by default, folders as .Name), readable
 * by Dovecot and Courier. Messages are stored as received (CRLF lines)
 * with a Return-Path header first, under the name
 *     ARRIVAL.V<queue id>.<host>,S=<size>
 * which is the same for every recipient of one message: local recipients
 * share one file through hard links (single instance), and a repeated
 * delivery after a crash finds the name and is not done twice.
 * Quota usage is kept in each mailbox's maildirsize (Maildir++ quota:
 * a definition line "NS,MC", then "bytes count" lines), recalculated when
 * missing, when its definition changes or once it outgrows 5120 bytes.
 * Blocks only on local disk.
 */
#ifndef VD_STORE_H
#define VD_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define STORE_PATH_MAX 1024
#define STORE_NAME_MAX 256
#define STORE_QUOTA_DEF_MAX 64
#define STORE_ALLOC_DIRS 32

struct store {
	char dir[STORE_PATH_MAX];
	int dfd;
	bool readonly; /* vdctl: read usage, never write maildirsize */
	char host[128]; /* host name made safe for Maildir names */
	int alloc[STORE_ALLOC_DIRS]; /* STORE/.alloc/NN, -1 if missing */
	unsigned next_alloc;
};

struct store_usage {
	uint64_t bytes;
	uint64_t msgs;
};

int store_init(struct store *st, const char *dir, const char *hostname);
void store_fini(struct store *st);

/*
 * Opens the mailbox directory, creating it and its tmp/new/cur durably on
 * first use. Returns a directory fd, or -1 with errno.
 */
int store_open_box(struct store *st, const char *mailbox);

/*
 * A new unnamed file (O_TMPFILE) for a message, to be linked into
 * mailboxes. Files are created in turn in the directories of
 * STORE/.alloc/, which the file system places in different block groups:
 * new inodes then spread out instead of piling into one group per mailbox,
 * where ext4 (without a journal) scans every recently deleted inode on each
 * allocation. Falls back to the mailbox's tmp/. Returns the fd or -1.
 */
int store_tmpfile(struct store *st, int boxfd);

/* Creates and opens STORE/.alloc/ (vdmaild only; vdctl never writes). */
void store_open_alloc(struct store *st);

/* The Maildir name of a queued message (see above). 0 or -1. */
int store_msg_name(const struct store *st, char *out, size_t outlen,
		   time_t arrival, const char *qid, uint64_t size);

/* 1 when name is already in box (new/NAME or cur/NAME:2,...), 0 if not. */
int store_has_msg(int boxfd, const char *name);

/* "NS,MC" for a byte and message quota (-1 parts are left out). */
void store_quota_def(char *out, size_t outlen, int64_t quota,
		     int64_t msgquota);

/*
 * Current usage of a mailbox; a mailbox that does not exist yet is empty.
 * def (or NULL) is the definition the maildirsize must carry; a different
 * one triggers a recalculation. 0 or -1.
 */
int store_quota_usage(struct store *st, const char *mailbox, const char *def,
		      struct store_usage *u);

/* Records a delivered message of bytes in box's maildirsize. 0 or -1. */
int store_quota_add(int boxfd, uint64_t bytes);

#endif
