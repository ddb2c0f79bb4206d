/*
 * pop3_login.c: the AUTHORIZATION state (RFC 1939 4) -- CAPA, STLS,
 * USER/PASS, AUTH, UTF8, QUIT -- in the login process, which never sees
 * the store.  Passwords go to authd only; a successful login comes back
 * with a token, and the session moves to a post-login process
 * (pop3_session.c) that answers the PASS or AUTH itself once it has the
 * maildrop locked (RFC 1939 5: "+OK maildrop locked and ready").
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chapar/authc.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/sasl.h"
#include "chapar/tls.h"
#include "chapar/util.h"
#include "pop3.h"

struct login {
	struct worker_conn *c;
	struct io *io;
	struct buf user;	/* USER's argument */
	int have_user;
	int utf8;		/* RFC 6856 UTF8 given */
	int errors;
	int done;		/* QUIT, or the session went on */
};


#define reply(l, ...) pop3_reply((l)->io, __VA_ARGS__)

/* May a password be used here (TLS, or the listener allows plaintext)? */
static int
auth_allowed(const struct login *l)
{
	return io_is_tls(l->io) || config_bool(l->c->cf, l->c->service,
	    "auth_allow_plaintext");
}

/* RFC 2449 5: the capabilities in the AUTHORIZATION state. */
static void
capa(struct login *l)
{
	uint64_t delay = config_num(l->c->cf, l->c->service,
	    "pop3_login_delay");

	reply(l, "+OK capabilities follow");
	reply(l, "CAPA");
	reply(l, "TOP");
	reply(l, "UIDL");
	reply(l, "RESP-CODES");
	reply(l, "AUTH-RESP-CODE");
	reply(l, "PIPELINING");
	reply(l, "EXPIRE NEVER");
	if (delay > 0)
		reply(l, "LOGIN-DELAY %llu", (unsigned long long)delay);
	reply(l, "UTF8 USER");
	if (worker_auth() != NULL && auth_allowed(l)) {
		reply(l, "USER");
		reply(l, "SASL PLAIN LOGIN SCRAM-SHA-256");
	}
	if (!io_is_tls(l->io) && worker_tls_available())
		reply(l, "STLS");
	reply(l, "IMPLEMENTATION Chapar");
	reply(l, ".");
}

/* RFC 2595 4: STLS, then the TLS handshake; plain input pipelined after
 * the command is dropped.  0 when the session cannot go on. */
static int
stls(struct login *l)
{
	struct buf err;
	int r;

	if (io_is_tls(l->io)) {
		reply(l, "-ERR TLS is already active");
		return 1;
	}
	if (!worker_tls_available()) {
		reply(l, "-ERR [SYS/PERM] TLS is not available");
		return 1;
	}
	reply(l, "+OK begin TLS negotiation");
	if (io_flush(l->io) != IO_OK)
		return 0;
	buf_init(&err, 1024);
	r = worker_starttls(l->c, l->io, &err);
	if (r == -1)
		log_info("STLS failed: %s", buf_cstr(&err));
	buf_free(&err);
	/* RFC 2595 4: USER and UTF8 given before do not count */
	l->have_user = 0;
	l->utf8 = 0;
	return r == 0;
}

/* The login succeeded: the session goes to the post-login process, which
 * gives the +OK.  mech is for the log. */
static void
hand_over(struct login *l, struct authc_reply *rep, const char *mech)
{
	const char *tok = rec_get_str(&rep->fields, "token");
	const char *user = rec_get_str(&rep->fields, "user");
	const char *why;

	if (tok == NULL) {
		reply(l, "-ERR [SYS/TEMP] no session token; try again later");
		return;
	}
	log_info("login: %s as %s", mech, log_esc_str(user ? user : "?"));
	if (worker_handoff(l->c, l->io, tok, l->utf8 ? "utf8" : "", &why) ==
	    0) {
		l->done = 1;
		return;
	}
	log_warning("handing the session over: %s", why);
	reply(l, "-ERR [SYS/TEMP] %s; try again later", why);
}

