/* autoreply.c: every "do not answer" rule, the answer line by line and by
 * Python's email package. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"
#include "spool/autoreply.h"
#include "tests/unit/t.h"
#include "tests/unit/t_mail.h"

#define NOW 1795363222 /* Sun, 22 Nov 2026 16:00:22 +0000 */

static const char orig_hdr[] =
	"Received: from mx.remote.test (mx.remote.test [192.0.2.1])\r\n"
	"\tby mx.example.org with ESMTPS id Q1\r\n"
	"From: Alice <alice@remote.test>\r\n"
	"To: Bob <bob@example.org>, dave@remote.test\r\n"
	"Subject: lunch on\r\n"
	" friday?\r\n"
	"Message-ID: <m1@remote.test>\r\n"
	"References: <r1@remote.test>\r\n"
	"\t<r2@remote.test>\r\n"
	"\r\n"
	"the body\r\n";

static const char *const alt_addrs[] = { "b.smith@example.org" };

static void
sample(struct autoreply_in *in)
{
	memset(in, 0, sizeof(*in));
	in->header = orig_hdr;
	in->headerlen = sizeof(orig_hdr) - 1;
	in->sender = "alice@remote.test";
	in->rcpt = "bob@example.org";
	in->user_addr = "bob@example.org";
	in->addrs = alt_addrs;
	in->naddrs = 1;
	in->mode = "reply";
	in->text = "I am away.\nBack on Monday.";
	in->now = NOW;
	in->hostname = "mx.example.org";
	in->qid = "Q1";
}

/* The token autoreply_wanted gives, "" for an answer. */
static const char *
why_of(const struct autoreply_in *in)
{
	static char why[32];
	int r;

	memset(why, 'x', sizeof(why));
	r = autoreply_wanted(in, why, sizeof(why));
	T_EQ_INT(r, why[0] == '\0');
	return why;
}

/* The sample's header with its recipient fields replaced by fields. */
static const char *
why_with(struct autoreply_in *in, const char *fields)
{
	static char h[4096];

	snprintf(h, sizeof(h), "From: alice@remote.test\r\n%s\r\nbody\r\n",
		 fields);
	in->header = h;
	in->headerlen = strlen(h);
	return why_of(in);
}

T_TEST(autoreply_wanted_plain)
{
	struct autoreply_in in;
	char small[4];

	sample(&in);
	T_EQ_STR(why_of(&in), "");
	/* why is optional and cut to its size. */
	T_EQ_INT(autoreply_wanted(&in, NULL, 0), 1);
	in.sender = "";
	T_EQ_INT(autoreply_wanted(&in, small, sizeof(small)), 0);
	T_EQ_STR(small, "nul");
}

T_TEST(autoreply_wanted_sender_rules)
{
	static const struct {
		const char *sender, *why;
	} t[] = {
		{ "", "null_sender" },
		{ "alice", "bad_sender" },
		{ "@remote.test", "bad_sender" },
		{ "alice@", "bad_sender" },
		{ "al ice@remote.test", "bad_sender" },
		{ "al\tice@remote.test", "bad_sender" },
		{ "j\xc3\xb6rg@remote.test", "bad_sender" },
		{ "bob@example.org", "self" },
		{ "BOB@Example.ORG", "self" },
		{ "b.smith@EXAMPLE.org", "self" },
		{ "MAILER-DAEMON@remote.test", "daemon" },
		{ "postmaster@remote.test", "daemon" },
		{ "Mailer@remote.test", "daemon" },
		{ "owner-dev@lists.test", "list" },
		{ "dev-owner@lists.test", "list" },
		{ "dev-request@lists.test", "list" },
		{ "dev-bounces+bob=example.org@lists.test", "list" },
		{ "LISTSERV@lists.test", "list" },
		{ "majordomo@lists.test", "list" },
		{ "no-reply@shop.test", "noreply" },
		{ "NoReply+x@shop.test", "noreply" },
		{ "donotreply@shop.test", "noreply" },
		{ "requester@remote.test", "" },
		{ "owner@remote.test", "" },
		{ "mailer-daemon.fan@remote.test", "" },
		{ "alice+tag@remote.test", "" },
	};
	struct autoreply_in in;
	char longaddr[300];

	for (size_t i = 0; i < UTIL_ARRAY_LEN(t); i++) {
		sample(&in);
		in.sender = t[i].sender;
		T_EQ_STR(why_of(&in), t[i].why);
	}
	sample(&in);
	in.sender = NULL;
	T_EQ_STR(why_of(&in), "null_sender");
	memset(longaddr, 'a', sizeof(longaddr));
	memcpy(longaddr + sizeof(longaddr) - 13, "@remote.test", 13);
	in.sender = longaddr;
	T_EQ_STR(why_of(&in), "bad_sender");
	/* The address the message came to is "itself" too. */
	in.rcpt = "sales@example.org";
	in.sender = "Sales@example.org";
	T_EQ_STR(why_of(&in), "self");
}

