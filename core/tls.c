/*
 * tls: the server side of the BearSSL adapter and what both sides share
 * (tls.h has the whole story): loading certificates and keys, the PEM
 * reader the client's CA bundles use too, the SNI policy, server
 * sessions, the pump and the session accessors. The client side is
 * tls_client.c; tls_int.h holds what the two files share.
 */
#include "core/tls.h"

#include <bearssl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/cfg.h"
#include "core/tls_int.h"
#include "core/util.h"

#define TLS_FILE_MAX (1024 * 1024)
#define TLS_CHAIN_MAX 8
#define TLS_SESSION_CACHE (64 * 1024)

/* One certificate chain with its private key (RSA or EC), deep-copied. */
struct tls_cert {
	char name[256]; /* SNI name; "" for the default */
	br_x509_certificate chain[TLS_CHAIN_MAX];
	size_t chain_len;
	int key_type; /* BR_KEYTYPE_RSA or BR_KEYTYPE_EC */
	br_rsa_private_key rsa;
	br_ec_private_key ec;
	unsigned char *keymem;
};

struct tls_ctx {
	int refs;
	struct tls_cert *certs; /* certs[0] is the default */
	size_t ncerts;
	br_ssl_session_cache_lru cache;
	unsigned char cache_mem[TLS_SESSION_CACHE];
};

/* Our policy: pick the certificate by SNI, then sign as its key allows. */
struct tls_policy {
	const br_ssl_server_policy_class *vtable;
	struct tls_ctx *ctx;
	const struct tls_cert *chosen;
};

