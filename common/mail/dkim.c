/*
 * dkim.c: DKIM signing (dkim.h; RFC 6376, RFC 8463).
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "chapar/dkim.h"
#include "chapar/mime.h"
#include "chapar/util.h"

/* What we sign (RFC 6376 5.4.1's list, less the rarely useful), From
 * once more than it occurs so that no From can be added (8.15). */
static const char *const signed_fields[] = { "from", "to", "cc", "subject",
	"date", "message-id", "reply-to", "in-reply-to", "references",
	"mime-version", "content-type", "content-transfer-encoding", NULL };

static int
wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 6376 3.4.2: lower-case name, unfolded, runs of WSP one SP, none
 * at the end or around the colon. */
int
dkim_canon_header(const char *f, size_t n, struct buf *out)
{
	size_t i = 0;
	int space = 0;

	while (i < n && f[i] != ':') {
		if (!wsp(f[i]) && buf_try_putc(out,
		    (char)tolower((unsigned char)f[i])) == -1)
			return -1;
		i++;
	}
	if (buf_try_putc(out, ':') == -1)
		return -1;
	for (i++; i < n && (wsp(f[i]) || f[i] == '\r' || f[i] == '\n'); i++)
		;
	for (; i < n; i++) {
		if (f[i] == '\r' || f[i] == '\n')
			continue;	/* unfold */
		if (wsp(f[i])) {
			space = 1;
			continue;
		}
		if ((space && buf_try_putc(out, ' ') == -1) ||
		    buf_try_putc(out, f[i]) == -1)
			return -1;
		space = 0;
	}
	return buf_try_append(out, "\r\n", 2);
}

/* RFC 6376 3.4.4: no WSP at line ends, runs of WSP one SP, no empty
 * lines at the end; a non-empty body ends with CRLF. */
int
dkim_canon_body(const char *b, size_t n, struct buf *out)
{
	size_t i = 0, empties = 0, end;
	int space;

	while (i < n) {
		size_t s = i, e;
		const char *nl = memchr(b + i, '\n', n - i);

		e = nl != NULL ? (size_t)(nl - b) : n;
		i = nl != NULL ? e + 1 : n;
		end = e;
		if (end > s && b[end - 1] == '\r')
			end--;
		while (end > s && wsp(b[end - 1]))
			end--;
		if (end == s) {
			empties++;
			continue;
		}
		for (; empties > 0; empties--)
			if (buf_try_append(out, "\r\n", 2) == -1)
				return -1;
		for (space = 0; s < end; s++) {
			if (wsp(b[s])) {
				space = 1;
				continue;
			}
			if ((space && buf_try_putc(out, ' ') == -1) ||
			    buf_try_putc(out, b[s]) == -1)
				return -1;
			space = 0;
		}
		if (buf_try_append(out, "\r\n", 2) == -1)
			return -1;
	}
	return 0;
}

/* --- the header's fields ------------------------------------------------- */

struct field {
	const char *p;
	size_t n;		/* with its folded lines and final CRLF */
	size_t namelen;
	int used;
};

/* The fields of the header; *body: where the body starts. */
static size_t
fields_of(const char *msg, size_t len, struct field **out, size_t *body)
{
	struct field *f = NULL;
	size_t n = 0, i = 0, e;
	const char *nl, *colon;

	while (i < len) {
		if (msg[i] == '\r' || msg[i] == '\n')
			break;		/* the empty line */
		e = i;
		do {		/* a field and its continuation lines */
			nl = memchr(msg + e, '\n', len - e);
			e = nl != NULL ? (size_t)(nl - msg) + 1 : len;
		} while (e < len && wsp(msg[e]));
		colon = memchr(msg + i, ':', e - i);
		if (colon != NULL) {
			f = xreallocarray(f, n + 1, sizeof(*f));
			f[n].p = msg + i;
			f[n].n = e - i;
			f[n].namelen = (size_t)(colon - (msg + i));
			while (f[n].namelen > 0 && wsp(msg[i + f[n].namelen -
			    1]))
				f[n].namelen--;
			f[n++].used = 0;
		}
		i = e;
	}
	/* past the empty line */
	if (i < len && msg[i] == '\r')
		i++;
	if (i < len && msg[i] == '\n')
		i++;
	*body = i;
	*out = f;
	return n;
}

