#include "spool/deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "spool/flush.h"
#include "spool/qfile.h"
#include "spool/store.h"

/* Per recipient: what happened in this attempt. */
enum { RC_PENDING, RC_DELIVERED, RC_FOUND };

/*
 * Recipients sharing one Return-Path share one file. A list's members
 * get its errors-to address there (spool_env's E), so a message may need
 * a few; a recipient beyond DELIVER_GROUPS of them waits for the next
 * attempt.
 */
#define DELIVER_GROUPS 4
#define DELIVER_NO_GROUP 0xff

struct deliver_group {
	char rp[TBL_ADDR_MAX + 32]; /* "Return-Path: <...>" CRLF */
	size_t rplen;
	uint64_t total;             /* rp + text: the Maildir size */
	char name[STORE_NAME_MAX];
	int tmpfd;                  /* the unnamed file with the text, or -1 */
};

struct deliver_job {
	void *cookie;
	char qid[SPOOL_QID_MAX];
	int fd;                 /* the queue file */
	struct spool_env env;
	struct deliver_group grp[DELIVER_GROUPS];
	unsigned ngrp;
	unsigned char *gidx;    /* per recipient: its group, or NO_GROUP */
	int *box;               /* per recipient: mailbox dir fd, or -1 */
	bool *owner;            /* box[i] is opened by this slot */
	unsigned char *state;   /* RC_* */
	bool settled;           /* result known before the batch ran */
	bool marked;            /* recipients marked D: sync the file */
	unsigned remote;        /* recipients waiting for outbound delivery */
	unsigned options;       /* autoreply, program, file (dlvopt.h) */
	unsigned held;          /* held mailbox deliveries (H) */
	enum deliver_result res;
	char why[400];
};

static int
alloc_rcpts(struct deliver_job *j)
{
	unsigned n = j->env.nrcpt;

	j->box = malloc(n * sizeof(*j->box));
	j->owner = calloc(n, sizeof(*j->owner));
	j->state = calloc(n, sizeof(*j->state));
	j->gidx = malloc(n ? n : 1);
	if (j->box == NULL || j->owner == NULL || j->state == NULL ||
	    j->gidx == NULL)
		return -1;
	memset(j->gidx, DELIVER_NO_GROUP, n);
	for (unsigned i = 0; i < n; i++)
		j->box[i] = -1;
	return 0;
}

/* Opens each pending recipient's mailbox once; returns fds opened. */
static unsigned
open_boxes(struct deliver *d, struct deliver_job *j)
{
	unsigned opened = 0;

	for (unsigned i = 0; i < j->env.nrcpt; i++) {
		struct spool_rcpt *r = &j->env.rcpt[i];
		if (r->done)
			continue;
		switch (spool_rcpt_kind(r)) {
		case 'L':
			if (j->gidx[i] == DELIVER_NO_GROUP) {
				snprintf(j->why, sizeof(j->why), "more than %d "
					 "return paths", DELIVER_GROUPS);
				continue;
			}
			break;
		case 'X':
			j->remote++; /* outbound delivery's (outq.c) */
			continue;
		case 'H':
			j->held++; /* until the admin releases it */
			continue;
		default:
			j->options++; /* outq_local.c's: A P M F */
			continue;
		}
		for (unsigned k = 0; k < i && j->box[i] < 0; k++)
			if (j->owner[k] &&
			    strcmp(j->env.rcpt[k].mailbox, r->mailbox) == 0)
				j->box[i] = j->box[k];
		if (j->box[i] >= 0)
			continue;
		j->box[i] = store_open_box(d->store, r->mailbox);
		if (j->box[i] < 0) {
			snprintf(j->why, sizeof(j->why), "mailbox %s: %s",
				 r->mailbox, strerror(errno));
			continue;
		}
		j->owner[i] = true;
		opened++;
	}
	return opened;
}

static int
copy_text(struct deliver_job *j, const struct deliver_group *g, int out)
{
	loff_t off = (loff_t)j->env.text_off;
	uint64_t left = j->env.size;
	char buf[65536];

	if (write(out, g->rp, g->rplen) != (ssize_t)g->rplen)
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
	return 0;
}

