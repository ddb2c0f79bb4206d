/*
 * front.c: smtpfront(8), the SMTP front of a service with front = yes
 * (the role of Postfix's postscreen).  One process, one epoll loop, no
 * threads: it accepts on the service's listening sockets, holds every
 * client until the client has sent a complete first command line, and
 * only then asks chapard to hand it to a worker.  A client that never
 * speaks costs a descriptor and a hundred bytes here, never a worker.
 *
 * Before the greeting it waits smtpd_greet_pause and refuses a client
 * that talks meanwhile (554); it sends the greeting smtpd would send;
 * then it waits up to smtpd_timeout for a line (421 after that, 500 for
 * a line longer than SMTP_LINE_MAX).  It limits clients per address
 * (front_client_limit) and in all (front_max_connections).
 *
 * Trusts chapard (its parent) and the configuration.  From a client it
 * reads at most one command line's worth of bytes, looks only for the
 * line's end (and whether it is an HTTP request), and passes the bytes on
 * as they came.  It runs as the service's user, chrooted into an empty
 * directory, and can open nothing.
 */
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/config.h"
#include "chapar/ipc.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/priv.h"
#include "chapar/smtp.h"
#include "chapar/util.h"
#include "smtpd.h"

#define STATUS_FD 3
#define FIRST_LISTEN_FD 4
#define MAX_LISTEN 64
#define INPUT_MAX (SMTP_LINE_MAX + 2)	/* a line and its CRLF */
#define FD_SPARE 64		/* beyond the clients: listeners, logging */
#define INFLIGHT_MAX 8		/* hand-offs chapard has not answered */
#define BUSY_MAX_MS 30000	/* a live client waits this long for a worker */
#define RETRY_MS 1000		/* then tries again without a wake-up */
#define ACCEPT_BURST 64		/* per listener and turn of the loop */
#define NBUCKETS 4096		/* of the per-address table */

#if INPUT_MAX > IPC_PASS_DATA_MAX
#error "a line does not fit in a hand-off"
#endif

/* Where a client is.  Each state has a list, in the order clients
 * entered it; PAUSE and WAIT have a fixed length, so each list is also
 * in the order of its deadlines and only its head needs a look. */
enum cstate { C_PAUSE, C_WAIT, C_READY, C_PASSING, C_NSTATES };

struct addr_ent {
	unsigned char addr[16];
	int family;
	unsigned count;
	struct addr_ent *next;
};

struct client {
	struct client *prev, *next;	/* in the list of its state */
	struct addr_ent *ip;	/* NULL: not counted (an exception) */
	char *in;		/* what it sent, allocated at its first byte */
	uint64_t id;		/* for chapard, while passing */
	uint64_t since;		/* ms: entered PAUSE or WAIT; became live */
	int fd;
	uint16_t nin;
	uint8_t state;
};

struct clist {
	struct client *head, *tail;
	size_t n;
};

/* What a refusal of many looks like in the log: one line, then at most
 * one a second with the count (a storm must not become a log storm). */
struct lograte {
	const char *reason;
	uint64_t last;
	unsigned long pending;
};

static struct {
	struct config *cf;
	const char *service;
	char host[256];
	char ident[96];
	int ep;
	int nlisten;
	int listening;		/* the listeners are in the epoll set */
	uint64_t listen_again;	/* ms: accept again after EMFILE */
	uint64_t pause_ms, timeout_ms;
	unsigned max_conns, client_limit;
	struct netmask exc[64];
	size_t nexc;
	struct clist lists[C_NSTATES];
	size_t nclients;
	uint64_t next_id;
	int busy;		/* chapard said busy; pass one at a time */
	int probe;		/* ... and may try one now */
	uint64_t retry_at;	/* ms */
	int blocked;		/* the status socket is full */
	int watching_out;	/* ... and epoll tells when it is not */
	int quitting, stopping;
	struct addr_ent *table[NBUCKETS];
	uint64_t seed;
	struct lograte limit_log, full_log;
} F;

