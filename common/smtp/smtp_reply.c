/*
 * smtp_reply.c: the one formatter of SMTP and LMTP replies (RFC 5321
 * 4.2), for smtpd(8), local(8)'s LMTP server and sendmail(1) -bs.
 *
 * A reply line is at most 512 octets with its CRLF (RFC 5321 4.5.3.1.5):
 * longer text is cut.  Text made from what a client sent could hold a
 * CR or LF and so forge a reply line of its own; every control byte
 * becomes a space.
 */
#include <stdarg.h>
#include <stdio.h>

#include "chapar/io.h"
#include "chapar/smtp.h"

size_t
smtp_reply_vformat(char line[SMTP_REPLY_MAX + 1], const char *fmt,
    va_list ap)
{
	int n, i;

	n = vsnprintf(line, SMTP_REPLY_MAX - 1, fmt, ap);
	if (n < 0)
		n = 0;
	if (n > SMTP_REPLY_MAX - 2)
		n = SMTP_REPLY_MAX - 2;
	for (i = 0; i < n; i++)
		if ((unsigned char)line[i] < ' ' || line[i] == 0x7f)
			line[i] = ' ';
	line[n++] = '\r';
	line[n++] = '\n';
	line[n] = '\0';
	return (size_t)n;
}

int
smtp_vreplyf(struct io *io, const char *fmt, va_list ap)
{
	char line[SMTP_REPLY_MAX + 1];
	size_t n;

	n = smtp_reply_vformat(line, fmt, ap);
	(void)io_write(io, line, n);
	return (unsigned char)line[0];
}

int
smtp_replyf(struct io *io, const char *fmt, ...)
{
	va_list ap;
	int c;

	va_start(ap, fmt);
	c = smtp_vreplyf(io, fmt, ap);
	va_end(ap);
	return c;
}
