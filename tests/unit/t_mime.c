/*
 * Unit tests: chapar/mime.h, the tree, sections, limits, and the golden
 * corpus tests/data/mime (NAME.eml with NAME.bodystructure, NAME.envelope
 * and NAME.subject next to it; the runner starts in the top directory).
 * The decoders are in t_mime_dec.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/imapfmt.h"
#include "chapar/mime.h"
#include "chapar/utf8.h"
#include "chapar/util.h"
#include "harness.h"

#define CORPUS "tests/data/mime"

static const char *const corpus[] = {
	"alternative", "attachment-fa", "bare-lf", "boundary-spaces", "digest",
	"forward", "group", "missing-close", "no-boundary", "no-charset",
	"no-colon", "plain", "prefix-boundary", "raw-utf8-headers", "related",
	"subject-1256-q", "subject-8859-6", "subject-fa-b",
};

static int
load(const char *name, const char *ext, struct buf *b)
{
	char path[256];

	buf_reset(b);
	if (xsnprintf(path, sizeof(path), "%s/%s.%s", CORPUS, name, ext) == -1)
		return -1;
	return file_read(path, BUF_DEFAULT_MAX, b);
}

static struct mime_msg *
parse_str(const char *s)
{
	return mime_parse(s, strlen(s));
}

static char *
bs(const struct mime_msg *m, int flags)
{
	struct buf b;

	buf_init(&b, 0);
	(void)mime_bodystructure(m, flags, &b);
	return buf_detach(&b);
}

static char *
env(const struct mime_msg *m, const struct mime_part *p)
{
	struct buf b;

	buf_init(&b, 0);
	(void)mime_envelope(m, p, &b);
	return buf_detach(&b);
}

/* The text of a section, or "(none)". */
static char *
section(const struct mime_msg *m, const char *spec)
{
	struct mime_range r;

	if (mime_section(m, spec, strlen(spec), &r) == -1)
		return xstrdup("(none)");
	return sv_strdup(sv_make(m->data + r.off, r.len));
}

