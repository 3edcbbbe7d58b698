/*
 * dns: the resolver on a real loop, through real c-ares, against a tiny
 * DNS server of our own: UDP and TCP sockets on one port of 127.0.0.1, in
 * the same loop, answering from a table of canned answers, some of them
 * hostile. It counts the queries it gets, so a test can tell a cached
 * answer from a fresh one. Every wait is bounded: a lookup that never
 * answers fails its test instead of hanging the runner. The last tests
 * feed the same canned answers to dns_msg directly, cut and mutated.
 */
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/dns.h"
#include "core/dns_msg.h"
#include "tests/unit/t.h"

enum { RR_A = 1, RR_CNAME = 5, RR_SOA = 6, RR_MX = 15, RR_AAAA = 28 };

/* ------------------------------------------------------------------ */
/* The server: its zone */

struct pkt {
	unsigned char b[8192];
	size_t len;
};

enum mode {
	ANSWER, /* header, question, records */
	DROP,   /* no answer at all */
	CUT,    /* the answer without its last 7 bytes */
	SHORT,  /* 5 bytes: less than a header */
	EMPTY,  /* a UDP datagram of 0 bytes */
	RAW,    /* answer records written by raw() */
};

struct rec {
	unsigned type, ttl, pref;
	const char *data;  /* MX or CNAME target, A or AAAA address */
	const char *owner; /* NULL: the question's name */
};

struct zone {
	const char *qname;
	unsigned qtype, rcode;
	enum mode mode;
	struct {
		bool on;
		unsigned ttl, min;
	} soa; /* in the authority section */
	unsigned (*raw)(struct pkt *p); /* returns the answer count */
	struct rec rec[6];
};

#define MX(p_, h_) { .type = RR_MX, .ttl = 300, .pref = (p_), .data = (h_) }
#define A(ip_) { .type = RR_A, .ttl = 300, .data = (ip_) }
#define AAAA(ip_) { .type = RR_AAAA, .ttl = 300, .data = (ip_) }
#define SOA { true, 30, 30 }

static void
put(struct pkt *p, const void *d, size_t n)
{
	T_ASSERT(p->len + n <= sizeof(p->b));
	memcpy(p->b + p->len, d, n);
	p->len += n;
}

static void
put16(struct pkt *p, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(p, b, 2);
}

static void
put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

static void
patch16(struct pkt *p, size_t at, unsigned v)
{
	p->b[at] = (unsigned char)(v >> 8);
	p->b[at + 1] = (unsigned char)v;
}

/* Labels split at '.', bytes as they are; "" and "." are the root. */
static void
put_name(struct pkt *p, const char *name)
{
	if (strcmp(name, ".") == 0)
		name++;
	while (*name != '\0') {
		size_t n = strcspn(name, ".");
		unsigned char len = (unsigned char)n;
		put(p, &len, 1);
		put(p, name, n);
		name += n + (name[n] == '.');
	}
	put(p, "", 1);
}

/* Type, class IN, TTL; returns where RDLENGTH goes. */
static size_t
rr_head(struct pkt *p, const char *owner, unsigned type, unsigned ttl)
{
	if (owner == NULL)
		put16(p, 0xC00C); /* a pointer to the question's name */
	else
		put_name(p, owner);
	put16(p, type);
	put16(p, 1);
	put32(p, ttl);
	put16(p, 0);
	return p->len - 2;
}

static void
rr_put(struct pkt *p, const struct rec *r)
{
	size_t at = rr_head(p, r->owner, r->type, r->ttl);
	unsigned char ip[16];

	if (r->type == RR_MX) {
		put16(p, r->pref);
		put_name(p, r->data);
	} else if (r->type == RR_CNAME)
		put_name(p, r->data);
	else if (r->type == RR_A && inet_pton(AF_INET, r->data, ip) == 1)
		put(p, ip, 4);
	else if (inet_pton(AF_INET6, r->data, ip) == 1)
		put(p, ip, 16);
	patch16(p, at, (unsigned)(p->len - at - 2));
}

static void
soa_put(struct pkt *p, unsigned ttl, unsigned min)
{
	size_t at = rr_head(p, NULL, RR_SOA, ttl);

	put_name(p, "ns.test");
	put_name(p, "hostmaster.test");
	put32(p, 1);
	put32(p, 3600);
	put32(p, 600);
	put32(p, 86400);
	put32(p, min);
	patch16(p, at, (unsigned)(p->len - at - 2));
}

/* An MX whose host is a compression pointer to itself. */
static unsigned
raw_loop(struct pkt *p)
{
	size_t at = rr_head(p, NULL, RR_MX, 300);

	put16(p, 10);
	put16(p, 0xC000 | (unsigned)p->len);
	patch16(p, at, 4);
	return 1;
}

/* An MX whose host points past the end of the packet. */
static unsigned
raw_far(struct pkt *p)
{
	size_t at = rr_head(p, NULL, RR_MX, 300);

	put16(p, 10);
	put16(p, 0xFFFF);
	patch16(p, at, 4);
	return 1;
}

/* One record, and a header that promises 65535. */
static unsigned
raw_count(struct pkt *p)
{
	struct rec r = MX(10, "mx.count.test");

	rr_put(p, &r);
	return 65535;
}

/* An owner name with a label of type 01 (RFC 6891 obsoletes them). */
static unsigned
raw_label(struct pkt *p)
{
	put(p, "\x41x\x00", 3);
	put16(p, RR_MX);
	put16(p, 1);
	put32(p, 300);
	put16(p, 4);
	put(p, "\x00\x0a\x01y", 4);
	return 1;
}

/* An MX whose RDLENGTH ends inside its host name. */
static unsigned
raw_overrun(struct pkt *p)
{
	size_t at = rr_head(p, NULL, RR_MX, 300);

	put16(p, 10);
	put_name(p, "mx.overrun.test");
	patch16(p, at, 6);
	put_name(p, "test"); /* what the rest of the name is taken for */
	put16(p, RR_A);
	put16(p, 1);
	return 1;
}

/* n MX records of domain, preferences 200 down to 201 - n. */
static unsigned
mx_many(struct pkt *p, const char *domain, unsigned n)
{
	char host[64];

	for (unsigned i = 0; i < n; i++) {
		snprintf(host, sizeof(host), "mx%u.%s", i, domain);
		struct rec r = MX(200 - i, host);
		rr_put(p, &r);
	}
	return n;
}

/* 40 records: about 1200 bytes, within EDNS's 1232. */
static unsigned
raw_many(struct pkt *p)
{
	return mx_many(p, "many.test", 40);
}

/* 100 records: too big for UDP; c-ares asks again over TCP. */
static unsigned
raw_huge(struct pkt *p)
{
	return mx_many(p, "huge.test", 100);
}

