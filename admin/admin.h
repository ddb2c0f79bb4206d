/*
 * chapar(8): the admin command.
 */
#ifndef ADMIN_H
#define ADMIN_H

#include <sys/types.h>

#include "chapar/buf.h"
#include "chapar/config.h"
#include "chapar/userdb.h"

/* exit codes */
#define EX_OK 0
#define EX_FAIL 1	/* the operation failed (not found, exists, ...) */
#define EX_USAGE 2	/* bad command line */
#define EX_TEMP 75	/* try again (database busy, authd down) */

struct opts {
	const char *conf;
	int json;
	int password_stdin;
	int all;
	int nondefault;
	int expand;
	int force;
	int expired;
	const char *quota;
	const char *name;
};

extern struct opts opt;

/* main.c */
void die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
void usage(void) __attribute__((noreturn));
struct config *load_config(void);
/* In a child of db_run: the user database, signals held till it is
 * closed. */
struct userdb *open_userdb(struct config *, int create);
void close_userdb(struct userdb **);
/* Parse an address argument into its user key ("@dom" allowed when
 * catchall). */
void arg_key(const char *arg, int catchall, struct buf *key);
void arg_domain(const char *arg, struct buf *dom);
void read_password(int twice, struct buf *out);

/* table.c: aligned columns or JSON */
struct table;
struct table *table_new(int ncols, const char *const *headers);
void table_row(struct table *, const char *const *cells);
void table_print(struct table *, int json);
void table_free(struct table **);

/* commands */
int cmd_init(int, char **);
int cmd_config(int, char **);
int cmd_domain(int, char **);
int cmd_user(int, char **);
int cmd_alias(int, char **);
int cmd_auth(int, char **);
int cmd_ctl(int, char **);
int cmd_tls(int, char **);
int cmd_dns(int, char **);
int cmd_queue(int, char **);
int cmd_dkim(int, char **);
void dkim_print_record(const char *domain, const char *selector,
    const char *txt);
int cmd_mailbox(int, char **);
int cmd_reindex(int, char **);
int cmd_quota(int, char **);
int cmd_import(int, char **);
int cmd_export(int, char **);

/*
 * child.c: the work on files that less trusted users write (the user
 * database, mail stores, the queue) runs in a child process that, when
 * chapar runs as root, has given up root for good and is chrooted into
 * its directory.
 */
enum { AS_DB, AS_MAIL, AS_QUEUE };
struct rec;
typedef int (*serve_fn)(void *arg, const struct rec *req, struct rec *reply,
    int *fd);
struct child {
	int whom;	/* AS_DB: db_dir's owner; AS_MAIL: mail_user;
			 * AS_QUEUE: queue_user */
	int dirfd;	/* where it works (its root when run by root) */
	int keep[2];	/* descriptors it keeps besides */
	int nkeep;
	int (*fn)(void *arg);	/* the work; returns the exit code */
	void *arg;
	/* The parent's answer to a message of the child: 1 with a reply to
	 * send (and a descriptor in *fd, else -1), 0 for no reply, -1 for
	 * a request the child may not make (it is killed, chapar fails). */
	serve_fn serve;
	void *sarg;
};
/* 0 when the child's work ended with EX_OK; any other end of the child
 * ends this process the same way, after the child's output. */
int child_run(const struct config *, const struct child *);
/* As db_dir's owner in db_dir / as queue_user in queue_dir. */
int db_run(struct config *, int (*fn)(void *), void *arg, serve_fn,
    void *sarg);
int queue_run(struct config *, int (*fn)(void *), void *arg);
/* die() in the parent: a live child is killed first. */
void child_abandon(void);
/* In the child: chrooted (as root: yes); a message to the parent; a
 * request and its reply (returns the descriptor that came with it, or
 * -1); a message's op= field ("" if none). */
int child_jailed(void);
void child_tell(const struct rec *);
int child_ask(const struct rec *, struct rec *reply);
const char *child_op(const struct rec *);

/* mailbox.c: a user's store, worked on by a child as mail_user */
struct muser {
	struct buf key;		/* the user's key in the database */
	struct buf home;	/* DOMAIN/USER under mail_dir */
	uint64_t quota;
	int hfd;		/* the directory, reached by home_open */
};
/* Look the user up (a child as db_dir's owner) and open its directory
 * (made if missing, no link followed); exits on failure. */
void muser_open(struct config *, const char *arg, struct muser *);
void muser_close(struct muser *);
/* Run c (fn, arg, serve, keep) as mail_user in the user's directory. */
int mail_run(struct config *, const struct muser *, struct child *c);
/* In that child: the store, opened where the child works. */
struct store *store_here(struct config *, const struct muser *);
void mail_ids(struct config *, uid_t *, gid_t *);
/* The home a record names (h), or the one the key gives when h could not
 * be under mail_dir. */
void user_home(const char *key, const char *h, struct buf *home);

/* users.c: a user's record as the parent may know it (home, quota,
 * state, deleted; never the password's hash), read by a child of db_run;
 * exits if there is none. */
void user_get(struct config *, const char *key, struct rec *);
/* A userdb result: EX_OK, or the process ends with a message ("what name
 * already exists" when err says nothing). */
int check(int r, const struct buf *err, const char *what, const char *name);

/* table.c: text for a terminal (control characters, the bidirectional
 * overrides, bytes that are not UTF-8 and the backslash as \xHH); esc()
 * returns one of a few rotating buffers, for printf. */
void esc_append(struct buf *, struct sv);
const char *esc(const char *);
/* The same with the backslash kept, for messages (die). */
void esc_message(struct buf *, struct sv);
/* Text from a less trusted process to fd, with what could drive a
 * terminal (C0 controls but TAB, LF and CR; DEL; C1) escaped; text_pass
 * does a piece of a stream (*c2 carries state, 0 at first; at its end a
 * held 0xC2 is the caller's to write). */
void text_out(int fd, const void *, size_t);
void text_pass(int fd, const unsigned char *, size_t, int *c2);

/* cert.c */
int make_self_signed(const char *cert, const char *key, const char *host,
    struct buf *err);

#endif
