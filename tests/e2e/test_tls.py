"""TLS through BearSSL: the certificate chosen by SNI (exact name, then the
parent domain, else the default), STARTTLS and implicit TLS, TLS 1.2 with
ECDHE and AEAD only, the STARTTLS state rules, the plaintext-injection
rule of RFC 3207 section 4 (CVE-2011-0411), handshake timeout and garbage,
no certificate, and certificate reload on SIGHUP.

Every client here is Python's ssl (OpenSSL) on a real socket; replies are
read one byte at a time so that no byte the server sends in plaintext after
the 220 to STARTTLS can hide in a client-side buffer."""
import atexit
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from harness import (DEMO_TABLES, HOSTNAME, Runner, Server,  # noqa: E402
                     client_tls, make_cert)

r = Runner("tls")
# TLS 1.0 and 1.1 are used on purpose, to see them refused.
warnings.simplefilter("ignore", DeprecationWarning)

# Private copies of every certificate: the reload test overwrites the
# default one, which must not touch the harness's shared certificate cache.
CERTS = tempfile.mkdtemp(prefix="vdmail-tls-certs-")
atexit.register(shutil.rmtree, CERTS, True)
DEFAULT = make_cert(CERTS, HOSTNAME)
NET = make_cert(CERTS, "example.net")
RSA = make_cert(CERTS, "rsa.example", rsa=True)
LIVE = os.path.join(CERTS, "live")  # the files the config names
os.makedirs(LIVE)
LIVE_CERT = os.path.join(LIVE, "default.pem")
LIVE_KEY = os.path.join(LIVE, "default.key")
shutil.copy(DEFAULT[0], LIVE_CERT)
shutil.copy(DEFAULT[1], LIVE_KEY)

srv = Server(DEMO_TABLES, tls=False, implicit_tls=True, config="\n".join([
    "tls_cert = " + LIVE_CERT,
    "tls_key = " + LIVE_KEY,
    "tls_sni = example.net %s %s" % NET,
    "tls_sni = rsa.example %s %s" % RSA,
    "timeout_tls = 1",
]))


# ---- a byte-exact SMTP client over plain or TLS sockets ----

class Wire:
    """One SMTP connection; reads byte by byte (nothing buffered here)."""

    def __init__(self, port, timeout=10, greet=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.sock.settimeout(timeout)
        if greet:
            code, text = self.reply()
            assert code == 220, text

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        out = b""
        while not out.endswith(b"\n"):
            if len(out) > 2000:
                raise AssertionError("reply line too long: %r" % out[:100])
            b = self.sock.recv(1)
            if not b:
                raise EOFError("closed after %r" % out)
            out += b
        return out

    def reply(self):
        lines = []
        while True:
            line = self.line()
            lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
            if line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(lines)
            if len(lines) > 100:
                raise AssertionError("endless reply")

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def pending(self, wait=0.3):
        """Bytes that arrive within wait seconds (b"" if none or closed)."""
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(4096, socket.MSG_PEEK)
        except (socket.timeout, BlockingIOError):
            return b""
        finally:
            self.sock.settimeout(10)

    def starttls(self, sni=None, ctx=None):
        code, text = self.cmd("STARTTLS")
        assert code == 220 and "2.0.0" in text, text
        self.sock = (ctx or client_tls()).wrap_socket(
            self.sock, server_hostname=sni)
        return self.sock

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def session(sni=None, ctx=None):
    """A STARTTLS session after EHLO, before the second EHLO."""
    w = Wire(srv.port)
    code, caps = w.cmd("EHLO client.test")
    assert code == 250 and "STARTTLS" in caps, caps
    w.starttls(sni, ctx)
    return w


def implicit(sni=None, ctx=None, tls_session=None):
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), 10)
    w = Wire.__new__(Wire)
    w.sock = (ctx or client_tls()).wrap_socket(raw, server_hostname=sni,
                                               session=tls_session)
    w.sock.settimeout(10)
    code, text = w.reply()
    assert code == 220, text
    return w


def der(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def subject(der_bytes):
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                          "-subject", "-nameopt", "RFC2253"],
                         input=der_bytes, capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return out.stdout.decode().strip()


