/*
 * qmgr_main.c: the queue manager (qmgr(8)).
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
 *
 * This file holds the messages and their runs; local deliveries are in
 * qmgr_local.c, remote ones in qmgr_remote.c, the reports in
 * qmgr_report.c.
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
#include "chapar/daemon.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/priv.h"
#include "chapar/queue.h"
#include "chapar/smtp.h"
#include "chapar/util.h"
#include "qmgr.h"

struct qmgr G;

/* --- the envelope on disk ------------------------------------------------ */

static void
info_path(const char *id, struct buf *p)
{
	queue_path("info", id, p);
}

static int
env_load(const char *id, struct queue_env *e)
{
	struct buf err;
	int r;

	buf_init(&err, 1024);
	if ((r = queue_env_load("info", id, e, &err)) == -1 && errno != ENOENT)
		log_error("%s: %s", id, buf_cstr(&err));
	buf_free(&err);
	return r;
}
/* The envelope with its recipients' states, in place of the old one
 * (write, fsync, rename). */
int
env_save(const char *id, const struct queue_env *e)
{
	struct buf p, text;
	int r;

	buf_init(&p, 256);
	buf_init(&text, ENV_TEXT_MAX);
	info_path(id, &p);
	/* what could not be read again is not written (the old one stays) */
	if (queue_env_format(e, &text) == -1) {
		errno = EFBIG;
		r = -1;
	} else
		r = file_write_atomic(buf_cstr(&p), text.data, text.len, 0600);
	if (r == -1)
		log_error("%s: saving the envelope: %s", id, strerror(errno));
	buf_free(&p);
	buf_free(&text);
	return r;
}

const char *
rcpt_state(const struct rec *r)
{
	const char *s = rec_get_str(r, "state");

	return s != NULL ? s : "";
}

/*
 * A recipient's reply= (code and text, or the text alone), as the
 * envelope takes it (chapar-queue(5): text without control characters):
 * what a server said may be long or hold anything.  At most REPLY_KEEP
 * bytes, cut before an unfinished UTF-8 character.
 */
void
set_reply(struct rec *r, int code, const char *text)
{
	char v[REPLY_KEEP + 1];
	size_t n, i;

	if (code > 0)
		(void)xsnprintf(v, sizeof(v), "%d %s", code, text);
	else
		(void)xsnprintf(v, sizeof(v), "%s", text);
	n = strlen(v);
	if (n == REPLY_KEEP) {
		while (n > 0 && ((unsigned char)v[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0 && (unsigned char)v[n - 1] >= 0xc0)
			n--;
		v[n] = '\0';
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			v[i] = '?';
	rec_set_str(r, "reply", v);
}

void
rcpt_set(struct rec *r, const char *state, int code, const char *dsn,
    const char *text)
{
	if (state != NULL)
		rec_set_str(r, "state", state);
	set_reply(r, code, text);
	rec_set_str(r, "dsn", dsn);
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

/* --- what both kinds of job share ---------------------------------------- */



/* The header fields a content filter added (header= in the envelope,
 * chapar-filter(7)), each a line, to go on top of the message.  out
 * takes QUEUE_ENV_MAX: each line is shorter than its field in the
 * envelope's first line as read. */
void
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


void
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
		buf_printf(&text, "delivery time expired%s%.*s",
		    last ? ": " : "", REPLY_KEEP, last ? last : "");
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
		local_queue(m, local, nl);
	if (nr > 0 && !G.quit)
		remote_queue(m, remote, nr);
	free(local);
	free(remote);
	if (--m->out == 0)
		msg_finish(m);
}

/* The end of a run: notices, then the message leaves the queue or
 * waits for its next try. */
void
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
	if (report(m->id, e, DSN_SUCCESS) == 0)
		for (i = 0; i < e->nrcpt; i++)
			if (reported(&e->head, &e->rcpts[i], DSN_SUCCESS))
				rec_set_str(&e->rcpts[i], "notified", "1");
	/* RFC 3464 2.3.3: a delay notice, once, after delay_warning_time */
	if (pending > 0 && G.warn > 0 && now >= arrived + G.warn &&
	    rec_get_str(&e->head, "warned") == NULL &&
	    report(m->id, e, DSN_DELAYED) == 0)
		rec_set_u64(&e->head, "warned", now);
	if (pending == 0 && report(m->id, e, DSN_FAILED) == 0) {
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
static int
held_one(void *arg, const char *where, const char *id)
{
	struct queue_env e;
	uint64_t next = 0;

	(void)arg;
	(void)where;
	queue_env_init(&e);
	if (env_load(id, &e) == 0)
		(void)rec_get_u64(&e.head, "next", &next);
	queue_env_free(&e);
	hold(id, next);
	return 0;
}

static void
load_info(void)
{
	(void)queue_walk(QUEUE_WALK_INFO, held_one, NULL);
}
/* A new message: todo/ID becomes info/H/ID, the queue manager's.  1
 * stops the walk (the table is full). */
static int
take_one(void *arg, const char *where, const char *id)
{
	struct buf from, to;
	const char *why;

	(void)arg;
	(void)where;
	if (G.n >= MSGS_MAX)
		return 1;
	/* enqueue flushes before it tells anyone; an entry that is not
	 * whole yet is one it has not finished */
	if (queue_entry_check(id, &why) == -1)
		return 0;
	buf_init(&from, 256);
	buf_init(&to, 256);
	queue_path("todo", id, &from);
	info_path(id, &to);
	if (rename(buf_cstr(&from), buf_cstr(&to)) == -1)
		log_error("%s: %s", id, strerror(errno));
	else
		hold(id, 0);
	buf_free(&from);
	buf_free(&to);
	return 0;
}

static void
scan_todo(void)
{
	(void)queue_walk(QUEUE_WALK_TODO, take_one, NULL);
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
	size_t i, np, nremote, need, cap = 0;
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
		remote_dispatch();
		local_dispatch();
		sweep();
		remote_sweep();
		local_expire();
		soonest = G.rescan ? now : now + SCAN_SECS;
		for (i = 0; i < G.n; i++)
			if (G.m[i]->e == NULL && G.m[i]->next < soonest)
				soonest = G.m[i]->next;
		now = (uint64_t)now_sec();
		ms = soonest > now ? (int)(soonest - now) * 1000 : 0;
		if (ms == 0 && G.active >= ACTIVE_MAX)
			ms = 1000;	/* full: what runs must end first */
		if (remote_paused() && ms > 100)
			ms = 100;	/* a paused destination's next start */
		need = 2 + remote_pollfds(NULL, 0) + local_pollfds(NULL, 0);
		if (cap < need) {
			cap = need + 16;
			pfd = xreallocarray(pfd, cap, sizeof(*pfd));
		}
		pfd[0].fd = G.wake;
		pfd[0].events = POLLIN;
		np = 1 + remote_pollfds(pfd + 1, cap - 1);
		nremote = np;
		np += local_pollfds(pfd + np, cap - np);
		/* a SIGTERM wakes the poll through the self-pipe */
		pfd[np].fd = daemon_signal_fd();
		pfd[np].events = POLLIN;
		if (poll(pfd, np + 1, ms) <= 0)
			continue;
		if (pfd[np].revents & POLLIN)
			daemon_signal_drain();
		/* the answers first (they may move the tables' entries, so
		 * by descriptor) */
		for (i = np; i-- > 1; )
			if (pfd[i].revents != 0) {
				if (i >= nremote)
					local_input(pfd[i].fd);
				else
					remote_input(pfd[i].fd);
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
