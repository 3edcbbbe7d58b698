/*
 * pwhash (every scheme, hostile stored values) and authw (the password
 * worker pool on a real loop, over real socketpairs, with real children:
 * answers, a worker killed mid-login, a full queue, cancellation, a
 * check that takes too long).
 */
#include <argon2.h>
#include <bearssl.h>
#include <crypt.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdb/tbl_build.h"
#include "core/authw.h"
#include "core/pwhash.h"
#include "core/util.h"
#include "tests/unit/t.h"

static const char B64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
b64(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 |
			     (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = B64[v >> 18 & 63];
		out[o++] = B64[v >> 12 & 63];
		out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? B64[v & 63] : '=';
	}
	out[o] = '\0';
}

/* {SCHEME}base64(H(pw || salt) || salt), as slappasswd writes it. */
static void
make_ssha(const char *scheme, const br_hash_class *h, size_t dlen,
	  const char *pw, const char *salt, char *out)
{
	unsigned char raw[80];
	br_hash_compat_context c;

	h->init(&c.vtable);
	h->update(&c.vtable, pw, strlen(pw));
	h->update(&c.vtable, salt, strlen(salt));
	h->out(&c.vtable, raw);
	memcpy(raw + dlen, salt, strlen(salt));
	strcpy(out, scheme);
	b64(raw, dlen + strlen(salt), out + strlen(scheme));
}

static void
make_crypt(const char *prefix, unsigned long cost, const char *pw, char *out)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;

	memset(&cd, 0, sizeof(cd));
	T_ASSERT(crypt_gensalt_rn(prefix, cost, NULL, 0, salt, sizeof(salt)));
	T_ASSERT(crypt_rn(pw, salt, &cd, sizeof(cd)) && cd.output[0] != '*');
	sprintf(out, "{CRYPT}%s", cd.output);
}

static void
make_argon2(argon2_type type, uint32_t t, uint32_t m, const char *pw,
	    char *out)
{
	char enc[256];
	int rc = type == Argon2_id
			 ? argon2id_hash_encoded(t, m, 1, pw, strlen(pw),
						 "saltsaltsalt", 12, 32, enc,
						 sizeof(enc))
			 : argon2i_hash_encoded(t, m, 1, pw, strlen(pw),
						"saltsaltsalt", 12, 32, enc,
						sizeof(enc));

	T_EQ_INT(rc, ARGON2_OK);
	sprintf(out, "{ARGON2}%s", enc);
}

static int
check(const char *stored, const char *pw, bool plain)
{
	return pwhash_verify(stored, strlen(stored), pw, strlen(pw), plain);
}

T_TEST(pwhash_every_scheme)
{
	char h[512];

	make_ssha("{SSHA}", &br_sha1_vtable, 20, "s3cret", "abcd", h);
	T_EQ_INT(check(h, "s3cret", false), PWHASH_MATCH);
	T_EQ_INT(check(h, "s3creT", false), PWHASH_MISMATCH);
	make_ssha("{ssha}", &br_sha1_vtable, 20, "s3cret", "12345678", h);
	T_EQ_INT(check(h, "s3cret", false), PWHASH_MATCH);
	make_ssha("{SSHA256}", &br_sha256_vtable, 32, "pw", "saltsalt", h);
	T_EQ_INT(check(h, "pw", false), PWHASH_MATCH);
	T_EQ_INT(check(h, "px", false), PWHASH_MISMATCH);
	make_ssha("{SSHA512}", &br_sha512_vtable, 64, "pw", "saltsalt", h);
	T_EQ_INT(check(h, "pw", false), PWHASH_MATCH);
	T_EQ_INT(check(h, "", false), PWHASH_MISMATCH);
	static const struct {
		const char *prefix;
		unsigned long cost;
	} crypts[] = { { "$y$", 0 }, { "$6$", 1000 }, { "$5$", 1000 },
		       { "$2b$", 4 } };
	for (size_t i = 0; i < sizeof(crypts) / sizeof(crypts[0]); i++) {
		make_crypt(crypts[i].prefix, crypts[i].cost, "pässword", h);
		T_EQ_INT(check(h, "pässword", false), PWHASH_MATCH);
		T_EQ_INT(check(h, "passwörd", false), PWHASH_MISMATCH);
	}
	make_argon2(Argon2_i, 3, 4096, "arg", h);
	T_EQ_INT(check(h, "arg", false), PWHASH_MATCH);
	T_EQ_INT(check(h, "arh", false), PWHASH_MISMATCH);
	make_argon2(Argon2_id, 2, 1024, "arg", h);
	T_EQ_INT(check(h, "arg", false), PWHASH_MATCH);
	T_EQ_INT(check("{PLAIN}open sesame", "open sesame", true), PWHASH_MATCH);
	T_EQ_INT(check("{PLAIN}open sesame", "open sesamE", true),
		 PWHASH_MISMATCH);
	T_EQ_INT(check("{PLAIN}open sesame", "open sesame", false), PWHASH_BAD);
}

