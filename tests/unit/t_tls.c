/* Unit tests: TLS over socketpairs with a forked peer.  Handshake and data
 * both ways, versions, SNI, ticket resumption across two servers,
 * STARTTLS injection, client verification, the handshake deadline, OCSP
 * stapling, servers built from files read ahead (tls_files),
 * tls_check_cert.  Certificates are made here, in C.  Each
 * child runs under alarm() and _exit()s; the parent reaps it. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "chapar/io.h"
#include "chapar/tls.h"
#include "chapar/util.h"
#include "harness.h"

#define DEF_NAME "mail.example.test"

/* --- fixtures ------------------------------------------------------------ */

static char paths[80][512];
static size_t npaths;

/* t_tmpdir()/tls/NAME, as a pointer that stays valid. */
static const char *
tp(const char *name)
{
	size_t i;
	char p[512];

	if (xsnprintf(p, sizeof(p), "%s/tls/%s", t_tmpdir(), name) == -1)
		abort();
	for (i = 0; i < npaths; i++)
		if (strcmp(paths[i], p) == 0)
			return paths[i];
	if (npaths == NELEM(paths))
		abort();
	memcpy(paths[npaths], p, sizeof(p));
	return paths[npaths++];
}

static int
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f;
	int ok;

	if ((f = fopen(path, "w")) == NULL)
		return -1;
	ok = x != NULL ? PEM_write_X509(f, x) :
	    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	return fclose(f) == 0 && ok == 1 ? 0 : -1;
}

/* A self-signed EC P-256 certificate base.crt and its key base.key,
 * valid from now+from to now+to days; san like "DNS:a,DNS:b" or NULL. */
static int
mkcert(const char *base, const char *cn, const char *san, long from,
    long to)
{
	static long serial = 1;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_EXTENSION *ext;
	X509_NAME *nm;
	X509V3_CTX v3;
	char crt[256], key[256];
	int rc = -1;

	if (k == NULL || x == NULL)
		goto out;
	(void)X509_set_version(x, X509_VERSION_3);
	(void)ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	(void)X509_gmtime_adj(X509_getm_notBefore(x), from * 86400);
	(void)X509_gmtime_adj(X509_getm_notAfter(x), to * 86400);
	(void)X509_set_pubkey(x, k);
	nm = X509_get_subject_name(x);
	(void)X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	(void)X509_set_issuer_name(x, nm);
	if (san != NULL) {
		X509V3_set_ctx_nodb(&v3);
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
		    san)) == NULL)
			goto out;
		(void)X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (X509_sign(x, k, EVP_sha256()) == 0 ||
	    xsnprintf(crt, sizeof(crt), "%s.crt", tp(base)) == -1 ||
	    xsnprintf(key, sizeof(key), "%s.key", tp(base)) == -1)
		goto out;
	rc = write_pem(crt, x, NULL) == 0 && write_pem(key, NULL, k) == 0 ?
	    0 : -1;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (f == NULL)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

static EVP_PKEY *
read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (f == NULL)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

/* An OCSP response for base.crt (self-signed: its own issuer and
 * responder) with the given status, valid from 2 days ago until
 * now+next seconds, signed with base.key, into out. */
static int
mkocsp(const char *base, const char *out, int status, long next)
{
	char crt[256], key[256];
	X509 *x;
	EVP_PKEY *k;
	OCSP_CERTID *id = NULL;
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_RESPONSE *r = NULL;
	ASN1_TIME *thisupd = X509_gmtime_adj(NULL, -2 * 86400);
	ASN1_TIME *nextupd = X509_gmtime_adj(NULL, next);
	ASN1_TIME *rev = X509_gmtime_adj(NULL, -86400);
	unsigned char *der = NULL;
	int len, rc = -1;

	(void)xsnprintf(crt, sizeof(crt), "%s.crt", tp(base));
	(void)xsnprintf(key, sizeof(key), "%s.key", tp(base));
	x = read_cert(crt);
	k = read_key(key);
	if (x != NULL && k != NULL && bs != NULL &&
	    (id = OCSP_cert_to_id(NULL, x, x)) != NULL &&
	    OCSP_basic_add1_status(bs, id, status, OCSP_REVOKED_STATUS_UNSPECIFIED,
	    status == V_OCSP_CERTSTATUS_REVOKED ? rev : NULL, thisupd,
	    nextupd) != NULL &&
	    OCSP_basic_sign(bs, x, k, EVP_sha256(), NULL, 0) == 1 &&
	    (r = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL,
	    bs)) != NULL && (len = i2d_OCSP_RESPONSE(r, &der)) > 0)
		rc = file_write_atomic(out, der, (size_t)len, 0644);
	OPENSSL_free(der);
	OCSP_RESPONSE_free(r);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	ASN1_TIME_free(rev);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static int
setup(void)
{
	static int done;
	static const char garbage[] = "this is not DER";

	if (done)
		return 0;
	if (mkdir(tp(""), 0700) == -1 || mkdir(tp("sni"), 0700) == -1 ||
	    mkdir(tp("nosan"), 0700) == -1 ||
	    mkcert("def", DEF_NAME, "DNS:" DEF_NAME, -1, 365) == -1 ||
	    mkcert("sni/other", "other.test", "DNS:*.other.test", -1, 365) ==
	    -1 ||
	    mkcert("sni/exact", "exact.test", "DNS:exact.test,DNS:Exact2.TEST",
	    -1, 365) == -1 ||
	    mkcert("nosan/x", "x.test", NULL, -1, 365) == -1 ||
	    mkcert("expired", "old.test", "DNS:old.test", -10, -1) == -1 ||
	    mkcert("future", "new.test", "DNS:new.test", 2, 30) == -1 ||
	    mkcert("soon", "soon.test", "DNS:soon.test", -1, 10) == -1 ||
	    mkocsp("def", tp("def.ocsp"), V_OCSP_CERTSTATUS_GOOD, 86400) ==
	    -1 ||
	    mkocsp("def", tp("stale.ocsp"), V_OCSP_CERTSTATUS_GOOD, -3600) ==
	    -1 ||
	    mkocsp("def", tp("revoked.ocsp"), V_OCSP_CERTSTATUS_REVOKED,
	    86400) == -1 ||
	    mkocsp("sni/exact", tp("exact.ocsp"), V_OCSP_CERTSTATUS_GOOD,
	    86400) == -1 ||
	    file_write_atomic(tp("garbage.ocsp"), garbage, sizeof(garbage),
	    0644) == -1)
		return -1;
	done = 1;
	return 0;
}

static struct tls_conf
conf_def(void)
{
	struct tls_conf c;

	memset(&c, 0, sizeof(c));
	c.cert_file = tp("def.crt");
	c.key_file = tp("def.key");
	return c;
}

static struct tls_server *
server_def(void)
{
	struct tls_conf c = conf_def();
	struct tls_server *srv;
	struct buf err;

	buf_init(&err, 0);
	if (tls_server_new(&c, &srv, &err) == -1) {
		printf("#   tls_server_new: %s\n", buf_cstr(&err));
		srv = NULL;
	}
	buf_free(&err);
	return srv;
}

/* --- processes ----------------------------------------------------------- */

/* Fork; the child closes pfd (the parent's ends), runs fn(arg) under an
 * alarm and _exit()s with its result; the parent closes cfd. */
static pid_t
spawn(int (*fn)(void *), void *arg, const int *pfd, const int *cfd,
    size_t n)
{
	pid_t pid;
	size_t i;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		alarm(10);
		for (i = 0; i < n; i++)
			close(pfd[i]);
		_exit(fn(arg));
	}
	for (i = 0; i < n; i++)
		close(cfd[i]);
	return pid;
}

