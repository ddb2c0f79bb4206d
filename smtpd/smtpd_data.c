/*
 * smtp_data.c: the message -- DATA (RFC 5321 4.1.1.4) and BDAT (RFC
 * 3030) -- on its way to enqueue(8), with the Received field (RFC 5321
 * 4.4, RFC 3848) on top and, on submission, Message-ID and Date when the
 * client left them out (RFC 6409 8).
 *
 * DATA and BDAT share one path: the bytes go through the DATA codec
 * (common/smtp/smtp_data.c: the end only at CRLF "." CRLF, a bare CR or
 * LF refused or made CRLF as smtpd_bare_newline says, NUL refused, no
 * line limit), the header is gathered up to its blank line and judged
 * (hops, the From check of submission), and the message streams to
 * enqueue and the content filters.  The reply is 250 only after enqueue
 * said the message is on disk.  A transaction left open (BDAT without
 * LAST, then RSET, EHLO, QUIT or a dropped connection) is abandoned with
 * enqueue in smtp_reset, so it never blocks the next one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "chapar/enqc.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/mime.h"
#include "chapar/tls.h"
#include "chapar/util.h"
#include "smtpd.h"

#define CHUNK_OUT (128 * 1024)	/* decoded bytes gathered before a write */

/* Message bytes: to enqueue, and to the content filters on the way. */
static int
data_out(const void *p, size_t n)
{
	smtp_filter_data_write(p, n);
	return enqc_write(worker_enqueue(), p, n);
}

/* The message is abandoned: by enqueue and by the filters. */
static void
abort_message(void)
{
	enqc_abort(worker_enqueue());
	smtp_filter_data_abort();
}

static const char *
protocol(const struct smtp *s)
{
	static char p[16];

	(void)xsnprintf(p, sizeof(p), "%s%s%s", s->smtputf8 ? "UTF8SMTP" :
	    s->esmtp ? "ESMTP" : "SMTP", s->tls ? "S" : "",
	    s->auth[0] ? "A" : "");
	return p;
}

/* RFC 5321 4.4 time-stamp line, folded. */
static void
received(const struct smtp *s, struct buf *out)
{
	char date[64];

	date_rfc5322(date, sizeof(date));
	buf_printf(out, "Received: from %s ([%s])\r\n\tby %s (Chapar) "
	    "with %s id %s", log_esc_str(s->helo), s->c->peer, s->host,
	    protocol(s), s->id);
	if (s->tls)
		buf_printf(out, "\r\n\t(%s with cipher %s)",
		    tls_version(s->io), tls_cipher(s->io));
	if (s->nrcpt == 1)
		buf_printf(out, "\r\n\tfor <%s>",
		    buf_cstr(&s->first_rcpt));
	buf_printf(out, ";\r\n\t%s\r\n", date);
}

/* Open the message with enqueue: 0, or -1 with the reply given. */
static int
begin(struct smtp *s)
{
	struct enqc *q = worker_enqueue();
	struct buf env, reply;
	int r;

	if (q == NULL) {
		smtp_reply(s, "451 4.3.0 the queue is unavailable; try later");
		return -1;
	}
	buf_init(&env, QUEUE_ENV_MAX);
	buf_init(&reply, 1024);
	buf_append(&env, s->env.data, s->env.len);
	buf_printf(&env, "\tprotocol=%s", protocol(s));
	if (s->tls) {
		buf_puts(&env, "\ttls=");
		tab_escape(&env, sv_from(tls_version(s->io)));
	}
	if (s->quarantine.len > 0) {
		buf_puts(&env, "\tquarantine=");
		tab_escape(&env, buf_sv(&s->quarantine));
		s->quarantine_in_env = 1;
	}
	buf_putc(&env, '\n');
	buf_append(&env, s->rcpt_lines.data, s->rcpt_lines.len);
	r = enqc_begin(q, buf_sv(&env), s->id, &reply);
	if (r != 0) {
		if (r == -1)
			worker_enqueue_lost();
		log_warning("enqueue refused a message: %s", buf_cstr(&reply));
		smtp_reply(s, "%s", buf_cstr(&reply));
	} else
		smtp_filter_data_begin(s);
	buf_free(&env);
	buf_free(&reply);
	return r == 0 ? 0 : -1;
}

