/*
 * store.c: a user's store -- opening it, the index layout, folders,
 * subscriptions, special-use folders, quota usage, change notification.
 * Messages are in mbox.c.
 *
 * The index is one Berkeley DB database, HOME/chapar-index/index.db:
 *
 *	"G"			 next folder id, last UIDVALIDITY
 *	"M" name		 a folder: id, uidvalidity, uidnext, modseq,
 *				 counters, dir, special use
 *	"u" id(4) uid(4)	 a message (big-endian: UID order)
 *	"f" id(4) base		 base name -> UID
 *	"x" id(4) uid(4)	 an expunged UID -> its MODSEQ
 *	"k" id(4)		 the folder's keyword names
 *	"S" name		 a subscription
 *	"Q"			 quota usage: bytes, messages
 *
 * Trusts the maildir as far as the names maildir.c parses; trusts folder
 * names only after maildir_folder_dir() said yes.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chapar/dict.h"
#include "chapar/log.h"
#include "chapar/rec.h"
#include "chapar/store.h"
#include "chapar/util.h"
#include "store_int.h"

/* --- keys and records ---------------------------------------------------- */

static void
be32(struct buf *b, uint32_t v)
{
	unsigned char x[4];

	x[0] = (unsigned char)(v >> 24);
	x[1] = (unsigned char)(v >> 16);
	x[2] = (unsigned char)(v >> 8);
	x[3] = (unsigned char)v;
	buf_append(b, x, 4);
}

uint32_t
st_get32(const char *p)
{
	const unsigned char *x = (const unsigned char *)p;

	return (uint32_t)x[0] << 24 | (uint32_t)x[1] << 16 |
	    (uint32_t)x[2] << 8 | x[3];
}

void
st_key_folder(struct buf *k, const char *name)
{
	buf_reset(k);
	buf_putc(k, 'M');
	buf_puts(k, name);
}

void
st_key_id(struct buf *k, char kind, uint32_t id)
{
	buf_reset(k);
	buf_putc(k, kind);
	be32(k, id);
}

void
st_key_msg(struct buf *k, char kind, uint32_t id, uint32_t uid)
{
	st_key_id(k, kind, id);
	be32(k, uid);
}

void
st_key_file(struct buf *k, uint32_t id, struct sv base)
{
	st_key_id(k, 'f', id);
	buf_append_sv(k, base);
}

/* A record from the index: DICT_OK, DICT_NOTFOUND, or an error. */
int
st_get_rec(struct store *st, struct dict_txn *t, const struct buf *key,
    struct rec *out)
{
	struct buf v;
	int r;

	buf_init(&v, 16 * 1024 * 1024);
	r = dict_get(st->db, t, buf_sv(key), &v);
	if (r == DICT_OK && rec_decode(buf_sv(&v), out) == -1)
		r = DICT_ERROR;
	buf_free(&v);
	return r;
}

int
st_put_rec(struct store *st, struct dict_txn *t, const struct buf *key,
    const struct rec *r)
{
	struct buf v;
	int ret;

	buf_init(&v, 16 * 1024 * 1024);
	rec_encode(r, &v);
	ret = dict_put(st->db, t, buf_sv(key), buf_sv(&v), 0);
	buf_free(&v);
	return ret;
}

uint64_t
st_num(const struct rec *r, const char *name)
{
	uint64_t v = 0;

	(void)rec_get_u64(r, name, &v);
	return v;
}

/* --- the uid file of a folder -------------------------------------------- */

/*
 * HOME/FOLDER/chapar-uid: "UIDVALIDITY UIDBOUND\n".  UIDBOUND is above every
 * UID given out; it is raised (and the file fsync'd) in steps of
 * UID_STEP before a UID past it is used.  A rebuilt index takes its
 * UIDVALIDITY and starts UIDNEXT at UIDBOUND, so no UID is ever reused.
 */


