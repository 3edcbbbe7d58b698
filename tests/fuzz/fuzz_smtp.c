/*
 * libFuzzer target: the SMTP client byte stream. The first byte picks
 * what the rest goes through: command lines (line reader with the SMTP
 * limit, then every command parser), a DATA body, or a BDAT body, fed in
 * pieces whose sizes come from the input too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "protocols/smtp_data.h"
#include "protocols/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
commands(const char *in, size_t len)
{
	struct buf b;
	const char *line;
	size_t n, used;
	int rc;

	buf_init(&b, 4096);
	for (size_t off = 0; off < len;) {
		size_t piece = len - off < 97 ? len - off : 97;
		if (buf_append(&b, in + off, piece) < 0)
			abort(); /* the reader must keep the buffer drained */
		off += piece;
		while ((rc = buf_getline(&b, 1000, &line, &n, &used)) != 0) {
			if (rc < 0)
				continue;
			if (n + 2 > 1000 + 1)
				abort();
			struct smtp_parse_cmd c;
			struct smtp_parse_path p;
			struct smtp_parse_params prm;
			struct smtp_parse_err e;
			uint64_t sz;
			bool last;
			switch (smtp_parse_command(line, n, &c)) {
			case SMTP_V_HELO:
			case SMTP_V_EHLO:
				smtp_parse_helo(c.arg, c.arglen, &e);
				break;
			case SMTP_V_MAIL:
				if (smtp_parse_mail(c.arg, c.arglen, &p, &prm,
						    &e) == 0 &&
				    strlen(p.addr) >= sizeof(p.addr))
					abort();
				break;
			case SMTP_V_RCPT:
				smtp_parse_rcpt(c.arg, c.arglen, c.arglen & 1,
						&p, &e);
				break;
			case SMTP_V_BDAT:
				smtp_parse_bdat(c.arg, c.arglen, &sz, &last, &e);
				break;
			default:
				break;
			}
			buf_consume(&b, used);
		}
	}
	buf_free(&b);
}

static void
count(void *arg, const char *d, size_t n)
{
	(void)d;
	*(size_t *)arg += n;
}

static void
body(const char *in, size_t len, bool dot, unsigned step)
{
	struct smtp_data d;
	size_t out = 0, off = 0;

	smtp_data_init(&d, dot, 4096, 1000);
	while (off < len && !d.done) {
		size_t n = step ? step : len - off;
		if (n > len - off)
			n = len - off;
		size_t used = smtp_data_feed(&d, in + off, n, count, &out);
		if (used > n || (used < n && !d.done))
			abort();
		off += used;
	}
	if (!dot)
		smtp_data_finish(&d, count, &out);
	if (out > 4096 || out != d.size)
		abort();
	if (d.done && (off < 3 || memcmp(in + off - 3, ".\r\n", 3) != 0))
		abort(); /* only CRLF.CRLF (or a leading .CRLF) ends DATA */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const char *in = (const char *)data + 2;
	size_t len = size - 2;
	switch (data[0] % 3) {
	case 0:
		commands(in, len);
		break;
	case 1:
		body(in, len, true, data[1] % 8);
		break;
	default:
		body(in, len, false, data[1] % 8);
		break;
	}
	return 0;
}
