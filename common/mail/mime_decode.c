/*
 * mime_decode.c: content transfer encodings (RFC 2045 6.7 quoted-printable,
 * 6.8 base64, x-uuencode), RFC 2047 encoded words, RFC 2231 %XX, and
 * charsets to UTF-8 through iconv.
 *
 * Input is anyone's bytes; every decoder is lenient the way clients are
 * (bad escapes kept, junk in base64 skipped) and always makes progress.
 * Charset names from messages reach iconv_open only when they are short
 * and made of [A-Za-z0-9._:+-]: no "//" suffixes, no paths.  Conversion is
 * only ever to UTF-8, never into a stateful encoding.
 */
#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <string.h>

#include "chapar/mime.h"
#include "chapar/utf8.h"
#include "chapar/util.h"
#include "mime_int.h"

#define CHARSET_MAX 40
#define ICONV_CACHE 8

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "=XX" at s[i] (case-insensitive): the byte, or -1. */
static int
hexpair(const char *s, size_t n, size_t i)
{
	int h, l;

	if (n - i < 3)
		return -1;
	h = hexval((unsigned char)s[i + 1]);
	l = hexval((unsigned char)s[i + 2]);
	return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/* The line break at s[j]: 2 for CRLF, 1 for LF, 0 at the end of the
 * data, -1 for none. */
static int
line_break(const char *s, size_t n, size_t j)
{
	if (j == n)
		return 0;
	if (s[j] == '\n')
		return 1;
	if (s[j] == '\r' && j + 1 < n && s[j + 1] == '\n')
		return 2;
	return -1;
}

static size_t
skip_blanks(const char *s, size_t n, size_t j)
{
	while (j < n && (s[j] == ' ' || s[j] == '\t'))
		j++;
	return j;
}

/* RFC 2045 6.7: "=XX" is a byte (lower case hex accepted, as rule 1
 * suggests), "=" before the line end is a soft line break, trailing blanks
 * on a line were added in transport and go (rule 3), an "=" that is none of
 * these stays as it is. */
int
mime_decode_qp(const char *s, size_t n, struct buf *out)
{
	size_t i = 0, j;
	int c, b;

	while (i < n) {
		if (s[i] == ' ' || s[i] == '\t') {
			j = skip_blanks(s, n, i);
			if (line_break(s, n, j) < 0 &&
			    buf_try_append(out, s + i, j - i) == -1)
				return -1;
			i = j;
		} else if (s[i] != '=') {
			if (buf_try_putc(out, s[i++]) == -1)
				return -1;
		} else if ((c = hexpair(s, n, i)) >= 0) {
			if (buf_try_putc(out, c) == -1)
				return -1;
			i += 3;
		} else if ((b = line_break(s, n, j = skip_blanks(s, n,
		    i + 1))) >= 0)
			i = j + (size_t)b;	/* a soft line break */
		else if (buf_try_putc(out, s[i++]) == -1)
			return -1;
	}
	return 0;
}

/* The bytes of a partial quantum of k sextets (k = 2 or 3). */
static int
b64_flush(uint32_t acc, int k, struct buf *out)
{
	unsigned char o[2];

	if (k == 2) {
		o[0] = (unsigned char)(acc >> 4);
		return buf_try_append(out, o, 1);
	}
	if (k == 3) {
		o[0] = (unsigned char)(acc >> 10);
		o[1] = (unsigned char)(acc >> 2);
		return buf_try_append(out, o, 2);
	}
	return 0;
}

/* RFC 2045 6.8: characters outside the alphabet are ignored (the RFC
 * says so for line breaks and asks decoders to ignore the rest too);
 * "=" ends a quantum, so concatenated base64 decodes; missing padding is
 * tolerated. */
static int
b64_decode(const char *s, size_t n, struct buf *out, int *junk)
{
	unsigned char o[3];
	uint32_t acc = 0;
	size_t i;
	int k = 0, v;

	for (i = 0; i < n; i++) {
		if ((v = base64_value((unsigned char)s[i])) < 0) {
			if (s[i] == '=') {
				if (b64_flush(acc, k, out) == -1)
					return -1;
				acc = 0;
				k = 0;
			} else if (s[i] != ' ' && s[i] != '\t' &&
			    s[i] != '\r' && s[i] != '\n')
				*junk = 1;
			continue;
		}
		acc = (acc << 6) | (uint32_t)v;
		if (++k == 4) {
			o[0] = (unsigned char)(acc >> 16);
			o[1] = (unsigned char)(acc >> 8);
			o[2] = (unsigned char)acc;
			if (buf_try_append(out, o, 3) == -1)
				return -1;
			acc = 0;
			k = 0;
		}
	}
	return b64_flush(acc, k, out);
}

int
mime_decode_base64(const char *s, size_t n, struct buf *out)
{
	int junk = 0;

	if (b64_decode(s, n, out, &junk) == -1)
		return -1;
	return junk ? -1 : 0;
}

/* uuencode, as x-uuencode bodies carry it: "begin mode name", lines whose
 * first character gives their length, "end".  Without "begin" every line
 * is taken. */
static int
uu_line(const char *s, size_t n, struct buf *out)
{
	unsigned char o[3];
	size_t want, i, got = 0, k, take;
	uint32_t acc;
	int c;

	if (n == 0)
		return 0;
	want = (size_t)(((unsigned char)s[0] - 0x20) & 0x3f);
	for (i = 1; got < want && i < n; i += 4) {
		for (acc = 0, k = 0; k < 4; k++) {
			c = i + k < n ? (unsigned char)s[i + k] : 0x20;
			acc = (acc << 6) | (uint32_t)((c - 0x20) & 0x3f);
		}
		o[0] = (unsigned char)(acc >> 16);
		o[1] = (unsigned char)(acc >> 8);
		o[2] = (unsigned char)acc;
		take = want - got < 3 ? want - got : 3;
		if (buf_try_append(out, o, take) == -1)
			return -1;
		got += take;
	}
	return 0;
}

static int
decode_uu(const char *s, size_t n, struct buf *out)
{
	size_t i = 0, le, ll;
	const char *q;
	int begun = 0;

	for (i = 0; i < n; i = le + 1) {
		q = memchr(s + i, '\n', n - i);
		le = q != NULL ? (size_t)(q - s) : n;
		ll = le - i;
		if (ll > 0 && s[le - 1] == '\r')
			ll--;
		if (!begun && ll >= 6 && memcmp(s + i, "begin ", 6) == 0) {
			begun = 1;
			continue;
		}
		if (ll == 3 && memcmp(s + i, "end", 3) == 0)
			break;
		if (uu_line(s + i, ll, out) == -1)
			return -1;
	}
	return 0;
}

int
mime_decode_body(const struct mime_msg *m, const struct mime_part *p,
    struct buf *out)
{
	const char *e = p->encoding, *s = m->data + p->body.off;
	size_t n = p->body.len;
	int junk = 0;

	/* RFC 2045 6.2: the identity encodings. */
	if (e == NULL || strcmp(e, "7bit") == 0 || strcmp(e, "8bit") == 0 ||
	    strcmp(e, "binary") == 0)
		return buf_try_append(out, s, n);
	if (strcmp(e, "quoted-printable") == 0)
		return mime_decode_qp(s, n, out);
	if (strcmp(e, "base64") == 0)
		return b64_decode(s, n, out, &junk);
	if (strcmp(e, "x-uuencode") == 0 || strcmp(e, "x-uue") == 0 ||
	    strcmp(e, "uuencode") == 0)
		return decode_uu(s, n, out);
	return -1;
}

/* RFC 2231 4: %XX; a "%" without two hex digits stays. */
int
mime_pct_decode(const char *s, size_t n, struct buf *out)
{
	size_t i;
	int c;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && (c = hexpair(s, n, i)) >= 0) {
			if (buf_try_putc(out, c) == -1)
				return -1;
			i += 2;
		} else if (buf_try_putc(out, s[i]) == -1)
			return -1;
	}
	return 0;
}