/* Commit, and tell the client. */
static void
finish(struct smtp *s, uint64_t size)
{
	struct enqc *q = worker_enqueue();
	struct buf reply, fields;
	char verdict[512];
	int r;

	/* the content filters' fields as rec text: "header=" and a TAB for
	 * each CRLF line ("A:" at the least) and its value escaped (at most
	 * twice as long), and the quarantine reason */
	buf_init(&fields, 3 * s->content_tags.max + 4096);
	if (smtp_filter_data_end(s, &fields, verdict, sizeof(verdict)) != 0) {
		enqc_abort(q);
		log_info("%s: reject: from=<%s>: %s", s->id,
		    log_esc_str(buf_cstr(&s->sender)), verdict);
		smtp_reply(s, "%s", verdict);
		buf_free(&fields);
		return;
	}
	buf_init(&reply, 1024);
	r = enqc_commit(q, buf_sv(&fields), &reply);
	if (r == 0) {
		log_info("%s: from=<%s>, size=%llu, nrcpt=%llu, queued%s%s",
		    s->id, log_esc_str(buf_cstr(&s->sender)),
		    (unsigned long long)size, (unsigned long long)s->nrcpt,
		    s->quarantine.len > 0 ? ", quarantined: " : "",
		    log_esc_str(buf_cstr(&s->quarantine)));
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->id);
	} else {
		if (r == -1)
			worker_enqueue_lost();
		log_warning("%s: not queued: %s", s->id, buf_cstr(&reply));
		smtp_reply(s, "%s", buf_cstr(&reply));
	}
	buf_free(&reply);
	buf_free(&fields);
}

/* --- the header ---------------------------------------------------------- */

/* What the header holds that smtpd cares about. */
static void
head_scan(struct msgin *m)
{
	struct sv rest = buf_sv(&m->head), line;

	while (rest.n > 0) {
		(void)sv_split(&rest, '\n', &line);
		if (mime_field_match(line, "Received"))
			m->received++;
		else if (mime_field_match(line, "Message-ID"))
			m->msgid = 1;
		else if (mime_field_match(line, "Date"))
			m->date = 1;
	}
}

/* The top of the message: Received, what filters and submission add,
 * the client's header. */
static int
write_head(struct smtp *s, struct msgin *m)
{
	struct buf top;
	unsigned char r[12];
	char date[64];
	int ret;

	buf_init(&top, m->head.len + s->tags.len + 4096);
	received(s, &top);
	buf_append(&top, s->tags.data, s->tags.len);
	if (s->auth[0] != '\0' && !m->msgid) {
		rand_bytes(r, sizeof(r));
		buf_printf(&top, "Message-ID: <%s.%02x%02x%02x%02x%02x%02x"
		    "%02x%02x@%s>\r\n", s->id, r[0], r[1], r[2], r[3], r[4],
		    r[5], r[6], r[7], s->host);
	}
	if (s->auth[0] != '\0' && !m->date) {
		date_rfc5322(date, sizeof(date));
		buf_printf(&top, "Date: %s\r\n", date);
	}
	buf_append(&top, m->head.data, m->head.len);
	ret = data_out(top.data, top.len);
	buf_free(&top);
	return ret;
}

/* --- the From check of submission ---------------------------------------- */

struct from_walk {
	struct smtp *s;
	size_t mailboxes;
	char bad[512];		/* the first address not the user's */
};

static void
from_one(void *arg, const struct buf *mbox, const struct buf *host)
{
	struct from_walk *w = arg;
	struct buf a;

	w->mailboxes++;
	if (w->bad[0] != '\0')
		return;
	buf_init(&a, mbox->len + host->len + 2);
	buf_printf(&a, "%s@%s", buf_cstr(mbox), buf_cstr(host));
	if (!smtp_owns(w->s, buf_cstr(&a)))
		(void)xsnprintf(w->bad, sizeof(w->bad), "%s",
		    log_esc_str(buf_cstr(&a)));
	buf_free(&a);
}

/*
 * Submission: every mailbox of the From field must be the user's, like
 * MAIL FROM (RFC 6409 8.1 lets the MSA enforce it; there must be one
 * From, RFC 5322 3.6).  The reply is 550 5.7.1: 553 is not a reply to
 * DATA (RFC 5321 4.3.2).  NULL when the header may pass.
 */
