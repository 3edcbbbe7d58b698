#include "protocols/smtp_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "protocols/pop3_parse.h"

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

static void
send_line(struct smtpc *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
send_line(struct smtpc *s, const char *fmt, ...)
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

/* "2.1.5" from the reply text, or the class's default (RFC 3463). */
static void
reply_enh(const struct smtpc_reply *r, char enh[8])
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

static void session_fail(struct smtpc *s, const char *why);
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
			session_fail(s, "protocol error in the reply");
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

/* ---- results ---- */

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
static void
tell_rest(struct smtpc *s, int code, const char *enh, const char *text)
{
	if (s->m == NULL)
		return;
	for (unsigned i = 0; i < s->m->nrcpt; i++)
		tell(s, i, code, enh, text);
	msg_end(s);
}

/* The host failed before a message could go: the owner tries another. */
static void
tell_failed(struct smtpc *s, const char *enh, const char *text)
{
	if (!s->ready_once && !s->failed_told) {
		s->failed_told = true;
		s->p.ops->failed(s->p.arg, 421, enh, text);
	}
}

/* The session cannot go on: report, then close. */
static void
session_fail(struct smtpc *s, const char *why)
{
	char text[SMTPC_REPLY_MAX + 64];

	snprintf(text, sizeof(text), "%s with %s", why, s->p.peer_name);
	tell_failed(s, "4.4.2", text);
	tell_rest(s, 421, "4.4.2", text);
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
	send_line(s, "RCPT TO:<%s>", s->m->rcpt[i]);
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
			send_line(s, "MAIL FROM:<%s>%s%s%s", m->sender, size,
				  m->eightbit && s->eightbitmime
					  ? " BODY=8BITMIME" : "",
				  needs_utf8(m) ? " SMTPUTF8" : "");
			s->sent++;
		} else if (s->sent <= n) {
			send_rcpt(s, s->sent - 1);
		} else {
			send_line(s, "DATA");
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
		tell_rest(s, 552, "5.3.4", text);
		return true;
	}
	if (needs_utf8(s->m) && !s->smtputf8) {
		snprintf(text, sizeof(text), "%s does not support SMTPUTF8, "
			 "needed for these addresses", s->p.peer_name);
		tell_rest(s, 553, "5.6.7", text);
		return true;
	}
	return false;
}

const struct smtpc_msg smtpc_idle_marker;

static void
start_next(struct smtpc *s)
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
			session_fail(s, "out of memory");
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
	send_line(s, "QUIT");
}

/* The reply to MAIL, RCPT i, or DATA (index s->answered). */
static void
on_tx_reply(struct smtpc *s)
{
	unsigned idx = s->answered++, n = s->m->nrcpt;
	char enh[8];

	reply_enh(&s->r, enh);
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
		reply_enh(&s->r, e);
		tell_rest(s, s->mail_code, e, s->mail_reply);
		s->st = SC_RSET;
		send_line(s, "RSET");
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
		reply_enh(&mr, enh);
		tell_rest(s, s->mail_code, enh, s->mail_reply);
	} else if (s->r.code == 354 && s->accepted > 0) {
		s->st = SC_BODY;
		s->off = 0;
		pop3_stuff_init(&s->stuff, -1);
		s->c->flags |= CONN_F_PRODUCING;
		return;
	} else if (s->accepted > 0) {
		tell_rest(s, s->r.code, enh, s->r.text);
	} else {
		msg_end(s); /* every recipient was refused and told */
	}
	if (s->r.code == 354) {
		/* RFC 2920 3.1: 354 with no recipient: an empty message */
		send_line(s, ".");
		s->st = SC_DOT;
		s->m = NULL;
		return;
	}
	s->st = SC_RSET;
	send_line(s, "RSET");
}

static void
stuff_out(void *arg, const char *p, size_t n)
{
	conn_write(arg, p, n);
}

/* Streams the text, a chunk per call, while the output has room. */
static void
stream_body(struct smtpc *s)
{
	char buf[SMTPC_CHUNK];

	while (buf_len(&s->c->out) < CONN_OUT_HIGH && !conn_is_closing(s->c)) {
		ssize_t n = s->p.ops->read(s->p.arg, s->m, s->off, buf,
					   sizeof(buf));
		if (n < 0) {
			/* An aborted DATA must not reach the recipients:
			 * close without the final dot. */
			tell_rest(s, 451, "4.3.0", "local error reading the "
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
static void
on_dot(struct smtpc *s)
{
	char enh[8];

	reply_enh(&s->r, enh);
	if (s->m != NULL) {
		for (unsigned i = 0; i < s->m->nrcpt; i++)
			if (s->rcode[i] / 100 == 2)
				tell(s, i, s->r.code, enh, s->r.text);
		msg_end(s);
	}
	if (s->r.code / 100 == 2) {
		start_next(s);
	} else {
		s->st = SC_RSET;
		send_line(s, "RSET");
	}
}

/* ---- the session ---- */

static void
greeted(struct smtpc *s)
{
	s->ready_once = true;
	s->st = SC_READY;
	start_next(s);
}

/* Before any message: this host will not do; QUIT politely. */
static void
refuse_host(struct smtpc *s, int code, const char *enh, const char *text,
	    const char *reason)
{
	s->failed_told = true;
	s->p.ops->failed(s->p.arg, code, enh, text);
	s->st = SC_QUIT;
	send_line(s, "QUIT");
	conn_close_after_write(s->c, reason);
}

static void
hello_fail(struct smtpc *s, const char *what)
{
	char text[SMTPC_REPLY_MAX + 96], enh[8];

	reply_enh(&s->r, enh);
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
		send_line(s, "STARTTLS");
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
	send_line(s, "EHLO %s", s->p.helo);
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
			send_line(s, "HELO %s", s->p.helo);
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
		on_tx_reply(s);
		break;
	case SC_BODY:
		stream_body(s);
		break;
	case SC_DOT:
		on_dot(s);
		break;
	case SC_RSET:
		if (s->r.code / 100 == 2)
			start_next(s);
		else
			session_fail(s, "RSET refused");
		break;
	case SC_QUIT:
		conn_close_after_write(s->c, "quit");
		break;
	case SC_READY:
	case SC_TLS:
		session_fail(s, "unexpected reply");
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
		send_line(s, "QUIT");
		return;
	}
	session_fail(s, "timeout");
}

void
smtpc_quit(struct conn *c)
{
	struct smtpc *s = c->sess;

	if (s == NULL || !s->idle || conn_is_closing(c))
		return;
	s->shutdown = true; /* start_next then says QUIT */
	smtpc_wake(c);
}

void
smtpc_wake(struct conn *c)
{
	struct smtpc *s = c->sess;

	if (s == NULL || !s->idle || conn_is_closing(c))
		return;
	start_next(s);
	conn_resume(c); /* the command goes out from the loop's next turn */
}

static void
smtpc_shutdown(struct conn *c)
{
	struct smtpc *s = c->sess;

	s->shutdown = true;
	if (s->st == SC_READY || s->st == SC_GREET || s->st == SC_EHLO ||
	    s->st == SC_HELO) {
		tell_failed(s, "4.3.2", "delivery stopped: shutting down");
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
	tell_failed(s, "4.4.1", text);
	tell_rest(s, 421, "4.4.2", text);
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
