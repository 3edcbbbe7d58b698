#include "core/dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/dns_msg.h"
#include "core/log.h"
#include "core/util.h"

#define TTL_MAX 3600u    /* seconds an answer with records is kept */
#define NEG_TTL_MAX 60u  /* seconds a negative answer is kept */
#define FAMILY_MAX (DNS_ADDR_MAX / 2)
#define BUCKETS 4096     /* cache hash chains; a power of 2 */
#define TIMEOUT_MAX 300.0
#define EDNS_SIZE 1232   /* the DNS flag day 2020 value */

enum kind { KIND_MX, KIND_ADDR };

/* One c-ares query of a lookup, and what came of it. */
struct part {
	struct dns_query *q;
	int type; /* DNS_MSG_T_MX, _A, _AAAA */
	enum dns_status st;
	const char *why;
	unsigned n;
	uint32_t ttl;
};

/* What a callback gets; the cache keeps the same. */
struct answer {
	enum dns_status st;
	const char *why;
	unsigned n;
	union {
		struct dns_mx mx[DNS_MX_MAX];
		struct dns_addr addr[DNS_ADDR_MAX]; /* A at 0, AAAA at FAMILY_MAX
						       until both are in */
	} u;
};

struct dns_query {
	struct dns *d;
	enum kind kind;
	char name[DNS_NAME_MAX];
	dns_mx_fn *mx_fn;
	dns_addr_fn *addr_fn;
	void *arg;
	bool cancelled; /* freed when c-ares is done with it */
	bool queued;    /* on the done queue */
	unsigned pending; /* parts c-ares has not answered yet */
	struct part part[2]; /* MX: one; addresses: A, then AAAA */
	uint32_t ttl;   /* how long the answer may be cached; 0: not */
	struct answer ans;
	struct dns_query *prev, *next; /* the done queue */
};

/* A cached answer; its n records follow the entry in the same block. */
struct centry {
	struct centry *hnext;         /* the bucket's chain */
	struct centry *older, *newer; /* by insertion, for eviction */
	enum kind kind;
	char name[DNS_NAME_MAX];
	ev_tstamp expires;
	enum dns_status st;
	const char *why;
	unsigned n;
};

/* A socket of c-ares's, watched for what it last asked. */
struct sock {
	struct dns *d;
	ev_io io;
	struct sock *next;
};

struct dns {
	struct ev_loop *loop;
	ares_channel channel;
	struct sock *socks;
	ev_timer tick; /* c-ares's next retransmission or timeout */
	ev_timer kick; /* answers are waiting on the done queue */
	struct dns_query *done_head, *done_tail;
	unsigned ndone;
	bool delivering; /* inside a callback: dns_free waits */
	bool dying;      /* dns_free was called from a callback */
	bool destroying; /* inside ares_destroy */
	uint64_t rng;    /* xorshift64*, for the MX shuffle */
	struct centry *bucket[BUCKETS];
	struct centry *oldest, *newest;
	unsigned ncache;
};

/* ------------------------------------------------------------------ */
/* Server lists */

/*
 * One entry of a server list: IPv4[:PORT], IPv6, or [IPv6]:PORT. c-ares
 * takes port 99999 as 34463, so we look first.
 */
static int
server_check(const char *s, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	const char *port = NULL;
	size_t iplen = len, portlen = 0;
	int family = AF_INET;
	long c = util_find(s, len, ':');
	uint64_t v;

	if (len > 0 && s[0] == '[') {
		long rb = util_find(s, len, ']');
		if (rb < 2 || (size_t)rb + 2 >= len || s[rb + 1] != ':')
			return -1;
		family = AF_INET6;
		port = s + rb + 2;
		portlen = len - (size_t)rb - 2;
		s++;
		iplen = (size_t)rb - 1;
	} else if (c >= 0 && util_find(s + c + 1, len - (size_t)c - 1, ':') < 0) {
		port = s + c + 1;
		portlen = len - (size_t)c - 1;
		iplen = (size_t)c;
	} else if (c >= 0)
		family = AF_INET6;
	if (util_copy(ip, sizeof(ip), s, iplen) < 0 ||
	    inet_pton(family, ip, bin) != 1)
		return -1;
	return port == NULL || (util_parse_u64(port, portlen, 65535, &v) == 0 &&
				v > 0) ? 0 : -1;
}

