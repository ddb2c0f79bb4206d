/*
 * smtp_session.c: one SMTP session (RFC 5321) -- the greeting, the
 * commands and the policy of who may send what to whom.  DATA and BDAT
 * are in smtp_data.c, AUTH in smtp_auth.c.
 *
 * Every byte here comes from the network: lines are bounded
 * (SMTP_LINE_MAX), counted (max_commands) and their errors too
 * (max_errors); a client that talks before the greeting, pipelines
 * without being told it may, or speaks HTTP is sent away.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "chapar/addr.h"
#include "chapar/authc.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/rec.h"
#include "chapar/tls.h"
#include "chapar/util.h"
#include "smtpd.h"

void
smtp_reply(struct smtp *s, const char *fmt, ...)
{
	va_list ap;
	int c;

	va_start(ap, fmt);
	c = smtp_vreplyf(s->io, fmt, ap);
	va_end(ap);
	if (c == '4' || c == '5')
		s->errors++;
}

void
smtp_reset(struct smtp *s)
{
	smtp_data_reset(s);	/* an open BDAT message is abandoned */
	s->mail = 0;
	s->smtputf8 = s->body8bit = 0;
	s->nrcpt = 0;
	buf_reset(&s->sender);
	buf_reset(&s->env);
	buf_reset(&s->rcpt_lines);
	buf_reset(&s->first_rcpt);
	buf_reset(&s->tags);
	buf_reset(&s->content_tags);
	buf_reset(&s->quarantine);
	s->quarantine_in_env = 0;
	s->id[0] = '\0';
}

/* --- EHLO, HELO ---------------------------------------------------------- */

static void
cmd_helo(struct smtp *s, struct sv args, int esmtp)
{
	args = sv_trim(args);
	if (!smtp_helo_ok(args) || args.n >= sizeof(s->helo)) {
		smtp_reply(s, "501 5.5.4 syntax: %s hostname", esmtp ? "EHLO" :
		    "HELO");
		return;
	}
	smtp_reset(s);
	memcpy(s->helo, args.p, args.n);
	s->helo[args.n] = '\0';
	s->esmtp = esmtp;
	if (!esmtp) {
		smtp_reply(s, "250 %s", s->host);
		return;
	}
	smtp_reply(s, "250-%s Hello %s", s->host, log_esc_str(s->helo));
	smtp_reply(s, "250-PIPELINING");
	if (s->size_limit > 0)
		smtp_reply(s, "250-SIZE %llu",
		    (unsigned long long)s->size_limit);
	else
		smtp_reply(s, "250-SIZE");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250-SMTPUTF8");
	smtp_reply(s, "250-CHUNKING");
	smtp_reply(s, "250-DSN");
	if (s->future_max > 0) {
		/* RFC 4865 3: the longest interval, and the latest time */
		time_t until = time(NULL) + (time_t)s->future_max;
		char when[64];

		(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
		    gmtime(&until));
		smtp_reply(s, "250-FUTURERELEASE %llu %s",
		    (unsigned long long)s->future_max, when);
	}
	if (!s->tls && worker_tls_available())
		smtp_reply(s, "250-STARTTLS");
	if (smtp_auth_offered(s))
		smtp_reply(s, "250-AUTH PLAIN LOGIN SCRAM-SHA-256");
	smtp_reply(s, "250 ENHANCEDSTATUSCODES");
}

/* --- MAIL ---------------------------------------------------------------- */

/* Does the authenticated user own the address: its own, an alias that
 * leads to it, or one smtpd_sender_grants gives it? */
