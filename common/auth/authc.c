/*
 * authc.c: talk to authd over its UNIX socket.  Trusts authd's replies
 * only as far as the parser checks them: a malformed reply ends the
 * connection with an error.
 *
 * One request at a time, each with a new id.  A SASL exchange that its
 * caller leaves half done (the client cancelled or went away) is
 * abandoned: CANCEL tells authd (from protocol 1.1 on), and its id is
 * remembered, so that a FAIL authd sent for it meanwhile (it timed out)
 * is skipped instead of being taken for the answer to a later request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/authc.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/util.h"

#define STALE_MAX 16	/* abandoned exchanges whose late FAIL is skipped */
#define ID_MAX 0xffffffffUL	/* authd(8): ids are 0 to 4294967295 */

struct authc {
	struct io io;
	unsigned long next_id;
	unsigned minor;		/* authd's minor version: CANCEL from 1 */
	int open;		/* an exchange waits for our CONT ... */
	unsigned long open_id;	/* ... with this id */
	unsigned long stale[STALE_MAX];	/* ids of abandoned exchanges */
	size_t nstale;
};

static unsigned long
new_id(struct authc *c)
{
	unsigned long id = c->next_id;

	c->next_id = id == ID_MAX ? 1 : id + 1;
	return id;
}

/* Remember an abandoned exchange; the oldest is forgotten first. */
static void
stale_add(struct authc *c, unsigned long id)
{
	if (c->nstale == STALE_MAX) {
		memmove(c->stale, c->stale + 1,
		    (STALE_MAX - 1) * sizeof(c->stale[0]));
		c->nstale--;
	}
	c->stale[c->nstale++] = id;
}

/* 1 (and forget it) if id is an abandoned exchange's: authd answers an
 * exchange once, so its one late reply is skipped once. */
static int
stale_take(struct authc *c, uint64_t id)
{
	size_t i;

	for (i = 0; i < c->nstale; i++)
		if (c->stale[i] == id) {
			memmove(c->stale + i, c->stale + i + 1,
			    (c->nstale - i - 1) * sizeof(c->stale[0]));
			c->nstale--;
			return 1;
		}
	return 0;
}

void
authc_reply_init(struct authc_reply *r)
{
	buf_init(&r->verb, 64);
	buf_init(&r->data, AUTH_REPLY_MAX);
	rec_init(&r->fields);
}

void
authc_reply_free(struct authc_reply *r)
{
	buf_free(&r->verb);
	buf_free(&r->data);
	rec_free(&r->fields);
}

static int
seterr(struct buf *err, const char *what, const char *arg)
{
	buf_reset(err);
	if (buf_try_puts(err, what) == -1 ||
	    (arg != NULL && buf_try_puts(err, arg) == -1))
		buf_reset(err);	/* the caller's err is too small for it */
	return -1;
}

/* The length of v after tab_escape. */
static size_t
escaped_len(struct sv v)
{
	size_t i, n = v.n;

	for (i = 0; i < v.n; i++)
		if (v.p[i] == '\\' || v.p[i] == '\t' || v.p[i] == '\n' ||
		    v.p[i] == '\r' || v.p[i] == '\0')
			n++;
	return n;
}

/* Append v escaped, or -1 if it does not fit (tab_escape would exit). */
static int
try_escape(struct buf *out, struct sv v)
{
	if (escaped_len(v) > out->max - out->len)
		return -1;
	tab_escape(out, v);
	return 0;
}

/* Append base64 of n bytes, or -1 if it does not fit. */
static int
try_base64(struct buf *out, const void *p, size_t n)
{
	if (n / 3 + 1 > (out->max - out->len) / 4)
		return -1;
	base64_encode(out, p, n);
	return 0;
}

/* Read one line; split "VERB<TAB>field..." */
static int
read_line(struct authc *c, struct sv *f, size_t max, int *nf,
    struct buf *err)
{
	struct sv line;
	int crlf, r;

	r = io_getline(&c->io, &line, &crlf);
	if (r != IO_OK)
		return seterr(err, "authd: ", r == IO_TIMEOUT ? "timeout" :
		    r == IO_EOF ? "connection closed" : "read error");
	if ((*nf = tab_split(line, f, max)) < 1)
		return seterr(err, "authd: ", "malformed reply");
	return 0;
}

int
authc_connect(const char *path, int timeout_ms, struct authc **cp,
    struct buf *err)
{
	struct authc *c;
	struct sv f[8];
	uint64_t minor = 0;
	int fd, nf;

