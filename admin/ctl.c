/*
 * ctl.c: "chapar status|reload|stop": talk to chapard over its status
 * socket.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/util.h"

static int
ask(struct config *cf, const char *line, struct buf *out)
{
	const char *path = config_str(cf, NULL, "status_socket");
	struct sockaddr_un sun;
	char tmp[4096];
	ssize_t n;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		die(EX_FAIL, "%s: path too long", path);
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die(EX_FAIL, "chapard is not running (cannot connect to %s: "
		    "%s)", path, strerror(errno));
	if (write_all(fd, line, strlen(line)) == -1 ||
	    write_all(fd, "\n", 1) == -1)
		die(EX_TEMP, "%s: %s", path, strerror(errno));
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		if (buf_try_append(out, tmp, (size_t)n) == -1)
			die(EX_TEMP, "reply too large");
	close(fd);
	return 0;
}

/* Wait for chapard to let go of its pid file lock. */
static int
wait_stopped(struct config *cf, uint64_t secs)
{
	const char *path = config_str(cf, NULL, "pid_file");
	uint64_t end = now_ms() + secs * 1000;
	int fd;

	while (now_ms() < end) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			return 0;	/* removed: stopped */
		if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
			close(fd);
			return 0;
		}
		close(fd);
		usleep(100 * 1000);
	}
	return -1;
}

int
cmd_ctl(int argc, char **argv)
{
	struct config *cf;
	struct buf out;
	int r = EX_OK;

	if (argc != 1)
		usage();
	cf = load_config();
	buf_init(&out, 64 * 1024 * 1024);
	if (strcmp(argv[0], "status") == 0) {
		ask(cf, opt.json ? "STATUS JSON" : "STATUS", &out);
		/* it names the users clients logged in as */
		fflush(stdout);
		text_out(1, out.data, out.len);
	} else if (strcmp(argv[0], "reload") == 0) {
		ask(cf, "RELOAD", &out);
		printf("chapard: %s", buf_cstr(&out));
	} else {
		ask(cf, "STOP", &out);
		printf("chapard: %s", buf_cstr(&out));
		if (wait_stopped(cf, config_num(cf, NULL, "shutdown_grace") +
		    15) == -1) {
			fprintf(stderr, "chapar: chapard has not stopped yet\n");
			r = EX_TEMP;
		} else
			printf("chapard: stopped\n");
	}
	buf_free(&out);
	config_free(&cf);
	return r;
}
