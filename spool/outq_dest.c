/*
 * outq_dest: destinations and connection attempts of outbound delivery
 * (outq.h has the whole story). An attempt walks hosts (MX order, or the
 * one host of a relay or mailHost) and each host's addresses until a
 * session greets; after that the session takes the destination's jobs.
 * An attempt that reaches nobody fails every waiting job of its
 * destination, unless another session of that destination is alive.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/util.h"
#include "core/vd.h"
#include "spool/outq_int.h"

struct outq_attempt {
	struct outq_dest *d;
	struct dns_query *q;
	struct dns_mx hosts[DNS_MX_MAX];
	unsigned nhosts, ihost;
	struct dns_addr addr[DNS_ADDR_MAX];
	unsigned naddr, iaddr;
	struct conn *c;            /* the session's connection, or NULL */
	bool greeted, busy;
	struct outq_attempt *next_idle; /* in d->idle while waiting */
	bool idle;
	struct outq_job *cur;      /* the job the session holds */
	char relay[DNS_NAME_MAX + 64]; /* host[ip]:port of the session */
	/* why the last host or address failed, for the jobs' outcome */
	int code;
	char enh[8];
	char why[SMTPC_REPLY_MAX + 128];
};

static void attempt_next_host(struct outq_attempt *a);
static void attempt_next_addr(struct outq_attempt *a);

/* ---- destinations ---- */

struct outq_dest *
outq_dest_get(struct outq *oq, const struct nexthop *nh)
{
	struct outq_dest *d;

	for (d = oq->dests; d != NULL; d = d->next)
		if (strcmp(d->nh.key, nh->key) == 0)
			return d;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->oq = oq;
	d->nh = *nh;
	d->tail = &d->head;
	d->next = oq->dests;
	if (oq->dests)
		oq->dests->prev = d;
	oq->dests = d;
	oq->ndests++;
	return d;
}

static void
dest_free(struct outq_dest *d)
{
	struct outq *oq = d->oq;

	if (d->prev)
		d->prev->next = d->next;
	else
		oq->dests = d->next;
	if (d->next)
		d->next->prev = d->prev;
	oq->ndests--;
	free(d);
}

/* A destination with nothing to do and no attempt goes away. */
static void
dest_maybe_free(struct outq_dest *d)
{
	if (d->head == NULL && d->nattempts == 0 && d->filling == NULL)
		dest_free(d);
}

void
outq_dest_push(struct outq_dest *d, struct outq_job *j)
{
	j->next = NULL;
	*d->tail = j;
	d->tail = &j->next;
	d->njobs++;
}

static struct outq_job *
dest_pop(struct outq_dest *d)
{
	struct outq_job *j = d->head;

	if (j == NULL)
		return NULL;
	d->head = j->next;
	if (d->head == NULL)
		d->tail = &d->head;
	d->njobs--;
	j->next = NULL;
	return j;
}

/* Every waiting job's recipients get this outcome. */
static void
dest_fail_waiting(struct outq_dest *d, int code, const char *enh,
		  const char *why)
{
	struct outq_job *j;

	while ((j = dest_pop(d)) != NULL) {
		for (unsigned k = 0; k < j->sm.nrcpt; k++)
			outq_rcpt_done(j->msg, j->idx[k], code, enh, why, NULL);
		outq_job_done(j);
	}
}

static struct outq_attempt *attempt_new(struct outq_dest *d);

/*
 * Every slot is taken and want has work: an idle session of another
 * destination ends (its QUIT frees a slot, whose attempt_free kicks us
 * again), so idle connections never hold back waiting mail.
 */
static void
evict_idle(struct outq *oq, struct outq_dest *want)
{
	for (struct outq_dest *d = oq->dests; d != NULL; d = d->next) {
		struct outq_attempt *a = d->idle;
		if (d == want || a == NULL)
			continue;
		d->idle = a->next_idle;
		a->idle = false;
		smtpc_quit(a->c);
		return;
	}
}

