/*
 * passwd.c: password hashes (libxcrypt) and SCRAM-SHA-256 stored keys
 * (RFC 5802 section 3, RFC 7677, stored as RFC 5803 says).
 *
 * Trusts: nothing it is given.  Passwords and stored hashes are bounded
 * and checked before use; every secret intermediate is wiped.  No I/O
 * except the randomness for salts.
 *
 * Known gap: RFC 5802 section 2.2 wants the password normalised with
 * SASLprep (RFC 4013) before PBKDF2.  We use the password bytes as given
 * (UTF-8).  ASCII passwords are unaffected, since SASLprep maps only
 * non-ASCII spaces and characters, and an ASCII password of printable
 * characters is left unchanged; a non-ASCII password typed in another
 * normalisation form by a client that does apply SASLprep will fail.
 */
#include <crypt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "chapar/log.h"
#include "chapar/passwd.h"
#include "chapar/util.h"

#define SCRAM_PREFIX "SCRAM-SHA-256$"

_Static_assert(PASSWD_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
    "crypt(3) would refuse the longest password");

/* A NUL-terminated copy of a password that passed the checks, or NULL. */
static char *
pw_cstr(const char *pw, size_t pwlen)
{
	char *s;

	if (pw == NULL || pwlen == 0 || pwlen > PASSWD_MAX ||
	    memchr(pw, '\0', pwlen) != NULL)
		return NULL;
	s = xmalloc(pwlen + 1);
	memcpy(s, pw, pwlen);
	s[pwlen] = '\0';
	return s;
}

static void
pw_free(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

/*
 * struct crypt_data is about 32 KB: it lives on the heap, never on the
 * stack of a process that may run with a small one.
 */
static struct crypt_data *
cd_new(void)
{
	return xcalloc(1, sizeof(struct crypt_data));
}

static void
cd_free(struct crypt_data **cd)
{
	explicit_bzero(*cd, sizeof(**cd));
	XFREE(*cd);
}

int
passwd_hash(const char *pw, size_t pwlen, struct buf *out, const char **error_r)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE], *s;
	struct crypt_data *cd;
	const char *h;
	int r = -1;

	if ((s = pw_cstr(pw, pwlen)) == NULL) {
		*error_r = pwlen == 0 ? "empty password" :
		    "password too long or holds a NUL";
		return -1;
	}
	/* NULL random bytes: libxcrypt draws the salt itself; count 0 is
	 * yescrypt's default cost. */
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL) {
		*error_r = "crypt_gensalt failed";
		pw_free(&s);
		return -1;
	}
	cd = cd_new();
	h = crypt_rn(s, salt, cd, (int)sizeof(*cd));
	if (h == NULL || h[0] == '*')
		*error_r = "crypt failed";
	else if (buf_try_puts(out, h) == -1)
		*error_r = "hash does not fit";
	else
		r = 0;
	cd_free(&cd);
	pw_free(&s);
	return r;
}

int
passwd_verify(const char *pw, size_t pwlen, const char *hash)
{
	struct crypt_data *cd;
	const char *h;
	size_t hlen;
	char *s;
	int r;

	if (hash == NULL)
		return -1;
	hlen = strnlen(hash, CRYPT_OUTPUT_SIZE);
	/*
	 * "!" and "*" lock an account (shadow(5)); crypt's own failure
	 * tokens also start with "*".  Only the modular "$id$" form is
	 * taken: traditional DES (which reads 8 bytes of the password) and
	 * its BSDi variant are refused, and so is anything not a hash.
	 */
	if (hlen < 2 || hlen == CRYPT_OUTPUT_SIZE || hash[0] != '$')
		return -1;
	if ((s = pw_cstr(pw, pwlen)) == NULL)
		return 0;
	cd = cd_new();
	h = crypt_rn(s, hash, cd, (int)sizeof(*cd));
	/* crypt(pw, hash) gives back a string as long as hash whatever pw
	 * is: a different length means a setting without its checksum, or a
	 * cut or padded hash, that no password can match. */
	if (h == NULL || h[0] == '*' || strlen(h) != hlen)
		r = -1;
	else
		r = ct_equal(h, hash, hlen);
	cd_free(&cd);
	pw_free(&s);
	return r;
}

static int
hmac_sha256(const unsigned char *key, size_t keylen, const void *data,
    size_t len, unsigned char out[SCRAM_KEYLEN])
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out,
	    &outlen) == NULL || outlen != SCRAM_KEYLEN)
		return -1;
	return 0;
}

static int
sha256(const void *data, size_t len, unsigned char out[SCRAM_KEYLEN])
{
	unsigned int outlen = 0;

	if (EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL) != 1 ||
	    outlen != SCRAM_KEYLEN)
		return -1;
	return 0;
}

/*
 * RFC 5802 section 3:
 *	SaltedPassword  := Hi(Normalize(password), salt, i)
 *	ClientKey       := HMAC(SaltedPassword, "Client Key")
 *	StoredKey       := H(ClientKey)
 *	ServerKey       := HMAC(SaltedPassword, "Server Key")
 * Hi() is PBKDF2 with HMAC as the PRF; H and HMAC use SHA-256 (RFC 7677).
 * Normalize() is the identity here: see the note at the top.
 */
