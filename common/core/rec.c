/*
 * rec.c: name=value records with TAB-safe escaping.  The decoder trusts
 * nothing: it is fed authd protocol lines from other processes and records
 * read back from disk.
 */
#include <stdlib.h>
#include <string.h>

#include "chapar/log.h"
#include "chapar/rec.h"
#include "chapar/util.h"

#define REC_VAL_MAX (1024 * 1024)

void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
}

void
rec_clear(struct rec *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->names[i]);
		buf_free(&r->vals[i]);
	}
	r->n = 0;
}

void
rec_free(struct rec *r)
{
	rec_clear(r);
	free(r->names);
	free(r->vals);
	memset(r, 0, sizeof(*r));
}

void
rec_add(struct rec *r, const char *name, struct sv val)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->names = xreallocarray(r->names, r->cap, sizeof(char *));
		r->vals = xreallocarray(r->vals, r->cap, sizeof(struct buf));
	}
	r->names[r->n] = xstrdup(name);
	buf_init(&r->vals[r->n], REC_VAL_MAX);
	if (buf_try_append_sv(&r->vals[r->n], val) == -1)
		log_fatal("rec_add: value of %s too large", name);
	r->n++;
}

void
rec_pop(struct rec *r)
{
	if (r->n == 0)
		return;
	r->n--;
	free(r->names[r->n]);
	buf_free(&r->vals[r->n]);
}

static int
rec_find(const struct rec *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->names[i], name) == 0)
			return (int)i;
	return -1;
}

void
rec_set(struct rec *r, const char *name, struct sv val)
{
	int i = rec_find(r, name);

	if (i < 0) {
		rec_add(r, name, val);
		return;
	}
	if (buf_try_set(&r->vals[i], val.p, val.n) == -1)
		log_fatal("rec_set: value of %s too large", name);
}

void
rec_set_str(struct rec *r, const char *name, const char *val)
{
	rec_set(r, name, sv_from(val));
}

void
rec_set_u64(struct rec *r, const char *name, uint64_t v)
{
	char tmp[32];

	(void)xsnprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	rec_set_str(r, name, tmp);
}

void
rec_del(struct rec *r, const char *name)
{
	int i;

	while ((i = rec_find(r, name)) >= 0) {
		free(r->names[i]);
		buf_free(&r->vals[i]);
		memmove(&r->names[i], &r->names[i + 1],
		    (r->n - (size_t)i - 1) * sizeof(char *));
		memmove(&r->vals[i], &r->vals[i + 1],
		    (r->n - (size_t)i - 1) * sizeof(struct buf));
		r->n--;
	}
}

const struct buf *
rec_get(const struct rec *r, const char *name)
{
	int i = rec_find(r, name);

	return i < 0 ? NULL : &r->vals[i];
}

const char *
rec_get_str(const struct rec *r, const char *name)
{
	const struct buf *b = rec_get(r, name);

	return b ? buf_cstr(b) : NULL;
}

int
rec_get_u64(const struct rec *r, const char *name, uint64_t *out)
{
	const struct buf *b = rec_get(r, name);

	if (b == NULL)
		return -1;
	return parse_u64(buf_sv(b), UINT64_MAX, out);
}

void
tab_escape(struct buf *out, struct sv v)
{
	size_t i;
	int r = 0;

	for (i = 0; i < v.n && r == 0; i++) {
		switch (v.p[i]) {
		case '\\': r = buf_try_append(out, "\\\\", 2); break;
		case '\t': r = buf_try_append(out, "\\t", 2); break;
		case '\n': r = buf_try_append(out, "\\n", 2); break;
		case '\r': r = buf_try_append(out, "\\r", 2); break;
		case '\0': r = buf_try_append(out, "\\0", 2); break;
		default: r = buf_try_putc(out, v.p[i]); break;
		}
	}
	if (r == -1)
		log_fatal("tab_escape: output too large");
}

