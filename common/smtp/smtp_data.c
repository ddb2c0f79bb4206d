/*
 * smtp_data.c: the one DATA codec of Chapar -- the byte-level state
 * machine between the message as it travels (dot-stuffed, ended by
 * CRLF "." CRLF, RFC 5321 4.1.1.4 and 4.5.2; or raw BDAT chunks, RFC
 * 3030; or a local user's text) and the message as the queue and the
 * store keep it (CRLF lines, nothing else).
 *
 * Everyone who reads or writes message data uses it: smtpd (DATA and
 * BDAT), local's LMTP server, sendmail (-t and -bs), and qmgr and remote
 * when they send.  It trusts nothing: any byte may come next, in any
 * chunking, and the result is the same.
 *
 * The policy, one for every path in:
 *   - The end of DATA is CRLF "." CRLF and nothing else.  "." after a
 *     bare LF, or "." before a bare LF, is not an end: what another
 *     server could read as two messages is never one here (the "SMTP
 *     smuggling" of 2023).
 *   - A bare CR or a bare LF is refused (550 5.6.0, RFC 5321 2.3.8),
 *     unless the caller asks for them to become CRLF (smtpd_bare_newline
 *     = normalize; sendmail, whose input is Unix text).
 *   - NUL is refused everywhere: nothing downstream needs it and much
 *     of it (IMAP clients, C strings) breaks on it.
 *   - Lines have no length limit here: a long line is counted (longest)
 *     and the sender (remote) makes it fit RFC 5322 2.1.1 on the way out.
 * Going out, smtp_stuff() adds the dots and the end marker and turns a
 * stray bare CR or LF into CRLF, so none is ever sent on; pop3d's RETR
 * and TOP use it too.
 */
#include <string.h>

#include "chapar/io.h"
#include "chapar/smtp.h"

enum { BOL_NONE, BOL_HARD, BOL_SOFT };

void
smtp_data_init(struct smtp_data *d, int mode, int flags)
{
	memset(d, 0, sizeof(*d));
	d->mode = mode;
	d->flags = flags;
	/* the CRLF of the DATA command starts the first line */
	d->bol = BOL_HARD;
}

/* One line has ended. */
static void
line_end(struct smtp_data *d, struct buf *out, int bol)
{
	buf_append(out, "\r\n", 2);
	d->size += 2;
	if (d->linelen > d->longest)
		d->longest = d->linelen;
	d->linelen = 0;
	d->bol = bol;
	d->dot = 0;
}

/* A bare CR or LF: an error, or (normalize) a line end like CRLF. */
static void
bare(struct smtp_data *d, struct buf *out, int lf)
{
	if (lf)
		d->bare_lf++;
	else
		d->bare_cr++;
	line_end(d, out, d->mode == SMTP_DATA_TEXT ? BOL_HARD : BOL_SOFT);
}

/* Bytes that go out as they are. */
static void
text(struct smtp_data *d, struct buf *out, const char *p, size_t n)
{
	buf_append(out, p, n);
	d->size += n;
	d->linelen += n;
	d->bol = BOL_NONE;
}

/* A dot waiting at the start of a line turned out not to be the end. */
static void
dot_settle(struct smtp_data *d, struct buf *out, int line_has_more)
{
	d->dot = 0;
	/* RFC 5321 4.5.2: with more on the line the first dot is the
	 * client's stuffing and goes; alone, it is the line (after a soft
	 * line start: a hard "." CRLF ends).  Text is never stuffed. */
	if (!line_has_more || d->mode == SMTP_DATA_TEXT)
		text(d, out, ".", 1);
}

/* The TEXT mode's ".": the line so far was only a dot. */
static int
text_dot_line(const struct smtp_data *d)
{
	return d->mode == SMTP_DATA_TEXT && (d->flags & SMTP_DATA_DOT_ENDS) &&
	    d->dot;
}

size_t
smtp_data_decode(struct smtp_data *d, const char *in, size_t n,
    struct buf *out)
{
	size_t i = 0, run;
	char c;

