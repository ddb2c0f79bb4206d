#!/usr/bin/env python3
"""Benchmark: authd password checks and look-ups, vs Dovecot's auth.

Interleaved (A B B A ...) against a private Dovecot auth service that
checks the very same yescrypt hash (Chapar's, copied into its
passwd-file):
  - PLAIN logins per second over one connection, and over 4 at once,
    with the servers' CPU per login from their process trees (see
    benchlib).
Dovecot is configured as its performance tuning page advises: the auth
cache on (auth_cache_size) and hashes checked in auth worker processes
(auth_cache_verify_password_with_worker), as many at most as Chapar's
authd has hash workers (auth_workers = 0: one per CPU).
Then, Chapar alone (secondary): SCRAM-SHA-256 logins per second (client
work included) and USER and RCPT look-ups per second.

Bounded: a fixed number of requests, each with a timeout; nothing leaves
loopback/UNIX sockets.
"""
import base64
import os
import socket
import sys
import threading
import time

import benchlib as B
from benchlib import AuthClient

N_LOGIN = 200
N_PAR = 4
N_LOOKUP = 5000
USER, PW = "bench@example.org", "bench password"


def rate(n, secs):
    return n / secs if secs > 0 else float("inf")


def chapar_plain(sock, n):
    c = AuthClient(sock)
    for _ in range(n):
        r = c.plain(USER, PW, rip="")[0]
        if r != "OK":
            raise RuntimeError("authd: %s" % r)
    c.close()


def parallel(fn, k):
    errors = []

    def run():
        try:
            fn()
        except Exception as e:      # reported below
            errors.append(e)
    ts = [threading.Thread(target=run) for _ in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    if errors:
        raise RuntimeError(errors[0])


class DovecotAuth:
    """A private Dovecot whose only job is its auth service."""
    name = "dovecot auth"

    def __init__(self, pwhash):
        self.d = B.Dovecot("""protocols =
ssl = no
auth_mechanisms = plain
auth_cache_size = 10M
auth_cache_verify_password_with_worker = yes
auth_worker_max_count = %d
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%%u {d}/passwd
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
""" % os.cpu_count(), sock=None, name="chapar-bench-auth",
            files={"passwd": "%s:{CRYPT}%s::::::\n" % (USER, pwhash)})
        self.sock = self.d.path("run", "auth-client")
        B.wait_for(lambda: os.path.exists(self.sock), 20,
                   "dovecot's auth-client socket")
        self.pid = self.d.pid

    def plain(self, n):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(self.sock)
        f = s.makefile("rb")
        s.sendall(b"VERSION\t1\t2\nCPID\t%d\n" % os.getpid())
        while f.readline().strip() != b"DONE":
            pass
        resp = base64.b64encode(b"\0" + USER.encode() + b"\0" +
                                PW.encode()).decode()
        for i in range(1, n + 1):
            s.sendall(("AUTH\t%d\tPLAIN\tservice=imap\tsecured\tresp=%s\n"
                       % (i, resp)).encode())
            line = f.readline().decode()
            if not line.startswith("OK\t%d" % i):
                raise RuntimeError("dovecot auth: %r" % line)
        s.close()

    def config(self):
        return self.d.config()

    def stop(self):
        self.d.stop()

    def remove(self):
        self.d.remove()


def timed(pid, n, fn):
    cpu0 = B.tree_cpu(pid)
    t0 = time.time()
    fn()
    dt = time.time() - t0
    cpu = B.tree_cpu(pid) - cpu0
    return {"logins/s": n / dt, "ms CPU/login": cpu * 1e3 / n, "_cpu": cpu}


def main():
    ap = B.parser(__doc__)
    args = ap.parse_args()
    B.setup(args)
    global N_LOGIN, N_LOOKUP
    if args.quick:
        N_LOGIN, N_LOOKUP = 40, 500
    inst = B.Instance()
    inst.ok("domain", "add", "example.org")
    inst.add_user(USER, PW)
    inst.ok("alias", "add", "team@example.org", USER,
            "someone@remote.example")
    inst.start_authd()
    sock = inst.path("run", "auth.sock")
    apid = inst.procs["authd"].pid
    peer = B.have_dovecot("auth")
    d = None
    if not peer:
        B.peer_missing("dovecot auth", "dovecot-core (and run as root)")
    else:
        d = DovecotAuth(B.chapar_hashes(inst)[USER])
    try:
        B.show_config("chapar (chapar.conf)", B.chapar_conf(inst))
        if d:
            B.show_config("dovecot (doveconf -n)", d.config())
        per = N_LOGIN // N_PAR * N_PAR
        metrics = [B.Metric("logins/s", "%.1f", "logins/s"),
                   B.Metric("ms CPU/login", "%.2f", "ms CPU/login",
                            higher=False)]
        one = B.interleave(
            "PLAIN logins, 1 connection", "chapar authd",
            lambda i: timed(apid, N_LOGIN,
                            lambda: chapar_plain(sock, N_LOGIN)),
            "dovecot auth",
            (lambda i: timed(d.pid, N_LOGIN, lambda: d.plain(N_LOGIN)))
            if d else None, args.pairs, metrics, pause=None)
        par = B.interleave(
            "PLAIN logins, %d connections at once" % N_PAR, "chapar authd",
            lambda i: timed(apid, per, lambda: parallel(
                lambda: chapar_plain(sock, per // N_PAR), N_PAR)),
            "dovecot auth",
            (lambda i: timed(d.pid, per, lambda: parallel(
                lambda: d.plain(per // N_PAR), N_PAR))) if d else None,
            args.pairs, metrics, pause=None)
        c = AuthClient(sock)
        t0 = time.time()
        for _ in range(50):
            if c.scram(USER, PW)[0] != "OK":
                raise RuntimeError("SCRAM failed")
        print("chapar authd (secondary, no peer): SCRAM-SHA-256: %.1f "
              "logins/s (client PBKDF2 included)" % rate(50, time.time() -
                                                         t0))
        for verb, arg in (("USER", USER), ("RCPT", "team@example.org")):
            t0 = time.time()
            for _ in range(N_LOOKUP):
                if c.request(verb, arg)[0] != verb:
                    raise RuntimeError("%s look-up failed" % verb)
            print("chapar authd (secondary, no peer): %s look-ups: %.0f /s"
                  % (verb, rate(N_LOOKUP, time.time() - t0)))
        c.close()
    finally:
        if d:
            d.stop()
        inst.stop_all()
    if d:
        d.remove()
    B.rmtree(inst.dir)
    for what, r in (("1 connection", one), ("%d connections" % N_PAR,
                                            par)):
        if r.ratio("logins/s") is not None:
            print("ratio chapar/dovecot, PLAIN, %s: %.2f x the logins/s, "
                  "%.2f x the CPU per login" % (what, r.ratio("logins/s"),
                                                r.ratio("ms CPU/login")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
