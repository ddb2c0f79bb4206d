/*
 * tls_check.c: "chapar tls check": what is wrong with a certificate and
 * key before a client finds out.  Key against certificate, validity
 * dates, the chain against the system store (RFC 5280 6), the names the
 * certificate answers to (RFC 6125 6.4.4: subjectAltName DNS entries).
 *
 * Trusts: the files it is given (the administrator's).  Reads them and
 * the system trust store; no network.  Never prints key material.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
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

	(void)buf_printf(ck->rep, "%s: ", prefix[level]);
	va_start(ap, fmt);
	(void)buf_vprintf(ck->rep, fmt, ap);
	va_end(ap);
	(void)buf_putc(ck->rep, '\n');
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
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

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
 * SSL_CTX_use_certificate_chain_file() reads it. */
static int
load_chain(struct check *ck, const char *path, X509 **leaf,
    STACK_OF(X509) **rest)
{
	unsigned long e;
	BIO *b;
	X509 *x;

	*rest = sk_X509_new_null();
	if ((b = BIO_new_file(path, "r")) == NULL) {
		finding(ck, F_ERROR, "%s: cannot read: %s", path,
		    ossl_reason());
		return -1;
	}
	if ((*leaf = PEM_read_bio_X509_AUX(b, NULL, no_passphrase,
	    NULL)) == NULL) {
		finding(ck, F_ERROR, "%s: no certificate: %s", path,
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
	finding(ck, F_ERROR, "%s: bad certificate after the first: %s", path,
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
		(void)buf_printf(&names, "%s%s", names.len > 0 ? " " : "",
		    log_esc(ASN1_STRING_get0_data(g->d.dNSName),
		    (size_t)ASN1_STRING_length(g->d.dNSName)));
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

	ERR_clear_error();
	if (load_chain(&ck, cert_file, &leaf, &rest) == 0) {
		if (key_file != NULL && *key_file != '\0')
			check_key(&ck, key_file, leaf);
		check_dates(&ck, leaf);
		check_chain(&ck, leaf, rest);
		check_names(&ck, leaf);
	}
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	return ck.worst;
}
