/* smtp_data: the DATA/BDAT byte machine, fed whole and byte by byte. */
#include <stdio.h>
#include <stdlib.h>

#include "protocols/smtp_data.h"
#include "tests/unit/t.h"

struct sink {
	char out[8192];
	size_t len;
};

static void
collect(void *arg, const char *data, size_t len)
{
	struct sink *s = arg;

	T_ASSERT(s->len + len <= sizeof(s->out));
	memcpy(s->out + s->len, data, len);
	s->len += len;
}

struct feed_result {
	struct sink out;
	size_t consumed; /* up to and including the end marker */
	unsigned errors;
	bool done;
};

/* Feeds in whole (step 0) or step bytes at a time until done. */
static void
feed(const char *in, size_t len, size_t step, bool dot, uint64_t max,
     struct feed_result *r)
{
	struct smtp_data d;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	smtp_data_init(&d, dot, max, 1000);
	while (off < len && !d.done) {
		size_t n = step ? step : len - off;
		if (n > len - off)
			n = len - off;
		size_t used = smtp_data_feed(&d, in + off, n, collect, &r->out);
		T_ASSERT(used <= n);
		off += used;
		if (used < n)
			T_ASSERT(d.done);
	}
	if (!dot)
		smtp_data_finish(&d, collect, &r->out);
	r->consumed = off;
	r->errors = d.errors;
	r->done = d.done;
}

struct data_case {
	const char *name;
	const char *in;
	size_t inlen;     /* 0: strlen */
	const char *out;  /* emitted message (DATA mode) */
	size_t consumed;  /* 0: everything */
	unsigned errors;
};

#define S(x) x, sizeof(x) - 1

static void
check_cases(const struct data_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = c[i].inlen ? c[i].inlen : strlen(c[i].in);
		for (size_t step = 0; step <= 3; step++) {
			struct feed_result r;
			feed(c[i].in, len, step, true, 1 << 20, &r);
			if (!r.done)
				t_fail(__FILE__, __LINE__, "%s (step %zu): "
				       "never ended", c[i].name, step);
			T_EQ_MEM(r.out.out, r.out.len, c[i].out,
				 strlen(c[i].out));
			T_EQ_SIZE(r.consumed, c[i].consumed ? c[i].consumed
							    : len);
			if (r.errors != c[i].errors)
				t_fail(__FILE__, __LINE__, "%s: errors %x, "
				       "want %x", c[i].name, r.errors,
				       c[i].errors);
		}
	}
}

