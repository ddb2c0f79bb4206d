/*
 * priv.c: dropping root, and making the accounts to drop to.
 */
#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "chapar/config.h"
#include "chapar/priv.h"
#include "chapar/util.h"

static int
fail(struct buf *err, const char *what)
{
	buf_reset(err);
	buf_cut_printf(err, "%s: %s", what, strerror(errno));
	return -1;
}

int
priv_lookup(const char *user, uid_t *uid, gid_t *gid, struct buf *err)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		buf_reset(err);
		buf_cut_printf(err, "no such user: %s", user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
priv_drop(uid_t uid, gid_t gid, const char *dir, struct buf *err)
{
	uid_t r, e, s;

	if (uid == 0) {
		buf_reset(err);
		buf_puts(err, "refusing to \"drop\" privileges to root");
		return -1;
	}
	if (setgroups(1, &gid) == -1)
		return fail(err, "setgroups");
	if (setresgid(gid, gid, gid) == -1)
		return fail(err, "setresgid");
	if (dir != NULL && (chroot(dir) == -1 || chdir("/") == -1))
		return fail(err, dir);
	if (setresuid(uid, uid, uid) == -1)
		return fail(err, "setresuid");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return fail(err, "prctl(PR_SET_NO_NEW_PRIVS)");
#ifdef CHAPAR_SANITIZE
	/* LeakSanitizer inspects the process at exit with ptrace, which a
	 * process that changed ids may not do.  Only in sanitizer builds. */
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	/* Prove it, as Dovecot does: getting root back must be impossible. */
	if (setuid(0) != -1 || getresuid(&r, &e, &s) == -1 || r != uid ||
	    e != uid || s != uid) {
		buf_reset(err);
		buf_puts(err, "privileges were not dropped");
		return -1;
	}
	return 0;
}

int
run_command(char *const argv[])
{
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		NULL };
	pid_t pid;
	int st;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		execve(argv[0], argv, envp);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int
priv_ensure_group(const char *group, struct buf *err)
{
	char *argv[] = { "/usr/sbin/groupadd", "--system", NULL, NULL };

	if (getgrnam(group) != NULL)
		return 0;
	argv[2] = (char *)(uintptr_t)group;
	if (run_command(argv) != 0 || getgrnam(group) == NULL) {
		buf_reset(err);
		buf_cut_printf(err, "could not create group %s with "
		    "groupadd", group);
		return -1;
	}
	return 0;
}

int
priv_ensure_user(const char *user, const char *group, struct buf *err)
{
	char *argv[] = { "/usr/sbin/useradd", "--system", "--no-create-home",
		"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
		"--gid", NULL, NULL, NULL };

	if (getpwnam(user) != NULL)
		return 0;
	if (priv_ensure_group(group, err) == -1)
		return -1;
	argv[8] = (char *)(uintptr_t)group;
	argv[9] = (char *)(uintptr_t)user;
	if (run_command(argv) != 0 || getpwnam(user) == NULL) {
		buf_reset(err);
		buf_cut_printf(err, "could not create user %s with useradd",
		    user);
		return -1;
	}
	return 0;
}

/* The accounts of DESIGN.md 2, one per configured service, and the empty
 * directories pre-login workers are chrooted into.  As root only; a no-op
 * otherwise. */
int
priv_ensure_accounts(const struct config *cf, struct buf *err)
{
	static const char *fixed[] = { "chapar-remote" };
	const char *names[256], *u, *dir;
	struct stat st;
	struct buf b;
	size_t i, n;
	int r = 0;

	if (geteuid() != 0)
		return 0;
	if (priv_ensure_user(config_str(cf, NULL, "auth_user"), CHAPAR_GROUP,
	    err) == -1)
		return -1;
	if (priv_ensure_user(config_str(cf, NULL, "mail_user"), CHAPAR_GROUP,
	    err) == -1 || priv_ensure_user(config_str(cf, NULL, "queue_user"),
	    CHAPAR_GROUP, err) == -1)
		return -1;
	for (i = 0; i < NELEM(fixed); i++)
		if (priv_ensure_user(fixed[i], CHAPAR_GROUP, err) == -1)
			return -1;
	buf_init(&b, 256);
	n = config_sections(cf, names, NELEM(names));
	for (i = 0; i < n && r == 0; i++) {
		/* authd has auth_user; lmtp (local) runs as mail_user,
		 * chrooted into mail_dir */
		if (strcmp(names[i], "authd") == 0 ||
		    strcmp(names[i], "enqueue") == 0 ||
		    strcmp(names[i], "lmtp") == 0)
			continue;
		u = config_str(cf, names[i], "service_user");
		/* a section's name is 1 to 64 characters (config.c) */
		buf_reset(&b);
		buf_printf(&b, "chapar-%s", names[i]);
		r = priv_ensure_user(u[0] ? u : buf_cstr(&b), CHAPAR_GROUP,
		    err);
		dir = config_str(cf, names[i], "chroot_dir");
		if (r == 0 && dir[0] != '\0' && stat(dir, &st) == -1 &&
		    (mkdir_p(dir, 0755) == -1 || chmod(dir, 0555) == -1)) {
			buf_reset(err);
			buf_cut_printf(err, "%s: %s", dir, strerror(errno));
			r = -1;
		}
	}
	buf_free(&b);
	return r;
}
