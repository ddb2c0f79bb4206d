#!/usr/bin/env python3
"""Benchmark: the queue into local mailboxes, Chapar's qmgr + local vs
Postfix's qmgr + virtual(8).

5,000 messages of 5 kB for 10 local users (fresh mailboxes every run)
are put into the queue with nothing delivering (Chapar: its qmgr stopped
with SIGSTOP, enqueue's wake-ups waiting in the FIFO; Postfix: every
message held), the disk is let settle, and then the queue is let go
(Chapar: SIGCONT to qmgr; Postfix: postsuper -H ALL just before the
clock, postqueue -f at its start).  The clock stops when the last message file is in a mailbox;
the servers' CPU (their process trees, see benchlib) is taken once the
queue is empty.  Both fsync each delivered file; the same number of
deliveries at once on both sides (Chapar's local_process_limit and
[lmtp] max_procs; Postfix's virtual process limit and destination
concurrency).  Interleaved (A B B A ...).  Goal: at least Postfix's rate.

Bounded: fixed counts, a timeout on each wait; loopback only.
"""
import os
import re
import signal
import sys
import time

import benchlib as B

N_MSGS = 5000
N_USERS = 10
SIZE = 5120
DELIVERIES = 10
SESSIONS = 10           # smtp-source sessions that fill the queue
MAX_PROCS = 40


class ChaparQueue:
    """A Chapar whose queue is filled with delivery off, then let go."""
    name = "chapar"

    def __init__(self, users, conf=""):
        self.port = B.free_port()
        self.inst = B.Instance("local_process_limit = %d\n" % DELIVERIES +
                               conf)
        self.inst.ok("domain", "add", "example.org")
        for u in users:
            self.inst.add_user(u + "@example.org", "bench pw")
        self.inst.add_conf("""
[smtpd]
listen = 127.0.0.1:%d
prefork = %d
max_procs = %d
max_use = 100
idle_timeout = 300s
client_conn_limit = 0
client_rate_limit = 0

[lmtp]
listen = %s
prefork = %d
max_procs = %d
max_use = 100
idle_timeout = 300s
""" % (self.port, SESSIONS, MAX_PROCS, self.inst.path("run", "lmtp.sock"),
            DELIVERIES, DELIVERIES))
        self.inst.start_chapard()
        B.wait_for(lambda: self.inst.service("smtpd") is not None and
                   self.inst.idle("smtpd") >= SESSIONS, 30,
                   "smtpd workers")
        self.pid = B.chapard_pid(self.inst)
        B.wait_for(lambda: any(B.comm(p) == "qmgr"
                               for p in B.descendants(self.pid)), 30,
                   "qmgr")
        self.hold()

    def qmgr(self):
        pids = [p for p in B.descendants(self.pid) if B.comm(p) == "qmgr"]
        if len(pids) != 1:
            raise RuntimeError("chapar: %d qmgr processes" % len(pids))
        return pids[0]

    def hold(self):
        """qmgr stopped (SIGSTOP): enqueue takes messages and wakes it
        through its FIFO, and nothing is delivered until it goes on."""
        os.kill(self.qmgr(), signal.SIGSTOP)

    def release(self):
        os.kill(self.qmgr(), signal.SIGCONT)

    def mailbox(self, user):
        return self.inst.path("mail", "example.org", user)

    def messages(self):
        return B.count(self.inst.path("queue", "mess"))

    def queued(self):
        return sum(B.count(self.inst.path("queue", d))
                   for d in ("todo", "info", "mess"))

    def sent(self):
        """Deliveries logged as sent so far."""
        return len(re.findall(r"qmgr\[\d+\]: .*status=sent",
                              self.inst.log("chapard")))

    def config(self):
        return B.chapar_conf(self.inst)

    def stop(self):
        for p in B.descendants(self.pid):   # a stopped qmgr cannot stop
            if B.comm(p) == "qmgr":
                os.kill(p, signal.SIGCONT)
        self.inst.stop_all()

    def remove(self):
        B.rmtree(self.inst.dir)


class PostfixQueue:
    """A Postfix that holds what it receives; released and flushed."""
    name = "postfix"

    def __init__(self, **kw):
        """kw: for benchlib.Postfix (main, fields, ...), with HOLD."""
        self.port = B.free_port()
        self.pf = B.Postfix(self.port, **kw)
        self.pid = self.pf.pid

    def release(self):
        self.pf.flush()

    def hold(self):
        pass                # what arrives is held anyway (HOLD)

    def mailbox(self, user):
        return self.pf.mailbox(user)

    def messages(self):
        return self.pf.queued()

    queued = messages

    def sent(self):
        return len(re.findall(r"postfix/(?:virtual|smtp)\[\d+\]: .*"
                              r"status=sent", self.pf.log()))

    def prepare(self):
        """Out of hold just before the clock starts: Chapar's messages
        wait in todo/, Postfix's in deferred/ (its qmgr looks there when
        flushed)."""
        self.pf.release()

    def config(self):
        return self.pf.config()

    def stop(self):
        self.pf.stop()

    def remove(self):
        self.pf.remove()