/* The child's exit code, 128+signal, or -1. */
static int
reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* --- a raw OpenSSL client (in the child) --------------------------------- */

struct rawc {
	int fd;
	const char *sni;
	int minv, maxv;		/* 0: the library's defaults */
	int lowsec;		/* let the client offer TLS 1.0/1.1 */
	int ocsp;		/* send status_request */
	SSL_SESSION *sess;	/* resume this; replaced by the new one */
};

/* The first SAN DNS name of the server's certificate. */
static const char *
peer_name(SSL *ssl)
{
	static char name[256];
	X509 *x = SSL_get0_peer_certificate(ssl);
	GENERAL_NAMES *g;
	const GENERAL_NAME *n;

	(void)xsnprintf(name, sizeof(name), "-");
	if (x == NULL)
		return name;
	g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (sk_GENERAL_NAME_num(g) > 0 &&
	    (n = sk_GENERAL_NAME_value(g, 0))->type == GEN_DNS)
		(void)xsnprintf(name, sizeof(name), "%.*s",
		    ASN1_STRING_length(n->d.dNSName),
		    (const char *)ASN1_STRING_get0_data(n->d.dNSName));
	GENERAL_NAMES_free(g);
	return name;
}

/* Did the resumed session come with a new ticket (TLS 1.2)? */
static int
ticket_renewed(SSL *ssl, SSL_SESSION *old)
{
	const unsigned char *t0 = NULL, *t1 = NULL;
	size_t n0 = 0, n1 = 0;

	if (old == NULL)
		return 0;
	SSL_SESSION_get0_ticket(old, &t0, &n0);
	SSL_SESSION_get0_ticket(SSL_get_session(ssl), &t1, &n1);
	return n0 != n1 || (n0 > 0 && memcmp(t0, t1, n0) != 0);
}

/* Handshake, send "V=... R=... N=... O=... C=... T=..." (C: certificates
 * the server sent), read "BYE".  0, or
 * 3 if the handshake failed, 4 on other trouble. */
static int
rawc_run(struct rawc *rc)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	const unsigned char *ocsp;
	char line[512], host[256], in[64];
	size_t got, have = 0;
	SSL *ssl;
	long olen;

	if (rc->lowsec) {
		SSL_CTX_set_security_level(ctx, 0);
		(void)SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
	}
	if (rc->minv != 0)
		(void)SSL_CTX_set_min_proto_version(ctx, rc->minv);
	if (rc->maxv != 0)
		(void)SSL_CTX_set_max_proto_version(ctx, rc->maxv);
	ssl = SSL_new(ctx);
	(void)SSL_set_fd(ssl, rc->fd);
	if (rc->sni != NULL) {
		(void)xsnprintf(host, sizeof(host), "%s", rc->sni);
		(void)SSL_set_tlsext_host_name(ssl, host);
	}
	if (rc->ocsp)
		(void)SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
	if (rc->sess != NULL)
		(void)SSL_set_session(ssl, rc->sess);
	if (SSL_connect(ssl) != 1)
		return 3;
	olen = SSL_get_tlsext_status_ocsp_resp(ssl, &ocsp);
	if (xsnprintf(line, sizeof(line), "V=%s R=%d N=%s O=%ld C=%d T=%d\r\n",
	    SSL_get_version(ssl), SSL_session_reused(ssl), peer_name(ssl),
	    olen, sk_X509_num(SSL_get_peer_cert_chain(ssl)),
	    ticket_renewed(ssl, rc->sess)) == -1 ||
	    SSL_write_ex(ssl, line, strlen(line), &got) != 1)
		return 4;
	while (have < 5 && SSL_read_ex(ssl, in + have, 5 - have, &got) == 1)
		have += got;
	if (have != 5 || memcmp(in, "BYE\r\n", 5) != 0)
		return 4;
	/* After a read, so that TLS 1.3 tickets have been taken in. */
	rc->sess = SSL_get1_session(ssl);
	(void)SSL_shutdown(ssl);
	return 0;
}

static int
rawc_child(void *arg)
{
	return rawc_run(arg);
}

/* --- the server in the parent -------------------------------------------- */

struct served {
	int rc;			/* tls_accept() */
	char err[256];
	char line[512];		/* the client's report */
	char desc[128];
	char sni[256];
	int resumed;
};

static void
serve(struct tls_server *srv, int fd, int timeout_ms, struct served *s)
{
	struct buf err, d;
	struct io io;
	struct sv l;
	int crlf;

	memset(s, 0, sizeof(*s));
	buf_init(&err, 0);
	buf_init(&d, 0);
	io_init(&io, fd, 1024, timeout_ms);
	s->rc = tls_accept(srv, &io, &err);
	(void)xsnprintf(s->err, sizeof(s->err), "%s", buf_cstr(&err));
	if (s->rc == 0) {
		tls_describe(&io, &d);
		(void)xsnprintf(s->desc, sizeof(s->desc), "%s", buf_cstr(&d));
		(void)xsnprintf(s->sni, sizeof(s->sni), "%s",
		    tls_sni(&io) ? tls_sni(&io) : "(none)");
		s->resumed = tls_resumed(&io);
		if (io_getline(&io, &l, &crlf) == IO_OK)
			(void)xsnprintf(s->line, sizeof(s->line), "%.*s",
			    (int)l.n, l.p);
		(void)io_puts(&io, "BYE\r\n");
		(void)io_flush(&io);
		tls_close(&io);
	}
	io_free(&io, 1);
	buf_free(&err);
	buf_free(&d);
}

/* One raw client against srv.  Returns the child's exit code. */
static int
serve_raw(struct tls_server *srv, struct rawc *rc, struct served *s)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return -1;
	rc->fd = sv[1];
	if ((pid = spawn(rawc_child, rc, &sv[0], &sv[1], 1)) == -1)
		return -1;
	serve(srv, sv[0], 5000, s);
	return reap(pid);
}

/* --- an echo server in the child, for tls_connect() ---------------------- */

struct kid {
	int fd;
	struct tls_server *srv;
};

static int
bulk_in(struct io *io)
{
	struct sv l;
	int crlf, n = 0;

	while (io_getline(io, &l, &crlf) == IO_OK && !sv_eq_str(l, "END")) {
		if (l.n != 205)
			return -1;
		n++;
	}
	return n;
}

static int
bulk_out(struct io *io, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (io_printf(io, "%04d %0200d\r\n", i, i) != IO_OK)
			return -1;
	return io_puts(io, "END\r\n") == IO_OK && io_flush(io) == IO_OK ? 0 :
	    -1;
}

static int
echo_child(void *arg)
{
	struct kid *k = arg;
	struct buf err;
	struct io io;
	struct sv l;
	int crlf, n;

	buf_init(&err, 0);
	io_init(&io, k->fd, 4096, 5000);
	if (tls_accept(k->srv, &io, &err) != 0)
		return 1;
	while (io_getline(&io, &l, &crlf) == IO_OK) {
		if (sv_eq_str(l, "HELLO"))
			(void)io_printf(&io, "HI sni=%s v=%s\r\n",
			    tls_sni(&io) ? tls_sni(&io) : "-", tls_version(&io));
		else if (sv_eq_str(l, "BULK")) {
			n = bulk_in(&io);
			if (io_printf(&io, "GOT %d\r\n", n) != IO_OK ||
			    bulk_out(&io, 3000) == -1)
				return 2;
		} else if (sv_eq_str(l, "QUIT")) {
			(void)io_puts(&io, "BYE\r\n");
			break;
		} else
			(void)io_printf(&io, "ECHO %.*s\r\n", (int)l.n, l.p);
		if (io_flush(&io) != IO_OK)
			return 2;
	}
	(void)io_flush(&io);
	tls_close(&io);
	io_free(&io, 1);
	return 0;
}

