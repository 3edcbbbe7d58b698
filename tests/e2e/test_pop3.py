"""POP3 server end to end (protocols/pop3.c): real clients (Python's
poplib, fetchmail, mpop, getmail6) reading what SMTP delivered, byte for
byte; UIDL stability; UPDATE only on QUIT; [IN-USE]; every branch of the
login access policy (core/access) with one answer for every refusal;
every password scheme; AUTH PLAIN; the password workers dying and timing
out; throttling of failed logins; hostile input (long lines, STLS
injection, a client that stops reading a 20 MiB RETR); pipelining.

Failing logins come from their own loopback addresses (127.0.X.Y) and
accounts, so the per-address throttle of one test does not slow the next;
the throttle itself has a server of its own.

Needs: fetchmail, mpop, getmail6 (Debian 12 packages), openssl. Hashes
that need other tools (yescrypt, bcrypt, argon2) are fixtures in
data/pop3/hashes.txt."""
import atexit
import base64
import concurrent.futures
import hashlib
import os
import poplib
import pwd
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
from harness import (DEMO_TABLES, ROOT, Runner, Server,  # noqa: E402
                     client_tls, free_port)

r = Runner("pop3")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                    "pop3")
WORK = tempfile.mkdtemp(prefix="vdmail-pop3-")
os.chmod(WORK, 0o755)  # getmail's Mboxrd delivery runs as nobody under root
atexit.register(shutil.rmtree, WORK, True)

AUTH_FAILED = b"-ERR [AUTH] Authentication failed"
DOMAIN_TEMP = (b"-ERR [SYS/TEMP] Domain temporarily unavailable, try again "
               b"later")
PLAINTEXT_NO = (b"-ERR [AUTH] Plaintext authentication disallowed on "
                b"non-secure connections (use STLS)")
THROTTLED = b"-ERR [SYS/TEMP] Too many failed logins, try again later"
TEMPFAIL = b"-ERR [SYS/TEMP] Temporary failure, try again later"
BUSY = b"-ERR [SYS/TEMP] Too many logins at once, try again later"
MALFORMED = b"-ERR [AUTH] Malformed"  # the rest of the text may vary


def eq(got, want):
    """assert got == want, showing both."""
    if got != want:
        raise AssertionError("got %r\n  want %r" % (got, want))
    return got


def starts(got, prefix):
    """assert got.startswith(prefix), showing what came."""
    if not got.startswith(prefix):
        raise AssertionError("got %r\n  want %r..." % (got, prefix))
    return got


# ---- tables ----

def ssha(pw, salt=b"vdmail-s", algo="sha1", scheme="SSHA"):
    digest = hashlib.new(algo, pw.encode() + salt).digest()
    return "{%s}%s" % (scheme, base64.b64encode(digest + salt).decode())


def openssl_crypt(flag, pw):
    out = subprocess.run(["openssl", "passwd", flag, "-salt", "vdmailsalt",
                          pw], capture_output=True, text=True, check=True,
                         timeout=30).stdout.strip()
    return "{CRYPT}" + out


