/*
 * access: may this identity log in to this service from this client? The
 * login access policy of the virtual-host patent's Figs. 6-7 with Sun
 * Messaging Server's status precedence and service-access rules, for POP3,
 * IMAP and SMTP AUTH. Answered from the CDB tables alone: no I/O but the
 * mmap'd tables, no allocation, no state. The password is checked
 * elsewhere (the password workers), and only after this says ALLOW.
 *
 *   identity syntax                         DENY     bad_identity
 *   domain: user@domain, or a bare user with the listener's default domain,
 *   else the SNI name or its parents        DENY     unknown_domain
 *   alias domain -> its canonical domain (dangling: TEMPFAIL table_error)
 *   domain status (inetDomainStatus, then mailDomainStatus; the first that
 *   is not active wins; an unknown word counts as inactive):
 *       inactive/hold/unknown               TEMPFAIL domain_inactive
 *       disabled                            DENY     domain_disabled
 *       deleted/removed                     DENY     domain_deleted
 *       overquota                           does not block a login
 *   user: users[local@canonical], else an alternate address in addresses;
 *   the user found must be of the same canonical domain DENY unknown_user
 *   user status (inetUserStatus, then mailUserStatus):
 *       inactive/unknown word               DENY     user_inactive
 *       disabled / deleted,removed / hold   DENY     user_disabled /
 *                                                    user_deleted / user_hold
 *   services of the domain, then the user's DENY     service_denied_domain /
 *                                                    service_denied_user
 *   otherwise                               ALLOW    ok
 * A lookup error or an inconsistent table answers TEMPFAIL table_error.
 * The recipient delimiter is not applied: "alice+x" is not alice's login.
 *
 * The reason is for logs only. A client must get the same answer for an
 * unknown user as for a wrong password (no account probing): callers map
 * every DENY to their ordinary authentication failure, after the same
 * delay. r->login, r->domain and r->mailbox are filled as far as known.
 */
#ifndef VD_ACCESS_H
#define VD_ACCESS_H

#include <stddef.h>
#include <sys/socket.h>

#include "cdb/tbl.h"

enum access_service {
	ACCESS_SMTP,
	ACCESS_SMTPS,
	ACCESS_POP,
	ACCESS_POPS,
	ACCESS_IMAP,
	ACCESS_IMAPS,
};

enum access_decision {
	ACCESS_ALLOW,
	ACCESS_DENY,
	ACCESS_TEMPFAIL,
};

struct access_req {
	const char *identity;                  /* as the client sent it */
	size_t idlen;                          /* may hold NUL: refused */
	const char *default_domain;            /* the listener's, or NULL */
	const char *sni;                       /* TLS SNI name, or NULL */
	enum access_service service;
	const struct sockaddr_storage *client; /* NULL: no address known */
};

struct access_result {
	enum access_decision decision;
	const char *reason;          /* a static token for logs */
	char login[TBL_ADDR_MAX];    /* the users key whose password to check */
	char domain[TBL_DOMAIN_MAX]; /* canonical domain */
	char mailbox[TBL_PATH_MAX];  /* below the store (tbl_rec_user_mailbox) */
	/* The user's mailHost ("" when none). A caller serving mailboxes
	 * compares it with this host after the password, not before, so
	 * the answer tells nothing about accounts to a guesser. */
	char mailhost[TBL_DOMAIN_MAX];
};

/* Decides for q; r is always filled. Returns r->decision. */
enum access_decision access_check(struct tbl_set *t,
				  const struct access_req *q,
				  struct access_result *r);

/*
 * Evaluates a mailAllowedServiceAccess / mailDomainAllowedServiceAccess
 * string of len bytes for svc and client (Sun's syntax, README "Tables"):
 * rules "+svc,svc:client client" or "-..." separated by '$'. Returns 1
 * allowed, 0 denied. An empty string allows; a malformed rule anywhere in
 * the string denies (fail-safe). client may be NULL (no address patterns
 * match then).
 */
int access_rule_allows(const char *rule, size_t len, enum access_service svc,
		       const struct sockaddr_storage *client);

/* "smtp", "smtps", "pop", "pops", "imap", "imaps" (Sun's service names). */
const char *access_service_name(enum access_service s);

#endif
