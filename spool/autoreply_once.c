/*
 * autoreply_once: the disk half of autoreply (contracts in autoreply.h):
 * the once-per-sender record, the replytimeout period, and the
 * generalized time of vacationStartDate / vacationEndDate. The rules and
 * the answer's text are autoreply.c's.
 */
#include "spool/autoreply.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "spool/autoreply_int.h"

#define SKEW 86400  /* how far in the future a recorded time may be */

/* A line of the record, "SECONDS ADDRESS". 0, or -1 when malformed. */
static int
parse_entry(const char *p, size_t n, long long *t_r, const char **addr_r,
	    size_t *alen_r)
{
	const char *sp = memchr(p, ' ', n);
	uint64_t t;

	if (sp == NULL ||
	    util_parse_u64(p, (size_t)(sp - p), INT64_MAX, &t) < 0)
		return -1;
	*addr_r = sp + 1;
	*alen_r = n - (size_t)(sp + 1 - p);
	*t_r = (long long)t;
	return *alen_r <= AUTOREPLY_ADDR_MAX &&
	       autoreply_is_token(*addr_r, *alen_r) ? 0 : -1;
}

/* Reads fd to its end or until b is full (the rest is ignored). */
static int
read_all(int fd, struct buf *b)
{
	for (;;) {
		size_t avail;
		char *p = buf_tail(b, 65536, &avail);
		ssize_t n;

		if (p == NULL)
			return buf_room(b) == 0 ? 0 : -1;
		n = read(fd, p, avail);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : 0;
		buf_commit(b, (size_t)n);
	}
}

/* The record as it is; empty when missing, a link or not a regular file
 * (O_NONBLOCK: a FIFO put there must not hang the loop). */
static int
read_state(int box_fd, struct buf *b)
{
	int fd = openat(box_fd, AUTOREPLY_STATE_FILE,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : -1;
	if (fstat(fd, &st) < 0)
		rc = -1;
	else if (S_ISREG(st.st_mode))
		rc = read_all(fd, b);
	close(fd);
	return rc;
}

/*
 * The new record into out: sender now, then the old entries still
 * running, in their order, up to the cap. A line without its LF (cut by
 * the size cap, or damaged) is ignored. Returns 1 when sender's entry is
 * still running (out is then of no use), 0, or -1 (out of memory).
 */
static int
merge(struct buf *out, const struct buf *old, const char *sender,
      time_t now, time_t timeout)
{
	const char *p = buf_data(old), *lf, *a;
	size_t len = buf_len(old), off = 0, kept = 1, alen;
	long long t;

	if (buf_printf(out, "%lld %s\n", (long long)now, sender) < 0)
		return -1;
	while (off < len && (lf = memchr(p + off, '\n', len - off)) != NULL) {
		size_t n = (size_t)(lf - p) - off;

		bool running = parse_entry(p + off, n, &t, &a, &alen) == 0 &&
			       t <= (long long)now + SKEW &&
			       (long long)now - t < timeout;

		if (running && util_is_ieq(a, alen, sender))
			return 1;
		if (running && kept < AUTOREPLY_STATE_MAX) {
			if (buf_printf(out, "%.*s\n", (int)n, p + off) < 0)
				return -1;
			kept++;
		}
		off += n + 1;
	}
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k, n -= (size_t)k;
	}
	return 0;
}

/* Temporary file and rename: a reader sees the old record or the new. */
static int
write_state(int box_fd, const struct buf *b)
{
	char tmp[64];
	int fd, rc, err;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", AUTOREPLY_STATE_FILE,
		 (long)getpid());
	unlinkat(box_fd, tmp, 0); /* a crash's leftover of this pid */
	fd = openat(box_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			     O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	rc = write_all(fd, buf_data(b), buf_len(b));
	if (close(fd) < 0)
		rc = -1;
	if (rc == 0 && renameat(box_fd, tmp, box_fd, AUTOREPLY_STATE_FILE) == 0)
		return 0;
	err = errno;
	unlinkat(box_fd, tmp, 0);
	errno = err;
	return -1;
}

