/*
 * cfg: the vdmaild configuration file. "key = value" lines, '#' comments;
 * every key, its default and its limits are in the table in cfg.c and in
 * README "Configuration". Relative paths are taken relative to the
 * directory of the configuration file. An unknown key, a bad value or a
 * missing required file is an error naming the line.
 * Pure parsing plus local file reads; never touches the loop.
 */
#ifndef VD_CFG_H
#define VD_CFG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cdb/tbl_rec.h"

#define CFG_PATH_MAX 512
#define CFG_LISTEN_MAX 16
#define CFG_CERT_MAX 64
#define CFG_PROGRAM_MAX 32
#define CFG_PROGRAM_ARGS 8

enum cfg_proto { CFG_PROTO_SMTP, CFG_PROTO_SUBMISSION, CFG_PROTO_POP3,
		 CFG_NPROTOS };

struct cfg_listen {
	enum cfg_proto proto;
	struct sockaddr_storage sa;
	socklen_t salen;
	bool implicit_tls;
	char domain[TBL_DOMAIN_MAX]; /* default domain for bare logins */
	char text[80]; /* as written, for logs */
};

struct cfg_cert {
	char name[TBL_DOMAIN_MAX]; /* SNI name (lower-case) */
	char cert[CFG_PATH_MAX];
	char key[CFG_PATH_MAX];
};

/* "program = NAME PATH [ARG...]": a program users may name for delivery. */
struct cfg_program {
	char name[32];                   /* [a-z0-9_-], as users name it */
	char path[CFG_PATH_MAX];         /* absolute */
	char args[CFG_PROGRAM_ARGS][128];
	unsigned nargs;
};

struct cfg {
	char path[CFG_PATH_MAX];
	char hostname[TBL_DOMAIN_MAX];
	char table_dir[CFG_PATH_MAX];
	char spool_dir[CFG_PATH_MAX];
	char store_dir[CFG_PATH_MAX];
	char pid_file[CFG_PATH_MAX];
	char user[64];
	char postmaster[TBL_ADDR_MAX];
	char recipient_delimiter[2];
	struct cfg_listen listen[CFG_LISTEN_MAX];
	unsigned nlisten;
	char tls_cert[CFG_PATH_MAX];
	char tls_key[CFG_PATH_MAX];
	struct cfg_cert certs[CFG_CERT_MAX];
	unsigned ncerts;
	unsigned max_connections;
	unsigned max_connections_per_ip;
	uint64_t message_size_limit;
	unsigned max_recipients;
	unsigned max_errors;
	double timeout_command;
	double timeout_pop3;             /* POP3 autologout (RFC 1939 3) */
	double timeout_data;
	double timeout_tls;
	double shutdown_grace;
	double table_check_interval;
	int64_t default_quota;
	int64_t default_msg_quota;
	unsigned queue_retry_min;
	unsigned queue_retry_max;
	unsigned delivery_batch;
	double delivery_wait;
	char sync_method[8];
	char sync_config[CFG_PATH_MAX];  /* vdsync.conf: run `vdsync follow` */
	unsigned auth_workers;           /* password worker processes */
	unsigned auth_queue;             /* checks queued per worker */
	double auth_timeout;             /* seconds one check may take */
	bool auth_plain;                 /* accept {PLAIN} stored passwords */
	char login_plaintext[12];        /* no | loopback | yes */
	char sync_program[CFG_PATH_MAX]; /* default: vdsync beside vdmaild */
	/* outbound delivery */
	char dns_servers[256];           /* "" = /etc/resolv.conf */
	double dns_timeout;
	unsigned outbound_port;          /* SMTP port of MX hosts, relays */
	char relay_host[TBL_DOMAIN_MAX + 8]; /* HOST[:PORT]: every remote */
	char outbound_tls[8];            /* may | encrypt | verify | none */
	char tls_ca_file[CFG_PATH_MAX];  /* "" = the system bundle */
	unsigned outbound_concurrency;   /* connections in all */
	unsigned outbound_dest_concurrency; /* per destination */
	unsigned outbound_rcpt_max;      /* recipients per transaction */
	double timeout_connect;
	double timeout_smtp_out;         /* per reply (RFC 5321 4.5.3.2) */
	double outbound_idle;            /* an idle session waits this long */
	double queue_lifetime;           /* then a deferred recipient bounces */
	double delay_warning;            /* 0 = no delay warnings */
	/* delivery options */
	struct cfg_program programs[CFG_PROGRAM_MAX];
	unsigned nprograms;
	char program_user[64];           /* programs run as this user */
	double program_timeout;          /* then the program is killed */
	char file_dir[CFG_PATH_MAX];     /* mbox files for `file` live below */
	bool log_syslog;
	bool log_debug;
};

/* Fills c with every default (no listeners, no certificates). */
void cfg_defaults(struct cfg *c);

/*
 * Reads path over the defaults. Returns 0, or -1 with "FILE:LINE: ..." in
 * err; c is then unspecified (load into a scratch struct to keep the old).
 */
int cfg_load(struct cfg *c, const char *path, char *err, size_t errlen);

#endif
