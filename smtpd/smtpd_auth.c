/*
 * smtpd_auth.c: AUTH (RFC 4954) through authd -- PLAIN, LOGIN and
 * SCRAM-SHA-256, with an initial response or without, over the shared
 * SASL exchange (common/auth/sasl_exchange.c; SCRAM's server signature
 * goes as a last 334, RFC 4954 4).  Only authd sees a password.  A wrong
 * password and an unknown user get the same reply, and authd slows and
 * counts failures per address and per account.
 */
#include <string.h>

#include "chapar/authc.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/sasl.h"
#include "chapar/util.h"
#include "smtpd.h"

#define SASL_LINE_MAX 12288	/* RFC 4954 4: at least 12288 octets */

int
smtp_auth_offered(const struct smtp *s)
{
	return worker_auth() != NULL && (s->tls ||
	    config_bool(s->cf, s->c->service, "auth_allow_plaintext"));
}

/* RFC 4954 4: a challenge is "334 " and base64 */
static int
challenge(struct io *io, const char *b64)
{
	return io_printf(io, "334 %s\r\n", b64) == IO_OK ? 0 : -1;
}

static const struct sasl_proto smtp_sasl = { challenge, NULL,
	SASL_LINE_MAX };

void
smtp_auth(struct smtp *s, struct sv args)
{
	struct authc_reply rep;
	struct sv init = args, m;
	const char *mech, *user;
	int r;

	if (!s->esmtp) {
		smtp_reply(s, "503 5.5.1 say EHLO first");
		return;
	}
	if (s->auth[0] != '\0') {
		smtp_reply(s, "503 5.5.1 already authenticated");
		return;
	}
	if (s->mail) {
		smtp_reply(s, "503 5.5.1 not inside a transaction");
		return;
	}
	if (!smtp_auth_offered(s)) {
		smtp_reply(s, worker_auth() == NULL ? "454 4.7.0 "
		    "authentication unavailable" : "538 5.7.11 encryption "
		    "required for authentication");
		return;
	}
	(void)sv_split(&init, ' ', &m);	/* init: what follows */
	if ((mech = sasl_mech_name(m)) == NULL) {
		smtp_reply(s, "504 5.5.4 unknown mechanism");
		return;
	}
	authc_reply_init(&rep);
	r = sasl_exchange(s->io, &smtp_sasl, worker_auth(), mech,
	    init.n > 0 ? &init : NULL, "smtp", s->c->peer, s->tls ?
	    AUTHC_SECURED : 0, &rep);
	switch (r) {
	case SASL_OK:
		if ((user = rec_get_str(&rep.fields, "user")) == NULL ||
		    strlen(user) >= sizeof(s->auth)) {
			smtp_reply(s, "454 4.7.0 temporary authentication "
			    "failure");
			break;
		}
		(void)xsnprintf(s->auth, sizeof(s->auth), "%s", user);
		worker_report_user(user);
		log_info("auth: %s as %s", mech, log_esc_str(user));
		smtp_reply(s, "235 2.7.0 authenticated");
		break;
	case SASL_TEMP:
		smtp_reply(s, "454 4.7.0 temporary authentication failure");
		break;
	case SASL_CANCEL:
		smtp_reply(s, "501 5.0.0 authentication cancelled");
		break;
	case SASL_BAD:
		smtp_reply(s, "501 5.5.2 bad base64");
		break;
	case SASL_GONE:
		s->errors = (int)s->max_errors;	/* the session is over */
		break;
	case SASL_UNAVAILABLE:
		worker_auth_lost();
		smtp_reply(s, "454 4.7.0 authentication unavailable; try later");
		break;
	default:
		log_info("auth failed: %s from %s", mech, s->c->peer);
		smtp_reply(s, "535 5.7.8 authentication credentials invalid");
	}
	authc_reply_free(&rep);
}
