"""What every benchmark of tests/bench/ shares: the command line,
interleaved runs of Chapar and its peer, CPU and memory taken from the
servers' own processes in /proc, a pause for the disk between runs, the
configurations of both sides, the peers (a private Postfix, a private
Dovecot) and the goals.

The machine is shared and noisy, so no single run is believed: Chapar (A)
and the peer (B) run interleaved, A B B A A B ..., every run is printed
with the load average before and after it and the CPU others spent
meanwhile, every pair with its ratio, and the medians.

Standard library only.  Loopback only.  Every wait has a deadline.
"""
import argparse
import os
import pwd
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integ"))
import chapartest  # noqa: E402
from chapartest import AuthClient, Instance, free_port, wait_for  # noqa

SOURCE = "/usr/sbin/smtp-source"
SINK = "/usr/sbin/smtp-sink"
CLK = os.sysconf("SC_CLK_TCK")


# --- the command line ---------------------------------------------------

def parser(doc):
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--build", required=True,
                    help="the build directory (build/gcc)")
    ap.add_argument("--pairs", type=int, default=3,
                    help="interleaved pairs of runs (at least 3 to be "
                         "believed; default 3)")
    ap.add_argument("--quick", action="store_true",
                    help="small counts, to check the script itself")
    ap.add_argument("--no-peer", action="store_true",
                    help="Chapar alone, as when the peer is not installed")
    return ap


_servers = []


def _stop_everything():
    """At exit, also after an error: no server of ours is left running
    (the Chapar instances' directories are kept for inspection)."""
    for srv in reversed(_servers):
        try:
            srv.stop()
        except Exception as e:      # keep stopping the others
            print("stopping %s: %s" % (srv, e))
    for inst in list(chapartest._instances):
        inst.stop_all()


def _on_signal(sig, frame):
    raise SystemExit(128 + sig)


_no_peer = [False]


def setup(args):
    import atexit
    chapartest.BUILD = os.path.abspath(args.build)
    _no_peer[0] = args.no_peer
    atexit.register(_stop_everything)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    if args.pairs < 1:
        raise SystemExit("--pairs must be at least 1")
    if args.pairs < 3 and not args.quick:
        print("note: fewer than 3 pairs: the medians mean little")


# --- CPU from the servers' process trees --------------------------------
#
# What is counted: for every process in the tree under a server's top
# process (chapard; Postfix's master; Dovecot's master), utime + stime
# from /proc/PID/stat (a process's line sums all its threads), plus
# cutime + cstime: the CPU of the children it has reaped, which the
# kernel adds up recursively (a reaped child brings its own reaped
# descendants' time).  So a worker that was started and ended during a
# run is still counted, in its parent; a zombie not yet reaped is counted
# from its own line.  The figure is taken before and after a run and the
# difference is the servers' CPU for that run.
#
# What is not counted: kernel threads working for the servers (the
# writeback flusher, block-layer completions, softirq network work charged
# to whoever was on the CPU), and the clients (smtp-source, this script).
# Those are the same kind of work on both sides; the machine's busy time
# is printed only as "others", a sign of outside noise, never used to
# estimate a server's CPU.  The kernel gives these times in clock ticks
# (1/CLK_TCK, 10 ms here): a run must last long enough for the figure to
# mean something.

