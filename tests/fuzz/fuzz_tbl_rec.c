/*
 * libFuzzer target: table records. The first byte picks the table, the
 * rest is "KEY VALUE" as in the text form. Every record is checked, and
 * what is accepted must decode the same way twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cdb/tbl_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[TBL_ERR_MAX];
	enum tbl_kind kind;
	const char *in;
	size_t len, k = 0;

	if (size < 1)
		return 0;
	kind = (enum tbl_kind)(data[0] % TBL_NKINDS);
	in = (const char *)data + 1;
	len = size - 1;
	while (k < len && in[k] != ' ')
		k++;
	const char *v = k < len ? in + k + 1 : in + len;
	size_t vl = k < len ? len - k - 1 : 0;
	if (tbl_rec_check(kind, in, k, v, vl, err, sizeof(err)) != 0) {
		if (strlen(err) == 0)
			abort(); /* every refusal says why */
		return 0;
	}
	if (kind == TBL_USERS) {
		struct tbl_user a, b;
		char path[TBL_PATH_MAX];
		tbl_rec_decode_user(v, vl, &a, err, sizeof(err));
		tbl_rec_decode_user(v, vl, &b, err, sizeof(err));
		if (memcmp(&a, &b, sizeof(a)) != 0)
			abort();
		/* The path stays below the store: no component starts with
		 * a dot (so none is "." or ".."), none is empty. */
		if (tbl_rec_user_mailbox(in, k, &a, path, sizeof(path)) != 0 ||
		    path[0] == '/' || path[0] == '.' ||
		    strstr(path, "/.") != NULL || strstr(path, "//") != NULL)
			abort();
	} else if (kind == TBL_DOMAINS) {
		struct tbl_domain a;
		tbl_rec_decode_domain(v, vl, &a, err, sizeof(err));
		if (a.alias_of[0] && (a.postmaster[0] || a.admins[0]))
			abort();
	}
	return 0;
}
