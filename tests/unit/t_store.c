/* Unit tests: folder names, the store and its index, sync with the
 * maildir, index rebuild, quotas, concurrency and crashes. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chapar/maildir.h"
#include "chapar/store.h"
#include "chapar/util.h"
#include "harness.h"

static const char *
fdir(const char *name)
{
	static struct buf b;
	const char *e;

	if (b.max == 0)
		buf_init(&b, 1024);
	if (maildir_folder_dir(sv_from(name), &b, &e) == -1)
		return e;
	return buf_cstr(&b);
}

static void
maildir_names(void)
{
	struct buf b;
	struct maildir_name mn;
	const char *e;

	buf_init(&b, 1024);
	T_EQ_STR(fdir("INBOX"), "");
	T_EQ_STR(fdir("inbox"), "");
	T_EQ_STR(fdir("Work"), ".Work");
	T_EQ_STR(fdir("Work/2026"), ".Work.2026");
	T_EQ_STR(fdir("a.b/c%d"), ".a%2Eb.c%25d");
	T_EQ_STR(fdir("\xd9\x86\xd8\xa7\xd9\x85\xd9\x87\xe2\x80\x8c\xd9\x87\xd8"
	    "\xa7"), ".\xd9\x86\xd8\xa7\xd9\x85\xd9\x87\xe2\x80\x8c\xd9\x87\xd8"
	    "\xa7");
	T_EQ_STR(fdir("tab\there"), ".tab%09here");
	T_EQ_STR(fdir(".hidden"), ".%2Ehidden");
	/* hostile names never make a path */
	T_EQ_STR(fdir(".."), "empty, \".\" or \"..\" level in folder name");
	T_EQ_STR(fdir("a/../b"), "empty, \".\" or \"..\" level in folder "
	    "name");
	T_EQ_STR(fdir("/etc"), "empty, \".\" or \"..\" level in folder name");
	T_EQ_STR(fdir("a//b"), "empty, \".\" or \"..\" level in folder name");
	T_EQ_STR(fdir("a/"), "folder name ends with \"/\"");
	T_EQ_STR(fdir(""), "empty folder name");
	T_EQ_STR(fdir("bad\xff"), "folder name is not valid UTF-8");
	T_ASSERT(strchr(fdir("x/y/z"), '/') == NULL);
	T_ASSERT(maildir_dir_folder(".a%2Eb.c%25d", &b) == 0);
	T_EQ_STR(buf_cstr(&b), "a.b/c%d");
	T_ASSERT(maildir_dir_folder("..", &b) == -1);
	T_ASSERT(maildir_dir_folder(".a..b", &b) == -1);
	T_ASSERT(maildir_dir_folder("cur", &b) == -1);
	/* a name that does not fit the caller's buffer is refused */
	{
		struct buf small;

		buf_init(&small, 8);
		T_ASSERT(maildir_folder_dir(sv_from("a%b%c"), &small, &e) ==
		    -1);
		T_EQ_STR(e, "folder name too long once escaped");
		T_ASSERT(maildir_dir_folder(".abcdefghij", &small) == -1);
		buf_free(&small);
	}
	/* message names */
	T_ASSERT(maildir_name_parse("123.M1P2.host,S=42,U=7:2,FS", &mn) == 0);
	T_ASSERT(sv_eq_str(mn.base, "123.M1P2.host,S=42"));
	T_EQ_INT(mn.uid, 7);
	T_EQ_INT(mn.size, 42);
	T_EQ_INT(mn.flags, MF_FLAGGED | MF_SEEN);
	T_ASSERT(maildir_name_parse("123.abc", &mn) == 0);
	T_EQ_INT(mn.uid, 0);
	T_EQ_INT(mn.flags, 0);
	maildir_name_make(sv_from("B,S=3"), 9, MF_SEEN | MF_DRAFT |
	    MF_DELETED, &b);
	T_EQ_STR(buf_cstr(&b), "B,S=3,U=9:2,DST");
	buf_free(&b);
}

static char home[512];

static void
fresh_home(const char *name)
{
	(void)xsnprintf(home, sizeof(home), "%s/%s", t_tmpdir(), name);
	(void)mkdir(home, 0700);
}

static int
append(struct store *st, const char *folder, const char *text,
    unsigned flags, const char *const *kw, uint32_t *uid)
{
	struct store_tmp *t;
	struct mbox *mb;
	struct buf err;
	int r = -1;

	buf_init(&err, 1024);
	if (mbox_open(st, folder, &mb, &err) != 0)
		goto out;
	if (store_tmp_open(st, &t, &err) == 0) {
		if (store_tmp_write(t, text, strlen(text)) == 0 &&
		    store_tmp_finish(t, &err) == 0)
			r = mbox_append(mb, t, flags, kw, 0, uid, &err);
		store_tmp_free(&t);
	}
	mbox_close(&mb);
out:
	buf_free(&err);
	return r;
}

struct seen {
	uint32_t uid[64];
	unsigned flags[64];
	uint64_t modseq[64], kw[64], size[64];
	int n;
};

static int
note(const struct msg *m, void *arg)
{
	struct seen *s = arg;

	if (s->n < 64) {
		s->uid[s->n] = m->uid;
		s->flags[s->n] = m->flags;
		s->modseq[s->n] = m->modseq;
		s->kw[s->n] = m->keywords;
		s->size[s->n] = m->size;
		s->n++;
	}
	return 0;
}

