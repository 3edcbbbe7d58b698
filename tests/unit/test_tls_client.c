/*
 * tls client sessions: our client against our own server over a
 * non-blocking socketpair (and once against openssl s_server over TCP),
 * with certificates made by the openssl command at test time. Checks the
 * opportunistic rule (every handshake completes) and what
 * tls_peer_verified says: trusted, not trusted, name mismatch, expired,
 * no name; plus data both ways, a clean close, tolerant CA bundles, and
 * the server's loader (its PEM walk is now shared with the bundles).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/cfg.h"
#include "core/tls.h"
#include "core/util.h"
#include "tests/unit/t.h"

#define NAME "mx.test.example"
#define ROUNDS 400 /* pump rounds before a handshake counts as hung */
#define BUF_MAX (64 * 1024)

/* Runs a shell command in the test's scratch directory; fails the test. */
static void
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sh(const char *fmt, ...)
{
	char cmd[2048], full[2400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && { %s; } >/dev/null 2>&1",
		 t_tmpdir(), cmd);
	if (system(full) != 0)
		t_fail(__FILE__, __LINE__, "command failed: %s", cmd);
}

static void
need_openssl(void)
{
	if (system("command -v openssl >/dev/null 2>&1") != 0)
		T_SKIP("no openssl command");
}

static const char *
path(const char *file)
{
	static char p[4][512];
	static unsigned i;

	snprintf(p[i % 4], sizeof(p[0]), "%s/%s", t_tmpdir(), file);
	return p[i++ % 4];
}

/* The key options of openssl req for an EC P-256 or an RSA key. */
static const char *
keyopt(bool rsa)
{
	return rsa ? "-newkey rsa:2048"
		   : "-newkey ec -pkeyopt ec_paramgen_curve:P-256";
}

/*
 * base.crt + base.key, self-signed for dns: a CA certificate, as req makes
 * them, unless extra (more req options) says otherwise.
 */
static void
make_cert(const char *base, bool rsa, const char *dns, const char *extra)
{
	sh("openssl req -x509 %s -nodes -days 30 -keyout %s.key -out %s.crt "
	   "-subj /CN=%s -addext subjectAltName=DNS:%s %s",
	   keyopt(rsa), base, base, dns, dns, extra);
}

static void
make_self_signed(const char *base, bool rsa, const char *dns)
{
	make_cert(base, rsa, dns, "");
}

/* base.crt + base.key for dns, signed by ca.crt/ca.key for days days. */
static void
make_signed(const char *base, const char *dns, int days)
{
	sh("printf 'subjectAltName=DNS:%s\\nbasicConstraints=CA:FALSE\\n' "
	   "> %s.ext && openssl req -new %s -nodes -keyout %s.key -out %s.csr "
	   "-subj /CN=%s && openssl x509 -req -in %s.csr -CA ca.crt -CAkey "
	   "ca.key -CAcreateserial -days %d -extfile %s.ext -out %s.crt",
	   dns, base, keyopt(false), base, base, dns, base, days, base, base);
}

static struct tls_ctx *
server_ctx(const char *base)
{
	static struct cfg cfg;
	char err[512], f[64];
	struct tls_ctx *ctx;

	cfg_defaults(&cfg);
	snprintf(f, sizeof(f), "%s.crt", base);
	util_strlcpy(cfg.tls_cert, path(f), sizeof(cfg.tls_cert));
	snprintf(f, sizeof(f), "%s.key", base);
	util_strlcpy(cfg.tls_key, path(f), sizeof(cfg.tls_key));
	ctx = tls_ctx_load(&cfg, err, sizeof(err));
	if (ctx == NULL)
		t_fail(__FILE__, __LINE__, "tls_ctx_load: %s", err);
	return ctx;
}

/* A bundle file name under t_tmpdir(), or an absolute path, loaded. */
static struct tls_client_ctx *
client_ctx(const char *bundle, char *err, size_t errlen)
{
	struct tls_client_ctx *c = tls_client_ctx_load(
		bundle[0] == '/' ? bundle : path(bundle), err, errlen);

	T_ASSERT(c != NULL);
	return c;
}

/* One end of a connection: a session, its socket, its plaintext buffers. */
struct end {
	struct tls *t;
	int fd;
	struct buf in, out;
	int rc; /* the last tls_pump result */
};

struct pair {
	struct end cli, srv;
};

static void
end_init(struct end *e, struct tls *t, int fd)
{
	T_ASSERT(t != NULL);
	e->t = t;
	e->fd = fd;
	e->rc = 0;
	buf_init(&e->in, BUF_MAX);
	buf_init(&e->out, BUF_MAX);
}

