"""remote and qmgr together: deliveries at once under the limits,
connection reuse, pipelining, servers that drop the connection or are
slow, kill -9 of remote in the middle of a delivery, success notices."""
import email
import email.policy
import os
import signal
import smtplib
import socket
import tempfile
import threading
import time

import chapartest
from chapartest import free_port, wait_for

from smtpsink import SMTPSink
from test_local import messages
from test_qmgr import log, q_instance, queue_files, sendmail


def sched_instance(routes, extra=""):
    """An instance whose remote mail goes by transport_map: routes maps
    a domain to a port on 127.0.0.1."""
    tm = ", ".join("%s=[127.0.0.1]:%d" % (d, p) for d, p in routes.items())
    inst, port = q_instance("transport_map = %s\nremote_connect_timeout = "
                            "5s\n%s" % (tm, extra))
    inst.smtp_port = port
    wait_for(lambda: "remote[" in log(inst) and "ready" in log(inst), 10,
             "remote")
    return inst


def test_remote_destinations_run_at_once_within_limits():
    """A slow destination takes at most remote_destination_concurrency
    processes, keeps its connections for the next messages, and does not
    hold up mail for another."""
    chapartest.need_root()
    slow, fast = SMTPSink(free_port()), SMTPSink(free_port())
    slow.slow = 1.5
    inst = sched_instance({"slow.example": slow.server.server_address[1],
                           "fast.example": fast.server.server_address[1]},
                          "remote_destination_concurrency = 2\n"
                          "remote_connection_cache_time = 10s\n")
    try:
        for i in range(6):
            assert sendmail(inst, "-f", "bob@example.org",
                            "s%d@slow.example" % i).returncode == 0
        wait_for(lambda: slow.active >= 1, 10, "the slow deliveries")
        assert sendmail(inst, "-f", "bob@example.org",
                        "f@fast.example").returncode == 0
        wait_for(lambda: len(fast.messages) == 1, 10, "the fast one")
        assert len(slow.messages) < 6, "the fast one waited"
        wait_for(lambda: len(slow.messages) == 6, 30, "the slow ones")
        wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
        assert slow.max_active == 2, slow.max_active
        # two processes, each its own connection, used again and again
        assert slow.connections == 2, slow.connections
        assert log(inst).count("connection reused") >= 4, log(inst)
        assert slow.commands.count("RSET") >= 4
    finally:
        slow.stop()
        fast.stop()


class PipelineOnlyServer:
    """Answers MAIL only once it has read the DATA command after it: a
    client that waits for each reply (no PIPELINING) hangs and times
    out.  Records the connections and the messages."""

    def __init__(self):
        self.lst = socket.socket()
        self.lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(4)
        self.port = self.lst.getsockname()[1]
        self.connections = 0
        self.messages = []
        self.resets = 0
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.lst.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.session, args=(c,),
                             daemon=True).start()

    def session(self, c):
        f = c.makefile("rb")

        def send(s):
            c.sendall(s.encode() + b"\r\n")
        try:
            send("220 pipe.test")
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"EHLO":
                    send("250-pipe.test\r\n250-PIPELINING\r\n250 8BITMIME")
                elif verb == b"RSET":
                    self.resets += 1
                    send("250 ok")
                elif verb == b"QUIT":
                    send("221 bye")
                    return
                elif verb == b"MAIL":
                    group = [line]
                    while not group[-1].upper().startswith(b"DATA"):
                        nxt = f.readline()
                        if not nxt:
                            return
                        group.append(nxt)
                    rcpts = [g[9:].split(b">")[0].decode()
                             for g in group[1:-1]]
                    send("250 sender ok")
                    for _ in rcpts:
                        send("250 rcpt ok")
                    send("354 go on")
                    data = b""
                    while True:
                        ln = f.readline()
                        if not ln or ln == b".\r\n":
                            break
                        data += ln
                    self.messages.append((rcpts, data))
                    send("250 2.0.0 queued")
                else:
                    send("502 no")
        finally:
            c.close()

    def stop(self):
        self.lst.close()


