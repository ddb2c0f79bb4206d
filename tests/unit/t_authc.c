/*
 * authc against a scripted authd: a child process that accepts one
 * connection, expects the client's lines ("C:") and sends its own ("S:")
 * in the order of the script, then expects the client to close without
 * sending more.  Shows what goes over the wire when an exchange is
 * abandoned, and that late replies to abandoned exchanges are skipped.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/authc.h"
#include "chapar/util.h"
#include "harness.h"

#define SCRIPT_MAX 128

struct script {
	const char *line[SCRIPT_MAX];	/* "C:..." or "S:..." */
	char *own[SCRIPT_MAX];		/* lines made by add() */
	int n;
};

static void
add(struct script *s, const char *fmt, ...) __attribute__((format(printf, 2,
    3)));

static void
add(struct script *s, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	s->own[s->n] = xstrdup(tmp);
	s->line[s->n] = s->own[s->n];
	s->n++;
}

static void
script_free(struct script *s)
{
	int i;

	for (i = 0; i < s->n; i++)
		free(s->own[i]);
}

/* One line from fd without its LF; 0, or -1 at EOF or error. */
static int
get_line(int fd, char *out, size_t max)
{
	size_t n = 0;
	char ch;

	for (;;) {
		if (read(fd, &ch, 1) != 1)
			return -1;
		if (ch == '\n')
			break;
		if (n + 1 < max)
			out[n++] = ch;
	}
	out[n] = '\0';
	return 0;
}

static void __attribute__((noreturn))
fake_authd(int lfd, const struct script *s)
{
	char got[1024];
	int fd, i;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(2);
	for (i = 0; i < s->n; i++) {
		const char *l = s->line[i];

		if (l[0] == 'S') {
			if (write_all(fd, l + 2, strlen(l + 2)) == -1 ||
			    write_all(fd, "\n", 1) == -1)
				_exit(3);
			continue;
		}
		if (get_line(fd, got, sizeof(got)) == -1) {
			fprintf(stderr, "# fake authd: EOF, expected %s\n", l);
			_exit(4);
		}
		if (strcmp(got, l + 2) != 0) {
			fprintf(stderr, "# fake authd: got \"%s\", expected "
			    "\"%s\"\n", got, l + 2);
			_exit(5);
		}
	}
	if (get_line(fd, got, sizeof(got)) == 0) {
		fprintf(stderr, "# fake authd: unexpected \"%s\"\n", got);
		_exit(6);
	}
	_exit(0);
}

/* Start the fake authd on a fresh socket; its pid, or -1. */
static pid_t
fake_start(const struct script *s, char *path, size_t pathlen)
{
	static int n;
	struct sockaddr_un sa;
	pid_t pid;
	int lfd;

	(void)snprintf(path, pathlen, "%s/authc-%d.sock", t_tmpdir(), n++);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		return -1;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 1) == -1 || (pid = fork()) == -1) {
		close(lfd);
		return -1;
	}
	if (pid == 0)
		fake_authd(lfd, s);
	close(lfd);
	return pid;
}

