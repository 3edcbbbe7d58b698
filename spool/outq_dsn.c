/*
 * outq_dsn: the delivery status notifications of outbound delivery
 * (outq.h). The notice is formatted by spool/bounce.c and queued like any
 * message (spool_open ... spool_commit), so it is durable before the
 * failed recipients are marked done, and it is delivered by the same
 * runner. Who gets it (RFC 5321 4.5.5, 6.1; RFC 3464):
 *   a message from SENDER        -> SENDER, from <>;
 *   a message from <> (a notice) -> the postmaster of the failed
 *       recipient's domain when it is ours, else the server's, from
 *       double-bounce@HOSTNAME;
 *   a message from double-bounce@HOSTNAME -> nobody: logged only.
 * A notice nobody can receive (an unknown local sender) goes to the
 * server's postmaster as a double bounce; a delay warning only ever goes
 * to a real sender.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cdb/route.h"
#include "core/log.h"
#include "core/util.h"
#include "core/vd.h"
#include "spool/bounce.h"
#include "spool/outq_int.h"
#include "spool/spool_commit.h"

#define DSN_HEADERS_MAX (64 * 1024) /* of the original, in the notice */
#define DSN_TEXT_MAX (1024 * 1024)

struct dsn_target {
	char to[TBL_ADDR_MAX];
	char sender[TBL_ADDR_MAX];
	struct spool_rcpt rcpt;
};

static void
double_bounce_sender(const struct outq_msg *m, char *out, size_t len)
{
	snprintf(out, len, "double-bounce@%s", m->oq->vd->cfg.hostname);
}

/* The postmaster for a notice about a notice. */
static void
postmaster_for(const struct outq_msg *m, unsigned i, char *out, size_t len)
{
	const char *at = strrchr(m->env.rcpt[i].addr, '@');
	struct tbl_domain d;

	util_strlcpy(out, m->oq->vd->cfg.postmaster, len);
	if (at != NULL && tbl_lookup_domain(&m->oq->vd->tables, at + 1,
					    strlen(at + 1), &d) > 0) {
		if (d.alias_of[0] != '\0' &&
		    tbl_lookup_domain(&m->oq->vd->tables, d.alias_of,
				      strlen(d.alias_of), &d) <= 0)
			return;
		if (d.postmaster[0] != '\0')
			util_strlcpy(out, d.postmaster, len);
	}
}

/* Routes t->to: 1 queued as local or remote, 0 refused, -1 try later. */
static int
route_target(struct outq_msg *m, struct dsn_target *t)
{
	return outq_notice_route(m->oq->vd, m->qid, t->to, &t->rcpt);
}

int
outq_notice_route(struct vd *vd, const char *qid, const char *to,
		  struct spool_rcpt *rcpt)
{
	const struct cfg *c = &vd->cfg;
	struct route_opts o = {
		.store = &vd->store,
		.default_quota = c->default_quota,
		.default_msg_quota = c->default_msg_quota,
		.postmaster = c->postmaster,
		.delimiter = c->recipient_delimiter[0],
		.hostname = c->hostname,
	};
	struct route_result r;

	/* A notice goes to one mailbox or host: never through a list or a
	 * user's options (an autoreply to an autoreply, a list's errors). */
	memset(rcpt, 0, sizeof(*rcpt));
	util_strlcpy(rcpt->addr, to, sizeof(rcpt->addr));
	route_rcpt(&vd->tables, to, strlen(to), &o, &r, NULL, NULL);
	if (r.action == ROUTE_DELIVER) {
		util_strlcpy(rcpt->mailbox, r.mailbox, sizeof(rcpt->mailbox));
		return 1;
	}
	if (r.action == ROUTE_REMOTE || (r.action == ROUTE_REJECT &&
					 strcmp(r.reason, "relay_denied") == 0)) {
		rcpt->remote = true;
		rcpt->kind = 'X';
		return 1;
	}
	if (r.action == ROUTE_TEMPFAIL)
		return -1;
	log_info("%s: notice to <%s> refused here: %d %s %s", qid, to,
		 r.code, r.enh, r.reason);
	return 0; /* a list as sender, no such user, disabled */
}

/* Where notices about recipient i go: its errors-to, or the sender. */
static const char *
reply_to(const struct outq_msg *m, unsigned i)
{
	return m->env.rcpt[i].errorsto[0] ? m->env.rcpt[i].errorsto
					  : m->env.sender;
}

/* Who gets the notice for recipients answering to sender: 1 decided,
 * 0 nobody, -1 try later. */
