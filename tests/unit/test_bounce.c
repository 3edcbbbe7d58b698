/* bounce: the DSN text, checked line by line, part by part, and by
 * Python's email package. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "spool/bounce.h"
#include "tests/unit/t.h"
#include "tests/unit/t_mail.h"

#define NOW 1795363222              /* Sun, 22 Nov 2026 16:00:22 +0000 */
#define ARRIVAL (NOW - 4 * 3600 - 600) /* 4 hours 10 minutes before */
#define DIAG1 "550 5.1.1 <bob@example.net>: no such user"

static const char orig_msg[] =
	"Received: from mx.remote.test (mx.remote.test [192.0.2.1])\r\n"
	"\tby mx.example.org with ESMTPS id 000660DF931DEBFF\r\n"
	"From: Alice <alice@example.com>\r\n"
	"To: bob@example.net, carol@example.com\r\n"
	"Subject: hello\r\n"
	"\r\n"
	"the body\r\n";

struct part {
	const char *p;
	size_t len;
};

/* One formatted notice, NUL-terminated, cut into its pieces. */
struct dsn {
	char *text;
	size_t len;
	char bnd[128];
	struct part head;    /* the message header */
	struct part part[3]; /* part contents, part headers included */
};

static void
sample(struct bounce_info *bi, struct bounce_rcpt r[2])
{
	memset(bi, 0, sizeof(*bi));
	memset(r, 0, 2 * sizeof(r[0]));
	bi->reporting_mta = "mx.example.org";
	bi->qid = "000660DF931DEBFF";
	bi->from = "MAILER-DAEMON@mx.example.org";
	bi->to = "alice@example.com";
	bi->arrival = ARRIVAL;
	bi->now = NOW;
	r[0].addr = "bob@example.net";
	r[0].status = "5.1.1";
	r[0].remote_mta = "mx.example.net";
	r[0].diag = DIAG1;
	r[0].diaglen = strlen(DIAG1);
	r[0].diag_remote = true;
	r[0].last_attempt = NOW - 60;
	r[1].addr = "carol@example.com";
	r[1].orig = "c.list@example.com";
	r[1].status = "5.2.2";
	r[1].diag = "mailbox full";
	r[1].diaglen = 12;
}

/* How many lines of pt (CRLF-separated) start with s, or are s if whole. */
static unsigned
count_lines(const struct part *pt, const char *s, bool whole)
{
	size_t sl = strlen(s);
	unsigned n = 0;

	for (size_t off = 0; off < pt->len;) {
		const char *e = memchr(pt->p + off, '\r', pt->len - off);
		size_t l = e ? (size_t)(e - pt->p) - off : pt->len - off;
		if ((whole ? l == sl : l >= sl) && memcmp(pt->p + off, s, sl) == 0)
			n++;
		off += l + 2;
	}
	return n;
}

static bool
has_line(const struct part *pt, const char *want)
{
	return count_lines(pt, want, true) > 0;
}

static unsigned
count_prefix(const struct part *pt, const char *prefix)
{
	return count_lines(pt, prefix, false);
}

/* pt unfolded (RFC 5322 2.2.3): a CRLF followed by blanks becomes one
 * space; other CRLFs stay. */
static char *
flat(const struct part *pt)
{
	char *s = malloc(pt->len + 1);
	size_t n = 0;

	for (size_t i = 0; i < pt->len; i++) {
		if (pt->p[i] == '\r' && i + 2 < pt->len &&
		    (pt->p[i + 2] == ' ' || pt->p[i + 2] == '\t')) {
			i += 2;
			while (i + 1 < pt->len &&
			       (pt->p[i + 1] == ' ' || pt->p[i + 1] == '\t'))
				i++;
			s[n++] = ' ';
		} else
			s[n++] = pt->p[i];
	}
	s[n] = '\0';
	return s;
}

static bool
has_flat(const struct part *pt, const char *want)
{
	char *s = flat(pt);
	bool r = strstr(s, want) != NULL;

	free(s);
	return r;
}

/* Whether pt holds want, when every run of blanks and line ends in pt
 * counts as one space (the text part's paragraphs are not indented). */
