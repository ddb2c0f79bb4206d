/*
 * io.c: buffered, bounded, timed I/O on a descriptor.
 *
 * Trusts nothing that is read: lines are bounded by maxline and the input
 * buffer by maxline plus one read's worth of bytes.  Waiting is done with
 * poll() so that a silent peer costs a timeout, not a hung process.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/util.h"

#define IO_CHUNK 16384

static ssize_t
fd_read(struct io *io, void *p, size_t n)
{
	ssize_t r;

	do
		r = read(io->fd, p, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? IO_WANT_READ :
		    IO_ERROR;
	return r;
}

static ssize_t
fd_write(struct io *io, const void *p, size_t n)
{
	ssize_t r;

	do
		r = write(io->fd, p, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ?
		    IO_WANT_WRITE : IO_ERROR;
	return r;
}

static const struct io_transport fd_transport = { fd_read, fd_write, NULL };

void
io_init(struct io *io, int fd, size_t maxline, int timeout_ms)
{
	int fl;

	memset(io, 0, sizeof(*io));
	io->fd = fd;
	io->timeout_ms = timeout_ms;
	buf_init(&io->in, 0);
	io_set_maxline(io, maxline);
	buf_init(&io->out, 0);
	io->tr = &fd_transport;
	if ((fl = fcntl(fd, F_GETFL)) != -1)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void
io_set_maxline(struct io *io, size_t maxline)
{
	io->maxline = maxline;
	/* The buffer may hold one full line plus a chunk read after it;
	 * what it holds now stays (a smaller limit applies from the next
	 * compaction on). */
	io->in.max = maxline + 2 * IO_CHUNK;
	if (io->in.max < io->in.len)
		io->in.max = io->in.len;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
io_set_deadline(struct io *io, int ms)
{
	io->deadline = ms < 0 ? 0 : mono_ms() + (uint64_t)ms;
}

void
io_free(struct io *io, int close_fd)
{
	buf_free(&io->in);
	buf_free(&io->out);
	if (close_fd && io->fd >= 0)
		close(io->fd);
	io->fd = -1;
}

void
io_set_transport(struct io *io, const struct io_transport *tr, void *ctx)
{
	io->tr = tr ? tr : &fd_transport;
	io->tr_ctx = ctx;
}

