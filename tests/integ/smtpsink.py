"""An SMTP server for tests that receives and keeps what it is sent, with
replies chosen by the recipient's local part:

    refuse*   550 5.1.1 at RCPT
    later*    451 4.2.0 at RCPT the first time, then 250
    busy*     452 4.2.1 at RCPT, always
    long*     550 5.7.1 at RCPT, three lines of 1000 characters each
    ctl*      as later*, the 451's text with a TAB and a control byte
and, for the whole server, caps (EHLO keywords), a reply to DATA, a
delay before that reply (slow), and drop_in_data (close the connection
in the middle of the message).  connections, active and max_active count
sessions: all, now, and the most at once.

    sink = SMTPSink(port=..., host="127.0.0.1")
    ... sink.messages: [{"from":..., "rcpts": [...], "data": bytes,
                         "params": "..."}]
    sink.stop()"""
import socket
import socketserver
import threading
import time


class _Handler(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        sink = self.server.sink
        with sink.lock:
            sink.connections += 1
            sink.active += 1
            sink.max_active = max(sink.max_active, sink.active)
        try:
            self.session(sink)
        finally:
            with sink.lock:
                sink.active -= 1

    def session(self, sink):
        self.send("220 sink.test ESMTP")
        mail, rcpts = None, []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            sink.commands.append(cmd)
            if verb == "EHLO":
                caps = ["sink.test"] + sink.caps
                for c in caps[:-1]:
                    self.send("250-" + c)
                self.send("250 " + caps[-1])
            elif verb == "HELO":
                self.send("250 sink.test")
            elif verb == "MAIL":
                mail, rcpts = cmd[10:].split(">", 1), []
                self.send("250 2.1.0 ok")
            elif verb == "RCPT":
                addr = cmd[8:].split(">", 1)[0].lstrip("<")
                local = addr.split("@")[0]
                if local.startswith("refuse"):
                    self.send("550 5.1.1 <%s>: no such user" % addr)
                elif local.startswith("long"):
                    for k in range(3):
                        self.send("550%s5.7.1 <%s> %d %s" % (
                            "-" if k < 2 else " ", addr, k,
                            "\\" * 500 + "L" * 500))
                elif local.startswith("busy"):
                    self.send("452 4.2.1 <%s>: busy, try later" % addr)
                elif local.startswith("later") and \
                        sink.seen.get(addr, 0) == 0:
                    sink.seen[addr] = 1
                    self.send("451 4.2.0 <%s>: try again" % addr)
                elif local.startswith("ctl") and \
                        sink.seen.get(addr, 0) == 0:
                    sink.seen[addr] = 1
                    self.send("451 4.2.0 <%s>:\ttry\x01 again" % addr)
                else:
                    rcpts.append(addr)
                    self.send("250 2.1.5 ok")
            elif verb == "DATA":
                if not rcpts:
                    self.send("554 5.5.1 no recipients")
                    continue
                self.send("354 go on")
                data = b""
                while True:
                    ln = self.rfile.readline(1 << 20)
                    if not ln or ln == b".\r\n":
                        break
                    if sink.drop_in_data and len(data) > 100:
                        return
                    if ln.startswith(b"."):
                        ln = ln[1:]
                    data += ln
                if sink.slow:
                    time.sleep(sink.slow)
                sink.messages.append({"time": time.time(),
                                      "from": mail[0].lstrip("<"),
                                      "params": mail[1].strip(),
                                      "rcpts": rcpts, "data": data})
                self.send(sink.data_reply)
            elif verb == "RSET":
                mail, rcpts = None, []
                self.send("250 2.0.0 ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 bye")
                return
            else:
                self.send("502 5.5.2 not here")


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class SMTPSink:
    def __init__(self, port, host="127.0.0.1",
                 caps=("PIPELINING", "SIZE 10000000", "8BITMIME", "DSN")):
        self.caps = list(caps)
        self.messages = []
        self.commands = []
        self.seen = {}
        self.connections = 0
        self.active = self.max_active = 0
        self.lock = threading.Lock()
        self.slow = 0
        self.drop_in_data = False
        self.data_reply = "250 2.0.0 queued as SINK1"
        self.server = (_Server6 if ":" in host else _Server)((host, port),
                                                             _Handler)
        self.server.sink = self
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
