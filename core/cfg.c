#include "core/cfg.h"

#include "cdb/tbl_rec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

enum cfg_type { T_STR, T_PATH, T_UINT, T_SIZE, T_SECS, T_BOOL, T_QUOTA };

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t off;
	size_t size; /* T_STR/T_PATH: buffer size */
	uint64_t min, max;
};

#define K(n, t, f, lo, hi)                                                  \
	{ n, t, offsetof(struct cfg, f), sizeof(((struct cfg *)0)->f), lo, hi }

static const struct cfg_key cfg_keys[] = {
	K("hostname", T_STR, hostname, 1, 0),
	K("table_dir", T_PATH, table_dir, 1, 0),
	K("spool_dir", T_PATH, spool_dir, 1, 0),
	K("store_dir", T_PATH, store_dir, 1, 0),
	K("pid_file", T_PATH, pid_file, 0, 0),
	K("user", T_STR, user, 0, 0),
	K("postmaster", T_STR, postmaster, 1, 0),
	K("recipient_delimiter", T_STR, recipient_delimiter, 0, 0),
	K("tls_cert", T_PATH, tls_cert, 0, 0),
	K("tls_key", T_PATH, tls_key, 0, 0),
	K("max_connections", T_UINT, max_connections, 1, 1000000),
	K("max_connections_per_ip", T_UINT, max_connections_per_ip, 1, 1000000),
	K("message_size_limit", T_SIZE, message_size_limit, 1024,
	  UINT64_C(1) << 40),
	K("max_recipients", T_UINT, max_recipients, 100, 100000),
	K("max_errors", T_UINT, max_errors, 1, 1000),
	K("timeout_command", T_SECS, timeout_command, 1, 86400),
	K("timeout_pop3", T_SECS, timeout_pop3, 1, 86400),
	K("timeout_data", T_SECS, timeout_data, 1, 86400),
	K("timeout_tls", T_SECS, timeout_tls, 1, 3600),
	K("shutdown_grace", T_SECS, shutdown_grace, 0, 3600),
	K("table_check_interval", T_SECS, table_check_interval, 0, 60),
	K("default_quota", T_QUOTA, default_quota, 0, 0),
	K("default_msg_quota", T_QUOTA, default_msg_quota, 0, 0),
	K("queue_retry_min", T_UINT, queue_retry_min, 1, 86400),
	K("queue_retry_max", T_UINT, queue_retry_max, 1, 7 * 86400),
	K("delivery_batch", T_UINT, delivery_batch, 1, 256),
	K("delivery_wait", T_SECS, delivery_wait, 0, 10),
	K("sync_method", T_STR, sync_method, 1, 0),
	K("sync_config", T_PATH, sync_config, 0, 0),
	K("auth_workers", T_UINT, auth_workers, 1, 16),
	K("auth_queue", T_UINT, auth_queue, 1, 10000),
	K("auth_timeout", T_SECS, auth_timeout, 1, 600),
	K("auth_plain", T_BOOL, auth_plain, 0, 0),
	K("login_plaintext", T_STR, login_plaintext, 1, 0),
	K("sync_program", T_PATH, sync_program, 0, 0),
	K("dns_servers", T_STR, dns_servers, 0, 0),
	K("dns_timeout", T_SECS, dns_timeout, 0, 60),
	K("outbound_port", T_UINT, outbound_port, 1, 65535),
	K("relay_host", T_STR, relay_host, 0, 0),
	K("outbound_tls", T_STR, outbound_tls, 1, 0),
	K("tls_ca_file", T_PATH, tls_ca_file, 0, 0),
	K("outbound_concurrency", T_UINT, outbound_concurrency, 1, 10000),
	K("outbound_dest_concurrency", T_UINT, outbound_dest_concurrency, 1,
	  1000),
	K("outbound_rcpt_max", T_UINT, outbound_rcpt_max, 1, 1000),
	K("timeout_connect", T_SECS, timeout_connect, 0, 3600),
	K("timeout_smtp_out", T_SECS, timeout_smtp_out, 0, 86400),
	K("outbound_idle", T_SECS, outbound_idle, 0, 300),
	K("queue_lifetime", T_SECS, queue_lifetime, 0, 60 * 86400),
	K("delay_warning", T_SECS, delay_warning, 0, 60 * 86400),
	K("program_user", T_STR, program_user, 1, 0),
	K("program_timeout", T_SECS, program_timeout, 0, 86400),
	K("file_dir", T_PATH, file_dir, 0, 0),
	K("log_syslog", T_BOOL, log_syslog, 0, 0),
	K("log_debug", T_BOOL, log_debug, 0, 0),
};