T_TEST(autoreply_wanted_header_rules)
{
	static const struct {
		const char *field, *why;
	} t[] = {
		{ "Auto-Submitted: auto-generated\r\n", "auto_submitted" },
		{ "auto-submitted :Auto-Replied (vacation)\r\n", "auto_submitted" },
		{ "Auto-Submitted:\r\n", "auto_submitted" },
		{ "Auto-Submitted:\r\n auto-generated\r\n", "auto_submitted" },
		{ "Auto-Submitted: no-thanks\r\n", "auto_submitted" },
		{ "Auto-Submitted: no\r\n", "" },
		{ "Auto-Submitted: No (a person wrote this)\r\n", "" },
		{ "List-Id: Dev <dev.lists.test>\r\n", "list" },
		{ "LIST-UNSUBSCRIBE: <mailto:u@lists.test>\r\n", "list" },
		{ "List-Post: NO\r\n", "list" },
		{ "list-help:<mailto:h@lists.test>\r\n", "list" },
		{ "Mailing-List: contact dev-help@lists.test\r\n", "list" },
		{ "X-Mailing-List: dev@lists.test\r\n", "list" },
		{ "Precedence: bulk\r\n", "bulk" },
		{ "Precedence:  JUNK\r\n", "bulk" },
		{ "Precedence: list\r\n", "list" },
		{ "Precedence: first-class\r\n", "" },
		{ "Precedence bulk, no colon\r\n", "" },
		{ "X-List-Id: not one\r\n", "" },
		{ "X-Auto-Response-Suppress: DR, OOF\r\n", "suppressed" },
		{ "x-auto-response-suppress: all\r\n", "suppressed" },
		{ "X-Auto-Response-Suppress: DR, NDR, RN\r\n", "" },
		{ "X-Auto-Response-Suppress: ALLOW\r\n", "" },
		/* The first rule in the order wins, not the first field. */
		{ "Precedence: bulk\r\nAuto-Submitted: auto-replied\r\n",
		  "auto_submitted" },
	};
	struct autoreply_in in;
	char f[256];

	for (size_t i = 0; i < UTIL_ARRAY_LEN(t); i++) {
		sample(&in);
		snprintf(f, sizeof(f), "To: bob@example.org\r\n%s", t[i].field);
		T_EQ_STR(why_with(&in, f), t[i].why);
	}
}

T_TEST(autoreply_wanted_addressed)
{
	static const struct {
		const char *fields, *why;
	} t[] = {
		{ "To: dave@remote.test\r\nCc: Bob <bob@example.org>\r\n", "" },
		{ "To: dave@remote.test\r\n", "not_addressed" },
		{ "To: jimbob@example.org\r\n", "not_addressed" },
		{ "To: bob@example.org.evil.test\r\n", "not_addressed" },
		{ "To: xbob@example.org, bob@example.orgx\r\n", "not_addressed" },
		{ "To: undisclosed-recipients:;\r\n", "not_addressed" },
		{ "Subject: bob@example.org\r\n", "not_addressed" },
		{ "", "not_addressed" },
		{ "Bcc: bob@example.org\r\n", "" },
		{ "Resent-To: <BOB@example.org>\r\n", "" },
		{ "resent-cc:bob@example.org\r\n", "" },
		{ "To: a@remote.test,\r\n\tbob@example.org\r\n", "" },
		{ "To: \"Smith, B.\" <b.smith@example.org>\r\n", "" },
		{ "To : bob@example.org\r\n", "" },
		/* A continuation line with no field before it names nobody. */
		{ " bob@example.org\r\nTo: dave@remote.test\r\n", "not_addressed" },
		{ "X-To: bob@example.org\r\n", "not_addressed" },
	};
	struct autoreply_in in;

	for (size_t i = 0; i < UTIL_ARRAY_LEN(t); i++) {
		sample(&in);
		T_EQ_STR(why_with(&in, t[i].fields), t[i].why);
	}
	/* The first line of the header may be the continuation one. */
	sample(&in);
	in.header = " bob@example.org\r\n";
	in.headerlen = strlen(in.header);
	T_EQ_STR(why_of(&in), "not_addressed");
	in.header = NULL;
	in.headerlen = 100;
	T_EQ_STR(why_of(&in), "not_addressed");
}

T_TEST(autoreply_wanted_vacation_window)
{
	static const struct {
		const char *start, *end, *why;
	} t[] = {
		{ "", "", "" },
		{ NULL, NULL, "" },
		{ "20261122160022Z", "", "" },     /* start == now: inside */
		{ "20261122160023Z", "", "outside_vacation" },
		{ "", "20261122160022Z", "outside_vacation" }, /* end == now */
		{ "", "20261122160023Z", "" },
		{ "20261122", "20261123Z", "" },
		{ "20261101Z", "20261122Z", "outside_vacation" },
		{ "20261123Z", "20261101Z", "outside_vacation" },
		{ "2026112216Z", "2026112217", "" },
		{ "20261122170022+0100", "", "" },
		{ "20261122170023+0100", "", "outside_vacation" },
		{ "2026112", "", "bad_date" },
		{ "", "20261322Z", "bad_date" },
		{ "20261122Z", "tomorrow", "bad_date" },
	};
	struct autoreply_in in;

	for (size_t i = 0; i < UTIL_ARRAY_LEN(t); i++) {
		sample(&in);
		in.vacstart = t[i].start;
		in.vacend = t[i].end;
		T_EQ_STR(why_of(&in), t[i].why);
	}
}

