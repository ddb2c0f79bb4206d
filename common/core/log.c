/*
 * log.c: syslog or stderr, one event per line.
 *
 * Lines look like Postfix's: "authd[123]: warning: id: text".  On stderr a
 * UTC timestamp comes first so that test logs can be read in order.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "chapar/log.h"
#include "chapar/utf8.h"
#include "chapar/util.h"

static char log_ident[64] = "chapar";
static int log_dest = LOG_TO_STDERR;
static int log_facility = LOG_MAIL;
static enum log_level log_min = LOGL_INFO;
static char log_id[64];

void
log_open(const char *ident, int where)
{
	if (xsnprintf(log_ident, sizeof(log_ident), "%s", ident) == -1)
		log_ident[sizeof(log_ident) - 1] = '\0';
	log_where(where);
}

void
log_where(int where)
{
	log_dest = where;
	if (where == LOG_TO_SYSLOG)
		openlog(log_ident, LOG_PID | LOG_NDELAY, log_facility);
}

void
log_set_level(enum log_level l)
{
	log_min = l;
}

void
log_set_facility(int f)
{
	log_facility = f;
	if (log_dest == LOG_TO_SYSLOG) {
		closelog();
		openlog(log_ident, LOG_PID | LOG_NDELAY, log_facility);
	}
}

int
log_level_parse(const char *s, enum log_level *l)
{
	static const char *names[] = { "debug", "info", "warning", "error" };
	size_t i;

	for (i = 0; i < NELEM(names); i++)
		if (strcasecmp(s, names[i]) == 0) {
			*l = (enum log_level)i;
			return 0;
		}
	return -1;
}

int
log_facility_parse(const char *s, int *f)
{
	static const struct {
		const char *name;
		int val;
	} fac[] = {
		{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON },
		{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
		{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
		{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
		{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	};
	size_t i;

	for (i = 0; i < NELEM(fac); i++)
		if (strcasecmp(s, fac[i].name) == 0) {
			*f = fac[i].val;
			return 0;
		}
	return -1;
}

const char *
log_get_id(void)
{
	return log_id;
}

void
log_set_id(const char *id)
{
	if (id == NULL || xsnprintf(log_id, sizeof(log_id), "%s", id) == -1)
		log_id[0] = '\0';
}

static void log_vemit(enum log_level, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static void
log_vemit(enum log_level l, const char *fmt, va_list ap)
{
	static const char *label[] = { "debug: ", "", "warning: ", "error: ",
		"fatal: ", "panic: " };
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR,
		LOG_CRIT, LOG_CRIT };
	char msg[2048], ts[32];
	struct tm tm;
	time_t t;
	int saved = errno;

	if (l < log_min)
		return;
	/* A line longer than msg is cut, never overflowed. */
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_dest == LOG_TO_SYSLOG) {
		syslog(prio[l], "%s%s%s%s", label[l], log_id,
		    log_id[0] ? ": " : "", msg);
	} else {
		t = time(NULL);
		gmtime_r(&t, &tm);
		if (strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			ts[0] = '\0';
		fprintf(stderr, "%s %s[%ld]: %s%s%s%s\n", ts, log_ident,
		    (long)getpid(), label[l], log_id, log_id[0] ? ": " : "",
		    msg);
		fflush(stderr);
	}
	errno = saved;
}

#define LOG_FN(name, level)                                                    \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vemit(level, fmt, ap);                                     \
		va_end(ap);                                                    \
	}

LOG_FN(log_debug, LOGL_DEBUG)
LOG_FN(log_info, LOGL_INFO)
LOG_FN(log_warning, LOGL_WARNING)
LOG_FN(log_error, LOGL_ERROR)

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOGL_FATAL, fmt, ap);
	va_end(ap);
	exit(111);
}

void
log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOGL_PANIC, fmt, ap);
	va_end(ap);
	abort();
}

#define ESC_RING 4
#define ESC_MAX 400

const char *
log_esc(const void *v, size_t n)
{
	static char ring[ESC_RING][ESC_MAX * 4 + 8];
	static int next;
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = v;
	char *out = ring[next];
	size_t i = 0, o = 0;
	uint32_t cp;
	int l;

	next = (next + 1) % ESC_RING;
	while (i < n && o < ESC_MAX * 4) {
		if (i >= ESC_MAX) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		/* ',' and '=' would let a peer forge "key=value" fields. */
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' &&
		    p[i] != ',' && p[i] != '=') {
			out[o++] = (char)p[i++];
			continue;
		}
		if (p[i] >= 0x80 && (l = utf8_decode(p + i, n - i, &cp)) > 1 &&
		    !(cp >= 0x80 && cp < 0xa0)) {
			memcpy(out + o, p + i, (size_t)l);
			o += (size_t)l;
			i += (size_t)l;
			continue;
		}
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 15];
		i++;
	}
	out[o] = '\0';
	return out;
}

const char *
log_esc_str(const char *s)
{
	return log_esc(s, s ? strlen(s) : 0);
}
