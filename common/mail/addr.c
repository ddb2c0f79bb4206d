/*
 * addr.c: e-mail addresses as SMTP carries them (RFC 5321 4.1.2), with
 * RFC 6531 UTF-8 when the caller allows it.
 *
 * Trusts nothing about its input: every byte may come from a peer.  No
 * I/O; the only library calls are inet_pton/inet_ntop and libidn2.
 *
 * Relay hacks are never interpreted here.  An address parses as what it
 * literally is, and routing is the caller's business:
 *	user%ext@local		local part "user%ext" ('%' is atext)
 *	ext!user@local		local part "ext!user" ('!' is atext)
 *	"user@ext"@local	quoted local part "user@ext"
 *	<@local:user@ext>	source route (ignored) + mailbox user@ext,
 *				so the domain is "ext"
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include <idn2.h>

#include "chapar/addr.h"
#include "chapar/utf8.h"

#define LABEL_MAX 63		/* RFC 1035 2.3.4 */

void
addr_init(struct addr *a)
{
	buf_init(&a->local, ADDR_LOCAL_MAX);
	buf_init(&a->domain, ADDR_DOMAIN_MAX);
	a->quoted = a->literal = a->utf8 = 0;
}

void
addr_free(struct addr *a)
{
	buf_free(&a->local);
	buf_free(&a->domain);
	a->quoted = a->literal = a->utf8 = 0;
}

static void
addr_reset(struct addr *a)
{
	buf_reset(&a->local);
	buf_reset(&a->domain);
	a->quoted = a->literal = a->utf8 = 0;
}

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* RFC 5321 4.1.2: Let-dig and Ldh-str characters. */
static int
is_ldh(unsigned char c)
{
	return is_alnum(c) || c == '-';
}

