/*
 * smtp_client: the outbound SMTP session (RFC 5321) as a state machine on
 * a struct conn that core/conn.c connected. It speaks to one host and
 * carries as many messages as its owner (spool/outq.c) hands it, one
 * transaction after another on the same connection.
 *
 *   greeting 220 -> EHLO (HELO when EHLO is refused) -> STARTTLS when the
 *   peer offers it and we have a client TLS context (RFC 3207; then EHLO
 *   again) -> per message: MAIL, RCPT..., DATA (sent together when the
 *   peer offers PIPELINING, RFC 2920; one at a time otherwise), the text
 *   dot-stuffed and streamed, the final reply -> RSET after a failed
 *   transaction -> QUIT when the owner has nothing more.
 *
 * Extensions used: PIPELINING, SIZE (RFC 1870: SIZE= sent, and a message
 * larger than the peer's limit fails with 552 5.3.4 without being sent),
 * 8BITMIME (RFC 6152: BODY=8BITMIME when the message is 8-bit and the
 * peer offers it; an 8-bit message to a peer without it is sent as it is,
 * as Postfix does), SMTPUTF8 (RFC 6531: an address with UTF-8 needs it,
 * else 553 5.6.7 without sending).
 *
 * Results go to the owner per recipient (smtpc_ops.rcpt_done) with the
 * peer's reply, so some recipients of a message may succeed while others
 * defer. A session that fails before the greeting or EHLO completed
 * reports it through smtpc_ops.failed (the owner tries the next host); a
 * connection lost mid-transaction gives every unanswered recipient a
 * 4.4.2 result. Peer replies are hostile: each line is limited to
 * SMTPC_REPLY_LINE octets and a reply to SMTPC_REPLY_LINES lines (past
 * that: the session ends with a protocol error), and only their printable
 * bytes reach a result.
 * Never touches a descriptor or a file: the text comes from
 * smtpc_ops.read.
 */
#ifndef VD_SMTP_CLIENT_H
#define VD_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cdb/tbl_rec.h"
#include "core/conn.h"

#define SMTPC_REPLY_LINE 2048
#define SMTPC_REPLY_LINES 64
#define SMTPC_REPLY_MAX 512 /* what a result keeps of a reply */

/* One message as the owner hands it to a session. */
struct smtpc_msg {
	const char *sender;      /* "" for <> */
	const char *const *rcpt; /* the recipients for this host */
	unsigned nrcpt;
	uint64_t size;           /* text size, for SIZE= */
	bool eightbit;           /* BODY=8BITMIME */
	void *owner;             /* the owner's handle, passed back */
};

struct smtpc_ops {
	/*
	 * The next message for this connection; NULL when there is none
	 * (the session then says QUIT and ends), or SMTPC_IDLE: none now,
	 * but the owner may have one soon (the session waits, connected,
	 * until smtpc_wake or params.idle seconds, then says QUIT).
	 */
	const struct smtpc_msg *(*next)(void *arg);
	/*
	 * Up to len bytes of m's text from offset off: the count, 0 at the
	 * end, -1 on a read error (the transaction is abandoned, 4.3.0).
	 */
	ssize_t (*read)(void *arg, const struct smtpc_msg *m, uint64_t off,
			char *buf, size_t len);
	/*
	 * Recipient i of m has its outcome: code is the reply code (2xx
	 * delivered, 4xx try later, 5xx failed), reply the peer's words
	 * (or ours, for a local failure), enh its RFC 3463 code.
	 */
	void (*rcpt_done)(void *arg, const struct smtpc_msg *m, unsigned i,
			  int code, const char *enh, const char *reply);
	/* Every recipient of m has its outcome; m is no longer used. */
	void (*msg_done)(void *arg, const struct smtpc_msg *m);
	/*
	 * The host could not be used: no connection, no greeting, a refused
	 * EHLO/HELO, TLS required but not there. code 4xx or 5xx, why for
	 * the log and for the recipients' results. No message was taken.
	 */
	void (*failed)(void *arg, int code, const char *enh, const char *why);
	/* The session is gone (after every other callback). */
	void (*closed)(void *arg);
};

/* What the session needs to know; the strings outlive it. */
struct smtpc_params {
	const char *helo;         /* our name for EHLO */
	const char *peer_name;    /* the host's name, for logs and TLS */
	struct tls_client_ctx *tls; /* NULL: no STARTTLS */
	int tls_policy;           /* SMTPC_TLS_* */
	double timeout;           /* seconds per reply (RFC 5321 4.5.3.2) */
	double idle;              /* seconds an idle session waits */
	const struct smtpc_ops *ops;
	void *arg;
};

enum {
	SMTPC_TLS_MAY,     /* STARTTLS when offered; any certificate */
	SMTPC_TLS_ENCRYPT, /* STARTTLS required; any certificate */
	SMTPC_TLS_VERIFY,  /* STARTTLS required with a verified certificate */
};

extern const struct conn_proto smtp_client_proto;
extern const struct smtpc_msg smtpc_idle_marker;
#define SMTPC_IDLE (&smtpc_idle_marker)

/* An idle session asks next() again (from the loop's next turn). */
void smtpc_wake(struct conn *c);
/* An idle session says QUIT and ends (its slot is wanted elsewhere). */
void smtpc_quit(struct conn *c);

/*
 * The session state to give conn_connect as its sess (the connection's
 * proto is smtp_client_proto). NULL when out of memory.
 */
void *smtpc_new(const struct smtpc_params *p);
/* Frees a session that never got its connection. */
void smtpc_free(void *sess);

/* "tls=verified", "tls=unverified (not trusted)", "tls=none" for logs. */
const char *smtpc_tls_state(const struct conn *c);

#endif
