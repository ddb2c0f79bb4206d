/*
 * worker.c: the life of a connection-serving process (see worker.h).
 *
 * Trusts chapard (its parent, root) and the configuration; trusts nothing
 * a client sends, which is why the privileges are gone before the first
 * accept.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/authc.h"
#include "chapar/enqc.h"
#include "chapar/io.h"
#include "chapar/ipc.h"
#include "chapar/tls.h"
#include "chapar/log.h"
#include "chapar/priv.h"
#include "chapar/util.h"
#include "chapar/home.h"
#include "chapar/worker.h"
#include "worker_int.h"

#define STATUS_FD 3
#define FIRST_LISTEN_FD 4
#define MAX_LISTEN 64
#define ADMIT_TIMEOUT_MS 30000

static struct {
	const struct worker_service *svc;
	struct config *cf;
	const char *service;
	int status;		/* STATUS_FD under chapard, else -1 */
	int quitting;
	int auth_master;	/* W.auth is on authd's master socket */
	int chrooted;
	int nlisten;
	int listen_tls[MAX_LISTEN];
	struct authc *auth;
	struct enqc *enq;
	/* TLS is built on the first TLS connection, from copies of the
	 * files read as root: an idle worker that never did TLS does not
	 * carry OpenSSL's state (about 1 MB). */
	struct tls_conf tc;
	struct tls_files *files;
	struct tls_server *tls;
	unsigned char tickets[TLS_TICKET_KEYS_MAX * TLS_TICKET_KEYLEN];
	size_t ntickets;
} W = { .status = -1 };

/* Before giving up root: the private keys are readable by root only. */
static void
tls_load(void)
{
	struct buf err;

	tls_conf_from_config(&W.tc, W.cf, W.service);
	buf_init(&err, 4096);
	if (tls_files_load(&W.tc, &W.files, &err) == -1)
		log_fatal("TLS: %s", buf_cstr(&err));
	buf_free(&err);
}

int
worker_starttls(struct worker_conn *c, struct io *io, struct buf *err)
{
	(void)c;
	if (W.tls == NULL) {
		if (W.files == NULL) {
			buf_reset(err);
			buf_puts(err, "TLS is not set up for this "
			    "service");
			return -1;
		}
		if (tls_server_new_from(&W.tc, W.files, &W.tls, err) == -1)
			return -1;
		tls_files_free(&W.files);
		if (W.ntickets > 0 && tls_server_set_ticket_keys(W.tls,
		    W.tickets, W.ntickets) == -1)
			log_warning("TLS ticket keys refused");
	}
	return tls_accept(W.tls, io, err);
}

int
worker_tls_available(void)
{
	return W.tls != NULL || W.files != NULL;
}

struct authc *
worker_auth(void)
{
	return W.auth;
}

void
worker_auth_lost(void)
{
	log_warning("lost the connection to authd; finishing this session");
	authc_close(&W.auth);
	W.quitting = 1;
}

int
worker_auth_master(void)
{
	return W.auth != NULL && W.auth_master;
}

static void control(int type, struct rec *r);

/* Also while a connection is served: a QUIT that chapard sent meanwhile
 * is read here, without waiting (nothing else comes unasked during a
 * connection); a status socket closed or broken means chapard is gone,
 * and the session ends too. */
int
worker_quitting(void)
{
	struct pollfd pfd;
	struct rec r;
	const char *why;
	int type, fd, ret;

	while (!W.quitting && W.status >= 0) {
		pfd.fd = W.status;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) != 1)
			break;
		rec_init(&r);
		ret = ipc_recv(W.status, &type, &r, &fd, &why);
		if (fd >= 0)
			close(fd);
		if (ret == 1)
			control(type, &r);
		else
			W.quitting = 1;
		rec_free(&r);
	}
	return W.quitting;
}

int
worker_chrooted(void)
{
	return W.chrooted;
}

void
worker_report_user(const char *user)
{
	struct rec r;

	if (W.status < 0)
		return;
	rec_init(&r);
	rec_set_str(&r, "user", user);
	if (ipc_send(W.status, IPC_USER, &r, -1) == -1)
		log_warning("cannot report to chapard: %s", strerror(errno));
	rec_free(&r);
}



int
worker_drop_privileges(struct config *cf, const char *service,
    const char *user, const char *dir, struct buf *err)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() == 0) {
		if (priv_lookup(user, &uid, &gid, err) == -1)
			return -1;
		if (priv_drop(uid, gid, dir != NULL && dir[0] != '\0' ? dir :
		    NULL, err) == -1)
			return -1;
	} else if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		buf_reset(err);
		buf_printf(err, "PR_SET_NO_NEW_PRIVS: %s",
		    strerror(errno));
		return -1;
	}
	return worker_limits(cf, service, err);
}