int
autoreply_once(int box_fd, const char *sender, time_t now, time_t timeout)
{
	char addr[AUTOREPLY_ADDR_MAX + 1];
	size_t n = sender != NULL ? strlen(sender) : 0;
	struct buf old, out;
	int rc, err;

	/* NULL fails as "" does: no token. */
	if (n > AUTOREPLY_ADDR_MAX || !autoreply_is_token(sender, n)) {
		errno = EINVAL;
		return -1;
	}
	if (timeout <= 0)
		return 0;
	memcpy(addr, sender, n + 1);
	util_lower(addr, n);
	buf_init(&old, AUTOREPLY_STATE_BYTES);
	buf_init(&out, AUTOREPLY_STATE_BYTES + AUTOREPLY_ADDR_MAX + 32);
	rc = read_state(box_fd, &old);
	if (rc == 0)
		rc = merge(&out, &old, addr, now, timeout);
	if (rc == 0)
		rc = write_state(box_fd, &out);
	err = errno;
	buf_free(&old);
	buf_free(&out);
	errno = err;
	return rc;
}

time_t
autoreply_timeout(int64_t hours)
{
	if (hours < 0)
		hours = AUTOREPLY_DEFAULT_HOURS;
	if (hours > AUTOREPLY_MAX_HOURS)
		hours = AUTOREPLY_MAX_HOURS;
	return (time_t)hours * 3600;
}

/* ---- generalized time ---- */

#define ZONE_BAD (-1000000L)

/* n digits at *s as a number, *s moved past them; -1 if not all digits. */
static int
digits(const char **s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*s)++) {
		if (**s < '0' || **s > '9')
			return -1;
		v = v * 10 + (**s - '0');
	}
	return v;
}

/* "Z", +HH[MM], -HH[MM] or nothing: seconds east of UTC, or ZONE_BAD. */
static long
zone(const char **s)
{
	int sign = **s == '+' ? 1 : **s == '-' ? -1 : 0, h, m = 0;

	if (**s == 'Z') {
		(*s)++;
		return 0;
	}
	if (sign == 0)
		return 0;
	(*s)++;
	h = digits(s, 2);
	if (**s >= '0' && **s <= '9')
		m = digits(s, 2);
	if (h < 0 || h > 23 || m < 0 || m > 59)
		return ZONE_BAD;
	return sign * (h * 3600L + m * 60L);
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, y >= 1970). */
static long long
days_since_epoch(int y, int m, int d)
{
	static const int cum[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243,
				     273, 304, 334 };
	int p = y - 1;
	long long leaps = (p / 4 - p / 100 + p / 400) -
			  (1969 / 4 - 1969 / 100 + 1969 / 400);

	return 365LL * (y - 1970) + leaps + cum[m - 1] +
	       (m > 2 && is_leap(y)) + d - 1;
}

/* f: year, month, day, hour, minute, second; all in range (second 60: a
 * leap second, RFC 4517 3.3.13 allows it). */
static bool
fields_ok(const int f[6])
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
				       31, 30, 31 };

	for (int i = 0; i < 6; i++)
		if (f[i] < 0)
			return false;
	return f[0] >= 1970 && f[1] >= 1 && f[1] <= 12 && f[2] >= 1 &&
	       f[2] <= mdays[f[1] - 1] &&
	       (f[1] != 2 || f[2] < 29 || is_leap(f[0])) && f[3] <= 23 &&
	       f[4] <= 59 && f[5] <= 60;
}

time_t
autoreply_parse_gentime(const char *s)
{
	int f[6] = { 0, 0, 0, 0, 0, 0 }, parts = 3;
	long long t;
	long off;

	if (s == NULL)
		return -1;
	f[0] = digits(&s, 4);
	f[1] = f[0] < 0 ? -1 : digits(&s, 2);
	f[2] = f[1] < 0 ? -1 : digits(&s, 2);
	while (f[2] >= 0 && parts < 6 && *s >= '0' && *s <= '9')
		f[parts++] = digits(&s, 2);
	if (parts > 3 && (*s == '.' || *s == ',') && s[1] >= '0' && s[1] <= '9')
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	off = zone(&s);
	if (off == ZONE_BAD || *s != '\0' || !fields_ok(f))
		return -1;
	t = days_since_epoch(f[0], f[1], f[2]) * 86400 + f[3] * 3600LL +
	    f[4] * 60LL + f[5] - off;
	return t < 0 ? -1 : (time_t)t;
}
