/*
 * conn: one client connection on the reactor. Owns the socket, one ev_io,
 * one ev_timer (idle timeout), the input and output buffers and, once TLS
 * starts, the TLS state. Protocols never see the fd: they read c->in,
 * append replies with conn_write/conn_printf and steer the connection with
 * the calls below. Replies are flushed when a batch of input has been
 * processed, so pipelined replies leave in one write.
 *
 * One I/O callback (conn_io_cb) does: read -> protocol input -> write ->
 * rearm. A protocol streaming a long reply sets CONN_F_PRODUCING. Closing is deferred while a hold is taken: conn_close() inside a
 * callback only marks the connection; it is freed when the last hold goes.
 * Never blocks: reads and writes are non-blocking, at most CONN_IO_MAX
 * bytes per callback for fairness.
 */
#ifndef VD_CONN_H
#define VD_CONN_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"

struct vd;
struct conn;
struct tls;
struct tls_client_ctx;
struct listener;

#define CONN_IN_MAX (32 * 1024)
#define CONN_OUT_MAX (256 * 1024)
#define CONN_OUT_HIGH (64 * 1024) /* stop taking input above this */
#define CONN_IO_MAX (64 * 1024)
#define CONN_KEEP_BUF 4096 /* an idle connection keeps no more than this */

/* What a protocol plugs into a connection. */
struct conn_proto {
	const char *name;
	/* After accept: allocate the session, queue the greeting. -1 closes. */
	int (*open)(struct conn *c);
	/* New input in c->in (or a resume): consume what can be handled. */
	void (*input)(struct conn *c);
	/* The idle timer fired: queue the protocol's goodbye and close. */
	void (*timeout)(struct conn *c);
	/* The TLS handshake completed (implicit TLS or after STARTTLS). */
	void (*tls_ready)(struct conn *c);
	/* Shutdown was asked: close now if idle, or after the transaction. */
	void (*shutdown)(struct conn *c);
	/* The connection goes away: free the session (c->sess). */
	void (*close)(struct conn *c);
};

enum {
	CONN_F_CLOSING = 1u << 0,     /* freed when the last hold goes */
	CONN_F_CLOSE_AFTER = 1u << 1, /* close once the output is sent */
	CONN_F_PAUSED = 1u << 2,      /* the protocol waits for an async step */
	CONN_F_STARTTLS = 1u << 3,    /* start TLS once the output is sent */
	CONN_F_EOF = 1u << 4,         /* the peer closed its side */
	CONN_F_HANDSHAKE = 1u << 5,   /* TLS handshake under way */
	CONN_F_IN_LIST = 1u << 6,     /* linked in the resume list */
	CONN_F_PRODUCING = 1u << 7,   /* the protocol has more output to make:
					 input() is called again whenever the
					 output is below CONN_OUT_HIGH, so a
					 long reply is streamed, never built
					 whole (a client that stops reading
					 holds it at that mark) */
	CONN_F_OUTBOUND = 1u << 8,    /* we connected (conn_connect) */
	CONN_F_CONNECTING = 1u << 9,  /* the connect has not completed */
};

struct conn {
	struct vd *vd;
	struct listener *lst;
	int fd;
	uint32_t id;
	unsigned flags;
	int holds;
	ev_io io;
	ev_timer timer;
	double timeout;
	struct buf in;
	struct buf out;
	struct tls *tls;
	struct tls_client_ctx *tls_client; /* outbound STARTTLS: anchors */
	const char *tls_name;              /* and the peer's name */
	const struct conn_proto *proto;
	void *sess;
	struct sockaddr_storage peer;
	char peer_ip[48];
	char close_reason[32];
	ev_tstamp start;
	struct conn *prev, *next;   /* every connection of the vd */
	struct conn *next_resume;   /* resume list */
};

/*
 * Takes over fd (non-blocking) for a new connection; starts implicit TLS
 * when tls is set, calls proto->open. Returns 0 once the connection owns
 * the fd and the per-address count (it may already be closed again), or
 * -1 when it could not be created (the fd is closed; the caller still
 * holds the per-address count).
 */
int conn_new(struct vd *vd, struct listener *lst, int fd,
		      const struct sockaddr_storage *peer,
		      const struct conn_proto *proto, bool tls);

/*
 * An outbound connection to sa (port set) for proto, with sess as its
 * session from the start, so proto->close runs (with c->close_reason
 * saying why, e.g. "connect: Connection refused") even when the connect
 * fails or takes longer than connect_timeout; proto->open runs once it
 * is connected. Returns the connection, or NULL (errno) when no socket
 * could be made; sess then still belongs to the caller.
 */
struct conn *conn_connect(struct vd *vd, const struct sockaddr_storage *sa,
			  socklen_t salen, const struct conn_proto *proto,
			  void *sess, double connect_timeout);

/*
 * Takes the next input line (without its CRLF or LF) into line, which
 * holds limit bytes: 1 with *len_r, 0 when no whole line is there yet,
 * -1 when the line is longer than limit (it is being discarded, up to
 * its LF, so the next call starts on a fresh line).
 */
int conn_take_line(struct conn *c, char *line, size_t limit, size_t *len_r);

/* Appends to the output; on overflow the connection is closed. */
void conn_write(struct conn *c, const void *data, size_t len);
void conn_printf(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Closes now (output dropped) / once the output has been sent. */
void conn_close(struct conn *c, const char *reason);
void conn_close_after_write(struct conn *c, const char *reason);

/* Sets the idle timeout in seconds (restarted by every read). */
void conn_set_timeout(struct conn *c, double secs);

/*
 * Pauses input processing until conn_resume (an async step is pending);
 * conn_resume runs the protocol's input again from the loop's next turn.
 */
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);

/*
 * After the current output is sent: discard all buffered input (RFC 3207
 * section 4: nothing sent in plaintext after STARTTLS may be acted upon)
 * and start the TLS handshake. Input processing stops until it completes.
 */
void conn_starttls(struct conn *c);
/* The same as the client of an outbound connection, to server name. */
void conn_starttls_client(struct conn *c, struct tls_client_ctx *ctx,
			  const char *name);
/* After an outbound handshake: 1 verified, 0 not (why says what). */
int conn_tls_peer_verified(const struct conn *c, char *why, size_t len);

static inline bool
conn_is_closing(const struct conn *c)
{
	return (c->flags & (CONN_F_CLOSING | CONN_F_CLOSE_AFTER)) != 0;
}

bool conn_is_tls(const struct conn *c);
/* TLS details for logs and Received headers (empty strings without TLS). */
const char *conn_tls_version(const struct conn *c);
const char *conn_tls_cipher(const struct conn *c);
/* The SNI name the client asked for, or NULL. */
const char *conn_tls_sni(const struct conn *c);

/* Reentrancy: a held connection is not freed until released. */
void conn_hold(struct conn *c);
void conn_release(struct conn *c);

/* Runs the resume list (called from the loop's prepare hook). */
void conn_run_resumes(struct vd *vd);

/* Asks every connection's protocol to shut down (SIGTERM). */
void conn_shutdown_all(struct vd *vd);
/* Closes every connection at once (the shutdown grace ran out). */
void conn_close_all(struct vd *vd, const char *reason);

#endif
