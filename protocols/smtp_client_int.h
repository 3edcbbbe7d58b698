/*
 * smtp_client_int: the outbound SMTP session's state, shared by the
 * session (smtp_client.c: greeting, EHLO, STARTTLS, reading replies,
 * the connection's life) and its transactions (smtp_client_tx.c: MAIL,
 * RCPT, DATA, the text, the outcomes). Private to protocols/.
 */
#ifndef VD_SMTP_CLIENT_INT_H
#define VD_SMTP_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "protocols/pop3_parse.h"
#include "protocols/smtp_client.h"

#define SMTPC_CHUNK 16384 /* text read per step while streaming */

enum smtpc_state {
	SC_GREET,    /* waiting for 220 */
	SC_EHLO,
	SC_HELO,
	SC_STARTTLS, /* waiting for 220 to STARTTLS */
	SC_TLS,      /* handshake under way */
	SC_READY,    /* between transactions */
	SC_TX,       /* MAIL/RCPT/DATA replies expected */
	SC_BODY,     /* streaming the text */
	SC_DOT,      /* waiting for the reply to the final dot */
	SC_RSET,
	SC_QUIT,
};

/* One reply being read: lines accumulate until the last one. */
struct smtpc_reply {
	int code;
	unsigned lines;
	size_t len;
	char text[SMTPC_REPLY_MAX]; /* printable bytes of every line */
};

struct smtpc {
	struct conn *c;
	struct smtpc_params p;
	enum smtpc_state st;
	bool ready_once;        /* EHLO/HELO completed: failures are per message */
	bool shutdown;
	bool failed_told;
	bool idle;              /* READY, waiting for smtpc_wake */
	/* what the peer offers (EHLO) */
	bool pipelining, eightbitmime, smtputf8, starttls, size_ext;
	uint64_t size_max;      /* 0: no SIZE limit announced */
	char tls_state[128];
	struct smtpc_reply r;
	/* the transaction */
	const struct smtpc_msg *m;
	int *rcode;             /* per recipient: RCPT reply code, 0 = none */
	bool *told;             /* per recipient: rcpt_done called */
	unsigned sent;          /* commands sent: 0 MAIL, 1..n RCPT, n+1 DATA */
	unsigned answered;      /* replies read, same numbering */
	int mail_code;
	char mail_reply[SMTPC_REPLY_MAX];
	unsigned accepted;
	uint64_t off;           /* text streamed so far */
	struct pop3_stuffer stuff;
};

/* smtp_client.c */
void smtpc_send_line(struct smtpc *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "2.1.5" from the reply text, or the class's default (RFC 3463). */
void smtpc_reply_enh(const struct smtpc_reply *r, char enh[8]);

/* smtp_client_tx.c */
/* The next message (or QUIT) once the session is ready. */
void smtpc_start_next(struct smtpc *s);
/* The reply to MAIL, RCPT or DATA; the text; the reply to the dot. */
void smtpc_on_tx_reply(struct smtpc *s);
void smtpc_stream_body(struct smtpc *s);
void smtpc_on_dot(struct smtpc *s);
/* Every recipient still without an outcome gets this one. */
void smtpc_tell_rest(struct smtpc *s, int code, const char *enh,
		     const char *text);
/* The host failed before a message could go (once). */
void smtpc_tell_failed(struct smtpc *s, const char *enh, const char *text);
/* The session cannot go on: report, then close. */
void smtpc_session_fail(struct smtpc *s, const char *why);

#endif
