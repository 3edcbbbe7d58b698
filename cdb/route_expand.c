/*
 * route_expand: from one RCPT to the recipients of the queue file (the
 * contract is in route.h). The expansion is decided whole before add()
 * sees any of it, so a refused RCPT leaves nothing behind.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cdb/route.h"
#include "core/util.h"

#define EXPAND_DEPTH 8     /* lists in lists, forwards of forwards */
#define EXPAND_SEEN 1024   /* lists and forwarding users visited */
#define EXPAND_MAX 10000   /* recipients one RCPT may become */

struct item {
	char addr[TBL_ADDR_MAX];
	char kind;
	char value[TBL_PATH_MAX];
	char errorsto[TBL_ADDR_MAX];
};

struct exp {
	struct tbl_set *t;
	const struct route_opts *o;
	unsigned flags;
	route_trace_fn *trace;
	void *targ;
	struct item *items;
	size_t n, cap;
	char (*seen)[TBL_ADDR_MAX]; /* list keys and forwarding users' logins */
	unsigned nseen, seencap;
	const char *blocked; /* a part that cannot be delivered now */
	bool oom;
	int64_t maxsize;     /* the smallest mgrpMsgMaxSize met, -1 none */
};

static void
trace(struct exp *e, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
trace(struct exp *e, const char *step, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	if (e->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	e->trace(e->targ, step, detail);
}

static void
push(struct exp *e, const char *addr, char kind, const char *value,
     const char *errorsto)
{
	for (size_t i = 0; i < e->n; i++) {
		const struct item *it = &e->items[i];
		if (it->kind == kind && strcmp(it->addr, addr) == 0 &&
		    strcmp(it->value, value) == 0)
			return; /* one delivery, whichever way it was reached */
	}
	if (e->n == EXPAND_MAX) {
		e->blocked = e->blocked ? e->blocked : "too_many_recipients";
		return;
	}
	if (e->n == e->cap) {
		size_t ncap = e->cap ? e->cap * 2 : 8;
		void *p = realloc(e->items, ncap * sizeof(*e->items));
		if (p == NULL) {
			e->oom = true;
			return;
		}
		e->items = p;
		e->cap = ncap;
	}
	struct item *it = &e->items[e->n++];
	util_strlcpy(it->addr, addr, sizeof(it->addr));
	it->kind = kind;
	util_strlcpy(it->value, value, sizeof(it->value));
	util_strlcpy(it->errorsto, errorsto ? errorsto : "",
		     sizeof(it->errorsto));
}

/* Marks key visited; false when it was already (a loop). */
static bool
visit(struct exp *e, const char *key)
{
	for (unsigned i = 0; i < e->nseen; i++)
		if (strcmp(e->seen[i], key) == 0)
			return false;
	if (e->nseen == e->seencap) {
		unsigned ncap = e->seencap ? e->seencap * 2 : 16;
		void *p = ncap <= EXPAND_SEEN
				  ? realloc(e->seen, ncap * sizeof(*e->seen))
				  : NULL;
		if (p == NULL) {
			/* that many lists: the rest cannot be decided now */
			e->blocked = e->blocked ? e->blocked : "too_many_lists";
			return false;
		}
		e->seen = p;
		e->seencap = ncap;
	}
	util_strlcpy(e->seen[e->nseen++], key, TBL_ADDR_MAX);
	return true;
}

static void addr_into(struct exp *e, const char *addr, unsigned depth,
		      const char *errorsto, struct route_result *r);

/* Each line of a '\n'-separated field. */
static void
each_line(const char *lines, void (*fn)(struct exp *, const char *, void *),
	  struct exp *e, void *arg)
{
	char one[TBL_ADDR_MAX];

	while (*lines != '\0') {
		size_t n = strcspn(lines, "\n");
		if (n > 0 && util_copy(one, sizeof(one), lines, n) == 0)
			fn(e, one, arg);
		lines += n + (lines[n] == '\n');
	}
}

struct fwd {
	unsigned depth;
	const char *errorsto;
};

static void
forward_one(struct exp *e, const char *to, void *arg)
{
	const struct fwd *f = arg;
	struct route_result r;

	trace(e, "forward", "-> %s", to);
	addr_into(e, to, f->depth + 1, f->errorsto, &r);
}

static void
program_one(struct exp *e, const char *name, void *arg)
{
	const char *addr = arg;

	push(e, addr, 'P', name, NULL);
}

/* The shared folder's mailbox: below "=shared", out of users' reach. */
static int
shared_box(const char *domain, const char *folder, char *out, size_t len)
{
	if (util_fmt(out, len, "=shared/%s/%s", domain, folder) < 0)
		return -1;
	return tbl_rec_is_mailbox_path(out, strlen(out)) ? 0 : -1;
}

/* A user of ours: its mailDeliveryOption values, in parallel. */
static void
user_into(struct exp *e, const char *addr, const struct route_result *ur,
	  unsigned depth, const char *errorsto)
{
	struct tbl_user u;
	unsigned d;
	char box[TBL_PATH_MAX];

	if (tbl_lookup_user(e->t, ur->login, strlen(ur->login), &u) <= 0) {
		e->blocked = e->blocked ? e->blocked : "table_error";
		return;
	}
	d = u.delivery ? u.delivery : TBL_DLV_MAILBOX;
	/* A forwarding chain that comes back is a loop: expanded once. Other
	 * users met twice are made one by push()'s deduplication. */
	if ((d & TBL_DLV_FORWARD) && !visit(e, ur->login)) {
		trace(e, "user", "%s: reached again, once is enough", ur->login);
		return;
	}
	if (d & (TBL_DLV_MAILBOX | TBL_DLV_NATIVE | TBL_DLV_HOLD))
		push(e, addr, d & TBL_DLV_HOLD ? 'H' : 'L', ur->mailbox, errorsto);
	if ((d & TBL_DLV_FORWARD) && depth < EXPAND_DEPTH) {
		struct fwd f = { depth, errorsto };
		each_line(u.forward, forward_one, e, &f);
	}
	if (d & TBL_DLV_AUTOREPLY)
		push(e, addr, 'A', ur->login, errorsto);
	if (d & TBL_DLV_PROGRAM)
		each_line(u.program, program_one, e, (void *)addr);
	if ((d & TBL_DLV_FILE) && u.file[0] != '\0')
		push(e, addr, 'M', u.file, errorsto);
	if ((d & TBL_DLV_SHARED) && u.shared[0] != '\0') {
		if (shared_box(ur->domain, u.shared, box, sizeof(box)) == 0)
			push(e, addr, 'L', box, errorsto);
		else
			trace(e, "shared", "%s: not a folder name", u.shared);
	}
	if (e->trace != NULL) {
		char names[128];
		tbl_rec_delivery_names(d, names, sizeof(names));
		trace(e, "options", "%s: %s", ur->login, names);
	}
}

struct members {
	char (*v)[TBL_ADDR_MAX];
	size_t n, cap;
};

static int
member_take(void *arg, const char *val, size_t len)
{
	struct members *m = arg;

	if (m->n == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 16;
		void *p = realloc(m->v, ncap * sizeof(*m->v));
		if (p == NULL)
			return 1;
		m->v = p;
		m->cap = ncap;
	}
	if (util_copy(m->v[m->n], TBL_ADDR_MAX, val, len) == 0)
		m->n++;
	return 0;
}

/* One field of the list record, copied (the walk then ends). */
static int
list_field(struct exp *e, const char *key, enum tbl_list_field f,
	   struct members *m)
{
	struct tbl_list l;

	memset(m, 0, sizeof(*m));
	return tbl_lookup_list(e->t, key, strlen(key), &l, f, member_take, m);
}

static bool
in_field(struct exp *e, const char *key, enum tbl_list_field f,
	 const char *s, bool domain)
{
	struct members m;
	bool hit = false;

	if (list_field(e, key, f, &m) > 0)
		for (size_t i = 0; i < m.n && !hit; i++) {
			const char *at = strrchr(s, '@');
			hit = domain ? at != NULL && strcasecmp(at + 1, m.v[i]) == 0
				     : strcasecmp(s, m.v[i]) == 0;
		}
	free(m.v);
	return hit;
}

/* mgrpAllowedBroadcaster / mgrpAllowedDomain: may the sender post? */
static bool
may_post(struct exp *e, const char *key, const struct tbl_list *l)
{
	const char *s = e->o->sender;

	if (l->nbroadcasters == 0 && l->ndomains == 0)
		return true;
	if (s == NULL || s[0] == '\0')
		return false;
	return in_field(e, key, TBL_LIST_BROADCASTER, s, false) ||
	       in_field(e, key, TBL_LIST_DOMAIN, s, true);
}

static void
list_members(struct exp *e, const char *key, enum tbl_list_field f,
	     unsigned depth, const char *errorsto)
{
	struct members m;
	struct route_result r;

	if (list_field(e, key, f, &m) <= 0) {
		e->blocked = e->blocked ? e->blocked : "table_error";
	} else {
		for (size_t i = 0; i < m.n; i++)
			addr_into(e, m.v[i], depth + 1, errorsto, &r);
	}
	free(m.v);
}

/*
 * A list: its members, each expanded in turn (nested lists too; a list
 * met again is a loop and is cut). 0, or the refusal's code in r.
 */
static int
list_into(struct exp *e, const char *key, unsigned depth, const char *errorsto,
	  struct route_result *r)
{
	struct tbl_list l;

	if (tbl_lookup_list(e->t, key, strlen(key), &l, 0, NULL, NULL) <= 0) {
		e->blocked = e->blocked ? e->blocked : "table_error";
		return 0;
	}
	if (!visit(e, key)) {
		trace(e, "list", "%s: already expanded (a loop): cut", key);
		return 0;
	}
	if (l.maxsize >= 0 && (e->maxsize < 0 || l.maxsize < e->maxsize))
		e->maxsize = l.maxsize;
	if (l.maxsize >= 0 && e->o->size > (uint64_t)l.maxsize) {
		util_strlcpy(r->text, "Message too large for this list",
			     sizeof(r->text));
		return 552;
	}
	if (l.errorsto[0] != '\0')
		errorsto = l.errorsto;
	if (!may_post(e, key, &l)) {
		if (strcasecmp(l.rejectaction, "tomoderator") == 0 &&
		    l.nmoderators > 0) {
			trace(e, "list", "%s: sender may not post: to the "
			      "moderators", key);
			list_members(e, key, TBL_LIST_MODERATOR, depth, errorsto);
			return 0;
		}
		trace(e, "list", "%s: sender may not post", key);
		util_strlcpy(r->text, "Not allowed to post to this list",
			     sizeof(r->text));
		return 550;
	}
	trace(e, "list", "%s: %u members%s%s", key, l.nmembers,
	      errorsto ? ", errors to " : "", errorsto ? errorsto : "");
	list_members(e, key, TBL_LIST_MEMBER, depth, errorsto);
	return 0;
}

/*
 * addr at depth (0: the RCPT itself). Below the top a refused address is
 * skipped (one stale member must not refuse a list, one bad forward must
 * not refuse a user); r has the top's answer.
 */
static void
addr_into(struct exp *e, const char *addr, unsigned depth, const char *errorsto,
	  struct route_result *r)
{
	int code;

	route_rcpt(e->t, addr, strlen(addr), e->o, r, depth ? NULL : e->trace,
		   e->targ);
	if (depth > 0)
		trace(e, "member", "%s: %d %s (%s)", addr, r->code, r->enh,
		      r->reason);
	switch (r->action) {
	case ROUTE_DELIVER:
		user_into(e, addr, r, depth, errorsto);
		return;
	case ROUTE_REMOTE:
		push(e, addr, 'X', "", errorsto);
		return;
	case ROUTE_LIST:
		if (depth >= EXPAND_DEPTH) {
			e->blocked = e->blocked ? e->blocked : "list_too_deep";
			return;
		}
		code = list_into(e, r->list, depth, errorsto, r);
		if (code != 0 && depth == 0) {
			r->code = code;
			util_strlcpy(r->enh, code == 552 ? "5.3.4" : "5.7.1",
				     sizeof(r->enh));
			r->reason = code == 552 ? "list_too_big"
						: "list_not_allowed";
			r->action = ROUTE_REJECT;
		}
		return;
	case ROUTE_TEMPFAIL:
		if (depth > 0)
			e->blocked = e->blocked ? e->blocked : r->reason;
		return;
	case ROUTE_REJECT:
		if (strcmp(r->reason, "relay_denied") == 0 &&
		    (depth > 0 || (e->flags & ROUTE_X_RELAY)))
			push(e, addr, 'X', "", errorsto);
		return;
	}
}

static enum route_action
answer_top(struct exp *e, struct route_result *r)
{
	if (r->action == ROUTE_TEMPFAIL ||
	    (r->action == ROUTE_REJECT && e->n == 0))
		return r->action;
	if (e->oom || e->blocked != NULL) {
		r->code = 451;
		util_strlcpy(r->enh, e->oom ? "4.3.0" : "4.4.0", sizeof(r->enh));
		util_strlcpy(r->text, "Not every recipient can be reached now, "
			     "try again later", sizeof(r->text));
		r->reason = e->oom ? "no_memory" : e->blocked;
		return r->action = ROUTE_TEMPFAIL;
	}
	if (e->n == 0) {
		r->code = 550;
		util_strlcpy(r->enh, "5.1.1", sizeof(r->enh));
		util_strlcpy(r->text, "No deliverable recipient here",
			     sizeof(r->text));
		r->reason = r->action == ROUTE_LIST ? "list_empty"
						    : "nothing_to_deliver";
		return r->action = ROUTE_REJECT;
	}
	if (r->code != 250) {
		r->code = 250;
		util_strlcpy(r->enh, "2.1.5", sizeof(r->enh));
		util_strlcpy(r->text, "Ok", sizeof(r->text));
		r->reason = "ok";
	}
	return r->action = ROUTE_DELIVER;
}

enum route_action
route_expand(struct tbl_set *t, const struct route_opts *o, const char *addr,
	     unsigned flags, struct route_result *r, route_rcpt_fn *add,
	     void *arg, route_trace_fn *tr, void *targ)
{
	struct exp *e = calloc(1, sizeof(*e));
	enum route_action act;

	if (e == NULL) {
		memset(r, 0, sizeof(*r));
		r->code = 451;
		util_strlcpy(r->enh, "4.3.0", sizeof(r->enh));
		util_strlcpy(r->text, "Out of memory, try again later",
			     sizeof(r->text));
		r->reason = "no_memory";
		return r->action = ROUTE_TEMPFAIL;
	}
	*e = (struct exp){ .t = t, .o = o, .flags = flags, .trace = tr,
			   .targ = targ, .maxsize = -1 };
	addr_into(e, addr, 0, NULL, r);
	act = answer_top(e, r);
	r->list_maxsize = e->maxsize;
	for (size_t i = 0; act == ROUTE_DELIVER && i < e->n; i++) {
		const struct item *it = &e->items[i];
		if (add(arg, it->addr, it->kind, it->value,
			it->errorsto[0] ? it->errorsto : NULL) != 0) {
			r->code = 451;
			util_strlcpy(r->enh, "4.3.0", sizeof(r->enh));
			util_strlcpy(r->text, "Out of memory, try again later",
				     sizeof(r->text));
			r->reason = "no_memory";
			act = r->action = ROUTE_TEMPFAIL;
		}
	}
	free(e->items);
	free(e->seen);
	free(e);
	return act;
}
