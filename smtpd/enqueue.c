/*
 * enqueue: the only writer of new mail into the queue (enqueue(8)).
 *
 * One process, one event loop, many clients (smtpd workers, later the
 * sendmail command) on a UNIX socket.  Started as root it binds the
 * socket, then becomes queue_user chrooted into queue_dir: from then on
 * it can touch the queue and nothing else.
 *
 * A message goes to tmp/ID as it arrives; at the client's commit it is
 * fsync'd, its envelope written to tmp/ID.env and fsync'd, the message
 * renamed to mess/H/ID and the envelope to todo/ID -- that rename is the
 * commit -- and the directories are fsync'd.  Commits that arrive in the
 * same turn of the loop share the directory fsyncs (group commit).  Only
 * then does the client hear "K": a crash before leaves at most files in
 * tmp/ (removed at the next start) or a message without an envelope,
 * never a half-written message with one.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/config.h"
#include "chapar/daemon.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/priv.h"
#include "chapar/queue.h"
#include "chapar/util.h"

#define CLIENTS_MAX 4096
#define IN_MAX (QUEUE_FRAME_MAX + 64 * 1024)

enum cstate { C_IDLE, C_DATA, C_FAILED, C_COMMIT, C_PLACED };

struct client {
	int fd;
	struct buf in;
	enum cstate state;
	int tmpfd, envfd;
	char id[QUEUE_ID_MAX];
	struct queue_env env;
	uint64_t size;
	char fail[256];		/* the reply for a failed message */
	struct client *next_commit;
};

static struct {
	struct config *cf;
	struct client *c[CLIENTS_MAX];
	size_t n;
	uint64_t limit;		/* most bytes of one message */
	volatile sig_atomic_t quit;
	unsigned long long queued;
	int qfd;		/* the queue directory, for syncfs */
	int todofd, messfd[16];	/* its directories, for fsync */
	int wakefd;		/* qmgr's FIFO, or -1 */
	/* the flush (commit_start): the placed messages wait in pending
	 * while the flusher thread makes the ones in flushing durable */
	struct client *pending, *flushing;
	int job_w, done_r;	/* pipes to and from the flusher */
	struct flush_job {
		int syncfs;	/* one syncfs(2), or fsync of fds[] */
		int nfd, fds[4];
		int err;	/* its errno, or 0 */
	} job;
} Q;

static const char *const subdirs[] = { "tmp", "todo", "mess", "info",
	"local", "remote", "bounce", NULL };

/* --- the queue's directories --------------------------------------------- */

static void
make_dirs(const char *top)
{
	struct buf p;
	size_t i;
	int h;

	buf_init(&p, 4096);
	if (mkdir_p(top, 0700) == -1)
		log_fatal("%s: %s", top, strerror(errno));
	for (i = 0; subdirs[i] != NULL; i++) {
		buf_reset(&p);
		buf_printf(&p, "%s/%s", top, subdirs[i]);
		if (mkdir(buf_cstr(&p), 0700) == -1 && errno != EEXIST)
			log_fatal("%s: %s", buf_cstr(&p), strerror(errno));
		if (strcmp(subdirs[i], "mess") != 0 &&
		    strcmp(subdirs[i], "info") != 0)
			continue;
		for (h = 0; h < 16; h++) {
			buf_reset(&p);
			buf_printf(&p, "%s/%s/%X", top, subdirs[i], h);
			if (mkdir(buf_cstr(&p), 0700) == -1 && errno != EEXIST)
				log_fatal("%s: %s", buf_cstr(&p),
				    strerror(errno));
		}
	}
	buf_free(&p);
}

