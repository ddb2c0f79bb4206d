/* Unit tests: password hashes (libxcrypt) and SCRAM-SHA-256 stored keys. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/buf.h"
#include "chapar/passwd.h"
#include "chapar/util.h"
#include "harness.h"

/* RFC 7677 section 3: password "pencil", this salt, 4096 iterations.
 * The keys were computed independently (Python hashlib) and give the
 * RFC's ClientProof and ServerSignature. */
#define RFC_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_STORED "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
#define RFC_SERVER "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
/* 84 base64 characters: 63 zero bytes. */
#define A84 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define RFC_KEYS "SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER

static void
passwd_hash_then_verify(void)
{
	struct buf h;
	const char *err = NULL;

	buf_init(&h, 0);
	T_ASSERT(passwd_hash("pencil", 6, &h, &err) == 0);
	T_ASSERT(strncmp(buf_cstr(&h), "$y$", 3) == 0);
	T_EQ_INT(passwd_verify("pencil", 6, buf_cstr(&h)), 1);
	T_EQ_INT(passwd_verify("pencil", 5, buf_cstr(&h)), 0);
	T_EQ_INT(passwd_verify("Pencil", 6, buf_cstr(&h)), 0);
	T_EQ_INT(passwd_verify("pencil!", 7, buf_cstr(&h)), 0);
	/* An empty password, or one with a NUL, never matches. */
	T_EQ_INT(passwd_verify("", 0, buf_cstr(&h)), 0);
	T_EQ_INT(passwd_verify("pencil\0x", 8, buf_cstr(&h)), 0);
	buf_free(&h);
}

static void
passwd_hash_is_salted(void)
{
	struct buf a, b;
	const char *err = NULL;

	buf_init(&a, 0);
	buf_init(&b, 0);
	T_ASSERT(passwd_hash("pencil", 6, &a, &err) == 0);
	T_ASSERT(passwd_hash("pencil", 6, &b, &err) == 0);
	T_ASSERT(!sv_eq(buf_sv(&a), buf_sv(&b)));
	T_EQ_INT(passwd_verify("pencil", 6, buf_cstr(&a)), 1);
	T_EQ_INT(passwd_verify("pencil", 6, buf_cstr(&b)), 1);
	buf_free(&a);
	buf_free(&b);
}

static void
passwd_hash_refuses_bad_passwords(void)
{
	struct scram_keys k;
	struct buf h;
	const char *err = NULL;
	char *big;

	buf_init(&h, 0);
	T_ASSERT(passwd_hash("", 0, &h, &err) == -1);
	T_ASSERT(err != NULL);
	T_ASSERT(passwd_hash("a\0b", 3, &h, &err) == -1);
	big = xmalloc(PASSWD_MAX + 1);
	memset(big, 'x', PASSWD_MAX + 1);
	T_ASSERT(passwd_hash(big, PASSWD_MAX + 1, &h, &err) == -1);
	T_EQ_INT(h.len, 0);
	T_ASSERT(passwd_hash(big, PASSWD_MAX, &h, &err) == 0);
	T_EQ_INT(passwd_verify(big, PASSWD_MAX, buf_cstr(&h)), 1);
	T_EQ_INT(passwd_verify(big, PASSWD_MAX + 1, buf_cstr(&h)), 0);
	T_ASSERT(scram_keys_derive(big, PASSWD_MAX, NULL, 0, 1, &k) == 0);
	T_ASSERT(scram_keys_derive(big, PASSWD_MAX + 1, NULL, 0, 1, &k) == -1);
	free(big);
	buf_free(&h);
}

/* Hash with crypt_rn directly, as an imported user's hash would be. */
static int
legacy_hash(const char *pw, const char *prefix, unsigned long cost,
    struct buf *out)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *h;
	int r = -1;

	if (crypt_gensalt_rn(prefix, cost, NULL, 0, salt, sizeof(salt)) == NULL)
		return -1;
	cd = xcalloc(1, sizeof(*cd));
	if ((h = crypt_rn(pw, salt, cd, (int)sizeof(*cd))) != NULL)
		r = buf_try_set(out, h, strlen(h));
	free(cd);
	return r;
}

