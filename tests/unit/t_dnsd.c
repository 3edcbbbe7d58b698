/*
 * t_dnsd: the DNS tests' server, canned answers and resolver helpers; see
 * t_dnsd.h.
 */
#include "tests/unit/t_dnsd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/t.h"

/* ------------------------------------------------------------------ */
/* The server: its zone */

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
unsigned
t_dnsd_udp_port(int *fd_r)
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
		port = t_dnsd_udp_port(&s->fd);
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

void
t_dnsd_env_up(struct env *e, double timeout)
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

void
t_dnsd_env_down(struct env *e)
{
	dns_free(e->d);
	srv_stop(&e->srv, e->loop);
	ev_loop_destroy(e->loop);
}

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

void
t_dnsd_got_mx(void *arg, enum dns_status st, const struct dns_mx *mx,
	      unsigned n, const char *why)
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

void
t_dnsd_got_addr(void *arg, enum dns_status st, const struct dns_addr *a,
		unsigned n, const char *why)
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
void
t_dnsd_run_until(struct env *e, const int *calls, int want, double secs)
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
void
t_dnsd_mx(struct env *e, const char *domain, struct got *g)
{
	memset(g, 0, sizeof(*g));
	T_ASSERT(dns_mx(e->d, domain, t_dnsd_got_mx, g) != NULL);
	T_EQ_INT(g->calls, 0);
	t_dnsd_run_until(e, &g->calls, 1, 3);
	T_EQ_INT(g->calls, 1);
}

void
t_dnsd_addr(struct env *e, const char *host, struct got *g)
{
	memset(g, 0, sizeof(*g));
	T_ASSERT(dns_addr(e->d, host, t_dnsd_got_addr, g) != NULL);
	T_EQ_INT(g->calls, 0);
	t_dnsd_run_until(e, &g->calls, 1, 3);
	T_EQ_INT(g->calls, 1);
}

/* mx[0..16) are mx<first>.domain down to mx<first - 15>.domain. */
void
t_dnsd_check_most_preferred(const struct got *g, unsigned first,
			    const char *domain)
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

/* ------------------------------------------------------------------ */
/* The canned answers as packets, for the parser alone */

/* The answer to a query for name, as c-ares gets it; returns where the
 * first record starts. */
size_t
t_dnsd_canned(struct pkt *p, const char *name, unsigned qtype)
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
