/*
 * smtp: the syntax of SMTP (RFC 5321) and its extensions, shared by
 * smtpd(8), local(8)'s LMTP server, sendmail(1)'s -bs, remote(8) and
 * qmgr(8): command lines, parameters, replies, EHLO keywords.  No I/O:
 * every function takes (data, len) and can be fed hostile bytes.
 */
#ifndef CHAPAR_SMTP_H
#define CHAPAR_SMTP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"

struct io;

/* --- smtp_parse.c: command lines ------------------------------------------ */

/* "VERB args": the verb (letters only) and the rest after one space. */
int smtp_split(struct sv line, struct sv *verb, struct sv *args);
/* "FROM:<path> params" (prefix "FROM:" or "TO:", any case; blanks after
 * the colon are allowed, as clients send them): the path with its
 * angle brackets and the parameter text.  0, or -1 with *why. */
int smtp_path_args(struct sv args, const char *prefix, struct sv *path,
    struct sv *params, const char **error_r);
/* The next "KEY[=VALUE]" of params (RFC 5321 4.1.2 esmtp-param): 1, or 0
 * at the end, -1 when malformed. */
int smtp_param_next(struct sv *params, struct sv *key, struct sv *value);
/* RFC 3461 4 xtext: "+XX" hex escapes; -1 if malformed or if it
 * encodes anything but printable US-ASCII and space. */
int xtext_decode(struct sv, struct buf *out);
/* The other way (RFC 3461 4): "+", "=", blanks and what is not
 * printable ASCII as "+XX"; at most 3 bytes a byte appended to out. */
void xtext_encode(struct sv, struct buf *out);
/* The argument of HELO or EHLO (RFC 5321 4.1.1.1: a domain or an
 * address literal): one word, no blanks or control characters (UTF-8
 * is let through for SMTPUTF8 clients that send a U-label). */
int smtp_helo_ok(struct sv name);
/* The text of a non-SMTP client: an HTTP request line or a header field
 * ("Host: x") where a command should be. */
int smtp_not_smtp(struct sv line);
/* An SMTP reply a filter may give: "CODE X.Y.Z text" on one line, the
 * code's and the status's class both cls ('4' or '5'), RFC 5321 4.2 and
 * RFC 3463 2. */
int smtp_reply_ok(struct sv reply, char cls);
/* One line of a server's reply (RFC 5321 4.2), "CODE", "CODE text" or
 * "CODE-text": the code, whether more lines follow, the text.  0, or -1
 * if malformed. */
int smtp_reply_line(struct sv line, int *code, int *more, struct sv *text);
/* What a server's EHLO reply offers: each line after the first is a
 * keyword and its parameters (RFC 5321 4.1.1.1). */
struct smtp_caps {
	int pipelining, eightbit, smtputf8, dsn, starttls, auth_plain, size;
	uint64_t size_max;	/* 0: no limit given */
};
void smtp_caps_line(struct sv text, struct smtp_caps *);
/* RFC 3339 date-time (RFC 4865 HOLDUNTIL) to seconds since the epoch. */
int smtp_rfc3339_parse(struct sv, int64_t *);
/* smtpd_sender_grants entries "LOGIN:PATTERN": may login send as
 * address?  PATTERN is an address, "*@domain" or "*". */
int smtp_grant_match(const char *const *grants, size_t n, const char *login,
    const char *address);

/* --- smtp_reply.c: replies ---------------------------------------------- */

/* One reply line, "CODE X.Y.Z text" or "CODE-text", queued on io with
 * its CRLF: cut to 512 octets, control bytes made blanks.  Returns the
 * code's first digit ('2' ... '5'). */
