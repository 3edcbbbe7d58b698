/*
 * program: real /bin/sh scripts run on the real default loop. The message
 * arrives intact (1 MB too), exit codes and signals map to OK/TEMP/PERM,
 * the time limit kills the whole process group, a program that never
 * reads stdin or writes a flood of output does not stall us, the
 * environment and descriptors are exactly ours, ids (as root), cancel.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/program.h"
#include "tests/unit/t.h"

#define ENVELOPE "S<b@y.test>\nR<a@x.test>\n\001\001\n"
#define PREFIX "Delivered-To: a@x.test\n" /* the caller's Delivered-To */
#define MB (1024 * 1024)

struct result {
	int n;
	enum prog_status st;
	char why[PROG_WHY_MAX];
	char out[PROG_OUTPUT_MAX + 1];
	size_t outlen;
};

static void
done_cb(void *arg, enum prog_status st, const char *why, const char *output,
	size_t outlen)
{
	struct result *r = arg;

	r->n++;
	r->st = st;
	snprintf(r->why, sizeof(r->why), "%s", why);
	memcpy(r->out, output, outlen + 1);
	r->outlen = outlen;
}

static void
stop_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Turns the loop until r has an answer or secs passed. */
static void
run_until(struct ev_loop *loop, struct result *r, double secs)
{
	ev_timer t;
	ev_tstamp end;

	ev_now_update(loop);
	end = ev_now(loop) + secs;
	ev_timer_init(&t, stop_cb, 0.02, 0.02);
	ev_timer_start(loop, &t);
	while (r->n == 0 && ev_now(loop) < end)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
}

static const char *
tmp_path(const char *name)
{
	static char paths[4][600];
	static int next;
	char *p = paths[next++ % 4];

	snprintf(p, sizeof(paths[0]), "%s/%s", t_tmpdir(), name);
	return p;
}

/* Who programs run as: nobody when we are root (the directory is opened
 * to it), else ourselves. */
static void
test_ids(uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam("nobody");

	*uid = getuid();
	*gid = getgid();
	if (geteuid() != 0)
		return;
	*uid = pw ? pw->pw_uid : 65534;
	*gid = pw ? pw->pw_gid : 65534;
	T_ASSERT(chmod(t_tmpdir(), 0777) == 0);
}

/* prog runs the /bin/sh script body, with args as $1... */
static void
script(struct cfg_program *prog, const char *name, const char *body,
       const char *arg1)
{
	FILE *f;

	memset(prog, 0, sizeof(*prog));
	snprintf(prog->name, sizeof(prog->name), "%s", name);
	snprintf(prog->path, sizeof(prog->path), "%s", tmp_path(name));
	T_ASSERT((f = fopen(prog->path, "w")) != NULL);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	T_ASSERT(fclose(f) == 0);
	T_ASSERT(chmod(prog->path, 0755) == 0);
	if (arg1 != NULL) {
		snprintf(prog->args[0], sizeof(prog->args[0]), "%s", arg1);
		prog->nargs = 1;
	}
}