/* Start an echo server child on a socketpair; *fd gets our end. */
static pid_t
echo_spawn(struct tls_server *srv, int *fd)
{
	static struct kid k;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return -1;
	k.fd = sv[1];
	k.srv = srv;
	*fd = sv[0];
	return spawn(echo_child, &k, &sv[0], &sv[1], 1);
}

static int
expect_line(struct io *io, const char *want)
{
	struct sv l;
	int crlf;

	return io_getline(io, &l, &crlf) == IO_OK && sv_eq_str(l, want);
}

/* --- tests --------------------------------------------------------------- */

static void
tls_data_both_ways(void)
{
	struct tls_server *srv;
	struct tls_client *cl;
	struct buf err;
	struct io io;
	struct sv l;
	pid_t pid;
	int fd, crlf;

	T_ASSERT(setup() == 0);
	srv = server_def();
	T_ASSERT(srv != NULL);
	buf_init(&err, 0);
	T_ASSERT(tls_client_new(tp("def.crt"), &cl, &err) == 0);
	T_ASSERT((pid = echo_spawn(srv, &fd)) > 0);
	io_init(&io, fd, 4096, 5000);
	T_EQ_INT(io_is_tls(&io), 0);
	T_EQ_INT(tls_connect(cl, &io, DEF_NAME, 1, &err), 0);
	T_EQ_INT(io_is_tls(&io), 1);
	T_EQ_INT(tls_verified(&io), 1);
	T_EQ_STR(tls_version(&io), "TLSv1.3");
	T_EQ_STR(tls_sni(&io), DEF_NAME);
	T_ASSERT(io_puts(&io, "HELLO\r\nBULK\r\n") == IO_OK);
	T_ASSERT(bulk_out(&io, 2000) == 0);
	T_ASSERT(expect_line(&io, "HI sni=" DEF_NAME " v=TLSv1.3"));
	T_ASSERT(expect_line(&io, "GOT 2000"));
	T_EQ_INT(bulk_in(&io), 3000);
	T_ASSERT(io_puts(&io, "ping\r\nQUIT\r\n") == IO_OK);
	T_ASSERT(io_flush(&io) == IO_OK);
	T_ASSERT(expect_line(&io, "ECHO ping"));
	T_ASSERT(expect_line(&io, "BYE"));
	/* The child's close_notify reads as EOF. */
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_EOF);
	tls_close(&io);
	T_EQ_INT(io_is_tls(&io), 0);
	io_free(&io, 1);
	T_EQ_INT(reap(pid), 0);
	tls_client_free(&cl);
	T_ASSERT(cl == NULL);
	tls_server_free(&srv);
	T_ASSERT(srv == NULL);
	buf_free(&err);
}

static void
tls_versions(void)
{
	struct tls_server *srv, *srv13;
	struct tls_conf c = conf_def();
	struct rawc rc;
	struct served s;
	struct buf err;

	T_ASSERT(setup() == 0);
	srv = server_def();
	T_ASSERT(srv != NULL);
	buf_init(&err, 0);
	memset(&rc, 0, sizeof(rc));
	T_EQ_INT(serve_raw(srv, &rc, &s), 0);
	T_ASSERT(strncmp(s.line, "V=TLSv1.3 ", 10) == 0);
	T_EQ_STR(s.desc, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
	    "(256/256 bits)");
	T_EQ_STR(s.sni, "(none)");

	rc.maxv = TLS1_2_VERSION;
	T_EQ_INT(serve_raw(srv, &rc, &s), 0);
	T_ASSERT(strncmp(s.line, "V=TLSv1.2 ", 10) == 0);
	T_EQ_STR(s.desc, "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384 "
	    "(256/256 bits)");

	/* A client that could do TLS 1.1 and nothing newer. */
	rc.minv = rc.maxv = TLS1_1_VERSION;
	rc.lowsec = 1;
	T_EQ_INT(serve_raw(srv, &rc, &s), 3);
	T_EQ_INT(s.rc, -1);
	T_ASSERT(strstr(s.err, "unsupported protocol") != NULL);

	/* min_version TLSv1.3 refuses a TLS 1.2 client. */
	c.min_version = "TLSv1.3";
	T_EQ_INT(tls_server_new(&c, &srv13, &err), 0);
	rc.minv = 0;
	rc.maxv = TLS1_2_VERSION;
	rc.lowsec = 0;
	T_EQ_INT(serve_raw(srv13, &rc, &s), 3);
	T_EQ_INT(s.rc, -1);
	tls_server_free(&srv13);

	c.min_version = "TLSv1.1";
	T_EQ_INT(tls_server_new(&c, &srv13, &err), -1);
	T_ASSERT(srv13 == NULL);
	T_ASSERT(strstr(buf_cstr(&err), "TLSv1.1") != NULL);
	tls_server_free(&srv);
	buf_free(&err);
}

static void
tls_sni_picks_certificate(void)
{
	static const struct {
		const char *ask, *got;
	} cases[] = {
		{ DEF_NAME, DEF_NAME },
		{ "a.other.test", "*.other.test" },
		{ "B.Other.Test", "*.other.test" },
		{ "x.a.other.test", DEF_NAME },	/* one label only */
		{ "other.test", DEF_NAME },
		{ "exact.test", "exact.test" },
		{ "exact2.test", "exact.test" },	/* the second SAN */
		{ "a.exact.test", DEF_NAME },
		{ "unknown.test", DEF_NAME },
		{ NULL, DEF_NAME },
	};
	struct tls_conf c = conf_def();
	struct tls_server *srv;
	struct rawc rc;
	struct served s;
	struct buf err;
	char want[300];
	size_t i;

	T_ASSERT(setup() == 0);
	buf_init(&err, 0);
	c.sni_dir = tp("sni");
	T_EQ_INT(tls_server_new(&c, &srv, &err), 0);
	for (i = 0; i < 2 * NELEM(cases); i++) {
		memset(&rc, 0, sizeof(rc));
		/* The second round in TLS 1.2. */
		rc.maxv = i < NELEM(cases) ? 0 : TLS1_2_VERSION;
		rc.sni = cases[i % NELEM(cases)].ask;
		T_EQ_INT(serve_raw(srv, &rc, &s), 0);
		(void)xsnprintf(want, sizeof(want), " N=%s ",
		    cases[i % NELEM(cases)].got);
		if (strstr(s.line, want) == NULL) {
			t_failf(__FILE__, __LINE__, "SNI %s: got \"%s\"",
			    rc.sni ? rc.sni : "(none)", s.line);
			break;
		}
		T_EQ_STR(s.sni, rc.sni ? rc.sni : "(none)");
	}
	tls_server_free(&srv);

	/* A certificate in sni_dir without DNS names is refused. */
	c.sni_dir = tp("nosan");
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "no DNS names") != NULL);
	c.sni_dir = tp("missing");
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "cannot read") != NULL);
	buf_free(&err);
}

/* Two connections from one client process: the first to a, the second
 * to b with the first's session. */
struct resume_kid {
	struct rawc rc;
	int fd1, fd2;
};

