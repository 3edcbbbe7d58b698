#include "spool/sched.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "spool/outq.h"
#include "spool/qfile.h"

enum { SCHED_OP_HOLD, SCHED_OP_DELETE };

struct sched_op {
	struct sched_op *next;
	int op;
	char qid[SPOOL_QID_MAX];
};

static void sched_kick_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void sched_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

void
sched_init(struct sched *s, struct ev_loop *loop, struct deliver *d,
	   unsigned retry_min, unsigned retry_max, unsigned batch, double wait)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->deliver = d;
	s->retry_min = retry_min;
	s->retry_max = retry_max;
	s->batch = batch < DELIVER_BATCH_MAX ? batch : DELIVER_BATCH_MAX;
	s->wait = wait;
	s->ready_tail = &s->ready;
	ev_init(&s->kick, sched_kick_cb);
	s->kick.data = s;
	ev_init(&s->timer, sched_timer_cb);
	s->timer.data = s;
}

static void
free_list(struct sched_entry *e)
{
	while (e != NULL) {
		struct sched_entry *n = e->next;
		free(e);
		e = n;
	}
}

void
sched_fini(struct sched *s)
{
	ev_timer_stop(s->loop, &s->kick);
	ev_timer_stop(s->loop, &s->timer);
	free_list(s->ready);
	free_list(s->deferred);
	while (s->ops != NULL) {
		struct sched_op *o = s->ops;
		s->ops = o->next;
		free(o);
	}
	s->ready = s->deferred = NULL;
	s->ready_tail = &s->ready;
}

static void
kick(struct sched *s, double after)
{
	ev_timer_stop(s->loop, &s->kick);
	ev_timer_set(&s->kick, after, 0);
	ev_timer_start(s->loop, &s->kick);
}

static void
push_ready(struct sched *s, struct sched_entry *e)
{
	e->next = NULL;
	*s->ready_tail = e;
	s->ready_tail = &e->next;
	s->nready++;
	/* A full batch goes on the next turn; otherwise wait to fill one. */
	if (s->nready >= s->batch)
		kick(s, 0);
	else if (!ev_is_active(&s->kick))
		kick(s, s->wait);
}

void
sched_add(struct sched *s, const char *qid, bool fresh)
{
	struct sched_entry *e = calloc(1, sizeof(*e));

	if (e == NULL) {
		/* The file stays in queue/: the next start-up delivers it. */
		log_crit("%s: out of memory, delivery postponed to restart",
			 qid);
		return;
	}
	e->owner = s;
	util_strlcpy(e->qid, qid, sizeof(e->qid));
	e->fresh = fresh;
	push_ready(s, e);
}

int
sched_scan(struct sched *s, int queue_dfd)
{
	int fd = dup(queue_dfd), n = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    strlen(de->d_name) >= SPOOL_QID_MAX)
			continue;
		sched_add(s, de->d_name, false);
		n++;
	}
	closedir(d);
	return n;
}

static void
arm_timer(struct sched *s)
{
	ev_tstamp next = 0;

	for (struct sched_entry *e = s->deferred; e != NULL; e = e->next)
		if (next == 0 || e->due < next)
			next = e->due;
	ev_timer_stop(s->loop, &s->timer);
	if (next == 0)
		return;
	next -= ev_now(s->loop);
	ev_timer_set(&s->timer, next > 0 ? next : 0, 0);
	ev_timer_start(s->loop, &s->timer);
}

static void
defer(struct sched *s, struct sched_entry *e, const char *why)
{
	double wait = s->retry_min;

	e->attempts++;
	for (unsigned i = 1; i < e->attempts && wait < s->retry_max; i++)
		wait *= 2;
	if (wait > s->retry_max)
		wait = s->retry_max;
	e->fresh = false;
	e->due = ev_now(s->loop) + wait;
	e->next = s->deferred;
	s->deferred = e;
	s->ndeferred++;
	log_info("%s: deferred, attempt %u, next in %.0fs: %s", e->qid,
		 e->attempts, wait, why);
	arm_timer(s);
}

/* ---- vdctl's requests ---- */

static struct spool *
spool_of(struct sched *s)
{
	return s->deliver->spool;
}

