/*
 * sendmail: the sendmail(1) interface -- a message on standard input into
 * the queue through enqueue(8), for mail(1), cron and scripts; and mailq.
 *
 * Installed set-group-id chapar: that group opens enqueue's socket (mode
 * 0660 root:chapar), and the program gives it up right after, before it
 * reads a byte of input.  Someone who names another configuration (-C)
 * loses the group first.  The message is read into an anonymous memory
 * file, lines ended by CRLF as the queue keeps them, so that -t can find
 * the recipients in the header and the envelope can say whether the body
 * is 8-bit before the first byte goes to enqueue.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "chapar/addr.h"
#include "chapar/config.h"
#include "chapar/enqc.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/paths.h"
#include "chapar/mime.h"
#include "chapar/queue.h"
#include "chapar/util.h"
#include "chapar/smtp.h"

#define HEADER_MAX (1024 * 1024)
#define NOTIFY_MAX 63		/* -N, as smtpd takes NOTIFY */
#define ENVID_MAX 100		/* -V (RFC 3461 4.4) */

static const char *prog = "sendmail";

static struct {
	struct config *cf;
	int extract;		/* -t */
	int dots;		/* a lone "." ends the input (no -i) */
	const char *sender;	/* -f, or NULL */
	const char *fullname;	/* -F, or NULL */
	const char *notify;	/* -N */
	const char *ret;	/* -R */
	const char *envid;	/* -V */
	char host[256];
	struct buf rcpts;	/* envelope recipient lines */
	uint64_t nrcpt;
	int utf8;		/* an address is UTF-8 */
} S;

static void __attribute__((noreturn))
die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-it] [-C file] [-F name] [-f sender] "
	    "[-N dsn] [-R ret] [-V envid] [-o option] [-bm | -bp] "
	    "[recipient ...]\n       mailq [-C file]\n", prog);
	exit(EX_USAGE);
}

/* Give up the set-group-id group for good. */
static void
drop_group(void)
{
	gid_t g = getgid();

	if (setresgid(g, g, g) == -1 || getegid() != g)
		die(EX_OSERR, "cannot give up the group: %s", strerror(errno));
}

/*
 * The set-group-id group stays only for a configuration root wrote: the
 * default one, or another (-C, CHAPAR_CONF: a second instance) owned by
 * root, writable by no one else and readable by the user anyway -- so a
 * user can neither point the program at a socket of their choosing nor
 * have it read, as group chapar, a file they could not read themselves.
 */
static int
root_only(const struct stat *st)
{
	/* root's, and nobody else may write it (a sticky directory keeps
	 * others from replacing root's files in it) */
	return st->st_uid == 0 && ((st->st_mode & 022) == 0 ||
	    (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX)));
}

static int
trusted_config(const char *path)
{
	struct stat st, dst;
	char *dir, *slash;
	int ok;

	if (strcmp(path, CHAPAR_SYSCONFDIR "/chapar.conf") == 0)
		return 1;
	if (path[0] != '/' || lstat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    !root_only(&st) || access(path, R_OK) == -1)
		return 0;
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	slash[slash == dir ? 1 : 0] = '\0';
	ok = stat(dir, &dst) == 0 && root_only(&dst);
	free(dir);
	return ok;
}

/* RFC 3461 4.1: NEVER alone, or SUCCESS, FAILURE, DELAY.  The value
 * in upper case, or NULL. */
static const char *
notify_norm(const char *v)
{
	char *up, *p;
	struct sv rest, w;
	int never = 0, other = 0, ok = 1;

	if (strlen(v) > NOTIFY_MAX)
		return NULL;
	up = xstrdup(v);
	for (p = up; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	rest = sv_from(up);
	while (rest.n > 0) {
		(void)sv_split(&rest, ',', &w);
		if (sv_eq_str(w, "NEVER"))
			never = 1;
		else if (sv_eq_str(w, "SUCCESS") || sv_eq_str(w, "FAILURE") ||
		    sv_eq_str(w, "DELAY"))
			other = 1;
		else
			ok = 0;
	}
	if (ok && (never || other) && !(never && other))
		return up;
	free(up);
	return NULL;
}

/* --- the message --------------------------------------------------------- */

/* What the message's first bytes say: where the header ends (the offset
 * after its blank line), whether it is 8-bit.  Fed the decoded message,
 * CRLF lines, in any pieces. */
struct scan {
	uint64_t pos, head_len;
	int bol, eight;
};

static void
scan(struct scan *sc, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, sc->pos++) {
		if ((unsigned char)p[i] >= 0x80)
			sc->eight = 1;
		if (sc->head_len > 0 || p[i] == '\r')
			continue;
		if (p[i] == '\n') {
			if (sc->bol)
				sc->head_len = sc->pos + 1;
			sc->bol = 1;
		} else
			sc->bol = 0;
	}
}

