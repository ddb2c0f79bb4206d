/*
 * lmtp.c: the LMTP server (RFC 2033) of local(8).
 *
 * LMTP is SMTP (RFC 5321) with LHLO for EHLO and, after DATA, one reply
 * per accepted recipient, in RCPT order (RFC 2033 4.2), so a client (an
 * MTA, our own queue manager) learns each recipient's fate.  Recipients
 * are checked at RCPT; the message is read into an anonymous memory
 * file (memfd), then delivered to each.  Extensions: PIPELINING (RFC
 * 2920), ENHANCEDSTATUSCODES (RFC 2034), 8BITMIME (RFC 6152), SIZE (RFC
 * 1870), SMTPUTF8 (RFC 6531).  The clients are this machine's or the
 * site's own MTAs, but their input is parsed as strictly as any.
 */
#include <sys/mman.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chapar/addr.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/util.h"
#include "chapar/worker.h"
#include "local.h"

#define CMD_MAX 4096		/* a command line (RFC 5321 4.5.3.1.4: 512,
				 * and room for parameters) */
#define DATA_LINE_MAX (1024 * 1024)	/* a line of the message */
#define RCPT_MAX 1000
#define ERRORS_MAX 20
#define TIMEOUT_MS (5 * 60 * 1000)	/* RFC 5321 4.5.3.2.7 */
#define SPOOL_CHUNK (64 * 1024)

struct lmtp {
	struct io io;
	struct dlv_ctx *cx;
	const char *peer;
	char host[256];
	int lhlo, mail;
	struct buf sender;	/* "" for <> */
	struct buf rcpts;	/* accepted ones, NUL after each */
	size_t nrcpt;
	int errors;
	uint64_t limit;		/* message_size_limit, 0: none */
};

static void
reply(struct lmtp *l, const char *fmt, ...) __attribute__((format(printf, 2,
    3)));

static void
reply(struct lmtp *l, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)io_puts(&l->io, line);
	(void)io_puts(&l->io, "\r\n");
}

static void
reset(struct lmtp *l)
{
	l->mail = 0;
	l->nrcpt = 0;
	buf_reset(&l->sender);
	buf_reset(&l->rcpts);
}

/* "<path> params": the path ends at the '>' outside a quoted string. */
static int
split_path(struct sv args, struct sv *path, struct sv *params)
{
	size_t i;
	int quoted = 0;

	if (args.n == 0 || args.p[0] != '<')
		return -1;
	for (i = 1; i < args.n; i++) {
		if (quoted && args.p[i] == '\\' && i + 1 < args.n)
			i++;
		else if (args.p[i] == '"')
			quoted = !quoted;
		else if (!quoted && args.p[i] == '>')
			break;
	}
	if (i == args.n)
		return -1;
	*path = sv_make(args.p, i + 1);
	*params = sv_make(args.p + i + 1, args.n - i - 1);
	if (params->n > 0 && params->p[0] != ' ')
		return -1;
	*params = sv_trim(*params);
	return 0;
}

/* Next space-separated word of s. */
static int
next_word(struct sv *s, struct sv *w)
{
	size_t i = 0;

	while (i < s->n && s->p[i] == ' ')
		i++;
	if (i == s->n)
		return 0;
	*w = sv_make(s->p + i, 0);
	while (i < s->n && s->p[i] != ' ')
		i++, w->n++;
	s->p += i;
	s->n -= i;
	return 1;
}

static int
prefix(struct sv s, const char *p)
{
	size_t n = strlen(p);

	return s.n >= n && strncasecmp(s.p, p, n) == 0;
}

static int
skip_prefix(struct sv *s, const char *p)
{
	size_t n = strlen(p);

	if (!prefix(*s, p))
		return 0;
	s->p += n;
	s->n -= n;
	return 1;
}

/* MAIL FROM:<reverse-path> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8]
 * [RET=..] [ENVID=..] (DSN, RFC 3461: accepted, not needed here) */
