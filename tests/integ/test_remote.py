"""remote: the SMTP client, from the queue to other servers -- MX order
and fallback, per-recipient replies, retries, null MX, the transport map
-- against SMTP servers and a DNS server of the test's own on loopback."""
import email
import email.policy

import chapartest
from chapartest import free_port, wait_for

from fakedns import FakeDNS
from smtpsink import SMTPSink
from test_local import messages
from test_qmgr import log, q_instance, queue_files, sendmail

ZONE = {
    "example.net": {"MX": ["10 mx1.example.net.", "20 mx2.example.net."]},
    # nothing listens on 127.0.0.2: the first MX fails, the second takes
    "mx1.example.net": {"A": ["127.0.0.2"]},
    "mx2.example.net": {"A": ["127.0.0.1"]},
    "nullmx.example": {"MX": ["0 ."]},
    # 400 addresses (nothing listens there): more than remote's 4 KB
    # list of them holds
    "many.example": {"MX": ["10 mxmany.example."]},
    "mxmany.example": {"A": ["127.0.%d.%d" % (i // 200, i % 200 + 2)
                             for i in range(400)]},
}


def remote_instance(extra=""):
    port = free_port()
    sink = SMTPSink(port)
    dns = FakeDNS(ZONE)
    inst, _ = q_instance("dns_servers = %s\nremote_smtp_port = %d\n"
                         "remote_connect_timeout = 5s\n%s" %
                         (dns.server, port, extra))
    wait_for(lambda: "remote[" in log(inst) and "ready" in log(inst), 10,
             "remote")
    return inst, sink, dns, port


def test_remote_delivers_through_the_second_mx():
    chapartest.need_root()
    inst, sink, dns, port = remote_instance()
    try:
        r = sendmail(inst, "-f", "bob@example.org", "-N", "success,failure",
                     "-V", "id+1=x", "carol@example.net", "dave@example.net")
        assert r.returncode == 0, r
        wait_for(lambda: len(sink.messages) == 1, 20, "the delivery")
        m = sink.messages[0]
        assert m["from"] == "bob@example.org"
        assert sorted(m["rcpts"]) == ["carol@example.net",
                                      "dave@example.net"]
        assert "SIZE=" in m["params"]
        # RFC 3461 4.4: ENVID goes xtext-encoded
        assert "ENVID=id+2B1+3Dx" in m["params"], m["params"]
        assert b"\r\nSubject: through the queue\r\n" in m["data"]
        assert b"\r\n.dot at the start\r\n" in m["data"]
        assert any(c.startswith("RCPT TO:<carol@example.net> NOTIFY=")
                   for c in sink.commands), sink.commands
        wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
        text = log(inst)
        assert "relay=mx2.example.net[127.0.0.1]:%d" % port in text
        assert "status=sent (250 2.0.0 queued as SINK1)" in text
        assert "mx1.example.net[127.0.0.2]:%d: cannot connect" % port in text
    finally:
        sink.stop()
        dns.stop()


def test_remote_refusals_retries_and_null_mx():
    chapartest.need_root()
    inst, sink, dns, port = remote_instance()
    try:
        r = sendmail(inst, "-f", "bob@example.org", "refuse@example.net",
                     "later@example.net", "x@nullmx.example",
                     "y@nowhere.example")
        assert r.returncode == 0, r
        # later@ is deferred once, then taken; the rest fail at once
        wait_for(lambda: len(sink.messages) == 1, 20, "the retry")
        assert sink.messages[0]["rcpts"] == ["later@example.net"]
        wait_for(lambda: len(messages(inst, "bob@example.org")) == 1, 20,
                 "the report")
        report = email.message_from_bytes(
            messages(inst, "bob@example.org")[0][1],
            policy=email.policy.default)
        groups = report.get_payload()[1].get_payload()[1:]
        got = {g["Final-Recipient"]: (g["Status"], g["Diagnostic-Code"])
               for g in groups}
        assert got["rfc822; refuse@example.net"][0] == "5.1.1"
        assert "no such user" in got["rfc822; refuse@example.net"][1]
        assert got["rfc822; x@nullmx.example"][0] == "5.1.10"
        assert got["rfc822; y@nowhere.example"][0] == "5.1.2"
        assert len(got) == 3
        wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
        assert "status=deferred (451 4.2.0 <later@example.net>" in \
            log(inst)
    finally:
        sink.stop()
        dns.stop()


def test_remote_transport_map_and_relayhost():
    chapartest.need_root()
    port2 = free_port()
    other = SMTPSink(port2)
    inst, sink, dns, port = remote_instance(
        "transport_map = customer.example=[127.0.0.1]:%d\n" % port2)
    try:
        assert sendmail(inst, "-f", "bob@example.org",
                        "a@customer.example").returncode == 0
        wait_for(lambda: len(other.messages) == 1, 20, "the transport")
        assert other.messages[0]["rcpts"] == ["a@customer.example"]
        assert sink.messages == []
    finally:
        other.stop()
        sink.stop()
        dns.stop()


def test_remote_chapar_to_chapar_over_starttls():
    """One Chapar instance sends to another's smtpd (STARTTLS with its
    self-signed certificate: encrypted, not verified) which delivers."""
    chapartest.need_root()
    from test_qmgr import add_lmtp
    from chapartest import Instance
    bport = free_port()
    b = Instance("dns_servers = 127.0.0.1@9\n")
    b.ok("domain", "add", "example.com")
    b.add_user("erin@example.com", "pw")
    b.add_conf("[smtpd]\nlisten = 127.0.0.1:%d\nprefork = 1\n" % bport)
    add_lmtp(b)
    b.start_chapard()
    wait_for(lambda: b.service("smtpd") is not None and
             b.idle("smtpd") >= 1, 20, "the receiving smtpd")
    inst, sink, dns, port = remote_instance(
        "transport_map = example.com=127.0.0.1:%d, "
        "strict.example=127.0.0.1:%d\n"
        "remote_tls_policy = strict.example=verify\n" % (bport, bport))
    try:
        # a destination whose policy wants a verified certificate: the
        # self-signed one will not do
        assert sendmail(inst, "-f", "bob@example.org",
                        "x@strict.example").returncode == 0
        wait_for(lambda: "to=<x@strict.example>" in log(inst), 20,
                 "the attempt")
        assert "dsn=4.7.5, status=deferred (451 4.7.5 the server's " \
            "certificate could not be verified" in log(inst), log(inst)
        assert sendmail(inst, "-f", "bob@example.org",
                        "erin@example.com").returncode == 0
        wait_for(lambda: len(messages(b, "erin@example.com")) == 1, 20,
                 "the delivery to the other Chapar")
        got = messages(b, "erin@example.com")[0][1]
        assert b"with ESMTPS id" in got and b"(TLSv1.3 with cipher" in got
        assert b"\r\nSubject: through the queue\r\n" in got
        text = log(inst)
        assert "127.0.0.1[127.0.0.1]:%d: TLS TLSv1.3" % bport in text
        assert "certificate not verified" in text
        assert "relay=127.0.0.1[127.0.0.1]:%d" % bport in text
    finally:
        sink.stop()
        dns.stop()


def test_remote_smarthost_with_auth():
    """relayhost with AUTH PLAIN over STARTTLS: the other Chapar's
    submission port takes mail for any domain once we log in."""
    chapartest.need_root()
    import os
    from chapartest import Instance
    from test_smtpd import queued
    bport = free_port()
    b = Instance("dns_servers = 127.0.0.1@9\nqueue_delivery = no\n")
    b.ok("domain", "add", "example.com")
    b.add_user("relay@example.com", "relay pw")
    b.add_conf("[submission]\nlisten = 127.0.0.1:%d\nprefork = 1\n"
               "smtpd_auth_required = yes\nsmtpd_sender_grants = "
               "relay@example.com:*\n" % bport)
    b.start_chapard()
    wait_for(lambda: b.service("submission") is not None and
             b.idle("submission") >= 1, 20, "the smarthost")
    secret = os.path.join(b.dir, "relay.secret")
    with open(secret, "w") as f:
        f.write("relay@example.com relay pw\n")
    os.chmod(secret, 0o600)
    inst, sink, dns, port = remote_instance(
        "relayhost = [127.0.0.1]:%d\nrelayhost_auth_file = %s\n" %
        (bport, secret))
    try:
        assert sendmail(inst, "-f", "bob@example.org",
                        "carol@far.example").returncode == 0
        wait_for(lambda: len(queued(b)) == 1, 20, "the relayed message")
        (env, msg), = queued(b)
        assert env[0]["auth"] == "relay@example.com"
        assert env[1]["rcpt"] == "carol@far.example"
        assert env[0]["protocol"] == "ESMTPSA"
        wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
        assert sink.messages == []      # not to the MX
    finally:
        sink.stop()
        dns.stop()


def test_remote_survives_hostile_servers():
    """Servers that send garbage, endless lines or nothing: remote
    defers, logs why, and is still there for the next job."""
    chapartest.need_root()
    import socket
    import threading
    port2 = free_port()
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port2))
    lst.listen(8)
    answers = [b"2500 what\r\n", b"220-" + b"x" * 100000 + b"\r\n",
               b"220 ok\r\n250-a\r\n251 b\r\n", b"\x00\xff\r\n"]

    def serve():
        for a in answers:
            try:
                c, _ = lst.accept()
            except OSError:
                return
            try:
                c.sendall(a)
                c.recv(1000)
            except OSError:
                pass
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    inst, sink, dns, port = remote_instance(
        "transport_map = bad.example=[127.0.0.1]:%d\n" % port2)
    try:
        for i in range(len(answers)):
            assert sendmail(inst, "-f", "bob@example.org",
                            "x%d@bad.example" % i).returncode == 0
        wait_for(lambda: log(inst).count("@bad.example>") >= len(answers),
                 30, "every attempt")
        text = log(inst)
        assert text.count("4.4.1 no mail server of the domain could be "
                          "reached") >= len(answers), text[-3000:]
        # and remote still works
        assert sendmail(inst, "-f", "bob@example.org",
                        "carol@example.net").returncode == 0
        wait_for(lambda: len(sink.messages) == 1, 20, "a good delivery")
    finally:
        lst.close()
        sink.stop()
        dns.stop()