int smtp_replyf(struct io *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int smtp_vreplyf(struct io *, const char *fmt, va_list)
    __attribute__((format(printf, 2, 0)));
/* The same line into line[], with its CRLF and a NUL; its length. */
#define SMTP_REPLY_MAX 512
size_t smtp_reply_vformat(char line[SMTP_REPLY_MAX + 1], const char *fmt,
    va_list) __attribute__((format(printf, 2, 0)));

/* --- smtp_client.c: the client side (remote, qmgr's LMTP) ---------------- */

#define SMTP_CLIENT_LINE_MAX 2048	/* a command line we send */

/* One reply: its code, the text of its lines joined with blanks (at
 * most max bytes kept), with caps the lines after the first read as EHLO
 * keywords.  -1 when it is malformed or the connection failed. */
int smtp_client_reply(struct io *, struct buf *text, size_t max,
    struct smtp_caps *caps);
/* A command line queued with its CRLF (sent at the next flush).  0, or
 * -1 when it is too long or holds a CR or LF. */
int smtp_client_put(struct io *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int smtp_client_vput(struct io *, const char *fmt, va_list)
    __attribute__((format(printf, 2, 0)));
/* EHLO (LHLO when lmtp) with name; a 5xx to EHLO is followed by HELO.
 * The last reply's code; caps what was offered, *esmtp whether EHLO
 * (or LHLO) was taken. */
int smtp_client_hello(struct io *, int lmtp, const char *name,
    struct buf *text, size_t max, struct smtp_caps *caps, int *esmtp);

/* --- smtp_data.c: the DATA codec ----------------------------------------- */

/*
 * Message data in: DATA's dot-stuffed lines up to CRLF "." CRLF (DOT),
 * BDAT's raw chunks (RAW), or a local user's text, LF or CRLF lines
 * (TEXT, sendmail(1)).  Out: CRLF lines, dots unstuffed, no NUL.  Feed
 * any chunks; the result does not depend on how the input was cut.
 */
enum { SMTP_DATA_DOT, SMTP_DATA_RAW, SMTP_DATA_TEXT };
#define SMTP_DATA_NORMALIZE 0x1	/* bare CR and LF become CRLF (DOT, RAW) */
#define SMTP_DATA_DOT_ENDS 0x2	/* TEXT: a line "." ends (sendmail
				 * without -i) */

struct smtp_data {
	int mode, flags;
	int bol;		/* at a line start (private) */
	int dot, cr;		/* a dot, a CR waiting (private) */
	int done;		/* the end marker was found (or finished) */
	uint64_t size;		/* bytes out */
	uint64_t linelen;	/* of the current line (private) */
	uint64_t longest;	/* the longest line out, without CRLF */
	uint64_t bare_cr, bare_lf, nul;	/* what was found */
};

/* Feed at most this much at once: the output then grows by at most
 * 2 * SMTP_DATA_FEED_MAX + 2 bytes a call. */
#define SMTP_DATA_FEED_MAX 65536

void smtp_data_init(struct smtp_data *, int mode, int flags);
/* Decode up to n bytes of input, appending the message bytes to out
 * (at most 2n + 2 bytes more: out's limit must allow that).  Returns the
 * input consumed: all of it, or less when the end marker was found
 * (done); what follows the marker belongs to the protocol. */
size_t smtp_data_decode(struct smtp_data *, const char *in, size_t n,
    struct buf *out);
/* The input ended (BDAT LAST, end of file): a last line gets its CRLF
 * (at most 4 bytes more).  Not needed after the end marker. */
void smtp_data_finish(struct smtp_data *, struct buf *out);
/* The reply that refuses the message under the policy, or NULL. */
const char *smtp_data_error(const struct smtp_data *);

/* Message data out: the stored message (CRLF lines) dot-stuffed for DATA
 * (RFC 5321 4.5.2) or POP3 (RFC 1939 3); a bare CR or LF, which the
 * store never holds, still goes out as CRLF. */
struct smtp_stuff {
	int bol, cr;		/* private */
	uint64_t linelen;	/* private */
	int64_t top;		/* TOP: body lines still to send; -1: all */
	int in_body;		/* TOP: past the header */
	int done;		/* TOP: enough sent */
};

void smtp_stuff_init(struct smtp_stuff *);
/* POP3 TOP (RFC 1939 7): the header, its blank line and this many lines
 * of the body, then done. */
void smtp_stuff_top(struct smtp_stuff *, int64_t lines);
/* Append n bytes of the message, stuffed, to out (at most 2n + 2 more);
 * the bytes taken (all, unless done). */
size_t smtp_stuff(struct smtp_stuff *, const char *, size_t,
    struct buf *out);
/* A last CRLF if the message lacked it, then "." CRLF (5 bytes at most). */
void smtp_stuff_end(struct smtp_stuff *, struct buf *out);
/* The same onto a connection: the bytes stuffed and queued on io; the
 * end written and flushed.  0, or -1 when the peer is gone. */
int smtp_stuff_write(struct io *, struct smtp_stuff *, const char *, size_t);
int smtp_stuff_close(struct io *, struct smtp_stuff *);

#endif
