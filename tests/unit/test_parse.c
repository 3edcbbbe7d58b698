/* smtp_parse: command lines, paths and parameters (RFC 5321, 6531, 1870). */
#include <stdio.h>

#include "protocols/smtp_parse.h"
#include "tests/unit/t.h"

T_TEST(smtp_parse_verbs)
{
	static const struct {
		const char *line;
		enum smtp_verb verb;
		const char *arg;
	} cases[] = {
		{ "EHLO mx.test", SMTP_V_EHLO, "mx.test" },
		{ "ehlo mx.test", SMTP_V_EHLO, "mx.test" },
		{ "MaIl FROM:<a@b>", SMTP_V_MAIL, "FROM:<a@b>" },
		{ "DATA", SMTP_V_DATA, "" },
		{ "QUIT", SMTP_V_QUIT, "" },
		{ "STARTTLS", SMTP_V_STARTTLS, "" },
		{ "MAILX FROM:<a@b>", SMTP_V_UNKNOWN, "FROM:<a@b>" },
		{ "", SMTP_V_UNKNOWN, "" },
		{ " NOOP", SMTP_V_UNKNOWN, "NOOP" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_parse_cmd c;
		size_t n = strlen(cases[i].line);
		T_EQ_INT(smtp_parse_command(cases[i].line, n, &c),
			 cases[i].verb);
		T_EQ_MEM(c.arg, c.arglen, cases[i].arg, strlen(cases[i].arg));
	}
}

T_TEST(smtp_parse_nul_in_line_is_unknown)
{
	struct smtp_parse_cmd c;

	T_EQ_INT(smtp_parse_command("NOOP\0x", 6, &c), SMTP_V_UNKNOWN);
	T_EQ_INT(smtp_parse_command("NO\0OP", 5, &c), SMTP_V_UNKNOWN);
}

struct path_case {
	const char *arg;
	int code;           /* 0: accepted */
	const char *addr;   /* normalised address when accepted */
};

static void
check_mail(const struct path_case *pc, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct smtp_parse_path p;
		struct smtp_parse_params prm;
		struct smtp_parse_err e = { 0, NULL, NULL };
		int rc = smtp_parse_mail(pc[i].arg, strlen(pc[i].arg), &p,
					 &prm, &e);
		if (pc[i].code == 0) {
			if (rc != 0)
				t_fail(__FILE__, __LINE__, "%s: refused %d %s",
				       pc[i].arg, e.code, e.text);
			T_EQ_STR(p.addr, pc[i].addr);
		} else {
			if (rc == 0)
				t_fail(__FILE__, __LINE__, "%s: accepted",
				       pc[i].arg);
			T_EQ_INT(e.code, pc[i].code);
		}
	}
}

