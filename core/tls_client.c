/*
 * tls_client: the client side of the BearSSL adapter (tls.h has the whole
 * story): the trust anchors of outbound sessions, the X.509 engine that
 * judges a server's chain without ever stopping the handshake, client
 * sessions and their verdict. The PEM reader, the engine setup and the
 * pump are tls.c's, shared through tls_int.h.
 */
#include "core/tls.h"

#include <arpa/inet.h>
#include <bearssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/tls_int.h"
#include "core/util.h"

#define TLS_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
#define TLS_NAME_MAX 253 /* RFC 1035 2.3.4, in text form */

/* The trust anchors of outbound sessions; each dn.data owns its key too. */
struct tls_client_ctx {
	int refs;
	br_x509_trust_anchor *anchors;
	size_t nanchors, cap;
	size_t skipped; /* bundle entries we could not use */
	bool oom;
};

/*
 * Our X.509 engine for opportunistic TLS: br_x509_minimal judges the chain,
 * but its verdict is only recorded; the key comes from our own decoding of
 * the end-entity certificate, so any certificate lets the handshake go on.
 */
struct tls_x509 {
	const br_x509_class *vtable;
	br_x509_minimal_context minimal;
	br_x509_decoder_context ee;
	const br_x509_pkey *pkey; /* in ee; NULL unless it decoded */
	unsigned ncerts;
	int result; /* -1 before the chain ends, else minimal's (0 = good) */
};

/* A client session; tls.c has the server's. */
struct tls_client {
	struct tls t;
	br_ssl_client_context cc;
	struct tls_x509 x509;
	struct tls_client_ctx *ctx;
	bool named; /* a host name was given, so the check could pass */
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/*
 * Outbound, the alternative to a suite we refuse is plaintext (RFC 7435
 * 1.3: some protection beats none), so CBC follows AEAD: SChannel on
 * Windows Server 2008 R2 to 2012 R2 pairs ECDHE-RSA only with CBC, and
 * HMAC-SHA1 is still a sound MAC. BearSSL decrypts CBC records in constant
 * time (Lucky 13). Postfix's opportunistic default ("medium") accepts the
 * same. The Finished messages protect the choice, so a peer that has AEAD
 * keeps it. Still ECDHE only: static RSA would give up forward secrecy
 * for servers that, speaking TLS 1.2, nearly all have ECDHE.
 */
static const uint16_t tls_client_suites[] = {
	TLS_AEAD_SUITES,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
};

/* ---- trust anchors for client sessions ---- */

static int
anchors_grow(struct tls_client_ctx *c)
{
	size_t ncap = c->cap ? c->cap * 2 : 64;
	br_x509_trust_anchor *n = realloc(c->anchors, ncap * sizeof(*n));

	if (n == NULL)
		return -1;
	c->anchors = n;
	c->cap = ncap;
	return 0;
}

/* Appends a deep copy of dn and pk as one block (freed through dn.data). */
static int
anchor_add(struct tls_client_ctx *c, const struct tls_pem_obj *dn,
	   const br_x509_pkey *pk, bool ca)
{
	const br_rsa_public_key *rsa = &pk->key.rsa;
	size_t klen = pk->key_type == BR_KEYTYPE_RSA ? rsa->nlen + rsa->elen
						    : pk->key.ec.qlen;
	br_x509_trust_anchor *ta;
	unsigned char *m;

	if (c->nanchors == c->cap && anchors_grow(c) < 0)
		return -1;
	m = malloc(dn->len + klen);
	if (m == NULL)
		return -1;
	ta = &c->anchors[c->nanchors++];
	memset(ta, 0, sizeof(*ta));
	/* A non-CA anchor still works for direct trust of that very key. */
	ta->flags = ca ? BR_X509_TA_CA : 0;
	ta->dn.data = tls_copy_bytes(&m, dn->der, ta->dn.len = dn->len);
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		br_rsa_public_key *k = &ta->pkey.key.rsa;
		k->n = tls_copy_bytes(&m, rsa->n, k->nlen = rsa->nlen);
		k->e = tls_copy_bytes(&m, rsa->e, k->elen = rsa->elen);
	} else {
		br_ec_public_key *k = &ta->pkey.key.ec;
		k->curve = pk->key.ec.curve;
		k->q = tls_copy_bytes(&m, pk->key.ec.q,
				      k->qlen = pk->key.ec.qlen);
	}
	return 0;
}