T_TEST(autoreply_wanted_text_rules)
{
	struct autoreply_in in;

	sample(&in);
	in.text = "";
	T_EQ_STR(why_of(&in), "no_text");
	in.text = " \r\n\t\n";
	T_EQ_STR(why_of(&in), "no_text");
	in.text = NULL;
	T_EQ_STR(why_of(&in), "no_text");
	/* The internal text serves the user's own domain only. */
	in.text_internal = "In the Paris office.";
	T_EQ_STR(why_of(&in), "no_text");
	in.sender = "carol@EXAMPLE.org";
	T_EQ_STR(why_of(&in), "");
	in.sender = "carol@sub.example.org";
	T_EQ_STR(why_of(&in), "no_text");
	/* Configuration comes first, then the sender, then the header. */
	sample(&in);
	in.vacend = "20260101Z";
	in.sender = "";
	T_EQ_STR(why_of(&in), "outside_vacation");
	sample(&in);
	in.user_addr = "";
	T_EQ_STR(why_of(&in), "bad_user_addr");
	sample(&in);
	in.sender = "owner-x@lists.test";
	T_EQ_STR(why_with(&in, "Precedence: bulk\r\n"), "list");
}

/* ---- the answer ---- */

struct msg {
	char *text;
	size_t len;
	const char *body;
};

static void
format(struct msg *m, const struct autoreply_in *in)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	T_EQ_INT(autoreply_format(&b, in), 0);
	m->len = buf_len(&b);
	m->text = malloc(m->len + 1);
	memcpy(m->text, buf_data(&b), m->len);
	m->text[m->len] = '\0';
	buf_free(&b);
	t_mail_check_lines(m->text, m->len, AUTOREPLY_LINE_MAX);
	m->body = strstr(m->text, "\r\n\r\n");
	T_ASSERT(m->body != NULL);
	m->body += 4;
}

/* A field of the answer's header unfolded (CRLFs removed, RFC 5322
 * 2.2.3), without the blank after the colon; "" when absent. */
static const char *
field(const struct msg *m, const char *name)
{
	static char v[8192];
	size_t nl = strlen(name), n = 0;
	const char *p = m->text;

	v[0] = '\0';
	while (p < m->body - 2) {
		if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
			for (p += nl + 2; n + 1 < sizeof(v); p += 2) {
				const char *e = strstr(p, "\r\n");
				memcpy(v + n, p, (size_t)(e - p));
				n += (size_t)(e - p);
				p = e;
				if (p[2] != ' ' && p[2] != '\t')
					break;
			}
			v[n] = '\0';
			return v;
		}
		p = strstr(p, "\r\n") + 2;
	}
	return v;
}

/* The Subject with its encoded-words decoded (they are "B", UTF-8). */
static const char *
subject_of(const struct msg *m)
{
	static char out[4096];
	const char *v = field(m, "Subject");
	size_t n = 0;
	bool ew = false; /* after an encoded-word (RFC 2047 6.2) */

	while (*v != '\0') {
		const char *e;
		long k;

		if (ew && strncmp(v, " =?UTF-8?B?", 11) == 0)
			v++;
		ew = strncmp(v, "=?UTF-8?B?", 10) == 0;
		if (!ew) {
			out[n++] = *v++;
			continue;
		}
		v += 10;
		e = strstr(v, "?=");
		T_ASSERT(e != NULL && e - v <= 75);
		k = util_b64_decode(v, (size_t)(e - v),
				    (unsigned char *)out + n, sizeof(out) - n - 1);
		T_ASSERT(k >= 0);
		n += (size_t)k;
		v = e + 2;
	}
	out[n] = '\0';
	return out;
}

/* RFC 2045 6.7 decoding of the body. */
static char *
qp_decode(const char *p)
{
	char *out = malloc(strlen(p) + 1);
	size_t n = 0;

	while (*p != '\0') {
		if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
			p += 3;
		} else if (p[0] == '=') {
			int hi = util_hexval(p[1]), lo = util_hexval(p[2]);

			T_ASSERT(hi >= 0 && lo >= 0);
			out[n++] = (char)(hi * 16 + lo);
			p += 3;
		} else
			out[n++] = *p++;
	}
	out[n] = '\0';
	return out;
}

