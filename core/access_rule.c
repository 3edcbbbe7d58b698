/*
 * access_rule: the evaluator of Sun's service-access rule strings
 * (mailDomainAllowedServiceAccess, mailAllowedServiceAccess), the half of
 * core/access (see access.h) that needs no table: a rule and a client
 * address in, allowed or not out. Pure.
 */
#include "core/access.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/util.h"

/*
 * The service-access rules (Sun Messaging Server's admin guide as
 * summarised in schema.md 1.5; client lists as tcp_wrappers'
 * hosts_access(5)). Every pattern is matched on the client's address
 * alone: vdmail does no reverse DNS on the login path (a lookup per login
 * would block the loop and hand the answer to whoever runs the PTR zone),
 * so host names, ".domain" suffixes and @netgroups never match, and of
 * the name wildcards only UNKNOWN (no name is known) matches.
 * Addresses are compared in IPv6 form, IPv4 as ::ffff:a.b.c.d (RFC 4291
 * 2.5.5.2), so a v4 pattern matches a v4-mapped client and the reverse.
 */

enum match { M_BAD = -1, M_NO = 0, M_YES = 1 };

struct span {
	const char *p;
	size_t n;
};

/* An address pattern: a (masked) network in IPv6 form. */
struct net {
	unsigned char a[16], m[16];
};

typedef enum match tok_match_fn(const char *s, size_t n, const void *arg);

static const char *const service_names[] = {
	[ACCESS_SMTP] = "smtp", [ACCESS_SMTPS] = "smtps",
	[ACCESS_POP] = "pop",   [ACCESS_POPS] = "pops",
	[ACCESS_IMAP] = "imap", [ACCESS_IMAPS] = "imaps",
};

const char *
access_service_name(enum access_service s)
{
	if ((unsigned)s >= UTIL_ARRAY_LEN(service_names))
		return "unknown";
	return service_names[s];
}

static bool
is_sep(char c, const char *seps)
{
	return c != '\0' && strchr(seps, c) != NULL;
}

/* The next token of *s between separators; false at the end. */
static bool
next_tok(struct span *s, const char *seps, struct span *tok)
{
	while (s->n > 0 && is_sep(*s->p, seps)) {
		s->p++;
		s->n--;
	}
	if (s->n == 0)
		return false;
	tok->p = s->p;
	while (s->n > 0 && !is_sep(*s->p, seps)) {
		s->p++;
		s->n--;
	}
	tok->n = (size_t)(s->p - tok->p);
	return true;
}

static bool
all_of(const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return false;
	return true;
}

static bool
any_of(const char *s, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\0' && strchr(set, s[i]) != NULL)
			return true;
	return false;
}

#define DIGITS "0123456789"
#define ALNUM DIGITS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

static void
map_v4(unsigned char a[16], const unsigned char v4[4])
{
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
	memcpy(a + 12, v4, 4);
}

static void
prefix_mask(unsigned char m[16], unsigned bits)
{
	for (unsigned i = 0; i < 16; i++, bits = bits > 8 ? bits - 8 : 0)
		m[i] = bits >= 8 ? 0xff : (unsigned char)(0xff00u >> bits);
}

/* An address of n bytes: dotted quad, IPv6, or [IPv6] (tcp_wrappers). */
static bool
parse_addr(const char *s, size_t n, unsigned char a[16], bool *v4_r)
{
	char buf[INET6_ADDRSTRLEN];
	unsigned char v4[4];
	bool bracket = n >= 2 && s[0] == '[' && s[n - 1] == ']';

	if (bracket) {
		s++;
		n -= 2;
	}
	if (util_copy(buf, sizeof(buf), s, n) < 0 || strlen(buf) != n)
		return false;
	*v4_r = !bracket && inet_pton(AF_INET, buf, v4) == 1;
	if (*v4_r) {
		map_v4(a, v4);
		return true;
	}
	return inet_pton(AF_INET6, buf, a) == 1;
}

