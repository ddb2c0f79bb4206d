/*
 * daemon.c: how the queue's daemons (enqueue, qmgr, remote) start.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/config.h"
#include "chapar/daemon.h"
#include "chapar/log.h"
#include "chapar/util.h"

static volatile sig_atomic_t *quit_flag;

static void
on_quit(int sig)
{
	(void)sig;
	*quit_flag = 1;
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
	struct sigaction sa;

	quit_flag = quit;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_quit;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* a daemon that runs chrooted needs a restart for a new
	 * configuration, which chapard does on reload: SIGHUP is ignored */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}
