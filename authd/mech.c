/*
 * mech.c: SASL mechanisms (PLAIN, LOGIN, SCRAM-SHA-256), password checks
 * and the failed-login policy.
 *
 * Everything here comes from a protocol daemon that relays a hostile
 * client's bytes, so every message is parsed by the strict parsers of
 * sasl.c and every failure takes the same path: same reply, same log line,
 * same cost whether the account exists or not.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "chapar/addr.h"
#include "chapar/dict.h"
#include "chapar/log.h"
#include "chapar/passwd.h"
#include "chapar/util.h"

static const char *const mechs[] = { "PLAIN", "LOGIN", "SCRAM-SHA-256" };

int
mech_lookup(struct sv name)
{
	size_t i;

	for (i = 0; i < NELEM(mechs); i++)
		if (sv_caseeq_str(name, mechs[i]))
			return (int)i;
	return -1;
}

const char *
mech_name(int m)
{
	return m >= 0 && (size_t)m < NELEM(mechs) ? mechs[m] : "?";
}

void
session_free(struct session *s)
{
	buf_free(&s->service);
	buf_free(&s->rip);
	buf_free(&s->login);
	buf_free(&s->user);
	scram_server_free(&s->scram);
	free(s);
}

/* Normalise a login name to a user key: add auth_default_domain to a bare
 * name, parse it as an address, fold case. */
int
login_key(const char *name, struct buf *key)
{
	const char *dom = config_str(authd.cf, "authd", "auth_default_domain");
	struct buf full;
	struct addr a;
	const char *err;
	int r;

	buf_init(&full, 1024);
	if (buf_try_puts(&full, name) == -1 ||
	    (strchr(name, '@') == NULL && dom[0] != '\0' &&
	    buf_try_printf(&full, "@%s", dom) == -1)) {
		buf_free(&full);
		return -1;
	}
	addr_init(&a);
	r = addr_parse(buf_sv(&full), ADDR_UTF8, &a, &err);
	if (r == 0) {
		buf_reset(key);
		addr_key(&a, key);
	}
	addr_free(&a);
	buf_free(&full);
	return r;
}

static void
log_result(struct session *s, const char *user, const char *result,
    const char *reason)
{
	log_info("auth: service=%s, rip=%s, mech=%s, user=%s, result=%s%s%s",
	    log_esc_str(buf_cstr(&s->service)), log_esc_str(buf_cstr(&s->rip)),
	    mech_name(s->mech), log_esc_str(user), result,
	    reason ? ", reason=" : "", reason ? reason : "");
}

/* Refuse at once when the failed-login policy says so (penalty.c).
 * Returns 1 (and replies) if refused. */
static int
penalty_refuse(struct conn *c, struct session *s, const char *user)
{
	struct rec f;

	if (!penalty_refused(buf_cstr(&s->rip), user))
		return 0;
	log_result(s, user ? user : "", "refused", "too many failures");
	rec_init(&f);
	rec_set_str(&f, "reason", "too many failed logins; try again later");
	rec_set_str(&f, "temp", "1");
	conn_send(c, 0, "FAIL", s->id, NULL, &f);
	rec_free(&f);
	return 1;
}

static void
fail(struct conn *c, struct session *s, const char *user, const char *reason,
    const char *public_reason)
{
	uint64_t after = config_num(authd.cf, "authd", "auth_fail_delay_after");
	uint64_t delay = config_num(authd.cf, "authd", "auth_fail_delay");
	unsigned n;
	struct rec f;

	n = penalty_failed(buf_cstr(&s->rip), user);
	log_result(s, user ? user : "", "fail", reason);
	rec_init(&f);
	rec_set_str(&f, "reason", public_reason);
	conn_send(c, n > after ? delay * 1000 : 0, "FAIL", s->id, NULL, &f);
	rec_free(&f);
}

