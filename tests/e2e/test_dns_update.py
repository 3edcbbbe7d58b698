"""`vdsync dns-mx`: RFC 2136 UPDATE of a domain's MX at a real BIND 9
primary (tests/e2e/dnsd.py), TSIG-signed or not, SOA discovery of the
zone, refusals, and hostile or silent servers faked here. Every run of the
binary is bounded and checked for sanitizer reports.
VDSYNC overrides the binary (default BUILD/vdsync)."""

import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, BUILD  # noqa: E402
from dnsd import Named  # noqa: E402

VDSYNC = os.environ.get("VDSYNC", os.path.join(BUILD, "vdsync"))
MX = "mail.vdmail.test"
MX_LINE = "10 mail.vdmail.test."
SAN_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
               "runtime error:")

r = Runner("dns_update")
ns = Named(zones={"abc.example": "key", "open.example": "open"})
ns.start()


def run(*args, limit=30):
    """Runs VDSYNC dns-mx ARGS; returns (rc, stdout, stderr, seconds)."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    start = time.time()
    p = subprocess.run([VDSYNC, "dns-mx"] + list(args), capture_output=True,
                       text=True, timeout=limit, env=env)
    took = time.time() - start
    for m in SAN_MARKERS:
        assert m not in p.stderr, "sanitizer report:\n" + p.stderr[-4000:]
    return p.returncode, p.stdout, p.stderr, took


def named(*args):
    return ["--server", "127.0.0.1", "--port", str(ns.port)] + list(args)


def signed(*args):
    return named("--mx", MX, "--key", ns.key_text(), *args)


# ---- against BIND ----

@r.test
def signed_update_adds_mx():
    assert ns.query("d1.abc.example", "MX") == []
    rc, out, err, _ = run(*signed("--zone", "abc.example", "d1.abc.example"))
    assert rc == 0, err
    assert out == ("mx d1.abc.example -> 10 %s at 127.0.0.1: updated\n"
                   % MX), out
    assert ns.query("d1.abc.example", "MX") == [MX_LINE]


@r.test
def rerun_changes_nothing():
    for _ in range(2):
        rc, _, err, _ = run(*signed("--zone", "abc.example",
                                    "d2.abc.example"))
        assert rc == 0, err
    assert ns.query("d2.abc.example", "MX") == [MX_LINE]


@r.test
def zone_found_by_soa_below_apex():
    # Also reads the key from tsig-keygen's file.
    rc, _, err, _ = run(*named("--mx", MX, "--key-file", ns.key_file,
                               "new.abc.example"))
    assert rc == 0, err
    assert ns.query("new.abc.example", "MX") == [MX_LINE]


@r.test
def zone_found_by_soa_at_apex():
    rc, _, err, _ = run(*signed("--pref", "20", "abc.example"))
    assert rc == 0, err
    assert ns.query("abc.example", "MX") == ["20 mail.vdmail.test."]


@r.test
def wrong_secret_is_refused():
    bad = "%s %s %s" % (ns.key_name, ns.key_alg,
                        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=")
    rc, _, err, _ = run(*named("--mx", MX, "--key", bad, "--zone",
                               "abc.example", "bad.abc.example"))
    assert rc == 1, (rc, err)
    assert "BADSIG" in err or "NOTAUTH" in err, err
    assert ns.query("bad.abc.example", "MX") == []


@r.test
def unsigned_update_to_key_zone_is_refused():
    rc, _, err, _ = run(*named("--mx", MX, "--zone", "abc.example",
                               "nokey.abc.example"))
    assert rc == 1 and "REFUSED" in err, (rc, err)
    assert ns.query("nokey.abc.example", "MX") == []


@r.test
def unsigned_update_to_open_zone():
    rc, _, err, _ = run(*named("--mx", MX, "shop.open.example"))
    assert rc == 0, err
    assert ns.query("shop.open.example", "MX") == [MX_LINE]


@r.test
def name_outside_every_zone():
    # SOA discovery: the server serves no zone for it.
    rc, _, err, _ = run(*signed("x.nowhere.test"))
    assert rc == 1 and "SOA lookup" in err and "REFUSED" in err, (rc, err)
    # A zone the server does not serve.
    rc, _, err, _ = run(*signed("--zone", "example", "y.abc.example"))
    assert rc == 1 and "NOTAUTH" in err, (rc, err)
    # A name outside the zone given: caught before sending.
    rc, _, err, _ = run(*signed("--zone", "abc.example", "z.other.test"))
    assert rc == 1 and "not within zone" in err, (rc, err)
    assert ns.query("y.abc.example", "MX") == []


@r.test
def query_prints_mx():
    rc, out, err, _ = run(*named("--query", "d1.abc.example"))
    assert rc == 0, err
    assert out == "10 mail.vdmail.test\n", out
    rc, out, err, _ = run(*named("--query", "none.abc.example"))
    assert rc == 0 and out == "" and "no MX" in err, (rc, out, err)


@r.test
def update_over_ipv6():
    if not ns.v6:
        print("(no ::1 here: skipped)")
        return
    rc, _, err, _ = run("--server", "::1", "--port", str(ns.port),
                        "--mx", MX, "--key", ns.key_text(), "v6.abc.example")
    assert rc == 0, err
    assert ns.query("v6.abc.example", "MX") == [MX_LINE]


@r.test
def bad_arguments():
    for args in ([], ["--port", "0", "a.abc.example"],
                 ["--bogus", "1", "a.abc.example"],
                 ["a.abc.example"],  # no --mx
                 ["--mx", MX, "--key", "k hmac-md5 AAAA", "a.abc.example"],
                 ["--mx", MX, "--key", "k hmac-sha256 !!!", "a.abc.example"],
                 ["--mx", MX, "--key-file", "/nonexistent", "a.abc.example"]):
        rc, _, err, _ = run(*args)
        assert rc == 2, (args, rc, err)
    for name in ("bad..name.example", "x-.abc.example", "a" * 64 + ".ex",
                 "sp ace.example"):
        rc, _, err, _ = run(*named("--mx", MX, name))
        assert rc == 1 and "domain" in err, (name, rc, err)


# ---- fake servers ----

def question_end(req):
    off = 12
    while req[off] != 0:
        off += 1 + req[off]
    return off + 5


def header(req, flags=0x8000, rcode=0, qd=1, an=0, ns_=0, ar=0, xid=None):
    rid = struct.unpack("!H", req[:2])[0] if xid is None else xid
    opcode = (req[2] >> 3) & 0xF
    return struct.pack("!HHHHHH", rid, flags | opcode << 11 | rcode, qd, an,
                       ns_, ar)


def enc(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) \
        + b"\0"


def mx_answer(req, flags=0x8400):
    q = req[12:question_end(req)]
    rdata = struct.pack("!H", 10) + enc("mx.fake.test")
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 15, 1, 300, len(rdata)) + rdata
    return header(req, flags=flags, an=1) + q + rr


def reply_for(mode, req):
    q = req[12:question_end(req)]
    if mode == "short_garbage":
        return b"\x12\x34\x56"
    if mode == "garbage_with_id":
        rnd = random.Random(7)
        return header(req, qd=rnd.randrange(65536), an=rnd.randrange(65536)) \
            + bytes(rnd.randrange(256) for _ in range(200))
    if mode == "truncated":
        return mx_answer(req)[:-7]
    if mode == "self_pointer":
        at = 12 + len(q)
        return header(req, an=1) + q + struct.pack("!H", 0xC000 | at) + \
            struct.pack("!HHIH", 15, 1, 300, 0)
    if mode == "label_loop":
        at = 12 + len(q)
        return header(req, an=1) + q + b"\x01a" + \
            struct.pack("!H", 0xC000 | at) + struct.pack("!HHIH", 15, 1, 0, 0)
    if mode == "forward_pointer":
        return header(req, an=1) + q + b"\xc0\xff" + \
            struct.pack("!HHIH", 15, 1, 0, 0)
    if mode == "long_name":
        name = b"\x3f" + b"a" * 63
        return header(req, an=1) + q + name * 5 + b"\0" + \
            struct.pack("!HHIH", 15, 1, 0, 0)
    if mode == "huge_counts":
        return header(req, an=65535, ns_=65535, ar=65535) + q
    if mode == "rdlen_past_end":
        return header(req, an=1) + q + b"\xc0\x0c" + \
            struct.pack("!HHIH", 15, 1, 0, 4000) + b"\0\x0a"
    if mode == "wrong_id":
        rid = struct.unpack("!H", req[:2])[0] ^ 0x5A5A
        return header(req, xid=rid)
    if mode == "not_response":
        return header(req, flags=0)
    if mode == "noerror_unsigned":
        return header(req) + q
    if mode == "notzone":
        return header(req, rcode=10) + q
    if mode == "bad_mac":
        tsig = enc("hmac-sha256") + struct.pack("!HIHH", 0, int(time.time()),
                                                300, 32) + bytes(32) + \
            req[:2] + b"\0\0\0\0"
        rr = enc(ns.key_name) + struct.pack("!HHIH", 250, 255, 0, len(tsig))
        return header(req, ar=1) + q + rr + tsig
    if mode in ("tc", "tc_bad_tcp"):
        return header(req, flags=0x8600) + q
    raise ValueError(mode)


class Fake:
    """A UDP (and TCP) server on 127.0.0.1 answering with reply_for(mode)."""

    def __init__(self, mode):
        self.mode = mode
        for _ in range(50):  # a port free for both UDP and TCP
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        self.tcp.listen(4)
        self.done = False
        self.thread = None
        if mode != "silent":  # silent: bound, never read
            self.thread = threading.Thread(target=self.serve, daemon=True)
            self.thread.start()

    def serve(self):
        self.udp.settimeout(0.1)
        self.tcp.settimeout(0.1)
        while not self.done:
            try:
                req, peer = self.udp.recvfrom(4096)
                self.udp.sendto(reply_for(self.mode, req), peer)
            except socket.timeout:
                pass
            try:
                c, _ = self.tcp.accept()
            except socket.timeout:
                continue
            with c:
                c.settimeout(2)
                n = struct.unpack("!H", c.recv(2))[0]
                req = b""
                while len(req) < n:
                    req += c.recv(n - len(req))
                if self.mode == "tc":
                    a = mx_answer(req)
                    c.sendall(struct.pack("!H", len(a)) + a)
                else:
                    c.sendall(b"\x00\x05abc")

    def close(self):
        self.done = True
        if self.thread:
            self.thread.join(5)
        self.udp.close()
        self.tcp.close()


def against(mode, *args, timeout_ms=300):
    f = Fake(mode)
    try:
        return run("--server", "127.0.0.1", "--port", str(f.port),
                   "--timeout", str(timeout_ms), *args)
    finally:
        f.close()


@r.test
def silent_server_times_out():
    rc, _, err, took = against("silent", "--mx", MX, "--zone", "abc.example",
                               "a.abc.example", timeout_ms=1000)
    assert rc == 1 and "timed out" in err, (rc, err)
    assert 1.9 < took < 2.9, took  # 2 tries of 1000 ms


@r.test
def ignored_answers_end_in_timeout():
    for mode in ("short_garbage", "wrong_id", "not_response"):
        rc, _, err, took = against(mode, "--query", "a.abc.example")
        assert rc == 1 and "timed out" in err and "ignored" in err, \
            (mode, rc, err)
        assert took < 3.0, (mode, took)


@r.test
def malformed_answers_fail_cleanly():
    for mode in ("garbage_with_id", "truncated", "self_pointer",
                 "label_loop", "forward_pointer", "long_name",
                 "huge_counts", "rdlen_past_end", "tc_bad_tcp"):
        for args in (["--query", "a.abc.example"],
                     ["--mx", MX, "--zone", "abc.example", "a.abc.example"]):
            rc, out, err, took = against(mode, *args)
            assert rc == 1 and out == "", (mode, args, rc, out, err)
            assert "malformed" in err or "TCP" in err, (mode, args, err)
            assert took < 3.0, (mode, took)


@r.test
def unsigned_or_forged_answer_to_signed_update():
    args = ["--mx", MX, "--key", ns.key_text(), "--zone", "abc.example",
            "a.abc.example"]
    rc, _, err, _ = against("noerror_unsigned", *args)
    assert rc == 1 and "not signed" in err, (rc, err)
    rc, _, err, _ = against("bad_mac", *args)
    assert rc == 1 and "does not verify" in err, (rc, err)


@r.test
def notzone_is_reported():
    rc, _, err, _ = against("notzone", "--mx", MX, "--zone", "abc.example",
                            "a.abc.example")
    assert rc == 1 and "NOTZONE" in err, (rc, err)


@r.test
def truncated_udp_answer_retried_over_tcp():
    rc, out, err, _ = against("tc", "--query", "a.abc.example")
    assert rc == 0 and out == "10 mx.fake.test\n", (rc, out, err)


rc = ns.stop()
r.check("dns_update_named_clean_exit", rc == 0,
        "named exit %r\n%s" % (rc, ns.log()[-3000:]))
if r.failed == 0:
    ns.cleanup()
else:
    print("named directory kept: " + ns.dir)
r.finish()
