#!/usr/bin/env python3
"""Benchmark: LMTP delivery into the store, Chapar's local vs Dovecot's LMTP.

5,000 messages of 5 kB from 10 clients at once (one connection each,
MAIL, RCPT and DATA pipelined), each to a user of its own, fresh
mailboxes for every run; a reply 250 means the message is on disk on both
sides (Chapar's local fsyncs the file and cur/; Dovecot with
mail_fsync = always).  Chapar's local under chapard and a private Dovecot
run interleaved (A B B A ...); printed per run: messages/s and the
servers' CPU per message from their process trees (see benchlib).  Goal:
Chapar >= 2x Dovecot's rate.

Then, Chapar alone (secondary): chapar import of a 100,000-message mbox,
messages per second and the import's peak memory.

Bounded: fixed counts, every socket with a timeout; loopback only.
"""
import multiprocessing
import os
import socket
import subprocess
import sys
import time

import benchlib as B

N_MSGS = 5000
N_CLIENTS = 10
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
    """One LMTP connection delivering n messages to user; the 250s."""
    port, user, n = args
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    f = s.makefile("rb")
    read_reply(f)
    s.sendall(b"LHLO bench.example\r\n")
    read_reply(f)
    ok = 0
    for i in range(n):
        s.sendall(b"MAIL FROM:<bench@example.net>\r\nRCPT TO:<" +
                  user.encode() + b">\r\nDATA\r\n")
        for _ in range(3):
            r = read_reply(f)
        if not r.startswith(b"354"):
            raise RuntimeError("DATA: %r" % r)
        s.sendall(message(i) + b".\r\n")
        r = read_reply(f)
        if not r.startswith(b"250"):
            raise RuntimeError("%s: %r" % (user, r))
        ok += 1
    s.sendall(b"QUIT\r\n")
    s.close()
    return ok


def users(tag):
    return ["%s%d@example.org" % (tag, k) for k in range(N_CLIENTS)]


def run(side, tag, n):
    per = n // N_CLIENTS
    with multiprocessing.Pool(N_CLIENTS) as pool:
        cpu0 = B.tree_cpu(side.pid)
        t0 = time.time()
        oks = pool.map(client, [(side.port, u, per) for u in users(tag)],
                       chunksize=1)
        dt = time.time() - t0
        cpu = B.tree_cpu(side.pid) - cpu0
    stored = sum(B.maildir_count(side.mailbox(u)) for u in users(tag))
    if sum(oks) != per * N_CLIENTS or stored != sum(oks):
        raise RuntimeError("%s: %d accepted, %d stored, of %d" %
                           (side.name, sum(oks), stored, per * N_CLIENTS))
    return {"msg/s": stored / dt, "us CPU/msg": cpu * 1e6 / stored,
            "_cpu": cpu}


class Chapar:
    name = "chapar"

    def __init__(self, tags):
        self.port = B.free_port()
        self.inst = B.Instance()
        self.inst.ok("domain", "add", "example.org")
        for t in tags:
            for u in users(t):
                self.inst.add_user(u, "bench pw")
        # the same as Dovecot's lmtp service below: N_CLIENTS processes
        # started beforehand and at most, each reused without limit
        self.inst.add_conf("""
[lmtp]
listen = 127.0.0.1:%d
prefork = %d
max_procs = %d
max_use = 1000000
""" % (self.port, N_CLIENTS, N_CLIENTS))
        self.inst.start_chapard()
        B.wait_for(lambda: self.inst.service("lmtp") is not None and
                   self.inst.idle("lmtp") >= N_CLIENTS, 30, "lmtp workers")
        self.pid = B.chapard_pid(self.inst)

    def mailbox(self, user):
        local, domain = user.split("@")
        return self.inst.path("mail", domain, local)

    def config(self):
        return B.chapar_conf(self.inst)

    def stop(self):
        self.inst.stop_all()

    def remove(self):
        B.rmtree(self.inst.dir)