/* tls_pem_each's take for a CA bundle: never stops the walk. */
static int
take_anchor(void *arg, struct tls_pem_obj *o)
{
	struct tls_client_ctx *c = arg;
	br_x509_decoder_context dc;
	const br_x509_pkey *pk = NULL;
	struct tls_pem_obj dn; /* a growable buffer, for the DN */

	memset(&dn, 0, sizeof(dn));
	if (strcmp(o->name, "CERTIFICATE") == 0 ||
	    strcmp(o->name, "X509 CERTIFICATE") == 0) {
		br_x509_decoder_init(&dc, tls_pem_append, &dn);
		br_x509_decoder_push(&dc, o->der, o->len);
		pk = br_x509_decoder_get_pkey(&dc);
	}
	if (pk == NULL || dn.der == NULL ||
	    (pk->key_type != BR_KEYTYPE_RSA && pk->key_type != BR_KEYTYPE_EC))
		c->skipped++;
	else if (anchor_add(c, &dn, pk, br_x509_decoder_isCA(&dc)) < 0)
		c->oom = true;
	free(dn.der);
	free(o->der);
	return 0;
}

struct tls_client_ctx *
tls_client_ctx_load(const char *ca_file, char *err, size_t errlen)
{
	const char *path = ca_file && ca_file[0] ? ca_file : TLS_SYSTEM_CA;
	struct tls_client_ctx *c = calloc(1, sizeof(*c));

	err[0] = '\0';
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->refs = 1;
	if (tls_pem_each(path, take_anchor, c, &c->skipped, err, errlen) < 0) {
		size_t n = strlen(err); /* the file could not be read */
		snprintf(err + n, errlen - n, "; no trust anchors");
		return c;
	}
	if (c->oom) {
		tls_client_ctx_unref(c);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (c->nanchors == 0)
		snprintf(err, errlen, "%s: no usable certificate", path);
	else if (c->skipped > 0)
		snprintf(err, errlen, "%s: %zu entries skipped, %zu loaded",
			 path, c->skipped, c->nanchors);
	return c;
}

size_t
tls_client_ctx_anchors(const struct tls_client_ctx *ctx)
{
	return ctx->nanchors;
}

void
tls_client_ctx_ref(struct tls_client_ctx *ctx)
{
	ctx->refs++;
}

void
tls_client_ctx_unref(struct tls_client_ctx *ctx)
{
	if (ctx == NULL || --ctx->refs > 0)
		return;
	for (size_t i = 0; i < ctx->nanchors; i++)
		free(ctx->anchors[i].dn.data);
	free(ctx->anchors);
	free(ctx);
}

/* ---- the X.509 engine of client sessions ---- */

static void
x509_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;
	time_t now = time(NULL);

	/* BearSSL counts days from 1 January of year 0: 1970 is day 719528. */
	br_x509_minimal_set_time(&x->minimal, (uint32_t)(now / 86400 + 719528),
				 (uint32_t)(now % 86400));
	x->ncerts = 0;
	x->pkey = NULL;
	x->result = -1;
	x->minimal.vtable->start_chain(&x->minimal.vtable, server_name);
}

static void
x509_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	if (x->ncerts == 0)
		br_x509_decoder_init(&x->ee, NULL, NULL);
	x->minimal.vtable->start_cert(&x->minimal.vtable, length);
}

static void
x509_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	if (x->ncerts == 0)
		br_x509_decoder_push(&x->ee, buf, len);
	x->minimal.vtable->append(&x->minimal.vtable, buf, len);
}

static void
x509_end_cert(const br_x509_class **ctx)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;

	if (x->ncerts++ == 0)
		x->pkey = br_x509_decoder_get_pkey(&x->ee);
	x->minimal.vtable->end_cert(&x->minimal.vtable);
}

/*
 * Records minimal's verdict and lets the handshake go on (RFC 7435: an
 * unauthenticated encrypted channel beats cleartext); only a chain without
 * a usable end-entity key stops it.
 */
static unsigned
x509_end_chain(const br_x509_class **ctx)
{
	struct tls_x509 *x = (struct tls_x509 *)(void *)ctx;
	const br_x509_class **m = &x->minimal.vtable;
	unsigned r = (*m)->end_chain(m), usages = 0;

	/* Every suite we offer is ECDHE: the server's key must sign. */
	if (r == 0 && ((*m)->get_pkey(m, &usages) == NULL ||
		       !(usages & BR_KEYTYPE_SIGN)))
		r = BR_ERR_X509_FORBIDDEN_KEY_USAGE;
	x->result = (int)r;
	if (x->pkey != NULL)
		return 0;
	return x->ncerts == 0 ? BR_ERR_X509_EMPTY_CHAIN
			      : (unsigned)br_x509_decoder_last_error(&x->ee);
}

