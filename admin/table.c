/*
 * table.c: print rows as aligned columns (for people) or as a JSON array
 * of objects (for programs); and the escaping of text for a terminal.
 *
 * Cells hold names from the store, the queue and the user database,
 * which less trusted users and remote peers chose: printed for people,
 * every cell is escaped (esc_append), so that no name can move the
 * cursor, rewrite the screen or the window title, or reorder the line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "chapar/json.h"
#include "chapar/utf8.h"
#include "chapar/util.h"

/* U+202A-U+202E and U+2066-U+2069: the bidirectional embeddings,
 * overrides and isolates, which reorder what follows them on the line. */
static int
is_bidi(uint32_t cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 &&
	    cp <= 0x2069);
}

static void
esc_text(struct buf *out, struct sv s, int backslash)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s.p;
	uint32_t cp;
	size_t i = 0;
	int l, k;

	/* the caller sized out for 4 bytes per byte */
	while (i < s.n) {
		if (p[i] >= 0x20 && p[i] < 0x7f && (p[i] != '\\' ||
		    !backslash)) {
			buf_putc(out, p[i++]);
			continue;
		}
		if (p[i] >= 0x80 && (l = utf8_decode(p + i, s.n - i, &cp)) > 1 &&
		    !(cp >= 0x80 && cp < 0xa0) && !is_bidi(cp)) {
			buf_append(out, p + i, (size_t)l);
			i += (size_t)l;
			continue;
		}
		/* a whole C1 or bidi character, else one byte */
		if (p[i] < 0x80 || (l = utf8_decode(p + i, s.n - i, &cp)) < 1)
			l = 1;
		for (k = 0; k < l; k++, i++) {
			buf_puts(out, "\\x");
			buf_putc(out, hex[p[i] >> 4]);
			buf_putc(out, hex[p[i] & 15]);
		}
	}
}

void
esc_append(struct buf *out, struct sv s)
{
	esc_text(out, s, 1);
}

void
esc_message(struct buf *out, struct sv s)
{
	esc_text(out, s, 0);
}

const char *
esc(const char *s)
{
	static struct buf ring[4];
	static int next;
	struct buf *b = &ring[next];
	size_t n = s != NULL ? strlen(s) : 0;

	next = (next + 1) % 4;
	buf_free(b);
	buf_init(b, 4 * n + 1);
	esc_append(b, sv_make(s != NULL ? s : "", n));
	return buf_cstr(b);
}

struct table {
	int ncols;
	const char *const *headers;
	char **cells;		/* nrows * ncols */
	size_t nrows;
};

struct table *
table_new(int ncols, const char *const *headers)
{
	struct table *t = xcalloc(1, sizeof(*t));

	t->ncols = ncols;
	t->headers = headers;
	return t;
}

void
table_row(struct table *t, const char *const *cells)
{
	int i;

	t->cells = xreallocarray(t->cells, (t->nrows + 1) * (size_t)t->ncols,
	    sizeof(char *));
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] =
		    xstrdup(cells[i] ? cells[i] : "");
	/* (escaped when printed as text; JSON has its own escapes) */
	t->nrows++;
}

/* Width on a terminal, counting characters rather than bytes. */
static size_t
width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* JSON keys: the header in lower case, '-' and ' ' as '_'. */
static void
json_key(struct buf *b, const char *h)
{
	struct buf k;

	buf_init(&k, 256);
	for (; *h != '\0'; h++)
		buf_putc(&k, *h >= 'A' && *h <= 'Z' ? *h + 32 :
		    (*h == '-' || *h == ' ') ? '_' : *h);
	json_string(b, buf_sv(&k));
	buf_free(&k);
}

/* A row at a time: the whole table could pass any one buffer's limit. */
static void
print_json(struct table *t)
{
	struct buf b;
	size_t r;
	int c;

	buf_init(&b, 0);
	fputc('[', stdout);
	for (r = 0; r < t->nrows; r++) {
		buf_reset(&b);
		buf_puts(&b, r ? ",\n {" : "\n {");
		for (c = 0; c < t->ncols; c++) {
			if (c)
				buf_puts(&b, ", ");
			json_key(&b, t->headers[c]);
			buf_puts(&b, ": ");
			/* a cell is at most a record's size, far below
			 * the limit: json_string cannot fail here */
			json_string(&b, sv_from(t->cells[r * (size_t)t->ncols +
			    (size_t)c]));
		}
		buf_putc(&b, '}');
		fwrite(b.data, 1, b.len, stdout);
	}
	fputs("\n]\n", stdout);
	buf_free(&b);
}

void
table_print(struct table *t, int json)
{
	size_t *w, r, pad, n = (t->nrows + 1) * (size_t)t->ncols;
	const char **text;
	struct buf *e;
	int c;

	if (json) {
		print_json(t);
		return;
	}
	/* the escaped text of every cell, headers first */
	e = xcalloc(n, sizeof(*e));
	text = xcalloc(n, sizeof(*text));
	for (r = 0; r < n; r++) {
		const char *cell = r < (size_t)t->ncols ? t->headers[r] :
		    t->cells[r - (size_t)t->ncols];

		buf_init(&e[r], 4 * strlen(cell) + 1);
		esc_append(&e[r], sv_from(cell));
		text[r] = buf_cstr(&e[r]);
	}
	w = xcalloc((size_t)t->ncols, sizeof(*w));
	for (r = 0; r < n; r++)
		if (width(text[r]) > w[r % (size_t)t->ncols])
			w[r % (size_t)t->ncols] = width(text[r]);
	for (r = 0; r <= t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *cell = text[r * (size_t)t->ncols +
			    (size_t)c];

			fputs(cell, stdout);
			if (c + 1 == t->ncols)
				break;
			for (pad = width(cell); pad < w[c] + 2; pad++)
				putchar(' ');
		}
		putchar('\n');
	}
	for (r = 0; r < n; r++)
		buf_free(&e[r]);
	free(e);
	free(text);
	free(w);
}

void
table_free(struct table **tp)
{
	struct table *t = *tp;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	*tp = NULL;
}

/* --- text from a less trusted process ---------------------------------- */

/* Copy bytes to fd with what could drive a terminal escaped: the
 * C0 controls but TAB, LF and CR, DEL, and the C1 controls as UTF-8
 * (0xC2 0x80-0x9F).  *c2 carries a 0xC2 over to the next piece. */
void
text_pass(int fd, const unsigned char *p, size_t n, int *c2)
{
	char out[8192];
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char b = p[i];

		if (o > sizeof(out) - 16) {
			(void)write_all(fd, out, o);
			o = 0;
		}
		if (*c2) {
			*c2 = 0;
			if (b >= 0x80 && b <= 0x9f) {
				o += (size_t)snprintf(out + o, sizeof(out) - o,
				    "\\xc2\\x%02x", b);
				continue;
			}
			out[o++] = (char)0xc2;
		}
		if (b == 0xc2)
			*c2 = 1;
		else if ((b < 0x20 && b != '\t' && b != '\n' && b != '\r') ||
		    b == 0x7f)
			o += (size_t)snprintf(out + o, sizeof(out) - o,
			    "\\x%02x", b);
		else
			out[o++] = (char)b;
	}
	if (o > 0)
		(void)write_all(fd, out, o);
}

void
text_out(int fd, const void *p, size_t n)
{
	int c2 = 0;

	text_pass(fd, p, n, &c2);
	if (c2)
		(void)write_all(fd, "\xc2", 1);
}
