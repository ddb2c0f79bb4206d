/*
 * tls.c: TLS on top of struct io with OpenSSL 3, server and client side
 * (RFC 8446 TLS 1.3, RFC 5246 TLS 1.2, RFC 3207 STARTTLS, RFC 6066
 * server_name and status_request, RFC 5077 / RFC 8446 4.6.1 tickets).
 *
 * Trusts: the certificate, key and OCSP files (the administrator's,
 * read into memory by tls_files.c, which calls no OpenSSL) and the
 * ticket keys (chapard's); nothing the peer sends.  Every wait for the
 * peer is bounded: the handshake by io->timeout_ms as a whole, the data
 * that follows by io.c's own timeouts.  Ticket keys live only in
 * struct tls_server, are wiped when replaced, and are never logged.
 */
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "chapar/log.h"
#include "chapar/tls.h"
#include "chapar/util.h"

/* TLS 1.2 only: forward secrecy and AEAD, ECDSA before RSA (the server
 * picks; SSL_OP_CIPHER_SERVER_PREFERENCE). */
#define TLS_DEFAULT_CIPHERS                                                    \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"           \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define TLS_DEFAULT_GROUPS "X25519:P-256"
/* One session id context for every SSL_CTX of every server, so that a
 * session made by one worker resumes with another (an SNI switch keeps
 * the context only when it is the same); the ticket keys are what
 * really scopes resumption. */
#define TLS_SID_CTX "chapar"
#define SNI_NAME_MAX 253	/* RFC 1035 2.3.4, in text form */

/* Ticket key layout (tls.h): name, AES-256 key, HMAC-SHA256 key. */
#define TK_NAME 0
#define TK_NAMELEN 16
#define TK_AES 16
#define TK_HMAC 48
#define TK_SECRETLEN 32
_Static_assert(TLS_TICKET_KEYLEN == TK_HMAC + TK_SECRETLEN,
    "ticket key layout");

struct sni_ent {
	char *name;		/* lower case; may start with "*." */
	SSL_CTX *ctx;		/* owned by sni_ctx[] */
	size_t seq;		/* load order: the first of duplicates wins */
};

struct tls_server {
	SSL_CTX *ctx;		/* the default certificate */
	SSL_CTX **sni_ctx;	/* one per NAME.crt of sni_dir */
	size_t nsni_ctx;
	struct sni_ent *sni;	/* sorted by name */
	size_t nsni;
	/* Shared by all the SSL_CTXs above: each one's app data points
	 * back here. */
	unsigned char keys[TLS_TICKET_KEYS_MAX][TLS_TICKET_KEYLEN];
	size_t nkeys;
	unsigned char *ocsp;	/* DER response for the default cert */
	size_t ocsp_len;
};

struct tls_client {
	SSL_CTX *ctx;
};

/* io->tr_ctx of a TLS io. */
struct tls_conn {
	SSL *ssl;
	int broken;		/* a fatal error: no close_notify */
	int verified;		/* client: chain and name were OK */
};

static const struct io_transport tls_transport;

/* --- errors -------------------------------------------------------------- */

/* Append ": " and what OpenSSL said (its earliest queued error, usually
 * the cause), then empty the queue. */
static void
ossl_why(struct buf *err)
{
	unsigned long e = ERR_get_error();
	const char *r;

	if (e != 0) {
		/* A system error's reason is an errno value. */
		r = ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e)) :
		    ERR_reason_error_string(e);
		if (r != NULL)
			buf_cut_printf(err, ": %s", r);
		else
			buf_cut_printf(err, ": OpenSSL error %lx", e);
	}
	ERR_clear_error();
}

/* Set err to the message and OpenSSL's reason, cut to err (paths and
 * names of the configuration, a peer's name); returns -1. */
static int __attribute__((format(printf, 2, 3)))
ossl_fail(struct buf *err, const char *fmt, ...)
{
	va_list ap;

	buf_reset(err);
	va_start(ap, fmt);
	buf_cut_vprintf(err, fmt, ap);
	va_end(ap);
	ossl_why(err);
	return -1;
}

