"""pop3d: POP3 (RFC 1939, 2449, 2595, 3206, 5034, 6856) with Python's
poplib, raw sockets for the hostile cases, and Debian's curl and
fetchmail."""
import base64
import os
import poplib
import shutil
import socket
import ssl
import subprocess
import time

import chapartest
from chapartest import Instance, free_port, wait_for

from test_local import lda, messages

M1 = (b"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\n"
      b"Subject: one\r\nMessage-ID: <p1@example.org>\r\n\r\n"
      b"first line\r\n.dot line\r\nlast line\r\n")
M2 = (b"From: Carol <carol@example.net>\r\nSubject: two\r\n\r\n"
      b"hello\r\n")


def p_instance(extra="", users=("alice@example.org", "bob@example.org")):
    """[pop3] with plaintext allowed on one port, [pop3s] implicit TLS,
    and a [pop3] listener that insists on STLS."""
    inst = Instance(extra)
    inst.ok("domain", "add", "example.org")
    for u in users:
        inst.add_user(u, "pw " + u.split("@")[0])
    inst.plain, inst.strict, inst.tls = free_port(), free_port(), free_port()
    inst.add_conf("""
[pop3]
listen = 127.0.0.1:%d
prefork = 1
auth_allow_plaintext = yes

[pop3s]
listen_tls = 127.0.0.1:%d
listen = 127.0.0.1:%d
prefork = 1
""" % (inst.plain, inst.tls, inst.strict))
    inst.start_chapard()
    wait_for(lambda: inst.service("pop3") is not None and
             inst.idle("pop3") >= 1 and inst.service("pop3s") is not None
             and inst.idle("pop3s") >= 1, 20, "pop3 workers")
    return inst


def stored(inst, user="alice@example.org"):
    """The messages of the INBOX in UID order (",U=" in the name; the
    names' own order is not the UIDs')."""
    import re
    return [m for _, m in sorted(
        messages(inst, user),
        key=lambda nm: int(re.search(r",U=(\d+)", nm[0]).group(1)))]


def by_uid(cur, uid):
    """The file of the message with this UID in a cur/ directory."""
    return [n for n in os.listdir(cur) if ",U=%d:" % uid in n][0]


def deliver(inst, user, data):
    r = lda(inst, "-d", user, "-f", "bob@example.org", data=data)
    assert r.returncode == 0, r


def login(inst, user="alice@example.org"):
    p = poplib.POP3("127.0.0.1", inst.plain, timeout=20)
    p.user(user)
    p.pass_("pw " + user.split("@")[0])
    return p


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def test_pop3_commands_and_update_state():
    inst = p_instance()
    deliver(inst, "alice@example.org", M1)
    deliver(inst, "alice@example.org", M2)
    # as stored: the delivery agent added Return-Path and Delivered-To
    s1, s2 = stored(inst)
    assert s1.endswith(M1) and s2.endswith(M2)
    p = login(inst)
    assert p.stat() == (2, len(s1) + len(s2))
    resp, listing, _ = p.list()
    assert listing == [b"1 %d" % len(s1), b"2 %d" % len(s2)], listing
    assert p.list(2) == b"+OK 2 %d" % len(s2)
    resp, lines, octets = p.retr(1)
    # poplib undoes the dot-stuffing; what came is the stored message
    body = b"\r\n".join(lines) + b"\r\n"
    assert body == s1, body
    assert resp == b"+OK %d octets" % len(body)
    # TOP: the header, the empty line and n body lines
    resp, lines, _ = p.top(1, 1)
    assert lines[-2:] == [b"", b"first line"], lines
    resp, lines, _ = p.top(1, 0)
    assert lines[-1] == b"" and b"Subject: one" in lines
    resp, uids, _ = p.uidl()
    assert len(uids) == 2 and all(len(u.split()[1]) == 16 for u in uids)
    one = p.uidl(1)
    # errors
    for bad in ("RETR 3", "RETR 0", "RETR x", "DELE 9", "LIST 3",
                "TOP 1", "TOP x 1"):
        try:
            p._shortcmd(bad)
            assert False, bad
        except poplib.error_proto as e:
            assert str(e).startswith("b'-ERR"), (bad, e)
    assert p.dele(1).startswith(b"+OK")
    try:
        p.retr(1)
        assert False, "a deleted message was retrieved"
    except poplib.error_proto:
        pass
    assert p.stat() == (1, len(s2))
    p.rset()
    assert p.stat() == (2, len(s1) + len(s2))
    p.dele(1)
    p.noop()
    # a message delivered now waits for the next session
    deliver(inst, "alice@example.org", b"Subject: three\r\n\r\nlate\r\n")
    assert p.stat()[0] == 1
    assert p.quit().startswith(b"+OK")
    # UPDATE: message 1 is gone, 2 was not retrieved so it is not seen
    left = messages(inst, "alice@example.org")
    assert len(left) == 2 and not any(b"Subject: one" in m for _, m in left)
    p = login(inst)
    assert p.stat()[0] == 2
    resp, uids, _ = p.uidl()
    # the unique-id is stable: message "two" keeps its id
    assert one.split()[2] not in [u.split()[1] for u in uids]
    p.quit()


