#include "protocols/smtp_parse.h"

#include <string.h>

#include "core/util.h"

#define PATH_MAX_OCTETS 256 /* RFC 5321 4.5.3.1.3, with the brackets */

static const char *const verb_names[SMTP_V_COUNT] = {
	"", "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
	"NOOP", "QUIT", "HELP", "VRFY", "EXPN", "STARTTLS", "AUTH",
};

const char *
smtp_parse_verb_name(enum smtp_verb v)
{
	return v < SMTP_V_COUNT ? verb_names[v] : "";
}

enum smtp_verb
smtp_parse_command(const char *line, size_t len, struct smtp_parse_cmd *c)
{
	size_t vl = 0;

	while (vl < len && line[vl] != ' ')
		vl++;
	c->verb = SMTP_V_UNKNOWN;
	c->arg = line + vl;
	c->arglen = 0;
	if (vl < len) {
		c->arg = line + vl + 1;
		c->arglen = len - vl - 1;
	}
	if (memchr(line, '\0', len) != NULL)
		return SMTP_V_UNKNOWN;
	for (int v = 1; v < SMTP_V_COUNT; v++)
		if (util_is_ieq(line, vl, verb_names[v]))
			c->verb = (enum smtp_verb)v;
	return c->verb;
}

static int
err(struct smtp_parse_err *e, int code, const char *enh, const char *text)
{
	e->code = code;
	e->enh = enh;
	e->text = text;
	return -1;
}

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 5322 atext; RFC 6531 adds UTF-8 octets. */
static bool
is_atext(unsigned char c, bool utf8)
{
	return is_alnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL ||
	       (utf8 && c >= 0x80);
}

int
smtp_parse_helo(const char *arg, size_t len, struct smtp_parse_err *e)
{
	if (len == 0 || len > 255)
		return err(e, 501, "5.5.4", "Syntax: EHLO hostname");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)arg[i];
		if (c <= 0x20 || c >= 0x7f)
			return err(e, 501, "5.5.4",
				   "Syntax: EHLO hostname (one word, ASCII)");
	}
	return 0;
}

struct scan {
	const char *p, *end;
	bool utf8;
	bool non_ascii;
};

static bool
scan_dot_string(struct scan *s)
{
	const char *start = s->p;

	for (;;) {
		const char *atom = s->p;
		while (s->p < s->end && is_atext((unsigned char)*s->p, s->utf8)) {
			if ((unsigned char)*s->p >= 0x80)
				s->non_ascii = true;
			s->p++;
		}
		if (s->p == atom)
			return false;
		if (s->p < s->end && *s->p == '.') {
			s->p++;
			continue;
		}
		return s->p > start;
	}
}

static bool
scan_quoted(struct scan *s)
{
	if (s->p >= s->end || *s->p != '"')
		return false;
	s->p++;
	while (s->p < s->end && *s->p != '"') {
		unsigned char c = (unsigned char)*s->p;
		if (c == '\\') {
			if (++s->p >= s->end ||
			    (unsigned char)*s->p < 0x20 || *s->p == 0x7f)
				return false;
		} else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !s->utf8)) {
			return false;
		}
		if (c >= 0x80)
			s->non_ascii = true;
		s->p++;
	}
	if (s->p >= s->end)
		return false;
	s->p++;
	return true;
}

static bool
scan_domain(struct scan *s)
{
	if (s->p < s->end && *s->p == '[') {
		/* Address literal: kept as written, checked only for shape. */
		while (++s->p < s->end && *s->p != ']') {
			unsigned char c = (unsigned char)*s->p;
			if (c <= 0x20 || c >= 0x7f || c == '[' || c == '\\')
				return false;
		}
		if (s->p >= s->end)
			return false;
		s->p++;
		return true;
	}
	for (;;) {
		const char *label = s->p;
		while (s->p < s->end) {
			unsigned char c = (unsigned char)*s->p;
			if (!(is_alnum(c) || c == '-' || (s->utf8 && c >= 0x80)))
				break;
			if (c >= 0x80)
				s->non_ascii = true;
			s->p++;
		}
		if (s->p == label || *label == '-' || s->p[-1] == '-' ||
		    s->p - label > 63)
			return false;
		if (s->p < s->end && *s->p == '.') {
			s->p++;
			continue;
		}
		return true;
	}
}

/* "@a,@b:" before the mailbox: RFC 5321 appendix C, accepted and ignored. */
static bool
skip_source_route(struct scan *s)
{
	while (s->p < s->end && *s->p == '@') {
		s->p++;
		if (!scan_domain(s))
			return false;
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == ':') {
			s->p++;
			return true;
		}
		return false;
	}
	return true;
}

