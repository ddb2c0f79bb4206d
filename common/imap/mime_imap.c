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
	size_t i;
	int r;

	buf_init(&u, 0);
	for (i = 0; s[i] != '\0'; i++)
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
};

/* One address structure: ( name adl mailbox host ), RFC 3501 7.4.2. */
static void
env_addr(void *arg, const struct buf *name, const struct buf *adl,
    const struct buf *mbox, const struct buf *host)
{
	struct env_alist *e = arg;
	struct buf *o = e->out;

#define NS(b) ((b) != NULL ? buf_cstr(b) : NULL), ((b) != NULL ? (b)->len : 0)
	buf_putc(o, '(');
	(void)mime_imap_nstring(o, NS(name));
	buf_putc(o, ' ');
	(void)mime_imap_nstring(o, NS(adl));
	buf_putc(o, ' ');
	(void)mime_imap_nstring(o, NS(mbox));
	buf_putc(o, ' ');
	(void)mime_imap_nstring(o, NS(host));
	buf_putc(o, ')');
#undef NS
	e->count++;
}

/* An address list, "(" 1*address ")" or NIL when it holds none. */
static size_t
addr_list(const char *s, size_t n, struct buf *out)
{
	struct env_alist e;
	size_t mark = out->len;

	e.out = out;
	e.count = 0;
	buf_putc(out, '(');
	(void)mime_addr_walk(s, n, env_addr, &e);
	if (e.count == 0) {
		buf_truncate(out, mark);
		buf_puts(out, "NIL");
	} else
		buf_putc(out, ')');
	return e.count;
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
		buf_puts(out, "NIL");
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
		buf_puts(out, "NIL");
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
		buf_puts(out,
		    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
		return;
	}
	buf_init(&from, 0);
	buf_init(&other, 0);
	buf_putc(out, '(');
	env_string(m, p, "date", out);
	buf_putc(out, ' ');
	env_string(m, p, "subject", out);
	buf_putc(out, ' ');
	(void)env_addrs(m, p, "from", &from);
	buf_append(out, from.data, from.len);
	/* RFC 3501 7.4.2: a Sender or Reply-To that is absent or empty
	 * is taken from From. */
	for (i = 0; i < 2; i++) {
		buf_reset(&other);
		buf_putc(out, ' ');
		if (env_addrs(m, p, i == 0 ? "sender" : "reply-to", &other) > 0)
			buf_append(out, other.data, other.len);
		else
			buf_append(out, from.data, from.len);
	}
	for (i = 0; i < NELEM(lists); i++) {
		buf_putc(out, ' ');
		(void)env_addrs(m, p, lists[i], out);
	}
	buf_putc(out, ' ');
	env_string(m, p, "in-reply-to", out);
	buf_putc(out, ' ');
	env_string(m, p, "message-id", out);
	buf_putc(out, ')');
	buf_free(&from);
	buf_free(&other);
}

