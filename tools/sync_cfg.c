#include "tools/sync_cfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"

enum kind { K_STR, K_NUM, K_UINT };

struct key {
	const char *name;
	enum kind kind;
	size_t off, size;
};

#define S(f) K_STR, offsetof(struct sync_cfg, f), sizeof(((struct sync_cfg *)0)->f)
#define N(f) K_NUM, offsetof(struct sync_cfg, f), 0
#define U(f) K_UINT, offsetof(struct sync_cfg, f), 0

static const struct key keys[] = {
	{ "uri", S(uri) },
	{ "bind_dn", S(bind_dn) },
	{ "bind_pw", S(bind_pw) },
	{ "base", S(base) },
	{ "filter", S(filter) },
	{ "table_dir", S(table_dir) },
	{ "state_dir", S(state_dir) },
	{ "shrink_limit", N(shrink_limit) },
	{ "shrink_min", U(shrink_min) },
	{ "timeout", N(timeout) },
	{ "follow_delay", N(follow_delay) },
	{ "backoff_max", N(backoff_max) },
	{ "admin_dn", S(admin_dn) },
	{ "admin_pw", S(admin_pw) },
	{ "domain_base", S(domain_base) },
	{ "org_base", S(org_base) },
	{ "mx_host", S(mx_host) },
	{ "mx_pref", U(mx_pref) },
	{ "dns_server", S(dns_server) },
	{ "dns_port", U(dns_port) },
	{ "dns_zone", S(dns_zone) },
	{ "dns_key", S(dns_key) },
};

static void
defaults(struct sync_cfg *c)
{
	memset(c, 0, sizeof(*c));
	util_strlcpy(c->uri, "ldap://127.0.0.1/", sizeof(c->uri));
	util_strlcpy(c->filter, "(objectClass=*)", sizeof(c->filter));
	util_strlcpy(c->table_dir, "/var/lib/vdmail/cdb", sizeof(c->table_dir));
	util_strlcpy(c->state_dir, "/var/lib/vdmail/sync", sizeof(c->state_dir));
	c->shrink_limit = 0.10;
	c->shrink_min = 5;
	c->timeout = 30;
	c->follow_delay = 0.2;
	c->backoff_max = 30;
	c->mx_pref = 10;
	c->dns_port = 53;
}

static int
set_key(struct sync_cfg *c, const struct key *k, const char *v)
{
	char *end;
	char *dst = (char *)c + k->off;

	switch (k->kind) {
	case K_STR:
		return util_strlcpy(dst, v, k->size) < k->size ? 0 : -1;
	case K_NUM: {
		double d = strtod(v, &end);
		if (*v == '\0' || *end != '\0' || d < 0 || d > 1e6)
			return -1;
		/* shrink_limit also takes "10%" */
		memcpy(dst, &d, sizeof(d));
		return 0;
	}
	default: {
		unsigned long u = strtoul(v, &end, 10);
		if (*v == '\0' || *end != '\0' || u > 1000000)
			return -1;
		unsigned x = (unsigned)u;
		memcpy(dst, &x, sizeof(x));
		return 0;
	}
	}
}

static char *
trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
			 s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int
parse_line(struct sync_cfg *c, char *line, char *err, size_t errlen,
	   const char *path, unsigned lineno)
{
	char *s = trim(line), *eq;

	if (*s == '\0' || *s == '#')
		return 0;
	if ((eq = strchr(s, '=')) == NULL) {
		snprintf(err, errlen, "%s:%u: expected key = value", path, lineno);
		return -1;
	}
	*eq = '\0';
	char *name = trim(s), *v = trim(eq + 1);
	size_t vl = strlen(v);
	if (strcmp(name, "shrink_limit") == 0 && vl > 0 && v[vl - 1] == '%') {
		v[vl - 1] = '\0';
		double d = strtod(v, &eq);
		if (*eq != '\0' || d < 0 || d > 100) {
			snprintf(err, errlen, "%s:%u: shrink_limit: a share "
				 "(0.1) or a percentage (10%%)", path, lineno);
			return -1;
		}
		c->shrink_limit = d / 100;
		return 0;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(keys); i++)
		if (strcmp(keys[i].name, name) == 0) {
			if (set_key(c, &keys[i], v) == 0)
				return 0;
			snprintf(err, errlen, "%s:%u: %s: bad value", path,
				 lineno, name);
			return -1;
		}
	snprintf(err, errlen, "%s:%u: unknown key '%s'", path, lineno, name);
	return -1;
}

int
sync_cfg_load(struct sync_cfg *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[4096];
	unsigned lineno = 0;
	struct stat st;

	defaults(c);
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (parse_line(c, line, err, errlen, path, lineno) < 0) {
			fclose(f);
			return -1;
		}
	}
	if (fstat(fileno(f), &st) == 0 &&
	    (c->bind_pw[0] != '\0' || c->admin_pw[0] != '\0') &&
	    (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: holds a password (bind_pw or "
			 "admin_pw) but is readable by others (mode %03o): "
			 "chmod 600 it", path,
			 (unsigned)(st.st_mode & 0777));
		fclose(f);
		return -1;
	}
	fclose(f);
	if (c->base[0] == '\0') {
		snprintf(err, errlen, "%s: base is required", path);
		return -1;
	}
	return 0;
}
