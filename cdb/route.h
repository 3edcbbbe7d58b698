/*
 * route: how a recipient address is handled, the virtual-host patent's
 * Fig. 5 with Sun's status precedence, answered from the tables alone.
 * The SMTP server asks it at RCPT; `vdctl route` prints every step.
 *
 *   domain known?          no  -> 554 5.7.1 relay denied
 *   alias domain?          yes -> continue with its canonical domain
 *   domain status (inetDomainStatus, then mailDomainStatus; the first
 *   that is not active wins; unknown counts as inactive):
 *       inactive/hold -> 450 4.2.1   overquota -> 452 4.2.2
 *       disabled -> 550 5.2.1        deleted/removed -> 550 5.1.2
 *   address: exact, canonical domain, +detail stripped, @domain catch-all;
 *   postmaster@ falls back to the domain's postmaster, then the server's
 *                          none -> 550 5.1.1
 *   user status (inetUserStatus, then mailUserStatus), as the domain's but
 *       deleted/removed -> 550 5.1.1 (mailbox deleted)
 *   user's mailHost is another host -> 250 2.1.5 ROUTE_REMOTE: queued
 *       for outbound delivery to that host (r->mailhost)
 *   quota (bytes or messages, with the declared SIZE) -> 452 4.2.2
 *   otherwise               -> 250 2.1.5, deliver to the user's mailbox
 * A list address (addresses list=) checks inetMailGroupStatus (inactive
 * 450 4.2.1, disabled 550 5.2.1, deleted 550 5.1.1) and answers
 * ROUTE_LIST: route_expand (below) expands the members.
 * A broken table (dangling alias or address) answers 451 4.3.0, so mail
 * is retried rather than bounced for an admin's mistake.
 * Blocks only on local disk (tables, maildirsize).
 */
#ifndef VD_ROUTE_H
#define VD_ROUTE_H

#include <stdint.h>

#include "cdb/tbl.h"

struct store;

enum route_action {
	ROUTE_DELIVER,  /* 250: local mailbox */
	ROUTE_TEMPFAIL, /* 4xx */
	ROUTE_REJECT,   /* 5xx */
	ROUTE_LIST,     /* 250: a distribution list; r->list names it */
	ROUTE_REMOTE,   /* 250: a user of ours on another host (r->mailhost) */
};

struct route_opts {
	struct store *store;       /* for quota usage; NULL skips quota */
	int64_t default_quota;
	int64_t default_msg_quota;
	uint64_t size;             /* declared SIZE, 0 if unknown */
	const char *postmaster;    /* the server's postmaster address */
	char delimiter;            /* recipient delimiter, 0 for none */
	const char *hostname;      /* this host, against users' mailHost */
	const char *sender;        /* MAIL FROM ("" <>), for list policies;
				      NULL: unknown */
};

struct route_result {
	enum route_action action;
	int code;
	char enh[8];
	char text[160];
	const char *reason;            /* short token for logs */
	char domain[TBL_DOMAIN_MAX];   /* canonical domain */
	char login[TBL_ADDR_MAX];      /* user key */
	char mailbox[TBL_PATH_MAX];
	char list[TBL_ADDR_MAX];       /* ROUTE_LIST: the list's key */
	char mailhost[TBL_DOMAIN_MAX]; /* ROUTE_REMOTE: the user's host */
	int64_t list_maxsize;          /* route_expand: the smallest
					  mgrpMsgMaxSize met, -1 none */
	int64_t quota, msgquota;
	uint64_t used_bytes, used_msgs;
};

/* Receives each step for `vdctl route` (may be NULL). */
typedef void route_trace_fn(void *arg, const char *step, const char *detail);

/*
 * Decides for addr (local@domain, or "postmaster"); r is always filled.
 * Returns r->action.
 */
enum route_action route_rcpt(struct tbl_set *t, const char *addr, size_t len,
			     const struct route_opts *o,
			     struct route_result *r, route_trace_fn *trace,
			     void *arg);

/*
 * route_expand: from one recipient address to the recipients of the
 * queue file (spool_env.h's kinds), deciding the RCPT's answer on the way.
 *   a user of ours: its mailDeliveryOption values in parallel (none set:
 *     mailbox): mailbox/native -> L its mailbox (H when hold is set too:
 *     held until released); hold alone -> H; forward -> each
 *     mailForwardingAddress expanded in turn (a forwarding loop is cut:
 *     every user is expanded once); autoreply -> A its login; program ->
 *     P each program name; file -> M its path; shared -> L the shared
 *     folder "=shared/DOMAIN/FOLDER";
 *   a user on another host, an address outside our domains below the top
 *     (a list member, a forwarding address), or at the top with
 *     ROUTE_X_RELAY (an authenticated or local sender) -> X;
 *   a list: its members, each expanded the same way, nested lists too
 *     (a list met again is a loop and is cut; at most 8 deep);
 *     mgrpErrorsTo becomes the members' errors-to; a sender outside
 *     mgrpAllowedBroadcaster and mgrpAllowedDomain (when either is set)
 *     is refused 550 5.7.1, or its message goes to the moderators when
 *     mgrpMsgRejectAction is toModerator; a declared SIZE above
 *     mgrpMsgMaxSize is refused 552 5.3.4 (r->list_maxsize has the limit
 *     for the end of DATA).
 * Below the top, a refused address is skipped (one stale member or
 * forward must not refuse the rest); one that cannot be decided now makes
 * the answer 451 4.4.0. Nothing deliverable at all: 550 5.1.1. add() runs
 * for each recipient (deduplicated) only when the answer is 250; a
 * non-zero return makes it 451 4.3.0. Returns r->action: ROUTE_DELIVER
 * (250), ROUTE_TEMPFAIL or ROUTE_REJECT.
 */
enum { ROUTE_X_RELAY = 1 };
typedef int route_rcpt_fn(void *arg, const char *addr, char kind,
			  const char *value, const char *errorsto);
enum route_action route_expand(struct tbl_set *t, const struct route_opts *o,
			       const char *addr, unsigned flags,
			       struct route_result *r, route_rcpt_fn *add,
			       void *arg, route_trace_fn *trace, void *targ);

#endif