int
smtp_owns(struct smtp *s, const char *address)
{
	struct authc_reply rep;
	struct buf err;
	const char *const *grants;
	size_t i, n;
	int r = 0;

	if (strcasecmp(address, s->auth) == 0)
		return 1;
	/* longer than a path (RFC 5321 4.5.3.1.3), as a From field's may
	 * be: nobody's, and too long to ask authd about */
	if (strlen(address) > ADDR_PATH_MAX)
		return 0;
	n = config_list(s->cf, s->svc, "smtpd_sender_grants", &grants);
	if (smtp_grant_match(grants, n, s->auth, address))
		return 1;
	if (worker_auth() == NULL)
		return 0;
	authc_reply_init(&rep);
	buf_init(&err, 1024);
	if (authc_rcpt(worker_auth(), address, &rep, &err) == -1)
		worker_auth_lost();
	else if (strcmp(buf_cstr(&rep.verb), "RCPT") == 0)
		for (i = 0; i < rep.fields.n && !r; i++)
			r = strcmp(rep.fields.names[i], "local") == 0 &&
			    strcasecmp(buf_cstr(&rep.fields.vals[i]),
			    s->auth) == 0;
	authc_reply_free(&rep);
	buf_free(&err);
	return r;
}

/* RFC 6531 3.5: a UTF-8 address only in an SMTPUTF8 transaction */
static int
has_8bit(struct sv v)
{
	size_t i;

	for (i = 0; i < v.n; i++)
		if ((unsigned char)v.p[i] >= 0x80)
			return 1;
	return 0;
}

static void
env_field(struct buf *env, const char *name, struct sv value)
{
	if (env->len > 0)
		buf_putc(env, '\t');
	buf_printf(env, "%s=", name);
	tab_escape(env, value);
}

/* MAIL's parameters, as they are read. */
struct mail_params {
	uint64_t size, hold;
	const char *ret;
	struct buf envid;
	int utf8, body8;
};

/* RFC 4865 4: HOLDFOR or HOLDUNTIL, one of them, within the limits.
 * 1, 0 bad, -1 with the reply given. */
static int
hold_param(struct smtp *s, struct sv key, struct sv val,
    struct mail_params *mp)
{
	uint64_t now = (uint64_t)time(NULL), n;
	int64_t t;

	if (mp->hold != 0)
		return 0;
	if (sv_caseeq_str(key, "HOLDFOR")) {
		if (parse_u64(val, UINT64_MAX, &n) == -1)
			return 0;
		t = (int64_t)(now + n);
	} else if (smtp_rfc3339_parse(val, &t) == -1)
		return 0;
	if (t > (int64_t)(now + s->future_max)) {
		smtp_reply(s, "501 5.5.4 %s is beyond the %llu seconds this "
		    "server holds mail", log_esc(key.p, key.n),
		    (unsigned long long)s->future_max);
		return -1;
	}
	mp->hold = t > (int64_t)now ? (uint64_t)t : 1;
	return 1;
}

/* One parameter of MAIL (RFC 5321 4.1.2 esmtp-param, with the values
 * of each extension's RFC).  1, 0 bad, -1 with the reply given. */
static int
mail_param(struct smtp *s, struct sv key, struct sv val,
    struct mail_params *mp)
{
	if (!s->esmtp)
		goto unsupported;	/* HELO: no extensions */
	if (sv_caseeq_str(key, "SIZE"))
		return parse_u64(val, UINT64_MAX, &mp->size) == 0;
	if (sv_caseeq_str(key, "BODY")) {
		/* RFC 3030 3: BINARYMIME is not offered (a binary body could
		 * go on only to servers that take it) */
		if (sv_caseeq_str(val, "BINARYMIME")) {
			smtp_reply(s, "555 5.5.4 BODY=BINARYMIME is not "
			    "supported");
			return -1;
		}
		mp->body8 = sv_caseeq_str(val, "8BITMIME");
		return mp->body8 || sv_caseeq_str(val, "7BIT");
	}
	if (sv_caseeq_str(key, "SMTPUTF8") && val.n == 0)
		return mp->utf8 = 1;
	if (sv_caseeq_str(key, "RET")) {
		mp->ret = sv_caseeq_str(val, "FULL") ? "FULL" :
		    sv_caseeq_str(val, "HDRS") ? "HDRS" : NULL;
		return mp->ret != NULL;
	}
	if (sv_caseeq_str(key, "ENVID"))
		return val.n <= 100 && xtext_decode(val, &mp->envid) == 0;
	if ((sv_caseeq_str(key, "HOLDFOR") || sv_caseeq_str(key,
	    "HOLDUNTIL")) && s->future_max > 0)
		return hold_param(s, key, val, mp);
	if (sv_caseeq_str(key, "AUTH"))
		/* RFC 4954 5: the submitter; taken from our own
		 * authentication, not the client's word */
		return 1;
unsupported:
	smtp_reply(s, "555 5.5.4 unsupported parameter %s", log_esc(key.p,
	    key.n));
	return -1;
}

