/*
 * chapard: the master process.  Root, never parses network input:
 * binds sockets, forks and execs the other programs, watches them,
 * answers the status socket, and handles signals:
 *
 *	SIGHUP		reload chapar.conf (a broken file is refused and
 *			the running configuration stays)
 *	SIGTERM, SIGINT	stop: close the listeners, let sessions finish for
 *			shutdown_grace, then end what is left
 *	SIGCHLD		reap, and replace what must be replaced
 */
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapard.h"
#include "chapar/daemon.h"
#include "chapar/log.h"
#include "chapar/paths.h"
#include "chapar/util.h"

#define TICK_MS 1000
#define KILL_AFTER_TERM_MS 3000

struct chapard M;
static volatile sig_atomic_t got_hup, got_term, got_chld;
static int pid_fd = -1;
static void pidfile_write(void);

/* SIGHUP reloads, TERM and INT stop, CHLD reaps: through the one
 * self-pipe of daemon.c, which wakes the loop's poll. */
static void
signals(void)
{
	const struct daemon_sig sigs[] = { { SIGHUP, &got_hup },
		{ SIGTERM, &got_term }, { SIGINT, &got_term },
		{ SIGCHLD, &got_chld } };

	daemon_signal_pipe(sigs, NELEM(sigs));
}

/* With the paths make compiled in: what a packager checks. */
static void
usage(void)
{
	fprintf(stderr, "usage: chapard [-dfh] [-c file]\n"
	    "default configuration: %s\n"
	    "programs: %s (or chapard's own directory)\n",
	    config_default_path(), CHAPAR_LIBEXECDIR);
	exit(100);
}

/* One chapard per pid file (per instance): a lock held while it runs. */
static void
pidfile_lock(const char *path)
{
	char buf[32];
	ssize_t n;

	pid_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (pid_fd == -1)
		log_fatal("%s: %s", path, strerror(errno));
	if (flock(pid_fd, LOCK_EX | LOCK_NB) == -1) {
		n = read(pid_fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		log_fatal("another chapard is running on this instance (pid "
		    "%s, %s)", buf[0] ? buf : "?", path);
	}
	pidfile_write();
}

static void
pidfile_write(void)
{
	char buf[32];

	(void)xsnprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(pid_fd, 0) == -1 || pwrite(pid_fd, buf, strlen(buf), 0)
	    == -1)
		log_fatal("pid file: %s", strerror(errno));
}


static void
logging(struct config *cf, int debug)
{
	config_log_setup(cf, NULL, debug);
}

void
chapard_reload(void)
{
	got_hup = 1;
}

void
chapard_stop(void)
{
	got_term = 1;
}

static void
reload(void)
{
	struct config *cf;
	struct buf err;

	buf_init(&err, 4096);
	if (config_load(M.conf_path, &cf, &err) == -1) {
		log_error("reload refused, the running configuration stays: "
		    "%s", buf_cstr(&err));
		buf_free(&err);
		return;
	}
	if (accounts_ensure(cf, &err) == -1 || services_load(cf, &err) == -1) {
		log_error("reload refused, the running configuration stays: "
		    "%s", buf_cstr(&err));
		config_free(&cf);
		buf_free(&err);
		return;
	}
	if (strcmp(config_str(cf, NULL, "pid_file"), config_str(M.cf, NULL,
	    "pid_file")) != 0 || strcmp(config_str(cf, NULL, "status_socket"),
	    config_str(M.cf, NULL, "status_socket")) != 0)
		log_warning("reload: pid_file and status_socket changes take "
		    "effect at the next start");
	/* the pid file and status socket in use stay (M.pid_path, the open
	 * control socket) until the next start */
	config_free(&M.cf);
	M.cf = cf;
	M.loaded = now_sec();
	logging(cf, M.debug);
	log_info("reloaded %s", M.conf_path);
	buf_free(&err);
}

static void
reap(void)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		service_reap(pid, st);
}

static int
anything_left(void)
{
	struct service *s;

	for (s = M.services; s != NULL; s = s->next)
		if (s->procs != NULL)
			return 1;
	return 0;
}

/* Past the grace: TERM what is still busy, then KILL. */
static void
stop_stragglers(uint64_t now)
{
	struct service *s;
	struct proc *p;
	int sig = now >= M.stop_deadline + KILL_AFTER_TERM_MS ? SIGKILL :
	    SIGTERM;
	static int logged;

	for (s = M.services; s != NULL; s = s->next)
		for (p = s->procs; p != NULL; p = p->next)
			(void)kill(p->pid, sig);
	if (!logged++)
		log_warning("shutdown grace over: ending the sessions left");
}

static void
begin_stop(void)
{
	M.stopping = 1;
	M.stop_deadline = now_ms() + 1000 *
	    config_num(M.cf, NULL, "shutdown_grace");
	log_info("stopping: no new connections; sessions have %llu s to end",
	    (unsigned long long)config_num(M.cf, NULL, "shutdown_grace"));
	services_stop_begin();
}

/* Room for one more poll entry per process: the arrays grow. */
static void
grow(struct pollfd **pfd, struct proc ***procs, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	*cap = need * 2;
	*pfd = xreallocarray(*pfd, *cap, sizeof(**pfd));
	*procs = xreallocarray(*procs, *cap, sizeof(**procs));
}

