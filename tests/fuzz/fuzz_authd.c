/*
 * fuzz_authd: libFuzzer target for authd's request handling
 * (authd/server.c, mech.c, penalty.c, token.c): the input is what a
 * possibly compromised daemon writes on its connection, fed to
 * conn_input as the event loop would after a read.
 *
 * Input: the first byte picks the socket (bit 0: the master socket) and
 * whether "VERSION\t1\t1\n" comes first (bit 1), so that the fuzzer need
 * not find the handshake.  The rest is request bytes, cut into reads at
 * each 0xff byte (dropped); between reads the hash checks queued so far
 * are answered, the replies are drained and the timers run, and an empty
 * read (two 0xff in a row) moves the clock 2 s on, past the session
 * timeout and the failure delay.
 *
 * The user database is a real one in a temporary directory (example.org
 * with alice, whose password is "pw", a disabled bob, aliases and a
 * catch-all); the hash workers are stubbed: a hash "stub:PW" matches PW,
 * the password "die" is a worker that died, "none" no worker at all.
 */
#include <sys/socket.h>

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd.h"
#include "chapar/config.h"
#include "chapar/log.h"
#include "chapar/passwd.h"
#include "chapar/util.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct authd authd;

/* --- hash workers, stubbed ---------------------------------------------- */

struct job {
	struct buf pw;
	char *hash;
	void (*done)(void *, int);
	void *arg;
	struct job *next;
};

static struct job *jobs, **jobs_tail = &jobs;

void
workers_start(int n)
{
	(void)n;
}

void
workers_submit(const char *pw, size_t pwlen, const char *hash,
    void (*done)(void *, int), void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	if (pwlen > PASSWD_MAX)
		abort();	/* mech.c checks the length first */
	buf_init(&j->pw, PASSWD_MAX + 1);
	buf_append(&j->pw, pw, pwlen);
	j->hash = xstrdup(hash);
	j->done = done;
	j->arg = arg;
	*jobs_tail = j;
	jobs_tail = &j->next;
}

/* Answer every queued check, in order, as the workers would. */
void
workers_dispatch(void)
{
	struct job *j;
	const char *pw;
	int r;

	while ((j = jobs) != NULL) {
		if ((jobs = j->next) == NULL)
			jobs_tail = &jobs;
		pw = buf_cstr(&j->pw);
		if (strcmp(pw, "die") == 0)
			r = WORKER_DIED;
		else if (strcmp(pw, "none") == 0)
			r = WORKER_NONE;
		else if (strncmp(j->hash, "stub:", 5) != 0)
			r = -1;
		else
			r = strcmp(j->hash + 5, pw) == 0;
		j->done(j->arg, r);
		buf_free(&j->pw);
		free(j->hash);
		free(j);
	}
}

uint64_t
workers_deadline(void)
{
	return UINT64_MAX;
}

size_t
workers_pollfds(struct pollfd *pfd)
{
	(void)pfd;
	return 0;
}

void
workers_handle(const struct pollfd *pfd)
{
	(void)pfd;
	workers_dispatch();
}

void
workers_stop(void)
{
	workers_dispatch();
}

/* --- the instance ------------------------------------------------------- */

static char dir[] = "/tmp/chapar-fuzz-authd.XXXXXX";

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_dir(void)
{
	userdb_close(&authd.udb);
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
must(int r, const struct buf *err)
{
	if (r != 0) {
		fprintf(stderr, "fuzz_authd: set-up: %s\n", buf_cstr(err));
		abort();
	}
}

static void
add_user(const char *key, const char *pw, const char *state)
{
	struct scram_keys k;
	struct buf err, s;
	struct rec r;

	buf_init(&err, 1024);
	buf_init(&s, 1024);
	rec_init(&r);
	buf_puts(&s, "stub:");
	buf_puts(&s, pw);
	rec_set(&r, "hash", buf_sv(&s));
	buf_reset(&s);
	if (scram_keys_derive(pw, strlen(pw), NULL, 0, SCRAM_ITER_MIN,
	    &k) == -1)
		abort();
	scram_keys_format(&k, &s);
	rec_set(&r, "scram", buf_sv(&s));
	rec_set_str(&r, "quota", "1000");
	rec_set_str(&r, "state", state);
	must(userdb_user_put(authd.udb, key, &r, 0, &err), &err);
	rec_free(&r);
	buf_free(&s);
	buf_free(&err);
}

static void
add_alias(const char *key, const char *d1, const char *d2)
{
	struct buf err;
	struct rec r;

	buf_init(&err, 1024);
	rec_init(&r);
	rec_add(&r, "dest", sv_from(d1));
	if (d2 != NULL)
		rec_add(&r, "dest", sv_from(d2));
	must(userdb_alias_put(authd.udb, key, &r, &err), &err);
	rec_free(&r);
	buf_free(&err);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Small limits and windows, so that the fuzzer reaches them. */
	static const char conf[] =
	    "auth_fail_window = 1s\n"
	    "auth_fail_delay_after = 2\n"
	    "auth_fail_delay = 1s\n"
	    "auth_fail_ip_limit = 8\n"
	    "auth_fail_user_limit = 4\n"
	    "auth_session_timeout = 1s\n"
	    "recipient_delimiter = +\n";
	struct buf err;

	(void)argc;
	(void)argv;
	log_open("fuzz", LOG_TO_STDERR);
	log_set_level(LOGL_FATAL);
	buf_init(&err, 1024);
	if (config_parse("fuzz", conf, sizeof(conf) - 1, &authd.cf, &err) == -1)
		must(-1, &err);
	if (mkdtemp(dir) == NULL)
		abort();
	must(userdb_open_dir(dir, 1, &authd.udb, &err), &err);
	atexit(rm_dir);
	must(userdb_domain_add(authd.udb, "example.org", &err), &err);
	add_user("alice@example.org", "pw", USER_ACTIVE);
	add_user("bob@example.org", "pw", USER_DISABLED);
	add_user("gone@example.org", "pw", USER_DELETED);
	add_alias("sales@example.org", "alice@example.org",
	    "carol@example.net");
	add_alias("loop@example.org", "loop@example.org", "sales@example.org");
	add_alias("@example.org", "alice@example.org", NULL);
	buf_free(&err);
	authd.dummy_hash = xstrdup("stub:\001");
	rand_bytes(authd.secret, sizeof(authd.secret));
	authd.session_timeout = 1000;
	penalty_init();
	return 0;
}

/* Read and drop what authd wrote, so that its output never fills. */
static void
drain(struct conn *c, int peer)
{
	char tmp[65536];

	conn_write(c);
	while (read(peer, tmp, sizeof(tmp)) > 0)
		conn_write(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char hello[] = "VERSION\t1\t1\n";
	const char *p = (const char *)data, *end = p + size, *cut;
	uint64_t skew = 0;
	struct conn *c;
	int sv[2];

	if (size == 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		abort();
	c = conn_open(sv[0], data[0] & 1);
	if (data[0] & 2)
		conn_input(c, hello, sizeof(hello) - 1);
	for (p++; p <= end; p = cut + 1) {
		if ((cut = memchr(p, 0xff, (size_t)(end - p))) == NULL)
			cut = end;
		if (cut == p && cut < end)
			skew += 2000;	/* an empty read: time passes */
		else if (cut > p)
			conn_input(c, p, (size_t)(cut - p));
		workers_dispatch();
		conn_tick(c, now_ms() + skew);
		drain(c, sv[1]);
	}
	conn_shut(c);		/* closes sv[0] */
	workers_dispatch();	/* answers for a closed connection */
	conns_reap();
	close(sv[1]);
	return 0;
}
