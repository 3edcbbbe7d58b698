/* buf: growth limits and the line reader, fed whole and byte by byte. */
#include <stdio.h>

#include "core/buf.h"
#include "tests/unit/t.h"

T_TEST(buf_append_stops_at_max)
{
	struct buf b;

	buf_init(&b, 8);
	T_EQ_INT(buf_append(&b, "12345", 5), 0);
	T_EQ_INT(buf_append(&b, "678", 3), 0);
	T_EQ_INT(buf_append(&b, "9", 1), -1);
	T_EQ_MEM(buf_data(&b), buf_len(&b), "12345678", 8);
	buf_consume(&b, 6);
	T_EQ_INT(buf_append(&b, "abcdef", 6), 0);
	T_EQ_MEM(buf_data(&b), buf_len(&b), "78abcdef", 8);
	buf_free(&b);
}

T_TEST(buf_printf_long_output)
{
	struct buf b;
	char big[3000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 4096);
	T_EQ_INT(buf_printf(&b, "<%s>", big), 0);
	T_EQ_SIZE(buf_len(&b), sizeof(big) + 1);
	T_EQ_INT(buf_printf(&b, "%s", big), -1);
	buf_free(&b);
}

T_TEST(buf_shrink_frees_only_when_empty)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	T_EQ_INT(buf_reserve(&b, 100000), 0);
	T_EQ_INT(buf_append(&b, "x", 1), 0);
	buf_shrink(&b, 4096);
	T_ASSERT(b.p != NULL);
	buf_consume(&b, 1);
	buf_shrink(&b, 4096);
	T_ASSERT(b.p == NULL);
	buf_free(&b);
}

struct lines {
	char got[16][64];
	int n, toolong;
};

static void
drain(struct buf *b, size_t limit, struct lines *l)
{
	const char *line;
	size_t len, used;
	int rc;

	while ((rc = buf_getline(b, limit, &line, &len, &used)) != 0) {
		if (rc < 0) {
			l->toolong++;
			continue;
		}
		snprintf(l->got[l->n++ % 16], 64, "%.*s", (int)len, line);
		buf_consume(b, used);
	}
}

/* Feeds input whole, then one byte at a time; both must agree. */
static void
check_lines(const char *in, size_t limit, const char *const *want, int nwant,
	    int toolong)
{
	for (int mode = 0; mode < 2; mode++) {
		struct buf b;
		struct lines l = { .n = 0 };
		size_t n = strlen(in);

		buf_init(&b, 4096);
		if (mode == 0) {
			T_EQ_INT(buf_append(&b, in, n), 0);
			drain(&b, limit, &l);
		} else {
			for (size_t i = 0; i < n; i++) {
				T_EQ_INT(buf_append(&b, in + i, 1), 0);
				drain(&b, limit, &l);
			}
		}
		T_EQ_INT(l.n, nwant);
		T_EQ_INT(l.toolong, toolong);
		for (int i = 0; i < nwant; i++)
			T_EQ_STR(l.got[i], want[i]);
		buf_free(&b);
	}
}

T_TEST(buf_getline_crlf_and_lf)
{
	static const char *const want[] = { "HELO a", "", "NOOP", "x\ry" };

	check_lines("HELO a\r\n\r\nNOOP\nx\ry\r\nrest", 100, want, 4, 0);
}

T_TEST(buf_getline_limit_counts_terminator)
{
	static const char *const want[] = { "12345678", "ok" };

	/* 8 octets + CRLF = 10 fits a limit of 10; 9 + CRLF does not. */
	check_lines("12345678\r\n123456789\r\nok\r\n", 10, want, 2, 1);
}

T_TEST(buf_getline_long_line_resyncs)
{
	static const char *const want[] = { "after" };
	char in[400];

	memset(in, 'a', 300);
	strcpy(in + 300, "\r\nafter\r\n");
	check_lines(in, 100, want, 1, 1);
}
