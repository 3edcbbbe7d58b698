#include "cdb/tbl_rec.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

#define FIELD_NAME_MAX 16
#define FIELD_VAL_MAX 2048

static const char *const kind_names[TBL_NKINDS] = {
	"domains", "addresses", "users", "passwords",
};

static const char *const status_names[] = {
	"active", "inactive", "disabled", "deleted",
	"removed", "hold", "overquota", "unknown",
};

const char *
tbl_rec_kind_name(enum tbl_kind kind)
{
	return kind < TBL_NKINDS ? kind_names[kind] : "?";
}

int
tbl_rec_kind_parse(const char *name)
{
	for (int i = 0; i < TBL_NKINDS; i++)
		if (strcmp(name, kind_names[i]) == 0)
			return i;
	return -1;
}

const char *
tbl_rec_status_name(enum tbl_status st)
{
	return st <= TBL_ST_UNKNOWN ? status_names[st] : "unknown";
}

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Splits the next name=value field off [*p, end) and %-decodes its value.
 * Returns 1 with the field, 0 at the end, -1 on a malformed field.
 */
static int
next_field(const char **p, const char *end, char *name, char *val,
	   size_t *vlen_r, char *err, size_t errlen)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end)
		return 0;
	const char *f = s;
	while (s < end && *s != ' ' && *s != '\t')
		s++;
	*p = s;
	long eq = util_find(f, (size_t)(s - f), '=');
	if (eq <= 0 || eq >= FIELD_NAME_MAX)
		return fail(err, errlen, "field '%.*s': expected name=value",
			    (int)((s - f) > 40 ? 40 : (s - f)), f);
	for (long i = 0; i < eq; i++)
		if (f[i] < 'a' || f[i] > 'z')
			return fail(err, errlen, "field '%.*s': bad name",
				    (int)eq, f);
	memcpy(name, f, (size_t)eq);
	name[eq] = '\0';
	size_t o = 0;
	for (const char *v = f + eq + 1; v < s; v++) {
		char c = *v;
		if (c == '%') {
			int hi, lo;
			if (s - v < 3 || (hi = util_hexval(v[1])) < 0 ||
			    (lo = util_hexval(v[2])) < 0)
				return fail(err, errlen,
					    "field '%s': bad %%-escape", name);
			c = (char)(hi * 16 + lo);
			v += 2;
		} else if ((unsigned char)c < 0x20 || c == 0x7f) {
			return fail(err, errlen,
				    "field '%s': control character", name);
		}
		if (o + 1 >= FIELD_VAL_MAX)
			return fail(err, errlen, "field '%s': value too long",
				    name);
		val[o++] = c;
	}
	val[o] = '\0';
	*vlen_r = o;
	return 1;
}

static bool
is_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static int
parse_status(const char *name, const char *v, enum tbl_status *st, char *err,
	     size_t errlen)
{
	/* Sun rule: an unknown or illegal value counts as inactive. */
	static const enum tbl_status domain_ok[] = {
		TBL_ST_ACTIVE, TBL_ST_INACTIVE, TBL_ST_DELETED,
	};
	bool general = strcmp(name, "status") == 0;

	/* An empty value is a typo, not a status: leave the field out. */
	if (v[0] == '\0')
		return fail(err, errlen, "field '%s': empty value", name);
	*st = TBL_ST_UNKNOWN;
	for (int i = 0; i < TBL_ST_UNKNOWN; i++) {
		if (strcmp(v, status_names[i]) != 0)
			continue;
		if (!general) {
			*st = (enum tbl_status)i;
			return 0;
		}
		for (size_t j = 0; j < UTIL_ARRAY_LEN(domain_ok); j++)
			if (domain_ok[j] == (enum tbl_status)i)
				*st = (enum tbl_status)i;
		return 0;
	}
	return 0;
}

int
tbl_rec_is_domain(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 255 || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		/* UTF-8 octets are allowed for SMTPUTF8 domains. */
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c >= 0x80))
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;
}

