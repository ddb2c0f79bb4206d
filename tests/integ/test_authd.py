"""authd through its real socket protocol, and through "chapar auth"."""
import base64
import os
import signal
import smtplib
import socket
import subprocess
import time

from chapartest import AuthClient, Instance, free_port, need_root, wait_for


def setup(conf_extra="", as_user=None):
    inst = Instance(conf_extra, as_user=as_user)
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org", "correct horse")
    inst.start_authd()
    return inst, AuthClient(inst.path("run", "auth.sock"))


def test_plain_right_and_wrong_password():
    inst, c = setup()
    verb, f = c.plain("alice@example.org", "correct horse")
    assert verb == "OK", (verb, f)
    assert f["user"] == ["alice@example.org"]
    assert f["home"] == ["example.org/alice"]
    assert f["quota"] == [str(2 * 1024 ** 3)]
    verb, f = c.plain("ALICE@EXAMPLE.ORG", "correct horse")
    assert verb == "OK", "login names fold case"
    verb, f = c.plain("alice@example.org", "Correct horse")
    assert verb == "FAIL" and f["reason"] == ["invalid credentials"]
    verb, f2 = c.plain("nobody@example.org", "x")
    assert verb == "FAIL" and f2["reason"] == f["reason"], \
        "unknown users must look like wrong passwords"
    log = inst.log("authd")
    assert "result=ok" in log and "reason=wrong password" in log
    assert "correct horse" not in log, "a password reached the log"


def test_plain_with_continuation_and_authzid():
    inst, c = setup()
    r = c.auth("PLAIN")
    assert r[0] == "CONT" and r[2] == ""
    r = c.cont(b"\0alice@example.org\0correct horse")
    assert r[0] == "OK", r
    r = c.auth("PLAIN", b"other@example.org\0alice@example.org\0correct horse")
    assert r[0] == "FAIL", "a different authzid must be refused"


def test_login_mechanism():
    inst, c = setup()
    r = c.auth("LOGIN")
    assert r[0] == "CONT" and r[2] == "VXNlcm5hbWU6"       # "Username:"
    r = c.cont(b"alice@example.org")
    assert r[0] == "CONT" and r[2] == "UGFzc3dvcmQ6"       # "Password:"
    r = c.cont(b"correct horse")
    assert r[0] == "OK", r
    r = c.auth("LOGIN", b"alice@example.org")
    assert r[0] == "CONT"
    assert c.cont(b"wrong")[0] == "FAIL"


def test_scram_sha256_full_exchange():
    inst, c = setup()
    verb, f = c.scram("alice@example.org", "correct horse")
    assert verb == "OK", (verb, f)
    assert f["user"] == ["alice@example.org"]
    verb, f = c.scram("alice@example.org", "wrong")
    assert verb == "FAIL"
    verb, f = c.scram("alice@example.org", "correct horse", tamper=True)
    assert verb == "FAIL"
    verb, f = c.scram("ghost@example.org", "x")
    assert verb == "FAIL" and f["reason"] == ["invalid credentials"]


def test_scram_uses_new_keys_after_passwd():
    inst, c = setup()
    inst.ok("user", "passwd", "alice@example.org", "--password-stdin",
            input="battery staple\n")
    assert c.scram("alice@example.org", "battery staple")[0] == "OK"
    assert c.plain("alice@example.org", "battery staple")[0] == "OK"
    assert c.plain("alice@example.org", "correct horse")[0] == "FAIL"


def test_plaintext_needs_a_secured_connection():
    inst, c = setup()
    r = c.auth("PLAIN", b"\0alice@example.org\0correct horse", secured=False)
    assert r[0] == "FAIL" and "without TLS" in r[2], r
    r = c.auth("LOGIN", secured=False)
    assert r[0] == "FAIL", r
    # SCRAM never shows the password: allowed without TLS
    verb, f = c.scram("alice@example.org", "correct horse")
    assert verb == "OK"
    inst.add_conf("auth_allow_plaintext = yes")
    inst.stop("authd")
    inst.start_authd()
    c = AuthClient(inst.path("run", "auth.sock"))
    r = c.auth("PLAIN", b"\0alice@example.org\0correct horse", secured=False)
    assert r[0] == "OK", r


