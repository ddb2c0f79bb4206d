/*
 * mime.c: the MIME tree of a message (RFC 5322, RFC 2045, RFC 2046) and
 * IMAP section names (RFC 3501 6.4.5).
 *
 * Trusts nothing in the message: every scan is bounded by the range of
 * the part it is in, the tree by MIME_MAX_DEPTH and MIME_MAX_PARTS, the
 * header fields read by MIME_MAX_HEADER.  Parts hold offsets, never
 * copies of bodies.  Splitting is top-down: a multipart finds its own
 * delimiter lines in its body, then each part is parsed inside its range,
 * so an inner part can never run past an outer delimiter.
 */
#include <stdlib.h>
#include <string.h>

#include "chapar/mime.h"
#include "chapar/util.h"
#include "mime_int.h"

struct pctx {
	struct mime_msg *msg;
	struct buf tmp;		/* one unfolded field value */
};

static struct mime_part *part_parse(struct pctx *, struct mime_part *,
    size_t off, size_t end, int digest);

/* The LF ending the line at pos, or end. */
static size_t
line_end(const char *d, size_t pos, size_t end)
{
	const char *q;

	if (pos >= end)
		return end;
	q = memchr(d + pos, '\n', end - pos);
	return q != NULL ? (size_t)(q - d) : end;
}

static size_t
line_next(size_t le, size_t end)
{
	return le < end ? le + 1 : end;
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5322 2.2: field-name = 1*ftext, printable US-ASCII but ":".
 * Blanks before the colon are the obsolete syntax of 4.5 and allowed. */
static int
field_name(const char *d, size_t p, size_t le, size_t *name_len,
    size_t *colon)
{
	const char *q;
	size_t n, i;

	q = memchr(d + p, ':', le - p);
	if (q == NULL)
		return -1;
	*colon = (size_t)(q - d);
	n = *colon - p;
	while (n > 0 && is_wsp((unsigned char)d[p + n - 1]))
		n--;
	if (n == 0)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)d[p + i] < 33 ||
		    (unsigned char)d[p + i] > 126)
			return -1;
	*name_len = n;
	return 0;
}

int
mime_hdr_next(const char *d, size_t *pos, size_t end, struct mime_field *f)
{
	size_t p = *pos, le, colon, q, ve;

	for (;;) {
		if (p >= end) {
			*pos = end;
			return 0;
		}
		le = line_end(d, p, end);
		/* The blank line, CRLF or a bare LF, ends the header. */
		if (le == p || (le == p + 1 && d[p] == '\r')) {
			*pos = line_next(le, end);
			return 0;
		}
		if (!is_wsp((unsigned char)d[p]))
			break;
		/* A continuation with no field before it: skipped. */
		p = line_next(le, end);
	}
	if (field_name(d, p, le, &f->name_len, &colon) == -1) {
		*pos = p;
		return -1;
	}
	f->off = p;
	f->val_off = colon + 1;
	/* RFC 5322 2.2.3: a line starting with a blank continues the field. */
	q = line_next(le, end);
	while (q < end && is_wsp((unsigned char)d[q])) {
		le = line_end(d, q, end);
		q = line_next(le, end);
	}
	ve = le;
	if (ve > f->val_off && d[ve - 1] == '\r')
		ve--;
	f->val_len = ve - f->val_off;
	f->end = q;
	*pos = q;
	return 1;
}

int
mime_unfold(const char *s, size_t n, struct buf *out)
{
	size_t i, start = out->len;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			continue;
		if (buf_try_putc(out, s[i]) == -1)
			return -1;
	}
	/* Trim: the leading blanks after the colon, and trailing ones. */
	i = start;
	while (i < out->len && is_wsp((unsigned char)out->data[i]))
		i++;
	if (i > start) {
		memmove(out->data + start, out->data + i, out->len - i);
		buf_truncate(out, out->len - (i - start));
	}
	while (out->len > start &&
	    is_wsp((unsigned char)out->data[out->len - 1]))
		buf_truncate(out, out->len - 1);
	return 0;
}

/* The unfolded value of a field into c->tmp, at most MIME_MAX_HEADER. */
static struct sv
field_value(struct pctx *c, const struct mime_field *f)
{
	size_t n = f->val_len;

	if (n > MIME_MAX_HEADER)
		n = MIME_MAX_HEADER;
	buf_reset(&c->tmp);
	(void)mime_unfold(c->msg->data + f->val_off, n, &c->tmp);
	return buf_sv(&c->tmp);
}

static int
name_is(const char *d, const struct mime_field *f, const char *name)
{
	return sv_caseeq_str(sv_make(d + f->off, f->name_len), name);
}

static char *
lower_dup(struct sv v)
{
	char *s = sv_strdup(v);
	size_t i;

	for (i = 0; i < v.n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] + ('a' - 'A'));
	return s;
}