static int
servers_check(const char *list)
{
	size_t len = strlen(list);

	for (;;) {
		long comma = util_find(list, len, ',');
		size_t n = comma < 0 ? len : (size_t)comma;
		if (server_check(list, n) < 0)
			return -1;
		if (comma < 0)
			return 0;
		list += n + 1;
		len -= n + 1;
	}
}

/* ------------------------------------------------------------------ */
/* Reading answers (dns_msg for what c-ares does not read) */

static uint32_t
ttl_min(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* What c-ares gives for a message: NULL and 0 when there is none. */
static size_t
msg_len(const unsigned char *abuf, int alen)
{
	return abuf != NULL && alen > 0 ? (size_t)alen : 0;
}

/* A c-ares status as ours, with its words for the log. */
static enum dns_status
status_of(int rc, const char **why_r)
{
	static const struct {
		int rc;
		enum dns_status st;
		const char *why;
	} map[] = {
		{ ARES_ENODATA, DNS_NODATA, "no such record" },
		{ ARES_ENOTFOUND, DNS_NXDOMAIN, "no such domain" },
		{ ARES_ESERVFAIL, DNS_TEMPFAIL, "server failure" },
		{ ARES_EREFUSED, DNS_TEMPFAIL, "refused by the server" },
		{ ARES_ENOTIMP, DNS_TEMPFAIL, "not implemented by the server" },
		{ ARES_EFORMERR, DNS_TEMPFAIL, "format error" },
		{ ARES_ETIMEOUT, DNS_TEMPFAIL, "timeout" },
		/* c-ares 1.18 moves on to the next server after a SERVFAIL or
		 * REFUSED and, when none is left, says ECONNREFUSED, as for
		 * an ICMP unreachable. */
		{ ARES_ECONNREFUSED, DNS_TEMPFAIL,
		  "servers failed, refused or unreachable" },
		{ ARES_EBADRESP, DNS_TEMPFAIL, "malformed answer" },
		{ ARES_ENOMEM, DNS_TEMPFAIL, "out of memory" },
	};

	for (size_t i = 0; i < UTIL_ARRAY_LEN(map); i++)
		if (map[i].rc == rc) {
			*why_r = map[i].why;
			return map[i].st;
		}
	*why_r = ares_strerror(rc);
	return DNS_TEMPFAIL;
}

static void
part_fail(struct part *p, int rc, const unsigned char *abuf, int alen)
{
	p->n = 0;
	p->st = status_of(rc, &p->why);
	p->ttl = p->st == DNS_TEMPFAIL ? 0
		 : dns_msg_neg_ttl(abuf, msg_len(abuf, alen));
}

/* The TTL is the answer's own: cache_put caps it. */
static void
mx_parse(struct part *p, const unsigned char *abuf, int alen)
{
	struct answer *a = &p->q->ans;

	p->st = dns_msg_mx_parse(abuf, msg_len(abuf, alen), a->u.mx, &a->n,
				 &p->ttl, &p->why);
	p->n = a->n;
}

static void
part_set(struct part *p, enum dns_status st, const char *why, uint32_t ttl)
{
	p->st = st;
	p->why = why;
	p->ttl = ttl;
}

/* ------------------------------------------------------------------ */
/* Address answers */

static void
addr_put(struct dns_addr *a, int family, const void *ip)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&a->sa;
		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, ip, sizeof(s->sin_addr));
		a->len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a->sa;
		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, ip, sizeof(s->sin6_addr));
		a->len = sizeof(*s);
	}
}

/*
 * c-ares parses these: it follows the CNAME chain from the name asked,
 * and its TTLs are already the least along it.
 */
