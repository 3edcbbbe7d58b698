/*
 * pop3_parse: the pure half of POP3 (RFC 1939): command lines, message
 * numbers, and the byte-stuffing of a multi-line reply (a line starting
 * with '.' gets one more, RFC 1939 3; TOP stops after n body lines).
 * No state of its own, no I/O: fed whole or byte by byte it gives the
 * same output, which the unit tests and the fuzz target check.
 */
#ifndef VD_POP3_PARSE_H
#define VD_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>

struct pop3_cmdline {
	char verb[8];      /* upper-cased; at most 4 letters (RFC 1939 3) */
	const char *arg;   /* after one space, into the caller's line */
	size_t arglen;
};

/* 0, or -1 when the line does not start with a verb of 1-4 letters
 * followed by the end or one space. */
int pop3_parse_line(const char *line, size_t len, struct pop3_cmdline *r);

/* A message number: decimal 1..max (no sign, no spaces): 0 and *i_r
 * (zero-based), or -1. */
int pop3_parse_msgno(const char *s, size_t len, size_t max, size_t *i_r);

struct pop3_stuffer {
	bool bol;         /* at the start of a line */
	bool in_body;     /* past the empty line ending the header */
	long body_lines;  /* TOP: body lines still to send; -1 = all */
	size_t linelen;   /* bytes of the current line, CR and LF aside */
};

typedef void pop3_out_fn(void *arg, const char *p, size_t n);

void pop3_stuff_init(struct pop3_stuffer *st, long body_lines);
/* Passes p[0..n) to out with dots stuffed; true once TOP's lines are out
 * (the rest of the input is then not needed). */
bool pop3_stuff(struct pop3_stuffer *st, const char *p, size_t n,
		pop3_out_fn *out, void *arg);
/* Ends the reply: CRLF when the last line had no line end, then ".CRLF". */
void pop3_stuff_end(const struct pop3_stuffer *st, pop3_out_fn *out,
		    void *arg);

#endif
