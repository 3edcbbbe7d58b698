/*
 * listen: the listening sockets (IPv4 and IPv6) and accept. Applies the
 * connection caps before any session state exists: over max_connections
 * or max_connections_per_ip the client gets the protocol's busy reply and
 * is closed. When accept fails for lack of descriptors the listener pauses
 * for a second (logged once) instead of spinning.
 * Owns the per-address connection counts.
 */
#ifndef VD_LISTEN_H
#define VD_LISTEN_H

#include <ev.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/cfg.h"

struct vd;
struct conn_proto;

struct listener {
	struct vd *vd;
	struct listener *next;
	int fd;
	ev_io io;
	ev_timer backoff;
	struct cfg_listen cfg;
	const struct conn_proto *proto;
	/* Text sent before closing a refused connection (plaintext only). */
	const char *busy;
};

/*
 * Binds every configured listener; protos[p] is the protocol for
 * cfg_proto p and busy[p] its refusal line. Returns 0, or -1 with err.
 */
int listen_open_all(struct vd *vd, const struct conn_proto *const *protos,
		    const char *const *busy, char *err, size_t errlen);

/* Starts accepting (after privileges are dropped). */
void listen_start_all(struct vd *vd);

/* Stops accepting and closes every listening socket. */
void listen_close_all(struct vd *vd);

/* Per-address caps: acquire returns 0, or -1 when over the cap. */
int listen_ip_acquire(struct vd *vd, const struct sockaddr_storage *sa);
void listen_ip_release(struct vd *vd, const struct sockaddr_storage *sa);
void listen_ip_free(struct vd *vd);

#endif