/* Content-Transfer-Encoding (RFC 2045 6.1): a token, case-insensitive;
 * comments are allowed around it. */
static char *
cte_parse(struct sv v)
{
	size_t i = 0, s;

	mime_skip_cfws(v.p, v.n, &i);
	s = i;
	while (i < v.n && v.p[i] != '(' && v.p[i] != ' ' && v.p[i] != '\t' &&
	    v.p[i] != ';')
		i++;
	if (i == s)
		return NULL;
	return lower_dup(sv_make(v.p + s, i - s));
}

static void
set_str(char **dst, struct sv v)
{
	if (*dst == NULL)
		*dst = sv_strdup(v);
}

/* RFC 2045 3: the Content- fields; the first of each counts. */
static void
field_use(struct pctx *c, struct mime_part *p, const struct mime_field *f,
    int *seen_ct)
{
	const char *d = c->msg->data;
	struct sv v;

	if (f->name_len < 8 || !sv_has_prefix_case(sv_make(d + f->off,
	    f->name_len), "content-"))
		return;
	v = field_value(c, f);
	if (name_is(d, f, "content-type") && !*seen_ct) {
		*seen_ct = 1;
		if (mime_ctype_parse(v.p, v.n, &p->type, &p->subtype,
		    &p->params, &p->nparams, &p->broken) == -1)
			p->broken = 1;
	} else if (name_is(d, f, "content-transfer-encoding")) {
		if (p->encoding == NULL)
			p->encoding = cte_parse(v);
	} else if (name_is(d, f, "content-disposition")) {
		if (p->disposition == NULL)
			(void)mime_cdisp_parse(v.p, v.n, &p->disposition,
			    &p->dparams, &p->ndparams, &p->broken);
	} else if (name_is(d, f, "content-id"))
		set_str(&p->id, v);
	else if (name_is(d, f, "content-description"))
		set_str(&p->description, v);
	else if (name_is(d, f, "content-md5"))
		set_str(&p->md5, v);
	else if (name_is(d, f, "content-language"))
		set_str(&p->language, v);
	else if (name_is(d, f, "content-location"))
		set_str(&p->location, v);
}

/* The header block at off: fields, then the blank line.  A line that is
 * no field ends the block and starts the body, as major clients read it. */
static size_t
header_parse(struct pctx *c, struct mime_part *p, size_t off, size_t end)
{
	struct mime_field f;
	size_t pos = off;
	int r, seen_ct = 0;

	while ((r = mime_hdr_next(c->msg->data, &pos, end, &f)) == 1) {
		if (f.off - off >= MIME_MAX_HEADER) {
			p->broken = 1;
			continue;
		}
		field_use(c, p, &f, &seen_ct);
	}
	if (r == -1)
		p->broken = 1;
	p->header.off = off;
	p->header.len = pos - off;
	return pos;
}

int
mime_is_multipart(const struct mime_part *p)
{
	return p->type != NULL && strcmp(p->type, "multipart") == 0;
}

int
mime_is_message(const struct mime_part *p)
{
	return p->type != NULL && strcmp(p->type, "message") == 0 &&
	    (strcmp(p->subtype, "rfc822") == 0 ||
	    strcmp(p->subtype, "global") == 0);
}

int
mime_is_text(const struct mime_part *p)
{
	return p->type != NULL && strcmp(p->type, "text") == 0;
}

static void
add_child(struct mime_part *p, struct mime_part *ch)
{
	if ((p->nchildren & (p->nchildren - 1)) == 0)
		p->children = xreallocarray(p->children,
		    p->nchildren ? p->nchildren * 2 : 1, sizeof(*p->children));
	p->children[p->nchildren++] = ch;
}

/* RFC 2046 5.1.1: is the line at ls a delimiter of boundary b?  0: no;
 * 1: dash-boundary transport-padding; 2: the close delimiter, with two
 * more dashes.  Nothing but blanks may follow: that keeps a boundary that
 * is a prefix of another from matching the other's lines. */
static int
delim_match(const char *d, size_t ls, size_t le, struct sv b)
{
	size_t i;
	int kind = 1;

	if (le - ls < 2 + b.n || d[ls] != '-' || d[ls + 1] != '-' ||
	    memcmp(d + ls + 2, b.p, b.n) != 0)
		return 0;
	i = ls + 2 + b.n;
	if (le - i >= 2 && d[i] == '-' && d[i + 1] == '-') {
		kind = 2;
		i += 2;
	}
	for (; i < le; i++)
		if (!is_wsp((unsigned char)d[i]) && d[i] != '\r')
			return 0;
	return kind;
}

/* The boundary to look for: RFC 2046 5.1.1 says it never ends in a
 * blank, and delimiter lines may carry trailing blanks, so trailing
 * blanks of the parameter are ignored. */
