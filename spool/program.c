#include "spool/program.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "core/util.h"

#define PROG_CHUNK 16384
#define FEED_TURN (256 * 1024)  /* bytes sent per callback: others get a turn */
#define READ_TURN (64 * 1024)   /* output bytes read per callback */
#define DRAIN_MAX (1024 * 1024) /* read after the exit: a full pipe at most */
#define ENV_FIXED 2             /* PATH and HOME */

struct prog_job {
	struct ev_loop *loop;
	prog_done_fn *done;
	void *arg;
	double timeout;
	pid_t pid;              /* 0: not started, or reaped */
	int wstatus;
	bool killed;            /* by the time limit */
	int msg_fd, in_fd, out_fd, err_fd; /* -1 when closed */
	uint64_t msg_off;       /* next byte of msg_fd to send */
	size_t chunk_off, chunk_len;
	size_t prefix_off, prefixlen;
	size_t outlen;
	ev_io in_io, out_io;
	ev_child child;
	ev_timer timer;         /* the time limit; at 0 s, a failure to start */
	char why[PROG_WHY_MAX]; /* set: we failed, whatever the exit says */
	char out[PROG_OUTPUT_MAX + 1];
	char chunk[PROG_CHUNK];
	char prefix[];
};

/* ------------------------------------------------------------------ */
/* The child, between fork and execve. */

/* What the child reports on its error pipe when it cannot reach execve. */
enum stage { ST_FDS, ST_SETSID, ST_SETGROUPS, ST_SETGID, ST_SETUID,
	     ST_CHDIR, ST_EXEC };
static const char *const stage_name[] = { "descriptors", "setsid",
					  "setgroups", "setgid", "setuid",
					  "chdir", "exec" };

struct spawn {
	const char *path;
	char *const *argv, *const *envp;
	int in_fd, out_fd, err_fd; /* the child's ends */
	bool set_ids;
	uid_t uid;
	gid_t gid;
};

static void __attribute__((noreturn))
child_fail(int fd, enum stage st)
{
	int msg[2] = { (int)st, errno };
	/* One write of 8 bytes to an empty pipe: whole, never blocking. */
	ssize_t n = write(fd, msg, sizeof(msg));

	(void)n;
	_exit(EX_TEMPFAIL);
}

/* vdmaild ignores SIGPIPE, and ignored signals survive execve. */
static void
child_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL); /* SIGKILL, SIGSTOP: EINVAL, fine */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void
child_close_from(int lowfd)
{
	struct rlimit rl;

	if (close_range((unsigned)lowfd, ~0U, 0) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 65536;
	for (int fd = lowfd; (rlim_t)fd < rl.rlim_cur; fd++)
		close(fd);
}

/*
 * 0, 1, 2 from our ends, the error pipe at 3 (close-on-exec), nothing
 * else. Everything is first moved to 4 and up, so no dup2 can overwrite a
 * descriptor still to be moved (vdmaild may have started with 0-2 closed).
 */
static void
child_fds(const struct spawn *s)
{
	int in = fcntl(s->in_fd, F_DUPFD, 4);
	int out = fcntl(s->out_fd, F_DUPFD, 4);
	int err = fcntl(s->err_fd, F_DUPFD, 4);

	if (err < 0 || dup3(err, 3, O_CLOEXEC) < 0)
		child_fail(s->err_fd, ST_FDS);
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(out, 2) < 0)
		child_fail(3, ST_FDS);
	child_close_from(4);
}

