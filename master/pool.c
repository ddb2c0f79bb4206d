/*
 * pool.c: the processes of chapard's services -- what they say, when
 * they die, the hand-overs, the TLS ticket keys, stopping.  The
 * services themselves are built in service.c, processes started in
 * spawn.c.
 *
 * A pool service keeps `prefork` idle workers, at most `max_procs`; each
 * worker exits by itself after `max_use` connections.  A daemon service
 * (authd) is one long-running process.  A process that dies abnormally
 * is replaced; when a service keeps dying the replacements are delayed,
 * doubling from one second up to a minute for a daemon and 4 seconds for
 * a pool, and logged.
 *
 * Every process is fork()ed and exec()ed (fresh address space), gets the
 * status socket at descriptor 3 and its listening sockets from 4 on, and
 * nothing else.
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

/* A daemon that keeps dying is broken and waits up to a minute; a pool's
 * workers may die because of what a client sent, and a minute without
 * new workers would be a minute's outage a client can cause at will. */
#define BACKOFF_MAX_MS 60000
#define POOL_BACKOFF_MAX_MS 4000
#define FAILURES_BEFORE_BACKOFF 3
#define HEALTHY_MS 10000	/* a process that lived this long was fine */

unsigned
service_idle(const struct service *s)
{
	const struct proc *p;
	unsigned n = 0;

	for (p = s->procs; p != NULL; p = p->next)
		if (!p->front && (p->state == P_IDLE || p->state == P_STARTING))
			n++;
	return n;
}

unsigned
service_live(const struct service *s)
{
	const struct proc *p;
	unsigned n = 0;

	for (p = s->procs; p != NULL; p = p->next)
		if (!p->front && p->state != P_QUITTING &&
		    p->state != P_SESSION)
			n++;
	return n;
}

struct proc *
proc_by_fd(int fd)
{
	struct service *s;
	struct proc *p;

	for (s = M.services; s != NULL; s = s->next)
		for (p = s->procs; p != NULL; p = p->next)
			if (p->status_fd == fd)
				return p;
	return NULL;
}

/* Send to a child; one that does not take it is broken: dropped. */
int
proc_tell(struct proc *p, int type, const struct rec *r, int fd)
{
	if (p->status_fd < 0)
		return -1;
	if (ipc_send(p->status_fd, type, r, fd) == 0)
		return 0;
	log_error("service %s: pid %ld does not take messages (%s); killing "
	    "it", p->svc->name, (long)p->pid, strerror(errno));
	proc_status_lost(p);
	/* chapard's own decision: not a failure of the service (an attacker
	 * in one worker must not stall the pool with backoff) */
	p->quit_asked = 1;
	(void)kill(p->pid, SIGKILL);
	return -1;
}

static int
tell(struct proc *p, int type, const struct rec *r)
{
	return proc_tell(p, type, r, -1);
}

/* A child broke the protocol: it goes. */
void
proc_drop(struct proc *p, const char *why)
{
	log_error("service %s: pid %ld %s; killing it", p->svc->name,
	    (long)p->pid, why);
	proc_status_lost(p);
	p->quit_asked = 1;	/* as in tell(): no backoff for this */
	(void)kill(p->pid, SIGKILL);
}

void
proc_quit(struct proc *p)
{
	if (p->quit_asked)
		return;
	p->quit_asked = 1;
	p->state = P_QUITTING;
	p->since = now_sec();
	if (p->svc->kind == SVC_DAEMON || p->status_fd < 0)
		(void)kill(p->pid, SIGTERM);
	else if (p->front && M.stopping) {
		struct rec r;

		/* the front turns its clients away rather than finishing
		 * with them (as at a reload) */
		rec_init(&r);
		rec_set_str(&r, "stop", "1");
		(void)tell(p, IPC_QUIT, &r);
		rec_free(&r);
	} else
		(void)tell(p, IPC_QUIT, NULL);
}

static int
valid_ip(const char *ip)
{
	unsigned char a[16];

	return ip != NULL && (inet_pton(AF_INET, ip, a) == 1 ||
	    inet_pton(AF_INET6, ip, a) == 1);
}

/* "local" is the address of a client of a UNIX-domain listener. */
static int
local_client(const struct service *s, const char *ip, const struct rec *r)
{
	uint64_t idx;

	return ip != NULL && strcmp(ip, "local") == 0 &&
	    rec_get_u64(r, "listener", &idx) == 0 && idx < (uint64_t)s->nls &&
	    s->ls[idx].addr.ss.ss_family == AF_UNIX;
}