/* windows-1252 0x80-0x9f (WHATWG Encoding index); 0xa0-0xff are Latin-1. */
static const uint16_t cp1252[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178
};

static int
put_cp(struct buf *out, uint32_t cp)
{
	unsigned char u[4];
	int l;

	if ((l = utf8_encode(cp, u)) < 0)
		l = utf8_encode(0xfffd, u);
	return buf_try_append(out, u, (size_t)l);
}

static int
from_1252(const char *s, size_t n, struct buf *out)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (put_cp(out, c >= 0x80 && c < 0xa0 ? cp1252[c - 0x80] : c) ==
		    -1)
			return -1;
	}
	return 0;
}

/* UTF-8 with each byte that starts no valid sequence as U+FFFD, or, when
 * other is set, as the windows-1252 character. */
static int
utf8_mend(const char *s, size_t n, int as1252, struct buf *out)
{
	size_t i = 0, r;
	uint32_t cp;
	int l;

	while (i < n) {
		for (r = i; r < n && (unsigned char)s[r] < 0x80; r++)
			;
		if (r > i && buf_try_append(out, s + i, r - i) == -1)
			return -1;
		if ((i = r) >= n)
			break;
		if ((l = utf8_decode((const unsigned char *)s + i, n - i,
		    &cp)) > 0) {
			if (buf_try_append(out, s + i, (size_t)l) == -1)
				return -1;
			i += (size_t)l;
			continue;
		}
		if ((as1252 ? from_1252(s + i, 1, out) :
		    put_cp(out, 0xfffd)) == -1)
			return -1;
		i++;
	}
	return 0;
}