T_TEST(autoreply_format_plain)
{
	struct autoreply_in in;
	struct msg m;
	char crc[16];

	sample(&in);
	format(&m, &in);
	T_EQ_STR(field(&m, "Date"), "Sun, 22 Nov 2026 16:00:22 +0000");
	T_EQ_STR(field(&m, "From"), "<bob@example.org>");
	T_EQ_STR(field(&m, "To"), "<alice@remote.test>");
	T_EQ_STR(field(&m, "Subject"), "Auto: lunch on friday?");
	snprintf(crc, sizeof(crc), "%08x",
		 (unsigned)util_crc32(0, "bob@example.org", 15));
	T_ASSERT(strstr(field(&m, "Message-ID"), crc) != NULL);
	T_ASSERT(strncmp(field(&m, "Message-ID"), "<Q1.1795363222.", 15) == 0);
	T_ASSERT(strstr(field(&m, "Message-ID"), "@mx.example.org>") != NULL);
	T_EQ_STR(field(&m, "In-Reply-To"), "<m1@remote.test>");
	T_EQ_STR(field(&m, "References"),
		 "<r1@remote.test> <r2@remote.test> <m1@remote.test>");
	T_EQ_STR(field(&m, "Auto-Submitted"), "auto-replied");
	T_EQ_STR(field(&m, "Precedence"), "bulk");
	T_EQ_STR(field(&m, "MIME-Version"), "1.0");
	T_EQ_STR(field(&m, "Content-Type"), "text/plain; charset=us-ascii");
	T_EQ_STR(field(&m, "Content-Transfer-Encoding"), "7bit");
	T_EQ_STR(m.body, "I am away.\r\nBack on Monday.\r\n");
	/* The header starts the text; the fields are in one block. */
	T_ASSERT(strncmp(m.text, "Date: ", 6) == 0);
	free(m.text);
}

T_TEST(autoreply_format_line_ends)
{
	static const struct {
		const char *text, *body;
	} t[] = {
		{ "a\r\nb\r\n", "a\r\nb\r\n" },
		{ "a\rb", "a\r\nb\r\n" },
		{ "a\n\nb\n", "a\r\n\r\nb\r\n" },
		{ "a\r\r\n", "a\r\n\r\n" },
		{ "one line", "one line\r\n" },
	};
	struct autoreply_in in;
	struct msg m;

	for (size_t i = 0; i < UTIL_ARRAY_LEN(t); i++) {
		sample(&in);
		in.text = t[i].text;
		format(&m, &in);
		T_EQ_STR(m.body, t[i].body);
		free(m.text);
	}
}

T_TEST(autoreply_format_internal_text)
{
	struct autoreply_in in;
	struct msg m;

	sample(&in);
	in.text_internal = "In the Paris office.";
	format(&m, &in);
	T_EQ_STR(m.body, "I am away.\r\nBack on Monday.\r\n");
	free(m.text);
	in.sender = "carol@example.org";
	format(&m, &in);
	T_EQ_STR(m.body, "In the Paris office.\r\n");
	T_EQ_STR(field(&m, "To"), "<carol@example.org>");
	free(m.text);
	in.text_internal = "";
	format(&m, &in);
	T_EQ_STR(m.body, "I am away.\r\nBack on Monday.\r\n");
	free(m.text);
}

T_TEST(autoreply_format_subject)
{
	static const struct {
		const char *replysubject, *orig_field, *want;
	} t[] = {
		{ "Re: $SUBJECT (away)", "Subject: hi\r\n", "Re: hi (away)" },
		{ "Out of office", "Subject: hi\r\n", "Out of office" },
		{ "$SUBJECT/$SUBJECT", "Subject: hi\r\n", "hi/hi" },
		{ "  ", "Subject: hi\r\n", "Auto: hi" },
		{ "", "", "Auto: (no subject)" },
		{ "", "Subject:   \r\n", "Auto: (no subject)" },
		{ "$SUBJECT", "", "Auto: (no subject)" },
		{ "Away: $SUBJECT", "", "Away:" },
		{ "", "Subject: a\tb\r\n  c\r\n\td\r\n", "Auto: a b c d" },
		{ "", "Subject: a\rb\x01" "c\x7f" "d\r\n", "Auto: a b c d" },
		{ "Line\r\nInjected: x", "Subject: hi\r\n", "Line Injected: x" },
		{ "", "Subject: =?UTF-8?Q?caf=C3=A9?=\r\n",
		  "Auto: =?UTF-8?Q?caf=C3=A9?=" },
		{ "", "SUBJECT: first\r\nSubject: second\r\n", "Auto: first" },
		{ "", "Subject: caf\xc3\xa9 time\r\n", "Auto: caf\xc3\xa9 time" },
		{ "", "Subject: bad \xff\xc3 octets\r\n", "Auto: bad ?? octets" },
		{ "Abwesenheit \xe2\x80\x93 $SUBJECT", "Subject: hi\r\n",
		  "Abwesenheit \xe2\x80\x93 hi" },
	};
	struct autoreply_in in;
	struct msg m;
	char h[512];

	for (size_t i = 0; i < UTIL_ARRAY_LEN(t); i++) {
		sample(&in);
		in.subject = t[i].replysubject;
		snprintf(h, sizeof(h), "To: bob@example.org\r\n%s\r\n",
			 t[i].orig_field);
		in.header = h;
		in.headerlen = strlen(h);
		format(&m, &in);
		T_EQ_STR(subject_of(&m), t[i].want);
		free(m.text);
	}
	/* A NUL inside the field is a control like any other. */
	sample(&in);
	in.header = "Subject: a\0b\r\n\r\n";
	in.headerlen = 16;
	format(&m, &in);
	T_EQ_STR(subject_of(&m), "Auto: a b");
	free(m.text);
}

