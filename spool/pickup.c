#include "spool/pickup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cdb/route.h"
#include "core/log.h"
#include "core/util.h"
#include "protocols/smtp_data.h"

#define IO_MAX (64 * 1024)
#define ENAME_MAX (PICKUP_NAME_MAX * 4) /* a name escaped for logs */

/* A file in the group commit, until its done callback. */
struct pickup_job {
	struct pickup_job *next;
	struct pickup *p;
	struct spool_file file;
	char name[PICKUP_NAME_MAX];
	char ename[ENAME_MAX];
	char retry[PICKUP_NAME_MAX]; /* our retry file, "" if none */
	char sender[TBL_ADDR_MAX];
	unsigned long uid;
	unsigned nrcpt;
};

enum drop_rc { DROP_BAD = -1, DROP_LATER, DROP_TAKEN, DROP_GONE };

/* One maildrop file being taken. */
struct drop {
	const char *name;
	char ename[ENAME_MAX];
	int fd;
	struct stat st;
	const char *why;            /* what is wrong with it (DROP_BAD) */
	struct maildrop_env env;
	unsigned long uid;          /* the dropper */
	off_t text_off;
	bool eightbit;
	struct spool_rcpt *ok;      /* routed: local, or for outbound */
	unsigned nok, okcap;
	unsigned *temp;             /* indexes into rcpt of deferred ones */
	unsigned ntemp, nperm;
};

static int
bad(struct drop *d, const char *why)
{
	d->why = why;
	return -1;
}

/* ---- the envelope ---- */

/* More of the file into b: 1, or 0 at its end, or -1. */
static int
fill(struct buf *b, int fd)
{
	size_t avail;
	char *t = buf_tail(b, MAILDROP_LINE_MAX, &avail);
	ssize_t n;

	if (t == NULL)
		return -1;
	do
		n = read(fd, t, avail);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	buf_commit(b, (size_t)n);
	return 1;
}

/* Reads the envelope line by line, up to its empty line. */
static int
read_lines(struct drop *d, struct buf *b)
{
	off_t used = 0;

	for (;;) {
		const char *l;
		size_t len, n;
		/* An empty buf may have no memory yet: nothing to scan. */
		int got = 0;
		if (buf_len(b) > 0)
			got = buf_getline(b, MAILDROP_LINE_MAX, &l, &len, &n);
		if (got < 0)
			return bad(d, "envelope line too long");
		if (got == 0) {
			if (fill(b, d->fd) <= 0)
				return bad(d, "truncated envelope");
			continue;
		}
		used += (off_t)n;
		/* The line as it is up to its LF: a CR is the parser's. */
		got = maildrop_env_line(&d->env, l, n - 1);
		if (got < 0)
			return bad(d, d->env.why);
		if (got > 0) {
			d->text_off = used;
			return 0;
		}
		buf_consume(b, n);
	}
}

static int
read_env(struct pickup *p, struct drop *d)
{
	struct buf b;
	int rc;

	buf_init(&b, 2 * MAILDROP_LINE_MAX);
	rc = read_lines(d, &b);
	buf_free(&b);
	if (rc < 0)
		return -1;
	if (maildrop_env_done(&d->env, p->cfg->message_size_limit) < 0)
		return bad(d, d->env.why);
	if ((uint64_t)d->st.st_size != (uint64_t)d->text_off + d->env.size)
		return bad(d, "file size does not match Z (torn or altered)");
	/* Only a file of our own may say whose it is (a retry file). */
	d->uid = d->st.st_uid;
	if (d->st.st_uid == geteuid() && (d->env.seen & MAILDROP_SEEN_U))
		d->uid = d->env.uid;
	return 0;
}

/* ---- the text ---- */

struct text_scan {
	struct smtp_data sd;
	bool eightbit;
	smtp_data_sink_fn *sink;
	void *arg;
};

static void
scan_sink(void *arg, const char *data, size_t len)
{
	struct text_scan *t = arg;

	for (size_t i = 0; i < len && !t->eightbit; i++)
		if ((unsigned char)data[i] >= 0x80)
			t->eightbit = true;
	if (t->sink != NULL)
		t->sink(t->arg, data, len);
}

