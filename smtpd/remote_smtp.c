/*
 * remote_smtp.c: one SMTP conversation of remote(8) (RFC 5321): the
 * session (greeting, EHLO, STARTTLS, AUTH at a smarthost), the
 * transaction with its pipelined envelope (RFC 2920) and the data made
 * fit for the server (8BITMIME, 998-octet lines), the answers.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chapar/config.h"
#include "chapar/daemon.h"
#include "chapar/dkim.h"
#include "chapar/dns.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/mime.h"
#include "chapar/net.h"
#include "chapar/priv.h"
#include "chapar/queue.h"
#include "chapar/tls.h"
#include "chapar/util.h"
#include "chapar/smtp.h"

#include "remote.h"

/* --- an SMTP conversation ------------------------------------------------ */



/* A reply (smtp_client_reply): its code, its text in c->text. */
static int
reply(struct conv *c)
{
	return smtp_client_reply(&c->io, &c->text, TEXT_MAX, NULL);
}

/* Queue a command line (not sent until a flush). */
static int
put(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2,
    3)));

static int
put(struct conv *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = smtp_client_vput(&c->io, fmt, ap);
	va_end(ap);
	return r;
}

/* A command, sent now; its reply's code, or -1. */
int
cmd(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2,
    3)));

int
cmd(struct conv *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = smtp_client_vput(&c->io, fmt, ap);
	va_end(ap);
	if (r == -1 || io_flush(&c->io) != IO_OK)
		return -1;
	return reply(c);
}

static int
hello(struct conv *c)
{
	return smtp_client_hello(&c->io, 0, R.host, &c->text, TEXT_MAX,
	    &c->caps, &c->esmtp);
}

/* The end of a connection: QUIT when it is in a state to take it (a
 * short wait for the 221), then the socket. */
void
conv_close(struct conv *c, int quit)
{
	if (c == NULL)
		return;
	if (quit && c->usable) {
		c->io.timeout_ms = 5000;
		(void)cmd(c, "QUIT");
	}
	io_free(&c->io, 1);
	buf_free(&c->text);
	free(c);
}

/* The signatures, then the message, dot-stuffed by the DATA codec (a
 * stray bare CR or LF goes as CRLF), then "." (RFC 5321 4.5.2). */
static int
send_body(struct conv *c, const struct buf *sigs, const char *p,
    uint64_t n)
{
	struct smtp_stuff st;

	smtp_stuff_init(&st);
	if (smtp_stuff_write(&c->io, &st, sigs->data, sigs->len) == -1 ||
	    smtp_stuff_write(&c->io, &st, p, (size_t)n) == -1)
		return -1;
	return smtp_stuff_close(&c->io, &st);
}

static void
answer(struct rcpt *r, int code, const char *text, const char *relay)
{
	r->code = code;
	queue_reply_status(code, text, r->dsn);
	buf_reset(&r->reply);
	buf_printf(&r->reply, "%d %s", code, text);
	(void)xsnprintf(r->relay, sizeof(r->relay), "%s", relay);
}

/* Why no host took the job, for the recipients left without an answer
 * at the end (the last reason heard wins). */
static void
job_fail(struct job *j, int code, const char *text)
{
	j->fail_code = code;
	buf_reset(&j->fail);
	buf_puts(&j->fail, text);
}

/* A server refused (a 4xx or 5xx greeting, EHLO or MAIL): the next
 * host is tried, and if none takes the job, this says why. */
static void
job_fail_said(struct job *j, struct conv *c, int code)
{
	struct buf t;

	buf_init(&t, ANSWER_MAX);
	buf_printf(&t, "4.4.1 no mail server of the domain took the "
	    "message (last: %s said %d %s)", c->relay, code,
	    buf_cstr(&c->text));
	job_fail(j, 451, buf_cstr(&t));
	buf_free(&t);
}

/* AUTH PLAIN at the smarthost (RFC 4954, RFC 4616); -1 with the
 * recipients deferred when it cannot be done. */
