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
 * (remote_tls = may; encrypt insists), the certificate checked and the
 * result logged.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

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
#include "smtp.h"

#define CMD_TIMEOUT_MS (5 * 60 * 1000)	/* RFC 5321 4.5.3.2 */
#define DATA_TIMEOUT_MS (10 * 60 * 1000)
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
};

struct job {
	struct queue_env env;
	const char *domain;
	char *msg;		/* the message, mapped */
	uint64_t size;		/* with the signatures */
	struct buf sigs;	/* DKIM-Signature fields, sent first */
	int relayhost;		/* going through relayhost */
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
		(void)buf_printf(&j->rc[i].reply, "%d %s", code, text);
		(void)xsnprintf(j->rc[i].relay, sizeof(j->rc[i].relay), "%s",
		    relay);
	}
}

/* --- an SMTP conversation ------------------------------------------------ */

struct conv {
	struct io io;
	char relay[320];	/* host[ip]:port */
	int esmtp;
	struct smtp_caps caps;	/* what EHLO offered */
	struct buf text;	/* the last reply, lines joined */
};

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
			(void)buf_putc(&c->text, ' ');
		if (c->text.len < 2048)
			(void)buf_append(&c->text, text.p, text.n < 1024 ?
			    text.n : 1024);
	} while (more);
	return code;
}

static int
reply(struct conv *c)
{
	return reply_caps(c, NULL);
}

static int
cmd(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2,
    3)));