def test_unsupported_mechanism_fails_cleanly():
    inst, c = setup()
    r = c.auth("CRAM-MD5")
    assert r[0] == "FAIL" and "unsupported" in r[2]
    assert c.plain("alice@example.org", "correct horse")[0] == "OK"


def test_disabled_and_deleted_accounts():
    inst, c = setup()
    inst.ok("user", "disable", "alice@example.org")
    verb, f = c.plain("alice@example.org", "correct horse")
    assert verb == "FAIL" and f["reason"] == ["account disabled"]
    inst.ok("user", "enable", "alice@example.org")
    assert c.plain("alice@example.org", "correct horse")[0] == "OK"
    inst.ok("user", "del", "alice@example.org")
    verb, f = c.plain("alice@example.org", "correct horse")
    assert verb == "FAIL" and f["reason"] == ["invalid credentials"]


def test_last_login_is_recorded():
    inst, c = setup()
    assert c.plain("alice@example.org", "correct horse")[0] == "OK"
    js = inst.ok("user", "show", "alice@example.org", "--json")
    assert '"last_login": "20' in js, js


def test_failed_logins_are_slowed_then_refused_per_account():
    inst, c = setup("auth_fail_delay_after = 2\nauth_fail_delay = 1s\n"
                    "auth_fail_user_limit = 4\nauth_fail_ip_limit = 100")
    for i in range(2):
        t0 = time.time()
        assert c.plain("alice@example.org", "bad", rip="192.0.2.%d" % i)[0] \
            == "FAIL"
        assert time.time() - t0 < 0.9, "first failures must not be slowed"
    t0 = time.time()
    assert c.plain("alice@example.org", "bad", rip="192.0.2.9")[0] == "FAIL"
    assert time.time() - t0 >= 0.9, "third failure must be slowed"
    assert c.plain("alice@example.org", "bad", rip="192.0.2.10")[0] == "FAIL"
    # the account is now locked for the window against the addresses that
    # guessed, even with the password (account_lock_spares_the_owner: not
    # against the others)
    for i in (0, 1, 9, 10):
        verb, f = c.plain("alice@example.org", "correct horse",
                          rip="192.0.2.%d" % i)
        assert verb == "FAIL" and f.get("temp") == ["1"], (i, verb, f)
        assert "too many" in f["reason"][0]
    assert "result=refused" in inst.log("authd")


def test_account_lock_spares_the_owner():
    """Failures from one address lock the account against that address
    only: the right password from a clean address, or from the owner's
    usual address (even after a typo), still logs in; each other address
    of an attack gets one guess."""
    inst, c = setup("auth_fail_delay_after = 100\nauth_fail_user_limit = 4\n"
                    "auth_fail_ip_limit = 100")
    alice, pw = "alice@example.org", "correct horse"
    assert c.plain(alice, pw, rip="127.0.0.4")[0] == "OK"     # usual address
    for _ in range(4):
        verb, f = c.plain(alice, "guess", rip="127.0.0.2")
        assert verb == "FAIL" and "temp" not in f, f
    verb, f = c.plain(alice, pw, rip="127.0.0.2")
    assert verb == "FAIL" and f.get("temp") == ["1"], (verb, f)
    assert "too many" in f["reason"][0]
    verb, f = c.plain(alice, pw, rip="127.0.0.3")
    assert verb == "OK", ("a clean address is refused", verb, f)
    # the owner's login does not reopen the account to the attacker
    assert c.plain(alice, pw, rip="127.0.0.2")[1].get("temp") == ["1"]
    # another address of the attack: one guess, then refused
    verb, f = c.plain(alice, "guess", rip="127.0.0.5")
    assert verb == "FAIL" and "temp" not in f, f
    assert c.plain(alice, pw, rip="127.0.0.5")[1].get("temp") == ["1"]
    # a typo from the usual address does not lock the owner out
    verb, f = c.plain(alice, "typo", rip="127.0.0.4")
    assert verb == "FAIL" and "temp" not in f, f
    assert c.plain(alice, pw, rip="127.0.0.4")[0] == "OK"
    verb, f = c.scram(alice, pw)                # from 127.0.0.1: clean
    assert verb == "OK", (verb, f)
    # without an address there is nothing to tell the owner by
    assert c.plain(alice, pw, rip="")[1].get("temp") == ["1"]
    # other accounts are not affected from the attacker's address
    inst.add_user("bob@example.org", "bob pw")
    assert c.plain("bob@example.org", "bob pw", rip="127.0.0.2")[0] == "OK"


