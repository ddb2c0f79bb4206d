/*
 * control.c: chapard's status socket, for "chapar status|reload|stop".
 *
 * A UNIX socket only root (or the instance's owner) can open.  A client
 * sends one line, "STATUS", "STATUS JSON", "RELOAD" or "STOP", and reads
 * the answer until chapard closes the connection.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapard.h"
#include "chapar/json.h"
#include "chapar/log.h"
#include "chapar/util.h"

#define MAX_CTL 16

struct ctl {
	int fd;
	struct buf in, out;
	int answered;
};

static int lfd = -1;
static char *lpath;
static struct ctl ctls[MAX_CTL];

int
control_open(const char *path, struct buf *err)
{
	struct sockaddr_un sun;
	mode_t old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		buf_reset(err);
		buf_printf(err, "%.200s...: path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	(void)unlink(path);	/* the pid file lock says we are alone */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	old = umask(077);
	if (lfd == -1 || bind(lfd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1 || listen(lfd, 16) == -1) {
		umask(old);
		buf_reset(err);
		/* shorter than sun_path */
		buf_printf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	umask(old);
	lpath = xstrdup(path);
	for (int i = 0; i < MAX_CTL; i++)
		ctls[i].fd = -1;
	return 0;
}

static void
ctl_close(struct ctl *c)
{
	close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
	buf_free(&c->out);
}

void
control_close(void)
{
	int i;

	for (i = 0; i < MAX_CTL; i++)
		if (ctls[i].fd >= 0)
			ctl_close(&ctls[i]);
	if (lfd >= 0) {
		close(lfd);
		lfd = -1;
		(void)unlink(lpath);
	}
	free(lpath);
	lpath = NULL;
}

static const char *
state_name(enum proc_state s)
{
	static const char *const n[] = { "starting", "idle", "busy",
		"quitting", "running", "session", "front" };

	return n[s];
}

/*
 * The status answer grows with what workers report (the processes they
 * make a pool start, the user names they send), so it is written with
 * the buf_try_ forms: when it does not fit, the client gets one error
 * line instead, and chapard goes on.
 */
struct out {
	struct buf *b;
	int full;
};

static void say(struct out *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->full)
		return;
	va_start(ap, fmt);
	if (buf_try_vprintf(o->b, fmt, ap) == -1)
		o->full = 1;
	va_end(ap);
}

/* A JSON string, if its worst case (6 bytes a byte, and the quotes) fits:
 * json_string itself may not fail. */
static void
say_json(struct out *o, const char *v)
{
	size_t n = strlen(v), room = o->b->max - o->b->len;

	if (o->full || room < 2 || n > (room - 2) / 6)
		o->full = 1;
	else
		json_string(o->b, sv_from(v));
}

static void
status_text(struct out *o)
{
	const struct service *s;
	const struct proc *p;
	int64_t now = now_sec();
	char up[32];
	int i;

	fmt_duration(up, sizeof(up), (uint64_t)(now - M.started));
	say(o, "chapard pid %ld, up %s, %s, configuration %s\n",
	    (long)getpid(), up, M.stopping ? "stopping" : "running",
	    M.conf_path);
	for (s = M.services; s != NULL; s = s->next) {
		say(o, "\nservice %s (%s)%s\n", s->name,
		    s->kind == SVC_POOL ? "pool" : "daemon",
		    s->gone ? " draining" : "");
		say(o, "  program %s\n", s->program);
		for (i = 0; i < s->nls; i++)
			say(o, "  listen %s%s\n", s->ls[i].addr.text,
			    s->ls[i].tls ? " tls" : "");
		if (s->kind == SVC_POOL)
			say(o, "  processes %u (idle %u, prefork %u, max %u), "
			    "served %lu, refused %lu\n", s->nprocs,
			    service_idle(s), s->prefork, s->max_procs,
			    s->served, s->refused);
		say(o, "  abnormal exits %lu (%u in a row)", s->crashes,
		    s->failures);
		if (s->backoff_until > now_ms())
			say(o, ", backing off for %llu s",
			    (unsigned long long)((s->backoff_until - now_ms()) /
			    1000 + 1));
		say(o, "\n");
		for (p = s->procs; p != NULL; p = p->next) {
			say(o, "    pid %-7ld %-9s %4llds", (long)p->pid,
			    state_name(p->state), (long long)(now - p->since));
			if (p->ip[0] != '\0')
				say(o, "  client %s", p->ip);
			if (p->user[0] != '\0')
				say(o, "  user %s", log_esc_str(p->user));
			say(o, "  served %u\n", p->served);
		}
	}
}

static void
jfield(struct out *o, const char *k, const char *v, int comma)
{
	say_json(o, k);
	say(o, ": ");
	say_json(o, v);
	if (comma)
		say(o, ", ");
}

