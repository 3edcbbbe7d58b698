/*
 * smtp_auth: the submission half of the SMTP server (RFC 6409, 4954,
 * 8314). On a `submission` listener: AUTH PLAIN and LOGIN, offered only
 * under TLS (STARTTLS on 587, implicit on 465) unless login_plaintext is
 * yes, run through core/login (Figs. 6-7, the smtp/smtps service rules,
 * the password workers, throttling); MAIL needs a login; the envelope
 * sender and every From: address must be the user's own (primary,
 * alternate, or in an alias domain), else 553 5.7.1.
 */
#include <string.h>
#include <strings.h>

#include "cdb/tbl.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/util.h"
#include "core/vd.h"
#include "protocols/smtp_session.h"

/* RFC 4954 4: the two prompts of LOGIN, base64 of "Username:"/"Password:". */
#define PROMPT_USER "VXNlcm5hbWU6"
#define PROMPT_PASS "UGFzc3dvcmQ6"

static void
auth_done(void *arg, enum login_result r)
{
	struct smtp *s = arg;

	s->checking = false;
	switch (r) {
	case LOGIN_OK:
		s->authed = true;
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
		break;
	case LOGIN_FAIL:
		smtp_reply(s, 535, "5.7.8", "Authentication credentials "
			   "invalid");
		break;
	case LOGIN_THROTTLED:
		smtp_reply(s, 454, "4.7.0", "Too many failed logins, try again "
			   "later");
		break;
	default:
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure, "
			   "try again later");
		break;
	}
	conn_resume(s->c);
}

void
smtp_auth_init(struct smtp *s)
{
	s->submission = s->c->lst != NULL &&
			s->c->lst->cfg.proto == CFG_PROTO_SUBMISSION;
	login_init(&s->login, s->c, "submission", auth_done, s);
}

void
smtp_auth_fini(struct smtp *s)
{
	login_cancel(&s->login);
	explicit_bzero(s->sasl_user, sizeof(s->sasl_user));
}

bool
smtp_auth_offered(const struct smtp *s)
{
	return s->submission && !s->authed &&
	       (conn_is_tls(s->c) ||
		strcmp(s->c->vd->cfg.login_plaintext, "yes") == 0);
}

static void
start(struct smtp *s, const char *user, size_t ulen, const char *pw,
      size_t pwlen)
{
	bool smtps = s->c->lst != NULL && s->c->lst->cfg.implicit_tls;

	s->checking = true;
	login_start(&s->login, user, ulen, pw, pwlen,
		    smtps ? ACCESS_SMTPS : ACCESS_SMTP);
	conn_pause(s->c);
}

static void
plain(struct smtp *s, const char *b64, size_t len)
{
	struct sasl_plain p;

	/* RFC 4954 4: "=" is an empty initial response. */
	if (sasl_plain_decode(b64, len, &p) < 0) {
		smtp_reply(s, 535, "5.7.8", "Authentication credentials "
			   "invalid");
		return;
	}
	start(s, p.authc, strlen(p.authc), p.pw, p.pwlen);
	explicit_bzero(&p, sizeof(p));
}

enum smtp_rc
smtp_auth_on_auth(struct smtp *s, const char *arg, size_t len)
{
	const char *sp = memchr(arg, ' ', len);
	size_t mlen = sp ? (size_t)(sp - arg) : len;
	const char *ir = sp ? sp + 1 : NULL;
	size_t irlen = sp ? len - mlen - 1 : 0;

	if (!s->submission) {
		smtp_reply(s, 503, "5.5.1", "AUTH not available on this port");
		return SMTP_NEXT;
	}
	if (s->authed) {
		smtp_reply(s, 503, "5.5.1", "Already authenticated");
		return SMTP_NEXT;
	}
	if (!s->esmtp || s->tx != NULL) {
		smtp_reply(s, 503, "5.5.1", "Send EHLO first, and AUTH before "
			   "MAIL");
		return SMTP_NEXT;
	}
	if (!smtp_auth_offered(s)) {
		/* RFC 4954 6: no password travels in the clear. */
		smtp_reply(s, 538, "5.7.11", "Encryption required for requested "
			   "authentication mechanism");
		return SMTP_NEXT;
	}
	if (util_is_ieq(arg, mlen, "PLAIN")) {
		if (ir != NULL) {
			plain(s, ir, irlen == 1 && ir[0] == '=' ? 0 : irlen);
			return s->checking ? SMTP_STOP : SMTP_NEXT;
		}
		s->sasl = SMTP_SASL_PLAIN;
		conn_printf(s->c, "334 \r\n");
		return SMTP_NEXT;
	}
	if (util_is_ieq(arg, mlen, "LOGIN")) {
		size_t n;
		if (ir != NULL) {
			if (sasl_login_decode(ir, irlen, s->sasl_user,
					      sizeof(s->sasl_user), &n) < 0) {
				smtp_reply(s, 501, "5.5.2", "Cannot decode the "
					   "response");
				return SMTP_NEXT;
			}
			s->sasl = SMTP_SASL_LOGIN_PASS;
			conn_printf(s->c, "334 " PROMPT_PASS "\r\n");
			return SMTP_NEXT;
		}
		s->sasl = SMTP_SASL_LOGIN_USER;
		conn_printf(s->c, "334 " PROMPT_USER "\r\n");
		return SMTP_NEXT;
	}
	smtp_reply(s, 504, "5.5.4", "Unrecognized authentication type");
	return SMTP_NEXT;
}