def test_failed_logins_are_refused_per_address():
    inst, c = setup("auth_fail_delay_after = 100\nauth_fail_ip_limit = 3")
    inst.add_user("bob@example.org", "pw")
    for u in ("x@example.org", "y@example.org", "z@example.org"):
        assert c.plain(u, "bad", rip="198.51.100.7")[0] == "FAIL"
    verb, f = c.plain("bob@example.org", "pw", rip="198.51.100.7")
    assert verb == "FAIL" and f.get("temp") == ["1"]
    assert c.plain("bob@example.org", "pw", rip="198.51.100.8")[0] == "OK"


def test_delayed_reply_does_not_block_other_clients():
    inst, c = setup("auth_fail_delay_after = 0\nauth_fail_delay = 3s")
    c.id += 1
    c.send("AUTH\t%d\tPLAIN\tservice=imap\trip=192.0.2.1\tresp=%s" % (
        c.id, "AGFsaWNlQGV4YW1wbGUub3JnAGJhZA=="))  # alice / bad
    other = AuthClient(inst.path("run", "auth.sock"))
    t0 = time.time()
    assert other.plain("alice@example.org", "correct horse",
                       rip="192.0.2.2")[0] == "OK"
    assert time.time() - t0 < 2, "another client waited for a delayed reply"
    assert c.line()[0] == "FAIL"


def test_user_lookup():
    inst, c = setup()
    r = c.request("USER", "alice@example.org")
    assert r[0] == "USER", r
    f = AuthClient.fields(r[2:])
    assert f["user"] == ["alice@example.org"] and f["state"] == ["active"]
    assert "hash" not in f and "scram" not in f, "secrets left authd"
    assert c.request("USER", "nobody@example.org")[0] == "NOTFOUND"


def test_recipient_resolution():
    inst, c = setup()
    inst.add_user("bob@example.org")
    inst.ok("alias", "add", "sales@example.org", "alice@example.org",
            "bob@example.org", "partner@remote.example")
    inst.ok("alias", "add", "team@example.org", "sales@example.org",
            "alice@example.org")
    inst.ok("alias", "add", "loop1@example.org", "loop2@example.org")
    inst.ok("alias", "add", "loop2@example.org", "loop1@example.org")

    def rcpt(a):
        r = c.request("RCPT", a)
        return r[0], AuthClient.fields(r[2:])
    v, f = rcpt("alice@example.org")
    assert v == "RCPT" and f["local"] == ["alice@example.org"]
    v, f = rcpt("Alice+lists@Example.ORG")
    assert v == "RCPT" and f["local"] == ["alice@example.org"], f
    v, f = rcpt("team@example.org")
    assert v == "RCPT"
    assert sorted(f["local"]) == ["alice@example.org", "bob@example.org"]
    assert f["remote"] == ["partner@remote.example"]
    assert rcpt("nobody@example.org")[0] == "NOTFOUND"
    assert rcpt("someone@remote.example")[0] == "NOTLOCAL"
    assert rcpt("loop1@example.org")[0] == "NOTFOUND"
    inst.ok("alias", "add", "@example.org", "bob@example.org")
    v, f = rcpt("nobody@example.org")
    assert v == "RCPT" and f["local"] == ["bob@example.org"]
    v, f = rcpt("alice@example.org")
    assert f["local"] == ["alice@example.org"], \
        "a catch-all must not capture existing users"
    assert rcpt("not an address")[0] == "NOTFOUND"