static int
pick_target(struct outq_msg *m, bool warn, unsigned first, const char *sender,
	    struct dsn_target *t)
{
	char dbl[TBL_ADDR_MAX];
	int rc;

	double_bounce_sender(m, dbl, sizeof(dbl));
	if (strcmp(sender, dbl) == 0 || (warn && sender[0] == '\0'))
		return 0;
	if (sender[0] != '\0') {
		util_strlcpy(t->to, sender, sizeof(t->to));
		t->sender[0] = '\0';
		rc = route_target(m, t);
		if (rc != 0 || warn)
			return rc;
		/* Nobody here by that name: the postmaster should know. */
		util_strlcpy(t->to, m->oq->vd->cfg.postmaster, sizeof(t->to));
	} else {
		postmaster_for(m, first, t->to, sizeof(t->to));
	}
	util_strlcpy(t->sender, dbl, sizeof(t->sender));
	return route_target(m, t);
}

/* Recipient i is one this notice (warn or not) could be about. */
static bool
in_notice(const struct outq_msg *m, bool warn, unsigned i)
{
	const struct outq_rcpt *r = &m->r[i];

	return r->st == (warn ? OUTQ_DEFER : OUTQ_FAIL) && !r->noticed &&
	       !(warn && m->env.rcpt[i].warned);
}

static void
fill_rcpts(const struct outq_msg *m, bool warn, const char *group,
	   struct bounce_rcpt *br, char (*mta)[DNS_NAME_MAX], unsigned *n_r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->env.nrcpt; i++) {
		const struct outq_rcpt *r = &m->r[i];
		if (!in_notice(m, warn, i) || strcmp(reply_to(m, i), group) != 0)
			continue;
		/* host[ip]:port: a remote reply; "file", "program:x": ours */
		bool remote = strchr(r->relay, '[') != NULL;
		size_t hl = remote ? strcspn(r->relay, "[") : 0;
		snprintf(mta[n], DNS_NAME_MAX, "%.*s", (int)hl, r->relay);
		br[n] = (struct bounce_rcpt){
			.addr = m->env.rcpt[i].addr,
			.status = r->enh,
			.remote_mta = hl > 0 ? mta[n] : NULL,
			.diag = r->reply,
			.diaglen = r->reply ? strlen(r->reply) : 0,
			.diag_remote = remote,
			.last_attempt = time(NULL),
		};
		n++;
	}
	*n_r = n;
}

/* The notice's text, our Received header first; 0 or -1. */
static int
format_text(struct outq_msg *m, bool warn, const struct dsn_target *t,
	    const char *qid, struct buf *out)
{
	const struct cfg *c = &m->oq->vd->cfg;
	struct bounce_rcpt *br = calloc(m->env.nrcpt, sizeof(*br));
	char (*mta)[DNS_NAME_MAX] = calloc(m->env.nrcpt, sizeof(*mta));
	char from[TBL_ADDR_MAX], date[64];
	size_t hl = m->env.size < DSN_HEADERS_MAX ? m->env.size
						   : DSN_HEADERS_MAX;
	char *hdr = malloc(hl ? hl : 1);
	ssize_t got = hdr ? pread(m->fd, hdr, hl, (off_t)m->env.text_off) : -1;
	time_t now = time(NULL);
	unsigned n;
	int rc = -1;

	if (br != NULL && mta != NULL && got >= 0) {
		fill_rcpts(m, warn, m->dsn_group, br, mta, &n);
		snprintf(from, sizeof(from), "MAILER-DAEMON@%s", c->hostname);
		struct bounce_info bi = {
			.reporting_mta = c->hostname, .qid = m->qid,
			.from = from, .to = t->to,
			.arrival = m->env.arrival, .now = now,
			.delayed = warn,
			.retry_until = m->env.arrival +
				       (time_t)c->queue_lifetime,
		};
		util_rfc5322_date(date, sizeof(date), now);
		if (n > 0 &&
		    buf_printf(out, "Received: by %s (vdmail) id %s;\r\n\t%s\r\n",
			       c->hostname, qid, date) == 0)
			rc = bounce_format(out, &bi, br, n, hdr, (size_t)got,
					   DSN_HEADERS_MAX);
	}
	free(br);
	free(mta);
	free(hdr);
	return rc;
}

/* The recipients of the group just done count as told (or not). */
static void
group_told(struct outq_msg *m, bool ok)
{
	for (unsigned i = 0; i < m->env.nrcpt; i++)
		if (in_notice(m, m->dsn_warn, i) &&
		    strcmp(reply_to(m, i), m->dsn_group) == 0) {
			m->r[i].noticed = true;
			m->r[i].notice_ok = ok;
		}
}

