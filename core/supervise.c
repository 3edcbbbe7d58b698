#include "core/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define SUP_DELAY_MAX 60.0
#define SUP_STOP_WAIT_MS 5000

static void sup_child_cb(struct ev_loop *loop, ev_child *w, int revents);

static void
spawn(struct sup *s)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_warn("%s: fork", s->name);
		return;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0) {
			dup2(null, 0);
			close(null);
		}
		/* A vdmaild killed with -9 must not leave its helper behind. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(s->argv[0], s->argv);
		_exit(127);
	}
	s->pid = pid;
	s->started = ev_now(s->loop);
	ev_child_set(&s->child, pid, 0);
	ev_child_start(s->loop, &s->child);
	log_info("%s: started %s (pid %ld)", s->name, s->argv[0], (long)pid);
}

static void
restart_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sup *s = (struct sup *)((char *)w - offsetof(struct sup,
							    restart));

	(void)loop;
	(void)revents;
	if (s->active && s->pid == 0)
		spawn(s);
}

static void
sup_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct sup *s = (struct sup *)((char *)w - offsetof(struct sup, child));
	int st = w->rstatus;

	(void)revents;
	ev_child_stop(loop, w);
	s->pid = 0;
	if (!s->active)
		return;
	/* A child that ran a while was healthy: start over at 1 s. */
	if (ev_now(loop) - s->started >= SUP_DELAY_MAX)
		s->delay = 1;
	log_warnx("%s: exited (%s %d); restarting in %.0f s", s->name,
		  WIFSIGNALED(st) ? "signal" : "status",
		  WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), s->delay);
	ev_timer_set(&s->restart, s->delay, 0);
	ev_timer_start(loop, &s->restart);
	s->delay = s->delay * 2 > SUP_DELAY_MAX ? SUP_DELAY_MAX : s->delay * 2;
}

int
sup_start(struct sup *s, struct ev_loop *loop, const char *name,
	  const char *const *argv)
{
	size_t n;

	memset(s, 0, sizeof(*s));
	s->loop = loop;
	util_strlcpy(s->name, name, sizeof(s->name));
	for (n = 0; argv[n] != NULL; n++) {
		if (n == SUP_ARGS_MAX ||
		    util_strlcpy(s->argv_buf[n], argv[n], SUP_ARG_LEN) >=
			    SUP_ARG_LEN)
			return -1;
		s->argv[n] = s->argv_buf[n];
	}
	s->argv[n] = NULL;
	if (access(s->argv[0], X_OK) < 0) {
		log_warn("%s: %s", name, s->argv[0]);
		return -1;
	}
	s->delay = 1;
	s->active = true;
	ev_child_init(&s->child, sup_child_cb, 0, 0);
	ev_timer_init(&s->restart, restart_cb, 0, 0);
	spawn(s);
	return 0;
}

void
sup_stop(struct sup *s)
{
	int st;

	if (!s->active)
		return;
	s->active = false;
	ev_timer_stop(s->loop, &s->restart);
	if (s->pid == 0)
		return;
	ev_child_stop(s->loop, &s->child);
	kill(s->pid, SIGTERM);
	for (int ms = 0; ms < SUP_STOP_WAIT_MS; ms += 20) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	s->pid = 0;
}