static void
cmd_mail(struct smtp *s, struct sv args)
{
	struct sv path, params, key, val;
	struct mail_params mp;
	struct buf text;
	struct addr a;
	const char *why;
	int null, r, ok = 1, flags, utf8, body8;

	if (s->helo[0] == '\0') {
		smtp_reply(s, "503 5.5.1 say EHLO first");
		return;
	}
	if (s->mail) {
		smtp_reply(s, "503 5.5.1 MAIL already given");
		return;
	}
	if (s->auth_required && s->auth[0] == '\0') {
		smtp_reply(s, "530 5.7.0 authentication required");
		return;
	}
	if (smtp_path_args(args, "FROM:", &path, &params, &why) == -1) {
		smtp_reply(s, "501 5.5.4 MAIL FROM:<address>: %s", why);
		return;
	}
	memset(&mp, 0, sizeof(mp));
	buf_init(&mp.envid, 256);
	buf_init(&text, ADDR_PATH_MAX + 1);
	s->smtputf8 = s->body8bit = 0;
	while ((r = smtp_param_next(&params, &key, &val)) == 1 &&
	    (ok = mail_param(s, key, val, &mp)) == 1)
		;
	if (r == -1 || (r == 1 && ok == 0)) {
		smtp_reply(s, "501 5.5.4 bad parameter %s", log_esc(key.p,
		    key.n));
		goto out;
	}
	if (r == 1)
		goto out;	/* mail_param replied */
	s->smtputf8 = mp.utf8;
	s->body8bit = mp.body8;
	if (s->size_limit > 0 && mp.size > s->size_limit) {
		smtp_reply(s, "552 5.3.4 message too big (the limit is %llu "
		    "bytes)", (unsigned long long)s->size_limit);
		goto out;
	}
	if (!s->smtputf8 && has_8bit(path)) {
		smtp_reply(s, "553 5.6.7 a non-ASCII address needs SMTPUTF8");
		goto out;
	}
	addr_init(&a);
	flags = s->smtputf8 ? ADDR_UTF8 : 0;
	if (addr_parse_path(path, flags, &a, &null, &why) == -1) {
		smtp_reply(s, "501 5.1.7 bad sender address: %s", why);
		addr_free(&a);
		goto out;
	}
	if (!null)
		addr_format(&a, &text);
	addr_free(&a);
	utf8 = s->smtputf8;
	body8 = s->body8bit;
	/* submission: only the user's own addresses (or <>, for
	 * notifications) */
	if (s->auth[0] != '\0' && s->auth_required && !null &&
	    !smtp_owns(s, buf_cstr(&text))) {
		smtp_reply(s, "553 5.7.1 <%s>: not an address of %s",
		    log_esc_str(buf_cstr(&text)), log_esc_str(s->auth));
		goto out;
	}
	smtp_reset(s);
	s->smtputf8 = utf8;
	s->body8bit = body8;
	buf_append(&s->sender, text.data, text.len);
	env_field(&s->env, "v", SV_LIT("1"));
	env_field(&s->env, "sender", buf_sv(&text));
	env_field(&s->env, "body", s->body8bit ? SV_LIT("8BITMIME") :
	    SV_LIT("7BIT"));
	if (s->smtputf8)
		env_field(&s->env, "smtputf8", SV_LIT("1"));
	if (mp.ret != NULL)
		env_field(&s->env, "ret", sv_from(mp.ret));
	if (mp.envid.len > 0)
		env_field(&s->env, "envid", buf_sv(&mp.envid));
	if (mp.hold > 1) {
		char num[32];

		(void)xsnprintf(num, sizeof(num), "%llu", (unsigned long long)
		    mp.hold);
		env_field(&s->env, "hold", sv_from(num));
	}
	if (s->auth[0] != '\0')
		env_field(&s->env, "auth", sv_from(s->auth));
	env_field(&s->env, "client", sv_from(s->c->peer));
	env_field(&s->env, "helo", sv_from(s->helo));
	s->mail = 1;
	log_info("from=<%s>, size=%llu%s", log_esc_str(buf_cstr(&text)),
	    (unsigned long long)mp.size, s->auth[0] ? ", auth" : "");
	smtp_reply(s, "250 2.1.0 sender ok");
out:
	buf_free(&mp.envid);
	buf_free(&text);
}

