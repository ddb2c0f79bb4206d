"""smtpd: the SMTP server under chapard, with enqueue and authd, talked to
with smtplib, raw sockets and TLS."""
import base64
import glob
import hashlib
import hmac
import os
import smtplib
import socket
import ssl

import chapartest
from chapartest import Instance, free_port, wait_for

MSG = (b"From: Bob <bob@example.net>\r\nTo: alice@example.org\r\n"
       b"Subject: hello\r\nMessage-ID: <1@example.net>\r\n"
       b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nHello.\r\n")


def smtp_instance(conf="", section="smtpd", extra=""):
    port = free_port()
    # what smtpd queued stays in todo/ to be looked at: no queue manager
    inst = Instance("queue_delivery = no\n" + conf)
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org", "alice pw")
    inst.add_user("bob@example.org", "bob pw")
    inst.ok("alias", "add", "team@example.org", "alice@example.org",
            "bob@example.org")
    inst.add_conf("[%s]\n%s = 127.0.0.1:%d\nprefork = 1\n%s" %
                  (section, "listen_tls" if section == "smtps" else
                   "listen", port, extra))
    inst.start_chapard()
    wait_for(lambda: inst.service(section) is not None and
             inst.idle(section) >= 1, 20, section + " workers")
    return inst, port


def queued(inst):
    """[(envelope lines, message bytes)] of what is in todo/."""
    out = []
    for env in sorted(glob.glob(inst.path("queue", "todo", "*"))):
        qid = os.path.basename(env)
        with open(env, "rb") as f:
            lines = f.read().decode().split("\n")[:-1]
        with open(inst.path("queue", "mess", qid[-1], qid), "rb") as f:
            out.append(([dict(x.split("=", 1) for x in ln.split("\t"))
                         for ln in lines], f.read()))
    return out


def raw(port, data, greet=True, wait=2.0, tls=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s)
    got = b""
    if greet:
        s.recv(1000)        # the greeting
    if data:
        s.sendall(data)
    s.settimeout(wait)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return got.decode(errors="replace")


def codes(text):
    return [ln[:9] for ln in text.split("\r\n") if ln[3:4] == " "]


def test_smtpd_accepts_and_queues():
    inst, port = smtp_instance()
    c = smtplib.SMTP("127.0.0.1", port)
    code, caps = c.ehlo("client.example.net")
    assert code == 250
    for ext in (b"PIPELINING", b"SIZE 26214400", b"8BITMIME", b"SMTPUTF8",
                b"CHUNKING", b"DSN", b"STARTTLS", b"ENHANCEDSTATUSCODES"):
        assert ext in caps, caps
    assert b"AUTH" not in caps          # not before TLS
    assert c.mail("bob@example.net", ["RET=HDRS", "ENVID=QQ+2B1"])[0] == 250
    assert c.rcpt("alice@example.org",
                  ["NOTIFY=SUCCESS,FAILURE",
                   "ORCPT=rfc822;alice+2B@example.org"])[0] == 250
    assert c.rcpt("Team@Example.ORG")[0] == 250
    code, text = c.data(MSG)
    assert code == 250 and text.startswith(b"2.0.0 Ok: queued as "), text
    qid = text.split()[-1].decode()
    assert c.vrfy("alice@example.org")[0] == 252
    assert c.noop()[0] == 250 and c.rset()[0] == 250
    assert c.docmd("HELP")[0] == 214
    assert c.docmd("FOO")[0] == 500
    c.quit()
    (env, msg), = queued(inst)
    head = env[0]
    assert head["sender"] == "bob@example.net" and head["ret"] == "HDRS"
    assert head["envid"] == "QQ+1" and head["protocol"] == "ESMTP"
    assert head["client"] == "127.0.0.1"
    assert head["helo"] == "client.example.net"
    assert env[1] == {"rcpt": "alice@example.org",
                      "notify": "SUCCESS,FAILURE",
                      "orcpt": "rfc822;alice+@example.org"}
    assert env[2] == {"rcpt": "Team@example.org"}   # local part as sent
    assert msg.startswith(b"Received: from client.example.net ([127.0.0.1])"
                          b"\r\n\tby ")
    assert (b"with ESMTP id %s;\r\n" % qid.encode()) in msg
    assert msg.endswith(MSG)


def test_smtpd_pipelining_and_protocol_errors():
    inst, port = smtp_instance()
    out = raw(port, b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n"
              b"RCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>"
              b"\r\nDATA\r\n" + MSG + b".\r\nQUIT\r\n")
    assert codes(out) == ["250 ENHAN", "250 2.1.0", "250 2.1.5",
                          "550 5.1.1", "354 2.0.0", "250 2.0.0",
                          "221 2.0.0"], out
    assert len(queued(inst)) == 1
    # out of order, bad syntax, unknown parameters
    out = raw(port, b"MAIL FROM:<a@b.example>\r\nRCPT TO:<a@example.org>\r\n"
              b"DATA\r\nEHLO x\r\nMAIL FROM:a@b.example\r\n"
              b"MAIL FROM:<a@b.example> FOO=1\r\nMAIL FROM:<a@b.example> "
              b"SIZE=x\r\nMAIL FROM:<a@b.example>\r\nMAIL FROM:<c@d.example>"
              b"\r\nDATA\r\nRCPT TO:<alice@example.org> NOTIFY=NEVER,DELAY"
              b"\r\nQUIT\r\n")
    assert codes(out) == ["503 5.5.1", "503 5.5.1", "503 5.5.1",
                          "250 ENHAN", "501 5.5.4", "555 5.5.4",
                          "501 5.5.4", "250 2.1.0", "503 5.5.1",
                          "554 5.5.1", "501 5.5.4", "221 2.0.0"], out


def test_smtpd_refuses_pipelining_after_helo_and_early_talkers():
    inst, port = smtp_instance("", extra="smtpd_greet_pause = 1s\n")
    out = raw(port, b"HELO x\r\nMAIL FROM:<a@b.example>\r\n", greet=True)
    assert "554 5.5.0 improper pipelining" in out, out
    # talks before the greeting
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"EHLO spammer\r\n")
    s.settimeout(5)
    got = s.recv(1000).decode()
    s.close()
    assert got.startswith("554 5.5.0"), got
    assert "talked before the greeting" in inst.log("chapard")


