/*
 * pop3_session.c: the TRANSACTION and UPDATE states (RFC 1939 5, 6) in
 * the post-login process: mail_user, chrooted into the user's mail
 * directory, the store opened there.
 *
 * The maildrop is the INBOX as it was at login: message numbers, sizes
 * (from the index, never by stat'ing the files) and unique-ids are taken
 * then; mail delivered during the session waits for the next.  Only one
 * POP3 session per mailbox at a time (a lock on HOME/chapar-pop3.lock),
 * while IMAP sessions and deliveries go on.  Deletions, and \Seen for
 * what was retrieved, are applied at QUIT only; a connection that drops
 * changes nothing.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chapar/io.h"
#include "chapar/smtp.h"
#include "chapar/log.h"
#include "chapar/store.h"
#include "chapar/util.h"
#include "pop3.h"

#define LOCK_FILE "chapar-pop3.lock"
#define LAST_FILE "chapar-pop3.last"	/* the last login, for LOGIN-DELAY */

struct pmsg {
	uint32_t uid;
	uint64_t size;
	unsigned flags;		/* MF_ at login */
	int deleted, retrieved;
	size_t name, name_len;	/* its file's name at login, in names */
};

struct sess {
	struct worker_conn *c;
	struct io *io;
	struct store *st;
	struct mbox *mb;
	uint32_t uidvalidity;
	struct pmsg *m;
	size_t n, cap;
	struct buf names;	/* the files' names, one after another */
	int errors;
	/* for the log line at the end */
	uint64_t retr, retr_bytes, top, top_bytes;
};

#define reply(s, ...) pop3_reply((s)->io, __VA_ARGS__)

static int
take(const struct msg *m, void *arg)
{
	struct sess *s = arg;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->m = xreallocarray(s->m, s->cap, sizeof(*s->m));
	}
	s->m[s->n].uid = m->uid;
	s->m[s->n].size = m->size;
	s->m[s->n].flags = m->flags;
	s->m[s->n].deleted = s->m[s->n].retrieved = 0;
	s->m[s->n].name = s->names.len;
	s->m[s->n].name_len = m->file.n;
	if (buf_try_append(&s->names, m->file.p, m->file.n) == -1)
		s->m[s->n].name_len = 0;	/* then the index is asked */
	s->n++;
	return 0;
}

/* The maildrop lock (RFC 1939 8: one session at a time).  The descriptor,
 * -2 when another session holds it, -1 on error. */
