"""qmgr: from the queue to the mailboxes through the LMTP agent, with
retries, expiry and RFC 3464 reports (parsed with Python's email)."""
import email
import email.policy
import os
import signal
import smtplib
import subprocess

import chapartest
from chapartest import Instance, free_port, wait_for

from fakedns import FakeDNS
from test_local import messages

MSG = (b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\n"
       b"Subject: through the queue\r\nMessage-ID: <q1@example.org>\r\n"
       b"\r\nHello.\r\n.dot at the start\r\n")


def q_instance(conf="", lmtp=True):
    port = free_port()
    if "dns_servers" not in conf:
        # remote mail here: elsewhere.example's look-ups fail for now
        dns = FakeDNS({}, servfail={"elsewhere.example"})
        conf += "dns_servers = %s\n" % dns.server
    inst = Instance("queue_retry_min = 1s\nqueue_retry_max = 2s\n" + conf)
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org", "alice pw")
    inst.add_user("bob@example.org", "bob pw")
    inst.ok("alias", "add", "team@example.org", "alice@example.org",
            "bob@example.org")
    inst.add_conf("[smtpd]\nlisten = 127.0.0.1:%d\nprefork = 1\n" % port)
    if lmtp:
        add_lmtp(inst)
    inst.start_chapard()
    wait_for(lambda: inst.service("smtpd") is not None and
             inst.idle("smtpd") >= 1, 20, "smtpd workers")
    return inst, port


def add_lmtp(inst):
    inst.add_conf("[lmtp]\nlisten = %s\nprefork = 1\n" %
                  inst.path("run", "lmtp.sock"))


def queue_files(inst):
    out = []
    for sub in ("todo", "mess", "info", "tmp"):
        for _, _, names in os.walk(inst.path("queue", sub)):
            out += [sub + "/" + n for n in names]
    return out


def sendmail(inst, *args, data=MSG):
    return subprocess.run(
        [os.path.join(chapartest.BUILD, "bin", "sendmail"), "-C",
         inst.path("chapar.conf")] + list(args), input=data,
        capture_output=True, timeout=30)


def log(inst):
    return inst.log("chapard")


def test_qmgr_delivers_smtp_mail_to_mailboxes():
    chapartest.need_root()
    inst, port = q_instance()
    c = smtplib.SMTP("127.0.0.1", port)
    assert c.sendmail("bob@example.net", ["alice@example.org",
                                          "team@example.org"], MSG) == {}
    c.quit()
    wait_for(lambda: len(messages(inst, "alice@example.org")) == 1 and
             len(messages(inst, "bob@example.org")) == 1, 20,
             "the deliveries")
    body = messages(inst, "alice@example.org")[0][1]
    assert b"\r\nSubject: through the queue\r\n" in body
    assert body.endswith(b"\r\nHello.\r\n.dot at the start\r\n"), body
    assert body.startswith(b"Return-Path: <bob@example.net>\r\n")
    wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
    text = log(inst)
    assert "to=<alice@example.org>, relay=local" in text
    assert "status=sent (250 2." in text and ": removed" in text


