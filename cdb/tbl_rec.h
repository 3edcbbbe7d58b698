/*
 * tbl_rec: the record format of every table (pure: no I/O, no state).
 * A record is one line of tinycdb's "map" text form, KEY SPACE VALUE;
 * VALUE is a list of name=value fields separated by spaces, each value
 * %-encoded (%XX for bytes <= 0x20, '%' and 0x7f). README "Tables" is the
 * user's reference for every field. Decoders copy into fixed-size structs
 * so no pointer into a table's mmap outlives the lookup.
 * Every decoder returns 0, or -1 with a message naming the field in err.
 */
#ifndef VD_TBL_REC_H
#define VD_TBL_REC_H

#include <stddef.h>
#include <stdint.h>

#define TBL_DOMAIN_MAX 256  /* RFC 5321 4.5.3.1.2: 255 octets + NUL */
#define TBL_LOCAL_MAX 64    /* RFC 5321 4.5.3.1.1 */
#define TBL_ADDR_MAX 322    /* local@domain + NUL */
#define TBL_RULE_MAX 1024   /* service access rule string */
#define TBL_PATH_MAX 256    /* mailbox path below the store */
#define TBL_ADMINS_MAX 2048 /* administrator DNs, '\n'-separated */
#define TBL_HASH_MAX 512    /* password hash string */
#define TBL_LIST_MAX 2048   /* repeated short values, '\n'-separated */
#define TBL_TEXT_MAX 2048   /* a free-text field (autoreply text) */
#define TBL_DATE_MAX 16     /* generalized time, YYYYMMDDHHMMSSZ */
#define TBL_ERR_MAX 256

enum tbl_kind {
	TBL_DOMAINS,
	TBL_ADDRESSES,
	TBL_USERS,
	TBL_PASSWORDS,
	TBL_LISTS,
	TBL_ROUTES,
	TBL_NKINDS
};

/* Sun status values; UNKNOWN is any other word and counts as inactive. */
enum tbl_status {
	TBL_ST_ACTIVE,
	TBL_ST_INACTIVE,
	TBL_ST_DISABLED,
	TBL_ST_DELETED,
	TBL_ST_REMOVED,
	TBL_ST_HOLD,
	TBL_ST_OVERQUOTA,
	TBL_ST_UNKNOWN
};

#define TBL_QUOTA_DEFAULT (-2) /* field absent: the config default applies */
#define TBL_QUOTA_NONE (-1)    /* unlimited */

/* mailDeliveryOption values, a bit each (several = parallel deliveries). */
enum tbl_delivery {
	TBL_DLV_MAILBOX = 1 << 0,
	TBL_DLV_NATIVE = 1 << 1,
	TBL_DLV_FORWARD = 1 << 2,
	TBL_DLV_HOLD = 1 << 3,
	TBL_DLV_AUTOREPLY = 1 << 4,
	TBL_DLV_PROGRAM = 1 << 5,
	TBL_DLV_FILE = 1 << 6,
	TBL_DLV_SHARED = 1 << 7,
	TBL_DLV_MEMBERS = 1 << 8,
	TBL_DLV_MEMBERS_OFFLINE = 1 << 9,
};

struct tbl_domain {
	char alias_of[TBL_DOMAIN_MAX]; /* set: this name is an alias domain */
	enum tbl_status status;        /* inetDomainStatus */
	enum tbl_status mailstatus;    /* mailDomainStatus */
	char services[TBL_RULE_MAX];   /* mailDomainAllowedServiceAccess */
	char postmaster[TBL_ADDR_MAX];
	char admins[TBL_ADMINS_MAX];   /* DNs, one per line */
	int64_t quota;                 /* mailDomainDiskQuota, or TBL_QUOTA_* */
	int64_t msgquota;              /* mailDomainMsgQuota, or TBL_QUOTA_* */
};

/* Exactly one of user and list is set. */
struct tbl_address {
	char user[TBL_ADDR_MAX]; /* key into users */
	char list[TBL_ADDR_MAX]; /* key into lists */
};