static void
passwd_verify_imported_schemes(void)
{
	static const struct {
		const char *prefix;
		unsigned long cost;
	} s[] = { { "$6$", 5000 }, { "$2b$", 4 }, { "$7$", 0 } };
	struct buf h;
	size_t i;

	buf_init(&h, 0);
	for (i = 0; i < NELEM(s); i++) {
		T_ASSERT(legacy_hash("pencil", s[i].prefix, s[i].cost,
		    &h) == 0);
		T_ASSERT(strncmp(buf_cstr(&h), s[i].prefix,
		    strlen(s[i].prefix)) == 0);
		T_EQ_INT(passwd_verify("pencil", 6, buf_cstr(&h)), 1);
		T_EQ_INT(passwd_verify("pencin", 6, buf_cstr(&h)), 0);
	}
	buf_free(&h);
}

static void
passwd_verify_unusable_hashes(void)
{
	struct buf h, l;
	const char *err = NULL;

	T_EQ_INT(passwd_verify("pencil", 6, NULL), -1);
	T_EQ_INT(passwd_verify("pencil", 6, ""), -1);
	T_EQ_INT(passwd_verify("pencil", 6, "garbage"), -1);
	T_EQ_INT(passwd_verify("pencil", 6, "$"), -1);
	T_EQ_INT(passwd_verify("pencil", 6, "$zz$abc$def"), -1);
	/* Traditional DES: refused even though crypt knows it. */
	T_EQ_INT(passwd_verify("pencil", 6, "saEmEZTn/bRaY"), -1);
	/* A setting with no checksum, and a cut hash, match nothing. */
	T_EQ_INT(passwd_verify("pencil", 6, "$6$saltsalt$"), -1);
	buf_init(&h, 0);
	buf_init(&l, 0);
	T_ASSERT(passwd_hash("pencil", 6, &h, &err) == 0);
	T_ASSERT(buf_try_set(&l, h.data, h.len - 1) == 0);
	T_EQ_INT(passwd_verify("pencil", 6, buf_cstr(&l)), -1);
	/* Locked: "!" or "*" before a good hash never verifies. */
	T_ASSERT(buf_try_set(&l, "!", 1) == 0);
	T_ASSERT(buf_try_append(&l, h.data, h.len) == 0);
	T_EQ_INT(passwd_verify("pencil", 6, buf_cstr(&l)), -1);
	l.data[0] = '*';
	T_EQ_INT(passwd_verify("pencil", 6, buf_cstr(&l)), -1);
	T_EQ_INT(passwd_verify("pencil", 6, "!"), -1);
	T_EQ_INT(passwd_verify("pencil", 6, "*"), -1);
	buf_free(&h);
	buf_free(&l);
}

static void
passwd_scram_rfc7677_keys(void)
{
	struct scram_keys k, p;
	struct buf salt, f;

	buf_init(&salt, 0);
	buf_init(&f, 0);
	T_ASSERT(base64_decode(&salt, RFC_SALT, strlen(RFC_SALT)) == 0);
	T_ASSERT(scram_keys_derive("pencil", 6, (unsigned char *)salt.data,
	    salt.len, 4096, &k) == 0);
	scram_keys_format(&k, &f);
	T_EQ_STR(buf_cstr(&f), RFC_KEYS);
	T_ASSERT(scram_keys_parse(buf_sv(&f), &p) == 0);
	T_EQ_INT(p.iter, 4096);
	T_EQ_INT(p.saltlen, 16);
	T_ASSERT(memcmp(p.salt, k.salt, 16) == 0);
	T_ASSERT(memcmp(p.stored, k.stored, SCRAM_KEYLEN) == 0);
	T_ASSERT(memcmp(p.server, k.server, SCRAM_KEYLEN) == 0);
	buf_free(&salt);
	buf_free(&f);
}