def test_qmgr_bounces_with_an_rfc3464_report():
    chapartest.need_root()
    inst, port = q_instance()
    # sendmail queues without asking authd: the queue finds out
    r = sendmail(inst, "-f", "bob@example.org", "-N", "failure",
                 "-V", "env-42", "alice@example.org", "nobody@example.org")
    assert r.returncode == 0, r
    wait_for(lambda: len(messages(inst, "alice@example.org")) == 1 and
             len(messages(inst, "bob@example.org")) == 1, 20,
             "the delivery and the report")
    report = email.message_from_bytes(
        messages(inst, "bob@example.org")[0][1], policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert report["Auto-Submitted"] == "auto-replied"
    assert report["To"].addresses[0].addr_spec == "bob@example.org"
    text, status, original = report.get_payload()
    assert "nobody@example.org" in text.get_content()
    assert status.get_content_type() == "message/delivery-status"
    groups = status.get_payload()
    assert groups[0]["Reporting-MTA"].startswith("dns; ")
    assert groups[0]["Original-Envelope-Id"] == "env-42"
    assert len(groups) == 2, [g.items() for g in groups]
    assert groups[1]["Final-Recipient"] == "rfc822; nobody@example.org"
    assert groups[1]["Action"] == "failed"
    assert groups[1]["Status"] == "5.1.1"
    assert original.get_content_type() == "message/rfc822"
    assert original.get_payload()[0]["Subject"] == "through the queue"
    # the report came from <>, so nothing can bounce back to us
    assert messages(inst, "bob@example.org")[0][1].startswith(
        b"Return-Path: <>\r\n")
    # and it went through enqueue, the queue's only writer
    import re
    rid = re.search(r"sender non-delivery notification: (\w+)",
                    log(inst)).group(1)
    assert re.search(r"enqueue\[\d+\]: %s: from=<>, size=\d+, nrcpt=1 "
                     r"\(queued\)" % rid, log(inst)), log(inst)
    wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
    # the null sender gets no report: the postmaster does (and that
    # one, undeliverable here, is dropped); NOTIFY=NEVER gets none
    assert sendmail(inst, "-f", "<>", "nobody@example.org").returncode == 0
    assert sendmail(inst, "-f", "bob@example.org", "-N", "never",
                    "nobody@example.org").returncode == 0
    wait_for(lambda: queue_files(inst) == [] and
             log(inst).count(": removed") == 5, 20, "all gone")
    assert len(messages(inst, "bob@example.org")) == 1
    assert log(inst).count("postmaster non-delivery notification") == 1


def test_qmgr_defers_retries_and_survives_kill9():
    chapartest.need_root()
    inst, port = q_instance(lmtp=False)
    assert sendmail(inst, "-f", "bob@example.org",
                    "alice@example.org").returncode == 0
    wait_for(lambda: "status=deferred (cannot connect to the LMTP agent"
             in log(inst), 10, "a deferral")
    wait_for(lambda: log(inst).count("status=deferred") >= 2, 10,
             "a retry")
    assert [f for f in queue_files(inst) if f.startswith("info/")]
    # kill -9 the queue manager: chapard starts another, which takes up
    # what is in info/
    pid = inst.service("qmgr")["workers"][0]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: inst.service("qmgr")["workers"] and
             inst.service("qmgr")["workers"][0]["pid"] != pid, 20,
             "a new qmgr")
    wait_for(lambda: "1 messages in progress" in log(inst), 10,
             "the message taken up again")
    # the LMTP agent appears: the next try delivers
    add_lmtp(inst)
    assert inst.chapar("reload").returncode == 0
    wait_for(lambda: len(messages(inst, "alice@example.org")) == 1, 20,
             "the delivery after the retry")
    wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")


def test_qmgr_expires_and_defers_remote():
    chapartest.need_root()
    inst, port = q_instance("queue_lifetime = 3s\n", lmtp=False)
    assert sendmail(inst, "-f", "bob@example.org", "alice@example.org",
                    "someone@elsewhere.example").returncode == 0
    wait_for(lambda: "to=<someone@elsewhere.example>, relay=none" in
             log(inst), 10, "the remote recipient")
    assert "status=deferred (451 4.4.3 the domain's mail servers cannot " \
        "be found now)" in log(inst)
    wait_for(lambda: log(inst).count("expired, returned to sender") >= 2,
             20, "expiry")
    # the report, to bob, waits for the LMTP agent too, and expires in
    # turn; being from <>, its failure goes to the postmaster, and that
    # one's failure is only logged: reports never loop
    wait_for(lambda: "sender non-delivery notification" in log(inst), 10,
             "the report")
    wait_for(lambda: "postmaster non-delivery notification" in log(inst),
             20, "the report of the report")
    wait_for(lambda: queue_files(inst) == [], 20, "an empty queue")
    text = log(inst)
    assert text.count("sender non-delivery notification") == 1, text
    assert text.count("postmaster non-delivery notification") == 1, text
    assert text.count("undeliverable report to the postmaster: "
                      "dropped") == 1, text