void
cfg_defaults(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	if (gethostname(c->hostname, sizeof(c->hostname)) < 0 ||
	    c->hostname[0] == '\0')
		util_strlcpy(c->hostname, "localhost", sizeof(c->hostname));
	c->hostname[sizeof(c->hostname) - 1] = '\0';
	c->auth_workers = 2;
	c->auth_queue = 32;
	c->auth_timeout = 10;
	util_strlcpy(c->login_plaintext, "loopback", sizeof(c->login_plaintext));
	util_strlcpy(c->table_dir, "/var/lib/vdmail/cdb", sizeof(c->table_dir));
	util_strlcpy(c->spool_dir, "/var/spool/vdmail", sizeof(c->spool_dir));
	util_strlcpy(c->store_dir, "/var/lib/vdmail/store",
		     sizeof(c->store_dir));
	util_fmt(c->postmaster, sizeof(c->postmaster), "postmaster@%s",
		 c->hostname);
	util_strlcpy(c->recipient_delimiter, "+", sizeof(c->recipient_delimiter));
	c->max_connections = 1000;
	c->max_connections_per_ip = 20;
	c->message_size_limit = 25 * 1024 * 1024;
	c->max_recipients = 100;
	c->max_errors = 10;
	c->timeout_command = 300;
	c->timeout_pop3 = 600;
	c->timeout_data = 300;
	c->timeout_tls = 60;
	c->shutdown_grace = 30;
	c->table_check_interval = 0.5;
	c->default_quota = TBL_QUOTA_NONE;
	c->default_msg_quota = TBL_QUOTA_NONE;
	c->queue_retry_min = 60;
	c->queue_retry_max = 3600;
	c->delivery_batch = 64;
	c->delivery_wait = 0.01;
	util_strlcpy(c->sync_method, "syncfs", sizeof(c->sync_method));
	c->dns_timeout = 5;
	c->outbound_port = 25;
	util_strlcpy(c->outbound_tls, "may", sizeof(c->outbound_tls));
	c->outbound_concurrency = 100;
	c->outbound_dest_concurrency = 20;
	c->outbound_rcpt_max = 100;
	c->timeout_connect = 30;
	c->timeout_smtp_out = 300;
	c->outbound_idle = 2;
	c->queue_lifetime = 5 * 86400;
	util_strlcpy(c->program_user, "nobody", sizeof(c->program_user));
	c->program_timeout = 60;
}

struct parse {
	struct cfg *c;
	const char *file;
	char dir[CFG_PATH_MAX];
	unsigned long line;
	char *err;
	size_t errlen;
};

static int
perr(struct parse *p, const char *what, const char *detail)
{
	snprintf(p->err, p->errlen, "%s:%lu: %s%s%s", p->file, p->line, what,
		 detail ? ": " : "", detail ? detail : "");
	return -1;
}

static int
set_path(struct parse *p, char *dst, size_t size, const char *v)
{
	int rc;

	if (v[0] == '/' || v[0] == '\0')
		rc = util_copy(dst, size, v, strlen(v));
	else
		rc = util_path_join(dst, size, p->dir, v);
	return rc < 0 ? perr(p, "path too long", v) : 0;
}

static int
parse_sockaddr(const char *s, struct sockaddr_storage *sa, socklen_t *len)
{
	char host[64];
	const char *colon;
	uint64_t port;

	memset(sa, 0, sizeof(*sa));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':' ||
		    util_copy(host, sizeof(host), s + 1, (size_t)(rb - s - 1)))
			return -1;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL ||
		    util_copy(host, sizeof(host), s, (size_t)(colon - s)))
			return -1;
	}
	if (util_parse_u64(colon + 1, strlen(colon + 1), 65535, &port) < 0 ||
	    port == 0)
		return -1;
	struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
	return -1;
}

/* "listen = smtp|submission|pop3 ADDR:PORT [tls] [domain=NAME]" */
static int
parse_listen(struct parse *p, char *v)
{
	struct cfg_listen *l;
	char *proto = strtok(v, " \t"), *addr = strtok(NULL, " \t"), *opt;

	if (p->c->nlisten == CFG_LISTEN_MAX)
		return perr(p, "too many listen lines", NULL);
	l = &p->c->listen[p->c->nlisten];
	memset(l, 0, sizeof(*l));
	if (proto == NULL || addr == NULL)
		return perr(p, "expected: listen = smtp|submission|pop3 "
			    "ADDRESS:PORT [tls] "
			    "[domain=NAME]", NULL);
	if (strcmp(proto, "smtp") == 0)
		l->proto = CFG_PROTO_SMTP;
	else if (strcmp(proto, "submission") == 0)
		l->proto = CFG_PROTO_SUBMISSION;
	else if (strcmp(proto, "pop3") == 0)
		l->proto = CFG_PROTO_POP3;
	else
		return perr(p, "unknown listener protocol", proto);
	while ((opt = strtok(NULL, " \t")) != NULL) {
		if (strcmp(opt, "tls") == 0) {
			l->implicit_tls = true;
		} else if (strncmp(opt, "domain=", 7) == 0 &&
			   tbl_rec_is_domain(opt + 7, strlen(opt + 7))) {
			util_strlcpy(l->domain, opt + 7, sizeof(l->domain));
		} else {
			return perr(p, "unknown listener option", opt);
		}
	}
	if (parse_sockaddr(addr, &l->sa, &l->salen) < 0)
		return perr(p, "bad address (use 1.2.3.4:25 or [::1]:25)",
			    addr);
	util_strlcpy(l->text, addr, sizeof(l->text));
	p->c->nlisten++;
	return 0;
}