def test_smtpd_non_smtp_and_hostile_input():
    inst, port = smtp_instance()
    for req in (b"GET / HTTP/1.0\r\n\r\n", b"POST /x HTTP/1.1\r\n",
                b"CONNECT example.net:25 HTTP/1.0\r\n",
                b"Host: example.net\r\n"):
        out = raw(port, req)
        assert codes(out) == ["521 5.5.1"], (req, out)
    # a 1 MB line, a 64 kB EHLO, NUL: refused, the session goes on
    out = raw(port, b"X" * (1 << 20) + b"\r\nEHLO " + b"h" * 65536 +
              b"\r\nNOOP\x00\r\nNOOP\r\nQUIT\r\n", wait=5)
    assert codes(out) == ["500 5.5.2", "500 5.5.2", "500 5.5.2",
                          "250 2.0.0", "221 2.0.0"], out[:300]
    # 1005 recipients: 1000 taken, then 452 4.5.3
    rcpts = b"".join(b"RCPT TO:<alice@example.org>\r\n" for _ in range(1005))
    out = raw(port, b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n" + rcpts +
              b"RSET\r\nQUIT\r\n", wait=10)
    c = codes(out)
    assert c.count("250 2.1.5") == 1000 and c.count("452 4.5.3") >= 5, \
        c[-8:]


def test_smtpd_relay_policy():
    inst, port = smtp_instance("relay_networks =")
    c = smtplib.SMTP("127.0.0.1", port)
    c.helo("localhost")                 # no trust from a name
    c.mail("bob@example.net")
    for rcpt, want in (("someone@elsewhere.example", (554, b"5.7.1")),
                       ("user%elsewhere.example@example.org",
                        (550, b"5.1.1")),
                       ("elsewhere.example!user@example.org",
                        (550, b"5.1.1")),
                       ('"user@elsewhere.example"@example.org',
                        (550, b"5.1.1")),
                       ("@example.org:user@elsewhere.example",
                        (554, b"5.7.1")),
                       ("user@[127.0.0.1]", (554, b"5.7.1")),
                       ("nobody@example.org", (550, b"5.1.1")),
                       ("alice+tag@example.org", (250, b"2.1.5"))):
        # by hand: smtplib's quoting rewrites some of these (and
        # differently from one Python to the next)
        code, text = c.docmd("RCPT TO:<%s>" % rcpt)
        assert (code, text[:5]) == want, (rcpt, code, text)
    # an address without angle brackets is refused
    assert c.docmd("RCPT TO:user@elsewhere.example")[0] == 501
    c.quit()
    # from a trusted network (the default includes 127.0.0.1), relaying
    # works
    inst2, port2 = smtp_instance()
    c = smtplib.SMTP("127.0.0.1", port2)
    c.ehlo("x")
    c.mail("bob@example.net")
    assert c.rcpt("someone@elsewhere.example")[0] == 250
    c.quit()


