/*
 * pop3_reply.c: the one POP3 reply formatter, for both sides of a
 * session (pop3_login.c, pop3_session.c).
 */
#include <stdarg.h>
#include <stdio.h>

#include "chapar/io.h"
#include "pop3.h"

void
pop3_reply(struct io *io, const char *fmt, ...)
{
	char line[512];		/* RFC 2449 4: responses up to 512 */
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	(void)io_write(io, line, (size_t)n);
	(void)io_write(io, "\r\n", 2);
}
