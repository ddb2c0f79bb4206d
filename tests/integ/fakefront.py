#!/usr/bin/python3
"""A front that lies, for test_front.test_a_lying_front_is_killed: chapard
runs it as a service's front_program.  Each start takes the next trick
from the file fakefront.plan beside the configuration and plays it on the
status socket (descriptor 3), as a compromised smtpfront could:

  nohello   a client before HELLO
  dir       a directory where a client belongs
  listener  its listening socket
  udp       a UDP socket
  outbound  a TCP connection it made itself (not from the listener)
  conn      asks to admit a client, as a worker does
  bigdata   a real client with more bytes than a front may pass
  good      greets a real client, reads its line and passes it properly

then reads chapard's messages until it is killed or chapard goes."""
import os
import socket
import struct
import sys

HELLO, CONN, FRONT_PASS = 1, 2, 12


def esc(v):
    return (v.replace("\\", "\\\\").replace("\t", "\\t")
             .replace("\n", "\\n").replace("\r", "\\r").replace("\0", "\\0"))


def send(st, mtype, fields, fd=None):
    payload = "\t".join(k + "=" + esc(v) for k, v in fields)
    data = struct.pack("<HH", 1, mtype) + payload.encode("latin-1")
    anc = []
    if fd is not None:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))]
    st.sendmsg([data], anc)


def main():
    conf = sys.argv[sys.argv.index("-c") + 1]
    plan = os.path.join(os.path.dirname(conf), "fakefront.plan")
    with open(plan) as f:
        tricks = f.read().split()
    trick = tricks[0] if tricks else "idle"
    with open(plan, "w") as f:
        f.write(" ".join(tricks[1:]))
    st = socket.socket(fileno=3)
    lsock = socket.socket(fileno=4)
    lsock.setblocking(True)
    port = lsock.getsockname()[1]
    if trick != "nohello":
        send(st, HELLO, [("pid", str(os.getpid()))])
    keep = []
    if trick == "nohello":
        c = socket.create_connection(("127.0.0.1", port))
        a, _ = lsock.accept()
        keep += [c, a]
        send(st, FRONT_PASS, [("id", "1"), ("data", "")], a.fileno())
    elif trick == "dir":
        fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
        send(st, FRONT_PASS, [("id", "1"), ("data", "")], fd)
    elif trick == "listener":
        send(st, FRONT_PASS, [("id", "1"), ("data", "")], 4)
    elif trick == "udp":
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        keep.append(u)
        send(st, FRONT_PASS, [("id", "1"), ("data", "")], u.fileno())
    elif trick == "outbound":
        c = socket.create_connection(("127.0.0.1", port))
        a, _ = lsock.accept()         # not left for the next front
        keep += [c, a]
        send(st, FRONT_PASS, [("id", "1"), ("data", "")], c.fileno())
    elif trick == "conn":
        send(st, CONN, [("ip", "192.0.2.1"), ("listener", "0")])
    elif trick == "bigdata":
        c = socket.create_connection(("127.0.0.1", port))
        a, _ = lsock.accept()
        keep += [c, a]
        send(st, FRONT_PASS, [("id", "1"), ("data", "x" * 5000)],
             a.fileno())
    elif trick == "good":
        a, _ = lsock.accept()
        a.sendall(b"220 fake front\r\n")
        line = b""
        while not line.endswith(b"\n"):
            b = a.recv(1)
            if not b:
                break
            line += b
        send(st, FRONT_PASS, [("id", "7"), ("data", line.decode())],
             a.fileno())
        keep.append(a)
    while True:
        data, anc, flags, addr = st.recvmsg(20000, 1024)
        if not data:
            return
        t = struct.unpack("<HH", data[:4])[1]
        sys.stderr.write("fakefront: got type %d: %r\n" % (t, data[4:]))
        sys.stderr.flush()
        if t == 7:              # QUIT
            return
        if t == 13:             # FRONT_TAKEN: our copy goes
            for k in keep:
                k.close()
            keep = []


main()
