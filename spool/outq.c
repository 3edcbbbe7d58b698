#include "spool/outq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/tls.h"
#include "core/util.h"
#include "core/vd.h"
#include "spool/outq_int.h"
#include "spool/qfile.h"
#include "spool/sched.h"

int
outq_init(struct outq *oq, struct vd *vd, char *err, size_t errlen)
{
	const struct cfg *c = &vd->cfg;

	memset(oq, 0, sizeof(*oq));
	oq->vd = vd;
	oq->dns = dns_new(vd->loop, c->dns_servers, c->dns_timeout, 2, err,
			  errlen);
	if (oq->dns == NULL)
		return -1;
	outq_local_init(oq);
	if (strcmp(c->outbound_tls, "none") != 0) {
		char why[256] = "";
		oq->tls = tls_client_ctx_load(c->tls_ca_file, why, sizeof(why));
		if (why[0] != '\0')
			log_warnx("outbound TLS: %s", why);
	}
	return 0;
}

void
outq_stop(struct outq *oq)
{
	oq->stopping = true;
}

static void msg_free(struct outq_msg *m);

void
outq_fini(struct outq *oq)
{
	outq_local_fini(oq);
	outq_dest_free_all(oq);
	while (oq->msgs != NULL) {
		/* Stopping: the file stays in queue/ for the next start; the
		 * runner's entry goes. */
		void *cookie = oq->msgs->cookie;
		msg_free(oq->msgs);
		sched_outq_done(cookie, DELIVER_GONE, "stopping");
	}
	dns_free(oq->dns);
	oq->dns = NULL;
	if (oq->tls != NULL)
		tls_client_ctx_unref(oq->tls);
	oq->tls = NULL;
}

static void
msg_free(struct outq_msg *m)
{
	struct outq *oq = m->oq;

	if (m->prev)
		m->prev->next = m->next;
	else
		oq->msgs = m->next;
	if (m->next)
		m->next->prev = m->prev;
	oq->nmsgs--;
	for (unsigned i = 0; m->r != NULL && i < m->env.nrcpt; i++)
		free(m->r[i].reply);
	free(m->r);
	spool_env_free(&m->env);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}

void
outq_log_rcpt(const struct outq_msg *m, unsigned i, const char *status)
{
	const struct outq_rcpt *r = &m->r[i];
	char esc[SMTPC_REPLY_MAX * 4];

	util_log_escape(esc, sizeof(esc), r->reply ? r->reply : "",
			r->reply ? strlen(r->reply) : 0);
	log_info("%s: to=<%s> relay=%s delay=%.2f status=%s (%s)", m->qid,
		 m->env.rcpt[i].addr, r->relay[0] ? r->relay : "none",
		 ev_now(m->oq->vd->loop) - (double)m->env.arrival, status,
		 esc);
}

static void
set_reply(struct outq_rcpt *r, int code, const char *enh, const char *reply)
{
	free(r->reply);
	r->reply = strdup(reply != NULL ? reply : "");
	r->code = code;
	util_strlcpy(r->enh, enh != NULL ? enh : "", sizeof(r->enh));
}

void
outq_rcpt_done(struct outq_msg *m, unsigned i, int code, const char *enh,
	       const char *reply, const char *relay)
{
	struct outq_rcpt *r = &m->r[i];

	set_reply(r, code, enh, reply);
	util_strlcpy(r->relay, relay != NULL ? relay : "", sizeof(r->relay));
	if (code / 100 == 2) {
		r->st = OUTQ_SENT;
		/* At once: a kill -9 from here on keeps the mark. */
		if (qfile_mark(m->fd, &m->env, i, 'D') < 0)
			log_warn("%s: marking <%s> delivered", m->qid,
				 m->env.rcpt[i].addr);
		m->env.rcpt[i].done = true;
		outq_log_rcpt(m, i, "sent");
	} else if (code / 100 == 5) {
		r->st = OUTQ_FAIL; /* logged once the DSN is queued */
	} else {
		r->st = OUTQ_DEFER;
	}
}

/* ---- settling a message ---- */

static unsigned
count(const struct outq_msg *m, enum outq_rs st)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->env.nrcpt; i++)
		n += m->r[i].st == st;
	return n;
}