/* Refuse a passphrase-protected key rather than prompt on a terminal. */
static int
no_passphrase(char *pw, int size, int rwflag, void *arg)
{
	(void)pw;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

static int
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

/* --- session tickets ----------------------------------------------------- */

void
tls_ticket_key_generate(unsigned char key[TLS_TICKET_KEYLEN])
{
	if (RAND_bytes(key, TLS_TICKET_KEYLEN) != 1)
		log_fatal("tls: RAND_bytes failed");
}

int
tls_server_set_ticket_keys(struct tls_server *srv, const unsigned char *keys,
    size_t nkeys)
{
	if (nkeys == 0 || nkeys > TLS_TICKET_KEYS_MAX)
		return -1;
	OPENSSL_cleanse(srv->keys, sizeof(srv->keys));
	memcpy(srv->keys, keys, nkeys * TLS_TICKET_KEYLEN);
	srv->nkeys = nkeys;
	return 0;
}

static int
ticket_mac_init(EVP_MAC_CTX *hctx, unsigned char *key)
{
	static char digest[] = "SHA256";
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    key + TK_HMAC, TK_SECRETLEN);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/*
 * The ticket is encrypted with AES-256-CBC and authenticated with
 * HMAC-SHA256 (RFC 5077 4's recommended construction; OpenSSL builds
 * the ticket and checks the MAC before decrypting).  The newest key
 * encrypts; any of them decrypts.  A ticket under an unknown (retired
 * or foreign) key name means a full handshake, never an error; one
 * under an older key resumes and gets a fresh ticket (return 2).
 */
static int
ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_server *srv = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const EVP_CIPHER *aes = EVP_aes_256_cbc();
	unsigned char *k;
	size_t i;

	if (srv == NULL || srv->nkeys == 0)
		return -1;
	if (enc) {
		k = srv->keys[0];
		memcpy(name, k + TK_NAME, TK_NAMELEN);
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(aes)) != 1 ||
		    EVP_EncryptInit_ex(cctx, aes, NULL, k + TK_AES, iv) != 1 ||
		    ticket_mac_init(hctx, k) == -1)
			return -1;
		return 1;
	}
	for (i = 0; i < srv->nkeys; i++)
		if (memcmp(name, srv->keys[i] + TK_NAME, TK_NAMELEN) == 0)
			break;
	if (i == srv->nkeys)
		return 0;
	k = srv->keys[i];
	if (ticket_mac_init(hctx, k) == -1 ||
	    EVP_DecryptInit_ex(cctx, aes, NULL, k + TK_AES, iv) != 1)
		return -1;
	return i == 0 ? 1 : 2;
}

/* --- server contexts ----------------------------------------------------- */

static int
parse_min_version(const char *s, int *v, struct buf *err)
{
	if (!nonempty(s) || strcmp(s, "TLSv1.2") == 0)
		*v = TLS1_2_VERSION;
	else if (strcmp(s, "TLSv1.3") == 0)
		*v = TLS1_3_VERSION;
	else {
		buf_reset(err);
		buf_cut_printf(err, "tls min_version %s: use TLSv1.2 or "
		    "TLSv1.3", log_esc_str(s));
		return -1;
	}
	return 0;
}

/* SSL_CTX_set1_groups_list() is a macro that casts away const. */
static int
set_groups(SSL_CTX *ctx, const char *groups)
{
	char *g = xstrdup(groups);
	int r = (int)SSL_CTX_set1_groups_list(ctx, g);

	free(g);
	return r;
}

/* Protocol settings, identical for every SSL_CTX of a server (an SNI
 * switch keeps the first context's versions and ciphers anyway). */
static int
server_ctx_settings(SSL_CTX *ctx, const struct tls_conf *conf,
    struct buf *err)
{
	const char *c = nonempty(conf->ciphers) ? conf->ciphers :
	    TLS_DEFAULT_CIPHERS;
	const char *g = nonempty(conf->groups) ? conf->groups :
	    TLS_DEFAULT_GROUPS;
	int minv;

