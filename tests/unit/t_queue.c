/* Unit tests: queue ids, paths, the envelope format and frames. */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "chapar/queue.h"
#include "harness.h"

static void
queue_ids_and_paths(void)
{
	char id[QUEUE_ID_MAX];
	struct buf p;

	buf_init(&p, 256);
	queue_id_make(0x6745A2C0, 0xF4A1, 0x1B2C3, id);
	T_EQ_STR(id, "6745A2C00F4A11B2C3");
	T_ASSERT(queue_id_ok(id));
	T_ASSERT(!queue_id_ok("6745a2c00f4a11b2c3"));	/* upper case only */
	T_ASSERT(!queue_id_ok("../../etc/x12345"));
	T_ASSERT(!queue_id_ok("ABC"));
	queue_path("mess", id, &p);
	T_EQ_STR(buf_cstr(&p), "mess/3/6745A2C00F4A11B2C3");
	queue_path("todo", id, &p);
	T_EQ_STR(buf_cstr(&p), "todo/6745A2C00F4A11B2C3");
	buf_free(&p);
}

static int
bad(const char *text)
{
	struct queue_env e;
	const char *why;
	int r;

	queue_env_init(&e);
	r = queue_env_parse(sv_from(text), &e, &why);
	queue_env_free(&e);
	return r == -1;
}

static void
queue_envelope(void)
{
	static const char good[] = "v=1\tsender=\tsmtputf8=1\tbody=8BITMIME\t"
	    "ret=HDRS\tenvid=abc\thold=1800000000\n"
	    "rcpt=\xd8\xb9\xd9\x84\xdb\x8c@example.org\tnotify=NEVER\n"
	    "rcpt=Postmaster\n";
	struct queue_env e;
	struct buf out;
	const char *why;

	queue_env_init(&e);
	buf_init(&out, QUEUE_ENV_MAX);
	T_ASSERT(queue_env_parse(sv_from(good), &e, &why) == 0);
	T_EQ_INT(e.nrcpt, 2);
	T_EQ_STR(rec_get_str(&e.head, "sender"), "");
	T_EQ_INT(queue_env_format(&e, &out), 0);
	T_EQ_STR(buf_cstr(&out), good);
	queue_env_free(&e);
	buf_free(&out);
	/* UTF-8 addresses only with smtputf8=1 */
	T_ASSERT(bad("v=1\tsender=\nrcpt=\xd8\xb9@example.org\n"));
	T_ASSERT(bad(""));
	T_ASSERT(bad("v=1\tsender=\n"));
	T_ASSERT(bad("v=1\nrcpt=a@b.example\n"));
	T_ASSERT(bad("v=1\tsender=\tbody=9BIT\nrcpt=a@b.example\n"));
	T_ASSERT(bad("v=1\tsender=\thold=soon\nrcpt=a@b.example\n"));
	T_ASSERT(bad("v=1\tsender=\thelo=a\\nb\nrcpt=a@b.example\n"));
	T_ASSERT(bad("v=1\tsender=\nrcpt=a@b.example\trcpt=c@d.example\n"));
	T_ASSERT(bad("v=1\tsender=\nnotify=NEVER\n"));
	T_ASSERT(bad("v=1\tsender=\nrcpt=a@b.example"));
	T_ASSERT(bad("v=1\tsender=<>\nrcpt=a@b.example\n"));
	/* the queue manager's fields */
	T_ASSERT(!bad("v=1\tsender=\ttries=2\tnext=1800000000\n"
	    "rcpt=a@b.example\tstate=sent\treply=250 ok\tdsn=2.0.0\n"
	    "rcpt=c@d.example\tstate=failed\n"));
	T_ASSERT(bad("v=1\tsender=\nrcpt=a@b.example\tstate=maybe\n"));
	T_ASSERT(bad("v=1\tsender=\ttries=x\nrcpt=a@b.example\n"));
}

static void
queue_reply_statuses(void)
{
	char st[16];

	queue_reply_status(250, "2.1.5 ok", st);
	T_EQ_STR(st, "2.1.5");
	queue_reply_status(550, "5.7.26 policy", st);
	T_EQ_STR(st, "5.7.26");
	queue_reply_status(451, "2.0.0 a lie of another class", st);
	T_EQ_STR(st, "4.0.0");
	queue_reply_status(554, "no code at all", st);
	T_EQ_STR(st, "5.0.0");
	queue_reply_status(452, "4.2", st);
	T_EQ_STR(st, "4.0.0");
}