/* epoll's data.ptr: a client, or one of these */
static int tok_status, tok_listen[MAX_LISTEN];

/* --- lists ---------------------------------------------------------------- */

static void
list_del(struct client *c)
{
	struct clist *l = &F.lists[c->state];

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
	l->n--;
}

static void
list_add(struct client *c, enum cstate st, int at_head)
{
	struct clist *l = &F.lists[st];

	c->state = (uint8_t)st;
	if (at_head) {
		c->prev = NULL;
		c->next = l->head;
		if (l->head != NULL)
			l->head->prev = c;
		else
			l->tail = c;
		l->head = c;
	} else {
		c->next = NULL;
		c->prev = l->tail;
		if (l->tail != NULL)
			l->tail->next = c;
		else
			l->head = c;
		l->tail = c;
	}
	l->n++;
}

static void
move_to(struct client *c, enum cstate st, int at_head)
{
	list_del(c);
	list_add(c, st, at_head);
}

/* --- clients per address --------------------------------------------------- */

static size_t
addr_hash(int family, const unsigned char *a)
{
	uint64_t h = 1469598103934665603ULL ^ F.seed;
	int i;

	h ^= (unsigned)family;
	for (i = 0; i < 16; i++) {
		h ^= a[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h % NBUCKETS);
}

/* The address in 16 bytes (IPv4 and IPv4-mapped alike). */
static int
addr_key(const struct sockaddr_storage *ss, unsigned char out[16])
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

	memset(out, 0, 16);
	if (ss->ss_family == AF_INET) {
		memcpy(out, &s4->sin_addr, 4);
		return AF_INET;
	}
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(out, s6->sin6_addr.s6_addr + 12, 4);
		return AF_INET;
	}
	memcpy(out, &s6->sin6_addr, 16);
	return AF_INET6;
}

/* Count one more client of the address; NULL with *over set when it has
 * front_client_limit already. */
static struct addr_ent *
addr_take(const struct sockaddr_storage *ss, int *over)
{
	unsigned char a[16];
	int family = addr_key(ss, a);
	size_t h = addr_hash(family, a);
	struct addr_ent *e;

	*over = 0;
	for (e = F.table[h]; e != NULL; e = e->next)
		if (e->family == family && memcmp(e->addr, a, 16) == 0)
			break;
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		memcpy(e->addr, a, 16);
		e->family = family;
		e->next = F.table[h];
		F.table[h] = e;
	}
	if (F.client_limit > 0 && e->count >= F.client_limit) {
		*over = 1;
		return NULL;
	}
	e->count++;
	return e;
}

static void
addr_release(struct addr_ent *e)
{
	struct addr_ent **pp;
	size_t h;

	if (e == NULL || --e->count > 0)
		return;
	h = addr_hash(e->family, e->addr);
	for (pp = &F.table[h]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			free(e);
			return;
		}
}

/* --- replies and the log -------------------------------------------------- */

static void
peer_text(int fd, char *out, size_t len, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	*port = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == -1) {
		(void)xsnprintf(out, len, "unknown");
		return;
	}
	sockaddr_text((struct sockaddr *)&ss, out, len);
	*port = sockaddr_port((struct sockaddr *)&ss);
}

/* A reply that needs no waiting: a fresh socket's buffer always takes
 * a line, and a client that does not read is not waited for. */