T_TEST(smtp_data_end_and_unstuffing)
{
	static const struct data_case cases[] = {
		{ "empty", ".\r\n", 0, "", 0, 0 },
		{ "simple", "a\r\nb\r\n.\r\n", 0, "a\r\nb\r\n", 0, 0 },
		{ "stuffed", "..x\r\n.\r\n", 0, ".x\r\n", 0, 0 },
		{ "dot-first", ".x\r\n.\r\n", 0, "x\r\n", 0, 0 },
		{ "double", "..\r\n.\r\n", 0, ".\r\n", 0, 0 },
		{ "dot-space", ". \r\n.\r\n", 0, " \r\n", 0, 0 },
		{ "next command stays", "hi\r\n.\r\nQUIT\r\n", 0, "hi\r\n",
		  7, 0 },
		{ "8bit", "\xc3\xa9t\xc3\xa9\r\n.\r\n", 0,
		  "\xc3\xa9t\xc3\xa9\r\n", 0, 0 },
	};
	check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Every smuggling variant is refused and never ends the message early. */
T_TEST(smtp_data_smuggling_variants)
{
	static const struct data_case cases[] = {
		/* After a bare LF no line starts: the dot is plain data. */
		{ "lf.lf", "a\n.\nMAIL\r\n.\r\n", 0, "a\n.\nMAIL\r\n", 0,
		  SMTP_DATA_E_BARE_LF },
		{ "cr.cr", "a\r.\rMAIL\r\n.\r\n", 0, "a\r.\rMAIL\r\n", 0,
		  SMTP_DATA_E_BARE_CR },
		{ "crlf.lf", "a\r\n.\nMAIL\r\n.\r\n", 0, "a\r\n\nMAIL\r\n", 0,
		  SMTP_DATA_E_BARE_LF },
		{ "lf.crlf", "a\n.\r\nMAIL\r\n.\r\n", 0, "a\n.\r\nMAIL\r\n", 0,
		  SMTP_DATA_E_BARE_LF },
		{ "cr.crlf", "a\r.\r\nMAIL\r\n.\r\n", 0, "a\r.\r\nMAIL\r\n", 0,
		  SMTP_DATA_E_BARE_CR },
		{ "bare lf", "a\nb\r\n.\r\n", 0, "a\nb\r\n", 0,
		  SMTP_DATA_E_BARE_LF },
		{ "nul", "a\0b\r\n.\r\n", 9, "a", 0, SMTP_DATA_E_NUL },
	};
	check_cases(cases, sizeof(cases) / sizeof(cases[0]) - 1);
	/* NUL: compare by hand, strlen cannot see past it. */
	struct feed_result r;
	feed("a\0b\r\n.\r\n", 9, 1, true, 1 << 20, &r);
	T_ASSERT(r.done);
	T_EQ_MEM(r.out.out, r.out.len, "a\0b\r\n", 5);
	T_EQ_INT(r.errors, SMTP_DATA_E_NUL);
}

static char *
line_of(size_t octets, const char *prefix)
{
	char *s = malloc(octets + 16);
	size_t p = strlen(prefix);

	memcpy(s, prefix, p);
	memset(s + p, 'x', octets - 2 - p);
	memcpy(s + octets - 2, "\r\n.\r\n", 6);
	return s;
}

T_TEST(smtp_data_line_limit)
{
	struct feed_result r;
	char *ok = line_of(1000, ""), *bad = line_of(1001, "");
	char *stuffed = line_of(1001, "..");

	feed(ok, strlen(ok), 0, true, 1 << 20, &r);
	T_EQ_INT(r.errors, 0);
	feed(bad, strlen(bad), 7, true, 1 << 20, &r);
	T_EQ_INT(r.errors, SMTP_DATA_E_LONG_LINE);
	/* RFC 5321 4.5.3.1.6: the transparency dot is not counted. */
	feed(stuffed, strlen(stuffed), 0, true, 1 << 20, &r);
	T_EQ_INT(r.errors, 0);
	free(ok);
	free(bad);
	free(stuffed);
}

T_TEST(smtp_data_size_limit_consumes_to_the_end)
{
	static const char in[] = "0123456789\r\n0123456789\r\n.\r\nNEXT";
	struct feed_result r;

	for (size_t step = 0; step < 3; step++) {
		feed(in, sizeof(in) - 1, step, true, 15, &r);
		T_ASSERT(r.done);
		T_EQ_INT(r.errors, SMTP_DATA_E_TOO_BIG);
		T_ASSERT(r.out.len <= 15);
		T_EQ_SIZE(r.consumed, sizeof(in) - 1 - 4);
	}
}

T_TEST(smtp_data_bdat_mode)
{
	struct feed_result r;

	/* No dot handling, a missing final CRLF is added. */
	feed(".x\r\n.\r\nlast", 11, 0, false, 1 << 20, &r);
	T_EQ_MEM(r.out.out, r.out.len, ".x\r\n.\r\nlast\r\n", 13);
	T_EQ_INT(r.errors, 0);
	feed("a\nb\r\n", 5, 1, false, 1 << 20, &r);
	T_EQ_INT(r.errors, SMTP_DATA_E_BARE_LF);
	feed("a\r", 2, 0, false, 1 << 20, &r);
	T_EQ_INT(r.errors, SMTP_DATA_E_BARE_CR);
}

T_TEST(smtp_data_error_replies)
{
	const char *enh, *text;

	T_EQ_INT(smtp_data_error_reply(0, &enh, &text), 0);
	T_EQ_INT(smtp_data_error_reply(SMTP_DATA_E_TOO_BIG |
				       SMTP_DATA_E_BARE_LF, &enh, &text), 552);
	T_EQ_STR(enh, "5.3.4");
	T_EQ_INT(smtp_data_error_reply(SMTP_DATA_E_BARE_CR, &enh, &text), 554);
	T_EQ_STR(enh, "5.5.2");
	T_EQ_INT(smtp_data_error_reply(SMTP_DATA_E_NUL, &enh, &text), 554);
	T_EQ_INT(smtp_data_error_reply(SMTP_DATA_E_LONG_LINE, &enh, &text),
		 554);
}
