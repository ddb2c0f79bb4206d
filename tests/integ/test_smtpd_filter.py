"""smtpd's filter stages (chapar-filter(7)) with filters written here in
Python, and the From check of submission."""
import base64
import os
import smtplib
import socket
import threading

from chapartest import free_port, wait_for
from test_smtpd import MSG, queued, smtp_instance, tls_ctx


def unescape(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v):
            out.append({"t": "\t", "n": "\n", "r": "\r", "0": "\0",
                        "\\": "\\"}[v[i + 1]])
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def decode(line):
    """A rec line: [(name, value)], names may repeat."""
    return [(f.split("=", 1)[0], unescape(f.split("=", 1)[1]))
            for f in line.split("\t")]


def esc(v):
    return (v.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


class Filter:
    """A filter daemon on a UNIX socket; judge(fields, message) gives the
    verdict as [(name, value)]; every request is kept."""

    def __init__(self, path, judge):
        self.path, self.judge = path, judge
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,),
                             daemon=True).start()

    def serve(self, conn):
        f = conn.makefile("rb")
        while True:
            line = f.readline()
            if not line:
                return
            fields = decode(line.decode().rstrip("\n"))
            message = None
            if dict(fields)["stage"] == "data":
                message = b""
                while True:
                    n = f.readline().strip()
                    if n == b"abort":
                        message = None
                        break
                    if n == b"0":
                        break
                    message += f.read(int(n))
                if message is None:
                    self.requests.append((fields, "aborted"))
                    continue
            self.requests.append((fields, message))
            verdict = self.judge(dict(fields), message)
            if verdict is None:     # the filter crashes
                conn.close()
                return
            conn.sendall(("\t".join("%s=%s" % (k, esc(v))
                                    for k, v in verdict) + "\n").encode())

    def close(self):
        self.sock.close()


def policy_judge(req, _message):
    rcpt = req["rcpt"]
    if rcpt.startswith("refuse@"):
        return [("action", "reject"),
                ("reply", "550 5.7.26 the policy says no")]
    if rcpt.startswith("later@"):
        return [("action", "tempfail")]
    if rcpt.startswith("bogus@"):    # a reply of the wrong class
        return [("action", "reject"), ("reply", "250 2.0.0 fine")]
    if rcpt.startswith("tag@"):
        return [("action", "tag"), ("header", "X-Policy: tagged"),
                ("header", "Bad\r\nInjected: yes")]
    if rcpt.startswith("crash@"):
        return None
    if rcpt.startswith("hold@"):
        return [("action", "quarantine"), ("reason", "looks odd")]
    return [("action", "accept")]


def content_judge(_req, message):
    if b"EICAR" in message:
        return [("action", "reject"),
                ("reply", "554 5.7.1 virus found: EICAR-Test")]
    if b"cheap pills" in message:
        return [("action", "tag"), ("header", "X-Spam: yes")]
    if b"suspicious" in message:
        return [("action", "quarantine"), ("reason", "spam score 9.1")]
    if b"slowly" in message:
        return [("action", "tempfail"),
                ("reply", "451 4.7.1 greylisted, come back later")]
    return [("action", "accept")]


def filtered_instance(policy=True, content=True, extra=""):
    import tempfile
    d = tempfile.mkdtemp(prefix="chapar-filter-")
    os.chmod(d, 0o755)
    filters = {}
    conf = extra
    if policy:
        filters["policy"] = Filter(os.path.join(d, "policy"),
                                   policy_judge)
        conf += "smtpd_policy_filters = %s\n" % filters["policy"].path
    if content:
        filters["content"] = Filter(os.path.join(d, "content"),
                                    content_judge)
        conf += "smtpd_content_filters = %s\n" % filters["content"].path
    inst, port = smtp_instance(extra=conf)
    return inst, port, filters


def test_smtpd_policy_filter_verdicts():
    inst, port, fl = filtered_instance(content=False)
    c = smtplib.SMTP("127.0.0.1", port)
    c.ehlo("client.example.net")
    assert c.mail("bob@example.net")[0] == 250
    # 127.0.0.1 is in relay_networks: mail for elsewhere may pass
    assert c.rcpt("refuse@elsewhere.example") == (
        550, b"5.7.26 the policy says no")
    assert c.rcpt("later@elsewhere.example") == (
        451, b"4.7.1 try again later")
    assert c.rcpt("bogus@elsewhere.example") == (
        550, b"5.7.1 refused by policy")
    # smtpd's own checks come first: the filter never hears of this
    assert c.rcpt("nobody@example.org")[0] == 550
    assert c.rcpt("alice@example.org")[0] == 250
    c.quit()
    asked = [dict(f)["rcpt"] for f, _ in fl["policy"].requests]
    assert asked == ["refuse@elsewhere.example", "later@elsewhere.example",
                     "bogus@elsewhere.example", "alice@example.org"], asked
    first = dict(fl["policy"].requests[0][0])
    assert first["stage"] == "rcpt" and first["client"] == "127.0.0.1"
    assert first["helo"] == "client.example.net"
    assert first["sender"] == "bob@example.net"
    assert queued(inst) == []


