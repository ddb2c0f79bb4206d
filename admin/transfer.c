/*
 * transfer.c: chapar import and export -- moving mail into and out of a
 * user's store as mbox (mboxrd), Maildir(++) or single messages.
 *
 * Both stream: a message goes through a 64 kB buffer line by line, so a
 * 2 GB mbox imports in the same memory as a small one.  Lines are stored
 * with CRLF (the store's form) and exported with LF (mbox) or as they are
 * (maildir).  The store is worked on by a child as mail_user, chrooted
 * into the user's directory (child.c); the admin's files are opened by
 * the parent, root, and passed to it as descriptors.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/log.h"
#include "chapar/maildir.h"
#include "chapar/store.h"
#include "chapar/util.h"

#define LINE_MAX_LEN (1024 * 1024)	/* longer lines pass in pieces */
#define CHUNK (64 * 1024)
/* The buffers a message passes through are flushed once they hold CHUNK
 * bytes; before that, one more line (up to LINE_MAX_LEN, its end and an
 * mboxrd '>') or an mbox message's first lines can go in. */
#define MW_MAX (CHUNK + LINE_MAX_LEN + 2)
#define EX_MAX (CHUNK + LINE_MAX_LEN + 2048)

/* --- progress ------------------------------------------------------------ */

struct tally {
	uint64_t msgs, bytes;
	int tty;
	time_t shown;
	const char *verb;
};

static void
progress(struct tally *t, int last)
{
	time_t now = time(NULL);

	if (!t->tty || (!last && now == t->shown))
		return;
	t->shown = now;
	fprintf(stderr, "\r%s %llu messages, %.1f MB%s", t->verb,
	    (unsigned long long)t->msgs, (double)t->bytes / (1024.0 * 1024.0),
	    last ? "\n" : "");
	fflush(stderr);
}

/* --- reading lines ------------------------------------------------------- */

struct rd {
	int fd;
	char *blk;
	size_t pos, len;
	struct buf line;
	int eof;
};

static void
rd_init(struct rd *r, int fd)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->blk = xmalloc(CHUNK);
	buf_init(&r->line, LINE_MAX_LEN);
}

static void
rd_free(struct rd *r)
{
	free(r->blk);
	buf_free(&r->line);
}

/* The next line without its LF (a CR before it is kept): 1, or 0 at the
 * end.  *whole is 0 when the line was longer than LINE_MAX_LEN and this
 * is a piece of it (its end comes in the next call). */
static int
rd_line(struct rd *r, struct sv *line, int *whole)
{
	char *lf;
	ssize_t n;
	size_t take;

	buf_reset(&r->line);
	for (;;) {
		if (r->pos == r->len) {
			if (r->eof)
				break;
			n = read(r->fd, r->blk, CHUNK);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1)
				die(EX_FAIL, "reading: %s", strerror(errno));
			if (n == 0) {
				r->eof = 1;
				break;
			}
			r->pos = 0;
			r->len = (size_t)n;
		}
		lf = memchr(r->blk + r->pos, '\n', r->len - r->pos);
		take = lf ? (size_t)(lf - (r->blk + r->pos)) : r->len - r->pos;
		if (r->line.len + take > LINE_MAX_LEN) {
			take = LINE_MAX_LEN - r->line.len;
			buf_append(&r->line, r->blk + r->pos, take);
			r->pos += take;
			*line = buf_sv(&r->line);
			*whole = 0;
			return 1;
		}
		buf_append(&r->line, r->blk + r->pos, take);
		r->pos += take;
		if (lf != NULL) {
			r->pos++;
			*line = buf_sv(&r->line);
			*whole = 1;
			return 1;
		}
	}
	if (r->line.len == 0)
		return 0;
	*line = buf_sv(&r->line);
	*whole = 1;
	return 1;
}

/* --- writing one message into the store ---------------------------------- */

struct msgw {
	struct store *st;
	struct store_tmp *t;
	struct buf out;
	unsigned flags;
	int64_t date;
	uint64_t size;
};