/* Decoded bytes to the message file. */
static void
spool(int fd, struct buf *out, struct scan *sc, uint64_t *size)
{
	scan(sc, out->data, out->len);
	if (write_all(fd, out->data, out->len) == -1)
		die(EX_OSERR, "%s", strerror(errno));
	*size += out->len;
	buf_reset(out);
}

/* The end: the size checked, the codec's verdict (NUL), the header's
 * length (all of it when there is no blank line). */
static uint64_t
read_end(struct smtp_data *d, struct scan *sc, uint64_t size, uint64_t limit,
    uint64_t *head_len, int *eight)
{
	const char *why;

	if (limit > 0 && size > limit)
		die(EX_DATAERR, "5.3.4 the message is larger than %llu bytes",
		    (unsigned long long)limit);
	if ((why = smtp_data_error(d)) != NULL)
		die(EX_DATAERR, "%s", why + 4);
	*head_len = sc->head_len > 0 ? sc->head_len : size;
	*eight = sc->eight;
	return size;
}

/*
 * Standard input into fd through the DATA codec (common/smtp/smtp_data.c,
 * TEXT: LF or CRLF lines, a bare CR as a line end too, all stored as
 * CRLF; a lone "." ends it unless -i; NUL refused).  No line is too long
 * and nothing is dropped.  Returns the size; *head_len is the length of
 * the header with its CRLF CRLF.
 */
static uint64_t
read_message(int fd, uint64_t limit, uint64_t *head_len, int *eight)
{
	char in[SMTP_DATA_FEED_MAX];
	struct smtp_data d;
	struct scan sc = { 0, 0, 1, 0 };
	struct buf out;
	uint64_t size = 0;
	ssize_t n;

	smtp_data_init(&d, SMTP_DATA_TEXT, S.dots ? SMTP_DATA_DOT_ENDS : 0);
	buf_init(&out, 2 * sizeof(in) + 8);
	while (!d.done) {
		n = read(STDIN_FILENO, in, sizeof(in));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die(EX_IOERR, "reading the message: %s",
			    strerror(errno));
		if (n == 0)
			break;
		(void)smtp_data_decode(&d, in, (size_t)n, &out);
		spool(fd, &out, &sc, &size);
		if (limit > 0 && size > limit)
			break;
	}
	smtp_data_finish(&d, &out);
	spool(fd, &out, &sc, &size);
	buf_free(&out);
	return read_end(&d, &sc, size, limit, head_len, eight);
}

/* --- recipients ---------------------------------------------------------- */

/* One recipient address, "local" getting our host name.  0, or -1 when
 * the envelope has no room for it (with -bs, a 452 for it). */
