/*
 * autoreply: the pure half of autoreply (contracts in autoreply.h): RFC
 * 3834's rules (autoreply_wanted) and the answer's text
 * (autoreply_format), both from one reading of the original header. The
 * once-per-sender record and the dates are autoreply_once.c's.
 */
#include "spool/autoreply.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "spool/autoreply_int.h"

/* RFC 5322 2.1.1: lines SHOULD stay within 78 octets; fold before. */
#define FOLD_AT 76
/* RFC 2047 2: an encoded-word is at most 75 characters, and a line
 * holding one at most 76. */
#define EW_LINE 76
#define EW_FRAME 12 /* "=?UTF-8?B?" and "?=" */
#define QP_LINE 76  /* RFC 2045 6.7 (5), the soft "=" included */
#define ID_MAX 64

/* The header of the original, what the rules and the answer need. */
struct scan {
	bool auto_submitted, list, bulk, suppress, addressed;
	/* Raw values; NULL: no such field. */
	const char *subj, *msgid, *refs, *irt;
	size_t subjlen, msgidlen, refslen, irtlen;
};

/* One field: its name without trailing blanks, its raw value (after the
 * colon, continuation lines included, without the last line end). */
struct field {
	const char *name, *val;
	size_t namelen, vallen;
};

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

static void
set_why(char *why, size_t whylen, const char *token)
{
	if (why != NULL && whylen > 0)
		util_strlcpy(why, token, whylen);
}

static bool
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Where the line at off ends (its LF, or len), and where the next starts. */
static size_t
line_end(const char *p, size_t len, size_t off, size_t *next_r)
{
	const char *lf = memchr(p + off, '\n', len - off);
	size_t end = lf != NULL ? (size_t)(lf - p) : len;

	*next_r = lf != NULL ? end + 1 : len;
	if (end > off && p[end - 1] == '\r')
		end--;
	return end;
}

/*
 * The field at off (RFC 5322 2.2, 2.2.3). Returns the offset after it, or
 * 0 at the end of the header: the end of p or an empty line. A first line
 * without a colon, or starting with a blank, gives a field without name.
 */
static size_t
field_at(const char *p, size_t len, size_t off, struct field *f)
{
	size_t next, end;
	const char *colon;

	if (off >= len || (end = line_end(p, len, off, &next)) == off)
		return 0;
	colon = memchr(p + off, ':', end - off);
	memset(f, 0, sizeof(*f));
	if (colon != NULL && !is_blank((unsigned char)p[off])) {
		f->name = p + off;
		f->namelen = (size_t)(colon - f->name);
		while (f->namelen > 0 &&
		       is_blank((unsigned char)f->name[f->namelen - 1]))
			f->namelen--;
		f->val = colon + 1;
	} else
		f->val = p + end;
	while (next < len && is_blank((unsigned char)p[next]))
		end = line_end(p, len, next, &next);
	f->vallen = (size_t)(p + end - f->val);
	return next;
}

/* The length of the well-formed UTF-8 character at s (RFC 3629 4), or 0. */
static size_t
u8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2
		   : s[0] < 0xf0 ? 3 : s[0] < 0xf5 ? 4 : 0;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* No overlong 3- or 4-octet form, no surrogate, none past U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

/*
 * A value as text: unfolded, every control and run of blanks one space,
 * trimmed, bytes that are not UTF-8 "?", cut at a character so that it
 * holds at most max octets (max < size). Returns its length.
 */
static size_t
clean_text(char *dst, size_t max, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t len = 0;
	bool space = false;

	while (n > 0) {
		size_t k = s[0] >= 0x80 ? u8_len(s, n) : 1;
		const char *c = k > 0 ? (const char *)s : "?";
		size_t clen = k > 0 ? k : 1;

		s += clen, n -= clen;
		if (k == 1 && (c[0] <= ' ' || c[0] == 0x7f)) {
			space = len > 0;
			continue;
		}
		if (len + space + clen > max)
			break;
		if (space)
			dst[len++] = ' ';
		memcpy(dst + len, c, clen);
		len += clen;
		space = false;
	}
	dst[len] = '\0';
	return len;
}

