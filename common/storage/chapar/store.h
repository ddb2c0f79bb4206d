/*
 * store: one user's mail -- Maildir++ folders (maildir.h) and their index.
 *
 * The maildir holds the messages and is the truth for them; the index, a
 * Berkeley DB database in HOME/chapar-index, holds what the maildir cannot:
 * UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, each message's UID, flags,
 * keywords, MODSEQ, internal date and size, the cached IMAP ENVELOPE and
 * BODYSTRUCTURE, expunged UIDs with their MODSEQ (QRESYNC), subscriptions
 * and the quota usage.  Every message file carries its UID in its name
 * (",U="), and every folder its UIDVALIDITY and a UIDNEXT bound in
 * HOME/FOLDER/chapar-uid, so a lost index is rebuilt keeping the UIDs.
 *
 * Writers (delivery, APPEND, COPY, MOVE, STORE, EXPUNGE) change the index
 * in transactions and the maildir by atomic renames and links, in an
 * order that lets a crash at any instant lose nothing that was
 * acknowledged: a message's file is written and fsync'd in tmp/ first,
 * linked into cur/ inside the transaction that gives it its UID, and the
 * directory fsync'd before the caller is told.
 *
 * Several processes may use one store at once (IMAP sessions, POP3,
 * delivery).  A change is announced through HOME/chapar-index/notify,
 * which a process waiting for changes (IMAP IDLE) watches with inotify.
 */
#ifndef CHAPAR_STORE_H
#define CHAPAR_STORE_H

#include <stdint.h>
#include <sys/types.h>

#include "chapar/buf.h"
#include "chapar/maildir.h"

/* Results besides 0 / -1 */
#define STORE_NOTFOUND 1	/* no such folder / message */
#define STORE_EXISTS 2		/* folder already there */
#define STORE_OVERQUOTA 3	/* the write would pass the quota */

#define STORE_KEYWORDS_MAX 64	/* keywords per folder (bits) */

struct store_opts {
	uint64_t quota_bytes;	/* 0: unlimited */
	uint64_t quota_messages;
	/* The IMAP ENVELOPE and BODYSTRUCTURE of a message, cached in the
	 * index (NULL: store_mime_parse). */
	void (*parse)(const char *data, size_t len, struct buf *envelope,
	    struct buf *bodystructure);
};

/* The default parse: the MIME parser's ENVELOPE and extended IMAP4rev1
 * BODYSTRUCTURE. */
void store_mime_parse(const char *data, size_t len, struct buf *envelope,
    struct buf *bodystructure);

struct store;
struct mbox;

/* Open the store in the directory home ("." for a process chrooted into
 * it), making INBOX and the index when missing. */
int store_open(const char *home, const struct store_opts *, struct store **,
    struct buf *err);
void store_close(struct store **);
/* The directory it was opened with. */
const char *store_home(const struct store *);
/* New limits for a store kept open (the admin may have changed them). */
void store_set_quota(struct store *, uint64_t bytes, uint64_t messages);
/* Set the index aside (chapar-index.broken) so that the next store_open
 * builds it anew from the maildir, keeping UIDs and UIDVALIDITY; keywords,
 * subscriptions and MODSEQ history are lost.  No process may have the
 * store open. */
int store_index_reset(const char *home, struct buf *err);
/* Remove dfd/name and all below it; a link is removed, never followed.
 * 0, or -1 with errno. */
int store_rm_tree_at(int dfd, const char *name);

/* --- folders ------------------------------------------------------------- */

struct folder_info {
	const char *name;	/* IMAP form, '/' between levels */
	const char *special;	/* "\\Sent", ... or "" */
	int subscribed;
	int has_children;
	uint32_t messages, unseen;
	uint64_t bytes;
};

typedef int (*folder_fn)(const struct folder_info *, void *arg);
int store_folders(struct store *, folder_fn, void *arg, struct buf *err);
int store_folder_create(struct store *, const char *name, const char *special,
    struct buf *err);
int store_folder_delete(struct store *, const char *name, struct buf *err);
int store_folder_rename(struct store *, const char *from, const char *to,
    struct buf *err);
int store_subscribe(struct store *, const char *name, int on,
    struct buf *err);
/* The folder with a special use (RFC 6154: "\\Drafts", "\\Sent",
 * "\\Junk", "\\Trash", "\\Archive"), made on first use. */
int store_special(struct store *, const char *use, struct buf *name,
    struct buf *err);

/* Usage against the quota. */
int store_usage(struct store *, uint64_t *bytes, uint64_t *messages,
    struct buf *err);
/* Count again from the index (chapar quota recalc). */
int store_usage_recalc(struct store *, struct buf *err);
/* The quota warning level last told to the user (a percentage, 0: none):
 * set it to level, the old one in *old. */
int store_warn_level(struct store *, unsigned level, unsigned *old,
    struct buf *err);

/* A descriptor that becomes readable when anything in the store changes
 * (inotify; read and discard its events), or -1. */
int store_notify_fd(struct store *);

/* --- one folder ---------------------------------------------------------- */

