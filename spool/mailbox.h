/*
 * mailbox: the read side of one Maildir++ mailbox of the store, for POP3
 * (RFC 1939) and later IMAP. mbox_open lists new/ and cur/ once; the
 * caller then reads messages by index, marks them deleted or seen, and
 * mbox_commit applies the marks (the POP3 UPDATE state). Owns the
 * mailbox directory fd, the message array and at most one open message.
 * Never leaves the mailbox (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS,
 * O_NOFOLLOW below it); blocks only on local disk, each call bounded (one
 * listing of the mailbox at open, one rescan of cur/ when another program
 * has moved a message). Not thread-safe; no global state.
 */
#ifndef VD_MAILBOX_H
#define VD_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spool/store.h"

#define MBOX_UID_MAX 72 /* RFC 1939 7: 1 to 70 characters, plus NUL */
#define MBOX_MAX_MSGS 100000

struct mbox_msg {
	/* Below the mailbox: "new/X" or "cur/X:2,FLAGS". */
	char name[STORE_NAME_MAX];
	/* UIDL: the base name X (up to ':'), 0x21-0x7E, stable across the
	 * move to cur/ and across sessions. */
	char uid[MBOX_UID_MAX];
	uint64_t size;  /* octets: the file size (CRLF lines) */
	bool in_new;
	bool deleted;   /* marked by the caller (DELE) */
	bool seen;      /* retrieved this session: marked by the caller */
};

struct mbox {
	int dfd;              /* the mailbox directory; -1: none yet (empty) */
	struct mbox_msg *m;   /* sorted by uid, which is arrival order */
	size_t n;
	uint64_t total;       /* sum of sizes */
	char mailbox[256];
	int rfd;              /* the last message read, or -1 */
	size_t ri;            /* its index */
};

/*
 * Opens STORE/mailbox (relative, e.g. "abc.com/alice"; no empty, "." or
 * ".." component: EINVAL) and lists new/ and cur/: regular files only, no
 * dot files, sorted by uid. A file whose name gives no valid UID, whose
 * name does not fit STORE_NAME_MAX, or whose UID repeats one already
 * listed (new/X beside cur/X:2,S) is skipped with a log line. A mailbox
 * (or new/, cur/) that does not exist yet is empty. More than
 * MBOX_MAX_MSGS messages: -1, E2BIG. A symbolic link on the way: -1,
 * ELOOP (ENOTDIR on kernels without openat2). Returns 0, or -1 with
 * errno; b may be given to mbox_close either way.
 */
int mbox_open(struct mbox *b, const struct store *st, const char *mailbox);

/*
 * Reads up to len bytes of message i from offset off into buf. Returns
 * the count, 0 at its end (or past it), -1 with errno: EINVAL for a bad
 * i or off, ENOENT when another program deleted the message. A message
 * another program moved within the mailbox (new/X to cur/X:2,S, or new
 * flags) is found again and b->m[i].name updated. Keeps message i open
 * until another one is read or mbox_close.
 */
ssize_t mbox_read(struct mbox *b, size_t i, uint64_t off, void *buf,
		  size_t len);

/*
 * The UPDATE state (RFC 1939 6): unlinks every deleted message, moves
 * every seen one from new/X to cur/X:2,S, or adds 'S' to the sorted
 * flags of a cur/X:2,FLAGS one (cur/ names with other info are left).
 * A message already gone is not an error; one another program moved is
 * found again. Then fsyncs cur/ and new/ (when anything changed) and
 * appends "-bytes -count\n" for the unlinked messages to maildirsize
 * when that file exists (Maildir++ quota). Every step is one rename or
 * unlink, so a crash leaves each message done or not, never lost; b's
 * names follow the renames. Returns 0, or -1 when some step failed
 * (logged; the others are still done).
 */
int mbox_commit(struct mbox *b);

/* Closes and frees everything; b is then empty. Safe to repeat. */
void mbox_close(struct mbox *b);

#endif
