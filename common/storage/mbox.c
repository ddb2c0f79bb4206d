/*
 * mbox.c: one folder of a store -- its messages in the maildir and the
 * index (store.c has the layout).
 *
 * The order of every write (see store.h): the message file is complete
 * and fsync'd in tmp/ before its transaction starts; inside the
 * transaction the UID is taken and the file linked into cur/ under its
 * final name; after the commit cur/ is fsync'd and only then is the
 * caller told.  A transaction may run more than once (lock conflicts):
 * whatever it did to the file system is undone before a second run.
 */
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* "DIR/cur/NAME" or "cur/NAME" */
void
cur_path(const struct mbox *mb, const char *name, struct buf *out)
{
	buf_reset(out);
	if (mb->dir[0] != '\0')
		buf_printf(out, "%s/", mb->dir);
	buf_printf(out, "cur/%s", name);
}

int
st_find_file(struct mbox *mb, struct sv base, struct buf *out)
{
	struct maildir_name mn;
	struct dirent *de;
	char path[512];
	DIR *d;
	int fd, r = -1;

	if (xsnprintf(path, sizeof(path), "%s%scur", mb->dir, mb->dir[0] ?
	    "/" : "") == -1 || (fd = openat(mb->st->homefd, path, O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while (r == -1 && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, base.p, base.n) != 0 ||
		    maildir_name_parse(de->d_name, &mn) == -1 ||
		    !sv_eq(mn.base, base))
			continue;
		buf_reset(out);
		buf_puts(out, de->d_name);
		r = 0;
	}
	closedir(d);
	return r;
}

void
st_cur_stamp(struct mbox *mb, struct rec *f)
{
	struct stat sb;
	char path[512];

	if (xsnprintf(path, sizeof(path), "%s%scur", mb->dir, mb->dir[0] ?
	    "/" : "") == -1 || fstatat(mb->st->homefd, path, &sb, 0) == -1)
		return;
	rec_set_u64(f, "cm", (uint64_t)sb.st_mtim.tv_sec * 1000000000u +
	    (uint64_t)sb.st_mtim.tv_nsec);
}

/* --- opening ------------------------------------------------------------- */

/*
 * The folder's directory and its cur/, new/ and tmp/ must be directories
 * of their own, not symbolic links: the paths below go through them, and
 * a process chrooted higher than the user's home (local(8), chrooted
 * into mail_dir) would follow a link a user's session planted into
 * another user's store.  What does not exist yet is fine (made later).
 */
static int
dirs_real(int homefd, const char *dir)
{
	static const char *const subs[] = { "", "cur", "new", "tmp" };
	char path[600];
	struct stat sb;
	size_t i;

	for (i = 0; i < NELEM(subs); i++) {
		if (dir[0] == '\0' && i == 0)
			continue;	/* the home itself: home_open's */
		if (xsnprintf(path, sizeof(path), "%s%s%s", dir, dir[0] &&
		    i > 0 ? "/" : "", subs[i]) == -1)
			return -1;
		if (fstatat(homefd, path, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno == ENOENT)
				continue;
			return -1;
		}
		if (!S_ISDIR(sb.st_mode))
			return -1;
	}
	return 0;
}

static int
open_folder(struct store *st, const char *name, int sync, struct mbox **mp,
    struct buf *err)
{
	struct buf dir, k;
	struct rec f;
	const char *e, *canon;
	struct mbox *mb;
	int r;

	*mp = NULL;
	buf_init(&dir, 512);
	buf_init(&k, 1024);
	rec_init(&f);
	if (maildir_folder_dir(sv_from(name), &dir, &e) == -1) {
		r = seterr(err, name, e);
		goto out;
	}
	canon = dir.len == 0 ? "INBOX" : name;
	st_key_folder(&k, canon);
	r = st_get_rec(st, NULL, &k, &f);
	if (r == DICT_NOTFOUND) {
		(void)seterr(err, name, "no such folder");
		r = STORE_NOTFOUND;
		goto out;
	}
	if (r != DICT_OK) {
		r = seterr(err, name, "cannot read the index");
		goto out;
	}
	if (dirs_real(st->homefd, buf_cstr(&dir)) == -1) {
		r = seterr(err, name, "its directory is not a plain directory "
		    "(a symbolic link?): refused");
		goto out;
	}
	mb = xcalloc(1, sizeof(*mb));
	mb->st = st;
	mb->name = xstrdup(canon);
	mb->dir = xstrdup(buf_cstr(&dir));
	mb->id = (uint32_t)st_num(&f, "id");
	mb->uidvalidity = (uint32_t)st_num(&f, "uidvalidity");
	if (sync && (r = mbox_sync(mb, err)) != 0) {
		mbox_close(&mb);
		goto out;
	}
	*mp = mb;
out:
	buf_free(&dir);
	buf_free(&k);
	rec_free(&f);
	return r;
}

int
mbox_open(struct store *st, const char *name, struct mbox **mp,
    struct buf *err)
{
	return open_folder(st, name, 1, mp, err);
}

int
mbox_open_append(struct store *st, const char *name, struct mbox **mp,
    struct buf *err)
{
	return open_folder(st, name, 0, mp, err);
}

void
mbox_close(struct mbox **mp)
{
	if (*mp == NULL)
		return;
	free((*mp)->name);
	free((*mp)->dir);
	free(*mp);
	*mp = NULL;
}

/* --- counters ------------------------------------------------------------ */

/* A message joins (sign 1) or leaves (-1) the folder's counters. */
void
count(struct rec *f, int sign, unsigned flags, uint64_t size)
{
	int64_t m = (int64_t)st_num(f, "msgs") + sign;
	int64_t s = (int64_t)st_num(f, "seen") + ((flags & MF_SEEN) ? sign : 0);
	int64_t d = (int64_t)st_num(f, "deleted") +
	    ((flags & MF_DELETED) ? sign : 0);
	int64_t b = (int64_t)st_num(f, "bytes") + sign * (int64_t)size;

	rec_set_u64(f, "msgs", (uint64_t)(m < 0 ? 0 : m));
	rec_set_u64(f, "seen", (uint64_t)(s < 0 ? 0 : s));
	rec_set_u64(f, "deleted", (uint64_t)(d < 0 ? 0 : d));
	rec_set_u64(f, "bytes", (uint64_t)(b < 0 ? 0 : b));
}

/* A flag change of one message in the counters. */
void
count_flags(struct rec *f, unsigned from, unsigned to)
{
	count(f, -1, from, 0);
	count(f, 1, to, 0);
}

uint64_t
next_modseq(struct rec *f)
{
	uint64_t m = st_num(f, "modseq") + 1;

	rec_set_u64(f, "modseq", m);
	return m;
}

/* Take the next UID, raising the bound in the uid file first when it is
 * reached (store.h: a rebuilt index must never reuse a UID). */
static int
take_uid(struct mbox *mb, struct rec *f, uint32_t *uid)
{
	uint64_t next = st_num(f, "uidnext"), bound = st_num(f, "bound");
	uint32_t validity, fbound;

	if (next == 0)
		next = 1;
	if (next >= UINT32_MAX)
		return -1;
	if (bound == 0 && st_uidfile_read(mb->st, mb->dir, &validity,
	    &fbound) == 0)
		bound = fbound;
	if (next >= bound) {
		bound = (next / UID_STEP + 1) * UID_STEP;
		if (bound > UINT32_MAX)
			bound = UINT32_MAX;
		if (st_uidfile_write(mb->st, mb->dir, mb->uidvalidity,
		    (uint32_t)bound) == -1)
			return -1;
	}
	rec_set_u64(f, "bound", bound);
	*uid = (uint32_t)next;
	rec_set_u64(f, "uidnext", next + 1);
	return 0;
}

/* --- keywords ------------------------------------------------------------ */

/* Bits for keyword names in the folder's table, adding new names (up to
 * STORE_KEYWORDS_MAX).  *changed is set when the table grew. */
uint64_t
keyword_bits(struct rec *kw, const char *const *names, int *changed)
{
	uint64_t bits = 0;
	size_t i, j;

	for (i = 0; names != NULL && names[i] != NULL; i++) {
		for (j = 0; j < kw->n; j++)
			if (strcasecmp(buf_cstr(&kw->vals[j]), names[i]) == 0)
				break;
		if (j == kw->n) {
			if (kw->n >= STORE_KEYWORDS_MAX)
				continue;	/* table full: dropped */
			rec_add(kw, "k", sv_from(names[i]));
			*changed = 1;
		}
		bits |= (uint64_t)1 << j;
	}
	return bits;
}

int
mbox_keywords(struct mbox *mb, struct buf *names, size_t *count_out,
    struct buf *err)
{
	struct buf k;
	struct rec kw;
	size_t i;
	int r, full = 0;

	buf_init(&k, 16);
	rec_init(&kw);
	st_key_id(&k, 'k', mb->id);
	r = st_get_rec(mb->st, NULL, &k, &kw);
	buf_reset(names);
	/* the names are the clients': as many and as long as they like */
	for (i = 0; r == DICT_OK && !full && i < kw.n; i++)
		if (buf_try_append(names, kw.vals[i].data, kw.vals[i].len) ==
		    -1 || buf_try_putc(names, '\0') == -1)
			full = 1;
	*count_out = r == DICT_OK && !full ? kw.n : 0;
	rec_free(&kw);
	buf_free(&k);
	if (full) {
		buf_reset(names);
		return seterr(err, mb->name, "keyword names too long");
	}
	if (r != DICT_OK && r != DICT_NOTFOUND)
		return seterr(err, mb->name, "cannot read the index");
	return 0;
}

/* --- reading ------------------------------------------------------------- */

/* A message record into struct msg (views into the record). */
void
msg_from_rec(uint32_t uid, const struct rec *r, struct buf *file,
    struct msg *m)
{
	const struct buf *b = rec_get(r, "b");

	memset(m, 0, sizeof(*m));
	m->uid = uid;
	m->flags = (unsigned)st_num(r, "f");
	m->keywords = st_num(r, "k");
	m->modseq = st_num(r, "m");
	m->internaldate = (int64_t)st_num(r, "d");
	m->size = st_num(r, "s");
	maildir_name_make(b != NULL ? buf_sv(b) : sv_make("", 0), uid,
	    m->flags, file);
	m->file = buf_sv(file);
	if ((b = rec_get(r, "e")) != NULL)
		m->envelope = buf_sv(b);
	if ((b = rec_get(r, "y")) != NULL)
		m->bodystructure = buf_sv(b);
}

/*
 * mbox_messages reads the index in batches and calls fn between them,
 * outside any transaction: fn may use the store (open a message, change
 * flags) and take its time without holding locks that writers wait for.
 */
#define WALK_BATCH 256
#define WALK_REC_MAX (16 * 1024 * 1024)

struct walk {
	uint32_t hi;
	size_t n;
	int more;
	uint32_t uid[WALK_BATCH];
	struct buf val[WALK_BATCH];
};

static int
walk_collect(struct sv k, struct sv v, void *arg)
{
	struct walk *w = arg;
	uint32_t uid;

	if (k.n != 9)
		return 0;
	uid = st_get32(k.p + 5);
	if (uid > w->hi)
		return 1;
	if (buf_try_set(&w->val[w->n], v.p, v.n) == -1)
		return 1;		/* cannot be: records are bounded */
	w->uid[w->n++] = uid;
	if (w->n == WALK_BATCH) {
		w->more = 1;
		return 1;
	}
	return 0;
}

static int messages_walk(struct mbox *, uint32_t, uint32_t, msg_fn, void *,
    int, struct buf *);

int
mbox_messages(struct mbox *mb, uint32_t lo, uint32_t hi, msg_fn fn,
    void *arg, struct buf *err)
{
	return messages_walk(mb, lo, hi, fn, arg, 0, err);
}

int
mbox_messages_brief(struct mbox *mb, uint32_t lo, uint32_t hi, msg_fn fn,
    void *arg, struct buf *err)
{
	return messages_walk(mb, lo, hi, fn, arg, 1, err);
}

static int
messages_walk(struct mbox *mb, uint32_t lo, uint32_t hi, msg_fn fn,
    void *arg, int brief, struct buf *err)
{
	static const char *const big[] = { "e", "y", NULL };
	struct buf prefix, from, file;
	struct walk *w = xcalloc(1, sizeof(*w));
	struct rec r;
	struct msg m;
	size_t i;
	int ret = 0, stop = 0;

	buf_init(&prefix, 16);
	buf_init(&from, 16);
	buf_init(&file, 1024);
	rec_init(&r);
	for (i = 0; i < WALK_BATCH; i++)
		buf_init(&w->val[i], WALK_REC_MAX);
	st_key_id(&prefix, 'u', mb->id);
	w->hi = hi;
	while (!stop && lo <= hi) {
		w->n = 0;
		w->more = 0;
		st_key_msg(&from, 'u', mb->id, lo);
		if (dict_scan_from(mb->st->db, NULL, buf_sv(&prefix),
		    buf_sv(&from), walk_collect, w) < 0) {
			ret = seterr(err, mb->name, "cannot read the index");
			break;
		}
		for (i = 0; i < w->n && !stop; i++) {
			rec_clear(&r);
			if (rec_decode_except(buf_sv(&w->val[i]), &r, brief ?
			    big : NULL) == -1) {
				ret = seterr(err, mb->name, "corrupt message "
				    "record");
				stop = 1;
				break;
			}
			msg_from_rec(w->uid[i], &r, &file, &m);
			stop = fn(&m, arg) != 0;
		}
		if (!w->more || w->uid[w->n - 1] == UINT32_MAX)
			break;
		lo = w->uid[w->n - 1] + 1;
	}
	for (i = 0; i < WALK_BATCH; i++)
		buf_free(&w->val[i]);
	free(w);
	rec_free(&r);
	buf_free(&file);
	buf_free(&prefix);
	buf_free(&from);
	return ret;
}

int
mbox_msg_open_name(struct mbox *mb, uint32_t uid, struct sv file,
    struct buf *err)
{
	struct buf name, path;
	int fd = -1;

	if (file.n > 0 && file.n < 512 && memchr(file.p, '/', file.n) ==
	    NULL) {
		buf_init(&name, file.n + 1);
		buf_init(&path, 1024);
		buf_append(&name, file.p, file.n);
		cur_path(mb, buf_cstr(&name), &path);
		fd = openat(mb->st->homefd, buf_cstr(&path), O_RDONLY |
		    O_CLOEXEC | O_NOFOLLOW);
		buf_free(&name);
		buf_free(&path);
	}
	/* renamed since (a flag change): the index knows the new name */
	return fd != -1 ? fd : mbox_msg_open(mb, uid, err);
}

int
mbox_msg_open(struct mbox *mb, uint32_t uid, struct buf *err)
{
	struct buf k, file, path;
	struct rec r;
	struct msg m;
	int fd = -1, tries, ret;

	buf_init(&k, 16);
	buf_init(&file, 1024);
	buf_init(&path, 1024);
	rec_init(&r);
	st_key_msg(&k, 'u', mb->id, uid);
	/* A rename (flag change) by another process may be under way:
	 * read the record again and retry once. */
	for (tries = 0; tries < 2 && fd == -1; tries++) {
		rec_clear(&r);
		ret = st_get_rec(mb->st, NULL, &k, &r);
		if (ret != DICT_OK) {
			errno = ENOENT;
			break;
		}
		msg_from_rec(uid, &r, &file, &m);
		cur_path(mb, buf_cstr(&file), &path);
		fd = openat(mb->st->homefd, buf_cstr(&path), O_RDONLY |
		    O_CLOEXEC | O_NOFOLLOW);
	}
	/* renamed outside (or by an aborted transaction): look for it */
	if (fd == -1 && ret == DICT_OK && rec_get(&r, "b") != NULL &&
	    st_find_file(mb, buf_sv(rec_get(&r, "b")), &file) == 0) {
		cur_path(mb, buf_cstr(&file), &path);
		fd = openat(mb->st->homefd, buf_cstr(&path), O_RDONLY |
		    O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd == -1)
		(void)seterr(err, mb->name, "message gone");
	rec_free(&r);
	buf_free(&k);
	buf_free(&file);
	buf_free(&path);
	return fd;
}

int
mbox_status(struct mbox *mb, struct mbox_status *s, struct buf *err)
{
	struct buf k;
	struct rec f;
	int r;

	buf_init(&k, 1024);
	rec_init(&f);
	st_key_folder(&k, mb->name);
	r = st_get_rec(mb->st, NULL, &k, &f);
	memset(s, 0, sizeof(*s));
	s->uidvalidity = mb->uidvalidity;
	s->uidnext = (uint32_t)st_num(&f, "uidnext");
	if (s->uidnext == 0)
		s->uidnext = 1;
	s->messages = (uint32_t)st_num(&f, "msgs");
	s->unseen = (uint32_t)(st_num(&f, "msgs") - st_num(&f, "seen"));
	s->deleted = (uint32_t)st_num(&f, "deleted");
	s->highestmodseq = st_num(&f, "modseq");
	s->bytes = st_num(&f, "bytes");
	rec_free(&f);
	buf_free(&k);
	if (r != DICT_OK)
		return seterr(err, mb->name, "cannot read the index");
	return 0;
}

/* --- the tmp file -------------------------------------------------------- */

struct store_tmp {
	struct store *st;
	int fd;
	struct buf path;	/* "tmp/..." relative to home */
	uint64_t size;
	int finished, used;
	int parsed;
	struct buf env, bs;	/* given by store_tmp_parsed */
};

int
store_tmp_open(struct store *st, struct store_tmp **tp, struct buf *err)
{
	struct store_tmp *t = xcalloc(1, sizeof(*t));

	t->st = st;
	buf_init(&t->path, 1024);
	buf_init(&t->env, 1024 * 1024);
	buf_init(&t->bs, 1024 * 1024);
	t->fd = maildir_tmp_create(st->homefd, 0, &t->path);
	if (t->fd == -1) {
		buf_free(&t->path);
		buf_free(&t->env);
		buf_free(&t->bs);
		free(t);
		*tp = NULL;
		return seterr(err, "tmp", strerror(errno));
	}
	*tp = t;
	return 0;
}

int
store_tmp_write(struct store_tmp *t, const void *p, size_t n)
{
	if (t->finished || write_all(t->fd, p, n) == -1)
		return -1;
	t->size += n;
	return 0;
}

int
store_tmp_copy(struct store_tmp *t, int fd, uint64_t len)
{
	off_t off = 0;
	ssize_t n;

	if (t->finished)
		return -1;
	while ((uint64_t)off < len) {
		n = sendfile(t->fd, fd, &off, len - (uint64_t)off > 1 << 30 ?
		    1 << 30 : (size_t)(len - (uint64_t)off));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
	}
	t->size += len;
	return 0;
}

void
store_tmp_parsed(struct store_tmp *t, struct sv env, struct sv bs)
{
	/* views larger than the store caches are not taken: it parses
	 * the file itself at append, and caches what fits */
	if (buf_try_set(&t->env, env.p, env.n) == -1 ||
	    buf_try_set(&t->bs, bs.p, bs.n) == -1) {
		buf_reset(&t->env);
		buf_reset(&t->bs);
		t->parsed = 0;
		return;
	}
	t->parsed = 1;
}

int
store_tmp_finish(struct store_tmp *t, struct buf *err)
{
	if (t->finished)
		return 0;
	if (fsync(t->fd) == -1 || close(t->fd) == -1) {
		t->fd = -1;
		return seterr(err, "tmp", strerror(errno));
	}
	t->fd = -1;
	t->finished = 1;
	return 0;
}

void
store_tmp_free(struct store_tmp **tp)
{
	struct store_tmp *t = *tp;

	if (t == NULL)
		return;
	if (t->fd >= 0)
		close(t->fd);
	if (!t->used)
		(void)unlinkat(t->st->homefd, buf_cstr(&t->path), 0);
	buf_free(&t->path);
	buf_free(&t->env);
	buf_free(&t->bs);
	free(t);
	*tp = NULL;
}

/* The ENVELOPE and BODYSTRUCTURE of a file, if the store was given a
 * parser. */
void
parse_file(struct store *st, int dirfd, const char *path, struct buf *env,
    struct buf *bs)
{
	struct stat sb;
	void *p;
	int fd;

	if (st->opts.parse == NULL)
		return;
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
		p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd,
		    0);
		if (p != MAP_FAILED) {
			st->opts.parse(p, (size_t)sb.st_size, env, bs);
			munmap(p, (size_t)sb.st_size);
		}
	}
	close(fd);
}

