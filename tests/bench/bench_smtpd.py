#!/usr/bin/env python3
"""Benchmark: receiving SMTP into the queue.

smtp-source (from Debian's postfix package) sends 5,000 messages of 5 kB
over 20 sessions, once with connection reuse and once with a new
connection per message, to Chapar's smtpd (into enqueue: fsync before
250) and to a private Postfix instance on the same box (its own config,
queue and log; every message held, so neither side delivers while it
receives; Postfix fsyncs its queue files before 250 too).  Prints both
rates and the ratio (goal: Chapar >= 2x Postfix).

Bounded: fixed counts, a timeout on each run; loopback only.
"""
import argparse
import os
import pwd
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integ"))
import chapartest  # noqa: E402
from chapartest import Instance, free_port, wait_for  # noqa: E402

N_MSGS = 5000
SESSIONS = 20
SIZE = 5120
SOURCE = "/usr/sbin/smtp-source"


def source(port, reuse):
    cmd = [SOURCE, "-s", str(SESSIONS), "-l", str(SIZE), "-m", str(N_MSGS),
           "-f", "bench@example.net", "-t", "alice@example.org",
           "-M", "bench.example.net"]
    if reuse:
        cmd.append("-d")  # smtp-source: -d keeps the connection
    cmd.append("127.0.0.1:%d" % port)
    busy0, ru0 = busy_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    dt = time.time() - t0
    busy1, ru1 = busy_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError("smtp-source: %s" % r.stderr.strip())
    client = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    server = max(0.0, busy1 - busy0 - client)
    print("  (smtp-source itself: %.0f us CPU/msg; the machine %.0f%% busy)"
          % (client * 1e6 / N_MSGS, 100 * (busy1 - busy0) /
             (dt * os.cpu_count())))
    return N_MSGS / dt, dt, server * 1e6 / N_MSGS


def busy_seconds():
    """CPU seconds the whole machine has spent not idle (/proc/stat);
    less the client's own, this is the server's cost, whatever its
    processes are called."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def count(top):
    n = 0
    for _, _, files in os.walk(top):
        n += len(files)
    return n


class Postfix:
    def __init__(self, port, extra=""):
        self.dir = tempfile.mkdtemp(prefix="chapar-bench-postfix-")
        os.chmod(self.dir, 0o755)
        for d in ("queue", "data"):
            os.mkdir(os.path.join(self.dir, d))
        pw = pwd.getpwnam("postfix")
        os.chown(os.path.join(self.dir, "data"), pw.pw_uid, pw.pw_gid)
        with open("/etc/postfix/master.cf") as f:
            master = f.read()
        master = master.replace("\nsmtp      inet", "\n127.0.0.1:%d inet" %
                                port, 1)
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.write(master)
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            f.write("""compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = postfix.bench
mydestination = example.org
local_recipient_maps =
mynetworks = 127.0.0.0/8
smtpd_client_restrictions = check_client_access static:HOLD
""".format(d=self.dir) + extra)
        r = subprocess.run(["postfix", "-c", self.dir, "start"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("postfix did not start: %s" % r.stderr)
        import socket
        end = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.time() > end:
                    raise RuntimeError("postfix not listening")
                time.sleep(0.2)

    def stop(self):
        subprocess.run(["postfix", "-c", self.dir, "stop"],
                       capture_output=True, timeout=60)
        time.sleep(1)
        shutil.rmtree(self.dir, ignore_errors=True)


def settle():
    """Wait out recently deleted inodes.  ext4 without a journal skips
    inodes freed within dirty_expire_centisecs when it allocates, which
    makes file creation slow for a while after a big rm -r (a test run,
    a previous benchmark); both servers should start from the same
    quiet disk.  Nothing is deleted between the runs below."""
    try:
        with open("/proc/sys/vm/dirty_expire_centisecs") as f:
            wait = int(f.read()) / 100 + 2
    except (OSError, ValueError):
        wait = 32
    print("waiting %.0f s for the file system to settle" % wait)
    time.sleep(wait)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    chapartest.BUILD = os.path.abspath(args.build)
    if not os.path.exists(SOURCE):
        print("smtp-source not installed (apt-get install postfix): "
              "nothing measured")
        return 0
    settle()
    port = free_port()
    inst = Instance("queue_delivery = no\n")
    ours = {}
    try:
        inst.ok("domain", "add", "example.org")
        inst.add_user("alice@example.org")
        inst.add_conf("""
[smtpd]
listen = 127.0.0.1:%d
prefork = %d
max_procs = %d
max_use = 100000
client_conn_limit = 0
client_rate_limit = 0
""" % (port, SESSIONS, 2 * SESSIONS))
        inst.start_chapard()
        wait_for(lambda: inst.service("smtpd") is not None and
                 inst.idle("smtpd") >= SESSIONS, 30, "smtpd workers")
        for reuse in (True, False):
            rate, dt, cpu = source(port, reuse)
            ours[reuse] = rate
            print("chapar smtpd:  %d x %d B, %d sessions, %s: %.1f s, "
                  "%.0f msg/s, %.0f us CPU/msg" %
                  (N_MSGS, SIZE, SESSIONS, "reused connections" if reuse
                   else "a connection per message", dt, rate, cpu))
        print("chapar queue: %d messages in todo/" %
              count(inst.path("queue", "todo")))
    finally:
        inst.stop_all()
    try:
        return compare(ours)
    finally:
        shutil.rmtree(inst.dir, ignore_errors=True)


def compare(ours):
    if os.geteuid() != 0 or shutil.which("postfix") is None:
        print("postfix: needs root and the postfix package; no comparison")
        return 0
    pport = free_port()
    p = Postfix(pport)
    try:
        for reuse in (True, False):
            rate, dt, cpu = source(pport, reuse)
            print("postfix smtpd: %d x %d B, %d sessions, %s: %.1f s, "
                  "%.0f msg/s, %.0f us CPU/msg" %
                  (N_MSGS, SIZE, SESSIONS, "reused connections" if reuse
                   else "a connection per message", dt, rate, cpu))
            print("ratio chapar/postfix (%s): %.2f (goal >= 2)" %
                  ("reuse" if reuse else "new connections",
                   ours[reuse] / rate))
        print("postfix queue: %d messages held" %
              count(os.path.join(p.dir, "queue", "hold")))
    finally:
        p.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
