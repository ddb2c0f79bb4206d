/*
 * remote_main.c: the SMTP client (remote(8)) -- what the queue manager hands it
 * goes to the destination's mail exchangers.
 *
 * chapard runs it as a daemon; as root it reads /etc/resolv.conf and the
 * CA certificates, binds remote_socket (0660, group of queue_user), then
 * runs as chapar-remote chrooted into an empty directory.  It talks to
 * nothing but the queue manager on that socket, DNS and SMTP servers.
 *
 * A job is one message for recipients of one domain, in the queue's
 * frames (queue.h): E with the envelope text (the recipients of this
 * job only), D with the message, C; the answer is K with one line per
 * recipient, in order: code=, dsn=, reply=, relay=.
 *
 * The destination: the host of transport_map for the domain, else
 * relayhost, else its MX hosts in order (RFC 5321 5.1; a null MX, RFC
 * 7505, fails at once), each address in turn, IPv6 first.  A host that
 * does not answer, greets with 4xx/5xx or fails before any recipient
 * was accepted makes way for the next.  STARTTLS whenever offered
 * (remote_tls or the domain's remote_tls_policy: may; encrypt insists;
 * verify also wants the certificate verified), the certificate checked
 * and the result logged.
 *
 * This file takes jobs from the queue manager; remote_route.c finds
 * where they go, remote_smtp.c talks to the server.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chapar/config.h"
#include "chapar/daemon.h"
#include "chapar/dkim.h"
#include "chapar/dns.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/mime.h"
#include "chapar/net.h"
#include "chapar/priv.h"
#include "chapar/queue.h"
#include "chapar/tls.h"
#include "chapar/util.h"
#include "chapar/smtp.h"

#include "remote.h"

struct remote R;

/* Give every recipient without an answer this one. */
void
settle(struct job *j, int code, const char *dsn, const char *text,
    const char *relay)
{
	size_t i;

	for (i = 0; i < j->n; i++) {
		if (j->rc[i].code != 0)
			continue;
		j->rc[i].code = code;
		(void)xsnprintf(j->rc[i].dsn, sizeof(j->rc[i].dsn), "%s", dsn);
		buf_reset(&j->rc[i].reply);
		buf_printf(&j->rc[i].reply, "%d %s", code, text);
		(void)xsnprintf(j->rc[i].relay, sizeof(j->rc[i].relay), "%s",
		    relay);
	}
}

/* "USER PASSWORD" on the first line of the file (root's, read before the
 * chroot). */
static void
relay_secret(const char *path)
{
	struct buf text;
	struct sv line, rest, user;

	buf_init(&text, 4096);
	if (file_read(path, 4096, &text) == -1)
		log_fatal("relayhost_auth_file %s: %s", path, strerror(errno));
	rest = buf_sv(&text);
	(void)sv_split(&rest, '\n', &line);
	line = sv_trim(line);
	(void)sv_split(&line, ' ', &user);
	line = sv_trim(line);
	if (user.n == 0 || line.n == 0)
		log_fatal("relayhost_auth_file %s: expected \"USER PASSWORD\" "
		    "on the first line", path);
	if (buf_try_append(&R.relay_user, user.p, user.n) == -1 ||
	    buf_try_append(&R.relay_pass, line.p, line.n) == -1)
		log_fatal("relayhost_auth_file %s: the user and the password "
		    "are 256 bytes at most", path);
	buf_free(&text);
}

/* --- jobs from the queue manager ----------------------------------------- */

/* The answer: K with a line per recipient. */
static void
job_answer(int fd, struct job *j)
{
	struct buf out, line;
	struct rec r;
	size_t i;

	/* one frame; a line is some 6 kB at most (a reply and a relay,
	 * escaped), and the queue manager sends 100 recipients a job.  A
	 * line that does not fit is left out: the queue manager tries its
	 * recipient again. */
	buf_init(&out, QUEUE_FRAME_MAX);
	buf_init(&line, 4 * ANSWER_MAX);
	for (i = 0; i < j->n; i++) {
		rec_init(&r);
		rec_set_u64(&r, "code", (uint64_t)(j->rc[i].code > 0 ?
		    j->rc[i].code : 451));
		rec_set_str(&r, "dsn", j->rc[i].code > 0 ? j->rc[i].dsn :
		    "4.4.2");
		rec_set(&r, "reply", j->rc[i].reply.len > 0 ?
		    buf_sv(&j->rc[i].reply) : sv_from("451 4.4.2 the "
		    "connection was lost during delivery"));
		rec_set_str(&r, "relay", j->rc[i].relay[0] ? j->rc[i].relay :
		    "none");
		if (j->rc[i].peer_dsn)
			rec_set_str(&r, "peer_dsn", "1");
		buf_reset(&line);
		rec_encode(&r, &line);
		buf_putc(&line, '\n');
		rec_free(&r);
		if (buf_try_append(&out, line.data, line.len) == -1) {
			log_error("the answer for %zu recipients is too long: "
			    "%zu left out", j->n, j->n - i);
			break;
		}
	}
	if (queue_frame_write(fd, QF_OK, out.data, out.len) == -1)
		log_warning("the queue manager went away before the answer");
	buf_free(&out);
	buf_free(&line);
}

