#include "tests/unit/t.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct t_case *t_cases;
static jmp_buf t_jump;
static char t_msg[1024];
static char t_dir[256];
static int t_skipped;

void
t_register(struct t_case *c)
{
	c->next = t_cases;
	t_cases = c;
}

void
t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(t_msg, sizeof(t_msg), "%s:%d: ", file, line);

	va_start(ap, fmt);
	vsnprintf(t_msg + n, sizeof(t_msg) - (size_t)n, fmt, ap);
	va_end(ap);
	longjmp(t_jump, 1);
}

void
t_skip(const char *reason)
{
	snprintf(t_msg, sizeof(t_msg), "%s", reason);
	t_skipped = 1;
	longjmp(t_jump, 1);
}

void
t_eq_mem(const char *file, int line, const char *what, const void *a,
	 size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	char hx[200] = "", hy[200] = "";

	if (alen == blen && memcmp(a, b, alen) == 0)
		return;
	for (size_t i = 0; i < alen && i < 64; i++)
		snprintf(hx + 3 * i, 4, "%02x ", x[i]);
	for (size_t i = 0; i < blen && i < 64; i++)
		snprintf(hy + 3 * i, 4, "%02x ", y[i]);
	t_fail(file, line, "%s (len %zu vs %zu)\n    got:  %s\n    want: %s",
	       what, alen, blen, hx, hy);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

const char *
t_tmpdir(void)
{
	if (t_dir[0] == '\0') {
		snprintf(t_dir, sizeof(t_dir), "/tmp/vdmail-unit-XXXXXX");
		if (mkdtemp(t_dir) == NULL)
			t_fail(__FILE__, __LINE__, "mkdtemp");
	}
	return t_dir;
}

static int
cmp_case(const void *a, const void *b)
{
	const struct t_case *x = *(const struct t_case *const *)a;
	const struct t_case *y = *(const struct t_case *const *)b;
	int c = strcmp(x->file, y->file);

	return c ? c : strcmp(x->name, y->name);
}

static int
selected(const struct t_case *c, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strncmp(c->name, argv[i], strlen(argv[i])) == 0)
			return 1;
	return 0;
}

/* 0 passed, 1 failed, 2 skipped; setjmp kept away from main's locals. */
static int
run_one(struct t_case *c)
{
	t_skipped = 0;
	t_dir[0] = '\0';
	if (setjmp(t_jump) == 0) {
		c->fn();
		return 0;
	}
	return t_skipped ? 2 : 1;
}

int
main(int argc, char **argv)
{
	struct t_case **all;
	size_t n = 0, i;
	int passed = 0, failed = 0, skipped = 0;

	for (struct t_case *c = t_cases; c; c = c->next)
		n++;
	all = calloc(n ? n : 1, sizeof(*all));
	i = 0;
	for (struct t_case *c = t_cases; c; c = c->next)
		all[i++] = c;
	qsort(all, n, sizeof(*all), cmp_case);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < n; i++) {
		struct t_case *c = all[i];
		if (!selected(c, argc, argv))
			continue;
		printf("%s %.*s ", c->name,
		       (int)(40 > strlen(c->name) ? 40 - strlen(c->name) : 1),
		       "........................................");
		switch (run_one(c)) {
		case 0:
			printf("ok\n");
			passed++;
			break;
		case 2:
			printf("skipped: %s\n", t_msg);
			skipped++;
			break;
		default:
			printf("FAILED: %s\n", t_msg);
			failed++;
			break;
		}
		if (t_dir[0] != '\0')
			nftw(t_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	free(all);
	if (skipped)
		printf("unit: %d passed, %d failed, %d skipped\n", passed,
		       failed, skipped);
	else
		printf("unit: %d passed, %d failed\n", passed, failed);
	return failed || passed + failed == 0 ? 1 : 0;
}