def test_pop3_uidl_stable_seen_and_dropped_session():
    inst = p_instance()
    deliver(inst, "alice@example.org", M1)
    deliver(inst, "alice@example.org", M2)
    p = login(inst)
    first = p.uidl()[1]
    p.retr(2)
    p.dele(1)
    # the connection drops: nothing happens (RFC 1939 6)
    p.sock.shutdown(socket.SHUT_RDWR)
    p.sock.close()
    wait_for(lambda: "session of alice@example.org ended" in
             inst.log("chapard"), 10, "the session's end")
    p = login(inst)
    assert p.uidl()[1] == first
    assert p.stat()[0] == 2
    p.retr(2)
    p.quit()
    # RETR set \Seen at QUIT: the file name carries S (Maildir ",S")
    names = [n for n, _ in messages(inst, "alice@example.org")]
    seen = [n for n in names if ":2," in n and "S" in n.split(":2,")[1]]
    assert len(seen) == 1, names


def test_pop3_one_session_per_mailbox_and_imap_style_changes():
    inst = p_instance()
    deliver(inst, "alice@example.org", M1)
    deliver(inst, "alice@example.org", M2)
    p = login(inst)
    # another client changes the flags of message 2 (Maildir: the
    # file's name): RETR still finds it
    cur = inst.path("mail", "example.org", "alice", "cur")
    second = by_uid(cur, 2)
    os.rename(os.path.join(cur, second), os.path.join(
        cur, second.split(":2,")[0] + ":2,FS"))
    assert p.retr(2)[1][-1] == b"hello"
    # a second POP3 session: [IN-USE] (RFC 2449 8.1.1)
    q = poplib.POP3("127.0.0.1", inst.plain, timeout=20)
    q.user("alice@example.org")
    try:
        q.pass_("pw alice")
        assert False, "two sessions"
    except poplib.error_proto as e:
        assert b"[IN-USE]" in e.args[0], e
    # another user is not blocked
    login(inst, "bob@example.org").quit()
    # deliveries go on during the session
    deliver(inst, "alice@example.org", b"Subject: three\r\n\r\nx\r\n")
    # the message is removed behind our back (an IMAP expunge):
    # RETR says so, the session goes on
    os.unlink(os.path.join(cur, by_uid(cur, 1)))
    try:
        p.retr(1)
        assert False
    except poplib.error_proto as e:
        assert b"-ERR" in e.args[0]
    assert p.noop().startswith(b"+OK")
    p.quit()
    # the lock went with the session; the flags another client set
    # stay, and the late delivery is there now
    p = login(inst)
    assert p.stat()[0] == 2
    p.quit()
    names = [n for n, _ in messages(inst, "alice@example.org")]
    assert any(n.endswith(":2,FS") for n in names), names


def test_pop3_capa_stls_and_implicit_tls():
    inst = p_instance()
    deliver(inst, "alice@example.org", M1)
    # the strict listener: no USER or SASL before STLS
    p = poplib.POP3("127.0.0.1", inst.strict, timeout=20)
    caps = p.capa()
    for c in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
              "STLS", "UTF8", "IMPLEMENTATION"):
        assert c in caps, caps
    assert "USER" not in caps and "SASL" not in caps, caps
    try:
        p.user("alice@example.org")
        assert False
    except poplib.error_proto as e:
        assert b"[AUTH]" in e.args[0]
    p.stls(ctx())
    caps = p.capa()
    assert "USER" in caps and "STLS" not in caps, caps
    assert "SCRAM-SHA-256" in caps["SASL"], caps
    p.user("alice@example.org")
    p.pass_("pw alice")
    assert p.stat()[0] == 1
    p.quit()
    # implicit TLS (995-style)
    p = poplib.POP3_SSL("127.0.0.1", inst.tls, context=ctx(), timeout=20)
    p.user("alice@example.org")
    p.pass_("pw alice")
    assert p.retr(1)[0].startswith(b"+OK")
    p.quit()


