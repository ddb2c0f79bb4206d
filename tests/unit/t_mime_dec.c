/*
 * Unit tests: the decoders of chapar/mime.h (quoted-printable, base64,
 * RFC 2047, charsets, bodies) and the ENVELOPE address lists.
 */
#include <stdlib.h>
#include <string.h>

#include "chapar/imapfmt.h"
#include "chapar/mime.h"
#include "chapar/utf8.h"
#include "chapar/util.h"
#include "harness.h"

typedef int (*decoder)(const char *, size_t, struct buf *);

/* Run a decoder on s (n bytes) and compare with want (wn bytes). */
static int
dec_is(decoder f, const char *s, size_t n, const char *want, size_t wn,
    int rc)
{
	struct buf b;
	int r, ok;

	buf_init(&b, 0);
	r = f(s, n, &b);
	ok = r == rc && b.len == wn && memcmp(buf_cstr(&b), want, wn) == 0;
	if (!ok)
		t_failf(__FILE__, __LINE__, "decoding \"%s\": got \"%s\" (%d)",
		    s, buf_cstr(&b), r);
	buf_free(&b);
	return ok;
}

#define DEC(f, in, want)                                                       \
	T_ASSERT(dec_is(f, in, sizeof(in) - 1, want, sizeof(want) - 1, 0))
#define DEC_RC(f, in, want, rc)                                                \
	T_ASSERT(dec_is(f, in, sizeof(in) - 1, want, sizeof(want) - 1, rc))

static void
mime_qp_rfc2045(void)
{
	/* RFC 2045 6.7: =XX in either case, soft line breaks (with blanks
	 * before the line end), trailing blanks dropped, a bad "=" kept. */
	DEC(mime_decode_qp, "a=3Db=3db=C3=A9", "a=b=b\xc3\xa9");
	DEC(mime_decode_qp, "soft=\r\nbreak", "softbreak");
	DEC(mime_decode_qp, "soft= \t\r\nbreak=\nlf", "softbreaklf");
	DEC(mime_decode_qp, "trail  \r\nx \t\ny", "trail\r\nx\ny");
	DEC(mime_decode_qp, "in  the middle", "in  the middle");
	DEC(mime_decode_qp, "bad=ZZ and =4 and =", "bad=ZZ and =4 and ");
	DEC(mime_decode_qp, "=\r=0", "=\r=0");
	DEC(mime_decode_qp, "", "");
}

static void
mime_base64_lenient(void)
{
	DEC(mime_decode_base64, "aGVsbG8=", "hello");
	DEC(mime_decode_base64, "aGVs\r\n bG8", "hello");	/* no padding */
	DEC(mime_decode_base64, "aGVsbG8=aGk=", "hellohi");	/* joined */
	DEC(mime_decode_base64, "YQ", "a");
	DEC(mime_decode_base64, "Y", "");
	/* Junk is skipped, as clients do, and reported. */
	DEC_RC(mime_decode_base64, "aGV*sbG8=", "hello", -1);
	DEC_RC(mime_decode_base64, "!!!!", "", -1);
}