static void
cmd_mail(struct lmtp *l, struct sv args)
{
	struct sv path, params, w;
	struct addr a;
	const char *e;
	uint64_t size;
	int null;

	if (!l->lhlo) {
		reply(l, "503 5.5.1 LHLO first");
		return;
	}
	if (l->mail) {
		reply(l, "503 5.5.1 MAIL already given");
		return;
	}
	if (!skip_prefix(&args, "FROM:") ||
	    split_path(args, &path, &params) == -1) {
		reply(l, "501 5.5.4 syntax: MAIL FROM:<address>");
		return;
	}
	while (next_word(&params, &w)) {
		if (prefix(w, "SIZE=")) {
			if (parse_u64(sv_make(w.p + 5, w.n - 5), UINT64_MAX,
			    &size) == -1) {
				reply(l, "501 5.5.4 bad SIZE");
				return;
			}
			if (l->limit > 0 && size > l->limit) {
				reply(l, "552 5.3.4 message too big (limit "
				    "%llu bytes)", (unsigned long long)l->limit);
				return;
			}
		} else if (!(sv_eq_str(w, "BODY=7BIT") ||
		    sv_eq_str(w, "BODY=8BITMIME") || sv_eq_str(w, "SMTPUTF8") ||
		    prefix(w, "RET=") || prefix(w, "ENVID=") ||
		    prefix(w, "AUTH="))) {
			reply(l, "555 5.5.4 unsupported parameter %s",
			    log_esc(w.p, w.n));
			return;
		}
	}
	addr_init(&a);
	if (addr_parse_path(path, ADDR_UTF8, &a, &null, &e) == -1) {
		reply(l, "501 5.1.7 bad sender address: %s", e);
		addr_free(&a);
		return;
	}
	buf_reset(&l->sender);
	if (!null)
		addr_format(&a, &l->sender);
	addr_free(&a);
	l->mail = 1;
	reply(l, "250 2.1.0 sender ok");
}

/* RCPT TO:<forward-path> [NOTIFY=..] [ORCPT=..] */
static void
cmd_rcpt(struct lmtp *l, struct sv args)
{
	struct sv path, params, w;
	struct dlv_result res;
	struct addr a;
	struct buf text;
	const char *e;
	int null;

	if (!l->mail) {
		reply(l, "503 5.5.1 MAIL first");
		return;
	}
	if (!skip_prefix(&args, "TO:") ||
	    split_path(args, &path, &params) == -1) {
		reply(l, "501 5.5.4 syntax: RCPT TO:<address>");
		return;
	}
	while (next_word(&params, &w))
		if (!prefix(w, "NOTIFY=") && !prefix(w, "ORCPT=")) {
			reply(l, "555 5.5.4 unsupported parameter %s",
			    log_esc(w.p, w.n));
			return;
		}
	if (l->nrcpt >= RCPT_MAX) {
		reply(l, "452 4.5.3 too many recipients");
		return;
	}
	addr_init(&a);
	if (addr_parse_path(path, ADDR_UTF8, &a, &null, &e) == -1 || null) {
		reply(l, "501 5.1.3 bad recipient address: %s", null ?
		    "empty" : e);
		addr_free(&a);
		return;
	}
	buf_init(&text, ADDR_PATH_MAX + 1);
	addr_format(&a, &text);
	addr_free(&a);
	dlv_check(l->cx, buf_cstr(&text), &res);
	if (res.code == 250) {
		buf_append(&l->rcpts, text.data, text.len + 1);
		l->nrcpt++;
	}
	reply(l, "%d %s %s", res.code, res.status, res.text);
	buf_free(&text);
}

/* Write the spool in chunks. */
static int
spool_put(int fd, struct buf *b, int force)
{
	if (b->len == 0 || (!force && b->len < SPOOL_CHUNK))
		return 0;
	if (write_all(fd, b->data, b->len) == -1)
		return -1;
	buf_reset(b);
	return 0;
}