static int
named(const struct field *f, const char *name)
{
	return f->namelen == strlen(name) && strncasecmp(f->p, name,
	    f->namelen) == 0;
}

struct from_dom {
	char dom[256];
};

static void
from_cb(void *arg, const struct buf *mbox, const struct buf *host)
{
	struct from_dom *d = arg;

	(void)mbox;
	if (d->dom[0] == '\0')
		(void)xsnprintf(d->dom, sizeof(d->dom), "%s", buf_cstr(host));
}

/* --- signing ------------------------------------------------------------- */

static int
sha256(const void *p, size_t n, unsigned char out[32])
{
	unsigned int len = 32;

	return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

static int
sign_data(const struct dkim_key *k, const struct buf *data, struct buf *b64)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[1024], hash[32];
	size_t siglen = sizeof(sig);
	int ok = 0;

	if (ctx == NULL)
		return -1;
	if (k->ed25519) {
		/* RFC 8463 3: Ed25519 over the SHA-256 of the data */
		ok = sha256(data->data, data->len, hash) == 0 &&
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
		    EVP_DigestSign(ctx, sig, &siglen, hash, sizeof(hash)) == 1;
	} else
		ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
		    k->pkey) == 1 && EVP_DigestSign(ctx, sig, &siglen,
		    (const unsigned char *)data->data, data->len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	base64_encode(b64, sig, siglen);
	return 0;
}

/* One DKIM-Signature field for key k; -1 also when the fields to sign
 * do not fit the limits below (a header with hundreds of To fields):
 * the message then goes unsigned rather than the process down. */
static int
sign_one(const struct dkim_key *k, struct field *f, size_t nf,
    const char *bh, int64_t now, struct buf *out)
{
	struct buf h, data, sig, names;
	size_t i, j, count;
	int r = -1;

	buf_init(&h, 8192);
	buf_init(&data, 1024 * 1024);
	buf_init(&sig, 2048);
	buf_init(&names, 1024);
	for (i = 0; i < nf; i++)
		f[i].used = 0;
	/* h=, and the data: each named field bottom up (RFC 6376 5.4.2) */
	for (i = 0; signed_fields[i] != NULL; i++) {
		for (count = 0, j = 0; j < nf; j++)
			count += named(&f[j], signed_fields[i]);
		if (strcmp(signed_fields[i], "from") == 0)
			count++;	/* oversigned */
		for (; count > 0; count--) {
			if (buf_try_printf(&names, "%s%s", names.len ? ":" :
			    "", signed_fields[i]) == -1)
				goto out;
			for (j = nf; j-- > 0;)
				if (named(&f[j], signed_fields[i]) &&
				    !f[j].used) {
					f[j].used = 1;
					if (dkim_canon_header(f[j].p, f[j].n,
					    &data) == -1)
						goto out;
					break;
				}
		}
	}
	/* h holds at most names, a domain and a selector (dkim.h) and
	 * bh: far below its limit */
	buf_printf(&h, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; "
	    "d=%s; s=%s;\r\n\tt=%lld; h=%s;\r\n\tbh=%s;\r\n\tb=", k->ed25519 ?
	    "ed25519-sha256" : "rsa-sha256", k->domain, k->selector,
	    (long long)now, buf_cstr(&names), bh);
	/* the field itself, b= empty, without its CRLF (RFC 6376 3.7) */
	if (dkim_canon_header(h.data, h.len, &data) == -1)
		goto out;
	data.len -= 2;
	if (sign_data(k, &data, &sig) == -1)
		goto out;
	/* folded every 72 characters: blanks in b= do not count */
	for (i = 0; i < sig.len; i += 72) {
		if (i > 0)
			buf_append(&h, "\r\n\t ", 4);
		buf_append(&h, sig.data + i, sig.len - i < 72 ?
		    sig.len - i : 72);
	}
	buf_append(&h, "\r\n", 2);
	if (buf_try_append(out, h.data, h.len) == -1)
		goto out;
	r = 0;
out:
	buf_free(&h);
	buf_free(&data);
	buf_free(&sig);
	buf_free(&names);
	return r;
}