static int
is_address(const char *s, size_t len, bool allow_catchall)
{
	long at = -1;

	for (size_t i = 0; i < len; i++)
		if (s[i] == '@')
			at = (long)i;
	if (at < 0 || (at == 0 && !allow_catchall) || at > TBL_LOCAL_MAX)
		return 0;
	for (long i = 0; i < at; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f || (c >= 'A' && c <= 'Z'))
			return 0;
	}
	return tbl_rec_is_domain(s + at + 1, len - (size_t)at - 1);
}

int
tbl_rec_is_mailbox_path(const char *s, size_t len)
{
	size_t comp = 0;

	if (len == 0 || len >= TBL_PATH_MAX || s[len - 1] == '/')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '/') {
			if (comp == 0)
				return 0;
			comp = 0;
			continue;
		}
		/* No dot first: keeps "..", hidden names and Maildir++ folders out. */
		if (comp == 0 && c == '.')
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_' || c == '+' || c == '='))
			return 0;
		comp++;
	}
	return 1;
}

static int
copy_field(char *dst, size_t dstsize, const char *name, const char *v,
	   size_t vlen, char *err, size_t errlen)
{
	if (util_copy(dst, dstsize, v, vlen) < 0)
		return fail(err, errlen, "field '%s': value too long", name);
	return 0;
}

static int
check_seen(unsigned *seen, unsigned bit, const char *name, char *err,
	   size_t errlen)
{
	if (*seen & bit)
		return fail(err, errlen, "field '%s': given twice", name);
	*seen |= bit;
	return 0;
}

static int
decode_domain_field(void *rec, unsigned *seen, const char *name,
		    const char *v, size_t vlen, char *err, size_t errlen)
{
	struct tbl_domain *r = rec;

	if (strcmp(name, "alias") == 0) {
		if (check_seen(seen, 1, name, err, errlen) < 0)
			return -1;
		if (!tbl_rec_is_domain(v, vlen))
			return fail(err, errlen, "field 'alias': not a "
				    "lower-case domain name");
		return copy_field(r->alias_of, sizeof(r->alias_of), name, v,
				  vlen, err, errlen);
	}
	if (strcmp(name, "status") == 0 || strcmp(name, "mailstatus") == 0) {
		unsigned bit = name[0] == 's' ? 2 : 4;
		if (check_seen(seen, bit, name, err, errlen) < 0)
			return -1;
		return parse_status(name, v, name[0] == 's' ? &r->status
							    : &r->mailstatus,
				    err, errlen);
	}
	if (strcmp(name, "services") == 0) {
		if (check_seen(seen, 8, name, err, errlen) < 0)
			return -1;
		return copy_field(r->services, sizeof(r->services), name, v,
				  vlen, err, errlen);
	}
	if (strcmp(name, "postmaster") == 0) {
		if (check_seen(seen, 16, name, err, errlen) < 0)
			return -1;
		if (!is_address(v, vlen, false))
			return fail(err, errlen, "field 'postmaster': not a "
				    "lower-case address");
		return copy_field(r->postmaster, sizeof(r->postmaster), name,
				  v, vlen, err, errlen);
	}
	if (strcmp(name, "admin") == 0) {
		size_t used = strlen(r->admins);

		*seen |= 32; /* repeatable, but never beside alias= */
		if (vlen == 0 || !is_printable(v, vlen))
			return fail(err, errlen, "field 'admin': empty DN");
		if (used + vlen + 2 > sizeof(r->admins))
			return fail(err, errlen, "field 'admin': too many");
		if (used)
			r->admins[used++] = '\n';
		memcpy(r->admins + used, v, vlen);
		r->admins[used + vlen] = '\0';
		return 0;
	}
	return fail(err, errlen, "field '%s': unknown in domains", name);
}

typedef int field_fn(void *r, unsigned *seen, const char *name,
		     const char *v, size_t vlen, char *err, size_t errlen);

