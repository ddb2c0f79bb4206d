/*
 * priv: the one way Chapar gives up privileges (STYLE.md "One privilege-
 * drop function, one order"), and the creation of its system accounts.
 */
#ifndef CHAPAR_PRIV_H
#define CHAPAR_PRIV_H

#include <sys/types.h>

#include "chapar/buf.h"

/* The group every Chapar account belongs to; it may use authd's socket. */
#define CHAPAR_GROUP "chapar"

int priv_lookup(const char *user, uid_t *, gid_t *, struct buf *err);
/* As root: setgroups(1, {gid}), setresgid, chroot(dir) + chdir("/") if dir
 * is not NULL, setresuid, PR_SET_NO_NEW_PRIVS; then prove it: setuid(0)
 * must fail.  0, or -1 with a message (the caller must exit). */
int priv_drop(uid_t, gid_t, const char *chroot_dir, struct buf *err);
/* Create a system group / a nologin system user in it (groupadd and
 * useradd, run by execve, never a shell) unless they exist. */
int priv_ensure_group(const char *group, struct buf *err);
int priv_ensure_user(const char *user, const char *group, struct buf *err);
struct config;
/* As root: every account the configuration needs (auth_user,
 * chapar-mail, chapar-queue, chapar-remote, one per [service]) and the
 * services' chroot directories.  Does nothing when not root. */
int priv_ensure_accounts(const struct config *, struct buf *err);
/* Run argv (argv[0] an absolute path) and wait: its exit status, or -1. */
int run_command(char *const argv[]);

#endif
