#include "core/sasl.h"

#include <string.h>

#include "core/util.h"

#define RAW_MAX (2 * SASL_ID_MAX + SASL_PW_MAX + 2)

static int
part(const unsigned char *p, size_t n, char *out, size_t outsize)
{
	if (memchr(p, '\0', n) != NULL || util_copy(out, outsize, (const char *)p,
						     n) < 0)
		return -1;
	return 0;
}

int
sasl_plain_decode(const char *b64, size_t len, struct sasl_plain *r)
{
	unsigned char raw[RAW_MAX + 4];
	long n = util_b64_decode(b64, len, raw, sizeof(raw));
	const unsigned char *z1, *z2;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (n < 2)
		goto out;
	z1 = memchr(raw, '\0', (size_t)n);
	z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(raw + n - z1 - 1)) : NULL;
	if (z2 == NULL)
		goto out;
	size_t zl = (size_t)(z1 - raw), cl = (size_t)(z2 - z1 - 1);
	size_t pl = (size_t)(raw + n - z2 - 1);
	if (cl == 0 || part(raw, zl, r->authz, sizeof(r->authz)) < 0 ||
	    part(z1 + 1, cl, r->authc, sizeof(r->authc)) < 0 ||
	    part(z2 + 1, pl, r->pw, sizeof(r->pw)) < 0)
		goto out;
	/* RFC 4616 2: an authzid other than the authcid is a proxy login. */
	if (zl > 0 && strcmp(r->authz, r->authc) != 0)
		goto out;
	r->pwlen = pl;
	rc = 0;
out:
	explicit_bzero(raw, sizeof(raw));
	if (rc < 0)
		explicit_bzero(r, sizeof(*r));
	return rc;
}

int
sasl_login_decode(const char *b64, size_t len, char *out, size_t outlen,
		  size_t *outlen_r)
{
	unsigned char raw[SASL_PW_MAX + 4];
	long n = util_b64_decode(b64, len, raw, sizeof(raw));
	int rc = n < 0 || part(raw, (size_t)n, out, outlen) < 0 ? -1 : 0;

	explicit_bzero(raw, sizeof(raw));
	if (rc == 0)
		*outlen_r = (size_t)n;
	return rc;
}
