#include "protocols/smtp_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cdb/route.h"
#include "core/log.h"
#include "core/util.h"
#include "core/vd.h"
#include "protocols/smtp_data.h"
#include "protocols/smtp_parse.h"
#include "protocols/smtp_session.h"
#include "spool/spool.h"
#include "spool/spool_commit.h"

struct smtp_cmd_def {
	enum smtp_verb verb;
	enum smtp_rc (*handler)(struct smtp *s, const struct smtp_parse_cmd *);
	unsigned states;
	bool no_args;
	const char *wrong_state; /* 503 text */
};

#define ST(x) (1u << SMTP_ST_##x)
#define ST_ANY (ST(GREET) | ST(IDLE) | ST(MAIL) | ST(RCPT) | ST(BDAT))

#define reply smtp_reply

static struct vd *
vd_of(const struct smtp *s)
{
	return s->c->vd;
}

/*
 * Queues one reply line. 5xx replies count toward max_errors; past it the
 * client is told so and disconnected (RFC 5321 4.3.2 allows 421 at any time).
 */
void
smtp_reply(struct smtp *s, int code, const char *enh, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	conn_printf(s->c, "%d %s %s\r\n", code, enh, text);
	if (code >= 500 && ++s->errors >= vd_of(s)->cfg.max_errors) {
		conn_printf(s->c, "421 4.7.0 %s Too many errors, closing "
			    "connection\r\n", vd_of(s)->cfg.hostname);
		conn_close_after_write(s->c, "too_many_errors");
	}
}

static void
tx_free(struct smtp *s)
{
	struct smtp_tx *tx = s->tx;

	if (tx == NULL)
		return;
	/* A file in the group commit belongs to it until the callback. */
	VD_ASSERT(s->mode != SMTP_M_COMMIT);
	if (tx->file_open)
		spool_abort(&vd_of(s)->spool, &tx->file);
	buf_free(&tx->hdr);
	free(tx->rcpt);
	free(tx);
	s->tx = NULL;
}

static void
tx_reset(struct smtp *s)
{
	tx_free(s);
	s->st = s->helo[0] ? SMTP_ST_IDLE : SMTP_ST_GREET;
	s->mode = SMTP_M_CMD;
	conn_set_timeout(s->c, vd_of(s)->cfg.timeout_command);
}

static const char *
proto_name(const struct smtp *s)
{
	bool tls = conn_is_tls(s->c);
	bool utf8 = s->tx && s->tx->params.smtputf8;

	/* RFC 3848: the A in ESMTPSA says the client authenticated. */
	if (utf8)
		return s->authed ? (tls ? "UTF8SMTPSA" : "UTF8SMTPA")
				 : (tls ? "UTF8SMTPS" : "UTF8SMTP");
	if (!s->esmtp)
		return tls ? "SMTPS" : "SMTP";
	if (s->authed)
		return tls ? "ESMTPSA" : "ESMTPA";
	return tls ? "ESMTPS" : "ESMTP";
}

static void
log_reject(struct smtp *s, const char *what, int code, const char *enh,
	   const char *reason)
{
	log_info("c=%06x smtp reject %s from=<%s> code=%d enh=%s reason=%s",
		 s->c->id, what, s->tx ? s->tx->from.addr : "", code, enh,
		 reason);
}

/* ---- greeting, HELO/EHLO and the simple commands ---- */

static enum smtp_rc
smtp_on_helo(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	struct smtp_parse_err e;

	if (smtp_parse_helo(cmd->arg, cmd->arglen, &e) < 0) {
		reply(s, e.code, e.enh, "%s", e.text);
		return SMTP_NEXT;
	}
	tx_free(s);
	util_copy(s->helo, sizeof(s->helo), cmd->arg, cmd->arglen);
	s->esmtp = cmd->verb == SMTP_V_EHLO;
	s->st = SMTP_ST_IDLE;
	if (!s->esmtp) {
		reply(s, 250, "2.0.0", "%s", vd_of(s)->cfg.hostname);
		return SMTP_NEXT;
	}
	conn_printf(s->c, "250-%s Hello %s [%s]\r\n", vd_of(s)->cfg.hostname,
		    s->helo, s->c->peer_ip);
	conn_printf(s->c, "250-PIPELINING\r\n250-SIZE %llu\r\n"
		    "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n",
		    (unsigned long long)vd_of(s)->cfg.message_size_limit);
	if (vd_of(s)->tls != NULL && !conn_is_tls(s->c))
		conn_printf(s->c, "250-STARTTLS\r\n");
	if (smtp_auth_offered(s))
		conn_printf(s->c, "250-AUTH PLAIN LOGIN\r\n");
	conn_printf(s->c, "250-SMTPUTF8\r\n250 CHUNKING\r\n");
	return SMTP_NEXT;
}

