/*
 * authc: the client side of the authd protocol (see authd(8)).
 *
 * One request at a time per connection; the reply is read with a timeout.
 * Lines are "VERB<TAB>id<TAB>..." with TAB-escaped fields (rec.h).
 * Every function returns 0, or -1 with a message in err; after -1 the
 * connection may be out of step and should be closed, except for the
 * errors found before anything was sent (a field too long).
 */
#ifndef CHAPAR_AUTHC_H
#define CHAPAR_AUTHC_H

#include "chapar/buf.h"
#include "chapar/rec.h"

#define AUTH_PROTO_MAJOR 1
#define AUTH_PROTO_MINOR 1
#define AUTH_LINE_MAX 16384		/* a request */
#define AUTH_REPLY_MAX (1024 * 1024)	/* a reply (1000 alias destinations) */
#define AUTH_MECH_MAX 64		/* AUTH: a longer name is unsupported */
#define AUTH_SERVICE_MAX 64		/* AUTH service= */
#define AUTH_RIP_MAX 128		/* AUTH rip= */

struct authc;

struct authc_reply {
	struct buf verb;	/* OK, FAIL, CONT, USER, RCPT, NOTFOUND, ... */
	struct buf data;	/* CONT: the decoded challenge */
	struct rec fields;	/* named fields */
};

void authc_reply_init(struct authc_reply *);
void authc_reply_free(struct authc_reply *);

int authc_connect(const char *path, int timeout_ms, struct authc **,
    struct buf *err);
void authc_close(struct authc **);

/* Start a SASL exchange: mech, the service ("imap", "smtp", ...), the
 * client address, flags, and an optional initial response (raw bytes,
 * NULL for none).  AUTHC_HANDOFF asks for a login token (OK token=) to
 * hand the session to a post-login process. */
#define AUTHC_SECURED 0x1	/* TLS, or a local connection */
#define AUTHC_HANDOFF 0x2
int authc_auth(struct authc *, const char *mech, const char *service,
    const char *rip, int flags, const struct sv *initial,
    struct authc_reply *, struct buf *err);
/* Answer a CONT: the reply to the last authc_auth or authc_cont was CONT
 * (else -1, "CONT without an exchange"). */
int authc_cont(struct authc *, struct sv response, struct authc_reply *,
    struct buf *err);
/* Give up the exchange in progress (the last reply was CONT), when the
 * client cancels it ("*") or goes away, or the exchange is left for any
 * other reason: authd forgets it at once instead of timing it out later.
 * Any other request does it too, so the next login on the connection
 * never sees the old exchange's late FAIL; calling it as soon as the
 * exchange is left frees authd's side sooner.  Nothing happens when no
 * exchange is in progress; NULL is allowed.  It sends CANCEL and reads
 * no reply; a write error shows at the next request. */
void authc_cancel(struct authc *);
/* Look up a user by login name or address: USER, NOTFOUND or FAIL. */
int authc_user(struct authc *, const char *name, struct authc_reply *,
    struct buf *err);
/* Resolve a recipient: RCPT (local=, remote=, and full= for each local
 * user whose mailbox was last found full), NOTFOUND, NOTLOCAL or FAIL. */
int authc_rcpt(struct authc *, const char *address, struct authc_reply *,
    struct buf *err);
/* Master socket only: user's mailbox was found full; RCPT replies say
 * so for seconds (0: forget it).  0, or -1. */
int authc_full(struct authc *, const char *user, uint64_t seconds,
    struct buf *err);

/* Master socket only: the session behind a login token (OK with user=,
 * home=, quota=, service=; or NOTFOUND). */
int authc_redeem(struct authc *, const char *token, struct authc_reply *,
    struct buf *err);

#endif
