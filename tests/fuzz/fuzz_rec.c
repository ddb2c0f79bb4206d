/*
 * libFuzzer target: the authd protocol's line format (tab_split,
 * tab_unescape, rec_decode) and rec's round trip: whatever decodes must
 * encode to text that decodes to the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/log.h"
#include "chapar/rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sv f[REC_MAX_FIELDS];
	struct rec r, r2;
	struct buf b, u;
	size_t i;
	int n;

	log_open("fuzz", LOG_TO_STDERR);
	log_set_level(LOGL_FATAL);
	n = tab_split(sv_make(data, size), f, REC_MAX_FIELDS);
	buf_init(&u, 0);
	for (i = 0; n > 0 && i < (size_t)n; i++) {
		buf_reset(&u);
		(void)tab_unescape(f[i], &u);
	}
	rec_init(&r);
	rec_init(&r2);
	buf_init(&b, 0);
	if (rec_decode(sv_make(data, size), &r) == 0) {
		rec_encode(&r, &b);
		if (rec_decode(buf_sv(&b), &r2) != 0 || r2.n != r.n)
			abort();
		for (i = 0; i < r.n; i++)
			if (strcmp(r.names[i], r2.names[i]) != 0 ||
			    !sv_eq(buf_sv(&r.vals[i]), buf_sv(&r2.vals[i])))
				abort();
	}
	rec_free(&r);
	rec_free(&r2);
	buf_free(&b);
	buf_free(&u);
	return 0;
}