	*cp = NULL;
	if ((fd = unix_connect(path, "authd", err)) == -1)
		return -1;
	c = xcalloc(1, sizeof(*c));
	io_init(&c->io, fd, AUTH_REPLY_MAX, timeout_ms);
	c->next_id = 1;
	(void)io_printf(&c->io, "VERSION\t%d\t%d\n", AUTH_PROTO_MAJOR,
	    AUTH_PROTO_MINOR);
	if (io_flush(&c->io) != IO_OK) {
		authc_close(&c);
		return seterr(err, "authd: ", "write error");
	}
	if (read_line(c, f, NELEM(f), &nf, err) == -1) {
		authc_close(&c);
		return -1;
	}
	if (nf < 2 || !sv_eq_str(f[0], "VERSION") ||
	    !sv_eq_str(f[1], "1") ||
	    (nf > 2 && parse_u64(f[2], 1000000, &minor) == -1)) {
		authc_close(&c);
		return seterr(err, "authd: ", "protocol version mismatch");
	}
	c->minor = (unsigned)minor;
	*cp = c;
	return 0;
}

void
authc_close(struct authc **cp)
{
	if (*cp == NULL)
		return;
	io_free(&(*cp)->io, 1);
	free(*cp);
	*cp = NULL;
}

void
authc_cancel(struct authc *c)
{
	if (c == NULL || !c->open)
		return;
	c->open = 0;
	stale_add(c, c->open_id);
	/* authd 1.0 closes the connection on CANCEL: there the exchange
	 * times out, and its FAIL is skipped */
	if (c->minor < 1)
		return;
	/* a write error shows at the next request */
	if (io_printf(&c->io, "CANCEL\t%lu\n", c->open_id) == IO_OK)
		(void)io_flush(&c->io);
}

static int
reply_parse(struct authc *c, unsigned long id, struct sv *f,
    struct authc_reply *rep, struct buf *err)
{
	uint64_t rid;
	int nf, first;

	/* Skip the late replies of abandoned exchanges: at most one each,
	 * so this ends. */
	do {
		if (read_line(c, f, REC_MAX_FIELDS, &nf, err) == -1)
			return -1;
		if (nf < 2 || parse_u64(f[1], ID_MAX, &rid) == -1)
			return seterr(err, "authd: ", "malformed reply");
	} while (rid != id && stale_take(c, rid));
	if (rid != id)
		return seterr(err, "authd: ", "reply for another request");
	if (buf_try_append_sv(&rep->verb, f[0]) == -1)
		return seterr(err, "authd: ", "malformed reply");
	first = 2;
	if (sv_eq_str(f[0], "CONT")) {
		if (nf < 3 || base64_decode(&rep->data, f[2].p, f[2].n) == -1)
			return seterr(err, "authd: ", "bad CONT reply");
		first = 3;
	}
	if (rec_decode_fields(f + first, (size_t)(nf - first),
	    &rep->fields) == -1)
		return seterr(err, "authd: ", "malformed reply fields");
	return 0;
}

/* Send the request in rest (without verb and id) and read the reply to
 * it.  A request other than the CONT of the exchange in progress
 * abandons that exchange. */
static int
roundtrip(struct authc *c, const char *verb, unsigned long id,
    struct buf *rest, struct authc_reply *rep, struct buf *err)
{
	struct sv *f;
	int ret;

	buf_reset(&rep->verb);
	buf_reset(&rep->data);
	rec_clear(&rep->fields);
	/* authd closes the connection on a longer line: refuse it here */
	if (strlen(verb) + 12 + rest->len > AUTH_LINE_MAX)
		return seterr(err, "authd: ", "request too long");
	if (c->open && !(strcmp(verb, "CONT") == 0 && id == c->open_id))
		authc_cancel(c);
	c->open = 0;
	(void)io_printf(&c->io, "%s\t%lu", verb, id);
	if (rest->len > 0) {
		(void)io_puts(&c->io, "\t");
		(void)io_write(&c->io, rest->data, rest->len);
	}
	if (io_puts(&c->io, "\n") != IO_OK || io_flush(&c->io) != IO_OK)
		return seterr(err, "authd: ", "write error");
	f = xcalloc(REC_MAX_FIELDS, sizeof(*f));
	ret = reply_parse(c, id, f, rep, err);
	free(f);
	return ret;
}

