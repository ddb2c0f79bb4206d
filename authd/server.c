/*
 * server.c: authd's event loop and the request side of its protocol
 * (authd(8) documents it).
 *
 * One process, poll(2), non-blocking sockets.  A client that sends a
 * malformed request is disconnected (it is one of our own daemons, so a
 * malformed request means a bug or a compromise, not a typo).  Replies to
 * failed logins may be delayed; a delayed reply never holds up anyone
 * else.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd.h"
#include "chapar/authc.h"
#include "chapar/daemon.h"
#include "chapar/dict.h"
#include "chapar/log.h"
#include "chapar/util.h"

struct delayed {
	uint64_t due;
	struct buf line;
	struct delayed *next;
};

#define MAX_DELAYED 256		/* delayed replies waiting on one connection */

struct conn {
	int refs;		/* pending hash jobs that will answer here */
	int doomed;		/* does not read its replies: close it */
	int ndelayed;
	int master;		/* came in on the master socket (root only) */
	int fd;
	struct buf in, out;
	int versioned;
	int dead;
	int nsessions;
	struct session *sessions;
	struct delayed *delayed;
	struct conn *next;
};

volatile sig_atomic_t authd_quit;
static struct session *session_find(struct conn *, unsigned long, int);
static struct conn *conns;
static unsigned nconns;

static void
conn_close(struct conn *c, const char *why)
{
	struct session *s;
	struct delayed *d;

	if (why != NULL)
		log_warning("closing client connection: %s", why);
	while ((s = c->sessions) != NULL) {
		c->sessions = s->next;
		session_free(s);
	}
	while ((d = c->delayed) != NULL) {
		c->delayed = d->next;
		buf_free(&d->line);
		free(d);
	}
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	c->dead = 1;
}

void
conn_ref(struct conn *c)
{
	c->refs++;
}

void
conn_unref(struct conn *c)
{
	c->refs--;
}

int
conn_alive(const struct conn *c)
{
	return !c->dead;
}

void
conn_send(struct conn *c, uint64_t delay_ms, const char *verb,
    unsigned long id, const char *positional, const struct rec *fields)
{
	struct delayed *d, **dp;
	struct buf line;

	if (c->dead || c->doomed)
		return;
	/* Large enough for USERDB_ALIAS_MAX destinations of the longest
	 * address: rec_encode cannot overflow it. */
	buf_init(&line, AUTH_REPLY_MAX);
	buf_printf(&line, "%s\t%lu", verb, id);
	if (positional != NULL) {
		buf_putc(&line, '\t');
		tab_escape(&line, sv_from(positional));
	}
	if (fields != NULL && fields->n > 0) {
		buf_putc(&line, '\t');
		rec_encode(fields, &line);
	}
	buf_putc(&line, '\n');
	if (delay_ms == 0) {
		if (buf_try_append(&c->out, line.data, line.len) == -1)
			c->doomed = 1;	/* client does not read: drop it */
		buf_free(&line);
		return;
	}
	if (c->ndelayed >= MAX_DELAYED) {
		c->doomed = 1;
		buf_free(&line);
		return;
	}
	c->ndelayed++;
	d = xcalloc(1, sizeof(*d));
	d->due = now_ms() + delay_ms;
	d->line = line;
	/* keep the list sorted by due time */
	for (dp = &c->delayed; *dp != NULL && (*dp)->due <= d->due;
	    dp = &(*dp)->next)
		;
	d->next = *dp;
	*dp = d;
}

struct session *
conn_take_session(struct conn *c, unsigned long id)
{
	return session_find(c, id, 1);
}

static struct session *
session_find(struct conn *c, unsigned long id, int unlink)
{
	struct session **sp, *s;

	for (sp = &c->sessions; (s = *sp) != NULL; sp = &s->next)
		if (s->id == id) {
			if (unlink) {
				*sp = s->next;
				c->nsessions--;
			}
			return s;
		}
	return NULL;
}