/* Holds or deletes queue/QID now; 0, or -1 (logged). */
static int
apply_op(struct sched *s, const char *qid, int op)
{
	struct spool *sp = spool_of(s);
	int rc = op == SCHED_OP_HOLD
			 ? renameat(sp->queue_dfd, qid, sp->hold_dfd, qid)
			 : unlinkat(sp->queue_dfd, qid, 0);

	if (rc < 0) {
		log_warn("%s: %s", qid, op == SCHED_OP_HOLD ? "hold" : "delete");
		return -1;
	}
	log_info("%s: %s by the administrator", qid,
		 op == SCHED_OP_HOLD ? "held" : "deleted");
	return 0;
}

/* An attempt ended: a request that waited for it is carried out. */
static bool
pending_op(struct sched *s, struct sched_entry *e, bool gone)
{
	for (struct sched_op **pp = &s->ops; *pp != NULL; pp = &(*pp)->next) {
		struct sched_op *o = *pp;
		if (strcmp(o->qid, e->qid) != 0)
			continue;
		*pp = o->next;
		if (!gone)
			apply_op(s, e->qid, o->op);
		free(o);
		free(e);
		return true;
	}
	return false;
}

/* Takes qid's entry off the ready or deferred list; NULL if not there. */
static struct sched_entry *
take_entry(struct sched *s, const char *qid)
{
	struct sched_entry **lists[] = { &s->ready, &s->deferred };

	for (unsigned k = 0; k < 2; k++)
		for (struct sched_entry **pp = lists[k]; *pp; pp = &(*pp)->next) {
			struct sched_entry *e = *pp;
			if (strcmp(e->qid, qid) != 0)
				continue;
			*pp = e->next;
			if (k == 0) {
				s->nready--;
				if (*pp == NULL)
					s->ready_tail = pp;
			} else {
				s->ndeferred--;
			}
			return e;
		}
	return NULL;
}

static void
request_op(struct sched *s, const char *qid, int op)
{
	struct sched_entry *e = take_entry(s, qid);
	struct sched_op *o;

	if (e != NULL) {
		if (apply_op(s, qid, op) < 0)
			push_ready(s, e);
		else
			free(e);
		arm_timer(s);
		return;
	}
	if (faccessat(spool_of(s)->queue_dfd, qid, F_OK, 0) < 0) {
		/* A held message is no one's: deleting it is immediate. */
		if (op == SCHED_OP_DELETE &&
		    unlinkat(spool_of(s)->hold_dfd, qid, 0) == 0)
			log_info("%s: deleted by the administrator (held)", qid);
		else
			log_info("%s: no such message in the queue", qid);
		return;
	}
	/* Being delivered: done when its attempt ends. */
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return;
	o->op = op;
	util_strlcpy(o->qid, qid, sizeof(o->qid));
	o->next = s->ops;
	s->ops = o;
}

static void
make_due(struct sched *s, const char *qid)
{
	struct sched_entry *e = take_entry(s, qid);

	if (e != NULL)
		push_ready(s, e);
	arm_timer(s);
}

/* Held recipients (delivery option hold) of queue/QID become mailbox ones. */
static unsigned
release_rcpts(struct sched *s, const char *qid)
{
	struct spool_env env;
	char why[160];
	unsigned n = 0;
	int fd;

	if (qfile_load(spool_of(s), qid, false, &fd, &env, why,
		       sizeof(why)) <= 0)
		return 0;
	for (unsigned i = 0; i < env.nrcpt; i++)
		if (!env.rcpt[i].done && env.rcpt[i].kind == 'H' &&
		    pwrite(fd, "L", 1, (off_t)env.rcpt[i].kind_off) == 1)
			n++;
	if (n > 0 && s->deliver->sync == SPOOL_SYNC_FSYNC)
		fdatasync(fd);
	spool_env_free(&env);
	close(fd);
	return n;
}

static void
release(struct sched *s, const char *qid)
{
	struct spool *sp = spool_of(s);
	unsigned n;

	if (renameat2(sp->hold_dfd, qid, sp->queue_dfd, qid,
		      RENAME_NOREPLACE) == 0) {
		log_info("%s: released by the administrator", qid);
		sched_add(s, qid, false);
		return;
	}
	if (errno != ENOENT) {
		log_warn("%s: release", qid);
		return;
	}
	/* Not held as a whole: its held recipients, if any, go. */
	n = release_rcpts(s, qid);
	if (n == 0) {
		log_info("%s: nothing held to release", qid);
		return;
	}
	log_info("%s: %u held recipient(s) released by the administrator",
		 qid, n);
	make_due(s, qid);
}


