/*
 * vd: the reactor context, the only mutable state outside connections.
 * One per vdmaild process: the libev loop, the configuration in force,
 * the tables, the TLS certificates, the listeners, every connection, the
 * spool, the group commit, the store and the queue runner.
 */
#ifndef VD_VD_H
#define VD_VD_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "cdb/tbl.h"
#include "core/authw.h"
#include "core/throttle.h"
#include "core/cfg.h"
#include "core/supervise.h"
#include "spool/deliver.h"
#include "spool/flush.h"
#include "spool/outq.h"
#include "spool/pickup.h"
#include "spool/sched.h"
#include "spool/spool.h"
#include "spool/spool_commit.h"
#include "spool/store.h"

struct conn;
struct pop3;
struct listener;
struct tls_ctx;
struct listen_ipcount;

struct vd {
	struct ev_loop *loop;
	struct cfg cfg;
	struct tbl_set tables;
	struct tls_ctx *tls; /* NULL: no certificate, no STARTTLS */
	struct listener *listeners;
	struct listen_ipcount *ipcount;
	struct conn *conns;
	unsigned nconns;
	struct conn *resumes;
	uint32_t next_conn_id;
	struct spool spool;
	struct flush flush;
	struct spool_commit commit;
	struct store store;
	struct deliver deliver;
	struct sched sched;
	struct pickup pickup; /* local submission: SPOOL/maildrop */
	struct outq outq;    /* outbound delivery */
	struct sup sync;     /* `vdsync follow`, when sync_config is set */
	struct authw_pool auth; /* the password workers */
	struct thr throttle;    /* failed logins per client and account */
	struct pop3 *pop3_active; /* POP3 sessions holding a mailbox */
	bool stopping;
	ev_prepare prepare;
	ev_signal sig_term, sig_int, sig_hup, sig_usr1;
	ev_timer table_timer;
	ev_timer grace_timer;
};

#endif