/* 200 records, over TCP: only the first 128 are read. */
static unsigned
raw_vast(struct pkt *p)
{
	return mx_many(p, "vast.test", 200);
}

static const struct zone zones[] = {
	{ "sorted.test", RR_MX, .rec = { MX(20, "mx20.sorted.test"),
					 MX(10, "MX10.Sorted.TEST."),
					 MX(30, "mx30.sorted.test") } },
	{ "equal.test", RR_MX, .rec = { MX(10, "a.equal.test"),
					MX(20, "z.equal.test"),
					MX(10, "b.equal.test"),
					MX(10, "c.equal.test") } },
	{ "null.test", RR_MX, .rec = { MX(0, ".") } },
	{ "nullmix.test", RR_MX, .rec = { MX(0, "."),
					  MX(10, "mx.nullmix.test") } },
	{ "nodata.test", RR_MX, .soa = SOA },
	{ "servfail.test", RR_MX, .rcode = 2 },
	{ "refused.test", RR_MX, .rcode = 5 },
	{ "drop.test", RR_MX, .mode = DROP },
	{ "cut.test", RR_MX, .mode = CUT, .rec = { MX(10, "a.cut.test"),
						   MX(20, "b.cut.test") } },
	{ "short.test", RR_MX, .mode = SHORT },
	{ "empty.test", RR_MX, .mode = EMPTY },
	{ "badname.test", RR_MX, .rec = { MX(10, "bad_host.badname.test"),
					  MX(20, "sp ace.badname.test"),
					  MX(30, "-lead.badname.test"),
					  MX(40, "Good.Badname.Test"),
					  MX(5, "trail-.badname.test"),
					  MX(6, "a.b\\.c.badname.test") } },
	{ "allbad.test", RR_MX, .rec = { MX(10, "x_y.allbad.test") } },
	{ "ttl0.test", RR_MX, .rec = { { RR_MX, 0, 10, "mx.ttl0.test" } } },
	{ "ttl1.test", RR_MX, .rec = { { RR_MX, 1, 10, "mx.ttl1.test" } } },
	{ "nosoa.test", RR_MX, .rcode = 3 },
	{ "negmin0.test", RR_MX, .rcode = 3, .soa = { true, 30, 0 } },
	{ "loop.test", RR_MX, .mode = RAW, .raw = raw_loop },
	{ "far.test", RR_MX, .mode = RAW, .raw = raw_far },
	{ "count.test", RR_MX, .mode = RAW, .raw = raw_count },
	{ "label.test", RR_MX, .mode = RAW, .raw = raw_label },
	{ "overrun.test", RR_MX, .mode = RAW, .raw = raw_overrun },
	{ "many.test", RR_MX, .mode = RAW, .raw = raw_many },
	{ "huge.test", RR_MX, .mode = RAW, .raw = raw_huge },
	{ "vast.test", RR_MX, .mode = RAW, .raw = raw_vast },
	{ "cnamemx.test", RR_MX, .rec = { { RR_CNAME, 300, 0, "mail.test" },
					  { RR_MX, 300, 10, "mx.mail.test",
					    "mail.test" } } },
	{ "cnameonly.test", RR_MX, .soa = SOA,
	  .rec = { { RR_CNAME, 300, 0, "elsewhere.test" } } },
	{ "cutnx.test", RR_MX, .rcode = 3, .mode = CUT, .soa = SOA },
	{ "host.test", RR_A, .rec = { A("192.0.2.1"), A("192.0.2.2") } },
	{ "host.test", RR_AAAA, .rec = { AAAA("2001:db8::1") } },
	{ "v4only.test", RR_A, .rec = { A("192.0.2.4") } },
	{ "v4only.test", RR_AAAA, .soa = SOA },
	{ "v6fail.test", RR_A, .rec = { A("192.0.2.6") } },
	{ "v6fail.test", RR_AAAA, .rcode = 2 },
	{ "noaddr.test", RR_A, .soa = SOA },
	{ "noaddr.test", RR_AAAA, .soa = SOA },
	{ "alias.test", RR_A, .rec = { { RR_CNAME, 300, 0, "real.test" },
				       { RR_A, 300, 0, "192.0.2.9",
					 "real.test" } } },
	{ "alias.test", RR_AAAA, .soa = SOA,
	  .rec = { { RR_CNAME, 300, 0, "real.test" } } },
	{ "cutaddr.test", RR_A, .mode = CUT, .rec = { A("192.0.2.7") } },
	{ "cutaddr.test", RR_AAAA, .mode = CUT, .rec = { AAAA("2001:db8::7") } },
};

static const struct zone *
zone_find(const char *name, unsigned qtype)
{
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (zones[i].qtype == qtype && strcmp(zones[i].qname, name) == 0)
			return &zones[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The server: the socket */

/*
 * UDP and TCP on one port, as a name server listens. A UDP answer too big
 * for the query's size (512, or EDNS's) goes out cut, with TC set (RFC
 * 1035 4.2.1, RFC 6891 7); over TCP everything fits. One TCP client at a
 * time is enough for c-ares.
 */
struct srv {
	int fd, lfd, cfd;
	ev_io io, lio, cio;
	unsigned queries, tcp_queries;
	unsigned char in[2 + 512];
	size_t inlen;
	char spec[64]; /* "127.0.0.1:PORT", for dns_new */
};

/* The question of q[0..n): its name in lower case and type; 0 or -1. */
static int
query_read(const unsigned char *q, size_t n, char *name, size_t namelen,
	   unsigned *qtype, size_t *end)
{
	size_t off = 12, o = 0;

	if (n < 12)
		return -1;
	while (off < n && q[off] != 0) {
		size_t l = q[off];
		if (l > 63 || off + 1 + l >= n || o + l + 2 > namelen)
			return -1;
		if (o > 0)
			name[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)q[off + 1 + i];
			name[o++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		}
		off += 1 + l;
	}
	if (off + 5 > n)
		return -1;
	name[o] = '\0';
	*qtype = (unsigned)q[off + 1] << 8 | q[off + 2];
	*end = off + 5;
	return 0;
}

/* The answer to q[0..qend) from z; NULL: no such name. */
static void
answer_build(struct pkt *p, const unsigned char *q, size_t qend,
	     const struct zone *z)
{
	unsigned an = 0, ns = 0;

	p->len = 0;
	put(p, q, 2);
	put16(p, 0x8180 | (z != NULL ? z->rcode : 3)); /* QR RD RA */
	put16(p, 1);
	put16(p, 0);
	put16(p, 0);
	put16(p, 0);
	put(p, q + 12, qend - 12);
	if (z != NULL && z->mode == RAW)
		an = z->raw(p);
	for (unsigned i = 0; z != NULL && i < 6 && z->rec[i].type != 0; i++) {
		rr_put(p, &z->rec[i]);
		an++;
	}
	if (z == NULL || z->soa.on) {
		soa_put(p, z != NULL ? z->soa.ttl : 30, z != NULL ? z->soa.min : 30);
		ns++;
	}
	patch16(p, 6, an);
	patch16(p, 8, ns);
}

/* The answer to the query q[0..n); 0 when there is none to send. */
static int
respond(struct srv *s, const unsigned char *q, size_t n, bool udp,
	struct pkt *p)
{
	char name[256];
	unsigned qtype;
	size_t end;

	if (query_read(q, n, name, sizeof(name), &qtype, &end) < 0)
		return 0;
	s->queries++;
	s->tcp_queries += !udp;
	const struct zone *z = zone_find(name, qtype);
	enum mode mode = z != NULL ? z->mode : ANSWER;
	if (mode == DROP)
		return 0;
	answer_build(p, q, end, z);
	size_t max = (q[10] << 8 | q[11]) > 0 ? 1232 : 512; /* an OPT RR */
	if (udp && p->len > max) {
		p->len = end;
		patch16(p, 2, (unsigned)(p->b[2] << 8 | p->b[3]) | 0x0200);
		patch16(p, 6, 0);
		patch16(p, 8, 0);
	}
	if (mode == CUT)
		p->len -= 7;
	else if (mode == SHORT)
		p->len = 5;
	else if (mode == EMPTY)
		p->len = 0;
	return 1;
}

static void
srv_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct srv *s = w->data;
	unsigned char q[512];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct pkt p;

	(void)loop;
	(void)revents;
	ssize_t n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from,
			     &fromlen);
	if (n > 0 && respond(s, q, (size_t)n, true, &p))
		sendto(s->fd, p.b, p.len, 0, (struct sockaddr *)&from, fromlen);
}