/* After an AUTH or CONT: does the exchange wait for a CONT? */
static void
exchange_state(struct authc *c, unsigned long id, int ret,
    const struct authc_reply *rep)
{
	c->open = ret == 0 && strcmp(buf_cstr(&rep->verb), "CONT") == 0;
	c->open_id = id;
}

int
authc_auth(struct authc *c, const char *mech, const char *service,
    const char *rip, int flags, const struct sv *initial,
    struct authc_reply *rep, struct buf *err)
{
	struct buf rest;
	struct rec r;
	unsigned long id;
	int ret;

	if (rip == NULL)
		rip = "";
	/* authd's limits; a longer field would end the connection */
	if (strlen(mech) > AUTH_MECH_MAX || strchr(mech, '\t') != NULL ||
	    strchr(mech, '\n') != NULL || strlen(service) > AUTH_SERVICE_MAX ||
	    strlen(rip) > AUTH_RIP_MAX)
		return seterr(err, "authd: ", "AUTH field too long");
	buf_init(&rest, AUTH_LINE_MAX);
	rec_init(&r);
	rec_set_str(&r, "service", service);
	rec_set_str(&r, "rip", rip);
	if (flags & AUTHC_SECURED)
		rec_set_str(&r, "secured", "1");
	if (flags & AUTHC_HANDOFF)
		rec_set_str(&r, "handoff", "1");
	/* the fields checked above fit: rec_encode cannot overflow */
	buf_puts(&rest, mech);
	buf_putc(&rest, '\t');
	rec_encode(&r, &rest);
	if (initial != NULL && (buf_try_puts(&rest, "\tresp=") == -1 ||
	    try_base64(&rest, initial->p, initial->n) == -1))
		ret = seterr(err, "authd: ", "initial response too long");
	else {
		id = new_id(c);
		ret = roundtrip(c, "AUTH", id, &rest, rep, err);
		exchange_state(c, id, ret, rep);
	}
	if (rest.data != NULL)
		explicit_bzero(rest.data, rest.cap);
	buf_free(&rest);
	rec_free(&r);
	return ret;
}

int
authc_cont(struct authc *c, struct sv response, struct authc_reply *rep,
    struct buf *err)
{
	struct buf rest;
	int ret;

	/* The CONT answers the exchange of the last AUTH: same id. */
	if (!c->open)
		return seterr(err, "authd: ", "CONT without an exchange");
	buf_init(&rest, AUTH_LINE_MAX);
	if (try_base64(&rest, response.p, response.n) == -1)
		ret = seterr(err, "authd: ", "response too long");
	else {
		ret = roundtrip(c, "CONT", c->open_id, &rest, rep, err);
		exchange_state(c, c->open_id, ret, rep);
	}
	if (rest.data != NULL)
		explicit_bzero(rest.data, rest.cap);
	buf_free(&rest);
	return ret;
}

static int
lookup(struct authc *c, const char *verb, const char *name,
    struct authc_reply *rep, struct buf *err)
{
	struct buf rest;
	int ret;

	buf_init(&rest, AUTH_LINE_MAX);
	if (try_escape(&rest, sv_from(name)) == -1)
		ret = seterr(err, "authd: ", "request too long");
	else
		ret = roundtrip(c, verb, new_id(c), &rest, rep, err);
	buf_free(&rest);
	return ret;
}

int
authc_user(struct authc *c, const char *name, struct authc_reply *rep,
    struct buf *err)
{
	return lookup(c, "USER", name, rep, err);
}

int
authc_rcpt(struct authc *c, const char *address, struct authc_reply *rep,
    struct buf *err)
{
	return lookup(c, "RCPT", address, rep, err);
}

int
authc_full(struct authc *c, const char *user, uint64_t seconds,
    struct buf *err)
{
	struct authc_reply rep;
	struct buf rest;
	int ret;

	buf_init(&rest, AUTH_LINE_MAX);
	authc_reply_init(&rep);
	if (try_escape(&rest, sv_from(user)) == -1 ||
	    buf_try_printf(&rest, "\t%llu", (unsigned long long)seconds) == -1)
		ret = seterr(err, "authd: ", "request too long");
	else
		ret = roundtrip(c, "FULL", new_id(c), &rest, &rep, err);
	buf_free(&rest);
	authc_reply_free(&rep);
	return ret;
}

int
authc_redeem(struct authc *c, const char *token, struct authc_reply *rep,
    struct buf *err)
{
	return lookup(c, "REDEEM", token, rep, err);
}