/* A quoted local part that needs no quotes is stored without them. */
static size_t
store_local(const char *lp, size_t len, char *out, size_t outlen)
{
	struct scan t;
	char plain[TBL_LOCAL_MAX * 2 + 1];
	size_t o = 0;

	if (len == 0 || lp[0] != '"')
		return util_copy(out, outlen, lp, len) < 0 ? (size_t)-1 : len;
	for (size_t i = 1; i + 1 < len && o + 1 < sizeof(plain); i++) {
		if (lp[i] == '\\')
			i++;
		plain[o++] = lp[i];
	}
	t.p = plain;
	t.end = plain + o;
	t.utf8 = true;
	t.non_ascii = false;
	if (o > 0 && scan_dot_string(&t) && t.p == t.end)
		return util_copy(out, outlen, plain, o) < 0 ? (size_t)-1 : o;
	return util_copy(out, outlen, lp, len) < 0 ? (size_t)-1 : len;
}

/*
 * Parses "<path>" at s->p. Fills p; returns 0, or -1 with a reply for
 * which ("sender"/"recipient").
 */
static int
parse_path(struct scan *s, bool allow_null, bool recipient,
	   struct smtp_parse_path *p, struct smtp_parse_err *e)
{
	const char *enh = recipient ? "5.1.3" : "5.1.7";
	const char *open = s->p, *lp, *lpe, *dp;
	size_t ll;

	memset(p, 0, sizeof(*p));
	if (s->p >= s->end || *s->p != '<')
		return err(e, 501, "5.5.4", recipient
			   ? "Syntax: RCPT TO:<address>"
			   : "Syntax: MAIL FROM:<address>");
	s->p++;
	if (s->p < s->end && *s->p == '>') {
		if (!allow_null)
			return err(e, 501, enh, "Null recipient not allowed");
		s->p++;
		p->is_null = true;
		return 0;
	}
	if (!skip_source_route(s))
		return err(e, 501, enh, "Bad address syntax");
	lp = s->p;
	if (!(s->p < s->end && *s->p == '"' ? scan_quoted(s)
					     : scan_dot_string(s)))
		return err(e, 501, enh, "Bad address syntax");
	lpe = s->p;
	/* RFC 5321 4.5.1: <postmaster> without a domain. */
	if (recipient && s->p < s->end && *s->p == '>' &&
	    util_is_ieq(lp, (size_t)(lpe - lp), "postmaster")) {
		s->p++;
		util_strlcpy(p->addr, "postmaster", sizeof(p->addr));
		return 0;
	}
	if (s->p >= s->end || *s->p != '@')
		return err(e, 501, enh, "Bad address syntax (no domain)");
	s->p++;
	dp = s->p;
	if (!scan_domain(s) || s->p >= s->end || *s->p != '>')
		return err(e, 501, enh, "Bad address syntax");
	s->p++;
	if ((size_t)(lpe - lp) > TBL_LOCAL_MAX ||
	    (size_t)(s->p - dp - 1) > 255 || (size_t)(s->p - open) > PATH_MAX_OCTETS)
		return err(e, 501, enh, "Address too long (RFC 5321 4.5.3.1)");
	ll = store_local(lp, (size_t)(lpe - lp), p->addr, sizeof(p->addr));
	if (ll == (size_t)-1 ||
	    util_fmt(p->addr + ll, sizeof(p->addr) - ll, "@%.*s",
		     (int)(s->p - dp - 1), dp) < 0)
		return err(e, 501, enh, "Address too long");
	p->non_ascii = s->non_ascii;
	return 0;
}

static int
parse_param(const char *k, size_t kl, const char *v, size_t vl, bool has_v,
	    struct smtp_parse_params *prm, unsigned *seen,
	    struct smtp_parse_err *e)
{
	if (util_is_ieq(k, kl, "SIZE")) {
		if (*seen & 1)
			return err(e, 501, "5.5.4", "Duplicate SIZE");
		*seen |= 1;
		/* RFC 1870: 1*20DIGIT; a value past 2^64 is just too big. */
		if (!has_v || vl == 0 || vl > 20)
			return err(e, 501, "5.5.4", "Syntax: SIZE=number");
		for (size_t i = 0; i < vl; i++)
			if (v[i] < '0' || v[i] > '9')
				return err(e, 501, "5.5.4",
					   "Syntax: SIZE=number");
		if (util_parse_u64(v, vl, UINT64_MAX, &prm->size) < 0)
			prm->size = UINT64_MAX;
		prm->has_size = true;
		return 0;
	}
	if (util_is_ieq(k, kl, "BODY")) {
		if (*seen & 2)
			return err(e, 501, "5.5.4", "Duplicate BODY");
		*seen |= 2;
		if (has_v && util_is_ieq(v, vl, "7BIT"))
			prm->body = SMTP_BODY_7BIT;
		else if (has_v && util_is_ieq(v, vl, "8BITMIME"))
			prm->body = SMTP_BODY_8BITMIME;
		else
			return err(e, 555, "5.5.4",
				   "BODY must be 7BIT or 8BITMIME");
		return 0;
	}
	if (util_is_ieq(k, kl, "SMTPUTF8")) {
		if (has_v || (*seen & 4))
			return err(e, 501, "5.5.4", "Syntax: SMTPUTF8");
		*seen |= 4;
		prm->smtputf8 = true;
		return 0;
	}
	if (util_is_ieq(k, kl, "AUTH")) {
		/* RFC 4954 5: xtext or "<>"; we never act on another
		 * server's claim, so only its syntax matters. */
		if (!has_v || vl == 0 || (*seen & 8))
			return err(e, 501, "5.5.4", "Syntax: AUTH=mailbox");
		for (size_t i = 0; i < vl; i++)
			if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f ||
			    v[i] == '=')
				return err(e, 501, "5.5.4", "Syntax: AUTH=mailbox");
		*seen |= 8;
		prm->has_auth = true;
		return 0;
	}
	return err(e, 555, "5.5.4", "Unsupported MAIL parameter");
}

