/* Unit tests: POP3 command syntax and message output
 * (pop3d/pop3_parse.c). */
#include <string.h>

#include "chapar/smtp.h"
#include "chapar/util.h"
#include "../../pop3d/pop3.h"
#include "harness.h"

static void
pop3_split_lines(void)
{
	struct sv v, a;

	T_ASSERT(pop3_split(SV_LIT("RETR 1"), &v, &a) == 0);
	T_ASSERT(sv_eq_str(v, "RETR") && sv_eq_str(a, "1"));
	T_ASSERT(pop3_split(SV_LIT("TOP 1 10"), &v, &a) == 0);
	T_ASSERT(sv_eq_str(v, "TOP") && sv_eq_str(a, "1 10"));
	T_ASSERT(pop3_split(SV_LIT("quit"), &v, &a) == 0 && a.n == 0);
	T_ASSERT(pop3_split(SV_LIT(""), &v, &a) == -1);
	T_ASSERT(pop3_split(SV_LIT("LI"), &v, &a) == -1);
	T_ASSERT(pop3_split(SV_LIT("LISTS"), &v, &a) == -1);
	T_ASSERT(pop3_split(SV_LIT("LIST\t1"), &v, &a) == -1);
	T_ASSERT(pop3_split(SV_LIT("LIST "), &v, &a) == -1);
	T_ASSERT(pop3_split(SV_LIT("R3TR 1"), &v, &a) == -1);
	/* a password may hold spaces: everything after the first */
	T_ASSERT(pop3_split(SV_LIT("PASS a b  c"), &v, &a) == 0);
	T_ASSERT(sv_eq_str(a, "a b  c"));
}

static void
pop3_numbers(void)
{
	uint32_t n = 0;
	uint64_t v = 0;

	T_EQ_INT(pop3_msgnum(SV_LIT("1"), 3, &n), 0);
	T_EQ_INT((int)n, 1);
	T_EQ_INT(pop3_msgnum(SV_LIT("003"), 3, &n), 0);
	T_EQ_INT((int)n, 3);
	T_EQ_INT(pop3_msgnum(SV_LIT("0"), 3, &n), -2);
	T_EQ_INT(pop3_msgnum(SV_LIT("4"), 3, &n), -2);
	T_EQ_INT(pop3_msgnum(SV_LIT("99999999999999999999999"), 3, &n), -2);
	T_EQ_INT(pop3_msgnum(SV_LIT("-1"), 3, &n), -1);
	T_EQ_INT(pop3_msgnum(SV_LIT("+1"), 3, &n), -1);
	T_EQ_INT(pop3_msgnum(SV_LIT("1 "), 3, &n), -1);
	T_EQ_INT(pop3_msgnum(SV_LIT(""), 3, &n), -1);
	T_EQ_INT(pop3_msgnum(SV_LIT("1"), 0, &n), -2);
	T_EQ_INT(pop3_number(SV_LIT("18446744073709551615"), UINT64_MAX, &v),
	    0);
	T_ASSERT(v == UINT64_MAX);
	T_EQ_INT(pop3_number(SV_LIT("18446744073709551616"), UINT64_MAX, &v),
	    -2);
}

static void
pop3_uidls(void)
{
	char id[POP3_UIDL_LEN + 1];

	pop3_uidl(1, 0x5f00ab12, id);
	T_EQ_STR(id, "000000015F00AB12");
	pop3_uidl(0xffffffff, 0xffffffff, id);
	T_EQ_STR(id, "FFFFFFFFFFFFFFFF");
}

/* The whole of in, fed in pieces of step bytes. */
static void
out_all(const char *in, int64_t top, size_t step, struct buf *out)
{
	struct smtp_stuff o;
	size_t n = strlen(in), i, k;

	buf_reset(out);
	smtp_stuff_init(&o);
	smtp_stuff_top(&o, top);
	for (i = 0; i < n; i += step) {
		k = n - i < step ? n - i : step;
		(void)smtp_stuff(&o, in + i, k, out);
	}
	smtp_stuff_end(&o, out);
}

static void
pop3_output(void)
{
	static const char *const cases[][2] = {
		{ "A: 1\r\n\r\nbody\r\n", "A: 1\r\n\r\nbody\r\n.\r\n" },
		/* bare LF and lone CR become CRLF */
		{ "A: 1\n\nbody\n", "A: 1\r\n\r\nbody\r\n.\r\n" },
		{ "A: 1\r\rx", "A: 1\r\n\r\nx\r\n.\r\n" },
		/* byte-stuffing, and a last line without its end */
		{ ".\r\n..x\r\n.y", "..\r\n...x\r\n..y\r\n.\r\n" },
		{ "", ".\r\n" },
		{ "x\r", "x\r\n.\r\n" },
	};
	struct buf out;
	size_t i, step;

	buf_init(&out, 256);
	for (i = 0; i < NELEM(cases); i++)
		for (step = 1; step <= 8; step++) {
			out_all(cases[i][0], -1, step, &out);
			T_EQ_STR(buf_cstr(&out), cases[i][1]);
		}
	buf_free(&out);
}

static void
pop3_top_lines(void)
{
	const char *msg = "A: 1\r\nB: 2\r\n\r\none\r\n.two\r\nthree\r\n";
	struct buf out;
	size_t step;

	buf_init(&out, 256);
	for (step = 1; step <= 9; step++) {
		out_all(msg, 0, step, &out);
		T_EQ_STR(buf_cstr(&out), "A: 1\r\nB: 2\r\n\r\n.\r\n");
		out_all(msg, 2, step, &out);
		T_EQ_STR(buf_cstr(&out), "A: 1\r\nB: 2\r\n\r\none\r\n..two\r\n"
		    ".\r\n");
		out_all(msg, 100, step, &out);
		T_EQ_STR(buf_cstr(&out), "A: 1\r\nB: 2\r\n\r\none\r\n..two\r\n"
		    "three\r\n.\r\n");
		/* no body at all: the header is all there is */
		out_all("A: 1\nB: 2", 5, step, &out);
		T_EQ_STR(buf_cstr(&out), "A: 1\r\nB: 2\r\n.\r\n");
	}
	buf_free(&out);
}

T_SUITE(suite_pop3)
{
	t_run("pop3_split_lines", pop3_split_lines);
	t_run("pop3_numbers", pop3_numbers);
	t_run("pop3_uidls", pop3_uidls);
	t_run("pop3_output", pop3_output);
	t_run("pop3_top_lines", pop3_top_lines);
}
