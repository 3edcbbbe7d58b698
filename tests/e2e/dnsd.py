"""A throwaway BIND 9 primary for the DNS UPDATE tests: `named -g` in the
foreground with its own configuration, zone files and TSIG key in a
temporary directory, on a free loopback port (127.0.0.1, and ::1 when the
host has it), recursion off. Every wait is bounded; atexit stops it.

    ns = Named(zones={"abc.example": "key", "open.example": "open"})
    ns.start()
    ns.query("abc.example", "SOA")     # dig +short lines
    ns.key_text()                       # "vdmail-key hmac-sha256 SECRET"
    ns.stop(); ns.cleanup()

records={"dest.test": ["@ IN MX 10 mx1", "mx1 IN A 127.0.0.2"]} adds
lines to a zone's file (MX hosts for the outbound tests).

Zone policies: "key" = updates only signed with the key (allow-update
{ key "vdmail-key"; }), "open" = unsigned updates from 127.0.0.1 and ::1,
"none" = no updates. Each zone starts with its SOA, an NS and the NS's A.

Running as root (containers): named stays root without -u, which is what
we want here (it must write its journals into our directory). Without
`pid-file none`, `session-keyfile none`, `controls { };` and a
managed-keys-directory of our own, named reaches for /run/named,
/etc/bind/rndc.key and /var/cache/bind.
"""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

NAMED = shutil.which("named") or "/usr/sbin/named"
DIG = shutil.which("dig") or "/usr/bin/dig"
KEYGEN = shutil.which("tsig-keygen") or "/usr/sbin/tsig-keygen"

DEFAULT_ZONES = {"abc.example": "key", "open.example": "open"}


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port(v6):
    """A port free for UDP and TCP on 127.0.0.1 (and ::1)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM)]
                if v6:
                    socks += [socket.socket(socket.AF_INET6, t) for t in
                              (socket.SOCK_DGRAM, socket.SOCK_STREAM)]
                socks[0].bind(("127.0.0.1", port))
                for s in socks[1:]:
                    s.bind(("::1", port))
                return port
            except OSError:
                continue
            finally:
                for s in socks:
                    s.close()
    raise RuntimeError("no free port")


def parse_key_file(text):
    """(name, algorithm, secret) of a tsig-keygen file."""
    name = text.split('"')[1]
    alg = text.split("algorithm", 1)[1].split(";", 1)[0].strip()
    secret = text.split("secret", 1)[1].split('"')[1]
    return name, alg, secret


class Named:
    def __init__(self, zones=None, key=True, key_name="vdmail-key",
                 key_alg="hmac-sha256", start=False, records=None):
        if not os.access(NAMED, os.X_OK):
            raise RuntimeError("named not found: apt-get install bind9")
        self.dir = tempfile.mkdtemp(prefix="vdmail-named-")
        self.zones = dict(DEFAULT_ZONES if zones is None else zones)
        # zone -> extra lines of its zone file ("mx1 IN A 127.0.0.2")
        self.records = dict(records or {})
        self.v6 = have_ipv6()
        self.port = None
        self.proc = None
        self.logfile = os.path.join(self.dir, "named.log")
        self.conf = os.path.join(self.dir, "named.conf")
        self.key_file = os.path.join(self.dir, "vdmail.key")
        self.key_name = self.key_alg = self.key_secret = None
        if key:
            text = subprocess.run([KEYGEN, "-a", key_alg, key_name],
                                  check=True, capture_output=True,
                                  text=True, timeout=30).stdout
            with open(self.key_file, "w") as f:
                f.write(text)
            self.key_name, self.key_alg, self.key_secret = \
                parse_key_file(text)
        for zone in self.zones:
            self.write_zone(zone)
        atexit.register(self.stop)
        if start:
            self.start()

    def key_text(self):
        return "%s %s %s" % (self.key_name, self.key_alg, self.key_secret)

    def write_zone(self, zone):
        with open(os.path.join(self.dir, zone + ".db"), "w") as f:
            f.write("$TTL 300\n"
                    "@ IN SOA ns.{z}. hostmaster.{z}. 1 3600 600 86400 300\n"
                    "@ IN NS ns.{z}.\n"
                    "ns IN A 127.0.0.1\n".format(z=zone))
            for line in self.records.get(zone, ()):
                f.write(line + "\n")

    def write_conf(self):
        allow = {"key": 'key "%s";' % self.key_name,
                 "open": "127.0.0.1; ::1;", "none": "none;"}
        lines = []
        if self.key_name:
            lines.append('include "%s";' % self.key_file)
        v6 = ("listen-on-v6 port %d { ::1; };" % self.port if self.v6
              else "listen-on-v6 { none; };")
        lines.append("""options {
	directory "%s";
	pid-file none;
	session-keyfile none;
	managed-keys-directory "%s";
	listen-on port %d { 127.0.0.1; };
	%s
	recursion no;
	notify no;
	dnssec-validation no;
	allow-transfer { none; };
};
controls { };""" % (self.dir, self.dir, self.port, v6))
        for zone, policy in self.zones.items():
            if policy == "key" and not self.key_name:
                raise ValueError("zone %s wants a key" % zone)
            lines.append('zone "%s" { type primary; file "%s.db"; '
                         "allow-update { %s }; };"
                         % (zone, zone, allow[policy]))
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=20):
        """Starts named; returns once it answers an SOA query."""
        last = ""
        for _ in range(3):  # a port taken between probe and bind: retry
            self.port = free_port(self.v6)
            self.write_conf()
            log = open(self.logfile, "ab")
            self.proc = subprocess.Popen(
                [NAMED, "-g", "-n", "1", "-c", self.conf],
                stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
            log.close()
            if self.wait_ready(timeout):
                return
            last = self.log()
            self.stop()
            if "address in use" not in last:
                break
        raise RuntimeError("named did not start:\n" + last[-4000:])

    def wait_ready(self, timeout):
        deadline = time.time() + timeout
        zone = next(iter(self.zones), None)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            if "running" in self.log():
                if zone is None or self.query(zone, "SOA"):
                    return True
            time.sleep(0.1)
        return False

    def stop(self, timeout=15):
        """SIGTERM, bounded wait, then SIGKILL; returns the exit status."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            return "hung"

    def query(self, name, rtype, server="127.0.0.1"):
        """dig +short lines for name/type (no recursion, one try)."""
        r = subprocess.run([DIG, "@" + server, "-p", str(self.port),
                            "+short", "+norec", "+time=2", "+tries=1",
                            name, rtype], capture_output=True, text=True,
                           timeout=15)
        return [l for l in r.stdout.splitlines()
                if l and not l.startswith(";")]

    def log(self):
        try:
            with open(self.logfile, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
