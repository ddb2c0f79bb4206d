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
 *   from chapard, behind a front (front = yes, smtpfront(8)): no
 *                 listening sockets; chapard hands the worker a client
 *                 the front has greeted (IPC_TAKE), with the bytes the
 *                 front read; the worker takes the addresses from the
 *                 descriptor itself;
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
	/* From the front (smtpfront(8)): the client has had the greeting,
	 * and sent these bytes already (its first command line, perhaps
	 * more); the daemon puts them before the rest with io_preload. */
	int greeted;
	const char *preload;
	size_t npreload;
};

/* What a post-login process knows about its session. */
struct worker_session {
	const char *user;	/* "alice@example.org" */
	const char *home;	/* relative to mail_dir: "example.org/alice" */
	uint64_t quota;
	const char *state;	/* what the login side passed on, or "" */
};

struct worker_service {
	const char *name;	/* default service (section) name */
	int auth;		/* connects to authd before giving up root */
	int tls;		/* loads the TLS certificates before that */
	/* Delivers into the mail store: runs as mail_user, chrooted into
	 * mail_dir (service_user and chroot_dir do not apply). */
	int mail;
	/* connects to enqueue(8) before giving up root (worker_enqueue) */
	int enqueue;
	/* Written to a client refused for its address's limits, then the
	 * connection is closed: the protocol's "try again later". */
	const char *busy_reply;
	/* Once per process, as root before privileges are dropped: open
	 * what the chroot will hide (sockets of other daemons).  wait_ms:
	 * how long a daemon that is not up yet may be waited for. */
	void (*connect)(struct config *, const char *service, int wait_ms);
	/* Once per process, after privileges are dropped.  0 or -1. */
	int (*setup)(struct config *, const char *service, struct buf *err);
	/* One connection; the descriptor is closed after it returns. */
	void (*serve)(struct worker_conn *);
	/* New TLS session-ticket keys from chapard (may be NULL). */
	void (*tickets)(const unsigned char *keys, size_t nkeys);
	/* The post-login side (-P): serve an authenticated session, as
	 * mail_user, chrooted into the user's mail directory.  May be NULL
	 * for services without one. */
	void (*post_login)(struct worker_conn *, const struct worker_session *);
};

/* A post-login process whose token authd does not know exits with this:
 * chapard then blames the worker that handed the session over. */
#define EXIT_BADTOKEN 77

/* main() of a daemon: options -c FILE, -i, -s SERVICE, -d.  Returns the
 * exit status. */
int worker_run(int argc, char **argv, const struct worker_service *);
/* main() of a session program (pop3d-session): only -P, the post-login
 * side, without the accepting and TLS parts (worker_session.c), so it
 * maps none of OpenSSL.  chapard runs PROGRAM-session for the sessions
 * of a service when it exists, else PROGRAM -P. */
int worker_session_main(int argc, char **argv, const struct worker_service *);

/* The connection to authd made before privileges were dropped (NULL if
 * the service has none).  When it breaks the worker finishes its session
 * and exits (a chrooted worker cannot reconnect); call worker_auth_lost. */
struct authc *worker_auth(void);
void worker_auth_lost(void);
/* The connection is on authd's master socket (mail services as root). */
int worker_auth_master(void);

/* The connection to enqueue(8) made before privileges were dropped, or
 * NULL.  Like authd's, it cannot be made again in the chroot: when it
 * breaks (enqc says -1) the worker finishes and exits. */
struct enqc;
struct enqc *worker_enqueue(void);
void worker_enqueue_lost(void);
/* Finish the current session, then exit so that a fresh process (which
 * can connect again as root) takes the place of this one. */
void worker_retire(const char *why);

/*
 * Hand an authenticated session to a post-login process: token is the
 * one authd gave with the login (AUTHC_HANDOFF), state a short text the
 * post-login side gets back (a tag, a capability).  chapard starts the
 * service's program with -P, which redeems the token with authd, becomes
 * mail_user inside the user's directory and serves the client from
 * there.  Without TLS the descriptor itself moves; with TLS (or with
 * input already buffered) this process stays as a proxy until the session
 * ends.  Returns 0 when the session went over (the caller must not touch
 * the connection again), -1 with a reason otherwise.
 */
struct io;
int worker_handoff(struct worker_conn *, struct io *, const char *token,
    const char *state, const char **error_r);

/* Start TLS on a connection with the service's certificates (loaded by
 * worker_run before privileges were dropped): for implicit-TLS listeners
 * right after accept, or after a STARTTLS reply has been flushed.  Plain
 * input already buffered is discarded (RFC 3207 section 4.2).  0, or -1
 * with a message for the log. */
int worker_starttls(struct worker_conn *, struct io *, struct buf *err);

/* Can worker_starttls work (the service's certificates are loaded)? */
int worker_tls_available(void);

/* Did this worker chroot (it started as root)?  Paths under the new
 * root then start at "/". */
int worker_chrooted(void);

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