/* Runs fn over every name=value field of a record value. */
static int
decode_fields(const char *v, size_t len, void *r, field_fn *fn, char *err,
	      size_t errlen)
{
	const char *p = v, *end = v + len;
	char name[FIELD_NAME_MAX], val[FIELD_VAL_MAX];
	unsigned seen = 0;
	size_t vlen;
	int rc;

	while ((rc = next_field(&p, end, name, val, &vlen, err, errlen)) > 0)
		if (fn(r, &seen, name, val, vlen, err, errlen) < 0)
			return -1;
	return rc < 0 ? -1 : (int)seen;
}

int
tbl_rec_decode_domain(const char *v, size_t len, struct tbl_domain *r,
		      char *err, size_t errlen)
{
	int seen;

	memset(r, 0, sizeof(*r));
	r->status = r->mailstatus = TBL_ST_ACTIVE;
	seen = decode_fields(v, len, r, decode_domain_field, err, errlen);
	if (seen < 0)
		return -1;
	if ((seen & 1) && seen != 1)
		return fail(err, errlen, "field 'alias': an alias domain "
			    "takes no other field");
	return 0;
}

static int
decode_address_field(void *rec, unsigned *seen, const char *name,
		     const char *v, size_t vlen, char *err, size_t errlen)
{
	struct tbl_address *r = rec;

	if (strcmp(name, "user") != 0)
		return fail(err, errlen, "field '%s': unknown in addresses",
			    name);
	if (check_seen(seen, 1, name, err, errlen) < 0)
		return -1;
	if (!is_address(v, vlen, false))
		return fail(err, errlen, "field 'user': not a lower-case "
			    "address");
	return copy_field(r->user, sizeof(r->user), name, v, vlen, err,
			  errlen);
}

int
tbl_rec_decode_address(const char *v, size_t len, struct tbl_address *r,
		       char *err, size_t errlen)
{
	int seen;

	memset(r, 0, sizeof(*r));
	seen = decode_fields(v, len, r, decode_address_field, err, errlen);
	if (seen < 0)
		return -1;
	if (seen == 0)
		return fail(err, errlen, "field 'user': missing");
	return 0;
}

static int
decode_quota(const char *name, const char *v, size_t vlen, int64_t *q,
	     char *err, size_t errlen)
{
	if (util_parse_size(v, vlen, q) < 0)
		return fail(err, errlen, "field '%s': expected a number "
			    "(K/M/G suffix allowed) or -1", name);
	return 0;
}

static int
decode_user_field(void *rec, unsigned *seen, const char *name, const char *v,
		  size_t vlen, char *err, size_t errlen)
{
	struct tbl_user *r = rec;
	static const char *const names[] = {
		"mailbox", "status", "mailstatus", "services",
		"quota", "msgquota",
	};
	unsigned i;

	for (i = 0; i < UTIL_ARRAY_LEN(names); i++)
		if (strcmp(name, names[i]) == 0)
			break;
	if (i == UTIL_ARRAY_LEN(names))
		return fail(err, errlen, "field '%s': unknown in users", name);
	if (check_seen(seen, 1u << i, name, err, errlen) < 0)
		return -1;
	switch (i) {
	case 0:
		if (!tbl_rec_is_mailbox_path(v, vlen))
			return fail(err, errlen, "field 'mailbox': not a safe "
				    "relative path");
		return copy_field(r->mailbox, sizeof(r->mailbox), name, v,
				  vlen, err, errlen);
	case 1:
		return parse_status(name, v, &r->status, err, errlen);
	case 2:
		return parse_status(name, v, &r->mailstatus, err, errlen);
	case 3:
		return copy_field(r->services, sizeof(r->services), name, v,
				  vlen, err, errlen);
	case 4:
		return decode_quota(name, v, vlen, &r->quota, err, errlen);
	default:
		return decode_quota(name, v, vlen, &r->msgquota, err, errlen);
	}
}

int
tbl_rec_decode_user(const char *v, size_t len, struct tbl_user *r, char *err,
		    size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->status = r->mailstatus = TBL_ST_ACTIVE;
	r->quota = r->msgquota = TBL_QUOTA_DEFAULT;
	return decode_fields(v, len, r, decode_user_field, err, errlen) < 0
		       ? -1
		       : 0;
}

