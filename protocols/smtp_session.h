/*
 * smtp_session: the SMTP server session's state, shared by the session
 * (smtp_server.c) and its submission half (smtp_auth.c). Private to
 * protocols/.
 */
#ifndef VD_SMTP_SESSION_H
#define VD_SMTP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/conn.h"
#include "core/login.h"
#include "core/sasl.h"
#include "protocols/smtp_data.h"
#include "protocols/smtp_parse.h"
#include "spool/spool.h"

#define SMTP_HEADER_MAX (64 * 1024) /* submission reads From: in this much */

/* Where an AUTH exchange stands. */
enum smtp_sasl {
	SMTP_SASL_NONE,
	SMTP_SASL_PLAIN,      /* "334 " sent: the PLAIN response comes */
	SMTP_SASL_LOGIN_USER, /* "334 VXNlcm5hbWU6" sent */
	SMTP_SASL_LOGIN_PASS, /* "334 UGFzc3dvcmQ6" sent */
};

enum smtp_state {
	SMTP_ST_GREET, /* before HELO/EHLO */
	SMTP_ST_IDLE,  /* greeted, no transaction */
	SMTP_ST_MAIL,  /* MAIL accepted, no recipient yet */
	SMTP_ST_RCPT,  /* at least one recipient */
	SMTP_ST_BDAT,  /* between BDAT chunks */
};

enum smtp_mode {
	SMTP_M_CMD,    /* reading command lines */
	SMTP_M_DATA,   /* reading a DATA body */
	SMTP_M_CHUNK,  /* reading a BDAT chunk */
	SMTP_M_COMMIT, /* waiting for the group commit */
};

enum smtp_rc { SMTP_NEXT, SMTP_STOP };

struct smtp_tx {
	struct buf hdr;       /* submission: the header, for the From check */
	bool hdr_done;
	struct smtp_parse_path from;
	struct smtp_parse_params params;
	struct spool_rcpt *rcpt;
	unsigned nrcpt, cap;
	int64_t list_maxsize;  /* the smallest mgrpMsgMaxSize, -1 none */
	bool file_open;
	struct spool_file file;
	struct smtp_data data;
	uint64_t chunk_left;
	bool chunk_last;
	int chunk_fail; /* reply code for a chunk that is only consumed */
};

struct smtp {
	struct conn *c;
	enum smtp_state st;
	enum smtp_mode mode;
	bool esmtp;
	bool shutdown;
	unsigned errors;
	char helo[256];
	struct smtp_tx *tx;
	/* Submission (RFC 6409): AUTH (RFC 4954) before MAIL. */
	bool submission;
	bool authed;
	enum smtp_sasl sasl;  /* a continuation line is awaited */
	bool checking;        /* a login is being checked */
	char sasl_user[SASL_ID_MAX + 1];
	struct login login;
};


/* Queues one reply line; 5xx replies count toward max_errors. */
void smtp_reply(struct smtp *s, int code, const char *enh, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

/* ---- smtp_auth.c ---- */
void smtp_auth_init(struct smtp *s);
void smtp_auth_fini(struct smtp *s);
/* EHLO: whether to offer AUTH (submission, and TLS or login_plaintext). */
bool smtp_auth_offered(const struct smtp *s);
enum smtp_rc smtp_auth_on_auth(struct smtp *s, const char *arg, size_t len);
/* A line while an AUTH exchange waits for the client (s->sasl != NONE). */
void smtp_auth_line(struct smtp *s, const char *line, size_t len);
/* Whether addr (a MAIL FROM or From: address) is one of the logged-in
 * user's: primary, alternate, or in an alias domain. */
bool smtp_auth_owns(struct smtp *s, const char *addr, size_t len);
/* The From: field of the header in hdr: 0 every address is the user's,
 * -1 one is not (or there is none). */
int smtp_auth_check_from(struct smtp *s, const char *hdr, size_t len);

#endif
