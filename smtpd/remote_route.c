/*
 * remote_route.c: where a job of remote(8) goes -- transport_map,
 * relayhost, or the domain's MX hosts in order (RFC 5321 5.1, RFC 7505
 * null MX), each address in turn, IPv6 first -- and the connection kept
 * for the next job to the same destination.
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

struct kept K;

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
void
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
	buf_init(&c->text, TEXT_MAX + 1);
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

void
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
	/* a host's addresses as text: a DNS message (64 kB) of A and one of
	 * AAAA records, each record no shorter than a third of its text */
	buf_init(&addrs, 4 * 65536);
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

