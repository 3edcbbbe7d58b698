/*
 * util: small pure helpers every module shares: bounded copies, ASCII case
 * folding, strict number parsing, CRC-32, path joins.
 * Never allocates, never blocks, never touches global state.
 */
#ifndef VD_UTIL_H
#define VD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Copies at most dstsize-1 bytes of src and NUL-terminates (dstsize > 0).
 * Returns strlen(src); a result >= dstsize means the copy was truncated.
 */
size_t util_strlcpy(char *dst, const char *src, size_t dstsize);

/*
 * Copies exactly len bytes of src (which need not be NUL-terminated) into
 * dst and NUL-terminates. Returns 0, or -1 when len + 1 > dstsize (dst is
 * then left as an empty string).
 */
int util_copy(char *dst, size_t dstsize, const char *src, size_t len);

/* Formats into dst; returns 0, or -1 on truncation or encoding error. */
int util_fmt(char *dst, size_t dstsize, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ASCII-only lower-casing, in place over len bytes. */
void util_lower(char *s, size_t len);

/* ASCII case-insensitive comparison of a (length alen) with NUL-terminated b. */
bool util_is_ieq(const char *a, size_t alen, const char *b);

/* true when a (length alen) starts with prefix b, ASCII case-insensitively. */
bool util_has_iprefix(const char *a, size_t alen, const char *b);

/*
 * Parses an unsigned decimal of len bytes (no sign, no spaces, no leading
 * '+'). Returns 0 and *val_r, or -1 on empty input, junk or overflow of max.
 */
int util_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *val_r);

/*
 * Parses a size with an optional K, M or G suffix (powers of 1024), or -1.
 * Returns 0 and *val_r (-1 stays -1), or -1 on error.
 */
int util_parse_size(const char *s, size_t len, int64_t *val_r);

/* Joins dir and name with one '/'; returns 0 or -1 on truncation. */
int util_path_join(char *dst, size_t dstsize, const char *dir, const char *name);

/*
 * Escapes len bytes for a log line: printable ASCII stays, everything else
 * becomes \xNN; output is cut to fit dstsize (always NUL-terminated).
 */
void util_log_escape(char *dst, size_t dstsize, const char *src, size_t len);

struct sockaddr_storage;
/* The address part of sa as text ("192.0.2.1", "2001:db8::1"). */
void util_format_ip(const struct sockaddr_storage *sa, char *out,
		    size_t outlen);

/* Whether sa is 127.0.0.0/8, ::1 or an IPv4-mapped 127.x address. */
bool util_is_loopback(const struct sockaddr_storage *sa);

/*
 * CRC-32 (IEEE 802.3, as zlib): crc = util_crc32(0, data, len), then feed
 * further pieces with the running value.
 */
uint32_t util_crc32(uint32_t crc, const void *data, size_t len);

/* The value of a hex digit (either case), or -1. */
int util_hexval(char c);

/*
 * Decodes base64 (RFC 4648 4, padding required) into out (cap bytes).
 * Returns the decoded length, or -1 on a bad character, bad padding or
 * when it does not fit.
 */
long util_b64_decode(const char *s, size_t len, unsigned char *out,
		     size_t cap);

/* Finds byte c in s[0..len); returns its index or -1. */
long util_find(const char *s, size_t len, char c);

/*
 * An RFC 5322 3.3 date of t in UTC ("Tue, 01 Dec 2026 09:12:04 +0000"),
 * with the C names whatever the locale; size >= 32 holds it.
 */
void util_rfc5322_date(char *dst, size_t size, time_t t);

#endif
