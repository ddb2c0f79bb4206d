/*
 * home: a user's directory, mail_dir/DOMAIN/USER, as authd names it
 * ("DOMAIN/USER", relative).
 */
#ifndef CHAPAR_HOME_H
#define CHAPAR_HOME_H

#include <sys/types.h>

#include "chapar/buf.h"

/* Open mail_dir/DOMAIN/USER without following a link at any step, making
 * the two directories when missing (as root: owned by uid:gid, made with
 * the mail user's own rights below a directory root does not own), and
 * check that each is a private directory of the mail user.  A descriptor
 * of it, or -1 with a reason in err. */
int home_open(const char *mail_dir, const char *home, uid_t uid, gid_t gid,
    struct buf *err);
/* The same for one level, mail_dir/NAME (a domain's directory): NAME one
 * component, neither "." nor "..". */
int home_open_dir(const char *mail_dir, const char *name, uid_t uid,
    gid_t gid, struct buf *err);

#endif
