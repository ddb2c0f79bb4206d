/*
 * chapar: the admin command.  Runs as root or as the instance's owner;
 * never talks to the network except authd's local socket and DNS.  The
 * user database, mail stores and the queue are opened only by a child
 * process that has given up root (child.c): as the owner of db_dir, as
 * mail_user, as queue_user.
 */
#include <sys/stat.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/addr.h"
#include "chapar/log.h"
#include "chapar/paths.h"
#include "chapar/passwd.h"
#include "chapar/util.h"

struct opts opt;

static const char usage_text[] =
"usage: chapar [-c file] [--json] command ...\n"
"\n"
"  init [dir]                        create an instance (config, databases,\n"
"                                    a self-signed certificate)\n"
"  config check | show [-nx]         validate / print the configuration\n"
"  domain add|del DOMAIN | list | quota DOMAIN SIZE\n"
"  user add ADDRESS [--quota SIZE] [--name NAME] [--password-stdin]\n"
"  user passwd ADDRESS [--password-stdin]\n"
"  user del|restore|disable|enable ADDRESS\n"
"  user purge ADDRESS [--force] | purge --expired\n"
"  user quota ADDRESS SIZE\n"
"  user list [DOMAIN] | show ADDRESS\n"
"  alias add ADDRESS DEST... | del ADDRESS [DEST...] | list [DOMAIN]\n"
"  mailbox list USER | create USER FOLDER [SPECIAL-USE]\n"
"  mailbox delete USER FOLDER | rename USER OLD NEW\n"
"  reindex USER [FOLDER] [--force]  the index from the maildir again\n"
"  quota show|recalc USER|@DOMAIN\n"
"  import USER FILE|DIR [FOLDER]     an mbox, a Maildir(++) or one message\n"
"  export USER [FOLDER] DIR|FILE.mbox\n"
"  auth test ADDRESS [--password-stdin] | lookup ADDRESS | user NAME\n"
"  status [--json] | reload | stop    drive chapard\n"
"  tls check                         the configured certificates\n"
"  dns lookup mx|a|addr|txt|ptr NAME what the resolver finds\n"
"  dns DOMAIN                        the records the domain needs\n"
"  queue list | show ID | flush | hold ID | release ID | delete ID\n"
"  queue requeue ID\n"
"  dkim keygen|rotate DOMAIN [SELECTOR] | list\n"
"\n"
"See chapar(8).\n";

void
usage(void)
{
	fputs(usage_text, stderr);
	exit(EX_USAGE);
}

void
die(int code, const char *fmt, ...)
{
	struct buf msg, out;
	va_list ap;

	child_abandon();
	buf_init(&msg, 8192);
	buf_init(&out, 4 * 8192 + 64);
	va_start(ap, fmt);
	/* a message that does not fit is left out: it is ending anyway */
	if (buf_try_vprintf(&msg, fmt, ap) == -1)
		buf_puts(&msg, "(a message too long to show)");
	va_end(ap);
	/* one line, whatever the names in it hold */
	esc_message(&out, buf_sv(&msg));
	fprintf(stderr, "chapar: %s\n", buf_cstr(&out));
	exit(code);
}

