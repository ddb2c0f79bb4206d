/*
 * queue: the mail queue on disk (chapar-queue(5)) and the protocol by
 * which programs hand messages to enqueue(8).
 *
 *	queue_dir/tmp/ID	a message being written, and ID.env
 *	queue_dir/mess/H/ID	the message (H: the last hex digit of ID)
 *	queue_dir/todo/ID	its envelope: the rename into todo/ commits
 *	queue_dir/info/H/ID	envelopes the queue manager has taken
 *
 * An envelope is text: a first line with the message's fields, then one
 * line per recipient, each line a rec (name=value, TAB between fields).
 */
#ifndef CHAPAR_QUEUE_H
#define CHAPAR_QUEUE_H

#include <stdint.h>
#include <sys/types.h>

#include "chapar/buf.h"
#include "chapar/rec.h"

#define QUEUE_ID_MAX 32		/* with its NUL */
#define QUEUE_RCPT_MAX 10000	/* recipients of one message */
#define QUEUE_ENV_MAX (QUEUE_RCPT_MAX * 2048 + 8192)	/* envelope bytes */

/* "18F3A2C0" "0F4A1" "1B2C3": seconds, microseconds and a serial
 * number enqueue hands out once (and creates with O_EXCL), in
 * upper-case hex, so no two messages in the queue share one. */
void queue_id_make(uint64_t sec, uint32_t usec, uint64_t serial,
    char id[QUEUE_ID_MAX]);
int queue_id_ok(const char *id);
/* "mess/7/ID", "todo/ID", "tmp/ID" ...: the relative path of a file. */
void queue_path(const char *kind, const char *id, struct buf *out);

struct queue_env;

/* The one walk of the queue's messages (qmgr, chapar queue, mailq), in
 * the queue directory: fn gets each id whose envelope is in todo/ (new)
 * or info/H/ (the queue manager's), and where ("todo" or "info"); a
 * non-zero return stops the walk and is returned. */
#define QUEUE_WALK_TODO 0x1
#define QUEUE_WALK_INFO 0x2
typedef int queue_walk_fn(void *arg, const char *where, const char *id);
int queue_walk(int which, queue_walk_fn *, void *arg);
/* Read and parse the envelope of id in where ("todo", "info").  0, or -1
 * with why in err (256 bytes or more; errno still that of a failed
 * read). */
int queue_env_load(const char *where, const char *id, struct queue_env *,
    struct buf *err);

/*
 * The envelope.  The first line's fields:
 *	v=1 (format), sender= (empty for <>), body=7BIT|8BITMIME|BINARYMIME,
 *	smtputf8=1, ret=FULL|HDRS, envid=, auth= (the SASL user), client=
 *	(address), helo=, protocol=SMTP|ESMTP|ESMTPS|ESMTPA|ESMTPSA|...,
 *	hold= (seconds since the epoch: FUTURERELEASE), size= (the
 *	message's, set by enqueue), time= (arrival, set by enqueue),
 *	uid= (the local user who ran sendmail(1)),
 *	quarantine= (a filter's reason: held for review, not delivered),
 *	header= (a field "Name: value" a filter added, to put on top of
 *	the message when it is delivered; may repeat)
 *	tries= and next= (the queue manager's: attempts so far, and the
 *	time of the next), held= (when the admin put it on hold)
 * a recipient's:
 *	rcpt= (the address), notify= (NEVER or SUCCESS,FAILURE,DELAY),
 *	orcpt= (type;address as given); and the queue manager's: state=
 *	(sent or failed: final; absent: still to do), reply= and dsn= (the
 *	last attempt's reply and enhanced status)
 * Anything else, a missing rcpt or sender, or an address that does not
 * parse makes the envelope invalid.
 */
struct queue_env {
	struct rec head;
	struct rec *rcpts;
	size_t nrcpt;
};

void queue_env_init(struct queue_env *);
void queue_env_free(struct queue_env *);
/* Parse and check the text form; -1 with a reason in *error_r. */
int queue_env_parse(struct sv text, struct queue_env *, const char **error_r);
/* The text form into out; -1 (out empty) when it would pass out's limit
 * or QUEUE_ENV_MAX, which queue_env_parse refuses. */
int queue_env_format(const struct queue_env *, struct buf *out) BUF_WUR;
/* Add the fields of a rec line to the first line: only quarantine= and
 * header=, checked; -1 with *why and the envelope unchanged. */
int queue_env_amend(struct queue_env *, struct sv text, const char **error_r);
/* Is the committed entry ID whole (paths relative to queue_dir): its
 * envelope in todo/ valid and its message as long as size= says?  A
 * crash between enqueue's renames and its flush can leave one that is
 * not, which no client was told was queued.  0, or -1 with *why. */
int queue_entry_check(const char *id, const char **error_r);
/* The enhanced status code at the start of a reply's text ("2.1.5 ok"
 * for 250: "2.1.5"), or the class's default ("2.0.0"). */
void queue_reply_status(int code, const char *text, char out[16]);
/* "Name: value" fit for a message header (RFC 5322 2.2). */
int queue_header_ok(const char *);

/*
 * The enqueue protocol, on a UNIX stream socket: frames of a type byte,
 * a 4-byte big-endian length and that many bytes (at most
 * QUEUE_FRAME_MAX).
 *	client				server
 *	E envelope text			I queue id, or F
 *	D message bytes (any number)
 *	C [fields]			K queue id (committed, durable), or F
 *	  (fields: quarantine= and header= to add, as queue_env_amend)
 *	A (abort)			-
 * F carries "CODE ENHANCED text" (an SMTP reply: 451 4.3.0 ...).
 */
#define QUEUE_FRAME_MAX (1024 * 1024)
#define QF_ENVELOPE 'E'
#define QF_DATA 'D'
#define QF_COMMIT 'C'
#define QF_ABORT 'A'
#define QF_ID 'I'
#define QF_OK 'K'
#define QF_FAIL 'F'

/* Write one frame (blocking, all of it): 0 or -1. */
int queue_frame_write(int fd, int type, const void *, size_t);
int queue_frame_write2(int fd, int type, const void *, size_t, int type2);
/* Take one whole frame from the front of in (type, payload view) and
 * return its total size, 0 when it is not all there yet, -1 when it is
 * malformed (unknown type, too long). */
ssize_t queue_frame_take(const struct buf *in, size_t off, int *type,
    struct sv *payload);

#endif