def test_recipient_resolution_with_catchall_edge_cases():
    """A catch-all takes only addresses nobody has: not a deleted user's,
    not an alias's whose destinations are gone, not a second path through
    a diamond of aliases, not a loop."""
    inst, c = setup()
    for u in ("x", "y", "gone"):
        inst.add_user(u + "@example.org")
    inst.ok("alias", "add", "@example.org", "y@example.org")
    inst.ok("alias", "add", "a@example.org", "b@example.org", "c@example.org")
    inst.ok("alias", "add", "b@example.org", "d@example.org")
    inst.ok("alias", "add", "c@example.org", "d@example.org")
    inst.ok("alias", "add", "d@example.org", "x@example.org")
    inst.ok("alias", "add", "broken@example.org", "gone@example.org")
    inst.ok("alias", "add", "loop1@example.org", "loop2@example.org")
    inst.ok("alias", "add", "loop2@example.org", "loop1@example.org")
    inst.ok("user", "del", "gone@example.org")

    def rcpt(a):
        r = c.request("RCPT", a)
        return r[0], AuthClient.fields(r[2:])
    v, f = rcpt("a@example.org")
    assert v == "RCPT" and f == {"local": ["x@example.org"]}, f
    assert rcpt("gone@example.org")[0] == "NOTFOUND"
    assert rcpt("gone+tag@example.org")[0] == "NOTFOUND"
    assert rcpt("broken@example.org")[0] == "NOTFOUND"
    assert rcpt("loop1@example.org")[0] == "NOTFOUND"
    v, f = rcpt("unknown@example.org")
    assert v == "RCPT" and f == {"local": ["y@example.org"]}
    assert "alias loop at" in inst.log("authd")


def test_malformed_requests_disconnect_only_that_client():
    inst, c = setup()
    bad = [b"HELLO\n", b"AUTH\n", b"AUTH\tabc\tPLAIN\n",
           b"AUTH\t1\tPLAIN\tresp=!!!\n", b"CONT\t99\tAAAA\n",
           b"USER\t1\n", b"AUTH\t1\tPLAIN\tnoequals\n",
           b"X" * 70000 + b"\n"]
    for line in bad:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(inst.path("run", "auth.sock"))
        s.sendall(b"VERSION\t1\t0\n")
        s.recv(100)
        try:
            s.sendall(line)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        s.close()
        assert data == b"", (line[:40], data)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(inst.path("run", "auth.sock"))
    s.sendall(b"AUTH\t1\tPLAIN\n")   # before VERSION
    assert s.recv(100) == b""
    assert c.plain("alice@example.org", "correct horse")[0] == "OK"
    assert inst.procs["authd"].poll() is None


def test_chapar_auth_commands():
    inst, c = setup()
    r = inst.chapar("auth", "test", "alice@example.org", "--password-stdin",
                    input="correct horse\n")
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
    r = inst.chapar("auth", "test", "alice@example.org", "--password-stdin",
                    input="nope\n")
    assert r.returncode == 1 and "FAIL" in r.stdout
    r = inst.chapar("auth", "lookup", "alice+x@example.org")
    assert r.returncode == 0 and "local: alice@example.org" in r.stdout


def test_second_authd_refuses_to_steal_the_socket():
    inst, c = setup()
    p = subprocess.run([os.path.join(os.path.dirname(inst.procs["authd"].args[0]),
                                     "authd"), "-f", "-c", inst.conf],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and "another authd is running" in p.stderr
    assert c.plain("alice@example.org", "correct horse")[0] == "OK"


def test_kill9_then_restart_keeps_database_usable():
    inst, c = setup()
    inst.add_user("bob@example.org", "pw")
    for i in range(3):
        inst.stop("authd", signal.SIGKILL)
        inst.start_authd()
        c = AuthClient(inst.path("run", "auth.sock"))
        assert c.plain("bob@example.org", "pw")[0] == "OK"
        # the admin command still works on the same environment
        inst.add_user("u%d@example.org" % i, "pw")
        assert c.plain("u%d@example.org" % i, "pw")[0] == "OK"


def test_sigterm_stops_cleanly():
    inst, c = setup()
    c.close()
    assert inst.stop("authd") == 0
    assert "stopping" in inst.log("authd")


def test_root_authd_drops_privileges_and_chroots():
    need_root()
    inst, c = setup()
    pid = inst.procs["authd"].pid
    import pwd
    auth = pwd.getpwnam("chapar-auth")
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.split(":", 1) for line in f if ":" in line)
    uids = st["Uid"].split()
    gids = st["Gid"].split()
    assert uids == [str(auth.pw_uid)] * 4, uids
    assert gids[:3] == [str(auth.pw_gid)] * 3, gids
    assert os.readlink("/proc/%d/root" % pid) == inst.path("db")
    assert "NoNewPrivs:\t1" in open("/proc/%d/status" % pid).read()
    sock = os.stat(inst.path("run", "auth.sock"))
    assert oct(sock.st_mode & 0o777) == "0o660"
    # the database stays usable by both authd and the admin command
    inst.add_user("bob@example.org", "pw")
    assert c.plain("bob@example.org", "pw")[0] == "OK"
    for fn in os.listdir(inst.path("db")):
        assert os.stat(inst.path("db", fn)).st_uid == auth.pw_uid, fn


