/*
 * dns.c: "chapar dns lookup TYPE NAME" -- what Chapar's resolver sees
 * (dns_servers, or the system's), the way the queue will see it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "chapar/config.h"
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

int
cmd_dns(int argc, char **argv)
{
	struct config *cf;
	struct buf err, out;
	struct dns *d;
	const char *type, *name;
	enum dns_status s;
	int rc;

	if (argc != 4 || strcmp(argv[1], "lookup") != 0)
		usage();
	type = argv[2];
	name = argv[3];
	cf = load_config();
	buf_init(&err, 1024);
	if ((d = dns_open(cf, &err)) == NULL)
		die(EX_FAIL, "%s", buf_cstr(&err));
	if (strcasecmp(type, "mx") == 0)
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
