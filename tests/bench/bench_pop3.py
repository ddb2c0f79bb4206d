#!/usr/bin/env python3
"""Benchmark: POP3 downloads.

A mailbox of 1,000 messages of about 5 kB.  One session: log in, LIST,
RETR every message (pipelined, RFC 2449 PIPELINING), QUIT; repeated
SESSIONS times, one after the other, and the rate and the server's CPU
per session printed (the machine's busy time less the client's own).
The same against a private Dovecot instance (its own config, base_dir,
log and Maildir under a temporary directory; USER/PASS without TLS on
both sides, and the same password hash scheme, yescrypt, on both) when
Debian's dovecot-pop3d is installed, and the ratio printed (goal: >= 2x
Dovecot).

Then PARALLEL clients at once, each on a mailbox of its own (POP3 allows
one session per mailbox), SESSIONS sessions each: the rate a loaded
server gives.  Then the time LIST takes on a 50,000-message mailbox
(goal: well under a second), on both.

Bounded: fixed counts, timeouts on every socket; loopback only.
"""
import argparse
import os
import pwd
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integ"))
import chapartest  # noqa: E402
from chapartest import Instance, free_port, wait_for  # noqa: E402
from bench_smtpd import busy_seconds  # noqa: E402

N_MSGS = 1000
BIG = 50000
SESSIONS = 20
PARALLEL = 4            # clients at once in the second run
USER, PASS = "bench@example.org", "bench pw"


def yescrypt(pw):
    """A yescrypt hash ("$y$", libxcrypt's default cost), the kind
    Chapar's authd stores and checks, for Dovecot's {CRYPT} scheme: both
    servers then pay the same for each login."""
    import ctypes
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                  ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib.crypt(pw.encode(), lib.crypt_gensalt(b"$y$", 0, None,
                                                    0)).decode()


def message(i, size=5120):
    head = ("From: Sender <sender@example.net>\r\nTo: %s\r\n"
            "Subject: message %d\r\nMessage-ID: <%d.bench@example.net>\r\n"
            "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\n" %
            (USER, i, i)).encode()
    line = b"The quick brown fox jumps over the lazy dog, %d.\r\n" % i
    body = line * ((size - len(head)) // len(line) + 1)
    return head + body[:size - len(head) - 2] + b"\r\n"


def write_mbox(path, n, size):
    with open(path, "wb") as f:
        for i in range(n):
            f.write(b"From sender@example.net Thu Nov 26 10:00:00 2026\n")
            f.write(message(i, size).replace(b"\r\n", b"\n"))
            f.write(b"\n")


def write_maildir(top, n, size, uid):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(top, sub), exist_ok=True)
    for i in range(n):
        with open(os.path.join(top, "cur", "1790000000.%d.bench:2," % i),
                  "wb") as f:
            f.write(message(i, size))
    os.system("chown -R %d:%d %s" % (uid, uid, top))


def quiet():
    """What was just written reaches the disk before anything is
    measured (dirty pages written back during a run would count)."""
    os.sync()
    time.sleep(1)


def session(port, n, retr=True, user=None):
    """One POP3 session; the number of multi-line responses read."""
    s = socket.create_connection(("127.0.0.1", port), 30)
    s.settimeout(60)
    f = s.makefile("rb")
    if not f.readline().startswith(b"+OK"):
        raise RuntimeError("no greeting")
    s.sendall(b"USER %s\r\nPASS %s\r\n" % ((user or USER).encode(),
                                           PASS.encode()))
    for _ in range(2):
        line = f.readline()
        if not line.startswith(b"+OK"):
            raise RuntimeError("login: %r" % line)
    cmds = [b"LIST\r\n"] + ([b"RETR %d\r\n" % i for i in range(1, n + 1)]
                            if retr else []) + [b"QUIT\r\n"]
    s.sendall(b"".join(cmds))
    want = 1 + (n if retr else 0)
    seen, tail = 0, b""
    while seen < want:
        chunk = f.read1(1 << 20)
        if not chunk:
            raise RuntimeError("connection closed after %d" % seen)
        data = tail + chunk
        seen += data.count(b"\r\n.\r\n")
        tail = data[-4:]
    rest = f.readline()
    while rest and not rest.startswith(b"+OK"):
        rest = f.readline()
    s.close()
    return seen


def users(k):
    """The mailboxes of the parallel run: one per client, as POP3 allows
    one session per mailbox."""
    return ["p%d@example.org" % i for i in range(k)]


def run(name, port, n, parallel=1):
    """SESSIONS sessions in a row (parallel = 1), or that many on each
    of parallel clients at once, each with a mailbox of its own."""
    import threading
    who = [USER] if parallel == 1 else users(parallel)
    for u in who:
        session(port, n, user=u)    # warm up (indexes, \Seen written)
    # a mailbox changed in the last 2 s is looked at whole by the next
    # session (a stamp that young proves nothing, see mbox_sync.c): a
    # mailbox a client polls is not that fresh
    time.sleep(2.5)
    errors = []

    def client(u):
        try:
            for _ in range(SESSIONS):
                session(port, n, user=u)
        except Exception as e:      # reported below, counted as a failure
            errors.append(e)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    busy0 = busy_seconds()
    t0 = time.time()
    threads = [threading.Thread(target=client, args=(u,)) for u in who]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    dt = time.time() - t0
    if errors:
        raise RuntimeError("%s: %s" % (name, errors[0]))
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime -
                                                  ru0.ru_stime)
    total = SESSIONS * len(who)
    server = max(0.0, busy_seconds() - busy0 - client_cpu)
    rate = total / dt
    print("%s: %d x %d sessions x (LIST + RETR %d + QUIT): %.2f s, %.2f "
          "sessions/s, %.0f msg/s, server CPU %.1f ms/session" %
          (name, len(who), SESSIONS, n, dt, rate, rate * n,
           server * 1000 / total))
    return rate, server / total