static unsigned
sessions(const struct service *s)
{
	const struct proc *p;
	unsigned n = 0;

	for (p = s->procs; p != NULL; p = p->next)
		if (p->state == P_SESSION)
			n++;
	return n;
}

/* What a worker hands over must be a client connection: a stream socket
 * of the Internet or of the local domain, not a directory or a file that
 * could lead a session out of its chroot. */
static int
client_socket(int fd)
{
	struct stat st;
	int type, domain;
	socklen_t len = sizeof(int);

	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1 ||
	    type != SOCK_STREAM)
		return 0;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == -1)
		return 0;
	return domain == AF_INET || domain == AF_INET6 || domain == AF_UNIX;
}

/* A worker hands over a logged-in session: start the post-login side
 * with the client on descriptor 0.  The client's place in the address
 * limits moves to the session. */
static void
handoff(struct proc *w, struct rec *r, int fd)
{
	struct session_args sa;
	struct proc *p;
	struct rec res;
	const char *tok = rec_get_str(r, "token");
	const char *state = rec_get_str(r, "state");
	const char *id = rec_get_str(r, "id");
	const char *why = NULL;
	size_t i;

	rec_init(&res);
	if (w->session || (w->state != P_BUSY && w->state != P_QUITTING) ||
	    w->ip[0] == '\0' || w->handed) {
		/* only for the connection chapard admitted, once */
		if (fd >= 0)
			close(fd);
		proc_drop(w, "sent a hand-over without a connection");
		rec_free(&res);
		return;
	}
	w->handed = 1;
	if (fd < 0 || !client_socket(fd))
		why = "no client connection came with the hand-over";
	else if (tok == NULL || strlen(tok) != 32 ||
	    strspn(tok, "0123456789abcdef") != 32)
		why = "malformed hand-over";
	else if (state != NULL && strlen(state) > 1024)
		why = "state too long";
	else if (id != NULL && (strlen(id) > 32 || strspn(id,
	    "0123456789ABCDEF") != strlen(id)))
		why = "malformed log id";
	for (i = 0; why == NULL && state != NULL && state[i] != '\0'; i++)
		if ((unsigned char)state[i] < 0x20)
			why = "state with control characters";
	if (why == NULL && sessions(w->svc) >= w->svc->max_sessions)
		why = "too many sessions";
	if (why == NULL && (M.stopping || w->svc->gone))
		why = "shutting down";
	if (why == NULL) {
		sa.client = fd;
		sa.token = tok;
		sa.state = state != NULL ? state : "";
		sa.peer = w->ip[0] ? w->ip : "unknown";
		sa.log_id = id != NULL ? id : "";
		if ((p = proc_spawn_as(w->svc, &sa, SPAWN_WORKER)) == NULL)
			why = "cannot start the session";
		else {
			memcpy(p->ip, w->ip, sizeof(p->ip));
			p->origin = w->pid;
			p->origin_authd = authd_pid();
			w->ip[0] = '\0';
		}
	}
	if (fd >= 0)
		close(fd);
	if (why != NULL) {
		log_warning("service %s: hand-over from pid %ld refused: %s",
		    w->svc->name, (long)w->pid, why);
		rec_set_str(&res, "reason", why);
	} else
		rec_set_str(&res, "ok", "1");
	(void)tell(w, IPC_HANDOFF_RESULT, &res);
	rec_free(&res);
}

static void
proc_free(struct service *s, struct proc *dead)
{
	struct proc **pp;

	for (pp = &s->procs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == dead) {
			*pp = dead->next;
			break;
		}
	if (dead->status_fd >= 0)
		close(dead->status_fd);
	if (dead->ip[0] != '\0')	/* its client's slot */
		iptable_release(s, dead->ip);
	s->nprocs--;
	free(dead);
}

static void
describe_exit(int st, char *out, size_t len)
{
	if (WIFSIGNALED(st))
		(void)xsnprintf(out, len, "killed by signal %d%s",
		    WTERMSIG(st), WCOREDUMP(st) ? " (core dumped)" : "");
	else
		(void)xsnprintf(out, len, "exit status %d", WEXITSTATUS(st));
}

/* The pid of the running authd, or 0. */
pid_t
authd_pid(void)
{
	struct service *s;
	struct proc *p;

	for (s = M.services; s != NULL; s = s->next)
		if (s->kind == SVC_DAEMON && strcmp(s->name, "authd") == 0)
			for (p = s->procs; p != NULL; p = p->next)
				if (p->state == P_RUNNING)
					return p->pid;
	return 0;
}