T_TEST(smtp_parse_mail_paths)
{
	static const struct path_case cases[] = {
		{ "FROM:<alice@example.com>", 0, "alice@example.com" },
		{ "from:<alice@example.com>", 0, "alice@example.com" },
		{ "FROM: <alice@example.com>", 0, "alice@example.com" },
		{ "FROM:<>", 0, "" },
		{ "FROM:<@a.test,@b.test:alice@example.com>", 0,
		  "alice@example.com" },
		{ "FROM:<\"alice\"@example.com>", 0, "alice@example.com" },
		{ "FROM:<\"john doe\"@example.com>", 0,
		  "\"john doe\"@example.com" },
		{ "FROM:<\"a\\\"b\"@example.com>", 0, "\"a\\\"b\"@example.com" },
		{ "FROM:<user@[127.0.0.1]>", 0, "user@[127.0.0.1]" },
		{ "FROM:<user@[IPv6:::1]>", 0, "user@[IPv6:::1]" },
		{ "FROM:<a.b-c+d@sub.example.com>", 0, "a.b-c+d@sub.example.com" },
		{ "FROM:alice@example.com", 501, NULL },
		{ "FROM:<alice@example.com", 501, NULL },
		{ "FROM:<alice>", 501, NULL },
		{ "FROM:<alice@>", 501, NULL },
		{ "FROM:<.alice@example.com>", 501, NULL },
		{ "FROM:<al..ice@example.com>", 501, NULL },
		{ "FROM:<alice@example..com>", 501, NULL },
		{ "FROM:<alice@-example.com>", 501, NULL },
		{ "FROM:<alice@example.com.>", 501, NULL },
		{ "FROM:<al ice@example.com>", 501, NULL },
		{ "TO:<alice@example.com>", 501, NULL },
		{ "FROM:<\xc3\xa9@example.com>", 553, NULL },
		{ "FROM:<\xc3\xa9@example.com> SMTPUTF8", 0,
		  "\xc3\xa9@example.com" },
	};
	check_mail(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A syntactically valid domain of exactly n octets (labels of 9). */
static void
make_domain(char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (i % 10 == 9) ? '.' : 'a';
	if (out[n - 1] == '.')
		out[n - 1] = 'b';
	out[n] = '\0';
}

T_TEST(smtp_parse_path_lengths)
{
	char local[80], dom[300], arg[700];

	struct smtp_parse_path p;
	struct smtp_parse_params prm;
	struct smtp_parse_err e;

	/* RFC 5321 4.5.3.1.1: 64 octets of local part, not 65. */
	memset(local, 'a', 64);
	local[64] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<%s@example.com>", local);
	T_EQ_INT(smtp_parse_mail(arg, strlen(arg), &p, &prm, &e), 0);
	snprintf(arg, sizeof(arg), "FROM:<%sa@example.com>", local);
	T_EQ_INT(smtp_parse_mail(arg, strlen(arg), &p, &prm, &e), -1);
	T_EQ_INT(e.code, 501);

	/* A 256-octet path ("<a@" + domain + ">") is the most. */
	make_domain(dom, 252);
	snprintf(arg, sizeof(arg), "FROM:<a@%s>", dom);
	T_EQ_INT(smtp_parse_mail(arg, strlen(arg), &p, &prm, &e), 0);
	make_domain(dom, 253);
	snprintf(arg, sizeof(arg), "FROM:<a@%s>", dom);
	T_EQ_INT(smtp_parse_mail(arg, strlen(arg), &p, &prm, &e), -1);
	T_EQ_INT(e.code, 501);
}

T_TEST(smtp_parse_mail_params)
{
	static const struct {
		const char *arg;
		int code;
		unsigned long long size;
		enum smtp_parse_body body;
		bool utf8;
	} cases[] = {
		{ "FROM:<a@b.test> SIZE=1000", 0, 1000, SMTP_BODY_NONE, false },
		{ "FROM:<a@b.test> size=0 body=8bitmime", 0, 0,
		  SMTP_BODY_8BITMIME, false },
		{ "FROM:<a@b.test> BODY=7BIT SMTPUTF8", 0, 0, SMTP_BODY_7BIT,
		  true },
		{ "FROM:<a@b.test> SIZE=99999999999999999999", 0,
		  18446744073709551615ULL, SMTP_BODY_NONE, false },
		{ "FROM:<a@b.test> SIZE=123456789012345678901", 501, 0, 0,
		  false },
		{ "FROM:<a@b.test> SIZE=", 501, 0, 0, false },
		{ "FROM:<a@b.test> SIZE=12x", 501, 0, 0, false },
		{ "FROM:<a@b.test> SIZE=1 SIZE=2", 501, 0, 0, false },
		{ "FROM:<a@b.test> BODY=BINARYMIME", 555, 0, 0, false },
		{ "FROM:<a@b.test> RET=HDRS", 555, 0, 0, false },
		{ "FROM:<a@b.test> SMTPUTF8=yes", 501, 0, 0, false },
		{ "FROM:<a@b.test>SIZE=1", 501, 0, 0, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_parse_path p;
		struct smtp_parse_params prm;
		struct smtp_parse_err e = { 0, NULL, NULL };
		int rc = smtp_parse_mail(cases[i].arg, strlen(cases[i].arg),
					 &p, &prm, &e);
		if (cases[i].code == 0) {
			T_EQ_INT(rc, 0);
			T_ASSERT(prm.size == cases[i].size);
			T_EQ_INT(prm.body, cases[i].body);
			T_EQ_INT(prm.smtputf8, cases[i].utf8);
		} else {
			T_EQ_INT(rc, -1);
			T_EQ_INT(e.code, cases[i].code);
		}
	}
}

T_TEST(smtp_parse_rcpt_paths)
{
	static const struct {
		const char *arg;
		bool utf8;
		int code;
		const char *addr;
	} cases[] = {
		{ "TO:<bob@example.com>", false, 0, "bob@example.com" },
		{ "TO:<postmaster>", false, 0, "postmaster" },
		{ "TO:<PostMaster>", false, 0, "postmaster" },
		{ "TO:<bob>", false, 501, NULL },
		{ "TO:<>", false, 501, NULL },
		{ "TO:<bob@example.com> NOTIFY=NEVER", false, 555, NULL },
		{ "TO:<b\xc3\xb6" "b@example.com>", false, 553, NULL },
		{ "TO:<b\xc3\xb6" "b@example.com>", true, 0,
		  "b\xc3\xb6" "b@example.com" },
		{ "FROM:<bob@example.com>", false, 501, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_parse_path p;
		struct smtp_parse_err e = { 0, NULL, NULL };
		int rc = smtp_parse_rcpt(cases[i].arg, strlen(cases[i].arg),
					 cases[i].utf8, &p, &e);
		if (cases[i].code == 0) {
			T_EQ_INT(rc, 0);
			T_EQ_STR(p.addr, cases[i].addr);
		} else {
			T_EQ_INT(rc, -1);
			T_EQ_INT(e.code, cases[i].code);
		}
	}
}

T_TEST(smtp_parse_helo_and_bdat)
{
	struct smtp_parse_err e;
	uint64_t size;
	bool last;

	T_EQ_INT(smtp_parse_helo("mx.example.com", 14, &e), 0);
	T_EQ_INT(smtp_parse_helo("[192.0.2.1]", 11, &e), 0);
	T_EQ_INT(smtp_parse_helo("", 0, &e), -1);
	T_EQ_INT(smtp_parse_helo("two words", 9, &e), -1);
	T_EQ_INT(smtp_parse_helo("ctl\x01", 4, &e), -1);
	T_EQ_INT(smtp_parse_bdat("100", 3, &size, &last, &e), 0);
	T_ASSERT(size == 100 && !last);
	T_EQ_INT(smtp_parse_bdat("0 LAST", 6, &size, &last, &e), 0);
	T_ASSERT(size == 0 && last);
	T_EQ_INT(smtp_parse_bdat("7 last", 6, &size, &last, &e), 0);
	T_ASSERT(last);
	T_EQ_INT(smtp_parse_bdat("", 0, &size, &last, &e), -1);
	T_EQ_INT(smtp_parse_bdat("x", 1, &size, &last, &e), -1);
	T_EQ_INT(smtp_parse_bdat("5 FIRST", 7, &size, &last, &e), -1);
	T_EQ_INT(smtp_parse_bdat("99999999999999999999999", 23, &size, &last,
				 &e), -1);
}