static int
parse_id(struct sv f, unsigned long *id)
{
	uint64_t v;

	if (f.n > 10 || parse_u64(f, 0xffffffffUL, &v) == -1)
		return -1;
	*id = (unsigned long)v;
	return 0;
}

/* After a mechanism step: free the session, keep it for the next CONT,
 * or leave it to the hash worker's answer. */
static void
session_keep(struct conn *c, struct session *s, int how)
{
	if (how == MECH_DONE) {
		session_free(s);
		return;
	}
	s->pending = how == MECH_PENDING;
	s->next = c->sessions;
	c->sessions = s;
	c->nsessions++;
}

/* AUTH <id> <mech> [name=value...] with service, rip, secured, resp */
static const char *
req_auth(struct conn *c, struct sv *f, int nf)
{
	struct session *s;
	struct rec r;
	struct buf resp;
	const struct buf *b;
	unsigned long id;
	struct sv initial;
	int m, done, have_initial = 0;

	if (nf < 3 || parse_id(f[1], &id) == -1)
		return "AUTH: expected an id and a mechanism";
	if (session_find(c, id, 0) != NULL)
		return "AUTH: id already in use";
	if (c->nsessions >= AUTHD_MAX_SESSIONS)
		return "AUTH: too many exchanges at once";
	rec_init(&r);
	if (rec_decode_fields(f + 3, (size_t)(nf - 3), &r) == -1) {
		rec_free(&r);
		return "AUTH: malformed fields";
	}
	/* Looked up in place: a name of any length is simply unknown. */
	m = mech_lookup(f[2]);
	s = xcalloc(1, sizeof(*s));
	s->id = id;
	s->mech = m;
	s->started = now_ms();
	buf_init(&s->service, AUTH_SERVICE_MAX);
	buf_init(&s->rip, AUTH_RIP_MAX);
	buf_init(&s->login, 1024);
	buf_init(&s->user, 1024);
	scram_server_init(&s->scram);
	/* Sized by the request: too long is malformed, not a reason to
	 * abort. */
	b = rec_get(&r, "service");
	if (buf_try_set(&s->service, b ? b->data : "?", b ? b->len : 1) == -1) {
		rec_free(&r);
		session_free(s);
		return "AUTH: service field too long";
	}
	b = rec_get(&r, "rip");
	if (buf_try_set(&s->rip, b ? b->data : "", b ? b->len : 0) == -1) {
		rec_free(&r);
		session_free(s);
		return "AUTH: rip field too long";
	}
	s->secured = rec_get_str(&r, "secured") != NULL &&
	    strcmp(rec_get_str(&r, "secured"), "1") == 0;
	s->handoff = rec_get_str(&r, "handoff") != NULL &&
	    strcmp(rec_get_str(&r, "handoff"), "1") == 0;
	buf_init(&resp, AUTH_LINE_MAX);
	if ((b = rec_get(&r, "resp")) != NULL) {
		if (base64_decode(&resp, b->data, b->len) == -1) {
			buf_free(&resp);
			rec_free(&r);
			session_free(s);
			return "AUTH: bad base64 in resp";
		}
		have_initial = 1;
	}
	rec_free(&r);
	if (m < 0) {
		struct rec fr;

		rec_init(&fr);
		rec_set_str(&fr, "reason", "unsupported mechanism");
		conn_send(c, 0, "FAIL", id, NULL, &fr);
		rec_free(&fr);
		session_free(s);
		buf_free(&resp);
		return NULL;
	}
	initial = buf_sv(&resp);
	done = mech_start(c, s, have_initial ? &initial : NULL);
	if (resp.data != NULL)
		explicit_bzero(resp.data, resp.cap);
	buf_free(&resp);
	session_keep(c, s, done);
	return NULL;
}

