/*
 * worker.c: password-hash checks in child processes.
 *
 * A yescrypt check costs milliseconds on purpose; done in the main loop it
 * would hold up every other client and use one core.  authd forks
 * auth_workers children (after dropping privileges, inside the chroot);
 * each takes one job at a time over a socketpair:
 *
 *	request: u32 id, u32 pwlen, u32 hashlen, pw bytes, hash bytes
 *	reply:   u32 id, i32 result (1 match, 0 no match, -1 bad hash)
 *
 * The caller's callback also gets WORKER_DIED (the worker checking it
 * died or did not answer in JOB_TIMEOUT_MS) or WORKER_NONE (no worker can
 * run).
 *
 * A worker trusts the main process (same uid, same binary) but still
 * checks the lengths and exits on anything malformed.  A worker that dies
 * fails its job as a temporary error and is replaced.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd.h"
#include "chapar/log.h"
#include "chapar/passwd.h"
#include "chapar/util.h"

#define HASH_MAX 1024
#define JOB_TIMEOUT_MS 30000	/* a check takes milliseconds */
#define WORKERS_MAX AUTHD_MAX_WORKERS

struct job {
	uint32_t id;
	uint64_t started;	/* ms, when a worker took it */
	struct buf pw;
	char *hash;
	void (*done)(void *, int);
	void *arg;
	struct job *next;
};

struct worker {
	pid_t pid;
	int fd;			/* -1: not running (a restart failed) */
	struct job *job;	/* in progress, or NULL when idle */
	int64_t tried;		/* last restart attempt */
};

static struct worker workers[WORKERS_MAX];
static int nworkers;
static struct job *queue, **queue_tail = &queue;
static uint32_t next_id = 1;

