/*
 * mime_int.h: what the mime*.c files share and nobody else sees.
 */
#ifndef CHAPAR_MIME_INT_H
#define CHAPAR_MIME_INT_H

#include <stddef.h>

#include "chapar/buf.h"
#include "chapar/mime.h"

/* One header field: offsets into the message.  The value runs from just
 * after the colon to the end of its last line, without the line end; it
 * may hold folds (RFC 5322 2.2.3). */
struct mime_field {
	size_t off;		/* start of the field name */
	size_t name_len;	/* without trailing blanks before the colon */
	size_t val_off, val_len;
	size_t end;		/* after its last line end */
};

/* mime.c */
/* The next field of a header block in [*pos, end).  1: a field, *pos
 * after it; 0: the end of the block (the blank line or the data), *pos
 * after the blank line; -1: a line that is no field (RFC 5322 2.2 wants a
 * colon), *pos at its start. */
int mime_hdr_next(const char *, size_t *pos, size_t end, struct mime_field *);
/* Unfold a value: drop CR, LF and NUL, trim blanks at both ends. */
int mime_unfold(const char *, size_t, struct buf *out);

/* mime_field.c: Content-Type and Content-Disposition (RFC 2045 5.1,
 * RFC 2183, RFC 2231).  Each returns 0, or -1 when the value has no
 * valid type (the caller then uses the default, RFC 2045 5.2); *broken is
 * set when parameters were dropped. */
int mime_ctype_parse(const char *, size_t, char **type, char **subtype,
    struct mime_param **, size_t *, int *broken);
int mime_cdisp_parse(const char *, size_t, char **disp,
    struct mime_param **, size_t *, int *broken);
void mime_params_free(struct mime_param **, size_t *);
/* Skip blanks, line ends and RFC 5322 3.2.2 comments from *i. */
void mime_skip_cfws(const char *, size_t, size_t *i);

/* mime_decode.c */
/* %XX decoding of RFC 2231 4; a bad escape is kept as it is. */
int mime_pct_decode(const char *, size_t, struct buf *out);
/* Bytes of an unknown charset: UTF-8 kept, other bytes as windows-1252. */
int mime_raw_to_utf8(const char *, size_t, struct buf *out);

#endif