static int
add_rcpt(const char *text)
{
	struct addr a;
	struct buf full, line;
	const char *why, *p;
	int r;

	buf_init(&full, strlen(text) + sizeof(S.host) + 2);
	buf_init(&line, 2048);
	buf_puts(&full, text);
	if (strchr(text, '@') == NULL)
		buf_printf(&full, "@%s", S.host);
	addr_init(&a);
	if (addr_parse(buf_sv(&full), ADDR_UTF8, &a, &why) == -1)
		die(EX_DATAERR, "<%s>: %s", buf_cstr(&full), why);
	buf_reset(&full);
	addr_format(&a, &full);
	addr_free(&a);
	for (p = buf_cstr(&full); *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			S.utf8 = 1;
	if (S.nrcpt + 1 > QUEUE_RCPT_MAX)
		die(EX_DATAERR, "more than %d recipients", QUEUE_RCPT_MAX);
	/* rcpt= (a path, escaped: 512), notify= (NOTIFY_MAX) */
	buf_puts(&line, "rcpt=");
	tab_escape(&line, buf_sv(&full));
	if (S.notify != NULL) {
		buf_puts(&line, "\tnotify=");
		tab_escape(&line, sv_from(S.notify));
	}
	buf_putc(&line, '\n');
	r = buf_try_append(&S.rcpts, line.data, line.len);
	if (r == 0)
		S.nrcpt++;
	buf_free(&full);
	buf_free(&line);
	return r;
}

/* The same, in the command's arguments or header: the whole message is
 * refused when its recipients do not fit in one envelope. */
static void
add_rcpt_or_die(const char *text)
{
	if (add_rcpt(text) == -1)
		die(EX_DATAERR, "too many recipients: their envelope is "
		    "larger than %zu bytes", S.rcpts.max);
}

static void
rcpt_cb(void *arg, const struct buf *mbox, const struct buf *host)
{
	struct buf a;

	(void)arg;
	buf_init(&a, mbox->len + host->len + 2);
	buf_printf(&a, "%s@%s", buf_cstr(mbox), buf_cstr(host));
	add_rcpt_or_die(buf_cstr(&a));
	buf_free(&a);
}

/* An argument or a header value: an address list, where a bare local
 * part (no "@") is one of ours. */
static void
add_list(const char *s, size_t n)
{
	struct sv rest = sv_make(s, n), item;

	if (memchr(s, '@', n) != NULL) {
		(void)mime_addr_each(s, n, rcpt_cb, NULL);
		return;
	}
	while (rest.n > 0) {
		(void)sv_split(&rest, ',', &item);
		item = sv_trim(item);
		if (item.n > 0) {
			char *t = xmalloc(item.n + 1);

			memcpy(t, item.p, item.n);
			t[item.n] = '\0';
			add_rcpt_or_die(t);
			free(t);
		}
	}
}

/*
 * The header as it will be stored: without Bcc under -t (RFC 5322
 * 3.6.3), and what it lacks noted.  With -t, To, Cc and Bcc give
 * recipients.
 */
static void
scan_header(struct sv head, struct buf *kept, int *from, int *date,
    int *msgid)
{
	struct sv rest = head, line;
	struct buf value;
	int drop = 0, take = 0;

	buf_init(&value, head.n + 1);
	*from = *date = *msgid = 0;
	while (rest.n > 0) {
		(void)sv_split(&rest, '\n', &line);
		line.n++;		/* with its LF */
		if (line.p + line.n > head.p + head.n)
			line.n--;
		if (line.n <= 2)
			break;		/* the empty line */
		if (line.p[0] != ' ' && line.p[0] != '\t') {
			if (take)
				add_list(value.data, value.len);
			buf_reset(&value);
			take = S.extract && (mime_field_match(line, "To") ||
			    mime_field_match(line, "Cc") || mime_field_match(line, "Bcc"));
			drop = S.extract && mime_field_match(line, "Bcc");
			*from |= mime_field_match(line, "From") > 0;
			*date |= mime_field_match(line, "Date") > 0;
			*msgid |= mime_field_match(line, "Message-ID") > 0;
			if (take) {
				const char *colon = memchr(line.p, ':',
				    line.n);

				buf_append(&value, colon + 1, line.n -
				    (size_t)(colon + 1 - line.p));
			}
		} else if (take)
			buf_append(&value, line.p, line.n);
		if (!drop)
			buf_append(kept, line.p, line.n);
	}
	if (take)
		add_list(value.data, value.len);
	buf_free(&value);
}

/* --- mailq --------------------------------------------------------------- */

/* One message of the queue, as mailq shows it. */
static int
mailq_one(void *arg, const char *where, const char *id)
{
	unsigned *n = arg;
	struct queue_env e;
	struct buf err;
	uint64_t size, t;
	char when[64];
	time_t tt;
	size_t i;

	buf_init(&err, 1024);
	queue_env_init(&e);
	if (queue_env_load(where, id, &e, &err) == 0) {
		if ((*n)++ == 0)
			printf("%-20s %8s %-24s %s\n", "Queue ID", "Size",
			    "Arrival", "Sender/Recipient");
		if (rec_get_u64(&e.head, "size", &size) == -1)
			size = 0;
		if (rec_get_u64(&e.head, "time", &t) == -1)
			t = 0;
		tt = (time_t)t;
		(void)strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S",
		    gmtime(&tt));
		printf("%-20s %8llu %-24s %s\n", id, (unsigned long long)size,
		    when, rec_get_str(&e.head, "sender")[0] ?
		    log_esc_str(rec_get_str(&e.head, "sender")) : "<>");
		for (i = 0; i < e.nrcpt; i++)
			printf("%55s %s\n", "", log_esc_str(rec_get_str(
			    &e.rcpts[i], "rcpt")));
	}
	queue_env_free(&e);
	buf_free(&err);
	return 0;
}