static int
read_full(int fd, void *p, size_t n)
{
	char *q = p;
	ssize_t r;

	while (n > 0) {
		r = read(fd, q, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		q += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The child: check hashes until the main process goes away. */
static void
worker_main(int fd)
{
	uint32_t hdr[3];
	int32_t reply[2];
	char pw[PASSWD_MAX + 1], hash[HASH_MAX + 1];
	int r;

	for (;;) {
		if (read_full(fd, hdr, sizeof(hdr)) == -1)
			_exit(0);
		if (hdr[1] > PASSWD_MAX || hdr[2] == 0 || hdr[2] > HASH_MAX ||
		    read_full(fd, pw, hdr[1]) == -1 ||
		    read_full(fd, hash, hdr[2]) == -1)
			_exit(1);
		pw[hdr[1]] = '\0';
		hash[hdr[2]] = '\0';
		r = passwd_verify(pw, hdr[1], hash);
		/* An unusable hash costs as much as a real check. */
		if (r == -1)
			(void)passwd_verify(pw, hdr[1], authd.dummy_hash);
		explicit_bzero(pw, sizeof(pw));
		reply[0] = (int32_t)hdr[0];
		reply[1] = r;
		if (write_all(fd, reply, sizeof(reply)) == -1)
			_exit(1);
	}
}

static int
spawn(struct worker *w)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_error("worker socketpair: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_error("worker fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		struct sigaction sa;

		/* A worker ends when the main process closes its socket,
		 * not on the signals a terminal or a supervisor sends to the
		 * whole group (the main process answers those). */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		/* Keep only stderr (logs) and the job socket. */
		if (dup2(sv[1], 3) == -1)
			_exit(1);
		(void)close_range(4, ~0U, 0);
		worker_main(3);
	}
	close(sv[1]);
	w->pid = pid;
	w->fd = sv[0];
	w->job = NULL;
	return 0;
}

void
workers_start(int n)
{
	int i;

	if (n < 1)
		n = 1;
	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	for (i = 0; i < n; i++) {
		if (spawn(&workers[i]) == -1)
			log_fatal("cannot start hash workers");
		nworkers++;
	}
}

static void
job_free(struct job *j)
{
	if (j->pw.data != NULL)
		explicit_bzero(j->pw.data, j->pw.cap);
	buf_free(&j->pw);
	free(j->hash);
	free(j);
}

/* Restart workers that could not be restarted before (at most once a
 * second each); when none runs at all, queued checks fail as temporary
 * errors instead of waiting for ever.  Returns the number running. */
static int
revive(void)
{
	struct job *j;
	int i, alive = 0;

	for (i = 0; i < nworkers; i++) {
		if (workers[i].fd < 0 && now_sec() != workers[i].tried) {
			workers[i].tried = now_sec();
			if (spawn(&workers[i]) == -1)
				workers[i].fd = -1;
		}
		if (workers[i].fd >= 0)
			alive++;
	}
	if (alive == 0) {
		while ((j = queue) != NULL) {
			queue = j->next;
			j->done(j->arg, WORKER_NONE);
			job_free(j);
		}
		queue_tail = &queue;
	}
	return alive;
}

/* Hand queued jobs to idle workers. */
static void
dispatch(void)
{
	struct worker *w;
	struct job *j;
	uint32_t hdr[3];
	struct buf msg;
	int i;

	if (queue != NULL && revive() == 0)
		return;
	for (i = 0; i < nworkers && queue != NULL; i++) {
		w = &workers[i];
		if (w->job != NULL || w->fd < 0)
			continue;
		j = queue;
		if ((queue = j->next) == NULL)
			queue_tail = &queue;
		j->next = NULL;
		hdr[0] = j->id;
		hdr[1] = (uint32_t)j->pw.len;
		hdr[2] = (uint32_t)strlen(j->hash);
		buf_init(&msg, 0);
		buf_append(&msg, hdr, sizeof(hdr));
		buf_append(&msg, j->pw.data ? j->pw.data : "", j->pw.len);
		buf_append(&msg, j->hash, hdr[2]);
		/* One job per worker: the socket buffer never fills. */
		if (write_all(w->fd, msg.data, msg.len) == -1)
			log_error("hash worker %ld: %s", (long)w->pid,
			    strerror(errno));
		explicit_bzero(msg.data, msg.cap);
		buf_free(&msg);
		j->started = now_ms();
		w->job = j;
	}
}

void
workers_submit(const char *pw, size_t pwlen, const char *hash,
    void (*done)(void *, int), void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	if (pwlen > PASSWD_MAX)
		log_panic("workers_submit: password of %zu bytes", pwlen);
	j->id = next_id++;
	buf_init(&j->pw, PASSWD_MAX + 1);
	buf_append(&j->pw, pw, pwlen);
	/* A stored hash too long to be real is checked as the dummy one:
	 * same cost, and the caller's answer is "no" (hash != ours). */
	j->hash = xstrdup(strlen(hash) <= HASH_MAX ? hash : authd.dummy_hash);
	j->done = done;
	j->arg = arg;
	/* Queued only: the caller still has to file its session away;
	 * workers_dispatch() (from the main loop) hands it out. */
	*queue_tail = j;
	queue_tail = &j->next;
}

void
workers_dispatch(void)
{
	dispatch();
}

/* When the oldest running check must be over (for the poll timeout);
 * UINT64_MAX if none runs. */
uint64_t
workers_deadline(void)
{
	uint64_t d = UINT64_MAX;
	int i;

	for (i = 0; i < nworkers; i++)
		if (workers[i].job != NULL &&
		    workers[i].job->started + JOB_TIMEOUT_MS < d)
			d = workers[i].job->started + JOB_TIMEOUT_MS;
	return d;
}

size_t
workers_pollfds(struct pollfd *pfd)
{
	int i;

	for (i = 0; i < nworkers; i++) {
		pfd[i].fd = workers[i].fd;
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	return (size_t)nworkers;
}

/* A worker is gone: fail its job, reap it, start another. */
static void
replace(struct worker *w)
{
	struct job *j = w->job;
	int st;

	log_error("hash worker %ld died; starting another", (long)w->pid);
	close(w->fd);
	w->fd = -1;
	(void)kill(w->pid, SIGKILL);	/* in case it only misbehaved */
	(void)waitpid(w->pid, &st, 0);
	w->job = NULL;
	if (j != NULL) {
		j->done(j->arg, WORKER_DIED);
		job_free(j);
	}
	w->tried = now_sec();
	if (spawn(w) == -1)
		w->fd = -1;
}

void
workers_handle(const struct pollfd *pfd)
{
	struct worker *w;
	struct job *j;
	int32_t reply[2];
	int i;

	for (i = 0; i < nworkers; i++) {
		w = &workers[i];
		if (w->job != NULL && now_ms() > w->job->started +
		    JOB_TIMEOUT_MS) {
			log_error("hash worker %ld: no answer in %d s",
			    (long)w->pid, JOB_TIMEOUT_MS / 1000);
			replace(w);
			continue;
		}
		if (pfd[i].fd != w->fd || !(pfd[i].revents &
		    (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (read_full(w->fd, reply, sizeof(reply)) == -1 ||
		    w->job == NULL || (uint32_t)reply[0] != w->job->id) {
			replace(w);
			continue;
		}
		j = w->job;
		w->job = NULL;
		j->done(j->arg, reply[1]);
		job_free(j);
	}
	dispatch();
}

/* Stop the workers; jobs still running or queued fail as temporary. */
void
workers_stop(void)
{
	struct job *j;
	int i, st;

	for (i = 0; i < nworkers; i++) {
		if (workers[i].fd >= 0)
			close(workers[i].fd);	/* EOF: the worker exits */
		(void)waitpid(workers[i].pid, &st, 0);
		if ((j = workers[i].job) != NULL) {
			workers[i].job = NULL;
			j->done(j->arg, WORKER_NONE);
			job_free(j);
		}
	}
	while ((j = queue) != NULL) {
		queue = j->next;
		j->done(j->arg, WORKER_NONE);
		job_free(j);
	}
	queue_tail = &queue;
	nworkers = 0;
}
