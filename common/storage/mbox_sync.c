/*
 * mbox_sync.c: bring the index in line with the maildir, which others may
 * change behind our back (procmail, mutt on the maildir, a restore, a
 * crash between a file operation and its transaction):
 *
 *	a file in new/			moved to cur/ (then as below)
 *	a file in cur/ the index lacks	a new message; it keeps the UID in
 *					its name when that UID is free
 *	flags in a name that differ	taken from the name (outside change)
 *	an indexed message whose file
 *	is gone				expunged
 *
 * Also: folder delete and rename.  Trusts only names maildir.c parses.
 */
#include <sys/mman.h>
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

#define SYNC_MAX_FILES 10000000

static int
seterr(struct buf *err, const char *what, const char *detail)
{
	buf_reset(err);
	buf_cut_printf(err, "%s: %s", what, detail);	/* a folder name */
	return -1;
}

static int
subdir_fd(struct mbox *mb, const char *sub)
{
	char path[512];

	if (xsnprintf(path, sizeof(path), "%s%s%s", mb->dir,
	    mb->dir[0] ? "/" : "", sub) == -1)
		return -1;
	return openat(mb->st->homefd, path, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW);
}

/* new/X -> cur/X:2, (mail dropped in by other programs) */
static int
take_new(struct mbox *mb)
{
	struct buf to;
	struct dirent *de;
	DIR *d;
	int nfd, cfd, moved = 0;

	if ((nfd = subdir_fd(mb, "new")) == -1)
		return 0;
	if ((cfd = subdir_fd(mb, "cur")) == -1 || (d = fdopendir(nfd)) ==
	    NULL) {
		close(nfd);
		if (cfd != -1)
			close(cfd);
		return -1;
	}
	buf_init(&to, 1024);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		buf_reset(&to);
		buf_puts(&to, de->d_name);
		if (strstr(de->d_name, ":2,") == NULL)
			buf_puts(&to, ":2,");
		if (renameat(dirfd(d), de->d_name, cfd, buf_cstr(&to)) == 0)
			moved++;
	}
	closedir(d);
	close(cfd);
	buf_free(&to);
	return moved;
}