static int
smarthost_auth(struct job *j, struct conv *c)
{
	struct buf raw, b64;
	int code;

	if (!io_is_tls(&c->io)) {
		settle(j, 451, "4.7.0", "4.7.0 the smarthost offers no TLS; "
		    "the password is not sent in the clear", c->relay);
		return -1;
	}
	if (!c->caps.auth_plain) {
		settle(j, 451, "4.7.0", "4.7.0 the smarthost offers no AUTH "
		    "PLAIN", c->relay);
		return -1;
	}
	buf_init(&raw, 1024);
	buf_init(&b64, 2048);
	buf_putc(&raw, '\0');
	buf_append(&raw, R.relay_user.data, R.relay_user.len);
	buf_putc(&raw, '\0');
	buf_append(&raw, R.relay_pass.data, R.relay_pass.len);
	base64_encode(&b64, raw.data, raw.len);
	code = cmd(c, "AUTH PLAIN %s", buf_cstr(&b64));
	buf_free(&raw);	/* zeroed */
	buf_free(&b64);
	if (code == 235)
		return 0;
	log_warning("%s: AUTH as %s refused: %d %s", c->relay,
	    log_esc_str(buf_cstr(&R.relay_user)), code,
	    log_esc_str(buf_cstr(&c->text)));
	settle(j, 451, "4.7.0", "4.7.0 authentication at the smarthost "
	    "failed", c->relay);
	return -1;
}

/* The TLS policy for a destination domain: its remote_tls_policy
 * entry, else remote_tls. */
static const char *
tls_policy(const char *domain)
{
	const char *const *list;
	size_t n, i, dl = strlen(domain);

	n = config_list(R.cf, NULL, "remote_tls_policy", &list);
	for (i = 0; i < n; i++)
		if (strncasecmp(list[i], domain, dl) == 0 &&
		    list[i][dl] == '=')
			return list[i] + dl + 1;
	return config_str(R.cf, NULL, "remote_tls");
}

/* Every remote_tls_policy entry is DOMAIN=LEVEL: checked at start. */
void
tls_policy_check(void)
{
	static const char *const levels[] = { "none", "may", "encrypt",
		"verify" };
	const char *const *list;
	const char *eq;
	size_t n, i, k;

	n = config_list(R.cf, NULL, "remote_tls_policy", &list);
	for (i = 0; i < n; i++) {
		eq = strchr(list[i], '=');
		for (k = 0; eq != NULL && eq > list[i] && k < NELEM(levels);
		    k++)
			if (strcmp(eq + 1, levels[k]) == 0)
				break;
		if (eq == NULL || eq == list[i] || k == NELEM(levels))
			log_fatal("remote_tls_policy: \"%s\": expected "
			    "DOMAIN=none|may|encrypt|verify", list[i]);
	}
}

/*
 * A new connection up to the point where it can take a transaction:
 * the greeting, EHLO, STARTTLS (RFC 3207: whenever offered unless the
 * policy says none; a failed handshake costs the connection, and with
 * "may" the next try is in the clear), AUTH at a smarthost.  0: ready;
 * -1: try the next host; 1: the job is settled.
 */
int
session_open(struct job *j, struct conv *c, const char *name)
{
	const char *policy = tls_policy(j->domain);
	struct buf err;
	int code;

	if ((code = reply(c)) != 220 || (code = hello(c)) != 250) {
		if (code >= 400)	/* its words, for the sender */
			job_fail_said(j, c, code);
		return -1;	/* no greeting, or "go away": the next */
	}
	if (c->caps.starttls && strcmp(policy, "none") != 0) {
		buf_init(&err, 1024);
		if (cmd(c, "STARTTLS") != 220 || tls_connect(R.tls, &c->io,
		    name, 0, &err) == -1) {
			log_info("%s: STARTTLS failed: %s", c->relay,
			    buf_cstr(&err));
			buf_free(&err);
			return -1;
		}
		buf_free(&err);
		log_info("%s: TLS %s, %s, certificate %s", c->relay,
		    tls_version(&c->io), tls_cipher(&c->io),
		    tls_verified(&c->io) ? "verified" : "not verified");
		if (strcmp(policy, "verify") == 0 && !tls_verified(&c->io)) {
			job_fail(j, 451, "4.7.5 the server's certificate "
			    "could not be verified (policy: verify)");
			return -1;
		}
		if (hello(c) != 250)
			return -1;
	} else if (strcmp(policy, "encrypt") == 0 ||
	    strcmp(policy, "verify") == 0) {
		job_fail(j, 451, "4.7.4 TLS is required and the server does "
		    "not offer it");
		return -1;
	}
	/* RFC 4954 with the smarthost's credentials: over TLS only */
	if (j->relayhost && R.relay_user.len > 0 && smarthost_auth(j, c) == -1)
		return 1;
	return 0;
}

/* A line of the envelope: 0 MAIL, 1..n RCPT (of the recipients
 * ask[0..n)), n+1 DATA. */