int
dkim_sign(const struct dkim_key *keys, size_t n, const char *msg, size_t len,
    int64_t now, struct buf *out, struct buf *err)
{
	struct field *f;
	struct from_dom d;
	struct buf body, bh;
	unsigned char hash[32];
	size_t nf, i, bodyoff, froms = 0;
	int r = 0, any = 0;

	for (i = 0; i < n && !any; i++)
		any = 1;
	if (!any)
		return 0;
	nf = fields_of(msg, len, &f, &bodyoff);
	memset(&d, 0, sizeof(d));
	for (i = 0; i < nf; i++)
		if (named(&f[i], "from")) {
			const char *colon = memchr(f[i].p, ':', f[i].n);

			froms++;
			(void)mime_addr_each(colon + 1, f[i].n - (size_t)(colon +
			    1 - f[i].p), from_cb, &d);
		}
	if (froms != 1 || d.dom[0] == '\0') {
		free(f);
		return 0;	/* no one From domain to sign for */
	}
	/* a line ending in a bare LF gets CRLF: at most twice the body,
	 * and one CRLF added at the end */
	buf_init(&body, 2 * (len - bodyoff) + 16);
	buf_init(&bh, 64);
	if (dkim_canon_body(msg + bodyoff, len - bodyoff, &body) == -1 ||
	    sha256(body.data, body.len, hash) == -1) {
		buf_reset(err);
		buf_puts(err, "DKIM: cannot hash the body");
		r = -1;
		goto out;
	}
	base64_encode(&bh, hash, sizeof(hash));
	for (i = 0; i < n && r == 0; i++) {
		if (strcasecmp(keys[i].domain, d.dom) != 0)
			continue;
		if (sign_one(&keys[i], f, nf, buf_cstr(&bh), now, out) == -1) {
			buf_reset(err);
			buf_cut_printf(err, "DKIM signing with %s/%s failed",
			    keys[i].domain, keys[i].selector);
			r = -1;
		}
	}
out:
	free(f);
	buf_free(&body);
	buf_free(&bh);
	return r;
}

/* --- keys ---------------------------------------------------------------- */

static int
load_one(const char *path, const char *domain, const char *file,
    struct dkim_key *k, struct buf *err)
{
	FILE *fp = fopen(path, "re");
	EVP_PKEY *pkey;
	size_t n = strlen(file) - 4;	/* without ".key" */

	if (fp == NULL) {
		buf_reset(err);
		buf_cut_printf(err, "%s: cannot open", path);
		return -1;
	}
	pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (pkey == NULL || (EVP_PKEY_get_id(pkey) != EVP_PKEY_RSA &&
	    EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) || n == 0 ||
	    n >= sizeof(k->selector)) {
		EVP_PKEY_free(pkey);
		buf_reset(err);
		buf_cut_printf(err, "%s: not an RSA or Ed25519 private key",
		    path);
		return -1;
	}
	memset(k, 0, sizeof(*k));
	(void)xsnprintf(k->domain, sizeof(k->domain), "%s", domain);
	(void)xsnprintf(k->selector, sizeof(k->selector), "%.*s", (int)n,
	    file);
	k->ed25519 = EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519;
	k->pkey = pkey;
	return 0;
}

static int
too_long(struct buf *err, const char *dir)
{
	buf_reset(err);
	buf_cut_printf(err, "%s: path too long", dir);
	return -1;
}

