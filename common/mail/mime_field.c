/*
 * mime_field.c: the structured MIME fields, Content-Type (RFC 2045 5.1),
 * Content-Disposition (RFC 2183) and their parameters with RFC 2231
 * continuations and charsets, and Content-Language (RFC 3282).
 *
 * Input is one unfolded field value, at most MIME_MAX_HEADER bytes, from
 * anyone.  The reading is lenient where clients are: comments are
 * skipped anywhere, an unquoted value that runs into blanks is taken up
 * to the next ";", an unterminated quoted string ends at the end.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chapar/mime.h"
#include "chapar/util.h"
#include "mime_int.h"

/* One parameter as written, before RFC 2231 joining. */
struct rawp {
	char *name;		/* lower case, without "*N*" */
	int section;		/* -1: none */
	int star;		/* ends in "*": charset'lang'%XX form */
	char *val;		/* unquoted */
	int used;
};

#define MAX_SECTION 999

void
mime_skip_cfws(const char *v, size_t n, size_t *ip)
{
	size_t i = *ip;
	int depth;

	while (i < n) {
		if (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' ||
		    v[i] == '\n') {
			i++;
			continue;
		}
		if (v[i] != '(')
			break;
		/* RFC 5322 3.2.2: comments nest; a quoted-pair escapes. */
		for (depth = 0; i < n; i++) {
			if (v[i] == '\\' && i + 1 < n)
				i++;
			else if (v[i] == '(')
				depth++;
			else if (v[i] == ')' && --depth == 0) {
				i++;
				break;
			}
		}
	}
	*ip = i;
}

/* RFC 2045 5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or
 * tspecials>. */
static int
is_token(int c)
{
	return c > 32 && c < 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static size_t
token(const char *v, size_t n, size_t i)
{
	while (i < n && is_token((unsigned char)v[i]))
		i++;
	return i;
}

static char *
lower_dup(const char *s, size_t n)
{
	char *d = sv_strdup(sv_make(s, n));
	size_t i;

	for (i = 0; i < n; i++)
		if (d[i] >= 'A' && d[i] <= 'Z')
			d[i] = (char)(d[i] + ('a' - 'A'));
	return d;
}

/* A quoted-string from just after its opening quote: the content with
 * quoted-pairs undone; ends at the closing quote or the end. */
static size_t
quoted(const char *v, size_t n, size_t i, struct buf *out)
{
	for (; i < n && v[i] != '"'; i++) {
		if (v[i] == '\\' && i + 1 < n)
			i++;
		buf_putc(out, v[i]);
	}
	return i < n ? i + 1 : n;
}

/* The value after "=": a quoted-string or a token.  Lenient: bytes
 * tokens forbid (8-bit, "/", "=", ...) are taken, and a value that runs
 * into more words is taken up to the ";" (name=my file.pdf). */
static size_t
value(const char *v, size_t n, size_t i, struct buf *out)
{
	size_t s = i, e, j;

	if (i < n && v[i] == '"')
		return quoted(v, n, i + 1, out);
	while (i < n && v[i] != ';' && v[i] != ' ' && v[i] != '\t' &&
	    v[i] != '(' && v[i] != '"')
		i++;
	e = i;
	j = i;
	mime_skip_cfws(v, n, &j);
	if (j < n && v[j] != ';') {
		while (j < n && v[j] != ';')
			j++;
		e = j;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		i = j;
	}
	buf_append(out, v + s, e - s);
	return i;
}

/* RFC 2231 3 and 4: "name*12*" is name, section 12, extended;
 * "name*" is name, extended.  Any other "*" makes a plain odd name. */
static void
rawp_name(struct rawp *r, const char *s, size_t n)
{
	const char *st = memchr(s, '*', n);
	size_t i, base = n;
	int sec = -1, star = 0;

	if (st != NULL && st != s) {
		i = (size_t)(st - s) + 1;
		if (i < n && s[i] >= '0' && s[i] <= '9') {
			for (sec = 0; i < n && s[i] >= '0' && s[i] <= '9' &&
			    sec <= MAX_SECTION; i++)
				sec = sec * 10 + (s[i] - '0');
			if (i < n && s[i] == '*') {
				star = 1;
				i++;
			}
		} else
			star = 1;
		if (i == n && sec <= MAX_SECTION)
			base = (size_t)(st - s);
		else {
			sec = -1;
			star = 0;
		}
	}
	r->section = sec;
	r->star = star;
	r->name = lower_dup(s, base);
}

/* RFC 2045 5.1: *(";" parameter), parameter := attribute "=" value.
 * Returns how many were read into rp (at most MIME_MAX_PARAMS). */
static size_t
params_read(const char *v, size_t n, size_t i, struct rawp *rp, int *broken)
{
	struct buf b;
	size_t ns, ne, cnt = 0;

	while (i < n) {
		mime_skip_cfws(v, n, &i);
		if (i < n && v[i] == ';') {
			i++;
			continue;
		}
		if (i >= n)
			break;
		ns = i;
		while (i < n && v[i] != '=' && v[i] != ';' && v[i] != ' ' &&
		    v[i] != '\t' && v[i] != '(' && v[i] != '"')
			i++;
		ne = i;
		mime_skip_cfws(v, n, &i);
		if (ne == ns || i >= n || v[i] != '=') {
			/* Not a parameter: skip it. */
			while (i < n && v[i] != ';')
				i++;
			continue;
		}
		i++;
		mime_skip_cfws(v, n, &i);
		buf_init(&b, MIME_MAX_HEADER);
		i = value(v, n, i, &b);
		if (cnt == MIME_MAX_PARAMS) {
			*broken = 1;
			buf_free(&b);
			continue;
		}
		rawp_name(&rp[cnt], v + ns, ne - ns);
		rp[cnt].val = buf_detach(&b);
		rp[cnt].used = 0;
		cnt++;
	}
	return cnt;
}

/* RFC 2231 7: attribute-char, what may stay unescaped in an extended
 * value. */
static int
is_attr_char(int c)
{
	return is_token(c) && c != '*' && c != '\'' && c != '%';
}

static void
pct_escape(const char *s, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		if (is_attr_char((unsigned char)*s)) {
			buf_putc(out, *s);
			continue;
		}
		buf_putc(out, '%');
		buf_putc(out, hex[(unsigned char)*s >> 4]);
		buf_putc(out, hex[(unsigned char)*s & 15]);
	}
}