/* "tls_sni = NAME CERTFILE KEYFILE" */
static int
parse_sni(struct parse *p, char *v)
{
	struct cfg_cert *ce;
	char *name = strtok(v, " \t"), *cert = strtok(NULL, " \t");
	char *key = strtok(NULL, " \t");

	if (p->c->ncerts == CFG_CERT_MAX)
		return perr(p, "too many tls_sni lines", NULL);
	if (name == NULL || cert == NULL || key == NULL ||
	    strtok(NULL, " \t") != NULL)
		return perr(p, "expected: tls_sni = NAME CERTFILE KEYFILE",
			    NULL);
	ce = &p->c->certs[p->c->ncerts];
	util_lower(name, strlen(name));
	if (!tbl_rec_is_domain(name, strlen(name)) ||
	    util_copy(ce->name, sizeof(ce->name), name, strlen(name)) < 0)
		return perr(p, "bad domain name", name);
	if (set_path(p, ce->cert, sizeof(ce->cert), cert) < 0 ||
	    set_path(p, ce->key, sizeof(ce->key), key) < 0)
		return -1;
	p->c->ncerts++;
	return 0;
}

static bool
is_program_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 32 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* "program = NAME PATH [ARG...]" */
static int
parse_program(struct parse *p, char *v)
{
	struct cfg_program *pr;
	char *name = strtok(v, " \t"), *path = strtok(NULL, " \t"), *a;

	if (p->c->nprograms == CFG_PROGRAM_MAX)
		return perr(p, "too many program lines", NULL);
	if (name == NULL || path == NULL)
		return perr(p, "expected: program = NAME PATH [ARG...]", NULL);
	if (!is_program_name(name))
		return perr(p, "program name: lower-case letters, digits, "
			    "'-' and '_'", name);
	if (path[0] != '/')
		return perr(p, "program path must be absolute", path);
	for (unsigned i = 0; i < p->c->nprograms; i++)
		if (strcmp(p->c->programs[i].name, name) == 0)
			return perr(p, "program named twice", name);
	pr = &p->c->programs[p->c->nprograms];
	memset(pr, 0, sizeof(*pr));
	util_strlcpy(pr->name, name, sizeof(pr->name));
	if (util_copy(pr->path, sizeof(pr->path), path, strlen(path)) < 0)
		return perr(p, "program path too long", path);
	while ((a = strtok(NULL, " \t")) != NULL) {
		if (pr->nargs == CFG_PROGRAM_ARGS ||
		    util_copy(pr->args[pr->nargs], sizeof(pr->args[0]), a,
			      strlen(a)) < 0)
			return perr(p, "too many or too long program arguments",
				    a);
		pr->nargs++;
	}
	p->c->nprograms++;
	return 0;
}

static int
parse_secs(const char *v, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || d != d)
		return -1;
	/* queue_lifetime = 5d reads better than 432000 */
	if (end[0] != '\0' && end[1] == '\0' && strchr("smhd", end[0])) {
		static const double mult[] = { 1, 60, 3600, 86400 };
		d *= mult[strchr("smhd", end[0]) - "smhd"];
		end++;
	}
	if (*end != '\0')
		return -1;
	*out = d;
	return 0;
}

