/*
 * tls: the BearSSL adapter, the only module that includes BearSSL for TLS
 * (core/pwhash.c and tools/dns_tsig.c use only its hashes). Certificates,
 * server sessions and the pump are in tls.c, the client side in
 * tls_client.c, and what the two share in their private tls_int.h; this
 * is the one public header.
 * A tls_ctx holds the certificates: a default chain and key plus per-domain
 * ones chosen by SNI (exact name, then the parent domain). It is reference
 * counted, so a SIGHUP reload never pulls a certificate from under a
 * handshake. A tls_client_ctx holds the trust anchors outbound sessions
 * check a server against, shared and reference counted the same way.
 * A tls is one session, allocated only when TLS starts: server side (about
 * 37 KiB: context plus full-duplex record buffer) or client side (about
 * 40 KiB: the X.509 validator adds 4 KiB).
 * Server policy: TLS 1.2 only, ECDHE key exchange, AEAD ciphers only
 * (AES-GCM, ChaCha20-Poly1305), RSA or EC keys. Sessions are resumed
 * only when there is a single certificate (no tls_sni).
 * Client policy, opportunistic (RFC 3207, RFC 7435): TLS 1.2, ECDHE, AEAD
 * first and AES-CBC as a fallback; the handshake succeeds whatever the
 * server's certificate says, provided it holds an RSA or EC key, and
 * tls_peer_verified tells afterwards whether it passed a strict check.
 * No client certificate, no resumption.
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
struct tls_client_ctx;
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

/*
 * Loads the trust anchors of ca_file, a PEM bundle; NULL or "" is the
 * system bundle (/etc/ssl/certs/ca-certificates.crt). Reads at most 1 MiB
 * of disk, so call it at startup or reload; sessions never touch the file.
 * Objects that are not certificates, do not decode or hold a key type
 * BearSSL lacks are skipped. A missing or unreadable bundle is not fatal:
 * the set is then empty and every peer counts as unverified. err gets a
 * warning for either (else ""). Returns NULL only when out of memory.
 */
struct tls_client_ctx *tls_client_ctx_load(const char *ca_file, char *err,
					   size_t errlen);
/* The number of trust anchors loaded (for logs and tests). */
size_t tls_client_ctx_anchors(const struct tls_client_ctx *ctx);
void tls_client_ctx_ref(struct tls_client_ctx *ctx);
void tls_client_ctx_unref(struct tls_client_ctx *ctx);

/*
 * A new client session using ctx (takes a reference) to server_name: the
 * name sent as SNI and the one the certificate must match (one trailing
 * dot is ignored). NULL, "" or an IP literal sends no SNI, and the peer
 * can then never count as verified. The first tls_pump sends the
 * ClientHello. Returns NULL if no memory or the name is over 253 bytes.
 */
struct tls *tls_client_new(struct tls_client_ctx *ctx,
			   const char *server_name);

/*
 * After the handshake of a client session: 1 when the server's chain led to
 * a trust anchor, every certificate was within its dates, the name matched
 * and the key may sign; else 0 with the reason in why ("not trusted",
 * "name mismatch", "expired or not yet valid", "no host name", "handshake
 * not done", ...). why may be NULL. A server session always gives 0.
 */
int tls_peer_verified(const struct tls *t, char *why, size_t whylen);

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
/* Server: the name the client asked for; client: the name sent. "" if none. */
const char *tls_sni(const struct tls *t);

#endif