/* RFC 2231 4: charset'language'%XX..., decoded to UTF-8.  Without the
 * two quotes the charset is unknown. */
static char *
ext_decode(const char *w)
{
	const char *q1, *q2, *text = w;
	struct buf cs, raw, out;

	buf_init(&cs, 0);
	buf_init(&raw, 0);
	buf_init(&out, 0);
	if ((q1 = strchr(w, '\'')) != NULL &&
	    (q2 = strchr(q1 + 1, '\'')) != NULL) {
		buf_append(&cs, w, (size_t)(q1 - w));
		text = q2 + 1;
	}
	(void)mime_pct_decode(text, strlen(text), &raw);
	(void)mime_to_utf8(buf_cstr(&cs), raw.data, raw.len, &out);
	buf_free(&cs);
	buf_free(&raw);
	return buf_detach(&out);
}

static char *
plain_decode(const char *w)
{
	struct buf out;

	buf_init(&out, 0);
	(void)mime_decode_header(w, strlen(w), &out);
	return buf_detach(&out);
}

static void
param_set(struct mime_param *p, const char *name, struct buf *wire, int ext)
{
	p->name = xstrdup(name);
	p->extended = ext;
	p->wire = buf_detach(wire);
	p->value = ext ? ext_decode(p->wire) : plain_decode(p->wire);
}

static int
same_group(const struct rawp *a, const struct rawp *b)
{
	return !b->used && (b->section != -1 || b->star) &&
	    strcmp(a->name, b->name) == 0;
}

/* RFC 2231 3: the sections of one parameter, in order from the lowest,
 * until a number is missing; a "name*" without a section stands alone. */
