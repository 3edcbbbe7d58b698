/*
 * outq_reply: the autoreply recipients (kind A) of a queued message: the
 * user's record is read now (so a vacation switched off meanwhile sends
 * nothing), RFC 3834's rules decide (spool/autoreply.h), the answer is
 * queued from <> to the envelope sender like any message, and the
 * recipient counts as done once the answer is durable, or at once when
 * no answer is due (logged with the reason).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "core/vd.h"
#include "spool/autoreply.h"
#include "spool/outq_int.h"

#define REPLY_HEADER_MAX (64 * 1024) /* of the original, for the rules */

struct outq_reply {
	struct spool_file f;
	struct outq_msg *m;
	unsigned i;
};

static void
reply_done(void *arg, int err)
{
	struct outq_reply *rep = arg;
	struct outq_msg *m = rep->m;
	char text[64];

	snprintf(text, sizeof(text), "autoreply %s %s", rep->f.qid,
		 err ? "could not be queued" : "queued");
	outq_rcpt_done(m, rep->i, err ? 451 : 250, err ? "4.3.0" : "2.0.0",
		       text, "autoreply");
	free(rep);
	outq_msg_release(m);
}

/* No answer is due: the recipient is done all the same. */
static void
no_answer(struct outq_msg *m, unsigned i, const char *why)
{
	char text[96];

	snprintf(text, sizeof(text), "autoreply not sent: %s", why);
	outq_rcpt_done(m, i, 250, "2.0.0", text, "autoreply");
}

/* Our Received header, then the answer. 0 or -1. */
static int
answer_text(struct outq_msg *m, const struct autoreply_in *in,
	    const char *qid, struct buf *out)
{
	char date[64];

	util_rfc5322_date(date, sizeof(date), in->now);
	if (buf_printf(out, "Received: by %s (vdmail autoreply) id %s;\r\n"
		       "\t%s\r\n", m->oq->vd->cfg.hostname, qid, date) < 0)
		return -1;
	return autoreply_format(out, in);
}

/* Queues the answer; 0 (the recipient waits for it), -1 temporary. */
static int
send_answer(struct outq_msg *m, unsigned i, const struct autoreply_in *in)
{
	struct vd *vd = m->oq->vd;
	struct outq_reply *rep = calloc(1, sizeof(*rep));
	struct spool_rcpt to;
	char qid[SPOOL_QID_MAX];
	struct buf text;
	int rc = outq_notice_route(vd, m->qid, m->env.sender, &to);

	if (rep == NULL || rc < 0) {
		free(rep);
		return -1;
	}
	if (rc == 0) {
		free(rep);
		no_answer(m, i, "the sender is refused here");
		return 0;
	}
	rep->m = m;
	rep->i = i;
	spool_new_qid(&vd->spool, qid);
	/* autoreply_format's bound, for the longer of the two texts */
	size_t t = strlen(in->text) > strlen(in->text_internal)
			   ? strlen(in->text) : strlen(in->text_internal);
	buf_init(&text, 4 * (2 * t + AUTOREPLY_ECHO_MAX) + 8192 + 512);
	if (answer_text(m, in, qid, &text) < 0 ||
	    outq_notice_queue(vd, qid, "", &to, &text, &rep->f, reply_done,
			      rep) < 0) {
		buf_free(&text);
		free(rep);
		return -1;
	}
	buf_free(&text);
	m->jobs++;
	log_info("%s: autoreply to <%s> for <%s>: %s", m->qid, m->env.sender,
		 m->env.rcpt[i].addr, qid);
	return 0;
}

/* Decides and, when due, answers; the user's record u. */
static void
reply_for(struct outq_msg *m, unsigned i, const char *login,
	  const struct tbl_user *u, const char *header, size_t hlen)
{
	struct autoreply_in in = {
		.header = header, .headerlen = hlen,
		.sender = m->env.sender, .rcpt = m->env.rcpt[i].addr,
		.user_addr = login, .mode = u->replymode,
		.subject = u->replysubject, .text = u->replytext,
		.text_internal = u->replyinternal,
		.vacstart = u->vacstart, .vacend = u->vacend,
		.now = time(NULL), .hostname = m->oq->vd->cfg.hostname,
		.qid = m->qid,
	};
	char why[32], box[TBL_PATH_MAX];
	int fd, once;

	if (!autoreply_wanted(&in, why, sizeof(why))) {
		no_answer(m, i, why);
		return;
	}
	if (tbl_rec_user_mailbox(login, strlen(login), u, box,
				 sizeof(box)) < 0 ||
	    (fd = store_open_box(&m->oq->vd->store, box)) < 0) {
		outq_rcpt_done(m, i, 451, "4.3.0", "autoreply: the mailbox "
			       "cannot be opened", "autoreply");
		return;
	}
	once = autoreply_once(fd, m->env.sender, in.now,
			      autoreply_timeout(u->replytimeout));
	close(fd);
	if (once != 0) {
		no_answer(m, i, once > 0 ? "already_replied" : "state_error");
		return;
	}
	if (send_answer(m, i, &in) < 0)
		outq_rcpt_done(m, i, 451, "4.3.0", "autoreply could not be "
			       "queued", "autoreply");
}

void
outq_autoreply(struct outq_msg *m, unsigned i)
{
	const char *login = m->env.rcpt[i].mailbox;
	size_t hl = m->env.size < REPLY_HEADER_MAX ? (size_t)m->env.size
						   : REPLY_HEADER_MAX;
	struct tbl_user *u = malloc(sizeof(*u));
	char *hdr = malloc(hl ? hl : 1);
	ssize_t got = hdr ? pread(m->fd, hdr, hl, (off_t)m->env.text_off) : -1;
	int rc = u ? tbl_lookup_user(&m->oq->vd->tables, login, strlen(login),
				     u)
		   : -1;

	if (got < 0 || rc < 0)
		outq_rcpt_done(m, i, 451, "4.3.0", "autoreply: the message or "
			       "the tables cannot be read", "autoreply");
	else if (rc == 0)
		no_answer(m, i, "no_such_user");
	else
		reply_for(m, i, login, u, hdr, (size_t)got);
	free(u);
	free(hdr);
}
