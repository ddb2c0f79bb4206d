"""smtpd talked to by swaks (Debian's swaks): plain, pipelined, STARTTLS
with AUTH PLAIN and LOGIN, implicit TLS, and refusals by exit code."""
import shutil
import subprocess

import chapartest
from test_smtpd import queued, smtp_instance


def swaks(port, *args):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                        str(port), "--helo", "client.example.net",
                        "--timeout", "20"] + list(args),
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def need_swaks():
    if shutil.which("swaks") is None:
        raise chapartest.Skip("swaks is not installed (apt-get install "
                              "swaks)")


def test_swaks_mx_plain_and_pipelined():
    need_swaks()
    inst, port = smtp_instance()
    rc, out = swaks(port, "--from", "bob@example.net", "--to",
                    "alice@example.org", "--header", "Subject: swaks 1")
    assert rc == 0, out
    assert "250 2.0.0 Ok: queued as " in out
    rc, out = swaks(port, "--pipeline", "--from", "bob@example.net",
                    "--to", "alice@example.org,bob@example.org",
                    "--header", "Subject: swaks 2")
    assert rc == 0, out
    # an unknown local user: swaks exits 24 (RCPT failed)
    rc, out = swaks(port, "--from", "bob@example.net", "--to",
                    "nobody@example.org")
    assert rc == 24 and "550 5.1.1" in out, (rc, out)
    q = queued(inst)
    assert len(q) == 2
    assert sorted(len(env) - 1 for env, _ in q) == [1, 2]
    assert all(b"Subject: swaks" in m for _, m in q)


def test_swaks_starttls_auth_and_implicit_tls():
    need_swaks()
    inst, port = smtp_instance(section="submission",
                               extra="smtpd_auth_required = yes\n")
    for mech in ("PLAIN", "LOGIN"):
        rc, out = swaks(port, "-tls", "--auth", mech, "--auth-user",
                        "alice@example.org", "--auth-password", "alice pw",
                        "--from", "alice@example.org", "--to",
                        "someone@elsewhere.example")
        assert rc == 0, out
        assert "250 2.0.0 Ok: queued as " in out
    # a wrong password: swaks exits 28 (AUTH failed)
    rc, out = swaks(port, "-tls", "--auth", "PLAIN", "--auth-user",
                    "alice@example.org", "--auth-password", "wrong",
                    "--from", "alice@example.org", "--to",
                    "someone@elsewhere.example")
    assert rc == 28 and "535 5.7.8" in out, (rc, out)
    # someone else's address as sender: MAIL refused, exit 23
    rc, out = swaks(port, "-tls", "--auth", "PLAIN", "--auth-user",
                    "alice@example.org", "--auth-password", "alice pw",
                    "--from", "bob@example.org", "--to",
                    "someone@elsewhere.example")
    assert rc == 23 and "553 5.7.1" in out, (rc, out)
    envs = [env for env, _ in queued(inst)]
    assert len(envs) == 2 and all(e[0]["protocol"] == "ESMTPSA"
                                  for e in envs)
    inst, port = smtp_instance(section="smtps",
                               extra="smtpd_auth_required = yes\n")
    rc, out = swaks(port, "--tls-on-connect", "--auth", "PLAIN",
                    "--auth-user", "bob@example.org", "--auth-password",
                    "bob pw", "--from", "bob@example.org", "--to",
                    "alice@example.org")
    assert rc == 0, out
    (env, msg), = queued(inst)
    assert env[0]["auth"] == "bob@example.org"
    assert b"with ESMTPSA" in msg
