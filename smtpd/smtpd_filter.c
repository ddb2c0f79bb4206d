/*
 * smtp_filter.c: the two places where filters judge mail (chapar-filter(7)).
 *
 * A filter is a daemon of its own on a UNIX socket: SPF, DKIM, DMARC,
 * DNSBL, greylisting, spam and virus scanning all plug in here without
 * smtpd knowing what they do.  smtpd connects to each one as root, before
 * it gives up its privileges, and keeps the connection for the life of
 * the process; requests on one connection never overlap.
 *
 *	policy stage	after smtpd accepts a RCPT: one request line, one
 *			verdict line, per recipient
 *	content stage	after DATA or the last BDAT, before the commit: a
 *			request line, the message in chunks as it arrives
 *			("LENGTH\n" then the bytes; "0\n" ends it, "abort\n"
 *			abandons it), one verdict line
 *
 * A verdict is a rec line: action=accept|tempfail|reject|quarantine|tag,
 * with reply= (the SMTP reply for tempfail or reject), reason= (for
 * quarantine) and header= (for tag; may repeat).  A filter that does not
 * answer within smtpd_filter_timeout, or answers nonsense, is "down":
 * smtpd_filter_unavailable says whether mail then waits (tempfail, the
 * default) or passes it by (accept), and the process retires after the
 * session so that a fresh one connects again.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/rec.h"
#include "chapar/util.h"
#include "smtpd.h"

#define VERDICT_MAX 16384

struct filter {
	char *path;
	int content;		/* 1: content stage, 0: policy stage */
	int fd;			/* -1: down */
	int streaming;		/* a message is going to it */
};

static struct {
	struct filter *f;
	size_t n;
	int timeout_ms;
	int pass_when_down;
} F;

static void
filter_add(const char *path, int content, int wait_ms)
{
	struct filter *f;
	struct buf err;
	struct timeval tv;
	uint64_t end = now_ms() + (uint64_t)wait_ms;

	F.f = xreallocarray(F.f, F.n + 1, sizeof(*F.f));
	f = &F.f[F.n++];
	f->path = xstrdup(path);
	f->content = content;
	f->streaming = 0;
	buf_init(&err, 1024);
	while ((f->fd = unix_connect(path, "filter", &err)) == -1 &&
	    now_ms() < end)
		usleep(100 * 1000);
	if (f->fd == -1)
		log_warning("%s", buf_cstr(&err));
	else {
		tv.tv_sec = F.timeout_ms / 1000;
		tv.tv_usec = (F.timeout_ms % 1000) * 1000;
		(void)setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
		    sizeof(tv));
		(void)setsockopt(f->fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
		    sizeof(tv));
	}
	buf_free(&err);
}

void
smtp_filters_connect(struct config *cf, const char *svc, int wait_ms)
{
	const char *const *paths;
	size_t n, i;

	F.timeout_ms = (int)config_num(cf, svc, "smtpd_filter_timeout") *
	    1000;
	F.pass_when_down = strcmp(config_str(cf, svc,
	    "smtpd_filter_unavailable"), "accept") == 0;
	/* filters are chapard's daemons too, started before the pools:
	 * a short wait is enough, and a long one would hold up every new
	 * worker while a filter is down */
	wait_ms /= 5;
	n = config_list(cf, svc, "smtpd_policy_filters", &paths);
	for (i = 0; i < n; i++)
		filter_add(paths[i], 0, wait_ms);
	n = config_list(cf, svc, "smtpd_content_filters", &paths);
	for (i = 0; i < n; i++)
		filter_add(paths[i], 1, wait_ms);
}

/* The filter stopped making sense: drop it for the rest of this
 * process's life. */
static void
filter_down(struct filter *f, const char *why)
{
	log_warning("filter %s: %s", f->path, why);
	if (f->fd != -1)
		(void)close(f->fd);
	f->fd = -1;
	f->streaming = 0;
	worker_retire("a filter is unavailable");
}

