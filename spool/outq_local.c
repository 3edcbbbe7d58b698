/*
 * outq_local: the local delivery options of a queued message (outq.h),
 * recipients of kinds
 *   M  an mbox file below file_dir (spool/mboxfile.h), at once;
 *   A  an autoreply on the user's behalf (spool/autoreply.h): the reply
 *      is queued from <> like any message, or skipped by RFC 3834's rules;
 *      either way the recipient is done;
 *   P  a program the admin registered (spool/program.h), in a child; the
 *      message waits for it (a job of the message);
 *   F  refused when the message was taken (local submission): it fails
 *      with the reply recorded, so the sender gets the usual bounce.
 * Their outcomes go through outq_rcpt_done like a remote host's reply, so
 * a program's exit 75 defers (4.3.0) and any other failure bounces with
 * its output (5.3.0).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "core/vd.h"
#include "spool/mboxfile.h"
#include "spool/outq_int.h"
#include "spool/program.h"

struct outq_prog {
	struct outq_prog *prev, *next;
	struct outq_msg *m;
	unsigned i;
	struct prog_job *job;
	char name[32];
};

void
outq_local_init(struct outq *oq)
{
	const struct cfg *c = &oq->vd->cfg;
	struct passwd *pw;

	oq->file_dfd = -1;
	if (c->file_dir[0] != '\0') {
		if (mkdir(c->file_dir, 0700) < 0 && errno != EEXIST)
			log_warn("file_dir %s", c->file_dir);
		oq->file_dfd = open(c->file_dir, O_RDONLY | O_DIRECTORY |
							 O_CLOEXEC);
		if (oq->file_dfd < 0)
			log_warn("file_dir %s: file deliveries will fail",
				 c->file_dir);
	}
	/* Resolved once: the loop never asks NSS. Not root: our own ids. */
	oq->prog_uid = geteuid();
	oq->prog_gid = getegid();
	if (geteuid() == 0) {
		pw = getpwnam(c->program_user);
		oq->prog_uid = pw ? pw->pw_uid : PROG_NO_USER;
		oq->prog_gid = pw ? pw->pw_gid : (gid_t)-1;
		if (pw == NULL && c->nprograms > 0)
			log_warnx("program_user %s: no such user; program "
				  "deliveries will be deferred",
				  c->program_user);
	}
}

void
outq_local_fini(struct outq *oq)
{
	while (oq->progs != NULL) {
		struct outq_prog *p = oq->progs;
		oq->progs = p->next;
		prog_cancel(p->job);
		free(p);
	}
	if (oq->file_dfd >= 0)
		close(oq->file_dfd);
	oq->file_dfd = -1;
}

static void
deliver_file(struct outq_msg *m, unsigned i)
{
	const struct spool_rcpt *r = &m->env.rcpt[i];
	char why[256], text[TBL_PATH_MAX + 300];
	enum mboxfile_result rc;

	rc = mboxfile_append(m->oq->file_dfd, r->mailbox, m->env.sender,
			     m->env.arrival, m->fd, m->env.text_off,
			     m->env.size, why, sizeof(why));
	if (rc == MBOXFILE_OK)
		snprintf(text, sizeof(text), "appended to %s", r->mailbox);
	else
		snprintf(text, sizeof(text), "file %s: %s", r->mailbox, why);
	outq_rcpt_done(m, i, rc == MBOXFILE_OK ? 250
			     : rc == MBOXFILE_TEMP ? 451 : 554,
		       rc == MBOXFILE_OK ? "2.0.0"
		       : rc == MBOXFILE_TEMP ? "4.3.0" : "5.3.0",
		       text, "file");
}

static const struct cfg_program *
find_program(const struct cfg *c, const char *name)
{
	for (unsigned k = 0; k < c->nprograms; k++)
		if (strcmp(c->programs[k].name, name) == 0)
			return &c->programs[k];
	return NULL;
}

