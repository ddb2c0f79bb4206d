/*
 * mime_8to7.c: an 8-bit message made 7-bit for a server without
 * 8BITMIME (RFC 6152 3, RFC 2045 6.7): every leaf part whose body holds
 * 8-bit bytes is re-encoded quoted-printable and its
 * Content-Transfer-Encoding field says so; the rest is copied.
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
	int changed;
	int full;		/* out reached its limit */
};

static void
leaves(struct walk *w, const struct mime_part *p)
{
	const char *d = w->m->data;
	size_t i;

	if (w->full)
		return;
	if (p->children != NULL && (mime_is_multipart(p) ||
	    mime_is_message(p))) {
		for (i = 0; i < p->nchildren; i++)
			leaves(w, p->children[i]);
		return;
	}
	if (!has_8bit(d + p->body.off, p->body.len) || (p->encoding != NULL &&
	    strcmp(p->encoding, "7bit") != 0 && strcmp(p->encoding, "8bit") !=
	    0))
		return;		/* 7-bit already, or base64/qp/binary */
	if (buf_try_append(w->out, d + w->cursor, p->header.off - w->cursor) ==
	    -1 || header_qp(d + p->header.off, p->header.len, w->out) == -1 ||
	    mime_qp_encode(d + p->body.off, p->body.len, w->out) == -1)
		w->full = 1;
	w->cursor = p->body.off + p->body.len;
	w->changed = 1;
}

int
mime_8to7(const char *data, size_t len, struct buf *out)
{
	struct mime_msg *m = mime_parse(data, len);
	struct walk w;

	memset(&w, 0, sizeof(w));
	w.m = m;
	w.out = out;
	leaves(&w, m->root);
	if (w.changed && !w.full &&
	    buf_try_append(out, data + w.cursor, len - w.cursor) == -1)
		w.full = 1;
	mime_free(&m);
	return w.full ? -1 : w.changed;
}