static int
list(struct store *st, const char *folder, struct seen *s)
{
	struct mbox *mb;
	struct buf err;
	int r;

	memset(s, 0, sizeof(*s));
	buf_init(&err, 1024);
	if ((r = mbox_open(st, folder, &mb, &err)) != 0) {
		buf_free(&err);
		return r;
	}
	r = mbox_messages(mb, 1, UINT32_MAX, note, s, &err);
	mbox_close(&mb);
	buf_free(&err);
	return r;
}

static int
note_env(const struct msg *m, void *arg)
{
	struct buf *b = arg;

	buf_reset(b);
	buf_append(b, m->envelope.p, m->envelope.n);
	buf_puts(b, " | ");
	buf_append(b, m->bodystructure.p, m->bodystructure.n);
	return 1;
}

static void
store_append_read_status(void)
{
	struct store *st;
	struct mbox *mb;
	struct mbox_status ms;
	struct seen s;
	struct buf err;
	uint32_t uid;
	char got[64];
	ssize_t n;
	int fd;

	buf_init(&err, 1024);
	fresh_home("basic");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(append(st, "INBOX", "Subject: one\r\n\r\nbody one\r\n", 0,
	    NULL, &uid) == 0);
	T_EQ_INT(uid, 1);
	T_ASSERT(append(st, "inbox", "Subject: two\r\n\r\nbody two\r\n",
	    MF_SEEN, NULL, &uid) == 0);
	T_EQ_INT(uid, 2);
	T_ASSERT(list(st, "INBOX", &s) == 0);
	T_EQ_INT(s.n, 2);
	T_EQ_INT(s.flags[1], MF_SEEN);
	T_EQ_INT(s.size[0], 26);
	T_ASSERT(s.modseq[1] > s.modseq[0]);
	T_ASSERT(mbox_open(st, "INBOX", &mb, &err) == 0);
	T_ASSERT(mbox_status(mb, &ms, &err) == 0);
	T_EQ_INT(ms.messages, 2);
	T_EQ_INT(ms.unseen, 1);
	T_EQ_INT(ms.uidnext, 3);
	T_ASSERT(ms.uidvalidity > 0);
	fd = mbox_msg_open(mb, 2, &err);
	T_ASSERT(fd >= 0);
	n = read(fd, got, sizeof(got) - 1);
	close(fd);
	T_EQ_INT(n, 26);
	got[n] = '\0';
	T_EQ_STR(got, "Subject: two\r\n\r\nbody two\r\n");
	T_ASSERT(mbox_msg_open(mb, 99, &err) == -1);
	/* the IMAP views are cached at append (store_mime_parse) */
	{
		struct buf v;

		buf_init(&v, 4096);
		T_ASSERT(mbox_messages(mb, 2, 2, note_env, &v, &err) == 0);
		T_EQ_STR(buf_cstr(&v), "(NIL \"two\" NIL NIL NIL NIL NIL NIL "
		    "NIL NIL) | (\"TEXT\" \"PLAIN\" (\"CHARSET\" "
		    "\"US-ASCII\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)");
		buf_free(&v);
	}
	mbox_close(&mb);
	/* nothing left in tmp/ */
	{
		char p[600];
		DIR *d;
		struct dirent *de;
		int files = 0;

		(void)xsnprintf(p, sizeof(p), "%s/tmp", home);
		T_ASSERT((d = opendir(p)) != NULL);
		while ((de = readdir(d)) != NULL)
			files += de->d_name[0] != '.';
		closedir(d);
		T_EQ_INT(files, 0);
	}
	store_close(&st);
	buf_free(&err);
}

static int
count_cb(const struct msg *m, void *arg)
{
	(void)m;
	(*(int *)arg)++;
	return 0;
}

static void
store_flags_keywords_modseq(void)
{
	static const char *const kw1[] = { "$Important", "work", NULL };
	static const char *const kw2[] = { "WORK", NULL };
	struct store *st;
	struct mbox *mb;
	struct seen s;
	struct buf err, names;
	uint32_t uid;
	uint64_t before;
	size_t nkw;
	int changed = 0, failed = 0;

	buf_init(&err, 1024);
	buf_init(&names, 1024);
	fresh_home("flags");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(append(st, "INBOX", "a\r\n", 0, kw1, &uid) == 0);
	T_ASSERT(append(st, "INBOX", "b\r\n", 0, NULL, &uid) == 0);
	T_ASSERT(mbox_open(st, "INBOX", &mb, &err) == 0);
	T_ASSERT(mbox_keywords(mb, &names, &nkw, &err) == 0);
	T_EQ_INT(nkw, 2);
	T_EQ_STR(names.data, "$Important");
	T_ASSERT(list(st, "INBOX", &s) == 0);
	T_EQ_INT(s.kw[0], 3);
	before = s.modseq[1];
	T_ASSERT(mbox_store_flags(mb, 1, 2, '+', MF_SEEN | MF_FLAGGED, NULL, 0,
	    count_cb, NULL, &changed, &err) == 0);
	T_EQ_INT(changed, 2);
	T_ASSERT(list(st, "INBOX", &s) == 0);
	T_EQ_INT(s.flags[0], MF_SEEN | MF_FLAGGED);
	T_ASSERT(s.modseq[1] > before);
	T_EQ_INT(s.kw[0], 3);		/* system flags leave keywords */
	/* keywords: case-insensitive names, '-' removes */
	T_ASSERT(mbox_store_flags(mb, 1, 1, '-', 0, kw2, 0, NULL, NULL, NULL,
	    &err) == 0);
	T_ASSERT(list(st, "INBOX", &s) == 0);
	T_EQ_INT(s.kw[0], 1);
	/* UNCHANGEDSINCE (RFC 7162): a message changed since is left */
	changed = 0;
	T_ASSERT(mbox_store_flags(mb, 1, 2, '-', MF_SEEN, NULL, s.modseq[1],
	    count_cb, count_cb, &failed, &err) == 0);
	T_EQ_INT(failed, 2);	/* uid 1 changed after, uid 2 changed */
	T_ASSERT(list(st, "INBOX", &s) == 0);
	T_EQ_INT(s.flags[0] & MF_SEEN, MF_SEEN);
	/* the flags are in the file names too */
	{
		char p[600];
		DIR *d;
		struct dirent *de;
		int withfs = 0;

		(void)xsnprintf(p, sizeof(p), "%s/cur", home);
		T_ASSERT((d = opendir(p)) != NULL);
		while ((de = readdir(d)) != NULL)
			withfs += strstr(de->d_name, ":2,FS") != NULL;
		closedir(d);
		T_EQ_INT(withfs, 1);
	}
	mbox_close(&mb);
	store_close(&st);
	buf_free(&err);
	buf_free(&names);
}