/* RFC 5322 3.2.3 atext, which RFC 5321 4.1.2 uses for Atom. */
static int
is_atext(unsigned char c)
{
	return is_alnum(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
fold_append(struct buf *out, struct sv v)
{
	size_t i, start = out->len;

	if (buf_try_append_sv(out, v) == -1)
		return -1;
	for (i = start; i < out->len; i++)
		if (out->data[i] >= 'A' && out->data[i] <= 'Z')
			out->data[i] = (char)(out->data[i] - 'A' + 'a');
	return 0;
}

/*
 * Domains.
 */

/* One label: RFC 5321 4.1.2 sub-domain = Let-dig [Ldh-str], at most 63
 * octets (RFC 1035 2.3.4). */
static int
label_check(const char *p, size_t n, const char **err)
{
	if (n == 0) {
		*err = "empty label in domain";
		return -1;
	}
	if (n > LABEL_MAX) {
		*err = "domain label too long";
		return -1;
	}
	if (p[0] == '-' || p[n - 1] == '-') {
		*err = "hyphen at start or end of domain label";
		return -1;
	}
	return 0;
}

/* RFC 5321 4.1.2: Domain = sub-domain *("." sub-domain), ASCII only.
 * No trailing dot: the root is implied (2.3.5). */
static int
ldh_check(struct sv d, const char **err)
{
	size_t i, start = 0;

	if (d.n > ADDR_DOMAIN_MAX) {
		*err = "domain too long";
		return -1;
	}
	for (i = 0; i <= d.n; i++) {
		if (i < d.n && d.p[i] != '.') {
			if (!is_ldh((unsigned char)d.p[i])) {
				*err = "invalid character in domain";
				return -1;
			}
			continue;
		}
		if (i == d.n && start == d.n && d.n > 0) {
			*err = "trailing dot in domain";
			return -1;
		}
		if (label_check(d.p + start, i - start, err) == -1)
			return -1;
		start = i + 1;
	}
	return 0;
}

static const char *
idn_error(int r)
{
	switch (r) {
	case IDN2_TOO_BIG_DOMAIN:
		return "domain too long";
	case IDN2_TOO_BIG_LABEL:
	case IDN2_PUNYCODE_BIG_OUTPUT:
		return "domain label too long";
	default:
		return "invalid international domain name";
	}
}

/* RFC 6531 3.3: sub-domain =/ U-label.  IDNA2008 with UTS 46
 * non-transitional mapping (RFC 5891, libidn2) gives the A-labels; the
 * result is checked again as LDH, since mapping may remove or add dots. */
static int
idn_to_ascii(struct sv d, struct buf *out, const char **err)
{
	char in[ADDR_DOMAIN_MAX + 1];
	uint8_t *ace = NULL;
	int r;

	if (!utf8_valid(d.p, d.n)) {
		*err = "invalid UTF-8 in domain";
		return -1;
	}
	memcpy(in, d.p, d.n);
	in[d.n] = '\0';
	r = idn2_lookup_u8((const uint8_t *)in, &ace,
	    IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
	if (r != IDN2_OK) {
		*err = idn_error(r);
		return -1;
	}
	r = ldh_check(sv_from((const char *)ace), err);
	if (r == 0 && (r = fold_append(out, sv_from((const char *)ace))) == -1)
		*err = "domain too long";
	idn2_free(ace);
	return r;
}

/* An ASCII domain may hold A-labels ("xn--..."); RFC 5891 5.4 wants them
 * valid: they must decode to a U-label that encodes back to the same
 * A-label.  out holds the domain, already folded to lower case. */
static int
alabel_check(const struct buf *out, const char **err)
{
	const char *p = buf_cstr(out);
	char *u = NULL;
	uint8_t *ace = NULL;
	int ok;

	if (strncmp(p, "xn--", 4) != 0 && strstr(p, ".xn--") == NULL)
		return 0;
	ok = idn2_to_unicode_8z8z(p, &u, 0) == IDN2_OK &&
	    idn2_lookup_u8((const uint8_t *)u, &ace, IDN2_NONTRANSITIONAL) ==
	    IDN2_OK && strcmp((const char *)ace, p) == 0;
	idn2_free(u);
	idn2_free(ace);
	if (!ok)
		*err = "invalid A-label in domain";
	return ok ? 0 : -1;
}

static int
domain_norm(struct sv d, int flags, struct buf *out, int *utf8,
    const char **err)
{
	size_t i;
	int high = 0;

	buf_reset(out);
	*utf8 = 0;
	if (d.n == 0) {
		*err = "missing domain";
		return -1;
	}
	if (d.n > ADDR_DOMAIN_MAX) {
		*err = "domain too long";
		return -1;
	}
	for (i = 0; i < d.n; i++) {
		if ((unsigned char)d.p[i] >= 0x80)
			high = 1;
		else if (!is_ldh((unsigned char)d.p[i]) && d.p[i] != '.') {
			*err = "invalid character in domain";
			return -1;
		}
	}
	if (!high) {
		if (ldh_check(d, err) == -1)
			return -1;
		if (fold_append(out, d) == -1) {
			*err = "domain too long";
			return -1;
		}
		if (alabel_check(out, err) == -1) {
			buf_reset(out);
			return -1;
		}
		return 0;
	}
	if (!(flags & ADDR_UTF8)) {
		*err = "non-ASCII domain needs SMTPUTF8";
		return -1;
	}
	*utf8 = 1;
	/* libidn2 passes an "xn--" label next to U-labels through
	 * unchecked: the result must pass as an ASCII domain would, or the
	 * canonical form would not parse again (found by fuzz_addr) */
	if (idn_to_ascii(d, out, err) == -1 || alabel_check(out, err) == -1) {
		buf_reset(out);
		return -1;
	}
	return 0;
}

int
addr_domain_normalize(struct sv d, int flags, struct buf *out,
    const char **error_r)
{
	int utf8;

	return domain_norm(d, flags, out, &utf8, error_r);
}

/*
 * Address literals, RFC 5321 4.1.3.
 */

/* IPv4-address-literal = Snum 3("."  Snum), Snum = 1*3DIGIT (0-255).
 * Stored without leading zeros. */
static int
lit_ipv4(struct sv v, struct buf *out, const char **err)
{
	unsigned int oct[4], val, digits;
	size_t i = 0, k;

	for (k = 0; k < 4; k++) {
		if (k > 0 && (i >= v.n || v.p[i++] != '.'))
			goto bad;
		for (val = 0, digits = 0; i < v.n && digits < 3 &&
		    v.p[i] >= '0' && v.p[i] <= '9'; i++, digits++)
			val = val * 10 + (unsigned int)(v.p[i] - '0');
		if (digits == 0 || val > 255)
			goto bad;
		oct[k] = val;
	}
	if (i != v.n)
		goto bad;
	if (buf_try_printf(out, "[%u.%u.%u.%u]", oct[0], oct[1], oct[2],
	    oct[3]) == -1)
		goto bad;
	return 0;
bad:
	*err = "bad IPv4 address literal";
	return -1;
}

/* IPv6-address-literal = "IPv6:" IPv6-addr (the tag is case-insensitive,
 * RFC 5234 2.3).  Checked with inet_pton, stored in inet_ntop's form. */
static int
lit_ipv6(struct sv v, struct buf *out, const char **err)
{
	char in[INET6_ADDRSTRLEN], txt[INET6_ADDRSTRLEN];
	struct in6_addr a6;

	if (v.n == 0 || v.n >= sizeof(in))
		goto bad;
	memcpy(in, v.p, v.n);
	in[v.n] = '\0';
	if (inet_pton(AF_INET6, in, &a6) != 1 ||
	    inet_ntop(AF_INET6, &a6, txt, sizeof(txt)) == NULL)
		goto bad;
	if (buf_try_printf(out, "[IPv6:%s]", txt) == -1)
		goto bad;
	return 0;
bad:
	*err = "bad IPv6 address literal";
	return -1;
}

/* General-address-literal = Standardized-tag ":" 1*dcontent, the tag an
 * Ldh-str registered with IANA.  Accepted on syntax alone, kept as given:
 * we cannot know how to compare an unknown kind of address. */
static int
lit_general(struct sv tag, struct sv content, struct sv whole,
    struct buf *out, const char **err)
{
	size_t i;

	if (tag.n == 0 || content.n == 0 ||
	    !is_alnum((unsigned char)tag.p[tag.n - 1]))
		goto bad;
	for (i = 0; i < tag.n; i++)
		if (!is_ldh((unsigned char)tag.p[i]))
			goto bad;
	if (buf_try_putc(out, '[') == -1 || buf_try_append_sv(out, whole) == -1 ||
	    buf_try_putc(out, ']') == -1)
		goto bad;
	return 0;
bad:
	*err = "bad address literal";
	return -1;
}

/* address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
 * General-address-literal ) "]"; dcontent is %d33-90 / %d94-126. */
static int
parse_literal(struct sv d, struct buf *out, const char **err)
{
	struct sv v, tag, rest;
	const char *colon;
	size_t i;
	unsigned char c;

	if (d.n > ADDR_DOMAIN_MAX) {
		*err = "domain too long";
		return -1;
	}
	if (d.n < 2 || d.p[d.n - 1] != ']') {
		*err = "unbalanced bracket in address literal";
		return -1;
	}
	v = sv_make(d.p + 1, d.n - 2);
	for (i = 0; i < v.n; i++) {
		c = (unsigned char)v.p[i];
		if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\') {
			*err = "invalid character in address literal";
			return -1;
		}
	}
	if ((colon = memchr(v.p, ':', v.n)) == NULL)
		return lit_ipv4(v, out, err);
	tag = sv_make(v.p, (size_t)(colon - v.p));
	rest = sv_make(colon + 1, v.n - tag.n - 1);
	if (sv_caseeq_str(tag, "IPv6"))
		return lit_ipv6(rest, out, err);
	return lit_general(tag, rest, v, out, err);
}

/*
 * Local parts.
 */

/* RFC 6531 3.3: UTF8-non-ascii is allowed in atext and qtextSMTP.  Returns
 * the length of the character at p, or 0 with *err.  C1 controls are
 * refused like C0 ones. */
static size_t
local_utf8(const unsigned char *p, size_t n, int flags, const char **err)
{
	uint32_t cp;
	int l;

	if (!(flags & ADDR_UTF8)) {
		*err = "non-ASCII local part needs SMTPUTF8";
		return 0;
	}
	if ((l = utf8_decode(p, n, &cp)) < 0) {
		*err = "invalid UTF-8 in local part";
		return 0;
	}
	if (cp < 0xa0) {
		*err = "control character in local part";
		return 0;
	}
	return (size_t)l;
}

/* Dot-string = Atom *("." Atom), Atom = 1*atext.  Scans up to the "@" or
 * the end; *used gets the octets consumed. */
static int
parse_dotstring(const unsigned char *p, size_t n, int flags,
    struct addr *a, size_t *used, const char **err)
{
	size_t i = 0, l;
	int dot = 1;

	while (i < n && p[i] != '@') {
		if (i >= ADDR_LOCAL_MAX)
			goto toolong;
		l = 1;
		if (p[i] == '.') {
			if (dot)
				goto baddot;
		} else if (p[i] >= 0x80) {
			if ((l = local_utf8(p + i, n - i, flags, err)) == 0)
				return -1;
			a->utf8 = 1;
		} else if (!is_atext(p[i])) {
			*err = "invalid character in local part";
			return -1;
		}
		dot = p[i] == '.';
		i += l;
	}
	if (i == 0) {
		*err = "missing local part";
		return -1;
	}
	if (dot)
		goto baddot;
	if (i > ADDR_LOCAL_MAX || buf_try_append(&a->local, p, i) == -1)
		goto toolong;
	*used = i;
	return 0;
toolong:
	*err = "local part too long";
	return -1;
baddot:
	*err = "misplaced dot in local part";
	return -1;
}

/* Quoted-string = DQUOTE *QcontentSMTP DQUOTE, qtextSMTP = %d32-33 /
 * %d35-91 / %d93-126, quoted-pairSMTP = "\" %d32-126.  The local part is
 * stored without the quotes and backslashes. */
static int
parse_quoted(const unsigned char *p, size_t n, int flags, struct addr *a,
    size_t *used, const char **err)
{
	size_t i = 1, l;
	int r;

	for (;;) {
		if (i >= n) {
			*err = "unbalanced quote in local part";
			return -1;
		}
		if (i >= ADDR_LOCAL_MAX)
			goto toolong;
		if (p[i] == '"')
			break;
		l = 1;
		if (p[i] == '\\') {
			if (i + 1 >= n || p[i + 1] < 32 || p[i + 1] > 126) {
				*err = "bad quoted pair in local part";
				return -1;
			}
			r = buf_try_putc(&a->local, p[++i]);
		} else if (p[i] >= 0x80) {
			if ((l = local_utf8(p + i, n - i, flags, err)) == 0)
				return -1;
			a->utf8 = 1;
			r = buf_try_append(&a->local, p + i, l);
		} else if (p[i] < 32 || p[i] == 127) {
			*err = "control character in local part";
			return -1;
		} else
			r = buf_try_putc(&a->local, p[i]);
		if (r == -1)
			goto toolong;
		i += l;
	}
	a->quoted = 1;
	*used = i + 1;
	return 0;
toolong:
	*err = "local part too long";
	return -1;
}

/*
 * Mailboxes and paths.
 */

/* RFC 5321 4.1.1.3: "Postmaster" alone, case-insensitive, unquoted. */
static int
is_postmaster(const struct addr *a)
{
	return !a->quoted && sv_caseeq_str(buf_sv(&a->local), "postmaster");
}

/* Mailbox = Local-part "@" ( Domain / address-literal ).  A Postmaster
 * without a domain is accepted when nodomain is set. */
static int
parse_mailbox(const unsigned char *p, size_t n, int flags, int nodomain,
    struct addr *a, const char **err)
{
	struct sv d;
	size_t used = 0;
	int r, u = 0;

	if (n > 0 && p[0] == '"')
		r = parse_quoted(p, n, flags, a, &used, err);
	else
		r = parse_dotstring(p, n, flags, a, &used, err);
	if (r == -1)
		return -1;
	if (used == n) {
		if (nodomain && is_postmaster(a))
			return 0;
		*err = "missing domain";
		return -1;
	}
	if (p[used] != '@') {
		*err = "invalid character after quoted local part";
		return -1;
	}
	d = sv_make(p + used + 1, n - used - 1);
	if (d.n > 0 && d.p[0] == '[') {
		a->literal = 1;
		r = parse_literal(d, &a->domain, err);
	} else if ((r = domain_norm(d, flags, &a->domain, &u, err)) == 0 && u)
		a->utf8 = 1;
	if (r == -1)
		return -1;
	/* RFC 5321 4.5.3.1.3: the path limit holds for the canonical form
	 * (A-labels, no route) too, so that addr_format() output parses. */
	if (used + 1 + a->domain.len + 2 > ADDR_PATH_MAX) {
		*err = "address too long";
		return -1;
	}
	return 0;
}

/* Common checks of the whole input. */
static int
check_input(struct sv s, size_t extra, const char **err)
{
	if (sv_has_nul(s)) {
		*err = "NUL character in address";
		return -1;
	}
	/* RFC 5321 4.5.3.1.3: 256 octets with the punctuation. */
	if (s.n > ADDR_PATH_MAX - extra) {
		*err = "address too long";
		return -1;
	}
	return 0;
}

int
addr_parse(struct sv s, int flags, struct addr *a, const char **error_r)
{
	addr_reset(a);
	/* A bare mailbox must fit in a path with its "<" and ">". */
	if (check_input(s, 2, error_r) == -1 ||
	    parse_mailbox((const unsigned char *)s.p, s.n, flags,
	    (flags & ADDR_ALLOW_NODOMAIN) != 0, a, error_r) == -1) {
		addr_reset(a);
		return -1;
	}
	return 0;
}

/* A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain, ended by
 * ":".  RFC 5321 4.1.2 and Appendix C: accepted, checked and ignored. */
static int
skip_route(const unsigned char *p, size_t n, int flags, size_t *used,
    const char **err)
{
	struct buf scratch;
	size_t i = 0, j;
	int u, r = -1;

	buf_init(&scratch, ADDR_DOMAIN_MAX);
	for (;;) {
		if (i >= n || p[i] != '@')
			break;
		for (j = ++i; j < n && p[j] != ',' && p[j] != ':'; j++)
			;
		if (j >= n)
			break;
		if (domain_norm(sv_make(p + i, j - i), flags, &scratch, &u,
		    err) == -1) {
			buf_free(&scratch);
			return -1;
		}
		i = j + 1;
		if (p[j] == ':') {
			*used = i;
			r = 0;
			break;
		}
	}
	buf_free(&scratch);
	if (r == -1)
		*err = "bad source route";
	return r;
}

int
addr_parse_path(struct sv s, int flags, struct addr *a, int *is_null,
    const char **error_r)
{
	const unsigned char *p = (const unsigned char *)s.p;
	size_t n = s.n, used = 0;
	int nodomain = (flags & ADDR_ALLOW_NODOMAIN) != 0;

	addr_reset(a);
	*is_null = 0;
	if (check_input(s, 0, error_r) == -1)
		return -1;
	if (n < 2 || p[0] != '<' || p[n - 1] != '>') {
		*error_r = "address not in angle brackets";
		return -1;
	}
	p++;
	n -= 2;
	/* RFC 5321 4.5.5: the null reverse-path "<>". */
	if (n == 0) {
		*is_null = 1;
		return 0;
	}
	if (p[0] == '@') {
		if (skip_route(p, n, flags, &used, error_r) == -1)
			return -1;
		nodomain = 0;
	}
	if (parse_mailbox(p + used, n - used, flags, nodomain, a, error_r) == -1) {
		addr_reset(a);
		return -1;
	}
	return 0;
}

/*
 * Output.
 */

/* Is the local part a valid Dot-string (so it needs no quotes)?  Octets
 * >= 0x80 are UTF-8 atext (RFC 6531 3.3): a parsed address holds them only
 * when it was parsed with ADDR_UTF8. */
static int
is_dotstring(struct sv v)
{
	size_t i;
	int dot = 1;

	for (i = 0; i < v.n; i++) {
		if (v.p[i] == '.') {
			if (dot)
				return 0;
			dot = 1;
		} else if ((unsigned char)v.p[i] >= 0x80 ||
		    is_atext((unsigned char)v.p[i]))
			dot = 0;
		else
			return 0;
	}
	return v.n > 0 && !dot;
}

static void
format_local(struct sv l, struct buf *out)
{
	size_t i;

	if (is_dotstring(l)) {
		buf_append_sv(out, l);
		return;
	}
	buf_putc(out, '"');
	for (i = 0; i < l.n; i++) {
		if (l.p[i] == '"' || l.p[i] == '\\')
			buf_putc(out, '\\');
		buf_putc(out, l.p[i]);
	}
	buf_putc(out, '"');
}

void
addr_format(const struct addr *a, struct buf *out)
{
	buf_reset(out);
	format_local(buf_sv(&a->local), out);
	if (a->domain.len > 0) {
		buf_putc(out, '@');
		buf_append_sv(out, buf_sv(&a->domain));
	}
}

void
addr_key(const struct addr *a, struct buf *out)
{
	buf_reset(out);
	(void)fold_append(out, buf_sv(&a->local));
	if (a->domain.len > 0) {
		buf_putc(out, '@');
		buf_append_sv(out, buf_sv(&a->domain));
	}
}

int
addr_split_ext(struct sv local, const char *delims, struct sv *base,
    struct sv *ext)
{
	size_t i;
	unsigned char c;

	*base = local;
	*ext = sv_make("", 0);
	if (delims == NULL)
		return 0;
	for (i = 0; i < local.n; i++) {
		c = (unsigned char)local.p[i];
		if (c != '\0' && c < 0x80 && strchr(delims, c) != NULL)
			break;
	}
	/* Like Postfix: no split when the base would be empty ("+tag"). */
	if (i == 0 || i == local.n)
		return 0;
	base->n = i;
	*ext = sv_make(local.p + i + 1, local.n - i - 1);
	return 1;
}