/* CONT <id> <base64> */
static const char *
req_cont(struct conn *c, struct sv *f, int nf)
{
	struct session *s;
	struct buf resp;
	unsigned long id;
	int done;

	if (nf != 3 || parse_id(f[1], &id) == -1)
		return "CONT: expected an id and a response";
	if ((s = session_find(c, id, 0)) == NULL)
		return "CONT: no exchange with that id";
	if (s->pending)
		return "CONT: the exchange is waiting for its result";
	s = session_find(c, id, 1);
	buf_init(&resp, AUTH_LINE_MAX);
	if (base64_decode(&resp, f[2].p, f[2].n) == -1) {
		buf_free(&resp);
		session_free(s);
		return "CONT: bad base64";
	}
	done = mech_continue(c, s, buf_sv(&resp));
	if (resp.data != NULL)
		explicit_bzero(resp.data, resp.cap);
	buf_free(&resp);
	session_keep(c, s, done);
	return NULL;
}

/* CANCEL <id>: the client gave the exchange up (its own client
 * cancelled it or went away).  No reply, ever.  An id with no exchange is
 * not an error: the exchange may have ended (timed out) while the CANCEL
 * was on its way, and the client skips that FAIL. */
static const char *
req_cancel(struct conn *c, struct sv *f, int nf)
{
	struct session *s;
	unsigned long id;

	if (nf != 2 || parse_id(f[1], &id) == -1)
		return "CANCEL: expected an id";
	if ((s = session_find(c, id, 0)) == NULL)
		return NULL;
	log_debug("auth: exchange %lu cancelled", id);
	if (s->pending) {
		/* the hash worker's answer is dropped when it comes */
		s->cancelled = 1;
		return NULL;
	}
	session_free(session_find(c, id, 1));
	return NULL;
}

static void
reply_dberror(struct conn *c, unsigned long id, const struct buf *err)
{
	struct rec f;

	log_error("user database: %s", buf_cstr(err));
	rec_init(&f);
	rec_set_str(&f, "reason", "user database unavailable");
	rec_set_str(&f, "temp", "1");
	conn_send(c, 0, "FAIL", id, NULL, &f);
	rec_free(&f);
}

/* The quota of the user's domain, when it has one. */
static void
domain_quota(const char *key, struct rec *out)
{
	const char *at = strrchr(key, '@');
	struct buf err;
	struct rec d;
	uint64_t q;

	if (at == NULL)
		return;
	buf_init(&err, 1024);
	rec_init(&d);
	if (userdb_domain_get(authd.udb, at + 1, &d, &err) == DICT_OK &&
	    rec_get_u64(&d, "quota", &q) == 0 && q > 0)
		rec_set_u64(out, "domain_quota", q);
	rec_free(&d);
	buf_free(&err);
}

/* USER <id> <name>: the account's non-secret attributes. */
static const char *
req_user(struct conn *c, struct sv *f, int nf)
{
	struct buf name, key, err, home;
	struct rec u, out;
	unsigned long id;
	const char *st;
	int r;

	if (nf != 3 || parse_id(f[1], &id) == -1)
		return "USER: expected an id and a name";
	buf_init(&name, 2048);
	if (tab_unescape(f[2], &name) == -1 || sv_has_nul(buf_sv(&name))) {
		buf_free(&name);
		return "USER: bad name";
	}
	buf_init(&key, 2048);
	buf_init(&err, 1024);
	buf_init(&home, 2048);
	rec_init(&u);
	rec_init(&out);
	r = login_key(buf_cstr(&name), &key) == -1 ? DICT_NOTFOUND :
	    userdb_user_get(authd.udb, buf_cstr(&key), &u, &err);
	st = rec_get_str(&u, "state");
	if (r == DICT_OK && st != NULL && strcmp(st, USER_DELETED) == 0)
		r = DICT_NOTFOUND;
	if (r == DICT_NOTFOUND)
		conn_send(c, 0, "NOTFOUND", id, NULL, NULL);
	else if (r != DICT_OK)
		reply_dberror(c, id, &err);
	else {
		rec_set_str(&out, "user", buf_cstr(&key));
		if (rec_get_str(&u, "home") == NULL)
			userdb_home(buf_cstr(&key), &home);
		rec_set_str(&out, "home", rec_get_str(&u, "home") ?
		    rec_get_str(&u, "home") : buf_cstr(&home));
		rec_set_str(&out, "quota", rec_get_str(&u, "quota") ?
		    rec_get_str(&u, "quota") : "0");
		rec_set_str(&out, "state", st ? st : USER_ACTIVE);
		domain_quota(buf_cstr(&key), &out);
		conn_send(c, 0, "USER", id, NULL, &out);
	}
	buf_free(&name);
	buf_free(&key);
	buf_free(&err);
	buf_free(&home);
	rec_free(&u);
	rec_free(&out);
	return NULL;
}

