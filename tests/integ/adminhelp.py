"""Helpers for the tests of the chapar command (test_admin.py,
test_mailbox_admin.py): catching its unprivileged child at work."""
import errno
import os
import subprocess

import chapartest
from chapartest import wait_for


def _children(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/status" % p) as f:
                if "\nPPid:\t%d\n" % pid in f.read():
                    out.append(int(p))
        except OSError:
            pass
    return out


def _holds(pid, path):
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == path:
                return True
    except OSError:
        pass
    return False


def held_child(inst, fifo, *args, owner=None):
    """Run "chapar ARGS" with a FIFO planted at fifo, where the command's
    child will open it: the child blocks reading it, and is looked at in
    /proc meanwhile.  Returns (ids, root, result): ids maps "Uid", "Gid"
    (lists: real, effective, saved, filesystem), "Groups", "NoNewPrivs",
    "CapPrm" and "CapEff" to the child's; root is where its root directory is; result is the
    finished command's CompletedProcess."""
    os.mkfifo(fifo, 0o644)
    if owner is not None:
        os.chown(fifo, owner, -1)
    cmd = inst.prefix + [os.path.join(chapartest.BUILD, "bin", "chapar"),
                         "-c", inst.conf] + list(args)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    wfd = None
    try:
        # a writer may open without waiting once a reader waits: from then
        # on the child is in read(), with nothing to read till we close
        def writer():
            nonlocal wfd
            try:
                wfd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                return True
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                return False
        wait_for(writer, 20, "a process to open %s" % fifo)
        found = []

        def reader():
            found[:] = [c for c in _children(p.pid) if _holds(c, fifo)]
            return found
        wait_for(reader, 20, "a child of chapar reading %s" % fifo)
        child = found[0]
        ids = {}
        with open("/proc/%d/status" % child) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Uid", "Gid", "Groups", "NoNewPrivs"):
                    ids[k] = [int(x) for x in v.split()]
                elif k in ("CapPrm", "CapEff"):
                    ids[k] = int(v, 16)
        root = os.readlink("/proc/%d/root" % child)
    finally:
        if wfd is not None:
            os.close(wfd)
        out, err = p.communicate(timeout=60)
        os.unlink(fifo)
    return ids, root, subprocess.CompletedProcess(cmd, p.returncode, out,
                                                  err)


def assert_dropped_to(ids, uid, gid):
    assert ids["Uid"] == [uid] * 4, ids
    assert ids["Gid"] == [gid] * 4, ids
    assert ids["Groups"] == [gid], ids
    assert ids["NoNewPrivs"] == [1], ids
    # nothing left to get root back with
    assert ids["CapPrm"] == 0 and ids["CapEff"] == 0, ids