/* As root: the queue is queue_user's, every directory of it. */
static void
own_dirs(const char *top, uid_t uid, gid_t gid)
{
	struct buf p;
	size_t i;
	int h;

	buf_init(&p, 4096);
	if (chown(top, uid, gid) == -1)
		log_fatal("chown %s: %s", top, strerror(errno));
	for (i = 0; subdirs[i] != NULL; i++) {
		buf_reset(&p);
		buf_printf(&p, "%s/%s", top, subdirs[i]);
		if (chown(buf_cstr(&p), uid, gid) == -1)
			log_fatal("chown %s: %s", buf_cstr(&p),
			    strerror(errno));
		for (h = 0; h < 16 && (strcmp(subdirs[i], "mess") == 0 ||
		    strcmp(subdirs[i], "info") == 0); h++) {
			buf_reset(&p);
			buf_printf(&p, "%s/%s/%X", top, subdirs[i], h);
			if (chown(buf_cstr(&p), uid, gid) == -1)
				log_fatal("chown %s: %s", buf_cstr(&p),
				    strerror(errno));
		}
	}
	buf_free(&p);
}

/* What is in tmp/ was never acknowledged: it goes. */
static void
clean_tmp(void)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	if ((d = opendir("tmp")) == NULL)
		log_fatal("tmp: %s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n > 0)
		log_info("removed %u unfinished files from tmp/", n);
}

/* Entries of todo/ a crash cut short (see place_all): removed. */
static void
check_todo(void)
{
	struct dirent *de;
	struct buf p;
	const char *why;
	unsigned n = 0, bad = 0;
	DIR *d;

	if ((d = opendir("todo")) == NULL)
		log_fatal("todo: %s", strerror(errno));
	buf_init(&p, 256);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		if (queue_entry_check(de->d_name, &why) == 0)
			continue;
		log_warning("%s: removed from todo/, never acknowledged: %s",
		    log_esc_str(de->d_name), why);
		if (queue_id_ok(de->d_name)) {
			queue_path("mess", de->d_name, &p);
			(void)unlink(buf_cstr(&p));
		}
		(void)unlinkat(dirfd(d), de->d_name, 0);
		bad++;
	}
	closedir(d);
	buf_free(&p);
	if (bad > 0)
		log_info("todo/: %u entries checked, %u incomplete removed", n,
		    bad);
}

/* --- clients ------------------------------------------------------------- */

static void
reply(struct client *c, int type, const char *text)
{
	if (queue_frame_write(c->fd, type, text, strlen(text)) == -1)
		log_debug("client gone before the reply");
}

static void
fail(struct client *c, const char *text)
{
	(void)xsnprintf(c->fail, sizeof(c->fail), "%s", text);
	c->state = C_FAILED;
}

static void
close_files(struct client *c)
{
	if (c->tmpfd != -1)
		(void)close(c->tmpfd);
	if (c->envfd != -1)
		(void)close(c->envfd);
	c->tmpfd = c->envfd = -1;
}

static void
drop_message(struct client *c)
{
	struct buf p;

	buf_init(&p, 256);
	close_files(c);
	if (c->id[0] != '\0') {
		queue_path("tmp", c->id, &p);
		(void)unlink(buf_cstr(&p));
		buf_puts(&p, ".env");
		(void)unlink(buf_cstr(&p));
	}
	c->id[0] = '\0';
	c->size = 0;
	queue_env_free(&c->env);
	queue_env_init(&c->env);
	c->state = C_IDLE;
	buf_free(&p);
}

/*
 * A new file in tmp/, created under its final name: the time and a
 * serial number name the message.  enqueue is the queue's only writer
 * and hands out each serial once; O_EXCL makes sure even across a
 * restart within one microsecond.
 */