static void
tcp_close(struct ev_loop *loop, struct srv *s)
{
	if (s->cfd < 0)
		return;
	ev_io_stop(loop, &s->cio);
	close(s->cfd);
	s->cfd = -1;
	s->inlen = 0;
}

/* Queries framed by their 16-bit length (RFC 1035 4.2.2). */
static void
tcp_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct srv *s = w->data;
	struct pkt p;

	(void)revents;
	ssize_t n = read(s->cfd, s->in + s->inlen, sizeof(s->in) - s->inlen);
	if (n <= 0) {
		tcp_close(loop, s);
		return;
	}
	s->inlen += (size_t)n;
	size_t len;
	while (s->inlen >= 2 && s->inlen >= 2 + (len = (size_t)(s->in[0] << 8 |
							       s->in[1]))) {
		if (respond(s, s->in + 2, len, false, &p)) {
			unsigned char l[2] = { (unsigned char)(p.len >> 8),
					       (unsigned char)p.len };
			/* Small, on loopback, to an empty socket: no EAGAIN. */
			if (write(s->cfd, l, 2) != 2 ||
			    write(s->cfd, p.b, p.len) != (ssize_t)p.len)
				break;
		}
		memmove(s->in, s->in + 2 + len, s->inlen - 2 - len);
		s->inlen -= 2 + len;
	}
}

static void
tcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct srv *s = w->data;
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)revents;
	if (fd < 0)
		return;
	tcp_close(loop, s);
	s->cfd = fd;
	ev_io_init(&s->cio, tcp_read_cb, fd, EV_READ);
	s->cio.data = s;
	ev_io_start(loop, &s->cio);
}

/* A free UDP port of 127.0.0.1, bound to fd_r (or closed when NULL). */
static unsigned
udp_port(int *fd_r)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	T_ASSERT(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_ASSERT(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	T_ASSERT(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	if (fd_r != NULL)
		*fd_r = fd;
	else
		close(fd);
	return ntohs(sin.sin_port);
}

/* ------------------------------------------------------------------ */
/* The resolver and the answers it gives */

struct env {
	struct ev_loop *loop;
	struct srv srv;
	struct dns *d;
};

/* A TCP listener on port of 127.0.0.1, or -1 when it is taken. */
static int
tcp_listen(unsigned port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	T_ASSERT(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    listen(fd, 4) == 0)
		return fd;
	close(fd);
	return -1;
}

static void
srv_start(struct srv *s, struct ev_loop *loop)
{
	unsigned port = 0;

	s->lfd = s->cfd = -1;
	for (int i = 0; i < 20 && s->lfd < 0; i++) {
		if (i > 0)
			close(s->fd);
		port = udp_port(&s->fd);
		s->lfd = tcp_listen(port);
	}
	T_ASSERT(s->lfd >= 0);
	snprintf(s->spec, sizeof(s->spec), "127.0.0.1:%u", port);
	ev_io_init(&s->io, srv_cb, s->fd, EV_READ);
	s->io.data = s;
	ev_io_start(loop, &s->io);
	ev_io_init(&s->lio, tcp_accept_cb, s->lfd, EV_READ);
	s->lio.data = s;
	ev_io_start(loop, &s->lio);
}

static void
srv_stop(struct srv *s, struct ev_loop *loop)
{
	tcp_close(loop, s);
	ev_io_stop(loop, &s->io);
	ev_io_stop(loop, &s->lio);
	close(s->fd);
	close(s->lfd);
}

static void
env_up(struct env *e, double timeout)
{
	char err[256];

	memset(e, 0, sizeof(*e));
	e->loop = ev_loop_new(EVFLAG_AUTO);
	T_ASSERT(e->loop != NULL);
	srv_start(&e->srv, e->loop);
	e->d = dns_new(e->loop, e->srv.spec, timeout, 1, err, sizeof(err));
	if (e->d == NULL)
		t_fail(__FILE__, __LINE__, "dns_new: %s", err);
}

static void
env_down(struct env *e)
{
	dns_free(e->d);
	srv_stop(&e->srv, e->loop);
	ev_loop_destroy(e->loop);
}

struct got {
	int calls;
	enum dns_status st;
	char why[80];
	unsigned n;
	struct dns_mx mx[DNS_MX_MAX];
	struct dns_addr a[DNS_ADDR_MAX];
	char text[DNS_MX_MAX * (DNS_NAME_MAX + 8)]; /* "10 a.test, 20 b.test" */
};

static const char *
ip_text(const struct dns_addr *a, char *buf, size_t len)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;

	if (a->sa.ss_family == AF_INET && a->len == sizeof(*s4) &&
	    s4->sin_port == 0)
		return inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)len);
	if (a->sa.ss_family == AF_INET6 && a->len == sizeof(*s6) &&
	    s6->sin6_port == 0)
		return inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)len);
	return "?";
}

