/*
 * deliver: local delivery of one queued message into the store.
 *
 * Order, so that a crash at any point neither loses nor doubles a
 * recipient's copy:
 *   1. (retry only) a recipient whose message name is already in its
 *      mailbox counts as delivered;
 *   2. the text, with a Return-Path header, is written once into the first
 *      pending mailbox's tmp/ and fdatasync'd;
 *   3. it is hard-linked into new/ of every pending mailbox (single
 *      instance; a copy where a link cannot be made), and each new/ is
 *      fsync'd;
 *   4. when every recipient is done the queue file is unlinked; otherwise
 *      the delivered ones are marked D in place and the file fdatasync'd.
 * The name is derived from the queue id, so step 1 finds an earlier
 * attempt's link. A queue file that fails validation (torn, bad envelope)
 * moves to corrupt/ and is logged; it is never delivered nor deleted.
 * Blocks only on local disk.
 */
#ifndef VD_DELIVER_H
#define VD_DELIVER_H

#include <stdbool.h>
#include <stddef.h>

struct spool;
struct store;

enum deliver_result {
	DELIVER_DONE,  /* every recipient delivered; queue file removed */
	DELIVER_DEFER, /* some recipient must be tried again later */
	DELIVER_GONE,  /* no such queue file (or moved to corrupt/) */
};

struct deliver {
	struct spool *spool;
	struct store *store;
	double now; /* set by the caller for delay= in logs */
};

/*
 * Delivers queue/QID. fresh says the message was never tried before (so
 * the already-delivered check of step 1 is skipped). why receives the
 * reason of a deferral.
 */
enum deliver_result deliver_message(struct deliver *d, const char *qid,
				    bool fresh, char *why, size_t whylen);

#endif