int mbox_open(struct store *, const char *name, struct mbox **,
    struct buf *err);
/* The same without the sync, for a writer that only adds messages
 * (delivery, import): what others did is left for the next reader. */
int mbox_open_append(struct store *, const char *name, struct mbox **,
    struct buf *err);
void mbox_close(struct mbox **);
/* Pick up what others did to the maildir (deliveries by outside tools,
 * files removed or renamed).  mbox_open does it once.  It looks at the
 * whole of cur/ only when cur/ changed since our last write;
 * mbox_resync always does (chapar reindex). */
int mbox_sync(struct mbox *, struct buf *err);
int mbox_resync(struct mbox *, struct buf *err);

struct mbox_status {
	uint32_t uidvalidity, uidnext, messages, unseen, deleted;
	uint64_t highestmodseq, bytes;
};
int mbox_status(struct mbox *, struct mbox_status *, struct buf *err);

struct msg {
	uint32_t uid;
	unsigned flags;		/* MF_ bits */
	uint64_t keywords;	/* bits into the folder's keyword table */
	uint64_t modseq;
	int64_t internaldate;	/* seconds since the epoch */
	uint64_t size;		/* RFC822.SIZE: the file, CRLF lines */
	struct sv file;		/* name in cur/ */
	struct sv envelope, bodystructure;	/* cached, may be empty */
};

typedef int (*msg_fn)(const struct msg *, void *arg);
/* Messages with lo <= UID <= hi, in UID order. */
int mbox_messages(struct mbox *, uint32_t lo, uint32_t hi, msg_fn, void *arg,
    struct buf *err);
/* The same without the cached ENVELOPE and BODYSTRUCTURE (left empty):
 * for listings that need only UIDs, flags, sizes and names (POP3). */
int mbox_messages_brief(struct mbox *, uint32_t lo, uint32_t hi, msg_fn,
    void *arg, struct buf *err);
/* Open a message's file for reading: a descriptor, or -1 with
 * STORE_NOTFOUND-like errno ENOENT when it is gone. */
int mbox_msg_open(struct mbox *, uint32_t uid, struct buf *err);
/* The same, trying first the file name a listing gave (struct msg's
 * file), which spares the index a look-up; the index is asked when that
 * name is gone (the flags in it changed). */
int mbox_msg_open_name(struct mbox *, uint32_t uid, struct sv file,
    struct buf *err);

/* The folder's keyword names; a keyword's bit is its position. */
int mbox_keywords(struct mbox *, struct buf *names_nul_separated,
    size_t *count, struct buf *err);

/* --- writing ------------------------------------------------------------- */

/* A message file being written before it goes into a folder. */
struct store_tmp;
int store_tmp_open(struct store *, struct store_tmp **, struct buf *err);
int store_tmp_write(struct store_tmp *, const void *, size_t);
/* Copy len bytes of the file fd, from offset 0, to the end. */
int store_tmp_copy(struct store_tmp *, int fd, uint64_t len);
/* The ENVELOPE and BODYSTRUCTURE, when the caller has them already (one
 * message delivered to many users is parsed once). */
void store_tmp_parsed(struct store_tmp *, struct sv envelope,
    struct sv bodystructure);
/* fsync and close; then it can be appended (once). */
int store_tmp_finish(struct store_tmp *, struct buf *err);
void store_tmp_free(struct store_tmp **);	/* removes the file if unused */

/* Put a finished tmp file into the folder with these flags and keywords
 * (names, NULL-terminated) and internal date (0: now).  On success *uid
 * is its UID and the message is durable.  STORE_OVERQUOTA when it does
 * not fit. */
int mbox_append(struct mbox *, struct store_tmp *, unsigned flags,
    const char *const *keywords, int64_t internaldate, uint32_t *uid,
    struct buf *err);

/* Change flags (mode: '+' add, '-' remove, '=' replace) of the messages
 * with lo <= UID <= hi; unchangedsince (RFC 7162, 0: none) keeps messages
 * whose MODSEQ is higher unchanged (they are reported by failed).  fn, if
 * not NULL, is told each message whose flags changed. */
int mbox_store_flags(struct mbox *, uint32_t lo, uint32_t hi, int mode,
    unsigned flags, const char *const *keywords, uint64_t unchangedsince,
    msg_fn changed, msg_fn failed, void *arg, struct buf *err);

/* Remove messages flagged \Deleted with lo <= UID <= hi; fn is told each
 * UID removed. */
int mbox_expunge(struct mbox *, uint32_t lo, uint32_t hi, msg_fn, void *arg,
    struct buf *err);

/* Copy (or move) one message into another folder of the same store; the
 * new UID in *newuid. */
int mbox_copy(struct mbox *src, uint32_t uid, struct mbox *dst, int move,
    uint32_t *newuid, struct buf *err);

/* UIDs expunged after modseq (RFC 7162 VANISHED), in order. */
int mbox_vanished(struct mbox *, uint64_t modseq, msg_fn, void *arg,
    struct buf *err);

#endif
