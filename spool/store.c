#include "spool/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/util.h"

#define MAILDIRSIZE_MAX 5120 /* Maildir++: recalculate past this size */

/*
 * STORE/.alloc with the "top directory" hint, so ext4's Orlov allocator
 * spreads its subdirectories (and the inodes made in them) over block
 * groups. Best effort: without them, files go to the mailbox's tmp/.
 */
void
store_open_alloc(struct store *st)
{
	char name[16];
	int top, flags = 0;

	for (int i = 0; i < STORE_ALLOC_DIRS; i++)
		st->alloc[i] = -1;
	if (mkdirat(st->dfd, ".alloc", 0700) < 0 && errno != EEXIST)
		return;
	top = openat(st->dfd, ".alloc", O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					      O_NOFOLLOW);
	if (top < 0)
		return;
	if (ioctl(top, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL)) {
		flags |= FS_TOPDIR_FL;
		ioctl(top, FS_IOC_SETFLAGS, &flags);
	}
	for (int i = 0; i < STORE_ALLOC_DIRS; i++) {
		snprintf(name, sizeof(name), "%02x", i);
		if (mkdirat(top, name, 0700) < 0 && errno != EEXIST)
			continue;
		st->alloc[i] = openat(top, name, O_RDONLY | O_DIRECTORY |
						     O_CLOEXEC | O_NOFOLLOW);
	}
	close(top);
}