void
outq_dest_kick(struct outq_dest *d)
{
	struct outq *oq = d->oq;
	const struct cfg *c = &oq->vd->cfg;

	/* Connected sessions waiting for work take it first. */
	while (d->head != NULL && d->idle != NULL) {
		struct outq_attempt *a = d->idle;
		d->idle = a->next_idle;
		a->idle = false;
		smtpc_wake(a->c);
	}
	/* One more attempt while waiting jobs outnumber idle attempts; but
	 * only one until a session of the destination greets (slow start:
	 * a dead destination costs one connection, not twenty). */
	while (!oq->stopping && d->head != NULL &&
	       (d->nlive > 0 || d->nattempts == 0) &&
	       d->nattempts < c->outbound_dest_concurrency &&
	       oq->nattempts < c->outbound_concurrency &&
	       d->nattempts - d->nbusy < d->njobs)
		if (attempt_new(d) == NULL)
			break;
	if (d->head != NULL && oq->nattempts >= c->outbound_concurrency)
		evict_idle(oq, d);
	if (oq->stopping)
		dest_fail_waiting(d, 421, "4.3.2", "delivery stopped: "
				  "shutting down");
	dest_maybe_free(d);
}

void
outq_dest_kick_all(struct outq *oq)
{
	struct outq_dest *d = oq->dests, *next;

	for (; d != NULL; d = next) {
		next = d->next;
		if (d->head != NULL)
			outq_dest_kick(d);
	}
}

void
outq_dest_free_all(struct outq *oq)
{
	while (oq->dests != NULL) {
		struct outq_dest *d = oq->dests;
		struct outq_job *j;
		while ((j = dest_pop(d)) != NULL)
			outq_job_free(j);
		dest_free(d);
	}
}

/* ---- attempts ---- */

static void
attempt_free(struct outq_attempt *a)
{
	struct outq_dest *d = a->d;
	struct outq *oq = d->oq;
	bool was_full = oq->nattempts >= oq->vd->cfg.outbound_concurrency;

	dns_cancel(a->q);
	d->nattempts--;
	oq->nattempts--;
	free(a);
	/* The slot may let this destination, or any other, go on (d may
	 * be gone after its kick). */
	outq_dest_kick(d);
	if (was_full)
		outq_dest_kick_all(oq);
}

