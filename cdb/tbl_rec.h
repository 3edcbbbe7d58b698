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
#define TBL_ERR_MAX 256

enum tbl_kind {
	TBL_DOMAINS,
	TBL_ADDRESSES,
	TBL_USERS,
	TBL_PASSWORDS,
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

struct tbl_domain {
	char alias_of[TBL_DOMAIN_MAX]; /* set: this name is an alias domain */
	enum tbl_status status;        /* inetDomainStatus */
	enum tbl_status mailstatus;    /* mailDomainStatus */
	char services[TBL_RULE_MAX];   /* mailDomainAllowedServiceAccess */
	char postmaster[TBL_ADDR_MAX];
	char admins[TBL_ADMINS_MAX];   /* DNs, one per line */
};

struct tbl_address {
	char user[TBL_ADDR_MAX]; /* key into users */
};

struct tbl_user {
	char mailbox[TBL_PATH_MAX];  /* below the store; "" = DOMAIN/LOCAL */
	enum tbl_status status;      /* inetUserStatus */
	enum tbl_status mailstatus;  /* mailUserStatus */
	char services[TBL_RULE_MAX]; /* mailAllowedServiceAccess */
	int64_t quota;               /* bytes, or TBL_QUOTA_* */
	int64_t msgquota;            /* messages, or TBL_QUOTA_* */
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
