#include "core/authw.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cdb/tbl.h"
#include "core/log.h"
#include "core/pwhash.h"
#include "core/util.h"

#define REQ_HEAD 9  /* 'Q' id(4) loginlen(2) pwlen(2) */
#define ANSWER_LEN 6
#define TICK 0.25   /* seconds between timeout and restart checks */

/* ------------------------------------------------------------------ */
/* The worker process: blocking, one request at a time, in order. */

/* The whole of n bytes, or -1 (EOF or an error: the pool is gone). */
static int
io_full(int fd, void *p, size_t n, bool out)
{
	size_t off = 0;

	while (off < n) {
		ssize_t r = out ? write(fd, (char *)p + off, n - off)
				: read(fd, (char *)p + off, n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

/* What an unknown login is checked against, so it costs the same. */
static void
make_dummy(char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;

	memset(&cd, 0, sizeof(cd));
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) != NULL &&
	    crypt_rn("no such user", salt, &cd, sizeof(cd)) != NULL &&
	    cd.output[0] != '*')
		util_fmt(out, outlen, "{CRYPT}%s", cd.output);
	else
		util_strlcpy(out, "{SSHA}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", outlen);
}

static enum authw_result
worker_check(struct tbl_set *t, bool *open, const char *dir, bool plain,
	     const char *dummy, const char *login, size_t llen,
	     const char *pw, size_t pwlen)
{
	char hash[TBL_HASH_MAX], err[512];
	int rc;

	if (!*open) {
		if (tbl_set_open(t, dir, TBL_MASK(TBL_PASSWORDS), err,
				 sizeof(err)) < 0) {
			log_warnx("authw: %s", err);
			return AUTHW_TEMPFAIL;
		}
		*open = true;
	}
	tbl_set_refresh(t);
	rc = tbl_lookup_password(t, login, llen, hash, sizeof(hash));
	if (rc < 0)
		return AUTHW_TEMPFAIL;
	enum pwhash_result r = pwhash_verify(rc ? hash : dummy,
					     strlen(rc ? hash : dummy), pw,
					     pwlen, plain);
	if (r == PWHASH_BAD && rc > 0) {
		char esc[128];
		util_log_escape(esc, sizeof(esc), login, llen);
		log_warnx("authw: %s: stored password unusable (scheme not "
			  "supported here, or malformed)", esc);
	}
	return rc > 0 && r == PWHASH_MATCH ? AUTHW_OK : AUTHW_FAIL;
}

static void __attribute__((noreturn))
worker_main(int fd, const char *dir, bool plain)
{
	struct tbl_set t;
	bool open = false;
	char dummy[CRYPT_OUTPUT_SIZE + 8];
	unsigned char head[REQ_HEAD];
	char login[AUTHW_LOGIN_MAX], pw[AUTHW_PW_MAX];

	memset(&t, 0, sizeof(t));
	make_dummy(dummy, sizeof(dummy));
	while (io_full(fd, head, sizeof(head), false) == 0) {
		size_t llen = (size_t)head[5] << 8 | head[6];
		size_t plen = (size_t)head[7] << 8 | head[8];
		if (head[0] != 'Q' || llen > sizeof(login) || plen > sizeof(pw) ||
		    io_full(fd, login, llen, false) < 0 ||
		    io_full(fd, pw, plen, false) < 0)
			break;
		unsigned char ans[ANSWER_LEN] = { 'A', head[1], head[2], head[3],
						  head[4], 0 };
		ans[5] = (unsigned char)worker_check(&t, &open, dir, plain,
						     dummy, login, llen, pw,
						     plen);
		explicit_bzero(pw, sizeof(pw));
		if (io_full(fd, ans, sizeof(ans), true) < 0)
			break;
	}
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* The pool, in vdmaild's loop. */

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void child_cb(struct ev_loop *loop, ev_child *w, int revents);

static int
spawn(struct authw_worker *w)
{
	struct authw_pool *p = w->pool;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("authw: socketpair");
		return -1;
	}
	log_flush(); /* the child must not write our buffered lines again */
	pid = fork();
	if (pid < 0) {
		log_warn("authw: fork");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		if (null >= 0)
			dup2(null, 0);
		dup2(sv[1], 3);
		close_range(4, ~0U, 0); /* listeners, clients, tables: not ours */
		worker_main(3, p->table_dir, p->allow_plain);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	w->pid = pid;
	w->fd = sv[0];
	ev_io_init(&w->io, io_cb, w->fd, EV_READ);
	w->io.data = w;
	ev_io_start(p->loop, &w->io);
	ev_child_init(&w->child, child_cb, pid, 0);
	w->child.data = w;
	ev_child_start(p->loop, &w->child);
	return 0;
}

/* Every check the worker held answers TEMPFAIL; the worker is gone. */
static void
fail_all(struct authw_worker *w)
{
	struct authw_pool *p = w->pool;
	struct authw_req *r = w->head;

	w->head = NULL;
	w->tail = &w->head;
	w->pending = 0;
	while (r != NULL) {
		struct authw_req *next = r->next;
		if (r->cb != NULL) {
			p->tempfails++;
			r->cb(r->arg, AUTHW_TEMPFAIL);
		}
		free(r);
		r = next;
	}
}

static void
close_worker(struct authw_worker *w)
{
	if (w->fd >= 0) {
		ev_io_stop(w->pool->loop, &w->io);
		close(w->fd);
	}
	w->fd = -1;
	if (buf_len(&w->out))
		explicit_bzero(buf_data(&w->out), buf_len(&w->out));
	buf_reset(&w->out);
	buf_reset(&w->in);
}

static void
child_cb(struct ev_loop *loop, ev_child *c, int revents)
{
	struct authw_worker *w = c->data;
	int st = c->rstatus;

	(void)revents;
	ev_child_stop(loop, c);
	log_warnx("authw: worker %ld exited (%s %d)%s", (long)w->pid,
		  WIFSIGNALED(st) ? "signal" : "status",
		  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
		  w->pending ? ": its pending logins fail for now" : "");
	w->pid = 0;
	close_worker(w);
	fail_all(w);
	/* The tick starts a new one, so a worker that dies at once is not
	 * forked in a tight loop. */
}

static void
rearm(struct authw_worker *w)
{
	int ev = EV_READ | (buf_len(&w->out) ? EV_WRITE : 0);

	if ((w->io.events & (EV_READ | EV_WRITE)) != ev) {
		ev_io_stop(w->pool->loop, &w->io);
		ev_io_set(&w->io, w->fd, ev);
		ev_io_start(w->pool->loop, &w->io);
	}
}

/* A worker that breaks the protocol is killed; child_cb cleans up. */
static void
kill_worker(struct authw_worker *w, const char *why)
{
	log_warnx("authw: worker %ld %s: killed", (long)w->pid, why);
	kill(w->pid, SIGKILL);
	close_worker(w);
}

static void
take_answers(struct authw_worker *w)
{
	while (buf_len(&w->in) >= ANSWER_LEN && w->fd >= 0) {
		const unsigned char *a = (const unsigned char *)buf_data(&w->in);
		uint32_t id = (uint32_t)a[1] << 24 | (uint32_t)a[2] << 16 |
			      (uint32_t)a[3] << 8 | a[4];
		struct authw_req *r = w->head;
		if (a[0] != 'A' || r == NULL || r->id != id || a[5] > 2) {
			kill_worker(w, "answered out of turn");
			return;
		}
		enum authw_result res = (enum authw_result)a[5];
		buf_consume(&w->in, ANSWER_LEN);
		w->head = r->next;
		if (w->head == NULL)
			w->tail = &w->head;
		w->pending--;
		if (res == AUTHW_TEMPFAIL)
			w->pool->tempfails++;
		if (r->cb != NULL)
			r->cb(r->arg, res);
		free(r);
	}
}

static void
io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
	struct authw_worker *w = io->data;
	size_t avail;

	(void)loop;
	if (revents & EV_WRITE) {
		ssize_t n = write(w->fd, buf_data(&w->out), buf_len(&w->out));
		if (n > 0) {
			/* What was sent held passwords: not left in memory. */
			explicit_bzero(buf_data(&w->out), (size_t)n);
			buf_consume(&w->out, (size_t)n);
		}
		else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			kill_worker(w, "cannot be written to");
			return;
		}
	}
	if (revents & EV_READ) {
		char *t = buf_tail(&w->in, 4096, &avail);
		ssize_t n = t ? read(w->fd, t, avail) : -1;
		if (n > 0) {
			buf_commit(&w->in, (size_t)n);
			take_answers(w);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			kill_worker(w, "closed its socket");
			return;
		}
	}
	if (w->fd >= 0)
		rearm(w);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct authw_pool *p = t->data;
	ev_tstamp now = ev_now(loop);

	(void)revents;
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct authw_worker *w = &p->w[i];
		if (w->pid == 0) {
			spawn(w);
			continue;
		}
		if (w->head != NULL && w->fd >= 0 &&
		    now - w->head->sent > p->timeout)
			kill_worker(w, "took too long");
	}
}