static int
send_all(struct filter *f, const void *p, size_t n)
{
	if (f->fd == -1)
		return -1;
	if (write_all(f->fd, p, n) == -1) {
		filter_down(f, errno == EAGAIN ? "timed out" :
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* One verdict line into r; -1 (and the filter down) if none came. */
static int
read_verdict(struct filter *f, struct rec *r)
{
	struct buf line;
	ssize_t got;
	char *nl = NULL;
	int ret = -1;

	buf_init(&line, VERDICT_MAX);
	while (nl == NULL) {
		if (buf_reserve(&line, 512) == -1) {
			filter_down(f, "verdict too long");
			goto out;
		}
		got = read(f->fd, buf_end(&line), buf_room(&line));
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0) {
			filter_down(f, got == 0 ? "closed the connection" :
			    errno == EAGAIN ? "timed out" : strerror(errno));
			goto out;
		}
		nl = memchr(buf_end(&line), '\n', (size_t)got);
		buf_commit(&line, (size_t)got);
	}
	if ((size_t)(nl - line.data) + 1 != line.len)
		filter_down(f, "more than one verdict");
	else if (rec_decode(sv_make(line.data, (size_t)(nl - line.data)),
	    r) == -1)
		filter_down(f, "malformed verdict");
	else
		ret = 0;
out:
	buf_free(&line);
	return ret;
}

/* The fields every request has. */
static void
request_head(struct smtp *s, const char *stage, struct rec *r)
{
	rec_set_str(r, "stage", stage);
	rec_set_str(r, "service", s->svc);
	rec_set_str(r, "client", s->c->peer);
	rec_set_str(r, "helo", s->helo);
	rec_set_str(r, "auth", s->auth);
	rec_set_str(r, "tls", s->tls ? "1" : "");
	rec_set(r, "sender", buf_sv(&s->sender));
}

static void
request_send(struct filter *f, const struct rec *r)
{
	struct buf text;

	buf_init(&text, QUEUE_ENV_MAX + 4096);
	rec_encode(r, &text);
	buf_putc(&text, '\n');
	(void)send_all(f, text.data, text.len);
	buf_free(&text);
}

/*
 * A tag verdict: its header fields, each checked, onto the transaction's
 * (a policy filter's add up over the RCPTs).  All of them or none: when
 * they do not fit, 1 with the reply -- at RCPT the recipient waits for
 * another transaction (RFC 5321 4.5.3.1.10), at the end of the data the
 * message waits (451) -- and nothing is dropped unsaid.
 */
static int
tag(struct filter *f, const struct rec *v, struct buf *tags, int content,
    char *reply, size_t len)
{
	size_t i, keep = tags->len;
	const char *h;

	for (i = 0; i < v->n; i++) {
		h = buf_cstr(&v->vals[i]);
		if (strcmp(v->names[i], "header") != 0)
			continue;
		if (!queue_header_ok(h)) {
			log_warning("filter %s: bad header field ignored",
			    f->path);
			continue;
		}
		if (buf_try_puts(tags, h) == -1 ||
		    buf_try_append(tags, "\r\n", 2) == -1) {
			buf_truncate(tags, keep);
			log_warning("filter %s: its header fields pass the "
			    "limit of %zu bytes", f->path, tags->max);
			(void)xsnprintf(reply, len, "%s", content ?
			    "451 4.3.0 too many header fields from filters; "
			    "try again later" : "452 4.5.3 too many recipients "
			    "for the filters' header fields");
			return 1;
		}
	}
	return 0;
}

/*
 * Act on a verdict.  0: go on (accept, tag, quarantine; the last two
 * leave their mark on the transaction); 1: stop with reply set.
 */
static int
apply(struct smtp *s, struct filter *f, const struct rec *v, int content,
    char *reply, size_t len)
{
	const char *action = rec_get_str(v, "action");
	const char *text = rec_get_str(v, "reply");
	const char *reason = rec_get_str(v, "reason");
	struct buf *tags = content ? &s->content_tags : &s->tags;
	size_t i;

	if (action == NULL)
		action = "";
	if (strcmp(action, "accept") == 0)
		return 0;
	if (strcmp(action, "tempfail") == 0 || strcmp(action, "reject") ==
	    0) {
		int temp = action[0] == 't';

		if (text != NULL && smtp_reply_ok(sv_from(text), temp ? '4' :
		    '5'))
			(void)xsnprintf(reply, len, "%s", text);
		else
			(void)xsnprintf(reply, len, "%s", temp ?
			    "451 4.7.1 try again later" :
			    "550 5.7.1 refused by policy");
		return 1;
	}
	if (strcmp(action, "quarantine") == 0) {
		/* the envelope's text field: no controls, 1000 bytes */
		if (reason == NULL || reason[0] == '\0')
			reason = f->path;
		buf_reset(&s->quarantine);
		for (i = 0; reason[i] != '\0' && i < 1000; i++)
			buf_putc(&s->quarantine, (unsigned char)reason[i] <
			    0x20 || reason[i] == 0x7f ? '?' : reason[i]);
		return 0;
	}
	if (strcmp(action, "tag") == 0)
		return tag(f, v, tags, content, reply, len);
	filter_down(f, "unknown action");
	return -1;
}

/* A filter is down: the reply when mail must wait for it, else NULL. */
static int
down(char *reply, size_t len)
{
	if (F.pass_when_down)
		return 0;
	(void)xsnprintf(reply, len, "451 4.3.0 a filter is unavailable; "
	    "try again later");
	return 1;
}

int
smtp_filter_rcpt(struct smtp *s, const char *rcpt, char *reply, size_t len)
{
	struct rec req, v;
	size_t i;
	int r = 0;

	for (i = 0; i < F.n && r == 0; i++) {
		struct filter *f = &F.f[i];

		if (f->content)
			continue;
		if (f->fd == -1) {
			r = down(reply, len);
			continue;
		}
		rec_init(&req);
		rec_init(&v);
		request_head(s, "rcpt", &req);
		rec_set_str(&req, "rcpt", rcpt);
		rec_set_u64(&req, "nrcpt", s->nrcpt);
		request_send(f, &req);
		if (f->fd == -1 || read_verdict(f, &v) == -1 ||
		    (r = apply(s, f, &v, 0, reply, len)) == -1)
			r = down(reply, len);
		rec_free(&req);
		rec_free(&v);
	}
	return r;
}

/* --- the content stage --------------------------------------------------- */

/* Tell each content filter a message comes; its recipients are the
 * envelope's.  A filter that is down is judged at the end. */
void
smtp_filter_data_begin(struct smtp *s)
{
	struct rec req;
	struct sv rest = buf_sv(&s->rcpt_lines), line;
	struct rec one;
	size_t i;

	rec_init(&req);
	request_head(s, "data", &req);
	rec_set_str(&req, "id", s->id);
	rec_set_u64(&req, "nrcpt", s->nrcpt);
	if (s->quarantine.len > 0)
		rec_set(&req, "quarantine", buf_sv(&s->quarantine));
	while (rest.n > 0) {
		(void)sv_split(&rest, '\n', &line);
		rec_init(&one);
		if (rec_decode(line, &one) == 0 && rec_get(&one, "rcpt"))
			rec_add(&req, "rcpt", buf_sv(rec_get(&one, "rcpt")));
		rec_free(&one);
	}
	for (i = 0; i < F.n; i++) {
		struct filter *f = &F.f[i];

		if (!f->content || f->fd == -1)
			continue;
		request_send(f, &req);
		f->streaming = f->fd != -1;
	}
	rec_free(&req);
}

void
smtp_filter_data_write(const void *p, size_t n)
{
	char len[32];
	size_t i;

	if (n == 0)
		return;
	(void)xsnprintf(len, sizeof(len), "%zu\n", n);
	for (i = 0; i < F.n; i++) {
		struct filter *f = &F.f[i];

		if (f->streaming && send_all(f, len, strlen(len)) == 0)
			(void)send_all(f, p, n);
	}
}

void
smtp_filter_data_abort(void)
{
	size_t i;

	for (i = 0; i < F.n; i++)
		if (F.f[i].streaming) {
			(void)send_all(&F.f[i], "abort\n", 6);
			F.f[i].streaming = 0;
		}
}

/*
 * The end of the message: each content filter's verdict.  0: commit
 * (fields: what to add to the envelope, rec text); 1: reply set.
 */
int
smtp_filter_data_end(struct smtp *s, struct buf *fields, char *reply,
    size_t len)
{
	struct rec v, add;
	struct sv rest, line;
	size_t i;
	int r = 0;

	for (i = 0; i < F.n; i++) {
		struct filter *f = &F.f[i];

		if (!f->content)
			continue;
		if (r != 0) {
			if (f->streaming)
				(void)send_all(f, "abort\n", 6);
			f->streaming = 0;
			continue;
		}
		if (!f->streaming) {
			r = down(reply, len);
			continue;
		}
		f->streaming = 0;
		rec_init(&v);
		if (send_all(f, "0\n", 2) == -1 || read_verdict(f, &v) == -1 ||
		    (r = apply(s, f, &v, 1, reply, len)) == -1)
			r = down(reply, len);
		rec_free(&v);
	}
	if (r != 0)
		return r;
	rec_init(&add);
	if (s->quarantine.len > 0 && !s->quarantine_in_env)
		rec_set(&add, "quarantine", buf_sv(&s->quarantine));
	rest = buf_sv(&s->content_tags);
	while (rest.n > 0) {
		(void)sv_split(&rest, '\n', &line);
		if (line.n > 0 && line.p[line.n - 1] == '\r')
			line.n--;
		if (line.n > 0)
			rec_add(&add, "header", line);
	}
	rec_encode(&add, fields);
	rec_free(&add);
	return 0;
}

int
smtp_filters_content(void)
{
	size_t i;

	for (i = 0; i < F.n; i++)
		if (F.f[i].content)
			return 1;
	return 0;
}