/* Writes the text into an unnamed file (store_tmpfile); its fd, or -1. */
static int
write_tmp(struct deliver *d, struct deliver_job *j,
	  const struct deliver_group *g, int box)
{
	int fd = store_tmpfile(d->store, box);

	if (fd < 0)
		return -1;
	if (copy_text(j, g, fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Gives the unnamed file fd the name new/NAME in box. */
static int
link_tmp(int fd, int box, const char *newname)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, box, newname, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno == ENOENT && access("/proc/self/fd", F_OK) != 0)
		return linkat(fd, "", box, newname, AT_EMPTY_PATH);
	return -1;
}

/* Steps 1 and 2. */
static void
prepare(struct deliver *d, struct deliver_job *j, bool fresh)
{
	for (unsigned i = 0; i < j->env.nrcpt; i++) {
		struct deliver_group *g;
		if (j->env.rcpt[i].done || j->box[i] < 0)
			continue;
		g = &j->grp[j->gidx[i]];
		if (!fresh && store_has_msg(j->box[i], g->name) == 1) {
			j->state[i] = RC_FOUND;
			continue;
		}
		if (g->tmpfd >= 0)
			continue;
		g->tmpfd = write_tmp(d, j, g, j->box[i]);
		if (g->tmpfd < 0) {
			snprintf(j->why, sizeof(j->why), "writing %s: %s",
				 j->env.rcpt[i].mailbox, strerror(errno));
			return;
		}
	}
}

static void
close_tmps(struct deliver_job *j)
{
	for (unsigned g = 0; g < j->ngrp; g++)
		if (j->grp[g].tmpfd >= 0) {
			close(j->grp[g].tmpfd);
			j->grp[g].tmpfd = -1;
		}
}

/*
 * Each mailbox recipient's group: one per Return-Path (its errors-to, or
 * the sender), with the Maildir name that Return-Path's size gives.
 * 0, or -1 when a name does not fit.
 */
static int
make_groups(struct deliver *d, struct deliver_job *j)
{
	for (unsigned i = 0; i < j->env.nrcpt; i++) {
		const struct spool_rcpt *r = &j->env.rcpt[i];
		const char *rp = r->errorsto[0] ? r->errorsto : j->env.sender;
		char line[TBL_ADDR_MAX + 32];
		unsigned g;

		if (r->done || spool_rcpt_kind(r) != 'L')
			continue;
		snprintf(line, sizeof(line), "Return-Path: <%s>\r\n", rp);
		for (g = 0; g < j->ngrp && strcmp(j->grp[g].rp, line); g++)
			;
		if (g == j->ngrp) {
			if (g == DELIVER_GROUPS)
				continue; /* the next attempt */
			struct deliver_group *ng = &j->grp[j->ngrp++];
			util_strlcpy(ng->rp, line, sizeof(ng->rp));
			ng->rplen = strlen(ng->rp);
			ng->total = ng->rplen + j->env.size;
			ng->tmpfd = -1;
			if (store_msg_name(d->store, ng->name, sizeof(ng->name),
					   j->env.arrival, j->qid,
					   ng->total) < 0)
				return -1;
		}
		j->gidx[i] = (unsigned char)g;
	}
	return 0;
}

static void
job_free(struct deliver_job *j)
{
	for (unsigned i = 0; j->box && i < j->env.nrcpt; i++)
		if (j->owner[i] && j->box[i] >= 0)
			close(j->box[i]);
	free(j->box);
	free(j->owner);
	free(j->state);
	free(j->gidx);
	spool_env_free(&j->env);
	close_tmps(j);
	if (j->fd >= 0)
		close(j->fd);
	free(j);
}

int
deliver_add(struct deliver *d, const char *qid, bool fresh, void *cookie)
{
	struct deliver_job *j;
	int rc;

	if (d->running || d->njobs == DELIVER_BATCH_MAX ||
	    d->nfds >= DELIVER_FDS_MAX)
		return -1;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -1;
	j->cookie = cookie;
	j->fd = -1;
	util_strlcpy(j->qid, qid, sizeof(j->qid));
	d->jobs[d->njobs++] = j;
	rc = qfile_load(d->spool, qid, !fresh, &j->fd, &j->env, j->why,
			sizeof(j->why));
	if (rc <= 0) {
		j->settled = true;
		j->res = rc == 0 ? DELIVER_GONE : DELIVER_DEFER;
		return 0;
	}
	if (alloc_rcpts(j) < 0 || make_groups(d, j) < 0) {
		util_strlcpy(j->why, "out of memory or name too long",
			     sizeof(j->why));
		j->settled = true;
		j->res = DELIVER_DEFER;
		return 0;
	}
	d->nfds += open_boxes(d, j);
	prepare(d, j, fresh);
	return 0;
}

/* Puts the message into box's new/ (link, or a copy of its own). */
static int
place(struct deliver *d, struct deliver_job *j, const struct deliver_group *g,
      int box)
{
	char newname[STORE_NAME_MAX + 8];
	int fd;

	snprintf(newname, sizeof(newname), "new/%s", g->name);
	if (link_tmp(g->tmpfd, box, newname) == 0 || errno == EEXIST)
		return 0;
	if (errno != EXDEV && errno != EMLINK)
		return -1;
	/* Another file system: a durable copy of its own. */
	fd = write_tmp(d, j, g, box);
	if (fd < 0)
		return -1;
	if (fdatasync(fd) < 0 ||
	    (link_tmp(fd, box, newname) < 0 && errno != EEXIST)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Step 3 in fsync mode: each file's data reaches the disk. */
static void
fsync_tmp(struct deliver *d)
{
	for (unsigned k = 0; k < d->njobs; k++) {
		struct deliver_job *j = d->jobs[k];
		for (unsigned g = 0; g < j->ngrp; g++) {
			struct deliver_group *gr = &j->grp[g];
			if (gr->tmpfd >= 0 && fdatasync(gr->tmpfd) < 0) {
				snprintf(j->why, sizeof(j->why), "flushing the "
					 "message: %s", strerror(errno));
				close(gr->tmpfd);
				gr->tmpfd = -1;
			}
		}
	}
}

/* Step 4. */
static void
link_all(struct deliver *d, struct deliver_job *j)
{
	for (unsigned i = 0; i < j->env.nrcpt; i++) {
		if (j->env.rcpt[i].done || j->box[i] < 0 ||
		    j->state[i] != RC_PENDING ||
		    j->grp[j->gidx[i]].tmpfd < 0)
			continue;
		if (place(d, j, &j->grp[j->gidx[i]], j->box[i]) < 0) {
			snprintf(j->why, sizeof(j->why), "linking into %s: %s",
				 j->env.rcpt[i].mailbox, strerror(errno));
			continue;
		}
		j->state[i] = RC_DELIVERED;
	}
	close_tmps(j);
}

static bool
first_of_box(const struct deliver_job *j, unsigned i)
{
	for (unsigned k = 0; k < i; k++)
		if (j->state[k] != RC_PENDING && j->box[k] == j->box[i])
			return false;
	return true;
}

static int
fsync_new(int box)
{
	int fd = openat(box, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * Step 5 done (err: the flush's result, for syncfs; fsync mode syncs each
 * new/ here): failed mailboxes go back to pending, the others count.
 */
static void
links_durable(struct deliver *d, int err)
{
	for (unsigned k = 0; k < d->njobs; k++) {
		struct deliver_job *j = d->jobs[k];
		for (unsigned i = 0; j->state && i < j->env.nrcpt; i++) {
			if (j->state[i] == RC_PENDING || !first_of_box(j, i))
				continue;
			int e = err;
			if (d->sync == SPOOL_SYNC_FSYNC && fsync_new(j->box[i]) < 0)
				e = errno;
			if (e != 0) {
				snprintf(j->why, sizeof(j->why),
					 "flushing the mailbox: %s",
					 strerror(e));
				for (unsigned m = i; m < j->env.nrcpt; m++)
					if (j->box[m] == j->box[i])
						j->state[m] = RC_PENDING;
			} else if (j->state[i] == RC_DELIVERED) {
				store_quota_add(j->box[i],
						j->grp[j->gidx[i]].total);
			}
		}
	}
}

static void
log_rcpt(struct deliver *d, struct deliver_job *j, unsigned i,
	 const char *status, const char *detail)
{
	log_info("%s: to=<%s> relay=local delay=%.2f status=%s (%s)", j->qid,
		 j->env.rcpt[i].addr, d->now - (double)j->env.arrival, status, detail);
}

/* Step 6 for one message: unlink it, or mark who is done. */
static void
settle(struct deliver *d, struct deliver_job *j)
{
	unsigned pending = 0;
	char detail[TBL_PATH_MAX + 32];

	for (unsigned i = 0; i < j->env.nrcpt; i++) {
		if (j->env.rcpt[i].done || spool_rcpt_kind(&j->env.rcpt[i]) != 'L')
			continue;
		if (j->state[i] == RC_PENDING) {
			pending++;
			log_rcpt(d, j, i, "deferred",
				 j->why[0] ? j->why : "mailbox unavailable");
			continue;
		}
		snprintf(detail, sizeof(detail), "%s %s",
			 j->state[i] == RC_FOUND ? "already in"
						 : "delivered to",
			 j->env.rcpt[i].mailbox);
		log_rcpt(d, j, i, "sent", detail);
	}
	if (pending == 0 && j->remote + j->options + j->held == 0) {
		if (spool_recycle(d->spool, j->qid) < 0)
			log_warn("%s: remove queue file", j->qid);
		log_info("%s: removed", j->qid);
		j->res = DELIVER_DONE;
		return;
	}
	for (unsigned i = 0; i < j->env.nrcpt; i++)
		if (!j->env.rcpt[i].done && j->state[i] != RC_PENDING &&
		    qfile_mark(j->fd, &j->env, i, 'D') == 0)
			j->marked = true;
	j->res = j->options > 0  ? DELIVER_OPTIONS
		 : j->remote > 0 ? DELIVER_REMOTE
				 : DELIVER_DEFER;
}

/* The end of a batch: report every message, free everything. */
static void
finish(void *arg, int err)
{
	struct deliver *d = arg;

	if (err != 0)
		log_warnx("marks of partly delivered messages may not be on "
			  "disk: they are delivered again, found, not doubled");
	for (unsigned k = 0; k < d->njobs; k++) {
		struct deliver_job *j = d->jobs[k];
		const char *why = j->why[0] ? j->why : "mailbox unavailable";
		d->result(j->cookie, j->res, why);
		job_free(j);
	}
	d->njobs = 0;
	d->nfds = 0;
	d->running = false;
	d->batch_done(d->batch_arg);
}

static void
after_links(void *arg, int err)
{
	struct deliver *d = arg;
	bool marked = false;

	links_durable(d, err);
	for (unsigned k = 0; k < d->njobs; k++) {
		struct deliver_job *j = d->jobs[k];
		if (!j->settled)
			settle(d, j);
		if (j->marked && d->sync == SPOOL_SYNC_FSYNC &&
		    fdatasync(j->fd) < 0)
			log_warn("%s: fdatasync after marking", j->qid);
		marked |= j->marked;
	}
	if (marked && d->sync == SPOOL_SYNC_SYNCFS)
		flush_request(d->flush, &d->req, finish, d);
	else
		finish(d, 0);
}

static bool
any_linked(const struct deliver *d)
{
	for (unsigned k = 0; k < d->njobs; k++) {
		const struct deliver_job *j = d->jobs[k];
		for (unsigned i = 0; j->state && i < j->env.nrcpt; i++)
			if (j->state[i] != RC_PENDING)
				return true;
	}
	return false;
}

static void
after_tmp(void *arg, int err)
{
	struct deliver *d = arg;

	for (unsigned k = 0; k < d->njobs; k++) {
		struct deliver_job *j = d->jobs[k];
		if (err != 0 && j->ngrp > 0) {
			snprintf(j->why, sizeof(j->why),
				 "flushing the message: %s", strerror(err));
			close_tmps(j);
		}
		if (!j->settled)
			link_all(d, j);
	}
	/* Links, and names found from an earlier try, must be on disk first. */
	if (d->sync == SPOOL_SYNC_SYNCFS && any_linked(d))
		flush_request(d->flush, &d->req, after_links, d);
	else
		after_links(d, 0);
}

void
deliver_run(struct deliver *d, deliver_result_fn *result,
	    void (*batch_done)(void *arg), void *arg)
{
	bool written = false;

	d->result = result;
	d->batch_done = batch_done;
	d->batch_arg = arg;
	d->running = true;
	for (unsigned k = 0; k < d->njobs; k++)
		for (unsigned g = 0; g < d->jobs[k]->ngrp; g++)
			written |= d->jobs[k]->grp[g].tmpfd >= 0;
	if (!written) {
		after_tmp(d, 0);
		return;
	}
	if (d->sync == SPOOL_SYNC_SYNCFS) {
		flush_request(d->flush, &d->req, after_tmp, d);
		return;
	}
	fsync_tmp(d);
	after_tmp(d, 0);
}
