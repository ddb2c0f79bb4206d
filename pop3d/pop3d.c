/*
 * pop3d: the POP3 server (pop3d(8)) -- 110 with STLS, 995 implicit TLS.
 * A chapard pool worker for the AUTHORIZATION state (authd connected as
 * root, then the service user in an empty chroot); after a login,
 * chapard starts it again with -P as the session side, mail_user in the
 * user's own directory.
 */
#include "chapar/worker.h"
#include "pop3.h"

static const struct worker_service pop3d_service = {
	.name = "pop3",
	.auth = 1,
	.tls = 1,
	.busy_reply = "-ERR [SYS/TEMP] too many connections; try again "
	    "later\r\n",
	.serve = pop3_login,
	.post_login = pop3_session,
};

int
main(int argc, char **argv)
{
	return worker_run(argc, argv, &pop3d_service);
}
