/*
 * fuzz_smtp_data: libFuzzer target for the DATA codec
 * (common/smtp/smtp_data.c).  The first byte picks the mode, the flags
 * and a chunk size; the rest is the data.  Checked: the result does not
 * depend on how the input is cut; the output is CRLF lines without NUL
 * (and, unless normalized or text, without any line a bare CR or LF
 * made when the message is accepted); what DOT consumes ends with CRLF
 * "." CRLF; and stuffing what came out, then decoding it, gives it back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static size_t
decode(int mode, int flags, const char *p, size_t n, size_t step,
    struct buf *out, struct smtp_data *d)
{
	size_t i = 0, k, used;

	buf_reset(out);
	smtp_data_init(d, mode, flags);
	while (i < n) {
		k = n - i < step ? n - i : step;
		used = smtp_data_decode(d, p + i, k, out);
		if (used > k || (used < k && !d->done))
			abort();
		i += used;
		if (d->done)
			break;
	}
	smtp_data_finish(d, out);
	return i;
}

/* CRLF lines only, no NUL */
static void
clean(const struct buf *b)
{
	size_t i;

	if (b->len > 0 && (b->len < 2 || b->data[b->len - 2] != '\r' ||
	    b->data[b->len - 1] != '\n'))
		abort();
	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\0')
			abort();
		if (b->data[i] == '\r' && (i + 1 >= b->len ||
		    b->data[i + 1] != '\n'))
			abort();
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_data d1, d2;
	struct smtp_stuff st;
	struct buf a, b, w;
	const char *p = (const char *)data + 1;
	size_t n, used1, used2, step;
	int mode, flags;

	if (size < 1)
		return 0;
	mode = data[0] % 3;
	flags = (data[0] >> 2) & 3;
	step = 1 + (data[0] >> 4);
	n = size - 1;
	buf_init(&a, 0);
	buf_init(&b, 0);
	buf_init(&w, 0);
	used1 = decode(mode, flags, p, n, n ? n : 1, &a, &d1);
	used2 = decode(mode, flags, p, n, step, &b, &d2);
	if (used1 != used2 || a.len != b.len || memcmp(buf_cstr(&a),
	    buf_cstr(&b), a.len) != 0 || d1.done != d2.done ||
	    (smtp_data_error(&d1) == NULL) != (smtp_data_error(&d2) == NULL))
		abort();
	clean(&a);
	if (mode == SMTP_DATA_DOT && used1 < n && (used1 < 3 ||
	    memcmp(p + used1 - 3, ".\r\n", 3) != 0))
		abort();
	/* out again and back */
	smtp_stuff_init(&st);
	smtp_stuff(&st, a.data ? a.data : "", a.len, &w);
	smtp_stuff_end(&st, &w);
	used2 = decode(SMTP_DATA_DOT, 0, w.data, w.len, step, &b, &d2);
	if (!d2.done || used2 != w.len || smtp_data_error(&d2) != NULL ||
	    b.len != a.len || memcmp(buf_cstr(&a), buf_cstr(&b), a.len) != 0)
		abort();
	buf_free(&a);
	buf_free(&b);
	buf_free(&w);
	return 0;
}
