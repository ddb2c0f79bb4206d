/*
 * dkim: DKIM signing (RFC 6376) with RSA-SHA256 and Ed25519-SHA256
 * (RFC 8463), relaxed/relaxed canonicalization.
 *
 * Keys live in dkim_dir/DOMAIN/SELECTOR.key (PEM, root's, 0600); every
 * .key file of a domain signs its mail, so an RSA and an Ed25519 key
 * side by side give two signatures.
 */
#ifndef CHAPAR_DKIM_H
#define CHAPAR_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"

struct dkim_key {
	char domain[256];
	char selector[64];
	int ed25519;		/* else RSA */
	void *pkey;		/* EVP_PKEY */
};

/* Every key under dir (missing dir: none).  0, or -1 with err. */
int dkim_keys_load(const char *dir, struct dkim_key **, size_t *n,
    struct buf *err);
void dkim_keys_free(struct dkim_key **, size_t *n);

/* DKIM-Signature fields (each "DKIM-Signature: ...\r\n") for a message
 * (CRLF lines), one per key of the domain of its From address; nothing
 * when it has no key there.  0, or -1 with err. */
int dkim_sign(const struct dkim_key *, size_t n, const char *msg,
    size_t len, int64_t now, struct buf *out, struct buf *err);

/* --- the canonicalizations (RFC 6376 3.4.2, 3.4.4), for the tests ----- */

/* A header field, folded or not, as "name:value\r\n".  0, or -1 when
 * out reached its limit. */
int dkim_canon_header(const char *field, size_t n, struct buf *out);
/* The body's relaxed form (at most twice the body, and a CRLF).  0, or
 * -1 when out reached its limit. */
int dkim_canon_body(const char *body, size_t n, struct buf *out);

/* A new key (RSA-2048 or Ed25519) in PEM into key_pem, and its DNS TXT
 * record ("v=DKIM1; k=...; p=...") into txt.  0, or -1 with err. */
int dkim_keygen(int ed25519, struct buf *key_pem, struct buf *txt,
    struct buf *err);
/* The TXT record of a loaded key. */
int dkim_txt(const struct dkim_key *, struct buf *txt);

#endif
