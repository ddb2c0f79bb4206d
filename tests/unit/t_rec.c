/* Unit tests: rec records, TAB escaping, JSON strings. */
#include <string.h>

#include "chapar/json.h"
#include "chapar/rec.h"
#include "harness.h"

static void
rec_roundtrip_with_hostile_bytes(void)
{
	static const char v[] = "a\tb\nc\\d\re\0f=g";
	struct rec r, r2;
	struct buf b;
	uint64_t n;

	rec_init(&r);
	rec_init(&r2);
	buf_init(&b, 0);
	rec_set(&r, "weird", sv_make(v, sizeof(v) - 1));
	rec_set_u64(&r, "quota", 2147483648ULL);
	rec_add(&r, "dest", sv_from("a@x"));
	rec_add(&r, "dest", sv_from("b@y"));
	rec_encode(&r, &b);
	T_ASSERT(memchr(b.data, '\n', b.len) == NULL);
	T_ASSERT(memchr(b.data, '\0', b.len) == NULL);
	T_ASSERT(rec_decode(buf_sv(&b), &r2) == 0);
	T_EQ_INT(r2.n, 4);
	T_ASSERT(sv_eq(buf_sv(rec_get(&r2, "weird")),
	    sv_make(v, sizeof(v) - 1)));
	T_ASSERT(rec_get_u64(&r2, "quota", &n) == 0 && n == 2147483648ULL);
	T_EQ_STR(rec_get_str(&r2, "dest"), "a@x");
	T_ASSERT(rec_get(&r2, "nosuch") == NULL);
	rec_set_str(&r2, "dest", "c@z");
	T_EQ_STR(rec_get_str(&r2, "dest"), "c@z");
	rec_del(&r2, "dest");
	T_ASSERT(rec_get(&r2, "dest") == NULL);
	T_EQ_INT(r2.n, 2);
	rec_free(&r);
	rec_free(&r2);
	buf_free(&b);
}

static void
rec_decode_refuses_malformed(void)
{
	static const char *bad[] = { "noequals", "a=1\tb", "A=1", "=x",
		"a=\\q", "a=x\\", "a=1\t\tb=2", "a=x\ny" };
	struct rec r;
	size_t i;

	rec_init(&r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rec_decode(sv_from(bad[i]), &r) != -1)
			t_failf(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
	T_ASSERT(rec_decode(sv_from(""), &r) == 0 && r.n == 0);
	T_ASSERT(rec_decode(sv_from("a="), &r) == 0 && r.n == 1);
	rec_free(&r);
}

static void
tab_split_bounds(void)
{
	struct sv f[3];

	T_EQ_INT(tab_split(sv_from("a\tb\tc"), f, 3), 3);
	T_ASSERT(sv_eq_str(f[2], "c"));
	T_EQ_INT(tab_split(sv_from("a\tb\tc\td"), f, 3), -1);
	T_EQ_INT(tab_split(sv_from(""), f, 3), 1);
	T_EQ_INT(tab_split(sv_from("a\t"), f, 3), 2);
	T_EQ_INT(f[1].n, 0);
}

static void
json_string_escapes(void)
{
	struct buf b;

	buf_init(&b, 0);
	json_string(&b, sv_make("a\"b\\c\n\x01\xd8\xb3\xff", 10));
	T_EQ_STR(buf_cstr(&b), "\"a\\\"b\\\\c\\u000a\\u0001\xd8\xb3\\ufffd\"");
	/* DEL and the C1 controls (U+009B is CSI) as escapes too; U+00A0
	 * and above as they are */
	buf_reset(&b);
	json_string(&b, sv_make("\x7f\xc2\x9b\xc2\x80\xc2\xa0", 7));
	T_EQ_STR(buf_cstr(&b), "\"\\u007f\\u009b\\u0080\xc2\xa0\"");
	buf_free(&b);
}

T_SUITE(suite_rec)
{
	t_run("rec_roundtrip_with_hostile_bytes",
	    rec_roundtrip_with_hostile_bytes);
	t_run("rec_decode_refuses_malformed", rec_decode_refuses_malformed);
	t_run("tab_split_bounds", tab_split_bounds);
	t_run("json_string_escapes", json_string_escapes);
}
