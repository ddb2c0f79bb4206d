/*
 * remote: the SMTP client (remote(8)) -- what the queue manager hands it
 * goes to the destination's mail exchangers.
 *
 * chapard runs it as a daemon; as root it reads /etc/resolv.conf and the
 * CA certificates, binds remote_socket (0660, group of queue_user), then
 * runs as chapar-remote chrooted into an empty directory.  It talks to
 * nothing but the queue manager on that socket, DNS and SMTP servers.
 *
 * A job is one message for recipients of one domain, in the queue's
 * frames (queue.h): E with the envelope text (the recipients of this
 * job only), D with the message, C; the answer is K with one line per
 * recipient, in order: code=, dsn=, reply=, relay=.
 *
 * The destination: the host of transport_map for the domain, else
 * relayhost, else its MX hosts in order (RFC 5321 5.1; a null MX, RFC
 * 7505, fails at once), each address in turn, IPv6 first.  A host that
 * does not answer, greets with 4xx/5xx or fails before any recipient
 * was accepted makes way for the next.  STARTTLS whenever offered
 * (remote_tls or the domain's remote_tls_policy: may; encrypt insists;
 * verify also wants the certificate verified), the certificate checked
 * and the result logged.
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

#define HOSTS_MAX 16

static struct {
	struct config *cf;
	struct dns *dns;
	struct tls_client *tls;
	struct dkim_key *keys;	/* DKIM, read before the chroot */
	size_t nkeys;
	struct buf relay_user, relay_pass;	/* relayhost_auth_file */
	char host[256];
	volatile sig_atomic_t quit;
} R;

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

/* Give every recipient without an answer this one. */
static void
settle(struct job *j, int code, const char *dsn, const char *text,
    const char *relay)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		if (j->rc[i].code != 0)
			continue;
		j->rc[i].code = code;
		(void)xsnprintf(j->rc[i].dsn, sizeof(j->rc[i].dsn), "%s", dsn);
		buf_reset(&j->rc[i].reply);
		buf_printf(&j->rc[i].reply, "%d %s", code, text);
		(void)xsnprintf(j->rc[i].relay, sizeof(j->rc[i].relay), "%s",
		    relay);
	}
}

/* --- an SMTP conversation ------------------------------------------------ */

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
static struct {
	struct conv *c;
	char key[300];
	uint64_t idle_ms;	/* since when it waits */
	uint64_t opened;	/* seconds */
} K;

/* A reply: its code, the text of its lines joined with blanks (2 kB at
 * most); with caps, the lines after the first are EHLO keywords. */
static int
reply_caps(struct conv *c, struct smtp_caps *caps)
{
	struct sv line, text;
	int crlf, code, first = -1, more, n = 0;

	buf_reset(&c->text);
	do {
		if (io_getline(&c->io, &line, &crlf) != IO_OK ||
		    smtp_reply_line(line, &code, &more, &text) == -1 ||
		    (first != -1 && code != first))
			return -1;
		first = code;
		if (caps != NULL && n++ > 0)
			smtp_caps_line(text, caps);
		if (c->text.len > 0 && c->text.len < 2048)
			buf_putc(&c->text, ' ');
		if (c->text.len < 2048)
			buf_append(&c->text, text.p, text.n < 1024 ?
			    text.n : 1024);
	} while (more);
	return code;
}

static int
reply(struct conv *c)
{
	return reply_caps(c, NULL);
}

/* Queue a command line (not sent until a flush). */
static int
vput(struct conv *c, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static int
vput(struct conv *c, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -1;
	return io_printf(&c->io, "%s\r\n", line) == IO_OK ? 0 : -1;
}

static int
put(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2,
    3)));

static int
put(struct conv *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vput(c, fmt, ap);
	va_end(ap);
	return r;
}

/* A command, sent now; its reply's code, or -1. */
static int
cmd(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2,
    3)));