static struct sv
boundary_of(const struct mime_part *p)
{
	const char *b = mime_param_get(p->params, p->nparams, "boundary");
	struct sv v;

	if (b == NULL)
		return sv_make("", 0);
	v = sv_from(b);
	while (v.n > 0 && is_wsp((unsigned char)v.p[v.n - 1]))
		v.n--;
	return v;
}

/* A body part ends before the line end that precedes the delimiter
 * (RFC 2046 5.1.1: that CRLF belongs to the delimiter). */
static size_t
part_end_before(const char *d, size_t start, size_t ls)
{
	size_t e = ls;

	if (e > start && d[e - 1] == '\n') {
		e--;
		if (e > start && d[e - 1] == '\r')
			e--;
	}
	return e;
}

static int
child_add(struct pctx *c, struct mime_part *p, size_t off, size_t end,
    int digest)
{
	if (c->msg->nparts >= MIME_MAX_PARTS) {
		p->broken = 1;
		return -1;
	}
	add_child(p, part_parse(c, p, off, end, digest));
	return 0;
}

static void
multipart_split(struct pctx *c, struct mime_part *p)
{
	const char *d = c->msg->data;
	size_t end = p->body.off + p->body.len, ls, le, start = 0;
	struct sv b = boundary_of(p);
	int k, open = 0, digest = strcmp(p->subtype, "digest") == 0;

	if (b.n == 0 || b.n > MIME_MAX_BOUNDARY) {
		p->broken = 1;
		return;
	}
	for (ls = p->body.off; ls < end; ls = line_next(le, end)) {
		le = line_end(d, ls, end);
		if ((k = delim_match(d, ls, le, b)) == 0)
			continue;
		if (open && child_add(c, p, start,
		    part_end_before(d, start, ls), digest) == -1)
			return;
		if (k == 2)
			return;	/* the rest is the epilogue */
		open = 1;
		start = line_next(le, end);
	}
	/* No close delimiter: the last part runs to the end of the parent. */
	p->broken = 1;
	if (open)
		(void)child_add(c, p, start, end, digest);
}

static size_t
count_lf(const char *d, size_t off, size_t len)
{
	const char *q = d + off, *e = d + off + len;
	size_t n = 0;

	while (q < e && (q = memchr(q, '\n', (size_t)(e - q))) != NULL) {
		n++;
		q++;
	}
	return n;
}

static struct mime_part *
part_parse(struct pctx *c, struct mime_part *parent, size_t off, size_t end,
    int digest)
{
	struct mime_part *p = xcalloc(1, sizeof(*p));
	size_t body;

	c->msg->nparts++;
	p->parent = parent;
	p->depth = parent != NULL ? parent->depth + 1 : 0;
	p->whole.off = off;
	p->whole.len = end - off;
	body = header_parse(c, p, off, end);
	p->body.off = body;
	p->body.len = end - body;
	if (p->type == NULL) {
		/* RFC 2045 5.2 and RFC 2046 5.1.5. */
		p->type = xstrdup(digest ? "message" : "text");
		p->subtype = xstrdup(digest ? "rfc822" : "plain");
	}
	if (mime_is_multipart(p) || mime_is_message(p)) {
		if (p->depth >= MIME_MAX_DEPTH)
			p->broken = 1;
		else if (mime_is_multipart(p))
			multipart_split(c, p);
		else
			(void)child_add(c, p, p->body.off, end, 0);
	}
	if (mime_is_text(p) || mime_is_message(p))
		p->lines = count_lf(c->msg->data, p->body.off, p->body.len);
	return p;
}

struct mime_msg *
mime_parse(const char *data, size_t len)
{
	struct mime_msg *m = xcalloc(1, sizeof(*m));
	struct pctx c;

	m->data = data;
	m->len = len;
	c.msg = m;
	buf_init(&c.tmp, MIME_MAX_HEADER + 1);
	m->root = part_parse(&c, NULL, 0, len, 0);
	buf_free(&c.tmp);
	return m;
}

static void
part_free(struct mime_part *p)
{
	size_t i;

	for (i = 0; i < p->nchildren; i++)
		part_free(p->children[i]);
	free(p->children);
	free(p->type);
	free(p->subtype);
	mime_params_free(&p->params, &p->nparams);
	mime_params_free(&p->dparams, &p->ndparams);
	free(p->id);
	free(p->description);
	free(p->encoding);
	free(p->disposition);
	free(p->md5);
	free(p->language);
	free(p->location);
	free(p);
}

void
mime_free(struct mime_msg **mp)
{
	if (*mp == NULL)
		return;
	if ((*mp)->root != NULL)
		part_free((*mp)->root);
	free(*mp);
	*mp = NULL;
}