static enum smtp_rc
smtp_on_noop(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	(void)cmd;
	reply(s, 250, "2.0.0", "Ok");
	return SMTP_NEXT;
}

static enum smtp_rc
smtp_on_rset(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	(void)cmd;
	tx_reset(s);
	reply(s, 250, "2.0.0", "Ok");
	return SMTP_NEXT;
}

static enum smtp_rc
smtp_on_quit(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	(void)cmd;
	reply(s, 221, "2.0.0", "%s Bye", vd_of(s)->cfg.hostname);
	conn_close_after_write(s->c, "quit");
	return SMTP_STOP;
}

static enum smtp_rc
smtp_on_help(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	(void)cmd;
	reply(s, 214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET "
	      "NOOP QUIT HELP VRFY STARTTLS; see RFC 5321");
	return SMTP_NEXT;
}

static enum smtp_rc
smtp_on_vrfy(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	if (cmd->arglen == 0) {
		reply(s, 501, "5.5.4", "Syntax: VRFY address");
		return SMTP_NEXT;
	}
	/* RFC 5321 3.5.3: no address probing, but not a refusal either. */
	reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept message "
	      "and attempt delivery");
	return SMTP_NEXT;
}

static enum smtp_rc
smtp_on_expn(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	(void)cmd;
	reply(s, 502, "5.5.1", "EXPN not available");
	return SMTP_NEXT;
}

static enum smtp_rc
smtp_on_auth(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	return smtp_auth_on_auth(s, cmd->arg, cmd->arglen);
}