static int
put_envelope_cmd(struct job *j, struct conv *c, const size_t *ask,
    size_t n, size_t k, const char *mail)
{
	const char *notify;
	const struct rec *r;

	if (k == 0)
		return put(c, "%s", mail);
	if (k == n + 1)
		return put(c, "DATA");
	r = j->rc[ask[k - 1]].r;
	notify = rec_get_str(r, "notify");
	return put(c, "RCPT TO:<%s>%s%s", rec_get_str(r, "rcpt"),
	    c->caps.dsn && notify ? " NOTIFY=" : "",
	    c->caps.dsn && notify ? notify : "");
}

/*
 * The message as this server can take it: 8-bit mail to a server
 * without 8BITMIME as quoted-printable (RFC 6152 3), and lines longer
 * than 998 octets (smtpd takes them) made to fit (RFC 5322 2.1.1), both
 * DKIM-signed again in their new form.  *msg, *len and *sigs change
 * when it had to; *eight is cleared when the result is 7-bit.
 */
static void
fit(struct conv *c, struct buf *conv, struct buf *sigs2, const char **msg,
    uint64_t *len, const struct buf **sigs, int *eight)
{
	struct buf err;
	int flags = 0, r;

	if (*eight && !c->caps.eightbit)
		flags |= MIME_FIT_7BIT;
	if (mime_longest_line(*msg, *len) > 998)
		flags |= MIME_FIT_998;
	if (flags == 0)
		return;
	/* quoted-printable is at most 3 bytes a byte, with soft breaks */
	buf_free(conv);
	buf_init(conv, (size_t)(*len * 4 + 65536));
	if ((r = mime_fit(*msg, *len, flags, conv)) == -1)
		/* many small parts: its new form passes conv's limit; it goes
		 * as it is, like a message with binary parts */
		log_warning("%s: too large to make 7-bit or fit 998 octets: "
		    "sent as it is", c->relay);
	if (r != 1)
		return;
	*msg = conv->data;
	*len = conv->len;
	buf_init(&err, 1024);
	if (R.nkeys > 0 && dkim_sign(R.keys, R.nkeys, *msg, *len, now_sec(),
	    sigs2, &err) == -1)
		buf_reset(sigs2);
	buf_free(&err);
	*sigs = sigs2;
	if (flags & MIME_FIT_7BIT) {
		*eight = 0;
		log_info("%s: no 8BITMIME: sent as quoted-printable", c->relay);
	}
	if (flags & MIME_FIT_998)
		log_info("%s: lines over 998 octets made to fit", c->relay);
}

/*
 * One transaction on a connection that is ready for it.  With
 * PIPELINING (RFC 2920 3.1) MAIL, the RCPTs and DATA go in groups of up
 * to PIPE_GROUP commands, the replies read after each group; without,
 * one by one.  Recipients that already have an answer (from an earlier
 * host) are not asked again.  1: settled as far as this host can; 0:
 * try the next host.  c->usable says whether the connection can carry
 * another transaction.
 */
#define PIPE_GROUP 100