static void
fill_addrs(struct worker_conn *c, const struct sockaddr *peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	sockaddr_text(peer, c->peer, sizeof(c->peer));
	c->peer_port = sockaddr_port(peer);
	if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0) {
		sockaddr_text((struct sockaddr *)&ss, c->local,
		    sizeof(c->local));
		c->local_port = sockaddr_port((struct sockaddr *)&ss);
	}
}

static void
serve_one(struct worker_conn *c)
{
	worker_session_id();
	log_info("connect from %s port %d to %s port %d%s", c->peer,
	    c->peer_port, c->local, c->local_port,
	    c->implicit_tls ? " (TLS)" : "");
	W.svc->serve(c);
	log_info("disconnect from %s", c->peer);
	log_set_id(NULL);
}

/* A message from chapard outside of a CONN exchange. */
static void
control(int type, struct rec *r)
{
	unsigned char keys[4 * 80];
	size_t i, n = 0;

	if (type == IPC_QUIT)
		W.quitting = 1;
	else if (type == IPC_TICKETS) {
		for (i = 0; i < r->n && n < 4; i++)
			if (strcmp(r->names[i], "key") == 0 &&
			    r->vals[i].len == 80)
				memcpy(keys + 80 * n++, r->vals[i].data, 80);
		/* every worker of the pool encrypts tickets alike, so a
		 * client resumes with whichever worker it reaches */
		if (n > 0) {
			memcpy(W.tickets, keys, n * TLS_TICKET_KEYLEN);
			W.ntickets = n;
		}
		if (W.tls != NULL && n > 0 &&
		    tls_server_set_ticket_keys(W.tls, keys, n) == -1)
			log_warning("TLS ticket keys refused");
		if (W.svc->tickets != NULL)
			W.svc->tickets(keys, n);
		explicit_bzero(keys, sizeof(keys));
	}
}

/* Read one message from chapard, and the descriptor that came with it
 * (or -1); exits when chapard is gone. */
static int
status_read_fd(struct rec *r, int *fd)
{
	const char *why;
	int type, ret;

	ret = ipc_recv(W.status, &type, r, fd, &why);
	if (ret == 0)
		exit(0);	/* chapard went away: nothing more to do */
	if (ret < 0)
		log_fatal("status socket: %s", why);
	return type;
}

/* The same, for messages that carry no descriptor. */
static int
status_read(struct rec *r)
{
	int type, fd;

	type = status_read_fd(r, &fd);
	if (fd >= 0)
		close(fd);
	return type;
}

/* Ask chapard whether this client is within its limits. */
static int
admit(struct worker_conn *c, int listener)
{
	struct pollfd pfd;
	struct rec r;
	int type, ok = -1;
	uint64_t end = now_ms() + ADMIT_TIMEOUT_MS;

	rec_init(&r);
	rec_set_str(&r, "ip", c->peer);
	rec_set_u64(&r, "listener", (uint64_t)listener);
	if (ipc_send(W.status, IPC_CONN, &r, -1) == -1)
		log_fatal("status socket: %s", strerror(errno));
	while (ok < 0) {
		pfd.fd = W.status;
		pfd.events = POLLIN;
		if (now_ms() >= end ||
		    poll(&pfd, 1, (int)(end - now_ms())) == 0)
			log_fatal("chapard did not answer for %d s",
			    ADMIT_TIMEOUT_MS / 1000);
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		type = status_read(&r);
		if (type == IPC_CONN_OK)
			ok = 1;
		else if (type == IPC_CONN_LIMIT) {
			log_info("refused %s: %s", c->peer,
			    rec_get_str(&r, "reason") ?
			    rec_get_str(&r, "reason") : "limit");
			ok = 0;
		} else
			control(type, &r);
	}
	rec_free(&r);
	return ok;
}

