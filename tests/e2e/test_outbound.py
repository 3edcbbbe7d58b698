"""Outbound delivery end to end: vdmaild sends to remote MX hosts found
through a real DNS server (BIND's named on loopback, serving MX and A
records), played by Postfix's smtp-sink, by a second vdmaild, and by two
small misbehaving peers written here (one never greets, one answers
garbage). Every peer listens on its own 127.0.0.x address and the same
port, which vdmaild uses for MX hosts (outbound_port).

Mail enters through distribution lists whose members are remote, so the
local sender bob@example.com receives the bounces in its Maildir.
"""

import email
import email.policy
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, Server, DEMO_TABLES, VDCTL  # noqa: E402
from dnsd import Named  # noqa: E402

SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"

# 127.0.0.x addresses of the peers
MX1, DEAD, SOFT, VD2, MX3, SILENT, GARBAGE, VDC1, VDC2, SLOW = (
    "127.0.0.%d" % i for i in range(2, 12))

ZONE = [
    "ok IN MX 10 mx1", "mx1 IN A " + MX1,
    "fallback IN MX 10 dead", "fallback IN MX 20 mx1", "dead IN A " + DEAD,
    "soft IN MX 10 mxsoft", "mxsoft IN A " + SOFT,
    "nullmx IN MX 0 .",
    'nomx IN TXT "no mail here"',
    "implicit IN A " + MX1,
    "b IN MX 10 vd2", "vd2 IN A " + VD2,
    "other IN MX 10 mx3", "mx3 IN A " + MX3,
    "silent IN MX 10 mxsilent", "mxsilent IN A " + SILENT,
    "garbage IN MX 10 mxgarbage", "mxgarbage IN A " + GARBAGE,
    "deadonly IN MX 10 dead",
    "vd1 IN A " + VDC1, "vdb IN A " + VDC2,
    "slow IN MX 10 mxslow", "mxslow IN A " + SLOW,
    "bv IN MX 10 vd2", "enc IN MX 10 mx1",
    "ipv6 IN MX 10 mx6", "mx6 IN AAAA ::1",
]

LISTS = {
    "l-ok": ["u1@ok.dest.test"],
    "l-implicit": ["u2@implicit.dest.test"],
    "l-fallback": ["u3@fallback.dest.test"],
    "l-soft": ["u4@soft.dest.test"],
    "l-unknown": ["nouser@b.dest.test"],
    "l-nx": ["u@nosuch.dest.test"],
    "l-nomx": ["u@nomx.dest.test"],
    "l-nullmx": ["u@nullmx.dest.test"],
    "l-b": ["known@b.dest.test"],
    "l-multi": ["m1@ok.dest.test", "m2@other.dest.test", "m3@soft.dest.test",
                "alice@example.com"],
    "l-silent": ["u@silent.dest.test"],
    "l-garbage": ["u@garbage.dest.test"],
    "l-dead": ["u@deadonly.dest.test"],
    "l-verify": ["known@bv.dest.test"],
    "l-encrypt": ["u@enc.dest.test"],
    "l-v6": ["u@ipv6.dest.test"],
}


