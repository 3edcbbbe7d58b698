/*
 * vdmail-sendmail: local submission without SMTP, sendmail-compatible
 * enough for cron, scripts and PHP. Reads the message on stdin, takes its
 * recipients from the arguments (and with -t from To:, Cc:, Bcc:), adds
 * From:, Date: and Message-ID: where missing, and writes one file into
 * SPOOL/maildrop/ in the format of spool/maildrop.h: created as tmp.RANDOM,
 * written, fsynced, renamed to TIME.PID.RANDOM, the rename made durable.
 * Exit 0 means the message is on disk; vdmaild's pickup takes it from
 * there. Exit codes are sysexits.h's (README "Local submission").
 * Runs as the calling user: no privileges, no daemon code.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/cfg.h"
#include "core/util.h"
#include "protocols/smtp_parse.h"
#include "spool/maildrop.h"

#define SM_DEFAULT_CONFIG "/etc/vdmail/vdmaild.conf"
#define SM_LINE_MAX 998               /* RFC 5322 2.1.1, CRLF not counted */
#define SM_HEADER_MAX (1024 * 1024)   /* the header is read whole */
#define SM_NAME_MAX 256               /* -F */
#define SM_IN_MAX (64 * 1024)
#define SM_OUT_MAX (64 * 1024)
#define SM_ADDR_SCRATCH (TBL_ADDR_MAX * 2)

struct sm {
	struct cfg *cfg;
	bool extract;            /* -t */
	bool dots;               /* a lone "." ends the message (no -i) */
	bool verbose;
	const char *from;        /* -f / -r */
	const char *fullname;    /* -F */
	char sender[TBL_ADDR_MAX];
	char login[MAILDROP_LOGIN_MAX];
	char (*rcpt)[TBL_ADDR_MAX];
	unsigned nrcpt;
	/* input */
	struct buf in;
	size_t in_used;          /* bytes of the last line still in `in` */
	bool in_eof;
	unsigned long lineno;
	/* the header, as it will be written */
	struct buf hdr;
	struct buf field;        /* the field being read, with continuations */
	bool has_from, has_date, has_msgid;
	/* output */
	int dfd;                 /* SPOOL/maildrop (O_PATH) */
	int fd;                  /* the tmp file, -1 before it exists */
	char tmp[64], name[96];
	char maildrop[CFG_PATH_MAX + 16];
	struct buf out;
	uint64_t size;           /* message text so far */
	size_t zoff;             /* where the Z digits are */
};

static void __attribute__((noreturn, format(printf, 3, 4)))
die(struct sm *sm, int code, const char *fmt, ...)
{
	va_list ap;

	fputs("vdmail-sendmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (sm != NULL && sm->fd >= 0)
		unlinkat(sm->dfd, sm->tmp, 0);
	exit(code);
}

static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: vdmail-sendmail [-t] [-i] [-f sender] [-F name] "
	      "[-C config] [-v] [recipient ...] < message\n", stderr);
	exit(EX_USAGE);
}

/* ---- addresses ---- */

static int
put(char *dst, size_t *len, char c)
{
	if (*len + 1 >= SM_ADDR_SCRATCH)
		return -1;
	dst[(*len)++] = c;
	return 0;
}

/* A comment (RFC 5322 3.2.2), after its '(': nested, with escapes. */
static int
skip_comment(const char **pp, const char *end)
{
	int depth = 1;
	const char *p = *pp;

	for (; p < end && depth > 0; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
	}
	*pp = p;
	return depth == 0 ? 0 : -1;
}

/* A quoted string, kept with its quotes; folding inside it goes. */
static int
copy_quoted(const char **pp, const char *end, char *dst, size_t *len)
{
	const char *p = *pp;

	if (put(dst, len, '"') < 0)
		return -1;
	for (; p < end && *p != '"'; p++) {
		if (*p == '\r' || *p == '\n')
			continue;
		if (*p == '\\' && p + 1 < end && put(dst, len, *p++) < 0)
			return -1;
		if (put(dst, len, *p) < 0)
			return -1;
	}
	if (p == end || put(dst, len, '"') < 0)
		return -1;
	*pp = p + 1;
	return 0;
}

/* Where alist_next is within one element of an address list. */
struct alist {
	char plain[SM_ADDR_SCRATCH], angle[SM_ADDR_SCRATCH];
	size_t pl, al;
	bool in_angle, had_angle;
	bool gap;   /* white space after some plain text */
	bool words; /* plain text of several words: a display name */
};