/* One job: its envelope already parsed, its message in mfd. */
static void
job_run(int fd, struct job *j, int mfd)
{
	const char *at;
	size_t i;

	j->n = j->env.nrcpt;
	j->rc = xcalloc(j->n ? j->n : 1, sizeof(*j->rc));
	for (i = 0; i < j->n; i++) {
		j->rc[i].r = &j->env.rcpts[i];
		buf_init(&j->rc[i].reply, ANSWER_MAX + 16);
	}
	at = j->n > 0 ? strrchr(rec_get_str(j->rc[0].r, "rcpt"), '@') :
	    NULL;
	j->domain = at != NULL ? at + 1 : "";
	j->msg = j->size > 0 ? mmap(NULL, j->size, PROT_READ, MAP_PRIVATE,
	    mfd, 0) : NULL;
	buf_init(&j->sigs, 4096);
	buf_init(&j->fail, ANSWER_MAX);
	j->fail_code = 0;
	if (j->msg == MAP_FAILED || j->domain[0] == '\0')
		settle(j, 451, "4.3.0", "4.3.0 the job could not be read",
		    "none");
	else {
		/* DKIM (RFC 6376): mail from a domain we hold a key for */
		struct buf err;

		buf_init(&err, 1024);
		if (R.nkeys > 0 && dkim_sign(R.keys, R.nkeys, j->msg, j->size,
		    now_sec(), &j->sigs, &err) == -1) {
			log_error("%s", buf_cstr(&err));
			buf_reset(&j->sigs);
		}
		buf_free(&err);
		j->size += j->sigs.len;
		deliver(j);
		j->size -= j->sigs.len;
	}
	buf_free(&j->sigs);
	buf_free(&j->fail);
	job_answer(fd, j);
	if (j->msg != NULL && j->msg != MAP_FAILED)
		(void)munmap(j->msg, j->size);
	for (i = 0; i < j->n; i++)
		buf_free(&j->rc[i].reply);
	free(j->rc);
}

/*
 * Between jobs: wait for the next one (1: it is coming), the kept SMTP
 * connection closed once idle for remote_connection_cache_time (0: the
 * wait goes on).  A second at most each time, so a SIGTERM is seen.
 */
static int
idle_wait(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t limit = config_num(R.cf, NULL,
	    "remote_connection_cache_time") * 1000, now = now_ms();
	int ms = 1000;

	if (K.c != NULL && now >= K.idle_ms + limit)
		cache_drop();
	if (K.c != NULL && K.idle_ms + limit - now < (uint64_t)ms)
		ms = (int)(K.idle_ms + limit - now);
	if (poll(&p, 1, ms) == 1)
		return 1;
	return 0;
}

/* A connection from the queue manager: jobs until it closes. */
static void
serve_conn(int fd)
{
	struct buf in;
	struct job j;
	struct sv p;
	ssize_t n, used;
	const char *why;
	int type, mfd = -1, open_job = 0;

	buf_init(&in, QUEUE_FRAME_MAX + 64 * 1024);
	memset(&j, 0, sizeof(j));
	queue_env_init(&j.env);
	while (!R.quit) {
		while ((used = queue_frame_take(&in, 0, &type, &p)) > 0) {
			if (type == QF_ENVELOPE && !open_job) {
				if (queue_env_parse(p, &j.env, &why) == -1 ||
				    (mfd = memfd_create("remote", MFD_CLOEXEC))
				    == -1) {
					log_warning("a bad job: %s", why);
					goto out;
				}
				j.size = 0;
				open_job = 1;
			} else if (type == QF_DATA && open_job) {
				if (write_all(mfd, p.p, p.n) == -1)
					goto out;
				j.size += p.n;
			} else if (type == QF_COMMIT && open_job) {
				job_run(fd, &j, mfd);
				close(mfd);
				mfd = -1;
				open_job = 0;
				queue_env_free(&j.env);
				queue_env_init(&j.env);
			} else
				goto out;
			memmove(in.data, in.data + used, in.len - (size_t)used);
			in.len -= (size_t)used;
		}
		if (used == -1 || buf_reserve(&in, 64 * 1024) == -1)
			break;
		if (!open_job && idle_wait(fd) == 0)
			continue;
		n = read(fd, buf_end(&in), buf_room(&in));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_commit(&in, (size_t)n);
	}
out:
	if (mfd != -1)
		close(mfd);
	cache_drop();
	queue_env_free(&j.env);
	buf_free(&in);
	close(fd);
}