static void
end_free(struct end *e)
{
	tls_free(e->t);
	if (e->fd >= 0)
		close(e->fd);
	buf_free(&e->in);
	buf_free(&e->out);
}

static void
pump(struct end *e)
{
	bool progress;

	if (e->rc >= 0)
		e->rc = tls_pump(e->t, e->fd, true, &e->in, &e->out, &progress);
}

/*
 * A client session for name using ca, against a server with the
 * certificate base.crt; the ctx references are handed to the sessions, so
 * the sessions must keep them alive on their own.
 */
static void
pair_open(struct pair *p, const char *base, struct tls_client_ctx *ca,
	  const char *name)
{
	struct tls_ctx *sctx = server_ctx(base);
	int sv[2];

	T_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	end_init(&p->srv, tls_new(sctx), sv[0]);
	end_init(&p->cli, tls_client_new(ca, name), sv[1]);
	tls_ctx_unref(sctx);
	tls_client_ctx_unref(ca);
}

static void
pair_free(struct pair *p)
{
	end_free(&p->cli);
	end_free(&p->srv);
}

static void
handshake(struct pair *p)
{
	for (int i = 0; i < ROUNDS; i++) {
		pump(&p->cli);
		pump(&p->srv);
		if (tls_is_established(p->cli.t) &&
		    tls_is_established(p->srv.t))
			break;
	}
	T_ASSERT(p->cli.rc >= 0 && p->srv.rc >= 0);
	T_ASSERT(tls_is_established(p->cli.t));
	T_ASSERT(tls_is_established(p->srv.t));
	T_EQ_STR(tls_version_name(p->cli.t), "TLSv1.2");
}

/* The common case: an EC server for NAME that is its own trust anchor. */
static void
pair_open_mx(struct pair *p)
{
	char err[512];

	need_openssl();
	make_self_signed("mx", false, NAME);
	pair_open(p, "mx", client_ctx("mx.crt", err, sizeof(err)), NAME);
	handshake(p);
}

/* Handshake with the CA bundle ca against base.crt; returns the verdict. */
static int
verdict(const char *base, const char *ca, const char *name, char *why,
	size_t whylen)
{
	char err[512];
	struct pair p;
	int v;

	pair_open(&p, base, client_ctx(ca, err, sizeof(err)), name);
	handshake(&p);
	v = tls_peer_verified(p.cli.t, why, whylen);
	pair_free(&p);
	return v;
}

T_TEST(tls_client_self_signed_not_trusted)
{
	char err[512], why[128];
	struct pair p;

	need_openssl();
	make_self_signed("mx", false, NAME);
	make_self_signed("other", false, "other.test.example");
	pair_open(&p, "mx", client_ctx("other.crt", err, sizeof(err)), NAME);
	T_EQ_STR(err, "");
	T_EQ_INT(tls_peer_verified(p.cli.t, why, sizeof(why)), 0);
	T_EQ_STR(why, "handshake not done");
	handshake(&p);
	T_EQ_INT(tls_peer_verified(p.cli.t, why, sizeof(why)), 0);
	T_EQ_STR(why, "not trusted");
	T_EQ_STR(tls_cipher_name(p.cli.t), "ECDHE-ECDSA-AES128-GCM-SHA256");
	T_EQ_STR(tls_cipher_name(p.srv.t), tls_cipher_name(p.cli.t));
	T_EQ_STR(tls_sni(p.srv.t), NAME);
	T_EQ_STR(tls_sni(p.cli.t), NAME);
	T_EQ_INT(tls_peer_verified(p.srv.t, why, sizeof(why)), 0);
	T_EQ_STR(why, "not a client session");
	T_EQ_INT(tls_peer_verified(p.cli.t, NULL, 0), 0);
	pair_free(&p);
}

T_TEST(tls_client_self_signed_anchor_verified)
{
	char why[128] = "";

	need_openssl();
	make_self_signed("mx", false, NAME);
	T_EQ_INT(verdict("mx", "mx.crt", NAME, why, sizeof(why)), 1);
	T_EQ_STR(why, "");
	/* An MX name from DNS may keep its root dot; case does not count. */
	T_EQ_INT(verdict("mx", "mx.crt", "MX.Test.Example.", why, sizeof(why)),
		 1);
	/* Not a CA: BearSSL's direct trust of that very key. */
	make_cert("leaf", false, NAME,
		  "-addext basicConstraints=critical,CA:FALSE");
	T_EQ_INT(verdict("leaf", "leaf.crt", NAME, why, sizeof(why)), 1);
}

