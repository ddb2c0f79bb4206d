/*
 * imapfmt: the IMAP views of a parsed message (RFC 3501 7.4.2 and 9,
 * RFC 9051 7.5.2) -- strings, ENVELOPE and BODY/BODYSTRUCTURE -- that
 * the store caches at append and imapd sends.
 */
#ifndef CHAPAR_IMAPFMT_H
#define CHAPAR_IMAPFMT_H

#include <stddef.h>

#include "chapar/buf.h"
#include "chapar/mime.h"

/* An IMAP nstring (RFC 3501 9): NIL for NULL, a quoted string, or a
 * literal when the bytes hold CR, LF or 8-bit; NUL bytes are dropped.
 * 0, or -1 when out reached its limit. */
int mime_imap_nstring(struct buf *, const char *, size_t);
int mime_imap_str(struct buf *, const char *);

/* The IMAP strings (RFC 3501 7.4.2 / RFC 9051 7.5.2), appended to out;
 * 0, or -1 if out reached its limit.
 * ENVELOPE of the top-level message (msg NULL or the root, whatever its
 * type), or of the message a message/rfc822 part embeds (msg the part or
 * its child).  Strings are the raw header text, unfolded (encoded words
 * stay encoded); 8-bit text goes out as literals. */
int mime_envelope(const struct mime_msg *, const struct mime_part *msg,
    struct buf *out);
/* BODY (flags 0) or BODYSTRUCTURE (MIME_BS_EXTENDED).  With
 * MIME_BS_REV2 (an IMAP4rev2 session), message/global parts carry
 * envelope, body and lines (RFC 9051 7.5.2); without, they are basic
 * parts, since RFC 3501 9 allows that only for MESSAGE/RFC822.  Types,
 * subtypes, encodings, parameter names and disposition types are upper
 * case, as in the examples of RFC 3501 7.4.2; values are as sent. */
#define MIME_BS_EXTENDED 1
#define MIME_BS_REV2 2
int mime_bodystructure(const struct mime_msg *, int flags, struct buf *out);

#endif
