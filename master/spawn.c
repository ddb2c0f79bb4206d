/*
 * spawn.c: how chapard starts a process -- fork and exec (a fresh
 * address space), the status socket at descriptor 3 and the listening
 * sockets from 4 on, nothing else, and an environment it builds itself.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapard.h"
#include "chapar/ipc.h"
#include "chapar/log.h"
#include "chapar/paths.h"
#include "chapar/priv.h"
#include "chapar/tls.h"
#include "chapar/util.h"
#include "chapar/worker.h"

#define ENV_MAX 16		/* variables in a child's environment */

/* --- processes --------------------------------------------------------- */

/* Put descriptors at fixed numbers (3: status, 4...: listeners), leaving
 * everything else closed.  In the child, before exec. */
static void
arrange_fds(int status, const struct service *s,
    const struct session_args *sa, int listeners)
{
	int tmp[MAX_LISTENERS + 1], i, n = 0, null, client = -1;

	/* First out of the way (above 100), then into place from 3 on. */
	if (sa != NULL)
		client = fcntl(sa->client, F_DUPFD_CLOEXEC, 100);
	if (status >= 0)
		tmp[n++] = fcntl(status, F_DUPFD_CLOEXEC, 100);
	for (i = 0; listeners && i < s->nls; i++)
		tmp[n++] = fcntl(s->ls[i].fd, F_DUPFD_CLOEXEC, 100);
	for (i = 0; i < n; i++)
		if (tmp[i] == -1 || dup2(tmp[i], 3 + i) == -1)
			_exit(111);
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(client >= 0 ? client : null, 0);
		(void)dup2(client >= 0 ? client : null, 1);
		if (!M.foreground)
			(void)dup2(null, 2);
	}
	(void)close_range((unsigned)(3 + n), ~0U, 0);
}

/* One NAME=value for the environment; -1 when it does not fit. */
static int
env_add(struct buf *store, size_t *off, size_t *n, const char *name,
    const char *val)
{
	if (*n == ENV_MAX)
		return -1;
	off[*n] = store->len;
	if (buf_try_printf(store, "%s=%s%c", name, val, 0) == -1)
		return -1;
	(*n)++;
	return 0;
}

/* The environment of a new process, its strings in store.  -1 when what
 * a worker sent for a session does not fit: the session does not start
 * (a variable kept from chapard's own environment that does not fit is
 * left out). */
static int
child_env(const struct service *s, const struct session_args *sa,
    enum spawn_kind kind, char **env, struct buf *store)
{
	static const char *keep[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS",
		"LSAN_OPTIONS", "TZ" };
	size_t n = 0, i, off[ENV_MAX];
	char tls[MAX_LISTENERS + 1], nls[16];
	const char *v;
	int j, r = 0;

	for (j = 0; j < s->nls; j++)
		tls[j] = s->ls[j].tls ? '1' : '0';
	tls[s->nls] = '\0';
	(void)xsnprintf(nls, sizeof(nls), "%d", s->nls);
	buf_reset(store);
	r |= env_add(store, off, &n, "PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
	r |= env_add(store, off, &n, "CHAPAR_LOG", M.foreground ? "stderr" :
	    "syslog");
	if (s->kind == SVC_POOL && kind == SPAWN_WORKER)
		r |= env_add(store, off, &n, "CHAPAR_WORKER", "1");
	if (s->kind == SVC_POOL && sa == NULL) {
		/* behind a front, workers get their clients from chapard */
		if (s->front && kind == SPAWN_WORKER) {
			(void)xsnprintf(nls, sizeof(nls), "0");
			tls[0] = '\0';
		}
		r |= env_add(store, off, &n, "CHAPAR_LISTEN_FDS", nls);
		r |= env_add(store, off, &n, "CHAPAR_LISTEN_TLS", tls);
	}
	if (sa != NULL) {
		r |= env_add(store, off, &n, "CHAPAR_TOKEN", sa->token);
		r |= env_add(store, off, &n, "CHAPAR_STATE", sa->state);
		r |= env_add(store, off, &n, "CHAPAR_PEER", sa->peer);
		r |= env_add(store, off, &n, "CHAPAR_LOG_ID", sa->log_id);
	}
	for (i = 0; i < NELEM(keep); i++)
		if ((v = getenv(keep[i])) != NULL &&
		    env_add(store, off, &n, keep[i], v) == -1)
			log_warning("%s is too long for a child's environment; "
			    "left out", keep[i]);
	for (i = 0; i < n; i++)
		env[i] = store->data + off[i];
	env[i] = NULL;
	return r != 0 ? -1 : 0;
}

struct proc *
proc_spawn_as(struct service *s, const struct session_args *sa,
    enum spawn_kind kind)
{
	char *argv[8], *env[ENV_MAX + 1];
	struct buf store;
	struct proc *p;
	sigset_t all;
	int sv[2] = { -1, -1 };
	int listeners = s->kind == SVC_POOL && sa == NULL && (s->front ?
	    kind == SPAWN_FRONT : 1);
	pid_t pid;

	if (s->kind == SVC_POOL &&
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_error("service %s: socketpair: %s", s->name,
		    strerror(errno));
		return NULL;
	}
	buf_init(&store, 8192);
	if (child_env(s, sa, kind, env, &store) == -1) {
		log_error("service %s: the environment of a new process does "
		    "not fit", s->name);
		buf_free(&store);
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
		return NULL;
	}
	argv[0] = kind == SPAWN_FRONT ? s->front_program : sa != NULL &&
	    s->session_program != NULL ? s->session_program : s->program;
	argv[1] = "-c";
	argv[2] = (char *)(uintptr_t)M.conf_path;
	if (s->kind == SVC_POOL) {
		argv[3] = "-s";
		argv[4] = s->name;
		argv[5] = sa != NULL ? "-P" : NULL;
		argv[6] = NULL;
	} else {
		argv[3] = "-f";
		argv[4] = NULL;
	}
	if ((pid = fork()) == -1) {
		log_error("service %s: fork: %s", s->name, strerror(errno));
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
		buf_free(&store);
		return NULL;
	}
	if (pid == 0) {
		/* Its own session: a terminal's ^C reaches chapard only,
		 * which then stops everything in order. */
		(void)setsid();
		sigemptyset(&all);
		(void)sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		arrange_fds(sv[1], s, sa, listeners);
		execve(argv[0], argv, env);
		_exit(127);
	}
	buf_free(&store);
	if (sv[1] >= 0)
		close(sv[1]);
	/* chapard never waits on a child that does not read */
	if (sv[0] >= 0 && fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		log_error("service %s: O_NONBLOCK: %s", s->name,
		    strerror(errno));
	p = xcalloc(1, sizeof(*p));
	p->pid = pid;
	p->svc = s;
	p->status_fd = sv[0];
	p->state = s->kind == SVC_DAEMON ? P_RUNNING : sa != NULL ? P_SESSION :
	    P_STARTING;
	p->session = sa != NULL;
	p->front = kind == SPAWN_FRONT;
	p->listens = listeners && kind == SPAWN_WORKER;
	p->since = now_sec();
	p->started_ms = now_ms();
	p->next = s->procs;
	s->procs = p;
	s->nprocs++;
	log_debug("service %s: started pid %ld", s->name, (long)pid);
	return p;
}

struct proc *
proc_spawn(struct service *s, enum spawn_kind kind)
{
	return proc_spawn_as(s, NULL, kind);
}