T_TEST(tls_client_key_may_not_sign)
{
	char why[128];

	need_openssl();
	/* RFC 5280 4.2.1.3: ECDHE needs digitalSignature; a strict client
	 * would refuse this one, we only record it. */
	make_cert("rsa", true, NAME,
		  "-addext keyUsage=critical,keyEncipherment,keyCertSign");
	T_EQ_INT(verdict("rsa", "rsa.crt", NAME, why, sizeof(why)), 0);
	T_EQ_STR(why, "key may not sign");
}

T_TEST(tls_client_name_mismatch)
{
	char why[128];

	need_openssl();
	make_self_signed("mx", false, NAME);
	T_EQ_INT(verdict("mx", "mx.crt", "mx2.test.example", why, sizeof(why)),
		 0);
	T_EQ_STR(why, "name mismatch");
	T_EQ_INT(verdict("mx", "mx.crt", "test.example", why, sizeof(why)), 0);
	T_EQ_STR(why, "name mismatch");
}

T_TEST(tls_client_ca_chain)
{
	char why[128];

	need_openssl();
	make_self_signed("ca", false, "ca.test.example");
	make_signed("leaf", NAME, 30);
	T_EQ_INT(verdict("leaf", "ca.crt", NAME, why, sizeof(why)), 1);
	T_EQ_INT(verdict("leaf", "ca.crt", "mail.example.org", why,
			 sizeof(why)), 0);
	T_EQ_STR(why, "name mismatch");
	make_self_signed("ca2", false, "ca2.test.example");
	T_EQ_INT(verdict("leaf", "ca2.crt", NAME, why, sizeof(why)), 0);
	T_EQ_STR(why, "not trusted");
}

T_TEST(tls_client_expired)
{
	char why[128];

	need_openssl();
	make_self_signed("ca", false, "ca.test.example");
	make_signed("old", NAME, -1); /* notAfter a day before notBefore */
	T_EQ_INT(verdict("old", "ca.crt", NAME, why, sizeof(why)), 0);
	T_EQ_STR(why, "expired or not yet valid");
}

T_TEST(tls_client_rsa_server)
{
	char err[512], why[128];
	struct pair p;

	need_openssl();
	make_self_signed("rsa", true, NAME);
	pair_open(&p, "rsa", client_ctx("rsa.crt", err, sizeof(err)), NAME);
	handshake(&p);
	T_EQ_INT(tls_peer_verified(p.cli.t, why, sizeof(why)), 1);
	T_EQ_STR(tls_cipher_name(p.cli.t), "ECDHE-RSA-AES128-GCM-SHA256");
	pair_free(&p);
	make_self_signed("mx", false, NAME);
	T_EQ_INT(verdict("rsa", "mx.crt", NAME, why, sizeof(why)), 0);
	T_EQ_STR(why, "not trusted");
}

/* Moves len bytes of pattern from a's out to b's in, pumping both. */
static void
transfer(struct end *a, struct end *b, size_t len)
{
	size_t sent = 0, got = 0;

	for (int i = 0; got < len && i < 20 * ROUNDS; i++) {
		while (sent < len && buf_room(&a->out) > 0) {
			char c = (char)('a' + sent % 26);
			T_EQ_INT(buf_append(&a->out, &c, 1), 0);
			sent++;
		}
		pump(a);
		pump(b);
		for (size_t k = 0; k < buf_len(&b->in); k++)
			if (buf_data(&b->in)[k] != (char)('a' + (got + k) % 26))
				t_fail(__FILE__, __LINE__, "byte %zu differs",
				       got + k);
		got += buf_len(&b->in);
		buf_consume(&b->in, buf_len(&b->in));
		T_ASSERT(a->rc >= 0 && b->rc >= 0);
	}
	T_EQ_SIZE(got, len);
	T_EQ_SIZE(buf_len(&a->out), 0);
}

T_TEST(tls_client_data_both_ways)
{
	struct pair p;

	pair_open_mx(&p);
	transfer(&p.cli, &p.srv, 5);
	transfer(&p.srv, &p.cli, 300 * 1024); /* many records, full buffers */
	transfer(&p.cli, &p.srv, 200 * 1024);
	transfer(&p.srv, &p.cli, 1);
	pair_free(&p);
}