def test_smtpd_size_and_hops():
    inst, port = smtp_instance("message_size_limit = 10K\n")
    c = smtplib.SMTP("127.0.0.1", port)
    c.ehlo("x")
    code, text = c.mail("a@b.example", ["SIZE=20000"])
    assert (code, text[:5]) == (552, b"5.3.4")
    c.mail("a@b.example")
    c.rcpt("alice@example.org")
    code, text = c.data(b"Subject: big\r\n\r\n" + b"x" * 20000 + b"\r\n")
    assert (code, text[:5]) == (552, b"5.3.4"), text
    c.mail("a@b.example")
    c.rcpt("alice@example.org")
    code, text = c.data(b"Received: from x\r\n" * 101 + b"\r\nloop\r\n")
    assert (code, text[:5]) == (554, b"5.4.0"), text
    c.quit()
    assert queued(inst) == []


SMUGGLE = [b"\n.\n", b"\r.\r", b"\r.\n", b"\n.\r\n", b"\r\n.\n",
           b"\n.\r", b"\r\n.\r"]


def test_smtpd_smuggling_never_ends_data():
    inst, port = smtp_instance()
    for seq in SMUGGLE:
        data = (b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n"
                b"RCPT TO:<alice@example.org>\r\nDATA\r\n"
                b"Subject: one\r\n\r\nfirst" + seq +
                b"MAIL FROM:<evil@b.example>\r\nRCPT TO:<bob@example.org>"
                b"\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\nQUIT"
                b"\r\n")
        out = raw(port, data)
        # one DATA, ended only by the last CRLF.CRLF, refused
        assert codes(out) == ["250 ENHAN", "250 2.1.0", "250 2.1.5",
                              "354 2.0.0", "550 5.6.0", "221 2.0.0"], \
            (seq, out)
    assert queued(inst) == []


def test_smtpd_bare_newlines_normalized_make_one_message():
    inst, port = smtp_instance("", extra="smtpd_bare_newline = normalize\n")
    out = raw(port, b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n"
              b"RCPT TO:<alice@example.org>\r\nDATA\r\nSubject: one\r\n\r\n"
              b"first\n.\nMAIL FROM:<evil@b.example>\r\nDATA\r\n"
              b"second\r\n.\r\nQUIT\r\n")
    assert codes(out)[-2:] == ["250 2.0.0", "221 2.0.0"], out
    (env, msg), = queued(inst)
    assert env[1]["rcpt"] == "alice@example.org"
    assert msg.endswith(b"first\r\n.\r\nMAIL FROM:<evil@b.example>\r\n"
                        b"DATA\r\nsecond\r\n")


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_smtpd_starttls_and_auth():
    inst, port = smtp_instance()
    c = smtplib.SMTP("127.0.0.1", port)
    c.ehlo("x")
    assert c.docmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGFsaWNlIHB3")[0] \
        == 538
    c.starttls(context=tls_ctx())
    code, caps = c.ehlo("x")
    assert b"AUTH PLAIN LOGIN SCRAM-SHA-256" in caps and b"STARTTLS" \
        not in caps
    # unknown user and wrong password: the same reply
    r1 = c.docmd("AUTH PLAIN " + base64.b64encode(
        b"\0nobody@example.org\0x").decode())
    r2 = c.docmd("AUTH PLAIN " + base64.b64encode(
        b"\0alice@example.org\0wrong").decode())
    assert r1 == r2 == (535, b"5.7.8 authentication credentials invalid")
    c.login("alice@example.org", "alice pw")        # smtplib: PLAIN
    assert c.docmd("AUTH PLAIN x")[0] == 503
    assert c.sendmail("alice@example.org", ["someone@elsewhere.example"],
                      MSG) == {}
    c.quit()
    (env, msg), = queued(inst)
    assert env[0]["auth"] == "alice@example.org"
    assert env[0]["protocol"] == "ESMTPSA" and env[0]["tls"].startswith(
        "TLSv1.")
    assert b"with ESMTPSA id" in msg and b"(TLSv1." in msg
    # LOGIN, with the exchange by hand
    c = smtplib.SMTP("127.0.0.1", port)
    c.starttls(context=tls_ctx())
    c.ehlo("x")
    assert c.docmd("AUTH LOGIN")[0] == 334
    assert c.docmd(base64.b64encode(b"bob@example.org").decode())[0] == 334
    assert c.docmd(base64.b64encode(b"bob pw").decode())[0] == 235
    c.quit()
    # cancelled, and garbage
    c = smtplib.SMTP("127.0.0.1", port)
    c.starttls(context=tls_ctx())
    c.ehlo("x")
    assert c.docmd("AUTH LOGIN")[0] == 334
    assert c.docmd("*")[0] == 501
    assert c.docmd("AUTH PLAIN !!!")[0] == 501
    assert c.docmd("AUTH CRAM-MD5")[0] == 504
    c.quit()


