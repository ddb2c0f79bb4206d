/*
 * smtp: the syntax of SMTP (RFC 5321) and its extensions, shared by
 * smtpd(8), local(8)'s LMTP server, sendmail(1)'s -bs, remote(8) and
 * qmgr(8): command lines, parameters, replies, EHLO keywords.  No I/O:
 * every function takes (data, len) and can be fed hostile bytes.
 */
#ifndef CHAPAR_SMTP_H
#define CHAPAR_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"

/* --- smtp_parse.c: command lines ------------------------------------------ */

/* "VERB args": the verb (letters only) and the rest after one space. */
int smtp_split(struct sv line, struct sv *verb, struct sv *args);
/* "FROM:<path> params" (prefix "FROM:" or "TO:", any case; blanks after
 * the colon are allowed, as clients send them): the path with its
 * angle brackets and the parameter text.  0, or -1 with *why. */
int smtp_path_args(struct sv args, const char *prefix, struct sv *path,
    struct sv *params, const char **why);
/* The next "KEY[=VALUE]" of params (RFC 5321 4.1.2 esmtp-param): 1, or 0
 * at the end, -1 when malformed. */
int smtp_param_next(struct sv *params, struct sv *key, struct sv *value);
/* RFC 3461 4 xtext: "+XX" hex escapes; -1 if malformed. */
int xtext_decode(struct sv, struct buf *out);
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

#endif
