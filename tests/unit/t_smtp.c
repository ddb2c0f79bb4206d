/* Unit tests: SMTP command-line syntax (common/smtp/smtp_parse.c). */
#include <string.h>

#include "chapar/smtp.h"
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
	/* what it encodes must be printable: no CR, LF, NUL or 8-bit */
	T_ASSERT(xtext_decode(SV_LIT("a+0D+0Ab"), &b) == -1);
	T_ASSERT(xtext_decode(SV_LIT("a+00"), &b) == -1);
	T_ASSERT(xtext_decode(SV_LIT("a+09"), &b) == -1);
	T_ASSERT(xtext_decode(SV_LIT("a+C3+A9"), &b) == -1);
	T_ASSERT(xtext_decode(SV_LIT("a+20b+7E"), &b) == 0);
	buf_reset(&b);
	xtext_encode(SV_LIT("id+1=x y"), &b);
	T_EQ_STR(buf_cstr(&b), "id+2B1+3Dx+20y");
	T_ASSERT(smtp_helo_ok(SV_LIT("mail.example.org")));
	T_ASSERT(smtp_helo_ok(SV_LIT("[192.0.2.1]")));
	T_ASSERT(!smtp_helo_ok(SV_LIT("a\tb")));
	T_ASSERT(!smtp_helo_ok(SV_LIT("a b")));
	T_ASSERT(!smtp_helo_ok(SV_LIT("a\x7f")));
	T_ASSERT(!smtp_helo_ok(SV_LIT("")));
	buf_free(&b);
	T_ASSERT(smtp_not_smtp(SV_LIT("GET / HTTP/1.1")));
	T_ASSERT(smtp_not_smtp(SV_LIT("User-Agent: curl")));
	T_ASSERT(!smtp_not_smtp(SV_LIT("MAIL FROM:<a@b>")));
	T_ASSERT(!smtp_not_smtp(SV_LIT("EHLO x:y")));
}

/* What a filter may say, and who may send as whom. */
static void
smtp_filter_replies_and_grants(void)
{
	static const char *const g[] = { "bob@example.org:*@example.net",
		"alice@example.org:news@example.org", "app@example.org:*",
		"broken-entry" };

	T_ASSERT(smtp_reply_ok(SV_LIT("550 5.7.1 no"), '5'));
	T_ASSERT(smtp_reply_ok(SV_LIT("451 4.7.26 greylisted"), '4'));
	T_ASSERT(smtp_reply_ok(SV_LIT("554 5.123.456 x"), '5'));
	T_ASSERT(!smtp_reply_ok(SV_LIT("550 5.7.1 no"), '4'));
	T_ASSERT(!smtp_reply_ok(SV_LIT("550 4.7.1 mixed classes"), '5'));
	T_ASSERT(!smtp_reply_ok(SV_LIT("250 2.0.0 fine"), '5'));
	T_ASSERT(!smtp_reply_ok(SV_LIT("550 5.7.1"), '5'));
	T_ASSERT(!smtp_reply_ok(SV_LIT("550 5.7 x no"), '5'));
	T_ASSERT(!smtp_reply_ok(SV_LIT("550 5.1234.1 x"), '5'));
	T_ASSERT(!smtp_reply_ok(SV_LIT("550 5.7.1 a\r\n250 b"), '5'));
	T_ASSERT(!smtp_reply_ok(SV_LIT("5x0 5.7.1 text"), '5'));
	T_ASSERT(smtp_grant_match(g, 4, "bob@example.org", "x@example.net"));
	T_ASSERT(smtp_grant_match(g, 4, "Bob@Example.org", "x@EXAMPLE.net"));
	T_ASSERT(!smtp_grant_match(g, 4, "bob@example.org", "x@example.org"));
	T_ASSERT(!smtp_grant_match(g, 4, "bob@example.org",
	    "x@sub.example.net"));
	T_ASSERT(smtp_grant_match(g, 4, "alice@example.org",
	    "news@example.org"));
	T_ASSERT(!smtp_grant_match(g, 4, "alice@example.org",
	    "news2@example.org"));
	T_ASSERT(smtp_grant_match(g, 4, "app@example.org", "any@where.example"));
	T_ASSERT(!smtp_grant_match(g, 4, "app", "any@where.example"));
	T_ASSERT(!smtp_grant_match(g, 4, "broken-entry", "x@y.example"));
}

