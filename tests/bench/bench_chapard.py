#!/usr/bin/env python3
"""Benchmark: chapard's preforked pools vs Dovecot's login processes.

  - connections per second (connect, read the greeting, QUIT or LOGOUT),
    one client and eight at once: chapard handing connections to
    preforked echod workers, against a private Dovecot's imap-login pool
    in high-performance mode (service_count = 0, client_limit), with the
    same number of processes started beforehand (8) and the same process
    limit; interleaved (A B B A ...), with the servers' CPU per
    connection from their process trees (see benchlib);
  - memory per connection, not per process: 50 connections held open
    after the greeting, and the PSS (/proc/PID/smaps_rollup) of the
    processes holding them (the server end of each TCP connection),
    summed and divided by the connections; an echod worker holds one, an
    imap-login process many.  Also the growth of each server's whole
    tree (its total PSS with the connections less without) per
    connection;
  - (Chapar only) a fresh idle worker: PSS, private memory, and the part
    of it that is the loader's relocation of libcrypto and libssl.
Goal: an idle worker <= 150 kB private.

Bounded: fixed counts, timeouts on every socket; loopback only.
"""
import socket
import sys
import threading
import time

import benchlib as B

N_SEQ = 2000
N_PAR = 8
PER_PAR = 500
PREFORK = 8
MAX_PROCS = 64
HELD = 50


def conn_loop(port, n, bye):
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        f = s.makefile("rb")
        g = f.readline()
        if g[:1] not in (b"+", b"*"):
            raise RuntimeError("greeting %r" % g)
        s.sendall(bye)
        f.readline()
        f.close()
        s.close()


def run_seq(side):
    cpu0 = B.tree_cpu(side.pid)
    t0 = time.time()
    conn_loop(side.port, N_SEQ, side.bye)
    dt = time.time() - t0
    cpu = B.tree_cpu(side.pid) - cpu0
    return {"conn/s": N_SEQ / dt, "us CPU/conn": cpu * 1e6 / N_SEQ,
            "_cpu": cpu}


def run_par(side):
    errors = []

    def one():
        try:
            conn_loop(side.port, PER_PAR, side.bye)
        except Exception as e:      # reported below
            errors.append(e)
    ts = [threading.Thread(target=one) for _ in range(N_PAR)]
    cpu0 = B.tree_cpu(side.pid)
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    dt = time.time() - t0
    cpu = B.tree_cpu(side.pid) - cpu0
    if errors:
        raise RuntimeError(errors[0])
    n = N_PAR * PER_PAR
    return {"conn/s": n / dt, "us CPU/conn": cpu * 1e6 / n, "_cpu": cpu}


def held_memory(side):
    """HELD connections open after the greeting; PSS per connection of
    the processes holding them, and the tree's growth per connection."""
    time.sleep(1)
    before = B.tree_pss(side.pid)
    conns = []
    try:
        for _ in range(HELD):
            s = socket.create_connection(("127.0.0.1", side.port), 10)
            f = s.makefile("rb")
            f.readline()
            conns.append((s, f))
        time.sleep(1)
        held = B.holders(side.pid, side.port)
        n = sum(held.values())
        total = sum(B.pss(p) for p in held)
        after = B.tree_pss(side.pid)
        per = total / max(n, 1)
        print("  %s: %d connections held by %d %s processes: %.0f kB PSS "
              "per connection; whole server %d -> %d kB PSS, %.0f kB per "
              "connection" % (side.name, n, len(held),
                              "/".join(sorted(set(B.comm(p)
                                                  for p in held))),
                              per, before, after, (after - before) / HELD))
        return per, (after - before) / HELD
    finally:
        for s, f in conns:
            f.close()
            s.close()


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


def private(pid):
    v = B.smaps(pid)
    return v.get("Private_Clean", 0) + v.get("Private_Dirty", 0)