static void
got_begin(struct got *g, enum dns_status st, unsigned n, const char *why)
{
	g->calls++;
	g->st = st;
	g->n = n;
	snprintf(g->why, sizeof(g->why), "%s", why);
	g->text[0] = '\0';
}

static void
got_text(struct got *g, const char *s)
{
	size_t len = strlen(g->text);

	snprintf(g->text + len, sizeof(g->text) - len, "%s%s",
		 len > 0 ? ", " : "", s);
}

static void
got_mx(void *arg, enum dns_status st, const struct dns_mx *mx, unsigned n,
       const char *why)
{
	struct got *g = arg;
	char one[DNS_NAME_MAX + 16];

	got_begin(g, st, n, why);
	for (unsigned i = 0; i < n && i < DNS_MX_MAX; i++) {
		g->mx[i] = mx[i];
		snprintf(one, sizeof(one), "%u %s", mx[i].pref, mx[i].host);
		got_text(g, one);
	}
}

static void
got_addr(void *arg, enum dns_status st, const struct dns_addr *a, unsigned n,
	 const char *why)
{
	struct got *g = arg;
	char ip[64];

	got_begin(g, st, n, why);
	for (unsigned i = 0; i < n && i < DNS_ADDR_MAX; i++) {
		g->a[i] = a[i];
		got_text(g, ip_text(&a[i], ip, sizeof(ip)));
	}
}

static void
guard_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)t;
	(void)revents;
}

/*
 * Turns the loop until *calls reaches want or secs pass; with calls NULL,
 * for secs. The guard wakes it up at least every 20 ms.
 */
static void
run_until(struct env *e, const int *calls, int want, double secs)
{
	ev_timer guard;
	ev_tstamp end;

	ev_now_update(e->loop);
	end = ev_now(e->loop) + secs;
	ev_timer_init(&guard, guard_cb, 0.02, 0.02);
	ev_timer_start(e->loop, &guard);
	while ((calls == NULL || *calls < want) && ev_now(e->loop) < end)
		ev_run(e->loop, EVRUN_ONCE);
	ev_timer_stop(e->loop, &guard);
}

/* One lookup to its end; its callback must not run inside dns_mx. */
static void
mx(struct env *e, const char *domain, struct got *g)
{
	memset(g, 0, sizeof(*g));
	T_ASSERT(dns_mx(e->d, domain, got_mx, g) != NULL);
	T_EQ_INT(g->calls, 0);
	run_until(e, &g->calls, 1, 3);
	T_EQ_INT(g->calls, 1);
}

static void
addr(struct env *e, const char *host, struct got *g)
{
	memset(g, 0, sizeof(*g));
	T_ASSERT(dns_addr(e->d, host, got_addr, g) != NULL);
	T_EQ_INT(g->calls, 0);
	run_until(e, &g->calls, 1, 3);
	T_EQ_INT(g->calls, 1);
}

/* The answer was st_, with the records as text_, for the reason why_. */
#define WANT(g, st_, text_, why_)                                           \
	do {                                                                \
		T_EQ_INT((g).st, st_);                                      \
		T_EQ_STR((g).text, text_);                                  \
		T_EQ_STR((g).why, why_);                                    \
	} while (0)

#define SERVERS_FAILED "servers failed, refused or unreachable"
#define NO_VALID_HOST "no valid host name in the MX"

/* ------------------------------------------------------------------ */
/* MX */

T_TEST(dns_mx_sorted_by_preference)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "Sorted.Test.", &g);
	WANT(g, DNS_OK, "10 mx10.sorted.test, 20 mx20.sorted.test, "
			 "30 mx30.sorted.test", "ok");
	T_EQ_INT(g.n, 3);
	T_EQ_INT(e.srv.queries, 1);
	env_down(&e);
}

T_TEST(dns_mx_equal_preferences_shuffled)
{
	struct env e;
	struct got g;
	int first[3] = { 0 };

	env_up(&e, 1);
	for (int i = 0; i < 60; i++) {
		mx(&e, "equal.test", &g);
		T_EQ_INT(g.st, DNS_OK);
		T_EQ_INT(g.n, 4);
		T_EQ_STR(g.mx[3].host, "z.equal.test");
		int sum = 0;
		for (int k = 0; k < 3; k++) {
			T_EQ_INT(g.mx[k].pref, 10);
			sum += g.mx[k].host[0];
		}
		T_EQ_INT(sum, 'a' + 'b' + 'c');
		first[g.mx[0].host[0] - 'a']++;
	}
	/* Each first at least once: misses one with odds of about 1e-10. */
	T_ASSERT(first[0] > 0 && first[1] > 0 && first[2] > 0);
	T_EQ_INT(e.srv.queries, 1); /* and shuffled from the cache too */
	env_down(&e);
}

T_TEST(dns_mx_null_mx)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "null.test", &g);
	WANT(g, DNS_NULLMX, "", "null MX: the domain takes no mail");
	/* Beside another MX, "." is only a bad host, skipped. */
	mx(&e, "nullmix.test", &g);
	WANT(g, DNS_OK, "10 mx.nullmix.test", "ok");
	env_down(&e);
}

T_TEST(dns_mx_nodata_and_nxdomain)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "nodata.test", &g);
	WANT(g, DNS_NODATA, "", "no MX record");
	mx(&e, "nosuch.test", &g);
	WANT(g, DNS_NXDOMAIN, "", "no such domain");
	/* Through a CNAME: to an MX, and to a name without one. */
	mx(&e, "cnamemx.test", &g);
	WANT(g, DNS_OK, "10 mx.mail.test", "ok");
	mx(&e, "cnameonly.test", &g);
	WANT(g, DNS_NODATA, "", "no MX record");
	env_down(&e);
}

T_TEST(dns_mx_server_failure_is_tempfail)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "servfail.test", &g);
	WANT(g, DNS_TEMPFAIL, "", SERVERS_FAILED);
	mx(&e, "refused.test", &g);
	WANT(g, DNS_TEMPFAIL, "", SERVERS_FAILED);
	mx(&e, "servfail.test", &g); /* failures are never cached */
	T_EQ_INT(e.srv.queries, 3);
	env_down(&e);
}

T_TEST(dns_mx_no_answer_times_out)
{
	struct env e;
	struct got g;

	env_up(&e, 0.2);
	ev_tstamp t0 = ev_time();
	mx(&e, "drop.test", &g);
	double took = ev_time() - t0;
	WANT(g, DNS_TEMPFAIL, "", "timeout");
	T_ASSERT(took > 0.15 && took < 2);
	env_down(&e);
}

T_TEST(dns_mx_truncated_answer)
{
	struct env e;
	struct got g;

	env_up(&e, 0.2);
	mx(&e, "cut.test", &g);
	WANT(g, DNS_TEMPFAIL, "", "malformed answer");
	env_down(&e);
}