static int
parse_params(struct scan *s, struct smtp_parse_params *prm,
	     struct smtp_parse_err *e)
{
	unsigned seen = 0;

	while (s->p < s->end) {
		if (*s->p != ' ')
			return err(e, 501, "5.5.4", "Syntax error in parameters");
		while (s->p < s->end && *s->p == ' ')
			s->p++;
		if (s->p == s->end)
			break;
		const char *k = s->p, *eq = NULL;
		while (s->p < s->end && *s->p != ' ') {
			if ((unsigned char)*s->p <= 0x20 || *s->p == 0x7f)
				return err(e, 501, "5.5.4", "Bad parameter");
			if (*s->p == '=' && eq == NULL)
				eq = s->p;
			s->p++;
		}
		const char *kend = eq ? eq : s->p;
		const char *v = eq ? eq + 1 : s->p;
		if (parse_param(k, (size_t)(kend - k), v, (size_t)(s->p - v),
				eq != NULL, prm, &seen, e) < 0)
			return -1;
	}
	return 0;
}

/* "FROM:" / "TO:", with the spaces some clients put after the colon. */
static bool
skip_keyword(struct scan *s, const char *kw)
{
	size_t kl = strlen(kw);

	if ((size_t)(s->end - s->p) < kl || !util_is_ieq(s->p, kl, kw))
		return false;
	s->p += kl;
	while (s->p < s->end && *s->p == ' ')
		s->p++;
	return true;
}

int
smtp_parse_mail(const char *arg, size_t len, struct smtp_parse_path *p,
		struct smtp_parse_params *prm, struct smtp_parse_err *e)
{
	struct scan s = { arg, arg + len, true, false };

	memset(prm, 0, sizeof(*prm));
	if (!skip_keyword(&s, "FROM:"))
		return err(e, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
	/* UTF-8 is scanned always; SMTPUTF8 decides below if it may stay. */
	if (parse_path(&s, true, false, p, e) < 0)
		return -1;
	if (parse_params(&s, prm, e) < 0)
		return -1;
	if (p->non_ascii && !prm->smtputf8)
		return err(e, 553, "5.6.7", "Non-ASCII sender needs SMTPUTF8");
	return 0;
}

int
smtp_parse_rcpt(const char *arg, size_t len, bool utf8,
		struct smtp_parse_path *p, struct smtp_parse_err *e)
{
	struct scan s = { arg, arg + len, true, false };

	if (!skip_keyword(&s, "TO:"))
		return err(e, 501, "5.5.4", "Syntax: RCPT TO:<address>");
	if (parse_path(&s, false, true, p, e) < 0)
		return -1;
	while (s.p < s.end && *s.p == ' ')
		s.p++;
	if (s.p < s.end)
		return err(e, 555, "5.5.4", "Unsupported RCPT parameter");
	if (p->non_ascii && !utf8)
		return err(e, 553, "5.6.7",
			   "Non-ASCII recipient needs SMTPUTF8");
	return 0;
}

int
smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r, bool *last_r,
		struct smtp_parse_err *e)
{
	size_t n = 0;

	while (n < len && arg[n] >= '0' && arg[n] <= '9')
		n++;
	if (n == 0 || util_parse_u64(arg, n, UINT64_MAX, size_r) < 0)
		return err(e, 501, "5.5.4", "Syntax: BDAT size [LAST]");
	*last_r = false;
	if (n == len)
		return 0;
	if (arg[n] == ' ' && util_is_ieq(arg + n + 1, len - n - 1, "LAST")) {
		*last_r = true;
		return 0;
	}
	return err(e, 501, "5.5.4", "Syntax: BDAT size [LAST]");
}
