/* Unit tests: line reader (CRLF, bare LF, over-long lines, NULs, timeouts,
 * one byte at a time) and the writer. */
#include <sys/socket.h>
#include <sys/wait.h>

#include <string.h>
#include <unistd.h>

#include "chapar/io.h"
#include "chapar/util.h"
#include "harness.h"

/* A transport that hands out a fixed string one byte per read. */
struct trickle {
	const char *p;
	size_t n, off;
};

static ssize_t
trickle_read(struct io *io, void *p, size_t n)
{
	struct trickle *t = io->tr_ctx;

	if (n == 0)
		return IO_ERROR;
	if (t->off >= t->n)
		return 0;
	*(char *)p = t->p[t->off++];
	return 1;
}

static ssize_t
trickle_write(struct io *io, const void *p, size_t n)
{
	(void)io;
	(void)p;
	return (ssize_t)n;
}

static const struct io_transport trickle_tr = { trickle_read, trickle_write,
	NULL };

static void
io_lines_crlf_and_lf(void)
{
	int sv[2], crlf;
	struct io io;
	struct sv l;
	const char *in = "EHLO a\r\nNOOP\nQUIT\r\n";

	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	T_ASSERT(write_all(sv[1], in, strlen(in)) == 0);
	close(sv[1]);
	io_init(&io, sv[0], 100, 1000);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "EHLO a") && crlf == 1);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "NOOP") && crlf == 0);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "QUIT") && crlf == 1);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_EOF);
	io_free(&io, 1);
}

static void
io_overlong_line_is_error_then_recovers(void)
{
	struct trickle t;
	struct buf in;
	struct io io;
	struct sv l;
	int crlf;

	buf_init(&in, 0);
	T_ASSERT(buf_try_puts(&in, "OK1\r\n") == 0);
	for (int i = 0; i < 50000; i++)
		T_ASSERT(buf_try_putc(&in, 'x') == 0);
	T_ASSERT(buf_try_puts(&in, "\r\nOK2\r\n0123456789\r\n01234567890\r\n") ==
	    0);
	t.p = in.data;
	t.n = in.len;
	t.off = 0;
	io_init(&io, -1, 10, 1000);
	io_set_transport(&io, &trickle_tr, &t);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "OK1"));
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_TOOLONG);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "OK2"));
	/* exactly maxline is fine, one more is not */
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_EQ_INT(l.n, 10);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_TOOLONG);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_EOF);
	/* the input buffer never grew with the long line */
	T_ASSERT(io.in.cap < 100000);
	io_free(&io, 0);
	buf_free(&in);
}

/* A longer limit set later holds (the input buffer follows it), and a
 * line past even that is consumed, not spun on. */
static void
io_raised_limit_holds(void)
{
	struct trickle t;
	struct buf in;
	struct io io;
	struct sv l;
	int crlf, i;

	buf_init(&in, 0);
	for (i = 0; i < 100000; i++)
		buf_putc(&in, 'y');
	buf_puts(&in, "\r\nNEXT\r\n");
	t.p = in.data;
	t.n = in.len;
	t.off = 0;
	io_init(&io, -1, 2048, 1000);
	io_set_transport(&io, &trickle_tr, &t);
	io_set_maxline(&io, 1024 * 1024);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_EQ_INT(l.n, 100000);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "NEXT"));
	io_free(&io, 0);
	/* a buffer limit below the line limit (set by hand, as old code
	 * did): too long, once, then on */
	t.off = 0;
	io_init(&io, -1, 2048, 1000);
	io_set_transport(&io, &trickle_tr, &t);
	io.maxline = 1024 * 1024;
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_TOOLONG);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "NEXT"));
	io_free(&io, 0);
	buf_free(&in);
}

/* A deadline ends a line that trickles in, however often bytes come. */
static void
io_deadline_ends_a_trickle(void)
{
	int sv[2], crlf, i;
	struct io io;
	struct sv l;
	uint64_t t0;
	pid_t pid;

	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	io_init(&io, sv[0], 100, 1000);
	io_set_deadline(&io, 200);
	t0 = now_ms();
	if ((pid = fork()) == 0) {
		for (i = 0; i < 20; i++) {
			if (write(sv[1], "x", 1) != 1)
				_exit(0);
			usleep(50000);
		}
		_exit(0);
	}
	close(sv[1]);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_TIMEOUT);
	T_ASSERT(now_ms() - t0 < 800);
	io_free(&io, 1);
	(void)waitpid(pid, NULL, 0);
}