def fixture_hashes():
    out = {}
    with open(os.path.join(DATA, "hashes.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                login, value = line.split()
                out[login] = value
    return out


FIXTURES = fixture_hashes()

# login -> users fields. Every one gets an address and, unless hashes()
# names it, an {SSHA} password LOCALPART-password.
EXTRA_USERS = {
    "pl@example.com": "", "fm@example.com": "", "mp@example.com": "",
    "gm@example.com": "", "uidl@example.com": "",
    "dele@example.com": "quota=10M", "inuse@example.com": "",
    "big@example.com": "", "pipe@example.com": "", "auth@example.com": "",
    "limit@example.com": "", "wrong@example.com": "", "sni@example.com": "",
    "denyuser@example.com": "services=-pop:ALL",
    "tennet@example.com": "services=+pop:10.0.0.0/8",
    "lo@example.com": "services=+pop:127.0.0.1",
    "nopops@example.com": "services=-pops:ALL",
    "except@example.com": "services=+pop:127.0.0.0/8%20EXCEPT%20127.0.0.1",
    "prefix@example.com": "services=+pop:127.0.",
    "remote@example.com": "mailhost=other.example.org",
    "idle@example.com": "",
    "fay@full.example": "", "u@nopop.test": "",
    "ssha@hash.test": "", "sshalower@hash.test": "",
    "ssha256@hash.test": "", "ssha512@hash.test": "",
    "sha512crypt@hash.test": "", "sha256crypt@hash.test": "",
    "yescrypt@hash.test": "", "bcrypt@hash.test": "", "argon@hash.test": "",
    "argoni@hash.test": "", "plain@hash.test": "",
    "slow@example.com": "",
}


def hashes():
    h = {
        "ssha@hash.test": ssha("ssha-password", b"a-long-salt-16by"),
        "sshalower@hash.test": "{ssha}" + ssha("sshalower-password")[6:],
        "ssha256@hash.test": ssha("ssha256-password", b"salt256",
                                  "sha256", "SSHA256"),
        "ssha512@hash.test": ssha("ssha512-password", b"salt512!",
                                  "sha512", "SSHA512"),
        "sha512crypt@hash.test": openssl_crypt("-6", "sha512crypt-password"),
        "sha256crypt@hash.test": openssl_crypt("-5", "sha256crypt-password"),
        "plain@hash.test": "{PLAIN}plain-password",
    }
    h.update(FIXTURES)
    return h


def tables():
    t = dict(DEMO_TABLES)
    t["domains"] = DEMO_TABLES["domains"] + (
        "other.test status=active\n"
        "nopop.test services=-pop:ALL\n"
        "hash.test status=active\n")
    addresses, users = [], []
    for login, fields in EXTRA_USERS.items():
        if re.search(r"(?m)^%s " % re.escape(login), DEMO_TABLES["addresses"]):
            continue  # a demo user given a password
        addresses.append("%s user=%s\n" % (login, login))
        users.append(("%s %s" % (login, fields)).rstrip() + "\n")
    t["addresses"] = (DEMO_TABLES["addresses"] + "".join(addresses) +
                      "bob@other.test user=bob@example.com\n"
                      "inuse.alias@example.com user=inuse@example.com\n")
    t["users"] = DEMO_TABLES["users"] + "".join(users)
    with open(os.path.join(ROOT, "etc", "passwords.txt")) as f:
        pw = f.read()
    known = set(line.split()[0] for line in pw.splitlines() if line.strip())
    special = hashes()
    for login in ["dora@disabled.example", "gina@example.com",
                  "hank@example.com", "zed@example.com", "hal@held.example",
                  "wes@weird.example"] + list(EXTRA_USERS):
        if login not in known:
            local = login.split("@")[0]
            pw += "%s %s\n" % (login, special.get(
                login, ssha(local + "-password")))
    t["passwords"] = pw
    return t


def pop3_config(*listeners, extra=""):
    return "".join("listen = pop3 127.0.0.1:%d%s\n" % (p, opt)
                   for p, opt in listeners) + extra


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


TABLES = tables()
P_PLAIN, P_TLS, P_DOM = free_port(), free_port(), free_port()
P_V6 = free_port() if have_ipv6_loopback() else None
srv = Server(TABLES, config=pop3_config(
    (P_PLAIN, ""), (P_TLS, " tls"), (P_DOM, " domain=example.com")) +
    ("listen = pop3 [::1]:%d\n" % P_V6 if P_V6 else ""))
NP_PLAIN, NP_TLS = free_port(), free_port()
srv_np = Server(TABLES, config=pop3_config(
    (NP_PLAIN, ""), (NP_TLS, " tls"),
    extra="login_plaintext = no\nauth_plain = yes\ntimeout_pop3 = 3\n"))
W_PLAIN = free_port()
srv_w = Server(TABLES, config=pop3_config(
    (W_PLAIN, ""), extra="auth_workers = 1\nauth_timeout = 2\n"
    "auth_queue = 1\n"))
T_PLAIN = free_port()
srv_thr = Server(TABLES, config=pop3_config((T_PLAIN, "")))
SERVERS = [srv, srv_np, srv_w, srv_thr]


# ---- a POP3 client on a real socket, from any loopback address ----

_ip_lock = threading.Lock()
_ip_next = [0]


def fresh_ip():
    """A loopback address no other test uses (its own throttle key)."""
    with _ip_lock:
        _ip_next[0] += 1
        n = _ip_next[0]
    return "127.0.%d.%d" % (n // 250 + 1, n % 250 + 1)


class P:
    """One POP3 connection. Buffers only what recv returned, so bytes sent
    before TLS are visible in self.buf."""

    def __init__(self, port, src=None, tls=False, sni=None, timeout=10,
                 rcvbuf=None, greet=True):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        if src:
            s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        if tls:
            s = client_tls().wrap_socket(s, server_hostname=sni)
        self.sock, self.buf, self.timeout = s, b"", timeout
        if greet:
            self.greeting = self.line()
            assert self.greeting.startswith(b"+OK"), self.greeting

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self, deadline):
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError("nothing more; buffered %r" % self.buf[:300])
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return
        if not d:
            raise EOFError("closed; buffered %r" % self.buf[:300])
        self.buf += d

    def line(self, timeout=None):
        deadline = time.time() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return line[:-1] if line.endswith(b"\r") else line

    def cmd(self, text, timeout=None):
        self.send(text + "\r\n")
        return self.line(timeout)

    def multi(self, timeout=None):
        """The lines of a multi-line answer after its +OK, unstuffed."""
        out = []
        while True:
            line = self.line(timeout)
            if line == b".":
                return out
            out.append(line[1:] if line.startswith(b".") else line)
            if len(out) > 1000000:
                raise AssertionError("endless multi-line answer")

    def quiet(self, secs=0.5):
        """True when nothing arrives within secs (and nothing is buffered)."""
        if self.buf:
            return False
        self.sock.settimeout(secs)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(self.timeout)
        self.buf += d
        return False

    def until_eof(self, timeout=5):
        """Everything until the server closes; TimeoutError if it does not."""
        deadline = time.time() + timeout
        try:
            while True:
                self._fill(deadline)
        except EOFError:
            data, self.buf = self.buf, b""
            return data

    def starttls(self, sni=None):
        assert self.buf == b"", "plaintext after STLS's +OK: %r" % self.buf
        self.sock.settimeout(self.timeout)
        self.sock = client_tls().wrap_socket(self.sock, server_hostname=sni)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def login(port, user, pw, src=None, tls=False, sni=None, timeout=30):
    """A connection and the answer to PASS (or to USER when refused)."""
    c = P(port, src=src, tls=tls, sni=sni)
    a = c.cmd("USER " + user)
    if not a.startswith(b"+OK"):
        return c, a
    return c, c.cmd("PASS " + pw, timeout=timeout)


def login_ok(port, user, pw, **kw):
    """Logs in, retrying a bounded while on [IN-USE] (a dropped session
    whose end the server has not seen yet)."""
    deadline = time.time() + 10
    while True:
        c, a = login(port, user, pw, **kw)
        if not a.startswith(b"-ERR [IN-USE]") or time.time() > deadline:
            assert a.startswith(b"+OK Logged in"), (user, a)
            return c
        c.close()
        time.sleep(0.1)


def quit_(c):
    a = c.cmd("QUIT")
    assert a.startswith(b"+OK"), a
    c.until_eof()
    c.close()
    return a


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def parallel(fn, items):
    with concurrent.futures.ThreadPoolExecutor(len(items)) as ex:
        return list(ex.map(fn, items))


# ---- mail ----

_msg_n = [0]


def message(subject, body_extra=b""):
    _msg_n[0] += 1
    return (b"From: Sender <sender@remote.test>\r\n"
            b"To: <someone@example.com>\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <%d.%d@remote.test>\r\n" % (os.getpid(), _msg_n[0]) +
            b"X-Folded: first part\r\n\tsecond part\r\n"
            b"\r\n"
            b"line one\r\n.\r\n..\r\n.dot at the start\r\n...three dots\r\n"
            b"From the start of a line\r\n>From quoted once\r\n"
            b">>From quoted twice\r\n\r\n"
            b"caf\xc3\xa9 8-bit text\r\n" + b"x" * 900 + b"\r\n" +
            body_extra + b"last line\r\n")


def deliver(server, rcpt, msg, timeout=10):
    """Sends msg to rcpt through the server's SMTP and waits until its
    mailbox holds one more message; returns the new file."""
    box = "%s/%s" % (rcpt.split("@")[1], rcpt.split("@")[0])
    before = set(server.messages(box))
    with server.smtp(timeout=max(timeout, 10)) as s:
        s.ehlo("client.test")
        opts = ["BODY=8BITMIME"] if s.has_extn("8bitmime") else []
        s.sendmail("sender@remote.test", [rcpt], msg, mail_options=opts)
    files = server.wait_messages(box, len(before) + 1, timeout=timeout)
    new = [f for f in files if f not in before]
    assert len(new) == 1, (box, before, files)
    return new[0]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def box_files(server, box):
    """{uid: relative name} of the files in new/ and cur/."""
    out = {}
    for path in server.messages(box):
        rel = os.path.relpath(path, server.mailbox(box))
        out[os.path.basename(rel).split(":")[0]] = rel
    return out


def wire(raw):
    """What RETR must send for a file: dot-stuffed, ended by CRLF.CRLF."""
    return re.sub(rb"(?m)^\.", b"..", raw) + b".\r\n"


def mbox_messages(data):
    """The messages of an mboxrd file, unquoted, as LF text."""
    parts = re.split(rb"(?m)^From [^\n]*\n", data)
    assert parts[0] == b"", data[:200]
    out = []
    for p in parts[1:]:
        assert p.endswith(b"\n\n"), p[-50:]
        out.append(re.sub(rb"(?m)^>(>*From )", rb"\1", p[:-1]))
    return out


def lf(raw):
    return raw.replace(b"\r\n", b"\n")


def run(cmd, env=None, timeout=60):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def log_has(server, pattern, timeout=5):
    deadline = time.time() + timeout
    while True:
        if re.search(pattern, server.log()):
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.05)


# ---- processes ----

def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(d))
    return out


def auth_workers(server):
    """vdmaild's password workers: stdin /dev/null, fd 3 their socketpair
    end, nothing else but the log (and the passwords table). The flush
    child is the one holding the spool's directories open."""
    out = []
    for pid in children(server.pid()):
        try:
            fds = {int(f): os.readlink("/proc/%d/fd/%s" % (pid, f))
                   for f in os.listdir("/proc/%d/fd" % pid)}
        except OSError:
            continue
        if any(t.startswith("/") and os.path.isdir(t) for t in fds.values()):
            continue
        if fds.get(0) == "/dev/null" and fds.get(3, "").startswith("socket:"):
            out.append(pid)
    return sorted(out)


def wait_workers(server, n, not_pid=None, timeout=10):
    deadline = time.time() + timeout
    while True:
        ws = auth_workers(server)
        if len(ws) == n and not_pid not in ws:
            return ws
        if time.time() > deadline:
            raise AssertionError("workers %r (want %d, not %r)" %
                                 (ws, n, not_pid))
        time.sleep(0.05)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# =================================================================
# 1. Real clients
# =================================================================