T_TEST(dns_mx_hostile_answers)
{
	static const struct {
		const char *domain, *why; /* why NULL: any */
	} cases[] = {
		{ "loop.test", NO_VALID_HOST },  { "far.test", NO_VALID_HOST },
		{ "overrun.test", NO_VALID_HOST },
		{ "count.test", "malformed answer" },
		{ "label.test", "malformed answer" },
		{ "short.test", "timeout" }, /* c-ares drops it */
		{ "empty.test", NULL },
	};
	struct env e;
	struct got g;

	env_up(&e, 0.2);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mx(&e, cases[i].domain, &g);
		if (g.st != DNS_TEMPFAIL || g.n != 0 ||
		    (cases[i].why != NULL && strcmp(g.why, cases[i].why) != 0))
			t_fail(__FILE__, __LINE__, "%s: status %d n %u (%s)",
			       cases[i].domain, g.st, g.n, g.why);
	}
	env_down(&e);
}

T_TEST(dns_mx_bad_host_names_skipped)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "badname.test", &g);
	WANT(g, DNS_OK, "40 good.badname.test", "ok");
	mx(&e, "allbad.test", &g);
	WANT(g, DNS_TEMPFAIL, "", NO_VALID_HOST);
	env_down(&e);
}

/* mx[0..16) are mx<first>.domain down to mx<first - 15>.domain. */
static void
check_most_preferred(const struct got *g, unsigned first, const char *domain)
{
	if (g->st != DNS_OK)
		t_fail(__FILE__, __LINE__, "%s: %d %s", domain, g->st, g->why);
	T_EQ_INT(g->n, DNS_MX_MAX);
	for (unsigned i = 0; i < DNS_MX_MAX; i++) {
		char want[64];
		snprintf(want, sizeof(want), "mx%u.%s", first - i, domain);
		T_EQ_INT(g->mx[i].pref, 200 - first + i);
		T_EQ_STR(g->mx[i].host, want);
	}
}

T_TEST(dns_mx_huge_answer_keeps_the_best)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "many.test", &g); /* one datagram, with EDNS */
	check_most_preferred(&g, 39, "many.test");
	T_EQ_INT(e.srv.tcp_queries, 0);
	mx(&e, "huge.test", &g); /* TC over UDP, then TCP */
	check_most_preferred(&g, 99, "huge.test");
	T_EQ_INT(e.srv.tcp_queries, 1);
	mx(&e, "vast.test", &g); /* only mx0..mx127 are read */
	check_most_preferred(&g, 127, "vast.test");
	env_down(&e);
}

/* ------------------------------------------------------------------ */
/* Addresses */

T_TEST(dns_addr_a_and_aaaa)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	addr(&e, "HOST.test", &g);
	WANT(g, DNS_OK, "192.0.2.1, 192.0.2.2, 2001:db8::1", "ok");
	T_EQ_INT(e.srv.queries, 2);
	addr(&e, "alias.test", &g); /* through a CNAME */
	WANT(g, DNS_OK, "192.0.2.9", "ok");
	addr(&e, "noaddr.test", &g);
	WANT(g, DNS_NODATA, "", "no address record");
	addr(&e, "nosuch.test", &g);
	WANT(g, DNS_NXDOMAIN, "", "no such domain");
	addr(&e, "cutaddr.test", &g);
	WANT(g, DNS_TEMPFAIL, "", "malformed answer");
	env_down(&e);
}

T_TEST(dns_addr_one_family_missing_or_failed)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	addr(&e, "v4only.test", &g);
	WANT(g, DNS_OK, "192.0.2.4", "ok");
	addr(&e, "v6fail.test", &g);
	WANT(g, DNS_OK, "192.0.2.6", "ok");
	T_EQ_INT(e.srv.queries, 4);
	/* Half failed: not cached, so asked again; the whole one is. */
	addr(&e, "v6fail.test", &g);
	addr(&e, "v4only.test", &g);
	T_EQ_INT(e.srv.queries, 6);
	env_down(&e);
}

T_TEST(dns_addr_ip_literal_without_query)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	addr(&e, "127.0.0.2", &g);
	WANT(g, DNS_OK, "127.0.0.2", "ok");
	addr(&e, "::1", &g);
	WANT(g, DNS_OK, "::1", "ok");
	T_EQ_INT(e.srv.queries, 0);
	env_down(&e);
}

T_TEST(dns_bad_names_without_query)
{
	static const char *const bad[] = {
		"", ".", "bad_host.test", "a..b", "-x.test", "x-.test",
		"sp ace.test", "a.b..", "[192.0.2.1]",
	};
	struct env e;
	struct got g;
	char longlabel[80], longname[300];

	env_up(&e, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		addr(&e, bad[i], &g);
		T_EQ_INT(g.st, DNS_NXDOMAIN);
		T_EQ_STR(g.why, "bad host name");
		mx(&e, bad[i], &g);
		T_EQ_INT(g.st, DNS_NXDOMAIN);
		T_EQ_STR(g.why, "bad domain name");
	}
	memset(longlabel, 'a', 64);
	strcpy(longlabel + 64, ".test");
	addr(&e, longlabel, &g);
	T_EQ_INT(g.st, DNS_NXDOMAIN);
	for (size_t i = 0; i < 254; i += 2)
		memcpy(longname + i, "a.", 2);
	longname[254] = 'a'; /* 255 characters */
	longname[255] = '\0';
	mx(&e, longname, &g);
	T_EQ_INT(g.st, DNS_NXDOMAIN);
	T_EQ_INT(e.srv.queries, 0);
	mx(&e, "nosuch.test.", &g); /* one trailing dot is fine */
	T_EQ_INT(g.st, DNS_NXDOMAIN);
	T_EQ_STR(g.why, "no such domain");
	T_EQ_INT(e.srv.queries, 1);
	env_down(&e);
}

/* ------------------------------------------------------------------ */
/* The cache */

