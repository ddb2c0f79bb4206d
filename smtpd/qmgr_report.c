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
#include "chapar/enqc.h"
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

/* A report on its way to enqueue: its text gathers in m and goes out
 * every REPORT_SPILL bytes. */
struct rpt {
	struct enqc *q;
	struct buf m;
	char id[QUEUE_ID_MAX];
	int failed;
};

static void
rpt_flush(struct rpt *r, int force)
{
	if (r->failed || (!force && r->m.len < REPORT_SPILL))
		return;
	if (enqc_write(r->q, r->m.data, r->m.len) != 0)
		r->failed = 1;
	buf_reset(&r->m);
}

/*
 * The original (or, hdrs, its header: RFC 3462 text/rfc822-headers, up
 * to the empty line) streamed from its file into the report.  0, or -1.
 */
static int
rpt_original(struct rpt *r, const char *path, int hdrs)
{
	char b[65536];
	uint64_t want = UINT64_MAX, pos = 0;
	ssize_t n = 0, i;
	int fd, st = 0, ret = -1;

	rpt_flush(r, 1);
	if (r->failed || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
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
		if (enqc_write(r->q, b, (size_t)n) != 0) {
			r->failed = 1;
			goto out;
		}
		want -= (uint64_t)n;
	}
	ret = n == -1 ? -1 : 0;
out:
	close(fd);
	return ret;
}

/* The report opened with enqueue: from <>, to one recipient who is told
 * of nothing (RFC 3461 6.2), a report of reports marked double.  0, or
 * -1 with why logged. */