struct config *
load_config(void)
{
	struct config *cf;
	struct buf err;

	buf_init(&err, 4096);
	if (config_load(opt.conf, &cf, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	buf_free(&err);
	return cf;
}

/*
 * In a child of db_run, as the owner of db_dir (the auth user on a real
 * install) and, when run by root, chrooted into it.  Signals that would
 * end the process in the middle of a transaction are held until the
 * database is closed (the parent passes the admin's ^C on).
 */
static sigset_t saved_mask;

struct userdb *
open_userdb(struct config *cf, int create)
{
	const char *dir = config_str(cf, NULL, "db_dir");
	struct userdb *u;
	struct buf err;
	sigset_t block;
	int r;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigprocmask(SIG_BLOCK, &block, &saved_mask);
	buf_init(&err, 4096);
	/* inside the chroot the environment is at "/", as for authd */
	r = child_jailed() ? userdb_open_dir("/", create, &u, &err) :
	    userdb_open(cf, create, &u, &err);
	if (r == -1)
		die(EX_TEMP, "user database %s: %s%s", dir, buf_cstr(&err),
		    create ? "" : " (did you run \"chapar init\"?)");
	buf_free(&err);
	return u;
}

void
close_userdb(struct userdb **u)
{
	userdb_close(u);
	sigprocmask(SIG_SETMASK, &saved_mask, NULL);
}

void
arg_key(const char *arg, int catchall, struct buf *key)
{
	struct addr a;
	const char *err;

	buf_reset(key);
	if (catchall && arg[0] == '@') {
		struct buf dom;

		buf_init(&dom, 1024);
		arg_domain(arg + 1, &dom);
		buf_printf(key, "@%s", buf_cstr(&dom));
		buf_free(&dom);
		return;
	}
	addr_init(&a);
	if (addr_parse(sv_from(arg), ADDR_UTF8, &a, &err) == -1)
		die(EX_USAGE, "%s: not a valid address: %s", log_esc_str(arg),
		    err);
	addr_key(&a, key);
	addr_free(&a);
}

void
arg_domain(const char *arg, struct buf *dom)
{
	const char *err;

	buf_reset(dom);
	if (addr_domain_normalize(sv_from(arg), ADDR_UTF8, dom, &err) == -1)
		die(EX_USAGE, "%s: not a valid domain: %s", log_esc_str(arg),
		    err);
}

static void
read_line_noecho(const char *prompt, struct buf *out)
{
	struct termios t, saved;
	int c, tty = isatty(0);

	if (tty) {
		fputs(prompt, stderr);
		fflush(stderr);
		if (tcgetattr(0, &t) == -1)
			die(EX_FAIL, "tcgetattr: %s", strerror(errno));
		saved = t;
		t.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(0, TCSAFLUSH, &t);
	}
	buf_reset(out);
	while ((c = getchar()) != EOF && c != '\n')
		if (buf_try_putc(out, c) == -1)
			die(EX_USAGE, "password too long");
	if (out->len > 0 && out->data[out->len - 1] == '\r')
		buf_truncate(out, out->len - 1);
	if (tty) {
		(void)tcsetattr(0, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
}

/* Passwords come from the terminal without echo or, with
 * --password-stdin, from the first line of standard input; never from
 * the command line, where ps(1) would show them. */
void
read_password(int twice, struct buf *out)
{
	struct buf again;

	if (!opt.password_stdin && !isatty(0))
		die(EX_USAGE, "no terminal to ask for the password; use "
		    "--password-stdin");
	read_line_noecho("Password: ", out);
	if (out->len == 0)
		die(EX_USAGE, "empty password");
	if (memchr(out->data, '\0', out->len) != NULL)
		die(EX_USAGE, "the password contains a NUL byte");
	if (out->len > PASSWD_MAX)
		die(EX_USAGE, "the password is longer than %d bytes",
		    PASSWD_MAX);
	if (twice && !opt.password_stdin) {
		buf_init(&again, 4096);
		read_line_noecho("Again: ", &again);
		if (!sv_eq(buf_sv(out), buf_sv(&again)))
			die(EX_USAGE, "the passwords differ");
		explicit_bzero(again.data, again.cap);
		buf_free(&again);
	}
}

/* Pull options out of argv wherever they are; leave the words. */
static int
parse_opts(int argc, char **argv, char **words)
{
	int i, n = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

#define VALUE(dst)                                                             \
	do {                                                                   \
		if (i + 1 >= argc)                                             \
			die(EX_USAGE, "%s needs a value", a);                  \
		dst = argv[++i];                                               \
	} while (0)
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
			VALUE(opt.conf);
		else if (strcmp(a, "--quota") == 0)
			VALUE(opt.quota);
		else if (strcmp(a, "--name") == 0)
			VALUE(opt.name);
		else if (strcmp(a, "--json") == 0)
			opt.json = 1;
		else if (strcmp(a, "--password-stdin") == 0)
			opt.password_stdin = 1;
		else if (strcmp(a, "--all") == 0)
			opt.all = 1;
		else if (a[0] == '-' && a[1] != '-' && a[1] != '\0' &&
		    strspn(a + 1, "nx") == strlen(a + 1)) {
			/* -n, -x, -nx, -xn */
			opt.nondefault |= strchr(a, 'n') != NULL;
			opt.expand |= strchr(a, 'x') != NULL;
		}
		else if (strcmp(a, "--force") == 0)
			opt.force = 1;
		else if (strcmp(a, "--expired") == 0)
			opt.expired = 1;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			usage();
		else if (strcmp(a, "--version") == 0) {
			printf("chapar %s\n", CHAPAR_VERSION);
			exit(0);
		} else if (strcmp(a, "--") == 0) {
			while (++i < argc)
				words[n++] = argv[i];
		} else if (a[0] == '-' && a[1] != '\0')
			die(EX_USAGE, "unknown option %s (see chapar -h)", a);
		else
			words[n++] = argv[i];
#undef VALUE
	}
	words[n] = NULL;
	return n;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "init", cmd_init }, { "config", cmd_config },
		{ "domain", cmd_domain }, { "user", cmd_user },
		{ "alias", cmd_alias }, { "auth", cmd_auth },
		{ "status", cmd_ctl }, { "reload", cmd_ctl },
		{ "stop", cmd_ctl }, { "tls", cmd_tls },
		{ "mailbox", cmd_mailbox }, { "reindex", cmd_reindex },
		{ "quota", cmd_quota }, { "import", cmd_import },
		{ "export", cmd_export }, { "dns", cmd_dns },
		{ "queue", cmd_queue }, { "dkim", cmd_dkim },
	};
	char **words;
	size_t i;
	int n;

	log_open("chapar", LOG_TO_STDERR);
	log_set_level(LOGL_WARNING);
	umask(022);
	words = xcalloc((size_t)argc + 1, sizeof(char *));
	n = parse_opts(argc, argv, words);
	if (opt.conf == NULL)
		opt.conf = config_default_path();
	if (n == 0)
		usage();
	for (i = 0; i < NELEM(cmds); i++)
		if (strcmp(words[0], cmds[i].name) == 0) {
			n = cmds[i].fn(n, words);
			free(words);
			return n;
		}
	die(EX_USAGE, "unknown command \"%s\" (see chapar -h)",
	    log_esc_str(words[0]));
}
