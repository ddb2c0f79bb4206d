/* Unit tests: chapar.conf parsing, typing, $expansion and every error
 * path (each error names file:line and the expected form). */
#include <string.h>

#include "chapar/config.h"
#include "chapar/paths.h"
#include "chapar/util.h"
#include "harness.h"

static struct config *
parse(const char *text, struct buf *err)
{
	struct config *c = NULL;

	buf_reset(err);
	(void)config_parse("/etc/chapar/chapar.conf", text, strlen(text), &c,
	    err);
	return c;
}

/* Parse must fail with a message containing want. */
static int
fails_with(const char *text, const char *want)
{
	struct buf err;
	struct config *c;
	int ok;

	buf_init(&err, 0);
	c = parse(text, &err);
	ok = c == NULL && strstr(buf_cstr(&err), want) != NULL;
	if (!ok)
		t_failf(__FILE__, __LINE__, "for %s: got \"%s\", want \"%s\"",
		    text, buf_cstr(&err), want);
	config_free(&c);
	buf_free(&err);
	return ok;
}

static void
config_defaults_and_types(void)
{
	struct buf err;
	struct config *c;
	const char *const *items;

	buf_init(&err, 0);
	c = parse("", &err);
	T_ASSERT(c != NULL);
	T_EQ_INT(config_num(c, NULL, "default_quota"), 2ULL << 30);
	T_EQ_INT(config_num(c, NULL, "user_delete_grace"), 30 * 86400);
	T_EQ_STR(config_str(c, NULL, "db_dir"), CHAPAR_LOCALSTATEDIR "/db");
	T_EQ_STR(config_str(c, NULL, "tls_cert_file"),
	    "/etc/chapar/tls/cert.pem");
	T_EQ_STR(config_str(c, NULL, "auth_socket"),
	    CHAPAR_LOCALSTATEDIR "/run/auth.sock");
	(void)items;
	config_free(&c);
	T_ASSERT(c == NULL);
	buf_free(&err);
}

static void
config_values_sections_expansion(void)
{
	struct buf err;
	struct config *c;

	buf_init(&err, 0);
	c = parse("# comment\n"
	    "data_dir = /srv/mail\n"
	    "   # indented comment\n"
	    "default_quota = 512M\n"
	    "user_delete_grace = 1d12h\n"
	    "auth_fail_delay_after = 5\n"
	    "recipient_delimiter = +-\n"
	    "mail_dir = ${data_dir}/store/$$x\n"
	    "run_dir = $data_dir/r\r\n"
	    "\n"
	    "[authd]\n"
	    "log_level =\n"
	    "  debug\n", &err);
	T_ASSERT(c != NULL);
	T_EQ_INT(config_num(c, NULL, "default_quota"), 512ULL << 20);
	T_EQ_INT(config_num(c, NULL, "user_delete_grace"), 86400 + 12 * 3600);
	T_EQ_INT(config_num(c, NULL, "auth_fail_delay_after"), 5);
	T_EQ_STR(config_str(c, NULL, "recipient_delimiter"), "+-");
	T_EQ_STR(config_str(c, NULL, "mail_dir"), "/srv/mail/store/$x");
	T_EQ_STR(config_str(c, NULL, "run_dir"), "/srv/mail/r");
	T_EQ_STR(config_str(c, NULL, "db_dir"), "/srv/mail/db");
	T_EQ_STR(config_str(c, "authd", "log_level"), "debug");
	T_EQ_STR(config_str(c, NULL, "log_level"), "info");
	T_EQ_STR(config_str(c, "chapar", "log_level"), "info");
	config_free(&c);
	buf_free(&err);
}

