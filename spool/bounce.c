#include "spool/bounce.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

/* RFC 5322 2.1.1: lines SHOULD stay within 78 octets; fold before. */
#define FOLD_AT 76
/* A folded value may be followed by a tail of up to 2 octets (">"). */
#define FOLD_HARD (BOUNCE_LINE_MAX - 2)
#define ID_MAX 25 /* the queue id as used in Message-ID and boundary */
#define DIGITS "0123456789"

/* A value made safe (see bounce.h): printable US-ASCII, NUL-terminated. */
struct val {
	char s[BOUNCE_VALUE_MAX + 1];
	size_t len;
};

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

/* Appends n octets when they fit, keeping room for the "..." of a cut. */
static bool
val_add(struct val *v, const char *p, size_t n)
{
	if (v->len + n > BOUNCE_VALUE_MAX - 3)
		return false;
	memcpy(v->s + v->len, p, n);
	v->len += n;
	v->s[v->len] = '\0';
	return true;
}

/* One UTF-8 character (RFC 3629 4: no overlong form, no surrogate); its
 * length, or 0 when s does not start with a well-formed one. */
static size_t
u8_decode(const unsigned char *s, size_t n, uint32_t *cp_r)
{
	static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3
		   : s[0] >= 0xc0 ? 2 : 0;
	uint32_t cp = s[0] & (0x7fu >> (len > 1 ? len : 0));

	if (len == 0 || len > n || s[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

/*
 * The EmbeddedUnicodeChar (RFC 6533 3) for the character at s. Controls
 * get U+FFFD: HEXPOINT has no form for CR or LF, and nobody needs them.
 */
static size_t
esc_char(char *tok, size_t size, const unsigned char *s, size_t n,
	 size_t *used_r)
{
	uint32_t cp = 0xfffd;
	size_t len = u8_decode(s, n, &cp);
	int k;

	if (len == 0 || cp < 0x20 || cp == 0x7f) {
		cp = 0xfffd;
		len = 1;
	}
	*used_r = len;
	k = snprintf(tok, size, "\\x{%X}", (unsigned)cp);
	return k > 0 ? (size_t)k : 0;
}

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 6533 3: QCHAR is printable US-ASCII but for "+", "=" and "\". */
static bool
is_kept(unsigned char c, bool xtext)
{
	return c > ' ' && c < 0x7f &&
	       !(xtext && (c == '+' || c == '=' || c == '\\'));
}

/*
 * Text mode collapses white space into single spaces; xtext mode
 * (utf-8-addr-xtext) escapes the space like any other non-QCHAR.
 */
static void
val_escape(struct val *v, const char *p, size_t n, bool xtext)
{
	const unsigned char *s = (const unsigned char *)p;
	bool space = false;

	v->len = 0;
	v->s[0] = '\0';
	while (n > 0) {
		char tok[16];
		size_t tlen = 1, used = 1;

		if (!xtext && is_wsp(*s)) {
			space = v->len > 0;
			s++, n--;
			continue;
		}
		if (is_kept(*s, xtext))
			tok[0] = (char)*s;
		else
			tlen = esc_char(tok, sizeof(tok), s, n, &used);
		if ((space && !val_add(v, " ", 1)) || !val_add(v, tok, tlen)) {
			memcpy(v->s + v->len, "...", 4);
			v->len += 3;
			return;
		}
		space = false;
		s += used, n -= used;
	}
}

static void
val_text(struct val *v, const char *s)
{
	val_escape(v, nz(s), strlen(nz(s)), false);
}

/* Our own identifiers (boundary, Message-ID) take only letters, digits. */
static void
id_clean(char *dst, size_t size, const char *s)
{
	size_t n = 0;

	for (s = nz(s); *s != '\0' && n + 1 < size; s++)
		if ((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= 'a' && *s <= 'z'))
			dst[n++] = *s;
	dst[n] = '\0';
}

/* "4 hours 10 minutes": the two largest units of secs. */
static void
fmt_span(char *dst, size_t size, long long secs)
{
	static const struct {
		long long len;
		const char *name;
	} u[] = { { 86400, "day" }, { 3600, "hour" }, { 60, "minute" } };
	size_t i = 0;
	long long a, b;

	if (secs < 0)
		secs = 0;
	while (i < 2 && secs < u[i].len)
		i++;
	a = secs / u[i].len;
	b = i < 2 ? secs % u[i].len / u[i + 1].len : 0;
	if (b == 0)
		snprintf(dst, size, "%lld %s%s", a, u[i].name, a == 1 ? "" : "s");
	else
		snprintf(dst, size, "%lld %s%s %lld %s%s", a, u[i].name,
			 a == 1 ? "" : "s", b, u[i + 1].name, b == 1 ? "" : "s");
}

/* RFC 3463 2: class "." subject "." detail, of 1-3 digits each. */
static bool
status_ok(const char *s)
{
	size_t d1, d2;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	d1 = strspn(s + 2, DIGITS);
	if (d1 < 1 || d1 > 3 || s[2 + d1] != '.')
		return false;
	d2 = strspn(s + 3 + d1, DIGITS);
	return d2 >= 1 && d2 <= 3 && s[3 + d1 + d2] == '\0';
}

static int
put_break(struct buf *out, const char *indent)
{
	return buf_printf(out, "\r\n%s", indent);
}

/*
 * Writes s (single spaces between words, no CR or LF) from column col,
 * breaking before a word that would pass FOLD_AT and going on after
 * indent; a word too long for any line is cut at FOLD_HARD. No CRLF at
 * the end: the caller may add a short tail first.
 */
static int
put_folded(struct buf *out, size_t col, const char *s, size_t len,
	   const char *indent)
{
	size_t ilen = strlen(indent);
	bool first = true;

	while (len > 0) {
		size_t w = strcspn(s, " ");

		if (w > len)
			w = len;
		if (!first && col + 1 + w <= FOLD_AT) {
			if (buf_append(out, " ", 1) < 0)
				return -1;
			col++;
		} else if (!first) {
			if (put_break(out, indent) < 0)
				return -1;
			col = ilen;
		}
		first = false;
		while (col + w > FOLD_HARD) {
			size_t k = FOLD_HARD - col;
			if (buf_append(out, s, k) < 0 || put_break(out, indent) < 0)
				return -1;
			s += k, len -= k, w -= k;
			col = ilen;
		}
		if (buf_append(out, s, w) < 0)
			return -1;
		col += w;
		s += w, len -= w;
		if (len > 0)
			s++, len--;
	}
	return 0;
}

/* A header or report field: head, the value folded, tail, CRLF. */
static int
put_field(struct buf *out, const char *head, const struct val *v,
	  const char *tail)
{
	size_t hl = strlen(head);

	if (buf_append(out, head, hl) < 0 ||
	    put_folded(out, hl, v->s, v->len, " ") < 0)
		return -1;
	return buf_printf(out, "%s\r\n", tail);
}

/* A paragraph of the text part, and the empty line after it. */
static int
put_para(struct buf *out, const char *s, int len)
{
	if (len < 0 || put_folded(out, 0, s, (size_t)len, "") < 0)
		return -1;
	return buf_append(out, "\r\n\r\n", 4);
}

static int
put_date(struct buf *out, const char *name, time_t t)
{
	char date[64];

	util_rfc5322_date(date, sizeof(date), t);
	return buf_printf(out, "%s: %s\r\n", name, date);
}

static int
put_header(struct buf *out, const struct bounce_info *bi, const char *bnd)
{
	struct val v;
	char id[ID_MAX];

	id_clean(id, sizeof(id), bi->qid);
	val_text(&v, bi->from);
	if (put_date(out, "Date", bi->now) < 0 ||
	    put_field(out, "From: Mail Delivery System <", &v, ">") < 0)
		return -1;
	val_text(&v, bi->to);
	if (put_field(out, "To: <", &v, ">") < 0)
		return -1;
	val_text(&v, bi->reporting_mta);
	/* RFC 3834 5.2: "auto-replied" MAY label a DSN, as an answer to one
	 * message; "auto-generated" MUST NOT. */
	return buf_printf(out,
			  "Subject: %s\r\n"
			  "Message-ID: <%s.%lld.%s@%.255s>\r\n"
			  "Auto-Submitted: auto-replied\r\n"
			  "MIME-Version: 1.0\r\n"
			  "Content-Type: multipart/report; "
			  "report-type=delivery-status;\r\n"
			  "\tboundary=\"%s\"\r\n"
			  "\r\n"
			  "This is a MIME-encapsulated message.\r\n"
			  "\r\n"
			  "--%s\r\n",
			  bi->delayed ? "Delayed Mail (still being retried)"
				      : "Undelivered Mail Returned to Sender",
			  id, (long long)bi->now,
			  bi->delayed ? "delay" : "bounce", v.s, bnd, bnd);
}

static int
put_intro(struct buf *out, const struct bounce_info *bi)
{
	char para[BOUNCE_VALUE_MAX + 256], span[64], until[80] = "";
	struct val host;

	val_text(&host, bi->reporting_mta);
	if (put_para(out, para, snprintf(para, sizeof(para),
			 "This is the mail system at host %s.", host.s)) < 0)
		return -1;
	if (!bi->delayed)
		return put_para(out, para, snprintf(para, sizeof(para),
			"Your message could not be delivered to one or more "
			"recipients, for the reasons below. The delivery "
			"report and the header of your message are attached."));
	fmt_span(span, sizeof(span), (long long)(bi->now - bi->arrival));
	if (bi->retry_until != 0) {
		memcpy(until, " until ", 7);
		util_rfc5322_date(until + 7, sizeof(until) - 7, bi->retry_until);
	}
	return put_para(out, para, snprintf(para, sizeof(para),
			"Your message has been in the queue for %s and could "
			"not be delivered yet to the recipients below. The mail "
			"system will keep trying%s; you do not need to send it "
			"again.", span, until));
}

/* "<addr> (originally <orig>): host H said:", then the reason indented. */
static int
put_note_rcpt(struct buf *out, const struct bounce_rcpt *r)
{
	char line[3 * BOUNCE_VALUE_MAX + 64];
	struct val a, o, h, d;
	bool said;
	int k;

	val_text(&a, r->addr);
	val_text(&o, r->orig);
	val_text(&h, r->remote_mta);
	said = r->diag_remote && h.len > 0;
	val_escape(&d, nz(r->diag), r->diag != NULL ? r->diaglen : 0, false);
	if (d.len == 0)
		val_text(&d, "(the mail system gave no reason)");
	k = snprintf(line, sizeof(line), "<%s>%s%s%s:%s%s%s", a.s,
		     o.len ? " (originally <" : "", o.s, o.len ? ">)" : "",
		     said ? " host " : "", said ? h.s : "",
		     said ? " said:" : "");
	if (k < 0 || put_folded(out, 0, line, (size_t)k, "    ") < 0 ||
	    put_break(out, "    ") < 0 ||
	    put_folded(out, 4, d.s, d.len, "    ") < 0)
		return -1;
	return buf_append(out, "\r\n\r\n", 4);
}

static int
put_note(struct buf *out, const struct bounce_info *bi,
	 const struct bounce_rcpt *r, unsigned n)
{
	if (buf_printf(out, "Content-Description: Notification\r\n"
			    "Content-Type: text/plain; charset=us-ascii\r\n"
			    "\r\n") < 0 ||
	    put_intro(out, bi) < 0)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (put_note_rcpt(out, &r[i]) < 0)
			return -1;
	return 0;
}

/* RFC 3464 2.3.1, 2.3.2: address-type ";" generic-address. */
static int
put_addr(struct buf *out, const char *name, const char *addr)
{
	char head[64];
	struct val v;
	bool ascii = true;

	for (const char *p = nz(addr); *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			ascii = false;
	val_escape(&v, nz(addr), strlen(nz(addr)), !ascii);
	snprintf(head, sizeof(head), "%s: %s; ", name,
		 ascii ? "rfc822" : "utf-8");
	return put_field(out, head, &v, "");
}

/* RFC 3464 2.3: one per-recipient block, fields in the grammar's order. */
static int
put_report_rcpt(struct buf *out, const struct bounce_info *bi,
		const struct bounce_rcpt *r)
{
	const char *st = r->status;
	const char *dtype = r->diag_remote ? "Diagnostic-Code: smtp; "
					   : "Diagnostic-Code: X-Vdmail; ";
	struct val v;

	if (!status_ok(st))
		st = bi->delayed ? "4.0.0" : "5.0.0";
	if ((nz(r->orig)[0] != '\0' &&
	     put_addr(out, "Original-Recipient", r->orig) < 0) ||
	    put_addr(out, "Final-Recipient", r->addr) < 0 ||
	    buf_printf(out, "Action: %s\r\nStatus: %s\r\n",
		       bi->delayed ? "delayed" : "failed", st) < 0)
		return -1;
	val_text(&v, r->remote_mta);
	if (v.len > 0 && put_field(out, "Remote-MTA: dns; ", &v, "") < 0)
		return -1;
	val_escape(&v, nz(r->diag), r->diag != NULL ? r->diaglen : 0, false);
	/* RFC 3464 2.3.6: "smtp" for an SMTP reply; X- types are private. */
	if (v.len > 0 && put_field(out, dtype, &v, "") < 0)
		return -1;
	if (r->last_attempt != 0 &&
	    put_date(out, "Last-Attempt-Date", r->last_attempt) < 0)
		return -1;
	if (bi->delayed && bi->retry_until != 0 &&
	    put_date(out, "Will-Retry-Until", bi->retry_until) < 0)
		return -1;
	return 0;
}

/* RFC 3464 2.1: per-message fields, then one block per recipient. */
static int
put_report(struct buf *out, const struct bounce_info *bi,
	   const struct bounce_rcpt *r, unsigned n)
{
	struct val v;

	val_text(&v, bi->reporting_mta);
	if (buf_printf(out, "Content-Description: Delivery report\r\n"
			    "Content-Type: message/delivery-status\r\n"
			    "\r\n") < 0 ||
	    put_field(out, "Reporting-MTA: dns; ", &v, "") < 0)
		return -1;
	val_text(&v, bi->qid);
	if (put_field(out, "X-Vdmail-Queue-ID: ", &v, "") < 0 ||
	    (bi->arrival != 0 && put_date(out, "Arrival-Date", bi->arrival) < 0))
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (buf_append(out, "\r\n", 2) < 0 ||
		    put_report_rcpt(out, bi, &r[i]) < 0)
			return -1;
	return 0;
}

/*
 * The line of p[0..len) at off: *l_r octets without its LF and a CR just
 * before it. Returns where the next line starts.
 */
static size_t
line_at(const char *p, size_t len, size_t off, size_t *l_r)
{
	const char *lf = memchr(p + off, '\n', len - off);
	size_t end = lf != NULL ? (size_t)(lf - p) : len;

	*l_r = end - off;
	if (lf != NULL && *l_r > 0 && p[end - 1] == '\r')
		(*l_r)--;
	return lf != NULL ? end + 1 : len;
}

/*
 * How much of orig is copied: its header (RFC 5322 2.1: up to the first
 * empty line), within max octets as written by put_orig.
 */
static size_t
orig_cut(const char *orig, size_t len, size_t max)
{
	size_t off = 0, fit = 0, field = 0, size = 0, l;

	while (off < len) {
		size_t next = line_at(orig, len, off, &l);

		if (l == 0)
			break;
		if (orig[off] != ' ' && orig[off] != '\t')
			field = off;
		size += (l < BOUNCE_LINE_MAX ? l : BOUNCE_LINE_MAX) + 2;
		if (size > max)
			return field > 0 ? field : fit;
		fit = off = next;
	}
	return fit;
}

static int
put_orig(struct buf *out, const char *orig, size_t cut)
{
	size_t off = 0, l;

	if (buf_printf(out, "Content-Description: Undelivered Message Headers\r\n"
			    "Content-Type: text/rfc822-headers\r\n"
			    "\r\n") < 0)
		return -1;
	while (off < cut) {
		size_t next = line_at(orig, cut, off, &l);
		size_t n = l < BOUNCE_LINE_MAX ? l : BOUNCE_LINE_MAX;
		char *p;

		if (buf_reserve(out, n + 2) < 0)
			return -1;
		p = buf_data(out) + buf_len(out);
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)orig[off + i];
			p[i] = (c >= 0x20 && c < 0x7f) || c == '\t' ? (char)c : '?';
		}
		memcpy(p + n, "\r\n", 2);
		buf_commit(out, n + 2);
		off = next;
	}
	return 0;
}

/* struct buf has no truncate; its fields are public, len among them. */
static void
truncate_to(struct buf *out, size_t len)
{
	out->len = len;
}

static int
put_message(struct buf *out, const struct bounce_info *bi,
	    const struct bounce_rcpt *r, unsigned n, const char *orig,
	    size_t cut, const char *bnd)
{
	/* The note ends in an empty line: its CRLF starts the delimiter. */
	if (put_header(out, bi, bnd) < 0 || put_note(out, bi, r, n) < 0 ||
	    buf_printf(out, "--%s\r\n", bnd) < 0 ||
	    put_report(out, bi, r, n) < 0 ||
	    buf_printf(out, "\r\n--%s\r\n", bnd) < 0 ||
	    put_orig(out, orig, cut) < 0)
		return -1;
	return buf_printf(out, "\r\n--%s--\r\n", bnd);
}

/* Lines of p[0..len) that start with "--" bnd. */
static unsigned
count_delims(const char *p, size_t len, const char *bnd)
{
	size_t blen = strlen(bnd), off = 0, l;
	unsigned n = 0;

	while (off < len) {
		size_t next = line_at(p, len, off, &l);

		if (l >= blen + 2 && p[off] == '-' && p[off + 1] == '-' &&
		    memcmp(p + off + 2, bnd, blen) == 0)
			n++;
		off = next;
	}
	return n;
}

int
bounce_format(struct buf *out, const struct bounce_info *bi,
	      const struct bounce_rcpt *r, unsigned n, const char *orig,
	      size_t origlen, size_t max_headers)
{
	size_t start = buf_len(out);
	size_t cut = orig != NULL ? orig_cut(orig, origlen, max_headers) : 0;
	char bnd[80], id[ID_MAX];

	if (n == 0)
		return -1;
	id_clean(id, sizeof(id), bi->qid);
	/*
	 * RFC 2046 5.1.1: no line of a part may start with "--" and the
	 * boundary. Only the four delimiters change with k, and a line of
	 * the parts blocks at most one k, so this ends.
	 */
	for (unsigned k = 0;; k++) {
		snprintf(bnd, sizeof(bnd), "%s.%lld.%u/vdmail", id,
			 (long long)bi->now, k);
		if (put_message(out, bi, r, n, orig, cut, bnd) < 0) {
			truncate_to(out, start);
			return -1;
		}
		if (count_delims(buf_data(out) + start, buf_len(out) - start,
				 bnd) == 4)
			return 0;
		truncate_to(out, start);
	}
}