/*
 * The message, up to "." alone on a line (RFC 5321 4.1.1.4): a leading
 * dot is removed (4.5.2), every line is stored with CRLF.  The end is
 * only CRLF "." CRLF: a "." after a bare LF is a line of the message, so
 * nothing smuggled ends it early.  Returns the size, or -1 when the
 * connection failed; *why is set when the message cannot be taken.
 */
static int64_t
read_data(struct lmtp *l, int fd, const char **why)
{
	struct sv line;
	struct buf out;
	uint64_t size = 0;
	int crlf, prev_crlf = 1, r;
	size_t keep = l->io.maxline;

	*why = NULL;
	buf_init(&out, 2 * SPOOL_CHUNK);
	l->io.maxline = DATA_LINE_MAX;
	for (;;) {
		r = io_getline(&l->io, &line, &crlf);
		if (r == IO_TOOLONG) {
			*why = "554 5.6.0 a line of the message is too long";
			continue;
		}
		if (r != IO_OK) {
			size = (uint64_t)-1;
			break;
		}
		if (crlf && prev_crlf && line.n == 1 && line.p[0] == '.')
			break;
		/* a line begins only after CRLF: only then is a dot
		 * stuffed */
		if (prev_crlf && line.n > 0 && line.p[0] == '.') {
			line.p++;
			line.n--;
		}
		prev_crlf = crlf;
		size += line.n + 2;
		if (l->limit > 0 && size > l->limit) {
			*why = "552 5.3.4 message too big";
			continue;
		}
		if (*why != NULL)
			continue;
		buf_append(&out, line.p, line.n);
		buf_append(&out, "\r\n", 2);
		if (spool_put(fd, &out, 0) == -1)
			*why = "451 4.3.0 cannot store the message now";
	}
	if (*why == NULL && spool_put(fd, &out, 1) == -1)
		*why = "451 4.3.0 cannot store the message now";
	l->io.maxline = keep;
	buf_free(&out);
	return size == (uint64_t)-1 ? -1 : (int64_t)size;
}

static int
cmd_data(struct lmtp *l)
{
	struct dlv_result res;
	struct dlv_msg m;
	const char *why, *rcpt;
	size_t off, i;
	int64_t size;
	int fd;

	if (!l->mail) {
		reply(l, "503 5.5.1 MAIL first");
		return 0;
	}
	if (l->nrcpt == 0) {
		reply(l, "503 5.5.1 no valid recipients");
		return 0;
	}
	if ((fd = memfd_create("lmtp", MFD_CLOEXEC)) == -1) {
		log_error("memfd_create: %s", strerror(errno));
		reply(l, "451 4.3.0 cannot store the message now");
		return 0;
	}
	reply(l, "354 2.0.0 end with <CRLF>.<CRLF>");
	if (io_flush(&l->io) != IO_OK || (size = read_data(l, fd, &why)) < 0) {
		close(fd);
		log_info("connection lost in DATA");
		return -1;
	}
	if (why == NULL)
		dlv_msg_init(&m, fd, (uint64_t)size, buf_cstr(&l->sender));
	log_info("from=<%s>, size=%lld, nrcpt=%zu%s%s",
	    log_esc_str(buf_cstr(&l->sender)), (long long)size, l->nrcpt,
	    why ? ", refused: " : "", why ? why : "");
	/* RFC 2033 4.2: one reply per accepted RCPT, in order */
	for (i = 0, off = 0; i < l->nrcpt; i++) {
		rcpt = l->rcpts.data + off;
		off += strlen(rcpt) + 1;
		if (why != NULL) {
			reply(l, "%s", why);
			continue;
		}
		dlv_deliver(l->cx, &m, rcpt, &res);
		reply(l, "%d %s %s", res.code, res.status, res.text);
	}
	if (why == NULL)
		dlv_msg_free(&m);
	close(fd);
	reset(l);
	return 0;
}

