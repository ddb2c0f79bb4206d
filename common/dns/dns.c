/*
 * dns.c: look-ups through libunbound (dns.h).
 *
 * The resolver forwards to the servers of dns_servers, or to those of
 * /etc/resolv.conf.  Record data comes from libunbound uncompressed; it
 * is still parsed as hostile bytes, since the server that sent it may be
 * anyone's.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "chapar/config.h"
#include "chapar/dns.h"
#include "chapar/util.h"

struct dns {
	struct ub_ctx *ub;
};

const char *
dns_status_text(enum dns_status s)
{
	switch (s) {
	case DNS_OK: return "ok";
	case DNS_NODATA: return "no such record";
	case DNS_NXDOMAIN: return "no such domain";
	case DNS_TEMPFAIL: return "temporary failure";
	case DNS_BADDATA: return "malformed answer";
	}
	return "?";
}

static struct dns *
open_fail(struct dns *d, struct buf *err, const char *what, int r)
{
	buf_reset(err);
	buf_cut_printf(err, "resolver: %s: %s", what, ub_strerror(r));
	ub_ctx_delete(d->ub);
	free(d);
	return NULL;
}

struct dns *
dns_open(const struct config *cf, struct buf *err)
{
	const char *const *servers;
	struct dns *d = xcalloc(1, sizeof(*d));
	size_t n, i;
	int r;

	if ((d->ub = ub_ctx_create()) == NULL) {
		free(d);
		buf_reset(err);
		buf_puts(err, "resolver: cannot create a context");
		return NULL;
	}
	/* forwarders on loopback are allowed (a local cache, or a test's
	 * server); the names RFC 6761 reserves and the private networks'
	 * reverse zones resolve through them too (an organisation's own
	 * DNS serves those) */
	if ((r = ub_ctx_set_option(d->ub, "do-not-query-localhost:", "no")) ||
	    (r = ub_ctx_set_option(d->ub, "unblock-lan-zones:", "yes")) ||
	    (r = ub_ctx_set_option(d->ub, "local-zone:", "test. transparent"))
	    || (r = ub_ctx_set_option(d->ub, "local-zone:",
	    "invalid. transparent")))
		return open_fail(d, err, "options", r);
	n = config_list(cf, NULL, "dns_servers", &servers);
	for (i = 0; i < n; i++)
		if ((r = ub_ctx_set_fwd(d->ub, servers[i])) != 0)
			return open_fail(d, err, servers[i], r);
	if (n == 0 && (r = ub_ctx_resolvconf(d->ub, NULL)) != 0)
		return open_fail(d, err, "/etc/resolv.conf", r);
	return d;
}

void
dns_close(struct dns **dp)
{
	if (*dp == NULL)
		return;
	ub_ctx_delete((*dp)->ub);
	free(*dp);
	*dp = NULL;
}

enum dns_status
dns_query(struct dns *d, const char *name, int type, struct dns_answer *a)
{
	struct ub_result *res = NULL;
	size_t i;

	memset(a, 0, sizeof(*a));
	a->status = DNS_TEMPFAIL;
	if (ub_resolve(d->ub, name, type, 1 /* IN */, &res) != 0 ||
	    res == NULL) {
		if (res != NULL)
			ub_resolve_free(res);
		return a->status;
	}
	a->ub = res;
	a->secure = res->secure;
	if (res->bogus)
		a->status = DNS_TEMPFAIL;
	else if (res->nxdomain || res->rcode == 3)
		a->status = DNS_NXDOMAIN;
	else if (res->rcode != 0)
		a->status = DNS_TEMPFAIL;
	else if (!res->havedata)
		a->status = DNS_NODATA;
	else {
		for (i = 0; res->data[i] != NULL; i++)
			;
		a->n = i;
		a->rdata = (unsigned char **)res->data;
		a->rlen = xcalloc(i ? i : 1, sizeof(*a->rlen));
		for (i = 0; i < a->n; i++)
			a->rlen[i] = res->len[i] < 0 ? 0 : (size_t)res->len[i];
		a->status = DNS_OK;
	}
	return a->status;
}

void
dns_answer_free(struct dns_answer *a)
{
	if (a->ub != NULL)
		ub_resolve_free(a->ub);
	free(a->rlen);
	memset(a, 0, sizeof(*a));
}

/* --- record data ---------------------------------------------------------- */

/* RFC 1035 3.1: labels of 1..63 octets, 255 octets in all with the
 * length bytes and the root (so 253 characters as text).  A label's
 * bytes that are dots, blanks or controls make the name unusable as a
 * host name for us, so they are refused rather than escaped. */
int
dns_name_parse(const unsigned char *rd, size_t len, size_t *off,
    char out[DNS_NAME_MAX])
{
	size_t i = *off, o = 0, total = 0, l, k;

	for (;;) {
		if (i >= len)
			return -1;
		l = rd[i++];
		if (l == 0)
			break;
		if (l > 63 || i + l > len || (total += l + 1) > 254)
			return -1;	/* compression pointers too */
		if (o > 0)
			out[o++] = '.';
		for (k = 0; k < l; k++) {
			unsigned char c = rd[i + k];

			if (c <= ' ' || c == '.' || c >= 0x7f)
				return -1;
			out[o++] = (char)tolower(c);
		}
		i += l;
	}
	out[o] = '\0';
	*off = i;
	return 0;
}