/* The worker that handed over a session whose token authd refused. */
static void
drop_origin(struct service *s, pid_t origin)
{
	struct proc *w;

	for (w = s->procs; w != NULL; w = w->next)
		if (w->pid == origin && !w->session) {
			proc_drop(w, "handed over a session with a token authd "
			    "refused");
			return;
		}
	log_warning("service %s: a session's token was refused (its worker "
	    "pid %ld is gone)", s->name, (long)origin);
}

/* A child is gone: account for it; pool maintenance replaces it. */
void
service_reap(pid_t pid, int st)
{
	struct service *s;
	struct proc *p = NULL;
	char how[64];
	int abnormal, quitting;

	for (s = M.services; s != NULL && p == NULL; s = s->next)
		for (p = s->procs; p != NULL; p = p->next)
			if (p->pid == pid)
				break;
	if (p == NULL)
		return;
	s = p->svc;
	quitting = p->quit_asked || M.stopping;
	abnormal = !quitting && (WIFSIGNALED(st) || WEXITSTATUS(st) != 0);
	describe_exit(st, how, sizeof(how));
	if (p->session) {
		/* A session ends how its client likes; it says nothing
		 * about whether the service can start.  One that could not
		 * redeem its token was sent by a worker that lied. */
		/* Only when the session never said who it serves (it says
		 * so right after the token is redeemed) and the authd that
		 * refused is the one that was up at the hand-over (a
		 * restarted authd has forgotten its tokens). */
		if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_BADTOKEN &&
		    p->user[0] == '\0' && p->origin_authd != 0 &&
		    p->origin_authd == authd_pid())
			drop_origin(s, p->origin);
		else if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_BADTOKEN)
			log_warning("service %s: a session's token was refused "
			    "(authd restarted since the hand-over?)", s->name);
		else if (abnormal && WIFSIGNALED(st))
			log_error("service %s: session pid %ld died: %s",
			    s->name, (long)pid, how);
		else if (abnormal)
			log_warning("service %s: session pid %ld died: %s",
			    s->name, (long)pid, how);
		proc_free(s, p);
		return;
	}
	if (abnormal) {
		uint64_t max = s->kind == SVC_POOL ? POOL_BACKOFF_MAX_MS :
		    BACKOFF_MAX_MS;

		s->crashes++;
		s->failures++;
		/* every one, at error level: it may be a client's doing */
		log_error("service %s: pid %ld died: %s%s%s", s->name,
		    (long)pid, how, p->state == P_BUSY ? " serving " : "",
		    p->state == P_BUSY ? p->ip : "");
		if (s->failures >= FAILURES_BEFORE_BACKOFF) {
			if (s->backoff > max)
				s->backoff = max;
			s->backoff_until = now_ms() + s->backoff;
			log_error("service %s: %u abnormal exits in a row; "
			    "next start in %llu s", s->name, s->failures,
			    (unsigned long long)(s->backoff / 1000));
			if ((s->backoff *= 2) > max)
				s->backoff = max;
		}
	} else {
		log_debug("service %s: pid %ld exited: %s", s->name,
		    (long)pid, how);
		if (now_ms() - p->started_ms >= HEALTHY_MS || p->served > 0) {
			s->failures = 0;
			s->backoff = BACKOFF_START_MS;
		}
	}
	proc_free(s, p);
}

/* The worker's status socket closed or broke: it is exiting (or must). */
void
proc_status_lost(struct proc *p)
{
	close(p->status_fd);
	p->status_fd = -1;
	if (p->ip[0] != '\0')
		iptable_release(p->svc, p->ip);
	p->ip[0] = '\0';
	/* no longer counted as idle; the reaper decides what the exit
	 * means */
	p->state = P_QUITTING;
	p->since = now_sec();
}

static void
send_tickets(struct proc *p)
{
	struct rec r;

	rec_init(&r);
	rec_add(&r, "key", sv_make(M.tickets[0], 80));
	rec_add(&r, "key", sv_make(M.tickets[1], 80));
	(void)tell(p, IPC_TICKETS, &r);
	rec_free(&r);
}

/* TLS ticket keys: a new one every 12 hours; the previous one still
 * decrypts, so a ticket lives at most a day. */
void
tickets_rotate(int force)
{
	struct service *s;
	struct proc *p;

	if (!force && now_sec() - M.tickets_rotated < 12 * 3600)
		return;
	memcpy(M.tickets[1], M.tickets[0], 80);
	rand_bytes(M.tickets[0], 80);
	if (force)
		rand_bytes(M.tickets[1], 80);
	M.tickets_rotated = now_sec();
	/* pre-login workers only: a session (mail_user) has no business
	 * with TLS keys */
	for (s = M.services; s != NULL; s = s->next)
		for (p = s->procs; p != NULL; p = p->next)
			if (p->status_fd >= 0 && !p->session && !p->front &&
			    p->state != P_STARTING)
				send_tickets(p);
}

