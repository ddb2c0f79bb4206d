#!/usr/bin/env python3
"""Benchmark: POP3, Chapar's pop3d vs Dovecot's pop3.

Interleaved runs (A B B A ...) of:
  - the session rate: 4 clients at once, each on a mailbox of its own
    (POP3 allows one session per mailbox) of 20 messages, each doing
    sessions of USER/PASS, STAT, UIDL, QUIT one after another: a mail
    client checking for new mail;
  - messages per second: 4 clients at once, each downloading its own
    mailbox of 1,000 messages of 5 kB in one session (LIST, then RETR of
    every message pipelined, RFC 2449 PIPELINING, QUIT), 3 times;
  - (secondary) the time log in + LIST + QUIT takes on a 50,000-message
    mailbox.
Printed per run: the rate and the servers' CPU from their process trees
(see benchlib).  Both sides check the same yescrypt hashes (Dovecot's
passwd-file gets the hashes Chapar stored) and neither changes flags
(Chapar's pop3_retr_seen = no, Dovecot's pop3_no_flag_updates = yes, as
Dovecot's POP3 tuning advice says).  USER/PASS in the clear on both.

Then the memory of a logged-in session: 10 sessions logged in at once
and idle, without TLS and with implicit TLS (pop3s), and the PSS
(/proc/PID/smaps_rollup) of the processes that serve them, divided by
the sessions:
  Chapar:  without TLS the session (post-login) process, which holds the
           client's connection; with TLS also the login worker that
           relays the TLS stream;
  Dovecot: the pop3 processes that have the sessions' mailboxes open, and
           the pop3-login processes that hold the clients' connections
           (with TLS, the proxies; each counted whole, shared among the
           sessions it holds).
Goals: >= 2x Dovecot's session rate and messages per second; a logged-in
session <= 300 kB PSS.

Bounded: fixed counts, timeouts on every socket; loopback only.
"""
import os
import pwd
import socket
import ssl
import sys
import threading
import time

import benchlib as B

PARALLEL = 4            # clients at once; also the login processes kept
N_MSGS = 1000           # messages in a download mailbox
DOWNLOADS = 3           # downloads per client and run
SMALL = 20              # messages in a session-rate mailbox
SESSIONS = 50           # sessions per client and run
BIG = 50000             # messages in the big mailbox (LIST timing)
MEM_SESSIONS = 10       # sessions logged in at once for the memory
PASS = "bench pw"


