#include "spool/mboxfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdb/tbl_rec.h"
#include "core/util.h"

#define MBOX_CHUNK 65536

/* Opens (making it) each directory of relpath below dir_fd; the last
 * component's name goes to *leaf_r. The directory fd, or -1. */
static int
open_parent(int dir_fd, const char *relpath, const char **leaf_r)
{
	char comp[TBL_PATH_MAX];
	const char *p = relpath, *slash;
	int fd = dup(dir_fd);

	while (fd >= 0 && (slash = strchr(p, '/')) != NULL) {
		size_t n = (size_t)(slash - p);
		int next;
		if (util_copy(comp, sizeof(comp), p, n) < 0) {
			close(fd);
			return errno = ENAMETOOLONG, -1;
		}
		if (mkdirat(fd, comp, 0700) < 0 && errno != EEXIST) {
			close(fd);
			return -1;
		}
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*leaf_r = p;
	return fd;
}

struct out {
	int fd;
	char buf[MBOX_CHUNK];
	size_t len;
	bool bol;      /* at the start of a line */
	bool cr;       /* a CR waits: dropped if an LF follows */
	int err;
};

static void
out_flush(struct out *o)
{
	size_t done = 0;

	while (o->err == 0 && done < o->len) {
		ssize_t n = write(o->fd, o->buf + done, o->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			o->err = n < 0 ? errno : EIO;
		else
			done += (size_t)n;
	}
	o->len = 0;
}

static void
out_put(struct out *o, const char *p, size_t n)
{
	while (n > 0) {
		size_t k = sizeof(o->buf) - o->len < n ? sizeof(o->buf) - o->len
						       : n;
		memcpy(o->buf + o->len, p, k);
		o->len += k;
		p += k;
		n -= k;
		if (o->len == sizeof(o->buf))
			out_flush(o);
	}
}

/* ">*From " at a line start: mboxrd quotes it (RFC 4155, mboxrd). */
static bool
is_from_line(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] == '>')
		i++;
	return n - i >= 5 && memcmp(p + i, "From ", 5) == 0;
}

/* Whole lines of the message (a line longer than a chunk comes in
 * pieces, tested at its real start only): CRLF -> LF, quoting at line
 * starts. */
static void
put_text(struct out *o, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) + 1 : n;
		if (o->cr && p[0] != '\n')
			out_put(o, "\r", 1); /* a lone CR stays */
		o->cr = false;
		if (o->bol && is_from_line(p, k))
			out_put(o, ">", 1);
		size_t body = k;
		if (nl != NULL) {
			body = k - 1;
			if (body > 0 && p[body - 1] == '\r')
				body--;
		} else if (k > 0 && p[k - 1] == '\r') {
			body = k - 1; /* maybe the CR of a CRLF cut here */
			o->cr = true;
		}
		out_put(o, p, body);
		if (nl != NULL)
			out_put(o, "\n", 1);
		o->bol = nl != NULL;
		p += k;
		n -= k;
	}
}

static void
from_line(struct out *o, const char *sender, time_t arrival)
{
	char line[TBL_ADDR_MAX + 64], date[32];
	struct tm tm;

	gmtime_r(&arrival, &tm);
	/* asctime's form, RFC 4155 2: "Mon Nov 30 12:00:00 2026" */
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
	snprintf(line, sizeof(line), "From %s %s\n",
		 sender[0] ? sender : "MAILER-DAEMON", date);
	out_put(o, line, strlen(line));
}

static enum mboxfile_result
copy_message(struct out *o, int msg_fd, uint64_t off, uint64_t len,
	     char *why, size_t whylen)
{
	char buf[MBOX_CHUNK];

	while (len > 0 && o->err == 0) {
		ssize_t n = pread(msg_fd, buf, len < sizeof(buf) ? len
							    : sizeof(buf),
				  (off_t)off);
		size_t use;
		if (n <= 0) {
			snprintf(why, whylen, "reading the queued message: %s",
				 n < 0 ? strerror(errno) : "short file");
			return MBOXFILE_TEMP;
		}
		/* Whole lines only, so each line start is seen whole; the
		 * rest is read again with the next chunk. */
		use = (size_t)n;
		if ((uint64_t)n < len) {
			const char *last = memrchr(buf, '\n', (size_t)n);
			if (last != NULL)
				use = (size_t)(last - buf) + 1;
		}
		put_text(o, buf, use);
		off += use;
		len -= use;
	}
	if (o->cr)
		out_put(o, "\r", 1);
	out_put(o, o->bol ? "\n" : "\n\n", o->bol ? 1 : 2);
	out_flush(o);
	return MBOXFILE_OK;
}

static enum mboxfile_result
append_locked(struct out *o, const char *sender, time_t arrival, int msg_fd,
	      uint64_t off, uint64_t len, char *why, size_t whylen)
{
	struct stat st;
	enum mboxfile_result rc;

	if (fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "not a regular file");
		return MBOXFILE_PERM;
	}
	o->bol = true;
	from_line(o, sender, arrival);
	rc = copy_message(o, msg_fd, off, len, why, whylen);
	if (rc == MBOXFILE_OK && o->err == 0 && fsync(o->fd) < 0)
		o->err = errno;
	if (rc == MBOXFILE_OK && o->err == 0)
		return MBOXFILE_OK;
	if (rc == MBOXFILE_OK)
		snprintf(why, whylen, "writing: %s", strerror(o->err));
	/* Nothing half-written stays for a reader. */
	if (ftruncate(o->fd, st.st_size) < 0 || fsync(o->fd) < 0)
		snprintf(why, whylen, "writing, and cutting back: %s",
			 strerror(errno));
	return MBOXFILE_TEMP;
}

enum mboxfile_result
mboxfile_append(int dir_fd, const char *relpath, const char *sender,
		time_t arrival, int msg_fd, uint64_t off, uint64_t len,
		char *why, size_t whylen)
{
	struct out *o;
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	const char *leaf;
	enum mboxfile_result rc;
	int dfd;

	if (dir_fd < 0 || !tbl_rec_is_mailbox_path(relpath, strlen(relpath))) {
		snprintf(why, whylen, dir_fd < 0 ? "file_dir is not set"
						 : "not a safe relative path");
		return MBOXFILE_PERM;
	}
	dfd = open_parent(dir_fd, relpath, &leaf);
	if (dfd < 0) {
		snprintf(why, whylen, "directory: %s", strerror(errno));
		return errno == ELOOP || errno == ENOTDIR ? MBOXFILE_PERM
							  : MBOXFILE_TEMP;
	}
	o = calloc(1, sizeof(*o)); /* 64 KiB of buffer: not on the stack */
	if (o == NULL) {
		close(dfd);
		snprintf(why, whylen, "out of memory");
		return MBOXFILE_TEMP;
	}
	o->fd = openat(dfd, leaf, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
					O_CLOEXEC, 0600);
	close(dfd);
	if (o->fd < 0) {
		snprintf(why, whylen, "open: %s", strerror(errno));
		rc = errno == ELOOP || errno == EISDIR ? MBOXFILE_PERM
						       : MBOXFILE_TEMP;
	} else if (fcntl(o->fd, F_SETLK, &lk) < 0) {
		snprintf(why, whylen, "the file is locked by another program");
		rc = MBOXFILE_TEMP;
	} else {
		rc = append_locked(o, sender, arrival, msg_fd, off, len, why,
				   whylen);
	}
	if (o->fd >= 0)
		close(o->fd); /* drops the lock */
	free(o);
	return rc;
}