int
mime_raw_to_utf8(const char *s, size_t n, struct buf *out)
{
	return utf8_mend(s, n, 1, out);
}

enum cs_kind { CS_UTF8, CS_ASCII, CS_1252, CS_ICONV, CS_UNKNOWN };

static const struct {
	const char *name;
	enum cs_kind kind;
	const char *iconv;
} cs_alias[] = {
	{ "utf-8", CS_UTF8, NULL },
	{ "utf8", CS_UTF8, NULL },
	{ "unicode-1-1-utf-8", CS_UTF8, NULL },
	{ "us-ascii", CS_ASCII, NULL },
	{ "ascii", CS_ASCII, NULL },
	{ "ansi_x3.4-1968", CS_ASCII, NULL },
	{ "us", CS_ASCII, NULL },
	/* WHATWG Encoding: these labels all mean windows-1252. */
	{ "iso-8859-1", CS_1252, NULL },
	{ "iso8859-1", CS_1252, NULL },
	{ "iso_8859-1", CS_1252, NULL },
	{ "latin1", CS_1252, NULL },
	{ "l1", CS_1252, NULL },
	{ "windows-1252", CS_1252, NULL },
	{ "cp1252", CS_1252, NULL },
	{ "x-cp1252", CS_1252, NULL },
	/* Names mailers use that glibc does not know. */
	{ "ks_c_5601-1987", CS_ICONV, "CP949" },
	{ "gb2312", CS_ICONV, "GBK" },
	{ "x-gbk", CS_ICONV, "GBK" },
	{ "x-sjis", CS_ICONV, "SHIFT_JIS" },
	{ "windows-874", CS_ICONV, "CP874" },
};

/* The charset name, lower case, into norm; refuses what iconv_open
 * should never see. */
