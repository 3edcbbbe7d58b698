#include "protocols/pop3.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/access.h"
#include "core/login.h"
#include "core/sasl.h"
#include "core/authw.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/throttle.h"
#include "core/tls.h"
#include "core/util.h"
#include "core/vd.h"
#include "protocols/pop3_parse.h"
#include "spool/mailbox.h"

#define POP3_MAX_ERRORS 10     /* bad commands before we hang up */
#define POP3_MAX_PRELOGIN 30   /* commands before a login */
#define POP3_CHUNK 16384       /* read from a message per step */

enum pop3_state {
	POP3_ST_AUTH,   /* AUTHORIZATION */
	POP3_ST_CHECK,  /* a login is being checked */
	POP3_ST_TRANS,  /* TRANSACTION */
};

/* A multi-line reply streamed from a message (RETR, TOP). */
struct pop3_stream {
	bool on;
	size_t msg;
	uint64_t off;
	struct pop3_stuffer st;
	bool whole;        /* RETR: the message counts as seen */
};

struct pop3 {
	struct conn *c;
	enum pop3_state st;
	char user[AUTHW_LOGIN_MAX + 1];
	bool have_user;
	bool sasl_wait;    /* AUTH PLAIN sent "+ ", the response comes next */
	unsigned errors, prelogin;
	struct login login;
	struct mbox box;
	bool box_open;
	struct pop3_stream out;
	bool shutdown;
	struct pop3 *next_active; /* sessions holding a mailbox */
};

static struct vd *
vd_of(const struct pop3 *s)
{
	return s->c->vd;
}

