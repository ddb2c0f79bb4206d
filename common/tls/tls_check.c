/*
 * tls_check.c: "chapar tls check": what is wrong with a certificate and
 * key before a client finds out.  Key against certificate, validity
 * dates, the chain against the system store (RFC 5280 6), the names the
 * certificate answers to (RFC 6125 6.4.4: subjectAltName DNS entries).
 * Also the OCSP response file that the server staples (RFC 6960, RFC
 * 6066 8): read and matched against its certificate here.
 *
 * Trusts: the files it is given (the administrator's).  Reads them and
 * the system trust store; no network.  Never prints key material.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "chapar/log.h"
#include "chapar/tls.h"
#include "chapar/util.h"

#define WARN_DAYS 30

enum { F_INFO, F_WARNING, F_ERROR };

struct check {
	struct buf *rep;
	int worst;		/* the tls_check_cert() result so far */
};

static void __attribute__((format(printf, 3, 4)))
finding(struct check *ck, int level, const char *fmt, ...)
{
	static const char *const prefix[] = { "info", "warning", "error" };
	va_list ap;

	/* a report line quotes the certificate: cut, never a panic; the
	 * line end stays when there is room for it */
	buf_cut_printf(ck->rep, "%s: ", prefix[level]);
	va_start(ap, fmt);
	buf_cut_vprintf(ck->rep, fmt, ap);
	va_end(ap);
	buf_cut_printf(ck->rep, "\n");
	if (level == F_ERROR)
		ck->worst = -1;
	else if (level == F_WARNING && ck->worst == 0)
		ck->worst = 1;
}

/* OpenSSL's reason for the last failure, and an empty queue. */
static const char *
ossl_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *r = NULL;

	if (e != 0)
		r = ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e)) :
		    ERR_reason_error_string(e);

	ERR_clear_error();
	return r != NULL ? r : "unknown error";
}

static int
no_passphrase(char *pw, int size, int rwflag, void *arg)
{
	(void)pw;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

/* The leaf, then the rest of the file as the untrusted chain, the way
 * SSL_CTX_use_certificate_chain_file() reads it.  b is path's contents
 * (NULL: it could not be opened), freed here.  0, or -1 and why. */
static int
read_chain(BIO *b, const char *path, X509 **leaf, STACK_OF(X509) **rest,
    struct buf *why)
{
	unsigned long e;
	X509 *x;

	*leaf = NULL;
	*rest = sk_X509_new_null();
	buf_reset(why);
	if (b == NULL) {
		buf_cut_printf(why, "%s: cannot read: %s", path,
		    ossl_reason());
		return -1;
	}
	if ((*leaf = PEM_read_bio_X509_AUX(b, NULL, no_passphrase,
	    NULL)) == NULL) {
		buf_cut_printf(why, "%s: no certificate: %s", path,
		    ossl_reason());
		BIO_free(b);
		return -1;
	}
	while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL)
		if (sk_X509_push(*rest, x) <= 0)
			X509_free(x);
	BIO_free(b);
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return 0;
	}
	buf_cut_printf(why, "%s: bad certificate after the first: %s", path,
	    ossl_reason());
	return -1;
}

static void
check_key(struct check *ck, const char *path, X509 *leaf)
{
	EVP_PKEY *key = NULL;
	BIO *b;

	if ((b = BIO_new_file(path, "r")) == NULL ||
	    (key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase,
	    NULL)) == NULL)
		finding(ck, F_ERROR, "%s: cannot load the private key: %s",
		    path, ossl_reason());
	else if (X509_check_private_key(leaf, key) != 1)
		finding(ck, F_ERROR, "key does not match certificate");
	else
		finding(ck, F_INFO, "key matches certificate");
	ERR_clear_error();
	EVP_PKEY_free(key);
	BIO_free(b);
}

static void
fmt_asn1_time(const ASN1_TIME *t, char *out, size_t n)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 ||
	    strftime(out, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		(void)xsnprintf(out, n, "(bad date)");
}