static int
note_vanished(const struct msg *m, void *arg)
{
	struct seen *s = arg;

	s->uid[s->n] = m->uid;
	s->modseq[s->n++] = m->modseq;
	return 0;
}

static void
store_expunge_vanished_usage(void)
{
	struct store *st;
	struct mbox *mb;
	struct mbox_status ms;
	struct seen s, v;
	struct buf err;
	uint32_t uid;
	uint64_t bytes, msgs, modseq;
	int gone = 0;

	buf_init(&err, 1024);
	fresh_home("expunge");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(append(st, "INBOX", "1234567890\r\n", 0, NULL, &uid) == 0);
	T_ASSERT(append(st, "INBOX", "12345\r\n", MF_DELETED, NULL, &uid) ==
	    0);
	T_ASSERT(append(st, "INBOX", "123\r\n", MF_DELETED, NULL, &uid) == 0);
	T_ASSERT(store_usage(st, &bytes, &msgs, &err) == 0);
	T_EQ_INT(bytes, 12 + 7 + 5);
	T_EQ_INT(msgs, 3);
	T_ASSERT(mbox_open(st, "INBOX", &mb, &err) == 0);
	T_ASSERT(mbox_status(mb, &ms, &err) == 0);
	modseq = ms.highestmodseq;
	T_ASSERT(mbox_expunge(mb, 1, 2, count_cb, &gone, &err) == 0);
	T_EQ_INT(gone, 1);	/* only uid 2: uid 3 is outside the range */
	T_ASSERT(mbox_expunge(mb, 1, UINT32_MAX, count_cb, &gone, &err) == 0);
	T_EQ_INT(gone, 2);
	T_ASSERT(list(st, "INBOX", &s) == 0);
	T_EQ_INT(s.n, 1);
	T_EQ_INT(s.uid[0], 1);
	memset(&v, 0, sizeof(v));
	T_ASSERT(mbox_vanished(mb, modseq, note_vanished, &v, &err) == 0);
	T_EQ_INT(v.n, 2);
	T_EQ_INT(v.uid[0], 2);
	T_EQ_INT(v.uid[1], 3);
	T_ASSERT(v.modseq[1] > v.modseq[0] && v.modseq[0] > modseq);
	memset(&v, 0, sizeof(v));
	T_ASSERT(mbox_vanished(mb, v.modseq[0] + 100000, note_vanished, &v,
	    &err) == 0);
	T_EQ_INT(v.n, 0);
	T_ASSERT(store_usage(st, &bytes, &msgs, &err) == 0);
	T_EQ_INT(bytes, 12);
	T_EQ_INT(msgs, 1);
	T_ASSERT(mbox_status(mb, &ms, &err) == 0);
	T_EQ_INT(ms.messages, 1);
	T_EQ_INT(ms.deleted, 0);
	T_EQ_INT(ms.uidnext, 4);	/* never reused */
	mbox_close(&mb);
	T_ASSERT(append(st, "INBOX", "x\r\n", 0, NULL, &uid) == 0);
	T_EQ_INT(uid, 4);
	T_ASSERT(store_usage_recalc(st, &err) == 0);
	T_ASSERT(store_usage(st, &bytes, &msgs, &err) == 0);
	T_EQ_INT(msgs, 2);
	store_close(&st);
	buf_free(&err);
}

/* A folder whose directory (or cur/) a user's session replaced by a
 * link, to another user's store, is not opened. */
static void
store_refuses_linked_folders(void)
{
	struct store *st;
	struct mbox *mb;
	struct buf err;
	char other[600], link[700], cur[700];

	buf_init(&err, 1024);
	fresh_home("links");
	(void)xsnprintf(other, sizeof(other), "%s/other", t_tmpdir());
	(void)mkdir(other, 0700);
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(store_folder_create(st, "Evil", NULL, &err) == 0);
	T_ASSERT(store_folder_create(st, "Bad", NULL, &err) == 0);
	T_ASSERT(mbox_open(st, "Evil", &mb, &err) == 0);
	mbox_close(&mb);
	/* the folder's directory a link */
	(void)xsnprintf(link, sizeof(link), "%s/.Evil", home);
	T_ASSERT(store_rm_tree_at(AT_FDCWD, link) == 0);
	T_ASSERT(symlink(other, link) == 0);
	T_ASSERT(mbox_open(st, "Evil", &mb, &err) != 0);
	T_ASSERT(strstr(buf_cstr(&err), "symbolic link") != NULL);
	/* its cur/ a link */
	(void)xsnprintf(cur, sizeof(cur), "%s/.Bad/cur", home);
	T_ASSERT(rmdir(cur) == 0);
	T_ASSERT(symlink(other, cur) == 0);
	T_ASSERT(mbox_open(st, "Bad", &mb, &err) != 0);
	/* and the INBOX's */
	(void)xsnprintf(cur, sizeof(cur), "%s/new", home);
	T_ASSERT(rmdir(cur) == 0);
	T_ASSERT(symlink(other, cur) == 0);
	T_ASSERT(mbox_open_append(st, "INBOX", &mb, &err) != 0);
	store_close(&st);
	buf_free(&err);
}

