/*
 * fuzz_pop3: libFuzzer target for pop3d's parsing and output
 * (pop3d/pop3_parse.c; the stuffer of common/smtp/smtp_data.c): the
 * command split, message numbers, and the message as RETR and TOP send
 * it.  The output must be CRLF-clean (no
 * bare CR or LF), its lines dot-stuffed, the same however the input is
 * cut into pieces, and end with ".\r\n".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/smtp.h"
#include "pop3.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
inside(struct sv in, struct sv v)
{
	if (v.n > 0 && (v.p < in.p || v.p + v.n > in.p + in.n))
		abort();
}

static void
render(const char *p, size_t n, int64_t top, size_t step, struct buf *out)
{
	struct smtp_stuff o;
	size_t i, k, used;

	buf_reset(out);
	smtp_stuff_init(&o);
	smtp_stuff_top(&o, top);
	for (i = 0; i < n; i += k) {
		k = n - i < step ? n - i : step;
		used = smtp_stuff(&o, p + i, k, out);
		if (used > k || (used < k && !o.done))
			abort();
		if (o.done)
			break;
	}
	smtp_stuff_end(&o, out);
}

/* What RETR must send, the plain way: every line end (CRLF, LF, or a
 * CR alone) as CRLF, a dot before a leading dot, then ".". */
static void
reference(const char *p, size_t n, struct buf *out)
{
	size_t i;
	int bol = 1;

	buf_reset(out);
	for (i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n') {
			if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
				i++;
			buf_append(out, "\r\n", 2);
			bol = 1;
			continue;
		}
		if (bol && p[i] == '.')
			buf_putc(out, '.');
		buf_putc(out, p[i]);
		bol = 0;
	}
	if (!bol)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
}

static void
check(const struct buf *b)
{
	size_t i;

	if (b->len < 3 || memcmp(b->data + b->len - 3, ".\r\n", 3) != 0)
		abort();
	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			abort();
		if (b->data[i] == '\r' && (i + 1 == b->len ||
		    b->data[i + 1] != '\n'))
			abort();
		/* a line that starts with a dot has two, except the end */
		if ((i == 0 || b->data[i - 1] == '\n') && b->data[i] == '.' &&
		    i + 3 != b->len && (i + 1 >= b->len ||
		    b->data[i + 1] != '.'))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv in = sv_make((const char *)data, size), verb, args;
	struct buf a, b;
	uint32_t n;
	uint64_t v;
	int64_t top;

	if (pop3_split(in, &verb, &args) == 0) {
		inside(in, verb);
		inside(in, args);
		if (verb.n < 3 || verb.n > 4)
			abort();
		if (pop3_msgnum(args, 100, &n) == 0 && (n == 0 || n > 100))
			abort();
		(void)pop3_number(args, UINT64_MAX, &v);
	}
	top = size > 0 && data[0] < 8 ? data[0] : -1;
	buf_init(&a, 2 * size + 16);
	buf_init(&b, 2 * size + 16);
	render((const char *)data, size, top, size + 1, &a);
	check(&a);
	render((const char *)data, size, top, size > 0 ? 1 + data[size - 1] %
	    7 : 1, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	if (top < 0) {
		reference((const char *)data, size, &b);
		if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
			abort();
	}
	buf_free(&a);
	buf_free(&b);
	return 0;
}
