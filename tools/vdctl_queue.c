#include "tools/vdctl_queue.h"

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "spool/spool_env.h"

struct vdctl_spool {
	int queue, hold, ctl; /* directories of the spool */
};

#define READ_MAX (1024 * 1024) /* an envelope larger than this is shown cut */

/* Reads the start of queue/qid and parses its envelope: 1, 0 gone, -1. */
static int
load(int dfd, const char *qid, struct spool_env *e, char **data_r,
     size_t *len_r)
{
	char err[256];
	int fd = openat(dfd, qid, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char *buf;
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	buf = malloc(READ_MAX);
	n = buf ? pread(fd, buf, READ_MAX, 0) : -1;
	close(fd);
	if (n < 0 || spool_env_parse(buf, (size_t)n, e, err, sizeof(err)) != 1) {
		fprintf(stderr, "vdctl: queue/%s: %s\n", qid,
			n < 0 ? strerror(errno) : "unreadable envelope");
		free(buf);
		return -1;
	}
	*data_r = buf;
	*len_r = (size_t)n;
	return 1;
}

static void
print_rcpts(const struct spool_env *e)
{
	for (unsigned i = 0; i < e->nrcpt; i++) {
		const struct spool_rcpt *r = &e->rcpt[i];
		char kind = spool_rcpt_kind(r);
		const char *state = r->done ? "delivered"
				    : kind == 'X' ? "waiting"
				    : kind == 'H' ? "held"
				    : kind == 'F' ? "failed" : "pending";
		const char *how = kind == 'X' ? " (outbound delivery)"
				  : kind == 'A' ? " autoreply for "
				  : kind == 'P' ? " program "
				  : kind == 'M' ? " file "
				  : kind == 'F' ? " " : " -> ";
		printf("  %-9s <%s>%s%s%s%s\n", state, r->addr, how,
		       kind == 'X' ? "" : r->mailbox,
		       r->errorsto[0] ? " errors to " : "", r->errorsto);
	}
}

static unsigned
list_dir(int dfd, const char *state)
{
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct spool_env e;
		char *data, when[32];
		size_t len;
		if (de->d_name[0] == '.' ||
		    load(dfd, de->d_name, &e, &data, &len) != 1)
			continue;
		struct tm tm;
		gmtime_r(&e.arrival, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("%s %s %llu <%s>%s\n", e.qid, when,
		       (unsigned long long)e.size, e.sender, state);
		print_rcpts(&e);
		spool_env_free(&e);
		free(data);
		n++;
	}
	closedir(d);
	return n;
}

static int
list(int dfd, int hold_dfd)
{
	unsigned n = list_dir(dfd, "");
	unsigned h = hold_dfd >= 0 ? list_dir(hold_dfd, " (held)") : 0;

	printf("%u message(s) in the queue, %u held\n", n, h);
	return 0;
}

/* A queue id is hex digits: nothing else may name a file here. */
static bool
is_qid(const char *qid)
{
	size_t n = strlen(qid);

	if (n == 0 || n >= SPOOL_QID_MAX)
		return false;
	for (const char *p = qid; *p; p++)
		if (util_hexval(*p) < 0 || (*p >= 'a' && *p <= 'f'))
			return false;
	return true;
}

static int
show(int dfd, int hold_dfd, const char *qid)
{
	struct spool_env e;
	char *data;
	size_t len;
	int rc;

	if (!is_qid(qid))
		return fprintf(stderr, "vdctl: bad queue id\n"), 1;
	rc = load(dfd, qid, &e, &data, &len);
	if (rc == 0 && hold_dfd >= 0)
		rc = load(hold_dfd, qid, &e, &data, &len);
	if (rc <= 0) {
		if (rc == 0)
			fprintf(stderr, "vdctl: no message %s in the queue\n", qid);
		return rc == 0 ? 1 : 3;
	}
	printf("id        %s\nsender    <%s>\nclient    %s\nhelo      %s\n"
	       "protocol  %s\nsize      %llu\n", e.qid, e.sender, e.client,
	       e.helo, e.proto, (unsigned long long)e.size);
	print_rcpts(&e);
	/* The header, for what the message is; never the body. */
	size_t end = e.text_off;
	while (end < len && !(data[end] == '\n' &&
			      (end + 1 < len && (data[end + 1] == '\r' ||
						 data[end + 1] == '\n'))))
		end++;
	fwrite(data + e.text_off, 1, end > e.text_off ? end - e.text_off : 0,
	       stdout);
	putchar('\n');
	spool_env_free(&e);
	free(data);
	return 0;
}

/* vdmaild's pid when it runs (its pid file names a live process), or 0. */
static pid_t
running_pid(const char *pid_file)
{
	char buf[32] = "";
	int fd = pid_file[0] ? open(pid_file, O_RDONLY | O_CLOEXEC) : -1;
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	long pid;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 1 && kill((pid_t)pid, 0) == 0 ? (pid_t)pid : 0;
}

/* vdmaild is not running: the single writer is us, for this one step. */
static int
act_offline(const struct vdctl_spool *sp, const char *verb, const char *qid)
{
	int rc;

	if (strcmp(verb, "hold") == 0)
		rc = renameat(sp->queue, qid, sp->hold, qid);
	else if (strcmp(verb, "release") == 0)
		rc = renameat2(sp->hold, qid, sp->queue, qid, RENAME_NOREPLACE);
	else if (strcmp(verb, "delete") == 0)
		rc = unlinkat(sp->queue, qid, 0) < 0 && errno == ENOENT
			     ? unlinkat(sp->hold, qid, 0)
			     : 0;
	else
		return 0; /* flush: it happens at the next start anyway */
	if (rc < 0) {
		fprintf(stderr, "vdctl: %s %s: %s\n", verb, qid,
			errno == ENOENT ? "no such message" : strerror(errno));
		return errno == ENOENT ? 1 : 3;
	}
	return 0;
}

/* Where qid is now: 'q' queue/, 'h' hold/, 0 neither. */
static int
where(const struct vdctl_spool *sp, const char *qid)
{
	if (faccessat(sp->queue, qid, F_OK, 0) == 0)
		return 'q';
	if (faccessat(sp->hold, qid, F_OK, 0) == 0)
		return 'h';
	return 0;
}

/* Drops ctl/VERB[.QID] for vdmaild, signals it, waits until it is done. */
static int
request(const struct vdctl_spool *sp, pid_t pid, const char *verb,
	const char *qid)
{
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "%s%s%s", verb, qid[0] ? "." : "", qid);
	fd = openat(sp->ctl, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "vdctl: ctl/%s: %s\n", name, strerror(errno));
		return 3;
	}
	close(fd);
	kill(pid, SIGUSR1);
	for (int i = 0; i < 100; i++) {
		if (faccessat(sp->ctl, name, F_OK, 0) < 0)
			break;
		usleep(50 * 1000);
	}
	if (faccessat(sp->ctl, name, F_OK, 0) == 0) {
		fprintf(stderr, "vdctl: vdmaild has not taken ctl/%s yet; it "
			"will when it checks its tables\n", name);
		return 1;
	}
	return 0;
}

