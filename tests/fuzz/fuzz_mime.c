/*
 * fuzz_mime: libFuzzer target for chapar/mime.h.  Parses the input as a
 * message and checks the tree (ranges nested inside their parents and the
 * data, limits held), that BODY, BODYSTRUCTURE and every ENVELOPE are
 * well-formed IMAP (balanced lists, exact literals), that every section
 * of every part resolves inside the data, and that every decoder's text
 * output is valid UTF-8.  The decoders also run on the raw input.  Any
 * broken invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/log.h"
#include "chapar/imapfmt.h"
#include "chapar/mime.h"
#include "chapar/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static size_t nseen, hbytes;

/* RFC 3501 9, as far as ENVELOPE and BODYSTRUCTURE use it: lists of
 * NIL, numbers, quoted strings and literals; exactly one top list. */
static void
imap_check(const struct buf *b)
{
	const char *s = buf_cstr(b);
	size_t i = 0, n = b->len, lit;
	int depth = 0, tops = 0;

	while (i < n) {
		if (s[i] == '(') {
			if (depth++ == 0)
				tops++;
			i++;
		} else if (s[i] == ')') {
			if (--depth < 0)
				abort();
			i++;
		} else if (s[i] == ' ' || (s[i] >= '0' && s[i] <= '9'))
			i++;
		else if (n - i >= 3 && memcmp(s + i, "NIL", 3) == 0)
			i += 3;
		else if (s[i] == '"') {
			for (i++; i < n && s[i] != '"'; i++) {
				if (s[i] == '\r' || s[i] == '\n' ||
				    (unsigned char)s[i] >= 0x80 || s[i] == 0)
					abort();
				if (s[i] == '\\')
					i++;
			}
			if (i++ >= n)
				abort();
		} else if (s[i] == '{') {
			for (lit = 0, i++; i < n && s[i] >= '0' && s[i] <= '9';
			    i++)
				lit = lit * 10 + (size_t)(s[i] - '0');
			if (n - i < 3 || memcmp(s + i, "}\r\n", 3) != 0 ||
			    n - i - 3 < lit ||
			    memchr(s + i + 3, 0, lit) != NULL)
				abort();
			i += 3 + lit;
		} else
			abort();
	}
	if (depth != 0 || tops != 1)
		abort();
}

static void
range_in(struct mime_range r, size_t off, size_t len)
{
	if (r.off < off || r.len > len || r.off - off > len - r.len)
		abort();
}

static void
params_check(const struct mime_param *ps, size_t n)
{
	size_t i;

	if (n > MIME_MAX_PARAMS)
		abort();
	for (i = 0; i < n; i++)
		if (!utf8_valid(ps[i].value, strlen(ps[i].value)) ||
		    ps[i].name[0] == '\0')
			abort();
}

static void
section_check(const struct mime_msg *m, struct buf *path)
{
	static const char *const sfx[] = { "", ".MIME", ".HEADER", ".TEXT",
		".HEADER.FIELDS (From)" };
	struct mime_range r;
	size_t i, base = path->len;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		buf_puts(path, sfx[i]);
		if (mime_section(m, path->data, path->len, &r) == 0)
			range_in(r, 0, m->len);
		buf_truncate(path, base);
	}
}

static void part_check(const struct mime_msg *, const struct mime_part *,
    struct buf *, int);

/* RFC 3501 6.4.5 numbering: a multipart's parts are its path plus ".k";
 * the embedded message of a message/rfc822 part at X is X itself when it
 * is a multipart (no number of its own), else X.1. */
static void
children_check(const struct mime_msg *m, const struct mime_part *p,
    struct buf *path)
{
	size_t i, base = path->len, prev = p->body.off;
	int multi = mime_is_multipart(p);

	for (i = 0; i < p->nchildren; i++) {
		const struct mime_part *c = p->children[i];

		if (c->parent != p || c->depth != p->depth + 1)
			abort();
		range_in(c->whole, p->body.off, p->body.len);
		if (c->whole.off < prev)
			abort();
		prev = c->whole.off + c->whole.len;
		if (multi)
			buf_printf(path, "%s%zu", base ? "." : "", i + 1);
		else if (!mime_is_multipart(c))
			buf_puts(path, base ? ".1" : "1");
		part_check(m, c, path, multi || !mime_is_multipart(c));
		buf_truncate(path, base);
	}
	if (mime_is_message(p) && p->nchildren > 1)
		abort();
}

static void
part_check(const struct mime_msg *m, const struct mime_part *p,
    struct buf *path, int numbered)
{
	struct buf out;
	const char *cs;