T_TEST(autoreply_format_subject_limits)
{
	struct autoreply_in in;
	struct msg m;
	char *h = malloc(120000), want[1024];
	size_t n;

	/* A 100 KB subject without a space keeps 200 octets of it. */
	sample(&in);
	memcpy(h, "Subject: ", 9);
	memset(h + 9, 'a', 100000);
	memcpy(h + 100009, "\r\n\r\n", 5);
	in.header = h;
	in.headerlen = strlen(h);
	format(&m, &in);
	memcpy(want, "Auto: ", 6);
	memset(want + 6, 'a', AUTOREPLY_ORIG_SUBJECT_MAX);
	want[6 + AUTOREPLY_ORIG_SUBJECT_MAX] = '\0';
	T_EQ_STR(subject_of(&m), want);
	free(m.text);
	/* 8-bit: cut at a character, encoded-words of <= 75 characters. */
	n = 9;
	memcpy(h, "Subject: ", 9);
	for (int i = 0; i < 300; i++, n += 2)
		memcpy(h + n, "\xc3\xbc", 2);
	memcpy(h + n, "\r\n\r\n", 5);
	in.headerlen = strlen(h);
	format(&m, &in);
	n = 6;
	memcpy(want, "Auto: ", 6);
	for (int i = 0; i < AUTOREPLY_ORIG_SUBJECT_MAX / 2; i++, n += 2)
		memcpy(want + n, "\xc3\xbc", 2);
	want[n] = '\0';
	T_EQ_STR(subject_of(&m), want);
	for (const char *p = strstr(m.text, "\r\nSubject:") + 2; ;) {
		const char *e = strstr(p, "\r\n");
		T_ASSERT(e - p <= 76);
		p = e + 2;
		if (*p != ' ')
			break;
	}
	free(m.text);
	/* A long replysubject is folded at spaces, within 998 in all. */
	sample(&in);
	for (int i = 0; i < 1000; i++)
		want[i] = i % 5 == 4 ? ' ' : 'w';
	want[1000] = '\0';
	in.subject = want;
	format(&m, &in);
	T_ASSERT(strlen(subject_of(&m)) <= AUTOREPLY_SUBJECT_MAX);
	T_ASSERT(strncmp(subject_of(&m), "wwww wwww", 9) == 0);
	T_ASSERT(strstr(m.text, "\r\nSubject: wwww") != NULL);
	free(m.text);
	free(h);
}

T_TEST(autoreply_format_threading)
{
	struct autoreply_in in;
	struct msg m;
	char h[8192], refs[4096], want[4096];
	size_t n = 0;

	sample(&in);
	/* No Message-ID, or none we can repeat: no In-Reply-To, References. */
	static const char *const bad[] = {
		"Message-ID: m1@remote.test\r\n",
		"Message-ID: <m1 @remote.test>\r\n",
		"Message-ID: <>\r\n",
		"Message-ID: <m1@remote.test\r\n",
		"Message-ID: <m\x01@remote.test>\r\n",
		"References: <r1@remote.test>\r\n",
		"",
	};
	for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
		snprintf(h, sizeof(h), "To: bob@example.org\r\n%s\r\n", bad[i]);
		in.header = h;
		in.headerlen = strlen(h);
		format(&m, &in);
		T_EQ_STR(field(&m, "In-Reply-To"), "");
		T_EQ_STR(field(&m, "References"), "");
		free(m.text);
	}
	/* No References: an In-Reply-To of one msg-id stands for them. */
	snprintf(h, sizeof(h), "Message-ID: <m1@remote.test>\r\n"
		 "In-Reply-To: <p@remote.test> (x)\r\n\r\n");
	in.headerlen = strlen(h);
	format(&m, &in);
	T_EQ_STR(field(&m, "References"), "<p@remote.test> <m1@remote.test>");
	free(m.text);
	snprintf(h, sizeof(h), "Message-ID: <m1@remote.test>\r\n"
		 "In-Reply-To: <p@remote.test> <q@remote.test>\r\n\r\n");
	in.headerlen = strlen(h);
	format(&m, &in);
	T_EQ_STR(field(&m, "References"), "<m1@remote.test>");
	free(m.text);
	/* A msg-id of 251 octets is one too many. */
	memset(refs, 'x', 251);
	snprintf(h, sizeof(h), "Message-ID: <%.251s>\r\n\r\n", refs);
	in.headerlen = strlen(h);
	format(&m, &in);
	T_EQ_STR(field(&m, "In-Reply-To"), "");
	free(m.text);
	snprintf(h, sizeof(h), "Message-ID: <%.250s>\r\n\r\n", refs);
	in.headerlen = strlen(h);
	format(&m, &in);
	T_ASSERT(strlen(field(&m, "In-Reply-To")) == 252);
	free(m.text);
	/* 20 References: the last 9 and the Message-ID; junk between. */
	for (int i = 0; i < 20; i++)
		n += (size_t)snprintf(refs + n, sizeof(refs) - n,
				      "<r%d@x.test> junk\r\n ", i);
	snprintf(h, sizeof(h),
		 "Message-ID: (c) <m1@remote.test> (c)\r\n"
		 "References: %s\r\n\r\n", refs);
	in.headerlen = strlen(h);
	format(&m, &in);
	T_EQ_STR(field(&m, "In-Reply-To"), "<m1@remote.test>");
	n = 0;
	for (int i = 11; i < 20; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n,
				      "<r%d@x.test> ", i);
	snprintf(want + n, sizeof(want) - n, "<m1@remote.test>");
	T_EQ_STR(field(&m, "References"), want);
	free(m.text);
}

