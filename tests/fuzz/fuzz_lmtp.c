/*
 * fuzz_lmtp: libFuzzer target for the LMTP server's command and DATA
 * parsing (smtpd/local_lmtp.c).  The input is a client's whole side of a
 * session, written into a socketpair; lmtp_serve reads it while a thread
 * drains the replies.  Delivery is stubbed here (recipients starting
 * with "x" are refused), so the fuzzer reaches DATA.  The stubs check
 * what local_lmtp.c hands over: a recipient that parsed as an address, a
 * message that is whole CRLF lines within the size limit.
 */
#include <sys/socket.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/config.h"
#include "chapar/log.h"
#include "local.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct config *cf;

void
dlv_msg_init(struct dlv_msg *m, int fd, uint64_t size, const char *sender)
{
	char tail[2];

	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->size = size;
	m->sender = sender;
	if (size > 0 && (size < 2 || pread(fd, tail, 2, (off_t)size - 2) != 2 ||
	    tail[0] != '\r' || tail[1] != '\n'))
		abort();	/* every stored line ends in CRLF */
	if (lseek(fd, 0, SEEK_END) != (off_t)size)
		abort();
}

void
dlv_msg_free(struct dlv_msg *m)
{
	(void)m;
}

static void
set(struct dlv_result *r, const char *address)
{
	if (address[0] == '\0' || strchr(address, '@') == NULL)
		abort();	/* local_lmtp.c passes only parsed addresses */
	r->code = address[0] == 'x' ? 550 : 250;
	memcpy(r->status, address[0] == 'x' ? "5.1.1" : "2.0.0", 6);
	memcpy(r->text, "ok", 3);
}

void
dlv_check(struct dlv_ctx *cx, const char *address, struct dlv_result *r)
{
	(void)cx;
	set(r, address);
}

void
dlv_deliver(struct dlv_ctx *cx, struct dlv_msg *m, const char *address,
    struct dlv_result *r)
{
	(void)cx;
	(void)m;
	set(r, address);
}

void
dlv_close_stores(void)
{
}

static void *
drain(void *arg)
{
	int fd = *(int *)arg;
	char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dlv_ctx cx;
	struct buf err;
	pthread_t t;
	int sv[2];

	if (cf == NULL) {
		log_open("fuzz", LOG_TO_STDERR);
		log_set_level(LOGL_ERROR);
		buf_init(&err, 1024);
		/* a small limit, so that it is reached */
		if (config_parse("fuzz", "message_size_limit = 4K\n", 24,
		    &cf, &err) == -1)
			abort();
		buf_free(&err);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 0;
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();	/* fits: inputs are small */
	(void)shutdown(sv[1], SHUT_WR);
	if (pthread_create(&t, NULL, drain, &sv[1]) != 0)
		abort();
	memset(&cx, 0, sizeof(cx));
	cx.cf = cf;
	cx.mail_root = "/nonexistent";
	lmtp_serve(&cx, sv[0], "fuzz");
	close(sv[0]);
	pthread_join(t, NULL);
	close(sv[1]);
	return 0;
}