def pick_port():
    """A port free on every peer address."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((MX1, 0))
            port = s.getsockname()[1]
        ok = True
        for a in (DEAD, SOFT, VD2, MX3, SILENT, GARBAGE, VDC1, VDC2, SLOW):
            try:
                with socket.socket() as s:
                    s.bind((a, port))
            except OSError:
                ok = False
        if ok:
            return port
    raise RuntimeError("no common free port")


PORT = pick_port()
ns = Named(zones={"dest.test": "none"}, key=False,
           records={"dest.test": ZONE})
ns.start()
DNS = "dns_servers = 127.0.0.1:%d\n" % ns.port
OUT_CONF = (DNS + "outbound_port = %d\n" % PORT +
            "timeout_smtp_out = 3\ntimeout_connect = 2\n"
            "outbound_dest_concurrency = 2\n")


class Sink:
    """smtp-sink on addr:PORT dumping each message into a directory."""

    def __init__(self, addr, args=()):
        self.addr = addr
        self.args = list(args)
        self.dir = tempfile.mkdtemp(prefix="vdmail-sink-")
        self.proc = None
        self.start()

    def start(self, args=None):
        if args is not None:
            self.args = list(args)
        self.stop()
        self.proc = subprocess.Popen(
            [SINK, "-u", "nobody" if os.getuid() == 0 else "",
             "-d", os.path.join(self.dir, "%H%M%S.")] + self.args +
            [("[%s]:%d" if ":" in self.addr else "%s:%d") % (self.addr, PORT),
             "64"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(self.dir, 0o777)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection((self.addr, PORT), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def messages(self):
        out = []
        for n in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, n), "rb") as f:
                out.append(f.read())
        return out

    def rcpts(self):
        """Every X-Rcpt-Args address of every dumped message."""
        got = []
        for m in self.messages():
            got += re.findall(rb"X-Rcpt-Args: <([^>]*)>", m)
        return [g.decode() for g in got]

    def wait(self, count, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.messages()) < count:
            time.sleep(0.05)
        return self.messages()


class Peer(threading.Thread):
    """A misbehaving SMTP peer: 'silent' never greets, 'garbage' answers
    every line with bytes that are no SMTP reply."""

    def __init__(self, addr, mode):
        super().__init__(daemon=True)
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, PORT))
        self.sock.listen(16)
        self.conns = 0
        self.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        try:
            c.settimeout(20)
            if self.mode == "silent":
                c.recv(100)
            else:
                c.sendall(b"220-fine\r\nnot a reply \x00\xff\r\n")
                c.recv(100)
        except OSError:
            pass
        finally:
            c.close()


sinks = {a: Sink(a) for a in (MX1, MX3)}
sinks[SOFT] = Sink(SOFT, ["-r", "RCPT"])
peers = [Peer(SILENT, "silent"), Peer(GARBAGE, "garbage")]

# The second vdmaild: MX of b.dest.test, with TLS, a small size limit.
B_TABLES = {
    "domains": "b.dest.test status=active\n",
    "addresses": "known@b.dest.test user=known@b.dest.test\n",
    "users": "known@b.dest.test status=active\n",
}
srv_b = Server(B_TABLES, config="hostname = vd2.dest.test\n"
               "listen = smtp %s:%d\nmessage_size_limit = 4096\n"
               % (VD2, PORT))

tables = dict(DEMO_TABLES)
tables["addresses"] = DEMO_TABLES["addresses"] + "".join(
    "%s@example.com list=%s@example.com\n" % (n, n) for n in LISTS)
tables["lists"] = "".join(
    "%s@example.com %s\n" % (n, " ".join("member=" + m for m in ms))
    for n, ms in LISTS.items())
tables["routes"] = "bv.dest.test tls=verify\nenc.dest.test tls=encrypt\n"
srv = Server(tables, config=OUT_CONF)
r = Runner("outbound")


def send(lst, subject, body="hello\r\n", sender="bob@example.com"):
    msg = ("From: <%s>\r\nTo: <%s@example.com>\r\nSubject: %s\r\n"
           "Message-ID: <%s.%f@test>\r\n\r\n%s"
           % (sender, lst, subject, subject.replace(" ", "-"), time.time(),
              body))
    with srv.smtp() as s:
        s.sendmail(sender, ["%s@example.com" % lst], msg)
    return msg


def bob_reports(count=1, timeout=15):
    """bob's DSNs (parsed), waiting for count of them."""
    deadline = time.time() + timeout
    while True:
        out = []
        for p in srv.messages("example.com/bob"):
            with open(p, "rb") as f:
                m = email.message_from_binary_file(f, policy=email.policy.compat32)
            if m.get_content_type() == "multipart/report":
                out.append(m)
        if len(out) >= count or time.time() > deadline:
            return out
        time.sleep(0.1)


def report_fields(m):
    """The per-recipient fields of a DSN's message/delivery-status part."""
    for part in m.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            fields = {}
            for b in blocks[1:]:
                for k, v in b.items():
                    fields[k.lower()] = " ".join(v.split())
            return fields
    return {}


