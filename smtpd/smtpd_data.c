/*
 * smtp_data.c: the message -- DATA (RFC 5321 4.1.1.4) and BDAT (RFC
 * 3030) -- on its way to enqueue(8), with the Received field (RFC 5321
 * 4.4, RFC 3848) on top and, on submission, Message-ID and Date when the
 * client left them out (RFC 6409 8).
 *
 * DATA ends only at CRLF "." CRLF.  A bare LF or a bare CR anywhere in
 * the data is refused (smtpd_bare_newline = reject: no message is ever
 * made of what another server could read as two, the "SMTP smuggling"
 * of 2023), or turned into CRLF (normalize).  The reply to a message is
 * 250 only after enqueue said it is on disk.
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

#define DATA_LINE_MAX (1024 * 1024)

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

struct head {
	struct buf text;	/* the header so far, CRLF lines */
	int done, too_big;
	unsigned received;
	int msgid, date;
};

static int
field_is(struct sv line, const char *name)
{
	size_t n = strlen(name);

	return line.n > n && line.p[n] == ':' &&
	    strncasecmp(line.p, name, n) == 0;
}

static void
head_line(struct head *h, struct sv line, uint64_t max)
{
	if (line.n == 0) {
		h->done = 1;
		return;
	}
	if (field_is(line, "Received"))
		h->received++;
	else if (field_is(line, "Message-ID"))
		h->msgid = 1;
	else if (field_is(line, "Date"))
		h->date = 1;
	if (h->text.len + line.n + 2 > max) {
		h->too_big = 1;
		return;
	}
	buf_append(&h->text, line.p, line.n);
	buf_append(&h->text, "\r\n", 2);
}

