"""Mail submission end to end (protocols/smtp_auth.c, smtp_server.c;
RFC 6409, 4954, 8314): `listen = submission` with STARTTLS ("587") and
implicit TLS ("465"); AUTH PLAIN and LOGIN only under TLS (unless
login_plaintext = yes) through core/login; MAIL only after a login; the
envelope sender and every From: address must be the user's own; relay
for authenticated users (remote recipients wait in the queue for
outbound delivery); the same 535 for every refused login; hostile input;
a submitted message read back over POP3 byte for byte. Real clients:
smtplib, swaks, poplib, and raw sockets where the exact bytes matter.

Failing logins come from loopback addresses of their own (127.0.X.Y)
and accounts of their own, so the login throttle (0.5, 1, 2 s...; a
block after 10) never slows or blocks another test.

Needs: swaks, openssl."""
import atexit
import base64
import hashlib
import os
import poplib
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DEMO_TABLES, ROOT, VDCTL, Runner, Server,  # noqa: E402
                     client_tls, free_port)

r = Runner("submission")

P587, P465, PPOP = free_port(), free_port(), free_port()
WORK = tempfile.mkdtemp(prefix="vdmail-subm-")
atexit.register(shutil.rmtree, WORK, True)

ALICE, ALICE_PW = "alice@example.com", "alice-password"
BOB_BOX = "example.com/bob"
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_FAILED = "535 5.7.8 Authentication credentials invalid"


# ---- tables ----

