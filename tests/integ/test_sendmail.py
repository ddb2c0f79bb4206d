"""sendmail(1): messages from the command line into the queue through
enqueue, as root and as an ordinary user of a set-group-id copy."""
import grp
import re
import os
import pwd
import shutil
import subprocess
import tempfile

import chapartest
from chapartest import Instance

from test_smtpd import queued


def sm_instance():
    inst = Instance()
    with open(inst.path("chapar.conf")) as f:
        conf = f.read()
    with open(inst.path("chapar.conf"), "w") as f:
        f.write(re.sub(r"(?m)^hostname = .*$", "hostname = mx.example.org",
                       conf))
    inst.start("enqueue", ready=lambda: os.path.exists(
        inst.path("run", "enqueue.sock")))
    return inst


def sendmail(inst, *args, data=b"", prog=None, user=None):
    cmd = [prog or os.path.join(chapartest.BUILD, "bin", "sendmail"),
           "-C", inst.path("chapar.conf")] + list(args)
    if prog is not None:      # the installed way: the default config
        cmd = [prog] + list(args)
    env = dict(os.environ)
    if prog is not None:
        env["CHAPAR_CONF"] = inst.path("chapar.conf")
    if user is not None:
        pw = pwd.getpwnam(user)
        cmd = ["setpriv", "--reuid", str(pw.pw_uid), "--regid",
               str(pw.pw_gid), "--clear-groups"] + cmd
    return subprocess.run(cmd, input=data, capture_output=True,
                          timeout=30, env=env)


def test_sendmail_arguments_dots_and_header():
    chapartest.need_root()
    inst = sm_instance()
    r = sendmail(inst, "-f", "cron@example.org", "-F", "Cron \"Daemon\"",
                 "alice@example.org, bob@example.org", "carol",
                 data=b"Subject: nightly\n\nline one\n.hidden\n.\nafter\n")
    assert r.returncode == 0, r
    (env, msg), = queued(inst)
    head = env[0]
    assert head["sender"] == "cron@example.org"
    assert head["protocol"] == "local" and head["uid"] == "0"
    assert head["body"] == "7BIT"
    assert [e["rcpt"] for e in env[1:]] == [
        "alice@example.org", "bob@example.org", "carol@mx.example.org"]
    assert msg.startswith(b"Received: by mx.example.org (Chapar sendmail,"
                          b" uid 0)\r\n\tid ")
    assert b'\r\nFrom: "Cron \\"Daemon\\"" <cron@example.org>\r\n' in msg
    assert b"\r\nDate: " in msg and b"\r\nMessage-ID: <" in msg
    # a lone dot ended the input; LF became CRLF
    assert msg.endswith(b"Subject: nightly\r\n\r\nline one\r\n.hidden\r\n")
    # -i (and -oi): dots are text
    r = sendmail(inst, "-oi", "alice@example.org",
                 data=b"From: me@example.org\nSubject: x\n\n.\nafter")
    assert r.returncode == 0, r
    msgs = sorted((m for _, m in queued(inst)), key=len)
    assert msgs[-1].endswith(b"\r\n\r\n.\r\nafter\r\n") or \
        msgs[0].endswith(b"\r\n\r\n.\r\nafter\r\n")
    assert b"From: me@example.org\r\n" in b"".join(msgs)


def test_sendmail_t_reads_recipients_and_drops_bcc():
    chapartest.need_root()
    inst = sm_instance()
    r = sendmail(inst, "-t", "-i", data=(
        b"From: Ops <ops@example.org>\nTo: Alice <alice@example.org>,\n"
        b"  bob@example.org\nCc: carol@example.net\nBcc: secret@example"
        b".net\nSubject: \xd8\xb3\xd9\x84\xd8\xa7\xd9\x85\n\nbody\n"))
    assert r.returncode == 0, r
    (env, msg), = queued(inst)
    assert [e["rcpt"] for e in env[1:]] == [
        "alice@example.org", "bob@example.org", "carol@example.net",
        "secret@example.net"]
    assert b"Bcc" not in msg and b"secret" not in msg
    assert env[0]["body"] == "8BITMIME"
    assert b"\r\nFrom: Ops <ops@example.org>\r\n" in msg
    assert msg.count(b"From:") == 1


