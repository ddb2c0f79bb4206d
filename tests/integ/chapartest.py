"""Helpers for Chapar's integration tests: make an instance with
"chapar init", run the real programs in it, talk to them.

Only loopback and UNIX sockets are used.  An instance directory is removed
after its test unless the test failed; then its path and logs are printed.
"""
import base64
import hashlib
import hmac
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUILD = None            # set by run.py
_instances = []


class Skip(Exception):
    pass


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root")


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "LeakSanitizer has encountered")


def finish():
    """Stop every daemon of the test's instances (a sanitizer build
    reports leaks at exit) and fail if any log holds a sanitizer report."""
    for inst in _instances:
        inst.stop_all()
    for inst in _instances:
        for name in sorted(os.listdir(inst.dir)):
            if not name.endswith(".log"):
                continue
            with open(os.path.join(inst.dir, name), errors="replace") as f:
                text = f.read()
            for mark in SANITIZER_MARKS:
                if mark in text:
                    raise AssertionError("%s: sanitizer report in %s" %
                                         (inst.dir, name))


def daemon_env(unprivileged=False):
    """A chrooted daemon cannot see /proc, where LeakSanitizer looks at
    exit: as root, leak checks are left to the unprivileged test
    (test_authd.test_unprivileged_authd_*).  Memory errors are still
    caught."""
    env = dict(os.environ)
    if os.geteuid() == 0 and not unprivileged:
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    return env


def cleanup_all(failed_now):
    while _instances:
        inst = _instances.pop()
        inst.stop_all()
        if failed_now:
            print("#   instance kept for inspection: %s" % inst.dir)
            for name in sorted(os.listdir(inst.dir)):
                if name.endswith(".log"):
                    print("#   --- %s" % name)
                    with open(os.path.join(inst.dir, name), errors="replace") as f:
                        for line in f.read().splitlines()[-40:]:
                            print("#   " + line)
        else:
            shutil.rmtree(inst.dir, ignore_errors=True)