static void
io_nul_bytes_are_kept(void)
{
	static const char in[] = "A\0B\r\n";
	struct trickle t = { in, sizeof(in) - 1, 0 };
	struct io io;
	struct sv l;
	int crlf;

	io_init(&io, -1, 100, 1000);
	io_set_transport(&io, &trickle_tr, &t);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_EQ_INT(l.n, 3);
	T_ASSERT(sv_has_nul(l));
	io_free(&io, 0);
}

static void
io_timeout_on_silent_peer(void)
{
	int sv[2], crlf;
	struct io io;
	struct sv l;
	uint64_t t0;

	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	T_ASSERT(write_all(sv[1], "PARTIAL", 7) == 0);
	io_init(&io, sv[0], 100, 150);
	t0 = now_ms();
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_TIMEOUT);
	T_ASSERT(now_ms() - t0 >= 100);
	close(sv[1]);
	io_free(&io, 1);
}

static void
io_read_after_lines(void)
{
	int sv[2], crlf;
	struct io io;
	struct sv l;
	char tmp[16];

	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	T_ASSERT(write_all(sv[1], "A {5}\r\nhelloB\r\n", 15) == 0);
	close(sv[1]);
	io_init(&io, sv[0], 100, 1000);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_EQ_INT(io_read(&io, tmp, 5), 5);
	T_ASSERT(memcmp(tmp, "hello", 5) == 0);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "B"));
	T_EQ_INT(io_read(&io, tmp, 5), IO_EOF);
	io_free(&io, 1);
}

static void
io_write_and_flush(void)
{
	int sv[2];
	struct io io;
	char tmp[64];
	ssize_t n;

	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	io_init(&io, sv[0], 100, 1000);
	T_EQ_INT(io_printf(&io, "250 %s\r\n", "ok"), IO_OK);
	T_EQ_INT(io_puts(&io, "221 bye\r\n"), IO_OK);
	T_EQ_INT(io_flush(&io), IO_OK);
	n = read(sv[1], tmp, sizeof(tmp));
	T_EQ_INT(n, 17);
	T_ASSERT(memcmp(tmp, "250 ok\r\n221 bye\r\n", 17) == 0);
	close(sv[1]);
	/* a dead peer: write fails rather than hanging or killing us */
	T_EQ_INT(io_puts(&io, "x\r\n"), IO_OK);
	T_EQ_INT(io_flush(&io), IO_ERROR);
	io_free(&io, 1);
}

/* Bytes another process read (the SMTP front) come first, then what is
 * still on the socket, line by line; more than the buffer holds is
 * refused and changes nothing. */
static void
io_preload_comes_first(void)
{
	int sv[2], crlf;
	struct io io;
	struct sv l;
	static char big[100 + 2 * 16384 + 1];
	const char *rest = "CPT TO:<b@c>\r\nDATA\r\n";
	const char *first = "EHLO x\r\nMAIL FROM:<a@b>\nR";

	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	T_ASSERT(write_all(sv[1], rest, strlen(rest)) == 0);
	close(sv[1]);
	io_init(&io, sv[0], 100, 1000);
	T_EQ_INT(io_preload(&io, "", 0), 0);
	T_EQ_INT(io_buffered(&io), 0);
	/* a line cut in two: its first half came through the front */
	T_EQ_INT(io_preload(&io, first, strlen(first)), 0);
	T_EQ_INT(io_buffered(&io), strlen(first));
	memset(big, 'x', sizeof(big));
	T_EQ_INT(io_preload(&io, big, sizeof(big)), -1);
	T_EQ_INT(io_buffered(&io), strlen(first));
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "EHLO x") && crlf == 1);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "MAIL FROM:<a@b>") && crlf == 0);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "RCPT TO:<b@c>") && crlf == 1);
	/* preloading again puts the bytes before what is still buffered */
	T_EQ_INT(io_preload(&io, "NOOP\r\n", 6), 0);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "NOOP"));
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "DATA"));
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_EOF);
	io_free(&io, 1);
}

T_SUITE(suite_io)
{
	t_run("io_lines_crlf_and_lf", io_lines_crlf_and_lf);
	t_run("io_overlong_line_is_error_then_recovers",
	    io_overlong_line_is_error_then_recovers);
	t_run("io_nul_bytes_are_kept", io_nul_bytes_are_kept);
	t_run("io_timeout_on_silent_peer", io_timeout_on_silent_peer);
	t_run("io_read_after_lines", io_read_after_lines);
	t_run("io_raised_limit_holds", io_raised_limit_holds);
	t_run("io_deadline_ends_a_trickle", io_deadline_ends_a_trickle);
	t_run("io_write_and_flush", io_write_and_flush);
	t_run("io_preload_comes_first", io_preload_comes_first);
}