	if (parse_min_version(conf->min_version, &minv, err) == -1)
		return -1;
	if (SSL_CTX_set_min_proto_version(ctx, minv) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
		return ossl_fail(err, "cannot set the TLS versions");
	/* Unexpected EOF (no close_notify) reads as EOF, as Postfix does:
	 * the mail protocols end their own data, so truncation is seen. */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(ctx, c) != 1)
		return ossl_fail(err, "tls ciphers %s", log_esc_str(c));
	if (nonempty(conf->ciphersuites) &&
	    SSL_CTX_set_ciphersuites(ctx, conf->ciphersuites) != 1)
		return ossl_fail(err, "tls ciphersuites %s",
		    log_esc_str(conf->ciphersuites));
	if (set_groups(ctx, g) != 1)
		return ossl_fail(err, "tls groups %s", log_esc_str(g));
	(void)SSL_CTX_set_dh_auto(ctx, 1);
	/* RFC 8446 2.3: 0-RTT data can be replayed; never accept it. */
	(void)SSL_CTX_set_max_early_data(ctx, 0);
	/* Resumption is by ticket only: a per-process cache would differ
	 * from worker to worker. */
	(void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)TLS_SID_CTX, sizeof(TLS_SID_CTX) - 1) != 1)
		return ossl_fail(err, "cannot set the session id context");
	return 0;
}

/* What SSL_CTX_use_certificate_chain_file() does, from memory: the
 * first certificate is the leaf, the others its chain; anything after
 * them but the end of the text is an error. */
static int
ctx_use_chain(SSL_CTX *ctx, const struct tls_blob *b, struct buf *err)
{
	unsigned long e;
	X509 *x = NULL;
	BIO *bio;
	int ok;

	ERR_clear_error();
	if ((bio = BIO_new_mem_buf(b->data, (int)b->len)) != NULL)
		x = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL);
	ok = x != NULL && SSL_CTX_use_certificate(ctx, x) == 1 &&
	    ERR_peek_error() == 0 && SSL_CTX_clear_chain_certs(ctx) == 1;
	X509_free(x);
	while (ok && (x = PEM_read_bio_X509(bio, NULL, no_passphrase,
	    NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			ok = 0;
		}
	e = ERR_peek_last_error();
	if (ok && ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
		ERR_clear_error();
	else
		ok = 0;
	BIO_free(bio);
	return ok ? 0 : ossl_fail(err, "%s: cannot load the certificate "
	    "chain", b->path);
}

static int
ctx_load_pair(SSL_CTX *ctx, const struct tls_pair *p, struct buf *err)
{
	const char *cert = p->crt.path, *key = p->key.path;
	EVP_PKEY *k = NULL;
	unsigned long e;
	BIO *bio;
	int r;

	if (ctx_use_chain(ctx, &p->crt, err) == -1)
		return -1;
	if ((bio = BIO_new_mem_buf(p->key.data, (int)p->key.len)) != NULL)
		k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (k == NULL)
		return ossl_fail(err, "%s: cannot load the private key", key);
	ERR_clear_error();	/* below, the first error must be the cause */
	r = SSL_CTX_use_PrivateKey(ctx, k);
	EVP_PKEY_free(k);
	if (r != 1) {
		e = ERR_peek_error();
		if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
		    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
			return ossl_fail(err, "%s: key does not match "
			    "certificate %s", key, cert);
		return ossl_fail(err, "%s: cannot load the private key",
		    key);
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ossl_fail(err, "%s: key does not match certificate %s",
		    key, cert);
	return 0;
}

static int
server_ctx_new(struct tls_server *srv, const struct tls_conf *conf,
    const struct tls_pair *pair, SSL_CTX **ctxp, struct buf *err)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	*ctxp = NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return ossl_fail(err, "cannot create a TLS context");
	if (server_ctx_settings(ctx, conf, err) == -1 ||
	    ctx_load_pair(ctx, pair, err) == -1) {
		SSL_CTX_free(ctx);
		return -1;
	}
	(void)SSL_CTX_set_app_data(ctx, srv);
	/* On every context, although OpenSSL asks the first one (the
	 * session context): the keys are the server's, so all agree. */
	if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1) {
		SSL_CTX_free(ctx);
		return ossl_fail(err, "cannot set the ticket callback");
	}
	*ctxp = ctx;
	return 0;
}

/* --- SNI ----------------------------------------------------------------- */

/* Lower-case a DNS name into out; -1 unless it is plausible: letters,
 * digits, '-', '_', '.', and '*' only where star is set. */
static int
dns_name_norm(const unsigned char *p, size_t n, int star,
    char out[SNI_NAME_MAX + 1])
{
	size_t i;
	unsigned char c;

	if (n == 0 || n > SNI_NAME_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || (star && c == '*')))
			return -1;
		out[i] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

static void
sni_add(struct tls_server *srv, const char *name, SSL_CTX *ctx)
{
	struct sni_ent *e;

	srv->sni = xreallocarray(srv->sni, srv->nsni + 1, sizeof(*srv->sni));
	e = &srv->sni[srv->nsni];
	e->name = xstrdup(name);
	e->ctx = ctx;
	e->seq = srv->nsni++;
}

/* Index ctx under each DNS name of its certificate's subjectAltName
 * (RFC 6125 6.4.4: not the CN).  -1 if there is none. */
static int
sni_index_cert(struct tls_server *srv, SSL_CTX *ctx, const char *path,
    struct buf *err)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	char name[SNI_NAME_MAX + 1];
	int i, added = 0;

	gens = X509_get_ext_d2i(SSL_CTX_get0_certificate(ctx),
	    NID_subject_alt_name, NULL, NULL);
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS || dns_name_norm(
		    ASN1_STRING_get0_data(g->d.dNSName),
		    (size_t)ASN1_STRING_length(g->d.dNSName), 1, name) == -1)
			continue;
		sni_add(srv, name, ctx);
		added++;
	}
	GENERAL_NAMES_free(gens);
	if (added == 0) {
		buf_reset(err);
		buf_cut_printf(err, "%s: no DNS names in subjectAltName",
		    path);
		return -1;
	}
	return 0;
}