static const char *
text_error(unsigned errors)
{
	if (errors & (SMTP_DATA_E_BARE_LF | SMTP_DATA_E_BARE_CR))
		return "bare CR or LF in the text";
	if (errors & SMTP_DATA_E_NUL)
		return "NUL in the text";
	if (errors & SMTP_DATA_E_LONG_LINE)
		return "text line longer than 1000 octets";
	return "text longer than Z";
}

/*
 * Reads the text through the checks SMTP DATA applies (BDAT mode: no dot
 * rules), passing it to sink (may be NULL). 0, or -1 with d->why.
 */
static int
scan_text(struct pickup *p, struct drop *d, smtp_data_sink_fn *sink,
	  void *arg, bool *eightbit_r)
{
	struct text_scan t = { .sink = sink, .arg = arg };
	uint64_t left = d->env.size;
	off_t off = d->text_off;
	char extra;

	smtp_data_init(&t.sd, false, d->env.size, MAILDROP_TEXT_LINE_MAX);
	while (left > 0) {
		size_t want = left < IO_MAX ? (size_t)left : IO_MAX;
		ssize_t n = pread(d->fd, p->io, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return bad(d, n < 0 ? "read error"
					    : "text shorter than Z");
		smtp_data_feed(&t.sd, p->io, (size_t)n, scan_sink, &t);
		off += n;
		left -= (uint64_t)n;
	}
	/* The owner may still write to it: what we read is all there is. */
	if (pread(d->fd, &extra, 1, off) > 0)
		return bad(d, "text longer than Z");
	if (t.sd.errors != 0)
		return bad(d, text_error(t.sd.errors));
	if (t.sd.line_len != 0)
		return bad(d, "text does not end with CRLF");
	*eightbit_r = t.eightbit;
	return 0;
}

/* ---- recipients ---- */

static int
add_ok(void *arg, const char *addr, char kind, const char *value,
       const char *errorsto)
{
	struct drop *d = arg;

	return spool_rcpt_add(&d->ok, &d->nok, &d->okcap, addr, kind, value,
			      errorsto);
}

/*
 * As authenticated submission decides (route_expand with ROUTE_X_RELAY):
 * a list's members, a user's delivery options, users on other hosts and
 * addresses outside our domains are taken; the local user has logged in
 * already.
 */
static enum route_action
route_one(struct pickup *p, struct drop *d, const char *addr,
	  struct route_result *r)
{
	const struct cfg *c = p->cfg;
	struct route_opts o = {
		.store = p->store,
		.default_quota = c->default_quota,
		.default_msg_quota = c->default_msg_quota,
		.size = d->env.size,
		.postmaster = c->postmaster,
		.delimiter = c->recipient_delimiter[0],
		.hostname = c->hostname,
		.sender = d->env.sender,
	};

	return route_expand(p->tables, &o, addr, ROUTE_X_RELAY, r, add_ok, d,
			    NULL, NULL);
}

static int
route_all(struct pickup *p, struct drop *d)
{
	struct route_result r;

	d->temp = calloc(d->env.nrcpt, sizeof(*d->temp));
	if (d->temp == NULL)
		return -1;
	for (unsigned i = 0; i < d->env.nrcpt; i++) {
		enum route_action a = route_one(p, d, d->env.rcpt[i], &r);
		char reply[TBL_PATH_MAX];
		if (a == ROUTE_DELIVER || a == ROUTE_REMOTE)
			continue;
		if (a == ROUTE_TEMPFAIL &&
		    time(NULL) - d->st.st_mtime <= PICKUP_GIVEUP) {
			d->temp[d->ntemp++] = i;
		} else {
			/* No SMTP reply can tell the sender: a bounce will. */
			if (a == ROUTE_TEMPFAIL)
				snprintf(reply, sizeof(reply), "550 5.4.7 <%s>: "
					 "not deliverable for 5 days: %d %s %s",
					 d->env.rcpt[i], r.code, r.enh, r.text);
			else
				snprintf(reply, sizeof(reply), "%d %s <%s>: %s",
					 r.code, r.enh, d->env.rcpt[i], r.text);
			if (add_ok(d, d->env.rcpt[i], 'F', reply, NULL) < 0)
				return -1;
			d->nperm++;
		}
		log_info("pickup: maildrop/%s: uid=%lu from=<%s> to=<%s> %s "
			 "code=%d enh=%s reason=%s", d->ename, d->uid,
			 d->env.sender, d->env.rcpt[i],
			 a == ROUTE_TEMPFAIL ? "deferred" : "rejected", r.code,
			 r.enh, r.reason);
	}
	return 0;
}

/* ---- the deferred files ---- */

static struct pickup_defer *
defer_find(struct pickup *p, const char *name)
{
	for (unsigned i = 0; i < p->ndefer; i++)
		if (strcmp(p->defer[i].name, name) == 0)
			return &p->defer[i];
	return NULL;
}

static void
defer_forget(struct pickup *p, const char *name)
{
	struct pickup_defer *e = defer_find(p, name);

	if (e != NULL)
		*e = p->defer[--p->ndefer];
}

/* Not before queue_retry_min seconds, doubling up to queue_retry_max. */
static double
defer_add(struct pickup *p, const char *name, double delay)
{
	struct pickup_defer *e = defer_find(p, name);

	if (e == NULL && p->ndefer < PICKUP_DEFER_MAX) {
		e = &p->defer[p->ndefer++];
		memset(e, 0, sizeof(*e));
	} else if (e == NULL) {
		/* Full: the entry due first makes room (it is tried anyway). */
		e = &p->defer[0];
		for (unsigned i = 1; i < p->ndefer; i++)
			if (p->defer[i].due < e->due)
				e = &p->defer[i];
		memset(e, 0, sizeof(*e));
	}
	util_strlcpy(e->name, name, sizeof(e->name));
	if (delay <= 0) {
		delay = p->cfg->queue_retry_min;
		for (unsigned i = 0; i < e->attempts &&
				     delay < p->cfg->queue_retry_max; i++)
			delay *= 2;
		if (delay > p->cfg->queue_retry_max)
			delay = p->cfg->queue_retry_max;
	}
	e->attempts++;
	e->due = ev_now(p->loop) + delay;
	return delay;
}

/* ---- taking a file ---- */

static void
to_corrupt(struct pickup *p, struct drop *d)
{
	char id[SPOOL_QID_MAX], dst[SPOOL_QID_MAX + 16], what[64];

	spool_new_qid(p->spool, id);
	snprintf(dst, sizeof(dst), "maildrop.%s", id);
	if (renameat(p->dfd, d->name, p->spool->corrupt_dfd, dst) == 0) {
		snprintf(what, sizeof(what), "moved to corrupt/%s", dst);
		defer_forget(p, d->name);
	} else if (unlinkat(p->dfd, d->name, 0) == 0 ||
		   unlinkat(p->dfd, d->name, AT_REMOVEDIR) == 0) {
		snprintf(what, sizeof(what), "removed");
		defer_forget(p, d->name);
	} else {
		/* Not ours to move (a directory of its own): left alone. */
		snprintf(what, sizeof(what), "cannot be moved, ignored");
		defer_add(p, d->name, PICKUP_GIVEUP);
	}
	log_warnx("pickup: maildrop/%s: %s (uid=%lu); %s", d->ename, d->why,
		  (unsigned long)d->st.st_uid, what);
	p->corrupt++;
}

static void
received(const struct pickup *p, const struct drop *d, const char *qid,
	 struct buf *b)
{
	char date[64];

	util_rfc5322_date(date, sizeof(date), time(NULL));
	buf_printf(b, "Received: by %s (vdmail-sendmail, from uid %lu)\r\n"
		   "\tid %s; %s\r\n", p->cfg->hostname, d->uid, qid, date);
}

static void
spool_sink(void *arg, const char *data, size_t len)
{
	spool_write(arg, data, len);
}

/* The queue file for the recipients that can be taken now. */
static enum drop_rc
queue_file(struct pickup *p, struct drop *d, struct pickup_job *j)
{
	struct spool_env env;
	struct buf hdr;
	bool eightbit;

	memset(&env, 0, sizeof(env));
	spool_new_qid(p->spool, env.qid);
	env.arrival = time(NULL);
	/* No network peer: C and P say so (vdctl queue show prints them). */
	util_strlcpy(env.client, "local", sizeof(env.client));
	util_strlcpy(env.proto, "LOCAL", sizeof(env.proto));
	env.body = d->eightbit ? SPOOL_BODY_8BITMIME : SPOOL_BODY_7BIT;
	util_strlcpy(env.sender, d->env.sender, sizeof(env.sender));
	env.rcpt = d->ok;
	env.nrcpt = d->nok;
	if (spool_open(p->spool, &env, &j->file) < 0) {
		log_warn("pickup: maildrop/%s: cannot create a queue file",
			 d->ename);
		d->why = "cannot create a queue file";
		return DROP_LATER;
	}
	buf_init(&hdr, 4096);
	received(p, d, env.qid, &hdr);
	spool_write(&j->file, buf_data(&hdr), buf_len(&hdr));
	buf_free(&hdr);
	if (scan_text(p, d, spool_sink, &j->file, &eightbit) < 0 ||
	    eightbit != d->eightbit) {
		spool_abort(p->spool, &j->file);
		return bad(d, d->why ? d->why : "changed while being read");
	}
	if (spool_finish(&j->file) < 0) {
		log_warn("pickup: maildrop/%s: writing queue file %s",
			 d->ename, env.qid);
		spool_abort(p->spool, &j->file);
		d->why = "cannot write the queue file";
		return DROP_LATER;
	}
	return DROP_TAKEN;
}

struct fd_sink {
	int fd;
	int err;
};

static void
fd_sink(void *arg, const char *data, size_t len)
{
	struct fd_sink *s = arg;

	while (len > 0 && s->err == 0) {
		ssize_t n = write(s->fd, data, len);
		if (n < 0 && errno != EINTR)
			s->err = errno;
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
	}
}

static void
retry_env(const struct drop *d, struct buf *b)
{
	const struct maildrop_env *e = &d->env;

	maildrop_put_start(b, e->sender);
	for (unsigned i = 0; i < d->ntemp; i++)
		maildrop_put_rcpt(b, e->rcpt[d->temp[i]]);
	maildrop_put_end(b, d->uid,
			 (e->seen & MAILDROP_SEEN_N) ? e->login : NULL, e->size);
}

/* Writes the retry file's data under tmp (fd), made durable. 0 or -1. */
static int
retry_data(struct pickup *p, struct drop *d, int fd)
{
	struct fd_sink s = { fd, 0 };
	struct timespec times[2] = { d->st.st_atim, d->st.st_mtim };
	struct buf env;
	bool eightbit;

	buf_init(&env, (d->ntemp + 8) * (size_t)MAILDROP_LINE_MAX);
	retry_env(d, &env);
	fd_sink(&s, buf_data(&env), buf_len(&env));
	buf_free(&env);
	if (scan_text(p, d, fd_sink, &s, &eightbit) < 0)
		return -1;
	if (s.err != 0) {
		errno = s.err;
		return -1;
	}
	/* Its age is the original's: the give-up counts from the drop. */
	if (futimens(fd, times) < 0 || fsync(fd) < 0)
		return -1;
	return 0;
}

/*
 * The deferred recipients go into a maildrop file of ours, durable
 * before the original may go. 0, or -1 (nothing left behind).
 */
static int
write_retry(struct pickup *p, struct drop *d, struct pickup_job *j)
{
	char id[SPOOL_QID_MAX], tmp[SPOOL_QID_MAX + 16];
	int fd, rc;

	spool_new_qid(p->spool, id);
	snprintf(tmp, sizeof(tmp), "%spickup.%s", MAILDROP_TMP_PREFIX, id);
	snprintf(j->retry, sizeof(j->retry), "%lld.%ld.%s",
		 (long long)time(NULL), (long)getpid(), id);
	fd = openat(p->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    MAILDROP_FILE_MODE);
	if (fd < 0)
		return -1;
	rc = retry_data(p, d, fd);
	close(fd);
	if (rc == 0 && renameat2(p->dfd, tmp, p->dfd, j->retry,
				 RENAME_NOREPLACE) == 0 &&
	    fsync(p->dfd) == 0)
		return 0;
	log_warn("pickup: maildrop/%s: cannot write the retry file",
		 d->ename);
	unlinkat(p->dfd, tmp, 0);
	unlinkat(p->dfd, j->retry, 0);
	j->retry[0] = '\0';
	return -1;
}

static void
unlink_job(struct pickup *p, struct pickup_job *j)
{
	for (struct pickup_job **pp = &p->jobs; *pp != NULL;
	     pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			p->njobs--;
			return;
		}
	}
}