static bool
has_words(const struct part *pt, const char *want)
{
	char *s = malloc(pt->len + 1);
	size_t n = 0;
	bool r;

	for (size_t i = 0; i < pt->len; i++) {
		bool sp = strchr(" \t\r\n", pt->p[i]) != NULL;
		if (!sp)
			s[n++] = pt->p[i];
		else if (n > 0 && s[n - 1] != ' ')
			s[n++] = ' ';
	}
	s[n] = '\0';
	r = strstr(s, want) != NULL;
	free(s);
	return r;
}

/* The content of a part after its own header. */
static struct part
body_of(const struct part *pt)
{
	const char *e = strstr(pt->p, "\r\n\r\n");
	struct part b = { pt->p + pt->len, 0 };

	if (e == NULL || e + 2 > pt->p + pt->len)
		return b;
	if (e + 4 > pt->p + pt->len) {
		b.p = e + 2;
		return b;
	}
	b.p = e + 4;
	b.len = (size_t)(pt->p + pt->len - b.p);
	return b;
}

/*
 * Checks the lines and the MIME frame: exactly three "--B" lines, then
 * "--B--" as the last line, and no other line starting with "--B".
 */
static void
split(struct dsn *d, const struct buf *b)
{
	const char *q, *start[4];
	size_t bl, nd = 0;

	d->len = buf_len(b);
	d->text = malloc(d->len + 1);
	memcpy(d->text, buf_data(b), d->len);
	d->text[d->len] = '\0';
	t_mail_check_lines(d->text, d->len, BOUNCE_LINE_MAX);
	q = strstr(d->text, "\tboundary=\"");
	T_ASSERT(q != NULL);
	q += 11;
	bl = strcspn(q, "\"");
	T_ASSERT(bl > 0 && bl <= 70 && bl < sizeof(d->bnd));
	memcpy(d->bnd, q, bl);
	d->bnd[bl] = '\0';
	for (char *l = d->text; *l != '\0'; l = strstr(l, "\r\n") + 2) {
		if (strncmp(l, "--", 2) != 0 || strncmp(l + 2, d->bnd, bl) != 0)
			continue;
		T_ASSERT(nd < 4);
		if (nd == 3) {
			T_ASSERT(strcmp(l + 2 + bl, "--\r\n") == 0);
		} else {
			T_ASSERT(strncmp(l + 2 + bl, "\r\n", 2) == 0);
		}
		start[nd++] = l;
	}
	T_EQ_INT(nd, 4);
	d->head.p = d->text;
	d->head.len = (size_t)(strstr(d->text, "\r\n\r\n") - d->text) + 2;
	for (int i = 0; i < 3; i++) {
		d->part[i].p = start[i] + bl + 4;
		/* The CRLF before a delimiter belongs to it (RFC 2046 5.1.1). */
		d->part[i].len = (size_t)(start[i + 1] - 2 - d->part[i].p);
	}
}

static void
format(struct dsn *d, const struct bounce_info *bi,
       const struct bounce_rcpt *r, unsigned n, const char *orig,
       size_t origlen, size_t max_headers)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	T_EQ_INT(bounce_format(&b, bi, r, n, orig, origlen, max_headers), 0);
	split(d, &b);
	buf_free(&b);
}

