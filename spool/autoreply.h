/*
 * autoreply: the `autoreply` delivery option (Sun's mailDeliveryOption
 * autoreply, the users table's reply* and vac* fields): whether a message
 * gets an automatic answer (RFC 3834 2), the answer's text (RFC 3834 3),
 * and the once-per-sender record that keeps it to one answer per sender
 * per period.
 * autoreply_wanted, autoreply_format and autoreply_parse_gentime are pure:
 * no I/O, no globals, never block. autoreply_once alone touches the disk:
 * one small file in the mailbox directory, read and rewritten in bounded
 * local work. Queueing the answer is the caller's, with the envelope
 * sender <> (RFC 3834 3.3) and the envelope recipient in->sender.
 * Two files: autoreply.c holds the rules and the text (autoreply_wanted,
 * autoreply_format), autoreply_once.c the record and the dates
 * (autoreply_once, autoreply_timeout, autoreply_parse_gentime).
 *
 * The caller's order: autoreply_wanted (0: log its reason), then
 * autoreply_once (1: log "already_replied"; -1: no answer), then
 * autoreply_format and queue. A format or queue failure after once
 * costs one answer, never a second one.
 *
 * The original header is hostile: any octets (NUL, 8-bit, lone CR),
 * lines of any length, lines without a colon, truncated anywhere. It is
 * read up to its first empty line or its end; a field is a line and the
 * lines after it that start with a space or TAB (RFC 5322 2.2.3); names
 * are matched ASCII case-insensitively, and a name followed by blanks
 * before its colon counts (RFC 5322 4.5.8, obs-optional). The first
 * Subject, Message-ID, References and In-Reply-To fields are the ones
 * used.
 */
#ifndef VD_AUTOREPLY_H
#define VD_AUTOREPLY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"

#define AUTOREPLY_LINE_MAX 998     /* octets of a line, CRLF not counted */
#define AUTOREPLY_ADDR_MAX 254     /* octets of an address we answer */
#define AUTOREPLY_SUBJECT_MAX 900  /* octets of the Subject value */
#define AUTOREPLY_ORIG_SUBJECT_MAX 200 /* of which from the original */
#define AUTOREPLY_MSGID_MAX 250    /* octets of a msg-id we repeat */
#define AUTOREPLY_REFS_MAX 10      /* msg-ids in References */
#define AUTOREPLY_ECHO_MAX 16384   /* octets of the header echoed */
#define AUTOREPLY_DEFAULT_HOURS 168 /* replytimeout absent: one week */
#define AUTOREPLY_MAX_HOURS (24 * 366 * 10)

#define AUTOREPLY_STATE_FILE "vdmail.autoreply"
#define AUTOREPLY_STATE_MAX 1000   /* senders remembered */
/* Octets of the state file read; the rest is ignored. */
#define AUTOREPLY_STATE_BYTES (AUTOREPLY_STATE_MAX * (AUTOREPLY_ADDR_MAX + 22))

/*
 * What the caller knows of the message and the user. NULL strings read
 * as "". Addresses are compared ASCII case-insensitively as a whole
 * (local part too): a wrong match costs an answer, never a loop.
 */
struct autoreply_in {
	const char *header;     /* the original header as stored; any octets */
	size_t headerlen;
	const char *sender;     /* the envelope sender, "" for <> */
	const char *rcpt;       /* the address the message came to */
	const char *user_addr;  /* the user's primary address: our From: */
	const char *const *addrs; /* the user's other addresses (alternate,
	                             equivalent), naddrs of them, or NULL */
	size_t naddrs;
	const char *mode;       /* replymode: "echo" (any case) quotes the
	                           original header after the text; anything
	                           else is "reply" */
	const char *subject;    /* replysubject; "" = "Auto: " + original */
	const char *text;       /* replytext, decoded (LF, CRLF or CR lines) */
	const char *text_internal; /* replyinternal, for senders in the
	                              domain of user_addr; "" = text */
	const char *vacstart;   /* vacationStartDate, "" = no start */
	const char *vacend;     /* vacationEndDate, "" = no end */
	time_t now;
	const char *hostname;   /* ours: the right side of the Message-ID */
	const char *qid;        /* the queue id of the original (or of the
	                           answer): the left side of the Message-ID */
};