static int
start_message(struct client *c)
{
	static uint64_t serial;
	struct timeval tv;
	struct buf path;
	int tries;

	buf_init(&path, 256);
	for (tries = 0; tries < 100; tries++) {
		(void)gettimeofday(&tv, NULL);
		queue_id_make((uint64_t)tv.tv_sec, (uint32_t)tv.tv_usec,
		    ++serial, c->id);
		queue_path("tmp", c->id, &path);
		c->tmpfd = open(buf_cstr(&path), O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		if (c->tmpfd != -1 || errno != EEXIST)
			break;
	}
	buf_free(&path);
	if (c->tmpfd == -1) {
		log_error("new queue file: %s", strerror(errno));
		c->id[0] = '\0';
		return -1;
	}
	return 0;
}

static const char *
write_error(int e)
{
	return e == ENOSPC || e == EDQUOT ? "452 4.3.1 insufficient system "
	    "storage" : "451 4.3.0 queue file write error";
}

static void
on_envelope(struct client *c, struct sv text)
{
	const char *why;

	if (c->state != C_IDLE) {
		reply(c, QF_FAIL, "503 5.5.1 a message is already open");
		return;
	}
	if (queue_env_parse(text, &c->env, &why) == -1) {
		log_warning("refused an envelope: %s", why);
		reply(c, QF_FAIL, "554 5.6.0 bad envelope");
		return;
	}
	if (start_message(c) == -1) {
		reply(c, QF_FAIL, write_error(errno));
		return;
	}
	c->state = C_DATA;
	reply(c, QF_ID, c->id);
}

static void
on_data(struct client *c, struct sv p)
{
	if (c->state == C_FAILED)
		return;		/* eaten until the commit */
	if (c->state != C_DATA) {
		reply(c, QF_FAIL, "503 5.5.1 no message open");
		return;
	}
	c->size += p.n;
	if (Q.limit > 0 && c->size > Q.limit) {
		fail(c, "552 5.3.4 message too big");
		return;
	}
	if (write_all(c->tmpfd, p.p, p.n) == -1) {
		log_error("%s: write: %s", c->id, strerror(errno));
		fail(c, write_error(errno));
	}
}

/* --- commits ------------------------------------------------------------- */

static void
set_num(struct rec *r, const char *name, uint64_t v)
{
	rec_del(r, name);
	rec_set_u64(r, name, v);
}

static int
hexval(char h)
{
	return h >= 'A' ? h - 'A' + 10 : h - '0';
}

/* The envelope next to the message in tmp/ (not yet synced). */
static int
write_envelope(struct client *c)
{
	struct buf text, envtmp;
	int r = -1;

	buf_init(&text, QUEUE_ENV_MAX + 1024);
	buf_init(&envtmp, 256);
	queue_path("tmp", c->id, &envtmp);
	buf_puts(&envtmp, ".env");
	set_num(&c->env.head, "size", c->size);
	set_num(&c->env.head, "time", (uint64_t)now_sec());
	/* -1: the filters' fields made it too long to read back */
	if (queue_env_format(&c->env, &text) == 0 &&
	    (c->envfd = open(buf_cstr(&envtmp), O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) != -1 &&
	    write_all(c->envfd, text.data, text.len) == 0)
		r = 0;
	buf_free(&text);
	buf_free(&envtmp);
	return r;
}

/* Both files into place: the message into mess/H/, then the envelope
 * into todo/, which commits. */
static int
rename_into_place(struct client *c)
{
	struct buf tmp, envtmp, mess, todo;
	int r = -1;

	buf_init(&tmp, 256);
	buf_init(&envtmp, 256);
	buf_init(&mess, 256);
	buf_init(&todo, 256);
	queue_path("tmp", c->id, &tmp);
	buf_printf(&envtmp, "%s.env", buf_cstr(&tmp));
	queue_path("mess", c->id, &mess);
	queue_path("todo", c->id, &todo);
	if (rename(buf_cstr(&tmp), buf_cstr(&mess)) == 0) {
		if (rename(buf_cstr(&envtmp), buf_cstr(&todo)) == 0) {
			r = 0;
		} else
			(void)rename(buf_cstr(&mess), buf_cstr(&tmp));
	}
	buf_free(&tmp);
	buf_free(&envtmp);
	buf_free(&mess);
	buf_free(&todo);
	return r;
}

static void
commit_failed(struct client *c, const char *what)
{
	log_error("%s: %s: %s", c->id, what, strerror(errno));
	fail(c, write_error(errno));
	close_files(c);
}

static void
log_queued(const struct client *c)
{
	const char *sender = rec_get_str(&c->env.head, "sender");
	const char *client = rec_get_str(&c->env.head, "client");

	log_info("%s: from=<%s>, size=%llu, nrcpt=%zu%s%s (queued)", c->id,
	    log_esc_str(sender ? sender : ""), (unsigned long long)c->size,
	    c->env.nrcpt, client ? ", client=" : "",
	    client ? log_esc_str(client) : "");
}

/* After a failed flush: the entry goes again, since its client hears
 * 451 and will send the message again. */
static void
unplace(struct client *c)
{
	struct buf p;

	buf_init(&p, 256);
	queue_path("todo", c->id, &p);
	(void)unlink(buf_cstr(&p));
	queue_path("mess", c->id, &p);
	(void)unlink(buf_cstr(&p));
	buf_free(&p);
}

/*
 * Committing.  The turn's commits are placed at once: each envelope is
 * written and both files are renamed into place, the envelope into
 * todo/ last.  Then they are made durable by the flusher, a thread that
 * does nothing but wait on syncfs(2) -- one for all the messages placed
 * since the last flush began -- or, for a lone message, fsync of its two
 * files and two directories.  The event loop goes on meanwhile, so new
 * messages are opened and written while the disk works, and the next
 * group is ready when the flush ends (group commit, pipelined).  Only
 * after its flush does a client hear "K".
 *
 * A crash before the flush may leave in todo/ an entry whose files are
 * short or empty; no client was told it was queued, and
 * queue_entry_check finds it out: enqueue removes such entries when it
 * starts, and the queue manager skips them.
 */
static void
place_all(struct client *list)
{
	struct client *c, *next;

	for (c = list; c != NULL; c = next) {
		next = c->next_commit;
		if (c->state == C_FAILED)
			;
		else if (write_envelope(c) == -1)
			commit_failed(c, "writing the envelope");
		else if (rename_into_place(c) == -1)
			commit_failed(c, "rename");
		else {
			c->state = C_PLACED;
			c->next_commit = Q.pending;
			Q.pending = c;
			continue;
		}
		reply(c, QF_FAIL, c->fail);
		drop_message(c);	/* tmp/ is cleaned */
	}
}

static void *
flusher(void *arg)
{
	int rfd = *(int *)arg, wfd = *((int *)arg + 1), i;
	char b;

	for (;;) {
		if (read(rfd, &b, 1) != 1)
			return NULL;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		Q.job.err = 0;
		if (Q.job.syncfs) {
			if (syncfs(Q.qfd) == -1)
				Q.job.err = errno;
		} else
			for (i = 0; i < Q.job.nfd && Q.job.err == 0; i++)
				if (fsync(Q.job.fds[i]) == -1)
					Q.job.err = errno;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (write(wfd, "x", 1) != 1)
			return NULL;
	}
}

static void
flusher_start(void)
{
	static int fds[2];
	int job[2], done[2];
	pthread_t t;

	if (pipe2(job, O_CLOEXEC) == -1 || pipe2(done, O_CLOEXEC) == -1)
		log_fatal("pipe: %s", strerror(errno));
	fds[0] = job[0];
	fds[1] = done[1];
	Q.job_w = job[1];
	Q.done_r = done[0];
	if ((errno = pthread_create(&t, NULL, flusher, fds)) != 0)
		log_fatal("pthread_create: %s", strerror(errno));
	(void)pthread_detach(t);
}

/* Hand what is pending to the flusher, if it is idle. */
static void
flush_start(void)
{
	struct client *c;

	if (Q.flushing != NULL || Q.pending == NULL)
		return;
	Q.flushing = Q.pending;
	Q.pending = NULL;
	c = Q.flushing;
	memset(&Q.job, 0, sizeof(Q.job));
	if (c->next_commit != NULL)
		Q.job.syncfs = 1;
	else {
		Q.job.fds[0] = c->tmpfd;
		Q.job.fds[1] = c->envfd;
		Q.job.fds[2] = Q.messfd[hexval(c->id[strlen(c->id) - 1])];
		Q.job.fds[3] = Q.todofd;
		Q.job.nfd = 4;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (write(Q.job_w, "j", 1) != 1)
		log_fatal("flusher: %s", strerror(errno));
}

/* A byte into queue_dir/wake, where qmgr(8) waits, if it does: a full
 * FIFO means it has wake-ups to read already. */
static void
wake_qmgr(void)
{
	if (Q.wakefd == -1 && (Q.wakefd = open("wake", O_WRONLY | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return;		/* no queue manager (ENXIO) or no FIFO yet */
	if (write(Q.wakefd, "w\n", 2) == -1 && errno != EAGAIN) {
		(void)close(Q.wakefd);	/* it went away: open again */
		Q.wakefd = -1;
	}
}

/* The flush ended: tell its clients, and start the next. */
static void
flush_done(void)
{
	struct client *c, *next;
	char b;
	int err;

	if (read(Q.done_r, &b, 1) != 1)
		log_fatal("flusher: %s", strerror(errno));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	err = Q.job.err;
	if (err != 0)
		log_error("%s: %s", Q.job.syncfs ? "syncfs" : "fsync",
		    strerror(err));
	for (c = Q.flushing; c != NULL; c = next) {
		next = c->next_commit;
		close_files(c);
		if (err != 0) {
			log_error("%s: the queue could not be synced", c->id);
			unplace(c);
			reply(c, QF_FAIL, "451 4.3.0 queue not durable");
		} else {
			log_queued(c);
			Q.queued++;
			reply(c, QF_OK, c->id);
		}
		c->id[0] = '\0';	/* the files are the queue's, or gone */
		drop_message(c);
	}
	Q.flushing = NULL;
	if (err == 0)
		wake_qmgr();
	flush_start();
}

/* At exit: every placed message flushed and answered. */
static void
flush_all(void)
{
	struct pollfd pfd;

	flush_start();
	while (Q.flushing != NULL) {
		pfd.fd = Q.done_r;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, -1) == 1)
			flush_done();
	}
}

/* --- the loop ------------------------------------------------------------ */

/* Committing: its client sends nothing and must stay until answered. */
static int
waiting(const struct client *c)
{
	return c->state == C_COMMIT || c->state == C_PLACED;
}

static void
client_free(size_t i)
{
	struct client *c = Q.c[i];

	drop_message(c);
	close(c->fd);
	buf_free(&c->in);
	queue_env_free(&c->env);
	free(c);
	Q.c[i] = Q.c[--Q.n];
}

/* Read and act on whole frames; 0, or -1 to close the client. */
static int
client_read(struct client *c, struct client **commits)
{
	struct sv p;
	ssize_t n, used;
	size_t off = 0;
	const char *why;
	int type;

	if (buf_reserve(&c->in, 64 * 1024) == -1)
		return -1;
	n = read(c->fd, buf_end(&c->in), buf_room(&c->in));
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n > 0)
		buf_commit(&c->in, (size_t)n);
	while ((used = queue_frame_take(&c->in, off, &type, &p)) > 0) {
		off += (size_t)used;
		switch (type) {
		case QF_ENVELOPE:
			on_envelope(c, p);
			break;
		case QF_DATA:
			on_data(c, p);
			break;
		case QF_COMMIT:
			if (c->state == C_FAILED) {
				reply(c, QF_FAIL, c->fail);
				drop_message(c);
			} else if (c->state != C_DATA) {
				reply(c, QF_FAIL, "503 5.5.1 no message open");
			} else if (p.n > 0 && queue_env_amend(&c->env, p,
			    &why) == -1) {
				log_warning("%s: bad fields at commit: %s",
				    c->id, why);
				reply(c, QF_FAIL, "554 5.3.0 bad envelope "
				    "fields");
				drop_message(c);
			} else {
				c->state = C_COMMIT;
				c->next_commit = *commits;
				*commits = c;
				/* nothing more until the commit is done */
				goto done;
			}
			break;
		case QF_ABORT:
			drop_message(c);
			break;
		default:
			return -1;	/* a server's frame from a client */
		}
	}
	if (used == -1)
		return -1;
done:
	if (off > 0) {
		memmove(c->in.data, c->in.data + off, c->in.len - off);
		c->in.len -= off;
	}
	return 0;
}

static void
accept_clients(int lfd)
{
	struct client *c;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC |
	    SOCK_NONBLOCK)) != -1) {
		if (Q.n == CLIENTS_MAX) {
			log_warning("too many clients; refusing one");
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->tmpfd = c->envfd = -1;
		buf_init(&c->in, IN_MAX);
		queue_env_init(&c->env);
		Q.c[Q.n++] = c;
	}
}

static void
serve(int lfd)
{
	static struct pollfd pfd[CLIENTS_MAX + 3];
	struct client *commits;
	size_t i, n;

	while (!Q.quit) {
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = Q.done_r;
		pfd[1].events = POLLIN;
		n = Q.n;
		for (i = 0; i < n; i++) {
			pfd[i + 2].fd = Q.c[i]->fd;
			/* a client waiting for its commit sends nothing */
			pfd[i + 2].events = waiting(Q.c[i]) ? 0 : POLLIN;
		}
		/* a SIGTERM wakes the poll through the self-pipe */
		pfd[n + 2].fd = daemon_signal_fd();
		pfd[n + 2].events = POLLIN;
		if (poll(pfd, n + 3, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_fatal("poll: %s", strerror(errno));
		}
		if (pfd[n + 2].revents & POLLIN)
			daemon_signal_drain();
		if (pfd[1].revents & POLLIN)
			flush_done();
		commits = NULL;
		for (i = n; i-- > 0;) {
			if (!(pfd[i + 2].revents & (POLLIN | POLLHUP |
			    POLLERR)))
				continue;
			if (client_read(Q.c[i], &commits) == -1) {
				if (waiting(Q.c[i]))
					continue;	/* after the commit */
				client_free(i);
			}
		}
		if (commits != NULL) {
			place_all(commits);
			flush_start();
		}
		if (pfd[0].revents & POLLIN)
			accept_clients(lfd);
	}
	flush_all();
}

int
main(int argc, char **argv)
{
	const char *sock, *qdir;
	struct buf err;
	struct group *gr;
	uid_t uid;
	gid_t gid;
	char hd[16];
	int lfd, h;

	Q.cf = daemon_init("enqueue", argc, argv, &Q.quit);
	buf_init(&err, 4096);
	/* a message may be the limit plus the Received field smtpd adds */
	Q.limit = config_num(Q.cf, NULL, "message_size_limit");
	if (Q.limit > 0)
		Q.limit += 64 * 1024;
	sock = config_str(Q.cf, NULL, "enqueue_socket");
	qdir = config_str(Q.cf, NULL, "queue_dir");
	make_dirs(qdir);
	if ((lfd = unix_listen(sock, "enqueue", &err)) == -1)
		log_fatal("%s", buf_cstr(&err));
	if (geteuid() == 0) {
		if (priv_lookup(config_str(Q.cf, NULL, "queue_user"), &uid,
		    &gid, &err) == -1)
			log_fatal("%s (chapar init creates it)",
			    buf_cstr(&err));
		/* smtpd workers connect while still root; others in group
		 * chapar may too */
		gr = getgrnam(CHAPAR_GROUP);
		if (chmod(sock, 0660) == -1 || chown(sock, 0, gr != NULL ?
		    gr->gr_gid : gid) == -1)
			log_fatal("%s: %s", sock, strerror(errno));
		own_dirs(qdir, uid, gid);
		if (priv_drop(uid, gid, qdir, &err) == -1)
			log_fatal("%s", buf_cstr(&err));
	} else if (chdir(qdir) == -1)
		log_fatal("%s: %s", qdir, strerror(errno));
	clean_tmp();
	check_todo();
	if ((Q.qfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (Q.todofd = open("todo", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		log_fatal("%s: %s", qdir, strerror(errno));
	for (h = 0; h < 16; h++) {
		(void)xsnprintf(hd, sizeof(hd), "mess/%X", h);
		if ((Q.messfd[h] = open(hd, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1)
			log_fatal("%s/%s: %s", qdir, hd, strerror(errno));
	}
	flusher_start();
	Q.wakefd = -1;
	log_info("ready: socket=%s, queue=%s, uid=%ld", sock, qdir,
	    (long)geteuid());
	serve(lfd);
	log_info("stopping: %llu messages queued", Q.queued);
	config_free(&Q.cf);
	buf_free(&err);
	return 0;
}
