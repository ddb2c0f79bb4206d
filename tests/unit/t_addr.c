/* Unit tests: SMTP addresses (RFC 5321 4.1.2, RFC 6531), chapar/addr.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/addr.h"
#include "chapar/buf.h"
#include "chapar/util.h"
#include "harness.h"

#define U ADDR_UTF8
#define ND ADDR_ALLOW_NODOMAIN

/* The last parse result, for the assertions that follow. */
static struct addr A;
static int A_null;
static struct buf tmp;

static const char *
pathn(const char *s, size_t n, int flags)
{
	const char *err = NULL;

	addr_free(&A);
	addr_init(&A);
	A_null = -1;
	if (addr_parse_path(sv_make(s, n), flags, &A, &A_null, &err) == 0)
		return "ok";
	return err != NULL ? err : "(no error)";
}

/* Parse a path: "ok" or the error string. */
static const char *
path(const char *s, int flags)
{
	return pathn(s, strlen(s), flags);
}

static const char *
mboxn(const char *s, size_t n, int flags)
{
	const char *err = NULL;

	addr_free(&A);
	addr_init(&A);
	if (addr_parse(sv_make(s, n), flags, &A, &err) == 0)
		return "ok";
	return err != NULL ? err : "(no error)";
}

/* Parse a bare mailbox: "ok" or the error string. */
static const char *
mbox(const char *s, int flags)
{
	return mboxn(s, strlen(s), flags);
}

static const char *
fmt(void)
{
	addr_format(&A, &tmp);
	return buf_cstr(&tmp);
}

static const char *
key(void)
{
	addr_key(&A, &tmp);
	return buf_cstr(&tmp);
}

static const char *
norm(const char *d, int flags)
{
	const char *err = NULL;

	if (addr_domain_normalize(sv_from(d), flags, &tmp, &err) == 0)
		return buf_cstr(&tmp);
	return err != NULL ? err : "(no error)";
}

/* A string of pre, then n copies of c, then post (in a static buffer). */
static const char *
rep(const char *pre, int c, size_t n, const char *post)
{
	static struct buf b;
	size_t i;

	buf_free(&b);
	buf_init(&b, 0);
	buf_puts(&b, pre);
	for (i = 0; i < n; i++)
		buf_putc(&b, c);
	buf_puts(&b, post);
	return buf_cstr(&b);
}

#define PATH_OK(s, f, l, d)                                                    \
	do {                                                                   \
		T_EQ_STR(path((s), (f)), "ok");                                \
		T_EQ_STR(buf_cstr(&A.local), (l));                             \
		T_EQ_STR(buf_cstr(&A.domain), (d));                            \
	} while (0)
#define MBOX_OK(s, f, l, d)                                                    \
	do {                                                                   \
		T_EQ_STR(mbox((s), (f)), "ok");                                \
		T_EQ_STR(buf_cstr(&A.local), (l));                             \
		T_EQ_STR(buf_cstr(&A.domain), (d));                            \
	} while (0)

static void
addr_simple(void)
{
	PATH_OK("<user@example.com>", 0, "user", "example.com");
	T_EQ_INT(A_null, 0);
	T_EQ_INT(A.quoted, 0);
	T_EQ_INT(A.literal, 0);
	T_EQ_INT(A.utf8, 0);
	MBOX_OK("user@example.com", 0, "user", "example.com");
	MBOX_OK("a@b", 0, "a", "b");
	MBOX_OK("localhost-user@localhost", 0, "localhost-user", "localhost");
	MBOX_OK("u@1.2.3.4", 0, "u", "1.2.3.4");
	MBOX_OK("u@a-b--c.x9", 0, "u", "a-b--c.x9");
	T_EQ_STR(mbox("<user@example.com>", 0), "invalid character in local part");
}

/* Examples from RFC 5321 Appendix D, RFC 5322 Appendix A and RFC 3696 3. */
static void
addr_rfc_examples(void)
{
	PATH_OK("<Smith@bar.com>", 0, "Smith", "bar.com");
	PATH_OK("<JQP@bar.com>", 0, "JQP", "bar.com");
	MBOX_OK("john.q.public@example.com", 0, "john.q.public",
	    "example.com");
	MBOX_OK("customer/department=shipping@example.com", 0,
	    "customer/department=shipping", "example.com");
	MBOX_OK("$A12345@example.com", 0, "$A12345", "example.com");
	MBOX_OK("!def!xyz%abc@example.com", 0, "!def!xyz%abc", "example.com");
	MBOX_OK("_somename@example.com", 0, "_somename", "example.com");
	MBOX_OK("{'*+-/=?^`|~#&}@x.y", 0, "{'*+-/=?^`|~#&}", "x.y");
	MBOX_OK("\"Abc@def\"@example.com", 0, "Abc@def", "example.com");
	MBOX_OK("\"Fred Bloggs\"@example.com", 0, "Fred Bloggs",
	    "example.com");
	MBOX_OK("\"Joe\\\\Blow\"@example.com", 0, "Joe\\Blow", "example.com");
	/* RFC 5322 comments and folding are not part of SMTP's syntax. */
	T_EQ_STR(mbox("pete(his account)@silly.test", 0),
	    "invalid character in local part");
	T_EQ_STR(mbox("c@(Chris's host.)public.example", 0),
	    "invalid character in domain");
}

