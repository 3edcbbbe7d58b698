#include "spool/maildrop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "protocols/smtp_parse.h"

/* ---- writing ---- */

void
maildrop_put_start(struct buf *b, const char *sender)
{
	buf_printf(b, "%s\nS%s\n", MAILDROP_MAGIC, sender);
}

void
maildrop_put_rcpt(struct buf *b, const char *addr)
{
	buf_printf(b, "R%s\n", addr);
}

void
maildrop_size_digits(char out[MAILDROP_SIZE_DIGITS + 1], uint64_t size)
{
	snprintf(out, MAILDROP_SIZE_DIGITS + 1, "%0*llu", MAILDROP_SIZE_DIGITS,
		 (unsigned long long)size);
}

size_t
maildrop_put_end(struct buf *b, unsigned long uid, const char *login,
		 uint64_t size)
{
	char digits[MAILDROP_SIZE_DIGITS + 1];
	size_t zoff;

	buf_printf(b, "U%lu\n", uid);
	if (login != NULL)
		buf_printf(b, "N%s\n", login);
	/* Fixed width, so that the digits can be overwritten in place. */
	maildrop_size_digits(digits, size);
	zoff = buf_len(b) + 1;
	buf_printf(b, "Z%s\n\n", digits);
	return zoff;
}

/* ---- reading ---- */

static int
bad(struct maildrop_env *e, const char *why)
{
	e->why = why;
	return -1;
}

void
maildrop_env_init(struct maildrop_env *e, unsigned max_rcpt)
{
	memset(e, 0, sizeof(*e));
	e->max_rcpt = max_rcpt;
}

void
maildrop_env_free(struct maildrop_env *e)
{
	free(e->rcpt);
	e->rcpt = NULL;
	e->nrcpt = 0;
}

bool
maildrop_addr_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ||
		    s[i] == '<' || s[i] == '>')
			return false;
	return true;
}

/* An address as SMTP would take it: the same parser, so both agree. */
int
maildrop_addr(const char *v, size_t vl, bool rcpt, char out[TBL_ADDR_MAX])
{
	char cmd[MAILDROP_LINE_MAX + 16];
	struct smtp_parse_path path;
	struct smtp_parse_params prm;
	struct smtp_parse_err err;
	int rc;

	/*
	 * Without '<' or '>' only our '>' can end the path, so nothing can
	 * follow it as a parameter; a space is left to the parser (quoted
	 * local parts).
	 */
	if (vl + 1 > MAILDROP_LINE_MAX || !maildrop_addr_ok(v, vl))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s<%.*s>", rcpt ? "TO:" : "FROM:",
		 (int)vl, v);
	rc = rcpt ? smtp_parse_rcpt(cmd, strlen(cmd), false, &path, &err)
		  : smtp_parse_mail(cmd, strlen(cmd), &path, &prm, &err);
	if (rc < 0)
		return -1;
	util_strlcpy(out, path.addr, TBL_ADDR_MAX);
	return 0;
}

static int
env_once(struct maildrop_env *e, unsigned bit)
{
	if (e->seen & bit)
		return bad(e, "an envelope line is repeated");
	e->seen |= bit;
	return 0;
}

static int
env_addr(struct maildrop_env *e, const char *v, size_t vl, bool rcpt,
	 char *out)
{
	if (maildrop_addr(v, vl, rcpt, out) < 0)
		return bad(e, rcpt ? "bad recipient address"
				   : "bad sender address");
	return 0;
}

static int
env_rcpt(struct maildrop_env *e, const char *v, size_t vl)
{
	if (e->nrcpt >= e->max_rcpt)
		return bad(e, "more recipients than max_recipients");
	if (e->nrcpt % 64 == 0) {
		void *n = realloc(e->rcpt, (e->nrcpt + 64) * sizeof(*e->rcpt));
		if (n == NULL)
			return bad(e, "out of memory");
		e->rcpt = n;
	}
	if (env_addr(e, v, vl, true, e->rcpt[e->nrcpt]) < 0)
		return -1;
	e->nrcpt++;
	return 0;
}

static int
env_number(struct maildrop_env *e, const char *v, size_t vl, uint64_t max,
	   uint64_t *out)
{
	if (vl == 0 || vl > MAILDROP_SIZE_DIGITS ||
	    util_parse_u64(v, vl, max, out) < 0)
		return bad(e, "bad number in the envelope");
	return 0;
}

static int
env_login(struct maildrop_env *e, const char *v, size_t vl)
{
	for (size_t i = 0; i < vl; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return bad(e, "bad login name");
	if (util_copy(e->login, sizeof(e->login), v, vl) < 0)
		return bad(e, "login name too long");
	return 0;
}

/* One line after the magic, not empty. */
static int
env_field(struct maildrop_env *e, const char *l, size_t len)
{
	const char *v = l + 1;
	size_t vl = len - 1;
	uint64_t n;

	switch (l[0]) {
	case 'S':
		if (env_once(e, MAILDROP_SEEN_S) < 0)
			return -1;
		return env_addr(e, v, vl, false, e->sender);
	case 'R':
		return env_rcpt(e, v, vl);
	case 'U':
		if (env_once(e, MAILDROP_SEEN_U) < 0 ||
		    env_number(e, v, vl, UINT32_MAX, &n) < 0)
			return -1;
		e->uid = (unsigned long)n;
		return 0;
	case 'N':
		if (env_once(e, MAILDROP_SEEN_N) < 0)
			return -1;
		return env_login(e, v, vl);
	case 'Z':
		if (env_once(e, MAILDROP_SEEN_Z) < 0)
			return -1;
		return env_number(e, v, vl, UINT64_MAX, &e->size);
	default:
		return bad(e, "unknown envelope line");
	}
}

int
maildrop_env_line(struct maildrop_env *e, const char *l, size_t len)
{
	size_t mlen = strlen(MAILDROP_MAGIC);

	if (len + 1 > MAILDROP_LINE_MAX)
		return bad(e, "envelope line too long");
	if (len > 0 && l[len - 1] == '\r')
		return bad(e, "CR in the envelope");
	if (e->nlines++ == 0) {
		if (len != mlen || memcmp(l, MAILDROP_MAGIC, len) != 0)
			return bad(e, "not a maildrop file (bad magic)");
		return 0;
	}
	if (len == 0)
		return 1;
	return env_field(e, l, len);
}

int
maildrop_env_done(struct maildrop_env *e, uint64_t size_limit)
{
	unsigned need = MAILDROP_SEEN_S | MAILDROP_SEEN_Z;

	if ((e->seen & need) != need || e->nrcpt == 0)
		return bad(e, "an envelope line (S, R or Z) is missing");
	if (e->size > size_limit)
		return bad(e, "message larger than message_size_limit");
	return 0;
}