void
proc_set(struct proc *p, enum proc_state st)
{
	p->state = st;
	p->since = now_sec();
}

static void
hello(struct proc *p)
{
	if (p->session || p->hello) {
		proc_drop(p, "sent HELLO out of turn");
		return;
	}
	p->hello = 1;
	if (p->front) {
		/* no TLS in the front: no ticket keys */
		if (!p->quit_asked)
			proc_set(p, P_FRONT);
		return;
	}
	if (!p->quit_asked)
		proc_set(p, P_IDLE);
	send_tickets(p);
	front_worker_free(p->svc);
}

/* A worker's connection is over; with last=1 it takes no more (max_use,
 * or it was told to finish), so nothing is handed to it any more. */
static void
done(struct proc *p, const struct rec *r)
{
	struct service *s = p->svc;

	if (p->session || p->front) {
		proc_drop(p, p->session ? "(a session) sent DONE" :
		    "(the front) sent DONE");
		return;
	}
	if (p->ip[0] != '\0')
		iptable_release(s, p->ip);
	p->ip[0] = '\0';
	p->user[0] = '\0';
	if (rec_get(r, "last") != NULL) {
		p->quit_asked = 1;
		proc_set(p, P_QUITTING);
	} else if (!p->quit_asked && p->state != P_SESSION) {
		proc_set(p, P_IDLE);
		front_worker_free(s);
	}
}

/* One message from a worker. */
void
proc_message(struct proc *p)
{
	struct service *s = p->svc;
	const char *why, *ip;
	struct rec r;
	int type, fd, ret;

	rec_init(&r);
	ret = ipc_recv(p->status_fd, &type, &r, &fd, &why);
	if (fd >= 0 && ret == 1 && type != IPC_HANDOFF &&
	    type != IPC_FRONT_PASS) {
		close(fd);
		proc_drop(p, "sent a descriptor where none belongs");
		rec_free(&r);
		return;
	}
	if (ret < 0) {
		char what[128];

		(void)xsnprintf(what, sizeof(what), "sent a bad message (%s)",
		    why);
		proc_drop(p, what);
		rec_free(&r);
		return;
	}
	if (ret == 0) {
		proc_status_lost(p);	/* it is exiting */
		rec_free(&r);
		return;
	}
	switch (type) {
	case IPC_HELLO:
		hello(p);
		break;
	case IPC_CONN:
		ip = rec_get_str(&r, "ip");
		/* one connection at a time, an address that is one (or
		 * "local" from a UNIX-domain listener), from a worker that
		 * has listening sockets (behind a front, none has) */
		if (!p->listens || p->ip[0] != '\0' || (p->state != P_IDLE &&
		    p->state != P_QUITTING) || (!valid_ip(ip) &&
		    !local_client(s, ip, &r))) {
			proc_drop(p, "sent a CONN out of turn or with a bad "
			    "address");
			break;
		}
		/* A worker told to quit may have accepted this one already:
		 * it is served all the same. */
		if (iptable_admit(s, ip, &why) == -1) {
			struct rec lr;

			s->refused++;
			rec_init(&lr);
			rec_set_str(&lr, "reason", why);
			(void)tell(p, IPC_CONN_LIMIT, &lr);
			rec_free(&lr);
			break;
		}
		(void)xsnprintf(p->ip, sizeof(p->ip), "%s", ip);
		p->user[0] = '\0';
		p->handed = 0;
		if (tell(p, IPC_CONN_OK, NULL) == -1)
			break;
		if (!p->quit_asked)
			proc_set(p, P_BUSY);
		s->served++;
		p->served++;
		break;
	case IPC_USER:
		if (p->front) {
			proc_drop(p, "(the front) sent USER");
			break;
		}
		(void)xsnprintf(p->user, sizeof(p->user), "%s",
		    rec_get_str(&r, "user") ? rec_get_str(&r, "user") : "");
		break;
	case IPC_HANDOFF:
		handoff(p, &r, fd);
		break;
	case IPC_DONE:
		done(p, &r);
		break;
	case IPC_FRONT_PASS:
		front_pass(p, &r, fd);
		break;
	default:
		proc_drop(p, "sent a message only chapard sends");
	}
	rec_free(&r);
}

/* Keep each pool at prefork idle workers (within max_procs), let surplus
 * idle ones go after idle_timeout, restart daemons; honour backoff. */