static int
cmd(struct conv *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vput(c, fmt, ap);
	va_end(ap);
	if (r == -1 || io_flush(&c->io) != IO_OK)
		return -1;
	return reply(c);
}

static int
hello(struct conv *c)
{
	int code;

	memset(&c->caps, 0, sizeof(c->caps));
	if (io_printf(&c->io, "EHLO %s\r\n", R.host) != IO_OK ||
	    io_flush(&c->io) != IO_OK)
		return -1;
	code = reply_caps(c, &c->caps);
	c->esmtp = code == 250;
	if (code >= 500 && code < 600) {
		memset(&c->caps, 0, sizeof(c->caps));
		code = cmd(c, "HELO %s", R.host);
	}
	return code;
}

/* The end of a connection: QUIT when it is in a state to take it (a
 * short wait for the 221), then the socket. */
static void
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

/* The signatures, the message dot-stuffed, then "." (it is CRLF
 * already; no signature line starts with a dot). */
static int
send_body(struct conv *c, const struct buf *sigs, const char *p,
    uint64_t n)
{
	uint64_t i, start = 0;
	int bol = 1;

	if (io_write(&c->io, sigs->data, sigs->len) != IO_OK)
		return -1;
	for (i = 0; i < n; i++) {
		if (bol && p[i] == '.') {
			if (io_write(&c->io, p + start, i - start) != IO_OK ||
			    io_write(&c->io, ".", 1) != IO_OK)
				return -1;
			start = i;
		}
		bol = p[i] == '\n';
	}
	if (io_write(&c->io, p + start, n - start) != IO_OK)
		return -1;
	return io_puts(&c->io, bol ? ".\r\n" : "\r\n.\r\n") == IO_OK &&
	    io_flush(&c->io) == IO_OK ? 0 : -1;
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

	buf_init(&t, 2048);
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
static void
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
static int
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
 * One transaction on a connection that is ready for it.  With
 * PIPELINING (RFC 2920 3.1) MAIL, the RCPTs and DATA go in groups of up
 * to PIPE_GROUP commands, the replies read after each group; without,
 * one by one.  Recipients that already have an answer (from an earlier
 * host) are not asked again.  1: settled as far as this host can; 0:
 * try the next host.  c->usable says whether the connection can carry
 * another transaction.
 */
#define PIPE_GROUP 100

static int
transaction(struct job *j, struct conv *c)
{
	const char *body = rec_get_str(&j->env.head, "body");
	const char *ret = rec_get_str(&j->env.head, "ret");
	const char *envid = rec_get_str(&j->env.head, "envid");
	int utf8 = rec_get_str(&j->env.head, "smtputf8") != NULL;
	int code, eight = body != NULL && strcmp(body, "7BIT") != 0;
	struct buf params, err, conv7, sigs7;
	const struct buf *sigs = &j->sigs;
	const char *msg = j->msg;
	uint64_t msglen = j->size - j->sigs.len;
	size_t i, k, sent, got, ncmd, group, accepted = 0, nask = 0;
	size_t *ask = NULL;
	int mail_code = 0, data_code = 0, r = 1, done = 0, seven = 0;
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
	/* RFC 6152 3: 8-bit mail to a server without 8BITMIME goes as
	 * quoted-printable, signed again in that form (quoted-printable is
	 * at most 3 bytes a byte, with soft breaks) */
	buf_init(&conv7, 0);
	buf_init(&sigs7, 0);
	if (eight && !c->caps.eightbit) {
		buf_free(&conv7);
		buf_init(&conv7, (size_t)(msglen * 4 + 65536));
	}
	/* -1: its 7-bit form passes conv7's limit (many small parts);
	 * it goes as it is, like a message with binary parts */
	if (eight && !c->caps.eightbit && (seven = mime_8to7(j->msg, msglen,
	    &conv7)) == -1)
		log_warning("%s: no 8BITMIME, and the message is too large to "
		    "make 7-bit: sent as it is", c->relay);
	if (seven == 1) {
		msg = conv7.data;
		msglen = conv7.len;
		buf_init(&err, 1024);
		if (R.nkeys > 0 && dkim_sign(R.keys, R.nkeys, msg, msglen,
		    now_sec(), &sigs7, &err) == -1)
			buf_reset(&sigs7);
		buf_free(&err);
		sigs = &sigs7;
		eight = 0;
		log_info("%s: no 8BITMIME: sent as quoted-printable", c->relay);
	}
	buf_init(&params, 1024);
	if (c->caps.size)
		buf_printf(&params, " SIZE=%llu",
		    (unsigned long long)(msglen + sigs->len));
	if (eight && c->caps.eightbit)
		buf_puts(&params, " BODY=8BITMIME");
	if (utf8)
		buf_puts(&params, " SMTPUTF8");
	if (c->caps.dsn && ret != NULL)
		buf_printf(&params, " RET=%s", ret);
	if (c->caps.dsn && envid != NULL)
		buf_printf(&params, " ENVID=%s", envid);
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

/* Connect to one address (non-blocking, remote_connect_timeout): the
 * descriptor, or -1. */
static int
dial(const char *name, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, flags = ETIMEDOUT;
	struct pollfd pfd;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->
	    sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		len = sizeof(struct sockaddr_in6);
	} else if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->
	    sin_addr) == 1) {
		ss.ss_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		len = sizeof(struct sockaddr_in);
	} else
		return -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == -1) {
		if (errno != EINPROGRESS)
			goto refused;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		len = sizeof(flags);
		/* flags: ETIMEDOUT when poll gives up, else SO_ERROR */
		if (poll(&pfd, 1, (int)config_num(R.cf, NULL,
		    "remote_connect_timeout") * 1000) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &flags, &len) == -1 ||
		    flags != 0) {
			errno = flags != 0 ? flags : EIO;
			goto refused;
		}
	}
	return fd;