static int send_group(struct outq_msg *m);

static void
dsn_committed(void *arg, int err)
{
	struct outq_msg *m = arg;

	if (err != 0)
		log_warnx("%s: the notice %s could not be queued: %s", m->qid,
			  m->dsn.qid, strerror(err));
	else
		log_info("%s: sender %s notification: %s", m->qid,
			 m->dsn_warn ? "delay" : "non-delivery", m->dsn.qid);
	group_told(m, err == 0);
	if (send_group(m) != 0)
		m->dsn_done(m, 0); /* every group is done */
}

/*
 * Queues text (our Received header first is the caller's) from sender to
 * t->rcpt through the group commit into f; done(arg, err) once durable.
 * 0, or -1 when it could not be written (nothing queued, done not run).
 */
int
outq_notice_queue(struct vd *vd, const char *qid, const char *sender,
		  const struct spool_rcpt *rcpt, const struct buf *text,
		  struct spool_file *f, void (*done)(void *arg, int err),
		  void *arg)
{
	struct spool_env env;
	struct spool_rcpt r = *rcpt;

	memset(&env, 0, sizeof(env));
	util_strlcpy(env.qid, qid, sizeof(env.qid));
	env.arrival = time(NULL);
	util_strlcpy(env.client, "127.0.0.1", sizeof(env.client));
	util_strlcpy(env.helo, vd->cfg.hostname, sizeof(env.helo));
	util_strlcpy(env.proto, "LOCAL", sizeof(env.proto));
	env.body = SPOOL_BODY_8BITMIME; /* an autoreply text may be UTF-8 */
	util_strlcpy(env.sender, sender, sizeof(env.sender));
	env.rcpt = &r;
	env.nrcpt = 1;
	if (spool_open(&vd->spool, &env, f) < 0)
		return -1;
	spool_write(f, buf_data(text), buf_len(text));
	if (spool_finish(f) < 0) {
		spool_abort(&vd->spool, f);
		return -1;
	}
	spool_commit(&vd->commit, f, done, arg);
	return 0;
}

/*
 * Sends the notice for the next group of recipients answering to one
 * address. 0 when one is on its way (dsn_committed goes on), 1 when no
 * group is left.
 */
static int
send_group(struct outq_msg *m)
{
	struct vd *vd = m->oq->vd;
	struct dsn_target t;
	char qid[SPOOL_QID_MAX];
	struct buf text;
	unsigned first = 0;
	int rc;

	for (;;) {
		while (first < m->env.nrcpt && !in_notice(m, m->dsn_warn, first))
			first++;
		if (first == m->env.nrcpt)
			return 1;
		util_strlcpy(m->dsn_group, reply_to(m, first),
			     sizeof(m->dsn_group));
		rc = pick_target(m, m->dsn_warn, first, m->dsn_group, &t);
		if (rc == 0 && !m->dsn_warn)
			log_info("%s: notice not sent (to %s): dropped", m->qid,
				 m->dsn_group[0] ? m->dsn_group : "<>");
		if (rc <= 0) {
			/* nobody (told: done), or later (not told) */
			group_told(m, rc == 0 && !m->dsn_warn);
			continue;
		}
		spool_new_qid(&vd->spool, qid);
		buf_init(&text, DSN_TEXT_MAX);
		rc = format_text(m, m->dsn_warn, &t, qid, &text) < 0 ||
		     outq_notice_queue(vd, qid, t.sender, &t.rcpt, &text,
				       &m->dsn, dsn_committed, m) < 0;
		buf_free(&text);
		if (rc == 0)
			return 0;
		log_warnx("%s: the notice could not be made", m->qid);
		group_told(m, false);
	}
}

/*
 * One notice per address the failed (warn: delayed) recipients answer to;
 * done(m, 0) when all are sent or given up: a recipient's r->notice_ok
 * says whether its notice is durable. Returns 0 (done will run, maybe
 * already has).
 */
int
outq_dsn_send(struct outq_msg *m, bool warn,
	      void (*done)(struct outq_msg *m, int err))
{
	m->dsn_warn = warn;
	m->dsn_done = done;
	for (unsigned i = 0; i < m->env.nrcpt; i++)
		m->r[i].noticed = m->r[i].notice_ok = false;
	if (send_group(m) != 0)
		done(m, 0);
	return 0;
}