/* The first word of a value (before a blank, ";" or "("), lower-cased. */
static void
first_word(char *dst, size_t size, const char *val, size_t n)
{
	char tmp[64];
	size_t len;

	clean_text(tmp, sizeof(tmp) - 1, val, n);
	len = strcspn(tmp, " ;(");
	if (len >= size)
		len = size - 1;
	memcpy(dst, tmp, len);
	dst[len] = '\0';
	util_lower(dst, len);
}

/* ASCII only: isalnum follows the locale. */
static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool
is_addr_char(unsigned char c)
{
	return is_alnum(c) || c >= 0x80 ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.@", c) != NULL);
}

/* Whether s (n octets) is one of the user's addresses. */
static bool
is_own(const struct autoreply_in *in, const char *s, size_t n)
{
	if (n == 0)
		return false;
	if (util_is_ieq(s, n, nz(in->rcpt)) ||
	    util_is_ieq(s, n, nz(in->user_addr)))
		return true;
	for (size_t i = 0; in->addrs != NULL && i < in->naddrs; i++)
		if (util_is_ieq(s, n, nz(in->addrs[i])))
			return true;
	return false;
}

/* The next run of octets of a class in v from *i, *i moved past it. */
static const char *
next_run(const char *v, size_t n, size_t *i, bool (*in_class)(unsigned char),
	 size_t *len_r)
{
	size_t start;

	while (*i < n && !in_class((unsigned char)v[*i]))
		(*i)++;
	start = *i;
	while (*i < n && in_class((unsigned char)v[*i]))
		(*i)++;
	*len_r = *i - start;
	return v + start;
}

/* Whether a run of address characters of the value is one of ours. */
static bool
names_own(const struct autoreply_in *in, const char *v, size_t n)
{
	size_t i = 0, len;

	while (i < n) {
		const char *r = next_run(v, n, &i, is_addr_char, &len);

		if (is_own(in, r, len))
			return true;
	}
	return false;
}

static bool
name_in(const char *name, size_t len, const char *const *names)
{
	for (; *names != NULL; names++)
		if (util_is_ieq(name, len, *names))
			return true;
	return false;
}

static bool
has_isuffix(const char *s, size_t len, const char *suffix)
{
	size_t k = strlen(suffix);

	return len >= k && util_is_ieq(s + len - k, k, suffix);
}

/* MS-OXCMAIL: "OOF" or "All" among the words asks for no absence note. */
static bool
suppresses(const char *v, size_t n)
{
	size_t i = 0, len;

	while (i < n) {
		const char *w = next_run(v, n, &i, is_alnum, &len);

		if (util_is_ieq(w, len, "oof") || util_is_ieq(w, len, "all"))
			return true;
	}
	return false;
}

/* The first of each kept field wins: a later copy cannot replace it. */
static void
keep(const char **p_r, size_t *len_r, const struct field *f)
{
	if (*p_r == NULL) {
		*p_r = f->val;
		*len_r = f->vallen;
	}
}

static void
scan_field(struct scan *sc, const struct autoreply_in *in,
	   const struct field *f)
{
	static const char *const rcpt_fields[] = { "To", "Cc", "Bcc",
		"Resent-To", "Resent-Cc", "Resent-Bcc", NULL };
	static const char *const list_fields[] = { "Mailing-List",
		"X-Mailing-List", NULL };
	char w[16];

	if (util_is_ieq(f->name, f->namelen, "Auto-Submitted")) {
		first_word(w, sizeof(w), f->val, f->vallen);
		sc->auto_submitted |= strcmp(w, "no") != 0;
	} else if (util_is_ieq(f->name, f->namelen, "Precedence")) {
		first_word(w, sizeof(w), f->val, f->vallen);
		sc->list |= strcmp(w, "list") == 0;
		sc->bulk |= strcmp(w, "bulk") == 0 || strcmp(w, "junk") == 0;
	} else if (util_has_iprefix(f->name, f->namelen, "List-") ||
		   name_in(f->name, f->namelen, list_fields))
		sc->list = true;
	else if (util_is_ieq(f->name, f->namelen, "X-Auto-Response-Suppress"))
		sc->suppress |= suppresses(f->val, f->vallen);
	else if (name_in(f->name, f->namelen, rcpt_fields))
		sc->addressed |= names_own(in, f->val, f->vallen);
	else if (util_is_ieq(f->name, f->namelen, "Subject"))
		keep(&sc->subj, &sc->subjlen, f);
	else if (util_is_ieq(f->name, f->namelen, "Message-ID"))
		keep(&sc->msgid, &sc->msgidlen, f);
	else if (util_is_ieq(f->name, f->namelen, "References"))
		keep(&sc->refs, &sc->refslen, f);
	else if (util_is_ieq(f->name, f->namelen, "In-Reply-To"))
		keep(&sc->irt, &sc->irtlen, f);
}

