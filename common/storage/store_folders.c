/*
 * store_folders.c: deleting and renaming folders, and finding folders
 * the index does not know (after the index was lost, or a folder was
 * restored by hand).
 *
 * File system first, index second, and in an order where a crash between
 * the two leaves either the old state or something sync repairs: a
 * deleted folder's directory is first renamed to a name no folder can
 * have ("..deleted-..."), so that it cannot come back.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/log.h"
#include "chapar/util.h"
#include "store_int.h"

static int
seterr(struct buf *err, const char *what, const char *detail)
{
	buf_reset(err);
	buf_cut_printf(err, "%s: %s", what, detail);	/* a folder name */
	return -1;
}

/* --- discovery ----------------------------------------------------------- */

/* Every ".Name" directory with a cur/ gets an index record if it has
 * none.  Its chapar-uid file gives it back its UIDVALIDITY. */
int
st_discover(struct store *st, struct buf *err)
{
	struct buf name, path;
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int fd, r = 0;

	if ((fd = dup(st->homefd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return seterr(err, st->home, strerror(errno));
	}
	rewinddir(d);
	buf_init(&name, 1024);
	buf_init(&path, 1024);
	while (r >= 0 && (de = readdir(d)) != NULL) {
		if (maildir_dir_folder(de->d_name, &name) == -1)
			continue;
		buf_reset(&path);
		buf_printf(&path, "%s/cur", de->d_name);
		if (fstatat(st->homefd, buf_cstr(&path), &sb,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISDIR(sb.st_mode))
			continue;
		r = st_folder_make(st, buf_cstr(&name), de->d_name, NULL, err);
		if (r == STORE_EXISTS)
			r = 0;
	}
	closedir(d);
	buf_free(&name);
	buf_free(&path);
	return r < 0 ? -1 : 0;
}

/* --- delete -------------------------------------------------------------- */

int
st_rm_tree_at(int dfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return unlinkat(dfd, name, 0);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (st_rm_tree_at(dirfd(d), de->d_name) == -1 && errno != ENOENT)
			log_warning("removing %s: %s", de->d_name,
			    strerror(errno));
	}
	closedir(d);
	return unlinkat(dfd, name, AT_REMOVEDIR);
}

int
store_rm_tree_at(int dfd, const char *name)
{
	return st_rm_tree_at(dfd, name);
}

struct del {
	struct store *st;
	const char *name;
	uint32_t id;
	int children;
};

static int
child_of(struct sv k, struct sv v, void *arg)
{
	struct del *d = arg;
	size_t n = strlen(d->name);

	(void)v;
	if (k.n > n + 2 && memcmp(k.p + 1, d->name, n) == 0 &&
	    k.p[1 + n] == '/') {
		d->children = 1;
		return 1;
	}
	return 0;
}

static int
add_key(struct sv k, struct sv v, void *arg)
{
	(void)v;
	rec_add(arg, "k", k);
	return 0;
}

/* Delete every key of one kind of a folder. */
static int
drop_kind(struct store *st, struct dict_txn *t, char kind, uint32_t id)
{
	struct buf prefix;
	struct rec keys;
	size_t i;
	int r;

	buf_init(&prefix, 16);
	rec_init(&keys);
	st_key_id(&prefix, kind, id);
	r = dict_scan(st->db, t, buf_sv(&prefix), add_key, &keys);
	for (i = 0; r == DICT_OK && i < keys.n; i++)
		if ((r = dict_del(st->db, t, buf_sv(&keys.vals[i]))) ==
		    DICT_NOTFOUND)
			r = DICT_OK;
	rec_free(&keys);
	buf_free(&prefix);
	return r;
}

static int
del_txn(struct dict_txn *t, void *arg)
{
	struct del *d = arg;
	struct buf k;
	struct rec f;
	int r;

	buf_init(&k, 1024);
	rec_init(&f);
	st_key_folder(&k, d->name);
	if ((r = st_get_rec(d->st, t, &k, &f)) != DICT_OK)
		goto out;
	d->id = (uint32_t)st_num(&f, "id");
	if ((r = dict_del(d->st->db, t, buf_sv(&k))) != DICT_OK ||
	    (r = drop_kind(d->st, t, 'u', d->id)) != DICT_OK ||
	    (r = drop_kind(d->st, t, 'f', d->id)) != DICT_OK ||
	    (r = drop_kind(d->st, t, 'x', d->id)) != DICT_OK ||
	    (r = drop_kind(d->st, t, 'k', d->id)) != DICT_OK)
		goto out;
	r = st_usage_add(d->st, t, -(int64_t)st_num(&f, "bytes"),
	    -(int64_t)st_num(&f, "msgs"));
out:
	rec_free(&f);
	buf_free(&k);
	return r;
}

int
store_folder_delete(struct store *st, const char *name, struct buf *err)
{
	struct buf dir, gone;
	struct del d;
	const char *e;
	int r;

	buf_init(&dir, 512);
	buf_init(&gone, 512);
	if (maildir_folder_dir(sv_from(name), &dir, &e) == -1) {
		r = seterr(err, name, e);
		goto out;
	}
	if (dir.len == 0) {
		r = seterr(err, name, "INBOX cannot be deleted");
		goto out;
	}
	d.st = st;
	d.name = name;
	d.children = 0;
	if (dict_scan(st->db, NULL, SV_LIT("M"), child_of, &d) < 0) {
		r = seterr(err, name, "cannot read the index");
		goto out;
	}
	if (d.children) {
		/* as Dovecot: the children go first */
		r = seterr(err, name, "has child folders; delete them first");
		goto out;
	}
	buf_printf(&gone, "..deleted-%lld-%ld", (long long)now_sec(),
	    (long)getpid());
	if (renameat(st->homefd, buf_cstr(&dir), st->homefd,
	    buf_cstr(&gone)) == -1 && errno != ENOENT) {
		r = seterr(err, name, strerror(errno));
		goto out;
	}
	r = dict_txn_run(st->env, del_txn, &d, err);
	if (r == DICT_NOTFOUND)
		r = STORE_NOTFOUND;
	(void)st_rm_tree_at(st->homefd, buf_cstr(&gone));
	st_notify(st);
out:
	buf_free(&dir);
	buf_free(&gone);
	return r;
}

/* --- rename -------------------------------------------------------------- */

struct ren {
	struct store *st;
	struct rec from, to;	/* "n": IMAP names, old and new, pairwise */
	struct rec dirs;	/* "d": new directories, pairwise */
};

static int
ren_txn(struct dict_txn *t, void *arg)
{
	struct ren *x = arg;
	struct buf k;
	struct rec f;
	size_t i;
	int r = DICT_OK;

	buf_init(&k, 1024);
	rec_init(&f);
	for (i = 0; i < x->from.n && r == DICT_OK; i++) {
		rec_clear(&f);
		st_key_folder(&k, buf_cstr(&x->from.vals[i]));
		if ((r = st_get_rec(x->st, t, &k, &f)) != DICT_OK ||
		    (r = dict_del(x->st->db, t, buf_sv(&k))) != DICT_OK)
			break;
		rec_set(&f, "dir", buf_sv(&x->dirs.vals[i]));
		st_key_folder(&k, buf_cstr(&x->to.vals[i]));
		r = dict_put(x->st->db, t, buf_sv(&k), SV_LIT(""), DICT_NEW);
		if (r == DICT_OK)
			r = st_put_rec(x->st, t, &k, &f);
		else if (r == DICT_EXISTS)
			r = STORE_EXISTS;
	}
	rec_free(&f);
	buf_free(&k);
	return r;
}

static int
collect_tree(struct sv k, struct sv v, void *arg)
{
	struct ren *x = arg;
	const char *from = buf_cstr(&x->from.vals[0]);
	size_t n = strlen(from);

	(void)v;
	if (k.n > n + 2 && memcmp(k.p + 1, from, n) == 0 && k.p[1 + n] == '/')
		rec_add(&x->from, "n", sv_make(k.p + 1, k.n - 1));
	return 0;
}

int
store_folder_rename(struct store *st, const char *from, const char *to,
    struct buf *err)
{
	struct buf fdir, tdir, name;
	struct ren x;
	const char *e;
	size_t i, n = strlen(from);
	int r = 0;

	buf_init(&fdir, 512);
	buf_init(&tdir, 512);
	buf_init(&name, 1024);
	rec_init(&x.from);
	rec_init(&x.to);
	rec_init(&x.dirs);
	x.st = st;
	if (maildir_folder_dir(sv_from(from), &fdir, &e) == -1 ||
	    maildir_folder_dir(sv_from(to), &tdir, &e) == -1) {
		r = seterr(err, from, e);
		goto out;
	}
	if (fdir.len == 0 || tdir.len == 0) {
		r = seterr(err, from, "renaming to or from INBOX is not "
		    "supported");
		goto out;
	}
	if (strncmp(to, from, n) == 0 && to[n] == '/') {
		r = seterr(err, to, "a folder cannot move inside itself");
		goto out;
	}
	/* the folder and every folder below it */
	rec_add(&x.from, "n", sv_from(from));
	if (dict_scan(st->db, NULL, SV_LIT("M"), collect_tree, &x) < 0) {
		r = seterr(err, from, "cannot read the index");
		goto out;
	}
	for (i = 0; i < x.from.n; i++) {
		buf_reset(&name);
		buf_puts(&name, to);
		buf_append(&name, x.from.vals[i].data + n,
		    x.from.vals[i].len - n);
		rec_add(&x.to, "n", buf_sv(&name));
		if (maildir_folder_dir(buf_sv(&name), &tdir, &e) == -1) {
			r = seterr(err, buf_cstr(&name), e);
			goto out;
		}
		rec_add(&x.dirs, "d", buf_sv(&tdir));
	}
	/* directories first (they are the messages) */
	for (i = 0; i < x.from.n; i++) {
		if (maildir_folder_dir(buf_sv(&x.from.vals[i]), &fdir, &e) ==
		    -1)
			continue;
		if (faccessat(st->homefd, buf_cstr(&x.dirs.vals[i]), F_OK,
		    AT_SYMLINK_NOFOLLOW) == 0) {
			r = seterr(err, buf_cstr(&x.to.vals[i]),
			    "a folder of that name exists");
			goto undo;
		}
		if (renameat(st->homefd, buf_cstr(&fdir), st->homefd,
		    buf_cstr(&x.dirs.vals[i])) == -1) {
			r = seterr(err, buf_cstr(&x.from.vals[i]),
			    strerror(errno));
			goto undo;
		}
	}
	r = dict_txn_run(st->env, ren_txn, &x, err);
	if (r == DICT_OK) {
		st_notify(st);
		goto out;
	}
	if (r == STORE_EXISTS)
		(void)seterr(err, to, "a folder of that name exists");
undo:
	/* put the directories back */
	while (i-- > 0)
		if (maildir_folder_dir(buf_sv(&x.from.vals[i]), &fdir, &e) ==
		    0)
			(void)renameat(st->homefd, buf_cstr(&x.dirs.vals[i]),
			    st->homefd, buf_cstr(&fdir));
	if (r == DICT_OK)
		r = -1;
out:
	buf_free(&fdir);
	buf_free(&tdir);
	buf_free(&name);
	rec_free(&x.from);
	rec_free(&x.to);
	rec_free(&x.dirs);
	return r;
}
