"""enqueue: the queue's only writer, spoken to with its frame protocol."""
import os
import signal
import socket
import struct
import threading
import time

import chapartest
from chapartest import Instance, wait_for

ENV = (b"v=1\tsender=bob@example.net\tclient=192.0.2.7\thelo=mx.example.net\n"
       b"rcpt=alice@example.org\tnotify=SUCCESS,FAILURE\n"
       b"rcpt=carol@example.net\n")


def frame(t, p=b""):
    return t + struct.pack(">I", len(p)) + p


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(30)
        self.s.connect(path)
        self.buf = b""

    def send(self, t, p=b""):
        self.s.sendall(frame(t, p))

    def reply(self):
        while len(self.buf) < 5 or \
                len(self.buf) < 5 + struct.unpack(">I", self.buf[1:5])[0]:
            b = self.s.recv(65536)
            if not b:
                raise EOFError
            self.buf += b
        n = struct.unpack(">I", self.buf[1:5])[0]
        t, p = self.buf[:1], self.buf[5:5 + n]
        self.buf = self.buf[5 + n:]
        return t, p

    def submit(self, env=ENV, data=b"Subject: x\r\n\r\nhello\r\n"):
        self.send(b"E", env)
        t, p = self.reply()
        if t != b"I":
            return t, p
        for i in range(0, len(data), 70000):
            self.send(b"D", data[i:i + 70000])
        self.send(b"C")
        return self.reply()

    def close(self):
        self.s.close()


def queue_instance(conf=""):
    inst = Instance(conf)
    inst.start("enqueue", ready=lambda: os.path.exists(
        inst.path("run", "enqueue.sock")))
    return inst


def files(inst, sub):
    out = []
    for dirpath, dirs, names in os.walk(inst.path("queue", sub)):
        out += [os.path.join(dirpath, n) for n in names]
    return sorted(out)


def test_enqueue_commits_message_and_envelope():
    inst = queue_instance()
    c = Client(inst.path("run", "enqueue.sock"))
    body = b"Subject: test\r\n\r\n" + b"0123456789" * 20000 + b"\r\n"
    t, qid = c.submit(data=body)
    assert t == b"K", (t, qid)
    qid = qid.decode()
    mess = inst.path("queue", "mess", qid[-1], qid)
    with open(mess, "rb") as f:
        assert f.read() == body
    with open(inst.path("queue", "todo", qid), "rb") as f:
        env = f.read().split(b"\n")
    head = dict(x.split(b"=", 1) for x in env[0].split(b"\t"))
    assert head[b"sender"] == b"bob@example.net"
    assert head[b"size"] == str(len(body)).encode()
    assert abs(int(head[b"time"]) - time.time()) < 60
    assert env[1] == b"rcpt=alice@example.org\tnotify=SUCCESS,FAILURE"
    assert env[2] == b"rcpt=carol@example.net" and env[3] == b""
    assert files(inst, "tmp") == []
    # the next message on the same connection gets another id
    t, qid2 = c.submit()
    assert t == b"K" and qid2.decode() != qid
    c.close()
    assert "%s: from=<bob@example.net>, size=%d, nrcpt=2, " \
        "client=192.0.2.7 (queued)" % (qid, len(body)) in inst.log("enqueue")


def test_enqueue_refuses_and_cleans_up():
    inst = queue_instance("message_size_limit = 100K")
    path = inst.path("run", "enqueue.sock")
    c = Client(path)
    for bad in (b"", b"v=1\tsender=bob@example.net\n",
                b"v=2\tsender=\nrcpt=a@b.example\n",
                b"v=1\tsender=not an address\nrcpt=a@b.example\n",
                b"v=1\tsender=\nrcpt=a@b.example\tbogus=1\n",
                b"v=1\tsender=\nrcpt=a@b.example",
                b"v=1\tsender=\nrcpt=a@b.example\x00\n"):
        t, p = c.submit(env=bad)
        assert t == b"F" and p.startswith(b"554 5.6.0"), (bad, t, p)
    # over the limit (plus room for a Received field): refused at commit
    t, p = c.submit(data=b"x" * (300 * 1024))
    assert t == b"F" and p.startswith(b"552 5.3.4"), p
    # data without an envelope, a commit without a message
    c.send(b"D", b"stray")
    assert c.reply()[0] == b"F"
    c.send(b"C")
    assert c.reply()[0] == b"F"
    # aborted, and dropped in the middle: nothing stays
    c.send(b"E", ENV)
    assert c.reply()[0] == b"I"
    c.send(b"D", b"half a message")
    c.send(b"A")
    c.close()
    c = Client(path)
    c.send(b"E", ENV)
    assert c.reply()[0] == b"I"
    c.send(b"D", b"half a message")
    c.close()
    wait_for(lambda: files(inst, "tmp") == [], 10, "tmp/ to empty")
    assert files(inst, "todo") == [] and files(inst, "mess") == []
    # a frame of a server, or garbage: the connection is closed
    c = Client(path)
    c.s.sendall(b"Z\x00\x00\x00\x00")
    try:
        assert c.s.recv(10) == b""
    except ConnectionResetError:
        pass
    c.close()


