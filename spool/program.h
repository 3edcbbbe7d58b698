/*
 * program: the `program` delivery option. Runs one program the admin
 * registered ("program = NAME PATH [ARG...]") as a short-lived child with
 * a message on its stdin, a time limit, and an unprivileged user; reports
 * how it ended through one callback, from the loop.
 * Never blocks the loop: stdin is fed, output read and the exit awaited by
 * watchers. The loop must be libev's default loop (ev_child needs it).
 * Owns the child, its descriptors and a dup of the message descriptor until
 * the callback has run or the job is cancelled.
 * stdin is one end of an AF_UNIX stream socketpair, not a pipe, so that
 * send(MSG_NOSIGNAL) turns a program that stops reading into EPIPE, never
 * SIGPIPE, whatever our disposition of SIGPIPE (vdmaild's main ignores it
 * too). stdout and stderr are one pipe, read to the end and kept up to
 * PROG_OUTPUT_MAX bytes.
 * The child: its own session and process group, the signal dispositions
 * and mask reset, every descriptor but 0, 1, 2 closed, supplementary
 * groups dropped, then gid and uid set (when vdmaild is root), cwd "/",
 * execve(path, {path, args...}, env + PATH=/usr/bin:/bin + HOME=/).
 */
#ifndef VD_PROGRAM_H
#define VD_PROGRAM_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/cfg.h"

#define PROG_OUTPUT_MAX 2048  /* output kept for the bounce; the rest dropped */
#define PROG_WHY_MAX 128
#define PROG_TIMEOUT_DEFAULT 60.0
#define PROG_NO_USER ((uid_t)-1) /* program_user did not resolve */

struct prog_job;

enum prog_status {
	PROG_OK,   /* exit 0 */
	PROG_TEMP, /* exit 75 (EX_TEMPFAIL), killed by the time limit, or it
		      could not start (no user, fork, exec, setuid...):
		      try again later */
	PROG_PERM, /* any other exit status, or death by a signal not ours */
};

/*
 * st: how it ended. why: a short NUL-terminated text for logs and bounces:
 * "exit 0", "exit 3", "signal 11 (SEGV)", "killed after 60 s",
 * "exec: No such file or directory", "refusing to run a program as root".
 * output: what the program wrote on stdout and stderr together, outlen
 * bytes (at most PROG_OUTPUT_MAX; may hold NULs), followed by a '\0'.
 * Both point into the job, which is freed when done returns.
 */
typedef void prog_done_fn(void *arg, enum prog_status st, const char *why,
			  const char *output, size_t outlen);

/*
 * Runs prog with, on its stdin, the prefix bytes (prefixlen, may be 0;
 * e.g. Return-Path and Delivered-To lines) then the bytes of msg_fd from
 * msg_off to its end. msg_fd is dup'ed and read with pread: the caller's
 * descriptor and its offset are untouched, and it may be closed as soon as
 * prog_run returns. prefix and env are copied too (env into the child).
 * env: NAME=VALUE strings ending with NULL (as execve's envp; NULL: none),
 * the program's whole environment besides PATH=/usr/bin:/bin and HOME=/
 * (entries naming PATH or HOME are dropped; nothing of vdmaild's own
 * environment is inherited).
 * uid/gid: the user to run as, resolved once by the caller (PROG_NO_USER
 * when it did not resolve: PROG_TEMP). uid 0 is refused. When vdmaild is
 * not root, uid must be its own euid and the ids are left as they are.
 * timeout: seconds (<= 0: PROG_TIMEOUT_DEFAULT); past it the child's
 * whole process group gets SIGKILL and the result is PROG_TEMP.
 * The job ends when the program exits: output still in the pipe then is
 * read, processes it left behind are not waited for (their output is
 * lost; the time limit no longer covers them).
 * done runs exactly once, from the loop, never inside prog_run, also when
 * the program could not be started. Returns the job, or NULL only when
 * out of memory (done never runs then).
 */
struct prog_job *prog_run(struct ev_loop *loop, const struct cfg_program *prog,
			  uid_t uid, gid_t gid, int msg_fd, uint64_t msg_off,
			  const char *prefix, size_t prefixlen,
			  const char *const *env, double timeout,
			  prog_done_fn *done, void *arg);

/*
 * Kills the program's process group (if it still runs), reaps the child
 * (immediate after SIGKILL), frees the job; done never runs. For shutdown
 * and for a caller that goes away. j may be NULL; never call it from done.
 */
void prog_cancel(struct prog_job *j);

#endif