/* ADDR, ADDR/LEN (CIDR, v4 or v6) or ADDR/MASK (dotted, v4 only). */
static enum match
parse_cidr(const char *s, size_t n, struct net *net)
{
	long slash = util_find(s, n, '/');
	size_t an = slash < 0 ? n : (size_t)slash;
	const char *ms = s + an + 1;
	size_t mn = slash < 0 ? 0 : n - an - 1;
	unsigned char m[16];
	uint64_t bits = 128;
	bool v4, mv4;

	if (!parse_addr(s, an, net->a, &v4))
		return M_BAD;
	if (slash >= 0 && v4 && util_find(ms, mn, '.') >= 0) {
		if (!parse_addr(ms, mn, m, &mv4) || !mv4)
			return M_BAD;
		memcpy(net->m, m, 16); /* ::ffff:MASK: the first 96 bits kept */
		memset(net->m, 0xff, 12);
		return M_YES;
	}
	if (slash >= 0) {
		if (util_parse_u64(ms, mn, v4 ? 32 : 128, &bits) < 0)
			return M_BAD;
		bits += v4 ? 96 : 0;
	}
	prefix_mask(net->m, (unsigned)bits);
	return M_YES;
}

/* "192.168.": one to three octets and a dot (hosts_access(5)). */
static enum match
parse_v4_prefix(const char *s, size_t n, struct net *net)
{
	unsigned char v4[4] = { 0 };
	unsigned octets = 0;
	struct span rest = { s, n }, tok;

	/* Empty octets ("10..") are caught by the count of dots. */
	while (next_tok(&rest, ".", &tok)) {
		uint64_t v;
		if (octets == 3 || util_parse_u64(tok.p, tok.n, 255, &v) < 0 ||
		    (tok.n > 1 && tok.p[0] == '0'))
			return M_BAD;
		v4[octets++] = (unsigned char)v;
	}
	size_t dots = 0;
	for (size_t i = 0; i < n; i++)
		dots += s[i] == '.';
	if (octets == 0 || dots != octets || s[0] == '.')
		return M_BAD;
	map_v4(net->a, v4);
	prefix_mask(net->m, 96 + 8 * octets);
	return M_YES;
}

/* M_YES: an address pattern in *net; M_NO: a host name; M_BAD: junk. */
static enum match
parse_net(const char *s, size_t n, struct net *net)
{
	/* A host name never holds ':', '[' or '/': these are addresses. */
	if (any_of(s, n, ":[/"))
		return parse_cidr(s, n, net);
	if (all_of(s, n, DIGITS "."))
		return s[n - 1] == '.' ? parse_v4_prefix(s, n, net)
				       : parse_cidr(s, n, net);
	/* Host names, ".domain", "*.domain", @netgroup: need DNS or NIS. */
	return all_of(s, n, ALNUM "-_.*?@") ? M_NO : M_BAD;
}

static bool
net_has(const struct net *net, const unsigned char a[16])
{
	for (unsigned i = 0; i < 16; i++)
		if ((a[i] & net->m[i]) != (net->a[i] & net->m[i]))
			return false;
	return true;
}

static enum match
client_match(const char *s, size_t n, const void *arg)
{
	const unsigned char *ca = arg; /* NULL: no address known */
	struct net net;
	enum match m;

	/* UNKNOWN: a host whose name is unknown, which is every host here. */
	if (util_is_ieq(s, n, "ALL") || util_is_ieq(s, n, "*") ||
	    util_is_ieq(s, n, "UNKNOWN"))
		return M_YES;
	/* LOCAL (a name without a dot), KNOWN (name and address known),
	 * PARANOID and Sun's DNSSPOOFER (name and address disagree) are
	 * questions about names: never true without reverse DNS. */
	if (util_is_ieq(s, n, "LOCAL") || util_is_ieq(s, n, "KNOWN") ||
	    util_is_ieq(s, n, "PARANOID") || util_is_ieq(s, n, "DNSSPOOFER"))
		return M_NO;
	m = parse_net(s, n, &net);
	if (m != M_YES)
		return m;
	return ca != NULL && net_has(&net, ca) ? M_YES : M_NO;
}

/* Sun's names (imap, pop, http, smime, https...), or * / ALL. */
static enum match
service_match(const char *s, size_t n, const void *arg)
{
	if (util_is_ieq(s, n, "ALL") || util_is_ieq(s, n, "*"))
		return M_YES;
	if (!all_of(s, n, ALNUM "-"))
		return M_BAD;
	return util_is_ieq(s, n, arg) ? M_YES : M_NO;
}