/* Wait until fd is readable (want == IO_WANT_READ) or writable. */
static int
io_wait(struct io *io, int want)
{
	struct pollfd pfd;
	uint64_t now;
	int r, ms;

	pfd.fd = io->fd;
	pfd.events = want == IO_WANT_WRITE ? POLLOUT : POLLIN;
	pfd.revents = 0;
	do {
		ms = io->timeout_ms;
		if (io->deadline != 0) {
			/* the whole line, or the whole message, by then */
			if ((now = mono_ms()) >= io->deadline)
				return IO_TIMEOUT;
			if (ms < 0 || io->deadline - now < (uint64_t)ms)
				ms = (int)(io->deadline - now);
		}
		r = poll(&pfd, 1, ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return IO_ERROR;
	if (r == 0)
		return IO_TIMEOUT;
	return IO_OK;
}

/* Drop returned bytes from the front so the buffer does not creep. */
static void
io_compact(struct io *io)
{
	if (io->in_pos > 0) {
		buf_consume(&io->in, io->in_pos);
		io->in_pos = 0;
	}
}

/* Read more bytes from the transport into io->in.  IO_OK or an error. */
static int
io_fill(struct io *io)
{
	ssize_t r;
	int w;

	if (io->eof)
		return IO_EOF;
	io_compact(io);
	if (buf_reserve(&io->in, IO_CHUNK) == -1)
		return IO_TOOLONG;
	for (;;) {
		r = io->tr->read(io, io->in.data + io->in.len, IO_CHUNK);
		if (r > 0) {
			io->in.len += (size_t)r;
			io->in.data[io->in.len] = '\0';
			io->bytes_in += (unsigned long long)r;
			return IO_OK;
		}
		if (r == 0) {
			io->eof = 1;
			return IO_EOF;
		}
		if (r != IO_WANT_READ && r != IO_WANT_WRITE)
			return IO_ERROR;
		if ((w = io_wait(io, (int)r)) != IO_OK)
			return w;
	}
}

int
io_getline(struct io *io, struct sv *line, int *crlf)
{
	const char *start, *lf;
	size_t avail, n;
	int r;

	for (;;) {
		avail = io->in.len - io->in_pos;
		start = avail > 0 ? io->in.data + io->in_pos : NULL;
		lf = avail > 0 ? memchr(start, '\n', avail) : NULL;
		if (io->skipping) {
			/* Throw away the tail of an over-long line. */
			if (lf == NULL) {
				io->in_pos = io->in.len;
			} else {
				io->in_pos += (size_t)(lf - start) + 1;
				io->skipping = 0;
				continue;
			}
		} else if (lf != NULL) {
			n = (size_t)(lf - start);
			io->in_pos += n + 1;
			*crlf = n > 0 && start[n - 1] == '\r';
			if (*crlf)
				n--;
			if (n > io->maxline)
				return IO_TOOLONG;
			*line = sv_make(start, n);
			return IO_OK;
		} else if (avail > io->maxline + 1) {
			/* +1: the CR of a CRLF may be waiting for its LF. */
			io->in_pos = io->in.len;
			io->skipping = 1;
			return IO_TOOLONG;
		}
		if ((r = io_fill(io)) == IO_TOOLONG) {
			/* no room left: what is there is too long; it goes,
			 * so the next call makes progress */
			io->in_pos = io->in.len;
			io->skipping = 1;
			return IO_TOOLONG;
		}
		if (r != IO_OK)
			return r;
	}
}

size_t
io_buffered(const struct io *io)
{
	return io->in.len - io->in_pos;
}

void
io_discard_input(struct io *io)
{
	io->in_pos = io->in.len;
	io_compact(io);
}

int
io_preload(struct io *io, const void *p, size_t n)
{
	size_t have;

	if (n == 0)
		return 0;
	io_compact(io);
	have = io->in.len;
	/* buf_reserve checks n against the buffer's limit */
	if (buf_reserve(&io->in, n) == -1)
		return -1;
	/* what was already buffered comes after the preloaded bytes */
	memmove(io->in.data + n, io->in.data, have);
	memcpy(io->in.data, p, n);
	io->in.len = have + n;
	io->in.data[io->in.len] = '\0';
	return 0;
}

ssize_t
io_peek(struct io *io, const char **p)
{
	int r;

	if (io_buffered(io) == 0 && (r = io_fill(io)) != IO_OK)
		return r;
	*p = io->in.data + io->in_pos;
	return (ssize_t)io_buffered(io);
}

void
io_skip(struct io *io, size_t n)
{
	if (n > io_buffered(io))
		n = io_buffered(io);
	io->in_pos += n;
}

ssize_t
io_read(struct io *io, void *p, size_t n)
{
	size_t avail;
	int r;

	if (n == 0)
		return 0;
	if (io_buffered(io) == 0 && (r = io_fill(io)) != IO_OK)
		return r;
	avail = io_buffered(io);
	if (n > avail)
		n = avail;
	memcpy(p, io->in.data + io->in_pos, n);
	io->in_pos += n;
	return (ssize_t)n;
}

int
io_write(struct io *io, const void *p, size_t n)
{
	if (buf_try_append(&io->out, p, n) == -1)
		return IO_ERROR;
	if (io->out.len >= 4 * IO_CHUNK)
		return io_flush(io);
	return IO_OK;
}

int
io_puts(struct io *io, const char *s)
{
	return io_write(io, s, strlen(s));
}

int
io_printf(struct io *io, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_try_vprintf(&io->out, fmt, ap);
	va_end(ap);
	if (r == -1)
		return IO_ERROR;
	if (io->out.len >= 4 * IO_CHUNK)
		return io_flush(io);
	return IO_OK;
}

int
io_flush(struct io *io)
{
	size_t off = 0;
	ssize_t r;
	int w;

	while (off < io->out.len) {
		r = io->tr->write(io, io->out.data + off, io->out.len - off);
		if (r > 0) {
			off += (size_t)r;
			io->bytes_out += (unsigned long long)r;
			continue;
		}
		if (r != IO_WANT_READ && r != IO_WANT_WRITE) {
			buf_consume(&io->out, off);
			return IO_ERROR;
		}
		if ((w = io_wait(io, (int)r)) != IO_OK) {
			buf_consume(&io->out, off);
			return w;
		}
	}
	buf_reset(&io->out);
	return IO_OK;
}