static void
mime_rfc2047_words(void)
{
	DEC(mime_decode_header, "=?UTF-8?B?2LPZhNin2YU=?=",
	    "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85");
	DEC(mime_decode_header, "=?utf-8?q?caf=C3=A9_au_lait?=",
	    "caf\xc3\xa9 au lait");
	/* RFC 2047 6.2: blanks between encoded words go, others stay. */
	DEC(mime_decode_header, "a =?utf-8?q?b?= c", "a b c");
	DEC(mime_decode_header, "=?utf-8?q?a?= \t=?utf-8?q?b?=", "ab");
	DEC(mime_decode_header, "=?utf-8?q?a?=\r\n =?UTF-8?Q?b?=", "ab");
	DEC(mime_decode_header, "=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b");
	DEC(mime_decode_header, "x=?utf-8?q?a?=y", "xay");
	/* A character split across two words comes out whole. */
	DEC(mime_decode_header, "=?utf-8?b?2A==?= =?utf-8?b?sw==?=",
	    "\xd8\xb3");
	DEC(mime_decode_header, "=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?=",
	    "\xc3\xa9\xc3\xa9");
	/* Malformed words are left as they are. */
	DEC(mime_decode_header, "=?utf-8?x?abc?=", "=?utf-8?x?abc?=");
	DEC(mime_decode_header, "=?utf-8?q?abc", "=?utf-8?q?abc");
	DEC(mime_decode_header, "=??q?a?=", "=??q?a?=");
	DEC(mime_decode_header, "=?utf-8?q?a b?=", "=?utf-8?q?a b?=");
	DEC(mime_decode_header, "=?=?utf-8?q?x?=", "=?x");
	/* RFC 2231 5: a language after the charset. */
	DEC(mime_decode_header, "=?utf-8*fa?q?x?=", "x");
	/* Unknown charsets: UTF-8 if valid, else windows-1252; names iconv
	 * should not see are unknown. */
	DEC(mime_decode_header, "=?x-unknown?q?caf=C3=A9?=", "caf\xc3\xa9");
	DEC(mime_decode_header, "=?x-unknown?q?caf=E9?=", "caf\xc3\xa9");
	DEC(mime_decode_header, "=?utf-8//translit?q?=80?=", "\xe2\x82\xac");
	/* Raw 8-bit text, and NUL dropped. */
	DEC(mime_decode_header, "caf\xe9 \xd8\xb3", "caf\xc3\xa9 \xd8\xb3");
	DEC(mime_decode_header, "a\0b=?utf-8?q?=00c?=", "abc");
}

static void
mime_rfc2047_persian_arabic(void)
{
	/* پيام in windows-1256 Q, مرحبا in iso-8859-6 B. */
	DEC(mime_decode_header, "=?windows-1256?Q?=81=ED=C7=E3?=",
	    "\xd9\xbe\xd9\x8a\xd8\xa7\xd9\x85");
	DEC(mime_decode_header, "=?iso-8859-6?b?5dHNyMc=?=",
	    "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7");
	DEC(mime_decode_header, "=?UTF-8?B?2q/Ystin2LHYtA==?= "
	    "=?windows-1256?q?_=E3=C7=E1=ED?=",
	    "\xda\xaf\xd8\xb2\xd8\xa7\xd8\xb1\xd8\xb4 "
	    "\xd9\x85\xd8\xa7\xd9\x84\xd9\x8a");
}

static int
utf8_is(const char *cs, const char *s, size_t n, const char *want)
{
	struct buf b;
	int ok;

	buf_init(&b, 0);
	ok = mime_to_utf8(cs, s, n, &b) == 0 && strcmp(buf_cstr(&b), want) ==
	    0 && utf8_valid(b.data, b.len);
	if (!ok)
		t_failf(__FILE__, __LINE__, "%s: got \"%s\" want \"%s\"",
		    cs != NULL ? cs : "(null)", buf_cstr(&b), want);
	buf_free(&b);
	return ok;
}

#define U8(cs, in, want) T_ASSERT(utf8_is(cs, in, sizeof(in) - 1, want))

