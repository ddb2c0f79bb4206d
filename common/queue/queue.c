/*
 * queue.c: queue ids and paths, the envelope format and the enqueue
 * protocol's frames (queue.h, chapar-queue(5)).  Parsers trust nothing:
 * an envelope comes from smtpd, which talks to the Internet.
 */
#include <sys/stat.h>
#include <sys/uio.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/addr.h"
#include "chapar/queue.h"
#include "chapar/util.h"

void
queue_id_make(uint64_t sec, uint32_t usec, uint64_t serial,
    char id[QUEUE_ID_MAX])
{
	(void)xsnprintf(id, QUEUE_ID_MAX, "%08llX%05X%llX",
	    (unsigned long long)(sec & 0xffffffffu), usec & 0xfffffu,
	    (unsigned long long)serial);
}

int
queue_id_ok(const char *id)
{
	size_t i, n = strlen(id);

	if (n < 14 || n >= QUEUE_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'A' && id[i] <= 'F')))
			return 0;
	return 1;
}

void
queue_path(const char *kind, const char *id, struct buf *out)
{
	buf_reset(out);
	if (strcmp(kind, "mess") == 0 || strcmp(kind, "info") == 0)
		buf_printf(out, "%s/%c/%s", kind, id[strlen(id) - 1],
		    id);
	else
		buf_printf(out, "%s/%s", kind, id);
}

/* --- walking the queue -------------------------------------------------- */

int
queue_walk(int which, queue_walk_fn *fn, void *arg)
{
	struct dirent *de;
	char dir[16];
	int h, r = 0;
	DIR *d;

	for (h = -1; h < 16 && r == 0; h++) {
		if (h == -1 && !(which & QUEUE_WALK_TODO))
			continue;
		if (h >= 0 && !(which & QUEUE_WALK_INFO))
			break;
		if (h == -1)
			(void)xsnprintf(dir, sizeof(dir), "todo");
		else
			(void)xsnprintf(dir, sizeof(dir), "info/%X", h);
		if ((d = opendir(dir)) == NULL)
			continue;
		while (r == 0 && (de = readdir(d)) != NULL)
			if (queue_id_ok(de->d_name))
				r = fn(arg, h == -1 ? "todo" : "info",
				    de->d_name);
		closedir(d);
	}
	return r;
}

int
queue_env_load(const char *where, const char *id, struct queue_env *e,
    struct buf *err)
{
	struct buf p, text;
	const char *why;
	int r = -1;

	buf_init(&p, 256);
	buf_init(&text, QUEUE_ENV_MAX + 1);
	queue_path(where, id, &p);
	buf_reset(err);
	if (file_read(buf_cstr(&p), QUEUE_ENV_MAX, &text) == -1)
		buf_printf(err, "%s: %s", buf_cstr(&p),
		    strerror(errno));
	else if (queue_env_parse(buf_sv(&text), e, &why) == -1)
		buf_printf(err, "%s: envelope: %s", buf_cstr(&p),
		    why);
	else
		r = 0;
	buf_free(&p);
	buf_free(&text);
	return r;
}

/* --- the envelope -------------------------------------------------------- */

void
queue_env_init(struct queue_env *e)
{
	memset(e, 0, sizeof(*e));
	rec_init(&e->head);
}

void
queue_env_free(struct queue_env *e)
{
	size_t i;

	rec_free(&e->head);
	for (i = 0; i < e->nrcpt; i++)
		rec_free(&e->rcpts[i]);
	free(e->rcpts);
	memset(e, 0, sizeof(*e));
}

static int
one_of(const char *v, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(v, *list) == 0)
			return 1;
	return 0;
}

static int
is_number(const char *v)
{
	uint64_t n;

	return parse_u64(sv_from(v), UINT64_MAX, &n) == 0;
}