/* A recipient deferred past queue_lifetime fails with its last reply. */
static void
expire(struct outq_msg *m)
{
	double age = ev_now(m->oq->vd->loop) - (double)m->env.arrival;
	char text[SMTPC_REPLY_MAX + 64];

	if (age < m->oq->vd->cfg.queue_lifetime)
		return;
	for (unsigned i = 0; i < m->env.nrcpt; i++) {
		struct outq_rcpt *r = &m->r[i];
		if (r->st != OUTQ_DEFER)
			continue;
		snprintf(text, sizeof(text), "delivery time expired; last "
			 "error: %s", r->reply ? r->reply : "unknown");
		set_reply(r, r->code, r->enh[0] ? r->enh : "4.4.7", text);
		r->st = OUTQ_FAIL;
	}
}

static void
finish(struct outq_msg *m)
{
	struct outq *oq = m->oq;
	void *cookie = m->cookie;
	char why[SMTPC_REPLY_MAX + 8] = "";
	bool pending = false;

	for (unsigned i = 0; i < m->env.nrcpt; i++) {
		if (m->env.rcpt[i].done)
			continue;
		pending = true;
		if (why[0] == '\0' && m->r[i].st == OUTQ_DEFER)
			util_strlcpy(why, m->r[i].reply ? m->r[i].reply : "",
				     sizeof(why));
	}
	if (!pending) {
		if (spool_recycle(&oq->vd->spool, m->qid) < 0)
			log_warn("%s: remove queue file", m->qid);
		log_info("%s: removed", m->qid);
	}
	msg_free(m);
	sched_outq_done(cookie, pending ? DELIVER_DEFER : DELIVER_DONE,
			why[0] ? why : "local recipients pending");
}

static void
failed_marked(struct outq_msg *m, int err)
{
	m->dsn_busy = false;
	for (unsigned i = 0; i < m->env.nrcpt; i++) {
		bool ok = err == 0 && m->r[i].notice_ok;
		if (m->r[i].st != OUTQ_FAIL)
			continue;
		if (ok) {
			qfile_mark(m->fd, &m->env, i, 'D');
			m->env.rcpt[i].done = true;
		}
		outq_log_rcpt(m, i, ok ? "bounced" : "deferred");
	}
	finish(m);
}

static void
warned(struct outq_msg *m, int err)
{
	m->dsn_busy = false;
	for (unsigned i = 0; i < m->env.nrcpt; i++)
		if (m->r[i].st == OUTQ_DEFER && !m->env.rcpt[i].warned &&
		    err == 0 && m->r[i].notice_ok &&
		    qfile_mark(m->fd, &m->env, i, 'W') == 0)
			m->env.rcpt[i].warned = true;
	finish(m);
}

static bool
want_warning(const struct outq_msg *m)
{
	const struct cfg *c = &m->oq->vd->cfg;
	double age = ev_now(m->oq->vd->loop) - (double)m->env.arrival;

	if (c->delay_warning <= 0 || age < c->delay_warning)
		return false;
	for (unsigned i = 0; i < m->env.nrcpt; i++)
		if (m->r[i].st == OUTQ_DEFER && !m->env.rcpt[i].warned)
			return true;
	return false;
}

/* Every job of m is over: log, bounce, warn, then hand it back. */
static void
settle(struct outq_msg *m)
{
	m->settling = true;
	expire(m);
	for (unsigned i = 0; i < m->env.nrcpt; i++)
		if (m->r[i].st == OUTQ_DEFER)
			outq_log_rcpt(m, i, "deferred");
	if (count(m, OUTQ_FAIL) > 0 && !m->oq->stopping) {
		m->dsn_busy = true;
		if (outq_dsn_send(m, false, failed_marked) == 0)
			return;
		m->dsn_busy = false;
		failed_marked(m, -1);
		return;
	}
	if (want_warning(m) && !m->oq->stopping) {
		m->dsn_busy = true;
		if (outq_dsn_send(m, true, warned) == 0)
			return;
		m->dsn_busy = false;
	}
	finish(m);
}

void
outq_job_free(struct outq_job *j)
{
	free(j->idx);
	free(j->rcpt);
	free(j);
}

void
outq_msg_release(struct outq_msg *m)
{
	if (--m->jobs == 0)
		settle(m);
}

void
outq_job_done(struct outq_job *j)
{
	struct outq_msg *m = j->msg;

	/* A recipient the session never answered (it should not happen). */
	for (unsigned k = 0; k < j->sm.nrcpt; k++)
		if (m->r[j->idx[k]].st == OUTQ_WAIT)
			outq_rcpt_done(m, j->idx[k], 451, "4.3.0",
				       "no outcome from the session", NULL);
	outq_job_free(j);
	outq_msg_release(m);
}

/* ---- taking a message ---- */

