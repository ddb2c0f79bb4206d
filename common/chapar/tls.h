/*
 * tls: TLS (OpenSSL 3) on top of struct io, server and client side.
 *
 * Server side: one struct tls_server per listener, holding the default
 * certificate and, for multi-domain hosting, one certificate per domain
 * chosen by SNI.  TLS 1.2 and 1.3 only by default, a modern cipher list
 * with the server's preference, groups X25519 and P-256, no
 * renegotiation, no compression, no 0-RTT.  Session tickets are
 * encrypted with keys that chapard makes, rotates and hands to every
 * worker, so a client can resume with any worker of the pool.
 *
 * STARTTLS: tls_accept() throws away every byte the client sent before
 * the handshake (the CVE-2011-0411 class: commands pipelined after
 * STARTTLS must never be executed after the handshake) and refuses an io
 * that is already TLS.
 */
#ifndef CHAPAR_TLS_H
#define CHAPAR_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "chapar/buf.h"
#include "chapar/io.h"

struct tls_conf {
	const char *cert_file;	/* default certificate chain (PEM) */
	const char *key_file;	/* its private key (PEM) */
	const char *sni_dir;	/* NULL/"": none; else NAME.crt + NAME.key
				 * pairs, one per domain; the names a
				 * certificate answers to are its SAN DNS
				 * entries (wildcards "*.example.org" work) */
	const char *min_version; /* "TLSv1.2" (default) or "TLSv1.3" */
	const char *ciphers;	/* TLS 1.2 list; NULL: a modern default */
	const char *ciphersuites; /* TLS 1.3; NULL: OpenSSL's default */
	const char *groups;	/* NULL: "X25519:P-256" */
	const char *ocsp_file;	/* NULL/"": none; else a DER OCSP response
				 * stapled for the default certificate */
};

struct tls_server;

int tls_server_new(const struct tls_conf *, struct tls_server **,
    struct buf *err);
void tls_server_free(struct tls_server **);

/* Session-ticket keys, as chapard hands them out: a list of keys, newest
 * first; the first encrypts new tickets, all of them decrypt.  Each key
 * is TLS_TICKET_KEYLEN bytes: 16 name, 32 AES-256 key, 32 HMAC key. */
#define TLS_TICKET_KEYLEN 80
#define TLS_TICKET_KEYS_MAX 4
void tls_ticket_key_generate(unsigned char key[TLS_TICKET_KEYLEN]);
int tls_server_set_ticket_keys(struct tls_server *, const unsigned char *keys,
    size_t nkeys);

/* Start TLS as a server on io (implicit TLS on connect, or after a
 * STARTTLS reply has been flushed).  Discards buffered input first.  The
 * handshake is bounded by io->timeout_ms.  0, or -1 with a message for
 * the log. */
int tls_accept(struct tls_server *, struct io *, struct buf *err);

/* Client side (outbound SMTP).  verify: check the peer's chain against
 * cafile (NULL: the system store) and its name against servername;
 * without verify the handshake succeeds either way and tls_verified()
 * says what was found. */
struct tls_client;
int tls_client_new(const char *cafile, struct tls_client **, struct buf *err);
void tls_client_free(struct tls_client **);
int tls_connect(struct tls_client *, struct io *, const char *servername,
    int verify, struct buf *err);

/* On a TLS io: */
int io_is_tls(const struct io *);
/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"-style text
 * for logs and Received headers (RFC 3848, Postfix's format). */
void tls_describe(const struct io *, struct buf *out);
const char *tls_version(const struct io *);	/* "TLSv1.3" */
const char *tls_cipher(const struct io *);
const char *tls_sni(const struct io *);	/* the name the client asked for */
int tls_resumed(const struct io *);
int tls_verified(const struct io *);	/* client side: chain and name OK */
/* Send close_notify (best effort) and free the TLS state; the io goes
 * back to the plain descriptor. */
void tls_close(struct io *);

/* "chapar tls check": load a certificate and key, check they match, the
 * validity dates (warn under 30 days), and the chain against the system
 * store.  Appends one line per finding to report.  0 all good, 1
 * warnings only, -1 errors. */
int tls_check_cert(const char *cert_file, const char *key_file,
    struct buf *report);

#endif
