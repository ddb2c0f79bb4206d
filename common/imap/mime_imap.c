/*
 * mime_imap.c: the IMAP views of a parsed message, ENVELOPE and
 * BODY/BODYSTRUCTURE (RFC 3501 7.4.2 and 9, RFC 9051 7.5.2); the
 * address lists come from mime_addr_walk (mail/mime_addrlist.c).
 *
 * Input is the tree mime.c built and the header text it points into, from
 * anyone.  Strings go out as IMAP quoted strings, or literals when they
 * hold CR, LF or 8-bit bytes; NUL never goes out.  Recursion follows the
 * tree, so it is bounded by MIME_MAX_DEPTH.
 */
#include <stdint.h>
#include <string.h>

#include "chapar/imapfmt.h"
#include "chapar/mime.h"
#include "chapar/util.h"

int
mime_imap_nstring(struct buf *b, const char *s, size_t n)
{
	size_t i, nul = 0;
	int lit = 0;
	unsigned char c;

	if (s == NULL)
		return buf_try_puts(b, "NIL");
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '\0')
			nul++;
		else if (c == '\r' || c == '\n' || c >= 0x80)
			lit = 1;
	}
	if (lit) {
		/* RFC 3501 4.3: a literal, counted in octets. */
		if (buf_try_printf(b, "{%zu}\r\n", n - nul) == -1)
			return -1;
		for (i = 0; i < n; i++)
			if (s[i] != '\0' && buf_try_putc(b, s[i]) == -1)
				return -1;
		return 0;
	}
	/* RFC 3501 9: quoted-specials are escaped. */
	if (buf_try_putc(b, '"') == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] == '\0')
			continue;
		if ((s[i] == '"' || s[i] == '\\') && buf_try_putc(b, '\\') == -1)
			return -1;
		if (buf_try_putc(b, s[i]) == -1)
			return -1;
	}
	return buf_try_putc(b, '"');
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
	size_t i, n = strlen(s);
	int r = 0;

	buf_init(&u, n + 1);
	for (i = 0; i < n; i++)
		buf_putc(&u, s[i] >= 'a' && s[i] <= 'z' ?
		    s[i] - ('a' - 'A') : s[i]);
	r = mime_imap_nstring(b, u.data != NULL ? u.data : "", u.len);
	buf_free(&u);
	return r;
}

/* --- addresses -------------------------------------------------------- */

struct env_alist {
	struct buf *out;
	size_t count;
	int full;		/* out is full: the rest is skipped */
};

/* One address structure: ( name adl mailbox host ), RFC 3501 7.4.2. */
static void
env_addr(void *arg, const struct buf *name, const struct buf *adl,
    const struct buf *mbox, const struct buf *host)
{
	struct env_alist *e = arg;
	struct buf *o = e->out;

	if (e->full)
		return;
#define NS(b) ((b) != NULL ? buf_cstr(b) : NULL), ((b) != NULL ? (b)->len : 0)
	if (buf_try_putc(o, '(') == -1 ||
	    mime_imap_nstring(o, NS(name)) == -1 ||
	    buf_try_putc(o, ' ') == -1 ||
	    mime_imap_nstring(o, NS(adl)) == -1 ||
	    buf_try_putc(o, ' ') == -1 ||
	    mime_imap_nstring(o, NS(mbox)) == -1 ||
	    buf_try_putc(o, ' ') == -1 ||
	    mime_imap_nstring(o, NS(host)) == -1 ||
	    buf_try_putc(o, ')') == -1)
		e->full = 1;
#undef NS
	e->count++;
}

/* An address list, "(" 1*address ")" or NIL when it holds none; *np
 * gets how many addresses it held.  0, or -1 at out's limit. */
static int
addr_list(const char *s, size_t n, struct buf *out, size_t *np)
{
	struct env_alist e;
	size_t mark = out->len;

	e.out = out;
	e.count = 0;
	e.full = buf_try_putc(out, '(') == -1;
	(void)mime_addr_walk(s, n, env_addr, &e);
	*np = e.count;
	if (e.full)
		return -1;
	if (e.count == 0) {
		buf_truncate(out, mark);
		return buf_try_puts(out, "NIL");
	}
	return buf_try_putc(out, ')');
}

/* --- ENVELOPE -------------------------------------------------------- */

static int
env_string(const struct mime_msg *m, const struct mime_part *p,
    const char *name, struct buf *out)
{
	struct buf v;
	int r;

	buf_init(&v, MIME_MAX_HEADER + 1);
	if (mime_header_get(m, p, name, &v) == 0)
		r = mime_imap_nstring(out, buf_cstr(&v), v.len);
	else
		r = buf_try_puts(out, "NIL");
	buf_free(&v);
	return r;
}

/* An address field into out; *np: how many addresses it held (0 also
 * when the field is absent: out then has NIL).  0, or -1 at out's
 * limit. */
