/*
 * net.c: listen addresses and networks.  Parsers take (data, len) and
 * trust nothing; the only I/O is in listen_bind.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chapar/config.h"
#include "chapar/net.h"
#include "chapar/util.h"

static int
parse_port(struct sv p, in_port_t *port)
{
	uint64_t v;

	if (parse_u64(p, 65535, &v) == -1 || v == 0)
		return -1;
	*port = htons((uint16_t)v);
	return 0;
}

static void
set_text(struct listen_addr *a)
{
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr *sa = (const struct sockaddr *)&a->ss;

	sockaddr_text(sa, host, sizeof(host));
	if (sa->sa_family == AF_INET6)
		(void)xsnprintf(a->text, sizeof(a->text), "[%s]:%d", host,
		    sockaddr_port(sa));
	else
		(void)xsnprintf(a->text, sizeof(a->text), "%s:%d", host,
		    sockaddr_port(sa));
}

static int
fill(struct listen_addr *a, int family, const char *host, in_port_t port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (family == AF_INET) {
		s4->sin_family = AF_INET;
		s4->sin_port = port;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		a->len = sizeof(*s4);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = port;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		a->len = sizeof(*s6);
	}
	set_text(a);
	return 0;
}

static int
unix_addr(struct sv v, struct listen_addr out[2], const char **err)
{
	struct sockaddr_un *su = (struct sockaddr_un *)&out[0].ss;

	memset(&out[0], 0, sizeof(out[0]));
	if (v.n >= sizeof(su->sun_path) || sv_has_nul(v)) {
		*err = "socket path too long";
		return -1;
	}
	su->sun_family = AF_UNIX;
	memcpy(su->sun_path, v.p, v.n);
	out[0].len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + v.n +
	    1);
	(void)xsnprintf(out[0].text, sizeof(out[0].text), "unix:%.*s",
	    (int)v.n, v.p);
	return 1;
}

int
listen_addr_parse(struct sv v, struct listen_addr out[2], const char **error_r)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon;
	struct sv h, p;
	in_port_t port;

	v = sv_trim(v);
	if (v.n > 0 && v.p[0] == '/')
		return unix_addr(v, out, error_r);
	colon = v.n > 0 ? memrchr(v.p, ':', v.n) : NULL;
	if (colon == NULL) {
		*error_r = "expected host:port, [ipv6]:port or *:port";
		return -1;
	}
	h = sv_make(v.p, (size_t)(colon - v.p));
	p = sv_make(colon + 1, v.n - h.n - 1);
	if (parse_port(p, &port) == -1) {
		*error_r = "bad port (expected 1 to 65535)";
		return -1;
	}
	if (sv_eq_str(h, "*")) {
		(void)fill(&out[0], AF_INET, "0.0.0.0", port);
		(void)fill(&out[1], AF_INET6, "::", port);
		return 2;
	}
	if (h.n >= 2 && h.p[0] == '[' && h.p[h.n - 1] == ']') {
		h.p++;
		h.n -= 2;
		if (h.n >= sizeof(host))
			goto bad;
		memcpy(host, h.p, h.n);
		host[h.n] = '\0';
		if (fill(&out[0], AF_INET6, host, port) == -1)
			goto bad;
		return 1;
	}
	if (h.n == 0 || h.n >= sizeof(host))
		goto bad;
	memcpy(host, h.p, h.n);
	host[h.n] = '\0';
	if (fill(&out[0], AF_INET, host, port) == 0)
		return 1;
bad:
	*error_r = "bad address (expected an IPv4 address, [IPv6] or *; host "
	    "names are not resolved)";
	return -1;
}

/* A socket file left by an earlier run goes; anything else stays. */
static int
unix_stale(const struct listen_addr *a)
{
	const char *path = ((const struct sockaddr_un *)&a->ss)->sun_path;
	struct stat st;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = EEXIST;
		return -1;
	}
	return unlink(path);
}