static void __attribute__((noreturn))
child_main(const struct spawn *s)
{
	child_signals();
	child_fds(s);
	if (setsid() < 0)
		child_fail(3, ST_SETSID);
	if (s->set_ids) {
		if (setgroups(0, NULL) < 0)
			child_fail(3, ST_SETGROUPS);
		if (setgid(s->gid) < 0)
			child_fail(3, ST_SETGID);
		if (setuid(s->uid) < 0)
			child_fail(3, ST_SETUID);
	}
	/* A vdmaild killed with -9 takes its time limit along: the program
	 * must not hang on forever. Set after setuid, which clears it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (chdir("/") < 0)
		child_fail(3, ST_CHDIR);
	execve(s->path, s->argv, s->envp);
	child_fail(3, ST_EXEC);
}

/* ------------------------------------------------------------------ */
/* The job, on the loop. */

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Kills the process group; before its setsid the child is not yet one. */
static void
kill_group(struct prog_job *j)
{
	if (j->pid > 0 && kill(-j->pid, SIGKILL) < 0)
		kill(j->pid, SIGKILL);
}

static void
stop_all(struct prog_job *j)
{
	ev_io_stop(j->loop, &j->in_io);
	ev_io_stop(j->loop, &j->out_io);
	ev_child_stop(j->loop, &j->child);
	ev_timer_stop(j->loop, &j->timer);
	close_fd(&j->msg_fd);
	close_fd(&j->in_fd);
	close_fd(&j->out_fd);
	close_fd(&j->err_fd);
}

/* The first failure of ours is the one reported. */
static void
set_why(struct prog_job *j, const char *what, int err)
{
	if (j->why[0] == '\0')
		util_fmt(j->why, sizeof(j->why), "%s%s%s", what,
			 err ? ": " : "", err ? strerror(err) : "");
}

/*
 * Reads output until EAGAIN, EOF or limit bytes; keeps what fits. The
 * rest is read and dropped so a talkative program never blocks on us.
 */
static void
read_output(struct prog_job *j, size_t limit)
{
	char scratch[4096];
	size_t total = 0;

	while (j->out_fd >= 0 && total < limit) {
		ssize_t n = read(j->out_fd, scratch, sizeof(scratch));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			ev_io_stop(j->loop, &j->out_io);
			close_fd(&j->out_fd);
			return;
		}
		size_t keep = PROG_OUTPUT_MAX - j->outlen;
		keep = (size_t)n < keep ? (size_t)n : keep;
		memcpy(j->out + j->outlen, scratch, keep);
		j->outlen += keep;
		total += (size_t)n;
	}
}

static void
out_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	read_output(w->data, READ_TURN);
}

/* The next bytes to send: the prefix, then the message. 0 at the end. */
static ssize_t
next_bytes(struct prog_job *j, const char **p_r)
{
	if (j->prefix_off < j->prefixlen) {
		*p_r = j->prefix + j->prefix_off;
		return (ssize_t)(j->prefixlen - j->prefix_off);
	}
	if (j->chunk_off == j->chunk_len) {
		ssize_t n = pread(j->msg_fd, j->chunk, sizeof(j->chunk),
				  (off_t)j->msg_off);
		if (n < 0)
			return -1;
		j->msg_off += (uint64_t)n;
		j->chunk_off = 0;
		j->chunk_len = (size_t)n;
	}
	*p_r = j->chunk + j->chunk_off;
	return (ssize_t)(j->chunk_len - j->chunk_off);
}

static void
consume(struct prog_job *j, size_t n)
{
	if (j->prefix_off < j->prefixlen)
		j->prefix_off += n;
	else
		j->chunk_off += n;
}

/* Closing our end is the program's EOF; it also ends a feed it refused. */
static void
end_feed(struct prog_job *j)
{
	ev_io_stop(j->loop, &j->in_io);
	close_fd(&j->in_fd);
	close_fd(&j->msg_fd);
}

static void
in_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct prog_job *j = w->data;
	size_t sent = 0;
	const char *p;

	(void)loop;
	(void)revents;
	while (sent < FEED_TURN) {
		ssize_t n = next_bytes(j, &p);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0) {
				set_why(j, "reading the message", errno);
				kill_group(j);
			}
			end_feed(j);
			return;
		}
		n = send(j->in_fd, p, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) { /* EPIPE: it exited or closed stdin unread: fine */
			end_feed(j);
			return;
		}
		consume(j, (size_t)n);
		sent += (size_t)n;
	}
}

/* What the child said on its error pipe before execve, if anything. */
static void
read_setup_error(struct prog_job *j)
{
	int msg[2];

	if (j->err_fd >= 0 && read(j->err_fd, msg, sizeof(msg)) ==
				      (ssize_t)sizeof(msg) &&
	    msg[0] >= 0 && (size_t)msg[0] < UTIL_ARRAY_LEN(stage_name))
		set_why(j, stage_name[msg[0]], msg[1]);
}