refused:
	log_info("%s[%s]:%d: cannot connect: %s", name, addr, port,
	    strerror(errno));
	close(fd);
	return -1;
}

/* The kept connection goes (QUIT first). */
static void
cache_drop(void)
{
	conv_close(K.c, 1);
	K.c = NULL;
	K.key[0] = '\0';
}

/* Keep c for the next job to the destination key, or close it. */
static void
cache_keep(struct conv *c, const char *key)
{
	if (!c->usable || config_num(R.cf, NULL,
	    "remote_connection_cache_time") == 0 ||
	    (uint64_t)now_sec() >= K.opened + config_num(R.cf, NULL,
	    "remote_connection_reuse_time")) {
		conv_close(c, 1);
		return;
	}
	K.c = c;
	(void)xsnprintf(K.key, sizeof(K.key), "%s", key);
	K.idle_ms = now_ms();
}

/* One address: connect, open the session, the transaction; 1 when the
 * job is settled. */
static int
try_address(struct job *j, const char *key, const char *name,
    const char *addr, int port)
{
	struct conv *c;
	int fd, r;

	if ((fd = dial(name, addr, port)) == -1)
		return 0;
	c = xcalloc(1, sizeof(*c));
	(void)xsnprintf(c->relay, sizeof(c->relay), "%s[%s]:%d", name, addr,
	    port);
	buf_init(&c->text, 4096);
	io_init(&c->io, fd, 4096, (int)config_num(R.cf, NULL,
	    "remote_command_timeout") * 1000);
	K.opened = (uint64_t)now_sec();
	if ((r = session_open(j, c, name)) == 0)
		r = transaction(j, c);
	else
		r = r == 1;
	if (!r)
		log_info("%s: no delivery through this host: %s", c->relay,
		    c->text.len ? log_esc_str(buf_cstr(&c->text)) :
		    "connection lost");
	if (r)
		cache_keep(c, key);
	else
		conv_close(c, 1);
	return r;
}