static void
mime_charsets(void)
{
	U8("utf-8", "a\xff" "b\xc3", "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	U8("UTF8", "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	U8("us-ascii", "caf\xc3\xa9", "caf\xc3\xa9");
	U8("us-ascii", "\x80", "\xe2\x82\xac");
	/* WHATWG Encoding: iso-8859-1 is windows-1252. */
	U8("ISO-8859-1", "\x93x\x94\xe9", "\xe2\x80\x9cx\xe2\x80\x9d\xc3\xa9");
	/* Persian letters Arabic lacks: پ چ ژ گ. */
	U8("windows-1256", "\x81\x8d\x8e\x90", "\xd9\xbe\xda\x86\xda\x98"
	    "\xda\xaf");
	U8("cp1256", "\xd3\xe1\xc7\xe3", "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85");
	U8("iso-8859-6", "\xd3\xe4\xc7\xe5", "\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85");
	/* Invalid in the charset: U+FFFD, and the rest goes on. */
	U8("iso-8859-6", "\xa1x", "\xef\xbf\xbdx");
	U8("\"Windows-1256\"", "\x81", "\xd9\xbe");
	U8("utf-16le", "a\0\x2f\x06", "a\xd8\xaf");
	U8("no-such-charset", "\xe9", "\xc3\xa9");
	U8("no-such-charset", "\xc3\xa9", "\xc3\xa9");
	U8(NULL, "plain", "plain");
	U8("../../etc/x", "\xe9", "\xc3\xa9");
	U8("shift_jis", "\x82\xa0", "\xe3\x81\x82");
}

static void
mime_decode_bodies(void)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n"
	    "caf=C3=A9=\r\n!\r\n"
	    "--b\r\nContent-Transfer-Encoding: base64\r\n\r\nYWJj\r\nZA==\r\n"
	    "--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xd8\xb3\r\n"
	    "--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
	    "begin 644 f.txt\r\n#86)C\r\n`\r\nend\r\n"
	    "--b\r\nContent-Transfer-Encoding: x-compress\r\n\r\nzz\r\n"
	    "--b--\r\n";
	static const char *const want[] = { "caf\xc3\xa9!", "abcd", "\xd8\xb3",
		"abc" };
	struct mime_msg *m = mime_parse(msg, sizeof(msg) - 1);
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	T_EQ_INT(m->root->nchildren, 5);
	for (i = 0; i < NELEM(want); i++) {
		buf_reset(&b);
		T_ASSERT(mime_decode_body(m, m->root->children[i], &b) == 0);
		T_EQ_STR(buf_cstr(&b), want[i]);
	}
	/* RFC 3516 4.3: an unknown encoding cannot be decoded. */
	T_EQ_INT(mime_decode_body(m, m->root->children[4], &b), -1);
	mime_free(&m);
	buf_free(&b);
}

static char *
envelope_of(const char *hdr)
{
	struct mime_msg *m = mime_parse(hdr, strlen(hdr));
	struct buf b;

	buf_init(&b, 0);
	(void)mime_envelope(m, NULL, &b);
	mime_free(&m);
	return buf_detach(&b);
}

#define ENV(hdr, want)                                                         \
	do {                                                                   \
		char *t_e_ = envelope_of(hdr);                                 \
		int t_ok_ = strcmp(t_e_, want) == 0;                           \
		if (!t_ok_)                                                    \
			t_failf(__FILE__, __LINE__, "%s:\n  got  %s\n  want %s", \
			    hdr, t_e_, want);                                  \
		free(t_e_);                                                    \
		if (!t_ok_)                                                    \
			return;                                                \
	} while (0)

