"""chapar mailbox, reindex, quota, import and export on a user's store."""
import json
import os
import shutil
import subprocess

import chapartest
from adminhelp import assert_dropped_to, held_child
from chapartest import Instance

MBOX = (b"From bob@example.net Thu Nov 26 10:00:00 2026\n"
        b"From: bob@example.net\n"
        b"Subject: one\n"
        b"Status: RO\n"
        b"X-Status: AF\n"
        b"\n"
        b"first body\n"
        b">From the start of a line\n"
        b">>From twice\n"
        b"\n"
        b"\n"
        b"From carol@example.net Fri Nov 27 11:30:00 2026\n"
        b"Subject: two\n"
        b"\n"
        b"second body, no flags\r\n"
        b"\n")


def instance():
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org")
    return inst


def folders(inst):
    return {f["folder"]: f for f in
            json.loads(inst.ok("--json", "mailbox", "list",
                               "alice@example.org"))}


def cur(inst, folder=""):
    d = inst.path("mail", "example.org", "alice", folder, "cur")
    out = []
    for n in sorted(os.listdir(d)):
        with open(os.path.join(d, n), "rb") as f:
            out.append((n, f.read()))
    return out


def test_mailbox_verbs():
    inst = instance()
    inst.ok("mailbox", "create", "alice@example.org", "Work/2026")
    inst.ok("mailbox", "create", "alice@example.org", "Sent", "\\Sent")
    inst.ok("mailbox", "create", "alice@example.org",
            "\u0646\u0627\u0645\u0647\u200c\u0647\u0627")
    f = folders(inst)
    assert set(f) == {"INBOX", "Work", "Work/2026", "Sent",
                      "\u0646\u0627\u0645\u0647\u200c\u0647\u0627"}, f
    assert f["Sent"]["special"] == "\\Sent"
    assert os.path.isdir(inst.path("mail", "example.org", "alice",
                                   ".Work.2026", "cur"))
    # hostile names never make a path outside the user's directory
    for bad in ("../x", "a/../../b", "/etc", "a//b", ".."):
        r = inst.chapar("mailbox", "create", "alice@example.org", bad)
        assert r.returncode == 1, (bad, r)
    assert sorted(os.listdir(inst.path("mail", "example.org"))) == ["alice"]
    r = inst.chapar("mailbox", "create", "alice@example.org", "X", "\\Bogus")
    assert r.returncode == 2
    r = inst.chapar("mailbox", "create", "alice@example.org", "Work")
    assert r.returncode == 1 and "exists" in r.stderr
    inst.ok("mailbox", "rename", "alice@example.org", "Work", "Old")
    assert "Old/2026" in folders(inst)
    r = inst.chapar("mailbox", "delete", "alice@example.org", "Old")
    assert r.returncode == 1 and "child" in r.stderr, r.stderr
    inst.ok("mailbox", "delete", "alice@example.org", "Old/2026")
    inst.ok("mailbox", "delete", "alice@example.org", "Old")
    assert "Old" not in folders(inst)
    r = inst.chapar("mailbox", "list", "nobody@example.org")
    assert r.returncode == 1 and "no such user" in r.stderr


def test_import_mbox_and_export_round_trip():
    inst = instance()
    src = inst.path("in.mbox")
    with open(src, "wb") as f:
        f.write(MBOX)
    out = inst.ok("import", "alice@example.org", src)
    assert "imported 2 messages" in out, out
    msgs = cur(inst)
    assert len(msgs) == 2
    name, body = msgs[0]
    assert name.endswith(":2,FRS"), name      # X-Status A F, Status R
    assert body == (b"From: bob@example.net\r\nSubject: one\r\n\r\n"
                    b"first body\r\nFrom the start of a line\r\n"
                    b">From twice\r\n\r\n"), body
    assert msgs[1][1] == b"Subject: two\r\n\r\nsecond body, no flags\r\n"
    st = os.stat(inst.path("mail", "example.org", "alice", "cur", name))
    assert st.st_mtime != 0
    # back out as mbox: the same text, flags as Status/X-Status
    dst = inst.path("out.mbox")
    inst.ok("export", "alice@example.org", dst)
    with open(dst, "rb") as f:
        text = f.read()
    assert text.startswith(b"From MAILER-DAEMON Thu Nov 26 10:00:00 2026\n"
                           b"Status: RO\nX-Status: AF\n"
                           b"From: bob@example.net\n"), text
    assert b"\n>From the start of a line\n>>From twice\n" in text
    assert text.endswith(b"\nFrom MAILER-DAEMON Fri Nov 27 11:30:00 2026\n"
                         b"Subject: two\n\nsecond body, no flags\n\n")
    # and that file imports again into a folder, equal
    inst.ok("import", "alice@example.org", dst, "Again")
    again = cur(inst, ".Again")
    assert [m[1] for m in again] == [m[1] for m in msgs]
    assert again[0][0].endswith(":2,FRS")


