/* Unit tests: listen addresses, networks, IPC messages. */
#include <sys/socket.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "chapar/ipc.h"
#include "chapar/net.h"
#include "harness.h"

static void
net_listen_addresses(void)
{
	struct listen_addr a[2];
	const char *e;

	T_EQ_INT(listen_addr_parse(sv_from("127.0.0.1:25"), a, &e), 1);
	T_EQ_STR(a[0].text, "127.0.0.1:25");
	T_EQ_INT(listen_addr_parse(sv_from("[::1]:993"), a, &e), 1);
	T_EQ_STR(a[0].text, "[::1]:993");
	T_EQ_INT(listen_addr_parse(sv_from("*:587"), a, &e), 2);
	T_EQ_STR(a[0].text, "0.0.0.0:587");
	T_EQ_STR(a[1].text, "[::]:587");
	T_EQ_INT(listen_addr_parse(sv_from(" 10.0.0.1:1 "), a, &e), 1);
	T_EQ_INT(listen_addr_parse(sv_from("127.0.0.1"), a, &e), -1);
	T_EQ_INT(listen_addr_parse(sv_from("127.0.0.1:0"), a, &e), -1);
	T_EQ_INT(listen_addr_parse(sv_from("127.0.0.1:65536"), a, &e), -1);
	T_EQ_INT(listen_addr_parse(sv_from("mail.example.org:25"), a, &e), -1);
	T_ASSERT(strstr(e, "not resolved") != NULL);
	T_EQ_INT(listen_addr_parse(sv_from("::1:25"), a, &e), -1);
	T_EQ_INT(listen_addr_parse(sv_from("[::1:25"), a, &e), -1);
	T_EQ_INT(listen_addr_parse(sv_from("1.2.3.4:-1"), a, &e), -1);
}

static void
net_masks(void)
{
	struct netmask m[3];

	T_ASSERT(netmask_parse(sv_from("192.0.2.0/24"), &m[0]) == 0);
	T_ASSERT(netmask_parse(sv_from("2001:db8::/32"), &m[1]) == 0);
	T_ASSERT(netmask_parse(sv_from("10.1.2.3"), &m[2]) == 0);
	T_ASSERT(netmask_match(m, 3, "192.0.2.77"));
	T_ASSERT(!netmask_match(m, 3, "192.0.3.1"));
	T_ASSERT(netmask_match(m, 3, "2001:db8:1::5"));
	T_ASSERT(!netmask_match(m, 3, "2001:db9::1"));
	T_ASSERT(netmask_match(m, 3, "10.1.2.3"));
	T_ASSERT(!netmask_match(m, 3, "10.1.2.4"));
	T_ASSERT(!netmask_match(m, 3, "not an address"));
	T_ASSERT(netmask_parse(sv_from("192.0.2.0/33"), &m[0]) == -1);
	/* a bare "/" means the whole address */
	T_ASSERT(netmask_parse(sv_from("192.0.2.9/"), &m[0]) == 0);
	T_EQ_INT(m[0].bits, 32);
	T_ASSERT(netmask_parse(sv_from("example.org"), &m[0]) == -1);
	T_ASSERT(netmask_parse(sv_from("10.0.0.0/7"), &m[0]) == 0);
	T_ASSERT(netmask_match(m, 1, "11.255.0.1"));
	T_ASSERT(!netmask_match(m, 1, "12.0.0.1"));
}

static void
ipc_roundtrip_with_fd(void)
{
	struct rec r, got;
	const char *why;
	int sv[2], p[2], type, fd;
	char c;

	T_ASSERT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	T_ASSERT(pipe(p) == 0);
	rec_init(&r);
	rec_init(&got);
	rec_set_str(&r, "ip", "192.0.2.1");
	rec_add(&r, "key", sv_make("\0\t\n", 3));
	T_ASSERT(ipc_send(sv[0], IPC_HANDOFF, &r, p[0]) == 0);
	T_EQ_INT(ipc_recv(sv[1], &type, &got, &fd, &why), 1);
	T_EQ_INT(type, IPC_HANDOFF);
	T_EQ_STR(rec_get_str(&got, "ip"), "192.0.2.1");
	T_ASSERT(sv_eq(buf_sv(rec_get(&got, "key")), sv_make("\0\t\n", 3)));
	T_ASSERT(fd >= 0);
	T_ASSERT(write(p[1], "x", 1) == 1);
	T_ASSERT(read(fd, &c, 1) == 1 && c == 'x');
	close(fd);
	/* malformed: wrong version, unknown type, bad payload */
	T_ASSERT(send(sv[0], "\x02\x00\x01\x00", 4, 0) == 4);
	T_EQ_INT(ipc_recv(sv[1], &type, &got, &fd, &why), -1);
	T_ASSERT(send(sv[0], "\x01\x00\xff\x00", 4, 0) == 4);
	T_EQ_INT(ipc_recv(sv[1], &type, &got, &fd, &why), -1);
	T_ASSERT(send(sv[0], "\x01\x00\x01\x00noequals", 12, 0) == 12);
	T_EQ_INT(ipc_recv(sv[1], &type, &got, &fd, &why), -1);
	T_ASSERT(send(sv[0], "\x01", 1, 0) == 1);
	T_EQ_INT(ipc_recv(sv[1], &type, &got, &fd, &why), -1);
	close(sv[0]);
	T_EQ_INT(ipc_recv(sv[1], &type, &got, &fd, &why), 0);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	rec_free(&r);
	rec_free(&got);
}