T_TEST(dns_cache_answers_without_query)
{
	static const struct {
		const char *domain;
		unsigned queries; /* for two lookups */
	} cases[] = {
		{ "sorted.test", 1 },  { "nosuch.test", 1 }, /* NXDOMAIN, SOA */
		{ "nodata.test", 1 },  { "null.test", 1 },
		{ "ttl0.test", 2 },    { "nosoa.test", 2 }, /* RFC 2308 5 */
		{ "negmin0.test", 2 }, { "servfail.test", 2 },
		{ "cutnx.test", 2 }, /* its SOA cannot be read */
	};
	struct env e;
	struct got g, h;

	env_up(&e, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned before = e.srv.queries;
		mx(&e, cases[i].domain, &g);
		mx(&e, cases[i].domain, &h);
		T_EQ_INT(g.st, h.st);
		T_EQ_STR(g.text, h.text);
		if (e.srv.queries - before != cases[i].queries)
			t_fail(__FILE__, __LINE__, "%s: %u queries",
			       cases[i].domain, e.srv.queries - before);
	}
	unsigned before = e.srv.queries;
	mx(&e, "SORTED.test.", &g); /* case-folded key */
	T_EQ_STR(g.mx[0].host, "mx10.sorted.test");
	addr(&e, "host.test", &g);
	addr(&e, "Host.Test", &h);
	T_EQ_STR(h.text, g.text);
	mx(&e, "host.test", &g); /* another kind: its own entry */
	T_EQ_INT(e.srv.queries - before, 3);
	/* Two at once both ask; the second answer replaces the first. */
	struct got c[2] = { 0 };
	T_ASSERT(dns_mx(e.d, "equal.test", got_mx, &c[0]) != NULL);
	T_ASSERT(dns_mx(e.d, "equal.test", got_mx, &c[1]) != NULL);
	run_until(&e, &c[1].calls, 1, 3);
	T_EQ_INT(c[0].calls + c[1].calls, 2);
	mx(&e, "equal.test", &g);
	T_EQ_INT(g.n, 4);
	T_EQ_INT(e.srv.queries - before, 5);
	env_down(&e);
}

T_TEST(dns_cache_expires_with_the_ttl)
{
	struct env e;
	struct got g;

	env_up(&e, 1);
	mx(&e, "sorted.test", &g);
	mx(&e, "ttl1.test", &g);
	mx(&e, "ttl1.test", &g);
	T_EQ_INT(e.srv.queries, 2);
	run_until(&e, NULL, 0, 1.1);
	mx(&e, "ttl1.test", &g);
	T_EQ_INT(g.st, DNS_OK);
	T_EQ_INT(e.srv.queries, 3);
	mx(&e, "sorted.test", &g); /* still there */
	T_EQ_INT(e.srv.queries, 3);
	env_down(&e);
}

static void
tally_cb(void *arg, enum dns_status st, const struct dns_mx *mx, unsigned n,
	 const char *why)
{
	(void)st;
	(void)mx;
	(void)n;
	(void)why;
	(*(int *)arg)++;
}

T_TEST(dns_cache_evicts_the_oldest)
{
	struct env e;
	struct got g;
	char name[64];
	int calls = 0;

	env_up(&e, 1);
	/* DNS_CACHE_MAX + 1 answers (NXDOMAIN with an SOA: kept 30 s), 64
	 * at a time. */
	for (unsigned i = 0; i <= DNS_CACHE_MAX; i++) {
		snprintf(name, sizeof(name), "h%u.test", i);
		T_ASSERT(dns_mx(e.d, name, tally_cb, &calls) != NULL);
		if (i % 64 == 63 || i == DNS_CACHE_MAX)
			run_until(&e, &calls, (int)i + 1, 3);
	}
	T_EQ_INT(calls, DNS_CACHE_MAX + 1);
	T_EQ_INT(e.srv.queries, DNS_CACHE_MAX + 1);
	snprintf(name, sizeof(name), "h%u.test", DNS_CACHE_MAX);
	mx(&e, name, &g);
	T_EQ_INT(g.st, DNS_NXDOMAIN);
	T_EQ_INT(e.srv.queries, DNS_CACHE_MAX + 1);
	mx(&e, "h0.test", &g); /* the oldest went */
	T_EQ_INT(e.srv.queries, DNS_CACHE_MAX + 2);
	env_down(&e);
}

/* ------------------------------------------------------------------ */
/* Cancel, free, callbacks that call back in */

T_TEST(dns_cancel_callback_never_runs)
{
	struct env e;
	struct got g, c[4];

	env_up(&e, 0.2);
	memset(c, 0, sizeof(c));
	mx(&e, "equal.test", &g); /* now cached */
	/* In c-ares; answered from the cache; a literal; two parts. */
	dns_cancel(dns_mx(e.d, "sorted.test", got_mx, &c[0]));
	dns_cancel(dns_mx(e.d, "equal.test", got_mx, &c[1]));
	dns_cancel(dns_addr(e.d, "192.0.2.1", got_addr, &c[2]));
	dns_cancel(dns_addr(e.d, "host.test", got_addr, &c[3]));
	dns_cancel(NULL);
	run_until(&e, NULL, 0, 0.3);
	for (int i = 0; i < 4; i++)
		T_EQ_INT(c[i].calls, 0);
	T_EQ_INT(e.srv.queries, 4);
	/* A cancelled query's answer still went into the cache. */
	mx(&e, "sorted.test", &g);
	T_EQ_INT(g.n, 3);
	T_EQ_INT(e.srv.queries, 4);
	env_down(&e);
}

T_TEST(dns_free_cancels_pending_queries)
{
	struct env e;
	struct got g, c[4];

	env_up(&e, 0.2);
	memset(c, 0, sizeof(c));
	mx(&e, "equal.test", &g);
	T_ASSERT(dns_mx(e.d, "drop.test", got_mx, &c[0]) != NULL);
	T_ASSERT(dns_mx(e.d, "equal.test", got_mx, &c[1]) != NULL);
	T_ASSERT(dns_addr(e.d, "host.test", got_addr, &c[2]) != NULL);
	T_ASSERT(dns_addr(e.d, "::1", got_addr, &c[3]) != NULL);
	run_until(&e, NULL, 0, 0); /* the queries are out */
	dns_free(e.d);
	e.d = NULL;
	run_until(&e, NULL, 0, 0.3);
	for (int i = 0; i < 4; i++)
		T_EQ_INT(c[i].calls, 0);
	env_down(&e);
}

struct reenter {
	struct env *e;
	struct got first, second;
	bool second_sync; /* its callback ran inside dns_mx */
	bool free_in_callback;
	int after_free;   /* callbacks run after dns_free */
};

static void
reenter_cb(void *arg, enum dns_status st, const struct dns_mx *mx,
	   unsigned n, const char *why)
{
	struct reenter *r = arg;

	got_mx(&r->first, st, mx, n, why);
	if (r->free_in_callback) {
		dns_free(r->e->d);
		r->e->d = NULL;
		return;
	}
	dns_mx(r->e->d, "sorted.test", got_mx, &r->second);
	r->second_sync = r->second.calls != 0;
}