static void
addr_quoted(void)
{
	PATH_OK("<\"a b\"@x.y>", 0, "a b", "x.y");
	T_EQ_INT(A.quoted, 1);
	T_EQ_STR(fmt(), "\"a b\"@x.y");
	PATH_OK("<\"a\\\"b\"@x.y>", 0, "a\"b", "x.y");
	T_EQ_STR(fmt(), "\"a\\\"b\"@x.y");
	PATH_OK("<\"a\\\\b\"@x.y>", 0, "a\\b", "x.y");
	PATH_OK("<\"\\a\\b\\c\"@x.y>", 0, "abc", "x.y");
	T_EQ_STR(fmt(), "abc@x.y");
	PATH_OK("<\"\"@x.y>", 0, "", "x.y");
	T_EQ_INT(A.quoted, 1);
	T_EQ_STR(fmt(), "\"\"@x.y");
	PATH_OK("<\"a>b\"@x.y>", 0, "a>b", "x.y");
	PATH_OK("<\"<@a:b@c>\"@x.y>", 0, "<@a:b@c>", "x.y");
	PATH_OK("<\" \"@x.y>", 0, " ", "x.y");
	PATH_OK("<\"~!#$%^&*()_+{}|:;'<>,.?/[]\"@x.y>", 0,
	    "~!#$%^&*()_+{}|:;'<>,.?/[]", "x.y");
	T_EQ_STR(path("<\"ab@x.y>", 0), "unbalanced quote in local part");
	T_EQ_STR(path("<\"ab\\\"@x.y>", 0), "unbalanced quote in local part");
	T_EQ_STR(path("<\"a\"b@x.y>", 0),
	    "invalid character after quoted local part");
	T_EQ_STR(path("<a\"b\"@x.y>", 0), "invalid character in local part");
	T_EQ_STR(path("<\"a\tb\"@x.y>", 0), "control character in local part");
	T_EQ_STR(path("<\"a\\\tb\"@x.y>", 0), "bad quoted pair in local part");
	T_EQ_STR(path("<\"a\x7f\"@x.y>", 0), "control character in local part");
	T_EQ_STR(mbox("\"ab\\", 0), "bad quoted pair in local part");
	T_EQ_STR(mbox("\"", 0), "unbalanced quote in local part");
}

static void
addr_literals(void)
{
	PATH_OK("<u@[1.2.3.4]>", 0, "u", "[1.2.3.4]");
	T_EQ_INT(A.literal, 1);
	PATH_OK("<u@[001.002.030.255]>", 0, "u", "[1.2.30.255]");
	PATH_OK("<u@[0.0.0.0]>", 0, "u", "[0.0.0.0]");
	T_EQ_STR(path("<u@[256.1.1.1]>", 0), "bad IPv4 address literal");
	T_EQ_STR(path("<u@[1.2.3]>", 0), "bad IPv4 address literal");
	T_EQ_STR(path("<u@[1.2.3.4.5]>", 0), "bad IPv4 address literal");
	T_EQ_STR(path("<u@[1.2.3.0004]>", 0), "bad IPv4 address literal");
	T_EQ_STR(path("<u@[1..3.4]>", 0), "bad IPv4 address literal");
	T_EQ_STR(path("<u@[]>", 0), "bad IPv4 address literal");
	T_EQ_STR(path("<u@[example.com]>", 0), "bad IPv4 address literal");
	T_EQ_STR(path("<u@[1.2.3.4>", 0),
	    "unbalanced bracket in address literal");
	T_EQ_STR(path("<u@[>", 0), "unbalanced bracket in address literal");
	T_EQ_STR(path("<u@[1.2.3.4]]>", 0),
	    "invalid character in address literal");
	T_EQ_STR(path("<u@[[1.2.3.4]>", 0),
	    "invalid character in address literal");
	T_EQ_STR(path("<u@1.2.3.4]>", 0), "invalid character in domain");
	T_EQ_STR(path("<u@[1.2.3.4 ]>", 0),
	    "invalid character in address literal");

	PATH_OK("<u@[IPv6:::1]>", 0, "u", "[IPv6:::1]");
	T_EQ_INT(A.literal, 1);
	PATH_OK("<u@[ipv6:2001:DB8::1]>", 0, "u", "[IPv6:2001:db8::1]");
	PATH_OK("<u@[IPv6:2001:db8:0:0:0:0:0:1]>", 0, "u",
	    "[IPv6:2001:db8::1]");
	PATH_OK("<u@[IPv6:::ffff:192.0.2.1]>", 0, "u",
	    "[IPv6:::ffff:192.0.2.1]");
	PATH_OK("<u@[IPv6:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]>", 0,
	    "u", "[IPv6:ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]");
	T_EQ_STR(path("<u@[IPv6:1:2:3]>", 0), "bad IPv6 address literal");
	T_EQ_STR(path("<u@[IPv6:12345::]>", 0), "bad IPv6 address literal");
	T_EQ_STR(path("<u@[IPv6:1::2::3]>", 0), "bad IPv6 address literal");
	T_EQ_STR(path("<u@[IPv6:fe80::1%eth0]>", 0),
	    "bad IPv6 address literal");
	T_EQ_STR(path("<u@[IPv6:]>", 0), "bad IPv6 address literal");
	T_EQ_STR(path("<u@[IPv6:1.2.3.4]>", 0), "bad IPv6 address literal");
	T_EQ_STR(path("<u@[IPv6:::1 ]>", 0),
	    "invalid character in address literal");

	/* General-address-literal: syntax only, kept as given. */
	PATH_OK("<u@[x-Tag:Any-Thing=1]>", 0, "u", "[x-Tag:Any-Thing=1]");
	PATH_OK("<u@[tag:a:b>c]>", 0, "u", "[tag:a:b>c]");
	T_EQ_STR(path("<u@[tag-:x]>", 0), "bad address literal");
	T_EQ_STR(path("<u@[:x]>", 0), "bad address literal");
	T_EQ_STR(path("<u@[tag:]>", 0), "bad address literal");
	T_EQ_STR(path("<u@[t_g:x]>", 0), "bad address literal");
	T_EQ_STR(path("<u@[tag:a\\b]>", 0),
	    "invalid character in address literal");
	T_EQ_STR(path("<u@[t\xc3\xa4g:x]>", U),
	    "invalid character in address literal");
}

