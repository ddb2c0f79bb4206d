/*
 * smtp.h: what the parts of smtpd(8) share.
 */
#ifndef SMTP_H
#define SMTP_H

#include <stdint.h>

#include "chapar/buf.h"
#include "chapar/config.h"
#include "chapar/queue.h"
#include "chapar/worker.h"

struct io;

/* --- smtp_parse.c: command lines (no I/O) -------------------------------- */

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

/* --- the session --------------------------------------------------------- */

#define SMTP_LINE_MAX 2048	/* a command line (RFC 5321 4.5.3.1.4: 512,
				 * and room for the extensions' params) */

struct smtp {
	struct worker_conn *c;
	struct io *io;
	struct config *cf;
	const char *svc;
	char host[256];		/* our name */
	char helo[256];
	int esmtp;
	int tls;		/* TLS is on */
	char auth[512];		/* the user who authenticated, or "" */
	int trusted;		/* the client is in relay_networks */
	int errors, commands;
	/* limits, from the configuration */
	uint64_t size_limit, max_rcpt, max_errors, max_commands, max_hops;
	uint64_t max_header;
	int auth_required, bare_nl_normalize;
	/* the transaction */
	int mail;
	struct buf sender;	/* "" for <> */
	int smtputf8, body8bit, binary;
	struct buf env;		/* the envelope text (chapar-queue(5)) */
	struct buf rcpt_lines;
	uint64_t nrcpt;
	struct buf first_rcpt;	/* for the Received "for" clause */
	/* BDAT in progress */
	int bdat;
	int bdat_failed;	/* the reply to give at LAST, or 0 */
	char bdat_reply[256];
	uint64_t bdat_size;
	char id[QUEUE_ID_MAX];
};

void smtp_reply(struct smtp *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void smtp_reset(struct smtp *);
void smtp_session(struct worker_conn *);

/* smtp_data.c */
void smtp_data(struct smtp *);
void smtp_bdat(struct smtp *, struct sv args);

/* smtp_auth.c */
void smtp_auth(struct smtp *, struct sv args);
int smtp_auth_offered(const struct smtp *);

#endif