/* The job on the kept connection to the same destination: 1 when
 * settled there; 0 (the connection gone) to go the usual way. */
static int
try_cached(struct job *j, const char *key)
{
	struct conv *c = K.c;

	if (c == NULL)
		return 0;
	if (strcmp(K.key, key) != 0) {
		cache_drop();
		return 0;
	}
	K.c = NULL;
	/* RFC 5321 4.1.1.5: a clean start (and a check that it lives) */
	if (cmd(c, "RSET") != 250) {
		c->usable = 0;
		conv_close(c, 0);
		return 0;
	}
	log_info("%s: connection reused", c->relay);
	if (transaction(j, c)) {
		cache_keep(c, key);
		return 1;
	}
	conv_close(c, 1);
	return 0;
}

/* "host:port" or "[host]:port" of the configuration; port 0: default. */
static void
split_hostport(const char *s, char *host, size_t hlen, int *port)
{
	const char *colon = strrchr(s, ':');
	uint64_t p;

	*port = 0;
	if (colon != NULL && strchr(colon, ']') == NULL &&
	    parse_u64(sv_from(colon + 1), 65535, &p) == 0) {
		*port = (int)p;
		(void)xsnprintf(host, hlen, "%.*s", (int)(colon - s), s);
	} else
		(void)xsnprintf(host, hlen, "%s", s);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
}

/* The configured next hop for a domain: transport_map (1), then
 * relayhost (2); 0: the domain's MX. */
static int
next_hop(const char *domain, char *host, size_t hlen, int *port)
{
	const char *const *map;
	size_t n, i, dl = strlen(domain);

	n = config_list(R.cf, NULL, "transport_map", &map);
	for (i = 0; i < n; i++)
		if (strncasecmp(map[i], domain, dl) == 0 && map[i][dl] == '=') {
			split_hostport(map[i] + dl + 1, host, hlen, port);
			return 1;
		}
	if (config_str(R.cf, NULL, "relayhost")[0] != '\0') {
		split_hostport(config_str(R.cf, NULL, "relayhost"), host, hlen,
		    port);
		return 2;
	}
	return 0;
}

static int
is_addr_literal(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host,
	    a) == 1;
}

static void
deliver(struct job *j)
{
	struct dns_mx *mx = NULL;
	struct buf addrs;
	enum dns_status s;
	size_t n = 0, i;
	int nullmx = 0, port, hop_port = 0, settled = 0, kind;
	char hop[256], key[300];
	struct sv rest, a;

	port = (int)config_num(R.cf, NULL, "remote_smtp_port");
	if ((kind = next_hop(j->domain, hop, sizeof(hop), &hop_port)) != 0) {
		j->relayhost = kind == 2;
		if (hop_port > 0)
			port = hop_port;
		(void)xsnprintf(key, sizeof(key), "[%s]:%d", hop, port);
	} else
		(void)xsnprintf(key, sizeof(key), "%s", j->domain);
	if (try_cached(j, key))
		return;
	if (kind != 0) {
		mx = xcalloc(1, sizeof(*mx));
		(void)xsnprintf(mx->host, sizeof(mx->host), "%s", hop);
		n = 1;
		s = DNS_OK;
	} else
		s = dns_mx(R.dns, j->domain, &mx, &n, &nullmx);
	if (s == DNS_NXDOMAIN) {
		settle(j, 550, "5.1.2", "5.1.2 the domain does not exist",
		    "none");
		return;
	}
	if (s == DNS_OK && nullmx) {
		settle(j, 556, "5.1.10", "5.1.10 the domain accepts no mail "
		    "(null MX, RFC 7505)", "none");
		return;
	}
	if (s != DNS_OK) {
		settle(j, 451, "4.4.3", s == DNS_NODATA ? "4.4.3 the domain has "
		    "no mail server" : "4.4.3 the domain's mail servers cannot "
		    "be found now", "none");
		free(mx);
		return;
	}
	buf_init(&addrs, 4096);
	for (i = 0; i < n && i < HOSTS_MAX && !settled; i++) {
		if (is_addr_literal(mx[i].host)) {
			/* a configured [address] needs no look-up */
			buf_reset(&addrs);
			buf_printf(&addrs, "%s\n", mx[i].host);
		} else if (dns_addrs(R.dns, mx[i].host, config_bool(R.cf, NULL,
		    "remote_ipv6"), &addrs) != DNS_OK)
			continue;
		rest = buf_sv(&addrs);
		while (rest.n > 0 && !settled) {
			char addr[64];

			(void)sv_split(&rest, '\n', &a);
			if (a.n == 0 || a.n >= sizeof(addr))
				continue;
			memcpy(addr, a.p, a.n);
			addr[a.n] = '\0';
			settled = try_address(j, key, mx[i].host, addr, port);
		}
	}
	buf_free(&addrs);
	free(mx);
	if (!settled) {
		const char *why = j->fail.len > 0 ? buf_cstr(&j->fail) :
		    "4.4.1 no mail server of the domain could be reached";
		char dsn[16];
		int code = j->fail_code > 0 ? j->fail_code : 451;

		/* a host's refusal stays temporary: others may take it */
		if (code >= 500)
			code = 451;
		queue_reply_status(code, why, dsn);
		settle(j, code, dsn, why, "none");
	}
}

