"""The resolver (common/dns/dns.c, libunbound) against a DNS server of the
test's own on loopback, through "chapar dns lookup"."""
import re

from chapartest import Instance

from fakedns import FakeDNS

ZONE = {
    "example.net": {"MX": ["20 mx2.example.net.", "10 mx1.example.net.",
                           "10 mx1b.example.net."],
                    "TXT": ["v=spf1 -all", ["part one ", "part two"]]},
    "mx1.example.net": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
    "mx1b.example.net": {"A": ["127.0.0.2"]},
    "mx2.example.net": {"A": ["127.0.0.3"]},
    "nullmx.example": {"MX": ["0 ."]},
    "implicit.example": {"A": ["127.0.0.9"]},
    "nothing.example": {"TXT": ["just text"]},
    "7.1.0.10.in-addr.arpa": {"PTR": ["mail.example.net."]},
    "site.test": {"A": ["127.0.0.5"]},
}


def dns_instance():
    dns = FakeDNS(ZONE, servfail={"broken.example"})
    inst = Instance("dns_servers = %s\n" % dns.server)
    return inst, dns


def lookup(inst, *args):
    return inst.chapar("dns", "lookup", *args)


def test_dns_mx_order_addresses_and_txt():
    inst, dns = dns_instance()
    try:
        seen = set()
        for _ in range(12):
            r = lookup(inst, "mx", "example.net")
            assert r.returncode == 0, r.stderr
            lines = r.stdout.splitlines()
            assert len(lines) == 3 and lines[2] == \
                "20 mx2.example.net 127.0.0.3", lines
            seen.add(tuple(lines[:2]))
        # the two of preference 10 come first, in either order (RFC 5321
        # 5.1), and IPv6 before IPv4
        assert seen <= {("10 mx1.example.net ::1 127.0.0.1",
                         "10 mx1b.example.net 127.0.0.2"),
                        ("10 mx1b.example.net 127.0.0.2",
                         "10 mx1.example.net ::1 127.0.0.1")}
        assert len(seen) == 2, seen
        r = lookup(inst, "txt", "example.net")
        assert sorted(r.stdout.splitlines()) == [
            '"part one part two"', '"v=spf1 -all"'], r.stdout
        assert lookup(inst, "a", "mx1.example.net").stdout == "127.0.0.1\n"
        assert lookup(inst, "addr", "mx1.example.net").stdout == \
            "::1\n127.0.0.1\n"
        # a private network's reverse zone goes to the servers too
        assert lookup(inst, "ptr", "7.1.0.10.in-addr.arpa").stdout == \
            "mail.example.net.\n"
        # .test is an ordinary zone for the resolver (RFC 6761 names are
        # not cut off locally)
        assert lookup(inst, "a", "site.test").stdout == "127.0.0.5\n"
    finally:
        dns.stop()


def test_dns_null_implicit_missing_and_failing():
    inst, dns = dns_instance()
    try:
        r = lookup(inst, "mx", "nullmx.example")
        assert r.returncode == 0 and "null MX" in r.stdout, r
        r = lookup(inst, "mx", "implicit.example")
        assert r.stdout == "0 implicit.example 127.0.0.9\n", r
        r = lookup(inst, "mx", "nothing.example")
        assert r.returncode == 1 and "no such record" in r.stderr, r
        r = lookup(inst, "mx", "nowhere.example")
        assert r.returncode == 1 and "no such domain" in r.stderr, r
        r = lookup(inst, "mx", "broken.example")
        assert r.returncode == 75 and "temporary failure" in r.stderr, r
    finally:
        dns.stop()


def test_dns_domain_records_needed_and_present():
    """chapar dns DOMAIN: MX, SPF, DKIM and DMARC records from the
    configuration, each checked against DNS."""
    dns = FakeDNS({"good.example": {"MX": ["10 mail.good.example."],
                                    "TXT": ["v=spf1 mx -all"]},
                   "_dmarc.good.example": {"TXT": ["v=DMARC1; p=none"]},
                   "bare.example": {"MX": ["10 other.example."]}},
                  servfail={"broken.example"})
    inst = Instance("dns_servers = %s\n" % dns.server)
    with open(inst.conf) as f:
        text = f.read()
    with open(inst.conf, "w") as f:
        f.write(re.sub(r"(?m)^hostname = .*$", "hostname = mail.good.example",
                       text))
    try:
        keys = {}
        sel = None
        for line in inst.ok("dkim", "keygen", "good.example",
                            "s1").splitlines():
            if "._domainkey." in line:
                sel = line.split("._domainkey.")[0]
                keys[sel] = "".join(line.split('"')[1::2])
        assert set(keys) == {"s1-rsa", "s1-ed25519"}, keys
        # only the RSA key is published
        txt = keys["s1-rsa"]
        dns.resolver.zone["s1-rsa._domainkey.good.example"] = {
            "TXT": [[txt[i:i + 250] for i in range(0, len(txt), 250)]]}
        out = inst.ok("dns", "good.example").splitlines()
        assert "good.example. IN MX 10 mail.good.example." in out, out
        # each record line is followed by its check
        got = {}
        for i, ln in enumerate(out[:-1]):
            if not ln.startswith(";") and \
                    out[i + 1].startswith(";   in DNS now:"):
                got[ln.split(" IN ")[0] + " " + ln.split(" IN ")[1][:3]] = \
                    out[i + 1][len(";   in DNS now: "):]
        assert got == {"good.example. MX ": "yes",
                       "good.example. TXT": "yes: v=spf1 mx -all",
                       "s1-rsa._domainkey.good.example. TXT": "yes",
                       "s1-ed25519._domainkey.good.example. TXT": "MISSING",
                       "_dmarc.good.example. TXT": "yes: v=DMARC1; p=none"}, \
            out
        out = inst.ok("dns", "bare.example")
        assert "in DNS now: MISSING (other hosts)" in out, out
        assert "no DKIM key for bare.example" in out, out
        assert out.count("in DNS now: MISSING") == 3, out
        out = inst.ok("dns", "broken.example")
        assert "cannot tell" in out, out
    finally:
        dns.stop()
