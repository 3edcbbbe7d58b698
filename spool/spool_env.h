/*
 * spool_env: the envelope of a queue file (pure: formats and parses bytes,
 * no I/O). A queue file is
 *
 *     V1                      format version
 *     I<queue id>
 *     T<arrival, Unix seconds>
 *     C<client address>
 *     H<HELO/EHLO argument>
 *     P<protocol, RFC 3848: SMTP, ESMTP, ESMTPS, UTF8SMTPS, ...>
 *     B<7BIT|8BITMIME>
 *     S<envelope sender, empty for <>>
 *     R<recipient> TAB L<mailbox>   one per recipient; R pending, D done,
 *                                   W pending and its delay warned
 *     R<recipient> TAB X            a recipient for another host: it waits
 *                                   in the queue for outbound delivery
 *     R<recipient> TAB H<mailbox>   a mailbox delivery held (delivery
 *                                   option hold) until the admin releases
 *                                   it (vdctl queue release: H becomes L)
 *     R<recipient> TAB A<login>     an autoreply on behalf of that user
 *     R<recipient> TAB P<name>      a program delivery (program = NAME)
 *     R<recipient> TAB M<path>      an append to an mbox file below
 *                                   file_dir
 *     R<recipient> TAB F<reply>     refused when the message was taken
 *                                   (local submission: "550 5.1.1 ..."):
 *                                   it only bounces
 *   any R line may end with TAB E<address>: where notices about that
 *   recipient go, and the sender it is relayed with (a list's
 *   mgrpErrorsTo), instead of the message's sender
 *     Z<text size: 20 digits> <CRC-32 of the text: 8 hex digits>
 *     ^A^A                    two CTRL-A: end of envelope
 *     the message text (CRLF lines, our Received header first)
 *
 * The R/W/D byte is overwritten in place when a recipient is delivered, and
 * Z is written last: a file whose size is not Z + the envelope length, or
 * whose text does not match the CRC, is torn and never delivered.
 */
#ifndef VD_SPOOL_ENV_H
#define VD_SPOOL_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cdb/tbl_rec.h"
#include "core/buf.h"

#define SPOOL_QID_MAX 24
#define SPOOL_ENV_MAX (16 * 1024 * 1024) /* hard ceiling on an envelope */
#define SPOOL_SIZE_DIGITS 20
#define SPOOL_TRAILER_LEN (SPOOL_SIZE_DIGITS + 9) /* digits, space, CRC */

enum spool_body { SPOOL_BODY_7BIT, SPOOL_BODY_8BITMIME };

struct spool_rcpt {
	char addr[TBL_ADDR_MAX];
	char mailbox[TBL_PATH_MAX]; /* the kind's value; "" when remote */
	char kind;                  /* L X H A P M F; 0 = L, or X if remote */
	bool remote;                /* not ours: outbound delivery's */
	char errorsto[TBL_ADDR_MAX]; /* E: "" = the message's sender */
	size_t kind_off;            /* file offset of the kind byte */
	bool done;
	bool warned;                /* W: a delay warning went out */
	size_t mark_off; /* file offset of the R/D byte */
};

struct spool_env {
	char qid[SPOOL_QID_MAX];
	time_t arrival;
	char client[64];
	char helo[256];
	char proto[16];
	enum spool_body body;
	char sender[TBL_ADDR_MAX];
	struct spool_rcpt *rcpt; /* owned; spool_env_free releases it */
	unsigned nrcpt;
	uint64_t size;           /* text size (Z) */
	uint32_t crc;            /* CRC-32 of the text (Z) */
	size_t text_off;         /* where the text starts in the file */
};

/*
 * Appends the envelope to out with a zero Z field; *zoff_r receives the
 * offset (from the start of out) of the Z digits, for spool_env_set_size.
 * Returns 0, or -1 when a field holds a byte the format cannot carry
 * (control character, TAB) or out is full.
 */
int spool_env_format(struct buf *out, const struct spool_env *e,
		     size_t *zoff_r);

/* Writes the SPOOL_TRAILER_LEN bytes of Z (size and CRC) into dst. */
void spool_env_set_size(char *dst, uint64_t size, uint32_t crc);

/*
 * Parses an envelope from the first len bytes of a queue file. Returns 1
 * (e filled; free with spool_env_free), 0 when the envelope continues past
 * len, or -1 when it is malformed (err says why).
 */
int spool_env_parse(const char *data, size_t len, struct spool_env *e,
		    char *err, size_t errlen);
void spool_env_free(struct spool_env *e);

/*
 * Appends a recipient to the growing array *v (n used, cap allocated),
 * unless the same address already has the same kind and value (one
 * delivery however it was reached). errorsto may be NULL. 0, or -1 when
 * out of memory.
 */
int spool_rcpt_add(struct spool_rcpt **v, unsigned *n, unsigned *cap,
		   const char *addr, char kind, const char *value,
		   const char *errorsto);

/* The recipient's kind letter: its kind, else X (remote) or L. */
static inline char
spool_rcpt_kind(const struct spool_rcpt *r)
{
	return r->kind ? r->kind : r->remote ? 'X' : 'L';
}

#endif
