#include "spool/qfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

/* 1 parsed, -1 malformed (err), -2 read error (err). */
static int
read_envelope(int fd, struct spool_env *env, char *err, size_t errlen)
{
	size_t cap = 8192, len = 0;
	char *p = NULL;
	int rc = 0;

	while (rc == 0) {
		if (len == cap || p == NULL) {
			if (p != NULL)
				cap *= 2;
			char *np = cap <= SPOOL_ENV_MAX ? realloc(p, cap) : NULL;
			if (np == NULL) {
				snprintf(err, errlen, "envelope too large");
				rc = -1;
				break;
			}
			p = np;
		}
		ssize_t n = pread(fd, p + len, cap - len, (off_t)len);
		if (n < 0) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			rc = -2;
			break;
		}
		len += (size_t)n;
		rc = spool_env_parse(p, len, env, err, errlen);
		if (rc == 0 && n == 0) {
			snprintf(err, errlen, "truncated envelope");
			rc = -1;
		}
	}
	free(p);
	return rc;
}

/* Keeps a bad file for the admin instead of delivering or deleting it. */
static void
quarantine(struct spool *s, const char *qid, const char *why)
{
	log_crit("%s: queue file is damaged (%s): moved to corrupt/", qid,
		 why);
	if (renameat(s->queue_dfd, qid, s->corrupt_dfd, qid) < 0)
		log_warn("%s: move to corrupt/", qid);
}

/* 1 when the text matches the envelope's CRC, 0 if not, -1 on I/O error. */
static int
text_intact(int fd, const struct spool_env *env)
{
	char buf[65536];
	uint64_t left = env->size;
	off_t off = (off_t)env->text_off;
	uint32_t crc = 0;

	while (left > 0) {
		ssize_t n = pread(fd, buf, left < sizeof(buf) ? left
							     : sizeof(buf),
				  off);
		if (n <= 0)
			return n == 0 ? 0 : -1;
		crc = util_crc32(crc, buf, (size_t)n);
		off += n;
		left -= (uint64_t)n;
	}
	return crc == env->crc;
}

static int
check(struct spool *s, const char *qid, bool check_text, int fd,
      struct spool_env *env, char *why, size_t whylen)
{
	char err[160];
	struct stat st;
	int rc = read_envelope(fd, env, err, sizeof(err));

	if (rc == -2 || fstat(fd, &st) < 0) {
		util_strlcpy(why, rc == -2 ? err : strerror(errno), whylen);
		return -1;
	}
	if (rc < 0 || (uint64_t)st.st_size != env->text_off + env->size ||
	    strcmp(env->qid, qid) != 0) {
		quarantine(s, qid, rc < 0 ? err : "size or id does not match");
		return 0;
	}
	if (check_text) {
		rc = text_intact(fd, env);
		if (rc < 0) {
			util_strlcpy(why, strerror(errno), whylen);
			return -1;
		}
		if (rc == 0) {
			quarantine(s, qid, "text does not match its CRC");
			return 0;
		}
	}
	return 1;
}

int
qfile_load(struct spool *s, const char *qid, bool check_text, int *fd_r,
	   struct spool_env *env, char *why, size_t whylen)
{
	int fd = openat(s->queue_dfd, qid, O_RDWR | O_CLOEXEC), rc;

	*fd_r = -1;
	memset(env, 0, sizeof(*env));
	if (fd < 0) {
		snprintf(why, whylen, "open: %s", strerror(errno));
		return errno == ENOENT ? 0 : -1;
	}
	rc = check(s, qid, check_text, fd, env, why, whylen);
	if (rc <= 0) {
		spool_env_free(env);
		close(fd);
		return rc;
	}
	*fd_r = fd;
	return 1;
}

int
qfile_mark(int fd, const struct spool_env *env, unsigned i, char mark)
{
	if (i >= env->nrcpt ||
	    pwrite(fd, &mark, 1, (off_t)env->rcpt[i].mark_off) != 1)
		return -1;
	return 0;
}
