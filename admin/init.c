/*
 * init.c: "chapar init [DIR]" and "chapar config".
 *
 * init is safe to run again: it never overwrites a configuration, a
 * database or a certificate, it only creates what is missing and fixes
 * the owners of what it created.
 */
#include <sys/stat.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/priv.h"
#include "chapar/util.h"

static void
write_template(const char *path, const char *datadir)
{
	char host[256] = "localhost";
	struct buf b;

	(void)gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	buf_init(&b, 0);
	buf_printf(&b,
	    "# chapar.conf: written by \"chapar init\".\n"
	    "# Every key, its type and its default: chapar.conf(5).\n"
	    "# Effective values: chapar -c %s config show\n"
	    "\n"
	    "hostname = %s\n", path, host);
	if (datadir != NULL)
		buf_printf(&b, "data_dir = %s\n", datadir);
	buf_puts(&b,
	    "\n"
	    "# Where the pieces live (defaults, relative to data_dir):\n"
	    "#db_dir = ${data_dir}/db\n"
	    "#mail_dir = ${data_dir}/mail\n"
	    "#run_dir = ${data_dir}/run\n"
	    "#tls_cert_file = ${config_dir}/tls/cert.pem\n"
	    "#tls_key_file = ${config_dir}/tls/key.pem\n"
	    "\n"
	    "# Users\n"
	    "#default_quota = 2G\n"
	    "#recipient_delimiter = +\n"
	    "\n"
	    "# Per-service overrides go in sections, for example:\n"
	    "#[authd]\n"
	    "#log_level = debug\n");
	if (file_write_atomic(path, b.data, b.len, 0644) == -1)
		die(EX_FAIL, "%s: %s", path, strerror(errno));
	buf_free(&b);
	printf("wrote %s\n", path);
}

static void
make_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			die(EX_FAIL, "%s exists and is not a directory", path);
		return;
	}
	if (mkdir_p(path, 0755) == -1 || chmod(path, mode) == -1)
		die(EX_FAIL, "%s: %s", path, strerror(errno));
	printf("created %s\n", path);
}

static char *
parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	struct buf b;

	buf_init(&b, strlen(path) + 2);
	if (slash == NULL || slash == path)
		buf_puts(&b, "/");
	else
		buf_append(&b, path, (size_t)(slash - path));
	return buf_detach(&b);
}

/* As root: the system accounts, and db_dir owned by the auth user. */
static void
accounts(struct config *cf)
{
	const char *user = config_str(cf, NULL, "auth_user");
	const char *dbdir = config_str(cf, NULL, "db_dir");
	const char *mdir = config_str(cf, NULL, "mail_dir");
	struct buf err;
	uid_t uid;
	gid_t gid;

	buf_init(&err, 1024);
	if (priv_ensure_accounts(cf, &err) == -1 ||
	    priv_lookup(user, &uid, &gid, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	if (chown(dbdir, uid, gid) == -1)
		die(EX_FAIL, "chown %s: %s", dbdir, strerror(errno));
	/* the mail store is the mail user's: delivery (local) runs as it
	 * and makes the domain and user directories */
	if (priv_lookup(config_str(cf, NULL, "mail_user"), &uid, &gid,
	    &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	if (chown(mdir, uid, gid) == -1 || chmod(mdir, 0700) == -1)
		die(EX_FAIL, "%s: %s", mdir, strerror(errno));
	buf_free(&err);
}

static void
certificate(struct config *cf)
{
	const char *cert = config_str(cf, NULL, "tls_cert_file");
	const char *key = config_str(cf, NULL, "tls_key_file");
	const char *host = config_str(cf, NULL, "hostname");
	char sysname[256] = "localhost";
	struct buf err;
	char *dir;

	if (access(cert, F_OK) == 0 || access(key, F_OK) == 0)
		return;
	if (host[0] == '\0') {
		(void)gethostname(sysname, sizeof(sysname) - 1);
		sysname[sizeof(sysname) - 1] = '\0';
		host = sysname;
	}
	dir = parent_of(key);
	make_dir(dir, 0755);
	free(dir);
	dir = parent_of(cert);
	make_dir(dir, 0755);
	free(dir);
	buf_init(&err, 1024);
	if (make_self_signed(cert, key, host, &err) == -1)
		die(EX_FAIL, "self-signed certificate: %s", buf_cstr(&err));
	buf_free(&err);
	printf("created a self-signed certificate for %s in %s\n", host, cert);
}

/* In a child of db_run. */
static int
create_db(void *arg)
{
	struct userdb *u = open_userdb(arg, 1);

	close_userdb(&u);
	return EX_OK;
}

int
cmd_init(int argc, char **argv)
{
	char abs[PATH_MAX];
	struct config *cf;
	struct buf conf;

	if (argc > 2)
		usage();
	buf_init(&conf, PATH_MAX + 16);
	if (argc == 2) {
		if (mkdir_p(argv[1], 0755) == -1 ||
		    realpath(argv[1], abs) == NULL)
			die(EX_FAIL, "%s: %s", argv[1], strerror(errno));
		buf_printf(&conf, "%s/chapar.conf", abs);
		opt.conf = buf_cstr(&conf);
	}
	if (access(opt.conf, F_OK) == 0)
		printf("%s exists; not touching it\n", opt.conf);
	else {
		char *d = parent_of(opt.conf);

		make_dir(d, 0755);
		free(d);
		write_template(opt.conf, argc == 2 ? abs : NULL);
	}
	cf = load_config();
	make_dir(config_str(cf, NULL, "data_dir"), 0755);
	make_dir(config_str(cf, NULL, "db_dir"), 0700);
	make_dir(config_str(cf, NULL, "mail_dir"), 0755);
	make_dir(config_str(cf, NULL, "run_dir"), 0755);
	{
		/* pre-login workers chroot here by default: empty, root's */
		struct buf empty;

		buf_init(&empty, strlen(config_str(cf, NULL, "run_dir")) + 8);
		buf_printf(&empty, "%s/empty",
		    config_str(cf, NULL, "run_dir"));
		make_dir(buf_cstr(&empty), 0555);
		buf_free(&empty);
	}
	if (geteuid() == 0)
		accounts(cf);
	/* the databases, made by their owner (child.c) */
	(void)db_run(cf, create_db, cf, NULL, NULL);
	certificate(cf);
	printf("instance ready: %s\n"
	    "next: chapar -c %s domain add example.org\n",
	    config_str(cf, NULL, "data_dir"), opt.conf);
	config_free(&cf);
	buf_free(&conf);
	return EX_OK;
}

int
cmd_config(int argc, char **argv)
{
	struct config *cf;

	if (argc != 2)
		usage();
	if (strcmp(argv[1], "check") == 0) {
		struct buf err;

		cf = load_config();
		buf_init(&err, 1024);
		if (config_check_services(cf, &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
		buf_free(&err);
		printf("%s: ok\n", opt.conf);
	} else if (strcmp(argv[1], "show") == 0) {
		cf = load_config();
		config_show(cf, stdout, opt.nondefault, opt.expand);
	} else
		usage();
	config_free(&cf);
	return EX_OK;
}