static void
succeed(struct conn *c, struct session *s, const char *user,
    const struct rec *u, const struct buf *final)
{
	struct buf home, err;
	struct rec f, set;

	penalty_succeeded(buf_cstr(&s->rip), user);
	buf_init(&home, 2048);
	buf_init(&err, 1024);
	rec_init(&f);
	rec_set_str(&f, "user", user);
	if (rec_get_str(u, "home") != NULL)
		rec_set_str(&f, "home", rec_get_str(u, "home"));
	else {
		userdb_home(user, &home);
		rec_set_str(&f, "home", buf_cstr(&home));
	}
	rec_set_str(&f, "quota", rec_get_str(u, "quota") ?
	    rec_get_str(u, "quota") : "0");
	rec_set_str(&f, "service", buf_cstr(&s->service));
	if (s->handoff) {
		char tok[33];

		token_issue(&f, tok);
		rec_set_str(&f, "token", tok);
		explicit_bzero(tok, sizeof(tok));
	}
	if (final != NULL) {
		buf_reset(&home);
		base64_encode(&home, final->data, final->len);
		rec_set_str(&f, "final", buf_cstr(&home));
	}
	conn_send(c, 0, "OK", s->id, NULL, &f);
	log_result(s, user, "ok", NULL);
	rec_init(&set);
	rec_set_u64(&set, "last_login", (uint64_t)now_sec());
	if (userdb_user_update(authd.udb, user, &set, &err) != DICT_OK)
		log_warning("cannot record last login of %s: %s",
		    log_esc_str(user), buf_cstr(&err));
	rec_free(&set);
	rec_free(&f);
	buf_free(&home);
	buf_free(&err);
}

static void
tempfail(struct conn *c, struct session *s, const char *why)
{
	struct rec f;

	log_error("auth: service=%s, rip=%s: %s",
	    log_esc_str(buf_cstr(&s->service)), log_esc_str(buf_cstr(&s->rip)),
	    why);
	rec_init(&f);
	rec_set_str(&f, "reason", "temporary authentication failure");
	rec_set_str(&f, "temp", "1");
	conn_send(c, 0, "FAIL", s->id, NULL, &f);
	rec_free(&f);
}

/* Look a user up for a login.  Returns 1 if the account may log in (and
 * fills u), 0 if it does not exist or is deleted, -1 on database error. */
static int
user_for_login(const char *key, struct rec *u, struct buf *err)
{
	const char *st;
	int r;

	r = userdb_user_get(authd.udb, key, u, err);
	if (r == DICT_NOTFOUND)
		return 0;
	if (r != DICT_OK)
		return -1;
	st = rec_get_str(u, "state");
	if (st != NULL && strcmp(st, USER_DELETED) == 0)
		return 0;
	return 1;
}

static int
is_disabled(const struct rec *u)
{
	const char *st = rec_get_str(u, "state");

	return st != NULL && strcmp(st, USER_DISABLED) == 0;
}

/* A password check waiting for a hash worker.  The session stays on its
 * connection (marked pending); if the connection closes meanwhile, the
 * session goes with it and the answer is dropped.  A CANCEL leaves it
 * there, marked cancelled, so that its id is not taken again before the
 * answer comes: then it goes without a reply. */
struct pending {
	struct conn *c;
	unsigned long id;
	struct rec u;
	int found;
};

/* The hash worker's answer: 1 match, 0 no, -1 unusable hash, or
 * WORKER_DIED / WORKER_NONE. */
static void
password_checked(void *arg, int r)
{
	struct pending *p = arg;
	struct session *s = NULL;
	const char *key;

	if (conn_alive(p->c) && (s = conn_take_session(p->c, p->id)) != NULL) {
		key = buf_cstr(&s->user);
		if (s->cancelled)
			log_debug("auth: exchange %lu was cancelled; its "
			    "result is dropped", s->id);
		else if (r == WORKER_DIED)
			tempfail(p->c, s, "the hash worker checking it failed");
		else if (r == WORKER_NONE)
			tempfail(p->c, s, "no hash worker available");
		else if (r != 1)
			fail(p->c, s, key, p->found ? "wrong password" :
			    "unknown user", "invalid credentials");
		else if (is_disabled(&p->u))
			fail(p->c, s, key, "account disabled",
			    "account disabled");
		else
			succeed(p->c, s, key, &p->u, NULL);
		session_free(s);
	}
	conn_unref(p->c);
	rec_free(&p->u);
	free(p);
}

/* PLAIN and LOGIN end here: MECH_DONE, or MECH_PENDING while a worker
 * checks the hash (the session then belongs to password_checked). */
static int
check_password(struct conn *c, struct session *s, struct sv authzid,
    struct sv authcid, struct sv pass)
{
	struct pending *p;
	struct buf err, name;
	const char *hash;
	int found;

