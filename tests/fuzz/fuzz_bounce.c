/*
 * libFuzzer target: the delivery status notification (spool/bounce.h).
 * Input: two flag bytes, then fields each as a 2-octet big-endian length
 * and its octets (cut at the end of the input): to, reporting_mta, qid,
 * then per recipient addr, orig, status, remote_mta, diag (any octets,
 * NUL too); the rest is the original message. Checked:
 *  - the notice is 7-bit, no NUL, CRLF lines of at most 998 octets;
 *  - its header (up to the first empty line) starts with a field, every
 *    line is a "Name:" field or a continuation holding more than blanks,
 *    and holds Date, From, To, Subject, Message-ID, Auto-Submitted,
 *    MIME-Version and Content-Type exactly once each, nothing else;
 *  - the boundary of its Content-Type starts exactly four lines: three
 *    "--B" and the last line "--B--"; the three parts have exactly their
 *    Content-Description and Content-Type (text/plain, message/delivery-
 *    status, text/rfc822-headers);
 *  - the report has one Reporting-MTA, report fields only, one block per
 *    recipient with its Final-Recipient, Action (failed/delayed) and
 *    Status (the recipient's when well-formed, else 5.0.0 / 4.0.0);
 *  - the header part is the original's header lines in order, octets that
 *    are not text as "?", each cut at 998, within max_headers, cut
 *    before a field that does not fit whole (or, when the first field
 *    alone is larger, after the last line that fits), whole when it fits;
 *  - pure: the same notice twice; a buffer short by one octet or more,
 *    or n = 0: -1 and the buffer left as it was.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAIL_WHAT "bounce"
#include "tests/fuzz/fuzz_mail.h"
#include "core/buf.h"
#include "core/util.h"
#include "spool/bounce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "Received: by mx.example.org (vdmail) id Q;\r\n"
#define MAXR 4

struct in {
	const uint8_t *p;
	size_t n;
};

/* The next field: its octets, NUL-terminated in a copy of its own. */
static char *
field(struct in *in, size_t *len_r)
{
	size_t len = 0;
	char *s;

	if (in->n >= 2) {
		len = (size_t)in->p[0] << 8 | in->p[1];
		in->p += 2, in->n -= 2;
	} else {
		in->n = 0;
	}
	if (len > in->n)
		len = in->n;
	s = malloc(len + 1);
	memcpy(s, in->p, len);
	s[len] = '\0';
	in->p += len, in->n -= len;
	if (len_r != NULL)
		*len_r = len;
	return s;
}

/* Line at off of a CRLF text: its length without CRLF; next start. */
static size_t
line(const char *p, size_t n, size_t off, size_t *len_r)
{
	const char *cr = memchr(p + off, '\r', n - off);

	*len_r = (size_t)(cr - (p + off));
	return off + *len_r + 2;
}

/*
 * A block of fields p[0..n) (CRLF lines, no empty one unless blocks):
 * every line a field among names or a non-blank continuation; counts[i]
 * the fields named names[i]. Returns the number of empty lines.
 */
static unsigned
fields(const char *p, size_t n, const char *const *names, unsigned *counts,
       bool blocks, const char *all, size_t alln)
{
	unsigned empty = 0;
	bool first = true;

	for (size_t off = 0, ll; off < n; off = line(p, n, off, &ll)) {
		const char *l = p + off;
		line(p, n, off, &ll);
		if (ll == 0) {
			if (!blocks)
				fail("empty line in a header", all, alln);
			empty++;
			first = true;
			continue;
		}
		if (is_wsp(l[0])) {
			size_t k = 0;
			if (first)
				fail("block starts with a continuation", all,
				     alln);
			while (k < ll && is_wsp(l[k]))
				k++;
			if (k == ll)
				fail("blank continuation line", all, alln);
			continue;
		}
		first = false;
		const char *colon = memchr(l, ':', ll);
		if (colon == NULL || colon == l)
			fail("line is no field", all, alln);
		size_t i;
		for (i = 0; names[i] != NULL; i++)
			if (util_is_ieq(l, (size_t)(colon - l), names[i]))
				break;
		if (names[i] == NULL)
			fail("a field of no known name", all, alln);
		counts[i]++;
	}
	return empty;
}

