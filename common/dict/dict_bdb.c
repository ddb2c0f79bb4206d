/*
 * dict_bdb.c: the dict interface (chapar/dict.h) on Berkeley DB 5.3.
 *
 * Trusts the environment directory and everything in it (only Chapar
 * processes of one uid write there) and callers to pass valid handles.
 * Keys and values are opaque bytes.
 *
 * How a process killed with SIGKILL is survived:
 *
 * - Every transaction is begun with DB_TXN_NOWAIT: a lock conflict returns
 *   at once (DB_LOCK_DEADLOCK or DB_LOCK_NOTGRANTED), and txn_run() aborts,
 *   sleeps a little and runs the function again.  We never block on a lock
 *   because BDB 5.3 checks lock timeouts only when some process runs the
 *   deadlock detector: a process blocked on a lock of a dead process sleeps
 *   forever if nobody else comes along (tried: still blocked after 20 s with
 *   a 1 s DB_SET_LOCK_TIMEOUT and set_lk_detect).  Not waiting at all also
 *   makes deadlocks impossible.
 * - From the third try on, DB_ENV->failchk aborts the transactions of dead
 *   processes and frees their locks.  A process counts as dead when
 *   kill(pid, 0) says ESRCH or /proc says it is a zombie.  Two processes
 *   must not run failchk at once: __txn_failchk() drops its mutex and then
 *   aborts the dead transaction without marking it, so two could abort the
 *   same one.  failchk therefore runs only under flock() on LOCKFILE, and
 *   is skipped when someone else holds it.
 * - A process opening the environment finds dead processes in the
 *   DB_REGISTER file and then runs full recovery (DB_RECOVER), which first
 *   panics the old environment under the feet of the processes still in
 *   it.  Not DB_FAILCHK, which would try failchk first: that path attaches
 *   to the old regions and takes their mutexes, and hangs for good if the
 *   dead process held one (seen in about 1 of 20 random kills).  Recovery
 *   itself takes no mutex (__env_remove_env sets DB_ENV_NOLOCKING).
 * - A panicked environment (recovery by another process, or failchk
 *   finding a process that died inside the library) makes every call
 *   return DB_RUNRECOVERY.  We then close every handle and open the
 *   environment again with the same flags (env_recover()).
 * - What cannot be survived: BDB 5.3 as Debian builds it uses plain,
 *   non-robust process-shared pthread mutexes.  A process killed while
 *   holding one (inside the library, e.g. in a commit) leaves it locked;
 *   a live process that then needs it blocks in pthread_mutex_lock()
 *   forever, and no panic or recovery wakes it (seen: 6 survivors out of
 *   40 random kills under heavy writing).  New processes recover the
 *   environment; the stuck ones must be killed and restarted by their
 *   supervisor.
 * - A process that exits without closing looks dead to the registry and
 *   the next opener would run recovery: an atexit() handler closes what
 *   exit() would leave open.
 *
 * No DB_THREAD: Chapar processes are single-threaded, so BDB may hand back
 * data in memory it owns, valid until the next call on the same handle.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chapar/buf.h"
#include "chapar/dict.h"
#include "chapar/log.h"
#include "chapar/util.h"

/* Not DB_FAILCHK: see the top of the file. */
#define ENV_FLAGS                                                              \
	(DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG |               \
	    DB_INIT_MPOOL | DB_REGISTER | DB_RECOVER)
#define FILE_MODE 0600
#define DIR_MODE 0700
#define LOCKFILE "chapar-dict.lock"
#define OPEN_LOCK_WAIT_MS 10000	/* then open without LOCKFILE */

/* Tries of one transaction.  The sleep between tries grows from about 1 ms
 * to 64 ms, so 100 tries give up after about 5 s of conflicts. */
#define TXN_TRIES 100
#define FAILCHK_FROM 2		/* run failchk from this retry on */
#define RECOVER_TRIES 3

/* Sizes fixed when the environment is created (recovery re-creates it). */
#define THREAD_COUNT 1000	/* processes at once, for failchk */
#define CACHE_BYTES (4u * 1024 * 1024)
#define SMALL_CACHE_BYTES (512u * 1024)	/* DICT_ENV_SMALL */
#define LOCK_TIMEOUT_US 3000000	/* for lock requests that do block */
#define CKP_KBYTES 1024		/* checkpoint after 1 MB of log... */
#define CKP_MINUTES 1		/* ...or a minute */

struct dict_txn {
	struct dict_env *e;
	DB_TXN *txn;
	int retry;		/* an operation hit a lock or a panic */
	int failed;		/* an operation failed in the database */
	int wrote;		/* a put or a delete was tried */
};

struct dict {
	struct dict_env *e;	/* NULL once the environment is closed */
	DB *db;			/* NULL while the environment is down */
	char *name;
	int create;
	LIST_ENTRY(dict) link;
};

