/*
 * sasl_exchange.c: the one SASL exchange of every protocol (RFC 4422
 * 3): smtpd's AUTH (RFC 4954), pop3d's AUTH and USER/PASS (RFC 5034),
 * and imapd's and managesieved's to come.  The protocol gives only its
 * framing -- how a challenge is written, how a response is read -- and
 * gets back one of a few outcomes to answer in its own words.
 *
 * The process never sees a password: it decodes the client's base64,
 * hands the bytes to authd and relays authd's challenges.  An exchange
 * the client abandons (a cancel, garbage, a dropped connection) is
 * abandoned with authd too, so that authd's timeout of it can never be
 * taken for the answer to the next request on the same connection.
 */
#include <string.h>

#include "chapar/authc.h"
#include "chapar/io.h"
#include "chapar/sasl.h"
#include "chapar/util.h"

static const char *const mechs[] = { "PLAIN", "LOGIN", "SCRAM-SHA-256" };

const char *
sasl_mech_name(struct sv m)
{
	size_t i;

	for (i = 0; i < NELEM(mechs); i++)
		if (sv_caseeq_str(m, mechs[i]))
			return mechs[i];
	return NULL;
}

/* The response of SMTP, POP3 and IMAP: one line of base64, "*" to cancel
 * (RFC 4954 4, RFC 5034 4, RFC 9051 6.2.2). */
static int
line_response(struct io *io, size_t max, struct buf *out)
{
	struct sv line;
	size_t keep = io->maxline;
	int r, crlf;

	io_set_maxline(io, max);
	r = io_getline(io, &line, &crlf);
	io_set_maxline(io, keep);
	if (r == IO_TOOLONG)
		return SASL_R_BAD;
	if (r != IO_OK)
		return SASL_R_GONE;
	if (line.n == 1 && line.p[0] == '*')
		return SASL_R_CANCEL;
	buf_reset(out);
	return base64_decode(out, line.p, line.n) == 0 ? SASL_R_OK :
	    SASL_R_BAD;
}

/* A challenge out, and the client's answer in. */
static int
step(struct io *io, const struct sasl_proto *p, const void *data, size_t n,
    struct buf *enc, struct buf *resp)
{
	buf_reset(enc);
	base64_encode(enc, data, n);
	if (p->challenge(io, buf_cstr(enc)) == -1 || io_flush(io) != IO_OK)
		return SASL_R_GONE;
	return p->response != NULL ? p->response(io, resp) :
	    line_response(io, p->line_max, resp);
}

/* An outcome of the exchange for each of step's. */
static int
abandoned(struct authc *a, int r)
{
	authc_cancel(a);
	return r == SASL_R_CANCEL ? SASL_CANCEL : r == SASL_R_BAD ?
	    SASL_BAD : SASL_GONE;
}

int
sasl_exchange(struct io *io, const struct sasl_proto *p, struct authc *a,
    const char *mech, const struct sv *initial, const char *service,
    const char *rip, int flags, struct authc_reply *rep)
{
	struct buf resp, enc, err;
	const char *final;
	struct sv first;
	int r, ret;

	buf_init(&resp, p->line_max);
	buf_init(&enc, 2 * p->line_max + 8);
	buf_init(&err, 1024);
	/* RFC 4954 4, RFC 5034 4: "=" is an empty initial response */
	if (initial != NULL && !(initial->n == 1 && initial->p[0] == '=') &&
	    base64_decode(&resp, initial->p, initial->n) == -1) {
		ret = SASL_BAD;
		goto out;
	}
	first = buf_sv(&resp);
	r = authc_auth(a, mech, service, rip, flags, initial != NULL ?
	    &first : NULL, rep, &err);
	while (r == 0 && strcmp(buf_cstr(&rep->verb), "CONT") == 0) {
		if ((r = step(io, p, rep->data.data, rep->data.len, &enc,
		    &resp)) != SASL_R_OK) {
			ret = abandoned(a, r);
			goto out;
		}
		r = authc_cont(a, buf_sv(&resp), rep, &err);
	}
	if (r == -1) {
		ret = SASL_UNAVAILABLE;
		goto out;
	}
	/* RFC 4422 3.6, 5 (3d): the mechanism's last word (SCRAM's server
	 * signature, RFC 5802 3) goes as a challenge the client answers
	 * empty, since none of our protocols carries data with success */
	if (strcmp(buf_cstr(&rep->verb), "OK") == 0 &&
	    (final = rec_get_str(&rep->fields, "final")) != NULL) {
		buf_reset(&enc);
		r = p->challenge(io, final) == -1 || io_flush(io) != IO_OK ?
		    SASL_R_GONE : p->response != NULL ? p->response(io, &resp) :
		    line_response(io, p->line_max, &resp);
		if (r == SASL_R_OK && resp.len != 0)
			r = SASL_R_BAD;
		if (r != SASL_R_OK) {
			/* authd is done with it: nothing to cancel */
			ret = r == SASL_R_CANCEL ? SASL_CANCEL : r ==
			    SASL_R_BAD ? SASL_BAD : SASL_GONE;
			goto out;
		}
	}
	if (strcmp(buf_cstr(&rep->verb), "OK") == 0)
		ret = SASL_OK;
	else if (rec_get_str(&rep->fields, "temp") != NULL)
		ret = SASL_TEMP;
	else
		ret = SASL_FAIL;
out:
	buf_free(&resp);
	buf_free(&enc);
	buf_free(&err);
	return ret;
}