#define T_EQ_FREE(call, want)                                                  \
	do {                                                                   \
		char *t_s_ = (call);                                           \
		int t_ok_ = strcmp(t_s_, (want)) == 0;                         \
		if (!t_ok_)                                                    \
			t_failf(__FILE__, __LINE__, "%s:\n  got  %s\n  want %s", \
			    #call, t_s_, (want));                              \
		free(t_s_);                                                    \
		if (!t_ok_)                                                    \
			return;                                                \
	} while (0)

/* One golden file: the output, then the newline the file ends with. */
static int
golden_one(const char *name, const char *ext, const struct buf *got)
{
	struct buf want;
	int ok;

	buf_init(&want, 0);
	if (load(name, ext, &want) == -1) {
		t_failf(__FILE__, __LINE__, "%s.%s: cannot read", name, ext);
		buf_free(&want);
		return -1;
	}
	ok = want.len == got->len + 1 && want.data[got->len] == '\n' &&
	    memcmp(want.data, buf_cstr(got), got->len) == 0;
	if (!ok)
		t_failf(__FILE__, __LINE__, "%s.%s differs:\n  got  %s\n  want %s",
		    name, ext, buf_cstr(got), buf_cstr(&want));
	buf_free(&want);
	return ok ? 0 : -1;
}

static void
mime_golden_corpus(void)
{
	struct buf msg, out, v;
	struct mime_msg *m;
	size_t i;

	buf_init(&msg, 0);
	buf_init(&out, 0);
	buf_init(&v, 0);
	for (i = 0; i < NELEM(corpus); i++) {
		T_ASSERT(load(corpus[i], "eml", &msg) == 0);
		m = mime_parse(msg.data, msg.len);
		buf_reset(&out);
		T_ASSERT(mime_bodystructure(m, MIME_BS_EXTENDED, &out) == 0);
		(void)golden_one(corpus[i], "bodystructure", &out);
		buf_reset(&out);
		T_ASSERT(mime_envelope(m, NULL, &out) == 0);
		(void)golden_one(corpus[i], "envelope", &out);
		buf_reset(&out);
		buf_reset(&v);
		if (mime_header_get(m, NULL, "subject", &v) == 0)
			T_ASSERT(mime_decode_header(v.data, v.len, &out) == 0);
		(void)golden_one(corpus[i], "subject", &out);
		mime_free(&m);
		T_ASSERT(m == NULL);
	}
	buf_free(&msg);
	buf_free(&out);
	buf_free(&v);
}

/* The invariants of a tree, checked on every prefix of the corpus. */
static int
tree_ok(const struct mime_part *p, size_t len, size_t *count)
{
	size_t i, prev = p->body.off;

	(*count)++;
	if (p->whole.off + p->whole.len > len ||
	    p->header.off != p->whole.off ||
	    p->header.len + p->body.len != p->whole.len ||
	    p->body.off != p->header.off + p->header.len)
		return 0;
	for (i = 0; i < p->nchildren; i++) {
		const struct mime_part *c = p->children[i];

		if (c->parent != p || c->whole.off < prev ||
		    c->whole.off + c->whole.len > p->body.off + p->body.len ||
		    !tree_ok(c, len, count))
			return 0;
		prev = c->whole.off + c->whole.len;
	}
	return 1;
}

static void
mime_every_prefix_parses(void)
{
	struct buf msg, out;
	struct mime_msg *m;
	size_t i, n, count;

	buf_init(&msg, 0);
	buf_init(&out, 0);
	for (i = 0; i < NELEM(corpus); i++) {
		T_ASSERT(load(corpus[i], "eml", &msg) == 0);
		for (n = 0; n <= msg.len; n++) {
			/* A copy of exactly n bytes, so ASan sees overreads. */
			char *cp = xmalloc(n + 1);

			memcpy(cp, msg.data, n);
			m = mime_parse(cp, n);
			count = 0;
			if (!tree_ok(m->root, n, &count) || count != m->nparts)
				t_failf(__FILE__, __LINE__, "%s: prefix %zu",
				    corpus[i], n);
			buf_reset(&out);
			T_ASSERT(mime_bodystructure(m, MIME_BS_EXTENDED, &out) == 0);
			T_ASSERT(mime_envelope(m, NULL, &out) == 0);
			mime_free(&m);
			free(cp);
		}
	}
	buf_free(&msg);
	buf_free(&out);
}

static void
mime_header_folding_and_lf(void)
{
	struct mime_msg *m;
	struct buf v;

	buf_init(&v, 0);
	/* RFC 5322 2.2.3: unfolding removes the CRLF, keeps the blank. */
	m = parse_str("Subject: one\r\n two\r\n\tthree  \r\nX-A: 1\nx-a : 2\r\n"
	    "\r\nbody");
	T_ASSERT(mime_header_get(m, NULL, "SUBJECT", &v) == 0);
	T_EQ_STR(buf_cstr(&v), "one two\tthree");
	buf_reset(&v);
	T_EQ_INT(mime_header_all(m, NULL, "x-a", &v), 2);
	T_ASSERT(v.len == 4 && memcmp(v.data, "1\0" "2\0", 4) == 0);
	buf_reset(&v);
	T_EQ_INT(mime_header_get(m, NULL, "missing", &v), -1);
	T_EQ_INT(v.len, 0);
	T_EQ_INT(m->root->header.len, 48);
	T_EQ_INT(m->root->body.off, 48);
	T_EQ_INT(m->root->body.len, 4);
	mime_free(&m);
	/* A header with no body and no blank line: all header. */
	m = parse_str("Subject: x");
	T_EQ_INT(m->root->header.len, 10);
	T_EQ_INT(m->root->body.len, 0);
	mime_free(&m);
	/* Empty message. */
	m = mime_parse("", 0);
	T_EQ_STR(m->root->type, "text");
	T_EQ_INT(m->nparts, 1);
	mime_free(&m);
	buf_free(&v);
}

static void
mime_header_ends_at_line_without_colon(void)
{
	struct mime_msg *m;
	struct buf v;

	buf_init(&v, 0);
	m = parse_str(" orphan continuation\r\nA: 1\r\nnot a header\r\n"
	    "B: 2\r\n\r\nx");
	T_ASSERT(mime_header_get(m, NULL, "a", &v) == 0);
	T_EQ_INT(mime_header_get(m, NULL, "b", &v), -1);
	T_EQ_INT(m->root->header.len, 28);
	T_ASSERT(m->root->broken);
	T_EQ_FREE(section(m, "TEXT"), "not a header\r\nB: 2\r\n\r\nx");
	mime_free(&m);
	/* A field name must be printable ASCII; 8-bit in values is kept. */
	m = parse_str("X\xc3\xa9: no\r\nSubject: caf\xc3\xa9\r\n\r\n");
	T_EQ_INT(mime_header_get(m, NULL, "subject", &v), -1);
	T_EQ_INT(m->root->header.len, 0);
	mime_free(&m);
	m = parse_str("Subject: caf\xc3\xa9\r\n\r\n");
	buf_reset(&v);
	T_ASSERT(mime_header_get(m, NULL, "subject", &v) == 0);
	T_EQ_STR(buf_cstr(&v), "caf\xc3\xa9");
	mime_free(&m);
	buf_free(&v);
}

static void
mime_content_type_params(void)
{
	struct mime_msg *m;
	const struct mime_part *p;

	/* RFC 2045 5.1: comments anywhere, case-insensitive names, quoted
	 * strings with quoted-pairs. */
	m = parse_str("Content-Type: (c) Text (c) / (c) HTML (c) ; "
	    "CharSet = \"UTF-8\" (c); NAME=\"a \\\"b\\\" c\"; x=y;;junk; "
	    "odd=my file.txt\r\n\r\n");
	p = m->root;
	T_EQ_STR(p->type, "text");
	T_EQ_STR(p->subtype, "html");
	T_EQ_INT(p->nparams, 4);
	T_EQ_STR(mime_param_get(p->params, p->nparams, "charset"), "UTF-8");
	T_EQ_STR(mime_param_get(p->params, p->nparams, "name"), "a \"b\" c");
	T_EQ_STR(mime_param_get(p->params, p->nparams, "x"), "y");
	T_EQ_STR(mime_param_get(p->params, p->nparams, "odd"), "my file.txt");
	T_ASSERT(mime_param_get(p->params, p->nparams, "junk") == NULL);
	mime_free(&m);
	/* RFC 2045 5.2: a syntactically invalid type means text/plain. */
	m = parse_str("Content-Type: image\r\nContent-Transfer-Encoding: "
	    " BASE64 (x)\r\n\r\n");
	T_EQ_STR(m->root->type, "text");
	T_EQ_STR(m->root->subtype, "plain");
	T_EQ_STR(m->root->encoding, "base64");
	T_EQ_FREE(bs(m, 0), "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") "
	    "NIL NIL \"BASE64\" 0 0)");
	mime_free(&m);
	/* The first Content-Type counts. */
	m = parse_str("Content-Type: image/gif\r\nContent-Type: text/html\r\n"
	    "\r\n");
	T_EQ_STR(m->root->type, "image");
	mime_free(&m);
}

