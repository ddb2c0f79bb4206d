/*
 * tls.c: "chapar tls check": the certificates the configuration names
 * (the global pair, each service's own, every pair in tls_sni_dir), each
 * checked for key match, dates and chain.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "chapar/tls.h"
#include "chapar/util.h"

static int worst;

static void
check_pair(const char *label, const char *cert, const char *key)
{
	struct buf report;
	int r;

	buf_init(&report, 0);
	r = tls_check_cert(cert, key, &report);
	printf("%s: %s\n", label, cert);
	fputs(buf_cstr(&report), stdout);
	if (report.len > 0 && report.data[report.len - 1] != '\n')
		putchar('\n');
	if (r < 0)
		worst = -1;
	else if (r > 0 && worst == 0)
		worst = 1;
	buf_free(&report);
}

/* NAME.crt with NAME.key beside it. */
static void
check_sni_dir(const char *dir)
{
	struct dirent *de;
	struct buf cert, key, label;
	size_t n;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		printf("tls_sni_dir %s: cannot open\n", dir);
		worst = -1;
		return;
	}
	/* the directory is the configuration's (any length), an entry at
	 * most NAME_MAX */
	buf_init(&cert, strlen(dir) + NAME_MAX + 2);
	buf_init(&key, strlen(dir) + NAME_MAX + 2);
	buf_init(&label, NAME_MAX + 8);
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n <= 4 || strcmp(de->d_name + n - 4, ".crt") != 0)
			continue;
		buf_reset(&cert);
		buf_reset(&key);
		buf_reset(&label);
		buf_printf(&cert, "%s/%s", dir, de->d_name);
		buf_printf(&key, "%s/%.*s.key", dir, (int)(n - 4),
		    de->d_name);
		buf_printf(&label, "SNI %.*s", (int)(n - 4), de->d_name);
		check_pair(buf_cstr(&label), buf_cstr(&cert), buf_cstr(&key));
	}
	closedir(d);
	buf_free(&cert);
	buf_free(&key);
	buf_free(&label);
}

int
cmd_tls(int argc, char **argv)
{
	const char *names[256], *gcert, *gkey, *c, *k;
	struct config *cf;
	size_t i, n;

	if (argc != 2 || strcmp(argv[1], "check") != 0)
		usage();
	cf = load_config();
	gcert = config_str(cf, NULL, "tls_cert_file");
	gkey = config_str(cf, NULL, "tls_key_file");
	check_pair("default", gcert, gkey);
	if (config_str(cf, NULL, "tls_sni_dir")[0] != '\0')
		check_sni_dir(config_str(cf, NULL, "tls_sni_dir"));
	n = config_sections(cf, names, NELEM(names));
	for (i = 0; i < n; i++) {
		c = config_str(cf, names[i], "tls_cert_file");
		k = config_str(cf, names[i], "tls_key_file");
		if (strcmp(c, gcert) != 0 || strcmp(k, gkey) != 0) {
			struct buf label;

			buf_init(&label, strlen(names[i]) + 16);
			buf_printf(&label, "service %s", names[i]);
			check_pair(buf_cstr(&label), c, k);
			buf_free(&label);
		}
	}
	config_free(&cf);
	return worst < 0 ? EX_FAIL : EX_OK;
}
