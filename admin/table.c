/*
 * table.c: print rows as aligned columns (for people) or as a JSON array
 * of objects (for programs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "chapar/json.h"
#include "chapar/util.h"

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

static void
print_json(struct table *t)
{
	struct buf b;
	size_t r;
	int c;

	buf_init(&b, 0);
	buf_putc(&b, '[');
	for (r = 0; r < t->nrows; r++) {
		buf_puts(&b, r ? ",\n {" : "\n {");
		for (c = 0; c < t->ncols; c++) {
			if (c)
				buf_puts(&b, ", ");
			json_key(&b, t->headers[c]);
			buf_puts(&b, ": ");
			json_string(&b, sv_from(t->cells[r * (size_t)t->ncols +
			    (size_t)c]));
		}
		buf_putc(&b, '}');
	}
	buf_puts(&b, "\n]\n");
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
}

void
table_print(struct table *t, int json)
{
	size_t *w, r, pad;
	const char *cell;
	int c;

	if (json) {
		print_json(t);
		return;
	}
	w = xcalloc((size_t)t->ncols, sizeof(*w));
	for (c = 0; c < t->ncols; c++)
		w[c] = width(t->headers[c]);
	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++)
			if (width(t->cells[r * (size_t)t->ncols + (size_t)c]) >
			    w[c])
				w[c] = width(t->cells[r * (size_t)t->ncols +
				    (size_t)c]);
	for (r = 0; r <= t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			cell = r == 0 ? t->headers[c] :
			    t->cells[(r - 1) * (size_t)t->ncols + (size_t)c];
			fputs(cell, stdout);
			if (c + 1 == t->ncols)
				break;
			for (pad = width(cell); pad < w[c] + 2; pad++)
				putchar(' ');
		}
		putchar('\n');
	}
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