int
dkim_keys_load(const char *dir, struct dkim_key **out, size_t *np,
    struct buf *err)
{
	struct dirent *de, *fe;
	struct dkim_key *k = NULL;
	struct buf path;
	size_t n = 0, l;
	DIR *d, *fd;
	int r = 0;

	*out = NULL;
	*np = 0;
	if ((d = opendir(dir)) == NULL)
		return 0;	/* no keys: nothing signed */
	buf_init(&path, 4096);
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		buf_reset(&path);
		if (buf_try_printf(&path, "%s/%s", dir, de->d_name) == -1) {
			r = too_long(err, dir);
			break;
		}
		if ((fd = opendir(buf_cstr(&path))) == NULL)
			continue;
		while (r == 0 && (fe = readdir(fd)) != NULL) {
			l = strlen(fe->d_name);
			if (fe->d_name[0] == '.' || l <= 4 ||
			    strcmp(fe->d_name + l - 4, ".key") != 0)
				continue;
			buf_reset(&path);
			if (buf_try_printf(&path, "%s/%s/%s", dir, de->d_name,
			    fe->d_name) == -1) {
				r = too_long(err, dir);
				break;
			}
			k = xreallocarray(k, n + 1, sizeof(*k));
			if (load_one(buf_cstr(&path), de->d_name, fe->d_name,
			    &k[n], err) == -1)
				r = -1;
			else
				n++;
		}
		closedir(fd);
	}
	closedir(d);
	buf_free(&path);
	*out = k;
	*np = n;
	if (r == -1)
		dkim_keys_free(out, np);
	return r;
}

void
dkim_keys_free(struct dkim_key **kp, size_t *np)
{
	size_t i;

	for (i = 0; *kp != NULL && i < *np; i++)
		EVP_PKEY_free((*kp)[i].pkey);
	free(*kp);
	*kp = NULL;
	*np = 0;
}

/* "v=DKIM1; k=...; p=" and the key in base64, or -1 when that does not
 * fit txt (a large RSA key in a small buffer). */
static int
txt_put(struct buf *txt, const char *head, const unsigned char *key,
    size_t n)
{
	size_t room = txt->max - txt->len, h = strlen(head);

	if (h > room || n > room || (n + 2) / 3 * 4 > room - h ||
	    buf_try_puts(txt, head) == -1)
		return -1;
	base64_encode(txt, key, n);
	return 0;
}

static int
txt_of(EVP_PKEY *pkey, struct buf *txt)
{
	unsigned char raw[64], *der = NULL;
	size_t rawlen = sizeof(raw);
	int len, r;

	buf_reset(txt);
	if (EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519) {
		/* RFC 8463 4: the raw 32-byte public key */
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) != 1)
			return -1;
		return txt_put(txt, "v=DKIM1; k=ed25519; p=", raw, rawlen);
	}
	/* RFC 6376 3.6.1: SubjectPublicKeyInfo, DER, base64 */
	if ((len = i2d_PUBKEY(pkey, &der)) <= 0)
		return -1;
	r = txt_put(txt, "v=DKIM1; k=rsa; p=", der, (size_t)len);
	OPENSSL_free(der);
	return r;
}

int
dkim_txt(const struct dkim_key *k, struct buf *txt)
{
	return txt_of(k->pkey, txt);
}

int
dkim_keygen(int ed25519, struct buf *key_pem, struct buf *txt,
    struct buf *err)
{
	EVP_PKEY *pkey = ed25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519") :
	    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	BIO *bio = NULL;
	char *p;
	long n;
	int r = -1;

	buf_reset(key_pem);
	if (pkey == NULL || (bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) !=
	    1 || (n = BIO_get_mem_data(bio, &p)) <= 0 ||
	    txt_of(pkey, txt) == -1 ||
	    buf_try_append(key_pem, p, (size_t)n) == -1) {
		buf_reset(err);
		buf_puts(err, "cannot make a key");
	} else
		r = 0;
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return r;
}
