/*
 * dns: asynchronous DNS for the outbound SMTP client: MX lookups (RFC 5321
 * 5.1) and address lookups (A and AAAA), through c-ares on the one libev
 * loop. Never blocks: c-ares's sockets are ev_io watchers and its
 * retransmissions one ev_timer; only dns_new reads /etc/resolv.conf
 * (bounded local disk, at start-up). /etc/hosts is never read: mail
 * routing is DNS.
 * Owns the c-ares channel, its watchers, the pending queries and a small
 * cache (at most DNS_CACHE_MAX answers, the oldest evicted first; keys are
 * case-folded names and the kind of lookup): an answer with records is
 * kept for the smallest TTL among them, at most 3600 s; "no such domain"
 * and "no such record" for the SOA's negative TTL (RFC 2308 5), at most
 * 60 s, and not at all without an SOA; a failure is never kept.
 * Everything lives in struct dns (no global state but c-ares's reference-
 * counted ares_library_init).
 * Every answer is hostile input: a malformed packet, a huge answer or a
 * bad name gives DNS_TEMPFAIL (a bad host name in an MX answer is only
 * skipped), never a crash.
 */
#ifndef VD_DNS_H
#define VD_DNS_H

#include <stddef.h>
#include <sys/socket.h>

struct ev_loop;
struct dns;       /* one resolver: a c-ares channel wired into the loop */
struct dns_query; /* one pending lookup */

#define DNS_NAME_MAX 256   /* a host name and its NUL (253 + 1 fit) */
#define DNS_MX_MAX 16      /* MX hosts kept, the most preferred */
#define DNS_ADDR_MAX 16    /* addresses: at most 8 IPv4, then 8 IPv6 */
#define DNS_CACHE_MAX 4096 /* answers cached */

enum dns_status {
	DNS_OK,       /* records: mx or a holds n >= 1 of them */
	DNS_NODATA,   /* the name exists, without a record of that type */
	DNS_NXDOMAIN, /* no such name (or the name given is not a host name) */
	DNS_TEMPFAIL, /* timeout, SERVFAIL, REFUSED, network, malformed answer */
	DNS_NULLMX,   /* the domain accepts no mail (RFC 7505) */
};

/* host: lower case, letters, digits, '-' and '.', no trailing dot. */
struct dns_mx {
	char host[DNS_NAME_MAX];
	unsigned pref;
};

/* sa is a sockaddr_in or sockaddr_in6 of len bytes, with port 0. */
struct dns_addr {
	struct sockaddr_storage sa;
	socklen_t len;
};

/*
 * Callbacks. why is a short static text for a log line ("ok", "timeout",
 * "no such domain", "malformed answer", ...), never NULL. The records (NULL
 * when n is 0) are valid during the call only. A callback may start
 * lookups, cancel other pending ones and even call dns_free.
 */
typedef void dns_mx_fn(void *arg, enum dns_status st,
		       const struct dns_mx *mx, unsigned n, const char *why);
typedef void dns_addr_fn(void *arg, enum dns_status st,
			 const struct dns_addr *a, unsigned n,
			 const char *why);

/*
 * A resolver on loop. servers: "" for those of /etc/resolv.conf, else
 * "IP[:PORT][,IP[:PORT]...]" with an IPv6 address bare or as [::1]:53.
 * timeout: seconds a first try waits (c-ares doubles it for each later
 * round; <= 0 means 5, at most 300); tries: rounds over the servers (0
 * means 2, at most 10). A server that fails or refuses is passed over for
 * the next. Queries use EDNS(0) with 1232 bytes, and TCP after a
 * truncated answer. Returns NULL with one line in err when the list is
 * bad or c-ares cannot start.
 */
struct dns *dns_new(struct ev_loop *loop, const char *servers,
		    double timeout, unsigned tries, char *err, size_t errlen);
/*
 * Pending queries are cancelled: their callbacks never run and they are
 * gone (not to be cancelled afterwards). Fine from inside a callback (the
 * resolver goes when it returns) and with NULL.
 */
void dns_free(struct dns *d);

/*
 * Looks up the MX of domain (a trailing dot is fine; no search list).
 * fn(arg, ...) runs exactly once, from the loop and never inside this
 * call (not even for a cached answer or an error), unless cancelled:
 *   DNS_OK        mx[0..n) by preference, equal preferences shuffled
 *                 (RFC 5321 5.1); at most DNS_MX_MAX, the most preferred;
 *                 hosts that are no host names are skipped (none left:
 *                 DNS_TEMPFAIL)
 *   DNS_NULLMX    the only MX is "." (RFC 7505): bounce, do not retry
 *   DNS_NODATA    no MX: deliver to the domain's own A/AAAA (RFC 5321 5.1)
 *   DNS_NXDOMAIN  no such domain, or domain is not a domain name
 *   DNS_TEMPFAIL  try again later
 * Returns the query (valid until its callback returns or it is
 * cancelled), or NULL when out of memory (fn never runs).
 */
struct dns_query *dns_mx(struct dns *d, const char *domain, dns_mx_fn *fn,
			 void *arg);

/*
 * Looks up the A and AAAA records of host, in parallel; as dns_mx for the
 * rules on fn and the result. DNS_OK: IPv4 addresses first, then IPv6,
 * each in the server's order, at most DNS_ADDR_MAX / 2 of each; when one
 * family answers and the other fails, the answer is the family that
 * answered (and it is not cached). An IP literal ("192.0.2.1", "::1") is
 * answered without a query; a host that is not a host name is
 * DNS_NXDOMAIN without one. DNS_NODATA: the host exists but has neither.
 */
struct dns_query *dns_addr(struct dns *d, const char *host, dns_addr_fn *fn,
			   void *arg);

/*
 * q's callback will not run (its caller went away); q is invalid
 * afterwards. Only for a query whose callback has not run yet; NULL is
 * fine.
 */
void dns_cancel(struct dns_query *q);

#endif