def test_chapar_queue_list_show_hold_release_delete():
    chapartest.need_root()
    import json
    import time
    inst, port = q_instance(lmtp=False)
    for _ in range(2):
        assert sendmail(inst, "-f", "bob@example.org",
                        "alice@example.org").returncode == 0
    wait_for(lambda: log(inst).count("status=deferred") >= 2, 10,
             "two deferrals")

    def listed():
        return json.loads(inst.ok("--json", "queue", "list"))
    wait_for(lambda: [m["state"] for m in listed()] == ["deferred"] * 2,
             10, "both deferred on disk")
    q = listed()
    keep, drop = sorted(m["id"] for m in q)
    assert q[0]["sender"] == "bob@example.org" and q[0]["pending"] == "1"
    shown = inst.ok("queue", "show", keep)
    assert "alice@example.org" in shown and "pending" in shown
    assert "cannot connect to the LMTP agent" in shown
    assert inst.chapar("queue", "show", "0123456789ABCDEF").returncode == 1
    # requeue: tried now, its retry count started again
    before = log(inst).count("to=<alice@example.org>")
    inst.ok("queue", "requeue", keep)
    wait_for(lambda: "%s: requeued by the admin" % keep in log(inst) and
             log(inst).count("to=<alice@example.org>") > before, 10,
             "a try after the requeue")
    inst.ok("queue", "hold", keep)
    inst.ok("queue", "delete", drop)
    wait_for(lambda: "%s: deleted by the admin" % drop in log(inst) and
             "%s: held by the admin" % keep in log(inst), 10, "qmgr")
    q = listed()
    assert [(m["id"], m["state"]) for m in q] == [(keep, "held")], q
    # the LMTP agent comes; the held message stays
    add_lmtp(inst)
    assert inst.chapar("reload").returncode == 0
    wait_for(lambda: inst.chapar("queue", "flush").returncode == 0, 10,
             "the queue manager after the reload")
    time.sleep(3)
    assert messages(inst, "alice@example.org") == []
    inst.ok("queue", "release", keep)
    wait_for(lambda: len(messages(inst, "alice@example.org")) == 1, 20,
             "the delivery after release")
    wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
    assert "flush: every deferred message is tried now" in log(inst)
    # without a queue manager the admin is told so
    inst.stop("chapard")
    r = inst.chapar("queue", "flush")
    assert r.returncode == 75 and "not running" in r.stderr, r


def test_qmgr_honours_futurerelease():
    chapartest.need_root()
    import time
    sport = free_port()
    inst, port = q_instance("smtpd_futurerelease_max = 1h\n")
    # a message held for 3 s, through smtpd on a submission port
    inst.stop("chapard")
    inst.add_conf("[submission]\nlisten = 127.0.0.1:%d\nprefork = 1\n"
                  "smtpd_auth_required = yes\n" % sport)
    inst.start_chapard()
    wait_for(lambda: inst.service("submission") is not None and
             inst.idle("submission") >= 1, 20, "submission")
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = smtplib.SMTP("127.0.0.1", sport)
    c.starttls(context=ctx)
    c.login("bob@example.org", "bob pw")
    t0 = time.time()
    assert c.mail("bob@example.org", ["HOLDFOR=3"])[0] == 250
    assert c.rcpt("alice@example.org")[0] == 250
    assert c.data(MSG)[0] == 250
    c.quit()
    time.sleep(1.5)
    assert messages(inst, "alice@example.org") == []
    assert json_state(inst) == ["active"]
    wait_for(lambda: len(messages(inst, "alice@example.org")) == 1, 20,
             "the release")
    assert time.time() - t0 >= 3


def json_state(inst):
    import json
    return [m["state"] for m in json.loads(inst.ok("--json", "queue",
                                                   "list"))]


def test_qmgr_holds_quarantined_mail_until_released():
    chapartest.need_root()
    import json
    import tempfile
    import time
    from test_smtpd_filter import Filter
    d = tempfile.mkdtemp(prefix="chapar-q-")
    os.chmod(d, 0o755)
    f = Filter(os.path.join(d, "policy"),
               lambda req, msg: [("action", "quarantine"),
                                 ("reason", "looks like spam")])
    inst, port = q_instance("smtpd_policy_filters = %s\n" % f.path)
    c = smtplib.SMTP("127.0.0.1", port)
    assert c.sendmail("bob@example.net", ["alice@example.org"], MSG) == {}
    c.quit()
    wait_for(lambda: "quarantined (looks like spam)" in log(inst), 10,
             "the quarantine")
    time.sleep(1.5)
    assert messages(inst, "alice@example.org") == []
    q = json.loads(inst.ok("--json", "queue", "list"))
    assert [m["state"] for m in q] == ["quarantined"], q
    inst.ok("queue", "release", q[0]["id"])
    wait_for(lambda: len(messages(inst, "alice@example.org")) == 1, 20,
             "the delivery after release")