int
st_uidfile_read(struct store *st, const char *dir, uint32_t *validity,
    uint32_t *bound)
{
	char path[512], text[64];
	struct sv v, a;
	uint64_t x, y;
	ssize_t n;
	int fd;

	if (xsnprintf(path, sizeof(path), "%s%schapar-uid", dir,
	    dir[0] ? "/" : "") == -1)
		return -1;
	fd = openat(st->homefd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	v = sv_trim(sv_make(text, (size_t)n));
	if (!sv_split(&v, ' ', &a) || parse_u64(a, UINT32_MAX, &x) == -1 ||
	    parse_u64(v, UINT32_MAX, &y) == -1)
		return -1;
	*validity = (uint32_t)x;
	*bound = (uint32_t)y;
	return 0;
}

int
st_uidfile_write(struct store *st, const char *dir, uint32_t validity,
    uint32_t bound)
{
	char path[512], tmp[520], text[64];
	int fd, r;

	if (xsnprintf(path, sizeof(path), "%s%schapar-uid", dir,
	    dir[0] ? "/" : "") == -1 ||
	    xsnprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid()) == -1 ||
	    xsnprintf(text, sizeof(text), "%u %u\n", validity, bound) == -1)
		return -1;
	fd = openat(st->homefd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1)
		return -1;
	r = write_all(fd, text, strlen(text)) == -1 || fsync(fd) == -1;
	close(fd);
	if (r || renameat(st->homefd, tmp, st->homefd, path) == -1) {
		(void)unlinkat(st->homefd, tmp, 0);
		return -1;
	}
	return maildir_fsync_dir(st->homefd, dir, "");
}

/* --- folder locks (store_int.h) ------------------------------------------ */