static void
addr_parse(struct part *p, const unsigned char *abuf, int alen)
{
	struct ares_addrttl t4[FAMILY_MAX];
	struct ares_addr6ttl t6[FAMILY_MAX];
	bool v4 = p->type == DNS_MSG_T_A;
	struct dns_addr *out = p->q->ans.u.addr + (v4 ? 0 : FAMILY_MAX);
	int n = FAMILY_MAX;
	int rc = v4 ? ares_parse_a_reply(abuf, alen, NULL, t4, &n)
		    : ares_parse_aaaa_reply(abuf, alen, NULL, t6, &n);

	if (rc == ARES_SUCCESS && n <= 0)
		rc = ARES_ENODATA;
	if (rc != ARES_SUCCESS) {
		part_fail(p, rc, abuf, alen);
		return;
	}
	part_set(p, DNS_OK, "ok", TTL_MAX);
	for (int i = 0; i < n && i < FAMILY_MAX; i++) {
		int ttl = v4 ? t4[i].ttl : t6[i].ttl;
		addr_put(&out[i], v4 ? AF_INET : AF_INET6,
			 v4 ? (const void *)&t4[i].ipaddr
			    : (const void *)&t6[i].ip6addr);
		p->ttl = ttl_min(p->ttl, ttl > 0 ? (uint32_t)ttl : 0);
		p->n++;
	}
}

/*
 * A and AAAA as one answer, IPv4 first. With addresses, a family that
 * failed is left out, and the answer not cached (it may be back soon).
 */
static void
addr_merge(struct dns_query *q)
{
	struct part *p4 = &q->part[0], *p6 = &q->part[1];
	struct answer *a = &q->ans;
	struct part *failed = p4->st == DNS_TEMPFAIL ? p4
			      : p6->st == DNS_TEMPFAIL ? p6 : NULL;

	memmove(a->u.addr + p4->n, a->u.addr + FAMILY_MAX,
		p6->n * sizeof(a->u.addr[0]));
	a->n = p4->n + p6->n;
	q->ttl = ttl_min(p4->ttl, p6->ttl);
	if (a->n > 0) {
		a->st = DNS_OK;
		a->why = "ok";
		q->ttl = failed != NULL ? 0
			 : ttl_min(p4->n > 0 ? p4->ttl : TTL_MAX,
				   p6->n > 0 ? p6->ttl : TTL_MAX);
	} else if (failed != NULL) {
		a->st = DNS_TEMPFAIL;
		a->why = failed->why;
	} else if (p4->st == DNS_NXDOMAIN || p6->st == DNS_NXDOMAIN) {
		a->st = DNS_NXDOMAIN;
		a->why = "no such domain";
	} else {
		a->st = DNS_NODATA;
		a->why = "no address record";
	}
}

/* ------------------------------------------------------------------ */
/* The cache: a hash of chains, and a list by age for eviction */

static unsigned
bucket_of(enum kind kind, const char *name)
{
	uint32_t h = 2166136261u ^ (uint32_t)kind; /* FNV-1a */

	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h & (BUCKETS - 1);
}