	buf_init(&err, 1024);
	buf_init(&name, 1024);
	if (buf_try_append_sv(&name, authcid) == -1 || sv_has_nul(authcid) ||
	    login_key(buf_cstr(&name), &s->user) == -1) {
		if (!penalty_refuse(c, s, NULL))
			fail(c, s, NULL, "bad login name",
			    "invalid credentials");
		goto done;
	}
	if (penalty_refuse(c, s, buf_cstr(&s->user)))
		goto done;
	if (authzid.n > 0 && !sv_eq(authzid, authcid)) {
		fail(c, s, buf_cstr(&s->user), "authorization identity refused",
		    "invalid credentials");
		goto done;
	}
	if (pass.n > PASSWD_MAX || sv_has_nul(pass)) {
		fail(c, s, buf_cstr(&s->user), "unusable password",
		    "invalid credentials");
		goto done;
	}
	p = xcalloc(1, sizeof(*p));
	rec_init(&p->u);
	if ((found = user_for_login(buf_cstr(&s->user), &p->u, &err)) == -1) {
		tempfail(c, s, buf_cstr(&err));
		rec_free(&p->u);
		free(p);
		goto done;
	}
	p->c = c;
	p->id = s->id;
	p->found = found;
	hash = found ? rec_get_str(&p->u, "hash") : NULL;
	conn_ref(c);
	/* Unknown users cost the same hash computation as known ones. */
	workers_submit(pass.p, pass.n, hash != NULL ? hash : authd.dummy_hash,
	    password_checked, p);
	buf_free(&err);
	buf_free(&name);
	return MECH_PENDING;
done:
	buf_free(&err);
	buf_free(&name);
	return MECH_DONE;
}

static int
plain(struct conn *c, struct session *s, struct sv msg)
{
	struct sv authzid, authcid, pass;
	const char *err;

	if (sasl_plain_parse(msg, &authzid, &authcid, &pass, &err) == -1) {
		if (!penalty_refuse(c, s, NULL))
			fail(c, s, NULL, err, "invalid credentials");
		return MECH_DONE;
	}
	return check_password(c, s, authzid, authcid, pass);
}

/* LOGIN (draft-murchison-sasl-login): "Username:", then "Password:". */
static int
login(struct conn *c, struct session *s, struct sv msg)
{
	if (s->step == 0) {
		if (buf_try_set(&s->login, msg.p, msg.n) == -1) {
			fail(c, s, NULL, "login name too long",
			    "invalid credentials");
			return MECH_DONE;
		}
		s->step = 1;
		conn_send(c, 0, "CONT", s->id, "UGFzc3dvcmQ6", NULL);
		return MECH_MORE;
	}
	return check_password(c, s, sv_make("", 0), buf_sv(&s->login), msg);
}

/* Keys for an unknown user, derived from a per-run secret so that the
 * server-first message looks like a real one and stays the same for
 * repeated tries (RFC 5802 section 9 on user enumeration). */
static void
fake_keys(const char *user, struct scram_keys *k)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	memset(k, 0, sizeof(*k));
	HMAC(EVP_sha256(), authd.secret, sizeof(authd.secret),
	    (const unsigned char *)user, strlen(user), md, &mdlen);
	memcpy(k->salt, md, SCRAM_SALTLEN);
	k->saltlen = SCRAM_SALTLEN;
	k->iter = (uint32_t)config_num(authd.cf, "authd", "scram_iterations");
	rand_bytes(k->stored, sizeof(k->stored));
	rand_bytes(k->server, sizeof(k->server));
}

