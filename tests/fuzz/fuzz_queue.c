/*
 * fuzz_queue: libFuzzer target for the queue's envelope parser and the
 * enqueue protocol's frames (chapar/queue.h), which enqueue reads from
 * smtpd.  An envelope that parses must format to text that parses again
 * to the same text; frames must stay inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_env e, e2;
	struct buf b, t1, t2;
	struct sv p;
	const char *why;
	size_t off = 0;
	ssize_t n;
	int type;

	queue_env_init(&e);
	queue_env_init(&e2);
	buf_init(&t1, QUEUE_ENV_MAX * 2);
	buf_init(&t2, QUEUE_ENV_MAX * 2);
	if (queue_env_parse(sv_make((const char *)data, size), &e, &why) ==
	    0) {
		/* what parsed formats to no more than it was */
		if (queue_env_format(&e, &t1) == -1 || t1.len > size)
			abort();
		if (queue_env_parse(buf_sv(&t1), &e2, &why) != 0)
			abort();
		if (queue_env_format(&e2, &t2) == -1)
			abort();
		if (!sv_eq(buf_sv(&t1), buf_sv(&t2)))
			abort();
	} else if (why == NULL)
		abort();
	queue_env_free(&e);
	queue_env_free(&e2);
	buf_free(&t1);
	buf_free(&t2);
	buf_init(&b, size + 1);
	buf_append(&b, data, size);
	while ((n = queue_frame_take(&b, off, &type, &p)) > 0) {
		if (p.p < b.data + off || p.p + p.n > b.data + b.len)
			abort();
		off += (size_t)n;
	}
	buf_free(&b);
	return 0;
}