def test_pop3_sasl_plain_and_scram():
    inst = p_instance()
    deliver(inst, "alice@example.org", M1)
    s = socket.create_connection(("127.0.0.1", inst.plain), 20)
    f = s.makefile("rwb")

    def cmd(line):
        f.write(line + b"\r\n")
        f.flush()
        return f.readline()
    assert f.readline().startswith(b"+OK")
    assert cmd(b"AUTH PLAIN !!!").startswith(b"-ERR [AUTH]")
    assert cmd(b"AUTH PLAIN " + base64.b64encode(
        b"\0alice@example.org\0wrong")).startswith(b"-ERR [AUTH]")
    assert cmd(b"AUTH PLAIN") == b"+ \r\n"
    assert cmd(b"*").startswith(b"-ERR")
    r = cmd(b"AUTH PLAIN " + base64.b64encode(
        b"\0alice@example.org\0pw alice"))
    assert r.startswith(b"+OK maildrop locked"), r
    assert cmd(b"STAT") == b"+OK 1 %d\r\n" % len(stored(inst)[0])
    assert cmd(b"QUIT").startswith(b"+OK")
    s.close()
    # SCRAM-SHA-256 (RFC 7677) with a client written here
    import hashlib
    import hmac
    import os as _os
    s = socket.create_connection(("127.0.0.1", inst.plain), 20)
    f = s.makefile("rwb")
    assert f.readline().startswith(b"+OK")
    cnonce = base64.b64encode(_os.urandom(18)).decode()
    first_bare = "n=alice@example.org,r=" + cnonce
    r = cmd(b"AUTH SCRAM-SHA-256 " +
            base64.b64encode(("n,," + first_bare).encode()))
    assert r.startswith(b"+ "), r
    server_first = base64.b64decode(r[2:].strip()).decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", b"pw alice",
                                 base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", "sha256").digest()
    skey = hashlib.sha256(ckey).digest()
    final_bare = "c=biws,r=" + attrs["r"]
    auth_msg = ",".join([first_bare, server_first, final_bare]).encode()
    sig = hmac.new(skey, auth_msg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    r = cmd(base64.b64encode((final_bare + ",p=" +
                              base64.b64encode(proof).decode()).encode()))
    # server-final (v=...) as a continuation, then our empty answer
    assert r.startswith(b"+ "), r
    r = cmd(b"")
    assert r.startswith(b"+OK maildrop locked"), r
    assert cmd(b"QUIT").startswith(b"+OK")
    s.close()


def test_pop3_hostile_input():
    inst = p_instance()
    deliver(inst, "alice@example.org", M1)
    s = socket.create_connection(("127.0.0.1", inst.plain), 20)
    f = s.makefile("rwb")
    assert f.readline().startswith(b"+OK")
    # pipelined garbage, an over-long line, wrong-state commands,
    # a NUL: each its own -ERR, in order
    f.write(b"RETR 1\r\nSTAT\r\nBLAH\r\n" + b"X" * 5000 + b"\r\n" +
            b"US\0R x\r\nLIST\r\nNOOP\r\n")
    f.flush()
    got = [f.readline() for _ in range(7)]
    assert all(g.startswith(b"-ERR") for g in got), got
    assert b"too long" in got[3], got
    # RFC 1939 5: those are commands of the TRANSACTION state
    assert b"STAT belongs to the TRANSACTION state" in got[1], got
    # ten errors end the session
    for _ in range(5):
        f.write(b"WHAT\r\n")
    f.flush()
    rest = f.read()
    assert b"-ERR too many errors" in rest, rest
    s.close()
    # a login that fails does not crash anything, and then works
    p = poplib.POP3("127.0.0.1", inst.plain, timeout=20)
    p.user("alice@example.org")
    try:
        p.pass_("nope")
        assert False
    except poplib.error_proto as e:
        assert b"-ERR [AUTH]" in e.args[0]
    p.quit()
    login(inst).quit()


def test_pop3_bare_lf_message_and_big_mailbox_listing():
    """A message stored with bare LF by an outside tool goes out with
    CRLF, its size as LIST said; 2000 messages list at once."""
    inst = p_instance()
    d = inst.path("mail", "example.org", "alice")
    deliver(inst, "alice@example.org", M2)     # makes the maildir
    raw = b"Subject: lf\n\n.a\nb\n"
    name = "1700000000.outside.host"
    with open(os.path.join(d, "new", name), "wb") as fh:
        fh.write(raw)
    p = login(inst)
    n, size = p.stat()
    assert n == 2
    listing = dict(l.split() for l in p.list()[1])
    resp, lines, octets = p.retr(2)
    got = b"\r\n".join(lines) + b"\r\n"
    assert got == b"Subject: lf\r\n\r\n.a\r\nb\r\n", got
    assert int(listing[b"2"]) == len(got), (listing, len(got))
    p.quit()
    # many messages: an mbox imported, then listed
    mbox = inst.path("big.mbox")
    with open(mbox, "wb") as fh:
        for i in range(2000):
            fh.write(b"From x@y Thu Jan  1 00:00:00 2026\n"
                     b"Subject: m%d\n\nbody %d\n\n" % (i, i))
    inst.ok("import", "alice@example.org", mbox)
    p = login(inst)
    assert p.stat()[0] == 2002
    assert len(p.list()[1]) == 2002 and len(p.uidl()[1]) == 2002
    p.quit()


def test_pop3_trash_mode_and_login_delay():
    inst = p_instance("pop3_delete = trash\npop3_login_delay = 3s\n"
                      "pop3_retr_seen = no\n")
    deliver(inst, "alice@example.org", M1)
    p = login(inst)
    assert "LOGIN-DELAY" in p.capa()
    p.retr(1)
    p.dele(1)
    p.quit()
    assert messages(inst, "alice@example.org") == []
    trash = messages(inst, "alice@example.org", ".Trash")
    assert len(trash) == 1 and b"Subject: one" in trash[0][1]
    # not \Seen: pop3_retr_seen = no
    assert "S" not in trash[0][0].split(":2,")[1]
    # logging in again at once: [LOGIN-DELAY]
    q = poplib.POP3("127.0.0.1", inst.plain, timeout=20)
    q.user("alice@example.org")
    try:
        q.pass_("pw alice")
        assert False
    except poplib.error_proto as e:
        assert b"[LOGIN-DELAY]" in e.args[0], e
    time.sleep(3.2)
    login(inst).quit()


def test_pop3_with_curl_and_fetchmail():
    missing = [c for c in ("curl", "fetchmail") if shutil.which(c) is None]
    if missing:
        raise chapartest.Skip("%s not installed" % " and ".join(missing))
    inst = p_instance()
    deliver(inst, "alice@example.org", M1)
    deliver(inst, "alice@example.org", M2)
    s1, s2 = stored(inst)
    r = subprocess.run(["curl", "-s", "--user", "alice@example.org:pw "
                        "alice", "pop3://127.0.0.1:%d/1" % inst.plain],
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == s1, r
    r = subprocess.run(["curl", "-s", "-k", "--user",
                        "alice@example.org:pw alice",
                        "pop3s://127.0.0.1:%d/" % inst.tls],
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout.splitlines() == [
        b"1 %d" % len(s1), b"2 %d" % len(s2)], r
    out = inst.path("fetched.mbox")
    rc = inst.path("fetchmailrc")
    with open(rc, "w") as fh:
        fh.write('poll 127.0.0.1 service %d protocol pop3 user '
                 '"alice@example.org" password "pw alice" sslproto '
                 '"" keep mda "cat >> %s"\n' % (inst.plain, out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=inst.dir)
    r = subprocess.run(["fetchmail", "-f", rc, "--nosyslog",
                        "--pidfile", inst.path("fetchmail.pid")],
                       capture_output=True, timeout=60, env=env)
    assert r.returncode == 0, r
    with open(out, "rb") as fh:
        got = fh.read()
    assert b"Subject: one" in got and b"Subject: two" in got, got
    # keep: the messages stay; UIDL lets fetchmail skip them now
    assert len(messages(inst, "alice@example.org")) == 2