T_TEST(autoreply_format_echo)
{
	struct autoreply_in in;
	struct msg m;

	sample(&in);
	in.mode = "ECHO";
	format(&m, &in);
	T_ASSERT(strncmp(m.body, "I am away.\r\nBack on Monday.\r\n\r\n"
				 "> Received: from mx.remote.test ", 63) == 0);
	T_ASSERT(strstr(m.body,
			"\r\n> \tby mx.example.org with ESMTPS id Q1\r\n"));
	T_ASSERT(strstr(m.body, "\r\n>  friday?\r\n"));
	T_ASSERT(strstr(m.body, "\r\n> \t<r2@remote.test>\r\n"));
	/* The header only: the body of the original is not echoed. */
	T_ASSERT(strstr(m.body, "the body") == NULL);
	T_EQ_STR(m.body + strlen(m.body) - 21, "> \t<r2@remote.test>\r\n");
	T_EQ_STR(field(&m, "Content-Transfer-Encoding"), "7bit");
	free(m.text);
	in.mode = "reply";
	format(&m, &in);
	T_ASSERT(strstr(m.body, "> ") == NULL);
	free(m.text);
}

T_TEST(autoreply_format_echo_hostile)
{
	struct autoreply_in in;
	struct msg m;
	char *h = malloc(200000), *body;
	size_t n = 0;

	sample(&in);
	in.mode = "echo";
	/* NUL, a lone CR, bad UTF-8, good UTF-8, a 100 KB line. */
	memcpy(h, "X-A: a\0b\rc\xff\xc3\xa9\r\nX-B: ", 20);
	n = 20;
	memset(h + n, 'b', 100000);
	n += 100000;
	memcpy(h + n, "\r\nX-C: c\r\n", 10);
	n += 10;
	in.header = h;
	in.headerlen = n;
	format(&m, &in);
	T_EQ_STR(field(&m, "Content-Transfer-Encoding"), "quoted-printable");
	T_EQ_STR(field(&m, "Content-Type"), "text/plain; charset=utf-8");
	body = qp_decode(m.body);
	T_ASSERT(strstr(body, "\r\n> X-A: a?b?c?\xc3\xa9\r\n> X-B: bbb"));
	T_ASSERT(strstr(body, "\r\n> X-C: c\r\n") != NULL);
	/* The long line is cut so that "> " and it hold 998 octets. */
	const char *xb = strstr(body, "> X-B: ");
	T_EQ_INT(strstr(xb, "\r\n") - xb, AUTOREPLY_LINE_MAX);
	free(body);
	free(m.text);
	/* Past AUTOREPLY_ECHO_MAX: cut at a line, and said. */
	n = 0;
	for (int i = 0; n < 150000; i++)
		n += (size_t)snprintf(h + n, 200000 - n, "X-%d: %0100d\r\n", i,
				      i);
	in.headerlen = n;
	format(&m, &in);
	T_EQ_STR(field(&m, "Content-Transfer-Encoding"), "7bit");
	T_ASSERT(strlen(m.body) < AUTOREPLY_ECHO_MAX + 100);
	T_ASSERT(strcmp(m.body + strlen(m.body) - 9, "> [...]\r\n") == 0);
	T_ASSERT(strstr(m.body, "\r\n> X-0: ") != NULL);
	free(m.text);
	free(h);
}