static void
prog_unlink(struct outq *oq, struct outq_prog *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		oq->progs = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void
prog_done(void *arg, enum prog_status st, const char *why, const char *out,
	  size_t outlen)
{
	struct outq_prog *p = arg;
	struct outq_msg *m = p->m;
	char text[PROG_WHY_MAX + PROG_OUTPUT_MAX + 64], relay[48];

	snprintf(text, sizeof(text), "program %s: %s%s%.*s", p->name, why,
		 outlen ? "; output: " : "", (int)outlen, out);
	snprintf(relay, sizeof(relay), "program:%s", p->name);
	outq_rcpt_done(m, p->i, st == PROG_OK ? 250 : st == PROG_TEMP ? 451
								    : 554,
		       st == PROG_OK ? "2.0.0" : st == PROG_TEMP ? "4.3.0"
								 : "5.3.0",
		       text, relay);
	prog_unlink(m->oq, p);
	free(p);
	outq_msg_release(m);
}

/* RECIPIENT, SENDER, LOCAL, DOMAIN, QUEUE_ID: what a program gets. */
static void
program_env(const struct outq_msg *m, const struct spool_rcpt *r,
	    char (*v)[TBL_ADDR_MAX + 16], const char **envp)
{
	const char *at = strrchr(r->addr, '@');
	int nl = at ? (int)(at - r->addr) : (int)strlen(r->addr);

	snprintf(v[0], sizeof(v[0]), "RECIPIENT=%s", r->addr);
	snprintf(v[1], sizeof(v[1]), "SENDER=%s", m->env.sender);
	snprintf(v[2], sizeof(v[2]), "LOCAL=%.*s", nl, r->addr);
	snprintf(v[3], sizeof(v[3]), "DOMAIN=%s", at ? at + 1 : "");
	snprintf(v[4], sizeof(v[4]), "QUEUE_ID=%s", m->qid);
	for (int k = 0; k < 5; k++)
		envp[k] = v[k];
	envp[5] = NULL;
}

static void
deliver_program(struct outq_msg *m, unsigned i)
{
	struct outq *oq = m->oq;
	const struct spool_rcpt *r = &m->env.rcpt[i];
	const struct cfg_program *prog = find_program(&oq->vd->cfg, r->mailbox);
	char vals[5][TBL_ADDR_MAX + 16], prefix[2 * TBL_ADDR_MAX + 64];
	const char *envp[6];
	struct outq_prog *p;
	int plen;

	if (prog == NULL) {
		char text[TBL_PATH_MAX + 40];
		snprintf(text, sizeof(text), "program %s is not registered "
			 "here", r->mailbox);
		outq_rcpt_done(m, i, 554, "5.3.0", text, "program");
		return;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		outq_rcpt_done(m, i, 451, "4.3.0", "out of memory", "program");
		return;
	}
	program_env(m, r, vals, envp);
	plen = snprintf(prefix, sizeof(prefix), "Return-Path: <%s>\r\n"
			"Delivered-To: %s\r\n", m->env.sender, r->addr);
	p->m = m;
	p->i = i;
	util_strlcpy(p->name, prog->name, sizeof(p->name));
	p->job = prog_run(oq->vd->loop, prog, oq->prog_uid, oq->prog_gid,
			  m->fd, m->env.text_off, prefix, (size_t)plen, envp,
			  oq->vd->cfg.program_timeout, prog_done, p);
	if (p->job == NULL) {
		free(p);
		outq_rcpt_done(m, i, 451, "4.3.0", "out of memory", "program");
		return;
	}
	p->next = oq->progs;
	if (oq->progs)
		oq->progs->prev = p;
	oq->progs = p;
	m->jobs++;
}

void
outq_local_rcpt(struct outq_msg *m, unsigned i)
{
	switch (m->env.rcpt[i].kind) {
	case 'M':
		deliver_file(m, i);
		break;
	case 'P':
		deliver_program(m, i);
		break;
	case 'A':
		outq_autoreply(m, i);
		break;
	case 'F': {
		/* refused when taken: "5XX X.Y.Z text" (spool_env checked) */
		const char *v = m->env.rcpt[i].mailbox;
		char enh[8] = "5.0.0";
		size_t el = strcspn(v + 4, " ");
		if (el > 0 && el < sizeof(enh)) {
			memcpy(enh, v + 4, el);
			enh[el] = '\0';
		}
		outq_rcpt_done(m, i, atoi(v), enh, v, "");
		break;
	}
	}
}
