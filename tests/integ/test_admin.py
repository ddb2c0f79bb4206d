"""The chapar admin command, through its real command line."""
import json
import os
import stat

import chapartest
from adminhelp import assert_dropped_to, held_child
from chapartest import Instance


def test_init_creates_instance_and_is_idempotent():
    inst = Instance()
    for d in ("db", "mail", "run", "tls"):
        assert os.path.isdir(inst.path(d)), d
    assert os.path.isfile(inst.path("tls", "cert.pem"))
    key = os.stat(inst.path("tls", "key.pem"))
    assert stat.S_IMODE(key.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(inst.path("db")).st_mode) == 0o700
    before = open(inst.conf).read()
    r = inst.chapar("init", inst.dir, conf=False)
    assert r.returncode == 0, r.stderr
    assert "not touching it" in r.stdout
    assert open(inst.conf).read() == before


def test_self_signed_certificate_is_valid_x509():
    import subprocess
    inst = Instance()
    out = subprocess.run(["openssl", "x509", "-in", inst.path("tls", "cert.pem"),
                          "-noout", "-text"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "prime256v1" in out.stdout or "P-256" in out.stdout
    assert "DNS:localhost" in out.stdout
    mod = subprocess.run(["openssl", "pkey", "-in", inst.path("tls", "key.pem"),
                          "-pubout"], capture_output=True, text=True)
    pub = subprocess.run(["openssl", "x509", "-in", inst.path("tls", "cert.pem"),
                          "-pubkey", "-noout"], capture_output=True, text=True)
    assert mod.stdout == pub.stdout, "key does not match certificate"


def test_config_check_and_show():
    inst = Instance()
    assert "ok" in inst.ok("config", "check")
    show = inst.ok("config", "show")
    assert "default_quota = 2G" in show
    assert "data_dir = %s" % inst.dir in show
    assert "db_dir = ${data_dir}/db" in show
    assert "db_dir = %s/db" % inst.dir in inst.ok("config", "show", "-x")
    nx = inst.ok("config", "show", "-nx")
    assert "data_dir = %s" % inst.dir in nx and "db_dir" not in nx
    nondef = inst.ok("config", "show", "-n")
    assert "default_quota" not in nondef
    assert "data_dir" in nondef


def test_config_errors_name_file_line_and_form():
    inst = Instance()
    inst.add_conf("default_quata = 1G")
    r = inst.chapar("config", "check")
    assert r.returncode != 0
    lines = open(inst.conf).read().splitlines()
    assert "%s:%d:" % (inst.conf, len(lines)) in r.stderr, r.stderr
    assert 'did you mean "default_quota"' in r.stderr, r.stderr
    # a bad value: the expected form is named
    with open(inst.conf, "w") as f:
        f.write("data_dir = %s\ndefault_quota = lots\n" % inst.dir)
    r = inst.chapar("config", "check")
    assert r.returncode != 0
    assert ":2: default_quota" in r.stderr and "expected a size" in r.stderr
    with open(inst.conf, "w") as f:
        f.write("data_dir = %s\n[nosuch]\nlog_level = debug\n" % inst.dir)
    r = inst.chapar("config", "check")
    assert ':2: unknown service "nosuch"' in r.stderr, r.stderr


def test_config_refuses_world_writable_file():
    inst = Instance()
    os.chmod(inst.conf, 0o666)
    r = inst.chapar("config", "check")
    assert r.returncode != 0 and "anyone may write" in r.stderr


def test_domains_add_list_del_idn():
    inst = Instance()
    inst.ok("domain", "add", "Example.ORG")
    inst.ok("domain", "add", "bücher.example")
    r = inst.chapar("domain", "add", "example.org")
    assert r.returncode == 1 and "already exists" in r.stderr
    out = inst.ok("domain", "list")
    assert "example.org" in out and "xn--bcher-kva.example" in out
    js = json.loads(inst.ok("domain", "list", "--json"))
    assert sorted(d["domain"] for d in js) == ["example.org",
                                              "xn--bcher-kva.example"]
    r = inst.chapar("domain", "add", "bad..domain")
    assert r.returncode == 2 and "not a valid domain" in r.stderr
    inst.ok("domain", "del", "xn--bcher-kva.example")
    assert "bcher" not in inst.ok("domain", "list")
    r = inst.chapar("domain", "del", "nosuch.example")
    assert r.returncode == 1


def test_domain_with_users_cannot_be_deleted():
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org")
    r = inst.chapar("domain", "del", "example.org")
    assert r.returncode == 1 and "still has users" in r.stderr
    inst.ok("user", "purge", "alice@example.org", "--force")
    inst.ok("domain", "del", "example.org")


def test_user_lifecycle():
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    r = inst.chapar("user", "add", "bob@nosuch.example", "--password-stdin",
                    input="pw\n")
    assert r.returncode == 1 and "no such domain" in r.stderr
    inst.add_user("Alice@Example.org", "pw1", "--quota", "500M",
                  "--name", "Alice Liddell")
    r = inst.chapar("user", "add", "alice@example.org", "--password-stdin",
                    input="x\n")
    assert r.returncode == 1 and "already exists" in r.stderr
    show = inst.ok("user", "show", "alice@example.org")
    assert "500M" in show and "Alice Liddell" in show
    assert "active" in show and "example.org/alice" in show
    assert "pw1" not in show
    js = json.loads(inst.ok("user", "list", "--json"))
    assert js[0]["address"] == "alice@example.org"
    assert js[0]["quota"] == "500M"
    inst.ok("user", "quota", "alice@example.org", "1G")
    assert "1G" in inst.ok("user", "show", "alice@example.org")
    inst.ok("user", "disable", "alice@example.org")
    assert "disabled" in inst.ok("user", "show", "alice@example.org")
    inst.ok("user", "enable", "alice@example.org")
    # soft delete keeps mail, restore brings the account back (the store
    # made as delivery makes it: the mail user's)
    inst.ok("mailbox", "list", "alice@example.org")
    assert os.path.isdir(inst.path("mail", "example.org", "alice", "cur"))
    inst.ok("user", "del", "alice@example.org")
    assert "alice" not in inst.ok("user", "list")
    assert "deleted" in inst.ok("user", "list", "--all")
    assert os.path.isdir(inst.path("mail", "example.org", "alice"))
    inst.ok("user", "restore", "alice@example.org")
    assert "active" in inst.ok("user", "show", "alice@example.org")
    # purge needs a deleted user (or --force) and removes the mail
    r = inst.chapar("user", "purge", "alice@example.org")
    assert r.returncode == 1 and "not deleted" in r.stderr
    inst.ok("user", "del", "alice@example.org")
    inst.ok("user", "purge", "alice@example.org")
    assert not os.path.exists(inst.path("mail", "example.org", "alice"))
    r = inst.chapar("user", "show", "alice@example.org")
    assert r.returncode == 1 and "no such user" in r.stderr


def test_user_purge_expired_respects_grace():
    inst = Instance("user_delete_grace = 0s")
    inst.ok("domain", "add", "example.org")
    inst.add_user("old@example.org")
    inst.add_user("keep@example.org")
    inst.ok("user", "del", "old@example.org")
    out = inst.ok("user", "purge", "--expired")
    assert "1 expired user purged" in out
    assert "keep@example.org" in inst.ok("user", "list", "--all")
    assert "old@example.org" not in inst.ok("user", "list", "--all")
    inst2 = Instance()   # default grace: 30 days
    inst2.ok("domain", "add", "example.org")
    inst2.add_user("old@example.org")
    inst2.ok("user", "del", "old@example.org")
    assert "0 expired users purged" in inst2.ok("user", "purge", "--expired")


def test_password_is_never_taken_from_the_command_line():
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    # no terminal and no --password-stdin: refused, nothing created
    r = inst.chapar("user", "add", "u@example.org", input="")
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    r = inst.chapar("user", "add", "u@example.org", "--password", "x")
    assert r.returncode == 2 and "unknown option" in r.stderr
    assert "u@example.org" not in inst.ok("user", "list")


def test_alias_destinations_are_normalised():
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    inst.add_user("bob@example.org")
    inst.ok("alias", "add", "team@example.org", "Bob@Example.ORG",
            "x@BÜCHER.example")
    inst.ok("alias", "add", "team@example.org", "bob@example.org")
    out = inst.ok("alias", "list")
    assert out.count("ob@example.org") == 1, out
    assert "x@xn--bcher-kva.example" in out
    inst.ok("alias", "del", "team@example.org", "BOB@example.org")
    assert "ob@example.org" not in inst.ok("alias", "list")
    r = inst.chapar("user", "quota", "bob@example.org", "2000T")
    assert r.returncode == 2 and "1024T" in r.stderr


def test_user_add_checks_before_asking_for_a_password():
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    inst.add_user("bob@example.org")
    # no --password-stdin and no terminal: the real problem is reported
    r = inst.chapar("user", "add", "bob@example.org")
    assert r.returncode == 1 and "already exists" in r.stderr, r.stderr
    r = inst.chapar("user", "add", "bob@nosuch.example")
    assert r.returncode == 1 and "no such domain" in r.stderr, r.stderr


def test_aliases_and_catchall():
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    inst.add_user("alice@example.org")
    inst.ok("alias", "add", "sales@example.org", "alice@example.org",
            "boss@elsewhere.example")
    inst.ok("alias", "add", "@example.org", "alice@example.org")
    out = inst.ok("alias", "list")
    assert "sales@example.org" in out and "boss@elsewhere.example" in out
    assert "@example.org" in out
    inst.ok("alias", "del", "sales@example.org", "boss@elsewhere.example")
    assert "boss@" not in inst.ok("alias", "list")
    inst.ok("alias", "del", "sales@example.org")
    assert "sales@" not in inst.ok("alias", "list")
    r = inst.chapar("alias", "add", "x@nosuch.example", "alice@example.org")
    assert r.returncode == 1 and "no such domain" in r.stderr


def test_errors_are_one_line_with_exit_status():
    inst = Instance()
    r = inst.chapar("frobnicate")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    r = inst.chapar("user", "show", "not an address")
    assert r.returncode == 2 and "not a valid address" in r.stderr
    r = inst.chapar("-c", "/nonexistent/chapar.conf", "config", "check",
                    conf=False)
    assert r.returncode == 1 and "cannot read" in r.stderr


def test_tls_check_reports_on_configured_certificates():
    import subprocess
    inst = Instance()
    out = inst.ok("tls", "check")
    assert "key matches certificate" in out
    assert "self-signed" in out and "localhost" in out
    # a key that belongs to another certificate is an error
    other = inst.path("other.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", other],
                   check=True, capture_output=True)
    inst.add_conf("tls_key_file = %s" % other)
    r = inst.chapar("tls", "check")
    assert r.returncode == 1 and "does not match" in r.stdout, r.stdout


def test_database_work_runs_in_a_child_that_gave_up_root():
    """The user database is authd's to write: chapar opens it only in a
    child that is db_dir's owner for good (real, effective, saved and file
    system ids; setuid(0) impossible) and chrooted into db_dir, so a
    DB_CONFIG authd planted there is read with authd's rights only."""
    chapartest.need_root()
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    st = os.stat(inst.path("db"))
    assert st.st_uid != 0
    ids, root, r = held_child(inst, inst.path("db", "DB_CONFIG"),
                              "domain", "list", owner=st.st_uid)
    assert r.returncode == 0 and "example.org" in r.stdout, r
    assert_dropped_to(ids, st.st_uid, st.st_gid)
    assert root == inst.path("db"), root


def _queue(inst):
    """An empty queue, as enqueue(8) makes it."""
    import pwd
    owner = pwd.getpwnam("chapar-queue") if os.geteuid() == 0 else None
    for d in ("", "todo", "tmp", "info", "mess"):
        os.makedirs(inst.path("queue", d), exist_ok=True)
        if owner:
            os.chown(inst.path("queue", d), owner.pw_uid, owner.pw_gid)
            os.chmod(inst.path("queue", d), 0o700)
    return owner


def test_queue_work_runs_in_a_child_that_gave_up_root():
    chapartest.need_root()
    inst = Instance()
    owner = _queue(inst)
    ids, root, r = held_child(inst, inst.path("queue", "todo",
                                              "18F3A2C00F4A11B2C3"),
                              "queue", "list", owner=owner.pw_uid)
    assert r.returncode == 0, r
    assert_dropped_to(ids, owner.pw_uid, owner.pw_gid)
    assert root == inst.path("queue"), root
    # a link queue_user planted as qmgr's FIFO is not written through
    victim = inst.path("victim")
    with open(victim, "w") as f:
        f.write("root's file\n")
    os.symlink(victim, inst.path("queue", "wake"))
    r = inst.chapar("queue", "flush")
    assert r.returncode != 0, r
    with open(victim) as f:
        assert f.read() == "root's file\n"


def test_queue_listing_escapes_what_peers_wrote():
    """An envelope's sender and the replies of remote servers are text
    from outside: UTF-8 passes the queue's checks, so C1 controls (CSI)
    and bidirectional overrides could reach the admin's terminal."""
    inst = Instance()
    owner = _queue(inst)
    qid = "18F3A2C00F4A11B2C4"
    env = inst.path("queue", "todo", qid)
    with open(env, "w", encoding="utf-8") as f:
        f.write("v=1\tsender=a\u202eb@example.org\tsmtputf8=1\tsize=5\t"
                "time=1700000000\n"
                "rcpt=bob@example.net\treply=550 \u009b2Jgone\u202e\n")
    if owner:
        os.chown(env, owner.pw_uid, owner.pw_gid)
    out = inst.ok("queue", "list")
    assert qid in out, out
    assert "\u202e" not in out and "\\xe2\\x80\\xae" in out, out
    out = inst.ok("queue", "show", qid)
    for bad in ("\u009b", "\u202e", "\x1b"):
        assert bad not in out, out
    assert "550 \\xc2\\x9b2Jgone" in out, out
    js = json.loads(inst.ok("--json", "queue", "list"))
    assert js[0]["sender"] == "a\u202eb@example.org"
    raw = inst.ok("--json", "queue", "show", qid)
    assert "\u009b" not in raw and "\\u009b" in raw, raw


def test_overlong_arguments_are_refused_not_fatal():
    """Sizes the admin types are checked, never a reason to abort."""
    inst = Instance()
    inst.ok("domain", "add", "example.org")
    inst.ok("alias", "add", "info@example.org", "bob@example.org")
    r = inst.chapar("alias", "del", "info@example.org", "x" * 5000)
    assert r.returncode == 2 and "at most" in r.stderr, r
    inst.add_user("alice@example.org")
    os.mkdir(inst.path("md"))
    r = inst.chapar("import", "alice@example.org", inst.path("md"),
                    "F" * 5000)
    assert r.returncode == 2 and "too long" in r.stderr, r