T_TEST(dns_callbacks_may_call_back_in)
{
	struct env e;
	struct got g;
	struct reenter r;

	env_up(&e, 1);
	mx(&e, "sorted.test", &g); /* cached from now on */
	memset(&r, 0, sizeof(r));
	r.e = &e;
	T_ASSERT(dns_mx(e.d, "sorted.test", reenter_cb, &r) != NULL);
	run_until(&e, &r.second.calls, 1, 3);
	T_EQ_INT(r.first.calls, 1);
	T_EQ_INT(r.second.calls, 1);
	T_ASSERT(!r.second_sync);
	T_EQ_INT(r.second.n, 3);
	/* dns_free from a callback: the answers queued behind never come. */
	r.free_in_callback = true;
	r.first.calls = 0;
	T_ASSERT(dns_mx(e.d, "sorted.test", reenter_cb, &r) != NULL);
	T_ASSERT(dns_mx(e.d, "sorted.test", tally_cb, &r.after_free) != NULL);
	T_ASSERT(dns_mx(e.d, "drop.test", tally_cb, &r.after_free) != NULL);
	run_until(&e, &r.first.calls, 1, 3);
	T_EQ_INT(r.first.calls, 1);
	T_ASSERT(e.d == NULL);
	run_until(&e, NULL, 0, 0.2);
	T_EQ_INT(r.after_free, 0);
	env_down(&e);
}

/* ------------------------------------------------------------------ */
/* Servers */

T_TEST(dns_new_checks_the_server_list)
{
	static const char *const bad[] = {
		"garbage", "1.2.3.4:99999", "1.2.3.4:0", "1.2.3.4,", ",1.2.3.4",
		"[::1]", "[::1]:x", "1.2.3.4:53:1", "[1.2.3.4]:53", "1.2.3.4:",
		"localhost",
	};
	static const char *const good[] = {
		"127.0.0.1", "127.0.0.1:5353,[::1]:53", "::1", "192.0.2.1:53",
		"", /* /etc/resolv.conf */
	};
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		struct dns *d = dns_new(loop, bad[i], 1, 1, err, sizeof(err));
		if (d != NULL)
			t_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
		T_ASSERT(strstr(err, "bad server list") != NULL);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct dns *d = dns_new(loop, good[i], 1, 1, err, sizeof(err));
		if (d == NULL)
			t_fail(__FILE__, __LINE__, "\"%s\": %s", good[i], err);
		dns_free(d);
	}
	dns_free(NULL);
	ev_loop_destroy(loop);
}

T_TEST(dns_server_unreachable_is_tempfail)
{
	struct env e;
	struct got g;
	char err[256], spec[64];

	env_up(&e, 0.2);
	dns_free(e.d);
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", udp_port(NULL));
	e.d = dns_new(e.loop, spec, 0.2, 1, err, sizeof(err));
	T_ASSERT(e.d != NULL);
	mx(&e, "sorted.test", &g);
	T_EQ_INT(g.st, DNS_TEMPFAIL);
	addr(&e, "host.test", &g);
	T_EQ_INT(g.st, DNS_TEMPFAIL);
	env_down(&e);
}

/* ------------------------------------------------------------------ */
/* The parser alone (dns_msg): the zone's answers fed in directly */

/* The answer to a query for name, as c-ares gets it; returns where the
 * first record starts. */
static size_t
canned(struct pkt *p, const char *name, unsigned qtype)
{
	struct pkt q = { .len = 0 };

	put16(&q, 0x1234); /* ID */
	put16(&q, 0x0100); /* RD */
	put16(&q, 1);
	put16(&q, 0);
	put16(&q, 0);
	put16(&q, 0);
	put_name(&q, name);
	put16(&q, qtype);
	put16(&q, 1);
	answer_build(p, q.b, q.len, zone_find(name, qtype));
	return q.len;
}

/* msg[0..len) in a block of exactly len bytes, so that the sanitizer
 * sees a read past the end; NULL for 0. */
static unsigned char *
exact_copy(const unsigned char *msg, size_t len)
{
	unsigned char *copy;

	if (len == 0)
		return NULL;
	T_ASSERT((copy = malloc(len)) != NULL);
	memcpy(copy, msg, len);
	return copy;
}

static void
parse(const unsigned char *msg, size_t len, struct got *g, uint32_t *ttl_r)
{
	struct dns_mx mx[DNS_MX_MAX];
	unsigned char *copy = exact_copy(msg, len);
	const char *why = NULL;
	unsigned n = 99;
	enum dns_status st;

	st = dns_msg_mx_parse(copy, len, mx, &n, ttl_r, &why);
	free(copy);
	T_ASSERT(why != NULL);
	T_ASSERT(n <= DNS_MX_MAX);
	memset(g, 0, sizeof(*g));
	got_mx(g, st, mx, n, why);
}

T_TEST(dns_msg_name_norm_rules)
{
	static const char *const bad[] = {
		"", ".", "..", "a..b", ".a", "-a.b", "a-.b", "a.-b", "a.b-",
		"a_b", "a b", "a.b..", "a\\.b", "\xc3\xa4.test",
	};
	char out[DNS_NAME_MAX], in[300];

	T_EQ_INT(dns_msg_name_norm("Mail.Example.COM.", out), 0);
	T_EQ_STR(out, "mail.example.com");
	T_EQ_INT(dns_msg_name_norm("x-1.2y", out), 0);
	T_EQ_STR(out, "x-1.2y");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(out, sizeof(out), "kept");
		if (dns_msg_name_norm(bad[i], out) != -1)
			t_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
		T_EQ_STR(out, "kept");
	}
	/* A label of 63 and a name of 253 (with its dot, 254) are the most. */
	memset(in, 'a', 64);
	in[63] = '\0';
	T_EQ_INT(dns_msg_name_norm(in, out), 0);
	in[63] = 'a';
	in[64] = '\0';
	T_EQ_INT(dns_msg_name_norm(in, out), -1);
	memset(in, 'a', 255);
	for (size_t i = 63; i < 255; i += 64)
		in[i] = '.';
	in[253] = '\0';
	T_EQ_INT(dns_msg_name_norm(in, out), 0);
	T_EQ_SIZE(strlen(out), 253);
	in[253] = '.';
	in[254] = '\0';
	T_EQ_INT(dns_msg_name_norm(in, out), 0);
	in[253] = 'a';
	T_EQ_INT(dns_msg_name_norm(in, out), -1);
}