static void
check_dates(struct check *ck, X509 *x)
{
	const ASN1_TIME *nb = X509_get0_notBefore(x);
	const ASN1_TIME *na = X509_get0_notAfter(x);
	char from[64], until[64];
	int days = 0, secs = 0, after, before;

	fmt_asn1_time(nb, from, sizeof(from));
	fmt_asn1_time(na, until, sizeof(until));
	after = X509_cmp_current_time(na);
	before = X509_cmp_current_time(nb);
	if (after == 0 || before == 0)
		finding(ck, F_ERROR, "unreadable validity dates");
	else if (after < 0)
		finding(ck, F_ERROR, "expired on %s", until);
	else if (before > 0)
		finding(ck, F_ERROR, "not yet valid: valid from %s", from);
	else if (ASN1_TIME_diff(&days, &secs, NULL, na) != 1)
		finding(ck, F_ERROR, "unreadable validity dates");
	else {
		if (secs > 0)
			days++;	/* "in 10 days" for 9 days 23:59:59 */
		if (days < WARN_DAYS)
			finding(ck, F_WARNING, "expires in %d days, on %s",
			    days, until);
		else
			finding(ck, F_INFO, "valid until %s (%d days)", until,
			    days);
	}
	ERR_clear_error();
}

/* The dates are check_dates()'s business: here only the chain counts. */
static void
check_chain(struct check *ck, X509 *leaf, STACK_OF(X509) *rest)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *sc = X509_STORE_CTX_new();
	int e;

	if (st == NULL || sc == NULL || X509_STORE_set_default_paths(st) != 1 ||
	    X509_STORE_CTX_init(sc, st, leaf, rest) != 1)
		finding(ck, F_ERROR, "cannot load the system trust store: %s",
		    ossl_reason());
	else {
		(void)X509_STORE_CTX_set_purpose(sc, X509_PURPOSE_SSL_SERVER);
		X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(sc),
		    X509_V_FLAG_NO_CHECK_TIME);
		if (X509_verify_cert(sc) == 1)
			finding(ck, F_INFO, "chain verifies");
		else if ((e = X509_STORE_CTX_get_error(sc)) ==
		    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
			finding(ck, F_WARNING, "self-signed: clients will not "
			    "trust it");
		else
			finding(ck, F_ERROR, "chain does not verify: %s",
			    X509_verify_cert_error_string(e));
	}
	ERR_clear_error();
	X509_STORE_CTX_free(sc);
	X509_STORE_free(st);
}

static void
check_names(struct check *ck, X509 *x)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	struct buf names;
	int i;

	buf_init(&names, 64 * 1024);
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		/* a certificate may hold thousands of names */
		if (buf_try_printf(&names, "%s%s", names.len > 0 ? " " : "",
		    log_esc(ASN1_STRING_get0_data(g->d.dNSName),
		    (size_t)ASN1_STRING_length(g->d.dNSName))) == -1) {
			buf_cut_printf(&names, " ...");
			break;
		}
	}
	GENERAL_NAMES_free(gens);
	if (names.len > 0)
		finding(ck, F_INFO, "names: %s", buf_cstr(&names));
	else
		finding(ck, F_WARNING, "no DNS names in subjectAltName: "
		    "clients that check names will refuse it");
	buf_free(&names);
	ERR_clear_error();
}

int
tls_check_cert(const char *cert_file, const char *key_file,
    struct buf *report)
{
	struct check ck = { report, 0 };
	STACK_OF(X509) *rest = NULL;
	X509 *leaf = NULL;
	struct buf why;

	ERR_clear_error();
	buf_init(&why, 0);
	if (read_chain(BIO_new_file(cert_file, "r"), cert_file, &leaf, &rest,
	    &why) == -1)
		finding(&ck, F_ERROR, "%s", buf_cstr(&why));
	else {
		if (key_file != NULL && *key_file != '\0')
			check_key(&ck, key_file, leaf);
		check_dates(&ck, leaf);
		check_chain(&ck, leaf, rest);
		check_names(&ck, leaf);
	}
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	buf_free(&why);
	return ck.worst;
}

/* --- OCSP responses (RFC 6960) ------------------------------------------- */

