#include "spool/deliver.h"

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
#include "spool/spool.h"
#include "spool/store.h"

struct job {
	struct deliver *d;
	const char *qid;
	int fd;
	struct spool_env env;
	char name[STORE_NAME_MAX];
	char tmpname[STORE_NAME_MAX + 8];
	char rp[TBL_ADDR_MAX + 32];
	size_t rplen;
	uint64_t total;
	int *box;       /* per recipient: mailbox dir fd, or -1 */
	bool *owner;    /* this recipient's slot owns box[i] (dedup) */
	unsigned char *fresh_ok; /* 1 delivered now, 2 found already there */
	char why[400];
};

static int
read_envelope(struct job *j, char *err, size_t errlen)
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
		ssize_t n = pread(j->fd, p + len, cap - len, (off_t)len);
		if (n < 0) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			rc = -2;
			break;
		}
		len += (size_t)n;
		rc = spool_env_parse(p, len, &j->env, err, errlen);
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
quarantine(struct job *j, const char *why)
{
	struct spool *s = j->d->spool;

	log_crit("%s: queue file is damaged (%s): moved to corrupt/", j->qid,
		 why);
	if (renameat(s->queue_dfd, j->qid, s->corrupt_dfd, j->qid) < 0)
		log_warn("%s: move to corrupt/", j->qid);
}

static int
load(struct job *j)
{
	char err[160];
	struct stat st;
	int rc;

	j->fd = openat(j->d->spool->queue_dfd, j->qid, O_RDWR | O_CLOEXEC);
	if (j->fd < 0)
		return errno == ENOENT ? 0 : -1;
	rc = read_envelope(j, err, sizeof(err));
	if (rc == -2 || fstat(j->fd, &st) < 0) {
		util_strlcpy(j->why, err, sizeof(j->why));
		return -1;
	}
	if (rc < 0 || (uint64_t)st.st_size != j->env.text_off + j->env.size ||
	    strcmp(j->env.qid, j->qid) != 0) {
		quarantine(j, rc < 0 ? err : "size or id does not match");
		return 0;
	}
	return 1;
}

static int
open_boxes(struct job *j)
{
	unsigned n = j->env.nrcpt;

	j->box = malloc(n * sizeof(*j->box));
	j->owner = calloc(n, sizeof(*j->owner));
	j->fresh_ok = calloc(n, sizeof(*j->fresh_ok));
	if (j->box == NULL || j->owner == NULL || j->fresh_ok == NULL)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		struct spool_rcpt *r = &j->env.rcpt[i];
		j->box[i] = -1;
		if (r->done)
			continue;
		for (unsigned k = 0; k < i; k++)
			if (j->owner[k] &&
			    strcmp(j->env.rcpt[k].mailbox, r->mailbox) == 0)
				j->box[i] = j->box[k];
		if (j->box[i] >= 0)
			continue;
		j->box[i] = store_open_box(j->d->store, r->mailbox);
		if (j->box[i] < 0)
			log_warn("%s: to=<%s> mailbox %s", j->qid, r->addr,
				 r->mailbox);
		else
			j->owner[i] = true;
	}
	return 0;
}

static int
copy_text(struct job *j, int out)
{
	loff_t off = (loff_t)j->env.text_off;
	uint64_t left = j->env.size;
	char buf[65536];

	if (write(out, j->rp, j->rplen) != (ssize_t)j->rplen)
		return -1;
	while (left > 0) {
		ssize_t n = copy_file_range(j->fd, &off, out, NULL, left, 0);
		if (n > 0) {
			left -= (uint64_t)n;
			continue;
		}
		if (n == 0)
			return errno = EIO, -1;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
		    errno != EOPNOTSUPP)
			return -1;
		/* No in-kernel copy between these files: plain copy. */
		n = pread(j->fd, buf, left < sizeof(buf) ? left : sizeof(buf),
			  off);
		if (n <= 0 || write(out, buf, (size_t)n) != n)
			return n == 0 ? (errno = EIO, -1) : -1;
		off += n;
		left -= (uint64_t)n;
	}
	return fdatasync(out);
}