def test_maildir_export_import_and_single_message():
    inst = instance()
    inst.ok("mailbox", "create", "alice@example.org", "Lists/a.b")
    eml = inst.path("one.eml")
    with open(eml, "wb") as f:
        f.write(b"Subject: lone\n\nbody\n")
    inst.ok("import", "alice@example.org", eml, "Lists/a.b")
    inst.ok("import", "alice@example.org", eml)
    dst = inst.path("backup")
    out = inst.ok("export", "alice@example.org", dst)
    assert "exported 2 messages" in out
    assert os.path.isdir(os.path.join(dst, ".Lists.a%2Eb", "cur"))
    # a fresh user gets the whole tree back
    inst.add_user("bob@example.org")
    inst.ok("import", "bob@example.org", dst)
    f = {x["folder"]: x for x in json.loads(
        inst.ok("--json", "mailbox", "list", "bob@example.org"))}
    assert f["INBOX"]["messages"] == "1" and \
        f["Lists/a.b"]["messages"] == "1", f
    d = inst.path("mail", "example.org", "bob", ".Lists.a%2Eb", "cur")
    with open(os.path.join(d, os.listdir(d)[0]), "rb") as fh:
        assert fh.read() == b"Subject: lone\r\n\r\nbody\r\n"


def test_reindex_and_quota():
    inst = instance()
    src = inst.path("in.mbox")
    with open(src, "wb") as f:
        f.write(MBOX)
    inst.ok("import", "alice@example.org", src)
    q = json.loads(inst.ok("--json", "quota", "show", "alice@example.org"))
    assert q[0]["messages"] == "2"
    size = sum(len(m[1]) for m in cur(inst))
    assert q[0]["bytes"] == str(size)
    assert q[0]["bytes_limit"] == str(2 << 30)
    # the index lost: rebuilt, UIDs kept
    shutil.rmtree(inst.path("mail", "example.org", "alice", "chapar-index"))
    out = inst.ok("reindex", "alice@example.org")
    assert "INBOX: 2 messages" in out and "uidnext" in out, out
    names = [m[0] for m in cur(inst)]
    assert ",U=1:" in names[0] and ",U=2:" in names[1]
    # an outside tool drops a message in new/: reindex takes it
    with open(inst.path("mail", "example.org", "alice", "new",
                        "1.outside.host"), "wb") as f:
        f.write(b"Subject: dropped\r\n\r\nx\r\n")
    assert "INBOX: 3 messages" in inst.ok("reindex", "alice@example.org",
                                           "INBOX")
    out = inst.ok("reindex", "alice@example.org", "--force")
    assert "INBOX: 3 messages" in out
    assert ",U=3:" in cur(inst)[2][0]
    out = inst.ok("--json", "quota", "recalc", "alice@example.org")
    assert json.loads(out)[0]["messages"] == "3"
    r = inst.chapar("quota", "show")
    assert r.returncode == 2


def test_store_work_runs_in_a_child_that_gave_up_root():
    """A store is written by delivery and by every session of its user:
    chapar opens it only in a child that is mail_user for good and
    chrooted into the user's directory, reached without following links
    and passed as a descriptor."""
    chapartest.need_root()
    import pwd
    inst = instance()
    inst.ok("mailbox", "list", "alice@example.org")
    mail = pwd.getpwnam("chapar-mail")
    home = inst.path("mail", "example.org", "alice")
    for args in (("mailbox", "list", "alice@example.org"),
                 ("quota", "recalc", "alice@example.org"),
                 ("export", "alice@example.org", inst.path("x.mbox"))):
        ids, root, r = held_child(inst, os.path.join(
            home, "chapar-index", "DB_CONFIG"), *args, owner=mail.pw_uid)
        assert r.returncode == 0, r
        assert_dropped_to(ids, mail.pw_uid, mail.pw_gid)
        assert root == home, root


def test_links_planted_in_a_store_are_not_followed():
    """A session of alice's (mail_user, chrooted into her directory) can
    leave links in her store that point into bob's: what chapar does for
    alice never reaches bob's mail, nor a home that is a link."""
    chapartest.need_root()
    inst = instance()
    inst.add_user("bob@example.org")
    inst.ok("mailbox", "create", "bob@example.org", "Secret")
    eml = inst.path("one.eml")
    with open(eml, "wb") as f:
        f.write(b"Subject: bob's secret\n\nbody\n")
    inst.ok("import", "bob@example.org", eml, "Secret")
    inst.ok("mailbox", "list", "alice@example.org")
    alice = inst.path("mail", "example.org", "alice")
    bob = inst.path("mail", "example.org", "bob")
    secret = os.path.join(bob, ".Secret")

    def bobs():
        d = os.path.join(secret, "cur")
        return sorted((n, open(os.path.join(d, n), "rb").read())
                      for n in os.listdir(d))
    before = bobs()
    assert len(before) == 1
    os.symlink(secret, os.path.join(alice, ".Evil"))
    os.symlink("../bob/.Secret", os.path.join(alice, ".Evil2"))
    for f in folders(inst).values():
        assert f["messages"] == "0", f
    for name in ("Evil", "Evil2"):
        dst = inst.path(name + ".mbox")
        inst.chapar("export", "alice@example.org", name, dst)
        assert not os.path.exists(dst) or b"secret" not in open(
            dst, "rb").read()
        inst.chapar("import", "alice@example.org", eml, name)
        inst.chapar("reindex", "alice@example.org", name)
    dst = inst.path("all")
    inst.ok("export", "alice@example.org", dst)
    for d, _, files in os.walk(dst):
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                assert b"secret" not in f.read(), n
    inst.ok("reindex", "alice@example.org")
    assert bobs() == before
    # a home that is a link, to another user's or out of mail_dir
    inst.add_user("carol@example.org")
    carol = inst.path("mail", "example.org", "carol")
    for target in (bob, "/etc"):
        if os.path.lexists(carol):
            os.unlink(carol)
        os.symlink(target, carol)
        for args in (("mailbox", "create", "carol@example.org", "X"),
                     ("import", "carol@example.org", eml),
                     ("quota", "show", "carol@example.org")):
            r = inst.chapar(*args)
            assert r.returncode == 1 and "mail directory" in r.stderr, r
    assert not os.path.exists(os.path.join(bob, ".X"))
    assert not os.path.exists("/etc/cur")
    assert bobs() == before
    # purge removes the link, never what it points to
    inst.ok("user", "del", "carol@example.org")
    inst.ok("user", "purge", "carol@example.org")
    assert not os.path.lexists(carol) and os.path.isdir(bob)
    inst.ok("user", "del", "alice@example.org")
    inst.ok("user", "purge", "alice@example.org")
    assert bobs() == before


