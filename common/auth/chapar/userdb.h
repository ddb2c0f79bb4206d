/*
 * userdb: domains, users and aliases in the dict (Berkeley DB) under
 * db_dir.  Three databases:
 *
 *	domains.db	"example.org"		-> created=..., quota=...
 *	users.db	"alice@example.org"	-> hash=..., scram=..., quota=...,
 *						   state=..., home=..., ...
 *	aliases.db	"sales@example.org"	-> dest=a@x<TAB>dest=b@y ...
 *			"@example.org" is the catch-all of the domain
 *
 * Keys are addr_key() forms (ASCII case folded, domains in A-labels).  The
 * records are rec(3)-encoded, so new fields can be added without a schema
 * change.  Only authd and the admin command open these databases; the
 * password hashes never leave authd.
 */
#ifndef CHAPAR_USERDB_H
#define CHAPAR_USERDB_H

#include "chapar/addr.h"
#include "chapar/buf.h"
#include "chapar/config.h"
#include "chapar/rec.h"

/* results besides the DICT_ ones */
#define USERDB_NOTLOCAL 10	/* the domain is not hosted here */

/* user states */
#define USER_ACTIVE "active"
#define USER_DISABLED "disabled"	/* cannot log in, still receives */
#define USER_DELETED "deleted"		/* soft-deleted: neither */

/* Limits on alias expansion (loops, fan-out). */
#define USERDB_ALIAS_DEPTH 8
#define USERDB_ALIAS_MAX 1000

struct userdb;

int userdb_open(const struct config *, int create, struct userdb **,
    struct buf *err);
/* The same with an explicit directory (authd opens "/" in its chroot). */
int userdb_open_dir(const char *dir, int create, struct userdb **,
    struct buf *err);
void userdb_close(struct userdb **);

/* Each returns DICT_OK, DICT_NOTFOUND, DICT_EXISTS or DICT_ERROR (with a
 * message in err). */
int userdb_domain_add(struct userdb *, const char *domain, struct buf *err);
int userdb_domain_del(struct userdb *, const char *domain, struct buf *err);
int userdb_domain_get(struct userdb *, const char *domain, struct rec *,
    struct buf *err);
/* Replace a domain's record (it must exist): its quota, ... */
int userdb_domain_put(struct userdb *, const char *domain, const struct rec *,
    struct buf *err);

int userdb_user_get(struct userdb *, const char *key, struct rec *,
    struct buf *err);
/* Store a user record; with DICT_NEW it must not exist yet and its domain
 * must exist (else DICT_NOTFOUND with a message). */
int userdb_user_put(struct userdb *, const char *key, const struct rec *,
    int flags, struct buf *err);
/* Set the fields of set in an existing user record, in one transaction
 * (other fields are kept). */
int userdb_user_update(struct userdb *, const char *key,
    const struct rec *set, struct buf *err);
int userdb_user_del(struct userdb *, const char *key, struct buf *err);

int userdb_alias_get(struct userdb *, const char *key, struct rec *,
    struct buf *err);
int userdb_alias_put(struct userdb *, const char *key, const struct rec *,
    struct buf *err);
int userdb_alias_del(struct userdb *, const char *key, struct buf *err);

/* Iterate a table ("domains", "users" or "aliases"), optionally only keys
 * in one domain.  fn gets the key and the decoded record; returns 0 to go
 * on. */
typedef int (*userdb_iter_fn)(const char *key, const struct rec *,
    void *arg);
int userdb_iter(struct userdb *, const char *table, const char *domain,
    userdb_iter_fn, void *arg, struct buf *err);

/* Resolve a recipient: aliases (recursively, loop-safe, bounded), users,
 * sub-addressing with delims, the domain's catch-all.  On DICT_OK, out
 * holds "local=<user key>" and "remote=<address>" fields (deduplicated).
 * DICT_NOTFOUND: the domain is ours but nobody has that address;
 * USERDB_NOTLOCAL: not our domain. */
int userdb_resolve(struct userdb *, const struct addr *, const char *delims,
    struct rec *out, struct buf *err);

/* The directory of a user under mail_dir: "domain/local", with bytes that
 * are not safe in a file name written as %XX. */
void userdb_home(const char *key, struct buf *out);

#endif