static void
scan_header(struct scan *sc, const struct autoreply_in *in)
{
	const char *p = nz(in->header);
	size_t len = in->header != NULL ? in->headerlen : 0, off = 0, next;
	struct field f;

	memset(sc, 0, sizeof(*sc));
	while ((next = field_at(p, len, off, &f)) != 0) {
		if (f.name != NULL)
			scan_field(sc, in, &f);
		off = next;
	}
}

/* The domain of an address (after its last "@"), or "". */
static const char *
domain_of(const char *addr)
{
	const char *at = strrchr(nz(addr), '@');

	return at != NULL ? at + 1 : "";
}

static bool
is_internal(const struct autoreply_in *in)
{
	const char *d = domain_of(in->sender);

	return d[0] != '\0' && strcasecmp(d, domain_of(in->user_addr)) == 0;
}

/* The text the answer would carry (see autoreply.h). */
static const char *
pick_text(const struct autoreply_in *in)
{
	if (nz(in->text_internal)[0] != '\0' && is_internal(in))
		return in->text_internal;
	return nz(in->text);
}

static bool
is_blank_text(const char *s)
{
	for (; *s != '\0'; s++)
		if (!is_blank((unsigned char)*s) && *s != '\r' && *s != '\n')
			return false;
	return true;
}

/* 1 inside the window, 0 outside, -1 when a bound is malformed. */
static int
in_vacation(const struct autoreply_in *in)
{
	time_t start = 0, end = 0;

	if (nz(in->vacstart)[0] != '\0' &&
	    (start = autoreply_parse_gentime(in->vacstart)) < 0)
		return -1;
	if (nz(in->vacend)[0] != '\0' &&
	    (end = autoreply_parse_gentime(in->vacend)) < 0)
		return -1;
	return in->now >= start && (nz(in->vacend)[0] == '\0' || in->now < end);
}

/* local@domain, a token, within the limit. */
static bool
addr_ok(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t n = strlen(s);

	return n <= AUTOREPLY_ADDR_MAX && at != NULL && at != s &&
	       at[1] != '\0' && autoreply_is_token(s, n);
}

/*
 * RFC 3834 2: "Responders MAY refuse to generate responses for addresses
 * commonly used as return addresses by responders" (owner-*, *-request,
 * MAILER-DAEMON); Mailman's *-bounces+VERP too. Called after addr_ok.
 */
static const char *
sender_kind(const char *sender)
{
	static const char *const daemon[] = { "mailer-daemon", "mailer",
					      "postmaster", NULL };
	static const char *const list[] = { "listserv", "majordomo", NULL };
	static const char *const noreply[] = { "noreply", "no-reply",
		"donotreply", "do-not-reply", NULL };
	size_t at = (size_t)(strrchr(sender, '@') - sender);
	size_t n = strcspn(sender, "+");

	if (n > at)
		n = at;
	if (name_in(sender, n, daemon))
		return "daemon";
	if (name_in(sender, n, noreply))
		return "noreply";
	if (name_in(sender, n, list) || util_has_iprefix(sender, n, "owner-") ||
	    has_isuffix(sender, n, "-owner") ||
	    has_isuffix(sender, n, "-request") ||
	    has_isuffix(sender, n, "-bounces"))
		return "list";
	return NULL;
}

static const char *
config_reason(const struct autoreply_in *in)
{
	int v;

	if (is_blank_text(pick_text(in)))
		return "no_text";
	if (!addr_ok(nz(in->user_addr)))
		return "bad_user_addr";
	v = in_vacation(in);
	if (v < 0)
		return "bad_date";
	return v == 0 ? "outside_vacation" : NULL;
}