struct dict_env {
	DB_ENV *dbenv;		/* NULL when closed or after a failed reopen */
	char *dir;
	pid_t pid;		/* the process that opened it */
	int lockfd;		/* LOCKFILE, serialises failchk */
	int need_recover;	/* DB_RUNRECOVERY seen: reopen before use */
	struct dict_txn *cur;	/* the running transaction */
	LIST_HEAD(, dict) dicts;
	LIST_ENTRY(dict_env) link;	/* in open_envs */
	int listed;
	int nosync;		/* DICT_ENV_NOSYNC */
	int small;		/* DICT_ENV_SMALL */
	uint64_t last_ckp;	/* when this process last asked (ms) */
	char lasterr[256];	/* last message from BDB */
};

/* This process's environments, for close_at_exit(). */
static LIST_HEAD(, dict_env) open_envs = LIST_HEAD_INITIALIZER(open_envs);
static int atexit_set;

static void set_err(struct dict_env *, struct buf *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Report an error into err, or to the log when there is no err. */
static void
set_err(struct dict_env *e, struct buf *err, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	/* a directory under a user's home, keys, BDB's words: cut to
	 * what the message and the caller's err have room for */
	buf_init(&b, 1024);
	if (e != NULL)
		buf_cut_printf(&b, "dict %s: ", e->dir);
	va_start(ap, fmt);
	buf_cut_vprintf(&b, fmt, ap);
	va_end(ap);
	if (e != NULL && e->lasterr[0] != '\0') {
		buf_cut_printf(&b, " (%s)", e->lasterr);
		e->lasterr[0] = '\0';
	}
	if (err != NULL) {
		buf_reset(err);
		buf_cut_printf(err, "%s", buf_cstr(&b));
	} else
		log_error("%s", buf_cstr(&b));
	buf_free(&b);
}

static void
bdb_errcall(const DB_ENV *dbenv, const char *pfx, const char *msg)
{
	struct dict_env *e = dbenv->app_private;

	(void)pfx;
	if (e != NULL)
		(void)xsnprintf(e->lasterr, sizeof(e->lasterr), "%s", msg);
	log_warning("dict: %s", msg);
}

static void
bdb_msgcall(const DB_ENV *dbenv, const char *msg)
{
	(void)dbenv;
	log_info("dict: %s", msg);
}

/* A zombie will never run again and has dropped its fcntl locks, but
 * kill(pid, 0) still succeeds until it is reaped. */
static int
proc_is_zombie(pid_t pid)
{
	char path[64], st[512], *p;
	ssize_t n;
	int fd;

	if (xsnprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid) == -1)
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;	/* no /proc (chroot): trust kill() */
	n = read(fd, st, sizeof(st) - 1);
	(void)close(fd);
	if (n <= 0)
		return 0;
	st[n] = '\0';
	/* "pid (comm) S ...": comm may hold spaces and parentheses. */
	if ((p = strrchr(st, ')')) == NULL || p[1] != ' ')
		return 0;
	return p[2] == 'Z' || p[2] == 'X';
}

/* DB_ENV->set_isalive: single-threaded processes, so the pid decides. */
static int
bdb_is_alive(DB_ENV *dbenv, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	int alive, saved = errno;

	(void)dbenv;
	(void)tid;
	(void)flags;
	if (kill(pid, 0) == -1 && errno == ESRCH)
		alive = 0;
	else
		alive = !proc_is_zombie(pid);
	errno = saved;
	return alive;
}

/* Take LOCKFILE, waiting at most wait_ms: its holder may be stuck for
 * good on a mutex of a dead process.  1 if taken. */
static int
lockfile_take(struct dict_env *e, unsigned int wait_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	unsigned int waited;

	for (waited = 0;; waited += 10) {
		if (flock(e->lockfd, LOCK_EX | LOCK_NB) == 0)
			return 1;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			log_warning("dict %s: flock: %s", e->dir,
			    strerror(errno));
			return 0;
		}
		if (waited >= wait_ms)
			return 0;
		(void)nanosleep(&ts, NULL);
	}
}

static void
lockfile_drop(struct dict_env *e)
{
	(void)flock(e->lockfd, LOCK_UN);
}

/* 0 also when skipped: whoever holds LOCKFILE is cleaning up already. */
static int
env_failchk(struct dict_env *e)
{
	int ret;

	if (!lockfile_take(e, 0))
		return 0;
	ret = e->dbenv->failchk(e->dbenv, 0);
	lockfile_drop(e);
	if (ret == DB_RUNRECOVERY)
		e->need_recover = 1;
	else if (ret != 0)
		log_warning("dict %s: failchk: %s", e->dir, db_strerror(ret));
	return ret;
}