def peer(w):
    return w.sock.getpeercert(binary_form=True)


def wait_log(text, count=1, timeout=5):
    """Waits until text occurs count times in the log; returns the count."""
    deadline = time.time() + timeout
    n = srv.log().count(text)
    while n < count and time.time() < deadline:
        time.sleep(0.05)
        n = srv.log().count(text)
    return n


def closed_within(sock, seconds):
    """True when the peer closes (EOF or reset) within seconds."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            if sock.recv(65536) == b"":
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True
    return False


def still_serving():
    w = session("example.net")
    assert w.cmd("EHLO client.test")[0] == 250
    assert w.cmd("QUIT")[0] == 221
    w.close()


# ---- certificates by SNI ----

@r.test
def sni_chooses_the_certificate():
    cases = [
        ("example.net", NET[0]),
        ("mx.example.net", NET[0]),        # parent domain's certificate
        ("a.b.example.net", NET[0]),
        ("MX.Example.NET", NET[0]),        # names are case-insensitive
        (HOSTNAME, DEFAULT[0]),
        ("unknown.test", DEFAULT[0]),
        ("notexample.net", DEFAULT[0]),    # a suffix is not a parent
        ("net", DEFAULT[0]),
        (None, DEFAULT[0]),                # no SNI at all
    ]
    want_subject = {NET[0]: "subject=CN=example.net",
                    DEFAULT[0]: "subject=CN=" + HOSTNAME}
    for sni, cert in cases:
        for how in (session, implicit):
            w = how(sni)
            got = peer(w)
            assert got == der(cert), (sni, how.__name__, subject(got))
            assert subject(got) == want_subject[cert], subject(got)
            assert w.sock.version() == "TLSv1.2", w.sock.version()
            assert w.cmd("QUIT")[0] == 221
            w.close()


@r.test
def rsa_certificate_by_sni():
    w = session("rsa.example")
    assert peer(w) == der(RSA[0]), subject(peer(w))
    assert w.sock.cipher()[0].startswith("ECDHE-RSA-"), w.sock.cipher()
    assert w.cmd("EHLO client.test")[0] == 250
    w.close()


# ---- implicit TLS and mail over TLS ----

def received_of(mailbox, marker, count):
    for path in srv.wait_messages(mailbox, count):
        data = open(path, "rb").read()
        if marker in data:
            return data
    raise AssertionError("message %r not delivered to %s" % (marker, mailbox))


@r.test
def implicit_tls_greets_and_delivers():
    before = len(srv.messages("example.com/bob"))
    with smtplib.SMTP_SSL("127.0.0.1", srv.tls_port, timeout=10,
                          context=client_tls()) as s:
        assert s.sock.version() == "TLSv1.2", s.sock.version()
        code, caps = s.ehlo("client.test")
        assert code == 250 and b"STARTTLS" not in caps, caps
        cipher = s.sock.cipher()[0]
        s.sendmail("tls@remote.test", ["bob@example.com"],
                   "Message-ID: <implicit-1@test>\r\n\r\nimplicit TLS\r\n")
    data = received_of("example.com/bob", b"<implicit-1@test>", before + 1)
    assert b"with ESMTPS id " in data, data[:500]
    assert (b"(using TLSv1.2 with cipher %s)" % cipher.encode()) in data, \
        (cipher, data[:500])


@r.test
def implicit_tls_sends_nothing_before_the_handshake():
    # The greeting waits for the handshake: no plaintext on this port.
    s = socket.create_connection(("127.0.0.1", srv.tls_port), 10)
    s.settimeout(0.5)
    try:
        data = s.recv(100)
    except socket.timeout:
        data = None
    s.close()
    assert data is None, data


@r.test
def large_message_over_tls():
    before = len(srv.messages("example.com/alice"))
    body = b"Subject: big\r\nMessage-ID: <big-tls@test>\r\n\r\n" + b"".join(
        b"%07d " % i + b"x" * 70 + b"\r\n" for i in range(30000))
    with smtplib.SMTP_SSL("127.0.0.1", srv.tls_port, timeout=30,
                          context=client_tls()) as s:
        s.sendmail("big@remote.test", ["alice@example.com"], body)
    data = received_of("example.com/alice", b"<big-tls@test>", before + 1)
    assert data.endswith(body), len(data)


@r.test
def mail_over_starttls_is_marked():
    before = len(srv.messages("example.com/alice"))
    w = session("example.net")
    cipher = w.sock.cipher()[0]
    code, caps = w.cmd("EHLO client.test")
    assert code == 250 and "STARTTLS" not in caps, caps
    for c, want in (("MAIL FROM:<tls@remote.test>", 250),
                    ("RCPT TO:<alice@example.com>", 250), ("DATA", 354)):
        assert w.cmd(c)[0] == want, c
    code, text = w.cmd("Message-ID: <starttls-1@test>\r\n\r\nover TLS\r\n.")
    assert code == 250, text
    assert w.cmd("QUIT")[0] == 221
    w.close()
    data = received_of("example.com/alice", b"<starttls-1@test>", before + 1)
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"with ESMTPS id " in head, head
    assert (b"(using TLSv1.2 with cipher %s)" % cipher.encode()) in head, \
        (cipher, head)
    qid = text.split("queued as ")[-1]
    assert wait_log("%s: client=" % qid) == 1
    line = [ln for ln in srv.log().splitlines() if qid + ": client=" in ln][0]
    assert "proto=ESMTPS tls=TLSv1.2" in line, line


# ---- protocol versions and cipher suites ----

# TLS alerts (RFC 5246 7.2); BearSSL logs a sent alert as 512 + its number.
ALERT_HANDSHAKE_FAILURE = 40
ALERT_PROTOCOL_VERSION = 70


def refused(connect, ctx, alert):
    """True when the server refuses the handshake the client really sent,
    with the given alert."""
    n = srv.log().count("tls_error=")
    try:
        w = connect(None, ctx)
    except ssl.SSLError as e:
        # A client that could not even build its ClientHello tests nothing.
        assert "NO_PROTOCOLS_AVAILABLE" not in str(e) and \
            "NO_CIPHERS_AVAILABLE" not in str(e), e
    except (ConnectionResetError, BrokenPipeError, EOFError):
        pass
    else:
        w.close()
        return False
    # The server saw the hello and logged its own error for it.
    assert wait_log("tls_error=", n + 1) == n + 1, srv.log()[-1500:]
    last = [ln for ln in srv.log().splitlines() if "tls_error=" in ln][-1]
    assert last.endswith("tls_error=%d" % (512 + alert)), last
    return True


def ctx_for(version=None, ciphers=None):
    ctx = client_tls()
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    else:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers is not None:
        # Old protocols and ciphers need OpenSSL's security level 0.
        ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
    return ctx


@r.test
def tls10_and_tls11_refused_tls12_works():
    for connect in (session, implicit):
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            ctx = ctx_for(version, "ALL")
            assert refused(connect, ctx, ALERT_PROTOCOL_VERSION), \
                (connect.__name__, version)
        w = connect(None, ctx_for(ssl.TLSVersion.TLSv1_2))
        assert w.sock.version() == "TLSv1.2"
        assert w.cmd("NOOP")[0] == 250
        w.close()
    # The same check with OpenSSL's own client.
    for flag in ("-tls1", "-tls1_1"):
        out = subprocess.run(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.tls_port,
             flag, "-cipher", "ALL:@SECLEVEL=0"],
            input=b"", capture_output=True, timeout=20)
        assert out.returncode != 0, (flag, out.stdout[-500:])
        assert b"BEGIN CERTIFICATE" not in out.stdout, flag
    out = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port,
         "-starttls", "smtp", "-tls1_2", "-servername", "example.net",
         "-ign_eof"],
        input=b"QUIT\r\n", capture_output=True, timeout=20)
    assert out.returncode == 0, out.stdout[-800:]
    assert b"Protocol  : TLSv1.2" in out.stdout or \
        b"TLSv1.2" in out.stdout, out.stdout[-800:]
    assert b"221 " in out.stdout, out.stdout[-300:]


@r.test
def weak_cipher_suites_refused():
    # The default certificate is EC, rsa.example's is RSA; each list offers
    # one kind of suite the policy refuses: static RSA, DHE, CBC, no ECDHE.
    bad = {
        None: ["AES128-SHA", "AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA",
               "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA"],
        "rsa.example": ["AES128-SHA", "AES256-GCM-SHA384",
                        "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384",
                        "DHE-RSA-AES128-GCM-SHA256"],
    }
    good = {
        None: ["ECDHE-ECDSA-AES128-GCM-SHA256",
               "ECDHE-ECDSA-AES256-GCM-SHA384",
               "ECDHE-ECDSA-CHACHA20-POLY1305"],
        "rsa.example": ["ECDHE-RSA-AES128-GCM-SHA256",
                        "ECDHE-RSA-AES256-GCM-SHA384",
                        "ECDHE-RSA-CHACHA20-POLY1305"],
    }
    for sni, lists in bad.items():
        for ciphers in lists:
            def connect(_, ctx, sni=sni):
                return implicit(sni, ctx)
            assert refused(connect, ctx_for(None, ciphers),
                           ALERT_HANDSHAKE_FAILURE), (sni, ciphers)
    for sni, lists in good.items():
        for ciphers in lists:
            w = implicit(sni, ctx_for(None, ciphers))
            assert w.sock.cipher()[0] == ciphers, (ciphers, w.sock.cipher())
            assert w.cmd("NOOP")[0] == 250
            w.close()


@r.test
def session_resumption_respects_sni():
    # BearSSL looks a session up before it reads the server name, so with
    # per-name certificates no session is resumed at all (RFC 6066
    # section 3 forbids resuming a session under another name) ...
    ctx = ctx_for()

    def connect(port, sni, tls_session=None):
        """(peer certificate, session, whether it was resumed)"""
        raw = socket.create_connection(("127.0.0.1", port), 10)
        tls = ctx.wrap_socket(raw, server_hostname=sni, session=tls_session)
        got = (tls.getpeercert(binary_form=True), tls.session,
               tls.session_reused)
        tls.close()
        return got
    cert, sess, _ = connect(srv.tls_port, "example.net")
    assert cert == der(NET[0])
    cert, _, reused = connect(srv.tls_port, "example.net", sess)
    assert not reused and cert == der(NET[0])
    cert, _, reused = connect(srv.tls_port, HOSTNAME, sess)
    assert not reused, "session of example.net resumed under " + HOSTNAME
    assert cert == der(DEFAULT[0]), subject(cert)
    # ... while with a single certificate sessions are resumed.
    one = Server(DEMO_TABLES, implicit_tls=True, sni=())
    try:
        _, sess, _ = connect(one.tls_port, "a.test")
        _, _, reused = connect(one.tls_port, "b.test", sess)
        assert reused, "the session cache is not used"
    finally:
        one.stop()
        one.cleanup()


@r.test
def client_renegotiation_refused():
    # BR_OPT_NO_RENEGOTIATION: a second handshake inside the session (a
    # CPU cost the client could make us pay at will) never completes.
    shakes = srv.log().count(" smtp tls version=")
    p = subprocess.Popen(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.tls_port,
         "-tls1_2", "-servername", "example.net"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        for line, pause in ((b"EHLO client.test\n", 1.0), (b"R\n", 1.0)):
            time.sleep(pause)
            p.stdin.write(line)
            p.stdin.flush()
        out = p.communicate(timeout=10)[0]
    except (BrokenPipeError, subprocess.TimeoutExpired):
        p.kill()
        out = p.communicate()[0]
    assert b"250 CHUNKING" in out and b"RENEGOTIATING" in out, out[-800:]
    assert b"no renegotiation" in out, out[-800:]
    assert wait_log(" smtp tls version=", shakes + 2, 1) == shakes + 1
    assert srv.proc.poll() is None
    still_serving()


# ---- STARTTLS state rules ----

@r.test
def starttls_state_rules():
    w = Wire(srv.port)
    w.cmd("EHLO client.test")
    code, text = w.cmd("STARTTLS now")
    assert code == 501, text
    assert w.cmd("MAIL FROM:<a@remote.test>")[0] == 250
    code, text = w.cmd("STARTTLS")
    assert code == 503, text
    # The refused STARTTLS left the transaction alone.
    assert w.cmd("RCPT TO:<alice@example.com>")[0] == 250
    assert w.cmd("RSET")[0] == 250
    w.starttls("example.net")
    # RFC 3207 4.2: the state is reset; EHLO is needed again.
    code, text = w.cmd("MAIL FROM:<a@remote.test>")
    assert code == 503, text
    code, caps = w.cmd("EHLO client.test")
    assert code == 250 and "STARTTLS" not in caps, caps
    assert "PIPELINING" in caps, caps
    code, text = w.cmd("STARTTLS")
    assert code == 503, text
    assert w.cmd("NOOP")[0] == 250
    assert w.cmd("QUIT")[0] == 221
    w.close()


@r.test
def starttls_right_after_greeting():
    w = Wire(srv.port)
    w.starttls(HOSTNAME)
    assert w.cmd("EHLO client.test")[0] == 250
    assert w.cmd("QUIT")[0] == 221
    w.close()


@r.test
def starttls_last_in_a_pipelined_group():
    # RFC 2920 3.1: EHLO and STARTTLS in one write is legitimate.
    w = Wire(srv.port)
    w.send(b"EHLO client.test\r\nSTARTTLS\r\n")
    assert w.reply()[0] == 250
    code, text = w.reply()
    assert code == 220, text
    w.sock = client_tls().wrap_socket(w.sock, server_hostname="example.net")
    w.sock.settimeout(10)
    assert w.cmd("EHLO client.test")[0] == 250
    assert w.cmd("QUIT")[0] == 221
    w.close()


# ---- RFC 3207 section 4: plaintext injection ----

def injection(pipelined):
    """STARTTLS and more commands in one write, then the handshake."""
    w = Wire(srv.port)
    w.cmd("EHLO client.test")
    w.send(b"STARTTLS\r\n" + pipelined)
    code, text = w.reply()
    assert code == 220, text
    # Nothing else may come in plaintext: the server now waits for our
    # ClientHello.
    extra = w.pending(0.5)
    assert extra == b"", "answered in plaintext: %r" % extra
    w.sock = client_tls().wrap_socket(w.sock, server_hostname="example.net")
    w.sock.settimeout(10)
    # The first replies after the handshake must be NOOP's and HELP's:
    # an injected command answered now would come first.
    w.send(b"NOOP\r\nHELP\r\n")
    first, second = w.reply(), w.reply()
    assert first[0] == 250 and second[0] == 214, (first, second)
    # The injected MAIL/RCPT were never acted upon.
    assert w.cmd("EHLO client.test")[0] == 250
    assert w.cmd("RCPT TO:<alice@example.com>")[0] == 503
    assert w.cmd("QUIT")[0] == 221
    w.close()


@r.test
def pipelined_starttls_injection_rset():
    injection(b"RSET\r\n")


@r.test
def pipelined_starttls_injection_mail():
    injection(b"MAIL FROM:<x@y>\r\n")
    injection(b"EHLO evil\r\nMAIL FROM:<x@y>\r\nRCPT TO:<alice@example.com>"
              b"\r\n")


# ---- handshake timeout and garbage ----

@r.test
def handshake_timeout():
    # timeout_tls = 1: a STARTTLS never followed by a ClientHello.
    w = Wire(srv.port)
    w.cmd("EHLO client.test")
    assert w.cmd("STARTTLS")[0] == 220
    t0 = time.time()
    assert closed_within(w.sock, 5), "still open after STARTTLS"
    assert time.time() - t0 > 0.5, time.time() - t0
    w.close()
    # The same on the implicit TLS port, and with half a ClientHello.
    for send in (b"", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"):
        s = socket.create_connection(("127.0.0.1", srv.tls_port), 10)
        s.sendall(send)
        t0 = time.time()
        assert closed_within(s, 5), send
        assert time.time() - t0 > 0.5, send
        s.close()


@r.test
def garbage_instead_of_client_hello():
    pid = srv.pid()
    junk = [os.urandom(600), b"\x16\x03\x01\xff\xff" + os.urandom(300),
            b"EHLO x\r\nMAIL FROM:<a@b>\r\n", b"\x00" * 2000]
    for data in junk:
        w = Wire(srv.port)
        w.cmd("EHLO client.test")
        assert w.cmd("STARTTLS")[0] == 220
        w.send(data)
        assert closed_within(w.sock, 5), data[:10]
        w.close()
        s = socket.create_connection(("127.0.0.1", srv.tls_port), 10)
        s.sendall(data)
        assert closed_within(s, 5), data[:10]
        s.close()
    assert srv.proc.poll() is None and srv.pid() == pid
    still_serving()


# ---- no certificate ----

@r.test
def without_certificate_no_starttls():
    plain = Server(DEMO_TABLES, tls=False)
    try:
        w = Wire(plain.port)
        code, caps = w.cmd("EHLO client.test")
        assert code == 250 and "STARTTLS" not in caps, caps
        code, text = w.cmd("STARTTLS")
        assert code == 454 and "4.7.0" in text, text
        assert w.cmd("NOOP")[0] == 250
        assert w.cmd("QUIT")[0] == 221
        w.close()
    finally:
        rc = plain.stop()
        report = plain.sanitizer_report()
        plain.cleanup()
    assert rc == 0 and report is None, (rc, report)


# ---- SIGHUP: certificates reloaded, a bad file keeps the old ----

def default_cert_seen():
    w = session(None)
    got = peer(w)
    w.cmd("QUIT")
    w.close()
    return got


@r.test
def sighup_reloads_certificates():
    pid = srv.pid()
    fresh = os.path.join(CERTS, "fresh")
    os.makedirs(fresh)
    new_cert, new_key = make_cert(fresh, "renewed.example")
    assert default_cert_seen() == der(DEFAULT[0])
    # A session established before the reload outlives it.
    old = session("example.net")
    assert old.cmd("EHLO client.test")[0] == 250
    loaded = srv.log().count("reload: configuration and certificates")
    shutil.copy(new_cert, LIVE_CERT)
    shutil.copy(new_key, LIVE_KEY)
    srv.reload()
    assert wait_log("reload: configuration and certificates", loaded + 1) \
        == loaded + 1, srv.log()[-1000:]
    assert default_cert_seen() == der(new_cert)
    w = session("example.net")
    assert peer(w) == der(NET[0])
    w.close()
    assert old.cmd("NOOP")[0] == 250
    assert peer(old) == der(NET[0])
    # Garbage PEM: the reload is refused and the renewed one stays.
    kept = srv.log().count("reload: configuration kept")
    with open(LIVE_CERT, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n"
                "-----END CERTIFICATE-----\n")
    srv.reload()
    assert wait_log("reload: configuration kept", kept + 1) == kept + 1, \
        srv.log()[-1000:]
    assert default_cert_seen() == der(new_cert)
    # A truncated key file is refused too.
    shutil.copy(new_cert, LIVE_CERT)
    with open(LIVE_KEY, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n")
    srv.reload()
    assert wait_log("reload: configuration kept", kept + 2) == kept + 2
    assert default_cert_seen() == der(new_cert)
    assert old.cmd("QUIT")[0] == 221
    old.close()
    assert srv.proc.poll() is None and srv.pid() == pid
    # Back to the original certificate for anything after this test.
    shutil.copy(DEFAULT[0], LIVE_CERT)
    shutil.copy(DEFAULT[1], LIVE_KEY)
    srv.reload()
    assert wait_log("reload: configuration and certificates", loaded + 2) \
        == loaded + 2
    assert default_cert_seen() == der(DEFAULT[0])


@r.test
def a_key_that_does_not_match_its_certificate_is_refused():
    d = tempfile.mkdtemp(prefix="vdmail-mismatch-", dir=CERTS)
    c1, _ = make_cert(d, "one.example")
    _, k2 = make_cert(d, "two.example")
    bad = Server(DEMO_TABLES, sni=(), start=False,
                 config="tls_sni = one.example %s %s" % (c1, k2))
    out = subprocess.run([bad.binary, "-t", "-c", bad.conf],
                         capture_output=True, timeout=30)
    assert out.returncode != 0
    assert b"does not match the key" in out.stderr, out.stderr
    bad.cleanup()


r.finish(srv)