static const char *
from_check(struct smtp *s, struct sv head)
{
	static char reply[700];
	struct from_walk w;
	struct buf value;
	struct sv rest = head, line;
	size_t nfrom = 0, total = 0, v;
	int in_from = 0;

	if (s->auth[0] == '\0' || !s->auth_required)
		return NULL;
	buf_init(&value, head.n + 1);
	while (rest.n > 0) {
		(void)sv_split(&rest, '\n', &line);
		if (line.n > 0 && line.p[line.n - 1] == '\r')
			line.n--;
		if (line.n > 0 && (line.p[0] == ' ' || line.p[0] == '\t')) {
			if (in_from)	/* unfold (RFC 5322 2.2.3) */
				buf_append(&value, line.p, line.n);
			continue;
		}
		v = mime_field_match(line, "From");
		if ((in_from = v > 0)) {
			nfrom++;
			buf_append(&value, line.p + v, line.n - v);
			buf_putc(&value, ',');
		}
	}
	memset(&w, 0, sizeof(w));
	w.s = s;
	if (nfrom > 0)
		total = mime_addr_each(value.data, value.len, from_one, &w);
	buf_free(&value);
	if (nfrom > 1)
		return "550 5.7.1 more than one From field";
	if (nfrom == 1 && (w.mailboxes == 0 || total != w.mailboxes))
		return "550 5.7.1 the From field must hold mailboxes";
	if (w.bad[0] == '\0')
		return NULL;
	(void)xsnprintf(reply, sizeof(reply), "550 5.7.1 From: <%s> is not "
	    "an address of %s", w.bad, log_esc_str(s->auth));
	return reply;
}

/* --- the message on its way in ------------------------------------------ */

/* The header is complete (its blank line, or the end of an all-header
 * message): judge it, then send it. */
static void
head_done(struct smtp *s, struct msgin *m)
{
	m->head_done = 1;
	head_scan(m);
	if (m->received > s->max_hops)
		m->why = "554 5.4.0 too many hops (mail loop?)";
	else if ((m->why = from_check(s, buf_sv(&m->head))) != NULL)
		;
	else if (write_head(s, m) == -1)
		m->lost = 1;
}

/*
 * Decoded bytes in m->out: until the header's blank line they gather in
 * m->head (at most max_header), then they stream out.  The blank line
 * is the first CRLF CRLF, or a CRLF at the very start (no header).
 */
static void
msg_push(struct smtp *s, struct msgin *m, int last)
{
	const char *p = m->out.data, *end;
	size_t n = m->out.len, from, take;
	struct buf tail;

	if (m->why != NULL || m->lost) {
		buf_reset(&m->out);
		return;
	}
	if (!m->head_done && n > 0) {
		from = m->head.len > 3 ? m->head.len - 3 : 0;
		take = n;
		if (m->head.len + take > s->max_header + 4)
			take = s->max_header + 4 - m->head.len;
		buf_append(&m->head, p, take);
		if (m->head.len >= 2 && memcmp(m->head.data, "\r\n", 2) == 0)
			end = m->head.data;	/* no header at all */
		else
			end = memmem(m->head.data + from, m->head.len - from,
			    "\r\n\r\n", 4);
		if (end == NULL && m->head.len >= s->max_header + 4) {
			m->why = "552 5.3.4 message header too big";
			buf_reset(&m->out);
			return;
		}
		if (end == NULL && !last) {
			buf_reset(&m->out);
			return;
		}
		if (end != NULL) {
			/* the header is up to its last CRLF; the rest (the
			 * blank line, the body) moves to the front of out */
			from = end == m->head.data ? 0 : (size_t)(end -
			    m->head.data) + 2;
			buf_init(&tail, 0);
			buf_append(&tail, m->head.data + from, m->head.len -
			    from);
			buf_append(&tail, m->out.data + take, m->out.len -
			    take);
			buf_truncate(&m->head, from);
			head_done(s, m);
			if (m->why == NULL && !m->lost && data_out(tail.data,
			    tail.len) == -1)
				m->lost = 1;
			buf_free(&tail);
			buf_reset(&m->out);
			return;
		}
		/* the end, and no blank line: all header */
		head_done(s, m);
		buf_reset(&m->out);
		return;
	}
	if (m->head_done && (n >= CHUNK_OUT || (last && n > 0))) {
		if (data_out(p, n) == -1)
			m->lost = 1;
		buf_reset(&m->out);
	}
}

/* Feed bytes of the wire; the decoded ones go on when enough gathered.
 * Returns the bytes consumed. */
