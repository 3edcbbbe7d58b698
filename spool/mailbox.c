#include "spool/mailbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define UID_LEN_MAX 70 /* RFC 1939 7 */

static void
close_keep_errno(int fd)
{
	int e = errno;

	close(fd);
	errno = e;
}

/*
 * Without openat2 (Linux < 5.6): one component at a time, none of them a
 * symbolic link. Equivalent to RESOLVE_BENEATH only because every path
 * given here has no "." or ".." component (mbox_open checks the mailbox,
 * message names come from readdir without dot files).
 */
static int
walk_beneath(int dfd, const char *path, int flags)
{
	char buf[STORE_PATH_MAX];
	char *comp = buf, *slash;
	int fd = dfd, next;

	if (util_strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	while ((slash = strchr(comp, '/')) != NULL) {
		*slash = '\0';
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
		if (fd != dfd)
			close_keep_errno(fd);
		if (next < 0)
			return -1;
		fd = next;
		comp = slash + 1;
	}
	next = openat(fd, comp, flags | O_NOFOLLOW | O_CLOEXEC);
	if (fd != dfd)
		close_keep_errno(fd);
	return next;
}

/*
 * Every open below the store goes through here: a symbolic link planted
 * anywhere on the path ("new" replaced by a link after the listing, too)
 * must not lead outside the mailbox.
 */
static int
open_beneath(int dfd, const char *path, int flags)
{
	/* No O_NOFOLLOW: with O_DIRECTORY a final link would fail ENOTDIR
	 * instead of RESOLVE_NO_SYMLINKS's ELOOP. */
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	long fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS)
		return walk_beneath(dfd, path, flags);
	return (int)fd;
}

/* Relative, no empty, "." or ".." component: RESOLVE_BENEATH alone would
 * still accept "abc.com/alice/../bob", another user's mailbox. */
static int
valid_mailbox(const char *mb)
{
	const char *p = mb;

	do {
		size_t l = strcspn(p, "/");
		if (l == 0 || (l == 1 && p[0] == '.') ||
		    (l == 2 && p[0] == '.' && p[1] == '.'))
			return -1;
		p += l;
	} while (*p++ == '/');
	return 0;
}

/* The UIDL of a file name: its base up to ':' (RFC 1939 7). 0 or -1. */
static int
uid_of(const char *fname, char *uid, size_t uidlen)
{
	size_t l = strcspn(fname, ":");

	if (l == 0 || l > UID_LEN_MAX)
		return -1;
	for (size_t i = 0; i < l; i++)
		if ((unsigned char)fname[i] < 0x21 ||
		    (unsigned char)fname[i] > 0x7e)
			return -1;
	return util_copy(uid, uidlen, fname, l);
}

static void
skip_log(const struct mbox *b, const char *sub, const char *fname,
	 const char *why)
{
	char esc[128];

	util_log_escape(esc, sizeof(esc), fname, strlen(fname));
	log_warnx("mailbox=%s skipped file=%s/%s reason=%s", b->mailbox, sub,
		  esc, why);
}

static int
grow(struct mbox *b, size_t *cap)
{
	struct mbox_msg *m;
	size_t ncap;

	if (b->n < *cap)
		return 0;
	if (*cap >= MBOX_MAX_MSGS) {
		log_warnx("mailbox=%s over %d messages: not opened", b->mailbox,
			  MBOX_MAX_MSGS);
		errno = E2BIG;
		return -1;
	}
	ncap = *cap ? *cap * 2 : 64;
	if (ncap > MBOX_MAX_MSGS)
		ncap = MBOX_MAX_MSGS;
	m = realloc(b->m, ncap * sizeof(*m));
	if (m == NULL)
		return -1;
	b->m = m;
	*cap = ncap;
	return 0;
}

