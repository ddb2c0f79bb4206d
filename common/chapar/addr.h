/*
 * addr: e-mail addresses as SMTP carries them (RFC 5321 section 4.1.2),
 * with RFC 6531 UTF-8 when the caller allows it.
 *
 *	Mailbox    = Local-part "@" ( Domain / address-literal )
 *	Local-part = Dot-string / Quoted-string
 *	Path       = "<" [ A-d-l ":" ] Mailbox ">"
 *
 * Domains are stored case-folded, IDN U-labels converted to A-labels
 * (IDNA2008 + UTS 46 non-transitional, libidn2).  The local part is kept
 * exactly as given, without the quotes of a quoted string; lookups use
 * addr_key(), which folds ASCII case.  Every parser takes (data, len) and
 * does no I/O.
 */
#ifndef CHAPAR_ADDR_H
#define CHAPAR_ADDR_H

#include "chapar/buf.h"

/* RFC 5321 4.5.3.1 limits. */
#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX 256

/* flags */
#define ADDR_UTF8 0x01		/* RFC 6531: UTF-8 in local part and domain */
#define ADDR_ALLOW_NODOMAIN 0x02 /* "Postmaster" alone (RCPT TO, 4.1.1.3) */

struct addr {
	struct buf local;	/* dequoted local part */
	struct buf domain;	/* lower-case A-labels, or "[literal]" */
	int quoted;		/* the local part was a Quoted-string */
	int literal;		/* the domain is an address literal */
	int utf8;		/* non-ASCII somewhere: needs SMTPUTF8 */
};

void addr_init(struct addr *);
void addr_free(struct addr *);

/* Parse a bare mailbox "local@domain".  Returns 0, or -1 with *err set to
 * a short static English reason (for a 501/553 reply). */
int addr_parse(struct sv, int flags, struct addr *, const char **err);

/* Parse an SMTP path "<...>" (a source route "@a,@b:" is accepted and
 * ignored as RFC 5321 4.1.2 and Appendix C say).  "<>" sets *is_null to 1
 * and leaves the address empty. */
int addr_parse_path(struct sv, int flags, struct addr *, int *is_null,
    const char **err);

/* Normalise a domain: validate (LDH labels of 1-63 octets, or U-labels
 * with ADDR_UTF8; no trailing dot), fold case, IDN to A-labels.  Returns 0
 * or -1 with *err. */
int addr_domain_normalize(struct sv, int flags, struct buf *out,
    const char **err);

/* The address in canonical text form, local part re-quoted when it is not
 * a Dot-string: local@domain. */
void addr_format(const struct addr *, struct buf *out);

/* The look-up key: local part with ASCII letters folded to lower case,
 * "@", domain.  For the user database and alias tables. */
void addr_key(const struct addr *, struct buf *out);

/* Split a local part at the first character found in delims (e.g. "+"):
 * "user+tag" gives base "user" and ext "tag"; returns 1 if split, 0 if not
 * (base = whole).  An empty delims never splits. */
int addr_split_ext(struct sv local, const char *delims, struct sv *base,
    struct sv *ext);

#endif
