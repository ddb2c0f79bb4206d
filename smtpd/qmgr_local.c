/*
 * qmgr_local.c: local deliveries of qmgr(8) -- a job per message on up to
 * local_process_limit kept LMTP connections to local(8) (RFC 2033), the
 * envelope and the data pipelined, the replies read as they come.
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

/* One reply (smtp_client_reply): its code, its text. */
static int
lmtp_reply(struct io *io, struct buf *text)
{
	return smtp_client_reply(io, text, text->max, NULL);
}

/* The filters' fields, the message file, dot-stuffed by the DATA codec,
 * then "." (RFC 5321 4.5.2). */
static int
lmtp_body(struct io *io, const struct buf *top, int fd)
{
	char buf[65536];
	struct smtp_stuff st;
	ssize_t n;

	smtp_stuff_init(&st);
	if (smtp_stuff_write(io, &st, top->data, top->len) == -1)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (smtp_stuff_write(io, &st, buf, (size_t)n) == -1)
			return -1;
	if (n == -1)
		return -1;
	return smtp_stuff_close(io, &st);
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
	struct smtp_caps caps;
	struct buf text;
	struct lslot *ls;
	int fd, esmtp;

	if ((fd = lmtp_connect(err)) == -1)
		return NULL;
	L.s = xreallocarray(L.s, L.ns + 1, sizeof(*L.s));
	ls = &L.s[L.ns];
	memset(ls, 0, sizeof(*ls));
	/* a short wait for the greeting: an agent whose workers are all
	 * taken (max_procs below local_process_limit) must not stall the
	 * queue manager for long */
	io_init(&ls->io, fd, LMTP_LINE_MAX, LMTP_GREET_MS);
	buf_init(&text, LMTP_LINE_MAX);
	if (lmtp_reply(&ls->io, &text) != 220 || smtp_client_hello(&ls->io, 1,
	    G.host, &text, text.max, &caps, &esmtp) != 250) {
		buf_reset(err);
		buf_printf(err, "the LMTP agent did not greet: %.*s",
		    REPLY_KEEP, text.len ? buf_cstr(&text) : "connection lost");
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

	if (smtp_client_put(&ls->io, "MAIL FROM:<%s>%s%s",
	    rec_get_str(&e->head, "sender"), body != NULL && strcmp(body,
	    "7BIT") != 0 ? " BODY=8BITMIME" : "",
	    rec_get_str(&e->head, "smtputf8") ? " SMTPUTF8" : "") == -1)
		return -1;
	for (i = 0; i < j->n; i++)
		if (smtp_client_put(&ls->io, "RCPT TO:<%s>",
		    rec_get_str(&e->rcpts[j->idx[i]], "rcpt")) == -1)
			return -1;
	return smtp_client_put(&ls->io, "DATA") == 0 &&
	    io_flush(&ls->io) == IO_OK ? 0 : -1;
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

	buf_init(&text, LMTP_LINE_MAX);
	buf_init(&path, 256);
	buf_init(&tags, QUEUE_ENV_MAX);
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

	buf_init(&text, LMTP_LINE_MAX);
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
void
local_dispatch(void)
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
void
local_input(int fd)
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
void
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
void
local_queue(struct msg *m, const size_t *idx, size_t n)
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


size_t
local_pollfds(struct pollfd *pfd, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < L.ns; i++)
		if (L.s[i].job != NULL) {
			if (pfd != NULL && n < max) {
				pfd[n].fd = L.s[i].io.fd;
				pfd[n].events = POLLIN;
			}
			n++;
		}
	return n;
}
