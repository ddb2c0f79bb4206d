/*
 * mime_addrlist.c: the walk of an RFC 5322 3.4 address list, with the
 * obsolete forms of 4.4 -- for IMAP's ENVELOPE, submission's From check,
 * sendmail -t and DKIM.
 *
 * Input is a header field's value from anyone.  The walk is linear in
 * its length (every step consumes a byte or stops), keeps no more than
 * the field, and hands each address to the caller as it finds it.
 */
#include <stdint.h>
#include <string.h>

#include "chapar/mime.h"
#include "chapar/util.h"

struct alist {
	const char *s;
	size_t n, i;
	struct buf phrase;	/* words joined with one space */
	struct buf local;	/* the same tokens joined with nothing */
	struct buf comment;	/* the last comment, for a name */
	struct buf adl, mbox, host;
	mime_addr_fn *fn;
	void *arg;
	size_t count;
	int space;		/* blanks before the current word */
};

static int
is_special(int c)
{
	return c <= ' ' || c == 0x7f || strchr("()<>[]:;@\\,.\"", c) != NULL;
}

/* Blanks and comments; the last comment's text is kept (inner
 * parentheses too, quoted-pairs undone), as Dovecot names an address by
 * its comment when it has no display name. */
static void
a_cfws(struct alist *a)
{
	int depth;

	for (;;) {
		while (a->i < a->n && (a->s[a->i] == ' ' ||
		    a->s[a->i] == '\t'))
			a->i++;
		if (a->i >= a->n || a->s[a->i] != '(')
			return;
		buf_reset(&a->comment);
		for (depth = 0; a->i < a->n; a->i++) {
			char c = a->s[a->i];

			if (c == '\\' && a->i + 1 < a->n)
				c = a->s[++a->i];
			else if (c == '(' && depth++ == 0)
				continue;
			else if (c == ')' && --depth == 0) {
				a->i++;
				break;
			}
			buf_putc(&a->comment, c);
		}
	}
}

/* A quoted-string's content, from its opening quote. */
static void
a_quoted(struct alist *a, struct buf *q)
{
	for (a->i++; a->i < a->n && a->s[a->i] != '"'; a->i++) {
		if (a->s[a->i] == '\\' && a->i + 1 < a->n)
			a->i++;
		buf_putc(q, a->s[a->i]);
	}
	if (a->i < a->n)
		a->i++;
}

/* A word or a dot: the phrase gets one space where the text had blanks
 * or comments before it, the local part none. */
static void
a_word(struct alist *a, const char *w, size_t n)
{
	if (a->space && a->phrase.len > 0)
		buf_putc(&a->phrase, ' ');
	buf_append(&a->phrase, w, n);
	buf_append(&a->local, w, n);
}

/* Words up to one of the specials that decide what this is: ":" group,
 * "<" angle-addr, "@" addr-spec, "," ";" or the end.  Returns that
 * character (0 at the end). */
static int
a_words(struct alist *a, int stop_at_colon)
{
	struct buf q;
	size_t s;
	int c;

	buf_reset(&a->phrase);
	buf_reset(&a->local);
	for (;;) {
		s = a->i;
		a_cfws(a);
		a->space = a->i != s;
		if (a->i >= a->n)
			return 0;
		c = (unsigned char)a->s[a->i];
		if (c == '<' || c == '@' || c == ',' || c == ';' ||
		    (c == ':' && stop_at_colon))
			return c;
		if (c == '"') {
			buf_init(&q, a->n + 1);
			a_quoted(a, &q);
			a_word(a, q.data != NULL ? q.data : "", q.len);
			buf_free(&q);
		} else if (c == '.')
			a_word(a, a->s + a->i++, 1);
		else if (is_special(c))
			a->i++;	/* stray: ignored */
		else {
			for (s = a->i; a->i < a->n &&
			    !is_special((unsigned char)a->s[a->i]); a->i++)
				;
			a_word(a, a->s + s, a->i - s);
		}
	}
}

/* A domain: dot-atoms and domain literals, blanks and comments dropped. */
static void
a_domain(struct alist *a, struct buf *d)
{
	size_t s;
	int c;

	buf_reset(d);
	for (;;) {
		a_cfws(a);
		if (a->i >= a->n)
			return;
		c = (unsigned char)a->s[a->i];
		if (c == ',' || c == ';' || c == '>' || c == '<' || c == ':' ||
		    c == '@' || c == '"')
			return;
		if (c == '[') {
			for (s = a->i; a->i < a->n && a->s[a->i] != ']'; a->i++)
				if (a->s[a->i] == '\\' && a->i + 1 < a->n)
					a->i++;
			if (a->i < a->n)
				a->i++;
			buf_append(d, a->s + s, a->i - s);
		} else if (c == '.' || !is_special(c)) {
			for (s = a->i++; a->i < a->n &&
			    !is_special((unsigned char)a->s[a->i]); a->i++)
				;
			buf_append(d, a->s + s, a->i - s);
		} else
			a->i++;
	}
}

/* One address to the caller. */
static void
a_emit(struct alist *a, const struct buf *name, const struct buf *adl,
    const struct buf *mbox, const struct buf *host)
{
	a->fn(a->arg, name, adl, mbox, host);
	a->count++;
}

/* The display name: the phrase, else the comment, else NIL. */
static const struct buf *
a_name(const struct alist *a, int with_phrase)
{
	if (with_phrase && a->phrase.len > 0)
		return &a->phrase;
	return a->comment.len > 0 ? &a->comment : NULL;
}

/* The ":" ending an obs-route (RFC 5322 4.4) at a->i, or 0.  The scan
 * stops at what no route holds, so a run of "<@" costs linear time. */
