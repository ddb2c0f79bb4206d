/*
 * smtp_auth.c: AUTH (RFC 4954) through authd -- PLAIN, LOGIN and
 * SCRAM-SHA-256, with an initial response or without.  Only authd sees a
 * password; this process passes the SASL messages along.  A wrong
 * password and an unknown user get the same reply, and authd slows and
 * counts failures per address and per account.
 */
#include <string.h>

#include "chapar/authc.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/util.h"
#include "smtpd.h"

#define SASL_LINE_MAX 12288	/* RFC 4954 4: at least 12288 octets */

int
smtp_auth_offered(const struct smtp *s)
{
	return worker_auth() != NULL && (s->tls ||
	    config_bool(s->cf, s->c->service, "auth_allow_plaintext"));
}

static int
mech_ok(struct sv m)
{
	return sv_caseeq_str(m, "PLAIN") || sv_caseeq_str(m, "LOGIN") ||
	    sv_caseeq_str(m, "SCRAM-SHA-256");
}

/* The client's next SASL message: 0 with it decoded, 1 when it cancelled
 * ("*"), -1 when it sent garbage or went away. */
static int
client_response(struct smtp *s, struct buf *out)
{
	struct sv line;
	size_t keep = s->io->maxline;
	int r, crlf;

	s->io->maxline = SASL_LINE_MAX;
	r = io_getline(s->io, &line, &crlf);
	s->io->maxline = keep;
	if (r != IO_OK)
		return -1;
	if (line.n == 1 && line.p[0] == '*')
		return 1;
	buf_reset(out);
	return base64_decode(out, line.p, line.n) == 0 ? 0 : -2;
}

void
smtp_auth(struct smtp *s, struct sv args)
{
	struct authc_reply rep;
	struct buf err, msg, enc, mechname;
	struct sv init = args, mech, initial;
	const char *user;
	size_t i;
	int r, flags;

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
	(void)sv_split(&init, ' ', &mech);	/* init: what follows */
	if (!mech_ok(mech)) {
		smtp_reply(s, "504 5.5.4 unknown mechanism");
		return;
	}
	authc_reply_init(&rep);
	buf_init(&err, 1024);
	buf_init(&msg, SASL_LINE_MAX);
	buf_init(&enc, 2 * SASL_LINE_MAX);
	buf_init(&mechname, 64);
	buf_append(&mechname, mech.p, mech.n);
	for (i = 0; i < mechname.len; i++)
		if (mechname.data[i] >= 'a' && mechname.data[i] <= 'z')
			mechname.data[i] -= 32;
	if (init.n > 0 && !(init.n == 1 && init.p[0] == '=') &&
	    base64_decode(&msg, init.p, init.n) == -1) {
		smtp_reply(s, "501 5.5.2 bad base64");
		goto out;
	}
	flags = s->tls ? AUTHC_SECURED : 0;
	initial = buf_sv(&msg);
	r = authc_auth(worker_auth(), buf_cstr(&mechname), "smtp",
	    s->c->peer, flags, init.n > 0 ? &initial : NULL, &rep, &err);
	while (r == 0 && strcmp(buf_cstr(&rep.verb), "CONT") == 0) {
		buf_reset(&enc);
		base64_encode(&enc, rep.data.data, rep.data.len);
		smtp_reply(s, "334 %s", buf_cstr(&enc));
		if (io_flush(s->io) != IO_OK)
			goto out;
		switch (client_response(s, &msg)) {
		case 1:
			smtp_reply(s, "501 5.0.0 authentication cancelled");
			goto out;
		case -1:
			goto out;
		case -2:
			smtp_reply(s, "501 5.5.2 bad base64");
			goto out;
		}
		r = authc_cont(worker_auth(), buf_sv(&msg), &rep, &err);
	}
	if (r == -1) {
		worker_auth_lost();
		smtp_reply(s, "454 4.7.0 authentication unavailable; try later");
	} else if (strcmp(buf_cstr(&rep.verb), "OK") == 0 &&
	    (user = rec_get_str(&rep.fields, "user")) != NULL &&
	    strlen(user) < sizeof(s->auth)) {
		(void)xsnprintf(s->auth, sizeof(s->auth), "%s", user);
		worker_report_user(user);
		log_info("auth: %s as %s", buf_cstr(&mechname),
		    log_esc_str(user));
		smtp_reply(s, "235 2.7.0 authenticated");
	} else if (rec_get_str(&rep.fields, "temp") != NULL) {
		smtp_reply(s, "454 4.7.0 temporary authentication failure");
	} else {
		log_info("auth failed: %s from %s", buf_cstr(&mechname),
		    s->c->peer);
		smtp_reply(s, "535 5.7.8 authentication credentials invalid");
	}
out:
	authc_reply_free(&rep);
	buf_free(&err);
	buf_free(&msg);
	buf_free(&enc);
	buf_free(&mechname);
}