static const char *
sender_reason(const struct autoreply_in *in)
{
	const char *s = nz(in->sender);

	if (s[0] == '\0')
		return "null_sender";
	if (!addr_ok(s))
		return "bad_sender";
	if (is_own(in, s, strlen(s)))
		return "self";
	return sender_kind(s);
}

static const char *
header_reason(const struct autoreply_in *in)
{
	struct scan sc;

	scan_header(&sc, in);
	if (sc.auto_submitted)
		return "auto_submitted";
	if (sc.list)
		return "list";
	if (sc.bulk)
		return "bulk";
	if (sc.suppress)
		return "suppressed";
	return sc.addressed ? NULL : "not_addressed";
}

int
autoreply_wanted(const struct autoreply_in *in, char *why, size_t whylen)
{
	const char *r = config_reason(in);

	if (r == NULL)
		r = sender_reason(in);
	if (r == NULL)
		r = header_reason(in);
	set_why(why, whylen, r != NULL ? r : "");
	return r == NULL;
}

/* ---- the answer ---- */

/* Only these octets of ours go into an address or an identifier. */
static void
clean_id(char *dst, size_t size, const char *s, const char *extra)
{
	size_t n = 0;

	for (s = nz(s); *s != '\0' && n + 1 < size; s++) {
		if (is_alnum((unsigned char)*s) || strchr(extra, *s) != NULL)
			dst[n++] = *s;
	}
	dst[n] = '\0';
}

/*
 * The next msg-id of a raw value from *off: "<" id ">" with the id of
 * printable US-ASCII but "<" and ">" (RFC 5322 3.6.4; no CFWS inside),
 * 1 to AUTOREPLY_MSGID_MAX octets. Returns its start ("<") and length
 * ("<" and ">" included), or NULL.
 */
static const char *
next_msgid(const char *v, size_t n, size_t *off, size_t *len_r)
{
	while (*off < n) {
		const char *lt = memchr(v + *off, '<', n - *off);
		size_t i, start;

		if (lt == NULL)
			break;
		start = (size_t)(lt - v);
		for (i = start + 1; i < n && (unsigned char)v[i] > ' ' &&
				    (unsigned char)v[i] < 0x7f && v[i] != '<' &&
				    v[i] != '>'; i++)
			;
		*off = i;
		if (i < n && v[i] == '>' && i > start + 1 &&
		    i - start - 1 <= AUTOREPLY_MSGID_MAX) {
			*len_r = i + 1 - start;
			*off = i + 1;
			return lt;
		}
	}
	return NULL;
}

/*
 * RFC 5322 3.6.4: References is the parent's References, or else its
 * In-Reply-To when that holds a single msg-id, and then its Message-ID;
 * we keep the last AUTOREPLY_REFS_MAX of them.
 */
static int
put_refs(struct buf *out, const struct scan *sc, const char *id, size_t idlen)
{
	const char *ref[AUTOREPLY_REFS_MAX], *v = sc->refs, *irt = nz(sc->irt);
	size_t rlen[AUTOREPLY_REFS_MAX], n = 0, off = 0, len;
	size_t vlen = sc->refslen;
	const char *r;

	if (v == NULL && next_msgid(irt, sc->irtlen, &off, &len) != NULL &&
	    next_msgid(irt, sc->irtlen, &off, &len) == NULL) {
		v = sc->irt;
		vlen = sc->irtlen;
	}
	off = 0;
	while ((r = next_msgid(nz(v), vlen, &off, &len)) != NULL) {
		if (n == AUTOREPLY_REFS_MAX - 1) {
			memmove(ref, ref + 1, (n - 1) * sizeof(ref[0]));
			memmove(rlen, rlen + 1, (n - 1) * sizeof(rlen[0]));
			n--;
		}
		ref[n] = r;
		rlen[n++] = len;
	}
	ref[n] = id;
	rlen[n++] = idlen;
	if (buf_printf(out, "In-Reply-To: %.*s\r\nReferences:", (int)idlen,
		       id) < 0)
		return -1;
	/* One msg-id a line: each fits, whatever the others hold. */
	for (size_t i = 0; i < n; i++)
		if (buf_printf(out, "%s %.*s", i > 0 ? "\r\n" : "",
			       (int)rlen[i], ref[i]) < 0)
			return -1;
	return buf_append(out, "\r\n", 2);
}

