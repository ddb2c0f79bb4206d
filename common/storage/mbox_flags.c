/*
 * mbox_flags.c: changing messages -- flags and keywords (RFC 3501 STORE,
 * RFC 7162 UNCHANGEDSINCE), expunge, and the record of expunged UIDs for
 * QRESYNC.  Work on many messages goes in batches, one transaction each,
 * so that "STORE 1:* +FLAGS (\Seen)" on a large folder does not commit
 * (and fsync) once per message.
 */
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

#define BATCH 200

static int
seterr(struct buf *err, const char *what, const char *detail)
{
	buf_reset(err);
	buf_cut_printf(err, "%s: %s", what, detail);	/* a folder name */
	return -1;
}

/* UIDs of the folder in [lo, hi], in order. */
struct uids {
	uint32_t *v;
	size_t n, cap;
	int only_deleted;
};

static int
collect(const struct msg *m, void *arg)
{
	struct uids *u = arg;

	if (u->only_deleted && !(m->flags & MF_DELETED))
		return 0;
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 256;
		u->v = xreallocarray(u->v, u->cap, sizeof(*u->v));
	}
	u->v[u->n++] = m->uid;
	return 0;
}

/* Rename a message file for new flags; idempotent across transaction
 * runs (the first run may have renamed it already). */
