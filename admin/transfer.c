/*
 * transfer.c: chapar import and export -- moving mail into and out of a
 * user's store as mbox (mboxrd), Maildir(++) or single messages.
 *
 * Both stream: a message goes through a 64 kB buffer line by line, so a
 * 2 GB mbox imports in the same memory as a small one.  Lines are stored
 * with CRLF (the store's form) and exported with LF (mbox) or as they are
 * (maildir).  The admin's files are opened as root (as_root), the store
 * used as the mail user (as_mail).
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
	buf_init(&w.out, 2 * CHUNK);
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
	buf_init(&w.out, 2 * CHUNK);
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

/* --- maildir ------------------------------------------------------------- */

static void
import_maildir_dir(int dfd, const char *sub, struct store *st,
    struct mbox *mb, struct tally *tl)
{
	struct maildir_name mn;
	struct dirent *de;
	DIR *d;
	int fd, sfd;

	as_root();
	sfd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	as_mail();
	if (sfd == -1)
		return;
	if ((d = fdopendir(sfd)) == NULL)
		die(EX_FAIL, "%s: %s", sub, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		as_root();
		fd = openat(sfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		as_mail();
		if (fd == -1) {
			log_warning("%s/%s: %s", sub, de->d_name,
			    strerror(errno));
			continue;
		}
		if (maildir_name_parse(de->d_name, &mn) == -1)
			mn.flags = 0;
		import_file(fd, st, mb, strcmp(sub, "cur") == 0 ? mn.flags : 0,
		    tl);
		close(fd);
	}
	closedir(d);
}

static void
import_maildir_one(int dfd, struct store *st, const char *name,
    struct tally *tl)
{
	struct mbox *mb = folder(st, name);

	import_maildir_dir(dfd, "new", st, mb, tl);
	import_maildir_dir(dfd, "cur", st, mb, tl);
	mbox_close(&mb);
}

/* DIR with cur/ and new/ into target; DIR/.A.B (Maildir++) into
 * target/A/B. */
static void
import_maildir(int dfd, struct store *st, const char *target,
    struct tally *tl)
{
	struct dirent *de;
	struct buf name, full;
	DIR *d;
	int sub;

	import_maildir_one(dfd, st, target, tl);
	if ((d = fdopendir(dup(dfd))) == NULL)
		die(EX_FAIL, "%s", strerror(errno));
	buf_init(&name, 1024);
	buf_init(&full, 2048);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    maildir_dir_folder(de->d_name, &name) == -1)
			continue;
		as_root();
		sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC | O_NOFOLLOW);
		as_mail();
		if (sub == -1)
			continue;
		buf_reset(&full);
		if (strcasecmp(target, "INBOX") == 0)
			buf_puts(&full, buf_cstr(&name));
		else
			buf_printf(&full, "%s/%s", target,
			    buf_cstr(&name));
		import_maildir_one(sub, st, buf_cstr(&full), tl);
		close(sub);
	}
	closedir(d);
	buf_free(&name);
	buf_free(&full);
}