/* --- appending ----------------------------------------------------------- */

/* See struct st_add in store_int.h. */
static int
add_run(struct dict_txn *t, struct st_add *a)
{
	struct mbox *mb = a->mb;
	struct buf k, fk, name, path;
	struct rec f, m, kw;
	uint64_t modseq, bits;
	uint32_t uid;
	int r, changed = 0;
	unsigned char be[4];

	buf_init(&k, 1024);
	buf_init(&fk, 1024);
	buf_init(&name, 1024);
	buf_init(&path, 1024);
	rec_init(&f);
	rec_init(&m);
	rec_init(&kw);
	st_key_folder(&k, mb->name);
	if ((r = st_get_rec(mb->st, t, &k, &f)) != DICT_OK)
		goto out;
	if (a->check_quota && st_over_quota(mb->st, t, a->size, 1)) {
		r = STORE_OVERQUOTA;
		goto out;
	}
	/* sync: a file keeps the UID in its name if no message has it */
	uid = 0;
	if (a->want_uid > 0 && a->want_uid < st_num(&f, "uidnext")) {
		/* free: neither in use nor expunged (RFC 3501 2.3.1.1: a
		 * UID is never given again) */
		st_key_msg(&fk, 'u', mb->id, a->want_uid);
		if ((r = st_get_rec(mb->st, t, &fk, &m)) == DICT_NOTFOUND) {
			st_key_msg(&fk, 'x', mb->id, a->want_uid);
			if ((r = dict_get(mb->st->db, t, buf_sv(&fk),
			    &name)) == DICT_NOTFOUND)
				uid = a->want_uid;
			buf_reset(&name);
		}
		if (r != DICT_OK && r != DICT_NOTFOUND)
			goto out;
		rec_clear(&m);
	}
	if (uid == 0 && take_uid(mb, &f, &uid) == -1) {
		r = DICT_ERROR;
		goto out;
	}
	modseq = next_modseq(&f);
	count(&f, 1, a->flags, a->size);
	/* keywords */
	bits = a->kwbits;
	if (a->kwnames != NULL) {
		st_key_id(&fk, 'k', mb->id);
		if ((r = st_get_rec(mb->st, t, &fk, &kw)) != DICT_OK &&
		    r != DICT_NOTFOUND)
			goto out;
		bits = keyword_bits(&kw, a->kwnames, &changed);
		if (changed && (r = st_put_rec(mb->st, t, &fk, &kw)) !=
		    DICT_OK)
			goto out;
	}
	rec_set(&m, "b", a->base);
	rec_set_u64(&m, "f", a->flags);
	if (bits)
		rec_set_u64(&m, "k", bits);
	rec_set_u64(&m, "m", modseq);
	rec_set_u64(&m, "d", (uint64_t)(a->date > 0 ? a->date : now_sec()));
	rec_set_u64(&m, "s", a->size);
	if (a->env.n > 0)
		rec_set(&m, "e", a->env);
	if (a->bs.n > 0)
		rec_set(&m, "y", a->bs);
	st_key_msg(&fk, 'u', mb->id, uid);
	if ((r = st_put_rec(mb->st, t, &fk, &m)) != DICT_OK)
		goto out;
	st_key_file(&fk, mb->id, a->base);
	be[0] = (unsigned char)(uid >> 24);
	be[1] = (unsigned char)(uid >> 16);
	be[2] = (unsigned char)(uid >> 8);
	be[3] = (unsigned char)uid;
	if ((r = dict_put(mb->st->db, t, buf_sv(&fk), sv_make(be, 4), 0)) !=
	    DICT_OK || (r = st_put_rec(mb->st, t, &k, &f)) != DICT_OK ||
	    (r = st_usage_add(mb->st, t, (int64_t)a->size, 1)) != DICT_OK)
		goto out;
	/* The file last: if anything above fails, the disk is unchanged. */
	maildir_name_make(a->base, uid, a->flags, &name);
	cur_path(mb, buf_cstr(&name), &path);
	if (a->src != NULL) {
		if ((a->rename ? renameat(a->srcdir, a->src, mb->st->homefd,
		    buf_cstr(&path)) : linkat(a->srcdir, a->src,
		    mb->st->homefd, buf_cstr(&path), 0)) == -1) {
			/* the source may have been renamed (flags) or
			 * removed by another process: the caller looks
			 * again */
			if (errno == ENOENT) {
				r = STORE_NOTFOUND;
				goto out;
			}
			log_error("store %s: %s: %s", mb->name, buf_cstr(&path),
			    strerror(errno));
			r = DICT_ERROR;
			goto out;
		}
		buf_set(&a->linked, path.data, path.len);
		a->done_fs = 1;
		st_cur_stamp(mb, &f);
		if ((r = st_put_rec(mb->st, t, &k, &f)) != DICT_OK)
			goto out;
	}
	a->uid = uid;
out:
	buf_free(&k);
	buf_free(&fk);
	buf_free(&name);
	buf_free(&path);
	rec_free(&f);
	rec_free(&m);
	rec_free(&kw);
	return r;
}

