"""local: LMTP under chapard and the command-line LDA, into the store."""
import glob
import os
import smtplib
import socket
import subprocess

import chapartest
from chapartest import Instance, free_port, wait_for

MSG = (b"From: Bob <bob@example.net>\r\n"
       b"To: Alice <alice@example.org>\r\n"
       b"Subject: hello\r\n"
       b"Message-ID: <1@example.net>\r\n"
       b"\r\n"
       b"Hello Alice.\r\n")


def lmtp_instance(conf_extra="", users=("alice@example.org",
                                        "bob@example.org")):
    port = free_port()
    inst = Instance(conf_extra)
    inst.ok("domain", "add", "example.org")
    for u in users:
        inst.add_user(u)
    inst.add_conf("""
[lmtp]
listen = 127.0.0.1:%d %s
prefork = 1
""" % (port, inst.path("run", "lmtp.sock")))
    inst.start_chapard()
    wait_for(lambda: inst.service("lmtp") is not None and
             inst.idle("lmtp") >= 1, 15, "lmtp workers")
    return inst, port


def by_uid(path):
    """Sort key of a message file: its UID (",U=" in the name), which is
    the order of delivery; the names' own order is not (the microsecond
    field has no fixed width)."""
    import re
    m = re.search(r",U=(\d+)", os.path.basename(path))
    return (0, int(m.group(1)), "") if m else (1, 0, path)


def messages(inst, user, folder=""):
    """The messages of a folder, (file name, bytes), in UID order."""
    local, domain = user.split("@")
    d = inst.path("mail", domain, local, folder, "cur")
    out = []
    for p in sorted(glob.glob(os.path.join(d, "*")), key=by_uid):
        with open(p, "rb") as f:
            out.append((os.path.basename(p), f.read()))
    return out


def lmtp_send(port, rcpts, msg=MSG, sender="bob@example.net"):
    c = smtplib.LMTP("127.0.0.1", port)
    try:
        c.ehlo_or_helo_if_needed()
        return c.sendmail(sender, rcpts, msg)
    finally:
        c.quit()


def raw(port, data, host="127.0.0.1"):
    """Send data at once, read until the server closes or 2 s pass."""
    s = socket.create_connection((host, port), timeout=10)
    s.recv(1000)
    s.sendall(data)
    s.settimeout(2)
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except socket.timeout:
        pass
    s.close()
    return got.decode(errors="replace")


def test_lmtp_delivers_per_recipient():
    inst, port = lmtp_instance()
    c = smtplib.LMTP("127.0.0.1", port)
    code, caps = c.ehlo("client.example")   # smtplib's LMTP sends LHLO
    assert code == 250
    for ext in (b"PIPELINING", b"ENHANCEDSTATUSCODES", b"8BITMIME",
                b"SIZE 26214400", b"SMTPUTF8"):
        assert ext in caps, caps
    assert c.mail("bob@example.net")[0] == 250
    assert c.rcpt("alice@example.org")[0] == 250
    assert c.rcpt("Bob@Example.ORG")[0] == 250
    code, text = c.rcpt("nobody@example.org")
    assert code == 550 and text.startswith(b"5.1.1"), (code, text)
    code, text = c.rcpt("someone@elsewhere.example")
    assert code == 550 and text.startswith(b"5.1.2"), (code, text)
    # one reply per accepted recipient after DATA (RFC 2033 4.2)
    c.putcmd("data")
    assert c.getreply()[0] == 354
    c.send(MSG + b".\r\n")
    replies = [c.getreply() for _ in range(2)]
    assert [r[0] for r in replies] == [250, 250], replies
    c.quit()
    for user in ("alice@example.org", "bob@example.org"):
        msgs = messages(inst, user)
        assert len(msgs) == 1, msgs
        name, body = msgs[0]
        assert ",U=1:2," in name and ",S=%d" % len(body) in name
        assert body.startswith(b"Return-Path: <bob@example.net>\r\n"
                               b"Delivered-To: " + user.encode() + b"\r\n")
        assert body.endswith(MSG)
    log = inst.log("chapard")
    assert "to=<alice@example.org>, orig_to=<alice@example.org>, " \
        "folder=INBOX, uid=1" in log, log