/* Plain text goes on after white space: two words without '.' or '@'
 * between them are a display name. */
static void
alist_mark(struct alist *a, char c)
{
	if (!a->in_angle && a->gap && a->pl > 0 &&
	    strchr(".@", a->plain[a->pl - 1]) == NULL &&
	    strchr(".@", c) == NULL)
		a->words = true;
	a->gap = false;
}

/*
 * The next address of an address list (RFC 5322 3.4: a header field's
 * value, or an argument) into out: 1, 0 at the end, -1 on bad syntax.
 * Display names, comments, group names and white space are dropped:
 * "Name <a@b>, c@d (Comment), team: e@f;" gives a@b, c@d and e@f; a name
 * without an address ("John Smith") is bad syntax.
 */
static int
alist_next(const char **pp, const char *end, char out[SM_ADDR_SCRATCH])
{
	struct alist a = { .pl = 0 };
	const char *p = *pp;
	int rc = 0;

	while (p < end && rc == 0) {
		char c = *p++;
		char *dst = a.in_angle ? a.angle : a.plain;
		size_t *len = a.in_angle ? &a.al : &a.pl;
		if (c == '(') {
			rc = skip_comment(&p, end);
		} else if (c == '"') {
			alist_mark(&a, c);
			rc = copy_quoted(&p, end, dst, len);
		} else if (c == '<' && !a.in_angle) {
			a.in_angle = a.had_angle = true;
			a.al = 0;
		} else if (c == '>' && a.in_angle) {
			a.in_angle = false;
		} else if (c == '<' || c == '>') {
			rc = -1;
		} else if (c == ':' && !a.in_angle) {
			a.pl = 0; /* a group's name */
			a.words = a.gap = false;
		} else if ((c == ',' || c == ';') && !a.in_angle) {
			if (a.had_angle ? a.al > 0 : a.pl > 0)
				break;
			memset(&a, 0, sizeof(a)); /* an empty element */
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			a.gap |= !a.in_angle;
		} else {
			alist_mark(&a, c);
			rc = put(dst, len, c);
		}
	}
	*pp = p;
	if (rc < 0 || a.in_angle || (!a.had_angle && a.words))
		return -1;
	if (a.had_angle ? a.al == 0 : a.pl == 0)
		return 0;
	util_copy(out, SM_ADDR_SCRATCH, a.had_angle ? a.angle : a.plain,
		  a.had_angle ? a.al : a.pl);
	return 1;
}

/*
 * Checks a as SMTP would (the same parser as vdmaild) and normalises it
 * into out; a name without '@' gets "@hostname" (a bare "postmaster"
 * stays: RFC 5321 4.5.1). 0 or -1.
 */
static int
norm_addr(const struct sm *sm, const char *a, bool sender,
	  char out[TBL_ADDR_MAX])
{
	char cmd[SM_ADDR_SCRATCH + TBL_DOMAIN_MAX + 16];
	struct smtp_parse_path path;
	struct smtp_parse_params prm;
	struct smtp_parse_err e;
	bool bare = strchr(a, '@') == NULL &&
		    !(!sender && strcasecmp(a, "postmaster") == 0);
	int rc;

	if (util_fmt(cmd, sizeof(cmd), "%s<%s%s%s>", sender ? "FROM:" : "TO:",
		     a, bare ? "@" : "", bare ? sm->cfg->hostname : "") < 0)
		return -1;
	rc = sender ? smtp_parse_mail(cmd, strlen(cmd), &path, &prm, &e)
		    : smtp_parse_rcpt(cmd, strlen(cmd), false, &path, &e);
	if (rc < 0 || (!sender && path.is_null))
		return -1;
	/* What a maildrop line cannot carry. */
	if (!maildrop_addr_ok(path.addr, strlen(path.addr)))
		return -1;
	util_strlcpy(out, path.addr, TBL_ADDR_MAX);
	return 0;
}