def test_smtpd_policy_filter_tag_and_quarantine():
    inst, port, fl = filtered_instance(content=False)
    c = smtplib.SMTP("127.0.0.1", port)
    assert c.sendmail("bob@example.net", ["tag@elsewhere.example"],
                      MSG) == {}
    assert c.sendmail("bob@example.net", ["hold@elsewhere.example"],
                      MSG) == {}
    c.quit()
    (env1, msg1), (env2, msg2) = sorted(
        queued(inst), key=lambda q: q[0][1]["rcpt"])
    assert env1[1]["rcpt"] == "hold@elsewhere.example"
    assert env1[0]["quarantine"] == "looks odd"
    # the good header goes on top, after Received; the bad one nowhere
    assert b"\r\nX-Policy: tagged\r\n" in msg2
    assert msg2.index(b"X-Policy") < msg2.index(b"From: Bob")
    assert b"Injected" not in msg2 and "quarantine" not in env2[0]


def test_smtpd_content_filter_sees_the_message_and_judges():
    inst, port, fl = filtered_instance(policy=False)
    c = smtplib.SMTP("127.0.0.1", port)
    c.ehlo("x")
    assert c.sendmail("bob@example.net", ["alice@example.org",
                                          "bob@example.org"], MSG) == {}
    try:
        c.sendmail("bob@example.net", ["alice@example.org"],
                   MSG + b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR\r\n")
        assert False, "a virus was accepted"
    except smtplib.SMTPDataError as e:
        assert (e.smtp_code, e.smtp_error) == (
            554, b"5.7.1 virus found: EICAR-Test")
    try:
        c.sendmail("bob@example.net", ["alice@example.org"],
                   MSG + b"I come slowly\r\n")
        assert False
    except smtplib.SMTPDataError as e:
        assert (e.smtp_code, e.smtp_error[:5]) == (451, b"4.7.1")
    assert c.sendmail("bob@example.net", ["alice@example.org"],
                      MSG + b"cheap pills\r\n") == {}
    assert c.sendmail("bob@example.net", ["alice@example.org"],
                      MSG + b"a suspicious offer\r\n") == {}
    # BDAT goes through the filter too
    c.ehlo("x")
    c.docmd("MAIL FROM:<bob@example.net>")
    c.docmd("RCPT TO:<alice@example.org>")
    body = MSG + b"EICAR in chunks\r\n"
    c.send(b"BDAT 20\r\n" + body[:20])
    assert c.getreply()[0] == 250
    c.send(b"BDAT %d LAST\r\n" % (len(body) - 20) + body[20:])
    assert c.getreply()[0] == 554
    c.quit()
    q = queued(inst)
    assert len(q) == 3, [e for e, _ in q]
    by_body = {m[-20:]: (e, m) for e, m in q}
    # what the filter read is what the queue holds, byte for byte
    reqs = [(dict(f), m) for f, m in fl["content"].requests]
    first, fmsg = reqs[0]
    env, qmsg = q[0] if q[0][1].endswith(MSG) else by_body[MSG[-20:]]
    assert fmsg == qmsg
    assert first["stage"] == "data" and first["id"] == \
        qmsg.split(b" id ")[1].split(b";")[0].decode()
    rcpts = [v for k, v in fl["content"].requests[0][0] if k == "rcpt"]
    assert rcpts == ["alice@example.org", "bob@example.org"]
    spam = [e for e, m in q if m.endswith(b"cheap pills\r\n")][0]
    assert spam[0]["header"] == "X-Spam: yes"
    held = [e for e, m in q if m.endswith(b"offer\r\n")][0]
    assert held[0]["quarantine"] == "spam score 9.1"


def test_smtpd_filter_down():
    # a filter that dies in the middle: mail waits, the worker retires
    inst, port, fl = filtered_instance(content=False)
    c = smtplib.SMTP("127.0.0.1", port)
    c.ehlo("x")
    assert c.mail("bob@example.net")[0] == 250
    assert c.rcpt("crash@elsewhere.example") == (
        451, b"4.3.0 a filter is unavailable; try again later")
    assert c.rcpt("alice@example.org")[0] == 451
    c.quit()
    wait_for(lambda: "a filter is unavailable; finishing this session" in
             inst.log("chapard"), 10, "the worker to retire")
    # a new worker connects again
    c = smtplib.SMTP("127.0.0.1", port)
    assert c.sendmail("bob@example.net", ["alice@example.org"], MSG) == {}
    c.quit()
    # no filter at all: mail waits, or passes when so configured
    inst, port = smtp_instance(
        extra="smtpd_policy_filters = /nonexistent/filter.sock\n")
    c = smtplib.SMTP("127.0.0.1", port)
    c.ehlo("x")
    assert c.mail("bob@example.net")[0] == 250
    assert c.rcpt("alice@example.org") == (
        451, b"4.3.0 a filter is unavailable; try again later")
    c.quit()
    inst, port = smtp_instance(
        extra="smtpd_policy_filters = /nonexistent/filter.sock\n"
              "smtpd_content_filters = /nonexistent/content.sock\n"
              "smtpd_filter_unavailable = accept\n")
    c = smtplib.SMTP("127.0.0.1", port)
    assert c.sendmail("bob@example.net", ["alice@example.org"], MSG) == {}
    c.quit()
    assert len(queued(inst)) == 1


def auth_plain(c, user, pw):
    return c.docmd("AUTH PLAIN " + base64.b64encode(
        ("\0%s\0%s" % (user, pw)).encode()).decode())[0]


def test_submission_header_from_must_be_the_users():
    inst, port = smtp_instance(
        section="smtps", extra="smtpd_auth_required = yes\n"
        "smtpd_sender_grants = bob@example.org:*@example.net, "
        "alice@example.org:news@example.org\n")
    c = smtplib.SMTP_SSL("127.0.0.1", port, context=tls_ctx())
    c.ehlo("x")
    assert auth_plain(c, "alice@example.org", "alice pw") == 235

    def send(frm, body=b"hi\r\n", sender="alice@example.org"):
        c.rset()
        assert c.mail(sender)[0] == 250
        assert c.rcpt("someone@elsewhere.example")[0] == 250
        return c.data(frm + b"Subject: x\r\n\r\n" + body)

    assert send(b"From: Alice <alice@example.org>\r\n")[0] == 250
    assert send(b"From: team@example.org\r\n")[0] == 250     # an alias
    assert send(b"From: news@example.org\r\n")[0] == 250     # a grant
    code, text = send(b"From: Bob <bob@example.org>\r\n")
    assert (code, text) == (550, b"5.7.1 From: <bob@example.org> is not "
                            b"an address of alice@example.org"), text
    code, text = send(b"From: alice@example.org,\r\n bob@example.org\r\n")
    assert code == 550, text                                  # folded
    code, text = send(b"From: alice@example.org\r\nfrom: x@y.example\r\n")
    assert (code, text) == (550, b"5.7.1 more than one From field")
    # RFC 5322 4.5: "From :" is a From field too (readers show it)
    code, text = send(b"From : Bob <bob@example.org>\r\n")
    assert code == 550, text
    code, text = send(b"From: undisclosed:;\r\n")
    assert (code, text) == (550, b"5.7.1 the From field must hold "
                            b"mailboxes")
    # MAIL FROM with a grant; BDAT is checked the same way
    assert c.mail("news@example.org")[0] == 250
    c.rset()
    c.mail("alice@example.org")
    c.rcpt("someone@elsewhere.example")
    body = b"From: carol@example.org\r\n\r\nhi\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(body) + body)
    assert c.getreply()[0] == 550
    c.quit()
    assert len(queued(inst)) == 3
    # bob may use any address of example.net, but not of example.org
    c = smtplib.SMTP_SSL("127.0.0.1", port, context=tls_ctx())
    c.ehlo("x")
    assert auth_plain(c, "bob@example.org", "bob pw") == 235
    assert c.mail("anything@example.net")[0] == 250
    c.rset()
    assert c.mail("carol@example.org")[0] == 553
    c.quit()


def test_smtpd_policy_filter_tags_past_the_limit():
    """Each RCPT may bring header fields from a policy filter; when they
    no longer fit, the recipient waits for another transaction (452
    4.5.3) instead of the session dying, and what was taken is kept."""
    import tempfile
    d = tempfile.mkdtemp(prefix="chapar-filter-")
    os.chmod(d, 0o755)
    big = Filter(os.path.join(d, "policy"), lambda req, _m: [
        ("action", "tag"),
        ("header", "X-Policy-Note: %s %s" % (req["rcpt"], "n" * 900))])
    inst, port = smtp_instance(extra="smtpd_policy_filters = %s\n" %
                               big.path)
    c = smtplib.SMTP("127.0.0.1", port)
    c.ehlo("x")
    assert c.mail("bob@example.net")[0] == 250
    codes = []
    while codes.count(452) < 3 and len(codes) < 100:
        codes.append(c.rcpt("r%03d@elsewhere.example" % len(codes))[0])
    taken = codes.count(250)
    assert taken > 0 and codes == [250] * taken + [452] * 3, codes
    assert c.data(MSG)[0] == 250
    c.quit()
    (env, msg), = queued(inst)
    assert len(env) == 1 + taken
    assert msg.count(b"\r\nX-Policy-Note: ") == taken