static void
store_copy_move(void)
{
	static const char *const kw[] = { "todo", NULL };
	struct store *st;
	struct mbox *in, *arch;
	struct seen s;
	struct buf err, names;
	uint32_t uid, nu;
	size_t nkw;

	buf_init(&err, 1024);
	buf_init(&names, 1024);
	fresh_home("copy");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(store_folder_create(st, "Archive", NULL, &err) == 0);
	T_ASSERT(append(st, "INBOX", "keep\r\n", MF_SEEN, kw, &uid) == 0);
	T_ASSERT(append(st, "INBOX", "move\r\n", 0, NULL, &uid) == 0);
	T_ASSERT(mbox_open(st, "INBOX", &in, &err) == 0);
	T_ASSERT(mbox_open(st, "Archive", &arch, &err) == 0);
	T_ASSERT(mbox_copy(in, 1, arch, 0, &nu, &err) == 0);
	T_EQ_INT(nu, 1);
	T_ASSERT(mbox_copy(in, 2, arch, 1, &nu, &err) == 0);
	T_EQ_INT(nu, 2);
	T_ASSERT(list(st, "INBOX", &s) == 0);
	T_EQ_INT(s.n, 1);
	T_ASSERT(list(st, "Archive", &s) == 0);
	T_EQ_INT(s.n, 2);
	T_EQ_INT(s.flags[0], MF_SEEN);
	T_EQ_INT(s.kw[0], 1);
	T_ASSERT(mbox_keywords(arch, &names, &nkw, &err) == 0);
	T_EQ_STR(names.data, "todo");
	T_ASSERT(mbox_copy(in, 2, arch, 0, &nu, &err) == STORE_NOTFOUND);
	/* keyword names are the clients': 20 of 300 bytes passed the 4 KB
	 * mbox_copy read them into, and ended the process */
	{
		char *many[21];
		size_t i;

		for (i = 0; i < 20; i++) {
			many[i] = xmalloc(301);
			memset(many[i], 'a' + (int)i, 300);
			many[i][300] = '\0';
		}
		many[20] = NULL;
		T_ASSERT(append(st, "INBOX", "long keywords\r\n", 0,
		    (const char *const *)many, &uid) == 0);
		T_ASSERT(mbox_copy(in, uid, arch, 0, &nu, &err) == 0);
		T_ASSERT(mbox_keywords(arch, &names, &nkw, &err) == -1);
		T_ASSERT(strstr(buf_cstr(&err), "keyword names too long") !=
		    NULL);
		for (i = 0; i < 20; i++)
			free(many[i]);
	}
	mbox_close(&in);
	mbox_close(&arch);
	store_close(&st);
	buf_free(&err);
	buf_free(&names);
}

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd >= 0) {
		(void)write_all(fd, text, strlen(text));
		close(fd);
	}
}

static void
store_sync_with_outside_changes(void)
{
	struct store *st;
	struct mbox *mb;
	struct seen s;
	struct buf err;
	char path[700], from[700], to[700];
	uint32_t uid;
	DIR *d;
	struct dirent *de;

	buf_init(&err, 1024);
	fresh_home("sync");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(append(st, "INBOX", "ours\r\n", 0, NULL, &uid) == 0);
	/* procmail drops one into new/ */
	(void)xsnprintf(path, sizeof(path), "%s/new/1700000000.outside.host",
	    home);
	write_file(path, "theirs\r\n");
	T_ASSERT(list(st, "INBOX", &s) == 0);
	T_EQ_INT(s.n, 2);
	T_EQ_INT(s.uid[1], 2);
	/* mutt marks ours seen by renaming; then deletes theirs */
	(void)xsnprintf(path, sizeof(path), "%s/cur", home);
	T_ASSERT((d = opendir(path)) != NULL);
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ",U=1:2,") != NULL) {
			(void)xsnprintf(from, sizeof(from), "%s/%s", path,
			    de->d_name);
			(void)xsnprintf(to, sizeof(to), "%sS", from);
			T_ASSERT(rename(from, to) == 0);
		} else if (strstr(de->d_name, "outside") != NULL) {
			(void)xsnprintf(from, sizeof(from), "%s/%s", path,
			    de->d_name);
			T_ASSERT(unlink(from) == 0);
		}
	}
	closedir(d);
	T_ASSERT(mbox_open(st, "INBOX", &mb, &err) == 0);	/* syncs */
	mbox_close(&mb);
	T_ASSERT(list(st, "INBOX", &s) == 0);
	T_EQ_INT(s.n, 1);
	T_EQ_INT(s.uid[0], 1);
	T_EQ_INT(s.flags[0], MF_SEEN);
	store_close(&st);
	buf_free(&err);
}

static void
rm_rf(const char *path)
{
	char sub[1024];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(path)) == NULL) {
		(void)unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") ==
		    0)
			continue;
		(void)xsnprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rm_rf(sub);
	}
	closedir(d);
	(void)rmdir(path);
}

