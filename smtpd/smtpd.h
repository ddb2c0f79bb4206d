/*
 * smtpd.h: what the parts of smtpd(8) share.
 */
#ifndef SMTPD_H
#define SMTPD_H

#include <stdint.h>

#include "chapar/buf.h"
#include "chapar/config.h"
#include "chapar/queue.h"
#include "chapar/smtp.h"
#include "chapar/worker.h"

struct io;

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
	int timeout_ms;		/* smtpd_timeout */
	uint64_t min_rate;	/* smtpd_min_data_rate, bytes a second */
	uint64_t future_max;	/* FUTURERELEASE (RFC 4865): 0, or seconds */
	/* the transaction */
	int mail;
	struct buf sender;	/* "" for <> */
	int smtputf8, body8bit;
	struct buf env;		/* the envelope text (chapar-queue(5)) */
	struct buf rcpt_lines;
	uint64_t nrcpt;
	struct buf first_rcpt;	/* for the Received "for" clause */
	/* what filters said (smtp_filter.c) */
	struct buf tags;	/* header lines, policy stage: on top */
	struct buf content_tags;	/* content stage: into the envelope */
	struct buf quarantine;	/* the reason, or "" */
	int quarantine_in_env;	/* already in the envelope sent */
	struct msgin *in;	/* the message of DATA or BDAT, while open */
	char id[QUEUE_ID_MAX];
};

void smtp_reply(struct smtp *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void smtp_reset(struct smtp *);
void smtp_session(struct worker_conn *);

/* smtpd_data.c */

/* A message on its way in, from DATA or the first BDAT to the end. */
struct msgin {
	struct smtp_data codec;
	struct buf head;	/* the header, gathered up to its blank line */
	struct buf out;		/* decoded bytes not sent yet */
	int head_done;
	unsigned received;	/* Received fields in the header */
	int msgid, date;	/* the header has them */
	const char *why;	/* the reply that refuses it, or NULL */
	int lost;		/* enqueue or a filter failed */
	int closed;		/* committed or abandoned with enqueue */
	uint64_t deadline;	/* ms: smtpd_timeout and the data rate */
};

void smtp_data(struct smtp *);
void smtp_bdat(struct smtp *, struct sv args);
void smtp_data_reset(struct smtp *);

/* smtp_filter.c (chapar-filter(7)) */
void smtp_filters_connect(struct config *, const char *svc, int wait_ms);
int smtp_filters_content(void);
int smtp_filter_rcpt(struct smtp *, const char *rcpt, char *reply,
    size_t len);
void smtp_filter_data_begin(struct smtp *);
void smtp_filter_data_write(const void *, size_t);
void smtp_filter_data_abort(void);
int smtp_filter_data_end(struct smtp *, struct buf *fields, char *reply,
    size_t len);

/* smtp_session.c: may the logged-in user use this address? */
int smtp_owns(struct smtp *, const char *address);

/* smtp_auth.c */
void smtp_auth(struct smtp *, struct sv args);
int smtp_auth_offered(const struct smtp *);

#endif
