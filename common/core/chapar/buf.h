/*
 * buf: the one growable byte buffer of Chapar.
 *
 * Every string or byte run built from outside input lives in a struct buf.
 * A buf knows its length, its allocation and its limit; appending past the
 * limit fails cleanly (returns -1 and leaves the buffer unchanged) instead
 * of growing without bound.  The data is always followed by a hidden NUL so
 * that buf_cstr() can be handed to C library calls, but the length is the
 * truth: a buf may hold NUL bytes.
 */
#ifndef CHAPAR_BUF_H
#define CHAPAR_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Default limit for buffers that do not choose one: 64 MB. */
#define BUF_DEFAULT_MAX ((size_t)64 * 1024 * 1024)

struct buf {
	char *data;	/* NULL until the first append */
	size_t len;	/* bytes in use, not counting the hidden NUL */
	size_t cap;	/* bytes allocated, including room for the NUL */
	size_t max;	/* largest len allowed */
};

/* An explicit-length view of bytes owned by someone else. */
struct sv {
	const char *p;
	size_t n;
};

#define SV_LIT(s) ((struct sv){ (s), sizeof(s) - 1 })

void buf_init(struct buf *, size_t max);
void buf_free(struct buf *);
void buf_reset(struct buf *);
void buf_truncate(struct buf *, size_t len);

#define BUF_WUR __attribute__((warn_unused_result))

/*
 * Two kinds of append.  Where the program chose the buffer's limit for
 * what it writes (a reply, a log line, a field it has checked), going
 * past it is a bug: the plain functions end the process with a panic
 * instead of losing bytes.  Where the size comes from outside (a
 * client's line, a message, a peer's reply), use the buf_try_ forms:
 * they return -1 and leave the buffer unchanged at the limit, and the
 * compiler insists that the caller looks (a dropped line is lost mail).
 */
void buf_append(struct buf *, const void *, size_t);
void buf_puts(struct buf *, const char *);
void buf_putc(struct buf *, int);
void buf_printf(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));
void buf_set(struct buf *, const void *, size_t);
void buf_append_sv(struct buf *, struct sv);

int buf_reserve(struct buf *, size_t extra) BUF_WUR;
int buf_try_append(struct buf *, const void *, size_t) BUF_WUR;
int buf_try_puts(struct buf *, const char *) BUF_WUR;
int buf_try_putc(struct buf *, int) BUF_WUR;
int buf_try_printf(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3))) BUF_WUR;
int buf_try_vprintf(struct buf *, const char *, va_list)
    __attribute__((format(printf, 2, 0))) BUF_WUR;
int buf_try_set(struct buf *, const void *, size_t) BUF_WUR;
int buf_try_append_sv(struct buf *, struct sv) BUF_WUR;

/*
 * For a message to a person (an error, a report line) that may quote
 * input, such as a path, a name or a peer's text: what fits under the
 * limit is kept, and a message cut short ends in "...".  These never
 * fail and never end the process.  Never for data, where a cut would be
 * lost bytes.
 */
void buf_cut_printf(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void buf_cut_vprintf(struct buf *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

/* Reading straight into a buf (read(2)): after buf_reserve, buf_room
 * bytes may be written at buf_end (the byte after them is the hidden
 * NUL's); buf_commit takes n of them. */
char *buf_end(struct buf *);
size_t buf_room(const struct buf *);
void buf_commit(struct buf *, size_t n);

/* Remove the first n bytes, moving the rest down. */
void buf_consume(struct buf *, size_t n);

/* The contents as a NUL-terminated string ("" for an empty buffer). */
const char *buf_cstr(const struct buf *);
struct sv buf_sv(const struct buf *);

/* Hand the allocation to the caller (NUL-terminated); the buf is reset. */
char *buf_detach(struct buf *);

/* String views. */
struct sv sv_from(const char *);
struct sv sv_make(const void *, size_t);
int sv_eq(struct sv, struct sv);
int sv_eq_str(struct sv, const char *);
int sv_caseeq(struct sv, struct sv);
int sv_caseeq_str(struct sv, const char *);
int sv_has_prefix_case(struct sv, const char *);
struct sv sv_trim(struct sv);
/* Split at the first c: *head gets the part before, the view keeps the
 * part after.  Returns 0 if c was not found (head gets everything). */
int sv_split(struct sv *, int c, struct sv *head);
/* Copy into a new NUL-terminated allocation. */
char *sv_strdup(struct sv);
/* 1 if the view contains a NUL byte. */
int sv_has_nul(struct sv);

/* Safe integer parsing of a whole view: no sign, no spaces, no overflow.
 * Returns 0 and stores the value, or -1. */
int parse_u64(struct sv, uint64_t max, uint64_t *);

#endif