static enum prog_status
verdict(struct prog_job *j)
{
	int st = j->wstatus;

	read_setup_error(j);
	if (j->why[0] != '\0')
		return PROG_TEMP;
	if (j->killed && WIFSIGNALED(st)) {
		util_fmt(j->why, sizeof(j->why), "killed after %g s",
			 j->timeout);
		return PROG_TEMP;
	}
	if (WIFEXITED(st)) {
		int code = WEXITSTATUS(st);
		util_fmt(j->why, sizeof(j->why), "exit %d", code);
		if (code == 0)
			return PROG_OK;
		return code == EX_TEMPFAIL ? PROG_TEMP : PROG_PERM;
	}
	const char *abbr = sigabbrev_np(WTERMSIG(st));
	util_fmt(j->why, sizeof(j->why), "signal %d (%s)", WTERMSIG(st),
		 abbr ? abbr : "?");
	return PROG_PERM;
}

static void
finish(struct prog_job *j)
{
	enum prog_status st;

	read_output(j, DRAIN_MAX); /* what it wrote before it exited */
	st = verdict(j);
	stop_all(j);
	j->out[j->outlen] = '\0';
	j->done(j->arg, st, j->why, j->out, j->outlen);
	free(j);
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct prog_job *j = w->data;

	(void)loop;
	(void)revents;
	j->wstatus = w->rstatus;
	j->pid = 0;
	finish(j);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct prog_job *j = w->data;

	(void)loop;
	(void)revents;
	if (j->pid == 0) { /* it never started: j->why says why */
		finish(j);
		return;
	}
	j->killed = true;
	kill_group(j); /* child_cb finishes */
}

/* ------------------------------------------------------------------ */
/* Starting. */

/* Whether to switch ids, or -1 with j->why when we must not run at all. */
static int
check_ids(struct prog_job *j, uid_t uid, bool *set_r)
{
	*set_r = geteuid() == 0;
	if (uid == PROG_NO_USER)
		set_why(j, "program_user unknown", 0);
	else if (uid == 0)
		set_why(j, "refusing to run a program as root", 0);
	else if (!*set_r && uid != geteuid())
		set_why(j, "vdmaild is not root: cannot switch to the "
			   "program's user", 0);
	return j->why[0] != '\0' ? -1 : 0;
}

/* {PATH, HOME, env... } without the caller's PATH and HOME, or NULL. */
static char **
make_env(const char *const *env)
{
	size_t n = 0, k = 0;
	char **e;

	while (env != NULL && env[n] != NULL)
		n++;
	if ((e = calloc(n + ENV_FIXED + 1, sizeof(*e))) == NULL)
		return NULL;
	e[k++] = (char *)"PATH=/usr/bin:/bin";
	e[k++] = (char *)"HOME=/";
	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], "PATH=", 5) != 0 &&
		    strncmp(env[i], "HOME=", 5) != 0)
			e[k++] = (char *)env[i];
	return e;
}

/*
 * Socketpair for stdin, pipe for output, pipe for setup errors: ours in
 * j, the child's in s. Our output end alone is non-blocking: the program
 * gets ordinary blocking descriptors.
 */
static int
open_channels(struct prog_job *j, struct spawn *s)
{
	int sv[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(err, O_CLOEXEC | O_NONBLOCK) < 0) {
		int e = errno;
		for (int i = 0; i < 2; i++) {
			close_fd(&sv[i]);
			close_fd(&out[i]);
			close_fd(&err[i]);
		}
		errno = e;
		return -1;
	}
	/* Whatever the program writes to its stdin fails instead of filling
	 * a buffer no one reads. */
	shutdown(sv[0], SHUT_RD);
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	j->in_fd = sv[0], s->in_fd = sv[1];
	j->out_fd = out[0], s->out_fd = out[1];
	j->err_fd = err[0], s->err_fd = err[1];
	return 0;
}

