/*
 * smtpd: the SMTP server (smtpd(8)) -- MX on port 25, submission on 587
 * (STARTTLS) and 465 (implicit TLS).  A chapard pool worker: it connects
 * to authd and enqueue(8) as root, then runs as its service user chrooted
 * into an empty directory; it can neither read the queue nor the mail
 * store, only hand messages to enqueue.
 */
#include "chapar/worker.h"
#include "smtpd.h"

static const struct worker_service smtpd_service = {
	.name = "smtpd",
	.auth = 1,
	.tls = 1,
	.enqueue = 1,
	.busy_reply = "421 4.7.0 too busy, try again later\r\n",
	.connect = smtp_filters_connect,
	.serve = smtp_session,
};

int
main(int argc, char **argv)
{
	return worker_run(argc, argv, &smtpd_service);
}
