/*
 * tls_files.c: the files of a tls_conf read into memory ahead of time
 * (tls.h), so that a worker can build its TLS contexts on the first
 * STARTTLS, chrooted and unprivileged, from what it read as root.
 *
 * Plain open(2) and read(2) only.  This file includes no OpenSSL header
 * (the check below makes sure of it), so it cannot call OpenSSL: with
 * -Werror an undeclared function is an error.  A worker that never does
 * TLS never makes OpenSSL set up its state.
 *
 * Trusts: the administrator's files, within bounds: each one a regular
 * file of at most TLS_FILE_MAX bytes, sni_dir at most SNI_FILES_MAX
 * pairs.  Each file gets one allocation of its exact size (no realloc
 * leaving copies behind) and is wiped when freed.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/config.h"
#include "chapar/tls.h"
#include "chapar/util.h"

#ifdef OPENSSL_VERSION_NUMBER
#error "tls_files.c must not use OpenSSL"
#endif

#define SNI_FILES_MAX 100000

static int
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

/* Read path into b; what says what failed ("cannot load the private
 * key"), as OpenSSL's file loaders used to.  Symbolic links are
 * followed (certbot's live/ directory is made of them); O_NONBLOCK so
 * that a FIFO cannot hang us before fstat() refuses it. */
static int
blob_read(struct tls_blob *b, const char *path, const char *what,
    struct buf *err)
{
	struct stat st;
	const char *why = NULL;
	size_t cap, len = 0;
	ssize_t r;
	int fd, e = 0;

	memset(b, 0, sizeof(*b));
	b->path = xstrdup(path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1 || fstat(fd, &st) == -1)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_size > (off_t)TLS_FILE_MAX)
		why = "larger than 1 MB";
	else {
		/* One byte more than fstat() said, to see a file that grows
		 * under us, and one for the NUL. */
		cap = (size_t)st.st_size + 1;
		b->data = xmalloc(cap + 1);
		while (len < cap) {
			if ((r = read(fd, b->data + len, cap - len)) > 0)
				len += (size_t)r;
			else if (r == 0)
				break;
			else if (errno != EINTR) {
				e = errno;
				break;
			}
		}
		b->len = len;
		if (e == 0 && len == cap)
			why = "changed while being read";
		else
			b->data[len] = '\0';
	}
	if (fd != -1)
		(void)close(fd);
	if (e == 0 && why == NULL)
		return 0;
	buf_reset(err);
	buf_cut_printf(err, "%s: %s: %s", path, what,
	    why != NULL ? why : strerror(e));
	tls_blob_free(b);
	return -1;
}

int
tls_blob_read(struct tls_blob *b, const char *path, struct buf *err)
{
	return blob_read(b, path, "cannot read", err);
}

void
tls_blob_free(struct tls_blob *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->len + 1);
	free(b->data);
	free(b->path);
	memset(b, 0, sizeof(*b));
}

/* The messages SSL_CTX_use_*_file() gave when they read the files. */
static int
pair_read(struct tls_pair *p, const char *crt, const char *key,
    struct buf *err)
{
	memset(p, 0, sizeof(*p));
	if (blob_read(&p->crt, crt, "cannot load the certificate chain",
	    err) == -1)
		return -1;
	return blob_read(&p->key, key, "cannot load the private key", err);
}

static int
sni_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 4 &&
	    strcmp(d->d_name + n - 4, ".crt") == 0;
}

/* Every dir/NAME.crt with dir/NAME.key, in alphasort() order: the order
 * tls.c indexes them in, where the first of two certificates for one
 * name wins. */
static int
sni_read(struct tls_files *f, const char *dir, struct buf *err)
{
	struct dirent **ents;
	struct buf crt, key;
	int i, n, rc = 0;
	size_t len;

	if ((n = scandir(dir, &ents, sni_filter, alphasort)) < 0) {
		buf_reset(err);
		buf_cut_printf(err, "%s: cannot read: %s", dir,
		    strerror(errno));
		return -1;
	}
	buf_init(&crt, PATH_MAX);
	buf_init(&key, PATH_MAX);
	if (n > SNI_FILES_MAX) {
		buf_reset(err);
		buf_cut_printf(err, "%s: more than %d certificates", dir,
		    SNI_FILES_MAX);
		rc = -1;
	} else if (n > 0)
		f->sni = xcalloc((size_t)n, sizeof(*f->sni));
	for (i = 0; i < n; i++) {
		len = strlen(ents[i]->d_name) - 4;
		buf_reset(&crt);
		buf_reset(&key);
		if (rc == 0 && (buf_try_printf(&crt, "%s/%s", dir,
		    ents[i]->d_name) == -1 || buf_try_printf(&key, "%s/%.*s.key",
		    dir, (int)len, ents[i]->d_name) == -1)) {
			buf_reset(err);
			buf_cut_printf(err, "%s: path too long", dir);
			rc = -1;
		}
		/* Counted first: tls_files_free() frees a half-read pair. */
		if (rc == 0 && pair_read(&f->sni[f->nsni++], buf_cstr(&crt),
		    buf_cstr(&key), err) == -1)
			rc = -1;
		free(ents[i]);
	}
	free(ents);
	buf_free(&crt);
	buf_free(&key);
	return rc;
}

int
tls_files_load(const struct tls_conf *conf, struct tls_files **fp,
    struct buf *err)
{
	struct tls_files *f;

	*fp = NULL;
	if (!nonempty(conf->cert_file) || !nonempty(conf->key_file)) {
		buf_reset(err);
		buf_puts(err, "tls: no certificate or key file");
		return -1;
	}
	f = xcalloc(1, sizeof(*f));
	if (pair_read(&f->def, conf->cert_file, conf->key_file, err) == -1 ||
	    (nonempty(conf->sni_dir) && sni_read(f, conf->sni_dir,
	    err) == -1) || (nonempty(conf->ocsp_file) &&
	    tls_blob_read(&f->ocsp, conf->ocsp_file, err) == -1)) {
		tls_files_free(&f);
		return -1;
	}
	*fp = f;
	return 0;
}

void
tls_files_free(struct tls_files **fp)
{
	struct tls_files *f = *fp;
	size_t i;

	if (f == NULL)
		return;
	tls_blob_free(&f->def.crt);
	tls_blob_free(&f->def.key);
	for (i = 0; i < f->nsni; i++) {
		tls_blob_free(&f->sni[i].crt);
		tls_blob_free(&f->sni[i].key);
	}
	free(f->sni);
	tls_blob_free(&f->ocsp);
	free(f);
	*fp = NULL;
}

void
tls_conf_from_config(struct tls_conf *tc, const struct config *cf,
    const char *svc)
{
	const char *v;

	memset(tc, 0, sizeof(*tc));
	tc->cert_file = config_str(cf, svc, "tls_cert_file");
	tc->key_file = config_str(cf, svc, "tls_key_file");
	tc->sni_dir = config_str(cf, svc, "tls_sni_dir");
	tc->min_version = config_str(cf, svc, "tls_min_version");
	v = config_str(cf, svc, "tls_ciphers");
	tc->ciphers = v[0] ? v : NULL;
	v = config_str(cf, svc, "tls_ciphersuites");
	tc->ciphersuites = v[0] ? v : NULL;
	tc->groups = config_str(cf, svc, "tls_groups");
	tc->ocsp_file = config_str(cf, svc, "tls_ocsp_file");
}