static void
store_rebuild_keeps_uids(void)
{
	struct store *st;
	struct mbox *mb;
	struct mbox_status a, b;
	struct seen s;
	struct buf err;
	char idx[600];
	uint32_t uid;
	int i;

	buf_init(&err, 1024);
	fresh_home("rebuild");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(store_folder_create(st, "Work/2026", NULL, &err) == 0);
	for (i = 0; i < 5; i++)
		T_ASSERT(append(st, "Work/2026", "m\r\n", i == 2 ? MF_SEEN : 0,
		    NULL, &uid) == 0);
	T_ASSERT(mbox_open(st, "Work/2026", &mb, &err) == 0);
	T_ASSERT(mbox_expunge(mb, 1, 1, NULL, NULL, &err) == 0);
	T_ASSERT(mbox_store_flags(mb, 1, 9, '+', MF_DELETED, NULL, 0, NULL,
	    NULL, NULL, &err) == 0);
	T_ASSERT(mbox_store_flags(mb, 1, 9, '-', MF_DELETED, NULL, 0, NULL,
	    NULL, NULL, &err) == 0);
	T_ASSERT(mbox_status(mb, &a, &err) == 0);
	mbox_close(&mb);
	store_close(&st);
	/* the index is lost */
	(void)xsnprintf(idx, sizeof(idx), "%s/chapar-index", home);
	rm_rf(idx);
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(list(st, "Work/2026", &s) == 0);
	T_EQ_INT(s.n, 5);
	T_EQ_INT(s.uid[0], 1);	/* the file of uid 1 had the flag in name */
	T_ASSERT(mbox_open(st, "Work/2026", &mb, &err) == 0);
	T_ASSERT(mbox_status(mb, &b, &err) == 0);
	T_EQ_INT(b.uidvalidity, a.uidvalidity);
	T_ASSERT(b.uidnext >= a.uidnext);
	mbox_close(&mb);
	T_ASSERT(append(st, "Work/2026", "new\r\n", 0, NULL, &uid) == 0);
	T_ASSERT(uid >= a.uidnext);	/* no UID is given twice */
	store_close(&st);
	/* a damaged index is moved aside and rebuilt at open */
	(void)xsnprintf(idx, sizeof(idx), "%s/chapar-index/index.db", home);
	write_file(idx, "this is not a Berkeley DB database, nor a btree\n");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(list(st, "Work/2026", &s) == 0);
	T_EQ_INT(s.n, 6);
	T_EQ_INT(s.uid[5], uid);
	store_close(&st);
	(void)xsnprintf(idx, sizeof(idx), "%s/chapar-index.broken/index.db",
	    home);
	T_ASSERT(access(idx, F_OK) == 0);
	buf_free(&err);
}

/* Another process's change wakes a waiting one (IMAP IDLE). */
static void
store_notify(void)
{
	struct store *st, *other;
	struct pollfd pfd;
	struct buf err;
	char junk[4096];
	uint32_t uid;
	int fd;

	buf_init(&err, 1024);
	fresh_home("notify");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT((fd = store_notify_fd(st)) >= 0);
	pfd.fd = fd;
	pfd.events = POLLIN;
	T_EQ_INT(poll(&pfd, 1, 0), 0);		/* quiet until a change */
	if (fork() == 0) {
		if (store_open(home, NULL, &other, &err) != 0 ||
		    append(other, "INBOX", "new\r\n", 0, NULL, &uid) != 0)
			_exit(1);
		store_close(&other);
		_exit(0);
	}
	T_EQ_INT(poll(&pfd, 1, 5000), 1);
	(void)wait(NULL);
	while (read(fd, junk, sizeof(junk)) > 0)
		;
	store_close(&st);
	buf_free(&err);
}

static void
store_quota(void)
{
	struct store_opts o;
	struct store *st;
	struct buf err;
	uint32_t uid;

	buf_init(&err, 1024);
	fresh_home("quota");
	memset(&o, 0, sizeof(o));
	o.quota_bytes = 20;
	o.quota_messages = 5;
	T_ASSERT(store_open(home, &o, &st, &err) == 0);
	T_EQ_INT(append(st, "INBOX", "0123456789\r\n", 0, NULL, &uid), 0);
	T_EQ_INT(append(st, "INBOX", "0123456789\r\n", 0, NULL, &uid),
	    STORE_OVERQUOTA);
	T_EQ_INT(append(st, "INBOX", "0\r\n", 0, NULL, &uid), 0);
	store_close(&st);
	buf_free(&err);
}

struct flist {
	char names[16][64];
	char special[16][16];
	int sub[16], children[16];
	int n;
};

static int
fnote(const struct folder_info *fi, void *arg)
{
	struct flist *l = arg;

	if (l->n < 16) {
		(void)xsnprintf(l->names[l->n], 64, "%s", fi->name);
		(void)xsnprintf(l->special[l->n], 16, "%s", fi->special);
		l->sub[l->n] = fi->subscribed;
		l->children[l->n] = fi->has_children;
		l->n++;
	}
	return 0;
}

static int
find(const struct flist *l, const char *name)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return i;
	return -1;
}