def message(i, size=5120):
    head = ("From: Sender <sender@example.net>\r\nTo: someone@example.org"
            "\r\nSubject: message %d\r\nMessage-ID: <%d.bench@example.net>"
            "\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\n" %
            (i, i)).encode()
    line = b"The quick brown fox jumps over the lazy dog, %d.\r\n" % i
    body = line * ((size - len(head)) // len(line) + 1)
    return head + body[:size - len(head) - 2] + b"\r\n"


def write_mbox(path, n, size):
    with open(path, "wb") as f:
        for i in range(n):
            f.write(b"From sender@example.net Thu Nov 26 10:00:00 2026\n")
            f.write(message(i, size).replace(b"\r\n", b"\n"))
            f.write(b"\n")


def write_maildir(top, n, size, uid, gid):
    """A Maildir as Dovecot's own delivery leaves it: LF lines, the
    physical size (S=) and the CRLF size (W=) in each name."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(top, sub), exist_ok=True)
    for i in range(n):
        m = message(i, size)
        lf = m.replace(b"\r\n", b"\n")
        name = "1790000000.M%dP1.bench,S=%d,W=%d:2," % (i, len(lf), len(m))
        with open(os.path.join(top, "cur", name), "wb") as f:
            f.write(lf)
    for dirpath, dirs, files in os.walk(os.path.dirname(top)):
        for x in dirs + files:
            os.chown(os.path.join(dirpath, x), uid, gid)
    os.chown(os.path.dirname(top), uid, gid)


class Conn:
    def __init__(self, port, tls=False):
        s = socket.create_connection(("127.0.0.1", port), 30)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        s.settimeout(60)
        self.s, self.f = s, s.makefile("rb")
        if not self.f.readline().startswith(b"+OK"):
            raise RuntimeError("no greeting")

    def login(self, user):
        self.s.sendall(b"USER %s\r\nPASS %s\r\n" % (user.encode(),
                                                    PASS.encode()))
        for _ in range(2):
            line = self.f.readline()
            if not line.startswith(b"+OK"):
                raise RuntimeError("login %s: %r" % (user, line))

    def multi(self, cmds, want):
        """Send cmds at once; read until want multi-line responses have
        ended, then the last single-line one (QUIT)."""
        self.s.sendall(b"".join(cmds))
        seen, tail = 0, b""
        while seen < want:
            chunk = self.f.read1(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed after %d" % seen)
            data = tail + chunk
            seen += data.count(b"\r\n.\r\n")
            tail = data[-4:]
        line = self.f.readline()
        while line and not line.startswith(b"+OK"):
            line = self.f.readline()

    def close(self):
        try:
            self.f.close()
            self.s.close()
        except OSError:
            pass


def check_session(port, user):
    c = Conn(port)
    c.login(user)
    c.multi([b"STAT\r\n", b"UIDL\r\n", b"QUIT\r\n"], 1)
    c.close()


def download(port, user, n):
    c = Conn(port)
    c.login(user)
    c.multi([b"LIST\r\n"] + [b"RETR %d\r\n" % i for i in range(1, n + 1)] +
            [b"QUIT\r\n"], n + 1)
    c.close()


def list_session(port, user, n):
    c = Conn(port)
    c.login(user)
    c.multi([b"LIST\r\n", b"QUIT\r\n"], 1)
    c.close()


def clients(fn, who):
    """fn(user) on a thread per user; the seconds they took."""
    errors = []

    def one(u):
        try:
            fn(u)
        except Exception as e:      # reported below
            errors.append(e)
    ts = [threading.Thread(target=one, args=(u,)) for u in who]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join(600)
    if errors:
        raise RuntimeError(errors[0])
    return time.time() - t0


def run_sessions(side):
    who = ["m%d@example.org" % k for k in range(PARALLEL)]
    cpu0 = B.tree_cpu(side.pid)

    def fn(u):
        for _ in range(SESSIONS):
            check_session(side.port, u)
    dt = clients(fn, who)
    cpu = B.tree_cpu(side.pid) - cpu0
    n = SESSIONS * len(who)
    return {"sessions/s": n / dt, "ms CPU/session": cpu * 1e3 / n,
            "_cpu": cpu}


def run_download(side):
    who = ["d%d@example.org" % k for k in range(PARALLEL)]
    cpu0 = B.tree_cpu(side.pid)

    def fn(u):
        for _ in range(DOWNLOADS):
            download(side.port, u, N_MSGS)
    dt = clients(fn, who)
    cpu = B.tree_cpu(side.pid) - cpu0
    n = DOWNLOADS * len(who) * N_MSGS
    return {"msg/s": n / dt, "us CPU/msg": cpu * 1e6 / n, "_cpu": cpu}


def run_big(side):
    cpu0 = B.tree_cpu(side.pid)
    t0 = time.time()
    for _ in range(3):
        list_session(side.port, "big@example.org", BIG)
    dt = (time.time() - t0) / 3
    cpu = B.tree_cpu(side.pid) - cpu0
    return {"s/LIST": dt, "ms CPU/LIST": cpu * 1e3 / 3, "_cpu": cpu}


def session_memory(side, tls):
    """MEM_SESSIONS sessions logged in and idle; PSS per session of the
    processes serving them (see the top of the file)."""
    port = side.tls_port if tls else side.port
    who = ["m%d@example.org" % k for k in range(MEM_SESSIONS)]
    conns = []
    try:
        for u in who:
            c = Conn(port, tls)
            c.login(u)
            c.s.sendall(b"STAT\r\n")
            c.f.readline()
            conns.append(c)
        time.sleep(0.5)
        procs = side.serving(port, who)
        total = sum(B.pss(p) for p in procs)
        kinds = {}
        for p in procs:
            k = side.kind(p)
            kinds.setdefault(k, []).append(B.pss(p))
        detail = "; ".join("%d %s, %.0f kB PSS each" %
                           (len(v), k, sum(v) / len(v))
                           for k, v in sorted(kinds.items()))
        per = total / len(who)
        print("  %s, %s: %.0f kB PSS per logged-in session (%s)" % (
            side.name, "TLS" if tls else "no TLS", per, detail))
        return per
    finally:
        for c in conns:
            try:
                c.s.sendall(b"QUIT\r\n")
            except OSError:
                pass
            c.close()


def mailbox_users():
    return (["m%d@example.org" % k for k in range(MEM_SESSIONS)] +
            ["d%d@example.org" % k for k in range(PARALLEL)] +
            ["big@example.org"])


class Chapar:
    name = "chapar"

    def __init__(self, big):
        self.port, self.tls_port = B.free_port(), B.free_port()
        self.inst = B.Instance()
        self.inst.ok("domain", "add", "example.org")
        for u in mailbox_users():
            self.inst.add_user(u, PASS)
        mbox = self.inst.path("bench.mbox")
        write_mbox(mbox, N_MSGS, 5120)
        for k in range(PARALLEL):
            self.inst.ok("import", "d%d@example.org" % k, mbox)
        write_mbox(mbox, SMALL, 5120)
        for k in range(MEM_SESSIONS):
            self.inst.ok("import", "m%d@example.org" % k, mbox)
        if big:
            write_mbox(mbox, big, 600)
            t0 = time.time()
            self.inst.ok("import", "big@example.org", mbox)
            print("chapar: %d messages imported in %.1f s" %
                  (big, time.time() - t0))
        os.unlink(mbox)
        # the same limits as Dovecot's: PARALLEL login processes kept
        # ready, a login process for 100 connections (Dovecot's login
        # processes serve without limit, its pop3 processes 100 sessions),
        # no per-address limits (Dovecot has none for logins)
        svc = """prefork = %d
max_use = 100
client_conn_limit = 0
client_rate_limit = 0
pop3_retr_seen = no
""" % PARALLEL
        self.inst.add_conf("[pop3]\nlisten = 127.0.0.1:%d\n"
                           "auth_allow_plaintext = yes\n%s\n"
                           "[pop3s]\nlisten_tls = 127.0.0.1:%d\n%s" %
                           (self.port, svc, self.tls_port, svc))
        self.inst.start_chapard()
        B.wait_for(lambda: self.inst.service("pop3") is not None and
                   self.inst.idle("pop3") >= PARALLEL and
                   self.inst.idle("pop3s") >= PARALLEL, 30,
                   "pop3 workers")
        self.pid = B.chapard_pid(self.inst)

    def serving(self, port, who):
        """Session processes are chrooted into their user's directory;
        login workers hold the client's connection (with TLS)."""
        dirs = [self.inst.path("mail", u.split("@")[1], u.split("@")[0])
                for u in who]
        out = set(B.holders(self.pid, port))
        for p in B.descendants(self.pid):
            if B.proc_root(p) in dirs:
                out.add(p)
        return out

    def kind(self, p):
        return ("session processes" if B.proc_root(p).startswith(
            self.inst.path("mail")) else "login workers")

    def config(self):
        return B.chapar_conf(self.inst)

    def stop(self):
        self.inst.stop_all()

    def remove(self):
        B.rmtree(self.inst.dir)


class Dovecot:
    """A private Dovecot configured as its performance tuning page
    advises: login processes in high-performance mode (service_count = 0,
    process_min_avail), pop3 processes reused (service_count = 100), the
    auth cache on and hashes checked in auth workers, no flag updates by
    POP3 (pop3_no_flag_updates)."""
    name = "dovecot"

    def __init__(self, big, hashes, cert, key):
        self.port, self.tls_port = B.free_port(), B.free_port()
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        body = """protocols = pop3
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain
auth_cache_size = 10M
auth_cache_verify_password_with_worker = yes
mail_location = maildir:~/Maildir
mail_fsync = always
pop3_no_flag_updates = yes
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%%u {d}/passwd
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(gid)d home={d}/home/%%u
}
service pop3-login {
  service_count = 0
  process_min_avail = %(n)d
  inet_listener pop3 {
    address = 127.0.0.1
    port = %(port)d
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = %(tls)d
    ssl = yes
  }
}
service pop3 {
  service_count = 100
}
""" % {"uid": self.uid, "gid": self.gid, "n": PARALLEL, "port": self.port,
       "tls": self.tls_port}
        self.d = None
        passwd = "".join("%s:{CRYPT}%s\n" % (u, hashes[u])
                         for u in mailbox_users())
        # the mailboxes first, then Dovecot
        import tempfile
        home = tempfile.mkdtemp(prefix="chapar-bench-dovecot-home-")
        os.chmod(home, 0o755)
        self.home = home
        for k in range(PARALLEL):
            write_maildir(self.maildir("d%d@example.org" % k), N_MSGS,
                          5120, self.uid, self.gid)
        for k in range(MEM_SESSIONS):
            write_maildir(self.maildir("m%d@example.org" % k), SMALL,
                          5120, self.uid, self.gid)
        if big:
            t0 = time.time()
            write_maildir(self.maildir("big@example.org"), big, 600,
                          self.uid, self.gid)
            print("dovecot: %d messages written in %.1f s" %
                  (big, time.time() - t0))
        self.d = B.Dovecot(body.replace("{d}/home", home),
                           port=self.port, name="chapar-bench-pop3",
                           files={"passwd": passwd, "cert.pem": cert,
                                  "key.pem": key})
        os.chmod(self.d.path("key.pem"), 0o600)
        self.pid = self.d.pid

    def maildir(self, user):
        return os.path.join(self.home, user, "Maildir")

    def serving(self, port, who):
        """pop3 processes with a session's mailbox open; login processes
        that hold the clients' connections."""
        homes = [os.path.join(self.home, u) + "/" for u in who]
        out = set(B.holders(self.pid, port))
        for p in B.descendants(self.pid):
            if B.comm(p) == "pop3" and any(
                    x.startswith(h) for x in B.open_paths(p) for h in homes):
                out.add(p)
        return out

    def kind(self, p):
        return B.comm(p) + " processes"

    def config(self):
        return self.d.config()

    def stop(self):
        if self.d:
            self.d.stop()

    def remove(self):
        if self.d:
            self.d.remove()
        B.rmtree(self.home)


def warm(side, big):
    """One session on every mailbox (Dovecot builds its indexes), then
    more than 2 s for the mailboxes not to look freshly changed."""
    for k in range(MEM_SESSIONS):
        check_session(side.port, "m%d@example.org" % k)
    for k in range(PARALLEL):
        download(side.port, "d%d@example.org" % k, N_MSGS)
    if big:
        list_session(side.port, "big@example.org", big)
    time.sleep(2.5)


def main():
    global N_MSGS, SESSIONS, BIG
    ap = B.parser(__doc__)
    ap.add_argument("--big", type=int, default=BIG,
                    help="messages in the big mailbox (0: no LIST timing)")
    args = ap.parse_args()
    B.setup(args)
    if args.quick:
        N_MSGS, SESSIONS = 200, 10
        args.big = min(args.big, 2000)
    BIG = args.big
    peer = B.have_dovecot("pop3", "pop3-login")
    if not peer:
        B.peer_missing("dovecot pop3", "dovecot-pop3d (and run as root)")
    ours = Chapar(BIG)
    theirs = None
    if peer:
        with open(ours.inst.path("tls", "cert.pem")) as f:
            cert = f.read()
        with open(ours.inst.path("tls", "key.pem")) as f:
            key = f.read()
        theirs = Dovecot(BIG, B.chapar_hashes(ours.inst), cert, key)
    sides = [s for s in (ours, theirs) if s]
    mem = {}
    try:
        B.show_config("chapar (chapar.conf)", ours.config())
        if theirs:
            B.show_config("dovecot (doveconf -n)", theirs.config())
            print("both check the same yescrypt hashes (Chapar's, copied "
                  "into Dovecot's passwd-file); Dovecot caches auth "
                  "look-ups (auth_cache_size), Chapar's authd has no "
                  "cache")
        for s in sides:
            warm(s, BIG)
        sess = B.interleave(
            "POP3 session rate (%d clients, USER/PASS STAT UIDL QUIT on "
            "%d messages)" % (PARALLEL, SMALL), "chapar",
            lambda i: run_sessions(ours), "dovecot",
            (lambda i: run_sessions(theirs)) if theirs else None,
            args.pairs,
            [B.Metric("sessions/s", "%.1f", "sessions/s"),
             B.Metric("ms CPU/session", "%.2f", "ms CPU/session",
                      higher=False)])
        dl = B.interleave(
            "POP3 download (%d clients, LIST + RETR of %d x 5 kB + QUIT, "
            "%d times each)" % (PARALLEL, N_MSGS, DOWNLOADS), "chapar",
            lambda i: run_download(ours), "dovecot",
            (lambda i: run_download(theirs)) if theirs else None,
            args.pairs,
            [B.Metric("msg/s", unit="msg/s"),
             B.Metric("us CPU/msg", unit="us CPU/msg", higher=False)])
        big = None
        if BIG:
            big = B.interleave(
                "POP3 log in + LIST + QUIT on %d messages (secondary)" % BIG,
                "chapar", lambda i: run_big(ours), "dovecot",
                (lambda i: run_big(theirs)) if theirs else None,
                args.pairs,
                [B.Metric("s/LIST", "%.3f", "s", higher=False),
                 B.Metric("ms CPU/LIST", "%.0f", "ms CPU", higher=False)])
        print("memory of a logged-in POP3 session (%d at once, idle after "
              "STAT):" % MEM_SESSIONS)
        for tls in (False, True):
            for s in sides:
                mem[(s.name, tls)] = session_memory(s, tls)
    finally:
        for s in sides:
            s.stop()
    for s in sides:
        s.remove()

    B.ratio_goal("POP3 >= 2x Dovecot's session rate",
                 sess.ratio("sessions/s"), 2)
    B.ratio_goal("POP3 >= 2x Dovecot's messages per second",
                 dl.ratio("msg/s"), 2)
    for tls in (False, True):
        what = "with TLS" if tls else "without TLS"
        ours_kb = mem[("chapar", tls)]
        peer_kb = mem.get(("dovecot", tls))
        B.goal("a logged-in POP3 session <= 300 kB PSS, " + what,
               ours_kb <= 300, "%.0f kB%s" % (
                   ours_kb, "; dovecot %.0f kB, %.2fx" % (
                       peer_kb, ours_kb / peer_kb) if peer_kb else ""))
    if sess.ratio("ms CPU/session") is not None:
        print("POP3 CPU: chapar/dovecot %.2f x per session, %.2f x per "
              "message" % (sess.ratio("ms CPU/session"),
                           dl.ratio("us CPU/msg")))
    if big is not None and big.ratio("s/LIST") is not None:
        print("LIST of %d messages: chapar/dovecot %.2f x the time" %
              (BIG, big.ratio("s/LIST")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