static void
cmd_lhlo(struct lmtp *l, struct sv args)
{
	if (sv_trim(args).n == 0) {
		reply(l, "501 5.5.4 syntax: LHLO hostname");
		return;
	}
	reset(l);
	l->lhlo = 1;
	reply(l, "250-%s", l->host);
	reply(l, "250-PIPELINING");
	reply(l, "250-ENHANCEDSTATUSCODES");
	reply(l, "250-8BITMIME");
	reply(l, "250-SMTPUTF8");
	if (l->limit > 0)
		reply(l, "250 SIZE %llu", (unsigned long long)l->limit);
	else
		reply(l, "250 SIZE");
}

/* One command; 0 to go on, -1 to end the session. */
static int
command(struct lmtp *l, struct sv line)
{
	struct sv verb = line, args = SV_LIT("");
	const char *sp = memchr(line.p, ' ', line.n);

	if (sp != NULL) {
		verb = sv_make(line.p, (size_t)(sp - line.p));
		args = sv_make(sp + 1, line.n - verb.n - 1);
	}
	if (sv_caseeq_str(verb, "LHLO"))
		cmd_lhlo(l, args);
	else if (sv_caseeq_str(verb, "MAIL"))
		cmd_mail(l, args);
	else if (sv_caseeq_str(verb, "RCPT"))
		cmd_rcpt(l, args);
	else if (sv_caseeq_str(verb, "DATA") && args.n == 0)
		return cmd_data(l);
	else if (sv_caseeq_str(verb, "RSET") && args.n == 0) {
		reset(l);
		reply(l, "250 2.0.0 ok");
	} else if (sv_caseeq_str(verb, "NOOP"))
		reply(l, "250 2.0.0 ok");
	else if (sv_caseeq_str(verb, "QUIT") && args.n == 0) {
		reply(l, "221 2.0.0 bye");
		return -1;
	} else if (sv_caseeq_str(verb, "VRFY"))
		reply(l, "252 2.5.0 send some mail, I'll try my best");
	else if (sv_caseeq_str(verb, "HELO") || sv_caseeq_str(verb, "EHLO")) {
		l->errors++;
		reply(l, "500 5.5.1 this is LMTP: say LHLO");
	} else {
		l->errors++;
		reply(l, "500 5.5.2 command not recognised");
	}
	return 0;
}

void
lmtp_serve(struct dlv_ctx *cx, int fd, const char *peer)
{
	struct lmtp l;
	struct sv line;
	int r, crlf;

	memset(&l, 0, sizeof(l));
	l.cx = cx;
	l.peer = peer;
	l.limit = config_num(cx->cf, NULL, "message_size_limit");
	config_hostname(cx->cf, l.host, sizeof(l.host));
	buf_init(&l.sender, ADDR_PATH_MAX + 1);
	buf_init(&l.rcpts, RCPT_MAX * (ADDR_PATH_MAX + 1));
	io_init(&l.io, fd, CMD_MAX, TIMEOUT_MS);
	reply(&l, "220 %s LMTP ready", l.host);
	for (;;) {
		/* RFC 2920: replies go out when no command is waiting */
		if (io_buffered(&l.io) == 0 && io_flush(&l.io) != IO_OK)
			break;
		r = io_getline(&l.io, &line, &crlf);
		if (r == IO_TOOLONG) {
			l.errors++;
			reply(&l, "500 5.5.2 line too long");
			continue;
		}
		if (r != IO_OK)
			break;
		if (command(&l, line) == -1)
			break;
		if (l.errors >= ERRORS_MAX) {
			reply(&l, "421 4.7.0 too many errors");
			break;
		}
		/* chapard stops or reloads: between transactions, so that a
		 * client's kept connection (qmgr's, Postfix's) does not hold
		 * the old worker */
		if (!l.mail && worker_quitting()) {
			reply(&l, "421 4.3.2 %s shutting down", l.host);
			break;
		}
	}
	(void)io_flush(&l.io);
	io_free(&l.io, 0);
	dlv_close_stores();
	buf_free(&l.sender);
	buf_free(&l.rcpts);
}
