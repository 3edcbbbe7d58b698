/*
 * dns_update: RFC 2136 UPDATE of one MX record, SOA lookup of the zone and
 * MX query (RFC 1035). The contract is in dns_update.h. The message format
 * is dns_wire's, the signing (RFC 8945) dns_tsig's; here: transport (UDP
 * with TCP on truncation), then the three operations.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/dns_tsig.h"
#include "tools/dns_update.h"
#include "tools/dns_wire.h"

enum {
	PKT_MAX = 65535,
	REQ_MAX = 2048, /* our requests: 3 names, one RR, one TSIG */
	TRIES = 2,
};

/* ---- transport ---- */

struct peer {
	struct sockaddr_storage ss;
	socklen_t len;
};

static int
peer_set(const struct dns_update_cfg *c, struct peer *pe, char *err,
	 size_t errlen)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&pe->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&pe->ss;
	char ip[sizeof(c->server)];

	memset(pe, 0, sizeof(*pe));
	memcpy(ip, c->server, sizeof(ip));
	ip[sizeof(ip) - 1] = '\0';
	if (c->port == 0 || c->port > 65535)
		return dns_wire_fail(err, errlen, "port %u is out of range",
				     c->port);
	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)c->port);
		pe->len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)c->port);
		pe->len = sizeof(*in6);
		return 0;
	}
	return dns_wire_fail(err, errlen, "server '%s' is not an IPv4 or IPv6 "
			     "address", ip);
}