static void
reply(struct pop3 *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reply(struct pop3 *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	conn_printf(s->c, "%s\r\n", line);
}

static void
bad(struct pop3 *s, const char *text)
{
	reply(s, "-ERR %s", text);
	if (++s->errors >= POP3_MAX_ERRORS) {
		reply(s, "-ERR Too many errors, closing");
		conn_close_after_write(s->c, "errors");
	}
}

/* ---- the mailbox lock ([IN-USE], RFC 2449 8.1.1) ---- */

static bool
box_in_use(struct vd *vd, const char *mailbox)
{
	for (struct pop3 *p = vd->pop3_active; p != NULL; p = p->next_active)
		if (strcmp(p->box.mailbox, mailbox) == 0)
			return true;
	return false;
}

static void
box_release(struct pop3 *s)
{
	struct pop3 **pp = &vd_of(s)->pop3_active;

	if (!s->box_open)
		return;
	for (; *pp != NULL; pp = &(*pp)->next_active)
		if (*pp == s) {
			*pp = s->next_active;
			break;
		}
	mbox_close(&s->box);
	s->box_open = false;
}

/* ---- login ---- */

/* RFC 2595 2.2 and 4: no password in the clear but from loopback. */
static bool
login_allowed(const struct pop3 *s)
{
	const char *mode = vd_of(s)->cfg.login_plaintext;

	if (conn_is_tls(s->c) || strcmp(mode, "yes") == 0)
		return true;
	return strcmp(mode, "loopback") == 0 &&
	       util_is_loopback(&s->c->peer);
}

static enum access_service
service_of(const struct pop3 *s)
{
	return s->c->lst != NULL && s->c->lst->cfg.implicit_tls ? ACCESS_POPS
								  : ACCESS_POP;
}

static void
login_ok(struct pop3 *s)
{
	struct vd *vd = vd_of(s);
	const struct access_result *acc = &s->login.acc;

	/* Proxying to the user's mailHost comes with the cluster work. */
	if (acc->mailhost[0] != '\0' &&
	    !util_is_ieq(acc->mailhost, strlen(acc->mailhost),
			 vd->cfg.hostname)) {
		login_log(&s->login, "tempfail", "mailhost_elsewhere");
		reply(s, "-ERR [SYS/TEMP] Mailbox is on another server, try "
		      "again later");
		return;
	}
	if (box_in_use(vd, acc->mailbox)) {
		login_log(&s->login, "fail", "in_use");
		reply(s, "-ERR [IN-USE] Mailbox in use by another session");
		return;
	}
	if (mbox_open(&s->box, &vd->store, acc->mailbox) < 0) {
		log_warn("c=%06x pop3 mailbox %s", s->c->id, acc->mailbox);
		reply(s, "-ERR [SYS/TEMP] Mailbox unavailable, try again later");
		return;
	}
	s->box_open = true;
	s->next_active = vd->pop3_active;
	vd->pop3_active = s;
	s->st = POP3_ST_TRANS;
	log_info("c=%06x pop3 mailbox=%s messages=%zu size=%llu", s->c->id,
		 s->box.mailbox, s->box.n, (unsigned long long)s->box.total);
	reply(s, "+OK Logged in, %zu messages", s->box.n);
}

static void
login_done(void *arg, enum login_result r)
{
	struct pop3 *s = arg;

	s->st = POP3_ST_AUTH;
	switch (r) {
	case LOGIN_OK:
		login_ok(s);
		break;
	case LOGIN_FAIL:
		reply(s, "-ERR [AUTH] Authentication failed");
		break;
	case LOGIN_DOMAIN_TEMP:
		reply(s, "-ERR [SYS/TEMP] Domain temporarily unavailable, try "
		      "again later");
		break;
	case LOGIN_THROTTLED:
		reply(s, "-ERR [SYS/TEMP] Too many failed logins, try again "
		      "later");
		break;
	case LOGIN_BUSY:
		reply(s, "-ERR [SYS/TEMP] Too many logins at once, try again "
		      "later");
		break;
	default:
		reply(s, "-ERR [SYS/TEMP] Temporary failure, try again later");
		break;
	}
	if (s->st != POP3_ST_TRANS)
		s->have_user = false;
	conn_resume(s->c);
}

/* Figs. 6-7 through core/login; the reply comes in login_done. */
static void
login(struct pop3 *s, const char *pw, size_t pwlen)
{
	login_start(&s->login, s->user, strlen(s->user), pw, pwlen,
		    service_of(s));
	s->st = POP3_ST_CHECK;
	conn_pause(s->c);
}

/* ---- AUTHORIZATION commands ---- */

static void
pop3_on_user(struct pop3 *s, const char *arg, size_t len)
{
	if (!login_allowed(s)) {
		bad(s, "[AUTH] Plaintext authentication disallowed on "
		    "non-secure connections (use STLS)");
		return;
	}
	if (len == 0 || len > AUTHW_LOGIN_MAX || memchr(arg, '\0', len)) {
		bad(s, "Bad user name");
		return;
	}
	memcpy(s->user, arg, len);
	s->user[len] = '\0';
	s->have_user = true;
	reply(s, "+OK");
}

static void
pop3_on_pass(struct pop3 *s, const char *arg, size_t len)
{
	if (!s->have_user) {
		bad(s, "USER first");
		return;
	}
	login(s, arg, len);
}

static void
sasl_plain(struct pop3 *s, const char *b64, size_t len)
{
	struct sasl_plain sp;

	if (len == 1 && b64[0] == '*') {
		bad(s, "[AUTH] Authentication cancelled");
		return;
	}
	if (sasl_plain_decode(b64, len, &sp) < 0) {
		bad(s, "[AUTH] Malformed or refused PLAIN response");
		return;
	}
	util_strlcpy(s->user, sp.authc, sizeof(s->user));
	s->have_user = true;
	login(s, sp.pw, sp.pwlen);
	explicit_bzero(&sp, sizeof(sp));
}

static void
pop3_on_auth(struct pop3 *s, const char *arg, size_t len)
{
	const char *sp = memchr(arg, ' ', len);
	size_t mlen = sp ? (size_t)(sp - arg) : len;

	if (len == 0) {
		/* A common extension: AUTH alone lists the mechanisms. */
		reply(s, "+OK\r\nPLAIN\r\n.");
		return;
	}
	if (!util_is_ieq(arg, mlen, "PLAIN")) {
		bad(s, "[AUTH] Unsupported authentication mechanism");
		return;
	}
	if (!login_allowed(s)) {
		bad(s, "[AUTH] Plaintext authentication disallowed on "
		    "non-secure connections (use STLS)");
		return;
	}
	if (sp == NULL) {
		s->sasl_wait = true;
		conn_printf(s->c, "+ \r\n");
		return;
	}
	sasl_plain(s, sp + 1, len - mlen - 1);
}

static void
pop3_on_stls(struct pop3 *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	if (conn_is_tls(s->c)) {
		bad(s, "Already using TLS");
		return;
	}
	if (vd_of(s)->tls == NULL) {
		bad(s, "STLS not available");
		return;
	}
	reply(s, "+OK Begin TLS negotiation");
	s->have_user = false;
	conn_starttls(s->c);
}

static void
pop3_on_capa(struct pop3 *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	reply(s, "+OK Capability list follows");
	reply(s, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING");
	if (s->st == POP3_ST_AUTH && login_allowed(s))
		reply(s, "USER\r\nSASL PLAIN");
	if (s->st == POP3_ST_AUTH && !conn_is_tls(s->c) &&
	    vd_of(s)->tls != NULL)
		reply(s, "STLS");
	reply(s, "IMPLEMENTATION vdmail\r\n.");
}

/* ---- TRANSACTION commands ---- */

/* A message number argument (RFC 1939 3): 1..n, not deleted. */
static int
msg_arg(struct pop3 *s, const char *arg, size_t len, size_t *i_r)
{
	if (pop3_parse_msgno(arg, len, s->box.n, i_r) < 0 ||
	    s->box.m[*i_r].deleted) {
		bad(s, "No such message");
		return -1;
	}
	return 0;
}

static void
pop3_on_stat(struct pop3 *s, const char *arg, size_t len)
{
	size_t n = 0;
	uint64_t total = 0;

	(void)arg;
	(void)len;
	for (size_t i = 0; i < s->box.n; i++)
		if (!s->box.m[i].deleted) {
			n++;
			total += s->box.m[i].size;
		}
	reply(s, "+OK %zu %llu", n, (unsigned long long)total);
}

/* LIST and UIDL: one message, or all of them as a multi-line reply. */
static void
listing(struct pop3 *s, const char *arg, size_t len, bool uidl)
{
	size_t i;

	if (len > 0) {
		if (msg_arg(s, arg, len, &i) == 0) {
			if (uidl)
				reply(s, "+OK %zu %s", i + 1, s->box.m[i].uid);
			else
				reply(s, "+OK %zu %llu", i + 1,
				      (unsigned long long)s->box.m[i].size);
		}
		return;
	}
	reply(s, "+OK");
	for (i = 0; i < s->box.n; i++) {
		if (s->box.m[i].deleted)
			continue;
		if (uidl)
			conn_printf(s->c, "%zu %s\r\n", i + 1, s->box.m[i].uid);
		else
			conn_printf(s->c, "%zu %llu\r\n", i + 1,
				    (unsigned long long)s->box.m[i].size);
	}
	conn_printf(s->c, ".\r\n");
}

static void
pop3_on_list(struct pop3 *s, const char *arg, size_t len)
{
	listing(s, arg, len, false);
}

static void
pop3_on_uidl(struct pop3 *s, const char *arg, size_t len)
{
	listing(s, arg, len, true);
}

static void
pop3_on_dele(struct pop3 *s, const char *arg, size_t len)
{
	size_t i;

	if (msg_arg(s, arg, len, &i) < 0)
		return;
	s->box.m[i].deleted = true;
	reply(s, "+OK Marked to be deleted");
}

static void
pop3_on_rset(struct pop3 *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	for (size_t i = 0; i < s->box.n; i++)
		s->box.m[i].deleted = false;
	reply(s, "+OK");
}

static void
pop3_on_noop(struct pop3 *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	reply(s, "+OK");
}

static void
start_stream(struct pop3 *s, size_t i, long body_lines)
{
	char probe;

	/* The file must still be there before "+OK" promises its text. */
	if (mbox_read(&s->box, i, 0, &probe, 0) < 0) {
		log_warn("c=%06x pop3 message %s", s->c->id, s->box.m[i].name);
		bad(s, "[SYS/TEMP] Message unavailable");
		return;
	}
	reply(s, "+OK %llu octets", (unsigned long long)s->box.m[i].size);
	s->out = (struct pop3_stream){ .on = true, .msg = i,
				       .whole = body_lines < 0 };
	pop3_stuff_init(&s->out.st, body_lines);
	s->c->flags |= CONN_F_PRODUCING;
}

static void
pop3_on_retr(struct pop3 *s, const char *arg, size_t len)
{
	size_t i;

	if (msg_arg(s, arg, len, &i) == 0)
		start_stream(s, i, -1);
}

static void
pop3_on_top(struct pop3 *s, const char *arg, size_t len)
{
	const char *sp = memchr(arg, ' ', len);
	uint64_t n;
	size_t i;

	if (sp == NULL || util_parse_u64(sp + 1, len - (size_t)(sp - arg) - 1,
					 UINT32_MAX, &n) < 0) {
		bad(s, "Syntax: TOP msg n");
		return;
	}
	if (msg_arg(s, arg, (size_t)(sp - arg), &i) == 0)
		start_stream(s, i, (long)n);
}

static void
out_cb(void *arg, const char *p, size_t n)
{
	conn_write(arg, p, n);
}

static void
stream_end(struct pop3 *s)
{
	pop3_stuff_end(&s->out.st, out_cb, s->c);
	if (s->out.whole)
		s->box.m[s->out.msg].seen = true;
	s->out.on = false;
	s->c->flags &= ~(unsigned)CONN_F_PRODUCING;
}

/* Fills the output up to the high mark; resumes when it drains. */
static void
stream_pump(struct pop3 *s)
{
	char buf[POP3_CHUNK];

	while (s->out.on && !conn_is_closing(s->c) &&
	       buf_len(&s->c->out) < CONN_OUT_HIGH) {
		ssize_t n = mbox_read(&s->box, s->out.msg, s->out.off, buf,
				      sizeof(buf));
		if (n < 0) {
			/* "+OK" is out: the reply cannot be ended honestly. */
			log_warn("c=%06x pop3 message %s vanished while sent",
				 s->c->id, s->box.m[s->out.msg].name);
			conn_close(s->c, "message_vanished");
			return;
		}
		s->out.off += (uint64_t)n;
		if (n == 0 || pop3_stuff(&s->out.st, buf, (size_t)n, out_cb,
					 s->c))
			stream_end(s);
	}
}

/* ---- UPDATE and the end ---- */

static void
pop3_on_quit(struct pop3 *s, const char *arg, size_t len)
{
	(void)arg;
	(void)len;
	if (s->st == POP3_ST_TRANS) {
		size_t del = 0;
		for (size_t i = 0; i < s->box.n; i++)
			del += s->box.m[i].deleted;
		/* RFC 1939 6: the UPDATE state, only on QUIT. */
		if (mbox_commit(&s->box) < 0) {
			log_warn("c=%06x pop3 update of %s", s->c->id,
				 s->box.mailbox);
			reply(s, "-ERR [SYS/TEMP] Some deleted messages were not "
			      "removed");
		} else {
			log_info("c=%06x pop3 update mailbox=%s deleted=%zu",
				 s->c->id, s->box.mailbox, del);
			reply(s, "+OK Logging out, %zu messages deleted", del);
		}
		box_release(s);
	} else {
		reply(s, "+OK Logging out");
	}
	conn_close_after_write(s->c, "quit");
}

/* ---- dispatch ---- */

#define A (1u << POP3_ST_AUTH)
#define T (1u << POP3_ST_TRANS)

struct pop3_cmd {
	const char *verb;
	void (*handler)(struct pop3 *s, const char *arg, size_t len);
	unsigned states;
	bool args;  /* takes arguments */
};

static const struct pop3_cmd pop3_cmds[] = {
	{ "USER", pop3_on_user, A, true },
	{ "PASS", pop3_on_pass, A, true },
	{ "AUTH", pop3_on_auth, A, true },
	{ "STLS", pop3_on_stls, A, false },
	{ "CAPA", pop3_on_capa, A | T, false },
	{ "QUIT", pop3_on_quit, A | T, false },
	{ "STAT", pop3_on_stat, T, false },
	{ "LIST", pop3_on_list, T, true },
	{ "UIDL", pop3_on_uidl, T, true },
	{ "RETR", pop3_on_retr, T, true },
	{ "TOP", pop3_on_top, T, true },
	{ "DELE", pop3_on_dele, T, true },
	{ "RSET", pop3_on_rset, T, false },
	{ "NOOP", pop3_on_noop, T, false },
};

static void
dispatch(struct pop3 *s, char *line, size_t len)
{
	struct pop3_cmdline cl;

	if (s->sasl_wait) {
		s->sasl_wait = false;
		sasl_plain(s, line, len);
		return;
	}
	if (pop3_parse_line(line, len, &cl) < 0) {
		bad(s, "Unknown command");
		return;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(pop3_cmds); i++) {
		const struct pop3_cmd *d = &pop3_cmds[i];
		if (strcmp(cl.verb, d->verb) != 0)
			continue;
		if (!(d->states & (1u << s->st))) {
			bad(s, s->st == POP3_ST_AUTH ? "Log in first"
						     : "Not in this state");
			return;
		}
		if (!d->args && cl.arglen > 0) {
			bad(s, "Syntax: no argument expected");
			return;
		}
		/* RFC 2449 4: arguments up to 40 octets (PASS and AUTH more). */
		if (cl.arglen > POP3_ARG_MAX && d->handler != pop3_on_pass &&
		    d->handler != pop3_on_auth && d->handler != pop3_on_user) {
			bad(s, "Argument too long");
			return;
		}
		d->handler(s, cl.arg, cl.arglen);
		return;
	}
	bad(s, "Unknown command");
}

static void
pop3_input(struct conn *c)
{
	struct pop3 *s = c->sess;
	char line[POP3_LINE_MAX];
	size_t len;
	int rc;

	while (!conn_is_closing(c) &&
	       !(c->flags & (CONN_F_PAUSED | CONN_F_STARTTLS)) &&
	       buf_len(&c->out) < CONN_OUT_HIGH) {
		if (s->out.on) {
			stream_pump(s);
			continue;
		}
		if (s->st == POP3_ST_CHECK || buf_len(&c->in) == 0)
			break;
		rc = conn_take_line(c, line, sizeof(line), &len);
		if (rc == 0)
			break;
		if (rc < 0) {
			s->sasl_wait = false; /* it ends an AUTH exchange */
			bad(s, "Line too long");
			continue;
		}
		if (s->st == POP3_ST_AUTH && ++s->prelogin > POP3_MAX_PRELOGIN) {
			reply(s, "-ERR Too many commands without a login");
			conn_close_after_write(c, "prelogin_limit");
			break;
		}
		dispatch(s, line, len);
		explicit_bzero(line, len); /* it may have held a password */
		if (s->shutdown && !s->out.on && s->st != POP3_ST_CHECK &&
		    !conn_is_closing(c)) {
			reply(s, "-ERR [SYS/TEMP] Server shutting down");
			conn_close_after_write(c, "shutdown");
		}
	}
}

/* ---- connection hooks ---- */

static int
pop3_open(struct conn *c)
{
	struct pop3 *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -1;
	s->c = c;
	c->sess = s;
	login_init(&s->login, c, "pop3", login_done, s);
	if (c->vd->stopping) {
		conn_printf(c, "-ERR [SYS/TEMP] Server shutting down\r\n");
		conn_close_after_write(c, "shutdown");
		return 0;
	}
	/* RFC 1939 3: an autologout timer of at least 10 minutes. */
	conn_set_timeout(c, c->vd->cfg.timeout_pop3);
	conn_printf(c, "+OK vdmail POP3 ready\r\n");
	return 0;
}

static void
pop3_tls_ready(struct conn *c)
{
	conn_set_timeout(c, c->vd->cfg.timeout_pop3);
}

static void
pop3_timeout(struct conn *c)
{
	conn_printf(c, "-ERR Disconnected for inactivity\r\n");
}

static void
pop3_shutdown(struct conn *c)
{
	struct pop3 *s = c->sess;

	s->shutdown = true;
	/* A reply being streamed or a login being checked ends first. */
	if (!s->out.on && s->st != POP3_ST_CHECK) {
		conn_printf(c, "-ERR [SYS/TEMP] Server shutting down\r\n");
		conn_close_after_write(c, "shutdown");
	}
}

static void
pop3_close(struct conn *c)
{
	struct pop3 *s = c->sess;

	login_cancel(&s->login);
	box_release(s); /* no QUIT: nothing is deleted (RFC 1939 6) */
	explicit_bzero(s->user, sizeof(s->user));
	free(s);
	c->sess = NULL;
}

const struct conn_proto pop3_proto = {
	.name = "pop3",
	.open = pop3_open,
	.input = pop3_input,
	.timeout = pop3_timeout,
	.tls_ready = pop3_tls_ready,
	.shutdown = pop3_shutdown,
	.close = pop3_close,
};