/* A server session; tls_client.c has the client's. */
struct tls_server {
	struct tls t;
	br_ssl_server_context sc;
	struct tls_policy pol;
	struct tls_ctx *ctx;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* Server suites: AEAD only (tls.h); the client adds CBC (tls_client.c). */
static const uint16_t tls_suites[] = { TLS_AEAD_SUITES };

/* ---- the PEM reader, shared with tls_client.c ---- */

unsigned char *
tls_copy_bytes(unsigned char **mem, const unsigned char *src, size_t len)
{
	unsigned char *dst = *mem;

	memcpy(dst, src, len);
	*mem += len;
	return dst;
}

void
tls_pem_append(void *ctx, const void *data, size_t len)
{
	struct tls_pem_obj *o = ctx;

	if (o->der == NULL && o->cap == (size_t)-1)
		return;
	if (o->len + len > o->cap) {
		size_t ncap = (o->cap ? o->cap * 2 : 4096);
		while (ncap < o->len + len)
			ncap *= 2;
		unsigned char *n = realloc(o->der, ncap);
		if (n == NULL) {
			free(o->der);
			o->der = NULL;
			o->cap = (size_t)-1; /* out of memory: drop the object */
			return;
		}
		o->der = n;
		o->cap = ncap;
	}
	memcpy(o->der + o->len, data, len);
	o->len += len;
}

static unsigned char *
read_file(const char *path, size_t *len_r, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	data = malloc(TLS_FILE_MAX);
	if (data == NULL) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	n = fread(data, 1, TLS_FILE_MAX, f);
	if (ferror(f) || n >= TLS_FILE_MAX - 1) {
		snprintf(err, errlen, "%s: unreadable or larger than 1 MiB",
			 path);
		fclose(f);
		free(data);
		return NULL;
	}
	fclose(f);
	/* A final newline lets the PEM decoder see an unterminated END line. */
	data[n++] = '\n';
	*len_r = n;
	return data;
}

/* One pass over a PEM file; skipped_r NULL means a bad object fails it. */
struct pem_walk {
	int (*take)(void *, struct tls_pem_obj *);
	void *arg;
	size_t *skipped_r;
	struct tls_pem_obj obj;
	int count;
	bool in_obj;
};

/* Handles one decoder event; returns 0, or -1 with err set. */
static int
pem_event(struct pem_walk *w, br_pem_decoder_context *pc, int ev,
	  const char *path, char *err, size_t errlen)
{
	int rc;

	switch (ev) {
	case BR_PEM_BEGIN_OBJ:
		free(w->obj.der);
		memset(&w->obj, 0, sizeof(w->obj));
		util_strlcpy(w->obj.name, br_pem_decoder_name(pc),
			     sizeof(w->obj.name));
		br_pem_decoder_setdest(pc, tls_pem_append, &w->obj);
		w->in_obj = true;
		return 0;
	case BR_PEM_END_OBJ:
		w->in_obj = false;
		if (w->obj.der == NULL && w->skipped_r != NULL) {
			(*w->skipped_r)++;
			return 0;
		}
		w->count++;
		/* take owns der from here, whatever it returns. */
		rc = w->obj.der != NULL ? w->take(w->arg, &w->obj) : -1;
		w->obj.der = NULL;
		if (rc < 0)
			snprintf(err, errlen, "%s: bad PEM object %s", path,
				 w->obj.name);
		return rc;
	case BR_PEM_ERROR:
		if (w->skipped_r == NULL) {
			snprintf(err, errlen, "%s: malformed PEM", path);
			return -1;
		}
		/* The decoder resynchronises on the next BEGIN line itself. */
		free(w->obj.der);
		w->obj.der = NULL;
		w->in_obj = false;
		(*w->skipped_r)++;
		return 0;
	default:
		return 0;
	}
}

int
tls_pem_each(const char *path, int (*take)(void *, struct tls_pem_obj *),
	     void *arg, size_t *skipped_r, char *err, size_t errlen)
{
	struct pem_walk w = { .take = take, .arg = arg,
			      .skipped_r = skipped_r };
	br_pem_decoder_context pc;
	unsigned char *data;
	size_t len, off = 0;
	int rc = 0;

	data = read_file(path, &len, err, errlen);
	if (data == NULL)
		return -1;
	br_pem_decoder_init(&pc);
	while (rc == 0 && off < len) {
		off += br_pem_decoder_push(&pc, data + off, len - off);
		rc = pem_event(&w, &pc, br_pem_decoder_event(&pc), path, err,
			       errlen);
	}
	free(w.obj.der);
	free(data);
	if (rc == 0 && w.in_obj) {
		if (skipped_r != NULL) {
			(*skipped_r)++;
		} else {
			snprintf(err, errlen, "%s: truncated PEM object", path);
			rc = -1;
		}
	}
	return rc < 0 ? -1 : w.count;
}

/* ---- certificates and keys ---- */

static int
take_cert(void *arg, struct tls_pem_obj *o)
{
	struct tls_cert *tc = arg;

	if (strcmp(o->name, "CERTIFICATE") != 0 &&
	    strcmp(o->name, "X509 CERTIFICATE") != 0) {
		free(o->der);
		return 0; /* other objects in a chain file are skipped */
	}
	if (tc->chain_len == TLS_CHAIN_MAX) {
		free(o->der);
		return -1;
	}
	tc->chain[tc->chain_len].data = o->der;
	tc->chain[tc->chain_len].data_len = o->len;
	tc->chain_len++;
	return 0;
}

static int
take_key(void *arg, struct tls_pem_obj *o)
{
	struct tls_cert *tc = arg;
	br_skey_decoder_context kc;
	unsigned char *m;
	int rc = -1;

	if (strstr(o->name, "PRIVATE KEY") == NULL || tc->key_type != 0) {
		free(o->der);
		return strstr(o->name, "PRIVATE KEY") ? -1 : 0;
	}
	br_skey_decoder_init(&kc);
	br_skey_decoder_push(&kc, o->der, o->len);
	if (br_skey_decoder_last_error(&kc) != 0)
		goto out;
	if (br_skey_decoder_key_type(&kc) == BR_KEYTYPE_RSA) {
		const br_rsa_private_key *k = br_skey_decoder_get_rsa(&kc);
		m = tc->keymem = malloc(k->plen + k->qlen + k->dplen +
					k->dqlen + k->iqlen);
		if (m == NULL)
			goto out;
		tc->rsa.n_bitlen = k->n_bitlen;
		tc->rsa.p = tls_copy_bytes(&m, k->p, tc->rsa.plen = k->plen);
		tc->rsa.q = tls_copy_bytes(&m, k->q, tc->rsa.qlen = k->qlen);
		tc->rsa.dp = tls_copy_bytes(&m, k->dp,
					    tc->rsa.dplen = k->dplen);
		tc->rsa.dq = tls_copy_bytes(&m, k->dq,
					    tc->rsa.dqlen = k->dqlen);
		tc->rsa.iq = tls_copy_bytes(&m, k->iq,
					    tc->rsa.iqlen = k->iqlen);
		tc->key_type = BR_KEYTYPE_RSA;
		rc = 0;
	} else if (br_skey_decoder_key_type(&kc) == BR_KEYTYPE_EC) {
		const br_ec_private_key *k = br_skey_decoder_get_ec(&kc);
		m = tc->keymem = malloc(k->xlen);
		if (m == NULL)
			goto out;
		tc->ec.curve = k->curve;
		tc->ec.x = tls_copy_bytes(&m, k->x, tc->ec.xlen = k->xlen);
		tc->key_type = BR_KEYTYPE_EC;
		rc = 0;
	}
out:
	/* Wipe the DER copy of the key before freeing it. */
	memset(o->der, 0, o->len);
	free(o->der);
	memset(&kc, 0, sizeof(kc));
	return rc;
}

static bool
same_unsigned(const unsigned char *a, size_t alen, const unsigned char *b,
	      size_t blen)
{
	while (alen > 0 && *a == 0) {
		a++;
		alen--;
	}
	while (blen > 0 && *b == 0) {
		b++;
		blen--;
	}
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* The leaf certificate's public key must be the private key's. */
static int
check_pair(const struct tls_cert *tc)
{
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;

	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, tc->chain[0].data, tc->chain[0].data_len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL || (int)pk->key_type != tc->key_type)
		return -1;
	if (tc->key_type == BR_KEYTYPE_RSA) {
		unsigned char n[512];
		br_rsa_compute_modulus cm = br_rsa_compute_modulus_get_default();
		size_t nlen = cm(NULL, &tc->rsa);
		if (nlen == 0 || nlen > sizeof(n) || cm(n, &tc->rsa) != nlen)
			return -1;
		return same_unsigned(n, nlen, pk->key.rsa.n,
				     pk->key.rsa.nlen) ? 0 : -1;
	}
	unsigned char q[BR_EC_KBUF_PUB_MAX_SIZE];
	br_ec_public_key pub;
	if (br_ec_compute_pub(br_ec_get_default(), &pub, q, &tc->ec) == 0)
		return -1;
	return pub.curve == pk->key.ec.curve && pub.qlen == pk->key.ec.qlen &&
	       memcmp(pub.q, pk->key.ec.q, pub.qlen) == 0 ? 0 : -1;
}

static void
cert_free(struct tls_cert *tc)
{
	for (size_t i = 0; i < tc->chain_len; i++)
		free(tc->chain[i].data);
	if (tc->keymem != NULL) {
		size_t n = tc->key_type == BR_KEYTYPE_EC
				   ? tc->ec.xlen
				   : tc->rsa.plen + tc->rsa.qlen + tc->rsa.dplen +
					     tc->rsa.dqlen + tc->rsa.iqlen;
		memset(tc->keymem, 0, n);
		free(tc->keymem);
	}
	memset(tc, 0, sizeof(*tc));
}

static int
cert_load(struct tls_cert *tc, const char *name, const char *cert,
	  const char *key, char *err, size_t errlen)
{
	memset(tc, 0, sizeof(*tc));
	util_strlcpy(tc->name, name, sizeof(tc->name));
	if (tls_pem_each(cert, take_cert, tc, NULL, err, errlen) < 0)
		return -1;
	if (tc->chain_len == 0) {
		snprintf(err, errlen, "%s: no certificate found", cert);
		return -1;
	}
	if (tls_pem_each(key, take_key, tc, NULL, err, errlen) < 0)
		return -1;
	if (tc->key_type == 0) {
		snprintf(err, errlen, "%s: no RSA or EC private key found",
			 key);
		return -1;
	}
	if (check_pair(tc) < 0) {
		snprintf(err, errlen, "%s and %s: the certificate does not "
			 "match the key", cert, key);
		return -1;
	}
	return 0;
}

struct tls_ctx *
tls_ctx_load(const struct cfg *cfg, char *err, size_t errlen)
{
	struct tls_ctx *ctx;

	err[0] = '\0';
	if (cfg->tls_cert[0] == '\0')
		return NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx != NULL)
		ctx->certs = calloc(1 + cfg->ncerts, sizeof(*ctx->certs));
	if (ctx == NULL || ctx->certs == NULL) {
		free(ctx);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctx->refs = 1;
	for (size_t i = 0; i <= cfg->ncerts; i++) {
		const char *name = i ? cfg->certs[i - 1].name : "";
		const char *c = i ? cfg->certs[i - 1].cert : cfg->tls_cert;
		const char *k = i ? cfg->certs[i - 1].key : cfg->tls_key;
		ctx->ncerts = i + 1;
		if (cert_load(&ctx->certs[i], name, c, k, err, errlen) < 0) {
			tls_ctx_unref(ctx);
			return NULL;
		}
	}
	br_ssl_session_cache_lru_init(&ctx->cache, ctx->cache_mem,
				      sizeof(ctx->cache_mem));
	return ctx;
}

void
tls_ctx_ref(struct tls_ctx *ctx)
{
	ctx->refs++;
}

void
tls_ctx_unref(struct tls_ctx *ctx)
{
	if (ctx == NULL || --ctx->refs > 0)
		return;
	for (size_t i = 0; i < ctx->ncerts; i++)
		cert_free(&ctx->certs[i]);
	free(ctx->certs);
	free(ctx);
}

/* ---- the server policy ---- */

static const struct tls_cert *
cert_for_name(const struct tls_ctx *ctx, const char *sni)
{
	char name[256];
	const char *p;

	if (sni == NULL || sni[0] == '\0')
		return &ctx->certs[0];
	util_strlcpy(name, sni, sizeof(name));
	util_lower(name, strlen(name));
	/* The exact name, then each parent domain (mail.example.com). */
	for (p = name; p != NULL; p = strchr(p, '.'), p = p ? p + 1 : NULL)
		for (size_t i = 1; i < ctx->ncerts; i++)
			if (strcmp(ctx->certs[i].name, p) == 0)
				return &ctx->certs[i];
	return &ctx->certs[0];
}

/* Strongest common hash for the ServerKeyExchange signature. */
static unsigned
pick_hash(uint32_t mask)
{
	static const unsigned order[] = {
		br_sha256_ID, br_sha384_ID, br_sha512_ID, br_sha224_ID,
		br_sha1_ID,
	};

	for (size_t i = 0; i < UTIL_ARRAY_LEN(order); i++)
		if (mask & (1u << order[i]))
			return order[i];
	return 0;
}

static int
policy_choose(const br_ssl_server_policy_class **pctx,
	      const br_ssl_server_context *cc, br_ssl_server_choices *ch)
{
	struct tls_policy *pol = (struct tls_policy *)(void *)pctx;
	const struct tls_cert *tc;
	const br_suite_translated *st;
	size_t n;
	unsigned want, hash;

	tc = cert_for_name(pol->ctx,
			   br_ssl_engine_get_server_name(&cc->eng));
	pol->chosen = tc;
	want = tc->key_type == BR_KEYTYPE_RSA ? BR_SSLKEYX_ECDHE_RSA
					      : BR_SSLKEYX_ECDHE_ECDSA;
	hash = pick_hash(tc->key_type == BR_KEYTYPE_RSA
				 ? br_ssl_server_get_client_hashes(cc)
				 : br_ssl_server_get_client_hashes(cc) >> 8);
	if (hash == 0)
		return 0;
	st = br_ssl_server_get_client_suites(cc, &n);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)(st[i][1] >> 12) != want)
			continue;
		ch->cipher_suite = st[i][0];
		ch->algo_id = 0xFF00 + hash;
		ch->chain = tc->chain;
		ch->chain_len = tc->chain_len;
		return 1;
	}
	return 0;
}

