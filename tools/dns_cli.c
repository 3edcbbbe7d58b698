/*
 * dns_cli: option parsing and output of `vdsync dns-mx`; the DNS work is
 * dns_update's. Options take their value as the next argument or after
 * '=' (--port=5353). The contract is in dns_cli.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/dns_cli.h"
#include "tools/dns_update.h"

enum { KEY_FILE_MAX = 16384 };

struct dns_cli_opts {
	struct dns_update_cfg cfg;
	const char *domain;
	int query;
};

static int
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "dns-mx: %s\n", why);
	fprintf(stderr,
		"usage: dns-mx [--server IP] [--port N] [--zone ZONE] "
		"[--mx HOST]\n"
		"              [--pref N] [--ttl N] [--timeout MS]\n"
		"              [--key \"NAME ALG SECRET\" | --key-file FILE] "
		"[--query] DOMAIN\n");
	return 2;
}

/* A decimal in [min, max]; 0 or -1. */
static int
parse_num(const char *s, unsigned long min, unsigned long max,
	  unsigned *val_r)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*val_r = (unsigned)v;
	return 0;
}

static int
copy_arg(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstlen)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static int
read_key_file(struct dns_update_cfg *c, const char *path, char *err,
	      size_t errlen)
{
	char buf[KEY_FILE_MAX];
	size_t len = 0;
	ssize_t n = 1;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len,
					      sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0 || len == sizeof(buf)) {
		snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno)
			 : "too large for a key file");
		return -1;
	}
	r = dns_update_parse_key(c, buf, len, err, errlen);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

/* Applies one option with its value; 0, or -1 with err. */
static int
apply(struct dns_cli_opts *o, const char *opt, const char *val, char *err,
      size_t errlen)
{
	struct dns_update_cfg *c = &o->cfg;
	int r = -1;

	if (strcmp(opt, "--server") == 0)
		r = copy_arg(c->server, sizeof(c->server), val);
	else if (strcmp(opt, "--port") == 0)
		r = parse_num(val, 1, 65535, &c->port);
	else if (strcmp(opt, "--zone") == 0)
		r = copy_arg(c->zone, sizeof(c->zone), val);
	else if (strcmp(opt, "--mx") == 0)
		r = copy_arg(c->mx_host, sizeof(c->mx_host), val);
	else if (strcmp(opt, "--pref") == 0)
		r = parse_num(val, 0, 65535, &c->mx_pref);
	else if (strcmp(opt, "--ttl") == 0)
		r = parse_num(val, 0, 0x7FFFFFFFul, &c->ttl);
	else if (strcmp(opt, "--timeout") == 0)
		r = parse_num(val, 1, 600000, &c->timeout_ms);
	else if (strcmp(opt, "--key") == 0)
		return dns_update_parse_key(c, val, strlen(val), err, errlen);
	else if (strcmp(opt, "--key-file") == 0)
		return read_key_file(c, val, err, errlen);
	else {
		snprintf(err, errlen, "unknown option %s", opt);
		return -1;
	}
	if (r < 0)
		snprintf(err, errlen, "bad value for %s: '%s'", opt, val);
	return r;
}

static int
parse_args(struct dns_cli_opts *o, int argc, char **argv, char *err,
	   size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		char opt[32];

		if (strcmp(a, "--query") == 0) {
			o->query = 1;
			continue;
		}
		if (a[0] != '-' || a[1] != '-') {
			if (o->domain != NULL || a[0] == '-') {
				snprintf(err, errlen, "unexpected argument %s",
					 a);
				return -1;
			}
			o->domain = a;
			continue;
		}
		size_t n = eq != NULL ? (size_t)(eq - a) : strlen(a);
		if (n >= sizeof(opt)) {
			snprintf(err, errlen, "unknown option %.40s", a);
			return -1;
		}
		memcpy(opt, a, n);
		opt[n] = '\0';
		if (eq == NULL && i + 1 >= argc) {
			snprintf(err, errlen, "%s needs a value", opt);
			return -1;
		}
		if (apply(o, opt, eq != NULL ? eq + 1 : argv[++i], err,
			  errlen) < 0)
			return -1;
	}
	if (o->domain == NULL) {
		snprintf(err, errlen, "no DOMAIN given");
		return -1;
	}
	if (!o->query && o->cfg.mx_host[0] == '\0') {
		snprintf(err, errlen, "--mx HOST is required for an update");
		return -1;
	}
	return 0;
}

static int
run(const struct dns_cli_opts *o)
{
	const struct dns_update_cfg *c = &o->cfg;
	char err[512], out[8192];

	if (o->query) {
		int n = dns_update_query_mx(c, o->domain, out, sizeof(out), err,
					    sizeof(err));
		if (n < 0) {
			fprintf(stderr, "dns-mx: %s\n", err);
			return 1;
		}
		if (n == 0)
			fprintf(stderr, "dns-mx: %s has no MX records at %s\n",
				o->domain, c->server);
		fputs(out, stdout);
		return 0;
	}
	if (dns_update_mx(c, o->domain, err, sizeof(err)) < 0) {
		fprintf(stderr, "dns-mx: mx %s -> %u %s at %s: %s\n", o->domain,
			c->mx_pref, c->mx_host, c->server, err);
		return 1;
	}
	printf("mx %s -> %u %s at %s: updated\n", o->domain, c->mx_pref,
	       c->mx_host, c->server);
	return 0;
}

int
dns_cli_main(int argc, char **argv)
{
	struct dns_cli_opts o;
	char err[512];
	int rc;

	memset(&o, 0, sizeof(o));
	memcpy(o.cfg.server, "127.0.0.1", sizeof("127.0.0.1"));
	o.cfg.port = 53;
	o.cfg.mx_pref = 10;
	o.cfg.ttl = 3600;
	o.cfg.timeout_ms = 3000;
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
			  strcmp(argv[1], "-h") == 0))
		return usage(NULL);
	if (parse_args(&o, argc, argv, err, sizeof(err)) < 0)
		rc = usage(err);
	else
		rc = run(&o);
	explicit_bzero(&o, sizeof(o));
	fflush(stdout);
	return rc;
}