static struct centry **
cache_slot(struct dns *d, enum kind kind, const char *name)
{
	struct centry **pp = &d->bucket[bucket_of(kind, name)];

	while (*pp != NULL &&
	       ((*pp)->kind != kind || strcmp((*pp)->name, name) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

static void
cache_drop(struct dns *d, struct centry **pp)
{
	struct centry *e = *pp;

	*pp = e->hnext;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		d->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		d->newest = e->older;
	d->ncache--;
	free(e);
}

static void
cache_drop_oldest(struct dns *d)
{
	cache_drop(d, cache_slot(d, d->oldest->kind, d->oldest->name));
}

static size_t
rr_size(enum kind kind)
{
	return kind == KIND_MX ? sizeof(struct dns_mx) : sizeof(struct dns_addr);
}

static void
cache_put(struct dns *d, const struct dns_query *q)
{
	const struct answer *a = &q->ans;
	bool positive = a->st == DNS_OK || a->st == DNS_NULLMX;
	uint32_t ttl = ttl_min(q->ttl, positive ? TTL_MAX : NEG_TTL_MAX);
	struct centry **pp, *e;

	if (a->st == DNS_TEMPFAIL || ttl == 0)
		return;
	if (*(pp = cache_slot(d, q->kind, q->name)) != NULL)
		cache_drop(d, pp);
	if (d->ncache >= DNS_CACHE_MAX)
		cache_drop_oldest(d);
	/* The records go right after the entry: its size keeps them aligned. */
	if ((e = malloc(sizeof(*e) + a->n * rr_size(q->kind))) == NULL)
		return;
	e->kind = q->kind;
	memcpy(e->name, q->name, sizeof(e->name));
	e->expires = ev_now(d->loop) + ttl;
	e->st = a->st;
	e->why = a->why;
	e->n = a->n;
	memcpy(e + 1, &a->u, a->n * rr_size(q->kind));
	pp = &d->bucket[bucket_of(e->kind, e->name)];
	e->hnext = *pp;
	*pp = e;
	e->older = d->newest;
	e->newer = NULL;
	*(d->newest != NULL ? &d->newest->newer : &d->oldest) = e;
	d->newest = e;
	d->ncache++;
}

/* Fills q from the cache: 1, or 0 when nothing fresh is there. */
static int
cache_fill(struct dns_query *q)
{
	struct dns *d = q->d;
	struct centry **pp = cache_slot(d, q->kind, q->name), *e = *pp;

	if (e == NULL)
		return 0;
	if (e->expires <= ev_now(d->loop)) {
		cache_drop(d, pp);
		return 0;
	}
	q->ans.st = e->st;
	q->ans.why = e->why;
	q->ans.n = e->n;
	memcpy(&q->ans.u, e + 1, e->n * rr_size(q->kind));
	return 1;
}

/* ------------------------------------------------------------------ */
/* Answers go out from the loop, never from inside dns_mx or c-ares */

static void
enqueue(struct dns_query *q)
{
	struct dns *d = q->d;

	q->queued = true;
	q->next = NULL;
	q->prev = d->done_tail;
	*(d->done_tail != NULL ? &d->done_tail->next : &d->done_head) = q;
	d->done_tail = q;
	d->ndone++;
	ev_timer_start(d->loop, &d->kick);
}

static void
unqueue(struct dns_query *q)
{
	struct dns *d = q->d;

	*(q->prev != NULL ? &q->prev->next : &d->done_head) = q->next;
	*(q->next != NULL ? &q->next->prev : &d->done_tail) = q->prev;
	q->queued = false;
	d->ndone--;
}

static uint64_t
rng_next(struct dns *d)
{
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return d->rng * 0x2545F4914F6CDD1DULL;
}

/* RFC 5321 5.1: hosts of equal preference are tried in random order. */
static void
mx_shuffle(struct dns *d, struct dns_mx *mx, unsigned n)
{
	for (unsigned i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && mx[j].pref == mx[i].pref; j++)
			;
		for (unsigned k = j - 1; k > i; k--) {
			unsigned r = i + (unsigned)(rng_next(d) % (k - i + 1));
			struct dns_mx t = mx[k];
			mx[k] = mx[r];
			mx[r] = t;
		}
	}
}

static void
deliver(struct dns_query *q)
{
	struct answer *a = &q->ans;

	if (q->kind == KIND_MX) {
		mx_shuffle(q->d, a->u.mx, a->n);
		q->mx_fn(q->arg, a->st, a->n ? a->u.mx : NULL, a->n, a->why);
	} else
		q->addr_fn(q->arg, a->st, a->n ? a->u.addr : NULL, a->n,
			   a->why);
}

static void destroy(struct dns *d);

static void
kick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct dns *d = t->data;
	/* Only those queued before: a callback that asks again for a cached
	 * name is answered on the next turn, not in a loop here. */
	unsigned n = d->ndone;

	(void)loop;
	(void)revents;
	d->delivering = true;
	while (n-- > 0 && d->done_head != NULL && !d->dying) {
		struct dns_query *q = d->done_head;
		unqueue(q);
		deliver(q);
		free(q);
	}
	d->delivering = false;
	if (d->dying)
		destroy(d);
}

/* Done with c-ares: into the cache, then to the callback. */
static void
finish(struct dns_query *q)
{
	if (q->kind == KIND_ADDR)
		addr_merge(q);
	else {
		q->ans.st = q->part[0].st;
		q->ans.why = q->part[0].why;
		q->ttl = q->part[0].ttl;
	}
	if (q->ans.st == DNS_NODATA)
		q->ans.why = q->kind == KIND_MX ? "no MX record"
						: "no address record";
	cache_put(q->d, q);
	if (q->cancelled)
		free(q);
	else
		enqueue(q);
}

/* ares_query's callback: abuf is the raw answer, when there is one. */
static void
answer_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct part *p = arg;
	struct dns_query *q = p->q;

	(void)timeouts;
	if (q->d->destroying) { /* ARES_EDESTRUCTION, from dns_free */
		if (--q->pending == 0)
			free(q);
		return;
	}
	if (status != ARES_SUCCESS)
		part_fail(p, status, abuf, alen);
	else if (p->type == DNS_MSG_T_MX)
		mx_parse(p, abuf, alen);
	else
		addr_parse(p, abuf, alen);
	if (--q->pending == 0)
		finish(q);
}

