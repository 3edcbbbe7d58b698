#include "spool/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

static int
open_subdir(const char *dir, const char *name)
{
	char path[SPOOL_PATH_MAX + 16];

	if (util_fmt(path, sizeof(path), "%s/%s", dir, name) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
spool_init(struct spool *s, const char *dir)
{
	memset(s, 0, sizeof(*s));
	s->tmp_dfd = s->queue_dfd = s->corrupt_dfd = s->hold_dfd = -1;
	s->ctl_dfd = -1;
	if (util_strlcpy(s->dir, dir, sizeof(s->dir)) >= sizeof(s->dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -1;
	s->tmp_dfd = open_subdir(dir, "tmp");
	s->queue_dfd = open_subdir(dir, "queue");
	s->corrupt_dfd = open_subdir(dir, "corrupt");
	s->hold_dfd = open_subdir(dir, "hold");
	s->ctl_dfd = open_subdir(dir, "ctl");
	if (s->tmp_dfd < 0 || s->queue_dfd < 0 || s->corrupt_dfd < 0 ||
	    s->hold_dfd < 0 || s->ctl_dfd < 0) {
		spool_fini(s);
		return -1;
	}
	return 0;
}

void
spool_fini(struct spool *s)
{
	int *fds[] = { &s->tmp_dfd, &s->queue_dfd, &s->corrupt_dfd,
		       &s->hold_dfd, &s->ctl_dfd };

	free(s->spares);
	s->spares = NULL;
	s->nspares = 0;
	for (size_t i = 0; i < UTIL_ARRAY_LEN(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static bool
add_spare(struct spool *s, const char *name)
{
	if (s->spares == NULL &&
	    (s->spares = calloc(SPOOL_SPARES_MAX, sizeof(*s->spares))) == NULL)
		return false;
	if (s->nspares == SPOOL_SPARES_MAX ||
	    strlen(name) >= sizeof(s->spares[0]))
		return false;
	util_strlcpy(s->spares[s->nspares++], name, sizeof(s->spares[0]));
	return true;
}

int
spool_scan_tmp(struct spool *s)
{
	int dfd = dup(s->tmp_dfd);
	DIR *d;
	struct dirent *de;

	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (!add_spare(s, de->d_name))
			unlinkat(s->tmp_dfd, de->d_name, 0);
	}
	closedir(d);
	return (int)s->nspares;
}

void
spool_new_qid(struct spool *s, char qid[SPOOL_QID_MAX])
{
	struct timespec ts;
	uint64_t us;

	clock_gettime(CLOCK_REALTIME, &ts);
	us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	/* Strictly increasing, even within one microsecond or a clock step. */
	if (us <= s->last_us)
		us = s->last_us + 1;
	s->last_us = us;
	snprintf(qid, SPOOL_QID_MAX, "%016llX", (unsigned long long)us);
}

/* A spare file from tmp/, or a new one; the fd is at offset 0. */
static int
open_tmp(struct spool *s, struct spool_file *f)
{
	while (s->nspares > 0) {
		const char *name = s->spares[--s->nspares];
		int fd = openat(s->tmp_dfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			util_strlcpy(f->tmpname, name, sizeof(f->tmpname));
			return fd;
		}
	}
	util_strlcpy(f->tmpname, f->qid, sizeof(f->tmpname));
	return openat(s->tmp_dfd, f->tmpname,
		      O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

int
spool_open(struct spool *s, const struct spool_env *env, struct spool_file *f)
{
	memset(f, 0, sizeof(*f));
	util_strlcpy(f->qid, env->qid, sizeof(f->qid));
	buf_init(&f->wbuf, SPOOL_WBUF_MAX);
	if (spool_env_format(&f->wbuf, env, &f->zoff) < 0) {
		buf_free(&f->wbuf);
		errno = EINVAL;
		return -1;
	}
	f->env_len = buf_len(&f->wbuf);
	f->fd = open_tmp(s, f);
	if (f->fd < 0) {
		buf_free(&f->wbuf);
		return -1;
	}
	return 0;
}

static void
flush_wbuf(struct spool_file *f)
{
	while (buf_len(&f->wbuf) > 0 && f->err == 0) {
		ssize_t n = write(f->fd, buf_data(&f->wbuf), buf_len(&f->wbuf));
		if (n < 0) {
			if (errno != EINTR)
				f->err = errno;
			continue;
		}
		buf_consume(&f->wbuf, (size_t)n);
	}
	buf_reset(&f->wbuf);
}

void
spool_write(struct spool_file *f, const void *data, size_t len)
{
	if (f->err != 0)
		return;
	f->text += len;
	f->crc = util_crc32(f->crc, data, len);
	if (buf_len(&f->wbuf) + len <= SPOOL_WBUF_FLUSH) {
		if (buf_append(&f->wbuf, data, len) == 0)
			return;
	}
	flush_wbuf(f);
	while (len > 0 && f->err == 0) {
		ssize_t n = write(f->fd, data, len);
		if (n < 0) {
			if (errno != EINTR)
				f->err = errno;
			continue;
		}
		data = (const char *)data + n;
		len -= (size_t)n;
	}
}

int
spool_finish(struct spool_file *f)
{
	char digits[SPOOL_TRAILER_LEN];

	flush_wbuf(f);
	buf_free(&f->wbuf);
	if (f->err == 0) {
		spool_env_set_size(digits, f->text, f->crc);
		if (pwrite(f->fd, digits, sizeof(digits), (off_t)f->zoff) !=
		    (ssize_t)sizeof(digits))
			f->err = errno ? errno : EIO;
	}
	/* A reused file may be longer than this message: cut it. */
	if (f->err == 0 && ftruncate(f->fd, (off_t)(f->env_len + f->text)) < 0)
		f->err = errno;
	if (f->err != 0) {
		errno = f->err;
		return -1;
	}
	return 0;
}

void
spool_abort(struct spool *s, struct spool_file *f)
{
	buf_free(&f->wbuf);
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	/* After an I/O error the space goes back to the file system. */
	if (f->err != 0 || !add_spare(s, f->tmpname))
		if (unlinkat(s->tmp_dfd, f->tmpname, 0) < 0 && errno != ENOENT)
			log_warn("%s: unlink tmp/%s", f->qid, f->tmpname);
}

int
spool_recycle(struct spool *s, const char *qid)
{
	if (s->nspares < SPOOL_SPARES_MAX &&
	    renameat(s->queue_dfd, qid, s->tmp_dfd, qid) == 0) {
		add_spare(s, qid);
		return 0;
	}
	return unlinkat(s->queue_dfd, qid, 0);
}
