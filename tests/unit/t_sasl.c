/* Unit tests: SASL PLAIN (RFC 4616) and the SCRAM-SHA-256 server
 * (RFC 5802, RFC 7677). */
#include <stdlib.h>
#include <string.h>

#include "chapar/buf.h"
#include "chapar/passwd.h"
#include "chapar/sasl.h"
#include "chapar/util.h"
#include "harness.h"

/* RFC 7677 section 3, byte for byte. */
#define C_NONCE "rOprNGfwEbeRWgbNEkqO"
#define S_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define NONCE C_NONCE S_NONCE
#define RFC_C1 "n,,n=user,r=" C_NONCE
#define RFC_S1 "r=" C_NONCE S_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_C2_NOPROOF "c=biws,r=" C_NONCE S_NONCE
#define RFC_PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_C2 RFC_C2_NOPROOF ",p=" RFC_PROOF
#define RFC_S2 "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
#define RFC_KEYS "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" \
    "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:" \
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

/*
 * PLAIN
 */

static int
plain(const char *m, size_t n, const char *z, const char *c, const char *p)
{
	struct sv az, ac, pw;
	const char *err = NULL;

	if (sasl_plain_parse(sv_make(m, n), &az, &ac, &pw, &err) == -1)
		return err != NULL ? -1 : -2;
	return sv_eq_str(az, z) && sv_eq_str(ac, c) && sv_eq_str(pw, p) ? 0 :
	    -3;
}

#define PLAIN(lit, z, c, p) plain(lit, sizeof(lit) - 1, z, c, p)

static void
sasl_plain_good(void)
{
	T_EQ_INT(PLAIN("\0user\0pencil", "", "user", "pencil"), 0);
	T_EQ_INT(PLAIN("admin\0user\0pencil", "admin", "user", "pencil"), 0);
	T_EQ_INT(PLAIN("\0us\xc3\xa9r\0p\xe9ncil", "", "us\xc3\xa9r",
	    "p\xe9ncil"), 0);
}

static void
sasl_plain_bad(void)
{
	struct buf b;

	T_EQ_INT(PLAIN("", "", "", ""), -1);
	T_EQ_INT(PLAIN("userpencil", "", "", ""), -1);
	T_EQ_INT(PLAIN("user\0pencil", "", "", ""), -1);
	T_EQ_INT(PLAIN("\0user\0pen\0cil", "", "", ""), -1);
	T_EQ_INT(PLAIN("a\0user\0pencil\0", "", "", ""), -1);
	T_EQ_INT(PLAIN("\0\0pencil", "", "", ""), -1);
	T_EQ_INT(PLAIN("\0user\0", "", "", ""), -1);
	T_EQ_INT(PLAIN("\0\0", "", "", ""), -1);
	T_EQ_INT(PLAIN("\0us\xc3r\0pencil", "", "", ""), -1);
	T_EQ_INT(PLAIN("\xff\0user\0pencil", "", "", ""), -1);
	/* RFC 4616 asks for at least 255 octets per field: take that,
	 * refuse past our own limits. */
	buf_init(&b, 0);
	T_ASSERT(buf_try_putc(&b, 0) == 0);
	while (b.len < 1 + 255)
		T_ASSERT(buf_try_putc(&b, 'u') == 0);
	T_ASSERT(buf_try_putc(&b, 0) == 0);
	while (b.len < 2 + 255 + 255)
		T_ASSERT(buf_try_putc(&b, 'p') == 0);
	T_EQ_INT(plain(b.data, b.len, "", "", ""), -3);
	buf_reset(&b);
	T_ASSERT(buf_try_putc(&b, 0) == 0);
	while (b.len < 1 + SASL_PLAIN_IDMAX + 1)
		T_ASSERT(buf_try_putc(&b, 'u') == 0);
	T_ASSERT(buf_try_putc(&b, 0) == 0 && buf_try_putc(&b, 'p') == 0);
	T_EQ_INT(plain(b.data, b.len, "", "", ""), -1);
	/* A passwd longer than any stored one parses (and will not verify);
	 * past SASL_PLAIN_PWMAX it is refused. */
	buf_reset(&b);
	T_ASSERT(buf_try_append(&b, "\0u\0", 3) == 0);
	while (b.len < 3 + SASL_PLAIN_PWMAX)
		T_ASSERT(buf_try_putc(&b, 'p') == 0);
	T_EQ_INT(plain(b.data, b.len, "", "", ""), -3);
	T_ASSERT(buf_try_putc(&b, 'p') == 0);
	T_EQ_INT(plain(b.data, b.len, "", "", ""), -1);
	buf_free(&b);
}

