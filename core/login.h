/*
 * login: one login attempt, the same for every protocol (POP3, SMTP AUTH,
 * later IMAP): the throttle (core/throttle) for the client address and
 * the account, the access policy (core/access: Figs. 6-7 and the service
 * rules), then the password on a worker (core/authw), never on the loop.
 * A refused account is still checked, against a dummy hash, so it takes
 * as long and answers as a wrong password does; a failure is answered
 * after the throttle's growing delay. done() is always called later from
 * the loop, never from inside login_start, exactly once unless cancelled.
 * Each attempt is logged: "c=ID PROTO login user=<..> result=.. reason=..".
 */
#ifndef VD_LOGIN_H
#define VD_LOGIN_H

#include <ev.h>
#include <stdbool.h>

#include "core/access.h"
#include "core/authw.h"

struct conn;

enum login_result {
	LOGIN_OK,         /* r->acc says who */
	LOGIN_FAIL,       /* unknown user, wrong password, refused: one answer */
	LOGIN_TEMPFAIL,   /* workers or tables unavailable: try again later */
	LOGIN_DOMAIN_TEMP, /* the domain is inactive (Sun: 4xx for logins) */
	LOGIN_THROTTLED,  /* too many failures for this client or account */
	LOGIN_BUSY,       /* every worker queue is full */
};

typedef void login_done_fn(void *arg, enum login_result r);

struct login {
	struct conn *c;
	const char *proto;        /* for the log line */
	login_done_fn *done;
	void *arg;
	char user[AUTHW_LOGIN_MAX + 1];
	struct access_result acc;
	bool acc_ok;
	struct authw_req *req;
	ev_timer later;           /* delivers the answer, after a delay */
	enum login_result result;
	bool pending;
};

void login_init(struct login *l, struct conn *c, const char *proto,
		login_done_fn *done, void *arg);
/* Starts an attempt (one at a time per struct login). */
void login_start(struct login *l, const char *user, size_t ulen,
		 const char *pw, size_t pwlen, enum access_service svc);
/* Forgets a pending attempt (its connection goes away). */
void login_cancel(struct login *l);
/* Logs a refusal decided after a good password (IN-USE, mailHost...). */
void login_log(const struct login *l, const char *result, const char *reason);

#endif