static void
add_rcpt(struct sm *sm, const char *addr)
{
	for (unsigned i = 0; i < sm->nrcpt; i++)
		if (strcmp(sm->rcpt[i], addr) == 0)
			return;
	if (sm->nrcpt >= sm->cfg->max_recipients)
		die(sm, EX_USAGE, "more recipients than max_recipients (%u)",
		    sm->cfg->max_recipients);
	if (sm->nrcpt % 32 == 0) {
		void *n = realloc(sm->rcpt,
				  (sm->nrcpt + 32) * sizeof(*sm->rcpt));
		if (n == NULL)
			die(sm, EX_TEMPFAIL, "out of memory");
		sm->rcpt = n;
	}
	util_strlcpy(sm->rcpt[sm->nrcpt++], addr, TBL_ADDR_MAX);
}

/* Every address of a list; -1 on the first bad one (named in bad_r). */
static int
add_list(struct sm *sm, const char *v, size_t len,
	 char bad_r[SM_ADDR_SCRATCH])
{
	const char *p = v, *end = v + len;
	char a[SM_ADDR_SCRATCH], norm[TBL_ADDR_MAX];
	int rc;

	while ((rc = alist_next(&p, end, a)) > 0) {
		if (norm_addr(sm, a, false, norm) < 0) {
			util_strlcpy(bad_r, a, SM_ADDR_SCRATCH);
			return -1;
		}
		add_rcpt(sm, norm);
	}
	for (; rc < 0 && len > 0 && (*v == ' ' || *v == '\t'); v++)
		len--;
	if (len >= SM_ADDR_SCRATCH)
		len = SM_ADDR_SCRATCH - 1;
	if (rc < 0)
		util_copy(bad_r, SM_ADDR_SCRATCH, v, len);
	return rc;
}

/* -f, else LOGIN@hostname; "<>" or "" is the null sender. */
static void
set_sender(struct sm *sm)
{
	char a[SM_ADDR_SCRATCH];
	const char *f = sm->from;
	size_t len;

	if (f == NULL) {
		if (sm->login[0] == '\0')
			die(sm, EX_NOUSER, "uid %lu has no user name: use -f",
			    (unsigned long)getuid());
		f = sm->login;
	}
	len = strlen(f);
	if (len >= 2 && f[0] == '<' && f[len - 1] == '>')
		f++, len -= 2;
	if (util_copy(a, sizeof(a), f, len) < 0)
		die(sm, EX_USAGE, "sender address too long");
	if (len == 0) {
		sm->sender[0] = '\0';
		return;
	}
	if (norm_addr(sm, a, true, sm->sender) < 0)
		die(sm, EX_USAGE, "bad sender address: %s", a);
}

/* ---- reading stdin ---- */

/*
 * The next line, without its LF or CRLF: 1, or 0 at the end of input (or
 * at a lone "." without -i). The line is valid until the next call.
 */
static int
next_line(struct sm *sm, const char **line_r, size_t *len_r)
{
	int rc;

	buf_consume(&sm->in, sm->in_used);
	sm->in_used = 0;
	/* An empty buf may have no memory yet: nothing to scan then. */
	while ((rc = buf_len(&sm->in) == 0 ? 0
		     : buf_getline(&sm->in, SM_LINE_MAX + 2, line_r, len_r,
				   &sm->in_used)) == 0 && !sm->in_eof) {
		size_t avail;
		char *t = buf_tail(&sm->in, 4096, &avail);
		ssize_t n = read(STDIN_FILENO, t, avail);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(sm, EX_IOERR, "reading the message: %s",
			    strerror(errno));
		sm->in_eof = n == 0;
		buf_commit(&sm->in, (size_t)n);
	}
	sm->lineno++;
	if (rc == 0 && buf_len(&sm->in) > 0) {
		/* The last line has no LF: it gets a CRLF like the others. */
		*line_r = buf_data(&sm->in);
		*len_r = sm->in_used = buf_len(&sm->in);
		rc = *len_r <= SM_LINE_MAX ? 1 : -1;
	}
	if (rc < 0 || (rc > 0 && *len_r > SM_LINE_MAX))
		die(sm, EX_DATAERR, "line %lu is longer than %d octets "
		    "(RFC 5322 2.1.1)", sm->lineno, SM_LINE_MAX);
	if (rc == 0)
		return 0;
	if (memchr(*line_r, '\0', *len_r) != NULL)
		die(sm, EX_DATAERR, "line %lu holds a NUL byte", sm->lineno);
	if (memchr(*line_r, '\r', *len_r) != NULL)
		die(sm, EX_DATAERR, "line %lu holds a CR that does not end it",
		    sm->lineno);
	return sm->dots && *len_r == 1 && **line_r == '.' ? 0 : 1;
}