static void
mw_flush(struct msgw *w)
{
	if (w->out.len > 0 && store_tmp_write(w->t, w->out.data, w->out.len) ==
	    -1)
		die(EX_FAIL, "writing: %s", strerror(errno));
	w->size += w->out.len;
	buf_reset(&w->out);
}

static void
mw_begin(struct msgw *w)
{
	struct buf err;

	buf_init(&err, 1024);
	if (store_tmp_open(w->st, &w->t, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	buf_free(&err);
	w->flags = 0;
	w->date = 0;
	w->size = 0;
}

/* A line (without LF); whole lines end in CRLF. */
static void
mw_line(struct msgw *w, struct sv line, int whole)
{
	if (whole && line.n > 0 && line.p[line.n - 1] == '\r')
		line.n--;
	buf_append(&w->out, line.p, line.n);
	if (whole)
		buf_append(&w->out, "\r\n", 2);
	if (w->out.len >= CHUNK)
		mw_flush(w);
}

static void
mw_end(struct msgw *w, struct mbox *mb, struct tally *tl)
{
	struct buf err;
	uint32_t uid;
	int r;

	mw_flush(w);
	buf_init(&err, 1024);
	if (store_tmp_finish(w->t, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	r = mbox_append(mb, w->t, w->flags, NULL, w->date, &uid, &err);
	if (r == STORE_OVERQUOTA)
		die(EX_FAIL, "over quota after %llu messages",
		    (unsigned long long)tl->msgs);
	if (r != 0)
		die(EX_FAIL, "%s", buf_cstr(&err));
	store_tmp_free(&w->t);
	buf_free(&err);
	tl->msgs++;
	tl->bytes += w->size;
	progress(tl, 0);
}

static struct mbox *
folder(struct store *st, const char *name)
{
	struct mbox *mb;
	struct buf err;
	int r;

	buf_init(&err, 1024);
	r = store_folder_create(st, name, NULL, &err);
	if (r != 0 && r != STORE_EXISTS)
		die(EX_FAIL, "%s: %s", name, buf_cstr(&err));
	if (mbox_open_append(st, name, &mb, &err) != 0)
		die(EX_FAIL, "%s: %s", name, buf_cstr(&err));
	buf_free(&err);
	return mb;
}

/* --- mbox ---------------------------------------------------------------- */

/* "From sender Thu Nov 26 10:00:00 2026" -> its time (UTC), or 0 */
static int64_t
from_line_date(struct sv l)
{
	char text[128];
	const char *p, *end;
	struct tm tm;

	if (l.n >= sizeof(text))
		return 0;
	memcpy(text, l.p, l.n);
	text[l.n] = '\0';
	if ((p = strchr(text + 5, ' ')) == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(p + 1, "%a %b %e %H:%M:%S %Y", &tm);
	return end == NULL ? 0 : (int64_t)timegm(&tm);
}

static int
header_is(struct sv l, const char *name)
{
	size_t n = strlen(name);

	return l.n > n && l.p[n] == ':' && strncasecmp(l.p, name, n) == 0;
}

/* mbox bookkeeping headers: read for flags, not stored */
static int
mbox_header(struct msgw *w, struct sv l)
{
	static const char *const drop[] = { "X-Keywords", "X-UID", "X-IMAP",
		"X-IMAPbase", "Content-Length", NULL };
	size_t i;

	if (header_is(l, "Status")) {
		for (i = 7; i < l.n; i++)
			if (l.p[i] == 'R')
				w->flags |= MF_SEEN;
		return 1;
	}
	if (header_is(l, "X-Status")) {
		for (i = 9; i < l.n; i++)
			w->flags |= l.p[i] == 'A' ? MF_ANSWERED : l.p[i] ==
			    'F' ? MF_FLAGGED : l.p[i] == 'T' ? MF_DRAFT :
			    l.p[i] == 'D' ? MF_DELETED : 0;
		return 1;
	}
	for (i = 0; drop[i] != NULL; i++)
		if (header_is(l, drop[i]))
			return 1;
	return 0;
}

static int
is_from_line(struct sv l)
{
	return l.n >= 5 && memcmp(l.p, "From ", 5) == 0;
}

/*
 * mbox (RFC 4155): a message starts at a "From " line at the start of the
 * file or after an empty line; the empty line before it belongs to the
 * format, not the message.  ">From " lines lose one '>' (mboxrd).
 */
static void
import_mbox(int fd, struct store *st, struct mbox *mb, struct tally *tl)
{
	struct msgw w;
	struct rd r;
	struct sv l;
	int whole, prev_empty = 1, in_msg = 0, header = 0, dropping = 0;
	size_t blanks = 0, i, k;

	memset(&w, 0, sizeof(w));
	w.st = st;
	buf_init(&w.out, MW_MAX);
	rd_init(&r, fd);
	while (rd_line(&r, &l, &whole)) {
		struct sv bare = l;

		if (bare.n > 0 && bare.p[bare.n - 1] == '\r' && whole)
			bare.n--;
		if (whole && prev_empty && is_from_line(bare)) {
			if (in_msg) {
				for (k = 1; k < blanks; k++)
					mw_line(&w, SV_LIT(""), 1);
				mw_end(&w, mb, tl);
			}
			mw_begin(&w);
			w.date = from_line_date(bare);
			in_msg = header = 1;
			blanks = 0;
			prev_empty = 0;
			continue;
		}
		prev_empty = whole && bare.n == 0;
		if (!in_msg)
			continue;	/* text before the first "From " */
		if (header) {
			if (bare.n == 0)
				header = 0;
			else if (dropping && (bare.p[0] == ' ' ||
			    bare.p[0] == '\t'))
				continue;
			else if ((dropping = mbox_header(&w, bare)))
				continue;
			mw_line(&w, l, whole);
			continue;
		}
		if (prev_empty) {
			blanks++;
			continue;
		}
		for (k = 0; k < blanks; k++)
			mw_line(&w, SV_LIT(""), 1);
		blanks = 0;
		/* mboxrd: ">From ", ">>From " ... lose one '>' */
		for (i = 0; i < l.n && l.p[i] == '>'; i++)
			;
		if (i > 0 && l.n - i >= 5 && memcmp(l.p + i, "From ", 5) == 0) {
			l.p++;
			l.n--;
		}
		mw_line(&w, l, whole);
	}
	if (in_msg) {
		for (k = 1; k < blanks; k++)
			mw_line(&w, SV_LIT(""), 1);
		mw_end(&w, mb, tl);
	}
	rd_free(&r);
	buf_free(&w.out);
}

/* --- one file: a message as it is ---------------------------------------- */

static void
import_file(int fd, struct store *st, struct mbox *mb, unsigned flags,
    struct tally *tl)
{
	struct msgw w;
	struct stat sb;
	struct rd r;
	struct sv l;
	int whole;

	memset(&w, 0, sizeof(w));
	w.st = st;
	buf_init(&w.out, MW_MAX);
	mw_begin(&w);
	w.flags = flags;
	if (fstat(fd, &sb) == 0)
		w.date = (int64_t)sb.st_mtime;
	rd_init(&r, fd);
	while (rd_line(&r, &l, &whole))
		mw_line(&w, l, whole);
	mw_end(&w, mb, tl);
	rd_free(&r);
	buf_free(&w.out);
}

/* --- maildir: the parent walks the source ------------------------------ */

/*
 * A source directory is the admin's, or a user's (an old Maildir): the
 * parent, root, walks it without following a link and passes each file
 * to the child as a descriptor, for the child may not be able to open it.
 * The child asks "next" and gets a folder to fill (op=folder, name=), a
 * message file (op=file, sub=new|cur, name=, with its descriptor) or the
 * end (op=end).  DIR with cur/ and new/ goes into the target folder,
 * DIR/.A.B (Maildir++) into target/A/B.
 */
struct walk {
	int top;		/* the source directory */
	const char *target;
	DIR *subs;		/* top's entries, for the .A.B folders */
	int folder;		/* the folder being walked (top or a .A.B) */
	int part;		/* 0 announce it, 1 new/, 2 cur/, 3 done */
	DIR *files;		/* the entries of its new/ or cur/ */
	struct buf name;	/* its name in the store */
};

static int
walk_next(void *arg, const struct rec *req, struct rec *rep, int *fd)
{
	struct walk *w = arg;
	struct dirent *de;
	struct buf fname;
	struct stat sb;
	int d;

	if (strcmp(child_op(req), "next") != 0)
		return -1;
	for (;;) {
		if (w->files != NULL) {
			if ((de = readdir(w->files)) == NULL) {
				closedir(w->files);
				w->files = NULL;
				w->part++;
				continue;
			}
			if (de->d_name[0] == '.')
				continue;
			*fd = openat(dirfd(w->files), de->d_name, O_RDONLY |
			    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (*fd == -1 || fstat(*fd, &sb) == -1 ||
			    !S_ISREG(sb.st_mode)) {
				log_warning("%s/%s: %s", w->part == 1 ? "new" :
				    "cur", log_esc_str(de->d_name), *fd == -1 ?
				    strerror(errno) : "not a file");
				if (*fd >= 0)
					close(*fd);
				*fd = -1;
				continue;
			}
			rec_set_str(rep, "op", "file");
			rec_set_str(rep, "sub", w->part == 1 ? "new" : "cur");
			rec_set_str(rep, "name", de->d_name);
			return 1;
		}
		if (w->folder >= 0) {
			if (w->part == 0) {
				w->part = 1;
				rec_set_str(rep, "op", "folder");
				rec_set_str(rep, "name", buf_cstr(&w->name));
				return 1;
			}
			if (w->part < 3) {
				d = openat(w->folder, w->part == 1 ? "new" :
				    "cur", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				    O_CLOEXEC);
				if (d == -1 || (w->files = fdopendir(d)) ==
				    NULL) {
					if (d >= 0)
						close(d);
					w->part++;
				}
				continue;
			}
			if (w->folder != w->top)
				close(w->folder);
			w->folder = -1;
		}
		/* the next .A.B of the source */
		if (w->subs == NULL && ((d = dup(w->top)) == -1 ||
		    (w->subs = fdopendir(d)) == NULL))
			die(EX_FAIL, "reading the source: %s", strerror(errno));
		if ((de = readdir(w->subs)) == NULL) {
			rec_set_str(rep, "op", "end");
			return 1;
		}
		buf_init(&fname, 1024);
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    maildir_dir_folder(de->d_name, &fname) == -1 ||
		    (d = openat(w->top, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC | O_NOFOLLOW)) == -1) {
			buf_free(&fname);
			continue;
		}
		buf_reset(&w->name);
		/* the target is the admin's, the rest a directory's name:
		 * a name too long is the store's to refuse */
		if (strcasecmp(w->target, "INBOX") == 0 ?
		    buf_try_puts(&w->name, buf_cstr(&fname)) == -1 :
		    buf_try_printf(&w->name, "%s/%s", w->target,
		    buf_cstr(&fname)) == -1) {
			log_warning("%s: folder name too long",
			    log_esc_str(de->d_name));
			buf_free(&fname);
			close(d);
			continue;
		}
		buf_free(&fname);
		w->folder = d;
		w->part = 0;
	}
}

struct importer {
	struct config *cf;
	const struct muser *mu;
	const char *target;
	int src;		/* a file's descriptor, or -1: ask for files */
	struct tally tl;
};

/* In the child: what the parent walks. */
static void
import_walked(struct store *st, struct tally *tl)
{
	struct maildir_name mn;
	struct mbox *mb = NULL;
	struct rec req, rep;
	const char *op, *name;
	int fd;

	rec_init(&req);
	rec_init(&rep);
	rec_set_str(&req, "op", "next");
	for (;;) {
		fd = child_ask(&req, &rep);
		op = child_op(&rep);
		name = rec_get_str(&rep, "name");
		if (strcmp(op, "end") == 0 && fd == -1)
			break;
		if (strcmp(op, "folder") == 0 && name != NULL && fd == -1) {
			if (mb != NULL)
				mbox_close(&mb);
			mb = folder(st, name);
			continue;
		}
		if (strcmp(op, "file") != 0 || mb == NULL || fd == -1 ||
		    name == NULL || rec_get_str(&rep, "sub") == NULL)
			die(EX_FAIL, "the parent process sent what it should "
			    "not");
		if (strcmp(rec_get_str(&rep, "sub"), "cur") != 0 ||
		    maildir_name_parse(name, &mn) == -1)
			mn.flags = 0;
		import_file(fd, st, mb, mn.flags, tl);
		close(fd);
	}
	if (mb != NULL)
		mbox_close(&mb);
	rec_free(&req);
	rec_free(&rep);
}

static int
import_work(void *arg)
{
	struct importer *im = arg;
	struct store *st;
	struct mbox *mb;
	char head[5];

	st = store_here(im->cf, im->mu);
	if (im->src < 0)
		import_walked(st, &im->tl);
	else {
		mb = folder(st, im->target);
		if (pread(im->src, head, 5, 0) == 5 &&
		    memcmp(head, "From ", 5) == 0)
			import_mbox(im->src, st, mb, &im->tl);
		else
			import_file(im->src, st, mb, 0, &im->tl);
		mbox_close(&mb);
	}
	progress(&im->tl, 1);
	printf("imported %llu messages (%llu bytes) for %s\n",
	    (unsigned long long)im->tl.msgs,
	    (unsigned long long)im->tl.bytes, esc(buf_cstr(&im->mu->key)));
	store_close(&st);
	return EX_OK;
}

/* chapar import USER FILE|DIR [FOLDER] */
int
cmd_import(int argc, char **argv)
{
	struct importer im;
	struct config *cf;
	struct child c;
	struct muser mu;
	struct walk w;
	struct stat sb;
	int fd;

	if (argc != 3 && argc != 4)
		usage();
	cf = load_config();
	muser_open(cf, argv[1], &mu);
	/* the admin's file, opened as the admin */
	if ((fd = open(argv[2], O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1)
		die(EX_FAIL, "%s: %s", argv[2], strerror(errno));
	memset(&im, 0, sizeof(im));
	im.cf = cf;
	im.mu = &mu;
	im.target = argc == 4 ? argv[3] : "INBOX";
	im.tl.tty = isatty(2);
	im.tl.verb = "imported";
	memset(&c, 0, sizeof(c));
	c.fn = import_work;
	c.arg = &im;
	memset(&w, 0, sizeof(w));
	if (S_ISDIR(sb.st_mode)) {
		im.src = -1;
		w.top = w.folder = fd;
		w.target = im.target;
		buf_init(&w.name, 4096);
		if (buf_try_puts(&w.name, im.target) == -1)
			die(EX_USAGE, "%s: folder name too long",
			    log_esc_str(im.target));
		c.serve = walk_next;
		c.sarg = &w;
	} else {
		im.src = fd;
		w.folder = -1;
		c.keep[c.nkeep++] = fd;
	}
	(void)mail_run(cf, &mu, &c);
	if (w.files != NULL)
		closedir(w.files);
	if (w.subs != NULL)
		closedir(w.subs);
	if (w.folder >= 0 && w.folder != fd)
		close(w.folder);
	buf_free(&w.name);
	close(fd);
	muser_close(&mu);
	config_free(&cf);
	return EX_OK;
}

/* --- export -------------------------------------------------------------- */

struct exporter {
	struct mbox *mb;
	int out;		/* mbox: the file; maildir: cur/ */
	int mbox;
	struct buf w;
	struct tally *tl;
};

static void
ex_flush(struct exporter *x)
{
	if (x->w.len > 0 && write_all(x->out, x->w.data, x->w.len) == -1)
		die(EX_FAIL, "writing: %s", strerror(errno));
	buf_reset(&x->w);
}

/* The sender for the "From " line: our Return-Path, first line. */
static void
sender_of(int fd, char *out, size_t len)
{
	char head[600], *p, *e;
	ssize_t n = pread(fd, head, sizeof(head) - 1, 0);

	(void)xsnprintf(out, len, "MAILER-DAEMON");
	if (n <= 0)
		return;
	head[n] = '\0';
	if (strncasecmp(head, "Return-Path: <", 14) != 0)
		return;
	p = head + 14;
	if ((e = strchr(p, '>')) == NULL || e == p || memchr(p, ' ',
	    (size_t)(e - p)) != NULL)
		return;
	(void)xsnprintf(out, len, "%.*s", (int)(e - p), p);
}

static void
ex_mbox_msg(struct exporter *x, const struct msg *m, int fd)
{
	char from[512], date[64];
	struct rd r;
	struct sv l;
	time_t t = (time_t)m->internaldate;
	struct tm tm;
	size_t i;
	int whole, header = 1;

	sender_of(fd, from, sizeof(from));
	(void)gmtime_r(&t, &tm);
	(void)strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
	buf_printf(&x->w, "From %s %s\n", from, date);
	if (m->flags & MF_SEEN)
		buf_puts(&x->w, "Status: RO\n");
	if (m->flags & (MF_ANSWERED | MF_FLAGGED | MF_DRAFT | MF_DELETED))
		buf_printf(&x->w, "X-Status: %s%s%s%s\n",
		    m->flags & MF_ANSWERED ? "A" : "",
		    m->flags & MF_FLAGGED ? "F" : "",
		    m->flags & MF_DRAFT ? "T" : "",
		    m->flags & MF_DELETED ? "D" : "");
	rd_init(&r, fd);
	while (rd_line(&r, &l, &whole)) {
		if (whole && l.n > 0 && l.p[l.n - 1] == '\r')
			l.n--;
		if (header && l.n == 0)
			header = 0;
		/* mboxrd: a body line ">*From " gets one more '>' */
		for (i = 0; !header && i < l.n && l.p[i] == '>'; i++)
			;
		if (!header && l.n - i >= 5 && memcmp(l.p + i, "From ", 5) == 0)
			buf_putc(&x->w, '>');
		buf_append(&x->w, l.p, l.n);
		if (whole)
			buf_putc(&x->w, '\n');
		if (x->w.len >= CHUNK)
			ex_flush(x);
	}
	buf_putc(&x->w, '\n');
	rd_free(&r);
}

/* A message file in the target's folder, made by the parent (root) in
 * the admin's directory; the child writes it. */
static void
ex_maildir_msg(struct exporter *x, const struct msg *m, int fd)
{
	struct rec req, rep;
	char blk[CHUNK];
	ssize_t n;
	int out;

	(void)x;
	rec_init(&req);
	rec_init(&rep);
	rec_set_str(&req, "op", "file");
	rec_set(&req, "name", m->file);
	if ((out = child_ask(&req, &rep)) == -1)
		die(EX_FAIL, "%.*s: no file came back", (int)m->file.n,
		    m->file.p);
	while ((n = read(fd, blk, sizeof(blk))) > 0)
		if (write_all(out, blk, (size_t)n) == -1)
			die(EX_FAIL, "writing: %s", strerror(errno));
	if (n == -1 || close(out) == -1)
		die(EX_FAIL, "%.*s: %s", (int)m->file.n, m->file.p,
		    strerror(errno));
	rec_free(&req);
	rec_free(&rep);
}

static int
ex_one(const struct msg *m, void *arg)
{
	struct exporter *x = arg;
	struct buf err;
	int fd;

	buf_init(&err, 1024);
	fd = mbox_msg_open(x->mb, m->uid, &err);
	buf_free(&err);
	if (fd == -1)
		return 0;		/* expunged meanwhile */
	if (x->mbox)
		ex_mbox_msg(x, m, fd);
	else
		ex_maildir_msg(x, m, fd);
	close(fd);
	x->tl->msgs++;
	x->tl->bytes += m->size;
	progress(x->tl, 0);
	return 0;
}

static void
ex_folder(struct store *st, const char *name, struct exporter *x)
{
	struct buf err;

	buf_init(&err, 1024);
	if (mbox_open(st, name, &x->mb, &err) != 0)
		die(EX_FAIL, "%s: %s", name, buf_cstr(&err));
	if (mbox_messages(x->mb, 1, UINT32_MAX, ex_one, x, &err) != 0)
		die(EX_FAIL, "%s: %s", name, buf_cstr(&err));
	mbox_close(&x->mb);
	buf_free(&err);
}

struct fl {
	char **v;
	size_t n;
};

static int
ex_names(const struct folder_info *fi, void *arg)
{
	struct fl *f = arg;

	f->v = xreallocarray(f->v, f->n + 1, sizeof(char *));
	f->v[f->n++] = xstrdup(fi->name);
	return 0;
}

static int
is_mbox_target(const char *t)
{
	struct stat sb;
	size_t n = strlen(t);

	return (n > 5 && strcmp(t + n - 5, ".mbox") == 0) ||
	    (stat(t, &sb) == 0 && S_ISREG(sb.st_mode));
}

/*
 * The parent's side of a maildir export: the target directory is the
 * admin's, so root makes what goes in it -- the folder's directories
 * (op=folder, sub="" or ".A.B") and each message file (op=file, name=,
 * its descriptor the reply) -- and checks that every name is one that
 * stays inside.
 */
struct target {
	const char *path;
	int top;		/* the target directory */
	int cur;		/* cur/ of the folder being written */
	struct buf sub;
};

static int
target_serve(void *arg, const struct rec *req, struct rec *rep, int *fd)
{
	struct target *t = arg;
	const struct buf *v = rec_get(req, strcmp(child_op(req), "folder") ==
	    0 ? "sub" : "name");
	const char *n = v != NULL ? buf_cstr(v) : NULL;
	struct buf name;
	int sfd, ok;

	(void)rep;
	if (n == NULL || strlen(n) != v->len || strchr(n, '/') != NULL ||
	    strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || v->len > 1024)
		return -1;
	if (strcmp(child_op(req), "folder") == 0) {
		/* "" or a Maildir++ folder's directory */
		buf_init(&name, 4096);
		ok = n[0] == '\0' || maildir_dir_folder(n, &name) == 0;
		buf_free(&name);
		if (!ok)
			return -1;
		if (t->cur >= 0)
			close(t->cur);
		buf_reset(&t->sub);
		buf_puts(&t->sub, n);
		if (maildir_make(t->top, n) == -1 || (sfd = openat(t->top,
		    n[0] ? n : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1)
			die(EX_FAIL, "%s/%s: %s", t->path, esc(n),
			    strerror(errno));
		t->cur = openat(sfd, "cur", O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		close(sfd);
		if (t->cur == -1)
			die(EX_FAIL, "%s/%s/cur: %s", t->path, esc(n),
			    strerror(errno));
		return 0;
	}
	if (strcmp(child_op(req), "file") != 0 || t->cur < 0 || n[0] == '.')
		return -1;
	if ((*fd = openat(t->cur, n, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		die(EX_FAIL, "%s/%s%scur/%s: %s", t->path, esc(buf_cstr(&t->sub)),
		    t->sub.len ? "/" : "", esc(n), strerror(errno));
	return 1;
}

struct export_job {
	struct config *cf;
	const struct muser *mu;
	const char *only, *target;
	int out;		/* mbox: the file */
	struct tally tl;
};

static void
tell_folder(const char *sub)
{
	struct rec r;

	rec_init(&r);
	rec_set_str(&r, "op", "folder");
	rec_set_str(&r, "sub", sub);
	child_tell(&r);
	rec_free(&r);
}

/* In the child. */
static int
export_work(void *arg)
{
	struct export_job *j = arg;
	struct exporter x;
	struct store *st;
	struct buf err, dir;
	struct fl names;
	const char *e;
	size_t i;

	buf_init(&err, 1024);
	buf_init(&dir, 4096);
	st = store_here(j->cf, j->mu);
	memset(&x, 0, sizeof(x));
	memset(&names, 0, sizeof(names));
	x.tl = &j->tl;
	x.mbox = j->out >= 0;
	buf_init(&x.w, EX_MAX);
	if (x.mbox) {
		x.out = j->out;
		ex_folder(st, j->only ? j->only : "INBOX", &x);
		ex_flush(&x);
		if (fsync(x.out) == -1)
			die(EX_FAIL, "%s: %s", j->target, strerror(errno));
	} else if (j->only != NULL) {
		tell_folder("");
		ex_folder(st, j->only, &x);
	} else {
		if (store_folders(st, ex_names, &names, &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
		for (i = 0; i < names.n; i++) {
			if (maildir_folder_dir(sv_from(names.v[i]), &dir, &e) ==
			    -1)
				die(EX_FAIL, "%s: %s", names.v[i], e);
			tell_folder(buf_cstr(&dir));
			ex_folder(st, names.v[i], &x);
			free(names.v[i]);
		}
		free(names.v);
	}
	progress(&j->tl, 1);
	printf("exported %llu messages (%llu bytes) of %s to %s\n",
	    (unsigned long long)j->tl.msgs, (unsigned long long)j->tl.bytes,
	    esc(buf_cstr(&j->mu->key)), esc(j->target));
	buf_free(&x.w);
	store_close(&st);
	buf_free(&err);
	buf_free(&dir);
	return EX_OK;
}

/* chapar export USER [FOLDER] DIR|FILE.mbox */
int
cmd_export(int argc, char **argv)
{
	struct export_job j;
	struct target t;
	struct config *cf;
	struct child c;
	struct muser mu;

	if (argc != 3 && argc != 4)
		usage();
	cf = load_config();
	muser_open(cf, argv[1], &mu);
	memset(&j, 0, sizeof(j));
	j.cf = cf;
	j.mu = &mu;
	j.target = argv[argc - 1];
	j.only = argc == 4 ? argv[2] : NULL;
	j.out = -1;
	j.tl.tty = isatty(2);
	j.tl.verb = "exported";
	memset(&c, 0, sizeof(c));
	c.fn = export_work;
	c.arg = &j;
	memset(&t, 0, sizeof(t));
	t.top = t.cur = -1;
	buf_init(&t.sub, 4096);
	/* the admin's file or directory, made as the admin */
	if (is_mbox_target(j.target)) {
		if ((j.out = open(j.target, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
			die(EX_FAIL, "%s: %s", j.target, strerror(errno));
		c.keep[c.nkeep++] = j.out;
	} else {
		if ((mkdir(j.target, 0700) == -1 && errno != EEXIST) ||
		    (t.top = open(j.target, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1)
			die(EX_FAIL, "%s: %s", j.target, strerror(errno));
		t.path = j.target;
		c.serve = target_serve;
		c.sarg = &t;
	}
	(void)mail_run(cf, &mu, &c);
	if (j.out >= 0 && close(j.out) == -1)
		die(EX_FAIL, "%s: %s", j.target, strerror(errno));
	if (t.cur >= 0)
		close(t.cur);
	if (t.top >= 0)
		close(t.top);
	buf_free(&t.sub);
	muser_close(&mu);
	config_free(&cf);
	return EX_OK;
}