/* "USER PASSWORD" on the first line of the file (root's, read before the
 * chroot). */
static void
relay_secret(const char *path)
{
	struct buf text;
	struct sv line, rest, user;

	buf_init(&text, 4096);
	if (file_read(path, 4096, &text) == -1)
		log_fatal("relayhost_auth_file %s: %s", path, strerror(errno));
	rest = buf_sv(&text);
	(void)sv_split(&rest, '\n', &line);
	line = sv_trim(line);
	(void)sv_split(&line, ' ', &user);
	line = sv_trim(line);
	if (user.n == 0 || line.n == 0)
		log_fatal("relayhost_auth_file %s: expected \"USER PASSWORD\" "
		    "on the first line", path);
	buf_append(&R.relay_user, user.p, user.n);
	buf_append(&R.relay_pass, line.p, line.n);
	buf_free(&text);
}

/* --- jobs from the queue manager ----------------------------------------- */

/* The answer: K with a line per recipient. */
static void
job_answer(int fd, struct job *j)
{
	struct buf out;
	struct rec r;
	size_t i;

	buf_init(&out, 64 * 1024);
	for (i = 0; i < j->n; i++) {
		rec_init(&r);
		rec_set_u64(&r, "code", (uint64_t)(j->rc[i].code > 0 ?
		    j->rc[i].code : 451));
		rec_set_str(&r, "dsn", j->rc[i].code > 0 ? j->rc[i].dsn :
		    "4.4.2");
		rec_set(&r, "reply", j->rc[i].reply.len > 0 ?
		    buf_sv(&j->rc[i].reply) : sv_from("451 4.4.2 the "
		    "connection was lost during delivery"));
		rec_set_str(&r, "relay", j->rc[i].relay[0] ? j->rc[i].relay :
		    "none");
		if (j->rc[i].peer_dsn)
			rec_set_str(&r, "peer_dsn", "1");
		rec_encode(&r, &out);
		buf_putc(&out, '\n');
		rec_free(&r);
	}
	if (queue_frame_write(fd, QF_OK, out.data, out.len) == -1)
		log_warning("the queue manager went away before the answer");
	buf_free(&out);
}