static size_t
msg_feed(struct smtp *s, struct msgin *m, const char *p, size_t n)
{
	size_t used;

	if (n > SMTP_DATA_FEED_MAX)
		n = SMTP_DATA_FEED_MAX;
	used = smtp_data_decode(&m->codec, p, n, &m->out);
	if (s->size_limit > 0 && m->codec.size > s->size_limit &&
	    m->why == NULL)
		m->why = "552 5.3.4 message too big";
	if (m->out.len >= CHUNK_OUT || !m->head_done || m->why != NULL)
		msg_push(s, m, 0);
	return used;
}

/* A new message, opened with enqueue; NULL with the reply given. */
static struct msgin *
msg_open(struct smtp *s, int mode)
{
	struct msgin *m;

	if (begin(s) == -1)
		return NULL;
	m = xcalloc(1, sizeof(*m));
	smtp_data_init(&m->codec, mode, s->bare_nl_normalize ?
	    SMTP_DATA_NORMALIZE : 0);
	buf_init(&m->head, s->max_header + 4);
	/* what waits is under CHUNK_OUT before a feed, and a feed adds at
	 * most 2 * SMTP_DATA_FEED_MAX + 2 (and a finish 4) */
	buf_init(&m->out, CHUNK_OUT + 2 * SMTP_DATA_FEED_MAX + 8);
	s->in = m;
	return m;
}

/* The message is over (or abandoned): the resources go. */
static void
msg_close(struct smtp *s)
{
	struct msgin *m = s->in;

	if (m == NULL)
		return;
	if (!m->closed)
		abort_message();
	buf_free(&m->head);
	buf_free(&m->out);
	free(m);
	s->in = NULL;
}

/* The end of the input: the verdict, then the commit or the refusal. */
static void
msg_end(struct smtp *s, struct msgin *m)
{
	const char *why;

	smtp_data_finish(&m->codec, &m->out);
	msg_push(s, m, 1);
	if (!m->head_done && m->why == NULL && !m->lost)
		head_done(s, m);
	if (m->why == NULL && (why = smtp_data_error(&m->codec)) != NULL)
		m->why = why;
	if (m->lost) {
		/* enqueue went away in the middle: this worker cannot reach
		 * it again from its chroot, so it retires */
		abort_message();
		m->closed = 1;
		worker_enqueue_lost();
		log_warning("%s: not queued: enqueue is gone", s->id);
		smtp_reply(s, "451 4.3.0 the queue is unavailable; try again "
		    "later");
		s->errors = (int)s->max_errors;
		return;
	}
	if (m->why != NULL) {
		abort_message();
		m->closed = 1;
		log_info("%s: reject: %s", s->id, m->why);
		smtp_reply(s, "%s", m->why);
		return;
	}
	m->closed = 1;
	finish(s, m->codec.size);
}

/*
 * The time a client has: smtpd_timeout, and 1/rate seconds more for
 * each byte it sent (Postfix's smtpd_min_data_rate), so that a client
 * trickling a byte every few seconds cannot hold a worker for hours.
 */
static void
rate_start(struct smtp *s, struct msgin *m)
{
	m->deadline = now_ms() + (uint64_t)s->timeout_ms;
	s->io->deadline = m->deadline;
}

static void
rate_credit(struct smtp *s, struct msgin *m, size_t n)
{
	if (s->min_rate > 0)
		m->deadline += (uint64_t)n * 1000 / s->min_rate;
	else
		m->deadline = now_ms() + (uint64_t)s->timeout_ms;
	s->io->deadline = m->deadline;
}

/* --- DATA ---------------------------------------------------------------- */

void
smtp_data(struct smtp *s)
{
	struct msgin *m;
	const char *p;
	ssize_t n;
	size_t used;

	if (!s->mail) {
		smtp_reply(s, "503 5.5.1 MAIL first");
		return;
	}
	if (s->nrcpt == 0) {
		smtp_reply(s, "554 5.5.1 no valid recipients");
		return;
	}
	if (s->in != NULL) {
		smtp_reply(s, "503 5.5.1 BDAT and DATA do not mix");
		return;
	}
	if ((m = msg_open(s, SMTP_DATA_DOT)) == NULL) {
		smtp_reset(s);
		return;
	}
	smtp_reply(s, "354 2.0.0 end data with <CR><LF>.<CR><LF>");
	if (io_flush(s->io) != IO_OK) {
		smtp_reset(s);
		s->errors = (int)s->max_errors;
		return;
	}
	rate_start(s, m);
	while (!m->codec.done) {
		if ((n = io_peek(s->io, &p)) < 0) {
			log_info("%s: connection %s in DATA", s->id,
			    n == IO_TIMEOUT ? "too slow" : "lost");
			if (n == IO_TIMEOUT)
				smtp_reply(s, "421 4.4.2 %s timeout in DATA",
				    s->host);
			smtp_reset(s);	/* abandons the message */
			s->errors = (int)s->max_errors;	/* the session ends */
			return;
		}
		used = msg_feed(s, m, p, (size_t)n);
		io_skip(s->io, used);
		rate_credit(s, m, used);
	}
	msg_end(s, m);
	smtp_reset(s);
}