def test_remote_pipelines_the_envelope_and_reuses_the_connection():
    chapartest.need_root()
    srv = PipelineOnlyServer()
    inst = sched_instance({"pipe.example": srv.port},
                          "remote_command_timeout = 5s\n"
                          "remote_connection_cache_time = 20s\n"
                          "remote_destination_concurrency = 1\n")
    try:
        assert sendmail(inst, "-f", "bob@example.org", "a@pipe.example",
                        "b@pipe.example", "c@pipe.example").returncode == 0
        wait_for(lambda: len(srv.messages) == 1, 20, "the first message")
        assert sorted(srv.messages[0][0]) == ["a@pipe.example",
                                              "b@pipe.example",
                                              "c@pipe.example"]
        assert sendmail(inst, "-f", "bob@example.org",
                        "d@pipe.example").returncode == 0
        wait_for(lambda: len(srv.messages) == 2, 20, "the second message")
        assert srv.connections == 1 and srv.resets == 1, \
            (srv.connections, srv.resets)
        wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
        assert log(inst).count("status=sent (250 2.0.0 queued)") == 4
    finally:
        srv.stop()


def test_remote_dropped_connection_and_slow_server_defer():
    """A server that hangs up in the middle of DATA, or answers the end
    of the message too late: deferred (4.4.2), then delivered."""
    chapartest.need_root()
    sink = SMTPSink(free_port())
    sink.drop_in_data = True
    inst = sched_instance({"example.net": sink.server.server_address[1]},
                          "remote_data_timeout = 1s\n")
    try:
        body = b"Subject: long\r\n\r\n" + b"line of text\r\n" * 50
        assert sendmail(inst, "-f", "bob@example.org", "carol@example.net",
                        data=body).returncode == 0
        wait_for(lambda: "to=<carol@example.net>" in log(inst) and
                 "status=deferred" in log(inst), 20, "a deferral")
        assert "dsn=4.4.2" in log(inst), log(inst)
        assert sink.messages == []
        # now too slow: the wait for the reply to "." times out
        sink.drop_in_data = False
        sink.slow = 3
        wait_for(lambda: log(inst).count("status=deferred") >= 2, 20,
                 "a second deferral")
        sink.slow = 0
        wait_for(lambda: "status=sent" in log(inst), 20, "the delivery")
        wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
        assert sink.messages[-1]["data"].endswith(b"line of text\r\n")
    finally:
        sink.stop()


def test_remote_kill9_mid_delivery():
    """kill -9 of remote (and so its processes) while a server holds
    the reply to the message: the recipient is deferred, a new remote
    delivers it; nothing is lost."""
    chapartest.need_root()
    sink = SMTPSink(free_port())
    sink.slow = 4
    inst = sched_instance({"example.net": sink.server.server_address[1]})
    try:
        assert sendmail(inst, "-f", "bob@example.org",
                        "carol@example.net").returncode == 0
        wait_for(lambda: "DATA" in sink.commands, 20, "DATA")
        pid = inst.service("remote")["workers"][0]["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: "status=deferred" in log(inst), 20, "a deferral")
        assert "the connection broke during a job" in log(inst) or \
            "remote) is unavailable" in log(inst), log(inst)
        sink.slow = 0
        wait_for(lambda: inst.service("remote")["workers"] and
                 inst.service("remote")["workers"][0]["pid"] != pid, 20,
                 "a new remote")
        wait_for(lambda: "status=sent" in log(inst), 30, "the delivery")
        wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
        # the killed attempt may have reached the server (the window
        # RFC 5321 6.1 accepts): a duplicate at most, never a loss
        assert 1 <= len(sink.messages) <= 2
    finally:
        sink.stop()


def test_qmgr_success_notices():
    """NOTIFY=SUCCESS (RFC 3461): "delivered" for a mailbox here,
    "relayed" for a server without DSN, nothing for one with DSN (that
    server reports)."""
    chapartest.need_root()
    nodsn = SMTPSink(free_port(), caps=("PIPELINING", "8BITMIME"))
    dsn = SMTPSink(free_port())
    inst = sched_instance({"nodsn.example": nodsn.server.server_address[1],
                           "dsn.example": dsn.server.server_address[1]})
    try:
        assert sendmail(inst, "-f", "bob@example.org", "-N", "success",
                        "-V", "env-42", "alice@example.org",
                        "x@nodsn.example", "y@dsn.example").returncode == 0
        wait_for(lambda: len(messages(inst, "bob@example.org")) == 1, 20,
                 "the notice")
        wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
        n = email.message_from_bytes(messages(inst, "bob@example.org")[0][1],
                                     policy=email.policy.default)
        assert n["Subject"] == "Successful Mail Delivery Report"
        assert n.get_content_type() == "multipart/report"
        status = n.get_payload()[1].get_payload()
        assert status[0]["Original-Envelope-Id"] == "env-42"
        got = {g["Final-Recipient"]: (g["Action"], g["Status"])
               for g in status[1:]}
        assert got == {"rfc822; alice@example.org": ("delivered", "2.0.0"),
                       "rfc822; x@nodsn.example": ("relayed", "2.0.0")}, got
        assert any("NOTIFY=SUCCESS" in c for c in dsn.commands)
        time.sleep(1)
        assert len(messages(inst, "bob@example.org")) == 1
    finally:
        nodsn.stop()
        dsn.stop()


def test_filter_tags_go_on_the_delivered_message():
    """A content filter's tag (header= in the envelope) is put on top of
    the message when it is delivered, here and to another server."""
    chapartest.need_root()
    from test_smtpd_filter import Filter, content_judge
    d = tempfile.mkdtemp(prefix="chapar-filter-")
    os.chmod(d, 0o755)
    flt = Filter(os.path.join(d, "content"), content_judge)
    sink = SMTPSink(free_port())
    inst = sched_instance({"example.net": sink.server.server_address[1]},
                          "smtpd_content_filters = %s\n"
                          "relay_networks = 127.0.0.0/8\n" % flt.path)
    try:
        c = smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=30)
        assert c.sendmail("dave@example.com", ["alice@example.org",
                                               "carol@example.net"],
                          b"Subject: offer\r\n\r\ncheap pills\r\n.\r\n"
                          b"..two dots\r\n") == {}
        c.quit()
        wait_for(lambda: len(sink.messages) == 1 and
                 len(messages(inst, "alice@example.org")) == 1, 20,
                 "both deliveries")
        here = messages(inst, "alice@example.org")[0][1]
        there = sink.messages[0]["data"]
        for m in (here, there):
            head = m.split(b"\r\n\r\n")[0]
            assert head.count(b"X-Spam: yes\r\n") == 1, m
            # on top: before the Received field smtpd wrote
            assert head.index(b"X-Spam: yes") < head.index(b"Received:"), m
            assert m.endswith(b"cheap pills\r\n.\r\n..two dots\r\n"), m
    finally:
        sink.stop()