/*
 * Whether the message gets an answer. The first rule that holds decides,
 * in this order, and writes its token to why (whylen octets, NUL
 * included; why may be NULL): the configuration, then the sender, then
 * the header.
 *  no_text          the text that would be sent (text_internal for a
 *                   sender of user_addr's domain when set, else text) is
 *                   empty or blank
 *  bad_user_addr    user_addr fails the test of bad_sender below
 *  bad_date         vacstart or vacend is set but malformed
 *  outside_vacation now < vacstart or now >= vacend
 *  null_sender      sender is <> (RFC 3834 2: MUST NOT)
 *  bad_sender       sender is not printable US-ASCII without blanks, has
 *                   no local part or domain, or is over
 *                   AUTOREPLY_ADDR_MAX octets (an SMTPUTF8 sender is not
 *                   answered: the answer would need SMTPUTF8 itself)
 *  self             sender is rcpt, user_addr or one of addrs
 *  daemon           sender's local part is MAILER-DAEMON, mailer or
 *                   postmaster (RFC 3834 2 MAY; vacation(1)'s list)
 *  list             sender's local part is owner-*, *-owner, *-request,
 *                   *-bounces, listserv or majordomo (RFC 3834 2 MAY);
 *                   the local part is cut at its first "+" first
 *  noreply          sender's local part is noreply, no-reply,
 *                   donotreply or do-not-reply: nobody reads the answer
 *  auto_submitted   an Auto-Submitted field whose first word is not
 *                   "no", an empty one too (RFC 3834 2, 5)
 *  list             a List-* field (RFC 2369, RFC 2919), Mailing-List or
 *                   X-Mailing-List, or Precedence: list (RFC 3834 2)
 *  bulk             Precedence: bulk or junk
 *  suppressed       X-Auto-Response-Suppress with the word OOF or All
 *                   (MS-OXCMAIL: Exchange's way to say the same)
 *  not_addressed    no To, Cc, Bcc, Resent-To, Resent-Cc or Resent-Bcc
 *                   field names rcpt, user_addr or one of addrs (RFC 3834
 *                   2 SHOULD: a Bcc, a list or a forward gets no answer;
 *                   neither does a header truncated before them)
 * An address is named when a run of address characters (letters,
 * digits, 8-bit octets and !#$%&'*+-/=?^_`{|}~.@) of the field equals it;
 * this is a token match, not an RFC 5322 parser.
 * Returns 1 (why "") or 0.
 */
int autoreply_wanted(const struct autoreply_in *in, char *why,
		     size_t whylen);

