/*
 * chapar(8): the admin command.
 */
#ifndef ADMIN_H
#define ADMIN_H

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

/* mailbox.c: a user's store, worked on as mail_user */
struct store;
struct store *user_store(struct config *, const char *arg, struct buf *key,
    uint64_t *quota);
void as_mail(void);
void as_root(void);

/* table.c: text for a terminal (control characters, the bidirectional
 * overrides, bytes that are not UTF-8 and the backslash as \\xHH); esc()
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