static void
refuse(int fd)
{
	const char *msg = W.svc->busy_reply;

	/* Never wait on a client we are turning away. */
	if (msg != NULL)
		(void)send(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* The connection is over; say whether this was the last one (max_use,
 * or told to finish), so that chapard hands this worker no more. */
static void
done(uint64_t uses)
{
	struct rec r;

	rec_init(&r);
	if (uses >= config_num(W.cf, W.service, "max_use") || W.quitting)
		rec_set_str(&r, "last", "1");
	if (ipc_send(W.status, IPC_DONE, &r, -1) == -1)
		log_fatal("status socket: %s", strerror(errno));
	rec_free(&r);
}

static void
accept_on(int lfd, int idx, uint64_t *uses)
{
	struct sockaddr_storage ss;
	struct worker_conn c;
	socklen_t len = sizeof(ss);
	int fd;

	fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd == -1)
		return;		/* another worker got it, or it is gone */
	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.implicit_tls = W.listen_tls[idx];
	c.service = W.service;
	c.cf = W.cf;
	fill_addrs(&c, (struct sockaddr *)&ss);
	if (!admit(&c, idx)) {
		refuse(fd);
		close(fd);
		return;
	}
	(*uses)++;
	serve_one(&c);
	close(fd);
	done(*uses);
}

/* chapard handed over a client the front has greeted (IPC_TAKE): serve
 * it as if it had been accepted here.  Its addresses come from the
 * descriptor (the kernel's word, not the front's). */
static void
take(int fd, const struct rec *r, uint64_t *uses)
{
	struct sockaddr_storage ss;
	struct worker_conn c;
	struct ipc_front f;
	socklen_t len = sizeof(ss);
	const char *why;

	if (ipc_front_parse(IPC_TAKE, r, &f, &why) == -1)
		log_fatal("chapard sent a bad TAKE: %s", why);
	memset(&c, 0, sizeof(c));
	c.fd = fd;
	c.service = W.service;
	c.cf = W.cf;
	c.greeted = 1;
	c.preload = f.data.p;
	c.npreload = f.data.n;
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		fill_addrs(&c, (struct sockaddr *)&ss);
		(*uses)++;
		serve_one(&c);
	} else
		log_info("a client handed over is gone (%s)", fd < 0 ?
		    "no descriptor came" : strerror(errno));
	if (fd >= 0)
		close(fd);
	done(*uses);
}

/* Under chapard: accept, check, serve, until max_use or QUIT. */
static int
run_pool(void)
{
	struct pollfd pfd[MAX_LISTEN + 1];
	uint64_t uses = 0, max_use;
	struct rec r;
	int i, type, fd;

	max_use = config_num(W.cf, W.service, "max_use");
	rec_init(&r);
	rec_set_u64(&r, "pid", (uint64_t)getpid());
	if (ipc_send(W.status, IPC_HELLO, &r, -1) == -1)
		log_fatal("status socket: %s", strerror(errno));
	while (uses < max_use && !W.quitting) {
		pfd[0].fd = W.status;
		pfd[0].events = POLLIN;
		for (i = 0; i < W.nlisten; i++) {
			pfd[i + 1].fd = FIRST_LISTEN_FD + i;
			pfd[i + 1].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)W.nlisten + 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_fatal("poll: %s", strerror(errno));
		}
		if (pfd[0].revents & (POLLIN | POLLHUP)) {
			/* behind a front, clients come this way */
			if ((type = status_read_fd(&r, &fd)) == IPC_TAKE)
				take(fd, &r, &uses);
			else {
				if (fd >= 0)
					close(fd);
				control(type, &r);
			}
			continue;
		}
		for (i = 0; i < W.nlisten && !W.quitting; i++)
			if (pfd[i + 1].revents & POLLIN) {
				accept_on(FIRST_LISTEN_FD + i, i, &uses);
				break;	/* one at a time; poll again */
			}
	}
	rec_free(&r);
	return 0;
}

/* -i: the connection is descriptor 0 (inetd and friends). */
static int
run_inetd(int implicit_tls)
{
	struct sockaddr_storage ss;
	struct worker_conn c;
	socklen_t len = sizeof(ss);
	struct stat st;

	if (fstat(0, &st) == -1 || !S_ISSOCK(st.st_mode))
		log_fatal("-i: descriptor 0 is not a socket");
	memset(&c, 0, sizeof(c));
	c.fd = 0;
	c.implicit_tls = implicit_tls;
	c.service = W.service;
	c.cf = W.cf;
	if (getpeername(0, (struct sockaddr *)&ss, &len) == 0)
		fill_addrs(&c, (struct sockaddr *)&ss);
	else
		(void)xsnprintf(c.peer, sizeof(c.peer), "local");
	serve_one(&c);
	return 0;
}

/* --- the hand-over to a post-login process ---------------------------- */

