/*
 * util: allocation that never returns NULL, small file and time helpers.
 */
#ifndef CHAPAR_UTIL_H
#define CHAPAR_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chapar/buf.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define XFREE(p)                                                               \
	do {                                                                   \
		free(p);                                                       \
		(p) = NULL;                                                    \
	} while (0)

/* Allocation: on failure these log and exit(111); callers never see NULL. */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);

/* snprintf that reports truncation: 0 on success, -1 if it did not fit. */
int xsnprintf(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Cryptographically random bytes (getrandom); exits on failure. */
void rand_bytes(void *, size_t);
/* Constant-time comparison of two equal-length byte runs: 1 if equal. */
int ct_equal(const void *, const void *, size_t);

/* Write everything, retrying on EINTR and short writes. 0 or -1. */
int write_all(int fd, const void *, size_t);
struct iovec;
int writev_all(int fd, struct iovec *, int);
/* Read a whole file of at most max bytes into b. 0, or -1 with errno. */
int file_read(const char *path, size_t max, struct buf *b);
/* Write a file atomically: tmp file, fsync, rename, fsync directory. */
int file_write_atomic(const char *path, const void *, size_t, mode_t);
/* fsync the directory that holds path. */
int fsync_parent(const char *path);
/* mkdir -p with a mode for the directories it creates. */
int mkdir_p(const char *path, mode_t);

/* Detach from the terminal (fork, setsid, fork, chdir /, /dev/null). */
void daemonize(void);

/* Monotonic milliseconds, and wall-clock seconds. */
uint64_t now_ms(void);
int64_t now_sec(void);
/* Now as an RFC 5322 date-time in UTC: "Thu, 26 Nov 2026 10:00:00 +0000". */
void date_rfc5322(char *, size_t);

/* Base64 (RFC 4648 section 4). decode: -1 on invalid input. */
void base64_encode(struct buf *, const void *, size_t);
int base64_decode(struct buf *, const char *, size_t);
/* The value of one base64 digit (RFC 4648 4), or -1. */
int base64_value(int c);

/* Human sizes and durations, as the config uses them. */
void fmt_size(char *, size_t, uint64_t);
void fmt_duration(char *, size_t, uint64_t);

#endif
