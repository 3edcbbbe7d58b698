/*
 * outq_int: outbound delivery's private structures, shared by its three
 * files: outq.c (messages and their recipients' outcomes), outq_dest.c
 * (destinations, connection attempts, the SMTP sessions' callbacks) and
 * outq_dsn.c (delivery status notifications). Private to spool/.
 */
#ifndef VD_OUTQ_INT_H
#define VD_OUTQ_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "cdb/nexthop.h"
#include "core/dns.h"
#include "protocols/smtp_client.h"
#include "spool/outq.h"
#include "spool/spool.h"
#include "spool/spool_env.h"

/* A recipient's outcome in this attempt. */
enum outq_rs {
	OUTQ_SKIP,  /* not ours: local, or done before */
	OUTQ_WAIT,  /* in a job, no outcome yet */
	OUTQ_SENT,
	OUTQ_DEFER,
	OUTQ_FAIL,
};

struct outq_rcpt {
	enum outq_rs st;
	int code;
	char enh[8];
	char *reply;               /* the outcome's words (malloc'd) */
	char relay[DNS_NAME_MAX + 64]; /* host[ip]:port, or "none" */
	bool noticed;              /* its DSN group was handled */
	bool notice_ok;            /* and its DSN is durable (or not due) */
};

/* One queue file in outbound delivery. */
struct outq_msg {
	struct outq *oq;
	struct outq_msg *prev, *next;
	void *cookie;              /* the queue runner's */
	char qid[SPOOL_QID_MAX];
	int fd;
	struct spool_env env;
	struct outq_rcpt *r;       /* per env.rcpt */
	unsigned jobs;             /* jobs not finished */
	bool dsn_busy;             /* a DSN waits for its commit */
	bool settling;
	struct spool_file dsn;     /* the DSN being committed */
	bool dsn_warn;             /* it is a delay warning */
	void (*dsn_done)(struct outq_msg *m, int err);
	char dsn_group[TBL_ADDR_MAX]; /* whom the notice on its way is for */
};

/* The recipients of one message for one destination. */
struct outq_job {
	struct smtpc_msg sm;       /* sm.owner = this job */
	struct outq_msg *msg;
	struct outq_job *next;
	unsigned *idx;             /* env.rcpt index per sm.rcpt */
	const char **rcpt;
	unsigned cap;
};

struct outq_attempt;

struct outq_dest {
	struct outq *oq;
	struct outq_dest *prev, *next;
	struct nexthop nh;
	struct outq_job *head, **tail;
	unsigned njobs;            /* waiting in head */
	unsigned nattempts;        /* resolving, connecting or in session */
	unsigned nbusy;            /* sessions holding a job */
	unsigned nlive;            /* sessions that greeted */
	struct outq_attempt *idle; /* sessions waiting for a job */
	struct outq_job *filling;  /* the job outq_add is filling */
	struct outq_msg *filling_msg;
};

/* outq.c */
void outq_msg_release(struct outq_msg *m); /* one job fewer: settle at 0 */
void outq_rcpt_done(struct outq_msg *m, unsigned i, int code,
		    const char *enh, const char *reply, const char *relay);
void outq_job_done(struct outq_job *j);
void outq_job_free(struct outq_job *j);
void outq_log_rcpt(const struct outq_msg *m, unsigned i, const char *status);

/* outq_dest.c */
struct outq_dest *outq_dest_get(struct outq *oq, const struct nexthop *nh);
void outq_dest_push(struct outq_dest *d, struct outq_job *j);
void outq_dest_kick(struct outq_dest *d);
void outq_dest_kick_all(struct outq *oq);
void outq_dest_free_all(struct outq *oq);

/* outq_local.c: recipient i (M, A or P) of m; P holds m until it ends */
void outq_local_init(struct outq *oq);
void outq_local_rcpt(struct outq_msg *m, unsigned i);
void outq_local_fini(struct outq *oq);

/*
 * outq_dsn.c: a notice (a DSN, an autoreply) to one address: routed to a
 * mailbox or another host (1; 0 refused here, -1 try later), and queued.
 */
int outq_notice_route(struct vd *vd, const char *qid, const char *to,
		      struct spool_rcpt *rcpt);
int outq_notice_queue(struct vd *vd, const char *qid, const char *sender,
		      const struct spool_rcpt *rcpt, const struct buf *text,
		      struct spool_file *f, void (*done)(void *arg, int err),
		      void *arg);
void outq_autoreply(struct outq_msg *m, unsigned i);

/* outq_dsn.c: queues the DSNs for m's failed (warn: delayed) recipients,
 * one per address they answer to (errors-to or sender); done(m, 0) once
 * all are handled, each recipient's notice_ok saying if its is durable. */
int outq_dsn_send(struct outq_msg *m, bool warn,
		  void (*done)(struct outq_msg *m, int err));

#endif