/* Wait for chapard's answer to a HANDOFF. */
static int
handoff_result(const char **why)
{
	static char reason[128];
	struct pollfd pfd;
	struct rec r;
	int type, ok = -1;
	uint64_t end = now_ms() + ADMIT_TIMEOUT_MS;

	rec_init(&r);
	while (ok < 0) {
		pfd.fd = W.status;
		pfd.events = POLLIN;
		if (now_ms() >= end ||
		    poll(&pfd, 1, (int)(end - now_ms())) == 0) {
			*why = "chapard did not answer";
			break;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		type = status_read(&r);
		if (type == IPC_HANDOFF_RESULT) {
			ok = rec_get_str(&r, "ok") != NULL;
			(void)xsnprintf(reason, sizeof(reason), "%s",
			    rec_get_str(&r, "reason") ?
			    rec_get_str(&r, "reason") : "refused");
			*why = reason;
		} else
			control(type, &r);
	}
	rec_free(&r);
	return ok == 1 ? 0 : -1;
}

/* Relay between the client (maybe TLS) and the post-login process until
 * either side closes. */
static void
proxy(struct io *io, int pair)
{
	struct pollfd pfd[2];
	char buf[16384];
	ssize_t n;

	io->timeout_ms = 30 * 60 * 1000;	/* the session side times out */
	for (;;) {
		while (io_buffered(io) > 0 || (io->tr->pending != NULL &&
		    io->tr->pending(io) > 0)) {
			if ((n = io_read(io, buf, sizeof(buf))) <= 0 ||
			    write_all(pair, buf, (size_t)n) == -1)
				return;
		}
		pfd[0].fd = io->fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = pair;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((n = io_read(io, buf, sizeof(buf))) <= 0 ||
			    write_all(pair, buf, (size_t)n) == -1)
				return;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(pair, buf, sizeof(buf));
			if (n <= 0 || io_write(io, buf, (size_t)n) != IO_OK ||
			    io_flush(io) != IO_OK)
				return;
		}
	}
}

int
worker_handoff(struct worker_conn *c, struct io *io, const char *token,
    const char *state, const char **error_r)
{
	int pair[2] = { -1, -1 }, proxied, passfd;
	struct rec r;

	if (W.status < 0 || W.svc->post_login == NULL) {
		*error_r = "no post-login process in this mode";
		return -1;
	}
	if (io_flush(io) != IO_OK) {
		*error_r = "client gone";
		return -1;
	}
	/* TLS state cannot move to another process, and bytes already read
	 * must reach the session: both need this process as a relay. */
	proxied = io_is_tls(io) || io_buffered(io) > 0;
	if (proxied && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    pair) == -1) {
		*error_r = "socketpair failed";
		return -1;
	}
	passfd = proxied ? pair[1] : c->fd;
	rec_init(&r);
	rec_set_str(&r, "token", token);
	rec_set_str(&r, "state", state != NULL ? state : "");
	rec_set_str(&r, "id", log_get_id());	/* one id for both halves */
	if (ipc_send(W.status, IPC_HANDOFF, &r, passfd) == -1)
		log_fatal("status socket: %s", strerror(errno));
	rec_free(&r);
	if (proxied)
		close(pair[1]);
	if (handoff_result(error_r) == -1) {
		if (proxied)
			close(pair[0]);
		return -1;
	}
	if (proxied) {
		proxy(io, pair[0]);
		close(pair[0]);
	}
	return 0;
}


static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-di] [-T] [-c file] [-s service]\n"
	    "  (started by chapard, or with -i by inetd/tcpserver/systemd)\n",
	    prog);
	exit(100);
}

/* Before giving up root (and leaving the file system behind): the
 * connection to authd, retried while authd starts up. */
static void
auth_connect(int wait_ms)
{
	const char *path = config_str(W.cf, NULL, "auth_socket");
	uint64_t end = now_ms() + (uint64_t)wait_ms;
	struct buf err;

	buf_init(&err, 1024);
	/* the mail store's own services may tell authd of full mailboxes:
	 * as root they use the master socket (an unprivileged inetd one
	 * cannot) */
	if (W.svc->mail && geteuid() == 0) {
		path = config_str(W.cf, NULL, "auth_master_socket");
		W.auth_master = 1;
	}
	while (authc_connect(path, 10000, &W.auth, &err) == -1) {
		if (now_ms() >= end) {
			/* serve anyway: logins answer "try later" */
			log_warning("%s", buf_cstr(&err));
			break;
		}
		usleep(100 * 1000);
	}
	buf_free(&err);
}

/* Like auth_connect, for enqueue(8). */
static void
enqueue_connect(int wait_ms)
{
	const char *path = config_str(W.cf, NULL, "enqueue_socket");
	uint64_t end = now_ms() + (uint64_t)wait_ms;
	struct buf err;

	buf_init(&err, 1024);
	while (enqc_connect(path, 60000, &W.enq, &err) == -1) {
		if (now_ms() >= end) {
			/* serve anyway: messages get "try later" */
			log_warning("%s", buf_cstr(&err));
			break;
		}
		usleep(100 * 1000);
	}
	buf_free(&err);
}