static void
mime_rfc2231(void)
{
	struct mime_msg *m;
	const struct mime_part *p;

	/* RFC 2231 3 and 4: sections in any order, joined, then %XX; the
	 * split inside a UTF-8 character is joined before decoding. */
	m = parse_str("Content-Type: application/pdf;\r\n"
	    " name*2=\"tail\"; name*1*=%A7%D9%84;\r\n"
	    " name*0*=UTF-8'fa'%D8%B3%D8;\r\n"
	    " title=\"plain\"; title*=us-ascii''a%20b;\r\n"
	    " gap*0=a; gap*2=c; bad*x=1; q=\"=?utf-8?q?caf=C3=A9?=\"\r\n\r\n");
	p = m->root;
	T_EQ_STR(mime_param_get(p->params, p->nparams, "name"),
	    "\xd8\xb3\xd8\xa7\xd9\x84tail");
	T_EQ_STR(mime_param_get(p->params, p->nparams, "title"), "a b");
	T_EQ_STR(mime_param_get(p->params, p->nparams, "gap"), "a");
	T_EQ_STR(mime_param_get(p->params, p->nparams, "bad*x"), "1");
	/* RFC 2047 words in a quoted value, as clients decode them. */
	T_EQ_STR(mime_param_get(p->params, p->nparams, "q"), "caf\xc3\xa9");
	T_EQ_FREE(bs(m, 0), "(\"APPLICATION\" \"PDF\" (\"NAME*\" "
	    "\"UTF-8'fa'%D8%B3%D8%A7%D9%84tail\" \"TITLE\" \"plain\" "
	    "\"TITLE*\" \"us-ascii''a%20b\" \"GAP\" \"a\" \"BAD*X\" \"1\" "
	    "\"Q\" \"=?utf-8?q?caf=C3=A9?=\") NIL NIL \"7BIT\" 0)");
	mime_free(&m);
	/* Windows-1256 in RFC 2231, and a malformed one without quotes. */
	m = parse_str("Content-Disposition: attachment; "
	    "filename*=windows-1256''%81%ED%C7%E3.txt; x*=no%20quotes\r\n"
	    "\r\n");
	p = m->root;
	T_EQ_STR(p->disposition, "attachment");
	T_EQ_STR(mime_param_get(p->dparams, p->ndparams, "filename"),
	    "\xd9\xbe\xd9\x8a\xd8\xa7\xd9\x85.txt");
	T_EQ_STR(mime_param_get(p->dparams, p->ndparams, "x"), "no quotes");
	mime_free(&m);
}