/* One NAME.crt/NAME.key pair of sni_dir. */
static int
sni_load_one(struct tls_server *srv, const struct tls_conf *conf,
    const struct tls_pair *pair, struct buf *err)
{
	SSL_CTX *ctx;

	if (server_ctx_new(srv, conf, pair, &ctx, err) == -1)
		return -1;
	srv->sni_ctx = xreallocarray(srv->sni_ctx, srv->nsni_ctx + 1,
	    sizeof(*srv->sni_ctx));
	srv->sni_ctx[srv->nsni_ctx++] = ctx;
	return sni_index_cert(srv, ctx, pair->crt.path, err);
}

static int
sni_cmp(const void *a, const void *b)
{
	const struct sni_ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort by name and drop later duplicates (files load in name order). */
static void
sni_sort(struct tls_server *srv)
{
	size_t i, n = 0;

	if (srv->nsni == 0)
		return;
	qsort(srv->sni, srv->nsni, sizeof(*srv->sni), sni_cmp);
	for (i = 0; i < srv->nsni; i++) {
		if (n > 0 && strcmp(srv->sni[n - 1].name,
		    srv->sni[i].name) == 0) {
			log_warning("tls: sni_dir: %s is in two certificates; "
			    "using the first", srv->sni[i].name);
			free(srv->sni[i].name);
			continue;
		}
		srv->sni[n++] = srv->sni[i];
	}
	srv->nsni = n;
}

/* The pairs come in name order (tls_files.c): sni_sort() keeps the
 * first certificate of two for one name. */
static int
sni_load(struct tls_server *srv, const struct tls_conf *conf,
    const struct tls_files *files, struct buf *err)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < files->nsni && rc == 0; i++)
		rc = sni_load_one(srv, conf, &files->sni[i], err);
	sni_sort(srv);
	return rc;
}

