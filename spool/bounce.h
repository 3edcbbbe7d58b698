/*
 * bounce: the text of a delivery status notification (RFC 3464): a
 * multipart/report (RFC 6522) of three parts, a text/plain note saying
 * what failed for each recipient and why, the message/delivery-status
 * report, and the text/rfc822-headers of the message that failed; or the
 * same as a warning that the message is delayed.
 * Pure: formats bytes into the caller's buffer; no I/O, no globals, never
 * blocks. Whether a bounce is due at all (never for a message from <>,
 * never in a loop) is the caller's; so is queueing the result with the
 * envelope sender <> (RFC 5321 4.5.5).
 *
 * The result is 7-bit US-ASCII, every line ends in CRLF and holds at most
 * BOUNCE_LINE_MAX octets (RFC 5322 2.1.1), whatever the input. Text from
 * the network (addresses, the remote reply, the original header) can
 * neither end a line nor start a header field of its own:
 *  - a value (diag, remote_mta, and the bounce_info strings) keeps its
 *    printable US-ASCII; CR, LF, TAB and runs of spaces become one space;
 *    a UTF-8 character beyond ASCII is written \x{HEX}, RFC 6533 3's
 *    EmbeddedUnicodeChar, and any other octet (NUL, a control, DEL, a
 *    byte that is not well-formed UTF-8) \x{FFFD}, the replacement
 *    character. At most BOUNCE_VALUE_MAX octets of the result are kept; a
 *    value cut there ends in "...".
 *  - an address (addr, orig) in the report is "rfc822; addr" when it is
 *    printable US-ASCII, else "utf-8; " and RFC 6533 3's utf-8-addr-xtext
 *    (the form above, with space, "+", "=" and "\" escaped as well).
 *  - long values are folded at spaces (RFC 5322 2.2.3; RFC 3464 2.1.1
 *    lets report fields fold like header fields); a run of more than a
 *    line without a space is broken, which adds a space when unfolded.
 *  - the original header is copied up to its first empty line, or whole
 *    when there is none; LF alone or CRLF ends a line (written CRLF); any
 *    other octet that is not printable US-ASCII or TAB, a lone CR
 *    included, becomes "?"; a line is cut at BOUNCE_LINE_MAX octets.
 */
#ifndef VD_BOUNCE_H
#define VD_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"

#define BOUNCE_LINE_MAX 998   /* octets of a line, CRLF not counted */
#define BOUNCE_VALUE_MAX 2048 /* octets of one value after escaping */

/* One recipient the notice is about. Only addr is required. */
struct bounce_rcpt {
	const char *addr;       /* Final-Recipient: the address we tried */
	const char *orig;       /* Original-Recipient (RFC 3461 ORCPT,
	                           xtext already decoded), or NULL */
	const char *status;     /* RFC 3463 code, "5.1.1"; NULL or malformed
	                           reads "5.0.0" (failed), "4.0.0" (delayed) */
	const char *remote_mta; /* the host that answered, or NULL */
	const char *diag;       /* why: diaglen octets, any bytes (NUL too) */
	size_t diaglen;         /* 0: no Diagnostic-Code */
	bool diag_remote;       /* diag is the remote reply as received,
	                           "550 5.1.1 <x@y>: no such user"
	                           (Diagnostic-Code: smtp;); else our own
	                           words (Diagnostic-Code: X-Vdmail;) */
	time_t last_attempt;    /* Last-Attempt-Date; 0 = unknown */
};

/* The notice as a whole. NULL strings read as "". */
struct bounce_info {
	const char *reporting_mta; /* our host name: Reporting-MTA, the
	                              text, the Message-ID */
	const char *qid;           /* our queue id: X-Vdmail-Queue-ID, the
	                              Message-ID and the MIME boundary */
	const char *from;          /* From: address, "MAILER-DAEMON@host" */
	const char *to;            /* To: address: the envelope sender (or
	                              the postmaster it is redirected to) */
	time_t arrival;            /* Arrival-Date; 0 = unknown */
	time_t now;                /* Date:, Message-ID, boundary */
	bool delayed;              /* a delay warning (Action: delayed, with
	                              now - arrival said in words) instead of
	                              a failure (Action: failed) */
	time_t retry_until;        /* delayed: Will-Retry-Until; 0 = unknown */
};

/*
 * Appends the whole notice (header and body) to out. r[0..n) are the
 * recipients, n >= 1; all get the same Action. orig and origlen are the
 * original message text (NULL with 0 when there is none); only its header
 * is copied, at most max_headers octets of it as copied (CRLF counted):
 * cut before the last header field that fits whole, or after the last
 * line that fits when the first field alone is larger (0: an empty part).
 * The header says Date (UTC, RFC 5322 3.3), From, To, Subject,
 * Message-ID <qid.now.bounce|delay@reporting_mta>, Auto-Submitted:
 * auto-replied (RFC 3834 5.2), MIME-Version and Content-Type. The MIME
 * boundary is derived from qid and now and checked against everything
 * the parts hold (RFC 2046 5.1.1).
 * Returns 0, or -1 when out would pass its max or n is 0; out is then
 * left as it was.
 */
int bounce_format(struct buf *out, const struct bounce_info *bi,
		  const struct bounce_rcpt *r, unsigned n, const char *orig,
		  size_t origlen, size_t max_headers);

#endif
