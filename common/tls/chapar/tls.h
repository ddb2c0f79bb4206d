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
				 * stapled for the default certificate
				 * (read once, by tls_files_load) */
};

struct tls_server;
struct config;

/* The tls_* keys of chapar.conf for a service (strings owned by the
 * configuration). */
void tls_conf_from_config(struct tls_conf *, const struct config *,
    const char *service);

/* tls_files_load + tls_server_new_from + tls_files_free: 0, or -1 with
 * a message naming the file and what OpenSSL said.  Keys protected by a
 * passphrase are refused (nobody is there to type it).  The server
 * starts with one random ticket key of its own. */
int tls_server_new(const struct tls_conf *, struct tls_server **,
    struct buf *err);
void tls_server_free(struct tls_server **);

/*
 * The files a tls_conf names (certificate chain, key, OCSP response, and
 * every NAME.crt/NAME.key pair of sni_dir), read into memory with plain
 * read(2): no OpenSSL call, so that a process which never does TLS never
 * touches libcrypto's state.  Done while the files are readable (root,
 * before chroot); tls_server_new_from() later builds the contexts from
 * these copies and reads nothing from disk.  Symbolic links are
 * followed; each file must be a regular one of at most TLS_FILE_MAX
 * bytes, and sni_dir hold at most 100000 pairs.
 *
 * tls_files_load fails (-1, err names the file) only when a file cannot
 * be read or is too large, or sni_dir cannot be read; what the files
 * hold (bad PEM, a key that does not match) is tls_server_new_from's
 * business, with the same messages as tls_server_new.  For
 * tls_server_new_from, conf gives the protocol settings only: the
 * files to use are the ones loaded.  tls_files_free wipes every copy.
 */
#define TLS_FILE_MAX ((size_t)1024 * 1024)
struct tls_files;
int tls_files_load(const struct tls_conf *, struct tls_files **,
    struct buf *err);
void tls_files_free(struct tls_files **);
int tls_server_new_from(const struct tls_conf *, const struct tls_files *,
    struct tls_server **, struct buf *err);

/* The insides of struct tls_files, for tls.c and tls_check.c: callers
 * treat it as opaque.  A blob is one file's bytes, NUL-terminated (not
 * counted in len), with its name for messages; data NULL: no file. */
struct tls_blob {
	char *path;
	unsigned char *data;
	size_t len;
};
struct tls_pair {
	struct tls_blob crt, key;
};
struct tls_files {
	struct tls_pair def;		/* cert_file, key_file */
	struct tls_pair *sni;		/* sni_dir's, in name order */
	size_t nsni;
	struct tls_blob ocsp;		/* ocsp_file, or none */
};
/* Read path into b, as tls_files_load does ("PATH: cannot read: why");
 * tls_blob_free wipes and frees it. */
int tls_blob_read(struct tls_blob *b, const char *path, struct buf *err);
void tls_blob_free(struct tls_blob *b);

/* Session-ticket keys, as chapard hands them out: a list of keys, newest
 * first; the first encrypts new tickets, all of them decrypt.  Each key
 * is TLS_TICKET_KEYLEN bytes: 16 name, 32 AES-256 key, 32 HMAC key. */
#define TLS_TICKET_KEYLEN 80
#define TLS_TICKET_KEYS_MAX 4
void tls_ticket_key_generate(unsigned char key[TLS_TICKET_KEYLEN]);
/* keys: nkeys * TLS_TICKET_KEYLEN bytes, copied; the SNI certificates
 * share them.  A ticket under a key no longer listed means a full
 * handshake; one under an older key resumes and gets a new ticket.  0,
 * or -1 if nkeys is 0 or over TLS_TICKET_KEYS_MAX. */
int tls_server_set_ticket_keys(struct tls_server *, const unsigned char *keys,
    size_t nkeys);

/* Start TLS as a server on io (implicit TLS on connect, or after a
 * STARTTLS reply).  Output still queued in io (the reply) is flushed in
 * the clear first; buffered input is discarded.  The whole handshake is
 * bounded by io->timeout_ms.  Fails on an io that is already TLS.  0, or
 * -1 with a message for the log; after a failure the io is plain again
 * and the connection is only good for closing. */
int tls_accept(struct tls_server *, struct io *, struct buf *err);

/* Client side (outbound SMTP).  verify: check the peer's chain against
 * cafile (NULL: the system store) and its name against servername (a
 * host name, sent as SNI, or an address literal, not sent); a bad chain
 * or name fails the handshake.  Without verify the handshake succeeds
 * either way and tls_verified() says what was found (0 when servername
 * is NULL).  verify needs a servername.  Like tls_accept, tls_connect
 * flushes queued output and discards buffered input first. */
struct tls_client;
int tls_client_new(const char *cafile, struct tls_client **, struct buf *err);
void tls_client_free(struct tls_client **);
int tls_connect(struct tls_client *, struct io *, const char *servername,
    int verify, struct buf *err);

/* On a TLS io (on a plain one: NULL, 0, or nothing appended): */
int io_is_tls(const struct io *);
/* Append "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"-style
 * text for logs and Received headers (RFC 3848, Postfix's format). */
void tls_describe(const struct io *, struct buf *out);
const char *tls_version(const struct io *);	/* "TLSv1.3" */
const char *tls_cipher(const struct io *);
/* The name the client asked for, as it sent it (NULL: none; peer data:
 * escape it before logging); on the client side, the name we sent. */
const char *tls_sni(const struct io *);
int tls_resumed(const struct io *);
int tls_verified(const struct io *);	/* client side: chain and name OK */
/* Send close_notify (one non-blocking try) and free the TLS state; the
 * io goes back to the plain descriptor.  Output still queued is dropped,
 * never sent in the clear: flush first.  Call it before io_free() on a
 * TLS io, which knows nothing of TLS. */
void tls_close(struct io *);

/* "chapar tls check": load a certificate and key (NULL: skip the key),
 * check they match, the validity dates (warn under 30 days), the chain
 * against the system store, and list the names.  Appends one line per
 * finding to report, each "error: ", "warning: " or "info: " and the
 * text.  0 all good, 1 warnings only, -1 errors. */
int tls_check_cert(const char *cert_file, const char *key_file,
    struct buf *report);

/* Read a DER OCSP response (RFC 6960) for the first certificate of
 * cert_file, whose issuer must be that certificate itself or in the same
 * file.  1: good and current, der holds it; 0: out of date (err says
 * so; do not staple it); -1: unreadable, unsuccessful, for another
 * certificate or revoked (err says which).  The response's signature is
 * not checked: that is the client's business. */
int tls_ocsp_read(const char *ocsp_file, const char *cert_file,
    struct buf *der, struct buf *err);
/* The same on bytes already read (tls_files): ocsp DER, cert PEM. */
int tls_ocsp_check(const struct tls_blob *ocsp, const struct tls_blob *cert,
    struct buf *der, struct buf *err);

#endif