static struct timespec
deadline_in(unsigned ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static int
ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* 1 ready, 0 deadline passed, -1 poll error. */
static int
wait_fd(int fd, short events, const struct timespec *deadline)
{
	struct pollfd pfd = { fd, events, 0 };

	for (;;) {
		int ms = ms_left(deadline);
		if (ms == 0)
			return 0;
		int n = poll(&pfd, 1, ms);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Ours: the request's ID, QR set, the request's opcode (RFC 1035 7.3). */
static bool
answer_is_ours(const unsigned char *q, const unsigned char *a, size_t alen)
{
	unsigned qf = dns_wire_get16(q + 2), af;

	if (alen < DNS_WIRE_HDR_LEN || dns_wire_get16(a) != dns_wire_get16(q))
		return false;
	af = dns_wire_get16(a + 2);
	return (af & DNS_WIRE_F_QR) != 0 &&
	       DNS_WIRE_F_OPCODE(af) == DNS_WIRE_F_OPCODE(qf);
}

/* Reads or writes exactly n bytes on a non-blocking stream before deadline. */
static int
tcp_full(int fd, unsigned char *b, size_t n, bool out,
	 const struct timespec *deadline)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = out ? send(fd, b + done, n - done, MSG_NOSIGNAL)
				: recv(fd, b + done, n - done, 0);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
		if (wait_fd(fd, out ? POLLOUT : POLLIN, deadline) <= 0)
			return -1;
	}
	return 0;
}

/* RFC 1035 4.2.2 (RFC 7766 8): each message behind a two-byte length. */
static int
tcp_exchange(const struct dns_update_cfg *c, const struct peer *pe,
	     const unsigned char *q, size_t qlen, unsigned char *a,
	     size_t *alen_r, char *err, size_t errlen)
{
	struct timespec deadline = deadline_in(c->timeout_ms);
	unsigned char frame[2 + REQ_MAX], len2[2];
	int fd, rc = -1;
	size_t n = 0;

	fd = socket(pe->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return dns_wire_fail(err, errlen, "socket: %s",
				     strerror(errno));
	frame[0] = (unsigned char)(qlen >> 8);
	frame[1] = (unsigned char)qlen;
	memcpy(frame + 2, q, qlen);
	if (connect(fd, (const struct sockaddr *)&pe->ss, pe->len) < 0 &&
	    errno != EINPROGRESS) {
		dns_wire_fail(err, errlen, "TCP connect to %s: %s", c->server,
			      strerror(errno));
	} else if (tcp_full(fd, frame, qlen + 2, true, &deadline) < 0 ||
		   tcp_full(fd, len2, 2, false, &deadline) < 0 ||
		   (n = dns_wire_get16(len2)) < DNS_WIRE_HDR_LEN ||
		   tcp_full(fd, a, n, false, &deadline) < 0) {
		dns_wire_fail(err, errlen, "TCP exchange with %s port %u "
			      "failed or timed out (%u ms) after a truncated "
			      "UDP answer", c->server, c->port, c->timeout_ms);
	} else if (!answer_is_ours(q, a, n)) {
		dns_wire_fail(err, errlen, "the TCP answer has another ID, no "
			      "QR flag or another opcode");
	} else {
		*alen_r = n;
		rc = 0;
	}
	close(fd);
	return rc;
}

/*
 * One UDP try: send, then read until our answer or the deadline. connect()
 * makes the kernel drop datagrams from any other address or port.
 */
static int
udp_try(int fd, const unsigned char *q, size_t qlen, unsigned char *a,
	size_t *alen_r, unsigned ms, unsigned *ignored, char *err,
	size_t errlen)
{
	struct timespec deadline = deadline_in(ms);

	if (send(fd, q, qlen, 0) < 0) {
		if (errno == ECONNREFUSED)
			return dns_wire_fail(err, errlen, "refused (ICMP port "
					     "unreachable)");
		return dns_wire_fail(err, errlen, "send: %s", strerror(errno));
	}
	for (;;) {
		int r = wait_fd(fd, POLLIN, &deadline);
		if (r < 0)
			return dns_wire_fail(err, errlen, "poll: %s",
					     strerror(errno));
		if (r == 0)
			return 0;
		ssize_t n = recv(fd, a, PKT_MAX, 0);
		if (n < 0 && errno == ECONNREFUSED)
			return dns_wire_fail(err, errlen, "nothing listens "
					     "there (ICMP port unreachable)");
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return dns_wire_fail(err, errlen, "recv: %s",
					     strerror(errno));
		if (n < 0)
			continue;
		if (answer_is_ours(q, a, (size_t)n)) {
			*alen_r = (size_t)n;
			return 1;
		}
		(*ignored)++;
	}
}

/*
 * Sends q (2 UDP tries), falls back to TCP on TC; a (PKT_MAX bytes) gets an
 * answer that passed answer_is_ours.
 */
static int
transact(const struct dns_update_cfg *c, const unsigned char *q,
	 size_t qlen, unsigned char *a, size_t *alen_r, char *err,
	 size_t errlen)
{
	struct peer pe;
	unsigned ignored = 0;
	int fd, r = 0;
	char why[160] = "";

	if (peer_set(c, &pe, err, errlen) < 0)
		return -1;
	fd = socket(pe.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return dns_wire_fail(err, errlen, "socket: %s",
				     strerror(errno));
	if (connect(fd, (const struct sockaddr *)&pe.ss, pe.len) < 0) {
		dns_wire_fail(err, errlen, "connect to %s: %s", c->server,
			      strerror(errno));
		close(fd);
		return -1;
	}
	for (int i = 0; i < TRIES && r == 0; i++)
		r = udp_try(fd, q, qlen, a, alen_r, c->timeout_ms, &ignored,
			    why, sizeof(why));
	close(fd);
	if (r < 0)
		return dns_wire_fail(err, errlen, "%s port %u: %s", c->server,
				     c->port, why);
	if (r == 0)
		return dns_wire_fail(err, errlen, "no answer from %s port %u: "
				     "timed out after %d tries of %u ms (%u "
				     "unrelated or malformed datagrams "
				     "ignored)", c->server, c->port, TRIES,
				     c->timeout_ms, ignored);
	if ((dns_wire_get16(a + 2) & DNS_WIRE_F_TC) != 0)
		return tcp_exchange(c, &pe, q, qlen, a, alen_r, err, errlen);
	return 0;
}

/* ---- queries ---- */

/* RFC 5452 4.3: an unpredictable ID. */
static int
new_id(unsigned *id, char *err, size_t errlen)
{
	unsigned char b[2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return dns_wire_fail(err, errlen, "getrandom: %s",
				     strerror(errno));
	*id = dns_wire_get16(b);
	return 0;
}

/*
 * A plain query for name/type (no recursion wanted: we ask the primary).
 * The answer must repeat our question when it has one.
 */
static int
query(const struct dns_update_cfg *c, const char *name, unsigned type,
      unsigned char *a, struct dns_wire_msg *m, char *err, size_t errlen)
{
	unsigned char qb[REQ_MAX];
	struct dns_wire_buf w = { qb, sizeof(qb), 0, false };
	char got[DNS_WIRE_NAME_TEXT_MAX];
	size_t off = DNS_WIRE_HDR_LEN;
	struct dns_wire_hdr h;
	unsigned id;

	if (new_id(&id, err, errlen) < 0)
		return -1;
	dns_wire_put_header(&w, id, DNS_WIRE_OP_QUERY << 11, 1, 0, 0, 0);
	dns_wire_put_name(&w, name);
	dns_wire_put16(&w, type);
	dns_wire_put16(&w, DNS_WIRE_C_IN);
	if (w.full)
		return dns_wire_fail(err, errlen, "query too long");
	if (transact(c, w.p, w.len, a, &m->len, err, errlen) < 0)
		return -1;
	m->p = a;
	dns_wire_hdr_read(m, &h);
	if (h.qd > 1)
		return dns_wire_fail(err, errlen, "malformed answer: %u "
				     "questions", h.qd);
	if (h.qd == 1 &&
	    (dns_wire_read_name(m, &off, m->len, got, sizeof(got)) < 0 ||
	     m->len - off < 4 || strcmp(got, name) != 0 ||
	     dns_wire_get16(m->p + off) != type ||
	     dns_wire_get16(m->p + off + 2) != DNS_WIRE_C_IN))
		return dns_wire_fail(err, errlen, "malformed answer: not our "
				     "question");
	return 0;
}

/*
 * The zone of name from an SOA query's answer: the owner of the SOA the
 * server names in the answer (name is the apex) or authority section
 * (name is below it) of an authoritative answer (RFC 2136 4.3; RFC 2308
 * 3 for the negative case). The zone must contain name.
 */
static int
soa_parse(const struct dns_wire_msg *m, const char *name, char *zone,
	  size_t zonelen, char *err, size_t errlen)
{
	struct dns_wire_hdr h;
	struct dns_wire_rr rr;
	size_t off;
	char why[200];

	dns_wire_hdr_read(m, &h);
	unsigned rc = DNS_WIRE_F_RCODE(h.flags);
	if (rc != 0 && rc != 3)
		return dns_wire_fail(err, errlen, "SOA lookup for %s: %s (%s)",
				     name, dns_wire_rcode_name(rc),
				     rc == 5 ? "the server serves no zone "
					       "containing it" :
					       dns_wire_rcode_hint(rc));
	if ((h.flags & DNS_WIRE_F_AA) == 0)
		return dns_wire_fail(err, errlen, "SOA lookup for %s: the "
				     "server is not authoritative for it (give "
				     "--zone?)", name);
	if (dns_wire_skip_questions(m, &h, &off) < 0)
		return dns_wire_fail(err, errlen, "SOA lookup for %s: "
				     "malformed answer", name);
	for (unsigned i = 0; i < h.an + h.ns; i++) {
		if (dns_wire_read_rr(m, &off, &rr) < 0)
			return dns_wire_fail(err, errlen, "SOA lookup for %s: "
					     "malformed answer", name);
		if (rr.type != DNS_WIRE_T_SOA || rr.class != DNS_WIRE_C_IN)
			continue;
		if (dns_wire_name_norm(rr.name, zone, zonelen, "zone", why,
				       sizeof(why)) < 0 ||
		    !dns_wire_name_within(name, zone))
			return dns_wire_fail(err, errlen, "SOA lookup for %s: "
					     "the server names zone '%s', "
					     "which does not contain it", name,
					     rr.name);
		return 0;
	}
	return dns_wire_fail(err, errlen, "SOA lookup for %s: no SOA record in "
			     "the answer (%s)", name, dns_wire_rcode_name(rc));
}

static int
find_zone(const struct dns_update_cfg *c, const char *name, char *zone,
	  size_t zonelen, char *err, size_t errlen)
{
	unsigned char a[PKT_MAX];
	struct dns_wire_msg m;

	if (query(c, name, DNS_WIRE_T_SOA, a, &m, err, errlen) < 0)
		return -1;
	return soa_parse(&m, name, zone, zonelen, err, errlen);
}

static int
build_update(struct dns_wire_buf *w, unsigned id, const char *zone,
	     const char *domain, const struct dns_update_cfg *c,
	     const char *host)
{
	size_t rdlen_at;

	/* RFC 2136 2.2-2.5: ZOCOUNT 1, PRCOUNT 0, UPCOUNT 1, ADCOUNT 0. */
	dns_wire_put_header(w, id, DNS_WIRE_OP_UPDATE << 11, 1, 0, 1, 0);
	dns_wire_put_name(w, zone);
	dns_wire_put16(w, DNS_WIRE_T_SOA);
	dns_wire_put16(w, DNS_WIRE_C_IN);
	/* 2.5.1: "Add To An RRset", CLASS is the zone's class. */
	dns_wire_put_name(w, domain);
	dns_wire_put16(w, DNS_WIRE_T_MX);
	dns_wire_put16(w, DNS_WIRE_C_IN);
	dns_wire_put32(w, c->ttl);
	rdlen_at = w->len;
	dns_wire_put16(w, 0);
	dns_wire_put16(w, c->mx_pref); /* RFC 1035 3.3.9 */
	dns_wire_put_name(w, host);
	dns_wire_patch16(w, rdlen_at, (unsigned)(w->len - rdlen_at - 2));
	return w->full ? -1 : 0;
}

/* One update: the names checked, the zone known, the key if any. */
struct job {
	char dom[256], host[256], zone[256];
	struct dns_tsig_key k;
	bool sign;
};

static int
job_prepare(const struct dns_update_cfg *c, const char *domain,
	    struct job *j, char *err, size_t errlen)
{
	if (c->mx_pref > 65535 || c->ttl > 0x7FFFFFFFu)
		return dns_wire_fail(err, errlen, "MX preference %u or TTL %u "
				     "out of range (RFC 1035 3.3.9, "
				     "RFC 2181 8)", c->mx_pref, c->ttl);
	if (dns_wire_name_norm(domain, j->dom, sizeof(j->dom), "domain", err,
			       errlen) < 0 ||
	    dns_wire_name_norm(c->mx_host, j->host, sizeof(j->host), "MX host",
			       err, errlen) < 0)
		return -1;
	j->sign = c->tsig_name[0] != '\0';
	if (j->sign && dns_tsig_key_from(c, &j->k, err, errlen) < 0)
		return -1;
	if (c->zone[0] == '\0')
		return find_zone(c, j->dom, j->zone, sizeof(j->zone), err,
				 errlen);
	if (dns_wire_name_norm(c->zone, j->zone, sizeof(j->zone), "zone", err,
			       errlen) < 0)
		return -1;
	if (!dns_wire_name_within(j->dom, j->zone))
		return dns_wire_fail(err, errlen, "%s is not within zone %s",
				     j->dom, j->zone);
	return 0;
}

static int
job_send(const struct dns_update_cfg *c, const struct job *j, char *err,
	 size_t errlen)
{
	unsigned char a[PKT_MAX], qb[REQ_MAX], reqmac[DNS_TSIG_MAC_MAX];
	struct dns_wire_buf w = { qb, sizeof(qb), 0, false };
	struct dns_wire_msg m;
	struct dns_wire_hdr h;
	struct dns_wire_rr rr;
	unsigned id, rc;

	if (new_id(&id, err, errlen) < 0)
		return -1;
	if (build_update(&w, id, j->zone, j->dom, c, j->host) < 0 ||
	    (j->sign && dns_tsig_sign(&w, &j->k, id, reqmac) < 0))
		return dns_wire_fail(err, errlen, "update too long");
	if (transact(c, w.p, w.len, a, &m.len, err, errlen) < 0)
		return -1;
	m.p = a;
	dns_wire_hdr_read(&m, &h);
	rc = DNS_WIRE_F_RCODE(h.flags);
	if (j->sign) {
		if (dns_tsig_check(&m, &h, &j->k, reqmac, err, errlen) < 0)
			return -1;
	} else if (dns_wire_walk(&m, &h, &rr) < 0) {
		return dns_wire_fail(err, errlen, "malformed answer");
	}
	if (rc != 0)
		return dns_wire_fail(err, errlen, "update of %s in zone %s: %s "
				     "(%s)", j->dom, j->zone,
				     dns_wire_rcode_name(rc),
				     dns_wire_rcode_hint(rc));
	return 0;
}

int
dns_update_mx(const struct dns_update_cfg *c, const char *domain, char *err,
	      size_t errlen)
{
	struct dns_update_cfg cc = *c;
	struct job j;
	int r;

	if (cc.timeout_ms == 0)
		cc.timeout_ms = 3000;
	cc.server[sizeof(cc.server) - 1] = cc.zone[sizeof(cc.zone) - 1] = '\0';
	cc.mx_host[sizeof(cc.mx_host) - 1] = '\0';
	cc.tsig_name[sizeof(cc.tsig_name) - 1] = '\0';
	r = job_prepare(&cc, domain, &j, err, errlen);
	if (r == 0)
		r = job_send(&cc, &j, err, errlen);
	explicit_bzero(&cc, sizeof(cc)); /* the copy of the secret */
	return r;
}

/* Appends "PREF HOST\n" for an MX RR's RDATA (RFC 1035 3.3.9). */
static int
mx_line(const struct dns_wire_msg *m, const struct dns_wire_rr *rr, char *out,
	size_t outlen, size_t *o)
{
	char host[DNS_WIRE_NAME_TEXT_MAX];
	size_t off = rr->rdata, end = rr->rdata + rr->rdlen;
	unsigned pref;
	int n;

	if (rr->rdlen < 3)
		return -1;
	pref = dns_wire_get16(m->p + off);
	off += 2;
	if (dns_wire_read_name(m, &off, end, host, sizeof(host)) < 0 ||
	    off != end)
		return -1;
	n = snprintf(out + *o, outlen - *o, "%u %s\n", pref,
		     host[0] != '\0' ? host : ".");
	if (n < 0 || (size_t)n >= outlen - *o)
		return -2;
	*o += (size_t)n;
	return 0;
}

/*
 * The MX records of dom in an MX query's answer, as "PREF HOST\n" lines
 * into out (which is NUL-terminated); CNAMEs in the answer are followed
 * (RFC 1034 3.6.2). Returns the count, or -1 with err.
 */
static int
mx_parse(const struct dns_wire_msg *m, const char *dom, char *out,
	 size_t outlen, char *err, size_t errlen)
{
	char owner[DNS_WIRE_NAME_TEXT_MAX];
	struct dns_wire_hdr h;
	struct dns_wire_rr rr;
	size_t off, o = 0;
	int count = 0;

	dns_wire_hdr_read(m, &h);
	unsigned rc = DNS_WIRE_F_RCODE(h.flags);
	if (rc == 3)
		return 0;
	if (rc != 0)
		return dns_wire_fail(err, errlen, "MX query for %s: %s (%s)",
				     dom, dns_wire_rcode_name(rc),
				     rc == 5 ? "the server does not serve "
					       "that name" :
					       dns_wire_rcode_hint(rc));
	if (dns_wire_skip_questions(m, &h, &off) < 0)
		return dns_wire_fail(err, errlen, "MX query for %s: malformed "
				     "answer", dom);
	memcpy(owner, dom, strlen(dom) + 1);
	for (unsigned i = 0; i < h.an; i++) {
		if (dns_wire_read_rr(m, &off, &rr) < 0)
			return dns_wire_fail(err, errlen, "MX query for %s: "
					     "malformed answer", dom);
		if (rr.class != DNS_WIRE_C_IN || strcmp(rr.name, owner) != 0)
			continue;
		if (rr.type == DNS_WIRE_T_CNAME) {
			size_t t = rr.rdata;
			if (dns_wire_read_name(m, &t, rr.rdata + rr.rdlen,
					       owner, sizeof(owner)) < 0 ||
			    t != rr.rdata + rr.rdlen)
				return dns_wire_fail(err, errlen, "MX query "
						     "for %s: malformed CNAME",
						     dom);
		} else if (rr.type == DNS_WIRE_T_MX) {
			int r = mx_line(m, &rr, out, outlen, &o);
			if (r == -2)
				return dns_wire_fail(err, errlen, "MX query "
						     "for %s: too many records "
						     "for the buffer", dom);
			if (r < 0)
				return dns_wire_fail(err, errlen, "MX query "
						     "for %s: malformed MX",
						     dom);
			count++;
		}
	}
	return count;
}

int
dns_update_query_mx(const struct dns_update_cfg *c, const char *domain,
		    char *out, size_t outlen, char *err, size_t errlen)
{
	unsigned char a[PKT_MAX];
	struct dns_update_cfg cc = *c;
	char dom[256];
	struct dns_wire_msg m;

	if (outlen == 0)
		return dns_wire_fail(err, errlen, "no room for the answer");
	out[0] = '\0';
	if (cc.timeout_ms == 0)
		cc.timeout_ms = 3000;
	if (dns_wire_name_norm(domain, dom, sizeof(dom), "domain", err,
			       errlen) < 0 ||
	    query(&cc, dom, DNS_WIRE_T_MX, a, &m, err, errlen) < 0)
		return -1;
	return mx_parse(&m, dom, out, outlen, err, errlen);
}

/* The key's syntax and its checks belong to dns_tsig. */
int
dns_update_parse_key(struct dns_update_cfg *c, const char *text, size_t len,
		     char *err, size_t errlen)
{
	return dns_tsig_parse_key(c, text, len, err, errlen);
}
