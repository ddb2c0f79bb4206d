/*
 * sasl.c: server side of SASL PLAIN (RFC 4616) and SCRAM-SHA-256
 * (RFC 5802, RFC 7677).
 *
 * Trusts: nothing in the messages, which come straight from a client.
 * Every message is bounded (SCRAM_MSG_MAX), must hold no NUL and be valid
 * UTF-8, and is parsed against the RFC 5802 section 7 grammar; anything
 * else ends the exchange.  The stored keys come from the caller.
 *
 * Not done: SASLprep (RFC 4013) of the username (RFC 5802 section 5.1
 * says SHOULD): names are compared as the bytes the client sent; channel
 * binding (SCRAM-SHA-256-PLUS).
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "chapar/sasl.h"
#include "chapar/utf8.h"
#include "chapar/util.h"

enum {
	S_START,	/* waiting for client-first-message */
	S_FIRST,	/* client-first-message parsed */
	S_NONCE,	/* the same, with a test nonce set */
	S_SENT,		/* server-first-message sent */
	S_DONE		/* over, whatever the outcome */
};

#define SNONCE_BYTES 24	/* 32 base64 characters, none of them ',' */

/*
 * PLAIN
 */

/* RFC 4616 section 2:
 *	message = [authzid] UTF8NUL authcid UTF8NUL passwd
 * authcid and passwd are 1*SAFE (any UTF-8 character but NUL). */
int
sasl_plain_parse(struct sv msg, struct sv *authzid, struct sv *authcid,
    struct sv *passwd, const char **error_r)
{
	struct sv rest = msg, z, c;

	if (sv_split(&rest, '\0', &z) != 1 || sv_split(&rest, '\0', &c) != 1) {
		*error_r = "PLAIN: expected two NULs";
		return -1;
	}
	if (rest.n > 0 && memchr(rest.p, '\0', rest.n) != NULL) {
		*error_r = "PLAIN: more than two NULs";
		return -1;
	}
	if (c.n == 0 || rest.n == 0) {
		*error_r = "PLAIN: empty authcid or passwd";
		return -1;
	}
	if (z.n > SASL_PLAIN_IDMAX || c.n > SASL_PLAIN_IDMAX ||
	    rest.n > SASL_PLAIN_PWMAX) {
		*error_r = "PLAIN: field too long";
		return -1;
	}
	/* The identities get looked up and logged: hold them to UTF-8.  The
	 * password is only hashed, and old clients send 8-bit ones. */
	if (!utf8_valid(z.p, z.n) || !utf8_valid(c.p, c.n)) {
		*error_r = "PLAIN: identity is not UTF-8";
		return -1;
	}
	*authzid = z;
	*authcid = c;
	*passwd = rest;
	return 0;
}

/*
 * SCRAM-SHA-256: helpers
 */

static int
hmac256(const unsigned char *key, size_t keylen, const void *data,
    size_t len, unsigned char out[SCRAM_KEYLEN])
{
	unsigned int n = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) ==
	    NULL || n != SCRAM_KEYLEN)
		return -1;
	return 0;
}

static int
sha256(const void *data, size_t len, unsigned char out[SCRAM_KEYLEN])
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != SCRAM_KEYLEN)
		return -1;
	return 0;
}

static int
fail(struct scram_server *s, const char **err, const char *why)
{
	s->state = S_DONE;
	*err = why;
	return -1;
}

/* RFC 5802 section 7: printable = %x21-2B / %x2D-7E, and a nonce is at
 * least one of them. */
static int
nonce_ok(struct sv v)
{
	size_t i;
	int c;

	if (v.n == 0)
		return 0;
	for (i = 0; i < v.n; i++) {
		c = (unsigned char)v.p[i];
		if (c < 0x21 || c > 0x7e || c == ',')
			return 0;
	}
	return 1;
}

/* Bounded, no NUL, valid UTF-8: what every client message must be. */
static int
msg_ok(struct sv v)
{
	return v.n > 0 && v.n <= SCRAM_MSG_MAX && !sv_has_nul(v) &&
	    utf8_valid(v.p, v.n);
}

/*
 * RFC 5802 section 5.1 and 7: saslname = 1*(value-safe-char / "=2C" /
 * "=3D").  "The server MUST ... fail" on any other "=" escape.
 */