static void
addr_source_route(void)
{
	PATH_OK("<@a,@b:u@c.d>", 0, "u", "c.d");
	PATH_OK("<@ONE,@TWO:JOE@THREE>", 0, "JOE", "three");
	PATH_OK("<@a.example:\"x:y,z\"@b.example>", 0, "x:y,z", "b.example");
	PATH_OK("<@b\xc3\xbc" "cher.example:u@c.d>", U, "u", "c.d");
	T_EQ_STR(path("<@a:>", 0), "missing local part");
	T_EQ_STR(path("<@:u@d>", 0), "missing domain");
	T_EQ_STR(path("<@a,:u@d>", 0), "bad source route");
	T_EQ_STR(path("<@a,b:u@d>", 0), "bad source route");
	T_EQ_STR(path("<@a u@d>", 0), "bad source route");
	T_EQ_STR(path("<@a..b:u@d>", 0), "empty label in domain");
	T_EQ_STR(path("<@[1.2.3.4]:u@d>", 0), "invalid character in domain");
	T_EQ_STR(path("<@-a:u@d>", 0),
	    "hyphen at start or end of domain label");
	T_EQ_STR(path("<@b\xc3\xbc" "cher.example:u@c.d>", 0),
	    "non-ASCII domain needs SMTPUTF8");
	T_EQ_STR(path("<@a:Postmaster>", ND), "missing domain");
	T_EQ_STR(path("<:u@d>", 0), "invalid character in local part");
}

static void
addr_null_path(void)
{
	T_EQ_STR(path("<>", 0), "ok");
	T_EQ_INT(A_null, 1);
	T_EQ_INT(A.local.len, 0);
	T_EQ_INT(A.domain.len, 0);
	T_EQ_STR(path("<user@x.y>", 0), "ok");
	T_EQ_INT(A_null, 0);
	T_EQ_STR(path("< >", 0), "invalid character in local part");
	T_EQ_STR(path("<", 0), "address not in angle brackets");
	T_EQ_STR(path(">", 0), "address not in angle brackets");
	T_EQ_STR(path("", 0), "address not in angle brackets");
	T_EQ_STR(path("user@x.y", 0), "address not in angle brackets");
	T_EQ_STR(path("<user@x.y", 0), "address not in angle brackets");
	T_EQ_STR(path(" <user@x.y>", 0), "address not in angle brackets");
	T_EQ_STR(path("<<>>", 0), "invalid character in local part");
	T_EQ_STR(path("<user@x.y>>", 0), "invalid character in domain");
	T_EQ_STR(mbox("", 0), "missing local part");
}

static void
addr_postmaster(void)
{
	PATH_OK("<Postmaster>", ND, "Postmaster", "");
	T_EQ_STR(fmt(), "Postmaster");
	T_EQ_STR(key(), "postmaster");
	PATH_OK("<POSTMASTER>", ND, "POSTMASTER", "");
	PATH_OK("<postmaster>", ND | U, "postmaster", "");
	MBOX_OK("pOsTmAsTeR", ND, "pOsTmAsTeR", "");
	PATH_OK("<Postmaster@example.com>", ND, "Postmaster", "example.com");
	T_EQ_STR(path("<Postmaster>", 0), "missing domain");
	T_EQ_STR(mbox("postmaster", 0), "missing domain");
	T_EQ_STR(path("<\"Postmaster\">", ND), "missing domain");
	T_EQ_STR(path("<user>", ND), "missing domain");
	T_EQ_STR(path("<Postmaster@>", ND), "missing domain");
	T_EQ_STR(path("<postmasters>", ND), "missing domain");
}

