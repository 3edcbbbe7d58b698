/*
 * fuzz_mail: checks shared by the fuzz targets that build mail text
 * (fuzz_autoreply, fuzz_bounce). Header-only (each target is one
 * translation unit); FUZZ_MAIL_WHAT names the target in reports.
 */
#ifndef VD_FUZZ_MAIL_H
#define VD_FUZZ_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

static _Noreturn void
fail(const char *what, const char *p, size_t n)
{
	fprintf(stderr, "%s: %s\n--- output ---\n%.*s\n--- end ---\n",
		FUZZ_MAIL_WHAT, what, (int)n, p);
	abort();
}

static inline bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Lines: 7-bit, no NUL, CRLF-ended, at most max octets before CRLF. */
static void
check_lines(const char *p, size_t n, size_t max)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == 0 || c >= 0x80)
			fail("NUL or 8-bit octet", p, n);
		if (c == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
			fail("lone CR", p, n);
		if (c == '\n') {
			if (i == 0 || p[i - 1] != '\r')
				fail("lone LF", p, n);
			if (i - 1 - start > max)
				fail("line too long", p, n);
			start = i + 1;
		}
	}
	if (start != n)
		fail("last line without CRLF", p, n);
}

#endif
