"""End-to-end harness: starts a real vdmaild on free loopback ports in a
temporary directory, with tables built by vdctl from text, and
self-signed certificates made with openssl. Every wait is bounded.

A test script does:

    from harness import Runner, Server, DEMO_TABLES
    r = Runner("smtp")
    srv = Server(DEMO_TABLES)

    @r.test
    def accepts_alice():
        with srv.smtp() as s:
            ...
    r.finish(srv)          # stops the server, checks sanitizer output,
                           # prints "smtp: N passed, N failed", exits
"""

import atexit
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("VDMAIL_BUILD", os.path.join(ROOT, "build", "san"))
VDMAILD = os.path.join(BUILD, "vdmaild")
VDCTL = os.path.join(BUILD, "vdctl")
HOSTNAME = "mail.example.com"

# The demo directory of `make run`, plus users for quota tests.
DEMO_TABLES = {
    "domains": """\
example.com status=active postmaster=postmaster@example.com
example.net alias=example.com
suspended.example status=inactive
deleted.example status=deleted
disabled.example mailstatus=disabled
held.example mailstatus=hold
full.example mailstatus=overquota
weird.example status=frozen
catchall.example status=active
""",
    "addresses": """\
alice@example.com user=alice@example.com
a.liddell@example.com user=alice@example.com
bob@example.com user=bob@example.com
erin@example.com user=erin@example.com
frank@example.com user=frank@example.com
gina@example.com user=gina@example.com
hank@example.com user=hank@example.com
quinn@example.com user=quinn@example.com
mona@example.com user=mona@example.com
zed@example.com user=zed@example.com
postmaster@example.com user=postmaster@example.com
carol@suspended.example user=carol@suspended.example
dave@deleted.example user=dave@deleted.example
dora@disabled.example user=dora@disabled.example
hal@held.example user=hal@held.example
fay@full.example user=fay@full.example
wes@weird.example user=wes@weird.example
@catchall.example user=cat@catchall.example
cat@catchall.example user=cat@catchall.example
""",
    "users": """\
alice@example.com status=active
bob@example.com quota=50M
erin@example.com status=inactive
frank@example.com mailstatus=disabled
gina@example.com status=deleted
hank@example.com mailstatus=hold
quinn@example.com quota=2000
mona@example.com msgquota=2
zed@example.com mailstatus=overquota
postmaster@example.com
carol@suspended.example
dave@deleted.example
dora@disabled.example
hal@held.example
fay@full.example
wes@weird.example
cat@catchall.example
""",
}

