/*
 * dns.c: "chapar dns lookup TYPE NAME" -- what Chapar's resolver sees
 * (dns_servers, or the system's), the way the queue will see it; and
 * "chapar dns DOMAIN" -- the records a domain needs for mail through
 * this server, each compared with what DNS has now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "chapar/config.h"
#include "chapar/dkim.h"
#include "chapar/dns.h"
#include "chapar/util.h"

static int
status_exit(enum dns_status s)
{
	fprintf(stderr, "chapar: %s\n", dns_status_text(s));
	return s == DNS_TEMPFAIL ? EX_TEMP : EX_FAIL;
}

static int
show_mx(struct dns *d, const char *name)
{
	struct dns_mx *mx;
	struct buf addrs;
	enum dns_status s;
	size_t n, i;
	int nullmx;

	if ((s = dns_mx(d, name, &mx, &n, &nullmx)) != DNS_OK)
		return status_exit(s);
	if (nullmx) {
		printf("%s accepts no mail (null MX, RFC 7505)\n", name);
		return EX_OK;
	}
	buf_init(&addrs, 4096);
	for (i = 0; i < n; i++) {
		s = dns_addrs(d, mx[i].host, 1, &addrs);
		printf("%u %s", mx[i].pref, mx[i].host);
		if (s == DNS_OK) {
			char *p;

			for (p = addrs.data; p < addrs.data + addrs.len; p++)
				if (*p == '\n')
					*p = ' ';
			printf(" %.*s\n", (int)addrs.len - 1, addrs.data);
		} else
			printf(" (%s)\n", dns_status_text(s));
	}
	buf_free(&addrs);
	free(mx);
	return EX_OK;
}

/* A TXT string as a quoted line; bytes that are not printable ASCII
 * (and the quote and backslash) as \xNN. */