/* Parse a DER response whose status is "successful". */
static OCSP_RESPONSE *
ocsp_parse(const struct tls_blob *b, struct buf *err)
{
	OCSP_RESPONSE *resp = NULL;
	const char *path = b->path;
	const unsigned char *p = b->data;
	int st;

	if (p == NULL ||
	    (resp = d2i_OCSP_RESPONSE(NULL, &p, (long)b->len)) == NULL ||
	    p != b->data + b->len)
		buf_cut_printf(err, "%s: not a DER OCSP response", path);
	else if ((st = OCSP_response_status(resp)) !=
	    OCSP_RESPONSE_STATUS_SUCCESSFUL)
		buf_cut_printf(err, "%s: OCSP response status: %s", path,
		    OCSP_response_status_str(st));
	else
		return resp;
	OCSP_RESPONSE_free(resp);
	return NULL;
}

/* The issuer of leaf: itself, or one of the chain file's certificates. */
static X509 *
find_issuer(X509 *leaf, STACK_OF(X509) *rest)
{
	X509 *x;
	int i;

	if (X509_check_issued(leaf, leaf) == X509_V_OK)
		return leaf;
	for (i = 0; i < sk_X509_num(rest); i++) {
		x = sk_X509_value(rest, i);
		if (X509_check_issued(x, leaf) == X509_V_OK)
			return x;
	}
	return NULL;
}

/* Is resp about leaf, not revoked, and current (RFC 6960 4.2.2.1, with
 * five minutes of leeway for clocks)?  The signature is left to the
 * client, which knows whom it trusts. */
static int
ocsp_match(OCSP_RESPONSE *resp, X509 *leaf, STACK_OF(X509) *rest,
    const char *path, struct buf *err)
{
	ASN1_GENERALIZEDTIME *thisupd, *nextupd;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	X509 *issuer;
	int status, reason, rc = -1;

	if ((issuer = find_issuer(leaf, rest)) == NULL)
		buf_cut_printf(err, "%s: cannot match the OCSP response: "
		    "the certificate file lacks the issuer", path);
	else if ((bs = OCSP_response_get1_basic(resp)) == NULL ||
	    (id = OCSP_cert_to_id(NULL, leaf, issuer)) == NULL)
		buf_cut_printf(err, "%s: not a basic OCSP response", path);
	else if (OCSP_resp_find_status(bs, id, &status, &reason, NULL,
	    &thisupd, &nextupd) != 1)
		buf_cut_printf(err, "%s: the OCSP response is not for the "
		    "certificate", path);
	else if (status == V_OCSP_CERTSTATUS_REVOKED)
		buf_cut_printf(err, "%s: the OCSP response says the "
		    "certificate is revoked", path);
	else if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1) {
		buf_cut_printf(err, "%s: the OCSP response is out of date",
		    path);
		rc = 0;
	} else
		rc = 1;
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	return rc;
}

int
tls_ocsp_check(const struct tls_blob *ocsp, const struct tls_blob *cert,
    struct buf *der, struct buf *err)
{
	STACK_OF(X509) *rest = NULL;
	OCSP_RESPONSE *resp = NULL;
	X509 *leaf = NULL;
	int rc = -1;

	ERR_clear_error();
	buf_reset(err);
	buf_reset(der);
	if (read_chain(BIO_new_mem_buf(cert->data, (int)cert->len),
	    cert->path, &leaf, &rest, err) == 0 &&
	    (resp = ocsp_parse(ocsp, err)) != NULL &&
	    (rc = ocsp_match(resp, leaf, rest, ocsp->path, err)) == 1 &&
	    buf_try_set(der, ocsp->data, ocsp->len) == -1) {
		buf_cut_printf(err, "%s: too large", ocsp->path);
		rc = -1;
	}
	if (rc != 1)
		buf_reset(der);
	OCSP_RESPONSE_free(resp);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	ERR_clear_error();
	return rc;
}

int
tls_ocsp_read(const char *ocsp_file, const char *cert_file, struct buf *der,
    struct buf *err)
{
	struct tls_blob ocsp, cert;
	int rc = -1;

	buf_reset(der);
	if (tls_blob_read(&ocsp, ocsp_file, err) == 0 &&
	    tls_blob_read(&cert, cert_file, err) == 0) {
		rc = tls_ocsp_check(&ocsp, &cert, der, err);
		tls_blob_free(&cert);
	}
	tls_blob_free(&ocsp);
	return rc;
}
