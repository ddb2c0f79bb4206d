/*
 * dict: the small key/value interface every database in Chapar goes
 * through (user database, later the mailbox indexes and queue look-ups).
 * Today it is Berkeley DB 5.3 (dict_bdb.c); keep callers free of <db.h> so
 * that another back end (LMDB) can replace it.
 *
 * An environment is a directory shared by several processes.  Opening it
 * registers this process (DB_REGISTER); if a registered process died, the
 * opener runs recovery (DB_RECOVER), and the processes still inside see
 * their next call reopen the environment by itself.  Every change happens
 * in a transaction run by dict_txn_run().  A transaction never waits for a
 * lock: on a conflict it is aborted and run again after a short random
 * sleep, and from the third try on the locks and transactions of dead
 * processes are released (failchk).
 *
 * A process killed with SIGKILL never leaves the environment unusable for
 * processes that open it afterwards, and if it was killed outside the
 * library (in a callback, between calls) the others carry on.  The limit:
 * one killed inside the library may die holding a BDB mutex; BDB 5.3 as
 * Debian builds it cannot release those, and a live process that then
 * needs the same mutex blocks forever.  Its supervisor must kill and
 * restart it (see dict_bdb.c).
 *
 * One open handle per environment per process (a DB_REGISTER rule).  A
 * handle is not inherited: a forked child opens its own, and the parent's
 * copy in the child fails with DICT_ERROR (dict_env_close() on it only
 * frees memory).  exit() closes what is still open.  Not for use from
 * signal handlers.
 */
#ifndef CHAPAR_DICT_H
#define CHAPAR_DICT_H

#include "chapar/buf.h"

enum {
	DICT_OK = 0,
	DICT_NOTFOUND = 1,	/* get/del: no such key */
	DICT_EXISTS = 2,	/* put with DICT_NEW: key already there */
	DICT_ERROR = -1,
	DICT_RETRY = -2		/* lock conflict, or the environment must be
				 * reopened: the transaction must be aborted
				 * and run again (fns of dict_txn_run just
				 * return it) */
};

/* dict_put flags */
#define DICT_NEW 0x1		/* fail with DICT_EXISTS if the key exists */

struct dict_env;
struct dict;
struct dict_txn;

/* Open the environment in dir; DICT_ENV_CREATE also makes the directory
 * (mode 0700).  Files are created with mode 0600.  With DICT_ENV_NOSYNC
 * a commit is written to the log but not waited for on the disk: it
 * survives the process, not the machine -- for data that can be rebuilt
 * from elsewhere.  0, or -1 with a message in err. */
#define DICT_ENV_CREATE 0x1
#define DICT_ENV_NOSYNC 0x2
/* A small cache (512 kB, not 4 MB): for environments of one user, which
 * every session of that user maps (its share of memory), where the
 * kernel's page cache serves the rest. */
#define DICT_ENV_SMALL 0x4
int dict_env_open(const char *dir, int flags, struct dict_env **,
    struct buf *err);
/* Close the open databases, then the environment; NULL is a no-op.  A
 * struct dict still open stays allocated (its operations fail) until
 * dict_close().  Not inside a transaction. */
void dict_env_close(struct dict_env **);

/* Open a B-tree database file inside the environment; name is a plain
 * file name.  DICT_OK, DICT_NOTFOUND (no such file and !create) or
 * DICT_ERROR, with a message in err. */
int dict_open(struct dict_env *, const char *name, int create,
    struct dict **, struct buf *err);
void dict_close(struct dict **);

/* Run fn(txn, arg) in a transaction.  fn returns DICT_OK to commit, or any
 * other value to abort; DICT_RETRY makes dict_txn_run abort and run fn
 * again (a bounded number of times, about 5 s).  fn may thus run several
 * times: it must keep its effects inside the transaction.  If an operation
 * inside returned DICT_RETRY or failed in the database, the transaction is
 * aborted (and retried, or DICT_ERROR) whatever fn returns.  Returns fn's
 * last result (DICT_OK after a successful commit), DICT_RETRY when the
 * tries ran out, DICT_ERROR with a message in err when the database itself
 * failed (also when a commit failed: its outcome is then unknown).  No
 * nesting. */
typedef int (*dict_txn_fn)(struct dict_txn *, void *arg);
int dict_txn_run(struct dict_env *, dict_txn_fn, void *arg, struct buf *err);

/* Operations inside a transaction: txn is the one dict_txn_run handed to
 * fn.  txn may be NULL outside dict_txn_run (and outside a scan callback):
 * the operation then runs in a transaction of its own, with the same
 * retries.  dict_get replaces val's contents; a
 * value longer than val's limit is DICT_ERROR, never cut short. */
int dict_get(struct dict *, struct dict_txn *, struct sv key,
    struct buf *val);
int dict_put(struct dict *, struct dict_txn *, struct sv key, struct sv val,
    int flags);
int dict_del(struct dict *, struct dict_txn *, struct sv key);

/* Call fn for each key starting with prefix, in key order; fn returns 0 to
 * go on, anything else to stop (dict_scan then returns that value).
 * Returns DICT_OK, DICT_RETRY or DICT_ERROR otherwise.  The views are valid
 * only during the call.  Without txn the scan is read-committed, not a
 * snapshot; after a lock conflict it resumes after the last key, so fn
 * sees no key twice. */
typedef int (*dict_scan_fn)(struct sv key, struct sv val, void *arg);
int dict_scan(struct dict *, struct dict_txn *, struct sv prefix,
    dict_scan_fn, void *arg);
/* The same, starting at the first key >= from (which must begin with
 * prefix; else the scan starts at the prefix). */
int dict_scan_from(struct dict *, struct dict_txn *, struct sv prefix,
    struct sv from, dict_scan_fn, void *arg);

/* Release the locks and abort the transactions of dead processes now
 * (dict_txn_run also does it after repeated conflicts); reopens the
 * environment if that is needed.  DICT_OK or DICT_ERROR. */
int dict_env_failchk(struct dict_env *);

#endif