static void
print_txt(const struct buf *t)
{
	size_t i;

	putchar('"');
	for (i = 0; i < t->len; i++) {
		unsigned char c = (unsigned char)t->data[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
	printf("\"\n");
}

static int
show_records(struct dns *d, const char *name, int type)
{
	struct dns_answer a;
	enum dns_status s;
	struct buf text;
	char host[DNS_NAME_MAX];
	unsigned pref;
	size_t i, off;
	int rc = EX_OK;

	if ((s = dns_query(d, name, type, &a)) != DNS_OK) {
		dns_answer_free(&a);
		return status_exit(s);
	}
	buf_init(&text, 4096);
	for (i = 0; i < a.n; i++) {
		off = 0;
		if (type == DNS_MX && dns_mx_parse(a.rdata[i], a.rlen[i],
		    &pref, host) == 0)
			printf("%u %s.\n", pref, host);
		else if (type == DNS_PTR && dns_name_parse(a.rdata[i],
		    a.rlen[i], &off, host) == 0 && off == a.rlen[i])
			printf("%s.\n", host);
		else if (type == DNS_TXT && dns_txt_parse(a.rdata[i],
		    a.rlen[i], &text) == 0)
			print_txt(&text);
		else {
			fprintf(stderr, "chapar: a malformed record\n");
			rc = EX_FAIL;
		}
	}
	buf_free(&text);
	dns_answer_free(&a);
	return rc;
}

/* The TXT records at name, one per line (strings joined); a status. */
static enum dns_status
txt_records(struct dns *d, const char *name, struct buf *out)
{
	struct dns_answer a;
	enum dns_status s;
	struct buf text;
	size_t i;

	buf_reset(out);
	buf_init(&text, 4096);
	/* what DNS answers is not ours to size: records that do not fit
	 * are left out (the comparison then says MISSING) */
	if ((s = dns_query(d, name, DNS_TXT, &a)) == DNS_OK)
		for (i = 0; i < a.n; i++)
			if (dns_txt_parse(a.rdata[i], a.rlen[i], &text) == 0 &&
			    memchr(text.data, '\n', text.len) == NULL &&
			    buf_reserve(out, text.len + 1) == 0) {
				buf_append(out, text.data, text.len);
				buf_putc(out, '\n');
			}
	dns_answer_free(&a);
	buf_free(&text);
	return s;
}

/* How the TXT records at name compare with want (exact, or with
 * prefix only its start). */
static void
check_txt(struct dns *d, const char *name, const char *want, int prefix)
{
	struct buf have;
	enum dns_status s;
	struct sv rest, line;
	size_t n = strlen(want);

	buf_init(&have, 64 * 1024);
	s = txt_records(d, name, &have);
	rest = buf_sv(&have);
	while (s == DNS_OK && rest.n > 0) {
		(void)sv_split(&rest, '\n', &line);
		if (prefix ? line.n >= n && strncasecmp(line.p, want, n) == 0 :
		    sv_eq_str(line, want)) {
			struct buf e;

			/* DNS's text, escaped for the terminal */
			buf_init(&e, 4 * line.n + 1);
			if (prefix)
				esc_append(&e, line);
			printf(";   in DNS now: yes%s%s\n", prefix ? ": " : "",
			    buf_cstr(&e));
			buf_free(&e);
			buf_free(&have);
			return;
		}
	}
	if (s == DNS_OK || s == DNS_NXDOMAIN || s == DNS_NODATA)
		printf(";   in DNS now: MISSING\n");
	else
		printf(";   in DNS now: cannot tell (%s)\n",
		    dns_status_text(s));
	buf_free(&have);
}

/*
 * The records DOMAIN needs so that mail to it reaches this server and
 * mail from it (through this server) is believed: MX (RFC 5321 5.1),
 * SPF (RFC 7208), one DKIM key record per key in dkim_dir (RFC 6376
 * 3.6.2), DMARC (RFC 7489 6.1); each followed by whether DNS has it.
 */
static int
records(struct config *cf, struct dns *d, const char *domain)
{
	char host[256], name[512];
	struct dkim_key *k;
	struct dns_mx *mx;
	struct buf err, txt;
	enum dns_status s;
	const char *pm = config_str(cf, NULL, "postmaster");
	size_t n, nmx, i, signing = 0;
	int nullmx, found;

	config_hostname(cf, host, sizeof(host));
	buf_init(&err, 1024);
	buf_init(&txt, 1024);
	printf("; the DNS records %s needs for mail through %s\n", domain,
	    host);
	printf("%s. IN MX 10 %s.\n", domain, host);
	s = dns_mx(d, domain, &mx, &nmx, &nullmx);
	if (s == DNS_OK) {
		for (i = 0, found = 0; i < nmx; i++)
			found |= strcasecmp(mx[i].host, host) == 0;
		printf(";   in DNS now: %s\n", nullmx ? "a null MX (no mail at "
		    "all)" : found ? "yes" : "MISSING (other hosts)");
		free(mx);
	} else
		printf(";   in DNS now: %s\n", s == DNS_NXDOMAIN || s ==
		    DNS_NODATA ? "MISSING" : dns_status_text(s));
	printf("%s. IN TXT \"v=spf1 mx -all\"\n", domain);
	check_txt(d, domain, "v=spf1", 1);
	if (dkim_keys_load(config_str(cf, NULL, "dkim_dir"), &k, &n, &err) ==
	    -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	for (i = 0; i < n; i++) {
		if (strcasecmp(k[i].domain, domain) != 0)
			continue;
		signing++;
		(void)dkim_txt(&k[i], &txt);
		dkim_print_record(domain, k[i].selector, buf_cstr(&txt));
		(void)xsnprintf(name, sizeof(name), "%s._domainkey.%s",
		    k[i].selector, domain);
		check_txt(d, name, buf_cstr(&txt), 0);
	}
	if (signing == 0)
		printf("; no DKIM key for %s: \"chapar dkim keygen %s\" makes "
		    "one\n", domain, domain);
	(void)xsnprintf(name, sizeof(name), "_dmarc.%s", domain);
	printf("%s. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:%s%s%s\"\n",
	    name, pm, strchr(pm, '@') ? "" : "@", strchr(pm, '@') ? "" :
	    domain);
	check_txt(d, name, "v=DMARC1", 1);
	printf("; and %s needs an address record (A/AAAA) whose reverse "
	    "(PTR) gives %s back\n", host, host);
	dkim_keys_free(&k, &n);
	buf_free(&err);
	buf_free(&txt);
	return EX_OK;
}

int
cmd_dns(int argc, char **argv)
{
	struct config *cf;
	struct buf err, out;
	struct dns *d;
	const char *type, *name;
	enum dns_status s;
	int rc;

	if (argc == 2 && strcmp(argv[1], "lookup") != 0) {
		type = "records";
		name = argv[1];
	} else if (argc == 4 && strcmp(argv[1], "lookup") == 0) {
		type = argv[2];
		name = argv[3];
	} else
		usage();
	cf = load_config();
	buf_init(&err, 1024);
	if ((d = dns_open(cf, &err)) == NULL)
		die(EX_FAIL, "%s", buf_cstr(&err));
	if (strcmp(type, "records") == 0)
		rc = records(cf, d, name);
	else if (strcasecmp(type, "mx") == 0)
		rc = show_mx(d, name);
	else if (strcasecmp(type, "txt") == 0)
		rc = show_records(d, name, DNS_TXT);
	else if (strcasecmp(type, "ptr") == 0)
		rc = show_records(d, name, DNS_PTR);
	else if (strcasecmp(type, "a") == 0 || strcasecmp(type, "addr") == 0) {
		/* a: IPv4; addr: IPv6 then IPv4, as delivery tries them */
		buf_init(&out, 4096);
		s = dns_addrs(d, name, strcasecmp(type, "addr") == 0, &out);
		if (s == DNS_OK)
			fwrite(out.data, 1, out.len, stdout);
		rc = s == DNS_OK ? EX_OK : status_exit(s);
		buf_free(&out);
	} else
		usage();
	dns_close(&d);
	buf_free(&err);
	config_free(&cf);
	return rc;
}
