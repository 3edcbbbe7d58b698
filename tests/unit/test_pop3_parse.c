/* pop3_parse and sasl: command lines, message numbers, byte-stuffing fed
 * whole and byte by byte, TOP's line counting, PLAIN and LOGIN decoding. */
#include <stdlib.h>
#include <string.h>

#include "core/sasl.h"
#include "protocols/pop3_parse.h"
#include "tests/unit/t.h"

T_TEST(pop3_parse_lines_and_numbers)
{
	struct pop3_cmdline c;
	size_t i;

	T_ASSERT(pop3_parse_line("retr 12", 7, &c) == 0);
	T_EQ_STR(c.verb, "RETR");
	T_EQ_MEM(c.arg, c.arglen, "12", 2);
	T_ASSERT(pop3_parse_line("QUIT", 4, &c) == 0 && c.arglen == 0);
	T_ASSERT(pop3_parse_line("TOP 1 10", 8, &c) == 0);
	T_EQ_STR(c.verb, "TOP");
	T_ASSERT(pop3_parse_line("", 0, &c) < 0);
	T_ASSERT(pop3_parse_line(" STAT", 5, &c) < 0);
	T_ASSERT(pop3_parse_line("STATS", 5, &c) < 0);
	T_ASSERT(pop3_parse_line("ST4T", 4, &c) < 0);
	T_ASSERT(pop3_parse_line("STAT\t1", 6, &c) < 0);
	T_ASSERT(pop3_parse_msgno("3", 1, 3, &i) == 0 && i == 2);
	T_ASSERT(pop3_parse_msgno("4", 1, 3, &i) < 0);
	T_ASSERT(pop3_parse_msgno("0", 1, 3, &i) < 0);
	T_ASSERT(pop3_parse_msgno("-1", 2, 3, &i) < 0);
	T_ASSERT(pop3_parse_msgno("+1", 2, 3, &i) < 0);
	T_ASSERT(pop3_parse_msgno("1 ", 2, 3, &i) < 0);
	T_ASSERT(pop3_parse_msgno("99999999999999999999", 20, 3, &i) < 0);
}

struct sink {
	char buf[4096];
	size_t n;
};

static void
sink_cb(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;

	T_ASSERT(s->n + n < sizeof(s->buf));
	memcpy(s->buf + s->n, p, n);
	s->n += n;
}

/* The reply for msg with TOP lines (or -1), fed whole and byte by byte. */
static void
stuffed(const char *msg, long lines, const char *want)
{
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		struct pop3_stuffer st;
		struct sink s = { .n = 0 };
		size_t len = strlen(msg);
		bool done = false;

		pop3_stuff_init(&st, lines);
		if (!bytewise)
			done = pop3_stuff(&st, msg, len, sink_cb, &s);
		for (size_t i = 0; bytewise && i < len && !done; i++)
			done = pop3_stuff(&st, msg + i, 1, sink_cb, &s);
		pop3_stuff_end(&st, sink_cb, &s);
		s.buf[s.n] = '\0';
		if (strcmp(s.buf, want) != 0)
			t_fail(__FILE__, __LINE__, "%s: got \"%s\" want \"%s\"",
			       bytewise ? "byte by byte" : "whole", s.buf, want);
	}
}

T_TEST(pop3_stuffing_and_top)
{
	stuffed("A: b\r\n\r\n.x\r\n..\r\n.\r\n", -1,
		"A: b\r\n\r\n..x\r\n...\r\n..\r\n.\r\n");
	stuffed("no newline", -1, "no newline\r\n.\r\n");
	stuffed("", -1, ".\r\n");
	stuffed("H: 1\r\n\r\nl1\r\nl2\r\nl3\r\n", 2, "H: 1\r\n\r\nl1\r\nl2\r\n.\r\n");
	stuffed("H: 1\r\n\r\nl1\r\n", 0, "H: 1\r\n\r\n.\r\n");
	stuffed("H: 1\r\n\r\n.l1\r\n", 5, "H: 1\r\n\r\n..l1\r\n.\r\n");
	stuffed("H: 1\r\nno body", 3, "H: 1\r\nno body\r\n.\r\n");
	stuffed("H: 1\n\n.bare\nlf\n", 1, "H: 1\n\n..bare\n.\r\n");
}

static const char *
b64(const char *in, size_t n)
{
	static const char t[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static char out[4096];
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)in[i] << 16 |
			     (i + 1 < n ? (unsigned char)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? (unsigned char)in[i + 2] : 0);
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static int
plain(const char *raw, size_t n, struct sasl_plain *r)
{
	const char *e = b64(raw, n);

	return sasl_plain_decode(e, strlen(e), r);
}

T_TEST(sasl_plain_and_login)
{
	struct sasl_plain r;
	char out[64];
	size_t n;

	T_ASSERT(plain("\0alice@x.test\0pw", 16, &r) == 0);
	T_EQ_STR(r.authc, "alice@x.test");
	T_EQ_STR(r.pw, "pw");
	T_EQ_SIZE(r.pwlen, 2);
	T_ASSERT(plain("a@x\0a@x\0p", 9, &r) == 0);
	T_ASSERT(plain("boss@x\0a@x\0p", 12, &r) < 0);   /* proxy login */
	T_ASSERT(plain("\0\0p", 3, &r) < 0);             /* no authcid */
	T_ASSERT(plain("\0a@x", 4, &r) < 0);             /* no password part */
	T_ASSERT(plain("\0a@x\0p\0q", 8, &r) < 0);        /* NUL in password */
	T_ASSERT(plain("\0a@x\0", 5, &r) == 0 && r.pwlen == 0);
	T_ASSERT(sasl_plain_decode("not base64!", 11, &r) < 0);
	T_ASSERT(sasl_plain_decode("", 0, &r) < 0);
	T_EQ_STR(r.authc, ""); /* wiped on failure */
	char big[3000];
	memset(big, 'x', sizeof(big));
	big[0] = '\0';
	big[10] = '\0';
	T_ASSERT(plain(big, sizeof(big), &r) < 0);       /* password too long */
	T_ASSERT(sasl_login_decode("YWxpY2U=", 8, out, sizeof(out), &n) == 0);
	T_EQ_STR(out, "alice");
	T_ASSERT(sasl_login_decode("YQBi", 4, out, sizeof(out), &n) < 0);
	T_ASSERT(sasl_login_decode("%%%%", 4, out, sizeof(out), &n) < 0);
}
