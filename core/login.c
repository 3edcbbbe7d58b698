#include "core/login.h"

#include <string.h>

#include "core/conn.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/util.h"
#include "core/vd.h"

#define LOGIN_BLOCKED_DELAY 8.0 /* a blocked key still answers late */

/*
 * The throttle's keys. The account is the one the policy resolved (every
 * name of it: alias domains, alternate addresses, a bare login), so its
 * names do not get their own guesses each; else what was typed.
 */
static void
keys(const struct login *l, char *ip, size_t iplen, char *acct,
     size_t acctlen)
{
	util_fmt(ip, iplen, "ip:%s", l->c->peer_ip);
	util_fmt(acct, acctlen, "acct:%s",
		 l->acc.login[0] ? l->acc.login : l->user);
	util_lower(acct, strlen(acct));
}

void
login_log(const struct login *l, const char *result, const char *reason)
{
	char esc[128];

	util_log_escape(esc, sizeof(esc), l->user, strlen(l->user));
	log_info("c=%06x %s login user=<%s> result=%s reason=%s", l->c->id,
		 l->proto, esc, result, reason);
}

static void
later_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct login *l = t->data;

	(void)loop;
	(void)revents;
	l->pending = false;
	l->done(l->arg, l->result);
}

/*
 * Answers after d seconds, or with no delay on the loop's next turn: fed
 * as a pending event, since even a tiny timer costs an epoll round of a
 * millisecond, most of a POP3 session's time (tests/bench/pop3_bench.sh).
 */
static void
answer(struct login *l, enum login_result r, double d)
{
	l->result = r;
	if (d <= 0) {
		ev_feed_event(l->c->vd->loop, &l->later, EV_TIMER);
		return;
	}
	ev_timer_set(&l->later, d, 0);
	ev_timer_start(l->c->vd->loop, &l->later);
}

static void
failed(struct login *l, const char *reason)
{
	struct vd *vd = l->c->vd;
	char ip[80], acct[AUTHW_LOGIN_MAX + 8];
	double now = ev_now(vd->loop);

	login_log(l, "fail", reason);
	keys(l, ip, sizeof(ip), acct, sizeof(acct));
	thr_fail(&vd->throttle, ip, now);
	thr_fail(&vd->throttle, acct, now);
	double d = thr_delay(&vd->throttle, ip, now);
	double da = thr_delay(&vd->throttle, acct, now);
	if (da < 0 || (d >= 0 && da > d))
		d = da;
	answer(l, LOGIN_FAIL, d < 0 ? LOGIN_BLOCKED_DELAY : d);
}

static void
checked_cb(void *arg, enum authw_result r)
{
	struct login *l = arg;
	struct vd *vd = l->c->vd;
	char ip[80], acct[AUTHW_LOGIN_MAX + 8];

	l->req = NULL;
	if (r == AUTHW_TEMPFAIL) {
		login_log(l, "tempfail", "workers");
		answer(l, LOGIN_TEMPFAIL, 0);
	} else if (r == AUTHW_OK && l->acc_ok) {
		keys(l, ip, sizeof(ip), acct, sizeof(acct));
		thr_success(&vd->throttle, ip);
		thr_success(&vd->throttle, acct);
		login_log(l, "ok", "ok");
		answer(l, LOGIN_OK, 0);
	} else {
		failed(l, l->acc_ok ? "bad_password" : l->acc.reason);
	}
}

void
login_init(struct login *l, struct conn *c, const char *proto,
	   login_done_fn *done, void *arg)
{
	memset(l, 0, sizeof(*l));
	l->c = c;
	l->proto = proto;
	l->done = done;
	l->arg = arg;
	ev_timer_init(&l->later, later_cb, 0, 0);
	l->later.data = l;
}

void
login_start(struct login *l, const char *user, size_t ulen, const char *pw,
	    size_t pwlen, enum access_service svc)
{
	struct vd *vd = l->c->vd;
	char ip[80], acct[AUTHW_LOGIN_MAX + 8];
	double now = ev_now(vd->loop);
	const char *dom = l->c->lst ? l->c->lst->cfg.domain : "";
	struct access_req q = {
		.identity = user, .idlen = ulen,
		.default_domain = dom[0] ? dom : NULL,
		.sni = conn_tls_sni(l->c), .service = svc,
		.client = &l->c->peer,
	};

	l->pending = true;
	util_copy(l->user, sizeof(l->user), user,
		  ulen < sizeof(l->user) ? ulen : sizeof(l->user) - 1);
	/* Table lookups only: the account's canonical name for the keys. */
	access_check(&vd->tables, &q, &l->acc);
	keys(l, ip, sizeof(ip), acct, sizeof(acct));
	if (thr_delay(&vd->throttle, ip, now) < 0 ||
	    thr_delay(&vd->throttle, acct, now) < 0) {
		login_log(l, "fail", "throttled");
		answer(l, LOGIN_THROTTLED, 0);
		return;
	}
	if (l->acc.decision == ACCESS_TEMPFAIL) {
		login_log(l, "tempfail", l->acc.reason);
		answer(l, strcmp(l->acc.reason, "domain_inactive") == 0
				  ? LOGIN_DOMAIN_TEMP : LOGIN_TEMPFAIL, 0);
		return;
	}
	l->acc_ok = l->acc.decision == ACCESS_ALLOW;
	const char *key = l->acc_ok ? l->acc.login : l->user;
	l->req = authw_check(&vd->auth, key, strlen(key), pw, pwlen,
			     checked_cb, l);
	if (l->req == NULL) {
		login_log(l, "tempfail", "busy");
		answer(l, LOGIN_BUSY, 0);
	}
}

void
login_cancel(struct login *l)
{
	if (l->c == NULL)
		return;
	authw_cancel(l->req);
	l->req = NULL;
	ev_timer_stop(l->c->vd->loop, &l->later);
	ev_clear_pending(l->c->vd->loop, &l->later); /* a fed answer too */
	l->pending = false;
	explicit_bzero(l->user, sizeof(l->user));
}
