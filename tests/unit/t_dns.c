/* Unit tests: DNS record data (common/dns/dns.c), as hostile bytes. */
#include <string.h>

#include "chapar/dns.h"
#include "chapar/util.h"
#include "harness.h"

#define RD(s) (const unsigned char *)(s), sizeof(s) - 1

static void
dns_names(void)
{
	char out[DNS_NAME_MAX];
	unsigned char big[300];
	size_t off = 0, i;

	T_EQ_INT(dns_name_parse(RD("\2Mx\7Example\3NET\0"), &off, out), 0);
	T_EQ_STR(out, "mx.example.net");
	T_EQ_INT((int)off, 16);
	off = 0;
	T_EQ_INT(dns_name_parse(RD("\0"), &off, out), 0);	/* the root */
	T_EQ_STR(out, "");
	off = 0;	/* no end, a label past the end, a pointer */
	T_EQ_INT(dns_name_parse(RD("\2mx"), &off, out), -1);
	off = 0;
	T_EQ_INT(dns_name_parse(RD("\5mx\0"), &off, out), -1);
	off = 0;
	T_EQ_INT(dns_name_parse(RD("\2mx\300\014"), &off, out), -1);
	off = 0;	/* a dot, a blank or a control inside a label */
	T_EQ_INT(dns_name_parse(RD("\3a.b\0"), &off, out), -1);
	off = 0;
	T_EQ_INT(dns_name_parse(RD("\3a b\0"), &off, out), -1);
	off = 0;
	T_EQ_INT(dns_name_parse(RD("\3a\nb\0"), &off, out), -1);
	/* 255 octets at most (RFC 1035 3.1) */
	for (i = 0; i + 64 < sizeof(big); i += 64) {
		big[i] = 63;
		memset(big + i + 1, 'a', 63);
	}
	big[i] = 0;
	off = 0;
	T_EQ_INT(dns_name_parse(big, i + 1, &off, out), -1);
	/* 63+63+63+61 with the dots: 253 characters, the most (RFC 1035
	 * 3.1, 255 octets with the length bytes and the root) */
	big[192] = 61;
	big[254] = 0;
	off = 0;
	T_EQ_INT(dns_name_parse(big, 255, &off, out), 0);
	T_EQ_INT((int)strlen(out), 253);
	big[192] = 62;
	memset(big + 193, 'a', 62);
	big[255] = 0;
	off = 0;
	T_EQ_INT(dns_name_parse(big, 256, &off, out), -1);
	big[192] = 0;	/* three labels: 192 octets */
	off = 0;
	T_EQ_INT(dns_name_parse(big, 193, &off, out), 0);
	T_EQ_INT((int)strlen(out), 191);
}

static void
dns_mx_and_txt(void)
{
	char host[DNS_NAME_MAX];
	unsigned pref;
	struct buf t;

	T_EQ_INT(dns_mx_parse(RD("\0\12\2mx\7example\3net\0"), &pref, host), 0);
	T_EQ_INT((int)pref, 10);
	T_EQ_STR(host, "mx.example.net");
	T_EQ_INT(dns_mx_parse(RD("\0\0\0"), &pref, host), 0);	/* null MX */
	T_EQ_STR(host, "");
	T_EQ_INT(dns_mx_parse(RD("\0\12\2mx\0junk"), &pref, host), -1);
	T_EQ_INT(dns_mx_parse(RD("\0\12"), &pref, host), -1);
	buf_init(&t, 4096);
	T_EQ_INT(dns_txt_parse(RD("\5v=spf\3 -a"), &t), 0);
	T_ASSERT(t.len == 8 && memcmp(t.data, "v=spf -a", 8) == 0);
	T_EQ_INT(dns_txt_parse(RD("\0"), &t), 0);
	T_EQ_INT((int)t.len, 0);
	T_EQ_INT(dns_txt_parse(RD("\5abc"), &t), -1);
	T_EQ_INT(dns_txt_parse((const unsigned char *)"", 0, &t), -1);
	buf_free(&t);
}

/* RFC 5321 5.1: by preference, equal ones shuffled, none lost. */
static void
dns_mx_ordering(void)
{
	struct dns_mx mx[5];
	int seen_a_first = 0, seen_b_first = 0, round;
	static const unsigned prefs[] = { 20, 10, 10, 30, 10 };
	static const char *const hosts[] = { "d", "a", "b", "e", "c" };
	size_t i;

	for (round = 0; round < 64; round++) {
		for (i = 0; i < 5; i++) {
			mx[i].pref = prefs[i];
			(void)xsnprintf(mx[i].host, sizeof(mx[i].host), "%s",
			    hosts[i]);
		}
		dns_mx_order(mx, 5);
		T_ASSERT(mx[0].pref == 10 && mx[1].pref == 10 &&
		    mx[2].pref == 10 && mx[3].pref == 20 && mx[4].pref == 30);
		T_EQ_STR(mx[3].host, "d");
		T_EQ_STR(mx[4].host, "e");
		seen_a_first |= strcmp(mx[0].host, "a") == 0;
		seen_b_first |= strcmp(mx[0].host, "b") == 0;
	}
	T_ASSERT(seen_a_first && seen_b_first);
}

T_SUITE(suite_dns)
{
	t_run("dns_names", dns_names);
	t_run("dns_mx_and_txt", dns_mx_and_txt);
	t_run("dns_mx_ordering", dns_mx_ordering);
}