static void
store_folders_rename_delete_special(void)
{
	struct store *st;
	struct flist l;
	struct buf err, name;
	struct seen s;
	uint32_t uid;
	int i;

	buf_init(&err, 1024);
	buf_init(&name, 1024);
	fresh_home("folders");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_EQ_INT(store_folder_create(st, "A", NULL, &err), 0);
	T_EQ_INT(store_folder_create(st, "A/B", NULL, &err), 0);
	T_EQ_INT(store_folder_create(st, "A", NULL, &err), STORE_EXISTS);
	T_EQ_INT(store_folder_create(st, "../x", NULL, &err), -1);
	/* 200 bytes that each escape to 3 (a client's name): past the
	 * 512 bytes of the store's own buffers, once a panic */
	{
		char big[MAILDIR_NAME_MAX + 1];
		struct mbox *mb;

		memset(big, '%', MAILDIR_NAME_MAX);
		big[MAILDIR_NAME_MAX] = '\0';
		T_EQ_INT(store_folder_create(st, big, NULL, &err), -1);
		T_ASSERT(strstr(buf_cstr(&err), "too long once escaped") !=
		    NULL);
		T_ASSERT(mbox_open(st, big, &mb, &err) != 0);
		T_EQ_INT(store_subscribe(st, big, 1, &err), -1);
		memset(big, 1, MAILDIR_NAME_MAX);
		T_ASSERT(mbox_open(st, big, &mb, &err) != 0);
	}
	T_ASSERT(append(st, "A/B", "in b\r\n", 0, NULL, &uid) == 0);
	T_ASSERT(store_subscribe(st, "A/B", 1, &err) == 0);
	T_ASSERT(store_special(st, "\\Sent", &name, &err) == 0);
	T_EQ_STR(buf_cstr(&name), "Sent");
	T_ASSERT(store_special(st, "\\sent", &name, &err) == 0);
	T_EQ_STR(buf_cstr(&name), "Sent");
	memset(&l, 0, sizeof(l));
	T_ASSERT(store_folders(st, fnote, &l, &err) == 0);
	T_EQ_INT(l.n, 4);
	T_ASSERT((i = find(&l, "A")) >= 0 && l.children[i] == 1);
	T_ASSERT((i = find(&l, "A/B")) >= 0 && l.sub[i] == 1);
	T_ASSERT((i = find(&l, "Sent")) >= 0);
	T_EQ_STR(l.special[i], "\\Sent");
	/* a parent goes only after its children (as in Dovecot) */
	T_EQ_INT(store_folder_delete(st, "A", &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "child") != NULL);
	/* rename moves the subtree, messages and all */
	T_EQ_INT(store_folder_rename(st, "A", "Z", &err), 0);
	T_ASSERT(list(st, "Z/B", &s) == 0);
	T_EQ_INT(s.n, 1);
	T_EQ_INT(list(st, "A/B", &s), STORE_NOTFOUND);
	T_EQ_INT(store_folder_rename(st, "Z", "Z/in", &err), -1);
	T_EQ_INT(store_folder_rename(st, "Z", "Sent", &err), -1);
	T_EQ_INT(store_folder_delete(st, "INBOX", &err), -1);
	T_EQ_INT(store_folder_delete(st, "Z/B", &err), 0);
	T_EQ_INT(store_folder_delete(st, "Z", &err), 0);
	memset(&l, 0, sizeof(l));
	T_ASSERT(store_folders(st, fnote, &l, &err) == 0);
	T_EQ_INT(l.n, 2);		/* INBOX and Sent */
	store_close(&st);
	/* the directories went too, and nothing came back at reopen */
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	memset(&l, 0, sizeof(l));
	T_ASSERT(store_folders(st, fnote, &l, &err) == 0);
	T_EQ_INT(l.n, 2);
	store_close(&st);
	buf_free(&err);
	buf_free(&name);
}


/* --- concurrency and crashes --------------------------------------------- */

struct uids {
	uint32_t v[4096];
	char file[4096][96];
	int n;
};

static int
note_uid(const struct msg *m, void *arg)
{
	struct uids *u = arg;

	if (u->n < 4096) {
		u->v[u->n] = m->uid;
		(void)xsnprintf(u->file[u->n], sizeof(u->file[0]), "%.*s",
		    (int)m->file.n, m->file.p);
		u->n++;
	}
	return 0;
}

/* The index and cur/ agree: every indexed message has its file, named
 * with its UID, every file in cur/ is indexed, and no UID is given twice.
 * Returns the number of messages, -1 when they disagree. */