static SSL_CTX *
sni_bsearch(const struct tls_server *srv, const char *name)
{
	size_t lo = 0, hi = srv->nsni, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(name, srv->sni[mid].name)) == 0)
			return srv->sni[mid].ctx;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The exact name first, then "*." and its parent: a wildcard covers one
 * label only (RFC 6125 6.4.3). */
static SSL_CTX *
sni_find(const struct tls_server *srv, const char *name)
{
	char low[SNI_NAME_MAX + 1], wild[SNI_NAME_MAX + 2];
	const char *dot;
	SSL_CTX *ctx;

	if (srv->nsni == 0 || dns_name_norm((const unsigned char *)name,
	    strlen(name), 0, low) == -1)
		return NULL;
	if ((ctx = sni_bsearch(srv, low)) != NULL)
		return ctx;
	if ((dot = strchr(low, '.')) == NULL || dot[1] == '\0' ||
	    xsnprintf(wild, sizeof(wild), "*%s", dot) == -1)
		return NULL;
	return sni_bsearch(srv, wild);
}

/* RFC 6066 3: serve the certificate for the name the client asked for.
 * An unknown name is no error (mail clients often send the MX name or
 * an address): it gets the default certificate, and the extension is
 * not acknowledged (as Postfix does). */
static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_server *srv = arg;
	const char *name;
	SSL_CTX *ctx;

	(void)alert;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (name == NULL || (ctx = sni_find(srv, name)) == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_set_SSL_CTX(ssl, ctx) == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/* --- OCSP stapling ------------------------------------------------------- */

/* RFC 6066 8: staple only when the client sent status_request (OpenSSL
 * calls this only then).  Only the default context has this callback,
 * so SNI certificates never get the default certificate's response. */
static int
ocsp_cb(SSL *ssl, void *arg)
{
	const struct tls_server *srv = arg;
	unsigned char *copy;

	if (srv->ocsp == NULL ||
	    (copy = OPENSSL_memdup(srv->ocsp, srv->ocsp_len)) == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_set_tlsext_status_ocsp_resp(ssl, copy,
	    (long)srv->ocsp_len) != 1) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_NOACK;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* Staple ocsp_file if it is about the default certificate and current;
 * out of date is only a warning (a refresh job failed: serving without
 * a staple beats not serving). */
static int
ocsp_load(struct tls_server *srv, const struct tls_files *files,
    struct buf *err)
{
	struct buf der;
	int rc;

	buf_init(&der, 0);
	if ((rc = tls_ocsp_check(&files->ocsp, &files->def.crt, &der,
	    err)) == 0)
		log_warning("tls: %s; not stapling it", buf_cstr(err));
	else if (rc == 1) {
		srv->ocsp_len = der.len;
		srv->ocsp = (unsigned char *)buf_detach(&der);
		SSL_CTX_set_tlsext_status_cb(srv->ctx, ocsp_cb);
		(void)SSL_CTX_set_tlsext_status_arg(srv->ctx, srv);
	}
	buf_free(&der);
	return rc == -1 ? -1 : 0;
}

/* --- server -------------------------------------------------------------- */

int
tls_server_new(const struct tls_conf *conf, struct tls_server **srvp,
    struct buf *err)
{
	struct tls_files *files;
	int rc;

	*srvp = NULL;
	if (tls_files_load(conf, &files, err) == -1)
		return -1;
	rc = tls_server_new_from(conf, files, srvp, err);
	tls_files_free(&files);
	return rc;
}

/* Nothing here reads a file: the files' names are for messages. */
int
tls_server_new_from(const struct tls_conf *conf,
    const struct tls_files *files, struct tls_server **srvp,
    struct buf *err)
{
	struct tls_server *srv;

	*srvp = NULL;
	srv = xcalloc(1, sizeof(*srv));
	/* Tickets work on their own until chapard's keys arrive. */
	tls_ticket_key_generate(srv->keys[0]);
	srv->nkeys = 1;
	if (server_ctx_new(srv, conf, &files->def, &srv->ctx, err) == -1)
		goto fail;
	SSL_CTX_set_tlsext_servername_callback(srv->ctx, sni_cb);
	(void)SSL_CTX_set_tlsext_servername_arg(srv->ctx, srv);
	if (sni_load(srv, conf, files, err) == -1)
		goto fail;
	if (files->ocsp.data != NULL && ocsp_load(srv, files, err) == -1)
		goto fail;
	*srvp = srv;
	return 0;
fail:
	tls_server_free(&srv);
	return -1;
}

void
tls_server_free(struct tls_server **srvp)
{
	struct tls_server *srv = *srvp;
	size_t i;

	if (srv == NULL)
		return;
	SSL_CTX_free(srv->ctx);
	for (i = 0; i < srv->nsni_ctx; i++)
		SSL_CTX_free(srv->sni_ctx[i]);
	for (i = 0; i < srv->nsni; i++)
		free(srv->sni[i].name);
	free(srv->sni_ctx);
	free(srv->sni);
	free(srv->ocsp);
	OPENSSL_cleanse(srv->keys, sizeof(srv->keys));
	free(srv);
	*srvp = NULL;
}

/* --- the io transport ---------------------------------------------------- */

static ssize_t
tls_io_error(struct tls_conn *c, int ret, const char *op)
{
	struct buf why;

	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;	/* close_notify, or EOF (IGNORE_UNEXPECTED_EOF) */
	default:
		c->broken = 1;
		buf_init(&why, 256);
		if (ERR_peek_error() == 0 && errno != 0)
			buf_cut_printf(&why, ": %s", strerror(errno));
		ossl_why(&why);
		log_info("tls: %s failed%s", op, buf_cstr(&why));
		buf_free(&why);
		return IO_ERROR;
	}
}

static ssize_t
tls_tr_read(struct io *io, void *p, size_t n)
{
	struct tls_conn *c = io->tr_ctx;
	size_t got = 0;
	int r;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_read_ex(c->ssl, p, n, &got)) == 1)
		return (ssize_t)got;
	return tls_io_error(c, r, "read");
}

