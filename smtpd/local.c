/*
 * local: the delivery agent (local(8)).
 *
 *	local [-c file] -d address ... [-f sender] < message
 *		the command-line LDA for other MTAs (Postfix pipe(8),
 *		Exim, procmail setups): exit status as sendmail's
 *	local [-c file] -i	LMTP on descriptor 0 (inetd and friends)
 *	(under chapard)		the [lmtp] service's workers
 *
 * Either way it runs as mail_user: started by root it gives up root
 * before it reads the message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <sys/mman.h>

#include "chapar/authc.h"
#include "chapar/config.h"
#include "chapar/log.h"
#include "chapar/priv.h"
#include "chapar/util.h"
#include "chapar/worker.h"
#include "local.h"

/* --- the LMTP service ---------------------------------------------------- */

static void
lmtp_conn(struct worker_conn *c)
{
	struct dlv_ctx cx;

	memset(&cx, 0, sizeof(cx));
	cx.cf = c->cf;
	cx.mail_root = worker_chrooted() ? "/" : config_str(c->cf, NULL,
	    "mail_dir");
	cx.auth = worker_auth;
	cx.auth_lost = worker_auth_lost;
	cx.auth_master = worker_auth_master();
	cx.quitting = worker_quitting;
	lmtp_serve(&cx, c->fd, c->peer);
}

static const struct worker_service lmtp_service = {
	.name = "lmtp",
	.auth = 1,
	.mail = 1,
	.busy_reply = "421 4.7.0 too busy, try again later\r\n",
	.serve = lmtp_conn,
};

/* --- the command-line LDA ------------------------------------------------ */

static struct {
	struct config *cf;
	struct authc *ac;
} L;

static struct authc *
lda_auth(void)
{
	struct buf err;

	if (L.ac == NULL) {
		buf_init(&err, 1024);
		if (authc_connect(config_str(L.cf, NULL, "auth_socket"), 10000,
		    &L.ac, &err) == -1)
			log_error("authd: %s", buf_cstr(&err));
		buf_free(&err);
	}
	return L.ac;
}

static void
lda_auth_lost(void)
{
	authc_close(&L.ac);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: local [-c file] -d address ... [-f sender] "
	    "< message\n"
	    "       local [-c file] -i       (LMTP on descriptor 0)\n");
	exit(EX_USAGE);
}

/*
 * The message from standard input into an anonymous file, lines ending
 * in CRLF whatever they ended in (MTAs pipe LF text), without a leading
 * mbox "From " line.  Its size, or -1 (*toobig when over the limit).
 */
static int64_t
read_stdin(int fd, uint64_t limit, int *toobig)
{
	char in[65536];
	struct buf out;
	uint64_t size = 0;
	ssize_t n, i;
	int bol = 1, first = 1, skip = 0, cr = 0;

	*toobig = 0;
	buf_init(&out, 2 * sizeof(in) + 2);
	while ((n = read(0, in, sizeof(in))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			buf_free(&out);
			return -1;
		}
		for (i = 0; i < n; i++) {
			char c = in[i];

			if (first && bol) {
				/* "From " at the very start: skip the line */
				first = 0;
				if (n - i >= 5 && memcmp(in + i, "From ", 5) ==
				    0)
					skip = 1;
			}
			bol = 0;
			if (c == '\n') {
				bol = 1;
				if (skip) {
					skip = 0;
					continue;
				}
				if (!cr)
					buf_putc(&out, '\r');
			}
			cr = c == '\r';
			if (!skip)
				buf_putc(&out, c);
		}
		size += out.len;
		if (limit > 0 && size > limit) {
			*toobig = 1;
			buf_free(&out);
			return -1;
		}
		if (write_all(fd, out.data, out.len) == -1) {
			buf_free(&out);
			return -1;
		}
		buf_reset(&out);
	}
	buf_free(&out);
	return (int64_t)size;
}

static int
lda(int argc, char **argv)
{
	const char *conf = NULL, *sender = "", *rcpts[1000];
	struct dlv_result res;
	struct dlv_ctx cx;
	struct dlv_msg m;
	struct buf err;
	size_t nrcpt = 0, i;
	int ch, fd, toobig, code = EX_OK, c;
	int64_t size;
	uid_t uid;
	gid_t gid;

	while ((ch = getopt(argc, argv, "a:c:d:f:")) != -1) {
		switch (ch) {
		case 'a': break;	/* original recipient: Delivered-To
					 * names the final one */
		case 'c': conf = optarg; break;
		case 'd':
			if (nrcpt == NELEM(rcpts))
				usage();
			rcpts[nrcpt++] = optarg;
			break;
		case 'f': sender = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || nrcpt == 0)
		usage();
	if (strcmp(sender, "<>") == 0 || strcmp(sender, "MAILER-DAEMON") == 0)
		sender = "";
	buf_init(&err, 4096);
	log_open("local", getenv("CHAPAR_LOG") != NULL &&
	    strcmp(getenv("CHAPAR_LOG"), "stderr") == 0 ? LOG_TO_STDERR :
	    LOG_TO_SYSLOG);
	if (config_load(conf ? conf : config_default_path(), &L.cf, &err) ==
	    -1) {
		fprintf(stderr, "local: %s\n", buf_cstr(&err));
		return EX_CONFIG;
	}
	if (geteuid() == 0) {
		/* authd's socket first: it is for root and group chapar */
		(void)lda_auth();
		if (priv_lookup(config_str(L.cf, NULL, "mail_user"), &uid,
		    &gid, &err) == -1 || priv_drop(uid, gid, NULL, &err) ==
		    -1) {
			fprintf(stderr, "local: %s\n", buf_cstr(&err));
			return EX_TEMPFAIL;
		}
	}
	if ((fd = memfd_create("local", MFD_CLOEXEC)) == -1 ||
	    (size = read_stdin(fd, config_num(L.cf, NULL,
	    "message_size_limit"), &toobig)) == -1) {
		fprintf(stderr, "local: %s\n", fd != -1 && toobig ?
		    "5.3.4 message too big" : strerror(errno));
		return fd != -1 && toobig ? EX_UNAVAILABLE : EX_TEMPFAIL;
	}
	memset(&cx, 0, sizeof(cx));
	cx.cf = L.cf;
	cx.mail_root = config_str(L.cf, NULL, "mail_dir");
	cx.auth = lda_auth;
	cx.auth_lost = lda_auth_lost;
	dlv_msg_init(&m, fd, (uint64_t)size, sender);
	for (i = 0; i < nrcpt; i++) {
		dlv_deliver(&cx, &m, rcpts[i], &res);
		if (res.code / 100 != 2)
			fprintf(stderr, "local: %d %s %s\n", res.code,
			    res.status, res.text);
		/* a temporary failure wins: the MTA tries again */
		c = dlv_exit_code(&res);
		if (c == EX_TEMPFAIL || (code == EX_OK && c != EX_OK))
			code = c;
	}
	dlv_msg_free(&m);
	dlv_close_stores();
	close(fd);
	authc_close(&L.ac);
	buf_free(&err);
	return code;
}

int
main(int argc, char **argv)
{
	int i;

	/* Under chapard, or -i / -P: the LMTP service. */
	if (getenv("CHAPAR_WORKER") != NULL)
		return worker_run(argc, argv, &lmtp_service);
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "-i") == 0 || strcmp(argv[i], "-P") == 0)
			return worker_run(argc, argv, &lmtp_service);
	return lda(argc, argv);
}