@r.test
def poplib_commands_byte_identical():
    path = deliver(srv, "pl@example.com", message("poplib"))
    raw = read(path)
    assert raw.startswith(b"Return-Path: <sender@remote.test>\r\n"), raw[:80]
    uid = os.path.basename(path).split(":")[0]
    header = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    body = raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")

    c = poplib.POP3("127.0.0.1", P_PLAIN, timeout=10)
    assert c.getwelcome().startswith(b"+OK"), c.getwelcome()
    caps = c.capa()
    for cap in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                "USER", "STLS"):
        assert cap in caps, caps
    assert caps["SASL"] == ["PLAIN"], caps
    starts(c.user("pl@example.com"), b"+OK")
    eq(c.pass_("pl-password"), b"+OK Logged in, 1 messages")
    assert c.stat() == (1, len(raw)), (c.stat(), len(raw))
    eq(c.list()[1], [b"1 %d" % len(raw)])
    eq(c.list(1), b"+OK 1 %d" % len(raw))
    eq(c.uidl()[1], [b"1 " + uid.encode()])
    eq(c.uidl(1), b"+OK 1 " + uid.encode())
    resp, lines, _ = c.retr(1)
    assert resp == b"+OK %d octets" % len(raw), resp
    eq(b"\r\n".join(lines) + b"\r\n", raw)
    resp, lines, _ = c.top(1, 0)
    assert b"\r\n".join(lines) + b"\r\n" == header, lines
    resp, lines, _ = c.top(1, 3)
    assert b"\r\n".join(lines) + b"\r\n" == \
        header + b"\r\n".join(body[:3]) + b"\r\n", lines
    resp, lines, _ = c.top(1, 100000)
    eq(b"\r\n".join(lines) + b"\r\n", raw)
    starts(c.noop(), b"+OK")
    starts(c.dele(1), b"+OK")
    eq(c.stat(), (0, 0))
    starts(c.rset(), b"+OK")
    eq(c.stat(), (1, len(raw)))
    starts(c.quit(), b"+OK")
    # RETR then QUIT: seen, moved to cur/ with the S flag
    eq(box_files(srv, "example.com/pl"), {uid: "cur/%s:2,S" % uid})

    # STLS on the plain port
    c = poplib.POP3("127.0.0.1", P_PLAIN, timeout=10)
    starts(c.stls(context=client_tls()), b"+OK")
    caps = c.capa()
    assert "STLS" not in caps and "USER" in caps, caps
    c.user("pl@example.com")
    starts(c.pass_("pl-password"), b"+OK Logged in")
    eq(b"\r\n".join(c.retr(1)[1]) + b"\r\n", raw)
    c.quit()

    # POP3S
    c = poplib.POP3_SSL("127.0.0.1", P_TLS, context=client_tls(), timeout=10)
    assert "STLS" not in c.capa()
    c.user("pl@example.com")
    starts(c.pass_("pl-password"), b"+OK Logged in")
    eq(b"\r\n".join(c.retr(1)[1]) + b"\r\n", raw)
    starts(c.dele(1), b"+OK")
    eq(c.quit(), b"+OK Logging out, 1 messages deleted")
    eq(srv.messages("example.com/pl"), [])


