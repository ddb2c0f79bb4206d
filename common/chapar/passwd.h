/*
 * passwd: password hashes and SCRAM-SHA-256 stored keys.
 *
 * New hashes are yescrypt ("$y$", libxcrypt).  Verification also accepts
 * the other schemes libxcrypt knows ($6$, $2b$, $7$) so that imported
 * users keep working.  Comparisons are constant-time.
 *
 * SCRAM keys are stored in the RFC 5803 form:
 *	SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
 */
#ifndef CHAPAR_PASSWD_H
#define CHAPAR_PASSWD_H

#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"

/* Hash a password into out ("$y$...").  0, or -1 with *err. */
int passwd_hash(const char *pw, size_t pwlen, struct buf *out,
    const char **err);
/* 1 if pw matches hash, 0 if not, -1 if the hash is unusable. */
int passwd_verify(const char *pw, size_t pwlen, const char *hash);

#define SCRAM_KEYLEN 32		/* SHA-256 */
#define SCRAM_SALTLEN 16

struct scram_keys {
	unsigned char salt[64];
	size_t saltlen;
	uint32_t iter;
	unsigned char stored[SCRAM_KEYLEN];
	unsigned char server[SCRAM_KEYLEN];
};

/* Derive keys from a password (RFC 5802 section 3) with a fresh random
 * salt (salt == NULL) or the given one. */
int scram_keys_derive(const char *pw, size_t pwlen, const unsigned char *salt,
    size_t saltlen, uint32_t iter, struct scram_keys *);
void scram_keys_format(const struct scram_keys *, struct buf *out);
int scram_keys_parse(struct sv, struct scram_keys *);

#endif