/* One job: its envelope already parsed, its message in mfd. */
static void
job_run(int fd, struct job *j, int mfd)
{
	const char *at;
	size_t i;

	j->n = j->env.nrcpt;
	j->rc = xcalloc(j->n ? j->n : 1, sizeof(*j->rc));
	for (i = 0; i < j->n; i++) {
		j->rc[i].r = &j->env.rcpts[i];
		buf_init(&j->rc[i].reply, 1024);
	}
	at = j->n > 0 ? strrchr(rec_get_str(j->rc[0].r, "rcpt"), '@') :
	    NULL;
	j->domain = at != NULL ? at + 1 : "";
	j->msg = j->size > 0 ? mmap(NULL, j->size, PROT_READ, MAP_PRIVATE,
	    mfd, 0) : NULL;
	buf_init(&j->sigs, 4096);
	buf_init(&j->fail, 1024);
	j->fail_code = 0;
	if (j->msg == MAP_FAILED || j->domain[0] == '\0')
		settle(j, 451, "4.3.0", "4.3.0 the job could not be read",
		    "none");
	else {
		/* DKIM (RFC 6376): mail from a domain we hold a key for */
		struct buf err;

		buf_init(&err, 1024);
		if (R.nkeys > 0 && dkim_sign(R.keys, R.nkeys, j->msg, j->size,
		    now_sec(), &j->sigs, &err) == -1) {
			log_error("%s", buf_cstr(&err));
			buf_reset(&j->sigs);
		}
		buf_free(&err);
		j->size += j->sigs.len;
		deliver(j);
		j->size -= j->sigs.len;
	}
	buf_free(&j->sigs);
	buf_free(&j->fail);
	job_answer(fd, j);
	if (j->msg != NULL && j->msg != MAP_FAILED)
		(void)munmap(j->msg, j->size);
	for (i = 0; i < j->n; i++)
		buf_free(&j->rc[i].reply);
	free(j->rc);
}

/*
 * Between jobs: wait for the next one (1: it is coming), the kept SMTP
 * connection closed once idle for remote_connection_cache_time (0: the
 * wait goes on).  A second at most each time, so a SIGTERM is seen.
 */
static int
idle_wait(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t limit = config_num(R.cf, NULL,
	    "remote_connection_cache_time") * 1000, now = now_ms();
	int ms = 1000;

	if (K.c != NULL && now >= K.idle_ms + limit)
		cache_drop();
	if (K.c != NULL && K.idle_ms + limit - now < (uint64_t)ms)
		ms = (int)(K.idle_ms + limit - now);
	if (poll(&p, 1, ms) == 1)
		return 1;
	return 0;
}

/* A connection from the queue manager: jobs until it closes. */
static void
serve_conn(int fd)
{
	struct buf in;
	struct job j;
	struct sv p;
	ssize_t n, used;
	const char *why;
	int type, mfd = -1, open_job = 0;

	buf_init(&in, QUEUE_FRAME_MAX + 64 * 1024);
	memset(&j, 0, sizeof(j));
	queue_env_init(&j.env);
	while (!R.quit) {
		while ((used = queue_frame_take(&in, 0, &type, &p)) > 0) {
			if (type == QF_ENVELOPE && !open_job) {
				if (queue_env_parse(p, &j.env, &why) == -1 ||
				    (mfd = memfd_create("remote", MFD_CLOEXEC))
				    == -1) {
					log_warning("a bad job: %s", why);
					goto out;
				}
				j.size = 0;
				open_job = 1;
			} else if (type == QF_DATA && open_job) {
				if (write_all(mfd, p.p, p.n) == -1)
					goto out;
				j.size += p.n;
			} else if (type == QF_COMMIT && open_job) {
				job_run(fd, &j, mfd);
				close(mfd);
				mfd = -1;
				open_job = 0;
				queue_env_free(&j.env);
				queue_env_init(&j.env);
			} else
				goto out;
			memmove(in.data, in.data + used, in.len - (size_t)used);
			in.len -= (size_t)used;
		}
		if (used == -1 || buf_reserve(&in, 64 * 1024) == -1)
			break;
		if (!open_job && idle_wait(fd) == 0)
			continue;
		n = read(fd, in.data + in.len, in.cap - in.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		in.len += (size_t)n;
	}
out:
	if (mfd != -1)
		close(mfd);
	cache_drop();
	queue_env_free(&j.env);
	buf_free(&in);
	close(fd);
}

/*
 * Each connection of the queue manager gets a process of its own (the
 * queue manager opens as many as it runs deliveries at once,
 * remote_process_limit), which keeps at most one SMTP connection open
 * between jobs.  It dies with its parent.
 */
static void
spawn(int lfd, int fd)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_error("fork: %s", strerror(errno));
		close(fd);
		return;
	}
	if (pid > 0) {
		close(fd);
		return;
	}
	close(lfd);
	(void)signal(SIGTERM, SIG_DFL);
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(0);	/* the parent is already gone */
	serve_conn(fd);
	_exit(0);
}