static void
mime_envelope_addresses(void)
{
	/* RFC 5322 3.4: quoted names with specials, comments as names. */
	ENV("From: \"A, B\" <a@b.c>, x@y (Only Comment)\r\n",
	    "(NIL NIL ((\"A, B\" NIL \"a\" \"b.c\")(\"Only Comment\" NIL \"x\" "
	    "\"y\")) ((\"A, B\" NIL \"a\" \"b.c\")(\"Only Comment\" NIL \"x\" "
	    "\"y\")) ((\"A, B\" NIL \"a\" \"b.c\")(\"Only Comment\" NIL \"x\" "
	    "\"y\")) NIL NIL NIL NIL NIL)");
	/* No address at all: NIL; a missing domain: NIL host. */
	ENV("To: <>, \"n\" <>, @, (c)\r\nCc: a@, b\r\n",
	    "(NIL NIL NIL NIL NIL NIL ((NIL NIL \"a\" NIL)(NIL NIL \"b\" NIL)) "
	    "NIL NIL NIL)");
	/* obs-phrase keeps its dots; a local part keeps its blanks out. */
	ENV("To: John Q. Public <j@x>, first.last, a . b @ c\r\n",
	    "(NIL NIL NIL NIL NIL ((\"John Q. Public\" NIL \"j\" \"x\")(NIL NIL "
	    "\"first.last\" NIL)(NIL NIL \"a.b\" \"c\")) NIL NIL NIL NIL)");
	/* RFC 3501 7.4.2 groups, one never closed. */
	ENV("To: Empty: ;, G: a@b\r\n",
	    "(NIL NIL NIL NIL NIL ((NIL NIL \"Empty\" NIL)(NIL NIL NIL NIL)"
	    "(NIL NIL \"G\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL)) NIL NIL "
	    "NIL NIL)");
	/* obs-route, domain literal, quoted local part, quoted-pairs. */
	ENV("To: <@a, @b:c@d>, x@[1.2.3.4], \"j s\"@e.f, \"a\\\\b\\\"\" <q@r>\r\n",
	    "(NIL NIL NIL NIL NIL ((NIL \"@a,@b\" \"c\" \"d\")(NIL NIL \"x\" "
	    "\"[1.2.3.4]\")(NIL NIL \"j s\" \"e.f\")(\"a\\\\b\\\"\" NIL \"q\" "
	    "\"r\")) NIL NIL NIL NIL)");
	/* Encoded words stay raw; 8-bit goes out as a literal. */
	ENV("From: =?utf-8?q?x?= <a@b>, \xd8\xb3 <c@d>\r\n",
	    "(NIL NIL ((\"=?utf-8?q?x?=\" NIL \"a\" \"b\")({2}\r\n\xd8\xb3 NIL "
	    "\"c\" \"d\")) ((\"=?utf-8?q?x?=\" NIL \"a\" \"b\")({2}\r\n\xd8\xb3 "
	    "NIL \"c\" \"d\")) ((\"=?utf-8?q?x?=\" NIL \"a\" \"b\")({2}\r\n"
	    "\xd8\xb3 NIL \"c\" \"d\")) NIL NIL NIL NIL NIL)");
	/* RFC 3501 7.4.2: Sender and Reply-To absent or empty are From. */
	ENV("From: f@g\r\nSender:\r\nReply-To: <>\r\n",
	    "(NIL NIL ((NIL NIL \"f\" \"g\")) ((NIL NIL \"f\" \"g\")) ((NIL NIL "
	    "\"f\" \"g\")) NIL NIL NIL NIL NIL)");
	ENV("From: f@g\r\nSender: s@t\r\nReply-To: r@u\r\nBcc: b@c\r\n",
	    "(NIL NIL ((NIL NIL \"f\" \"g\")) ((NIL NIL \"s\" \"t\")) ((NIL NIL "
	    "\"r\" \"u\")) NIL NIL ((NIL NIL \"b\" \"c\")) NIL NIL)");
	/* Strays never stall the parser. */
	ENV("To: >>a@b)),,;;\"\r\n",
	    "(NIL NIL NIL NIL NIL ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL)");
}

static void
collect(void *arg, const struct buf *mbox, const struct buf *host)
{
	struct buf *b = arg;

	buf_printf(b, "%s@%s;", buf_cstr(mbox), buf_cstr(host));
}

/* The mailbox walk that submission's From check uses. */
static void
mime_addr_walk_cases(void)
{
	struct buf b;
	static const char list[] = "Alice <alice@example.org>, \"B, o\" (c) "
	    "<bob@example.net>, c@d.example (Carol)";

	buf_init(&b, 4096);
	T_EQ_INT(mime_addr_each(list, strlen(list), collect, &b), 3);
	T_EQ_STR(buf_cstr(&b), "alice@example.org;bob@example.net;"
	    "c@d.example;");
	buf_reset(&b);
	/* a group: its start and end count, only its members are walked */
	T_EQ_INT(mime_addr_each("team: a@b.example;", 18, collect, &b), 3);
	T_EQ_STR(buf_cstr(&b), "a@b.example;");
	buf_reset(&b);
	T_EQ_INT(mime_addr_each("undisclosed-recipients:;", 24, collect, &b),
	    2);
	T_EQ_INT(mime_addr_each("nodomain", 8, collect, &b), 1);
	T_EQ_INT((int)b.len, 0);
	T_EQ_INT(mime_addr_each("<@route:a@b.example>", 20, collect, &b), 1);
	T_EQ_STR(buf_cstr(&b), "a@b.example;");
	buf_free(&b);
}

