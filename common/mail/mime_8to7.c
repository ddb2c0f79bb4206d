/*
 * mime_8to7.c: a message made fit for the next server.
 *
 *   7-bit, for a server without 8BITMIME (RFC 6152 3, RFC 2045 6.7):
 *   every leaf part whose body holds 8-bit bytes is re-encoded
 *   quoted-printable and its Content-Transfer-Encoding field says so.
 *
 *   Lines of at most 998 octets (RFC 5322 2.1.1, RFC 5321 4.5.3.1.6),
 *   which smtpd accepts longer: a 7bit or 8bit leaf with a longer line
 *   becomes quoted-printable (soft breaks keep the content exact), a
 *   base64 one gets lines of 76; any line still too long -- a header
 *   field, a preamble, a broken encoding -- is folded before a blank
 *   within its first 998 octets (RFC 5322 2.2.3), or, without one, cut
 *   with CRLF SP as Postfix does (the only case that changes a byte).
 *
 * The rest is copied.  Input is any message; the MIME tree bounds the
 * recursion.
 */
#include <string.h>
#include <strings.h>

#include "chapar/mime.h"
#include "chapar/util.h"

static int
has_8bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

/* RFC 2045 6.7: lines of at most 76 characters with soft breaks, "=",
 * 8-bit bytes and controls (not TAB) as =XX, blanks before a line end
 * encoded; CRLF stays a line end. */
int
mime_qp_encode(const char *p, size_t n, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char x[3] = { '=', 0, 0 };
	size_t i, col = 0, need;
	unsigned char c;
	int enc;

	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (c == '\r' && i + 1 < n && p[i + 1] == '\n') {
			if (buf_try_append(out, "\r\n", 2) == -1)
				return -1;
			i++;
			col = 0;
			continue;
		}
		enc = c >= 0x7f || c == '=' || (c < ' ' && c != '\t') ||
		    ((c == ' ' || c == '\t') && (i + 1 == n || p[i + 1] ==
		    '\r'));
		need = enc ? 3 : 1;
		if (col + need > 75) {
			if (buf_try_append(out, "=\r\n", 3) == -1)
				return -1;
			col = 0;
		}
		if (enc) {
			x[1] = hex[c >> 4];
			x[2] = hex[c & 15];
			if (buf_try_append(out, x, 3) == -1)
				return -1;
		} else if (buf_try_putc(out, (char)c) == -1)
			return -1;
		col += need;
	}
	return 0;
}

/* The header without its Content-Transfer-Encoding field(s), with one
 * saying quoted-printable before the blank line. */
static int
header_qp(const char *h, size_t n, struct buf *out)
{
	size_t i = 0, e, end = n;
	const char *nl;
	int skip = 0;

	/* the blank line at the end stays last */
	if (end >= 2 && h[end - 2] == '\r' && h[end - 1] == '\n' &&
	    (end == 2 || h[end - 3] == '\n'))
		end -= 2;
	while (i < end) {
		nl = memchr(h + i, '\n', end - i);
		e = nl != NULL ? (size_t)(nl - h) + 1 : end;
		if (h[i] != ' ' && h[i] != '\t')
			skip = e - i > 26 && strncasecmp(h + i,
			    "Content-Transfer-Encoding:", 26) == 0;
		if (!skip && buf_try_append(out, h + i, e - i) == -1)
			return -1;
		i = e;
	}
	if (buf_try_puts(out, "Content-Transfer-Encoding: "
	    "quoted-printable\r\n") == -1)
		return -1;
	return buf_try_append(out, h + end, n - end);
}

struct walk {
	const struct mime_msg *m;
	size_t cursor;
	struct buf *out;
	int flags;
	int changed;
	int full;		/* out reached its limit */
};

size_t
mime_longest_line(const char *p, size_t n)
{
	const char *nl;
	size_t best = 0, l;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		l = nl != NULL ? (size_t)(nl - p) : n;
		if (l > 0 && p[l - 1] == '\r' && nl != NULL)
			l--;
		if (l > best)
			best = l;
		if (nl == NULL)
			break;
		n -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
	return best;
}

/* base64 in lines of 76 (RFC 2045 6.8): the alphabet kept, the rest
 * (old line ends, blanks) dropped.  0, or -1 at out's limit. */
static int
base64_rewrap(const char *p, size_t n, struct buf *out)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n' || p[i] == ' ' ||
		    p[i] == '\t')
			continue;
		if (buf_try_putc(out, p[i]) == -1)
			return -1;
		if (++col == 76) {
			if (buf_try_append(out, "\r\n", 2) == -1)
				return -1;
			col = 0;
		}
	}
	return col > 0 ? buf_try_append(out, "\r\n", 2) : 0;
}