/* RFC 3339 5.6 date-time, for RFC 4865 HOLDUNTIL. */
static void
smtp_rfc3339(void)
{
	int64_t t;

	T_EQ_INT(smtp_rfc3339_parse(SV_LIT("2026-11-26T10:00:00Z"), &t), 0);
	T_ASSERT(t == 1795687200);
	T_EQ_INT(smtp_rfc3339_parse(SV_LIT("2026-11-26T13:30:00+03:30"), &t),
	    0);
	T_ASSERT(t == 1795687200);
	T_EQ_INT(smtp_rfc3339_parse(SV_LIT("2026-11-26t05:00:00.25-05:00"),
	    &t), 0);
	T_ASSERT(t == 1795687200);
	T_EQ_INT(smtp_rfc3339_parse(SV_LIT("2026-11-26T10:00:00"), &t), -1);
	T_EQ_INT(smtp_rfc3339_parse(SV_LIT("2026-02-30T10:00:00Z"), &t), -1);
	T_EQ_INT(smtp_rfc3339_parse(SV_LIT("2026-13-01T10:00:00Z"), &t), -1);
	T_EQ_INT(smtp_rfc3339_parse(SV_LIT("2026-11-26T24:00:00Z"), &t), -1);
	T_EQ_INT(smtp_rfc3339_parse(SV_LIT("2026-11-26T10:00:00.Z"), &t), -1);
	T_EQ_INT(smtp_rfc3339_parse(SV_LIT("2026-11-26T10:00:00+0330"), &t),
	    -1);
	T_EQ_INT(smtp_rfc3339_parse(SV_LIT("26-11-26T10:00:00Z"), &t), -1);
}

/* What remote(8) reads from other servers. */
static void
smtp_server_replies(void)
{
	struct smtp_caps c;
	struct sv text;
	int code, more;

	T_EQ_INT(smtp_reply_line(SV_LIT("250-mx.example.net hi"), &code,
	    &more, &text), 0);
	T_ASSERT(code == 250 && more && sv_eq_str(text, "mx.example.net hi"));
	T_EQ_INT(smtp_reply_line(SV_LIT("220"), &code, &more, &text), 0);
	T_ASSERT(code == 220 && !more && text.n == 0);
	T_EQ_INT(smtp_reply_line(SV_LIT("2500 x"), &code, &more, &text), -1);
	T_EQ_INT(smtp_reply_line(SV_LIT("650 x"), &code, &more, &text), -1);
	T_EQ_INT(smtp_reply_line(SV_LIT("25"), &code, &more, &text), -1);
	T_EQ_INT(smtp_reply_line(SV_LIT("2a0 x"), &code, &more, &text), -1);
	memset(&c, 0, sizeof(c));
	smtp_caps_line(SV_LIT("SIZE 10240000"), &c);
	smtp_caps_line(SV_LIT("AUTH LOGIN PLAIN"), &c);
	smtp_caps_line(SV_LIT("8BITMIME"), &c);
	smtp_caps_line(SV_LIT("starttls"), &c);
	smtp_caps_line(SV_LIT("X-PLAIN PIPELINING"), &c);
	T_ASSERT(c.size && c.size_max == 10240000 && c.auth_plain &&
	    c.eightbit && c.starttls && !c.pipelining && !c.dsn);
	memset(&c, 0, sizeof(c));
	smtp_caps_line(SV_LIT("SIZE"), &c);
	smtp_caps_line(SV_LIT("SIZE 99999999999999999999999"), &c);
	T_ASSERT(c.size && c.size_max == 0);
}

T_SUITE(suite_smtp)
{
	t_run("smtp_split_lines", smtp_split_lines);
	t_run("smtp_paths_and_params", smtp_paths_and_params);
	t_run("smtp_xtext_and_not_smtp", smtp_xtext_and_not_smtp);
	t_run("smtp_filter_replies_and_grants", smtp_filter_replies_and_grants);
	t_run("smtp_rfc3339", smtp_rfc3339);
	t_run("smtp_server_replies", smtp_server_replies);
}