static void
b64(char *dst, const unsigned char *s, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		size_t k = n - i;
		unsigned v = (unsigned)s[i] << 16 |
			     (k > 1 ? (unsigned)s[i + 1] << 8 : 0) |
			     (k > 2 ? s[i + 2] : 0);

		*dst++ = tab[v >> 18];
		*dst++ = tab[v >> 12 & 63];
		*dst++ = k > 1 ? tab[v >> 6 & 63] : '=';
		*dst++ = k > 2 ? tab[v & 63] : '=';
	}
	*dst = '\0';
}

/*
 * s as RFC 2047 B encoded-words from column col, each cut at a UTF-8
 * character and short enough for its line (RFC 2047 2). Whitespace
 * between two encoded-words is not text (RFC 2047 6.2), so the spaces of
 * s travel inside them.
 */
static int
put_encoded(struct buf *out, size_t col, const char *s, size_t n)
{
	while (n > 0) {
		size_t room = EW_LINE - col - 1 - EW_FRAME, k = room / 4 * 3;
		char enc[EW_LINE];

		if (room > EW_LINE || k < 12) {
			if (buf_append(out, "\r\n", 2) < 0)
				return -1;
			col = 0;
			continue;
		}
		if (k >= n)
			k = n;
		while (k < n && ((unsigned char)s[k] & 0xc0) == 0x80)
			k--;
		b64(enc, (const unsigned char *)s, k);
		if (buf_printf(out, " =?UTF-8?B?%s?=", enc) < 0)
			return -1;
		col += 1 + EW_FRAME + strlen(enc);
		s += k, n -= k;
	}
	return 0;
}

/* Words of US-ASCII, folded at spaces (each word fits: see the caps). */
static int
put_words(struct buf *out, size_t col, const char *s, size_t n)
{
	while (n > 0) {
		size_t w = strcspn(s, " ");

		if (w > n)
			w = n;
		if (col + 1 + w > FOLD_AT && col > strlen("Subject:")) {
			if (buf_append(out, "\r\n", 2) < 0)
				return -1;
			col = 0;
		}
		if (buf_printf(out, " %.*s", (int)w, s) < 0)
			return -1;
		col += 1 + w;
		s += w, n -= w;
		if (n > 0)
			s++, n--;
	}
	return 0;
}

/* The column at the end of out, counting from start (a field's name). */
static size_t
column(const struct buf *out, size_t start)
{
	size_t i = buf_len(out);

	while (i > start && buf_data(out)[i - 1] != '\n')
		i--;
	return buf_len(out) - i;
}

/*
 * US-ASCII words as they are, the run from the first to the last word
 * with 8-bit octets as encoded-words: RFC 2047 5 (1) lets one stand for
 * words of unstructured text, and the space before and after the run
 * stays text (RFC 2047 6.2).
 */
static int
put_subject(struct buf *out, const char *v, size_t n)
{
	size_t a = 0, z, start = buf_len(out);

	while (a < n && (unsigned char)v[a] < 0x80)
		a++;
	while (a > 0 && a < n && v[a - 1] != ' ')
		a--;
	for (z = n; z > a && (unsigned char)v[z - 1] < 0x80; z--)
		;
	while (z > a && z < n && v[z] != ' ')
		z++;
	if (buf_append(out, "Subject:", 8) < 0 ||
	    put_words(out, 8, v, a > 0 ? a - (a < n) : 0) < 0 ||
	    put_encoded(out, column(out, start), v + a, z - a) < 0 ||
	    (z + 1 < n &&
	     put_words(out, column(out, start), v + z + 1, n - z - 1) < 0))
		return -1;
	return buf_append(out, "\r\n", 2);
}

/* Appends p[0..n) to dst (holding *len of size octets) as far as it fits. */
static void
add_cut(char *dst, size_t size, size_t *len, const char *p, size_t n)
{
	if (n > size - 1 - *len)
		n = size - 1 - *len;
	memcpy(dst + *len, p, n);
	*len += n;
	dst[*len] = '\0';
}

