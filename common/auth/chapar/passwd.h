/*
 * passwd: password hashes and SCRAM-SHA-256 stored keys.
 *
 * New hashes are yescrypt ("$y$", libxcrypt).  Verification also accepts
 * the other schemes libxcrypt knows ($6$, $2b$, $7$) so that imported
 * users keep working.  Comparisons are constant-time.
 *
 * SCRAM keys are stored in the RFC 5803 form:
 *	SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
 *
 * Passwords are bytes (UTF-8 by convention).  A password must be 1 to
 * PASSWD_MAX bytes and hold no NUL: crypt(3) works on C strings, and a
 * password with a NUL could never have been hashed here.
 */
#ifndef CHAPAR_PASSWD_H
#define CHAPAR_PASSWD_H

#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"

/* Longest password accepted, in bytes: libxcrypt refuses longer ones
 * (CRYPT_MAX_PASSPHRASE_SIZE is 512 with the NUL). */
#define PASSWD_MAX 511

/* Hash a password; the hash ("$y$...") is appended to out.  An empty
 * password is refused.  0, or -1 with *err. */
int passwd_hash(const char *pw, size_t pwlen, struct buf *out,
    const char **error_r);
/* 1 if pw matches hash, 0 if not (an empty, overlong or NUL-holding
 * password never matches), -1 if the hash is unusable: NULL, empty,
 * locked ("!..." or "*..."), or refused by crypt (unknown scheme,
 * malformed).  Callers treat -1 as a failed login. */
int passwd_verify(const char *pw, size_t pwlen, const char *hash);

#define SCRAM_KEYLEN 32		/* SHA-256 */
#define SCRAM_SALTLEN 16	/* salt made by scram_keys_derive */
#define SCRAM_SALTMAX 64	/* sizeof(struct scram_keys.salt) */
#define SCRAM_ITER_MIN 4096	/* RFC 7677 section 4: at least 4096 */
#define SCRAM_ITER_MAX 10000000

struct scram_keys {
	unsigned char salt[SCRAM_SALTMAX];
	size_t saltlen;
	uint32_t iter;
	unsigned char stored[SCRAM_KEYLEN];
	unsigned char server[SCRAM_KEYLEN];
};

/* Derive keys from a password (RFC 5802 section 3) with a fresh random
 * salt of SCRAM_SALTLEN bytes (salt == NULL) or the given one (1 to
 * SCRAM_SALTMAX bytes).  iter may be 1..SCRAM_ITER_MAX here (tests and
 * fuzzers use low counts); scram_keys_parse only accepts stored keys
 * with at least SCRAM_ITER_MIN.  The password is used as given, without
 * SASLprep (RFC 4013): see passwd.c.  0, or -1 on bad arguments. */
int scram_keys_derive(const char *pw, size_t pwlen, const unsigned char *salt,
    size_t saltlen, uint32_t iter, struct scram_keys *);
/* Append the RFC 5803 form to out. */
void scram_keys_format(const struct scram_keys *, struct buf *out);
/* Parse the RFC 5803 form, strictly: iterations SCRAM_ITER_MIN to
 * SCRAM_ITER_MAX, salt 1 to SCRAM_SALTMAX bytes, keys exactly
 * SCRAM_KEYLEN bytes, canonical base64, nothing else.  0 or -1. */
int scram_keys_parse(struct sv, struct scram_keys *);

#endif