static int
scram_first(struct conn *c, struct session *s, struct sv msg)
{
	struct scram_keys keys;
	struct buf out, err, enc;
	struct rec u;
	const char *e, *stored;
	int found;

	if (scram_server_client_first(&s->scram, msg, &e) == -1) {
		if (!penalty_refuse(c, s, NULL))
			fail(c, s, NULL, e, "invalid credentials");
		return MECH_DONE;
	}
	if (s->scram.authzid.len > 0 &&
	    !sv_eq(buf_sv(&s->scram.authzid), buf_sv(&s->scram.authcid))) {
		fail(c, s, NULL, "authorization identity refused",
		    "invalid credentials");
		return MECH_DONE;
	}
	if (login_key(buf_cstr(&s->scram.authcid), &s->user) == -1) {
		if (!penalty_refuse(c, s, NULL))
			fail(c, s, NULL, "bad login name", "invalid credentials");
		return MECH_DONE;
	}
	if (penalty_refuse(c, s, buf_cstr(&s->user)))
		return MECH_DONE;
	buf_init(&err, 1024);
	rec_init(&u);
	found = user_for_login(buf_cstr(&s->user), &u, &err);
	if (found == -1) {
		tempfail(c, s, buf_cstr(&err));
		buf_free(&err);
		rec_free(&u);
		return MECH_DONE;
	}
	stored = found ? rec_get_str(&u, "scram") : NULL;
	s->known = stored != NULL &&
	    scram_keys_parse(sv_from(stored), &keys) == 0;
	s->nokeys = found && !s->known;
	if (!s->known)
		fake_keys(buf_cstr(&s->user), &keys);
	/* The client's nonce (up to a whole message) is repeated in it. */
	buf_init(&out, 2 * SCRAM_MSG_MAX);
	if (scram_server_first(&s->scram, &keys, &out) == -1) {
		tempfail(c, s, "SCRAM: cannot build server-first message");
		explicit_bzero(&keys, sizeof(keys));
		buf_free(&out);
		buf_free(&err);
		rec_free(&u);
		return MECH_DONE;
	}
	/* base64 of at most 2 * SCRAM_MSG_MAX bytes fits */
	buf_init(&enc, 4 * SCRAM_MSG_MAX);
	base64_encode(&enc, out.data, out.len);
	conn_send(c, 0, "CONT", s->id, buf_cstr(&enc), NULL);
	explicit_bzero(&keys, sizeof(keys));
	buf_free(&enc);
	buf_free(&out);
	buf_free(&err);
	rec_free(&u);
	s->step = 1;
	return MECH_MORE;
}

static int
scram_final(struct conn *c, struct session *s, struct sv msg)
{
	struct buf out, err;
	struct rec u;
	const char *e = NULL;
	int r, found;

	buf_init(&out, 4096);
	buf_init(&err, 1024);
	rec_init(&u);
	r = scram_server_client_final(&s->scram, msg, &out, &e);
	if (r == 1 && s->known) {
		found = user_for_login(buf_cstr(&s->user), &u, &err);
		if (found == -1)
			tempfail(c, s, buf_cstr(&err));
		else if (found == 0)
			fail(c, s, buf_cstr(&s->user), "account vanished",
			    "invalid credentials");
		else if (is_disabled(&u))
			fail(c, s, buf_cstr(&s->user), "account disabled",
			    "account disabled");
		else
			succeed(c, s, buf_cstr(&s->user), &u, &out);
	} else
		fail(c, s, buf_cstr(&s->user), r == -1 ? e : s->known ?
		    "wrong password" : s->nokeys ? "no SCRAM keys stored (set "
		    "the password again)" : "unknown user",
		    "invalid credentials");
	buf_free(&out);
	buf_free(&err);
	rec_free(&u);
	return MECH_DONE;
}

static int
step(struct conn *c, struct session *s, struct sv msg)
{
	switch (s->mech) {
	case MECH_PLAIN:
		return plain(c, s, msg);
	case MECH_LOGIN:
		return login(c, s, msg);
	default:
		return s->step == 0 ? scram_first(c, s, msg) :
		    scram_final(c, s, msg);
	}
}

int
mech_start(struct conn *c, struct session *s, const struct sv *initial)
{
	struct rec f;

	/* A password in the clear only over TLS (or a local connection):
	 * the daemon says which with "secured". */
	if ((s->mech == MECH_PLAIN || s->mech == MECH_LOGIN) && !s->secured &&
	    !config_bool(authd.cf, NULL, "auth_allow_plaintext")) {
		log_result(s, "", "refused", "plaintext without TLS");
		rec_init(&f);
		rec_set_str(&f, "reason", "plaintext authentication disallowed "
		    "without TLS");
		conn_send(c, 0, "FAIL", s->id, NULL, &f);
		rec_free(&f);
		return MECH_DONE;
	}
	if (penalty_refuse(c, s, NULL))
		return MECH_DONE;
	if (initial != NULL)
		return step(c, s, *initial);
	/* No initial response: an empty challenge, or LOGIN's prompt. */
	conn_send(c, 0, "CONT", s->id,
	    s->mech == MECH_LOGIN ? "VXNlcm5hbWU6" : "", NULL);
	return MECH_MORE;
}

int
mech_continue(struct conn *c, struct session *s, struct sv response)
{
	return step(c, s, response);
}