class Dovecot:
    """A private Dovecot whose only service is LMTP, configured as its
    performance tuning page advises: the auth cache on, lmtp processes
    kept ready (as many as Chapar's prefork), mail_fsync = always."""
    name = "dovecot"

    def __init__(self):
        import pwd
        self.port = B.free_port()
        nobody = pwd.getpwnam("nobody")
        self.d = B.Dovecot("""protocols = lmtp
ssl = no
postmaster_address = postmaster@example.org
mail_location = maildir:{d}/mail/%%d/%%n
mail_fsync = always
first_valid_uid = 1
auth_cache_size = 10M
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(gid)d home={d}/mail/%%d/%%n
}
service lmtp {
  process_min_avail = %(n)d
  process_limit = %(n)d
  service_count = 0
  inet_listener lmtp {
    address = 127.0.0.1
    port = %(port)d
  }
}
""" % {"uid": nobody.pw_uid, "gid": nobody.pw_gid, "n": N_CLIENTS,
       "port": self.port}, port=self.port, name="chapar-bench-lmtp",
            owned={"mail": "nobody"})
        self.pid = self.d.pid

    def mailbox(self, user):
        local, domain = user.split("@")
        return self.d.path("mail", domain, local)

    def config(self):
        return self.d.config()

    def stop(self):
        self.d.stop()

    def remove(self):
        self.d.remove()


def bench_import(n):
    """chapar import of an n-message mbox into a fresh instance."""
    inst = B.Instance()
    try:
        inst.ok("domain", "add", "example.org")
        inst.add_user("import@example.org")
        src = inst.path("big.mbox")
        body = b"".join(b"line %d of a message imported in bulk\n" % i
                        for i in range(20))
        with open(src, "wb") as f:
            for i in range(n):
                f.write(b"From bench@example.net Thu Nov 26 10:00:00 2026\n"
                        b"From: bench@example.net\nSubject: import %d\n\n"
                        % i + body + b"\n")
        size = os.path.getsize(src)
        B.pause_disk()
        cmd = [os.path.join(B.chapartest.BUILD, "bin", "chapar"), "-c",
               inst.conf, "import", "import@example.org", src]
        t0 = time.time()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.time() - t0
        if status != 0:
            print("chapar import failed: %s" % p.stderr.read().decode())
            return
        print("chapar import (secondary, no peer): %d messages (%.0f MB "
              "mbox) in %.1f s: %.0f messages/s, %.1f s CPU, peak RSS "
              "%.1f MB" % (n, size / 1048576.0, dt, n / dt,
                           ru.ru_utime + ru.ru_stime,
                           ru.ru_maxrss / 1024.0))
    finally:
        inst.stop_all()
        B.rmtree(inst.dir)


def main():
    ap = B.parser(__doc__)
    ap.add_argument("--skip-import", action="store_true")
    args = ap.parse_args()
    B.setup(args)
    global N_MSGS, N_IMPORT
    if args.quick:
        N_MSGS, N_IMPORT = 500, 5000
    peer = B.have_dovecot("lmtp")
    if not peer:
        B.peer_missing("dovecot lmtp", "dovecot-lmtpd (and run as root)")
    print("%d messages of %d kB, %d LMTP clients at once, each to its own "
          "fresh mailbox; a 250 means fsync'd on both sides" %
          (N_MSGS, MSG_SIZE // 1024, N_CLIENTS))
    tags = ["w"] + ["r%d" % i for i in range(args.pairs)]
    ours = Chapar(tags)
    theirs = Dovecot() if peer else None
    sides = [s for s in (ours, theirs) if s]
    try:
        B.show_config("chapar (chapar.conf)", ours.config())
        if theirs:
            B.show_config("dovecot (doveconf -n)", theirs.config())
        for s in sides:         # warm-up
            run(s, "w", N_CLIENTS * 20)
        res = B.interleave(
            "LMTP delivery", "chapar", lambda i: run(ours, "r%d" % i,
                                                     N_MSGS),
            "dovecot", (lambda i: run(theirs, "r%d" % i, N_MSGS))
            if theirs else None, args.pairs,
            [B.Metric("msg/s", unit="msg/s"),
             B.Metric("us CPU/msg", unit="us CPU/msg", higher=False)])
    finally:
        for s in sides:
            s.stop()
    for s in sides:
        s.remove()
    if not args.skip_import:
        bench_import(N_IMPORT)
    B.ratio_goal("LMTP >= 2x Dovecot LMTP", res.ratio("msg/s"), 2)
    cpu = res.ratio("us CPU/msg")
    if cpu is not None:
        print("LMTP CPU per message: chapar/dovecot %.2f" % cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
