/*
 * local_lmtp.c: the LMTP server (RFC 2033) of local(8).
 *
 * LMTP is SMTP (RFC 5321) with LHLO for EHLO and, after DATA, one reply
 * per accepted recipient, in RCPT order (RFC 2033 4.2), so a client (an
 * MTA, our own queue manager) learns each recipient's fate.  Recipients
 * are checked at RCPT; the message is read into an anonymous memory
 * file (memfd), then delivered to each.  Extensions: PIPELINING (RFC
 * 2920), ENHANCEDSTATUSCODES (RFC 2034), 8BITMIME (RFC 6152), SIZE (RFC
 * 1870), SMTPUTF8 (RFC 6531).  The clients are this machine's or the
 * site's own MTAs, but their input is parsed as strictly as any: the
 * command syntax and the DATA codec are smtpd's (common/smtp).
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
#include "chapar/smtp.h"
#include "chapar/util.h"
#include "local.h"

#define CMD_MAX 4096		/* a command line (RFC 5321 4.5.3.1.4: 512,
				 * and room for parameters) */
#define RCPT_MAX 1000
#define ERRORS_MAX 20
#define TIMEOUT_MS (5 * 60 * 1000)	/* RFC 5321 4.5.3.2 */
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

#define reply(l, ...) smtp_replyf(&(l)->io, __VA_ARGS__)

static void
reset(struct lmtp *l)
{
	l->mail = 0;
	l->nrcpt = 0;
	buf_reset(&l->sender);
	buf_reset(&l->rcpts);
}

/* The path of MAIL FROM: or RCPT TO: and its parameters, each checked
 * by ok(); -1 with the reply given. */
static int
path_of(struct lmtp *l, struct sv args, const char *prefix,
    int (*ok)(struct lmtp *, struct sv key, struct sv val), struct sv *path)
{
	struct sv params, key, val;
	const char *why;
	int r;

	if (smtp_path_args(args, prefix, path, &params, &why) == -1) {
		reply(l, "501 5.5.4 syntax: %s<address>: %s", prefix, why);
		return -1;
	}
	while ((r = smtp_param_next(&params, &key, &val)) == 1)
		if (!ok(l, key, val))
			return -1;
	if (r == -1) {
		reply(l, "501 5.5.4 bad parameters");
		return -1;
	}
	return 0;
}

/* MAIL's parameters: SIZE (RFC 1870), BODY=7BIT|8BITMIME (RFC 6152),
 * SMTPUTF8 (RFC 6531), RET and ENVID (RFC 3461, not needed here), AUTH
 * (RFC 4954). */
static int
mail_param(struct lmtp *l, struct sv key, struct sv val)
{
	uint64_t size;

	if (sv_caseeq_str(key, "SIZE")) {
		if (parse_u64(val, UINT64_MAX, &size) == -1) {
			reply(l, "501 5.5.4 bad SIZE");
			return 0;
		}
		if (l->limit > 0 && size > l->limit) {
			reply(l, "552 5.3.4 message too big (limit %llu bytes)",
			    (unsigned long long)l->limit);
			return 0;
		}
		return 1;
	}
	if ((sv_caseeq_str(key, "BODY") && (sv_caseeq_str(val, "7BIT") ||
	    sv_caseeq_str(val, "8BITMIME"))) || (sv_caseeq_str(key,
	    "SMTPUTF8") && val.n == 0) || sv_caseeq_str(key, "RET") ||
	    sv_caseeq_str(key, "ENVID") || sv_caseeq_str(key, "AUTH"))
		return 1;
	reply(l, "555 5.5.4 unsupported parameter %s", log_esc(key.p, key.n));
	return 0;
}

/* RCPT's: NOTIFY and ORCPT (RFC 3461), accepted and not needed here. */
static int
rcpt_param(struct lmtp *l, struct sv key, struct sv val)
{
	(void)val;
	if (sv_caseeq_str(key, "NOTIFY") || sv_caseeq_str(key, "ORCPT"))
		return 1;
	reply(l, "555 5.5.4 unsupported parameter %s", log_esc(key.p, key.n));
	return 0;
}

static int
cmd_mail(struct lmtp *l, struct sv args)
{
	struct sv path;
	struct addr a;
	const char *e;
	int null;

	if (path_of(l, args, "FROM:", mail_param, &path) == -1)
		return 0;
	addr_init(&a);
	if (addr_parse_path(path, ADDR_UTF8, &a, &null, &e) == -1) {
		reply(l, "501 5.1.7 bad sender address: %s", e);
		addr_free(&a);
		return 0;
	}
	buf_reset(&l->sender);
	if (!null)
		addr_format(&a, &l->sender);
	addr_free(&a);
	l->mail = 1;
	reply(l, "250 2.1.0 sender ok");
	return 0;
}