static uint32_t
policy_do_keyx(const br_ssl_server_policy_class **pctx, unsigned char *data,
	       size_t *len)
{
	/* Only ECDHE suites are enabled: static key exchange never happens. */
	(void)pctx;
	(void)data;
	(void)len;
	return 0;
}

static const br_hash_class *
hash_class(unsigned id)
{
	switch (id) {
	case br_sha1_ID: return &br_sha1_vtable;
	case br_sha224_ID: return &br_sha224_vtable;
	case br_sha256_ID: return &br_sha256_vtable;
	case br_sha384_ID: return &br_sha384_vtable;
	case br_sha512_ID: return &br_sha512_vtable;
	default: return NULL;
	}
}

static const unsigned char *
hash_oid(unsigned id)
{
	switch (id) {
	case br_sha1_ID: return BR_HASH_OID_SHA1;
	case br_sha224_ID: return BR_HASH_OID_SHA224;
	case br_sha256_ID: return BR_HASH_OID_SHA256;
	case br_sha384_ID: return BR_HASH_OID_SHA384;
	case br_sha512_ID: return BR_HASH_OID_SHA512;
	default: return NULL;
	}
}

static size_t
policy_do_sign(const br_ssl_server_policy_class **pctx, unsigned algo_id,
	       unsigned char *data, size_t hv_len, size_t len)
{
	struct tls_policy *pol = (struct tls_policy *)(void *)pctx;
	const struct tls_cert *tc = pol->chosen;
	unsigned char hv[64];
	unsigned id = algo_id & 0xFF;

	if (tc == NULL || hv_len > sizeof(hv))
		return 0;
	memcpy(hv, data, hv_len);
	if (tc->key_type == BR_KEYTYPE_RSA) {
		size_t siglen = (tc->rsa.n_bitlen + 7) >> 3;
		if (hash_oid(id) == NULL || siglen > len)
			return 0;
		return br_rsa_pkcs1_sign_get_default()(hash_oid(id), hv, hv_len,
						       &tc->rsa, data)
			       ? siglen
			       : 0;
	}
	/* An ASN.1 ECDSA signature over P-521 needs up to 139 bytes. */
	if (hash_class(id) == NULL || len < 139)
		return 0;
	return br_ecdsa_sign_asn1_get_default()(br_ec_get_default(),
						hash_class(id), hv, &tc->ec,
						data);
}

