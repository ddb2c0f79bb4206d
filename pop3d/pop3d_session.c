/*
 * pop3d-session: the session side of pop3d(8) on its own -- started by
 * chapard after a login, mail_user in the user's directory, the
 * TRANSACTION and UPDATE states (pop3_session.c).  A program of its own
 * so that a logged-in session maps none of OpenSSL: TLS stays with the
 * login worker, which relays the plaintext.
 */
#include "chapar/worker.h"
#include "pop3.h"

static const struct worker_service pop3d_session_service = {
	.name = "pop3",
	.post_login = pop3_session,
};

int
main(int argc, char **argv)
{
	return worker_session_main(argc, argv, &pop3d_session_service);
}