def wait_log(pattern, timeout=15, server=None):
    s = server or srv
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, s.log())
        if m:
            return m
        time.sleep(0.05)
    return None


def find_dsn(subject_word, reports):
    for m in reports:
        if subject_word in m.as_string():
            return m
    return None


@r.test
def sent_through_the_mx():
    before = len(sinks[MX1].messages())
    send("l-ok", "ok one")
    msgs = sinks[MX1].wait(before + 1)
    assert len(msgs) == before + 1
    assert b"u1@ok.dest.test" in msgs[-1] and b"Subject: ok one" in msgs[-1]
    assert wait_log(r"to=<u1@ok\.dest\.test> relay=mx1\.dest\.test\[%s\]:%d "
                    r"delay=[0-9.]+ status=sent \(250" % (MX1, PORT))
    assert srv.wait_queue_empty()


@r.test
def no_mx_uses_the_address_record():
    send("l-implicit", "implicit mx")
    assert wait_log(r"to=<u2@implicit\.dest\.test> relay=implicit\.dest\.test"
                    r"\[%s\]:%d .*status=sent" % (MX1, PORT))


@r.test
def dead_mx_falls_back_to_the_next():
    send("l-fallback", "fallback")
    assert wait_log(r"to=<u3@fallback\.dest\.test> relay=mx1\.dest\.test"
                    r"\[%s\].*status=sent" % MX1)
    assert "server=[%s] duration" % DEAD in srv.log(), \
        "the dead MX was not tried first"


@r.test
def soft_reject_then_success_on_retry():
    send("l-soft", "soft first")
    assert wait_log(r"to=<u4@soft\.dest\.test> .*status=deferred \(450 4\.3\.0")
    assert srv.queue(), "the deferred message left the queue"
    sinks[SOFT].start([])  # the peer accepts now
    deadline = time.time() + 20
    while time.time() < deadline and "u4@soft.dest.test" not in sinks[SOFT].rcpts():
        time.sleep(0.1)
    assert sinks[SOFT].rcpts().count("u4@soft.dest.test") == 1
    assert srv.wait_queue_empty(20)
    sinks[SOFT].start(["-r", "RCPT"])


@r.test
def hard_reject_bounces_with_a_readable_dsn():
    send("l-unknown", "unknown user")
    m = find_dsn("unknown user", bob_reports(1))
    assert m is not None, srv.log()[-3000:]
    assert m["To"] == "bob@example.com" or "bob@example.com" in m["To"]
    assert m["Auto-Submitted"] == "auto-replied"
    f = report_fields(m)
    assert f["final-recipient"].lower() == "rfc822; nouser@b.dest.test", f
    assert f["action"] == "failed" and f["status"] == "5.1.1", f
    assert f["remote-mta"].lower() == "dns; vd2.dest.test", f
    assert f["diagnostic-code"].startswith("smtp; 550 5.1.1"), f
    text = m.get_payload()[0].get_payload()
    assert "nouser@b.dest.test" in text and "550 5.1.1" in text, text
    headers = m.get_payload()[2].as_string()
    assert "Subject: unknown user" in headers
    assert wait_log(r"to=<nouser@b\.dest\.test> .*status=bounced \(550 5\.1\.1")
    assert srv.wait_queue_empty(20)


@r.test
def no_such_domain_bounces():
    send("l-nx", "nxdomain")
    m = find_dsn("nxdomain", bob_reports(2))
    assert m is not None
    f = report_fields(m)
    assert f["status"] == "5.1.2", f


@r.test
def no_mx_and_no_address_bounces():
    send("l-nomx", "nomx")
    m = find_dsn("nomx", bob_reports(3))
    assert m is not None
    assert report_fields(m)["status"] == "5.1.2"


@r.test
def null_mx_bounces():
    send("l-nullmx", "nullmx")
    m = find_dsn("Subject: nullmx", bob_reports(4))
    assert m is not None
    assert report_fields(m)["status"] == "5.1.10"