def drain(side, fill, n, boxes=()):
    """fill() puts n messages into side's queue; then the disk pause,
    and the queue let go.  The clock stops when the mailboxes in boxes
    hold n messages (or, without boxes, when the queue is empty)."""
    sent0 = side.sent()
    q0 = side.messages()
    fill()
    B.wait_progress(lambda: side.messages() - q0, n,
                    "%s: messages queued" % side.name)
    if side.messages() - q0 != n:
        raise RuntimeError("%s: %d queued, not %d" %
                           (side.name, side.messages() - q0, n))
    B.pause_disk()
    if hasattr(side, "prepare"):
        side.prepare()
    cpu0 = B.tree_cpu(side.pid)
    busy0, own0 = B.machine_busy(), B.own_cpu()
    t0 = time.time()
    side.release()
    if boxes:
        t1 = B.wait_progress(lambda: sum(B.maildir_count(b)
                                         for b in boxes), n,
                             "%s: the deliveries" % side.name)
    t_q = B.wait_progress(lambda: n - side.queued(), n,
                          "%s: an empty queue" % side.name, step=0.05)
    if not boxes:
        t1 = t_q
    cpu = B.tree_cpu(side.pid) - cpu0
    others = B.machine_busy() - busy0 - (B.own_cpu() - own0) - cpu
    side.hold()
    B.note_delete()         # the queue files the server removed
    got = side.sent() - sent0
    if got != n:
        raise RuntimeError("%s: %d deliveries logged as sent, not %d" %
                           (side.name, got, n))
    if boxes and sum(B.maildir_count(b) for b in boxes) != n:
        raise RuntimeError("%s: more than %d messages delivered" %
                           (side.name, n))
    return {"msg/s": n / (t1 - t0), "us CPU/msg": cpu * 1e6 / n,
            "_cpu": cpu, "_others": others}


def local_run(side, tag, n):
    users = ["%s%d" % (tag, k) for k in range(N_USERS)]
    rcpts = [u + "@example.org" for u in users]
    return drain(side, lambda: B.smtp_source(side.port, n, rcpts, SESSIONS,
                                             SIZE),
                 (n // N_USERS) * N_USERS,
                 [side.mailbox(u) for u in users])


def main():
    ap = B.parser(__doc__)
    args = ap.parse_args()
    B.setup(args)
    global N_MSGS
    if args.quick:
        N_MSGS = 500
    if not os.path.exists(B.SOURCE):
        B.peer_missing("smtp-source", "postfix")
        print("smtp-source fills the queues: nothing measured")
        return 0
    peer = B.have_postfix()
    if not peer:
        B.peer_missing("postfix", "postfix (and run as root)")
    print("%d messages of %d bytes for %d users in the queue, let go; %d "
          "deliveries at once on both sides" % (N_MSGS, SIZE, N_USERS,
                                                DELIVERIES))
    tags = ["w"] + ["r%d" % i for i in range(args.pairs)]
    users = ["%s%d" % (t, k) for t in tags for k in range(N_USERS)]
    ours = ChaparQueue(users)
    theirs = PostfixQueue(**B.postfix_virtual(
        users, MAX_PROCS, DELIVERIES, hold=True)) if peer else None
    sides = [s for s in (ours, theirs) if s]
    try:
        B.show_config("chapar (chapar.conf; qmgr is stopped with SIGSTOP "
                      "while the queue fills, then SIGCONT)", ours.config())
        if theirs:
            B.show_config("postfix (held messages released with postsuper "
                          "-H ALL, then postqueue -f)", theirs.config())
        for s in sides:
            B.pause_disk(quiet=True)
            local_run(s, "w", N_USERS * 20)
        res = B.interleave(
            "the queue into local mailboxes", "chapar",
            lambda i: local_run(ours, "r%d" % i, N_MSGS), "postfix",
            (lambda i: local_run(theirs, "r%d" % i, N_MSGS))
            if theirs else None, args.pairs,
            [B.Metric("msg/s", unit="msg/s"),
             B.Metric("us CPU/msg", unit="us CPU/msg", higher=False)])
    finally:
        for s in sides:
            s.stop()
    for s in sides:
        s.remove()
    B.ratio_goal("queue into local mailboxes >= Postfix's rate",
                 res.ratio("msg/s"), 1)
    if res.ratio("us CPU/msg") is not None:
        print("CPU per message, chapar/postfix: %.2f" %
              res.ratio("us CPU/msg"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