/* Relay hacks parse as what they literally are, never as routes. */
static void
addr_relay_hacks(void)
{
	PATH_OK("<user%ext@local>", 0, "user%ext", "local");
	PATH_OK("<ext!user@local>", 0, "ext!user", "local");
	PATH_OK("<\"user@ext\"@local>", 0, "user@ext", "local");
	T_EQ_INT(A.quoted, 1);
	PATH_OK("<@local:user@ext>", 0, "user", "ext");
	T_EQ_STR(path("<user@ext@local>", 0), "invalid character in domain");
	T_EQ_STR(path("<user@local:ext>", 0), "invalid character in domain");
}

static void
addr_bad_local(void)
{
	T_EQ_STR(mbox("a..b@x.y", 0), "misplaced dot in local part");
	T_EQ_STR(mbox(".a@x.y", 0), "misplaced dot in local part");
	T_EQ_STR(mbox("a.@x.y", 0), "misplaced dot in local part");
	T_EQ_STR(mbox(".@x.y", 0), "misplaced dot in local part");
	T_EQ_STR(mbox("@x.y", 0), "missing local part");
	T_EQ_STR(mbox("@", 0), "missing local part");
	T_EQ_STR(path("<@>", 0), "bad source route");
	T_EQ_STR(mbox("a@", 0), "missing domain");
	T_EQ_STR(mbox("a", 0), "missing domain");
	T_EQ_STR(mbox("a b@x.y", 0), "invalid character in local part");
	T_EQ_STR(mbox(" a@x.y", 0), "invalid character in local part");
	T_EQ_STR(mbox("a(b)@x.y", 0), "invalid character in local part");
	T_EQ_STR(mbox("a,b@x.y", 0), "invalid character in local part");
	T_EQ_STR(mbox("a\\b@x.y", 0), "invalid character in local part");
	T_EQ_STR(mbox("a\x01" "b@x.y", 0), "invalid character in local part");
	T_EQ_STR(mbox("a\r\n@x.y", 0), "invalid character in local part");
	T_EQ_STR(mbox("a\x7f@x.y", 0), "invalid character in local part");
	T_EQ_STR(mboxn("a\0b@x.y", 7, 0), "NUL character in address");
	T_EQ_STR(pathn("<\"a\0\"@x.y>", 10, 0), "NUL character in address");
	T_EQ_STR(pathn("<a@x.y\0>", 8, U), "NUL character in address");
	/* 8-bit without ADDR_UTF8, and bad UTF-8 with it. */
	T_EQ_STR(mbox("\xc3\xbc@x.y", 0), "non-ASCII local part needs SMTPUTF8");
	T_EQ_STR(mbox("\"\xc3\xbc\"@x.y", 0),
	    "non-ASCII local part needs SMTPUTF8");
	T_EQ_STR(mbox("\xff@x.y", 0), "non-ASCII local part needs SMTPUTF8");
	T_EQ_STR(mbox("\xc3(@x.y", U), "invalid UTF-8 in local part");
	T_EQ_STR(mbox("\xc0\xaf@x.y", U), "invalid UTF-8 in local part");
	T_EQ_STR(mbox("\xed\xa0\x80@x.y", U), "invalid UTF-8 in local part");
	T_EQ_STR(mbox("a\xc3", U), "invalid UTF-8 in local part");
	T_EQ_STR(mbox("\xc2\x85@x.y", U), "control character in local part");
	T_EQ_STR(mbox("\"\xc2\x9f\"@x.y", U),
	    "control character in local part");
	T_EQ_STR(mbox("\"\\\xc3\xbc\"@x.y", U), "bad quoted pair in local part");
}

static void
addr_bad_domain(void)
{
	T_EQ_STR(mbox("a@-x.y", 0), "hyphen at start or end of domain label");
	T_EQ_STR(mbox("a@x-.y", 0), "hyphen at start or end of domain label");
	T_EQ_STR(mbox("a@x.-", 0), "hyphen at start or end of domain label");
	T_EQ_STR(mbox("a@x..y", 0), "empty label in domain");
	T_EQ_STR(mbox("a@.x.y", 0), "empty label in domain");
	T_EQ_STR(mbox("a@.", 0), "empty label in domain");
	T_EQ_STR(mbox("a@x.y.", 0), "trailing dot in domain");
	T_EQ_STR(mbox("a@x_y.z", 0), "invalid character in domain");
	T_EQ_STR(mbox("a@x.y ", 0), "invalid character in domain");
	T_EQ_STR(mbox("a@x\ty", 0), "invalid character in domain");
	T_EQ_STR(mbox("a@x/y", 0), "invalid character in domain");
	T_EQ_STR(mbox("a@b\xc3\xbc" "cher.example", 0),
	    "non-ASCII domain needs SMTPUTF8");
	T_EQ_STR(mbox("a@\xc3x.y", U), "invalid UTF-8 in domain");
	/* Labels: 63 octets are fine, 64 are not. */
	T_EQ_STR(mbox(rep("a@", 'x', 63, ".y"), 0), "ok");
	T_EQ_INT(A.domain.len, 65);
	T_EQ_STR(mbox(rep("a@", 'x', 64, ".y"), 0), "domain label too long");
	T_EQ_STR(mbox(rep("a@y.", 'x', 64, ""), 0), "domain label too long");
	T_EQ_STR(norm("", 0), "missing domain");
}

