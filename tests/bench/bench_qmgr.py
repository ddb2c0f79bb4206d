#!/usr/bin/env python3
"""Benchmark: the queue into local mailboxes.

5,000 messages of 5 kB for 10 local users wait in the queue; the queue
manager is let go and the time until the queue is empty is measured,
with the server's CPU (the machine's busy time less this script's).
Chapar delivers through its LMTP agent (fsync before each reply), once
with local_process_limit = 1 (one delivery at a time) and once with the
default 10.  The same with a private Postfix instance delivering to a
Maildir with virtual(8) (one for all: a static map; messages held while
injected, then released), and the ratio printed (goal: at least
Postfix's rate).

Bounded: fixed counts, a timeout on each wait; loopback only.
"""
import argparse
import os
import pwd
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integ"))
import chapartest  # noqa: E402
from chapartest import Instance, free_port, wait_for  # noqa: E402
from bench_smtpd import Postfix, count, settle  # noqa: E402
import bench_remote  # noqa: E402

N_USERS = 10
bench_remote.N_MSGS = N_MSGS = 5000


class NoSink:
    """measure() subtracts a receiver's CPU; here there is none."""
    def cpu(self):
        return 0.0


def inject(port):
    """N_MSGS messages spread over the users, through smtp-source (one
    run per user, N_MSGS / N_USERS each)."""
    per = N_MSGS // N_USERS
    for u in range(N_USERS):
        r = subprocess.run([bench_remote.SOURCE, "-s", "10", "-l", "5120",
                            "-m", str(per), "-f", "bench@example.net",
                            "-t", "u%d@example.org" % u, "-M",
                            "bench.example.net", "-d",
                            "127.0.0.1:%d" % port],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("smtp-source: %s" % r.stderr.strip())


def chapar(limit):
    port = free_port()
    inst = Instance("queue_delivery = no\nlocal_process_limit = %d\n" %
                    limit)
    try:
        inst.ok("domain", "add", "example.org")
        for u in range(N_USERS):
            inst.add_user("u%d@example.org" % u)
        inst.add_conf("""
[smtpd]
listen = 127.0.0.1:%d
prefork = 10
max_use = 100000
client_conn_limit = 0
client_rate_limit = 0

[lmtp]
listen = %s
prefork = %d
max_use = 100000
""" % (port, inst.path("run", "lmtp.sock"), limit))
        inst.start_chapard()
        wait_for(lambda: inst.service("smtpd") is not None and
                 inst.idle("smtpd") >= 10, 30, "smtpd workers")
        inject(port)
        inst.stop("chapard")
        with open(inst.path("chapar.conf")) as f:
            text = f.read()
        with open(inst.path("chapar.conf"), "w") as f:
            f.write(text.replace("queue_delivery = no\n", ""))
        os.sync()

        def left():
            return count(inst.path("queue", "mess"))
        r = bench_remote.measure(NoSink(), inst.start_chapard, left,
                                 "chapar, local_process_limit = %d" % limit)
        got = sum(count(inst.path("mail", "example.org", "u%d" % u, "cur"))
                  for u in range(N_USERS))
        if got != N_MSGS:
            raise RuntimeError("chapar: %d messages in the mailboxes" % got)
        return r
    finally:
        inst.stop_all()
        shutil.rmtree(inst.dir, ignore_errors=True)


def postfix():
    pport = free_port()
    pw = pwd.getpwnam("postfix")
    p = Postfix(pport, extra="""mydestination =
virtual_mailbox_domains = example.org
virtual_mailbox_base = {base}
virtual_mailbox_maps = static:all/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
""".format(base="/tmp/chapar-bench-vmail", uid=pw.pw_uid, gid=pw.pw_gid))
    shutil.rmtree("/tmp/chapar-bench-vmail", ignore_errors=True)
    os.makedirs("/tmp/chapar-bench-vmail")
    os.chown("/tmp/chapar-bench-vmail", pw.pw_uid, pw.pw_gid)
    try:
        inject(pport)
        held = count(os.path.join(p.dir, "queue", "hold"))
        if held != N_MSGS:
            raise RuntimeError("postfix: %d messages held" % held)
        subprocess.run(["postsuper", "-c", p.dir, "-H", "ALL"],
                       capture_output=True, timeout=120, check=True)
        os.sync()

        def start():
            subprocess.run(["postqueue", "-c", p.dir, "-f"],
                           capture_output=True, timeout=60, check=True)

        def left():
            return sum(count(os.path.join(p.dir, "queue", q))
                       for q in ("hold", "incoming", "active", "deferred"))
        return bench_remote.measure(NoSink(), start, left, "postfix virtual")
    finally:
        p.stop()
        shutil.rmtree("/tmp/chapar-bench-vmail", ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    chapartest.BUILD = os.path.abspath(args.build)
    if not os.path.exists(bench_remote.SOURCE):
        print("smtp-source not installed (apt-get install postfix): "
              "nothing measured")
        return 0
    settle()
    one = chapar(1)
    settle()
    ten = chapar(10)
    print("local_process_limit 10 / 1: %.2f x the rate" % (ten[0] / one[0]))
    if os.geteuid() != 0 or shutil.which("postfix") is None:
        print("postfix: needs root and the postfix package; no comparison")
        return 0
    settle()
    theirs = postfix()
    print("ratio chapar/postfix: %.2f x the rate (goal >= 1), %.2f x the "
          "CPU per message" % (ten[0] / theirs[0], ten[1] / theirs[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
