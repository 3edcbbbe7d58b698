/*
 * smtp_data: the message body machine for DATA and BDAT (pure: bytes in,
 * bytes out through a sink, no I/O).
 * DATA mode ends only at CRLF "." CRLF and removes the dot-stuffing of
 * RFC 5321 4.5.2. BDAT mode (RFC 3030) takes bytes as they are; the caller
 * counts the chunk. Both modes check every line:
 *   - a bare LF or bare CR (not part of CRLF) is an error: \n.\n, \r.\r
 *     and the like never end a message, and the message is refused, so an
 *     SMTP smuggling attempt cannot split one message into two;
 *   - a NUL byte is an error;
 *   - a line over line_max octets (CRLF included) is an error;
 *   - more than size_max octets of text is an error; output stops there
 *     but input is still consumed up to the end, so the session stays in
 *     step with the client.
 * Errors are latched in d->errors and reported by the session after the
 * end of the message, with smtp_data_error_reply.
 */
#ifndef VD_SMTP_DATA_H
#define VD_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	SMTP_DATA_E_BARE_LF = 1u << 0,
	SMTP_DATA_E_BARE_CR = 1u << 1,
	SMTP_DATA_E_NUL = 1u << 2,
	SMTP_DATA_E_LONG_LINE = 1u << 3,
	SMTP_DATA_E_TOO_BIG = 1u << 4,
};

typedef void smtp_data_sink_fn(void *arg, const char *data, size_t len);

struct smtp_data {
	bool dot_mode;  /* DATA (true) or BDAT (false) */
	int state;
	uint64_t size;  /* octets emitted */
	uint64_t size_max;
	size_t line_len;
	size_t line_max;
	unsigned errors;
	bool done;      /* DATA: the terminating CRLF.CRLF was consumed */
};

void smtp_data_init(struct smtp_data *d, bool dot_mode, uint64_t size_max,
		    size_t line_max);

/*
 * Consumes input up to len bytes and emits message text to sink. In DATA
 * mode it stops right after the end marker (d->done) and returns the bytes
 * consumed, which may be less than len (what follows is the next command).
 */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t len,
		      smtp_data_sink_fn *sink, void *arg);

/* BDAT LAST: completes a last line that lacks its CRLF. */
void smtp_data_finish(struct smtp_data *d, smtp_data_sink_fn *sink,
		      void *arg);

/* The reply for latched errors: 0 when there is none. */
int smtp_data_error_reply(unsigned errors, const char **enh_r,
			  const char **text_r);

#endif