static size_t
count_procs(void)
{
	struct service *s;
	size_t n = 0;

	for (s = M.services; s != NULL; s = s->next)
		n += s->nprocs;
	return n;
}

static void
loop(void)
{
	struct pollfd *pfd = NULL;
	struct proc **procs = NULL;
	struct service *owners[256], *s;
	struct proc *p;
	size_t n, nctl, i, nstatus, nwait, nhealth, base, cap = 0;
	uint64_t next_tick = 0, now;

	for (;;) {
		now = now_ms();
		if (got_chld) {
			got_chld = 0;
			reap();
		}
		if (got_hup && !M.stopping) {
			got_hup = 0;
			reload();
		}
		if (got_term && !M.stopping)
			begin_stop();
		if (M.stopping) {
			services_stop_step();
			if (!anything_left()) {
				free(pfd);
				free(procs);
				return;
			}
			if (now >= M.stop_deadline)
				stop_stragglers(now);
		}
		if (now >= next_tick) {
			services_maintain();
			tickets_rotate(0);
			health_tick();
			next_tick = now + TICK_MS;
		}
		grow(&pfd, &procs, &cap, count_procs() + NELEM(owners) + 64);
		pfd[0].fd = daemon_signal_fd();
		pfd[0].events = POLLIN;
		n = 1;
		nctl = control_pollfds(pfd + n, 32);
		n += nctl;
		nwait = services_waiting_fds(pfd + n, owners, NELEM(owners));
		n += nwait;
		nhealth = health_pollfd(pfd + n);
		n += nhealth;
		nstatus = 0;
		for (s = M.services; s != NULL; s = s->next)
			for (p = s->procs; p != NULL && n < cap; p = p->next)
				if (p->status_fd >= 0) {
					pfd[n].fd = p->status_fd;
					pfd[n].events = POLLIN;
					procs[nstatus++] = p;
					n++;
				}
		if (poll(pfd, n, (int)(next_tick > now ? next_tick - now :
		    0)) == -1 && errno != EINTR)
			log_fatal("poll: %s", strerror(errno));
		if (pfd[0].revents & POLLIN)
			daemon_signal_drain();
		control_handle(pfd + 1, nctl);
		for (i = 0; i < nwait; i++)
			if (pfd[1 + nctl + i].revents & POLLIN)
				service_wanted(owners[i]);
		if (nhealth)
			health_handle(&pfd[1 + nctl + nwait]);
		base = 1 + nctl + nwait + nhealth;
		for (i = 0; i < nstatus; i++) {
			if (pfd[base + i].revents == 0)
				continue;
			p = procs[i];
			if (p->status_fd == pfd[base + i].fd)
				proc_message(p);
		}
	}
}

/* Every process costs chapard a descriptor: take all the kernel allows. */
static void
more_descriptors(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warning("RLIMIT_NOFILE: %s", strerror(errno));
	}
}

static void
self_dir(const char *argv0)
{
	char path[PATH_MAX];
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0) {
		(void)xsnprintf(M.self_dir, sizeof(M.self_dir), "%s",
		    CHAPAR_LIBEXECDIR);
		(void)argv0;
		return;
	}
	path[n] = '\0';
	if ((slash = strrchr(path, '/')) != NULL)
		*slash = '\0';
	(void)xsnprintf(M.self_dir, sizeof(M.self_dir), "%s", path);
}

int
main(int argc, char **argv)
{
	char abs[PATH_MAX];
	const char *conf = NULL;
	struct buf err;
	int ch;

	while ((ch = getopt(argc, argv, "c:dfh")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'd': M.debug = 1; break;
		case 'f': M.foreground = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	log_open("chapard", LOG_TO_STDERR);
	if (conf == NULL)
		conf = config_default_path();
	/* Children run from "/": they need an absolute path. */
	if (realpath(conf, abs) == NULL)
		log_fatal("%s: %s", conf, strerror(errno));
	M.conf_path = abs;
	self_dir(argv[0]);
	buf_init(&err, 4096);
	if (config_load(M.conf_path, &M.cf, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	logging(M.cf, M.debug);
	/* The lock first, so that a second chapard fails where it was
	 * started; the lock (an open file) survives the detach. */
	M.pid_path = xstrdup(config_str(M.cf, NULL, "pid_file"));
	pidfile_lock(M.pid_path);
	if (!M.foreground) {
		daemonize();
		log_where(LOG_TO_SYSLOG);
		pidfile_write();
	}
	signals();
	more_descriptors();
	M.started = M.loaded = now_sec();
	if (accounts_ensure(M.cf, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	if (control_open(config_str(M.cf, NULL, "status_socket"), &err) == -1)
		log_fatal("status socket: %s", buf_cstr(&err));
	tickets_rotate(1);
	if (services_load(M.cf, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	log_info("started: configuration %s", M.conf_path);
	loop();
	control_close();
	(void)unlink(M.pid_path);	/* the one locked at start */
	log_info("stopped");
	free(M.pid_path);
	config_free(&M.cf);
	buf_free(&err);
	return 0;
}
