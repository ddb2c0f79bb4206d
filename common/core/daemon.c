/*
 * daemon.c: how the daemons (enqueue, qmgr, remote, authd) start, and
 * the one signal set-up of every long-running process, chapard's too: a
 * self-pipe, so that a signal wakes the process's poll() at once instead
 * of being seen at the next timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/config.h"
#include "chapar/daemon.h"
#include "chapar/log.h"
#include "chapar/util.h"

#define NSIG_MAX 8

static struct {
	int fds[2];
	int signo[NSIG_MAX];
	volatile sig_atomic_t *flag[NSIG_MAX];
	size_t n;
} S = { { -1, -1 }, { 0 }, { NULL }, 0 };

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;
	size_t i;

	for (i = 0; i < S.n; i++)
		if (S.signo[i] == sig)
			*S.flag[i] = 1;
	/* wake the poll; a full pipe already will */
	if (write(S.fds[1], &c, 1) == -1)
		errno = saved;
	errno = saved;
}

void
daemon_signal_pipe(const struct daemon_sig *sigs, size_t n)
{
	struct sigaction sa;
	size_t i;

	if (S.fds[0] == -1 && pipe2(S.fds, O_NONBLOCK | O_CLOEXEC) == -1)
		log_fatal("pipe: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < n && S.n < NSIG_MAX; i++) {
		S.signo[S.n] = sigs[i].signo;
		S.flag[S.n++] = sigs[i].flag;
		sa.sa_handler = on_signal;
		sigaction(sigs[i].signo, &sa, NULL);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int
daemon_signal_fd(void)
{
	return S.fds[0];
}

void
daemon_signal_drain(void)
{
	char b[64];

	while (S.fds[0] != -1 && read(S.fds[0], b, sizeof(b)) > 0)
		;
}

struct config *
daemon_init(const char *name, int argc, char **argv,
    volatile sig_atomic_t *quit)
{
	const char *conf = NULL;
	struct config *cf;
	struct buf err;
	int ch, debug = 0;

	while ((ch = getopt(argc, argv, "c:df")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'd': debug = 1; break;
		case 'f': break;	/* always in the foreground */
		default:
			fprintf(stderr, "usage: %s [-df] [-c file]\n", name);
			exit(100);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: %s [-df] [-c file]\n", name);
		exit(100);
	}
	/* stderr, which chapard logs; syslog when run on its own */
	log_open(name, LOG_TO_STDERR);
	if (getenv("CHAPAR_LOG") != NULL &&
	    strcmp(getenv("CHAPAR_LOG"), "syslog") == 0)
		log_where(LOG_TO_SYSLOG);
	buf_init(&err, 4096);
	if (config_load(conf ? conf : config_default_path(), &cf, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	buf_free(&err);
	config_log_setup(cf, NULL, debug);
	daemon_signals(quit);
	return cf;
}

void
daemon_signals(volatile sig_atomic_t *quit)
{
	const struct daemon_sig sigs[] = { { SIGTERM, quit },
		{ SIGINT, quit } };
	struct sigaction sa;

	daemon_signal_pipe(sigs, NELEM(sigs));
	/* a daemon that runs chrooted needs a restart for a new
	 * configuration, which chapard does on reload: SIGHUP is ignored */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
}