/* A queue file: envelope, then text; open for reading, offset 0. */
static int
msg_file(const char *text, size_t len, uint64_t *off_r)
{
	const char *path = tmp_path("msg");
	FILE *f = fopen(path, "w");

	T_ASSERT(f != NULL);
	T_ASSERT(fwrite(ENVELOPE, 1, strlen(ENVELOPE), f) == strlen(ENVELOPE));
	T_ASSERT(fwrite(text, 1, len, f) == len);
	T_ASSERT(fclose(f) == 0);
	*off_r = strlen(ENVELOPE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	T_ASSERT(fd >= 0);
	return fd;
}

/* Runs prog over text and waits for its answer (limit + 10 s at most). */
static void
run_prog(const struct cfg_program *prog, uid_t uid, gid_t gid,
	 const char *text, size_t len, const char *const *env, double limit,
	 struct result *r)
{
	struct ev_loop *loop = ev_default_loop(0); /* ev_child needs it */
	uint64_t off;
	int fd = msg_file(text, len, &off);

	memset(r, 0, sizeof(*r));
	struct prog_job *j = prog_run(loop, prog, uid, gid, fd, off, PREFIX,
				      strlen(PREFIX), env, limit, done_cb, r);
	T_ASSERT(j != NULL);
	T_EQ_INT(r->n, 0); /* never from inside prog_run */
	T_EQ_INT(lseek(fd, 0, SEEK_CUR), 0);
	close(fd); /* the job has its own */
	run_until(loop, r, limit + 10);
	T_EQ_INT(r->n, 1);
}

/* The usual test: the script body run as test_ids over text. */
static void
run_script(const char *name, const char *body, const char *arg1,
	   const char *text, size_t len, double limit, struct result *r)
{
	struct cfg_program prog;
	uid_t uid;
	gid_t gid;

	test_ids(&uid, &gid);
	script(&prog, name, body, arg1);
	run_prog(&prog, uid, gid, text, len, NULL, limit, r);
}

static size_t
slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	T_ASSERT(fd >= 0);
	while ((n = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)n;
	close(fd);
	return len;
}

/* Dead: gone, or a zombie waiting for whoever reaps orphans. */
static int
gone(long pid)
{
	char path[64], stat[512];

	for (int i = 0; i < 100; i++) {
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			return 1;
		size_t n = fread(stat, 1, sizeof(stat) - 1, f);
		fclose(f);
		stat[n] = '\0';
		char *p = strrchr(stat, ')');
		if (p != NULL && p[1] == ' ' && p[2] == 'Z')
			return 1;
		usleep(20 * 1000);
	}
	return 0;
}

static void
check_copy(size_t len)
{
	struct result r;
	char *text = malloc(len), *got = malloc(len + 100);

	T_ASSERT(text != NULL && got != NULL);
	for (size_t i = 0; i < len; i++)
		text[i] = (char)(i % 251); /* NULs, CRs, 8-bit: all kept */
	run_script("copy", "exec cat > \"$1\"", tmp_path("copy.out"), text,
		   len, 10, &r);
	T_EQ_INT(r.st, PROG_OK);
	T_EQ_STR(r.why, "exit 0");
	size_t n = slurp(tmp_path("copy.out"), got, len + 100);
	T_EQ_MEM(got, n < strlen(PREFIX) ? n : strlen(PREFIX), PREFIX,
		 strlen(PREFIX));
	T_EQ_SIZE(n, strlen(PREFIX) + len);
	T_ASSERT(memcmp(got + strlen(PREFIX), text, len) == 0);
	free(text);
	free(got);
}

T_TEST(program_copies_the_message)
{
	check_copy(100);
}

T_TEST(program_copies_a_1mb_message)
{
	check_copy(MB);
}

/* How the program ends, and what we make of it. */
T_TEST(program_exit_statuses_map_to_ok_temp_perm)
{
	static const struct {
		const char *body;
		enum prog_status st;
		const char *why, *out;
	} cases[] = {
		{ "cat >/dev/null", PROG_OK, "exit 0", "" },
		{ "exit 75", PROG_TEMP, "exit 75", "" },
		{ "echo 'no such user' >&2; exit 2", PROG_PERM, "exit 2",
		  "no such user\n" },
		{ "echo x; kill -SEGV $$", PROG_PERM, "signal 11 (SEGV)",
		  "x\n" },
	};
	struct result r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_script("status", cases[i].body, NULL, "hi\n", 3, 10, &r);
		T_EQ_INT(r.st, cases[i].st);
		T_EQ_STR(r.why, cases[i].why);
		T_EQ_STR(r.out, cases[i].out);
		T_EQ_SIZE(r.outlen, strlen(cases[i].out));
	}
}

