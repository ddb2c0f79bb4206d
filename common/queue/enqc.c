/*
 * enqc.c: talking to enqueue(8) (enqc.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/enqc.h"
#include "chapar/net.h"
#include "chapar/util.h"

#define CHUNK (64 * 1024)

struct enqc {
	int fd;
	int timeout_ms;
	int broken;
	struct buf in;		/* replies */
	struct buf out;		/* message bytes not yet framed */
};

struct enqc *
enqc_from_fd(int fd, int timeout_ms)
{
	struct enqc *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->timeout_ms = timeout_ms;
	buf_init(&c->in, QUEUE_FRAME_MAX + 64);
	buf_init(&c->out, 2 * CHUNK);
	return c;
}

int
enqc_connect(const char *path, int timeout_ms, struct enqc **cp,
    struct buf *err)
{
	int fd;

	*cp = NULL;
	if ((fd = unix_connect(path, "enqueue", err)) == -1)
		return -1;
	*cp = enqc_from_fd(fd, timeout_ms);
	return 0;
}

void
enqc_close(struct enqc **cp)
{
	if (*cp == NULL)
		return;
	close((*cp)->fd);
	buf_free(&(*cp)->in);
	buf_free(&(*cp)->out);
	free(*cp);
	*cp = NULL;
}

static int
broken(struct enqc *c, struct buf *reply)
{
	c->broken = 1;
	if (reply != NULL) {
		buf_reset(reply);
		buf_puts(reply, "451 4.3.0 queue unavailable");
	}
	return -1;
}

/* Wait for one reply frame; -1 also when it does not fit payload (a
 * reply line is short: enqueue is not itself then). */
static int
read_reply(struct enqc *c, int *type, struct buf *payload)
{
	struct pollfd pfd;
	struct sv p;
	ssize_t n, used;

	for (;;) {
		if ((used = queue_frame_take(&c->in, 0, type, &p)) > 0) {
			if (buf_try_set(payload, p.p, p.n) == -1)
				return -1;
			memmove(c->in.data, c->in.data + used, c->in.len -
			    (size_t)used);
			c->in.len -= (size_t)used;
			return 0;
		}
		if (used == -1 || buf_reserve(&c->in, 4096) == -1)
			return -1;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, c->timeout_ms) <= 0)
			return -1;
		n = read(c->fd, buf_end(&c->in), buf_room(&c->in));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf_commit(&c->in, (size_t)n);
	}
}

int
enqc_begin(struct enqc *c, struct sv envelope, char id[QUEUE_ID_MAX],
    struct buf *reply)
{
	struct buf p;
	int type, r;

	if (c->broken)
		return broken(c, reply);
	buf_reset(&c->out);
	buf_init(&p, 1024);
	if (queue_frame_write(c->fd, QF_ENVELOPE, envelope.p, envelope.n) ==
	    -1 || read_reply(c, &type, &p) == -1) {
		buf_free(&p);
		return broken(c, reply);
	}
	if (type == QF_ID && p.len > 0 && p.len < QUEUE_ID_MAX &&
	    queue_id_ok(buf_cstr(&p))) {
		memcpy(id, p.data, p.len + 1);
		r = 0;
	} else if (type == QF_FAIL && buf_try_set(reply, p.data, p.len) ==
	    0)
		r = 1;
	else
		r = broken(c, reply);
	buf_free(&p);
	return r;
}

static int
flush_data(struct enqc *c)
{
	if (c->out.len == 0)
		return 0;
	if (queue_frame_write(c->fd, QF_DATA, c->out.data, c->out.len) == -1)
		return -1;
	buf_reset(&c->out);
	return 0;
}

int
enqc_write(struct enqc *c, const void *p, size_t n)
{
	const char *s = p;
	size_t take;

	if (c->broken)
		return -1;
	while (n > 0) {
		take = CHUNK - c->out.len < n ? CHUNK - c->out.len : n;
		buf_append(&c->out, s, take);
		s += take;
		n -= take;
		if (c->out.len == CHUNK && flush_data(c) == -1)
			return broken(c, NULL);
	}
	return 0;
}

int
enqc_commit(struct enqc *c, struct sv fields, struct buf *reply)
{
	struct buf p;
	int type, r;

	if (c->broken)
		return broken(c, reply);
	/* the last data and the commit together */
	if (fields.n > 0) {
		if (flush_data(c) == -1 || queue_frame_write(c->fd, QF_COMMIT,
		    fields.p, fields.n) == -1)
			return broken(c, reply);
	} else if ((c->out.len > 0 ? queue_frame_write2(c->fd, QF_DATA,
	    c->out.data, c->out.len, QF_COMMIT) : queue_frame_write(c->fd,
	    QF_COMMIT, NULL, 0)) == -1)
		return broken(c, reply);
	buf_reset(&c->out);
	buf_init(&p, 1024);
	if (read_reply(c, &type, &p) == -1) {
		buf_free(&p);
		return broken(c, reply);
	}
	if (buf_try_set(reply, p.data, p.len) == -1)
		r = broken(c, reply);
	else
		r = type == QF_OK ? 0 : type == QF_FAIL ? 1 :
		    broken(c, reply);
	buf_free(&p);
	return r;
}

void
enqc_abort(struct enqc *c)
{
	buf_reset(&c->out);
	if (!c->broken && queue_frame_write(c->fd, QF_ABORT, NULL, 0) == -1)
		c->broken = 1;
}