static int
say(int fd, const char *text)
{
	size_t n = strlen(text);

	return send(fd, text, n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n ?
	    0 : -1;
}

static void
log_reject(int fd, const char *reason, const char *detail)
{
	char ip[NET_ADDRSTRLEN];
	int port;

	peer_text(fd, ip, sizeof(ip), &port);
	log_info("reject: client=%s, port=%d, reason=%s%s%s", ip, port, reason,
	    detail ? ", detail=" : "", detail ? log_esc_str(detail) : "");
}

/* For refusals that come in floods: the first line, then one a second. */
static void
log_rated(struct lograte *lr, int fd, int flush)
{
	uint64_t now = now_ms();

	if (!flush)
		lr->pending++;
	if (lr->pending == 0 || now - lr->last < 1000)
		return;
	if (lr->pending == 1 && fd >= 0)
		log_reject(fd, lr->reason, NULL);
	else
		log_info("reject: reason=%s, count=%lu (in the last second)",
		    lr->reason, lr->pending);
	lr->pending = 0;
	lr->last = now;
}

static void
client_free(struct client *c)
{
	list_del(c);
	if (c->state != C_READY && c->state != C_PASSING)
		(void)epoll_ctl(F.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	addr_release(c->ip);
	free(c->in);
	free(c);
	F.nclients--;
}

/* Say the last words, log why, and let the client go. */
static void
refuse(struct client *c, const char *reply, const char *reason,
    const char *detail)
{
	if (reply != NULL)
		(void)say(c->fd, reply);
	if (reason != NULL)
		log_reject(c->fd, reason, detail);
	client_free(c);
}

/* --- the life of a client --------------------------------------------------- */

static void
greet(struct client *c)
{
	char line[512];
	struct epoll_event ev;

	(void)xsnprintf(line, sizeof(line), "220 %s ESMTP Chapar\r\n", F.host);
	if (say(c->fd, line) == -1) {
		client_free(c);
		return;
	}
	move_to(c, C_WAIT, 0);
	c->since = now_ms();
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = c;
	(void)epoll_ctl(F.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
accept_one(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct epoll_event ev;
	struct client *c;
	struct addr_ent *e = NULL;
	char ip[NET_ADDRSTRLEN];
	int fd, over = 0;

	fd = accept4(lfd, (struct sockaddr *)&ss, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE) {
			/* do not spin on a listener we cannot take from */
			log_warning("accept: %s", strerror(errno));
			F.listen_again = now_ms() + 100;
		}
		return;
	}
	if (F.nclients >= F.max_conns) {
		(void)say(fd, "421 4.7.0 too busy, try again later\r\n");
		log_rated(&F.full_log, fd, 0);
		close(fd);
		return;
	}
	sockaddr_text((struct sockaddr *)&ss, ip, sizeof(ip));
	if (!netmask_match(F.exc, F.nexc, ip) &&
	    (e = addr_take(&ss, &over)) == NULL && over) {
		(void)say(fd, "421 4.7.0 too many connections from your "
		    "address\r\n");
		log_rated(&F.limit_log, fd, 0);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->ip = e;
	c->since = now_ms();
	list_add(c, C_PAUSE, 0);
	F.nclients++;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(F.ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_warning("epoll_ctl: %s", strerror(errno));
		list_del(c);
		F.nclients--;
		addr_release(e);
		close(fd);
		free(c);
		return;
	}
	if (F.pause_ms == 0)
		greet(c);
}

/* RFC 5321 4.3.1: a client waits for the greeting; one that talks
 * before it is not a mail client (smtpd_greet_pause). */
static void
pregreet_input(struct client *c)
{
	char tmp[512];
	ssize_t n;

	n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
	if (n > 0)
		refuse(c, "554 5.5.0 you talked before the greeting\r\n",
		    "pregreet", NULL);
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		client_free(c);
}

/* The client sent a whole line: it is live, and goes to a worker. */
static void
live(struct client *c, size_t eol)
{
	size_t n = eol;

	if (n > 0 && c->in[n - 1] == '\r')
		n--;
	/* what a worker would close at once (an HTTP request) takes no
	 * worker */
	if (smtp_not_smtp(sv_make(c->in, n))) {
		refuse(c, "521 5.5.1 this is an SMTP server\r\n", "not-smtp",
		    NULL);
		return;
	}
	(void)epoll_ctl(F.ep, EPOLL_CTL_DEL, c->fd, NULL);
	move_to(c, C_READY, 0);
	c->since = now_ms();
}

static void
line_input(struct client *c)
{
	const char *lf;
	ssize_t n;
	size_t old = c->nin;

	if (c->in == NULL)
		c->in = xmalloc(INPUT_MAX);
	n = recv(c->fd, c->in + c->nin, INPUT_MAX - c->nin, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_free(c);
		return;
	}
	if (n < 0)
		return;
	c->nin = (uint16_t)(c->nin + (size_t)n);
	if ((lf = memchr(c->in + old, '\n', c->nin - old)) != NULL)
		live(c, (size_t)(lf - c->in));
	else if (c->nin == INPUT_MAX)
		refuse(c, "500 5.5.2 line too long\r\n", "line-too-long",
		    NULL);
}

/* --- chapard -------------------------------------------------------------- */

/* Ask chapard to hand the client to a worker.  0 sent, -1 the status
 * socket is full (try later). */
static int
pass(struct client *c)
{
	struct rec r;
	int ret;

	c->id = ++F.next_id;
	rec_init(&r);
	rec_set_u64(&r, "id", c->id);
	rec_set(&r, "data", sv_make(c->in, c->nin));
	rec_set_u64(&r, "queued", F.lists[C_READY].n - 1);
	ret = ipc_send(STATUS_FD, IPC_FRONT_PASS, &r, c->fd);
	rec_free(&r);
	if (ret == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		F.blocked = 1;
		return -1;
	}
	if (ret == -1)
		log_fatal("status socket: %s", strerror(errno));
	move_to(c, C_PASSING, 0);
	return 0;
}

static void
watch_status(int out)
{
	struct epoll_event ev;

	if (out == F.watching_out)
		return;
	F.watching_out = out;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
	ev.data.ptr = &tok_status;
	(void)epoll_ctl(F.ep, EPOLL_CTL_MOD, STATUS_FD, &ev);
}

/* Hand live clients on, oldest first: several at a time while chapard
 * takes them, one at a time (a probe) after it said "busy". */
static void
pump(void)
{
	struct client *c;
	size_t max;

	for (;;) {
		max = F.busy ? (F.probe ? 1 : 0) : INFLIGHT_MAX;
		c = F.lists[C_READY].head;
		if (c == NULL || F.blocked || F.lists[C_PASSING].n >= max)
			break;
		if (pass(c) == -1)
			break;
		F.probe = 0;
	}
	watch_status(F.blocked);
}

static struct client *
passing(uint64_t id)
{
	struct client *c;

	for (c = F.lists[C_PASSING].head; c != NULL; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

/* chapard's answer about a client passed. */
static void
answered(int type, const struct ipc_front *m)
{
	struct client *c = passing(m->id);
	char reply[IPC_REASON_MAX + 32];

	if (c == NULL) {
		log_warning("chapard answered about client %llu, which is not "
		    "waiting", (unsigned long long)m->id);
		return;
	}
	if (type == IPC_FRONT_TAKEN) {
		F.busy = 0;
		client_free(c);	/* a worker has it */
	} else if (m->reason != NULL) {
		(void)xsnprintf(reply, sizeof(reply), "421 4.7.0 %s\r\n",
		    m->reason);
		refuse(c, reply, "refused", m->reason);
	} else {
		/* no worker now: it keeps its place */
		F.busy = 1;
		move_to(c, C_READY, 1);
		if (F.retry_at == 0)
			F.retry_at = now_ms() + RETRY_MS;
	}
}

static void
stop_listening(void)
{
	int i;

	for (i = 0; i < F.nlisten; i++)
		close(FIRST_LISTEN_FD + i);
	F.nlisten = 0;
	F.listening = 0;
}

/* chapard asked this front to go: after a reload it keeps its clients
 * until they are handed on or time out (a new front takes the sockets);
 * at a stop it turns them away. */
static void
quit(const struct rec *r)
{
	F.quitting = 1;
	stop_listening();
	if (rec_get(r, "stop") != NULL)
		F.stopping = 1;	/* sweep() sends them away */
}

/* At a stop, every client not with chapard now hears 421 (outside of
 * event handling: an event of this turn may name one of them). */
static void
sweep(void)
{
	struct client *c;
	char line[512];
	int st;

	if (!F.stopping)
		return;
	(void)xsnprintf(line, sizeof(line), "421 4.3.2 %s shutting down\r\n",
	    F.host);
	for (st = C_PAUSE; st <= C_READY; st++)
		while ((c = F.lists[st].head) != NULL)
			refuse(c, line, NULL, NULL);
}

/* One message from chapard: 0, or -1 when none is waiting. */
static int
status_input(void)
{
	struct ipc_front m;
	const char *why;
	struct rec r;
	int type, fd, ret;

	rec_init(&r);
	errno = 0;
	ret = ipc_recv(STATUS_FD, &type, &r, &fd, &why);
	if (fd >= 0)
		close(fd);
	if (ret == 0)
		exit(0);	/* chapard is gone: so are we */
	if (ret < 0) {
		rec_free(&r);
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -1;
		log_fatal("status socket: %s", why);
	}
	if (type == IPC_QUIT)
		quit(&r);
	else if (type == IPC_FRONT_TAKEN || type == IPC_FRONT_BUSY ||
	    type == IPC_FRONT_WAKE) {
		if (ipc_front_parse(type, &r, &m, &why) == -1)
			log_fatal("chapard sent a bad %s: %s",
			    ipc_type_name(type), why);
		if (type == IPC_FRONT_WAKE)
			F.probe = 1;
		else
			answered(type, &m);
	}
	rec_free(&r);
	return 0;
}

/* --- time ----------------------------------------------------------------- */

/* Deadlines that have come: greetings, time-outs, the wait for a
 * worker; and when the next one comes (ms from now, -1: none). */
static int
timers(void)
{
	uint64_t now = now_ms(), next = UINT64_MAX;
	struct client *c;
	char line[512];

	while ((c = F.lists[C_PAUSE].head) != NULL &&
	    c->since + F.pause_ms <= now)
		greet(c);
	(void)xsnprintf(line, sizeof(line), "421 4.4.2 %s timeout\r\n",
	    F.host);
	while ((c = F.lists[C_WAIT].head) != NULL &&
	    c->since + F.timeout_ms <= now)
		refuse(c, line, "timeout", NULL);
	while ((c = F.lists[C_READY].head) != NULL &&
	    c->since + BUSY_MAX_MS <= now)
		refuse(c, "421 4.7.0 too busy, try again later\r\n", "busy",
		    NULL);
	if (F.retry_at != 0 && F.retry_at <= now) {
		F.retry_at = 0;
		F.probe = 1;
	}
	/* while chapard is busy, a waiting client is tried every second
	 * even if no wake-up comes */
	if (F.busy && F.lists[C_READY].n > 0 && F.retry_at == 0)
		F.retry_at = now + RETRY_MS;
	log_rated(&F.limit_log, -1, 1);
	log_rated(&F.full_log, -1, 1);
	if ((c = F.lists[C_PAUSE].head) != NULL)
		next = c->since + F.pause_ms;
	if ((c = F.lists[C_WAIT].head) != NULL && c->since + F.timeout_ms <
	    next)
		next = c->since + F.timeout_ms;
	if ((c = F.lists[C_READY].head) != NULL && c->since + BUSY_MAX_MS <
	    next)
		next = c->since + BUSY_MAX_MS;
	if (F.retry_at != 0 && F.retry_at < next)
		next = F.retry_at;
	if (F.listen_again != 0 && F.listen_again < next)
		next = F.listen_again;
	if (F.limit_log.pending || F.full_log.pending)
		next = next < now + 1000 ? next : now + 1000;
	return next == UINT64_MAX ? -1 : next <= now ? 0 :
	    (int)(next - now > 60000 ? 60000 : next - now);
}

/* --- the loop ------------------------------------------------------------- */

static void
listeners(int on)
{
	struct epoll_event ev;
	int i;

	if (on == F.listening || F.quitting)
		return;
	for (i = 0; i < F.nlisten; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = &tok_listen[i];
		(void)epoll_ctl(F.ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
		    FIRST_LISTEN_FD + i, &ev);
	}
	F.listening = on;
}

static void
event(const struct epoll_event *ev)
{
	struct client *c;
	int i, k;

	if (ev->data.ptr == &tok_status) {
		if (ev->events & EPOLLOUT)
			F.blocked = 0;
		/* what has come, in one go (bounded: the clients passing
		 * and a wake-up) */
		for (k = 0; k < 2 * INFLIGHT_MAX + 2 &&
		    (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)); k++)
			if (status_input() == -1)
				break;
		return;
	}
	for (i = 0; i < MAX_LISTEN; i++)
		if (ev->data.ptr == &tok_listen[i]) {
			/* closed meanwhile (a quit): nothing to accept */
			for (k = 0; i < F.nlisten && k < ACCEPT_BURST &&
			    F.listen_again == 0; k++)
				accept_one(FIRST_LISTEN_FD + i);
			return;
		}
	c = ev->data.ptr;
	if (c->state == C_PAUSE)
		pregreet_input(c);
	else if (c->state == C_WAIT)
		line_input(c);
}

static void
run(void)
{
	struct epoll_event evs[256];
	int n, i, ms;

	for (;;) {
		if (F.listen_again != 0 && now_ms() >= F.listen_again)
			F.listen_again = 0;
		listeners(F.listen_again == 0);
		sweep();
		ms = timers();
		pump();
		if (F.quitting && F.nclients == 0)
			return;
		n = epoll_wait(F.ep, evs, NELEM(evs), ms);
		if (n == -1 && errno != EINTR)
			log_fatal("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++)
			event(&evs[i]);
	}
}

/* --- start-up --------------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr, "usage: smtpfront [-d] -c file -s service\n"
	    "  (started by chapard for a service with front = yes)\n");
	exit(100);
}

static void
settings(void)
{
	const char *const *items;
	size_t i, n;

	F.pause_ms = config_num(F.cf, F.service, "smtpd_greet_pause") * 1000;
	F.timeout_ms = config_num(F.cf, F.service, "smtpd_timeout") * 1000;
	F.max_conns = (unsigned)config_num(F.cf, F.service,
	    "front_max_connections");
	F.client_limit = (unsigned)config_num(F.cf, F.service,
	    "front_client_limit");
	n = config_list(F.cf, F.service, "client_limit_exceptions", &items);
	for (i = 0; i < n && F.nexc < NELEM(F.exc); i++)
		if (netmask_parse(sv_from(items[i]), &F.exc[F.nexc]) == 0)
			F.nexc++;
	config_hostname(F.cf, F.host, sizeof(F.host));
	F.limit_log.reason = "limit";
	F.full_log.reason = "full";
	rand_bytes(&F.seed, sizeof(F.seed));
}

static void
set_limit(int res, uint64_t v, const char *what)
{
	struct rlimit rl;

	rl.rlim_cur = rl.rlim_max = (rlim_t)v;
	if (setrlimit(res, &rl) == -1)
		log_fatal("setrlimit %s: %s", what, strerror(errno));
}

/* Descriptors for every client: the one thing a front needs more of
 * than a worker.  Root may raise the hard limit up to the kernel's
 * (fs.nr_open); where that is lower, the front holds fewer clients. */
static void
room(void)
{
	rlim_t want = (rlim_t)F.max_conns + FD_SPARE;
	struct rlimit rl;

	rl.rlim_cur = rl.rlim_max = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_fatal("getrlimit: %s", strerror(errno));
	rl.rlim_cur = rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want) {
		F.max_conns = rl.rlim_cur > 2 * FD_SPARE ?
		    (unsigned)(rl.rlim_cur - FD_SPARE) : FD_SPARE;
		log_warning("only %llu descriptors: holding at most %u "
		    "clients", (unsigned long long)rl.rlim_cur, F.max_conns);
	}
}

/* As root: room for every client, then the service's user in the empty
 * chroot. */
static void
drop_privileges(void)
{
	const char *user = config_str(F.cf, F.service, "service_user");
	const char *root = config_str(F.cf, F.service, "chroot_dir");
	uint64_t mem = config_num(F.cf, F.service, "process_memory_limit");
	struct buf err, dflt;
	uid_t uid;
	gid_t gid;

	buf_init(&err, 4096);
	buf_init(&dflt, 256);
	if (user[0] == '\0') {
		buf_printf(&dflt, "chapar-%s", F.service);
		user = buf_cstr(&dflt);
	}
	if (geteuid() == 0) {
		room();
		if (priv_lookup(user, &uid, &gid, &err) == -1 ||
		    priv_drop(uid, gid, root[0] != '\0' ? root : NULL,
		    &err) == -1)
			log_fatal("%s", buf_cstr(&err));
	} else {
		/* not root (a private instance): as many as allowed */
		room();
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
			log_fatal("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	}
	set_limit(RLIMIT_CORE, 0, "core");
#ifndef CHAPAR_SANITIZE
	if (mem > 0)
		set_limit(RLIMIT_AS, mem, "memory");
#else
	(void)mem;
#endif
	buf_free(&err);
	buf_free(&dflt);
}

static void
setup(void)
{
	const char *n = getenv("CHAPAR_LISTEN_FDS");
	struct epoll_event ev;
	struct rec r;
	uint64_t v;

	if (n == NULL || parse_u64(sv_from(n), MAX_LISTEN, &v) == -1 ||
	    v == 0)
		log_fatal("CHAPAR_LISTEN_FDS missing or bad");
	F.nlisten = (int)v;
	(void)close_range((unsigned)(FIRST_LISTEN_FD + F.nlisten), ~0U, 0);
	if ((F.ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		log_fatal("epoll_create1: %s", strerror(errno));
	if (fcntl(STATUS_FD, F_SETFL, fcntl(STATUS_FD, F_GETFL) | O_NONBLOCK)
	    == -1)
		log_fatal("status socket: %s", strerror(errno));
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &tok_status;
	if (epoll_ctl(F.ep, EPOLL_CTL_ADD, STATUS_FD, &ev) == -1)
		log_fatal("epoll_ctl: %s", strerror(errno));
	rec_init(&r);
	rec_set_u64(&r, "pid", (uint64_t)getpid());
	if (ipc_send(STATUS_FD, IPC_HELLO, &r, -1) == -1)
		log_fatal("status socket: %s", strerror(errno));
	rec_free(&r);
}

int
main(int argc, char **argv)
{
	const char *conf = NULL, *how = getenv("CHAPAR_LOG");
	struct buf err;
	int ch, debug = 0;

	log_open("smtpfront", LOG_TO_STDERR);
	while ((ch = getopt(argc, argv, "c:ds:")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'd': debug = 1; break;
		case 's': F.service = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || conf == NULL || F.service == NULL)
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	buf_init(&err, 4096);
	if (config_load(conf, &F.cf, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	buf_free(&err);
	(void)xsnprintf(F.ident, sizeof(F.ident), "%s/front", F.service);
	log_open(F.ident, LOG_TO_STDERR);
	config_log_setup(F.cf, F.service, debug);
	log_where(how != NULL && strcmp(how, "stderr") == 0 ? LOG_TO_STDERR :
	    LOG_TO_SYSLOG);
	settings();
	setup();
	drop_privileges();
	run();
	return 0;
}