static const br_ssl_server_policy_class tls_policy_vtable = {
	sizeof(struct tls_policy),
	policy_choose,
	policy_do_keyx,
	policy_do_sign,
};

/* ---- sessions ---- */

void
tls_engine_setup(br_ssl_engine_context *eng, const uint16_t *suites, size_t n)
{
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, suites, n);
	br_ssl_engine_set_default_ec(eng);
	for (unsigned id = br_sha1_ID; id <= br_sha512_ID; id++)
		br_ssl_engine_set_hash(eng, (int)id, hash_class(id));
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_chapol(eng);
}

struct tls *
tls_new(struct tls_ctx *ctx)
{
	struct tls_server *s = malloc(sizeof(*s));
	br_ssl_engine_context *eng;

	if (s == NULL)
		return NULL;
	memset(s, 0, offsetof(struct tls_server, iobuf));
	s->ctx = ctx;
	tls_ctx_ref(ctx);
	br_ssl_server_zero(&s->sc);
	eng = s->t.eng = &s->sc.eng;
	tls_engine_setup(eng, tls_suites, UTIL_ARRAY_LEN(tls_suites));
	br_ssl_engine_add_flags(eng, BR_OPT_ENFORCE_SERVER_PREFERENCES |
					     BR_OPT_NO_RENEGOTIATION);
	s->pol.vtable = &tls_policy_vtable;
	s->pol.ctx = ctx;
	br_ssl_server_set_policy(&s->sc, &s->pol.vtable);
	/*
	 * BearSSL looks a session up before it reads the server name, so a
	 * session made for one name could be resumed under another, with the
	 * wrong certificate (RFC 6066 3 forbids it): with per-name
	 * certificates there is no resumption.
	 */
	if (ctx->ncerts == 1)
		br_ssl_server_set_cache(&s->sc, &ctx->cache.vtable);
	br_ssl_engine_set_buffer(eng, s->iobuf, sizeof(s->iobuf), 1);
	if (!br_ssl_server_reset(&s->sc)) {
		tls_free(&s->t);
		return NULL;
	}
	return &s->t;
}

