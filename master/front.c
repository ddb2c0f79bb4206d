/*
 * front.c: chapard's side of smtpfront(8), the event-driven process that
 * holds the clients of a service with front = yes until they are live.
 *
 * chapard still reads nothing from a client.  The front sends a client's
 * descriptor with the bytes it read (FRONT_PASS); chapard checks that the
 * descriptor is a connected TCP socket accepted on one of the service's
 * listeners, takes the client's address from the kernel (never from the
 * front), admits it against the service's limits and sends it on to an
 * idle worker (TAKE), starting workers within max_procs when none is
 * idle.  The front hears FRONT_TAKEN (close your copy) or FRONT_BUSY
 * (keep it and try again; with a reason, turn it away), and FRONT_WAKE
 * once a worker is free again.  The front is trusted no more than a
 * worker: a malformed message, a message out of turn or a descriptor
 * that is not such a socket gets it killed.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chapard.h"
#include "chapar/ipc.h"
#include "chapar/log.h"
#include "chapar/util.h"

/* Is fd a connected TCP client of one of the service's listeners?  1
 * with its address in ip; 0 when it is no longer connected (the client
 * went away); -1 when it never was one. */
static int
front_client(const struct service *s, int fd, char *ip, size_t iplen)
{
	static const int opt[] = { SO_TYPE, SO_DOMAIN, SO_PROTOCOL,
		SO_ACCEPTCONN };
	struct sockaddr_storage ss;
	struct stat st;
	socklen_t len;
	int v[4], i;

	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode))
		return -1;
	for (i = 0; i < 4; i++) {
		len = sizeof(v[i]);
		if (getsockopt(fd, SOL_SOCKET, opt[i], &v[i], &len) == -1)
			return -1;
	}
	/* a listening socket would let a worker accept for itself */
	if (v[0] != SOCK_STREAM || (v[1] != AF_INET && v[1] != AF_INET6) ||
	    v[2] != IPPROTO_TCP || v[3] != 0)
		return -1;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	for (i = 0; i < s->nls; i++)
		if (s->ls[i].addr.ss.ss_family == ss.ss_family &&
		    sockaddr_port((const struct sockaddr *)&s->ls[i].addr.ss) ==
		    sockaddr_port((struct sockaddr *)&ss))
			break;
	if (i == s->nls)
		return -1;
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	sockaddr_text((struct sockaddr *)&ss, ip, iplen);
	return 1;
}

/* A worker that may take a client now. */
static int
ready(const struct proc *p)
{
	return !p->front && !p->session && p->hello && p->state == P_IDLE &&
	    !p->quit_asked && p->status_fd >= 0 && p->ip[0] == '\0';
}

static struct proc *
idle_worker(const struct service *s)
{
	struct proc *p;

	for (p = s->procs; p != NULL; p = p->next)
		if (ready(p))
			return p;
	return NULL;
}

/* No worker is idle: start as many as clients wait (the front says how
 * many more it holds), within max_procs; one at a time would let a
 * burst of live clients wait for each start in turn. */
static void
grow(struct service *s, uint64_t queued)
{
	unsigned starting = 0, live = service_live(s);
	struct proc *p;

	if (M.stopping || s->gone || now_ms() < s->backoff_until)
		return;
	for (p = s->procs; p != NULL; p = p->next)
		if (!p->front && !p->session && p->state == P_STARTING)
			starting++;
	while (starting < queued + 1 && live < s->max_procs) {
		if (proc_spawn(s, SPAWN_WORKER) == NULL) {
			s->backoff_until = now_ms() + 1000; /* no busy loop */
			return;
		}
		starting++;
		live++;
	}
}