/* What filters add at commit (C frame fields), and header= itself. */
/* Replies grow an envelope after it was parsed: qmgr's formatting of
 * one past its buffer ended it with a panic, and one past QUEUE_ENV_MAX
 * could not have been read back.  Both are -1 now. */
static void
queue_envelope_too_long(void)
{
	struct queue_env e;
	struct buf out, reply;
	const char *why;
	size_t i;

	queue_env_init(&e);
	T_ASSERT(queue_env_parse(SV_LIT("v=1\tsender=a@b.example\n"
	    "rcpt=c@d.example\n"), &e, &why) == 0);
	buf_init(&out, 16);
	T_EQ_INT(queue_env_format(&e, &out), -1);
	T_EQ_INT(out.len, 0);
	buf_free(&out);
	queue_env_free(&e);
	queue_env_init(&e);
	buf_init(&reply, 0);
	buf_puts(&reply, "v=1\tsender=a@b.example\n");
	for (i = 0; i < 12; i++)
		buf_printf(&reply, "rcpt=c%zu@d.example\n", i);
	T_ASSERT(queue_env_parse(buf_sv(&reply), &e, &why) == 0);
	T_EQ_INT(e.nrcpt, 12);
	buf_reset(&reply);
	for (i = 0; i < 1000 * 1000; i++)
		buf_putc(&reply, '\\');	/* escaped, twice as long */
	buf_init(&out, 0);
	for (i = 0; i < 8; i++)
		rec_set(&e.rcpts[i], "reply", buf_sv(&reply));
	T_EQ_INT(queue_env_format(&e, &out), 0);
	T_ASSERT(out.len > 16 * 1000 * 1000);
	for (; i < 12; i++)
		rec_set(&e.rcpts[i], "reply", buf_sv(&reply));
	T_EQ_INT(queue_env_format(&e, &out), -1);
	T_EQ_INT(out.len, 0);
	queue_env_free(&e);
	buf_free(&out);
	buf_free(&reply);
}

static void
queue_envelope_amend(void)
{
	static const char base[] = "v=1\tsender=a@b.example\nrcpt=c@d.example\n";
	struct queue_env e;
	struct buf out;
	const char *why;

	T_ASSERT(queue_header_ok("X-Spam: yes"));
	T_ASSERT(queue_header_ok("X:"));
	T_ASSERT(!queue_header_ok(": no name"));
	T_ASSERT(!queue_header_ok("X Spam: a blank in the name"));
	T_ASSERT(!queue_header_ok("X-Spam"));
	T_ASSERT(!queue_header_ok("X-Spam: a\r\nInjected: yes"));
	T_ASSERT(!queue_header_ok("\xd8\xb9: a UTF-8 name"));
	T_ASSERT(queue_header_ok("X-Note: \xd8\xb9 UTF-8 text is fine"));
	queue_env_init(&e);
	buf_init(&out, 4096);
	T_ASSERT(queue_env_parse(sv_from(base), &e, &why) == 0);
	T_ASSERT(queue_env_amend(&e, SV_LIT("header=X-Spam: yes\theader=X-A: "
	    "b\tquarantine=score 9"), &why) == 0);
	T_EQ_INT(queue_env_format(&e, &out), 0);
	T_EQ_STR(buf_cstr(&out), "v=1\tsender=a@b.example\theader=X-Spam: "
	    "yes\theader=X-A: b\tquarantine=score 9\nrcpt=c@d.example\n");
	/* anything else, or a bad value: refused, nothing changed */
	T_ASSERT(queue_env_amend(&e, SV_LIT("sender=evil@x.example"), &why) ==
	    -1);
	T_ASSERT(queue_env_amend(&e, SV_LIT("header=X-B: ok\theader=bad"),
	    &why) == -1);
	T_ASSERT(queue_env_amend(&e, SV_LIT("quarantine=a\\nb"), &why) == -1);
	T_ASSERT(queue_env_amend(&e, SV_LIT("no equals sign"), &why) == -1);
	buf_reset(&out);
	T_EQ_INT(queue_env_format(&e, &out), 0);
	T_EQ_STR(buf_cstr(&out), "v=1\tsender=a@b.example\theader=X-Spam: "
	    "yes\theader=X-A: b\tquarantine=score 9\nrcpt=c@d.example\n");
	queue_env_free(&e);
	buf_free(&out);
	T_ASSERT(bad("v=1\tsender=\theader=nocolon\nrcpt=a@b.example\n"));
}