/* The home directory as BDB is given it.  BDB cannot recover an
 * environment whose home is "/" (it strips the slash and then looks for
 * files under ""): that is where a process chrooted into the environment
 * (authd) finds it, so it is given "/." instead. */
static const char *
bdb_home(const struct dict_env *e)
{
	return strcmp(e->dir, "/") == 0 ? "/." : e->dir;
}

/* Settings that must be made before DB_ENV->open.  Recovery needs a
 * temporary directory; BDB looks for /var/tmp, /usr/tmp and /tmp, which a
 * process chrooted into the environment (authd) does not have, so the
 * environment directory itself serves. */
static int
env_configure(DB_ENV *dbenv, const char *dir, int nosync, int small)
{
	int ret;

	/* A commit writes its log records; without nosync it also waits for
	 * the disk (fdatasync).  An environment whose data can be rebuilt
	 * from elsewhere (a store's index, from the maildir) need not. */
	if (nosync && (ret = dbenv->set_flags(dbenv, DB_TXN_WRITE_NOSYNC,
	    1)) != 0)
		return ret;
	dbenv->set_errcall(dbenv, bdb_errcall);
	dbenv->set_msgcall(dbenv, bdb_msgcall);
	if ((ret = dbenv->set_thread_count(dbenv, THREAD_COUNT)) != 0 ||
	    (ret = dbenv->set_isalive(dbenv, bdb_is_alive)) != 0 ||
	    (ret = dbenv->set_lk_detect(dbenv, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = dbenv->set_timeout(dbenv, LOCK_TIMEOUT_US,
	    DB_SET_LOCK_TIMEOUT)) != 0 ||
	    (ret = dbenv->set_cachesize(dbenv, 0, small ? SMALL_CACHE_BYTES :
	    CACHE_BYTES, 1)) != 0 ||
	    (ret = dbenv->set_lg_filemode(dbenv, FILE_MODE)) != 0 ||
	    (ret = dbenv->log_set_config(dbenv, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
	    (ret = dbenv->set_tmp_dir(dbenv, dir)) != 0)
		return ret;
	/* Start the lock and thread tables small: they grow as needed, and
	 * each process that attaches (a POP3 or IMAP session: one user's
	 * store) pays for what was made in its memory. */
	if ((ret = dbenv->set_memory_init(dbenv, DB_MEM_LOCK, 64)) != 0 ||
	    (ret = dbenv->set_memory_init(dbenv, DB_MEM_LOCKOBJECT, 64)) != 0 ||
	    (ret = dbenv->set_memory_init(dbenv, DB_MEM_LOCKER, 64)) != 0 ||
	    (ret = dbenv->set_memory_init(dbenv, DB_MEM_THREAD, 16)) != 0 ||
	    (ret = dbenv->set_memory_init(dbenv, DB_MEM_TRANSACTION, 16)) != 0)
		return ret;
	/* A store's environment (DICT_ENV_SMALL) serves one user: one lock
	 * partition and a small lock hash instead of one per CPU and 1,031
	 * buckets, a 16 kB log buffer instead of 32 kB.  What an attaching
	 * session writes in the primary region fell from 112 to 48 kB. */
	if (small && ((ret = dbenv->set_lk_partitions(dbenv, 1)) != 0 ||
	    (ret = dbenv->set_lk_tablesize(dbenv, 31)) != 0 ||
	    (ret = dbenv->set_lg_bsize(dbenv, 16 * 1024)) != 0))
		return ret;
	return 0;
}

/*
 * DB_REGISTER refuses to open (EINVAL, BDB1528) when a slot of the registry
 * holds our pid, without asking whether it is alive.  Unless this process
 * really has the environment open twice, the slot is a dead process whose
 * pid we got again (likely after a container restart: pids start at 1).
 * Removing the file is the documented way out: the next open creates it
 * again and runs recovery.  1 if removed.
 */
static int
stale_registry(struct dict_env *e)
{
	struct dict_env *o;
	struct buf path;
	int rv = 0;

	if (strstr(e->lasterr, "BDB1528") == NULL)
		return 0;
	LIST_FOREACH(o, &open_envs, link)
		if (o != e && o->pid == e->pid && strcmp(o->dir, e->dir) == 0)
			return 0;
	buf_init(&path, PATH_MAX);
	if (buf_try_printf(&path, "%s/__db.register", e->dir) == 0 &&
	    unlink(buf_cstr(&path)) == 0) {
		log_warning("dict %s: the registry named this process (a dead "
		    "one with the same pid): removed it, recovering", e->dir);
		rv = 1;
	}
	buf_free(&path);
	return rv;
}

static int
env_handle_open(struct dict_env *e, struct buf *err)
{
	DB_ENV *dbenv;
	int again, locked, ret;

	for (again = 1;; again = 0) {
		e->lasterr[0] = '\0';
		if ((ret = db_env_create(&dbenv, 0)) != 0) {
			set_err(e, err, "db_env_create: %s", db_strerror(ret));
			return -1;
		}
		dbenv->app_private = e;
		if ((ret = env_configure(dbenv, bdb_home(e), e->nosync,
		    e->small)) == 0) {
			/* No failchk while recovery may run. */
			locked = lockfile_take(e, OPEN_LOCK_WAIT_MS);
			ret = dbenv->open(dbenv, bdb_home(e), ENV_FLAGS,
			    FILE_MODE);
			if (locked)
				lockfile_drop(e);
		}
		if (ret == 0)
			break;
		/* A handle whose open failed must still be closed. */
		(void)dbenv->close(dbenv, 0);
		if (!again || ret != EINVAL || !stale_registry(e)) {
			if (ret == DB_RUNRECOVERY)
				e->need_recover = 1;
			set_err(e, err, "open: %s", db_strerror(ret));
			return -1;
		}
	}
	e->dbenv = dbenv;
	return 0;
}

/* Close the BDB handles but keep ours.  DB_NOSYNC: the log makes every
 * commit durable; the checkpoints write the pages. */
static void
env_handle_close(struct dict_env *e)
{
	struct dict *d;

	LIST_FOREACH(d, &e->dicts, link) {
		if (d->db != NULL)
			(void)d->db->close(d->db, DB_NOSYNC);
		d->db = NULL;
	}
	if (e->dbenv != NULL) {
		if (!e->need_recover)
			(void)e->dbenv->txn_checkpoint(e->dbenv, CKP_KBYTES,
			    CKP_MINUTES, 0);
		(void)e->dbenv->close(e->dbenv, 0);
	}
	e->dbenv = NULL;
}

/* Sleep before try number attempt + 2: random, so that two processes that
 * collided do not collide again. */
static void
backoff(unsigned int attempt)
{
	struct timespec ts;
	uint32_t r, max_us;

	max_us = 1000u << (attempt < 6 ? attempt : 6);
	rand_bytes(&r, sizeof(r));
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(max_us / 2 + r % (max_us / 2)) * 1000;
	(void)nanosleep(&ts, NULL);
}

static int db_handle_open(struct dict *, struct buf *);

/*
 * DB_RUNRECOVERY was seen: close every handle and open the environment
 * again.  DB_REGISTER | DB_RECOVER runs recovery if the registry shows a
 * dead process; otherwise, if the region is panicked, DB_ENV->open retries
 * with recovery by itself (env_open.c).  If another process recovered
 * first, we just join the new environment.
 */
static int
env_recover(struct dict_env *e, struct buf *err)
{
	struct dict *d;
	int i;

	for (i = 0; i < RECOVER_TRIES; i++) {
		log_warning("dict %s: reopening the environment", e->dir);
		env_handle_close(e);
		e->need_recover = 0;
		if (env_handle_open(e, err) == -1) {
			if (e->need_recover)
				continue;
			return -1;
		}
		LIST_FOREACH(d, &e->dicts, link)
			if (db_handle_open(d, err) != DICT_OK)
				break;
		if (d == NULL)
			return 0;
		if (!e->need_recover)
			return -1;
	}
	return -1;
}

/* Before any work outside a transaction: the handle must be ours and up. */
static int
env_ready(struct dict_env *e, struct buf *err)
{
	if (e->pid != getpid()) {
		/* A forked child shares the parent's registry slot and
		 * transactions; it must open its own handle. */
		set_err(e, err, "handle opened by process %ld", (long)e->pid);
		return -1;
	}
	if (e->dbenv != NULL && !e->need_recover)
		return 0;
	return env_recover(e, err);
}

/* Open (or reopen) the DB handle of d in a NOWAIT transaction: without
 * one, DB->open would block on a lock left by a dead process. */
static int
db_handle_open(struct dict *d, struct buf *err)
{
	struct dict_env *e = d->e;
	DB_TXN *txn;
	DB *db;
	unsigned int attempt;
	int ret;

	for (attempt = 0;; attempt++) {
		if ((ret = e->dbenv->txn_begin(e->dbenv, NULL, &txn,
		    DB_TXN_NOWAIT)) != 0)
			break;
		if ((ret = db_create(&db, e->dbenv, 0)) != 0) {
			(void)txn->abort(txn);
			break;
		}
		ret = db->open(db, txn, d->name, NULL, DB_BTREE,
		    d->create ? DB_CREATE : 0, FILE_MODE);
		if (ret == 0) {
			/* The handle is usable only once this commits; the
			 * transaction is gone whatever commit returns. */
			if ((ret = txn->commit(txn, 0)) == 0) {
				d->db = db;
				return DICT_OK;
			}
			(void)db->close(db, 0);
			break;
		}
		(void)db->close(db, 0);
		(void)txn->abort(txn);
		if ((ret != DB_LOCK_DEADLOCK && ret != DB_LOCK_NOTGRANTED) ||
		    attempt + 1 == TXN_TRIES)
			break;
		backoff(attempt);
		if (attempt >= FAILCHK_FROM &&
		    (ret = env_failchk(e)) == DB_RUNRECOVERY)
			break;
	}
	if (ret == DB_RUNRECOVERY)
		e->need_recover = 1;
	set_err(e, err, "open %s: %s", d->name, db_strerror(ret));
	return ret == ENOENT ? DICT_NOTFOUND : DICT_ERROR;
}

/* What a BDB return means for the caller and for the transaction. */
static int
bdb_result(struct dict_txn *t, int ret, const char *what)
{
	switch (ret) {
	case 0:
		return DICT_OK;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		return DICT_NOTFOUND;
	case DB_KEYEXIST:
		return DICT_EXISTS;
	case DB_RUNRECOVERY:
		t->e->need_recover = 1;
		/* FALLTHROUGH */
	case DB_LOCK_DEADLOCK:
	case DB_LOCK_NOTGRANTED:
		t->retry = 1;
		return DICT_RETRY;
	default:
		t->failed = 1;
		log_error("dict %s: %s: %s", t->e->dir, what,
		    db_strerror(ret));
		return DICT_ERROR;
	}
}

/* Point a DBT at caller bytes.  BDB only reads through data for input
 * DBTs without DB_DBT_USERMEM, so dropping const is safe. */
static int
dbt_set(DBT *dbt, struct sv v)
{
	memset(dbt, 0, sizeof(*dbt));
	if (v.n > UINT32_MAX)
		return -1;
	dbt->data = (void *)(uintptr_t)(v.p != NULL ? v.p : "");
	dbt->size = (u_int32_t)v.n;
	return 0;
}


/*
 * A checkpoint when enough log has gone by (CKP_KBYTES, CKP_MINUTES).
 * Asking costs BDB a look at the log file, so a transaction that only
 * read does not ask, and a process asks at most once a second; closing
 * the environment asks too.
 */
static void
checkpoint(struct dict_env *e, int wrote)
{
	uint64_t now;

	if (!wrote || (now = now_ms()) < e->last_ckp + 1000)
		return;
	e->last_ckp = now;
	if (e->dbenv->txn_checkpoint(e->dbenv, CKP_KBYTES, CKP_MINUTES, 0) ==
	    DB_RUNRECOVERY)
		e->need_recover = 1;
}

/*
 * One try of a transaction.  The transaction commits only if fn returned
 * DICT_OK and no operation in it failed: after a lock conflict or a
 * database error BDB requires an abort, whatever fn made of the error.
 */
static int
txn_once(struct dict_env *e, u_int32_t flags, dict_txn_fn fn, void *arg,
    struct buf *err, int *retry)
{
	struct dict_txn t;
	int ret, rv;

	*retry = 0;
	memset(&t, 0, sizeof(t));
	t.e = e;
	if ((ret = e->dbenv->txn_begin(e->dbenv, NULL, &t.txn,
	    flags | DB_TXN_NOWAIT)) != 0) {
		if (bdb_result(&t, ret, "txn_begin") == DICT_RETRY)
			*retry = 1;
		else
			set_err(e, err, "txn_begin: %s", db_strerror(ret));
		return *retry ? DICT_RETRY : DICT_ERROR;
	}
	e->cur = &t;
	rv = fn(&t, arg);
	e->cur = NULL;
	if (rv == DICT_OK && !t.retry && !t.failed) {
		if ((ret = t.txn->commit(t.txn, 0)) == 0) {
			checkpoint(e, t.wrote);
			return DICT_OK;
		}
		/* Not retried: the commit may have reached the log. */
		if (ret == DB_RUNRECOVERY)
			e->need_recover = 1;
		set_err(e, err, "commit, outcome unknown: %s",
		    db_strerror(ret));
		return DICT_ERROR;
	}
	if ((ret = t.txn->abort(t.txn)) != 0) {
		/* BDB panics the environment when an abort fails. */
		log_warning("dict %s: abort: %s", e->dir, db_strerror(ret));
		e->need_recover = 1;
	}
	if (t.retry || rv == DICT_RETRY) {
		*retry = 1;
		return DICT_RETRY;
	}
	if (t.failed) {
		set_err(e, err, "database error");
		return DICT_ERROR;
	}
	return rv;
}

static int
txn_run(struct dict_env *e, u_int32_t flags, dict_txn_fn fn, void *arg,
    struct buf *err)
{
	unsigned int attempt;
	int rv, retry;

	if (e->cur != NULL) {
		set_err(e, err, "a transaction is already running");
		return DICT_ERROR;
	}
	for (attempt = 0;; attempt++) {
		if (env_ready(e, err) == -1)
			return DICT_ERROR;
		rv = txn_once(e, flags, fn, arg, err, &retry);
		if (!retry)
			return rv;
		if (attempt + 1 == TXN_TRIES)
			break;
		backoff(attempt);
		if (attempt >= FAILCHK_FROM && !e->need_recover)
			(void)env_failchk(e);
	}
	set_err(e, err, "gave up after %d tries", TXN_TRIES);
	return DICT_RETRY;
}

int
dict_txn_run(struct dict_env *e, dict_txn_fn fn, void *arg, struct buf *err)
{
	return txn_run(e, 0, fn, arg, err);
}

/*
 * exit() with an environment open: close it, so that our registry slot is
 * freed and the next process does not take us for dead.  If exit() came
 * from inside a transaction (log_fatal in fn), abort that first.
 */
static void
close_at_exit(void)
{
	struct dict_env *e;

	while ((e = LIST_FIRST(&open_envs)) != NULL) {
		if (e->pid != getpid()) {
			LIST_REMOVE(e, link);	/* the parent's, not ours */
			e->listed = 0;
			continue;
		}
		if (e->cur != NULL) {
			(void)e->cur->txn->abort(e->cur->txn);
			e->cur = NULL;
		}
		dict_env_close(&e);
	}
}

int
dict_env_open(const char *dir, int flags, struct dict_env **envp,
    struct buf *err)
{
	struct dict_env *e;
	struct buf path;
	struct stat st;

	*envp = NULL;
	if ((flags & DICT_ENV_CREATE) && mkdir_p(dir, DIR_MODE) == -1) {
		set_err(NULL, err, "dict %s: mkdir: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		set_err(NULL, err, "dict %s: not a directory", dir);
		return -1;
	}
	e = xcalloc(1, sizeof(*e));
	LIST_INIT(&e->dicts);
	e->pid = getpid();
	e->nosync = (flags & DICT_ENV_NOSYNC) != 0;
	e->small = (flags & DICT_ENV_SMALL) != 0;
	/* Absolute, so that a reopen after a chdir finds the same place. */
	if ((e->dir = realpath(dir, NULL)) == NULL)
		e->dir = xstrdup(dir);
	buf_init(&path, PATH_MAX);
	if (buf_try_printf(&path, "%s/%s", e->dir, LOCKFILE) == -1 ||
	    (e->lockfd = open(buf_cstr(&path), O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, FILE_MODE)) == -1) {
		set_err(e, err, "%s: %s", LOCKFILE, strerror(errno));
		buf_free(&path);
		free(e->dir);
		free(e);
		return -1;
	}
	buf_free(&path);
	if (env_handle_open(e, err) == -1 &&
	    (!e->need_recover || env_recover(e, err) == -1)) {
		(void)close(e->lockfd);
		free(e->dir);
		free(e);
		return -1;
	}
	if (!atexit_set && atexit(close_at_exit) == 0)
		atexit_set = 1;
	LIST_INSERT_HEAD(&open_envs, e, link);
	e->listed = 1;
	*envp = e;
	return 0;
}

void
dict_env_close(struct dict_env **envp)
{
	struct dict_env *e = *envp;
	struct dict *d;

	if (e == NULL)
		return;
	*envp = NULL;
	if (e->cur != NULL)
		log_panic("dict_env_close inside a transaction");
	if (e->listed)
		LIST_REMOVE(e, link);
	/* In a forked child the BDB handles belong to the parent: closing
	 * them would give up the parent's registry slot. */
	if (e->pid == getpid())
		env_handle_close(e);
	while ((d = LIST_FIRST(&e->dicts)) != NULL) {
		LIST_REMOVE(d, link);
		d->e = NULL;
		d->db = NULL;
	}
	if (e->lockfd != -1)
		(void)close(e->lockfd);
	free(e->dir);
	free(e);
}

/* A database name is a plain file name inside the environment. */
static int
name_ok(const char *name)
{
	return name[0] != '\0' && name[0] != '.' && strchr(name, '/') == NULL;
}

int
dict_open(struct dict_env *e, const char *name, int create, struct dict **dp,
    struct buf *err)
{
	struct dict *d;
	int i, rv;

	*dp = NULL;
	if (!name_ok(name)) {
		set_err(e, err, "bad database name");
		return DICT_ERROR;
	}
	if (e->cur != NULL) {
		set_err(e, err, "dict_open inside a transaction");
		return DICT_ERROR;
	}
	if (env_ready(e, err) == -1)
		return DICT_ERROR;
	d = xcalloc(1, sizeof(*d));
	d->e = e;
	d->name = xstrdup(name);
	d->create = create;
	for (i = 0;; i++) {
		if ((rv = db_handle_open(d, err)) == DICT_OK)
			break;
		if (i + 1 == RECOVER_TRIES || !e->need_recover ||
		    env_recover(e, err) == -1) {
			free(d->name);
			free(d);
			return rv;
		}
	}
	/* It exists now: a reopen after recovery must not create it. */
	d->create = 0;
	LIST_INSERT_HEAD(&e->dicts, d, link);
	*dp = d;
	return DICT_OK;
}

void
dict_close(struct dict **dp)
{
	struct dict *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;
	if (d->e != NULL) {
		if (d->e->cur != NULL)
			log_panic("dict_close inside a transaction");
		LIST_REMOVE(d, link);
		if (d->db != NULL && d->e->pid == getpid())
			(void)d->db->close(d->db, DB_NOSYNC);
	}
	free(d->name);
	free(d);
}

/* The checks every operation makes.  t must be the transaction running in
 * d's environment; t == NULL runs one of its own, which cannot be done
 * while another one runs in this process (it would meet our own locks). */
static int
op_ok(struct dict *d, struct dict_txn *t)
{
	if (d == NULL || d->e == NULL) {
		log_error("dict: operation on a closed database");
		return 0;
	}
	if (t != d->e->cur || (t != NULL && d->db == NULL)) {
		log_error("dict %s: %s: wrong transaction", d->e->dir,
		    d->name);
		return 0;
	}
	return 1;
}

static int
get_in(struct dict *d, struct dict_txn *t, struct sv key, struct buf *val)
{
	DBT k, v;
	int rv;

	buf_reset(val);
	if (t->retry)
		return DICT_RETRY;
	if (dbt_set(&k, key) == -1)
		return DICT_ERROR;
	memset(&v, 0, sizeof(v));
	rv = bdb_result(t, d->db->get(d->db, t->txn, &k, &v, 0), "get");
	if (rv != DICT_OK)
		return rv;
	if (buf_try_set(val, v.data, v.size) == -1) {
		/* Never truncate: a cut value would look valid. */
		log_error("dict %s: %s: value of %lu bytes over the limit",
		    d->e->dir, d->name, (unsigned long)v.size);
		buf_reset(val);
		return DICT_ERROR;
	}
	return DICT_OK;
}

static int
put_in(struct dict *d, struct dict_txn *t, struct sv key, struct sv val,
    int flags)
{
	DBT k, v;

	t->wrote = 1;
	if (t->retry)
		return DICT_RETRY;
	if ((flags & ~DICT_NEW) != 0 || dbt_set(&k, key) == -1 ||
	    dbt_set(&v, val) == -1)
		return DICT_ERROR;
	return bdb_result(t, d->db->put(d->db, t->txn, &k, &v,
	    (flags & DICT_NEW) ? DB_NOOVERWRITE : 0), "put");
}

static int
del_in(struct dict *d, struct dict_txn *t, struct sv key)
{
	DBT k;

	t->wrote = 1;
	if (t->retry)
		return DICT_RETRY;
	if (dbt_set(&k, key) == -1)
		return DICT_ERROR;
	return bdb_result(t, d->db->del(d->db, t->txn, &k, 0), "del");
}

/* An operation called without a transaction, run in its own. */
struct op {
	int kind;		/* 'g', 'p' or 'd' */
	struct dict *d;
	struct sv key, val;
	struct buf *out;
	int flags;
};

static int
op_fn(struct dict_txn *t, void *arg)
{
	struct op *o = arg;

	if (o->kind == 'g')
		return get_in(o->d, t, o->key, o->out);
	if (o->kind == 'p')
		return put_in(o->d, t, o->key, o->val, o->flags);
	return del_in(o->d, t, o->key);
}

int
dict_get(struct dict *d, struct dict_txn *t, struct sv key, struct buf *val)
{
	struct op o = { .kind = 'g', .d = d, .key = key, .out = val };

	if (!op_ok(d, t)) {
		buf_reset(val);
		return DICT_ERROR;
	}
	if (t != NULL)
		return get_in(d, t, key, val);
	/* A single read needs no repeatable read. */
	return txn_run(d->e, DB_READ_COMMITTED, op_fn, &o, NULL);
}

int
dict_put(struct dict *d, struct dict_txn *t, struct sv key, struct sv val,
    int flags)
{
	struct op o = { .kind = 'p', .d = d, .key = key, .val = val,
	    .flags = flags };

	if (!op_ok(d, t))
		return DICT_ERROR;
	if (t != NULL)
		return put_in(d, t, key, val, flags);
	return txn_run(d->e, 0, op_fn, &o, NULL);
}

int
dict_del(struct dict *d, struct dict_txn *t, struct sv key)
{
	struct op o = { .kind = 'd', .d = d, .key = key };

	if (!op_ok(d, t))
		return DICT_ERROR;
	if (t != NULL)
		return del_in(d, t, key);
	return txn_run(d->e, 0, op_fn, &o, NULL);
}

struct scan {
	struct dict *d;
	struct sv prefix;
	struct sv from;		/* first key to look at (>= prefix), or none */
	dict_scan_fn fn;
	void *arg;
	int track;		/* remember the last key, to resume */
	struct buf last;	/* last key handed to fn */
	int have_last;
	int stopped;		/* fn asked to stop... */
	int stopval;		/* ...with this value */
};

/* Position the cursor: at the prefix, or just after the last key handed
 * out when a scan outside a transaction is resumed. */
static int
scan_first(struct scan *s, DBC *c, DBT *k, DBT *v)
{
	struct sv kv;
	int ret;

	memset(v, 0, sizeof(*v));
	if (s->have_last)
		(void)dbt_set(k, buf_sv(&s->last));
	else if (s->from.n > 0)
		(void)dbt_set(k, s->from);
	else if (s->prefix.n > 0)
		(void)dbt_set(k, s->prefix);
	else {
		memset(k, 0, sizeof(*k));
		return c->get(c, k, v, DB_FIRST);
	}
	if ((ret = c->get(c, k, v, DB_SET_RANGE)) != 0 || !s->have_last)
		return ret;
	kv = sv_make(k->data, k->size);
	if (sv_eq(kv, buf_sv(&s->last)))
		ret = c->get(c, k, v, DB_NEXT);
	return ret;
}

static int
scan_in(struct scan *s, struct dict_txn *t)
{
	DBC *c;
	DBT k, v;
	struct sv kv;
	int ret, rv, r;

	if (t->retry)
		return DICT_RETRY;
	if ((ret = s->d->db->cursor(s->d->db, t->txn, &c, 0)) != 0)
		return bdb_result(t, ret, "cursor");
	rv = DICT_OK;
	for (ret = scan_first(s, c, &k, &v); ret == 0;
	    ret = c->get(c, &k, &v, DB_NEXT)) {
		kv = sv_make(k.data, k.size);
		if (kv.n < s->prefix.n ||
		    memcmp(kv.p, s->prefix.p, s->prefix.n) != 0)
			break;
		if (s->track) {
			if (buf_try_set(&s->last, kv.p, kv.n) == -1) {
				rv = DICT_ERROR;
				break;
			}
			s->have_last = 1;
		}
		if ((r = s->fn(kv, sv_make(v.data, v.size), s->arg)) != 0) {
			s->stopped = 1;
			s->stopval = rv = r;
			break;
		}
	}
	if (ret != 0 && ret != DB_NOTFOUND)
		rv = bdb_result(t, ret, "cursor get");
	if ((ret = c->close(c)) != 0 && rv == DICT_OK)
		rv = bdb_result(t, ret, "cursor close");
	return rv;
}

/* A scan without a transaction runs in read-committed ones; after a lock
 * conflict it resumes after the last key handed out, so fn never sees a
 * key twice. */
static int
op_scan(struct dict_txn *t, void *arg)
{
	struct scan *s = arg;
	int rv;

	rv = scan_in(s, t);
	return s->stopped ? DICT_OK : rv;
}

int
dict_scan(struct dict *d, struct dict_txn *t, struct sv prefix,
    dict_scan_fn fn, void *arg)
{
	return dict_scan_from(d, t, prefix, sv_make("", 0), fn, arg);
}

int
dict_scan_from(struct dict *d, struct dict_txn *t, struct sv prefix,
    struct sv from, dict_scan_fn fn, void *arg)
{
	struct scan s;
	int rv;

	if (!op_ok(d, t))
		return DICT_ERROR;
	memset(&s, 0, sizeof(s));
	s.d = d;
	s.prefix = prefix;
	/* a start before the prefix means the prefix */
	if (from.n >= prefix.n && memcmp(from.p, prefix.p, prefix.n) == 0)
		s.from = from;
	if (s.prefix.p == NULL)
		s.prefix = sv_make("", 0);
	s.fn = fn;
	s.arg = arg;
	if (t != NULL)
		return scan_in(&s, t);
	s.track = 1;
	buf_init(&s.last, 0);
	rv = txn_run(d->e, DB_READ_COMMITTED, op_scan, &s, NULL);
	buf_free(&s.last);
	if (rv == DICT_OK && s.stopped)
		return s.stopval;
	return rv;
}

int
dict_env_failchk(struct dict_env *e)
{
	int ret;

	if (e->cur != NULL || env_ready(e, NULL) == -1)
		return DICT_ERROR;
	if ((ret = env_failchk(e)) == 0)
		return DICT_OK;
	if (ret == DB_RUNRECOVERY && env_recover(e, NULL) == 0)
		return DICT_OK;
	return DICT_ERROR;
}
