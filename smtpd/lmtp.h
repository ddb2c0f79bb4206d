/*
 * lmtp: the LMTP server of local(8) (RFC 2033).
 */
#ifndef LMTP_H
#define LMTP_H

#include "deliver.h"

/* Serve one LMTP client on fd (closed by the caller). */
void lmtp_serve(struct dlv_ctx *, int fd, const char *peer);

#endif