int
authw_start(struct authw_pool *p, struct ev_loop *loop, unsigned nworkers,
	    const char *table_dir, bool allow_plain, unsigned per_worker,
	    double timeout)
{
	memset(p, 0, sizeof(*p));
	if (nworkers == 0 || nworkers > AUTHW_MAX_WORKERS ||
	    util_strlcpy(p->table_dir, table_dir, sizeof(p->table_dir)) >=
		    sizeof(p->table_dir))
		return -1;
	p->loop = loop;
	p->nworkers = nworkers;
	p->allow_plain = allow_plain;
	p->per_worker = per_worker ? per_worker : 1;
	p->timeout = timeout > 0 ? timeout : 10;
	for (unsigned i = 0; i < nworkers; i++) {
		struct authw_worker *w = &p->w[i];
		w->pool = p;
		w->fd = -1;
		w->tail = &w->head;
		buf_init(&w->out, 64 * 1024);
		buf_init(&w->in, 64 * 1024);
		if (spawn(w) < 0) {
			authw_stop(p);
			return -1;
		}
	}
	ev_timer_init(&p->tick, tick_cb, TICK, TICK);
	p->tick.data = p;
	ev_timer_start(loop, &p->tick);
	return 0;
}

void
authw_stop(struct authw_pool *p)
{
	if (p->loop == NULL)
		return;
	ev_timer_stop(p->loop, &p->tick);
	for (unsigned i = 0; i < p->nworkers; i++) {
		struct authw_worker *w = &p->w[i];
		if (w->pid > 0) {
			ev_child_stop(p->loop, &w->child);
			kill(w->pid, SIGKILL);
			waitpid(w->pid, NULL, 0);
			w->pid = 0;
		}
		close_worker(w);
		fail_all(w);
		buf_free(&w->out);
		buf_free(&w->in);
	}
	p->loop = NULL;
}