static void
status_json(struct out *o)
{
	const struct service *s;
	const struct proc *p;
	int64_t now = now_sec();
	int i;

	say(o, "{\"pid\": %ld, \"uptime\": %lld, \"stopping\": %s, "
	    "\"services\": [", (long)getpid(), (long long)(now - M.started),
	    M.stopping ? "true" : "false");
	for (s = M.services; s != NULL; s = s->next) {
		say(o, "%s", s == M.services ? "\n {" : ",\n {");
		jfield(o, "name", s->name, 1);
		jfield(o, "kind", s->kind == SVC_POOL ? "pool" : "daemon", 1);
		say(o, "\"listen\": [");
		for (i = 0; i < s->nls; i++) {
			if (i)
				say(o, ", ");
			say_json(o, s->ls[i].addr.text);
		}
		say(o, "], \"processes\": %u, \"idle\": %u, "
		    "\"prefork\": %u, \"max_procs\": %u, \"served\": %lu, "
		    "\"refused\": %lu, \"abnormal_exits\": %lu, "
		    "\"failures_in_a_row\": %u, \"backoff_ms\": %llu, "
		    "\"workers\": [", s->nprocs, service_idle(s), s->prefork,
		    s->max_procs, s->served, s->refused, s->crashes,
		    s->failures, (unsigned long long)(s->backoff_until >
		    now_ms() ? s->backoff_until - now_ms() : 0));
		for (p = s->procs; p != NULL; p = p->next) {
			say(o, "%s{\"pid\": %ld, ", p == s->procs ? "" : ", ",
			    (long)p->pid);
			jfield(o, "state", state_name(p->state), 1);
			jfield(o, "client", p->ip, 1);
			jfield(o, "user", p->user, 1);
			say(o, "\"seconds\": %lld, \"served\": %u}",
			    (long long)(now - p->since), p->served);
		}
		say(o, "]}");
	}
	say(o, "\n]}\n");
}

static void
status(struct buf *b, int json)
{
	struct out o = { b, 0 };

	if (json)
		status_json(&o);
	else
		status_text(&o);
	if (o.full) {
		log_warning("status answer larger than %zu bytes; not sent",
		    b->max);
		buf_reset(b);
		buf_puts(b, "error: the status is too large to send\n");
	}
}

static void
command(struct ctl *c, struct sv line)
{
	line = sv_trim(line);
	c->answered = 1;
	if (sv_caseeq_str(line, "STATUS"))
		status(&c->out, 0);
	else if (sv_caseeq_str(line, "STATUS JSON"))
		status(&c->out, 1);
	else if (sv_caseeq_str(line, "RELOAD")) {
		chapard_reload();
		buf_puts(&c->out, "reloading\n");
	} else if (sv_caseeq_str(line, "STOP")) {
		chapard_stop();
		buf_puts(&c->out, "stopping\n");
	} else
		buf_puts(&c->out, "error: expected STATUS, STATUS JSON, "
		    "RELOAD or STOP\n");
}

size_t
control_pollfds(struct pollfd *pfd, size_t max)
{
	size_t n = 0;
	int i;

	if (lfd >= 0 && n < max) {
		pfd[n].fd = lfd;
		pfd[n++].events = POLLIN;
	}
	for (i = 0; i < MAX_CTL && n < max; i++)
		if (ctls[i].fd >= 0) {
			pfd[n].fd = ctls[i].fd;
			pfd[n++].events = ctls[i].answered ? POLLOUT : POLLIN;
		}
	return n;
}

static void
ctl_io(struct ctl *c, short revents)
{
	char tmp[512];
	const char *nl;
	ssize_t r;

	if (!c->answered && (revents & (POLLIN | POLLHUP))) {
		r = read(c->fd, tmp, sizeof(tmp));
		if (r <= 0 || buf_try_append(&c->in, tmp, (size_t)r) == -1) {
			ctl_close(c);
			return;
		}
		if ((nl = memchr(c->in.data, '\n', c->in.len)) != NULL)
			command(c, sv_make(c->in.data,
			    (size_t)(nl - c->in.data)));
		return;
	}
	if (c->answered && (revents & (POLLOUT | POLLHUP | POLLERR))) {
		r = write(c->fd, c->out.data, c->out.len);
		if (r < 0 && errno != EAGAIN) {
			ctl_close(c);
			return;
		}
		if (r > 0)
			buf_consume(&c->out, (size_t)r);
		if (c->out.len == 0)
			ctl_close(c);
	}
}

void
control_handle(const struct pollfd *pfd, size_t n)
{
	size_t k;
	int i, fd;

	for (k = 0; k < n; k++) {
		if (pfd[k].revents == 0)
			continue;
		if (pfd[k].fd == lfd) {
			fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
			    SOCK_CLOEXEC);
			if (fd == -1)
				continue;
			for (i = 0; i < MAX_CTL && ctls[i].fd >= 0; i++)
				;
			if (i == MAX_CTL) {
				close(fd);
				continue;
			}
			ctls[i].fd = fd;
			ctls[i].answered = 0;
			buf_init(&ctls[i].in, 1024);
			buf_init(&ctls[i].out, 64 * 1024 * 1024);
			continue;
		}
		for (i = 0; i < MAX_CTL; i++)
			if (ctls[i].fd == pfd[k].fd) {
				ctl_io(&ctls[i], pfd[k].revents);
				break;
			}
	}
}