/* --- mailboxes found full ------------------------------------------------
 *
 * The delivery agent tells authd (FULL, master socket) when a mailbox
 * refused a message for its quota; RCPT replies then carry full=USER so
 * that smtpd can refuse at RCPT instead of queueing mail that bounces.
 * Only a memory, and a short one: the user may delete mail meanwhile,
 * which nobody reports, so an entry lasts quota_full_remember.  Few
 * mailboxes are full at once; a plain array, bounded, will do.
 */
#define FULL_MAX 10000

static struct full {
	char *user;
	uint64_t until;
} *fulls;
static size_t nfull;

static struct full *
full_find(const char *user)
{
	size_t i;

	for (i = 0; i < nfull; i++)
		if (strcmp(fulls[i].user, user) == 0)
			return &fulls[i];
	return NULL;
}

static void
full_drop(size_t i)
{
	free(fulls[i].user);
	fulls[i] = fulls[--nfull];
}

static void
full_set(const char *user, uint64_t seconds)
{
	uint64_t now = now_sec();
	struct full *f = full_find(user);
	size_t i, soonest = 0;

	if (f != NULL)
		full_drop((size_t)(f - fulls));
	if (seconds == 0)
		return;
	for (i = 0; i < nfull; )
		if (fulls[i].until <= now)
			full_drop(i);
		else
			i++;
	if (nfull == FULL_MAX) {
		for (i = 1; i < nfull; i++)
			if (fulls[i].until < fulls[soonest].until)
				soonest = i;
		full_drop(soonest);
	}
	if (fulls == NULL)
		fulls = xreallocarray(NULL, FULL_MAX, sizeof(*fulls));
	fulls[nfull].user = xstrdup(user);
	fulls[nfull++].until = now + seconds;
}

/* full=USER for each local= whose mailbox is remembered full. */
static void
full_mark(struct rec *out)
{
	uint64_t now = now_sec();
	struct full *f;
	size_t i, n = out->n;

	for (i = 0; i < n && nfull > 0; i++)
		if (strcmp(out->names[i], "local") == 0 &&
		    (f = full_find(buf_cstr(&out->vals[i]))) != NULL &&
		    f->until > now)
			rec_add(out, "full", buf_sv(&out->vals[i]));
}

/* FULL <id> <user> <seconds>: master socket only. */
static const char *
req_full(struct conn *c, struct sv *f, int nf)
{
	struct buf user;
	unsigned long id;
	uint64_t secs;

	if (!c->master)
		return "FULL: only on the master socket";
	if (nf != 4 || parse_id(f[1], &id) == -1 ||
	    parse_u64(f[3], 366 * 86400, &secs) == -1)
		return "FULL: expected an id, a user and seconds";
	buf_init(&user, 2048);
	if (tab_unescape(f[2], &user) == -1 || user.len == 0 ||
	    user.len > 1024) {
		buf_free(&user);
		return "FULL: bad user field";
	}
	full_set(buf_cstr(&user), secs);
	log_info("mailbox %s: %s", log_esc_str(buf_cstr(&user)), secs > 0 ?
	    "full (RCPT refused for a while)" : "no longer full");
	conn_send(c, 0, "OK", id, NULL, NULL);
	buf_free(&user);
	return NULL;
}