static int
cmd(struct conv *c, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -1;
	if (io_printf(&c->io, "%s\r\n", line) != IO_OK ||
	    io_flush(&c->io) != IO_OK)
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
	(void)buf_printf(&r->reply, "%d %s", code, text);
	(void)xsnprintf(r->relay, sizeof(r->relay), "%s", relay);
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
	(void)buf_putc(&raw, '\0');
	(void)buf_append(&raw, R.relay_user.data, R.relay_user.len);
	(void)buf_putc(&raw, '\0');
	(void)buf_append(&raw, R.relay_pass.data, R.relay_pass.len);
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

/*
 * One conversation with one address.  Returns 1 when the job is settled
 * as far as this host can (every recipient has an answer), 0 to try the
 * next host.
 */
static int
converse(struct job *j, struct conv *c, const char *name)
{
	const char *body = rec_get_str(&j->env.head, "body");
	const char *ret = rec_get_str(&j->env.head, "ret");
	const char *envid = rec_get_str(&j->env.head, "envid");
	const char *policy = config_str(R.cf, NULL, "remote_tls");
	int utf8 = rec_get_str(&j->env.head, "smtputf8") != NULL;
	int code, eight = body != NULL && strcmp(body, "7BIT") != 0;
	struct buf params, err, conv7, sigs7;
	const struct buf *sigs = &j->sigs;
	const char *msg = j->msg;
	uint64_t msglen = j->size - j->sigs.len;
	size_t i, accepted = 0;
	char mail[2048];
	int r = 1;

	if ((code = reply(c)) != 220)
		return 0;	/* no greeting, or "go away": the next */
	if ((code = hello(c)) != 250)
		return 0;
	/* RFC 3207: TLS when offered; a failed handshake costs the
	 * connection, and with "may" the next try is in the clear */
	if (c->caps.starttls && strcmp(policy, "none") != 0) {
		buf_init(&err, 1024);
		if (cmd(c, "STARTTLS") != 220 || tls_connect(R.tls, &c->io,
		    name, 0, &err) == -1) {
			log_info("%s: STARTTLS failed: %s", c->relay,
			    buf_cstr(&err));
			buf_free(&err);
			return 0;
		}
		buf_free(&err);
		log_info("%s: TLS %s, %s, certificate %s", c->relay,
		    tls_version(&c->io), tls_cipher(&c->io),
		    tls_verified(&c->io) ? "verified" : "not verified");
		if (hello(c) != 250)
			return 0;
	} else if (strcmp(policy, "encrypt") == 0) {
		settle(j, 451, "4.7.4", "4.7.4 TLS is required and the server "
		    "does not offer it", c->relay);
		return 0;
	}
	/* RFC 4954 with the smarthost's credentials: over TLS only */
	if (j->relayhost && R.relay_user.len > 0 && smarthost_auth(j, c) == -1)
		return 1;
	/* what the server cannot take, no other can be asked for */
	if (c->caps.size_max > 0 && j->size > c->caps.size_max) {
		settle(j, 552, "5.3.4", "5.3.4 the message is larger than the "
		    "server takes", c->relay);
		return 1;
	}
	if (utf8 && !c->caps.smtputf8) {
		settle(j, 553, "5.6.7", "5.6.7 the server does not take "
		    "SMTPUTF8 mail", c->relay);
		return 1;
	}
	/* RFC 6152 3: 8-bit mail to a server without 8BITMIME goes as
	 * quoted-printable, signed again in that form */
	/* quoted-printable is at most 3 bytes a byte, with soft breaks */
	buf_init(&conv7, (size_t)(msglen * 4 + 65536));
	buf_init(&sigs7, 0);
	if (eight && !c->caps.eightbit && mime_8to7(j->msg, msglen, &conv7)) {
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
		(void)buf_printf(&params, " SIZE=%llu",
		    (unsigned long long)(msglen + sigs->len));
	if (eight && c->caps.eightbit)
		(void)buf_puts(&params, " BODY=8BITMIME");
	if (utf8)
		(void)buf_puts(&params, " SMTPUTF8");
	if (c->caps.dsn && ret != NULL)
		(void)buf_printf(&params, " RET=%s", ret);
	if (c->caps.dsn && envid != NULL)
		(void)buf_printf(&params, " ENVID=%s", envid);
	(void)xsnprintf(mail, sizeof(mail), "MAIL FROM:<%s>%s",
	    rec_get_str(&j->env.head, "sender"), buf_cstr(&params));
	buf_free(&params);
	code = cmd(c, "%s", mail);
	if (code != 250) {
		if (code >= 500)
			for (i = 0; i < j->n; i++)
				answer(&j->rc[i], code, buf_cstr(&c->text),
				    c->relay);
		r = code >= 500;
		goto out;
	}
	for (i = 0; i < j->n; i++) {
		const char *notify = rec_get_str(j->rc[i].r, "notify");

		code = cmd(c, "RCPT TO:<%s>%s%s", rec_get_str(j->rc[i].r,
		    "rcpt"), c->caps.dsn && notify ? " NOTIFY=" : "",
		    c->caps.dsn && notify ? notify : "");
		if (code == -1) {
			r = accepted > 0;
			goto out;
		}
		if (code == 250 || code == 251) {
			j->rc[i].code = -1;	/* accepted; DATA decides */
			accepted++;
		} else
			answer(&j->rc[i], code, buf_cstr(&c->text), c->relay);
	}
	if (accepted == 0) {
		(void)cmd(c, "QUIT");
		goto out;
	}
	code = cmd(c, "DATA");
	if (code == 354) {
		c->io.timeout_ms = DATA_TIMEOUT_MS;
		code = send_body(c, sigs, msg, msglen) == 0 ? reply(c) : -1;
	}
	for (i = 0; i < j->n; i++)
		if (j->rc[i].code == -1) {
			if (code == -1) {
				j->rc[i].code = 0;	/* unknown: defer */
				continue;
			}
			answer(&j->rc[i], code, buf_cstr(&c->text), c->relay);
		}
	if (code != -1)
		(void)cmd(c, "QUIT");
	r = code != -1;
out:
	buf_free(&conv7);
	buf_free(&sigs7);
	return r;
}

/* Connect to one address; the conversation; 1 when settled. */
static int
try_address(struct job *j, const char *name, const char *addr, int port)
{
	struct sockaddr_storage ss;
	struct conv c;
	socklen_t len;
	int fd, r = 0, flags = ETIMEDOUT;
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
		return 0;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return 0;
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
	memset(&c, 0, sizeof(c));
	(void)xsnprintf(c.relay, sizeof(c.relay), "%s[%s]:%d", name, addr,
	    port);
	buf_init(&c.text, 4096);
	io_init(&c.io, fd, 4096, CMD_TIMEOUT_MS);
	r = converse(j, &c, name);
	if (!r)
		log_info("%s: no delivery through this host: %s", c.relay,
		    c.text.len ? log_esc_str(buf_cstr(&c.text)) :
		    "connection lost");
	io_free(&c.io, 1);
	buf_free(&c.text);
	return r;
refused:
	log_info("%s[%s]:%d: cannot connect: %s", name, addr, port,
	    strerror(errno));
	close(fd);
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

static void
deliver(struct job *j)
{
	struct dns_mx *mx = NULL;
	struct buf addrs;
	enum dns_status s;
	size_t n = 0, i;
	int nullmx = 0, port, hop_port = 0, settled = 0;
	char hop[256];
	struct sv rest, a;

	port = (int)config_num(R.cf, NULL, "remote_smtp_port");
	if ((j->relayhost = next_hop(j->domain, hop, sizeof(hop),
	    &hop_port)) != 0) {
		j->relayhost = j->relayhost == 2;
		mx = xcalloc(1, sizeof(*mx));
		(void)xsnprintf(mx->host, sizeof(mx->host), "%s", hop);
		if (hop_port > 0)
			port = hop_port;
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
		if (dns_addrs(R.dns, mx[i].host, config_bool(R.cf, NULL,
		    "remote_ipv6"), &addrs) != DNS_OK) {
			/* an address literal needs no look-up */
			buf_reset(&addrs);
			(void)buf_printf(&addrs, "%s\n", mx[i].host);
		}
		rest = buf_sv(&addrs);
		while (rest.n > 0 && !settled) {
			char addr[64];

			(void)sv_split(&rest, '\n', &a);
			if (a.n == 0 || a.n >= sizeof(addr))
				continue;
			memcpy(addr, a.p, a.n);
			addr[a.n] = '\0';
			settled = try_address(j, mx[i].host, addr, port);
		}
	}
	buf_free(&addrs);
	free(mx);
	if (!settled)
		settle(j, 451, "4.4.1", "4.4.1 no mail server of the domain "
		    "could be reached", "none");
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
	(void)buf_append(&R.relay_user, user.p, user.n);
	(void)buf_append(&R.relay_pass, line.p, line.n);
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
		rec_encode(&r, &out);
		(void)buf_putc(&out, '\n');
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
	job_answer(fd, j);
	if (j->msg != NULL && j->msg != MAP_FAILED)
		(void)munmap(j->msg, j->size);
	for (i = 0; i < j->n; i++)
		buf_free(&j->rc[i].reply);
	free(j->rc);
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
	queue_env_free(&j.env);
	buf_free(&in);
	close(fd);
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
			(void)buf_printf(&empty, "%s/empty", config_str(R.cf,
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

		/* a second at most, so a SIGTERM is not missed for long */
		if (poll(&p, 1, 1000) != 1)
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR)
				continue;
			log_fatal("accept: %s", strerror(errno));
		}
		serve_conn(fd);
	}
	log_info("stopping");
	dns_close(&R.dns);
	tls_client_free(&R.tls);
	buf_free(&err);
	return 0;
}
