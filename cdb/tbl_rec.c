#include "cdb/tbl_rec.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

#define FIELD_NAME_MAX 16
#define FIELD_VAL_MAX 2048

static const char *const kind_names[TBL_NKINDS] = {
	"domains", "addresses", "users", "passwords", "lists", "routes",
};

static const char *const delivery_names[] = {
	"mailbox", "native", "forward", "hold", "autoreply",
	"program", "file", "shared", "members", "members_offline",
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

static int decode_quota(const char *name, const char *v, size_t vlen,
			int64_t *q, char *err, size_t errlen);

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
	if (strcmp(name, "quota") == 0 || strcmp(name, "msgquota") == 0) {
		unsigned bit = name[0] == 'q' ? 64 : 128;
		if (check_seen(seen, bit, name, err, errlen) < 0)
			return -1;
		return decode_quota(name, v, vlen, name[0] == 'q' ? &r->quota
								  : &r->msgquota,
				    err, errlen);
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
	r->quota = r->msgquota = TBL_QUOTA_DEFAULT;
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
	bool user = strcmp(name, "user") == 0;

	if (!user && strcmp(name, "list") != 0)
		return fail(err, errlen, "field '%s': unknown in addresses",
			    name);
	if (check_seen(seen, 1, "user' or 'list", err, errlen) < 0)
		return -1;
	if (!is_address(v, vlen, false))
		return fail(err, errlen, "field '%s': not a lower-case "
			    "address", name);
	return copy_field(user ? r->user : r->list, sizeof(r->user), name, v,
			  vlen, err, errlen);
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
		return fail(err, errlen, "field 'user' or 'list': missing");
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

/* Parses "mailbox,forward,..." into TBL_DLV_* bits. */
static int
parse_delivery(const char *v, size_t vlen, unsigned *d, char *err,
	       size_t errlen)
{
	size_t i = 0;

	*d = 0;
	while (i < vlen) {
		long c = util_find(v + i, vlen - i, ',');
		size_t n = c < 0 ? vlen - i : (size_t)c;
		unsigned k;

		for (k = 0; k < UTIL_ARRAY_LEN(delivery_names); k++)
			if (util_is_ieq(v + i, n, delivery_names[k]))
				break;
		if (k == UTIL_ARRAY_LEN(delivery_names))
			return fail(err, errlen, "field 'delivery': unknown "
				    "option '%.*s'", (int)(n > 32 ? 32 : n),
				    v + i);
		*d |= 1u << k;
		i += n + 1;
	}
	if (*d == 0)
		return fail(err, errlen, "field 'delivery': empty");
	return 0;
}

void
tbl_rec_delivery_names(unsigned d, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (unsigned k = 0; k < UTIL_ARRAY_LEN(delivery_names); k++) {
		if (!(d & (1u << k)))
			continue;
		int n = snprintf(out + o, outlen - o, "%s%s", o ? "," : "",
				 delivery_names[k]);
		if (n < 0 || (size_t)n >= outlen - o)
			return;
		o += (size_t)n;
	}
	if (o == 0)
		util_strlcpy(out, "-", outlen);
}

/* Appends one value of a repeatable field to a '\n'-separated list. */
static int
append_line(char *list, size_t size, const char *name, const char *v,
	    size_t vlen, char *err, size_t errlen)
{
	size_t used = strlen(list);

	if (used + vlen + 2 > size)
		return fail(err, errlen, "field '%s': too many values", name);
	if (used)
		list[used++] = '\n';
	memcpy(list + used, v, vlen);
	list[used + vlen] = '\0';
	return 0;
}

/* Generalized time as Sun's vacation dates use it: 14 digits and 'Z'. */
static bool
is_gentime(const char *v, size_t vlen)
{
	if (vlen < 8 || vlen > TBL_DATE_MAX - 1)
		return false;
	for (size_t i = 0; i < vlen; i++)
		if (!(v[i] >= '0' && v[i] <= '9') &&
		    !(i == vlen - 1 && v[i] == 'Z'))
			return false;
	return true;
}

enum user_field {
	UF_MAILBOX, UF_STATUS, UF_MAILSTATUS, UF_SERVICES, UF_QUOTA,
	UF_MSGQUOTA, UF_MAILHOST, UF_DELIVERY, UF_FORWARD, UF_PROGRAM,
	UF_FILE, UF_SHARED, UF_REPLYMODE, UF_REPLYSUBJECT, UF_REPLYTEXT,
	UF_REPLYINTERNAL, UF_REPLYTIMEOUT, UF_VACSTART, UF_VACEND,
};

static const char *const user_fields[] = {
	"mailbox", "status", "mailstatus", "services", "quota", "msgquota",
	"mailhost", "delivery", "forward", "program", "file", "shared",
	"replymode", "replysubject", "replytext", "replyinternal",
	"replytimeout", "vacstart", "vacend",
};

static int
decode_user_text(struct tbl_user *r, enum user_field f, const char *name,
		 const char *v, size_t vlen, char *err, size_t errlen)
{
	switch (f) {
	case UF_SERVICES:
		return copy_field(r->services, sizeof(r->services), name, v,
				  vlen, err, errlen);
	case UF_REPLYSUBJECT:
		return copy_field(r->replysubject, sizeof(r->replysubject),
				  name, v, vlen, err, errlen);
	case UF_REPLYTEXT:
		return copy_field(r->replytext, sizeof(r->replytext), name, v,
				  vlen, err, errlen);
	default:
		return copy_field(r->replyinternal, sizeof(r->replyinternal),
				  name, v, vlen, err, errlen);
	}
}

static int
decode_user_field(void *rec, unsigned *seen, const char *name, const char *v,
		  size_t vlen, char *err, size_t errlen)
{
	struct tbl_user *r = rec;
	unsigned i;

	for (i = 0; i < UTIL_ARRAY_LEN(user_fields); i++)
		if (strcmp(name, user_fields[i]) == 0)
			break;
	if (i == UTIL_ARRAY_LEN(user_fields))
		return fail(err, errlen, "field '%s': unknown in users", name);
	/* forward= and program= repeat, one value each. */
	if (i != UF_FORWARD && i != UF_PROGRAM &&
	    check_seen(seen, 1u << i, name, err, errlen) < 0)
		return -1;
	switch ((enum user_field)i) {
	case UF_MAILBOX:
		if (!tbl_rec_is_mailbox_path(v, vlen))
			return fail(err, errlen, "field 'mailbox': not a safe "
				    "relative path");
		return copy_field(r->mailbox, sizeof(r->mailbox), name, v,
				  vlen, err, errlen);
	case UF_STATUS:
		return parse_status(name, v, &r->status, err, errlen);
	case UF_MAILSTATUS:
		return parse_status(name, v, &r->mailstatus, err, errlen);
	case UF_QUOTA:
		return decode_quota(name, v, vlen, &r->quota, err, errlen);
	case UF_MSGQUOTA:
		return decode_quota(name, v, vlen, &r->msgquota, err, errlen);
	case UF_MAILHOST:
		if (!tbl_rec_is_domain(v, vlen))
			return fail(err, errlen, "field 'mailhost': not a "
				    "lower-case host name");
		return copy_field(r->mailhost, sizeof(r->mailhost), name, v,
				  vlen, err, errlen);
	case UF_DELIVERY:
		return parse_delivery(v, vlen, &r->delivery, err, errlen);
	case UF_FORWARD:
		if (!is_address(v, vlen, false))
			return fail(err, errlen, "field 'forward': not a "
				    "lower-case address");
		return append_line(r->forward, sizeof(r->forward), name, v,
				   vlen, err, errlen);
	case UF_PROGRAM:
		/* A name the admin registered, never a command line. */
		if (vlen == 0 || !tbl_rec_is_mailbox_path(v, vlen) ||
		    util_find(v, vlen, '/') >= 0)
			return fail(err, errlen, "field 'program': not a "
				    "registered program name");
		return append_line(r->program, sizeof(r->program), name, v,
				   vlen, err, errlen);
	case UF_FILE:
	case UF_SHARED:
		if (!tbl_rec_is_mailbox_path(v, vlen))
			return fail(err, errlen, "field '%s': not a safe "
				    "relative path", name);
		return copy_field(i == UF_FILE ? r->file : r->shared,
				  sizeof(r->file), name, v, vlen, err, errlen);
	case UF_REPLYMODE:
		if (strcmp(v, "reply") != 0 && strcmp(v, "echo") != 0)
			return fail(err, errlen, "field 'replymode': reply "
				    "or echo");
		return copy_field(r->replymode, sizeof(r->replymode), name, v,
				  vlen, err, errlen);
	case UF_REPLYTIMEOUT: {
		uint64_t h;
		if (util_parse_u64(v, vlen, 1000000, &h) < 0)
			return fail(err, errlen, "field 'replytimeout': "
				    "hours expected");
		r->replytimeout = (int64_t)h;
		return 0;
	}
	case UF_VACSTART:
	case UF_VACEND:
		if (!is_gentime(v, vlen))
			return fail(err, errlen, "field '%s': expected "
				    "YYYYMMDD[HHMMSS]Z", name);
		return copy_field(i == UF_VACSTART ? r->vacstart : r->vacend,
				  sizeof(r->vacstart), name, v, vlen, err,
				  errlen);
	default:
		return decode_user_text(r, (enum user_field)i, name, v, vlen,
					err, errlen);
	}
}

int
tbl_rec_decode_user(const char *v, size_t len, struct tbl_user *r, char *err,
		    size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->status = r->mailstatus = TBL_ST_ACTIVE;
	r->quota = r->msgquota = TBL_QUOTA_DEFAULT;
	r->replytimeout = -1;
	return decode_fields(v, len, r, decode_user_field, err, errlen) < 0
		       ? -1
		       : 0;
}

/* Group statuses (Sun 1.4): active, inactive, disabled, deleted. */
static int
decode_list_field(void *rec, unsigned *seen, const char *name, const char *v,
		  size_t vlen, char *err, size_t errlen)
{
	struct tbl_list *r = rec;
	uint64_t n;

	if (strcmp(name, "member") == 0 || strcmp(name, "broadcaster") == 0 ||
	    strcmp(name, "moderator") == 0) {
		if (!is_address(v, vlen, false))
			return fail(err, errlen, "field '%s': not a lower-case "
				    "address", name);
		if (name[0] == 'm' && name[1] == 'e')
			r->nmembers++;
		else if (name[0] == 'b')
			r->nbroadcasters++;
		else
			r->nmoderators++;
		return 0;
	}
	if (strcmp(name, "alloweddomain") == 0) {
		if (vlen == 0 || vlen >= TBL_DOMAIN_MAX || !is_printable(v, vlen))
			return fail(err, errlen, "field 'alloweddomain': bad "
				    "pattern");
		r->ndomains++;
		return 0;
	}
	if (strcmp(name, "status") == 0) {
		if (check_seen(seen, 1, name, err, errlen) < 0)
			return -1;
		if (parse_status("mailstatus", v, &r->status, err, errlen) < 0)
			return -1;
		if (r->status != TBL_ST_ACTIVE && r->status != TBL_ST_INACTIVE &&
		    r->status != TBL_ST_DISABLED && r->status != TBL_ST_DELETED)
			r->status = TBL_ST_UNKNOWN;
		return 0;
	}
	if (strcmp(name, "delivery") == 0) {
		if (check_seen(seen, 2, name, err, errlen) < 0)
			return -1;
		return parse_delivery(v, vlen, &r->delivery, err, errlen);
	}
	if (strcmp(name, "errorsto") == 0) {
		if (check_seen(seen, 4, name, err, errlen) < 0)
			return -1;
		if (!is_address(v, vlen, false))
			return fail(err, errlen, "field 'errorsto': not a "
				    "lower-case address");
		return copy_field(r->errorsto, sizeof(r->errorsto), name, v,
				  vlen, err, errlen);
	}
	if (strcmp(name, "rejectaction") == 0) {
		if (check_seen(seen, 8, name, err, errlen) < 0)
			return -1;
		return copy_field(r->rejectaction, sizeof(r->rejectaction),
				  name, v, vlen, err, errlen);
	}
	if (strcmp(name, "maxsize") == 0) {
		if (check_seen(seen, 16, name, err, errlen) < 0)
			return -1;
		if (util_parse_u64(v, vlen, INT64_MAX, &n) < 0)
			return fail(err, errlen, "field 'maxsize': octets "
				    "expected");
		r->maxsize = (int64_t)n;
		return 0;
	}
	return fail(err, errlen, "field '%s': unknown in lists", name);
}

int
tbl_rec_decode_list(const char *v, size_t len, struct tbl_list *r, char *err,
		    size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->status = TBL_ST_ACTIVE;
	r->maxsize = -1;
	return decode_fields(v, len, r, decode_list_field, err, errlen) < 0
		       ? -1
		       : 0;
}

int
tbl_rec_list_each(const char *v, size_t len, enum tbl_list_field f,
		  tbl_rec_each_fn *fn, void *arg)
{
	static const char *const names[] = {
		"member", "broadcaster", "alloweddomain", "moderator",
	};
	const char *p = v, *end = v + len;
	char name[FIELD_NAME_MAX], val[FIELD_VAL_MAX], err[TBL_ERR_MAX];
	size_t vlen;
	int rc;

	while (next_field(&p, end, name, val, &vlen, err, sizeof(err)) > 0)
		if (strcmp(name, names[f]) == 0 &&
		    (rc = fn(arg, val, vlen)) != 0)
			return rc;
	return 0;
}

static int
decode_route_field(void *rec, unsigned *seen, const char *name, const char *v,
		   size_t vlen, char *err, size_t errlen)
{
	struct tbl_route *r = rec;

	if (strcmp(name, "relay") == 0) {
		long colon = util_find(v, vlen, ':');
		size_t hl = colon < 0 ? vlen : (size_t)colon;
		uint64_t port;

		if (check_seen(seen, 1, name, err, errlen) < 0)
			return -1;
		if (!tbl_rec_is_domain(v, hl) ||
		    (colon >= 0 && (util_parse_u64(v + hl + 1, vlen - hl - 1,
						   65535, &port) < 0 ||
				    port == 0)))
			return fail(err, errlen, "field 'relay': expected "
				    "HOST or HOST:PORT");
		return copy_field(r->relay, sizeof(r->relay), name, v, vlen,
				  err, errlen);
	}
	if (strcmp(name, "host") == 0) {
		*seen |= 2;
		if (!tbl_rec_is_domain(v, vlen))
			return fail(err, errlen, "field 'host': not a "
				    "lower-case host name");
		return append_line(r->hosts, sizeof(r->hosts), name, v, vlen,
				   err, errlen);
	}
	if (strcmp(name, "tls") == 0) {
		*seen |= 4;
		if (!util_is_ieq(v, vlen, "may") &&
		    !util_is_ieq(v, vlen, "encrypt") &&
		    !util_is_ieq(v, vlen, "verify"))
			return fail(err, errlen, "field 'tls': expected may, "
				    "encrypt or verify");
		return copy_field(r->tls, sizeof(r->tls), name, v, vlen, err,
				  errlen);
	}
	return fail(err, errlen, "field '%s': unknown in routes", name);
}

int
tbl_rec_decode_route(const char *v, size_t len, struct tbl_route *r,
		     char *err, size_t errlen)
{
	int seen;

	memset(r, 0, sizeof(*r));
	seen = decode_fields(v, len, r, decode_route_field, err, errlen);
	if (seen < 0)
		return -1;
	if (seen == 0)
		return fail(err, errlen, "route: 'relay' or 'host' expected");
	return 0;
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
	case TBL_ROUTES:
		if (!tbl_rec_is_domain(k, len))
			return fail(err, errlen, "key: not a domain or host "
				    "name");
		return 0;
	case TBL_ADDRESSES:
		if (!is_address(k, len, true))
			return fail(err, errlen, "key: not an address or "
				    "@domain catch-all");
		return 0;
	default:
		if (!is_address(k, len, false))
			return fail(err, errlen, kind == TBL_LISTS
					? "key: not a list address"
					: "key: not a login address");
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
		struct tbl_list l;
		struct tbl_route rt;
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
	case TBL_LISTS:
		return tbl_rec_decode_list(v, vlen, &rec.l, err, errlen);
	case TBL_ROUTES:
		return tbl_rec_decode_route(v, vlen, &rec.rt, err, errlen);
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
