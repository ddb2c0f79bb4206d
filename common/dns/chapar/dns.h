/*
 * dns: look-ups through libunbound, with the nameservers chapar.conf
 * names (dns_servers), so that every test can point Chapar at a DNS
 * server of its own on loopback; and the parsers of the answers' record
 * data, which are outside input like any other.
 */
#ifndef CHAPAR_DNS_H
#define CHAPAR_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"

struct config;
struct dns;

#define DNS_NAME_MAX 256	/* a domain name as text, with its NUL */

/* Record types (RFC 1035 3.2.2, RFC 3596, RFC 6698). */
#define DNS_A 1
#define DNS_PTR 12
#define DNS_MX 15
#define DNS_TXT 16
#define DNS_AAAA 28
#define DNS_TLSA 52

/* What a look-up found. */
enum dns_status {
	DNS_OK,			/* records */
	DNS_NODATA,		/* the name exists, without records of the type */
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_TEMPFAIL,		/* SERVFAIL, a timeout, no server: try later */
	DNS_BADDATA		/* an answer that does not parse */
};

const char *dns_status_text(enum dns_status);

/* The resolver: dns_servers ("addr" or "addr@port", in order) or, when
 * that is empty, the system's (/etc/resolv.conf).  NULL with err. */
struct dns *dns_open(const struct config *, struct buf *err);
void dns_close(struct dns **);

/* The raw records of one type: rdata[i] of rlen[i] bytes, owned by the
 * answer. */
struct dns_answer {
	enum dns_status status;
	int secure;		/* DNSSEC-validated (no trust anchor yet: 0) */
	size_t n;
	unsigned char **rdata;
	size_t *rlen;
	void *ub;		/* libunbound's result */
};

enum dns_status dns_query(struct dns *, const char *name, int type,
    struct dns_answer *);
void dns_answer_free(struct dns_answer *);

/* --- record data (pure parsers; fuzzed) ---------------------------------- */

/* An uncompressed domain name in wire format at rd[*off], as text
 * without the final dot ("" for the root), lower case; *off moves past
 * it.  0, or -1 if malformed (a compression pointer counts as that:
 * record data is uncompressed here). */
int dns_name_parse(const unsigned char *rd, size_t len, size_t *off,
    char out[DNS_NAME_MAX]);
/* MX: preference and exchange. */
int dns_mx_parse(const unsigned char *rd, size_t len, unsigned *pref,
    char host[DNS_NAME_MAX]);
/* TXT: its character-strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2). */
int dns_txt_parse(const unsigned char *rd, size_t len, struct buf *out);

/* --- mail exchangers (RFC 5321 5.1, RFC 7505) ---------------------------- */

struct dns_mx {
	unsigned pref;
	char host[DNS_NAME_MAX];
};

/*
 * The hosts to try for a domain, best first, equal preferences in random
 * order.  No MX records: the domain itself (the implicit MX) when it
 * exists.  A null MX (one record, preference 0, exchange ".") gives
 * *nullmx = 1 and no hosts.  The list is malloc'd.
 */
enum dns_status dns_mx(struct dns *, const char *domain, struct dns_mx **,
    size_t *n, int *nullmx);
/* Sort by preference, shuffling equal ones (exposed for the tests). */
void dns_mx_order(struct dns_mx *, size_t n);

/* The addresses of a host as text ("192.0.2.1", "2001:db8::1"): IPv6
 * first when want6, then IPv4.  One line each into out, as many as fit
 * (a host may have hundreds; Postfix too tries only the first few). */
enum dns_status dns_addrs(struct dns *, const char *host, int want6,
    struct buf *out);

#endif