static int
control(const struct vdctl_spool *sp, const char *pid_file, const char *verb,
	const char *qid)
{
	pid_t pid = running_pid(pid_file);
	int before = qid[0] ? where(sp, qid) : 0, rc, after;

	if (qid[0] && !is_qid(qid))
		return fprintf(stderr, "vdctl: bad queue id\n"), 1;
	if (qid[0] && before == 0)
		return fprintf(stderr, "vdctl: no message %s\n", qid), 1;
	rc = pid ? request(sp, pid, verb, qid) : act_offline(sp, verb, qid);
	if (rc != 0 || !qid[0])
		return rc;
	/* A message being delivered moves once its attempt ends. */
	for (int i = 0; i < 100; i++) {
		after = where(sp, qid);
		if (strcmp(verb, "hold") == 0 ? after != 'q'
		    : strcmp(verb, "release") == 0 ? after != 'h'
		    : strcmp(verb, "delete") == 0 ? after == 0 : true)
			break;
		usleep(50 * 1000);
	}
	printf("%s: %s\n", qid, after == 'q' ? "in the queue"
			       : after == 'h' ? "held" : "gone");
	return 0;
}

static int
open_sub(const char *spool_dir, const char *name)
{
	char path[1100];

	if (util_fmt(path, sizeof(path), "%s/%s", spool_dir, name) < 0)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
vdctl_queue(const char *spool_dir, const char *pid_file, int argc,
	    char **argv)
{
	struct vdctl_spool sp = {
		.queue = open_sub(spool_dir, "queue"),
		.hold = open_sub(spool_dir, "hold"),
		.ctl = open_sub(spool_dir, "ctl"),
	};
	const char *verb = argc >= 2 ? argv[1] : "";
	int rc = 2;

	if (sp.queue < 0) {
		fprintf(stderr, "vdctl: %s/queue: %s\n", spool_dir,
			strerror(errno));
		return 3;
	}
	if (argc == 2 && strcmp(verb, "list") == 0)
		rc = list(sp.queue, sp.hold);
	else if (argc == 3 && strcmp(verb, "show") == 0)
		rc = show(sp.queue, sp.hold, argv[2]);
	else if ((argc == 2 || argc == 3) && strcmp(verb, "flush") == 0)
		rc = control(&sp, pid_file, verb, argc == 3 ? argv[2] : "");
	else if (argc == 3 && (strcmp(verb, "hold") == 0 ||
			       strcmp(verb, "release") == 0 ||
			       strcmp(verb, "delete") == 0))
		rc = sp.hold < 0 || sp.ctl < 0
			     ? (fprintf(stderr, "vdctl: %s has no hold/ or ctl/ "
					"(start vdmaild once)\n", spool_dir), 3)
			     : control(&sp, pid_file, verb, argv[2]);
	else
		fprintf(stderr, "usage: vdctl [-c config] queue list | show ID "
			"| flush [ID] | hold ID | release ID | delete ID\n");
	close(sp.queue);
	if (sp.hold >= 0)
		close(sp.hold);
	if (sp.ctl >= 0)
		close(sp.ctl);
	return rc;
}