static int
job_add(struct outq_msg *m, struct outq_dest *d, unsigned i)
{
	unsigned max = m->oq->vd->cfg.outbound_rcpt_max;
	struct outq_job *j = d->filling_msg == m ? d->filling : NULL;
	/* a list's members go out with its mgrpErrorsTo as the sender */
	const char *sender = m->env.rcpt[i].errorsto[0]
				     ? m->env.rcpt[i].errorsto
				     : m->env.sender;

	if (j == NULL || j->sm.nrcpt == max || strcmp(j->sm.sender, sender)) {
		j = calloc(1, sizeof(*j));
		if (j == NULL)
			return -1;
		j->msg = m;
		j->sm.owner = j;
		j->sm.sender = sender;
		j->sm.size = m->env.size;
		j->sm.eightbit = m->env.body == SPOOL_BODY_8BITMIME;
		d->filling = j;
		d->filling_msg = m;
		m->jobs++;
		outq_dest_push(d, j);
	}
	if (j->sm.nrcpt == j->cap) {
		unsigned ncap = j->cap ? j->cap * 2 : 4;
		unsigned *ni = realloc(j->idx, ncap * sizeof(*ni));
		if (ni == NULL)
			return -1;
		j->idx = ni;
		const char **nr = realloc(j->rcpt, ncap * sizeof(*nr));
		if (nr == NULL)
			return -1;
		j->rcpt = nr;
		j->cap = ncap;
	}
	j->idx[j->sm.nrcpt] = i;
	j->rcpt[j->sm.nrcpt] = m->env.rcpt[i].addr;
	j->sm.nrcpt++;
	j->sm.rcpt = j->rcpt;
	m->r[i].st = OUTQ_WAIT;
	return 0;
}

/* Sorts m's pending remote recipients into jobs of their destinations. */
static void
route_all(struct outq_msg *m)
{
	const struct cfg *c = &m->oq->vd->cfg;
	struct nexthop_opts o = {
		.hostname = c->hostname,
		.relay_host = c->relay_host,
		.port = c->outbound_port,
		.tls_policy = strcmp(c->outbound_tls, "verify") == 0 ? 2
			      : strcmp(c->outbound_tls, "encrypt") == 0 ? 1
									: 0,
	};
	struct nexthop nh;

	for (unsigned i = 0; i < m->env.nrcpt; i++) {
		struct spool_rcpt *sr = &m->env.rcpt[i];
		struct outq_dest *d;
		if (sr->done)
			continue;
		if (strchr("MAPF", spool_rcpt_kind(sr)) != NULL) {
			outq_local_rcpt(m, i);
			continue;
		}
		if (!sr->remote)
			continue;
		if (nexthop_for(&m->oq->vd->tables, sr->addr, &o, &nh) < 0) {
			outq_rcpt_done(m, i, 451, "4.3.0", nh.why, NULL);
			continue;
		}
		d = outq_dest_get(m->oq, &nh);
		if (d == NULL || job_add(m, d, i) < 0)
			outq_rcpt_done(m, i, 451, "4.3.0", "out of memory",
				       NULL);
	}
}

void
outq_add(struct outq *oq, const char *qid, void *cookie)
{
	struct outq_msg *m = calloc(1, sizeof(*m));
	char why[200];
	int rc;

	if (m == NULL) {
		sched_outq_done(cookie, DELIVER_DEFER, "out of memory");
		return;
	}
	m->oq = oq;
	m->cookie = cookie;
	util_strlcpy(m->qid, qid, sizeof(m->qid));
	m->next = oq->msgs;
	if (oq->msgs)
		oq->msgs->prev = m;
	oq->msgs = m;
	oq->nmsgs++;
	/* Local delivery read it a moment ago: no second CRC pass. */
	rc = qfile_load(&oq->vd->spool, qid, false, &m->fd, &m->env, why,
			sizeof(why));
	if (rc <= 0 || (m->r = calloc(m->env.nrcpt ? m->env.nrcpt : 1,
				      sizeof(*m->r))) == NULL) {
		msg_free(m);
		sched_outq_done(cookie, rc == 0 ? DELIVER_GONE : DELIVER_DEFER,
				rc < 0 ? why : "out of memory");
		return;
	}
	m->jobs = 1; /* held while routing, so nothing settles early */
	route_all(m);
	for (struct outq_dest *d = oq->dests; d != NULL; d = d->next)
		if (d->filling_msg == m) {
			d->filling = NULL;
			d->filling_msg = NULL;
			outq_dest_kick(d);
		}
	if (--m->jobs == 0)
		settle(m);
}
