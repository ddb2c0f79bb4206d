#!/usr/bin/env python3
"""Benchmark: SMTP in and delivered into the mailboxes, Chapar vs Postfix.

The headline is end to end, the whole job a user waits for: smtp-source
(Debian's postfix package) sends 5,000 messages of 5 kB over 20 sessions
to 10 recipients (10 smtp-source processes of 2 sessions, one recipient
each, a fresh mailbox per recipient and run), and the clock stops when
the last message file is in a mailbox (files in cur/ and new/ of the
Maildirs).  Once with reused connections (smtp-source -d) and once with
one message per connection.

  Chapar:  smtpd -> enqueue -> qmgr -> local (LMTP) into its store
  Postfix: smtpd -> cleanup -> qmgr -> virtual(8) into a Maildir

Both durable: the queue file is fsync'd before the 250 (Chapar's enqueue:
fsync or syncfs, and the directories; Postfix's cleanup: fsync of the
file), and so is each delivered file before the delivery is reported
(Chapar's local: the file and cur/; Postfix's virtual: the file, not the
directory).  The same limits on both sides, printed with both
configurations.  Printed per run: msg/s end to end, the servers' CPU per
message from their process trees (see benchlib), and, as secondary
figures, the accept rate (until smtp-source has its last 250, while
delivery runs alongside).  Then a secondary queue-only run pair (no
delivery: Chapar's queue_delivery = no, Postfix's messages held), and the
PSS of an idle SMTP connection on both.

Bounded: fixed counts, a timeout on every wait; loopback only.
"""
import os
import socket
import sys
import time

import benchlib as B

N_MSGS = 5000
SESSIONS = 20
RCPTS = 10              # smtp-source processes, one recipient each
SIZE = 5120
MAX_PROCS = 40          # smtpd processes at most, both sides
DELIVERIES = 10         # deliveries into mailboxes at once, both sides
IDLE = 300              # seconds an idle process is kept, both sides
MAX_USE = 100           # connections a process serves, both sides