static ssize_t
tls_tr_write(struct io *io, const void *p, size_t n)
{
	struct tls_conn *c = io->tr_ctx;
	size_t put = 0;
	int r;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_write_ex(c->ssl, p, n, &put)) == 1)
		return (ssize_t)put;
	return tls_io_error(c, r, "write");
}

static size_t
tls_tr_pending(struct io *io)
{
	const struct tls_conn *c = io->tr_ctx;
	int n = SSL_pending(c->ssl);

	return n > 0 ? (size_t)n : 0;
}

static const struct io_transport tls_transport = { tls_tr_read,
	tls_tr_write, tls_tr_pending };

int
io_is_tls(const struct io *io)
{
	return io->tr == &tls_transport;
}

static SSL *
io_ssl(const struct io *io)
{
	return io_is_tls(io) ? ((struct tls_conn *)io->tr_ctx)->ssl : NULL;
}

/* Wait for fd until the deadline (0: none).  0, -1 on timeout, -2 on
 * an error (errno). */
static int
hs_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd;
	uint64_t now;
	int left, r;

	for (;;) {
		left = -1;
		if (deadline != 0) {
			now = now_ms();
			if (now >= deadline)
				return -1;
			left = deadline - now > INT_MAX ? INT_MAX :
			    (int)(deadline - now);
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		if ((r = poll(&pfd, 1, left)) > 0)
			return 0;
		if (r == 0)
			return -1;
		if (errno != EINTR)
			return -2;
	}
}

static int
hs_fail(SSL *ssl, int ret, int server, struct buf *err)
{
	int saved = errno, e = SSL_get_error(ssl, ret);
	long v;

	buf_reset(err);
	buf_puts(err, "TLS handshake failed");
	if (!server && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) &&
	    (v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		buf_cut_printf(err, ": certificate verification: %s",
		    X509_verify_cert_error_string(v));
		ERR_clear_error();
	} else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		buf_cut_printf(err, ": %s", saved != 0 ? strerror(saved) :
		    "connection closed by the peer");
	else
		ossl_why(err);
	return -1;
}