T_TEST(bounce_structure)
{
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct dsn d;
	struct part body;

	sample(&bi, r);
	format(&d, &bi, r, 1, orig_msg, sizeof(orig_msg) - 1, 4096);
	T_ASSERT(has_line(&d.head, "Date: Sun, 22 Nov 2026 16:00:22 +0000"));
	T_ASSERT(has_line(&d.head, "From: Mail Delivery System "
				   "<MAILER-DAEMON@mx.example.org>"));
	T_ASSERT(has_line(&d.head, "To: <alice@example.com>"));
	T_ASSERT(has_line(&d.head, "Subject: Undelivered Mail Returned to Sender"));
	T_ASSERT(has_line(&d.head, "Message-ID: "
				   "<000660DF931DEBFF.1795363222.bounce@mx.example.org>"));
	T_ASSERT(has_line(&d.head, "Auto-Submitted: auto-replied"));
	T_ASSERT(has_line(&d.head, "MIME-Version: 1.0"));
	T_ASSERT(has_line(&d.head, "Content-Type: multipart/report; "
				   "report-type=delivery-status;"));
	T_EQ_STR(d.bnd, "000660DF931DEBFF.1795363222.0/vdmail");

	T_ASSERT(has_line(&d.part[0], "Content-Type: text/plain; charset=us-ascii"));
	T_ASSERT(has_line(&d.part[0], "This is the mail system at host mx.example.org."));
	T_ASSERT(has_line(&d.part[0], "<bob@example.net>: host mx.example.net said:"));
	T_ASSERT(has_line(&d.part[0], "    " DIAG1));

	T_ASSERT(has_line(&d.part[1], "Content-Type: message/delivery-status"));
	body = body_of(&d.part[1]);
	const char want[] =
		"Reporting-MTA: dns; mx.example.org\r\n"
		"X-Vdmail-Queue-ID: 000660DF931DEBFF\r\n"
		"Arrival-Date: Sun, 22 Nov 2026 11:50:22 +0000\r\n"
		"\r\n"
		"Final-Recipient: rfc822; bob@example.net\r\n"
		"Action: failed\r\n"
		"Status: 5.1.1\r\n"
		"Remote-MTA: dns; mx.example.net\r\n"
		"Diagnostic-Code: smtp; " DIAG1 "\r\n"
		"Last-Attempt-Date: Sun, 22 Nov 2026 15:59:22 +0000\r\n";
	T_EQ_MEM(body.p, body.len, want, sizeof(want) - 1);

	T_ASSERT(has_line(&d.part[2], "Content-Type: text/rfc822-headers"));
	body = body_of(&d.part[2]);
	size_t hl = (size_t)(strstr(orig_msg, "\r\n\r\n") - orig_msg) + 2;
	T_EQ_MEM(body.p, body.len, orig_msg, hl);
	free(d.text);
}

T_TEST(bounce_two_recipients)
{
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct dsn d;

	sample(&bi, r);
	format(&d, &bi, r, 2, orig_msg, sizeof(orig_msg) - 1, 4096);
	T_ASSERT(has_line(&d.part[0], "<bob@example.net>: host mx.example.net said:"));
	T_ASSERT(has_line(&d.part[0], "<carol@example.com> (originally "
				      "<c.list@example.com>):"));
	T_ASSERT(has_line(&d.part[0], "    mailbox full"));
	struct part body = body_of(&d.part[1]);
	T_EQ_INT(count_prefix(&body, "Final-Recipient: "), 2);
	T_EQ_INT(count_prefix(&body, "Action: failed"), 2);
	T_EQ_INT(count_prefix(&body, "Reporting-MTA: "), 1);
	const char *second = strstr(body.p, "\r\n\r\nOriginal-Recipient:");
	T_ASSERT(second != NULL);
	const char want[] =
		"\r\n\r\n"
		"Original-Recipient: rfc822; c.list@example.com\r\n"
		"Final-Recipient: rfc822; carol@example.com\r\n"
		"Action: failed\r\n"
		"Status: 5.2.2\r\n"
		"Diagnostic-Code: X-Vdmail; mailbox full\r\n";
	T_EQ_MEM(second, (size_t)(body.p + body.len - second), want,
		 sizeof(want) - 1);
	free(d.text);
}

T_TEST(bounce_delayed)
{
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct dsn d;

	sample(&bi, r);
	bi.delayed = true;
	bi.retry_until = ARRIVAL + 5 * 86400;
	r[0].status = "4.4.1";
	r[0].diag = "connect to mx.example.net: Connection timed out";
	r[0].diaglen = strlen(r[0].diag);
	r[0].diag_remote = false;
	r[1].status = "9.9"; /* malformed: the default for a delay */
	format(&d, &bi, r, 2, orig_msg, sizeof(orig_msg) - 1, 4096);
	T_ASSERT(has_line(&d.head, "Subject: Delayed Mail (still being retried)"));
	T_ASSERT(has_line(&d.head, "Message-ID: "
				   "<000660DF931DEBFF.1795363222.delay@mx.example.org>"));
	T_ASSERT(has_words(&d.part[0], "in the queue for 4 hours 10 minutes "));
	T_ASSERT(has_words(&d.part[0], "keep trying until Fri, 27 Nov 2026 "
				       "11:50:22 +0000;"));
	T_ASSERT(has_line(&d.part[0], "<bob@example.net>:"));
	T_ASSERT(has_line(&d.part[0], "    connect to mx.example.net: "
				      "Connection timed out"));
	struct part body = body_of(&d.part[1]);
	T_EQ_INT(count_prefix(&body, "Action: delayed"), 2);
	T_EQ_INT(count_prefix(&body, "Action: failed"), 0);
	T_ASSERT(has_line(&body, "Status: 4.4.1"));
	T_ASSERT(has_line(&body, "Status: 4.0.0"));
	T_ASSERT(has_line(&body, "Diagnostic-Code: X-Vdmail; connect to "
				 "mx.example.net: Connection timed out"));
	T_EQ_INT(count_prefix(&body, "Will-Retry-Until: Fri, 27 Nov 2026 "
				     "11:50:22 +0000"), 2);
	free(d.text);
}

