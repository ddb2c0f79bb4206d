/*
 * buf.c: the growable bounded byte buffer and explicit-length string views.
 *
 * Trusts nothing about its input bytes; trusts callers to pass a valid
 * struct buf.  Overflow of size arithmetic is checked before every growth.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/buf.h"
#include "chapar/log.h"
#include "chapar/util.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : BUF_DEFAULT_MAX;
	if (b->max > SIZE_MAX / 4)
		b->max = SIZE_MAX / 4;
}

void
buf_free(struct buf *b)
{
	if (b->data != NULL) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

/* Make room for extra more bytes plus the NUL.  -1 if over the limit. */
int
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *nd;

	if (extra > b->max || b->len > b->max - extra)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	/* Never allocate far beyond the limit. */
	if (ncap > b->max + 1 && need <= b->max + 1)
		ncap = b->max + 1;
	/* Not realloc: the old block may hold a password or a message, and
	 * realloc would hand it back to malloc unwiped. */
	nd = xmalloc(ncap);
	if (b->data != NULL) {
		memcpy(nd, b->data, b->len + 1);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	} else
		nd[0] = '\0';	/* buf_cstr of a reserved, empty buf */
	b->data = nd;
	b->cap = ncap;
	return 0;
}

int
buf_try_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_try_puts(struct buf *b, const char *s)
{
	return buf_try_append(b, s, strlen(s));
}

int
buf_try_putc(struct buf *b, int c)
{
	char ch = (char)c;

	/* the common case, room already there (and under max, which
	 * buf_reserve checked when it made the room) */
	if (b->len + 2 <= b->cap && b->len < b->max) {
		b->data[b->len++] = ch;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_try_append(b, &ch, 1);
}

int
buf_try_set(struct buf *b, const void *p, size_t n)
{
	buf_reset(b);
	return buf_try_append(b, p, n);
}

int
buf_try_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -1;
	if (buf_reserve(b, (size_t)n) == -1)
		return -1;
	if (vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap) != n)
		return -1;
	b->len += (size_t)n;
	return 0;
}

int
buf_try_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_try_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int
buf_try_append_sv(struct buf *b, struct sv v)
{
	return buf_try_append(b, v.p, v.n);
}

/* A program-sized append did not fit: the limit was chosen wrong. */
static void __attribute__((noreturn))
overflow(const struct buf *b, size_t n)
{
	log_panic("buffer overflow: %zu bytes more into %zu of at most %zu",
	    n, b->len, b->max);
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_try_append(b, p, n) == -1)
		overflow(b, n);
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_putc(struct buf *b, int c)
{
	if (buf_try_putc(b, c) == -1)
		overflow(b, 1);
}

void
buf_set(struct buf *b, const void *p, size_t n)
{
	buf_reset(b);
	buf_append(b, p, n);
}

void
buf_append_sv(struct buf *b, struct sv v)
{
	buf_append(b, v.p, v.n);
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	if (buf_try_vprintf(b, fmt, ap) == -1)
		overflow(b, 0);
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
buf_cut_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	size_t room, start = b->len, p;
	int n;

	va_copy(ap2, ap);
	n = buf_try_vprintf(b, fmt, ap2);
	va_end(ap2);
	if (n == 0)
		return;
	room = b->max - b->len;
	if (room == 0 || buf_reserve(b, room) == -1)
		return;
	n = vsnprintf(b->data + b->len, room + 1, fmt, ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return;
	}
	b->len += (size_t)n < room ? (size_t)n : room;
	if ((size_t)n <= room || room < 3)
		return;
	/* "..." over the last bytes, and over the whole of a UTF-8
	 * sequence it would cut in two */
	p = b->len - 3;
	while (p > start && ((unsigned char)b->data[p] & 0xc0) == 0x80)
		p--;
	memcpy(b->data + p, "...", 3);
	b->len = p + 3;
	b->data[b->len] = '\0';
}

void
buf_cut_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_cut_vprintf(b, fmt, ap);
	va_end(ap);
}

char *
buf_end(struct buf *b)
{
	return b->data + b->len;
}

size_t
buf_room(const struct buf *b)
{
	return b->cap > b->len ? b->cap - b->len - 1 : 0;
}

void
buf_commit(struct buf *b, size_t n)
{
	if (n > buf_room(b))
		log_panic("buf_commit: %zu bytes past the room", n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

struct sv
buf_sv(const struct buf *b)
{
	return sv_make(buf_cstr(b), b->len);
}

char *
buf_detach(struct buf *b)
{
	char *p;

	if (b->data == NULL)
		return xstrdup("");
	p = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

struct sv
sv_from(const char *s)
{
	return sv_make(s, strlen(s));
}

struct sv
sv_make(const void *p, size_t n)
{
	struct sv v;

	v.p = p;
	v.n = n;
	return v;
}

int
sv_eq(struct sv a, struct sv b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

int
sv_eq_str(struct sv a, const char *s)
{
	return sv_eq(a, sv_from(s));
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ASCII-only case-insensitive comparison, as protocol keywords need. */
int
sv_caseeq(struct sv a, struct sv b)
{
	size_t i;

	if (a.n != b.n)
		return 0;
	for (i = 0; i < a.n; i++)
		if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i]))
			return 0;
	return 1;
}

int
sv_caseeq_str(struct sv a, const char *s)
{
	return sv_caseeq(a, sv_from(s));
}

int
sv_has_prefix_case(struct sv a, const char *prefix)
{
	size_t n = strlen(prefix);

	return a.n >= n && sv_caseeq(sv_make(a.p, n), sv_make(prefix, n));
}

static int
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	    c == '\v';
}

struct sv
sv_trim(struct sv v)
{
	while (v.n > 0 && is_space((unsigned char)v.p[0])) {
		v.p++;
		v.n--;
	}
	while (v.n > 0 && is_space((unsigned char)v.p[v.n - 1]))
		v.n--;
	return v;
}

int
sv_split(struct sv *v, int c, struct sv *head)
{
	const char *q;

	q = v->n > 0 ? memchr(v->p, c, v->n) : NULL;
	if (q == NULL) {
		*head = *v;
		v->p += v->n;
		v->n = 0;
		return 0;
	}
	*head = sv_make(v->p, (size_t)(q - v->p));
	v->n -= (size_t)(q - v->p) + 1;
	v->p = q + 1;
	return 1;
}

char *
sv_strdup(struct sv v)
{
	char *p;

	p = xmalloc(v.n + 1);
	if (v.n > 0)
		memcpy(p, v.p, v.n);
	p[v.n] = '\0';
	return p;
}

int
sv_has_nul(struct sv v)
{
	return v.n > 0 && memchr(v.p, '\0', v.n) != NULL;
}

int
parse_u64(struct sv v, uint64_t max, uint64_t *out)
{
	uint64_t r = 0;
	size_t i;
	unsigned d;

	if (v.n == 0)
		return -1;
	for (i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		d = (unsigned)(v.p[i] - '0');
		if (d > max || r > (max - d) / 10)
			return -1;
		r = r * 10 + d;
	}
	*out = r;
	return 0;
}