/*
 * Run SSL_accept/SSL_connect on the non-blocking descriptor.  The whole
 * handshake gets io->timeout_ms, not each step: a peer that trickles a
 * byte at a time must not keep a worker for ever.
 */
static int
tls_handshake(struct io *io, SSL *ssl, int server, struct buf *err)
{
	uint64_t deadline = 0;
	int r, e, w;

	if (io->timeout_ms >= 0)
		deadline = now_ms() + (uint64_t)io->timeout_ms + 1;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = server ? SSL_accept(ssl) : SSL_connect(ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return hs_fail(ssl, r, server, err);
		if ((w = hs_wait(io->fd, e == SSL_ERROR_WANT_READ ? POLLIN :
		    POLLOUT, deadline)) != 0) {
			buf_reset(err);
			buf_printf(err, "TLS handshake %s",
			    w == -1 ? "timed out" : strerror(errno));
			ERR_clear_error();
			return -1;
		}
	}
}

/*
 * Common start of tls_accept and tls_connect.  Anything queued for
 * output (the STARTTLS reply or command) goes out in the clear first.
 *
 * RFC 3207 4.2: "the server MUST discard any knowledge obtained from the
 * client ... prior to the TLS negotiation".  Input the peer pipelined
 * after STARTTLS is in io->in and is dropped here (CVE-2011-0411).
 * Bytes that were still in the kernel's socket buffer are not ours to
 * drop: OpenSSL reads them as the first TLS record, they are no valid
 * ClientHello (or ServerHello), and the handshake fails.  Either way no
 * plaintext from before the handshake can be read after it.  The client
 * side does the same, against a server that injects replies.
 */
static SSL *
tls_start(SSL_CTX *ctx, struct io *io, struct buf *err)
{
	SSL *ssl;

	buf_reset(err);
	if (io_is_tls(io)) {
		buf_puts(err, "TLS is already active");
		return NULL;
	}
	if (io_flush(io) != IO_OK) {
		buf_puts(err, "cannot send before the TLS handshake");
		return NULL;
	}
	io_discard_input(io);
	io->skipping = 0;
	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, io->fd) != 1) {
		SSL_free(ssl);
		(void)ossl_fail(err, "cannot start TLS");
		return NULL;
	}
	return ssl;
}

static void
tls_attach(struct io *io, SSL *ssl, int verified)
{
	struct tls_conn *c = xcalloc(1, sizeof(*c));

	c->ssl = ssl;
	c->verified = verified;
	io_set_transport(io, &tls_transport, c);
}

int
tls_accept(struct tls_server *srv, struct io *io, struct buf *err)
{
	SSL *ssl;

	if ((ssl = tls_start(srv->ctx, io, err)) == NULL)
		return -1;
	if (tls_handshake(io, ssl, 1, err) == -1) {
		SSL_free(ssl);
		return -1;
	}
	tls_attach(io, ssl, 0);
	return 0;
}

/* --- client -------------------------------------------------------------- */

int
tls_client_new(const char *cafile, struct tls_client **clp, struct buf *err)
{
	SSL_CTX *ctx;

	*clp = NULL;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return ossl_fail(err, "cannot create a TLS context");
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		SSL_CTX_free(ctx);
		return ossl_fail(err, "cannot set the TLS versions");
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (nonempty(cafile) ? SSL_CTX_load_verify_file(ctx, cafile) != 1 :
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		SSL_CTX_free(ctx);
		return ossl_fail(err, "%s: cannot load CA certificates",
		    nonempty(cafile) ? cafile : "system store");
	}
	*clp = xcalloc(1, sizeof(**clp));
	(*clp)->ctx = ctx;
	return 0;
}