/*
 * SCRAM-SHA-256
 */

struct ex {
	struct scram_server s;
	struct scram_keys k;
	struct buf out;
	const char *err;
};

static int
ex_start(struct ex *e, const char *c1)
{
	memset(e, 0, sizeof(*e));
	scram_server_init(&e->s);
	buf_init(&e->out, 0);
	if (scram_keys_parse(sv_from(RFC_KEYS), &e->k) == -1)
		return -2;
	return scram_server_client_first(&e->s, sv_from(c1), &e->err);
}

/* Steps 1 and 2 with the RFC's server nonce. */
static int
ex_to_final(struct ex *e, const char *c1)
{
	int r;

	if ((r = ex_start(e, c1)) != 0)
		return r;
	if (scram_server_set_nonce_for_test(&e->s, SV_LIT(S_NONCE)) == -1)
		return -3;
	return scram_server_first(&e->s, &e->k, &e->out);
}

static void
ex_end(struct ex *e)
{
	scram_server_free(&e->s);
	buf_free(&e->out);
}

static void
sasl_scram_rfc7677_vector(void)
{
	struct ex e;

	T_EQ_INT(ex_to_final(&e, RFC_C1), 0);
	T_EQ_STR(buf_cstr(&e.s.authcid), "user");
	T_EQ_INT(e.s.authzid.len, 0);
	T_EQ_STR(buf_cstr(&e.out), RFC_S1);
	buf_reset(&e.out);
	T_EQ_INT(scram_server_client_final(&e.s, SV_LIT(RFC_C2), &e.out,
	    &e.err), 1);
	T_EQ_STR(buf_cstr(&e.out), RFC_S2);
	/* The exchange is over. */
	T_EQ_INT(scram_server_client_final(&e.s, SV_LIT(RFC_C2), &e.out,
	    &e.err), -1);
	ex_end(&e);
}