/* The value of the first field name (exact case) of p: at *v_r. */
static bool
value_of(const char *p, size_t n, const char *name, const char **v_r,
	 size_t *len_r)
{
	size_t nl = strlen(name);

	for (size_t off = 0, ll; off < n; off = line(p, n, off, &ll)) {
		line(p, n, off, &ll);
		if (ll > nl + 1 && memcmp(p + off, name, nl) == 0 &&
		    p[off + nl] == ':' && p[off + nl + 1] == ' ') {
			*v_r = p + off + nl + 2;
			*len_r = ll - nl - 2;
			return true;
		}
	}
	return false;
}

static bool
status_ok(const char *s)
{
	size_t a, b;

	if ((s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	a = strspn(s + 2, "0123456789");
	if (a < 1 || a > 3 || s[2 + a] != '.')
		return false;
	b = strspn(s + 3 + a, "0123456789");
	return b >= 1 && b <= 3 && s[3 + a + b] == '\0';
}

/* The original's header lines (up to an empty one), as bounce.h says. */
struct oline {
	const char *p;
	size_t len; /* without LF and the CR before it */
};

static size_t
orig_lines(const char *o, size_t n, struct oline *v, size_t max)
{
	size_t k = 0, off = 0;

	while (off < n && k < max) {
		const char *lf = memchr(o + off, '\n', n - off);
		size_t end = lf ? (size_t)(lf - o) : n;
		size_t l = end - off;
		if (lf != NULL && l > 0 && o[end - 1] == '\r')
			l--;
		if (l == 0)
			break;
		v[k].p = o + off;
		v[k++].len = l;
		off = lf ? end + 1 : n;
	}
	return k;
}

static size_t
copied(const struct oline *l)
{
	return (l->len < BOUNCE_LINE_MAX ? l->len : BOUNCE_LINE_MAX) + 2;
}

static void
check_orig(const char *body, size_t blen, const char *orig, size_t olen,
	   size_t max, const char *all, size_t alln)
{
	static struct oline ol[65536];
	size_t m = orig != NULL ? orig_lines(orig, olen, ol, 65536) : 0;
	size_t k = 0, off = 0, sum = 0;

	/* Line by line, the original's lines made text. */
	while (off < blen) {
		size_t ll, next = line(body, blen, off, &ll);
		if (k >= m)
			fail("header part has more lines", all, alln);
		size_t want = ol[k].len < BOUNCE_LINE_MAX ? ol[k].len
							  : BOUNCE_LINE_MAX;
		if (ll != want)
			fail("header part line length", all, alln);
		for (size_t i = 0; i < ll; i++) {
			unsigned char c = (unsigned char)ol[k].p[i];
			char t = (c >= 0x20 && c < 0x7f) || c == '\t' ? (char)c
								      : '?';
			if (body[off + i] != t)
				fail("header part octet", all, alln);
		}
		sum += ll + 2;
		k++;
		off = next;
	}
	if (sum > max)
		fail("header part over max_headers", all, alln);
	if (k == m)
		return;
	/* Cut: the field at line k did not fit whole... */
	size_t end = k + 1, upto = sum;
	while (end < m && is_wsp(ol[end].p[0]))
		end++;
	for (size_t i = k; i < end; i++)
		upto += copied(&ol[i]);
	size_t first = 1;
	while (first < m && is_wsp(ol[first].p[0]))
		first++;
	size_t firstsize = 0;
	for (size_t i = 0; i < first; i++)
		firstsize += copied(&ol[i]);
	if (k > 0 && k >= first && !is_wsp(ol[k].p[0]) && upto > max)
		return; /* before the field that does not fit */
	/* ...or the first field alone is larger: the lines that fit. */
	if (firstsize > max && k < first && sum + copied(&ol[k]) > max)
		return;
	fail("header part cut at the wrong place", all, alln);
}

struct part {
	const char *p;
	size_t n;
};

static void
check_notice(const char *o, size_t n, const struct bounce_info *bi,
	     const struct bounce_rcpt *r, unsigned nr, const char *orig,
	     size_t origlen, size_t max)
{
	static const char *const hnames[] = { "Date", "From", "To", "Subject",
		"Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type",
		NULL };
	static const char *const pnames[] = { "Content-Description",
		"Content-Type", NULL };
	static const char *const rnames[] = { "Reporting-MTA",
		"X-Vdmail-Queue-ID", "Arrival-Date", "Original-Recipient",
		"Final-Recipient", "Action", "Status", "Remote-MTA",
		"Diagnostic-Code", "Last-Attempt-Date", "Will-Retry-Until",
		NULL };
	static const char *const ctype[3] = {
		"text/plain; charset=us-ascii", "message/delivery-status",
		"text/rfc822-headers" };
	unsigned hc[8] = { 0 };
	const char *eoh = memmem(o, n, "\r\n\r\n", 4), *b, *q = NULL;
	char bnd[128], delim[132];
	size_t hlen, blen, dlen;

	check_lines(o, n, BOUNCE_LINE_MAX);
	if (eoh == NULL)
		fail("no empty line", o, n);
	hlen = (size_t)(eoh - o) + 2;
	fields(o, hlen, hnames, hc, false, o, n);
	for (int i = 0; i < 8; i++)
		if (hc[i] != 1) {
			fprintf(stderr, "field %s: %u times\n", hnames[i], hc[i]);
			fail("a header field not exactly once", o, n);
		}

	/* The boundary, and the lines it starts. */
	b = memmem(o, hlen, "\r\n\tboundary=\"", 13);
	if (b == NULL || (q = memchr(b + 13, '"', hlen - (size_t)(b + 13 - o)))
			     == NULL || q - b - 13 < 1 || q - b - 13 > 70)
		fail("no boundary", o, n);
	blen = (size_t)(q - b - 13);
	memcpy(bnd, b + 13, blen);
	bnd[blen] = '\0';
	dlen = (size_t)snprintf(delim, sizeof(delim), "--%s", bnd);
	struct part part[3];
	unsigned nd = 0;
	size_t prev = 0;
	for (size_t off = 0, ll; off < n; off = line(o, n, off, &ll)) {
		line(o, n, off, &ll);
		if (ll < dlen || memcmp(o + off, delim, dlen) != 0)
			continue;
		if (nd < 3 && ll != dlen)
			fail("delimiter line with more", o, n);
		if (nd == 3 && (ll != dlen + 2 ||
				memcmp(o + off + dlen, "--", 2) != 0 ||
				off + ll + 2 != n))
			fail("close delimiter not the last line", o, n);
		if (nd > 3)
			fail("more than four boundary lines", o, n);
		if (nd > 0) {
			/* The CRLF before a delimiter is the delimiter's. */
			part[nd - 1].p = o + prev;
			part[nd - 1].n = off - prev - 2;
		}
		prev = off + ll + 2;
		nd++;
	}
	if (nd != 4)
		fail("not four boundary lines", o, n);

	/* Each part: its two fields, then its content. */
	struct part body[3];
	for (int i = 0; i < 3; i++) {
		unsigned pc[2] = { 0 };
		const char *v;
		size_t vl, ph;
		const char *e = memmem(part[i].p, part[i].n, "\r\n\r\n", 4);
		if (e == NULL)
			fail("part without its empty line", o, n);
		ph = (size_t)(e - part[i].p) + 2;
		fields(part[i].p, ph, pnames, pc, false, o, n);
		if (pc[0] != 1 || pc[1] != 1)
			fail("part header fields", o, n);
		if (!value_of(part[i].p, ph, "Content-Type", &v, &vl) ||
		    vl != strlen(ctype[i]) || memcmp(v, ctype[i], vl) != 0)
			fail("part Content-Type", o, n);
		/* Its last line's CRLF included (the delimiter has its own). */
		body[i].p = part[i].p + ph + 2;
		body[i].n = part[i].n - ph - 2;
	}

	/* The report: per-message fields, then a block per recipient. */
	unsigned rc[11] = { 0 };
	if (body[1].n < 2 || memcmp(body[1].p + body[1].n - 2, "\r\n", 2) != 0)
		fail("report does not end in a line end", o, n);
	if (fields(body[1].p, body[1].n, rnames, rc, true, o, n) != nr ||
	    rc[0] != 1 || rc[4] != nr || rc[5] != nr || rc[6] != nr)
		fail("report blocks", o, n);
	unsigned i = 0;
	for (size_t off = 0, ll; off < body[1].n;
	     off = line(body[1].p, body[1].n, off, &ll)) {
		const char *l = body[1].p + off;
		line(body[1].p, body[1].n, off, &ll);
		if (ll >= 8 && memcmp(l, "Action: ", 8) == 0 &&
		    (ll - 8 != strlen(bi->delayed ? "delayed" : "failed") ||
		     memcmp(l + 8, bi->delayed ? "delayed" : "failed",
			    ll - 8) != 0))
			fail("Action", o, n);
		if (ll >= 8 && memcmp(l, "Status: ", 8) == 0) {
			const char *s = r[i].status;
			const char *want = s != NULL && status_ok(s) ? s
					   : bi->delayed ? "4.0.0" : "5.0.0";
			if (ll - 8 != strlen(want) ||
			    memcmp(l + 8, want, ll - 8) != 0)
				fail("Status", o, n);
			i++;
		}
	}

	/* The original's header. */
	if (body[2].n > 0 &&
	    memcmp(body[2].p + body[2].n - 2, "\r\n", 2) != 0)
		fail("header part does not end in a line end", o, n);
	check_orig(body[2].p, body[2].n, orig, origlen, max, o, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[8] = { 0, 1, 30, 80, 500, 2000, 65536,
					 1000000 };
	static const time_t nows[4] = { 1795363222, 0, 253402300799, 1 };
	struct in in = { data + 2, size >= 2 ? size - 2 : 0 };
	struct bounce_rcpt r[MAXR];
	char *keep[3 + 5 * MAXR];
	unsigned nk = 0, nr;
	struct buf out, s;
	size_t plen = strlen(PREFIX);

	if (size < 2)
		return 0;
	unsigned f1 = data[0], f2 = data[1];
	nr = 1 + (f1 >> 1 & 3);
	time_t now = nows[f2 >> 4 & 3];
	char *to = keep[nk++] = field(&in, NULL);
	char *mta = keep[nk++] = field(&in, NULL);
	char *qid = keep[nk++] = field(&in, NULL);
	struct bounce_info bi = {
		.reporting_mta = f1 & 8 ? mta : "mx.example.org",
		.qid = f1 & 16 ? qid : "000660DF931DEBFF",
		.from = "MAILER-DAEMON@mx.example.org",
		.to = to,
		.arrival = f2 & 64 ? now - 4 * 3600 - 600 : f2 & 128 ? INT64_MAX : 0,
		.now = now,
		.delayed = f1 & 1,
		.retry_until = f2 & 64 ? now + 5 * 86400 : 0,
	};
	for (unsigned i = 0; i < nr; i++) {
		size_t dl;
		memset(&r[i], 0, sizeof(r[i]));
		r[i].addr = keep[nk++] = field(&in, NULL);
		r[i].orig = keep[nk++] = field(&in, NULL);
		r[i].status = keep[nk++] = field(&in, NULL);
		r[i].remote_mta = keep[nk++] = field(&in, NULL);
		r[i].diag = keep[nk++] = field(&in, &dl);
		r[i].diaglen = dl;
		r[i].diag_remote = f2 >> i & 1;
		r[i].last_attempt = f2 >> i & 2 ? now - 60 : 0;
		if (f2 & 8 && r[i].orig[0] == '\0')
			r[i].orig = NULL;
		if (f2 & 8 && dl == 0)
			r[i].diag = NULL;
	}
	const char *orig = in.n > 0 || !(f2 & 8) ? (const char *)in.p : NULL;
	size_t origlen = orig != NULL ? in.n : 0;
	size_t max = maxes[f1 >> 5];

	buf_init(&out, 16 * 1024 * 1024);
	if (buf_append(&out, PREFIX, plen) < 0)
		abort();
	if (bounce_format(&out, &bi, r, 0, orig, origlen, max) != -1 ||
	    buf_len(&out) != plen)
		abort();
	if (bounce_format(&out, &bi, r, nr, orig, origlen, max) != 0 ||
	    memcmp(buf_data(&out), PREFIX, plen) != 0)
		abort();
	const char *o = buf_data(&out) + plen;
	size_t n = buf_len(&out) - plen;
	check_notice(o, n, &bi, r, nr, orig, origlen, max);

	/* Short of room: -1, the buffer as it was. */
	size_t less = 1 + (size_t)f2 % (n < 200 ? n : 200);
	buf_init(&s, plen + n - less);
	if (buf_append(&s, PREFIX, plen) < 0)
		abort();
	if (bounce_format(&s, &bi, r, nr, orig, origlen, max) != -1 ||
	    buf_len(&s) != plen || memcmp(buf_data(&s), PREFIX, plen) != 0)
		abort();
	buf_free(&s);
	/* Pure: the same notice, exactly the room it needs. */
	buf_init(&s, n);
	if (bounce_format(&s, &bi, r, nr, orig, origlen, max) != 0 ||
	    buf_len(&s) != n || memcmp(buf_data(&s), o, n) != 0)
		abort();
	buf_free(&s);
	buf_free(&out);
	for (unsigned i = 0; i < nk; i++)
		free(keep[i]);
	return 0;
}
