/*
 * autoreply_int: what autoreply.c (the rules, the answer) and
 * autoreply_once.c (the once-per-sender record) share. Private to
 * spool/autoreply*.c; everyone else includes spool/autoreply.h.
 */
#ifndef VD_AUTOREPLY_INT_H
#define VD_AUTOREPLY_INT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether s (n octets, n > 0) is printable US-ASCII without blanks: the
 * senders we answer (autoreply_wanted's bad_sender) and the addresses the
 * record holds (autoreply_once's EINVAL) are the same set, so one test
 * serves both.
 */
static inline bool
autoreply_is_token(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return n > 0;
}

#endif