struct enqc *
worker_enqueue(void)
{
	return W.enq;
}

void
worker_enqueue_lost(void)
{
	enqc_close(&W.enq);
	worker_retire("lost the connection to enqueue");
}

void
worker_retire(const char *why)
{
	if (!W.quitting)
		log_warning("%s; finishing this session", why);
	W.quitting = 1;
}

/* Where the listening sockets are: CHAPAR_LISTEN_FDS=N and
 * CHAPAR_LISTEN_TLS="0110" (one flag per socket). */
static void
pool_env(void)
{
	const char *n = getenv("CHAPAR_LISTEN_FDS");
	const char *tls = getenv("CHAPAR_LISTEN_TLS");
	uint64_t v;
	int i;

	if (n == NULL || parse_u64(sv_from(n), MAX_LISTEN, &v) == -1)
		log_fatal("CHAPAR_LISTEN_FDS missing or bad");
	W.nlisten = (int)v;
	for (i = 0; i < W.nlisten; i++)
		W.listen_tls[i] = tls != NULL && (int)strlen(tls) > i &&
		    tls[i] == '1';
	W.status = STATUS_FD;
	/* Nothing else may be open. */
	(void)close_range((unsigned)(FIRST_LISTEN_FD + W.nlisten), ~0U, 0);
}

static void
setup_logging(int debug)
{
	const char *how = getenv("CHAPAR_LOG");
	config_log_setup(W.cf, W.service, debug);
	/* Under inetd, descriptor 2 may be the client: syslog unless told. */
	log_where(how != NULL && strcmp(how, "stderr") == 0 ? LOG_TO_STDERR :
	    LOG_TO_SYSLOG);
}

int
worker_run(int argc, char **argv, const struct worker_service *svc)
{
	const char *conf = NULL, *user, *root;
	struct buf err, dflt;
	int ch, inetd = 0, tls = 0, debug = 0, post = 0;

	W.svc = svc;
	W.service = svc->name;
	log_open(svc->name, LOG_TO_STDERR);
	while ((ch = getopt(argc, argv, "c:dfiPs:T")) != -1) {
		switch (ch) {
		case 'P': post = 1; break;
		case 'c': conf = optarg; break;
		case 'd': debug = 1; break;
		case 'f': break;	/* always in the foreground */
		case 'i': inetd = 1; break;
		case 's': W.service = optarg; break;
		case 'T': tls = 1; break;
		default: usage(argv[0]);
		}
	}
	if (optind != argc)
		usage(argv[0]);
	if (!inetd && getenv("CHAPAR_WORKER") == NULL)
		log_fatal("start me from chapard, or with -i from inetd, "
		    "tcpserver or systemd");
	if (post && inetd)
		usage(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	buf_init(&err, 4096);
	if (config_load(conf ? conf : config_default_path(), &W.cf, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	log_open(W.service, LOG_TO_STDERR);
	setup_logging(debug);
	if (post) {
		/* status socket at 3, the client at 0; root until the token
		 * is redeemed */
		W.status = STATUS_FD;
		(void)close_range(4, ~0U, 0);
		return worker_session_run(W.cf, W.service, svc);
	}
	if (!inetd)
		pool_env();
	if (svc->auth)
		auth_connect(inetd ? 0 : 5000);
	if (svc->enqueue)
		enqueue_connect(inetd ? 0 : 5000);
	if (svc->connect != NULL)
		svc->connect(W.cf, W.service, inetd ? 0 : 5000);
	if (svc->tls)
		tls_load();
	buf_init(&dflt, 256);
	user = config_str(W.cf, W.service, "service_user");
	root = config_str(W.cf, W.service, "chroot_dir");
	if (svc->mail) {
		user = config_str(W.cf, NULL, "mail_user");
		root = config_str(W.cf, NULL, "mail_dir");
	} else if (user[0] == '\0') {
		/* -s names the service: any length on a command line */
		if (buf_try_printf(&dflt, "chapar-%s", W.service) == -1)
			log_fatal("service name too long");
		user = buf_cstr(&dflt);
	}
	W.chrooted = geteuid() == 0 && root[0] != '\0';
	if (worker_drop_privileges(W.cf, W.service, user, root, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	if (svc->setup != NULL && svc->setup(W.cf, W.service, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	buf_free(&err);
	buf_free(&dflt);
	/* Give back what start-up used: idle workers are many. */
	(void)malloc_trim(0);
	return inetd ? run_inetd(tls) : run_pool();
}