T_TEST(dns_msg_mx_canned_answers)
{
	static const struct {
		const char *domain, *text, *why;
		enum dns_status st;
		uint32_t ttl;
	} cases[] = {
		{ "sorted.test",
		  "10 mx10.sorted.test, 20 mx20.sorted.test, "
		  "30 mx30.sorted.test",
		  "ok", DNS_OK, 300 },
		{ "null.test", "", "null MX: the domain takes no mail",
		  DNS_NULLMX, 300 },
		{ "nullmix.test", "10 mx.nullmix.test", "ok", DNS_OK, 300 },
		{ "badname.test", "40 good.badname.test", "ok", DNS_OK, 300 },
		{ "cnamemx.test", "10 mx.mail.test", "ok", DNS_OK, 300 },
		{ "ttl0.test", "10 mx.ttl0.test", "ok", DNS_OK, 0 },
		{ "nodata.test", "", "no MX record", DNS_NODATA, 30 },
		{ "cnameonly.test", "", "no MX record", DNS_NODATA, 30 },
		{ "negmin0.test", "", "no MX record", DNS_NODATA, 0 },
		{ "nosoa.test", "", "no MX record", DNS_NODATA, 0 },
		{ "allbad.test", "", NO_VALID_HOST, DNS_TEMPFAIL, 0 },
		{ "loop.test", "", NO_VALID_HOST, DNS_TEMPFAIL, 0 },
		{ "far.test", "", NO_VALID_HOST, DNS_TEMPFAIL, 0 },
		{ "overrun.test", "", NO_VALID_HOST, DNS_TEMPFAIL, 0 },
		{ "count.test", "", "malformed answer", DNS_TEMPFAIL, 0 },
		{ "label.test", "", "malformed answer", DNS_TEMPFAIL, 0 },
	};
	struct pkt p;
	struct got g;
	uint32_t ttl;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		canned(&p, cases[i].domain, RR_MX);
		parse(p.b, p.len, &g, &ttl);
		WANT(g, cases[i].st, cases[i].text, cases[i].why);
		if (ttl != cases[i].ttl)
			t_fail(__FILE__, __LINE__, "%s: ttl %u",
			       cases[i].domain, (unsigned)ttl);
	}
	canned(&p, "vast.test", RR_MX); /* only mx0..mx127 are read */
	parse(p.b, p.len, &g, &ttl);
	check_most_preferred(&g, 127, "vast.test");
	/* RFC 2181 8: a TTL of 2^31 or more is 0. */
	size_t rr = canned(&p, "sorted.test", RR_MX);
	p.b[rr + 6] = 0x80;
	parse(p.b, p.len, &g, &ttl);
	T_EQ_INT(g.st, DNS_OK);
	T_EQ_INT(ttl, 0);
}

T_TEST(dns_msg_length_limits)
{
	static unsigned char big[DNS_MSG_LEN_MAX + 1];
	struct pkt p;
	struct got g;
	uint32_t ttl;

	parse(NULL, 0, &g, &ttl);
	WANT(g, DNS_TEMPFAIL, "", "malformed answer");
	T_EQ_INT(dns_msg_neg_ttl(NULL, 0), 0);
	memset(big, 0, 12);
	parse(big, 12, &g, &ttl); /* a header, and nothing in it */
	WANT(g, DNS_NODATA, "", "no MX record");
	T_EQ_INT(ttl, 0);
	/* Bytes after the last record are not looked at, up to the most a
	 * message can be. */
	canned(&p, "sorted.test", RR_MX);
	memcpy(big, p.b, p.len);
	parse(big, DNS_MSG_LEN_MAX, &g, &ttl);
	T_EQ_INT(g.st, DNS_OK);
	T_EQ_INT(g.n, 3);
	parse(big, DNS_MSG_LEN_MAX + 1, &g, &ttl);
	WANT(g, DNS_TEMPFAIL, "", "malformed answer");
	canned(&p, "nodata.test", RR_MX);
	memcpy(big, p.b, p.len);
	T_EQ_INT(dns_msg_neg_ttl(big, DNS_MSG_LEN_MAX), 30);
	T_EQ_INT(dns_msg_neg_ttl(big, DNS_MSG_LEN_MAX + 1), 0);
}

/* Every record, the last one too, is needed whole. */
T_TEST(dns_msg_every_cut_is_malformed)
{
	struct pkt p;
	struct got g;
	uint32_t ttl;

	canned(&p, "sorted.test", RR_MX);
	for (size_t len = 0; len < p.len; len++) {
		parse(p.b, len, &g, &ttl);
		if (g.st != DNS_TEMPFAIL || g.n != 0 || ttl != 0 ||
		    strcmp(g.why, "malformed answer") != 0)
			t_fail(__FILE__, __LINE__, "cut at %zu: %d %s", len,
			       g.st, g.why);
	}
	/* The SOA ends this one: cut, it is no SOA, and no TTL. */
	canned(&p, "nodata.test", RR_MX);
	T_EQ_INT(dns_msg_neg_ttl(p.b, p.len), 30);
	for (size_t len = 0; len < p.len; len++) {
		unsigned char *copy = exact_copy(p.b, len);
		uint32_t neg = dns_msg_neg_ttl(copy, len);
		free(copy);
		if (neg != 0)
			t_fail(__FILE__, __LINE__, "cut at %zu: %u", len,
			       (unsigned)neg);
		parse(p.b, len, &g, &ttl);
		T_ASSERT(g.st == DNS_TEMPFAIL ||
			 (g.st == DNS_NODATA && ttl == 0));
	}
}

/* What comes out of a mangled answer still keeps the contract. */
static void
check_mangled(const struct got *g, uint32_t ttl)
{
	char norm[DNS_NAME_MAX];

	T_ASSERT(g->st == DNS_OK || g->st == DNS_NULLMX ||
		 g->st == DNS_NODATA || g->st == DNS_TEMPFAIL);
	T_ASSERT((g->st == DNS_OK) == (g->n > 0));
	T_ASSERT(ttl <= INT32_MAX);
	for (unsigned i = 0; i < g->n; i++) {
		T_EQ_INT(dns_msg_name_norm(g->mx[i].host, norm), 0);
		T_EQ_STR(norm, g->mx[i].host);
		T_ASSERT(i == 0 || g->mx[i - 1].pref <= g->mx[i].pref);
	}
}

T_TEST(dns_msg_mangled_bytes_stay_in_bounds)
{
	static const char *const domains[] = {
		"sorted.test", "cnamemx.test", "nodata.test", "badname.test",
	};
	static const unsigned char with[] = {
		0x00, 0x01, 0x3F, 0x40, 0x80, 0xC0, 0xC1, 0xFF,
	};
	struct pkt p;
	struct got g;
	uint32_t ttl;

	for (size_t d = 0; d < sizeof(domains) / sizeof(domains[0]); d++) {
		canned(&p, domains[d], RR_MX);
		for (size_t at = 0; at < p.len; at++) {
			unsigned char keep = p.b[at];
			for (size_t v = 0; v < sizeof(with); v++) {
				p.b[at] = with[v];
				parse(p.b, p.len, &g, &ttl);
				check_mangled(&g, ttl);
				T_ASSERT(dns_msg_neg_ttl(p.b, p.len) <=
					 INT32_MAX);
			}
			p.b[at] = keep;
		}
	}
}