/* A domain of exactly n octets: labels of up to 63 "x", no trailing dot. */
static const char *
domain_of(size_t n)
{
	static char d[512];
	size_t i = 0, l;

	while (i < n && n < sizeof(d)) {
		l = n - i > 63 ? 63 : n - i;
		if (n - i - l == 1)
			l--;
		memset(d + i, 'x', l);
		i += l;
		if (i < n)
			d[i++] = '.';
	}
	d[i] = '\0';
	return d;
}

/* pre + s1 + s2 + post, in tmp. */
static const char *
cat(const char *pre, const char *s1, const char *s2, const char *post)
{
	buf_reset(&tmp);
	buf_puts(&tmp, pre);
	buf_puts(&tmp, s1);
	buf_puts(&tmp, s2);
	buf_puts(&tmp, post);
	return buf_cstr(&tmp);
}

static char a64[65];

static void
addr_limits(void)
{
	static char in[600];

	memset(a64, 'a', 64);
	/* RFC 5321 4.5.3.1.1: local part, 64 octets (quotes included). */
	T_EQ_STR(path(rep("<", 'a', 64, "@x.y>"), 0), "ok");
	T_EQ_INT(A.local.len, 64);
	T_EQ_STR(path(rep("<", 'a', 65, "@x.y>"), 0), "local part too long");
	T_EQ_STR(path(rep("<\"", 'a', 62, "\"@x.y>"), 0), "ok");
	T_EQ_INT(A.local.len, 62);
	T_EQ_STR(path(rep("<\"", 'a', 63, "\"@x.y>"), 0),
	    "local part too long");
	T_EQ_STR(path(rep("<\"", 'a', 70, ">"), 0), "local part too long");
	T_EQ_STR(path(rep("<", 'a', 62, "\xc3\xa4@x.y>"), U), "ok");
	T_EQ_STR(path(rep("<", 'a', 63, "\xc3\xa4@x.y>"), U),
	    "local part too long");

	/* RFC 5321 4.5.3.1.2: domain, 255 octets. */
	T_EQ_INT(strlen(domain_of(255)), 255);
	T_EQ_STR(norm(domain_of(255), 0), domain_of(255));
	T_EQ_STR(norm(domain_of(256), 0), "domain too long");
	T_EQ_STR(norm(domain_of(256), U), "domain too long");

	/* RFC 5321 4.5.3.1.3: path, 256 octets with "<" and ">". */
	T_EQ_INT(strlen(cat("<", a64, "@", domain_of(189))), 255);
	T_EQ_STR(path(cat("<", a64, "@", domain_of(189)), 0),
	    "address not in angle brackets");
	memcpy(in, cat("<", a64, "@", domain_of(189)), 256);
	memcpy(in + 255, ">", 2);
	T_EQ_STR(path(in, 0), "ok");
	memcpy(in, cat("<", a64, "@", domain_of(190)), 257);
	memcpy(in + 256, ">", 2);
	T_EQ_STR(path(in, 0), "address too long");
	memcpy(in, cat("<@ab:a@", domain_of(248), ">", ""), 257);
	T_EQ_STR(path(in, 0), "ok");
	addr_format(&A, &tmp);
	T_EQ_INT(tmp.len, 250);
	memcpy(in, cat("<@ab:a@", domain_of(249), ">", ""), 258);
	T_EQ_STR(path(in, 0), "address too long");
	/* A bare mailbox must fit in a path: 254 octets. */
	memcpy(in, cat(a64, "@", domain_of(189), ""), 255);
	T_EQ_STR(mbox(in, 0), "ok");
	memcpy(in, cat(a64, "@", domain_of(190), ""), 256);
	T_EQ_STR(mbox(in, 0), "address too long");
}

/* The canonical form (A-labels) must fit in a path as well. */
static void
addr_limits_idn(void)
{
	struct buf in, want;
	int k;

	buf_init(&in, 0);
	buf_init(&want, 0);
	/* "a" x 55 + U+00FC: 57 octets as a U-label, 63 as an A-label. */
	for (k = 0; k < 2; k++) {
		buf_puts(&in, rep("", 'a', 55, "\xc3\xbc."));
		buf_puts(&want, rep("xn--", 'a', 55, "-8yf."));
	}
	buf_puts(&in, rep("", 'x', 61, ""));
	buf_puts(&want, rep("", 'x', 61, ""));
	T_EQ_INT(in.len, 177);
	T_EQ_INT(want.len, 189);
	T_EQ_STR(norm(buf_cstr(&in), U), buf_cstr(&want));
	/* <a64@domain>: 244 octets as sent, 256 in canonical form. */
	T_EQ_STR(path(cat("<", rep("", 'a', 64, "@"), buf_cstr(&in), ">"), U),
	    "ok");
	T_EQ_INT(A.domain.len, 189);
	addr_format(&A, &tmp);
	T_EQ_INT(tmp.len, 254);
	/* One more octet: 245 as sent, 257 canonical. */
	buf_putc(&in, 'x');
	T_EQ_STR(path(cat("<", rep("", 'a', 64, "@"), buf_cstr(&in), ">"), U),
	    "address too long");
	buf_free(&in);
	buf_free(&want);
}