static int
add_txn(struct dict_txn *t, void *arg)
{
	struct st_add *a = arg;

	/* A second run: take back the link of the first (its UID may
	 * differ now).  A rename cannot run twice: it is put back. */
	if (a->done_fs) {
		if (a->rename)
			(void)renameat(a->mb->st->homefd, buf_cstr(&a->linked),
			    a->srcdir, a->src);
		else
			(void)unlinkat(a->mb->st->homefd, buf_cstr(&a->linked),
			    0);
		a->done_fs = 0;
		buf_reset(&a->linked);
	}
	return add_run(t, a);
}

/* Run an add; on failure the file system is as before. */
int
st_add(struct st_add *a, struct buf *err)
{
	int r, lock, alock;

	/* Appends to one folder all write its record: they queue on the
	 * append lock (in the kernel, woken at once) rather than collide
	 * in the index and back off.  Taken after the folder lock, which
	 * its holders hold too, so sync's exclusive one cannot deadlock
	 * with it. */
	if ((lock = st_lock(a->mb->st, a->mb->id, 0)) == -1)
		return seterr(err, a->mb->name, "cannot lock the folder");
	if ((alock = st_lock(a->mb->st, ST_APPEND_LOCK | a->mb->id, 1)) ==
	    -1) {
		st_unlock(a->mb->st, a->mb->id, lock);
		return seterr(err, a->mb->name, "cannot lock the folder");
	}
	buf_init(&a->linked, 1024);
	a->done_fs = 0;
	r = dict_txn_run(a->mb->st->env, add_txn, a, err);
	if (r != DICT_OK && a->done_fs) {
		if (a->rename)
			(void)renameat(a->mb->st->homefd, buf_cstr(&a->linked),
			    a->srcdir, a->src);
		else
			(void)unlinkat(a->mb->st->homefd, buf_cstr(&a->linked),
			    0);
	}
	st_unlock(a->mb->st, ST_APPEND_LOCK | a->mb->id, alock);
	st_unlock(a->mb->st, a->mb->id, lock);
	buf_free(&a->linked);
	if (r == STORE_OVERQUOTA) {
		buf_reset(err);
		buf_puts(err, "quota exceeded");
	}
	return r;
}