T_TEST(program_past_its_time_limit_is_killed_with_its_group)
{
	struct result r;
	char bg[32] = "";
	ev_tstamp t0 = ev_time();

	run_script("slow", "sleep 30 & echo $! > \"$1\"; sleep 30",
		   tmp_path("bg.pid"), "hi\n", 3, 0.5, &r);
	T_ASSERT(ev_time() - t0 < 5);
	T_EQ_INT(r.st, PROG_TEMP);
	T_EQ_STR(r.why, "killed after 0.5 s");
	slurp(tmp_path("bg.pid"), bg, sizeof(bg) - 1);
	T_ASSERT(atol(bg) > 0);
	T_ASSERT(gone(atol(bg))); /* the child it forked died too */
}

T_TEST(program_that_never_reads_stdin)
{
	struct result r;
	char *text = malloc(MB);
	/* Default SIGPIPE: a write to a pipe the program left would kill us. */
	void (*old)(int) = signal(SIGPIPE, SIG_DFL);

	T_ASSERT(text != NULL);
	memset(text, 'm', MB);
	run_script("deaf", "exit 0", NULL, text, MB, 10, &r);
	T_EQ_INT(r.st, PROG_OK);
	run_script("deaf2", "exec 0<&-; sleep 0.2; echo done", NULL, text, MB,
		   10, &r);
	T_EQ_INT(r.st, PROG_OK);
	T_EQ_STR(r.out, "done\n");
	signal(SIGPIPE, old);
	free(text);
}

T_TEST(program_output_is_read_and_capped)
{
	struct result r;

	run_script("loud", "head -c 1048576 /dev/zero | tr '\\0' x; echo >&2",
		   NULL, "hi\n", 3, 10, &r);
	T_EQ_INT(r.st, PROG_OK);
	T_EQ_SIZE(r.outlen, PROG_OUTPUT_MAX);
	T_EQ_SIZE(strspn(r.out, "x"), PROG_OUTPUT_MAX);
}

T_TEST(program_environment_is_exactly_the_given_one)
{
	static const char *const env[] = { "RECIPIENT=a@x.test",
					   "SENDER=b@y.test", "PATH=/evil",
					   "HOME=/root", "USER=a", NULL };
	struct cfg_program prog;
	struct result r;
	uid_t uid;
	gid_t gid;

	test_ids(&uid, &gid);
	memset(&prog, 0, sizeof(prog));
	snprintf(prog.path, sizeof(prog.path), "/usr/bin/env");
	T_ASSERT(setenv("VDMAIL_LEAK", "ours", 1) == 0);
	run_prog(&prog, uid, gid, "hi\n", 3, env, 10, &r);
	unsetenv("VDMAIL_LEAK");
	T_EQ_INT(r.st, PROG_OK);
	T_EQ_STR(r.out, "PATH=/usr/bin:/bin\nHOME=/\nRECIPIENT=a@x.test\n"
			"SENDER=b@y.test\nUSER=a\n");
}

T_TEST(program_runs_as_the_given_user)
{
	struct result r;
	char want[64];
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		T_SKIP("not root");
	int fd = open(tmp_path("secret"), O_WRONLY | O_CREAT, 0600);
	T_ASSERT(fd >= 0 && write(fd, "s3cret\n", 7) == 7);
	close(fd);
	run_script("who", "id -u; id -g; id -G; cd; pwd; cat \"$1\"",
		   tmp_path("secret"), "hi\n", 3, 10, &r);
	test_ids(&uid, &gid); /* whom it ran as */
	snprintf(want, sizeof(want), "%ld\n%ld\n%ld\n/\n", (long)uid,
		 (long)gid, (long)gid);
	T_EQ_INT(r.st, PROG_PERM); /* cat fails */
	T_EQ_MEM(r.out, strlen(want), want, strlen(want));
	T_ASSERT(strstr(r.out, "Permission denied") != NULL);
	T_ASSERT(strstr(r.out, "s3cret") == NULL);
}