def test_remote_host_with_hundreds_of_addresses():
    """A host's A records came from the domain's DNS, as many as it
    likes: remote once ended with a panic when they passed its list's
    limit.  It tries those that fit and defers."""
    chapartest.need_root()
    inst, sink, dns, port = remote_instance()
    try:
        assert sendmail(inst, "-f", "bob@example.org",
                        "x@many.example").returncode == 0
        wait_for(lambda: "<x@many.example>" in log(inst) and
                 "status=deferred" in log(inst), 30, "the attempt")
        text = log(inst)
        assert "panic" not in text, text[-3000:]
        assert "mxmany.example[127.0.0.2]:%d: cannot connect" % port in text
        # and remote still works
        assert sendmail(inst, "-f", "bob@example.org",
                        "carol@example.net").returncode == 0
        wait_for(lambda: len(sink.messages) == 1, 20, "a good delivery")
    finally:
        sink.stop()
        dns.stop()


def test_remote_converts_8bit_for_servers_without_8bitmime():
    chapartest.need_root()
    import email
    import email.policy
    inst, sink, dns, port = remote_instance()
    sink.caps = ["PIPELINING", "SIZE 10000000"]     # no 8BITMIME
    try:
        body = ("Subject: salaam\r\nContent-Type: text/plain; "
                "charset=utf-8\r\n\r\n\u0633\u0644\u0627\u0645 = hello "
                "\r\n").encode()
        assert sendmail(inst, "-f", "bob@example.org", "carol@example.net",
                        data=body).returncode == 0
        wait_for(lambda: len(sink.messages) == 1, 20, "the delivery")
        m = sink.messages[0]
        assert "BODY=8BITMIME" not in m["params"]
        assert all(b < 0x80 for b in m["data"])
        got = email.message_from_bytes(m["data"], policy=email.policy.default)
        assert got["Content-Transfer-Encoding"] == "quoted-printable"
        assert got.get_content().replace("\r\n", "\n") == \
            "\u0633\u0644\u0627\u0645 = hello \n"
        assert "no 8BITMIME: sent as quoted-printable" in log(inst)
    finally:
        sink.stop()
        dns.stop()


