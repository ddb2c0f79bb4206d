"""Chapar and Postfix in both directions, on loopback: Chapar's remote(8)
delivers to a private Postfix instance (its own config, queue and log
under the test's directory) over STARTTLS, and Postfix relays to Chapar's
smtpd, which delivers to a mailbox."""
import glob
import os
import pwd
import smtplib
import subprocess

import chapartest
from chapartest import free_port, wait_for

from test_local import messages
from test_qmgr import log, q_instance, queue_files, sendmail

MSG = (b"From: Bob <bob@example.org>\r\nTo: carol@example.net\r\n"
       b"Subject: =?utf-8?b?2LPZhNin2YU=?=\r\nMessage-ID: <pf1@example.org>\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n"
       b"Content-Transfer-Encoding: 8bit\r\n\r\n"
       b"\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 -- hello.\r\n.dot line\r\n")


def start_postfix(inst, sport, chapar_port):
    pw = pwd.getpwnam("postfix")
    return chapartest.postfix_start(inst, sport, """mynetworks = 127.0.0.0/8
smtputf8_enable = yes
virtual_mailbox_domains = example.net
virtual_mailbox_base = {pf}/vmail
virtual_mailbox_maps = static:carol/
virtual_uid_maps = static:%d
virtual_gid_maps = static:%d
smtpd_tls_security_level = may
smtpd_tls_cert_file = %s
smtpd_tls_key_file = %s
smtp_tls_security_level = may
transport_maps = inline:{example.org=smtp:[127.0.0.1]:%d}
""" % (pw.pw_uid, pw.pw_gid, inst.path("tls", "cert.pem"),
       inst.path("tls", "key.pem"), chapar_port), owned=("data", "vmail"))


postfix_log = chapartest.postfix_log


def test_remote_chapar_and_postfix_both_ways():
    chapartest.need_root()
    if not os.path.exists("/usr/sbin/postfix"):
        raise chapartest.Skip("postfix is not installed")
    sport = free_port()
    inst, cport = q_instance("transport_map = example.net=[127.0.0.1]:%d\n"
                             "remote_connect_timeout = 5s\n" % sport)
    pf = start_postfix(inst, sport, cport)
    try:
        # Chapar -> Postfix: 8-bit, a dot line, STARTTLS
        r = sendmail(inst, "-f", "bob@example.org", "carol@example.net",
                     data=MSG)
        assert r.returncode == 0, r
        wait_for(lambda: "status=sent" in log(inst), 30, "the delivery")
        wait_for(lambda: glob.glob(os.path.join(pf, "vmail", "carol", "new",
                                                "*")), 10, "Postfix's copy")
        got = glob.glob(os.path.join(pf, "vmail", "carol", "new", "*"))
        with open(got[0], "rb") as f:
            body = f.read()
        # Postfix's virtual agent stores LF line ends
        assert body.endswith(b"\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85 -- hello.\n"
                             b".dot line\n"), body
        assert b"with ESMTPS id" in body, body
        text = log(inst)
        assert "relay=127.0.0.1[127.0.0.1]:%d" % sport in text, text
        assert "TLS TLSv1.3" in text, text
        assert "status=sent (250 2.0.0 Ok: queued as" in text, text
        assert "from=<bob@example.org>" in postfix_log(pf)
        wait_for(lambda: queue_files(inst) == [], 10, "an empty queue")

        # Postfix -> Chapar: Postfix relays mail for example.org to
        # Chapar's smtpd, which delivers it to alice's mailbox
        c = smtplib.SMTP("127.0.0.1", sport, timeout=30)
        refused = c.sendmail("dave@example.net", ["alice@example.org"],
                             b"From: dave@example.net\r\nTo: alice@example."
                             b"org\r\nSubject: back\r\n\r\nFrom Postfix.\r\n")
        assert refused == {}
        c.quit()
        wait_for(lambda: len(messages(inst, "alice@example.org")) == 1, 30,
                 "Postfix to relay to Chapar")
        got = messages(inst, "alice@example.org")[0][1]
        assert got.endswith(b"From Postfix.\r\n")
        # Postfix came in over STARTTLS (RFC 3848: ESMTPS)
        assert b"with ESMTPS" in got, got
        wait_for(lambda: "relay=127.0.0.1[127.0.0.1]:%d" % cport in
                 postfix_log(pf) and "status=sent" in postfix_log(pf), 10,
                 "Postfix's log of it")
    finally:
        subprocess.run(["postfix", "-c", pf, "stop"], capture_output=True,
                       timeout=60)