int
tbl_rec_decode_password(const char *v, size_t len, char *r, size_t rlen,
			char *err, size_t errlen)
{
	static const char *const schemes[] = {
		"{SSHA}", "{SSHA256}", "{SSHA512}", "{CRYPT}", "{ARGON2}",
		"{PLAIN}",
	};
	size_t i;

	for (i = 0; i < UTIL_ARRAY_LEN(schemes); i++)
		if (util_has_iprefix(v, len, schemes[i]))
			break;
	if (i == UTIL_ARRAY_LEN(schemes))
		return fail(err, errlen, "password: unknown {SCHEME} prefix");
	for (size_t j = 0; j < len; j++)
		if ((unsigned char)v[j] <= 0x20 || v[j] == 0x7f)
			return fail(err, errlen, "password: space or control "
				    "character");
	if (len == strlen(schemes[i]))
		return fail(err, errlen, "password: empty hash");
	if (util_copy(r, rlen, v, len) < 0)
		return fail(err, errlen, "password: hash too long");
	return 0;
}

static bool
has_upper(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return true;
	return false;
}

int
tbl_rec_check_key(enum tbl_kind kind, const char *k, size_t len, char *err,
		  size_t errlen)
{
	if (has_upper(k, len))
		return fail(err, errlen, "key: must be lower-case");
	switch (kind) {
	case TBL_DOMAINS:
		if (!tbl_rec_is_domain(k, len))
			return fail(err, errlen, "key: not a domain name");
		return 0;
	case TBL_ADDRESSES:
		if (!is_address(k, len, true))
			return fail(err, errlen, "key: not an address or "
				    "@domain catch-all");
		return 0;
	default:
		if (!is_address(k, len, false))
			return fail(err, errlen, "key: not a login address");
		return 0;
	}
}

int
tbl_rec_check(enum tbl_kind kind, const char *k, size_t klen, const char *v,
	      size_t vlen, char *err, size_t errlen)
{
	union {
		struct tbl_domain d;
		struct tbl_address a;
		struct tbl_user u;
		char hash[TBL_HASH_MAX];
	} rec;
	char path[TBL_PATH_MAX];

	if (tbl_rec_check_key(kind, k, klen, err, errlen) < 0)
		return -1;
	switch (kind) {
	case TBL_DOMAINS:
		return tbl_rec_decode_domain(v, vlen, &rec.d, err, errlen);
	case TBL_ADDRESSES:
		return tbl_rec_decode_address(v, vlen, &rec.a, err, errlen);
	case TBL_USERS:
		if (tbl_rec_decode_user(v, vlen, &rec.u, err, errlen) < 0)
			return -1;
		if (tbl_rec_user_mailbox(k, klen, &rec.u, path,
					 sizeof(path)) < 0)
			return fail(err, errlen, "field 'mailbox': required, "
				    "the login does not make a safe path");
		return 0;
	case TBL_PASSWORDS:
		return tbl_rec_decode_password(v, vlen, rec.hash,
					       sizeof(rec.hash), err, errlen);
	default:
		return fail(err, errlen, "unknown table");
	}
}

int
tbl_rec_user_mailbox(const char *login, size_t len, const struct tbl_user *u,
		     char *out, size_t outlen)
{
	long at = util_find(login, len, '@');

	if (u->mailbox[0] != '\0')
		return util_copy(out, outlen, u->mailbox, strlen(u->mailbox));
	/* The local part must stay one path component below its domain. */
	if (at <= 0 || util_find(login, (size_t)at, '/') >= 0)
		return -1;
	if (util_fmt(out, outlen, "%.*s/%.*s", (int)(len - (size_t)at - 1),
		     login + at + 1, (int)at, login) < 0)
		return -1;
	return tbl_rec_is_mailbox_path(out, strlen(out)) ? 0 : -1;
}
