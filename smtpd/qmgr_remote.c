/*
 * qmgr_remote.c: remote deliveries of qmgr(8) -- jobs (one message, one
 * domain) in a line per destination, run on connections to remote(8)
 * under remote_process_limit and the per-destination limits.
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

#include "chapar/addr.h"
#include "chapar/authc.h"
#include "chapar/config.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/queue.h"
#include "chapar/smtp.h"
#include "chapar/util.h"
#include "qmgr.h"

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
		const char *relay = "none", *st, *dsn;

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
			/* RFC 3463 2: digits and dots, as remote gives it */
			dsn = rec_get_str(&r, "dsn");
			if (dsn == NULL || dsn[0] == '\0' || strlen(dsn) > 15 ||
			    strspn(dsn, "0123456789.") != strlen(dsn))
				dsn = "4.0.0";
			if (st != NULL)
				rec_set_str(rc, "state", st);
			set_reply(rc, 0, rec_get_str(&r, "reply"));
			rec_set_str(rc, "dsn", dsn);
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
	/* remote's answer is one frame; room for a read past it */
	buf_init(&Q.s[Q.ns].in, QUEUE_FRAME_MAX + 128 * 1024);
	return &Q.s[Q.ns++];
}

/* Send a job (these recipients, the message); the answer comes later
 * on the connection.  0, or -1. */
static int
job_send(struct slot *s, struct rjob *j)
{
	const struct queue_env *e = j->m->e;
	struct buf text, path, tags;
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
	/* a part of the envelope: its first line, some recipients */
	buf_init(&text, ENV_TEXT_MAX);
	buf_init(&path, 256);
	buf_init(&tags, QUEUE_ENV_MAX);
	/* -1: replies of earlier tries made the job too long */
	fmt = queue_env_format(&job, &text);
	free(job.rcpts);
	queue_path("mess", j->m->id, &path);
	if (fmt == -1 || (fd = open(buf_cstr(&path), O_RDONLY | O_CLOEXEC)) ==
	    -1 ||
	    queue_frame_write(s->fd, QF_ENVELOPE, text.data, text.len) == -1)
		goto out;
	/* the filters' fields on top (chapar-filter(7)) */
	header_tags(e, &tags);
	if (tags.len > 0 && queue_frame_write(s->fd, QF_DATA, tags.data,
	    tags.len) == -1)
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
	buf_free(&tags);
	return r;
}


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
void
remote_dispatch(void)
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
		got = read(s->fd, buf_end(&s->in), buf_room(&s->in));
	if (got == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (got > 0) {
		buf_commit(&s->in, (size_t)got);
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
void
remote_input(int fd)
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
void
remote_queue(struct msg *m, size_t *idx, size_t n)
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
		for (k = i + 1; k < n && at != NULL && j->n < RJOB_RCPT_MAX;
		    k++) {
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


/* Destinations with nothing waiting go, and so do long-idle
 * connections. */
void
remote_sweep(void)
{
	dest_sweep();
	slots_expire();
}

/* A destination waits out its rate delay. */
int
remote_paused(void)
{
	return Q.nd > 0 && G.rate_delay > 0;
}

size_t
remote_pollfds(struct pollfd *pfd, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < Q.ns; i++)
		if (Q.s[i].job != NULL) {
			if (pfd != NULL && n < max) {
				pfd[n].fd = Q.s[i].fd;
				pfd[n].events = POLLIN;
			}
			n++;
		}
	return n;
}