def test_folder_names_with_control_characters_are_escaped():
    """A folder name may hold any character (the store writes controls as
    %XX); printed for a person, none may reach the terminal raw."""
    inst = instance()
    name = "Evil\x1b]0;owned\x07\x1b[2J\u009b31m\u202eX"
    inst.ok("mailbox", "create", "alice@example.org", name)
    out = inst.ok("mailbox", "list", "alice@example.org")
    for bad in ("\x1b", "\x07", "\u009b", "\u202e"):
        assert bad not in out, repr(out)
    assert "Evil\\x1b]0;owned\\x07\\x1b[2J\\xc2\\x9b31m\\xe2\\x80\\xaeX" in \
        out, out
    raw = inst.ok("--json", "mailbox", "list", "alice@example.org")
    assert "\u009b" not in raw and "\\u009b" in raw and "\\u001b" in raw
    assert name in folders(inst)
    for args in (("reindex", "alice@example.org"),
                 ("mailbox", "rename", "alice@example.org", name, name + "2"),
                 ("mailbox", "delete", "alice@example.org", name + "2"),
                 ("mailbox", "delete", "alice@example.org", name + "2")):
        r = inst.chapar(*args)
        for bad in ("\x1b", "\x07", "\u009b", "\u202e"):
            assert bad not in r.stdout + r.stderr, (args, r)
    # a backslash is escaped too, so the escapes cannot be forged
    inst.ok("mailbox", "create", "alice@example.org", "a\\x1b")
    assert "a\\x5cx1b" in inst.ok("mailbox", "list", "alice@example.org")


def test_long_lines_import_and_export_whole():
    """A line longer than the copy buffers (a base64 blob without line
    breaks, 300 kB) goes in and out unchanged; so does one longer than a
    line buffer (1.5 MB), which passes in pieces."""
    inst = instance()
    big = b"x" * 300000
    huge = b"y" * 1500000
    src = inst.path("long.mbox")
    with open(src, "wb") as f:
        f.write(b"From a@example.net Thu Nov 26 10:00:00 2026\n"
                b"Subject: long\n\n" + big + b"\n" + huge + b"\nend\n\n")
    assert "imported 1 messages" in inst.ok("import", "alice@example.org",
                                            src)
    (name, body), = cur(inst)
    assert body == b"Subject: long\r\n\r\n" + big + b"\r\n" + huge + \
        b"\r\nend\r\n"
    dst = inst.path("out.mbox")
    inst.ok("export", "alice@example.org", dst)
    with open(dst, "rb") as f:
        assert b"\n" + big + b"\n" + huge + b"\nend\n" in f.read()


def test_warnings_with_planted_text_reach_the_terminal_escaped():
    """A DB_CONFIG a session of the user left in the store makes Berkeley
    DB complain, quoting the planted text: the child's words reach the
    admin's terminal with the controls escaped."""
    inst = instance()
    inst.ok("mailbox", "list", "alice@example.org")
    with open(inst.path("mail", "example.org", "alice", "chapar-index",
                        "DB_CONFIG"), "wb") as f:
        f.write(b"bogus\x1b]0;owned\x07\x1b[2J\xc2\x9b31m x\n")
    r = subprocess.run([os.path.join(chapartest.BUILD, "bin", "chapar"),
                        "-c", inst.conf, "mailbox", "list",
                        "alice@example.org"], capture_output=True)
    assert r.returncode == 0, r
    assert b"bogus" in r.stderr, r
    for bad in (b"\x1b", b"\x07", b"\xc2\x9b"):
        assert bad not in r.stdout + r.stderr, r
    assert b"bogus\\x1b]0;owned\\x07\\x1b[2J\\xc2\\x9b31m" in r.stderr, r