/* mailq (-bp): every message of the queue, new (todo/) or taken by the
 * queue manager (info/), through the one queue walk. */
static int
mailq(void)
{
	const char *qdir = config_str(S.cf, NULL, "queue_dir");
	unsigned n = 0;

	if (chdir(qdir) == -1 || access("todo", R_OK | X_OK) == -1)
		die(errno == EACCES ? EX_NOPERM : EX_OSERR, "%s: %s%s", qdir,
		    strerror(errno), errno == EACCES ? " (the queue is "
		    "readable by root)" : "");
	(void)queue_walk(QUEUE_WALK_TODO | QUEUE_WALK_INFO, mailq_one, &n);
	if (n == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %u message%s in the queue\n", n, n == 1 ? "" : "s");
	return EX_OK;
}

/* --- main ---------------------------------------------------------------- */

static void
default_sender(struct buf *out, struct buf *name)
{
	struct passwd *pw = getpwuid(getuid());

	if (pw == NULL)
		die(EX_NOUSER, "no passwd entry for uid %ld", (long)getuid());
	buf_printf(out, "%s@%s", pw->pw_name, S.host);
	/* the full name, the first field of the GECOS (the user's to set:
	 * left out when it is longer than name takes) */
	if (pw->pw_gecos != NULL && buf_try_append(name, pw->pw_gecos,
	    strcspn(pw->pw_gecos, ",")) == -1)
		buf_reset(name);
}

/* A display name fit for a From field: a quoted string (RFC 5322 3.2.4). */
static void
quoted_name(struct buf *out, const char *name)
{
	buf_putc(out, '"');
	for (; *name != '\0'; name++) {
		if ((unsigned char)*name < 0x20)
			continue;
		if (*name == '"' || *name == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *name);
	}
	buf_putc(out, '"');
}

/*
 * One message into the queue: the memory file fd (size bytes, CRLF, its
 * header head_len of them), from sender_arg (NULL: the user's own
 * address; "" or "<>": the null sender).  0 with the queue id, or 1
 * (refused for good) or -1 (for now) with the reply in *reply.
 */
static int
submit(struct enqc *q, int fd, uint64_t size, uint64_t head_len, int eight,
    const char *sender_arg, char id[QUEUE_ID_MAX], struct buf *reply)
{
	struct buf env, top, kept, sender, name;
	struct addr a;
	char date[64];
	unsigned char r[8];
	const char *why;
	int from, hdate, msgid, rc = -1;
	size_t i;
	char *msg;

	buf_reset(reply);
	if (head_len > HEADER_MAX) {
		buf_printf(reply, "552 5.3.4 the header is larger than %d "
		    "bytes", HEADER_MAX);
		return 1;
	}
	msg = size == 0 ? NULL : mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd,
	    0);
	if (msg == MAP_FAILED) {
		buf_printf(reply, "451 4.3.0 mmap: %s", strerror(errno));
		return -1;
	}
	buf_init(&kept, head_len + 3);
	/* -f is the user's: any length (a path is checked below) */
	buf_init(&sender, 1024 + (sender_arg != NULL ? strlen(sender_arg) :
	    0));
	buf_init(&name, 256 + (S.fullname != NULL ? strlen(S.fullname) : 0));
	buf_init(&env, QUEUE_ENV_MAX);
	/* Received, From with the name quoted (twice its length at most),
	 * Date, Message-ID */
	buf_init(&top, 4096 + 2 * name.max);
	scan_header(sv_make(msg, head_len), &kept, &from, &hdate, &msgid);
	if (S.nrcpt == 0) {
		buf_printf(reply, "554 5.5.1 no recipients%s",
		    S.extract ? " in To, Cc or Bcc" : " (give them as "
		    "arguments, or use -t)");
		rc = 1;
		goto out;
	}

	/* the envelope (chapar-queue(5)) */
	default_sender(&sender, &name);
	if (S.fullname != NULL) {
		buf_reset(&name);
		buf_puts(&name, S.fullname);
	}
	if (sender_arg != NULL) {
		buf_reset(&sender);
		if (strcmp(sender_arg, "<>") != 0 && strcmp(sender_arg, "") != 0)
			buf_puts(&sender, sender_arg);
	}
	if (sender.len > 0) {
		addr_init(&a);
		if (strchr(buf_cstr(&sender), '@') == NULL)
			buf_printf(&sender, "@%s", S.host);
		if (addr_parse(buf_sv(&sender), ADDR_UTF8, &a, &why) == -1) {
			buf_printf(reply, "553 5.1.7 sender <%.*s>: %s",
			    ADDR_PATH_MAX, buf_cstr(&sender), why);
			addr_free(&a);
			rc = 1;
			goto out;
		}
		buf_reset(&sender);
		addr_format(&a, &sender);
		addr_free(&a);
	}
	for (i = 0; i < sender.len; i++)
		if ((unsigned char)sender.data[i] >= 0x80)
			S.utf8 = 1;
	buf_puts(&env, "v=1\tsender=");
	tab_escape(&env, buf_sv(&sender));
	buf_printf(&env, "\tbody=%s", eight ? "8BITMIME" : "7BIT");
	if (S.utf8)
		buf_puts(&env, "\tsmtputf8=1");
	if (S.ret != NULL)
		buf_printf(&env, "\tret=%s", S.ret);
	if (S.envid != NULL) {
		buf_puts(&env, "\tenvid=");
		tab_escape(&env, sv_from(S.envid));
	}
	buf_printf(&env, "\tprotocol=local\tuid=%ld\n",
	    (long)getuid());
	buf_append(&env, S.rcpts.data, S.rcpts.len);

	if ((rc = enqc_begin(q, buf_sv(&env), id, reply)) != 0)
		goto out;

	/* RFC 5321 4.4-like trace for local submission, and what a
	 * message must have (RFC 5322 3.6) */
	date_rfc5322(date, sizeof(date));
	buf_printf(&top, "Received: by %s (Chapar sendmail, uid %ld)\r\n"
	    "\tid %s;\r\n\t%s\r\n", S.host, (long)getuid(), id, date);
	if (!from) {
		buf_puts(&top, "From: ");
		if (name.len > 0) {
			quoted_name(&top, buf_cstr(&name));
			buf_putc(&top, ' ');
		}
		buf_printf(&top, "<%s>\r\n", sender.len > 0 ?
		    buf_cstr(&sender) : "MAILER-DAEMON");
	}
	if (!hdate)
		buf_printf(&top, "Date: %s\r\n", date);
	if (!msgid) {
		rand_bytes(r, sizeof(r));
		buf_printf(&top, "Message-ID: <%s.%02x%02x%02x%02x%02x%02x"
		    "%02x%02x@%s>\r\n", id, r[0], r[1], r[2], r[3], r[4], r[5],
		    r[6], r[7], S.host);
	}
	/* the header kept ends before its empty line */
	buf_append(&kept, "\r\n", 2);
	if (enqc_write(q, top.data, top.len) == -1 ||
	    enqc_write(q, kept.data, kept.len) == -1 ||
	    (size > head_len && enqc_write(q, msg + head_len, size -
	    head_len) == -1)) {
		buf_reset(reply);
		buf_puts(reply, "451 4.3.0 lost the connection to "
		    "enqueue");
		rc = -1;
		goto out;
	}
	rc = enqc_commit(q, sv_make("", 0), reply);
out:
	if (msg != NULL)
		(void)munmap(msg, size);
	buf_free(&env);
	buf_free(&top);
	buf_free(&kept);
	buf_free(&sender);
	buf_free(&name);
	return rc;
}

