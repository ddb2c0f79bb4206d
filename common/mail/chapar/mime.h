/*
 * mime: RFC 5322 messages and RFC 2045-2049 MIME structure.
 *
 * The parser takes a whole message as (data, len) -- a mapped file or a
 * buffer -- and builds a tree of parts holding offsets into it; it never
 * copies bodies and never rejects input: malformed messages are read the
 * way major clients read them (a missing close delimiter ends the parts
 * at the end of the parent, a line without a colon ends the header, bare
 * LF works like CRLF, 8-bit bytes in headers are taken as UTF-8 when they
 * are UTF-8, else as windows-1252).  Every limit (depth, parts, header
 * size, parameters) is explicit, and hitting one degrades gracefully (the
 * rest becomes an opaque body and the part is marked broken).  Lines have
 * no length limit: nothing is copied line by line.
 *
 * From the tree come the IMAP views (RFC 3501 section 7.4.2, RFC 9051
 * section 7.5.2): ENVELOPE, BODY and BODYSTRUCTURE, and the byte ranges
 * of any section ("1.2", "1.2.MIME", "2.HEADER", "TEXT", ...) for FETCH
 * BODY[...] and BINARY[...]; and decoders for what search and display
 * need: RFC 2047 encoded words, RFC 2231 parameters, quoted-printable and
 * base64, charsets to UTF-8 with iconv.
 *
 * Sizes and line counts are of the bytes as stored (a bare-LF message
 * has LF-only sizes); a line is counted per LF, as Dovecot counts them.
 */
#ifndef CHAPAR_MIME_H
#define CHAPAR_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"

#define MIME_MAX_DEPTH 32	/* nesting of multiparts and message/rfc822 */
#define MIME_MAX_PARTS 10000	/* parts in one message */
#define MIME_MAX_HEADER (1024 * 1024)	/* bytes of one header block read
					 * for fields */
#define MIME_MAX_PARAMS 128	/* parameters of one Content-Type or
				 * Content-Disposition */
#define MIME_MAX_BOUNDARY 200	/* a longer boundary is not looked for
				 * (RFC 2046 5.1.1 allows 70) */

/* A byte range in the message. */
struct mime_range {
	size_t off, len;
};

struct mime_param {
	char *name;	/* lower case, without the RFC 2231 "*" and section */
	char *value;	/* decoded: RFC 2231 sections joined and %XX
			 * decoded, RFC 2047 words decoded, to UTF-8 */
	char *wire;	/* as sent, sections joined, quotes removed: what
			 * BODYSTRUCTURE shows (RFC 2231 "charset'lang'%XX"
			 * when extended) */
	int extended;	/* RFC 2231 extended value: BODYSTRUCTURE names it
			 * name "*" */
};