/* --- RCPT ---------------------------------------------------------------- */

/* Every local user of a RCPT reply is marked full (none goes
 * elsewhere). */
static int
rcpt_all_full(const struct rec *f)
{
	size_t i, j, local = 0, full = 0;

	for (i = 0; i < f->n; i++) {
		if (strcmp(f->names[i], "remote") == 0)
			return 0;
		if (strcmp(f->names[i], "local") != 0)
			continue;
		local++;
		for (j = 0; j < f->n; j++)
			if (strcmp(f->names[j], "full") == 0 &&
			    strcmp(buf_cstr(&f->vals[j]),
			    buf_cstr(&f->vals[i])) == 0) {
				full++;
				break;
			}
	}
	return local > 0 && full == local;
}

/* Where may mail for this address go?  The reply to give when it may
 * not, or NULL. */
static const char *
rcpt_policy(struct smtp *s, const char *address, char *reply, size_t len)
{
	struct authc_reply rep;
	struct buf err;
	const char *verb;

	if (worker_auth() == NULL) {
		(void)xsnprintf(reply, len, "451 4.3.0 try again later");
		return reply;
	}
	authc_reply_init(&rep);
	buf_init(&err, 1024);
	reply[0] = '\0';
	if (authc_rcpt(worker_auth(), address, &rep, &err) == -1) {
		worker_auth_lost();
		(void)xsnprintf(reply, len, "451 4.3.0 try again later");
		goto out;
	}
	verb = buf_cstr(&rep.verb);
	if (strcmp(verb, "RCPT") == 0) {
		/* one of ours: refused only when every mailbox it leads
		 * to was found full (authd remembers that for a while) */
		if (rcpt_all_full(&rep.fields))
			(void)xsnprintf(reply, len, config_bool(s->cf, NULL,
			    "quota_full_tempfail") ? "452 4.2.2 <%s>: "
			    "mailbox full" : "552 5.2.2 <%s>: mailbox full",
			    log_esc_str(address));
		goto out;
	}
	if (strcmp(verb, "NOTFOUND") == 0)
		(void)xsnprintf(reply, len, "550 5.1.1 <%s>: no such user here",
		    log_esc_str(address));
	else if (strcmp(verb, "NOTLOCAL") == 0) {
		/* RFC 5321 3.6.2, RFC 2505: relay only for our own */
		if (s->auth[0] == '\0' && !s->trusted)
			(void)xsnprintf(reply, len, "554 5.7.1 <%s>: relay "
			    "access denied", log_esc_str(address));
	} else
		(void)xsnprintf(reply, len, "451 4.3.0 try again later");
out:
	authc_reply_free(&rep);
	buf_free(&err);
	return reply[0] ? reply : NULL;
}

