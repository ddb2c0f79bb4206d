/* Unit tests: the DATA codec (common/smtp/smtp_data.c), whole and in every
 * chunking. */
#include <stdio.h>
#include <string.h>

#include "chapar/smtp.h"
#include "harness.h"

struct run {
	struct buf out;
	size_t used;		/* input consumed */
	int done;
	const char *err;
	uint64_t longest;
};

/* Decode in, cut after each offset in cuts (ascending, may be empty). */
static void
decode_cut(int mode, int flags, const char *in, size_t n, const size_t *cuts,
    size_t ncuts, int finish, struct run *r)
{
	struct smtp_data d;
	size_t from = 0, to, k, got;

	buf_init(&r->out, 0);
	smtp_data_init(&d, mode, flags);
	r->used = 0;
	for (k = 0; k <= ncuts && !d.done; k++) {
		to = k < ncuts ? cuts[k] : n;
		got = smtp_data_decode(&d, in + from, to - from, &r->out);
		r->used += got;
		if (got < to - from)
			break;
		from = to;
	}
	if (finish)
		smtp_data_finish(&d, &r->out);
	r->done = d.done;
	r->err = smtp_data_error(&d);
	r->longest = d.longest;
}

/* The same result whole, byte by byte and cut in two anywhere. */
static int
same_in_every_chunking(int mode, int flags, const char *in, size_t n,
    int finish)
{
	struct run whole, part;
	size_t cuts[4096], i;
	int ok = 1;

	if (n >= sizeof(cuts) / sizeof(cuts[0]))
		return 0;
	decode_cut(mode, flags, in, n, NULL, 0, finish, &whole);
	for (i = 0; i < n; i++)
		cuts[i] = i + 1;
	decode_cut(mode, flags, in, n, cuts, n ? n - 1 : 0, finish, &part);
	ok = part.out.len == whole.out.len && memcmp(buf_cstr(&part.out),
	    buf_cstr(&whole.out), whole.out.len) == 0 &&
	    part.used == whole.used && part.done == whole.done &&
	    (part.err == NULL) == (whole.err == NULL);
	buf_free(&part.out);
	for (i = 1; ok && i < n; i++) {
		decode_cut(mode, flags, in, n, &i, 1, finish, &part);
		ok = part.out.len == whole.out.len &&
		    memcmp(buf_cstr(&part.out), buf_cstr(&whole.out),
		    whole.out.len) == 0 && part.used == whole.used &&
		    part.done == whole.done;
		buf_free(&part.out);
	}
	buf_free(&whole.out);
	return ok;
}

#define DEC(mode, flags, lit, fin, r)                                          \
	decode_cut(mode, flags, lit, sizeof(lit) - 1, NULL, 0, fin, r)

static void
data_dot_basic(void)
{
	struct run r;

	DEC(SMTP_DATA_DOT, 0, "Subject: x\r\n\r\nhello\r\n.\r\n", 0, &r);
	T_ASSERT(r.done);
	T_EQ_STR(buf_cstr(&r.out), "Subject: x\r\n\r\nhello\r\n");
	T_ASSERT(r.err == NULL);
	buf_free(&r.out);
	/* the empty message: "." on the first line */
	DEC(SMTP_DATA_DOT, 0, ".\r\n", 0, &r);
	T_ASSERT(r.done);
	T_EQ_INT(r.out.len, 0);
	buf_free(&r.out);
	/* stuffing removed (RFC 5321 4.5.2) */
	DEC(SMTP_DATA_DOT, 0, "..x\r\n...\r\n.\r\n", 0, &r);
	T_EQ_STR(buf_cstr(&r.out), ".x\r\n..\r\n");
	buf_free(&r.out);
	/* what follows the end is the protocol's */
	DEC(SMTP_DATA_DOT, 0, "a\r\n.\r\nQUIT\r\n", 0, &r);
	T_ASSERT(r.done);
	T_EQ_INT(r.used, 6);
	T_EQ_STR(buf_cstr(&r.out), "a\r\n");
	buf_free(&r.out);
}

