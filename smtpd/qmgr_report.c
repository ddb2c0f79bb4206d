/*
 * qmgr_report.c: delivery status notifications of qmgr(8) (RFC 3464,
 * RFC 6533 for SMTPUTF8 mail): failure, delay and success reports, and
 * reports of reports to the postmaster.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chapar/addr.h"
#include "chapar/authc.h"
#include "chapar/config.h"
#include "chapar/io.h"
#include "chapar/log.h"
#include "chapar/net.h"
#include "chapar/queue.h"
#include "chapar/smtp.h"
#include "chapar/util.h"
#include "qmgr.h"

/* --- delivery status notifications (RFC 3464) ---------------------------- */

static void
dsn_date(uint64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	(void)gmtime_r(&tt, &tm);
	(void)strftime(out, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/*
 * Is the recipient in this report?  Failed, still to do (delayed), or
 * delivered this run, when its NOTIFY asks for that (RFC 3461 4.1;
 * without NOTIFY, failures and delays).  A success handed to a server
 * that took NOTIFY on is that server's to report.  A report of a
 * report (the null sender) has every failure in it, whatever its NOTIFY.
 */
int
reported(const struct rec *head, const struct rec *r, enum dsn_kind k)
{
	const char *n = rec_get_str(r, "notify");
	const char *sender = rec_get_str(head, "sender");
	const char *st = rcpt_state(r);

	if (k == DSN_SUCCESS)
		return strcmp(st, "sent") == 0 && n != NULL &&
		    strstr(n, "SUCCESS") != NULL &&
		    rec_get_str(r, "notified") == NULL &&
		    rec_get_str(r, "peer_dsn") == NULL;
	if (strcmp(st, k == DSN_DELAYED ? "" : "failed") != 0)
		return 0;
	if (k == DSN_FAILED && (sender == NULL || sender[0] == '\0'))
		return 1;
	return n == NULL || strstr(n, k == DSN_DELAYED ? "DELAY" :
	    "FAILURE") != NULL;
}

static int
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* RFC 3464 2.3.3 */
static const char *
dsn_action(const struct rec *r, enum dsn_kind k)
{
	if (k == DSN_FAILED)
		return "failed";
	if (k == DSN_DELAYED)
		return "delayed";
	/* given to a server that does not do DSN: "relayed" */
	return rec_get_str(r, "relayed") != NULL ? "relayed" : "delivered";
}

/* Where a report of a report goes: the postmaster (the "postmaster"
 * key: a local part at the host name, or an address). */
static void
double_bounce_to(struct buf *out)
{
	const char *pm = config_str(G.cf, NULL, "postmaster");

	buf_reset(out);
	if (strchr(pm, '@') != NULL)
		buf_puts(out, pm);
	else
		buf_printf(out, "%s@%s", pm, G.host);
}

/* The report so far goes to its file once it is big; a recipient's part
 * of it is bounded by the envelope's checks (chapar-queue(5): reply= 4
 * kB, orcpt= 1 kB, ...).  0, or -1. */
#define REPORT_SPILL (64 * 1024)

static int
spill(int fd, struct buf *m)
{
	if (m->len < REPORT_SPILL)
		return 0;
	if (write_all(fd, m->data, m->len) == -1)
		return -1;
	buf_reset(m);
	return 0;
}

/* The original after the report: all of it, or (hdrs) its header with
 * the CRLF of its last field, streamed from its file.  0, or -1. */
static int
copy_original(int out, const char *path, int hdrs)
{
	char b[65536];
	uint64_t want = UINT64_MAX, pos = 0;
	ssize_t n = 0, i;
	int fd, st = 0, r = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	/* RFC 3462 (text/rfc822-headers): up to the empty line */
	while (hdrs && want == UINT64_MAX && (n = read(fd, b, sizeof(b))) > 0)
		for (i = 0; i < n && want == UINT64_MAX; i++, pos++) {
			st = b[i] == "\r\n\r\n"[st] ? st + 1 : b[i] == '\r';
			if (st == 4)
				want = pos - 1;
		}
	if (lseek(fd, 0, SEEK_SET) == -1)
		goto out;
	while (want > 0 && (n = read(fd, b, sizeof(b))) > 0) {
		if ((uint64_t)n > want)
			n = (ssize_t)want;
		if (write_all(out, b, (size_t)n) == -1)
			goto out;
		want -= (uint64_t)n;
	}
	r = n == -1 ? -1 : 0;
out:
	close(fd);
	return r;
}

/*
 * The report of the failed recipients (or, delayed, of those still
 * waiting; or of those delivered who asked to hear of it), to the
 * sender, into the queue as a new message from <> (the queue's own,
 * written the way enqueue writes: tmp/, fsync, mess/, todo/).  A
 * failed report goes to the postmaster, marked so that its own failure
 * is only logged: reports never loop.  0, or -1 and it is tried again
 * on the next run.
 */
int
report(const char *id, const struct queue_env *e, enum dsn_kind kind)
{
	const char *sender = rec_get_str(&e->head, "sender");
	const char *ret = rec_get_str(&e->head, "ret");
	const char *envid = rec_get_str(&e->head, "envid");
	struct buf m, path, env, tmp, to;
	char bid[QUEUE_ID_MAX], date[64], boundary[128];
	struct timeval tv;
	uint64_t arrived = 0;
	size_t i, nfailed = 0;
	int fd = -1, ok = -1, delayed = kind == DSN_DELAYED;
	int dbl = sender == NULL || sender[0] == '\0';
	int global = rec_get_str(&e->head, "smtputf8") != NULL;
	/* a delay or success notice carries the header only */
	int hdrs = kind != DSN_FAILED || (ret != NULL && strcmp(ret, "HDRS")
	    == 0);
	static uint64_t serial;

	for (i = 0; i < e->nrcpt; i++)
		if (reported(&e->head, &e->rcpts[i], kind))
			nfailed++;
	if (nfailed == 0)
		return 0;	/* nothing to say */
	if (dbl && (kind != DSN_FAILED || rec_get_str(&e->head, "double") !=
	    NULL)) {
		if (kind == DSN_FAILED)
			log_warning("%s: undeliverable report to the "
			    "postmaster: dropped", id);
		return 0;	/* no one to say it to */
	}
	/* the postmaster key (any length) at the host name, or the sender
	 * (a path, as the envelope's checks make sure) */
	buf_init(&to, strlen(config_str(G.cf, NULL, "postmaster")) +
	    sizeof(G.host) + ADDR_PATH_MAX + 2);
	if (dbl)
		double_bounce_to(&to);
	else
		buf_puts(&to, sender);
	(void)rec_get_u64(&e->head, "time", &arrived);
	(void)gettimeofday(&tv, NULL);
	queue_id_make((uint64_t)tv.tv_sec, (uint32_t)tv.tv_usec, ++serial |
	    (uint64_t)1 << 40, bid);
	buf_init(&m, 2 * REPORT_SPILL + 2 * to.len);
	buf_init(&path, 256);
	buf_init(&env, 256 + 2 * to.len);
	buf_init(&tmp, 256);
	queue_path("tmp", bid, &tmp);
	if ((fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600)) == -1)
		goto out;
	date_rfc5322(date, sizeof(date));
	(void)xsnprintf(boundary, sizeof(boundary), "%s/%s", bid, G.host);
	buf_printf(&m, "Received: by %s (Chapar qmgr)\r\n\tid %s;\r\n"
	    "\t%s\r\n", G.host, bid, date);
	buf_printf(&m, "From: Mail Delivery System <MAILER-DAEMON@%s>"
	    "\r\nTo: <%s>\r\nSubject: %s\r\n"
	    "Date: %s\r\nMessage-ID: <%s@%s>\r\nAuto-Submitted: auto-replied"
	    "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n", G.host,
	    buf_cstr(&to), dbl ? "Undeliverable delivery report" : delayed ?
	    "Delayed Mail (still being retried)" : kind == DSN_SUCCESS ?
	    "Successful Mail Delivery Report" :
	    "Undelivered Mail Returned to Sender", date, bid, G.host,
	    boundary);
	buf_printf(&m, "--%s\r\nContent-Type: text/plain; charset="
	    "utf-8\r\n\r\nThis is the mail system at %s.\r\n\r\nYour message "
	    "%s.\r\n\r\n", boundary, G.host, delayed ? "has not been "
	    "delivered to these recipients yet; it is still being tried, and "
	    "you need not send it again" : kind == DSN_SUCCESS ? "was "
	    "delivered to these recipients (or handed on to servers that "
	    "do not report further)" : dbl ? "(a delivery report with no "
	    "sender) could not be delivered" : "could not be delivered to "
	    "one or more recipients");
	for (i = 0; i < e->nrcpt; i++) {
		if (!reported(&e->head, &e->rcpts[i], kind))
			continue;
		buf_printf(&m, "<%s>: %s\r\n", rec_get_str(&e->rcpts[i],
		    "rcpt"), rec_get_str(&e->rcpts[i], "reply"));
		if (spill(fd, &m) == -1)
			goto out;
	}
	/* RFC 3464 2.2: per-message fields, then per recipient */
	dsn_date(arrived, date, sizeof(date));
	/* RFC 6533 6: an SMTPUTF8 message's report is "global" */
	buf_printf(&m, "\r\n--%s\r\nContent-Type: message/%s\r\n\r\n",
	    boundary, global ? "global-delivery-status" : "delivery-status");
	if (envid != NULL)
		buf_printf(&m, "Original-Envelope-Id: %s\r\n", envid);
	buf_printf(&m, "Reporting-MTA: dns; %s\r\nX-Chapar-Queue-ID: "
	    "%s\r\nArrival-Date: %s\r\n", G.host, id, date);
	for (i = 0; i < e->nrcpt; i++) {
		const struct rec *r = &e->rcpts[i];
		const char *orcpt = rec_get_str(r, "orcpt");

		if (!reported(&e->head, r, kind))
			continue;
		if (spill(fd, &m) == -1)
			goto out;
		buf_puts(&m, "\r\n");
		if (orcpt != NULL)
			buf_printf(&m, "Original-Recipient: %s\r\n",
			    orcpt);
		buf_printf(&m, "Final-Recipient: %s; %s\r\n"
		    "Action: %s\r\nStatus: %s\r\nDiagnostic-Code: smtp; "
		    "%s\r\n", global && !is_ascii(rec_get_str(r, "rcpt")) ?
		    "utf-8" : "rfc822", rec_get_str(r, "rcpt"),
		    dsn_action(r, kind),
		    rec_get_str(r, "dsn") ? rec_get_str(r, "dsn") :
		    "4.0.0", rec_get_str(r, "reply") ? rec_get_str(r, "reply") :
		    "not tried yet");
	}
	buf_printf(&m, "\r\n--%s\r\nContent-Type: %s\r\n\r\n",
	    boundary, hdrs ? (global ? "message/global-headers" :
	    "text/rfc822-headers") : global ? "message/global" :
	    "message/rfc822");
	/* the original (or its header) follows from its file */
	queue_path("mess", id, &path);
	if (write_all(fd, m.data, m.len) == -1 ||
	    copy_original(fd, buf_cstr(&path), hdrs) == -1)
		goto out;
	buf_reset(&m);
	buf_printf(&m, "\r\n--%s--\r\n", boundary);
	if (write_all(fd, m.data, m.len) == -1 || fsync(fd) == -1)
		goto out;
	/* its envelope: from <>, to the sender, nothing to notify */
	buf_printf(&env, "v=1\tsender=\tbody=8BITMIME\tprotocol=local\t"
	    "size=%llu\ttime=%lld%s%s\nrcpt=", (unsigned long long)lseek(fd,
	    0, SEEK_END), (long long)now_sec(), rec_get_str(&e->head,
	    "smtputf8") ? "\tsmtputf8=1" : "", dbl ? "\tdouble=1" : "");
	tab_escape(&env, buf_sv(&to));
	buf_puts(&env, "\tnotify=NEVER\n");
	queue_path("mess", bid, &path);
	if (rename(buf_cstr(&tmp), buf_cstr(&path)) == -1 ||
	    fsync_parent(buf_cstr(&path)) == -1)
		goto out;
	queue_path("todo", bid, &path);
	if (file_write_atomic(buf_cstr(&path), env.data, env.len, 0600) == -1)
		goto out;
	log_info("%s: %s %s notification: %s", id, dbl ? "postmaster" :
	    "sender", delayed ? "delay" : kind == DSN_SUCCESS ? "success" :
	    "non-delivery", bid);
	G.rescan = 1;
	ok = 0;
out:
	if (ok == -1) {
		log_error("%s: writing the report: %s", id, strerror(errno));
		(void)unlink(buf_cstr(&tmp));
	}
	if (fd != -1)
		close(fd);
	buf_free(&m);
	buf_free(&path);
	buf_free(&env);
	buf_free(&tmp);
	buf_free(&to);
	return ok;
}