def test_remote_delivers_over_ipv6():
    """An MX with an IPv6 and an IPv4 address: IPv6 first (nothing
    listens on the IPv4 one)."""
    chapartest.need_root()
    from fakedns import FakeDNS
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        raise chapartest.Skip("no IPv6 loopback here")
    port = free_port()
    sink = SMTPSink(port, host="::1")
    dns = FakeDNS({"v6.example": {"MX": ["10 mx.v6.example."]},
                   "mx.v6.example": {"AAAA": ["::1"],
                                     "A": ["127.0.0.2"]}})
    inst, _ = q_instance("dns_servers = %s\nremote_smtp_port = %d\n"
                         "remote_connect_timeout = 5s\n" % (dns.server,
                                                            port))
    try:
        assert sendmail(inst, "-f", "bob@example.org",
                        "carol@v6.example").returncode == 0
        wait_for(lambda: len(sink.messages) == 1, 20, "the delivery")
        assert "relay=mx.v6.example[::1]:%d" % port in log(inst), log(inst)
    finally:
        sink.stop()
        dns.stop()


def test_remote_process_limit_and_rate_delay():
    """remote_process_limit bounds the deliveries at once over every
    destination; remote_destination_rate_delay spaces the starts of
    deliveries to one destination."""
    chapartest.need_root()
    sink = SMTPSink(free_port())
    sink.slow = 0.5
    port = sink.server.server_address[1]
    inst = sched_instance({"a.example": port, "b.example": port},
                          "remote_process_limit = 1\n")
    try:
        for i in range(3):
            for d in ("a", "b"):
                assert sendmail(inst, "-f", "bob@example.org",
                                "x%d@%s.example" % (i, d)).returncode == 0
        wait_for(lambda: len(sink.messages) == 6, 30, "six deliveries")
        assert sink.max_active == 1, sink.max_active
    finally:
        sink.stop()
    sink = SMTPSink(free_port())
    inst = sched_instance({"c.example": sink.server.server_address[1]},
                          "remote_destination_rate_delay = 1s\n")
    try:
        for i in range(3):
            assert sendmail(inst, "-f", "bob@example.org",
                            "y%d@c.example" % i).returncode == 0
        wait_for(lambda: len(sink.messages) == 3, 30, "three deliveries")
        times = sorted(m["time"] for m in sink.messages)
        # a lower bound only: the pause is kept between starts
        assert times[1] - times[0] >= 0.9 and times[2] - times[1] >= 0.9, \
            times
        assert sink.max_active == 1
    finally:
        sink.stop()