	while (i < n && !d->done) {
		c = in[i];
		if (d->cr) {
			d->cr = 0;
			if (c == '\n') {
				i++;
				if (d->dot && (d->bol == BOL_HARD ||
				    text_dot_line(d)) && d->mode != SMTP_DATA_RAW) {
					d->done = 1;	/* CRLF "." CRLF */
					break;
				}
				if (d->dot)
					dot_settle(d, out, 0);
				line_end(d, out, BOL_HARD);
				continue;
			}
			if (d->dot)
				dot_settle(d, out, 1);
			bare(d, out, 0);
			continue;	/* c again, at a line start */
		}
		if (c == '\r') {
			d->cr = 1;
			i++;
			continue;
		}
		if (c == '\n') {
			i++;
			if (text_dot_line(d)) {
				d->done = 1;	/* sendmail's "." LF */
				break;
			}
			if (d->dot)
				dot_settle(d, out, 0);
			if (d->mode == SMTP_DATA_TEXT)
				line_end(d, out, BOL_HARD);
			else
				bare(d, out, 1);
			continue;
		}
		if (d->bol != BOL_NONE && !d->dot && c == '.' &&
		    d->mode != SMTP_DATA_RAW && !(d->mode == SMTP_DATA_TEXT &&
		    !(d->flags & SMTP_DATA_DOT_ENDS))) {
			d->dot = 1;
			i++;
			continue;
		}
		if (d->dot)
			dot_settle(d, out, 1);
		if (c == '\0') {
			d->nul++;
			i++;
			continue;	/* never stored */
		}
		/* the plain run up to the next CR, LF or NUL, in one copy */
		for (run = 1; i + run < n && in[i + run] != '\r' &&
		    in[i + run] != '\n' && in[i + run] != '\0'; run++)
			;
		text(d, out, in + i, run);
		i += run;
	}
	return i;
}

void
smtp_data_finish(struct smtp_data *d, struct buf *out)
{
	if (d->done)
		return;
	if (d->cr) {
		d->cr = 0;
		if (d->dot)
			dot_settle(d, out, 1);
		bare(d, out, 0);
	}
	if (d->dot) {
		if (text_dot_line(d)) {
			d->done = 1;	/* a last line of only "." ends */
			return;
		}
		dot_settle(d, out, 0);
	}
	/* the last line gets its line end */
	if (d->bol == BOL_NONE)
		line_end(d, out, BOL_HARD);
	d->done = 1;
}

const char *
smtp_data_error(const struct smtp_data *d)
{
	if (d->nul > 0)
		return "554 5.6.0 NUL bytes in the message";
	if ((d->bare_cr > 0 || d->bare_lf > 0) &&
	    !(d->flags & SMTP_DATA_NORMALIZE) && d->mode != SMTP_DATA_TEXT)
		return "550 5.6.0 bare CR or LF in the message (RFC 5321 "
		    "2.3.8)";
	return NULL;
}

/* --- going out ---------------------------------------------------------- */

/*
 * Dot-stuffing (RFC 5321 4.5.2, RFC 1939 3) for remote's and qmgr's DATA
 * and for pop3d's RETR and TOP, which is the same transparency.  Runs of
 * clean CRLF lines are copied at once; a leading dot, a bare LF, a CR
 * not before LF or a CR at the end of a piece take the slow way, byte by
 * byte, where every stray line end is mended to CRLF.
 */
void
smtp_stuff_init(struct smtp_stuff *s)
{
	memset(s, 0, sizeof(*s));
	s->bol = 1;
	s->top = -1;
}

void
smtp_stuff_top(struct smtp_stuff *s, int64_t lines)
{
	s->top = lines;
}

/* A line ends (CRLF written).  For TOP: the empty line starts the body,
 * and each body line counts. */
static void
stuff_eol(struct smtp_stuff *s, struct buf *out)
{
	buf_append(out, "\r\n", 2);
	if (!s->in_body) {
		if (s->linelen == 0)
			s->in_body = 1;
	} else if (s->top > 0)
		s->top--;
	if (s->in_body && s->top == 0)
		s->done = 1;
	s->bol = 1;
	s->linelen = 0;
}

