/*
 * sasl: decoding of the SASL mechanisms every login protocol offers:
 * PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login), from base64
 * (RFC 4648) as SMTP AUTH (RFC 4954), POP3 AUTH (RFC 5034) and IMAP
 * AUTHENTICATE carry them. Pure: no state, no I/O; the decoded buffer is
 * the caller's and holds a password, so the caller wipes it.
 */
#ifndef VD_SASL_H
#define VD_SASL_H

#include <stddef.h>

#define SASL_ID_MAX 320   /* authzid and authcid, like a login */
#define SASL_PW_MAX 1024

struct sasl_plain {
	char authz[SASL_ID_MAX + 1]; /* "" when absent */
	char authc[SASL_ID_MAX + 1];
	char pw[SASL_PW_MAX + 1];
	size_t pwlen;
};

/*
 * Decodes a PLAIN response: base64(authzid NUL authcid NUL passwd).
 * Returns 0, or -1 when it is not base64, lacks a part, holds an empty
 * authcid, a part too long, or a NUL inside a part, or when the authzid
 * names another identity than the authcid (we do not let one user act as
 * another). r is wiped on failure.
 */
int sasl_plain_decode(const char *b64, size_t len, struct sasl_plain *r);

/* LOGIN: one base64 field (user name or password) into out. 0 or -1. */
int sasl_login_decode(const char *b64, size_t len, char *out, size_t outlen,
		      size_t *outlen_r);

#endif