static int
resume_child(void *arg)
{
	struct resume_kid *k = arg;
	int r;

	k->rc.fd = k->fd1;
	if ((r = rawc_run(&k->rc)) != 0)
		return r;
	if (k->rc.sess == NULL)
		return 5;
	k->rc.fd = k->fd2;
	return rawc_run(&k->rc);
}

/* "R=1 T=0"-style result of the second connection, in out. */
static int
resume(struct tls_server *a, struct tls_server *b, int maxv, int *resumed,
    char *out, size_t outlen)
{
	struct resume_kid k;
	struct served s;
	int sa[2], sb[2], pfd[2], cfd[2];
	const char *r;
	pid_t pid;

	memset(&k, 0, sizeof(k));
	k.rc.maxv = maxv;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sa) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sb) == -1)
		return -1;
	k.fd1 = sa[1];
	k.fd2 = sb[1];
	pfd[0] = sa[0];
	pfd[1] = sb[0];
	cfd[0] = sa[1];
	cfd[1] = sb[1];
	if ((pid = spawn(resume_child, &k, pfd, cfd, 2)) == -1)
		return -1;
	serve(a, sa[0], 5000, &s);
	if (s.rc != 0 || s.resumed) {
		close(sb[0]);
		(void)reap(pid);
		return -1;
	}
	serve(b, sb[0], 5000, &s);
	*resumed = s.resumed;
	r = strstr(s.line, " R=");
	(void)xsnprintf(out, outlen, "%.3s%s", r ? r + 1 : "?",
	    r && strstr(r, " T=") ? strstr(r, " T=") : "");
	return reap(pid);
}

static void
tls_resumption_across_servers(void)
{
	static const int versions[] = { 0, TLS1_2_VERSION };
	unsigned char k1[TLS_TICKET_KEYLEN], k2[TLS_TICKET_KEYLEN];
	unsigned char k21[2 * TLS_TICKET_KEYLEN];
	struct tls_server *a, *b;
	char got[64];
	int res, v12;
	size_t i;

	T_ASSERT(setup() == 0);
	a = server_def();
	b = server_def();
	T_ASSERT(a != NULL && b != NULL);
	tls_ticket_key_generate(k1);
	tls_ticket_key_generate(k2);
	T_ASSERT(memcmp(k1, k2, sizeof(k1)) != 0);
	memcpy(k21, k2, sizeof(k2));
	memcpy(k21 + TLS_TICKET_KEYLEN, k1, sizeof(k1));
	T_EQ_INT(tls_server_set_ticket_keys(a, k1, 0), -1);
	T_EQ_INT(tls_server_set_ticket_keys(a, k1, TLS_TICKET_KEYS_MAX + 1),
	    -1);
	for (i = 0; i < NELEM(versions); i++) {
		v12 = versions[i] != 0;
		/* Standalone: the key made by tls_server_new. */
		T_EQ_INT(resume(a, a, versions[i], &res, got, sizeof(got)), 0);
		T_EQ_INT(res, 1);
		/* Two workers, one key. */
		T_EQ_INT(tls_server_set_ticket_keys(a, k1, 1), 0);
		T_EQ_INT(tls_server_set_ticket_keys(b, k1, 1), 0);
		T_EQ_INT(resume(a, b, versions[i], &res, got, sizeof(got)), 0);
		T_EQ_INT(res, 1);
		T_EQ_STR(got, "R=1 T=0");
		/* Different keys: a full handshake that still works. */
		T_EQ_INT(tls_server_set_ticket_keys(b, k2, 1), 0);
		T_EQ_INT(resume(a, b, versions[i], &res, got, sizeof(got)), 0);
		T_EQ_INT(res, 0);
		T_ASSERT(strncmp(got, "R=0", 3) == 0);
		/* b rotated: k2 new, k1 still decrypts and the ticket is
		 * renewed (TLS 1.3 sends new tickets anyway). */
		T_EQ_INT(tls_server_set_ticket_keys(b, k21, 2), 0);
		T_EQ_INT(resume(a, b, versions[i], &res, got, sizeof(got)), 0);
		T_EQ_INT(res, 1);
		T_EQ_STR(got, v12 ? "R=1 T=1" : "R=1 T=0");
		tls_server_free(&a);
		tls_server_free(&b);
		a = server_def();
		b = server_def();
		T_ASSERT(a != NULL && b != NULL);
	}
	tls_server_free(&a);
	tls_server_free(&b);
}

/* The client side of STARTTLS, pipelining a command after it. */
struct starttls_kid {
	int fd;
	int pause_ms;		/* between STARTTLS and the injection */
};

static int
starttls_child(void *arg)
{
	struct starttls_kid *k = arg;
	struct tls_client *cl;
	struct buf err;
	struct io io;

	buf_init(&err, 0);
	if (tls_client_new(tp("def.crt"), &cl, &err) == -1)
		return 2;
	io_init(&io, k->fd, 1024, 5000);
	if (k->pause_ms == 0) {
		if (io_puts(&io, "STARTTLS\r\nINJECTED\r\n") != IO_OK ||
		    io_flush(&io) != IO_OK)
			return 2;
	} else if (io_puts(&io, "STARTTLS\r\n") != IO_OK ||
	    io_flush(&io) != IO_OK || usleep((useconds_t)k->pause_ms *
	    1000) != 0 || io_puts(&io, "INJECTED\r\n") != IO_OK ||
	    io_flush(&io) != IO_OK)
		return 2;
	if (!expect_line(&io, "220 go ahead"))
		return 3;
	if (tls_connect(cl, &io, DEF_NAME, 1, &err) == -1)
		return 4;
	if (io_puts(&io, "AFTER\r\n") != IO_OK || io_flush(&io) != IO_OK ||
	    !expect_line(&io, "OK"))
		return 5;
	tls_close(&io);
	return 0;
}

static void
tls_starttls_discards_pipelined_input(void)
{
	struct tls_server *srv;
	struct starttls_kid k = { 0, 0 };
	struct buf err;
	struct io io;
	struct sv l;
	int sv[2], crlf;
	pid_t pid;

	T_ASSERT(setup() == 0);
	srv = server_def();
	T_ASSERT(srv != NULL);
	buf_init(&err, 0);
	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	k.fd = sv[1];
	T_ASSERT((pid = spawn(starttls_child, &k, &sv[0], &sv[1], 1)) > 0);
	io_init(&io, sv[0], 1024, 5000);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "STARTTLS"));
	/* The injection is really there, in our buffer. */
	T_EQ_INT(io_buffered(&io), strlen("INJECTED\r\n"));
	T_ASSERT(io_puts(&io, "220 go ahead\r\n") == IO_OK);
	/* tls_accept flushes the reply itself. */
	T_EQ_INT(tls_accept(srv, &io, &err), 0);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	if (!sv_eq_str(l, "AFTER"))
		t_failf(__FILE__, __LINE__, "read \"%.*s\" after STARTTLS",
		    (int)l.n, l.p);
	/* A second STARTTLS on the same connection. */
	T_EQ_INT(tls_accept(srv, &io, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "already") != NULL);
	T_ASSERT(io_puts(&io, "OK\r\n") == IO_OK && io_flush(&io) == IO_OK);
	T_EQ_INT(reap(pid), 0);
	tls_close(&io);
	io_free(&io, 1);
	tls_server_free(&srv);
	buf_free(&err);
}

/* Injected bytes that are still in the socket when the handshake
 * starts reach OpenSSL, which refuses them as a ClientHello. */
