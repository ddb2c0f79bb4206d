/*
 * dict: the small key/value interface every database in Chapar goes
 * through (user database, later the mailbox indexes and queue look-ups).
 * Today it is Berkeley DB 5.3 (dict_bdb.c); keep callers free of <db.h> so
 * that another back end (LMDB) can replace it.
 *
 * An environment is a directory shared by several processes.  Opening it
 * registers this process (DB_REGISTER) and runs recovery only when a
 * process died inside the database (DB_RECOVER).  Every change happens in
 * a transaction run by dict_txn_run(), which retries the whole transaction
 * after a deadlock or a lock held by a dead process (it calls failchk to
 * release such locks).  A process killed with SIGKILL at any moment never
 * leaves the environment unusable for the others.
 */
#ifndef CHAPAR_DICT_H
#define CHAPAR_DICT_H

#include "chapar/buf.h"

enum {
	DICT_OK = 0,
	DICT_NOTFOUND = 1,	/* get/del: no such key */
	DICT_EXISTS = 2,	/* put with DICT_NEW: key already there */
	DICT_ERROR = -1,
	DICT_RETRY = -2		/* deadlock or lock timeout: the transaction
				 * must be aborted and run again (callers of
				 * dict_txn_run just return it) */
};

/* dict_put flags */
#define DICT_NEW 0x1		/* fail with DICT_EXISTS if the key exists */

struct dict_env;
struct dict;
struct dict_txn;

/* Open (creating it if create) the environment in dir.  -1 with a message
 * in err. */
int dict_env_open(const char *dir, int create, struct dict_env **,
    struct buf *err);
void dict_env_close(struct dict_env **);

/* Open a B-tree database file inside the environment. */
int dict_open(struct dict_env *, const char *name, int create,
    struct dict **, struct buf *err);
void dict_close(struct dict **);

/* Run fn(txn, arg) in a transaction.  fn returns DICT_OK to commit, or any
 * other value to abort; DICT_RETRY makes dict_txn_run abort and run fn
 * again (a bounded number of times).  Returns fn's last result (DICT_OK
 * after a successful commit), DICT_ERROR with a message in err when the
 * database itself failed. */
typedef int (*dict_txn_fn)(struct dict_txn *, void *arg);
int dict_txn_run(struct dict_env *, dict_txn_fn, void *arg, struct buf *err);

/* Operations inside a transaction (txn may be NULL for a single read). */
int dict_get(struct dict *, struct dict_txn *, struct sv key,
    struct buf *val);
int dict_put(struct dict *, struct dict_txn *, struct sv key, struct sv val,
    int flags);
int dict_del(struct dict *, struct dict_txn *, struct sv key);

/* Call fn for each key starting with prefix, in key order; fn returns 0 to
 * go on, anything else to stop (dict_scan then returns that value).
 * Returns DICT_OK, DICT_RETRY or DICT_ERROR otherwise. */
typedef int (*dict_scan_fn)(struct sv key, struct sv val, void *arg);
int dict_scan(struct dict *, struct dict_txn *, struct sv prefix,
    dict_scan_fn, void *arg);

/* Ask every process to release locks of dead processes now (also done
 * automatically on lock timeouts).  DICT_OK or DICT_ERROR. */
int dict_env_failchk(struct dict_env *);

#endif
