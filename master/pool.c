/*
 * pool.c: services, their listeners and their processes.
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

#define BACKOFF_START_MS 1000
/* A daemon that keeps dying is broken and waits up to a minute; a pool's
 * workers may die because of what a client sent, and a minute without
 * new workers would be a minute's outage a client can cause at will. */
#define BACKOFF_MAX_MS 60000
#define POOL_BACKOFF_MAX_MS 4000
#define FAILURES_BEFORE_BACKOFF 3
#define HEALTHY_MS 10000	/* a process that lived this long was fine */
#define ENV_MAX 16		/* variables in a child's environment */

/* Programs come from chapard's own directory when they are there (a build
 * tree), else from the install's libexec directory. */
static char *
locate(const char *name)
{
	struct buf b;

	/* room for either path: a plain append cannot overflow */
	buf_init(&b, sizeof(M.self_dir) + strlen(CHAPAR_LIBEXECDIR) +
	    strlen(name) + 2);
	buf_printf(&b, "%s/%s", M.self_dir, name);
	if (access(buf_cstr(&b), X_OK) != 0) {
		buf_reset(&b);
		buf_printf(&b, "%s/%s", CHAPAR_LIBEXECDIR, name);
	}
	return buf_detach(&b);
}

/* The program of a built-in service whose section is not named after
 * it. */
static const char *
program_of(const char *section)
{
	static const char *const map[][2] = {
		{ "lmtp", "local" },
		{ "submission", "smtpd" },
		{ "smtps", "smtpd" },
		{ "pop3", "pop3d" },
		{ "pop3s", "pop3d" },
	};
	size_t i;

	for (i = 0; i < NELEM(map); i++)
		if (strcmp(map[i][0], section) == 0)
			return map[i][1];
	return section;
}

static struct service *
service_find(struct service *list, const char *name)
{
	for (; list != NULL; list = list->next)
		if (strcmp(list->name, name) == 0 && !list->gone)
			return list;
	return NULL;
}

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

/* --- configuration ------------------------------------------------------- */

/* An error message for the caller's buffer, whatever its limit: what does
 * not fit is cut (a long value in chapar.conf must not end chapard at a
 * reload). */
