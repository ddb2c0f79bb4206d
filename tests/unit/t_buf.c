/* Unit tests: struct buf, string views, integer parsing, base64, UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/buf.h"
#include "chapar/rec.h"
#include "chapar/utf8.h"
#include "chapar/util.h"
#include "harness.h"

static void
buf_grows_and_keeps_nul(void)
{
	struct buf b;
	int i;

	buf_init(&b, 0);
	T_EQ_STR(buf_cstr(&b), "");
	for (i = 0; i < 1000; i++)
		T_ASSERT(buf_try_putc(&b, 'a' + i % 26) == 0);
	T_EQ_INT(b.len, 1000);
	T_EQ_INT(b.data[1000], 0);
	T_ASSERT(buf_try_append(&b, "\0x", 2) == 0);
	T_EQ_INT(b.len, 1002);
	T_ASSERT(sv_has_nul(buf_sv(&b)));
	buf_free(&b);
	T_ASSERT(b.data == NULL);
}

/* Room reserved in an empty buffer, then nothing appended (an empty
 * field through tab_unescape): still a C string. */
static void
buf_reserve_keeps_nul(void)
{
	struct buf b;

	buf_init(&b, 100);
	T_ASSERT(buf_reserve(&b, 10) == 0);
	T_ASSERT(b.data != NULL);
	T_EQ_STR(buf_cstr(&b), "");
	buf_free(&b);
	buf_init(&b, 100);
	T_ASSERT(tab_unescape(sv_make("", 0), &b) == 0);
	T_EQ_STR(buf_cstr(&b), "");
	buf_free(&b);
}

static void
buf_refuses_past_limit(void)
{
	struct buf b;

	buf_init(&b, 10);
	T_ASSERT(buf_try_append(&b, "0123456789", 10) == 0);
	T_ASSERT(buf_try_putc(&b, 'x') == -1);
	T_EQ_INT(b.len, 10);
	T_EQ_STR(buf_cstr(&b), "0123456789");
	T_ASSERT(buf_try_printf(&b, "%d", 1) == -1);
	buf_reset(&b);
	T_ASSERT(buf_try_printf(&b, "%s-%d", "ab", 42) == 0);
	T_EQ_STR(buf_cstr(&b), "ab-42");
	T_ASSERT(buf_try_append(&b, "x", SIZE_MAX) == -1);
	buf_consume(&b, 3);
	T_EQ_STR(buf_cstr(&b), "42");
	buf_free(&b);
}

/* Messages quoting input are cut at the limit, never a panic, and never
 * in the middle of a UTF-8 sequence. */
static void
buf_cut_keeps_what_fits(void)
{
	struct buf b;

	buf_init(&b, 10);
	buf_cut_printf(&b, "%s", "abc");
	T_EQ_STR(buf_cstr(&b), "abc");
	buf_cut_printf(&b, ": %s", "a long path that does not fit");
	T_EQ_INT(b.len, 10);
	T_EQ_STR(buf_cstr(&b), "abc: a ...");
	buf_cut_printf(&b, "%s", "more");
	T_EQ_STR(buf_cstr(&b), "abc: a ...");
	buf_reset(&b);
	/* "\xd9\x85" is one letter: the dots take all of it or none */
	buf_cut_printf(&b, "%s", "abcdef\xd9\x85\xd9\x85z");
	T_EQ_STR(buf_cstr(&b), "abcdef...");
	buf_reset(&b);
	buf_cut_printf(&b, "%s", "abcde\xd9\x85\xd9\x85xyz");
	T_EQ_STR(buf_cstr(&b), "abcde\xd9\x85...");
	buf_free(&b);
}

static void
sv_split_trim_case(void)
{
	struct sv v = sv_from("  MAIL FROM:<a@b>  "), h;

	v = sv_trim(v);
	T_ASSERT(sv_split(&v, ':', &h) == 1);
	T_ASSERT(sv_caseeq_str(h, "mail from"));
	T_ASSERT(sv_eq_str(v, "<a@b>"));
	T_ASSERT(sv_split(&v, '#', &h) == 0);
	T_ASSERT(sv_eq_str(h, "<a@b>"));
	T_EQ_INT(v.n, 0);
	T_ASSERT(sv_has_prefix_case(sv_from("STARTTLS"), "start"));
	T_ASSERT(!sv_has_prefix_case(sv_from("ST"), "start"));
}