T_TEST(autoreply_format_8bit_and_long_text)
{
	struct autoreply_in in;
	struct msg m;
	char *body, *text = malloc(5000), *want = malloc(5000);

	sample(&in);
	in.text = "Ich bin bis Montag abwesend. Gr\xc3\xbc\xc3\x9f" "e =) \n"
		  "trailing blank \nand tab\t\n";
	format(&m, &in);
	T_EQ_STR(field(&m, "Content-Type"), "text/plain; charset=utf-8");
	T_EQ_STR(field(&m, "Content-Transfer-Encoding"), "quoted-printable");
	T_ASSERT(strstr(m.body, "=C3=BC") != NULL);
	T_ASSERT(strstr(m.body, "=3D)") != NULL);
	T_ASSERT(strstr(m.body, "blank=20\r\n") != NULL);
	T_ASSERT(strstr(m.body, "tab=09\r\n") != NULL);
	body = qp_decode(m.body);
	T_EQ_STR(body, "Ich bin bis Montag abwesend. Gr\xc3\xbc\xc3\x9f" "e =) \r\n"
		       "trailing blank \r\nand tab\t\r\n");
	free(body);
	free(m.text);
	/* A line of 3000 octets: quoted-printable, us-ascii, lossless. */
	memset(text, 'x', 3000);
	strcpy(text + 3000, "\nshort\n");
	in.text = text;
	format(&m, &in);
	T_EQ_STR(field(&m, "Content-Type"), "text/plain; charset=us-ascii");
	T_EQ_STR(field(&m, "Content-Transfer-Encoding"), "quoted-printable");
	for (const char *p = m.body; *p != '\0'; p = strstr(p, "\r\n") + 2)
		T_ASSERT(strstr(p, "\r\n") - p <= 76);
	memset(want, 'x', 3000);
	strcpy(want + 3000, "\r\nshort\r\n");
	body = qp_decode(m.body);
	T_EQ_STR(body, want);
	free(body);
	free(m.text);
	/* 998 octets still go as 7bit. */
	text[998] = '\0';
	format(&m, &in);
	T_EQ_STR(field(&m, "Content-Transfer-Encoding"), "7bit");
	free(m.text);
	/* A control is encoded, in US-ASCII. */
	in.text = "form\ffeed";
	format(&m, &in);
	T_EQ_STR(field(&m, "Content-Type"), "text/plain; charset=us-ascii");
	T_EQ_STR(field(&m, "Content-Transfer-Encoding"), "quoted-printable");
	T_EQ_STR(m.body, "form=0Cfeed\r\n");
	free(m.text);
	free(text);
	free(want);
}

T_TEST(autoreply_format_hostile_header)
{
	static const char *const hdrs[] = {
		"no colon at all\r\nTo bob@example.org\r\n\r\n",
		"\r\nSubject: after the end\r\n",
		":\r\n:\r\n: \r\n",
		"Subject: no line end",
		"Subject: cut mid\r\n fol",
		"Subject\r\n: x\r\n",
		"\n\n\n",
		"Subject: lf only\nTo: bob@example.org\n\n",
		"\t\t\r\n \r\n",
		"\xff\xfe: \x80\x80\r\n",
	};
	struct autoreply_in in;
	struct msg m;
	char *big = malloc(300000);
	size_t n = 0;

	sample(&in);
	in.mode = "echo";
	for (size_t i = 0; i < UTIL_ARRAY_LEN(hdrs); i++) {
		in.header = hdrs[i];
		in.headerlen = strlen(hdrs[i]);
		T_EQ_STR(why_of(&in),
			 strstr(hdrs[i], "To: bob") ? "" : "not_addressed");
		format(&m, &in);
		free(m.text);
	}
	in.header = hdrs[7];
	in.headerlen = strlen(hdrs[7]);
	format(&m, &in);
	T_EQ_STR(subject_of(&m), "Auto: lf only");
	free(m.text);
	/* 100 KB of folding, NULs and a To: far down the header. */
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(big + n, 300000 - n,
				      "X-%d: %0*d\r\n \r\n\t", i, 60, i);
	memcpy(big + n, "z\0\0\r\nTo:\r\n x, <bob@example.org>\r\n\r\n", 35);
	n += 35;
	in.header = big;
	in.headerlen = n;
	T_EQ_STR(why_of(&in), "");
	format(&m, &in);
	free(m.text);
	in.header = NULL;
	in.headerlen = 5;
	format(&m, &in);
	T_EQ_STR(subject_of(&m), "Auto: (no subject)");
	free(m.text);
	free(big);
}

T_TEST(autoreply_format_out_full)
{
	struct autoreply_in in;
	struct buf b;
	size_t need;

	sample(&in);
	buf_init(&b, 1 << 20);
	T_EQ_INT(autoreply_format(&b, &in), 0);
	need = buf_len(&b);
	buf_free(&b);
	for (size_t max = need - 1; max + 40 > need; max -= 13) {
		buf_init(&b, 7 + max);
		T_EQ_INT(buf_append(&b, "prefix:", 7), 0);
		T_EQ_INT(autoreply_format(&b, &in), -1);
		T_EQ_SIZE(buf_len(&b), 7);
		T_ASSERT(memcmp(buf_data(&b), "prefix:", 7) == 0);
		buf_free(&b);
	}
	buf_init(&b, 7 + need);
	T_EQ_INT(buf_append(&b, "prefix:", 7), 0);
	T_EQ_INT(autoreply_format(&b, &in), 0);
	T_EQ_SIZE(buf_len(&b), 7 + need);
	buf_free(&b);
}

