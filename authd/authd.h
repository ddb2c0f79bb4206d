/*
 * authd: the only process that reads password hashes (DESIGN.md 2).
 */
#ifndef AUTHD_H
#define AUTHD_H

#include <signal.h>
#include <stdint.h>

#include "chapar/buf.h"
#include "chapar/config.h"
#include "chapar/rec.h"
#include "chapar/sasl.h"
#include "chapar/userdb.h"

#define AUTHD_MAX_SESSIONS 64		/* SASL exchanges per connection */
#define AUTHD_IN_MAX (4 * 16384)
#define AUTHD_MAX_WORKERS 256

struct conn;

/* One SASL exchange in progress. */
struct session {
	unsigned long id;
	int mech;		/* MECH_ */
	int step;
	uint64_t started;
	struct buf service, rip;
	int secured;
	int handoff;		/* the daemon wants a login token */
	struct buf login;	/* LOGIN mechanism: the user name */
	struct buf user;	/* user key once known */
	int pending;		/* a hash worker is checking its password */
	int cancelled;		/* ... and the client gave up: drop the answer */
	int known;		/* the user exists (SCRAM) */
	int nokeys;		/* ... but has no usable SCRAM keys */
	struct scram_server scram;
	struct session *next;
};

enum { MECH_PLAIN, MECH_LOGIN, MECH_SCRAM };

struct authd {
	struct config *cf;
	struct userdb *udb;
	unsigned char secret[32];	/* per-run: fake SCRAM salts */
	char *dummy_hash;		/* timing for unknown users */
	uint64_t session_timeout;	/* ms an exchange waits for a CONT */
	uint64_t conns;
};

extern struct authd authd;

/* server.c: queue a reply line "VERB<TAB>id[<TAB>positional][<TAB>fields]",
 * sent after delay_ms. */
void conn_send(struct conn *, uint64_t delay_ms, const char *verb,
    unsigned long id, const char *positional, const struct rec *fields);
void serve(int listen_fd, int master_fd);
/* The pieces of serve's loop for one connection (tests/fuzz/fuzz_authd.c
 * drives them without a loop): a new connection on a non-blocking fd,
 * bytes read from it, a write of queued replies, the timers at now (ms),
 * closing it; conns_reap frees closed connections no job refers to. */
struct conn *conn_open(int fd, int master);
void conn_input(struct conn *, const char *, size_t);
void conn_write(struct conn *);
void conn_tick(struct conn *, uint64_t now);
void conn_shut(struct conn *);
void conns_reap(void);
/* A connection referenced by a pending job stays allocated (though maybe
 * closed) until the last conn_unref. */
void conn_ref(struct conn *);
void conn_unref(struct conn *);
int conn_alive(const struct conn *);
/* Unlink and return the session with that id (NULL if none). */
struct session *conn_take_session(struct conn *, unsigned long id);

/* worker.c: hash checks in child processes */
struct pollfd;
void workers_start(int n);
#define WORKER_DIED (-2)
#define WORKER_NONE (-3)
void workers_submit(const char *pw, size_t pwlen, const char *hash,
    void (*done)(void *, int), void *arg);
void workers_dispatch(void);
uint64_t workers_deadline(void);
size_t workers_pollfds(struct pollfd *);
void workers_handle(const struct pollfd *);
void workers_stop(void);
extern volatile sig_atomic_t authd_quit;

/* mech.c */
int mech_lookup(struct sv name);
const char *mech_name(int);
/* Both return MECH_DONE when the exchange is over (the session can go),
 * MECH_MORE when a CONT was sent and a response is awaited, MECH_PENDING
 * when a hash worker checks the password: the session stays in the
 * connection's list, marked pending, until the answer takes it out. */
#define MECH_MORE 0
#define MECH_DONE 1
#define MECH_PENDING 2
int mech_start(struct conn *, struct session *, const struct sv *initial);
int mech_continue(struct conn *, struct session *, struct sv response);
void session_free(struct session *);
int login_key(const char *name, struct buf *key);

/* token.c: one-time login tokens for the post-login hand-over */
void token_issue(const struct rec *info, char out[33]);
int token_redeem(struct sv id, struct rec *out);

/* penalty.c: the failed-login policy.  rip may be "" (no address), user
 * NULL or "" (not known, or not valid). */
void penalty_init(void);
/* 1 if a login from rip to user must be refused without a check. */
int penalty_refused(const char *rip, const char *user);
/* Count a failure; returns the higher of the address's and the account's
 * counts, which decides the delay of the reply. */
unsigned penalty_failed(const char *rip, const char *user);
void penalty_succeeded(const char *rip, const char *user);
size_t penalty_entries(void);

#endif