def ssha(pw, salt=b"subm-salt"):
    digest = hashlib.sha1(pw.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


# login -> users fields; each gets an address and LOCALPART-password.
EXTRA_USERS = {
    "walt@example.com": "",                       # wrong-password victim
    "tina@example.com": "services=-smtps:ALL",    # no implicit TLS
    "sam@example.com": "services=-smtp:ALL",      # no submission on 587
    "ned@nosmtp.example": "",                     # its domain: -smtp:ALL
    "pia@example.com": "",                        # pipelining
}


def tables():
    t = dict(DEMO_TABLES)
    t["domains"] = DEMO_TABLES["domains"] + \
        "nosmtp.example status=active services=-smtp:ALL\n"
    t["addresses"] = DEMO_TABLES["addresses"] + "".join(
        "%s user=%s\n" % (u, u) for u in EXTRA_USERS)
    t["users"] = DEMO_TABLES["users"] + "".join(
        ("%s %s" % (u, f)).rstrip() + "\n" for u, f in EXTRA_USERS.items())
    with open(os.path.join(ROOT, "etc", "passwords.txt")) as f:
        pw = f.read()
    t["passwords"] = pw + "".join(
        "%s %s\n" % (u, ssha(u.split("@")[0] + "-password"))
        for u in EXTRA_USERS)
    return t


T = tables()
srv = Server(T, config=(
    "listen = submission 127.0.0.1:%d\n"
    "listen = submission 127.0.0.1:%d tls\n"
    "listen = pop3 127.0.0.1:%d\n" % (P587, P465, PPOP)))
P_YES = free_port()
srv_yes = Server(T, config="login_plaintext = yes\n"
                 "listen = submission 127.0.0.1:%d\n" % P_YES)

_ip = [0]
_ip_lock = threading.Lock()


def fresh_ip():
    """A loopback address no other test uses (its own throttle key)."""
    with _ip_lock:
        _ip[0] += 1
        n = _ip[0]
    return "127.0.%d.%d" % (n // 250 + 1, n % 250 + 1)


def eq(got, want):
    if got != want:
        raise AssertionError("got %r\n  want %r" % (got, want))
    return got


def starts(got, prefix):
    if not got.startswith(prefix):
        raise AssertionError("got %r\n  want %r..." % (got, prefix))
    return got


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def plain_ir(user, pw, authz=""):
    return b64("%s\0%s\0%s" % (authz, user, pw))


class C:
    """One SMTP connection over a raw socket: exact bytes, own buffer (so
    bytes sent before a TLS switch stay visible in self.buf)."""

    def __init__(self, port, src=None, tls=False, timeout=10):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if src:
            s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        if tls:
            s = client_tls().wrap_socket(s)
        self.sock, self.buf = s, b""
        self.greeting = self.reply()
        starts(self.greeting, "220 ")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("connection closed; buffered %r" % self.buf)
            self.buf += d
        i = self.buf.index(b"\r\n")
        out, self.buf = self.buf[:i], self.buf[i + 2:]
        return out.decode("utf-8", "replace")

    def reply(self):
        """One reply, every line joined by \\n."""
        lines = [self.line()]
        while len(lines[-1]) >= 4 and lines[-1][3] == "-":
            lines.append(self.line())
        return "\n".join(lines)

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def ehlo(self, name="client.test"):
        rep = self.cmd("EHLO " + name)
        starts(rep, "250")
        return [ln[4:] for ln in rep.split("\n")]

    def starttls(self):
        eq(self.cmd("STARTTLS"), "220 2.0.0 Ready to start TLS")
        assert self.buf == b"", self.buf
        self.sock = client_tls().wrap_socket(self.sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def login(port=P587, user=ALICE, pw=ALICE_PW, src=None):
    """A connection logged in with AUTH PLAIN (after STARTTLS on 587)."""
    c = C(port, src=src, tls=port == P465)
    c.ehlo()
    if port == P587:
        c.starttls()
        c.ehlo()
    eq(c.cmd("AUTH PLAIN " + plain_ir(user, pw)), AUTH_OK)
    return c


def stuff(msg):
    """Dot-stuffed DATA text with the end marker."""
    out = re.sub(rb"(?m)^\.", b"..", msg)
    return out + b".\r\n"


def send_data(c, msg):
    """DATA of msg; returns the final reply."""
    starts(c.cmd("DATA"), "354 ")
    c.send(stuff(msg))
    return c.reply()


def message(marker, from_line=None, extra=b""):
    if from_line is None:
        from_line = b"From: Alice <alice@example.com>"
    if isinstance(from_line, str):
        from_line = from_line.encode()
    m = marker.encode()
    return (from_line + b"\r\nTo: bob@example.com\r\nSubject: " + m +
            b"\r\nMessage-ID: <" + m + b"@example.com>\r\n" + extra +
            b"\r\nHello Bob, " + m + b".\r\n.a line with a leading dot\r\n"
            b"the end\r\n")


_marker = [0]


def marker(tag):
    _marker[0] += 1
    return "subm-%s-%d-%d" % (tag, os.getpid(), _marker[0])


def find_in(mailbox, needle, timeout=10):
    """The stored messages holding needle, waiting up to timeout for one."""
    needle = needle.encode() if isinstance(needle, str) else needle
    deadline = time.time() + timeout
    while True:
        hits = []
        for p in srv.messages(mailbox):
            with open(p, "rb") as f:
                data = f.read()
            if needle in data:
                hits.append(data)
        if hits or time.time() >= deadline:
            return hits
        time.sleep(0.05)


def queued_with(needle):
    needle = needle.encode() if isinstance(needle, str) else needle
    d = os.path.join(srv.spool, "queue")
    out = []
    for n in (os.listdir(d) if os.path.isdir(d) else []):
        try:
            with open(os.path.join(d, n), "rb") as f:
                if needle in f.read():
                    out.append(n)
        except OSError:
            pass
    return out


def assert_not_accepted(mk, wait=0.7):
    """Nothing with marker mk queued or delivered."""
    time.sleep(wait)
    eq(queued_with(mk), [])
    eq(find_in(BOB_BOX, mk, timeout=0), [])


def check_stored(data, msg, sender=ALICE, proto=b"ESMTPSA"):
    """data is our Return-Path and one Received header, then msg exactly."""
    if not data.endswith(msg):
        raise AssertionError("stored message does not end with the sent "
                             "one:\n%r\n  sent:\n%r" % (data[-400:], msg))
    prefix = data[:len(data) - len(msg)]
    lines = prefix.split(b"\r\n")
    eq(lines[0], b"Return-Path: <%s>" % sender.encode())
    starts(lines[1], b"Received: from ")
    eq(lines[-1], b"")
    for ln in lines[2:-1]:
        assert ln[:1] in (b"\t", b" "), ("not one Received header", prefix)
    assert b" with " + proto + b" " in prefix, prefix


def wait_log(text, timeout=5):
    if not srv.wait_log(text, timeout):
        raise AssertionError("not in the log: %r\n%s" % (text,
                                                        srv.log()[-2000:]))


# ---- 1. port "587": STARTTLS, then AUTH ----

@r.test
def s587_ehlo_before_tls_offers_starttls_not_auth():
    with C(P587) as c:
        ext = c.ehlo()
        assert "STARTTLS" in ext, ext
        assert not any(e.upper().startswith("AUTH") for e in ext), ext


@r.test
def s587_auth_before_tls_is_538_and_checks_nothing():
    user = "cleartext-probe@example.com"
    with C(P587, src=fresh_ip()) as c:
        c.ehlo()
        eq(c.cmd("AUTH PLAIN " + plain_ir(user, "secret")),
           "538 5.7.11 Encryption required for requested authentication "
           "mechanism")
        starts(c.cmd("AUTH LOGIN"), "538 5.7.11 ")
        starts(c.cmd("AUTH PLAIN"), "538 5.7.11 ")
        eq(c.cmd("NOOP"), "250 2.0.0 Ok")
    assert "<%s>" % user not in srv.log(), "a cleartext AUTH was acted on"


@r.test
def s587_mail_before_auth_is_530():
    with C(P587) as c:
        c.ehlo()
        eq(c.cmd("MAIL FROM:<alice@example.com>"),
           "530 5.7.0 Authentication required")
        c.starttls()
        c.ehlo()
        eq(c.cmd("MAIL FROM:<alice@example.com>"),
           "530 5.7.0 Authentication required")
        starts(c.cmd("RCPT TO:<bob@example.com>"), "503 ")
        starts(c.cmd("DATA"), "503 ")


@r.test
def s587_ehlo_after_starttls_offers_auth_plain_login():
    with C(P587) as c:
        c.ehlo()
        c.starttls()
        ext = c.ehlo()
        assert "AUTH PLAIN LOGIN" in ext, ext
        assert "STARTTLS" not in ext, ext
        starts(c.cmd("STARTTLS"), "503 ")


@r.test
def s587_smtplib_login_plain_and_login():
    # s.login picks PLAIN (CRAM-MD5 is not offered)
    with smtplib.SMTP("127.0.0.1", P587, timeout=10) as s:
        s.starttls(context=client_tls())
        code, text = s.login(ALICE, ALICE_PW)
        eq((code, text), (235, b"2.7.0 Authentication successful"))
    # LOGIN, with the user name as initial response, and without
    for ir in (True, False):
        with smtplib.SMTP("127.0.0.1", P587, timeout=10) as s:
            s.starttls(context=client_tls())
            s.ehlo()
            s.user, s.password = ALICE, ALICE_PW
            code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=ir)
            eq(code, 235)
            eq(s.mail(ALICE)[0], 250)


@r.test
def s587_auth_plain_initial_response_and_continuation():
    with login() as c:
        eq(c.cmd("MAIL FROM:<alice@example.com>"), "250 2.1.0 Ok")
    with C(P587) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        c.send("AUTH PLAIN\r\n")
        eq(c.line(), "334 ")                    # an empty challenge
        eq(c.cmd(plain_ir(ALICE, ALICE_PW)), AUTH_OK)
        eq(c.cmd("MAIL FROM:<alice@example.com>"), "250 2.1.0 Ok")
    # the authzid may be the user itself (RFC 4616)
    with C(P587) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        eq(c.cmd("AUTH plain " + plain_ir(ALICE, ALICE_PW, ALICE)), AUTH_OK)


@r.test
def s587_auth_login_both_prompts():
    with C(P587) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        eq(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6")
        eq(c.cmd(b64(ALICE)), "334 UGFzc3dvcmQ6")
        eq(c.cmd(b64(ALICE_PW)), AUTH_OK)
        eq(c.cmd("MAIL FROM:<alice@example.com>"), "250 2.1.0 Ok")
    with C(P587) as c:  # user name as initial response
        c.ehlo()
        c.starttls()
        c.ehlo()
        eq(c.cmd("AUTH LOGIN " + b64(ALICE)), "334 UGFzc3dvcmQ6")
        eq(c.cmd(b64(ALICE_PW)), AUTH_OK)


@r.test
def s587_star_cancels_every_step():
    with C(P587) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        eq(c.cmd("AUTH PLAIN"), "334 ")
        eq(c.cmd("*"), "501 5.0.0 Authentication cancelled")
        eq(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6")
        eq(c.cmd("*"), "501 5.0.0 Authentication cancelled")
        eq(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6")
        eq(c.cmd(b64(ALICE)), "334 UGFzc3dvcmQ6")
        eq(c.cmd("*"), "501 5.0.0 Authentication cancelled")
        # nothing is half-done: not logged in, a new AUTH works
        eq(c.cmd("MAIL FROM:<alice@example.com>"),
           "530 5.7.0 Authentication required")
        eq(c.cmd("AUTH PLAIN " + plain_ir(ALICE, ALICE_PW)), AUTH_OK)


@r.test
def s587_garbage_base64_and_unknown_mechanism():
    with C(P587) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        for bad in ("AUTH PLAIN !!!not*base64", "AUTH PLAIN " + b64("nonul"),
                    "AUTH LOGIN %%%%"):
            rep = c.cmd(bad)
            assert rep[:9] in ("535 5.7.8", "501 5.5.2"), (bad, rep)
        eq(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6")
        starts(c.cmd("@@@@"), "501 ")
        eq(c.cmd("AUTH CRAM-MD5"), "504 5.5.4 Unrecognized authentication "
           "type")
        starts(c.cmd("AUTH GSSAPI " + b64("x")), "504 5.5.4 ")
        eq(c.cmd("NOOP"), "250 2.0.0 Ok")
        eq(c.cmd("MAIL FROM:<alice@example.com>"),
           "530 5.7.0 Authentication required")


@r.test
def s587_authzid_other_than_authcid_refused():
    # RFC 4616 2: alice's password does not make her bob
    with C(P587) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        eq(c.cmd("AUTH PLAIN " + plain_ir(ALICE, ALICE_PW,
                                          "bob@example.com")), AUTH_FAILED)
        eq(c.cmd("MAIL FROM:<bob@example.com>"),
           "530 5.7.0 Authentication required")
        eq(c.cmd("AUTH PLAIN " + plain_ir(ALICE, ALICE_PW)), AUTH_OK)
        starts(c.cmd("MAIL FROM:<bob@example.com>"), "553 5.7.1 ")


@r.test
def s587_login_by_alternate_and_alias_identity():
    # the login is the user: her own addresses, never another's
    for ident in ("alice@example.net", "a.liddell@example.com"):
        with login(user=ident) as c:
            eq((ident, c.cmd("MAIL FROM:<alice@example.com>")),
               (ident, "250 2.1.0 Ok"))
            c.cmd("RSET")
            eq((ident, c.cmd("MAIL FROM:<bob@example.com>")),
               (ident, "553 5.7.1 Sender address not owned by "
                "alice@example.com"))


@r.test
def s587_auth_twice_is_503():
    with login() as c:
        eq(c.cmd("AUTH PLAIN " + plain_ir(ALICE, ALICE_PW)),
           "503 5.5.1 Already authenticated")
        starts(c.cmd("AUTH LOGIN"), "503 5.5.1 ")
        eq(c.cmd("MAIL FROM:<alice@example.com>"), "250 2.1.0 Ok")


@r.test
def s587_auth_needs_ehlo():
    with C(P587) as c:
        eq(c.cmd("HELO client.test"), "250 2.0.0 mail.example.com")
        c.starttls()
        starts(c.cmd("AUTH PLAIN " + plain_ir(ALICE, ALICE_PW)), "503 5.5.1 ")
        c.cmd("HELO client.test")
        starts(c.cmd("AUTH PLAIN " + plain_ir(ALICE, ALICE_PW)), "503 5.5.1 ")


@r.test
def s587_wrong_password_is_535():
    with C(P587, src=fresh_ip()) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        t0 = time.time()
        eq(c.cmd("AUTH PLAIN " + plain_ir("walt@example.com", "nope")),
           AUTH_FAILED)
        assert time.time() - t0 >= 0.4, "a failure is answered late"
        eq(c.cmd("MAIL FROM:<walt@example.com>"),
           "530 5.7.0 Authentication required")
    wait_log("submission login user=<walt@example.com> result=fail "
             "reason=bad_password")


@r.test
def s465_smtps_login_and_send():
    mk = marker("smtps")
    msg = message(mk)
    with smtplib.SMTP_SSL("127.0.0.1", P465, timeout=10,
                          context=client_tls()) as s:
        s.ehlo()
        assert "STARTTLS" not in s.esmtp_features, s.esmtp_features
        eq(s.esmtp_features.get("auth", "").split(), ["PLAIN", "LOGIN"])
        s.login(ALICE, ALICE_PW)
        eq(s.sendmail(ALICE, ["bob@example.com"], msg), {})
    hits = find_in(BOB_BOX, mk)
    eq(len(hits), 1)
    check_stored(hits[0], msg)
    with C(P465, tls=True) as c:
        c.ehlo()
        starts(c.cmd("STARTTLS"), "503 5.5.1 ")


@r.test
def login_plaintext_yes_offers_auth_without_tls():
    mk = marker("plaintext")
    msg = message(mk)
    with smtplib.SMTP("127.0.0.1", P_YES, timeout=10) as s:
        s.ehlo()
        eq(s.esmtp_features.get("auth", "").split(), ["PLAIN", "LOGIN"])
        s.login(ALICE, ALICE_PW)
        eq(s.sendmail(ALICE, ["bob@example.com"], msg), {})
    hits = []
    deadline = time.time() + 10
    while not hits and time.time() < deadline:
        for p in srv_yes.messages(BOB_BOX):
            data = open(p, "rb").read()
            if mk.encode() in data:
                hits.append(data)
        time.sleep(0.05)
    eq(len(hits), 1)
    check_stored(hits[0], msg, proto=b"ESMTPA")
    with C(P_YES) as c:  # still MAIL needs a login
        c.ehlo()
        eq(c.cmd("MAIL FROM:<alice@example.com>"),
           "530 5.7.0 Authentication required")


# ---- 2. swaks ----

def swaks(port, extra, msg):
    path = os.path.join(WORK, "msg-%d.eml" % time.time_ns())
    # swaks sends the data, then CRLF "." CRLF: the file has no last CRLF
    assert msg.endswith(b"\r\n")
    with open(path, "wb") as f:
        f.write(msg[:-2])
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % port] + extra +
        ["--auth-user", ALICE, "--auth-password", ALICE_PW,
         "--from", ALICE, "--to", "bob@example.com", "--data", "@" + path],
        capture_output=True, timeout=30)
    text = out.stdout.decode(errors="replace")
    assert out.returncode == 0, text + out.stderr.decode(errors="replace")
    return text


@r.test
def swaks_starttls_tlsc_plain_login_deliver_byte_identical():
    for extra in (["--tls", "--auth", "PLAIN"], ["--tlsc", "--auth", "PLAIN"],
                  ["--tls", "--auth", "LOGIN"], ["--tlsc", "--auth", "LOGIN"]):
        mk = marker("swaks")
        msg = message(mk, extra=b"X-Long: " + b"y" * 900 + b"\r\n")
        port = P465 if "--tlsc" in extra else P587
        text = swaks(port, extra, msg)
        assert "235 2.7.0 Authentication successful" in text, text
        hits = find_in(BOB_BOX, mk)
        assert len(hits) == 1, (extra, len(hits))
        check_stored(hits[0], msg)
        assert b"with ESMTPSA id " in hits[0], hits[0][:400]


# ---- 3. sender rules ----

@r.test
def mail_from_own_addresses_250():
    with login() as c:
        for a in ("alice@example.com", "a.liddell@example.com",
                  "alice@example.net", "a.liddell@example.net",
                  "Alice@Example.COM"):
            eq((a, c.cmd("MAIL FROM:<%s>" % a)), (a, "250 2.1.0 Ok"))
            eq(c.cmd("RSET"), "250 2.0.0 Ok")


@r.test
def mail_from_foreign_addresses_553():
    # a connection each: max_errors (10) counts every 5xx
    for a in ("bob@example.com", "bob@example.net", "x@nowhere.test",
              "alice@nowhere.test", "alice@suspended.example", "",
              "alice+tag@example.com"):
        with login() as c:
            rep = c.cmd("MAIL FROM:<%s>" % a)
            eq((a, rep), (a, "553 5.7.1 Sender address not owned by "
                          "alice@example.com"))
            starts(c.cmd("RCPT TO:<bob@example.com>"), "503 ")
            eq(c.cmd("MAIL FROM:<alice@example.com>"), "250 2.1.0 Ok")


@r.test
def mail_from_with_auth_parameter():
    # RFC 4954 5: a server that offers AUTH MUST accept MAIL ... AUTH=
    with login() as c:
        eq(c.cmd("MAIL FROM:<alice@example.com> AUTH=<>"), "250 2.1.0 Ok")
        eq(c.cmd("RSET"), "250 2.0.0 Ok")
        eq(c.cmd("MAIL FROM:<alice@example.com> AUTH=alice@example.com"),
           "250 2.1.0 Ok")


def from_case(from_line, want_ok, tag, extra=b"", bdat=False, body=None):
    mk = marker(tag)
    msg = message(mk, from_line, extra)
    if body is not None:
        msg = body.replace(b"MARK", mk.encode())
    with login() as c:
        eq(c.cmd("MAIL FROM:<alice@example.com>"), "250 2.1.0 Ok")
        eq(c.cmd("RCPT TO:<bob@example.com>"), "250 2.1.5 Ok")
        if bdat:
            c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
            rep = c.reply()
        else:
            rep = send_data(c, msg)
        if want_ok:
            starts(rep, "250 2.0.0 Ok: queued as ")
            hits = find_in(BOB_BOX, mk)
            eq(len(hits), 1)
            check_stored(hits[0], msg)
        else:
            eq((from_line, rep), (from_line,
               "553 5.7.1 From: header address not owned by "
               "alice@example.com"))
            eq(c.cmd("NOOP"), "250 2.0.0 Ok")  # in step after the refusal
            assert_not_accepted(mk)


@r.test
def from_header_not_the_users_is_553_nothing_queued():
    from_case("From: Mallory <bob@example.com>", False, "mallory")
    wait_log("reason=from_not_owned")
    from_case("From: bob@example.com", False, "bare")
    from_case("From: <x@nowhere.test>", False, "nowhere")
    from_case("From: Mallory <bob@example.com>", False, "bdat", bdat=True)


@r.test
def from_header_display_names_comments_folding_accepted():
    for f in ('From: "Alice L." <alice@example.com> (work)',
              'From: "Liddell, Alice" <alice@example.com>',
              'From: =?utf-8?q?Alice_L=C3=AEddell?= <alice@example.net>',
              'From: alice@example.com (Alice (the (real) one))',
              'FROM: a.liddell@example.com',
              'From: "Alice\r\n Liddell"\r\n\t<a.liddell@example.com>',
              'From:\r\n <alice@example.com>'):
        from_case(f, True, "ok")
    from_case('From: "Alice" <alice@example.com>', True, "bdatok", bdat=True)


@r.test
def from_header_two_addresses_one_foreign_553():
    for f in ("From: alice@example.com, bob@example.com",
              "From: Bob <bob@example.com>, Alice <alice@example.com>",
              "From: Alice <alice@example.com>,\r\n Bob <bob@example.com>",
              'From: "alice@example.com" <bob@example.com>',
              "From: alice@example.com <bob@example.com>"):
        from_case(f, False, "two")
    from_case("From: alice@example.com, A <a.liddell@example.net>", True,
              "twoown")


def bdat_chunks(chunks, want_ok, tag):
    mk = marker(tag)
    chunks = [ch.replace(b"MARK", mk.encode()) for ch in chunks]
    with login() as c:
        eq(c.cmd("MAIL FROM:<alice@example.com>"), "250 2.1.0 Ok")
        eq(c.cmd("RCPT TO:<bob@example.com>"), "250 2.1.5 Ok")
        for i, ch in enumerate(chunks):
            last = i == len(chunks) - 1
            c.send(b"BDAT %d%s\r\n" % (len(ch), b" LAST" if last else b"")
                   + ch)
            rep = c.reply()
            if not last:
                eq(rep, "250 2.0.0 %d octets received"
                   % sum(len(x) for x in chunks[:i + 1]))
        if want_ok:
            starts(rep, "250 2.0.0 Ok: queued as ")
            hits = find_in(BOB_BOX, mk)
            eq(len(hits), 1)
            check_stored(hits[0], b"".join(chunks))
        else:
            eq(rep, "553 5.7.1 From: header address not owned by "
               "alice@example.com")
            assert_not_accepted(mk)


@r.test
def from_header_split_across_bdat_chunks():
    bdat_chunks([b"Subject: MARK\r\nFrom: Alice <ali",
                 b"ce@exam", b"ple.com>\r\n\r\nbody\r\n"], True, "bdat3")
    bdat_chunks([b"Subject: MARK\r\nFrom: Alice <alice@example.com>,\r\n",
                 b" <bob@example.com>\r\n", b"\r\nbody\r\n"], False,
                "bdat3bad")


@r.test
def from_header_missing_553():
    from_case(b"Sender: alice@example.com", False, "nofrom")
    from_case(b"From:", False, "emptyfrom")
    from_case(b"From: undisclosed-senders:;", False, "group")


@r.test
def from_header_only_in_the_body_553():
    # The header has no From:; a body line "From: alice@..." is not one.
    from_case(None, False, "bodyfrom", body=(
        b"To: bob@example.com\r\nSubject: MARK\r\n\r\n"
        b"From: alice@example.com\r\nMARK\r\n"))


@r.test
def message_without_header_553():
    # no header at all: the message starts with the empty line
    from_case(None, False, "nohdr", body=(
        b"\r\nFrom: alice@example.com\r\nMARK\r\n"))


@r.test
def from_header_second_field_foreign_553():
    # RFC 5322 3.6 allows one From: field; a second one naming someone
    # else must not slip through either.
    from_case("From: alice@example.com", False, "twofields",
              extra=b"From: Mallory <bob@example.com>\r\n")


@r.test
def from_header_quoted_pair_in_comment_553():
    # "(\()" is one comment (RFC 5322 3.2.2 quoted-pair); then comes the
    # angle address of a second mailbox, bob's.
    from_case(r"From: alice@example.com, (\() <bob@example.com>", False,
              "qpair")


# ---- 4. relay ----

@r.test
def relay_remote_recipient_waits_in_queue():
    mk = marker("relay")
    msg = message(mk)
    with login() as c:
        eq(c.cmd("MAIL FROM:<alice@example.com>"), "250 2.1.0 Ok")
        eq(c.cmd("RCPT TO:<someone@remote.test>"),
           "250 2.1.5 Ok, queued for outbound delivery")
        eq(c.cmd("RCPT TO:<bob@example.com>"), "250 2.1.5 Ok")
        rep = send_data(c, msg)
    m = re.match(r"250 2\.0\.0 Ok: queued as ([0-9A-Fa-f]+)$", rep)
    assert m, rep
    qid = m.group(1)
    hits = find_in(BOB_BOX, mk)
    eq(len(hits), 1)
    check_stored(hits[0], msg)
    wait_log("%s: to=<someone@remote.test> relay=none" % qid)
    line = [ln for ln in srv.log().splitlines()
            if "%s: to=<someone@remote.test> relay=none" % qid in ln][0]
    # no name server answers in the tests: outbound delivery defers it
    assert "status=deferred (Host or domain name lookup failed" in line, \
        line
    # a retry (queue_retry_min = 1) must not deliver bob's copy again
    deadline = time.time() + 5
    while time.time() < deadline and srv.log().count(
            "%s: to=<someone@remote.test>" % qid) < 2:
        time.sleep(0.1)
    assert srv.log().count("%s: to=<someone@remote.test>" % qid) >= 2
    eq(len(find_in(BOB_BOX, mk, timeout=0)), 1)
    assert queued_with(mk) == [qid], (queued_with(mk), qid)
    out = subprocess.run([VDCTL, "-c", srv.conf, "queue", "list"],
                         capture_output=True, text=True, timeout=30)
    eq(out.returncode, 0)
    block = out.stdout.split(qid, 1)[1].split("\n\n")[0]
    assert re.search(r"^%s \S+ \d+ <alice@example\.com>$" % qid, out.stdout,
                     re.M), out.stdout
    assert re.search(r"waiting\s+<someone@remote\.test> \(outbound "
                     r"delivery\)", block), out.stdout
    assert re.search(r"delivered\s+<bob@example\.com>", block), out.stdout
    out = subprocess.run([VDCTL, "-c", srv.conf, "queue", "show", qid],
                         capture_output=True, text=True, timeout=30)
    eq(out.returncode, 0)
    assert "sender    <alice@example.com>" in out.stdout, out.stdout
    assert "protocol  ESMTPSA" in out.stdout, out.stdout
    assert re.search(r"waiting\s+<someone@remote\.test>", out.stdout)
    assert "Subject: %s" % mk in out.stdout, out.stdout
    assert "Received: from " in out.stdout, out.stdout
    assert "Hello Bob" not in out.stdout, "queue show prints the body"
    bad = subprocess.run([VDCTL, "-c", srv.conf, "queue", "show",
                          "../queue"], capture_output=True, timeout=30)
    assert bad.returncode != 0


@r.test
def port25_still_refuses_relay_and_auth():
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
        s.ehlo()
        assert not s.has_extn("auth"), s.esmtp_features
        s.starttls(context=client_tls())
        s.ehlo()
        assert not s.has_extn("auth"), s.esmtp_features
        code, text = s.docmd("AUTH", "PLAIN " + plain_ir(ALICE, ALICE_PW))
        eq(code, 503)
        eq(s.mail("alice@example.com")[0], 250)
        code, text = s.rcpt("someone@remote.test")
        eq(code, 554)
        starts(text, b"5.7.1 ")


# ---- 5. access rules: one answer for every refusal ----

def refused_login(port, user, pw):
    with C(port, src=fresh_ip(), tls=port == P465) as c:
        c.ehlo()
        if port == P587:
            c.starttls()
            c.ehlo()
        t0 = time.time()
        rep = c.cmd("AUTH PLAIN " + plain_ir(user, pw))
        took = time.time() - t0
        after = c.cmd("MAIL FROM:<%s>" % user)
    return rep, took, after


@r.test
def access_refusals_all_535_with_reason_logged():
    cases = [
        (P587, "nobody@example.com", "x", "unknown_user"),
        (P587, "bob@example.com", "alice-password", "bad_password"),
        (P587, "erin@example.com", "erin-password", "user_inactive"),
        (P587, "frank@example.com", "frank-password", "user_disabled"),
        (P587, "dave@deleted.example", "dave-password", "domain_deleted"),
        (P587, "sam@example.com", "sam-password", "service_denied_user"),
        (P587, "ned@nosmtp.example", "ned-password", "service_denied_domain"),
        (P465, "tina@example.com", "tina-password", "service_denied_user"),
        (P465, "nobody@nowhere.test", "x", "unknown_domain"),
    ]
    results = [None] * len(cases)

    def run(i):
        port, user, pw, _ = cases[i]
        results[i] = refused_login(port, user, pw)

    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    for (port, user, pw, reason), res in zip(cases, results):
        assert res is not None, user
        rep, took, after = res
        eq((user, rep), (user, AUTH_FAILED))
        assert took >= 0.4, (user, "answered at once", took)
        eq((user, after), (user, "530 5.7.0 Authentication required"))
        wait_log("submission login user=<%s> result=fail reason=%s"
                 % (user, reason))
    # the right passwords really are the right ones where the service is
    # allowed: tina on 587, sam on 465 (a -smtp rule is not -smtps)
    login(P587, "tina@example.com", "tina-password").close()
    login(P465, "sam@example.com", "sam-password").close()


@r.test
def access_inactive_domain_454():
    with C(P587, src=fresh_ip()) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        rep = c.cmd("AUTH PLAIN " + plain_ir("carol@suspended.example",
                                             "carol-password"))
        starts(rep, "454 4.7.0 ")
        eq(c.cmd("MAIL FROM:<carol@suspended.example>"),
           "530 5.7.0 Authentication required")
    wait_log("submission login user=<carol@suspended.example> "
             "result=tempfail reason=domain_inactive")


# ---- 6. bad input ----

@r.test
def overlong_auth_command_line():
    with C(P587) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        # RFC 4954 4: AUTH lines may reach 12288 octets; past that, 500.
        starts(c.cmd("AUTH PLAIN " + "QUFB" * 3200), "500 ")
        eq(c.cmd("NOOP"), "250 2.0.0 Ok")
        eq(c.cmd("MAIL FROM:<alice@example.com>"),
           "530 5.7.0 Authentication required")
        eq(c.cmd("AUTH PLAIN " + plain_ir(ALICE, ALICE_PW)), AUTH_OK)


@r.test
def overlong_base64_response_ends_the_exchange():
    # RFC 4954 4: a response longer than the server's buffer (12288
    # octets) fails the AUTH command with 500 (5.5.6); the next line is a
    # command again.
    # (Fresh addresses and no real account: while the exchange wrongly
    # goes on, NOOP becomes a password and a failed login.)
    got = []
    for start in ("AUTH PLAIN", "AUTH LOGIN",
                  "AUTH LOGIN " + b64("overlong@example.com")):
        with C(P587, src=fresh_ip()) as c:
            c.ehlo()
            c.starttls()
            c.ehlo()
            starts(c.cmd(start), "334 ")
            rep = c.cmd("QUFB" * 3200)       # 12800 bytes: past 12288
            got.append((start, rep[:3], c.cmd("NOOP"),
                        c.cmd("AUTH PLAIN " + plain_ir(ALICE, ALICE_PW))))
    eq(got, [(start, "500", "250 2.0.0 Ok", AUTH_OK)
             for start in ("AUTH PLAIN", "AUTH LOGIN",
                           "AUTH LOGIN " + b64("overlong@example.com"))])


@r.test
def starttls_injection_auth_not_acted_on():
    user = "inject@example.com"
    with C(P587, src=fresh_ip()) as c:
        c.ehlo()
        c.send("STARTTLS\r\nAUTH PLAIN %s\r\n" % plain_ir(user, "x"))
        eq(c.line(), "220 2.0.0 Ready to start TLS")
        assert c.buf == b"", c.buf
        c.sock = client_tls().wrap_socket(c.sock)
        ext = c.ehlo()  # the first reply under TLS is EHLO's
        assert "AUTH PLAIN LOGIN" in ext, ext
        eq(c.cmd("MAIL FROM:<alice@example.com>"),
           "530 5.7.0 Authentication required")
    time.sleep(0.3)
    assert "<%s>" % user not in srv.log(), "the injected AUTH was acted on"
    # with the real credentials: injected, and still not logged in
    with C(P587) as c:
        c.ehlo()
        c.send("STARTTLS\r\nAUTH PLAIN %s\r\n" % plain_ir(ALICE, ALICE_PW))
        eq(c.line(), "220 2.0.0 Ready to start TLS")
        c.sock = client_tls().wrap_socket(c.sock)
        c.ehlo()
        eq(c.cmd("MAIL FROM:<alice@example.com>"),
           "530 5.7.0 Authentication required")


@r.test
def auth_inside_a_transaction_503_transaction_intact():
    mk = marker("midtx")
    msg = message(mk)
    with login() as c:
        eq(c.cmd("MAIL FROM:<alice@example.com>"), "250 2.1.0 Ok")
        starts(c.cmd("AUTH PLAIN " + plain_ir(ALICE, ALICE_PW)), "503 5.5.1 ")
        eq(c.cmd("RCPT TO:<bob@example.com>"), "250 2.1.5 Ok")
        starts(c.cmd("AUTH LOGIN"), "503 5.5.1 ")
        starts(send_data(c, msg), "250 2.0.0 Ok: queued as ")
    eq(len(find_in(BOB_BOX, mk)), 1)


@r.test
def starttls_resets_a_plaintext_login():
    with smtplib.SMTP("127.0.0.1", P_YES, timeout=10) as s:
        s.ehlo()
        s.login(ALICE, ALICE_PW)
        s.starttls(context=client_tls())
        s.ehlo()
        eq(s.mail(ALICE)[0], 530)  # RFC 3207 4.2: forget the login


@r.test
def pipelined_auth_with_initial_response():
    # RFC 4954 4: AUTH PLAIN with an initial response may be pipelined
    mk = marker("pipe")
    msg = message(mk, "From: pia@example.com")
    with C(P587) as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        c.send("AUTH PLAIN %s\r\nMAIL FROM:<pia@example.com>\r\n"
               "RCPT TO:<bob@example.com>\r\nDATA\r\n"
               % plain_ir("pia@example.com", "pia-password"))
        eq(c.reply(), AUTH_OK)
        eq(c.reply(), "250 2.1.0 Ok")
        eq(c.reply(), "250 2.1.5 Ok")
        starts(c.reply(), "354 ")
        c.send(stuff(msg))
        starts(c.reply(), "250 2.0.0 Ok: queued as ")
    hits = find_in(BOB_BOX, mk)
    eq(len(hits), 1)
    check_stored(hits[0], msg, sender="pia@example.com")


# ---- 7. submitted, read back over POP3 ----

@r.test
def submitted_then_pop3_retr_byte_identical():
    mk = marker("pop3")
    msg = (b"From: \"Alice L.\" <alice@example.com>\r\n"
           b"To: Bob <bob@example.com>\r\nSubject: " + mk.encode() +
           b"\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n"
           b"Gr\xc3\xbc\xc3\x9fe, Bob.\r\n.\r\n..two dots\r\n. \r\n"
           b"\r\n\r\ntrailing blank lines above\r\n" + b"z" * 990 + b"\r\n")
    with smtplib.SMTP("127.0.0.1", P587, timeout=10) as s:
        s.starttls(context=client_tls())
        s.login(ALICE, ALICE_PW)
        eq(s.sendmail(ALICE, ["bob@example.com"], msg,
                      mail_options=["BODY=8BITMIME"]), {})
    hits = find_in(BOB_BOX, mk)
    eq(len(hits), 1)
    check_stored(hits[0], msg)
    p = poplib.POP3("127.0.0.1", PPOP, timeout=10)
    try:
        p.user("bob@example.com")
        p.pass_("bob-password")
        got = []
        for entry in p.list()[1]:
            num = int(entry.split()[0])
            _, lines, _ = p.retr(num)
            data = b"\r\n".join(lines) + b"\r\n"
            if mk.encode() in data:
                got.append(data)
        p.quit()
    finally:
        try:
            p.close()
        except Exception:
            pass
    eq(len(got), 1)
    eq(got[0], hits[0])
    check_stored(got[0], msg)


r.finish(srv, srv_yes)