int
transaction(struct job *j, struct conv *c)
{
	const char *body = rec_get_str(&j->env.head, "body");
	const char *ret = rec_get_str(&j->env.head, "ret");
	const char *envid = rec_get_str(&j->env.head, "envid");
	int utf8 = rec_get_str(&j->env.head, "smtputf8") != NULL;
	int code, eight = body != NULL && strcmp(body, "7BIT") != 0;
	struct buf params, conv7, sigs7;
	const struct buf *sigs = &j->sigs;
	const char *msg = j->msg;
	uint64_t msglen = j->size - j->sigs.len;
	size_t i, k, sent, got, ncmd, group, accepted = 0, nask = 0;
	size_t *ask = NULL;
	int mail_code = 0, data_code = 0, r = 1, done = 0;
	char mail[2048];

	c->usable = 0;
	/* what the server cannot take, no other can be asked for */
	if (c->caps.size_max > 0 && j->size > c->caps.size_max) {
		settle(j, 552, "5.3.4", "5.3.4 the message is larger than the "
		    "server takes", c->relay);
		c->usable = 1;
		return 1;
	}
	if (utf8 && !c->caps.smtputf8) {
		settle(j, 553, "5.6.7", "5.6.7 the server does not take "
		    "SMTPUTF8 mail", c->relay);
		c->usable = 1;
		return 1;
	}
	buf_init(&conv7, 0);
	buf_init(&sigs7, 0);
	fit(c, &conv7, &sigs7, &msg, &msglen, &sigs, &eight);
	/* ENVID is 1 kB at most (the envelope's checks), 3 kB encoded */
	buf_init(&params, 4096);
	if (c->caps.size)
		buf_printf(&params, " SIZE=%llu",
		    (unsigned long long)(msglen + sigs->len));
	if (eight && c->caps.eightbit)
		buf_puts(&params, " BODY=8BITMIME");
	if (utf8)
		buf_puts(&params, " SMTPUTF8");
	if (c->caps.dsn && ret != NULL)
		buf_printf(&params, " RET=%s", ret);
	if (c->caps.dsn && envid != NULL) {
		/* RFC 3461 4.4: the envelope keeps it decoded */
		buf_puts(&params, " ENVID=");
		xtext_encode(sv_from(envid), &params);
	}
	(void)xsnprintf(mail, sizeof(mail), "MAIL FROM:<%s>%s",
	    rec_get_str(&j->env.head, "sender"), buf_cstr(&params));
	buf_free(&params);

	/* the recipients still to ask: not those an earlier host answered */
	ask = xcalloc(j->n ? j->n : 1, sizeof(*ask));
	for (i = 0; i < j->n; i++)
		if (j->rc[i].code == 0)
			ask[nask++] = i;
	if (nask == 0) {
		c->usable = 1;
		goto out;
	}
	ncmd = nask + 2;
	group = c->caps.pipelining ? PIPE_GROUP : 1;
	for (sent = got = 0; got < ncmd; ) {
		/* one by one, stop as soon as the rest is pointless */
		if (group == 1 && ((got > 0 && mail_code != 250) ||
		    (got == ncmd - 1 && accepted == 0)))
			break;
		for (k = sent; k < ncmd && k - got < group; k++)
			if (put_envelope_cmd(j, c, ask, nask, k, mail) == -1)
				goto lost;
		sent = k;
		if (io_flush(&c->io) != IO_OK)
			goto lost;
		for (; got < sent; got++) {
			if ((code = reply(c)) == -1)
				goto lost;
			if (got == 0)
				mail_code = code;
			else if (got == ncmd - 1)
				data_code = code;
			else if (mail_code != 250)
				;	/* 503s after a refused MAIL */
			else if (code == 250 || code == 251) {
				j->rc[ask[got - 1]].code = -1;
				accepted++;	/* DATA decides */
			} else
				answer(&j->rc[ask[got - 1]], code,
				    buf_cstr(&c->text), c->relay);
		}
	}
	if (mail_code != 250) {
		if (mail_code >= 500)
			for (i = 0; i < nask; i++)
				answer(&j->rc[ask[i]], mail_code,
				    buf_cstr(&c->text), c->relay);
		else
			job_fail_said(j, c, mail_code);
		r = mail_code >= 500;
	}
	if (data_code == 354 && (mail_code != 250 || accepted == 0)) {
		/* RFC 2920 3.1: a pipelined DATA the server took without
		 * recipients gets an empty message */
		if (io_puts(&c->io, ".\r\n") != IO_OK ||
		    io_flush(&c->io) != IO_OK || reply(c) == -1)
			goto lost;
		done = 1;
	} else if (data_code == 354) {
		c->io.timeout_ms = (int)config_num(R.cf, NULL,
		    "remote_data_timeout") * 1000;
		code = send_body(c, sigs, msg, msglen) == 0 ? reply(c) : -1;
		c->io.timeout_ms = (int)config_num(R.cf, NULL,
		    "remote_command_timeout") * 1000;
		if (code == -1)
			goto lost;
		data_code = code;
		done = 1;
	}
	for (i = 0; i < j->n; i++)
		if (j->rc[i].code == -1) {
			answer(&j->rc[i], data_code, buf_cstr(&c->text),
			    c->relay);
			j->rc[i].peer_dsn = c->caps.dsn;
		}
	/* what the server refused leaves the connection in the middle of
	 * a transaction: RSET (RFC 5321 4.1.1.5) before another */
	c->usable = done || cmd(c, "RSET") == 250;
	goto out;
lost:
	/* the connection broke: what was accepted is not known */
	for (i = 0; i < j->n; i++)
		if (j->rc[i].code == -1)
			j->rc[i].code = 0;
	job_fail(j, 451, "4.4.2 the connection was lost during delivery");
	r = accepted > 0;
	c->usable = 0;
out:
	free(ask);
	buf_free(&conv7);
	buf_free(&sigs7);
	return r;
}