int
store_tmpfile(struct store *st, int boxfd)
{
	int fd;

	for (int tries = 0; tries < STORE_ALLOC_DIRS; tries++) {
		int a = st->alloc[st->next_alloc++ % STORE_ALLOC_DIRS];
		if (a < 0)
			continue;
		fd = openat(a, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		break;
	}
	return openat(boxfd, "tmp", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
}

int
store_init(struct store *st, const char *dir, const char *hostname)
{
	size_t o = 0;

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < STORE_ALLOC_DIRS; i++)
		st->alloc[i] = -1;
	if (util_strlcpy(st->dir, dir, sizeof(st->dir)) >= sizeof(st->dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	st->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dfd < 0)
		return -1;
	/* Maildir: '/' and ':' in the host part are written as octal. */
	for (const char *h = hostname; *h && o + 5 < sizeof(st->host); h++) {
		if (*h == '/')
			o += (size_t)snprintf(st->host + o, 5, "\\057");
		else if (*h == ':')
			o += (size_t)snprintf(st->host + o, 5, "\\072");
		else
			st->host[o++] = *h;
	}
	st->host[o] = '\0';
	return 0;
}

void
store_fini(struct store *st)
{
	for (int i = 0; i < STORE_ALLOC_DIRS; i++)
		if (st->alloc[i] >= 0)
			close(st->alloc[i]);
	if (st->dfd >= 0)
		close(st->dfd);
	st->dfd = -1;
}

/* mkdir that makes the new entry durable in its parent. */
static int
mkdir_durable(int parent, const char *name)
{
	if (mkdirat(parent, name, 0700) < 0)
		return errno == EEXIST ? 0 : -1;
	return fsync(parent);
}

/*
 * Opens a directory below the store without following symbolic links or
 * "..", so a planted link cannot send mail outside the store.
 */
static int
open_beneath(int dfd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	long fd = syscall(SYS_openat2, dfd, path, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS)
		return openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					   O_NOFOLLOW);
	return (int)fd;
}

int
store_open_box(struct store *st, const char *mailbox)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char path[STORE_PATH_MAX];
	int fd = dup(st->dfd), next;
	char *comp, *save = NULL;

	if (fd < 0)
		return -1;
	/* Fast path: an existing mailbox opens in one call. */
	next = open_beneath(st->dfd, mailbox);
	if (next >= 0 && faccessat(next, "cur", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		close(fd);
		return next;
	}
	if (next >= 0)
		close(next);
	if (util_strlcpy(path, mailbox, sizeof(path)) >= sizeof(path)) {
		close(fd);
		errno = ENAMETOOLONG;
		return -1;
	}
	for (comp = strtok_r(path, "/", &save); comp != NULL;
	     comp = strtok_r(NULL, "/", &save)) {
		if (mkdir_durable(fd, comp) < 0 ||
		    (next = open_beneath(fd, comp)) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
		fd = next;
	}
	for (size_t i = 0; i < UTIL_ARRAY_LEN(subs); i++) {
		if (mkdir_durable(fd, subs[i]) < 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

int
store_msg_name(const struct store *st, char *out, size_t outlen,
	       time_t arrival, const char *qid, uint64_t size)
{
	return util_fmt(out, outlen, "%lld.V%s.%s,S=%llu", (long long)arrival,
			qid, st->host, (unsigned long long)size);
}

int
store_has_msg(int boxfd, const char *name)
{
	char path[STORE_NAME_MAX + 8];
	size_t nl = strlen(name);
	struct dirent *de;
	DIR *d;
	int fd, found = 0;

	if (util_fmt(path, sizeof(path), "new/%s", name) < 0)
		return -1;
	if (faccessat(boxfd, path, F_OK, 0) == 0)
		return 1;
	/* A reader may have moved it to cur/ and added flags. */
	fd = openat(boxfd, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return errno == ENOENT ? 0 : -1;
	}
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, name, nl) == 0 &&
		    (de->d_name[nl] == ':' || de->d_name[nl] == '\0')) {
			found = 1;
			break;
		}
	closedir(d);
	return found;
}

void
store_quota_def(char *out, size_t outlen, int64_t quota, int64_t msgquota)
{
	char a[32] = "", b[32] = "";

	if (quota >= 0)
		snprintf(a, sizeof(a), "%lldS", (long long)quota);
	if (msgquota >= 0)
		snprintf(b, sizeof(b), "%lldC", (long long)msgquota);
	snprintf(out, outlen, "%s%s%s", a, (a[0] && b[0]) ? "," : "", b);
}

static uint64_t
size_of(int dfd, const char *name)
{
	const char *s = strstr(name, ",S=");
	uint64_t v = 0;
	struct stat st;

	if (s != NULL) {
		size_t n = strspn(s + 3, "0123456789");
		if (util_parse_u64(s + 3, n, UINT64_MAX, &v) == 0)
			return v;
	}
	return fstatat(dfd, name, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
}

static void
count_dir(int boxfd, const char *sub, struct store_usage *u)
{
	int fd = openat(boxfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		u->bytes += size_of(fd, de->d_name);
		u->msgs++;
	}
	closedir(d);
}

/* Sums new/ and cur/ of the mailbox and of every Maildir++ folder. */
static void
recalc(int boxfd, struct store_usage *u)
{
	char sub[STORE_NAME_MAX + 8];
	int fd = dup(boxfd);
	struct dirent *de;
	DIR *d;

	u->bytes = u->msgs = 0;
	count_dir(boxfd, "new", u);
	count_dir(boxfd, "cur", u);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (util_fmt(sub, sizeof(sub), "%s/new", de->d_name) == 0)
			count_dir(boxfd, sub, u);
		if (util_fmt(sub, sizeof(sub), "%s/cur", de->d_name) == 0)
			count_dir(boxfd, sub, u);
	}
	closedir(d);
}

/* Replaces maildirsize (advisory data: a rename, no fsync needed). */
static int
write_maildirsize(int boxfd, const char *def, const struct store_usage *u)
{
	/* One fixed name: vdmaild is the only writer; a crash leaves no litter. */
	const char *tmp = "tmp/maildirsize.new";
	char text[128];
	int fd, n;

	n = snprintf(text, sizeof(text), "%s\n%llu %llu\n", def,
		     (unsigned long long)u->bytes, (unsigned long long)u->msgs);
	fd = openat(boxfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, text, (size_t)n) != n) {
		close(fd);
		unlinkat(boxfd, tmp, 0);
		return -1;
	}
	close(fd);
	return renameat(boxfd, tmp, boxfd, "maildirsize");
}

/*
 * Reads maildirsize into u and its definition line into def_r. Returns 0,
 * or -1 when it is missing, malformed or due for a recalculation.
 */
static int
read_maildirsize(int boxfd, char *def_r, size_t deflen, struct store_usage *u)
{
	char text[MAILDIRSIZE_MAX + 2]; /* one byte past the limit, and a NUL */
	int fd = openat(boxfd, "maildirsize", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *line, *save = NULL;
	long long b, c;

	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0 || (line = memchr(text, '\n', (size_t)n)) == NULL)
		return -1;
	text[n] = '\0';
	*line = '\0';
	util_strlcpy(def_r, text, deflen);
	if (n > MAILDIRSIZE_MAX)
		return -1;
	u->bytes = u->msgs = 0;
	for (line = strtok_r(line + 1, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%lld %lld", &b, &c) != 2)
			return -1;
		/* Deletions are negative lines; a negative total is stale. */
		if ((b < 0 && (uint64_t)-b > u->bytes) ||
		    (c < 0 && (uint64_t)-c > u->msgs))
			return -1;
		u->bytes = (uint64_t)((long long)u->bytes + b);
		u->msgs = (uint64_t)((long long)u->msgs + c);
	}
	return 0;
}

int
store_quota_usage(struct store *st, const char *mailbox, const char *def,
		  struct store_usage *u)
{
	char have[STORE_QUOTA_DEF_MAX];
	int boxfd;

	u->bytes = u->msgs = 0;
	boxfd = open_beneath(st->dfd, mailbox);
	if (boxfd < 0)
		return errno == ENOENT ? 0 : -1;
	if (read_maildirsize(boxfd, have, sizeof(have), u) == 0 &&
	    (def == NULL || strcmp(def, have) == 0)) {
		close(boxfd);
		return 0;
	}
	recalc(boxfd, u);
	if (!st->readonly)
		write_maildirsize(boxfd, def ? def : have, u);
	close(boxfd);
	return 0;
}

int
store_quota_add(int boxfd, uint64_t bytes)
{
	char line[48], def[STORE_QUOTA_DEF_MAX] = "";
	struct store_usage u;
	struct stat sb;
	int fd, n;

	fd = openat(boxfd, "maildirsize", O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size > MAILDIRSIZE_MAX) {
		/* Missing or due: recount, the new message included. */
		if (fd >= 0) {
			close(fd);
			struct store_usage old;
			read_maildirsize(boxfd, def, sizeof(def), &old);
		}
		recalc(boxfd, &u);
		return write_maildirsize(boxfd, def, &u);
	}
	n = snprintf(line, sizeof(line), "%llu 1\n", (unsigned long long)bytes);
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	return close(fd);
}
