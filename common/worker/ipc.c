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
	"HANDOFF_RESULT", "ADMIN", "FRONT_PASS", "FRONT_TAKEN", "FRONT_BUSY",
	"FRONT_WAKE", "TAKE" };

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

/* --- the front's messages ------------------------------------------------ */

/* Which fields each type has: 'r'equired or 'o'ptional, in the order
 * id, data, queued, reason, idle. */
static const struct {
	int type;
	const char fields[6];
} front_fields[] = {
	{ IPC_FRONT_PASS,	"rro--" },
	{ IPC_FRONT_TAKEN,	"r----" },
	{ IPC_FRONT_BUSY,	"r--o-" },
	{ IPC_FRONT_WAKE,	"----o" },
	{ IPC_TAKE,		"-r---" },
};
static const char *const front_names[] = { "id", "data", "queued",
	"reason", "idle" };

static int
printable(struct sv v)
{
	size_t i;

	for (i = 0; i < v.n; i++)
		if ((unsigned char)v.p[i] < 0x20 || (unsigned char)v.p[i] >= 0x7f)
			return 0;
	return 1;
}

/* One field's value into f.  0, or -1 with *why. */
static int
front_field(size_t k, const struct buf *v, struct ipc_front *f,
    const char **why)
{
	uint64_t *num[] = { &f->id, NULL, &f->queued, NULL, &f->idle };

	if (k == 1) {
		if (v->len > IPC_PASS_DATA_MAX) {
			*why = "more data than a front may pass";
			return -1;
		}
		f->data = buf_sv(v);
	} else if (k == 3) {
		if (v->len == 0 || v->len > IPC_REASON_MAX ||
		    !printable(buf_sv(v))) {
			*why = "bad reason";
			return -1;
		}
		f->reason = buf_cstr(v);
	} else if (parse_u64(buf_sv(v), k == 0 ? UINT64_MAX : 1000000,
	    num[k]) == -1) {
		*why = "bad number";
		return -1;
	}
	return 0;
}

int
ipc_front_parse(int type, const struct rec *r, struct ipc_front *f,
    const char **why)
{
	const char *spec = NULL;
	int seen[5] = { 0 };
	size_t i, k;

	memset(f, 0, sizeof(*f));
	f->data = sv_make("", 0);
	for (i = 0; i < NELEM(front_fields); i++)
		if (front_fields[i].type == type)
			spec = front_fields[i].fields;
	if (spec == NULL) {
		*why = "not a front message";
		return -1;
	}
	for (i = 0; i < r->n; i++) {
		for (k = 0; k < NELEM(front_names) &&
		    strcmp(r->names[i], front_names[k]) != 0; k++)
			;
		if (k == NELEM(front_names) || spec[k] == '-' || seen[k]++) {
			*why = "unknown, unexpected or repeated field";
			return -1;
		}
		if (front_field(k, &r->vals[i], f, why) == -1)
			return -1;
	}
	for (k = 0; k < NELEM(front_names); k++)
		if (spec[k] == 'r' && !seen[k]) {
			*why = "a field is missing";
			return -1;
		}
	return 0;
}