void
tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	if (t->client)
		tls_client_fini(t);
	else
		tls_ctx_unref(((struct tls_server *)t)->ctx);
	free(t);
}

void
tls_close(struct tls *t)
{
	if (!t->closing) {
		t->closing = true;
		br_ssl_engine_close(t->eng);
	}
}

static bool
is_transient(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/*
 * One step of the engine; returns 1 on progress, 0 when it waits on the
 * socket or on our buffers, -1 when the session is over.
 */
static int
pump_once(struct tls *t, int fd, bool *readable, struct buf *in,
	  struct buf *out, bool *progress_r)
{
	br_ssl_engine_context *eng = t->eng;
	unsigned st = br_ssl_engine_current_state(eng);
	unsigned char *p;
	size_t len;
	ssize_t n;

	if (st & BR_SSL_CLOSED)
		return -1;
	if (st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))
		t->established = true;
	if (st & BR_SSL_SENDREC) {
		p = br_ssl_engine_sendrec_buf(eng, &len);
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			br_ssl_engine_sendrec_ack(eng, (size_t)n);
			return 1;
		}
		if (n < 0 && !is_transient(errno))
			return -1;
	}
	if (st & BR_SSL_RECVAPP) {
		p = br_ssl_engine_recvapp_buf(eng, &len);
		if (len > buf_room(in))
			len = buf_room(in);
		if (len > 0 && buf_append(in, p, len) == 0) {
			br_ssl_engine_recvapp_ack(eng, len);
			*progress_r = true;
			return 1;
		}
	}
	if ((st & BR_SSL_RECVREC) && *readable) {
		p = br_ssl_engine_recvrec_buf(eng, &len);
		n = recv(fd, p, len, 0);
		if (n > 0) {
			br_ssl_engine_recvrec_ack(eng, (size_t)n);
			return 1;
		}
		if (n == 0 || !is_transient(errno))
			return -1; /* EOF without close_notify, or an error */
		*readable = false;
	}
	if ((st & BR_SSL_SENDAPP) && buf_len(out) > 0) {
		p = br_ssl_engine_sendapp_buf(eng, &len);
		if (len > buf_len(out))
			len = buf_len(out);
		memcpy(p, buf_data(out), len);
		br_ssl_engine_sendapp_ack(eng, len);
		buf_consume(out, len);
		if (buf_len(out) == 0)
			br_ssl_engine_flush(eng, 0);
		return 1;
	}
	return 0;
}