const char *
mime_param_get(const struct mime_param *ps, size_t n, const char *name)
{
	const char *plain = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(ps[i].name, name) != 0)
			continue;
		if (ps[i].extended)
			return ps[i].value;
		if (plain == NULL)
			plain = ps[i].value;
	}
	return plain;
}

/* Walk the fields of a part's header named name; calls stop after the
 * first when all is 0. */
static size_t
header_walk(const struct mime_msg *m, const struct mime_part *p,
    const char *name, struct buf *out, int all)
{
	struct mime_field f;
	size_t pos, end, n = 0, len;

	if (p == NULL)
		p = m->root;
	pos = p->header.off;
	end = p->header.off + p->header.len;
	while (mime_hdr_next(m->data, &pos, end, &f) == 1 &&
	    f.off - p->header.off < MIME_MAX_HEADER) {
		if (!name_is(m->data, &f, name))
			continue;
		len = f.val_len < MIME_MAX_HEADER ? f.val_len : MIME_MAX_HEADER;
		if (mime_unfold(m->data + f.val_off, len, out) == -1)
			return n;
		n++;
		if (!all)
			break;
		if (buf_try_putc(out, '\0') == -1)
			return n;
	}
	return n;
}

int
mime_header_get(const struct mime_msg *m, const struct mime_part *p,
    const char *name, struct buf *out)
{
	return header_walk(m, p, name, out, 0) == 1 ? 0 : -1;
}

size_t
mime_header_all(const struct mime_msg *m, const struct mime_part *p,
    const char *name, struct buf *out)
{
	return header_walk(m, p, name, out, 1);
}

/* RFC 3501 6.4.5: part k inside P.  A multipart numbers its parts; a
 * message/rfc822 part numbers the parts of its embedded message; a
 * message that is no multipart has only a part 1, its body. */
static const struct mime_part *
numbered(const struct mime_part *p, unsigned long k, int top)
{
	if (!top && !mime_is_multipart(p)) {
		if (!mime_is_message(p) || p->nchildren == 0)
			return NULL;
		p = p->children[0];
	}
	if (mime_is_multipart(p))
		return k <= p->nchildren ? p->children[k - 1] : NULL;
	return k == 1 ? p : NULL;
}

/* The leading part numbers of spec: the part (NULL for none) and where
 * the rest starts; -1 if a number names no part or is malformed. */
static int
walk_numbers(const struct mime_msg *m, struct sv s, const struct mime_part **pp,
    size_t *rest)
{
	const struct mime_part *p = NULL;
	unsigned long k;
	size_t i = 0, s0;

	while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
		s0 = i;
		for (k = 0; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++) {
			if (k > MIME_MAX_PARTS)
				return -1;
			k = k * 10 + (unsigned long)(s.p[i] - '0');
		}
		/* RFC 3501 9: nz-number, no leading zero. */
		if (k == 0 || s.p[s0] == '0')
			return -1;
		if ((p = numbered(p == NULL ? m->root : p, k, p == NULL)) ==
		    NULL)
			return -1;
		if (i < s.n) {
			if (s.p[i] != '.' || i + 1 == s.n)
				return -1;
			i++;
		}
	}
	*pp = p;
	*rest = i;
	return 0;
}

static int
is_header_spec(struct sv r)
{
	return sv_caseeq_str(r, "HEADER") ||
	    sv_has_prefix_case(r, "HEADER.FIELDS ") ||
	    sv_has_prefix_case(r, "HEADER.FIELDS.NOT ");
}

int
mime_section(const struct mime_msg *m, const char *spec, size_t n,
    struct mime_range *out)
{
	const struct mime_part *p, *msg;
	struct sv r;
	size_t rest;

	if (walk_numbers(m, sv_make(spec, n), &p, &rest) == -1)
		return -1;
	r = sv_make(spec + rest, n - rest);
	if (p == NULL) {
		msg = m->root;
		if (r.n == 0) {
			out->off = 0;
			out->len = m->len;
			return 0;
		}
	} else {
		if (r.n == 0) {
			*out = p->body;
			return 0;
		}
		if (sv_caseeq_str(r, "MIME")) {
			*out = p->header;
			return 0;
		}
		/* HEADER and TEXT after a part number: only for an embedded
		 * message/rfc822. */
		if (!mime_is_message(p) || p->nchildren == 0)
			return -1;
		msg = p->children[0];
	}
	if (is_header_spec(r))
		*out = msg->header;
	else if (sv_caseeq_str(r, "TEXT"))
		*out = msg->body;
	else
		return -1;
	return 0;
}

const struct mime_part *
mime_part_at(const struct mime_msg *m, const char *spec, size_t n)
{
	const struct mime_part *p;
	size_t rest;

	if (walk_numbers(m, sv_make(spec, n), &p, &rest) == -1 || rest != n)
		return NULL;
	return p != NULL ? p : m->root;
}
