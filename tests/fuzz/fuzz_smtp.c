/*
 * fuzz_smtp: libFuzzer target for smtpd's command-line syntax
 * (common/smtp/smtp_parse.c): the split into verb and arguments, the path and
 * its parameters, xtext, a filter's reply, sender grants, and what
 * remote(8) reads from servers: reply lines and EHLO keywords.  Every view
 * must stay inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
inside(struct sv in, struct sv v)
{
	if (v.n > 0 && (v.p < in.p || v.p + v.n > in.p + in.n))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv in = sv_make((const char *)data, size), verb, args, path,
	    params, k, v;
	const char *why;
	struct buf b;
	int r, n = 0;

	(void)smtp_not_smtp(in);
	if (smtp_split(in, &verb, &args) == 0) {
		inside(in, verb);
		inside(in, args);
	}
	if (smtp_path_args(in, size > 0 && data[0] == 'T' ? "TO:" : "FROM:",
	    &path, &params, &why) == 0) {
		inside(in, path);
		inside(in, params);
		if (path.n < 2 || path.p[0] != '<' || path.p[path.n - 1] != '>')
			abort();
		while ((r = smtp_param_next(&params, &k, &v)) == 1 && n++ <
		    1000) {
			inside(in, k);
			inside(in, v);
			if (k.n == 0)
				abort();
		}
	}
	buf_init(&b, size + 1);
	if (xtext_decode(in, &b) == 0 && b.len > size)
		abort();
	{
		int64_t t;
		int code, more;
		struct sv text;
		struct smtp_caps caps;

		(void)smtp_rfc3339_parse(in, &t);
		if (smtp_reply_line(in, &code, &more, &text) == 0) {
			inside(in, text);
			if (code < 200 || code > 599)
				abort();
		}
		memset(&caps, 0, sizeof(caps));
		smtp_caps_line(in, &caps);
	}
	(void)smtp_reply_ok(in, '4');
	(void)smtp_reply_ok(in, '5');
	/* the input as one grant "login:pattern", and as an address */
	buf_reset(&b);
	buf_append(&b, data, size);
	{
		const char *g[1] = { buf_cstr(&b) };

		(void)smtp_grant_match(g, 1, "a@b.example", buf_cstr(&b));
	}
	buf_free(&b);
	return 0;
}