@r.test
def starttls_to_a_peer():
    send("l-b", "over tls")
    msgs = srv_b.wait_messages("b.dest.test/known", 1)
    assert msgs, srv_b.log()[-2000:]
    with open(msgs[-1], "rb") as f:
        text = f.read()
    assert b"with ESMTPS" in text and b"using TLSv1.2" in text, text[:600]
    assert wait_log(r"smtp-out vd2\.dest\.test tls=unverified \(")


@r.test
def peer_size_limit_fails_before_sending():
    before = len(srv_b.messages("b.dest.test/known"))
    send("l-b", "too big", body="x" * 70 + "\r\n" * 1 + ("y" * 78 + "\r\n") * 80)
    m = find_dsn("too big", bob_reports(5))
    assert m is not None
    f = report_fields(m)
    assert f["status"] == "5.3.4", f
    assert len(srv_b.messages("b.dest.test/known")) == before


@r.test
def several_messages_over_one_connection():
    before = len(sinks[MX1].messages())
    opened = "smtp-out connect server=[%s]" % MX1
    connects = srv.log().count(opened)
    with srv.smtp() as s:
        for i in range(6):
            s.sendmail("bob@example.com", ["l-ok@example.com"],
                       "Subject: batch %d\r\n\r\nbody\r\n" % i)
    assert len(sinks[MX1].wait(before + 6)) == before + 6
    assert srv.wait_queue_empty()
    # six messages for one destination, carried by at most two sessions
    # (outbound_dest_concurrency = 2)
    used = srv.log().count(opened) - connects
    assert 1 <= used <= 2, used


@r.test
def one_failing_host_only_its_recipients_retry():
    before1 = sinks[MX1].rcpts().count("m1@ok.dest.test")
    before3 = sinks[MX3].rcpts().count("m2@other.dest.test")
    send("l-multi", "multi")
    assert wait_log(r"to=<m3@soft\.dest\.test> .*status=deferred")
    assert wait_log(r"to=<m1@ok\.dest\.test> .*status=sent")
    assert wait_log(r"to=<m2@other\.dest\.test> .*status=sent")
    assert srv.wait_messages("example.com/alice", 1)
    q = srv.queue()
    assert len(q) == 1, q
    out = subprocess.run([VDCTL, "-c", srv.conf, "queue", "show", q[0]],
                         capture_output=True, text=True, timeout=10).stdout
    assert re.search(r"waiting +<m3@soft\.dest\.test>", out), out
    assert re.search(r"delivered +<m1@ok\.dest\.test>", out), out
    time.sleep(2.5)  # a retry or two: still only m3 is tried
    sinks[SOFT].start([])
    deadline = time.time() + 20
    while time.time() < deadline and srv.queue():
        time.sleep(0.1)
    assert not srv.queue()
    assert sinks[MX1].rcpts().count("m1@ok.dest.test") == before1 + 1
    assert sinks[MX3].rcpts().count("m2@other.dest.test") == before3 + 1
    assert sinks[SOFT].rcpts().count("m3@soft.dest.test") == 1
    sinks[SOFT].start(["-r", "RCPT"])


@r.test
def a_peer_that_never_greets_times_out():
    send("l-silent", "silent")
    assert wait_log(r"to=<u@silent\.dest\.test> .*status=deferred \(.*timeout",
                    timeout=20)


@r.test
def garbage_replies_defer_without_harm():
    send("l-garbage", "garbage")
    assert wait_log(r"to=<u@garbage\.dest\.test> .*status=deferred \(.*protocol",
                    timeout=20)
    with srv.smtp() as s:  # still serving
        assert s.noop()[0] == 250


@r.test
def tls_verify_policy_refuses_an_unverified_peer():
    send("l-verify", "must verify")
    assert wait_log(r"to=<known@bv\.dest\.test> .*status=deferred \(the TLS "
                    r"certificate of vd2\.dest\.test is not verified")


@r.test
def tls_encrypt_policy_needs_starttls():
    send("l-encrypt", "must encrypt")
    assert wait_log(r"to=<u@enc\.dest\.test> .*status=deferred \(TLS is "
                    r"required, but mx1\.dest\.test did not offer STARTTLS")


