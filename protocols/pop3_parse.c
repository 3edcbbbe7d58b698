#include "protocols/pop3_parse.h"

#include <string.h>

#include "core/util.h"

int
pop3_parse_line(const char *line, size_t len, struct pop3_cmdline *r)
{
	size_t v = 0;

	memset(r, 0, sizeof(*r));
	while (v < len && v < 5 && ((line[v] >= 'A' && line[v] <= 'Z') ||
				    (line[v] >= 'a' && line[v] <= 'z')))
		v++;
	if (v == 0 || v > 4 || (v < len && line[v] != ' '))
		return -1;
	for (size_t i = 0; i < v; i++)
		r->verb[i] = (char)(line[i] & ~0x20);
	r->arg = v < len ? line + v + 1 : line + len;
	r->arglen = v < len ? len - v - 1 : 0;
	return 0;
}

int
pop3_parse_msgno(const char *s, size_t len, size_t max, size_t *i_r)
{
	uint64_t v;

	if (util_parse_u64(s, len, UINT32_MAX, &v) < 0 || v == 0 || v > max)
		return -1;
	*i_r = (size_t)v - 1;
	return 0;
}

void
pop3_stuff_init(struct pop3_stuffer *st, long body_lines)
{
	memset(st, 0, sizeof(*st));
	st->bol = true;
	st->body_lines = body_lines;
}

bool
pop3_stuff(struct pop3_stuffer *st, const char *p, size_t n,
	   pop3_out_fn *out, void *arg)
{
	size_t start = 0;

	for (size_t k = 0; k < n; k++) {
		char ch = p[k];
		if (st->bol) {
			if (st->in_body && st->body_lines == 0) {
				out(arg, p + start, k - start);
				return true;
			}
			if (ch == '.') {
				out(arg, p + start, k - start);
				out(arg, ".", 1);
				start = k;
			}
			st->bol = false;
			st->linelen = 0;
		}
		if (ch == '\n') {
			if (!st->in_body && st->linelen == 0)
				st->in_body = true; /* the header's end */
			else if (st->in_body && st->body_lines > 0)
				st->body_lines--;
			st->bol = true;
		} else if (ch != '\r') {
			st->linelen++;
		}
	}
	out(arg, p + start, n - start);
	return st->in_body && st->bol && st->body_lines == 0;
}

void
pop3_stuff_end(const struct pop3_stuffer *st, pop3_out_fn *out, void *arg)
{
	if (!st->bol)
		out(arg, "\r\n", 2);
	out(arg, ".\r\n", 3);
}