static void
tls_starttls_injection_in_socket_fails(void)
{
	struct tls_server *srv;
	struct starttls_kid k = { 0, 100 };
	struct buf err;
	struct io io;
	struct sv l;
	int sv[2], crlf;
	pid_t pid;

	T_ASSERT(setup() == 0);
	srv = server_def();
	T_ASSERT(srv != NULL);
	buf_init(&err, 0);
	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	k.fd = sv[1];
	T_ASSERT((pid = spawn(starttls_child, &k, &sv[0], &sv[1], 1)) > 0);
	io_init(&io, sv[0], 1024, 5000);
	T_EQ_INT(io_getline(&io, &l, &crlf), IO_OK);
	T_ASSERT(sv_eq_str(l, "STARTTLS"));
	T_EQ_INT(io_buffered(&io), 0);
	usleep(300 * 1000);
	T_ASSERT(io_puts(&io, "220 go ahead\r\n") == IO_OK);
	T_EQ_INT(tls_accept(srv, &io, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "TLS handshake failed") != NULL);
	T_EQ_INT(io_is_tls(&io), 0);
	io_free(&io, 1);
	T_EQ_INT(reap(pid), 4);
	tls_server_free(&srv);
	buf_free(&err);
}

/* Connect to an echo child; 0 and tls_verified() in *verified, or -1
 * and err. */
static int
try_connect(struct tls_server *srv, const char *cafile, const char *name,
    int verify, int *verified, struct buf *err)
{
	struct tls_client *cl;
	struct io io;
	pid_t pid;
	int fd, rc;

	if (tls_client_new(cafile, &cl, err) == -1 ||
	    (pid = echo_spawn(srv, &fd)) <= 0)
		return -2;
	io_init(&io, fd, 1024, 5000);
	rc = tls_connect(cl, &io, name, verify, err);
	*verified = tls_verified(&io);
	if (rc == 0 && (io_puts(&io, "QUIT\r\n") != IO_OK ||
	    io_flush(&io) != IO_OK || !expect_line(&io, "BYE")))
		rc = -3;
	tls_close(&io);
	io_free(&io, 1);
	(void)reap(pid);
	tls_client_free(&cl);
	return rc;
}

static void
tls_client_verification(void)
{
	struct tls_server *srv;
	struct tls_client *cl;
	struct buf err;
	int v;

	T_ASSERT(setup() == 0);
	srv = server_def();
	T_ASSERT(srv != NULL);
	buf_init(&err, 0);
	T_EQ_INT(try_connect(srv, tp("def.crt"), DEF_NAME, 1, &v, &err), 0);
	T_EQ_INT(v, 1);
	T_EQ_INT(try_connect(srv, tp("def.crt"), "MAIL.Example.TEST", 1, &v,
	    &err), 0);
	T_EQ_INT(v, 1);
	T_EQ_INT(try_connect(srv, tp("def.crt"), "wrong.example.test", 1, &v,
	    &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "hostname mismatch") != NULL);
	T_EQ_INT(try_connect(srv, tp("def.crt"), "wrong.example.test", 0, &v,
	    &err), 0);
	T_EQ_INT(v, 0);
	/* The system store does not know our self-signed certificate. */
	T_EQ_INT(try_connect(srv, NULL, DEF_NAME, 1, &v, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "self-signed") != NULL);
	T_EQ_INT(try_connect(srv, NULL, DEF_NAME, 0, &v, &err), 0);
	T_EQ_INT(v, 0);
	T_EQ_INT(try_connect(srv, tp("def.crt"), NULL, 0, &v, &err), 0);
	T_EQ_INT(v, 0);
	T_EQ_INT(try_connect(srv, tp("def.crt"), NULL, 1, &v, &err), -1);
	T_EQ_INT(tls_client_new(tp("missing.crt"), &cl, &err), -1);
	T_ASSERT(cl == NULL);
	T_ASSERT(strstr(buf_cstr(&err), "missing.crt") != NULL);
	tls_server_free(&srv);
	buf_free(&err);
}

struct stall_kid {
	int fd;
	int trickle;		/* send a byte every 50 ms, else nothing */
};

static int
stall_child(void *arg)
{
	static const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00,
		0x01, 0x00, 0x01, 0xfc, 0x03, 0x03 };
	struct stall_kid *k = arg;
	char c;
	size_t i;

	if (!k->trickle)
		return read(k->fd, &c, 1) == 0 ? 0 : 1;
	for (i = 0; i < 60; i++) {
		if (write(k->fd, &hello[i % sizeof(hello)], 1) != 1)
			return 0;
		usleep(50 * 1000);
	}
	return 1;
}

static void
tls_handshake_deadline(void)
{
	struct tls_server *srv;
	struct stall_kid k;
	struct buf err;
	struct io io;
	uint64_t t0, dt;
	int sv[2];
	pid_t pid;

	T_ASSERT(setup() == 0);
	srv = server_def();
	T_ASSERT(srv != NULL);
	buf_init(&err, 0);
	for (k.trickle = 0; k.trickle <= 1; k.trickle++) {
		T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		k.fd = sv[1];
		T_ASSERT((pid = spawn(stall_child, &k, &sv[0], &sv[1], 1)) >
		    0);
		io_init(&io, sv[0], 1024, 300);
		t0 = now_ms();
		T_EQ_INT(tls_accept(srv, &io, &err), -1);
		dt = now_ms() - t0;
		io_free(&io, 1);
		T_ASSERT(strstr(buf_cstr(&err), "timed out") != NULL);
		if (dt < 290 || dt > 1000)
			t_failf(__FILE__, __LINE__, "gave up after %llu ms",
			    (unsigned long long)dt);
		T_EQ_INT(reap(pid), 0);
	}
	tls_server_free(&srv);
	buf_free(&err);
}

static void
tls_ocsp_stapling(void)
{
	struct tls_conf c = conf_def();
	struct tls_server *srv;
	struct rawc rc;
	struct served s;
	struct buf err, der;
	char want[64];

	T_ASSERT(setup() == 0);
	buf_init(&err, 0);
	buf_init(&der, 0);
	T_ASSERT(file_read(tp("def.ocsp"), 100000, &der) == 0);
	c.ocsp_file = tp("def.ocsp");
	T_EQ_INT(tls_server_new(&c, &srv, &err), 0);
	memset(&rc, 0, sizeof(rc));
	rc.ocsp = 1;
	T_EQ_INT(serve_raw(srv, &rc, &s), 0);
	(void)xsnprintf(want, sizeof(want), " O=%zu ", der.len);
	T_ASSERT(strstr(s.line, want) != NULL);
	/* Only to a client that asks (RFC 6066 8). */
	rc.ocsp = 0;
	T_EQ_INT(serve_raw(srv, &rc, &s), 0);
	T_ASSERT(strstr(s.line, " O=-1 ") != NULL);
	/* TLS 1.2 carries it in CertificateStatus. */
	rc.ocsp = 1;
	rc.maxv = TLS1_2_VERSION;
	T_EQ_INT(serve_raw(srv, &rc, &s), 0);
	T_ASSERT(strstr(s.line, want) != NULL);
	tls_server_free(&srv);

	c.ocsp_file = tp("missing.ocsp");
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "cannot read") != NULL);
	c.ocsp_file = tp("garbage.ocsp");
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "not a DER OCSP response") != NULL);
	c.ocsp_file = tp("exact.ocsp");
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "not for the certificate") != NULL);
	c.ocsp_file = tp("revoked.ocsp");
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "revoked") != NULL);

	/* Out of date: the server runs, without a staple. */
	T_EQ_INT(tls_ocsp_read(tp("stale.ocsp"), tp("def.crt"), &der, &err),
	    0);
	T_ASSERT(strstr(buf_cstr(&err), "out of date") != NULL);
	T_EQ_INT(der.len, 0);
	c.ocsp_file = tp("stale.ocsp");
	T_EQ_INT(tls_server_new(&c, &srv, &err), 0);
	rc.maxv = 0;
	T_EQ_INT(serve_raw(srv, &rc, &s), 0);
	T_ASSERT(strstr(s.line, " O=-1 ") != NULL);
	tls_server_free(&srv);
	T_EQ_INT(tls_ocsp_read(tp("def.ocsp"), tp("def.crt"), &der, &err), 1);
	T_ASSERT(der.len > 0);
	buf_free(&err);
	buf_free(&der);
}

