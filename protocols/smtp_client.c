#include "protocols/smtp_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "protocols/smtp_client_int.h"

void
smtpc_send_line(struct smtpc *s, const char *fmt, ...)
{
	char line[SMTPC_REPLY_LINE];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		n = 0;
	memcpy(line + n, "\r\n", 2);
	conn_write(s->c, line, (size_t)n + 2);
}

void
smtpc_reply_enh(const struct smtpc_reply *r, char enh[8])
{
	const char *t = r->text + 4;
	int cls = r->code / 100;

	if (r->len > 9 && t[0] == '0' + cls && t[1] == '.' &&
	    strspn(t + 2, "0123456789.") >= 3) {
		size_t n = strcspn(t, " ");
		if (n < 8) {
			memcpy(enh, t, n);
			enh[n] = '\0';
			return;
		}
	}
	snprintf(enh, 8, "%d.0.0", cls >= 2 && cls <= 5 ? cls : 4);
}

static bool
is_digit3(const char *l, size_t len)
{
	return len >= 3 && l[0] >= '2' && l[0] <= '5' && l[1] >= '0' &&
	       l[1] <= '9' && l[2] >= '0' && l[2] <= '9' &&
	       (len == 3 || l[3] == ' ' || l[3] == '-');
}

/* Adds one line's printable bytes to r->text ("; " between lines). */
static void
reply_keep(struct smtpc_reply *r, const char *l, size_t len)
{
	if (r->lines > 1 && r->len + 2 < sizeof(r->text)) {
		memcpy(r->text + r->len, "; ", 2);
		r->len += 2;
		l += len > 4 ? 4 : len; /* later lines: no code again */
		len -= len > 4 ? 4 : len;
	}
	for (size_t i = 0; i < len && r->len + 1 < sizeof(r->text); i++)
		r->text[r->len++] = l[i] >= 0x20 && l[i] < 0x7f ? l[i] : '?';
	r->text[r->len] = '\0';
}

static void on_reply(struct smtpc *s, const char *line0, size_t len0);

/* EHLO keywords, RFC 5321 4.1.1.1 (each later line of the reply). */
static void
ehlo_keyword(struct smtpc *s, const char *l, size_t len)
{
	if (len < 4)
		return;
	l += 4;
	len -= 4;
	if (util_has_iprefix(l, len, "PIPELINING"))
		s->pipelining = true;
	else if (util_has_iprefix(l, len, "8BITMIME"))
		s->eightbitmime = true;
	else if (util_has_iprefix(l, len, "SMTPUTF8"))
		s->smtputf8 = true;
	else if (util_has_iprefix(l, len, "STARTTLS"))
		s->starttls = true;
	else if (util_has_iprefix(l, len, "SIZE") &&
		 (len == 4 || l[4] == ' ')) {
		uint64_t v = 0;
		s->size_ext = true;
		if (len > 5 && util_parse_u64(l + 5, len - 5, UINT64_MAX,
					      &v) == 0)
			s->size_max = v;
	}
}

/* Reads whole replies; returns when input runs out or the session ends. */
static void
smtpc_input(struct conn *c)
{
	struct smtpc *s = c->sess;
	char line[SMTPC_REPLY_LINE];
	size_t len;
	int rc;

	while (!conn_is_closing(c) && s->st != SC_BODY && s->st != SC_TLS &&
	       (rc = conn_take_line(c, line, sizeof(line), &len)) != 0) {
		if (rc < 0 || !is_digit3(line, len) ||
		    (s->r.lines > 0 && atoi(line) != s->r.code) ||
		    ++s->r.lines > SMTPC_REPLY_LINES) {
			smtpc_session_fail(s, "protocol error in the reply");
			return;
		}
		if (s->r.lines == 1)
			s->r.code = atoi(line);
		else if (s->st == SC_EHLO)
			ehlo_keyword(s, line, len);
		reply_keep(&s->r, line, len);
		if (len > 3 && line[3] == '-')
			continue;
		on_reply(s, line, len);
		memset(&s->r, 0, sizeof(s->r));
	}
	if (s->st == SC_BODY && !conn_is_closing(c))
		on_reply(s, NULL, 0); /* streaming: make more text */
}