def fetchmail(port, user, out, opts, home):
    os.makedirs(home)
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write('set no syslog\nset invisible\n'
                'poll 127.0.0.1 port %d protocol pop3 auth password '
                'timeout 20\n'
                '  user "%s" there with password "%s-password" is "%s" here\n'
                '  options %s no rewrite no sslcertck mda "cat >> %s"\n'
                % (port, user, user.split("@")[0],
                   pwd.getpwuid(os.getuid()).pw_name, opts, out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, FETCHMAILHOME=home, HOME=home)
    return run(["fetchmail", "-f", rc, "-v", "--nosyslog", "--pidfile",
                os.path.join(home, "pid")], env=env)


@r.test
def fetchmail_stls_keep_and_pop3s_nokeep():
    raw = read(deliver(srv, "fm@example.com", message("fetchmail")))
    out1 = os.path.join(WORK, "fm1.out")
    rc, text = fetchmail(P_PLAIN, "fm@example.com", out1,
                         'keep sslproto "TLS1.2+"', os.path.join(WORK, "fmh1"))
    assert rc == 0, text
    assert "POP3> STLS" in text and "upgrade to TLS succeeded" in text, text
    assert read(out1) == lf(raw), (read(out1)[:300], text[-2000:])
    eq(len(srv.messages("example.com/fm")), 1)  # kept
    out2 = os.path.join(WORK, "fm2.out")
    rc, text = fetchmail(P_TLS, "fm@example.com", out2, "nokeep ssl",
                         os.path.join(WORK, "fmh2"))
    assert rc == 0, text
    assert read(out2) == lf(raw), (read(out2)[:300], text[-2000:])
    assert srv.messages("example.com/fm") == [], text


def mpop(port, user, mbox, opts, name):
    conf = os.path.join(WORK, name + ".conf")
    with open(conf, "w") as f:
        f.write("defaults\ntimeout 20\naccount default\nhost 127.0.0.1\n"
                "port %d\nuser %s\npassword %s-password\ntls on\n"
                "tls_certcheck off\ndelivery mbox %s\nkeep off\n"
                "received_header off\nuidls_file %s\n%s"
                % (port, user, user.split("@")[0], mbox,
                   os.path.join(WORK, name + ".uidls"), opts))
    os.chmod(conf, 0o600)
    return run(["mpop", "-C", conf, "-d"])


@r.test
def mpop_stls_auth_plain_and_pop3s_user():
    raw = read(deliver(srv, "mp@example.com", message("mpop 1")))
    mbox = os.path.join(WORK, "mpop1.mbox")
    rc, text = mpop(P_PLAIN, "mp@example.com", mbox,
                    "tls_starttls on\nauth plain\n", "mpop1")
    assert rc == 0, text
    assert "--> STLS" in text and "--> AUTH PLAIN" in text, text
    assert mbox_messages(read(mbox)) == [lf(raw)], read(mbox)[:400]
    eq(srv.messages("example.com/mp"), [])
    raw = read(deliver(srv, "mp@example.com", message("mpop 2")))
    mbox = os.path.join(WORK, "mpop2.mbox")
    rc, text = mpop(P_TLS, "mp@example.com", mbox,
                    "tls_starttls off\nauth user\n", "mpop2")
    assert rc == 0, text
    assert "--> USER mp@example.com" in text, text
    assert mbox_messages(read(mbox)) == [lf(raw)], read(mbox)[:400]
    eq(srv.messages("example.com/mp"), [])


def getmail(kind, port, user, mbox, name):
    d = os.path.join(WORK, name)
    os.makedirs(d)
    open(mbox, "w").close()
    os.chmod(mbox, 0o666)
    with open(os.path.join(d, "rc"), "w") as f:
        f.write("[retriever]\ntype = %s\nserver = 127.0.0.1\nport = %d\n"
                "username = %s\npassword = %s-password\ntimeout = 20\n"
                "[destination]\ntype = Mboxrd\npath = %s\n%s"
                "[options]\ndelete = true\nread_all = true\n"
                "received = false\ndelivered_to = false\nverbose = 2\n"
                % (kind, port, user, user.split("@")[0], mbox,
                   "user = nobody\n" if os.geteuid() == 0 else ""))
    return run(["getmail", "--rcfile", os.path.join(d, "rc"),
                "--getmaildir", d])


@r.test
def getmail_pop3s_and_plain():
    raw = read(deliver(srv, "gm@example.com", message("getmail 1")))
    mbox = os.path.join(WORK, "gm1.mbox")
    rc, text = getmail("SimplePOP3SSLRetriever", P_TLS, "gm@example.com",
                       mbox, "gm1")
    assert rc == 0 and "1 messages" in text, text
    assert mbox_messages(read(mbox)) == [lf(raw)], read(mbox)[:400]
    assert srv.messages("example.com/gm") == [], text
    raw = read(deliver(srv, "gm@example.com", message("getmail 2")))
    mbox = os.path.join(WORK, "gm2.mbox")
    rc, text = getmail("SimplePOP3Retriever", P_PLAIN, "gm@example.com",
                       mbox, "gm2")
    assert rc == 0 and "1 messages" in text, text
    assert mbox_messages(read(mbox)) == [lf(raw)], read(mbox)[:400]
    assert srv.messages("example.com/gm") == [], text


# =================================================================
# 2. UIDL
# =================================================================

def uidl_map(c):
    eq(c.cmd("UIDL"), b"+OK")
    return dict(line.split(b" ", 1) for line in c.multi())


@r.test
def uidl_stable_across_sessions_restart_and_moves():
    box = "example.com/uidl"
    files = [deliver(srv, "uidl@example.com", message("uidl %d" % i))
             for i in range(4)]
    uids = [os.path.basename(f).split(":")[0].encode() for f in files]
    raws = [read(f) for f in files]
    want = {str(i + 1).encode(): u for i, u in enumerate(uids)}
    for u in uids:
        assert 1 <= len(u) <= 70 and all(0x21 <= ch <= 0x7e for ch in u), u
    eq(len(set(uids)), 4)

    c = login_ok(P_PLAIN, "uidl@example.com", "uidl-password")
    eq(uidl_map(c), want)
    eq(c.cmd("UIDL 3"), b"+OK 3 " + uids[2])
    starts(c.cmd("RETR 2"), b"+OK")
    eq(b"\r\n".join(c.multi()) + b"\r\n", raws[1])
    starts(c.cmd("TOP 1 0"), b"+OK")  # TOP: not seen
    c.multi()
    # another program moves message 4 to cur/ with a flag meanwhile
    mb = srv.mailbox(box)
    os.rename(os.path.join(mb, "new", os.path.basename(files[3])),
              os.path.join(mb, "cur", uids[3].decode() + ":2,F"))
    starts(c.cmd("RETR 4"), b"+OK")
    eq(b"\r\n".join(c.multi()) + b"\r\n", raws[3])
    quit_(c)
    u = [x.decode() for x in uids]
    assert box_files(srv, box) == {
        u[0]: "new/" + u[0], u[1]: "cur/%s:2,S" % u[1],
        u[2]: "new/" + u[2], u[3]: "cur/%s:2,FS" % u[3]}, box_files(srv, box)

    # a RETR without QUIT marks nothing
    c = login_ok(P_PLAIN, "uidl@example.com", "uidl-password")
    eq(uidl_map(c), want)
    starts(c.cmd("RETR 1"), b"+OK")
    c.multi()
    c.close()
    c = login_ok(P_PLAIN, "uidl@example.com", "uidl-password")
    eq(uidl_map(c), want)
    eq(box_files(srv, box)[u[0]], "new/" + u[0])
    # a session open across a restart: told, and nothing is deleted
    starts(c.cmd("DELE 1"), b"+OK")
    srv.restart()
    tail = c.until_eof(timeout=10)
    assert b"-ERR [SYS/TEMP] Server shutting down" in tail, tail
    c.close()
    eq(len(box_files(srv, box)), 4)

    c = login_ok(P_PLAIN, "uidl@example.com", "uidl-password")
    eq(uidl_map(c), want)
    eq(c.cmd("LIST"), b"+OK")
    eq(c.multi(), [b"%d %d" % (i + 1, len(x)) for i, x in enumerate(raws)])
    starts(c.cmd("RETR 2"), b"+OK")  # already seen: stays
    c.multi()
    quit_(c)
    eq(box_files(srv, box)[u[1]], "cur/%s:2,S" % u[1])
    c = login_ok(P_TLS, "uidl@example.com", "uidl-password", tls=True)
    eq(uidl_map(c), want)
    quit_(c)


# =================================================================
# 3. UPDATE only on QUIT
# =================================================================

def maildirsize_usage(server, box):
    """(bytes, messages) that maildirsize adds up to (Maildir++)."""
    with open(os.path.join(server.mailbox(box), "maildirsize")) as f:
        lines = f.read().splitlines()[1:]
    return (sum(int(x.split()[0]) for x in lines),
            sum(int(x.split()[1]) for x in lines))


@r.test
def update_only_on_clean_quit():
    box = "example.com/dele"
    files = [deliver(srv, "dele@example.com", message("dele %d" % i))
             for i in range(3)]
    uids = [os.path.basename(f).split(":")[0] for f in files]
    sizes = [len(read(f)) for f in files]
    c = login_ok(P_PLAIN, "dele@example.com", "dele-password")
    eq(c.cmd("DELE 1"), b"+OK Marked to be deleted")
    for cmd in ("RETR 1", "LIST 1", "UIDL 1", "TOP 1 0", "DELE 1"):
        a = c.cmd(cmd)
        assert a.startswith(b"-ERR"), (cmd, a)
    eq(c.cmd("STAT"), b"+OK 2 %d" % (sizes[1] + sizes[2]))
    eq(c.cmd("LIST"), b"+OK")
    eq(c.multi(), [b"2 %d" % sizes[1], b"3 %d" % sizes[2]])
    eq(c.cmd("UIDL"), b"+OK")
    eq(c.multi(), [b"2 " + uids[1].encode(), b"3 " + uids[2].encode()])
    c.close()  # dropped: no UPDATE
    time.sleep(0.2)
    eq(sorted(box_files(srv, box)), sorted(uids))

    c = login_ok(P_PLAIN, "dele@example.com", "dele-password")
    eq(c.cmd("STAT"), b"+OK 3 %d" % sum(sizes))
    starts(c.cmd("DELE 2"), b"+OK")
    starts(c.cmd("RSET"), b"+OK")
    eq(c.cmd("STAT"), b"+OK 3 %d" % sum(sizes))
    eq(c.cmd("LIST 2"), b"+OK 2 %d" % sizes[1])
    starts(c.cmd("DELE 2"), b"+OK")
    eq(quit_(c), b"+OK Logging out, 1 messages deleted")
    eq(sorted(box_files(srv, box)), sorted([uids[0], uids[2]]))
    # Maildir++ quota: the removal is counted in maildirsize
    with open(os.path.join(srv.mailbox(box), "maildirsize")) as f:
        lines = f.read().splitlines()
    eq(lines[-1].split(), ["-%d" % sizes[1], "-1"])
    eq(maildirsize_usage(srv, box), (sizes[0] + sizes[2], 2))

    c = login_ok(P_PLAIN, "dele@example.com", "dele-password")
    eq(c.cmd("UIDL"), b"+OK")
    eq(c.multi(), [b"1 " + uids[0].encode(), b"2 " + uids[2].encode()])
    starts(c.cmd("DELE 1"), b"+OK")
    starts(c.cmd("DELE 2"), b"+OK")
    eq(c.cmd("STAT"), b"+OK 0 0")
    eq(quit_(c), b"+OK Logging out, 2 messages deleted")
    eq(box_files(srv, box), {})
    eq(maildirsize_usage(srv, box), (0, 0))
    c = login_ok(P_PLAIN, "dele@example.com", "dele-password")
    eq(c.cmd("STAT"), b"+OK 0 0")
    assert c.cmd("LIST") == b"+OK" and c.multi() == []
    starts(c.cmd("RETR 1"), b"-ERR")
    quit_(c)


# =================================================================
# 4. [IN-USE]
# =================================================================

@r.test
def in_use_while_another_session_holds_the_mailbox():
    deliver(srv, "inuse@example.com", message("in use"))
    a = login_ok(P_PLAIN, "inuse@example.com", "inuse-password")
    b, ans = login(P_PLAIN, "inuse@example.com", "inuse-password")
    assert ans.startswith(b"-ERR [IN-USE]"), ans
    # the same mailbox under another name of the same user
    b2, ans = login(P_TLS, "inuse.alias@example.com", "inuse-password",
                    tls=True)
    assert ans.startswith(b"-ERR [IN-USE]"), ans
    b2.close()
    assert log_has(srv, r"pop3 login user=<inuse@example\.com> result=fail "
                   r"reason=in_use")
    starts(a.cmd("STAT"), b"+OK 1 ")
    quit_(a)
    # the refused session may try again in the same connection
    eq(b.cmd("USER inuse@example.com"), b"+OK")
    starts(b.cmd("PASS inuse-password"), b"+OK Logged in")
    b.close()  # dropped: the lock goes with it
    c = login_ok(P_DOM, "inuse", "inuse-password")
    starts(c.cmd("STAT"), b"+OK 1 ")
    quit_(c)


# =================================================================
# 5. The access policy
# =================================================================

def attempt(case):
    """(port, user, pw, tls[, source]) from a fresh address unless a source
    is given: (answer, seconds)."""
    port, user, pw, tls = case[:4]
    c = P(port, src=case[4] if len(case) > 4 and case[4] else fresh_ip(),
          tls=tls)
    a = c.cmd("USER " + user)
    assert a == b"+OK", (user, a)
    t0 = time.time()
    a = c.cmd("PASS " + pw, timeout=30)
    dt = time.time() - t0
    if a.startswith(b"+OK"):
        quit_(c)
    c.close()
    return a, dt


@r.test
def access_refusals_look_alike_and_log_the_reason():
    deny = [  # user, password, port, tls, reason
        ("someone@nowhere.test", "x-password", P_PLAIN, False,
         "unknown_domain"),
        ("alice", "alice-password", P_PLAIN, False, "unknown_domain"),
        ("dave@deleted.example", "dave-password", P_PLAIN, False,
         "domain_deleted"),
        ("dora@disabled.example", "dora-password", P_PLAIN, False,
         "domain_disabled"),
        ("nobody@example.com", "nobody-password", P_PLAIN, False,
         "unknown_user"),
        ("bob@other.test", "bob-password", P_PLAIN, False, "unknown_user"),
        ("erin@example.com", "erin-password", P_PLAIN, False,
         "user_inactive"),
        ("frank@example.com", "frank-password", P_PLAIN, False,
         "user_disabled"),
        ("gina@example.com", "gina-password", P_PLAIN, False,
         "user_deleted"),
        ("hank@example.com", "hank-password", P_PLAIN, False, "user_hold"),
        ("u@nopop.test", "u-password", P_PLAIN, False,
         "service_denied_domain"),
        ("denyuser@example.com", "denyuser-password", P_PLAIN, False,
         "service_denied_user"),
        ("tennet@example.com", "tennet-password", P_PLAIN, False,
         "service_denied_user"),
        ("lo@example.com", "lo-password", P_PLAIN, False,
         "service_denied_user"),  # allowed from 127.0.0.1 only
        ("nopops@example.com", "nopops-password", P_TLS, True,
         "service_denied_user"),
        ("wrong@example.com", "not-the-password", P_PLAIN, False,
         "bad_password"),
        ("except@example.com", "except-password", P_PLAIN, False,
         "service_denied_user"),  # from 127.0.0.1 below
        ("remote@example.com", "not-the-password", P_PLAIN, False,
         "bad_password"),
        ("a\x01b@example.com", "x", P_PLAIN, False, "bad_identity"),
    ]
    temp = ["carol@suspended.example", "hal@held.example",
            "wes@weird.example"]
    cases = [(p, u, pw, t, "127.0.0.1" if u.startswith("except@") else None)
             for u, pw, p, t, _ in deny] + \
        [(P_PLAIN, u, u.split("@")[0] + "-password", False, None)
         for u in temp]
    answers = parallel(attempt, cases)
    for (u, _, _, _, reason), (a, dt) in zip(deny, answers[:len(deny)]):
        assert a == AUTH_FAILED, (u, a)
        # no account probing by timing either: every refusal is held back
        assert dt >= 0.4, (u, dt)
        esc = re.escape(u.replace("\x01", "\\x01"))
        assert log_has(srv, r"pop3 login user=<%s> result=fail reason=%s\b"
                       % (esc, reason)), (u, reason)
    for u, (a, _) in zip(temp, answers[len(deny):]):
        assert a == DOMAIN_TEMP, (u, a)
        assert log_has(srv, r"pop3 login user=<%s> result=tempfail "
                       r"reason=domain_inactive" % re.escape(u)), u

    allow = [  # port, user, password, tls, sni
        (P_PLAIN, "alice@example.com", "alice-password", False, None),
        (P_PLAIN, "ALICE@Example.COM", "alice-password", False, None),
        (P_PLAIN, "a.liddell@example.com", "alice-password", False, None),
        (P_PLAIN, "alice@example.net", "alice-password", False, None),
        (P_DOM, "alice", "alice-password", False, None),
        (P_DOM, "bob@example.com", "bob-password", False, None),
        (P_TLS, "sni", "sni-password", True, "example.net"),
        (P_TLS, "sni", "sni-password", True, "mail.example.com"),
        (P_PLAIN, "fay@full.example", "fay-password", False, None),
        (P_PLAIN, "zed@example.com", "zed-password", False, None),
        (P_PLAIN, "lo@example.com", "lo-password", False, None),
        (P_PLAIN, "nopops@example.com", "nopops-password", False, None),
        (P_TLS, "u@nopop.test", "u-password", True, None),
        (P_PLAIN, "postmaster@example.com", "postmaster-password", False,
         None),
    ]
    for port, user, pw, tls, sni in allow:
        c = login_ok(port, user, pw, tls=tls, sni=sni)
        assert c.cmd("STAT").startswith(b"+OK"), user
        quit_(c)
    # a client gone before its failure is answered (the delay timer)
    c = P(P_PLAIN, src=fresh_ip())
    c.cmd("USER gone@example.com")
    c.send("PASS x\r\n")
    time.sleep(0.1)
    c.close()
    # client lists: a prefix, a network EXCEPT an address
    for user in ("except@example.com", "prefix@example.com"):
        c = P(P_PLAIN, src=fresh_ip())
        c.cmd("USER " + user)
        starts(c.cmd("PASS %s-password" % user.split("@")[0]),
               b"+OK Logged in")
        quit_(c)
    # a user on another mailHost: told to come back, after a good password
    c, a = login(P_PLAIN, "remote@example.com", "remote-password")
    starts(a, b"-ERR [SYS/TEMP]")
    c.close()
    assert log_has(srv, r"user=<remote@example\.com> result=tempfail "
                   r"reason=mailhost_elsewhere")


# =================================================================
# 6. Password schemes
# =================================================================

SCHEME_USERS = ["ssha", "sshalower", "ssha256", "ssha512", "sha512crypt",
                "sha256crypt", "yescrypt", "bcrypt", "argon", "argoni"]


@r.test
def every_password_scheme():
    right = [(P_PLAIN, u + "@hash.test", u + "-password", False)
             for u in SCHEME_USERS]
    wrong = [(P_PLAIN, u + "@hash.test", u + "-passwordX", False)
             for u in SCHEME_USERS]
    answers = parallel(attempt, right + wrong)
    for (_, u, _, _), (a, _) in zip(right, answers):
        assert a.startswith(b"+OK Logged in"), (u, a)
    for (_, u, _, _), (a, _) in zip(wrong, answers[len(right):]):
        assert a == AUTH_FAILED, (u, a)
        assert log_has(srv, r"user=<%s> result=fail reason=bad_password"
                       % re.escape(u)), u


@r.test
def plain_scheme_only_with_auth_plain():
    a, _ = attempt((P_PLAIN, "plain@hash.test", "plain-password", False))
    assert a == AUTH_FAILED, a  # auth_plain = no
    a, _ = attempt((NP_TLS, "plain@hash.test", "plain-password", True))
    assert a.startswith(b"+OK Logged in"), a
    a, _ = attempt((NP_TLS, "plain@hash.test", "plain-passwor", True))
    assert a == AUTH_FAILED, a


# =================================================================
# 7. AUTH PLAIN
# =================================================================

@r.test
def auth_plain():
    deliver(srv, "auth@example.com", message("auth"))
    c = P(P_PLAIN)
    eq(c.cmd("AUTH"), b"+OK")
    eq(c.multi(), [b"PLAIN"])
    unsupported = b"-ERR [AUTH] Unsupported authentication mechanism"
    eq(c.cmd("AUTH CRAM-MD5"), unsupported)
    eq(c.cmd("AUTH LOGIN"), unsupported)
    eq(c.cmd("AUTH PLAIN"), b"+ ")
    eq(c.cmd("*"), b"-ERR [AUTH] Authentication cancelled")
    starts(c.cmd("AUTH PLAIN !!!!not*base64"), MALFORMED)
    starts(c.cmd("AUTH PLAIN " + b64("no NUL at all")), MALFORMED)
    starts(c.cmd("AUTH PLAIN " + b64("\0auth@example.com")), MALFORMED)
    eq(c.cmd("AUTH PLAIN"), b"+ ")
    starts(c.cmd("%%%%"), MALFORMED)
    # acting as another user (authzid != authcid) is refused
    starts(c.cmd("AUTH PLAIN " + b64(
        "alice@example.com\0auth@example.com\0auth-password")), b"-ERR [AUTH]")
    eq(c.cmd("STAT"), b"-ERR Log in first")
    starts(c.cmd("CAPA"), b"+OK")  # the session goes on
    c.multi()
    # initial response, authzid = authcid
    eq(c.cmd("AUTH PLAIN " + b64(
        "auth@example.com\0auth@example.com\0auth-password")),
       b"+OK Logged in, 1 messages")
    quit_(c)
    # initial response without authzid, lower-case command
    c = P(P_PLAIN)
    starts(c.cmd("auth plain " + b64("\0auth@example.com\0auth-password")),
           b"+OK Logged in")
    quit_(c)
    # continuation
    c = P(P_TLS, tls=True)
    eq(c.cmd("AUTH PLAIN"), b"+ ")
    starts(c.cmd(b64("\0auth@example.com\0auth-password")), b"+OK Logged in")
    quit_(c)
    # wrong password: the ordinary failure
    c = P(P_PLAIN, src=fresh_ip())
    eq(c.cmd("AUTH PLAIN"), b"+ ")
    eq(c.cmd(b64("\0auth@example.com\0wrong"), timeout=20), AUTH_FAILED)
    eq(c.cmd("AUTH PLAIN " + b64("\0nosuch@example.com\0x"),
                 timeout=20), AUTH_FAILED)
    c.close()


@r.test
def auth_plain_overlong_response_ends_the_exchange():
    # RFC 5034 4: the exchange ends with the -ERR; the next line is a
    # command again, not a second try at the response.
    c = P(P_PLAIN)
    eq(c.cmd("AUTH PLAIN"), b"+ ")
    c.send(b"A" * 2000 + b"\r\n")
    eq(c.line(), b"-ERR Line too long")
    a = c.cmd("CAPA")
    assert a == b"+OK Capability list follows", a
    c.multi()
    quit_(c)


# =================================================================
# login_plaintext = no
# =================================================================

@r.test
def plaintext_login_refused_until_tls():
    c = P(NP_PLAIN)
    starts(c.cmd("CAPA"), b"+OK")
    caps = c.multi()
    assert b"STLS" in caps and b"USER" not in caps and \
        b"SASL PLAIN" not in caps, caps
    eq(c.cmd("USER alice@example.com"), PLAINTEXT_NO)
    eq(c.cmd("AUTH PLAIN " + b64("\0alice@example.com\0alice-password")),
       PLAINTEXT_NO)
    eq(c.cmd("AUTH PLAIN"), PLAINTEXT_NO)
    starts(c.cmd("PASS alice-password"), b"-ERR")
    eq(c.cmd("STLS"), b"+OK Begin TLS negotiation")
    c.starttls()
    starts(c.cmd("CAPA"), b"+OK")
    caps = c.multi()
    assert b"STLS" not in caps and b"USER" in caps and \
        b"SASL PLAIN" in caps, caps
    eq(c.cmd("STLS"), b"-ERR Already using TLS")
    eq(c.cmd("USER alice@example.com"), b"+OK")
    starts(c.cmd("PASS alice-password"), b"+OK Logged in")
    quit_(c)
    p = poplib.POP3("127.0.0.1", NP_PLAIN, timeout=10)
    p.stls(context=client_tls())
    p.user("bob@example.com")
    starts(p.pass_("bob-password"), b"+OK Logged in")
    p.quit()
    c = P(NP_TLS, tls=True)
    starts(c.cmd("AUTH PLAIN " + b64("\0alice@example.com\0alice-password")),
           b"+OK Logged in")
    quit_(c)


@r.test
def ipv6_loopback_counts_as_loopback():
    if P_V6 is None:
        print("  (no ::1 here: skipped)")
        return
    c = poplib.POP3("::1", P_V6, timeout=10)
    assert "USER" in c.capa()
    c.user("alice@example.com")
    starts(c.pass_("alice-password"), b"+OK Logged in")
    c.quit()
    assert log_has(srv, r"pop3 connect client=\[::1\]")


@r.test
def connections_per_address_bounded():
    ip = fresh_ip()
    conns = [P(P_PLAIN, src=ip) for _ in range(20)]  # max_connections_per_ip
    try:
        c = P(P_PLAIN, src=ip, greet=False)
        eq(c.until_eof(), b"-ERR [SYS/TEMP] Too many connections, try again "
           b"later\r\n")
        c.close()
        c = P(P_PLAIN, src=fresh_ip())  # another address is served
        starts(c.cmd("CAPA"), b"+OK")
        c.close()
    finally:
        for c in conns:
            c.close()


@r.test
def bare_login_by_sni_after_stls():
    c = P(P_PLAIN)
    eq(c.cmd("STLS"), b"+OK Begin TLS negotiation")
    c.starttls(sni="example.net")  # an alias of example.com
    eq(c.cmd("USER sni"), b"+OK")
    starts(c.cmd("PASS sni-password"), b"+OK Logged in")
    quit_(c)


@r.test
def idle_session_logged_out_without_update():
    deliver(srv_np, "idle@example.com", message("idle"))
    c = P(NP_TLS, tls=True)
    c.cmd("USER idle@example.com")
    starts(c.cmd("PASS idle-password"), b"+OK Logged in, 1 messages")
    starts(c.cmd("DELE 1"), b"+OK")
    t0 = time.time()
    tail = c.until_eof(timeout=10)  # timeout_pop3 = 3
    dt = time.time() - t0
    eq(tail, b"-ERR Disconnected for inactivity\r\n")
    assert 2.5 <= dt <= 6, dt
    c.close()
    eq(len(srv_np.messages("example.com/idle")), 1)


# =================================================================
# Throttling (a server of its own)
# =================================================================

@r.test
def throttle_growing_delay_then_block():
    ip = fresh_ip()
    delays = []
    for i, want in enumerate([0.5, 1, 2, 4]):
        c = P(T_PLAIN, src=ip)
        eq(c.cmd("USER alice@example.com"), b"+OK")
        t0 = time.time()
        eq(c.cmd("PASS wrong-%d" % i, timeout=20), AUTH_FAILED)
        dt = time.time() - t0
        delays.append(dt)
        assert want * 0.9 <= dt <= want + 1.5, delays
        c.close()

    def fail(i):
        c = P(T_PLAIN, src=ip)
        eq(c.cmd("USER alice@example.com"), b"+OK")
        a = c.cmd("PASS wrong-again-%d" % i, timeout=30)
        c.close()
        return a
    # failures 5 to 10 at once (each waits its 8 s)
    eq(parallel(fail, range(6)), [AUTH_FAILED] * 6)

    def timed(src, user, pw):
        c = P(T_PLAIN, src=src)
        c.cmd("USER " + user)
        t0 = time.time()
        a = c.cmd("PASS " + pw, timeout=20)
        dt = time.time() - t0
        if a.startswith(b"+OK"):
            quit_(c)
        c.close()
        return a, dt
    # blocked: even the right password, at once, without a check
    a, dt = timed(ip, "alice@example.com", "alice-password")
    assert a == THROTTLED and dt < 1.5, (a, dt)
    # the address is blocked for every account
    a, _ = timed(ip, "bob@example.com", "bob-password")
    assert a == THROTTLED, a
    # the account is blocked from every address
    a, _ = timed(fresh_ip(), "alice@example.com", "alice-password")
    assert a == THROTTLED, a
    # anyone else is not
    a, _ = timed(fresh_ip(), "bob@example.com", "bob-password")
    assert a.startswith(b"+OK Logged in"), a
    assert log_has(srv_thr, r"user=<alice@example\.com> result=fail "
                   r"reason=throttled")


@r.test
def throttle_block_covers_every_name_of_the_account():
    # alice is blocked (previous test): her other login names are the same
    # account, so guessing through them must be refused as well.
    for name in ("a.liddell@example.com", "alice@example.net"):
        c = P(T_PLAIN, src=fresh_ip())
        c.cmd("USER " + name)
        a = c.cmd("PASS guess", timeout=20)
        c.close()
        assert a == THROTTLED, (name, a)


# =================================================================
# 8. Password workers
# =================================================================

@r.test
def worker_killed_or_too_slow_is_replaced():
    ws = wait_workers(srv_w, 1)
    kids = children(srv_w.pid())
    assert len(kids) == 2 and ws[0] in kids, kids  # the worker + flush
    # killed while idle: replaced, the next login works
    os.kill(ws[0], signal.SIGKILL)
    new = wait_workers(srv_w, 1, not_pid=ws[0])[0]
    c = login_ok(W_PLAIN, "alice@example.com", "alice-password")
    quit_(c)
    eq(auth_workers(srv_w), [new])

    # killed while a slow check is pending
    a = P(W_PLAIN)
    eq(a.cmd("USER slow@example.com"), b"+OK")
    a.send("PASS slow-password\r\n")
    time.sleep(0.5)
    assert a.quiet(0.1)
    # auth_queue = 1: no room for a second check
    b, ans = login(W_PLAIN, "bob@example.com", "bob-password")
    assert ans == BUSY, ans
    b.close()
    os.kill(new, signal.SIGKILL)
    t0 = time.time()
    eq(a.line(timeout=5), TEMPFAIL)
    assert time.time() - t0 < 2
    assert log_has(srv_w, r"authw: worker %d exited \(signal 9\): its "
                   r"pending logins fail for now" % new)
    newer = wait_workers(srv_w, 1, not_pid=new)[0]
    # the same session may log in now
    eq(a.cmd("USER alice@example.com"), b"+OK")
    starts(a.cmd("PASS alice-password"), b"+OK Logged in")
    quit_(a)

    # a check longer than auth_timeout (2 s): killed, temporary failure
    c = P(W_PLAIN)
    c.cmd("USER slow@example.com")
    t0 = time.time()
    eq(c.cmd("PASS slow-password", timeout=10), TEMPFAIL)
    dt = time.time() - t0
    assert 1.8 <= dt <= 4, dt
    assert log_has(srv_w, r"authw: worker %d took too long: killed" % newer)
    wait_workers(srv_w, 1, not_pid=newer)
    eq(c.cmd("USER bob@example.com"), b"+OK")
    starts(c.cmd("PASS bob-password"), b"+OK Logged in")
    quit_(c)

    # a client gone while its check runs: nothing answers into the void,
    # and the worker is free again (answered or timed out) soon after
    c = P(W_PLAIN)
    c.cmd("USER slow@example.com")
    c.send("PASS slow-password\r\n")
    time.sleep(0.2)
    c.close()
    deadline = time.time() + 8
    while True:
        c, a = login(W_PLAIN, "bob@example.com", "bob-password")
        if a.startswith(b"+OK Logged in"):
            quit_(c)
            break
        c.close()
        assert a in (BUSY, TEMPFAIL) and time.time() < deadline, a
        time.sleep(0.2)
    eq(len(auth_workers(srv_w)), 1)


# =================================================================
# 9. Bad input
# =================================================================

@r.test
def long_lines_and_arguments():
    c = P(P_PLAIN)
    c.send(b"A" * 2000 + b"\r\nCAPA\r\n")
    eq(c.line(), b"-ERR Line too long")
    eq(c.line(), b"+OK Capability list follows")  # one -ERR per line
    c.multi()
    # a long line in pieces
    c.send(b"USER " + b"b" * 1500)
    time.sleep(0.2)
    c.send(b"c" * 1500 + b"\r\n")
    eq(c.line(), b"-ERR Line too long")
    eq(c.cmd("PASS x"), b"-ERR USER first")
    eq(c.cmd("USER " + "a" * 321), b"-ERR Bad user name")
    eq(c.cmd("CAPA x"), b"-ERR Syntax: no argument expected")
    eq(c.cmd("STAT"), b"-ERR Log in first")
    eq(c.cmd("RETR 1"), b"-ERR Log in first")
    eq(c.cmd("USER " + "a" * 320), b"+OK")
    quit_(c)
    c = login_ok(P_PLAIN, "limit@example.com", "limit-password")
    eq(c.cmd("LIST " + "1" * 41), b"-ERR Argument too long")
    eq(c.cmd("LIST 1"), b"-ERR No such message")
    eq(c.cmd("LIST 0"), b"-ERR No such message")
    eq(c.cmd("LIST x"), b"-ERR No such message")
    eq(c.cmd("TOP 1"), b"-ERR Syntax: TOP msg n")
    c.send(b"B" * 2000 + b"\r\n")
    eq(c.line(), b"-ERR Line too long")
    eq(c.cmd("STAT"), b"+OK 0 0")  # the session goes on
    quit_(c)
    c = login_ok(P_PLAIN, "limit@example.com", "limit-password")
    for cmd in ("USER x", "PASS x", "AUTH PLAIN", "STLS"):
        assert c.cmd(cmd) == b"-ERR Not in this state", cmd
    eq(c.cmd("noop"), b"+OK")  # verbs in any case
    eq(c.cmd("stat"), b"+OK 0 0")
    quit_(c)


@r.test
def too_many_errors_closes():
    c = P(P_PLAIN)
    c.send(b"XYZZY\r\n" * 9)
    for _ in range(9):
        eq(c.line(), b"-ERR Unknown command")
    starts(c.cmd("CAPA"), b"+OK")  # still served after 9
    c.multi()
    c.send(b"XYZZY\r\n" * 2)
    rest = c.until_eof().split(b"\r\n")
    assert rest[-1] == b"" and rest[-2] == b"-ERR Too many errors, closing", \
        rest
    assert len(rest) <= 4, rest
    c.close()


@r.test
def thirty_commands_before_login_then_closed():
    c = P(P_PLAIN)
    c.send(b"USER nobody@example.com\r\n" * 28 +
           b"USER limit@example.com\r\nPASS limit-password\r\n")  # 30
    for _ in range(29):
        eq(c.line(), b"+OK")
    starts(c.line(), b"+OK Logged in")
    quit_(c)
    c = P(P_PLAIN)
    c.send(b"USER nobody@example.com\r\n" * 31)
    for _ in range(30):
        eq(c.line(), b"+OK")
    eq(c.until_eof(), b"-ERR Too many commands without a login\r\n")
    c.close()


@r.test
def stls_injection_ignored():
    c = P(P_PLAIN)
    c.send(b"STLS\r\nCAPA\r\n")
    eq(c.line(), b"+OK Begin TLS negotiation")
    assert c.quiet(0.5), c.buf  # no plaintext CAPA answer before TLS
    c.starttls()
    assert c.quiet(0.5), c.buf  # nor after
    eq(c.cmd("CAPA"), b"+OK Capability list follows")
    assert b"STLS" not in c.multi()
    quit_(c)
    c = P(P_PLAIN)
    c.send(b"STLS\r\nUSER alice@example.com\r\n")
    eq(c.line(), b"+OK Begin TLS negotiation")
    c.starttls()
    eq(c.cmd("PASS alice-password"), b"-ERR USER first")
    quit_(c)
    c = P(P_TLS, tls=True)
    eq(c.cmd("STLS"), b"-ERR Already using TLS")
    quit_(c)


def read_retr(c, raw, timeout=20):
    """Reads the whole answer to a RETR of raw (bounded); returns it."""
    got = bytearray(c.buf)
    c.buf = b""
    want = b"+OK %d octets\r\n" % len(raw) + wire(raw)
    deadline = time.time() + timeout
    while len(got) < len(want):
        c.sock.settimeout(max(0.1, deadline - time.time()))
        try:
            chunk = c.sock.recv(1 << 20)
        except socket.timeout:
            raise AssertionError("RETR of %d octets stopped after %d of %d "
                                 "bytes" % (len(raw), len(got), len(want)))
        if not chunk:
            raise AssertionError("closed after %d of %d bytes"
                                 % (len(got), len(want)))
        got += chunk
    eq(len(got), len(want))
    assert bytes(got) == want, "RETR differs from the file"


def big_message(size):
    line = b"y" * 74 + b"\r\n"
    dotted = b"." + b"z" * 73 + b"\r\n"
    block = line * 999 + dotted
    body = block * (size // len(block) + 1)
    return b"From: <sender@remote.test>\r\nSubject: big\r\n\r\n" + body


@r.test
def retr_of_a_message_over_512k_plain_and_tls():
    raw = read(deliver(srv, "big@example.com", big_message(1 << 20)))
    n = len(srv.messages("example.com/big"))
    errors = []
    for tls, port in ((False, P_PLAIN), (True, P_TLS)):
        c = login_ok(port, "big@example.com", "big-password", tls=tls)
        c.send(b"RETR %d\r\n" % n)
        try:
            read_retr(c, raw, timeout=8)
        except AssertionError as e:
            errors.append("%s: %s" % ("POP3S" if tls else "POP3", e))
        c.close()  # no QUIT: nothing changes
    assert not errors, errors
    eq(len(srv.messages("example.com/big")), n)


@r.test
def stalled_reader_of_a_large_retr():
    msg = big_message(20 * 1024 * 1024)
    path = deliver(srv, "big@example.com", msg, timeout=90)
    raw = read(path)
    assert len(raw) > 20 * 1024 * 1024
    big = os.path.basename(path).split(":")[0]
    n = len(srv.messages("example.com/big"))
    pid = srv.pid()
    before = rss_kib(pid)
    c = P(P_PLAIN, rcvbuf=4096, timeout=30)
    eq(c.cmd("USER big@example.com"), b"+OK")
    starts(c.cmd("PASS big-password"), b"+OK Logged in")
    eq(c.cmd("UIDL %d" % n), b"+OK %d %s" % (n, big.encode()))
    c.send(b"RETR %d\r\n" % n)  # and read nothing
    peak = 0
    for _ in range(10):
        time.sleep(0.15)
        peak = max(peak, rss_kib(pid))
    # the server still serves others meanwhile
    t0 = time.time()
    d = login_ok(P_PLAIN, "pipe@example.com", "pipe-password")
    starts(d.cmd("STAT"), b"+OK")
    quit_(d)
    deliver(srv, "pipe@example.com", message("during a stalled RETR"))
    assert time.time() - t0 < 5
    peak = max(peak, rss_kib(pid))
    print("  vdmaild VmRSS %d KiB before the RETR, at most %d KiB while "
          "stalled (message: %d KiB)" % (before, peak, len(raw) // 1024))
    assert peak - before < 4096, (before, peak, len(raw) // 1024)
    # then the reader comes back: the message arrives whole
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    read_retr(c, raw, timeout=20)
    quit_(c)
    starts(box_files(srv, "example.com/big")[big], "cur/")


# =================================================================
# 10. Pipelining
# =================================================================

@r.test
def pipelined_commands_answer_in_order():
    raw = read(deliver(srv, "pipe@example.com", message("pipe")))
    n = len(srv.messages("example.com/pipe"))
    c = P(P_PLAIN)
    c.send(("CAPA\r\nUSER pipe@example.com\r\nPASS pipe-password\r\n"
            "STAT\r\nLIST\r\nUIDL 1\r\nTOP {n} 0\r\nRETR {n}\r\n"
            "DELE {n}\r\nSTAT\r\nLIST {n}\r\nRSET\r\nNOOP\r\n" +
            "RETR {n}\r\n" * 40 + "QUIT\r\n").format(n=n))
    eq(c.line(), b"+OK Capability list follows")
    assert b"PIPELINING" in c.multi()
    eq(c.line(), b"+OK")
    eq(c.line(), b"+OK Logged in, %d messages" % n)
    stat = c.line()
    assert stat.startswith(b"+OK %d " % n), stat
    eq(c.line(), b"+OK")
    eq(len(c.multi()), n)
    starts(c.line(), b"+OK 1 ")
    starts(c.line(), b"+OK")
    eq(b"\r\n".join(c.multi()) + b"\r\n",
       raw.split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    eq(c.line(), b"+OK %d octets" % len(raw))
    eq(b"\r\n".join(c.multi()) + b"\r\n", raw)
    eq(c.line(), b"+OK Marked to be deleted")
    eq(c.line(), b"+OK %d %d" % (n - 1, int(stat.split()[2]) - len(raw)))
    eq(c.line(), b"-ERR No such message")
    eq(c.line(), b"+OK")
    eq(c.line(), b"+OK")
    for _ in range(40):
        eq(c.line(), b"+OK %d octets" % len(raw))
        eq(b"\r\n".join(c.multi()) + b"\r\n", raw)
    eq(c.line(), b"+OK Logging out, 0 messages deleted")
    c.until_eof()
    c.close()
    # a failed login in the pipe holds back what follows, in order
    c = P(P_PLAIN, src=fresh_ip())
    c.send("USER pipe@example.com\r\nPASS wrong\r\nUSER pipe@example.com\r\n"
           "PASS pipe-password\r\nSTAT\r\nQUIT\r\n")
    eq(c.line(), b"+OK")
    eq(c.line(timeout=20), AUTH_FAILED)
    eq(c.line(), b"+OK")
    eq(c.line(), b"+OK Logged in, %d messages" % n)
    starts(c.line(), b"+OK %d " % n)
    starts(c.line(), b"+OK Logging out")
    c.close()


r.finish(*SERVERS)
