/*
 * local.h: what the parts of local(8) share.
 *
 * deliver: putting one message into local users' stores -- the part of
 * local(8) that LMTP and the command-line LDA share (and, later, the
 * queue manager through LMTP).
 *
 * A recipient address is resolved by authd (aliases, catch-alls,
 * sub-addresses) to local users; each user's mail directory is opened
 * safely, the quota checked, Return-Path and Delivered-To added, and the
 * message written through the store (fsync'd before the result is OK).
 * Results are per recipient, as an SMTP/LMTP reply: code, enhanced status
 * code (RFC 3463) and text.
 */
#ifndef LOCAL_H
#define LOCAL_H

#include <stdint.h>

#include "chapar/buf.h"
#include "chapar/config.h"

struct authc;

struct dlv_ctx {
	struct config *cf;
	const char *mail_root;	/* mail_dir, or "/" when chrooted into it */
	/* authd: a connection made before privileges were dropped (LMTP
	 * worker), or made on demand from auth_socket (LDA) */
	struct authc *(*auth)(void);
	void (*auth_lost)(void);
	/* the connection is authd's master socket: a full mailbox is
	 * reported (FULL), so that smtpd refuses at RCPT for a while */
	int auth_master;
	/* asked to finish (under chapard); NULL: never */
	int (*quitting)(void);
};

/* One message being delivered: a copy in fd (CRLF lines), read from
 * offset 0, never changed. */
struct dlv_msg {
	int fd;
	uint64_t size;
	const char *sender;	/* the envelope sender; "" for <> */
	struct buf delivered_to; /* Delivered-To values in its header,
				 * lower-case, NUL after each */
	struct buf done;	/* users it went to already, NUL after each */
	struct buf env, bs;	/* its IMAP ENVELOPE and BODYSTRUCTURE */
	int parsed;
};

struct dlv_result {
	int code;		/* 250, 451, 452, 550, 552, 554 */
	char status[8];		/* "2.0.0" */
	char text[256];
};

/* Where a message goes for one user.  Sieve and the spam filter (later)
 * change it; by default INBOX, no flags, no keywords. */
#define DLV_KEYWORDS_MAX 16
struct dlv_plan {
	char folder[512];
	unsigned flags;		/* MF_ bits */
	const char *keywords[DLV_KEYWORDS_MAX + 1];
};

/* Read the header of the message for what delivery needs (Delivered-To
 * for loop detection) and parse it once for the IMAP cache. */
void dlv_msg_init(struct dlv_msg *, int fd, uint64_t size,
    const char *sender);
void dlv_msg_free(struct dlv_msg *);

/* At RCPT time: does the address lead to local users (250), or is it
 * unknown (550 5.1.1), elsewhere (550 5.1.2), full (452 4.2.2 or 552
 * 5.2.2), or can it not be told now (451 4.3.0)? */
void dlv_check(struct dlv_ctx *, const char *address, struct dlv_result *);

/* Deliver the message to the address: every local user it leads to. */
void dlv_deliver(struct dlv_ctx *, struct dlv_msg *, const char *address,
    struct dlv_result *);

/* Close the stores kept open between deliveries (at the end of a
 * connection, or of the program). */
void dlv_close_stores(void);

/* The exit status of the command-line LDA for a result (sysexits.h, as
 * sendmail and dovecot-lda use them). */
int dlv_exit_code(const struct dlv_result *);

/* local_lmtp.c: serve one LMTP client on fd (closed by the caller),
 * RFC 2033. */
void lmtp_serve(struct dlv_ctx *, int fd, const char *peer);

#endif