static int
addr_ok(const char *v, int flags, int may_be_empty)
{
	struct addr a;
	const char *e;
	int r;

	if (v[0] == '\0')
		return may_be_empty;
	addr_init(&a);
	r = addr_parse(sv_from(v), flags, &a, &e) == 0;
	addr_free(&a);
	return r;
}

/* Printable ASCII or UTF-8 text without controls. */
static int
text_ok(const char *v, size_t max)
{
	size_t n = strlen(v), i;

	if (n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return 0;
	return 1;
}

/* RFC 5322 2.2: "Name: value", the name printable ASCII without ":",
 * the value text without line breaks; at most 998 bytes in all. */
int
queue_header_ok(const char *h)
{
	size_t i;

	for (i = 0; h[i] > ' ' && h[i] < 0x7f && h[i] != ':'; i++)
		;
	return i > 0 && i < 997 && h[i] == ':' && text_ok(h + i + 1, 997 - i);
}

static const char *
check_head(const struct rec *r, int *flags)
{
	static const char *const bodies[] = { "7BIT", "8BITMIME",
		"BINARYMIME", NULL };
	static const char *const rets[] = { "FULL", "HDRS", NULL };
	const char *n, *v;
	size_t i;
	int have_v = 0, have_sender = 0;

	*flags = 0;
	if (rec_get_str(r, "smtputf8") != NULL)
		*flags = ADDR_UTF8;
	for (i = 0; i < r->n; i++) {
		n = r->names[i];
		v = buf_cstr(&r->vals[i]);
		if (strcmp(n, "v") == 0) {
			if (strcmp(v, "1") != 0)
				return "unknown envelope version";
			have_v = 1;
		} else if (strcmp(n, "sender") == 0) {
			if (!addr_ok(v, *flags, 1))
				return "bad sender address";
			have_sender = 1;
		} else if (strcmp(n, "body") == 0) {
			if (!one_of(v, bodies))
				return "bad body type";
		} else if (strcmp(n, "smtputf8") == 0 ||
		    strcmp(n, "double") == 0) {
			if (strcmp(v, "1") != 0)
				return "bad flag";
		} else if (strcmp(n, "ret") == 0) {
			if (!one_of(v, rets))
				return "bad ret";
		} else if (strcmp(n, "hold") == 0 || strcmp(n, "size") == 0 ||
		    strcmp(n, "time") == 0 || strcmp(n, "uid") == 0 ||
		    strcmp(n, "tries") == 0 || strcmp(n, "next") == 0 ||
		    strcmp(n, "held") == 0 || strcmp(n, "warned") == 0) {
			if (!is_number(v))
				return "bad number";
		} else if (strcmp(n, "envid") == 0 || strcmp(n, "auth") == 0 ||
		    strcmp(n, "client") == 0 || strcmp(n, "helo") == 0 ||
		    strcmp(n, "protocol") == 0 || strcmp(n, "tls") == 0 ||
		    strcmp(n, "quarantine") == 0) {
			if (!text_ok(v, 1024))
				return "bad text field";
		} else if (strcmp(n, "header") == 0) {
			if (!queue_header_ok(v))
				return "bad header field";
		} else
			return "unknown envelope field";
	}
	if (!have_v || !have_sender)
		return "envelope without v= or sender=";
	return NULL;
}

static const char *
check_rcpt(const struct rec *r, int flags)
{
	const char *n, *v;
	size_t i;
	int have = 0;

	for (i = 0; i < r->n; i++) {
		n = r->names[i];
		v = buf_cstr(&r->vals[i]);
		if (strcmp(n, "rcpt") == 0) {
			if (have || !addr_ok(v, flags | ADDR_ALLOW_NODOMAIN, 0))
				return "bad recipient address";
			have = 1;
		} else if (strcmp(n, "notify") == 0 ||
		    strcmp(n, "orcpt") == 0 || strcmp(n, "dsn") == 0) {
			if (!text_ok(v, 1024))
				return "bad recipient field";
		} else if (strcmp(n, "reply") == 0) {
			if (!text_ok(v, 4096))
				return "bad recipient field";
		} else if (strcmp(n, "state") == 0) {
			if (strcmp(v, "sent") != 0 && strcmp(v, "failed") != 0)
				return "bad recipient state";
		} else if (strcmp(n, "notified") == 0 ||
		    strcmp(n, "relayed") == 0 || strcmp(n, "peer_dsn") == 0) {
			if (strcmp(v, "1") != 0)
				return "bad recipient flag";
		} else
			return "unknown recipient field";
	}
	return have ? NULL : "recipient line without rcpt=";
}

int
queue_env_amend(struct queue_env *e, struct sv text, const char **error_r)
{
	struct rec add;
	size_t i, n0 = e->head.n;
	int flags;

	rec_init(&add);
	*error_r = NULL;
	if (rec_decode(text, &add) == -1)
		*error_r = "malformed envelope fields";
	for (i = 0; i < add.n && *error_r == NULL; i++) {
		if (strcmp(add.names[i], "quarantine") != 0 &&
		    strcmp(add.names[i], "header") != 0)
			*error_r = "only quarantine= and header= may be added";
		else
			rec_add(&e->head, add.names[i], buf_sv(&add.vals[i]));
	}
	if (*error_r == NULL)
		*error_r = check_head(&e->head, &flags);
	if (*error_r != NULL)
		while (e->head.n > n0)
			rec_pop(&e->head);
	rec_free(&add);
	return *error_r == NULL ? 0 : -1;
}

void
queue_reply_status(int code, const char *text, char out[16])
{
	size_t n = strspn(text, "0123456789.");

	/* RFC 3463 2: class.subject.detail, the class the reply's */
	if (n >= 5 && n < 12 && text[0] == '0' + code / 100 && text[1] == '.')
		(void)xsnprintf(out, 16, "%.*s", (int)n, text);
	else
		(void)xsnprintf(out, 16, "%d.0.0", code / 100);
}

int
queue_entry_check(const char *id, const char **error_r)
{
	struct queue_env e;
	struct buf path, text;
	struct stat st;
	uint64_t size;
	int r = -1;

	if (!queue_id_ok(id)) {
		*error_r = "not a queue id";
		return -1;
	}
	buf_init(&path, 256);
	buf_init(&text, QUEUE_ENV_MAX + 1);
	queue_env_init(&e);
	queue_path("todo", id, &path);
	if (file_read(buf_cstr(&path), QUEUE_ENV_MAX, &text) == -1)
		*error_r = "envelope unreadable";
	else if (queue_env_parse(buf_sv(&text), &e, error_r) == -1)
		;
	else if (rec_get_u64(&e.head, "size", &size) == -1)
		*error_r = "envelope without size=";
	else {
		queue_path("mess", id, &path);
		if (stat(buf_cstr(&path), &st) == -1)
			*error_r = "message file missing";
		else if ((uint64_t)st.st_size != size)
			*error_r = "message file shorter or longer than size=";
		else
			r = 0;
	}
	queue_env_free(&e);
	buf_free(&path);
	buf_free(&text);
	return r;
}

int
queue_env_parse(struct sv text, struct queue_env *e, const char **error_r)
{
	struct sv line;
	const char *nl;
	size_t cap = 0;
	int first = 1, flags = 0;

	queue_env_free(e);
	queue_env_init(e);
	*error_r = NULL;
	if (text.n > QUEUE_ENV_MAX || sv_has_nul(text)) {
		*error_r = "envelope too long or with NUL bytes";
		return -1;
	}
	while (text.n > 0) {
		nl = memchr(text.p, '\n', text.n);
		if (nl == NULL) {
			*error_r = "envelope line without its end";
			return -1;
		}
		line = sv_make(text.p, (size_t)(nl - text.p));
		text.p = nl + 1;
		text.n -= line.n + 1;
		if (first) {
			if (rec_decode(line, &e->head) == -1 ||
			    (*error_r = check_head(&e->head, &flags)) != NULL) {
				if (*error_r == NULL)
					*error_r = "malformed envelope line";
				return -1;
			}
			first = 0;
			continue;
		}
		if (e->nrcpt == QUEUE_RCPT_MAX) {
			*error_r = "too many recipients";
			return -1;
		}
		if (e->nrcpt == cap) {
			cap = cap ? cap * 2 : 16;
			e->rcpts = xreallocarray(e->rcpts, cap,
			    sizeof(*e->rcpts));
		}
		rec_init(&e->rcpts[e->nrcpt]);
		e->nrcpt++;
		if (rec_decode(line, &e->rcpts[e->nrcpt - 1]) == -1 ||
		    (*error_r = check_rcpt(&e->rcpts[e->nrcpt - 1], flags)) !=
		    NULL) {
			if (*error_r == NULL)
				*error_r = "malformed recipient line";
			return -1;
		}
	}
	if (first || e->nrcpt == 0) {
		*error_r = "envelope without recipients";
		return -1;
	}
	return 0;
}

int
queue_env_format(const struct queue_env *e, struct buf *out)
{
	struct buf line;
	size_t i, lim = out->max < QUEUE_ENV_MAX ? out->max : QUEUE_ENV_MAX;
	int r = 0;

	/* Replies (the other servers'), filters' fields and recipients
	 * grow an envelope after it was first parsed: one longer than
	 * queue_env_parse takes would never be read back. */
	buf_reset(out);
	buf_init(&line, QUEUE_ENV_MAX);
	for (i = 0; i <= e->nrcpt && r == 0; i++) {
		buf_reset(&line);
		rec_encode(i == 0 ? &e->head : &e->rcpts[i - 1], &line);
		if (line.len >= lim - out->len ||
		    buf_try_append(out, line.data, line.len) == -1 ||
		    buf_try_putc(out, '\n') == -1)
			r = -1;
	}
	buf_free(&line);
	if (r == -1)
		buf_reset(out);
	return r;
}

/* --- frames -------------------------------------------------------------- */

static int
known(int type)
{
	return type == QF_ENVELOPE || type == QF_DATA || type == QF_COMMIT ||
	    type == QF_ABORT || type == QF_ID || type == QF_OK ||
	    type == QF_FAIL;
}

int
queue_frame_write(int fd, int type, const void *p, size_t n)
{
	return queue_frame_write2(fd, type, p, n, 0);
}

static void
frame_head(unsigned char h[5], int type, size_t n)
{
	h[0] = (unsigned char)type;
	h[1] = (unsigned char)(n >> 24);
	h[2] = (unsigned char)(n >> 16);
	h[3] = (unsigned char)(n >> 8);
	h[4] = (unsigned char)n;
}

/* A frame, and when type2 is not 0 an empty frame of that type after
 * it, in one system call. */
int
queue_frame_write2(int fd, int type, const void *p, size_t n, int type2)
{
	unsigned char h[5], h2[5];
	struct iovec iov[3];

	if (n > QUEUE_FRAME_MAX)
		return -1;
	frame_head(h, type, n);
	frame_head(h2, type2, 0);
	iov[0].iov_base = h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = (void *)(uintptr_t)p;
	iov[1].iov_len = n;
	iov[2].iov_base = h2;
	iov[2].iov_len = type2 != 0 ? sizeof(h2) : 0;
	return writev_all(fd, iov, 3);
}

ssize_t
queue_frame_take(const struct buf *in, size_t off, int *type,
    struct sv *payload)
{
	const unsigned char *h;
	size_t n;

	if (in->len < off + 5)
		return 0;
	h = (const unsigned char *)in->data + off;
	n = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
	if (!known(h[0]) || n > QUEUE_FRAME_MAX)
		return -1;
	if (in->len - off - 5 < n)
		return 0;
	*type = h[0];
	*payload = sv_make(in->data + off + 5, n);
	return (ssize_t)(n + 5);
}
