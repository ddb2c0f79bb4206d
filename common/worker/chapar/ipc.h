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
	/* The SMTP front (smtpfront(8)) and the workers of its service */
	IPC_FRONT_PASS,		/* f->m: id=, data=, queued=, + fd: a live
				 * client for a worker */
	IPC_FRONT_TAKEN,	/* m->f: id= : a worker has it; close yours */
	IPC_FRONT_BUSY,		/* m->f: id=, [reason=] : keep it and try
				 * again later; with reason=, refuse it */
	IPC_FRONT_WAKE,		/* m->f: idle= : workers are free again */
	IPC_TAKE,		/* m->w: data=, + fd: serve this client, which
				 * has had the greeting */
	IPC_TYPE_MAX
};

const char *ipc_type_name(int);

/* Bytes a front may pass with a client: what it read of the first
 * command line (smtpfront reads at most one line, 2050 bytes). */
#define IPC_PASS_DATA_MAX 4096
/* The longest reason= of IPC_FRONT_BUSY. */
#define IPC_REASON_MAX 200

/* The fields of the front's messages, checked. */
struct ipc_front {
	uint64_t id;		/* PASS, TAKEN, BUSY: the front's number for
				 * the client */
	struct sv data;		/* PASS, TAKE: bytes already read from the
				 * client (points into the rec) */
	uint64_t queued;	/* PASS: live clients waiting behind it */
	const char *reason;	/* BUSY: refuse the client with this, or NULL */
	uint64_t idle;		/* WAKE: workers idle now */
};

/* Check the payload of an IPC_FRONT_* or IPC_TAKE message: the fields
 * its type needs and nothing else, each once, data at most
 * IPC_PASS_DATA_MAX bytes, reason printable ASCII of at most
 * IPC_REASON_MAX.  0, or -1 with *why (the sender is broken). */
int ipc_front_parse(int type, const struct rec *, struct ipc_front *,
    const char **why);

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