/* ------------------------------------------------------------------ */
/* c-ares on the loop */

/* The tick follows c-ares's next timeout; none when nothing is pending. */
static void
rearm(struct dns *d)
{
	struct timeval tv, *t = ares_timeout(d->channel, NULL, &tv);

	ev_timer_stop(d->loop, &d->tick);
	if (t == NULL)
		return;
	ev_timer_set(&d->tick, (double)t->tv_sec + (double)t->tv_usec / 1e6,
		     0);
	ev_timer_start(d->loop, &d->tick);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct dns *d = t->data;

	(void)loop;
	(void)revents;
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(d);
}

static void
sock_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sock *s = w->data;
	struct dns *d = s->d;
	int fd = w->fd;

	(void)loop;
	/* This may close fd and free s (sock_state_cb). */
	ares_process_fd(d->channel, revents & EV_READ ? fd : ARES_SOCKET_BAD,
			revents & EV_WRITE ? fd : ARES_SOCKET_BAD);
	rearm(d);
}

static struct sock **
sock_slot(struct dns *d, int fd)
{
	struct sock **pp = &d->socks;

	while (*pp != NULL && (*pp)->io.fd != fd)
		pp = &(*pp)->next;
	return pp;
}

/*
 * ARES_OPT_SOCK_STATE_CB: what fd waits for now; neither when c-ares is
 * about to close it.
 */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct sock **pp = sock_slot(d, fd), *s = *pp;
	int ev = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	if (s != NULL) {
		ev_io_stop(d->loop, &s->io);
		if (ev == 0) {
			*pp = s->next;
			free(s);
			return;
		}
	} else if (ev == 0)
		return;
	else if ((s = calloc(1, sizeof(*s))) == NULL) {
		/* Its queries end by the tick, as timeouts. */
		log_warnx("dns: out of memory for a socket watcher");
		return;
	} else {
		s->d = d;
		s->next = d->socks;
		d->socks = s;
	}
	ev_io_init(&s->io, sock_cb, fd, ev);
	s->io.data = s;
	ev_io_start(d->loop, &s->io);
}

/* ------------------------------------------------------------------ */
/* The API */

static void
seed(struct dns *d)
{
	if (getrandom(&d->rng, sizeof(d->rng), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(d->rng))
		d->rng = (uint64_t)(ev_time() * 1e6) ^ (uint64_t)getpid();
	d->rng |= 1; /* xorshift stays at 0 */
}

struct dns *
dns_new(struct ev_loop *loop, const char *servers, double timeout,
	unsigned tries, char *err, size_t errlen)
{
	struct ares_options o;
	struct dns *d;
	int rc;

	if (servers[0] != '\0' && servers_check(servers) < 0) {
		util_fmt(err, errlen, "dns: bad server list \"%s\"", servers);
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		util_fmt(err, errlen, "dns: out of memory");
		return NULL;
	}
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		util_fmt(err, errlen, "dns: c-ares: %s", ares_strerror(rc));
		free(d);
		return NULL;
	}
	d->loop = loop;
	memset(&o, 0, sizeof(o));
	timeout = timeout > 0 ? timeout : 5;
	o.timeout = (int)((timeout < TIMEOUT_MAX ? timeout : TIMEOUT_MAX) * 1000);
	o.timeout = o.timeout > 0 ? o.timeout : 1;
	o.tries = tries == 0 ? 2 : tries < 10 ? (int)tries : 10;
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = d;
	/* EDNS(0) (RFC 6891), so that a big MX answer fits one datagram;
	 * c-ares asks again without it when a server does not know it. */
	o.flags = ARES_FLAG_EDNS;
	o.ednspsz = EDNS_SIZE;
	rc = ares_init_options(&d->channel, &o,
			       ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ |
				       ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
				       ARES_OPT_SOCK_STATE_CB);
	if (rc == ARES_SUCCESS && servers[0] != '\0' &&
	    (rc = ares_set_servers_ports_csv(d->channel, servers)) != ARES_SUCCESS)
		ares_destroy(d->channel);
	if (rc != ARES_SUCCESS) {
		util_fmt(err, errlen, "dns: c-ares: %s", ares_strerror(rc));
		ares_library_cleanup();
		free(d);
		return NULL;
	}
	ev_timer_init(&d->tick, tick_cb, 0, 0);
	d->tick.data = d;
	ev_timer_init(&d->kick, kick_cb, 0, 0);
	d->kick.data = d;
	seed(d);
	return d;
}

