#include "core/conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/listen.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/tls.h"
#include "core/util.h"
#include "core/vd.h"

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_step(struct conn *c, bool readable);

static void
conn_free(struct conn *c)
{
	struct vd *vd = c->vd;

	if (c->sess != NULL && c->proto->close != NULL)
		c->proto->close(c);
	ev_io_stop(vd->loop, &c->io);
	ev_timer_stop(vd->loop, &c->timer);
	if (c->flags & CONN_F_IN_LIST) {
		struct conn **pp = &vd->resumes;
		while (*pp != c)
			pp = &(*pp)->next_resume;
		*pp = c->next_resume;
	}
	if (c->tls != NULL && tls_error(c->tls) != 0)
		log_info("c=%06x %s tls_error=%d", c->id, c->proto->name,
			 tls_error(c->tls));
	tls_free(c->tls);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		vd->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	vd->nconns--;
	if (!(c->flags & CONN_F_OUTBOUND))
		listen_ip_release(vd, &c->peer);
	log_info("c=%06x %s disconnect %s=[%s] duration=%.3f reason=%s",
		 c->id, c->proto->name,
		 c->flags & CONN_F_OUTBOUND ? "server" : "client", c->peer_ip,
		 ev_now(vd->loop) - c->start,
		 c->close_reason[0] ? c->close_reason : "closed");
	free(c);
	loop_conn_gone(vd);
}

void
conn_hold(struct conn *c)
{
	c->holds++;
}

void
conn_release(struct conn *c)
{
	VD_ASSERT(c->holds > 0);
	if (--c->holds == 0 && (c->flags & CONN_F_CLOSING))
		conn_free(c);
}

void
conn_close(struct conn *c, const char *reason)
{
	if (c->flags & CONN_F_CLOSING)
		return;
	c->flags |= CONN_F_CLOSING;
	if (c->close_reason[0] == '\0')
		util_strlcpy(c->close_reason, reason, sizeof(c->close_reason));
	ev_io_stop(c->vd->loop, &c->io);
	ev_timer_stop(c->vd->loop, &c->timer);
	if (c->holds == 0)
		conn_free(c);
}

void
conn_close_after_write(struct conn *c, const char *reason)
{
	if (c->close_reason[0] == '\0')
		util_strlcpy(c->close_reason, reason, sizeof(c->close_reason));
	c->flags |= CONN_F_CLOSE_AFTER;
}

void
conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->flags & CONN_F_CLOSING)
		return;
	if (buf_append(&c->out, data, len) < 0)
		conn_close(c, "output_overflow");
}

void
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int rc;

	if (c->flags & CONN_F_CLOSING)
		return;
	va_start(ap, fmt);
	rc = buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	if (rc < 0)
		conn_close(c, "output_overflow");
}

void
conn_set_timeout(struct conn *c, double secs)
{
	c->timeout = secs;
	c->timer.repeat = secs;
	if (!(c->flags & CONN_F_CLOSING))
		ev_timer_again(c->vd->loop, &c->timer);
}

void
conn_pause(struct conn *c)
{
	c->flags |= CONN_F_PAUSED;
}

void
conn_resume(struct conn *c)
{
	c->flags &= ~(unsigned)CONN_F_PAUSED;
	if (c->flags & (CONN_F_IN_LIST | CONN_F_CLOSING))
		return;
	c->flags |= CONN_F_IN_LIST;
	c->next_resume = c->vd->resumes;
	c->vd->resumes = c;
}

void
conn_starttls(struct conn *c)
{
	c->flags |= CONN_F_STARTTLS;
}

void
conn_starttls_client(struct conn *c, struct tls_client_ctx *ctx,
		     const char *name)
{
	c->tls_client = ctx;
	c->tls_name = name;
	c->flags |= CONN_F_STARTTLS;
}

int
conn_tls_peer_verified(const struct conn *c, char *why, size_t len)
{
	if (c->tls == NULL) {
		util_strlcpy(why, "no TLS", len);
		return 0;
	}
	return tls_peer_verified(c->tls, why, len);
}

bool
conn_is_tls(const struct conn *c)
{
	return c->tls != NULL;
}

int
conn_take_line(struct conn *c, char *line, size_t limit, size_t *len_r)
{
	const char *l;
	size_t used;
	int rc = buf_getline(&c->in, limit, &l, len_r, &used);

	if (rc <= 0)
		return rc;
	memcpy(line, l, *len_r);
	buf_consume(&c->in, used);
	return 1;
}