/* --- sendmail -bs: SMTP on standard input and output -------------------- */

static void
bs_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One reply line, formatted as smtpd's are (smtp_reply_vformat). */
static void
bs_reply(const char *fmt, ...)
{
	char line[SMTP_REPLY_MAX + 1];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = smtp_reply_vformat(line, fmt, ap);
	va_end(ap);
	if (write_all(STDOUT_FILENO, line, n) == -1)
		exit(EX_IOERR);
}

/*
 * The message after DATA (RFC 5321 4.1.1.4) through the DATA codec: DOT,
 * lines up to CRLF "." CRLF, dots unstuffed, a bare LF or CR made CRLF
 * (the caller is a local program), into a new memory file.  -1 when the
 * input ends first; 1 when it was too big or held NUL (the rest read and
 * dropped; *why says which).
 */
static int
bs_data(struct io *in, int *fdp, uint64_t *size, uint64_t *head_len,
    int *eight, const char **why)
{
	uint64_t limit = config_num(S.cf, NULL, "message_size_limit");
	struct smtp_data d;
	struct scan sc = { 0, 0, 1, 0 };
	struct buf out;
	const char *p;
	ssize_t n;
	int fd;

	if ((fd = memfd_create("sendmail", MFD_CLOEXEC)) == -1)
		die(EX_OSERR, "memfd_create: %s", strerror(errno));
	*fdp = fd;
	*size = 0;
	*why = NULL;
	smtp_data_init(&d, SMTP_DATA_DOT, SMTP_DATA_NORMALIZE);
	buf_init(&out, 2 * SMTP_DATA_FEED_MAX + 8);
	while (!d.done) {
		if ((n = io_peek(in, &p)) < 0) {
			buf_free(&out);
			return -1;
		}
		if (n > SMTP_DATA_FEED_MAX)
			n = SMTP_DATA_FEED_MAX;
		io_skip(in, smtp_data_decode(&d, p, (size_t)n, &out));
		if (limit > 0 && *size + out.len > limit && *why == NULL)
			*why = "552 5.3.4 the message is too big";
		if (*why != NULL)
			buf_reset(&out);
		else
			spool(fd, &out, &sc, size);
	}
	buf_free(&out);
	if (*why == NULL)
		*why = smtp_data_error(&d);
	*head_len = sc.head_len > 0 ? sc.head_len : *size;
	*eight = sc.eight;
	return *why != NULL;
}