static enum smtp_rc
smtp_on_starttls(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	(void)cmd;
	if (conn_is_tls(s->c)) {
		reply(s, 503, "5.5.1", "TLS already active");
		return SMTP_NEXT;
	}
	if (vd_of(s)->tls == NULL) {
		reply(s, 454, "4.7.0", "TLS not available");
		return SMTP_NEXT;
	}
	reply(s, 220, "2.0.0", "Ready to start TLS");
	/* RFC 3207 4.2: forget everything learned before TLS. */
	tx_free(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->authed = false;
	s->st = SMTP_ST_GREET;
	conn_starttls(s->c);
	return SMTP_STOP;
}

/* ---- the transaction ---- */

static enum smtp_rc
smtp_on_mail(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	struct smtp_parse_err e;
	struct smtp_tx *tx;
	const struct cfg *cfg = &vd_of(s)->cfg;

	if (s->shutdown) {
		reply(s, 421, "4.3.2", "%s Service shutting down",
		      cfg->hostname);
		conn_close_after_write(s->c, "shutdown");
		return SMTP_STOP;
	}
	if (s->submission && !s->authed) {
		reply(s, 530, "5.7.0", "Authentication required");
		return SMTP_NEXT;
	}
	tx = calloc(1, sizeof(*tx));
	if (tx == NULL) {
		reply(s, 451, "4.3.0", "Out of memory, try again later");
		return SMTP_NEXT;
	}
	buf_init(&tx->hdr, SMTP_HEADER_MAX);
	tx->list_maxsize = -1;
	if (smtp_parse_mail(cmd->arg, cmd->arglen, &tx->from, &tx->params,
			    &e) < 0) {
		free(tx);
		reply(s, e.code, e.enh, "%s", e.text);
		return SMTP_NEXT;
	}
	/* RFC 4954 5: AUTH= belongs to servers that offer AUTH. */
	if (tx->params.has_auth && !s->submission) {
		free(tx);
		reply(s, 555, "5.5.4", "Unsupported MAIL parameter");
		return SMTP_NEXT;
	}
	/* RFC 6409 8.1: a user sends as one of their own addresses. */
	if (s->submission &&
	    !smtp_auth_owns(s, tx->from.addr, strlen(tx->from.addr))) {
		free(tx);
		reply(s, 553, "5.7.1", "Sender address not owned by %s",
		      s->login.acc.login);
		return SMTP_NEXT;
	}
	if (tx->params.has_size && tx->params.size > cfg->message_size_limit) {
		free(tx);
		reply(s, 552, "5.3.4", "Message size exceeds fixed maximum "
		      "message size (%llu)",
		      (unsigned long long)cfg->message_size_limit);
		return SMTP_NEXT;
	}
	s->tx = tx;
	s->st = SMTP_ST_MAIL;
	reply(s, 250, "2.1.0", "Ok");
	return SMTP_NEXT;
}

static int
add_rcpt(void *arg, const char *addr, char kind, const char *value,
	 const char *errorsto)
{
	struct smtp_tx *tx = arg;

	return spool_rcpt_add(&tx->rcpt, &tx->nrcpt, &tx->cap, addr, kind,
			      value, errorsto);
}

static enum smtp_rc
smtp_on_rcpt(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	struct vd *vd = vd_of(s);
	struct smtp_tx *tx = s->tx;
	struct smtp_parse_path to;
	struct smtp_parse_err e;
	struct route_result r;
	struct route_opts o = {
		.store = &vd->store,
		.default_quota = vd->cfg.default_quota,
		.default_msg_quota = vd->cfg.default_msg_quota,
		.size = tx->params.size,
		.postmaster = vd->cfg.postmaster,
		.delimiter = vd->cfg.recipient_delimiter[0],
		.hostname = vd->cfg.hostname,
		.sender = tx->from.addr,
	};
	unsigned before = tx->nrcpt;

	if (tx->nrcpt >= vd->cfg.max_recipients) {
		/* RFC 5321 4.5.3.1.10: a 452 makes the client send the rest later. */
		reply(s, 452, "4.5.3", "Too many recipients");
		return SMTP_NEXT;
	}
	if (smtp_parse_rcpt(cmd->arg, cmd->arglen, tx->params.smtputf8, &to,
			    &e) < 0) {
		reply(s, e.code, e.enh, "%s", e.text);
		return SMTP_NEXT;
	}
	/* A list's members, a user's options become the recipients; the
	 * submission relays for its users (they wait for outbound delivery). */
	route_expand(&vd->tables, &o, to.addr, s->submission ? ROUTE_X_RELAY : 0,
		     &r, add_rcpt, tx, NULL, NULL);
	if (r.action != ROUTE_DELIVER) {
		char what[TBL_ADDR_MAX + 16];
		snprintf(what, sizeof(what), "rcpt to=<%s>", to.addr);
		log_reject(s, what, r.code, r.enh, r.reason);
		reply(s, r.code, r.enh, "<%s>: %s", to.addr, r.text);
		return SMTP_NEXT;
	}
	if (r.list_maxsize >= 0 &&
	    (tx->list_maxsize < 0 || r.list_maxsize < tx->list_maxsize))
		tx->list_maxsize = r.list_maxsize;
	s->st = SMTP_ST_RCPT;
	if (tx->nrcpt > before && tx->rcpt[tx->nrcpt - 1].kind == 'X' &&
	    tx->nrcpt - before == 1 && strcmp(tx->rcpt[before].addr,
					     to.addr) == 0)
		reply(s, 250, "2.1.5", "Ok, queued for outbound delivery");
	else
		reply(s, 250, "2.1.5", "Ok");
	return SMTP_NEXT;
}

static void
received_header(struct smtp *s, struct buf *b)
{
	const struct smtp_tx *tx = s->tx;
	char date[64];

	util_rfc5322_date(date, sizeof(date), time(NULL));
	buf_printf(b, "Received: from %s ([%s])\r\n\tby %s (vdmail) with %s "
		   "id %s", s->helo[0] ? s->helo : "unknown", s->c->peer_ip,
		   vd_of(s)->cfg.hostname, proto_name(s), tx->file.qid);
	if (conn_is_tls(s->c))
		buf_printf(b, "\r\n\t(using %s with cipher %s)",
			   conn_tls_version(s->c), conn_tls_cipher(s->c));
	if (tx->nrcpt == 1)
		buf_printf(b, "\r\n\tfor <%s>", tx->rcpt[0].addr);
	buf_printf(b, ";\r\n\t%s\r\n", date);
}

/* Creates the queue file: envelope, then our Received header. */
static int
open_spool(struct smtp *s, bool dot_mode)
{
	struct vd *vd = vd_of(s);
	struct smtp_tx *tx = s->tx;
	struct spool_env env;
	struct buf hdr;
	int rc;

	memset(&env, 0, sizeof(env));
	spool_new_qid(&vd->spool, env.qid);
	env.arrival = time(NULL);
	util_strlcpy(env.client, s->c->peer_ip, sizeof(env.client));
	util_strlcpy(env.helo, s->helo, sizeof(env.helo));
	util_strlcpy(env.proto, proto_name(s), sizeof(env.proto));
	env.body = tx->params.body == SMTP_BODY_8BITMIME ? SPOOL_BODY_8BITMIME
							  : SPOOL_BODY_7BIT;
	util_strlcpy(env.sender, tx->from.addr, sizeof(env.sender));
	env.rcpt = tx->rcpt;
	env.nrcpt = tx->nrcpt;
	if (spool_open(&vd->spool, &env, &tx->file) < 0) {
		log_warn("c=%06x smtp cannot create queue file", s->c->id);
		return -1;
	}
	tx->file_open = true;
	buf_init(&hdr, 4096);
	received_header(s, &hdr);
	spool_write(&tx->file, buf_data(&hdr), buf_len(&hdr));
	buf_free(&hdr);
	rc = tx->file.err ? -1 : 0;
	smtp_data_init(&tx->data, dot_mode, vd->cfg.message_size_limit,
		       SMTP_TEXT_LINE_MAX);
	return rc;
}

static enum smtp_rc
smtp_on_data(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	(void)cmd;
	if (s->st != SMTP_ST_RCPT) {
		reply(s, 554, "5.5.1", "No valid recipients");
		return SMTP_NEXT;
	}
	if (open_spool(s, true) < 0) {
		tx_reset(s);
		reply(s, 451, "4.3.0", "Cannot queue the message now, try "
		      "again later");
		return SMTP_NEXT;
	}
	s->mode = SMTP_M_DATA;
	conn_set_timeout(s->c, vd_of(s)->cfg.timeout_data);
	conn_printf(s->c, "354 End data with <CR><LF>.<CR><LF>\r\n");
	return SMTP_NEXT;
}

static void
smtp_committed(void *arg, int err)
{
	struct smtp *s = arg;
	struct conn *c = s->c;
	struct smtp_tx *tx = s->tx;

	s->mode = SMTP_M_CMD;
	tx->file_open = false;
	if (err == 0) {
		log_info("%s: client=[%s] helo=<%s> from=<%s> size=%llu "
			 "nrcpt=%u proto=%s%s%s", tx->file.qid, c->peer_ip,
			 s->helo, tx->from.addr,
			 (unsigned long long)tx->file.text, tx->nrcpt,
			 proto_name(s), conn_is_tls(c) ? " tls=" : "",
			 conn_tls_version(c));
		reply(s, 250, "2.0.0", "Ok: queued as %s", tx->file.qid);
	} else {
		reply(s, 451, "4.3.0", "Error writing the message to the "
		      "queue, try again later");
	}
	tx_reset(s);
	if (s->shutdown) {
		conn_printf(c, "421 4.3.2 %s Service shutting down\r\n",
			    c->vd->cfg.hostname);
		conn_close_after_write(c, "shutdown");
	}
	conn_resume(c);
	conn_release(c);
}

/* End of DATA or of the last BDAT chunk: refuse, or commit. */
static enum smtp_rc
end_message(struct smtp *s)
{
	struct smtp_tx *tx = s->tx;
	const char *enh, *text;
	int code = smtp_data_error_reply(tx->data.errors, &enh, &text);

	s->mode = SMTP_M_CMD;
	if (code != 0) {
		log_reject(s, "message", code, enh, text);
		tx_reset(s);
		reply(s, code, enh, "%s", text);
		return SMTP_NEXT;
	}
	if (tx->list_maxsize >= 0 && tx->data.size > (uint64_t)tx->list_maxsize) {
		/* mgrpMsgMaxSize, for a client that declared no SIZE */
		log_reject(s, "message", 552, "5.3.4", "list_too_big");
		tx_reset(s);
		reply(s, 552, "5.3.4", "Message too large for a list it is "
		      "addressed to");
		return SMTP_NEXT;
	}
	if (s->submission && smtp_auth_check_from(s, buf_data(&tx->hdr),
						  buf_len(&tx->hdr)) < 0) {
		log_reject(s, "message", 553, "5.7.1", "from_not_owned");
		tx_reset(s);
		reply(s, 553, "5.7.1", "From: header address not owned by %s",
		      s->login.acc.login);
		return SMTP_NEXT;
	}
	if (spool_finish(&tx->file) < 0) {
		log_warn("c=%06x smtp %s: queue file write", s->c->id,
			 tx->file.qid);
		tx_reset(s);
		reply(s, 451, "4.3.0", "Error writing the message to the "
		      "queue, try again later");
		return SMTP_NEXT;
	}
	s->mode = SMTP_M_COMMIT;
	conn_hold(s->c);
	conn_pause(s->c);
	spool_commit(&vd_of(s)->commit, &tx->file, smtp_committed, s);
	return SMTP_STOP;
}

/* The text goes to the queue file; submission keeps the header too. */
static void
data_sink(void *arg, const char *data, size_t len)
{
	struct smtp_tx *tx = arg;

	spool_write(&tx->file, data, len);
	if (tx->hdr_done || tx->hdr.max == 0)
		return;
	if (buf_append(&tx->hdr, data, len) < 0) {
		tx->hdr_done = true; /* a header this long is checked as it is */
		return;
	}
	/* The header ends at the first empty line (RFC 5322 2.1); what
	 * follows is body, never checked as header. A message may start
	 * with it: then the header is empty. */
	const char *h = buf_data(&tx->hdr);
	size_t hl = buf_len(&tx->hdr), i = hl >= len + 3 ? hl - len - 3 : 0;
	for (; i < hl; i++) {
		size_t end = (size_t)-1;
		if (i == 0 && (h[0] == '\n' || (hl > 1 && h[0] == '\r' &&
						 h[1] == '\n')))
			end = 0;
		else if (h[i] == '\n' && i + 1 < hl &&
			 (h[i + 1] == '\n' ||
			  (i + 2 < hl && h[i + 1] == '\r' && h[i + 2] == '\n')))
			end = i + 1;
		if (end != (size_t)-1) {
			tx->hdr.len = end; /* appends only: data starts at p */
			tx->hdr_done = true;
			break;
		}
	}
}

static bool
feed_data(struct smtp *s)
{
	struct buf *in = &s->c->in;
	struct smtp_tx *tx = s->tx;
	size_t n = smtp_data_feed(&tx->data, buf_data(in), buf_len(in),
				  data_sink, tx);

	buf_consume(in, n);
	if (!tx->data.done)
		return false;
	return end_message(s) == SMTP_NEXT;
}

static enum smtp_rc
smtp_on_bdat(struct smtp *s, const struct smtp_parse_cmd *cmd)
{
	struct smtp_parse_err e;
	uint64_t size;
	bool last;
	struct smtp_tx *tx;

	if (smtp_parse_bdat(cmd->arg, cmd->arglen, &size, &last, &e) < 0) {
		/* Without a size the chunk cannot be skipped: give up. */
		reply(s, e.code, e.enh, "%s", e.text);
		conn_printf(s->c, "421 4.5.0 %s Lost BDAT synchronization\r\n",
			    vd_of(s)->cfg.hostname);
		conn_close_after_write(s->c, "bdat_syntax");
		return SMTP_STOP;
	}
	if (s->tx == NULL && (s->tx = calloc(1, sizeof(*s->tx))) == NULL) {
		reply(s, 451, "4.3.0", "Out of memory");
		conn_close_after_write(s->c, "oom");
		return SMTP_STOP;
	}
	tx = s->tx;
	if (tx->nrcpt == 0 && tx->rcpt == NULL)
		tx->list_maxsize = -1;
	tx->chunk_fail = 0;
	if (s->st == SMTP_ST_RCPT) {
		if (open_spool(s, false) < 0)
			tx->chunk_fail = 451;
	} else if (s->st != SMTP_ST_BDAT) {
		/* RFC 3030 2: the chunk is read anyway, then refused. */
		tx->chunk_fail = s->st == SMTP_ST_MAIL ? 554 : 503;
	}
	tx->chunk_left = size;
	tx->chunk_last = last;
	s->mode = SMTP_M_CHUNK;
	conn_set_timeout(s->c, vd_of(s)->cfg.timeout_data);
	return SMTP_NEXT;
}

static void
chunk_done(struct smtp *s)
{
	struct smtp_tx *tx = s->tx;
	const char *enh, *text;
	int code;

	s->mode = SMTP_M_CMD;
	conn_set_timeout(s->c, vd_of(s)->cfg.timeout_command);
	switch (tx->chunk_fail) {
	case 0:
		break;
	case 451:
		tx_reset(s);
		reply(s, 451, "4.3.0", "Cannot queue the message now");
		return;
	case 554:
		tx_reset(s);
		reply(s, 554, "5.5.1", "No valid recipients");
		return;
	default:
		tx_free(s); /* allocated for this chunk only */
		reply(s, 503, "5.5.1", "Send MAIL and RCPT first");
		return;
	}
	if (tx->chunk_last) {
		smtp_data_finish(&tx->data, data_sink, tx);
		end_message(s);
		return;
	}
	code = smtp_data_error_reply(tx->data.errors, &enh, &text);
	if (code != 0) {
		/* RFC 3030 2: after a failed chunk the client sends no more. */
		log_reject(s, "message", code, enh, text);
		tx_reset(s);
		reply(s, code, enh, "%s", text);
		return;
	}
	s->st = SMTP_ST_BDAT;
	reply(s, 250, "2.0.0", "%llu octets received",
	      (unsigned long long)tx->data.size);
}

static bool
feed_chunk(struct smtp *s)
{
	struct buf *in = &s->c->in;
	struct smtp_tx *tx = s->tx;
	size_t n = buf_len(in);

	if (n > tx->chunk_left)
		n = (size_t)tx->chunk_left;
	if (tx->chunk_fail == 0)
		smtp_data_feed(&tx->data, buf_data(in), n, data_sink, tx);
	buf_consume(in, n);
	tx->chunk_left -= n;
	if (tx->chunk_left > 0)
		return false;
	chunk_done(s);
	return s->mode == SMTP_M_CMD;
}

/* ---- dispatch ---- */

static const struct smtp_cmd_def smtp_cmds[] = {
	{ SMTP_V_HELO, smtp_on_helo, ST_ANY, false, NULL },
	{ SMTP_V_EHLO, smtp_on_helo, ST_ANY, false, NULL },
	{ SMTP_V_MAIL, smtp_on_mail, ST(IDLE), false,
	  "Send HELO/EHLO first, or finish the current transaction" },
	{ SMTP_V_RCPT, smtp_on_rcpt, ST(MAIL) | ST(RCPT), false,
	  "Send MAIL first" },
	{ SMTP_V_DATA, smtp_on_data, ST(MAIL) | ST(RCPT), true,
	  "Send MAIL and RCPT first" },
	{ SMTP_V_BDAT, smtp_on_bdat, ST_ANY, false, NULL },
	{ SMTP_V_RSET, smtp_on_rset, ST_ANY, true, NULL },
	{ SMTP_V_NOOP, smtp_on_noop, ST_ANY, false, NULL },
	{ SMTP_V_QUIT, smtp_on_quit, ST_ANY, true, NULL },
	{ SMTP_V_HELP, smtp_on_help, ST_ANY, false, NULL },
	{ SMTP_V_VRFY, smtp_on_vrfy, ST_ANY, false, NULL },
	{ SMTP_V_EXPN, smtp_on_expn, ST_ANY, false, NULL },
	{ SMTP_V_STARTTLS, smtp_on_starttls, ST(GREET) | ST(IDLE), true,
	  "STARTTLS is not allowed inside a transaction" },
	{ SMTP_V_AUTH, smtp_on_auth, ST_ANY, false, NULL },
};

static enum smtp_rc
dispatch(struct smtp *s, const char *line, size_t len)
{
	struct smtp_parse_cmd cmd;
	const struct smtp_cmd_def *def = NULL;

	if (smtp_parse_command(line, len, &cmd) == SMTP_V_UNKNOWN) {
		reply(s, 500, "5.5.2", "Command unrecognized");
		return SMTP_NEXT;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(smtp_cmds); i++)
		if (smtp_cmds[i].verb == cmd.verb)
			def = &smtp_cmds[i];
	if (!(def->states & (1u << s->st))) {
		reply(s, 503, "5.5.1", "%s", def->wrong_state);
		return SMTP_NEXT;
	}
	if (def->no_args && cmd.arglen > 0) {
		reply(s, 501, "5.5.4", "Syntax: %s takes no argument",
		      smtp_parse_verb_name(cmd.verb));
		return SMTP_NEXT;
	}
	return def->handler(s, &cmd);
}

static void
smtp_input(struct conn *c)
{
	struct smtp *s = c->sess;
	char line[SMTP_AUTH_LINE_MAX];
	size_t len;
	int rc;

	while (!conn_is_closing(c) &&
	       !(c->flags & (CONN_F_PAUSED | CONN_F_STARTTLS)) &&
	       buf_len(&c->out) < CONN_OUT_HIGH) {
		/* A chunk may be complete with no byte left (BDAT 0 LAST). */
		if (s->mode == SMTP_M_CHUNK) {
			if (!feed_chunk(s))
				break;
			continue;
		}
		if (s->mode == SMTP_M_COMMIT || s->checking ||
		    buf_len(&c->in) == 0)
			break;
		if (s->mode == SMTP_M_DATA) {
			if (!feed_data(s))
				break;
			continue;
		}
		/* RFC 4954 4: AUTH lines may be longer than commands. */
		rc = conn_take_line(c, line, sizeof(line), &len);
		if (rc == 0)
			break;
		if (rc > 0 && len + 2 > SMTP_LINE_MAX && s->sasl == SMTP_SASL_NONE &&
		    !util_has_iprefix(line, len, "AUTH "))
			rc = -1;
		if (rc < 0) {
			if (s->sasl != SMTP_SASL_NONE) {
				/* The 500 ends the exchange (RFC 4954 4). */
				s->sasl = SMTP_SASL_NONE;
				reply(s, 500, "5.5.6", "Authentication exchange "
				      "line is too long");
				continue;
			}
			reply(s, 500, "5.5.2", "Line too long");
			continue;
		}
		if (s->sasl != SMTP_SASL_NONE) {
			smtp_auth_line(s, line, len);
			explicit_bzero(line, len); /* a password */
			continue;
		}
		rc = dispatch(s, line, len);
		if (len > 4 && util_has_iprefix(line, len, "AUTH"))
			explicit_bzero(line, len);
		if (rc == SMTP_STOP)
			break;
	}
}

/* ---- connection hooks ---- */

static int
smtp_open(struct conn *c)
{
	struct smtp *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -1;
	s->c = c;
	c->sess = s;
	smtp_auth_init(s);
	if (c->vd->stopping) {
		conn_printf(c, "421 4.3.2 %s Service shutting down\r\n",
			    c->vd->cfg.hostname);
		conn_close_after_write(c, "shutdown");
		return 0;
	}
	conn_printf(c, "220 %s ESMTP vdmail\r\n", c->vd->cfg.hostname);
	return 0;
}

static void
smtp_timeout(struct conn *c)
{
	struct smtp *s = c->sess;

	conn_printf(c, "421 4.4.2 %s Error: timeout exceeded\r\n",
		    c->vd->cfg.hostname);
	if (s->mode != SMTP_M_COMMIT)
		tx_free(s);
}

static void
smtp_shutdown(struct conn *c)
{
	struct smtp *s = c->sess;

	s->shutdown = true;
	if (s->tx == NULL && s->mode == SMTP_M_CMD) {
		conn_printf(c, "421 4.3.2 %s Service shutting down\r\n",
			    c->vd->cfg.hostname);
		conn_close_after_write(c, "shutdown");
	}
}

static void
smtp_close(struct conn *c)
{
	struct smtp *s = c->sess;

	tx_free(s);
	smtp_auth_fini(s);
	free(s);
	c->sess = NULL;
}

const struct conn_proto smtp_server_proto = {
	.name = "smtp",
	.open = smtp_open,
	.input = smtp_input,
	.timeout = smtp_timeout,
	.tls_ready = NULL,
	.shutdown = smtp_shutdown,
	.close = smtp_close,
};