/* Byte by byte, with every case: TOP's counting, CR and LF in any
 * order, a CR at the end of a piece. */
static size_t
stuff_slow(struct smtp_stuff *s, const char *p, size_t n, struct buf *out)
{
	size_t i, start;

	for (i = 0; i < n && !s->done; ) {
		if (s->cr) {
			/* CRLF, or a lone CR taken as a line end */
			s->cr = 0;
			stuff_eol(s, out);
			if (p[i] == '\n')
				i++;
			continue;
		}
		if (p[i] == '\r') {
			s->cr = 1;
			i++;
			continue;
		}
		if (p[i] == '\n') {
			stuff_eol(s, out);	/* a bare LF mended */
			i++;
			continue;
		}
		if (s->bol && p[i] == '.')
			buf_putc(out, '.');
		s->bol = 0;
		/* the rest of this line, up to CR or LF, as it is */
		for (start = i; i < n && p[i] != '\r' && p[i] != '\n'; i++)
			;
		buf_append(out, p + start, i - start);
		s->linelen += i - start;
	}
	return i;
}

size_t
smtp_stuff(struct smtp_stuff *s, const char *p, size_t n, struct buf *out)
{
	size_t i = 0, span = 0;
	const char *nl;

	if (s->top >= 0 || s->cr)
		return stuff_slow(s, p, n, out);
	while (i < n) {
		if (s->bol && p[i] == '.') {
			buf_append(out, p + span, i - span);
			buf_putc(out, '.');
			span = i;
		}
		if ((nl = memchr(p + i, '\n', n - i)) == NULL) {
			if (memchr(p + i, '\r', n - i) != NULL)
				break;	/* a CR: the slow way */
			s->bol = 0;
			i = n;
			break;
		}
		if (memchr(p + i, '\r', (size_t)(nl - p) - i) == NULL) {
			/* a bare LF: CRLF instead */
			buf_append(out, p + span, (size_t)(nl - p) - span);
			buf_append(out, "\r\n", 2);
			i = span = (size_t)(nl - p) + 1;
		} else if (nl > p + i && nl[-1] == '\r' && memchr(p + i, '\r',
		    (size_t)(nl - p) - 1 - i) == NULL)
			i = (size_t)(nl - p) + 1;	/* a clean line */
		else
			break;	/* a CR inside the line: the slow way */
		s->bol = 1;
	}
	buf_append(out, p + span, i - span);
	if (i < n) {
		/* the line at i has had its dot, if any */
		s->bol = 0;
		return i + stuff_slow(s, p + i, n - i, out);
	}
	return n;
}

void
smtp_stuff_end(struct smtp_stuff *s, struct buf *out)
{
	if (s->cr && !s->done) {
		s->cr = 0;
		stuff_eol(s, out);
	}
	if (!s->bol)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
}

int
smtp_stuff_write(struct io *io, struct smtp_stuff *s, const char *p, size_t n)
{
	struct buf b;
	size_t k;
	int r = 0;

	buf_init(&b, 2 * SMTP_DATA_FEED_MAX + 8);
	while (n > 0 && r == 0) {
		k = n < SMTP_DATA_FEED_MAX ? n : SMTP_DATA_FEED_MAX;
		(void)smtp_stuff(s, p, k, &b);
		if (io_write(io, b.data, b.len) != IO_OK)
			r = -1;
		buf_reset(&b);
		p += k;
		n -= k;
	}
	buf_free(&b);
	return r;
}

int
smtp_stuff_close(struct io *io, struct smtp_stuff *s)
{
	struct buf b;
	int r;

	buf_init(&b, 16);
	smtp_stuff_end(s, &b);
	r = io_write(io, b.data, b.len) == IO_OK && io_flush(io) == IO_OK ?
	    0 : -1;
	buf_free(&b);
	return r;
}
