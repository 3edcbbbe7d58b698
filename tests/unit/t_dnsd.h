/*
 * t_dnsd: what the DNS tests share (test_dns.c, test_dns_msg.c). A tiny
 * DNS server of our own: UDP and TCP sockets on one port of 127.0.0.1, in
 * the test's loop, answering from a table of canned answers, some of them
 * hostile, and counting the queries it gets, so a test can tell a cached
 * answer from a fresh one; the same canned answers as packets, for the
 * parser alone; the resolver on that server, and the answers it gives
 * collected as text. Every wait is bounded: a lookup that never answers
 * fails its test instead of hanging the runner. A failed check ends the
 * running test, as T_ASSERT does (the file and line named are t_dnsd.c's).
 */
#ifndef VD_T_DNSD_H
#define VD_T_DNSD_H

#include <ev.h>
#include <stddef.h>

#include "core/dns.h"
#include "tests/unit/t.h" /* WANT */

enum { RR_A = 1, RR_CNAME = 5, RR_SOA = 6, RR_MX = 15, RR_AAAA = 28 };

/* A DNS message being built. */
struct pkt {
	unsigned char b[8192];
	size_t len;
};

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

/* A test's loop, server and resolver. */
struct env {
	struct ev_loop *loop;
	struct srv srv;
	struct dns *d;
};

/* What a lookup's callback got, the records also as text. */
struct got {
	int calls;
	enum dns_status st;
	char why[80];
	unsigned n;
	struct dns_mx mx[DNS_MX_MAX];
	struct dns_addr a[DNS_ADDR_MAX];
	char text[DNS_MX_MAX * (DNS_NAME_MAX + 8)]; /* "10 a.test, 20 b.test" */
};

/* The answer the server gives to a query for name (type qtype), as c-ares
 * gets it, in p; returns where the first record starts. */
size_t t_dnsd_canned(struct pkt *p, const char *name, unsigned qtype);

/* A free UDP port of 127.0.0.1, bound to fd_r (or closed when NULL). */
unsigned t_dnsd_udp_port(int *fd_r);

/* A new loop, the server started on it, and a resolver (dns_new) asking
 * only that server, with timeout seconds for each try. */
void t_dnsd_env_up(struct env *e, double timeout);
/* Frees what t_dnsd_env_up made; e->d may be NULL. */
void t_dnsd_env_down(struct env *e);

/* A dns_mx_fn and a dns_addr_fn: the answer into arg, a struct got. */
void t_dnsd_got_mx(void *arg, enum dns_status st, const struct dns_mx *mx,
		   unsigned n, const char *why);
void t_dnsd_got_addr(void *arg, enum dns_status st, const struct dns_addr *a,
		     unsigned n, const char *why);

/*
 * Turns the loop until *calls reaches want or secs pass; with calls NULL,
 * for secs. The guard wakes it up at least every 20 ms.
 */
void t_dnsd_run_until(struct env *e, const int *calls, int want, double secs);

/* One lookup to its end, into g; its callback must not run inside dns_mx
 * (dns_addr). */
void t_dnsd_mx(struct env *e, const char *domain, struct got *g);
void t_dnsd_addr(struct env *e, const char *host, struct got *g);

/* g->mx[0..16) are mx<first>.domain down to mx<first - 15>.domain, with
 * preferences 200 - first up, as the server's many, huge and vast zones
 * give them. */
void t_dnsd_check_most_preferred(const struct got *g, unsigned first,
				 const char *domain);

/* The answer was st_, with the records as text_, for the reason why_. */
#define WANT(g, st_, text_, why_)                                           \
	do {                                                                \
		T_EQ_INT((g).st, st_);                                      \
		T_EQ_STR((g).text, text_);                                  \
		T_EQ_STR((g).why, why_);                                    \
	} while (0)

#define NO_VALID_HOST "no valid host name in the MX"

#endif