def test_lmtp_on_a_unix_socket_and_pipelined():
    inst, port = lmtp_instance()
    path = inst.path("run", "lmtp.sock")
    assert oct(os.stat(path).st_mode & 0o777) == "0o666"
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    # the whole transaction in one packet (RFC 2920)
    s.sendall(b"LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\n"
              b"RCPT TO:<x@example.org>\r\nDATA\r\n" + MSG + b".\r\nQUIT\r\n")
    lines = []
    while True:
        line = f.readline()
        if not line:
            break
        lines.append(line.decode().rstrip())
    codes = [ln[:3] for ln in lines if ln[3:4] == " "]
    assert codes == ["250", "250", "250", "550", "354", "250", "221"], lines
    s.close()
    body = messages(inst, "alice@example.org")[0][1]
    assert body.startswith(b"Return-Path: <>\r\n")


def test_lmtp_protocol_errors_and_limits():
    inst, port = lmtp_instance("message_size_limit = 1K")
    out = raw(port, b"EHLO x\r\nMAIL FROM:<a@b.example>\r\nLHLO x\r\n"
              b"RCPT TO:<alice@example.org>\r\nMAIL FROM:<bad\r\n"
              b"MAIL FROM:<a@b.example> SIZE=5000\r\n"
              b"MAIL FROM:<a@b.example> FOO=1\r\n"
              b"DATA\r\nBOGUS\r\n" + b"X" * 5000 + b"\r\nQUIT\r\n")
    codes = [ln[:9] for ln in out.split("\r\n") if ln[3:4] == " "]
    assert codes == ["500 5.5.1", "503 5.5.1",
                     "250 SIZE ", "503 5.5.1", "501 5.5.4", "552 5.3.4",
                     "555 5.5.4", "503 5.5.1", "500 5.5.2", "500 5.5.2",
                     "221 2.0.0"], out
    # a message over the limit: refused for every recipient, nothing stored
    c = smtplib.LMTP("127.0.0.1", port)
    c.ehlo("x")
    c.mail("a@b.example")
    c.rcpt("alice@example.org")
    c.rcpt("bob@example.org")
    c.putcmd("data")
    assert c.getreply()[0] == 354
    c.send(b"Subject: big\r\n\r\n" + b"Y" * 2000 + b"\r\n.\r\n")
    assert [c.getreply()[0] for _ in range(2)] == [552, 552]
    c.quit()
    assert messages(inst, "alice@example.org") == []


def test_lmtp_dots_and_smuggling():
    inst, port = lmtp_instance()
    # "\n.\n" and "\r.\r\n" are not the end; a leading dot is unstuffed;
    # bare line ends become CRLF (the client already accepted the mail)
    body = (b"Subject: dots\r\n\r\nline\n.\nnot the end\r\n..stuffed\r\n"
            b"\r.\r\nstill in\r\n")
    out = raw(port, b"LHLO x\r\nMAIL FROM:<a@b.example>\r\n"
              b"RCPT TO:<alice@example.org>\r\nDATA\r\n" + body +
              b".\r\nQUIT\r\n")
    assert "221 2.0.0" in out, out
    msgs = messages(inst, "alice@example.org")
    assert len(msgs) == 1
    stored = msgs[0][1].split(b"\r\n", 2)[2]
    assert stored == (b"Subject: dots\r\n\r\nline\r\n.\r\nnot the end\r\n"
                      b".stuffed\r\n\r\n.\r\nstill in\r\n"), stored
    # a NUL is refused, per recipient (RFC 2033 4.2)
    out = raw(port, b"LHLO x\r\nMAIL FROM:<a@b.example>\r\n"
              b"RCPT TO:<alice@example.org>\r\nDATA\r\n"
              b"Subject: nul\r\n\r\na\x00b\r\n.\r\nQUIT\r\n")
    assert "554 5.6.0" in out, out
    assert len(messages(inst, "alice@example.org")) == 1