/* ---- the header ---- */

/* "Name:" (RFC 5322 2.2; white space before the colon is obsolete). */
static size_t
field_name_len(const char *l, size_t len)
{
	size_t n = 0, i;

	while (n < len && l[n] > 32 && l[n] < 127 && l[n] != ':')
		n++;
	for (i = n; i < len && (l[i] == ' ' || l[i] == '\t'); i++)
		;
	return n > 0 && i < len && l[i] == ':' ? n : 0;
}

static void
hdr_append(struct sm *sm, struct buf *b, const char *data, size_t len)
{
	if (buf_len(b) + len > sm->cfg->message_size_limit ||
	    buf_append(b, data, len) < 0)
		die(sm, EX_DATAERR, "the message header is too large");
}

/* A complete field: noted, its addresses taken with -t, Bcc: dropped. */
static void
end_field(struct sm *sm)
{
	const char *f = buf_data(&sm->field);
	size_t len = buf_len(&sm->field), n = field_name_len(f, len);
	char bad[SM_ADDR_SCRATCH];
	bool to = util_is_ieq(f, n, "to") || util_is_ieq(f, n, "cc");
	bool bcc = util_is_ieq(f, n, "bcc");

	if (len == 0)
		return;
	sm->has_from |= util_is_ieq(f, n, "from");
	sm->has_date |= util_is_ieq(f, n, "date");
	sm->has_msgid |= util_is_ieq(f, n, "message-id");
	if (sm->extract && (to || bcc)) {
		const char *v = (const char *)memchr(f, ':', len) + 1;
		if (add_list(sm, v, len - (size_t)(v - f), bad) < 0)
			die(sm, EX_DATAERR,
			    "bad address in the %.*s: field: %s", (int)n, f,
			    bad);
	}
	/* Blind copies are never shown, with or without -t. */
	if (!bcc) {
		hdr_append(sm, &sm->hdr, f, len);
		hdr_append(sm, &sm->hdr, "\r\n", 2);
	}
	buf_reset(&sm->field);
}

/*
 * Reads the header into sm->hdr. Returns 1 when a body follows (its
 * first line in *line_r when the header ended without an empty line),
 * 0 when the input ended.
 */
static int
read_header(struct sm *sm, const char **line_r, size_t *len_r)
{
	const char *l;
	size_t len;
	int rc;

	*line_r = NULL;
	while ((rc = next_line(sm, &l, &len)) > 0) {
		/* An mbox "From " line is not part of the message. */
		if (sm->lineno == 1 && len >= 5 && memcmp(l, "From ", 5) == 0)
			continue;
		if (len == 0)
			break;
		if ((l[0] == ' ' || l[0] == '\t') && buf_len(&sm->field) > 0) {
			hdr_append(sm, &sm->field, "\r\n", 2);
		} else if (field_name_len(l, len) > 0) {
			end_field(sm);
		} else {
			*line_r = l; /* not a header line: the body starts */
			*len_r = len;
			break;
		}
		hdr_append(sm, &sm->field, l, len);
	}
	end_field(sm);
	return rc;
}

/* RFC 2047 2: B words of at most 75 characters, each whole UTF-8. */
static void
encoded_words(const char *s, size_t len, struct buf *b)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = len - i < 45 ? len - i : 45;
		while (i + n < len && (u[i + n] & 0xc0) == 0x80)
			n--;
		buf_printf(b, "%s=?UTF-8?B?", i ? " " : "");
		for (size_t k = 0; k < n; k += 3) {
			unsigned v = (unsigned)u[i + k] << 16;
			v |= k + 1 < n ? (unsigned)u[i + k + 1] << 8 : 0;
			v |= k + 2 < n ? (unsigned)u[i + k + 2] : 0;
			buf_printf(b, "%c%c%c%c", b64[v >> 18 & 63],
				   b64[v >> 12 & 63],
				   k + 1 < n ? b64[v >> 6 & 63] : '=',
				   k + 2 < n ? b64[v & 63] : '=');
		}
		buf_append(b, "?=", 2);
		i += n;
	}
}

