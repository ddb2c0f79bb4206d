"""A DNS server for tests, on loopback, answering from a dict (dnslib,
from Debian's python3-dnslib; run under /usr/bin/python3).

    dns = FakeDNS({"example.net": {"MX": ["10 mx1.example.net.",
                                          "20 mx2.example.net."]},
                   "mx1.example.net": {"A": ["127.0.0.1"]}},
                  servfail={"broken.example"})
    ... dns.port ...
    dns.stop()

Names not in the dict are NXDOMAIN; a name with other types is NODATA
for the rest.  Every query is kept in dns.queries as (name, type)."""
import socket
import threading

from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSServer


class _Resolver(BaseResolver):
    def __init__(self, zone, servfail):
        self.zone = {k.lower().rstrip("."): v for k, v in zone.items()}
        self.servfail = {s.lower().rstrip(".") for s in servfail}
        self.queries = []

    def resolve(self, request, handler):
        reply = request.reply()
        q = request.q
        name = str(q.qname).lower().rstrip(".")
        qtype = QTYPE[q.qtype]
        self.queries.append((name, qtype))
        if name in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if name not in self.zone:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rdata in self.zone[name].get(qtype, []):
            if qtype == "TXT":
                rdata = " ".join('"%s"' % p for p in
                                 ([rdata] if isinstance(rdata, str)
                                  else rdata))
            reply.add_answer(*RR.fromZone("%s. 300 IN %s %s" %
                                          (name, qtype, rdata)))
        return reply


class _Quiet:
    """dnslib's logger, silenced."""
    def __getattr__(self, name):
        return lambda *a, **k: None


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class FakeDNS:
    def __init__(self, zone, servfail=()):
        self.resolver = _Resolver(zone, servfail)
        for _ in range(20):     # a port free for both UDP and TCP
            self.port = _free_port()
            try:
                self.udp = DNSServer(self.resolver, port=self.port,
                                     address="127.0.0.1", tcp=False,
                                     logger=_Quiet())
                self.tcp = DNSServer(self.resolver, port=self.port,
                                     address="127.0.0.1", tcp=True,
                                     logger=_Quiet())
                break
            except OSError:
                continue
        self.udp.start_thread()
        self.tcp.start_thread()

    @property
    def queries(self):
        return self.resolver.queries

    @property
    def server(self):
        return "127.0.0.1@%d" % self.port

    def stop(self):
        self.udp.stop()
        self.tcp.stop()
