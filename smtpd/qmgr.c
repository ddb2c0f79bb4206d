/*
 * qmgr: the queue manager (qmgr(8)).
 *
 * It takes what enqueue committed to todo/, moves the envelope to
 * info/H/ID (from then on the queue manager's), and delivers: local
 * recipients through the LMTP agent (local(8)), one transaction per
 * message with one reply per recipient (RFC 2033 4.2), up to
 * local_process_limit at once; remote ones through remote(8), one job
 * per message and domain, under remote_process_limit and the
 * per-destination limits.  Each recipient's fate is written into the
 * envelope (state=sent|failed, reply=, dsn=) after each job, by a rename
 * over the old one, so a restart after kill -9 at most tries the
 * in-flight recipients again.  Deferred mail is tried again with a
 * doubling delay (queue_retry_min to queue_retry_max); after
 * queue_lifetime it fails.  When every recipient has a final result, the
 * failures go back to the sender as one RFC 3464 report (a report's own
 * failure to the postmaster, never further) and the message leaves the
 * queue.
 *
 * qmgr runs as queue_user with queue_dir as its working directory.  It
 * is not chrooted: it connects to the LMTP agent's socket for every
 * delivery.  It reads nothing from the network.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chapar/authc.h"
#include "chapar/config.h"
#include "chapar/daemon.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/priv.h"
#include "chapar/queue.h"
#include "chapar/util.h"

#define LMTP_TIMEOUT_MS (10 * 60 * 1000)
#define LMTP_GREET_MS (10 * 1000)
#define SCAN_SECS 60		/* the safety-net look at todo/ */
#define MSGS_MAX 100000		/* messages held in memory at once */

#define ACTIVE_MAX 20000		/* messages in the middle of a run */

/* A message the queue manager holds: its id and when to try it; while a
 * run over it is in progress, its envelope and jobs out. */
struct msg {
	char id[QUEUE_ID_MAX];
	uint64_t next;		/* UINT64_MAX: held, or running */
	struct queue_env *e;	/* during a run */
	size_t out;		/* its remote jobs not yet back */
	int cancel;		/* deleted by the admin during the run */
	int gone;		/* removed: leaves the table */
};

/* What a notice is about (RFC 3464 2.3.3 Action). */
enum dsn_kind { DSN_FAILED, DSN_DELAYED, DSN_SUCCESS };

static struct {
	struct config *cf;
	struct authc *auth;
	volatile sig_atomic_t quit;
	struct msg **m;
	size_t n;
	size_t active;		/* messages in a run */
	char host[256];
	uint64_t retry_min, retry_max, lifetime, warn;
	uint64_t process_limit, dest_concurrency, rate_delay, local_limit;
	int wake;		/* the FIFO enqueue writes to */
	int rescan;		/* a report was queued: look at todo/ */
} G;

/* --- the envelope on disk ------------------------------------------------ */

static void
info_path(const char *id, struct buf *p)
{
	queue_path("info", id, p);
}

static int
env_load(const char *id, struct queue_env *e)
{
	struct buf p, text;
	const char *why;
	int r = -1;

	buf_init(&p, 256);
	buf_init(&text, QUEUE_ENV_MAX + 1);
	info_path(id, &p);
	if (file_read(buf_cstr(&p), QUEUE_ENV_MAX, &text) == -1) {
		if (errno != ENOENT)
			log_error("%s: %s: %s", id, buf_cstr(&p),
			    strerror(errno));
	}
	else if (queue_env_parse(buf_sv(&text), e, &why) == -1)
		log_error("%s: envelope: %s", id, why);
	else
		r = 0;
	buf_free(&p);
	buf_free(&text);
	return r;
}

/* The envelope with its recipients' states, in place of the old one
 * (write, fsync, rename). */
static int
env_save(const char *id, const struct queue_env *e)
{
	struct buf p, text;
	int r;

	buf_init(&p, 256);
	buf_init(&text, QUEUE_ENV_MAX + 4096);
	info_path(id, &p);
	/* -1: the replies made it too long to read back; the one on
	 * disk stays */
	if ((r = queue_env_format(e, &text)) == -1)
		log_error("%s: saving the envelope: too long", id);
	else if ((r = file_write_atomic(buf_cstr(&p), text.data, text.len,
	    0600)) == -1)
		log_error("%s: saving the envelope: %s", id, strerror(errno));
	buf_free(&p);
	buf_free(&text);
	return r;
}

static const char *
rcpt_state(const struct rec *r)
{
	const char *s = rec_get_str(r, "state");

	return s != NULL ? s : "";
}

static void
rcpt_set(struct rec *r, const char *state, int code, const char *dsn,
    const char *text)
{
	struct buf reply;

	buf_init(&reply, 1024);
	if (code > 0)
		buf_printf(&reply, "%d %s", code, text);
	else
		buf_puts(&reply, text);
	if (state != NULL)
		rec_set_str(r, "state", state);
	rec_set(r, "reply", buf_sv(&reply));
	rec_set_str(r, "dsn", dsn);
	buf_free(&reply);
}

/* --- where a recipient goes ---------------------------------------------- */

enum route { R_LOCAL, R_REMOTE, R_UNKNOWN, R_TEMP };

static enum route
route_of(const char *rcpt)
{
	struct authc_reply rep;
	struct buf err;
	enum route r = R_TEMP;
	const char *verb;

	if (G.auth == NULL)
		return R_TEMP;
	authc_reply_init(&rep);
	buf_init(&err, 1024);
	if (authc_rcpt(G.auth, rcpt, &rep, &err) == -1) {
		/* chapard starts a new qmgr, which connects again */
		log_error("authd: %s; exiting to reconnect", buf_cstr(&err));
		authc_close(&G.auth);
		G.quit = 1;
	} else {
		verb = buf_cstr(&rep.verb);
		r = strcmp(verb, "RCPT") == 0 ? R_LOCAL :
		    strcmp(verb, "NOTLOCAL") == 0 ? R_REMOTE :
		    strcmp(verb, "NOTFOUND") == 0 ? R_UNKNOWN : R_TEMP;
	}
	authc_reply_free(&rep);
	buf_free(&err);
	return r;
}

/* --- LMTP to local(8) ---------------------------------------------------- */