static enum cs_kind
cs_classify(const char *name, char norm[CHARSET_MAX + 1], const char **ic)
{
	size_t i, n = 0;
	int c;

	*ic = norm;
	if (name == NULL)
		return CS_UNKNOWN;
	while (*name == ' ' || *name == '\t' || *name == '"')
		name++;
	for (i = 0; name[i] != '\0'; i++) {
		c = (unsigned char)name[i];
		if (c == ' ' || c == '\t' || c == '"')
			break;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._:+-", c) != NULL))
			return CS_UNKNOWN;
		if (n == CHARSET_MAX)
			return CS_UNKNOWN;
		norm[n++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	norm[n] = '\0';
	if (n == 0)
		return CS_UNKNOWN;
	for (i = 0; i < NELEM(cs_alias); i++)
		if (strcmp(norm, cs_alias[i].name) == 0) {
			if (cs_alias[i].iconv != NULL)
				*ic = cs_alias[i].iconv;
			return cs_alias[i].kind;
		}
	return CS_ICONV;
}

/* A few iconv descriptors stay open: glibc loads a module per charset.
 * The cache is per process and not locked: Chapar's processes run one
 * thread. */
static struct {
	char name[CHARSET_MAX + 1];
	iconv_t cd;
	unsigned long used;
} ic_cache[ICONV_CACHE];
static unsigned long ic_tick;

static iconv_t
ic_get(const char *name)
{
	size_t i, lru = 0;
	iconv_t cd;

	for (i = 0; i < ICONV_CACHE; i++) {
		if (ic_cache[i].used != 0 &&
		    strcmp(ic_cache[i].name, name) == 0) {
			ic_cache[i].used = ++ic_tick;
			cd = ic_cache[i].cd;
			(void)iconv(cd, NULL, NULL, NULL, NULL);
			return cd;
		}
		if (ic_cache[i].used < ic_cache[lru].used)
			lru = i;
	}
	if ((cd = iconv_open("UTF-8", name)) == (iconv_t)-1)
		return cd;
	if (ic_cache[lru].used != 0)
		iconv_close(ic_cache[lru].cd);
	memcpy(ic_cache[lru].name, name, strlen(name) + 1);
	ic_cache[lru].cd = cd;
	ic_cache[lru].used = ++ic_tick;
	return cd;
}

static int
ic_convert(iconv_t cd, const char *s, size_t n, struct buf *out)
{
	char tmp[4096], *in = (char *)(uintptr_t)s, *op;
	size_t inleft = n, ol, r;

	while (inleft > 0) {
		op = tmp;
		ol = sizeof(tmp);
		r = iconv(cd, &in, &inleft, &op, &ol);
		if (buf_try_append(out, tmp, (size_t)(op - tmp)) == -1)
			return -1;
		if (r != (size_t)-1 || errno == E2BIG)
			continue;
		/* EILSEQ, EINVAL: one byte becomes U+FFFD (RFC 3629 10
		 * wants no silent loss). */
		if (put_cp(out, 0xfffd) == -1)
			return -1;
		in++;
		inleft--;
	}
	op = tmp;
	ol = sizeof(tmp);
	(void)iconv(cd, NULL, NULL, &op, &ol);
	return buf_try_append(out, tmp, (size_t)(op - tmp));
}

int
mime_to_utf8(const char *charset, const char *s, size_t n, struct buf *out)
{
	char norm[CHARSET_MAX + 1];
	const char *ic;
	iconv_t cd;

	switch (cs_classify(charset, norm, &ic)) {
	case CS_UTF8:
		return utf8_mend(s, n, 0, out);
	case CS_1252:
		return from_1252(s, n, out);
	case CS_ICONV:
		if ((cd = ic_get(ic)) != (iconv_t)-1)
			return ic_convert(cd, s, n, out);
		break;
	case CS_ASCII:
	case CS_UNKNOWN:
		break;
	}
	if (utf8_valid(s, n))
		return buf_try_append(out, s, n);
	return from_1252(s, n, out);
}

/* An RFC 2047 2 encoded-word at s[i]:
 * "=?" charset ["*" language] "?" encoding "?" encoded-text "?=". */
struct ew {
	struct sv charset;
	int enc;	/* 'b' or 'q' */
	struct sv text;
	size_t end;
};

static int
ew_parse(const char *s, size_t n, size_t i, struct ew *w)
{
	size_t j = i + 2, cs = j, ts;
	const char *star;

	while (j < n && s[j] != '?' && s[j] != ' ' && s[j] != '\t' &&
	    s[j] != '\r' && s[j] != '\n')
		j++;
	if (j == cs || n - j < 4 || s[j] != '?' || s[j + 2] != '?')
		return 0;
	w->charset = sv_make(s + cs, j - cs);
	/* RFC 2231 5: a language after "*" is dropped. */
	if ((star = memchr(s + cs, '*', j - cs)) != NULL)
		w->charset.n = (size_t)(star - (s + cs));
	if (s[j + 1] == 'b' || s[j + 1] == 'B')
		w->enc = 'b';
	else if (s[j + 1] == 'q' || s[j + 1] == 'Q')
		w->enc = 'q';
	else
		return 0;
	ts = j = j + 3;
	while (j < n && s[j] != '?' && s[j] != ' ' && s[j] != '\t' &&
	    s[j] != '\r' && s[j] != '\n')
		j++;
	if (n - j < 2 || s[j] != '?' || s[j + 1] != '=')
		return 0;
	w->text = sv_make(s + ts, j - ts);
	w->end = j + 2;
	return 1;
}

/* The next encoded-word at or after i; clients decode them even when
 * text touches them, so no blank is required before. */
static int
ew_find(const char *s, size_t n, size_t i, size_t *at, struct ew *w)
{
	const char *q;

	while (i + 1 < n && (q = memchr(s + i, '=', n - i - 1)) != NULL) {
		i = (size_t)(q - s);
		if (s[i + 1] == '?' && ew_parse(s, n, i, w)) {
			*at = i;
			return 1;
		}
		i++;
	}
	return 0;
}

/* RFC 2047 4.2: "_" is a space, "=XX" a byte. */
static int
q_decode(struct sv t, struct buf *out)
{
	size_t i;
	int c;

	for (i = 0; i < t.n; i++) {
		if (t.p[i] == '_')
			c = ' ';
		else if (t.p[i] == '=' && (c = hexpair(t.p, t.n, i)) >= 0)
			i += 2;
		else
			c = (unsigned char)t.p[i];
		if (buf_try_putc(out, c) == -1)
			return -1;
	}
	return 0;
}

static int
all_blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
		    s[i] != '\n')
			return 0;
	return 1;
}

