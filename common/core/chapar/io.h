/*
 * io: buffered I/O on a descriptor with timeouts and a line length limit.
 *
 * Reads protocol lines ending in CRLF (or a bare LF, which the caller may
 * refuse: io_getline says which it was).  A line longer than maxline is an
 * error (IO_TOOLONG), never a silent truncation; the rest of that line is
 * then skipped.  The transport is a plain descriptor by default; the TLS
 * layer plugs in its own read/write functions.
 */
#ifndef CHAPAR_IO_H
#define CHAPAR_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chapar/buf.h"

enum {
	IO_OK = 0,
	IO_EOF = -1,
	IO_TIMEOUT = -2,
	IO_TOOLONG = -3,
	IO_ERROR = -4,
	/* only from transport functions: */
	IO_WANT_READ = -5,
	IO_WANT_WRITE = -6
};

struct io;
struct io_transport {
	/* > 0 bytes, 0 at EOF, or IO_WANT_READ / IO_WANT_WRITE / IO_ERROR */
	ssize_t (*read)(struct io *, void *, size_t);
	ssize_t (*write)(struct io *, const void *, size_t);
	/* bytes already decrypted and waiting (TLS); may be NULL */
	size_t (*pending)(struct io *);
};

struct io {
	int fd;
	int timeout_ms;		/* each wait for the peer; -1: forever */
	size_t maxline;		/* longest line, without its CRLF */
	struct buf in;
	size_t in_pos;		/* bytes of in already returned */
	struct buf out;
	int skipping;		/* discarding the rest of an over-long line */
	int eof;
	const struct io_transport *tr;
	void *tr_ctx;
	unsigned long long bytes_in, bytes_out;
	uint64_t deadline;	/* monotonic ms; 0: none */
};

/* Takes over fd (made non-blocking); io_free closes it unless close_fd
 * is 0. */
void io_init(struct io *, int fd, size_t maxline, int timeout_ms);
void io_free(struct io *, int close_fd);
void io_set_transport(struct io *, const struct io_transport *, void *);
/* A new line limit (SASL responses are longer than commands). */
void io_set_maxline(struct io *, size_t);
/* Every wait ends by ms from now (a whole command line, a whole
 * message, however slowly its bytes trickle in); -1: no deadline, only
 * the timeout of each wait. */
void io_set_deadline(struct io *, int ms);

/* Read one line.  *line points into the io's buffer, without the line end,
 * and stays valid until the next call.  *crlf is 1 for CRLF, 0 for a bare
 * LF.  Returns IO_OK or an IO_ error. */
int io_getline(struct io *, struct sv *line, int *crlf);
/* Read up to n bytes (at least 1 unless EOF/error): returns the count, or
 * an IO_ error. */
ssize_t io_read(struct io *, void *, size_t n);
/* The input buffered, reading more when there is none: the count (> 0)
 * with *p pointing at it, or an IO_ error (IO_EOF at the end).  Nothing
 * is consumed: io_skip says how much was used. */
ssize_t io_peek(struct io *, const char **p);
void io_skip(struct io *, size_t n);
/* Bytes already buffered (read but not returned). */
size_t io_buffered(const struct io *);
/* Discard buffered input (e.g. commands pipelined after STARTTLS). */
void io_discard_input(struct io *);
/* Put bytes another process already read from this connection (the SMTP
 * front) before anything still to be read, as if they had just arrived.
 * 0, or -1 when they do not fit in the input buffer (the caller's bound
 * is one line, which always fits). */
int io_preload(struct io *, const void *, size_t)
    __attribute__((warn_unused_result));

/* Queue output; io_flush writes it all or fails (IO_TIMEOUT/IO_ERROR). */
int io_write(struct io *, const void *, size_t);
int io_puts(struct io *, const char *);
int io_printf(struct io *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
int io_flush(struct io *);

#endif