/* The largest answer we can make fits the room autoreply.h promises. */
T_TEST(autoreply_format_room)
{
	struct autoreply_in in;
	struct buf b;
	char *h = malloc(60000), *text = malloc(4100), id[251];
	size_t n = 0, room;

	sample(&in);
	for (int i = 0; i < 2048; i += 2)
		memcpy(text + i, "\xc3\xa9", 2);
	text[2048] = '\0';
	memset(id, 'i', 250);
	id[250] = '\0';
	n += (size_t)sprintf(h, "Subject: ");
	for (int i = 0; i < 150; i++)
		n += (size_t)sprintf(h + n, "\xc3\xa9 ");
	n += (size_t)sprintf(h + n, "\r\nMessage-ID: <%s>\r\nReferences:", id);
	for (int i = 0; i < 12; i++)
		n += (size_t)sprintf(h + n, " <%s>", id);
	n += (size_t)sprintf(h + n, "\r\n");
	while (n < 50000) {
		n += (size_t)sprintf(h + n, "X:");
		for (int i = 0; i < 400; i++)
			n += (size_t)sprintf(h + n, "\xc3\xa9");
		n += (size_t)sprintf(h + n, "\r\n");
	}
	in.header = h;
	in.headerlen = n;
	in.text = text;
	in.subject = "\xc3\xa9 $SUBJECT \xc3\xa9 $SUBJECT \xc3\xa9 $SUBJECT";
	in.mode = "echo";
	room = 4 * (2 * strlen(text) + AUTOREPLY_ECHO_MAX) + 8192;
	buf_init(&b, room);
	T_EQ_INT(autoreply_format(&b, &in), 0);
	t_mail_check_lines(buf_data(&b), buf_len(&b), AUTOREPLY_LINE_MAX);
	buf_free(&b);
	/* Lone CRs double the text. */
	memset(text, '\r', 4000);
	text[4000] = '\0';
	room = 4 * (2 * strlen(text) + AUTOREPLY_ECHO_MAX) + 8192;
	buf_init(&b, room);
	T_EQ_INT(autoreply_format(&b, &in), 0);
	buf_free(&b);
	free(h);
	free(text);
}

/* ---- Python's email package ---- */

/* Python's view of the message m (t_mail.h). */
static const char py_check[] =
	"subj = ('Gr\\u00fc\\u00dfe aus K\\u00f6ln und ' + 'sehr ' * 30 +\n"
	"        'lang')\n"
	"body = ('Bin weg. \\u00c4rger?\\n' + 'x' * 1500 + '\\n\\n> Subject: ' +\n"
	"        subj + '\\n> Message-ID: <m1@remote.test>\\n')\n"
	"assert m.get_content_type() == 'text/plain'\n"
	"assert m.get_content_charset() == 'utf-8'\n"
	"assert m['Auto-Submitted'] == 'auto-replied'\n"
	"assert m['To'] == 'alice@remote.test', m['To']\n"
	"assert m['Subject'] == 'Abwesend \\u2013 ' + subj, repr(m['Subject'])\n"
	"assert m['In-Reply-To'] == '<m1@remote.test>'\n"
	"got = m.get_content().replace('\\r\\n', '\\n')\n"
	"assert got == body, repr(got)\n"
	"for k, v in m.items():\n"
	"    assert not v.defects, (k, v.defects)\n";

T_TEST(autoreply_python_parses)
{
	char h[1024], text[2000];
	struct autoreply_in in;
	struct buf b;

	t_mail_need_python();
	sample(&in);
	snprintf(h, sizeof(h), "Subject: Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln "
		 "und%s lang\r\nMessage-ID: <m1@remote.test>\r\n\r\n",
		 " sehr sehr sehr sehr sehr sehr sehr sehr sehr sehr"
		 " sehr sehr sehr sehr sehr sehr sehr sehr sehr sehr"
		 " sehr sehr sehr sehr sehr sehr sehr sehr sehr sehr");
	in.header = h;
	in.headerlen = strlen(h);
	in.subject = "Abwesend \xe2\x80\x93 $SUBJECT";
	int n = snprintf(text, sizeof(text), "Bin weg. \xc3\x84rger?\n");
	memset(text + n, 'x', 1500);
	text[n + 1500] = '\0';
	in.text = text;
	in.mode = "echo";
	buf_init(&b, 1 << 20);
	T_EQ_INT(autoreply_format(&b, &in), 0);
	t_mail_python(py_check, buf_data(&b), buf_len(&b));
	buf_free(&b);
}