/* Signals stay blocked across fork so no handler of ours (libev's) runs in
 * the child before child_signals has reset them. */
static int
start_child(struct prog_job *j, struct spawn *s)
{
	sigset_t all, old;
	pid_t pid;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_main(s);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(s->in_fd);
	close(s->out_fd);
	close(s->err_fd);
	if (pid < 0)
		return -1;
	j->pid = pid;
	ev_child_set(&j->child, pid, 0);
	ev_child_start(j->loop, &j->child);
	ev_io_start(j->loop, &j->in_io);
	ev_io_start(j->loop, &j->out_io);
	ev_timer_set(&j->timer, j->timeout, 0);
	ev_timer_start(j->loop, &j->timer);
	return 0;
}

/* Everything up to the fork; a failure leaves j->why set. */
static void
launch(struct prog_job *j, const struct cfg_program *prog, uid_t uid,
       gid_t gid, int msg_fd, char **envp)
{
	char *argv[CFG_PROGRAM_ARGS + 2];
	struct spawn s = { .path = prog->path, .argv = argv, .envp = envp,
			   .uid = uid, .gid = gid };
	unsigned n = 0;

	if (check_ids(j, uid, &s.set_ids) < 0)
		return;
	argv[n++] = (char *)prog->path;
	for (unsigned i = 0; i < prog->nargs && i < CFG_PROGRAM_ARGS; i++)
		argv[n++] = (char *)prog->args[i];
	argv[n] = NULL;
	if ((j->msg_fd = fcntl(msg_fd, F_DUPFD_CLOEXEC, 0)) < 0)
		set_why(j, "dup", errno);
	else if (open_channels(j, &s) < 0)
		set_why(j, "pipe", errno);
	else {
		ev_io_set(&j->in_io, j->in_fd, EV_WRITE);
		ev_io_set(&j->out_io, j->out_fd, EV_READ);
		if (start_child(j, &s) < 0)
			set_why(j, "fork", errno);
	}
}

static struct prog_job *
job_new(struct ev_loop *loop, const char *prefix, size_t prefixlen,
	double timeout, prog_done_fn *done, void *arg)
{
	struct prog_job *j = calloc(1, sizeof(*j) + prefixlen);

	if (j == NULL)
		return NULL;
	j->loop = loop;
	j->done = done;
	j->arg = arg;
	j->timeout = timeout > 0 ? timeout : PROG_TIMEOUT_DEFAULT;
	j->msg_fd = j->in_fd = j->out_fd = j->err_fd = -1;
	if (prefixlen > 0)
		memcpy(j->prefix, prefix, prefixlen);
	j->prefixlen = prefixlen;
	ev_io_init(&j->in_io, in_cb, -1, EV_WRITE);
	ev_io_init(&j->out_io, out_cb, -1, EV_READ);
	ev_child_init(&j->child, child_cb, 0, 0);
	ev_timer_init(&j->timer, timer_cb, 0, 0);
	j->in_io.data = j->out_io.data = j->child.data = j->timer.data = j;
	return j;
}

struct prog_job *
prog_run(struct ev_loop *loop, const struct cfg_program *prog, uid_t uid,
	 gid_t gid, int msg_fd, uint64_t msg_off, const char *prefix,
	 size_t prefixlen, const char *const *env, double timeout,
	 prog_done_fn *done, void *arg)
{
	struct prog_job *j = job_new(loop, prefix, prefixlen, timeout, done,
				     arg);
	char **envp = make_env(env);

	if (j == NULL || envp == NULL) {
		free(j);
		free(envp);
		return NULL;
	}
	j->msg_off = msg_off;
	launch(j, prog, uid, gid, msg_fd, envp);
	free(envp);
	if (j->pid == 0) { /* done must not run from in here: next turn */
		stop_all(j);
		ev_timer_set(&j->timer, 0, 0);
		ev_timer_start(loop, &j->timer);
	}
	return j;
}

void
prog_cancel(struct prog_job *j)
{
	if (j == NULL)
		return;
	if (j->pid > 0) {
		kill_group(j);
		waitpid(j->pid, NULL, 0);
	}
	stop_all(j);
	free(j);
}