T_TEST(bounce_hostile_diag)
{
	static const char diag[] = "550 5.1.1 bad\r\nSubject: injected\r\n"
				   "\0\xff\xc3\xa9 end\n.\r\n";
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct dsn d;

	sample(&bi, r);
	bi.to = "alice@example.com>\r\nBcc: <victim@example.net";
	r[0].diag = diag;
	r[0].diaglen = sizeof(diag) - 1;
	r[0].remote_mta = "mx.example.net\r\nX-Injected: 1";
	r[0].addr = "evil\r\nBcc: x@y";
	r[1].addr = "j\xc3\xb6rg+tag@example.de";
	r[1].orig = "\xe2\x82\xac=\\@example.de";
	format(&d, &bi, r, 2, orig_msg, sizeof(orig_msg) - 1, 4096);
	struct part all = { d.text, d.len };
	T_EQ_INT(count_prefix(&all, "Subject: injected"), 0);
	T_EQ_INT(count_prefix(&all, "Bcc:"), 0);
	T_EQ_INT(count_prefix(&all, "X-Injected"), 0);
	T_EQ_INT(count_prefix(&all, "."), 0);
	T_ASSERT(has_line(&d.head, "To: <alice@example.com> Bcc: "
				   "<victim@example.net>"));
	struct part body = body_of(&d.part[1]);
	T_ASSERT(has_flat(&body, "\r\nDiagnostic-Code: smtp; 550 5.1.1 bad "
				 "Subject: injected \\x{FFFD}\\x{FFFD}\\x{E9} end .\r\n"));
	T_ASSERT(has_line(&body, "Final-Recipient: utf-8; "
				 "evil\\x{FFFD}\\x{FFFD}Bcc:\\x{20}x@y"));
	T_ASSERT(has_line(&body, "Remote-MTA: dns; mx.example.net X-Injected: 1"));
	T_ASSERT(has_line(&body, "Final-Recipient: utf-8; "
				 "j\\x{F6}rg\\x{2B}tag@example.de"));
	T_ASSERT(has_line(&body, "Original-Recipient: utf-8; "
				 "\\x{20AC}\\x{3D}\\x{5C}@example.de"));
	T_ASSERT(has_line(&d.part[0], "<evil Bcc: x@y>: host mx.example.net "
				      "X-Injected: 1 said:"));
	T_ASSERT(has_line(&d.part[0], "<j\\x{F6}rg+tag@example.de> (originally "
				      "<\\x{20AC}=\\@example.de>):"));
	free(d.text);
}

T_TEST(bounce_malformed_utf8)
{
	/* overlong "/", a surrogate, past U+10FFFF, a cut sequence, C1. */
	static const char diag[] = "a\xc0\xaf b\xed\xa0\x80 c\xf4\x90\x80\x80"
				   " d\xc2\x85 e\xe2\x82";
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct dsn d;

	sample(&bi, r);
	r[0].diag = diag;
	r[0].diaglen = sizeof(diag) - 1;
	format(&d, &bi, r, 1, NULL, 0, 0);
	struct part body = body_of(&d.part[1]);
	T_ASSERT(has_flat(&body, "Diagnostic-Code: smtp; a\\x{FFFD}\\x{FFFD} "
				 "b\\x{FFFD}\\x{FFFD}\\x{FFFD} "
				 "c\\x{FFFD}\\x{FFFD}\\x{FFFD}\\x{FFFD} d\\x{85} "
				 "e\\x{FFFD}\\x{FFFD}\r\n"));
	free(d.text);
}