/*
 * A list with tcp_wrappers' EXCEPT (hosts_access(5) list_match): "A EXCEPT
 * B" matches what A matches and B does not, and EXCEPT nests to the
 * right: "A EXCEPT B EXCEPT C" is A and not (B and not C). Over segments
 * S0..Sk that is decided by the first segment without a match: at an odd
 * index the list matches, at an even one it does not; when every segment
 * matches, it matches for an even k. So one pass, no recursion.
 * An empty list or segment (EXCEPT first, last or twice) is malformed.
 */
static enum match
list_match(struct span list, const char *seps, tok_match_fn *fn,
	   const void *arg)
{
	struct span tok;
	long seg = 0, miss = -1;
	bool hit = false, empty = true;

	while (next_tok(&list, seps, &tok)) {
		if (util_is_ieq(tok.p, tok.n, "EXCEPT")) {
			if (empty)
				return M_BAD;
			if (!hit && miss < 0)
				miss = seg;
			seg++;
			hit = false;
			empty = true;
			continue;
		}
		enum match m = fn(tok.p, tok.n, arg);
		if (m == M_BAD)
			return M_BAD;
		empty = false;
		hit = hit || m == M_YES;
	}
	if (empty)
		return M_BAD;
	if (!hit && miss < 0)
		miss = seg;
	if (miss < 0)
		return seg % 2 == 0 ? M_YES : M_NO;
	return miss % 2 == 1 ? M_YES : M_NO;
}

struct tally {
	bool allow, deny;         /* rules of each kind exist */
	bool allow_hit, deny_hit; /* one of them matched */
};

/* One "+services:clients" or "-services:clients"; M_BAD if malformed. */
static enum match
one_rule(struct span r, const char *svc, const unsigned char *ca,
	 struct tally *t)
{
	while (r.n > 0 && (r.p[r.n - 1] == ' ' || r.p[r.n - 1] == '\t'))
		r.n--;
	while (r.n > 0 && (r.p[0] == ' ' || r.p[0] == '\t')) {
		r.p++;
		r.n--;
	}
	if (r.n == 0)
		return M_NO; /* "a$$b" or a trailing '$': no rule */
	if (r.p[0] != '+' && r.p[0] != '-')
		return M_BAD;
	/* The first ':' ends the services; IPv6 clients hold more. */
	long colon = util_find(r.p + 1, r.n - 1, ':');
	if (colon < 0)
		return M_BAD;
	struct span svcs = { r.p + 1, (size_t)colon };
	struct span clients = { r.p + 2 + colon, r.n - 2 - (size_t)colon };
	enum match ms = list_match(svcs, ", \t", service_match, svc);
	enum match mc = list_match(clients, ", \t", client_match, ca);
	if (ms == M_BAD || mc == M_BAD)
		return M_BAD;
	bool hit = ms == M_YES && mc == M_YES;
	if (r.p[0] == '+') {
		t->allow = true;
		t->allow_hit = t->allow_hit || hit;
	} else {
		t->deny = true;
		t->deny_hit = t->deny_hit || hit;
	}
	return M_YES;
}

static bool
client_addr(const struct sockaddr_storage *ss, unsigned char a[16])
{
	if (ss == NULL)
		return false;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in =
			(const struct sockaddr_in *)(const void *)ss;
		map_v4(a, (const unsigned char *)&in->sin_addr);
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
			(const struct sockaddr_in6 *)(const void *)ss;
		memcpy(a, in6->sin6_addr.s6_addr, 16);
		return true;
	}
	return false;
}

int
access_rule_allows(const char *rule, size_t len, enum access_service svc,
		   const struct sockaddr_storage *client)
{
	unsigned char a[16];
	const unsigned char *ca = client_addr(client, a) ? a : NULL;
	struct span all = { rule, rule == NULL ? 0 : len }, r;
	struct tally t = { false, false, false, false };

	/* Every rule is read before deciding: a malformed one anywhere denies,
	 * so a typo fails closed rather than opening what it meant to close. */
	while (next_tok(&all, "$", &r))
		if (one_rule(r, access_service_name(svc), ca, &t) == M_BAD)
			return 0;
	/* Sun: a matching allow grants, else a matching deny denies, else
	 * grant, except that allow rules without any deny rule deny. */
	if (t.allow_hit)
		return 1;
	if (t.deny_hit)
		return 0;
	return !(t.allow && !t.deny);
}