static int
rename_flags(struct mbox *mb, struct sv base, uint32_t uid, unsigned from,
    unsigned to)
{
	struct buf a, b, pa, pb;
	int r = 0;

	if (from == to)
		return 0;
	buf_init(&a, 1024);
	buf_init(&b, 1024);
	buf_init(&pa, 1024);
	buf_init(&pb, 1024);
	maildir_name_make(base, uid, from, &a);
	maildir_name_make(base, uid, to, &b);
	cur_path(mb, buf_cstr(&a), &pa);
	cur_path(mb, buf_cstr(&b), &pb);
	if (renameat(mb->st->homefd, buf_cstr(&pa), mb->st->homefd,
	    buf_cstr(&pb)) == 0 || (errno == ENOENT &&
	    faccessat(mb->st->homefd, buf_cstr(&pb), F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0))
		goto out;
	/* Not under the name the index gives: an aborted transaction (ours
	 * or another process's) or an outside tool renamed it.  Rename
	 * whatever name it has. */
	if (errno == ENOENT && st_find_file(mb, base, &a) == 0) {
		cur_path(mb, buf_cstr(&a), &pa);
		if (renameat(mb->st->homefd, buf_cstr(&pa), mb->st->homefd,
		    buf_cstr(&pb)) == 0)
			goto out;
	}
	log_warning("store %s: %s: %s", mb->name, buf_cstr(&pa),
	    strerror(errno));
	r = -1;
out:
	buf_free(&a);
	buf_free(&b);
	buf_free(&pa);
	buf_free(&pb);
	return r;
}

/* --- flags --------------------------------------------------------------- */

struct setflags {
	struct mbox *mb;
	const uint32_t *uids;
	size_t n;
	int mode;
	unsigned flags;
	const char *const *kwnames;
	uint64_t unchangedsince;
	/* results of the last run: per uid 0 unchanged, 1 changed, 2
	 * failed the UNCHANGEDSINCE test */
	unsigned char *result;
};

static unsigned
apply(int mode, unsigned old, unsigned set)
{
	return mode == '+' ? old | set : mode == '-' ? old & ~set : set;
}

static uint64_t
apply64(int mode, uint64_t old, uint64_t set)
{
	return mode == '+' ? old | set : mode == '-' ? old & ~set : set;
}

static int
setflags_txn(struct dict_txn *t, void *arg)
{
	struct setflags *s = arg;
	struct mbox *mb = s->mb;
	struct buf fk, mk, kk;
	struct rec f, m, kw;
	unsigned from, to;
	uint64_t kfrom, kto, bits = 0;
	int r, changed = 0, fchanged = 0;
	size_t i;

	buf_init(&fk, 1024);
	buf_init(&mk, 16);
	buf_init(&kk, 16);
	rec_init(&f);
	rec_init(&m);
	rec_init(&kw);
	st_key_folder(&fk, mb->name);
	if ((r = st_get_rec(mb->st, t, &fk, &f)) != DICT_OK)
		goto out;
	if (s->kwnames != NULL) {
		st_key_id(&kk, 'k', mb->id);
		if ((r = st_get_rec(mb->st, t, &kk, &kw)) != DICT_OK &&
		    r != DICT_NOTFOUND)
			goto out;
		r = DICT_OK;
		/* removing a keyword never adds it to the table */
		if (s->mode != '-')
			bits = keyword_bits(&kw, s->kwnames, &changed);
		else {
			size_t j, k;

			for (j = 0; s->kwnames[j] != NULL; j++)
				for (k = 0; k < kw.n; k++)
					if (strcasecmp(buf_cstr(&kw.vals[k]),
					    s->kwnames[j]) == 0)
						bits |= (uint64_t)1 << k;
		}
		if (changed && (r = st_put_rec(mb->st, t, &kk, &kw)) !=
		    DICT_OK)
			goto out;
	}
	for (i = 0; i < s->n; i++) {
		s->result[i] = 0;
		st_key_msg(&mk, 'u', mb->id, s->uids[i]);
		rec_clear(&m);
		if ((r = st_get_rec(mb->st, t, &mk, &m)) == DICT_NOTFOUND)
			continue;	/* expunged meanwhile */
		if (r != DICT_OK)
			goto out;
		if (s->unchangedsince > 0 &&
		    st_num(&m, "m") > s->unchangedsince) {
			s->result[i] = 2;	/* RFC 7162 3.1.3 */
			continue;
		}
		from = (unsigned)st_num(&m, "f");
		to = apply(s->mode, from, s->flags) & MF_ALL;
		kfrom = st_num(&m, "k");
		kto = s->kwnames != NULL ? apply64(s->mode, kfrom, bits) :
		    s->mode == '=' ? 0 : kfrom;
		if (from == to && kfrom == kto)
			continue;
		rec_set_u64(&m, "f", to);
		rec_set_u64(&m, "k", kto);
		rec_set_u64(&m, "m", next_modseq(&f));
		count_flags(&f, from, to);
		if ((r = st_put_rec(mb->st, t, &mk, &m)) != DICT_OK)
			goto out;
		if (rec_get(&m, "b") != NULL)
			(void)rename_flags(mb, buf_sv(rec_get(&m, "b")),
			    s->uids[i], from, to);
		s->result[i] = 1;
		fchanged = 1;
	}
	r = DICT_OK;
	if (fchanged) {
		st_cur_stamp(mb, &f);
		r = st_put_rec(mb->st, t, &fk, &f);
	}
out:
	buf_free(&fk);
	buf_free(&mk);
	buf_free(&kk);
	rec_free(&f);
	rec_free(&m);
	rec_free(&kw);
	return r;
}

/* A batch failed for good: its last run may have renamed files the
 * index does not agree with.  Name them after the index again, or sync
 * would take the names for an outside change. */
static void
repair_names(struct mbox *mb, const uint32_t *uids, size_t n)
{
	struct buf k;
	struct rec m;
	size_t i;
	unsigned flags;

	buf_init(&k, 16);
	rec_init(&m);
	for (i = 0; i < n; i++) {
		st_key_msg(&k, 'u', mb->id, uids[i]);
		rec_clear(&m);
		if (st_get_rec(mb->st, NULL, &k, &m) != DICT_OK ||
		    rec_get(&m, "b") == NULL)
			continue;
		flags = (unsigned)st_num(&m, "f");
		/* "from" no name can have: rename_flags looks it up */
		(void)rename_flags(mb, buf_sv(rec_get(&m, "b")), uids[i],
		    ~flags & MF_ALL, flags);
	}
	rec_free(&m);
	buf_free(&k);
}

/* Tell the caller about one batch, reading each message back. */
static int
report(struct mbox *mb, const uint32_t *uids, const unsigned char *res,
    size_t n, msg_fn changed, msg_fn failed, void *arg)
{
	struct buf k, file;
	struct rec r;
	struct msg m;
	size_t i;

	buf_init(&k, 16);
	buf_init(&file, 1024);
	rec_init(&r);
	for (i = 0; i < n; i++) {
		msg_fn fn = res[i] == 1 ? changed : res[i] == 2 ? failed : NULL;

		if (fn == NULL)
			continue;
		st_key_msg(&k, 'u', mb->id, uids[i]);
		rec_clear(&r);
		if (st_get_rec(mb->st, NULL, &k, &r) != DICT_OK)
			continue;
		msg_from_rec(uids[i], &r, &file, &m);
		(void)fn(&m, arg);
	}
	rec_free(&r);
	buf_free(&k);
	buf_free(&file);
	return 0;
}

int
mbox_store_flags(struct mbox *mb, uint32_t lo, uint32_t hi, int mode,
    unsigned flags, const char *const *keywords, uint64_t unchangedsince,
    msg_fn changed, msg_fn failed, void *arg, struct buf *err)
{
	struct uids u;
	struct setflags s;
	size_t off;
	int r = 0, any = 0, lock = 0;

	if (mode != '+' && mode != '-' && mode != '=')
		return seterr(err, mb->name, "bad flag mode");
	memset(&u, 0, sizeof(u));
	if (mbox_messages(mb, lo, hi, collect, &u, err) != 0)
		return -1;
	s.mb = mb;
	s.mode = mode;
	s.flags = flags & MF_ALL;
	s.kwnames = keywords;
	s.unchangedsince = unchangedsince;
	s.result = xcalloc(BATCH, 1);
	for (off = 0; off < u.n && r == 0; off += BATCH) {
		s.uids = u.v + off;
		s.n = u.n - off < BATCH ? u.n - off : BATCH;
		if ((lock = st_lock(mb->st, mb->id, 0)) == -1)
			r = seterr(err, mb->name, "cannot lock the folder");
		else if (dict_txn_run(mb->st->env, setflags_txn, &s, err) !=
		    DICT_OK)
			r = -1;
		if (r != 0 && lock != -1)
			repair_names(mb, s.uids, s.n);
		st_unlock(mb->st, mb->id, lock);
		if (r == 0) {
			(void)report(mb, s.uids, s.result, s.n, changed, failed,
			    arg);
			any = 1;
		}
	}
	free(s.result);
	free(u.v);
	if (any)
		st_notify(mb->st);
	return r;
}

/* --- expunge ------------------------------------------------------------- */

struct expunge {
	struct mbox *mb;
	const uint32_t *uids;
	size_t n;
	int only_deleted;	/* still flagged \Deleted inside the txn */
	unsigned char *gone;	/* per uid: removed in the last run */
};

/* Remove a message's file, under whatever name it has now (see
 * rename_flags). */
static void
unlink_msg(struct mbox *mb, const struct rec *m, struct buf *file)
{
	struct buf path;
	int rv;

	buf_init(&path, 1024);
	cur_path(mb, buf_cstr(file), &path);
	rv = unlinkat(mb->st->homefd, buf_cstr(&path), 0);
	if (rv == -1 && errno == ENOENT && rec_get(m, "b") != NULL &&
	    st_find_file(mb, buf_sv(rec_get(m, "b")), file) == 0) {
		cur_path(mb, buf_cstr(file), &path);
		rv = unlinkat(mb->st->homefd, buf_cstr(&path), 0);
	}
	if (rv == -1 && errno != ENOENT)
		log_warning("store %s: %s: %s", mb->name, buf_cstr(&path),
		    strerror(errno));
	buf_free(&path);
}

static int
expunge_txn(struct dict_txn *t, void *arg)
{
	struct expunge *x = arg;
	struct mbox *mb = x->mb;
	struct buf fk, k, file;
	struct rec f, m;
	struct msg msg;
	uint64_t modseq;
	char num[32];
	size_t i;
	int r, any = 0;

	buf_init(&fk, 1024);
	buf_init(&k, 1024);
	buf_init(&file, 1024);
	rec_init(&f);
	rec_init(&m);
	st_key_folder(&fk, mb->name);
	if ((r = st_get_rec(mb->st, t, &fk, &f)) != DICT_OK)
		goto out;
	for (i = 0; i < x->n; i++) {
		x->gone[i] = 0;
		st_key_msg(&k, 'u', mb->id, x->uids[i]);
		rec_clear(&m);
		if ((r = st_get_rec(mb->st, t, &k, &m)) == DICT_NOTFOUND)
			continue;
		if (r != DICT_OK)
			goto out;
		msg_from_rec(x->uids[i], &m, &file, &msg);
		if (x->only_deleted && (msg.flags & MF_DELETED) == 0)
			continue;	/* undeleted meanwhile */
		if ((r = dict_del(mb->st->db, t, buf_sv(&k))) != DICT_OK)
			goto out;
		if (rec_get(&m, "b") != NULL) {
			st_key_file(&k, mb->id, buf_sv(rec_get(&m, "b")));
			if ((r = dict_del(mb->st->db, t, buf_sv(&k))) !=
			    DICT_OK && r != DICT_NOTFOUND)
				goto out;
		}
		modseq = next_modseq(&f);
		(void)xsnprintf(num, sizeof(num), "%llu",
		    (unsigned long long)modseq);
		st_key_msg(&k, 'x', mb->id, x->uids[i]);
		if ((r = dict_put(mb->st->db, t, buf_sv(&k), sv_from(num),
		    0)) != DICT_OK)
			goto out;
		count(&f, -1, msg.flags, msg.size);
		if ((r = st_usage_add(mb->st, t, -(int64_t)msg.size, -1)) !=
		    DICT_OK)
			goto out;
		/* Inside the transaction: a crash before the commit leaves
		 * a record whose file is gone, which sync expunges; the
		 * other order could bring an expunged message back. */
		unlink_msg(mb, &m, &file);
		x->gone[i] = 1;
		any = 1;
	}
	if (any)
		st_cur_stamp(mb, &f);
	r = any ? st_put_rec(mb->st, t, &fk, &f) : DICT_OK;
out:
	buf_free(&fk);
	buf_free(&k);
	buf_free(&file);
	rec_free(&f);
	rec_free(&m);
	return r;
}

static int
expunge_uids(struct mbox *mb, const uint32_t *uids, size_t n,
    int only_deleted, msg_fn fn, void *arg, struct buf *err)
{
	struct expunge x;
	struct msg m;
	size_t off, i;
	int r = 0, any = 0, lock;

	x.mb = mb;
	x.only_deleted = only_deleted;
	x.gone = xcalloc(BATCH, 1);
	for (off = 0; off < n && r == 0; off += BATCH) {
		x.uids = uids + off;
		x.n = n - off < BATCH ? n - off : BATCH;
		if ((lock = st_lock(mb->st, mb->id, 0)) == -1) {
			r = seterr(err, mb->name, "cannot lock the folder");
			break;
		}
		if (dict_txn_run(mb->st->env, expunge_txn, &x, err) != DICT_OK)
			r = -1;
		st_unlock(mb->st, mb->id, lock);
		if (r != 0)
			break;
		for (i = 0; i < x.n; i++) {
			if (!x.gone[i])
				continue;
			any = 1;
			if (fn != NULL) {
				memset(&m, 0, sizeof(m));
				m.uid = x.uids[i];
				(void)fn(&m, arg);
			}
		}
	}
	free(x.gone);
	if (any) {
		(void)maildir_fsync_dir(mb->st->homefd, mb->dir, "cur");
		st_notify(mb->st);
	}
	return r;
}

int
mbox_expunge(struct mbox *mb, uint32_t lo, uint32_t hi, msg_fn fn, void *arg,
    struct buf *err)
{
	struct uids u;
	int r;

	memset(&u, 0, sizeof(u));
	u.only_deleted = 1;
	if (mbox_messages(mb, lo, hi, collect, &u, err) != 0)
		return -1;
	r = expunge_uids(mb, u.v, u.n, 1, fn, arg, err);
	free(u.v);
	return r;
}

int
mbox_expunge_uid(struct mbox *mb, uint32_t uid, struct buf *err)
{
	return expunge_uids(mb, &uid, 1, 0, NULL, NULL, err);
}

/* --- vanished ------------------------------------------------------------ */

struct vanished {
	uint64_t since;
	msg_fn fn;
	void *arg;
};

static int
vanished_one(struct sv k, struct sv v, void *arg)
{
	struct vanished *w = arg;
	struct msg m;
	uint64_t modseq;

	if (k.n != 9 || parse_u64(v, UINT64_MAX, &modseq) == -1 ||
	    modseq <= w->since)
		return 0;
	memset(&m, 0, sizeof(m));
	m.uid = st_get32(k.p + 5);
	m.modseq = modseq;
	return w->fn(&m, w->arg) ? 1 : 0;
}

int
mbox_vanished(struct mbox *mb, uint64_t since, msg_fn fn, void *arg,
    struct buf *err)
{
	struct vanished w;
	struct buf prefix;
	int r;

	buf_init(&prefix, 16);
	st_key_id(&prefix, 'x', mb->id);
	w.since = since;
	w.fn = fn;
	w.arg = arg;
	r = dict_scan(mb->st->db, NULL, buf_sv(&prefix), vanished_one, &w);
	buf_free(&prefix);
	if (r < 0)
		return seterr(err, mb->name, "cannot read the index");
	return 0;
}