T_TEST(bounce_long_diag)
{
	char *words = malloc(5001), *run = malloc(5001);
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct dsn d;

	for (int i = 0; i < 1000; i++)
		memcpy(words + 5 * i, "word ", 5);
	memcpy(words, "550 ", 4);
	memset(run, 'x', 5000);
	sample(&bi, r);
	r[0].diag = words;
	r[0].diaglen = 5000;
	r[1].diag = run;
	r[1].diaglen = 5000;
	format(&d, &bi, r, 2, orig_msg, sizeof(orig_msg) - 1, 4096);
	struct part body = body_of(&d.part[1]);
	/* Folded at spaces: many short lines, continued with a space. */
	T_ASSERT(count_prefix(&body, " word") > 20);
	T_ASSERT(has_flat(&body, "Diagnostic-Code: smtp; 550 word word "));
	T_ASSERT(has_flat(&body, "...\r\nLast-Attempt-Date: "));
	/* The run without a space is cut at the value limit and broken. */
	T_ASSERT(count_prefix(&body, " xxxxxxxxxx") == 2);
	char *f = flat(&body);
	char *x = strstr(f, "Diagnostic-Code: X-Vdmail; x");
	T_ASSERT(x != NULL);
	x += strlen("Diagnostic-Code: X-Vdmail; ");
	size_t n = strspn(x, "x ");
	T_EQ_INT(n, BOUNCE_VALUE_MAX - 3 + 2);
	T_ASSERT(strncmp(x + n, "...\r\n", 5) == 0);
	free(f);
	T_ASSERT(has_line(&d.part[0], "<carol@example.com> (originally "
				      "<c.list@example.com>):"));
	free(d.text);
	free(words);
	free(run);
}

T_TEST(bounce_original_without_body)
{
	char orig[2000], want[2000];
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct dsn d;
	int n;

	sample(&bi, r);
	/* Bare LF, a lone CR, 8-bit bytes, a 1200-octet line, no end. */
	n = snprintf(orig, sizeof(orig), "From: a@b\nSubject: b\rc \xe9t\xc3\xa9\r\n"
		     "X-Long: %01200d", 0);
	n = snprintf(want, sizeof(want), "From: a@b\r\nSubject: b?c ?t??\r\n"
		     "X-Long: %0990d\r\n", 0);
	format(&d, &bi, r, 1, orig, strlen(orig), 1 << 16);
	struct part body = body_of(&d.part[2]);
	T_EQ_MEM(body.p, body.len, want, (size_t)n);
	free(d.text);

	format(&d, &bi, r, 1, NULL, 0, 4096);
	body = body_of(&d.part[2]);
	T_EQ_SIZE(body.len, 0);
	free(d.text);
}

/* The copied header of orig under max_headers. */
static void
check_cut(const char *orig, size_t max, const char *want)
{
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct dsn d;

	sample(&bi, r);
	format(&d, &bi, r, 1, orig, strlen(orig), max);
	struct part body = body_of(&d.part[2]);
	T_EQ_MEM(body.p, body.len, want, strlen(want));
	T_ASSERT(body.len <= max);
	free(d.text);
}

T_TEST(bounce_max_headers_cut)
{
	static const char a[] = "A: 1\r\nB: 2\r\n\tcont\r\nC: 3\r\n\r\nbody\r\n";
	static const char b[] = "A: 1\n\tx\n\ty\nB: 2\n";

	check_cut(a, 1000, "A: 1\r\nB: 2\r\n\tcont\r\nC: 3\r\n");
	check_cut(a, 25, "A: 1\r\nB: 2\r\n\tcont\r\nC: 3\r\n");
	/* Whole fields only: B and its continuation go together. */
	check_cut(a, 24, "A: 1\r\nB: 2\r\n\tcont\r\n");
	check_cut(a, 18, "A: 1\r\n");
	check_cut(a, 6, "A: 1\r\n");
	check_cut(a, 5, "");
	check_cut(a, 0, "");
	/* A first field larger than the limit is cut at a line. */
	check_cut(b, 12, "A: 1\r\n\tx\r\n");
	check_cut(b, 17, "A: 1\r\n\tx\r\n\ty\r\n");
}

