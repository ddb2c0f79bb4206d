/*
 * home.c: a user's directory under mail_dir, reached and made safely.
 */
#include <sys/fsuid.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chapar/home.h"
#include "chapar/log.h"

/* A home directory from authd: exactly "DOMAIN/USER", neither part empty,
 * "." or "..". */
static int
split_home(const char *h, char *dom, char *user, size_t len)
{
	const char *slash;

	if (h == NULL || (slash = strchr(h, '/')) == NULL ||
	    strchr(slash + 1, '/') != NULL || slash == h || slash[1] == '\0' ||
	    (size_t)(slash - h) >= len || strlen(slash + 1) >= len)
		return -1;
	memcpy(dom, h, (size_t)(slash - h));
	dom[slash - h] = '\0';
	memcpy(user, slash + 1, strlen(slash + 1) + 1);
	if (strcmp(dom, ".") == 0 || strcmp(dom, "..") == 0 ||
	    strcmp(user, ".") == 0 || strcmp(user, "..") == 0)
		return -1;
	return 0;
}

/* Step from dfd into its directory name, making it if missing, and check
 * it: a directory of the mail user that nobody else may enter, reached
 * without following a link.  Under mail_dir (root's, writable by nobody
 * else) root makes the directory and gives it away through the open
 * descriptor; under a directory the mail user owns, the directory is made
 * with the mail user's own rights (setfsuid), so that root never acts on
 * a name the mail user could have swapped for a link. */
static int
step_into(int dfd, const char *name, uid_t uid, gid_t gid, struct buf *err)
{
	struct stat parent, st;
	int fd = -1, as_user, saved, created = 0;

	if (fstat(dfd, &parent) == -1)
		goto fail;
	as_user = geteuid() == 0 && parent.st_uid != 0;
	if (as_user) {
		(void)setfsgid(gid);
		(void)setfsuid(uid);
	}
	if (mkdirat(dfd, name, 0700) == 0)
		created = 1;
	else if (errno != EEXIST)
		goto fail_fs;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		goto fail_fs;
	if (as_user) {
		(void)setfsuid(0);
		(void)setfsgid(0);
	}
	if (fstat(fd, &st) == -1)
		goto fail;
	/* only what root just made here is given away; a root-owned
	 * directory that was already there is not the mail user's */
	if (created && geteuid() == 0 && st.st_uid == 0 &&
	    parent.st_uid == 0 && (parent.st_mode & 022) == 0 &&
	    (fchown(fd, uid, gid) == -1 || fchmod(fd, 0700) == -1 ||
	    fstat(fd, &st) == -1))
		goto fail;
	if (!S_ISDIR(st.st_mode) || st.st_uid != (geteuid() == 0 ? uid :
	    geteuid()) || (st.st_mode & 077) != 0) {
		close(fd);
		buf_reset(err);
		buf_cut_printf(err, "%s: not a private directory of the "
		    "mail user", log_esc_str(name));
		return -1;
	}
	return fd;
fail_fs:
	if (as_user) {
		saved = errno;
		(void)setfsuid(0);
		(void)setfsgid(0);
		errno = saved;
	}
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	buf_reset(err);
	buf_cut_printf(err, "%s: %s", log_esc_str(name), strerror(saved));
	return -1;
}

int
home_open(const char *mail_dir, const char *home, uid_t uid, gid_t gid,
    struct buf *err)
{
	char dom[1024], user[1024];
	int top, d, u;

	if (split_home(home, dom, user, sizeof(dom)) == -1) {
		buf_reset(err);
		buf_cut_printf(err, "unusable home \"%s\"",
		    log_esc_str(home ? home : ""));
		return -1;
	}
	if ((top = open(mail_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		buf_reset(err);
		buf_cut_printf(err, "%s: %s", mail_dir, strerror(errno));
		return -1;
	}
	d = step_into(top, dom, uid, gid, err);
	close(top);
	if (d == -1)
		return -1;
	u = step_into(d, user, uid, gid, err);
	close(d);
	return u;
}


int
home_open_dir(const char *mail_dir, const char *name, uid_t uid, gid_t gid,
    struct buf *err)
{
	int top, d;

	if (name[0] == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		buf_reset(err);
		buf_printf(err, "unusable directory name \"%s\"",
		    log_esc_str(name));
		return -1;
	}
	if ((top = open(mail_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		buf_reset(err);
		buf_printf(err, "%s: %s", mail_dir, strerror(errno));
		return -1;
	}
	d = step_into(top, name, uid, gid, err);
	close(top);
	return d;
}