/* RCPT <id> <address>: where mail for an address goes. */
static const char *
req_rcpt(struct conn *c, struct sv *f, int nf)
{
	struct buf text, err;
	struct addr a;
	struct rec out;
	unsigned long id;
	const char *e;
	int r;

	if (nf != 3 || parse_id(f[1], &id) == -1)
		return "RCPT: expected an id and an address";
	buf_init(&text, 2048);
	if (tab_unescape(f[2], &text) == -1) {
		buf_free(&text);
		return "RCPT: bad address field";
	}
	buf_init(&err, 1024);
	addr_init(&a);
	rec_init(&out);
	if (addr_parse(buf_sv(&text), ADDR_UTF8, &a, &e) == -1) {
		rec_set_str(&out, "reason", e);
		conn_send(c, 0, "NOTFOUND", id, NULL, &out);
	} else {
		r = userdb_resolve(authd.udb, &a,
		    config_str(authd.cf, NULL, "recipient_delimiter"), &out,
		    &err);
		if (r == DICT_OK) {
			full_mark(&out);
			conn_send(c, 0, "RCPT", id, NULL, &out);
		}
		else if (r == DICT_NOTFOUND)
			conn_send(c, 0, "NOTFOUND", id, NULL, NULL);
		else if (r == USERDB_NOTLOCAL)
			conn_send(c, 0, "NOTLOCAL", id, NULL, NULL);
		else
			reply_dberror(c, id, &err);
	}
	buf_free(&text);
	buf_free(&err);
	addr_free(&a);
	rec_free(&out);
	return NULL;
}

/* REDEEM <id> <token>: master socket only; the session behind a token,
 * once. */
static const char *
req_redeem(struct conn *c, struct sv *f, int nf)
{
	unsigned long id;
	struct rec out;

	if (!c->master)
		return "REDEEM: only on the master socket";
	if (nf != 3 || parse_id(f[1], &id) == -1)
		return "REDEEM: expected an id and a token";
	rec_init(&out);
	if (token_redeem(f[2], &out) == 0) {
		log_info("session handed over: user=%s, service=%s",
		    log_esc_str(rec_get_str(&out, "user")),
		    log_esc_str(rec_get_str(&out, "service")));
		conn_send(c, 0, "OK", id, NULL, &out);
	} else {
		log_warning("REDEEM of an unknown or expired token");
		conn_send(c, 0, "NOTFOUND", id, NULL, NULL);
	}
	rec_free(&out);
	return NULL;
}

static const char *
req_version(struct conn *c, struct sv *f, int nf)
{
	uint64_t major;

	if (nf < 2 || parse_u64(f[1], 1000, &major) == -1)
		return "VERSION: expected a number";
	if (major != AUTH_PROTO_MAJOR)
		return "VERSION: unsupported major version";
	c->versioned = 1;
	buf_printf(&c->out, "VERSION\t%d\t%d\n", AUTH_PROTO_MAJOR,
	    AUTH_PROTO_MINOR);
	return NULL;
}

static const struct {
	const char *verb;
	const char *(*fn)(struct conn *, struct sv *, int);
} requests[] = {
	{ "AUTH", req_auth },
	{ "CONT", req_cont },
	{ "CANCEL", req_cancel },
	{ "USER", req_user },
	{ "RCPT", req_rcpt },
	{ "REDEEM", req_redeem },
	{ "FULL", req_full },
};