def _stats():
    """{pid: (ppid, ticks own, ticks reaped children, comm)} of every
    process now."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.find("(") + 1:raw.rfind(")")]
        v = raw[raw.rfind(")") + 2:].split()
        # fields from 3 (state): ppid is 4, utime 14, stime 15,
        # cutime 16, cstime 17 (proc(5))
        out[int(name)] = (int(v[1]), int(v[11]) + int(v[12]),
                          int(v[13]) + int(v[14]), comm)
    return out


def descendants(root, stats=None):
    """root and every process under it."""
    stats = stats if stats is not None else _stats()
    kids = {}
    for pid, s in stats.items():
        kids.setdefault(s[0], []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in stats:
            out.append(p)
            todo += kids.get(p, [])
    return out


def tree_cpu(*roots):
    """CPU seconds of the process trees under roots (see above).  Read
    until two looks in a row see the same processes, so that a process
    that ends between the reading of its line and of its parent's is
    neither lost nor counted twice."""
    prev = None
    for _ in range(5):
        st = _stats()
        pids = sorted(p for r in roots for p in descendants(r, st))
        total = sum(st[p][1] + st[p][2] for p in pids)
        if prev is not None and prev[0] == pids:
            return total / CLK
        prev = (pids, total)
    return prev[1] / CLK


def machine_busy():
    """CPU seconds the whole machine spent not idle (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK


def own_cpu():
    """This script's CPU with its reaped children (clients it ran)."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# --- memory -------------------------------------------------------------

def smaps(pid):
    """/proc/PID/smaps_rollup in kB ({} when the process is gone)."""
    v = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k, _, rest = line.partition(":")
                r = rest.split()
                if len(r) == 2 and r[1] == "kB":
                    v[k] = int(r[0])
    except OSError:
        pass
    return v


def pss(pid):
    return smaps(pid).get("Pss", 0)


def tree_pss(root):
    """The PSS of a whole tree: the memory the server takes, with every
    shared page divided among the processes that map it."""
    return sum(pss(p) for p in descendants(root))


def established(port):
    """Socket inodes of established TCP connections whose local port is
    port (the server's end), from /proc/net/tcp and tcp6."""
    out = set()
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    c = line.split()
                    if c[3] == "01" and int(c[1].rsplit(":", 1)[1],
                                             16) == port:
                        out.add(int(c[9]))
        except OSError:
            pass
    return out


def socket_inodes(pid):
    out = []
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                out.append(int(t[8:-1]))
    except OSError:
        pass
    return out


def holders(root, port):
    """{pid: connections} for the processes under root that hold
    established client connections on port (server side)."""
    est = established(port)
    out = {}
    for p in descendants(root):
        n = len(set(i for i in socket_inodes(p) if i in est))
        if n:
            out[p] = n
    return out


def proc_root(pid):
    """Where a process is chrooted (/proc/PID/root), "" when unknown."""
    try:
        return os.readlink("/proc/%d/root" % pid)
    except OSError:
        return ""


def open_paths(pid):
    """The files a process has open (/proc/PID/fd targets)."""
    out = []
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                out.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
            except OSError:
                pass
    except OSError:
        pass
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


# --- the disk -----------------------------------------------------------

# the time of the last large delete, kept in a file so that the next
# benchmark of a "make bench" knows about the previous one's
_STAMP = os.path.join(tempfile.gettempdir(), "chapar-bench-last-delete")


def last_delete():
    try:
        return os.stat(_STAMP).st_mtime
    except OSError:
        return 0.0


def note_delete():
    """Files were just deleted in bulk (by us, or by a server emptying its
    queue).  On this machine's ext4 (no journal) inodes freed less than
    dirty_expire_centisecs ago are skipped when new ones are allocated,
    which makes file creation slow for a while after a large delete: the
    next run waits that long (pause_disk)."""
    with open(_STAMP, "w"):
        pass
    os.utime(_STAMP)


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
    note_delete()


def dirty_kb():
    v = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, rest = line.partition(":")
            v[k] = int(rest.split()[0])
    return v.get("Dirty", 0) + v.get("Writeback", 0)


def pause_disk(limit=60, small_kb=8192, quiet=False):
    """Before a run: sync, then wait until the dirty and writeback pages
    are small or limit seconds passed; and never start within
    dirty_expire_centisecs (+2 s) of a large delete."""
    t0 = time.time()
    os.sync()
    while dirty_kb() > small_kb and time.time() - t0 < limit:
        time.sleep(0.2)
    try:
        with open("/proc/sys/vm/dirty_expire_centisecs") as f:
            expire = int(f.read()) / 100.0 + 2
    except (OSError, ValueError):
        expire = 32.0
    left = last_delete() + expire - time.time()
    if left > 0:
        time.sleep(min(left, expire))
        os.sync()
    if not quiet:
        print("    (disk pause %.1f s; dirty now %d kB)" %
              (time.time() - t0, dirty_kb()))


# --- interleaved runs ---------------------------------------------------

def median(xs):
    return statistics.median(xs) if xs else float("nan")


class Metric:
    """One figure a run gives: key, how it is printed, and whether more
    is better (the ratio is always A/B)."""

    def __init__(self, key, fmt="%.0f", unit="", higher=True):
        self.key, self.fmt, self.unit, self.higher = key, fmt, unit, higher

    def show(self, v):
        return (self.fmt % v) + (" " + self.unit if self.unit else "")


class Result:
    def __init__(self, a, b, metrics):
        self.a, self.b, self.metrics = a, b, metrics

    def med(self, side, key):
        runs = self.a if side == "a" else self.b
        return median([r[key] for r in runs if key in r])

    def ratio(self, key):
        """Median of the pairs' ratios A/B (None without a peer)."""
        if not self.b:
            return None
        rs = [x[key] / y[key] for x, y in zip(self.a, self.b)
              if y.get(key)]
        return median(rs) if rs else None


def interleave(title, a_name, run_a, b_name, run_b, pairs, metrics,
               pause=pause_disk):
    """Run A and B alternately, A B B A A B ..., pairs times each.
    run_x(i) returns {key: value} (and "_cpu": the server's CPU seconds
    in the run, when it has them, for the "others" figure: the machine's
    busy time less this script's and its children's and the server's,
    outside noise; or "_others" when the run works it out itself over
    its measured part only); run_b None:
    the peer is missing, A alone runs pairs times.  Prints every run,
    every pair's ratios and the medians; returns a Result."""
    print("%s: %s%s, %d pair%s, interleaved" % (
        title, a_name, " vs " + b_name if run_b else "", pairs,
        "s" if pairs != 1 else ""))
    a, b = [], []
    width = max(len(a_name), len(b_name or ""))
    for i in range(pairs):
        order = [("a", run_a), ("b", run_b)]
        if i % 2:
            order.reverse()
        for side, fn in order:
            if fn is None:
                continue
            name = a_name if side == "a" else b_name
            if pause:
                pause()
            l0, busy0, own0 = loadavg(), machine_busy(), own_cpu()
            r = fn(i)
            l1, busy1, own1 = loadavg(), machine_busy(), own_cpu()
            extra = ""
            if "_others" in r:      # the run measured its own window
                extra = ", others %.1f s CPU" % max(0.0, r["_others"])
            elif "_cpu" in r:
                others = busy1 - busy0 - (own1 - own0) - r["_cpu"]
                extra = ", others %.1f s CPU" % max(0.0, others)
            print("  run %d %-*s %s  (load %.2f -> %.2f%s)" % (
                len(a) + len(b) + 1, width + 1, name + ":",
                ", ".join(m.show(r[m.key]) for m in metrics
                          if m.key in r), l0, l1, extra))
            (a if side == "a" else b).append(r)
    res = Result(a, b, metrics)
    for m in metrics:
        if run_b:
            for k, (x, y) in enumerate(zip(a, b)):
                if m.key in x and y.get(m.key):
                    print("  pair %d %s: %s / %s = %.2f" % (
                        k + 1, m.key, m.show(x[m.key]), m.show(y[m.key]),
                        x[m.key] / y[m.key]))
            rt = res.ratio(m.key)
            print("  median %s: %s %s, %s %s, median ratio %s" % (
                m.key, a_name, m.show(res.med("a", m.key)), b_name,
                m.show(res.med("b", m.key)),
                "%.2f" % rt if rt is not None else "-"))
        else:
            print("  median %s: %s %s" % (m.key, a_name,
                                          m.show(res.med("a", m.key))))
    return res


# --- goals --------------------------------------------------------------

def goal(text, ok, detail):
    """ok: True, False, or None (not measured: no peer)."""
    if ok is None:
        print("goal: %s: not measured (%s)" % (text, detail))
    else:
        print("goal: %s: %s (%s)" % (text, "reached" if ok else
                                     "NOT reached", detail))


def ratio_goal(text, ratio, target, higher=True):
    if ratio is None:
        goal(text, None, "peer not installed")
    else:
        goal(text, ratio >= target if higher else ratio <= target,
             "%.2f" % ratio)


# --- configurations -----------------------------------------------------

def show_config(title, text):
    print("--- configuration: %s" % title)
    for line in text.strip("\n").splitlines():
        print("    " + line)


def chapar_conf(inst):
    """chapar.conf without comments and blank lines."""
    with open(inst.conf) as f:
        return "\n".join(l.rstrip() for l in f
                         if l.strip() and not l.lstrip().startswith("#"))


def peer_missing(name, package):
    print("%s: peer not installed (apt-get install %s): Chapar's numbers "
          "only" % (name, package))


def wait_port(port, timeout=20, proc=None, what="server"):
    end = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("%s exited with %d" % (what,
                                                          proc.returncode))
            if time.time() > end:
                raise RuntimeError("%s is not listening on %d" % (what,
                                                                 port))
            time.sleep(0.05)


# --- counting files -----------------------------------------------------

def count(top):
    """Files under top."""
    n = 0
    for _, _, files in os.walk(top):
        n += len(files)
    return n


def maildir_count(top):
    """Messages in a Maildir (files in cur/ and new/)."""
    n = 0
    for sub in ("cur", "new"):
        try:
            n += len(os.listdir(os.path.join(top, sub)))
        except FileNotFoundError:
            pass
    return n


def wait_until(pred, timeout, what, step=0.02):
    """Poll pred until it is true; the time it became so."""
    end = time.time() + timeout
    while not pred():
        if time.time() > end:
            raise RuntimeError("timed out waiting for %s" % what)
        time.sleep(step)
    return time.time()


def wait_progress(counter, want, what, stall=60, limit=900, step=0.02):
    """Poll counter() until it reaches want; fail when it has not moved
    for stall seconds, or after limit.  The time it got there."""
    end = time.time() + limit
    last, moved = -1, time.time()
    while True:
        n = counter()
        now = time.time()
        if n >= want:
            return now
        if n != last:
            last, moved = n, now
        if now - moved > stall or now > end:
            raise RuntimeError("%s: %d of %d after %.0f s" % (
                what, n, want, stall if now <= end else limit))
        time.sleep(step)


# --- smtp-source --------------------------------------------------------

def smtp_source(port, n, rcpts, sessions, size, reuse=True, lmtp=False,
                sender="bench@example.net", timeout=600):
    """One smtp-source process per recipient, all at once, each with
    sessions/len(rcpts) sessions (at least 1) and n/len(rcpts) messages
    of size bytes to its recipient; the time when the last one ended."""
    procs = []
    per = n // len(rcpts)
    for r in rcpts:
        cmd = [SOURCE, "-s", str(max(1, sessions // len(rcpts))),
               "-l", str(size), "-m", str(per), "-f", sender, "-t", r,
               "-M", "bench.example.net"]
        if reuse:
            cmd.append("-d")        # -d: keep the connection
        if lmtp:
            cmd.append("-L")
        cmd.append("127.0.0.1:%d" % port)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))
    end = time.time() + timeout
    for p in procs:
        try:
            _, err = p.communicate(timeout=max(1, end - time.time()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
                q.wait()
            raise RuntimeError("smtp-source did not finish in time")
        if p.returncode != 0:
            raise RuntimeError("smtp-source: %s" % err.decode().strip())
    return time.time()


# --- Chapar -------------------------------------------------------------

def chapard_pid(inst):
    return inst.procs["chapard"].pid


def chapar_hashes(inst):
    """{address: password hash} as Chapar stored them (db5.3_dump), so
    that a peer can check the very same hashes."""
    r = subprocess.run(["db5.3_dump", "-p", "-h", inst.path("db"),
                        inst.path("db", "users.db")], capture_output=True,
                       text=True, timeout=60)
    lines = r.stdout.split("HEADER=END\n", 1)[-1].splitlines()
    out = {}
    for key, val in zip(lines[0::2], lines[1::2]):
        if "\\00" not in key:
            continue
        dom, _, local = key.strip().partition("\\00")
        for f in val.strip().split("\\09"):
            if f.startswith("hash="):
                out["%s@%s" % (local, dom)] = f[5:]
    return out


# --- Postfix ------------------------------------------------------------

def postfix_virtual(users, max_procs, deliveries, max_use=100, idle=300,
                    hold=False):
    """main.cf, master.cf fields, files and owned directories for a
    Postfix that delivers mail for example.org's users into Maildirs with
    virtual(8), as nobody, under {d}/vmail/example.org/USER/.

    Postfix's TUNING_README: enough processes for the load; and the same
    limits as Chapar: default_process_limit (smtpd, cleanup,
    trivial-rewrite, smtp) = Chapar's process limit, virtual's process
    limit and destination concurrency = Chapar's local_process_limit.
    Postfix has no pre-started processes: each benchmark warms both sides
    up first, and idle processes are kept as long on both.  hold: every
    message received is put on hold (the queue is filled, nothing
    delivered, until released)."""
    nobody = pwd.getpwnam("nobody")
    main = """default_process_limit = {mp}
max_use = {mu}
max_idle = {idle}s
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
mydestination =
local_recipient_maps =
virtual_mailbox_domains = example.org
virtual_mailbox_base = {{d}}/vmail
virtual_mailbox_maps = texthash:{{d}}/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_destination_concurrency_limit = {dl}
""".format(mp=max_procs, mu=max_use, idle=idle, dl=deliveries,
           uid=nobody.pw_uid, gid=nobody.pw_gid)
    if hold:
        main += "smtpd_client_restrictions = check_client_access " \
                "static:HOLD\n"
    return dict(main=main, fields=(
        "{smtp}/inet/process_limit=%d" % max_procs,
        "virtual/unix/process_limit=%d" % deliveries),
        files={"vmailbox": "".join("%s@example.org example.org/%s/\n" %
                                   (u, u) for u in users)},
        owned={"vmail": "nobody"})


def have_postfix():
    return (not _no_peer[0] and os.geteuid() == 0 and shutil.which("postfix") is not None and
            os.path.exists(SOURCE))


class Postfix:
    """A private Postfix instance: own config_directory, queue and log
    under a temporary directory; smtpd on 127.0.0.1:port.  main is added
    to main.cf ({d} is the directory); fields are master.cf fields for
    postconf -F (service/type/field=value; "{smtp}" stands for the
    listener); files: {name: text} written into the directory first;
    owned: {directory: user} made and given to that user."""

    def __init__(self, port, main="", fields=(), files=None, owned=None):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="chapar-bench-postfix-")
        os.chmod(self.dir, 0o755)
        own = {"queue": "root", "data": "postfix"}
        own.update(owned or {})
        for d, user in own.items():
            pw = pwd.getpwnam(user)
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
            os.chown(os.path.join(self.dir, d), pw.pw_uid, pw.pw_gid)
        for name, text in (files or {}).items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text.replace("{d}", self.dir))
        with open("/etc/postfix/master.cf") as f:
            master = f.read()
        self.listener = "127.0.0.1:%d" % port
        master = master.replace("\nsmtp      inet", "\n%s inet" %
                                self.listener, 1)
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.write(master)
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            f.write(("compatibility_level = 3.6\n"
                     "queue_directory = {d}/queue\n"
                     "data_directory = {d}/data\n"
                     "maillog_file = {d}/maillog\n"
                     "maillog_file_prefixes = {d}\n"
                     "inet_interfaces = loopback-only\n"
                     "inet_protocols = ipv4\n"
                     "myhostname = postfix.bench\n"
                     "mynetworks = 127.0.0.0/8\n"
                     # no look-up of the client's name: nothing may ask
                     # the system's resolver (TESTING.md), and Chapar's
                     # smtpd makes none either
                     "smtpd_peername_lookup = no\n"
                     "smtp_dns_support_level = disabled\n"
                     "biff = no\n").format(d=self.dir) +
                    main.replace("{d}", self.dir))
        for fld in fields:
            self.postconf("-F", fld.replace("{smtp}", self.listener))
        r = subprocess.run(["postfix", "-c", self.dir, "start"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("postfix did not start: %s%s" %
                               (r.stdout, r.stderr))
        _servers.append(self)
        wait_port(port, what="postfix")
        self.pid = self.master_pid()

    def postconf(self, *args):
        r = subprocess.run(["postconf", "-c", self.dir] + list(args),
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("postconf %s: %s" % (args, r.stderr))
        return r.stdout

    def master_pid(self):
        path = os.path.join(self.dir, "queue", "pid", "master.pid")
        wait_for(lambda: os.path.exists(path), 20, "postfix master.pid")
        with open(path) as f:
            return int(f.read().split()[0])

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def mailbox(self, user):
        """A user's Maildir with postfix_virtual()."""
        return self.path("vmail", "example.org", user)

    def release(self):
        """Held messages to the deferred queue (not yet tried)."""
        subprocess.run(["postsuper", "-c", self.dir, "-H", "ALL"],
                       capture_output=True, timeout=120, check=True)

    def flush(self):
        subprocess.run(["postqueue", "-c", self.dir, "-f"],
                       capture_output=True, timeout=60, check=True)

    def queued(self):
        """Messages in the queue (incoming, active, deferred, hold)."""
        return sum(count(self.path("queue", q))
                   for q in ("incoming", "active", "deferred", "hold",
                             "maildrop"))

    def config(self, services=("{smtp}/inet", "cleanup/unix", "qmgr/unix",
                               "virtual/unix", "local/unix", "smtp/unix")):
        main = self.postconf("-n")
        keep = []
        for s in services:
            s = s.replace("{smtp}", self.listener)
            out = self.postconf("-M", s).strip()
            if out:
                keep.append(out)
        return ("main.cf (postconf -n):\n" + main +
                "master.cf (postconf -M; columns: service type private "
                "unpriv chroot wakeup maxproc command):\n" +
                "\n".join(keep))

    def log(self):
        try:
            with open(self.path("maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self in _servers:
            _servers.remove(self)
        subprocess.run(["postfix", "-c", self.dir, "stop"],
                       capture_output=True, timeout=60)
        try:
            wait_for(lambda: not os.path.exists("/proc/%d" % self.pid), 20,
                     "postfix to stop")
        except AssertionError:
            os.kill(self.pid, signal.SIGKILL)

    def remove(self):
        rmtree(self.dir)


# --- Dovecot ------------------------------------------------------------

def have_dovecot(*progs):
    return (not _no_peer[0] and os.geteuid() == 0 and shutil.which("dovecot") is not None and
            all(os.path.exists("/usr/lib/dovecot/" + p) for p in progs))


class Dovecot:
    """A private Dovecot: own base_dir, state_dir and log under a
    temporary directory, run in the foreground (dovecot -F) so that its
    master is our child.  body is the rest of dovecot.conf ({d} is the
    directory); files: {name: text} written first; owned: {directory:
    user} made and given to that user."""

    def __init__(self, body, port=None, sock=None, name="chapar-bench",
                 files=None, owned=None):
        self.dir = tempfile.mkdtemp(prefix="chapar-bench-dovecot-")
        os.chmod(self.dir, 0o755)
        for d in ("run", "state"):
            os.mkdir(os.path.join(self.dir, d))
        for d, user in (owned or {}).items():
            pw = pwd.getpwnam(user)
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
            os.chown(os.path.join(self.dir, d), pw.pw_uid, pw.pw_gid)
        for fn, text in (files or {}).items():
            with open(os.path.join(self.dir, fn), "w") as f:
                f.write(text.replace("{d}", self.dir))
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(("base_dir = {d}/run\n"
                     "state_dir = {d}/state\n"
                     "log_path = {d}/dovecot.log\n"
                     "instance_name = %s\n"
                     "listen = 127.0.0.1\n" % name).format(d=self.dir) +
                    body.replace("{d}", self.dir))
        self.p = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        _servers.append(self)
        self.pid = self.p.pid
        if port:
            wait_port(port, proc=self.p, what="dovecot")
        if sock:
            wait_for(lambda: os.path.exists(sock) or
                     self.p.poll() is not None, 20, "dovecot's socket")
            if self.p.poll() is not None:
                raise RuntimeError("dovecot exited (see %s)" % self.dir)

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def config(self):
        r = subprocess.run(["doveconf", "-c", self.conf, "-n"],
                           capture_output=True, text=True, timeout=30)
        return "\n".join(l for l in r.stdout.splitlines()
                         if not l.startswith("#"))

    def stop(self):
        if self in _servers:
            _servers.remove(self)
        self.p.terminate()
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()

    def remove(self):
        rmtree(self.dir)


def yescrypt(pw):
    """A yescrypt hash ("$y$", libxcrypt's default cost), the kind
    Chapar's authd stores and checks, for Dovecot's {CRYPT} scheme: both
    servers then pay the same for each password check."""
    import ctypes
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                  ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib.crypt(pw.encode(), lib.crypt_gensalt(b"$y$", 0, None,
                                                    0)).decode()
