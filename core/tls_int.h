/*
 * tls_int: the BearSSL adapter's private structures and helpers, shared by
 * its two files: tls.c (certificates and keys, the server policy and
 * sessions, the pump and the accessors every session has) and tls_client.c
 * (trust anchors, the opportunistic X.509 engine, client sessions and
 * their verdict). Private to core/tls*.c: everything else sees tls.h,
 * which keeps BearSSL's types out of it.
 */
#ifndef VD_TLS_INT_H
#define VD_TLS_INT_H

#include <bearssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tls.h"

/*
 * A session: what tls_pump and the accessors need. It is the first member
 * of tls_server (tls.c) or tls_client (tls_client.c), which hold the
 * side's own state (C17 6.7.2.1p15 makes the pointer casts between them
 * valid).
 */
struct tls {
	br_ssl_engine_context *eng; /* inside sc or cc of the side */
	bool client;
	bool established;
	bool closing;
};

/* The suites both sides offer (tls.h: the policies), in order. */
#define TLS_AEAD_SUITES                                                     \
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,                         \
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,                           \
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,                   \
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,                     \
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,                         \
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384

/*
 * Sets up what both sides share on eng: TLS 1.2 only, suites (n of them),
 * the curves, the hashes, the PRFs, AES-GCM and ChaCha20-Poly1305. The
 * side adds its flags, its other algorithms and its buffer.
 */
void tls_engine_setup(br_ssl_engine_context *eng, const uint16_t *suites,
		      size_t n);

/* One PEM object: its type from the BEGIN line and its DER (malloc'd). */
struct tls_pem_obj {
	char name[64];
	unsigned char *der;
	size_t len, cap;
};

/*
 * A BearSSL destination callback (br_pem_decoder_setdest, or the DN of
 * br_x509_decoder_init) that appends to the struct tls_pem_obj ctx,
 * growing der. Out of memory, der is freed and left NULL and the rest of
 * the object is dropped.
 */
void tls_pem_append(void *ctx, const void *data, size_t len);

/*
 * Reads path (at most 1 MiB; err says why not) and decodes every PEM
 * object in it, calling take(arg, obj) for each: take owns obj->der from
 * then on, whatever it returns, and returns 0 to go on or -1 to stop (err
 * then names the object). With skipped_r, objects that are malformed,
 * truncated or beyond the memory are counted there and passed over;
 * without, they fail the file. Returns the number of objects handed to take, or -1 with
 * err set.
 */
int tls_pem_each(const char *path,
		 int (*take)(void *, struct tls_pem_obj *), void *arg,
		 size_t *skipped_r, char *err, size_t errlen);

/* Copies len bytes of src to *mem and advances it; returns the copy. */
unsigned char *tls_copy_bytes(unsigned char **mem, const unsigned char *src,
			      size_t len);

/*
 * In tls_client.c: drops a client session's reference to its trust
 * anchors; tls_free calls it, then frees the session.
 */
void tls_client_fini(struct tls *t);

#endif