void
services_maintain(void)
{
	struct service *s, **sp;
	struct proc *p;
	unsigned idle, live;

	for (sp = &M.services; (s = *sp) != NULL;) {
		if (s->gone && s->procs == NULL) {
			*sp = s->next;
			service_free(s);
			continue;
		}
		sp = &s->next;
		iptable_tick(s);
		if (s->gone || M.stopping || now_ms() < s->backoff_until)
			continue;
		live = service_live(s);
		if (s->kind == SVC_DAEMON) {
			/* after the old one is gone: it may hold a socket */
			if (s->procs == NULL)
				proc_spawn(s, SPAWN_WORKER);
			continue;
		}
		if (s->front)
			front_maintain(s);
		idle = service_idle(s);
		while (idle < s->prefork && live < s->max_procs) {
			proc_spawn(s, SPAWN_WORKER);
			idle++;
			live++;
		}
		/* With no idle worker, chapard watches the listeners and
		 * starts one when a client waits (services_waiting). */
		for (p = s->procs; p != NULL && idle > s->prefork;
		    p = p->next)
			if (p->state == P_IDLE && (uint64_t)(now_sec() -
			    p->since) >= s->idle_timeout) {
				proc_quit(p);
				idle--;
			}
	}
}

/* Listening sockets of pools that have no idle worker but may start
 * one: chapard polls them (never accepts) to learn that a client waits. */
size_t
services_waiting_fds(struct pollfd *pfd, struct service **owner, size_t max)
{
	struct service *s;
	size_t n = 0;
	int i;

	if (M.stopping)
		return 0;
	for (s = M.services; s != NULL; s = s->next) {
		/* behind a front, chapard hears of waiting clients from it */
		if (s->kind != SVC_POOL || s->gone || s->front ||
		    now_ms() < s->backoff_until || service_idle(s) > 0)
			continue;
		if (service_live(s) >= s->max_procs)
			continue;
		for (i = 0; i < s->nls && n < max; i++) {
			pfd[n].fd = s->ls[i].fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			owner[n++] = s;
		}
	}
	return n;
}

/* A client waits on a pool without an idle worker: start one. */
void
service_wanted(struct service *s)
{
	if (service_idle(s) == 0 && !s->gone && !M.stopping &&
	    now_ms() >= s->backoff_until && proc_spawn(s, SPAWN_WORKER) == NULL)
		s->backoff_until = now_ms() + 1000;	/* no busy loop */
}

/* Stop, first step: no new connections anywhere. */
void
services_stop_begin(void)
{
	struct service *s;

	for (s = M.services; s != NULL; s = s->next)
		close_listeners(s);
}

static int
has_procs(const char *daemon)
{
	const struct service *s;

	for (s = M.services; s != NULL; s = s->next)
		if (s->kind == SVC_DAEMON && strcmp(s->name, daemon) == 0 &&
		    s->procs != NULL)
			return 1;
	return 0;
}

/* A pool of local(8), the LMTP agent qmgr delivers through. */
static int
is_local(const struct service *s)
{
	const char *slash = strrchr(s->program, '/');

	return strcmp(slash != NULL ? slash + 1 : s->program, "local") == 0;
}

/*
 * Stop, every turn of the loop until nothing is left: each process is
 * told once, in an order that lets each finish without waiting for
 * another.
 *   1. qmgr (it closes its kept LMTP connections) and the pools that do
 *      not deliver for it: smtpd, pop3d, ...;
 *   2. once qmgr is gone: the local pools (their connections from qmgr
 *      are closed by then) and remote, qmgr's SMTP client;
 *   3. once every pool is gone: enqueue (smtpd writes to it until the
 *      end of its sessions) and authd (which sessions and qmgr ask).
 * A pool worker told to quit ends its session at the next point the
 * protocol allows; shutdown_grace bounds it all (main.c).
 */
void
services_stop_step(void)
{
	struct service *s;
	struct proc *p;
	int queue = has_procs("qmgr"), pools = 0;

	for (s = M.services; s != NULL; s = s->next)
		if (s->kind == SVC_POOL && s->procs != NULL)
			pools = 1;
	for (s = M.services; s != NULL; s = s->next) {
		if (s->kind == SVC_POOL ? queue && is_local(s) :
		    strcmp(s->name, "qmgr") != 0 &&
		    (queue || (pools && strcmp(s->name, "remote") != 0)))
			continue;
		for (p = s->procs; p != NULL; p = p->next)
			proc_quit(p);
	}
}

/* As root: the accounts of DESIGN.md 2 and of every configured service,
 * and the directories workers are chrooted into. */
int
accounts_ensure(struct config *cf, struct buf *err)
{
	return priv_ensure_accounts(cf, err);
}

