/*
 * cert.c: the self-signed certificate of a new instance, so that TLS works
 * from the first start.  ECDSA P-256, SHA-256, valid 825 days, with the
 * host name and localhost as subject alternative names.  Replace it with
 * a real certificate (tls_cert_file, tls_key_file) in production.
 */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/util.h"

static int
ssl_fail(struct buf *err, const char *what)
{
	char msg[256];

	ERR_error_string_n(ERR_get_error(), msg, sizeof(msg));
	buf_reset(err);
	buf_printf(err, "%s: %s", what, msg);
	return -1;
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int r;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	r = X509_add_ext(x, ext, -1) == 1 ? 0 : -1;
	X509_EXTENSION_free(ext);
	return r;
}

static int
build(X509 *x, EVP_PKEY *k, const char *host, struct buf *err)
{
	X509_NAME *name;
	BIGNUM *bn;
	ASN1_INTEGER *serial;
	struct buf san;
	int r;

	bn = BN_new();
	if (bn == NULL || !BN_rand(bn, 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
		BN_free(bn);
		return ssl_fail(err, "serial number");
	}
	BN_free(bn);
	r = X509_set_serialNumber(x, serial);
	ASN1_INTEGER_free(serial);
	if (!r || !X509_set_version(x, 2) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 825L * 86400) == NULL ||
	    !X509_set_pubkey(x, k))
		return ssl_fail(err, "certificate");
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)host, -1, -1, 0) ||
	    !X509_set_issuer_name(x, name))
		return ssl_fail(err, "certificate name");
	buf_init(&san, strlen(host) + 64);
	buf_printf(&san, "DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1",
	    host);
	r = add_ext(x, NID_subject_alt_name, buf_cstr(&san));
	buf_free(&san);
	if (r == -1 ||
	    add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == -1 ||
	    add_ext(x, NID_key_usage, "critical,digitalSignature") == -1 ||
	    add_ext(x, NID_ext_key_usage, "serverAuth") == -1)
		return ssl_fail(err, "certificate extensions");
	if (X509_sign(x, k, EVP_sha256()) == 0)
		return ssl_fail(err, "signing");
	return 0;
}

static FILE *
create(const char *path, mode_t mode, struct buf *err)
{
	FILE *fp;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd == -1 || (fp = fdopen(fd, "w")) == NULL) {
		buf_reset(err);
		/* a path of the configuration: any length */
		if (buf_try_printf(err, "%s: %s", path, strerror(errno)) == -1)
			buf_puts(err, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	return fp;
}

int
make_self_signed(const char *certpath, const char *keypath, const char *host,
    struct buf *err)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	FILE *fp;
	int r = -1;

	if ((k = EVP_EC_gen("P-256")) == NULL) {
		ssl_fail(err, "key generation");
		goto out;
	}
	if ((x = X509_new()) == NULL || build(x, k, host, err) == -1)
		goto out;
	if ((fp = create(keypath, 0600, err)) == NULL)
		goto out;
	if (!PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL) ||
	    fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		fclose(fp);
		unlink(keypath);
		ssl_fail(err, keypath);
		goto out;
	}
	fclose(fp);
	if ((fp = create(certpath, 0644, err)) == NULL) {
		unlink(keypath);
		goto out;
	}
	if (!PEM_write_X509(fp, x) || fflush(fp) != 0 ||
	    fsync(fileno(fp)) != 0) {
		fclose(fp);
		unlink(certpath);
		unlink(keypath);
		ssl_fail(err, certpath);
		goto out;
	}
	fclose(fp);
	r = 0;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return r;
}
