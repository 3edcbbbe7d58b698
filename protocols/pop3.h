/*
 * pop3: the POP3 server session (RFC 1939) with CAPA and response codes
 * (RFC 2449, 3206), STLS (RFC 2595), AUTH PLAIN (RFC 5034, 4616) and
 * implicit TLS (POP3S, RFC 8314), as a state machine on a struct conn.
 *   AUTHORIZATION  USER/PASS or AUTH PLAIN; the access policy (core/access:
 *                  Figs. 6-7 and the pop/pops service rules) is asked
 *                  first, then a password worker (core/authw), never the
 *                  loop; failures are throttled per client address and
 *                  per account (core/throttle) and all look alike
 *   TRANSACTION    STAT LIST RETR TOP UIDL DELE RSET NOOP; a message is
 *                  streamed from the Maildir (spool/mailbox) with dot-
 *                  stuffing, never loaded whole; one session per mailbox
 *                  ([IN-USE])
 *   UPDATE         only on QUIT: deleted messages go, retrieved ones move
 *                  from new/ to cur/ with the S flag
 * Logins in plaintext are refused unless the connection is TLS or from
 * loopback (login_plaintext). Never touches a descriptor or a file.
 */
#ifndef VD_POP3_H
#define VD_POP3_H

#include "core/conn.h"

#define POP3_LINE_MAX 1024 /* RFC 2449 4: 255 for commands; AUTH needs more */
#define POP3_ARG_MAX 40    /* RFC 2449 4 */

extern const struct conn_proto pop3_proto;

#define POP3_BUSY_REPLY "-ERR [SYS/TEMP] Too many connections, try again " \
			"later\r\n"

#endif
