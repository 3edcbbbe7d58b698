/*
 * smtp_server: the SMTP server session (RFC 5321) as a state machine on a
 * struct conn. Extensions: PIPELINING (RFC 2920), SIZE (1870), 8BITMIME
 * (6152), ENHANCEDSTATUSCODES (2034/3463), STARTTLS (3207), SMTPUTF8
 * (6531), CHUNKING/BDAT (3030). Recipients are decided by route_rcpt
 * (Fig. 5 of the virtual-host patent); messages go to the spool and their
 * 250 is sent only after the group commit made them durable.
 * Commands come from one table {verb, handler, allowed states, flags}.
 * Never touches a socket or a file descriptor; never blocks except on
 * bounded local disk (spool writes, table and quota lookups).
 */
#ifndef VD_SMTP_SERVER_H
#define VD_SMTP_SERVER_H

#include "core/conn.h"

#define SMTP_LINE_MAX 1000      /* RFC 5321 4.5.3.1.4, CRLF included */
#define SMTP_TEXT_LINE_MAX 1000 /* RFC 5321 4.5.3.1.6 */
#define SMTP_AUTH_LINE_MAX 12288 /* RFC 4954 4: AUTH and its responses */

extern const struct conn_proto smtp_server_proto;

/* Sent before closing a connection refused by the caps. */
#define SMTP_BUSY_REPLY "421 4.7.0 Too many connections, try again later\r\n"

#endif