static void
mime_multipart_ranges(void)
{
	struct mime_msg *m;
	const struct mime_part *p;

	/* RFC 2046 5.1.1: the CRLF before a delimiter is the delimiter's;
	 * preamble and epilogue belong to no part. */
	m = parse_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "preamble\r\n--b\r\n\r\none\r\n\r\n--b\r\nX: y\r\n\r\ntwo\r\n"
	    "--b--\r\nepilogue\r\n--b\r\nnot a part\r\n");
	p = m->root;
	T_EQ_INT(p->nchildren, 2);
	T_ASSERT(!p->broken);
	T_EQ_FREE(section(m, "1"), "one\r\n");
	T_EQ_FREE(section(m, "2"), "two");
	T_EQ_FREE(section(m, "2.MIME"), "X: y\r\n\r\n");
	T_EQ_FREE(section(m, "1.MIME"), "\r\n");
	mime_free(&m);
	/* Delimiter first thing in the body, empty parts, close with
	 * blanks; "--b--x" and "--bx" are not delimiters. */
	m = parse_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n--b \r\n\r\n--bx\r\n--b--x\r\n--b--  \r\n");
	p = m->root;
	T_EQ_INT(p->nchildren, 2);
	T_EQ_INT(p->children[0]->whole.len, 0);
	T_EQ_FREE(section(m, "2"), "--bx\r\n--b--x");
	mime_free(&m);
	/* Missing close delimiter: the last part runs to the end. */
	m = parse_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\nlast\r\n");
	T_EQ_FREE(section(m, "1"), "last\r\n");
	T_ASSERT(m->root->broken);
	mime_free(&m);
	/* No boundary parameter: a multipart without parts. */
	m = parse_str("Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n");
	T_EQ_INT(m->root->nchildren, 0);
	T_ASSERT(m->root->broken);
	T_EQ_FREE(bs(m, 0), "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") "
	    "NIL NIL \"7BIT\" 0 0) \"MIXED\")");
	T_EQ_FREE(section(m, "1"), "(none)");
	mime_free(&m);
}

/* Nested multiparts, each one's boundary a prefix of the next. */
static void
mime_prefix_boundaries(void)
{
	struct mime_msg *m;

	m = parse_str("Content-Type: multipart/mixed; boundary=\"a\"\r\n\r\n"
	    "--a\r\nContent-Type: multipart/mixed; boundary=\"aa\"\r\n\r\n"
	    "--aa\r\n\r\ninner\r\n--a\r\n\r\nouter\r\n--aa--\r\n--a--\r\n");
	T_EQ_INT(m->root->nchildren, 2);
	T_EQ_INT(m->root->children[0]->nchildren, 1);
	T_EQ_FREE(section(m, "1.1"), "inner");
	T_EQ_FREE(section(m, "2"), "outer\r\n--aa--");
	mime_free(&m);
}