int
listen_bind(const struct listen_addr *a, int backlog, struct buf *err)
{
	int fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		goto fail;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "*:port" binds :: separately from 0.0.0.0. */
	if (a->ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (a->ss.ss_family == AF_UNIX && unix_stale(a) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    listen(fd, backlog) == -1)
		goto fail;
	if (a->ss.ss_family == AF_UNIX && chmod(((const struct sockaddr_un *)
	    &a->ss)->sun_path, 0666) == -1)
		goto fail;
	return fd;
fail:
	buf_reset(err);
	buf_cut_printf(err, "%s: %s", a->text, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/* A blocking, close-on-exec connection to the UNIX socket at path, or
 * -1 with "WHO at PATH: reason" in err. */
int
unix_connect(const char *path, const char *who, struct buf *err)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		buf_reset(err);
		buf_cut_printf(err, "%s at %s: socket path too long", who,
		    path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		buf_reset(err);
		buf_cut_printf(err, "cannot connect to %s at %s: %s", who,
		    path, strerror(errno));
		if (fd != -1)
			(void)close(fd);
		return -1;
	}
	return fd;
}

int
unix_listen(const char *path, const char *who, struct buf *err)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd, probe, live;

	buf_reset(err);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		buf_cut_printf(err, "%s: socket path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			buf_cut_printf(err, "%s exists and is not a socket",
			    path);
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		live = probe != -1 && connect(probe, (struct sockaddr *)&sun,
		    sizeof(sun)) == 0;
		if (probe != -1)
			close(probe);
		if (live) {
			buf_cut_printf(err, "%s: another %s is running",
			    path, who);
			return -1;
		}
		if (unlink(path) == -1) {
			buf_cut_printf(err, "unlink %s: %s", path,
			    strerror(errno));
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		buf_printf(err, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(077);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		buf_cut_printf(err, "%s: %s", path, strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	return fd;
}

void
sockaddr_text(const struct sockaddr *sa, char *out, size_t len)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
	struct in_addr v4;

	if (len == 0)
		return;
	out[0] = '\0';
	if (sa->sa_family == AF_INET) {
		(void)inet_ntop(AF_INET, &s4->sin_addr, out, (socklen_t)len);
	} else if (sa->sa_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(&v4, s6->sin6_addr.s6_addr + 12, 4);
			(void)inet_ntop(AF_INET, &v4, out, (socklen_t)len);
		} else
			(void)inet_ntop(AF_INET6, &s6->sin6_addr, out,
			    (socklen_t)len);
	} else if (sa->sa_family == AF_UNIX)
		(void)xsnprintf(out, len, "local");
}

int
sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

int
netmask_parse(struct sv v, struct netmask *m)
{
	char host[INET6_ADDRSTRLEN];
	struct sv h = sv_trim(v), bits;
	uint64_t b;
	int max;

	memset(m, 0, sizeof(*m));
	bits = h;
	if (sv_split(&bits, '/', &h) == 0)
		bits = sv_make("", 0);
	if (h.n == 0 || h.n >= sizeof(host))
		return -1;
	memcpy(host, h.p, h.n);
	host[h.n] = '\0';
	if (inet_pton(AF_INET, host, m->addr) == 1) {
		m->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, m->addr) == 1) {
		m->family = AF_INET6;
		max = 128;
	} else
		return -1;
	if (bits.n == 0)
		m->bits = max;
	else if (parse_u64(bits, (uint64_t)max, &b) == -1)
		return -1;
	else
		m->bits = (int)b;
	return 0;
}

static int
prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

int
netmask_match(const struct netmask *m, size_t n, const char *addr)
{
	unsigned char a[16];
	int family;
	size_t i;

	if (inet_pton(AF_INET, addr, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		family = AF_INET6;
	else
		return 0;
	for (i = 0; i < n; i++)
		if (m[i].family == family && prefix_eq(m[i].addr, a,
		    m[i].bits))
			return 1;
	return 0;
}

/* What the config parser cannot check by type: every listen address and
 * network of every [section] must parse.  Used by "chapar config check"
 * and by chapard before it takes a configuration. */
int
config_check_services(const struct config *cf, struct buf *err)
{
	static const char *const keys[] = { "listen", "listen_tls",
		"client_limit_exceptions" };
	const char *names[256], *const *items, *e;
	struct listen_addr a[2];
	struct netmask m;
	size_t i, k, j, n, cnt;

	n = config_sections(cf, names, NELEM(names));
	for (i = 0; i < n; i++)
		for (k = 0; k < NELEM(keys); k++) {
			cnt = config_list(cf, names[i], keys[k], &items);
			for (j = 0; j < cnt; j++) {
				e = "expected a network like 192.0.2.0/24 or "
				    "2001:db8::/32";
				if (k < 2 ? listen_addr_parse(sv_from(items[j]),
				    a, &e) >= 0 : netmask_parse(sv_from(
				    items[j]), &m) == 0)
					continue;
				/* an item may be as long as a value (64 KB) */
				buf_reset(err);
				buf_cut_printf(err, "%s: [%s] %s = %s: %s",
				    config_file(cf), names[i], keys[k],
				    items[j], e);
				return -1;
			}
		}
	return 0;
}
