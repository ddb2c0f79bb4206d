/*
 * The unit-test runner.  Usage: unit-tests [substring]
 */
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/log.h"
#include "chapar/util.h"
#include "harness.h"

int t_failed_now;
static int passed, failed;
static const char *filter;
static struct suite {
	const char *name;
	void (*fn)(void);
} suites[64];
static size_t nsuites;
static char tmpdir[] = "/tmp/chapar-unit.XXXXXX";
static int have_tmp;

void
t_fail(const char *file, int line, const char *what)
{
	t_failf(file, line, "%s", what);
}

void
t_failf(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	t_failed_now = 1;
	printf("#   %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

void
t_note(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void
t_register(const char *name, void (*fn)(void))
{
	if (nsuites == NELEM(suites)) {
		fprintf(stderr, "too many suites: raise the limit in main.c\n");
		exit(2);
	}
	suites[nsuites].name = name;
	suites[nsuites].fn = fn;
	nsuites++;
}

static int
suite_cmp(const void *a, const void *b)
{
	return strcmp(((const struct suite *)a)->name,
	    ((const struct suite *)b)->name);
}

void
t_run(const char *name, void (*fn)(void))
{
	if (filter != NULL && strstr(name, filter) == NULL)
		return;
	t_failed_now = 0;
	fflush(stdout);
	fn();
	if (t_failed_now) {
		failed++;
		printf("FAIL - %s\n", name);
	} else {
		passed++;
		printf("ok - %s\n", name);
	}
	fflush(stdout);
}

const char *
t_tmpdir(void)
{
	if (!have_tmp) {
		if (mkdtemp(tmpdir) == NULL)
			log_fatal("mkdtemp");
		have_tmp = 1;
	}
	return tmpdir;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	if (have_tmp &&
	    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

int
main(int argc, char **argv)
{
	pid_t me = getpid();
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	log_open("unit-tests", LOG_TO_STDERR);
	log_set_level(LOGL_ERROR);
	if (argc > 1)
		filter = argv[1];
	qsort(suites, nsuites, sizeof(suites[0]), suite_cmp);
	for (i = 0; i < nsuites; i++)
		suites[i].fn();
	if (getpid() == me)
		cleanup();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