def test_unprivileged_authd_full_session():
    """authd run by an ordinary user (no chroot, no privilege drop): the
    whole protocol works, the socket is private, and in a sanitizer build
    leaks are checked at exit (which a chrooted authd cannot do)."""
    need_root()
    inst, c = setup(as_user="nobody")
    assert oct(os.stat(inst.path("run", "auth.sock")).st_mode & 0o777) \
        == "0o600"
    with open("/proc/%d/status" % inst.procs["authd"].pid) as f:
        assert "Uid:\t65534" in f.read()
    assert c.plain("alice@example.org", "correct horse")[0] == "OK"
    assert c.scram("alice@example.org", "correct horse")[0] == "OK"
    assert c.plain("alice@example.org", "bad")[0] == "FAIL"
    assert c.request("RCPT", "alice+x@example.org")[0] == "RCPT"
    assert c.request("USER", "alice@example.org")[0] == "USER"
    c.close()
    assert inst.stop("authd") == 0


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def test_hash_workers_are_replaced_when_they_die():
    inst, c = setup("auth_workers = 3")
    pid = inst.procs["authd"].pid
    kids = children(pid)
    assert len(kids) == 3, kids
    assert "workers=3" in inst.log("authd")
    for k in kids:
        os.kill(k, signal.SIGKILL)
    wait_for(lambda: len(set(children(pid)) - set(kids)) == 3, 10,
             "three new workers")
    for _ in range(5):
        assert c.plain("alice@example.org", "correct horse")[0] == "OK"
    assert c.plain("alice@example.org", "wrong")[0] == "FAIL"
    assert "hash worker" in inst.log("authd")
    assert inst.procs["authd"].poll() is None


def test_many_logins_at_once_all_answered():
    """Several clients with pipelined logins: every request gets exactly
    its own answer, whichever worker checked it."""
    inst, c = setup("auth_workers = 2")
    inst.add_user("bob@example.org", "bob pw")
    clients = [AuthClient(inst.path("run", "auth.sock")) for _ in range(4)]
    import base64 as b64
    for k, cl in enumerate(clients):
        for i in range(1, 6):
            user, pw = (("alice@example.org", "correct horse") if (i + k) % 2
                        else ("bob@example.org", "bob pw"))
            if i == 3:
                pw = "wrong"
            cl.send("AUTH\t%d\tPLAIN\tservice=imap\trip=\tsecured=1\tresp=%s"
                    % (i, b64.b64encode(b"\0" + user.encode() + b"\0" +
                                        pw.encode()).decode()))
    for k, cl in enumerate(clients):
        got = {}
        for _ in range(5):
            r = cl.line()
            got[int(r[1])] = r[0]
        assert got == {1: "OK", 2: "OK", 3: "FAIL", 4: "OK", 5: "OK"}, got


def test_alias_with_a_thousand_destinations():
    """The largest alias allowed: stored, listed, resolved over the
    protocol and by "chapar auth lookup"; one more is refused."""
    inst, c = setup()
    dests = ["someone.with.a.rather.long.name.%04d@remote-%04d.example" %
             (i, i) for i in range(1000)]
    for k in range(0, 1000, 250):
        inst.ok("alias", "add", "big@example.org", *dests[k:k + 250])
    r = inst.chapar("alias", "add", "big@example.org", "one@more.example")
    assert r.returncode == 1 and "at most 1000" in r.stderr
    assert inst.ok("alias", "list").count("remote-") == 1000
    r = c.request("RCPT", "big@example.org")
    assert r[0] == "RCPT"
    assert sorted(AuthClient.fields(r[2:])["remote"]) == sorted(dests)
    out = inst.ok("auth", "lookup", "big@example.org")
    assert out.count("remote:") == 1000
    assert inst.procs["authd"].poll() is None


