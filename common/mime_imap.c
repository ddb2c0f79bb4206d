/*
 * mime_imap.c: the IMAP views of a parsed message, ENVELOPE and
 * BODY/BODYSTRUCTURE (RFC 3501 7.4.2 and 9, RFC 9051 7.5.2), with the
 * RFC 5322 3.4 address lists ENVELOPE wants.
 *
 * Input is the tree mime.c built and the header text it points into, from
 * anyone.  Strings go out as IMAP quoted strings, or literals when they
 * hold CR, LF or 8-bit bytes; NUL never goes out.  Recursion follows the
 * tree, so it is bounded by MIME_MAX_DEPTH.
 */
#include <stdint.h>
#include <string.h>

#include "chapar/mime.h"
#include "chapar/util.h"
#include "mime_int.h"

int
mime_imap_nstring(struct buf *b, const char *s, size_t n)
{
	size_t i, nul = 0;
	int lit = 0;
	unsigned char c;

	if (s == NULL)
		return buf_puts(b, "NIL");
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '\0')
			nul++;
		else if (c == '\r' || c == '\n' || c >= 0x80)
			lit = 1;
	}
	if (lit) {
		/* RFC 3501 4.3: a literal, counted in octets. */
		if (buf_printf(b, "{%zu}\r\n", n - nul) == -1)
			return -1;
		for (i = 0; i < n; i++)
			if (s[i] != '\0' && buf_putc(b, s[i]) == -1)
				return -1;
		return 0;
	}
	/* RFC 3501 9: quoted-specials are escaped. */
	if (buf_putc(b, '"') == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] == '\0')
			continue;
		if ((s[i] == '"' || s[i] == '\\') && buf_putc(b, '\\') == -1)
			return -1;
		if (buf_putc(b, s[i]) == -1)
			return -1;
	}
	return buf_putc(b, '"');
}

int
mime_imap_str(struct buf *b, const char *s)
{
	return mime_imap_nstring(b, s, s != NULL ? strlen(s) : 0);
}

/* An upper-case quoted string, for the names RFC 3501 shows that way. */
static int
imap_upper(struct buf *b, const char *s)
{
	struct buf u;
	size_t i;
	int r;

	buf_init(&u, 0);
	for (i = 0; s[i] != '\0'; i++)
		(void)buf_putc(&u, s[i] >= 'a' && s[i] <= 'z' ?
		    s[i] - ('a' - 'A') : s[i]);
	r = mime_imap_nstring(b, u.data != NULL ? u.data : "", u.len);
	buf_free(&u);
	return r;
}

/* --- addresses (RFC 5322 3.4, with the obsolete forms of 4.4) ---------- */

struct alist {
	const char *s;
	size_t n, i;
	struct buf phrase;	/* words joined with one space */
	struct buf local;	/* the same tokens joined with nothing */
	struct buf comment;	/* the last comment, for a name */
	struct buf adl, mbox, host;
	struct buf *out;	/* IMAP structures, or: */
	void (*fn)(void *, const struct buf *mbox, const struct buf *host);
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
			(void)buf_putc(&a->comment, c);
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
		(void)buf_putc(q, a->s[a->i]);
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
		(void)buf_putc(&a->phrase, ' ');
	(void)buf_append(&a->phrase, w, n);
	(void)buf_append(&a->local, w, n);
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
			buf_init(&q, 0);
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
			(void)buf_append(d, a->s + s, a->i - s);
		} else if (c == '.' || !is_special(c)) {
			for (s = a->i++; a->i < a->n &&
			    !is_special((unsigned char)a->s[a->i]); a->i++)
				;
			(void)buf_append(d, a->s + s, a->i - s);
		} else
			a->i++;
	}
}

