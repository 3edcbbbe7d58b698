#include "tools/vdctl_dir.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "tools/dir_admin.h"
#include "tools/dir_sync.h"
#include "tools/dns_update.h"
#include "tools/sync_cfg.h"

#define PW_MAX 256

static int
usage(void)
{
	fprintf(stderr,
		"usage: vdctl [-s vdsync.conf] [-D DN -y PWFILE] domain add NAME "
		"[--admin DN] [--postmaster ADDR] [--services RULE] [--no-dns] "
		"[--no-sync]\n"
		"       vdctl ... domain suspend|activate|delete NAME\n"
		"       vdctl ... user add|passwd ADDRESS   (password on stdin)\n"
		"       vdctl ... user suspend|activate|delete ADDRESS\n");
	return 2;
}

/* The first line of f, without its line end. 0 or -1. */
static int
read_secret(FILE *f, char *out, size_t outlen)
{
	if (fgets(out, (int)outlen, f) == NULL)
		return -1;
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static const char *
status_word(const char *verb)
{
	if (strcmp(verb, "suspend") == 0)
		return "inactive";
	if (strcmp(verb, "activate") == 0)
		return "active";
	if (strcmp(verb, "delete") == 0)
		return "deleted";
	return NULL;
}

/* Fig. 6 step 606: this host becomes the MX at the primary name server. */
static int
update_dns(const struct sync_cfg *c, const char *hostname, const char *name)
{
	struct dns_update_cfg d;
	char err[512], mx[1024];

	if (c->dns_server[0] == '\0') {
		printf("dns      no dns_server configured: MX of %s not "
		       "updated\n", name);
		return 0;
	}
	memset(&d, 0, sizeof(d));
	util_strlcpy(d.server, c->dns_server, sizeof(d.server));
	d.port = c->dns_port;
	util_strlcpy(d.zone, c->dns_zone, sizeof(d.zone));
	util_strlcpy(d.mx_host, c->mx_host[0] ? c->mx_host : hostname,
		     sizeof(d.mx_host));
	d.mx_pref = c->mx_pref;
	d.ttl = 3600;
	d.timeout_ms = 3000;
	if (c->dns_key[0] != '\0' &&
	    dns_update_parse_key(&d, c->dns_key, strlen(c->dns_key), err,
				 sizeof(err)) < 0) {
		fprintf(stderr, "vdctl: dns_key: %s\n", err);
		return -1;
	}
	if (dns_update_mx(&d, name, err, sizeof(err)) < 0) {
		fprintf(stderr, "vdctl: DNS update of %s at %s: %s\n", name,
			d.server, err);
		return -1;
	}
	int n = dns_update_query_mx(&d, name, mx, sizeof(mx), err, sizeof(err));
	printf("dns      MX of %s at %s:%u: %s", name, d.server, d.port,
	       n > 0 ? mx : "(not answered yet)\n");
	return 0;
}

static int
domain_cmd(struct dadm *a, const struct sync_cfg *c, const char *hostname,
	   int argc, char **argv, bool *sync)
{
	struct dadm_domain_opts o = { NULL, NULL, NULL };
	bool dns = true;
	const char *st;

	if (argc < 2)
		return usage();
	if ((st = status_word(argv[0])) != NULL)
		return argc == 2 && dadm_domain_status(a, argv[1], st) == 0 ? 0
		       : argc == 2 ? 1 : usage();
	if (strcmp(argv[0], "add") != 0)
		return usage();
	for (int i = 2; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--no-dns") == 0)
			dns = false;
		else if (strcmp(argv[i], "--no-sync") == 0)
			*sync = false;
		else if (v != NULL && strcmp(argv[i], "--admin") == 0)
			o.admin = argv[++i];
		else if (v != NULL && strcmp(argv[i], "--postmaster") == 0)
			o.postmaster = argv[++i];
		else if (v != NULL && strcmp(argv[i], "--services") == 0)
			o.services = argv[++i];
		else
			return usage();
	}
	if (dadm_domain_add(a, argv[1], &o) < 0)
		return 1;
	return dns && update_dns(c, hostname, argv[1]) < 0 ? 1 : 0;
}

static int
user_cmd(struct dadm *a, int argc, char **argv, bool *sync)
{
	char pw[PW_MAX];
	const char *st;
	int rc;

	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--no-sync") == 0)
			*sync = false;
		else
			return usage();
	if (argc < 2)
		return usage();
	if ((st = status_word(argv[0])) != NULL)
		return dadm_user_status(a, argv[1], st) == 0 ? 0 : 1;
	if (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "passwd") != 0)
		return usage();
	if (read_secret(stdin, pw, sizeof(pw)) < 0) {
		fprintf(stderr, "vdctl: the password is read from stdin\n");
		return 2;
	}
	rc = argv[0][0] == 'a' ? dadm_user_add(a, argv[1], pw)
			       : dadm_user_passwd(a, argv[1], pw);
	explicit_bzero(pw, sizeof(pw));
	return rc == 0 ? 0 : 1;
}

int
vdctl_dir(const struct vdctl_dir_opts *o, int argc, char **argv)
{
	struct sync_cfg c;
	struct dadm a;
	char err[1200], pw[PW_MAX] = "";
	bool sync = true;
	int rc;

	if (argc < 2)
		return usage();
	if (sync_cfg_load(&c, o->sync_conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "vdctl: %s\n", err);
		return 2;
	}
	if (o->bind_dn != NULL) {
		FILE *f = o->pw_file ? fopen(o->pw_file, "re") : NULL;
		if (f == NULL || read_secret(f, pw, sizeof(pw)) < 0) {
			fprintf(stderr, "vdctl: -D needs -y PWFILE\n");
			if (f != NULL)
				fclose(f);
			return 2;
		}
		fclose(f);
	}
	if (dadm_open(&a, &c, o->bind_dn, o->bind_dn ? pw : NULL, stdout) < 0) {
		fprintf(stderr, "vdctl: %s\n", a.err);
		explicit_bzero(pw, sizeof(pw));
		return 3;
	}
	explicit_bzero(pw, sizeof(pw));
	if (strcmp(argv[0], "domain") == 0)
		rc = domain_cmd(&a, &c, o->hostname, argc - 1, argv + 1, &sync);
	else if (strcmp(argv[0], "user") == 0)
		rc = user_cmd(&a, argc - 1, argv + 1, &sync);
	else
		rc = usage();
	if (rc == 1 && a.err[0] != '\0')
		fprintf(stderr, "vdctl: %s\n", a.err);
	dadm_close(&a);
	if (rc == 0 && sync)
		rc = dsync_run(&c, DSYNC_INCREMENTAL, false);
	return rc;
}
