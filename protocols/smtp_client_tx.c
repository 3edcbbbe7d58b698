/*
 * smtp_client_tx: the transactions of an outbound SMTP session
 * (smtp_client.h has the whole story): MAIL, RCPT and DATA (pipelined
 * when the peer offers PIPELINING, RFC 2920), the text dot-stuffed and
 * streamed, and each recipient's outcome told to the owner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "protocols/smtp_client_int.h"

static void
tell(struct smtpc *s, unsigned i, int code, const char *enh, const char *text)
{
	if (s->told[i])
		return;
	s->told[i] = true;
	s->p.ops->rcpt_done(s->p.arg, s->m, i, code, enh, text);
}

static void
msg_end(struct smtpc *s)
{
	const struct smtpc_msg *m = s->m;

	free(s->rcode);
	free(s->told);
	s->rcode = NULL;
	s->told = NULL;
	s->m = NULL;
	s->p.ops->msg_done(s->p.arg, m);
}

/* Every recipient still without an outcome gets this one. */
void
smtpc_tell_rest(struct smtpc *s, int code, const char *enh, const char *text)
{
	if (s->m == NULL)
		return;
	for (unsigned i = 0; i < s->m->nrcpt; i++)
		tell(s, i, code, enh, text);
	msg_end(s);
}

/* The host failed before a message could go: the owner tries another. */
void
smtpc_tell_failed(struct smtpc *s, const char *enh, const char *text)
{
	if (!s->ready_once && !s->failed_told) {
		s->failed_told = true;
		s->p.ops->failed(s->p.arg, 421, enh, text);
	}
}

/* The session cannot go on: report, then close. */
void
smtpc_session_fail(struct smtpc *s, const char *why)
{
	char text[SMTPC_REPLY_MAX + 64];

	snprintf(text, sizeof(text), "%s with %s", why, s->p.peer_name);
	smtpc_tell_failed(s, "4.4.2", text);
	smtpc_tell_rest(s, 421, "4.4.2", text);
	conn_close(s->c, "smtp_error");
}

/* ---- transactions ---- */

static bool
has_utf8(const char *a)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a >= 0x80)
			return true;
	return false;
}

static bool
needs_utf8(const struct smtpc_msg *m)
{
	if (has_utf8(m->sender))
		return true;
	for (unsigned i = 0; i < m->nrcpt; i++)
		if (has_utf8(m->rcpt[i]))
			return true;
	return false;
}

static void
send_rcpt(struct smtpc *s, unsigned i)
{
	smtpc_send_line(s, "RCPT TO:<%s>", s->m->rcpt[i]);
	s->sent++;
}

/* Sends what may go now: everything with PIPELINING, else the next one. */
static void
send_pending(struct smtpc *s)
{
	unsigned n = s->m->nrcpt;

	while (s->sent <= n + 1 && (s->pipelining || s->sent == s->answered)) {
		if (s->sent == 0) {
			const struct smtpc_msg *m = s->m;
			char size[32] = "";
			if (s->size_ext)
				snprintf(size, sizeof(size), " SIZE=%llu",
					 (unsigned long long)m->size);
			smtpc_send_line(s, "MAIL FROM:<%s>%s%s%s", m->sender, size,
				  m->eightbit && s->eightbitmime
					  ? " BODY=8BITMIME" : "",
				  needs_utf8(m) ? " SMTPUTF8" : "");
			s->sent++;
		} else if (s->sent <= n) {
			send_rcpt(s, s->sent - 1);
		} else {
			smtpc_send_line(s, "DATA");
			s->sent++;
		}
	}
}

/* A message that cannot go to this peer at all fails before MAIL. */
static bool
refuse_early(struct smtpc *s)
{
	char text[128];

	if (s->size_max != 0 && s->m->size > s->size_max) {
		snprintf(text, sizeof(text), "message size %llu exceeds the "
			 "limit %llu of %s", (unsigned long long)s->m->size,
			 (unsigned long long)s->size_max, s->p.peer_name);
		smtpc_tell_rest(s, 552, "5.3.4", text);
		return true;
	}
	if (needs_utf8(s->m) && !s->smtputf8) {
		snprintf(text, sizeof(text), "%s does not support SMTPUTF8, "
			 "needed for these addresses", s->p.peer_name);
		smtpc_tell_rest(s, 553, "5.6.7", text);
		return true;
	}
	return false;
}

const struct smtpc_msg smtpc_idle_marker;