static void
tls_server_config_errors(void)
{
	struct tls_conf c = conf_def();
	struct tls_server *srv;
	struct buf err;

	T_ASSERT(setup() == 0);
	buf_init(&err, 0);
	c.cert_file = tp("nothere.crt");
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	T_ASSERT(srv == NULL);
	T_ASSERT(strstr(buf_cstr(&err), "nothere.crt: cannot load the "
	    "certificate chain: ") != NULL);
	c = conf_def();
	c.key_file = tp("sni/exact.key");
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "exact.key: key does not match "
	    "certificate ") != NULL);
	c = conf_def();
	c.ciphers = "NO-SUCH-CIPHER";
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "NO-SUCH-CIPHER") != NULL);
	c = conf_def();
	c.groups = "P-999";
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	c = conf_def();
	c.key_file = NULL;
	T_EQ_INT(tls_server_new(&c, &srv, &err), -1);
	buf_free(&err);
}

/* --- servers from files read ahead (tls_files) --------------------------- */

/* out: the contents of a and b (NULL: none), then extra (NULL: none). */
static int
concat(const char *out, const char *a, const char *b, const char *extra)
{
	struct buf all, part;
	int rc = -1;

	buf_init(&all, 0);
	buf_init(&part, 0);
	if (file_read(a, TLS_FILE_MAX, &part) == 0 &&
	    buf_try_append(&all, part.data, part.len) == 0 &&
	    (b == NULL || (file_read(b, TLS_FILE_MAX, &part) == 0 &&
	    buf_try_append(&all, part.data, part.len) == 0)) &&
	    (extra == NULL || buf_try_puts(&all, extra) == 0))
		rc = file_write_atomic(out, all.data, all.len, 0600);
	buf_free(&all);
	buf_free(&part);
	return rc;
}

/* tls_files_load(), then tls_server_new_from(): 0 if both worked, 1 if
 * the load failed, 2 if the build did (err says why), -1 if a failure
 * left something behind. */
static int
load_and_build(const struct tls_conf *c, struct buf *err)
{
	struct tls_server *srv;
	struct tls_files *f;
	int r = 0;

	if (tls_files_load(c, &f, err) == -1)
		return f == NULL ? 1 : -1;
	if (tls_server_new_from(c, f, &srv, err) == -1)
		r = srv == NULL ? 2 : -1;
	tls_server_free(&srv);
	tls_files_free(&f);
	return r;
}

/* Which certificate srv serves for sni (NULL: none) and how: the raw
 * client's report, in s->line. */
static int
ask(struct tls_server *srv, const char *sni, int maxv, struct served *s)
{
	struct rawc rc;

	memset(&rc, 0, sizeof(rc));
	rc.sni = sni;
	rc.maxv = maxv;
	rc.ocsp = 1;
	return serve_raw(srv, &rc, s);
}

/* Everything tls_server_new_from() needs is in memory: it works with
 * every file, directory included, deleted. */
static void
tls_files_read_ahead(void)
{
	static const char *const gone[] = { "gone/def.crt", "gone/def.key",
		"gone/def.ocsp", "gone/sni/a.crt", "gone/sni/a.key",
		"gone/sni/b.crt", "gone/sni/b.key", "gone/sni", "gone" };
	struct tls_server *srv, *srv2;
	struct tls_files *f;
	struct tls_conf c;
	struct served s;
	struct buf err, der;
	char ocsp[64];
	size_t i;

	T_ASSERT(setup() == 0);
	buf_init(&err, 0);
	buf_init(&der, 0);
	T_ASSERT(mkdir(tp("gone"), 0700) == 0);
	T_ASSERT(mkdir(tp("gone/sni"), 0700) == 0);
	T_ASSERT(mkcert("gone/def", DEF_NAME, "DNS:" DEF_NAME, -1, 365) == 0);
	T_ASSERT(mkocsp("gone/def", tp("gone/def.ocsp"),
	    V_OCSP_CERTSTATUS_GOOD, 86400) == 0);
	/* dup.test is in both: the first file by name wins. */
	T_ASSERT(mkcert("gone/sni/b", "b.test", "DNS:b.test,DNS:dup.test", -1,
	    365) == 0);
	T_ASSERT(mkcert("gone/sni/a", "a.test", "DNS:a.test,DNS:dup.test", -1,
	    365) == 0);
	T_ASSERT(file_read(tp("gone/def.ocsp"), 100000, &der) == 0);
	(void)xsnprintf(ocsp, sizeof(ocsp), " O=%zu ", der.len);
	memset(&c, 0, sizeof(c));
	c.cert_file = tp("gone/def.crt");
	c.key_file = tp("gone/def.key");
	c.sni_dir = tp("gone/sni");
	c.ocsp_file = tp("gone/def.ocsp");
	T_EQ_INT(tls_files_load(&c, &f, &err), 0);
	T_ASSERT(f != NULL);
	for (i = 0; i < NELEM(gone); i++)
		T_ASSERT(remove(tp(gone[i])) == 0);
	T_EQ_INT(tls_server_new_from(&c, f, &srv, &err), 0);
	/* The copies are only read: a second server from them. */
	T_EQ_INT(tls_server_new_from(&c, f, &srv2, &err), 0);
	tls_files_free(&f);
	T_ASSERT(f == NULL);
	tls_files_free(&f);	/* a no-op */

	T_EQ_INT(ask(srv, NULL, 0, &s), 0);
	T_ASSERT(strstr(s.line, " N=" DEF_NAME " ") != NULL);
	T_ASSERT(strstr(s.line, ocsp) != NULL);
	T_EQ_INT(ask(srv, "b.test", 0, &s), 0);
	T_ASSERT(strstr(s.line, " N=b.test ") != NULL);
	/* OCSP is stapled for the default certificate only. */
	T_ASSERT(strstr(s.line, " O=-1 ") != NULL);
	T_EQ_INT(ask(srv, "DUP.test", 0, &s), 0);
	T_ASSERT(strstr(s.line, " N=a.test ") != NULL);
	T_EQ_INT(ask(srv, "a.test", TLS1_2_VERSION, &s), 0);
	T_ASSERT(strncmp(s.line, "V=TLSv1.2 ", 10) == 0);
	T_ASSERT(strstr(s.line, " N=a.test ") != NULL);
	T_EQ_INT(ask(srv2, NULL, TLS1_2_VERSION, &s), 0);
	T_ASSERT(strstr(s.line, " N=" DEF_NAME " ") != NULL);
	T_ASSERT(strstr(s.line, ocsp) != NULL);
	T_EQ_INT(ask(srv2, "dup.test", 0, &s), 0);
	T_ASSERT(strstr(s.line, " N=a.test ") != NULL);
	tls_server_free(&srv);
	tls_server_free(&srv2);
	buf_free(&err);
	buf_free(&der);
}

