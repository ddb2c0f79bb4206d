/*
 * log: one event per line, "prog[pid]: id: key=value, ..." (DESIGN.md 5).
 *
 * Syslog facility mail by default; stderr in foreground or test mode.
 * Never pass a password or a message body to these functions.  Every
 * string that came from a peer goes through log_esc() first.
 */
#ifndef CHAPAR_LOG_H
#define CHAPAR_LOG_H

#include <stddef.h>

#include "chapar/buf.h"

enum log_level {
	LOGL_DEBUG,
	LOGL_INFO,
	LOGL_WARNING,
	LOGL_ERROR,
	LOGL_FATAL,
	LOGL_PANIC
};

#define LOG_TO_SYSLOG 0
#define LOG_TO_STDERR 1

void log_open(const char *ident, int where);
/* Switch to stderr or syslog (e.g. "-f"), keeping the ident. */
void log_where(int where);
void log_set_level(enum log_level);
int log_level_parse(const char *, enum log_level *);
int log_facility_parse(const char *, int *);
void log_set_facility(int);
/* Prefix every following line with "id: " (queue id, session id); NULL
 * clears it. */
void log_set_id(const char *);
const char *log_get_id(void);	/* "" when none */

void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
/* The environment is broken: log and exit 111 (temporary failure). */
void log_fatal(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* A bug: log and abort. */
void log_panic(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Escape bytes from a peer for a log line: printable ASCII and valid
 * UTF-8 are kept; control bytes, invalid UTF-8, the backslash, ',' and
 * '=' (which could forge fields) become \xHH; long input is cut with
 * "...".  Returns one of a small ring of static buffers, so up to four
 * results may be used in one log call. */
const char *log_esc(const void *, size_t);
const char *log_esc_str(const char *);

#endif