/* The Subject value (see autoreply.h); returns its length. */
static size_t
subject_value(char *dst, const struct autoreply_in *in, const struct scan *sc)
{
	char orig[AUTOREPLY_ORIG_SUBJECT_MAX + 1];
	char raw[4 * AUTOREPLY_SUBJECT_MAX];
	const char *rs = nz(in->subject), *d;
	size_t olen = clean_text(orig, AUTOREPLY_ORIG_SUBJECT_MAX, nz(sc->subj),
				 sc->subjlen), len = 0;

	if (clean_text(raw, 8, rs, strlen(rs)) == 0)
		rs = olen > 0 ? "Auto: $SUBJECT" : "Auto: (no subject)";
	while ((d = strstr(rs, "$SUBJECT")) != NULL) {
		add_cut(raw, sizeof(raw), &len, rs, (size_t)(d - rs));
		add_cut(raw, sizeof(raw), &len, orig, olen);
		rs = d + 8;
	}
	add_cut(raw, sizeof(raw), &len, rs, strlen(rs));
	len = clean_text(dst, AUTOREPLY_SUBJECT_MAX, raw, len);
	if (len == 0) /* replysubject "$SUBJECT" and no subject */
		len = clean_text(dst, AUTOREPLY_SUBJECT_MAX,
				 "Auto: (no subject)", 18);
	return len;
}

static int
put_header(struct buf *out, const struct autoreply_in *in,
	   const struct scan *sc, bool utf8, bool qp)
{
	char date[64], from[AUTOREPLY_ADDR_MAX + 1], to[AUTOREPLY_ADDR_MAX + 1];
	char id[ID_MAX], host[256], subj[AUTOREPLY_SUBJECT_MAX + 1];
	const char *addr = "!#$%&'*+-/=?^_`{|}~.@";
	size_t off = 0, idlen, slen = subject_value(subj, in, sc);
	const char *msgid = next_msgid(nz(sc->msgid), sc->msgidlen, &off,
				       &idlen);

	util_rfc5322_date(date, sizeof(date), in->now);
	clean_id(from, sizeof(from), in->user_addr, addr);
	clean_id(to, sizeof(to), in->sender, addr);
	clean_id(id, sizeof(id), in->qid, "");
	clean_id(host, sizeof(host), in->hostname, ".-");
	if (buf_printf(out, "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\n", date,
		       from, to) < 0 ||
	    put_subject(out, subj, slen) < 0 ||
	    buf_printf(out, "Message-ID: <%s.%lld.%08x@%s>\r\n",
		       id[0] != '\0' ? id : "0",
		       (long long)in->now,
		       (unsigned)util_crc32(0, from, strlen(from)),
		       host[0] != '\0' ? host : "localhost") < 0 ||
	    (msgid != NULL && put_refs(out, sc, msgid, idlen) < 0))
		return -1;
	return buf_printf(out, "Auto-Submitted: auto-replied\r\n"
			       "Precedence: bulk\r\n"
			       "MIME-Version: 1.0\r\n"
			       "Content-Type: text/plain; charset=%s\r\n"
			       "Content-Transfer-Encoding: %s\r\n\r\n",
			  utf8 ? "utf-8" : "us-ascii",
			  qp ? "quoted-printable" : "7bit");
}

/* The text, every line end made CRLF, the last line ended too. */
static int
body_text(struct buf *b, const char *t)
{
	while (*t != '\0') {
		size_t n = strcspn(t, "\r\n");

		if (buf_append(b, t, n) < 0 || buf_append(b, "\r\n", 2) < 0)
			return -1;
		t += n;
		if (t[0] == '\r' && t[1] == '\n')
			t++;
		if (*t != '\0')
			t++;
	}
	return 0;
}