static int
lock_maildrop(void)
{
	int fd;

	if ((fd = open(LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return errno == EWOULDBLOCK ? -2 : -1;
	}
	return fd;
}

/* RFC 2449 8.1.2: LOGIN-DELAY; the time of this login is kept.  0, or
 * the seconds still to wait. */
static uint64_t
login_delay(struct sess *s)
{
	uint64_t delay = config_num(s->c->cf, s->c->service,
	    "pop3_login_delay"), now = (uint64_t)time(NULL);
	struct stat sb;
	int fd;

	if (delay > 0 && stat(LAST_FILE, &sb) == 0 &&
	    (uint64_t)sb.st_mtime + delay > now)
		return (uint64_t)sb.st_mtime + delay - now;
	if ((fd = open(LAST_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) != -1)
		close(fd);	/* its mtime is now */
	return 0;
}

static struct pmsg *
msg_arg(struct sess *s, struct sv arg, int deleted_ok)
{
	uint32_t n;

	if (pop3_msgnum(arg, (uint32_t)s->n, &n) != 0) {
		reply(s, "-ERR no such message");
		return NULL;
	}
	if (s->m[n - 1].deleted && !deleted_ok) {
		reply(s, "-ERR message %u is deleted", n);
		return NULL;
	}
	return &s->m[n - 1];
}

static void
stat_cmd(struct sess *s)
{
	uint64_t bytes = 0, count = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!s->m[i].deleted) {
			count++;
			bytes += s->m[i].size;
		}
	reply(s, "+OK %llu %llu", (unsigned long long)count,
	    (unsigned long long)bytes);
}

/* LIST and UIDL, with a message number or without. */
static void
list_cmd(struct sess *s, struct sv arg, int uidl)
{
	char id[POP3_UIDL_LEN + 1];
	struct pmsg *m;
	size_t i;

	if (arg.n > 0) {
		if ((m = msg_arg(s, arg, 0)) == NULL)
			return;
		if (uidl) {
			pop3_uidl(m->uid, s->uidvalidity, id);
			reply(s, "+OK %zu %s", (size_t)(m - s->m) + 1, id);
		} else
			reply(s, "+OK %zu %llu", (size_t)(m - s->m) + 1,
			    (unsigned long long)m->size);
		return;
	}
	reply(s, "+OK %s", uidl ? "unique-id listing follows" :
	    "scan listing follows");
	for (i = 0; i < s->n; i++) {
		if (s->m[i].deleted)
			continue;
		if (uidl) {
			pop3_uidl(s->m[i].uid, s->uidvalidity, id);
			(void)io_printf(s->io, "%zu %s\r\n", i + 1, id);
		} else
			(void)io_printf(s->io, "%zu %llu\r\n", i + 1,
			    (unsigned long long)s->m[i].size);
	}
	(void)io_puts(s->io, ".\r\n");
}

/* RETR (top < 0) and TOP: the message streamed from its file. */
static int
send_msg(struct sess *s, struct pmsg *m, int64_t top)
{
	struct smtp_stuff o;
	struct buf out, err;
	char chunk[65536];
	ssize_t got;
	size_t before;
	uint64_t sent = 0;
	int fd, r = 0;

	buf_init(&err, 1024);
	if ((fd = mbox_msg_open_name(s->mb, m->uid, sv_make(s->names.data +
	    m->name, m->name_len), &err)) == -1) {
		reply(s, "-ERR [SYS/TEMP] the message is gone (removed by "
		    "another session?)");
		buf_free(&err);
		return 0;
	}
	buf_free(&err);
	if (top < 0)
		reply(s, "+OK %llu octets", (unsigned long long)m->size);
	else
		reply(s, "+OK top of message follows");
	buf_init(&out, 16);
	smtp_stuff_init(&o);
	smtp_stuff_top(&o, top);
	while (!o.done && (got = read(fd, chunk, sizeof(chunk))) != 0) {
		if (got == -1) {
			if (errno == EINTR)
				continue;
			/* the +OK went: the client sees a cut message */
			log_error("reading message uid %u: %s", m->uid,
			    strerror(errno));
			r = -1;
			break;
		}
		/* straight into the output buffer, sent when enough waits */
		before = s->io->out.len;
		(void)smtp_stuff(&o, chunk, (size_t)got, &s->io->out);
		sent += s->io->out.len - before;
		if (s->io->out.len >= 128 * 1024 && io_flush(s->io) != IO_OK) {
			r = -1;
			break;
		}
	}
	close(fd);
	if (r == 0) {
		buf_reset(&out);
		smtp_stuff_end(&o, &out);
		(void)io_write(s->io, out.data, out.len);
		if (top < 0) {
			s->retr++;
			s->retr_bytes += sent;
			m->retrieved = 1;
		} else {
			s->top++;
			s->top_bytes += sent;
		}
	}
	buf_free(&out);
	return r;
}

static int
top_cmd(struct sess *s, struct sv args)
{
	struct sv num = args, lines;
	struct pmsg *m;
	uint64_t n;

	(void)sv_split(&num, ' ', &lines);	/* lines: the first word */
	if (num.n == 0 || pop3_number(num, INT64_MAX, &n) != 0) {
		reply(s, "-ERR usage: TOP msg lines");
		return 0;
	}
	if ((m = msg_arg(s, lines, 0)) == NULL)
		return 0;
	return send_msg(s, m, (int64_t)n);
}

/* --- UPDATE (RFC 1939 6) ------------------------------------------------- */

/* \Seen for what was retrieved (pop3_retr_seen). */
static int
mark_seen(struct sess *s, struct buf *err)
{
	size_t i;

	if (!config_bool(s->c->cf, s->c->service, "pop3_retr_seen"))
		return 0;
	for (i = 0; i < s->n; i++)
		if (s->m[i].retrieved && !s->m[i].deleted &&
		    !(s->m[i].flags & MF_SEEN) &&
		    mbox_store_flags(s->mb, s->m[i].uid, s->m[i].uid, '+',
		    MF_SEEN, NULL, 0, NULL, NULL, NULL, err) == -1)
			return -1;
	return 0;
}

/* The deleted messages go: expunged, a run of consecutive messages of
 * the maildrop at a time (the UIDs between are all ours, so nothing
 * another session flagged is touched); or moved to the Trash. */
static int
remove_deleted(struct sess *s, size_t *removed, struct buf *err)
{
	struct mbox *trash = NULL;
	struct buf name;
	size_t i, j;
	uint32_t nu;
	int r = 0, move = strcmp(config_str(s->c->cf, s->c->service,
	    "pop3_delete"), "trash") == 0;

	*removed = 0;
	buf_init(&name, 256);
	if (move && (store_special(s->st, "\\Trash", &name, err) == -1 ||
	    mbox_open(s->st, buf_cstr(&name), &trash, err) == -1)) {
		buf_free(&name);
		return -1;
	}
	for (i = 0; i < s->n && r == 0; i = j) {
		if (!s->m[i].deleted) {
			j = i + 1;
			continue;
		}
		for (j = i; j < s->n && s->m[j].deleted; j++)
			if (move)
				r = mbox_copy(s->mb, s->m[j].uid, trash, 1, &nu,
				    err) == -1 ? -1 : 0;
			else
				r = mbox_store_flags(s->mb, s->m[j].uid,
				    s->m[j].uid, '+', MF_DELETED, NULL, 0,
				    NULL, NULL, NULL, err);
		if (r == 0 && !move)
			r = mbox_expunge(s->mb, s->m[i].uid, s->m[j - 1].uid,
			    NULL, NULL, err);
		if (r == 0)
			*removed += j - i;
	}
	if (trash != NULL)
		mbox_close(&trash);
	buf_free(&name);
	return r;
}

static void
quit_cmd(struct sess *s)
{
	struct buf err;
	size_t removed = 0, left;

	buf_init(&err, 1024);
	/* what others changed meanwhile (a Maildir client's new flags)
	 * first, so that \Seen is added to them, not put in their place */
	if (mbox_sync(s->mb, &err) == -1 || mark_seen(s, &err) == -1 ||
	    remove_deleted(s, &removed, &err) == -1) {
		log_error("update: %s", buf_cstr(&err));
		/* RFC 2449 8.1.2: SYS/TEMP */
		reply(s, "-ERR [SYS/TEMP] some deleted messages were not "
		    "removed: %s", buf_cstr(&err));
	} else {
		left = s->n - removed;
		reply(s, "+OK bye (%zu message%s left)", left, left == 1 ? "" :
		    "s");
	}
	log_info("logout: retr=%llu/%llu, top=%llu/%llu, del=%zu, size=%zu",
	    (unsigned long long)s->retr, (unsigned long long)s->retr_bytes,
	    (unsigned long long)s->top, (unsigned long long)s->top_bytes,
	    removed, s->n);
	buf_free(&err);
}

/* RFC 2449 5: the capabilities after login. */
static void
capa(struct sess *s)
{
	reply(s, "+OK capabilities follow");
	reply(s, "CAPA");
	reply(s, "TOP");
	reply(s, "UIDL");
	reply(s, "RESP-CODES");
	reply(s, "AUTH-RESP-CODE");
	reply(s, "PIPELINING");
	reply(s, "EXPIRE NEVER");
	if (config_num(s->c->cf, s->c->service, "pop3_login_delay") > 0)
		reply(s, "LOGIN-DELAY %llu", (unsigned long long)config_num(
		    s->c->cf, s->c->service, "pop3_login_delay"));
	reply(s, "UTF8 USER");
	reply(s, "IMPLEMENTATION Chapar");
	reply(s, ".");
}

static int
c_stat(struct sess *s, struct sv args)
{
	(void)args;
	stat_cmd(s);
	return 1;
}

static int
c_list(struct sess *s, struct sv args)
{
	list_cmd(s, args, 0);
	return 1;
}

static int
c_uidl(struct sess *s, struct sv args)
{
	list_cmd(s, args, 1);
	return 1;
}

static int
c_retr(struct sess *s, struct sv args)
{
	struct pmsg *m;

	return (m = msg_arg(s, args, 0)) == NULL || send_msg(s, m, -1) == 0;
}

static int
c_top(struct sess *s, struct sv args)
{
	return top_cmd(s, args) == 0;
}

static int
c_dele(struct sess *s, struct sv args)
{
	struct pmsg *m;

	if ((m = msg_arg(s, args, 0)) != NULL) {
		m->deleted = 1;
		reply(s, "+OK message %zu deleted", (size_t)(m - s->m) + 1);
	}
	return 1;
}

static int
c_rset(struct sess *s, struct sv args)
{
	size_t i;

	(void)args;
	for (i = 0; i < s->n; i++)
		s->m[i].deleted = 0;
	reply(s, "+OK %zu messages", s->n);
	return 1;
}

static int
c_noop(struct sess *s, struct sv args)
{
	(void)args;
	reply(s, "+OK");
	return 1;
}

static int
c_capa(struct sess *s, struct sv args)
{
	(void)args;
	capa(s);
	return 1;
}

static int
c_quit(struct sess *s, struct sv args)
{
	(void)args;
	quit_cmd(s);
	return 0;
}

/* The TRANSACTION state's handlers (pop3_cmd_lookup has the states). */
static int (*const handlers[P_NCMDS])(struct sess *, struct sv) = {
	[P_STAT] = c_stat, [P_LIST] = c_list, [P_UIDL] = c_uidl,
	[P_RETR] = c_retr, [P_TOP] = c_top, [P_DELE] = c_dele,
	[P_RSET] = c_rset, [P_NOOP] = c_noop, [P_CAPA] = c_capa,
	[P_QUIT] = c_quit,
};

/* One command; 0 when the session ends here. */
static int
command(struct sess *s, struct sv line)
{
	const struct pop3_cmd *c;
	struct sv verb, args;

	if (pop3_split(line, &verb, &args) == -1) {
		reply(s, "-ERR syntax error");
		return ++s->errors < POP3_ERRORS_MAX;
	}
	if ((c = pop3_cmd_lookup(verb)) == NULL) {
		reply(s, "-ERR unknown command");
		return ++s->errors < POP3_ERRORS_MAX;
	}
	if (!(c->states & POP3_TRANSACTION)) {
		reply(s, "-ERR %s belongs to the AUTHORIZATION state",
		    c->name);
		return ++s->errors < POP3_ERRORS_MAX;
	}
	return handlers[c->id](s, args);
}

/* Is a whole command line already read (pipelined)? */
static int
line_waiting(const struct io *io)
{
	return io_buffered(io) > 0 && memchr(io->in.data + io->in_pos, '\n',
	    io_buffered(io)) != NULL;
}

/* Lock, open, list: the maildrop.  0, or -1 with the reply given. */
static int
open_maildrop(struct sess *s, const struct worker_session *ws)
{
	struct store_opts o;
	struct mbox_status ms;
	struct buf err;
	uint64_t wait;
	int lfd;

	if ((lfd = lock_maildrop()) < 0) {
		if (lfd == -2)
			reply(s, "-ERR [IN-USE] another POP3 session has the "
			    "mailbox");
		else
			reply(s, "-ERR [SYS/TEMP] cannot lock the mailbox: %s",
			    strerror(errno));
		log_info("%s: %s", log_esc_str(ws->user), lfd == -2 ?
		    "in use by another POP3 session" : strerror(errno));
		return -1;
	}
	/* the lock stays held (lfd stays open) until the process ends */
	if ((wait = login_delay(s)) > 0) {
		reply(s, "-ERR [LOGIN-DELAY] wait %llu seconds before logging "
		    "in again", (unsigned long long)wait);
		return -1;
	}
	memset(&o, 0, sizeof(o));
	o.quota_bytes = ws->quota;
	buf_init(&err, 1024);
	if (store_open(".", &o, &s->st, &err) == -1 ||
	    mbox_open(s->st, "INBOX", &s->mb, &err) == -1 ||
	    mbox_status(s->mb, &ms, &err) == -1 ||
	    mbox_messages_brief(s->mb, 1, UINT32_MAX, take, s, &err) == -1) {
		log_error("%s: %s", log_esc_str(ws->user), buf_cstr(&err));
		reply(s, "-ERR [SYS/TEMP] the mailbox cannot be opened");
		buf_free(&err);
		return -1;
	}
	buf_free(&err);
	s->uidvalidity = ms.uidvalidity;
	return 0;
}

void
pop3_session(struct worker_conn *c, const struct worker_session *ws)
{
	struct sess s;
	struct io io;
	struct sv line;
	uint64_t bytes = 0;
	size_t i;
	int r, crlf;

	memset(&s, 0, sizeof(s));
	s.c = c;
	s.io = &io;
	buf_init(&s.names, 64 * 1024);
	io_init(&io, c->fd, POP3_LINE_MAX, (int)config_num(c->cf, c->service,
	    "pop3_timeout") * 1000);
	if (open_maildrop(&s, ws) == 0) {
		for (i = 0; i < s.n; i++)
			bytes += s.m[i].size;
		/* the answer to PASS or AUTH (RFC 1939 7) */
		reply(&s, "+OK maildrop locked and ready (%zu messages, %llu "
		    "octets)", s.n, (unsigned long long)bytes);
		for (;;) {
			/* pipelined commands (RFC 2449 6.6) are answered
			 * before the replies are sent, in one write */
			if (!line_waiting(&io) && io_flush(&io) != IO_OK)
				break;
			r = io_getline(&io, &line, &crlf);
			if (r == IO_TOOLONG) {
				reply(&s, "-ERR line too long");
				if (++s.errors >= POP3_ERRORS_MAX)
					break;
				continue;
			}
			if (r != IO_OK || !command(&s, line))
				break;
		}
		if (s.errors >= POP3_ERRORS_MAX)
			reply(&s, "-ERR too many errors");
	}
	(void)io_flush(&io);
	if (s.mb != NULL)
		mbox_close(&s.mb);
	if (s.st != NULL)
		store_close(&s.st);
	free(s.m);
	buf_free(&s.names);
	io_free(&io, 0);
}
