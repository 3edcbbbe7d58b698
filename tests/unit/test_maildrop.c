/* maildrop: the maildrop envelope, written and parsed back line by line. */
#include <stdio.h>
#include <string.h>

#include "spool/maildrop.h"
#include "tests/unit/t.h"

/* Feeds text line by line (LF-split); the last rc, and the lines taken. */
static int
feed(struct maildrop_env *e, const char *text, size_t len, size_t *used_r)
{
	size_t off = 0;
	int rc = 0;

	while (off < len && rc == 0) {
		const char *lf = memchr(text + off, '\n', len - off);
		T_ASSERT(lf != NULL);
		rc = maildrop_env_line(e, text + off,
				       (size_t)(lf - (text + off)));
		off = (size_t)(lf - text) + 1;
	}
	if (used_r != NULL)
		*used_r = off;
	return rc;
}

T_TEST(maildrop_round_trip)
{
	struct maildrop_env e;
	struct buf b;
	char digits[MAILDROP_SIZE_DIGITS + 1];
	size_t zoff, used;

	buf_init(&b, 1 << 16);
	maildrop_put_start(&b, "alice@example.com");
	maildrop_put_rcpt(&b, "bob@example.net");
	maildrop_put_rcpt(&b, "\"john doe\"@example.com");
	zoff = maildrop_put_end(&b, 1000, "alice", 0);
	/* Filled in last, in place. */
	maildrop_size_digits(digits, 12345);
	T_EQ_SIZE(strlen(digits), MAILDROP_SIZE_DIGITS);
	memcpy((char *)buf_data(&b) + zoff, digits, MAILDROP_SIZE_DIGITS);

	maildrop_env_init(&e, 10);
	T_EQ_INT(feed(&e, buf_data(&b), buf_len(&b), &used), 1);
	T_EQ_SIZE(used, buf_len(&b));
	T_EQ_INT(maildrop_env_done(&e, 1 << 20), 0);
	T_EQ_STR(e.sender, "alice@example.com");
	T_EQ_INT(e.nrcpt, 2);
	T_EQ_STR(e.rcpt[0], "bob@example.net");
	T_EQ_STR(e.rcpt[1], "\"john doe\"@example.com");
	T_EQ_INT(e.uid, 1000);
	T_EQ_STR(e.login, "alice");
	T_EQ_INT(e.size, 12345);
	T_ASSERT(e.seen & MAILDROP_SEEN_N);
	/* The size limit is the caller's. */
	T_EQ_INT(maildrop_env_done(&e, 12344), -1);
	maildrop_env_free(&e);
	buf_free(&b);
}

T_TEST(maildrop_null_sender_no_login)
{
	struct maildrop_env e;
	struct buf b;

	buf_init(&b, 1 << 16);
	maildrop_put_start(&b, "");
	maildrop_put_rcpt(&b, "postmaster");
	maildrop_put_end(&b, 0, NULL, 7);
	maildrop_env_init(&e, 1);
	T_EQ_INT(feed(&e, buf_data(&b), buf_len(&b), NULL), 1);
	T_EQ_INT(maildrop_env_done(&e, 100), 0);
	T_EQ_STR(e.sender, "");
	T_EQ_INT(e.size, 7);
	T_ASSERT(!(e.seen & MAILDROP_SEEN_N));
	maildrop_env_free(&e);
	buf_free(&b);
}

/* One malformed envelope: the line it fails on, and why. */
static void
bad_case(const char *text, unsigned max_rcpt, const char *why)
{
	struct maildrop_env e;
	int rc;

	maildrop_env_init(&e, max_rcpt);
	rc = feed(&e, text, strlen(text), NULL);
	if (rc == 1)
		rc = maildrop_env_done(&e, 1000);
	T_EQ_INT(rc, -1);
	T_EQ_STR(e.why, why);
	maildrop_env_free(&e);
}

T_TEST(maildrop_malformed)
{
	char longline[MAILDROP_LINE_MAX + 64];

	bad_case("VDMAILDROP2\n", 5, "not a maildrop file (bad magic)");
	bad_case("VDMAILDROP1\r\n", 5, "CR in the envelope");
	bad_case("VDMAILDROP1\nSa@b\nSa@b\n", 5,
		 "an envelope line is repeated");
	bad_case("VDMAILDROP1\nSa@b\nRc<d>@e\n", 5, "bad recipient address");
	bad_case("VDMAILDROP1\nSa\tb@c\n", 5, "bad sender address");
	bad_case("VDMAILDROP1\nSa@b\nRc@d\nRe@f\n", 1,
		 "more recipients than max_recipients");
	bad_case("VDMAILDROP1\nSa@b\nRc@d\nZ12x\n", 5,
		 "bad number in the envelope");
	bad_case("VDMAILDROP1\nSa@b\nRc@d\nZ000000000000000000001\n", 5,
		 "bad number in the envelope");
	bad_case("VDMAILDROP1\nSa@b\nRc@d\nU4294967296\n", 5,
		 "bad number in the envelope");
	bad_case("VDMAILDROP1\nSa@b\nRc@d\nNx\x01y\n", 5, "bad login name");
	bad_case("VDMAILDROP1\nSa@b\nXfoo\n", 5, "unknown envelope line");
	bad_case("VDMAILDROP1\nSa@b\nZ10\n\n", 5,
		 "an envelope line (S, R or Z) is missing");
	bad_case("VDMAILDROP1\nSa@b\nRc@d\nZ1001\n\n", 5,
		 "message larger than message_size_limit");
	snprintf(longline, sizeof(longline), "VDMAILDROP1\nS%0*d\n",
		 MAILDROP_LINE_MAX, 0);
	bad_case(longline, 5, "envelope line too long");
}

T_TEST(maildrop_addr_chars)
{
	char out[TBL_ADDR_MAX];

	T_ASSERT(maildrop_addr_ok("a@b.c", 5));
	T_ASSERT(!maildrop_addr_ok("a>@b", 4));
	T_ASSERT(!maildrop_addr_ok("a\x7f@b", 4));
	T_ASSERT(!maildrop_addr_ok("\xc3\xa9@b", 4));
	T_EQ_INT(maildrop_addr("x@example.com", 13, true, out), 0);
	T_EQ_STR(out, "x@example.com");
	T_EQ_INT(maildrop_addr("not an address", 14, true, out), -1);
}