int
dns_mx_parse(const unsigned char *rd, size_t len, unsigned *pref,
    char host[DNS_NAME_MAX])
{
	size_t off = 2;

	if (len < 3)
		return -1;
	*pref = (unsigned)rd[0] << 8 | rd[1];
	return dns_name_parse(rd, len, &off, host) == 0 && off == len ? 0 :
	    -1;
}

int
dns_txt_parse(const unsigned char *rd, size_t len, struct buf *out)
{
	size_t i = 0, l;

	buf_reset(out);
	if (len == 0)
		return -1;
	while (i < len) {
		l = rd[i++];
		if (i + l > len)
			return -1;
		if (buf_try_append(out, (const char *)rd + i, l) == -1)
			return -1;
		i += l;
	}
	return 0;
}

/* --- mail exchangers ------------------------------------------------------ */

static int
by_pref(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

void
dns_mx_order(struct dns_mx *mx, size_t n)
{
	struct dns_mx t;
	uint32_t r;
	size_t i, j, k;

	qsort(mx, n, sizeof(*mx), by_pref);
	/* RFC 5321 5.1: among equal preferences, in random order */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && mx[j].pref == mx[i].pref; j++)
			;
		for (k = j - 1; k > i; k--) {
			rand_bytes(&r, sizeof(r));
			r = (uint32_t)(i + r % (k - i + 1));
			t = mx[k];
			mx[k] = mx[r];
			mx[r] = t;
		}
	}
}

/* Has the name an address (A or AAAA)? */
static enum dns_status
has_address(struct dns *d, const char *name)
{
	struct dns_answer a;
	enum dns_status s4, s6;

	s4 = dns_query(d, name, DNS_A, &a);
	dns_answer_free(&a);
	if (s4 == DNS_OK || s4 == DNS_NXDOMAIN)
		return s4;
	s6 = dns_query(d, name, DNS_AAAA, &a);
	dns_answer_free(&a);
	if (s6 == DNS_OK)
		return DNS_OK;
	return s4 == DNS_TEMPFAIL || s6 == DNS_TEMPFAIL ? DNS_TEMPFAIL :
	    DNS_NODATA;
}

enum dns_status
dns_mx(struct dns *d, const char *domain, struct dns_mx **list, size_t *n,
    int *nullmx)
{
	struct dns_answer a;
	enum dns_status s;
	struct dns_mx *mx;
	size_t i, k = 0;

	*list = NULL;
	*n = 0;
	*nullmx = 0;
	s = dns_query(d, domain, DNS_MX, &a);
	if (s == DNS_NODATA) {
		/* RFC 5321 5.1: no MX, the domain itself is the host */
		dns_answer_free(&a);
		if ((s = has_address(d, domain)) != DNS_OK)
			return s;
		mx = xcalloc(1, sizeof(*mx));
		(void)xsnprintf(mx->host, sizeof(mx->host), "%s", domain);
		*list = mx;
		*n = 1;
		return DNS_OK;
	}
	if (s != DNS_OK) {
		dns_answer_free(&a);
		return s;
	}
	mx = xcalloc(a.n ? a.n : 1, sizeof(*mx));
	for (i = 0; i < a.n; i++) {
		if (dns_mx_parse(a.rdata[i], a.rlen[i], &mx[k].pref,
		    mx[k].host) == -1) {
			free(mx);
			dns_answer_free(&a);
			return DNS_BADDATA;
		}
		/* RFC 7505 3: the null MX, "." */
		if (mx[k].host[0] == '\0') {
			if (a.n == 1)
				*nullmx = 1;
			continue;
		}
		k++;
	}
	dns_answer_free(&a);
	if (k == 0) {
		free(mx);
		return *nullmx ? DNS_OK : DNS_BADDATA;
	}
	dns_mx_order(mx, k);
	*list = mx;
	*n = k;
	return DNS_OK;
}

static enum dns_status
addrs_of(struct dns *d, const char *host, int type, struct buf *out)
{
	struct dns_answer a;
	enum dns_status s;
	char text[INET6_ADDRSTRLEN];
	size_t i, want = type == DNS_A ? 4 : 16;

	s = dns_query(d, host, type, &a);
	for (i = 0; s == DNS_OK && i < a.n; i++) {
		if (a.rlen[i] != want || inet_ntop(type == DNS_A ? AF_INET :
		    AF_INET6, a.rdata[i], text, sizeof(text)) == NULL) {
			s = DNS_BADDATA;
			break;
		}
		/* the answer's owner chose how many: those that fit */
		if (buf_try_printf(out, "%s\n", text) == -1)
			break;
	}
	dns_answer_free(&a);
	return s;
}

enum dns_status
dns_addrs(struct dns *d, const char *host, int want6, struct buf *out)
{
	enum dns_status s6 = DNS_NODATA, s4;

	buf_reset(out);
	if (want6)
		s6 = addrs_of(d, host, DNS_AAAA, out);
	s4 = addrs_of(d, host, DNS_A, out);
	if (s4 == DNS_OK || s6 == DNS_OK)
		return DNS_OK;
	if (s4 == DNS_BADDATA || s6 == DNS_BADDATA)
		return DNS_BADDATA;
	if (s4 == DNS_TEMPFAIL || s6 == DNS_TEMPFAIL)
		return DNS_TEMPFAIL;
	return s4;
}