T_TEST(bounce_full_buffer)
{
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct buf b;
	size_t need;

	sample(&bi, r);
	buf_init(&b, 1 << 20);
	T_EQ_INT(bounce_format(&b, &bi, r, 2, orig_msg, sizeof(orig_msg) - 1,
			       4096), 0);
	need = buf_len(&b);
	char *full = malloc(need);
	memcpy(full, buf_data(&b), need);
	buf_free(&b);
	for (size_t max = 0; max < need; max++) {
		buf_init(&b, 7 + max);
		T_EQ_INT(buf_append(&b, "prefix:", 7), 0);
		T_EQ_INT(bounce_format(&b, &bi, r, 2, orig_msg,
				       sizeof(orig_msg) - 1, 4096), -1);
		T_EQ_MEM(buf_data(&b), buf_len(&b), "prefix:", 7);
		buf_free(&b);
	}
	buf_init(&b, 7 + need);
	T_EQ_INT(buf_append(&b, "prefix:", 7), 0);
	T_EQ_INT(bounce_format(&b, &bi, r, 2, orig_msg, sizeof(orig_msg) - 1,
			       4096), 0);
	T_EQ_MEM(buf_data(&b) + 7, buf_len(&b) - 7, full, need);
	T_EQ_INT(bounce_format(&b, &bi, r, 0, NULL, 0, 0), -1);
	buf_free(&b);
	free(full);
}

T_TEST(bounce_boundary_collision)
{
	char orig[512];
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct dsn d, e;

	sample(&bi, r);
	format(&d, &bi, r, 1, NULL, 0, 0);
	/* The original header holds the boundary the first try would use,
	 * as a line of its own; so does the remote reply, inside a line. */
	snprintf(orig, sizeof(orig), "Subject: x\r\n--%s\r\n--%s--\r\n\r\n",
		 d.bnd, d.bnd);
	r[0].diag = orig;
	r[0].diaglen = strlen(orig);
	format(&e, &bi, r, 1, orig, strlen(orig), 4096);
	T_ASSERT(strcmp(d.bnd, e.bnd) != 0);
	struct part body = body_of(&e.part[2]);
	T_EQ_MEM(body.p, body.len, orig, strlen(orig) - 2);
	free(d.text);
	free(e.text);
}

/* Python's view of the message m (t_mail.h). */
static const char py_check[] =
	"assert m.get_content_type() == 'multipart/report'\n"
	"assert m.get_param('report-type') == 'delivery-status'\n"
	"assert m['Auto-Submitted'] == 'auto-replied'\n"
	"parts = m.get_payload()\n"
	"types = [p.get_content_type() for p in parts]\n"
	"assert types == ['text/plain', 'message/delivery-status',\n"
	"                 'text/rfc822-headers'], types\n"
	"blocks = parts[1].get_payload()\n"
	"assert len(blocks) == 3, len(blocks)\n"
	"assert blocks[0]['Reporting-MTA'] == 'dns; mx.example.org'\n"
	"assert blocks[1]['Action'] == 'failed'\n"
	"assert blocks[1]['Status'] == '5.1.1'\n"
	"assert blocks[1]['Diagnostic-Code'].startswith('smtp; 550 word')\n"
	"assert blocks[2]['Final-Recipient'] == 'utf-8; j\\\\x{F6}rg@example.de'\n"
	"assert 'no such user' in ' '.join(parts[0].get_content().split())\n"
	"assert parts[2].get_payload().startswith('Received: from')\n";

T_TEST(bounce_python_parses)
{
	char diag[3000];
	struct bounce_info bi;
	struct bounce_rcpt r[2];
	struct buf b;

	t_mail_need_python();
	snprintf(diag, sizeof(diag), "550 %0*d no such user\r\n\xff",
		 2000, 0);
	memcpy(diag + 4, "word ", 5);
	sample(&bi, r);
	r[0].diag = diag;
	r[0].diaglen = strlen(diag);
	r[1].addr = "j\xc3\xb6rg@example.de";
	r[1].orig = NULL;
	buf_init(&b, 1 << 20);
	T_EQ_INT(bounce_format(&b, &bi, r, 2, orig_msg, sizeof(orig_msg) - 1,
			       4096), 0);
	t_mail_python(py_check, buf_data(&b), buf_len(&b));
	buf_free(&b);
}
