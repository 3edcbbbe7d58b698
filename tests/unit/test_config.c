/* cfg: keys, defaults, listeners, paths and the errors a bad file gets. */
#include <stdio.h>
#include <stdlib.h>

#include "core/cfg.h"
#include "tests/unit/t.h"

static int
load(const char *text, struct cfg *c, char *err, size_t errlen)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/vdmaild.conf", t_tmpdir());
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return cfg_load(c, path, err, errlen);
}

T_TEST(cfg_defaults_and_keys)
{
	struct cfg *c = malloc(sizeof(*c));
	char err[512], want[600];

	T_EQ_INT(load("# comment\n\nhostname = MX.Example.COM\n"
		      "table_dir = tables\nspool_dir = /var/x\n"
		      "message_size_limit = 10M\nmax_recipients = 500\n"
		      "timeout_command = 1.5\nlog_debug = yes\n"
		      "default_quota = -1\ndefault_msg_quota = 2K\n"
		      "sync_method = fsync\nrecipient_delimiter =\n",
		      c, err, sizeof(err)), 0);
	T_EQ_STR(c->hostname, "mx.example.com");
	snprintf(want, sizeof(want), "%s/tables", t_tmpdir());
	/* Relative paths are relative to the file's directory (absolute). */
	char *real = realpath(t_tmpdir(), NULL);
	snprintf(want, sizeof(want), "%s/tables", real);
	free(real);
	T_EQ_STR(c->table_dir, want);
	T_EQ_STR(c->spool_dir, "/var/x");
	T_ASSERT(c->message_size_limit == 10 * 1024 * 1024);
	T_EQ_INT(c->max_recipients, 500);
	T_ASSERT(c->timeout_command == 1.5);
	T_ASSERT(c->log_debug);
	T_EQ_INT(c->default_quota, -1);
	T_EQ_INT(c->default_msg_quota, 2048);
	T_EQ_STR(c->sync_method, "fsync");
	T_EQ_STR(c->recipient_delimiter, "");
	T_EQ_INT(c->max_errors, 10); /* untouched: the default */
	free(c);
}

T_TEST(cfg_listeners)
{
	struct cfg *c = malloc(sizeof(*c));
	char err[512];

	T_EQ_INT(load("listen = smtp 127.0.0.1:2525\n"
		      "listen = smtp [::1]:2525\n"
		      "listen = smtp 0.0.0.0:465 tls\n"
		      "tls_cert = c.pem\ntls_key = k.pem\n"
		      "tls_sni = Example.NET n.pem n.key\n", c, err, sizeof(err)),
		 0);
	T_EQ_INT(c->nlisten, 3);
	T_EQ_INT(c->listen[0].sa.ss_family, AF_INET);
	T_EQ_INT(c->listen[1].sa.ss_family, AF_INET6);
	T_ASSERT(!c->listen[0].implicit_tls && c->listen[2].implicit_tls);
	T_EQ_INT(c->ncerts, 1);
	T_EQ_STR(c->certs[0].name, "example.net");
	free(c);
}

T_TEST(cfg_errors_name_the_line)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "no_such_key = 1\n", ":1: unknown key" },
		{ "\nmax_errors = many\n", ":2: number out of range" },
		{ "max_recipients = 99\n", ":1: number out of range" },
		{ "timeout_data = -3\n", ":1: seconds out of range" },
		{ "log_debug = maybe\n", ":1: expected yes or no" },
		{ "message_size_limit = 1\n", ":1: size out of range" },
		{ "just words\n", ":1: expected key = value" },
		{ "listen = smtp 127.0.0.1\n", ":1: bad address" },
		{ "listen = smtp 127.0.0.1:0\n", ":1: bad address" },
		{ "listen = smtp 127.0.0.1:70000\n", ":1: bad address" },
		{ "listen = smtp [::1:25\n", ":1: bad address" },
		{ "listen = imap 127.0.0.1:143\n", ":1: unknown listener" },
		{ "listen = pop3 127.0.0.1:110 domain=Bad..name\n", ":1: unknown listener option" },
		{ "login_plaintext = sometimes\n", "login_plaintext" },
		{ "listen = smtp 127.0.0.1:25 starttls\n", ":1: unknown listener "
		  "option" },
		{ "tls_sni = example.net c.pem\n", ":1: expected: tls_sni" },
		{ "tls_cert = c.pem\n", "tls_cert and tls_key go together" },
		{ "listen = smtp 127.0.0.1:465 tls\n", "needs tls_cert" },
		{ "sync_method = never\n", "sync_method must be" },
		{ "queue_retry_min = 100\nqueue_retry_max = 10\n",
		  "below queue_retry_min" },
	};
	struct cfg *c = malloc(sizeof(*c));
	char err[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (load(bad[i].text, c, err, sizeof(err)) != -1)
			t_fail(__FILE__, __LINE__, "accepted: %s", bad[i].text);
		if (strstr(err, bad[i].want) == NULL)
			t_fail(__FILE__, __LINE__, "%s: \"%s\" lacks \"%s\"",
			       bad[i].text, err, bad[i].want);
	}
	T_EQ_INT(cfg_load(c, "/nonexistent/vdmaild.conf", err, sizeof(err)),
		 -1);
	free(c);
}
