/*
 * mime: RFC 5322 messages and RFC 2045-2049 MIME structure.
 *
 * The parser takes a whole message as (data, len) -- a mapped file or a
 * buffer -- and builds a tree of parts holding offsets into it; it never
 * copies bodies and never rejects input: malformed messages are read the
 * way major clients read them (a missing boundary ends at the end of the
 * parent, a header without a colon ends the header, bare LF works like
 * CRLF, 8-bit bytes in headers are taken as UTF-8 when they are UTF-8).
 * Every limit (depth, parts, header size, line length) is explicit, and
 * hitting one degrades gracefully (the rest becomes an opaque body).
 *
 * From the tree come the IMAP views (RFC 3501 section 7.4.2, RFC 9051):
 * ENVELOPE, BODY and BODYSTRUCTURE, and the byte ranges of any section
 * ("1.2", "1.2.MIME", "2.HEADER", "TEXT", ...) for FETCH BODY[...] and
 * BINARY[...]; and decoders for what search and display need: RFC 2047
 * encoded words, RFC 2231 parameters, quoted-printable and base64,
 * charsets to UTF-8 with iconv.
 */
#ifndef CHAPAR_MIME_H
#define CHAPAR_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"

#define MIME_MAX_DEPTH 32	/* nesting of multiparts and message/rfc822 */
#define MIME_MAX_PARTS 10000	/* parts in one message */
#define MIME_MAX_HEADER (1024 * 1024)	/* bytes of one header block */

/* A byte range in the message. */
struct mime_range {
	size_t off, len;
};

struct mime_param {
	char *name;		/* lower case */
	char *value;		/* decoded (RFC 2231 joined, to UTF-8) */
};

struct mime_part {
	struct mime_range header;	/* the header block, with its blank
					 * line */
	struct mime_range body;		/* after the blank line */
	struct mime_range whole;	/* header + body */
	char *type, *subtype;		/* lower case; defaults per RFC 2045
					 * 5.2 (text/plain, or message/rfc822
					 * inside multipart/digest) */
	struct mime_param *params;	/* Content-Type parameters */
	size_t nparams;
	char *id, *description;		/* Content-ID, Content-Description */
	char *encoding;			/* Content-Transfer-Encoding, lower
					 * case; NULL if absent (7bit) */
	char *disposition;		/* lower case, NULL if absent */
	struct mime_param *dparams;	/* its parameters */
	size_t ndparams;
	char *md5;			/* Content-MD5 */
	char *language;			/* Content-Language, raw */
	char *location;			/* Content-Location */
	size_t lines;			/* body lines (text/ and message/rfc822) */
	struct mime_part *parent;
	struct mime_part **children;	/* multipart: its parts; message/rfc822:
					 * one child, the embedded message */
	size_t nchildren;
	int broken;			/* a limit or malformation was met */
};

struct mime_msg {
	const char *data;	/* not owned */
	size_t len;
	struct mime_part *root;
	size_t nparts;
};

/* Parse a message.  Never fails on content (only on allocation, which
 * exits); returns the tree. */
struct mime_msg *mime_parse(const char *data, size_t len);
void mime_free(struct mime_msg **);

/* A header field of a part: the first one named name (case-insensitive),
 * unfolded, with its value trimmed; NULL if absent.  All of them with
 * mime_header_all (out gets each value, NUL-separated count returned). */
int mime_header_get(const struct mime_msg *, const struct mime_part *,
    const char *name, struct buf *out);

/* The IMAP strings (RFC 3501 7.4.2 / RFC 9051 7.5.2), appended to out.
 * ENVELOPE of the top-level message (or of a message/rfc822 part's
 * embedded message). */
void mime_envelope(const struct mime_msg *, const struct mime_part *msg,
    struct buf *out);
void mime_bodystructure(const struct mime_msg *, int extended,
    struct buf *out);

/* Resolve an IMAP section spec ("", "1", "1.2", "1.2.MIME", "HEADER",
 * "TEXT", "2.HEADER", "2.TEXT", "HEADER.FIELDS (...)" is left to the
 * caller: this gives the part and which range).  Returns 0 and the byte
 * range, or -1 if the section does not exist (RFC 3501 6.4.5: then the
 * result is empty). */
int mime_section(const struct mime_msg *, const char *spec, size_t speclen,
    struct mime_range *out);
/* The part a numeric section ("1.2") names, or NULL. */
const struct mime_part *mime_part_at(const struct mime_msg *, const char *spec,
    size_t speclen);

/* Decoders.  Each appends to out and returns 0, or -1 when the input is
 * so broken that nothing useful came out (out then has what could be
 * decoded). */
int mime_decode_qp(const char *, size_t, struct buf *out);
int mime_decode_base64(const char *, size_t, struct buf *out);
/* A part's body after its Content-Transfer-Encoding (BINARY[] of RFC
 * 3516); -1 for an unknown encoding. */
int mime_decode_body(const struct mime_msg *, const struct mime_part *,
    struct buf *out);
/* Text in charset to UTF-8 (iconv; unknown charsets are taken as UTF-8
 * if valid, else Latin-1; invalid sequences become U+FFFD). */
int mime_to_utf8(const char *charset, const char *, size_t, struct buf *out);
/* An unstructured header value with RFC 2047 encoded words decoded to
 * UTF-8 (and 8-bit raw text kept when it is valid UTF-8). */
int mime_decode_header(const char *, size_t, struct buf *out);

#endif
