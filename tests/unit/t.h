/*
 * t: the unit-test harness. A test is a function declared with T_TEST(name)
 * in any tests/unit/test_*.c; it registers itself before main. A failed
 * assertion ends its test (not the runner) with file, line and expression.
 * The runner (t_main.c) takes test names or name prefixes as arguments,
 * prints "name ..... ok" or "name ..... FAILED: file:line: expr" per test
 * and ends with "unit: N passed, N failed".
 */
#ifndef VD_T_H
#define VD_T_H

#include <stddef.h>
#include <string.h>

struct t_case {
	const char *name;
	void (*fn)(void);
	const char *file;
	struct t_case *next;
};

void t_register(struct t_case *c);
void t_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
void t_skip(const char *reason) __attribute__((noreturn));
/* A scratch directory private to the running test (removed afterwards). */
const char *t_tmpdir(void);

#define T_TEST(name)                                                        \
	static void t_fn_##name(void);                                      \
	static struct t_case t_case_##name = { #name, t_fn_##name,          \
					       __FILE__, NULL };            \
	__attribute__((constructor)) static void t_reg_##name(void)         \
	{                                                                   \
		t_register(&t_case_##name);                                 \
	}                                                                   \
	static void t_fn_##name(void)

#define T_ASSERT(c)                                                         \
	do {                                                                \
		if (!(c))                                                   \
			t_fail(__FILE__, __LINE__, "%s", #c);               \
	} while (0)

#define T_EQ_INT(a, b)                                                      \
	do {                                                                \
		long long t_a = (long long)(a), t_b = (long long)(b);       \
		if (t_a != t_b)                                             \
			t_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", \
			       #a, #b, t_a, t_b);                           \
	} while (0)

#define T_EQ_SIZE(a, b) T_EQ_INT(a, b)

#define T_EQ_STR(a, b)                                                      \
	do {                                                                \
		const char *t_a = (a), *t_b = (b);                          \
		if (strcmp(t_a, t_b) != 0)                                  \
			t_fail(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", \
			       #a, #b, t_a, t_b);                           \
	} while (0)

void t_eq_mem(const char *file, int line, const char *what, const void *a,
	      size_t alen, const void *b, size_t blen);
#define T_EQ_MEM(a, alen, b, blen)                                          \
	t_eq_mem(__FILE__, __LINE__, #a " == " #b, a, alen, b, blen)

#define T_SKIP(reason) t_skip(reason)

#endif