T_TEST(tls_client_clean_close)
{
	struct pair p;

	pair_open_mx(&p);
	tls_close(p.cli.t);
	T_ASSERT(tls_is_closing(p.cli.t));
	for (int i = 0; i < ROUNDS && (p.cli.rc >= 0 || p.srv.rc >= 0); i++) {
		pump(&p.cli);
		pump(&p.srv);
	}
	T_EQ_INT(p.cli.rc, -1);
	T_EQ_INT(p.srv.rc, -1);
	T_EQ_INT(tls_error(p.cli.t), 0);
	T_EQ_INT(tls_error(p.srv.t), 0);
	pair_free(&p);
}

T_TEST(tls_client_missing_ca_file)
{
	char err[512], why[128];
	struct pair p;
	struct tls_client_ctx *c;

	need_openssl();
	make_self_signed("mx", false, NAME);
	c = client_ctx("no-such-bundle.pem", err, sizeof(err));
	T_ASSERT(strstr(err, "no-such-bundle.pem") != NULL);
	T_EQ_SIZE(tls_client_ctx_anchors(c), 0);
	pair_open(&p, "mx", c, NAME);
	handshake(&p);
	T_EQ_INT(tls_peer_verified(p.cli.t, why, sizeof(why)), 0);
	T_EQ_STR(why, "not trusted");
	pair_free(&p);
}

T_TEST(tls_client_bundle_with_junk)
{
	char err[512], why[128];
	struct tls_client_ctx *c;

	need_openssl();
	make_self_signed("a", false, "a.test.example");
	make_self_signed("mx", true, NAME);
	/* Text, a corrupt object, a key, an empty object, a truncated end. */
	sh("{ echo 'junk before'; cat a.crt; echo '# a comment'; "
	   "printf -- '-----BEGIN CERTIFICATE-----\\n@@@@\\n"
	   "-----END CERTIFICATE-----\\n'; cat a.key; "
	   "printf -- '-----BEGIN CERTIFICATE-----\\n"
	   "-----END CERTIFICATE-----\\n'; "
	   "printf -- '-----BEGIN CERTIFICATE-----\\nAAAA\\n"
	   "-----END CERTIFICATE-----\\n'; cat mx.crt; "
	   "printf -- '-----BEGIN CERTIFICATE-----\\nMIIB'; } > bundle.pem");
	c = client_ctx("bundle.pem", err, sizeof(err));
	T_EQ_SIZE(tls_client_ctx_anchors(c), 2);
	T_ASSERT(strstr(err, "entries skipped, 2 loaded") != NULL);
	tls_client_ctx_unref(c);
	T_EQ_INT(verdict("mx", "bundle.pem", NAME, why, sizeof(why)), 1);
	sh("printf 'nothing here\\n' > empty.pem");
	c = client_ctx("empty.pem", err, sizeof(err));
	T_ASSERT(strstr(err, "no usable certificate") != NULL);
	tls_client_ctx_unref(c);
}

T_TEST(tls_client_no_host_name)
{
	char err[512], why[128];
	struct pair p;

	need_openssl();
	make_self_signed("mx", false, NAME);
	/* No name to check: the chain is fine, the peer still unverified. */
	pair_open(&p, "mx", client_ctx("mx.crt", err, sizeof(err)),
		  "192.0.2.25");
	handshake(&p);
	T_EQ_INT(tls_peer_verified(p.cli.t, why, sizeof(why)), 0);
	T_EQ_STR(why, "no host name");
	T_EQ_STR(tls_sni(p.srv.t), ""); /* RFC 6066 3: no IP literal */
	T_EQ_STR(tls_sni(p.cli.t), "");
	pair_free(&p);
	T_EQ_INT(verdict("mx", "mx.crt", "2001:db8::25", why, sizeof(why)), 0);
	T_EQ_STR(why, "no host name");
	T_EQ_INT(verdict("mx", "mx.crt", "", why, sizeof(why)), 0);
	T_EQ_STR(why, "no host name");
	T_EQ_INT(verdict("mx", "mx.crt", NULL, why, sizeof(why)), 0);
	T_EQ_STR(why, "no host name");
}

T_TEST(tls_client_name_too_long)
{
	char name[300], err[512];
	struct tls_client_ctx *c = tls_client_ctx_load("/nonexistent", err,
						       sizeof(err));

	T_ASSERT(c != NULL);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	T_ASSERT(tls_client_new(c, name) == NULL);
	name[253] = '\0';
	struct tls *t = tls_client_new(c, name);
	T_ASSERT(t != NULL);
	T_EQ_STR(tls_sni(t), name);
	tls_free(t);
	tls_client_ctx_unref(c);
}