def test_secured_means_secured_1():
    inst, c = setup()
    c.id += 1
    c.send("AUTH\t%d\tPLAIN\tservice=imap\trip=\tsecured=0\tresp=%s" % (
        c.id, "AGFsaWNlQGV4YW1wbGUub3JnAGNvcnJlY3QgaG9yc2U="))
    r = c.line()
    assert r[0] == "FAIL" and "without TLS" in r[2], r


def test_alias_lookup_limit_is_all_or_nothing():
    """Past 2000 look-ups an expansion stops; the address is then not
    found at all (never a part of the list), with one warning."""
    inst, c = setup()
    for k in range(3):
        inst.ok("alias", "add", "part%d@example.org" % k,
                *["missing%d-%d@example.org" % (k, i) for i in range(800)])
    inst.ok("alias", "add", "huge@example.org", "alice@example.org",
            "part0@example.org", "part1@example.org", "part2@example.org")
    r = c.request("RCPT", "huge@example.org")
    assert r[0] == "NOTFOUND", r[:3]
    log = inst.log("authd")
    assert log.count("needs more than 2000 look-ups") == 1
    assert log.count("does not exist") < 2000
    assert c.request("RCPT", "alice@example.org")[0] == "RCPT"


def test_full_mailboxes_only_from_the_master_socket():
    inst, c = setup()
    inst.add_user("bob@example.org", "pw")
    inst.ok("alias", "add", "both@example.org", "alice@example.org",
            "bob@example.org")
    m = AuthClient(inst.path("run", "auth-master.sock"))
    assert m.request("FULL", "alice@example.org", "60")[0] == "OK"
    r = m.request("RCPT", "both@example.org")
    f = AuthClient.fields(r[2:])
    assert r[0] == "RCPT" and f["full"] == ["alice@example.org"], r
    assert "full" not in AuthClient.fields(
        m.request("RCPT", "bob@example.org")[2:])
    assert m.request("FULL", "alice@example.org", "0")[0] == "OK"
    assert "full" not in AuthClient.fields(
        m.request("RCPT", "alice@example.org")[2:])
    # a bad request, and the ordinary socket: the connection ends
    for client, args in ((m, ("alice@example.org", "x")),
                         (c, ("alice@example.org", "60"))):
        client.id += 1
        client.send("\t".join(["FULL", str(client.id)] + list(args)))
        try:
            assert client.line() == []
        except EOFError:
            pass
    assert "FULL: only on the master socket" in inst.log("authd")


def closed(client):
    """True once authd has closed the client's connection."""
    try:
        return client.line() == []
    except (EOFError, ConnectionResetError):
        return True


def test_oversized_auth_fields_close_only_that_connection():
    """service, rip and the mechanism come from a worker that may be
    compromised: too long, they end that connection (service, rip) or
    fail as an unknown mechanism, never authd."""
    inst, c = setup()
    resp = "AGFsaWNlQGV4YW1wbGUub3JnAGNvcnJlY3QgaG9yc2U="
    for field in ("service=" + "s" * 65, "rip=" + "1" * 129):
        bad = AuthClient(inst.path("run", "auth.sock"))
        bad.send("AUTH\t1\tPLAIN\t%s\tsecured=1\tresp=%s" % (field, resp))
        assert closed(bad), field
    # the longest allowed still work
    r = c.auth("PLAIN", b"\0alice@example.org\0correct horse",
               service="s" * 64, rip="1" * 128)
    assert r[0] == "OK", r
    r = c.auth("X" * 5000)
    assert r[0] == "FAIL" and "unsupported" in r[2], r
    assert c.plain("alice@example.org", "correct horse")[0] == "OK"
    assert inst.procs["authd"].poll() is None
    log = inst.log("authd")
    assert "service field too long" in log and "rip field too long" in log