T_TEST(pwhash_hostile_stored_values)
{
	static const char *const bad[] = {
		"{SSHA}", "{SSHA}not base64!", "{SSHA}QUJD",  /* digest too short */
		"{SSHA}QUJDRA=", "{SSHA256}" "AAAA", "{CRYPT}", "{CRYPT}*0",
		"{CRYPT}$9$unknown$x", "{ARGON2}$argon2x$v=19$m=8,t=1,p=1$a$b",
		"{ARGON2}$argon2i$garbage", "{MD5}XrY7u+Ae7tCTyyK7j1rNww==",
		"plain text", "",
	};
	char big[4096];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (check(bad[i], "x", true) != PWHASH_BAD)
			t_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "{SSHA}", 6);
	T_EQ_INT(check(big, "x", false), PWHASH_BAD);
	/* A NUL inside the password would cut a C string short. */
	T_EQ_INT(pwhash_verify("{PLAIN}ab", 9, "a\0b", 3, true), PWHASH_BAD);
}

/* ------------------------------------------------------------------ */

struct answers {
	int n;
	enum authw_result r[16];
};

static void
done_cb(void *arg, enum authw_result r)
{
	struct answers *a = arg;

	if (a->n < 16)
		a->r[a->n] = r;
	a->n++;
}

static void
stop_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until want answers arrived or secs passed. */
static void
run_until(struct ev_loop *loop, struct answers *a, int want, double secs)
{
	ev_timer t;
	ev_tstamp end = ev_now(loop) + secs;

	ev_timer_init(&t, stop_cb, 0.02, 0.02);
	ev_timer_start(loop, &t);
	while (a->n < want && ev_now(loop) < end)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
}

static const char *
table_dir(const char *slow)
{
	static char dir[512];
	char src[600], dst[600], a[256], b[512];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", t_tmpdir());
	snprintf(src, sizeof(src), "%s/passwords.txt", dir);
	snprintf(dst, sizeof(dst), "%s/passwords.cdb", dir);
	make_ssha("{SSHA}", &br_sha1_vtable, 20, "alice-pw", "salt", a);
	make_crypt("$y$", 0, "bob-pw", b);
	T_ASSERT((f = fopen(src, "w")) != NULL);
	fprintf(f, "alice@x.test %s\nbob@x.test %s\n", a, b);
	if (slow != NULL)
		fprintf(f, "slow@x.test %s\n", slow);
	fclose(f);
	T_EQ_INT(tbl_build_text(TBL_PASSWORDS, src, dst, stderr), 0);
	return dir;
}

static struct authw_req *
ask(struct authw_pool *p, const char *login, const char *pw,
    struct answers *a)
{
	return authw_check(p, login, strlen(login), pw, strlen(pw), done_cb, a);
}

T_TEST(authw_answers_from_the_workers)
{
	struct ev_loop *loop = ev_default_loop(0); /* ev_child needs it */
	struct authw_pool p;
	struct answers a = { 0 };

	T_ASSERT(authw_start(&p, loop, 2, table_dir(NULL), false, 8, 10) == 0);
	T_ASSERT(ask(&p, "alice@x.test", "alice-pw", &a));
	T_EQ_INT(a.n, 0); /* never from inside authw_check */
	T_ASSERT(ask(&p, "ALICE@x.test", "wrong", &a));
	T_ASSERT(ask(&p, "bob@x.test", "bob-pw", &a));
	T_ASSERT(ask(&p, "nobody@x.test", "alice-pw", &a));
	run_until(loop, &a, 4, 10);
	T_EQ_INT(a.n, 4);
	/* Two workers: answers of different workers may cross. */
	int ok = 0, fail = 0;
	for (int i = 0; i < 4; i++)
		ok += a.r[i] == AUTHW_OK, fail += a.r[i] == AUTHW_FAIL;
	T_EQ_INT(ok, 2);
	T_EQ_INT(fail, 2);
	authw_stop(&p);

}