static size_t
route_end(const struct alist *a)
{
	size_t i;

	for (i = a->i; i < a->n; i++) {
		if (a->s[i] == ':')
			return i;
		if (strchr("<>;\"(", a->s[i]) != NULL || a->s[i] == '\0')
			return 0;
	}
	return 0;
}

/* angle-addr = "<" [obs-route] addr-spec ">" (RFC 5322 3.4, 4.4). */
static void
a_angle(struct alist *a)
{
	struct buf name;
	size_t e;
	int c;

	buf_init(&name, a->n + 1);
	buf_append(&name, a->phrase.data, a->phrase.len);
	buf_reset(&a->adl);
	a->i++;
	a_cfws(a);
	if (a->i < a->n && a->s[a->i] == '@' && (e = route_end(a)) > 0) {
		/* obs-route: "@a,@b:", blanks dropped. */
		for (; a->i < e; a->i++)
			if (a->s[a->i] != ' ' && a->s[a->i] != '\t')
				buf_putc(&a->adl, a->s[a->i]);
		a->i++;
	}
	c = a_words(a, 0);
	buf_reset(&a->mbox);
	buf_append(&a->mbox, a->local.data, a->local.len);
	buf_reset(&a->host);
	if (c == '@') {
		a->i++;
		a_domain(a, &a->host);
	}
	a_cfws(a);
	if (a->i < a->n && a->s[a->i] == '>')
		a->i++;
	a_cfws(a);
	/* "<>" is no address. */
	if (a->mbox.len > 0 || a->host.len > 0) {
		buf_reset(&a->phrase);
		buf_append(&a->phrase, name.data, name.len);
		a_emit(a, a_name(a, 1), a->adl.len > 0 ? &a->adl : NULL,
		    &a->mbox, a->host.len > 0 ? &a->host : NULL);
	}
	buf_free(&name);
}

/* One mailbox or group start; returns 1 if a group started. */
static int
a_one(struct alist *a, int in_group)
{
	int c;

	buf_reset(&a->comment);
	c = a_words(a, !in_group);
	if (c == ':') {
		/* RFC 3501 7.4.2: a group start has a NIL host and the group
		 * name as mailbox. */
		a->i++;
		a_emit(a, NULL, NULL, &a->phrase, NULL);
		return 1;
	}
	if (c == '<') {
		a_angle(a);
		return 0;
	}
	if (c == '@') {
		buf_reset(&a->mbox);
		buf_append(&a->mbox, a->local.data, a->local.len);
		a->i++;
		a_domain(a, &a->host);
		a_cfws(a);
		if (a->mbox.len > 0 || a->host.len > 0)
			a_emit(a, a_name(a, 0), NULL, &a->mbox,
			    a->host.len > 0 ? &a->host : NULL);
		return 0;
	}
	/* No "@": an address without a domain, host NIL (note that RFC 3501
	 * reads such a structure as a group start). */
	if (a->phrase.len > 0)
		a_emit(a, a_name(a, 0), NULL, &a->phrase, NULL);
	return 0;
}

/* The walk of an address list: what a_emit does with each address is
 * set by the caller. */
static void
addr_walk(struct alist *ap, const char *s, size_t n)
{
	struct alist a = *ap;
	size_t before;
	int in_group = 0;

	a.s = s;
	a.n = n;
	/* Each holds bytes of the field, each at most once (a space in the
	 * phrase stands for blanks or a comment): never more than n, which
	 * may pass the default limit (DKIM reads a From field of any size). */
	buf_init(&a.phrase, n + 1);
	buf_init(&a.local, n + 1);
	buf_init(&a.comment, n + 1);
	buf_init(&a.adl, n + 1);
	buf_init(&a.mbox, n + 1);
	buf_init(&a.host, n + 1);
	while (a.i < a.n) {
		before = a.i;
		if (a.s[a.i] == ',' || (a.s[a.i] == ';' && !in_group)) {
			a.i++;
			continue;
		}
		if (a.s[a.i] == ';') {
			a.i++;
			in_group = 0;
			a_emit(&a, NULL, NULL, NULL, NULL);
			continue;
		}
		if (a_one(&a, in_group))
			in_group = 1;
		if (a.i == before)
			a.i++;	/* never stall on a stray byte */
	}
	if (in_group)
		a_emit(&a, NULL, NULL, NULL, NULL);
	buf_free(&a.phrase);
	buf_free(&a.local);
	buf_free(&a.comment);
	buf_free(&a.adl);
	buf_free(&a.mbox);
	buf_free(&a.host);
	ap->count = a.count;
}

size_t
mime_addr_walk(const char *s, size_t n, mime_addr_fn *fn, void *arg)
{
	struct alist a;

	memset(&a, 0, sizeof(a));
	a.fn = fn;
	a.arg = arg;
	addr_walk(&a, s, n);
	return a.count;
}

struct each {
	void (*fn)(void *, const struct buf *, const struct buf *);
	void *arg;
};

/* mailboxes only: not a group's start or end */
static void
each_one(void *arg, const struct buf *name, const struct buf *adl,
    const struct buf *mbox, const struct buf *host)
{
	struct each *e = arg;

	(void)name;
	(void)adl;
	if (mbox != NULL && host != NULL)
		e->fn(e->arg, mbox, host);
}

size_t
mime_addr_each(const char *s, size_t n, void (*fn)(void *,
    const struct buf *mbox, const struct buf *host), void *arg)
{
	struct each e;

	e.fn = fn;
	e.arg = arg;
	return mime_addr_walk(s, n, each_one, &e);
}
