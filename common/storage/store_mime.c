/*
 * store_mime.c: the store's cache of a message's IMAP views, made with
 * the MIME parser: ENVELOPE and the extended BODYSTRUCTURE of IMAP4rev1
 * (RFC 3501 7.4.2).  An IMAP4rev2 session shows message/global parts
 * differently and computes those itself.
 */
#include "chapar/imapfmt.h"
#include "chapar/mime.h"
#include "chapar/store.h"

void
store_mime_parse(const char *data, size_t len, struct buf *envelope,
    struct buf *bodystructure)
{
	struct mime_msg *m;

	buf_reset(envelope);
	buf_reset(bodystructure);
	if ((m = mime_parse(data, len)) == NULL)
		return;
	/* a view that does not fit is not cached at all */
	if (mime_envelope(m, NULL, envelope) == -1)
		buf_reset(envelope);
	if (mime_bodystructure(m, MIME_BS_EXTENDED, bodystructure) == -1)
		buf_reset(bodystructure);
	mime_free(&m);
}
