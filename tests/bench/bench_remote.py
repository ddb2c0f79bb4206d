#!/usr/bin/env python3
"""Benchmark: delivering the queue to another server, Chapar's qmgr +
remote vs Postfix's qmgr + smtp.

10,000 messages of 5 kB, all for one remote domain, are put into the
queue with nothing delivering (see bench_qmgr: Chapar's qmgr stopped,
Postfix's messages held), the disk is let settle, the queue is let go,
and the clock stops when the queue is empty.  The receiver is Postfix's
smtp-sink on loopback (it answers everything with 2xx, PIPELINING
offered, no TLS); its CPU is not counted, only the servers' process trees
(see benchlib); it shows in the "others" figure of each run.  Both sides: relayhost = the sink, at most 20 deliveries
at once to it, as many delivery processes at most, connections kept and
reused (Chapar's remote_connection_cache_time, Postfix's connection
cache on demand).  Interleaved (A B B A ...).  Goal: at least Postfix's
rate, with less CPU per message.

Bounded: fixed counts, a timeout on each wait; loopback only.
"""
import os
import socket
import subprocess
import sys
import time

import benchlib as B
from bench_qmgr import ChaparQueue, PostfixQueue, drain

N_MSGS = 10000
SIZE = 5120
SESSIONS = 20
CONCURRENCY = 20


class Sink:
    def __init__(self):
        self.port = B.free_port()
        self.p = subprocess.Popen([B.SINK, "-u", "nobody", "-m", "1000",
                                   "127.0.0.1:%d" % self.port, "1000"],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        end = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         1).close()
                break
            except OSError:
                if time.time() > end or self.p.poll() is not None:
                    raise RuntimeError("smtp-sink is not listening")
                time.sleep(0.05)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def remote_run(side, n):
    return drain(side, lambda: B.smtp_source(
        side.port, n, ["someone@example.com"], SESSIONS, SIZE,
        sender="bench@example.org"), n)


def main():
    ap = B.parser(__doc__)
    args = ap.parse_args()
    B.setup(args)
    global N_MSGS
    if args.quick:
        N_MSGS = 1000
    if not (os.path.exists(B.SOURCE) and os.path.exists(B.SINK)):
        B.peer_missing("smtp-source/smtp-sink", "postfix")
        print("smtp-source and smtp-sink are the client and the receiver: "
              "nothing measured")
        return 0
    peer = B.have_postfix()
    if not peer:
        B.peer_missing("postfix", "postfix (and run as root)")
    sink = Sink()
    ours = theirs = None
    try:
        ours = ChaparQueue(["bench"], conf="""relayhost = [127.0.0.1]:%d
remote_tls = none
remote_process_limit = %d
remote_destination_concurrency = %d
""" % (sink.port, CONCURRENCY, CONCURRENCY))
        if peer:
            theirs = PostfixQueue(main="""relayhost = [127.0.0.1]:%d
mydestination =
smtp_tls_security_level = none
default_destination_concurrency_limit = %d
smtp_destination_concurrency_limit = %d
smtpd_client_restrictions = check_client_access static:HOLD
""" % (sink.port, CONCURRENCY, CONCURRENCY),
                fields=("smtp/unix/process_limit=%d" % CONCURRENCY,))
        sides = [s for s in (ours, theirs) if s]
        print("%d messages of %d bytes for one remote domain, relayed to "
              "smtp-sink; %d deliveries at once on both sides" %
              (N_MSGS, SIZE, CONCURRENCY))
        B.show_config("chapar (chapar.conf; qmgr is stopped with SIGSTOP "
                      "while the queue fills, then SIGCONT)", ours.config())
        if theirs:
            B.show_config("postfix (held messages released with postsuper "
                          "-H ALL, then postqueue -f)", theirs.config())
        for s in sides:
            B.pause_disk(quiet=True)
            remote_run(s, 200)
        res = B.interleave(
            "the queue to another server", "chapar",
            lambda i: remote_run(ours, N_MSGS), "postfix",
            (lambda i: remote_run(theirs, N_MSGS)) if theirs else None,
            args.pairs,
            [B.Metric("msg/s", unit="msg/s"),
             B.Metric("us CPU/msg", unit="us CPU/msg", higher=False)])
    finally:
        for s in (ours, theirs):
            if s:
                s.stop()
        sink.stop()
    for s in (ours, theirs):
        if s:
            s.remove()
    rate, cpu = res.ratio("msg/s"), res.ratio("us CPU/msg")
    if rate is None:
        B.goal("outbound >= Postfix's rate with less CPU per message",
               None, "peer not installed")
    else:
        B.goal("outbound >= Postfix's rate with less CPU per message",
               rate >= 1 and cpu < 1, "%.2fx the rate, %.2fx the CPU per "
               "message" % (rate, cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