static void
mime_sections_rfc3501(void)
{
	struct buf msg;
	struct mime_msg *m;
	const struct mime_part *p;

	buf_init(&msg, 0);
	T_ASSERT(load("forward", "eml", &msg) == 0);
	m = mime_parse(msg.data, msg.len);
	T_EQ_FREE(section(m, "1"), "See below.\r\n");
	T_EQ_FREE(section(m, "2.1"), "Draft attached.");
	T_EQ_FREE(section(m, "2.2"), "RHJhZnQgdjEK");
	T_EQ_FREE(section(m, "2.2.MIME"), "Content-Type: application/"
	    "octet-stream; name=\"draft.txt\"\r\nContent-Transfer-Encoding: "
	    "base64\r\n\r\n");
	T_EQ_FREE(section(m, "2.MIME"), "Content-Type: message/rfc822\r\n"
	    "Content-Disposition: inline\r\n\r\n");
	T_EQ_FREE(section(m, "2.text"), "--inner\r\nContent-Type: text/plain; "
	    "charset=us-ascii\r\n\r\nDraft attached.\r\n--inner\r\n"
	    "Content-Type: application/octet-stream; name=\"draft.txt\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nRHJhZnQgdjEK\r\n"
	    "--inner--\r\n");
	p = mime_part_at(m, "2", 1);
	T_ASSERT(p != NULL && mime_is_message(p));
	T_EQ_FREE(section(m, "2.HEADER.FIELDS (Subject)"),
	    "Date: Fri, 6 Jun 2025 17:45:00 +0000\r\nFrom: Lawyer "
	    "<counsel@example.com>\r\nSender: Office <office@example.com>\r\n"
	    "To: ali@example.net\r\nSubject: Contract draft\r\nMessage-ID: "
	    "<orig.1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: "
	    "multipart/mixed; boundary=\"inner\"\r\n\r\n");
	T_ASSERT(mime_part_at(m, "2.2", 3) == p->children[0]->children[1]);
	T_ASSERT(mime_part_at(m, "", 0) == m->root);
	/* RFC 3501 6.4.5: HEADER and TEXT only for message/rfc822. */
	T_EQ_FREE(section(m, "1.HEADER"), "(none)");
	T_EQ_FREE(section(m, "1.TEXT"), "(none)");
	T_EQ_FREE(section(m, "3"), "(none)");
	T_EQ_FREE(section(m, "0"), "(none)");
	T_EQ_FREE(section(m, "01"), "(none)");
	T_EQ_FREE(section(m, "1."), "(none)");
	T_EQ_FREE(section(m, "2.1.1"), "(none)");
	T_EQ_FREE(section(m, "99999999999999999999"), "(none)");
	T_EQ_FREE(section(m, "MIME"), "(none)");
	T_EQ_FREE(section(m, "1.FOO"), "(none)");
	T_ASSERT(mime_part_at(m, "2.HEADER", 8) == NULL);
	T_EQ_FREE(section(m, ""), buf_cstr(&msg));
	mime_free(&m);
	buf_free(&msg);
}