/* ---- the session ---- */

static void
greeted(struct smtpc *s)
{
	s->ready_once = true;
	s->st = SC_READY;
	smtpc_start_next(s);
}

/* Before any message: this host will not do; QUIT politely. */
static void
refuse_host(struct smtpc *s, int code, const char *enh, const char *text,
	    const char *reason)
{
	s->failed_told = true;
	s->p.ops->failed(s->p.arg, code, enh, text);
	s->st = SC_QUIT;
	smtpc_send_line(s, "QUIT");
	conn_close_after_write(s->c, reason);
}

static void
hello_fail(struct smtpc *s, const char *what)
{
	char text[SMTPC_REPLY_MAX + 96], enh[8];

	smtpc_reply_enh(&s->r, enh);
	snprintf(text, sizeof(text), "%s said %s to %s", s->p.peer_name,
		 s->r.text, what);
	refuse_host(s, s->r.code, enh, text, "refused");
}

/* After EHLO/HELO: STARTTLS if offered and wanted, else ready. */
static void
after_hello(struct smtpc *s)
{
	if (!conn_is_tls(s->c) && s->starttls && s->p.tls != NULL) {
		s->st = SC_STARTTLS;
		smtpc_send_line(s, "STARTTLS");
		return;
	}
	if (!conn_is_tls(s->c) && s->p.tls_policy != SMTPC_TLS_MAY) {
		char text[300];
		snprintf(text, sizeof(text), "TLS is required, but %s did not "
			 "offer STARTTLS", s->p.peer_name);
		refuse_host(s, 450, "4.7.4", text, "no_starttls");
		return;
	}
	greeted(s);
}

static void
send_ehlo(struct smtpc *s)
{
	s->pipelining = s->eightbitmime = s->smtputf8 = s->starttls = false;
	s->size_ext = false;
	s->size_max = 0;
	s->st = SC_EHLO;
	smtpc_send_line(s, "EHLO %s", s->p.helo);
}

static void
on_reply(struct smtpc *s, const char *line, size_t len)
{
	(void)line;
	(void)len;
	switch (s->st) {
	case SC_GREET:
		if (s->r.code != 220)
			hello_fail(s, "our connection");
		else
			send_ehlo(s);
		break;
	case SC_EHLO:
		if (s->r.code / 100 == 2) {
			after_hello(s);
		} else if (s->r.code / 100 == 5) {
			s->st = SC_HELO; /* RFC 5321 3.2: fall back to HELO */
			smtpc_send_line(s, "HELO %s", s->p.helo);
		} else {
			hello_fail(s, "EHLO");
		}
		break;
	case SC_HELO:
		if (s->r.code / 100 == 2)
			after_hello(s);
		else
			hello_fail(s, "HELO");
		break;
	case SC_STARTTLS:
		if (s->r.code == 220) {
			s->st = SC_TLS;
			conn_starttls_client(s->c, s->p.tls, s->p.peer_name);
		} else if (s->p.tls_policy == SMTPC_TLS_MAY) {
			greeted(s); /* opportunistic: go on in plaintext */
		} else {
			hello_fail(s, "STARTTLS");
		}
		break;
	case SC_TX:
		smtpc_on_tx_reply(s);
		break;
	case SC_BODY:
		smtpc_stream_body(s);
		break;
	case SC_DOT:
		smtpc_on_dot(s);
		break;
	case SC_RSET:
		if (s->r.code / 100 == 2)
			smtpc_start_next(s);
		else
			smtpc_session_fail(s, "RSET refused");
		break;
	case SC_QUIT:
		conn_close_after_write(s->c, "quit");
		break;
	case SC_READY:
	case SC_TLS:
		smtpc_session_fail(s, "unexpected reply");
		break;
	}
}