class Chapar:
    name = "chapard+echod"
    bye = b"QUIT\r\n"

    def __init__(self):
        self.inst, self.port = B.chapartest.chapard_instance(
            prefork=PREFORK, max_use=100000,
            services="max_procs = %d\nclient_conn_limit = 0\n"
            "client_rate_limit = 0" % MAX_PROCS)
        B.wait_for(lambda: self.inst.idle("echo") >= PREFORK, 20,
                   "idle workers")
        self.pid = B.chapard_pid(self.inst)

    def fresh_worker(self):
        """After a reload: workers that have served nothing."""
        self.inst.ok("reload")
        B.wait_for(lambda: len(self.fresh()) >= 4, 20, "fresh workers")
        pids = self.fresh()
        pss = sum(B.pss(p) for p in pids) / len(pids)
        priv = sum(private(p) for p in pids) / len(pids)
        relo = libs_private(pids)
        print("chapard+echod: fresh idle worker PSS %.0f kB, private %.0f "
              "kB, of which %.0f kB is the loader's relocation of "
              "libcrypto and libssl" % (pss, priv, relo))
        return priv

    def fresh(self):
        return [w["pid"] for w in self.inst.service("echo")["workers"]
                if w["state"] == "idle" and w["served"] == 0]

    def used_worker(self):
        pids = [w["pid"] for w in self.inst.service("echo")["workers"]
                if w["state"] == "idle"]
        pss = sum(B.pss(p) for p in pids) / len(pids)
        priv = sum(private(p) for p in pids) / len(pids)
        print("chapard+echod: idle worker after the runs: PSS %.0f kB, "
              "private %.0f kB" % (pss, priv))
        return priv

    def config(self):
        return B.chapar_conf(self.inst)

    def stop(self):
        self.inst.stop_all()

    def remove(self):
        B.rmtree(self.inst.dir)


class Dovecot:
    """imap-login in Dovecot's high-performance mode (its login process
    documentation): service_count = 0, client_limit, process_min_avail;
    as many processes started beforehand as Chapar's prefork, the same
    process limit as Chapar's max_procs."""
    name = "dovecot imap-login"
    bye = b"a LOGOUT\r\n"

    def __init__(self):
        self.port = B.free_port()
        self.d = B.Dovecot("""protocols = imap
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
    port = %d
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  client_limit = 1000
  process_min_avail = %d
  process_limit = %d
}
""" % (self.port, PREFORK, MAX_PROCS), port=self.port,
            name="chapar-bench-login")
        self.pid = self.d.pid
        B.wait_for(lambda: len(self.logins()) >= PREFORK, 20,
                   "imap-login processes")

    def logins(self):
        """imap-login processes of this Dovecot only (its master's
        tree), not any other Dovecot's on the machine."""
        return [p for p in B.descendants(self.pid)
                if B.comm(p) == "imap-login"]

    def config(self):
        return self.d.config()

    def stop(self):
        self.d.stop()

    def remove(self):
        self.d.remove()


def main():
    ap = B.parser(__doc__)
    args = ap.parse_args()
    B.setup(args)
    global N_SEQ, PER_PAR
    if args.quick:
        N_SEQ, PER_PAR = 200, 50
    peer = B.have_dovecot("imap-login", "imap")
    if not peer:
        B.peer_missing("dovecot imap-login", "dovecot-imapd (and run as "
                       "root)")
    ours = Chapar()
    theirs = Dovecot() if peer else None
    sides = [s for s in (ours, theirs) if s]
    mem = {}
    try:
        B.show_config("chapar (chapar.conf)", ours.config())
        if theirs:
            B.show_config("dovecot (doveconf -n)", theirs.config())
        fpriv = ours.fresh_worker()
        metrics = [B.Metric("conn/s", unit="conn/s"),
                   B.Metric("us CPU/conn", unit="us CPU/conn",
                            higher=False)]
        seq = B.interleave(
            "connections, 1 client", ours.name, lambda i: run_seq(ours),
            theirs.name if theirs else "",
            (lambda i: run_seq(theirs)) if theirs else None, args.pairs,
            metrics)
        par = B.interleave(
            "connections, %d clients at once" % N_PAR, ours.name,
            lambda i: run_par(ours), theirs.name if theirs else "",
            (lambda i: run_par(theirs)) if theirs else None, args.pairs,
            metrics)
        upriv = ours.used_worker()
        print("memory per connection, %d connections held open after the "
              "greeting:" % HELD)
        for s in sides:
            mem[s.name] = held_memory(s)
    finally:
        for s in sides:
            s.stop()
    for s in sides:
        s.remove()
    B.goal("an idle worker <= 150 kB private", fpriv <= 150 and
           upriv <= 150, "fresh %.0f kB, after the runs %.0f kB" %
           (fpriv, upriv))
    for what, r in (("1 client", seq), ("%d clients" % N_PAR, par)):
        if r.ratio("conn/s") is not None:
            print("ratio chapard/dovecot, %s: %s x the conn/s, %s x the "
                  "CPU per connection" % tuple(
                      [what] + ["%.2f" % x if x is not None else "-"
                                for x in (r.ratio("conn/s"),
                                          r.ratio("us CPU/conn"))]))
    if theirs:
        a, b = mem[ours.name], mem[theirs.name]
        print("memory per held connection, chapard+echod/dovecot: %.2f x "
              "(processes holding them), %.2f x (whole-tree growth)" %
              (a[0] / b[0], a[1] / b[1] if b[1] > 0 else float("nan")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
