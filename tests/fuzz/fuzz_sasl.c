/*
 * libFuzzer target: AUTH payloads. The input is taken as a PLAIN and as a
 * LOGIN response (base64); what decodes must hold no NUL inside a part,
 * a non-empty authcid, and an authzid that is empty or the authcid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sasl_plain p;
	char out[SASL_PW_MAX + 1];
	size_t n;

	if (sasl_plain_decode((const char *)data, size, &p) == 0) {
		if (p.authc[0] == '\0' ||
		    (p.authz[0] != '\0' && strcmp(p.authz, p.authc) != 0) ||
		    strlen(p.pw) != p.pwlen)
			abort();
	}
	if (sasl_login_decode((const char *)data, size, out, sizeof(out), &n) ==
		    0 &&
	    strlen(out) != n)
		abort();
	return 0;
}
