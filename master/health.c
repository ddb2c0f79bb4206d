/*
 * health.c: is authd still answering?
 *
 * A process can hang rather than die: Berkeley DB 5.3 as Debian builds
 * it uses plain process-shared mutexes, so a process killed inside the
 * library (an admin command hit by SIGKILL, the OOM killer) can leave
 * authd blocked for good.  Every health_check_interval chapard opens the
 * auth socket, sends VERSION and waits as long again for the answer; an
 * authd that does not answer is killed, and the pool maintenance starts
 * a new one (whose open runs the database recovery).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "chapard.h"
#include "chapar/log.h"
#include "chapar/util.h"

/* health_check_interval: the time between checks, and the time authd
 * has to answer one (0: no checks). */
#define HEALTH_EVERY_MS (config_num(M.cf, NULL, "health_check_interval") * \
	1000)
#define HEALTH_TIMEOUT_MS HEALTH_EVERY_MS

static int fd = -1;
static uint64_t started, next_check;
static pid_t probed;

static void
probe_close(void)
{
	if (fd >= 0)
		close(fd);
	fd = -1;
}

static struct proc *
authd_proc(void)
{
	struct service *s;

	for (s = M.services; s != NULL; s = s->next)
		if (s->kind == SVC_DAEMON && !s->gone && s->procs != NULL &&
		    s->procs->state == P_RUNNING &&
		    strcmp(s->name, "authd") == 0)
			return s->procs;
	return NULL;
}

/* Once a tick: start a probe, or give up on one that took too long. */
void
health_tick(void)
{
	const char *path = config_str(M.cf, NULL, "auth_socket");
	static const char hello[] = "VERSION\t1\t0\n";
	struct sockaddr_un sun;
	struct proc *p = authd_proc();
	uint64_t now = now_ms();

	if (fd >= 0) {
		if (now - started < HEALTH_TIMEOUT_MS)
			return;
		probe_close();
		if (p != NULL && p->pid == probed) {
			log_error("authd (pid %ld) did not answer for %llu s; "
			    "killing it (a new one recovers the database)",
			    (long)p->pid,
			    (unsigned long long)(HEALTH_TIMEOUT_MS / 1000));
			(void)kill(p->pid, SIGKILL);
		}
		return;
	}
	/* A young authd may still be opening its database. */
	if (HEALTH_EVERY_MS == 0 || p == NULL || M.stopping ||
	    now < next_check ||
	    now - p->started_ms < HEALTH_EVERY_MS)
		return;
	next_check = now + HEALTH_EVERY_MS;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	/* A UNIX connect completes or fails at once; a full backlog
	 * (EAGAIN) counts as no answer. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    write(fd, hello, sizeof(hello) - 1) != (ssize_t)sizeof(hello) - 1) {
		if (errno != EAGAIN && errno != ENOENT && errno != ECONNREFUSED)
			log_warning("authd health check: %s", strerror(errno));
		if (errno != EAGAIN) {
			probe_close();
			return;
		}
	}
	started = now;
	probed = p->pid;
}

size_t
health_pollfd(struct pollfd *pfd)
{
	if (fd < 0)
		return 0;
	pfd->fd = fd;
	pfd->events = POLLIN;
	pfd->revents = 0;
	return 1;
}

void
health_handle(const struct pollfd *pfd)
{
	char buf[64];

	if (fd < 0 || pfd->fd != fd || pfd->revents == 0)
		return;
	/* Any answer (or a refusal) is a sign of life. */
	if (read(fd, buf, sizeof(buf)) < 0 && errno == EAGAIN)
		return;
	probe_close();
}