/* A path of MAIL or RCPT, checked: 0 with the address in *out (empty
 * for <>), or -1 with the reply given. */
static int
bs_path(struct sv args, const char *prefix, int null_ok, struct buf *out)
{
	struct sv path, params, key, value;
	struct addr a;
	const char *why;
	int r;

	buf_reset(out);
	if (smtp_path_args(args, prefix, &path, &params, &why) == -1) {
		bs_reply("501 5.5.4 %s", why);
		return -1;
	}
	while ((r = smtp_param_next(&params, &key, &value)) == 1)
		if (!sv_caseeq_str(key, "BODY") && !sv_caseeq_str(key,
		    "SIZE") && !sv_caseeq_str(key, "SMTPUTF8")) {
			bs_reply("555 5.5.4 %.*s is not supported here",
			    (int)(key.n < 64 ? key.n : 64), key.p);
			return -1;
		}
	if (r == -1) {
		bs_reply("501 5.5.4 bad parameters");
		return -1;
	}
	if (path.n == 2) {
		if (null_ok)
			return 0;
		bs_reply("501 5.1.3 a recipient is needed");
		return -1;
	}
	/* a bare local part is one of ours, as on the command line */
	buf_append(out, path.p + 1, path.n - 2);
	if (memchr(path.p, '@', path.n) == NULL)
		buf_printf(out, "@%s", S.host);
	addr_init(&a);
	r = addr_parse(buf_sv(out), ADDR_UTF8, &a, &why);
	buf_reset(out);
	if (r == -1) {
		addr_free(&a);
		bs_reply("553 5.1.%d %s", null_ok ? 7 : 3, why);
		return -1;
	}
	addr_format(&a, out);
	addr_free(&a);
	return 0;
}

/*
 * sendmail -bs: an SMTP conversation with the caller (RFC 5321, the
 * commands a local client needs), each message injected as sendmail
 * would.  The caller is the local user; MAIL FROM is taken as -f is.
 */