static void
put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	T_ASSERT(fd != -1 && write(fd, text, strlen(text)) ==
	    (ssize_t)strlen(text));
	close(fd);
}

/* What a crash between enqueue's renames and its flush can leave. */
static void
queue_entry_checks(void)
{
	char dir[4096], old[4096];
	const char *why;

	T_ASSERT(getcwd(old, sizeof(old)) != NULL);
	(void)snprintf(dir, sizeof(dir), "%s/queue", t_tmpdir());
	T_ASSERT(mkdir(dir, 0700) == 0 && chdir(dir) == 0);
	T_ASSERT(mkdir("todo", 0700) == 0 && mkdir("mess", 0700) == 0 &&
	    mkdir("mess/1", 0700) == 0);
	put("mess/1/6B085BC0E75A2AAC1", "Subject: x\r\n\r\nhi\r\n");
	put("todo/6B085BC0E75A2AAC1", "v=1\tsender=\tsize=18\n"
	    "rcpt=a@b.example\n");
	T_EQ_INT(queue_entry_check("6B085BC0E75A2AAC1", &why), 0);
	/* the message cut short */
	put("mess/1/6B085BC0E75A2AAC1", "Subject: x\r\n");
	T_EQ_INT(queue_entry_check("6B085BC0E75A2AAC1", &why), -1);
	T_EQ_STR(why, "message file shorter or longer than size=");
	/* the envelope empty or cut short */
	put("todo/6B085BC0E75A2AAC1", "");
	T_EQ_INT(queue_entry_check("6B085BC0E75A2AAC1", &why), -1);
	put("todo/6B085BC0E75A2AAC1", "v=1\tsender=\tsize=18\nrcpt=a@b.ex");
	T_EQ_INT(queue_entry_check("6B085BC0E75A2AAC1", &why), -1);
	put("todo/6B085BC0E75A2AAC1", "v=1\tsender=\nrcpt=a@b.example\n");
	T_EQ_INT(queue_entry_check("6B085BC0E75A2AAC1", &why), -1);
	T_EQ_STR(why, "envelope without size=");
	/* no message at all, not an id */
	put("todo/6B085BC0E75A2AAC2", "v=1\tsender=\tsize=0\n"
	    "rcpt=a@b.example\n");
	T_EQ_INT(queue_entry_check("6B085BC0E75A2AAC2", &why), -1);
	T_EQ_STR(why, "message file missing");
	T_EQ_INT(queue_entry_check("../../etc/passwd", &why), -1);
	T_ASSERT(chdir(old) == 0);
}

static void
queue_frames(void)
{
	struct buf b;
	struct sv p;
	int type;

	buf_init(&b, 1 << 22);
	buf_append(&b, "D\0\0\0\3abcK\0\0", 12);
	T_EQ_INT(queue_frame_take(&b, 0, &type, &p), 8);
	T_EQ_INT(type, 'D');
	T_ASSERT(sv_eq_str(p, "abc"));
	T_EQ_INT(queue_frame_take(&b, 8, &type, &p), 0);	/* partial */
	buf_reset(&b);
	buf_append(&b, "X\0\0\0\0", 5);
	T_EQ_INT(queue_frame_take(&b, 0, &type, &p), -1);	/* unknown */
	buf_reset(&b);
	buf_append(&b, "D\0\x20\0\1", 5);
	T_EQ_INT(queue_frame_take(&b, 0, &type, &p), -1);	/* too long */
	buf_free(&b);
}

T_SUITE(suite_queue)
{
	t_run("queue_ids_and_paths", queue_ids_and_paths);
	t_run("queue_envelope", queue_envelope);
	t_run("queue_envelope_amend", queue_envelope_amend);
	t_run("queue_envelope_too_long", queue_envelope_too_long);
	t_run("queue_entry_checks", queue_entry_checks);
	t_run("queue_reply_statuses", queue_reply_statuses);
	t_run("queue_frames", queue_frames);
}