static int
rpt_open(struct rpt *r, const char *id, const struct queue_env *e,
    const struct buf *to, int dbl)
{
	struct buf env, err;
	int ret;

	buf_init(&err, 1024);
	if (enqc_connect(config_str(G.cf, NULL, "enqueue_socket"), 60000,
	    &r->q, &err) == -1) {
		log_warning("%s: no report now: %s", id, buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	buf_init(&env, 256 + 2 * to->len);
	buf_printf(&env, "v=1\tsender=\tbody=8BITMIME\tprotocol=local%s%s"
	    "\nrcpt=", rec_get_str(&e->head, "smtputf8") ? "\tsmtputf8=1" :
	    "", dbl ? "\tdouble=1" : "");
	tab_escape(&env, buf_sv(to));
	buf_puts(&env, "\tnotify=NEVER\n");
	if ((ret = enqc_begin(r->q, buf_sv(&env), r->id, &err)) != 0) {
		log_warning("%s: no report now: %s", id, buf_cstr(&err));
		enqc_close(&r->q);
	}
	buf_free(&env);
	buf_free(&err);
	return ret == 0 ? 0 : -1;
}

/* The header and the part for people (RFC 3464 2, RFC 3462). */
static void
rpt_text(struct rpt *r, const struct queue_env *e, enum dsn_kind kind,
    const struct buf *to, int dbl, const char *boundary)
{
	int delayed = kind == DSN_DELAYED;
	char date[64];
	size_t i;

	date_rfc5322(date, sizeof(date));
	buf_printf(&r->m, "Received: by %s (Chapar qmgr)\r\n\tid %s;\r\n"
	    "\t%s\r\n", G.host, r->id, date);
	buf_printf(&r->m, "From: Mail Delivery System <MAILER-DAEMON@%s>"
	    "\r\nTo: <%s>\r\nSubject: %s\r\n"
	    "Date: %s\r\nMessage-ID: <%s@%s>\r\nAuto-Submitted: auto-replied"
	    "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n", G.host,
	    buf_cstr(to), dbl ? "Undeliverable delivery report" : delayed ?
	    "Delayed Mail (still being retried)" : kind == DSN_SUCCESS ?
	    "Successful Mail Delivery Report" :
	    "Undelivered Mail Returned to Sender", date, r->id, G.host,
	    boundary);
	buf_printf(&r->m, "--%s\r\nContent-Type: text/plain; charset="
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
		buf_printf(&r->m, "<%s>: %s\r\n", rec_get_str(&e->rcpts[i],
		    "rcpt"), rec_get_str(&e->rcpts[i], "reply"));
		rpt_flush(r, 0);
	}
}

/* The machine-readable part: RFC 3464 2.2 per-message fields, then per
 * recipient; RFC 6533 6: an SMTPUTF8 message's report is "global". */
static void
rpt_status(struct rpt *r, const char *id, const struct queue_env *e,
    enum dsn_kind kind, int global, const char *boundary)
{
	const char *envid = rec_get_str(&e->head, "envid");
	uint64_t arrived = 0;
	char date[64];
	size_t i;

	(void)rec_get_u64(&e->head, "time", &arrived);
	dsn_date(arrived, date, sizeof(date));
	buf_printf(&r->m, "\r\n--%s\r\nContent-Type: message/%s\r\n\r\n",
	    boundary, global ? "global-delivery-status" : "delivery-status");
	if (envid != NULL)
		buf_printf(&r->m, "Original-Envelope-Id: %s\r\n", envid);
	buf_printf(&r->m, "Reporting-MTA: dns; %s\r\nX-Chapar-Queue-ID: "
	    "%s\r\nArrival-Date: %s\r\n", G.host, id, date);
	for (i = 0; i < e->nrcpt; i++) {
		const struct rec *rc = &e->rcpts[i];
		const char *orcpt = rec_get_str(rc, "orcpt");

		if (!reported(&e->head, rc, kind))
			continue;
		rpt_flush(r, 0);
		buf_puts(&r->m, "\r\n");
		if (orcpt != NULL)
			buf_printf(&r->m, "Original-Recipient: %s\r\n",
			    orcpt);
		buf_printf(&r->m, "Final-Recipient: %s; %s\r\n"
		    "Action: %s\r\nStatus: %s\r\nDiagnostic-Code: smtp; "
		    "%s\r\n", global && !is_ascii(rec_get_str(rc, "rcpt")) ?
		    "utf-8" : "rfc822", rec_get_str(rc, "rcpt"),
		    dsn_action(rc, kind),
		    rec_get_str(rc, "dsn") ? rec_get_str(rc, "dsn") :
		    "4.0.0", rec_get_str(rc, "reply") ? rec_get_str(rc,
		    "reply") : "not tried yet");
	}
}

/*
 * Does the whole original fit in a report that enqueue takes
 * (message_size_limit, and 64 kB over it)?  When not, the report carries
 * its header only, as it would with RET=HDRS.
 */
static int
original_fits(const struct queue_env *e, size_t nrcpt)
{
	uint64_t limit = config_num(G.cf, NULL, "message_size_limit"), size;

	if (limit == 0 || rec_get_u64(&e->head, "size", &size) == -1)
		return 1;
	return size + 16384 + (uint64_t)nrcpt * 2048 <= limit;
}

/*
 * The report of the failed recipients (or, delayed, of those still
 * waiting; or of those delivered who asked to hear of it), to the
 * sender, as a new message from <>: through enqueue, the queue's only
 * writer, as any other message, the original streamed from its file.
 * A failed report goes to the postmaster, marked so that its own
 * failure is only logged: reports never loop.  0, or -1 and it is tried
 * again on the next run.
 */
int
report(const char *id, const struct queue_env *e, enum dsn_kind kind)
{
	const char *sender = rec_get_str(&e->head, "sender");
	const char *ret = rec_get_str(&e->head, "ret");
	struct buf path, to, reply;
	struct rpt r;
	char boundary[128];
	size_t i, nreported = 0;
	int dbl = sender == NULL || sender[0] == '\0';
	int global = rec_get_str(&e->head, "smtputf8") != NULL;
	int hdrs, ok = -1;

	for (i = 0; i < e->nrcpt; i++)
		if (reported(&e->head, &e->rcpts[i], kind))
			nreported++;
	if (nreported == 0)
		return 0;	/* nothing to say */
	if (dbl && (kind != DSN_FAILED || rec_get_str(&e->head, "double") !=
	    NULL)) {
		if (kind == DSN_FAILED)
			log_warning("%s: undeliverable report to the "
			    "postmaster: dropped", id);
		return 0;	/* no one to say it to */
	}
	/* a delay or success notice carries the header only */
	hdrs = kind != DSN_FAILED || (ret != NULL && strcmp(ret, "HDRS") ==
	    0) || !original_fits(e, nreported);
	/* the postmaster key (any length) at the host name, or the sender
	 * (a path, as the envelope's checks make sure) */
	buf_init(&to, strlen(config_str(G.cf, NULL, "postmaster")) +
	    sizeof(G.host) + ADDR_PATH_MAX + 2);
	if (dbl)
		double_bounce_to(&to);
	else
		buf_puts(&to, sender);
	memset(&r, 0, sizeof(r));
	if (rpt_open(&r, id, e, &to, dbl) == -1) {
		buf_free(&to);
		return -1;
	}
	buf_init(&r.m, 2 * REPORT_SPILL + 2 * to.len);
	buf_init(&path, 256);
	buf_init(&reply, 1024);
	(void)xsnprintf(boundary, sizeof(boundary), "%s/%s", r.id, G.host);
	rpt_text(&r, e, kind, &to, dbl, boundary);
	rpt_status(&r, id, e, kind, global, boundary);
	buf_printf(&r.m, "\r\n--%s\r\nContent-Type: %s\r\n\r\n",
	    boundary, hdrs ? (global ? "message/global-headers" :
	    "text/rfc822-headers") : global ? "message/global" :
	    "message/rfc822");
	queue_path("mess", id, &path);
	if (rpt_original(&r, buf_cstr(&path), hdrs) == 0) {
		buf_printf(&r.m, "\r\n--%s--\r\n", boundary);
		rpt_flush(&r, 1);
	} else
		r.failed = 1;
	if (!r.failed && enqc_commit(r.q, SV_LIT(""), &reply) == 0) {
		log_info("%s: %s %s notification: %s", id, dbl ? "postmaster" :
		    "sender", kind == DSN_DELAYED ? "delay" : kind ==
		    DSN_SUCCESS ? "success" : "non-delivery", r.id);
		ok = 0;
	} else {
		log_error("%s: the report was not queued: %s", id, reply.len ?
		    buf_cstr(&reply) : "enqueue failed or the original is "
		    "unreadable");
		enqc_abort(r.q);
	}
	enqc_close(&r.q);
	buf_free(&r.m);
	buf_free(&path);
	buf_free(&reply);
	buf_free(&to);
	return ok;
}