static int
bs_session(struct enqc *q)
{
	struct io in;
	struct sv line, verb, args;
	struct buf sender, addr, reply;
	char id[QUEUE_ID_MAX];
	const char *why;
	uint64_t size, head_len;
	int crlf, have_mail = 0, eight, fd, r, errors = 0;

	io_init(&in, STDIN_FILENO, 2048, 5 * 60 * 1000);
	/* a path of a line (2048) and "@" our host name, before it is
	 * checked (bs_path) */
	buf_init(&sender, 2048 + sizeof(S.host) + 2);
	buf_init(&addr, 2048 + sizeof(S.host) + 2);
	buf_init(&reply, 1024);
	bs_reply("220 %s ESMTP Chapar (sendmail -bs)", S.host);
	for (;;) {
		if (io_getline(&in, &line, &crlf) != IO_OK)
			break;
		if (smtp_split(line, &verb, &args) == -1) {
			bs_reply("500 5.5.2 syntax error");
			goto error;
		}
		if (sv_caseeq_str(verb, "EHLO")) {
			bs_reply("250-%s", S.host);
			bs_reply("250-8BITMIME");
			bs_reply("250-SMTPUTF8");
			bs_reply("250-PIPELINING");
			bs_reply("250-ENHANCEDSTATUSCODES");
			bs_reply("250 SIZE %llu", (unsigned long long)
			    config_num(S.cf, NULL, "message_size_limit"));
		} else if (sv_caseeq_str(verb, "HELO")) {
			bs_reply("250 %s", S.host);
		} else if (sv_caseeq_str(verb, "MAIL")) {
			if (have_mail) {
				bs_reply("503 5.5.1 MAIL already given");
				goto error;
			}
			if (bs_path(args, "FROM:", 1, &sender) == -1)
				goto error;
			have_mail = 1;
			buf_reset(&S.rcpts);
			S.nrcpt = 0;
			S.utf8 = 0;
			bs_reply("250 2.1.0 ok");
		} else if (sv_caseeq_str(verb, "RCPT")) {
			if (!have_mail) {
				bs_reply("503 5.5.1 MAIL first");
				goto error;
			}
			if (bs_path(args, "TO:", 0, &addr) == -1)
				goto error;
			if (S.nrcpt >= QUEUE_RCPT_MAX ||
			    add_rcpt(buf_cstr(&addr)) == -1) {
				bs_reply("452 4.5.3 too many recipients");
				continue;
			}
			bs_reply("250 2.1.5 ok");
		} else if (sv_caseeq_str(verb, "DATA")) {
			if (!have_mail || S.nrcpt == 0) {
				bs_reply("503 5.5.1 %s first", have_mail ?
				    "RCPT" : "MAIL");
				goto error;
			}
			bs_reply("354 2.0.0 end with <CRLF>.<CRLF>");
			r = bs_data(&in, &fd, &size, &head_len, &eight, &why);
			if (r == -1) {
				close(fd);
				break;
			}
			if (r == 1)
				bs_reply("%s", why);
			else if ((r = submit(q, fd, size, head_len, eight,
			    buf_cstr(&sender), id, &reply)) == 0)
				bs_reply("250 2.0.0 queued as %s", id);
			else
				bs_reply("%s", buf_cstr(&reply));
			close(fd);
			have_mail = 0;
			if (r == -1 && strstr(buf_cstr(&reply), "connection"))
				break;	/* enqueue is gone */
		} else if (sv_caseeq_str(verb, "RSET")) {
			have_mail = 0;
			bs_reply("250 2.0.0 ok");
		} else if (sv_caseeq_str(verb, "NOOP")) {
			bs_reply("250 2.0.0 ok");
		} else if (sv_caseeq_str(verb, "VRFY")) {
			bs_reply("252 2.5.2 not verified; send and see");
		} else if (sv_caseeq_str(verb, "QUIT")) {
			bs_reply("221 2.0.0 bye");
			break;
		} else {
			bs_reply("502 5.5.1 %.*s is not implemented here",
			    (int)(verb.n < 16 ? verb.n : 16), verb.p);
			goto error;
		}
		continue;
error:
		if (++errors >= 20) {
			bs_reply("421 4.7.0 too many errors");
			break;
		}
	}
	io_free(&in, 0);
	buf_free(&sender);
	buf_free(&addr);
	buf_free(&reply);
	return EX_OK;
}