static void
mime_sections_single_part(void)
{
	struct mime_msg *m;

	/* RFC 3501 6.4.5: a message that is no multipart has a part 1, its
	 * body; 1.MIME is its header, as Dovecot gives it. */
	m = parse_str("Subject: s\r\n\r\nbody\r\n");
	T_EQ_FREE(section(m, ""), "Subject: s\r\n\r\nbody\r\n");
	T_EQ_FREE(section(m, "HEADER"), "Subject: s\r\n\r\n");
	T_EQ_FREE(section(m, "header.fields.not (x)"), "Subject: s\r\n\r\n");
	T_EQ_FREE(section(m, "TEXT"), "body\r\n");
	T_EQ_FREE(section(m, "1"), "body\r\n");
	T_EQ_FREE(section(m, "1.MIME"), "Subject: s\r\n\r\n");
	T_EQ_FREE(section(m, "2"), "(none)");
	mime_free(&m);
	/* A top-level message/rfc822: 1 is the embedded message, 1.1 its
	 * body, 1.HEADER its header. */
	m = parse_str("Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\n"
	    "inner");
	T_EQ_FREE(section(m, "1"), "Subject: in\r\n\r\ninner");
	T_EQ_FREE(section(m, "1.1"), "inner");
	T_EQ_FREE(section(m, "1.HEADER"), "Subject: in\r\n\r\n");
	T_EQ_FREE(env(m, NULL), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	T_EQ_FREE(env(m, m->root->children[0]),
	    "(NIL \"in\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	mime_free(&m);
}

static void
mime_message_global_and_digest(void)
{
	struct mime_msg *m;

	/* RFC 9051 7.5.2: message/global carries envelope, body, lines;
	 * for RFC 3501 it is a basic part. */
	m = parse_str("Content-Type: message/global\r\n\r\nSubject: "
	    "\xd8\xb3\r\n\r\nx\r\n");
	T_EQ_FREE(bs(m, MIME_BS_REV2), "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL "
	    "\"7BIT\" 18 (NIL {2}\r\n\xd8\xb3 NIL NIL NIL NIL NIL NIL NIL NIL) "
	    "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3 "
	    "1) 3)");
	T_EQ_FREE(bs(m, 0), "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" "
	    "18)");
	T_EQ_FREE(section(m, "1.HEADER"), "Subject: \xd8\xb3\r\n\r\n");
	mime_free(&m);
	/* RFC 2046 5.1.5: digest parts default to message/rfc822, and an
	 * explicit multipart inside keeps its own default. */
	m = parse_str("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n"
	    "\r\nSubject: a\r\n\r\nA\r\n--d\r\nContent-Type: multipart/mixed;"
	    " boundary=e\r\n\r\n--e\r\n\r\nplain\r\n--e--\r\n--d--\r\n");
	T_EQ_STR(m->root->children[0]->type, "message");
	T_EQ_STR(m->root->children[1]->children[0]->type, "text");
	mime_free(&m);
}

static char *
nest(size_t levels, const char *inner)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	for (i = 0; i < levels; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; "
		    "boundary=\"b%zu\"\r\n\r\n--b%zu\r\n", i, i);
	buf_puts(&b, inner);
	for (i = levels; i-- > 0;)
		buf_printf(&b, "\r\n--b%zu--", i);
	return buf_detach(&b);
}

static void
mime_limits_depth(void)
{
	struct mime_msg *m;
	const struct mime_part *p;
	char *s;
	size_t d = 0;

	s = nest(MIME_MAX_DEPTH + 8, "\r\ndeep");
	m = parse_str(s);
	for (p = m->root; p->nchildren > 0; p = p->children[0])
		d++;
	T_EQ_INT(d, MIME_MAX_DEPTH);
	T_ASSERT(p->broken && mime_is_multipart(p));
	T_EQ_INT(m->nparts, MIME_MAX_DEPTH + 1);
	free(s);
	s = bs(m, MIME_BS_EXTENDED);
	T_ASSERT(strstr(s, "\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL "
	    "NIL \"7BIT\" 0 0 NIL NIL NIL NIL") != NULL);
	free(s);
	mime_free(&m);
}

/* message/rfc822 inside message/rfc822, past the limit. */
static void
mime_limits_depth_message(void)
{
	struct mime_msg *m;
	const struct mime_part *p;
	struct buf b;
	size_t i, d = 0;
	char *s;

	buf_init(&b, 0);
	for (i = 0; i < MIME_MAX_DEPTH + 3; i++)
		buf_puts(&b, "Content-Type: message/rfc822\r\n\r\n");
	m = mime_parse(b.data, b.len);
	for (p = m->root; p->nchildren > 0; p = p->children[0])
		d++;
	T_EQ_INT(d, MIME_MAX_DEPTH);
	T_ASSERT(p->broken && mime_is_message(p));
	s = bs(m, 0);
	T_ASSERT(strstr(s, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) "
	    "(\"TEXT\" \"PLAIN\"") != NULL);
	free(s);
	mime_free(&m);
	buf_free(&b);
}

