/*
 * libFuzzer target: listen addresses and networks (from chapar.conf), and
 * the address matcher fed with the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct listen_addr a[2];
	struct netmask m;
	char addr[128];
	const char *e;
	int n;

	n = listen_addr_parse(sv_make(data, size), a, &e);
	if (n > 2 || (n > 0 && strlen(a[0].text) >= sizeof(a[0].text)))
		abort();
	if (netmask_parse(sv_make(data, size), &m) == 0) {
		if (m.bits < 0 || m.bits > 128)
			abort();
		if (size < sizeof(addr)) {
			memcpy(addr, data, size);
			addr[size] = '\0';
			(void)netmask_match(&m, 1, addr);
		}
	}
	return 0;
}