static int
set_key(struct parse *p, const struct cfg_key *k, char *v)
{
	char *dst = (char *)p->c + k->off;
	uint64_t u;
	double d;
	int64_t q;

	switch (k->type) {
	case T_STR:
		if (strlen(v) < k->min)
			return perr(p, "empty value", k->name);
		if (util_copy(dst, k->size, v, strlen(v)) < 0)
			return perr(p, "value too long", k->name);
		return 0;
	case T_PATH:
		if (strlen(v) < k->min)
			return perr(p, "empty value", k->name);
		return set_path(p, dst, k->size, v);
	case T_UINT:
		if (util_parse_u64(v, strlen(v), k->max, &u) < 0 || u < k->min)
			return perr(p, "number out of range", k->name);
		*(unsigned *)(void *)dst = (unsigned)u;
		return 0;
	case T_SIZE:
		if (util_parse_size(v, strlen(v), &q) < 0 || q < 0 ||
		    (uint64_t)q < k->min || (uint64_t)q > k->max)
			return perr(p, "size out of range", k->name);
		*(uint64_t *)(void *)dst = (uint64_t)q;
		return 0;
	case T_QUOTA:
		if (util_parse_size(v, strlen(v), &q) < 0)
			return perr(p, "expected a size or -1", k->name);
		*(int64_t *)(void *)dst = q;
		return 0;
	case T_SECS:
		if (parse_secs(v, &d) < 0 || d < (double)k->min ||
		    d > (double)k->max)
			return perr(p, "seconds out of range", k->name);
		*(double *)(void *)dst = d;
		return 0;
	case T_BOOL:
		if (strcmp(v, "yes") == 0)
			*(bool *)(void *)dst = true;
		else if (strcmp(v, "no") == 0)
			*(bool *)(void *)dst = false;
		else
			return perr(p, "expected yes or no", k->name);
		return 0;
	}
	return perr(p, "internal: bad key type", k->name);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
			 e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static int
parse_line(struct parse *p, char *line)
{
	char *s = trim(line), *eq, *key, *val;

	if (*s == '\0' || *s == '#')
		return 0;
	eq = strchr(s, '=');
	if (eq == NULL)
		return perr(p, "expected key = value", NULL);
	*eq = '\0';
	key = trim(s);
	val = trim(eq + 1);
	if (strcmp(key, "listen") == 0)
		return parse_listen(p, val);
	if (strcmp(key, "tls_sni") == 0)
		return parse_sni(p, val);
	if (strcmp(key, "program") == 0)
		return parse_program(p, val);
	for (size_t i = 0; i < UTIL_ARRAY_LEN(cfg_keys); i++)
		if (strcmp(key, cfg_keys[i].name) == 0)
			return set_key(p, &cfg_keys[i], val);
	return perr(p, "unknown key", key);
}

static int
check_cfg(struct parse *p)
{
	struct cfg *c = p->c;

	p->line = 0;
	if (c->queue_retry_max < c->queue_retry_min)
		return perr(p, "queue_retry_max is below queue_retry_min", NULL);
	if (strcmp(c->sync_method, "syncfs") != 0 &&
	    strcmp(c->sync_method, "fsync") != 0)
		return perr(p, "sync_method must be syncfs or fsync", NULL);
	if (strcmp(c->login_plaintext, "no") != 0 &&
	    strcmp(c->login_plaintext, "loopback") != 0 &&
	    strcmp(c->login_plaintext, "yes") != 0)
		return perr(p, "login_plaintext must be no, loopback or yes",
			    NULL);
	if (strcmp(c->outbound_tls, "may") != 0 &&
	    strcmp(c->outbound_tls, "encrypt") != 0 &&
	    strcmp(c->outbound_tls, "verify") != 0 &&
	    strcmp(c->outbound_tls, "none") != 0)
		return perr(p, "outbound_tls must be none, may, encrypt or "
			    "verify", NULL);
	if ((c->tls_cert[0] == '\0') != (c->tls_key[0] == '\0'))
		return perr(p, "tls_cert and tls_key go together", NULL);
	if (c->ncerts > 0 && c->tls_cert[0] == '\0')
		return perr(p, "tls_sni needs a default tls_cert", NULL);
	for (unsigned i = 0; i < c->nlisten; i++)
		if (c->listen[i].implicit_tls && c->tls_cert[0] == '\0')
			return perr(p, "a tls listener needs tls_cert", NULL);
	util_lower(c->hostname, strlen(c->hostname));
	util_lower(c->postmaster, strlen(c->postmaster));
	return 0;
}

int
cfg_load(struct cfg *c, const char *path, char *err, size_t errlen)
{
	struct parse p = { .c = c, .file = path, .err = err, .errlen = errlen };
	char tmp[CFG_PATH_MAX], line[4096];
	FILE *f;
	int rc = 0;

	cfg_defaults(c);
	if (util_strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp) ||
	    util_strlcpy(c->path, path, sizeof(c->path)) >= sizeof(c->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	/* Absolute, so the paths stay right whatever the working directory. */
	char *rp = realpath(dirname(tmp), NULL);
	if (rp == NULL || util_strlcpy(p.dir, rp, sizeof(p.dir)) >= sizeof(p.dir)) {
		snprintf(err, errlen, "%s: %s", path,
			 rp ? "path too long" : strerror(errno));
		free(rp);
		return -1;
	}
	free(rp);
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		p.line++;
		if (strchr(line, '\n') == NULL && !feof(f))
			rc = perr(&p, "line too long", NULL);
		else
			rc = parse_line(&p, line);
	}
	fclose(f);
	if (rc == 0)
		rc = check_cfg(&p);
	return rc;
}