static void
mime_limits_parts(void)
{
	struct mime_msg *m;
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	buf_puts(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (i = 0; i < MIME_MAX_PARTS + 50; i++)
		buf_printf(&b, "--p\r\n\r\n%zu\r\n", i);
	buf_puts(&b, "--p--\r\n");
	m = mime_parse(b.data, b.len);
	T_EQ_INT(m->nparts, MIME_MAX_PARTS);
	T_EQ_INT(m->root->nchildren, MIME_MAX_PARTS - 1);
	T_ASSERT(m->root->broken);
	T_EQ_FREE(section(m, "9999"), "9998");
	T_EQ_FREE(section(m, "10000"), "(none)");
	mime_free(&m);
	buf_free(&b);
}

static void
mime_limits_header_and_boundary(void)
{
	struct mime_msg *m;
	struct buf b, v;
	size_t i;

	buf_init(&b, 0);
	buf_init(&v, 0);
	/* Fields past MIME_MAX_HEADER are not read; the block still ends
	 * at its blank line. */
	for (i = 0; i < MIME_MAX_HEADER / 64 + 1; i++)
		buf_printf(&b, "X-Filler: %053zu\r\n", i);
	buf_puts(&b, "Content-Type: image/gif\r\n\r\nbody");
	m = mime_parse(b.data, b.len);
	T_EQ_STR(m->root->type, "text");
	T_ASSERT(m->root->broken);
	T_EQ_INT(m->root->body.len, 4);
	T_EQ_INT(mime_header_get(m, NULL, "content-type", &v), -1);
	mime_free(&m);
	/* A boundary longer than MIME_MAX_BOUNDARY is not looked for. */
	buf_reset(&b);
	buf_puts(&b, "Content-Type: multipart/mixed; boundary=");
	for (i = 0; i < MIME_MAX_BOUNDARY + 1; i++)
		buf_putc(&b, 'x');
	buf_puts(&b, "\r\n\r\n--x\r\n");
	m = mime_parse(b.data, b.len);
	T_EQ_INT(m->root->nchildren, 0);
	T_ASSERT(m->root->broken);
	mime_free(&m);
	buf_free(&b);
	buf_free(&v);
}

/* A 100 kB header line and a 1 MB body line, made here, not stored. */
static void
mime_long_lines(void)
{
	struct mime_msg *m;
	struct buf b, v;
	size_t i, off;
	char *s;

	buf_init(&b, 0);
	buf_init(&v, 0);
	buf_puts(&b, "Subject: ");
	for (i = 0; i < 100 * 1024; i++)
		buf_putc(&b, 'a' + (int)(i % 26));
	buf_puts(&b, "\r\nContent-Type: multipart/mixed; boundary=L\r\n"
	    "\r\n--L\r\nContent-Type: text/plain\r\n\r\n");
	off = b.len;
	for (i = 0; i < 1024 * 1024; i++)
		buf_putc(&b, 'z');
	buf_puts(&b, "\r\nend\r\n--L--\r\n");
	m = mime_parse(b.data, b.len);
	T_ASSERT(!m->root->broken);
	T_EQ_INT(m->root->nchildren, 1);
	T_EQ_INT(m->root->children[0]->body.off, off);
	T_EQ_INT(m->root->children[0]->body.len, 1024 * 1024 + 5);
	T_EQ_INT(m->root->children[0]->lines, 1);
	T_ASSERT(mime_header_get(m, NULL, "subject", &v) == 0);
	T_EQ_INT(v.len, 100 * 1024);
	s = env(m, NULL);
	T_EQ_INT(strlen(s), 100 * 1024 + 40);
	T_ASSERT(strncmp(s, "(NIL \"abcdefghijklmnopqrstuvwxyzabc", 34) == 0);
	free(s);
	s = bs(m, MIME_BS_EXTENDED);
	T_EQ_STR(s, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	    "\"7BIT\" 1048581 1 NIL NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"L\")"
	    " NIL NIL NIL)");
	free(s);
	mime_free(&m);
	buf_free(&b);
	buf_free(&v);
}

/* RFC 2231 sections, one plain and one extended: the plain one is
 * %-escaped when joined, three bytes a byte, and a 400 KB value ended the
 * process at join_group's 1 MB limit. */
static void
mime_rfc2231_escaped_join(void)
{
	struct mime_msg *m;
	const struct mime_param *p;
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	buf_puts(&b, "Content-Type: text/plain; n*0=");
	for (i = 0; i < 400 * 1024; i++)
		buf_putc(&b, '%');
	buf_puts(&b, "; n*1*=x\r\n\r\n");
	m = mime_parse(b.data, b.len);
	T_EQ_INT(m->root->nparams, 1);
	p = &m->root->params[0];
	T_EQ_STR(p->name, "n");
	T_ASSERT(p->extended);
	T_EQ_INT(strlen(p->wire), 2 + 3 * 400 * 1024 + 1);
	T_ASSERT(strncmp(p->wire, "''%25%25", 8) == 0);
	T_EQ_INT(strlen(p->value), 400 * 1024 + 1);
	mime_free(&m);
	buf_free(&b);
}

static void
mime_output_limit(void)
{
	struct mime_msg *m;
	struct buf b, msg;
	size_t i;

	m = parse_str("Subject: a long enough subject\r\n\r\n");
	buf_init(&b, 16);
	buf_puts(&b, "keep");
	T_EQ_INT(mime_bodystructure(m, MIME_BS_EXTENDED, &b), -1);
	T_EQ_INT(mime_envelope(m, NULL, &b), -1);
	T_EQ_STR(buf_cstr(&b), "keep");
	mime_free(&m);
	buf_free(&b);
	/* A header of 100,000 addresses makes an ENVELOPE of some 5 MB,
	 * From three times: it stops at the room out has, not after
	 * building all of it. */
	buf_init(&msg, 0);
	buf_puts(&msg, "From: ");
	for (i = 0; i < 100000; i++)
		buf_puts(&msg, "a,");
	buf_puts(&msg, "\r\n\r\n");
	m = mime_parse(msg.data, msg.len);
	buf_init(&b, 64 * 1024);
	buf_puts(&b, "keep");
	T_EQ_INT(mime_envelope(m, NULL, &b), -1);
	T_EQ_INT(mime_bodystructure(m, MIME_BS_EXTENDED, &b), 0);
	T_ASSERT(strncmp(buf_cstr(&b), "keep(\"TEXT\"", 11) == 0);
	buf_free(&b);
	buf_init(&b, 0);
	T_EQ_INT(mime_envelope(m, NULL, &b), 0);
	T_EQ_INT(b.len, 3 * (100000 * 17 + 2) + 32);
	mime_free(&m);
	buf_free(&b);
	buf_free(&msg);
}

T_SUITE(suite_mime)
{
	t_run("mime_golden_corpus", mime_golden_corpus);
	t_run("mime_every_prefix_parses", mime_every_prefix_parses);
	t_run("mime_header_folding_and_lf", mime_header_folding_and_lf);
	t_run("mime_header_ends_at_line_without_colon",
	    mime_header_ends_at_line_without_colon);
	t_run("mime_content_type_params", mime_content_type_params);
	t_run("mime_rfc2231", mime_rfc2231);
	t_run("mime_multipart_ranges", mime_multipart_ranges);
	t_run("mime_prefix_boundaries", mime_prefix_boundaries);
	t_run("mime_sections_rfc3501", mime_sections_rfc3501);
	t_run("mime_sections_single_part", mime_sections_single_part);
	t_run("mime_message_global_and_digest",
	    mime_message_global_and_digest);
	t_run("mime_limits_depth", mime_limits_depth);
	t_run("mime_limits_depth_message", mime_limits_depth_message);
	t_run("mime_limits_parts", mime_limits_parts);
	t_run("mime_limits_header_and_boundary",
	    mime_limits_header_and_boundary);
	t_run("mime_long_lines", mime_long_lines);
	t_run("mime_output_limit", mime_output_limit);
	t_run("mime_rfc2231_escaped_join", mime_rfc2231_escaped_join);
}
