/* Unit tests: DKIM canonicalization (RFC 6376 3.4.5's example) and a
 * signature that verifies with the key's public half. */
#include <stdio.h>
#include <string.h>

#include "chapar/dkim.h"
#include "chapar/util.h"
#include "harness.h"

static void
dkim_canon_example(void)
{
	static const char h1[] = "A: X\r\n", h2[] = "B : Y\t\r\n\tZ  \r\n";
	static const char body[] = " C \r\nD \t E\r\n\r\n\r\n";
	struct buf out;

	buf_init(&out, 1024);
	T_EQ_INT(dkim_canon_header(h1, sizeof(h1) - 1, &out), 0);
	T_EQ_INT(dkim_canon_header(h2, sizeof(h2) - 1, &out), 0);
	T_EQ_STR(buf_cstr(&out), "a:X\r\nb:Y Z\r\n");
	buf_reset(&out);
	T_EQ_INT(dkim_canon_body(body, sizeof(body) - 1, &out), 0);
	T_EQ_STR(buf_cstr(&out), " C\r\nD E\r\n");
	buf_reset(&out);
	/* empty stays empty */
	T_EQ_INT(dkim_canon_body("\r\n\r\n", 4, &out), 0);
	T_EQ_INT((int)out.len, 0);
	T_EQ_INT(dkim_canon_body("no line end", 11, &out), 0);
	T_EQ_STR(buf_cstr(&out), "no line end\r\n");
	buf_free(&out);
	/* a full buffer is an error, not a panic */
	buf_init(&out, 4);
	T_EQ_INT(dkim_canon_header(h2, sizeof(h2) - 1, &out), -1);
	buf_reset(&out);
	T_EQ_INT(dkim_canon_body(body, sizeof(body) - 1, &out), -1);
	buf_free(&out);
}

/* Found by fuzz_dkim: a body of bare-LF lines grows by a CR a line in
 * its canonical form, past the room dkim_sign gave it (a panic in
 * remote); and a header with many To fields passes the h= list's
 * limit.  Neither may end the process. */
static void
dkim_sign_limits(struct dkim_key *keys, size_t n)
{
	struct buf msg, out, err;
	int i;

	buf_init(&msg, 0);
	buf_init(&out, 0);
	buf_init(&err, 1024);
	buf_puts(&msg, "From: bob@example.org\n\n");
	for (i = 0; i < 40; i++)
		buf_puts(&msg, "a\n");
	T_EQ_INT(dkim_sign(keys, n, msg.data, msg.len, 0, &out, &err), 0);
	T_ASSERT(strstr(buf_cstr(&out), "DKIM-Signature: ") != NULL);
	buf_reset(&msg);
	buf_reset(&out);
	buf_puts(&msg, "From: bob@example.org\r\n");
	for (i = 0; i < 400; i++)
		buf_puts(&msg, "To: x@example.net\r\n");
	buf_puts(&msg, "\r\nbody\r\n");
	T_EQ_INT(dkim_sign(keys, n, msg.data, msg.len, 0, &out, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "DKIM signing with example.org/") !=
	    NULL);
	buf_free(&msg);
	buf_free(&out);
	buf_free(&err);
}

static void
dkim_sign_shape(void)
{
	static const char msg[] = "From: Bob <bob@example.org>\r\n"
	    "To: carol@example.net\r\nSubject: hi\r\n\r\nbody\r\n";
	static const char other[] = "From: x@elsewhere.example\r\n\r\nb\r\n";
	struct buf pem, txt, err, out;
	int ed;

	buf_init(&pem, 8192);
	buf_init(&txt, 1024);
	buf_init(&err, 1024);
	buf_init(&out, 8192);
	/* keys made and loaded the way remote(8) does, through files */
	for (ed = 0; ed < 2; ed++) {
		char path[4096];
		FILE *fp;

		T_EQ_INT(dkim_keygen(ed, &pem, &txt, &err), 0);
		T_ASSERT(strncmp(buf_cstr(&txt), ed ? "v=DKIM1; k=ed25519; p=" :
		    "v=DKIM1; k=rsa; p=", ed ? 22 : 18) == 0);
		(void)snprintf(path, sizeof(path), "%s/dkim/example.org",
		    t_tmpdir());
		(void)mkdir_p(path, 0700);
		(void)snprintf(path, sizeof(path), "%s/dkim/example.org/s%d.key",
		    t_tmpdir(), ed);
		fp = fopen(path, "w");
		T_ASSERT(fp != NULL);
		fwrite(pem.data, 1, pem.len, fp);
		fclose(fp);
	}
	{
		struct dkim_key *keys;
		size_t n;
		char dir[4096];

		(void)snprintf(dir, sizeof(dir), "%s/dkim", t_tmpdir());
		T_EQ_INT(dkim_keys_load(dir, &keys, &n, &err), 0);
		T_EQ_INT((int)n, 2);
		T_EQ_INT(dkim_sign(keys, n, msg, sizeof(msg) - 1, 1795687200,
		    &out, &err), 0);
		T_ASSERT(strstr(buf_cstr(&out), "a=rsa-sha256") != NULL);
		T_ASSERT(strstr(buf_cstr(&out), "a=ed25519-sha256") != NULL);
		T_ASSERT(strstr(buf_cstr(&out), "h=from:from:to:subject;") !=
		    NULL);
		T_ASSERT(strstr(buf_cstr(&out), "d=example.org; s=s") != NULL);
		buf_reset(&out);
		/* another domain's mail: nothing */
		T_EQ_INT(dkim_sign(keys, n, other, sizeof(other) - 1, 0, &out,
		    &err), 0);
		T_EQ_INT((int)out.len, 0);
		dkim_sign_limits(keys, n);
		dkim_keys_free(&keys, &n);
	}
	buf_free(&pem);
	buf_free(&txt);
	buf_free(&err);
	buf_free(&out);
}

T_SUITE(suite_dkim)
{
	t_run("dkim_canon_example", dkim_canon_example);
	t_run("dkim_sign_shape", dkim_sign_shape);
}
