#!/usr/bin/env python3
"""Benchmark: chapard's preforked pools.

  - connections per second through chapard to preforked echod workers
    (connect, read the greeting, QUIT), one client and eight at once
  - memory of an idle worker: PSS, and the private part (what it does not
    share with its siblings) from /proc/PID/smaps_rollup

and, when Dovecot is installed, the same for a private Dovecot's
imap-login pool (connect, greeting, LOGOUT; idle imap-login memory), with
the ratios.  Goal: an idle worker <= 150 kB private.  Bounded: fixed
counts, timeouts on every socket; loopback only.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integ"))
import chapartest  # noqa: E402
from chapartest import chapard_instance, free_port, wait_for  # noqa: E402

N_SEQ = 2000
N_PAR = 8
PER_PAR = 500


def rate(n, secs):
    return n / secs if secs > 0 else float("inf")


def conn_loop(port, n, bye):
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        f = s.makefile("rb")
        g = f.readline()
        assert g[:1] in (b"+", b"*"), g
        s.sendall(bye)
        f.readline()
        s.close()


def measure(port, bye):
    t0 = time.time()
    conn_loop(port, N_SEQ, bye)
    seq = rate(N_SEQ, time.time() - t0)
    ts = [threading.Thread(target=conn_loop, args=(port, PER_PAR, bye))
          for _ in range(N_PAR)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    par = rate(N_PAR * PER_PAR, time.time() - t0)
    return seq, par


def memory(pids):
    """Average (PSS, private) in kB over the processes."""
    tot_pss = tot_priv = n = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                v = {}
                for line in f:
                    k, _, rest = line.partition(":")
                    if rest.strip().endswith("kB"):
                        v[k] = int(rest.split()[0])
        except OSError:
            continue
        tot_pss += v.get("Pss", 0)
        tot_priv += v.get("Private_Clean", 0) + v.get("Private_Dirty", 0)
        n += 1
    return (tot_pss / n, tot_priv / n) if n else (0, 0)


def libs_private(pids):
    """Average private kB in the mappings of libcrypto and libssl."""
    tot = n = 0
    for pid in pids:
        name = ""
        try:
            with open("/proc/%d/smaps" % pid) as f:
                for line in f:
                    cols = line.split()
                    if "-" in cols[0] and len(cols) >= 5 and \
                            ":" in cols[3]:
                        name = cols[5] if len(cols) > 5 else ""
                    elif cols[0] in ("Private_Dirty:", "Private_Clean:") \
                            and ("libcrypto" in name or "libssl" in name):
                        tot += int(cols[1])
            n += 1
        except OSError:
            continue
    return tot / n if n else 0


def chapar_side():
    inst, port = chapard_instance(
        prefork=8, max_use=100000,
        services="max_procs = 64\nclient_conn_limit = 0\n"
        "client_rate_limit = 0")
    wait_for(lambda: inst.idle("echo") >= 8, 20, "eight idle workers")
    seq, par = measure(port, b"QUIT\r\n")
    time.sleep(1)
    pids = [w["pid"] for w in inst.service("echo")["workers"]
            if w["state"] == "idle"]
    pss, priv = memory(pids)
    # a fresh worker that has served nothing
    inst.ok("reload")
    wait_for(lambda: len([w for w in inst.service("echo")["workers"]
                          if w["state"] == "idle" and w["served"] == 0])
             >= 4, 20, "fresh workers")
    fresh = [w["pid"] for w in inst.service("echo")["workers"]
             if w["state"] == "idle" and w["served"] == 0]
    fpss, fpriv = memory(fresh)
    relo = libs_private(fresh)
    print("chapard+echod: fresh idle worker PSS %.0f kB, private %.0f kB, "
          "of which %.0f kB is the loader's relocation of libcrypto and "
          "libssl" % (fpss, fpriv, relo))
    print("chapard+echod: %7.0f conn/s (1 client), %7.0f conn/s (%d "
          "clients)" % (seq, par, N_PAR))
    print("chapard+echod: idle worker after %d TLS-less connections: PSS "
          "%.0f kB, private %.0f kB (goal <= 150 kB private)" % (
              N_SEQ + N_PAR * PER_PAR, pss, priv))
    return seq, par, priv


def dovecot_side():
    d = tempfile.mkdtemp(prefix="chapar-bench-dovecot-")
    os.chmod(d, 0o755)
    port = free_port()
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("""
base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
instance_name = chapar-bench-login
protocols = imap
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain
passdb {
  driver = static
  args = password=unused
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(p)d
  }
  inet_listener imaps {
    port = 0
  }
  process_min_avail = 8
  service_count = 0
  client_limit = 1000
}
""" % {"d": d, "p": port})
    os.mkdir(os.path.join(d, "run"))
    os.mkdir(os.path.join(d, "state"))
    p = subprocess.Popen(["dovecot", "-F", "-c", conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0,
                 20, "dovecot")
        seq, par = measure(port, b"a LOGOUT\r\n")
        time.sleep(1)
        out = subprocess.run(["pgrep", "-f", "imap-login"],
                             capture_output=True, text=True).stdout.split()
        mine = [int(x) for x in out
                if "chapar-bench-login" in open("/proc/%s/cmdline" % x,
                                                errors="replace").read() or
                True]
        pss, priv = memory(mine)
        print("dovecot imap-login: %7.0f conn/s (1 client), %7.0f conn/s "
              "(%d clients)" % (seq, par, N_PAR))
        print("dovecot imap-login: idle process PSS %.0f kB, private %.0f "
              "kB (%d processes)" % (pss, priv, len(mine)))
        return seq, par, priv
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    chapartest.BUILD = os.path.abspath(args.build)
    try:
        cs, cp, cm = chapar_side()
    finally:
        chapartest.finish()
        chapartest.cleanup_all(failed_now=False)
    if shutil.which("dovecot") is None:
        print("dovecot: not installed (apt-get install dovecot-imapd) - "
              "no comparison")
        return 0
    if not os.path.exists("/usr/lib/dovecot/imap-login"):
        print("dovecot: imap-login missing (apt-get install dovecot-imapd) "
              "- no comparison")
        return 0
    ds, dp, dm = dovecot_side()
    print("ratio chapar/dovecot: conn/s %.2f (1 client), %.2f (%d clients);"
          " idle private memory %.2f" % (cs / ds, cp / dp, N_PAR,
                                         cm / dm if dm else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
