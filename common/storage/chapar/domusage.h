/*
 * domusage: how much mail a domain's users keep, for the domain quota.
 *
 * mail_dir/DOMAIN/.usage is a Berkeley DB environment (a user's directory
 * can never be called that: userdb_home writes a leading dot as %2E) with
 * one record per user, the usage that user's store last reported, and
 * the domain's total.  Delivery reports a user's usage after each
 * message; chapar quota recalc reports it too.  So the total follows
 * deliveries at once and removals (IMAP EXPUNGE, POP3 DELE) at the
 * user's next delivery: a domain quota is enforced on delivery, with a
 * total that may lag behind deletions.
 */
#ifndef CHAPAR_DOMUSAGE_H
#define CHAPAR_DOMUSAGE_H

#include <stdint.h>

#include "chapar/buf.h"

struct domusage;

/* Open (and make) the usage database of the domain directory dir. */
int domusage_open(const char *dir, struct domusage **, struct buf *err);
void domusage_close(struct domusage **);

/* The domain's total. */
int domusage_total(struct domusage *, uint64_t *bytes, uint64_t *msgs,
    struct buf *err);
/* The user (its directory name) now has bytes and msgs: adjust the
 * total by the difference. */
int domusage_report(struct domusage *, const char *user, uint64_t bytes,
    uint64_t msgs, struct buf *err);

#endif
