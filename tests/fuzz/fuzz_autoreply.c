/*
 * libFuzzer target: the autoreply answer (spool/autoreply.h).
 * Input: a flags byte, a time byte, then NUL-separated fields sender,
 * rcpt, replysubject, replytext, replyinternal, vacstart, vacend, and the
 * rest is the original header (any octets). Missing fields are "".
 * Checked:
 *  - autoreply_wanted: 0 or 1, why "" exactly when 1, else one of the
 *    documented tokens; a short why buffer stays terminated; the same
 *    answer twice;
 *  - autoreply_format into a buffer of the documented bound (after a
 *    prefix) succeeds; the answer is 7-bit, no NUL, CRLF lines of at most
 *    998 octets; its header (up to the first empty line) starts with a
 *    field, every line is a "Name:" field or a continuation that holds
 *    more than blanks; Date, From, To, Subject, Message-ID, MIME-Version,
 *    Content-Type, Content-Transfer-Encoding, Precedence once each,
 *    exactly one "Auto-Submitted: auto-replied" line, In-Reply-To and
 *    References together at most once; every encoded-word of the Subject
 *    is at most 75 characters and decodes to whole UTF-8 characters;
 *  - the body, decoded by its Content-Transfer-Encoding (quoted-printable
 *    lines at most 76), is the text sent with its line ends made CRLF,
 *    then in echo mode an empty line and "> " lines within the echo cap;
 *  - the answer fed back as the header of a message that was wanted is
 *    refused as auto_submitted (no loop between two responders);
 *  - a buffer one octet (or more) short: -1, the buffer left as it was;
 *    or (the time byte's low bit picks) the same answer a second time;
 *  - autoreply_parse_gentime on short slices: -1 or >= 0, and for
 *    YYYYMMDD[HH[MM[SS]]][Z] the value timegm gives (-1: no such date).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FUZZ_MAIL_WHAT "autoreply"
#include "tests/fuzz/fuzz_mail.h"
#include "core/buf.h"
#include "core/util.h"
#include "spool/autoreply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "X-Prefix: kept\r\n"

static const char *const tokens[] = { "no_text", "bad_user_addr", "bad_date",
	"outside_vacation", "null_sender", "bad_sender", "self", "daemon",
	"list", "noreply", "auto_submitted", "bulk", "suppressed",
	"not_addressed", NULL };

/* The well-formed UTF-8 (RFC 3629) check, whole characters only. */
static bool
utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2
			 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
		if (k == 0 || k > n - i)
			return false;
		for (size_t j = 1; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		if ((c == 0xe0 && s[i + 1] < 0xa0) ||
		    (c == 0xed && s[i + 1] > 0x9f) ||
		    (c == 0xf0 && s[i + 1] < 0x90) ||
		    (c == 0xf4 && s[i + 1] > 0x8f))
			return false;
		i += k;
	}
	return true;
}

/* Each encoded-word of the Subject (unfolded value v). */
static void
check_words(const char *v, size_t n, const char *all, size_t alln)
{
	static const char open[] = "=?UTF-8?B?";
	const char *p = v, *end = v + n;

	while ((p = memmem(p, (size_t)(end - p), open, 10)) != NULL) {
		const char *q = memmem(p + 10, (size_t)(end - p - 10), "?=", 2);
		unsigned char dec[128];
		long k;

		if (q == NULL || q + 2 - p > 75)
			fail("encoded-word unterminated or too long", all, alln);
		k = util_b64_decode(p + 10, (size_t)(q - p - 10), dec,
				    sizeof(dec));
		if (k <= 0 || !utf8_ok(dec, (size_t)k))
			fail("encoded-word not whole UTF-8", all, alln);
		p = q + 2;
	}
}

struct hdr {
	const char *name;
	unsigned n;
};