T_TEST(authw_dead_worker_fails_its_logins_and_is_replaced)
{
	struct ev_loop *loop = ev_default_loop(0); /* ev_child needs it */
	struct authw_pool p;
	struct answers a = { 0 }, b = { 0 };
	char slow[512];

	/* argon2id with 64 MiB: long enough to be in flight when killed. */
	make_argon2(Argon2_id, 4, 65536, "slow-pw", slow);
	T_ASSERT(authw_start(&p, loop, 1, table_dir(slow), false, 8, 30) == 0);
	pid_t first = p.w[0].pid;
	T_ASSERT(ask(&p, "slow@x.test", "slow-pw", &a));
	T_ASSERT(ask(&p, "alice@x.test", "alice-pw", &a));
	ev_run(loop, EVRUN_NOWAIT); /* the requests go out */
	usleep(50 * 1000);
	kill(first, SIGKILL);
	run_until(loop, &a, 2, 10);
	T_EQ_INT(a.n, 2);
	T_EQ_INT(a.r[0], AUTHW_TEMPFAIL);
	T_EQ_INT(a.r[1], AUTHW_TEMPFAIL);
	/* The tick replaces it; then logins work again. */
	ev_tstamp end = ev_now(loop) + 5;
	while (p.w[0].pid == 0 && ev_now(loop) < end) {
		struct answers none = { 0 };
		run_until(loop, &none, 1, 0.1);
	}
	T_ASSERT(p.w[0].pid > 0 && p.w[0].pid != first);
	T_ASSERT(ask(&p, "alice@x.test", "alice-pw", &b));
	run_until(loop, &b, 1, 10);
	T_EQ_INT(b.n, 1);
	T_EQ_INT(b.r[0], AUTHW_OK);
	authw_stop(&p);

}

T_TEST(authw_full_queue_and_cancel)
{
	struct ev_loop *loop = ev_default_loop(0); /* ev_child needs it */
	struct authw_pool p;
	struct answers a = { 0 }, c = { 0 }, d = { 0 };

	T_ASSERT(authw_start(&p, loop, 1, table_dir(NULL), false, 2, 30) == 0);
	struct authw_req *r1 = ask(&p, "alice@x.test", "alice-pw", &c);
	T_ASSERT(r1 != NULL);
	T_ASSERT(ask(&p, "bob@x.test", "bob-pw", &a) != NULL);
	/* Two queued at the only worker: the third is refused at once. */
	T_ASSERT(ask(&p, "alice@x.test", "alice-pw", &a) == NULL);
	authw_cancel(r1);
	run_until(loop, &a, 1, 10);
	T_EQ_INT(a.n, 1);
	T_EQ_INT(a.r[0], AUTHW_OK);
	T_EQ_INT(c.n, 0); /* cancelled: never called */
	/* Oversized input is refused without reaching a worker. */
	static char big[AUTHW_PW_MAX + 2];
	memset(big, 'x', sizeof(big) - 1);
	T_ASSERT(ask(&p, "alice@x.test", big, &d) == NULL);
	T_ASSERT(ask(&p, "alice@x.test", "alice-pw", &d) != NULL);
	run_until(loop, &d, 1, 10);
	T_EQ_INT(d.n, 1);
	T_EQ_INT(d.r[0], AUTHW_OK);
	authw_stop(&p);
}

T_TEST(authw_a_check_past_the_timeout_is_killed)
{
	struct ev_loop *loop = ev_default_loop(0); /* ev_child needs it */
	struct authw_pool p;
	struct answers d = { 0 };
	char slow[512];

	/* 256 MiB, 4 passes: well over a second, far past the timeout. */
	make_argon2(Argon2_id, 4, 262144, "slow-pw", slow);
	T_ASSERT(authw_start(&p, loop, 1, table_dir(slow), false, 2, 0.2) == 0);
	pid_t first = p.w[0].pid;
	T_ASSERT(ask(&p, "slow@x.test", "slow-pw", &d) != NULL);
	run_until(loop, &d, 1, 10);
	T_EQ_INT(d.n, 1);
	T_EQ_INT(d.r[0], AUTHW_TEMPFAIL);
	T_ASSERT(p.tempfails == 1);
	struct answers none = { 0 };
	run_until(loop, &none, 1, 0.6);
	T_ASSERT(p.w[0].pid > 0 && p.w[0].pid != first);
	authw_stop(&p);
}