int
tls_pump(struct tls *t, int fd, bool readable, struct buf *in,
	 struct buf *out, bool *progress_r)
{
	unsigned st;
	int rc, steps = 0;

	*progress_r = false;
	/* Bounded so one busy session cannot hold the loop. */
	while (steps++ < 64 && (rc = pump_once(t, fd, &readable, in, out,
					       progress_r)) > 0)
		;
	if (rc < 0)
		return -1;
	st = br_ssl_engine_current_state(t->eng);
	if (st & BR_SSL_CLOSED)
		return -1;
	return ((st & BR_SSL_RECVREC) ? TLS_WANT_READ : 0) |
	       ((st & BR_SSL_SENDREC) ? TLS_WANT_WRITE : 0);
}

bool
tls_is_closing(const struct tls *t)
{
	return t->closing;
}

bool
tls_is_established(const struct tls *t)
{
	return t->established;
}

int
tls_error(const struct tls *t)
{
	return br_ssl_engine_last_error(t->eng);
}

const char *
tls_version_name(const struct tls *t)
{
	bool v12 = br_ssl_engine_get_version(t->eng) == BR_TLS12;

	return v12 ? "TLSv1.2" : "TLS";
}

static const struct {
	uint16_t id;
	const char *name;
} tls_suite_names[] = {
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	  "ECDHE-ECDSA-AES128-GCM-SHA256" },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	  "ECDHE-RSA-AES128-GCM-SHA256" },
	{ BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	  "ECDHE-ECDSA-CHACHA20-POLY1305" },
	{ BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	  "ECDHE-RSA-CHACHA20-POLY1305" },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	  "ECDHE-ECDSA-AES256-GCM-SHA384" },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	  "ECDHE-RSA-AES256-GCM-SHA384" },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	  "ECDHE-ECDSA-AES128-SHA256" },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, "ECDHE-RSA-AES128-SHA256" },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
	  "ECDHE-ECDSA-AES256-SHA384" },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, "ECDHE-RSA-AES256-SHA384" },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "ECDHE-ECDSA-AES128-SHA" },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "ECDHE-RSA-AES128-SHA" },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, "ECDHE-ECDSA-AES256-SHA" },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, "ECDHE-RSA-AES256-SHA" },
};

/* OpenSSL's names, which is what other mail logs show. */
const char *
tls_cipher_name(const struct tls *t)
{
	for (size_t i = 0; i < UTIL_ARRAY_LEN(tls_suite_names); i++)
		if (tls_suite_names[i].id == t->eng->session.cipher_suite)
			return tls_suite_names[i].name;
	return "unknown";
}

const char *
tls_sni(const struct tls *t)
{
	const char *s = br_ssl_engine_get_server_name(t->eng);

	return s ? s : "";
}