/* The answer's header: fields, continuations, counts. */
static void
check_header(const char *p, size_t n, bool words)
{
	struct hdr h[] = { { "Date", 0 }, { "From", 0 }, { "To", 0 },
		{ "Subject", 0 }, { "Message-ID", 0 }, { "MIME-Version", 0 },
		{ "Content-Type", 0 }, { "Content-Transfer-Encoding", 0 },
		{ "Precedence", 0 }, { "Auto-Submitted", 0 },
		{ "In-Reply-To", 0 }, { "References", 0 } };
	unsigned autoreplied = 0;
	char subj[8192];
	size_t slen = 0;
	bool in_subject = false;

	for (size_t off = 0; off < n;) {
		const char *l = p + off;
		size_t ll = (size_t)((const char *)memchr(l, '\r', n - off) - l);

		if (is_wsp(l[0])) {
			size_t k = 0;
			if (off == 0)
				fail("header starts with a continuation", p, n);
			while (k < ll && is_wsp(l[k]))
				k++;
			if (k == ll)
				fail("blank continuation line", p, n);
		} else {
			const char *colon = memchr(l, ':', ll);
			if (colon == NULL || colon == l)
				fail("header line is no field", p, n);
			for (const char *c = l; c < colon; c++)
				if (*c <= ' ' || *c >= 0x7f)
					fail("bad field name", p, n);
			size_t nl = (size_t)(colon - l);
			for (size_t i = 0; i < UTIL_ARRAY_LEN(h); i++)
				if (util_is_ieq(l, nl, h[i].name))
					h[i].n++;
			if (ll == strlen("Auto-Submitted: auto-replied") &&
			    memcmp(l, "Auto-Submitted: auto-replied", ll) == 0)
				autoreplied++;
			in_subject = util_is_ieq(l, nl, "Subject");
			if (in_subject) {
				l = colon + 1;
				ll -= nl + 1;
			}
		}
		if (in_subject && slen + ll < sizeof(subj)) {
			memcpy(subj + slen, l, ll);
			slen += ll;
		}
		off = (size_t)(l - p) + ll + 2;
	}
	for (size_t i = 0; i < 10; i++)
		if (h[i].n != 1) {
			fprintf(stderr, "field %s: %u times\n", h[i].name,
				h[i].n);
			fail("a field not exactly once", p, n);
		}
	if (autoreplied != 1)
		fail("not one Auto-Submitted: auto-replied", p, n);
	if (h[10].n > 1 || h[10].n != h[11].n)
		fail("In-Reply-To and References", p, n);
	if (words)
		check_words(subj, slen, p, n);
}

/* text with every LF, CR or CRLF made CRLF, the last line ended too. */
static size_t
norm_text(char *dst, const char *t)
{
	size_t o = 0;

	while (*t != '\0') {
		size_t k = strcspn(t, "\r\n");
		memcpy(dst + o, t, k);
		o += k;
		memcpy(dst + o, "\r\n", 2);
		o += 2;
		t += k;
		if (t[0] == '\r' && t[1] == '\n')
			t++;
		if (*t != '\0')
			t++;
	}
	return o;
}

/* Quoted-printable (RFC 2045 6.7) back to octets; lines at most 76. */
static size_t
qp_decode(char *dst, const char *p, size_t n, const char *all, size_t alln)
{
	size_t o = 0, col = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			if (col > 76)
				fail("QP line over 76", all, alln);
			dst[o++] = '\r';
			dst[o++] = '\n';
			i++, col = 0;
		} else if (p[i] == '=' && i + 2 < n && p[i + 1] == '\r') {
			if (col + 1 > 76)
				fail("QP line over 76", all, alln);
			i += 2, col = 0;
		} else if (p[i] == '=') {
			int a = i + 2 < n ? util_hexval(p[i + 1]) : -1;
			int b = i + 2 < n ? util_hexval(p[i + 2]) : -1;
			if (a < 0 || b < 0 || (p[i + 1] >= 'a' && p[i + 1] <= 'f') ||
			    (p[i + 2] >= 'a' && p[i + 2] <= 'f'))
				fail("bad QP escape", all, alln);
			dst[o++] = (char)(a << 4 | b);
			i += 2, col += 3;
		} else {
			if (p[i] == '\t' || p[i] == ' ') {
				if (i + 1 < n && p[i + 1] == '\r')
					fail("QP blank at a line end", all, alln);
			} else if (p[i] < '!' || p[i] > '~')
				fail("QP literal out of range", all, alln);
			dst[o++] = p[i];
			col++;
		}
	}
	return o;
}

