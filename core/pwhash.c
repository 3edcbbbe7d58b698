#include "core/pwhash.h"

#include <argon2.h>
#include <bearssl.h>
#include <crypt.h>
#include <string.h>

#include "core/util.h"

#define PW_MAX 1024    /* longer passwords are refused, never hashed */
#define STORED_MAX 512 /* TBL_HASH_MAX: the longest value a table holds */

/* Constant time for equal lengths: no early exit on the first mismatch. */
static bool
same(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

static enum pwhash_result
check_ssha(const br_hash_class *h, size_t dlen, const char *b64, size_t blen,
	   const char *pw, size_t pwlen)
{
	unsigned char raw[STORED_MAX], mine[64];
	br_hash_compat_context ctx;
	long n = util_b64_decode(b64, blen, raw, sizeof(raw));

	/* The salt is what follows the digest: 4 bytes from slappasswd, 8 from
	 * others; any length is taken, none is refused. */
	if (n <= (long)dlen)
		return PWHASH_BAD;
	h->init(&ctx.vtable);
	h->update(&ctx.vtable, pw, pwlen);
	h->update(&ctx.vtable, raw + dlen, (size_t)n - dlen);
	h->out(&ctx.vtable, mine);
	bool ok = same(mine, raw, dlen);
	explicit_bzero(mine, sizeof(mine));
	return ok ? PWHASH_MATCH : PWHASH_MISMATCH;
}

static enum pwhash_result
check_crypt(const char *hash, const char *pw)
{
	struct crypt_data cd;
	enum pwhash_result r = PWHASH_BAD;

	memset(&cd, 0, sizeof(cd));
	/* libxcrypt answers a string starting with '*' for what it cannot do. */
	if (crypt_rn(pw, hash, &cd, sizeof(cd)) != NULL &&
	    cd.output[0] != '*') {
		size_t n = strlen(hash);
		r = strlen(cd.output) == n && same(cd.output, hash, n)
			    ? PWHASH_MATCH
			    : PWHASH_MISMATCH;
	}
	explicit_bzero(&cd, sizeof(cd));
	return r;
}

static enum pwhash_result
check_argon2(const char *enc, const char *pw, size_t pwlen)
{
	static const struct {
		const char *prefix;
		argon2_type type;
	} types[] = {
		{ "$argon2id$", Argon2_id },
		{ "$argon2i$", Argon2_i },
		{ "$argon2d$", Argon2_d },
	};

	for (size_t i = 0; i < UTIL_ARRAY_LEN(types); i++) {
		if (strncmp(enc, types[i].prefix, strlen(types[i].prefix)) != 0)
			continue;
		int rc = argon2_verify(enc, pw, pwlen, types[i].type);
		return rc == ARGON2_OK ? PWHASH_MATCH
		       : rc == ARGON2_VERIFY_MISMATCH ? PWHASH_MISMATCH
						      : PWHASH_BAD;
	}
	return PWHASH_BAD;
}

enum pwhash_result
pwhash_verify(const char *stored, size_t slen, const char *pw, size_t pwlen,
	      bool allow_plain)
{
	char s[STORED_MAX + 1], p[PW_MAX + 1];
	enum pwhash_result r = PWHASH_BAD;

	/* NUL-terminated copies: crypt(3) and argon2 want C strings, and a
	 * NUL inside either one would cut it short. */
	if (util_copy(s, sizeof(s), stored, slen) < 0 ||
	    util_copy(p, sizeof(p), pw, pwlen) < 0 ||
	    memchr(stored, '\0', slen) != NULL || memchr(pw, '\0', pwlen) != NULL)
		return PWHASH_BAD;
	if (util_has_iprefix(s, slen, "{SSHA}"))
		r = check_ssha(&br_sha1_vtable, br_sha1_SIZE, s + 6, slen - 6, p,
			       pwlen);
	else if (util_has_iprefix(s, slen, "{SSHA256}"))
		r = check_ssha(&br_sha256_vtable, br_sha256_SIZE, s + 9,
			       slen - 9, p, pwlen);
	else if (util_has_iprefix(s, slen, "{SSHA512}"))
		r = check_ssha(&br_sha512_vtable, br_sha512_SIZE, s + 9,
			       slen - 9, p, pwlen);
	else if (util_has_iprefix(s, slen, "{CRYPT}"))
		r = check_crypt(s + 7, p);
	else if (util_has_iprefix(s, slen, "{ARGON2}"))
		r = check_argon2(s + 8, p, pwlen);
	else if (util_has_iprefix(s, slen, "{PLAIN}") && allow_plain)
		r = slen - 7 == pwlen && same(s + 7, p, pwlen) ? PWHASH_MATCH
							       : PWHASH_MISMATCH;
	explicit_bzero(p, sizeof(p));
	return r;
}