static void
config_errors_name_line_and_form(void)
{
	fails_with("data_dir = /x\nfoo = 1\n",
	    "/etc/chapar/chapar.conf:2: unknown key \"foo\"");
	fails_with("default_quata = 1G\n", "did you mean \"default_quota\"");
	fails_with("default_quota = 2X\n", ":1: default_quota = \"2X\": "
	    "expected a size");
	fails_with("default_quota = 99999999999999999999999\n",
	    "expected a size");
	fails_with("user_delete_grace = 1h30\n", "expected a duration");
	fails_with("user_delete_grace = 5y\n", "expected a duration");
	fails_with("auth_fail_delay_after = -1\n", "expected a whole number "
	    "from 0 to 1000");
	fails_with("scram_iterations = 100\n", "from 4096 to 1000000");
	fails_with("data_dir = relative/path\n", "expected an absolute path");
	fails_with("data_dir /x\n", ":1: expected \"=\" after \"data_dir\"");
	fails_with("= 3\n", ":1: expected \"key = value\"");
	fails_with("  indented = 1\n", ":1: continuation line");
	fails_with("[nosuch]\n", ":1: unknown service \"nosuch\"");
	fails_with("[authd\n", "expected a section header");
	fails_with("[authd]\ndata_dir = /x\n", ":2: data_dir cannot be set "
	    "for one service");
	fails_with("log_level = a\nlog_level = b\n",
	    ":2: log_level is already set at line 1");
	fails_with("mail_dir = $nosuch/x\n", "unknown variable \"$nosuch\"");
	fails_with("mail_dir = ${data_dir/x\n", "expected a variable name");
	fails_with("hostname = $\n", "expected a variable name");
	fails_with("data_dir = $db_dir\n", "nested too deeply");
	fails_with("log_level = loud\n", ":1: log_level = \"loud\": expected "
	    "one of: debug info warning error");
	fails_with("[authd]\nlog_level = infoo\n", ":2: log_level");
	fails_with("log_facility = mial\n", "expected one of: mail daemon");
}

static void
config_refuses_nul(void)
{
	static const char text[] = "hostname = a\0b\n";
	struct config *c;
	struct buf err;

	buf_init(&err, 0);
	T_ASSERT(config_parse("x.conf", text, sizeof(text) - 1, &c, &err) ==
	    -1);
	T_ASSERT(strstr(buf_cstr(&err), "NUL byte") != NULL);
	buf_free(&err);
}

/* A value at the 64 KB limit and "$$" after it ended the parser with a
 * panic; an error quoting a long file name and value must fit the
 * caller's err, cut. */
static void
config_long_values(void)
{
	struct config *c;
	struct buf text, err, name;
	size_t i;

	buf_init(&text, 0);
	buf_init(&err, 1024);
	buf_init(&name, 0);
	buf_puts(&text, "hostname = ");
	for (i = 0; i < 65000; i++)
		buf_putc(&text, 'a');
	buf_puts(&text, "\ntls_ciphers = ${hostname}");
	for (i = 0; i < 536; i++)
		buf_putc(&text, 'b');
	buf_puts(&text, "$$\n");
	T_EQ_INT(config_parse("x.conf", text.data, text.len, &c, &err), -1);
	T_ASSERT(strstr(buf_cstr(&err), "value too long") != NULL);
	/* "unknown service" lists the services after the message */
	buf_puts(&name, "/");
	for (i = 0; i < 2000; i++)
		buf_puts(&name, "d/");
	buf_puts(&name, "x.conf");
	T_EQ_INT(config_parse(buf_cstr(&name), "[myown]\n", 8, &c, &err), -1);
	T_EQ_INT(err.len, 1024);
	T_ASSERT(strncmp(buf_cstr(&err), "/d/d/", 5) == 0);
	T_ASSERT(strcmp(buf_cstr(&err) + 1021, "...") == 0);
	buf_free(&text);
	buf_free(&err);
	buf_free(&name);
}