static void
destroy(struct dns *d)
{
	struct dns_query *q;

	/* Every pending query is answered ARES_EDESTRUCTION (answer_cb frees
	 * it) and every socket closed (sock_state_cb frees its watcher). */
	d->destroying = true;
	ares_destroy(d->channel);
	while (d->socks != NULL)
		sock_state_cb(d, d->socks->io.fd, 0, 0);
	while ((q = d->done_head) != NULL) {
		unqueue(q);
		free(q);
	}
	ev_timer_stop(d->loop, &d->tick);
	ev_timer_stop(d->loop, &d->kick);
	while (d->oldest != NULL)
		cache_drop_oldest(d);
	ares_library_cleanup();
	free(d);
}

void
dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	if (d->delivering)
		d->dying = true; /* kick_cb finishes it when the callback returns */
	else
		destroy(d);
}

static struct dns_query *
query_new(struct dns *d, enum kind kind, void *arg)
{
	struct dns_query *q = calloc(1, sizeof(*q));

	if (q != NULL) {
		q->d = d;
		q->kind = kind;
		q->arg = arg;
	}
	return q;
}

static void
answer_now(struct dns_query *q, enum dns_status st, const char *why)
{
	q->ans.st = st;
	q->ans.why = why;
	enqueue(q);
}

static void
ask(struct dns_query *q)
{
	unsigned n = q->kind == KIND_MX ? 1 : 2;

	q->part[0].type = q->kind == KIND_MX ? DNS_MSG_T_MX : DNS_MSG_T_A;
	q->part[1].type = DNS_MSG_T_AAAA;
	/* Counted before the first: c-ares may answer inside ares_query. */
	q->pending = n;
	for (unsigned i = 0; i < n; i++) {
		q->part[i].q = q;
		ares_query(q->d->channel, q->name, DNS_MSG_C_IN,
			   q->part[i].type, answer_cb, &q->part[i]);
	}
	rearm(q->d);
}

/* Answers from what is known (a bad name, the cache), or asks c-ares. */
static struct dns_query *
start(struct dns_query *q, const char *name, const char *bad)
{
	if (dns_msg_name_norm(name, q->name) < 0)
		answer_now(q, DNS_NXDOMAIN, bad);
	else if (cache_fill(q))
		enqueue(q);
	else
		ask(q);
	return q;
}

struct dns_query *
dns_mx(struct dns *d, const char *domain, dns_mx_fn *fn, void *arg)
{
	struct dns_query *q = query_new(d, KIND_MX, arg);

	if (q == NULL)
		return NULL;
	q->mx_fn = fn;
	return start(q, domain, "bad domain name");
}

/* An IP literal is its own answer. 1, or 0 when host is none. */
static int
literal(struct dns_query *q, const char *host)
{
	unsigned char ip[16];
	int family = AF_INET;

	if (inet_pton(AF_INET, host, ip) != 1) {
		family = AF_INET6;
		if (inet_pton(AF_INET6, host, ip) != 1)
			return 0;
	}
	addr_put(&q->ans.u.addr[0], family, ip);
	q->ans.n = 1;
	answer_now(q, DNS_OK, "ok");
	return 1;
}

struct dns_query *
dns_addr(struct dns *d, const char *host, dns_addr_fn *fn, void *arg)
{
	struct dns_query *q = query_new(d, KIND_ADDR, arg);

	if (q == NULL)
		return NULL;
	q->addr_fn = fn;
	return literal(q, host) ? q : start(q, host, "bad host name");
}

void
dns_cancel(struct dns_query *q)
{
	if (q == NULL)
		return;
	if (q->queued) {
		unqueue(q);
		free(q);
	} else /* c-ares still has it, or its callback is running */
		q->cancelled = true;
}