/* The client goes to worker w, which becomes busy with it. */
static int
give(struct proc *w, int fd, const char *ip, struct sv data)
{
	struct rec t;
	int r;

	rec_init(&t);
	rec_set(&t, "data", data);
	r = proc_tell(w, IPC_TAKE, &t, fd);
	rec_free(&t);
	if (r == -1)
		return -1;	/* killed: it does not read */
	(void)xsnprintf(w->ip, sizeof(w->ip), "%s", ip);
	w->user[0] = '\0';
	w->handed = 0;
	proc_set(w, P_BUSY);
	w->svc->served++;
	w->served++;
	log_debug("service %s: client %s from the front to pid %ld",
	    w->svc->name, ip, (long)w->pid);
	return 0;
}

static void
answer(struct proc *f, int type, uint64_t id, const char *reason)
{
	struct rec a;

	rec_init(&a);
	rec_set_u64(&a, "id", id);
	if (reason != NULL)
		rec_set_str(&a, "reason", reason);
	(void)proc_tell(f, type, &a, -1);
	rec_free(&a);
}

/* FRONT_PASS from f: a live client for a worker. */
void
front_pass(struct proc *f, struct rec *r, int fd)
{
	struct service *s = f->svc;
	struct ipc_front m;
	const char *why = NULL, *reason = NULL;
	char ip[NET_ADDRSTRLEN], what[160];
	struct proc *w;
	int c;

	if (!f->front || !f->hello ||
	    ipc_front_parse(IPC_FRONT_PASS, r, &m, &why) == -1) {
		if (fd >= 0)
			close(fd);
		(void)xsnprintf(what, sizeof(what), "%s%s%s", !f->front ?
		    "sent a client but is not the front" : !f->hello ?
		    "sent a client before HELLO" : "sent a bad FRONT_PASS (",
		    f->front && f->hello ? why : "",
		    f->front && f->hello ? ")" : "");
		proc_drop(f, what);
		return;
	}
	if (fd < 0) {
		/* chapard is out of descriptors: the front keeps it */
		answer(f, IPC_FRONT_BUSY, m.id, NULL);
		return;
	}
	c = front_client(s, fd, ip, sizeof(ip));
	if (c == -1 && !f->quit_asked) {
		close(fd);
		proc_drop(f, "sent a descriptor that is not a TCP client of "
		    "its service");
		return;
	}
	if (c == -1)	/* a front draining after a reload changed ports */
		reason = "the service has changed; try again";
	else if (c == 0)
		reason = "the connection is gone";
	else if (M.stopping || s->gone)
		reason = "shutting down";
	else if ((w = idle_worker(s)) == NULL) {
		grow(s, m.queued);
		s->front_waiting = 1;
		close(fd);
		answer(f, IPC_FRONT_BUSY, m.id, NULL);
		return;
	} else if (iptable_admit(s, ip, &reason) == -1)
		s->refused++;
	else if (give(w, fd, ip, m.data) == -1) {
		iptable_release(s, ip);
		close(fd);
		answer(f, IPC_FRONT_BUSY, m.id, NULL);
		return;
	}
	close(fd);
	answer(f, reason != NULL ? IPC_FRONT_BUSY : IPC_FRONT_TAKEN, m.id,
	    reason);
}

/* A worker of s is idle: a front that was told "busy" may try again. */
void
front_worker_free(struct service *s)
{
	struct proc *p;
	struct rec r;
	unsigned idle = 0;

	if (!s->front_waiting)
		return;
	s->front_waiting = 0;
	for (p = s->procs; p != NULL; p = p->next)
		idle += ready(p);
	rec_init(&r);
	rec_set_u64(&r, "idle", idle);
	for (p = s->procs; p != NULL; p = p->next)
		if (p->front && p->hello && p->status_fd >= 0)
			(void)proc_tell(p, IPC_FRONT_WAKE, &r, -1);
	rec_free(&r);
}

/* A service with front = yes always has one front that is not
 * quitting (one draining after a reload may run beside it). */
void
front_maintain(struct service *s)
{
	struct proc *p;

	for (p = s->procs; p != NULL; p = p->next)
		if (p->front && p->state != P_QUITTING)
			return;
	if (proc_spawn(s, SPAWN_FRONT) == NULL)
		log_error("service %s: cannot start its front", s->name);
}
