/*
 * libFuzzer target: ipc_recv, the receiving end of the status socket that
 * chapard (root) reads from every worker, fed one datagram at a time
 * through a real SOCK_SEQPACKET socketpair, with descriptors attached.
 *
 * Input: one byte of flags, then the datagram.
 *	flags & 3	descriptors to attach: 0, 1, 2, or 9 (more than the
 *			receiver has room for: the kernel cuts the control
 *			message)
 *	flags & 4	pad the datagram past IPC_MAX (a message too long)
 *	flags & 8	the descriptor is a directory (what a hostile worker
 *			would pass), else one end of a pipe
 *
 * Checked: a message is taken (1) exactly when it is well formed -- at
 * least the 4-byte header, at most IPC_MAX bytes, version 1, a known type,
 * a payload rec_decode takes, at most one descriptor -- and is refused
 * (-1) otherwise, with no descriptor handed back (an empty datagram reads
 * as the end of the socket, 0); no descriptor that came
 * with any message stays open unless it was handed back; what was taken
 * goes through ipc_send and ipc_recv again unchanged.
 *
 * The messages of the SMTP front (IPC_FRONT_*, IPC_TAKE) then go through
 * ipc_front_parse, as chapard, the front and the workers check them: what
 * it takes has every field its type needs and no other, data within
 * IPC_PASS_DATA_MAX, a printable reason; and a payload built again from
 * what it took is taken the same.
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/ipc.h"
#include "chapar/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int sv[2] = { -1, -1 };
static int pfd[2], dirfd = -1;
static char dgram[IPC_MAX + 64];

/* The lowest free descriptor: received ones land there first. */
static int
lowest_free(void)
{
	int fd = dup(0);

	if (fd < 0)
		abort();
	close(fd);
	return fd;
}

static void
setup(void)
{
	log_open("fuzz", LOG_TO_STDERR);
	log_set_level(LOGL_FATAL);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    pipe2(pfd, O_CLOEXEC) == -1 ||
	    (dirfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		abort();
}

static void
send_raw(const char *p, size_t n, int nfds, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(9 * sizeof(int))];
	} cm;
	struct msghdr msg;
	struct iovec iov;
	int fds[9], i;

	for (i = 0; i < nfds; i++)
		fds[i] = fd;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)(uintptr_t)p;
	iov.iov_len = n;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(&cm.h), fds, (size_t)nfds * sizeof(int));
	}
	if (sendmsg(sv[0], &msg, 0) != (ssize_t)n)
		abort();
}

/* What ipc_recv must make of it, decided here from the bytes alone. */
static int
well_formed(const char *p, size_t n, int nfds)
{
	struct rec r;
	uint16_t hdr[2];
	int ok;

	if (n < sizeof(hdr) || n > IPC_MAX || nfds > 1)
		return 0;
	memcpy(hdr, p, sizeof(hdr));
	if (hdr[0] != IPC_VERSION || hdr[1] == 0 || hdr[1] >= IPC_TYPE_MAX)
		return 0;
	rec_init(&r);
	ok = rec_decode(sv_make(p + sizeof(hdr), n - sizeof(hdr)), &r) == 0;
	rec_free(&r);
	return ok;
}

/* A message taken goes out and comes back the same. */
static void
round_trip(int type, const struct rec *r)
{
	struct rec back;
	const char *why;
	int t, fd;
	size_t i;

	rec_init(&back);
	if (ipc_send(sv[0], type, r, -1) != 0 ||
	    ipc_recv(sv[1], &t, &back, &fd, &why) != 1 || t != type ||
	    fd != -1 || back.n != r->n)
		abort();
	for (i = 0; i < r->n; i++)
		if (strcmp(back.names[i], r->names[i]) != 0 ||
		    !sv_eq(buf_sv(&back.vals[i]), buf_sv(&r->vals[i])))
			abort();
	rec_free(&back);
}

/* The front's messages: what ipc_front_parse takes is within its bounds,
 * and the same fields, written again, are taken the same. */
static void
front_check(int type, const struct rec *r)
{
	struct ipc_front f, g;
	struct rec again;
	const char *why = NULL;
	size_t i;

	if (type < IPC_FRONT_PASS || type > IPC_TAKE) {
		if (ipc_front_parse(type, r, &f, &why) != -1 || why == NULL)
			abort();
		return;
	}
	if (ipc_front_parse(type, r, &f, &why) == -1) {
		if (why == NULL)
			abort();
		return;
	}
	if (f.data.n > IPC_PASS_DATA_MAX || (f.reason != NULL &&
	    (strlen(f.reason) == 0 || strlen(f.reason) > IPC_REASON_MAX)))
		abort();
	for (i = 0; f.reason != NULL && f.reason[i] != '\0'; i++)
		if ((unsigned char)f.reason[i] < 0x20 ||
		    (unsigned char)f.reason[i] >= 0x7f)
			abort();
	rec_init(&again);
	for (i = 0; i < r->n; i++)
		rec_add(&again, r->names[i], buf_sv(&r->vals[i]));
	if (ipc_front_parse(type, &again, &g, &why) != 0 || g.id != f.id ||
	    g.queued != f.queued || g.idle != f.idle ||
	    !sv_eq(g.data, f.data) || (g.reason == NULL) != (f.reason == NULL))
		abort();
	rec_free(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int counts[] = { 0, 1, 2, 9 };
	struct rec r;
	const char *why = NULL;
	size_t n;
	int flags, nfds, type = 0, fd = -2, ret, before, expect;

	if (sv[0] < 0)
		setup();
	if (size < 1)
		return 0;
	flags = data[0];
	nfds = counts[flags & 3];
	n = size - 1;
	if (n > IPC_MAX)
		n = IPC_MAX;
	memcpy(dgram, data + 1, n);
	if (flags & 4) {
		/* past the limit by up to 63 bytes: a tab-separated tail, so
		 * that only the length is wrong */
		memset(dgram + n, '\t', sizeof(dgram) - n);
		n = IPC_MAX + 1 + (size % 63);
	}
	before = lowest_free();
	send_raw(dgram, n, nfds, (flags & 8) ? dirfd : pfd[0]);
	expect = well_formed(dgram, n, nfds);
	rec_init(&r);
	ret = ipc_recv(sv[1], &type, &r, &fd, &why);
	/* an empty datagram reads as the end of the socket (0), and the
	 * caller drops the sender as for a closed socket */
	if (ret != (n == 0 ? 0 : expect ? 1 : -1) || why == NULL)
		abort();
	if (ret == 1) {
		if (type <= 0 || type >= IPC_TYPE_MAX)
			abort();
		/* one descriptor sent, one handed back */
		if ((nfds == 1) != (fd >= 0))
			abort();
		if (fd >= 0)
			close(fd);
		round_trip(type, &r);
		front_check(type, &r);
	} else if (fd != -1)
		abort();
	/* nothing left open behind the caller's back */
	if (lowest_free() != before)
		abort();
	rec_free(&r);
	return 0;
}