/* Handle one request line; returns an error string to disconnect. */
static const char *
request(struct conn *c, struct sv line)
{
	static struct sv f[REC_MAX_FIELDS];
	size_t i;
	int nf;

	if (line.n > 0 && line.p[line.n - 1] == '\r')
		line.n--;
	if ((nf = tab_split(line, f, NELEM(f))) < 1)
		return "too many fields";
	if (!c->versioned)
		return sv_eq_str(f[0], "VERSION") ? req_version(c, f, nf) :
		    "expected VERSION first";
	for (i = 0; i < NELEM(requests); i++)
		if (sv_eq_str(f[0], requests[i].verb))
			return requests[i].fn(c, f, nf);
	return "unknown request";
}

/* Bytes that came from the client: handle every whole request line. */
void
conn_input(struct conn *c, const char *data, size_t n)
{
	const char *nl, *why;
	size_t off;

	if (c->dead)
		return;
	if (buf_try_append(&c->in, data, n) == -1) {
		conn_close(c, "request line too long");
		return;
	}
	off = 0;
	while (!c->dead && !c->doomed && (nl = memchr(c->in.data + off,
	    '\n', c->in.len - off)) != NULL) {
		if ((size_t)(nl - (c->in.data + off)) > AUTH_LINE_MAX) {
			conn_close(c, "request line too long");
			return;
		}
		why = request(c, sv_make(c->in.data + off,
		    (size_t)(nl - (c->in.data + off))));
		off = (size_t)(nl - c->in.data) + 1;
		if (why != NULL) {
			conn_close(c, why);
			return;
		}
	}
	if (c->doomed) {
		conn_close(c, "client does not read its replies");
		return;
	}
	buf_consume(&c->in, off);
	if (c->in.data != NULL)
		explicit_bzero(c->in.data + c->in.len, c->in.cap - c->in.len);
	if (c->in.len > AUTH_LINE_MAX)
		conn_close(c, "request line too long");
}

static void
conn_read(struct conn *c)
{
	char tmp[8192];
	ssize_t n;

	n = read(c->fd, tmp, sizeof(tmp));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c, NULL);
		return;
	}
	conn_input(c, tmp, (size_t)n);
	/* Requests carry passwords: leave no copies behind. */
	explicit_bzero(tmp, sizeof(tmp));
}

void
conn_write(struct conn *c)
{
	ssize_t n;

	if (c->dead || c->out.len == 0)
		return;
	n = write(c->fd, c->out.data, c->out.len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c, NULL);
		return;
	}
	buf_consume(&c->out, (size_t)n);
}

/* Move due delayed replies to the output; drop stale SASL exchanges;
 * close the connection if a reply could not be queued. */
void
conn_tick(struct conn *c, uint64_t now)
{
	struct session **sp, *s;
	struct delayed *d;

	if (c->dead)
		return;
	while ((d = c->delayed) != NULL && d->due <= now) {
		c->delayed = d->next;
		c->ndelayed--;
		if (buf_try_append(&c->out, d->line.data, d->line.len) == -1)
			c->doomed = 1;
		buf_free(&d->line);
		free(d);
	}
	for (sp = &c->sessions; (s = *sp) != NULL;) {
		/* a pending check is answered by its worker, not timed out */
		if (!s->pending && now - s->started > authd.session_timeout) {
			struct rec f;

			*sp = s->next;
			c->nsessions--;
			log_debug("auth: exchange %lu timed out", s->id);
			rec_init(&f);
			rec_set_str(&f, "reason", "authentication timed out");
			conn_send(c, 0, "FAIL", s->id, NULL, &f);
			rec_free(&f);
			session_free(s);
		} else
			sp = &s->next;
	}
	if (c->doomed)
		conn_close(c, "client does not read its replies");
}

/* A new connection on fd (non-blocking), from the master socket or not. */
struct conn *
conn_open(int fd, int master)
{
	struct conn *c;

	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->master = master;
	buf_init(&c->in, AUTHD_IN_MAX);
	buf_init(&c->out, 4 * AUTH_REPLY_MAX);
	c->next = conns;
	conns = c;
	nconns++;
	authd.conns++;
	return c;
}

