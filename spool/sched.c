#include "spool/sched.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

static void sched_check_cb(struct ev_loop *loop, ev_check *w, int revents);
static void sched_idle_cb(struct ev_loop *loop, ev_idle *w, int revents);
static void sched_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

void
sched_init(struct sched *s, struct ev_loop *loop, struct deliver *d,
	   unsigned retry_min, unsigned retry_max, unsigned batch)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->deliver = d;
	s->retry_min = retry_min;
	s->retry_max = retry_max;
	s->batch = batch;
	s->ready_tail = &s->ready;
	ev_check_init(&s->check, sched_check_cb);
	s->check.data = s;
	ev_check_start(loop, &s->check);
	ev_idle_init(&s->idle, sched_idle_cb);
	s->idle.data = s;
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
	ev_check_stop(s->loop, &s->check);
	ev_idle_stop(s->loop, &s->idle);
	ev_timer_stop(s->loop, &s->timer);
	free_list(s->ready);
	free_list(s->deferred);
	s->ready = s->deferred = NULL;
	s->ready_tail = &s->ready;
}

static void
push_ready(struct sched *s, struct sched_entry *e)
{
	e->next = NULL;
	*s->ready_tail = e;
	s->ready_tail = &e->next;
	s->nready++;
	ev_idle_start(s->loop, &s->idle);
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

void
sched_run(struct sched *s)
{
	char why[256];

	s->deliver->now = ev_now(s->loop);
	for (unsigned i = 0; i < s->batch && s->ready != NULL; i++) {
		struct sched_entry *e = s->ready;
		s->ready = e->next;
		if (s->ready == NULL)
			s->ready_tail = &s->ready;
		s->nready--;
		why[0] = '\0';
		switch (deliver_message(s->deliver, e->qid, e->fresh, why,
					sizeof(why))) {
		case DELIVER_DEFER:
			defer(s, e, why);
			break;
		default:
			free(e);
			break;
		}
	}
	if (s->ready == NULL)
		ev_idle_stop(s->loop, &s->idle);
}

static void
sched_check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	(void)loop;
	(void)revents;
	sched_run(w->data);
}

/* Only keeps the loop from blocking while messages are due. */
static void
sched_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
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
