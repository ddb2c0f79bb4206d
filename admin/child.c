/*
 * child.c: the admin's work on files that less trusted users write.
 *
 * The user database (db_dir: its owner, the auth user, runs authd), a
 * mail store (mail_user's: delivery and every IMAP and POP3 session run
 * as it) and the queue (queue_user's) are opened and parsed only in a
 * child process.  Run by root, the child gives up root for good
 * (priv_drop: setgroups, setresgid, chroot, setresuid, and setuid(0) must
 * then fail) and is chrooted into the directory it works in, which the
 * parent opened without following a link where one of those users could
 * have made one.  So a link, a DB_CONFIG or a FIFO planted there meets
 * that user's own rights and can never lead outside the directory.
 *
 * The parent stays root and does little: it starts the child, answers
 * its few requests (the admin's own files that import reads and export
 * writes, opened here and passed as descriptors), copies the child's
 * output to its own with control characters escaped, and ends as the
 * child ended.  The child has no terminal: a session of its own, standard
 * input /dev/null, output to pipes.
 *
 * Run by a non-root instance owner there are no other ids to take: the
 * child keeps the owner's and only changes its working directory.
 *
 * Trusts: nothing the child sends.  A malformed message, or a request the
 * command's serve function refuses, gets the child killed.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/ipc.h"
#include "chapar/priv.h"
#include "chapar/util.h"

static int chan = -1;		/* in the child: the socket to the parent */
static int jailed;		/* in the child: chrooted, ids dropped */
static volatile pid_t child_pid;	/* in the parent: the live child */
static volatile sig_atomic_t got_signal;

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

int
child_jailed(void)
{
	return jailed;
}

void
child_abandon(void)
{
	if (child_pid > 0)
		(void)kill(child_pid, SIGKILL);
	child_pid = 0;
}

/* The admin's ^C goes to the parent's process group only (the child has
 * a session of its own): pass it on, and end the same way afterwards. */
static void
forward(int sig)
{
	got_signal = sig;
	if (child_pid > 0)
		(void)kill(child_pid, sig);
}

/* The ids the child takes when chapar runs as root. */
static void
child_ids(const struct config *cf, const struct child *c, uid_t *uid,
    gid_t *gid)
{
	struct stat st;
	struct buf err;

	if (c->whom == AS_DB) {
		/* db_dir's owner: chapar init gives it to auth_user */
		if (fstat(c->dirfd, &st) == -1)
			die(EX_FAIL, "%s: %s", config_str(cf, NULL, "db_dir"),
			    strerror(errno));
		if (st.st_uid == 0)
			die(EX_FAIL, "%s belongs to root; the user database "
			    "must be its user's (\"chapar init\" as root gives "
			    "it to %s)", config_str(cf, NULL, "db_dir"),
			    config_str(cf, NULL, "auth_user"));
		*uid = st.st_uid;
		*gid = st.st_gid;
		return;
	}
	buf_init(&err, 1024);
	if (priv_lookup(config_str(cf, NULL, c->whom == AS_MAIL ?
	    "mail_user" : "queue_user"), uid, gid, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	buf_free(&err);
}

static int
cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return x < y ? -1 : x > y;
}

/* Close every descriptor above 2 but those in keep. */
static void
close_others(int *keep, size_t n)
{
	unsigned lo = 3;
	size_t i;

	qsort(keep, n, sizeof(*keep), cmp_int);
	for (i = 0; i < n; i++) {
		if (keep[i] < (int)lo)
			continue;
		if ((unsigned)keep[i] > lo)
			(void)close_range(lo, (unsigned)keep[i] - 1, 0);
		lo = (unsigned)keep[i] + 1;
	}
	(void)close_range(lo, ~0U, 0);
}

#ifdef CHAPAR_SANITIZE
/* LeakSanitizer reads /proc at exit, which a chrooted process has not:
 * as for the daemons run as root (tests/integ/chapartest.py, daemon_env),
 * leaks are checked in the runs without root.  Only sanitizer builds. */
static void
exit_now(int status, void *arg)
{
	(void)arg;
	(void)fflush(NULL);
	_exit(status);
}
#endif

static void __attribute__((noreturn))
child_main(const struct child *c, int drop, uid_t uid, gid_t gid, int nul,
    int out, int err2, int sock)
{
	struct sigaction sa;
	sigset_t none;
	struct buf err;
	int keep[8];
	size_t n = 0, i;

	/* no controlling terminal: the admin's stays out of reach */
	(void)setsid();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 0; i < NELEM(forwarded); i++)
		(void)sigaction(forwarded[i], &sa, NULL);
	(void)sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(nul, 0) == -1 || dup2(out, 1) == -1 || dup2(err2, 2) == -1)
		_exit(EX_TEMP);
	keep[n++] = sock;
	if (c->dirfd >= 0)
		keep[n++] = c->dirfd;
	for (i = 0; i < (size_t)c->nkeep && n < NELEM(keep); i++)
		keep[n++] = c->keep[i];
	close_others(keep, n);
	chan = sock;
	buf_init(&err, 1024);
	if (c->dirfd >= 0 && fchdir(c->dirfd) == -1)
		die(EX_FAIL, "fchdir: %s", strerror(errno));
	if (drop) {
		if (priv_drop(uid, gid, c->dirfd >= 0 ? "." : NULL, &err) ==
		    -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
		jailed = c->dirfd >= 0;
#ifdef CHAPAR_SANITIZE
		if (jailed)
			(void)on_exit(exit_now, NULL);
#endif
	}
	if (c->dirfd >= 0)
		close(c->dirfd);
	buf_free(&err);
	exit(c->fn(c->arg));
}

