/*
 * config: chapar.conf(5).
 *
 *	key = value
 *	[service]
 *	key = value		(overrides the global value for that service)
 *
 * A section names a built-in service (cfg_services) or defines a service
 * of the admin's own, which must then say "program = /path".
 *
 * Every key is typed and has its default in one table (config_keys.c);
 * that table also drives "chapar config show".  Values may refer to other
 * keys as $name or ${name}.  A bad line is an error naming file:line and
 * what was expected.
 */
#ifndef CHAPAR_CONFIG_H
#define CHAPAR_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "chapar/buf.h"

enum cfg_type {
	CFG_STR,	/* free text */
	CFG_INT,	/* decimal integer within min..max */
	CFG_SIZE,	/* bytes: 25M, 2G, 512K, 1048576 */
	CFG_DURATION,	/* seconds: 30s, 5m, 4h, 5d, 1h30m */
	CFG_BOOL,	/* yes/no, true/false, on/off, 1/0 */
	CFG_LIST,	/* comma- or space-separated words */
	CFG_PATH	/* absolute path after $expansion */
};

#define CFG_SERVICE 0x1	/* may be overridden in a [service] section */
#define CFG_SECTION 0x2	/* may only be set in a [service] section */
#define CFG_ABSPATH 0x4	/* CFG_STR: empty, or an absolute path */

struct cfg_key {
	const char *name;
	enum cfg_type type;
	const char *def;
	uint64_t min, max;	/* CFG_INT, CFG_SIZE, CFG_DURATION */
	int flags;
	const char *help;
	const char *choices;	/* CFG_STR: the allowed words, or NULL */
};

extern const struct cfg_key cfg_keys[];
extern const size_t cfg_nkeys;
/* Names allowed in [section] headers. */
extern const char *const cfg_services[];

struct config;

/* The default file: $CHAPAR_CONF, else SYSCONFDIR/chapar/chapar.conf. */
const char *config_default_path(void);
/* Load and check a file.  On error returns -1 with a message of the form
 * "FILE:LINE: what was wrong; expected ..." in err. */
int config_load(const char *path, struct config **, struct buf *err);
/* Load from memory (tests and fuzzing); name is used in messages. */
int config_parse(const char *name, const char *text, size_t len,
    struct config **, struct buf *err);
void config_free(struct config **);
/* log_facility and log_level (of svc's section, if not NULL) for this
 * process; debug: everything. */
void config_log_setup(const struct config *, const char *svc, int debug);
/* This host's name: hostname, else the system's. */
void config_hostname(const struct config *, char *out, size_t len);

/* Typed lookups; svc may be NULL for the global value.  Asking for an
 * unknown key or the wrong type is a bug and panics. */
const char *config_str(const struct config *, const char *svc,
    const char *key);
uint64_t config_num(const struct config *, const char *svc, const char *key);
int config_bool(const struct config *, const char *svc, const char *key);
/* Items of a list; returns the count and sets *items (owned by config). */
size_t config_list(const struct config *, const char *svc, const char *key,
    const char *const **items);
const char *config_file(const struct config *);
/* The [section] names of the file (at most max, in no particular order). */
size_t config_sections(const struct config *, const char **names,
    size_t max);
int config_has_section(const struct config *, const char *svc);

/* Print the values, like postconf: every key, or only those set in the
 * file (nondefault), then the [service] overrides; as written (with
 * $variables) or with the variables expanded (like postconf -x). */
void config_show(const struct config *, FILE *, int nondefault,
    int expand);

/* Value parsers shared with the admin command. */
int cfg_parse_size(struct sv, uint64_t *);
int cfg_parse_duration(struct sv, uint64_t *);
int cfg_parse_bool(struct sv, int *);

#endif
