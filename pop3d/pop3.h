/*
 * pop3.h: the POP3 server (pop3d(8)) -- RFC 1939, with RFC 2449 (CAPA,
 * response codes), RFC 2595 (STLS), RFC 3206 (SYS and AUTH codes),
 * RFC 5034 (SASL) and RFC 6856 (UTF8).
 *
 * Two processes serve a session, as Dovecot's do: the login side
 * (pop3_login.c) runs as the service user, chrooted into an empty
 * directory, and does the AUTHORIZATION state through authd; the session
 * side (pop3_session.c, -P) runs as mail_user chrooted into the user's
 * mail directory and does TRANSACTION and UPDATE on the store.
 */
#ifndef CHAPAR_POP3_H
#define CHAPAR_POP3_H

#include <stdint.h>

#include "chapar/buf.h"
#include "chapar/worker.h"

/* RFC 2449 4: a command line is at most 255 octets with its CRLF */
#define POP3_LINE_MAX 253
/* RFC 5034 4: SASL responses may be longer; like smtpd's */
#define POP3_SASL_LINE_MAX 12288
#define POP3_ERRORS_MAX 10	/* bad commands before the session ends */
#define POP3_UIDL_LEN 16

/* --- pop3_parse.c: pure functions, unit-tested and fuzzed --------------- */

/* The commands and the states they belong to (RFC 1939 4-6, RFC 2449,
 * 2595, 5034, 6856); each side of the session has a handler per id. */
enum pop3_cmd_id {
	P_CAPA, P_STLS, P_USER, P_PASS, P_AUTH, P_APOP, P_UTF8, P_QUIT,
	P_STAT, P_LIST, P_UIDL, P_RETR, P_TOP, P_DELE, P_RSET, P_NOOP,
	P_NCMDS
};
#define POP3_AUTHORIZATION 0x1
#define POP3_TRANSACTION 0x2
struct pop3_cmd {
	const char *name;
	enum pop3_cmd_id id;
	unsigned states;
};
/* The command of a verb, any case, or NULL. */
const struct pop3_cmd *pop3_cmd_lookup(struct sv verb);

/* "VERB" or "VERB args": the keyword is 3 or 4 letters (RFC 1939 3), a
 * single space before the arguments.  0, or -1. */
int pop3_split(struct sv line, struct sv *verb, struct sv *args);
/* A message number (RFC 1939 5: decimal, no sign, no leading zeros
 * needed but allowed): 1 <= n <= max.  0, or -1 (not a number) or -2
 * (out of range). */
int pop3_msgnum(struct sv arg, uint32_t max, uint32_t *n);
/* A non-negative decimal up to limit (TOP's line count). */
int pop3_number(struct sv arg, uint64_t limit, uint64_t *n);
/* The unique-id of a message: UID then UIDVALIDITY, 8 upper-case hex
 * digits each (what Dovecot's default pop3_uidl_format gives, so mail
 * moved from Dovecot with its UIDs is not downloaded twice). */
void pop3_uidl(uint32_t uid, uint32_t uidvalidity,
    char out[POP3_UIDL_LEN + 1]);

/* A message goes out as RFC 1939 3 wants (CRLF lines, dots stuffed,
 * TOP's line count) through the one stuffer of common/smtp:
 * smtp_stuff_init, smtp_stuff_top, smtp_stuff, smtp_stuff_end. */

/* --- pop3_login.c, pop3_session.c -------------------------------------- */

struct io;
/* A one-line reply, CRLF added, cut to RFC 2449's 512 octets. */
void pop3_reply(struct io *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void pop3_login(struct worker_conn *);
void pop3_session(struct worker_conn *, const struct worker_session *);

#endif