static int
copy_out(struct buf *t, struct buf *out)
{
	int r = buf_try_append(out, t->data, t->len);

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
		buf_puts(o, "NIL");
		return;
	}
	buf_putc(o, '(');
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(o, ' ');
		buf_init(&nm, 0);
		buf_puts(&nm, ps[i].name);
		if (ps[i].extended)
			buf_putc(&nm, '*');
		(void)imap_upper(o, buf_cstr(&nm));
		buf_free(&nm);
		buf_putc(o, ' ');
		(void)mime_imap_str(o, ps[i].wire);
	}
	if (default_charset && mime_param_get(ps, n, "charset") == NULL)
		buf_puts(o, n > 0 ? " \"CHARSET\" \"US-ASCII\"" :
		    "\"CHARSET\" \"US-ASCII\"");
	buf_putc(o, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc (RFC 3501 9). */
static void
bs_ext_common(struct buf *o, const struct mime_part *p)
{
	struct sv tag;
	size_t i = 0, n = 0;

	buf_putc(o, ' ');
	if (p->disposition != NULL) {
		buf_putc(o, '(');
		(void)imap_upper(o, p->disposition);
		buf_putc(o, ' ');
		bs_params(o, p->dparams, p->ndparams, 0);
		buf_putc(o, ')');
	} else
		buf_puts(o, "NIL");
	buf_putc(o, ' ');
	/* body-fld-lang: a list of the tags of Content-Language. */
	while (p->language != NULL && mime_lang_next(p->language,
	    strlen(p->language), &i, &tag)) {
		buf_puts(o, n++ == 0 ? "(" : " ");
		(void)mime_imap_nstring(o, tag.p, tag.n);
	}
	buf_puts(o, n > 0 ? ")" : "NIL");
	buf_putc(o, ' ');
	(void)mime_imap_str(o, p->location);
}

/* RFC 3501 9 wants at least one body in a multipart; one that has none
 * (its boundary never appears) shows an empty text/plain, as Dovecot
 * does. */
static void
bs_empty(struct buf *o, int ext)
{
	buf_puts(o, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") "
	    "NIL NIL \"7BIT\" 0 0");
	buf_puts(o, ext ? " NIL NIL NIL NIL)" : ")");
}

static void bs_part(const struct mime_msg *, const struct mime_part *,
    int flags, struct buf *);

static void
bs_multipart(const struct mime_msg *m, const struct mime_part *p, int flags,
    struct buf *o)
{
	size_t i;

	buf_putc(o, '(');
	for (i = 0; i < p->nchildren; i++)
		bs_part(m, p->children[i], flags, o);
	if (p->nchildren == 0)
		bs_empty(o, flags & MIME_BS_EXTENDED);
	buf_putc(o, ' ');
	(void)imap_upper(o, p->subtype);
	if (flags & MIME_BS_EXTENDED) {
		/* body-ext-mpart = body-fld-param SP body-fld-dsp ... */
		buf_putc(o, ' ');
		bs_params(o, p->params, p->nparams, 0);
		bs_ext_common(o, p);
	}
	buf_putc(o, ')');
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
	buf_putc(o, '(');
	(void)imap_upper(o, p->type);
	buf_putc(o, ' ');
	(void)imap_upper(o, p->subtype);
	buf_putc(o, ' ');
	bs_params(o, p->params, p->nparams, mime_is_text(p));
	buf_putc(o, ' ');
	(void)mime_imap_str(o, p->id);
	buf_putc(o, ' ');
	(void)mime_imap_str(o, p->description);
	buf_putc(o, ' ');
	(void)imap_upper(o, p->encoding != NULL ? p->encoding : "7bit");
	buf_printf(o, " %zu", p->body.len);
	if (mime_is_message(p) && (strcmp(p->subtype, "rfc822") == 0 ||
	    (flags & MIME_BS_REV2))) {
		/* body-type-msg: envelope SP body SP body-fld-lines.  RFC
		 * 9051 7.5.2 adds message/global; RFC 3501 9 has only
		 * MESSAGE/RFC822 there, so a rev1 client gets it basic. */
		buf_putc(o, ' ');
		envelope_write(m, p->nchildren > 0 ? p->children[0] : NULL, o);
		buf_putc(o, ' ');
		if (p->nchildren > 0)
			bs_part(m, p->children[0], flags, o);
		else
			bs_empty(o, flags & MIME_BS_EXTENDED);
		buf_printf(o, " %zu", p->lines);
	} else if (mime_is_text(p))
		buf_printf(o, " %zu", p->lines);
	if (flags & MIME_BS_EXTENDED) {
		/* body-ext-1part = body-fld-md5 SP body-fld-dsp ... */
		buf_putc(o, ' ');
		(void)mime_imap_str(o, p->md5);
		bs_ext_common(o, p);
	}
	buf_putc(o, ')');
}

int
mime_bodystructure(const struct mime_msg *m, int flags, struct buf *out)
{
	struct buf t;

	buf_init(&t, SIZE_MAX);
	bs_part(m, m->root, flags, &t);
	return copy_out(&t, out);
}