static void
addr_case(void)
{
	PATH_OK("<User.Name@EXAMPLE.Com>", 0, "User.Name", "example.com");
	T_EQ_STR(fmt(), "User.Name@example.com");
	T_EQ_STR(key(), "user.name@example.com");
	PATH_OK("<\"Mixed Case\"@X.Y>", 0, "Mixed Case", "x.y");
	T_EQ_STR(key(), "mixed case@x.y");
	T_EQ_STR(fmt(), "\"Mixed Case\"@x.y");
	/* Only ASCII letters are folded in the key. */
	PATH_OK("<\xc3\x84" "Bc@X.Y>", U, "\xc3\x84" "Bc", "x.y");
	T_EQ_STR(key(), "\xc3\x84" "bc@x.y");
	T_EQ_STR(norm("Example.COM", 0), "example.com");
	T_EQ_STR(norm("XN--BCHER-KVA.Example", 0), "xn--bcher-kva.example");
	/* RFC 5891 5.4: an A-label must decode and encode back to itself */
	T_EQ_STR(norm("xn--zz.com", 0), "invalid A-label in domain");
	T_EQ_STR(norm("a.xn--a.com", 0), "invalid A-label in domain");
	T_EQ_STR(norm("xn--bcher-kvb.example", 0), "invalid A-label in domain");
	T_EQ_STR(norm("XN--FSQU00A.xn--4rr70v", 0), "xn--fsqu00a.xn--4rr70v");
	/* the same check with U-labels beside (libidn2 lets it through) */
	T_EQ_STR(norm("\xd1\x90" "ec.xn--f9b8e4mnanckkkkkkkkkkkkkkkkk-uko.com", U),
	    "invalid A-label in domain");
}

static void
addr_idn(void)
{
	PATH_OK("<user@b\xc3\xbc" "cher.example>", U, "user",
	    "xn--bcher-kva.example");
	T_EQ_INT(A.utf8, 1);
	T_EQ_STR(key(), "user@xn--bcher-kva.example");
	PATH_OK("<user@B\xc3\x9c" "CHER.Example>", U, "user",
	    "xn--bcher-kva.example");
	PATH_OK("<user@xn--bcher-kva.example>", U, "user",
	    "xn--bcher-kva.example");
	T_EQ_INT(A.utf8, 0);
	T_EQ_STR(path("<user@b\xc3\xbc" "cher.example>", 0),
	    "non-ASCII domain needs SMTPUTF8");
	/* UTS 46 mapping: U+3002 is a label separator. */
	PATH_OK("<user@b\xc3\xbc" "cher\xe3\x80\x82" "example>", U, "user",
	    "xn--bcher-kva.example");
	/* RFC 6530-style examples: UTF-8 local parts are kept as given. */
	PATH_OK("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
	    "\xe5\xb9\xbf\xe5\x91\x8a>", U, "\xe7\x94\xa8\xe6\x88\xb7",
	    "xn--fsqu00a.xn--4rr70v");
	T_EQ_INT(A.utf8, 1);
	T_EQ_STR(fmt(), "\xe7\x94\xa8\xe6\x88\xb7@xn--fsqu00a.xn--4rr70v");
	PATH_OK("<\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae@"
	    "\xcf\x80\xce\xb1\xcf\x81\xce\xac\xce\xb4\xce\xb5\xce\xb9\xce\xb3"
	    "\xce\xbc\xce\xb1.\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae>",
	    U, "\xce\xb4\xce\xbf\xce\xba\xce\xb9\xce\xbc\xce\xae",
	    "xn--hxajbheg2az3al.xn--jxalpdlp");
	PATH_OK("<\"\xd0\xb0 \xd0\xb1\"@x.y>", U, "\xd0\xb0 \xd0\xb1", "x.y");
	T_EQ_INT(A.utf8, 1);
	T_EQ_STR(fmt(), "\"\xd0\xb0 \xd0\xb1\"@x.y");
	/* A UTF-8 local part with an ASCII domain still needs SMTPUTF8. */
	PATH_OK("<\xc3\xa4@x.y>", U, "\xc3\xa4", "x.y");
	T_EQ_INT(A.utf8, 1);
	/* Persian "mi-khaham" with U+200C ZWNJ between two dual-joining
	 * letters: RFC 5892 Appendix A.1 CONTEXTJ allows it. */
	PATH_OK("<u@\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xae\xd9\x88\xd8\xa7\xd9\x87"
	    "\xd9\x85.example>", U, "u", "xn--mgbn2ecje63gr19l.example");
	/* ... but not between two Latin letters. */
	T_EQ_STR(path("<u@a\xe2\x80\x8c" "b.example>", U),
	    "invalid international domain name");
	/* A bad A-label next to a U-label is caught by libidn2. */
	T_EQ_STR(path("<u@xn--zz.b\xc3\xbc" "cher>", U),
	    "invalid international domain name");
	T_EQ_STR(path("<u@-b\xc3\xbc" "cher.example>", U),
	    "invalid international domain name");
	/* Mapping that leaves an empty label (U+00AD maps to nothing). */
	T_EQ_STR(path("<u@\xc2\xad.b\xc3\xa9.com>", U),
	    "empty label in domain");
	T_EQ_STR(path("<u@b\xc3\xbc" "cher.example.>", U),
	    "trailing dot in domain");
	T_EQ_STR(path("<u@b\xc3\xbc" "cher..example>", U),
	    "empty label in domain");
	T_EQ_STR(path(rep("<u@", 'a', 58, "\xc3\xbc.de>"), U),
	    "domain label too long");
	T_EQ_STR(path("<u@b\xc3\xbc_cher.example>", U),
	    "invalid character in domain");
}

