#!/usr/bin/env python3
"""Benchmark: delivery into the store.

  - LMTP: 5,000 messages of 5 kB from 10 parallel clients (one connection
    each, PIPELINING), to 10 users, fsync on, into Chapar's local(8) under
    chapard; and, when Dovecot's LMTP is installed (dovecot-lmtpd), the
    same into a private Dovecot with mail_fsync = always.  Prints both
    rates and the ratio (goal: Chapar >= 2x Dovecot).
  - chapar import of a 100,000-message mbox: messages per second and the
    peak memory (ru_maxrss) of the import.

Bounded: a fixed count, every socket with a timeout; loopback only.
"""
import argparse
import multiprocessing
import os
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

N_MSGS = 5000
N_CLIENTS = 10
N_USERS = 10
MSG_SIZE = 5 * 1024
N_IMPORT = 100000


def message(i):
    head = ("From: Bench <bench@example.net>\r\nTo: user@example.org\r\n"
            "Subject: message %d\r\nMessage-ID: <%d@bench.example>\r\n"
            "\r\n" % (i, i)).encode()
    line = b"The quick brown fox jumps over the lazy dog 0123456789.\r\n"
    body = line * ((MSG_SIZE - len(head)) // len(line) + 1)
    return head + body[:MSG_SIZE - len(head) - 2] + b"\r\n"


def read_reply(f):
    while True:
        line = f.readline()
        if not line:
            raise RuntimeError("connection closed")
        if line[3:4] != b"-":
            return line


def client(args):
    """One LMTP connection delivering n messages; returns the 250s."""
    port, k, n = args
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = s.makefile("rb")
    read_reply(f)
    s.sendall(b"LHLO bench.example\r\n")
    read_reply(f)
    ok = 0
    for i in range(n):
        user = "u%d@example.org" % ((k + i) % N_USERS)
        s.sendall(b"MAIL FROM:<bench@example.net>\r\nRCPT TO:<" +
                  user.encode() + b">\r\nDATA\r\n")
        for _ in range(3):
            r = read_reply(f)
        if not r.startswith(b"354"):
            raise RuntimeError("DATA: %r" % r)
        s.sendall(message(k * n + i) + b".\r\n")
        if read_reply(f).startswith(b"250"):
            ok += 1
    s.sendall(b"QUIT\r\n")
    s.close()
    return ok


def run_lmtp(port):
    per = N_MSGS // N_CLIENTS
    with multiprocessing.Pool(N_CLIENTS) as pool:
        t0 = time.time()
        oks = pool.map(client, [(port, k, per) for k in range(N_CLIENTS)])
        dt = time.time() - t0
    return sum(oks), dt


def count_files(top):
    n = 0
    for dirpath, dirs, files in os.walk(top):
        if os.path.basename(dirpath) in ("cur", "new"):
            n += len(files)
    return n


class DovecotLmtp:
    """A private Dovecot whose only service is LMTP."""

    def __init__(self, port):
        self.dir = tempfile.mkdtemp(prefix="chapar-bench-dovecot-")
        os.chmod(self.dir, 0o755)
        self.mail = os.path.join(self.dir, "mail")
        os.mkdir(self.mail)
        import pwd
        pw = pwd.getpwnam("nobody")
        os.chown(self.mail, pw.pw_uid, pw.pw_gid)
        for d in ("run", "state"):
            os.mkdir(os.path.join(self.dir, d))
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""
base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
instance_name = chapar-bench-lmtp
protocols = lmtp
listen = 127.0.0.1
ssl = no
postmaster_address = postmaster@example.org
mail_location = maildir:%(d)s/mail/%%d/%%n
mail_fsync = always
first_valid_uid = 1
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(gid)d home=%(d)s/mail/%%d/%%n
}
service lmtp {
  process_min_avail = %(n)d
  inet_listener lmtp {
    address = 127.0.0.1
    port = %(port)d
  }
}
""" % {"d": self.dir, "port": port, "uid": pw.pw_uid, "gid": pw.pw_gid,
       "n": N_CLIENTS})
        self.p = subprocess.Popen(["dovecot", "-F", "-c", conf],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        end = time.time() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.time() > end or self.p.poll() is not None:
                    raise RuntimeError("dovecot did not start (see %s)" %
                                       self.dir)
                time.sleep(0.1)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_import(inst):
    src = inst.path("big.mbox")
    body = b"".join(b"line %d of a message imported in bulk\n" % i
                    for i in range(20))
    with open(src, "wb") as f:
        for i in range(N_IMPORT):
            f.write(b"From bench@example.net Thu Nov 26 10:00:00 2026\n"
                    b"From: bench@example.net\nSubject: import %d\n\n" % i +
                    body + b"\n")
    size = os.path.getsize(src)
    inst.add_user("import@example.org")
    cmd = [os.path.join(chapartest.BUILD, "bin", "chapar"), "-c",
           inst.conf, "import", "import@example.org", src]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.time() - t0
    if status != 0:
        print("chapar import failed: %s" % p.stderr.read().decode())
        return
    print("chapar import: %d messages (%.0f MB mbox) in %.1f s: %.0f "
          "messages/s, peak RSS %.1f MB" %
          (N_IMPORT, size / 1048576.0, dt, N_IMPORT / dt,
           ru.ru_maxrss / 1024.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--skip-import", action="store_true")
    args = ap.parse_args()
    chapartest.BUILD = os.path.abspath(args.build)
    port = free_port()
    inst = Instance()
    try:
        inst.ok("domain", "add", "example.org")
        for i in range(N_USERS):
            inst.add_user("u%d@example.org" % i)
        inst.add_conf("""
[lmtp]
listen = 127.0.0.1:%d
prefork = %d
max_procs = %d
""" % (port, N_CLIENTS, 2 * N_CLIENTS))
        inst.start_chapard()
        wait_for(lambda: inst.service("lmtp") is not None and
                 inst.idle("lmtp") >= N_CLIENTS, 30, "lmtp workers")
        ok, dt = run_lmtp(port)
        stored = count_files(inst.path("mail"))
        ours = ok / dt
        print("chapar local (LMTP): %d messages of %d kB, %d clients, "
              "fsync on: %.1f s, %.0f messages/s (%d stored)" %
              (ok, MSG_SIZE // 1024, N_CLIENTS, dt, ours, stored))
        if not args.skip_import:
            bench_import(inst)
    finally:
        inst.stop_all()
        shutil.rmtree(inst.dir, ignore_errors=True)

    if shutil.which("dovecot") is None or \
            not os.path.exists("/usr/lib/dovecot/lmtp"):
        print("dovecot lmtp: not installed (apt-get install dovecot-lmtpd)"
              " - no comparison")
        return 0
    dport = free_port()
    d = DovecotLmtp(dport)
    try:
        ok, dt = run_lmtp(dport)
        stored = count_files(d.mail)
        theirs = ok / dt
        print("dovecot lmtp:        %d messages of %d kB, %d clients, "
              "mail_fsync=always: %.1f s, %.0f messages/s (%d stored)" %
              (ok, MSG_SIZE // 1024, N_CLIENTS, dt, theirs, stored))
        print("ratio chapar/dovecot: %.2f (goal >= 2)" % (ours / theirs))
    finally:
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
