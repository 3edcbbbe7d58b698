#include "spool/flush.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"

static void flush_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void flush_child_cb(struct ev_loop *loop, ev_child *w, int revents);

static int
sync_all(const int fds[2])
{
	int err = 0;

	if (syncfs(fds[0]) < 0)
		err = errno;
	if (fds[1] >= 0 && syncfs(fds[1]) < 0 && err == 0)
		err = errno;
	return err;
}

/* The child: one syncfs round per byte received, the errno sent back. */
static void __attribute__((noreturn))
child_main(int sock, const int fds[2])
{
	int keep[3] = { sock, fds[0], fds[1] }, hi[3], mine[2];
	char c;

	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* Keep only what is needed: no listener or client survives here. */
	for (int i = 0; i < 3; i++)
		hi[i] = keep[i] >= 0 ? fcntl(keep[i], F_DUPFD, 100) : -1;
	for (int i = 0; i < 3; i++)
		if (hi[i] >= 0)
			dup2(hi[i], 3 + i);
	close_range(6, ~0U, 0);
	mine[0] = 4;
	mine[1] = fds[1] >= 0 ? 5 : -1;
	for (;;) {
		ssize_t n = read(3, &c, 1);
		if (n == 0)
			_exit(0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		int err = sync_all(mine);
		if (write(3, &err, sizeof(err)) != (ssize_t)sizeof(err))
			_exit(1);
	}
}

static int
spawn(struct flush *f)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(sv[1], f->fds);
	}
	close(sv[1]);
	f->pid = pid;
	f->sock = sv[0];
	ev_io_init(&f->io, flush_io_cb, f->sock, EV_READ);
	f->io.data = f;
	ev_io_start(f->loop, &f->io);
	ev_child_init(&f->child, flush_child_cb, pid, 0);
	f->child.data = f;
	ev_child_start(f->loop, &f->child);
	return 0;
}

int
flush_init(struct flush *f, struct ev_loop *loop, int fd_a, int fd_b)
{
	struct stat a, b;

	memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->sock = -1;
	f->pending_tail = &f->pending;
	f->fds[0] = fd_a;
	f->fds[1] = fd_b;
	/* One file system: one syncfs is enough. */
	if (fd_b >= 0 && fstat(fd_a, &a) == 0 && fstat(fd_b, &b) == 0 &&
	    a.st_dev == b.st_dev)
		f->fds[1] = -1;
	if (spawn(f) < 0) {
		log_warn("flush: no child process, flushing in the loop");
		return -1;
	}
	return 0;
}

static void
complete(struct flush_req *list, int err)
{
	while (list != NULL) {
		struct flush_req *r = list;
		list = r->next;
		r->done(r->arg, err);
	}
}

/* Sends the waiting requests to the child as one round. */
static void
start_round(struct flush *f)
{
	char c = 's';

	if (f->inflight != NULL || f->pending == NULL)
		return;
	f->inflight = f->pending;
	f->pending = NULL;
	f->pending_tail = &f->pending;
	if (f->sock >= 0 && write(f->sock, &c, 1) == 1) {
		f->syncs++;
		return;
	}
	/* No child to ask: flush here, then answer. */
	struct flush_req *list = f->inflight;
	f->inflight = NULL;
	f->syncs++;
	complete(list, sync_all(f->fds));
	start_round(f);
}

void
flush_request(struct flush *f, struct flush_req *r,
	      void (*done)(void *arg, int err), void *arg)
{
	r->done = done;
	r->arg = arg;
	r->next = NULL;
	*f->pending_tail = r;
	f->pending_tail = &r->next;
	start_round(f);
}

static void
drop_child(struct flush *f)
{
	if (f->sock >= 0) {
		ev_io_stop(f->loop, &f->io);
		close(f->sock);
		f->sock = -1;
	}
	if (f->pid > 0)
		ev_child_stop(f->loop, &f->child);
	f->pid = 0;
}

/* The child died: its round is unknown, so it is asked again. */
static void
restart(struct flush *f)
{
	struct flush_req *again = f->inflight;

	if (f->pid > 0)
		kill(f->pid, SIGKILL);
	drop_child(f);
	if (spawn(f) < 0)
		log_warn("flush: cannot restart the child, flushing in the "
			 "loop");
	f->inflight = NULL;
	if (again != NULL) {
		struct flush_req *last = again;
		while (last->next != NULL)
			last = last->next;
		last->next = f->pending;
		if (f->pending == NULL)
			f->pending_tail = &last->next;
		f->pending = again;
	}
	start_round(f);
}

static void
flush_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct flush *f = w->data;
	struct flush_req *done;
	int err;
	ssize_t n;

	(void)loop;
	(void)revents;
	n = read(f->sock, &err, sizeof(err));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != (ssize_t)sizeof(err) || f->inflight == NULL) {
		log_warnx("flush: child lost (read %zd), restarting", n);
		restart(f);
		return;
	}
	if (err != 0) {
		errno = err;
		log_warn("flush: syncfs");
	}
	done = f->inflight;
	f->inflight = NULL;
	complete(done, err);
	start_round(f);
}

static void
flush_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct flush *f = w->data;

	(void)loop;
	(void)revents;
	log_warnx("flush: child %d exited (status %d), restarting",
		  (int)w->rpid, w->rstatus);
	f->pid = 0;
	ev_child_stop(f->loop, &f->child);
	restart(f);
}

void
flush_fini(struct flush *f)
{
	pid_t pid = f->pid;

	drop_child(f);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	while (f->inflight != NULL || f->pending != NULL) {
		struct flush_req *list = f->inflight ? f->inflight : f->pending;
		if (f->inflight)
			f->inflight = NULL;
		else {
			f->pending = NULL;
			f->pending_tail = &f->pending;
		}
		complete(list, sync_all(f->fds));
	}
}
