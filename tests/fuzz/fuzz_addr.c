/*
 * fuzz_addr: libFuzzer target for chapar/addr.h.  Parses the input as a
 * path and as a bare mailbox, with and without ADDR_UTF8, and checks on
 * every success that the limits hold and that addr_format() output parses
 * back to the same address.  Any broken invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/addr.h"
#include "chapar/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(const struct addr *a, int flags)
{
	struct addr b;
	struct buf f, k1, k2, f2;
	const char *err;
	int fl = flags;
	size_t i;
	unsigned char c;

	if (a->local.len > ADDR_LOCAL_MAX || a->domain.len > ADDR_DOMAIN_MAX)
		abort();
	if (a->utf8 && !(flags & ADDR_UTF8))
		abort();
	for (i = 0; !a->literal && i < a->domain.len; i++) {
		c = (unsigned char)a->domain.data[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.'))
			abort();
	}
	buf_init(&f, 0);
	buf_init(&f2, 0);
	buf_init(&k1, 0);
	buf_init(&k2, 0);
	addr_init(&b);
	addr_format(a, &f);
	addr_key(a, &k1);
	if (f.len > ADDR_PATH_MAX - 2)
		abort();
	if (a->domain.len == 0)
		fl |= ADDR_ALLOW_NODOMAIN;
	if (addr_parse(buf_sv(&f), fl, &b, &err) != 0)
		abort();
	addr_key(&b, &k2);
	addr_format(&b, &f2);
	if (!sv_eq(buf_sv(&k1), buf_sv(&k2)) ||
	    !sv_eq(buf_sv(&f), buf_sv(&f2)) || a->literal != b.literal)
		abort();
	addr_free(&b);
	buf_free(&f);
	buf_free(&f2);
	buf_free(&k1);
	buf_free(&k2);
}

static void
one(struct sv in, int flags)
{
	struct addr a;
	const char *err = NULL;
	int is_null;

	addr_init(&a);
	if (addr_parse_path(in, flags, &a, &is_null, &err) == 0) {
		if (!is_null)
			check(&a, flags);
		else if (a.local.len != 0 || a.domain.len != 0)
			abort();
	} else if (err == NULL || a.local.len != 0 || a.domain.len != 0)
		abort();
	err = NULL;
	if (addr_parse(in, flags, &a, &err) == 0)
		check(&a, flags);
	else if (err == NULL)
		abort();
	addr_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int opened;
	struct sv in = sv_make(data, size);
	struct buf out;
	const char *err;
	struct sv b, e;

	if (!opened) {
		log_open("fuzz", LOG_TO_STDERR);
		opened = 1;
	}
	one(in, 0);
	one(in, ADDR_UTF8);
	one(in, ADDR_UTF8 | ADDR_ALLOW_NODOMAIN);
	buf_init(&out, 0);
	if (addr_domain_normalize(in, ADDR_UTF8, &out, &err) == 0 &&
	    out.len > ADDR_DOMAIN_MAX)
		abort();
	buf_free(&out);
	if (addr_split_ext(in, "+-", &b, &e) == 1 &&
	    b.n + 1 + e.n != in.n)
		abort();
	return 0;
}