T_TEST(program_refuses_root_and_unknown_users)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct cfg_program prog;
	struct result r = { 0 };

	script(&prog, "ok", "exit 0", NULL);
	T_ASSERT(prog_run(loop, &prog, 0, 0, 0, 0, "", 0, NULL, 10, done_cb,
			  &r) != NULL);
	T_EQ_INT(r.n, 0);
	run_until(loop, &r, 5);
	T_EQ_INT(r.n, 1);
	T_EQ_INT(r.st, PROG_TEMP);
	T_EQ_STR(r.why, "refusing to run a program as root");
	memset(&r, 0, sizeof(r));
	T_ASSERT(prog_run(loop, &prog, PROG_NO_USER, 0, 0, 0, "", 0, NULL, 10,
			  done_cb, &r) != NULL);
	run_until(loop, &r, 5);
	T_EQ_INT(r.n, 1);
	T_EQ_INT(r.st, PROG_TEMP);
	T_EQ_STR(r.why, "program_user unknown");
}

T_TEST(program_missing_path_is_temp_with_the_exec_error)
{
	struct cfg_program prog;
	struct result r;
	uid_t uid;
	gid_t gid;

	test_ids(&uid, &gid);
	memset(&prog, 0, sizeof(prog));
	snprintf(prog.path, sizeof(prog.path), "%s", tmp_path("missing"));
	run_prog(&prog, uid, gid, "hi\n", 3, NULL, 10, &r);
	T_EQ_INT(r.st, PROG_TEMP);
	T_EQ_STR(r.why, "exec: No such file or directory");
	T_EQ_SIZE(r.outlen, 0);
}

T_TEST(program_cancel_kills_and_never_calls_done)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct cfg_program prog;
	struct result r = { 0 };
	uid_t uid;
	gid_t gid;
	uint64_t off;
	char pid[32] = "";

	test_ids(&uid, &gid);
	script(&prog, "hang", "echo $$ > \"$1\"; exec sleep 30",
	       tmp_path("hang.pid"));
	int fd = msg_file("hi\n", 3, &off);
	struct prog_job *j = prog_run(loop, &prog, uid, gid, fd, off, "", 0,
				      NULL, 30, done_cb, &r);
	close(fd);
	T_ASSERT(j != NULL);
	for (int i = 0; i < 100 && pid[0] == '\0'; i++) {
		run_until(loop, &r, 0.05);
		if (access(tmp_path("hang.pid"), F_OK) == 0)
			slurp(tmp_path("hang.pid"), pid, sizeof(pid) - 1);
	}
	T_ASSERT(atol(pid) > 0);
	prog_cancel(j);
	T_ASSERT(gone(atol(pid)));
	run_until(loop, &r, 0.3);
	T_EQ_INT(r.n, 0);
}

T_TEST(program_inherits_no_descriptor_of_ours)
{
	struct cfg_program prog;
	struct result r;
	uid_t uid;
	gid_t gid;
	int fds[4], p[2];

	test_ids(&uid, &gid);
	/* Without close-on-exec, as a careless part of vdmaild might. */
	for (int i = 0; i < 4; i++)
		T_ASSERT((fds[i] = open("/dev/null", O_RDONLY)) >= 0);
	T_ASSERT(pipe(p) == 0);
	memset(&prog, 0, sizeof(prog));
	snprintf(prog.path, sizeof(prog.path), "/bin/ls");
	snprintf(prog.args[0], sizeof(prog.args[0]), "/proc/self/fd");
	prog.nargs = 1;
	run_prog(&prog, uid, gid, "hi\n", 3, NULL, 10, &r);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	close(p[0]);
	close(p[1]);
	T_EQ_INT(r.st, PROG_OK);
	T_EQ_STR(r.out, "0\n1\n2\n3\n"); /* 3: ls's own directory */
}