static void seterr(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
seterr(struct buf *err, const char *fmt, ...)
{
	char cut[512];
	va_list ap, again;

	buf_reset(err);
	va_start(ap, fmt);
	va_copy(again, ap);
	if (buf_try_vprintf(err, fmt, ap) == -1) {
		(void)vsnprintf(cut, sizeof(cut), fmt, again);
		if (buf_try_puts(err, cut) == -1)
			buf_reset(err);
	}
	va_end(again);
	va_end(ap);
}

static void
settings(struct service *s, struct config *cf)
{
	const char *const *items;
	size_t i, n;

	s->prefork = (unsigned)config_num(cf, s->name, "prefork");
	s->max_procs = (unsigned)config_num(cf, s->name, "max_procs");
	s->max_sessions = (unsigned)config_num(cf, s->name, "max_sessions");
	if (s->prefork > s->max_procs)
		s->prefork = s->max_procs;
	s->idle_timeout = config_num(cf, s->name, "idle_timeout");
	s->conn_limit = (unsigned)config_num(cf, s->name,
	    "client_conn_limit");
	s->rate_limit = (unsigned)config_num(cf, s->name,
	    "client_rate_limit");
	s->front = config_bool(cf, s->name, "front");
	free(s->exc);
	n = config_list(cf, s->name, "client_limit_exceptions", &items);
	s->exc = xcalloc(n ? n : 1, sizeof(*s->exc));
	s->nexc = 0;
	/* config_check_services has made sure every entry parses */
	for (i = 0; i < n; i++)
		if (netmask_parse(sv_from(items[i]), &s->exc[s->nexc]) == 0)
			s->nexc++;
}

/* Collect the listen addresses of a service: tls marks listen_tls ones. */
static int
addresses(struct config *cf, const char *name, struct listener *out, int *n,
    struct buf *err)
{
	static const char *const keys[] = { "listen", "listen_tls" };
	struct listen_addr a[2];
	const char *const *items;
	const char *e;
	size_t i, k, cnt;
	int got, j;

	*n = 0;
	for (k = 0; k < 2; k++) {
		cnt = config_list(cf, name, keys[k], &items);
		for (i = 0; i < cnt; i++) {
			got = listen_addr_parse(sv_from(items[i]), a, &e);
			if (got < 0) {
				seterr(err, "service %s: %s = %s: %s", name,
				    keys[k], items[i], e);
				return -1;
			}
			for (j = 0; j < got; j++) {
				if (*n == MAX_LISTENERS) {
					seterr(err, "service %s: more than %d "
					    "listeners", name, MAX_LISTENERS);
					return -1;
				}
				out[*n].addr = a[j];
				out[*n].fd = -1;
				out[*n].tls = k == 1;
				(*n)++;
			}
		}
	}
	return 0;
}

/* Bind what is new; keep sockets for addresses that stay. */
static int
bind_all(struct service *old, struct listener *ls, int n, int backlog,
    struct buf *err)
{
	int i, j;

	for (i = 0; i < n; i++) {
		/* the same address keeps its socket, even when it moves
		 * between listen and listen_tls */
		for (j = 0; old != NULL && j < old->nls; j++)
			if (old->ls[j].fd >= 0 &&
			    strcmp(old->ls[j].addr.text, ls[i].addr.text) == 0) {
				ls[i].fd = old->ls[j].fd;
				old->ls[j].fd = -1;	/* moved */
				break;
			}
		if (ls[i].fd >= 0)
			continue;
		if ((ls[i].fd = listen_bind(&ls[i].addr, backlog, err)) == -1)
			return -1;
	}
	return 0;
}

static void
close_listeners(struct service *s)
{
	int i;

	for (i = 0; i < s->nls; i++)
		if (s->ls[i].fd >= 0) {
			close(s->ls[i].fd);
			s->ls[i].fd = -1;
		}
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

static void
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

static void
service_free(struct service *s)
{
	iptable_free(&s->ips);
	free(s->exc);
	free(s->program);
	free(s->front_program);
	free(s->name);
	free(s);
}

static struct service *
service_new(const char *name, enum svc_kind kind, const char *program)
{
	struct service *s = xcalloc(1, sizeof(*s));

	s->name = xstrdup(name);
	s->kind = kind;
	s->program = xstrdup(program);
	s->ips = iptable_new();
	s->backoff = BACKOFF_START_MS;
	return s;
}

/* A service with implicit-TLS listeners, or with a certificate in place,
 * gets its TLS set-up tried here, once, so that a bad certificate is
 * refused at start or reload rather than in every worker. */
static int
tls_validate(struct config *cf, const struct service *s, struct buf *err)
{
	struct tls_server *ts;
	struct tls_conf tc;
	struct buf e;
	int tls_listener = 0, i, r;

	for (i = 0; i < s->nls; i++)
		tls_listener |= s->ls[i].tls;
	tls_conf_from_config(&tc, cf, s->name);
	if (!tls_listener && (access(tc.cert_file, F_OK) != 0 ||
	    access(tc.key_file, F_OK) != 0))
		return 0;
	buf_init(&e, 4096);
	r = tls_server_new(&tc, &ts, &e);
	if (r == -1)
		seterr(err, "service %s: TLS: %s", s->name, buf_cstr(&e));
	else
		tls_server_free(&ts);
	buf_free(&e);
	return r;
}

static const char *const daemons[] = { "authd", "enqueue", "qmgr",
	"remote" };

/* The services a configuration asks for, in a new list; listeners bound
 * (reusing the running ones).  On failure nothing changes. */
static struct service *
build(struct config *cf, struct buf *err)
{
	const char *names[256], *prog;
	struct service *list = NULL, *s, *old;
	struct listener ls[MAX_LISTENERS];
	char *path;
	size_t i, k, n;
	int nls, backlog;

	/* the daemons: authd; enqueue, the queue's only writer; and,
	 * unless queue_delivery = no, qmgr and remote(8) */
	for (i = 0; i < NELEM(daemons); i++) {
		if (i >= 2 && !config_bool(cf, NULL, "queue_delivery"))
			break;
		path = config_str(cf, daemons[i], "program")[0] ?
		    xstrdup(config_str(cf, daemons[i], "program")) :
		    locate(daemons[i]);
		s = service_new(daemons[i], SVC_DAEMON, path);
		free(path);
		s->next = list;
		list = s;
	}
	n = config_sections(cf, names, NELEM(names));
	for (i = 0; i < n; i++) {
		for (k = 0; k < NELEM(daemons) && strcmp(names[i],
		    daemons[k]) != 0; k++)
			;
		if (k < NELEM(daemons))
			continue;
		if (addresses(cf, names[i], ls, &nls, err) == -1)
			goto fail;
		prog = config_str(cf, names[i], "program");
		if (nls == 0) {
			log_warning("service %s has no listen address; not "
			    "started", names[i]);
			continue;
		}
		path = prog[0] ? xstrdup(prog) : locate(program_of(names[i]));
		s = service_new(names[i], SVC_POOL, path);
		free(path);
		s->next = list;
		list = s;
		backlog = (int)config_num(cf, names[i], "listen_backlog");
		old = service_find(M.services, names[i]);
		memcpy(s->ls, ls, sizeof(ls));
		s->nls = nls;
		if (tls_validate(cf, s, err) == -1 ||
		    bind_all(old, s->ls, nls, backlog ? backlog : SOMAXCONN,
		    err) == -1)
			goto fail;
		settings(s, cf);
		if (s->front)
			s->front_program = config_str(cf, names[i],
			    "front_program")[0] ? xstrdup(config_str(cf,
			    names[i], "front_program")) : locate("smtpfront");
	}
	return list;
fail:
	/* Give moved sockets back and close new ones. */
	while ((s = list) != NULL) {
		list = s->next;
		old = service_find(M.services, s->name);
		for (i = 0; (int)i < s->nls; i++) {
			int j, back = 0;

			for (j = 0; old != NULL && j < old->nls; j++)
				if (old->ls[j].fd < 0 && s->ls[i].fd >= 0 &&
				    strcmp(old->ls[j].addr.text,
				    s->ls[i].addr.text) == 0) {
					old->ls[j].fd = s->ls[i].fd;
					back = 1;
					break;
				}
			if (!back && s->ls[i].fd >= 0)
				close(s->ls[i].fd);
		}
		service_free(s);
	}
	return NULL;
}

/* Apply a configuration: new services start, changed ones get fresh
 * workers (the running ones finish their session first), dropped ones
 * drain.  -1 leaves everything as it was. */
int
services_load(struct config *cf, struct buf *err)
{
	struct service *list, *s, *old, **tail;
	struct proc *p;

	if (config_check_services(cf, err) == -1 ||
	    (list = build(cf, err)) == NULL)
		return -1;
	for (s = list; s != NULL; s = s->next) {
		old = service_find(M.services, s->name);
		if (old == NULL)
			continue;
		/* Running processes move to the new service and are told to
		 * finish; their limits stay counted. */
		s->procs = old->procs;
		s->nprocs = old->nprocs;
		old->procs = NULL;
		old->nprocs = 0;
		iptable_free(&s->ips);
		s->ips = old->ips;
		old->ips = NULL;
		s->served = old->served;
		s->refused = old->refused;
		s->crashes = old->crashes;
		for (p = s->procs; p != NULL; p = p->next) {
			p->svc = s;
			proc_quit(p);
		}
		old->gone = 2;		/* absorbed: free below */
	}
	for (s = M.services; s != NULL; s = s->next)
		if (!s->gone) {
			/* not in the new configuration */
			s->gone = 1;
			close_listeners(s);
			for (p = s->procs; p != NULL; p = p->next)
				proc_quit(p);
		}
	/* Free absorbed services; keep draining ones after the new list. */
	for (tail = &list; *tail != NULL; tail = &(*tail)->next)
		;
	while ((s = M.services) != NULL) {
		M.services = s->next;
		if (s->gone == 2) {
			close_listeners(s);
			service_free(s);
		} else {
			s->next = NULL;
			*tail = s;
			tail = &s->next;
		}
	}
	M.services = list;
	return 0;
}

/* --- processes --------------------------------------------------------- */

/* Put descriptors at fixed numbers (3: status, 4...: listeners), leaving
 * everything else closed.  In the child, before exec. */
/* A post-login session to start: its client and what the login side
 * said. */
struct session_args {
	int client;
	const char *token, *state, *peer, *log_id;
};

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

static struct proc *
spawn_as(struct service *s, const struct session_args *sa,
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
	argv[0] = kind == SPAWN_FRONT ? s->front_program : s->program;
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

static struct proc *
spawn(struct service *s)
{
	return spawn_as(s, NULL, SPAWN_WORKER);
}

struct proc *
proc_spawn(struct service *s, enum spawn_kind kind)
{
	return spawn_as(s, NULL, kind);
}

static pid_t authd_pid(void);

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
		if ((p = spawn_as(w->svc, &sa, SPAWN_WORKER)) == NULL)
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
static pid_t
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
				spawn(s);
			continue;
		}
		if (s->front)
			front_maintain(s);
		idle = service_idle(s);
		while (idle < s->prefork && live < s->max_procs) {
			spawn(s);
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
	    now_ms() >= s->backoff_until && spawn(s) == NULL)
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