static void
join_group(struct rawp *rp, size_t n, size_t first, struct mime_param *out)
{
	size_t idx[MIME_MAX_PARAMS], k = 0, i, j, t;
	struct buf w;
	int ext = 0, next;

	/* The values come from one field, so they hold at most
	 * MIME_MAX_HEADER bytes (field_value); pct_escape makes a byte
	 * three, and "''" starts an extended value. */
	buf_init(&w, 3 * MIME_MAX_HEADER + 2);
	for (i = first; i < n; i++)
		if (same_group(&rp[first], &rp[i]))
			idx[k++] = i;
	for (i = 0; i < k; i++)
		if (rp[idx[i]].section == -1) {
			buf_puts(&w, rp[idx[i]].val);
			for (j = 0; j < k; j++)
				rp[idx[j]].used = 1;
			param_set(out, rp[first].name, &w, 1);
			return;
		}
	for (i = 1; i < k; i++)	/* insertion sort by section */
		for (j = i; j > 0 && rp[idx[j - 1]].section >
		    rp[idx[j]].section; j--) {
			t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	for (i = 0; i < k; i++)
		rp[idx[i]].used = 1;
	for (next = rp[idx[0]].section, i = 0; i < k; i++) {
		if (rp[idx[i]].section != next)
			continue;	/* a repeated number */
		ext |= rp[idx[i]].star;
		next++;
	}
	/* Second pass, now that we know whether the value is extended. */
	for (next = rp[idx[0]].section, i = 0; i < k; i++) {
		if (rp[idx[i]].section != next)
			continue;
		if (ext && next == rp[idx[0]].section && !rp[idx[i]].star)
			buf_puts(&w, "''");
		if (ext && !rp[idx[i]].star)
			pct_escape(rp[idx[i]].val, &w);
		else
			buf_puts(&w, rp[idx[i]].val);
		next++;
	}
	param_set(out, rp[first].name, &w, ext);
}

static void
params_join(struct rawp *rp, size_t n, struct mime_param **out, size_t *nout)
{
	struct mime_param *ps;
	struct buf w;
	size_t i, k = 0;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return;
	ps = xcalloc(n, sizeof(*ps));
	for (i = 0; i < n; i++) {
		if (rp[i].used)
			continue;
		if (rp[i].section == -1 && !rp[i].star) {
			buf_init(&w, 0);
			buf_puts(&w, rp[i].val);
			param_set(&ps[k++], rp[i].name, &w, 0);
			rp[i].used = 1;
		} else
			join_group(rp, n, i, &ps[k++]);
	}
	*out = ps;
	*nout = k;
}

static void
params_parse(const char *v, size_t n, size_t i, struct mime_param **ps,
    size_t *np, int *broken)
{
	struct rawp *rp = xcalloc(MIME_MAX_PARAMS, sizeof(*rp));
	size_t cnt, k;

	cnt = params_read(v, n, i, rp, broken);
	params_join(rp, cnt, ps, np);
	for (k = 0; k < cnt; k++) {
		free(rp[k].name);
		free(rp[k].val);
	}
	free(rp);
}

/* RFC 2045 5.1: type "/" subtype *(";" parameter). */
int
mime_ctype_parse(const char *v, size_t n, char **type, char **subtype,
    struct mime_param **ps, size_t *np, int *broken)
{
	size_t i = 0, ts, te, ss, se;

	mime_skip_cfws(v, n, &i);
	ts = i;
	te = i = token(v, n, i);
	mime_skip_cfws(v, n, &i);
	if (te == ts || i >= n || v[i] != '/')
		return -1;
	i++;
	mime_skip_cfws(v, n, &i);
	ss = i;
	se = i = token(v, n, i);
	if (se == ss)
		return -1;
	*type = lower_dup(v + ts, te - ts);
	*subtype = lower_dup(v + ss, se - ss);
	params_parse(v, n, i, ps, np, broken);
	return 0;
}

/* RFC 2183 2: disposition-type *(";" disposition-parm). */
int
mime_cdisp_parse(const char *v, size_t n, char **disp,
    struct mime_param **ps, size_t *np, int *broken)
{
	size_t i = 0, ts, te;

	mime_skip_cfws(v, n, &i);
	ts = i;
	te = i = token(v, n, i);
	if (te == ts)
		return -1;
	*disp = lower_dup(v + ts, te - ts);
	params_parse(v, n, i, ps, np, broken);
	return 0;
}

void
mime_params_free(struct mime_param **ps, size_t *n)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		free((*ps)[i].name);
		free((*ps)[i].value);
		free((*ps)[i].wire);
	}
	free(*ps);
	*ps = NULL;
	*n = 0;
}

/* RFC 3282 2: Language-List = Language-Tag [CFWS] *("," [CFWS]
 * Language-Tag [CFWS]). */
int
mime_lang_next(const char *v, size_t n, size_t *ip, struct sv *tag)
{
	size_t i = *ip, s;

	for (;;) {
		mime_skip_cfws(v, n, &i);
		if (i < n && v[i] == ',') {
			i++;
			continue;
		}
		break;
	}
	if (i >= n) {
		*ip = i;
		return 0;
	}
	s = i;
	while (i < n && v[i] != ',' && v[i] != '(' && v[i] != ' ' &&
	    v[i] != '\t')
		i++;
	*tag = sv_make(v + s, i - s);
	*ip = i;
	return 1;
}

size_t
mime_field_match(struct sv line, const char *name)
{
	size_t n = strlen(name), i;

	if (line.n <= n || strncasecmp(line.p, name, n) != 0)
		return 0;
	/* RFC 5322 4.5: obs-optional allows blanks before the colon, and
	 * readers take "From :" for a From field */
	for (i = n; i < line.n && (line.p[i] == ' ' || line.p[i] == '\t');
	    i++)
		;
	return i < line.n && line.p[i] == ':' ? i + 1 : 0;
}
