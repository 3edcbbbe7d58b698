/*
 * outq: outbound delivery, in the reactor. The queue runner (sched.h)
 * hands it a message whose mailbox deliveries are settled; outq delivers
 * every recipient that waits for another host (X), and those of the
 * local delivery options (outq_local.c: M an mbox file, A an autoreply,
 * P a program), and hands the message back. Their outcomes are kept,
 * logged and bounced alike (a program's exit 75 defers like a 4xx, any
 * other failure bounces with its output).
 *
 * Recipients are grouped by next hop (cdb/nexthop.h): a destination is an
 * MX domain, one of our hosts (mailHost) or a relay. A destination holds
 * jobs (the recipients of one message for it, at most outbound_rcpt_max
 * each) and runs up to outbound_dest_concurrency connection attempts, and
 * all destinations together up to outbound_concurrency. An attempt
 * resolves the MX hosts (core/dns.h; RFC 5321 5.1: preference order, the
 * domain's own address records when it has no MX, a null MX bounces, MX
 * hosts at or above our own preference are dropped), then each host's
 * addresses, and connects to each in turn until one greets; the session
 * (protocols/smtp_client.h) then takes the destination's jobs one after
 * another over that connection.
 *
 * Per recipient:
 *   2xx: marked D in the queue file at once (qfile_mark), logged sent;
 *   4xx, a failed connection, a DNS failure: deferred (logged), retried
 *        by the queue runner, until queue_lifetime since arrival: then
 *        it fails with its last reply;
 *   5xx, no such domain, null MX: failed.
 * Failed recipients of a message get one DSN (spool/bounce.h) to the
 * envelope sender, queued through the group commit; only once it is
 * durable are they marked D. A message from <> that fails gets its
 * notice sent to the postmaster (the failed recipient's domain's, else
 * the server's) from double-bounce@HOSTNAME, and one from that address
 * that fails is only logged: bounces never loop. With delay_warning set,
 * a recipient deferred that long gets one warning DSN (mark W).
 * When every attempt for the message is over: the queue file is recycled
 * if no recipient is left, and the runner is told DONE or DEFER.
 * Blocks only on local disk (queue file reads, marks, tables).
 */
#ifndef VD_OUTQ_H
#define VD_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct vd;
struct dns;
struct tls_client_ctx;
struct outq_dest;
struct outq_msg;
struct outq_prog;

struct outq {
	struct vd *vd;
	struct dns *dns;
	struct tls_client_ctx *tls; /* NULL: outbound_tls = none */
	struct outq_dest *dests;    /* every destination with work */
	struct outq_msg *msgs;      /* every message in delivery */
	unsigned ndests, nattempts, nmsgs;
	bool stopping;
	/* the local delivery options (outq_local.c) */
	int file_dfd;               /* file_dir, or -1 */
	uid_t prog_uid;             /* program_user */
	gid_t prog_gid;
	struct outq_prog *progs;    /* programs running */
};

/*
 * Sets up the resolver and the trust anchors from vd->cfg. 0, or -1 with
 * err (a bad dns_servers).
 */
int outq_init(struct outq *oq, struct vd *vd, char *err, size_t errlen);
/* Stops starting anything (shutdown); sessions finish their message. */
void outq_stop(struct outq *oq);
/* Frees what is left (after every connection is closed). */
void outq_fini(struct outq *oq);

/*
 * Delivers queue/QID's pending remote recipients; sched_outq_done(cookie,
 * ...) runs when it is over (possibly before this returns).
 */
void outq_add(struct outq *oq, const char *qid, void *cookie);

#endif