static void
smtpc_tls_ready(struct conn *c)
{
	struct smtpc *s = c->sess;
	char why[80];
	int ok = conn_tls_peer_verified(c, why, sizeof(why));

	snprintf(s->tls_state, sizeof(s->tls_state), "tls=%s%s%s%s",
		 ok ? "verified" : "unverified", ok ? "" : " (", ok ? "" : why,
		 ok ? "" : ")");
	log_info("c=%06x smtp-out %s %s", c->id, s->p.peer_name,
		 s->tls_state);
	if (!ok && s->p.tls_policy == SMTPC_TLS_VERIFY) {
		char text[200];
		snprintf(text, sizeof(text), "the TLS certificate of %s is not "
			 "verified: %s", s->p.peer_name, why);
		refuse_host(s, 450, "4.7.5", text, "tls_unverified");
		return;
	}
	send_ehlo(s); /* RFC 3207 4.2: forget what was learnt before */
}

static int
smtpc_open(struct conn *c)
{
	struct smtpc *s = c->sess;

	s->c = c;
	s->st = SC_GREET;
	conn_set_timeout(c, s->p.timeout);
	return 0;
}

static void
smtpc_timeout(struct conn *c)
{
	struct smtpc *s = c->sess;

	if (s->idle) {
		/* Nothing more came: a normal end (RFC 5321 4.1.1.10). */
		s->idle = false;
		s->shutdown = true;
		s->st = SC_QUIT;
		util_strlcpy(c->close_reason, "idle", sizeof(c->close_reason));
		smtpc_send_line(s, "QUIT");
		return;
	}
	smtpc_session_fail(s, "timeout");
}

void
smtpc_quit(struct conn *c)
{
	struct smtpc *s = c->sess;

	if (s == NULL || !s->idle || conn_is_closing(c))
		return;
	s->shutdown = true; /* smtpc_start_next then says QUIT */
	smtpc_wake(c);
}

void
smtpc_wake(struct conn *c)
{
	struct smtpc *s = c->sess;

	if (s == NULL || !s->idle || conn_is_closing(c))
		return;
	smtpc_start_next(s);
	conn_resume(c); /* the command goes out from the loop's next turn */
}

static void
smtpc_shutdown(struct conn *c)
{
	struct smtpc *s = c->sess;

	s->shutdown = true;
	if (s->st == SC_READY || s->st == SC_GREET || s->st == SC_EHLO ||
	    s->st == SC_HELO) {
		smtpc_tell_failed(s, "4.3.2", "delivery stopped: shutting down");
		conn_close(c, "shutdown");
	}
}

static void
smtpc_close(struct conn *c)
{
	struct smtpc *s = c->sess;
	char text[200];

	snprintf(text, sizeof(text), "lost connection with %s (%s)",
		 s->p.peer_name, c->close_reason[0] ? c->close_reason
						    : "closed");
	smtpc_tell_failed(s, "4.4.1", text);
	smtpc_tell_rest(s, 421, "4.4.2", text);
	s->p.ops->closed(s->p.arg);
	c->sess = NULL;
	free(s);
}

void *
smtpc_new(const struct smtpc_params *p)
{
	struct smtpc *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->p = *p;
	util_strlcpy(s->tls_state, "tls=none", sizeof(s->tls_state));
	return s;
}

void
smtpc_free(void *sess)
{
	free(sess);
}

const char *
smtpc_tls_state(const struct conn *c)
{
	const struct smtpc *s = c->sess;

	return s != NULL ? s->tls_state : "tls=none";
}

const struct conn_proto smtp_client_proto = {
	.name = "smtp-out",
	.open = smtpc_open,
	.input = smtpc_input,
	.timeout = smtpc_timeout,
	.tls_ready = smtpc_tls_ready,
	.shutdown = smtpc_shutdown,
	.close = smtpc_close,
};
