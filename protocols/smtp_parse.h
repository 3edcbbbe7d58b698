/*
 * smtp_parse: pure parsing of SMTP command lines (RFC 5321 4.1, RFC 6531
 * for SMTPUTF8, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3030 BDAT). Works on
 * a pointer and a length, never on C strings, so a NUL byte is just a bad
 * character. No state, no allocation, no I/O.
 * Every parser returns 0, or -1 with the reply to send in *err.
 */
#ifndef VD_SMTP_PARSE_H
#define VD_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cdb/tbl_rec.h"

enum smtp_verb {
	SMTP_V_UNKNOWN,
	SMTP_V_HELO,
	SMTP_V_EHLO,
	SMTP_V_MAIL,
	SMTP_V_RCPT,
	SMTP_V_DATA,
	SMTP_V_BDAT,
	SMTP_V_RSET,
	SMTP_V_NOOP,
	SMTP_V_QUIT,
	SMTP_V_HELP,
	SMTP_V_VRFY,
	SMTP_V_EXPN,
	SMTP_V_STARTTLS,
	SMTP_V_AUTH,
	SMTP_V_COUNT
};

struct smtp_parse_cmd {
	enum smtp_verb verb;
	const char *arg; /* after the verb and one space; may be empty */
	size_t arglen;
};

struct smtp_parse_err {
	int code;
	const char *enh;
	const char *text;
};

enum smtp_parse_body {
	SMTP_BODY_NONE,
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME
};

struct smtp_parse_path {
	char addr[TBL_ADDR_MAX]; /* local@domain, "" for <>, or "postmaster" */
	bool is_null;
	bool non_ascii;
};

struct smtp_parse_params {
	bool has_size;
	uint64_t size;
	enum smtp_parse_body body;
	bool smtputf8;
	bool has_auth; /* AUTH=mailbox (RFC 4954 5): taken, not trusted */
};

/* The verb of a command line (case-insensitive) and its argument. */
enum smtp_verb smtp_parse_command(const char *line, size_t len,
				  struct smtp_parse_cmd *c);
const char *smtp_parse_verb_name(enum smtp_verb v);

/* HELO/EHLO argument: a domain or an address literal. */
int smtp_parse_helo(const char *arg, size_t len, struct smtp_parse_err *e);

/* "FROM:<path> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8]" */
int smtp_parse_mail(const char *arg, size_t len, struct smtp_parse_path *p,
		    struct smtp_parse_params *prm, struct smtp_parse_err *e);

/* "TO:<path>"; utf8: the transaction declared SMTPUTF8. */
int smtp_parse_rcpt(const char *arg, size_t len, bool utf8,
		    struct smtp_parse_path *p, struct smtp_parse_err *e);

/* "n [LAST]" */
int smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r,
		    bool *last_r, struct smtp_parse_err *e);

#endif