static void
addr_key_test(void)
{
	PATH_OK("<JOE@Three>", 0, "JOE", "three");
	T_EQ_STR(key(), "joe@three");
	PATH_OK("<\"A@B\"@C>", 0, "A@B", "c");
	T_EQ_STR(key(), "a@b@c");
	PATH_OK("<X@[IPv6:2001:DB8::1]>", 0, "X", "[IPv6:2001:db8::1]");
	T_EQ_STR(key(), "x@[IPv6:2001:db8::1]");
	T_EQ_STR(mbox("u@b\xc3\xbc" "cher.example", U), "ok");
	T_EQ_STR(key(), "u@xn--bcher-kva.example");
	T_EQ_STR(mbox("U@XN--BCHER-KVA.EXAMPLE", 0), "ok");
	T_EQ_STR(key(), "u@xn--bcher-kva.example");
}

static void
addr_split(void)
{
	struct sv b, e;

	T_EQ_INT(addr_split_ext(sv_from("user+tag"), "+", &b, &e), 1);
	T_ASSERT(sv_eq_str(b, "user") && sv_eq_str(e, "tag"));
	T_EQ_INT(addr_split_ext(sv_from("user+a+b"), "+", &b, &e), 1);
	T_ASSERT(sv_eq_str(b, "user") && sv_eq_str(e, "a+b"));
	T_EQ_INT(addr_split_ext(sv_from("user-a+b"), "+-", &b, &e), 1);
	T_ASSERT(sv_eq_str(b, "user") && sv_eq_str(e, "a+b"));
	T_EQ_INT(addr_split_ext(sv_from("user+"), "+", &b, &e), 1);
	T_ASSERT(sv_eq_str(b, "user") && sv_eq_str(e, ""));
	T_EQ_INT(addr_split_ext(sv_from("user"), "+", &b, &e), 0);
	T_ASSERT(sv_eq_str(b, "user") && e.n == 0);
	T_EQ_INT(addr_split_ext(sv_from("user+tag"), "", &b, &e), 0);
	T_ASSERT(sv_eq_str(b, "user+tag") && e.n == 0);
	T_EQ_INT(addr_split_ext(sv_from("user+tag"), NULL, &b, &e), 0);
	T_ASSERT(sv_eq_str(b, "user+tag"));
	T_EQ_INT(addr_split_ext(sv_from("+tag"), "+", &b, &e), 0);
	T_ASSERT(sv_eq_str(b, "+tag") && e.n == 0);
	T_EQ_INT(addr_split_ext(sv_from(""), "+", &b, &e), 0);
	T_ASSERT(b.n == 0 && e.n == 0);
	T_EQ_INT(addr_split_ext(sv_make("a\0+b", 4), "+", &b, &e), 1);
	T_ASSERT(b.n == 2 && sv_eq_str(e, "b"));
	/* Non-ASCII octets never match a delimiter. */
	T_EQ_INT(addr_split_ext(sv_from("\xc3\xa4+x"), "\xa4", &b, &e), 0);
}

