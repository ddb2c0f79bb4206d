"""smtpfront: the SMTP front of a service with front = yes.  It holds
clients until they are live (a whole first command line) and only then
has chapard hand them to a worker, so that idle clients cannot take the
pool (the attack review's finding: 100 silent connections took every MX
worker for smtpd_timeout)."""
import os
import pwd
import re
import resource
import smtplib
import socket
import sys
import time

import chapartest
from chapartest import Echo, free_port, wait_for
from test_smtpd import MSG, codes, queued, raw, smtp_instance, tls_ctx

STORM = 2000
STORM_ADDRS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")


def front_pid(inst, section="smtpd"):
    s = inst.service(section)
    for w in (s or {}).get("workers", []):
        if w["state"] == "front":
            return w["pid"]
    return None


def gone(pid):
    """The process has exited (or is a zombie waiting to be reaped)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] == "Z"
    except OSError:
        return True


def front_instance(extra="", conf=""):
    inst, port = smtp_instance(conf, extra="front = yes\n" + extra)
    wait_for(lambda: front_pid(inst) is not None, 20, "the front")
    return inst, port


def connect(port, src="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_line(s):
    got = b""
    while not got.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            break
        got += b
    return got.decode(errors="replace")


def read_all(s, wait=5.0):
    """Everything until the server closes (or wait seconds of quiet)."""
    s.settimeout(wait)
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except (socket.timeout, ConnectionResetError):
        pass
    return got.decode(errors="replace")


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def more_descriptors(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        if hard < n and os.geteuid() != 0:
            raise chapartest.Skip("needs %d descriptors (hard limit %d)" %
                                  (n, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (n, max(n, hard)))


def storm(port, n):
    """n idle connections from a few loopback addresses: connected, never
    a byte sent."""
    socks = []
    deadline = time.time() + 60
    for i in range(n):
        assert time.time() < deadline, "the storm took too long"
        socks.append(connect(port, STORM_ADDRS[i % len(STORM_ADDRS)]))
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def test_front_hands_live_clients_to_workers():
    """A client that pipelines its whole transaction right behind EHLO,
    more than the front reads (2 kB), gets every reply in order from a
    worker: the front's bytes come first, then the rest from the socket.
    The worker logs the client's real address (from the descriptor)."""
    inst, port = front_instance()
    s = connect(port, "127.0.0.9")
    greeting = read_line(s)
    assert re.match(r"220 \S+ ESMTP Chapar\r\n$", greeting), greeting
    body = b"".join(b"line %04d of a long message\r\n" % i
                    for i in range(200))
    s.sendall(b"EHLO x\r\nMAIL FROM:<a@b.example>\r\n"
              b"RCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>"
              b"\r\nDATA\r\n" + MSG + body + b".\r\nQUIT\r\n")
    out = read_all(s)
    s.close()
    assert "220 " not in out, "a second greeting: %r" % out[:200]
    assert codes(out) == ["250 ENHAN", "250 2.1.0", "250 2.1.5",
                          "550 5.1.1", "354 2.0.0", "250 2.0.0",
                          "221 2.0.0"], out
    (env, msg), = queued(inst)
    assert env[0]["client"] == "127.0.0.9"
    assert msg.endswith(MSG + body)
    log = inst.log("chapard")
    assert re.search(r"smtpd\[\d+\]: [0-9A-F]{10}: connect from 127\.0\.0\.9 "
                     r"port \d+ to 127\.0\.0\.1 port %d" % port, log), log
    assert inst.service("smtpd")["served"] == 1


