/*
 * nexthop: where outbound delivery sends a recipient that is not stored
 * here (the routing table of seed 002), answered from the tables alone.
 * In order:
 *   1. a user of one of our domains whose mailHost is another host: that
 *      host (SMTP to its address records, no MX lookup);
 *   2. the routes table: the recipient's domain, then each parent domain
 *      ("a.b.example", "b.example", "example"), with relay=HOST[:PORT]
 *      (mailRoutingSmartHost): that relay;
 *   3. the configured relay_host: that relay;
 *   4. otherwise the domain's MX hosts (RFC 5321 5.1).
 * A routes record may also carry tls=may|encrypt|verify, the TLS policy
 * for that destination (else the configured default).
 * Pure lookups; blocks only on local disk (the tables).
 */
#ifndef VD_NEXTHOP_H
#define VD_NEXTHOP_H

#include "cdb/tbl.h"

enum nexthop_kind {
	NEXTHOP_MX,    /* look up the MX of name */
	NEXTHOP_HOST,  /* a vdmail host of ours (mailHost) */
	NEXTHOP_RELAY, /* a relay (routes table or relay_host) */
};

struct nexthop_opts {
	const char *hostname;    /* this host */
	const char *relay_host;  /* HOST[:PORT] or "" */
	unsigned port;           /* the SMTP port of MX hosts and relays */
	int tls_policy;          /* default: SMTPC_TLS_* values */
};

struct nexthop {
	enum nexthop_kind kind;
	char name[TBL_DOMAIN_MAX];
	unsigned port;
	int tls_policy;
	const char *why;         /* "mailhost", "routes table", ... */
	char key[TBL_DOMAIN_MAX + 16]; /* groups recipients: "mx:NAME" ... */
};

/*
 * Decides for addr (local@domain). Returns 0, or -1 when addr has no
 * domain or a table is broken (why says so; the caller defers).
 */
int nexthop_for(struct tbl_set *t, const char *addr,
		const struct nexthop_opts *o, struct nexthop *nh);

/* Splits "HOST[:PORT]"; port keeps its value without ":PORT". 0 or -1. */
int nexthop_parse_relay(const char *s, char *host, size_t hostlen,
			unsigned *port);

#endif