static void
mime_envelope_strings(void)
{
	/* Unfolded, trimmed, quoted with escapes; absent is NIL, empty is
	 * "". */
	ENV("Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nSubject: a \"q\"\\\r\n"
	    " b\r\nIn-Reply-To: <x@y>\r\nMessage-ID:  <m@n>  \r\n",
	    "(\"Mon, 1 Jan 2024 00:00:00 +0000\" \"a \\\"q\\\"\\\\ b\" NIL NIL "
	    "NIL NIL NIL NIL \"<x@y>\" \"<m@n>\")");
	ENV("Subject:\r\n", "(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	ENV("Subject: \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85\r\n",
	    "(NIL {8}\r\n\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 NIL NIL NIL NIL NIL "
	    "NIL NIL NIL)");
}

/* RFC 6152 3: 8-bit parts become quoted-printable, the rest stays. */
static void
mime_8bit_to_7bit(void)
{
	static const char simple[] = "From: a@b.example\r\nSubject: x\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n\xd8\xb3\xd9\x84\xd8"
	    "\xa7\xd9\x85 = salaam \r\n";
	static const char multi[] = "MIME-Version: 1.0\r\nContent-Type: "
	    "multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: "
	    "text/plain; charset=utf-8\r\n\r\ncaf\xc3\xa9\r\n--b\r\n"
	    "Content-Type: application/octet-stream\r\nContent-Transfer-"
	    "Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n";
	struct buf out;
	size_t i;

	buf_init(&out, 1 << 20);
	T_EQ_INT(mime_8to7(simple, sizeof(simple) - 1, &out), 1);
	T_ASSERT(strstr(buf_cstr(&out), "Content-Transfer-Encoding: "
	    "quoted-printable\r\n\r\n=D8=B3=D9=84=D8=A7=D9=85 =3D salaam=20"
	    "\r\n") != NULL);
	T_ASSERT(strstr(buf_cstr(&out), "8bit") == NULL);
	for (i = 0; i < out.len; i++)
		T_ASSERT((unsigned char)out.data[i] < 0x80);
	buf_reset(&out);
	T_EQ_INT(mime_8to7(multi, sizeof(multi) - 1, &out), 1);
	T_ASSERT(strstr(buf_cstr(&out), "charset=utf-8\r\nContent-Transfer-"
	    "Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n--b") != NULL);
	T_ASSERT(strstr(buf_cstr(&out), "base64\r\n\r\nAAAA\r\n--b--") !=
	    NULL);
	buf_reset(&out);
	{
		static const char ascii[] = "Subject: x\r\n\r\nascii\r\n";

		T_EQ_INT(mime_8to7(ascii, sizeof(ascii) - 1, &out), 0);
	}
	T_EQ_INT((int)out.len, 0);
	/* long lines get soft breaks at 76 */
	buf_reset(&out);
	{
		char line[300];

		memset(line, 'a', sizeof(line));
		T_EQ_INT(mime_qp_encode(line, sizeof(line), &out), 0);
		T_ASSERT(strstr(buf_cstr(&out), "=\r\n") != NULL);
		T_ASSERT(strchr(buf_cstr(&out), '\r') - buf_cstr(&out) == 76);
	}
	buf_free(&out);
}

/* Every line of b at most max octets (without CRLF). */
static int
lines_within(const struct buf *b, size_t max)
{
	size_t i, col = 0;

	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\n') {
			col = 0;
			continue;
		}
		if (b->data[i] != '\r' && ++col > max)
			return 0;
	}
	return 1;
}