static void
parse_u64_bounds(void)
{
	uint64_t v;

	T_ASSERT(parse_u64(sv_from("0"), 10, &v) == 0 && v == 0);
	T_ASSERT(parse_u64(sv_from("10"), 10, &v) == 0 && v == 10);
	T_ASSERT(parse_u64(sv_from("11"), 10, &v) == -1);
	T_ASSERT(parse_u64(sv_from("7"), 5, &v) == -1);
	T_ASSERT(parse_u64(sv_from("18446744073709551615"), UINT64_MAX,
	    &v) == 0 && v == UINT64_MAX);
	T_ASSERT(parse_u64(sv_from("18446744073709551616"), UINT64_MAX,
	    &v) == -1);
	T_ASSERT(parse_u64(sv_from(""), 10, &v) == -1);
	T_ASSERT(parse_u64(sv_from("-1"), 10, &v) == -1);
	T_ASSERT(parse_u64(sv_from(" 1"), 10, &v) == -1);
	T_ASSERT(parse_u64(sv_from("1x"), 10, &v) == -1);
}

static void
base64_rfc4648_vectors(void)
{
	/* RFC 4648 section 10. */
	static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba",
		"foobar" };
	static const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
		"Zm9vYmE=", "Zm9vYmFy" };
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	for (i = 0; i < NELEM(plain); i++) {
		buf_reset(&b);
		base64_encode(&b, plain[i], strlen(plain[i]));
		T_EQ_STR(buf_cstr(&b), enc[i]);
		buf_reset(&b);
		T_ASSERT(base64_decode(&b, enc[i], strlen(enc[i])) == 0);
		T_EQ_STR(buf_cstr(&b), plain[i]);
	}
	T_ASSERT(base64_decode(&b, "Zg=", 3) == -1);
	T_ASSERT(base64_decode(&b, "Zh==", 4) == -1);	/* non-zero pad bits */
	T_ASSERT(base64_decode(&b, "Z===", 4) == -1);
	T_ASSERT(base64_decode(&b, "Zg==Zg==", 8) == -1);
	T_ASSERT(base64_decode(&b, "Zm 9", 4) == -1);
	T_ASSERT(base64_decode(&b, "=Zm9", 4) == -1);
	buf_free(&b);
}

static void
utf8_strict(void)
{
	uint32_t cp;
	unsigned char out[4];

	T_ASSERT(utf8_valid("abc", 3));
	T_ASSERT(utf8_valid("\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85", 8)); /* salam */
	T_ASSERT(!utf8_valid("\xc0\xaf", 2));		/* overlong '/' */
	T_ASSERT(!utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	T_ASSERT(!utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	T_ASSERT(!utf8_valid("\xe2\x82", 2));		/* truncated */
	T_ASSERT(utf8_decode((const unsigned char *)"\xe2\x82\xac", 3,
	    &cp) == 3 && cp == 0x20ac);
	T_EQ_INT(utf8_encode(0x20ac, out), 3);
	T_ASSERT(memcmp(out, "\xe2\x82\xac", 3) == 0);
	T_EQ_INT(utf8_encode(0xd800, out), -1);
}

static void
ct_equal_works(void)
{
	T_ASSERT(ct_equal("abcd", "abcd", 4));
	T_ASSERT(!ct_equal("abcd", "abce", 4));
	T_ASSERT(ct_equal("", "", 0));
}

/* Reading straight into a buf leaves room for its NUL (a reader that
 * filled the whole allocation made the next reserve read one byte past
 * it, which ASan saw in smtpd's filter verdicts). */
static void
buf_room_keeps_the_nul(void)
{
	struct buf b;
	size_t room;

	buf_init(&b, 0);
	T_ASSERT(buf_reserve(&b, 10) == 0);
	room = buf_room(&b);
	T_ASSERT(room >= 10 && room == b.cap - 1);
	memset(buf_end(&b), 'x', room);
	buf_commit(&b, room);
	T_EQ_INT(b.len, room);
	T_EQ_INT(buf_cstr(&b)[room], 0);
	T_EQ_INT(buf_room(&b), 0);
	T_ASSERT(buf_reserve(&b, 1) == 0);	/* copies len + 1 bytes */
	T_EQ_INT(buf_cstr(&b)[room], 0);
	buf_free(&b);
}

T_SUITE(suite_buf)
{
	t_run("buf_room_keeps_the_nul", buf_room_keeps_the_nul);
	t_run("buf_grows_and_keeps_nul", buf_grows_and_keeps_nul);
	t_run("buf_reserve_keeps_nul", buf_reserve_keeps_nul);
	t_run("buf_refuses_past_limit", buf_refuses_past_limit);
	t_run("buf_cut_keeps_what_fits", buf_cut_keeps_what_fits);
	t_run("sv_split_trim_case", sv_split_trim_case);
	t_run("parse_u64_bounds", parse_u64_bounds);
	t_run("base64_rfc4648_vectors", base64_rfc4648_vectors);
	t_run("utf8_strict", utf8_strict);
	t_run("ct_equal_works", ct_equal_works);
}
