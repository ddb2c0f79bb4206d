"""DKIM signing by remote(8), checked by an independent implementation:
Debian's python3-dkim (with python3-nacl for Ed25519)."""
import re

import chapartest
from chapartest import wait_for

from test_qmgr import log, sendmail
from test_remote import remote_instance


def records(text):
    """{selector: TXT value} from chapar dkim keygen's output."""
    out = {}
    for m in re.finditer(r'^(\S+)\._domainkey\.\S+ IN TXT \((.*)\)$', text,
                         re.M):
        out[m.group(1)] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    return out


def test_dkim_signatures_verify_with_python_dkim():
    chapartest.need_root()
    try:
        import dkim
    except ImportError:
        raise chapartest.Skip("python3-dkim is not installed")
    inst, sink, dns, port = remote_instance()
    try:
        keys = records(inst.ok("dkim", "keygen", "example.org", "t1"))
        assert set(keys) == {"t1-rsa", "t1-ed25519"}, keys
        assert "t1-rsa" in inst.ok("dkim", "list")
        # remote reads its keys when it starts
        inst.stop("chapard")
        inst.start_chapard()
        wait_for(lambda: "2 DKIM keys" in log(inst), 20, "remote")
        r = sendmail(inst, "-f", "bob@example.org", "carol@example.net")
        assert r.returncode == 0, r
        wait_for(lambda: len(sink.messages) == 1, 20, "the delivery")
        data = sink.messages[0]["data"]
        assert data.count(b"DKIM-Signature:") == 2

        def dnsfunc(name, timeout=5):
            sel = name.decode().split("._domainkey.")[0]
            return keys[sel].encode()
        d = dkim.DKIM(data)
        for idx in range(2):
            assert d.verify(idx=idx, dnsfunc=dnsfunc), idx
        # a changed body no longer verifies
        bad = data.replace(b"Hello.", b"Hallo.")
        try:
            ok = dkim.DKIM(bad).verify(idx=0, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            ok = False      # "body hash mismatch"
        assert not ok
        # rotation: the old keys stop signing, new ones start
        out = inst.ok("dkim", "rotate", "example.org", "t2")
        assert "retired t1-rsa.key" in out and "t2-rsa" in records(out)
    finally:
        sink.stop()
        dns.stop()