/* The names in cur/, sorted. */
struct names {
	char **v;
	size_t n, cap;
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
list_cur(struct mbox *mb, struct names *nm)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = subdir_fd(mb, "cur")) == -1 || (d = fdopendir(fd)) ==
	    NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL && nm->n < SYNC_MAX_FILES) {
		if (de->d_name[0] == '.')
			continue;
		if (nm->n == nm->cap) {
			nm->cap = nm->cap ? nm->cap * 2 : 256;
			nm->v = xreallocarray(nm->v, nm->cap, sizeof(char *));
		}
		nm->v[nm->n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (nm->n > 1)
		qsort(nm->v, nm->n, sizeof(char *), cmp_str);
	return 0;
}

static void
names_free(struct names *nm)
{
	size_t i;

	for (i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
	memset(nm, 0, sizeof(*nm));
}

/* Is there a file of this base in the listing?  Names sort by base
 * first (the base is a prefix of the name). */
static int
has_base(const struct names *nm, struct sv base)
{
	size_t lo = 0, hi = nm->n, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = strncmp(nm->v[mid], base.p, base.n);
		if (c == 0 && (nm->v[mid][base.n] == ',' ||
		    nm->v[mid][base.n] == ':' || nm->v[mid][base.n] == '\0'))
			return 1;
		if (c < 0 || (c == 0 && (unsigned char)nm->v[mid][base.n] <
		    (unsigned char)','))
			lo = mid + 1;
		else
			hi = mid;
	}
	/* a few names may sort between: check the neighbourhood */
	for (mid = lo > 8 ? lo - 8 : 0; mid < nm->n && mid < lo + 8; mid++)
		if (strncmp(nm->v[mid], base.p, base.n) == 0 &&
		    (nm->v[mid][base.n] == ',' || nm->v[mid][base.n] == ':' ||
		    nm->v[mid][base.n] == '\0'))
			return 1;
	return 0;
}


/* The size a message has with CRLF line ends (RFC822.SIZE, POP3's LIST):
 * a file an outside tool wrote may have bare LFs (or lone CRs), which
 * go out as CRLF.  raw when the file cannot be read. */
static uint64_t
crlf_size(int dirfd, const char *path, uint64_t raw)
{
	uint64_t extra = 0;
	struct stat sb;
	const char *p;
	size_t i, n;
	void *map;
	int fd;

	if ((fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) ==
	    -1)
		return raw;
	if (fstat(fd, &sb) == -1 || sb.st_size <= 0 || (map = mmap(NULL,
	    (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
	    MAP_FAILED) {
		close(fd);
		return raw;
	}
	p = map;
	n = (size_t)sb.st_size;
	for (i = 0; i < n; i++)
		if ((p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) ||
		    (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n')))
			extra++;
	munmap(map, n);
	close(fd);
	return (uint64_t)sb.st_size + extra;
}

/* One file of cur/: index it if it is new, take its flags if changed. */
static int
sync_file(struct mbox *mb, const char *name, int *changed, struct buf *err)
{
	struct maildir_name mn;
	struct buf k, v, path, env, bs;
	struct rec m;
	struct st_add a;
	struct stat sb;
	uint32_t uid;
	int r = 0;

	if (maildir_name_parse(name, &mn) == -1 || mn.base.n == 0)
		return 0;
	buf_init(&k, 1024);
	buf_init(&v, 64);
	buf_init(&path, 1024);
	buf_init(&env, 1024 * 1024);
	buf_init(&bs, 1024 * 1024);
	rec_init(&m);
	st_key_file(&k, mb->id, mn.base);
	if (dict_get(mb->st->db, NULL, buf_sv(&k), &v) == DICT_OK &&
	    v.len == 4) {
		uid = st_get32(v.data);
		st_key_msg(&k, 'u', mb->id, uid);
		if (st_get_rec(mb->st, NULL, &k, &m) == DICT_OK &&
		    (unsigned)st_num(&m, "f") != mn.flags) {
			/* someone changed the flags in the name */
			r = mbox_store_flags(mb, uid, uid, '=', mn.flags,
			    NULL, 0, NULL, NULL, NULL, err);
			*changed = 1;
		}
		goto out;
	}
	/* not indexed: a new message */
	cur_path(mb, name, &path);
	if (fstatat(mb->st->homefd, buf_cstr(&path), &sb,
	    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(sb.st_mode))
		goto out;	/* gone already, or not a message */
	parse_file(mb->st, mb->st->homefd, buf_cstr(&path), &env, &bs);
	memset(&a, 0, sizeof(a));
	a.mb = mb;
	a.base = mn.base;
	a.src = buf_cstr(&path);
	a.srcdir = mb->st->homefd;
	a.rename = 1;
	a.flags = mn.flags;
	a.date = (int64_t)sb.st_mtime;
	a.size = crlf_size(mb->st->homefd, buf_cstr(&path),
	    (uint64_t)sb.st_size);
	a.want_uid = mn.uid;
	a.env = buf_sv(&env);
	a.bs = buf_sv(&bs);
	switch (st_add(&a, err)) {
	case DICT_OK:
		*changed = 1;
		break;
	case STORE_NOTFOUND:	/* gone since the listing */
		break;
	default:
		r = -1;
	}
out:
	buf_free(&k);
	buf_free(&v);
	buf_free(&path);
	buf_free(&env);
	buf_free(&bs);
	rec_free(&m);
	return r;
}

/* Indexed messages whose files are gone. */
struct gone {
	const struct names *nm;
	uint32_t *v;
	size_t n, cap;
};

static int
find_gone(const struct msg *m, void *arg)
{
	struct gone *g = arg;
	struct maildir_name mn;
	char name[1024];

	if (m->file.n >= sizeof(name))
		return 0;
	memcpy(name, m->file.p, m->file.n);
	name[m->file.n] = '\0';
	if (maildir_name_parse(name, &mn) == -1 || has_base(g->nm, mn.base))
		return 0;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->v = xreallocarray(g->v, g->cap, sizeof(*g->v));
	}
	g->v[g->n++] = m->uid;
	return 0;
}

/* Expunge a message whose file cannot be found, after looking once more
 * (a rename by another process may have been under way during the
 * listing). */
static int
drop_gone(struct mbox *mb, uint32_t uid, struct buf *err)
{
	int fd = mbox_msg_open(mb, uid, err);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return mbox_expunge_uid(mb, uid, err);
}

/*
 * Does cur/ or new/ hold anything the index has not seen?  Our writers
 * note cur/'s mtime in the folder record after each change ("cm"), so an
 * unchanged mtime means nobody else touched cur/.  Timestamps are coarse
 * (a jiffy on ext4): a stamp less than two seconds old proves nothing,
 * like git's "racily clean" index entries.
 */
static int
sync_needed(struct mbox *mb)
{
	struct buf k;
	struct rec f;
	struct stat sb;
	struct dirent *de;
	DIR *d;
	uint64_t mt;
	int fd, needed = 1;

	if ((fd = subdir_fd(mb, "new")) == -1 || (d = fdopendir(fd)) ==
	    NULL) {
		if (fd != -1)
			close(fd);
		return 1;
	}
	while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
		;
	closedir(d);
	if (de != NULL)
		return 1;
	if ((fd = subdir_fd(mb, "cur")) == -1)
		return 1;
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return 1;
	}
	close(fd);
	mt = (uint64_t)sb.st_mtim.tv_sec * 1000000000u +
	    (uint64_t)sb.st_mtim.tv_nsec;
	buf_init(&k, 1024);
	rec_init(&f);
	st_key_folder(&k, mb->name);
	if (st_get_rec(mb->st, NULL, &k, &f) == DICT_OK &&
	    st_num(&f, "cm") == mt && (int64_t)sb.st_mtim.tv_sec + 2 <
	    now_sec())
		needed = 0;
	rec_free(&f);
	buf_free(&k);
	return needed;
}

static int
stamp_txn(struct dict_txn *t, void *arg)
{
	struct mbox *mb = arg;
	struct buf k;
	struct rec f;
	int r;

	buf_init(&k, 1024);
	rec_init(&f);
	st_key_folder(&k, mb->name);
	if ((r = st_get_rec(mb->st, t, &k, &f)) == DICT_OK) {
		st_cur_stamp(mb, &f);
		r = st_put_rec(mb->st, t, &k, &f);
	}
	rec_free(&f);
	buf_free(&k);
	return r;
}

/* Under the folder's exclusive lock: no writer of ours is half way. */
static int
sync_locked(struct mbox *mb, struct buf *err)
{
	struct names nm;
	struct gone g;
	size_t i;
	int changed = 0, r = 0;

	memset(&nm, 0, sizeof(nm));
	memset(&g, 0, sizeof(g));
	if (take_new(mb) > 0)
		changed = 1;
	if (list_cur(mb, &nm) == -1)
		return seterr(err, mb->name, strerror(errno));
	for (i = 0; i < nm.n && r == 0; i++)
		r = sync_file(mb, nm.v[i], &changed, err);
	if (r == 0) {
		/* the listing again: files renamed above have new names */
		names_free(&nm);
		if (list_cur(mb, &nm) == -1)
			r = seterr(err, mb->name, strerror(errno));
	}
	g.nm = &nm;
	if (r == 0 && mbox_messages(mb, 1, UINT32_MAX, find_gone, &g, err) != 0)
		r = -1;
	for (i = 0; r == 0 && i < g.n; i++) {
		if (drop_gone(mb, g.v[i], err) != 0)
			r = -1;
		changed = 1;
	}
	free(g.v);
	names_free(&nm);
	if (r == 0 && dict_txn_run(mb->st->env, stamp_txn, mb, err) !=
	    DICT_OK)
		r = -1;
	if (changed && r == 0)
		st_notify(mb->st);
	return r;
}

static int
sync_folder(struct mbox *mb, int force, struct buf *err)
{
	int lock, r;

	if (!force && !sync_needed(mb))
		return 0;
	if ((lock = st_lock(mb->st, mb->id, 1)) == -1)
		return seterr(err, mb->name, "cannot lock the folder");
	r = sync_locked(mb, err);
	st_unlock(mb->st, mb->id, lock);
	return r;
}

int
mbox_sync(struct mbox *mb, struct buf *err)
{
	return sync_folder(mb, 0, err);
}

int
mbox_resync(struct mbox *mb, struct buf *err)
{
	return sync_folder(mb, 1, err);
}