struct mime_part {
	struct mime_range header;	/* the header block, with its blank
					 * line when there is one */
	struct mime_range body;		/* after the blank line */
	struct mime_range whole;	/* header + body */
	char *type, *subtype;		/* lower case; defaults per RFC 2045
					 * 5.2 (text/plain, or message/rfc822
					 * inside multipart/digest, RFC 2046
					 * 5.1.5) */
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
	size_t lines;			/* body lines (text/ and message/rfc822
					 * or message/global) */
	unsigned depth;			/* 0 for the root */
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

/* 1 if the part is a multipart; 1 if it is message/rfc822 or
 * message/global (RFC 9051), whose one child is the embedded message. */
int mime_is_multipart(const struct mime_part *);
/* A "text" part (RFC 2045 5.1), or one without a Content-Type. */
int mime_is_text(const struct mime_part *);
int mime_is_message(const struct mime_part *);

/* A parameter by name (lower case), or NULL.  When both name and the
 * RFC 2231 name* are present, the RFC 2231 one wins. */
const char *mime_param_get(const struct mime_param *, size_t n,
    const char *name);

/* A header field of a part (NULL: the root): the first one named name
 * (case-insensitive), unfolded (RFC 5322 2.2.3), with its value trimmed,
 * appended to out; 0, or -1 if absent (or out is full).  mime_header_all
 * appends every such value, each followed by a NUL, and returns how many
 * it appended.
 * Only the first MIME_MAX_HEADER bytes of a header block are read. */
int mime_header_get(const struct mime_msg *, const struct mime_part *,
    const char *name, struct buf *out);
size_t mime_header_all(const struct mime_msg *, const struct mime_part *,
    const char *name, struct buf *out);

/* An 8-bit message made 7-bit (RFC 6152 3): each leaf part with 8-bit
 * bytes in its body and no other encoding becomes quoted-printable
 * (RFC 2045 6.7).  1 with the new message in out, 0 when nothing had to
 * change (out untouched), -1 when out reached its limit (out holds part
 * of it).  Quoted-printable is at most 3.2 bytes a byte, and each leaf
 * part made so gets a 45-byte header field: the new message can be far
 * more than 4 times the old when its parts are many and small. */
int mime_8to7(const char *, size_t, struct buf *out);
/* The same, and more: MIME_FIT_7BIT as mime_8to7; MIME_FIT_998 makes
 * every line at most 998 octets (RFC 5322 2.1.1): 7bit and 8bit parts
 * with longer lines become quoted-printable, base64 ones get lines of
 * 76, and what is still too long is folded before a blank, or cut with
 * CRLF SP.  1 with the new message in out, 0 when nothing changed, -1
 * when out reached its limit. */
#define MIME_FIT_7BIT 0x1
#define MIME_FIT_998 0x2
int mime_fit(const char *, size_t, int flags, struct buf *out);
/* Does a header line start the named field ("Name:" or, RFC 5322 4.5,
 * "Name :")?  The offset of its value (after the colon), or 0. */
size_t mime_field_match(struct sv line, const char *name);
/* The length of the longest line, without its line end. */
size_t mime_longest_line(const char *, size_t);
/* 0, or -1 when out reached its limit. */
int mime_qp_encode(const char *, size_t, struct buf *out);
/* Walk an address-list field value (RFC 5322 3.4, obsolete forms too):
 * fn gets the local part and domain of each mailbox that has both (raw,
 * comments and blanks dropped).  Returns how many addresses, group
 * starts and ends the list held, mailboxes or not, so a caller can tell
 * a list of plain mailboxes from one that is not. */
size_t mime_addr_each(const char *, size_t, void (*fn)(void *,
    const struct buf *mbox, const struct buf *host), void *arg);
/* The same walk with every address, as IMAP's ENVELOPE wants them
 * (RFC 3501 7.4.2): fn gets the display name, the obs-route, the
 * mailbox and the host, each NULL when absent.  A group's start has the
 * group name as mailbox and no host, its end all four NULL.  Returns the
 * number of calls. */
typedef void mime_addr_fn(void *arg, const struct buf *name,
    const struct buf *adl, const struct buf *mbox, const struct buf *host);
size_t mime_addr_walk(const char *, size_t, mime_addr_fn *, void *arg);
/* Resolve an IMAP section spec ("", "1", "1.2", "1.2.MIME", "HEADER",
 * "TEXT", "2.HEADER", "2.TEXT"; for "HEADER.FIELDS (...)" and
 * "HEADER.FIELDS.NOT (...)" this gives the header range and the caller
 * picks the fields).  Returns 0 and the byte range, or -1 if the section
 * does not exist (RFC 3501 6.4.5: then the result is empty). */
int mime_section(const struct mime_msg *, const char *spec, size_t speclen,
    struct mime_range *out);
/* The part a numeric section ("1.2") names (the root for ""), or NULL. */
const struct mime_part *mime_part_at(const struct mime_msg *, const char *spec,
    size_t speclen);

/* Decoders.  Each appends to out and returns 0, or -1 when out reached
 * its limit.  mime_decode_base64 also returns -1 when the input held
 * bytes outside the alphabet (skipped, as clients do; out has the rest). */
int mime_decode_qp(const char *, size_t, struct buf *out);
int mime_decode_base64(const char *, size_t, struct buf *out);
/* A part's body after its Content-Transfer-Encoding (BINARY[] of RFC
 * 3516): 7bit, 8bit, binary, quoted-printable, base64, x-uuencode; -1 for
 * an unknown encoding (RFC 3516 4.3: UNKNOWN-CTE).  Damaged base64 is
 * decoded leniently. */
int mime_decode_body(const struct mime_msg *, const struct mime_part *,
    struct buf *out);
/* Text in charset to UTF-8 (iconv; us-ascii and unknown charsets are
 * taken as UTF-8 if valid, else windows-1252, as is iso-8859-1 (WHATWG
 * Encoding); invalid sequences become U+FFFD).  The output is always
 * valid UTF-8. */
int mime_to_utf8(const char *charset, const char *, size_t, struct buf *out);
/* An unstructured header value with RFC 2047 encoded words decoded to
 * UTF-8 (8-bit raw text kept when it is valid UTF-8, else read as
 * windows-1252); CR, LF and NUL are dropped. */
int mime_decode_header(const char *, size_t, struct buf *out);

/* The next Content-Language tag (RFC 3282) from *i: 1 and the tag, or 0
 * at the end. */
int mime_lang_next(const char *, size_t, size_t *i, struct sv *tag);

#endif