static int
env_addrs(const struct mime_msg *m, const struct mime_part *p,
    const char *name, struct buf *out, size_t *np)
{
	struct buf v;
	int r;

	*np = 0;
	buf_init(&v, MIME_MAX_HEADER + 1);
	if (mime_header_get(m, p, name, &v) == 0)
		r = addr_list(buf_cstr(&v), v.len, out, np);
	else
		r = buf_try_puts(out, "NIL");
	buf_free(&v);
	return r;
}

/* The envelope of the message whose header is p's (NULL: none, all
 * NIL).  0, or -1 when out reached its limit: the public functions
 * write into a buffer limited to the room left in the caller's and
 * copy the result, so that a caller's buffer is changed whole or not at
 * all, and an output many times the message (every address of a large
 * header, From three times) stops at that room. */
static int
envelope_write(const struct mime_msg *m, const struct mime_part *p,
    struct buf *out)
{
	static const char *const lists[] = { "to", "cc", "bcc" };
	struct buf from, other;
	size_t i, n;
	int r;

	if (p == NULL)
		return buf_try_puts(out,
		    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	buf_init(&from, out->max);
	buf_init(&other, out->max);
	r = buf_try_putc(out, '(') == -1 ||
	    env_string(m, p, "date", out) == -1 ||
	    buf_try_putc(out, ' ') == -1 ||
	    env_string(m, p, "subject", out) == -1 ||
	    buf_try_putc(out, ' ') == -1 ||
	    env_addrs(m, p, "from", &from, &n) == -1 ||
	    buf_try_append(out, from.data, from.len) == -1 ? -1 : 0;
	/* RFC 3501 7.4.2: a Sender or Reply-To that is absent or empty
	 * is taken from From. */
	for (i = 0; i < 2 && r == 0; i++) {
		buf_reset(&other);
		if (buf_try_putc(out, ' ') == -1 ||
		    env_addrs(m, p, i == 0 ? "sender" : "reply-to", &other,
		    &n) == -1 || (n > 0 ? buf_try_append(out, other.data,
		    other.len) : buf_try_append(out, from.data, from.len)) ==
		    -1)
			r = -1;
	}
	for (i = 0; i < NELEM(lists) && r == 0; i++)
		if (buf_try_putc(out, ' ') == -1 ||
		    env_addrs(m, p, lists[i], out, &n) == -1)
			r = -1;
	if (r == 0 && (buf_try_putc(out, ' ') == -1 ||
	    env_string(m, p, "in-reply-to", out) == -1 ||
	    buf_try_putc(out, ' ') == -1 ||
	    env_string(m, p, "message-id", out) == -1 ||
	    buf_try_putc(out, ')') == -1))
		r = -1;
	buf_free(&from);
	buf_free(&other);
	return r;
}

/* A buffer for the whole of a view: as much as out has room for.  0 when
 * out has none (any view is longer than nothing). */
static int
view_init(struct buf *t, const struct buf *out)
{
	size_t room = out->max - out->len;

	if (room == 0)
		return -1;
	buf_init(t, room);
	return 0;
}

static int
copy_out(struct buf *t, int r, struct buf *out)
{
	if (r == 0)
		r = buf_try_append(out, t->data, t->len);
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
	if (view_init(&t, out) == -1)
		return -1;
	return copy_out(&t, envelope_write(m, p, &t), out);
}

/* --- BODY and BODYSTRUCTURE ------------------------------------------ */

/* body-fld-param: ("NAME" "value" ...) or NIL.  RFC 2231 values go out
 * as sent, name "*", for the client to decode; a text part without a
 * charset gets the RFC 2046 4.1.2 default, as the RFC 3501 7.4.2
 * example shows. */
static int
bs_params(struct buf *o, const struct mime_param *ps, size_t n,
    int default_charset)
{
	struct buf nm;
	size_t i;
	int r = 0;

	if (n == 0 && !default_charset)
		return buf_try_puts(o, "NIL");
	if (buf_try_putc(o, '(') == -1)
		return -1;
	for (i = 0; i < n && r == 0; i++) {
		/* a parameter's name is part of one header field */
		buf_init(&nm, strlen(ps[i].name) + 2);
		buf_puts(&nm, ps[i].name);
		if (ps[i].extended)
			buf_putc(&nm, '*');
		if ((i > 0 && buf_try_putc(o, ' ') == -1) ||
		    imap_upper(o, buf_cstr(&nm)) == -1 ||
		    buf_try_putc(o, ' ') == -1 ||
		    mime_imap_str(o, ps[i].wire) == -1)
			r = -1;
		buf_free(&nm);
	}
	if (r == 0 && default_charset &&
	    mime_param_get(ps, n, "charset") == NULL &&
	    buf_try_puts(o, n > 0 ? " \"CHARSET\" \"US-ASCII\"" :
	    "\"CHARSET\" \"US-ASCII\"") == -1)
		r = -1;
	return r == 0 ? buf_try_putc(o, ')') : -1;
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc (RFC 3501 9). */
static int
bs_ext_common(struct buf *o, const struct mime_part *p)
{
	struct sv tag;
	size_t i = 0, n = 0;

	if (buf_try_putc(o, ' ') == -1)
		return -1;
	if (p->disposition != NULL) {
		if (buf_try_putc(o, '(') == -1 ||
		    imap_upper(o, p->disposition) == -1 ||
		    buf_try_putc(o, ' ') == -1 ||
		    bs_params(o, p->dparams, p->ndparams, 0) == -1 ||
		    buf_try_putc(o, ')') == -1)
			return -1;
	} else if (buf_try_puts(o, "NIL") == -1)
		return -1;
	if (buf_try_putc(o, ' ') == -1)
		return -1;
	/* body-fld-lang: a list of the tags of Content-Language. */
	while (p->language != NULL && mime_lang_next(p->language,
	    strlen(p->language), &i, &tag))
		if (buf_try_puts(o, n++ == 0 ? "(" : " ") == -1 ||
		    mime_imap_nstring(o, tag.p, tag.n) == -1)
			return -1;
	if (buf_try_puts(o, n > 0 ? ")" : "NIL") == -1 ||
	    buf_try_putc(o, ' ') == -1)
		return -1;
	return mime_imap_str(o, p->location);
}

/* RFC 3501 9 wants at least one body in a multipart; one that has none
 * (its boundary never appears) shows an empty text/plain, as Dovecot
 * does. */
static int
bs_empty(struct buf *o, int ext)
{
	if (buf_try_puts(o, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") "
	    "NIL NIL \"7BIT\" 0 0") == -1)
		return -1;
	return buf_try_puts(o, ext ? " NIL NIL NIL NIL)" : ")");
}

static int bs_part(const struct mime_msg *, const struct mime_part *,
    int flags, struct buf *);

static int
bs_multipart(const struct mime_msg *m, const struct mime_part *p, int flags,
    struct buf *o)
{
	size_t i;

	if (buf_try_putc(o, '(') == -1)
		return -1;
	for (i = 0; i < p->nchildren; i++)
		if (bs_part(m, p->children[i], flags, o) == -1)
			return -1;
	if ((p->nchildren == 0 && bs_empty(o, flags & MIME_BS_EXTENDED) ==
	    -1) || buf_try_putc(o, ' ') == -1 ||
	    imap_upper(o, p->subtype) == -1)
		return -1;
	/* body-ext-mpart = body-fld-param SP body-fld-dsp ... */
	if ((flags & MIME_BS_EXTENDED) && (buf_try_putc(o, ' ') == -1 ||
	    bs_params(o, p->params, p->nparams, 0) == -1 ||
	    bs_ext_common(o, p) == -1))
		return -1;
	return buf_try_putc(o, ')');
}

static int
bs_part(const struct mime_msg *m, const struct mime_part *p, int flags,
    struct buf *o)
{
	if (mime_is_multipart(p))
		return bs_multipart(m, p, flags, o);
	/* body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP
	 * body-fld-enc SP body-fld-octets */
	if (buf_try_putc(o, '(') == -1 || imap_upper(o, p->type) == -1 ||
	    buf_try_putc(o, ' ') == -1 || imap_upper(o, p->subtype) == -1 ||
	    buf_try_putc(o, ' ') == -1 ||
	    bs_params(o, p->params, p->nparams, mime_is_text(p)) == -1 ||
	    buf_try_putc(o, ' ') == -1 || mime_imap_str(o, p->id) == -1 ||
	    buf_try_putc(o, ' ') == -1 ||
	    mime_imap_str(o, p->description) == -1 ||
	    buf_try_putc(o, ' ') == -1 ||
	    imap_upper(o, p->encoding != NULL ? p->encoding : "7bit") == -1 ||
	    buf_try_printf(o, " %zu", p->body.len) == -1)
		return -1;
	if (mime_is_message(p) && (strcmp(p->subtype, "rfc822") == 0 ||
	    (flags & MIME_BS_REV2))) {
		/* body-type-msg: envelope SP body SP body-fld-lines.  RFC
		 * 9051 7.5.2 adds message/global; RFC 3501 9 has only
		 * MESSAGE/RFC822 there, so a rev1 client gets it basic. */
		if (buf_try_putc(o, ' ') == -1 || envelope_write(m,
		    p->nchildren > 0 ? p->children[0] : NULL, o) == -1 ||
		    buf_try_putc(o, ' ') == -1 || (p->nchildren > 0 ?
		    bs_part(m, p->children[0], flags, o) :
		    bs_empty(o, flags & MIME_BS_EXTENDED)) == -1 ||
		    buf_try_printf(o, " %zu", p->lines) == -1)
			return -1;
	} else if (mime_is_text(p) &&
	    buf_try_printf(o, " %zu", p->lines) == -1)
		return -1;
	/* body-ext-1part = body-fld-md5 SP body-fld-dsp ... */
	if ((flags & MIME_BS_EXTENDED) && (buf_try_putc(o, ' ') == -1 ||
	    mime_imap_str(o, p->md5) == -1 || bs_ext_common(o, p) == -1))
		return -1;
	return buf_try_putc(o, ')');
}

int
mime_bodystructure(const struct mime_msg *m, int flags, struct buf *out)
{
	struct buf t;

	if (view_init(&t, out) == -1)
		return -1;
	return copy_out(&t, bs_part(m, m->root, flags, &t), out);
}