static void
cmd_rcpt(struct smtp *s, struct sv args)
{
	struct sv path, params, key, val;
	struct buf text, orcpt, line;
	struct addr a;
	const char *why, *notify_err = NULL;
	char reply[512], notify[64] = "";
	int null, r, flags;

	if (!s->mail) {
		smtp_reply(s, "503 5.5.1 MAIL first");
		return;
	}
	/* the queue takes QUEUE_RCPT_MAX, each line under 2 kB (see below):
	 * then rcpt_lines holds them all */
	if (s->nrcpt >= s->max_rcpt || s->nrcpt >= QUEUE_RCPT_MAX) {
		smtp_reply(s, "452 4.5.3 too many recipients");
		return;
	}
	if (smtp_path_args(args, "TO:", &path, &params, &why) == -1) {
		smtp_reply(s, "501 5.5.4 RCPT TO:<address>: %s", why);
		return;
	}
	buf_init(&text, ADDR_PATH_MAX + 1);
	buf_init(&orcpt, 1024);
	buf_init(&line, 4096);
	while ((r = smtp_param_next(&params, &key, &val)) == 1) {
		if (sv_caseeq_str(key, "NOTIFY") && s->esmtp) {
			/* NEVER, or a list of SUCCESS, FAILURE, DELAY */
			struct sv rest = val, item;
			int never = 0, other = 0;

			while (rest.n > 0) {
				(void)sv_split(&rest, ',', &item);
				if (sv_caseeq_str(item, "NEVER"))
					never = 1;
				else if (sv_caseeq_str(item, "SUCCESS") ||
				    sv_caseeq_str(item, "FAILURE") ||
				    sv_caseeq_str(item, "DELAY"))
					other = 1;
				else
					notify_err = "bad NOTIFY";
			}
			if ((never && other) || val.n >= sizeof(notify))
				notify_err = "bad NOTIFY";
			else {
				memcpy(notify, val.p, val.n);
				notify[val.n] = '\0';
			}
		} else if (sv_caseeq_str(key, "ORCPT") && s->esmtp) {
			if (val.n > 500 || xtext_decode(val, &orcpt) == -1 ||
			    memchr(orcpt.data, ';', orcpt.len) == NULL)
				notify_err = "bad ORCPT";
		} else {
			smtp_reply(s, "555 5.5.4 unsupported parameter %s",
			    log_esc(key.p, key.n));
			goto out;
		}
	}
	if (r == -1 || notify_err != NULL) {
		smtp_reply(s, "501 5.5.4 %s", notify_err ? notify_err :
		    "bad parameter");
		goto out;
	}
	if (!s->smtputf8 && has_8bit(path)) {
		smtp_reply(s, "553 5.6.7 a non-ASCII address needs SMTPUTF8");
		goto out;
	}
	addr_init(&a);
	flags = (s->smtputf8 ? ADDR_UTF8 : 0) | ADDR_ALLOW_NODOMAIN;
	if (addr_parse_path(path, flags, &a, &null, &why) == -1 || null) {
		smtp_reply(s, "501 5.1.3 bad recipient address: %s", null ?
		    "empty" : why);
		addr_free(&a);
		goto out;
	}
	/* RFC 5321 4.5.1: <Postmaster> of this host (a host name so long
	 * that the address would not fit in a path is a mistake of the
	 * configuration) */
	if (a.domain.len == 0 && strlen("<postmaster@>") + strlen(s->host) >
	    ADDR_PATH_MAX) {
		log_error("hostname is too long for <postmaster@%s>", s->host);
		smtp_reply(s, "451 4.3.5 the postmaster address is unusable");
		addr_free(&a);
		goto out;
	}
	if (a.domain.len == 0)
		buf_set(&a.domain, s->host, strlen(s->host));
	addr_format(&a, &text);
	addr_free(&a);
	if (rcpt_policy(s, buf_cstr(&text), reply, sizeof(reply)) != NULL ||
	    smtp_filter_rcpt(s, buf_cstr(&text), reply, sizeof(reply)) != 0) {
		log_info("reject: RCPT from=<%s> to=<%s>: %s",
		    log_esc_str(buf_cstr(&s->sender)),
		    log_esc_str(buf_cstr(&text)), reply);
		smtp_reply(s, "%s", reply);
		goto out;
	}
	/* rcpt= (escaped: 2 * 256), notify= (63), orcpt= (2 * 500): under
	 * 2 kB, as QUEUE_ENV_MAX counts a recipient */
	env_field(&line, "rcpt", buf_sv(&text));
	if (notify[0])
		env_field(&line, "notify", sv_from(notify));
	if (orcpt.len > 0)
		env_field(&line, "orcpt", buf_sv(&orcpt));
	buf_append(&s->rcpt_lines, line.data, line.len);
	buf_putc(&s->rcpt_lines, '\n');
	if (s->nrcpt == 0)
		buf_set(&s->first_rcpt, text.data, text.len);
	s->nrcpt++;
	smtp_reply(s, "250 2.1.5 recipient ok");
out:
	buf_free(&text);
	buf_free(&orcpt);
	buf_free(&line);
}