void
smtpc_start_next(struct smtpc *s)
{
	const struct smtpc_msg *m;

	s->idle = false;
	while (!s->shutdown && (m = s->p.ops->next(s->p.arg)) != NULL) {
		if (m == SMTPC_IDLE) {
			s->idle = true;
			s->st = SC_READY;
			conn_set_timeout(s->c, s->p.idle);
			return;
		}
		conn_set_timeout(s->c, s->p.timeout);
		s->m = m;
		s->rcode = calloc(m->nrcpt ? m->nrcpt : 1, sizeof(*s->rcode));
		s->told = calloc(m->nrcpt ? m->nrcpt : 1, sizeof(*s->told));
		if (s->rcode == NULL || s->told == NULL) {
			/* tell() needs told[]: without it, give up the session */
			free(s->told);
			s->told = NULL;
			s->st = SC_QUIT;
			smtpc_session_fail(s, "out of memory");
			return;
		}
		if (refuse_early(s))
			continue;
		s->sent = s->answered = s->accepted = 0;
		s->mail_code = 0;
		s->st = SC_TX;
		send_pending(s);
		return;
	}
	s->st = SC_QUIT;
	smtpc_send_line(s, "QUIT");
}

/* The reply to MAIL, RCPT i, or DATA (index s->answered). */
void
smtpc_on_tx_reply(struct smtpc *s)
{
	unsigned idx = s->answered++, n = s->m->nrcpt;
	char enh[8];

	smtpc_reply_enh(&s->r, enh);
	if (idx == 0) {
		s->mail_code = s->r.code;
		util_strlcpy(s->mail_reply, s->r.text, sizeof(s->mail_reply));
	} else if (idx <= n) {
		s->rcode[idx - 1] = s->r.code;
		if (s->mail_code / 100 != 2) {
			/* RCPT after a refused MAIL: the MAIL reply counts */
		} else if (s->r.code / 100 == 2) {
			s->accepted++;
		} else {
			tell(s, idx - 1, s->r.code, enh, s->r.text);
		}
	}
	if (s->mail_code / 100 != 2 && idx == 0 && !s->pipelining) {
		char e[8];
		smtpc_reply_enh(&s->r, e);
		smtpc_tell_rest(s, s->mail_code, e, s->mail_reply);
		s->st = SC_RSET;
		smtpc_send_line(s, "RSET");
		return;
	}
	if (idx <= n) {
		send_pending(s);
		return;
	}
	/* The DATA reply: every RCPT answer is in. */
	if (s->mail_code / 100 != 2) {
		struct smtpc_reply mr = { .code = s->mail_code };
		util_strlcpy(mr.text, s->mail_reply, sizeof(mr.text));
		mr.len = strlen(mr.text);
		smtpc_reply_enh(&mr, enh);
		smtpc_tell_rest(s, s->mail_code, enh, s->mail_reply);
	} else if (s->r.code == 354 && s->accepted > 0) {
		s->st = SC_BODY;
		s->off = 0;
		pop3_stuff_init(&s->stuff, -1);
		s->c->flags |= CONN_F_PRODUCING;
		return;
	} else if (s->accepted > 0) {
		smtpc_tell_rest(s, s->r.code, enh, s->r.text);
	} else {
		msg_end(s); /* every recipient was refused and told */
	}
	if (s->r.code == 354) {
		/* RFC 2920 3.1: 354 with no recipient: an empty message */
		smtpc_send_line(s, ".");
		s->st = SC_DOT;
		s->m = NULL;
		return;
	}
	s->st = SC_RSET;
	smtpc_send_line(s, "RSET");
}

static void
stuff_out(void *arg, const char *p, size_t n)
{
	conn_write(arg, p, n);
}

/* Streams the text, a chunk per call, while the output has room. */
void
smtpc_stream_body(struct smtpc *s)
{
	char buf[SMTPC_CHUNK];

	while (buf_len(&s->c->out) < CONN_OUT_HIGH && !conn_is_closing(s->c)) {
		ssize_t n = s->p.ops->read(s->p.arg, s->m, s->off, buf,
					   sizeof(buf));
		if (n < 0) {
			/* An aborted DATA must not reach the recipients:
			 * close without the final dot. */
			smtpc_tell_rest(s, 451, "4.3.0", "local error reading the "
				  "queued message");
			conn_close(s->c, "read_error");
			return;
		}
		if (n == 0) {
			pop3_stuff_end(&s->stuff, stuff_out, s->c);
			s->c->flags &= ~(unsigned)CONN_F_PRODUCING;
			s->st = SC_DOT;
			return;
		}
		pop3_stuff(&s->stuff, buf, (size_t)n, stuff_out, s->c);
		s->off += (uint64_t)n;
	}
}

/* The final reply applies to every accepted recipient (RFC 5321 4.2.5). */
void
smtpc_on_dot(struct smtpc *s)
{
	char enh[8];

	smtpc_reply_enh(&s->r, enh);
	if (s->m != NULL) {
		for (unsigned i = 0; i < s->m->nrcpt; i++)
			if (s->rcode[i] / 100 == 2)
				tell(s, i, s->r.code, enh, s->r.text);
		msg_end(s);
	}
	if (s->r.code / 100 == 2) {
		smtpc_start_next(s);
	} else {
		s->st = SC_RSET;
		smtpc_send_line(s, "RSET");
	}
}