/* What the files hold is checked by tls_server_new_from(), not by
 * tls_files_load(), and the message names the file. */
static void
tls_files_content_errors(void)
{
	static const char badcrt[] = "-----BEGIN CERTIFICATE-----\n"
	    "bm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
	static const char badkey[] = "-----BEGIN PRIVATE KEY-----\n"
	    "bm90IGEga2V5\n-----END PRIVATE KEY-----\n";
	static const char pass[] = "secret";
	struct tls_conf c;
	struct tls_server *srv;
	struct buf err;
	struct served s;
	EVP_PKEY *k;
	FILE *fp;
	int ok;

	T_ASSERT(setup() == 0);
	buf_init(&err, 0);
	T_ASSERT(file_write_atomic(tp("bad.crt"), badcrt, strlen(badcrt),
	    0600) == 0);
	T_ASSERT(file_write_atomic(tp("empty.crt"), "", 0, 0600) == 0);
	T_ASSERT(file_write_atomic(tp("bad.key"), badkey, strlen(badkey),
	    0600) == 0);
	T_ASSERT(concat(tp("badchain.crt"), tp("def.crt"), NULL, badcrt) ==
	    0);
	T_ASSERT(concat(tp("chain.crt"), tp("def.crt"), tp("sni/exact.crt"),
	    NULL) == 0);
	T_ASSERT(mkdir(tp("badsni"), 0700) == 0);
	T_ASSERT(concat(tp("badsni/a.crt"), tp("sni/exact.crt"), NULL, NULL) ==
	    0);
	T_ASSERT(concat(tp("badsni/a.key"), tp("sni/exact.key"), NULL, NULL) ==
	    0);
	T_ASSERT(file_write_atomic(tp("badsni/z.crt"), badcrt, strlen(badcrt),
	    0600) == 0);
	T_ASSERT(concat(tp("badsni/z.key"), tp("def.key"), NULL, NULL) == 0);
	T_ASSERT((k = read_key(tp("def.key"))) != NULL);
	T_ASSERT((fp = fopen(tp("enc.key"), "w")) != NULL);
	ok = PEM_write_PrivateKey(fp, k, EVP_aes_256_cbc(),
	    (const unsigned char *)pass, (int)strlen(pass), NULL, NULL);
	T_ASSERT(fclose(fp) == 0 && ok == 1);
	EVP_PKEY_free(k);

	c = conf_def();
	c.cert_file = tp("bad.crt");
	T_EQ_INT(load_and_build(&c, &err), 2);
	T_ASSERT(strstr(buf_cstr(&err), "bad.crt: cannot load the "
	    "certificate chain: ") != NULL);
	c.cert_file = tp("empty.crt");
	T_EQ_INT(load_and_build(&c, &err), 2);
	T_ASSERT(strstr(buf_cstr(&err), "empty.crt: cannot load the "
	    "certificate chain: ") != NULL);
	/* As SSL_CTX_use_certificate_chain_file(): a bad one after the
	 * leaf is an error too. */
	c.cert_file = tp("badchain.crt");
	T_EQ_INT(load_and_build(&c, &err), 2);
	T_ASSERT(strstr(buf_cstr(&err), "badchain.crt: cannot load the "
	    "certificate chain: ") != NULL);
	c = conf_def();
	c.key_file = tp("bad.key");
	T_EQ_INT(load_and_build(&c, &err), 2);
	T_ASSERT(strstr(buf_cstr(&err), "bad.key: cannot load the private "
	    "key: ") != NULL);
	c.key_file = tp("enc.key");
	T_EQ_INT(load_and_build(&c, &err), 2);
	T_ASSERT(strstr(buf_cstr(&err), "enc.key: cannot load the private "
	    "key") != NULL);
	c.key_file = tp("sni/exact.key");
	T_EQ_INT(load_and_build(&c, &err), 2);
	T_ASSERT(strstr(buf_cstr(&err), "exact.key: key does not match "
	    "certificate ") != NULL);
	T_ASSERT(strstr(buf_cstr(&err), tp("def.crt")) != NULL);
	c = conf_def();
	c.sni_dir = tp("badsni");
	T_EQ_INT(load_and_build(&c, &err), 2);
	T_ASSERT(strstr(buf_cstr(&err), "badsni/z.crt: cannot load the "
	    "certificate chain: ") != NULL);
	c = conf_def();
	c.ocsp_file = tp("garbage.ocsp");
	T_EQ_INT(load_and_build(&c, &err), 2);
	T_ASSERT(strstr(buf_cstr(&err), "garbage.ocsp: not a DER OCSP "
	    "response") != NULL);
	c.ocsp_file = tp("revoked.ocsp");
	T_EQ_INT(load_and_build(&c, &err), 2);
	T_ASSERT(strstr(buf_cstr(&err), "revoked") != NULL);

	/* A chain: the leaf and the certificate after it are both sent. */
	c = conf_def();
	c.cert_file = tp("chain.crt");
	T_EQ_INT(tls_server_new(&c, &srv, &err), 0);
	T_EQ_INT(ask(srv, NULL, 0, &s), 0);
	T_ASSERT(strstr(s.line, " N=" DEF_NAME " O=-1 C=2 ") != NULL);
	tls_server_free(&srv);
	c.cert_file = tp("def.crt");
	T_EQ_INT(tls_server_new(&c, &srv, &err), 0);
	T_EQ_INT(ask(srv, NULL, 0, &s), 0);
	T_ASSERT(strstr(s.line, " C=1 ") != NULL);
	tls_server_free(&srv);
	buf_free(&err);
}