int
mbox_append(struct mbox *mb, struct store_tmp *tmp, unsigned flags,
    const char *const *keywords, int64_t date, uint32_t *uid,
    struct buf *err)
{
	struct buf base, env, bs;
	struct st_add a;
	int r;

	if (!tmp->finished || tmp->used)
		return seterr(err, mb->name, "message not finished");
	buf_init(&base, 512);
	buf_init(&env, 1024 * 1024);
	buf_init(&bs, 1024 * 1024);
	maildir_unique(tmp->size, &base);
	if (tmp->parsed) {
		buf_set(&env, tmp->env.data, tmp->env.len);
		buf_set(&bs, tmp->bs.data, tmp->bs.len);
	} else
		parse_file(mb->st, mb->st->homefd, buf_cstr(&tmp->path), &env,
		    &bs);
	memset(&a, 0, sizeof(a));
	a.mb = mb;
	a.base = buf_sv(&base);
	a.src = buf_cstr(&tmp->path);
	a.srcdir = mb->st->homefd;
	a.flags = flags & MF_ALL;
	a.kwnames = keywords;
	a.date = date;
	a.size = tmp->size;
	a.check_quota = 1;
	a.env = buf_sv(&env);
	a.bs = buf_sv(&bs);
	r = st_add(&a, err);
	if (r == DICT_OK) {
		/* durable before the caller says "OK" to anyone */
		if (maildir_fsync_dir(mb->st->homefd, mb->dir, "cur") == -1)
			r = seterr(err, mb->name, strerror(errno));
		(void)unlinkat(mb->st->homefd, buf_cstr(&tmp->path), 0);
		tmp->used = 1;
		*uid = a.uid;
		st_notify(mb->st);
	}
	buf_free(&base);
	buf_free(&env);
	buf_free(&bs);
	return r == DICT_OK ? 0 : r > 0 ? r : -1;
}