/* The outcome of a login, for the client. */
static void
auth_result(struct login *l, int r, struct authc_reply *rep, const char *mech)
{
	switch (r) {
	case SASL_OK:
		hand_over(l, rep, mech);
		break;
	case SASL_UNAVAILABLE:
		worker_auth_lost();
		reply(l, "-ERR [SYS/TEMP] authentication is unavailable; try "
		    "again later");
		break;
	case SASL_TEMP:
		reply(l, "-ERR [SYS/TEMP] temporary authentication failure");
		break;
	case SASL_CANCEL:
		reply(l, "-ERR authentication cancelled");
		break;
	case SASL_BAD:
		reply(l, "-ERR [AUTH] the response is not base64");
		break;
	case SASL_GONE:
		l->done = 1;
		break;
	default:
		log_info("login failed: %s from %s", mech, l->c->peer);
		reply(l, "-ERR [AUTH] authentication failed");
	}
}

static int
has_8bit(struct sv s)
{
	size_t i;

	for (i = 0; i < s.n; i++)
		if ((unsigned char)s.p[i] >= 0x80)
			return 1;
	return 0;
}

/* USER name (RFC 1939 7). */
static void
user(struct login *l, struct sv arg)
{
	if (!auth_allowed(l)) {
		reply(l, "-ERR [AUTH] plaintext authentication is not allowed "
		    "without TLS (use STLS)");
		return;
	}
	if (arg.n == 0 || arg.n > 255 || (has_8bit(arg) && !l->utf8)) {
		reply(l, "-ERR %s", arg.n == 0 || arg.n > 255 ? "a user name "
		    "is needed" : "UTF8 first for a UTF-8 user name");
		return;
	}
	buf_reset(&l->user);
	buf_append(&l->user, arg.p, arg.n);
	l->have_user = 1;
	reply(l, "+OK send the password");
}

/* RFC 5034 4: a challenge is "+ " and base64 */
static int
challenge(struct io *io, const char *b64)
{
	return io_printf(io, "+ %s\r\n", b64) == IO_OK ? 0 : -1;
}

static const struct sasl_proto pop3_sasl = { challenge, NULL,
	POP3_SASL_LINE_MAX };

/* PASS password: a PLAIN exchange with authd (its initial response, so
 * no challenge ever goes to the client). */
static void
pass(struct login *l, struct sv arg)
{
	struct authc_reply rep;
	struct buf msg, b64;
	struct sv initial;
	int r;

	if (!l->have_user) {
		reply(l, "-ERR USER first");
		return;
	}
	l->have_user = 0;
	if (worker_auth() == NULL) {
		reply(l, "-ERR [SYS/TEMP] authentication is unavailable");
		return;
	}
	buf_init(&msg, 2048);
	buf_init(&b64, 4096);
	authc_reply_init(&rep);
	buf_putc(&msg, '\0');
	buf_append(&msg, l->user.data, l->user.len);
	buf_putc(&msg, '\0');
	buf_append(&msg, arg.p, arg.n);
	base64_encode(&b64, msg.data, msg.len);
	initial = buf_sv(&b64);
	r = sasl_exchange(l->io, &pop3_sasl, worker_auth(), "PLAIN", &initial,
	    "pop3", l->c->peer, AUTHC_SECURED | AUTHC_HANDOFF, &rep);
	auth_result(l, r, &rep, "USER/PASS");
	buf_free(&msg);
	buf_free(&b64);
	authc_reply_free(&rep);
}

/* AUTH mechanism [initial-response] (RFC 5034 4); a bare AUTH lists the
 * mechanisms, as clients of the old RFC 1734 expect. */
static void
auth(struct login *l, struct sv args)
{
	struct authc_reply rep;
	struct sv init = args, m;
	const char *mech;
	int r;

	if (args.n == 0) {
		reply(l, "+OK mechanisms follow");
		if (auth_allowed(l)) {
			reply(l, "PLAIN");
			reply(l, "LOGIN");
			reply(l, "SCRAM-SHA-256");
		}
		reply(l, ".");
		return;
	}
	(void)sv_split(&init, ' ', &m);
	if (!auth_allowed(l)) {
		reply(l, "-ERR [AUTH] authentication is not allowed without "
		    "TLS (use STLS)");
		return;
	}
	if ((mech = sasl_mech_name(m)) == NULL) {
		reply(l, "-ERR unknown mechanism");
		return;
	}
	if (worker_auth() == NULL) {
		reply(l, "-ERR [SYS/TEMP] authentication is unavailable");
		return;
	}
	authc_reply_init(&rep);
	r = sasl_exchange(l->io, &pop3_sasl, worker_auth(), mech, init.n > 0 ?
	    &init : NULL, "pop3", l->c->peer, AUTHC_SECURED | AUTHC_HANDOFF,
	    &rep);
	auth_result(l, r, &rep, mech);
	authc_reply_free(&rep);
}