/* The top of the message: Received, what submission adds, the header. */
static int
write_head(struct smtp *s, struct head *h)
{
	struct buf top;
	unsigned char r[12];
	char date[64];
	int ret;

	buf_init(&top, h->text.len + s->tags.len + 4096);
	received(s, &top);
	buf_append(&top, s->tags.data, s->tags.len);
	if (s->auth[0] != '\0' && !h->msgid) {
		rand_bytes(r, sizeof(r));
		buf_printf(&top, "Message-ID: <%s.%02x%02x%02x%02x%02x%02x"
		    "%02x%02x@%s>\r\n", s->id, r[0], r[1], r[2], r[3], r[4],
		    r[5], r[6], r[7], s->host);
	}
	if (s->auth[0] != '\0' && !h->date) {
		date_rfc5322(date, sizeof(date));
		buf_printf(&top, "Date: %s\r\n", date);
	}
	buf_append(&top, h->text.data, h->text.len);
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
	size_t nfrom = 0, total = 0;
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
		in_from = line.n >= 5 && strncasecmp(line.p, "From:", 5) == 0;
		if (in_from) {
			nfrom++;
			buf_append(&value, line.p + 5, line.n - 5);
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

/* BDAT: the same on the header kept from the chunks. */
static const char *
bdat_from_check(struct smtp *s)
{
	const char *end;
	size_t n = s->head_copy.len;

	if (s->auth[0] == '\0' || !s->auth_required)
		return NULL;
	end = memmem(s->head_copy.data, n, "\r\n\r\n", 4);
	if (end != NULL)
		n = (size_t)(end - s->head_copy.data) + 2;
	else if (n >= s->max_header + 4)
		return "552 5.3.4 message header too big";
	return from_check(s, sv_make(s->head_copy.data, n));
}

/* --- DATA ---------------------------------------------------------------- */

void
smtp_data(struct smtp *s)
{
	struct head h;
	struct buf out;
	struct sv line;
	const char *why = NULL, *cr;
	uint64_t size = 0;
	size_t keep = s->io->maxline, i;
	int r, crlf, prev_crlf = 1, lost = 0, wrote_head = 0;

	if (!s->mail) {
		smtp_reply(s, "503 5.5.1 MAIL first");
		return;
	}
	if (s->nrcpt == 0) {
		smtp_reply(s, "554 5.5.1 no valid recipients");
		return;
	}
	if (s->binary) {
		smtp_reply(s, "503 5.5.1 BINARYMIME needs BDAT");
		return;
	}
	if (begin(s) == -1) {
		smtp_reset(s);
		return;
	}
	smtp_reply(s, "354 2.0.0 end data with <CR><LF>.<CR><LF>");
	if (io_flush(s->io) != IO_OK) {
		abort_message();
		smtp_reset(s);
		return;
	}
	memset(&h, 0, sizeof(h));
	buf_init(&h.text, s->max_header + 2);
	buf_init(&out, 2 * 65536);
	s->io->maxline = DATA_LINE_MAX;
	for (;;) {
		r = io_getline(s->io, &line, &crlf);
		if (r == IO_TOOLONG) {
			why = "554 5.6.0 a line of the message is longer than "
			    "1 MB";
			continue;
		}
		if (r != IO_OK) {
			lost = 1;
			break;
		}
		/* the end: CRLF "." CRLF, nothing else */
		if (crlf && prev_crlf && line.n == 1 && line.p[0] == '.')
			break;
		/* a bare LF ended this line; a bare CR inside it */
		if ((!crlf || memchr(line.p, '\r', line.n) != NULL) &&
		    !s->bare_nl_normalize && why == NULL)
			why = "550 5.6.0 bare CR or LF in the message (RFC 5321 "
			    "2.3.8)";
		if (prev_crlf && line.n > 0 && line.p[0] == '.') {
			line.p++;	/* RFC 5321 4.5.2 */
			line.n--;
		}
		prev_crlf = crlf;
		size += line.n + 2;
		if (s->size_limit > 0 && size > s->size_limit && why == NULL)
			why = "552 5.3.4 message too big";
		if (why != NULL || lost)
			continue;	/* read to the end, store nothing */
		if (!h.done) {
			head_line(&h, line, s->max_header);
			if (h.too_big)
				why = "552 5.3.4 message header too big";
			else if (h.done && h.received > s->max_hops)
				why = "554 5.4.0 too many hops (mail loop?)";
			else if (h.done && (why = from_check(s,
			    buf_sv(&h.text))) != NULL)
				;
			else if (h.done) {
				if (write_head(s, &h) == -1)
					lost = 1;
				wrote_head = 1;
				buf_append(&out, "\r\n", 2);
			}
			continue;
		}
		/* normalize: a bare CR becomes a line end too */
		while ((cr = memchr(line.p, '\r', line.n)) != NULL) {
			i = (size_t)(cr - line.p);
			buf_append(&out, line.p, i);
			buf_append(&out, "\r\n", 2);
			line.p += i + 1;
			line.n -= i + 1;
		}
		buf_append(&out, line.p, line.n);
		buf_append(&out, "\r\n", 2);
		if (out.len >= 65536) {
			if (data_out(out.data, out.len) == -1)
				lost = 1;
			buf_reset(&out);
		}
	}
	s->io->maxline = keep;
	if (why == NULL && !lost && !wrote_head) {
		/* a message that is all header */
		if (h.received > s->max_hops)
			why = "554 5.4.0 too many hops (mail loop?)";
		else if ((why = from_check(s, buf_sv(&h.text))) != NULL)
			;
		else if (write_head(s, &h) == -1)
			lost = 1;
	}
	if (why == NULL && !lost && out.len > 0 &&
	    data_out(out.data, out.len) == -1)
		lost = 1;
	if (why != NULL || lost) {
		abort_message();
		if (why != NULL) {
			log_info("%s: reject: %s", s->id, why);
			smtp_reply(s, "%s", why);
		}
	} else
		finish(s, size);
	buf_free(&h.text);
	buf_free(&out);
	smtp_reset(s);
	if (lost)
		s->errors = (int)s->max_errors;	/* the session is over */
}

/* --- BDAT ---------------------------------------------------------------- */

/* Read and throw away n bytes; -1 when the connection fails. */
static int
skip_bytes(struct smtp *s, uint64_t n)
{
	char buf[65536];
	ssize_t got;

	while (n > 0) {
		got = io_read(s->io, buf, n < sizeof(buf) ? (size_t)n :
		    sizeof(buf));
		if (got <= 0)
			return -1;
		n -= (uint64_t)got;
	}
	return 0;
}

/* RFC 3030: BDAT size [LAST]; the chunk's bytes follow the line. */
void
smtp_bdat(struct smtp *s, struct sv args)
{
	struct sv rest = args, num;
	uint64_t n;
	char buf[65536];
	const char *why;
	ssize_t got;
	int last = 0;

	(void)sv_split(&rest, ' ', &num);	/* rest: after the size */
	if (parse_u64(num, UINT64_MAX, &n) == -1 || (rest.n > 0 &&
	    !(last = sv_caseeq_str(rest, "LAST")))) {
		/* the size is unknown: the bytes cannot be skipped */
		smtp_reply(s, "501 5.5.4 syntax: BDAT size [LAST]");
		s->errors = (int)s->max_errors;
		return;
	}
	if (s->size_limit > 0 && n > 2 * s->size_limit + 65536) {
		smtp_reply(s, "552 5.3.4 chunk too big");
		s->errors = (int)s->max_errors;
		return;
	}
	if (!s->mail || s->nrcpt == 0) {
		if (skip_bytes(s, n) == 0)
			smtp_reply(s, "503 5.5.1 %s", !s->mail ? "MAIL first" :
			    "no valid recipients");
		else
			s->errors = (int)s->max_errors;
		return;
	}
	if (!s->bdat && !s->bdat_failed) {
		struct head h;

		if (begin(s) == -1) {
			s->bdat_failed = 1;
			(void)xsnprintf(s->bdat_reply, sizeof(s->bdat_reply),
			    "451 4.3.0 the queue is unavailable");
		} else {
			s->bdat = 1;
			/* the Received field; the header is the client's */
			memset(&h, 0, sizeof(h));
			buf_init(&h.text, 16);
			h.msgid = h.date = 1;
			if (write_head(s, &h) == -1)
				worker_enqueue_lost();
			buf_free(&h.text);
		}
	}
	s->bdat_size += n;
	if (s->size_limit > 0 && s->bdat_size > s->size_limit &&
	    !s->bdat_failed) {
		s->bdat_failed = 1;
		(void)xsnprintf(s->bdat_reply, sizeof(s->bdat_reply),
		    "552 5.3.4 message too big");
		if (s->bdat)
			abort_message();
		s->bdat = 0;
	}
	while (n > 0) {
		got = io_read(s->io, buf, n < sizeof(buf) ? (size_t)n :
		    sizeof(buf));
		if (got <= 0) {
			if (s->bdat)
				abort_message();
			s->errors = (int)s->max_errors;
			smtp_reset(s);
			return;
		}
		n -= (uint64_t)got;
		if (s->bdat && !s->bdat_failed && s->head_copy.len <
		    s->max_header + 4)
			/* the start, for the From check at the end */
			buf_append(&s->head_copy, buf, (size_t)got >
			    s->max_header + 4 - s->head_copy.len ?
			    (size_t)(s->max_header + 4 - s->head_copy.len) :
			    (size_t)got);
		if (s->bdat && !s->bdat_failed && data_out(buf, (size_t)got) ==
		    -1) {
			worker_enqueue_lost();
			s->bdat_failed = 1;
			(void)xsnprintf(s->bdat_reply, sizeof(s->bdat_reply),
			    "451 4.3.0 the queue is unavailable");
		}
	}
	if (s->bdat_failed) {
		smtp_reply(s, "%s", s->bdat_reply);
		if (last)
			smtp_reset(s);
		return;
	}
	if (!last) {
		smtp_reply(s, "250 2.0.0 %llu octets received",
		    (unsigned long long)s->bdat_size);
		return;
	}
	if ((why = bdat_from_check(s)) != NULL) {
		abort_message();
		log_info("%s: reject: %s", s->id, why);
		smtp_reply(s, "%s", why);
		smtp_reset(s);
		return;
	}
	finish(s, s->bdat_size);
	smtp_reset(s);
}