static void rearm(struct pickup *p, bool more);

static void
committed_cb(void *arg, int err)
{
	struct pickup_job *j = arg;
	struct pickup *p = j->p;
	bool was_full = p->njobs >= PICKUP_INFLIGHT_MAX;

	unlink_job(p, j);
	if (err != 0) {
		errno = err;
		log_warn("pickup: maildrop/%s: queueing failed, will retry",
			 j->ename);
		if (j->retry[0] != '\0')
			unlinkat(p->dfd, j->retry, 0);
		defer_add(p, j->name, 0);
	} else {
		log_info("%s: uid=%lu from=<%s> size=%llu nrcpt=%u proto=LOCAL "
			 "maildrop=%s", j->file.qid, j->uid, j->sender,
			 (unsigned long long)j->file.text, j->nrcpt, j->ename);
		/* Should this fail, the file is queued again: a duplicate. */
		if (unlinkat(p->dfd, j->name, 0) < 0 && errno != ENOENT)
			log_warn("pickup: maildrop/%s: cannot remove it",
				 j->ename);
		defer_forget(p, j->name);
		p->taken++;
	}
	free(j);
	rearm(p, was_full);
}

/* Every recipient routed: queue, wait, or give up. */
static enum drop_rc
decide(struct pickup *p, struct drop *d)
{
	struct pickup_job *j;
	enum drop_rc rc;

	if (route_all(p, d) < 0) {
		d->why = "out of memory";
		return DROP_LATER;
	}
	if (d->nok == 0 && d->ntemp == 0)
		return bad(d, "no recipient can be delivered");
	if (d->nok == 0) {
		if (time(NULL) - d->st.st_mtime > PICKUP_GIVEUP)
			return bad(d, "still undeliverable after 5 days");
		d->why = "no recipient can be delivered now";
		return DROP_LATER;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		d->why = "out of memory";
		return DROP_LATER;
	}
	rc = queue_file(p, d, j);
	if (rc == DROP_TAKEN && d->ntemp > 0 && write_retry(p, d, j) < 0) {
		spool_abort(p->spool, &j->file);
		d->why = "cannot write the retry file";
		rc = DROP_LATER;
	}
	if (rc != DROP_TAKEN) {
		free(j);
		return rc;
	}
	j->p = p;
	util_strlcpy(j->name, d->name, sizeof(j->name));
	util_strlcpy(j->ename, d->ename, sizeof(j->ename));
	util_strlcpy(j->sender, d->env.sender, sizeof(j->sender));
	j->uid = d->uid;
	j->nrcpt = d->nok;
	j->next = p->jobs;
	p->jobs = j;
	p->njobs++;
	spool_commit(p->commit, &j->file, committed_cb, j);
	return DROP_TAKEN;
}

