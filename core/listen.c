#include "core/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/log.h"
#include "core/util.h"
#include "core/vd.h"

#define LISTEN_BACKLOG 1024
#define LISTEN_ACCEPTS_PER_CB 64
#define IPCOUNT_BUCKETS 1024

struct ipnode {
	struct ipnode *next;
	unsigned char addr[16];
	size_t len;
	unsigned count;
};

struct listen_ipcount {
	struct ipnode *b[IPCOUNT_BUCKETS];
};

static void listen_accept_cb(struct ev_loop *loop, ev_io *w, int revents);
static void listen_backoff_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* The address bytes, with IPv4-mapped IPv6 folded to IPv4. */
static size_t
ip_key(const struct sockaddr_storage *sa, unsigned char out[16])
{
	if (sa->ss_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 4;
	}
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		memcpy(out, a6->s6_addr + 12, 4);
		return 4;
	}
	memcpy(out, a6->s6_addr, 16);
	return 16;
}

static unsigned
ip_hash(const unsigned char *k, size_t len)
{
	unsigned h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ k[i]) * 16777619u;
	return h % IPCOUNT_BUCKETS;
}

static struct ipnode **
ip_find(struct vd *vd, const unsigned char *k, size_t len)
{
	struct ipnode **pp = &vd->ipcount->b[ip_hash(k, len)];

	while (*pp != NULL && ((*pp)->len != len || memcmp((*pp)->addr, k, len)))
		pp = &(*pp)->next;
	return pp;
}

int
listen_ip_acquire(struct vd *vd, const struct sockaddr_storage *sa)
{
	unsigned char k[16];
	size_t len = ip_key(sa, k);
	struct ipnode **pp;

	if (vd->ipcount == NULL &&
	    (vd->ipcount = calloc(1, sizeof(*vd->ipcount))) == NULL)
		return -1;
	pp = ip_find(vd, k, len);
	if (*pp == NULL) {
		struct ipnode *n = calloc(1, sizeof(*n));
		if (n == NULL)
			return -1;
		memcpy(n->addr, k, len);
		n->len = len;
		*pp = n;
	}
	if ((*pp)->count >= vd->cfg.max_connections_per_ip)
		return -1;
	(*pp)->count++;
	return 0;
}

void
listen_ip_release(struct vd *vd, const struct sockaddr_storage *sa)
{
	unsigned char k[16];
	size_t len = ip_key(sa, k);
	struct ipnode **pp, *n;

	if (vd->ipcount == NULL)
		return;
	pp = ip_find(vd, k, len);
	if ((n = *pp) == NULL)
		return;
	if (--n->count == 0) {
		*pp = n->next;
		free(n);
	}
}

void
listen_ip_free(struct vd *vd)
{
	if (vd->ipcount == NULL)
		return;
	for (size_t i = 0; i < IPCOUNT_BUCKETS; i++) {
		struct ipnode *n = vd->ipcount->b[i];
		while (n != NULL) {
			struct ipnode *next = n->next;
			free(n);
			n = next;
		}
	}
	free(vd->ipcount);
	vd->ipcount = NULL;
}

static int
bind_one(struct listener *l, char *err, size_t errlen)
{
	int one = 1;
	int fd = socket(l->cfg.sa.ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "listen %s: socket: %s", l->cfg.text,
			 strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->cfg.sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&l->cfg.sa, l->cfg.salen) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0) {
		snprintf(err, errlen, "listen %s: %s", l->cfg.text,
			 strerror(errno));
		close(fd);
		return -1;
	}
	l->fd = fd;
	return 0;
}

int
listen_open_all(struct vd *vd, const struct conn_proto *const *protos,
		const char *const *busy, char *err, size_t errlen)
{
	for (unsigned i = 0; i < vd->cfg.nlisten; i++) {
		struct listener *l = calloc(1, sizeof(*l));
		if (l == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		l->vd = vd;
		l->cfg = vd->cfg.listen[i];
		l->proto = protos[l->cfg.proto];
		l->busy = busy[l->cfg.proto];
		l->next = vd->listeners;
		vd->listeners = l;
		if (bind_one(l, err, errlen) < 0) {
			l->fd = -1;
			return -1;
		}
		ev_io_init(&l->io, listen_accept_cb, l->fd, EV_READ);
		l->io.data = l;
		ev_init(&l->backoff, listen_backoff_cb);
		l->backoff.data = l;
	}
	return 0;
}

void
listen_start_all(struct vd *vd)
{
	for (struct listener *l = vd->listeners; l != NULL; l = l->next) {
		ev_io_start(vd->loop, &l->io);
		log_info("listening on %s (%s%s)", l->cfg.text, l->proto->name,
			 l->cfg.implicit_tls ? ", TLS" : "");
	}
}

void
listen_close_all(struct vd *vd)
{
	struct listener *l = vd->listeners, *next;

	for (; l != NULL; l = next) {
		next = l->next;
		ev_io_stop(vd->loop, &l->io);
		ev_timer_stop(vd->loop, &l->backoff);
		if (l->fd >= 0)
			close(l->fd);
		free(l);
	}
	vd->listeners = NULL;
}

/* Refuses a connection before any session exists. */
static void
refuse(struct listener *l, int fd, const struct sockaddr_storage *sa,
       const char *why)
{
	char ip[64];

	if (!l->cfg.implicit_tls && l->busy != NULL) {
		ssize_t n = write(fd, l->busy, strlen(l->busy));
		(void)n; /* best effort: the client may already be gone */
	}
	close(fd);
	util_format_ip(sa, ip, sizeof(ip));
	log_info("%s refused client=[%s] on %s: %s", l->proto->name, ip,
		 l->cfg.text, why);
}

static void
listen_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct vd *vd = l->vd;

	(void)revents;
	for (int i = 0; i < LISTEN_ACCEPTS_PER_CB; i++) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		int fd = accept4(l->fd, (struct sockaddr *)&sa, &salen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept on %s: pausing 1s", l->cfg.text);
				ev_io_stop(loop, &l->io);
				ev_timer_set(&l->backoff, 1.0, 0);
				ev_timer_start(loop, &l->backoff);
			} else if (errno != EAGAIN && errno != EINTR &&
				   errno != ECONNABORTED) {
				log_warn("accept on %s", l->cfg.text);
			}
			return;
		}
		if (vd->nconns >= vd->cfg.max_connections) {
			refuse(l, fd, &sa, "max_connections reached");
			continue;
		}
		if (listen_ip_acquire(vd, &sa) < 0) {
			refuse(l, fd, &sa, "max_connections_per_ip reached");
			continue;
		}
		if (conn_new(vd, l, fd, &sa, l->proto, l->cfg.implicit_tls) < 0)
			listen_ip_release(vd, &sa);
	}
}

static void
listen_backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct listener *l = w->data;

	(void)revents;
	if (!l->vd->stopping)
		ev_io_start(loop, &l->io);
}