static int
cmd_rcpt(struct lmtp *l, struct sv args)
{
	struct dlv_result res;
	struct sv path;
	struct addr a;
	struct buf text;
	const char *e;
	int null;

	if (path_of(l, args, "TO:", rcpt_param, &path) == -1)
		return 0;
	if (l->nrcpt >= RCPT_MAX) {
		reply(l, "452 4.5.3 too many recipients");
		return 0;
	}
	addr_init(&a);
	if (addr_parse_path(path, ADDR_UTF8, &a, &null, &e) == -1 || null) {
		reply(l, "501 5.1.3 bad recipient address: %s", null ?
		    "empty" : e);
		addr_free(&a);
		return 0;
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
	return 0;
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
 * The message, through the DATA codec (common/smtp/smtp_data.c): up to
 * CRLF "." CRLF only, dots unstuffed.  A bare CR or LF becomes CRLF:
 * the client is an MTA that has accepted the message already, and a
 * refusal here would bounce it, while the store must hold CRLF lines; a
 * NUL is refused, as by smtpd.  Returns the size, or -1 when the
 * connection failed; *why is set when the message cannot be taken.
 */
static int64_t
read_data(struct lmtp *l, int fd, const char **why)
{
	struct smtp_data d;
	struct buf out;
	const char *p;
	ssize_t n;
	size_t used;

	*why = NULL;
	smtp_data_init(&d, SMTP_DATA_DOT, SMTP_DATA_NORMALIZE);
	buf_init(&out, SPOOL_CHUNK + 2 * SMTP_DATA_FEED_MAX + 8);
	while (!d.done) {
		if ((n = io_peek(&l->io, &p)) < 0) {
			buf_free(&out);
			return -1;
		}
		if (n > SMTP_DATA_FEED_MAX)
			n = SMTP_DATA_FEED_MAX;
		used = smtp_data_decode(&d, p, (size_t)n, &out);
		io_skip(&l->io, used);
		if (l->limit > 0 && d.size > l->limit && *why == NULL)
			*why = "552 5.3.4 message too big";
		if (*why != NULL)
			buf_reset(&out);	/* read to the end, keep none */
		else if (spool_put(fd, &out, 0) == -1)
			*why = "451 4.3.0 cannot store the message now";
	}
	if (*why == NULL)
		*why = smtp_data_error(&d);
	if (*why == NULL && spool_put(fd, &out, 1) == -1)
		*why = "451 4.3.0 cannot store the message now";
	buf_free(&out);
	return (int64_t)d.size;
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

static int
cmd_lhlo(struct lmtp *l, struct sv args)
{
	if (!smtp_helo_ok(sv_trim(args))) {
		reply(l, "501 5.5.4 syntax: LHLO hostname");
		return 0;
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
	return 0;
}

static int
cmd_rset(struct lmtp *l, struct sv args)
{
	(void)args;
	reset(l);
	reply(l, "250 2.0.0 ok");
	return 0;
}

static int
cmd_noop(struct lmtp *l, struct sv args)
{
	(void)args;
	reply(l, "250 2.0.0 ok");
	return 0;
}

static int
cmd_quit(struct lmtp *l, struct sv args)
{
	(void)args;
	reply(l, "221 2.0.0 bye");
	return -1;
}

static int
cmd_vrfy(struct lmtp *l, struct sv args)
{
	(void)args;
	reply(l, "252 2.5.0 send some mail, I'll try my best");
	return 0;
}

static int
cmd_helo(struct lmtp *l, struct sv args)
{
	(void)args;
	l->errors++;
	reply(l, "500 5.5.1 this is LMTP: say LHLO");
	return 0;
}

static int
cmd_data_args(struct lmtp *l, struct sv args)
{
	(void)args;
	return cmd_data(l);
}

/* The commands (RFC 2033 4): what each needs before it is allowed. */
#define NEED_LHLO 0x1
#define NEED_MAIL 0x2
#define NO_MAIL 0x4		/* not inside a transaction */
#define NO_ARGS 0x8
static const struct {
	const char *name;
	unsigned flags;
	int (*fn)(struct lmtp *, struct sv args);
} cmds[] = {
	{ "LHLO", 0, cmd_lhlo },
	{ "MAIL", NEED_LHLO | NO_MAIL, cmd_mail },
	{ "RCPT", NEED_MAIL, cmd_rcpt },
	{ "DATA", NEED_MAIL | NO_ARGS, cmd_data_args },
	{ "RSET", NO_ARGS, cmd_rset },
	{ "NOOP", 0, cmd_noop },
	{ "QUIT", NO_ARGS, cmd_quit },
	{ "VRFY", 0, cmd_vrfy },
	{ "HELO", 0, cmd_helo },
	{ "EHLO", 0, cmd_helo },
};

/* One command; 0 to go on, -1 to end the session. */
static int
command(struct lmtp *l, struct sv line)
{
	struct sv verb, args;
	size_t i;

	if (smtp_split(line, &verb, &args) == -1) {
		l->errors++;
		reply(l, "500 5.5.2 syntax error");
		return 0;
	}
	for (i = 0; i < NELEM(cmds); i++)
		if (sv_caseeq_str(verb, cmds[i].name))
			break;
	if (i == NELEM(cmds)) {
		l->errors++;
		reply(l, "500 5.5.2 command not recognised");
	} else if ((cmds[i].flags & NO_ARGS) && args.n > 0) {
		l->errors++;
		reply(l, "501 5.5.4 no parameters allowed");
	} else if ((cmds[i].flags & NEED_LHLO) && !l->lhlo)
		reply(l, "503 5.5.1 LHLO first");
	else if ((cmds[i].flags & NEED_MAIL) && !l->mail)
		reply(l, "503 5.5.1 MAIL first");
	else if ((cmds[i].flags & NO_MAIL) && l->mail)
		reply(l, "503 5.5.1 MAIL already given");
	else
		return cmds[i].fn(l, args);
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
		/* chapard stops or reloads: between transactions the client
		 * is told (RFC 5321 4.2.2), so that a kept connection
		 * (qmgr's, Postfix's) does not hold the old worker */
		if (!l.mail && cx->quitting != NULL && cx->quitting()) {
			reply(&l, "421 4.3.2 %s shutting down", l.host);
			break;
		}
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
	}
	(void)io_flush(&l.io);
	io_free(&l.io, 0);
	dlv_close_stores();
	buf_free(&l.sender);
	buf_free(&l.rcpts);
}
