/*
 * libFuzzer target: the POP3 command stream and multi-line replies. The
 * input is split into lines, each parsed as a command (verb and
 * message-number parsing must never read past the line); then the whole
 * input is sent as a message body through the dot-stuffer, fed in pieces
 * whose sizes come from the input, and the reply is checked: no line of it
 * is a lone "." before the end (a message can never end the reply early),
 * and removing the stuffing gives back the message (RETR), or a prefix of
 * it (TOP).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/pop3_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	char *p;
	size_t n, cap;
};

static void
sink_cb(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;

	if (s->n + n > s->cap)
		abort();
	memcpy(s->p + s->n, p, n);
	s->n += n;
}

static void
check_reply(const char *msg, size_t len, const struct sink *s, bool whole)
{
	/* Unstuff line by line; only the last line may be a lone ".". */
	size_t o = 0, i = 0;
	char *un = malloc(s->n + 1);

	while (i < s->n) {
		const char *nl = memchr(s->p + i, '\n', s->n - i);
		size_t end = nl ? (size_t)(nl - s->p) + 1 : s->n;
		bool last = end == s->n;
		if (s->p[i] == '.') {
			if (end - i == 3 && s->p[i + 1] == '\r' && !last)
				abort(); /* the reply would end early */
			if (last) {
				if (end - i != 3 || memcmp(s->p + i, ".\r\n", 3))
					abort();
				break;
			}
			i++; /* the stuffed dot */
		} else if (last) {
			abort(); /* no terminator */
		}
		memcpy(un + o, s->p + i, end - i);
		o += end - i;
		i = end;
	}
	/* The reply is the message, plus a CRLF when it lacked a line end. */
	if (o > len + 2 || memcmp(un, msg, o < len ? o : len) != 0)
		abort();
	if (whole && o < len)
		abort();
	free(un);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct pop3_cmdline c;
	size_t i;

	for (size_t s = 0; s < size;) {
		const char *nl = memchr(in + s, '\n', size - s);
		size_t len = nl ? (size_t)(nl - in) - s : size - s;
		if (pop3_parse_line(in + s, len, &c) == 0 && c.arglen > 0)
			pop3_parse_msgno(c.arg, c.arglen, 100, &i);
		s += len + 1;
	}
	if (size < 2)
		return 0;
	long lines = data[0] < 128 ? -1 : data[0] - 128;
	size_t step = data[1] % 17 + 1;
	const char *msg = in + 2;
	size_t len = size - 2;
	struct pop3_stuffer st;
	struct sink s = { malloc(2 * len + 8), 0, 2 * len + 8 };
	bool done = false;

	pop3_stuff_init(&st, lines);
	for (size_t off = 0; off < len && !done; off += step)
		done = pop3_stuff(&st, msg + off,
				  off + step > len ? len - off : step, sink_cb, &s);
	pop3_stuff_end(&st, sink_cb, &s);
	check_reply(msg, len, &s, lines < 0);
	free(s.p);
	return 0;
}