static void
data_dot_smuggling(void)
{
	struct run r;

	/* "." between bare LFs, or after a bare CR, or before one: not an
	 * end, and refused */
	DEC(SMTP_DATA_DOT, 0, "a\n.\nMAIL FROM:<x>\r\n", 0, &r);
	T_ASSERT(!r.done);
	T_ASSERT(r.err != NULL && strncmp(r.err, "550 5.6.0", 9) == 0);
	buf_free(&r.out);
	DEC(SMTP_DATA_DOT, 0, "a\r\n.\nMAIL FROM:<x>\r\n", 0, &r);
	T_ASSERT(!r.done);
	T_ASSERT(r.err != NULL);
	buf_free(&r.out);
	DEC(SMTP_DATA_DOT, 0, "a\r.\r\nMAIL FROM:<x>\r\n", 0, &r);
	T_ASSERT(!r.done);
	T_ASSERT(r.err != NULL);
	buf_free(&r.out);
	DEC(SMTP_DATA_DOT, 0, "a\r\n.\rMAIL\r\n", 0, &r);
	T_ASSERT(!r.done);
	T_ASSERT(r.err != NULL);
	buf_free(&r.out);
	/* normalized: the same bytes become lines, still no end */
	DEC(SMTP_DATA_DOT, SMTP_DATA_NORMALIZE,
	    "a\n.\nMAIL FROM:<x>\r\n.\r\n", 0, &r);
	T_ASSERT(r.done);
	T_ASSERT(r.err == NULL);
	T_EQ_STR(buf_cstr(&r.out), "a\r\n.\r\nMAIL FROM:<x>\r\n");
	buf_free(&r.out);
	/* a stuffed line after a bare LF, normalized: one dot goes */
	DEC(SMTP_DATA_DOT, SMTP_DATA_NORMALIZE, "a\n..b\r\n.\r\n", 0, &r);
	T_EQ_STR(buf_cstr(&r.out), "a\r\n.b\r\n");
	buf_free(&r.out);
}

static void
data_nul_and_long_lines(void)
{
	static char big[200000];
	struct run r;

	DEC(SMTP_DATA_DOT, SMTP_DATA_NORMALIZE, "a\0b\r\n.\r\n", 0, &r);
	T_ASSERT(r.done);
	T_ASSERT(r.err != NULL && strncmp(r.err, "554 5.6.0", 9) == 0);
	T_EQ_STR(buf_cstr(&r.out), "ab\r\n");
	buf_free(&r.out);
	/* a line of any length goes through, counted */
	memset(big, 'x', sizeof(big));
	memcpy(big + sizeof(big) - 5, "\r\n.\r\n", 5);
	decode_cut(SMTP_DATA_DOT, 0, big, sizeof(big), NULL, 0, 0, &r);
	T_ASSERT(r.done);
	T_EQ_INT(r.out.len, sizeof(big) - 3);
	T_EQ_INT(r.longest, sizeof(big) - 5);
	T_ASSERT(r.err == NULL);
	buf_free(&r.out);
}

static void
data_raw_and_text(void)
{
	struct run r;

	/* BDAT: no dots, no end marker; the last line gets a CRLF */
	DEC(SMTP_DATA_RAW, 0, "a\r\n.\r\n..b", 1, &r);
	T_EQ_STR(buf_cstr(&r.out), "a\r\n.\r\n..b\r\n");
	T_ASSERT(r.err == NULL);
	buf_free(&r.out);
	DEC(SMTP_DATA_RAW, 0, "a\r.\r\nb\r\n", 1, &r);
	T_ASSERT(r.err != NULL);	/* BDAT has the same guard as DATA */
	buf_free(&r.out);
	DEC(SMTP_DATA_RAW, SMTP_DATA_NORMALIZE, "a\nb\rc\r", 1, &r);
	T_EQ_STR(buf_cstr(&r.out), "a\r\nb\r\nc\r\n");
	T_ASSERT(r.err == NULL);
	buf_free(&r.out);
	/* sendmail: Unix text, "." ends unless -i, dots kept */
	DEC(SMTP_DATA_TEXT, SMTP_DATA_DOT_ENDS, "a\n.b\n.\nnot\n", 1, &r);
	T_ASSERT(r.done);
	T_EQ_STR(buf_cstr(&r.out), "a\r\n.b\r\n");
	buf_free(&r.out);
	DEC(SMTP_DATA_TEXT, 0, "a\n.\r\n.b\nc", 1, &r);
	T_EQ_STR(buf_cstr(&r.out), "a\r\n.\r\n.b\r\nc\r\n");
	T_ASSERT(r.err == NULL);
	buf_free(&r.out);
	DEC(SMTP_DATA_TEXT, SMTP_DATA_DOT_ENDS, "a\n.", 1, &r);
	T_EQ_STR(buf_cstr(&r.out), "a\r\n");
	buf_free(&r.out);
}