int
tab_unescape(struct sv v, struct buf *out)
{
	size_t i, start;
	char c;

	/* room for the most that can come out, when the limit allows */
	if (v.n <= out->max - out->len && buf_reserve(out, v.n) == -1)
		return -1;
	for (i = 0; i < v.n; i++) {
		/* a run of plain bytes in one copy */
		for (start = i; i < v.n && v.p[i] != '\\' && v.p[i] != '\t' &&
		    v.p[i] != '\n' && v.p[i] != '\r' && v.p[i] != '\0'; i++)
			;
		if (i > start && buf_try_append(out, v.p + start, i - start) == -1)
			return -1;
		if (i == v.n)
			break;
		c = v.p[i];
		if (c == '\t' || c == '\n' || c == '\r' || c == '\0')
			return -1;
		if (c == '\\') {
			if (++i == v.n)
				return -1;
			switch (v.p[i]) {
			case '\\': c = '\\'; break;
			case 't': c = '\t'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case '0': c = '\0'; break;
			default: return -1;
			}
		}
		if (buf_try_putc(out, c) == -1)
			return -1;
	}
	return 0;
}

int
tab_split(struct sv line, struct sv *fields, size_t max)
{
	struct sv head;
	size_t n = 0;
	int more = 1;

	while (more) {
		if (n == max)
			return -1;
		more = sv_split(&line, '\t', &head);
		fields[n++] = head;
	}
	return (int)n;
}

static int
valid_name(struct sv n)
{
	size_t i;

	if (n.n == 0 || n.n > 64)
		return 0;
	for (i = 0; i < n.n; i++)
		if (!((n.p[i] >= 'a' && n.p[i] <= 'z') ||
		    (n.p[i] >= '0' && n.p[i] <= '9') || n.p[i] == '_' ||
		    n.p[i] == '-'))
			return 0;
	return 1;
}

/* One "name=value" field into r, through the caller's buffers; skip:
 * names not to keep (NULL-terminated, or NULL), checked but not
 * unescaped. */
static int
decode_one(struct sv field, struct rec *r, struct buf *name, struct buf *val,
    const char *const *skip)
{
	struct sv rest = field, head;
	size_t k;

	if (!sv_split(&rest, '=', &head) || !valid_name(head))
		return -1;
	for (k = 0; skip != NULL && skip[k] != NULL; k++)
		if (sv_eq_str(head, skip[k]))
			return 0;
	buf_reset(val);
	if (tab_unescape(rest, val) == -1)
		return -1;
	buf_set(name, head.p, head.n);
	rec_add(r, buf_cstr(name), buf_sv(val));
	return 0;
}

int
rec_decode_fields(const struct sv *f, size_t n, struct rec *r)
{
	struct buf name, val;
	size_t i;
	int ret = 0;

	buf_init(&name, 128);
	buf_init(&val, REC_VAL_MAX);
	for (i = 0; i < n && ret == 0; i++)
		ret = decode_one(f[i], r, &name, &val, NULL);
	buf_free(&name);
	buf_free(&val);
	return ret;
}

int
rec_decode_except(struct sv text, struct rec *r, const char *const *skip)
{
	struct sv rest = text, field;
	struct buf name, val;
	size_t n = 0;
	int more = 1, ret = 0;

	rec_clear(r);
	if (text.n == 0)
		return 0;
	/* One field at a time: no array of REC_MAX_FIELDS views (a worker
	 * decodes small messages and should not touch 32 KB to do so); one
	 * pair of buffers for all of them. */
	buf_init(&name, 128);
	buf_init(&val, REC_VAL_MAX);
	while (more && ret == 0) {
		if (++n > REC_MAX_FIELDS) {
			ret = -1;
			break;
		}
		more = sv_split(&rest, '\t', &field);
		ret = decode_one(field, r, &name, &val, skip);
	}
	buf_free(&name);
	buf_free(&val);
	return ret;
}

int
rec_decode(struct sv text, struct rec *r)
{
	return rec_decode_except(text, r, NULL);
}

void
rec_encode(const struct rec *r, struct buf *out)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		if (i > 0 && buf_try_putc(out, '\t') == -1)
			log_fatal("rec_encode: output too large");
		if (buf_try_puts(out, r->names[i]) == -1 ||
		    buf_try_putc(out, '=') == -1)
			log_fatal("rec_encode: output too large");
		tab_escape(out, buf_sv(&r->vals[i]));
	}
}