class Side:
    """What a run needs of a server: its port, its top process, the
    mailboxes of a recipient, its queue."""

    def e2e(self, tag, n, reuse):
        rcpts = ["%s%d@example.org" % (tag, k) for k in range(RCPTS)]
        boxes = [self.mailbox(r.split("@")[0]) for r in rcpts]
        cpu0 = B.tree_cpu(self.pid)
        t0 = time.time()
        t_acc = B.smtp_source(self.port, n, rcpts, SESSIONS, SIZE, reuse)
        want = (n // RCPTS) * RCPTS
        t_del = B.wait_progress(lambda: sum(B.maildir_count(b)
                                            for b in boxes), want,
                                "%s: the deliveries" % self.name)
        B.wait_until(lambda: self.queued() == 0, 120, "an empty queue",
                     step=0.1)
        cpu = B.tree_cpu(self.pid) - cpu0
        got = sum(B.maildir_count(b) for b in boxes)
        if got != want:
            raise RuntimeError("%s: %d messages delivered, not %d" %
                               (self.name, got, want))
        B.note_delete()         # the server emptied its queue
        return {"msg/s": want / (t_del - t0),
                "us CPU/msg": cpu * 1e6 / want,
                "accept msg/s": want / (t_acc - t0), "_cpu": cpu}

    def accept(self, tag, n, reuse):
        rcpts = ["%s%d@example.org" % (tag, k) for k in range(RCPTS)]
        want = (n // RCPTS) * RCPTS
        q0 = self.messages()
        cpu0 = B.tree_cpu(self.pid)
        t0 = time.time()
        t_acc = B.smtp_source(self.port, n, rcpts, SESSIONS, SIZE, reuse)
        cpu = B.tree_cpu(self.pid) - cpu0
        B.wait_progress(lambda: self.messages() - q0, want,
                        "%s: messages in the queue" % self.name)
        if self.messages() - q0 != want:
            raise RuntimeError("%s: %d messages queued, not %d" %
                               (self.name, self.messages() - q0, want))
        return {"msg/s": want / (t_acc - t0),
                "us CPU/msg": cpu * 1e6 / want, "_cpu": cpu}


class Chapar(Side):
    name = "chapar"

    def __init__(self, users, delivery=True):
        self.port = B.free_port()
        conf = "local_process_limit = %d\n" % DELIVERIES
        if not delivery:
            conf += "queue_delivery = no\n"
        self.inst = B.Instance(conf)
        self.inst.ok("domain", "add", "example.org")
        for u in users:
            self.inst.add_user(u + "@example.org", "bench pw")
        self.inst.add_conf("""
[smtpd]
listen = 127.0.0.1:%d
prefork = %d
max_procs = %d
max_use = %d
idle_timeout = %ds
client_conn_limit = 0
client_rate_limit = 0

[lmtp]
listen = %s
prefork = %d
max_procs = %d
max_use = %d
idle_timeout = %ds
""" % (self.port, SESSIONS, MAX_PROCS, MAX_USE, IDLE,
            self.inst.path("run", "lmtp.sock"), DELIVERIES, DELIVERIES,
            MAX_USE, IDLE))
        self.inst.start_chapard()
        B.wait_for(lambda: self.inst.service("smtpd") is not None and
                   self.inst.idle("smtpd") >= SESSIONS, 30,
                   "smtpd workers")
        self.pid = B.chapard_pid(self.inst)

    def mailbox(self, user):
        return self.inst.path("mail", "example.org", user)

    def queued(self):
        return sum(B.count(self.inst.path("queue", d))
                   for d in ("todo", "info", "mess"))

    def messages(self):
        return B.count(self.inst.path("queue", "mess"))

    def config(self):
        return B.chapar_conf(self.inst)

    def stop(self):
        self.inst.stop_all()

    def remove(self):
        B.rmtree(self.inst.dir)


class Postfix(Side):
    name = "postfix"

    def __init__(self, users, delivery=True):
        self.port = B.free_port()
        self.pf = B.Postfix(self.port, **B.postfix_virtual(
            users, MAX_PROCS, DELIVERIES, MAX_USE, IDLE, hold=not delivery))
        self.pid = self.pf.pid

    def mailbox(self, user):
        return self.pf.mailbox(user)

    def queued(self):
        return self.pf.queued()

    messages = queued

    def config(self):
        return self.pf.config()

    def stop(self):
        self.pf.stop()

    def remove(self):
        self.pf.remove()


def idle_pss(side):
    """PSS of an idle SMTP connection: SESSIONS connections, each greeted
    and past EHLO, then the processes that hold them (the server end of
    the TCP connection) summed and divided by the connections."""
    conns = []
    try:
        for _ in range(SESSIONS):
            s = socket.create_connection(("127.0.0.1", side.port), 10)
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"EHLO bench.example.net\r\n")
            while True:
                line = f.readline()
                if not line or line[3:4] != b"-":
                    break
            conns.append((s, f))
        time.sleep(0.5)
        held = B.holders(side.pid, side.port)
        total = sum(B.pss(p) for p in held)
        n = sum(held.values())
        names = sorted(set(B.comm(p) for p in held))
        print("  %s: %d idle connections held by %d processes (%s): "
              "%.0f kB PSS per connection (whole server %.0f kB PSS)" % (
                  side.name, n, len(held), " ".join(names),
                  total / max(n, 1), B.tree_pss(side.pid)))
        return total / max(n, 1)
    finally:
        for s, f in conns:
            try:
                s.sendall(b"QUIT\r\n")
                f.close()
                s.close()
            except OSError:
                pass


def main():
    ap = B.parser(__doc__)
    ap.add_argument("--no-queue-only", action="store_true",
                    help="skip the secondary queue-only runs")
    args = ap.parse_args()
    B.setup(args)
    global N_MSGS
    if args.quick:
        N_MSGS = 500
    if not os.path.exists(B.SOURCE):
        B.peer_missing("smtp-source", "postfix")
        print("smtp-source is the client: nothing measured")
        return 0
    peer = B.have_postfix()
    if not peer:
        B.peer_missing("postfix", "postfix (and run as root)")
    print("%d messages of %d bytes, %d sessions, %d recipients (a fresh "
          "mailbox each per run), end to end" %
          (N_MSGS, SIZE, SESSIONS, RCPTS))
    print("durable on both sides: the queue file fsync'd before the 250, "
          "each delivered file fsync'd before the delivery is reported "
          "(Chapar also fsyncs the directories; Postfix does not)")
    print("Postfix keeps its default in_flow_delay = 1s: its smtpd slows "
          "down when mail arrives faster than it is delivered")
    modes = ((True, "reused connections"), (False, "a connection per "
                                                   "message"))
    tags = ["w"] + ["%s%d" % (m, i) for m in "rn"
                    for i in range(args.pairs)]
    users = ["%s%d" % (t, k) for t in tags for k in range(RCPTS)]
    res = {}
    mem = {}
    ours = Chapar(users)
    theirs = Postfix(users) if peer else None
    sides = [s for s in (ours, theirs) if s]
    try:
        B.show_config("chapar (chapar.conf)", ours.config())
        if theirs:
            B.show_config("postfix", theirs.config())
        for s in sides:     # warm-up: processes started, caches filled
            B.pause_disk(quiet=True)
            s.e2e("w", 400, True)
        for reuse, what in modes:
            tag = "r" if reuse else "n"
            res[reuse] = B.interleave(
                "SMTP end to end, " + what, "chapar",
                lambda i: ours.e2e("%s%d" % (tag, i), N_MSGS, reuse),
                "postfix",
                (lambda i: theirs.e2e("%s%d" % (tag, i), N_MSGS, reuse))
                if theirs else None,
                args.pairs,
                [B.Metric("msg/s", unit="msg/s"),
                 B.Metric("us CPU/msg", unit="us CPU/msg", higher=False),
                 B.Metric("accept msg/s", unit="msg/s accepted")])
        print("PSS of an idle SMTP connection (after EHLO):")
        for s in sides:
            mem[s.name] = idle_pss(s)
    finally:
        for s in sides:
            s.stop()

    qres = None
    if not args.no_queue_only:
        # secondary: into the queue only, nothing delivered meanwhile
        qusers = ["q%d%d" % (i, k) for i in range(args.pairs)
                  for k in range(RCPTS)] + ["w%d" % k for k in range(RCPTS)]
        qours = Chapar(qusers, delivery=False)
        qtheirs = Postfix(qusers, delivery=False) if peer else None
        qsides = [s for s in (qours, qtheirs) if s]
        try:
            for s in qsides:
                B.pause_disk(quiet=True)
                s.accept("w", 400, True)
            qres = B.interleave(
                "SMTP into the queue only (secondary), reused connections",
                "chapar", lambda i: qours.accept("q%d" % i, N_MSGS, True),
                "postfix",
                (lambda i: qtheirs.accept("q%d" % i, N_MSGS, True))
                if qtheirs else None,
                args.pairs,
                [B.Metric("msg/s", unit="msg/s"),
                 B.Metric("us CPU/msg", unit="us CPU/msg", higher=False)])
        finally:
            for s in qsides:
                s.stop()
            for s in qsides:
                s.remove()
    for s in sides:
        s.remove()

    for reuse, what in modes:
        r = res[reuse]
        rate, cpu = r.ratio("msg/s"), r.ratio("us CPU/msg")
        if rate is None:
            B.goal("SMTP in and delivered >= 2x Postfix at <= its CPU per "
                   "message, " + what, None, "peer not installed")
        else:
            B.goal("SMTP in and delivered >= 2x Postfix at <= its CPU per "
                   "message, " + what, rate >= 2 and cpu <= 1,
                   "%.2fx the rate, %.2fx the CPU per message" % (rate,
                                                                  cpu))
    if qres is not None and qres.ratio("msg/s") is not None:
        print("queue only (secondary): chapar/postfix %s x the rate, %s x "
              "the CPU per message" % tuple(
                  "%.2f" % x if x is not None else "-"
                  for x in (qres.ratio("msg/s"), qres.ratio("us CPU/msg"))))
    if "postfix" in mem:
        print("idle SMTP connection: chapar %.0f kB PSS, postfix %.0f kB "
              "PSS: %.2fx" % (mem["chapar"], mem["postfix"],
                              mem["chapar"] / mem["postfix"]))
    else:
        print("idle SMTP connection: chapar %.0f kB PSS" % mem["chapar"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