/* --- STARTTLS, the rest -------------------------------------------------- */

/* RFC 3207: 220, then the handshake; what the client pipelined after
 * the command is thrown away (worker_starttls), and the session starts
 * again (4.2: forget EHLO). */
static int
cmd_starttls(struct smtp *s, struct sv args)
{
	struct buf err;

	if (args.n > 0) {
		smtp_reply(s, "501 5.5.4 no parameters allowed");
		return 0;
	}
	if (s->tls || !worker_tls_available()) {
		smtp_reply(s, "503 5.5.1 TLS is %s", s->tls ? "already on" :
		    "not available");
		return 0;
	}
	smtp_reply(s, "220 2.0.0 ready to start TLS");
	if (io_flush(s->io) != IO_OK)
		return -1;
	buf_init(&err, 1024);
	if (worker_starttls(s->c, s->io, &err) == -1) {
		log_info("STARTTLS failed: %s", buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	buf_free(&err);
	s->tls = 1;
	s->helo[0] = '\0';
	s->esmtp = 0;
	smtp_reset(s);
	return 0;
}

static int
cmd_ehlo(struct smtp *s, struct sv args)
{
	cmd_helo(s, args, 1);
	return 0;
}

static int
cmd_helo0(struct smtp *s, struct sv args)
{
	cmd_helo(s, args, 0);
	return 0;
}

static int
cmd_mail0(struct smtp *s, struct sv args)
{
	cmd_mail(s, args);
	return 0;
}

static int
cmd_rcpt0(struct smtp *s, struct sv args)
{
	cmd_rcpt(s, args);
	return 0;
}

static int
cmd_data(struct smtp *s, struct sv args)
{
	(void)args;
	smtp_data(s);
	return 0;
}

static int
cmd_bdat(struct smtp *s, struct sv args)
{
	smtp_bdat(s, args);
	return 0;
}

static int
cmd_rset(struct smtp *s, struct sv args)
{
	(void)args;
	smtp_reset(s);
	smtp_reply(s, "250 2.0.0 ok");
	return 0;
}

static int
cmd_noop(struct smtp *s, struct sv args)
{
	(void)args;
	smtp_reply(s, "250 2.0.0 ok");
	return 0;
}

static int
cmd_quit(struct smtp *s, struct sv args)
{
	(void)args;
	smtp_reply(s, "221 2.0.0 bye");
	return -1;
}

/* RFC 5321 3.5.3: 252 without telling who exists */
static int
cmd_vrfy(struct smtp *s, struct sv args)
{
	(void)args;
	smtp_reply(s, "252 2.5.0 cannot verify, but will try");
	return 0;
}

static int
cmd_help(struct smtp *s, struct sv args)
{
	(void)args;
	smtp_reply(s, "214 2.0.0 see RFC 5321");
	return 0;
}

static int
cmd_auth(struct smtp *s, struct sv args)
{
	smtp_auth(s, args);
	return 0;
}

#define NO_ARGS 0x1		/* 501 5.5.4 with parameters */

/* The commands (RFC 5321 4.1, and the extensions'); each handler checks
 * the state it needs. */
static const struct {
	const char *name;
	unsigned flags;
	int (*fn)(struct smtp *, struct sv args);
} cmds[] = {
	{ "EHLO", 0, cmd_ehlo },
	{ "HELO", 0, cmd_helo0 },
	{ "MAIL", 0, cmd_mail0 },
	{ "RCPT", 0, cmd_rcpt0 },
	{ "DATA", NO_ARGS, cmd_data },
	{ "BDAT", 0, cmd_bdat },
	{ "RSET", 0, cmd_rset },
	{ "NOOP", 0, cmd_noop },
	{ "QUIT", 0, cmd_quit },
	{ "VRFY", 0, cmd_vrfy },
	{ "EXPN", 0, cmd_vrfy },
	{ "HELP", 0, cmd_help },
	{ "STARTTLS", 0, cmd_starttls },
	{ "AUTH", 0, cmd_auth },
};

/* 0 to go on, -1 to end the session */
static int
command(struct smtp *s, struct sv line)
{
	struct sv verb, args;
	size_t i;

	if (smtp_split(line, &verb, &args) == -1) {
		smtp_reply(s, "500 5.5.2 syntax error");
		return 0;
	}
	for (i = 0; i < NELEM(cmds); i++)
		if (sv_caseeq_str(verb, cmds[i].name))
			break;
	if (i == NELEM(cmds)) {
		smtp_reply(s, "500 5.5.2 command not recognised");
		return 0;
	}
	if ((cmds[i].flags & NO_ARGS) && args.n > 0) {
		smtp_reply(s, "501 5.5.4 no parameters allowed");
		return 0;
	}
	return cmds[i].fn(s, args);
}

/* Did the client send before it was allowed to (before the greeting;
 * more commands at once without PIPELINING)? */
static int
early_talker(struct smtp *s, int ms)
{
	struct pollfd p;

	if (io_buffered(s->io) > 0)
		return 1;
	p.fd = s->c->fd;
	p.events = POLLIN;
	return poll(&p, 1, ms) > 0;
}

static void
settings(struct smtp *s)
{
	const char *svc = s->svc, *nl;
	const char *const *nets;
	struct netmask m[64];
	size_t n, i, k = 0;

	s->size_limit = config_num(s->cf, NULL, "message_size_limit");
	s->max_rcpt = config_num(s->cf, svc, "smtpd_max_recipients");
	s->max_errors = config_num(s->cf, svc, "smtpd_max_errors");
	s->max_commands = config_num(s->cf, svc, "smtpd_max_commands");
	s->max_hops = config_num(s->cf, svc, "smtpd_max_received");
	s->max_header = config_num(s->cf, svc, "smtpd_max_header");
	s->timeout_ms = (int)config_num(s->cf, svc, "smtpd_timeout") * 1000;
	s->min_rate = config_num(s->cf, svc, "smtpd_min_data_rate");
	s->auth_required = config_bool(s->cf, svc, "smtpd_auth_required");
	/* RFC 4865 is for submission: with AUTH */
	s->future_max = s->auth_required ? config_num(s->cf, svc,
	    "smtpd_futurerelease_max") : 0;
	nl = config_str(s->cf, svc, "smtpd_bare_newline");
	s->bare_nl_normalize = strcmp(nl, "normalize") == 0;
	n = config_list(s->cf, svc, "relay_networks", &nets);
	for (i = 0; i < n && k < NELEM(m); i++)
		if (netmask_parse(sv_from(nets[i]), &m[k]) == 0)
			k++;
	s->trusted = k > 0 && netmask_match(m, k, s->c->peer);
	config_hostname(s->cf, s->host, sizeof(s->host));
}

void
smtp_session(struct worker_conn *c)
{
	struct smtp s;
	struct io io;
	struct buf err;
	struct sv line;
	uint64_t pause;
	int r, crlf;

	memset(&s, 0, sizeof(s));
	s.c = c;
	s.io = &io;
	s.cf = c->cf;
	s.svc = c->service;
	settings(&s);
	buf_init(&s.sender, ADDR_PATH_MAX + 1);
	buf_init(&s.env, 8192);
	buf_init(&s.rcpt_lines, QUEUE_ENV_MAX);
	buf_init(&s.first_rcpt, ADDR_PATH_MAX + 1);
	buf_init(&s.tags, 64 * 1024);
	buf_init(&s.content_tags, 64 * 1024);
	buf_init(&s.quarantine, 1024);
	io_init(&io, c->fd, SMTP_LINE_MAX, s.timeout_ms);
	buf_init(&err, 1024);
	if (c->implicit_tls) {
		if (worker_starttls(c, &io, &err) == -1) {
			log_info("TLS failed: %s", buf_cstr(&err));
			goto out;
		}
		s.tls = 1;
	}
	if (c->greeted) {
		/* smtpfront(8) paused, greeted and read the first command:
		 * it comes first, then whatever the client sent after it */
		if (io_preload(&io, c->preload, c->npreload) == -1) {
			log_error("the bytes from the front do not fit");
			goto out;
		}
	} else {
		/* RFC 5321 4.3.1: the client waits for the greeting; one that
		 * does not is not a mail client */
		pause = config_num(s.cf, s.svc, "smtpd_greet_pause");
		if (pause > 0 && early_talker(&s, (int)(pause * 1000))) {
			log_info("reject: %s talked before the greeting",
			    c->peer);
			smtp_reply(&s, "554 5.5.0 you talked before the "
			    "greeting");
			goto out;
		}
		smtp_reply(&s, "220 %s ESMTP Chapar", s.host);
	}
	for (;;) {
		/* RFC 2920: replies go out when no command is waiting */
		/* the replies out and the whole next line in within
		 * smtpd_timeout, however slowly its bytes come */
		io_set_deadline(&io, s.timeout_ms);
		if (io_buffered(&io) == 0 && io_flush(&io) != IO_OK)
			break;
		r = io_getline(&io, &line, &crlf);
		if (r == IO_TOOLONG) {
			smtp_reply(&s, "500 5.5.2 line too long");
		} else if (r != IO_OK) {
			if (r == IO_TIMEOUT) {
				smtp_reply(&s, "421 4.4.2 %s timeout", s.host);
				log_info("timeout after %d commands",
				    s.commands);
			}
			break;
		} else if (sv_has_nul(line)) {
			smtp_reply(&s, "500 5.5.2 NUL in the command");
		} else if (smtp_not_smtp(line)) {
			log_info("reject: %s is not an SMTP client (\"%s\")",
			    c->peer, log_esc(line.p, line.n < 40 ? line.n :
			    40));
			smtp_reply(&s, "521 5.5.1 this is an SMTP server");
			break;
		} else {
			if (command(&s, line) == -1)
				break;
			/* pipelining is only for ESMTP clients: after HELO,
			 * nothing may wait behind a command */
			if (!s.esmtp && s.helo[0] != '\0' &&
			    io_buffered(&io) > 0) {
				smtp_reply(&s, "554 5.5.0 improper pipelining");
				break;
			}
		}
		if (++s.commands >= (int)s.max_commands ||
		    s.errors >= (int)s.max_errors) {
			smtp_reply(&s, "421 4.7.0 %s closing: too many %s",
			    s.host, s.errors >= (int)s.max_errors ?
			    "errors" : "commands");
			break;
		}
		if (worker_quitting() && !s.mail) {
			smtp_reply(&s, "421 4.3.2 %s shutting down", s.host);
			break;
		}
	}
out:
	(void)io_flush(&io);
	smtp_reset(&s);		/* a message left open is abandoned */
	io_free(&io, 0);
	buf_free(&s.sender);
	buf_free(&s.env);
	buf_free(&s.rcpt_lines);
	buf_free(&s.first_rcpt);
	buf_free(&s.tags);
	buf_free(&s.content_tags);
	buf_free(&s.quarantine);
	buf_free(&err);
}