static void
sasl_scram_wrong_proof(void)
{
	struct ex e;

	T_EQ_INT(ex_to_final(&e, RFC_C1), 0);
	buf_reset(&e.out);
	T_EQ_INT(scram_server_client_final(&e.s, SV_LIT(RFC_C2_NOPROOF
	    ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVU="), &e.out,
	    &e.err), 0);
	T_EQ_INT(e.out.len, 0);
	ex_end(&e);
	/* An extension changes the AuthMessage: the RFC proof is wrong. */
	T_EQ_INT(ex_to_final(&e, RFC_C1), 0);
	T_EQ_INT(scram_server_client_final(&e.s, SV_LIT(RFC_C2_NOPROOF
	    ",x=1,p=" RFC_PROOF), &e.out, &e.err), 0);
	ex_end(&e);
}

static int
final_with(const char *c1, const char *c2)
{
	struct ex e;
	int r;

	if ((r = ex_to_final(&e, c1)) == 0) {
		r = scram_server_client_final(&e.s, sv_from(c2), &e.out,
		    &e.err);
		if (r == -1 && e.err == NULL)
			r = -2;
	}
	ex_end(&e);
	return r;
}

static void
sasl_scram_tampered_final(void)
{
	static const char *bad[] = {
		/* channel binding of "y,," or of another header */
		"c=eSws,r=" NONCE ",p=" RFC_PROOF,
		"c=bixhPXVzZXIs,r=" NONCE ",p=" RFC_PROOF,
		"c=biws=,r=" NONCE ",p=" RFC_PROOF,
		"c=,r=" NONCE ",p=" RFC_PROOF,
		/* nonce: cut, lengthened, changed, client part only */
		"c=biws,r=" C_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k,p="
		    RFC_PROOF,
		"c=biws,r=" NONCE "0,p=" RFC_PROOF,
		"c=biws,r=" C_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,p="
		    RFC_PROOF,
		"c=biws,r=" C_NONCE ",p=" RFC_PROOF,
		/* shape */
		"r=" NONCE ",c=biws,p=" RFC_PROOF,
		"c=biws,r=" NONCE,
		"c=biws,r=" NONCE ",p=" RFC_PROOF ",x=1",
		"c=biws,r=" NONCE ",p=",
		"c=biws,r=" NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHg",
		"c=biws,r=" NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7And"
		    "VR=",
		"c=biws,r=" NONCE ",m=1,p=" RFC_PROOF,
		"c=biws,r=" NONCE ",r=x,p=" RFC_PROOF,
		"c=biws,r=" NONCE ",,p=" RFC_PROOF,
		"c=biws,r=" NONCE ",x=,p=" RFC_PROOF,
		"c=biws,r=" NONCE ",1=a,p=" RFC_PROOF,
		",p=" RFC_PROOF,
		"p=" RFC_PROOF,
		"",
	};
	size_t i;

	for (i = 0; i < NELEM(bad); i++) {
		if (final_with(RFC_C1, bad[i]) != -1)
			t_failf(__FILE__, __LINE__, "accepted bad[%zu]", i);
	}
	T_EQ_INT(final_with(RFC_C1, RFC_C2), 1);
}

static void
sasl_scram_malformed_first(void)
{
	static const char *bad[] = {
		"",
		"n,,r=" C_NONCE,
		"n,,n=,r=" C_NONCE,
		"n,,n=user",
		"n,,n=user,",
		"n,,n=user,r=",
		"n,,n=user,r=a,b",
		"n,,n=user,r=a\x7f",
		"n,,n=us=2cer,r=" C_NONCE,
		"n,,n=us=2Ger,r=" C_NONCE,
		"n,,n=user=,r=" C_NONCE,
		"n,,n=user=2,r=" C_NONCE,
		"n,,n=us\xffr,r=" C_NONCE,
		"p=tls-unique,,n=user,r=" C_NONCE,
		"p=tls-server-end-point,,n=user,r=" C_NONCE,
		"m=x,,n=user,r=" C_NONCE,
		"n,,m=ext,n=user,r=" C_NONCE,
		"n,,n=user,r=" C_NONCE ",m=ext",
		"n,,n=user,r=" C_NONCE ",n=other",
		"n,,n=user,r=" C_NONCE ",x=",
		"n,,n=user,r=" C_NONCE ",xy=1",
		"n,n=user,r=" C_NONCE,
		",,n=user,r=" C_NONCE,
		"nn,,n=user,r=" C_NONCE,
		"N,,n=user,r=" C_NONCE,
		"n,a=,n=user,r=" C_NONCE,
		"n,b=x,n=user,r=" C_NONCE,
		"n,a=x=4,n=user,r=" C_NONCE,
		"n,,r=" C_NONCE ",n=user",
		"n,,user,r=" C_NONCE,
	};
	struct ex e;
	struct buf big;
	size_t i;
	int r;

	for (i = 0; i < NELEM(bad); i++) {
		r = ex_start(&e, bad[i]);
		if (r != -1 || e.err == NULL)
			t_failf(__FILE__, __LINE__, "bad[%zu] gave %d", i, r);
		ex_end(&e);
	}
	/* A NUL inside. */
	memset(&e, 0, sizeof(e));
	scram_server_init(&e.s);
	T_EQ_INT(scram_server_client_first(&e.s, SV_LIT("n,,n=us\0er,r=abc"),
	    &e.err), -1);
	scram_server_free(&e.s);
	/* Overlong: SCRAM_MSG_MAX bytes pass, one more does not. */
	buf_init(&big, 0);
	T_ASSERT(buf_try_puts(&big, "n,,n=user,r=") == 0);
	while (big.len < SCRAM_MSG_MAX)
		T_ASSERT(buf_try_putc(&big, 'x') == 0);
	T_EQ_INT(ex_start(&e, buf_cstr(&big)), 0);
	ex_end(&e);
	T_ASSERT(buf_try_putc(&big, 'x') == 0);
	T_EQ_INT(ex_start(&e, buf_cstr(&big)), -1);
	ex_end(&e);
	buf_free(&big);
}

static void
sasl_scram_names_and_flags(void)
{
	struct ex e;

	T_EQ_INT(ex_start(&e, "y,a=ad=3Dmin=2C,n=a=2Cb=3Dc,r=xyz,e=1,f=2"), 0);
	T_EQ_STR(buf_cstr(&e.s.authcid), "a,b=c");
	T_EQ_STR(buf_cstr(&e.s.authzid), "ad=min,");
	T_EQ_STR(buf_cstr(&e.s.gs2_header), "y,a=ad=3Dmin=2C,");
	T_EQ_STR(buf_cstr(&e.s.client_first_bare),
	    "n=a=2Cb=3Dc,r=xyz,e=1,f=2");
	ex_end(&e);
	T_EQ_INT(ex_start(&e, "n,,n=\xc3\xa9,r=x"), 0);
	T_EQ_STR(buf_cstr(&e.s.authcid), "\xc3\xa9");
	ex_end(&e);
	/* "y": the channel binding is base64("y,,") = "eSws". */
	T_EQ_INT(final_with("y,,n=user,r=" C_NONCE,
	    "c=eSws,r=" C_NONCE S_NONCE ",p=" RFC_PROOF), 0);
	T_EQ_INT(final_with("y,,n=user,r=" C_NONCE, RFC_C2), -1);
}

static void
sasl_scram_random_nonce(void)
{
	struct ex a, b;

	T_EQ_INT(ex_start(&a, RFC_C1), 0);
	T_EQ_INT(ex_start(&b, RFC_C1), 0);
	T_EQ_INT(scram_server_first(&a.s, &a.k, &a.out), 0);
	T_EQ_INT(scram_server_first(&b.s, &b.k, &b.out), 0);
	/* "r=" + 20 client + 32 server characters. */
	T_ASSERT(strncmp(buf_cstr(&a.out), "r=" C_NONCE, 22) == 0);
	T_ASSERT(a.out.len == strlen(RFC_S1) - strlen(S_NONCE) + 32);
	T_ASSERT(memchr(a.out.data + 22, ',', 32) == NULL);
	T_ASSERT(!sv_eq(buf_sv(&a.out), buf_sv(&b.out)));
	T_ASSERT(sv_eq(buf_sv(&a.out), buf_sv(&a.s.server_first)));
	/* The RFC's final message carries the wrong nonce. */
	T_EQ_INT(scram_server_client_final(&a.s, SV_LIT(RFC_C2), &a.out,
	    &a.err), -1);
	ex_end(&a);
	ex_end(&b);
}

static void
sasl_scram_out_of_order(void)
{
	struct ex e;

	memset(&e, 0, sizeof(e));
	scram_server_init(&e.s);
	buf_init(&e.out, 0);
	T_ASSERT(scram_keys_parse(sv_from(RFC_KEYS), &e.k) == 0);
	T_EQ_INT(scram_server_client_final(&e.s, SV_LIT(RFC_C2), &e.out,
	    &e.err), -1);
	ex_end(&e);

	scram_server_init(&e.s);
	T_EQ_INT(scram_server_first(&e.s, &e.k, &e.out), -1);
	T_EQ_INT(e.out.len, 0);
	T_EQ_INT(scram_server_client_first(&e.s, SV_LIT(RFC_C1), &e.err), -1);
	ex_end(&e);

	T_EQ_INT(ex_start(&e, RFC_C1), 0);
	T_EQ_INT(scram_server_client_first(&e.s, SV_LIT(RFC_C1), &e.err), -1);
	T_EQ_INT(scram_server_first(&e.s, &e.k, &e.out), -1);
	ex_end(&e);

	T_EQ_INT(ex_to_final(&e, RFC_C1), 0);
	T_EQ_INT(scram_server_first(&e.s, &e.k, &e.out), -1);
	T_EQ_INT(scram_server_client_final(&e.s, SV_LIT(RFC_C2), &e.out,
	    &e.err), -1);
	ex_end(&e);

	/* After a failed first step, nothing more. */
	T_EQ_INT(ex_start(&e, "n,,n=user"), -1);
	T_EQ_INT(scram_server_set_nonce_for_test(&e.s, SV_LIT(S_NONCE)), -1);
	T_EQ_INT(scram_server_first(&e.s, &e.k, &e.out), -1);
	ex_end(&e);
	/* The test nonce must be a nonce. */
	T_EQ_INT(ex_start(&e, RFC_C1), 0);
	T_EQ_INT(scram_server_set_nonce_for_test(&e.s, SV_LIT("a,b")), -1);
	ex_end(&e);
}

T_SUITE(suite_sasl)
{
	t_run("sasl_plain_good", sasl_plain_good);
	t_run("sasl_plain_bad", sasl_plain_bad);
	t_run("sasl_scram_rfc7677_vector", sasl_scram_rfc7677_vector);
	t_run("sasl_scram_wrong_proof", sasl_scram_wrong_proof);
	t_run("sasl_scram_tampered_final", sasl_scram_tampered_final);
	t_run("sasl_scram_malformed_first", sasl_scram_malformed_first);
	t_run("sasl_scram_names_and_flags", sasl_scram_names_and_flags);
	t_run("sasl_scram_random_nonce", sasl_scram_random_nonce);
	t_run("sasl_scram_out_of_order", sasl_scram_out_of_order);
}