static void
config_bools_and_sizes(void)
{
	uint64_t v;
	int b;

	T_ASSERT(cfg_parse_bool(sv_from("Yes"), &b) == 0 && b == 1);
	T_ASSERT(cfg_parse_bool(sv_from("off"), &b) == 0 && b == 0);
	T_ASSERT(cfg_parse_bool(sv_from("maybe"), &b) == -1);
	T_ASSERT(cfg_parse_size(sv_from("25M"), &v) == 0 && v == 25 << 20);
	T_ASSERT(cfg_parse_size(sv_from("25MB"), &v) == 0 && v == 25 << 20);
	T_ASSERT(cfg_parse_size(sv_from("100"), &v) == 0 && v == 100);
	T_ASSERT(cfg_parse_size(sv_from("100B"), &v) == 0 && v == 100);
	T_ASSERT(cfg_parse_size(sv_from("1T"), &v) == 0 && v == 1ULL << 40);
	T_ASSERT(cfg_parse_size(sv_from("M"), &v) == -1);
	T_ASSERT(cfg_parse_size(sv_from("1MM"), &v) == -1);
	T_ASSERT(cfg_parse_size(sv_from("17179869184G"), &v) == -1);
	T_ASSERT(cfg_parse_duration(sv_from("90"), &v) == 0 && v == 90);
	T_ASSERT(cfg_parse_duration(sv_from("2w"), &v) == 0 && v == 1209600);
	T_ASSERT(cfg_parse_duration(sv_from("1h30m"), &v) == 0 && v == 5400);
	T_ASSERT(cfg_parse_duration(sv_from(""), &v) == -1);
	T_ASSERT(cfg_parse_duration(sv_from("m"), &v) == -1);
}

/* front = yes: plaintext TCP listeners of an SMTP service only, with the
 * line of the front key in the message. */
static void
config_front_plaintext_only(void)
{
	struct buf err;
	struct config *c;

	buf_init(&err, 0);
	c = parse("[smtpd]\nlisten = *:25\nfront = yes\n", &err);
	T_ASSERT(c != NULL);
	T_ASSERT(config_bool(c, "smtpd", "front"));
	T_ASSERT(!config_bool(c, "submission", "front"));
	T_EQ_INT(config_num(c, "smtpd", "front_max_connections"), 10000);
	config_free(&c);
	buf_free(&err);
	T_ASSERT(fails_with("[smtps]\nlisten_tls = *:465\nfront = yes\n",
	    "chapar.conf:3: front = yes needs plaintext listeners, but "
	    "[smtps] has listen_tls (line 2)"));
	T_ASSERT(fails_with("[smtpd]\nfront = yes\nlisten = /run/x.sock\n",
	    "chapar.conf:2: front = yes needs TCP listeners"));
	T_ASSERT(fails_with("[pop3]\nlisten = *:110\nfront = yes\n",
	    "chapar.conf:3: front = yes is for SMTP services"));
	T_ASSERT(fails_with("front = yes\n", "front belongs to a service"));
}

static void
config_load_reads_files(void)
{
	char path[512];
	struct config *c;
	struct buf err;

	buf_init(&err, 0);
	(void)xsnprintf(path, sizeof(path), "%s/c.conf", t_tmpdir());
	T_ASSERT(file_write_atomic(path, "default_quota = 1G\n", 19, 0644) ==
	    0);
	T_ASSERT(config_load(path, &c, &err) == 0);
	T_EQ_INT(config_num(c, NULL, "default_quota"), 1ULL << 30);
	config_free(&c);
	T_ASSERT(file_write_atomic(path, "x\n", 2, 0666) == 0);
	T_ASSERT(config_load(path, &c, &err) == -1);
	T_ASSERT(strstr(buf_cstr(&err), "anyone may write") != NULL);
	T_ASSERT(config_load("/nonexistent/x.conf", &c, &err) == -1);
	T_ASSERT(strstr(buf_cstr(&err), "cannot read") != NULL);
	buf_free(&err);
}

T_SUITE(suite_config)
{
	t_run("config_defaults_and_types", config_defaults_and_types);
	t_run("config_values_sections_expansion",
	    config_values_sections_expansion);
	t_run("config_errors_name_line_and_form",
	    config_errors_name_line_and_form);
	t_run("config_refuses_nul", config_refuses_nul);
	t_run("config_long_values", config_long_values);
	t_run("config_bools_and_sizes", config_bools_and_sizes);
	t_run("config_load_reads_files", config_load_reads_files);
	t_run("config_front_plaintext_only", config_front_plaintext_only);
}
