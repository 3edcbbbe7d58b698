/*
 * pickup: local submission, vdmaild's side. vdmail-sendmail (any local
 * user) drops one file per message into SPOOL/maildrop/; pickup takes
 * each complete file, checks all of it, and turns it into a queue file
 * through the spool API, with our Received header first. The maildrop
 * file is removed only once the queue file is durable (the commit's
 * done callback): a crash in between takes the file again, so at worst a
 * duplicate, never a loss.
 *
 * The directory is mode MAILDROP_DIR_MODE (03733: sticky, setgid,
 * rwx-wx-wx) and owned by vdmaild's user: anyone may create a file,
 * nobody else may list or remove one, and every file gets vdmaild's
 * group, so a file made 0640 by its dropper is readable by vdmaild and
 * by no other user.
 *
 * The file format is spool/maildrop.h's (written by tools/sendmail.c
 * and by pickup itself for its retry files).
 *
 * Names starting with MAILDROP_TMP_PREFIX ("tmp.") are files still
 * being written and are never taken (removed once a day old). The dropper is the file's owner from
 * fstat, never what the file says; U is believed only in files owned by
 * vdmaild itself (the retry files below).
 *
 * Everything in a file is hostile: its type and link count, the format,
 * line lengths, the sizes (file size = envelope + Z, Z within
 * message_size_limit), address syntax, the number of recipients, and the
 * text (CRLF only, no NUL, lines of at most 1000 octets, as SMTP DATA).
 * A bad file is logged with its name and why, and moved to
 * SPOOL/corrupt/maildrop.ID (or removed if that fails).
 *
 * Recipients are routed as for authenticated submission: local users,
 * list members, users on other hosts and addresses outside our domains
 * (outbound delivery's). Per recipient: a permanent refusal is logged and
 * dropped; when every recipient is refused the file goes to corrupt/. A
 * temporary one: when nobody can be delivered the file stays and is
 * tried again after queue_retry_min seconds, doubling up to
 * queue_retry_max, and after PICKUP_GIVEUP seconds it goes to corrupt/;
 * when others can, they are queued now and the deferred ones go into a
 * new maildrop file of ours (a retry file), made durable before the
 * original is removed.
 *
 * Runs in the loop: an inotify watch on the directory (a file renamed
 * into it or written and closed there wakes a scan at once) and a slow
 * timer (PICKUP_POLL, for anything missed); at most PICKUP_TURN_FILES files or about PICKUP_TURN_BYTES
 * octets per loop turn, the rest on the next one. Blocks only on local
 * disk: reading the file twice (check, then copy) and, for a retry file,
 * writing and fsyncing it.
 */
#ifndef VD_PICKUP_H
#define VD_PICKUP_H

#include <ev.h>
#include <stdint.h>

#include "core/cfg.h"
#include "spool/spool.h"
#include "spool/maildrop.h"
#include "spool/spool_commit.h"

#define PICKUP_NAME_MAX 256
#define PICKUP_TURN_FILES 16
#define PICKUP_TURN_BYTES (8 * 1024 * 1024)
#define PICKUP_INFLIGHT_MAX 64   /* files waiting for the group commit */
#define PICKUP_DEFER_MAX 256     /* deferred files remembered */
#define PICKUP_POLL 30.0         /* seconds between fallback scans */
#define PICKUP_GIVEUP (5 * 86400) /* RFC 5321 4.5.4.1: 4-5 days */
#define PICKUP_TMP_STALE 86400   /* a tmp. file untouched this long is junk */

struct tbl_set;
struct store;
struct pickup_job;

struct pickup_defer {
	char name[PICKUP_NAME_MAX];
	ev_tstamp due;
	unsigned attempts;
};

struct pickup {
	struct ev_loop *loop;
	struct spool *spool;
	struct spool_commit *commit;
	struct tbl_set *tables;
	struct store *store;     /* quota usage for routing */
	const struct cfg *cfg;   /* stays valid across reloads */
	int dfd;                 /* SPOOL/maildrop; -1 when off */
	char path[SPOOL_PATH_MAX + 16];
	int ino_fd;              /* inotify: a file arrived */
	ev_io watch;
	ev_timer poll;           /* fallback scan */
	ev_timer kick;           /* more work left, or a deferred file due */
	char *io;                /* read buffer */
	struct pickup_job *jobs; /* files in the group commit */
	unsigned njobs;
	struct pickup_defer *defer;
	unsigned ndefer;
	uint64_t taken, corrupt;
};

/*
 * Creates SPOOL/maildrop (mode MAILDROP_DIR_MODE) if missing, makes SPOOL
 * searchable by other users when we own it, starts the watchers and
 * takes what is already there on the first loop turn. The pointers must
 * outlive the module. Returns 0, or -1 (logged; local submission is off,
 * the rest of vdmaild runs).
 */
int pickup_init(struct pickup *p, struct ev_loop *loop, struct spool *spool,
		struct spool_commit *commit, struct tbl_set *tables,
		struct store *store, const struct cfg *cfg);

/*
 * Stops the watchers and closes the directory. Call it after the group
 * commit has finished (its callbacks use the module); files still in
 * flight then are simply taken again at the next start.
 */
void pickup_fini(struct pickup *p);

#endif