static int
lmtp_connect(struct buf *err)
{
	const char *to = config_str(G.cf, NULL, "qmgr_lmtp");
	struct listen_addr la[2];
	const char *why;
	int fd;

	if (to[0] == '/')
		return unix_connect(to, "the LMTP agent", err);
	if (listen_addr_parse(sv_from(to), la, &why) == -1) {
		buf_reset(err);
		buf_printf(err, "qmgr_lmtp %s: %s", to, why);
		return -1;
	}
	if ((fd = socket(la[0].ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1 || connect(fd, (struct sockaddr *)&la[0].ss,
	    la[0].len) == -1) {
		buf_reset(err);
		buf_printf(err, "cannot connect to the LMTP agent at "
		    "%s: %s", to, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* One reply, multi-line folded: its code, and its last line's text. */
static int
lmtp_reply(struct io *io, struct buf *text)
{
	struct sv line;
	int crlf, code;

	for (;;) {
		if (io_getline(io, &line, &crlf) != IO_OK || line.n < 3)
			return -1;
		code = (line.p[0] - '0') * 100 + (line.p[1] - '0') * 10 +
		    (line.p[2] - '0');
		if (code < 200 || code > 599)
			return -1;
		buf_reset(text);
		if (line.n > 4)
			buf_append(text, line.p + 4, line.n - 4);
		if (line.n == 3 || line.p[3] == ' ')
			return code;
		if (line.p[3] != '-')
			return -1;
	}
}

/* The header fields a content filter added (header= in the envelope,
 * chapar-filter(7)), each a line, to go on top of the message. */
static void
header_tags(const struct queue_env *e, struct buf *out)
{
	size_t i;

	buf_reset(out);
	for (i = 0; i < e->head.n; i++)
		if (strcmp(e->head.names[i], "header") == 0) {
			buf_append(out, e->head.vals[i].data,
			    e->head.vals[i].len);
			buf_puts(out, "\r\n");
		}
}

/* Bytes of the message, a dot added before each line that starts with
 * one (RFC 5321 4.5.2); *bol: at the start of a line. */
static int
stuffed(struct io *io, const char *p, size_t n, int *bol)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		if (*bol && p[i] == '.') {
			if (io_write(io, p + start, i - start) != IO_OK ||
			    io_write(io, ".", 1) != IO_OK)
				return -1;
			start = i;
		}
		*bol = p[i] == '\n';
	}
	return io_write(io, p + start, n - start) == IO_OK ? 0 : -1;
}

/* The filters' fields, the message file, dot-stuffed, then "." (the
 * file is CRLF already). */
static int
lmtp_body(struct io *io, const struct buf *top, int fd)
{
	char buf[65536];
	ssize_t n;
	int bol = 1;

	if (stuffed(io, top->data, top->len, &bol) == -1)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (stuffed(io, buf, (size_t)n, &bol) == -1)
			return -1;
	if (n == -1)
		return -1;
	return io_puts(io, bol ? ".\r\n" : "\r\n.\r\n") == IO_OK &&
	    io_flush(io) == IO_OK ? 0 : -1;
}

static void
log_result(const char *id, const struct queue_env *e, const struct rec *r,
    const char *relay, const char *status)
{
	uint64_t t = 0;

	(void)rec_get_u64(&e->head, "time", &t);
	log_info("%s: to=<%s>, relay=%s, delay=%llu, dsn=%s, status=%s (%s)",
	    id, log_esc_str(rec_get_str(r, "rcpt")), relay,
	    (unsigned long long)((uint64_t)now_sec() - t),
	    rec_get_str(r, "dsn") ? rec_get_str(r, "dsn") : "",
	    status, log_esc_str(rec_get_str(r, "reply") ?
	    rec_get_str(r, "reply") : ""));
}

/* --- remote(8): jobs, destinations, connections -------------------------- */

/*
 * Remote recipients go out as jobs: the recipients of one message for
 * one domain.  Jobs wait in their destination's line; a destination
 * runs at most remote_destination_concurrency at once (one, with a pause
 * between starts, when remote_destination_rate_delay is set), and all
 * of them at most remote_process_limit: one connection to remote(8) per
 * job running, each served by a remote process of its own.  A
 * connection that has finished a job stays open, and takes the next job
 * for the same destination first, so that remote's SMTP connection to
 * that destination is used again.
 */
struct rjob {
	struct msg *m;
	size_t *grp, n;		/* the recipients' indexes in m->e */
	char dest[256];
	struct rjob *next;
};

struct dest {
	char name[256];
	size_t active;
	uint64_t last_ms;	/* the last start (rate delay) */
	struct rjob *head, *tail;
};

struct slot {
	int fd;
	struct rjob *job;	/* NULL: idle */
	char last[256];		/* its last job's destination */
	uint64_t idle_ms;
	struct buf in;
};

#define SLOT_IDLE_MS (60 * 1000)	/* an idle connection is closed */

static struct {
	struct dest *d;
	size_t nd;
	struct slot *s;
	size_t ns, busy;
	size_t rr;		/* where the next dispatch starts */
} Q;

static struct dest *
dest_find(const char *name, int make)
{
	size_t i;

	for (i = 0; i < Q.nd; i++)
		if (strcasecmp(Q.d[i].name, name) == 0)
			return &Q.d[i];
	if (!make)
		return NULL;
	Q.d = xreallocarray(Q.d, Q.nd + 1, sizeof(*Q.d));
	memset(&Q.d[Q.nd], 0, sizeof(*Q.d));
	(void)xsnprintf(Q.d[Q.nd].name, sizeof(Q.d[Q.nd].name), "%s", name);
	return &Q.d[Q.nd++];
}

/* Destinations with nothing waiting, nothing running and no pause to
 * keep are forgotten. */
static void
dest_sweep(void)
{
	uint64_t now = now_ms(), pause = G.rate_delay * 1000;
	size_t i;

	for (i = 0; i < Q.nd; )
		if (Q.d[i].head == NULL && Q.d[i].active == 0 &&
		    now >= Q.d[i].last_ms + pause)
			Q.d[i] = Q.d[--Q.nd];
		else
			i++;
}

/* remote's answer (or NULL: it could not be asked) for recipients
 * grp[0..n). */
static void
apply_remote(const char *id, struct queue_env *e, size_t *grp, size_t n,
    const struct buf *answer)
{
	struct sv rest, line;
	struct rec r;
	uint64_t code;
	size_t i;

	if (answer != NULL)
		rest = buf_sv(answer);
	for (i = 0; i < n; i++) {
		struct rec *rc = &e->rcpts[grp[i]];
		const char *relay = "none", *st;

		rec_init(&r);
		if (answer == NULL || rest.n == 0 ||
		    ((void)sv_split(&rest, '\n', &line), rec_decode(line, &r))
		    == -1 || rec_get_u64(&r, "code", &code) == -1 ||
		    rec_get_str(&r, "reply") == NULL) {
			rcpt_set(rc, NULL, 0, "4.4.0", "the SMTP client "
			    "(remote) is unavailable");
		} else {
			st = code < 300 ? "sent" : code >= 500 ? "failed" :
			    NULL;
			if (st != NULL)
				rec_set_str(rc, "state", st);
			rec_set_str(rc, "reply", rec_get_str(&r, "reply"));
			rec_set_str(rc, "dsn", rec_get_str(&r, "dsn") ?
			    rec_get_str(&r, "dsn") : "4.0.0");
			if (rec_get_str(&r, "relay") != NULL)
				relay = rec_get_str(&r, "relay");
			/* the peer takes NOTIFY on (RFC 3461 4.1) */
			rec_del(rc, "peer_dsn");
			rec_del(rc, "relayed");
			if (code < 300)
				rec_set_str(rc, rec_get_str(&r, "peer_dsn") ?
				    "peer_dsn" : "relayed", "1");
		}
		st = rcpt_state(rc);
		log_result(id, e, rc, relay, strcmp(st, "sent") == 0 ? "sent" :
		    strcmp(st, "failed") == 0 ? "bounced" : "deferred");
		rec_free(&r);
	}
}

static void
slot_close(struct slot *s)
{
	close(s->fd);
	buf_free(&s->in);
	*s = Q.s[--Q.ns];
}

/* A connection for a job to dest: an idle one that last went there,
 * else any idle one, else a new one (fresh: a new one).  NULL: remote
 * cannot be reached. */
static struct slot *
slot_get(const char *dest, int fresh)
{
	struct slot *any = NULL;
	struct buf err;
	size_t i;
	int fd;

	for (i = 0; i < Q.ns && !fresh; i++)
		if (Q.s[i].job == NULL) {
			if (strcasecmp(Q.s[i].last, dest) == 0)
				return &Q.s[i];
			if (any == NULL)
				any = &Q.s[i];
		}
	if (any != NULL && Q.ns >= G.process_limit)
		return any;
	if (fresh && Q.ns >= G.process_limit)	/* make room */
		for (i = 0; i < Q.ns; i++)
			if (Q.s[i].job == NULL) {
				slot_close(&Q.s[i]);
				break;
			}
	buf_init(&err, 1024);
	fd = unix_connect(config_str(G.cf, NULL, "remote_socket"), "remote",
	    &err);
	if (fd == -1) {
		log_warning("%s", buf_cstr(&err));
		buf_free(&err);
		return any;
	}
	buf_free(&err);
	Q.s = xreallocarray(Q.s, Q.ns + 1, sizeof(*Q.s));
	memset(&Q.s[Q.ns], 0, sizeof(*Q.s));
	Q.s[Q.ns].fd = fd;
	buf_init(&Q.s[Q.ns].in, 64 * 1024);
	return &Q.s[Q.ns++];
}

/* Send a job (these recipients, the message); the answer comes later
 * on the connection.  0, or -1. */
static int
job_send(struct slot *s, struct rjob *j)
{
	const struct queue_env *e = j->m->e;
	struct buf text, path;
	struct queue_env job;
	char chunk[65536];
	ssize_t got;
	size_t i;
	int fd = -1, r = -1, fmt;

	queue_env_init(&job);
	job.head = e->head;	/* borrowed, not freed here */
	job.rcpts = xcalloc(j->n, sizeof(*job.rcpts));
	for (i = 0; i < j->n; i++)
		job.rcpts[i] = e->rcpts[j->grp[i]];
	job.nrcpt = j->n;
	buf_init(&text, QUEUE_ENV_MAX);
	buf_init(&path, 256);
	/* -1: replies of earlier tries made the job too long */
	fmt = queue_env_format(&job, &text);
	free(job.rcpts);
	queue_path("mess", j->m->id, &path);
	if (fmt == -1 ||
	    (fd = open(buf_cstr(&path), O_RDONLY | O_CLOEXEC)) == -1 ||
	    queue_frame_write(s->fd, QF_ENVELOPE, text.data, text.len) == -1)
		goto out;
	/* the filters' fields on top (chapar-filter(7)) */
	header_tags(e, &path);
	if (path.len > 0 && queue_frame_write(s->fd, QF_DATA, path.data,
	    path.len) == -1)
		goto out;
	while ((got = read(fd, chunk, sizeof(chunk))) > 0)
		if (queue_frame_write(s->fd, QF_DATA, chunk, (size_t)got) ==
		    -1)
			goto out;
	if (got == 0 && queue_frame_write(s->fd, QF_COMMIT, NULL, 0) == 0)
		r = 0;
out:
	if (fd != -1)
		close(fd);
	buf_free(&text);
	buf_free(&path);
	return r;
}

static void msg_finish(struct msg *);

/* A job is over: when it ran, its answer (NULL: none) goes into the
 * envelope, saved. */
static void
job_done(struct rjob *j, int ran, const struct buf *answer)
{
	struct msg *m = j->m;
	struct dest *d;

	if (ran) {
		apply_remote(m->id, m->e, j->grp, j->n, answer);
		/* kept at once, unless msg_finish, next, writes it or
		 * removes the message anyway */
		if (m->out > 1)
			(void)env_save(m->id, m->e);
		if ((d = dest_find(j->dest, 0)) != NULL && d->active > 0)
			d->active--;
	}
	free(j->grp);
	free(j);
	if (--m->out == 0)
		msg_finish(m);
}

/* Start what the limits allow, destinations taken in turn. */
static void
dispatch(void)
{
	uint64_t now = now_ms(), pause = G.rate_delay * 1000;
	size_t k, conc = G.rate_delay > 0 ? 1 : G.dest_concurrency;
	int started;
	struct rjob *j;
	struct slot *s;
	struct dest *d;

	do {
		started = 0;
		for (k = 0; k < Q.nd && Q.busy < G.process_limit; k++) {
			d = &Q.d[(Q.rr + k) % Q.nd];
			if ((j = d->head) == NULL || d->active >= conc ||
			    (pause > 0 && now < d->last_ms + pause))
				continue;
			if ((d->head = j->next) == NULL)
				d->tail = NULL;
			/* cancelled or held meanwhile: the recipients stay
			 * as they are */
			if (j->m->cancel || rec_get_str(&j->m->e->head,
			    "held") != NULL) {
				job_done(j, 0, NULL);
				started = 1;
				continue;
			}
			d->active++;
			d->last_ms = now;
			if ((s = slot_get(d->name, 0)) == NULL) {
				job_done(j, 1, NULL);
				started = 1;
				continue;
			}
			if (job_send(s, j) == -1) {
				/* an idle connection whose remote process
				 * is gone (a restart): once more, anew */
				slot_close(s);
				if ((s = slot_get(d->name, 1)) == NULL ||
				    job_send(s, j) == -1) {
					log_warning("remote: a job could not "
					    "be sent");
					if (s != NULL)
						slot_close(s);
					job_done(j, 1, NULL);
					started = 1;
					continue;
				}
			}
			s->job = j;
			(void)xsnprintf(s->last, sizeof(s->last), "%s",
			    d->name);
			Q.busy++;
			started = 1;
		}
		if (Q.nd > 0)
			Q.rr = (Q.rr + 1) % Q.nd;
	} while (started && Q.busy < G.process_limit);
}

/* Something from remote on a busy connection. */
static void
slot_input(struct slot *s)
{
	struct rjob *j = s->job;
	struct buf answer;
	struct sv p;
	ssize_t got, used;
	int type;

	if (buf_reserve(&s->in, 64 * 1024) == -1)
		got = -1;
	else
		got = read(s->fd, s->in.data + s->in.len, s->in.cap -
		    s->in.len);
	if (got == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (got > 0) {
		s->in.len += (size_t)got;
		if ((used = queue_frame_take(&s->in, 0, &type, &p)) == 0)
			return;	/* more to come */
		if (used > 0 && type == QF_OK) {
			buf_init(&answer, p.n + 1);
			buf_append(&answer, p.p, p.n);
			buf_reset(&s->in);
			s->job = NULL;
			s->idle_ms = now_ms();
			Q.busy--;
			job_done(j, 1, &answer);
			buf_free(&answer);
			return;
		}
	}
	/* gone (kill -9, a crash) or speaking nonsense: the recipients
	 * are tried again later */
	log_warning("remote: the connection broke during a job");
	Q.busy--;
	slot_close(s);
	job_done(j, 1, NULL);
}

/* The busy connection on descriptor fd has something. */
static void
slot_by_fd_input(int fd)
{
	size_t i;

	for (i = 0; i < Q.ns; i++)
		if (Q.s[i].fd == fd && Q.s[i].job != NULL) {
			slot_input(&Q.s[i]);
			return;
		}
}

/* Connections idle for long are closed (their remote process ends). */
static void
slots_expire(void)
{
	uint64_t now = now_ms();
	size_t i;

	for (i = 0; i < Q.ns; )
		if (Q.s[i].job == NULL && now >= Q.s[i].idle_ms +
		    SLOT_IDLE_MS)
			slot_close(&Q.s[i]);
		else
			i++;
}

/* The remote recipients idx[0..n) of a message: a job per domain, in
 * its destination's line. */
static void
queue_remote(struct msg *m, size_t *idx, size_t n)
{
	struct queue_env *e = m->e;
	char *done = xcalloc(n, 1);
	const char *at, *at2;
	struct rjob *j;
	struct dest *d;
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (done[i])
			continue;
		done[i] = 1;
		at = strrchr(rec_get_str(&e->rcpts[idx[i]], "rcpt"), '@');
		j = xcalloc(1, sizeof(*j));
		j->m = m;
		j->grp = xcalloc(n, sizeof(*j->grp));
		j->grp[j->n++] = idx[i];
		for (k = i + 1; k < n && at != NULL; k++) {
			at2 = strrchr(rec_get_str(&e->rcpts[idx[k]], "rcpt"),
			    '@');
			if (!done[k] && at2 != NULL && strcasecmp(at, at2) ==
			    0) {
				j->grp[j->n++] = idx[k];
				done[k] = 1;
			}
		}
		(void)xsnprintf(j->dest, sizeof(j->dest), "%s", at != NULL ?
		    at + 1 : "");
		d = dest_find(j->dest, 1);
		if (d->tail != NULL)
			d->tail->next = j;
		else
			d->head = j;
		d->tail = j;
		m->out++;
	}
	free(done);
}

/* --- local(8): jobs and LMTP connections ------------------------------- */

/*
 * Local recipients go to the LMTP agent as jobs too: one per message, at
 * most local_process_limit at once, each on a connection of its own
 * (kept for the next job).  The envelope (MAIL, the RCPTs, DATA) and the
 * message go out at once; the replies to the end of the message, which
 * come only when the agent has the message on disk, are read when they
 * arrive, so the deliveries' fsyncs overlap.
 */
struct ljob {
	struct msg *m;
	size_t *idx, n;		/* the recipients' indexes in m->e */
	int *acc;		/* accepted at RCPT: a reply after the data */
	int tries;		/* sent again after a dead kept connection */
	struct ljob *next;
};

struct lslot {
	struct io io;
	struct ljob *job;	/* NULL: idle */
	int state;		/* 1: the envelope's replies due, 2: the data's */
	uint64_t idle_ms;
	int used;		/* has carried a job: may have gone stale */
};

static struct {
	struct ljob *head, *tail;
	struct lslot *s;
	size_t ns, busy;
} L;

/* A new connection to the LMTP agent, greeted and LHLO'd; NULL with
 * err set. */
static struct lslot *
lslot_open(struct buf *err)
{
	struct buf text;
	struct lslot *ls;
	int fd;

	if ((fd = lmtp_connect(err)) == -1)
		return NULL;
	L.s = xreallocarray(L.s, L.ns + 1, sizeof(*L.s));
	ls = &L.s[L.ns];
	memset(ls, 0, sizeof(*ls));
	/* a short wait for the greeting: an agent whose workers are all
	 * taken (max_procs below local_process_limit) must not stall the
	 * queue manager for long */
	io_init(&ls->io, fd, 4096, LMTP_GREET_MS);
	buf_init(&text, 1024);
	if (lmtp_reply(&ls->io, &text) != 220 ||
	    io_printf(&ls->io, "LHLO %s\r\n", G.host) != IO_OK ||
	    io_flush(&ls->io) != IO_OK || lmtp_reply(&ls->io, &text) != 250) {
		buf_reset(err);
		buf_printf(err, "the LMTP agent did not greet: %s",
		    text.len ? buf_cstr(&text) : "connection lost");
		io_free(&ls->io, 1);
		buf_free(&text);
		return NULL;
	}
	ls->io.timeout_ms = LMTP_TIMEOUT_MS;
	buf_free(&text);
	L.ns++;
	return ls;
}

static void
lslot_close(struct lslot *ls)
{
	io_free(&ls->io, 1);
	*ls = L.s[--L.ns];
}

/* An idle connection that the agent has closed (its worker retired)
 * reads as EOF at once. */
static int
lslot_stale(struct lslot *ls)
{
	struct pollfd p = { .fd = ls->io.fd, .events = POLLIN };

	return io_buffered(&ls->io) > 0 || poll(&p, 1, 0) != 0;
}

/* A job's recipients have their results: logged, the envelope kept,
 * and the message's run goes on. */
static void
ljob_done(struct ljob *j, int ran)
{
	struct msg *m = j->m;
	size_t i;

	for (i = 0; ran && i < j->n; i++) {
		const struct rec *r = &m->e->rcpts[j->idx[i]];
		const char *s = rcpt_state(r);

		log_result(m->id, m->e, r, "local", strcmp(s, "sent") == 0 ?
		    "sent" : strcmp(s, "failed") == 0 ? "bounced" :
		    "deferred");
	}
	if (ran && m->out > 1)
		(void)env_save(m->id, m->e);
	free(j->idx);
	free(j->acc);
	free(j);
	if (--m->out == 0)
		msg_finish(m);
}

/* What has no result yet is deferred, with why. */
static void
ljob_defer(struct ljob *j, const char *dsn, const char *why)
{
	size_t i;

	for (i = 0; i < j->n; i++)
		if (rcpt_state(&j->m->e->rcpts[j->idx[i]])[0] == '\0')
			rcpt_set(&j->m->e->rcpts[j->idx[i]], NULL, 0, dsn, why);
}

enum lstart { L_WAIT, L_DONE, L_BROKEN, L_STALE };

/* The envelope of job j on connection ls, MAIL, the RCPTs and DATA at
 * once (RFC 2033 4.2, pipelined as RFC 2920 allows); the replies are
 * read when they come (local_envelope). */
static int
local_send(struct lslot *ls, struct ljob *j)
{
	struct queue_env *e = j->m->e;
	const char *body = rec_get_str(&e->head, "body");
	size_t i;

	(void)io_printf(&ls->io, "MAIL FROM:<%s>%s%s\r\n",
	    rec_get_str(&e->head, "sender"), body != NULL && strcmp(body,
	    "7BIT") != 0 ? " BODY=8BITMIME" : "",
	    rec_get_str(&e->head, "smtputf8") ? " SMTPUTF8" : "");
	for (i = 0; i < j->n; i++)
		(void)io_printf(&ls->io, "RCPT TO:<%s>\r\n",
		    rec_get_str(&e->rcpts[j->idx[i]], "rcpt"));
	(void)io_puts(&ls->io, "DATA\r\n");
	return io_flush(&ls->io) == IO_OK ? 0 : -1;
}

/*
 * The replies to the envelope, then (354) the message.  L_WAIT: the
 * replies to the data are to come; L_DONE: settled already (no
 * recipient accepted, or MAIL refused), the connection reusable;
 * L_BROKEN: the connection failed, the rest deferred; L_STALE: a kept
 * connection was dead before the job started (nothing happened: the job
 * goes again on a new one).
 */
static enum lstart
local_envelope(struct lslot *ls, struct ljob *j)
{
	struct queue_env *e = j->m->e;
	struct buf text, path, tags;
	enum lstart r = L_BROKEN;
	size_t i, nacc = 0;
	int code, mfd = -1, mail_ok;
	char st[16];

	buf_init(&text, 1024);
	buf_init(&path, 256);
	buf_init(&tags, 4096);
	if ((code = lmtp_reply(&ls->io, &text)) == -1) {
		r = ls->used ? L_STALE : L_BROKEN;
		goto out;
	}
	if ((mail_ok = code == 250) == 0) {
		queue_reply_status(code, buf_cstr(&text), st);
		for (i = 0; i < j->n; i++)
			rcpt_set(&e->rcpts[j->idx[i]], code >= 500 ? "failed" :
			    NULL, code, st, buf_cstr(&text));
	}
	for (i = 0; i < j->n; i++) {
		if ((code = lmtp_reply(&ls->io, &text)) == -1)
			goto out;
		if (!mail_ok)
			continue;	/* 503s after the refused MAIL */
		if (code == 250 || code == 251) {
			j->acc[i] = 1;
			nacc++;
			continue;
		}
		queue_reply_status(code, buf_cstr(&text), st);
		rcpt_set(&e->rcpts[j->idx[i]], code >= 500 ? "failed" : NULL,
		    code, st, buf_cstr(&text));
	}
	/* DATA's reply */
	if ((code = lmtp_reply(&ls->io, &text)) == -1)
		goto out;
	if (code == 354 && nacc == 0) {
		/* RFC 2920 3.1: taken without recipients: an empty message */
		if (io_puts(&ls->io, ".\r\n") != IO_OK ||
		    io_flush(&ls->io) != IO_OK || lmtp_reply(&ls->io, &text) ==
		    -1)
			goto out;
		r = L_DONE;
		goto out;
	}
	if (code != 354) {
		/* nobody accepted (503, 554), or the agent refused DATA */
		for (i = 0; i < j->n; i++)
			if (j->acc[i])
				rcpt_set(&e->rcpts[j->idx[i]], NULL, code,
				    "4.0.0", buf_cstr(&text));
		r = L_DONE;
		goto out;
	}
	queue_path("mess", j->m->id, &path);
	header_tags(e, &tags);
	if ((mfd = open(buf_cstr(&path), O_RDONLY | O_CLOEXEC)) == -1 ||
	    lmtp_body(&ls->io, &tags, mfd) == -1)
		goto out;
	r = L_WAIT;
out:
	if (r == L_BROKEN)
		ljob_defer(j, "4.4.2", "lost the connection to the LMTP agent");
	if (mfd != -1)
		close(mfd);
	buf_free(&text);
	buf_free(&path);
	buf_free(&tags);
	return r;
}

/* The replies to the data (RFC 2033 4.2: one per accepted recipient, in
 * order).  0, or -1 when the connection broke (the rest deferred). */
static int
local_finish(struct lslot *ls, struct ljob *j)
{
	struct queue_env *e = j->m->e;
	struct buf text;
	size_t i;
	int code, r = 0;
	char st[16];

	buf_init(&text, 1024);
	for (i = 0; i < j->n; i++) {
		if (!j->acc[i])
			continue;
		if ((code = lmtp_reply(&ls->io, &text)) == -1) {
			ljob_defer(j, "4.4.2", "lost the connection to the "
			    "LMTP agent");
			r = -1;
			break;
		}
		queue_reply_status(code, buf_cstr(&text), st);
		rcpt_set(&e->rcpts[j->idx[i]], code < 300 ? "sent" : code >= 500 ?
		    "failed" : NULL, code, st, buf_cstr(&text));
	}
	buf_free(&text);
	return r;
}

/* A job back at the head of the line (its connection was dead). */
static void
ljob_again(struct ljob *j)
{
	if ((j->next = L.head) == NULL)
		L.tail = j;
	L.head = j;
	j->tries++;
}

/* Start what local_process_limit allows: the envelopes go out, the
 * replies are read by local_input_fd. */
static void
dispatch_local(void)
{
	struct ljob *j;
	struct lslot *ls;
	struct buf err;
	size_t i;

	buf_init(&err, 1024);
	while ((j = L.head) != NULL && L.busy < G.local_limit) {
		if ((L.head = j->next) == NULL)
			L.tail = NULL;
		j->next = NULL;
		if (j->m->cancel || rec_get_str(&j->m->e->head, "held") !=
		    NULL) {
			ljob_done(j, 0);
			continue;
		}
		ls = NULL;
		for (i = 0; i < L.ns && ls == NULL; i++)
			if (L.s[i].job == NULL) {
				if (lslot_stale(&L.s[i]))
					lslot_close(&L.s[i--]);
				else
					ls = &L.s[i];
			}
		if (ls == NULL && (ls = lslot_open(&err)) == NULL) {
			ljob_defer(j, "4.4.1", buf_cstr(&err));
			ljob_done(j, 1);
			continue;
		}
		if (local_send(ls, j) == -1) {
			int used = ls->used;

			lslot_close(ls);
			if (used && j->tries < 2)
				ljob_again(j);
			else {
				ljob_defer(j, "4.4.2", "lost the connection to "
				    "the LMTP agent");
				ljob_done(j, 1);
			}
			continue;
		}
		ls->job = j;
		ls->state = 1;
		L.busy++;
	}
	buf_free(&err);
}

/* The busy LMTP connection on descriptor fd has something: the replies
 * to the envelope (then the message goes) or to the data. */
static void
local_input_fd(int fd)
{
	struct lslot *ls = NULL;
	struct ljob *j;
	enum lstart r;
	size_t i;

	for (i = 0; i < L.ns; i++)
		if (L.s[i].io.fd == fd && L.s[i].job != NULL)
			ls = &L.s[i];
	if (ls == NULL)
		return;
	j = ls->job;
	if (ls->state == 1) {
		r = local_envelope(ls, j);
		if (r == L_WAIT) {
			ls->state = 2;
			return;
		}
	} else
		r = local_finish(ls, j) == -1 ? L_BROKEN : L_DONE;
	ls->job = NULL;
	ls->state = 0;
	L.busy--;
	if (r == L_STALE) {
		lslot_close(ls);
		if (j->tries < 2) {
			ljob_again(j);
			return;
		}
		ljob_defer(j, "4.4.2", "lost the connection to the LMTP agent");
		r = L_BROKEN;
	} else if (r == L_BROKEN)
		lslot_close(ls);
	else {
		ls->used = 1;
		ls->idle_ms = now_ms();
	}
	ljob_done(j, 1);
}

/* Idle LMTP connections kept too long go. */
static void
local_expire(void)
{
	uint64_t now = now_ms();
	size_t i;

	for (i = 0; i < L.ns; )
		if (L.s[i].job == NULL && now >= L.s[i].idle_ms + SLOT_IDLE_MS)
			lslot_close(&L.s[i]);
		else
			i++;
}

/* The local recipients idx[0..n) of a message: one job. */
static void
queue_local(struct msg *m, const size_t *idx, size_t n)
{
	struct ljob *j = xcalloc(1, sizeof(*j));

	j->m = m;
	j->n = n;
	j->idx = xcalloc(n, sizeof(*j->idx));
	memcpy(j->idx, idx, n * sizeof(*idx));
	j->acc = xcalloc(n, sizeof(*j->acc));
	if (L.tail != NULL)
		L.tail->next = j;
	else
		L.head = j;
	L.tail = j;
	m->out++;
}

/* --- delivery status notifications (RFC 3464) ---------------------------- */

static void
dsn_date(uint64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	(void)gmtime_r(&tt, &tm);
	(void)strftime(out, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/*
 * Is the recipient in this report?  Failed, still to do (delayed), or
 * delivered this run, when its NOTIFY asks for that (RFC 3461 4.1;
 * without NOTIFY, failures and delays).  A success handed to a server
 * that took NOTIFY on is that server's to report.  A report of a
 * report (the null sender) has every failure in it, whatever its NOTIFY.
 */
static int
reported(const struct rec *head, const struct rec *r, enum dsn_kind k)
{
	const char *n = rec_get_str(r, "notify");
	const char *sender = rec_get_str(head, "sender");
	const char *st = rcpt_state(r);

	if (k == DSN_SUCCESS)
		return strcmp(st, "sent") == 0 && n != NULL &&
		    strstr(n, "SUCCESS") != NULL &&
		    rec_get_str(r, "notified") == NULL &&
		    rec_get_str(r, "peer_dsn") == NULL;
	if (strcmp(st, k == DSN_DELAYED ? "" : "failed") != 0)
		return 0;
	if (k == DSN_FAILED && (sender == NULL || sender[0] == '\0'))
		return 1;
	return n == NULL || strstr(n, k == DSN_DELAYED ? "DELAY" :
	    "FAILURE") != NULL;
}

static int
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* RFC 3464 2.3.3 */
static const char *
dsn_action(const struct rec *r, enum dsn_kind k)
{
	if (k == DSN_FAILED)
		return "failed";
	if (k == DSN_DELAYED)
		return "delayed";
	/* given to a server that does not do DSN: "relayed" */
	return rec_get_str(r, "relayed") != NULL ? "relayed" : "delivered";
}

/* Where a report of a report goes: the postmaster (the "postmaster"
 * key: a local part at the host name, or an address). */
static void
double_bounce_to(struct buf *out)
{
	const char *pm = config_str(G.cf, NULL, "postmaster");

	buf_reset(out);
	if (strchr(pm, '@') != NULL)
		buf_puts(out, pm);
	else
		buf_printf(out, "%s@%s", pm, G.host);
}

/*
 * The report of the failed recipients (or, delayed, of those still
 * waiting; or of those delivered who asked to hear of it), to the
 * sender, into the queue as a new message from <> (the queue's own,
 * written the way enqueue writes: tmp/, fsync, mess/, todo/).  A
 * failed report goes to the postmaster, marked so that its own failure
 * is only logged: reports never loop.  0, or -1 and it is tried again
 * on the next run.
 */
static int
bounce(const char *id, const struct queue_env *e, enum dsn_kind kind)
{
	const char *sender = rec_get_str(&e->head, "sender");
	const char *ret = rec_get_str(&e->head, "ret");
	const char *envid = rec_get_str(&e->head, "envid");
	struct buf m, path, env, tmp, to;
	char bid[QUEUE_ID_MAX], date[64], boundary[128];
	struct timeval tv;
	uint64_t arrived = 0;
	size_t i, nfailed = 0;
	int fd = -1, ok = -1, delayed = kind == DSN_DELAYED;
	int dbl = sender == NULL || sender[0] == '\0';
	int global = rec_get_str(&e->head, "smtputf8") != NULL;
	/* a delay or success notice carries the header only */
	int hdrs = kind != DSN_FAILED || (ret != NULL && strcmp(ret, "HDRS")
	    == 0);
	static uint64_t serial;

	for (i = 0; i < e->nrcpt; i++)
		if (reported(&e->head, &e->rcpts[i], kind))
			nfailed++;
	if (nfailed == 0)
		return 0;	/* nothing to say */
	if (dbl && (kind != DSN_FAILED || rec_get_str(&e->head, "double") !=
	    NULL)) {
		if (kind == DSN_FAILED)
			log_warning("%s: undeliverable report to the "
			    "postmaster: dropped", id);
		return 0;	/* no one to say it to */
	}
	buf_init(&to, 256);
	if (dbl)
		double_bounce_to(&to);
	else
		buf_puts(&to, sender);
	(void)rec_get_u64(&e->head, "time", &arrived);
	(void)gettimeofday(&tv, NULL);
	queue_id_make((uint64_t)tv.tv_sec, (uint32_t)tv.tv_usec, ++serial |
	    (uint64_t)1 << 40, bid);
	buf_init(&m, 64 * 1024);
	buf_init(&path, 256);
	buf_init(&env, 4096);
	buf_init(&tmp, 256);
	date_rfc5322(date, sizeof(date));
	(void)xsnprintf(boundary, sizeof(boundary), "%s/%s", bid, G.host);
	buf_printf(&m, "Received: by %s (Chapar qmgr)\r\n\tid %s;\r\n"
	    "\t%s\r\n", G.host, bid, date);
	buf_printf(&m, "From: Mail Delivery System <MAILER-DAEMON@%s>"
	    "\r\nTo: <%s>\r\nSubject: %s\r\n"
	    "Date: %s\r\nMessage-ID: <%s@%s>\r\nAuto-Submitted: auto-replied"
	    "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n", G.host,
	    buf_cstr(&to), dbl ? "Undeliverable delivery report" : delayed ?
	    "Delayed Mail (still being retried)" : kind == DSN_SUCCESS ?
	    "Successful Mail Delivery Report" :
	    "Undelivered Mail Returned to Sender", date, bid, G.host,
	    boundary);
	buf_printf(&m, "--%s\r\nContent-Type: text/plain; charset="
	    "utf-8\r\n\r\nThis is the mail system at %s.\r\n\r\nYour message "
	    "%s.\r\n\r\n", boundary, G.host, delayed ? "has not been "
	    "delivered to these recipients yet; it is still being tried, and "
	    "you need not send it again" : kind == DSN_SUCCESS ? "was "
	    "delivered to these recipients (or handed on to servers that "
	    "do not report further)" : dbl ? "(a delivery report with no "
	    "sender) could not be delivered" : "could not be delivered to "
	    "one or more recipients");
	for (i = 0; i < e->nrcpt; i++)
		if (reported(&e->head, &e->rcpts[i], kind))
			buf_printf(&m, "<%s>: %s\r\n",
			    rec_get_str(&e->rcpts[i], "rcpt"),
			    rec_get_str(&e->rcpts[i], "reply"));
	/* RFC 3464 2.2: per-message fields, then per recipient */
	dsn_date(arrived, date, sizeof(date));
	/* RFC 6533 6: an SMTPUTF8 message's report is "global" */
	buf_printf(&m, "\r\n--%s\r\nContent-Type: message/%s\r\n\r\n",
	    boundary, global ? "global-delivery-status" : "delivery-status");
	if (envid != NULL)
		buf_printf(&m, "Original-Envelope-Id: %s\r\n", envid);
	buf_printf(&m, "Reporting-MTA: dns; %s\r\nX-Chapar-Queue-ID: "
	    "%s\r\nArrival-Date: %s\r\n", G.host, id, date);
	for (i = 0; i < e->nrcpt; i++) {
		const struct rec *r = &e->rcpts[i];
		const char *orcpt = rec_get_str(r, "orcpt");

		if (!reported(&e->head, r, kind))
			continue;
		buf_puts(&m, "\r\n");
		if (orcpt != NULL)
			buf_printf(&m, "Original-Recipient: %s\r\n",
			    orcpt);
		buf_printf(&m, "Final-Recipient: %s; %s\r\n"
		    "Action: %s\r\nStatus: %s\r\nDiagnostic-Code: smtp; "
		    "%s\r\n", global && !is_ascii(rec_get_str(r, "rcpt")) ?
		    "utf-8" : "rfc822", rec_get_str(r, "rcpt"),
		    dsn_action(r, kind),
		    rec_get_str(r, "dsn") ? rec_get_str(r, "dsn") :
		    "4.0.0", rec_get_str(r, "reply") ? rec_get_str(r, "reply") :
		    "not tried yet");
	}
	buf_printf(&m, "\r\n--%s\r\nContent-Type: %s\r\n\r\n",
	    boundary, hdrs ? (global ? "message/global-headers" :
	    "text/rfc822-headers") : global ? "message/global" :
	    "message/rfc822");
	/* the original (or its header) follows from its file */
	queue_path("mess", id, &path);
	queue_path("tmp", bid, &tmp);
	if ((fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600)) == -1 || write_all(fd, m.data, m.len) == -1)
		goto out;
	{
		struct buf orig;

		buf_init(&orig, 64 * 1024);
		if (file_read(buf_cstr(&path), (size_t)config_num(G.cf, NULL,
		    "message_size_limit") + 1024 * 1024, &orig) == -1)
			goto out_orig;
		if (hdrs) {
			const char *end = memmem(orig.data, orig.len,
			    "\r\n\r\n", 4);

			if (end != NULL)
				buf_truncate(&orig, (size_t)(end - orig.data) +
				    2);
		}
		ok = write_all(fd, orig.data, orig.len);
out_orig:
		buf_free(&orig);
		if (ok == -1)
			goto out;
		ok = -1;
	}
	buf_reset(&m);
	buf_printf(&m, "\r\n--%s--\r\n", boundary);
	if (write_all(fd, m.data, m.len) == -1 || fsync(fd) == -1)
		goto out;
	/* its envelope: from <>, to the sender, nothing to notify */
	buf_printf(&env, "v=1\tsender=\tbody=8BITMIME\tprotocol=local\t"
	    "size=%llu\ttime=%lld%s%s\nrcpt=", (unsigned long long)lseek(fd,
	    0, SEEK_END), (long long)now_sec(), rec_get_str(&e->head,
	    "smtputf8") ? "\tsmtputf8=1" : "", dbl ? "\tdouble=1" : "");
	tab_escape(&env, buf_sv(&to));
	buf_puts(&env, "\tnotify=NEVER\n");
	queue_path("mess", bid, &path);
	if (rename(buf_cstr(&tmp), buf_cstr(&path)) == -1 ||
	    fsync_parent(buf_cstr(&path)) == -1)
		goto out;
	queue_path("todo", bid, &path);
	if (file_write_atomic(buf_cstr(&path), env.data, env.len, 0600) == -1)
		goto out;
	log_info("%s: %s %s notification: %s", id, dbl ? "postmaster" :
	    "sender", delayed ? "delay" : kind == DSN_SUCCESS ? "success" :
	    "non-delivery", bid);
	G.rescan = 1;
	ok = 0;
out:
	if (ok == -1) {
		log_error("%s: writing the report: %s", id, strerror(errno));
		(void)unlink(buf_cstr(&tmp));
	}
	if (fd != -1)
		close(fd);
	buf_free(&m);
	buf_free(&path);
	buf_free(&env);
	buf_free(&tmp);
	buf_free(&to);
	return ok;
}

/* --- one message --------------------------------------------------------- */

static void
remove_message(const char *id)
{
	struct buf p;

	buf_init(&p, 256);
	queue_path("mess", id, &p);
	if (unlink(buf_cstr(&p)) == -1 && errno != ENOENT)
		log_error("%s: %s: %s", id, buf_cstr(&p), strerror(errno));
	info_path(id, &p);
	if (unlink(buf_cstr(&p)) == -1 && errno != ENOENT)
		log_error("%s: %s: %s", id, buf_cstr(&p), strerror(errno));
	buf_free(&p);
	log_info("%s: removed", id);
}

/* Recipients without a final result after queue_lifetime fail. */
static void
expire(const char *id, struct queue_env *e)
{
	const char *last;
	struct buf text;
	size_t i;

	buf_init(&text, 1024);
	for (i = 0; i < e->nrcpt; i++) {
		struct rec *r = &e->rcpts[i];

		if (rcpt_state(r)[0] != '\0')
			continue;
		last = rec_get_str(r, "reply");
		buf_reset(&text);
		buf_printf(&text, "delivery time expired%s%s",
		    last ? ": " : "", last ? last : "");
		rcpt_set(r, "failed", 0, "4.4.7", buf_cstr(&text));
		log_result(id, e, r, "none", "expired, returned to sender");
	}
	buf_free(&text);
}

static void
msg_free_env(struct msg *m)
{
	if (m->e != NULL) {
		queue_env_free(m->e);
		free(m->e);
		m->e = NULL;
	}
}

/*
 * A run over a message begins: its envelope is read, its pending
 * recipients sorted out; local ones are delivered now (one LMTP
 * transaction), remote ones wait in their destinations' lines, and the
 * run ends (msg_finish) when the last of them has an answer.
 */
static void
msg_start(struct msg *m)
{
	struct queue_env *e;
	size_t *local, *remote, nl = 0, nr = 0, i;
	uint64_t now = (uint64_t)now_sec();

	e = m->e = xcalloc(1, sizeof(*m->e));
	queue_env_init(e);
	if (env_load(m->id, e) == -1) {
		msg_free_env(m);
		if (errno == ENOENT)
			m->gone = 1;
		else	/* kept for the admin to see; looked at much later */
			m->next = now + G.retry_max;
		return;
	}
	/* quarantined by a filter (chapar-filter(7)): held for review */
	if (rec_get_str(&e->head, "quarantine") != NULL) {
		if (m->next != UINT64_MAX)
			log_info("%s: quarantined (%s): held until the admin "
			    "releases or deletes it", m->id, log_esc_str(
			    rec_get_str(&e->head, "quarantine")));
		m->next = UINT64_MAX;
		msg_free_env(m);
		return;
	}
	/* on hold by the admin, or FUTURERELEASE (RFC 4865) not yet due */
	if (rec_get_str(&e->head, "held") != NULL ||
	    (rec_get_u64(&e->head, "hold", &m->next) == 0 && m->next > now)) {
		if (rec_get_str(&e->head, "held") != NULL)
			m->next = UINT64_MAX;
		msg_free_env(m);
		return;
	}
	m->next = UINT64_MAX;	/* running */
	G.active++;
	local = xcalloc(e->nrcpt ? e->nrcpt : 1, sizeof(*local));
	remote = xcalloc(e->nrcpt ? e->nrcpt : 1, sizeof(*remote));
	for (i = 0; i < e->nrcpt && !G.quit; i++) {
		struct rec *r = &e->rcpts[i];

		if (rcpt_state(r)[0] != '\0')
			continue;
		switch (route_of(rec_get_str(r, "rcpt"))) {
		case R_LOCAL:
			local[nl++] = i;
			break;
		case R_UNKNOWN:
			rcpt_set(r, "failed", 550, "5.1.1", "5.1.1 no such "
			    "user here");
			log_result(m->id, e, r, "local", "bounced");
			break;
		case R_REMOTE:
			remote[nr++] = i;
			break;
		case R_TEMP:
			rcpt_set(r, NULL, 0, "4.3.0", "the user database is "
			    "unavailable");
			log_result(m->id, e, r, "none", "deferred");
			break;
		}
	}
	m->out = 1;	/* msg_finish waits for this too */
	if (nl > 0 && !G.quit)
		queue_local(m, local, nl);
	if (nr > 0 && !G.quit)
		queue_remote(m, remote, nr);
	free(local);
	free(remote);
	if (--m->out == 0)
		msg_finish(m);
}

/* The end of a run: notices, then the message leaves the queue or
 * waits for its next try. */
static void
msg_finish(struct msg *m)
{
	struct queue_env *e = m->e;
	size_t i, pending = 0;
	uint64_t arrived = 0, tries = 0, delay, now = (uint64_t)now_sec();

	G.active--;
	if (m->cancel) {
		remove_message(m->id);
		log_info("%s: deleted by the admin", m->id);
		m->gone = 1;
		msg_free_env(m);
		return;
	}
	(void)rec_get_u64(&e->head, "time", &arrived);
	if (now >= arrived + G.lifetime)
		expire(m->id, e);
	for (i = 0; i < e->nrcpt; i++)
		if (rcpt_state(&e->rcpts[i])[0] == '\0')
			pending++;
	/* RFC 3461 4.1: NOTIFY=SUCCESS, for those this run delivered */
	if (bounce(m->id, e, DSN_SUCCESS) == 0)
		for (i = 0; i < e->nrcpt; i++)
			if (reported(&e->head, &e->rcpts[i], DSN_SUCCESS))
				rec_set_str(&e->rcpts[i], "notified", "1");
	/* RFC 3464 2.3.3: a delay notice, once, after delay_warning_time */
	if (pending > 0 && G.warn > 0 && now >= arrived + G.warn &&
	    rec_get_str(&e->head, "warned") == NULL &&
	    bounce(m->id, e, DSN_DELAYED) == 0)
		rec_set_u64(&e->head, "warned", now);
	if (pending == 0 && bounce(m->id, e, DSN_FAILED) == 0) {
		remove_message(m->id);
		m->gone = 1;
	} else if (rec_get_str(&e->head, "held") != NULL) {
		m->next = UINT64_MAX;	/* held while it ran */
		(void)env_save(m->id, e);
	} else {
		(void)rec_get_u64(&e->head, "tries", &tries);
		tries++;
		delay = G.retry_min;
		for (i = 1; i < tries && delay < G.retry_max; i++)
			delay *= 2;
		if (delay > G.retry_max)
			delay = G.retry_max;
		m->next = now + delay;
		rec_del(&e->head, "tries");
		rec_set_u64(&e->head, "tries", tries);
		rec_del(&e->head, "next");
		rec_set_u64(&e->head, "next", m->next);
		if (env_save(m->id, e) == -1)
			m->next = now + G.retry_min;
	}
	msg_free_env(m);
}

/* --- the messages held --------------------------------------------------- */

/* A message held in memory, or NULL. */
static struct msg *
find(const char *id)
{
	size_t i;

	for (i = 0; i < G.n; i++)
		if (strcmp(G.m[i]->id, id) == 0)
			return G.m[i];
	return NULL;
}

static void
hold(const char *id, uint64_t next)
{
	struct msg *m;

	if (find(id) != NULL || G.n == MSGS_MAX)
		return;	/* the rest wait on disk for a later scan */
	G.m = xreallocarray(G.m, G.n + 1, sizeof(*G.m));
	m = G.m[G.n++] = xcalloc(1, sizeof(*m));
	(void)xsnprintf(m->id, sizeof(m->id), "%s", id);
	m->next = next;
}

/* Messages whose run ended with their removal leave the table. */
static void
sweep(void)
{
	size_t i;

	for (i = 0; i < G.n; )
		if (G.m[i]->gone) {
			free(G.m[i]);
			G.m[i] = G.m[--G.n];
		} else
			i++;
}

/* What a previous qmgr left in info/: taken up again. */
static void
load_info(void)
{
	struct dirent *de;
	struct queue_env e;
	char dir[16];
	uint64_t next;
	int h;
	DIR *d;

	for (h = 0; h < 16; h++) {
		(void)xsnprintf(dir, sizeof(dir), "info/%X", h);
		if ((d = opendir(dir)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (!queue_id_ok(de->d_name))
				continue;
			queue_env_init(&e);
			next = 0;
			if (env_load(de->d_name, &e) == 0)
				(void)rec_get_u64(&e.head, "next", &next);
			queue_env_free(&e);
			hold(de->d_name, next);
		}
		closedir(d);
	}
}

/* New messages: todo/ID becomes info/H/ID, the queue manager's. */
static void
scan_todo(void)
{
	struct dirent *de;
	struct buf from, to;
	const char *why;
	DIR *d;

	if ((d = opendir("todo")) == NULL) {
		log_error("todo: %s", strerror(errno));
		return;
	}
	buf_init(&from, 256);
	buf_init(&to, 256);
	while ((de = readdir(d)) != NULL && G.n < MSGS_MAX) {
		if (!queue_id_ok(de->d_name))
			continue;
		/* enqueue flushes before it tells anyone; an entry that is
		 * not whole yet is one it has not finished */
		if (queue_entry_check(de->d_name, &why) == -1)
			continue;
		queue_path("todo", de->d_name, &from);
		info_path(de->d_name, &to);
		if (rename(buf_cstr(&from), buf_cstr(&to)) == -1) {
			log_error("%s: %s", de->d_name, strerror(errno));
			continue;
		}
		hold(de->d_name, 0);
	}
	closedir(d);
	buf_free(&from);
	buf_free(&to);
}

/*
 * The admin's commands (chapar queue), lines in the wake FIFO beside
 * enqueue's "w": flush, hold ID, release ID, delete ID, requeue ID.
 * Only root and queue_user can write there.  A message in the middle of
 * a run has its envelope in memory: the command changes that one.
 */
static void
command(struct sv line)
{
	struct sv verb;
	struct queue_env disk, *e;
	struct msg *m;
	char id[QUEUE_ID_MAX];
	size_t i;

	(void)sv_split(&line, ' ', &verb);
	if (sv_eq_str(verb, "w"))
		return;		/* enqueue: new mail (scanned by the caller) */
	if (sv_eq_str(verb, "flush")) {
		for (i = 0; i < G.n; i++)
			if (G.m[i]->next != UINT64_MAX)
				G.m[i]->next = 0;
		log_info("flush: every deferred message is tried now");
		return;
	}
	if (line.n == 0 || line.n >= sizeof(id))
		return;
	memcpy(id, line.p, line.n);
	id[line.n] = '\0';
	if (queue_id_ok(id) && (m = find(id)) == NULL)
		scan_todo();	/* maybe just queued */
	if (!queue_id_ok(id) || (m = find(id)) == NULL) {
		log_warning("%s %s: no such message in the queue",
		    log_esc(verb.p, verb.n), log_esc_str(id));
		return;
	}
	if (sv_eq_str(verb, "delete")) {
		if (m->e != NULL) {
			m->cancel = 1;	/* when its jobs are back */
			return;
		}
		remove_message(id);
		log_info("%s: deleted by the admin", id);
		m->gone = 1;
		return;
	}
	if (!sv_eq_str(verb, "hold") && !sv_eq_str(verb, "release") &&
	    !sv_eq_str(verb, "requeue"))
		return;
	queue_env_init(&disk);
	e = m->e != NULL ? m->e : &disk;
	if (m->e == NULL && env_load(id, &disk) == -1) {
		queue_env_free(&disk);
		return;
	}
	if (sv_eq_str(verb, "requeue")) {
		/* every recipient without a final result, now, on a route
		 * looked up afresh (after a change of transport_map,
		 * relayhost or DNS) */
		rec_del(&e->head, "tries");
		rec_del(&e->head, "next");
		if (m->e == NULL)
			m->next = 0;
	} else {
		rec_del(&e->head, "held");
		if (sv_eq_str(verb, "hold")) {
			rec_set_u64(&e->head, "held", (uint64_t)now_sec());
			if (m->e == NULL)
				m->next = UINT64_MAX;
		} else {
			/* FUTURERELEASE and a filter's quarantine too */
			rec_del(&e->head, "hold");
			rec_del(&e->head, "quarantine");
			if (m->e == NULL)
				m->next = 0;
		}
	}
	if (env_save(id, e) == 0)
		log_info("%s: %s by the admin", id, sv_eq_str(verb, "hold") ?
		    "held" : sv_eq_str(verb, "release") ? "released" :
		    "requeued");
	queue_env_free(&disk);
}

static void
read_commands(void)
{
	static struct buf in;
	struct sv rest, line;
	char chunk[4096];
	ssize_t n;
	size_t used;

	if (in.cap == 0)
		buf_init(&in, 64 * 1024);
	while ((n = read(G.wake, chunk, sizeof(chunk))) > 0)
		if (buf_try_append(&in, chunk, (size_t)n) == -1)
			buf_reset(&in);	/* garbage: start over */
	rest = buf_sv(&in);
	used = 0;
	while (rest.n > 0 && memchr(rest.p, '\n', rest.n) != NULL) {
		(void)sv_split(&rest, '\n', &line);
		used = (size_t)(rest.p - in.data);
		command(line);
	}
	memmove(in.data, in.data + used, in.len - used);
	in.len -= used;
}

/*
 * The loop: new mail from todo/, runs of the messages that are due (at
 * most ACTIVE_MAX at once), jobs to remote as the limits allow, and the
 * answers as they come.
 */
static void
serve(void)
{
	struct pollfd *pfd = NULL;
	uint64_t now, soonest, last_scan = 0;
	size_t i, np, nremote, cap = 0;
	int ms;

	while (!G.quit) {
		now = (uint64_t)now_sec();
		if (now >= last_scan + SCAN_SECS || G.rescan) {
			G.rescan = 0;
			scan_todo();
			last_scan = now;
		}
		for (i = 0; i < G.n && !G.quit && G.active < ACTIVE_MAX; i++)
			if (G.m[i]->e == NULL && !G.m[i]->gone &&
			    G.m[i]->next <= now)
				msg_start(G.m[i]);
		dispatch();
		dispatch_local();
		sweep();
		dest_sweep();
		slots_expire();
		local_expire();
		soonest = G.rescan ? now : now + SCAN_SECS;
		for (i = 0; i < G.n; i++)
			if (G.m[i]->e == NULL && G.m[i]->next < soonest)
				soonest = G.m[i]->next;
		now = (uint64_t)now_sec();
		ms = soonest > now ? (int)(soonest - now) * 1000 : 0;
		if (ms > 1000 || (ms == 0 && G.active >= ACTIVE_MAX))
			ms = 1000;	/* and a SIGTERM is not missed for long */
		if (G.rate_delay > 0 && Q.nd > 0 && ms > 100)
			ms = 100;	/* a paused destination's next start */
		if (cap < Q.ns + L.ns + 1) {
			cap = Q.ns + L.ns + 16;
			pfd = xreallocarray(pfd, cap, sizeof(*pfd));
		}
		pfd[0].fd = G.wake;
		pfd[0].events = POLLIN;
		for (np = 1, i = 0; i < Q.ns; i++)
			if (Q.s[i].job != NULL) {
				pfd[np].fd = Q.s[i].fd;
				pfd[np++].events = POLLIN;
			}
		nremote = np;
		for (i = 0; i < L.ns; i++)
			if (L.s[i].job != NULL) {
				pfd[np].fd = L.s[i].io.fd;
				pfd[np++].events = POLLIN;
			}
		if (poll(pfd, np, ms) <= 0)
			continue;
		/* the answers first (they may move the tables' entries, so
		 * by descriptor) */
		for (i = np; i-- > 1; )
			if (pfd[i].revents != 0) {
				if (i >= nremote)
					local_input_fd(pfd[i].fd);
				else
					slot_by_fd_input(pfd[i].fd);
			}
		if (pfd[0].revents != 0) {
			read_commands();
			scan_todo();
			last_scan = (uint64_t)now_sec();
		}
	}
	free(pfd);
}

int
main(int argc, char **argv)
{
	const char *qdir;
	struct buf err;
	uid_t uid;
	gid_t gid;
	int ch;

	G.cf = daemon_init("qmgr", argc, argv, &G.quit);
	buf_init(&err, 4096);
	G.retry_min = config_num(G.cf, NULL, "queue_retry_min");
	G.retry_max = config_num(G.cf, NULL, "queue_retry_max");
	G.lifetime = config_num(G.cf, NULL, "queue_lifetime");
	G.warn = config_num(G.cf, NULL, "delay_warning_time");
	config_hostname(G.cf, G.host, sizeof(G.host));
	qdir = config_str(G.cf, NULL, "queue_dir");
	/* authd's socket is for root and group chapar: first (authd may
	 * be starting beside us) */
	for (ch = 0; authc_connect(config_str(G.cf, NULL, "auth_socket"),
	    60000, &G.auth, &err) == -1; ch++) {
		if (ch == 100)
			log_fatal("%s", buf_cstr(&err));
		usleep(100 * 1000);
	}
	for (ch = 0; chdir(qdir) == -1; ch++) {
		if (ch == 100)	/* enqueue makes it, maybe right now */
			log_fatal("%s: %s", qdir, strerror(errno));
		usleep(100 * 1000);
	}
	if (geteuid() == 0) {
		if (priv_lookup(config_str(G.cf, NULL, "queue_user"), &uid,
		    &gid, &err) == -1 || priv_drop(uid, gid, NULL, &err) == -1)
			log_fatal("%s", buf_cstr(&err));
	}
	/* enqueue writes a byte here after each commit */
	if (mkfifo("wake", 0600) == -1 && errno != EEXIST)
		log_fatal("%s/wake: %s", qdir, strerror(errno));
	if ((G.wake = open("wake", O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1)
		log_fatal("%s/wake: %s", qdir, strerror(errno));
	G.process_limit = config_num(G.cf, NULL, "remote_process_limit");
	G.dest_concurrency = config_num(G.cf, NULL,
	    "remote_destination_concurrency");
	G.rate_delay = config_num(G.cf, NULL, "remote_destination_rate_delay");
	G.local_limit = config_num(G.cf, NULL, "local_process_limit");
	load_info();
	log_info("ready: queue=%s, %zu messages in progress, uid=%ld", qdir,
	    G.n, (long)geteuid());
	serve();
	log_info("stopping: %zu messages still in the queue", G.n);
	authc_close(&G.auth);
	buf_free(&err);
	return 0;
}
