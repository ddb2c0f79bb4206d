/*
 * ipc.c: one message per SOCK_SEQPACKET datagram, with an optional
 * descriptor (SCM_RIGHTS).  Checks everything it receives.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/ipc.h"
#include "chapar/util.h"

static const char *const names[] = { "?", "HELLO", "CONN", "CONN_OK",
	"CONN_LIMIT", "USER", "DONE", "QUIT", "TICKETS", "HANDOFF",
	"HANDOFF_RESULT", "ADMIN" };

const char *
ipc_type_name(int t)
{
	return t > 0 && t < IPC_TYPE_MAX ? names[t] : "?";
}

int
ipc_send(int sock, int type, const struct rec *payload, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr msg;
	struct iovec iov;
	struct buf b;
	uint16_t hdr[2];
	ssize_t r;

	buf_init(&b, IPC_MAX);
	hdr[0] = IPC_VERSION;
	hdr[1] = (uint16_t)type;
	buf_append(&b, hdr, sizeof(hdr));
	if (payload != NULL)
		rec_encode(payload, &b);
	iov.iov_base = b.data;
	iov.iov_len = b.len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.h), &fd, sizeof(int));
	}
	/* chapard's ends are non-blocking: it gets EAGAIN from a process
	 * that does not read, and never hangs on one. */
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r == -1 && errno == EINTR);
	buf_free(&b);
	return r == -1 ? -1 : 0;
}

/* Every descriptor that came with a message: the first is kept (and
 * returned), the rest closed.  Returns how many there were. */
static int
take_fds(struct msghdr *msg, int *fd)
{
	struct cmsghdr *c;
	size_t i, n;
	int got = 0, f;

	for (c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got++ == 0)
				*fd = f;
			else
				close(f);
		}
	}
	return got;
}

int
ipc_recv(int sock, int *type, struct rec *payload, int *fd, const char **error_r)
{
	/* room for more than one descriptor, so that extra ones are seen
	 * (and closed) rather than left behind by a truncated control
	 * message */
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} cm;
	struct msghdr msg;
	struct iovec iov;
	uint16_t hdr[2];
	char *data;
	ssize_t r;
	int nfds;

	*fd = -1;
	*error_r = "malformed message";
	data = xmalloc(IPC_MAX + 1);
	iov.iov_base = data;
	iov.iov_len = IPC_MAX + 1;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r == -1 && errno == EINTR);
	/* An empty datagram reads as the end, but may carry descriptors
	 * (fuzz_ipc found them left open). */
	if (r == 0 && take_fds(&msg, fd) > 0 && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	/* A peer that exits with a message of ours unread resets the
	 * connection: it is gone, as at end of file, not malformed. */
	if (r == -1 && errno == ECONNRESET)
		r = 0;
	if (r <= 0) {
		*error_r = r == 0 ? "end of file" : strerror(errno);
		free(data);
		return r == 0 ? 0 : -1;
	}
	nfds = take_fds(&msg, fd);
	if (nfds > 1) {
		*error_r = "more than one descriptor";
		goto bad;
	}
	if ((msg.msg_flags & MSG_TRUNC) || r > IPC_MAX ||
	    (size_t)r < sizeof(hdr))
		goto bad;
	memcpy(hdr, data, sizeof(hdr));
	if (hdr[0] != IPC_VERSION) {
		*error_r = "wrong protocol version";
		goto bad;
	}
	if (hdr[1] == 0 || hdr[1] >= IPC_TYPE_MAX)
		goto bad;
	*type = hdr[1];
	if (rec_decode(sv_make(data + sizeof(hdr), (size_t)r - sizeof(hdr)),
	    payload) == -1)
		goto bad;
	if (msg.msg_flags & MSG_CTRUNC) {
		/* The receiver is out of descriptors (or the sender sent a
		 * pile): the message stands, its descriptor did not come. */
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
	free(data);
	return 1;
bad:
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	free(data);
	return -1;
}