int
main(int argc, char **argv)
{
	const char *sock, *ca;
	struct buf err;
	struct group *gr;
	uid_t uid, quid;
	gid_t gid, qgid;
	int lfd, fd;

	R.cf = daemon_init("remote", argc, argv, &R.quit);
	buf_init(&err, 4096);
	config_hostname(R.cf, R.host, sizeof(R.host));
	/* what the chroot will hide: resolv.conf, the CA certificates */
	ca = config_str(R.cf, NULL, "remote_tls_ca_file");
	if (ca[0] != '\0' && access(ca, R_OK) == -1) {
		log_warning("%s: %s; certificates are not verified", ca,
		    strerror(errno));
		ca = "";
	}
	tls_policy_check();
	buf_init(&R.relay_user, 256);
	buf_init(&R.relay_pass, 256);
	if (config_str(R.cf, NULL, "relayhost_auth_file")[0] != '\0')
		relay_secret(config_str(R.cf, NULL, "relayhost_auth_file"));
	if ((R.dns = dns_open(R.cf, &err)) == NULL ||
	    tls_client_new(ca, &R.tls, &err) == -1 ||
	    dkim_keys_load(config_str(R.cf, NULL, "dkim_dir"), &R.keys,
	    &R.nkeys, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	sock = config_str(R.cf, NULL, "remote_socket");
	if ((lfd = unix_listen(sock, "remote", &err)) == -1)
		log_fatal("%s", buf_cstr(&err));
	(void)fcntl(lfd, F_SETFL, 0);		/* blocking accept */
	if (geteuid() == 0) {
		if (priv_lookup("chapar-remote", &uid, &gid, &err) == -1 ||
		    priv_lookup(config_str(R.cf, NULL, "queue_user"), &quid,
		    &qgid, &err) == -1)
			log_fatal("%s (chapar init creates it)",
			    buf_cstr(&err));
		/* only the queue manager (queue_user's group) may connect */
		(void)quid;
		gr = getgrgid(qgid);
		if (chmod(sock, 0660) == -1 || chown(sock, 0, gr != NULL ?
		    gr->gr_gid : qgid) == -1)
			log_fatal("%s: %s", sock, strerror(errno));
		{
			struct buf empty;

			buf_init(&empty, 4096);
			buf_printf(&empty, "%s/empty", config_str(R.cf,
			    NULL, "run_dir"));
			if (priv_drop(uid, gid, buf_cstr(&empty), &err) == -1)
				log_fatal("%s", buf_cstr(&err));
			buf_free(&empty);
		}
	}
	log_info("ready: socket=%s, uid=%ld, %zu DKIM keys", sock,
	    (long)geteuid(), R.nkeys);
	while (!R.quit) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		while (waitpid(-1, NULL, WNOHANG) > 0)
			;	/* the processes whose connection ended */
		/* a second at most, so a SIGTERM is not missed for long */
		if (poll(&p, 1, 1000) != 1)
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_fatal("accept: %s", strerror(errno));
		}
		spawn(lfd, fd);
	}
	log_info("stopping");
	dns_close(&R.dns);
	tls_client_free(&R.tls);
	buf_free(&err);
	return 0;
}
