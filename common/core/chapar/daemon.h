/*
 * daemon: the start of the queue's daemons (enqueue, qmgr, remote).
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

#endif