def test_enqueue_concurrent_clients():
    inst = queue_instance()
    path = inst.path("run", "enqueue.sock")
    ids, errors = [], []

    def run():
        try:
            c = Client(path)
            for _ in range(20):
                t, p = c.submit()
                if t != b"K":
                    errors.append(p)
                ids.append(p)
            c.close()
        except Exception as e:     # noqa: BLE001 - reported below
            errors.append(repr(e))
    ts = [threading.Thread(target=run) for _ in range(20)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert errors == [], errors[:3]
    assert len(set(ids)) == 400
    assert len(files(inst, "todo")) == 400 and len(files(inst, "mess")) == 400


def test_enqueue_kill9_leaves_no_half_message():
    chapartest.need_root()
    inst = queue_instance()
    path = inst.path("run", "enqueue.sock")
    c = Client(path)
    assert c.submit()[0] == b"K"
    c.send(b"E", ENV)
    assert c.reply()[0] == b"I"
    c.send(b"D", b"never finished")
    inst.stop("enqueue", signal.SIGKILL)
    c.close()
    assert len(files(inst, "tmp")) == 1
    inst.start("enqueue", ready=lambda: "ready" in inst.log("enqueue")
               .split("removed")[-1])
    wait_for(lambda: files(inst, "tmp") == [], 10, "tmp/ cleaned")
    assert "removed 1 unfinished files from tmp/" in inst.log("enqueue")
    assert len(files(inst, "todo")) == 1
    # as root it runs as queue_user, chrooted into the queue
    pid = inst.procs["enqueue"].pid
    with open("/proc/%d/status" % pid) as f:
        uids = [ln for ln in f if ln.startswith("Uid:")][0].split()[1:]
    import pwd
    assert set(uids) == {str(pwd.getpwnam("chapar-queue").pw_uid)}
    assert os.readlink("/proc/%d/root" % pid) == inst.path("queue")
    st = os.stat(inst.path("queue", "todo"))
    assert st.st_uid == pwd.getpwnam("chapar-queue").pw_uid
    assert oct(st.st_mode & 0o777) == "0o700"


def test_enqueue_removes_entries_a_crash_cut_short():
    """What a power cut between the renames and the flush may leave: an
    entry in todo/ whose message or envelope is short.  No client heard
    K for it; enqueue removes it at start and keeps the whole ones."""
    inst = queue_instance()
    c = Client(inst.path("run", "enqueue.sock"))
    ids = [c.submit()[1].decode() for _ in range(3)]
    c.close()
    inst.stop("enqueue")
    short, empty, good = ids
    with open(inst.path("queue", "mess", short[-1], short), "r+b") as f:
        f.truncate(5)
    open(inst.path("queue", "todo", empty), "w").close()
    inst.start("enqueue", ready=lambda: inst.log("enqueue").count(
        "ready:") == 2)
    log = inst.log("enqueue")
    assert "%s: removed from todo/, never acknowledged: message file " \
        "shorter or longer than size=" % short in log, log
    assert "%s: removed from todo/, never acknowledged" % empty in log
    assert "todo/: 3 entries checked, 2 incomplete removed" in log
    assert [os.path.basename(p) for p in files(inst, "todo")] == [good]
    assert [os.path.basename(p) for p in files(inst, "mess")] == [good]
