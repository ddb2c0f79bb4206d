/*
 * store_int.h: what store.c and mbox.c share.  Not for other callers.
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include "chapar/dict.h"
#include "chapar/rec.h"
#include "chapar/store.h"

struct store {
	int homefd;
	char *home;
	struct dict_env *env;
	struct dict *db;
	struct store_opts opts;
	int notify_fd;
	int lockfd;		/* chapar-index/folders.lock */
	struct {
		uint32_t id;
		int excl;
	} held[4];		/* folder locks this process holds */
};

struct mbox {
	struct store *st;
	char *name;		/* IMAP form ("INBOX" for the inbox) */
	char *dir;		/* on disk, relative to home: "" or ".A.B" */
	uint32_t id;
	uint32_t uidvalidity;
};

uint32_t st_get32(const char *);
void st_key_folder(struct buf *, const char *name);
void st_key_id(struct buf *, char kind, uint32_t id);
void st_key_msg(struct buf *, char kind, uint32_t id, uint32_t uid);
void st_key_file(struct buf *, uint32_t id, struct sv base);
int st_get_rec(struct store *, struct dict_txn *, const struct buf *key,
    struct rec *);
int st_put_rec(struct store *, struct dict_txn *, const struct buf *key,
    const struct rec *);
uint64_t st_num(const struct rec *, const char *name);
int st_uidfile_read(struct store *, const char *dir, uint32_t *validity,
    uint32_t *bound);
int st_uidfile_write(struct store *, const char *dir, uint32_t validity,
    uint32_t bound);
int st_folder_make(struct store *, const char *name, const char *dir,
    const char *special, struct buf *err);
void st_notify(struct store *);
int st_usage_add(struct store *, struct dict_txn *, int64_t bytes,
    int64_t msgs);
int st_over_quota(struct store *, struct dict_txn *, uint64_t bytes,
    uint64_t msgs);

/*
 * Folder locks: a byte per folder id in chapar-index/folders.lock (OFD
 * locks, dropped by the kernel when a process dies).  Every writer that
 * changes cur/ holds its folder's lock shared, sync holds it exclusive,
 * so sync never sees a writer's rename half done.  Taken before any
 * transaction starts, never inside one.  st_lock returns 1 (unlock it
 * later), 0 (already held by this process: do not unlock) or -1.
 */
int st_lock(struct store *, uint32_t id, int excl);
#define ST_APPEND_LOCK 0x80000000u	/* | id: the folder's append lock */
void st_unlock(struct store *, uint32_t id, int token);
/* Note cur/'s change time in the folder record f: sync skips a folder
 * whose cur/ has not changed since (see mbox_sync.c). */
void st_cur_stamp(struct mbox *, struct rec *f);

#define UID_STEP 1000

/* A new message into a folder, in a transaction: the one piece of code
 * that gives out UIDs (append, copy, move and sync all come here). */
struct st_add {
	struct mbox *mb;
	struct sv base;		/* new base name */
	const char *src;	/* file to link (or rename) into cur/ */
	int srcdir;		/* its directory descriptor */
	int rename;		/* move instead of link */
	unsigned flags;
	const char *const *kwnames;
	uint64_t kwbits;	/* when kwnames is NULL */
	int64_t date;
	uint64_t size;
	int check_quota;
	struct sv env, bs;
	uint32_t want_uid;	/* sync: keep this UID when it is free */
	/* out */
	uint32_t uid;
	struct buf linked;	/* what this run put in cur/ */
	int done_fs;
};

int st_add(struct st_add *, struct buf *err);

void cur_path(const struct mbox *, const char *name, struct buf *out);
/* The name in cur/ of the message with this base, whatever flags its name
 * has now (a flag change of another process may be under way, or have
 * been aborted): 0 with the name in out, or -1.  Reads cur/. */
int st_find_file(struct mbox *, struct sv base, struct buf *out);
void count(struct rec *f, int sign, unsigned flags, uint64_t size);
void count_flags(struct rec *f, unsigned from, unsigned to);
uint64_t next_modseq(struct rec *f);
uint64_t keyword_bits(struct rec *kw, const char *const *names, int *changed);
void msg_from_rec(uint32_t uid, const struct rec *r, struct buf *file,
    struct msg *m);
void parse_file(struct store *, int dirfd, const char *path, struct buf *env,
    struct buf *bs);
int mbox_expunge_uid(struct mbox *, uint32_t uid, struct buf *err);
int st_discover(struct store *, struct buf *err);
int st_rm_tree_at(int dfd, const char *name);

#endif
