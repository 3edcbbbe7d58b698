/*
 * maildrop: the format of a maildrop file, shared by its writer
 * (tools/sendmail.c, and spool/pickup.c for its retry files) and its
 * reader (spool/pickup.c). Pure: formats and parses bytes, no I/O; where
 * the file lives and who may read it is pickup.h's.
 *
 *     VDMAILDROP1             magic and version
 *     S<envelope sender>      exactly once; empty for <>
 *     R<recipient>            1 .. max_recipients lines
 *     U<uid>                  at most once; informative (pickup.h says
 *                             when it is believed)
 *     N<login>                at most once; informative
 *     Z<text size>            exactly once, decimal, at most
 *                             MAILDROP_SIZE_DIGITS digits (writers write
 *                             all of them and fill them in last)
 *     <empty line>            end of the envelope
 *     the message text: exactly Z octets of CRLF lines
 *
 * Lines end with LF (no CR) and are at most MAILDROP_LINE_MAX octets.
 * Addresses are as SMTP's MAIL FROM / RCPT TO take them (the same parser),
 * in ASCII without control characters, '<' or '>'.
 */
#ifndef VD_MAILDROP_H
#define VD_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdb/tbl_rec.h"
#include "core/buf.h"

#define MAILDROP_DIR "maildrop"        /* below spool_dir */
#define MAILDROP_MAGIC "VDMAILDROP1"
#define MAILDROP_TMP_PREFIX "tmp."     /* still being written */
#define MAILDROP_LINE_MAX 512          /* an envelope line, LF included */
#define MAILDROP_SIZE_DIGITS 20
#define MAILDROP_LOGIN_MAX 256
#define MAILDROP_DIR_MODE 03733
#define MAILDROP_FILE_MODE 0640
#define MAILDROP_TEXT_LINE_MAX 1000    /* CRLF included, RFC 5321 4.5.3.1.6 */

/* ---- writing ---- */

/* The magic and the S line ("" for <>). */
void maildrop_put_start(struct buf *b, const char *sender);
/* One R line. */
void maildrop_put_rcpt(struct buf *b, const char *addr);
/*
 * The U line, an N line when login is not NULL, Z with size in all
 * MAILDROP_SIZE_DIGITS digits, and the empty line. Returns the offset in
 * b of Z's digits, for a writer that learns the size only at the end
 * (maildrop_size_digits).
 */
size_t maildrop_put_end(struct buf *b, unsigned long uid, const char *login,
			uint64_t size);
/* size as Z's digits, NUL-terminated. */
void maildrop_size_digits(char out[MAILDROP_SIZE_DIGITS + 1], uint64_t size);

/* ---- reading ---- */

enum {
	MAILDROP_SEEN_S = 1,
	MAILDROP_SEEN_U = 2,
	MAILDROP_SEEN_N = 4,
	MAILDROP_SEEN_Z = 8,
};

/* An envelope being parsed; every field is valid once it is complete. */
struct maildrop_env {
	unsigned seen;                /* MAILDROP_SEEN_* */
	unsigned nlines;
	unsigned max_rcpt;
	char sender[TBL_ADDR_MAX];
	char (*rcpt)[TBL_ADDR_MAX];   /* malloc'd: maildrop_env_free */
	unsigned nrcpt;
	unsigned long uid;            /* the U line */
	char login[MAILDROP_LOGIN_MAX];
	uint64_t size;                /* Z */
	const char *why;              /* what is wrong (after a -1) */
};

/* An empty envelope taking at most max_rcpt R lines. */
void maildrop_env_init(struct maildrop_env *e, unsigned max_rcpt);
void maildrop_env_free(struct maildrop_env *e);

/*
 * One line, the magic first, without its LF (a CR before it is kept, and
 * refused). Returns 0 for more, 1 at the empty line that ends the
 * envelope, -1 with e->why.
 */
int maildrop_env_line(struct maildrop_env *e, const char *l, size_t len);

/*
 * After the empty line: S, Z and an R there, and Z within size_limit.
 * 0, or -1 with e->why.
 */
int maildrop_env_done(struct maildrop_env *e, uint64_t size_limit);

/*
 * A sender (rcpt false) or recipient address as a maildrop line carries
 * it: checked with SMTP's parser and copied into out. 0, or -1.
 */
int maildrop_addr(const char *v, size_t vl, bool rcpt,
		  char out[TBL_ADDR_MAX]);
/* Only characters a maildrop line can carry (the rule above). */
bool maildrop_addr_ok(const char *s, size_t len);

#endif
