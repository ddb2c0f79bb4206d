/*
 * A tiny unit-test harness: table-free, one function per test, assertions
 * that record file:line and return from the test.  main.c lists the suites;
 * the runner prints "ok - name" or "FAIL - name: why" per test and a final
 * "N passed, N failed".
 */
#ifndef CHAPAR_HARNESS_H
#define CHAPAR_HARNESS_H

#include <stddef.h>
#include <string.h>

extern int t_failed_now;
void t_fail(const char *file, int line, const char *what);
void t_run(const char *name, void (*fn)(void));
/* A scratch directory for this test run (removed at exit). */
const char *t_tmpdir(void);

#define T_ASSERT(c)                                                            \
	do {                                                                   \
		if (!(c)) {                                                    \
			t_fail(__FILE__, __LINE__, #c);                        \
			return;                                                \
		}                                                              \
	} while (0)
#define T_EQ_INT(a, b)                                                         \
	do {                                                                   \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);        \
		if (t_a_ != t_b_) {                                            \
			t_failf(__FILE__, __LINE__, "%s == %s (%lld != %lld)", \
			    #a, #b, t_a_, t_b_);                               \
			return;                                                \
		}                                                              \
	} while (0)
#define T_EQ_STR(a, b)                                                         \
	do {                                                                   \
		const char *t_a_ = (a), *t_b_ = (b);                           \
		if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0) { \
			t_failf(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", \
			    #a, #b, t_a_ ? t_a_ : "(null)",                    \
			    t_b_ ? t_b_ : "(null)");                           \
			return;                                                \
		}                                                              \
	} while (0)
void t_failf(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A diagnostic line ("# ...") that does not fail the test. */
void t_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Suites register themselves, one or more per file:
 *	T_SUITE(suite_buf) { t_run("name", fn); ... }
 * main.c runs them sorted by name. */
void t_register(const char *name, void (*fn)(void));
#define T_SUITE(fn)                                                            \
	static void fn(void);                                                  \
	__attribute__((constructor)) static void fn##_register(void)          \
	{                                                                      \
		t_register(#fn, fn);                                           \
	}                                                                      \
	static void fn(void)

#endif