static void
check_body(const char *hdr, size_t hlen, const char *body, size_t blen,
	   const char *text, bool echo, const char *all, size_t alln)
{
	/* Whole lines (a Subject continuation may hold the same words). */
	static const char cte_qp[] =
		"\r\nContent-Transfer-Encoding: quoted-printable\r\n";
	static const char cte_7[] = "\r\nContent-Transfer-Encoding: 7bit\r\n";
	static const char ct_utf8[] =
		"\r\nContent-Type: text/plain; charset=utf-8\r\n";
	bool qp = memmem(hdr, hlen, cte_qp, sizeof(cte_qp) - 1) != NULL;
	bool sevenbit = memmem(hdr, hlen, cte_7, sizeof(cte_7) - 1) != NULL;
	char *dec = malloc(blen + 1), *want = malloc(2 * strlen(text) + 3);
	size_t dlen, wlen = norm_text(want, text);
	bool eight = false;

	if (qp == sevenbit)
		fail("no single Content-Transfer-Encoding", all, alln);
	dlen = qp ? qp_decode(dec, body, blen, all, alln) : blen;
	if (!qp)
		memcpy(dec, body, blen);
	for (size_t i = 0; i < dlen; i++)
		eight |= (unsigned char)dec[i] >= 0x80;
	if (eight != (memmem(hdr, hlen, ct_utf8, sizeof(ct_utf8) - 1) != NULL))
		fail("charset does not say the body's octets", all, alln);
	if (dlen < wlen || memcmp(dec, want, wlen) != 0)
		fail("body is not the text", all, alln);
	if (!echo) {
		if (dlen != wlen)
			fail("body has more than the text", all, alln);
	} else {
		size_t off = wlen, used = 0;
		if (dlen - off < 2 || memcmp(dec + off, "\r\n", 2) != 0)
			fail("echo without its empty line", all, alln);
		for (off += 2; off < dlen;) {
			const char *lf = memchr(dec + off, '\n', dlen - off);
			size_t ll = (size_t)(lf - (dec + off)) + 1;
			if (ll < 4 || dec[off] != '>' || dec[off + 1] != ' ')
				fail("echo line not quoted", all, alln);
			/* The cut's "> [...]" is the last line, not counted
			 * (a header line "[...]" reads the same, counted). */
			if (!(off + ll == dlen && ll == 9 &&
			      memcmp(dec + off, "> [...]\r\n", 9) == 0))
				used += ll;
			off += ll;
		}
		if (used > AUTOREPLY_ECHO_MAX)
			fail("echo over its cap", all, alln);
	}
	free(dec);
	free(want);
}

/* The text autoreply_format sends (autoreply.h: text_internal for a
 * sender of user_addr's domain when set). */
static const char *
sent_text(const struct autoreply_in *in)
{
	const char *a = strrchr(in->sender, '@'), *b = strrchr(in->user_addr, '@');

	if (in->text_internal[0] != '\0' && a != NULL && a[1] != '\0' &&
	    strcasecmp(a + 1, b != NULL ? b + 1 : "") == 0)
		return in->text_internal;
	return in->text;
}

static void
check_wanted(const struct autoreply_in *in, int *rc_r)
{
	char why[32], shortwhy[4];
	int rc = autoreply_wanted(in, why, sizeof(why));
	bool known = false;

	if (rc != 0 && rc != 1)
		abort();
	for (size_t i = 0; tokens[i] != NULL; i++)
		known |= strcmp(why, tokens[i]) == 0;
	if (rc == 1 ? why[0] != '\0' : !known)
		abort();
	memset(shortwhy, 'x', sizeof(shortwhy));
	if (autoreply_wanted(in, shortwhy, sizeof(shortwhy)) != rc ||
	    memchr(shortwhy, '\0', sizeof(shortwhy)) == NULL ||
	    strncmp(shortwhy, why, sizeof(shortwhy) - 1) != 0)
		abort();
	if (autoreply_wanted(in, NULL, 0) != rc)
		abort();
	*rc_r = rc;
}

static void
check_format(const struct autoreply_in *in, bool echo, int wanted,
	     unsigned cut)
{
	size_t t = strlen(sent_text(in)), plen = strlen(PREFIX);
	struct buf b, s;
	const char *o, *eoh;
	size_t n, hlen;

	buf_init(&b, plen + 4 * (2 * t + AUTOREPLY_ECHO_MAX) + 8192);
	if (buf_append(&b, PREFIX, plen) < 0)
		abort();
	if (autoreply_format(&b, in) != 0)
		abort(); /* the documented room always suffices */
	if (memcmp(buf_data(&b), PREFIX, plen) != 0)
		abort();
	o = buf_data(&b) + plen;
	n = buf_len(&b) - plen;
	check_lines(o, n, AUTOREPLY_LINE_MAX);
	eoh = memmem(o, n, "\r\n\r\n", 4);
	if (eoh == NULL)
		fail("no empty line", o, n);
	hlen = (size_t)(eoh - o) + 2;
	/* Encoded-words of the original (or of replysubject) stay as they
	 * are, valid or not: the words are checked when there are none. */
	check_header(o, hlen, memmem(in->header, in->headerlen, "=?", 2) ==
				      NULL && strstr(in->subject, "=?") == NULL);
	check_body(o, hlen, eoh + 4, n - hlen - 2, sent_text(in), echo, o, n);

	/* Our answer as the header of a message: never answered. */
	if (wanted) {
		struct autoreply_in back = *in;
		char why[32];
		back.header = o;
		back.headerlen = hlen;
		if (autoreply_wanted(&back, why, sizeof(why)) != 0 ||
		    strcmp(why, "auto_submitted") != 0)
			fail("would answer its own answer", o, n);
	}

	/* One of two more runs (each input picks; a third costs time):
	 * short of room, -1 and the buffer as it was; or pure, the same
	 * answer again in exactly the room it needs. */
	if (cut & 1) {
		size_t less = 1 + cut / 2 % (n < 64 ? n : 64);
		buf_init(&s, plen + n - less);
		if (buf_append(&s, PREFIX, plen) < 0)
			abort();
		if (autoreply_format(&s, in) != -1 || buf_len(&s) != plen ||
		    memcmp(buf_data(&s), PREFIX, plen) != 0)
			abort();
	} else {
		buf_init(&s, n);
		if (autoreply_format(&s, in) != 0 || buf_len(&s) != n ||
		    memcmp(buf_data(&s), o, n) != 0)
			abort();
	}
	buf_free(&s);
	buf_free(&b);
}