/* --- copy and move ------------------------------------------------------- */

int
mbox_copy(struct mbox *src, uint32_t uid, struct mbox *dst, int move,
    uint32_t *newuid, struct buf *err)
{
	struct buf k, base, path, kwnames;
	struct rec r;
	struct msg m;
	struct st_add a;
	const char **names = NULL;
	size_t nkw = 0, i;
	const char *p;
	int ret, lock = 0, tries = 0;

	if (src->st != dst->st)
		return seterr(err, dst->name, "not the same store");
	buf_init(&k, 16);
	buf_init(&base, 512);
	buf_init(&path, 1024);
	/* the keyword table is one record of the index, at most 16 MB
	 * (st_get_rec): any of them fits */
	buf_init(&kwnames, 0);
	rec_init(&r);
	if (move && (lock = st_lock(src->st, src->id, 0)) == -1) {
		ret = seterr(err, src->name, "cannot lock the folder");
		goto out;
	}
	st_key_msg(&k, 'u', src->id, uid);
again:
	rec_clear(&r);
	free(names);
	names = NULL;
	if ((ret = st_get_rec(src->st, NULL, &k, &r)) != DICT_OK) {
		ret = ret == DICT_NOTFOUND ? STORE_NOTFOUND :
		    seterr(err, src->name, "cannot read the index");
		goto out;
	}
	msg_from_rec(uid, &r, &base, &m);
	cur_path(src, buf_cstr(&base), &path);
	/* keywords travel by name: each folder has its own table; a copy
	 * without them would lose them silently */
	if (m.keywords != 0 && mbox_keywords(src, &kwnames, &nkw, err) == -1) {
		ret = -1;
		goto out;
	}
	if (m.keywords != 0) {
		names = xcalloc(nkw + 1, sizeof(*names));
		for (i = 0, p = kwnames.data; i < nkw; i++, p += strlen(p) + 1)
			names[i] = (m.keywords >> i) & 1 ? p : "";
	}
	buf_reset(&base);
	maildir_unique(m.size, &base);
	memset(&a, 0, sizeof(a));
	a.mb = dst;
	a.base = buf_sv(&base);
	a.src = buf_cstr(&path);
	a.srcdir = src->st->homefd;
	a.rename = move;
	a.flags = m.flags;
	a.kwnames = names;
	a.date = m.internaldate;
	a.size = m.size;
	a.check_quota = !move;
	a.env = m.envelope;
	a.bs = m.bodystructure;
	if (names != NULL) {
		/* skip the unset ones */
		size_t j = 0;

		for (i = 0; i < nkw; i++)
			if (names[i][0] != '\0')
				names[j++] = names[i];
		names[j] = NULL;
	}
	ret = st_add(&a, err);
	/* renamed under us by a flag change: read its name again */
	if (ret == STORE_NOTFOUND && tries++ < 5)
		goto again;
	if (ret == DICT_OK) {
		if (maildir_fsync_dir(dst->st->homefd, dst->dir, "cur") == -1)
			ret = seterr(err, dst->name, strerror(errno));
		*newuid = a.uid;
		if (move && ret == DICT_OK)
			ret = mbox_expunge_uid(src, uid, err);
		st_notify(dst->st);
	}
out:
	free(names);
	if (move)
		st_unlock(src->st, src->id, lock);
	rec_free(&r);
	buf_free(&k);
	buf_free(&base);
	buf_free(&path);
	buf_free(&kwnames);
	return ret == DICT_OK ? 0 : ret > 0 ? ret : -1;
}