/* The file itself: a plain file of one link, opened without following. */
static enum drop_rc
open_drop(struct pickup *p, struct drop *d)
{
	struct stat st;
	uint64_t max = p->cfg->message_size_limit +
		       ((uint64_t)p->cfg->max_recipients + 8) * MAILDROP_LINE_MAX;

	if (fstatat(p->dfd, d->name, &d->st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? DROP_GONE : bad(d, "cannot stat it");
	if (!S_ISREG(d->st.st_mode))
		return bad(d, "not a regular file");
	if (d->st.st_nlink != 1)
		return bad(d, "it has other hard links");
	d->fd = openat(p->dfd, d->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
			       O_NOCTTY | O_CLOEXEC);
	if (d->fd < 0)
		return errno == ENOENT
			       ? DROP_GONE
			       : bad(d, "vdmaild cannot read it (mode)");
	if (fstat(d->fd, &st) < 0 || st.st_ino != d->st.st_ino ||
	    st.st_dev != d->st.st_dev || !S_ISREG(st.st_mode))
		return bad(d, "replaced while being opened");
	d->st = st;
	if ((uint64_t)st.st_size > max)
		return bad(d, "larger than message_size_limit");
	return DROP_TAKEN;
}

/* Takes one maildrop file; returns the octets it cost. */
static uint64_t
take(struct pickup *p, const char *name)
{
	struct drop d;
	int rc;

	memset(&d, 0, sizeof(d));
	maildrop_env_init(&d.env, p->cfg->max_recipients);
	d.name = name;
	d.fd = -1;
	util_log_escape(d.ename, sizeof(d.ename), name, strlen(name));
	rc = open_drop(p, &d);
	if (rc == DROP_TAKEN && read_env(p, &d) < 0)
		rc = DROP_BAD;
	if (rc == DROP_TAKEN && scan_text(p, &d, NULL, NULL, &d.eightbit) < 0)
		rc = DROP_BAD;
	if (rc == DROP_TAKEN)
		rc = decide(p, &d);
	if (rc == DROP_BAD)
		to_corrupt(p, &d);
	if (rc == DROP_LATER)
		log_info("pickup: maildrop/%s: deferred (%s), retry in %.0fs",
			 d.ename, d.why, defer_add(p, name, 0));
	if (d.fd >= 0)
		close(d.fd);
	maildrop_env_free(&d.env);
	free(d.ok);
	free(d.temp);
	return d.env.size;
}

/* ---- the directory ---- */

/* A tmp. file nobody has written to for a day is a dead sendmail's. */
static void
clean_tmp(struct pickup *p, const char *name)
{
	char ename[ENAME_MAX];
	struct stat st;

	if (fstatat(p->dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    time(NULL) - st.st_mtime < PICKUP_TMP_STALE ||
	    unlinkat(p->dfd, name, 0) < 0)
		return;
	util_log_escape(ename, sizeof(ename), name, strlen(name));
	log_info("pickup: removed maildrop/%s (uid=%lu), untouched for a day",
		 ename, (unsigned long)st.st_uid);
}

static bool
is_busy(struct pickup *p, const char *name)
{
	struct pickup_defer *e = defer_find(p, name);

	if (e != NULL && e->due > ev_now(p->loop))
		return true;
	for (struct pickup_job *j = p->jobs; j != NULL; j = j->next)
		if (strcmp(j->name, name) == 0)
			return true;
	return false;
}

/*
 * After a full pass every due file was taken again (and so deferred
 * anew, or gone): entries still due name files that no longer exist.
 */
static void
purge_gone(struct pickup *p)
{
	ev_tstamp now = ev_now(p->loop);

	for (unsigned i = 0; i < p->ndefer;)
		if (p->defer[i].due <= now)
			p->defer[i] = p->defer[--p->ndefer];
		else
			i++;
}

static void
scan(struct pickup *p)
{
	int fd = dup(p->dfd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	unsigned files = 0;
	uint64_t bytes = 0;
	bool more = false;

	if (dir == NULL) {
		log_warn("pickup: reading %s", p->path);
		if (fd >= 0)
			close(fd);
		rearm(p, false);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL && p->njobs < PICKUP_INFLIGHT_MAX) {
		const char *name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (strncmp(name, MAILDROP_TMP_PREFIX,
			    strlen(MAILDROP_TMP_PREFIX)) == 0) {
			clean_tmp(p, name);
			continue;
		}
		if (is_busy(p, name))
			continue;
		if (files == PICKUP_TURN_FILES || bytes >= PICKUP_TURN_BYTES) {
			more = true; /* the rest on the next loop turn */
			break;
		}
		bytes += take(p, name);
		files++;
	}
	if (de == NULL)
		purge_gone(p);
	closedir(dir);
	rearm(p, more);
}

/*
 * The next pass: now when work is left, else when the first deferred
 * file is due; never later than one already planned. (A full set of
 * files in flight waits for committed_cb instead.)
 */
static void
rearm(struct pickup *p, bool more)
{
	ev_tstamp now = ev_now(p->loop), after = more ? 0 : INFINITY;

	/* Those due already are the current pass's (or its successor's). */
	for (unsigned i = 0; i < p->ndefer; i++)
		if (p->defer[i].due > now && p->defer[i].due - now < after)
			after = p->defer[i].due - now;
	if (isinf(after) || (ev_is_active(&p->kick) &&
			     ev_timer_remaining(p->loop, &p->kick) <= after))
		return;
	ev_timer_stop(p->loop, &p->kick);
	ev_timer_set(&p->kick, after, 0);
	ev_timer_start(p->loop, &p->kick);
}

/*
 * inotify tells of each file renamed into, linked or created in, or
 * written and closed in the directory at once. libev's ev_stat would compare the directory's times
 * in whole seconds and miss a file dropped in the same second as the
 * last one. The events themselves only wake us: scan() reads the
 * directory. An overflowed queue is just another wake-up.
 */
static void
watch_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pickup *p = w->data;
	char buf[4096] __attribute__((aligned(8)));

	(void)loop;
	(void)revents;
	while (read(p->ino_fd, buf, sizeof(buf)) > 0)
		;
	scan(p);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	scan(w->data);
}

/* Adds search permission for others to dir when it lacks it and is ours. */
static void
make_searchable(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0 || (st.st_mode & 011) == 011)
		return;
	if (st.st_uid != geteuid() ||
	    chmod(dir, (st.st_mode & 07777) | 011) < 0)
		log_warnx("pickup: %s is not searchable by other users and "
			  "cannot be made so: only its owner can submit", dir);
	else
		log_info("pickup: %s made searchable (mode %04o) so local "
			 "users reach maildrop/", dir,
			 (unsigned)((st.st_mode & 07777) | 011));
}

static int
open_dir(struct pickup *p)
{
	struct stat st;

	if (mkdir(p->path, 0700) < 0 && errno != EEXIST) {
		log_warn("pickup: mkdir %s", p->path);
		return -1;
	}
	p->dfd = open(p->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p->dfd < 0 || fstat(p->dfd, &st) < 0) {
		log_warn("pickup: %s", p->path);
		return -1;
	}
	/* Set every start: mkdir's mode passes through the umask. */
	if ((st.st_mode & 07777) != MAILDROP_DIR_MODE &&
	    (st.st_uid != geteuid() || fchmod(p->dfd, MAILDROP_DIR_MODE) < 0))
		log_warnx("pickup: %s has mode %04o, not %04o, and it cannot "
			  "be changed: local users may not be able to submit",
			  p->path, (unsigned)(st.st_mode & 07777),
			  MAILDROP_DIR_MODE);
	make_searchable(p->spool->dir);
	return 0;
}

int
pickup_init(struct pickup *p, struct ev_loop *loop, struct spool *spool,
	    struct spool_commit *commit, struct tbl_set *tables,
	    struct store *store, const struct cfg *cfg)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->spool = spool;
	p->commit = commit;
	p->tables = tables;
	p->store = store;
	p->cfg = cfg;
	p->dfd = -1;
	p->ino_fd = -1;
	if (util_fmt(p->path, sizeof(p->path), "%s/%s", spool->dir,
		     MAILDROP_DIR) < 0 || open_dir(p) < 0)
		goto fail;
	p->io = malloc(IO_MAX);
	p->defer = calloc(PICKUP_DEFER_MAX, sizeof(*p->defer));
	if (p->io == NULL || p->defer == NULL)
		goto fail;
	p->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (p->ino_fd < 0 || inotify_add_watch(p->ino_fd, p->path,
					       IN_MOVED_TO | IN_CREATE |
						       IN_CLOSE_WRITE) < 0)
		log_warn("pickup: inotify on %s: only the %.0f s scan finds "
			 "new files", p->path, PICKUP_POLL);
	ev_io_init(&p->watch, watch_cb, p->ino_fd, EV_READ);
	ev_timer_init(&p->poll, timer_cb, PICKUP_POLL, PICKUP_POLL);
	ev_timer_init(&p->kick, timer_cb, 0., 0.);
	p->watch.data = p->poll.data = p->kick.data = p;
	if (p->ino_fd >= 0)
		ev_io_start(loop, &p->watch);
	ev_timer_start(loop, &p->poll);
	ev_timer_start(loop, &p->kick); /* what is there already */
	return 0;
fail:
	log_warnx("pickup: local submission is off");
	pickup_fini(p);
	return -1;
}

void
pickup_fini(struct pickup *p)
{
	if (p->loop != NULL) {
		ev_io_stop(p->loop, &p->watch);
		ev_timer_stop(p->loop, &p->poll);
		ev_timer_stop(p->loop, &p->kick);
	}
	/* The commit still points at them: never freed under it. */
	if (p->jobs != NULL)
		log_crit("pickup: %u file(s) still being committed", p->njobs);
	if (p->dfd >= 0)
		close(p->dfd);
	p->dfd = -1;
	if (p->ino_fd >= 0)
		close(p->ino_fd);
	p->ino_fd = -1;
	free(p->io);
	free(p->defer);
	p->io = NULL;
	p->defer = NULL;
}
