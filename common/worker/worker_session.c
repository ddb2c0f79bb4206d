/*
 * worker_session.c: the post-login side of the worker API -- a session
 * started by chapard with -P after a login: the token redeemed with
 * authd, the user's directory reached without following a link, root
 * given up inside it, the daemon's post_login called.
 *
 * Kept apart from worker.c (accepting, TLS, the hand-over) so that a
 * session program links none of that: pop3d-session maps no OpenSSL,
 * which is most of what a session process costs (pop3d(8)).  Trusts
 * chapard (its parent) and authd's answer; nothing from the client is
 * read before the privileges are gone.
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/authc.h"
#include "chapar/config.h"
#include "chapar/home.h"
#include "chapar/ipc.h"
#include "chapar/log.h"
#include "chapar/paths.h"
#include "chapar/priv.h"
#include "chapar/util.h"
#include "chapar/worker.h"
#include "worker_int.h"

#define STATUS_FD 3

static int
set_limit(int res, uint64_t v, const char *what, struct buf *err)
{
	struct rlimit rl;

	rl.rlim_cur = rl.rlim_max = (rlim_t)v;
	if (setrlimit(res, &rl) == -1) {
		buf_reset(err);
		buf_printf(err, "setrlimit %s: %s", what,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
worker_limits(struct config *cf, const char *service, struct buf *err)
{
	uint64_t mem = config_num(cf, service, "process_memory_limit");

	if (set_limit(RLIMIT_CORE, 0, "core", err) == -1 ||
	    set_limit(RLIMIT_NOFILE, config_num(cf, service,
	    "process_fd_limit"), "descriptors", err) == -1)
		return -1;
#ifndef CHAPAR_SANITIZE
	/* AddressSanitizer reserves terabytes of address space. */
	if (mem > 0 && set_limit(RLIMIT_AS, mem, "memory", err) == -1)
		return -1;
#else
	(void)mem;
#endif
	return 0;
}

/* A log id per connection, so that grep finds a whole session. */
void
worker_session_id(void)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char r[5];
	char id[11];
	int i;

	rand_bytes(r, sizeof(r));
	for (i = 0; i < 5; i++) {
		id[2 * i] = hex[r[i] >> 4];
		id[2 * i + 1] = hex[r[i] & 15];
	}
	id[10] = '\0';
	log_set_id(id);
}

/* For chapar status: the user this session is. */
static void
report_user(const char *user)
{
	struct rec r;

	rec_init(&r);
	rec_set_str(&r, "user", user);
	if (ipc_send(STATUS_FD, IPC_USER, &r, -1) == -1)
		log_warning("cannot report to chapard: %s", strerror(errno));
	rec_free(&r);
}

int
worker_session_run(struct config *cf, const char *service,
    const struct worker_service *svc)
{
	const char *token = getenv("CHAPAR_TOKEN"), *peer = getenv("CHAPAR_PEER");
	struct worker_session sess;
	struct authc_reply rep;
	struct worker_conn c;
	struct authc *ac;
	struct buf err, path;
	uid_t uid = 0;
	gid_t gid = 0;
	uint64_t q = 0;
	int hfd;

	buf_init(&err, 4096);
	buf_init(&path, 4096);
	authc_reply_init(&rep);
	if (token == NULL || svc->post_login == NULL)
		log_fatal("-P: no token, or no post-login side in this program");
	if (authc_connect(config_str(cf, NULL, "auth_master_socket"), 10000,
	    &ac, &err) == -1 || authc_redeem(ac, token, &rep, &err) == -1)
		log_fatal("redeeming the login token: %s", buf_cstr(&err));
	authc_close(&ac);
	if (strcmp(buf_cstr(&rep.verb), "OK") != 0) {
		log_error("login token refused by authd");
		exit(EXIT_BADTOKEN);
	}
	memset(&sess, 0, sizeof(sess));
	sess.user = rec_get_str(&rep.fields, "user");
	sess.home = rec_get_str(&rep.fields, "home");
	(void)rec_get_u64(&rep.fields, "quota", &q);
	sess.quota = q;
	sess.state = getenv("CHAPAR_STATE") ? getenv("CHAPAR_STATE") : "";
	if (sess.user == NULL)
		log_fatal("authd gave no user");
	if (geteuid() == 0 && priv_lookup(config_str(cf, NULL, "mail_user"),
	    &uid, &gid, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	if ((hfd = home_open(config_str(cf, NULL, "mail_dir"), sess.home,
	    uid, gid, &err)) == -1 || fchdir(hfd) == -1)
		log_fatal("home of %s: %s", log_esc_str(sess.user),
		    err.len ? buf_cstr(&err) : strerror(errno));
	close(hfd);
	if (geteuid() == 0) {
		/* the user's own directory (the current one, reached without
		 * following links) is all this process can see */
		if (priv_drop(uid, gid, ".", &err) == -1 ||
		    worker_limits(cf, service, &err) == -1)
			log_fatal("%s", buf_cstr(&err));
	} else if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    worker_limits(cf, service, &err) == -1)
		log_fatal("%s", err.len ? buf_cstr(&err) : strerror(errno));
	report_user(sess.user);
	memset(&c, 0, sizeof(c));
	c.fd = 0;
	c.service = service;
	c.cf = cf;
	(void)xsnprintf(c.peer, sizeof(c.peer), "%s", peer ? peer : "unknown");
	if (getenv("CHAPAR_LOG_ID") != NULL && getenv("CHAPAR_LOG_ID")[0])
		log_set_id(getenv("CHAPAR_LOG_ID"));
	else
		worker_session_id();
	log_info("session of %s from %s", log_esc_str(sess.user), c.peer);
	svc->post_login(&c, &sess);
	log_info("session of %s ended", log_esc_str(sess.user));
	authc_reply_free(&rep);
	buf_free(&err);
	buf_free(&path);
	return 0;
}

int
worker_session_main(int argc, char **argv, const struct worker_service *svc)
{
	const char *conf = NULL, *service = svc->name, *how;
	struct config *cf;
	struct buf err;
	int ch, debug = 0, post = 0, bad = 0;

	log_open(svc->name, LOG_TO_STDERR);
	while ((ch = getopt(argc, argv, "c:dfPs:")) != -1) {
		switch (ch) {
		case 'P': post = 1; break;
		case 'c': conf = optarg; break;
		case 'd': debug = 1; break;
		case 'f': break;
		case 's': service = optarg; break;
		default: bad = 1; break;
		}
	}
	if (bad || !post || optind != argc || getenv("CHAPAR_WORKER") == NULL)
		log_fatal("usage: %s -P [-c file] [-s service]: a session, "
		    "started by chapard after a login", argv[0]);
	buf_init(&err, 4096);
	if (config_load(conf ? conf : config_default_path(), &cf, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	log_open(service, LOG_TO_STDERR);
	config_log_setup(cf, service, debug);
	how = getenv("CHAPAR_LOG");
	log_where(how != NULL && strcmp(how, "stderr") == 0 ? LOG_TO_STDERR :
	    LOG_TO_SYSLOG);
	buf_free(&err);
	(void)close_range(4, ~0U, 0);
	return worker_session_run(cf, service, svc);
}