/* chapar import USER FILE|DIR [FOLDER] */
int
cmd_import(int argc, char **argv)
{
	const char *target = argc == 4 ? argv[3] : "INBOX";
	struct tally tl;
	struct config *cf;
	struct store *st;
	struct mbox *mb;
	struct buf key;
	struct stat sb;
	char head[5];
	int fd;

	if (argc != 3 && argc != 4)
		usage();
	cf = load_config();
	buf_init(&key, 1024);
	st = user_store(cf, argv[1], &key, NULL);
	as_root();
	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	as_mail();
	if (fd == -1 || fstat(fd, &sb) == -1)
		die(EX_FAIL, "%s: %s", argv[2], strerror(errno));
	memset(&tl, 0, sizeof(tl));
	tl.tty = isatty(2);
	tl.verb = "imported";
	if (S_ISDIR(sb.st_mode))
		import_maildir(fd, st, target, &tl);
	else {
		mb = folder(st, target);
		if (pread(fd, head, 5, 0) == 5 && memcmp(head, "From ", 5) == 0)
			import_mbox(fd, st, mb, &tl);
		else
			import_file(fd, st, mb, 0, &tl);
		mbox_close(&mb);
	}
	close(fd);
	progress(&tl, 1);
	printf("imported %llu messages (%llu bytes) for %s\n",
	    (unsigned long long)tl.msgs, (unsigned long long)tl.bytes,
	    buf_cstr(&key));
	store_close(&st);
	as_root();
	config_free(&cf);
	buf_free(&key);
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

static void
ex_maildir_msg(struct exporter *x, const struct msg *m, int fd)
{
	struct buf name;
	char blk[CHUNK];
	ssize_t n;
	int out;

	buf_init(&name, 1024);
	buf_append(&name, m->file.p, m->file.n);
	as_root();
	out = openat(x->out, buf_cstr(&name), O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	as_mail();
	if (out == -1)
		die(EX_FAIL, "%s: %s", buf_cstr(&name), strerror(errno));
	while ((n = read(fd, blk, sizeof(blk))) > 0)
		if (write_all(out, blk, (size_t)n) == -1)
			die(EX_FAIL, "writing: %s", strerror(errno));
	if (n == -1 || close(out) == -1)
		die(EX_FAIL, "%s: %s", buf_cstr(&name), strerror(errno));
	buf_free(&name);
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

/* DIR/SUB (".A.B" or "") with cur/ new/ tmp/, made as root; cur/ open */
static int
ex_maildir_dirs(const char *top, const char *sub)
{
	static const char *const parts[] = { "", "cur", "new", "tmp" };
	struct buf p;
	size_t i;
	int fd;

	buf_init(&p, 4096);
	as_root();
	for (i = 0; i < NELEM(parts); i++) {
		buf_reset(&p);
		buf_printf(&p, "%s%s%s%s%s", top, sub[0] ? "/" : "", sub,
		    parts[i][0] ? "/" : "", parts[i]);
		if (mkdir(buf_cstr(&p), 0700) == -1 && errno != EEXIST)
			die(EX_FAIL, "%s: %s", buf_cstr(&p), strerror(errno));
	}
	buf_reset(&p);
	buf_printf(&p, "%s%s%s/cur", top, sub[0] ? "/" : "", sub);
	fd = open(buf_cstr(&p), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	as_mail();
	if (fd == -1)
		die(EX_FAIL, "%s: %s", buf_cstr(&p), strerror(errno));
	buf_free(&p);
	return fd;
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

/* chapar export USER [FOLDER] DIR|FILE.mbox */
int
cmd_export(int argc, char **argv)
{
	const char *target = argv[argc - 1], *only = argc == 4 ? argv[2] :
	    NULL;
	struct exporter x;
	struct tally tl;
	struct config *cf;
	struct store *st;
	struct buf key, err, dir;
	struct fl names;
	size_t i;
	int mbox;

	if (argc != 3 && argc != 4)
		usage();
	mbox = is_mbox_target(target);
	cf = load_config();
	buf_init(&key, 1024);
	buf_init(&err, 1024);
	buf_init(&dir, 1024);
	st = user_store(cf, argv[1], &key, NULL);
	memset(&x, 0, sizeof(x));
	memset(&tl, 0, sizeof(tl));
	memset(&names, 0, sizeof(names));
	tl.tty = isatty(2);
	tl.verb = "exported";
	x.tl = &tl;
	x.mbox = mbox;
	buf_init(&x.w, 2 * CHUNK);
	if (mbox) {
		as_root();
		x.out = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		as_mail();
		if (x.out == -1)
			die(EX_FAIL, "%s: %s", target, strerror(errno));
		ex_folder(st, only ? only : "INBOX", &x);
		ex_flush(&x);
		if (fsync(x.out) == -1 || close(x.out) == -1)
			die(EX_FAIL, "%s: %s", target, strerror(errno));
	} else if (only != NULL) {
		x.out = ex_maildir_dirs(target, "");
		ex_folder(st, only, &x);
		close(x.out);
	} else {
		if (store_folders(st, ex_names, &names, &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
		for (i = 0; i < names.n; i++) {
			const char *e;

			if (maildir_folder_dir(sv_from(names.v[i]), &dir, &e) ==
			    -1)
				die(EX_FAIL, "%s: %s", names.v[i], e);
			x.out = ex_maildir_dirs(target, buf_cstr(&dir));
			ex_folder(st, names.v[i], &x);
			close(x.out);
			free(names.v[i]);
		}
		free(names.v);
	}
	progress(&tl, 1);
	printf("exported %llu messages (%llu bytes) of %s to %s\n",
	    (unsigned long long)tl.msgs, (unsigned long long)tl.bytes,
	    buf_cstr(&key), target);
	buf_free(&x.w);
	store_close(&st);
	as_root();
	config_free(&cf);
	buf_free(&key);
	buf_free(&err);
	buf_free(&dir);
	return EX_OK;
}