void
smtp_auth_line(struct smtp *s, const char *line, size_t len)
{
	enum smtp_sasl step = s->sasl;
	char pw[SASL_PW_MAX + 1];
	size_t n;

	s->sasl = SMTP_SASL_NONE;
	if (len == 1 && line[0] == '*') {
		smtp_reply(s, 501, "5.0.0", "Authentication cancelled");
		return;
	}
	if (step == SMTP_SASL_PLAIN) {
		plain(s, line, len);
		return;
	}
	if (step == SMTP_SASL_LOGIN_USER) {
		if (sasl_login_decode(line, len, s->sasl_user,
				      sizeof(s->sasl_user), &n) < 0) {
			smtp_reply(s, 501, "5.5.2", "Cannot decode the response");
			return;
		}
		s->sasl = SMTP_SASL_LOGIN_PASS;
		conn_printf(s->c, "334 " PROMPT_PASS "\r\n");
		return;
	}
	if (sasl_login_decode(line, len, pw, sizeof(pw), &n) < 0) {
		smtp_reply(s, 501, "5.5.2", "Cannot decode the response");
		return;
	}
	start(s, s->sasl_user, strlen(s->sasl_user), pw, n);
	explicit_bzero(pw, sizeof(pw));
}

bool
smtp_auth_owns(struct smtp *s, const char *addr, size_t len)
{
	struct tbl_set *t = &s->c->vd->tables;
	const char *login = s->login.acc.login;
	char a[TBL_ADDR_MAX], key[TBL_ADDR_MAX + TBL_DOMAIN_MAX];
	struct tbl_domain d;
	struct tbl_address ad;

	if (!s->authed || util_copy(a, sizeof(a), addr, len) < 0)
		return false;
	util_lower(a, len);
	char *at = strrchr(a, '@');
	if (at == NULL || at == a)
		return false;
	*at = '\0';
	const char *local = a, *dom = at + 1, *canon = dom;
	if (tbl_lookup_domain(t, dom, strlen(dom), &d) <= 0)
		return false;
	if (d.alias_of[0] != '\0')
		canon = d.alias_of;
	const char *doms[2] = { dom, canon };
	for (int i = 0; i < 2; i++) {
		util_fmt(key, sizeof(key), "%s@%s", local, doms[i]);
		if (strcmp(key, login) == 0)
			return true;
		if (tbl_lookup_address(t, key, strlen(key), &ad) > 0 &&
		    strcmp(ad.user, login) == 0)
			return true;
	}
	return false;
}

/* The next address of a From: value: inside <...>, else a bare
 * addr-spec (a word holding '@'); comments in (...) are skipped. */
static const char *
next_addr(const char *p, const char *end, size_t *len_r)
{
	while (p < end) {
		if (*p == '(') {
			/* RFC 5322 3.2.2: comments nest; "\(" is a quoted pair. */
			int depth = 0;
			for (; p < end; p++) {
				if (*p == '\\') {
					p++;
					continue;
				}
				depth += *p == '(' ? 1 : *p == ')' ? -1 : 0;
				if (depth == 0)
					break;
			}
			p++;
			continue;
		}
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			p++;
			continue;
		}
		if (*p == '<') {
			const char *q = memchr(p, '>', (size_t)(end - p));
			if (q == NULL)
				return NULL;
			*len_r = (size_t)(q - p - 1);
			return p + 1;
		}
		if (*p != ' ' && *p != '\t' && *p != ',' && *p != ':' &&
		    *p != ';') {
			const char *q = p;
			while (q < end && strchr(" \t,;<(", *q) == NULL)
				q++;
			if (memchr(p, '@', (size_t)(q - p)) != NULL &&
			    (q == end || *q != '<')) {
				*len_r = (size_t)(q - p);
				return p;
			}
			p = q;
			continue;
		}
		p++;
	}
	return NULL;
}

int
smtp_auth_check_from(struct smtp *s, const char *hdr, size_t len)
{
	char field[4096];
	size_t n = 0, found = 0;
	const char *end = hdr + len;

	/* Finds each "From:" at a line start and unfolds it (RFC 5322
	 * 2.2.3); the header ends where the DATA sink cut it. */
	for (const char *p = hdr; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if ((size_t)(le - p) >= 5 && strncasecmp(p, "From:", 5) == 0) {
			const char *q = p + 5;
			for (;;) {
				size_t k = (size_t)(le - q);
				if (k > 0 && le[-1] == '\r')
					k--;
				if (n + k + 1 >= sizeof(field))
					return -1;
				memcpy(field + n, q, k);
				n += k;
				field[n++] = ' ';
				if (nl == NULL || nl + 1 >= end ||
				    (nl[1] != ' ' && nl[1] != '\t'))
					break;
				q = nl + 1;
				nl = memchr(q, '\n', (size_t)(end - q));
				le = nl ? nl : end;
			}
			/* Every From: field counts, should there be more. */
			field[n - 1] = ',';
		}
		p = nl ? nl + 1 : end;
	}
	size_t alen;
	for (const char *p = field, *a; (a = next_addr(p, field + n, &alen));) {
		if (!smtp_auth_owns(s, a, alen)) {
			log_info("c=%06x submission from-header address not "
				 "owned by %s", s->c->id, s->login.acc.login);
			return -1;
		}
		found++;
		p = a + alen + 1;
	}
	return found > 0 ? 0 : -1;
}