static bool
is_qid(const char *q)
{
	size_t n = strlen(q);

	return n > 0 && n < SPOOL_QID_MAX && strspn(q, "0123456789ABCDEF") == n;
}

static void
one_request(struct sched *s, const char *name)
{
	const char *dot = strchr(name, '.');
	size_t vl = dot ? (size_t)(dot - name) : strlen(name);
	const char *qid = dot ? dot + 1 : "";

	if (dot == NULL && strcmp(name, "flush") == 0) {
		log_info("queue flush asked: %u deferred message(s) due now",
			 s->ndeferred);
		sched_flush(s);
	} else if (dot == NULL || !is_qid(qid)) {
		log_warnx("ctl/%s: not a request; removed", name);
	} else if (vl == 5 && strncmp(name, "flush", 5) == 0) {
		make_due(s, qid);
	} else if (vl == 4 && strncmp(name, "hold", 4) == 0) {
		request_op(s, qid, SCHED_OP_HOLD);
	} else if (vl == 6 && strncmp(name, "delete", 6) == 0) {
		request_op(s, qid, SCHED_OP_DELETE);
	} else if (vl == 7 && strncmp(name, "release", 7) == 0) {
		release(s, qid);
	} else {
		log_warnx("ctl/%s: not a request; removed", name);
	}
}

void
sched_control(struct sched *s, bool force)
{
	int dfd = spool_of(s)->ctl_dfd, fd;
	struct stat st;
	struct dirent *de;
	DIR *d;

	if (dfd < 0 || fstat(dfd, &st) < 0)
		return;
	if (!force && st.st_mtim.tv_sec == s->ctl_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == s->ctl_mtime.tv_nsec)
		return;
	s->ctl_mtime = st.st_mtim;
	if ((fd = dup(dfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		one_request(s, de->d_name);
		if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT)
			log_warn("ctl/%s", de->d_name);
	}
	closedir(d);
}

static void
sched_result(void *cookie, enum deliver_result res, const char *why)
{
	struct sched_entry *e = cookie;

	if (e->owner->ops != NULL &&
	    pending_op(e->owner, e, res == DELIVER_DONE || res == DELIVER_GONE))
		return;

	bool more = res == DELIVER_REMOTE || res == DELIVER_OPTIONS;

	/* Outbound delivery also runs the autoreply/program/file options. */
	if (more && e->owner->outq != NULL) {
		outq_add(e->owner->outq, e->qid, e);
		return;
	}
	if (res == DELIVER_DEFER || more)
		defer(e->owner, e, more ? "waiting for outbound delivery" : why);
	else
		free(e);
}

void
sched_outq_done(void *cookie, enum deliver_result res, const char *why)
{
	struct sched_entry *e = cookie;

	if (e->owner->ops != NULL &&
	    pending_op(e->owner, e, res == DELIVER_DONE || res == DELIVER_GONE))
		return;

	if (res == DELIVER_DEFER)
		defer(e->owner, e, why);
	else
		free(e);
}

void
sched_flush(struct sched *s)
{
	struct sched_entry *e;

	while ((e = s->deferred) != NULL) {
		s->deferred = e->next;
		s->ndeferred--;
		push_ready(s, e);
	}
	arm_timer(s);
}

static void
sched_batch_done(void *arg)
{
	struct sched *s = arg;

	if (s->ready != NULL)
		kick(s, 0);
}

void
sched_run(struct sched *s)
{
	unsigned n = 0;

	if (s->deliver->running)
		return; /* its end kicks the next batch */
	s->deliver->now = ev_now(s->loop);
	while (n < s->batch && s->ready != NULL) {
		struct sched_entry *e = s->ready;
		if (deliver_add(s->deliver, e->qid, e->fresh, e) < 0)
			break;
		s->ready = e->next;
		s->nready--;
		e->next = NULL;
		n++;
	}
	if (s->ready == NULL)
		s->ready_tail = &s->ready;
	if (n > 0)
		deliver_run(s->deliver, sched_result, sched_batch_done, s);
}

static void
sched_kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	sched_run(w->data);
}

static void
sched_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sched *s = w->data;
	struct sched_entry **pp = &s->deferred;
	ev_tstamp now = ev_now(loop);

	(void)revents;
	while (*pp != NULL) {
		struct sched_entry *e = *pp;
		if (e->due <= now + 0.001) {
			*pp = e->next;
			s->ndeferred--;
			push_ready(s, e);
		} else {
			pp = &e->next;
		}
	}
	arm_timer(s);
}