int
scram_keys_derive(const char *pw, size_t pwlen, const unsigned char *salt,
    size_t saltlen, uint32_t iter, struct scram_keys *k)
{
	unsigned char salted[SCRAM_KEYLEN], ckey[SCRAM_KEYLEN];
	int r = -1;

	if (pw == NULL || pwlen == 0 || pwlen > PASSWD_MAX ||
	    memchr(pw, '\0', pwlen) != NULL || iter < 1 ||
	    iter > SCRAM_ITER_MAX)
		return -1;
	if (salt == NULL) {
		k->saltlen = SCRAM_SALTLEN;
		rand_bytes(k->salt, SCRAM_SALTLEN);
	} else {
		if (saltlen == 0 || saltlen > sizeof(k->salt))
			return -1;
		memcpy(k->salt, salt, saltlen);
		k->saltlen = saltlen;
	}
	k->iter = iter;
	if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, k->salt, (int)k->saltlen,
	    (int)iter, EVP_sha256(), sizeof(salted), salted) != 1)
		goto out;
	if (hmac_sha256(salted, sizeof(salted), "Client Key", 10, ckey) == -1 ||
	    sha256(ckey, sizeof(ckey), k->stored) == -1 ||
	    hmac_sha256(salted, sizeof(salted), "Server Key", 10,
	    k->server) == -1)
		goto out;
	r = 0;
out:
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(ckey, sizeof(ckey));
	if (r == -1)
		explicit_bzero(k, sizeof(*k));
	return r;
}

/* RFC 5803 section 3.  A buffer too small for some 200 bytes is a bug
 * in the caller: exit, as base64_encode does. */
void
scram_keys_format(const struct scram_keys *k, struct buf *out)
{
	if (buf_try_printf(out, "%s%u:", SCRAM_PREFIX, (unsigned)k->iter) == -1)
		log_fatal("scram_keys_format: buffer limit");
	base64_encode(out, k->salt, k->saltlen);
	if (buf_try_putc(out, '$') == -1)
		log_fatal("scram_keys_format: buffer limit");
	base64_encode(out, k->stored, sizeof(k->stored));
	if (buf_try_putc(out, ':') == -1)
		log_fatal("scram_keys_format: buffer limit");
	base64_encode(out, k->server, sizeof(k->server));
}

/* Decode base64 v into dst, which must come out between min and max
 * bytes long.  Returns the length, or -1. */
static int
b64_field(struct sv v, unsigned char *dst, size_t min, size_t max)
{
	struct buf b;
	int r = -1;

	/* 4 characters per 3 bytes, rounded up: refuse early what cannot
	 * fit, so the decoder never works on unbounded input. */
	if (v.n == 0 || v.n > (max + 2) / 3 * 4)
		return -1;
	buf_init(&b, max);
	if (base64_decode(&b, v.p, v.n) == 0 && b.len >= min &&
	    b.len <= max) {
		memcpy(dst, b.data, b.len);
		r = (int)b.len;
	}
	buf_free(&b);
	return r;
}

/*
 * RFC 5803 section 3:
 *	SCRAM-SHA-256$<iteration count>:<base64 salt>$
 *	    <base64 StoredKey>:<base64 ServerKey>
 * (one line, no space).
 */
int
scram_keys_parse(struct sv v, struct scram_keys *k)
{
	struct sv it, salt, stored;
	uint64_t n;
	int len;

	explicit_bzero(k, sizeof(*k));
	if (v.n < sizeof(SCRAM_PREFIX) - 1 ||
	    memcmp(v.p, SCRAM_PREFIX, sizeof(SCRAM_PREFIX) - 1) != 0)
		return -1;
	v.p += sizeof(SCRAM_PREFIX) - 1;
	v.n -= sizeof(SCRAM_PREFIX) - 1;
	if (sv_split(&v, ':', &it) != 1 || sv_split(&v, '$', &salt) != 1 ||
	    sv_split(&v, ':', &stored) != 1)
		goto bad;
	/* No leading zero: one spelling per number. */
	if (it.n == 0 || it.p[0] == '0' ||
	    parse_u64(it, SCRAM_ITER_MAX, &n) == -1 || n < SCRAM_ITER_MIN)
		goto bad;
	k->iter = (uint32_t)n;
	if ((len = b64_field(salt, k->salt, 1, sizeof(k->salt))) == -1)
		goto bad;
	k->saltlen = (size_t)len;
	/* What is left (v) is the ServerKey: a stray ':' or '$' makes it
	 * invalid base64. */
	if (b64_field(stored, k->stored, SCRAM_KEYLEN, SCRAM_KEYLEN) == -1 ||
	    b64_field(v, k->server, SCRAM_KEYLEN, SCRAM_KEYLEN) == -1)
		goto bad;
	return 0;
bad:
	explicit_bzero(k, sizeof(*k));
	return -1;
}
