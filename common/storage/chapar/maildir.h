/*
 * maildir: the on-disk side of the mail store (Maildir++).
 *
 *	HOME/cur HOME/new HOME/tmp		INBOX
 *	HOME/.Work/{cur,new,tmp}		"Work"
 *	HOME/.Work.2026/{cur,new,tmp}		"Work/2026"
 *
 * Folder names are what IMAP sees: UTF-8, '/' between levels.  On disk a
 * level is escaped so that '.' (Maildir++'s separator), '%', control
 * characters and DEL become %XX; nothing else changes, so names stay
 * readable.  A name can never leave HOME: levels "." and ".." and empty
 * levels are refused, '/' cannot reach the disk, and every directory is
 * opened relative to HOME without following links.
 *
 * Message files are named
 *
 *	TIME.M<usec>P<pid>Q<n>R<rand>.HOST,S=<size>,U=<uid>:2,<flags>
 *
 * S= is the size of the file, U= the IMAP UID (so that a lost index can
 * be rebuilt keeping UIDs), and the flags are Maildir's letters in ASCII
 * order: D(raft) F(lagged) P(assed) R(eplied) S(een) T(rashed = \Deleted).
 */
#ifndef CHAPAR_MAILDIR_H
#define CHAPAR_MAILDIR_H

#include <stdint.h>
#include <sys/types.h>

#include "chapar/buf.h"

#define MAILDIR_NAME_MAX 200	/* bytes of a folder name (IMAP form) */

/* IMAP system flags, as bits */
#define MF_SEEN		0x01
#define MF_ANSWERED	0x02
#define MF_FLAGGED	0x04
#define MF_DELETED	0x08
#define MF_DRAFT	0x10
#define MF_FORWARDED	0x20	/* $Forwarded: Maildir's P */
#define MF_ALL		0x3f

/* Folder name (IMAP form) -> directory name relative to HOME ("" for
 * INBOX, ".A.B%2Ec" for "A/B.c").  0, or -1 with *err. */
int maildir_folder_dir(struct sv name, struct buf *dir, const char **error_r);
/* Directory entry name (".A.B%2Ec") -> folder name ("A/B.c"); -1 if the
 * entry is not a Maildir++ folder. */
int maildir_dir_folder(const char *entry, struct buf *name);
/* Is this name INBOX (any case)? */
int maildir_is_inbox(struct sv name);

/* Flags <-> the ":2," letters. */
void maildir_flags_str(unsigned flags, struct buf *out);
unsigned maildir_flags_parse(const char *info);

/* A new unique base name (without ",U=" and ":2,"). */
void maildir_unique(size_t size, struct buf *out);

/* The pieces of a message file name. */
struct maildir_name {
	struct sv base;		/* up to ",U=" or ":2," */
	uint32_t uid;		/* 0 if no U= */
	uint64_t size;		/* from S=, 0 if none */
	int has_size;
	unsigned flags;		/* from ":2," */
};
int maildir_name_parse(const char *file, struct maildir_name *);
/* base + ",U=uid" + ":2," + flags */
void maildir_name_make(struct sv base, uint32_t uid, unsigned flags,
    struct buf *out);

/* Create the cur/new/tmp triple of a folder under dirfd (the folder's own
 * directory, made first if dir is not ""), mode 0700.  0 or -1 (errno). */
int maildir_make(int homefd, const char *dir);

/* A new file in HOME/tmp for a message being written: O_EXCL, 0600.
 * Returns its descriptor and its name (relative to HOME, "tmp/...") in
 * path, or -1 with errno. */
int maildir_tmp_create(int homefd, size_t size_hint, struct buf *path);

/* fsync a directory relative to homefd. */
int maildir_fsync_dir(int homefd, const char *dir, const char *sub);

#endif
