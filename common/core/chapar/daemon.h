/*
 * daemon: the start of the daemons (enqueue, qmgr, remote, authd) and
 * the signal set-up of every long-running process.
 */
#ifndef CHAPAR_DAEMON_H
#define CHAPAR_DAEMON_H

#include <signal.h>
#include <stddef.h>

struct config;

/* Options -c file, -d (debug), -f (accepted: always in the foreground);
 * the log as name (CHAPAR_LOG=syslog: to syslog); the configuration;
 * SIGTERM and SIGINT set *quit, SIGPIPE and SIGHUP are ignored.  Exits
 * on a bad command line or configuration. */
struct config *daemon_init(const char *name, int argc, char **argv,
    volatile sig_atomic_t *quit);
/* Only the signals: TERM and INT set *quit, PIPE and HUP ignored. */
void daemon_signals(volatile sig_atomic_t *quit);

/* The self-pipe every long-running process uses: each signal sets its
 * flag and writes a byte to a pipe whose read end an event loop polls
 * (daemon_signal_fd, then daemon_signal_drain), so a signal that lands
 * between the loop's test of a flag and poll() still wakes it.  SIGPIPE
 * is ignored.  May be called more than once (up to 8 signals). */
struct daemon_sig {
	int signo;
	volatile sig_atomic_t *flag;
};
void daemon_signal_pipe(const struct daemon_sig *, size_t n);
int daemon_signal_fd(void);
void daemon_signal_drain(void);

#endif