static int
saslname_decode(struct sv v, struct buf *out)
{
	size_t i;
	int c;

	buf_reset(out);
	if (v.n == 0)
		return -1;
	for (i = 0; i < v.n; i++) {
		c = (unsigned char)v.p[i];
		if (c == '=') {
			if (v.n - i < 3)
				return -1;
			if (v.p[i + 1] == '2' && v.p[i + 2] == 'C')
				c = ',';
			else if (v.p[i + 1] == '3' && v.p[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		}
		if (buf_try_putc(out, c) == -1)
			return -1;
	}
	return 0;
}

/* A cursor over "x=value,x=value,..." attributes. */
struct attrs {
	struct sv rest;
	int more;	/* a ',' was seen: another attribute must follow */
};

static void
attrs_init(struct attrs *a, struct sv v)
{
	a->rest = v;
	a->more = 1;
}

/* attr-val = ALPHA "=" value (RFC 5802 section 7).  The value may be
 * empty here; callers check what they need. */
static int
attr_take(struct attrs *a, int *name, struct sv *val)
{
	struct sv t;
	int c;

	if (!a->more)
		return -1;
	a->more = sv_split(&a->rest, ',', &t);
	if (t.n < 2 || t.p[1] != '=')
		return -1;
	c = (unsigned char)t.p[0];
	if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
		return -1;
	*name = c;
	*val = sv_make(t.p + 2, t.n - 2);
	return 0;
}

/*
 * Skip the optional extensions that end a message.  RFC 5802 section 5.1:
 * "m" is reserved for mandatory extensions and its presence "MUST cause
 * authentication failure".  The attribute names the RFC defines may not
 * reappear as extensions: that would make a message mean two things.
 */
static int
attrs_skip_extensions(struct attrs *a, const char **err)
{
	struct sv val;
	int name;

	while (a->more) {
		if (attr_take(a, &name, &val) == -1 || val.n == 0) {
			*err = "SCRAM: malformed extension";
			return -1;
		}
		if (name == 'm') {
			*err = "SCRAM: mandatory extension not supported";
			return -1;
		}
		if (strchr("acinprsv", name) != NULL) {
			*err = "SCRAM: attribute out of place";
			return -1;
		}
	}
	return 0;
}

/*
 * SCRAM-SHA-256: the exchange
 */

void
scram_server_init(struct scram_server *s)
{
	s->state = S_START;
	buf_init(&s->gs2_header, SCRAM_MSG_MAX);
	buf_init(&s->client_first_bare, SCRAM_MSG_MAX);
	buf_init(&s->server_first, 2 * SCRAM_MSG_MAX);
	buf_init(&s->nonce, 2 * SCRAM_MSG_MAX);
	buf_init(&s->authcid, SCRAM_MSG_MAX);
	buf_init(&s->authzid, SCRAM_MSG_MAX);
	explicit_bzero(&s->keys, sizeof(s->keys));
}

void
scram_server_free(struct scram_server *s)
{
	buf_free(&s->gs2_header);
	buf_free(&s->client_first_bare);
	buf_free(&s->server_first);
	buf_free(&s->nonce);
	buf_free(&s->authcid);
	buf_free(&s->authzid);
	explicit_bzero(&s->keys, sizeof(s->keys));
	s->state = S_DONE;
}

/*
 * RFC 5802 section 7:
 *	gs2-header = gs2-cbind-flag "," [ authzid ] ","
 *	gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
 * Returns the length of the header, or -1.
 */
static int
gs2_header_parse(struct scram_server *s, struct sv msg, const char **err)
{
	struct sv v = msg, flag, az;

	if (sv_split(&v, ',', &flag) != 1 || sv_split(&v, ',', &az) != 1)
		return fail(s, err, "SCRAM: malformed GS2 header");
	/* Section 6: "y" means the client could bind but thinks we cannot,
	 * which is true: we offer no -PLUS mechanism. */
	if (flag.n >= 2 && flag.p[0] == 'p' && flag.p[1] == '=')
		return fail(s, err, "SCRAM: channel binding not supported");
	if (!sv_eq_str(flag, "n") && !sv_eq_str(flag, "y"))
		return fail(s, err, "SCRAM: malformed GS2 header");
	if (az.n > 0 && (az.n < 2 || az.p[0] != 'a' || az.p[1] != '=' ||
	    saslname_decode(sv_make(az.p + 2, az.n - 2), &s->authzid) == -1))
		return fail(s, err, "SCRAM: malformed authzid");
	if (buf_try_append(&s->gs2_header, msg.p, (size_t)(v.p - msg.p)) == -1)
		return fail(s, err, "SCRAM: message too long");
	return (int)s->gs2_header.len;
}

/*
 * RFC 5802 section 7:
 *	client-first-message = gs2-header client-first-message-bare
 *	client-first-message-bare = [reserved-mext ","] username "," nonce
 *	    ["," extensions]
 */
int
scram_server_client_first(struct scram_server *s, struct sv msg,
    const char **error_r)
{
	struct attrs a;
	struct sv bare, val;
	int n, name;

	if (s->state != S_START)
		return fail(s, error_r, "SCRAM: step out of order");
	if (!msg_ok(msg))
		return fail(s, error_r, "SCRAM: bad client-first-message");
	if ((n = gs2_header_parse(s, msg, error_r)) == -1)
		return -1;
	bare = sv_make(msg.p + n, msg.n - (size_t)n);
	attrs_init(&a, bare);
	if (attr_take(&a, &name, &val) == -1)
		return fail(s, error_r, "SCRAM: malformed client-first-message");
	if (name == 'm')
		return fail(s, error_r, "SCRAM: mandatory extension not supported");
	if (name != 'n' || saslname_decode(val, &s->authcid) == -1)
		return fail(s, error_r, "SCRAM: bad or missing username");
	if (attr_take(&a, &name, &val) == -1 || name != 'r' || !nonce_ok(val))
		return fail(s, error_r, "SCRAM: bad or missing nonce");
	if (buf_try_append_sv(&s->nonce, val) == -1)
		return fail(s, error_r, "SCRAM: nonce too long");
	if (attrs_skip_extensions(&a, error_r) == -1)
		return fail(s, error_r, *error_r);
	if (buf_try_append_sv(&s->client_first_bare, bare) == -1)
		return fail(s, error_r, "SCRAM: message too long");
	s->state = S_FIRST;
	return 0;
}

int
scram_server_set_nonce_for_test(struct scram_server *s, struct sv n)
{
	if (s->state != S_FIRST || !nonce_ok(n) ||
	    buf_try_append_sv(&s->nonce, n) == -1)
		return -1;
	s->state = S_NONCE;
	return 0;
}

/*
 * RFC 5802 section 5.1 and 7:
 *	server-first-message = [reserved-mext ","] nonce "," salt ","
 *	    iteration-count ["," extensions]
 * The nonce is the client's followed by a fresh one of ours.
 */
int
scram_server_first(struct scram_server *s, const struct scram_keys *k,
    struct buf *out)
{
	unsigned char rnd[SNONCE_BYTES];
	struct buf *sf = &s->server_first;

	if (s->state == S_FIRST) {
		rand_bytes(rnd, sizeof(rnd));
		base64_encode(&s->nonce, rnd, sizeof(rnd));
		explicit_bzero(rnd, sizeof(rnd));
	} else if (s->state != S_NONCE) {
		s->state = S_DONE;
		return -1;
	}
	s->state = S_DONE;
	if (k->saltlen == 0 || k->saltlen > sizeof(k->salt) || k->iter == 0)
		return -1;
	s->keys = *k;
	if (buf_try_puts(sf, "r=") == -1 || buf_try_append(sf, s->nonce.data,
	    s->nonce.len) == -1 || buf_try_puts(sf, ",s=") == -1)
		return -1;
	base64_encode(sf, k->salt, k->saltlen);
	if (buf_try_printf(sf, ",i=%u", (unsigned)k->iter) == -1 ||
	    buf_try_append(out, sf->data, sf->len) == -1)
		return -1;
	s->state = S_SENT;
	return 0;
}

/*
 * RFC 5802 section 3:
 *	AuthMessage     := client-first-message-bare + "," +
 *	                   server-first-message + "," +
 *	                   client-final-message-without-proof
 *	ClientSignature := HMAC(StoredKey, AuthMessage)
 *	ClientKey       := ClientProof XOR ClientSignature
 *	ServerSignature := HMAC(ServerKey, AuthMessage)
 * The proof is right if H(ClientKey) is StoredKey.  On success the
 * server-final-message "v=" base64(ServerSignature) goes to out.
 */
static int
scram_check_proof(struct scram_server *s, struct sv without,
    const unsigned char proof[SCRAM_KEYLEN], struct buf *out)
{
	unsigned char sig[SCRAM_KEYLEN], key[SCRAM_KEYLEN], h[SCRAM_KEYLEN];
	struct buf am;
	size_t i;
	int r = -1;

	buf_init(&am, 4 * SCRAM_MSG_MAX);
	if (buf_try_append(&am, s->client_first_bare.data,
	    s->client_first_bare.len) == -1 || buf_try_putc(&am, ',') == -1 ||
	    buf_try_append(&am, s->server_first.data, s->server_first.len) == -1 ||
	    buf_try_putc(&am, ',') == -1 || buf_try_append_sv(&am, without) == -1)
		goto out;
	if (hmac256(s->keys.stored, SCRAM_KEYLEN, am.data, am.len, sig) == -1)
		goto out;
	for (i = 0; i < SCRAM_KEYLEN; i++)
		key[i] = proof[i] ^ sig[i];
	if (sha256(key, sizeof(key), h) == -1)
		goto out;
	if (!ct_equal(h, s->keys.stored, SCRAM_KEYLEN)) {
		r = 0;
		goto out;
	}
	if (hmac256(s->keys.server, SCRAM_KEYLEN, am.data, am.len, sig) == -1 ||
	    buf_try_puts(out, "v=") == -1)
		goto out;
	base64_encode(out, sig, sizeof(sig));
	r = 1;
out:
	explicit_bzero(sig, sizeof(sig));
	explicit_bzero(key, sizeof(key));
	explicit_bzero(h, sizeof(h));
	buf_free(&am);
	return r;
}

/* RFC 5802 section 7: channel-binding = "c=" base64 of cbind-input, and
 * cbind-input is the gs2-header alone when the flag is "n" or "y". */
static int
cbind_ok(struct scram_server *s, struct sv c)
{
	struct buf want;
	int ok;

	buf_init(&want, 2 * SCRAM_MSG_MAX);
	base64_encode(&want, s->gs2_header.data, s->gs2_header.len);
	ok = sv_eq(c, buf_sv(&want));
	buf_free(&want);
	return ok;
}

/*
 * RFC 5802 section 7:
 *	client-final-message-without-proof = channel-binding "," nonce
 *	    ["," extensions]
 *	client-final-message = client-final-message-without-proof "," proof
 */
int
scram_server_client_final(struct scram_server *s, struct sv msg,
    struct buf *out, const char **error_r)
{
	unsigned char proof[SCRAM_KEYLEN];
	struct sv without, p, val;
	struct attrs a;
	struct buf pb;
	const char *q;
	int name, r;

	if (s->state != S_SENT)
		return fail(s, error_r, "SCRAM: step out of order");
	s->state = S_DONE;
	if (!msg_ok(msg))
		return fail(s, error_r, "SCRAM: bad client-final-message");
	/* The proof comes last, and base64 holds no ','. */
	if ((q = memrchr(msg.p, ',', msg.n)) == NULL)
		return fail(s, error_r, "SCRAM: malformed client-final-message");
	without = sv_make(msg.p, (size_t)(q - msg.p));
	p = sv_make(q + 1, msg.n - without.n - 1);
	if (p.n != 2 + (SCRAM_KEYLEN + 2) / 3 * 4 || p.p[0] != 'p' ||
	    p.p[1] != '=')
		return fail(s, error_r, "SCRAM: bad or missing proof");
	buf_init(&pb, SCRAM_KEYLEN);
	r = base64_decode(&pb, p.p + 2, p.n - 2);
	if (r == 0 && pb.len == SCRAM_KEYLEN)
		memcpy(proof, pb.data, SCRAM_KEYLEN);
	else
		r = -1;
	buf_free(&pb);
	if (r == -1)
		return fail(s, error_r, "SCRAM: bad proof");
	attrs_init(&a, without);
	if (attr_take(&a, &name, &val) == -1 || name != 'c')
		return fail(s, error_r, "SCRAM: missing channel binding");
	if (!cbind_ok(s, val))
		return fail(s, error_r, "SCRAM: channel binding mismatch");
	if (attr_take(&a, &name, &val) == -1 || name != 'r')
		return fail(s, error_r, "SCRAM: missing nonce");
	if (!sv_eq(val, buf_sv(&s->nonce)))
		return fail(s, error_r, "SCRAM: nonce mismatch");
	if (attrs_skip_extensions(&a, error_r) == -1)
		return fail(s, error_r, *error_r);
	r = scram_check_proof(s, without, proof, out);
	explicit_bzero(proof, sizeof(proof));
	if (r == -1)
		return fail(s, error_r, "SCRAM: internal error");
	return r;
}