/* RFC 5322 2.1.1: lines of at most 998 on the way out */
static void
mime_fit_998(void)
{
	struct buf in, out, dec;
	size_t i;

	buf_init(&in, 0);
	buf_init(&out, 0);
	buf_init(&dec, 0);
	/* a 7bit body line of 5000: quoted-printable, decoded the same */
	buf_puts(&in, "Subject: x\r\n\r\n");
	for (i = 0; i < 5000; i++)
		buf_putc(&in, "abc "[i % 4]);
	buf_puts(&in, "\r\n");
	T_EQ_INT(mime_fit(in.data, in.len, MIME_FIT_998, &out), 1);
	T_ASSERT(lines_within(&out, 998));
	T_ASSERT(strstr(buf_cstr(&out), "quoted-printable\r\n\r\n") != NULL);
	T_ASSERT(mime_decode_qp(strstr(out.data, "\r\n\r\n") + 4,
	    out.len - (size_t)(strstr(out.data, "\r\n\r\n") + 4 - out.data),
	    &dec) == 0);
	T_EQ_INT(dec.len, 5002);
	T_ASSERT(memcmp(dec.data, in.data + 14, 5002) == 0);
	/* a base64 part in one line of 2000: lines of 76 */
	buf_reset(&in);
	buf_reset(&out);
	buf_puts(&in, "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	for (i = 0; i < 2000; i++)
		buf_putc(&in, 'Q');
	buf_puts(&in, "\r\n");
	T_EQ_INT(mime_fit(in.data, in.len, MIME_FIT_998, &out), 1);
	T_ASSERT(lines_within(&out, 76));
	/* a header field of 1500 with blanks: folded before one; without
	 * blanks: cut with CRLF SP */
	buf_reset(&in);
	buf_reset(&out);
	buf_puts(&in, "Subject:");
	for (i = 0; i < 300; i++)
		buf_puts(&in, " word");
	buf_puts(&in, "\r\nX-Long: ");
	for (i = 0; i < 3000; i++)
		buf_putc(&in, 'x');
	buf_puts(&in, "\r\n\r\nbody\r\n");
	T_EQ_INT(mime_fit(in.data, in.len, MIME_FIT_998, &out), 1);
	T_ASSERT(lines_within(&out, 998));
	T_ASSERT(strstr(buf_cstr(&out), "\r\n\r\nbody\r\n") != NULL);
	T_ASSERT(strstr(buf_cstr(&out), " word\r\n word") != NULL);
	/* nothing long: nothing changes */
	buf_reset(&out);
	T_EQ_INT(mime_fit("Subject: x\r\n\r\nhi\r\n", 18, MIME_FIT_998,
	    &out), 0);
	T_EQ_INT(out.len, 0);
	buf_free(&in);
	buf_free(&out);
	buf_free(&dec);
}

/* Many small 8-bit parts: each gets a 45-byte field, so the 7-bit form
 * outgrew the 4 times and 64 KB remote(8) gives it, and mime_8to7
 * ended the process.  Now it says -1. */
static void
mime_8to7_many_parts(void)
{
	struct buf msg, out;
	int i;

	buf_init(&msg, 0);
	buf_puts(&msg, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (i = 0; i < 6000; i++)
		buf_puts(&msg, "--b\r\n\r\n\x80\r\n");
	buf_puts(&msg, "--b--\r\n");
	buf_init(&out, msg.len * 4 + 65536);
	T_EQ_INT(mime_8to7(msg.data, msg.len, &out), -1);
	buf_free(&out);
	buf_init(&out, 0);
	T_EQ_INT(mime_8to7(msg.data, msg.len, &out), 1);
	T_ASSERT(out.len > msg.len * 4 + 65536);
	buf_free(&out);
	buf_free(&msg);
}

T_SUITE(suite_mime_dec)
{
	t_run("mime_fit_998", mime_fit_998);
	t_run("mime_qp_rfc2045", mime_qp_rfc2045);
	t_run("mime_base64_lenient", mime_base64_lenient);
	t_run("mime_rfc2047_words", mime_rfc2047_words);
	t_run("mime_rfc2047_persian_arabic", mime_rfc2047_persian_arabic);
	t_run("mime_charsets", mime_charsets);
	t_run("mime_decode_bodies", mime_decode_bodies);
	t_run("mime_envelope_addresses", mime_envelope_addresses);
	t_run("mime_envelope_strings", mime_envelope_strings);
	t_run("mime_addr_walk", mime_addr_walk_cases);
	t_run("mime_8bit_to_7bit", mime_8bit_to_7bit);
	t_run("mime_8to7_many_parts", mime_8to7_many_parts);
}
