/*
 * Unit tests: the dict interface on Berkeley DB (dict_bdb.c).  Each test
 * uses its own environment under t_tmpdir().  The tests with several
 * processes fork children that open their own handles; every child has an
 * alarm() and every such test one in the parent, so a hang fails the test
 * instead of stopping the run.  <db.h> is used only to panic an
 * environment from outside.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <db.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chapar/buf.h"
#include "chapar/dict.h"
#include "chapar/util.h"
#include "harness.h"

#define DBNAME "t.db"

/* ---- helpers --------------------------------------------------------- */

static char dirs[16][256];
static int ndirs;

/* A fresh environment directory for one test. */
static const char *
tdir(const char *name)
{
	char *d = dirs[ndirs++ % 16];

	if (xsnprintf(d, sizeof(dirs[0]), "%s/%s", t_tmpdir(), name) == -1)
		abort();
	return d;
}

static int
open_both(const char *dir, struct dict_env **e, struct dict **d)
{
	struct buf err;
	int rv = 0;

	buf_init(&err, 4096);
	if (dict_env_open(dir, 1, e, &err) != 0)
		rv = -1;
	else if (dict_open(*e, DBNAME, 1, d, &err) != DICT_OK) {
		dict_env_close(e);
		rv = -1;
	}
	if (rv == -1)
		fprintf(stderr, "open %s: %s\n", dir, buf_cstr(&err));
	buf_free(&err);
	return rv;
}

static void
close_both(struct dict_env **e, struct dict **d)
{
	dict_close(d);
	dict_env_close(e);
}

/* A missing counter reads as 0. */
static int
get_u64(struct dict *d, struct dict_txn *t, const char *key, uint64_t *v)
{
	struct buf b;
	int rv;

	buf_init(&b, 64);
	rv = dict_get(d, t, sv_from(key), &b);
	if (rv == DICT_NOTFOUND) {
		*v = 0;
		rv = DICT_OK;
	} else if (rv == DICT_OK &&
	    parse_u64(buf_sv(&b), UINT64_MAX, v) == -1)
		rv = DICT_ERROR;
	buf_free(&b);
	return rv;
}

static int
put_u64(struct dict *d, struct dict_txn *t, const char *key, uint64_t v)
{
	char s[32];

	if (xsnprintf(s, sizeof(s), "%llu", (unsigned long long)v) == -1)
		return DICT_ERROR;
	return dict_put(d, t, sv_from(key), sv_from(s), 0);
}

static int
get_str(struct dict *d, const char *key, struct buf *b)
{
	return dict_get(d, NULL, sv_from(key), b);
}

static int
count_fn(struct sv k, struct sv v, void *arg)
{
	(void)k;
	(void)v;
	(*(int *)arg)++;
	return 0;
}

static int
count_prefix(struct dict *d, const char *prefix)
{
	int n = 0;

	if (dict_scan(d, NULL, sv_from(prefix), count_fn, &n) != DICT_OK)
		return -1;
	return n;
}

/* Children: each gets an alarm; a failed check exits non-zero. */
static pid_t kids[8];
static int nkids;

#define C_CHECK(c)                                                             \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "child %ld: %s:%d: %s\n",              \
			    (long)getpid(), __FILE__, __LINE__, #c);           \
			exit(3);                                               \
		}                                                              \
	} while (0)

static pid_t
spawn(int (*fn)(void *), void *arg, unsigned int secs)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		alarm(secs);
		/* exit(), not _exit(): LeakSanitizer checks children too. */
		exit(fn(arg));
	}
	if (nkids < (int)NELEM(kids))
		kids[nkids++] = pid;
	return pid;
}