const char *
conn_tls_version(const struct conn *c)
{
	return c->tls ? tls_version_name(c->tls) : "";
}

const char *
conn_tls_cipher(const struct conn *c)
{
	return c->tls ? tls_cipher_name(c->tls) : "";
}

const char *
conn_tls_sni(const struct conn *c)
{
	const char *n = c->tls ? tls_sni(c->tls) : NULL;

	return n != NULL && n[0] != '\0' ? n : NULL;
}


static int
start_tls(struct conn *c)
{
	if (c->tls_client != NULL)
		c->tls = tls_client_new(c->tls_client, c->tls_name);
	else if (c->vd->tls != NULL)
		c->tls = tls_new(c->vd->tls);
	if (c->tls == NULL) {
		conn_close(c, "tls_unavailable");
		return -1;
	}
	c->flags |= CONN_F_HANDSHAKE;
	conn_set_timeout(c, c->vd->cfg.timeout_tls);
	return 0;
}

/* A connection on fd, linked into the vd's list (no I/O yet). */
static struct conn *
conn_alloc(struct vd *vd, struct listener *lst, int fd,
	   const struct sockaddr_storage *peer, const struct conn_proto *proto)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->vd = vd;
	c->lst = lst;
	c->fd = fd;
	c->id = ++vd->next_conn_id & 0xffffff;
	c->proto = proto;
	c->peer = *peer;
	c->start = ev_now(vd->loop);
	util_format_ip(peer, c->peer_ip, sizeof(c->peer_ip));
	buf_init(&c->in, CONN_IN_MAX);
	buf_init(&c->out, CONN_OUT_MAX);
	ev_io_init(&c->io, conn_io_cb, fd, 0);
	c->io.data = c;
	ev_init(&c->timer, conn_timer_cb);
	c->timer.data = c;
	c->next = vd->conns;
	if (vd->conns)
		vd->conns->prev = c;
	vd->conns = c;
	vd->nconns++;
	return c;
}

int
conn_new(struct vd *vd, struct listener *lst, int fd,
	 const struct sockaddr_storage *peer, const struct conn_proto *proto,
	 bool tls)
{
	struct conn *c = conn_alloc(vd, lst, fd, peer, proto);

	if (c == NULL) {
		close(fd);
		return -1;
	}
	log_info("c=%06x %s connect client=[%s]%s", c->id, proto->name,
		 c->peer_ip, tls ? " tls=implicit" : "");
	conn_hold(c);
	conn_set_timeout(c, vd->cfg.timeout_command);
	if ((!tls || start_tls(c) == 0) && proto->open(c) < 0)
		conn_close(c, "session_setup");
	conn_step(c, false);
	conn_release(c);
	return 0;
}

struct conn *
conn_connect(struct vd *vd, const struct sockaddr_storage *sa,
	     socklen_t salen, const struct conn_proto *proto, void *sess,
	     double connect_timeout)
{
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
					       SOCK_CLOEXEC, 0);
	struct conn *c;

	if (fd < 0)
		return NULL;
	int rc = connect(fd, (const struct sockaddr *)sa, salen);
	int e = errno;

	c = conn_alloc(vd, NULL, fd, sa, proto);
	if (c == NULL) {
		close(fd);
		return NULL;
	}
	c->flags |= CONN_F_OUTBOUND | CONN_F_CONNECTING;
	c->sess = sess;
	if (rc < 0 && e != EINPROGRESS) {
		/* Refused at once (loopback): reported from the loop like a
		 * late error, so the caller sees one way of failing. */
		snprintf(c->close_reason, sizeof(c->close_reason),
			 "connect: %s", strerror(e));
		ev_feed_event(vd->loop, &c->io, EV_CUSTOM);
		return c;
	}
	log_debug("c=%06x %s connecting server=[%s]", c->id, proto->name,
		  c->peer_ip);
	ev_io_set(&c->io, fd, EV_WRITE);
	ev_io_start(vd->loop, &c->io);
	conn_set_timeout(c, connect_timeout);
	return c;
}