/*
 * Appends the answer, header and body, to out. Every line ends in CRLF
 * and holds at most AUTOREPLY_LINE_MAX octets; the result is 7-bit.
 * Header: Date (UTC, RFC 5322 3.3); From: <user_addr> (RFC 3834 3.1.1;
 * no display name: we have none); To: <sender> (RFC 3834 3.1.3, one
 * recipient; RFC 3834 4: the Return-Path, which is the envelope sender,
 * not From or Reply-To); Subject (below); Message-ID
 * <qid.now.CRC@hostname>, CRC the CRC-32 of user_addr in hex, so the
 * answers of two users to one message differ; In-Reply-To and References
 * (RFC 3834 3.1.6, RFC 5322 3.6.4: the last AUTOREPLY_REFS_MAX - 1
 * msg-ids of the original's References, or of its In-Reply-To when that
 * holds one, then its Message-ID) when the original has a Message-ID of
 * at most AUTOREPLY_MSGID_MAX octets without blanks or controls
 * (msg-ids of References that are not are skipped); Auto-Submitted:
 * auto-replied (RFC 3834 3.1.7, 5); Precedence: bulk (not standard,
 * for older responders that know only it); MIME-Version, Content-Type
 * text/plain with charset utf-8 when the body has 8-bit octets, else
 * us-ascii; Content-Transfer-Encoding quoted-printable (RFC 2045 6.7)
 * when the body has 8-bit octets, controls other than TAB, or a line over
 * AUTOREPLY_LINE_MAX octets, else 7bit. The body is sent as it is: never
 * cut.
 * Subject: replysubject with every "$SUBJECT" replaced by the original
 * subject (Sun's convention), or "Auto: " and the original subject (RFC
 * 3834 3.1.5), or "Auto: (no subject)". The original subject, and then
 * the whole value, are unfolded; controls (NUL, CR, LF, TAB) and runs of
 * blanks become one space; an octet that is not well-formed UTF-8
 * becomes "?"; at most AUTOREPLY_ORIG_SUBJECT_MAX octets of the original
 * are kept and at most AUTOREPLY_SUBJECT_MAX in all, cut at a character.
 * US-ASCII words are written as they are (encoded-words of the original
 * stay intact), folded at spaces; the words from the first to the last
 * with 8-bit octets as RFC 2047 "B" encoded-words in UTF-8.
 * Body: the text (text_internal for a sender of user_addr's domain when
 * set; 8-bit text is taken to be UTF-8, as the directory holds it), each
 * LF, CR or CRLF written CRLF, ending in CRLF. In echo mode an
 * empty line follows and then the original header, each line quoted
 * "> ", with controls but TAB and non-UTF-8 octets as "?", each line cut
 * at AUTOREPLY_LINE_MAX - 2 octets, at most AUTOREPLY_ECHO_MAX octets of
 * it, cut at a line ("> [...]" then says so).
 * Room that always suffices, t the length of the text sent:
 * 4 * (2 * t + AUTOREPLY_ECHO_MAX) + 8192 octets.
 * Returns 0, or -1 when out would pass its max (or memory is short); out
 * is then left as it was.
 */
int autoreply_format(struct buf *out, const struct autoreply_in *in);

/*
 * The once-per-sender rule (RFC 3834 2: SHOULD NOT answer a sender more
 * than once per period). Returns 1 when sender was answered from this
 * mailbox less than timeout seconds before now; else records now as its
 * last answer and returns 0. timeout <= 0: 0 at once, nothing recorded
 * (replytimeout 0: every message is answered).
 * The record is AUTOREPLY_STATE_FILE in box_fd: lines "SECONDS ADDRESS"
 * newest first, addresses lower-cased, at most AUTOREPLY_STATE_MAX of
 * them (the oldest dropped), expired ones dropped. It is read up to
 * AUTOREPLY_STATE_BYTES octets; a line that is not well formed, has a
 * time more than a day after now, or passes that size is ignored and
 * dropped; a symbolic link or other non-regular file in its place is
 * read as empty and replaced. It is rewritten as a temporary file
 * renamed over it; never fsynced: after a crash the worst is one answer
 * too many.
 * Returns -1 with errno on an I/O error (no answer then) and EINVAL when
 * sender could not be stored (empty, over AUTOREPLY_ADDR_MAX octets, or
 * not printable US-ASCII without blanks).
 */
int autoreply_once(int box_fd, const char *sender, time_t now,
		   time_t timeout);

/*
 * The period for replytimeout hours, in seconds: AUTOREPLY_DEFAULT_HOURS
 * for -1 (absent) or any negative value (Sun's default; RFC 5230 4.1's
 * 7 days), 0 for 0, at most AUTOREPLY_MAX_HOURS.
 */
time_t autoreply_timeout(int64_t hours);

/*
 * Generalized time, as vacationStartDate holds it (RFC 4517 3.3.13, and
 * the shorter forms of our tables): YYYYMMDD[HH[MM[SS]]], a fraction
 * ("." or "," and digits) after HH or later (ignored), then "Z", a
 * differential +HH[MM] or -HH[MM], or nothing (read as UTC). A missing
 * part is 0: "20261130Z" is 2026-11-30T00:00:00Z. Returns the time, or
 * -1 when s is malformed, names no real date or time (second 60 is
 * allowed) or falls before 1970.
 */
time_t autoreply_parse_gentime(const char *s);

#endif