/* Wait for a child; its exit status, 128 + signal, or -1. */
static int
reap(pid_t pid)
{
	int i, st;

	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	for (i = 0; i < nkids; i++)
		if (kids[i] == pid)
			kids[i] = kids[--nkids];
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

/* After a test, whatever happened in it. */
static void
kill_kids(void)
{
	while (nkids > 0) {
		(void)kill(kids[0], SIGKILL);
		(void)reap(kids[0]);
	}
}

static int
read_byte(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	unsigned char c;

	if (poll(&p, 1, ms) != 1 || read(fd, &c, 1) != 1)
		return -1;
	return c;
}

static void
put_byte(int fd, int c)
{
	unsigned char b = (unsigned char)c;

	if (write(fd, &b, 1) != 1)
		exit(4);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

#define GUARDED(name, secs)                                                    \
	static void name##_guarded(void)                                       \
	{                                                                      \
		alarm(secs);                                                   \
		name();                                                        \
		alarm(0);                                                      \
		kill_kids();                                                   \
	}

/* ---- single process ---------------------------------------------------- */

static void
basic_ops(void)
{
	struct dict_env *e;
	struct dict *d;
	struct buf v;

	T_ASSERT(open_both(tdir("basic"), &e, &d) == 0);
	buf_init(&v, 0);
	T_EQ_INT(get_str(d, "nope", &v), DICT_NOTFOUND);
	T_EQ_INT(dict_put(d, NULL, SV_LIT("k1"), SV_LIT("one"), 0), DICT_OK);
	T_EQ_INT(get_str(d, "k1", &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "one");
	T_EQ_INT(dict_put(d, NULL, SV_LIT("k1"), SV_LIT("uno"), DICT_NEW),
	    DICT_EXISTS);
	T_EQ_INT(get_str(d, "k1", &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "one");
	T_EQ_INT(dict_put(d, NULL, SV_LIT("k1"), SV_LIT("1"), 0), DICT_OK);
	T_EQ_INT(get_str(d, "k1", &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "1");
	T_EQ_INT(dict_put(d, NULL, SV_LIT("k2"), SV_LIT(""), DICT_NEW),
	    DICT_OK);
	T_EQ_INT(get_str(d, "k2", &v), DICT_OK);
	T_EQ_INT(v.len, 0);
	T_EQ_INT(dict_del(d, NULL, SV_LIT("k1")), DICT_OK);
	T_EQ_INT(dict_del(d, NULL, SV_LIT("k1")), DICT_NOTFOUND);
	T_EQ_INT(get_str(d, "k1", &v), DICT_NOTFOUND);
	T_EQ_INT(v.len, 0);
	T_EQ_INT(dict_put(d, NULL, SV_LIT("k3"), SV_LIT("x"), 0x40),
	    DICT_ERROR);
	buf_free(&v);
	close_both(&e, &d);
	T_ASSERT(e == NULL && d == NULL);
	dict_env_close(&e);	/* a second close is a no-op */
}

static void
binary_keys(void)
{
	struct dict_env *e;
	struct dict *d;
	struct buf v;
	const char k1[] = "a\0b", k2[] = "a\0c", val[] = "\0\0x\0";

	T_ASSERT(open_both(tdir("binary"), &e, &d) == 0);
	buf_init(&v, 0);
	T_EQ_INT(dict_put(d, NULL, sv_make(k1, 3), sv_make(val, 4), 0),
	    DICT_OK);
	T_EQ_INT(dict_put(d, NULL, sv_make(k2, 3), SV_LIT("c"), 0), DICT_OK);
	T_EQ_INT(dict_put(d, NULL, SV_LIT("a"), SV_LIT("short"), 0), DICT_OK);
	T_EQ_INT(dict_get(d, NULL, sv_make(k1, 3), &v), DICT_OK);
	T_EQ_INT(v.len, 4);
	T_ASSERT(memcmp(v.data, val, 4) == 0);
	T_EQ_INT(dict_get(d, NULL, sv_make(k2, 3), &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "c");
	T_EQ_INT(dict_get(d, NULL, SV_LIT("a"), &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "short");
	T_EQ_INT(dict_get(d, NULL, sv_make(k1, 2), &v), DICT_NOTFOUND);
	T_EQ_INT(count_prefix(d, ""), 3);
	{
		int n = 0;

		T_EQ_INT(dict_scan(d, NULL, sv_make(k1, 2), count_fn, &n),
		    DICT_OK);
		T_EQ_INT(n, 2);
	}
	buf_free(&v);
	close_both(&e, &d);
}

struct collect {
	struct buf keys;	/* "key=value;" ... */
	int stop_after;
};

static int
collect_fn(struct sv k, struct sv v, void *arg)
{
	struct collect *c = arg;

	buf_append_sv(&c->keys, k);
	buf_putc(&c->keys, '=');
	buf_append_sv(&c->keys, v);
	buf_putc(&c->keys, ';');
	if (c->stop_after > 0 && --c->stop_after == 0)
		return 7;
	return 0;
}

struct scan_in_txn {
	struct dict *d;
	struct collect c;
};

static int
scan_txn_fn(struct dict_txn *t, void *arg)
{
	struct scan_in_txn *s = arg;
	int rv;

	buf_reset(&s->c.keys);
	if ((rv = dict_put(s->d, t, SV_LIT("user:alice:3"), SV_LIT("t"),
	    0)) != DICT_OK)
		return rv;
	/* The transaction sees its own write. */
	rv = dict_scan(s->d, t, SV_LIT("user:alice:"), collect_fn, &s->c);
	return rv == DICT_OK ? 99 : rv;	/* roll back */
}

static void
scan_prefix(void)
{
	struct dict_env *e;
	struct dict *d;
	struct collect c;
	struct scan_in_txn s;
	struct buf err;
	const char *keys[] = { "user:alice:1", "user:alice:2",
	    "user:alicia:9", "user:alic", "user:alb:0", "zz" };
	size_t i;

	T_ASSERT(open_both(tdir("scan"), &e, &d) == 0);
	for (i = 0; i < NELEM(keys); i++)
		T_EQ_INT(dict_put(d, NULL, sv_from(keys[i]), sv_make("v", 1),
		    0), DICT_OK);
	buf_init(&c.keys, 0);
	c.stop_after = 0;
	T_EQ_INT(dict_scan(d, NULL, SV_LIT("user:alice:"), collect_fn, &c),
	    DICT_OK);
	T_EQ_STR(buf_cstr(&c.keys), "user:alice:1=v;user:alice:2=v;");
	buf_reset(&c.keys);
	c.stop_after = 1;
	T_EQ_INT(dict_scan(d, NULL, SV_LIT("user:alice:"), collect_fn, &c), 7);
	T_EQ_STR(buf_cstr(&c.keys), "user:alice:1=v;");
	buf_reset(&c.keys);
	c.stop_after = 0;
	T_EQ_INT(dict_scan(d, NULL, SV_LIT("user:b"), collect_fn, &c),
	    DICT_OK);
	T_EQ_INT(c.keys.len, 0);
	T_EQ_INT(dict_scan(d, NULL, SV_LIT("zzz"), collect_fn, &c), DICT_OK);
	T_EQ_INT(c.keys.len, 0);
	T_EQ_INT(count_prefix(d, ""), (int)NELEM(keys));
	buf_free(&c.keys);

	s.d = d;
	buf_init(&s.c.keys, 0);
	s.c.stop_after = 0;
	buf_init(&err, 1024);
	T_EQ_INT(dict_txn_run(e, scan_txn_fn, &s, &err), 99);
	T_EQ_STR(buf_cstr(&s.c.keys),
	    "user:alice:1=v;user:alice:2=v;user:alice:3=t;");
	T_EQ_INT(count_prefix(d, "user:alice:"), 2);
	buf_free(&s.c.keys);
	buf_free(&err);
	close_both(&e, &d);
}

struct two_puts {
	struct dict *d;
	int result;
	int calls;
};

static int
two_puts_fn(struct dict_txn *t, void *arg)
{
	struct two_puts *p = arg;
	int rv;

	p->calls++;
	if ((rv = dict_put(p->d, t, SV_LIT("r1"), SV_LIT("x"), 0)) != DICT_OK ||
	    (rv = dict_put(p->d, t, SV_LIT("r2"), SV_LIT("y"), 0)) != DICT_OK ||
	    (rv = dict_del(p->d, t, SV_LIT("keep"))) != DICT_OK)
		return rv;
	return p->result;
}

static void
txn_rollback(void)
{
	struct dict_env *e;
	struct dict *d;
	struct buf v, err;
	struct two_puts p;

	T_ASSERT(open_both(tdir("rollback"), &e, &d) == 0);
	buf_init(&v, 0);
	buf_init(&err, 1024);
	T_EQ_INT(dict_put(d, NULL, SV_LIT("keep"), SV_LIT("k"), 0), DICT_OK);
	p.d = d;
	p.calls = 0;
	p.result = DICT_ERROR;
	T_EQ_INT(dict_txn_run(e, two_puts_fn, &p, &err), DICT_ERROR);
	T_EQ_INT(p.calls, 1);
	p.result = 42;
	T_EQ_INT(dict_txn_run(e, two_puts_fn, &p, &err), 42);
	T_EQ_INT(get_str(d, "r1", &v), DICT_NOTFOUND);
	T_EQ_INT(get_str(d, "r2", &v), DICT_NOTFOUND);
	T_EQ_INT(get_str(d, "keep", &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "k");
	p.result = DICT_OK;
	T_EQ_INT(dict_txn_run(e, two_puts_fn, &p, &err), DICT_OK);
	T_EQ_INT(get_str(d, "r2", &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "y");
	T_EQ_INT(get_str(d, "keep", &v), DICT_NOTFOUND);
	buf_free(&v);
	buf_free(&err);
	close_both(&e, &d);
}

struct misuse {
	struct dict_env *e;
	struct dict *d;
	int calls;
	int nested, plain;
	struct dict_txn *saved;
};

static int
noop_fn(struct dict_txn *t, void *arg)
{
	(void)t;
	(void)arg;
	return DICT_OK;
}

/* Asks for two retries, then checks what may not be done inside. */
static int
misuse_fn(struct dict_txn *t, void *arg)
{
	struct misuse *m = arg;
	struct buf v, err;

	if (++m->calls < 3)
		return DICT_RETRY;
	buf_init(&v, 0);
	buf_init(&err, 1024);
	m->nested = dict_txn_run(m->e, noop_fn, NULL, &err);
	m->plain = dict_get(m->d, NULL, SV_LIT("x"), &v);
	m->saved = t;
	buf_free(&v);
	buf_free(&err);
	return dict_put(m->d, t, SV_LIT("after-retries"), SV_LIT("3"), 0);
}

static void
txn_retry_and_misuse(void)
{
	struct misuse m;
	struct buf v, err;

	memset(&m, 0, sizeof(m));
	T_ASSERT(open_both(tdir("misuse"), &m.e, &m.d) == 0);
	buf_init(&v, 0);
	buf_init(&err, 1024);
	T_EQ_INT(dict_txn_run(m.e, misuse_fn, &m, &err), DICT_OK);
	T_EQ_INT(m.calls, 3);
	T_EQ_INT(m.nested, DICT_ERROR);
	T_EQ_INT(m.plain, DICT_ERROR);
	/* A transaction handle dies with its dict_txn_run. */
	T_EQ_INT(dict_put(m.d, m.saved, SV_LIT("late"), SV_LIT("x"), 0),
	    DICT_ERROR);
	T_EQ_INT(get_str(m.d, "late", &v), DICT_NOTFOUND);
	T_EQ_INT(get_str(m.d, "after-retries", &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "3");
	buf_free(&v);
	buf_free(&err);
	close_both(&m.e, &m.d);
}

static void
value_over_limit(void)
{
	struct dict_env *e;
	struct dict *d;
	struct buf small;
	char big[100];

	memset(big, 'b', sizeof(big));
	T_ASSERT(open_both(tdir("limit"), &e, &d) == 0);
	T_EQ_INT(dict_put(d, NULL, SV_LIT("big"), sv_make(big, sizeof(big)),
	    0), DICT_OK);
	buf_init(&small, 99);
	T_ASSERT(buf_try_puts(&small, "old") == 0);
	T_EQ_INT(get_str(d, "big", &small), DICT_ERROR);
	T_EQ_INT(small.len, 0);
	buf_free(&small);
	buf_init(&small, 100);
	T_EQ_INT(get_str(d, "big", &small), DICT_OK);
	T_EQ_INT(small.len, 100);
	T_ASSERT(memcmp(small.data, big, 100) == 0);
	buf_free(&small);
	close_both(&e, &d);
}

static void
reopen_keeps_data(void)
{
	const char *dir = tdir("reopen");
	struct dict_env *e;
	struct dict *d;
	struct buf v, err;
	struct stat st;
	char path[512];

	T_ASSERT(open_both(dir, &e, &d) == 0);
	T_EQ_INT(dict_put(d, NULL, SV_LIT("durable"), SV_LIT("yes"), 0),
	    DICT_OK);
	close_both(&e, &d);
	buf_init(&v, 0);
	buf_init(&err, 1024);
	T_EQ_INT(dict_env_open(dir, 0, &e, &err), 0);
	T_EQ_INT(dict_open(e, "other.db", 0, &d, &err), DICT_NOTFOUND);
	T_ASSERT(d == NULL);
	T_EQ_INT(dict_open(e, "../t.db", 1, &d, &err), DICT_ERROR);
	T_EQ_INT(dict_open(e, DBNAME, 0, &d, &err), DICT_OK);
	T_EQ_INT(get_str(d, "durable", &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "yes");
	/* Closing the environment first leaves d allocated but dead. */
	dict_env_close(&e);
	T_EQ_INT(get_str(d, "durable", &v), DICT_ERROR);
	dict_close(&d);
	/* Nobody else may read the files. */
	T_ASSERT(stat(dir, &st) == 0);
	T_EQ_INT(st.st_mode & 0777, 0700);
	T_ASSERT(xsnprintf(path, sizeof(path), "%s/%s", dir, DBNAME) == 0);
	T_ASSERT(stat(path, &st) == 0);
	T_EQ_INT(st.st_mode & 0077, 0);
	T_ASSERT(xsnprintf(path, sizeof(path), "%s/log.0000000001",
	    dir) == 0);
	T_ASSERT(stat(path, &st) == 0);
	T_EQ_INT(st.st_mode & 0077, 0);
	T_EQ_INT(dict_env_open(tdir("no/such/dir"), 0, &e, &err), -1);
	T_ASSERT(e == NULL && err.len > 0);
	/* a long directory (a user's home) in the message: cut, where it
	 * once passed the message's 1 KB and ended the process */
	{
		struct buf longdir;
		int i;

		buf_init(&longdir, 0);
		buf_puts(&longdir, tdir("no/such/dir"));
		for (i = 0; i < 300; i++)
			buf_puts(&longdir, "/sub");
		T_EQ_INT(dict_env_open(buf_cstr(&longdir), 0, &e, &err), -1);
		T_ASSERT(e == NULL && err.len > 0);
		T_ASSERT(strcmp(buf_cstr(&err) + err.len - 3, "...") == 0);
		buf_free(&longdir);
	}
	buf_free(&v);
	buf_free(&err);
}

/* ---- several processes -------------------------------------------------- */

/* Put a key of its own and increment the shared counter: every pair of
 * these transactions conflicts on "counter". */
struct incr {
	struct dict *d;
	const char *tag;	/* NULL: counter only */
	int i;
	int calls;
	int notify_fd;		/* write 'w' before the first try, or -1 */
};

static int
incr_fn(struct dict_txn *t, void *arg)
{
	struct incr *w = arg;
	char key[64];
	uint64_t n;
	int rv;

	if (w->calls++ == 0 && w->notify_fd != -1)
		put_byte(w->notify_fd, 'w');
	if (w->tag != NULL) {
		if (xsnprintf(key, sizeof(key), "%s:%04d", w->tag, w->i) == -1)
			return DICT_ERROR;
		if ((rv = dict_put(w->d, t, sv_from(key), SV_LIT("v"),
		    DICT_NEW)) != DICT_OK)
			return rv;
	}
	if ((rv = get_u64(w->d, t, "counter", &n)) != DICT_OK)
		return rv;
	/* Now and then hold the read lock a while, so that both writers
	 * read "counter" and then both want to write it. */
	if (w->tag != NULL && w->i % 8 == 0)
		sleep_ms(1);
	return put_u64(w->d, t, "counter", n + 1);
}

struct writer {
	const char *dir;
	const char *tag;
	int n;
	int report_fd;		/* gets the number of retries */
};

static int
writer_child(void *arg)
{
	struct writer *a = arg;
	struct dict_env *e;
	struct dict *d;
	struct incr w;
	struct buf err;
	int rv;

	C_CHECK(open_both(a->dir, &e, &d) == 0);
	buf_init(&err, 1024);
	memset(&w, 0, sizeof(w));
	w.d = d;
	w.tag = a->tag;
	w.notify_fd = -1;
	for (w.i = 0; w.i < a->n; w.i++)
		if ((rv = dict_txn_run(e, incr_fn, &w, &err)) != DICT_OK) {
			fprintf(stderr, "%s %d: %d %s\n", a->tag, w.i, rv,
			    buf_cstr(&err));
			return 2;
		}
	rv = w.calls - a->n;
	if (write(a->report_fd, &rv, sizeof(rv)) != sizeof(rv))
		return 4;
	buf_free(&err);
	close_both(&e, &d);
	return 0;
}

#define NWRITE 300

static void
two_writers(void)
{
	const char *dir = tdir("writers");
	struct writer wa = { dir, "A", NWRITE, -1 }, wb = { dir, "B", NWRITE,
	    -1 };
	struct dict_env *e;
	struct dict *d;
	uint64_t n, t0;
	int p[2], ra = -1, rb = -1;
	pid_t a, b;

	/* Created first so that the children do not race to create it. */
	T_ASSERT(open_both(dir, &e, &d) == 0);
	close_both(&e, &d);
	T_ASSERT(pipe(p) == 0);
	wa.report_fd = wb.report_fd = p[1];
	t0 = now_ms();
	T_ASSERT((a = spawn(writer_child, &wa, 40)) > 0);
	T_ASSERT((b = spawn(writer_child, &wb, 40)) > 0);
	T_EQ_INT(reap(a), 0);
	T_EQ_INT(reap(b), 0);
	T_ASSERT(read(p[0], &ra, sizeof(ra)) == sizeof(ra));
	T_ASSERT(read(p[0], &rb, sizeof(rb)) == sizeof(rb));
	close(p[0]);
	close(p[1]);
	printf("# dict: 2 x %d contended transactions in %llu ms, %d "
	    "retries\n", NWRITE, (unsigned long long)(now_ms() - t0),
	    ra + rb);
	T_ASSERT(ra + rb > 0);	/* they did get in each other's way */
	T_ASSERT(open_both(dir, &e, &d) == 0);
	T_EQ_INT(count_prefix(d, "A:"), NWRITE);
	T_EQ_INT(count_prefix(d, "B:"), NWRITE);
	T_EQ_INT(get_u64(d, NULL, "counter", &n), DICT_OK);
	T_EQ_INT(n, 2 * NWRITE);
	close_both(&e, &d);
}

/* Child A: put two keys in a transaction, say so, and wait to be killed
 * while holding their write locks. */
struct holder {
	const char *dir;
	struct dict *d;
	int fd;
};

static int
hold_fn(struct dict_txn *t, void *arg)
{
	struct holder *h = arg;
	int rv;

	if ((rv = dict_put(h->d, t, SV_LIT("a-uncommitted"), SV_LIT("x"),
	    0)) != DICT_OK || (rv = put_u64(h->d, t, "counter", 999)) !=
	    DICT_OK)
		return rv;
	put_byte(h->fd, 'h');
	for (;;)
		pause();
}

static int
holder_child(void *arg)
{
	struct holder *h = arg;
	struct dict_env *e;
	struct buf err;

	C_CHECK(open_both(h->dir, &e, &h->d) == 0);
	buf_init(&err, 1024);
	(void)dict_txn_run(e, hold_fn, h, &err);
	return 5;	/* not reached */
}

/* Child B: n increments of "counter"; reports how often its first
 * transaction ran (1 = it never met a lock). */
struct updater {
	const char *dir;
	int n;
	int notify_fd;
	int report_fd;
};

static int
updater_child(void *arg)
{
	struct updater *u = arg;
	struct dict_env *e;
	struct dict *d;
	struct incr w;
	struct buf err, v;
	int i, first = 0;

	C_CHECK(open_both(u->dir, &e, &d) == 0);
	buf_init(&err, 1024);
	buf_init(&v, 0);
	memset(&w, 0, sizeof(w));
	w.d = d;
	w.notify_fd = u->notify_fd;
	for (i = 0; i < u->n; i++) {
		C_CHECK(dict_txn_run(e, incr_fn, &w, &err) == DICT_OK);
		if (i == 0)
			first = w.calls;
		w.notify_fd = -1;
	}
	C_CHECK(get_str(d, "a-uncommitted", &v) == DICT_NOTFOUND);
	C_CHECK(get_str(d, "committed", &v) == DICT_OK);
	put_byte(u->report_fd, first > 255 ? 255 : first);
	buf_free(&v);
	buf_free(&err);
	close_both(&e, &d);
	return 0;
}

static int
seed(const char *dir)
{
	struct dict_env *e;
	struct dict *d;
	int rv;

	if (open_both(dir, &e, &d) == -1)
		return -1;
	rv = dict_put(d, NULL, SV_LIT("committed"), SV_LIT("yes"), 0);
	if (rv == DICT_OK)
		rv = put_u64(d, NULL, "counter", 5);
	close_both(&e, &d);
	return rv == DICT_OK ? 0 : -1;
}

static void
check_after(const char *dir, uint64_t want)
{
	struct dict_env *e;
	struct dict *d;
	struct buf v;
	uint64_t n;

	buf_init(&v, 0);
	T_ASSERT(open_both(dir, &e, &d) == 0);
	T_EQ_INT(get_u64(d, NULL, "counter", &n), DICT_OK);
	T_EQ_INT(n, want);
	T_EQ_INT(get_str(d, "a-uncommitted", &v), DICT_NOTFOUND);
	T_EQ_INT(get_str(d, "committed", &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "yes");
	buf_free(&v);
	close_both(&e, &d);
}

/* (b) A is killed inside its transaction; B starts afterwards. */
static void
kill9_then_new_process(void)
{
	const char *dir = tdir("kill9-new");
	struct holder h = { dir, NULL, -1 };
	struct updater u = { dir, 10, -1, -1 };
	int pa[2], pr[2], first;
	uint64_t t0, ms;
	pid_t a, b;

	T_ASSERT(seed(dir) == 0);
	T_ASSERT(pipe(pa) == 0 && pipe(pr) == 0);
	h.fd = pa[1];
	u.report_fd = pr[1];
	T_ASSERT((a = spawn(holder_child, &h, 30)) > 0);
	T_EQ_INT(read_byte(pa[0], 10000), 'h');
	T_ASSERT(kill(a, SIGKILL) == 0);
	T_EQ_INT(reap(a), 128 + SIGKILL);
	t0 = now_ms();
	T_ASSERT((b = spawn(updater_child, &u, 25)) > 0);
	T_EQ_INT(reap(b), 0);
	ms = now_ms() - t0;
	first = read_byte(pr[0], 0);
	printf("# dict: new process after kill -9: %llu ms, first "
	    "transaction ran %d time(s)\n", (unsigned long long)ms, first);
	T_ASSERT(ms < 30000);
	T_ASSERT(first >= 1);
	check_after(dir, 15);
	close(pa[0]);
	close(pa[1]);
	close(pr[0]);
	close(pr[1]);
}

/* (c) B is already in the environment and waiting for A's lock when A is
 * killed. */
static void
kill9_survivor(void)
{
	const char *dir = tdir("kill9-survivor");
	struct holder h = { dir, NULL, -1 };
	struct updater u = { dir, 10, -1, -1 };
	int pa[2], pb[2], pr[2], first;
	uint64_t t0, ms;
	pid_t a, b;

	T_ASSERT(seed(dir) == 0);
	T_ASSERT(pipe(pa) == 0 && pipe(pb) == 0 && pipe(pr) == 0);
	h.fd = pa[1];
	u.notify_fd = pb[1];
	u.report_fd = pr[1];
	T_ASSERT((a = spawn(holder_child, &h, 30)) > 0);
	T_EQ_INT(read_byte(pa[0], 10000), 'h');
	T_ASSERT((b = spawn(updater_child, &u, 25)) > 0);
	T_EQ_INT(read_byte(pb[0], 10000), 'w');
	/* Let B run into A's locks a few times. */
	sleep_ms(300);
	T_ASSERT(kill(a, SIGKILL) == 0);
	T_EQ_INT(reap(a), 128 + SIGKILL);
	t0 = now_ms();
	T_EQ_INT(reap(b), 0);
	ms = now_ms() - t0;
	first = read_byte(pr[0], 0);
	printf("# dict: survivor after kill -9: done %llu ms after the kill, "
	    "first transaction ran %d times\n", (unsigned long long)ms, first);
	T_ASSERT(ms < 30000);
	T_ASSERT(first > 1);	/* it really was blocked by A */
	check_after(dir, 15);
	close(pa[0]);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
	close(pr[0]);
	close(pr[1]);
}

static void
quiet_errcall(const DB_ENV *dbenv, const char *pfx, const char *msg)
{
	(void)dbenv;
	(void)pfx;
	(void)msg;
}

/* Mark the environment as failed, as a process dying inside the library
 * does.  No DB_REGISTER: this process leaves no trace in the registry. */
static int
panic_child(void *arg)
{
	const char *dir = arg;
	DB_ENV *dbenv;
	int ret;

	C_CHECK(db_env_create(&dbenv, 0) == 0);
	dbenv->set_errcall(dbenv, quiet_errcall);
	ret = dbenv->open(dbenv, dir, DB_INIT_MPOOL | DB_INIT_LOCK |
	    DB_INIT_LOG | DB_INIT_TXN, 0);
	if (ret != 0) {
		fprintf(stderr, "panic_child: %s\n", db_strerror(ret));
		return 2;
	}
	ret = dbenv->set_flags(dbenv, DB_PANIC_ENVIRONMENT, 1);
	/* No close: the handle is unusable now. */
	_exit(ret == 0 ? 0 : 2);
}

struct survivor {
	const char *dir;
	int ready_fd, go_fd;
};

static int
panic_survivor_child(void *arg)
{
	struct survivor *s = arg;
	struct dict_env *e;
	struct dict *d;
	struct incr w;
	struct buf err, v;

	C_CHECK(open_both(s->dir, &e, &d) == 0);
	buf_init(&err, 1024);
	buf_init(&v, 0);
	C_CHECK(get_str(d, "committed", &v) == DICT_OK);
	put_byte(s->ready_fd, 'r');
	C_CHECK(read_byte(s->go_fd, 20000) == 'g');
	/* The handles are dead now; the next calls reopen with recovery. */
	C_CHECK(get_str(d, "committed", &v) == DICT_OK);
	C_CHECK(sv_eq_str(buf_sv(&v), "yes"));
	memset(&w, 0, sizeof(w));
	w.d = d;
	w.notify_fd = -1;
	C_CHECK(dict_txn_run(e, incr_fn, &w, &err) == DICT_OK);
	C_CHECK(dict_env_failchk(e) == DICT_OK);
	buf_free(&v);
	buf_free(&err);
	close_both(&e, &d);
	/* _exit, not LeakSanitizer: BDB 5.3 leaks about 10 KB closing the
	 * handles of a panicked environment (DB_ENV->close returns at its
	 * PANIC_CHECK before freeing anything). */
	_exit(0);
}

/* (d) The environment panics under a live process (DB_RUNRECOVERY): it
 * reopens with recovery and goes on. */
static void
panic_recovery(void)
{
	const char *dir = tdir("panic");
	struct survivor s;
	int pr[2], pg[2];
	pid_t p, b;

	T_ASSERT(seed(dir) == 0);
	T_ASSERT(pipe(pr) == 0 && pipe(pg) == 0);
	s.dir = dir;
	s.ready_fd = pr[1];
	s.go_fd = pg[0];
	T_ASSERT((b = spawn(panic_survivor_child, &s, 25)) > 0);
	T_EQ_INT(read_byte(pr[0], 10000), 'r');
	T_ASSERT((p = spawn(panic_child, (void *)(uintptr_t)dir, 10)) > 0);
	T_EQ_INT(reap(p), 0);
	put_byte(pg[1], 'g');
	T_EQ_INT(reap(b), 0);
	check_after(dir, 6);
	close(pr[0]);
	close(pr[1]);
	close(pg[0]);
	close(pg[1]);
}

/* (e) kill -9 at random moments, often inside the library (in the commit's
 * fsync): the counter must be what the child last reported, or one more
 * (killed between its commit and its report). */
struct churn {
	const char *dir;
	int fd;
	struct dict *d;
	uint64_t n;
};

static int
churn_fn(struct dict_txn *t, void *arg)
{
	struct churn *c = arg;
	char blob[20000], key[16];
	uint32_t r;
	int rv;

	if ((rv = get_u64(c->d, t, "counter", &c->n)) != DICT_OK)
		return rv;
	c->n++;
	if ((rv = put_u64(c->d, t, "counter", c->n)) != DICT_OK)
		return rv;
	/* Values of varying size: page splits and overflow pages. */
	rand_bytes(&r, sizeof(r));
	rand_bytes(blob, 1 + r % sizeof(blob));
	if (xsnprintf(key, sizeof(key), "blob:%u", r % 16) == -1)
		return DICT_ERROR;
	return dict_put(c->d, t, sv_from(key),
	    sv_make(blob, 1 + r % sizeof(blob)), 0);
}

static int
churn_child(void *arg)
{
	struct churn *c = arg;
	struct dict_env *e;
	struct buf err;

	C_CHECK(open_both(c->dir, &e, &c->d) == 0);
	buf_init(&err, 1024);
	put_byte(c->fd, 'r');
	for (;;) {
		C_CHECK(dict_txn_run(e, churn_fn, c, &err) == DICT_OK);
		if (write(c->fd, &c->n, sizeof(c->n)) != sizeof(c->n))
			return 4;
	}
}

#define ROUNDS 6

static void
random_kill9(void)
{
	const char *dir = tdir("churn");
	struct churn c;
	struct dict_env *e;
	struct dict *d;
	uint64_t last = 0, got, n, t0;
	uint32_t r;
	int round, p[2];
	pid_t pid;

	for (round = 0; round < ROUNDS; round++) {
		T_ASSERT(pipe(p) == 0);
		c.dir = dir;
		c.fd = p[1];
		T_ASSERT((pid = spawn(churn_child, &c, 20)) > 0);
		close(p[1]);
		T_EQ_INT(read_byte(p[0], 10000), 'r');
		rand_bytes(&r, sizeof(r));
		sleep_ms(10 + r % 40);
		T_ASSERT(kill(pid, SIGKILL) == 0);
		T_EQ_INT(reap(pid), 128 + SIGKILL);
		while (read(p[0], &got, sizeof(got)) == sizeof(got))
			last = got;
		close(p[0]);
		t0 = now_ms();
		T_ASSERT(open_both(dir, &e, &d) == 0);
		T_EQ_INT(get_u64(d, NULL, "counter", &n), DICT_OK);
		close_both(&e, &d);
		printf("# dict: round %d: counter %llu (reported %llu), "
		    "reopened in %llu ms\n", round, (unsigned long long)n,
		    (unsigned long long)last,
		    (unsigned long long)(now_ms() - t0));
		T_ASSERT(n == last || n == last + 1);
		last = n;
	}
}

/* Is pid registered in the environment?  __db.register holds one 25-byte
 * line per slot: the pid right-aligned, or "X" and blanks when empty. */
static int
registered(const char *dir, pid_t pid)
{
	char path[512], line[26];
	FILE *f;
	int found = 0;

	if (xsnprintf(path, sizeof(path), "%s/__db.register", dir) == -1 ||
	    (f = fopen(path, "r")) == NULL)
		return -1;
	while (fread(line, 1, 25, f) == 25) {
		line[25] = '\0';
		if (line[0] != 'X' && strtol(line, NULL, 10) == (long)pid)
			found = 1;
	}
	fclose(f);
	return found;
}

struct leaver {
	const char *dir;
	int use_exit;		/* exit() rather than _exit() */
};

/* Write a key and leave without dict_env_close. */
static int
leaver_child(void *arg)
{
	struct leaver *l = arg;
	struct dict_env *e;
	struct dict *d;

	C_CHECK(open_both(l->dir, &e, &d) == 0);
	C_CHECK(dict_put(d, NULL, SV_LIT("left"), SV_LIT("1"), 0) == DICT_OK);
	if (l->use_exit)
		exit(0);	/* the atexit handler closes */
	_exit(0);
}

static struct dict_env *inh_e;
static struct dict *inh_d;

/* Uses the handles it inherited from the parent. */
static int
inherit_child(void *arg)
{
	struct buf v;

	(void)arg;
	buf_init(&v, 0);
	C_CHECK(get_str(inh_d, "left", &v) == DICT_ERROR);
	dict_close(&inh_d);
	dict_env_close(&inh_e);	/* frees memory only */
	/* _exit: the BDB handles are the parent's and stay allocated here on
	 * purpose; LeakSanitizer would count them. */
	_exit(0);
}

static void
exit_and_fork(void)
{
	const char *dir = tdir("exit");
	struct leaver l = { dir, 1 };
	struct buf v;
	pid_t pid;

	T_ASSERT(open_both(dir, &inh_e, &inh_d) == 0);
	close_both(&inh_e, &inh_d);
	T_ASSERT((pid = spawn(leaver_child, &l, 20)) > 0);
	T_EQ_INT(reap(pid), 0);
	T_EQ_INT(registered(dir, pid), 0);
	/* Without the handler the slot stays, and the next opener will run
	 * recovery: the check above can tell. */
	l.use_exit = 0;
	T_ASSERT((pid = spawn(leaver_child, &l, 20)) > 0);
	T_EQ_INT(reap(pid), 0);
	T_EQ_INT(registered(dir, pid), 1);

	T_ASSERT(open_both(dir, &inh_e, &inh_d) == 0);
	T_EQ_INT(registered(dir, getpid()), 1);
	T_ASSERT((pid = spawn(inherit_child, NULL, 20)) > 0);
	T_EQ_INT(reap(pid), 0);
	T_EQ_INT(registered(dir, getpid()), 1);
	buf_init(&v, 0);
	T_EQ_INT(get_str(inh_d, "left", &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "1");
	buf_free(&v);
	close_both(&inh_e, &inh_d);
	T_EQ_INT(registered(dir, getpid()), 0);
}

/* A dead process with our pid in the registry (pid reuse) must not lock
 * us out; a real second handle in one process is still refused. */
static void
stale_own_pid(void)
{
	const char *dir = tdir("stale-pid");
	struct dict_env *e, *e2;
	struct dict *d;
	struct buf v, err;
	char path[512], line[32];
	FILE *f;

	T_ASSERT(open_both(dir, &e, &d) == 0);
	T_EQ_INT(dict_put(d, NULL, SV_LIT("kept"), SV_LIT("1"), 0), DICT_OK);
	buf_init(&err, 1024);
	T_EQ_INT(dict_env_open(dir, 1, &e2, &err), -1);
	T_ASSERT(e2 == NULL);
	T_ASSERT(strstr(buf_cstr(&err), "BDB1528") != NULL);
	T_EQ_INT(dict_put(d, NULL, SV_LIT("still"), SV_LIT("ok"), 0),
	    DICT_OK);
	close_both(&e, &d);

	/* Forge the slot a killed process would have left. */
	T_ASSERT(xsnprintf(path, sizeof(path), "%s/__db.register", dir) == 0);
	T_ASSERT(xsnprintf(line, sizeof(line), "%24ld\n", (long)getpid()) ==
	    0);
	T_ASSERT((f = fopen(path, "a")) != NULL);
	T_EQ_INT(fwrite(line, 1, 25, f), 25);
	T_ASSERT(fclose(f) == 0);
	T_EQ_INT(registered(dir, getpid()), 1);

	T_ASSERT(open_both(dir, &e, &d) == 0);
	buf_init(&v, 0);
	T_EQ_INT(get_str(d, "kept", &v), DICT_OK);
	T_EQ_INT(get_str(d, "still", &v), DICT_OK);
	T_EQ_STR(buf_cstr(&v), "ok");
	buf_free(&v);
	buf_free(&err);
	close_both(&e, &d);
}

GUARDED(exit_and_fork, 60)
GUARDED(two_writers, 60)
GUARDED(kill9_then_new_process, 60)
GUARDED(kill9_survivor, 60)
GUARDED(panic_recovery, 60)
GUARDED(random_kill9, 60)

T_SUITE(suite_dict)
{
	t_run("dict: put, get, del, NOTFOUND, EXISTS", basic_ops);
	t_run("dict: binary keys and values", binary_keys);
	t_run("dict: prefix scan, early stop, scan in a transaction",
	    scan_prefix);
	t_run("dict: failed transaction is rolled back", txn_rollback);
	t_run("dict: DICT_RETRY reruns; no nesting", txn_retry_and_misuse);
	t_run("dict: value over the buffer limit", value_over_limit);
	t_run("dict: reopen keeps data; file modes", reopen_keeps_data);
	t_run("dict: two processes writing at once", two_writers_guarded);
	t_run("dict: kill -9 mid-transaction, new process",
	    kill9_then_new_process_guarded);
	t_run("dict: kill -9 mid-transaction, waiting survivor",
	    kill9_survivor_guarded);
	t_run("dict: panicked environment is recovered",
	    panic_recovery_guarded);
	t_run("dict: kill -9 at random moments", random_kill9_guarded);
	t_run("dict: exit without close; handles across fork",
	    exit_and_fork_guarded);
	t_run("dict: stale registry slot with our pid", stale_own_pid);
}