/* The outbound connect finished (or failed): the session starts. */
static void
connected(struct conn *c, int revents)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (revents & EV_CUSTOM) {
		conn_close(c, c->close_reason); /* refused at once */
		return;
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		snprintf(c->close_reason, sizeof(c->close_reason),
			 "connect: %s", strerror(err));
		conn_close(c, c->close_reason);
		return;
	}
	c->flags &= ~(unsigned)CONN_F_CONNECTING;
	log_info("c=%06x %s connect server=[%s]", c->id, c->proto->name,
		 c->peer_ip);
	if (c->proto->open(c) < 0)
		conn_close(c, "session_setup");
	conn_step(c, false);
}

/* Plaintext read: at most one buffer's worth per callback. */
static void
read_plain(struct conn *c)
{
	size_t avail;
	char *p = buf_tail(&c->in, CONN_IO_MAX / 4, &avail);
	ssize_t n;

	if (p == NULL)
		return;
	n = recv(c->fd, p, avail, 0);
	if (n > 0) {
		buf_commit(&c->in, (size_t)n);
		ev_timer_again(c->vd->loop, &c->timer);
	} else if (n == 0) {
		c->flags |= CONN_F_EOF;
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		conn_close(c, errno == ECONNRESET ? "reset" : "read_error");
	}
}