void
conn_shut(struct conn *c)
{
	if (!c->dead)
		conn_close(c, NULL);
}

static void
accept_one(int lfd, int master)
{
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return;
	if (nconns >= config_num(authd.cf, "authd", "auth_max_clients")) {
		log_warning("too many clients (%u); refusing one", nconns);
		close(fd);
		return;
	}
	(void)conn_open(fd, master);
}

/* Free the closed connections that no pending job refers to. */
void
conns_reap(void)
{
	struct conn **cp, *c;

	for (cp = &conns; (c = *cp) != NULL;) {
		if (c->dead && c->refs == 0) {
			*cp = c->next;
			free(c);
			nconns--;
		} else
			cp = &c->next;
	}
}

void
serve(int lfd, int mfd)
{
	struct pollfd *pfd = NULL;
	struct conn *c, **map = NULL;
	struct session *se;
	size_t n, i, nw, cap = 0;
	uint64_t now, next;
	int timeout, r;

	while (!authd_quit) {
		if (cap < nconns + 2 + AUTHD_MAX_WORKERS) {
			cap = (nconns + 2 + AUTHD_MAX_WORKERS) * 2;
			pfd = xreallocarray(pfd, cap, sizeof(*pfd));
			map = xreallocarray(map, cap, sizeof(*map));
		}
		now = now_ms();
		next = now + 60000;
		nw = workers_pollfds(pfd);
		pfd[nw].fd = lfd;
		pfd[nw].events = POLLIN;
		pfd[nw].revents = 0;
		pfd[nw + 1].fd = mfd;
		pfd[nw + 1].events = POLLIN;
		pfd[nw + 1].revents = 0;
		n = nw + 2;
		for (c = conns; c != NULL; c = c->next) {
			if (c->dead)
				continue;
			conn_tick(c, now);
			if (c->dead)
				continue;
			if (c->delayed != NULL && c->delayed->due < next)
				next = c->delayed->due;
			for (se = c->sessions; se != NULL; se = se->next)
				if (!se->pending && se->started +
				    authd.session_timeout + 1 < next)
					next = se->started +
					    authd.session_timeout + 1;
			pfd[n].fd = c->fd;
			pfd[n].events = POLLIN | (c->out.len ? POLLOUT : 0);
			map[n++] = c;
		}
		workers_dispatch();
		if (workers_deadline() < next)
			next = workers_deadline();
		timeout = next > now ? (int)(next - now) : 0;
		/* a SIGTERM wakes the poll through the self-pipe */
		pfd[n].fd = daemon_signal_fd();
		pfd[n].events = POLLIN;
		r = poll(pfd, n + 1, timeout);
		if (r > 0 && (pfd[n].revents & POLLIN)) {
			daemon_signal_drain();
			r--;
		}
		if (r < 0 && errno != EINTR)
			log_fatal("poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		workers_handle(pfd);
		for (i = nw + 2; i < n; i++) {
			c = map[i];
			if (!c->dead && (pfd[i].revents & POLLOUT))
				conn_write(c);
			if (!c->dead &&
			    (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				conn_read(c);
			if (!c->dead && c->out.len > 0)
				conn_write(c);
		}
		/* replies that could not be queued (timers, hash workers):
		 * the connection goes */
		for (c = conns; c != NULL; c = c->next) {
			if (!c->dead && c->doomed)
				conn_close(c, "client does not read its "
				    "replies");
		}
		if (pfd[nw].revents & POLLIN)
			accept_one(lfd, 0);
		if (pfd[nw + 1].revents & POLLIN)
			accept_one(mfd, 1);
		conns_reap();
	}
	free(pfd);
	free(map);
	for (c = conns; c != NULL; c = c->next)
		if (!c->dead)
			conn_close(c, NULL);
	workers_stop();		/* answers pending jobs: drops their refs */
	conns_reap();
}