/* -F as an RFC 5322 phrase: atoms, a quoted string, or RFC 2047 words. */
static void
phrase(struct sm *sm, const char *s, struct buf *b)
{
	size_t len = strlen(s), i;
	bool ascii = true, atoms = true;

	if (len > SM_NAME_MAX)
		die(sm, EX_USAGE, "-F: name longer than %d octets",
		    SM_NAME_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			die(sm, EX_USAGE, "-F: control character in the name");
		ascii &= c < 0x80;
		atoms &= c == ' ' ||
			 (c < 0x80 && strchr("()<>[]:;@\\,.\"", c) == NULL);
	}
	if (atoms) {
		buf_append(b, s, len);
	} else if (!ascii) {
		encoded_words(s, len, b);
	} else {
		buf_append(b, "\"", 1);
		for (i = 0; i < len; i++) {
			if (s[i] == '"' || s[i] == '\\')
				buf_append(b, "\\", 1);
			buf_append(b, s + i, 1);
		}
		buf_append(b, "\"", 1);
	}
}

/* From:, Date: and Message-ID: where the message has none. */
static void
add_fields(struct sm *sm)
{
	char date[64], from[TBL_ADDR_MAX + TBL_DOMAIN_MAX];
	time_t now = time(NULL);
	uint64_t rnd = 0;
	struct tm tm;
	struct buf b;

	buf_init(&b, 8192);
	if (!sm->has_from) {
		/* The null sender has no address: the caller's login then. */
		util_fmt(from, sizeof(from), "%s", sm->sender);
		if (sm->sender[0] == '\0')
			util_fmt(from, sizeof(from), "%s@%s",
				 sm->login[0] ? sm->login : "MAILER-DAEMON",
				 sm->cfg->hostname);
		buf_append(&b, "From: ", 6);
		if (sm->fullname != NULL && sm->fullname[0] != '\0') {
			phrase(sm, sm->fullname, &b);
			buf_printf(&b, " <%s>\r\n", from);
		} else {
			buf_printf(&b, "%s\r\n", from);
		}
	}
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (!sm->has_date)
		buf_printf(&b, "Date: %s\r\n", date);
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd ^= (uint64_t)now * 2654435761u;
	if (!sm->has_msgid)
		buf_printf(&b, "Message-ID: <%lld.%ld.%016llx@%s>\r\n",
			   (long long)now, (long)getpid(),
			   (unsigned long long)rnd, sm->cfg->hostname);
	hdr_append(sm, &sm->hdr, buf_data(&b), buf_len(&b));
	buf_free(&b);
}

/* ---- the maildrop file ---- */

