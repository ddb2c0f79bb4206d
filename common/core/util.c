/*
 * util.c: allocation wrappers, randomness, whole-file I/O, base64, time.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chapar/log.h"
#include "chapar/util.h"

void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n ? n : 1)) == NULL)
		log_fatal("out of memory allocating %zu bytes", n);
	return p;
}

void *
xcalloc(size_t n, size_t m)
{
	void *p;

	if ((p = calloc(n ? n : 1, m ? m : 1)) == NULL)
		log_fatal("out of memory allocating %zu*%zu bytes", n, m);
	return p;
}

void *
xrealloc(void *o, size_t n)
{
	void *p;

	if ((p = realloc(o, n ? n : 1)) == NULL)
		log_fatal("out of memory allocating %zu bytes", n);
	return p;
}

void *
xreallocarray(void *o, size_t n, size_t m)
{
	if (m != 0 && n > SIZE_MAX / m)
		log_fatal("allocation size overflow (%zu*%zu)", n, m);
	return xrealloc(o, n * m);
}

char *
xstrdup(const char *s)
{
	size_t n = strlen(s);
	char *p = xmalloc(n + 1);

	memcpy(p, s, n + 1);
	return p;
}

int
xsnprintf(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return 0;
}

void
rand_bytes(void *p, size_t n)
{
	unsigned char *q = p;
	ssize_t r;

	while (n > 0) {
		r = getrandom(q, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("getrandom: %s", strerror(errno));
		}
		q += r;
		n -= (size_t)r;
	}
}

int
ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}

int
write_all(int fd, const void *p, size_t n)
{
	const char *q = p;
	ssize_t r;

	while (n > 0) {
		r = write(fd, q, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		q += r;
		n -= (size_t)r;
	}
	return 0;
}

/* writev(2) until every byte of iov[0..n) is written; the array is
 * used up as it goes.  0, or -1 with errno. */
int
writev_all(int fd, struct iovec *iov, int n)
{
	ssize_t r;
	size_t k;

	while (n > 0) {
		if (iov->iov_len == 0) {
			iov++;
			n--;
			continue;
		}
		r = writev(fd, iov, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (k = (size_t)r; n > 0 && k >= iov->iov_len; n--, iov++)
			k -= iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= k;
		}
	}
	return 0;
}

void
date_rfc5322(char *out, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	/* RFC 5322 3.3, in UTC; C locale names */
	(void)gmtime_r(&now, &tm);
	(void)strftime(out, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

int
file_read(const char *path, size_t max, struct buf *b)
{
	char tmp[8192];
	ssize_t r;
	int fd, saved;

	buf_reset(b);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	for (;;) {
		r = read(fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (b->len + (size_t)r > max ||
		    buf_try_append(b, tmp, (size_t)r) == -1) {
			r = -1;
			errno = EFBIG;
			break;
		}
	}
	saved = errno;
	close(fd);
	errno = saved;
	return r < 0 ? -1 : 0;
}

int
fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash;
	int fd, r;

	slash = strrchr(path, '/');
	if (slash == NULL)
		return xsnprintf(dir, sizeof(dir), ".") == 0 ? 0 : -1;
	if (slash == path)
		slash++;
	if ((size_t)(slash - path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int
file_write_atomic(const char *path, const void *p, size_t n, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd, saved;

	if (xsnprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid())) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd == -1)
		return -1;
	if (write_all(fd, p, n) == -1 || fchmod(fd, mode) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return fsync_parent(path);
}

int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t i, n;

	n = strlen(path);
	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) == -1 && errno != EEXIST)
			return -1;
		if (i < n)
			tmp[i] = '/';
	}
	return 0;
}

uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t
now_sec(void)
{
	return (int64_t)time(NULL);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
base64_encode(struct buf *b, const void *v, size_t n)
{
	const unsigned char *p = v;
	char out[4];
	uint32_t w;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[0] = b64[w >> 18];
		out[1] = b64[(w >> 12) & 63];
		out[2] = b64[(w >> 6) & 63];
		out[3] = b64[w & 63];
		if (buf_try_append(b, out, 4) == -1)
			log_fatal("base64_encode: buffer limit");
	}
	if (i < n) {
		w = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			w |= (uint32_t)p[i + 1] << 8;
		out[0] = b64[w >> 18];
		out[1] = b64[(w >> 12) & 63];
		out[2] = i + 1 < n ? b64[(w >> 6) & 63] : '=';
		out[3] = '=';
		if (buf_try_append(b, out, 4) == -1)
			log_fatal("base64_encode: buffer limit");
	}
}

int
base64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict RFC 4648: length a multiple of 4, padding only at the end, no
 * whitespace, and unused bits zero (section 3.5), as SASL requires. */
int
base64_decode(struct buf *b, const char *s, size_t n)
{
	unsigned char out[3];
	int v[4], k, pad;
	size_t i;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = base64_value((unsigned char)s[i + k])) < 0)
				return -1;
		}
		out[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		out[1] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		out[2] = (unsigned char)((v[2] & 3) << 6 | v[3]);
		if ((pad == 1 && (v[2] & 3) != 0) ||
		    (pad == 2 && (v[1] & 15) != 0))
			return -1;
		if (buf_try_append(b, out, (size_t)(3 - pad)) == -1)
			return -1;
	}
	return 0;
}

void
fmt_size(char *dst, size_t len, uint64_t v)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (v != 0 && v % 1024 == 0 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		(void)xsnprintf(dst, len, "%llu", (unsigned long long)v);
	else
		(void)xsnprintf(dst, len, "%llu%c", (unsigned long long)v,
		    units[u]);
}

void
fmt_duration(char *dst, size_t len, uint64_t s)
{
	if (s != 0 && s % 86400 == 0)
		(void)xsnprintf(dst, len, "%llud", (unsigned long long)(s / 86400));
	else if (s != 0 && s % 3600 == 0)
		(void)xsnprintf(dst, len, "%lluh", (unsigned long long)(s / 3600));
	else if (s != 0 && s % 60 == 0)
		(void)xsnprintf(dst, len, "%llum", (unsigned long long)(s / 60));
	else
		(void)xsnprintf(dst, len, "%llus", (unsigned long long)s);
}

/* Detach from the terminal: fork, setsid, fork again (no controlling
 * terminal can come back), chdir("/"), standard descriptors to
 * /dev/null. */
void
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		log_fatal("fork: %s", strerror(errno));
	if (pid != 0)
		_exit(0);
	(void)setsid();
	if ((pid = fork()) == -1)
		log_fatal("fork: %s", strerror(errno));
	if (pid != 0)
		_exit(0);
	if (chdir("/") == -1)
		log_fatal("chdir /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(fd, 0);
		(void)dup2(fd, 1);
		(void)dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}