/* addr_format gives text that parses back to the same address. */
static void
addr_format_roundtrip(void)
{
	static const struct {
		const char *in, *out;
		int flags;
	} t[] = {
		{ "user@example.com", "user@example.com", 0 },
		{ "\"a b\"@x.y", "\"a b\"@x.y", 0 },
		{ "\"a\\\"b\"@x.y", "\"a\\\"b\"@x.y", 0 },
		{ "\"a\\\\b\"@x.y", "\"a\\\\b\"@x.y", 0 },
		{ "\"abc\"@x.y", "abc@x.y", 0 },
		{ "\"a.b\"@x.y", "a.b@x.y", 0 },
		{ "\"\\a\\.b\"@x.y", "a.b@x.y", 0 },
		{ "\"a..b\"@x.y", "\"a..b\"@x.y", 0 },
		{ "\".a\"@x.y", "\".a\"@x.y", 0 },
		{ "\"a.\"@x.y", "\"a.\"@x.y", 0 },
		{ "\"\"@x.y", "\"\"@x.y", 0 },
		{ "\"a@b\"@x.y", "\"a@b\"@x.y", 0 },
		{ "u@[001.2.3.4]", "u@[1.2.3.4]", 0 },
		{ "u@[IPv6:0:0::0:1]", "u@[IPv6:::1]", 0 },
		{ "u@[IPv6:::ffff:1:1]", "u@[IPv6:::ffff:0.1.0.1]", 0 },
		{ "u@[Tag:x]", "u@[Tag:x]", 0 },
		{ "Postmaster", "Postmaster", ND },
		{ "\xc3\xa4.\xc3\xb6@b\xc3\xbc" "cher.example",
		    "\xc3\xa4.\xc3\xb6@xn--bcher-kva.example", U },
		{ "\"\xc3\xa4 \xc3\xb6\"@x.y", "\"\xc3\xa4 \xc3\xb6\"@x.y", U },
	};
	struct buf first;
	size_t i;

	buf_init(&first, 0);
	for (i = 0; i < NELEM(t); i++) {
		T_EQ_STR(mbox(t[i].in, t[i].flags), "ok");
		T_EQ_STR(fmt(), t[i].out);
		buf_set(&first, tmp.data, tmp.len);
		T_EQ_STR(mbox(buf_cstr(&first), t[i].flags), "ok");
		T_EQ_STR(fmt(), buf_cstr(&first));
		T_EQ_STR(path(cat("<", buf_cstr(&first), ">", ""), t[i].flags),
		    "ok");
		T_EQ_STR(fmt(), buf_cstr(&first));
	}
	buf_free(&first);
}

static void
addr_normalize(void)
{
	T_EQ_STR(norm("Example.COM", 0), "example.com");
	T_EQ_STR(norm("a", 0), "a");
	T_EQ_STR(norm("b\xc3\xbc" "cher.example", U), "xn--bcher-kva.example");
	T_EQ_STR(norm("b\xc3\xbc" "cher.example", 0),
	    "non-ASCII domain needs SMTPUTF8");
	T_EQ_STR(norm("[1.2.3.4]", 0), "invalid character in domain");
	T_EQ_STR(norm("example.com.", 0), "trailing dot in domain");
	T_EQ_STR(norm(rep("", 'a', 63, ""), 0), rep("", 'a', 63, ""));
	T_EQ_STR(norm(rep("", 'a', 64, ""), 0), "domain label too long");
	/* On failure the output is empty; a small output buffer is refused. */
	{
		struct buf small;
		const char *err = NULL;

		buf_init(&small, 4);
		T_EQ_INT(addr_domain_normalize(sv_from("ab.cd"), 0, &small,
		    &err), -1);
		T_EQ_STR(err, "domain too long");
		T_EQ_INT(small.len, 0);
		buf_free(&small);
	}
}

/* Every proper prefix of a path fails cleanly (the Dovecot test of
 * feeding a parser one byte at a time), and a failure leaves the address
 * empty even after a success. */
static void
addr_prefixes(void)
{
	static const char *in[] = {
		"<@a,@b:\"x \\\" y\"@[IPv6:2001:db8::1]>",
		"<user.name+tag@b\xc3\xbc\x63her.example>",
		"<u@[tag:x]>",
	};
	size_t i, n;

	for (i = 0; i < NELEM(in); i++) {
		for (n = 0; n < strlen(in[i]); n++) {
			T_ASSERT(strcmp(pathn(in[i], n, U), "ok") != 0);
			T_EQ_INT(A.local.len + A.domain.len, 0);
		}
		T_EQ_STR(path(in[i], U), "ok");
	}
	{
		struct addr a;
		const char *err;

		addr_init(&a);
		T_ASSERT(addr_parse(sv_from("\"a\"@x.y"), 0, &a, &err) == 0);
		T_EQ_INT(a.quoted, 1);
		T_ASSERT(addr_parse(sv_from("\"a\"@x..y"), 0, &a, &err) == -1);
		T_EQ_INT(a.quoted + a.literal + a.utf8, 0);
		T_EQ_INT(a.local.len + a.domain.len, 0);
		addr_free(&a);
		addr_free(&a);
	}
}

static void
addr_cleanup(void)
{
	addr_free(&A);
	buf_free(&tmp);
}

T_SUITE(suite_addr)
{
	addr_init(&A);
	buf_init(&tmp, 0);
	t_run("addr_simple", addr_simple);
	t_run("addr_rfc_examples", addr_rfc_examples);
	t_run("addr_quoted", addr_quoted);
	t_run("addr_literals", addr_literals);
	t_run("addr_source_route", addr_source_route);
	t_run("addr_null_path", addr_null_path);
	t_run("addr_postmaster", addr_postmaster);
	t_run("addr_relay_hacks", addr_relay_hacks);
	t_run("addr_bad_local", addr_bad_local);
	t_run("addr_bad_domain", addr_bad_domain);
	t_run("addr_limits", addr_limits);
	t_run("addr_limits_idn", addr_limits_idn);
	t_run("addr_case", addr_case);
	t_run("addr_idn", addr_idn);
	t_run("addr_key", addr_key_test);
	t_run("addr_split_ext", addr_split);
	t_run("addr_format_roundtrip", addr_format_roundtrip);
	t_run("addr_domain_normalize", addr_normalize);
	t_run("addr_prefixes", addr_prefixes);
	addr_cleanup();
}
