#include "cdb/nexthop.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cdb/route.h"
#include "core/util.h"

int
nexthop_parse_relay(const char *s, char *host, size_t hostlen,
		    unsigned *port)
{
	long colon = util_find(s, strlen(s), ':');
	size_t hl = colon < 0 ? strlen(s) : (size_t)colon;
	uint64_t p;

	if (util_copy(host, hostlen, s, hl) < 0 || !tbl_rec_is_domain(host, hl))
		return -1;
	if (colon < 0)
		return 0;
	if (util_parse_u64(s + hl + 1, strlen(s + hl + 1), 65535, &p) < 0 ||
	    p == 0)
		return -1;
	*port = (unsigned)p;
	return 0;
}

static int
tls_policy_of(const char *w, int def)
{
	if (util_is_ieq(w, strlen(w), "may"))
		return 0;
	if (util_is_ieq(w, strlen(w), "encrypt"))
		return 1;
	if (util_is_ieq(w, strlen(w), "verify"))
		return 2;
	return def;
}

/* The routes record of domain or its nearest parent: 1, 0 none, -1. */
static int
find_route(struct tbl_set *t, const char *domain, struct tbl_route *rt)
{
	for (const char *d = domain; d != NULL && *d != '\0';) {
		int rc = tbl_lookup_route(t, d, strlen(d), rt);
		if (rc != 0)
			return rc < 0 ? -1 : 1;
		d = strchr(d, '.');
		if (d != NULL)
			d++;
	}
	return 0;
}

static void
finish(struct nexthop *nh, enum nexthop_kind kind, const char *why)
{
	static const char *const names[] = { "mx", "host", "relay" };

	nh->kind = kind;
	nh->why = why;
	snprintf(nh->key, sizeof(nh->key), "%s:%s:%u", names[kind], nh->name,
		 nh->port);
}

/* Rule 1: a user of ours whose mailHost is another host. */
static int
user_host(struct tbl_set *t, const char *addr, const struct nexthop_opts *o,
	  struct nexthop *nh)
{
	struct route_opts ro = { .hostname = o->hostname, .delimiter = '+' };
	struct route_result r;

	route_rcpt(t, addr, strlen(addr), &ro, &r, NULL, NULL);
	if (r.action == ROUTE_TEMPFAIL && strcmp(r.reason, "table_error") == 0)
		return -1;
	if (r.action != ROUTE_REMOTE)
		return 0;
	util_strlcpy(nh->name, r.mailhost, sizeof(nh->name));
	return 1;
}

int
nexthop_for(struct tbl_set *t, const char *addr, const struct nexthop_opts *o,
	    struct nexthop *nh)
{
	const char *at = strrchr(addr, '@');
	char domain[TBL_DOMAIN_MAX];
	struct tbl_route rt;
	bool have_route;
	int rc;

	memset(nh, 0, sizeof(*nh));
	nh->port = o->port;
	nh->tls_policy = o->tls_policy;
	if (at == NULL || util_copy(domain, sizeof(domain), at + 1,
				    strlen(at + 1)) < 0 || domain[0] == '\0') {
		nh->why = "no domain in the address";
		return -1;
	}
	util_lower(domain, strlen(domain));
	rc = find_route(t, domain, &rt);
	if (rc < 0) {
		nh->why = "routes table unreadable";
		return -1;
	}
	have_route = rc > 0;
	if (have_route)
		nh->tls_policy = tls_policy_of(rt.tls, o->tls_policy);
	rc = user_host(t, addr, o, nh);
	if (rc != 0) {
		if (rc < 0)
			nh->why = "tables unreadable";
		else
			finish(nh, NEXTHOP_HOST, "the user's mailHost");
		return rc < 0 ? -1 : 0;
	}
	if (have_route && rt.relay[0] != '\0' &&
	    nexthop_parse_relay(rt.relay, nh->name, sizeof(nh->name),
				&nh->port) == 0) {
		finish(nh, NEXTHOP_RELAY, "routes table");
		return 0;
	}
	if (o->relay_host != NULL && o->relay_host[0] != '\0' &&
	    nexthop_parse_relay(o->relay_host, nh->name, sizeof(nh->name),
				&nh->port) == 0) {
		finish(nh, NEXTHOP_RELAY, "relay_host");
		return 0;
	}
	util_strlcpy(nh->name, domain, sizeof(nh->name));
	finish(nh, NEXTHOP_MX, "MX lookup");
	return 0;
}