/* A gentime check on s (NUL-terminated). */
static void
check_gentime(const char *s)
{
	time_t v = autoreply_parse_gentime(s);
	size_t nd = strspn(s, "0123456789"), len = strlen(s);
	int f[6] = { 0, 0, 0, 0, 0, 0 };

	if (v < -1)
		abort();
	/* YYYYMMDD[HH[MM[SS]]][Z] against timegm: the date exists (a
	 * missing part is 0) or it is -1. */
	if (nd < 8 || nd > 14 || nd % 2 != 0 ||
	    !(len == nd || (len == nd + 1 && s[nd] == 'Z')))
		return;
	for (size_t i = 0; i < nd / 2 - 1; i++)
		f[i] = i == 0 ? (s[0] - '0') * 1000 + (s[1] - '0') * 100 +
					(s[2] - '0') * 10 + (s[3] - '0')
			      : (s[2 * i + 2] - '0') * 10 + (s[2 * i + 3] - '0');
	struct tm tm = { .tm_year = f[0] - 1900, .tm_mon = f[1] - 1,
			 .tm_mday = f[2], .tm_hour = f[3], .tm_min = f[4],
			 .tm_sec = f[5] == 60 ? 59 : f[5] };
	time_t want = timegm(&tm);
	bool real = f[0] >= 1970 && f[5] <= 60 && tm.tm_year == f[0] - 1900 &&
		    tm.tm_mon == f[1] - 1 && tm.tm_mday == f[2] &&
		    tm.tm_hour == f[3] && tm.tm_min == f[4] &&
		    tm.tm_sec == (f[5] == 60 ? 59 : f[5]);
	if (real && f[5] == 60)
		want++;
	if (v != (real ? want : -1)) {
		fprintf(stderr, "gentime %s: %lld, want %lld\n", s,
			(long long)v, (long long)(real ? want : -1));
		abort();
	}
}

static void
gentime_slice(const char *p, size_t n)
{
	char s[32];

	if (n > sizeof(s) - 1)
		n = sizeof(s) - 1;
	memcpy(s, p, n);
	s[n] = '\0';
	check_gentime(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const modes[] = { "reply", "echo", "ECHO", "" };
	static const time_t times[] = { 1795363222, 0, 1, 2000000000,
					-1, 253402300799 };
	static const char *const addrs[] = { "alias@example.org",
					     "U.Ser@Example.NET" };
	const char *f[7] = { "", "", "", "", "", "", "" };
	char *copy;
	size_t off = 2, nf = 0;
	int wanted;

	if (size < 2 || size > 65536)
		return 0;
	copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	while (nf < 7 && off < size) {
		size_t k = strlen(copy + off);
		if (off + k >= size)
			break; /* no NUL: it is the header */
		f[nf++] = copy + off;
		off += k + 1;
	}
	unsigned fl = data[0], tb = data[1];
	struct autoreply_in in = {
		.header = copy + off,
		.headerlen = size - off,
		.sender = f[0],
		.rcpt = f[1],
		.user_addr = fl & 1 ? f[1] : "user@example.org",
		.addrs = fl & 2 ? addrs : NULL,
		.naddrs = fl & 2 ? 2 : 0,
		.mode = modes[fl >> 2 & 3],
		.subject = f[2],
		.text = f[3],
		.text_internal = f[4],
		.vacstart = f[5],
		.vacend = f[6],
		.now = tb < 6 ? times[tb] : times[0] + (time_t)(tb - 128) * 86400,
		.hostname = fl & 16 ? "mx.example.org" : f[1],
		.qid = fl & 32 ? "000660DF931DEBFF" : f[2],
	};

	bool echo = (fl >> 2 & 3) == 1 || (fl >> 2 & 3) == 2;

	check_wanted(&in, &wanted);
	check_format(&in, echo, wanted, tb);
	check_gentime(f[5]);
	check_gentime(f[6]);
	gentime_slice(in.header, in.headerlen);
	free(copy);
	return 0;
}