/*
 * Each connection of the queue manager gets a process of its own (the
 * queue manager opens as many as it runs deliveries at once,
 * remote_process_limit), which keeps at most one SMTP connection open
 * between jobs.  It dies with its parent.
 */
static void
spawn(int lfd, int fd)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_error("fork: %s", strerror(errno));
		close(fd);
		return;
	}
	if (pid > 0) {
		close(fd);
		return;
	}
	close(lfd);
	(void)signal(SIGTERM, SIG_DFL);
	(void)signal(SIGCHLD, SIG_DFL);
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(0);	/* the parent is already gone */
	serve_conn(fd);
	_exit(0);
}

int
main(int argc, char **argv)
{
	const char *sock, *ca;
	struct buf err;
	struct group *gr;
	uid_t uid, quid;
	gid_t gid, qgid;
	int lfd, fd;

	R.cf = daemon_init("remote", argc, argv, &R.quit);
	{
		/* a process of ours ended: reaped at once */
		static volatile sig_atomic_t chld;
		const struct daemon_sig s = { SIGCHLD, &chld };

		daemon_signal_pipe(&s, 1);
	}
	buf_init(&err, 4096);
	config_hostname(R.cf, R.host, sizeof(R.host));
	/* what the chroot will hide: resolv.conf, the CA certificates */
	ca = config_str(R.cf, NULL, "remote_tls_ca_file");
	if (ca[0] != '\0' && access(ca, R_OK) == -1) {
		log_warning("%s: %s; certificates are not verified", ca,
		    strerror(errno));
		ca = "";
	}
	tls_policy_check();
	buf_init(&R.relay_user, 256);
	buf_init(&R.relay_pass, 256);
	if (config_str(R.cf, NULL, "relayhost_auth_file")[0] != '\0')
		relay_secret(config_str(R.cf, NULL, "relayhost_auth_file"));
	if ((R.dns = dns_open(R.cf, &err)) == NULL ||
	    tls_client_new(ca, &R.tls, &err) == -1 ||
	    dkim_keys_load(config_str(R.cf, NULL, "dkim_dir"), &R.keys,
	    &R.nkeys, &err) == -1)
		log_fatal("%s", buf_cstr(&err));
	sock = config_str(R.cf, NULL, "remote_socket");
	if ((lfd = unix_listen(sock, "remote", &err)) == -1)
		log_fatal("%s", buf_cstr(&err));
	(void)fcntl(lfd, F_SETFL, 0);		/* blocking accept */
	if (geteuid() == 0) {
		if (priv_lookup("chapar-remote", &uid, &gid, &err) == -1 ||
		    priv_lookup(config_str(R.cf, NULL, "queue_user"), &quid,
		    &qgid, &err) == -1)
			log_fatal("%s (chapar init creates it)",
			    buf_cstr(&err));
		/* only the queue manager (queue_user's group) may connect */
		(void)quid;
		gr = getgrgid(qgid);
		if (chmod(sock, 0660) == -1 || chown(sock, 0, gr != NULL ?
		    gr->gr_gid : qgid) == -1)
			log_fatal("%s: %s", sock, strerror(errno));
		{
			struct buf empty;

			buf_init(&empty, 4096);
			buf_printf(&empty, "%s/empty", config_str(R.cf,
			    NULL, "run_dir"));
			if (priv_drop(uid, gid, buf_cstr(&empty), &err) == -1)
				log_fatal("%s", buf_cstr(&err));
			buf_free(&empty);
		}
	}
	log_info("ready: socket=%s, uid=%ld, %zu DKIM keys", sock,
	    (long)geteuid(), R.nkeys);
	while (!R.quit) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
			{ .fd = daemon_signal_fd(), .events = POLLIN } };

		while (waitpid(-1, NULL, WNOHANG) > 0)
			;	/* the processes whose connection ended */
		/* SIGTERM and SIGCHLD wake the poll through the self-pipe */
		if (poll(p, 2, -1) < 1)
			continue;
		if (p[1].revents & POLLIN)
			daemon_signal_drain();
		if (!(p[0].revents & POLLIN))
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_fatal("accept: %s", strerror(errno));
		}
		spawn(lfd, fd);
	}
	log_info("stopping");
	dns_close(&R.dns);
	tls_client_free(&R.tls);
	buf_free(&err);
	return 0;
}