def postmaster_texts():
    out = []
    for p in srv.messages("example.com/postmaster"):
        with open(p, "rb") as f:
            out.append(f.read())
    return out


@r.test
def a_bounce_that_fails_goes_to_the_postmaster_once():
    before = len(postmaster_texts())
    send("l-unknown", "bounce of a bounce", sender="")
    deadline = time.time() + 15
    while time.time() < deadline and len(postmaster_texts()) == before:
        time.sleep(0.1)
    new = postmaster_texts()[before:]
    assert len(new) == 1, srv.log()[-2000:]
    assert b"Return-Path: <double-bounce@mail.example.com>" in new[0]
    assert b"multipart/report" in new[0] and b"bounce of a bounce" in new[0]
    # and a double bounce that fails is only logged: no loop
    send("l-unknown", "double bounce fails",
         sender="double-bounce@mail.example.com")
    assert wait_log(r"notice not sent \(to double-bounce@mail\.example\.com\)"
                    r": dropped")
    time.sleep(0.5)
    assert len(postmaster_texts()) == before + 1


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s6:
            s6.bind(("::1", PORT))
        return True
    except OSError:
        return False


@r.test
def an_ipv6_only_mx_is_reached():
    if not have_ipv6():
        print("  no ::1 here (or the port is taken on it): skipped")
        return
    sink6 = Sink("::1")
    try:
        send("l-v6", "over ipv6")
        assert wait_log(r"to=<u@ipv6\.dest\.test> relay=mx6\.dest\.test"
                        r"\[::1\]:%d .*status=sent" % PORT)
        assert any(b"over ipv6" in m for m in sink6.wait(1))
    finally:
        sink6.stop()