static const br_x509_pkey *
x509_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	const struct tls_x509 *x = (const struct tls_x509 *)(const void *)ctx;

	/* The certificate's Key Usage counts only in tls_peer_verified. */
	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return x->pkey;
}

static const br_x509_class tls_x509_vtable = {
	sizeof(struct tls_x509),
	x509_start_chain,
	x509_start_cert,
	x509_append,
	x509_end_cert,
	x509_end_chain,
	x509_get_pkey,
};

static const char *
x509_reason(int err)
{
	switch (err) {
	case -1: return "handshake not done";
	case BR_ERR_X509_NOT_TRUSTED: return "not trusted";
	case BR_ERR_X509_BAD_SERVER_NAME: return "name mismatch";
	case BR_ERR_X509_EXPIRED: return "expired or not yet valid";
	case BR_ERR_X509_TIME_UNKNOWN: return "no clock";
	case BR_ERR_X509_BAD_SIGNATURE: return "bad signature";
	case BR_ERR_X509_NOT_CA: return "issuer is not a CA";
	case BR_ERR_X509_DN_MISMATCH: return "broken chain";
	case BR_ERR_X509_FORBIDDEN_KEY_USAGE: return "key may not sign";
	case BR_ERR_X509_WEAK_PUBLIC_KEY: return "weak key";
	case BR_ERR_X509_CRITICAL_EXTENSION:
		return "unknown critical extension";
	case BR_ERR_X509_UNSUPPORTED: return "unsupported algorithm";
	case BR_ERR_X509_LIMIT_EXCEEDED: return "chain too long";
	default: return NULL;
	}
}

/* ---- sessions ---- */

/*
 * Copies name without one trailing dot into buf; returns buf, or NULL when
 * there is nothing to send (RFC 6066 3: no SNI for an IP literal). *bad_r
 * is set for a name too long for DNS.
 */
static const char *
client_name(const char *name, char buf[TLS_NAME_MAX + 1], bool *bad_r)
{
	unsigned char ip[sizeof(struct in6_addr)];
	size_t n = name ? strlen(name) : 0;

	*bad_r = false;
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n > TLS_NAME_MAX) {
		*bad_r = true;
		return NULL;
	}
	memcpy(buf, name ? name : "", n);
	buf[n] = '\0';
	if (n == 0 || inet_pton(AF_INET, buf, ip) == 1 ||
	    inet_pton(AF_INET6, buf, ip) == 1)
		return NULL;
	return buf;
}

struct tls *
tls_client_new(struct tls_client_ctx *ctx, const char *server_name)
{
	char buf[TLS_NAME_MAX + 1];
	bool bad;
	const char *name = client_name(server_name, buf, &bad);
	struct tls_client *c = bad ? NULL : malloc(sizeof(*c));
	br_ssl_engine_context *eng;

	if (c == NULL)
		return NULL;
	memset(c, 0, offsetof(struct tls_client, iobuf));
	c->t.client = true;
	c->ctx = ctx;
	tls_client_ctx_ref(ctx);
	c->named = name != NULL;
	br_ssl_client_zero(&c->cc);
	eng = c->t.eng = &c->cc.eng;
	tls_engine_setup(eng, tls_client_suites,
			 UTIL_ARRAY_LEN(tls_client_suites));
	br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
	br_ssl_engine_set_default_aes_cbc(eng);
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_default_ecdsa(eng);
	br_x509_minimal_init_full(&c->x509.minimal, ctx->anchors,
				  ctx->nanchors);
	c->x509.vtable = &tls_x509_vtable;
	c->x509.result = -1;
	br_ssl_engine_set_x509(eng, &c->x509.vtable);
	br_ssl_engine_set_buffer(eng, c->iobuf, sizeof(c->iobuf), 1);
	if (!br_ssl_client_reset(&c->cc, name, 0)) {
		tls_free(&c->t);
		return NULL;
	}
	return &c->t;
}

int
tls_peer_verified(const struct tls *t, char *why, size_t whylen)
{
	int result = -1;
	const char *r = "not a client session";

	if (t->client) {
		const struct tls_client *c = (const struct tls_client *)t;
		result = c->x509.result;
		if (result == 0 && c->named)
			return 1;
		/* Without a name, a good chain says nothing of the peer. */
		r = result == 0 ? "no host name" : x509_reason(result);
	}
	if (why != NULL && r != NULL)
		snprintf(why, whylen, "%s", r);
	else if (why != NULL)
		snprintf(why, whylen, "certificate error %d", result);
	return 0;
}

void
tls_client_fini(struct tls *t)
{
	tls_client_ctx_unref(((struct tls_client *)t)->ctx);
}