static int
consistent(struct store *st, const char *dir, struct uids *u)
{
	struct buf err;
	struct mbox *mb;
	struct dirent *de;
	char p[700], want[32];
	DIR *d;
	int i, files = 0, bad = 0;

	buf_init(&err, 1024);
	memset(u, 0, sizeof(*u));
	if (mbox_open(st, "INBOX", &mb, &err) != 0 ||
	    mbox_messages(mb, 1, UINT32_MAX, note_uid, u, &err) != 0) {
		t_note("consistent: %s", buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	mbox_close(&mb);
	for (i = 0; i < u->n; i++) {
		if (i > 0 && u->v[i] <= u->v[i - 1])
			bad++;
		(void)xsnprintf(want, sizeof(want), ",U=%u:", u->v[i]);
		if (strstr(u->file[i], want) == NULL)
			bad++;
		(void)xsnprintf(p, sizeof(p), "%s/cur/%s", dir, u->file[i]);
		if (access(p, F_OK) != 0)
			bad++;
	}
	(void)xsnprintf(p, sizeof(p), "%s/cur", dir);
	if ((d = opendir(p)) != NULL) {
		while ((de = readdir(d)) != NULL)
			files += de->d_name[0] != '.';
		closedir(d);
	}
	if (files != u->n)
		bad++;
	buf_free(&err);
	if (bad > 0)
		t_note("consistent: %d problems, %d files, %d indexed", bad,
		    files, u->n);
	return bad > 0 ? -1 : u->n;
}

/*
 * The stress test: processes appending, flagging, copying, expunging and
 * reopening one store for a bounded time, with a watcher checking the
 * invariants of RFC 3501 §2.3.1.1 and RFC 7162 as it goes.
 */
static int note_draft(const struct msg *, void *);

#define STRESS_SECS 2
#define STRESS_OPS 150

struct watch {
	uint64_t modseq[8192];
	unsigned char seen[8192];
	uint32_t last_uid;
	int bad;
};

static int
watch_one(const struct msg *m, void *arg)
{
	struct watch *w = arg;

	if (m->uid <= w->last_uid || m->uid >= 8192) {
		w->bad |= 1;		/* UIDs strictly ascending */
		return 0;
	}
	w->last_uid = m->uid;
	if (m->modseq < w->modseq[m->uid])
		w->bad |= 2;		/* MODSEQ went back */
	if (w->seen[m->uid] && (m->flags & MF_SEEN) == 0)
		w->bad |= 4;		/* a flag rolled back */
	w->modseq[m->uid] = m->modseq;
	w->seen[m->uid] |= (m->flags & MF_SEEN) != 0;
	return 0;
}

static void
stress_proc(int role, int out, time_t until)
{
	static struct watch w;
	struct store *st;
	struct mbox *mb, *arch;
	struct mbox_status ms;
	struct buf err;
	uint32_t uid, nu, last_next = 0, word;
	uint64_t last_hms = 0;
	static struct uids d;
	int i, j, r;

	buf_init(&err, 1024);
	if (store_open(home, NULL, &st, &err) != 0)
		_exit(2);
	for (i = 0; i < STRESS_OPS && time(NULL) < until; i++) {
		switch (role) {
		case 0: case 1:		/* deliveries; odd ones are doomed */
			if (append(st, "INBOX", "Subject: s\r\n\r\nbody\r\n",
			    i % 3 == 0 ? MF_DRAFT : 0, NULL, &uid) != 0)
				_exit(3);
			word = uid | (i % 3 == 0 ? 0x80000000u : 0);
			if (write_all(out, &word, sizeof(word)) == -1)
				_exit(3);
			break;
		case 2:			/* a client marking all read */
			if (mbox_open(st, "INBOX", &mb, &err) != 0 ||
			    mbox_store_flags(mb, 1, UINT32_MAX, '+', MF_SEEN,
			    NULL, 0, NULL, NULL, NULL, &err) != 0) {
				t_note("flagger: %s", buf_cstr(&err));
				_exit(4);
			}
			mbox_close(&mb);
			break;
		case 3:			/* a client filing into Archive */
			if (mbox_open(st, "INBOX", &mb, &err) != 0 ||
			    mbox_open(st, "Archive", &arch, &err) != 0)
				_exit(5);
			if (mbox_status(mb, &ms, &err) == 0 && ms.uidnext > 1) {
				uid = 1 + (uint32_t)i * 7 % (ms.uidnext - 1);
				r = mbox_copy(mb, uid, arch, 0, &nu, &err);
				if (r == 0 && write_all(out, &nu, sizeof(nu)) ==
				    -1)
					_exit(5);
				if (r != 0 && r != STORE_NOTFOUND) {
					t_note("copier: %s", buf_cstr(&err));
					_exit(5);
				}
			}
			mbox_close(&mb);
			mbox_close(&arch);
			break;
		case 4:			/* expunging the drafts */
			if (mbox_open(st, "INBOX", &mb, &err) != 0)
				_exit(6);
			d.n = 0;
			if (mbox_messages(mb, 1, UINT32_MAX, note_draft, &d,
			    &err) != 0)
				_exit(6);
			for (j = 0; j < d.n; j++)
				if (mbox_store_flags(mb, d.v[j], d.v[j], '+',
				    MF_DELETED, NULL, 0, NULL, NULL, NULL,
				    &err) != 0)
					_exit(6);
			if (mbox_expunge(mb, 1, UINT32_MAX, NULL, NULL, &err) !=
			    0)
				_exit(6);
			mbox_close(&mb);
			break;
		default:		/* watching, reopening each time */
			store_close(&st);
			if (store_open(home, NULL, &st, &err) != 0 ||
			    mbox_open(st, "INBOX", &mb, &err) != 0 ||
			    mbox_status(mb, &ms, &err) != 0)
				_exit(7);
			if (ms.uidnext < last_next || ms.highestmodseq <
			    last_hms)
				_exit(8);
			last_next = ms.uidnext;
			last_hms = ms.highestmodseq;
			w.last_uid = 0;
			if (mbox_messages(mb, 1, UINT32_MAX, watch_one, &w,
			    &err) != 0)
				_exit(7);
			mbox_close(&mb);
			if (w.bad)
				_exit(10 + w.bad);
			break;
		}
	}
	store_close(&st);
	_exit(0);
}

static int
note_draft(const struct msg *m, void *arg)
{
	struct uids *d = arg;

	if ((m->flags & MF_DRAFT) != 0 && d->n < 4096)
		d->v[d->n++] = m->uid;
	return 0;
}

static void
store_concurrent_stress(void)
{
	struct store *st;
	struct mbox *mb;
	struct buf err;
	struct uids *u = xcalloc(1, sizeof(*u)), *a = xcalloc(1, sizeof(*a));
	static uint32_t kept[4096], copies[4096];
	int nkept = 0, ncopies = 0, p[6][2], i, j, status, ok = 0, lost = 0;
	time_t until;
	pid_t pid[6];
	uint32_t w;

	buf_init(&err, 1024);
	fresh_home("stress");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(store_folder_create(st, "Archive", NULL, &err) == 0);
	store_close(&st);
	until = time(NULL) + STRESS_SECS;
	for (i = 0; i < 6; i++) {
		T_ASSERT(pipe(p[i]) == 0);
		if ((pid[i] = fork()) == 0) {
			close(p[i][0]);
			stress_proc(i, p[i][1], until);
		}
		close(p[i][1]);
	}
	for (i = 0; i < 6; i++) {
		while (read(p[i][0], &w, sizeof(w)) == sizeof(w)) {
			if (i < 2 && (w & 0x80000000u) == 0 && nkept < 4096)
				kept[nkept++] = w;
			else if (i == 3 && ncopies < 4096)
				copies[ncopies++] = w;
		}
		close(p[i][0]);
		if (waitpid(pid[i], &status, 0) == pid[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
		else
			t_note("stress: process %d: status %#x", i, status);
	}
	T_EQ_INT(ok, 6);
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	T_ASSERT(consistent(st, home, u) >= 0);
	for (i = 0; i < nkept; i++) {
		for (j = 0; j < u->n && u->v[j] != kept[i]; j++)
			;
		lost += j == u->n;
	}
	T_EQ_INT(lost, 0);
	/* the copies are all in Archive, each once */
	T_ASSERT(mbox_open(st, "Archive", &mb, &err) == 0);
	T_ASSERT(mbox_messages(mb, 1, UINT32_MAX, note_uid, a, &err) == 0);
	mbox_close(&mb);
	T_EQ_INT(a->n, ncopies);
	for (i = 0; i < ncopies; i++)
		T_EQ_INT(a->v[i], copies[i]);
	t_note("stress: %d kept, %d in INBOX, %d copied", nkept, u->n,
	    ncopies);
	store_close(&st);
	free(u);
	free(a);
	buf_free(&err);
}

/* A writer killed with SIGKILL at any instant leaves a store whose index
 * agrees with its maildir, holding every message whose append returned. */
static void
store_kill9(void)
{
	struct store *st;
	struct buf err;
	struct uids *u = xcalloc(1, sizeof(*u));
	uint32_t acked[4096];
	int nacked = 0, round, p[2], i, j, found, lost = 0;

	buf_init(&err, 1024);
	fresh_home("kill9");
	T_ASSERT(store_open(home, NULL, &st, &err) == 0);
	store_close(&st);
	for (round = 0; round < 12; round++) {
		pid_t pid;
		uint32_t uid;

		T_ASSERT(pipe(p) == 0);
		if ((pid = fork()) == 0) {
			struct mbox *mb;
			uint32_t doomed;

			close(p[0]);
			if (store_open(home, NULL, &st, &err) != 0)
				_exit(2);
			for (i = 0; i < 400; i++) {
				if (append(st, "INBOX", "Subject: k\r\n\r\nx\r\n",
				    0, NULL, &uid) != 0)
					_exit(3);
				(void)write_all(p[1], &uid, sizeof(uid));
				if (i % 7 == 0 && mbox_open(st, "INBOX", &mb,
				    &err) == 0) {
					(void)mbox_store_flags(mb, 1, UINT32_MAX,
					    '+', MF_SEEN, NULL, 0, NULL, NULL,
					    NULL, &err);
					/* say so before: a kill may come
					 * between the expunge and the word */
					doomed = uid | 0x80000000u;
					if (i % 21 == 0 && write_all(p[1],
					    &doomed, sizeof(doomed)) == 0) {
						(void)mbox_store_flags(mb, uid,
						    uid, '+', MF_DELETED, NULL,
						    0, NULL, NULL, NULL, &err);
						(void)mbox_expunge(mb, uid, uid,
						    NULL, NULL, &err);
					}
					mbox_close(&mb);
				}
			}
			_exit(0);
		}
		close(p[1]);
		(void)usleep(2000 + (useconds_t)(round * 3700 % 40000));
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		while (read(p[0], &uid, sizeof(uid)) == sizeof(uid) &&
		    nacked < 4096) {
			if ((uid & 0x80000000u) == 0) {
				acked[nacked++] = uid;
				continue;
			}
			for (i = 0; i < nacked; i++)	/* may be gone */
				if (acked[i] == (uid & ~0x80000000u))
					acked[i] = 0;
		}
		close(p[0]);
		/* recovery happens at the next open */
		T_ASSERT(store_open(home, NULL, &st, &err) == 0);
		T_ASSERT(consistent(st, home, u) >= 0);
		store_close(&st);
	}
	for (i = 0; i < nacked; i++) {
		if (acked[i] == 0)
			continue;
		found = 0;
		for (j = 0; j < u->n && !found; j++)
			found = u->v[j] == acked[i];
		lost += !found;
	}
	t_note("kill9: %d appends acknowledged, %d messages kept, %d lost",
	    nacked, u->n, lost);
	T_EQ_INT(lost, 0);
	T_ASSERT(nacked > 0);
	free(u);
	buf_free(&err);
}

T_SUITE(suite_store)
{
	t_run("maildir_names", maildir_names);
	t_run("store_append_read_status", store_append_read_status);
	t_run("store_flags_keywords_modseq", store_flags_keywords_modseq);
	t_run("store_expunge_vanished_usage", store_expunge_vanished_usage);
	t_run("store_refuses_linked_folders", store_refuses_linked_folders);
	t_run("store_copy_move", store_copy_move);
	t_run("store_sync_with_outside_changes",
	    store_sync_with_outside_changes);
	t_run("store_rebuild_keeps_uids", store_rebuild_keeps_uids);
	t_run("store_quota", store_quota);
	t_run("store_notify", store_notify);
	t_run("store_folders_rename_delete_special",
	    store_folders_rename_delete_special);
	t_run("store_concurrent_stress", store_concurrent_stress);
	t_run("store_kill9", store_kill9);
}