static int
lock_op(struct store *st, uint32_t id, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)id;
	fl.l_len = 1;
	while (fcntl(st->lockfd, F_OFD_SETLKW, &fl) == -1) {
		if (errno != EINTR) {
			log_error("store %s: folder lock: %s", st->home,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
st_lock(struct store *st, uint32_t id, int excl)
{
	size_t i, slot = NELEM(st->held);

	for (i = 0; i < NELEM(st->held); i++) {
		if (st->held[i].id == id)
			return 0;
		if (st->held[i].id == 0 && slot == NELEM(st->held))
			slot = i;
	}
	if (slot == NELEM(st->held))
		log_panic("store: too many folder locks");
	if (lock_op(st, id, excl ? F_WRLCK : F_RDLCK) == -1)
		return -1;
	st->held[slot].id = id;
	st->held[slot].excl = excl;
	return 1;
}

void
st_unlock(struct store *st, uint32_t id, int token)
{
	size_t i;

	if (token != 1)
		return;
	for (i = 0; i < NELEM(st->held); i++) {
		if (st->held[i].id == id) {
			(void)lock_op(st, id, F_UNLCK);
			st->held[i].id = 0;
			return;
		}
	}
}

/* --- opening ------------------------------------------------------------- */

static int
seterr(struct buf *err, const char *what, const char *detail)
{
	buf_reset(err);
	buf_cut_printf(err, "%s: %s", what, detail);	/* a folder name */
	return -1;
}

struct mkfolder {
	struct store *st;
	const char *name;
	const char *dir;
	const char *special;
	uint32_t validity, uidnext;
	int created;
};

/* In a transaction: the folder record, unless there is one. */
static int
mkfolder_txn(struct dict_txn *t, void *arg)
{
	struct mkfolder *m = arg;
	struct buf k;
	struct rec g, f;
	uint64_t id;
	int r;

	buf_init(&k, 1024);
	rec_init(&g);
	rec_init(&f);
	st_key_folder(&k, m->name);
	m->created = 0;
	r = st_get_rec(m->st, t, &k, &f);
	if (r != DICT_NOTFOUND) {
		if (r == DICT_OK)
			r = STORE_EXISTS;
		goto out;
	}
	buf_reset(&k);
	buf_putc(&k, 'G');
	if ((r = st_get_rec(m->st, t, &k, &g)) != DICT_OK &&
	    r != DICT_NOTFOUND)
		goto out;
	id = st_num(&g, "next") + 1;
	rec_set_u64(&g, "next", id);
	if ((r = st_put_rec(m->st, t, &k, &g)) != DICT_OK)
		goto out;
	rec_set_u64(&f, "id", id);
	rec_set_u64(&f, "uidvalidity", m->validity);
	rec_set_u64(&f, "uidnext", m->uidnext);
	rec_set_u64(&f, "modseq", 1);
	rec_set_str(&f, "dir", m->dir);
	if (m->special != NULL && m->special[0] != '\0')
		rec_set_str(&f, "special", m->special);
	st_key_folder(&k, m->name);
	if ((r = st_put_rec(m->st, t, &k, &f)) == DICT_OK)
		m->created = 1;
out:
	buf_free(&k);
	rec_free(&g);
	rec_free(&f);
	return r;
}

/* A UIDVALIDITY never given before in this store: the time, but always
 * above the last one (a folder deleted and made again in the same second
 * must not get the same one). */
static uint32_t
new_validity(struct store *st)
{
	static uint32_t last;
	uint32_t v = (uint32_t)now_sec();

	(void)st;
	if (v <= last)
		v = last + 1;
	last = v;
	return v;
}

/* Make the folder's maildir and its index record (if missing).  The
 * uid file comes first: its UIDVALIDITY is the folder's for good. */
int
st_folder_make(struct store *st, const char *name, const char *dir,
    const char *special, struct buf *err)
{
	struct mkfolder m;
	uint32_t validity, bound;
	int r;

	if (maildir_make(st->homefd, dir) == -1)
		return seterr(err, name, strerror(errno));
	if (st_uidfile_read(st, dir, &validity, &bound) == -1) {
		validity = new_validity(st);
		bound = UID_STEP;
		if (st_uidfile_write(st, dir, validity, bound) == -1)
			return seterr(err, name, strerror(errno));
	}
	m.st = st;
	m.name = name;
	m.dir = dir;
	m.special = special;
	m.validity = validity;
	/* an index made again starts above every UID given before */
	m.uidnext = bound > UID_STEP ? bound : 1;
	r = dict_txn_run(st->env, mkfolder_txn, &m, err);
	return r;
}

/* --- opening ------------------------------------------------------------- */

static int
index_open(struct store *st, struct buf *err)
{
	struct buf path;
	int r = -1;

	buf_init(&path, 4096);
	if (buf_try_printf(&path, "%s/chapar-index", st->home) == -1)
		seterr(err, st->home, "path too long");
	else if (mkdirat(st->homefd, "chapar-index", 0700) == -1 &&
	    errno != EEXIST)
		seterr(err, buf_cstr(&path), strerror(errno));
	/* the index is a cache of the maildir (UIDs and flags are in the
	 * file names, which are fsync'd): its commits need not wait for the
	 * disk, as Dovecot's index files do not */
	else if (dict_env_open(buf_cstr(&path), DICT_ENV_CREATE |
	    DICT_ENV_NOSYNC | DICT_ENV_SMALL, &st->env, err) ==
	    DICT_OK && dict_open(st->env, "index.db", 1, &st->db, err) ==
	    DICT_OK)
		r = 0;
	if (r == 0 && buf_try_puts(&path, "/folders.lock") == -1)
		r = seterr(err, st->home, "path too long");
	else if (r == 0 && (st->lockfd = open(buf_cstr(&path), O_RDWR |
	    O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		r = seterr(err, buf_cstr(&path), strerror(errno));
	buf_free(&path);
	if (r == -1) {
		dict_close(&st->db);
		dict_env_close(&st->env);
	}
	return r;
}

/*
 * The index would not open although its directory is ours to write: it
 * is damaged.  The maildir is the truth and its file names carry UIDs and
 * flags, so move the index aside (keeping the last broken one for a
 * post-mortem) and let a new one be built from the maildir; keywords,
 * subscriptions and MODSEQ history are what is lost.  A permission or
 * resource problem is left to the admin.
 */
static int
index_aside(struct store *st, struct buf *err)
{
	if (faccessat(st->homefd, "chapar-index", R_OK | W_OK | X_OK, 0) ==
	    -1)
		return -1;
	log_warning("store %s: index unusable (%s); moved to "
	    "chapar-index.broken, rebuilding from the maildir", st->home,
	    buf_cstr(err));
	if (st_rm_tree_at(st->homefd, "chapar-index.broken") == -1 &&
	    errno != ENOENT)
		return -1;
	if (renameat(st->homefd, "chapar-index", st->homefd,
	    "chapar-index.broken") == -1) {
		seterr(err, "chapar-index", strerror(errno));
		return -1;
	}
	return 0;
}

int
store_open(const char *home, const struct store_opts *opts, struct store **sp,
    struct buf *err)
{
	struct store *st;

	*sp = NULL;
	st = xcalloc(1, sizeof(*st));
	st->notify_fd = -1;
	st->lockfd = -1;
	st->home = xstrdup(home);
	if (opts != NULL)
		st->opts = *opts;
	if (st->opts.parse == NULL)
		st->opts.parse = store_mime_parse;
	st->homefd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->homefd == -1) {
		seterr(err, home, strerror(errno));
		goto fail;
	}
	if (index_open(st, err) == -1 && (index_aside(st, err) == -1 ||
	    index_open(st, err) == -1))
		goto fail;
	if (st_folder_make(st, "INBOX", "", NULL, err) < 0 ||
	    st_discover(st, err) == -1)
		goto fail;
	*sp = st;
	return 0;
fail:
	store_close(&st);
	return -1;
}

void
store_close(struct store **sp)
{
	struct store *st = *sp;

	if (st == NULL)
		return;
	dict_close(&st->db);
	dict_env_close(&st->env);
	if (st->homefd >= 0)
		close(st->homefd);
	if (st->notify_fd >= 0)
		close(st->notify_fd);
	if (st->lockfd >= 0)
		close(st->lockfd);
	free(st->home);
	free(st);
	*sp = NULL;
}

/* --- change notification ------------------------------------------------- */

/* Tell watchers something changed: one byte appended to a file they watch
 * (kept short: truncated when it grows). */
void
st_notify(struct store *st)
{
	struct stat sb;
	int fd;

	fd = openat(st->homefd, "chapar-index/notify", O_WRONLY | O_CREAT |
	    O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return;
	if (fstat(fd, &sb) == 0 && sb.st_size > 4096 &&
	    ftruncate(fd, 0) == -1)
		log_warning("store notify: %s", strerror(errno));
	if (write(fd, "\n", 1) == -1)
		log_warning("store notify: %s", strerror(errno));
	close(fd);
}

int
store_notify_fd(struct store *st)
{
	char path[4096];
	int fd;

	if (st->notify_fd >= 0)
		return st->notify_fd;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd == -1)
		return -1;
	st_notify(st);		/* make sure the file exists */
	/* inotify wants a path; the store's home, then the file */
	if (xsnprintf(path, sizeof(path), "%s/chapar-index/notify",
	    st->home) == -1 ||
	    inotify_add_watch(fd, path, IN_MODIFY) == -1 ||
	    xsnprintf(path, sizeof(path), "%s/new", st->home) == -1 ||
	    inotify_add_watch(fd, path, IN_MOVED_TO | IN_CREATE) == -1) {
		close(fd);
		return -1;
	}
	st->notify_fd = fd;
	return fd;
}

/* --- folders ------------------------------------------------------------- */

struct list {
	struct store *st;
	folder_fn fn;
	void *arg;
	struct rec names;	/* "n": every folder name, for has_children */
	struct rec subs;
	int stop;
};

static int
collect_subs(struct sv k, struct sv v, void *arg)
{
	struct list *l = arg;

	(void)v;
	rec_add(&l->subs, "s", sv_make(k.p + 1, k.n - 1));
	return 0;
}

static int
collect_names(struct sv k, struct sv v, void *arg)
{
	struct list *l = arg;

	(void)v;
	rec_add(&l->names, "n", sv_make(k.p + 1, k.n - 1));
	return 0;
}

static int
has_children(const struct list *l, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < l->names.n; i++)
		if (l->names.vals[i].len > n + 1 &&
		    memcmp(l->names.vals[i].data, name, n) == 0 &&
		    l->names.vals[i].data[n] == '/')
			return 1;
	return 0;
}

static int
is_subscribed(const struct list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->subs.n; i++)
		if (strcmp(buf_cstr(&l->subs.vals[i]), name) == 0)
			return 1;
	return 0;
}

static int
list_one(struct sv k, struct sv v, void *arg)
{
	struct list *l = arg;
	struct folder_info fi;
	struct buf name;
	struct rec r;
	int ret;

	buf_init(&name, k.n);	/* the key without its "M" */
	rec_init(&r);
	buf_append(&name, k.p + 1, k.n - 1);
	if (rec_decode(v, &r) == -1) {
		rec_free(&r);
		buf_free(&name);
		return 0;
	}
	memset(&fi, 0, sizeof(fi));
	fi.name = buf_cstr(&name);
	fi.special = rec_get_str(&r, "special") ? rec_get_str(&r, "special") :
	    "";
	fi.subscribed = is_subscribed(l, fi.name);
	fi.has_children = has_children(l, fi.name);
	fi.messages = (uint32_t)st_num(&r, "msgs");
	fi.unseen = (uint32_t)(st_num(&r, "msgs") - st_num(&r, "seen"));
	fi.bytes = st_num(&r, "bytes");
	ret = l->fn(&fi, l->arg);
	rec_free(&r);
	buf_free(&name);
	return ret;
}

int
store_folders(struct store *st, folder_fn fn, void *arg, struct buf *err)
{
	struct list l;
	int r;

	l.st = st;
	l.fn = fn;
	l.arg = arg;
	rec_init(&l.names);
	rec_init(&l.subs);
	r = dict_scan(st->db, NULL, SV_LIT("S"), collect_subs, &l);
	if (r == DICT_OK)
		r = dict_scan(st->db, NULL, SV_LIT("M"), collect_names, &l);
	if (r == DICT_OK)
		r = dict_scan(st->db, NULL, SV_LIT("M"), list_one, &l);
	rec_free(&l.names);
	rec_free(&l.subs);
	if (r < 0)
		return seterr(err, "folders", "cannot read the index");
	return 0;
}

int
store_folder_create(struct store *st, const char *name, const char *special,
    struct buf *err)
{
	struct buf dir, sup;
	const char *e, *p;
	int r;

	buf_init(&dir, 512);
	buf_init(&sup, 512);
	if (maildir_folder_dir(sv_from(name), &dir, &e) == -1) {
		buf_free(&dir);
		return seterr(err, name, e);
	}
	if (dir.len == 0) {
		buf_free(&dir);
		return STORE_EXISTS;	/* INBOX always exists */
	}
	buf_reset(&dir);
	/* RFC 3501 6.3.3: the superior names are made too */
	for (p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		buf_reset(&sup);
		buf_append(&sup, name, (size_t)(p - name));
		if (maildir_folder_dir(buf_sv(&sup), &dir, &e) == -1 ||
		    (dir.len > 0 && (r = st_folder_make(st, buf_cstr(&sup),
		    buf_cstr(&dir), NULL, err)) != 0 && r != STORE_EXISTS)) {
			buf_free(&dir);
			buf_free(&sup);
			return -1;
		}
	}
	(void)maildir_folder_dir(sv_from(name), &dir, &e);
	r = st_folder_make(st, name, buf_cstr(&dir), special, err);
	buf_free(&dir);
	buf_free(&sup);
	return r;
}

struct sub {
	struct store *st;
	const char *name;
	int on;
};

static int
sub_txn(struct dict_txn *t, void *arg)
{
	struct sub *s = arg;
	struct buf k;
	int r;

	buf_init(&k, 1024);
	buf_putc(&k, 'S');
	buf_puts(&k, s->name);
	if (s->on)
		r = dict_put(s->st->db, t, buf_sv(&k), SV_LIT(""), 0);
	else if ((r = dict_del(s->st->db, t, buf_sv(&k))) == DICT_NOTFOUND)
		r = DICT_OK;
	buf_free(&k);
	return r;
}

int
store_subscribe(struct store *st, const char *name, int on, struct buf *err)
{
	struct buf dir;
	struct sub s;
	const char *e;
	int r;

	/* RFC 3501 6.3.6: a name may be subscribed without existing, but
	 * it must be a name we could store. */
	buf_init(&dir, 512);
	r = maildir_folder_dir(sv_from(name), &dir, &e);
	buf_free(&dir);
	if (r == -1)
		return seterr(err, name, e);
	s.st = st;
	s.name = maildir_is_inbox(sv_from(name)) ? "INBOX" : name;
	s.on = on;
	return dict_txn_run(st->env, sub_txn, &s, err);
}

/* RFC 6154 section 2 names, and the folder each gets by default. */
static const struct {
	const char *use, *name;
} specials[] = {
	{ "\\Drafts", "Drafts" }, { "\\Sent", "Sent" }, { "\\Junk", "Junk" },
	{ "\\Trash", "Trash" }, { "\\Archive", "Archive" },
};

struct find_special {
	const char *use;
	struct buf *name;
	int found;
};

static int
find_special(struct sv k, struct sv v, void *arg)
{
	struct find_special *f = arg;
	struct rec r;
	const char *s;

	rec_init(&r);
	if (rec_decode(v, &r) == 0 && (s = rec_get_str(&r, "special")) !=
	    NULL && strcasecmp(s, f->use) == 0) {
		buf_reset(f->name);
		buf_append(f->name, k.p + 1, k.n - 1);
		f->found = 1;
	}
	rec_free(&r);
	return f->found;
}

int
store_special(struct store *st, const char *use, struct buf *name,
    struct buf *err)
{
	struct find_special f;
	size_t i;
	int r;

	for (i = 0; i < NELEM(specials); i++)
		if (strcasecmp(specials[i].use, use) == 0)
			break;
	if (i == NELEM(specials))
		return seterr(err, use, "not a special use (RFC 6154)");
	f.use = specials[i].use;
	f.name = name;
	f.found = 0;
	r = dict_scan(st->db, NULL, SV_LIT("M"), find_special, &f);
	if (r < 0)
		return seterr(err, use, "cannot read the index");
	if (f.found)
		return 0;
	buf_reset(name);
	buf_puts(name, specials[i].name);
	r = store_folder_create(st, specials[i].name, specials[i].use, err);
	return r == STORE_EXISTS ? 0 : r;
}

/* --- quota usage --------------------------------------------------------- */

int
st_usage_add(struct store *st, struct dict_txn *t, int64_t bytes,
    int64_t msgs)
{
	struct buf k;
	struct rec q;
	int64_t b, m;
	int r;

	buf_init(&k, 8);
	rec_init(&q);
	buf_putc(&k, 'Q');
	if ((r = st_get_rec(st, t, &k, &q)) == DICT_NOTFOUND)
		r = DICT_OK;
	if (r == DICT_OK) {
		b = (int64_t)st_num(&q, "bytes") + bytes;
		m = (int64_t)st_num(&q, "msgs") + msgs;
		rec_set_u64(&q, "bytes", (uint64_t)(b < 0 ? 0 : b));
		rec_set_u64(&q, "msgs", (uint64_t)(m < 0 ? 0 : m));
		r = st_put_rec(st, t, &k, &q);
	}
	rec_free(&q);
	buf_free(&k);
	return r;
}

/* Would adding this pass the quota?  In the caller's transaction. */
int
st_over_quota(struct store *st, struct dict_txn *t, uint64_t bytes,
    uint64_t msgs)
{
	struct buf k;
	struct rec q;
	int over = 0;

	if (st->opts.quota_bytes == 0 && st->opts.quota_messages == 0)
		return 0;
	buf_init(&k, 8);
	rec_init(&q);
	buf_putc(&k, 'Q');
	if (st_get_rec(st, t, &k, &q) == DICT_OK) {
		if (st->opts.quota_bytes > 0 && st_num(&q, "bytes") + bytes >
		    st->opts.quota_bytes)
			over = 1;
		if (st->opts.quota_messages > 0 && st_num(&q, "msgs") + msgs >
		    st->opts.quota_messages)
			over = 1;
	} else if (st->opts.quota_bytes > 0 && bytes > st->opts.quota_bytes)
		over = 1;
	rec_free(&q);
	buf_free(&k);
	return over;
}

int
store_usage(struct store *st, uint64_t *bytes, uint64_t *msgs,
    struct buf *err)
{
	struct buf k;
	struct rec q;
	int r;

	buf_init(&k, 8);
	rec_init(&q);
	buf_putc(&k, 'Q');
	r = st_get_rec(st, NULL, &k, &q);
	*bytes = st_num(&q, "bytes");
	*msgs = st_num(&q, "msgs");
	rec_free(&q);
	buf_free(&k);
	if (r != DICT_OK && r != DICT_NOTFOUND)
		return seterr(err, "quota", "cannot read the index");
	return 0;
}

struct recalc {
	struct store *st;
	uint64_t bytes, msgs;
};

static int
sum_folder(struct sv k, struct sv v, void *arg)
{
	struct recalc *rc = arg;
	struct rec r;

	(void)k;
	rec_init(&r);
	if (rec_decode(v, &r) == 0) {
		rc->bytes += st_num(&r, "bytes");
		rc->msgs += st_num(&r, "msgs");
	}
	rec_free(&r);
	return 0;
}

static int
recalc_txn(struct dict_txn *t, void *arg)
{
	struct recalc *rc = arg;
	struct store *st = rc->st;
	struct buf k;
	struct rec q;
	int r;

	rc->bytes = rc->msgs = 0;
	if ((r = dict_scan(st->db, t, SV_LIT("M"), sum_folder, rc)) !=
	    DICT_OK)
		return r;
	buf_init(&k, 8);
	rec_init(&q);
	buf_putc(&k, 'Q');
	if ((r = st_get_rec(st, t, &k, &q)) != DICT_OK && r != DICT_NOTFOUND)
		goto out;
	rec_set_u64(&q, "bytes", rc->bytes);
	rec_set_u64(&q, "msgs", rc->msgs);
	r = st_put_rec(st, t, &k, &q);
out:
	rec_free(&q);
	buf_free(&k);
	return r;
}

int
store_usage_recalc(struct store *st, struct buf *err)
{
	struct recalc rc;

	rc.st = st;
	return dict_txn_run(st->env, recalc_txn, &rc, err);
}

const char *
store_home(const struct store *st)
{
	return st->home;
}

void
store_set_quota(struct store *st, uint64_t bytes, uint64_t messages)
{
	st->opts.quota_bytes = bytes;
	st->opts.quota_messages = messages;
}

int
store_index_reset(const char *home, struct buf *err)
{
	struct store st;
	int r;

	memset(&st, 0, sizeof(st));
	st.home = (char *)(uintptr_t)home;
	if ((st.homefd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return seterr(err, home, strerror(errno));
	buf_reset(err);
	buf_puts(err, "reindex asked for");
	r = index_aside(&st, err);
	close(st.homefd);
	return r;
}

/* --- quota warnings ------------------------------------------------------ */

struct warn {
	struct store *st;
	unsigned level, old;
};

static int
warn_txn(struct dict_txn *t, void *arg)
{
	struct warn *w = arg;
	struct buf k;
	struct rec q;
	int r;

	buf_init(&k, 8);
	rec_init(&q);
	buf_putc(&k, 'Q');
	if ((r = st_get_rec(w->st, t, &k, &q)) == DICT_OK ||
	    r == DICT_NOTFOUND) {
		w->old = (unsigned)st_num(&q, "w");
		rec_set_u64(&q, "w", w->level);
		r = w->old == w->level ? DICT_OK : st_put_rec(w->st, t, &k, &q);
	}
	rec_free(&q);
	buf_free(&k);
	return r;
}

int
store_warn_level(struct store *st, unsigned level, unsigned *old,
    struct buf *err)
{
	struct warn w;

	w.st = st;
	w.level = level;
	w.old = 0;
	if (dict_txn_run(st->env, warn_txn, &w, err) != DICT_OK)
		return -1;
	*old = w.old;
	return 0;
}