static int
is_enc(const struct mime_part *p, const char *name)
{
	return p->encoding != NULL && strcmp(p->encoding, name) == 0;
}

static void
leaves(struct walk *w, const struct mime_part *p)
{
	const char *d = w->m->data, *b = d + p->body.off;
	size_t i, n = p->body.len;
	int plain, qp = 0;

	if (w->full)
		return;
	if (p->children != NULL && (mime_is_multipart(p) ||
	    mime_is_message(p))) {
		for (i = 0; i < p->nchildren; i++)
			leaves(w, p->children[i]);
		return;
	}
	plain = p->encoding == NULL || is_enc(p, "7bit") || is_enc(p, "8bit");
	if (plain && (w->flags & MIME_FIT_7BIT) && has_8bit(b, n))
		qp = 1;
	else if (plain && (w->flags & MIME_FIT_998) &&
	    mime_longest_line(b, n) > 998)
		qp = 1;
	else if (is_enc(p, "base64") && (w->flags & MIME_FIT_998) &&
	    mime_longest_line(b, n) > 998) {
		if (buf_try_append(w->out, d + w->cursor, p->body.off -
		    w->cursor) == -1 || base64_rewrap(b, n, w->out) == -1)
			w->full = 1;
		w->cursor = p->body.off + n;
		w->changed = 1;
		return;
	}
	if (!qp)
		return;		/* fit already, or left as it is */
	if (buf_try_append(w->out, d + w->cursor, p->header.off - w->cursor) ==
	    -1 || header_qp(d + p->header.off, p->header.len, w->out) == -1 ||
	    mime_qp_encode(b, n, w->out) == -1)
		w->full = 1;
	w->cursor = p->body.off + n;
	w->changed = 1;
}

/* A line longer than 998: folded before the last blank within 998
 * (the blank starts the next line), else cut with CRLF SP.  0, or -1 at
 * out's limit. */
static int
fold_line(const char *p, size_t n, struct buf *out)
{
	size_t cut, max = 998;	/* octets the current output line may have */

	while (n > max) {
		for (cut = max; cut > 1 && p[cut] != ' ' && p[cut] != '\t';
		    cut--)
			;
		if (cut > 1) {
			if (buf_try_append(out, p, cut) == -1 ||
			    buf_try_append(out, "\r\n", 2) == -1)
				return -1;
			max = 998;
		} else {
			cut = max;
			if (buf_try_append(out, p, cut) == -1 ||
			    buf_try_append(out, "\r\n ", 3) == -1)
				return -1;
			max = 997;	/* the SP is on the next line */
		}
		p += cut;
		n -= cut;
	}
	return buf_try_append(out, p, n);
}

/* Every line of in at most 998 octets, into out.  0, or -1. */
static int
fold_all(const char *p, size_t n, struct buf *out)
{
	const char *nl;
	size_t l, body;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		l = nl != NULL ? (size_t)(nl - p) + 1 : n;
		if (l > 1000 || (nl == NULL && l > 998)) {
			body = l;
			if (nl != NULL)
				body -= l >= 2 && p[l - 2] == '\r' ? 2 : 1;
			if (fold_line(p, body, out) == -1 ||
			    buf_try_append(out, p + body, l - body) == -1)
				return -1;
		} else if (buf_try_append(out, p, l) == -1)
			return -1;
		p += l;
		n -= l;
	}
	return 0;
}

int
mime_fit(const char *data, size_t len, int flags, struct buf *out)
{
	struct mime_msg *m = mime_parse(data, len);
	struct buf tmp;
	struct walk w;
	int r = 0;

	memset(&w, 0, sizeof(w));
	w.m = m;
	w.flags = flags;
	buf_init(&tmp, out->max);	/* the result's limit is out's */
	w.out = &tmp;
	leaves(&w, m->root);
	if (w.changed && !w.full && buf_try_append(&tmp, data + w.cursor,
	    len - w.cursor) == -1)
		w.full = 1;
	mime_free(&m);
	if (w.full) {
		buf_free(&tmp);
		return -1;
	}
	if (w.changed) {
		data = tmp.data;
		len = tmp.len;
		r = 1;
	}
	if ((flags & MIME_FIT_998) && mime_longest_line(data, len) > 998)
		r = fold_all(data, len, out) == -1 ? -1 : 1;
	else if (r == 1 && buf_try_append(out, data, len) == -1)
		r = -1;
	buf_free(&tmp);
	return r;
}

int
mime_8to7(const char *data, size_t len, struct buf *out)
{
	return mime_fit(data, len, MIME_FIT_7BIT, out);
}
