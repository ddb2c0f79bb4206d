/*
 * sasl: the server side of SASL PLAIN (RFC 4616) and SCRAM-SHA-256
 * (RFC 5802, RFC 7677).  Pure parsers and state machines on (data, len):
 * no I/O, no database; the caller (authd) looks the user up between steps.
 * LOGIN (not a standard SASL mechanism) is a two-step exchange that
 * authd handles itself.
 */
#ifndef CHAPAR_SASL_H
#define CHAPAR_SASL_H

#include "chapar/buf.h"
#include "chapar/passwd.h"

/* RFC 4616 section 2 says a server MUST accept authzid, authcid and
 * passwd of up to 255 octets each; that is a floor, and we accept more. */
#define SASL_PLAIN_IDMAX 1024	/* authzid, authcid */
#define SASL_PLAIN_PWMAX 4096	/* passwd; past PASSWD_MAX it just fails
				 * to verify, like any wrong password */

/* RFC 4616: message = [authzid] NUL authcid NUL passwd.  The views point
 * into msg; an absent authzid gives an empty view.  authzid and authcid
 * must be valid UTF-8; passwd is left as bytes (it is only ever compared
 * with a hash).  0, or -1 with *err. */
int sasl_plain_parse(struct sv msg, struct sv *authzid, struct sv *authcid,
    struct sv *passwd, const char **error_r);

/* Longest SCRAM client message accepted, in bytes. */
#define SCRAM_MSG_MAX 4096

struct scram_server {
	int state;			/* private to sasl.c */
	struct buf gs2_header;		/* "n,," or "n,a=...," */
	struct buf client_first_bare;
	struct buf server_first;
	struct buf nonce;		/* client nonce + server nonce */
	struct buf authcid;		/* saslname decoded ("=2C" -> ",") */
	struct buf authzid;		/* decoded too; empty if absent */
	struct scram_keys keys;
};

void scram_server_init(struct scram_server *);
/* Wipes every buffer and key. */
void scram_server_free(struct scram_server *);
/* Step 1: parse client-first-message; sets authcid/authzid.  Channel
 * binding is not offered (no -PLUS yet): a "p=" header is refused, "y"
 * and "n" are accepted.  0 or -1 with *err. */
int scram_server_client_first(struct scram_server *, struct sv msg,
    const char **error_r);
/* Step 2: with the user's stored keys, build server-first-message into
 * out (appended; random server nonce).  For an unknown user the caller
 * passes keys derived from a fixed secret so that the exchange looks the
 * same.  0, or -1 if called out of order. */
int scram_server_first(struct scram_server *, const struct scram_keys *,
    struct buf *out);
/* Step 3: check client-final-message.  Returns 1 and the
 * server-final-message ("v=...") appended to out if the proof is right,
 * 0 if it is wrong, -1 with *err if the message is malformed, the nonce
 * or channel binding do not match, or the call is out of order.  The
 * exchange is over after this step whatever it returns. */
int scram_server_client_final(struct scram_server *, struct sv msg,
    struct buf *out, const char **error_r);

/* For tests and fuzzers only: between steps 1 and 2, fix the server
 * nonce (printable, no ',') instead of drawing a random one, so that
 * RFC 7677's example can be replayed byte for byte.  0 or -1. */
int scram_server_set_nonce_for_test(struct scram_server *, struct sv);

/* --- sasl_exchange.c: one exchange, any protocol ------------------------ */

struct io;
struct authc;
struct authc_reply;

/* PLAIN, LOGIN or SCRAM-SHA-256 in any case: its canonical name, or
 * NULL for a mechanism we do not offer. */
const char *sasl_mech_name(struct sv);

/* What a response reader returns. */
enum { SASL_R_OK, SASL_R_CANCEL, SASL_R_BAD, SASL_R_GONE };

/* A protocol's framing of the exchange. */
struct sasl_proto {
	/* Queue a challenge (base64 text, maybe empty): SMTP "334 x", POP3
	 * and IMAP "+ x".  0, or -1. */
	int (*challenge)(struct io *, const char *b64);
	/* Read the client's response into out, base64-decoded: SASL_R_*.
	 * NULL: one line, "*" cancels (SMTP, POP3, IMAP). */
	int (*response)(struct io *, struct buf *out);
	size_t line_max;	/* longest response line (RFC 4954 4: 12288) */
};

/* The outcome of an exchange. */
enum {
	SASL_OK,		/* rep: OK with user= (token= with handoff) */
	SASL_FAIL,		/* wrong credentials, or refused */
	SASL_TEMP,		/* authd says: try later */
	SASL_CANCEL,		/* the client sent "*" */
	SASL_BAD,		/* the client sent what is not base64 */
	SASL_GONE,		/* the client went away */
	SASL_UNAVAILABLE	/* authd went away: the caller must
				 * worker_auth_lost() */
};

/* Run the exchange of mech (a sasl_mech_name) with authd over a, for
 * the client on io: initial is the client's initial response as it
 * sent it (base64, "=" for empty; NULL for none), service, rip and flags
 * as for authc_auth.  An exchange the client abandons is cancelled with
 * authd.  Returns SASL_*; rep holds authd's last reply. */
int sasl_exchange(struct io *, const struct sasl_proto *, struct authc *,
    const char *mech, const struct sv *initial, const char *service,
    const char *rip, int flags, struct authc_reply *rep);

#endif