	nseen++;
	hbytes += p->header.len;
	range_in(p->whole, 0, m->len);
	range_in(p->header, p->whole.off, p->whole.len);
	range_in(p->body, p->whole.off, p->whole.len);
	if (p->header.off != p->whole.off ||
	    p->header.len + p->body.len != p->whole.len ||
	    p->depth > MIME_MAX_DEPTH || p->type == NULL || p->subtype == NULL)
		abort();
	if (numbered && mime_part_at(m, path->data, path->len) != p)
		abort();
	params_check(p->params, p->nparams);
	params_check(p->dparams, p->ndparams);
	buf_init(&out, 0);
	if (mime_is_message(p)) {
		(void)mime_envelope(m, p, &out);
		imap_check(&out);
		buf_reset(&out);
	}
	if (mime_decode_body(m, p, &out) == 0 &&
	    strcmp(p->type, "text") == 0) {
		struct buf u;

		cs = mime_param_get(p->params, p->nparams, "charset");
		buf_init(&u, 0);
		(void)mime_to_utf8(cs, out.data, out.len, &u);
		if (!utf8_valid(u.data, u.len))
			abort();
		buf_free(&u);
	}
	buf_free(&out);
	if (numbered)
		section_check(m, path);
	children_check(m, p, path);
}

static void
decoders(const char *s, size_t n)
{
	struct buf out;

	buf_init(&out, 0);
	(void)mime_decode_qp(s, n, &out);
	buf_reset(&out);
	(void)mime_decode_base64(s, n, &out);
	buf_reset(&out);
	if (mime_decode_header(s, n, &out) == 0 &&
	    (!utf8_valid(out.data, out.len) ||
	    memchr(buf_cstr(&out), 0, out.len) != NULL))
		abort();
	buf_reset(&out);
	(void)mime_to_utf8(n > 0 && s[0] == 'w' ? "windows-1256" : "utf-8",
	    s, n, &out);
	if (!utf8_valid(out.data, out.len))
		abort();
	buf_free(&out);
}

/* mime_addr_each: every mailbox it gives has a domain, and there are no
 * more of them than the walk counted. */
static size_t nwalked;

static void
walked(void *arg, const struct buf *mbox, const struct buf *host)
{
	(void)arg;
	(void)mbox;
	if (host == NULL)
		abort();
	nwalked++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int opened;
	const char *d = (const char *)data;
	struct mime_msg *m;
	struct buf out, path;

	if (!opened) {
		log_open("fuzz", LOG_TO_STDERR);
		opened = 1;
	}
	m = mime_parse(d, size);
	buf_init(&out, 0);
	buf_init(&path, 0);
	nseen = hbytes = 0;
	if (!mime_is_multipart(m->root))
		buf_puts(&path, "1");
	part_check(m, m->root, &path, !mime_is_multipart(m->root));
	buf_reset(&path);
	if (nseen != m->nparts || m->nparts > MIME_MAX_PARTS)
		abort();
	section_check(m, &path);
	(void)mime_bodystructure(m, MIME_BS_EXTENDED, &out);
	imap_check(&out);
	buf_reset(&out);
	(void)mime_bodystructure(m, MIME_BS_EXTENDED | MIME_BS_REV2, &out);
	imap_check(&out);
	buf_reset(&out);
	(void)mime_bodystructure(m, 0, &out);
	imap_check(&out);
	buf_reset(&out);
	(void)mime_envelope(m, NULL, &out);
	imap_check(&out);
	buf_reset(&out);
	(void)mime_header_all(m, NULL, "received", &out);
	buf_free(&out);
	buf_free(&path);
	mime_free(&m);
	decoders(d, size < 65536 ? size : 65536);
	{
		struct buf seven;

		/* made 7-bit: what the walk and the encoder make of it;
		 * bodies only grow, and only a header loses bytes (its
		 * Content-Transfer-Encoding fields, any number of them) */
		buf_init(&seven, 4 * size + 65536);
		if (mime_8to7(d, size, &seven) == 1 &&
		    seven.len + hbytes < size)
			abort();
		/* made to fit 998: no line of the result is longer */
		buf_reset(&seven);
		if (mime_fit(d, size, MIME_FIT_7BIT | MIME_FIT_998, &seven) ==
		    1) {
			size_t i, col = 0;

			for (i = 0; i < seven.len; i++) {
				if (seven.data[i] == '\n')
					col = 0;
				else if (seven.data[i] != '\r' && ++col > 998)
					abort();
			}
		}
		buf_free(&seven);
	}
	nwalked = 0;
	if (mime_addr_each(d, size < 65536 ? size : 65536, walked, NULL) <
	    nwalked)
		abort();
	return 0;
}
