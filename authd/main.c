/*
 * authd: answers password checks and user look-ups for the other Chapar
 * programs over a UNIX socket.  Started as root it binds its socket, then
 * drops to auth_user and chroots into db_dir, so that from then on it can
 * read the user database and nothing else.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authd.h"
#include "chapar/daemon.h"
#include "chapar/dict.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/passwd.h"
#include "chapar/priv.h"
#include "chapar/util.h"

struct authd authd;

static void
usage(void)
{
	fprintf(stderr, "usage: authd [-fd] [-c file]\n");
	exit(100);
}

/* As root: give db_dir and the files directly in it to the auth user, so
 * that an admin who ran "chapar user add" as root cannot lock authd out. */
static void
own_db_dir(const char *dir, uid_t uid, gid_t gid)
{
	struct dirent *de;
	DIR *d;
	int dfd;

	if (chown(dir, uid, gid) == -1 || chmod(dir, 0700) == -1)
		log_fatal("%s: %s", dir, strerror(errno));
	if ((d = opendir(dir)) == NULL)
		log_fatal("%s: %s", dir, strerror(errno));
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fchownat(dfd, de->d_name, uid, gid,
		    AT_SYMLINK_NOFOLLOW) == -1)
			log_warning("chown %s/%s: %s", dir, de->d_name,
			    strerror(errno));
	}
	closedir(d);
}

static void
drop_root(const char *sock, const char *msock)
{
	const char *user = config_str(authd.cf, NULL, "auth_user");
	const char *dbdir = config_str(authd.cf, NULL, "db_dir");
	struct group *gr;
	struct buf err;
	uid_t uid;
	gid_t gid, sgid;

	buf_init(&err, 1024);
	if (priv_lookup(user, &uid, &gid, &err) == -1)
		log_fatal("%s (chapar init creates it)", buf_cstr(&err));
	gr = getgrnam(CHAPAR_GROUP);
	sgid = gr != NULL ? gr->gr_gid : gid;
	if (chown(sock, uid, sgid) == -1 || chmod(sock, 0660) == -1)
		log_fatal("%s: %s", sock, strerror(errno));
	/* The master socket stays root's: only chapard's children, while
	 * still root, redeem tokens. */
	if (chown(msock, 0, 0) == -1 || chmod(msock, 0600) == -1)
		log_fatal("%s: %s", msock, strerror(errno));
	own_db_dir(dbdir, uid, gid);
	if (priv_drop(uid, gid, dbdir, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	buf_free(&err);
}


int
main(int argc, char **argv)
{
	const char *conf = NULL, *sock, *msock;
	struct buf err;
	struct config *cf_global;
	int ch, fg = 0, debug = 0, lfd, mfd, nworkers;
	const char *perr;
	struct buf dummy;

	while ((ch = getopt(argc, argv, "c:dfh")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'd': debug = 1; break;
		case 'f': fg = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	log_open("authd", LOG_TO_STDERR);
	/* Under a detached chapard stderr goes nowhere: even a bad
	 * configuration must reach syslog. */
	if (fg && getenv("CHAPAR_LOG") != NULL &&
	    strcmp(getenv("CHAPAR_LOG"), "syslog") == 0)
		log_where(LOG_TO_SYSLOG);
	buf_init(&err, 4096);
	if (conf == NULL)
		conf = config_default_path();
	if (config_load(conf, &cf_global, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	authd.cf = cf_global;
	config_log_setup(authd.cf, "authd", debug);
	if (!fg) {
		daemonize();
		log_where(LOG_TO_SYSLOG);
	} else if (getenv("CHAPAR_LOG") != NULL &&
	    strcmp(getenv("CHAPAR_LOG"), "syslog") == 0)
		log_where(LOG_TO_SYSLOG);	/* under a detached chapard */
	daemon_signals(&authd_quit);
	sock = config_str(authd.cf, NULL, "auth_socket");
	msock = config_str(authd.cf, NULL, "auth_master_socket");
	if ((lfd = unix_listen(sock, "authd", &err)) == -1 ||
	    (mfd = unix_listen(msock, "authd", &err)) == -1)
		log_fatal("%s", buf_cstr(&err));
	/* Hashing needs libcrypt's setup and randomness: do it before any
	 * chroot. */
	buf_init(&dummy, 512);
	if (passwd_hash("not a password", 14, &dummy, &perr) == -1)
		log_fatal("cannot make a password hash: %s", perr);
	authd.dummy_hash = buf_detach(&dummy);
	rand_bytes(authd.secret, sizeof(authd.secret));
	penalty_init();
	authd.session_timeout = 1000 *
	    config_num(authd.cf, "authd", "auth_session_timeout");
	nworkers = (int)config_num(authd.cf, NULL, "auth_workers");
	if (nworkers == 0 && (nworkers = (int)sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		nworkers = 1;
	if (geteuid() == 0) {
		drop_root(sock, msock);
		/* Workers start before the database opens: they never hold
		 * a handle on it. */
		workers_start(nworkers);
		/* Inside the chroot the environment is at "/". */
		if (userdb_open_dir("/", 0, &authd.udb, &err) == -1)
			log_fatal("user database: %s", buf_cstr(&err));
	} else {
		if (chmod(sock, 0600) == -1)
			log_fatal("%s: %s", sock, strerror(errno));
		if (chmod(msock, 0600) == -1)
			log_fatal("%s: %s", msock, strerror(errno));
		workers_start(nworkers);
		if (userdb_open(authd.cf, 0, &authd.udb, &err) == -1)
			log_fatal("user database: %s (run \"chapar init\")",
			    buf_cstr(&err));
	}
	log_info("ready: socket=%s, uid=%ld, workers=%d", sock,
	    (long)geteuid(), nworkers);
	serve(lfd, mfd);
	log_info("stopping: %llu connections served",
	    (unsigned long long)authd.conns);
	userdb_close(&authd.udb);
	config_free(&authd.cf);
	free(authd.dummy_hash);
	buf_free(&err);
	return 0;
}