/* A process that exits without reading what it was sent (a worker told
 * to quit while it was already leaving) resets the socket: that is its
 * end, not a malformed message that gets it killed. */
static void
ipc_peer_gone_with_unread_message_is_eof(void)
{
	struct rec got;
	const char *why;
	int sv[2], type, fd;

	T_ASSERT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	rec_init(&got);
	T_ASSERT(ipc_send(sv[0], IPC_QUIT, NULL, -1) == 0);
	close(sv[1]);
	T_EQ_INT(ipc_recv(sv[0], &type, &got, &fd, &why), 0);
	T_EQ_INT(fd, -1);
	close(sv[0]);
	rec_free(&got);
}

static int
open_fds(void)
{
	int n = 0, fd;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

/* An empty datagram reads as the end of the socket; a descriptor sent
 * with it is closed, not left open in the receiver (chapard). */
static void
ipc_empty_datagram_with_a_descriptor_leaks_nothing(void)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr msg;
	struct iovec iov;
	struct rec got;
	const char *why;
	int sv[2], type, fd, before;

	T_ASSERT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	rec_init(&got);
	before = open_fds();
	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = &type;
	iov.iov_len = 0;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	cm.h.cmsg_level = SOL_SOCKET;
	cm.h.cmsg_type = SCM_RIGHTS;
	cm.h.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&cm.h), &sv[0], sizeof(int));
	T_ASSERT(sendmsg(sv[0], &msg, 0) == 0);
	T_EQ_INT(ipc_recv(sv[1], &type, &got, &fd, &why), 0);
	T_EQ_INT(fd, -1);
	T_EQ_INT(open_fds(), before);
	close(sv[0]);
	close(sv[1]);
	rec_free(&got);
}

static void
ipc_extra_descriptors_are_closed(void)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} cm;
	struct msghdr msg;
	struct iovec iov;
	struct rec got;
	const char *why;
	char payload[] = "\x01\x00\x05\x00user=x";
	int sv[2], fds[3], type, fd, before, i;

	T_ASSERT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	rec_init(&got);
	before = open_fds();
	for (i = 0; i < 50; i++) {
		fds[0] = fds[1] = fds[2] = sv[0];
		memset(&msg, 0, sizeof(msg));
		memset(&cm, 0, sizeof(cm));
		iov.iov_base = payload;
		iov.iov_len = sizeof(payload) - 1;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(3 * sizeof(int));
		memcpy(CMSG_DATA(&cm.h), fds, sizeof(fds));
		T_ASSERT(sendmsg(sv[0], &msg, 0) > 0);
		T_EQ_INT(ipc_recv(sv[1], &type, &got, &fd, &why), -1);
		T_EQ_INT(fd, -1);
	}
	T_EQ_INT(open_fds(), before);	/* all 150 closed */
	T_EQ_STR(why, "more than one descriptor");
	close(sv[0]);
	close(sv[1]);
	rec_free(&got);
}

T_SUITE(suite_net)
{
	t_run("net_listen_addresses", net_listen_addresses);
	t_run("net_masks", net_masks);
	t_run("ipc_roundtrip_with_fd", ipc_roundtrip_with_fd);
	t_run("ipc_extra_descriptors_are_closed",
	    ipc_extra_descriptors_are_closed);
	t_run("ipc_peer_gone_with_unread_message_is_eof",
	    ipc_peer_gone_with_unread_message_is_eof);
	t_run("ipc_empty_datagram_with_a_descriptor_leaks_nothing",
	    ipc_empty_datagram_with_a_descriptor_leaks_nothing);
}