def scram(c, user, password):
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, cnonce)
    code, text = c.docmd("AUTH SCRAM-SHA-256 " + base64.b64encode(
        ("n,," + first_bare).encode()).decode())
    assert code == 334, text
    server_first = base64.b64decode(text).decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                 base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    final_wo = "c=biws,r=" + attrs["r"]
    authmsg = ",".join([first_bare, server_first, final_wo]).encode()
    csig = hmac.new(hashlib.sha256(ckey).digest(), authmsg,
                    hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, csig))
    code, text = c.docmd(base64.b64encode(
        (final_wo + ",p=" + base64.b64encode(proof).decode()).encode())
        .decode())
    assert code != 235, "235 without the server-final message (RFC 4954 4)"
    if code != 334:
        return code
    # RFC 4954 4, RFC 5802 3: the server's signature comes as a last
    # challenge, which the client checks and answers empty
    skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    ssig = hmac.new(skey, authmsg, hashlib.sha256).digest()
    assert base64.b64decode(text) == b"v=" + base64.b64encode(ssig), text
    code, text = c.docmd("")
    return code


def test_smtps_implicit_tls_submission():
    inst, port = smtp_instance("", section="smtps",
                               extra="smtpd_auth_required = yes\n")
    c = smtplib.SMTP_SSL("127.0.0.1", port, context=tls_ctx())
    c.ehlo("x")
    code, text = c.mail("alice@example.org")
    assert (code, text[:5]) == (530, b"5.7.0")
    assert scram(c, "alice@example.org", "alice pw") == 235
    # only the user's own addresses (or an alias leading to it)
    code, text = c.mail("bob@example.org")
    assert (code, text[:5]) == (553, b"5.7.1"), text
    assert c.mail("team@example.org")[0] == 250
    c.rset()
    assert c.mail("alice@example.org")[0] == 250
    assert c.rcpt("someone@elsewhere.example")[0] == 250
    code, text = c.data(b"Subject: no id, no date\r\n\r\nhi\r\n")
    assert code == 250, text
    c.quit()
    (env, msg), = queued(inst)
    assert b"\r\nMessage-ID: <" in msg and b"\r\nDate: " in msg
    assert env[0]["protocol"] == "ESMTPSA"


