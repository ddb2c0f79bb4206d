/*
 * fuzz_dns: libFuzzer target for the parsers of DNS record data
 * (common/dns/dns.c): names, MX, TXT.  Every name must come out as a string
 * of at most 253 characters without blanks, and no read may leave the
 * input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n > 253)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[DNS_NAME_MAX];
	unsigned pref;
	size_t off = 0;
	struct buf t;

	while (off < size && dns_name_parse(data, size, &off, name) == 0) {
		name_ok(name);
		if (off > size)
			abort();
	}
	if (dns_mx_parse(data, size, &pref, name) == 0) {
		name_ok(name);
		if (pref > 65535)
			abort();
	}
	buf_init(&t, size + 1);
	if (dns_txt_parse(data, size, &t) == 0 && t.len >= size)
		abort();
	buf_free(&t);
	return 0;
}