/* Text between encoded words: CR and LF go, 8-bit is UTF-8 or 1252. */
static int
plain_put(const char *s, size_t n, struct buf *out)
{
	size_t i = 0, j;

	while (i < n) {
		for (j = i; j < n && s[j] != '\r' && s[j] != '\n'; j++)
			;
		if (mime_raw_to_utf8(s + i, j - i, out) == -1)
			return -1;
		i = j + 1;
	}
	return 0;
}

/* Decoded bytes of adjacent words in one charset convert together: a
 * character split across two words (which RFC 2047 5 forbids, and
 * mailers do) comes out whole. */
static int
pend_flush(struct buf *pend, struct buf *cs, struct buf *out)
{
	int r = 0;

	if (pend->len > 0)
		r = mime_to_utf8(buf_cstr(cs), pend->data, pend->len, out);
	buf_reset(pend);
	return r;
}

static int
decode_words(const char *s, size_t n, struct buf *out, struct buf *pend,
    struct buf *cs)
{
	struct ew w;
	size_t i = 0, at;
	int found, prev = 0, junk;

	while (i < n) {
		found = ew_find(s, n, i, &at, &w);
		if (!found)
			at = n;
		/* RFC 2047 6.2: blanks between two encoded words go. */
		if (!(prev && found && all_blank(s + i, at - i))) {
			if (pend_flush(pend, cs, out) == -1 ||
			    plain_put(s + i, at - i, out) == -1)
				return -1;
		}
		if (!found)
			break;
		if (pend->len > 0 && !sv_caseeq(buf_sv(cs), w.charset) &&
		    pend_flush(pend, cs, out) == -1)
			return -1;
		if (buf_try_set(cs, w.charset.p, w.charset.n) == -1)
			return -1;
		junk = 0;
		if ((w.enc == 'b' ? b64_decode(w.text.p, w.text.n, pend,
		    &junk) : q_decode(w.text, pend)) == -1)
			return -1;
		prev = 1;
		i = w.end;
	}
	return pend_flush(pend, cs, out);
}

int
mime_decode_header(const char *s, size_t n, struct buf *out)
{
	struct buf pend, cs;
	size_t start = out->len, i, k;
	int r;

	buf_init(&pend, out->max);
	buf_init(&cs, 0);
	r = decode_words(s, n, out, &pend, &cs);
	buf_free(&pend);
	buf_free(&cs);
	/* No NUL survives into a decoded header. */
	for (i = k = start; i < out->len; i++)
		if (out->data[i] != '\0')
			out->data[k++] = out->data[i];
	buf_truncate(out, k);
	return r;
}
