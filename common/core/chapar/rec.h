/*
 * rec: a list of name=value fields, and its text form
 *
 *	name=value<TAB>name=value ...
 *
 * used for records in the user database and for the named fields of the
 * authd protocol.  Values are escaped so that the text form never holds a
 * TAB, LF, CR, NUL or a lone backslash: "\\" "\t" "\n" "\r" "\0".  Names
 * are [a-z0-9_-]+; a name may repeat (rec_get finds the first).
 */
#ifndef CHAPAR_REC_H
#define CHAPAR_REC_H

#include <stdint.h>

#include "chapar/buf.h"

#define REC_MAX_FIELDS 2048

struct rec {
	size_t n, cap;
	char **names;
	struct buf *vals;
};

void rec_init(struct rec *);
void rec_free(struct rec *);
void rec_clear(struct rec *);
void rec_add(struct rec *, const char *name, struct sv val);
void rec_set(struct rec *, const char *name, struct sv val);
void rec_set_str(struct rec *, const char *name, const char *val);
void rec_set_u64(struct rec *, const char *name, uint64_t);
void rec_del(struct rec *, const char *name);
/* Remove the last field (a rec used as a stack). */
void rec_pop(struct rec *);
/* The first value called name, or NULL. */
const struct buf *rec_get(const struct rec *, const char *name);
const char *rec_get_str(const struct rec *, const char *name);
/* 0 and the value, or -1 if absent or not a number. */
int rec_get_u64(const struct rec *, const char *name, uint64_t *);

void rec_encode(const struct rec *, struct buf *out);
/* Parse the text form; -1 if malformed (bad name, bad escape, no "=",
 * too many fields). */
int rec_decode(struct sv, struct rec *);
/* The same, leaving out the fields named in skip (NULL-terminated):
 * for readers that do not need big values. */
int rec_decode_except(struct sv, struct rec *, const char *const *skip);
/* Decode fields[0..n) that are already split. */
int rec_decode_fields(const struct sv *, size_t n, struct rec *);

/* Escaping of one value, and its inverse (-1 on a bad escape). */
void tab_escape(struct buf *, struct sv);
int tab_unescape(struct sv, struct buf *);
/* Split a line at TABs into at most max views; returns the count, or -1
 * if there are more than max fields. */
int tab_split(struct sv line, struct sv *fields, size_t max);

#endif