def test_qmgr_reports_smtputf8_mail_as_global():
    """RFC 6533: the report of an SMTPUTF8 message is a
    message/global-delivery-status with utf-8 addresses, and the
    original goes back as message/global."""
    chapartest.need_root()
    inst, port = q_instance()
    who = "\u0646\u0627\u0634\u0646\u0627\u0633@example.org"
    r = sendmail(inst, "-f", "bob@example.org", who,
                 data="Subject: \u0633\u0644\u0627\u0645\r\n\r\nhi\r\n"
                 .encode())
    assert r.returncode == 0, r
    wait_for(lambda: len(messages(inst, "bob@example.org")) == 1, 20,
             "the report")
    raw = messages(inst, "bob@example.org")[0][1]
    report = email.message_from_bytes(raw, policy=email.policy.default)
    parts = report.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/global-delivery-status", "message/global"]
    assert ("Final-Recipient: utf-8; %s\r\n" % who).encode() in raw
    assert "Subject: \u0633\u0644\u0627\u0645".encode() in raw
    wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")


def test_qmgr_bounce_of_a_big_message():
    """The report carries the original whole (RET=FULL), however big;
    and a message whose report cannot be made stays in the queue."""
    chapartest.need_root()
    inst, port = q_instance()
    body = b"".join(b"line %05d of a long message\r\n" % i
                    for i in range(8000))
    r = sendmail(inst, "-f", "bob@example.org", "nobody@example.org",
                 data=MSG + body)
    assert r.returncode == 0, r
    wait_for(lambda: len(messages(inst, "bob@example.org")) == 1, 20,
             "the report")
    raw = messages(inst, "bob@example.org")[0][1]
    assert body in raw
    wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
    assert "writing the report" not in log(inst)


def test_qmgr_bounce_of_many_recipients():
    """A report of hundreds of failed recipients, long replies and all."""
    chapartest.need_root()
    inst, port = q_instance()
    bad = ["nobody%03d-%s@example.org" % (i, "x" * 40) for i in range(400)]
    r = sendmail(inst, "-f", "bob@example.org", "-N", "failure", *bad)
    assert r.returncode == 0, r
    wait_for(lambda: len(messages(inst, "bob@example.org")) == 1, 30,
             "the report")
    report = email.message_from_bytes(
        messages(inst, "bob@example.org")[0][1], policy=email.policy.default)
    groups = report.get_payload()[1].get_payload()
    assert sorted(g["Final-Recipient"] for g in groups[1:]) == sorted(
        "rfc822; " + a for a in bad)
    wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")


def test_qmgr_puts_big_filter_tags_on_top():
    """Header fields a content filter added (header= in the envelope)
    go on top of the message at delivery, however many."""
    chapartest.need_root()
    import tempfile
    from test_smtpd_filter import Filter
    d = tempfile.mkdtemp(prefix="chapar-q-")
    os.chmod(d, 0o755)
    tags = [("header", "X-Scan-%d: %s" % (i, "v" * 980)) for i in range(8)]
    f = Filter(os.path.join(d, "content"),
               lambda req, msg: [("action", "tag")] + tags)
    inst, port = q_instance("smtpd_content_filters = %s\n" % f.path)
    c = smtplib.SMTP("127.0.0.1", port)
    assert c.sendmail("bob@example.net", ["alice@example.org"], MSG) == {}
    c.quit()
    wait_for(lambda: len(messages(inst, "alice@example.org")) == 1, 20,
             "the delivery")
    body = messages(inst, "alice@example.org")[0][1]
    for _, h in tags:
        assert ("\r\n%s\r\n" % h).encode() in body
    assert body.index(b"X-Scan-7") < body.index(b"From: Bob")
    wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")