static int
c_capa(struct login *l, struct sv args)
{
	(void)args;
	capa(l);
	return 1;
}

static int
c_stls(struct login *l, struct sv args)
{
	(void)args;
	return stls(l);
}

static int
c_user(struct login *l, struct sv args)
{
	user(l, args);
	return 1;
}

static int
c_pass(struct login *l, struct sv args)
{
	pass(l, args);
	return !l->done;
}

static int
c_auth(struct login *l, struct sv args)
{
	auth(l, args);
	return !l->done;
}

static int
c_apop(struct login *l, struct sv args)
{
	(void)args;
	reply(l, "-ERR APOP is not supported");
	return 1;
}

/* RFC 6856 2 */
static int
c_utf8(struct login *l, struct sv args)
{
	(void)args;
	l->utf8 = 1;
	reply(l, "+OK UTF8 enabled");
	return 1;
}

static int
c_quit(struct login *l, struct sv args)
{
	(void)args;
	reply(l, "+OK bye");
	return 0;
}

/* The AUTHORIZATION state's handlers (pop3_cmd_lookup has the states). */
static int (*const handlers[P_NCMDS])(struct login *, struct sv) = {
	[P_CAPA] = c_capa, [P_STLS] = c_stls, [P_USER] = c_user,
	[P_PASS] = c_pass, [P_AUTH] = c_auth, [P_APOP] = c_apop,
	[P_UTF8] = c_utf8, [P_QUIT] = c_quit,
};

/* One command; 0 when the session ends here. */
static int
command(struct login *l, struct sv line)
{
	const struct pop3_cmd *c;
	struct sv verb, args;

	if (pop3_split(line, &verb, &args) == -1) {
		reply(l, "-ERR syntax error");
		return ++l->errors < POP3_ERRORS_MAX;
	}
	if ((c = pop3_cmd_lookup(verb)) == NULL) {
		reply(l, "-ERR unknown command");
		return ++l->errors < POP3_ERRORS_MAX;
	}
	if (!(c->states & POP3_AUTHORIZATION)) {
		reply(l, "-ERR %s belongs to the TRANSACTION state: log in "
		    "first", c->name);
		return ++l->errors < POP3_ERRORS_MAX;
	}
	return handlers[c->id](l, args);
}

void
pop3_login(struct worker_conn *c)
{
	struct login l;
	struct io io;
	struct buf err;
	struct sv line;
	int r, crlf;

	memset(&l, 0, sizeof(l));
	l.c = c;
	l.io = &io;
	buf_init(&l.user, 256);
	io_init(&io, c->fd, POP3_LINE_MAX, (int)config_num(c->cf, c->service,
	    "pop3_timeout") * 1000);
	if (c->implicit_tls) {
		buf_init(&err, 1024);
		r = worker_starttls(c, &io, &err);
		if (r == -1)
			log_info("TLS handshake failed: %s", buf_cstr(&err));
		buf_free(&err);
		if (r == -1)
			goto out;
	}
	reply(&l, "+OK %s POP3 server ready", config_str(c->cf, NULL,
	    "hostname")[0] ? config_str(c->cf, NULL, "hostname") : "Chapar");
	while (!l.done && io_flush(&io) == IO_OK) {
		if (worker_quitting()) {
			reply(&l, "-ERR [SYS/TEMP] the server is shutting down");
			break;
		}
		r = io_getline(&io, &line, &crlf);
		if (r == IO_TOOLONG) {
			reply(&l, "-ERR line too long");
			if (++l.errors >= POP3_ERRORS_MAX)
				break;
			continue;
		}
		if (r != IO_OK)
			break;
		if (!command(&l, line))
			break;
	}
	if (l.errors >= POP3_ERRORS_MAX)
		reply(&l, "-ERR too many errors");
	if (!l.done || l.errors >= POP3_ERRORS_MAX)
		(void)io_flush(&io);
out:
	if (!l.done && io_is_tls(&io))
		tls_close(&io);
	buf_free(&l.user);
	io_free(&io, 0);
}
