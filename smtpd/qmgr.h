/*
 * qmgr.h: what the parts of qmgr(8) share -- the messages held, the
 * envelope's recipients and their states (qmgr_main.c), local and remote
 * jobs (qmgr_local.c, qmgr_remote.c) and the reports (qmgr_report.c).
 */
#ifndef QMGR_H
#define QMGR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"
#include "chapar/queue.h"

struct pollfd;
struct config;
struct authc;

#define LMTP_TIMEOUT_MS (10 * 60 * 1000)
#define LMTP_GREET_MS (10 * 1000)
#define SLOT_IDLE_MS (60 * 1000)	/* an idle connection is closed */
#define SCAN_SECS 60		/* the safety-net look at todo/ */
#define MSGS_MAX 100000		/* messages held in memory at once */

#define ACTIVE_MAX 20000		/* messages in the middle of a run */

/*
 * What a run keeps of a server's reply, in the envelope and the report:
 * RFC 5321 4.5.3.1.5's longest reply line.  Short, so that what runs
 * add to each recipient (reply= escaped, state=, dsn=, flags: some 1.2
 * kB) keeps an envelope that came in one frame (QUEUE_FRAME_MAX) well
 * inside QUEUE_ENV_MAX.
 */
#define REPLY_KEEP 512
/* An envelope as text: what was read (QUEUE_ENV_MAX at most) and what
 * runs add to it since -- to each recipient reply= (escaped, twice
 * REPLY_KEEP) and short fields, to the first line a few numbers. */
#define ENV_TEXT_MAX (QUEUE_ENV_MAX + QUEUE_RCPT_MAX * \
	(2 * REPLY_KEEP + 256) + 4096)
/* Recipients of one remote job: its envelope (a recipient's line is
 * some 4 kB at most) and remote's answer (some 6 kB a recipient) must
 * each go in one frame (QUEUE_FRAME_MAX). */
#define RJOB_RCPT_MAX 100
/* A line from the LMTP agent (a reply) */
#define LMTP_LINE_MAX 4096

/* A message the queue manager holds: its id and when to try it; while a
 * run over it is in progress, its envelope and jobs out. */
struct msg {
	char id[QUEUE_ID_MAX];
	uint64_t next;		/* UINT64_MAX: held, or running */
	struct queue_env *e;	/* during a run */
	size_t out;		/* its remote jobs not yet back */
	int cancel;		/* deleted by the admin during the run */
	int gone;		/* removed: leaves the table */
};

/* What a notice is about (RFC 3464 2.3.3 Action). */
enum dsn_kind { DSN_FAILED, DSN_DELAYED, DSN_SUCCESS };

struct qmgr {
	struct config *cf;
	struct authc *auth;
	volatile sig_atomic_t quit;
	struct msg **m;
	size_t n;
	size_t active;		/* messages in a run */
	char host[256];
	uint64_t retry_min, retry_max, lifetime, warn;
	uint64_t process_limit, dest_concurrency, rate_delay, local_limit;
	int wake;		/* the FIFO enqueue writes to */
	int rescan;		/* a report was queued: look at todo/ */
};

extern struct qmgr G;

/* qmgr_main.c: the envelope, the recipients, the end of a run */
int env_save(const char *id, const struct queue_env *);
const char *rcpt_state(const struct rec *);
void set_reply(struct rec *, int code, const char *text);
void rcpt_set(struct rec *, const char *state, int code, const char *dsn,
    const char *text);
void header_tags(const struct queue_env *, struct buf *out);
void log_result(const char *id, const struct queue_env *, const struct rec *,
    const char *relay, const char *status);
void msg_finish(struct msg *);

/* qmgr_local.c */
void local_queue(struct msg *, const size_t *idx, size_t n);
void local_dispatch(void);
void local_expire(void);
size_t local_pollfds(struct pollfd *, size_t max);
void local_input(int fd);

/* qmgr_remote.c */
void remote_queue(struct msg *, size_t *idx, size_t n);
void remote_dispatch(void);
void remote_sweep(void);
int remote_paused(void);
size_t remote_pollfds(struct pollfd *, size_t max);
void remote_input(int fd);

/* qmgr_report.c: the report of kind for message id into the queue
 * through enqueue (0, or -1: tried again on the next run) */
int report(const char *id, const struct queue_env *, enum dsn_kind);
int reported(const struct rec *head, const struct rec *r, enum dsn_kind);

#endif