T_TEST(tls_client_system_bundle)
{
	char err[512];
	struct tls_client_ctx *c;

	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) != 0)
		T_SKIP("no /etc/ssl/certs/ca-certificates.crt");
	c = tls_client_ctx_load("", err, sizeof(err));
	T_ASSERT(c != NULL);
	T_ASSERT(tls_client_ctx_anchors(c) > 50);
	tls_client_ctx_unref(c);
}

/* Starts openssl s_server on a free loopback port; returns the port. */
static int
s_server(const char *args, pid_t *pid_r, int *stdin_r)
{
	int in[2], out[2], port = 0;
	char cmd[1024], line[256];
	size_t len = 0;

	snprintf(cmd, sizeof(cmd), "cd '%s' && exec openssl s_server -accept "
		 "127.0.0.1:0 -naccept 1 %s", t_tmpdir(), args);
	T_EQ_INT(pipe(in), 0);
	T_EQ_INT(pipe(out), 0);
	*pid_r = fork();
	T_ASSERT(*pid_r >= 0);
	if (*pid_r == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*stdin_r = in[1]; /* s_server quits at EOF on its input */
	struct pollfd pfd = { .fd = out[0], .events = POLLIN };
	while (port == 0 && len < sizeof(line) - 1 && poll(&pfd, 1, 5000) > 0 &&
	       read(out[0], line + len, 1) == 1) {
		line[++len] = '\0';
		if (line[len - 1] == '\n') {
			sscanf(line, "ACCEPT 127.0.0.1:%d", &port);
			len = 0;
		}
	}
	close(out[0]);
	T_ASSERT(port > 0);
	return port;
}

static int
tcp_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	T_ASSERT(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_EQ_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	T_EQ_INT(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

/* The handshake against a peer that is not BearSSL, offering CBC only. */
static void
against_openssl(const char *cipher, const char *want)
{
	char err[512], why[128], args[256];
	struct tls_client_ctx *ca = client_ctx("rsa.crt", err, sizeof(err));
	struct pollfd pfd;
	struct end e;
	pid_t pid;
	int in, port;

	snprintf(args, sizeof(args), "-cert rsa.crt -key rsa.key -tls1_2 "
		 "-cipher %s", cipher);
	port = s_server(args, &pid, &in);
	end_init(&e, tls_client_new(ca, NAME), tcp_connect(port));
	tls_client_ctx_unref(ca);
	for (int i = 0; i < ROUNDS && !tls_is_established(e.t) && e.rc >= 0;
	     i++) {
		pfd = (struct pollfd){ .fd = e.fd, .events = POLLIN };
		pump(&e);
		poll(&pfd, 1, 20);
	}
	bool ok = tls_is_established(e.t);
	int verified = tls_peer_verified(e.t, why, sizeof(why));
	char got[64];
	util_strlcpy(got, tls_cipher_name(e.t), sizeof(got));
	end_free(&e);
	close(in);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	T_ASSERT(ok);
	T_EQ_INT(verified, 1);
	T_EQ_STR(got, want);
}

T_TEST(tls_client_cbc_fallback_openssl)
{
	need_openssl();
	make_self_signed("rsa", true, NAME);
	against_openssl("ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256");
	against_openssl("ECDHE-RSA-AES256-SHA", "ECDHE-RSA-AES256-SHA");
	against_openssl("ECDHE-RSA-CHACHA20-POLY1305",
			"ECDHE-RSA-CHACHA20-POLY1305");
}

/* The server's loader after the PEM walk was shared with the bundles:
 * an object take refuses is freed once (it used to be freed twice). */
T_TEST(tls_server_refused_pem_objects)
{
	static struct cfg cfg;
	char err[512];

	need_openssl();
	make_self_signed("mx", false, NAME);
	sh("cat mx.key mx.key > two.key && for i in 1 2 3 4 5 6 7 8 9; do "
	   "cat mx.crt; done > nine.crt");
	cfg_defaults(&cfg);
	util_strlcpy(cfg.tls_cert, path("mx.crt"), sizeof(cfg.tls_cert));
	util_strlcpy(cfg.tls_key, path("two.key"), sizeof(cfg.tls_key));
	T_ASSERT(tls_ctx_load(&cfg, err, sizeof(err)) == NULL);
	T_ASSERT(strstr(err, "two.key: bad PEM object") != NULL);
	util_strlcpy(cfg.tls_cert, path("nine.crt"), sizeof(cfg.tls_cert));
	util_strlcpy(cfg.tls_key, path("mx.key"), sizeof(cfg.tls_key));
	T_ASSERT(tls_ctx_load(&cfg, err, sizeof(err)) == NULL);
	T_ASSERT(strstr(err, "nine.crt: bad PEM object") != NULL);
}