/* --- BDAT ---------------------------------------------------------------- */

/* Read n bytes of a chunk into m (NULL: thrown away).  0, or -1 when
 * the connection failed. */
static int
chunk_bytes(struct smtp *s, struct msgin *m, uint64_t n)
{
	const char *p;
	ssize_t got;
	size_t take;

	while (n > 0) {
		if ((got = io_peek(s->io, &p)) < 0) {
			if (got == IO_TIMEOUT)
				smtp_reply(s, "421 4.4.2 %s timeout in BDAT",
				    s->host);
			return -1;
		}
		take = (uint64_t)got < n ? (size_t)got : (size_t)n;
		if (take > SMTP_DATA_FEED_MAX)
			take = SMTP_DATA_FEED_MAX;
		if (m != NULL && m->why == NULL && !m->lost)
			(void)msg_feed(s, m, p, take);	/* RAW takes all */
		io_skip(s->io, take);
		n -= take;
		if (m != NULL)
			rate_credit(s, m, take);
	}
	return 0;
}

/* RFC 3030: BDAT size [LAST]; the chunk's bytes follow the line. */
void
smtp_bdat(struct smtp *s, struct sv args)
{
	struct sv rest = args, num;
	struct msgin *m;
	uint64_t n;
	int last = 0;

	(void)sv_split(&rest, ' ', &num);	/* rest: after the size */
	if (parse_u64(num, UINT64_MAX, &n) == -1 || (rest.n > 0 &&
	    !(last = sv_caseeq_str(rest, "LAST")))) {
		/* the size is unknown: the bytes cannot be skipped */
		smtp_reply(s, "501 5.5.4 syntax: BDAT size [LAST]");
		s->errors = (int)s->max_errors;
		return;
	}
	if (!s->mail || s->nrcpt == 0) {
		/* RFC 3030 2: the chunk is read and thrown away */
		s->io->deadline = now_ms() + (uint64_t)s->timeout_ms;
		if (chunk_bytes(s, NULL, n) == 0)
			smtp_reply(s, "503 5.5.1 %s", !s->mail ? "MAIL first" :
			    "no valid recipients");
		else
			s->errors = (int)s->max_errors;
		return;
	}
	if ((m = s->in) == NULL) {
		if ((m = msg_open(s, SMTP_DATA_RAW)) == NULL) {
			/* begin() replied; the bytes still go */
			s->io->deadline = now_ms() + (uint64_t)s->timeout_ms;
			if (chunk_bytes(s, NULL, n) == -1)
				s->errors = (int)s->max_errors;
			smtp_reset(s);
			return;
		}
	}
	if (m->codec.mode != SMTP_DATA_RAW) {
		smtp_reply(s, "503 5.5.1 BDAT and DATA do not mix");
		return;
	}
	/* a chunk bigger than the whole limit is not read into anything */
	if (s->size_limit > 0 && n > s->size_limit - (m->codec.size <
	    s->size_limit ? m->codec.size : s->size_limit) && m->why == NULL)
		m->why = "552 5.3.4 message too big";
	rate_start(s, m);
	if (chunk_bytes(s, m, n) == -1) {
		log_info("%s: connection lost in BDAT", s->id);
		smtp_reset(s);
		s->errors = (int)s->max_errors;
		return;
	}
	if (!last) {
		if (m->why != NULL || m->lost) {
			/* RFC 3030 2: the client must send no more chunks;
			 * the transaction is over */
			smtp_reply(s, "%s", m->why != NULL ? m->why :
			    "451 4.3.0 the queue is unavailable");
			smtp_reset(s);
			return;
		}
		smtp_reply(s, "250 2.0.0 %llu octets received",
		    (unsigned long long)m->codec.size);
		return;
	}
	msg_end(s, m);
	smtp_reset(s);
}

/* smtp_reset: a message still open is abandoned (enqueue forgets it). */
void
smtp_data_reset(struct smtp *s)
{
	msg_close(s);
}
