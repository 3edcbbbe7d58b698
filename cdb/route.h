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
 *   user's mailHost is another host -> 451 4.4.0 (relaying to it comes
 *       with outbound delivery; the sender retries, nothing is lost)
 *   quota (bytes or messages, with the declared SIZE) -> 452 4.2.2
 *   otherwise               -> 250 2.1.5, deliver to the user's mailbox
 * A list address (addresses list=) checks inetMailGroupStatus (inactive
 * 450 4.2.1, disabled 550 5.2.1, deleted 550 5.1.1) and answers
 * ROUTE_LIST: the caller expands the members (route_list_members).
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
};

struct route_opts {
	struct store *store;       /* for quota usage; NULL skips quota */
	int64_t default_quota;
	int64_t default_msg_quota;
	uint64_t size;             /* declared SIZE, 0 if unknown */
	const char *postmaster;    /* the server's postmaster address */
	char delimiter;            /* recipient delimiter, 0 for none */
	const char *hostname;      /* this host, against users' mailHost */
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
 * Expands the list that route_rcpt answered ROUTE_LIST for (r->list), one
 * level deep. Every member is routed like a recipient of its own: a local
 * mailbox is passed to add(); a rejected member (no such user, disabled)
 * is skipped, since one stale member must not bounce the list; a member
 * that cannot be delivered yet (another host, outside our domains, a
 * nested list, a temporary failure) makes the answer 451 4.4.0, so nothing
 * is lost until delivery can reach it. No deliverable member: 550 5.1.1.
 * add() is called only when the answer is 250; a non-zero return from it
 * makes the answer 451 4.3.0. r is rewritten with the answer; returns
 * r->action (ROUTE_DELIVER when the members were added).
 */
typedef int route_add_fn(void *arg, const char *member, const char *mailbox);
enum route_action route_expand_list(struct tbl_set *t,
				    const struct route_opts *o,
				    struct route_result *r, route_add_fn *add,
				    void *arg, route_trace_fn *trace,
				    void *targ);

#endif