def test_lmtp_long_lines():
    inst, port = lmtp_instance()
    # a 900 kB line is taken (it used to leave the worker spinning)
    body = b"Subject: long\r\n\r\n" + b"y" * (900 * 1024) + b"\r\n"
    out = raw(port, b"LHLO x\r\nMAIL FROM:<a@b.example>\r\n"
              b"RCPT TO:<alice@example.org>\r\nDATA\r\n" + body +
              b".\r\nQUIT\r\n")
    assert "221 2.0.0" in out and out.count("250 2.0.0") >= 1, out
    msgs = messages(inst, "alice@example.org")
    assert len(msgs) == 1 and (b"y" * (900 * 1024) + b"\r\n") in msgs[0][1]


def lda(inst, *args, data=MSG):
    return subprocess.run([os.path.join(chapartest.BUILD, "bin", "local"), "-c",
                           inst.conf] + list(args), input=data,
                          capture_output=True, timeout=60,
                          env=chapartest.daemon_env())


def test_lda_exit_codes_and_line_ends():
    inst = Instance("quota_warnings = 50\nquota_messages = 3")
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org")
    inst.start_authd()
    # an MTA pipes LF lines, maybe with an mbox From line
    r = lda(inst, "-d", "alice@example.org", "-f", "bob@example.net",
            data=b"From bob@example.net Thu Nov 26 10:00:00 2026\n"
                 b"Subject: lf\n\nbody\n")
    assert r.returncode == 0, r.stderr
    body = messages(inst, "alice@example.org")[0][1]
    assert body == (b"Return-Path: <bob@example.net>\r\nDelivered-To: "
                    b"alice@example.org\r\nSubject: lf\r\n\r\nbody\r\n")
    r = lda(inst, "-d", "nobody@example.org")
    assert r.returncode == 67 and b"5.1.1" in r.stderr, r
    r = lda(inst, "-d", "x@elsewhere.example")
    assert r.returncode == 69 and b"5.1.2" in r.stderr, r
    # a loop: the message was here before
    r = lda(inst, "-d", "alice@example.org",
            data=b"Delivered-To: <ALICE@example.org>\r\n" + MSG)
    assert r.returncode == 69 and b"5.4.6" in r.stderr, r
    r = lda(inst)
    assert r.returncode == 64
    # quota (3 messages): the warning at 50 % comes once, then full is
    # temporary (4.2.2, EX_TEMPFAIL) by default
    assert lda(inst, "-d", "alice@example.org").returncode == 0
    msgs = messages(inst, "alice@example.org")
    assert len(msgs) == 3, [m[0] for m in msgs]
    # (the warning and the message arrive in the same second: either
    # order of file names)
    assert sum(b"Subject: Your mailbox is 50% full" in m[1]
               for m in msgs) == 1, [m[0] for m in msgs]
    r = lda(inst, "-d", "alice@example.org")
    assert r.returncode == 75 and b"4.2.2" in r.stderr, r
    inst.add_conf("quota_full_tempfail = no")
    r = lda(inst, "-d", "alice@example.org")
    assert r.returncode == 77 and b"5.2.2" in r.stderr, r
    assert len(messages(inst, "alice@example.org")) == 3


def test_lda_aliases_and_duplicates():
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org")
    inst.add_user("bob@example.org")
    inst.ok("alias", "add", "team@example.org", "alice@example.org",
            "bob@example.org")
    inst.ok("alias", "add", "out@example.org", "alice@example.org",
            "someone@elsewhere.example")
    inst.start_authd()
    # team reaches both; alice named twice gets one copy
    r = lda(inst, "-d", "team@example.org", "-d", "alice@example.org")
    assert r.returncode == 0, r.stderr
    assert len(messages(inst, "alice@example.org")) == 1
    bob = messages(inst, "bob@example.org")
    assert len(bob) == 1 and b"Delivered-To: bob@example.org\r\n" in bob[0][1]
    # sub-addressing goes to the user
    assert lda(inst, "-d", "alice+lists@example.org").returncode == 0
    assert len(messages(inst, "alice@example.org")) == 2
    # off-site forwarding needs the queue: deferred, nothing half done
    r = lda(inst, "-d", "out@example.org")
    assert r.returncode == 75 and b"4.3.5" in r.stderr, r
    assert len(messages(inst, "alice@example.org")) == 2


def test_lda_without_authd_is_a_temporary_failure():
    inst = Instance()
    r = lda(inst, "-d", "alice@example.org")
    assert r.returncode == 75 and b"4.3.0" in r.stderr, r


