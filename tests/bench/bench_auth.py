#!/usr/bin/env python3
"""Benchmark: authd password checks and look-ups.

Measures, against a fresh instance:
  - PLAIN logins per second over one connection, and over 4 at once
  - SCRAM-SHA-256 logins per second (client work included)
  - USER and RCPT look-ups per second
and, when Dovecot is installed (dovecot-core), the same PLAIN logins
against a private Dovecot auth process with the same yescrypt hash, and
prints the ratio.  Bounded: a fixed number of requests, each with a
timeout; nothing leaves loopback/UNIX sockets.
"""
import argparse
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integ"))
import chapartest  # noqa: E402
from chapartest import AuthClient, Instance  # noqa: E402

N_LOGIN = 200
N_PAR = 4
N_LOOKUP = 5000


def rate(n, secs):
    return n / secs if secs > 0 else float("inf")


def chapar_plain(sock, n, user, pw):
    c = AuthClient(sock)
    t0 = time.time()
    for _ in range(n):
        assert c.plain(user, pw, rip="")[0] == "OK"
    dt = time.time() - t0
    c.close()
    return dt


def parallel(fn, k):
    times = []

    def run():
        times.append(fn())
    ts = [threading.Thread(target=run) for _ in range(k)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    return time.time() - t0


class DovecotAuth:
    """A private Dovecot whose only job is its auth service."""

    def __init__(self, user, pwhash):
        self.dir = tempfile.mkdtemp(prefix="chapar-bench-dovecot-")
        os.chmod(self.dir, 0o755)
        run = os.path.join(self.dir, "run")
        os.mkdir(run)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.write("%s:{CRYPT}%s::::::\n" % (user, pwhash))
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""
base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
instance_name = chapar-bench
protocols =
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain
auth_cache_size = 0
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%%u %(d)s/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener auth-client {
    mode = 0666
  }
}
""" % {"d": self.dir})
        os.mkdir(os.path.join(self.dir, "state"))
        self.p = subprocess.Popen(["dovecot", "-F", "-c", conf],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.sock = os.path.join(run, "auth-client")
        end = time.time() + 15
        while not os.path.exists(self.sock):
            if time.time() > end or self.p.poll() is not None:
                raise RuntimeError("dovecot did not start (see %s)" %
                                   self.dir)
            time.sleep(0.05)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def plain(self, n, user, pw):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(self.sock)
        f = s.makefile("rb")
        s.sendall(b"VERSION\t1\t2\nCPID\t%d\n" % os.getpid())
        while f.readline().strip() != b"DONE":
            pass
        resp = base64.b64encode(b"\0" + user.encode() + b"\0" +
                                pw.encode()).decode()
        t0 = time.time()
        for i in range(1, n + 1):
            s.sendall(("AUTH\t%d\tPLAIN\tservice=imap\tsecured\tresp=%s\n"
                       % (i, resp)).encode())
            line = f.readline().decode()
            assert line.startswith("OK\t%d" % i), line
        dt = time.time() - t0
        s.close()
        return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    chapartest.BUILD = os.path.abspath(args.build)
    inst = Instance()
    try:
        inst.ok("domain", "add", "example.org")
        inst.add_user("bench@example.org", "bench password")
        inst.ok("alias", "add", "team@example.org", "bench@example.org",
                "someone@remote.example")
        inst.start_authd()
        sock = inst.path("run", "auth.sock")
        user, pw = "bench@example.org", "bench password"

        dt = chapar_plain(sock, N_LOGIN, user, pw)
        seq = rate(N_LOGIN, dt)
        print("chapar authd: PLAIN, 1 connection:  %7.1f logins/s "
              "(%d in %.2f s)" % (seq, N_LOGIN, dt))
        dtp = parallel(lambda: chapar_plain(sock, N_LOGIN // N_PAR, user, pw),
                       N_PAR)
        par = rate(N_LOGIN // N_PAR * N_PAR, dtp)
        print("chapar authd: PLAIN, %d connections: %7.1f logins/s" %
              (N_PAR, par))
        c = AuthClient(sock)
        t0 = time.time()
        for _ in range(50):
            assert c.scram(user, pw)[0] == "OK"
        print("chapar authd: SCRAM-SHA-256:        %7.1f logins/s "
              "(client PBKDF2 included)" % rate(50, time.time() - t0))
        for verb, arg in (("USER", user), ("RCPT", "team@example.org")):
            t0 = time.time()
            for _ in range(N_LOOKUP):
                assert c.request(verb, arg)[0] == verb
            print("chapar authd: %s look-ups:         %7.0f /s" %
                  (verb, rate(N_LOOKUP, time.time() - t0)))
        c.close()

        if shutil.which("dovecot") is None:
            print("dovecot: not installed (apt-get install dovecot-core) "
                  "- no comparison")
            return 0
        # The hash Chapar stored, so both verify the same yescrypt cost.
        h = subprocess.run(
            ["/usr/bin/db5.3_dump", "-p", "-h", inst.path("db"),
             inst.path("db", "users.db")], capture_output=True,
            text=True).stdout
        start = h.find("hash=")
        yhash = h[start + 5:h.find("\\09", start)] if start >= 0 else None
        if not yhash or not yhash.startswith("$y$"):
            print("dovecot: could not read the stored hash; no comparison")
            return 0
        d = DovecotAuth(user, yhash)
        try:
            dt_d = d.plain(N_LOGIN, user, pw)
            dseq = rate(N_LOGIN, dt_d)
            print("dovecot auth: PLAIN, 1 connection:  %7.1f logins/s "
                  "(%d in %.2f s)" % (dseq, N_LOGIN, dt_d))
            dtp_d = parallel(lambda: d.plain(N_LOGIN // N_PAR, user, pw),
                             N_PAR)
            dpar = rate(N_LOGIN // N_PAR * N_PAR, dtp_d)
            print("dovecot auth: PLAIN, %d connections: %7.1f logins/s" %
                  (N_PAR, dpar))
            print("ratio chapar/dovecot (PLAIN, 1 connection): %.2f" %
                  (seq / dseq))
            print("ratio chapar/dovecot (PLAIN, %d connections): %.2f" %
                  (N_PAR, par / dpar))
        finally:
            d.stop()
    finally:
        chapartest.finish()
        chapartest.cleanup_all(failed_now=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