/* One line of the original, quoted, with what cannot be text as "?". */
static int
echo_line(struct buf *b, const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;

	if (n > AUTOREPLY_LINE_MAX - 2)
		n = AUTOREPLY_LINE_MAX - 2;
	if (buf_append(b, "> ", 2) < 0)
		return -1;
	while (n > 0) {
		size_t k = s[0] >= 0x80 ? u8_len(s, n) : 1;
		bool ok = k > 1 || s[0] == '\t' || (s[0] >= ' ' && s[0] < 0x7f);

		if (!ok)
			k = 1;
		if (buf_append(b, ok ? (const char *)s : "?", ok ? k : 1) < 0)
			return -1;
		s += k, n -= k;
	}
	return buf_append(b, "\r\n", 2);
}

static int
body_echo(struct buf *b, const char *h, size_t len)
{
	size_t off = 0, used = 0, next, end;

	if (buf_append(b, "\r\n", 2) < 0)
		return -1;
	while (off < len && (end = line_end(h, len, off, &next)) > off) {
		size_t n = end - off;

		if (n > AUTOREPLY_LINE_MAX - 2)
			n = AUTOREPLY_LINE_MAX - 2;

		/* Worst case "?" for every octet, plus "> " and CRLF. */
		if (used + n + 4 > AUTOREPLY_ECHO_MAX)
			return buf_append(b, "> [...]\r\n", 9);
		if (echo_line(b, h + off, end - off) < 0)
			return -1;
		used += n + 4;
		off = next;
	}
	return 0;
}

/*
 * 8-bit octets (charset utf-8), and what 7bit cannot carry (RFC 2045
 * 2.7): those, lines over 998 octets; and controls, which it could but
 * which are safer encoded.
 */
static void
body_kind(const char *p, size_t len, bool *utf8_r, bool *qp_r)
{
	size_t col = 0;

	*utf8_r = *qp_r = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		*utf8_r |= c >= 0x80;
		*qp_r |= (c < ' ' && c != '\t' && c != '\r' && c != '\n') ||
			 c >= 0x7f;
		col = c == '\n' ? 0 : col + 1;
		*qp_r |= col > AUTOREPLY_LINE_MAX + 1; /* the CR counted */
	}
}

/* RFC 2045 6.7: CRLF lines to quoted-printable, soft breaks at QP_LINE. */
static int
put_qp(struct buf *out, const char *p, size_t len)
{
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		bool eol = i + 1 < len && p[i + 1] == '\r';
		char tok[4];
		int k;

		if (c == '\r' && i + 1 < len && p[i + 1] == '\n') {
			if (buf_append(out, "\r\n", 2) < 0)
				return -1;
			i++, col = 0;
			continue;
		}
		/* Rule (3): a blank ending a line must be encoded. */
		if ((c > ' ' && c < 0x7f && c != '=') || (is_blank(c) && !eol))
			k = snprintf(tok, sizeof(tok), "%c", c);
		else
			k = snprintf(tok, sizeof(tok), "=%02X", c);
		if (col + (size_t)k > QP_LINE - 1) {
			if (buf_append(out, "=\r\n", 3) < 0)
				return -1;
			col = 0;
		}
		if (buf_append(out, tok, (size_t)k) < 0)
			return -1;
		col += (size_t)k;
	}
	return 0;
}

static int
put_answer(struct buf *out, const struct autoreply_in *in, struct buf *body)
{
	const char *text = pick_text(in);
	bool utf8, qp;
	struct scan sc;

	scan_header(&sc, in);
	if (body_text(body, text) < 0 ||
	    (util_is_ieq(nz(in->mode), strlen(nz(in->mode)), "echo") &&
	     body_echo(body, nz(in->header),
		       in->header != NULL ? in->headerlen : 0) < 0))
		return -1;
	body_kind(buf_data(body), buf_len(body), &utf8, &qp);
	if (put_header(out, in, &sc, utf8, qp) < 0)
		return -1;
	if (qp)
		return put_qp(out, buf_data(body), buf_len(body));
	return buf_append(out, buf_data(body), buf_len(body));
}

int
autoreply_format(struct buf *out, const struct autoreply_in *in)
{
	size_t start = buf_len(out);
	struct buf body;
	int rc;

	buf_init(&body, 2 * strlen(pick_text(in)) + AUTOREPLY_ECHO_MAX + 64);
	rc = put_answer(out, in, &body);
	buf_free(&body);
	/* struct buf has no truncate; its fields are public, len among them. */
	if (rc < 0)
		out->len = start;
	return rc;
}