static void
attempt_fail(struct outq_attempt *a, int code, const char *enh,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
attempt_fail(struct outq_attempt *a, int code, const char *enh,
	     const char *fmt, ...)
{
	va_list ap;

	a->code = code;
	util_strlcpy(a->enh, enh, sizeof(a->enh));
	va_start(ap, fmt);
	vsnprintf(a->why, sizeof(a->why), fmt, ap);
	va_end(ap);
}

/* Nobody could be reached: the waiting jobs get the last failure. */
static void
attempt_give_up(struct outq_attempt *a)
{
	struct outq_dest *d = a->d;

	log_info("outbound %s: %s", d->nh.name, a->why);
	if (d->nlive == 0)
		dest_fail_waiting(d, a->code, a->enh, a->why);
	attempt_free(a);
}

static bool
is_self(const struct outq_attempt *a, const char *host)
{
	const char *me = a->d->oq->vd->cfg.hostname;

	return util_is_ieq(host, strlen(host), me);
}

/* RFC 5321 5.1: when we are an MX, only more preferred ones may be used. */
static void
drop_self(struct outq_attempt *a)
{
	for (unsigned i = 0; i < a->nhosts; i++)
		if (is_self(a, a->hosts[i].host)) {
			unsigned pref = a->hosts[i].pref, k = 0;
			while (k < a->nhosts && a->hosts[k].pref < pref)
				k++;
			a->nhosts = k;
			return;
		}
}

static void
mx_done(void *arg, enum dns_status st, const struct dns_mx *mx, unsigned n,
	const char *why)
{
	struct outq_attempt *a = arg;
	const char *name = a->d->nh.name;

	a->q = NULL;
	switch (st) {
	case DNS_OK:
		memcpy(a->hosts, mx, n * sizeof(*mx));
		a->nhosts = n;
		drop_self(a);
		if (a->nhosts == 0) {
			attempt_fail(a, 554, "5.4.6", "mail for %s loops back "
				     "to myself", name);
			attempt_give_up(a);
			return;
		}
		break;
	case DNS_NODATA: /* RFC 5321 5.1: the domain itself, implicit MX */
		util_strlcpy(a->hosts[0].host, name, DNS_NAME_MAX);
		a->nhosts = 1;
		break;
	case DNS_NULLMX:
		attempt_fail(a, 556, "5.1.10", "%s does not accept mail "
			     "(null MX, RFC 7505)", name);
		attempt_give_up(a);
		return;
	case DNS_NXDOMAIN:
		attempt_fail(a, 550, "5.1.2", "Host or domain name not found. "
			     "Name service error for name=%s type=MX: %s",
			     name, why);
		attempt_give_up(a);
		return;
	case DNS_TEMPFAIL:
		attempt_fail(a, 451, "4.4.3", "Host or domain name lookup "
			     "failed for name=%s type=MX: %s", name, why);
		attempt_give_up(a);
		return;
	}
	a->ihost = 0;
	attempt_next_host(a);
}

static void
addr_done(void *arg, enum dns_status st, const struct dns_addr *ad,
	  unsigned n, const char *why)
{
	struct outq_attempt *a = arg;
	const char *host = a->hosts[a->ihost].host;
	bool implicit = a->d->nh.kind == NEXTHOP_MX && a->nhosts == 1 &&
			strcmp(host, a->d->nh.name) == 0;

	a->q = NULL;
	a->ihost++;
	if (a->d->nh.kind != NEXTHOP_MX && is_self(a, host)) {
		/* A relay or mailHost naming this host would loop. */
		attempt_fail(a, 554, "5.4.6", "mail for %s loops back to "
			     "myself", host);
		attempt_next_host(a);
		return;
	}
	if (st != DNS_OK) {
		/* No MX and no address at all: there is no such mail domain. */
		bool perm = st != DNS_TEMPFAIL && (implicit ||
						  a->d->nh.kind != NEXTHOP_MX);
		attempt_fail(a, perm ? 550 : 451, perm ? "5.1.2" : "4.4.3",
			     "Host or domain name not found. Name service "
			     "error for name=%s type=A/AAAA: %s", host, why);
		attempt_next_host(a);
		return;
	}
	memcpy(a->addr, ad, n * sizeof(*ad));
	a->naddr = n;
	a->iaddr = 0;
	attempt_next_addr(a);
}

static void
attempt_next_host(struct outq_attempt *a)
{
	if (a->ihost >= a->nhosts || a->d->oq->stopping) {
		attempt_give_up(a);
		return;
	}
	a->q = dns_addr(a->d->oq->dns, a->hosts[a->ihost].host, addr_done, a);
	if (a->q == NULL) {
		attempt_fail(a, 451, "4.3.0", "out of memory");
		attempt_give_up(a);
	}
}

static struct outq_attempt *
attempt_new(struct outq_dest *d)
{
	struct outq_attempt *a = calloc(1, sizeof(*a));
	struct outq *oq = d->oq;

	if (a == NULL)
		return NULL;
	a->d = d;
	d->nattempts++;
	oq->nattempts++;
	attempt_fail(a, 451, "4.4.1", "no host answered for %s", d->nh.name);
	if (d->nh.kind == NEXTHOP_MX) {
		a->q = dns_mx(oq->dns, d->nh.name, mx_done, a);
	} else {
		util_strlcpy(a->hosts[0].host, d->nh.name, DNS_NAME_MAX);
		a->nhosts = 1;
		a->q = dns_addr(oq->dns, d->nh.name, addr_done, a);
	}
	if (a->q == NULL) {
		d->nattempts--;
		oq->nattempts--;
		free(a);
		return NULL;
	}
	return a;
}

/* ---- the session's callbacks ---- */

static const struct smtpc_msg *
ops_next(void *arg)
{
	struct outq_attempt *a = arg;
	struct outq_dest *d = a->d;

	bool first = !a->greeted;

	if (first) {
		a->greeted = true;
		d->nlive++;
	}
	if (a->busy) {
		a->busy = false;
		d->nbusy--;
	}
	if (d->oq->stopping)
		return NULL;
	if ((a->cur = dest_pop(d)) == NULL) {
		if (d->oq->vd->cfg.outbound_idle <= 0)
			return NULL;
		/* Stay connected a moment: the next message may be near. */
		a->idle = true;
		a->next_idle = d->idle;
		d->idle = a;
		return SMTPC_IDLE;
	}
	a->busy = true;
	d->nbusy++;
	if (first)
		outq_dest_kick(d); /* it answers: the rest may go in parallel */
	return &a->cur->sm;
}

static ssize_t
ops_read(void *arg, const struct smtpc_msg *sm, uint64_t off, char *buf,
	 size_t len)
{
	const struct outq_job *j = sm->owner;
	const struct outq_msg *m = j->msg;
	(void)arg;

	if (off >= m->env.size)
		return 0;
	if (len > m->env.size - off)
		len = (size_t)(m->env.size - off);
	return pread(m->fd, buf, len, (off_t)(m->env.text_off + off));
}

static void
ops_rcpt_done(void *arg, const struct smtpc_msg *sm, unsigned i, int code,
	      const char *enh, const char *reply)
{
	struct outq_attempt *a = arg;
	const struct outq_job *j = sm->owner;

	outq_rcpt_done(j->msg, j->idx[i], code, enh, reply, a->relay);
}

static void
ops_msg_done(void *arg, const struct smtpc_msg *sm)
{
	struct outq_attempt *a = arg;

	if (a->cur == sm->owner)
		a->cur = NULL;
	outq_job_done(sm->owner);
}

static void
ops_failed(void *arg, int code, const char *enh, const char *why)
{
	struct outq_attempt *a = arg;

	attempt_fail(a, code, enh, "%s", why);
}

static void
ops_closed(void *arg)
{
	struct outq_attempt *a = arg;
	struct outq_dest *d = a->d;

	a->c = NULL;
	if (a->busy) {
		a->busy = false;
		d->nbusy--;
	}
	if (a->idle) {
		struct outq_attempt **pp = &d->idle;
		while (*pp != a)
			pp = &(*pp)->next_idle;
		*pp = a->next_idle;
		a->idle = false;
	}
	if (a->greeted) {
		d->nlive--;
		attempt_free(a);
		return;
	}
	attempt_next_addr(a); /* this address failed: the next one */
}

static const struct smtpc_ops outq_smtpc_ops = {
	.next = ops_next,
	.read = ops_read,
	.rcpt_done = ops_rcpt_done,
	.msg_done = ops_msg_done,
	.failed = ops_failed,
	.closed = ops_closed,
};

static void
attempt_next_addr(struct outq_attempt *a)
{
	struct outq *oq = a->d->oq;
	const struct cfg *c = &oq->vd->cfg;
	const char *host = a->hosts[a->ihost - 1].host;
	char ip[INET6_ADDRSTRLEN];

	while (a->iaddr < a->naddr && !oq->stopping) {
		struct dns_addr *ad = &a->addr[a->iaddr++];
		struct smtpc_params p = {
			.helo = c->hostname,
			.peer_name = host,
			.tls = oq->tls,
			.tls_policy = a->d->nh.tls_policy,
			.timeout = c->timeout_smtp_out,
			.idle = c->outbound_idle,
			.ops = &outq_smtpc_ops,
			.arg = a,
		};
		void *sess;
		if (ad->sa.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ad->sa)->sin6_port =
				htons((uint16_t)a->d->nh.port);
		else
			((struct sockaddr_in *)&ad->sa)->sin_port =
				htons((uint16_t)a->d->nh.port);
		util_format_ip(&ad->sa, ip, sizeof(ip));
		snprintf(a->relay, sizeof(a->relay), "%s[%s]:%u", host, ip,
			 a->d->nh.port);
		sess = smtpc_new(&p);
		if (sess == NULL)
			break;
		a->c = conn_connect(oq->vd, &ad->sa, ad->len,
				    &smtp_client_proto, sess,
				    c->timeout_connect);
		if (a->c != NULL)
			return; /* ops_closed or the session goes on */
		smtpc_free(sess);
		attempt_fail(a, 451, "4.4.1", "connect to %s: %s", a->relay,
			     strerror(errno));
	}
	attempt_next_host(a);
}
