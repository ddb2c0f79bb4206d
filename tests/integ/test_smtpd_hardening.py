"""smtpd against what an attack and interoperability review found: an
abandoned BDAT that poisoned the worker, long lines that spun it, BDAT
past the bare CR/LF guard, bad envelope text accepted then failed."""
import smtplib
import socket

import chapartest

from test_smtpd import MSG, codes, queued, raw, smtp_instance


def one_worker():
    # one worker, so the next client surely meets the same process
    return smtp_instance(extra="max_procs = 1\n")


def send_ok(port, body=MSG):
    c = smtplib.SMTP("127.0.0.1", port, timeout=30)
    c.ehlo("x")
    refused = c.sendmail("bob@example.net", ["alice@example.org"], body)
    c.quit()
    assert refused == {}


def test_smtpd_abandoned_bdat_does_not_poison_the_worker():
    inst, port = one_worker()
    start = (b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n"
             b"RCPT TO:<alice@example.org>\r\nBDAT 3\r\nxxx")
    for end in (b"RSET\r\n", b"EHLO y\r\n", b"QUIT\r\n", b""):
        out = raw(port, start + end, wait=1.0)
        assert codes(out)[:4] == ["250 ENHAN", "250 2.1.0", "250 2.1.5",
                                  "250 2.0.0"], out
        # the next client of the same worker sends with DATA
        send_ok(port)
    # RSET, EHLO and QUIT after EHLO y ended the message; none queued
    assert len(queued(inst)) == 4


def test_smtpd_long_lines_get_a_reply():
    inst, port = one_worker()
    for n in (40 * 1024, 900 * 1024):
        line = b"x" * n
        send_ok(port, MSG + line + b"\r\nend\r\n")
    msgs = [m for _, m in queued(inst)]
    assert len(msgs) == 2
    assert (b"\r\n" + b"x" * (40 * 1024) + b"\r\nend\r\n") in msgs[0] or \
        (b"\r\n" + b"x" * (40 * 1024) + b"\r\nend\r\n") in msgs[1]
    assert any((b"\r\n" + b"x" * (900 * 1024) + b"\r\nend\r\n") in m
               for m in msgs)
    # and the worker still serves
    send_ok(port)


def test_smtpd_bdat_has_the_bare_newline_guard():
    inst, port = one_worker()
    env = (b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n"
           b"RCPT TO:<alice@example.org>\r\n")
    for body in (b"Subject: x\r\n\r\na\r.\r\nMAIL FROM:<evil@x>\r\n",
                 b"Subject: x\r\n\r\na\n.\nMAIL FROM:<evil@x>\r\n",
                 b"Subject: x\r\n\r\nnul\x00\r\n"):
        out = raw(port, env + b"BDAT %d LAST\r\n" % len(body) + body +
                  b"QUIT\r\n")
        want = "554 5.6.0" if b"\x00" in body else "550 5.6.0"
        assert codes(out) == ["250 ENHAN", "250 2.1.0", "250 2.1.5", want,
                              "221 2.0.0"], out
    # DATA refuses NUL too, and bare LF before the dot
    out = raw(port, env + b"DATA\r\nSubject: x\r\n\r\nnul\x00\r\n.\r\n"
              b"QUIT\r\n")
    assert codes(out)[-2:] == ["554 5.6.0", "221 2.0.0"], out
    assert queued(inst) == []


def test_smtpd_normalize_makes_bdat_lines_crlf():
    inst, port = smtp_instance(extra="smtpd_bare_newline = normalize\n")
    body = b"Subject: x\r\n\r\na\n.\nb\rc\r\n"
    out = raw(port, b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n"
              b"RCPT TO:<alice@example.org>\r\n" +
              b"BDAT %d LAST\r\n" % len(body) + body + b"QUIT\r\n")
    assert codes(out)[-2:] == ["250 2.0.0", "221 2.0.0"], out
    (env, msg), = queued(inst)
    assert msg.endswith(b"Subject: x\r\n\r\na\r\n.\r\nb\r\nc\r\n"), msg


def test_smtpd_refuses_bad_envelope_text_at_the_command():
    inst, port = one_worker()
    out = raw(port, b"HELO a\tb\r\nEHLO a b\r\nEHLO ok\r\n"
              b"MAIL FROM:<a@b.example> ENVID=x+0D+0Ay\r\n"
              b"MAIL FROM:<a@b.example> ENVID=x+00\r\n"
              b"MAIL FROM:<a@b.example> ENVID=id+2B1\r\n"
              b"RCPT TO:<alice@example.org> ORCPT=rfc822;a+0D+0A@b\r\n"
              b"RCPT TO:<alice@example.org> ORCPT=rfc822;alice@example.org"
              b"\r\nQUIT\r\n")
    assert codes(out) == ["501 5.5.4", "501 5.5.4", "250 ENHAN",
                          "501 5.5.4", "501 5.5.4", "250 2.1.0",
                          "501 5.5.4", "250 2.1.5", "221 2.0.0"], out


def test_smtpd_slow_client_is_cut_off():
    inst, port = smtp_instance(extra="smtpd_timeout = 2s\n")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.recv(1000)
    # a byte a second: each wait is short, the line never ends
    got = b""
    for ch in b"EHLO trickle.example":
        try:
            s.sendall(bytes([ch]))
        except OSError:
            break
        s.settimeout(1.0)
        try:
            got += s.recv(1000)
        except socket.timeout:
            pass
        if got:
            break
    s.close()
    assert got.startswith(b"421 4.4.2"), got


def test_smtpd_scram_with_msmtp():
    """GNU SASL's SCRAM-SHA-256 (msmtp) wants the server-final message
    as a 334 (RFC 4954 4) before 235."""
    import os
    import shutil
    import subprocess
    if shutil.which("msmtp") is None:
        raise chapartest.Skip("msmtp is not installed")
    inst, port = smtp_instance()
    rc = inst.path("msmtprc")
    with open(rc, "w") as f:
        f.write("account default\nhost 127.0.0.1\nport %d\n"
                "tls on\ntls_starttls on\ntls_certcheck off\n"
                "auth scram-sha-256\nuser alice@example.org\n"
                "password alice pw\nfrom alice@example.org\n"
                "domain client.example\n" % port)
    os.chmod(rc, 0o600)
    r = subprocess.run(["msmtp", "-C", rc, "someone@elsewhere.example"],
                       input=MSG, capture_output=True, timeout=60)
    assert r.returncode == 0, r
    (env, msg), = queued(inst)
    assert env[0]["auth"] == "alice@example.org"