def test_sendmail_errors():
    chapartest.need_root()
    inst = sm_instance()
    r = sendmail(inst, data=b"Subject: x\n\nno one\n")
    assert r.returncode == 64 and b"no recipients" in r.stderr, r
    r = sendmail(inst, "bad address@@example.org", data=b"x\n")
    assert r.returncode == 65, r
    r = sendmail(inst, "-bd")
    assert r.returncode == 64 and b"-bd is not supported" in r.stderr, r
    r = sendmail(inst, "-N", "never,success", "a@example.org", data=b"x\n")
    assert r.returncode == 64 and b"-N" in r.stderr, r
    r = sendmail(inst, "-N", "success,delay", "-R", "hdrs", "-V", "q1",
                 "a@example.org", data=b"x\n")
    assert r.returncode == 0, r
    (env, _), = queued(inst)
    assert env[1] == {"rcpt": "a@example.org", "notify": "SUCCESS,DELAY"}
    assert env[0]["ret"] == "HDRS" and env[0]["envid"] == "q1"
    inst.stop("enqueue")
    r = sendmail(inst, "alice@example.org", data=b"x\n")
    assert r.returncode == 75 and b"cannot connect to enqueue" in \
        r.stderr, r
    assert len(queued(inst)) == 1


def test_sendmail_never_drops_long_lines():
    chapartest.need_root()
    inst = sm_instance()
    # a 200 kB line used to be dropped, with exit 0
    line = b"z" * (200 * 1024)
    r = sendmail(inst, "alice@example.org",
                 data=b"Subject: long\n\n" + line + b"\nafter\n")
    assert r.returncode == 0, r
    (env, msg), = queued(inst)
    assert msg.endswith(b"Subject: long\r\n\r\n" + line +
                        b"\r\nafter\r\n"), len(msg)
    # a NUL refuses the message with EX_DATAERR; nothing is queued
    r = sendmail(inst, "alice@example.org", data=b"Subject: nul\n\na\0b\n")
    assert r.returncode == 65 and b"NUL" in r.stderr, r
    assert len(queued(inst)) == 1


def test_sendmail_setgid_for_users_and_mailq():
    chapartest.need_root()
    inst = sm_instance()
    d = tempfile.mkdtemp(prefix="chapar-sendmail-")
    os.chmod(d, 0o755)
    prog = os.path.join(d, "sendmail")
    shutil.copy(os.path.join(chapartest.BUILD, "bin", "sendmail"), prog)
    os.chown(prog, 0, grp.getgrnam("chapar").gr_gid)
    os.chmod(prog, 0o2755)
    os.chmod(inst.dir, 0o755)
    os.chmod(inst.path("chapar.conf"), 0o644)
    os.chmod(inst.path("run"), 0o755)
    nobody = pwd.getpwnam("nobody")
    r = sendmail(inst, "alice@example.org", prog=prog, user="nobody",
                 data=b"Subject: from a user\n\nhi\n")
    assert r.returncode == 0, r
    (env, msg), = queued(inst)
    assert env[0]["uid"] == str(nobody.pw_uid)
    assert env[0]["sender"] == "nobody@mx.example.org"
    # a configuration of the user's own costs the group (it could name
    # any socket, or be any file group chapar may read)
    own = os.path.join(d, "own")
    os.mkdir(own)
    os.chown(own, nobody.pw_uid, nobody.pw_gid)
    shutil.copy(inst.path("chapar.conf"), os.path.join(own, "c.conf"))
    os.chown(os.path.join(own, "c.conf"), nobody.pw_uid, nobody.pw_gid)
    r = subprocess.run(
        ["setpriv", "--reuid", str(nobody.pw_uid), "--regid",
         str(nobody.pw_gid), "--clear-groups", prog, "-C",
         os.path.join(own, "c.conf"), "alice@example.org"],
        input=b"x\n", capture_output=True, timeout=30)
    assert r.returncode == 75 and b"cannot connect" in r.stderr, r
    # without the set-group-id bit a user cannot reach enqueue
    os.chmod(prog, 0o755)
    r = sendmail(inst, "alice@example.org", prog=prog, user="nobody",
                 data=b"x\n")
    assert r.returncode == 75, r
    # mailq: root reads the queue, a user may not
    os.symlink(prog, os.path.join(d, "mailq"))
    r = subprocess.run([os.path.join(d, "mailq"), "-C",
                        inst.path("chapar.conf")], capture_output=True,
                       timeout=30)
    assert r.returncode == 0 and b"alice@example.org" in r.stdout and \
        b"1 message in the queue" in r.stdout, r
    r = sendmail(inst, "-bp", prog=prog, user="nobody")
    assert r.returncode == 77, r
    shutil.rmtree(d)


