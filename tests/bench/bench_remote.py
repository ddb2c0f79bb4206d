#!/usr/bin/env python3
"""Benchmark: delivering the queue to another server.

10,000 messages of 5 kB wait in the queue, all for one remote domain; the
queue manager is let go and the time until the queue is empty is
measured, with the CPU the server spent (the machine's busy time less
smtp-sink's own).  The receiver is Postfix's smtp-sink on loopback (it
answers everything with 2xx, PIPELINING offered, no TLS).  The same is
done with a private Postfix instance (relayhost = the sink; messages
held while they are injected, then released), and the ratio printed
(goal: at least Postfix's rate, with fewer CPU-seconds per message).
Both sides: 20 deliveries at once to the destination, connections kept
and reused.

Bounded: fixed counts, a timeout on each wait; loopback only.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integ"))
import chapartest  # noqa: E402
from chapartest import Instance, free_port, wait_for  # noqa: E402
from bench_smtpd import Postfix, busy_seconds, count, settle  # noqa: E402

N_MSGS = 10000
SESSIONS = 20
SIZE = 5120
SOURCE = "/usr/sbin/smtp-source"
SINK = "/usr/sbin/smtp-sink"
CONCURRENCY = 20


def inject(port):
    """N_MSGS messages into the server at port, through smtp-source."""
    r = subprocess.run([SOURCE, "-s", str(SESSIONS), "-l", str(SIZE), "-m",
                        str(N_MSGS), "-f", "bench@example.org", "-t",
                        "someone@example.com", "-M", "bench.example.org",
                        "-d", "127.0.0.1:%d" % port],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("smtp-source: %s" % r.stderr.strip())


def proc_cpu(pid):
    """CPU seconds of one process (utime + stime, /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


class Sink:
    def __init__(self):
        self.port = free_port()
        self.p = subprocess.Popen([SINK, "-u", "nobody", "-m", "1000",
                                   "127.0.0.1:%d" % self.port, "1000"],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        import socket
        end = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         1).close()
                break
            except OSError:
                if time.time() > end:
                    raise RuntimeError("smtp-sink is not listening")
                time.sleep(0.1)

    def cpu(self):
        return proc_cpu(self.p.pid)

    def stop(self):
        self.p.terminate()
        self.p.wait(10)


def measure(sink, start, left, name):
    """Run start(), then wait for left() to reach 0; print and return
    (msg/s, us CPU/msg)."""
    busy0, sink0 = busy_seconds(), sink.cpu()
    t0 = time.time()
    start()
    end = t0 + 900
    while left() > 0:
        if time.time() > end:
            raise RuntimeError("%s: the queue did not empty in time" % name)
        time.sleep(0.05)
    dt = time.time() - t0
    server = max(0.0, busy_seconds() - busy0 - (sink.cpu() - sink0))
    rate, cpu = N_MSGS / dt, server * 1e6 / N_MSGS
    print("%s: %d x %d B: %.1f s, %.0f msg/s, %.0f us CPU/msg"
          % (name, N_MSGS, SIZE, dt, rate, cpu))
    return rate, cpu


def chapar(sink):
    port = free_port()
    conf = ("relayhost = [127.0.0.1]:%d\nremote_tls = none\n"
            "remote_destination_concurrency = %d\n" % (sink.port,
                                                        CONCURRENCY))
    inst = Instance("queue_delivery = no\n" + conf)
    try:
        inst.ok("domain", "add", "example.org")
        inst.add_user("bench@example.org")
        inst.add_conf("""
[smtpd]
listen = 127.0.0.1:%d
prefork = %d
max_procs = %d
max_use = 100000
client_conn_limit = 0
client_rate_limit = 0
relay_networks = 127.0.0.0/8
""" % (port, SESSIONS, 2 * SESSIONS))
        inst.start_chapard()
        wait_for(lambda: inst.service("smtpd") is not None and
                 inst.idle("smtpd") >= SESSIONS, 30, "smtpd workers")
        inject(port)
        inst.stop("chapard")
        n = count(inst.path("queue", "todo"))
        if n != N_MSGS:
            raise RuntimeError("chapar: %d messages queued, not %d" %
                               (n, N_MSGS))
        with open(inst.path("chapar.conf")) as f:
            text = f.read()
        with open(inst.path("chapar.conf"), "w") as f:
            f.write(text.replace("queue_delivery = no\n", ""))

        def left():
            return count(inst.path("queue", "mess"))
        return measure(sink, inst.start_chapard, left, "chapar")
    finally:
        inst.stop_all()
        shutil.rmtree(inst.dir, ignore_errors=True)


def postfix(sink):
    pport = free_port()
    p = Postfix(pport, extra="""relayhost = [127.0.0.1]:%d
mydestination =
smtp_tls_security_level = none
default_destination_concurrency_limit = %d
smtp_destination_concurrency_limit = %d
""" % (sink.port, CONCURRENCY, CONCURRENCY))
    try:
        inject(pport)
        held = count(os.path.join(p.dir, "queue", "hold"))
        if held != N_MSGS:
            raise RuntimeError("postfix: %d messages held, not %d" %
                               (held, N_MSGS))

        # out of hold into deferred before the clock starts (Postfix's
        # queue manager looks at deferred/ only every queue_run_delay,
        # 300 s, or when flushed)
        subprocess.run(["postsuper", "-c", p.dir, "-H", "ALL"],
                       capture_output=True, timeout=120, check=True)

        def start():
            subprocess.run(["postqueue", "-c", p.dir, "-f"],
                           capture_output=True, timeout=60, check=True)

        def left():
            return sum(count(os.path.join(p.dir, "queue", q))
                       for q in ("hold", "incoming", "active", "deferred"))
        return measure(sink, start, left, "postfix")
    finally:
        p.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    chapartest.BUILD = os.path.abspath(args.build)
    if not (os.path.exists(SOURCE) and os.path.exists(SINK)):
        print("smtp-source/smtp-sink not installed (apt-get install "
              "postfix): nothing measured")
        return 0
    sink = Sink()
    try:
        settle()
        ours = chapar(sink)
        if os.geteuid() != 0 or shutil.which("postfix") is None:
            print("postfix: needs root and the postfix package; no "
                  "comparison")
            return 0
        settle()
        theirs = postfix(sink)
        print("ratio chapar/postfix: %.2f x the rate (goal >= 1), "
              "%.2f x the CPU per message (goal < 1)" %
              (ours[0] / theirs[0], ours[1] / theirs[1]))
    finally:
        sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
