#include "spool/spool_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static bool
is_clean(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int
spool_env_format(struct buf *out, const struct spool_env *e, size_t *zoff_r)
{
	static const char zeros[] = "00000000000000000000 00000000";
	size_t start = buf_len(out);

	if (!is_clean(e->qid) || !is_clean(e->client) || !is_clean(e->helo) ||
	    !is_clean(e->proto) || !is_clean(e->sender))
		return -1;
	if (buf_printf(out, "V1\nI%s\nT%lld\nC%s\nH%s\nP%s\nB%s\nS%s\n",
		       e->qid, (long long)e->arrival, e->client, e->helo,
		       e->proto,
		       e->body == SPOOL_BODY_8BITMIME ? "8BITMIME" : "7BIT",
		       e->sender) < 0)
		return -1;
	for (unsigned i = 0; i < e->nrcpt; i++) {
		const struct spool_rcpt *r = &e->rcpt[i];
		char kind = spool_rcpt_kind(r);
		if (!is_clean(r->addr) || !is_clean(r->mailbox) ||
		    !is_clean(r->errorsto))
			return -1;
		if (buf_printf(out, "%c%s\t%c%s%s%s\n", r->done ? 'D' : 'R',
			       r->addr, kind, kind == 'X' ? "" : r->mailbox,
			       r->errorsto[0] ? "\tE" : "", r->errorsto) < 0)
			return -1;
	}
	*zoff_r = buf_len(out) - start + 1;
	if (buf_printf(out, "Z%s\n\001\001\n", zeros) < 0)
		return -1;
	return 0;
}

void
spool_env_set_size(char *dst, uint64_t size, uint32_t crc)
{
	char tmp[SPOOL_TRAILER_LEN + 1];

	snprintf(tmp, sizeof(tmp), "%0*llu %08x", SPOOL_SIZE_DIGITS,
		 (unsigned long long)size, (unsigned)crc);
	memcpy(dst, tmp, SPOOL_TRAILER_LEN);
}

static int
perr(char *err, size_t errlen, const char *msg, unsigned long line)
{
	snprintf(err, errlen, "envelope line %lu: %s", line, msg);
	return -1;
}

static int
copy_val(char *dst, size_t size, const char *v, size_t len)
{
	return util_copy(dst, size, v, len);
}

/* The value of each kind of recipient line (spool_env.h). */
static bool
value_ok(char kind, const char *v)
{
	size_t n = strlen(v);

	switch (kind) {
	case 'L':
	case 'H':
	case 'M':
		return tbl_rec_is_mailbox_path(v, n);
	case 'X':
		return n == 0;
	case 'A':
		return n > 2 && strchr(v, '@') != NULL;
	case 'P':
		return n > 0 && n < 32 &&
		       strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
	case 'F': /* "5XX X.Y.Z text": printable, a permanent code */
		if (n < 10 || v[0] != '5' || v[3] != ' ')
			return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
				return false;
		return true;
	default:
		return false;
	}
}

static int
parse_rcpt(struct spool_env *e, const char *line, size_t len, size_t off)
{
	struct spool_rcpt *r;
	long tab = util_find(line, len, '\t'), tab2;
	size_t vend;

	if (tab < 1 || (size_t)tab + 2 > len)
		return -1;
	tab2 = util_find(line + tab + 1, len - (size_t)tab - 1, '\t');
	vend = tab2 < 0 ? len : (size_t)tab + 1 + (size_t)tab2;
	/* the kind letter must be there: "R<addr> TAB TAB E..." has none */
	if (vend < (size_t)tab + 2 ||
	    (tab2 >= 0 && (vend + 2 > len || line[vend + 1] != 'E')))
		return -1;
	if (e->nrcpt % 64 == 0) {
		void *n = realloc(e->rcpt, (e->nrcpt + 64) * sizeof(*e->rcpt));
		if (n == NULL)
			return -1;
		e->rcpt = n;
	}
	r = &e->rcpt[e->nrcpt];
	memset(r, 0, sizeof(*r));
	r->done = line[0] == 'D';
	r->warned = line[0] == 'W';
	r->mark_off = off;
	r->kind_off = off + (size_t)tab + 1;
	r->kind = line[tab + 1];
	r->remote = r->kind == 'X';
	if (copy_val(r->addr, sizeof(r->addr), line + 1, (size_t)tab - 1) < 0 ||
	    copy_val(r->mailbox, sizeof(r->mailbox), line + tab + 2,
		     vend - (size_t)tab - 2) < 0 ||
	    !value_ok(r->kind, r->mailbox) ||
	    (tab2 >= 0 && (copy_val(r->errorsto, sizeof(r->errorsto),
				    line + vend + 2, len - vend - 2) < 0 ||
			   strchr(r->errorsto, '@') == NULL)))
		return -1;
	e->nrcpt++;
	return 0;
}

static int
parse_num(const char *v, size_t len, uint64_t *out)
{
	return util_parse_u64(v, len, UINT64_MAX, out);
}

/* One envelope line (without LF) at file offset off. */
static int
parse_line(struct spool_env *e, const char *l, size_t len, size_t off,
	   unsigned *seen)
{
	const char *v = l + 1;
	size_t vl = len - 1;
	uint64_t n;

	switch (l[0]) {
	case 'I': *seen |= 1; return copy_val(e->qid, sizeof(e->qid), v, vl);
	case 'T':
		*seen |= 2;
		/* Up to the year 9999: arrival + queue_lifetime and now -
		 * arrival must never overflow a time_t. */
		if (util_parse_u64(v, vl, UINT64_C(253402300799), &n) < 0)
			return -1;
		e->arrival = (time_t)n;
		return 0;
	case 'C': return copy_val(e->client, sizeof(e->client), v, vl);
	case 'H': return copy_val(e->helo, sizeof(e->helo), v, vl);
	case 'P': return copy_val(e->proto, sizeof(e->proto), v, vl);
	case 'B':
		e->body = util_is_ieq(v, vl, "8BITMIME") ? SPOOL_BODY_8BITMIME
							  : SPOOL_BODY_7BIT;
		return 0;
	case 'S': *seen |= 4; return copy_val(e->sender, sizeof(e->sender), v, vl);
	case 'R':
	case 'W':
	case 'D': return parse_rcpt(e, l, len, off);
	case 'Z':
		*seen |= 8;
		if (vl != SPOOL_TRAILER_LEN || v[SPOOL_SIZE_DIGITS] != ' ' ||
		    parse_num(v, SPOOL_SIZE_DIGITS, &e->size) < 0)
			return -1;
		e->crc = 0;
		for (size_t i = SPOOL_SIZE_DIGITS + 1; i < vl; i++) {
			/* Lower-case only: the form spool_env_set_size writes. */
			int h = (v[i] >= 'A' && v[i] <= 'F') ? -1 : util_hexval(v[i]);
			if (h < 0)
				return -1;
			e->crc = e->crc << 4 | (uint32_t)h;
		}
		return 0;
	default:
		return -1;
	}
}

int
spool_env_parse(const char *data, size_t len, struct spool_env *e, char *err,
		size_t errlen)
{
	size_t off = 0;
	unsigned long line = 0;
	unsigned seen = 0;

	memset(e, 0, sizeof(*e));
	while (off < len) {
		long lf = util_find(data + off, len - off, '\n');
		if (lf < 0)
			break;
		const char *l = data + off;
		size_t ll = (size_t)lf;
		line++;
		if (line == 1) {
			if (ll != 2 || memcmp(l, "V1", 2) != 0) {
				spool_env_free(e);
				return perr(err, errlen, "not a V1 queue file",
					    line);
			}
		} else if (ll == 2 && l[0] == 1 && l[1] == 1) {
			e->text_off = off + 3;
			if (seen != 15) {
				spool_env_free(e);
				return perr(err, errlen, "a required line "
					    "(I, T, S or Z) is missing", line);
			}
			return 1;
		} else if (ll == 0 || parse_line(e, l, ll, off, &seen) < 0) {
			spool_env_free(e);
			return perr(err, errlen, "malformed", line);
		}
		off += ll + 1;
	}
	spool_env_free(e);
	if (len >= SPOOL_ENV_MAX)
		return perr(err, errlen, "envelope too large", line);
	return 0;
}

void
spool_env_free(struct spool_env *e)
{
	free(e->rcpt);
	e->rcpt = NULL;
	e->nrcpt = 0;
}

int
spool_rcpt_add(struct spool_rcpt **v, unsigned *n, unsigned *cap,
	       const char *addr, char kind, const char *value,
	       const char *errorsto)
{
	struct spool_rcpt *r;

	for (unsigned i = 0; i < *n; i++)
		if (spool_rcpt_kind(&(*v)[i]) == kind &&
		    strcmp((*v)[i].addr, addr) == 0 &&
		    strcmp((*v)[i].mailbox, value) == 0)
			return 0;
	if (*n == *cap) {
		unsigned ncap = *cap ? *cap * 2 : 4;
		void *p = realloc(*v, ncap * sizeof(**v));
		if (p == NULL)
			return -1;
		*v = p;
		*cap = ncap;
	}
	r = &(*v)[(*n)++];
	memset(r, 0, sizeof(*r));
	util_strlcpy(r->addr, addr, sizeof(r->addr));
	r->kind = kind;
	r->remote = kind == 'X';
	util_strlcpy(r->mailbox, value, sizeof(r->mailbox));
	util_strlcpy(r->errorsto, errorsto ? errorsto : "",
		     sizeof(r->errorsto));
	return 0;
}
