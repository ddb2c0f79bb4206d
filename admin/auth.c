/*
 * auth.c: "chapar auth": ask the running authd, as the daemons do
 * (like "doveadm auth test").
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "chapar/authc.h"
#include "chapar/util.h"

static void
print_fields(const struct authc_reply *r)
{
	size_t i;

	/* authd's words: the user database's text, escaped */
	for (i = 0; i < r->fields.n; i++)
		printf("  %s: %s\n", esc(r->fields.names[i]),
		    esc(buf_cstr(&r->fields.vals[i])));
}

int
cmd_auth(int argc, char **argv)
{
	struct config *cf;
	struct authc *c;
	struct authc_reply rep;
	struct buf err, pw, msg;
	struct sv initial;
	int ret = EX_OK, r;

	if (argc != 3)
		usage();
	cf = load_config();
	buf_init(&err, 1024);
	authc_reply_init(&rep);
	if (authc_connect(config_str(cf, NULL, "auth_socket"), 10000, &c,
	    &err) == -1)
		die(EX_TEMP, "%s", buf_cstr(&err));
	if (strcmp(argv[1], "test") == 0) {
		buf_init(&pw, 4096);
		read_password(0, &pw);
		/* sized for what goes in: the name is the admin's input */
		buf_init(&msg, strlen(argv[2]) + pw.len + 2);
		/* RFC 4616: NUL authcid NUL passwd */
		buf_putc(&msg, '\0');
		buf_puts(&msg, argv[2]);
		buf_putc(&msg, '\0');
		buf_append(&msg, pw.data, pw.len);
		initial = buf_sv(&msg);
		/* No client address: an admin's typo must not count against
		 * every local client. */
		r = authc_auth(c, "PLAIN", "admin", "", AUTHC_SECURED,
		    &initial, &rep, &err);
		explicit_bzero(msg.data, msg.cap);
		explicit_bzero(pw.data, pw.cap);
		buf_free(&msg);
		buf_free(&pw);
	} else if (strcmp(argv[1], "lookup") == 0)
		r = authc_rcpt(c, argv[2], &rep, &err);
	else if (strcmp(argv[1], "user") == 0)
		r = authc_user(c, argv[2], &rep, &err);
	else
		usage();
	if (r == -1)
		die(EX_TEMP, "%s", buf_cstr(&err));
	printf("%s: %s\n", esc(argv[2]), esc(buf_cstr(&rep.verb)));
	print_fields(&rep);
	if (strcmp(buf_cstr(&rep.verb), "FAIL") == 0)
		ret = rec_get(&rep.fields, "temp") ? EX_TEMP : EX_FAIL;
	else if (strcmp(buf_cstr(&rep.verb), "NOTFOUND") == 0 ||
	    strcmp(buf_cstr(&rep.verb), "NOTLOCAL") == 0)
		ret = EX_FAIL;
	authc_close(&c);
	authc_reply_free(&rep);
	buf_free(&err);
	config_free(&cf);
	return ret;
}
