/*
 * worker: what every connection-serving daemon (smtpd, imapd, pop3d,
 * ftpd, the test fixture) is built on.  It gives the daemon a connection
 * at a time and hides where the connection came from:
 *
 *   from chapard  (the environment says CHAPAR_WORKER=1): descriptor 3 is
 *                 the status socket to chapard, 4 .. 4+N-1 the listening
 *                 sockets; the worker accepts on them (the kernel shares
 *                 the connections out), asks chapard whether the client
 *                 is within its limits, serves it, and repeats up to
 *                 max_use times;
 *   with -i       (inetd, xinetd, tcpserver, s6, systemd Accept=yes): the
 *                 connection is on descriptor 0, served once.
 *
 * Started as root, a worker gives up root before it reads a byte from a
 * client: service_user's ids, chroot into chroot_dir, no new privileges,
 * resource limits (memory, descriptors, no core dumps).
 */
#ifndef CHAPAR_WORKER_H
#define CHAPAR_WORKER_H

#include "chapar/buf.h"
#include "chapar/config.h"
#include "chapar/net.h"

struct worker_conn {
	int fd;
	char peer[NET_ADDRSTRLEN];
	int peer_port;
	char local[NET_ADDRSTRLEN];
	int local_port;
	int implicit_tls;	/* the listener is a listen_tls one */
	const char *service;	/* the config section: "smtpd", "echo" */
	struct config *cf;
};

struct worker_service {
	const char *name;	/* default service (section) name */
	/* Written to a client refused for its address's limits, then the
	 * connection is closed: the protocol's "try again later". */
	const char *busy_reply;
	/* Once per process, after privileges are dropped.  0 or -1. */
	int (*setup)(struct config *, const char *service, struct buf *err);
	/* One connection; the descriptor is closed after it returns. */
	void (*serve)(struct worker_conn *);
	/* New TLS session-ticket keys from chapard (may be NULL). */
	void (*tickets)(const unsigned char *keys, size_t nkeys);
};

/* main() of a daemon: options -c FILE, -i, -s SERVICE, -d.  Returns the
 * exit status. */
int worker_run(int argc, char **argv, const struct worker_service *);

/* For chapar status: the user a session logged in as. */
void worker_report_user(const char *user);
/* chapard asked the worker to finish (reload, stop): end the session at
 * the next convenient point. */
int worker_quitting(void);

/* Set up a process that has just been exec'd by root for a service:
 * privileges, chroot, limits.  Used by worker_run and post-login. */
int worker_drop_privileges(struct config *, const char *service,
    const char *user, const char *chroot_dir, struct buf *err);

#endif
