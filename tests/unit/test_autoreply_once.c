/* autoreply_once.c: the once-per-sender record, the reply timeout,
 * generalized time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "spool/autoreply.h"
#include "tests/unit/t.h"
#include "tests/unit/t_mail.h"

#define NOW 1795363222 /* Sun, 22 Nov 2026 16:00:22 +0000 */
#define WEEK (7 * 86400)

/* ---- the once-per-sender record ---- */

static int
open_box(void)
{
	int fd = open(t_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	T_ASSERT(fd >= 0);
	return fd;
}

/* The record's text, NUL-terminated (malloc), or NULL when absent. */
static char *
read_state(void)
{
	char path[512], *p;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", t_tmpdir(), AUTOREPLY_STATE_FILE);
	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	p = malloc((size_t)n + 1);
	T_EQ_SIZE(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	return p;
}

static void
write_state(const char *p, size_t len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", t_tmpdir(), AUTOREPLY_STATE_FILE);
	t_mail_write_file(path, p, len);
}

static size_t
count_lines(const char *p)
{
	size_t n = 0;

	for (; *p != '\0'; p++)
		n += *p == '\n';
	return n;
}

T_TEST(autoreply_once_per_sender)
{
	int box = open_box();
	char *s;

	T_EQ_INT(autoreply_once(box, "alice@remote.test", NOW, WEEK), 0);
	s = read_state();
	T_ASSERT(s != NULL);
	T_EQ_STR(s, "1795363222 alice@remote.test\n");
	free(s);
	T_EQ_INT(autoreply_once(box, "alice@remote.test", NOW + 10, WEEK), 1);
	T_EQ_INT(autoreply_once(box, "ALICE@Remote.Test", NOW + WEEK - 1, WEEK),
		 1);
	/* Another sender, then alice's period is over. */
	T_EQ_INT(autoreply_once(box, "dave@remote.test", NOW + 20, WEEK), 0);
	T_EQ_INT(autoreply_once(box, "alice@remote.test", NOW + WEEK, WEEK), 0);
	s = read_state();
	T_EQ_STR(s, "1795968022 alice@remote.test\n"
		    "1795363242 dave@remote.test\n");
	free(s);
	T_EQ_INT(autoreply_once(box, "alice@remote.test", NOW + WEEK + 5, WEEK),
		 1);
	/* The expired are dropped when the record is written. */
	T_EQ_INT(autoreply_once(box, "erin@remote.test", NOW + 2 * WEEK - 1,
				WEEK), 0);
	s = read_state();
	T_EQ_STR(s, "1796572821 erin@remote.test\n"
		    "1795968022 alice@remote.test\n");
	free(s);
	/* No temporary file is left behind. */
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp.%ld", t_tmpdir(),
		 AUTOREPLY_STATE_FILE, (long)getpid());
	T_ASSERT(access(tmp, F_OK) != 0);
	close(box);
}

T_TEST(autoreply_once_timeout_zero)
{
	int box = open_box();

	T_EQ_INT(autoreply_once(box, "alice@remote.test", NOW, 0), 0);
	T_EQ_INT(autoreply_once(box, "alice@remote.test", NOW, 0), 0);
	T_EQ_INT(autoreply_once(box, "alice@remote.test", NOW, -5), 0);
	T_ASSERT(read_state() == NULL);
	close(box);
}

T_TEST(autoreply_once_damaged_file)
{
	static const char junk[] =
		"\0\0\0binary\xff\n"
		"abc\n"
		"123\n"
		"123 \n"
		" 1795363000 x@remote.test\n"
		"99999999999999999999999 big@remote.test\n"
		"-5 neg@remote.test\n"
		"1795363000 two words@remote.test\n"
		"1795363000 tab\t@remote.test\n"
		"1795363000 carol@example.org\n"
		"2795363000 future@remote.test\n"
		"1795363000 Frank@Remote.Test\r\n"
		"1795363100 gina@remote.test\n"
		"1795363100 no-newline@remote.test";
	int box = open_box();
	char *s;

	write_state(junk, sizeof(junk) - 1);
	T_EQ_INT(autoreply_once(box, "carol@example.org", NOW, WEEK), 1);
	T_EQ_INT(autoreply_once(box, "no-newline@remote.test", NOW, WEEK), 0);
	s = read_state();
	T_EQ_STR(s, "1795363222 no-newline@remote.test\n"
		    "1795363000 carol@example.org\n"
		    "1795363100 gina@remote.test\n");
	free(s);
	T_EQ_INT(autoreply_once(box, "future@remote.test", NOW, WEEK), 0);
	T_EQ_INT(autoreply_once(box, "gina@remote.test", NOW, WEEK), 1);
	/* An empty file, and one with a NUL where a newline would be. */
	write_state("", 0);
	T_EQ_INT(autoreply_once(box, "carol@example.org", NOW, WEEK), 0);
	write_state("1795363000 carol@example.org\0\n", 30);
	T_EQ_INT(autoreply_once(box, "carol@example.org", NOW, WEEK), 0);
	close(box);
}

T_TEST(autoreply_once_size_cap)
{
	size_t len = 2 * AUTOREPLY_STATE_BYTES, n;
	char *big = malloc(len + 64), *s;
	int box = open_box();

	n = (size_t)sprintf(big, "1795363000 first@remote.test\n");
	memset(big + n, 'j', len - n);
	for (size_t i = n + 100; i < len; i += 100)
		big[i] = '\n';
	n = len;
	n += (size_t)sprintf(big + n, "\n1795363000 last@remote.test\n");
	write_state(big, n);
	T_EQ_INT(autoreply_once(box, "first@remote.test", NOW, WEEK), 1);
	T_EQ_INT(autoreply_once(box, "last@remote.test", NOW, WEEK), 0);
	s = read_state();
	T_EQ_STR(s, "1795363222 last@remote.test\n"
		    "1795363000 first@remote.test\n");
	free(s);
	free(big);
	close(box);
}

T_TEST(autoreply_once_many_senders)
{
	int box = open_box();
	char addr[64], *s, longaddr[AUTOREPLY_ADDR_MAX + 1];
	struct stat st;
	char path[512];

	for (int i = 0; i < AUTOREPLY_STATE_MAX + 100; i++) {
		snprintf(addr, sizeof(addr), "s%d@remote.test", i);
		T_EQ_INT(autoreply_once(box, addr, NOW + i, WEEK), 0);
	}
	s = read_state();
	T_EQ_SIZE(count_lines(s), AUTOREPLY_STATE_MAX);
	T_ASSERT(strncmp(s, "1795364321 s1099@remote.test\n", 29) == 0);
	T_ASSERT(strstr(s, " s100@remote.test\n") != NULL);
	T_ASSERT(strstr(s, " s99@remote.test\n") == NULL);
	free(s);
	/* The oldest were dropped: they are answered again. */
	T_EQ_INT(autoreply_once(box, "s0@remote.test", NOW + 2000, WEEK), 0);
	T_EQ_INT(autoreply_once(box, "s1099@remote.test", NOW + 2001, WEEK), 1);
	T_EQ_INT(autoreply_once(box, "s101@remote.test", NOW + 2002, WEEK), 1);
	/* Full of the longest addresses, the record still fits its cap. */
	memset(longaddr, 'a', sizeof(longaddr));
	for (int i = 0; i < AUTOREPLY_STATE_MAX + 5; i++) {
		snprintf(longaddr, sizeof(longaddr), "%06d", i);
		longaddr[6] = 'a';
		memcpy(longaddr + AUTOREPLY_ADDR_MAX - 12, "@remote.test", 13);
		T_EQ_INT(autoreply_once(box, longaddr, NOW + 3000 + i, WEEK),
			 0);
	}
	snprintf(path, sizeof(path), "%s/%s", t_tmpdir(), AUTOREPLY_STATE_FILE);
	T_EQ_INT(stat(path, &st), 0);
	T_ASSERT(st.st_size <= AUTOREPLY_STATE_BYTES);
	T_EQ_INT(autoreply_once(box, longaddr, NOW + 4100, WEEK), 1);
	memcpy(longaddr, "000005", 6);
	T_EQ_INT(autoreply_once(box, longaddr, NOW + 4101, WEEK), 1);
	close(box);
}

T_TEST(autoreply_once_not_a_file)
{
	int box = open_box();
	char path[512], target[512], *s;

	/* A symbolic link is not followed, and is replaced. */
	snprintf(path, sizeof(path), "%s/%s", t_tmpdir(), AUTOREPLY_STATE_FILE);
	snprintf(target, sizeof(target), "%s/target", t_tmpdir());
	t_mail_write_file(target, "1795363000 alice@remote.test\n", 29);
	T_EQ_INT(symlink(target, path), 0);
	T_EQ_INT(autoreply_once(box, "alice@remote.test", NOW, WEEK), 0);
	s = read_state();
	T_EQ_STR(s, "1795363222 alice@remote.test\n");
	free(s);
	struct stat st;
	T_EQ_INT(lstat(path, &st), 0);
	T_ASSERT(S_ISREG(st.st_mode));
	/* A FIFO does not hang the reader. */
	T_EQ_INT(unlink(path), 0);
	T_EQ_INT(mkfifo(path, 0600), 0);
	T_EQ_INT(autoreply_once(box, "alice@remote.test", NOW, WEEK), 0);
	T_EQ_INT(lstat(path, &st), 0);
	T_ASSERT(S_ISREG(st.st_mode));
	/* A directory in its place: an I/O error, no answer. */
	T_EQ_INT(unlink(path), 0);
	T_EQ_INT(mkdir(path, 0700), 0);
	T_EQ_INT(autoreply_once(box, "alice@remote.test", NOW, WEEK), -1);
	close(box);
}

T_TEST(autoreply_once_errors)
{
	int box = open_box();
	char longaddr[AUTOREPLY_ADDR_MAX + 2];

	errno = 0;
	T_EQ_INT(autoreply_once(box, "", NOW, WEEK), -1);
	T_EQ_INT(errno, EINVAL);
	T_EQ_INT(autoreply_once(box, NULL, NOW, WEEK), -1);
	T_EQ_INT(autoreply_once(box, "a b@remote.test", NOW, WEEK), -1);
	T_EQ_INT(autoreply_once(box, "a\n1 b@remote.test", NOW, WEEK), -1);
	T_EQ_INT(autoreply_once(box, "j\xc3\xb6rg@remote.test", NOW, WEEK), -1);
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	T_EQ_INT(autoreply_once(box, longaddr, NOW, WEEK), -1);
	T_EQ_INT(errno, EINVAL);
	T_ASSERT(read_state() == NULL);
	errno = 0;
	T_EQ_INT(autoreply_once(-1, "alice@remote.test", NOW, WEEK), -1);
	T_EQ_INT(errno, EBADF);
	close(box);
}

T_TEST(autoreply_timeout_hours)
{
	T_EQ_INT(autoreply_timeout(-1), 168 * 3600);
	T_EQ_INT(autoreply_timeout(-7), 168 * 3600);
	T_EQ_INT(autoreply_timeout(0), 0);
	T_EQ_INT(autoreply_timeout(2), 7200);
	T_EQ_INT(autoreply_timeout(INT64_MAX),
		 (long long)AUTOREPLY_MAX_HOURS * 3600);
}

/* ---- generalized time ---- */

T_TEST(autoreply_gentime)
{
	static const struct {
		const char *s;
		long long t;
	} t[] = {
		{ "19700101000000Z", 0 },
		{ "20261122160022Z", NOW },
		{ "20261122160022", NOW },
		{ "20261122160022.123Z", NOW },
		{ "20261122160022,9", NOW },
		{ "202611221600Z", NOW - 22 },
		{ "2026112216Z", NOW - 22 },
		{ "2026112216.5Z", NOW - 22 },
		{ "20261122Z", 1795305600 },
		{ "20261122", 1795305600 },
		{ "20261122170022+0100", NOW },
		{ "20261122150022-01", NOW },
		{ "20261122153022-0030", NOW },
		{ "20240229000000Z", 1709164800 },
		{ "20000229Z", 951782400 },
		{ "20261122235960Z", 1795305600 + 86400 },
		{ "99991231235959Z", 253402300799LL },
		{ "", -1 },
		{ "2026", -1 },
		{ "2026112", -1 },
		{ "202611221", -1 },
		{ "2026112216002Z", -1 },
		{ "20261122160022ZZ", -1 },
		{ "20261322Z", -1 },
		{ "20260022Z", -1 },
		{ "20261100Z", -1 },
		{ "20261131Z", -1 },
		{ "20230229Z", -1 },
		{ "21000229Z", -1 },
		{ "20261122240000Z", -1 },
		{ "20261122166000Z", -1 },
		{ "20261122160061Z", -1 },
		{ "19691231235959Z", -1 },
		{ "19700101000000+0100", -1 },
		{ "20261122160022+2400", -1 },
		{ "20261122160022+0160", -1 },
		{ "20261122160022+1", -1 },
		{ "20261122160022+01x", -1 },
		{ "20261122.5Z", -1 },
		{ "2026112216.Z", -1 },
		{ " 20261122Z", -1 },
		{ "20261122Z ", -1 },
		{ "2026-11-22", -1 },
		{ "+2026112216Z", -1 },
		{ "20261122160022123Z", -1 },
	};

	for (size_t i = 0; i < UTIL_ARRAY_LEN(t); i++) {
		long long got = (long long)autoreply_parse_gentime(t[i].s);
		if (got != t[i].t)
			t_fail(__FILE__, __LINE__, "\"%s\": %lld != %lld",
			       t[i].s, got, t[i].t);
	}
	T_EQ_INT(autoreply_parse_gentime(NULL), -1);
}
