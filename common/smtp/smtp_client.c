/*
 * smtp_client.c: the client side of SMTP and LMTP (RFC 5321 4.1-4.2,
 * RFC 2033), shared by remote(8), which talks to other servers, and
 * qmgr(8), which talks to local(8) over LMTP: replies read and checked,
 * commands written, the greeting's EHLO or LHLO with the keywords it
 * offers.  The DATA that follows goes through smtp_stuff_write.
 *
 * What a server says is trusted no further than its syntax: a malformed
 * or inconsistent reply is an error, and a reply's text is kept up to a
 * limit the caller sets.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chapar/io.h"
#include "chapar/smtp.h"

int
smtp_client_reply(struct io *io, struct buf *text, size_t max,
    struct smtp_caps *caps)
{
	struct sv line, t;
	size_t room;
	int crlf, code, first = -1, more, n = 0;

	buf_reset(text);
	do {
		if (io_getline(io, &line, &crlf) != IO_OK ||
		    smtp_reply_line(line, &code, &more, &t) == -1 ||
		    (first != -1 && code != first))
			return -1;
		first = code;
		if (caps != NULL && n++ > 0)
			smtp_caps_line(t, caps);
		/* the lines joined with a blank, up to max */
		if (text->len > 0 && text->len < max)
			buf_putc(text, ' ');
		room = max > text->len ? max - text->len : 0;
		buf_append(text, t.p, t.n < room ? t.n : room);
	} while (more);
	return code;
}

int
smtp_client_vput(struct io *io, const char *fmt, va_list ap)
{
	char line[SMTP_CLIENT_LINE_MAX + 1];
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0 || (size_t)n > SMTP_CLIENT_LINE_MAX - 2)
		return -1;
	/* RFC 5321 2.3.8: no CR or LF of ours inside a command */
	if (memchr(line, '\r', (size_t)n) != NULL ||
	    memchr(line, '\n', (size_t)n) != NULL)
		return -1;
	return io_write(io, line, (size_t)n) == IO_OK &&
	    io_write(io, "\r\n", 2) == IO_OK ? 0 : -1;
}

int
smtp_client_put(struct io *io, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = smtp_client_vput(io, fmt, ap);
	va_end(ap);
	return r;
}

int
smtp_client_hello(struct io *io, int lmtp, const char *name,
    struct buf *text, size_t max, struct smtp_caps *caps, int *esmtp)
{
	int code;

	memset(caps, 0, sizeof(*caps));
	*esmtp = 0;
	if (smtp_client_put(io, "%s %s", lmtp ? "LHLO" : "EHLO", name) ==
	    -1 || io_flush(io) != IO_OK)
		return -1;
	code = smtp_client_reply(io, text, max, caps);
	*esmtp = code == 250;
	/* RFC 5321 4.1.1.1: a server that does not know EHLO takes HELO */
	if (!lmtp && code >= 500 && code < 600) {
		memset(caps, 0, sizeof(*caps));
		if (smtp_client_put(io, "HELO %s", name) == -1 ||
		    io_flush(io) != IO_OK)
			return -1;
		code = smtp_client_reply(io, text, max, NULL);
	}
	return code;
}