def test_scram_long_client_nonce_is_answered():
    """A client nonce of thousands of bytes makes a server-first message
    whose base64 is longer than a small buffer: authd must answer it."""
    inst, c = setup()
    first = ("n,,n=alice@example.org,r=" + "x" * 3000).encode()
    r = c.auth("SCRAM-SHA-256", first, secured=False)
    assert r[0] == "CONT", r[:2]
    sf = base64.b64decode(r[2]).decode()
    assert sf.startswith("r=" + "x" * 3000), sf[:40]
    assert c.plain("alice@example.org", "correct horse")[0] == "OK"
    assert inst.procs["authd"].poll() is None


def test_cancelled_exchange_gets_no_late_reply():
    """CANCEL ends an exchange waiting for a CONT with no reply, then or
    when it would have timed out: the next request on the connection gets
    its own answer, not the old exchange's FAIL."""
    inst, c = setup("auth_session_timeout = 1s")
    assert c.auth("LOGIN")[:2] == ["CONT", "1"]
    c.send("CANCEL\t1")
    c.send("CANCEL\t77")        # no such exchange (it ended): ignored
    # a second exchange left open: its timeout FAIL comes after the one
    # exchange 1 would have had, so waiting for it is waiting long enough
    assert c.auth("LOGIN")[:2] == ["CONT", "2"]
    r = c.line()
    assert r[:2] == ["FAIL", "2"] and "timed out" in r[2], r
    assert c.request("USER", "alice@example.org")[0] == "USER"
    assert c.plain("alice@example.org", "correct horse")[0] == "OK"


def test_cancel_drops_a_pending_password_check():
    """A CANCEL that comes while a hash worker checks the password: the
    answer is dropped, and the next login gets its own."""
    inst, c = setup("auth_workers = 1")
    resp = base64.b64encode(b"\0alice@example.org\0correct horse").decode()
    # one write, so that the CANCEL is read before the check ends
    c.send("AUTH\t1\tPLAIN\tservice=imap\trip=127.0.0.1\tsecured=1\t"
           "resp=%s\nCANCEL\t1" % resp)
    c.id = 1
    # one worker takes jobs in order: an answer to 1 would come first
    assert c.plain("alice@example.org", "correct horse")[0] == "OK"
    assert c.request("USER", "alice@example.org")[0] == "USER"
    assert inst.log("authd").count("result=ok") == 1


def test_smtpd_auth_after_a_cancelled_exchange_on_the_same_worker():
    """A client cancels AUTH LOGIN ("*") and quits; smtpd leaves the
    exchange open on its authd connection.  The next client of that
    worker must log in: right away, and after authd timed the old
    exchange out and sent a FAIL for it (which the worker must skip, not
    take for the answer to the new login)."""
    port = free_port()
    inst = Instance("queue_delivery = no\nauth_allow_plaintext = yes\n"
                    "auth_session_timeout = 1s\n")
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org", "alice pw")
    inst.add_conf("[smtpd]\nlisten = 127.0.0.1:%d\nprefork = 1\n"
                  "max_procs = 1\n[authd]\nlog_level = debug\n" % port)
    inst.start_chapard()
    wait_for(lambda: inst.service("smtpd") is not None and
             inst.idle("smtpd") >= 1, 20, "smtpd worker")
    resp = base64.b64encode(b"\0alice@example.org\0alice pw").decode()

    def cancel_then_quit():
        c = smtplib.SMTP("127.0.0.1", port, timeout=30)
        c.ehlo("x")
        assert c.docmd("AUTH LOGIN")[0] == 334
        assert c.docmd("*")[0] == 501
        c.quit()

    def login():
        c = smtplib.SMTP("127.0.0.1", port, timeout=30)
        c.ehlo("x")
        code, text = c.docmd("AUTH PLAIN " + resp)
        c.quit()
        return code, text

    cancel_then_quit()
    assert login()[0] == 235
    cancel_then_quit()
    # smtpd's SASL exchange tells authd (CANCEL), so authd holds nothing
    # open to time out behind the next login's back; a late reply would
    # be skipped anyway (cancelled_exchange_gets_no_late_reply)
    wait_for(lambda: inst.log("chapard").count("cancelled") >= 2, 20,
             "authd to hear both cancels")
    code, text = login()
    assert code == 235, (code, text)
    assert "reply for another request" not in inst.log("chapard")
    assert "timed out" not in inst.log("chapard")