def list_time(name, port, n, user):
    session(port, n, retr=False, user=user)
    time.sleep(2.5)
    t0 = time.time()
    for _ in range(5):
        session(port, n, retr=False, user=user)
    dt = (time.time() - t0) / 5
    print("%s: log in + LIST + QUIT on %d messages: %.3f s" % (name, n, dt))
    return dt


class Dovecot:
    def __init__(self, port, n, big_n):
        self.dir = tempfile.mkdtemp(prefix="chapar-bench-dovecot-")
        os.chmod(self.dir, 0o755)
        pw = pwd.getpwnam("nobody")
        for d in ("run", "state", "home"):
            os.makedirs(os.path.join(self.dir, d))
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            h = yescrypt(PASS)
            for u in [USER, "big@example.org"] + users(PARALLEL):
                f.write("%s:{CRYPT}%s\n" % (u, h))
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        for u in [USER] + users(PARALLEL):
            write_maildir(os.path.join(self.dir, "home", u, "Maildir"), n,
                          5120, pw.pw_uid)
        os.system("chown -R %d:%d %s" % (pw.pw_uid, pw.pw_gid,
                                         os.path.join(self.dir, "home")))
        quiet()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("""protocols = pop3
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u
}}
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
service pop3-login {{
  inet_listener pop3 {{
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""".format(d=self.dir, uid=pw.pw_uid, gid=pw.pw_gid, port=port))
        # it forks into the background: no pipes it could keep open
        with open(os.path.join(self.dir, "start.log"), "w") as log:
            r = subprocess.run(["dovecot", "-c", self.conf], stdout=log,
                               stderr=log, timeout=60)
        if r.returncode != 0:
            with open(os.path.join(self.dir, "start.log")) as log:
                raise RuntimeError("dovecot did not start: %s" % log.read())
        end = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.time() > end:
                    raise RuntimeError("dovecot is not listening")
                time.sleep(0.2)

    def add_big(self, big_n):
        top = os.path.join(self.dir, "home", "big@example.org")
        write_maildir(os.path.join(top, "Maildir"), big_n, 600, self.uid)
        os.system("chown -R %d:%d %s" % (self.uid, self.gid, top))
        quiet()

    def stop(self):
        subprocess.run(["doveadm", "-c", self.conf, "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
        time.sleep(1)
        shutil.rmtree(self.dir, ignore_errors=True)


def chapar(n, big_n):
    port = free_port()
    inst = Instance()
    try:
        inst.ok("domain", "add", "example.org")
        for u in [USER, "big@example.org"] + users(PARALLEL):
            inst.add_user(u, PASS)
        inst.add_conf("""
[pop3]
listen = 127.0.0.1:%d
prefork = 4
max_use = 100000
client_conn_limit = 0
client_rate_limit = 0
auth_allow_plaintext = yes
""" % port)
        mbox = inst.path("bench.mbox")
        write_mbox(mbox, n, 5120)
        for u in [USER] + users(PARALLEL):
            inst.ok("import", u, mbox)
        os.unlink(mbox)
        quiet()
        inst.start_chapard()
        wait_for(lambda: inst.service("pop3") is not None and
                 inst.idle("pop3") >= 1, 30, "pop3 workers")
        ours = run("chapar pop3d", port, n)
        ours_par = run("chapar pop3d", port, n, PARALLEL)
        big = None
        if big_n:
            # the big mailbox only now, so that its writing does not
            # disturb the run above
            write_mbox(mbox, big_n, 600)
            t0 = time.time()
            inst.ok("import", "big@example.org", mbox)
            print("chapar: %d messages imported in %.1f s" %
                  (big_n, time.time() - t0))
            os.unlink(mbox)
            quiet()
            big = list_time("chapar pop3d", port, big_n, "big@example.org")
        return ours, ours_par, big
    finally:
        inst.stop_all()
        shutil.rmtree(inst.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--big", type=int, default=BIG)
    args = ap.parse_args()
    chapartest.BUILD = os.path.abspath(args.build)
    ours, ours_par, big = chapar(N_MSGS, args.big)
    if os.geteuid() != 0 or shutil.which("dovecot") is None or \
            not os.path.exists("/usr/lib/dovecot/pop3"):
        print("dovecot: needs root and dovecot-pop3d; no comparison")
        return 0
    port = free_port()
    d = Dovecot(port, N_MSGS, args.big)
    try:
        theirs = run("dovecot pop3", port, N_MSGS)
        theirs_par = run("dovecot pop3", port, N_MSGS, PARALLEL)
        for what, a, b in (("one client", ours, theirs),
                           ("%d clients" % PARALLEL, ours_par, theirs_par)):
            print("ratio chapar/dovecot, %s: %.2f x the sessions/s (goal "
                  ">= 2), %.2f x the CPU per session" %
                  (what, a[0] / b[0], a[1] / b[1]))
        if args.big:
            d.add_big(args.big)
            dbig = list_time("dovecot pop3", port, args.big,
                             "big@example.org")
            print("LIST of %d: chapar %.3f s, dovecot %.3f s" %
                  (args.big, big, dbig))
    finally:
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
