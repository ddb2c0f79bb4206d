/*
 * pop3_parse.c: what pop3d reads from clients and how it writes
 * messages -- pure functions on (data, length), no I/O.
 */
#include <stdio.h>
#include <string.h>

#include "chapar/util.h"
#include "pop3.h"

static int
is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* RFC 1939 3: "Commands in the POP3 consist of a case-insensitive
 * keyword, possibly followed by one or more arguments ... separated by a
 * single SPACE character.  Keywords are three or four characters long." */
int
pop3_split(struct sv line, struct sv *verb, struct sv *args)
{
	size_t i = 0;

	while (i < line.n && is_alpha((unsigned char)line.p[i]))
		i++;
	if (i < 3 || i > 4)
		return -1;
	*verb = sv_make(line.p, i);
	if (i == line.n)
		*args = sv_make(line.p + i, 0);
	else if (line.p[i] == ' ' && i + 1 < line.n)
		*args = sv_make(line.p + i + 1, line.n - i - 1);
	else
		return -1;
	return 0;
}

int
pop3_number(struct sv arg, uint64_t limit, uint64_t *n)
{
	uint64_t v = 0, d;
	size_t i;
	int big = 0;

	if (arg.n == 0)
		return -1;
	for (i = 0; i < arg.n; i++) {
		if (arg.p[i] < '0' || arg.p[i] > '9')
			return -1;
		d = (uint64_t)(arg.p[i] - '0');
		if (big || v > (UINT64_MAX - d) / 10)
			big = 1;
		else
			v = v * 10 + d;
	}
	if (big || v > limit)
		return -2;
	*n = v;
	return 0;
}

int
pop3_msgnum(struct sv arg, uint32_t max, uint32_t *n)
{
	uint64_t v = 0;
	int r;

	if ((r = pop3_number(arg, UINT64_MAX, &v)) == -1)
		return -1;
	if (r == -2 || v == 0 || v > max)
		return -2;
	*n = (uint32_t)v;
	return 0;
}

void
pop3_uidl(uint32_t uid, uint32_t uidvalidity, char out[POP3_UIDL_LEN + 1])
{
	(void)snprintf(out, POP3_UIDL_LEN + 1, "%08X%08X", uid, uidvalidity);
}

/* Output; a buffer that cannot grow any more is remembered (o->err). */
static void
put(struct pop3_out *o, struct buf *out, const void *p, size_t n)
{
	if (buf_try_append(out, p, n) == -1)
		o->err = 1;
}

void
pop3_out_init(struct pop3_out *o, int64_t top)
{
	memset(o, 0, sizeof(*o));
	o->bol = 1;
	o->top = top;
}

/* A line ends (CRLF written).  For TOP: the empty line starts the body,
 * and each body line counts. */
static void
line_end(struct pop3_out *o, struct buf *out)
{
	put(o, out, "\r\n", 2);
	if (!o->in_body) {
		if (o->line_len == 0)
			o->in_body = 1;
	} else if (o->top > 0)
		o->top--;
	if (o->in_body && o->top == 0)
		o->done = 1;
	o->bol = 1;
	o->line_len = 0;
}

/* Byte by byte, with every case: TOP's counting, CR and LF in any
 * order, a CR at the end of a piece. */
static size_t
feed_slow(struct pop3_out *o, const char *p, size_t n, struct buf *out)
{
	size_t i, start;

	for (i = 0; i < n && !o->done; ) {
		if (o->cr) {
			/* CRLF, or a lone CR taken as a line end */
			o->cr = 0;
			line_end(o, out);
			if (p[i] == '\n')
				i++;
			continue;
		}
		if (p[i] == '\r') {
			o->cr = 1;
			i++;
			continue;
		}
		if (p[i] == '\n') {
			line_end(o, out);
			i++;
			continue;
		}
		/* RFC 1939 3: byte-stuff a leading dot */
		if (o->bol && p[i] == '.')
			put(o, out, ".", 1);
		o->bol = 0;
		/* the rest of this line, up to CR or LF, as it is */
		for (start = i; i < n && p[i] != '\r' && p[i] != '\n'; i++)
			;
		put(o, out, p + start, i - start);
		o->line_len += i - start;
	}
	return i;
}

/*
 * A whole message (RETR): runs of clean CRLF lines are copied at once;
 * only a leading dot or a bare LF breaks a run, and anything stranger
 * (a CR not before LF, a CR at the end of the piece) goes to
 * feed_slow.
 */
size_t
pop3_out_feed(struct pop3_out *o, const char *p, size_t n, struct buf *out)
{
	size_t i = 0, span = 0;
	const char *nl;

	if (o->top >= 0 || o->cr)
		return feed_slow(o, p, n, out);
	while (i < n) {
		if (o->bol && p[i] == '.') {
			put(o, out, p + span, i - span);
			put(o, out, ".", 1);
			span = i;
		}
		if ((nl = memchr(p + i, '\n', n - i)) == NULL) {
			if (memchr(p + i, '\r', n - i) != NULL)
				break;	/* a CR: the slow way */
			o->bol = 0;
			i = n;
			break;
		}
		if (memchr(p + i, '\r', (size_t)(nl - p) - i) == NULL) {
			/* a bare LF: CRLF instead */
			put(o, out, p + span, (size_t)(nl - p) - span);
			put(o, out, "\r\n", 2);
			i = span = (size_t)(nl - p) + 1;
		} else if (nl > p + i && nl[-1] == '\r' && memchr(p + i, '\r',
		    (size_t)(nl - p) - 1 - i) == NULL)
			i = (size_t)(nl - p) + 1;	/* a clean line */
		else
			break;	/* a CR inside the line: the slow way */
		o->bol = 1;
	}
	put(o, out, p + span, i - span);
	if (i < n) {
		/* the line at i has had its dot, if any */
		o->bol = 0;
		return i + feed_slow(o, p + i, n - i, out);
	}
	return n;
}

void
pop3_out_end(struct pop3_out *o, struct buf *out)
{
	if (o->cr && !o->done) {
		o->cr = 0;
		line_end(o, out);
	}
	if (!o->bol)
		put(o, out, "\r\n", 2);
	put(o, out, ".\r\n", 3);
}