@r.test
def vdctl_route_shows_the_next_hop():
    out = subprocess.run([VDCTL, "-c", srv.conf, "route", "l-ok@example.com"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out
    assert "u1@ok.dest.test -> MX of ok.dest.test port %d" % PORT in out.stdout, \
        out.stdout


def vdctl_queue(*args, server=None):
    return subprocess.run([VDCTL, "-c", (server or srv).conf, "queue"] +
                          list(args), capture_output=True, text=True,
                          timeout=30)


@r.test
def vdctl_queue_hold_release_flush_delete():
    start = len(srv.log())
    send("l-soft", "held one")
    deadline = time.time() + 15
    m = None
    while time.time() < deadline and m is None:
        m = re.search(r"(\w+): to=<u4@soft\.dest\.test> .*status=deferred",
                      srv.log()[start:])
        time.sleep(0.05)
    assert m, srv.log()[start:]
    qid = m.group(1)
    out = vdctl_queue("hold", qid)
    assert out.returncode == 0 and "held" in out.stdout, out
    assert qid not in srv.queue()
    assert os.path.exists(os.path.join(srv.spool, "hold", qid))
    listing = vdctl_queue("list").stdout
    assert re.search(qid + r" .*\(held\)", listing), listing
    tries = srv.log().count(qid + ": to=<u4@soft")
    time.sleep(2.5)  # past queue_retry_max: a held message is not tried
    assert srv.log().count(qid + ": to=<u4@soft") == tries
    out = vdctl_queue("release", qid)
    assert out.returncode == 0 and "in the queue" in out.stdout, out
    assert wait_log(re.escape(qid) + r": released by the administrator")
    deadline = time.time() + 5
    while time.time() < deadline and \
            srv.log().count(qid + ": to=<u4@soft") == tries:
        time.sleep(0.05)
    assert srv.log().count(qid + ": to=<u4@soft") > tries, "not tried"
    assert vdctl_queue("flush", qid).returncode == 0
    assert vdctl_queue("flush").returncode == 0
    assert wait_log(r"queue flush asked")
    reports = len(bob_reports(0, timeout=0))
    out = vdctl_queue("delete", qid)
    assert out.returncode == 0 and "gone" in out.stdout, out
    assert wait_log(re.escape(qid) + r": deleted by the administrator")
    assert qid not in srv.queue()
    time.sleep(0.5)
    assert len(bob_reports(0, timeout=0)) == reports, "delete bounced"
    # a held message can be deleted too
    start = len(srv.log())
    send("l-soft", "held then deleted")
    deadline = time.time() + 15
    m = None
    while time.time() < deadline and m is None:
        m = re.search(r"(\w+): to=<u4@soft\.dest\.test> .*status=deferred",
                      srv.log()[start:])
        time.sleep(0.05)
    assert m
    q2 = m.group(1)
    assert vdctl_queue("hold", q2).returncode == 0
    out = vdctl_queue("delete", q2)
    assert out.returncode == 0 and "gone" in out.stdout, out
    assert not os.path.exists(os.path.join(srv.spool, "hold", q2))
    bad = vdctl_queue("hold", "nonsense/../x")
    assert bad.returncode == 1, bad
    gone = vdctl_queue("release", "00000000DEADBEEF")
    assert gone.returncode == 1, gone


@r.test
def an_idle_connection_gives_its_slot_to_waiting_mail():
    e = Server(tables, config=OUT_CONF + "outbound_concurrency = 1\n"
               "outbound_idle = 30\n")
    try:
        with e.smtp() as s:
            s.sendmail("bob@example.com", ["l-ok@example.com"],
                       "Subject: first\r\n\r\nx\r\n")
        assert wait_log(r"to=<u1@ok\.dest\.test> .*status=sent", server=e)
        t0 = time.time()
        with e.smtp() as s:
            s.sendmail("bob@example.com", ["l-implicit@example.com"],
                       "Subject: second\r\n\r\nx\r\n")
        assert wait_log(r"to=<u2@implicit\.dest\.test> .*status=sent",
                        server=e, timeout=10)
        assert time.time() - t0 < 5, "waited for the idle connection"
        assert wait_log(r"smtp-out disconnect server=\[%s\].*reason=quit"
                        % re.escape(MX1), server=e)
    finally:
        rc = e.stop()
        assert rc == 0 and e.sanitizer_report() is None, e.log()[-2000:]
        e.cleanup()


@r.test
def hostile_ctl_requests_are_removed_and_logged():
    ctl = os.path.join(srv.spool, "ctl")
    for name in ("junk", "hold.", "hold.zz..", "flush.0000\nX", "release." +
                 "A" * 200):
        try:
            with open(os.path.join(ctl, name), "w") as f:
                f.write("x" * 100)
        except OSError:
            continue  # a name the file system refuses
    os.kill(srv.pid(), signal.SIGUSR1)
    assert wait_log(r"ctl/junk: not a request; removed")
    deadline = time.time() + 5
    while time.time() < deadline and os.listdir(ctl):
        time.sleep(0.05)
    assert os.listdir(ctl) == [], os.listdir(ctl)
    with srv.smtp() as s:
        assert s.noop()[0] == 250


CLUSTER = {
    "domains": "cluster.test status=active\n",
    "addresses": "carol@cluster.test user=carol@cluster.test\n"
                 "dan@cluster.test user=dan@cluster.test\n",
    "users": "carol@cluster.test mailhost=vd1.dest.test\n"
             "dan@cluster.test mailhost=vdb.dest.test\n",
}


@r.test
def two_hosts_one_directory_route_by_mailhost():
    c1 = Server(CLUSTER, config=OUT_CONF + "hostname = vd1.dest.test\n"
                "listen = smtp %s:%d\n" % (VDC1, PORT))
    c2 = Server(CLUSTER, config=OUT_CONF + "hostname = vdb.dest.test\n"
                "listen = smtp %s:%d\n" % (VDC2, PORT))
    try:
        for via in (c1, c2):
            with via.smtp() as s:
                s.sendmail("someone@example.org", ["carol@cluster.test",
                                                   "dan@cluster.test"],
                           "Subject: via %s\r\n\r\nhi\r\n" % via.port)
        assert len(c1.wait_messages("cluster.test/carol", 2)) == 2
        assert len(c2.wait_messages("cluster.test/dan", 2)) == 2
        assert c1.wait_queue_empty() and c2.wait_queue_empty()
        assert not c1.messages("cluster.test/dan")
        assert not c2.messages("cluster.test/carol")
        with open(c1.messages("cluster.test/carol")[-1], "rb") as f:
            text = f.read()
        # relayed: vdb's Received header under vd1's
        assert text.count(b"Received: ") == 2 and b"by vdb.dest.test" in text
        out = subprocess.run([VDCTL, "-c", c2.conf, "route",
                              "carol@cluster.test"], capture_output=True,
                             text=True, timeout=10).stdout
        assert "-> host vd1.dest.test port %d" % PORT in out, out
    finally:
        for c in (c1, c2):
            rc = c.stop()
            assert rc == 0 and c.sanitizer_report() is None, c.log()[-2000:]
            c.cleanup()


@r.test
def delay_warning_then_expiry_bounce():
    d = Server(tables, config=OUT_CONF + "queue_lifetime = 4\n"
               "delay_warning = 1\n")
    try:
        with d.smtp() as s:
            s.sendmail("bob@example.com", ["l-dead@example.com"],
                       "Subject: going nowhere\r\n\r\nx\r\n")
        deadline = time.time() + 25
        reports = []
        while time.time() < deadline and len(reports) < 2:
            reports = []
            for p in d.messages("example.com/bob"):
                with open(p, "rb") as f:
                    m = email.message_from_binary_file(f)
                if m.get_content_type() == "multipart/report":
                    reports.append(m)
            time.sleep(0.2)
        actions = sorted(report_fields(m).get("action") for m in reports)
        assert actions == ["delayed", "failed"], (actions, d.log()[-3000:])
        failed = [m for m in reports
                  if report_fields(m)["action"] == "failed"][0]
        assert "delivery time expired" in report_fields(failed)[
            "diagnostic-code"], report_fields(failed)
        assert d.wait_queue_empty()
    finally:
        assert d.stop() == 0 and d.sanitizer_report() is None
        d.cleanup()


@r.test
def kill9_mid_delivery_loses_nothing_and_doubles_nothing():
    slow = Sink(SLOW, ["-w", "1"])
    kt = dict(tables)
    kt["addresses"] += "l-k@example.com list=l-k@example.com\n"
    kt["lists"] += ("l-k@example.com member=k@slow.dest.test "
                    "member=k@ok.dest.test\n")
    k = Server(kt, config=OUT_CONF)
    try:
        n = 12
        with k.smtp() as s:
            for i in range(n):
                s.sendmail("bob@example.com", ["l-k@example.com"],
                           "Subject: k%d\r\n\r\nbody\r\n" % i)
        qids = re.findall(r"(\w+): client=.*from=<bob@example.com>",
                          k.log())
        assert len(qids) == n
        assert wait_log(r"to=<k@slow\.dest\.test> .*status=sent",
                        server=k, timeout=20)
        k.kill9()
        sent_before = set(re.findall(r"(\w+): to=<([^>]+)> relay=\S+ "
                                     r"delay=\S+ status=sent", k.log()))
        assert 0 < len([1 for q, a in sent_before if "slow" in a]) < n
        k.start()
        assert k.wait_queue_empty(60), k.queue()

        def copies(sink, i):
            return sum(1 for m in sink.messages()
                       if re.search(rb"Subject: k%d\r?\n" % i, m))
        for i, q in enumerate(qids):
            for addr, sink in (("k@slow.dest.test", slow),
                               ("k@ok.dest.test", sinks[MX1])):
                c = copies(sink, i)
                assert c >= 1, "k%d to %s lost:\n%s" % (i, addr, "\n".join(
                    l for l in k.log().splitlines() if q in l))
                if (q, addr) in sent_before:
                    assert c == 1, "k%d to %s: %d copies" % (i, addr, c)
    finally:
        slow.stop()
        rc = k.stop()
        assert rc == 0 and k.sanitizer_report() is None, k.log()[-2000:]
        k.cleanup()


r.finish(srv, srv_b)
