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

/* RFC 5321 4.5.3.1 limits.  The local part is counted as sent (with the
 * quotes and backslashes of a Quoted-string), the path with its "<", ">"
 * and source route; a bare mailbox must fit in a path (254 octets), and so
 * must its canonical form (A-labels), so that addr_format() output always
 * parses again.  Longer input is refused, never truncated. */
#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX 256

/* flags */
#define ADDR_UTF8 0x01		/* RFC 6531: UTF-8 in local part and domain */
#define ADDR_ALLOW_NODOMAIN 0x02 /* "Postmaster" alone (RCPT TO, 4.1.1.3) */

struct addr {
	struct buf local;	/* dequoted local part */
	struct buf domain;	/* lower-case A-labels, or "[literal]"; empty
				 * for a lone Postmaster */
	int quoted;		/* the local part was a Quoted-string */
	int literal;		/* the domain is an address literal */
	int utf8;		/* non-ASCII in the input local part or
				 * domain (even if the domain became
				 * A-labels): needs SMTPUTF8 */
};

void addr_init(struct addr *);
void addr_free(struct addr *);

/* Parse a bare mailbox "local@domain".  Returns 0, or -1 with *err set to
 * a short static English reason (for a 501/553 reply) and the address
 * left empty.  The struct addr is reset first, so it may be reused.
 * Address literals: IPv4 "[1.2.3.4]" and "[IPv6:...]" are stored in
 * canonical form (no leading zeros; inet_ntop), a General-address-literal
 * "[tag:content]" is checked for syntax only and kept as given.
 * Relay hacks (user%ext@local, ext!user@local, "user@ext"@local) parse
 * as what they literally are and are never interpreted. */
int addr_parse(struct sv, int flags, struct addr *, const char **error_r);

/* Parse an SMTP path "<...>" (a source route "@a,@b:" is accepted and
 * ignored as RFC 5321 4.1.2 and Appendix C say: "<@local:user@ext>" is
 * the mailbox user@ext).  "<>" sets *is_null to 1 and leaves the address
 * empty.  No surrounding spaces are allowed. */
int addr_parse_path(struct sv, int flags, struct addr *, int *is_null,
    const char **error_r);

/* Normalise a domain name (not an address literal): validate (LDH labels
 * of 1-63 octets, or U-labels with ADDR_UTF8; no trailing dot), fold case,
 * IDN to A-labels.  *out is replaced.  Returns 0 or -1 with *err (and *out
 * empty). */
int addr_domain_normalize(struct sv, int flags, struct buf *out,
    const char **error_r);

/* The address in canonical text form, local part re-quoted when it is not
 * a Dot-string: local@domain (just the local part when the domain is
 * empty).  *out is replaced; it needs room for ADDR_PATH_MAX octets. */
void addr_format(const struct addr *, struct buf *out);

/* The look-up key: local part with ASCII letters folded to lower case,
 * "@", domain (no "@" when the domain is empty).  Never quoted: split it
 * at the last "@".  For the user database and alias tables. */
void addr_key(const struct addr *, struct buf *out);

/* Split a local part at the first character found in delims (e.g. "+"):
 * "user+tag" gives base "user" and ext "tag"; returns 1 if split, 0 if not
 * (base = whole, ext empty).  An empty or NULL delims never splits, nor
 * does a local part that starts with its first delimiter ("+tag": the base
 * would be empty).  Only ASCII delimiters are matched. */
int addr_split_ext(struct sv local, const char *delims, struct sv *base,
    struct sv *ext);

#endif
