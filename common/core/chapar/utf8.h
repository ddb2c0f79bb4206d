/*
 * utf8: strict UTF-8 decoding (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF).
 */
#ifndef CHAPAR_UTF8_H
#define CHAPAR_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decode one character at p (n bytes available).  Returns its length in
 * bytes (1-4) and stores the code point, or -1 if the bytes are not
 * valid UTF-8. */
int utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
/* 1 if the whole run is valid UTF-8. */
int utf8_valid(const void *, size_t);
/* Encode a code point; returns the length (1-4) or -1 if invalid. */
int utf8_encode(uint32_t cp, unsigned char out[4]);

#endif