def tcp_states(pid):
    """The TCP states (as /proc/net/tcp writes them) of pid's sockets."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    states = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                states[cols[9]] = cols[3]
    return [states[i] for i in inodes if i in states]


def test_front_chapard_keeps_no_client():
    """A client handed from the front to a worker passes through chapard
    as a descriptor only: while the worker serves it, chapard holds no
    TCP socket but its listening ones, and neither does the front."""
    inst, port = front_instance()
    c = smtplib.SMTP("127.0.0.1", port, timeout=10)
    assert c.ehlo("x")[0] == 250
    for pid in (inst.procs["chapard"].pid, front_pid(inst)):
        states = tcp_states(pid)
        assert states and all(st == "0A" for st in states), \
            (pid, states)     # 0A: LISTEN
    c.quit()


def test_front_starttls_and_auth():
    """STARTTLS and AUTH on a service behind a front work as without."""
    inst, port = front_instance()
    c = smtplib.SMTP("127.0.0.1", port, timeout=10)
    c.ehlo("x")
    c.starttls(context=tls_ctx())
    code, caps = c.ehlo("x")
    assert code == 250 and b"AUTH PLAIN" in caps, caps
    c.login("alice@example.org", "alice pw")
    assert c.sendmail("alice@example.org", ["bob@example.org"], MSG) == {}
    c.quit()
    (env, msg), = queued(inst)
    assert env[0]["auth"] == "alice@example.org"
    assert env[0]["tls"].startswith("TLSv1.")


def test_front_live_clients_wait_for_a_free_worker():
    """With every worker busy, a live client waits in the front (chapard
    says "busy") and is handed on as soon as a worker is free again;
    chapard's own per-address limit (client_conn_limit) still counts the
    clients that workers serve, and its refusal reaches the client."""
    inst, port = front_instance("max_procs = 2\nclient_conn_limit = 1\n")
    busy = []
    for src in ("127.0.0.1", "127.0.0.8"):
        c = smtplib.SMTP("127.0.0.1", port, timeout=10,
                         source_address=(src, 0))
        assert c.ehlo("x")[0] == 250
        busy.append(c)
    s = connect(port, "127.0.0.7")
    assert read_line(s).startswith("220 ")
    s.sendall(b"EHLO waiting\r\n")
    s.settimeout(1.5)
    try:
        early = s.recv(100)
    except socket.timeout:
        early = None
    assert early is None, "served with every worker busy: %r" % early
    # another client of 127.0.0.1 is over client_conn_limit, but waits
    # for a worker first: the limit is chapard's, at the hand-over
    t = connect(port)
    assert read_line(t).startswith("220 ")
    t.sendall(b"EHLO third\r\n")
    busy.pop().quit()
    s.settimeout(10)
    assert read_line(s).startswith("250-"), "not handed on"
    s.sendall(b"QUIT\r\n")
    assert "221 2.0.0" in read_all(s)
    s.close()
    got = read_all(t, wait=10)
    t.close()
    assert got.startswith("421 4.7.0 too many connections from your "
                          "address"), got
    assert re.search(r"reason=refused, detail=too many connections",
                     inst.log("chapard"))
    busy.pop().quit()


def test_front_recycled_workers_lose_no_client():
    """Workers that serve one client each (max_use = 1) say so when they
    finish: chapard hands them nothing more, and no client handed over
    is lost in a worker that is exiting."""
    inst, port = front_instance("max_use = 1\nmax_procs = 2\n")
    for i in range(15):
        c = smtplib.SMTP("127.0.0.1", port, timeout=15)
        assert c.ehlo("x%d" % i)[0] == 250, i
        c.quit()
    assert inst.service("smtpd")["served"] == 15


def test_front_refuses_pregreet_talkers():
    """With smtpd_greet_pause, the front greets after the pause; a client
    that talks before is refused 554 there, and logged; a patient one is
    served."""
    inst, port = front_instance("smtpd_greet_pause = 1s\n")
    s = connect(port)
    s.sendall(b"EHLO spammer\r\n")
    got = read_all(s)
    s.close()
    assert got.startswith("554 5.5.0 you talked before the greeting"), got
    wait_for(lambda: re.search(r"smtpd/front\[\d+\]: reject: "
                               r"client=127\.0\.0\.1, port=\d+, "
                               r"reason=pregreet", inst.log("chapard")),
             10, "the pregreet log line")
    t0 = time.time()
    c = smtplib.SMTP("127.0.0.1", port, timeout=10)
    assert time.time() - t0 >= 0.9, "no pause before the greeting"
    assert c.ehlo("x")[0] == 250
    c.quit()
    assert inst.service("smtpd")["served"] == 1


def test_front_closes_idle_clients_at_smtpd_timeout():
    """A client that gets the greeting and says nothing, or half a line,
    is closed by the front with 421 4.4.2 at smtpd_timeout, without ever
    taking a worker; a line longer than 2048 bytes gets 500."""
    inst, port = front_instance("smtpd_timeout = 2s\n")
    s1 = connect(port)
    s2 = connect(port)
    t0 = time.time()
    assert read_line(s1).startswith("220 ")
    assert read_line(s2).startswith("220 ")
    s2.sendall(b"EHLO half-a-li")
    for s in (s1, s2):
        got = read_all(s, wait=15)
        s.close()
        assert got.startswith("421 4.4.2 ") and "timeout" in got, got
    assert 1.5 <= time.time() - t0 < 12, time.time() - t0
    s = connect(port)
    read_line(s)
    s.sendall(b"EHLO " + b"h" * 3000 + b"\r\n")
    got = read_all(s)
    s.close()
    assert got.startswith("500 5.5.2 line too long"), got
    log = inst.log("chapard")
    assert log.count("reason=timeout") == 2, log
    assert "reason=line-too-long" in log
    assert inst.service("smtpd")["served"] == 0


def test_front_per_address_limit():
    """front_client_limit: one address may have so many clients in the
    front; one more gets 421 4.7.0 at once; other addresses are not
    affected, and a place freed is taken again."""
    inst, port = front_instance("front_client_limit = 3\n")
    held = [connect(port) for _ in range(3)]
    for s in held:
        assert read_line(s).startswith("220 ")
    s = connect(port)
    got = read_all(s)
    s.close()
    assert got.startswith("421 4.7.0 too many connections from your "
                          "address"), got
    other = connect(port, "127.0.0.2")
    assert read_line(other).startswith("220 ")
    other.close()
    held.pop().close()

    def again():
        s = connect(port)
        line = read_line(s)
        s.close()
        return line.startswith("220 ")
    wait_for(again, 10, "a freed place")
    close_all(held)
    wait_for(lambda: "reason=limit" in inst.log("chapard"), 10,
             "the limit log line")


def test_front_privileges():
    """The front runs as the service's user, chrooted into the empty
    directory, with room for front_max_connections descriptors; the
    workers behind it get no listening socket."""
    chapartest.need_root()
    inst, port = front_instance()
    pid = front_pid(inst)
    uid = str(pwd.getpwnam("chapar-smtpd").pw_uid)
    with open("/proc/%d/status" % pid) as f:
        status = f.read()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert set(uids) == {uid}, uids
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert os.readlink("/proc/%d/root" % pid) == inst.path("run", "empty")
    with open("/proc/%d/limits" % pid) as f:
        limit = [ln for ln in f if ln.startswith("Max open files")][0]
    assert int(limit.split()[3]) >= 10000, limit
    wid = [w["pid"] for w in inst.service("smtpd")["workers"]
           if w["state"] == "idle"][0]
    with open("/proc/%d/environ" % wid, "rb") as f:
        env = f.read().split(b"\0")
    assert b"CHAPAR_LISTEN_FDS=0" in env, env


def test_front_storm_of_idle_clients_leaves_the_pool_free():
    """2,000 silent connections from four addresses, against a pool of 4
    workers: the front holds them all, for a few hundred bytes each, and a
    real client still gets its 220 within a second and sends a message
    that is queued."""
    more_descriptors(STORM + 500)
    inst, port = front_instance("max_procs = 4\nfront_client_limit = 1000\n")
    pid = front_pid(inst)
    base_fds = nfds(pid)
    rss0 = vmrss_kb(pid)
    socks = storm(port, STORM)
    try:
        wait_for(lambda: nfds(pid) >= base_fds + STORM, 30,
                 "the front to hold the storm")
        rss1 = vmrss_kb(pid)
        per = (rss1 - rss0) * 1024.0 / STORM
        print("# front VmRSS %d kB -> %d kB: %.0f bytes per held "
              "connection" % (rss0, rss1, per))
        assert per < 4096, per
        t0 = time.time()
        c = smtplib.SMTP("127.0.0.1", port, timeout=10)
        t220 = time.time() - t0
        print("# 220 after %.1f ms with %d idle connections held" %
              (t220 * 1000, STORM))
        assert t220 < 1.0, t220
        assert c.sendmail("bob@example.net", ["alice@example.org"],
                          MSG) == {}
        c.quit()
        assert len(queued(inst)) == 1
        assert inst.service("smtpd")["served"] == 1
    finally:
        close_all(socks)
    sys.stdout.flush()


def test_without_front_a_storm_starves_the_pool():
    """The reason for the front: without it, the same storm takes every
    worker of a pool of 4 (each waits smtpd_timeout for a command that
    never comes) and the listen queue holds the rest, so a real client
    gets no greeting at all."""
    more_descriptors(STORM + 500)
    inst, port = smtp_instance("shutdown_grace = 1s\n",
                               extra="max_procs = 4\n")
    socks = storm(port, STORM)
    try:
        wait_for(lambda: sum(1 for w in inst.service("smtpd")["workers"]
                             if w["state"] == "busy") == 4, 20,
                 "four busy workers")
        s = connect(port, timeout=3)
        try:
            got = s.recv(100)
        except socket.timeout:
            got = None
        s.close()
        assert got is None, "greeted despite the storm: %r" % got
    finally:
        close_all(socks)


def test_a_worker_is_not_the_front():
    """A worker may not pass clients as the front does, and a worker
    behind a front (which has no listening socket) may not ask to admit
    one: chapard kills it, and the service goes on."""
    inst, port = chapartest.chapard_instance(services="front = yes\n",
                                             prefork=2)
    wait_for(lambda: front_pid(inst, "echo") is not None, 20, "the front")
    for trick in ("pass", "conn"):
        s = connect(port)
        assert read_line(s).startswith("220 ")
        s.sendall(("EVIL %s\r\n" % trick).encode())
        read_all(s, wait=5)
        s.close()
    wait_for(lambda: inst.log("chapard").count("killing it") >= 2, 10,
             "two workers dropped")
    log = inst.log("chapard")
    assert "sent a client but is not the front" in log
    assert "sent a CONN out of turn" in log
    assert inst.service("echo")["failures_in_a_row"] == 0
    wait_for(lambda: inst.idle("echo") >= 1, 10, "a new worker")
    s = connect(port)
    assert read_line(s).startswith("220 ")
    s.sendall(b"ECHO fine\r\n")
    assert read_line(s) == "ECHO fine\r\n"
    s.close()


def test_front_reload_and_stop():
    """A reload starts a new front on the same sockets while the old one
    finishes with its clients; a stop sends the clients the front holds
    421 4.3.2 and ends it."""
    inst, port = front_instance()
    old = front_pid(inst)
    s = connect(port)
    assert read_line(s).startswith("220 ")
    inst.ok("reload")
    wait_for(lambda: front_pid(inst) not in (None, old), 20,
             "a new front")
    # the old front still holds s, and hands it on
    s.sendall(b"EHLO x\r\nQUIT\r\n")
    out = read_all(s)
    s.close()
    assert codes(out) == ["250 ENHAN", "221 2.0.0"], out
    wait_for(lambda: gone(old), 20,
             "the old front to finish")
    s = connect(port)
    assert read_line(s).startswith("220 ")
    inst.stop("chapard")
    got = read_all(s, wait=10)
    s.close()
    assert got.startswith("421 4.3.2 "), got


def test_a_lying_front_is_killed():
    """chapard trusts the front no more than a worker: a client before
    HELLO, a descriptor that is not a TCP client accepted on the service's
    listener (a directory, the listener itself, a UDP socket, a connection
    the front made itself), a CONN, or more bytes than a front may pass
    get it killed, without holding the service back; a front that plays
    by the rules has its client served.  (The front here is
    tests/integ/fakefront.py, as front_program.)"""
    port = free_port()
    inst = chapartest.Instance("queue_delivery = no\n")
    tricks = ["nohello", "dir", "listener", "udp", "outbound", "conn",
              "bigdata", "good"]
    with open(inst.path("fakefront.plan"), "w") as f:
        f.write(" ".join(tricks))
    inst.add_conf("[smtpd]\nlisten = 127.0.0.1:%d\nfront = yes\n"
                  "front_program = %s\n" %
                  (port, os.path.join(os.path.dirname(
                      os.path.abspath(__file__)), "fakefront.py")))
    inst.start_chapard()
    wait_for(lambda: inst.log("chapard").count("killing it") >=
             len(tricks) - 1, 60, "every lying front killed")
    log = inst.log("chapard")
    assert "sent a client before HELLO" in log
    assert log.count("sent a descriptor that is not a TCP client of its "
                     "service") == 4, log
    assert "sent a CONN out of turn" in log
    assert "sent a bad FRONT_PASS (more data than a front may pass)" in log
    assert inst.service("smtpd")["failures_in_a_row"] == 0
    wait_for(lambda: open(inst.path("fakefront.plan")).read() == "", 20,
             "the honest front")
    wait_for(lambda: front_pid(inst) is not None, 20, "the honest front")
    s = connect(port)
    assert read_line(s) == "220 fake front\r\n"
    s.sendall(b"EHLO x\r\n")
    assert read_line(s).startswith("250-"), "not handed to a worker"
    s.sendall(b"QUIT\r\n")
    assert "221 2.0.0" in read_all(s)
    s.close()
    wait_for(lambda: "got type 13" in inst.log("chapard"), 10,
             "FRONT_TAKEN")