def test_sendmail_bs_speaks_smtp_on_stdin():
    """sendmail -bs: Python's smtplib on one end of a socket pair, the
    program's standard input and output on the other."""
    chapartest.need_root()
    import smtplib
    import socket
    inst = sm_instance()
    ours, theirs = socket.socketpair()
    p = subprocess.Popen([os.path.join(chapartest.BUILD, "bin", "sendmail"),
                          "-C", inst.path("chapar.conf"), "-bs"],
                         stdin=theirs, stdout=theirs,
                         stderr=subprocess.PIPE)
    theirs.close()
    try:
        s = smtplib.SMTP()
        s.sock = ours
        code, banner = s.getreply()
        assert code == 220 and b"sendmail -bs" in banner, banner
        code, caps = s.ehlo("localhost")
        assert code == 250 and s.has_extn("pipelining") and \
            s.has_extn("8bitmime"), caps
        refused = s.sendmail("cron@example.org",
                             ["alice@example.org", "bob"],
                             b"Subject: one\r\n\r\n.leading dot\r\n"
                             b"body\r\n")
        assert refused == {}, refused
        # errors get their codes and the session goes on
        assert s.docmd("RCPT TO:<x@example.org>")[0] == 503
        assert s.docmd("MAIL FROM:<a@b> BOGUS=1")[0] == 555
        assert s.docmd("MAIL FROM:<no closing")[0] == 501
        assert s.docmd("MAIL FROM:<>")[0] == 250
        assert s.docmd("RCPT TO:<@@bad>")[0] == 553
        assert s.docmd("DATA")[0] == 503
        assert s.docmd("RSET")[0] == 250
        assert s.docmd("VRFY alice")[0] == 252
        assert s.docmd("TURN")[0] == 502
        # RFC 2034: every reply has an enhanced code, 354 too
        s.docmd("MAIL FROM:<a@example.org>")
        s.docmd("RCPT TO:<alice@example.org>")
        code, text = s.docmd("DATA")
        assert code == 354 and text.startswith(b"2.0.0 "), text
        s.send(b"Subject: x\r\n\r\nnul\x00\r\n.\r\n")
        code, text = s.getreply()
        assert code == 554 and text.startswith(b"5.6.0"), text
        assert s.docmd("RSET")[0] == 250
        s.sendmail("", ["carol@example.org"], b"Subject: two\r\n\r\nhi\r\n")
        assert s.quit()[0] == 221
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
        ours.close()
    got = sorted(queued(inst), key=lambda m: len(m[0]))
    assert len(got) == 2, got
    (env2, msg2), (env1, msg1) = got
    assert env1[0]["sender"] == "cron@example.org"
    assert [e["rcpt"] for e in env1[1:]] == ["alice@example.org",
                                             "bob@mx.example.org"]
    assert env1[0]["protocol"] == "local"
    # the transparency dot is gone (RFC 5321 4.5.2)
    assert msg1.endswith(b"Subject: one\r\n\r\n.leading dot\r\nbody\r\n"), \
        msg1
    assert env2[0]["sender"] == "" and msg2.endswith(b"\r\n\r\nhi\r\n")


def test_sendmail_many_recipients_and_long_arguments():
    """Arguments and header fields come from the user: many recipients
    fill one envelope (up to what one frame to enqueue carries), and
    over-long options are refused, never a crash."""
    chapartest.need_root()
    inst = sm_instance()
    rcpts = ["user%04d@example.net" % i for i in range(3000)]
    r = sendmail(inst, "-t", "-i", "-f", "bob@example.org", data=(
        "From: bob@example.org\nTo: %s\nSubject: many\n\nhi\n" %
        ",\n ".join(rcpts)).encode())
    assert r.returncode == 0, r
    env, _ = queued(inst)[0]
    assert [e["rcpt"] for e in env[1:]] == rcpts
    # more than one envelope can carry (but a header can): refused as a
    # whole
    dom = ".".join(["d" * 60] * 3) + ".example"
    many = ["%s%04d@%s" % ("u" * 56, i, dom) for i in range(3800)]
    r = sendmail(inst, "-t", "-i", "-f", "bob@example.org", "-N",
                 "success,failure,delay", data=(
        "To: %s\nSubject: too many\n\nhi\n" % ",\n ".join(many))
        .encode())
    assert r.returncode == 65 and b"recipients" in r.stderr, r
    # options beyond what the protocols allow
    r = sendmail(inst, "-N", ",".join(["success"] * 1000),
                 "alice@example.org", data=b"hi\n")
    assert r.returncode == 64, r
    r = sendmail(inst, "-V", "e" * 5000, "alice@example.org",
                 data=b"hi\n")
    assert r.returncode == 64, r
    r = sendmail(inst, "-f", "s" * 5000 + "@example.org",
                 "alice@example.org", data=b"hi\n")
    assert r.returncode == 65 and b"5.1.7" in r.stderr, r
    r = sendmail(inst, "-F", "N" * 5000, "-f", "bob@example.org",
                 "alice@example.org", data=b"hi\n")
    assert r.returncode == 0, r
    # and in an SMTP conversation on standard input
    r = sendmail(inst, "-bs", data=(
        "EHLO x\r\nMAIL FROM:<%s@example.org>\r\n"
        "MAIL FROM:<bob@example.org>\r\nRCPT TO:<%s@example.org>\r\n"
        "QUIT\r\n" % ("a" * 1900, "b" * 1900)).encode())
    assert r.returncode == 0, r
    codes = [ln[:3] for ln in r.stdout.decode().split("\r\n") if ln]
    assert codes[-4:] == ["553", "250", "553", "221"], r.stdout