/* The running worker with the fewest checks queued, or NULL when full. */
static struct authw_worker *
pick(struct authw_pool *p)
{
	struct authw_worker *best = NULL;

	for (unsigned i = 0; i < p->nworkers; i++) {
		struct authw_worker *w = &p->w[i];
		if (w->pid > 0 && w->fd >= 0 && w->pending < p->per_worker &&
		    (best == NULL || w->pending < best->pending))
			best = w;
	}
	return best;
}

struct authw_req *
authw_check(struct authw_pool *p, const char *login, size_t llen,
	    const char *pw, size_t pwlen, authw_done_fn *cb, void *arg)
{
	struct authw_worker *w = pick(p);
	struct authw_req *r;
	unsigned char head[REQ_HEAD];

	if (w == NULL || llen > AUTHW_LOGIN_MAX || pwlen > AUTHW_PW_MAX ||
	    buf_room(&w->out) < REQ_HEAD + llen + pwlen ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->id = ++p->next_id;
	r->cb = cb;
	r->arg = arg;
	r->sent = ev_now(p->loop);
	head[0] = 'Q';
	head[1] = (unsigned char)(r->id >> 24);
	head[2] = (unsigned char)(r->id >> 16);
	head[3] = (unsigned char)(r->id >> 8);
	head[4] = (unsigned char)r->id;
	head[5] = (unsigned char)(llen >> 8);
	head[6] = (unsigned char)llen;
	head[7] = (unsigned char)(pwlen >> 8);
	head[8] = (unsigned char)pwlen;
	buf_append(&w->out, head, sizeof(head));
	buf_append(&w->out, login, llen);
	buf_append(&w->out, pw, pwlen);
	*w->tail = r;
	w->tail = &r->next;
	w->pending++;
	p->checks++;
	rearm(w);
	return r;
}

void
authw_cancel(struct authw_req *r)
{
	if (r != NULL)
		r->cb = NULL;
}
