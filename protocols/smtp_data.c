#include "protocols/smtp_data.h"

/*
 * States. BOL: at the start of a line. TEXT: inside a line. CR: a CR was
 * just seen inside a line. DOT: "." at the start of a line (DATA only; the
 * dot is dropped). DOT_CR: ".\r" at the start of a line, which is the end
 * marker if LF follows; its CR is held back until we know.
 */
enum { ST_BOL, ST_TEXT, ST_CR, ST_DOT, ST_DOT_CR };

struct run {
	struct smtp_data *d;
	const char *start; /* first byte of the pending output run */
	smtp_data_sink_fn *sink;
	void *arg;
};

void
smtp_data_init(struct smtp_data *d, bool dot_mode, uint64_t size_max,
	       size_t line_max)
{
	d->dot_mode = dot_mode;
	d->state = ST_BOL;
	d->size = 0;
	d->size_max = size_max;
	d->line_len = 0;
	d->line_max = line_max;
	d->errors = 0;
	d->done = false;
}

/* Emits [r->start, upto) unless the message already grew too big. */
static void
flush(struct run *r, const char *upto)
{
	struct smtp_data *d = r->d;
	size_t n = (size_t)(upto - r->start);

	if (n == 0)
		return;
	if (!(d->errors & SMTP_DATA_E_TOO_BIG)) {
		if (d->size + n > d->size_max) {
			d->errors |= SMTP_DATA_E_TOO_BIG;
		} else {
			r->sink(r->arg, r->start, n);
			d->size += n;
		}
	}
	r->start = upto;
}

static void
emit_const(struct run *r, const char *s, size_t n)
{
	struct smtp_data *d = r->d;

	if (d->errors & SMTP_DATA_E_TOO_BIG)
		return;
	if (d->size + n > d->size_max) {
		d->errors |= SMTP_DATA_E_TOO_BIG;
		return;
	}
	r->sink(r->arg, s, n);
	d->size += n;
}

static void
line_byte(struct smtp_data *d)
{
	if (++d->line_len > d->line_max)
		d->errors |= SMTP_DATA_E_LONG_LINE;
}

static void
end_line(struct smtp_data *d)
{
	d->line_len = 0;
	d->state = ST_BOL;
}

/* A byte seen inside a line (TEXT semantics). */
static void
text_byte(struct smtp_data *d, char c)
{
	line_byte(d);
	switch (c) {
	case '\r':
		d->state = ST_CR;
		break;
	case '\n':
		/*
		 * A bare LF ends nothing: were it a line end, LF "." CRLF
		 * would end the message early and smuggle the rest in.
		 */
		d->errors |= SMTP_DATA_E_BARE_LF;
		d->line_len = 0;
		d->state = ST_TEXT;
		break;
	case '\0':
		d->errors |= SMTP_DATA_E_NUL;
		d->state = ST_TEXT;
		break;
	default:
		d->state = ST_TEXT;
		break;
	}
}

size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
	       smtp_data_sink_fn *sink, void *arg)
{
	struct run r = { d, in, sink, arg };
	size_t i;

	for (i = 0; i < len && !d->done; i++) {
		char c = in[i];
		switch (d->state) {
		case ST_BOL:
			if (c == '.' && d->dot_mode) {
				/* RFC 5321 4.5.3.1.6: the stuffed dot is not counted. */
				flush(&r, in + i);
				r.start = in + i + 1; /* the stuffing dot goes */
				d->state = ST_DOT;
			} else {
				text_byte(d, c);
			}
			break;
		case ST_CR:
			if (c == '\n') {
				line_byte(d);
				end_line(d);
			} else {
				d->errors |= SMTP_DATA_E_BARE_CR;
				text_byte(d, c);
			}
			break;
		case ST_DOT:
			if (c == '\r') {
				line_byte(d);
				flush(&r, in + i);
				r.start = in + i + 1; /* hold the CR back */
				d->state = ST_DOT_CR;
			} else {
				text_byte(d, c);
			}
			break;
		case ST_DOT_CR:
			if (c == '\n') {
				r.start = in + i + 1;
				d->done = true;
				end_line(d);
				break;
			}
			d->errors |= SMTP_DATA_E_BARE_CR;
			flush(&r, in + i);
			emit_const(&r, "\r", 1);
			text_byte(d, c);
			break;
		default: {
			/* Fast path: the ordinary bytes up to the next CR/LF/NUL. */
			size_t run = i;
			while (run < len && in[run] != '\r' && in[run] != '\n' &&
			       in[run] != '\0')
				run++;
			if (run == i) {
				text_byte(d, c);
				break;
			}
			d->line_len += run - i;
			if (d->line_len > d->line_max)
				d->errors |= SMTP_DATA_E_LONG_LINE;
			d->state = ST_TEXT;
			i = run - 1;
			break;
		}
		}
	}
	if (!d->done)
		flush(&r, in + i);
	return i;
}

void
smtp_data_finish(struct smtp_data *d, smtp_data_sink_fn *sink, void *arg)
{
	struct run r = { d, NULL, sink, arg };

	if (d->state == ST_CR)
		d->errors |= SMTP_DATA_E_BARE_CR;
	if (d->state == ST_TEXT || d->state == ST_CR)
		emit_const(&r, d->state == ST_CR ? "\n" : "\r\n",
			   d->state == ST_CR ? 1 : 2);
	d->state = ST_BOL;
}

int
smtp_data_error_reply(unsigned errors, const char **enh_r, const char **text_r)
{
	if (errors & SMTP_DATA_E_TOO_BIG) {
		*enh_r = "5.3.4";
		*text_r = "Message size exceeds fixed maximum message size";
		return 552;
	}
	if (errors & (SMTP_DATA_E_BARE_LF | SMTP_DATA_E_BARE_CR)) {
		*enh_r = "5.5.2";
		*text_r = "Bare CR or LF in message text is not allowed "
			  "(RFC 5321 2.3.8)";
		return 554;
	}
	if (errors & SMTP_DATA_E_NUL) {
		*enh_r = "5.6.0";
		*text_r = "NUL byte in message text";
		return 554;
	}
	if (errors & SMTP_DATA_E_LONG_LINE) {
		*enh_r = "5.6.0";
		*text_r = "Message line longer than 1000 octets "
			  "(RFC 5321 4.5.3.1.6)";
		return 554;
	}
	return 0;
}