def test_remote_makes_long_lines_fit():
    """smtpd takes lines of any length; remote sends no line over 998
    octets (RFC 5322 2.1.1): the body goes quoted-printable, a header
    field is folded, and what the reader sees is unchanged."""
    chapartest.need_root()
    import email
    import email.policy
    inst, sink, dns, port = remote_instance()
    try:
        text = " ".join("word%d" % i for i in range(1500))
        subject = " ".join("s%d" % i for i in range(400))
        body = ("Subject: %s\r\nContent-Type: text/plain\r\n\r\n%s\r\n"
                ".dot\r\n" % (subject, text)).encode()
        assert sendmail(inst, "-f", "bob@example.org", "carol@example.net",
                        data=body).returncode == 0
        wait_for(lambda: len(sink.messages) == 1, 20, "the delivery")
        m = sink.messages[0]
        assert max(len(ln) for ln in m["data"].split(b"\r\n")) <= 998
        got = email.message_from_bytes(m["data"], policy=email.policy.default)
        assert got["Content-Transfer-Encoding"] == "quoted-printable"
        assert got.get_content().replace("\r\n", "\n") == \
            text + "\n.dot\n"
        assert str(got["Subject"]) == subject
        assert "lines over 998 octets made to fit" in log(inst)
    finally:
        sink.stop()
        dns.stop()