#define CASE(lit) { lit, sizeof(lit) - 1 }

static void
data_every_chunking(void)
{
	static const struct {
		const char *p;
		size_t n;
	} cases[] = {
		CASE("Subject: x\r\n\r\nhello\r\n..dot\r\n.\r\nQUIT\r\n"),
		CASE("a\n.\nMAIL FROM:<x>\r\n\r\n.\r\n"),
		CASE("a\r.\r\n.\r.\n.\r\n.\r\n"), CASE("\r\n\r\n.\r\n"),
		CASE(".\r\n"), CASE("x\0y\r\r\n\n.\r\n"),
		CASE("..\r\n.\r\r\n.\r\n"), CASE("a\n.\n.b\n.\r.\r\n"),
	};
	size_t i;
	int m, f;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (m = SMTP_DATA_DOT; m <= SMTP_DATA_TEXT; m++)
			for (f = 0; f < 4; f++)
				T_ASSERT(same_in_every_chunking(m, f, cases[i].p,
				    cases[i].n, 1));
}

/* stuff then decode gives the message back */
static void
stuff_round_trip(void)
{
	static const char *const msgs[] = {
		"", "a\r\n", ".\r\n", "..\r\n.x\r\n\r\n.", "a\nb\rc\r\n",
		"no end", "x\r\n.\r\n.\r\n",
	};
	static const char *const stored[] = {
		"", "a\r\n", ".\r\n", "..\r\n.x\r\n\r\n.\r\n",
		"a\r\nb\r\nc\r\n", "no end\r\n", "x\r\n.\r\n.\r\n",
	};
	static const char *const wire[] = {
		".\r\n", "a\r\n.\r\n", "..\r\n.\r\n", "...\r\n..x\r\n\r\n..\r\n.\r\n",
		"a\r\nb\r\nc\r\n.\r\n", "no end\r\n.\r\n",
		"x\r\n..\r\n..\r\n.\r\n",
	};
	struct smtp_stuff s;
	struct run r;
	struct buf w;
	size_t i, k, n;

	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		buf_init(&w, 0);
		smtp_stuff_init(&s);
		n = strlen(msgs[i]);
		for (k = 0; k < n; k++)	/* byte by byte */
			smtp_stuff(&s, msgs[i] + k, 1, &w);
		smtp_stuff_end(&s, &w);
		T_EQ_STR(buf_cstr(&w), wire[i]);
		decode_cut(SMTP_DATA_DOT, 0, w.data, w.len, NULL, 0, 0, &r);
		T_ASSERT(r.done);
		T_EQ_INT(r.used, w.len);
		T_ASSERT(r.err == NULL);
		T_EQ_STR(buf_cstr(&r.out), stored[i]);
		buf_free(&r.out);
		buf_free(&w);
	}
}

T_SUITE(suite_smtp_data)
{
	t_run("smtp_data_dot_basic", data_dot_basic);
	t_run("smtp_data_dot_smuggling", data_dot_smuggling);
	t_run("smtp_data_nul_and_long_lines", data_nul_and_long_lines);
	t_run("smtp_data_raw_and_text", data_raw_and_text);
	t_run("smtp_data_every_chunking", data_every_chunking);
	t_run("smtp_stuff_round_trip", stuff_round_trip);
}
