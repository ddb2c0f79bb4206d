/*
 * fuzz_dkim: libFuzzer target for DKIM signing's reading of a message
 * (common/mail/dkim.c): the header's fields and folds, the From domain, the
 * relaxed canonicalizations.  An Ed25519 key signs whatever comes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/dkim.h"
#include "chapar/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct dkim_key *keys;
static size_t nkeys;

static void
setup(void)
{
	struct buf pem, txt, err;
	char dir[] = "/tmp/chapar-fuzz-dkim.XXXXXX", path[256];
	FILE *fp;

	buf_init(&pem, 8192);
	buf_init(&txt, 1024);
	buf_init(&err, 1024);
	if (mkdtemp(dir) == NULL || dkim_keygen(1, &pem, &txt, &err) == -1)
		abort();
	(void)snprintf(path, sizeof(path), "%s/example.org", dir);
	(void)mkdir_p(path, 0700);
	(void)snprintf(path, sizeof(path), "%s/example.org/f.key", dir);
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fwrite(pem.data, 1, pem.len, fp);
	fclose(fp);
	if (dkim_keys_load(dir, &keys, &nkeys, &err) == -1 || nkeys != 1)
		abort();
	buf_free(&pem);
	buf_free(&txt);
	buf_free(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	struct buf out, err;

	if (keys == NULL)
		setup();
	buf_init(&out, 2 * size + 1024);
	buf_init(&err, 1024);
	if (dkim_canon_header(d, size, &out) == -1)
		abort();	/* never longer than the field and a CRLF */
	buf_reset(&out);
	if (dkim_canon_body(d, size, &out) == -1 || out.len > 2 * size + 2)
		abort();	/* a bare LF at most doubles; one CRLF added */
	buf_reset(&out);
	(void)dkim_sign(keys, nkeys, d, size, 0, &out, &err);
	buf_free(&out);
	buf_free(&err);
	return 0;
}