/* tls_files_load() fails only on files it cannot read, naming them. */
static void
tls_files_load_errors(void)
{
	struct tls_conf c;
	struct buf err, big;
	struct tls_files *f;
	size_t n, i;

	T_ASSERT(setup() == 0);
	buf_init(&err, 0);
	buf_init(&big, 2 * TLS_FILE_MAX);
	c = conf_def();
	c.cert_file = tp("nothere.crt");
	T_EQ_INT(load_and_build(&c, &err), 1);
	T_ASSERT(strstr(buf_cstr(&err), "nothere.crt: cannot load the "
	    "certificate chain: No such file or directory") != NULL);
	c = conf_def();
	c.key_file = tp("nothere.key");
	T_EQ_INT(load_and_build(&c, &err), 1);
	T_ASSERT(strstr(buf_cstr(&err), "nothere.key: cannot load the "
	    "private key: No such file or directory") != NULL);
	c = conf_def();
	c.ocsp_file = tp("missing.ocsp");
	T_EQ_INT(load_and_build(&c, &err), 1);
	T_ASSERT(strstr(buf_cstr(&err), "missing.ocsp: cannot read: ") !=
	    NULL);
	c = conf_def();
	c.sni_dir = tp("missing");
	T_EQ_INT(load_and_build(&c, &err), 1);
	T_ASSERT(strstr(buf_cstr(&err), "missing: cannot read: ") != NULL);
	T_ASSERT(mkdir(tp("halfsni"), 0700) == 0);
	T_ASSERT(concat(tp("halfsni/only.crt"), tp("def.crt"), NULL, NULL) ==
	    0);
	c.sni_dir = tp("halfsni");
	T_EQ_INT(load_and_build(&c, &err), 1);
	T_ASSERT(strstr(buf_cstr(&err), "halfsni/only.key: cannot load the "
	    "private key: ") != NULL);
	c = conf_def();
	c.cert_file = tp("sni");
	T_EQ_INT(load_and_build(&c, &err), 1);
	T_ASSERT(strstr(buf_cstr(&err), "sni: cannot load the certificate "
	    "chain: not a regular file") != NULL);
	/* A FIFO is refused without waiting for a writer. */
	T_ASSERT(mkfifo(tp("fifo.crt"), 0600) == 0);
	c.cert_file = tp("fifo.crt");
	T_EQ_INT(load_and_build(&c, &err), 1);
	T_ASSERT(strstr(buf_cstr(&err), "not a regular file") != NULL);
	/* Symbolic links are followed (certbot's live/ directory). */
	T_ASSERT(symlink(tp("def.crt"), tp("link.crt")) == 0);
	c.cert_file = tp("link.crt");
	T_EQ_INT(load_and_build(&c, &err), 0);
	c = conf_def();
	c.key_file = "";
	T_EQ_INT(load_and_build(&c, &err), 1);
	T_ASSERT(strstr(buf_cstr(&err), "no certificate or key file") !=
	    NULL);

	/* TLS_FILE_MAX bytes is fine (text before the PEM is skipped), one
	 * more is not. */
	T_ASSERT(file_read(tp("def.crt"), TLS_FILE_MAX, &big) == 0);
	n = TLS_FILE_MAX - big.len;
	buf_reset(&big);
	for (i = 0; i < n; i++)
		T_ASSERT(buf_try_putc(&big, i % 64 == 63 || i == n - 1 ? '\n' :
		    'x') == 0);
	T_ASSERT(file_write_atomic(tp("max.crt"), big.data, big.len, 0600) ==
	    0);
	T_ASSERT(concat(tp("max.crt"), tp("max.crt"), tp("def.crt"), NULL) ==
	    0);
	T_ASSERT(file_read(tp("max.crt"), 2 * TLS_FILE_MAX, &big) == 0);
	T_EQ_INT(big.len, TLS_FILE_MAX);
	T_ASSERT(buf_try_putc(&big, '\n') == 0);
	T_ASSERT(file_write_atomic(tp("over.crt"), big.data, big.len, 0600) ==
	    0);
	c = conf_def();
	c.cert_file = tp("max.crt");
	T_EQ_INT(load_and_build(&c, &err), 0);
	c.cert_file = tp("over.crt");
	T_EQ_INT(tls_files_load(&c, &f, &err), -1);
	T_ASSERT(f == NULL);
	T_ASSERT(strstr(buf_cstr(&err), "over.crt: cannot load the "
	    "certificate chain: larger than 1 MB") != NULL);
	buf_free(&err);
	buf_free(&big);
}

static void
tls_check_certificates(void)
{
	struct buf r;

	T_ASSERT(setup() == 0);
	buf_init(&r, 0);
	/* Self-signed and otherwise fine: a warning. */
	T_EQ_INT(tls_check_cert(tp("def.crt"), tp("def.key"), &r), 1);
	T_ASSERT(strstr(buf_cstr(&r), "info: key matches certificate\n"));
	T_ASSERT(strstr(buf_cstr(&r),
	    "warning: self-signed: clients will not trust it\n"));
	T_ASSERT(strstr(buf_cstr(&r), "info: valid until "));
	T_ASSERT(strstr(buf_cstr(&r), "info: names: " DEF_NAME "\n"));
	T_ASSERT(strstr(buf_cstr(&r), "error") == NULL);
	buf_reset(&r);
	T_EQ_INT(tls_check_cert(tp("def.crt"), tp("sni/exact.key"), &r), -1);
	T_ASSERT(strstr(buf_cstr(&r),
	    "error: key does not match certificate\n"));
	buf_reset(&r);
	T_EQ_INT(tls_check_cert(tp("expired.crt"), tp("expired.key"), &r),
	    -1);
	T_ASSERT(strstr(buf_cstr(&r), "error: expired on "));
	/* The chain check ignores the dates: still just self-signed. */
	T_ASSERT(strstr(buf_cstr(&r), "warning: self-signed"));
	buf_reset(&r);
	T_EQ_INT(tls_check_cert(tp("future.crt"), tp("future.key"), &r), -1);
	T_ASSERT(strstr(buf_cstr(&r), "error: not yet valid: valid from "));
	buf_reset(&r);
	T_EQ_INT(tls_check_cert(tp("soon.crt"), tp("soon.key"), &r), 1);
	T_ASSERT(strstr(buf_cstr(&r), "warning: expires in 10 days, on "));
	buf_reset(&r);
	T_EQ_INT(tls_check_cert(tp("sni/exact.crt"), NULL, &r), 1);
	T_ASSERT(strstr(buf_cstr(&r), "info: names: exact.test Exact2.TEST\n"));
	buf_reset(&r);
	T_EQ_INT(tls_check_cert(tp("nosan/x.crt"), tp("nosan/x.key"), &r), 1);
	T_ASSERT(strstr(buf_cstr(&r), "warning: no DNS names"));
	buf_reset(&r);
	T_EQ_INT(tls_check_cert(tp("def.key"), NULL, &r), -1);
	T_ASSERT(strstr(buf_cstr(&r), "error: ") &&
	    strstr(buf_cstr(&r), "def.key: no certificate"));
	buf_reset(&r);
	T_EQ_INT(tls_check_cert(tp("nothere.crt"), NULL, &r), -1);
	T_ASSERT(strstr(buf_cstr(&r), "nothere.crt: cannot read"));
	buf_free(&r);
}

static void
tls_not_tls(void)
{
	struct io io;
	struct buf b;
	int sv[2];

	T_ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	io_init(&io, sv[0], 100, 100);
	buf_init(&b, 0);
	T_EQ_INT(io_is_tls(&io), 0);
	T_ASSERT(tls_version(&io) == NULL && tls_cipher(&io) == NULL &&
	    tls_sni(&io) == NULL);
	T_EQ_INT(tls_resumed(&io), 0);
	T_EQ_INT(tls_verified(&io), 0);
	tls_describe(&io, &b);
	T_EQ_INT(b.len, 0);
	tls_close(&io);	/* a no-op */
	io_free(&io, 1);
	close(sv[1]);
	buf_free(&b);
}

/* Each test makes the certificates on first use (setup()), so that a
 * run of other suites does not pay for them. */
T_SUITE(suite_tls)
{
	alarm(120);	/* a hang kills the run instead of blocking it */
	t_run("tls not active", tls_not_tls);
	t_run("tls data both ways", tls_data_both_ways);
	t_run("tls versions", tls_versions);
	t_run("tls sni picks the certificate", tls_sni_picks_certificate);
	t_run("tls resumption across servers",
	    tls_resumption_across_servers);
	t_run("tls starttls discards pipelined input",
	    tls_starttls_discards_pipelined_input);
	t_run("tls starttls injection still in the socket fails",
	    tls_starttls_injection_in_socket_fails);
	t_run("tls client verification", tls_client_verification);
	t_run("tls handshake deadline", tls_handshake_deadline);
	t_run("tls ocsp stapling", tls_ocsp_stapling);
	t_run("tls server config errors", tls_server_config_errors);
	t_run("tls files read ahead", tls_files_read_ahead);
	t_run("tls files content errors", tls_files_content_errors);
	t_run("tls files load errors", tls_files_load_errors);
	t_run("tls check certificates", tls_check_certificates);
	alarm(0);
}
