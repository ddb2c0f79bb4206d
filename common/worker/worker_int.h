/*
 * worker_int.h: what worker.c and worker_session.c share.
 */
#ifndef WORKER_INT_H
#define WORKER_INT_H

#include "chapar/buf.h"
#include "chapar/config.h"
#include "chapar/worker.h"

/* Resource limits of a worker or session (no core, descriptors, memory). */
int worker_limits(struct config *, const char *service, struct buf *err);
/* A log id per connection, so that grep finds a whole session. */
void worker_session_id(void);
/* -P: redeem the token, become the mail user in the user's directory,
 * serve the session on descriptor 0. */
int worker_session_run(struct config *, const char *service,
    const struct worker_service *);

#endif