struct tbl_user {
	char mailbox[TBL_PATH_MAX];  /* below the store; "" = DOMAIN/LOCAL */
	enum tbl_status status;      /* inetUserStatus */
	enum tbl_status mailstatus;  /* mailUserStatus */
	char services[TBL_RULE_MAX]; /* mailAllowedServiceAccess */
	int64_t quota;               /* bytes, or TBL_QUOTA_* */
	int64_t msgquota;            /* messages, or TBL_QUOTA_* */
	char mailhost[TBL_DOMAIN_MAX];  /* mailHost; "" = this host */
	unsigned delivery;              /* TBL_DLV_* bits; 0 = mailbox */
	char forward[TBL_LIST_MAX];     /* mailForwardingAddress, per line */
	char program[TBL_LIST_MAX];     /* mailProgramDeliveryInfo names */
	char file[TBL_PATH_MAX];        /* mailDeliveryFileURL (relative) */
	char shared[TBL_PATH_MAX];      /* vdmailSharedFolder */
	char replymode[8];              /* mailAutoReplyMode: reply|echo */
	char replysubject[TBL_TEXT_MAX / 4];
	char replytext[TBL_TEXT_MAX];
	char replyinternal[TBL_TEXT_MAX];
	int64_t replytimeout;           /* hours; -1 = absent */
	char vacstart[TBL_DATE_MAX];    /* vacationStartDate */
	char vacend[TBL_DATE_MAX];      /* vacationEndDate */
};

/*
 * A distribution list. Members (static, RFC 822 and dynamic, expanded at
 * sync time) are not copied: tbl_rec_list_each walks them in the record.
 */
struct tbl_list {
	enum tbl_status status;         /* inetMailGroupStatus */
	unsigned delivery;              /* TBL_DLV_*; 0 = members */
	unsigned nmembers;
	char errorsto[TBL_ADDR_MAX];    /* mgrpErrorsTo */
	char rejectaction[32];          /* mgrpMsgRejectAction */
	int64_t maxsize;                /* mgrpMsgMaxSize; -1 = none */
	unsigned nbroadcasters, ndomains, nmoderators;
};

/* A routes record: key = a domain (or host) name. */
struct tbl_route {
	char relay[TBL_DOMAIN_MAX + 8]; /* mailRoutingSmartHost HOST[:PORT] */
	char hosts[TBL_LIST_MAX];       /* mailRoutingHosts, per line */
	char tls[8];                    /* may | encrypt | verify, or "" */
};

/* Which repeated field of a list record tbl_rec_list_each walks. */
enum tbl_list_field {
	TBL_LIST_MEMBER,
	TBL_LIST_BROADCASTER,
	TBL_LIST_DOMAIN,
	TBL_LIST_MODERATOR,
};

const char *tbl_rec_kind_name(enum tbl_kind kind);
/* Returns the kind for "domains", "addresses", "users", "passwords", or -1. */
int tbl_rec_kind_parse(const char *name);

const char *tbl_rec_status_name(enum tbl_status st);

int tbl_rec_decode_domain(const char *v, size_t len, struct tbl_domain *r,
			  char *err, size_t errlen);
int tbl_rec_decode_address(const char *v, size_t len, struct tbl_address *r,
			   char *err, size_t errlen);
int tbl_rec_decode_user(const char *v, size_t len, struct tbl_user *r,
			char *err, size_t errlen);
int tbl_rec_decode_list(const char *v, size_t len, struct tbl_list *r,
			char *err, size_t errlen);
int tbl_rec_decode_route(const char *v, size_t len, struct tbl_route *r,
			 char *err, size_t errlen);

/*
 * Calls fn with each value of one repeated field of a list record (the
 * record must have passed tbl_rec_decode_list), until fn returns non-zero.
 * Returns 0 or fn's value.
 */
typedef int tbl_rec_each_fn(void *arg, const char *val, size_t len);
int tbl_rec_list_each(const char *v, size_t len, enum tbl_list_field f,
		      tbl_rec_each_fn *fn, void *arg);

/* "mailbox,forward": the names of the TBL_DLV_* bits in d (or "-"). */
void tbl_rec_delivery_names(unsigned d, char *out, size_t outlen);

/* A password record is one {SCHEME}hash token; *r receives it. */
int tbl_rec_decode_password(const char *v, size_t len, char *r, size_t rlen,
			    char *err, size_t errlen);

/* Validates a key of the given table (lower-case, syntax). */
int tbl_rec_check_key(enum tbl_kind kind, const char *k, size_t len,
		      char *err, size_t errlen);

/* Validates key and value of one record of the given table. */
int tbl_rec_check(enum tbl_kind kind, const char *k, size_t klen,
		  const char *v, size_t vlen, char *err, size_t errlen);

/*
 * The mailbox path of a user below the store: its mailbox field, or
 * DOMAIN/LOCALPART of its login. Returns 0, or -1 when that is not a safe
 * relative path (or does not fit outlen).
 */
int tbl_rec_user_mailbox(const char *login, size_t len,
			 const struct tbl_user *u, char *out, size_t outlen);

/* Syntax checks shared with the SMTP and route code. */
int tbl_rec_is_domain(const char *s, size_t len);
int tbl_rec_is_mailbox_path(const char *s, size_t len);

#endif