void
tls_client_free(struct tls_client **clp)
{
	if (*clp == NULL)
		return;
	SSL_CTX_free((*clp)->ctx);
	XFREE(*clp);
}

/* What to check the certificate against, and the SNI to send: none for
 * an address literal (RFC 6066 3). */
static int
client_set_name(SSL *ssl, const char *name, struct buf *err)
{
	unsigned char a[16];
	char host[SNI_NAME_MAX + 1];

	if (inet_pton(AF_INET, name, a) == 1 ||
	    inet_pton(AF_INET6, name, a) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    name) != 1)
			return ossl_fail(err, "bad address %s",
			    log_esc_str(name));
		return 0;
	}
	if (xsnprintf(host, sizeof(host), "%s", name) == -1) {
		buf_reset(err);
		buf_puts(err, "server name too long");
		return -1;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
	    SSL_set1_host(ssl, host) != 1)
		return ossl_fail(err, "bad server name %s", log_esc_str(name));
	return 0;
}

int
tls_connect(struct tls_client *cl, struct io *io, const char *servername,
    int verify, struct buf *err)
{
	SSL *ssl;
	int ok;

	if (verify && !nonempty(servername)) {
		buf_reset(err);
		buf_puts(err, "TLS verification needs a server name");
		return -1;
	}
	if ((ssl = tls_start(cl->ctx, io, err)) == NULL)
		return -1;
	if (nonempty(servername) &&
	    client_set_name(ssl, servername, err) == -1) {
		SSL_free(ssl);
		return -1;
	}
	/* Without verify OpenSSL still checks chain and name; it only does
	 * not abort, and SSL_get_verify_result() keeps the outcome. */
	SSL_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (tls_handshake(io, ssl, 0, err) == -1) {
		SSL_free(ssl);
		return -1;
	}
	ok = nonempty(servername) && SSL_get0_peer_certificate(ssl) != NULL &&
	    SSL_get_verify_result(ssl) == X509_V_OK;
	tls_attach(io, ssl, ok);
	return 0;
}

/* --- on a TLS io --------------------------------------------------------- */

void
tls_describe(const struct io *io, struct buf *out)
{
	const SSL_CIPHER *c;
	SSL *ssl;
	int bits, alg = 0;

	if ((ssl = io_ssl(io)) == NULL ||
	    (c = SSL_get_current_cipher(ssl)) == NULL)
		return;
	bits = SSL_CIPHER_get_bits(c, &alg);
	buf_printf(out, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(ssl), SSL_CIPHER_get_name(c), bits, alg);
}

const char *
tls_version(const struct io *io)
{
	SSL *ssl = io_ssl(io);

	return ssl != NULL ? SSL_get_version(ssl) : NULL;
}

const char *
tls_cipher(const struct io *io)
{
	SSL *ssl = io_ssl(io);

	return ssl != NULL ? SSL_get_cipher_name(ssl) : NULL;
}

const char *
tls_sni(const struct io *io)
{
	SSL *ssl = io_ssl(io);

	return ssl != NULL ? SSL_get_servername(ssl,
	    TLSEXT_NAMETYPE_host_name) : NULL;
}

int
tls_resumed(const struct io *io)
{
	SSL *ssl = io_ssl(io);

	return ssl != NULL && SSL_session_reused(ssl) == 1;
}

int
tls_verified(const struct io *io)
{
	return io_is_tls(io) && ((struct tls_conn *)io->tr_ctx)->verified;
}

void
tls_close(struct io *io)
{
	struct tls_conn *c;

	if (!io_is_tls(io))
		return;
	c = io->tr_ctx;
	/* One non-blocking close_notify, best effort; never after a fatal
	 * error (OpenSSL forbids it). */
	ERR_clear_error();
	if (!c->broken && SSL_is_init_finished(c->ssl))
		(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	SSL_free(c->ssl);
	free(c);
	io_set_transport(io, NULL, NULL);
	/* What was queued for TLS must never go out in the clear, and what
	 * was decrypted is not plain input. */
	buf_reset(&io->out);
	io_discard_input(io);
}