/* --- the parent: output and requests ------------------------------------ */

static int
serve_one(int sock, const struct child *c)
{
	struct rec req, rep;
	const char *why;
	int type, fd = -1, rfd = -1, r;

	rec_init(&req);
	rec_init(&rep);
	r = ipc_recv(sock, &type, &req, &fd, &why);
	if (r == 0) {
		rec_free(&req);
		return 0;
	}
	if (r == -1 || type != IPC_ADMIN || fd >= 0 || c->serve == NULL) {
		child_abandon();
		die(EX_FAIL, "the worker process broke the protocol (%s)",
		    r == -1 ? why : "an unexpected message");
	}
	r = c->serve(c->sarg, &req, &rep, &rfd);
	if (r == -1) {
		child_abandon();
		die(EX_FAIL, "the worker process asked for what it may not "
		    "have (%s)", rec_get_str(&req, "op") ?
		    rec_get_str(&req, "op") : "?");
	}
	if (r == 1 && ipc_send(sock, IPC_ADMIN, &rep, rfd) == -1) {
		child_abandon();
		die(EX_TEMP, "the worker process: %s", strerror(errno));
	}
	if (rfd >= 0)
		close(rfd);
	rec_free(&req);
	rec_free(&rep);
	return 1;
}

static void
relay(int outfd, int errfd, int sock, const struct child *c)
{
	static unsigned char blk[16384];
	struct pollfd p[3];
	int c2[2] = { 0, 0 };
	ssize_t n;
	int i;

	p[0].fd = outfd;
	p[1].fd = errfd;
	p[2].fd = sock;
	for (i = 0; i < 3; i++)
		p[i].events = POLLIN;
	while (p[0].fd >= 0 || p[1].fd >= 0 || p[2].fd >= 0) {
		if (poll(p, 3, -1) == -1) {
			if (errno == EINTR)
				continue;
			child_abandon();
			die(EX_TEMP, "poll: %s", strerror(errno));
		}
		for (i = 0; i < 2; i++) {
			if (p[i].fd < 0 || p[i].revents == 0)
				continue;
			n = read(p[i].fd, blk, sizeof(blk));
			if (n == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				if (c2[i])
					(void)write_all(i + 1, "\xc2", 1);
				close(p[i].fd);
				p[i].fd = -1;
				continue;
			}
			text_pass(i + 1, blk, (size_t)n, &c2[i]);
		}
		if (p[2].fd >= 0 && p[2].revents != 0 && serve_one(sock, c) ==
		    0) {
			close(sock);
			p[2].fd = -1;
		}
	}
}

