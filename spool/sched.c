#include "spool/sched.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

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

static void
sched_result(void *cookie, enum deliver_result res, const char *why)
{
	struct sched_entry *e = cookie;

	if (res == DELIVER_DEFER)
		defer(e->owner, e, why);
	else
		free(e);
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