static void
passwd_scram_derive_salt_and_args(void)
{
	struct scram_keys a, b;
	unsigned char salt[SCRAM_SALTMAX + 1] = { 0 };

	T_ASSERT(scram_keys_derive("pencil", 6, NULL, 0, 4096, &a) == 0);
	T_ASSERT(scram_keys_derive("pencil", 6, NULL, 0, 4096, &b) == 0);
	T_EQ_INT(a.saltlen, SCRAM_SALTLEN);
	T_ASSERT(memcmp(a.salt, b.salt, SCRAM_SALTLEN) != 0);
	T_ASSERT(memcmp(a.stored, b.stored, SCRAM_KEYLEN) != 0);
	/* Low counts are allowed for derivation (tests, fuzzers). */
	T_ASSERT(scram_keys_derive("pencil", 6, salt, 1, 1, &a) == 0);
	T_ASSERT(scram_keys_derive("pencil", 6, salt, 1, 0, &a) == -1);
	T_ASSERT(scram_keys_derive("pencil", 6, salt, 1, SCRAM_ITER_MAX + 1,
	    &a) == -1);
	T_ASSERT(scram_keys_derive("", 0, salt, 1, 4096, &a) == -1);
	T_ASSERT(scram_keys_derive("a\0b", 3, salt, 1, 4096, &a) == -1);
	T_ASSERT(scram_keys_derive("pencil", 6, salt, 0, 4096, &a) == -1);
	T_ASSERT(scram_keys_derive("pencil", 6, salt, sizeof(salt), 4096,
	    &a) == -1);
	T_ASSERT(scram_keys_derive("pencil", 6, salt, SCRAM_SALTMAX, 4096,
	    &a) == 0);
}

static void
passwd_scram_parse_is_strict(void)
{
	static const char *bad[] = {
		"",
		"SCRAM-SHA-256$",
		"SCRAM-SHA-1$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"scram-sha-256$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$4095:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$10000001:" RFC_SALT "$" RFC_STORED ":"
		    RFC_SERVER,
		"SCRAM-SHA-256$04096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$+4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$4096:$" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ$" RFC_STORED ":"
		    RFC_SERVER,
		"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gR==$" RFC_STORED ":"
		    RFC_SERVER,
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED,
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED ":",
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER
		    "\n",
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER
		    ":",
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED ":" RFC_SERVER
		    "AAAA",
		"SCRAM-SHA-256$4096:" RFC_SALT "$AAAA:" RFC_SERVER,
		"SCRAM-SHA-256$4096:" RFC_SALT "$" RFC_STORED ":AAAA",
		"SCRAM-SHA-256$4096:" RFC_SALT ":" RFC_STORED ":" RFC_SERVER,
		"SCRAM-SHA-256$4096$" RFC_SALT "$" RFC_STORED ":" RFC_SERVER,
		/* 65 bytes of salt */
		"SCRAM-SHA-256$4096:" A84 "AAA=$" RFC_STORED ":" RFC_SERVER,
	};
	struct scram_keys k;
	size_t i;

	for (i = 0; i < NELEM(bad); i++) {
		if (scram_keys_parse(sv_from(bad[i]), &k) != -1)
			t_failf(__FILE__, __LINE__, "accepted bad[%zu]", i);
	}
	T_ASSERT(scram_keys_parse(sv_from("SCRAM-SHA-256$10000000:AA==$"
	    RFC_STORED ":" RFC_SERVER), &k) == 0);
	T_EQ_INT(k.iter, 10000000);
	T_EQ_INT(k.saltlen, 1);
	/* A NUL inside is not skipped over. */
	T_ASSERT(scram_keys_parse(sv_make(RFC_KEYS "\0", sizeof(RFC_KEYS)),
	    &k) == -1);
	/* 64 bytes of salt is the most. */
	T_ASSERT(scram_keys_parse(sv_from("SCRAM-SHA-256$4096:" A84 "AA==$"
	    RFC_STORED ":" RFC_SERVER), &k) == 0);
	T_EQ_INT(k.saltlen, 64);
}

T_SUITE(suite_passwd)
{
	t_run("passwd_hash_then_verify", passwd_hash_then_verify);
	t_run("passwd_hash_is_salted", passwd_hash_is_salted);
	t_run("passwd_hash_refuses_bad_passwords",
	    passwd_hash_refuses_bad_passwords);
	t_run("passwd_verify_imported_schemes", passwd_verify_imported_schemes);
	t_run("passwd_verify_unusable_hashes", passwd_verify_unusable_hashes);
	t_run("passwd_scram_rfc7677_keys", passwd_scram_rfc7677_keys);
	t_run("passwd_scram_derive_salt_and_args",
	    passwd_scram_derive_salt_and_args);
	t_run("passwd_scram_parse_is_strict", passwd_scram_parse_is_strict);
}