int
main(int argc, char **argv)
{
	const char *conf = NULL, *base;
	struct buf err, reply;
	struct enqc *q;
	char id[QUEUE_ID_MAX];
	uint64_t size, head_len;
	int ch, fd, list = 0, bs = 0, eight, rc, i;

	base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (strcmp(base, "mailq") == 0) {
		prog = "mailq";
		list = 1;
	}
	S.dots = 1;
	while ((ch = getopt(argc, argv, "B:C:F:N:R:V:b:f:h:io:r:tv")) != -1) {
		switch (ch) {
		case 'B': break;	/* body type: found out by reading */
		case 'C': conf = optarg; break;
		case 'F': S.fullname = optarg; break;
		case 'N': S.notify = optarg; break;
		case 'R': S.ret = optarg; break;
		case 'V': S.envid = optarg; break;
		case 'b':
			if (strcmp(optarg, "p") == 0)
				list = 1;
			else if (strcmp(optarg, "s") == 0)
				bs = 1;
			else if (strcmp(optarg, "m") != 0)
				die(EX_USAGE, "-b%s is not supported (only -bm, "
				    "-bp and -bs)", optarg);
			break;
		case 'f': case 'r': S.sender = optarg; break;
		case 'h': break;	/* hop count: Received fields count */
		case 'i': S.dots = 0; break;
		case 'o':		/* -oi; the other old options mean
					 * nothing here */
			if (strcmp(optarg, "i") == 0)
				S.dots = 0;
			break;
		case 't': S.extract = 1; break;
		case 'v': break;
		default: usage();
		}
	}
	if (S.notify != NULL && (S.notify = notify_norm(S.notify)) == NULL)
		die(EX_USAGE, "-N: NEVER, or a list of SUCCESS, FAILURE, DELAY");
	if (S.envid != NULL && strlen(S.envid) > ENVID_MAX)
		die(EX_USAGE, "-V: %d characters at most", ENVID_MAX);
	if (S.ret != NULL) {
		if (strcasecmp(S.ret, "full") != 0 && strcasecmp(S.ret,
		    "hdrs") != 0)
			die(EX_USAGE, "-R: full or hdrs");
		S.ret = strcasecmp(S.ret, "full") == 0 ? "FULL" : "HDRS";
	}
	if (getuid() != 0 && !trusted_config(conf ? conf :
	    config_default_path()))
		drop_group();	/* a configuration of one's own */
	log_open(prog, LOG_TO_STDERR);
	buf_init(&err, 4096);
	if (config_load(conf ? conf : config_default_path(), &S.cf, &err) ==
	    -1)
		die(EX_CONFIG, "%s", buf_cstr(&err));
	if (list) {
		drop_group();
		return mailq();
	}
	if (enqc_connect(config_str(S.cf, NULL, "enqueue_socket"), 60000, &q,
	    &err) == -1) {
		drop_group();
		die(EX_TEMPFAIL, "%s (is chapard running? is %s set-group-id "
		    "chapar?)", buf_cstr(&err), prog);
	}
	drop_group();

	config_hostname(S.cf, S.host, sizeof(S.host));
	/* the envelope goes to enqueue in one frame, its first line (the
	 * sender, -V, ...) in less than 8 kB */
	buf_init(&S.rcpts, QUEUE_FRAME_MAX - 8192);
	buf_init(&reply, 1024);
	if (bs) {
		S.extract = 0;
		rc = bs_session(q);
		goto done;
	}
	for (i = optind; i < argc; i++)
		add_list(argv[i], strlen(argv[i]));

	if ((fd = memfd_create("sendmail", MFD_CLOEXEC)) == -1)
		die(EX_OSERR, "memfd_create: %s", strerror(errno));
	size = read_message(fd, config_num(S.cf, NULL, "message_size_limit"),
	    &head_len, &eight);
	rc = submit(q, fd, size, head_len, eight, S.sender, id, &reply);
	if (rc != 0)
		die(strncmp(buf_cstr(&reply), "554 5.5.1 no recipients", 23) ==
		    0 ? EX_USAGE : buf_cstr(&reply)[0] == '5' ? EX_DATAERR :
		    EX_TEMPFAIL, "%s", buf_cstr(&reply));
	close(fd);
	rc = EX_OK;
done:
	enqc_close(&q);
	buf_free(&err);
	buf_free(&reply);
	buf_free(&S.rcpts);
	return rc;
}