/* One directory entry of sub ("new" or "cur"). 0 (listed or skipped), -1. */
static int
add_entry(struct mbox *b, size_t *cap, const char *sub, int subfd,
	  const char *fname)
{
	struct mbox_msg *m;
	struct stat sb;
	char uid[MBOX_UID_MAX];

	if (fname[0] == '.')
		return 0;
	if (uid_of(fname, uid, sizeof(uid)) < 0) {
		skip_log(b, sub, fname, "bad-uid");
		return 0;
	}
	if (fstatat(subfd, fname, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1; /* ENOENT: gone meanwhile */
	if (!S_ISREG(sb.st_mode)) {
		skip_log(b, sub, fname, "not-a-file");
		return 0;
	}
	if (grow(b, cap) < 0)
		return -1;
	m = &b->m[b->n];
	memset(m, 0, sizeof(*m));
	if (util_fmt(m->name, sizeof(m->name), "%s/%s", sub, fname) < 0) {
		skip_log(b, sub, fname, "name-too-long");
		return 0;
	}
	memcpy(m->uid, uid, sizeof(uid));
	m->size = (uint64_t)sb.st_size;
	m->in_new = sub[0] == 'n';
	b->n++;
	return 0;
}

static int
list_dir(struct mbox *b, size_t *cap, const char *sub)
{
	int fd = open_beneath(b->dfd, sub, O_RDONLY | O_DIRECTORY), rc = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if ((d = fdopendir(fd)) == NULL) {
		close_keep_errno(fd);
		return -1;
	}
	for (;;) {
		errno = 0; /* readdir reports errors only through errno */
		if ((de = readdir(d)) == NULL) {
			rc = errno ? -1 : 0;
			break;
		}
		if (add_entry(b, cap, sub, fd, de->d_name) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc < 0) {
		int e = errno;
		closedir(d);
		errno = e;
	} else {
		closedir(d);
	}
	return rc;
}

/* By uid (names start with the arrival time); of equal uids cur/ first. */
static int
cmp_msg(const void *pa, const void *pb)
{
	const struct mbox_msg *a = pa, *b = pb;
	int c = strcmp(a->uid, b->uid);

	if (c != 0)
		return c;
	if (a->in_new != b->in_new)
		return a->in_new ? 1 : -1;
	return strcmp(a->name, b->name);
}

static int
cmp_uid(const void *key, const void *elem)
{
	return strcmp(key, ((const struct mbox_msg *)elem)->uid);
}

/* RFC 1939 7: a UID names one message of the maildrop; a second file
 * with the same base (a copy left by another program) is not listed. */
static void
drop_duplicates(struct mbox *b)
{
	size_t w = 0;

	for (size_t i = 0; i < b->n; i++) {
		if (w > 0 && strcmp(b->m[w - 1].uid, b->m[i].uid) == 0) {
			skip_log(b, b->m[i].in_new ? "new" : "cur",
				 b->m[i].name + 4, "duplicate-uid");
			continue;
		}
		b->m[w++] = b->m[i];
	}
	b->n = w;
	b->total = 0;
	for (size_t i = 0; i < b->n; i++)
		b->total += b->m[i].size;
}

int
mbox_open(struct mbox *b, const struct store *st, const char *mailbox)
{
	size_t cap = 0;

	memset(b, 0, sizeof(*b));
	b->dfd = b->rfd = -1;
	if (valid_mailbox(mailbox) < 0) {
		errno = EINVAL;
		return -1;
	}
	if (util_strlcpy(b->mailbox, mailbox, sizeof(b->mailbox)) >=
	    sizeof(b->mailbox)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	b->dfd = open_beneath(st->dfd, mailbox, O_RDONLY | O_DIRECTORY);
	if (b->dfd < 0)
		return errno == ENOENT ? 0 : -1; /* no delivery yet: empty */
	if (list_dir(b, &cap, "new") < 0 || list_dir(b, &cap, "cur") < 0) {
		int e = errno;
		mbox_close(b);
		errno = e;
		return -1;
	}
	if (b->n > 0)
		qsort(b->m, b->n, sizeof(*b->m), cmp_msg);
	drop_duplicates(b);
	return 0;
}

/* The message whose file is now cur/fname (its old name gone), or NULL. */
static struct mbox_msg *
moved_here(struct mbox *b, const char *fname, char *name, size_t namelen)
{
	char uid[MBOX_UID_MAX];
	struct mbox_msg *m;

	if (fname[0] == '.' || uid_of(fname, uid, sizeof(uid)) < 0)
		return NULL;
	m = bsearch(uid, b->m, b->n, sizeof(*m), cmp_uid);
	if (m == NULL || util_fmt(name, namelen, "cur/%s", fname) < 0 ||
	    strcmp(name, m->name) == 0)
		return NULL;
	/* Still there: a copy, not a move. */
	if (faccessat(b->dfd, m->name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT)
		return NULL;
	return m;
}

/*
 * Another reader of the mailbox (an IMAP session, Dovecot) may have moved
 * a message from new/ to cur/ or changed its flags: one scan of cur/
 * finds the current name of every message whose name is gone. Returns
 * how many names changed, or -1.
 */
static int
relocate(struct mbox *b)
{
	int fd = open_beneath(b->dfd, "cur", O_RDONLY | O_DIRECTORY), moved = 0;
	char name[STORE_NAME_MAX];
	struct mbox_msg *m;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if ((d = fdopendir(fd)) == NULL) {
		close_keep_errno(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if ((m = moved_here(b, de->d_name, name, sizeof(name))) == NULL)
			continue;
		memcpy(m->name, name, sizeof(name));
		m->in_new = false;
		moved++;
	}
	closedir(d);
	return moved;
}

/* O_NONBLOCK: a FIFO put in place of the file after the listing must not
 * hang the loop in open(); the fstat then refuses it. */
static int
open_msg(const struct mbox *b, size_t i)
{
	int fd = open_beneath(b->dfd, b->m[i].name,
			      O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat sb;

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

ssize_t
mbox_read(struct mbox *b, size_t i, uint64_t off, void *buf, size_t len)
{
	if (i >= b->n || off > (uint64_t)INT64_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (b->rfd < 0 || b->ri != i) {
		if (b->rfd >= 0)
			close(b->rfd);
		b->rfd = open_msg(b, i);
		if (b->rfd < 0 && errno == ENOENT) {
			if (relocate(b) > 0)
				b->rfd = open_msg(b, i);
			else
				errno = ENOENT;
		}
		if (b->rfd < 0)
			return -1;
		b->ri = i;
	}
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	return pread(b->rfd, buf, len, (off_t)off);
}

/*
 * The name a seen message gets: cur/X:2,FLAGS with 'S' placed in ASCII
 * order (Maildir keeps flags sorted). 1 to rename, 0 to leave as it is
 * (already seen, or info other than ":2," that we do not understand).
 */
static int
seen_name(const struct mbox *b, const struct mbox_msg *m, char *out,
	  size_t outlen)
{
	const char *info = strchr(m->name + 4, ':'), *flags = "";
	size_t pos = 0;
	bool has_s;

	if (info != NULL) {
		if (strncmp(info, ":2,", 3) != 0)
			return 0;
		flags = info + 3;
	}
	has_s = strchr(flags, 'S') != NULL;
	if (has_s && !m->in_new)
		return 0;
	while (flags[pos] != '\0' && flags[pos] < 'S')
		pos++;
	if (util_fmt(out, outlen, "cur/%s:2,%.*s%s%s", m->uid, (int)pos, flags,
		     has_s ? "" : "S", flags + pos) < 0) {
		log_warnx("mailbox=%s file=%s too long to flag seen",
			  b->mailbox, m->name);
		return 0;
	}
	return 1;
}

/* What mbox_commit did. */
struct tally {
	uint64_t bytes, unlinked, renamed;
};

/*
 * One message's UPDATE step: 0 done (or nothing to do), 1 the file is
 * not there (errno ENOENT), -1 failed. fd[0], fd[1]: new/ and cur/.
 */
static int
commit_one(const struct mbox *b, struct mbox_msg *m, const int fd[2],
	   struct tally *t)
{
	char to[STORE_NAME_MAX];
	int from = fd[m->in_new ? 0 : 1];

	if (!m->deleted && (!m->seen || seen_name(b, m, to, sizeof(to)) == 0))
		return 0;
	if (from < 0) {
		errno = ENOENT;
		return 1;
	}
	if (m->deleted ? unlinkat(from, m->name + 4, 0) :
			 renameat(from, m->name + 4, fd[1], to + 4)) {
		if (errno == ENOENT)
			return 1;
		log_warn("mailbox=%s %s %s", b->mailbox,
			 m->deleted ? "unlink" : "rename", m->name);
		return -1;
	}
	if (m->deleted) {
		t->bytes += m->size;
		t->unlinked++;
	} else {
		memcpy(m->name, to, sizeof(to));
		m->in_new = false;
		t->renamed++;
	}
	return 0;
}

/* Maildir++ quota: a deletion is a negative line, appended in one write
 * so a concurrent delivery's line is never torn. */
static int
quota_sub(const struct mbox *b, uint64_t bytes, uint64_t count)
{
	int fd = open_beneath(b->dfd, "maildirsize", O_WRONLY | O_APPEND), n;
	char line[48];

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	n = snprintf(line, sizeof(line), "-%llu -%llu\n",
		     (unsigned long long)bytes, (unsigned long long)count);
	if (write(fd, line, (size_t)n) != n) {
		close_keep_errno(fd);
		return -1;
	}
	return close(fd);
}

static int
sync_dirs(const struct mbox *b, const int fd[2])
{
	int rc = 0;

	for (int k = 1; k >= 0; k--) /* cur/ holds the renamed ones */
		if (fd[k] >= 0 && fsync(fd[k]) < 0) {
			log_warn("mailbox=%s fsync %s", b->mailbox,
				 k ? "cur" : "new");
			rc = -1;
		}
	return rc;
}

int
mbox_commit(struct mbox *b)
{
	static const char *const subs[2] = { "new", "cur" };
	struct tally t = { 0, 0, 0 };
	int fd[2], rc = 0, r;
	bool relocated = false;

	if (b->dfd < 0)
		return 0;
	if (b->rfd >= 0) {
		close(b->rfd); /* names are about to change */
		b->rfd = -1;
	}
	for (int k = 0; k < 2; k++) {
		fd[k] = open_beneath(b->dfd, subs[k], O_RDONLY | O_DIRECTORY);
		if (fd[k] < 0 && errno != ENOENT) {
			log_warn("mailbox=%s open %s", b->mailbox, subs[k]);
			rc = -1;
		}
	}
	for (size_t i = 0; i < b->n; i++) {
		r = commit_one(b, &b->m[i], fd, &t);
		/* One rescan of cur/ serves every later message too. */
		if (r == 1 && !relocated) {
			relocated = true;
			if (relocate(b) > 0)
				r = commit_one(b, &b->m[i], fd, &t);
		}
		if (r < 0)
			rc = -1;
	}
	if (t.unlinked + t.renamed > 0 && sync_dirs(b, fd) < 0)
		rc = -1;
	if (t.unlinked > 0 && quota_sub(b, t.bytes, t.unlinked) < 0) {
		log_warn("mailbox=%s maildirsize", b->mailbox);
		rc = -1;
	}
	for (int k = 0; k < 2; k++)
		if (fd[k] >= 0)
			close(fd[k]);
	return rc;
}

void
mbox_close(struct mbox *b)
{
	if (b->rfd >= 0)
		close(b->rfd);
	if (b->dfd >= 0)
		close(b->dfd);
	free(b->m);
	memset(b, 0, sizeof(*b));
	b->dfd = b->rfd = -1;
}
