/*
 * service.c: chapard's services from the configuration -- each one's
 * settings, its listening sockets (bound once, kept across reloads) and
 * its program.
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

/* PROGRAM-session beside PROGRAM, when it is there and runnable. */
static char *
session_program_of(const char *program)
{
	struct buf b;

	buf_init(&b, strlen(program) + sizeof("-session"));
	buf_printf(&b, "%s-session", program);
	if (access(buf_cstr(&b), X_OK) == 0)
		return buf_detach(&b);
	buf_free(&b);
	return NULL;
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

void
close_listeners(struct service *s)
{
	int i;

	for (i = 0; i < s->nls; i++)
		if (s->ls[i].fd >= 0) {
			close(s->ls[i].fd);
			s->ls[i].fd = -1;
		}
}

void
service_free(struct service *s)
{
	iptable_free(&s->ips);
	free(s->exc);
	free(s->program);
	free(s->front_program);
	free(s->session_program);
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
		s->session_program = session_program_of(path);
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