_cert_cache = None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(directory, name, rsa=False):
    """A self-signed certificate for name (P-256, or RSA 2048);
    returns (cert, key)."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    kind = (["-newkey", "rsa:2048"] if rsa else
            ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
    if not os.path.exists(cert):
        subprocess.run(
            ["openssl", "req", "-x509"] + kind + ["-nodes", "-days", "30",
             "-subj", "/CN=" + name, "-addext", "subjectAltName=DNS:" + name,
             "-keyout", key, "-out", cert],
            check=True, capture_output=True, timeout=30)
    return cert, key


def cert_dir():
    global _cert_cache
    if _cert_cache is None:
        _cert_cache = tempfile.mkdtemp(prefix="vdmail-certs-")
        atexit.register(shutil.rmtree, _cert_cache, True)
    return _cert_cache


def client_tls():
    """A client context that accepts our self-signed certificates."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Server:
    """One vdmaild with its own directory, ports, tables and certificates."""

    def __init__(self, tables=None, config="", tls=True, sni=("example.net",),
                 implicit_tls=False, start=True, binary=None):
        self.dir = tempfile.mkdtemp(prefix="vdmail-e2e-")
        self.binary = binary or VDMAILD
        self.port = free_port()
        self.tls_port = free_port() if implicit_tls else None
        self.table_dir = os.path.join(self.dir, "cdb")
        self.spool = os.path.join(self.dir, "spool")
        self.store = os.path.join(self.dir, "store")
        self.logfile = os.path.join(self.dir, "vdmaild.log")
        self.pidfile = os.path.join(self.dir, "vdmaild.pid")
        self.conf = os.path.join(self.dir, "vdmaild.conf")
        self.proc = None
        self.logs = []
        os.makedirs(self.table_dir)
        os.makedirs(os.path.join(self.dir, "etc"))
        self.write_tables(tables if tables is not None else DEMO_TABLES)
        lines = [
            "hostname = " + HOSTNAME,
            "table_dir = " + self.table_dir,
            "spool_dir = " + self.spool,
            "store_dir = " + self.store,
            "pid_file = " + self.pidfile,
            "postmaster = postmaster@example.com",
            "listen = smtp 127.0.0.1:%d" % self.port,
            "table_check_interval = 0.2",
            "queue_retry_min = 1",
            "queue_retry_max = 2",
            "shutdown_grace = 5",
            # no test may ask a name server outside this machine: a
            # closed loopback port (tests that want DNS set their own)
            "dns_servers = 127.0.0.1:9",
            "dns_timeout = 0.5",
        ]
        if implicit_tls:
            lines.append("listen = smtp 127.0.0.1:%d tls" % self.tls_port)
        if tls:
            cert, key = make_cert(cert_dir(), HOSTNAME)
            lines += ["tls_cert = " + cert, "tls_key = " + key]
            for name in sni:
                c, k = make_cert(cert_dir(), name)
                lines.append("tls_sni = %s %s %s" % (name, c, k))
        self.config_text = "\n".join(lines) + "\n" + config + "\n"
        with open(self.conf, "w") as f:
            f.write(self.config_text)
        if start:
            self.start()

    # ---- tables ----
    def write_tables(self, tables, build=True):
        """Writes TABLE.txt files and builds them with vdctl (atomic)."""
        for name, text in tables.items():
            with open(os.path.join(self.dir, "etc", name + ".txt"), "w") as f:
                f.write(text)
        if build:
            for name in tables:
                src = os.path.join(self.dir, "etc", name + ".txt")
                dst = os.path.join(self.table_dir, name + ".cdb")
                subprocess.run([VDCTL, "cdb", "build", name, src, dst],
                               check=True, capture_output=True, timeout=30)

    # ---- process ----
    def start(self, timeout=20, wrapper=None):
        """Starts vdmaild (behind wrapper, e.g. an strace command line)."""
        env = dict(os.environ)
        # LeakSanitizer cannot run under ptrace (strace): off when wrapped.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=%d:abort_on_error=0"
                       % (0 if wrapper else 1))
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(list(wrapper or []) +
                                     [self.binary, "-c", self.conf],
                                     stdout=log, stderr=log, env=env)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("vdmaild exited at start:\n" + self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                if self.tls_port:
                    socket.create_connection(("127.0.0.1", self.tls_port),
                                             0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("vdmaild did not start listening:\n" + self.log())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the server; returns its exit status (None if killed).
        The signal goes to vdmaild itself, also behind a wrapper."""
        if self.proc is None:
            return None
        pid = self.pid()
        try:
            os.kill(pid if pid else self.proc.pid, sig)
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            rc = "hung"
        self.proc = None
        return rc

    def pid(self):
        """vdmaild's own pid (not a wrapper's), from its pid file."""
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def kill9(self):
        """SIGKILL to vdmaild itself, then reaps its wrapper if any."""
        if self.proc is None:
            return
        pid = self.pid()
        try:
            os.kill(pid if pid else self.proc.pid, signal.SIGKILL)
        except (OSError, TypeError):
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def wait_exit(self, timeout=20):
        """Waits for vdmaild (or its wrapper) to end; returns the status."""
        if self.proc is None:
            return None
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return "running"
        self.proc = None
        return rc

    def restart(self):
        self.stop()
        self.start()

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def wait_log(self, text, timeout=10):
        """True once text appears in the log (bounded wait)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return text in self.log()

    def log(self):
        try:
            with open(self.logfile, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def sanitizer_report(self):
        text = self.log()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:", "assertion failed"):
            if marker in text:
                return text[text.index(marker) - 200 if text.index(marker) > 200 else 0:][:4000]
        return None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- clients ----
    def smtp(self, timeout=10, port=None):
        s = smtplib.SMTP(timeout=timeout)
        s.connect("127.0.0.1", port or self.port)
        return s

    def smtps(self, server_hostname=None, timeout=10):
        return smtplib.SMTP_SSL("127.0.0.1", self.tls_port, timeout=timeout,
                                context=client_tls())

    def raw(self, timeout=10, port=None):
        """A plain socket, after reading the greeting."""
        s = socket.create_connection(("127.0.0.1", port or self.port), timeout)
        f = s.makefile("rb")
        greet = f.readline()
        assert greet.startswith(b"220"), greet
        return s, f

    # ---- store ----
    def mailbox(self, mailbox):
        return os.path.join(self.store, mailbox)

    def messages(self, mailbox):
        """Paths of every message file in new/ and cur/ of a mailbox."""
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.store, mailbox, sub)
            if os.path.isdir(d):
                out += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        return out

    def wait_messages(self, mailbox, count, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.messages(mailbox)) >= count:
                return self.messages(mailbox)
            time.sleep(0.05)
        return self.messages(mailbox)

    def queue(self):
        d = os.path.join(self.spool, "queue")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def wait_queue_empty(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.queue():
                return True
            time.sleep(0.05)
        return False


def read_reply(f):
    """Reads one (possibly multi-line) SMTP reply; returns (code, text)."""
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise EOFError("connection closed")
        lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    return int(lines[-1][:3]), "\n".join(lines)


class Runner:
    """Counts tests and prints the closing line "NAME: N passed, N failed"."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.only = sys.argv[1:]

    def test(self, fn):
        if self.only and not any(fn.__name__.startswith(o) for o in self.only):
            return fn
        start = time.time()
        try:
            fn()
            self.passed += 1
            print("%s ... ok (%.1fs)" % (fn.__name__, time.time() - start),
                  flush=True)
        except Exception:
            self.failed += 1
            print("%s ... FAILED" % fn.__name__, flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        return fn

    def check(self, name, ok, detail=""):
        """A named check outside a test function."""
        if ok:
            self.passed += 1
            print("%s ... ok" % name, flush=True)
        else:
            self.failed += 1
            print("%s ... FAILED %s" % (name, detail), flush=True)

    def finish(self, *servers):
        """Stops servers, fails on sanitizer reports, prints, exits."""
        for srv in servers:
            rc = srv.stop()
            report = srv.sanitizer_report()
            self.check("%s_clean_exit" % self.name,
                       report is None and rc in (0, None),
                       "exit=%r\n%s" % (rc, report or srv.log()[-3000:]))
            if self.failed == 0:
                srv.cleanup()
            else:
                print("server directory kept: " + srv.dir)
        print("%s: %d passed, %d failed" % (self.name, self.passed,
                                            self.failed), flush=True)
        sys.exit(1 if self.failed or self.passed == 0 else 0)