int
child_run(const struct config *cf, const struct child *c)
{
	struct sigaction sa, old[NELEM(forwarded)];
	sigset_t block, saved;
	int out[2], err2[2], sv[2], nul, drop = geteuid() == 0, st;
	uid_t uid = 0;
	gid_t gid = 0;
	size_t i;
	pid_t pid;

	if (drop)
		child_ids(cf, c, &uid, &gid);
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err2, O_CLOEXEC) == -1 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    (nul = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		die(EX_TEMP, "cannot start a worker process: %s",
		    strerror(errno));
	(void)fflush(stdout);
	(void)fflush(stderr);
	sigemptyset(&block);
	for (i = 0; i < NELEM(forwarded); i++)
		sigaddset(&block, forwarded[i]);
	(void)sigprocmask(SIG_BLOCK, &block, &saved);
	if ((pid = fork()) == -1)
		die(EX_TEMP, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(out[0]);
		close(err2[0]);
		close(sv[0]);
		child_main(c, drop, uid, gid, nul, out[1], err2[1], sv[1]);
	}
	child_pid = pid;
	got_signal = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NELEM(forwarded); i++)
		(void)sigaction(forwarded[i], &sa, &old[i]);
	(void)sigprocmask(SIG_SETMASK, &saved, NULL);
	close(out[1]);
	close(err2[1]);
	close(sv[1]);
	close(nul);
	relay(out[0], err2[0], sv[0], c);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			die(EX_TEMP, "waitpid: %s", strerror(errno));
	child_pid = 0;
	for (i = 0; i < NELEM(forwarded); i++)
		(void)sigaction(forwarded[i], &old[i], NULL);
	if (got_signal != 0) {
		/* end as the admin asked, now that the child has */
		(void)fflush(stdout);
		signal(got_signal, SIG_DFL);
		(void)raise(got_signal);
	}
	if (WIFSIGNALED(st))
		die(EX_FAIL, "the worker process died of signal %d (%s)",
		    WTERMSIG(st), strsignal(WTERMSIG(st)));
	if (WEXITSTATUS(st) != 0) {
		(void)fflush(stdout);
		exit(WEXITSTATUS(st));
	}
	return 0;
}

/* --- the child: talking to the parent ------------------------------------ */

static void
send_msg(const struct rec *r)
{
	struct buf b;
	size_t n;

	/* ipc_send ends the process on a payload over IPC_MAX: measure */
	buf_init(&b, 0);
	rec_encode(r, &b);
	n = b.len;
	buf_free(&b);
	if (n + 4 > IPC_MAX)
		die(EX_FAIL, "a message to the parent process is too long "
		    "(%zu bytes)", n);
	if (chan < 0 || ipc_send(chan, IPC_ADMIN, r, -1) == -1)
		die(EX_TEMP, "the parent process: %s", strerror(errno));
}

void
child_tell(const struct rec *r)
{
	send_msg(r);
}

int
child_ask(const struct rec *req, struct rec *reply)
{
	const char *why;
	int type, fd, r;

	send_msg(req);
	rec_clear(reply);
	r = ipc_recv(chan, &type, reply, &fd, &why);
	if (r != 1 || type != IPC_ADMIN)
		die(EX_TEMP, "the parent process: %s", r == 0 ? "gone" : why);
	return fd;
}

const char *
child_op(const struct rec *r)
{
	const char *op = rec_get_str(r, "op");

	return op != NULL ? op : "";
}

/* --- the three kinds ----------------------------------------------------- */

int
db_run(struct config *cf, int (*fn)(void *), void *arg,
    int (*serve)(void *, const struct rec *, struct rec *, int *), void *sarg)
{
	const char *dir = config_str(cf, NULL, "db_dir");
	struct child c;
	int r;

	memset(&c, 0, sizeof(c));
	c.whom = AS_DB;
	/* db_dir itself is root's to name (its parent is root's) */
	if ((c.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die(EX_TEMP, "user database: %s: %s (did you run \"chapar "
		    "init\"?)", dir, strerror(errno));
	c.fn = fn;
	c.arg = arg;
	c.serve = serve;
	c.sarg = sarg;
	r = child_run(cf, &c);
	close(c.dirfd);
	return r;
}

int
queue_run(struct config *cf, int (*fn)(void *), void *arg)
{
	const char *dir = config_str(cf, NULL, "queue_dir");
	struct child c;
	int r;

	memset(&c, 0, sizeof(c));
	c.whom = AS_QUEUE;
	if ((c.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die(EX_FAIL, "%s: %s", dir, strerror(errno));
	c.fn = fn;
	c.arg = arg;
	r = child_run(cf, &c);
	close(c.dirfd);
	return r;
}
