/* Unit tests: SMTP command-line syntax (smtpd/smtp_parse.c). */
#include <string.h>

#include "../../smtpd/smtp.h"
#include "harness.h"

static void
smtp_split_lines(void)
{
	struct sv v, a;

	T_ASSERT(smtp_split(SV_LIT("MAIL FROM:<a@b>"), &v, &a) == 0);
	T_ASSERT(sv_eq_str(v, "MAIL") && sv_eq_str(a, "FROM:<a@b>"));
	T_ASSERT(smtp_split(SV_LIT("QUIT"), &v, &a) == 0 && a.n == 0);
	T_ASSERT(smtp_split(SV_LIT(""), &v, &a) == -1);
	T_ASSERT(smtp_split(SV_LIT("MA1L x"), &v, &a) == -1);
	T_ASSERT(smtp_split(SV_LIT("MAIL\tx"), &v, &a) == -1);
	T_ASSERT(smtp_split(SV_LIT("ABCDEFGHIJKLMN"), &v, &a) == -1);
}

static void
smtp_paths_and_params(void)
{
	struct sv path, params, k, val;
	const char *why;

	T_ASSERT(smtp_path_args(SV_LIT("FROM:<a@b.example> SIZE=10 BODY=8BITMIME"),
	    "FROM:", &path, &params, &why) == 0);
	T_ASSERT(sv_eq_str(path, "<a@b.example>"));
	T_EQ_INT(smtp_param_next(&params, &k, &val), 1);
	T_ASSERT(sv_eq_str(k, "SIZE") && sv_eq_str(val, "10"));
	T_EQ_INT(smtp_param_next(&params, &k, &val), 1);
	T_ASSERT(sv_eq_str(k, "BODY") && sv_eq_str(val, "8BITMIME"));
	T_EQ_INT(smtp_param_next(&params, &k, &val), 0);
	/* a space after the colon is common; a '>' inside quotes is not
	 * the end */
	T_ASSERT(smtp_path_args(SV_LIT("to: <\"a>b\"@c.example> NOTIFY=NEVER"),
	    "TO:", &path, &params, &why) == 0);
	T_ASSERT(sv_eq_str(path, "<\"a>b\"@c.example>"));
	T_ASSERT(smtp_path_args(SV_LIT("FROM:a@b.example"), "FROM:", &path,
	    &params, &why) == -1);
	T_ASSERT(smtp_path_args(SV_LIT("FROM:<a@b.example"), "FROM:", &path,
	    &params, &why) == -1);
	T_ASSERT(smtp_path_args(SV_LIT("FROM:<a@b.example>x"), "FROM:", &path,
	    &params, &why) == -1);
	T_ASSERT(smtp_path_args(SV_LIT("TO:<a@b>"), "FROM:", &path, &params,
	    &why) == -1);
	params = SV_LIT("=x");
	T_EQ_INT(smtp_param_next(&params, &k, &val), -1);
	params = SV_LIT("A=");
	T_EQ_INT(smtp_param_next(&params, &k, &val), -1);
	params = SV_LIT("A=b=c");
	T_EQ_INT(smtp_param_next(&params, &k, &val), -1);
	params = SV_LIT("-A");
	T_EQ_INT(smtp_param_next(&params, &k, &val), -1);
	params = SV_LIT("SMTPUTF8");
	T_EQ_INT(smtp_param_next(&params, &k, &val), 1);
	T_ASSERT(val.n == 0);
}

static void
smtp_xtext_and_not_smtp(void)
{
	struct buf b;

	buf_init(&b, 1024);
	T_ASSERT(xtext_decode(SV_LIT("rfc822;a+2Bb@c"), &b) == 0);
	T_EQ_STR(buf_cstr(&b), "rfc822;a+b@c");
	T_ASSERT(xtext_decode(SV_LIT("a+2"), &b) == -1);
	T_ASSERT(xtext_decode(SV_LIT("a+zz"), &b) == -1);
	T_ASSERT(xtext_decode(SV_LIT("a=b"), &b) == -1);
	T_ASSERT(xtext_decode(SV_LIT("a b"), &b) == -1);
	buf_free(&b);
	T_ASSERT(smtp_not_smtp(SV_LIT("GET / HTTP/1.1")));
	T_ASSERT(smtp_not_smtp(SV_LIT("User-Agent: curl")));
	T_ASSERT(!smtp_not_smtp(SV_LIT("MAIL FROM:<a@b>")));
	T_ASSERT(!smtp_not_smtp(SV_LIT("EHLO x:y")));
}

T_SUITE(suite_smtp)
{
	t_run("smtp_split_lines", smtp_split_lines);
	t_run("smtp_paths_and_params", smtp_paths_and_params);
	t_run("smtp_xtext_and_not_smtp", smtp_xtext_and_not_smtp);
}