static void
write_all(struct sm *sm, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(sm->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(sm, EX_TEMPFAIL, "writing %s/%s: %s", sm->maildrop,
			    sm->tmp, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

static void
out_flush(struct sm *sm)
{
	write_all(sm, buf_data(&sm->out), buf_len(&sm->out));
	buf_reset(&sm->out);
}

static void
out_raw(struct sm *sm, const void *data, size_t len)
{
	if (buf_len(&sm->out) + len > SM_OUT_MAX)
		out_flush(sm);
	if (len > SM_OUT_MAX)
		write_all(sm, data, len); /* the header, at most */
	else
		buf_append(&sm->out, data, len);
}

/* Message text: counted against message_size_limit. */
static void
out_text(struct sm *sm, const void *data, size_t len)
{
	sm->size += len;
	if (sm->size > sm->cfg->message_size_limit)
		die(sm, EX_DATAERR, "message larger than message_size_limit "
		    "(%llu octets)",
		    (unsigned long long)sm->cfg->message_size_limit);
	out_raw(sm, data, len);
}

static void
open_drop(struct sm *sm)
{
	uint64_t rnd;

	if (util_fmt(sm->maildrop, sizeof(sm->maildrop), "%s/%s",
		     sm->cfg->spool_dir, MAILDROP_DIR) < 0)
		die(sm, EX_CONFIG, "spool_dir too long");
	/* O_PATH: the directory may be written, never read, by us. */
	sm->dfd = open(sm->maildrop, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sm->dfd < 0)
		die(sm, EX_CANTCREAT, "%s: %s (has vdmaild been started?)",
		    sm->maildrop, strerror(errno));
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		die(sm, EX_TEMPFAIL, "getrandom: %s", strerror(errno));
	snprintf(sm->tmp, sizeof(sm->tmp), "%s%016llx", MAILDROP_TMP_PREFIX,
		 (unsigned long long)rnd);
	snprintf(sm->name, sizeof(sm->name), "%lld.%ld.%016llx",
		 (long long)time(NULL), (long)getpid(),
		 (unsigned long long)rnd);
	sm->fd = openat(sm->dfd, sm->tmp, O_WRONLY | O_CREAT | O_EXCL |
			O_NOFOLLOW | O_CLOEXEC, 0600);
	if (sm->fd < 0)
		die(sm, errno == ENOSPC || errno == EDQUOT ? EX_TEMPFAIL
							    : EX_CANTCREAT,
		    "cannot create a file in %s: %s", sm->maildrop,
		    strerror(errno));
	/* Readable by vdmaild's group (the directory's), whatever the umask. */
	if (fchmod(sm->fd, MAILDROP_FILE_MODE) < 0)
		die(sm, EX_TEMPFAIL, "fchmod: %s", strerror(errno));
}

/* Z's digits are zeros until finish() knows the size. */
static void
write_envelope(struct sm *sm)
{
	struct buf b;

	buf_init(&b, ((size_t)sm->nrcpt + 8) * MAILDROP_LINE_MAX);
	maildrop_put_start(&b, sm->sender);
	for (unsigned i = 0; i < sm->nrcpt; i++)
		maildrop_put_rcpt(&b, sm->rcpt[i]);
	sm->zoff = maildrop_put_end(&b, (unsigned long)getuid(),
				    sm->login[0] != '\0' ? sm->login : NULL, 0);
	out_raw(sm, buf_data(&b), buf_len(&b));
	buf_free(&b);
}

/* The body, line by line with CRLF, after the header's empty line. */
static void
copy_body(struct sm *sm, const char *first, size_t first_len, bool more)
{
	const char *l = first;
	size_t len = first_len;

	out_text(sm, "\r\n", 2);
	if (l != NULL) {
		out_text(sm, l, len);
		out_text(sm, "\r\n", 2);
	}
	while (more && next_line(sm, &l, &len) > 0) {
		out_text(sm, l, len);
		out_text(sm, "\r\n", 2);
	}
}

/*
 * Size in Z, data durable, rename, rename durable. Only root or the
 * directory's owner may open it to fsync it; anyone else has syncfs(2)
 * make the new name durable with the rest of the file system.
 */
static void
finish(struct sm *sm)
{
	char digits[MAILDROP_SIZE_DIGITS + 1];
	int d;

	out_flush(sm);
	maildrop_size_digits(digits, sm->size);
	if (pwrite(sm->fd, digits, MAILDROP_SIZE_DIGITS, (off_t)sm->zoff) !=
		    MAILDROP_SIZE_DIGITS || fsync(sm->fd) < 0)
		die(sm, EX_TEMPFAIL, "writing %s/%s: %s", sm->maildrop,
		    sm->tmp, strerror(errno));
	if (renameat2(sm->dfd, sm->tmp, sm->dfd, sm->name,
		      RENAME_NOREPLACE) < 0)
		die(sm, EX_TEMPFAIL, "renaming %s/%s: %s", sm->maildrop,
		    sm->tmp, strerror(errno));
	d = openat(sm->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if ((d >= 0 ? fsync(d) : syncfs(sm->fd)) < 0 || close(sm->fd) < 0) {
		/* Not known to be durable: take it back if still there. */
		unlinkat(sm->dfd, sm->name, 0);
		sm->fd = -1;
		die(sm, EX_TEMPFAIL, "making %s/%s durable: %s", sm->maildrop,
		    sm->name, strerror(errno));
	}
	if (d >= 0)
		close(d);
	if (sm->verbose)
		fprintf(stderr, "vdmail-sendmail: queued as %s/%s (%u "
			"recipient(s), %llu octets)\n", sm->maildrop,
			sm->name, sm->nrcpt, (unsigned long long)sm->size);
}

/* ---- options ---- */

/* -bX: only m (deliver mail) is ours; i (newaliases) has nothing to do. */
static void
mode(struct sm *sm, const char *m)
{
	if (strcmp(m, "m") == 0)
		return;
	if (strcmp(m, "i") == 0)
		exit(EX_OK);
	if (strcmp(m, "s") == 0)
		die(sm, EX_USAGE, "-bs (SMTP on stdin) is not supported: use "
		    "SMTP, or submission on port 587");
	if (strcmp(m, "p") == 0)
		die(sm, EX_USAGE, "-bp is not supported: use vdctl queue list");
	die(sm, EX_USAGE, "-b%s is not supported (only -bm)", m);
}

static void
options(struct sm *sm, int argc, char **argv, const char **conf)
{
	/* '+': options end at the first recipient, as sendmail's do. */
	static const char opts[] =
		"+A:B:b:C:d:F:f:Gh:IiL:mN:nO:o:p:q::R:r:tUV:vX:";
	int ch;

	opterr = 0;
	while ((ch = getopt(argc, argv, opts)) != -1) {
		switch (ch) {
		case 'b': mode(sm, optarg); break;
		case 'C': *conf = optarg; break;
		case 'F': sm->fullname = optarg; break;
		case 'f': case 'r': sm->from = optarg; break;
		case 'I': exit(EX_OK); /* = -bi */
		case 'i': sm->dots = false; break;
		case 'o':
			if (strcmp(optarg, "i") == 0)
				sm->dots = false;
			break; /* other -oX: sendmail.cf options, not ours */
		case 'q':
			die(sm, EX_USAGE, "-q: vdmaild runs its own queue (see "
			    "vdctl queue)");
		case 't': sm->extract = true; break;
		case 'v': sm->verbose = true; break;
		/* Accepted, ignored (README): A B d G h L m N n O p R U V X */
		case 'A': case 'B': case 'd': case 'G': case 'h': case 'L':
		case 'm': case 'N': case 'n': case 'O': case 'p': case 'R':
		case 'U': case 'V': case 'X':
			break;
		default:
			fprintf(stderr, "vdmail-sendmail: unknown option -%c "
				"or missing argument\n", optopt);
			usage();
		}
	}
}

/* Recipients named as arguments (each may be a comma-separated list). */
static void
arg_rcpts(struct sm *sm, int argc, char **argv)
{
	char bad[SM_ADDR_SCRATCH];

	for (int i = optind; i < argc; i++)
		if (add_list(sm, argv[i], strlen(argv[i]), bad) < 0)
			die(sm, EX_USAGE, "bad recipient address: %s", bad);
}

static void
setup(struct sm *sm, int argc, char **argv)
{
	const char *conf = getenv("VDMAIL_CONF");
	const char *prog = strrchr(argv[0], '/');
	struct passwd *pw = getpwuid(getuid());
	char err[1024];

	prog = prog ? prog + 1 : argv[0];
	if (strcmp(prog, "mailq") == 0)
		mode(sm, "p");
	if (strcmp(prog, "newaliases") == 0)
		mode(sm, "i");
	if (conf == NULL || conf[0] == '\0')
		conf = SM_DEFAULT_CONFIG;
	options(sm, argc, argv, &conf);
	if ((sm->cfg = malloc(sizeof(*sm->cfg))) == NULL)
		die(sm, EX_TEMPFAIL, "out of memory");
	if (cfg_load(sm->cfg, conf, err, sizeof(err)) < 0)
		die(sm, EX_CONFIG, "%s", err);
	if (pw != NULL)
		util_strlcpy(sm->login, pw->pw_name, sizeof(sm->login));
	set_sender(sm);
	arg_rcpts(sm, argc, argv);
}

int
main(int argc, char **argv)
{
	struct sm sm = { .dots = true, .dfd = -1, .fd = -1 };
	const char *first;
	size_t first_len = 0;
	int more;

	buf_init(&sm.in, SM_IN_MAX);
	buf_init(&sm.hdr, SM_HEADER_MAX);
	buf_init(&sm.field, SM_HEADER_MAX);
	buf_init(&sm.out, SM_OUT_MAX);
	setup(&sm, argc, argv);
	if (sm.nrcpt == 0 && !sm.extract)
		die(&sm, EX_USAGE, "no recipients (name them, or use -t)");
	more = read_header(&sm, &first, &first_len);
	add_fields(&sm);
	if (sm.nrcpt == 0)
		die(&sm, EX_USAGE, "no recipients");
	open_drop(&sm);
	write_envelope(&sm);
	out_text(&sm, buf_data(&sm.hdr), buf_len(&sm.hdr));
	copy_body(&sm, first, first_len, more > 0);
	finish(&sm);
	buf_free(&sm.in);
	buf_free(&sm.hdr);
	buf_free(&sm.field);
	buf_free(&sm.out);
	free(sm.rcpt);
	free(sm.cfg);
	return EX_OK;
}