/* Writes box/tmp/NAME; 0 or -1 (the partial file is removed). */
static int
write_tmp(struct job *j, int box)
{
	int fd = openat(box, j->tmpname, O_WRONLY | O_CREAT | O_TRUNC |
						 O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	if (copy_text(j, fd) < 0) {
		int e = errno;
		close(fd);
		unlinkat(box, j->tmpname, 0);
		errno = e;
		return -1;
	}
	return close(fd);
}

/* Puts the message into box's new/ (link, or a copy of its own). */
static int
place(struct job *j, int tmpbox, int box)
{
	char newname[STORE_NAME_MAX + 8];

	snprintf(newname, sizeof(newname), "new/%s", j->name);
	if (linkat(tmpbox, j->tmpname, box, newname, 0) == 0 ||
	    errno == EEXIST)
		return 0;
	if (errno != EXDEV && errno != EMLINK)
		return -1;
	if (write_tmp(j, box) < 0)
		return -1;
	if (linkat(box, j->tmpname, box, newname, 0) < 0 && errno != EEXIST) {
		unlinkat(box, j->tmpname, 0);
		return -1;
	}
	return unlinkat(box, j->tmpname, 0);
}

static int
sync_new(int box)
{
	int fd = openat(box, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static void
log_rcpt(struct job *j, const struct spool_rcpt *r, const char *status,
	 const char *detail)
{
	log_info("%s: to=<%s> relay=local delay=%.2f status=%s (%s)", j->qid,
		 r->addr, j->d->now - (double)j->env.arrival, status, detail);
}

/* true when no earlier recipient delivered now shares i's mailbox. */
static bool
first_of_box(const struct job *j, unsigned i)
{
	for (unsigned k = 0; k < i; k++)
		if (j->fresh_ok[k] && j->box[k] == j->box[i])
			return false;
	return true;
}

/* Steps 2 and 3 for the recipients still pending. */
static void
deliver_pending(struct job *j, bool fresh)
{
	unsigned n = j->env.nrcpt;
	int tmpbox = -1;

	for (unsigned i = 0; i < n; i++) {
		struct spool_rcpt *r = &j->env.rcpt[i];
		if (r->done || j->box[i] < 0)
			continue;
		if (!fresh && store_has_msg(j->box[i], j->name) == 1) {
			j->fresh_ok[i] = 2;
			log_rcpt(j, r, "sent", "already in mailbox");
			continue;
		}
		if (tmpbox < 0) {
			if (write_tmp(j, j->box[i]) < 0) {
				snprintf(j->why, sizeof(j->why),
					 "writing %s: %s", r->mailbox,
					 strerror(errno));
				return;
			}
			tmpbox = j->box[i];
		}
		if (place(j, tmpbox, j->box[i]) < 0) {
			snprintf(j->why, sizeof(j->why), "linking into %s: %s",
				 r->mailbox, strerror(errno));
			continue;
		}
		j->fresh_ok[i] = 1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!j->fresh_ok[i] || !first_of_box(j, i))
			continue;
		if (sync_new(j->box[i]) < 0) {
			snprintf(j->why, sizeof(j->why), "fsync of %s/new: %s",
				 j->env.rcpt[i].mailbox, strerror(errno));
			/* Not durable: every recipient of this box retries. */
			for (unsigned k = i; k < n; k++)
				if (j->box[k] == j->box[i])
					j->fresh_ok[k] = 0;
			continue;
		}
		if (j->fresh_ok[i] == 1)
			store_quota_add(j->box[i], j->total);
	}
	if (tmpbox >= 0)
		unlinkat(tmpbox, j->tmpname, 0);
}

/* Step 4: remove the queue file, or record who is done. */
static enum deliver_result
settle(struct job *j)
{
	unsigned n = j->env.nrcpt, pending = 0;
	bool marked = false;

	for (unsigned i = 0; i < n; i++) {
		struct spool_rcpt *r = &j->env.rcpt[i];
		if (r->done)
			continue;
		if (j->fresh_ok[i] == 1) {
			char detail[TBL_PATH_MAX + 32];
			snprintf(detail, sizeof(detail), "delivered to %s",
				 r->mailbox);
			log_rcpt(j, r, "sent", detail);
			continue;
		}
		if (j->fresh_ok[i] == 2)
			continue;
		pending++;
		log_rcpt(j, r, "deferred", j->why[0] ? j->why : "mailbox "
			 "unavailable");
	}
	if (pending == 0) {
		if (unlinkat(j->d->spool->queue_dfd, j->qid, 0) < 0)
			log_warn("%s: unlink queue file", j->qid);
		log_info("%s: removed", j->qid);
		return DELIVER_DONE;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!j->fresh_ok[i] || j->env.rcpt[i].done)
			continue;
		if (pwrite(j->fd, "D", 1, (off_t)j->env.rcpt[i].mark_off) == 1)
			marked = true;
	}
	if (marked && fdatasync(j->fd) < 0)
		log_warn("%s: fdatasync after marking recipients", j->qid);
	return DELIVER_DEFER;
}

static void
job_free(struct job *j)
{
	for (unsigned i = 0; j->box && i < j->env.nrcpt; i++)
		if (j->owner && j->owner[i] && j->box[i] >= 0)
			close(j->box[i]);
	free(j->box);
	free(j->owner);
	free(j->fresh_ok);
	spool_env_free(&j->env);
	if (j->fd >= 0)
		close(j->fd);
}

enum deliver_result
deliver_message(struct deliver *d, const char *qid, bool fresh, char *why,
		size_t whylen)
{
	struct job j;
	enum deliver_result res = DELIVER_DEFER;
	int rc;

	memset(&j, 0, sizeof(j));
	j.d = d;
	j.qid = qid;
	j.fd = -1;
	rc = load(&j);
	if (rc <= 0) {
		if (rc < 0)
			util_strlcpy(why, j.why[0] ? j.why : strerror(errno),
				     whylen);
		job_free(&j);
		return rc < 0 ? DELIVER_DEFER : DELIVER_GONE;
	}
	j.rplen = (size_t)snprintf(j.rp, sizeof(j.rp), "Return-Path: <%s>\r\n",
				   j.env.sender);
	j.total = j.rplen + j.env.size;
	if (store_msg_name(d->store, j.name, sizeof(j.name), j.env.arrival,
			   qid, j.total) < 0 ||
	    util_fmt(j.tmpname, sizeof(j.tmpname), "tmp/%s", j.name) < 0 ||
	    open_boxes(&j) < 0) {
		util_strlcpy(why, "out of memory or name too long", whylen);
		job_free(&j);
		return DELIVER_DEFER;
	}
	deliver_pending(&j, fresh);
	res = settle(&j);
	if (res == DELIVER_DEFER)
		util_strlcpy(why, j.why[0] ? j.why : "mailbox unavailable",
			     whylen);
	job_free(&j);
	return res;
}
