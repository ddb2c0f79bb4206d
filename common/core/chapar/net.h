/*
 * net: listener addresses, binding, peer addresses, network lists.
 */
#ifndef CHAPAR_NET_H
#define CHAPAR_NET_H

#include <sys/socket.h>

#include <netinet/in.h>

#include "chapar/buf.h"

#define NET_ADDRSTRLEN 128	/* "[ffff:...]:65535", "unix:/path" */

/* A listen address: "host:port", "[v6]:port" or "*:port" (all addresses,
 * IPv4 and IPv6).  Host names are not resolved: a listener is an
 * address. */
struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[NET_ADDRSTRLEN];
};

/* Parse one listen address; "*:port" yields two (0.0.0.0 and ::), so out
 * must have room for 2; an absolute path is a UNIX-domain socket (its
 * text "unix:PATH").  Returns the count (1 or 2), or -1 with *err. */
int listen_addr_parse(struct sv, struct listen_addr out[2], const char **error_r);
/* socket, SO_REUSEADDR, IPV6_V6ONLY for "::", bind, listen(backlog),
 * non-blocking, close-on-exec.  A UNIX-domain socket replaces a stale
 * socket file of the same name (never another kind of file) and gets
 * mode 0666: protect it with its directory.  The descriptor, or -1 with
 * a message. */
int listen_bind(const struct listen_addr *, int backlog, struct buf *err);

/* A daemon's UNIX-domain socket (authd, enqueue): a stale socket file is
 * replaced; a live one ("another WHO is running") or another kind of
 * file is an error.  Born mode 0600, non-blocking, close-on-exec.  The
 * descriptor, or -1 with a message. */
int unix_listen(const char *path, const char *who, struct buf *err);
/* A blocking connection to a UNIX socket; -1 with "cannot connect to WHO
 * at PATH: reason" in err. */
int unix_connect(const char *path, const char *who, struct buf *err);

/* Text of a socket address without port ("192.0.2.1", "2001:db8::1"),
 * IPv4-mapped IPv6 shown as IPv4; and the port. */
void sockaddr_text(const struct sockaddr *, char *out, size_t len);
int sockaddr_port(const struct sockaddr *);

/* A network: "192.0.2.0/24", "2001:db8::/32", or one address. */
struct netmask {
	int family;
	unsigned char addr[16];
	int bits;
};
int netmask_parse(struct sv, struct netmask *);
/* Does the address (text from sockaddr_text) fall in any of the n
 * networks? */
int netmask_match(const struct netmask *, size_t n, const char *addr);

struct config;
/* Every listen, listen_tls and client_limit_exceptions entry of every
 * [section] parses; else -1 with "FILE: [section] key = value: why". */
int config_check_services(const struct config *, struct buf *err);

#endif
