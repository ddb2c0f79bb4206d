/*
 * ipc: typed messages between chapard and the processes it starts.
 *
 * Each message is one datagram on an AF_UNIX SOCK_SEQPACKET socketpair
 * (the kernel keeps the boundaries): a 4-byte header (version, type) and a
 * rec(3)-encoded payload, at most IPC_MAX bytes, optionally carrying one
 * file descriptor.  A receiver that gets a malformed message (wrong
 * version, truncated, bad payload) treats the peer as broken and drops
 * it: there is no "best effort" parsing between our own processes.
 */
#ifndef CHAPAR_IPC_H
#define CHAPAR_IPC_H

#include "chapar/buf.h"
#include "chapar/rec.h"

#define IPC_VERSION 1
#define IPC_MAX 16384

/* Worker <-> chapard (and the admin command with its child) */
enum ipc_type {
	IPC_HELLO = 1,		/* w->m: pid=, service= : ready to serve */
	IPC_CONN,		/* w->m: ip=, listener= : may I serve it? */
	IPC_CONN_OK,		/* m->w */
	IPC_CONN_LIMIT,		/* m->w: reason= : refuse it */
	IPC_USER,		/* w->m: user= : logged in (for status) */
	IPC_DONE,		/* w->m: connection finished; idle again */
	IPC_QUIT,		/* m->w: finish the session, then exit */
	IPC_TICKETS,		/* m->w: key= (repeated): TLS ticket keys */
	IPC_HANDOFF,		/* w->m: token=, + fd: start the post-login
				 * process for this connection */
	IPC_HANDOFF_RESULT,	/* m->w: ok=1 or reason= */
	IPC_ADMIN,		/* chapar(8) and its unprivileged child, both
				 * ways: op= ... (admin/child.c) */
	IPC_TYPE_MAX
};

const char *ipc_type_name(int);

/* Send one message; fd_to_pass < 0 for none.  0 or -1 (errno set; on a
 * non-blocking socket EAGAIN means the peer does not read). */
int ipc_send(int sock, int type, const struct rec *payload, int fd_to_pass);
/* Receive one message.  Returns 1 with *type, payload and *fd (-1 if none
 * was passed, or if it could not be received: the receiver is out of
 * descriptors; the caller owns it), 0 at EOF, -1 on error or a malformed
 * message, more than one descriptor included (with *why). */
int ipc_recv(int sock, int *type, struct rec *payload, int *fd,
    const char **error_r);

#endif