def test_smtpd_starttls_discards_pipelined_commands():
    inst, port = smtp_instance()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"EHLO x\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    # the injected MAIL comes in the same packet as STARTTLS
    s.sendall(b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n")
    assert f.readline().startswith(b"220 ")
    t = tls_ctx().wrap_socket(s)
    tf = t.makefile("rb")
    t.sendall(b"RCPT TO:<alice@example.org>\r\n")
    # no MAIL in this TLS session: the injected one is gone
    assert tf.readline().startswith(b"503 5.5.1"), "injection survived"
    t.close()


def test_smtpd_bdat_and_utf8():
    inst, port = smtp_instance()
    body = b"Subject: chunks\r\n\r\n" + b"eight\xffbit data\r\n" * 100
    half = len(body) // 2
    out = raw(port, b"EHLO x\r\nBDAT 5\r\nxxxxxRSET\r\n"
              b"MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"
              b"MAIL FROM:<a@b.example> BODY=8BITMIME\r\n"
              b"RCPT TO:<alice@example.org>\r\n" +
              b"BDAT %d\r\n" % half + body[:half] +
              b"BDAT %d LAST\r\n" % (len(body) - half) + body[half:] +
              b"QUIT\r\n")
    # RFC 3030 3: BINARYMIME is not offered, so it is refused
    assert codes(out) == ["250 ENHAN", "503 5.5.1", "250 2.0.0",
                          "555 5.5.4", "250 2.1.0", "250 2.1.5",
                          "250 2.0.0", "250 2.0.0", "221 2.0.0"], out
    assert "250-BINARYMIME" not in out
    (env, msg), = queued(inst)
    assert env[0]["body"] == "8BITMIME" and msg.endswith(body)
    # UTF-8 addresses only with SMTPUTF8
    sender = "\u0639\u0644\u06cc@example.net".encode()
    out = raw(port, b"EHLO x\r\nMAIL FROM:<" + sender + b">\r\n"
              b"MAIL FROM:<" + sender + b"> SMTPUTF8\r\n"
              b"RCPT TO:<alice@example.org>\r\nQUIT\r\n")
    assert codes(out) == ["250 ENHAN", "553 5.6.7", "250 2.1.0",
                          "250 2.1.5", "221 2.0.0"], out


def test_smtpd_privileges():
    chapartest.need_root()
    inst, port = smtp_instance()
    import pwd
    pid = [w["pid"] for w in inst.service("smtpd")["workers"]][0]
    with open("/proc/%d/status" % pid) as f:
        uids = [ln for ln in f if ln.startswith("Uid:")][0].split()[1:]
    assert set(uids) == {str(pwd.getpwnam("chapar-smtpd").pw_uid)}
    assert os.readlink("/proc/%d/root" % pid) == inst.path("run", "empty")
    # the queue is chapar-queue's alone
    st = os.stat(inst.path("queue"))
    assert st.st_uid == pwd.getpwnam("chapar-queue").pw_uid and \
        st.st_mode & 0o077 == 0


def test_smtpd_without_enqueue_says_try_later():
    inst, port = smtp_instance()
    # enqueue gone: chapard restarts it, but this worker's connection
    # broke; it answers 451 and finishes
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    for p in pids:
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"/enqueue\x00" in cmd and inst.conf.encode() in cmd:
            os.kill(int(p), 9)
    c = smtplib.SMTP("127.0.0.1", port)
    c.ehlo("x")
    c.mail("a@b.example")
    c.rcpt("alice@example.org")
    code, text = c.docmd("DATA")
    assert (code, text[:5]) == (451, b"4.3.0"), (code, text)
    c.close()
    # a new worker reconnects
    def works():
        try:
            c = smtplib.SMTP("127.0.0.1", port, timeout=5)
            r = c.sendmail("a@b.example", ["alice@example.org"], MSG)
            c.quit()
            return r == {}
        except (smtplib.SMTPException, OSError):
            return False
    wait_for(works, 20, "a working worker")


def test_smtpd_refuses_full_mailboxes_at_rcpt():
    """LMTP finds alice's mailbox full and tells authd; smtpd then says
    452 4.2.2 at RCPT (552 5.2.2 with quota_full_tempfail = no), and
    forgets it after quota_full_remember."""
    lport = free_port()
    inst, port = smtp_instance(
        conf="quota_messages = 1\nquota_full_remember = 3s\n",
        extra="\n[lmtp]\nlisten = 127.0.0.1:%d\nprefork = 1\n" % lport)
    wait_for(lambda: inst.service("lmtp") is not None and
             inst.idle("lmtp") >= 1, 20, "lmtp workers")
    assert lmtp_once(lport) == 250
    assert lmtp_once(lport) == 452
    c = smtplib.SMTP("127.0.0.1", port)
    c.ehlo("x")
    assert c.mail("bob@example.net")[0] == 250
    assert c.rcpt("alice@example.org") == (
        452, b"4.2.2 <alice@example.org>: mailbox full")
    assert c.rcpt("bob@example.org")[0] == 250
    # an alias with one mailbox left that is not full still takes mail
    assert c.rcpt("team@example.org")[0] == 250
    c.quit()
    with open(inst.path("chapar.conf")) as f:
        conf = f.read()
    with open(inst.path("chapar.conf"), "w") as f:
        f.write("quota_full_tempfail = no\n" + conf)
    assert inst.chapar("reload").returncode == 0

    def refused_for_good():
        lmtp_once(lport)        # marks the mailbox full again
        return smtp_rcpt_code(port, "alice@example.org") == 552
    wait_for(refused_for_good, 10, "552 after the reload")
    # remembered for quota_full_remember only
    wait_for(lambda: smtp_rcpt_code(port, "alice@example.org") == 250, 10,
             "the mark to expire")
    assert "mailbox alice@example.org: full" in inst.log("chapard")


def smtp_rcpt_code(port, rcpt):
    c = smtplib.SMTP("127.0.0.1", port)
    c.ehlo("x")
    c.mail("bob@example.net")
    code = c.rcpt(rcpt)[0]
    c.quit()
    return code


def lmtp_once(lport):
    lm = smtplib.LMTP("127.0.0.1", lport)
    lm.ehlo_or_helo_if_needed()
    assert lm.mail("bob@example.net")[0] == 250
    assert lm.rcpt("alice@example.org")[0] == 250
    code, _ = lm.data(MSG)
    lm.quit()
    return code


def test_smtpd_auth_failures_look_alike():
    """A wrong password for a real user and any password for an unknown
    one: the same reply, in about the same time (authd hashes a dummy
    for unknown users; the failure penalty is off here so that the hash
    is what is timed).  Then, with the penalty on, failures slow down."""
    import statistics
    import time
    inst, port = smtp_instance(
        conf="auth_fail_delay = 0s\nauth_fail_ip_limit = 1000\n"
             "auth_fail_user_limit = 0\n")
    took = {"known": [], "unknown": []}
    replies = set()
    for i in range(8):
        for kind, user in (("known", "alice@example.org"),
                           ("unknown", "nobody%d@example.org" % i)):
            c = smtplib.SMTP("127.0.0.1", port)
            c.starttls(context=tls_ctx())
            c.ehlo("x")
            t0 = time.monotonic()
            replies.add(c.docmd("AUTH PLAIN " + base64.b64encode(
                ("\0%s\0wrong" % user).encode()).decode()))
            took[kind].append(time.monotonic() - t0)
            c.close()
    assert replies == {(535, b"5.7.8 authentication credentials invalid")}
    k = statistics.median(took["known"])
    u = statistics.median(took["unknown"])
    print("#   median failed AUTH: known user %.0f ms, unknown %.0f ms" %
          (k * 1000, u * 1000))
    assert 0.5 < u / k < 2.0, (took, k, u)
    # the penalty, through authd: after 2 failures each reply waits 1 s
    inst, port = smtp_instance(
        conf="auth_fail_delay_after = 2\nauth_fail_delay = 1s\n")
    c = smtplib.SMTP("127.0.0.1", port)
    c.starttls(context=tls_ctx())
    c.ehlo("x")
    waits = []
    for i in range(3):
        t0 = time.monotonic()
        assert c.docmd("AUTH PLAIN " + base64.b64encode(
            b"\0alice@example.org\0wrong").decode())[0] == 535
        waits.append(time.monotonic() - t0)
    c.close()
    assert waits[0] < 0.9 and waits[2] >= 0.9, waits


def test_submission_futurerelease():
    """RFC 4865 on submission: FUTURERELEASE offered, HOLDFOR/HOLDUNTIL
    into the envelope's hold=; not on port 25."""
    import re
    import time
    inst, port = smtp_instance(section="smtps",
                               extra="smtpd_auth_required = yes\n"
                               "smtpd_futurerelease_max = 1d\n")
    c = smtplib.SMTP_SSL("127.0.0.1", port, context=tls_ctx())
    code, caps = c.ehlo("x")
    m = re.search(rb"FUTURERELEASE (\d+) (\S+)", caps)
    assert m and m.group(1) == b"86400", caps
    assert scram(c, "alice@example.org", "alice pw") == 235
    now = int(time.time())
    assert c.mail("alice@example.org", ["HOLDFOR=3600"])[0] == 250
    c.rcpt("someone@elsewhere.example")
    assert c.data(b"Subject: later\r\n\r\nhi\r\n")[0] == 250
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 7200))
    assert c.mail("alice@example.org", ["HOLDUNTIL=" + until])[0] == 250
    c.rcpt("someone@elsewhere.example")
    assert c.data(b"Subject: later 2\r\n\r\nhi\r\n")[0] == 250
    # beyond the limit, both, or malformed: 501
    code, text = c.mail("alice@example.org", ["HOLDFOR=90000"])
    assert (code, text[:5]) == (501, b"5.5.4"), text
    assert c.mail("alice@example.org", ["HOLDFOR=1",
                                        "HOLDUNTIL=" + until])[0] == 501
    assert c.mail("alice@example.org", ["HOLDUNTIL=tomorrow"])[0] == 501
    c.quit()
    holds = sorted(int(env[0]["hold"]) - now for env, _ in queued(inst))
    assert 3590 <= holds[0] <= 3610 and 7190 <= holds[1] <= 7210, holds
    # port 25 offers nothing of the kind
    inst, port = smtp_instance()
    c = smtplib.SMTP("127.0.0.1", port)
    code, caps = c.ehlo("x")
    assert b"FUTURERELEASE" not in caps
    assert c.mail("bob@example.net", ["HOLDFOR=60"])[0] == 555
    c.quit()