def test_qmgr_delay_notice_once():
    """NOTIFY=DELAY (or none): after delay_warning_time the sender hears,
    once, that the message is still being tried (RFC 3464 Action:
    delayed); here the notice itself goes out through remote."""
    chapartest.need_root()
    import email
    import email.policy
    import time
    inst, sink, dns, port = remote_instance("delay_warning_time = 2s\n")
    try:
        assert sendmail(inst, "-f", "bob@example.net",
                        "busy@example.net").returncode == 0
        wait_for(lambda: any(m["rcpts"] == ["bob@example.net"]
                             for m in sink.messages), 20, "the notice")
        time.sleep(3)
        notices = [m for m in sink.messages
                   if m["rcpts"] == ["bob@example.net"]]
        assert len(notices) == 1 and notices[0]["from"] == ""
        rep = email.message_from_bytes(notices[0]["data"],
                                       policy=email.policy.default)
        assert rep["Subject"] == "Delayed Mail (still being retried)"
        status = rep.get_payload()[1].get_payload()
        assert status[1]["Action"] == "delayed"
        assert status[1]["Final-Recipient"] == "rfc822; busy@example.net"
        assert status[1]["Status"] == "4.2.1"
        assert rep.get_payload()[2].get_content_type() == \
            "text/rfc822-headers"
        assert "sender delay notification" in log(inst)
        # still in the queue, still tried
        assert inst.ok("queue", "list").count("deferred") == 1
    finally:
        sink.stop()
        dns.stop()


def test_remote_long_replies_and_many_recipients():
    """What servers say goes into the envelope and the report, within
    bounds: long multi-line replies, replies with control bytes, and the
    answers for hundreds of recipients of one domain."""
    chapartest.need_root()
    inst, sink, dns, port = remote_instance()
    try:
        many = ["ok%03d-%s@example.net" % (i, "x" * 40) for i in range(500)]
        r = sendmail(inst, "-f", "bob@example.org", "long@example.net",
                     "ctl@example.net", *many)
        assert r.returncode == 0, r
        wait_for(lambda: len(messages(inst, "bob@example.org")) == 1, 40,
                 "the report")
        wait_for(lambda: queue_files(inst) == [], 20, "an empty queue")
        got = [a for m in sink.messages for a in m["rcpts"]]
        assert sorted(got) == sorted(many + ["ctl@example.net"])
        report = email.message_from_bytes(
            messages(inst, "bob@example.org")[0][1],
            policy=email.policy.default)
        groups = report.get_payload()[1].get_payload()[1:]
        assert [g["Final-Recipient"] for g in groups] == [
            "rfc822; long@example.net"]
        assert groups[0]["Status"] == "5.7.1"
        assert "<long@example.net> 0 " in groups[0]["Diagnostic-Code"]
        assert "buffer overflow" not in log(inst)
    finally:
        sink.stop()
        dns.stop()
