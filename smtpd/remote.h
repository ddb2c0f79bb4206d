/*
 * remote.h: what the parts of remote(8) share -- the job
 * (remote_main.c), where it goes (remote_route.c), the conversation
 * (remote_smtp.c).
 */
#ifndef REMOTE_H
#define REMOTE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"
#include "chapar/io.h"
#include "chapar/queue.h"
#include "chapar/smtp.h"

struct config;
struct dns;
struct tls_client;
struct dkim_key;

#define HOSTS_MAX 16
/* A server's reply, its lines joined (reply_caps) */
#define TEXT_MAX 2048
/* What we say of a recipient: a code and a reply, or why no host took
 * the job -- some words, a relay (320) and a reply (TEXT_MAX) */
#define ANSWER_MAX (TEXT_MAX + 512)

struct remote {
	struct config *cf;
	struct dns *dns;
	struct tls_client *tls;
	struct dkim_key *keys;	/* DKIM, read before the chroot */
	size_t nkeys;
	struct buf relay_user, relay_pass;	/* relayhost_auth_file */
	char host[256];
	volatile sig_atomic_t quit;
};

extern struct remote R;

/* One recipient of the job and what became of it. */
struct rcpt {
	struct rec *r;
	int code;		/* 0: no answer yet */
	char dsn[16];
	struct buf reply;
	char relay[320];
	int peer_dsn;		/* taken by a server that does DSN */
};

struct job {
	struct queue_env env;
	const char *domain;
	char *msg;		/* the message, mapped */
	uint64_t size;		/* with the signatures */
	struct buf sigs;	/* DKIM-Signature fields, sent first */
	int relayhost;		/* going through relayhost */
	int fail_code;		/* why no host took it (job_fail) */
	struct buf fail;
	struct rcpt *rc;
	size_t n;
};

struct conv {
	struct io io;
	char relay[320];	/* host[ip]:port */
	int esmtp;
	int usable;		/* between transactions: may carry another */
	struct smtp_caps caps;	/* what EHLO offered */
	struct buf text;	/* the last reply, lines joined */
};

/*
 * The connection kept after a delivery for the next job to the same
 * destination (a domain's MX, or a configured next hop): up to
 * remote_connection_cache_time idle, remote_connection_reuse_time in all.
 */
struct kept {
	struct conv *c;
	char key[300];
	uint64_t idle_ms;	/* since when it waits */
	uint64_t opened;	/* seconds */
};
extern struct kept K;

/* remote_main.c */
void settle(struct job *, int code, const char *dsn, const char *text,
    const char *relay);

/* remote_route.c */
void deliver(struct job *);
void cache_drop(void);

/* remote_smtp.c */
int cmd(struct conv *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void conv_close(struct conv *, int quit);
int session_open(struct job *, struct conv *, const char *name);
int transaction(struct job *, struct conv *);
void tls_policy_check(void);

#endif