static void
write_plain(struct conn *c)
{
	size_t sent = 0;

	while (buf_len(&c->out) > 0 && sent < CONN_IO_MAX) {
		ssize_t n = send(c->fd, buf_data(&c->out), buf_len(&c->out),
				 MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		conn_close(c, "write_error");
		return;
	}
}

/* Engine pump; returns the TLS_WANT_* mask, or -1 after closing. */
static int
pump_tls(struct conn *c, bool readable, bool *input_r)
{
	size_t before = buf_len(&c->in);
	int want = tls_pump(c->tls, c->fd, readable, &c->in, &c->out, input_r);

	if (buf_len(&c->in) > before)
		ev_timer_again(c->vd->loop, &c->timer);
	if (want < 0) {
		conn_close(c, tls_error(c->tls) ? "tls_error" : "disconnected");
		return -1;
	}
	if ((c->flags & CONN_F_HANDSHAKE) && tls_is_established(c->tls)) {
		c->flags &= ~(unsigned)CONN_F_HANDSHAKE;
		log_info("c=%06x %s tls version=%s cipher=%s sni=%s", c->id,
			 c->proto->name, tls_version_name(c->tls),
			 tls_cipher_name(c->tls), tls_sni(c->tls));
		conn_set_timeout(c, c->vd->cfg.timeout_command);
		if (c->proto->tls_ready != NULL)
			c->proto->tls_ready(c);
	}
	return want;
}

static bool
may_process(const struct conn *c)
{
	return !(c->flags & (CONN_F_CLOSING | CONN_F_PAUSED | CONN_F_STARTTLS |
			     CONN_F_HANDSHAKE | CONN_F_CLOSE_AFTER)) &&
	       buf_len(&c->out) < CONN_OUT_HIGH;
}

static void
rearm(struct conn *c, int tls_want)
{
	int ev = 0;

	if (c->flags & CONN_F_CLOSING)
		return;
	/* A streaming protocol that yielded (the round limit of conn_step)
	 * wants the next writable moment even with its output all sent. */
	bool producing = (c->flags & CONN_F_PRODUCING) && may_process(c);

	if (c->tls != NULL) {
		if ((tls_want & TLS_WANT_READ) && buf_room(&c->in) > 0)
			ev |= EV_READ;
		if ((tls_want & TLS_WANT_WRITE) || producing)
			ev |= EV_WRITE;
	} else {
		if (buf_room(&c->in) > 0 && !(c->flags & (CONN_F_EOF |
				CONN_F_STARTTLS | CONN_F_CLOSE_AFTER)))
			ev |= EV_READ;
		if (buf_len(&c->out) > 0 || producing)
			ev |= EV_WRITE;
	}
	if (ev == (c->io.events & (EV_READ | EV_WRITE)) && ev_is_active(&c->io))
		return;
	ev_io_stop(c->vd->loop, &c->io);
	ev_io_set(&c->io, c->fd, ev);
	if (ev != 0)
		ev_io_start(c->vd->loop, &c->io);
}

/* After the output drained: STARTTLS switch or the deferred close. */
static void
after_drain(struct conn *c, int tls_want)
{
	if (buf_len(&c->out) > 0 || (c->flags & CONN_F_CLOSING))
		return;
	if (c->flags & CONN_F_CLOSE_AFTER) {
		/* Under TLS the last reply may still sit in the engine. */
		if (c->tls != NULL && (tls_want & TLS_WANT_WRITE))
			return;
		if (c->tls != NULL && !tls_is_closing(c->tls)) {
			tls_close(c->tls);
			bool in;
			if (pump_tls(c, false, &in) < 0 ||
			    (pump_tls(c, false, &in) & TLS_WANT_WRITE))
				return;
		}
		conn_close(c, "quit");
		return;
	}
	if (c->flags & CONN_F_STARTTLS) {
		c->flags &= ~(unsigned)CONN_F_STARTTLS;
		/* RFC 3207 4: plaintext pipelined after STARTTLS is dropped. */
		buf_reset(&c->in);
		start_tls(c);
	}
}

/*
 * One full turn for a connection: move bytes, let the protocol run,
 * move the replies out, then derive the watcher's events from the state.
 */
static void
conn_step(struct conn *c, bool readable)
{
	int want = 0;
	bool input = false;

	for (int round = 0; round < 8 && !(c->flags & CONN_F_CLOSING);
	     round++) {
		if (c->tls != NULL) {
			want = pump_tls(c, readable, &input);
			readable = false;
			if (want < 0)
				return;
		} else if (readable) {
			read_plain(c);
			readable = false;
		}
		if (may_process(c) && (buf_len(&c->in) > 0 ||
				       (c->flags & CONN_F_PRODUCING)))
			c->proto->input(c);
		if (c->flags & CONN_F_CLOSING)
			return;
		if (c->tls != NULL) {
			want = pump_tls(c, false, &input);
			if (want < 0)
				return;
		} else {
			write_plain(c);
		}
		unsigned before = c->flags;
		after_drain(c, want);
		/* Go round again only if TLS just started or input waits. */
		if (c->flags == before &&
		    !((input || (c->flags & CONN_F_PRODUCING)) &&
		      may_process(c)))
			break;
	}
	if (c->flags & CONN_F_CLOSING)
		return;
	if ((c->flags & CONN_F_EOF) && !(c->flags & CONN_F_PAUSED)) {
		conn_close(c, "disconnected");
		return;
	}
	if (buf_len(&c->out) == 0)
		buf_shrink(&c->out, CONN_KEEP_BUF);
	if (buf_len(&c->in) == 0)
		buf_shrink(&c->in, CONN_KEEP_BUF);
	rearm(c, want);
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	conn_hold(c);
	if (c->flags & CONN_F_CONNECTING || revents & EV_CUSTOM)
		connected(c, revents);
	else /* Errors and hang-ups show up on the next read or write. */
		conn_step(c, (revents & EV_READ) != 0);
	conn_release(c);
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	conn_hold(c);
	if (c->flags & CONN_F_CONNECTING) {
		conn_close(c, "connect: timeout");
	} else if ((c->flags & (CONN_F_HANDSHAKE | CONN_F_CLOSE_AFTER)) ||
		   c->proto->timeout == NULL) {
		conn_close(c, "timeout");
	} else {
		util_strlcpy(c->close_reason, "timeout",
			     sizeof(c->close_reason));
		c->proto->timeout(c);
		/* The goodbye gets a few seconds to leave, then we close. */
		conn_close_after_write(c, "timeout");
		if (!(c->flags & CONN_F_CLOSING)) {
			c->timer.repeat = 5;
			ev_timer_again(c->vd->loop, &c->timer);
		}
		conn_step(c, false);
	}
	conn_release(c);
}

void
conn_run_resumes(struct vd *vd)
{
	while (vd->resumes != NULL) {
		struct conn *c = vd->resumes;
		vd->resumes = c->next_resume;
		c->flags &= ~(unsigned)CONN_F_IN_LIST;
		conn_hold(c);
		conn_step(c, false);
		conn_release(c);
	}
}

void
conn_shutdown_all(struct vd *vd)
{
	struct conn *c = vd->conns, *next;

	for (; c != NULL; c = next) {
		conn_hold(c);
		if (c->proto->shutdown != NULL)
			c->proto->shutdown(c);
		else
			conn_close(c, "shutdown");
		conn_step(c, false);
		next = c->next;
		conn_release(c);
	}
}

void
conn_close_all(struct vd *vd, const char *reason)
{
	struct conn *c = vd->conns, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		conn_close(c, reason);
	}
}
