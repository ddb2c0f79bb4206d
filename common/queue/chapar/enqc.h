/*
 * enqc: the client side of the enqueue protocol (queue.h), for smtpd and
 * the sendmail command.  One message at a time per connection.
 */
#ifndef CHAPAR_ENQC_H
#define CHAPAR_ENQC_H

#include "chapar/buf.h"
#include "chapar/queue.h"

struct enqc;

int enqc_connect(const char *path, int timeout_ms, struct enqc **,
    struct buf *err);
/* A client on a descriptor already connected (a worker's, made before it
 * gave up root). */
struct enqc *enqc_from_fd(int fd, int timeout_ms);
void enqc_close(struct enqc **);

/*
 * Results: 0 done; 1 refused, with the SMTP reply to give ("451 4.3.0
 * ...") in reply; -1 the connection failed (reply says so too: 451
 * 4.3.0): the caller must not use it again.
 */
int enqc_begin(struct enqc *, struct sv envelope, char id[QUEUE_ID_MAX],
    struct buf *reply);
/* Message bytes, buffered into frames. */
int enqc_write(struct enqc *, const void *, size_t);
/* Commit; fields (may be empty): quarantine= and header= to add to the
 * envelope, a rec line (queue_env_amend). */
int enqc_commit(struct enqc *, struct sv fields, struct buf *reply);
void enqc_abort(struct enqc *);

#endif
