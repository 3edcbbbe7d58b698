/*
 * tls: the BearSSL adapter, the only file that includes BearSSL.
 * A tls_ctx holds the certificates: a default chain and key plus per-domain
 * ones chosen by SNI (exact name, then the parent domain). It is reference
 * counted, so a SIGHUP reload never pulls a certificate from under a
 * handshake. A tls is one server-side session (about 37 KiB: context plus
 * full-duplex record buffer), allocated only when TLS starts.
 * Policy: TLS 1.2 only, ECDHE key exchange, AEAD ciphers only
 * (AES-GCM, ChaCha20-Poly1305), RSA or EC keys. Sessions are resumed
 * only when there is a single certificate (no tls_sni).
 * tls_pump drives the engine without blocking: it moves records between
 * the socket and the engine and plaintext between the engine and the
 * connection's buffers, then reports which socket events it needs.
 */
#ifndef VD_TLS_H
#define VD_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct cfg;
struct tls_ctx;
struct tls;

/*
 * Loads cfg's tls_cert/tls_key and every tls_sni entry. Returns NULL with
 * a message in err on failure; returns NULL with err[0] == '\0' when no
 * certificate is configured.
 */
struct tls_ctx *tls_ctx_load(const struct cfg *cfg, char *err, size_t errlen);
void tls_ctx_ref(struct tls_ctx *ctx);
void tls_ctx_unref(struct tls_ctx *ctx);

/* A new server session using ctx (takes a reference); NULL if no memory. */
struct tls *tls_new(struct tls_ctx *ctx);
void tls_free(struct tls *t);

enum { TLS_WANT_READ = 1, TLS_WANT_WRITE = 2 };

/*
 * Moves data: socket <-> engine <-> in/out. readable tells whether the
 * socket may have bytes to read. Returns the TLS_WANT_* mask the engine
 * needs next (0 when it needs nothing), or -1 when the session is over
 * (closed or failed; see tls_error). *progress_r is set when plaintext
 * input arrived.
 */
int tls_pump(struct tls *t, int fd, bool readable, struct buf *in,
	     struct buf *out, bool *progress_r);

/* Starts a clean close (close_notify); keep pumping until -1. */
void tls_close(struct tls *t);
bool tls_is_closing(const struct tls *t);

bool tls_is_established(const struct tls *t);
/* 0 for a clean close, else BearSSL's error code (logged as tls_error=N). */
int tls_error(const struct tls *t);
const char *tls_version_name(const struct tls *t);
const char *tls_cipher_name(const struct tls *t);
const char *tls_sni(const struct tls *t);

#endif