static int
fake_wait(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* authd 1.1: an abandoned exchange is cancelled, by authc_cancel or by
 * the next request, and a FAIL that crossed the CANCEL is skipped. */
static void
authc_cancel_and_late_replies(void)
{
	struct script s = { .n = 0 };
	struct authc_reply rep;
	struct authc *c;
	struct buf err;
	char path[256];
	pid_t pid;
	int r;

	add(&s, "C:VERSION\t1\t1");
	add(&s, "S:VERSION\t1\t1");
	add(&s, "C:AUTH\t1\tLOGIN\tservice=smtp\trip=192.0.2.1");
	add(&s, "S:CONT\t1\tVXNlcm5hbWU6");
	add(&s, "C:CANCEL\t1");
	add(&s, "C:USER\t2\tbob@example.org");
	add(&s, "S:FAIL\t1\treason=authentication timed out");
	add(&s, "S:NOTFOUND\t2");
	add(&s, "C:AUTH\t3\tPLAIN\tservice=smtp\trip=192.0.2.1");
	add(&s, "S:CONT\t3\t");
	/* left without authc_cancel: the next request cancels it */
	add(&s, "C:CANCEL\t3");
	add(&s, "C:RCPT\t4\tx@example.org");
	add(&s, "S:FAIL\t3\treason=authentication timed out");
	add(&s, "S:NOTLOCAL\t4");
	/* a finished exchange is not cancelled */
	add(&s, "C:AUTH\t5\tPLAIN\tservice=smtp\trip=192.0.2.1");
	add(&s, "S:CONT\t5\t");
	add(&s, "C:CONT\t5\tAA==");
	add(&s, "S:FAIL\t5\treason=invalid credentials");
	/* a reply for an id that is neither the request's nor abandoned */
	add(&s, "C:USER\t6\tbob@example.org");
	add(&s, "S:FAIL\t3\treason=authentication timed out");
	buf_init(&err, 1024);
	authc_reply_init(&rep);
	T_ASSERT((pid = fake_start(&s, path, sizeof(path))) > 0);
	r = authc_connect(path, 5000, &c, &err);
	T_EQ_INT(r, 0);
	T_EQ_INT(authc_auth(c, "LOGIN", "smtp", "192.0.2.1", 0, NULL, &rep,
	    &err), 0);
	T_EQ_STR(buf_cstr(&rep.verb), "CONT");
	authc_cancel(c);
	authc_cancel(c);	/* nothing in progress: nothing sent */
	T_EQ_INT(authc_user(c, "bob@example.org", &rep, &err), 0);
	T_EQ_STR(buf_cstr(&rep.verb), "NOTFOUND");
	T_EQ_INT(authc_auth(c, "PLAIN", "smtp", "192.0.2.1", 0, NULL, &rep,
	    &err), 0);
	T_EQ_STR(buf_cstr(&rep.verb), "CONT");
	T_EQ_INT(authc_rcpt(c, "x@example.org", &rep, &err), 0);
	T_EQ_STR(buf_cstr(&rep.verb), "NOTLOCAL");
	T_EQ_INT(authc_cont(c, sv_make("", 0), &rep, &err), -1);
	T_EQ_STR(buf_cstr(&err), "authd: CONT without an exchange");
	T_EQ_INT(authc_auth(c, "PLAIN", "smtp", "192.0.2.1", 0, NULL, &rep,
	    &err), 0);
	T_EQ_INT(authc_cont(c, sv_make("", 1), &rep, &err), 0);
	T_EQ_STR(buf_cstr(&rep.verb), "FAIL");
	authc_cancel(c);
	T_EQ_INT(authc_user(c, "bob@example.org", &rep, &err), -1);
	T_EQ_STR(buf_cstr(&err), "authd: reply for another request");
	authc_close(&c);
	T_EQ_INT(fake_wait(pid), 0);
	authc_reply_free(&rep);
	buf_free(&err);
	script_free(&s);
}

/* authd 1.0 does not know CANCEL: nothing is sent, and the exchange's
 * timeout FAIL is skipped.  Only the last 16 abandoned exchanges are
 * remembered. */
static void
authc_old_authd_and_bounded_memory(void)
{
	struct script s = { .n = 0 };
	struct authc_reply rep;
	struct authc *c;
	struct buf err;
	char path[256];
	pid_t pid;
	int i;

	add(&s, "C:VERSION\t1\t1");
	add(&s, "S:VERSION\t1\t0");
	for (i = 1; i <= 17; i++) {
		add(&s, "C:AUTH\t%d\tLOGIN\tservice=pop3\trip=", i);
		add(&s, "S:CONT\t%d\tVXNlcm5hbWU6", i);
	}
	add(&s, "C:USER\t18\ta@example.org");
	for (i = 17; i >= 2; i--)
		add(&s, "S:FAIL\t%d\treason=authentication timed out", i);
	add(&s, "S:USER\t18\tuser=a@example.org");
	add(&s, "C:USER\t19\ta@example.org");
	add(&s, "S:FAIL\t1\treason=authentication timed out");
	buf_init(&err, 1024);
	authc_reply_init(&rep);
	T_ASSERT((pid = fake_start(&s, path, sizeof(path))) > 0);
	T_EQ_INT(authc_connect(path, 5000, &c, &err), 0);
	for (i = 1; i <= 17; i++) {
		T_EQ_INT(authc_auth(c, "LOGIN", "pop3", NULL, 0, NULL, &rep,
		    &err), 0);
		T_EQ_STR(buf_cstr(&rep.verb), "CONT");
	}
	T_EQ_INT(authc_user(c, "a@example.org", &rep, &err), 0);
	T_EQ_STR(buf_cstr(&rep.verb), "USER");
	T_EQ_STR(rec_get_str(&rep.fields, "user"), "a@example.org");
	/* the first was forgotten: its FAIL is nobody's */
	T_EQ_INT(authc_user(c, "a@example.org", &rep, &err), -1);
	authc_close(&c);
	T_EQ_INT(fake_wait(pid), 0);
	authc_reply_free(&rep);
	buf_free(&err);
	script_free(&s);
}

/* Requests authd would refuse (it closes the connection) are refused
 * before anything is sent; the connection stays usable. */
static void
authc_refuses_oversized_requests(void)
{
	struct script s = { .n = 0 };
	struct authc_reply rep;
	struct authc *c;
	struct buf err, big;
	char path[256];
	pid_t pid;
	struct sv init;

	add(&s, "C:VERSION\t1\t1");
	add(&s, "S:VERSION\t1\t1");
	add(&s, "C:USER\t1\ta@example.org");
	add(&s, "S:NOTFOUND\t1");
	buf_init(&err, 1024);
	buf_init(&big, 0);
	authc_reply_init(&rep);
	while (big.len < AUTH_LINE_MAX)
		T_ASSERT(buf_try_puts(&big, "\t\t\t\t") == 0);
	T_ASSERT((pid = fake_start(&s, path, sizeof(path))) > 0);
	T_EQ_INT(authc_connect(path, 5000, &c, &err), 0);
	init = sv_make(big.data, AUTH_LINE_MAX);
	T_EQ_INT(authc_auth(c, "PLAIN", "smtp", "", 0, &init, &rep, &err), -1);
	T_EQ_INT(authc_auth(c, "PLAIN", "s", "1111111111111111111111111111111"
	    "1111111111111111111111111111111111111111111111111111111111111111"
	    "1111111111111111111111111111111111111111", 0, NULL, &rep, &err),
	    -1);
	T_EQ_INT(authc_user(c, buf_cstr(&big), &rep, &err), -1);
	T_EQ_STR(buf_cstr(&err), "authd: request too long");
	T_EQ_INT(authc_user(c, "a@example.org", &rep, &err), 0);
	T_EQ_STR(buf_cstr(&rep.verb), "NOTFOUND");
	authc_close(&c);
	T_EQ_INT(fake_wait(pid), 0);
	authc_reply_free(&rep);
	buf_free(&big);
	buf_free(&err);
	script_free(&s);
}

T_SUITE(suite_authc)
{
	t_run("authc: cancel, and late replies of abandoned exchanges",
	    authc_cancel_and_late_replies);
	t_run("authc: authd 1.0, and at most 16 abandoned exchanges",
	    authc_old_authd_and_bounded_memory);
	t_run("authc: requests authd would refuse are not sent",
	    authc_refuses_oversized_requests);
}