def postfix(inst, *args):
    return subprocess.run(["postfix", "-c", inst.path("postfix")] +
                          list(args), capture_output=True, text=True,
                          timeout=60)


def test_postfix_delivers_through_lmtp():
    """A private Postfix instance (its own config, queue and log under
    the test's directory) relays to local's LMTP listener."""
    chapartest.need_root()
    if not os.path.exists("/usr/sbin/postfix"):
        raise chapartest.Skip("postfix is not installed")
    inst, lport = lmtp_instance()
    sport = free_port()
    pf = chapartest.postfix_start(inst, sport, """relayhost =
smtputf8_enable = no
virtual_mailbox_domains = example.org
virtual_transport = lmtp:inet:127.0.0.1:%d
""" % lport)
    try:
        c = smtplib.SMTP("127.0.0.1", sport, timeout=30)
        refused = c.sendmail("bob@example.net", ["alice@example.org",
                                                 "bob@example.org"], MSG)
        assert refused == {}
        c.quit()
        wait_for(lambda: len(messages(inst, "alice@example.org")) == 1 and
                 len(messages(inst, "bob@example.org")) == 1, 30,
                 "Postfix to deliver over LMTP")
        body = messages(inst, "alice@example.org")[0][1]
        assert b"Delivered-To: alice@example.org\r\n" in body
        assert b"Received: from " in body and body.endswith(b"Hello Alice.\r\n")

        def logged():
            return chapartest.postfix_log(pf).count(
                "status=sent (250 2.0.0") == 2
        wait_for(logged, 10, "Postfix to log both deliveries")
    finally:
        postfix(inst, "stop")


def test_domain_quota():
    import json
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org")
    inst.add_user("bob@example.org")
    inst.ok("domain", "quota", "example.org", "2K")
    assert "2K" in inst.ok("domain", "list") or "2.0K" in \
        inst.ok("domain", "list")
    inst.start_authd()
    msg = b"Subject: q\r\n\r\n" + b"x" * 850 + b"\r\n"
    assert lda(inst, "-d", "alice@example.org", data=msg).returncode == 0
    assert lda(inst, "-d", "bob@example.org", data=msg).returncode == 0
    q = json.loads(inst.ok("--json", "quota", "show", "@example.org"))[0]
    total = sum(len(m[1]) for u in ("alice@example.org", "bob@example.org")
                for m in messages(inst, u))
    assert q["bytes"] == str(total) and q["messages"] == "2", (q, total)
    assert q["bytes_limit"] == "2048"
    # the third would pass the domain's 2 kB, for either user
    r = lda(inst, "-d", "bob@example.org", data=msg)
    assert r.returncode == 75 and b"4.2.2" in r.stderr and \
        b"domain" in r.stderr, r
    # mail removed outside delivery counts after a recalc
    d = inst.path("mail", "example.org", "alice", "cur")
    for n in os.listdir(d):
        os.unlink(os.path.join(d, n))
    inst.ok("reindex", "alice@example.org")
    q = json.loads(inst.ok("--json", "quota", "recalc", "@example.org"))[0]
    assert q["messages"] == "1", q
    assert lda(inst, "-d", "bob@example.org", data=msg).returncode == 0
    r = inst.chapar("domain", "quota", "nowhere.example", "1G")
    assert r.returncode == 1


def test_lda_many_delivered_to_fields():
    """The Delivered-To values of a header are kept for loop detection:
    a header may hold many (up to what is scanned), and the agent must
    neither crash on them nor miss one."""
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org")
    inst.start_authd()
    head = b"".join(b"Delivered-To: <list%03d-%s@example.net>\r\n" %
                    (i, b"x" * 900) for i in range(120))
    r = lda(inst, "-d", "alice@example.org", data=head + MSG)
    assert r.returncode == 0, r
    assert len(messages(inst, "alice@example.org")) == 1
    # the last of them still counts: a loop is a loop
    r = lda(inst, "-d", "alice@example.org",
            data=head + b"Delivered-To: alice@example.org\r\n" + MSG)
    assert r.returncode == 69 and b"5.4.6" in r.stderr, r