def wait_for(pred, timeout=10.0, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


class Instance:
    """A whole Chapar instance in a temporary directory."""

    def __init__(self, conf_extra="", as_user=None):
        """as_user: run every program as that (unprivileged) user, with
        the instance owned by it (needs root)."""
        self.dir = tempfile.mkdtemp(prefix="chapar-it-")
        os.chmod(self.dir, 0o755)
        _instances.append(self)
        self.procs = {}
        self.prefix = []
        if as_user is not None:
            import pwd
            pw = pwd.getpwnam(as_user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.prefix = ["setpriv", "--reuid=%d" % pw.pw_uid,
                           "--regid=%d" % pw.pw_gid, "--clear-groups", "--"]
        r = self.chapar("init", self.dir, conf=False)
        assert r.returncode == 0, r.stderr
        self.conf = os.path.join(self.dir, "chapar.conf")
        # no test may ask the world's DNS: unless a test names its own
        # server, the resolver is pointed at a port where none answers
        if "dns_servers" not in conf_extra:
            conf_extra = "dns_servers = 127.0.0.1@9\n" + conf_extra
        self.add_conf(conf_extra)

    def add_conf(self, text):
        with open(self.conf, "a") as f:
            f.write("\n" + text.strip() + "\n")

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def chapar(self, *args, input=None, conf=True, env=None):
        cmd = self.prefix + [os.path.join(BUILD, "bin", "chapar")]
        if conf:
            cmd += ["-c", self.conf]
        cmd += list(args)
        return subprocess.run(cmd, input=input, capture_output=True,
                              text=True, timeout=60, env=env)

    def ok(self, *args, input=None):
        r = self.chapar(*args, input=input)
        assert r.returncode == 0, "chapar %s failed (%d): %s%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr)
        return r.stdout

    def add_user(self, addr, password="secret", *extra):
        return self.ok("user", "add", addr, "--password-stdin", *extra,
                       input=password + "\n")

    def start(self, prog, *args, ready=None):
        log = open(self.path(prog + ".log"), "ab")
        p = subprocess.Popen(self.prefix + [os.path.join(BUILD, "bin", prog),
                                            "-f", "-c", self.conf] + list(args),
                             stdout=log, stderr=log,
                             env=daemon_env(bool(self.prefix)))
        log.close()
        self.procs[prog] = p
        if ready is not None:
            try:
                wait_for(ready, 15, prog + " to be ready")
            except AssertionError:
                if p.poll() is not None:
                    raise AssertionError("%s exited with %d" %
                                         (prog, p.returncode))
                raise
        return p

    def start_authd(self):
        sock = self.path("run", "auth.sock")

        def up():
            if self.procs["authd"].poll() is not None:
                raise AssertionError("authd exited with %d" %
                                     self.procs["authd"].returncode)
            try:
                AuthClient(sock).close()
                return True
            except OSError:
                return False
        return self.start("authd", ready=up)

    def start_chapard(self):
        def up():
            p = self.procs["chapard"]
            if p.poll() is not None:
                raise AssertionError("chapard exited with %d" % p.returncode)
            return self.status_json() is not None
        return self.start("chapard", ready=up)

    def status_json(self):
        import json
        r = self.chapar("status", "--json")
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def service(self, name):
        st = self.status_json()
        for s in st["services"]:
            if s["name"] == name:
                return s
        return None

    def idle(self, name):
        s = self.service(name)
        return sum(1 for w in s["workers"] if w["state"] == "idle")

    def stop(self, prog, sig=signal.SIGTERM):
        p = self.procs.pop(prog, None)
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def stop_all(self):
        for prog in list(self.procs):
            self.stop(prog)

    def log(self, prog):
        with open(self.path(prog + ".log"), errors="replace") as f:
            return f.read()


def free_port():
    """A loopback TCP port nobody listens on (bound and released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Echo:
    """A client of the echod test fixture (tests/fixture/echod.c)."""

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.f = self.s.makefile("rb")
        self.greeting = self.f.readline().decode()

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        return self.f.readline().decode().rstrip("\r\n")

    def close(self):
        try:
            self.f.close()
            self.s.close()
        except OSError:
            pass


def chapard_instance(services="", conf_extra="", prefork=1, max_use=100,
                     **kw):
    """An instance with an [echo] pool on a free port, chapard running in
    the foreground.  Returns (instance, port)."""
    port = free_port()
    inst = Instance(conf_extra, **kw)
    inst.add_conf("""
[echo]
program = %s
listen = 127.0.0.1:%d
prefork = %d
max_use = %d
%s
""" % (os.path.join(BUILD, "bin", "echod"), port, prefork, max_use,
       services))
    inst.start_chapard()
    wait_for(lambda: inst.status_json() is not None and
             inst.idle("echo") >= min(prefork, 1), 15, "echo workers")
    return inst, port


class AuthClient:
    """The authd protocol, spoken from Python (see authd(8))."""

    def __init__(self, path, timeout=15):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rb")
        self.id = 0
        self.send("VERSION\t1\t0")
        v = self.line()
        assert v[0] == "VERSION" and v[1] == "1", v

    def close(self):
        self.f.close()
        self.s.close()

    def send(self, line):
        self.s.sendall(line.encode() + b"\n")

    def line(self):
        raw = self.f.readline()
        if not raw:
            raise EOFError("authd closed the connection")
        return raw.decode().rstrip("\n").split("\t")

    @staticmethod
    def fields(parts):
        out = {}
        for p in parts:
            k, _, v = p.partition("=")
            out.setdefault(k, []).append(
                v.replace("\\t", "\t").replace("\\n", "\n")
                 .replace("\\\\", "\\"))
        return out

    def request(self, verb, *args):
        self.id += 1
        self.send("\t".join([verb, str(self.id)] + list(args)))
        r = self.line()
        assert r[1] == str(self.id), r
        return r

    def auth(self, mech, resp=None, service="imap", rip="127.0.0.1",
             secured=True):
        self.id += 1
        parts = ["AUTH", str(self.id), mech, "service=" + service,
                 "rip=" + rip]
        if secured:
            parts.append("secured=1")
        if resp is not None:
            parts.append("resp=" + base64.b64encode(resp).decode())
        self.send("\t".join(parts))
        r = self.line()
        assert r[1] == str(self.id), r
        return r

    def cont(self, data):
        self.send("CONT\t%d\t%s" % (self.id,
                                     base64.b64encode(data).decode()))
        r = self.line()
        assert r[1] == str(self.id), r
        return r

    def plain(self, user, password, **kw):
        r = self.auth("PLAIN", b"\0" + user.encode() + b"\0" +
                      password.encode(), **kw)
        return r[0], self.fields(r[2:])

    def scram(self, user, password, tamper=False):
        """A complete SCRAM-SHA-256 client (RFC 5802, RFC 7677)."""
        cnonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = "n=%s,r=%s" % (user.replace("=", "=3D")
                                    .replace(",", "=2C"), cnonce)
        r = self.auth("SCRAM-SHA-256", ("n,," + first_bare).encode(),
                      secured=False)
        if r[0] != "CONT":
            return r[0], self.fields(r[2:])
        server_first = base64.b64decode(r[2]).decode()
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        assert attrs["r"].startswith(cnonce)
        salt = base64.b64decode(attrs["s"])
        it = int(attrs["i"])
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, it)
        ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(ckey).digest()
        final_wo = "c=biws,r=" + attrs["r"]
        authmsg = ",".join([first_bare, server_first, final_wo]).encode()
        csig = hmac.new(stored, authmsg, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(ckey, csig))
        if tamper:
            proof = bytes([proof[0] ^ 1]) + proof[1:]
        r = self.cont((final_wo + ",p=" +
                       base64.b64encode(proof).decode()).encode())
        f = self.fields(r[2:])
        if r[0] == "OK":
            skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
            ssig = hmac.new(skey, authmsg, hashlib.sha256).digest()
            assert base64.b64decode(f["final"][0]).decode() == \
                "v=" + base64.b64encode(ssig).decode(), "bad server signature"
        return r[0], f


def postfix_start(inst, port, main_extra, owned=("data",)):
    """A private Postfix instance for interop tests: its own config,
    queue and log under inst's directory, smtpd on 127.0.0.1:port, the
    base main.cf plus main_extra ({pf} is its directory).  The
    directories in owned are made and given to the postfix user.
    Returns the directory (postfix -c DIR)."""
    import pwd
    pf = inst.path("postfix")
    for d in ("", "queue") + tuple(owned):
        os.makedirs(os.path.join(pf, d), exist_ok=True)
    pw = pwd.getpwnam("postfix")
    for d in owned:
        os.chown(os.path.join(pf, d), pw.pw_uid, pw.pw_gid)
    with open("/etc/postfix/master.cf") as f:
        master = f.read()
    master = master.replace("\nsmtp      inet", "\n127.0.0.1:%d inet" %
                            port, 1)
    with open(os.path.join(pf, "master.cf"), "w") as f:
        f.write(master)
    with open(os.path.join(pf, "main.cf"), "w") as f:
        f.write(("compatibility_level = 3.6\n"
                 "queue_directory = {pf}/queue\n"
                 "data_directory = {pf}/data\n"
                 "maillog_file = {pf}/maillog\n"
                 "maillog_file_prefixes = {pf}\n"
                 "inet_interfaces = loopback-only\n"
                 "inet_protocols = ipv4\n"
                 "myhostname = postfix.test\n"
                 "mydestination =\n").format(pf=pf) +
                main_extra.replace("{pf}", pf))
    r = subprocess.run(["postfix", "-c", pf, "start"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r
    return pf


def postfix_log(pf):
    try:
        with open(os.path.join(pf, "maillog")) as f:
            return f.read()
    except OSError:
        return ""