/* One address structure: ( name adl mailbox host ), RFC 3501 7.4.2. */
static void
a_emit(struct alist *a, const struct buf *name, const struct buf *adl,
    const struct buf *mbox, const struct buf *host)
{
	struct buf *o = a->out;

	if (a->fn != NULL) {
		/* mailboxes only: not a group's start or end */
		if (mbox != NULL && host != NULL)
			a->fn(a->arg, mbox, host);
		a->count++;
		return;
	}
#define NS(b) ((b) != NULL ? buf_cstr(b) : NULL), ((b) != NULL ? (b)->len : 0)
	(void)buf_putc(o, '(');
	(void)mime_imap_nstring(o, NS(name));
	(void)buf_putc(o, ' ');
	(void)mime_imap_nstring(o, NS(adl));
	(void)buf_putc(o, ' ');
	(void)mime_imap_nstring(o, NS(mbox));
	(void)buf_putc(o, ' ');
	(void)mime_imap_nstring(o, NS(host));
	(void)buf_putc(o, ')');
#undef NS
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

	buf_init(&name, 0);
	(void)buf_append(&name, a->phrase.data, a->phrase.len);
	buf_reset(&a->adl);
	a->i++;
	a_cfws(a);
	if (a->i < a->n && a->s[a->i] == '@' && (e = route_end(a)) > 0) {
		/* obs-route: "@a,@b:", blanks dropped. */
		for (; a->i < e; a->i++)
			if (a->s[a->i] != ' ' && a->s[a->i] != '\t')
				(void)buf_putc(&a->adl, a->s[a->i]);
		a->i++;
	}
	c = a_words(a, 0);
	buf_reset(&a->mbox);
	(void)buf_append(&a->mbox, a->local.data, a->local.len);
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
		(void)buf_append(&a->phrase, name.data, name.len);
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
		(void)buf_append(&a->mbox, a->local.data, a->local.len);
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
	buf_init(&a.phrase, 0);
	buf_init(&a.local, 0);
	buf_init(&a.comment, 0);
	buf_init(&a.adl, 0);
	buf_init(&a.mbox, 0);
	buf_init(&a.host, 0);
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

/* An address list, "(" 1*address ")" or NIL when it holds none. */
static size_t
addr_list(const char *s, size_t n, struct buf *out)
{
	struct alist a;
	size_t mark = out->len;

	memset(&a, 0, sizeof(a));
	a.out = out;
	(void)buf_putc(out, '(');
	addr_walk(&a, s, n);
	if (a.count == 0) {
		buf_truncate(out, mark);
		(void)buf_puts(out, "NIL");
	} else
		(void)buf_putc(out, ')');
	return a.count;
}

size_t
mime_addr_each(const char *s, size_t n, void (*fn)(void *,
    const struct buf *mbox, const struct buf *host), void *arg)
{
	struct alist a;

	memset(&a, 0, sizeof(a));
	a.fn = fn;
	a.arg = arg;
	addr_walk(&a, s, n);
	return a.count;
}

/* --- ENVELOPE -------------------------------------------------------- */

static void
env_string(const struct mime_msg *m, const struct mime_part *p,
    const char *name, struct buf *out)
{
	struct buf v;

	buf_init(&v, MIME_MAX_HEADER + 1);
	if (mime_header_get(m, p, name, &v) == 0)
		(void)mime_imap_nstring(out, buf_cstr(&v), v.len);
	else
		(void)buf_puts(out, "NIL");
	buf_free(&v);
}

/* An address field into out; how many addresses it held (0 also when
 * the field is absent: out then has NIL). */
static size_t
env_addrs(const struct mime_msg *m, const struct mime_part *p,
    const char *name, struct buf *out)
{
	struct buf v;
	size_t n = 0;

	buf_init(&v, MIME_MAX_HEADER + 1);
	if (mime_header_get(m, p, name, &v) == 0)
		n = addr_list(buf_cstr(&v), v.len, out);
	else
		(void)buf_puts(out, "NIL");
	buf_free(&v);
	return n;
}

/* The envelope of the message whose header is p's (NULL: none, all NIL).
 * Writes into a buffer without a practical limit; the public functions
 * copy the result into the caller's buffer, which may refuse it whole. */
static void
envelope_write(const struct mime_msg *m, const struct mime_part *p,
    struct buf *out)
{
	static const char *const lists[] = { "to", "cc", "bcc" };
	struct buf from, other;
	size_t i;

	if (p == NULL) {
		(void)buf_puts(out,
		    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
		return;
	}
	buf_init(&from, 0);
	buf_init(&other, 0);
	(void)buf_putc(out, '(');
	env_string(m, p, "date", out);
	(void)buf_putc(out, ' ');
	env_string(m, p, "subject", out);
	(void)buf_putc(out, ' ');
	(void)env_addrs(m, p, "from", &from);
	(void)buf_append(out, from.data, from.len);
	/* RFC 3501 7.4.2: a Sender or Reply-To that is absent or empty
	 * is taken from From. */
	for (i = 0; i < 2; i++) {
		buf_reset(&other);
		(void)buf_putc(out, ' ');
		if (env_addrs(m, p, i == 0 ? "sender" : "reply-to", &other) > 0)
			(void)buf_append(out, other.data, other.len);
		else
			(void)buf_append(out, from.data, from.len);
	}
	for (i = 0; i < NELEM(lists); i++) {
		(void)buf_putc(out, ' ');
		(void)env_addrs(m, p, lists[i], out);
	}
	(void)buf_putc(out, ' ');
	env_string(m, p, "in-reply-to", out);
	(void)buf_putc(out, ' ');
	env_string(m, p, "message-id", out);
	(void)buf_putc(out, ')');
	buf_free(&from);
	buf_free(&other);
}

static int
copy_out(struct buf *t, struct buf *out)
{
	int r = buf_append(out, t->data, t->len);

	buf_free(t);
	return r;
}

int
mime_envelope(const struct mime_msg *m, const struct mime_part *p,
    struct buf *out)
{
	struct buf t;

	/* The root is the top-level message even when its own type is
	 * message/rfc822; any other message part stands for the message it
	 * embeds. */
	if (p == NULL)
		p = m->root;
	else if (p != m->root && mime_is_message(p))
		p = p->nchildren > 0 ? p->children[0] : NULL;
	buf_init(&t, SIZE_MAX);
	envelope_write(m, p, &t);
	return copy_out(&t, out);
}

/* --- BODY and BODYSTRUCTURE ------------------------------------------ */

/* body-fld-param: ("NAME" "value" ...) or NIL.  RFC 2231 values go out
 * as sent, name "*", for the client to decode; a text part without a
 * charset gets the RFC 2046 4.1.2 default, as the RFC 3501 7.4.2
 * example shows. */
static void
bs_params(struct buf *o, const struct mime_param *ps, size_t n,
    int default_charset)
{
	struct buf nm;
	size_t i;

	if (n == 0 && !default_charset) {
		(void)buf_puts(o, "NIL");
		return;
	}
	(void)buf_putc(o, '(');
	for (i = 0; i < n; i++) {
		if (i > 0)
			(void)buf_putc(o, ' ');
		buf_init(&nm, 0);
		(void)buf_puts(&nm, ps[i].name);
		if (ps[i].extended)
			(void)buf_putc(&nm, '*');
		(void)imap_upper(o, buf_cstr(&nm));
		buf_free(&nm);
		(void)buf_putc(o, ' ');
		(void)mime_imap_str(o, ps[i].wire);
	}
	if (default_charset && mime_param_get(ps, n, "charset") == NULL)
		(void)buf_puts(o, n > 0 ? " \"CHARSET\" \"US-ASCII\"" :
		    "\"CHARSET\" \"US-ASCII\"");
	(void)buf_putc(o, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc (RFC 3501 9). */
static void
bs_ext_common(struct buf *o, const struct mime_part *p)
{
	struct sv tag;
	size_t i = 0, n = 0;

	(void)buf_putc(o, ' ');
	if (p->disposition != NULL) {
		(void)buf_putc(o, '(');
		(void)imap_upper(o, p->disposition);
		(void)buf_putc(o, ' ');
		bs_params(o, p->dparams, p->ndparams, 0);
		(void)buf_putc(o, ')');
	} else
		(void)buf_puts(o, "NIL");
	(void)buf_putc(o, ' ');
	/* body-fld-lang: a list of the tags of Content-Language. */
	while (p->language != NULL && mime_lang_next(p->language,
	    strlen(p->language), &i, &tag)) {
		(void)buf_puts(o, n++ == 0 ? "(" : " ");
		(void)mime_imap_nstring(o, tag.p, tag.n);
	}
	(void)buf_puts(o, n > 0 ? ")" : "NIL");
	(void)buf_putc(o, ' ');
	(void)mime_imap_str(o, p->location);
}

/* RFC 3501 9 wants at least one body in a multipart; one that has none
 * (its boundary never appears) shows an empty text/plain, as Dovecot
 * does. */
static void
bs_empty(struct buf *o, int ext)
{
	(void)buf_puts(o, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") "
	    "NIL NIL \"7BIT\" 0 0");
	(void)buf_puts(o, ext ? " NIL NIL NIL NIL)" : ")");
}

static void bs_part(const struct mime_msg *, const struct mime_part *,
    int flags, struct buf *);

static void
bs_multipart(const struct mime_msg *m, const struct mime_part *p, int flags,
    struct buf *o)
{
	size_t i;

	(void)buf_putc(o, '(');
	for (i = 0; i < p->nchildren; i++)
		bs_part(m, p->children[i], flags, o);
	if (p->nchildren == 0)
		bs_empty(o, flags & MIME_BS_EXTENDED);
	(void)buf_putc(o, ' ');
	(void)imap_upper(o, p->subtype);
	if (flags & MIME_BS_EXTENDED) {
		/* body-ext-mpart = body-fld-param SP body-fld-dsp ... */
		(void)buf_putc(o, ' ');
		bs_params(o, p->params, p->nparams, 0);
		bs_ext_common(o, p);
	}
	(void)buf_putc(o, ')');
}

static void
bs_part(const struct mime_msg *m, const struct mime_part *p, int flags,
    struct buf *o)
{
	if (mime_is_multipart(p)) {
		bs_multipart(m, p, flags, o);
		return;
	}
	/* body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP
	 * body-fld-enc SP body-fld-octets */
	(void)buf_putc(o, '(');
	(void)imap_upper(o, p->type);
	(void)buf_putc(o, ' ');
	(void)imap_upper(o, p->subtype);
	(void)buf_putc(o, ' ');
	bs_params(o, p->params, p->nparams, mime_is_text(p));
	(void)buf_putc(o, ' ');
	(void)mime_imap_str(o, p->id);
	(void)buf_putc(o, ' ');
	(void)mime_imap_str(o, p->description);
	(void)buf_putc(o, ' ');
	(void)imap_upper(o, p->encoding != NULL ? p->encoding : "7bit");
	(void)buf_printf(o, " %zu", p->body.len);
	if (mime_is_message(p) && (strcmp(p->subtype, "rfc822") == 0 ||
	    (flags & MIME_BS_REV2))) {
		/* body-type-msg: envelope SP body SP body-fld-lines.  RFC
		 * 9051 7.5.2 adds message/global; RFC 3501 9 has only
		 * MESSAGE/RFC822 there, so a rev1 client gets it basic. */
		(void)buf_putc(o, ' ');
		envelope_write(m, p->nchildren > 0 ? p->children[0] : NULL, o);
		(void)buf_putc(o, ' ');
		if (p->nchildren > 0)
			bs_part(m, p->children[0], flags, o);
		else
			bs_empty(o, flags & MIME_BS_EXTENDED);
		(void)buf_printf(o, " %zu", p->lines);
	} else if (mime_is_text(p))
		(void)buf_printf(o, " %zu", p->lines);
	if (flags & MIME_BS_EXTENDED) {
		/* body-ext-1part = body-fld-md5 SP body-fld-dsp ... */
		(void)buf_putc(o, ' ');
		(void)mime_imap_str(o, p->md5);
		bs_ext_common(o, p);
	}
	(void)buf_putc(o, ')');
}

int
mime_bodystructure(const struct mime_msg *m, int flags, struct buf *out)
{
	struct buf t;

	buf_init(&t, SIZE_MAX);
	bs_part(m, m->root, flags, &t);
	return copy_out(&t, out);
}
