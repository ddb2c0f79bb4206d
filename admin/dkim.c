/*
 * dkim.c: "chapar dkim keygen|list|rotate" -- the signing keys of
 * remote(8) (dkim.h), and the DNS records they need.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/config.h"
#include "chapar/dkim.h"
#include "chapar/util.h"

/* A TXT record in strings of at most 255 octets (RFC 1035 3.3.14). */
void
dkim_print_record(const char *domain, const char *selector, const char *txt)
{
	size_t n = strlen(txt), i;

	printf("%s._domainkey.%s. IN TXT (", selector, domain);
	for (i = 0; i < n; i += 250)
		printf(" \"%.*s\"", (int)(n - i < 250 ? n - i : 250), txt + i);
	printf(" )\n");
}

static void
write_key(const char *dir, const char *selector, const struct buf *pem)
{
	struct buf path;
	int fd;

	buf_init(&path, strlen(dir) + strlen(selector) + 8);
	buf_printf(&path, "%s/%s.key", dir, selector);
	if ((fd = open(buf_cstr(&path), O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		die(EX_FAIL, "%s: %s", buf_cstr(&path), strerror(errno));
	if (write_all(fd, pem->data, pem->len) == -1 || fsync(fd) == -1 ||
	    close(fd) == -1)
		die(EX_FAIL, "%s: %s", buf_cstr(&path), strerror(errno));
	buf_free(&path);
}

/* keygen DOMAIN [SELECTOR]: an RSA-2048 and an Ed25519 key, selectors
 * SELECTOR-rsa and SELECTOR-ed25519 (default: c and the month). */
static int
keygen(const struct config *cf, const char *domain, const char *sel)
{
	struct buf dir, pem, txt, err, name;
	char def[32];
	time_t now = time(NULL);
	int ed;

	if (sel == NULL) {
		(void)strftime(def, sizeof(def), "c%Y%m", gmtime(&now));
		sel = def;
	}
	if (strspn(sel, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
	    strlen(sel) || strlen(sel) > 40 || sel[0] == '-')
		die(EX_USAGE, "%s: a selector is letters, digits and '-'", sel);
	/* dkim_dir is the configuration's (any length), the domain valid */
	buf_init(&dir, strlen(config_str(cf, NULL, "dkim_dir")) +
	    strlen(domain) + 2);
	buf_init(&pem, 8192);
	buf_init(&txt, 1024);
	buf_init(&err, 1024);
	buf_init(&name, 64);
	buf_printf(&dir, "%s/%s", config_str(cf, NULL, "dkim_dir"),
	    domain);
	if (mkdir_p(buf_cstr(&dir), 0700) == -1)
		die(EX_FAIL, "%s: %s", buf_cstr(&dir), strerror(errno));
	for (ed = 0; ed < 2; ed++) {
		buf_reset(&name);
		buf_printf(&name, "%s-%s", sel, ed ? "ed25519" : "rsa");
		if (dkim_keygen(ed, &pem, &txt, &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
		write_key(buf_cstr(&dir), buf_cstr(&name), &pem);
		dkim_print_record(domain, buf_cstr(&name), buf_cstr(&txt));
	}
	printf("; publish these, then \"chapar reload\": remote(8) signs "
	    "mail from %s with both\n", domain);
	buf_free(&dir);
	buf_free(&pem);
	buf_free(&txt);
	buf_free(&err);
	buf_free(&name);
	return EX_OK;
}

static int
list(const struct config *cf)
{
	static const char *const hdr[] = { "domain", "selector", "algorithm",
		"record" };
	struct dkim_key *k;
	struct table *t;
	struct buf err, txt;
	size_t n, i;

	buf_init(&err, 1024);
	buf_init(&txt, 1024);
	if (dkim_keys_load(config_str(cf, NULL, "dkim_dir"), &k, &n, &err) ==
	    -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	t = table_new(4, hdr);
	for (i = 0; i < n; i++) {
		const char *cells[4];

		(void)dkim_txt(&k[i], &txt);
		cells[0] = k[i].domain;
		cells[1] = k[i].selector;
		cells[2] = k[i].ed25519 ? "ed25519-sha256" : "rsa-sha256";
		cells[3] = buf_cstr(&txt);
		table_row(t, cells);
	}
	table_print(t, opt.json);
	table_free(&t);
	dkim_keys_free(&k, &n);
	buf_free(&err);
	buf_free(&txt);
	return EX_OK;
}

/* rotate DOMAIN [SELECTOR]: the keys in use become NAME.key.old (kept,
 * no longer signing), and new ones are made. */
static int
rotate(const struct config *cf, const char *domain, const char *sel)
{
	struct buf dir, from, to;
	struct dirent *de;
	size_t l;
	DIR *d;

	buf_init(&dir, strlen(config_str(cf, NULL, "dkim_dir")) +
	    strlen(domain) + 2);
	buf_init(&from, dir.max + 2 + NAME_MAX);
	buf_init(&to, from.max + 4);
	buf_printf(&dir, "%s/%s", config_str(cf, NULL, "dkim_dir"),
	    domain);
	if ((d = opendir(buf_cstr(&dir))) != NULL) {
		while ((de = readdir(d)) != NULL) {
			l = strlen(de->d_name);
			if (l <= 4 || strcmp(de->d_name + l - 4, ".key") != 0)
				continue;
			buf_reset(&from);
			buf_reset(&to);
			buf_printf(&from, "%s/%s", buf_cstr(&dir),
			    de->d_name);
			buf_printf(&to, "%s.old", buf_cstr(&from));
			if (rename(buf_cstr(&from), buf_cstr(&to)) == -1)
				die(EX_FAIL, "%s: %s", buf_cstr(&from),
				    strerror(errno));
			printf("; retired %s (keep its record a few days)\n",
			    de->d_name);
		}
		closedir(d);
	}
	buf_free(&dir);
	buf_free(&from);
	buf_free(&to);
	return keygen(cf, domain, sel);
}

int
cmd_dkim(int argc, char **argv)
{
	struct config *cf;
	struct buf dom;
	int rc;

	if (argc < 2)
		usage();
	cf = load_config();
	buf_init(&dom, 256);
	if (strcmp(argv[1], "list") == 0 && argc == 2)
		rc = list(cf);
	else if ((strcmp(argv[1], "keygen") == 0 ||
	    strcmp(argv[1], "rotate") == 0) && (argc == 3 || argc == 4)) {
		arg_domain(argv[2], &dom);
		rc = argv[1][0] == 'k' ? keygen(cf, buf_cstr(&dom), argc == 4 ?
		    argv[3] : NULL) : rotate(cf, buf_cstr(&dom), argc == 4 ?
		    argv[3] : NULL);
	} else
		usage();
	buf_free(&dom);
	config_free(&cf);
	return rc;
}
