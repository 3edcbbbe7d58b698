"""A real slapd for tests: its own temporary directory, a cn=config built
offline with slapadd, a free loopback port, stopped at exit. Python
stdlib only; it drives the OpenLDAP tools (slapadd, slapmodify, slapd,
ldapadd, ldapmodify, ldapdelete, ldapsearch) by subprocess. Every wait is
bounded.

    from ldapd import Slapd, LdapError
    ld = Slapd()                 # suffix "o=isp", syncprov + sessionlog
    ld.start()
    ld.add(ldif)                 # as cn=admin,o=isp
    ld.search("o=isp", "(mail=alice@abc.com)", ["mail"])
        -> [("uid=alice,...", {"mail": ["alice@abc.com"]})]
    ld.stop(); ld.cleanup()      # or leave both to atexit (which keeps
                                 # the directory when ld.keep is true or
                                 # VDMAIL_KEEP_SLAPD is set)

The database (mdb, suffix SUFFIX):
    rootdn  cn=admin,SUFFIX / "secret"        (rootdn, rootpw)
    syncdn  cn=sync,SUFFIX  / "syncpw"        (syncdn, syncpw; read-only
                                               under acl=True, unlimited)
    indexes objectClass, entryUUID, entryCSN, mail, mailAlternateAddress,
            associatedDomain, sunPreferredDomain (eq)
    syncprov overlay, checkpoint 100 ops / 10 min, sessionlog 1000
    (sessionlog=False: none, so refreshes use the present phase)
The cn=config database has rootdn cn=config / "secret" (configdn,
configpw) for tests that change the configuration while slapd runs.

Bind arguments: binddn=None binds as the rootdn, binddn="" binds
anonymously; pw defaults to the password of the rootdn / syncdn.
"""
import atexit
import base64
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
VDMAIL_LDIF = os.path.join(ROOT, "etc", "ldap", "vdmail.ldif")
ACL_LDIF = os.path.join(ROOT, "etc", "ldap", "vdmail-acl.ldif")
SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIR = "/usr/lib/ldap"
SLAPD = "/usr/sbin/slapd"
ACL_SUFFIX = "o=isp"       # the placeholder suffix in vdmail-acl.ldif
TOOL_TIMEOUT = 30          # seconds for any one tool run


class LdapError(Exception):
    """A failed LDAP tool run: .rc is the tool's exit status (the LDAP
    result code for ldapadd/ldapmodify/ldapdelete/ldapsearch), .output its
    stderr and stdout."""

    def __init__(self, what, rc, output):
        Exception.__init__(self, "%s failed (rc %d): %s" % (what, rc, output))
        self.rc = rc
        self.output = output


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, what, input=None, check=True, timeout=TOOL_TIMEOUT):
    """Runs a tool: (rc, stderr + stdout, stdout); raises LdapError when
    check and rc != 0, and always after timeout seconds (rc -1)."""
    try:
        p = subprocess.run(args, input=input, capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise LdapError(what, -1, "timed out after %ds: %s" % (
            timeout, " ".join(args))) from e
    out = (p.stderr + p.stdout).strip()
    if check and p.returncode != 0:
        raise LdapError(what, p.returncode, out)
    return p.returncode, out, p.stdout


def _suffix_entry(suffix):
    """The LDIF of the suffix entry (o=, dc= or ou= first RDN)."""
    rdn = suffix.split(",", 1)[0]
    attr, _, value = rdn.partition("=")
    attr = attr.strip().lower()
    value = value.strip()
    if attr == "o":
        oc = "objectClass: organization\no: %s\n" % value
    elif attr == "dc":
        oc = ("objectClass: dcObject\nobjectClass: organization\n"
              "dc: %s\no: %s\n" % (value, value))
    elif attr == "ou":
        oc = "objectClass: organizationalUnit\nou: %s\n" % value
    else:
        raise ValueError("suffix must start with o=, dc= or ou=: " + suffix)
    return "dn: %s\n%s" % (suffix, oc)


def parse_ldif(text):
    """Entries of ldapsearch -LLL output: [(dn, {attr_lower: [values]})].
    Continuation lines are joined, '::' values base64-decoded (to str when
    they are UTF-8, else bytes), comments skipped."""
    entries = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = []
        for line in block.split("\n"):
            if line.startswith("#"):
                continue
            if line.startswith(" ") and lines:
                lines[-1] += line[1:]
            elif line:
                lines.append(line)
        if not lines:
            continue
        dn = None
        attrs = {}
        for line in lines:
            name, sep, rest = line.partition(":")
            if not sep:
                raise ValueError("bad LDIF line: %r" % line)
            if rest.startswith(":"):
                raw = base64.b64decode(rest[1:].strip())
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError:
                    value = raw
            elif rest.startswith("<"):
                value = rest[1:].strip()        # URL form, not followed
            else:
                value = rest[1:] if rest.startswith(" ") else rest
            if dn is None and name.lower() == "dn":
                dn = value
            else:
                attrs.setdefault(name.lower(), []).append(value)
        entries.append((dn, attrs))
    return entries


class Slapd:
    """One slapd in a temporary directory; see the module docstring."""

    def __init__(self, suffix="o=isp", sessionlog=True, acl=False,
                 schema=True, debug="none"):
        self.suffix = suffix
        self.rootdn = "cn=admin," + suffix
        self.rootpw = "secret"
        self.syncdn = "cn=sync," + suffix
        self.syncpw = "syncpw"
        self.configdn = "cn=config"
        self.configpw = "secret"
        self.sessionlog = sessionlog
        self.acl = acl
        self.schema = schema
        self.debug = debug
        self.dir = tempfile.mkdtemp(prefix="vdmail-slapd-")
        self.confdir = os.path.join(self.dir, "slapd.d")
        self.dbdir = os.path.join(self.dir, "db")
        self.logfile = os.path.join(self.dir, "slapd.log")
        self.port = free_port()
        self.proc = None
        self._logf = None
        # keep: leave the directory at exit (for a failed run's post-mortem)
        self.keep = bool(os.environ.get("VDMAIL_KEEP_SLAPD"))
        atexit.register(self._atexit)
        self._build()

    @property
    def uri(self):
        return "ldap://127.0.0.1:%d" % self.port

    # -- configuration ---------------------------------------------------

    def config_ldif(self):
        """The cn=config LDIF given to slapadd -n0."""
        schemas = ["core", "cosine", "inetorgperson", "dyngroup"]
        includes = ["include: file://%s/%s.ldif" % (SCHEMA_DIR, s)
                    for s in schemas]
        if self.schema:
            includes.append("include: file://" + VDMAIL_LDIF)
        s = self.suffix
        sessionlog = "olcSpSessionlog: 1000\n" if self.sessionlog else ""
        index = ["mail", "associatedDomain"]
        if self.schema:         # our attributes exist only with our schema
            index += ["mailAlternateAddress", "sunPreferredDomain"]
        return """\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/slapd.pid
olcArgsFile: {dir}/slapd.args

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {moddir}
olcModuleLoad: {{0}}back_mdb
olcModuleLoad: {{1}}syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcRootDN: {configdn}
olcRootPW: {configpw}

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {s}
olcRootDN: {rootdn}
olcRootPW: {rootpw}
olcDbDirectory: {dbdir}
olcDbMaxSize: 268435456
olcDbIndex: objectClass,entryUUID,entryCSN eq
olcDbIndex: {index} eq
olcLimits: {{0}}dn.exact="{rootdn}" size=unlimited time=unlimited
olcLimits: {{1}}dn.exact="{syncdn}" size=unlimited time=unlimited

dn: olcOverlay={{0}}syncprov,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {{0}}syncprov
olcSpCheckpoint: 100 10
{sessionlog}""".format(dir=self.dir, moddir=MODULE_DIR,
                       includes="\n".join(includes), s=s,
                       rootdn=self.rootdn, rootpw=self.rootpw,
                       syncdn=self.syncdn, configdn=self.configdn,
                       configpw=self.configpw, dbdir=self.dbdir,
                       sessionlog=sessionlog, index=",".join(index))

    def acl_ldif(self):
        """etc/ldap/vdmail-acl.ldif with this instance's suffix."""
        with open(ACL_LDIF) as f:
            return f.read().replace(ACL_SUFFIX, self.suffix)

    def data_ldif(self):
        """The suffix entry and the sync account, loaded by slapadd."""
        return _suffix_entry(self.suffix) + """
dn: {syncdn}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: sync
description: read-only account of vdsync
userPassword: {syncpw}
""".format(syncdn=self.syncdn, syncpw=self.syncpw)

    def _write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def _build(self):
        os.makedirs(self.confdir)
        os.makedirs(self.dbdir)
        conf = self._write("config.ldif", self.config_ldif())
        _run(["slapadd", "-n0", "-F", self.confdir, "-l", conf],
             "slapadd -n0 (cn=config)")
        if self.acl:
            acl = self._write("acl.ldif", self.acl_ldif())
            _run(["slapmodify", "-n0", "-F", self.confdir, "-l", acl],
                 "slapmodify -n0 (vdmail-acl.ldif)")
        data = self._write("base.ldif", self.data_ldif())
        _run(["slapadd", "-F", self.confdir, "-b", self.suffix, "-l", data],
             "slapadd (suffix entry)")

    # -- process -----------------------------------------------------------

    def start(self, timeout=15):
        """Starts slapd in the foreground and waits (at most timeout
        seconds) until the root DSE answers. Retries on a new port when
        the port was taken in the meantime."""
        if self.proc is not None:
            raise RuntimeError("slapd already running")
        for attempt in range(3):
            self._logf = open(self.logfile, "a")
            offset = self._logf.tell()
            self.proc = subprocess.Popen(
                [SLAPD, "-F", self.confdir, "-h", self.uri + "/",
                 "-d", str(self.debug)],
                stdin=subprocess.DEVNULL, stdout=self._logf,
                stderr=subprocess.STDOUT)
            deadline = time.time() + timeout
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    rc, _, _ = _run(["ldapsearch", "-x", "-H", self.uri,
                                     "-o", "nettimeout=2", "-b", "", "-s",
                                     "base", "-LLL", "1.1"],
                                    "ldapsearch root DSE", check=False,
                                    timeout=3)
                except LdapError:
                    rc = -1     # something on the port did not answer
                if rc == 0:
                    return
                time.sleep(0.1)
            rc = self.proc.poll()
            log = self.log()[offset:]
            if rc is None:
                self.kill()
                raise RuntimeError("slapd did not answer within %ss:\n%s"
                                   % (timeout, log[-3000:]))
            self._reap()
            if "bind" in log.lower() and "address already in use" in \
                    log.lower() and attempt < 2:
                self.port = free_port()
                continue
            raise RuntimeError("slapd exited with %s:\n%s" % (rc, log[-3000:]))

    def _reap(self):
        if self._logf:
            self._logf.close()
            self._logf = None
        self.proc = None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout seconds; returns slapd's
        exit status (None when it was not running)."""
        if self.proc is None:
            return None
        p = self.proc
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        rc = p.returncode
        self._reap()
        return rc

    def kill(self):
        """kill -9 (a crash); returns the exit status."""
        if self.proc is None:
            return None
        p = self.proc
        if p.poll() is None:
            p.kill()
            p.wait(5)
        rc = p.returncode
        self._reap()
        return rc

    def restart(self, timeout=15):
        self.stop()
        self.start(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        """slapd's stderr so far."""
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def sanitizer_report(self):
        """None: lets harness.Runner.finish(ld) stop and clean this up
        like a vdmaild Server."""
        return None

    def cleanup(self):
        """Stops slapd and removes the directory."""
        self.stop()
        shutil.rmtree(self.dir, True)

    def _atexit(self):
        self.stop()
        if self.keep and os.path.isdir(self.dir):
            print("slapd directory kept: " + self.dir)
        else:
            shutil.rmtree(self.dir, True)

    # -- LDAP operations ---------------------------------------------------

    def _bind(self, binddn, pw):
        if binddn is None:
            binddn = self.rootdn
        if binddn == "":
            return ["-x"]
        if pw is None:
            pw = {self.rootdn: self.rootpw, self.syncdn: self.syncpw,
                  self.configdn: self.configpw}.get(binddn, "")
        return ["-x", "-D", binddn, "-w", pw]

    def _tool(self, tool, binddn, pw, extra):
        return [tool, "-H", self.uri, "-o", "nettimeout=10"] + \
            self._bind(binddn, pw) + extra

    def add(self, ldif, binddn=None, pw=None):
        """ldapadd; raises LdapError (with ldapadd's stderr) on failure."""
        _run(self._tool("ldapadd", binddn, pw, []), "ldapadd", input=ldif)

    def modify(self, ldif, binddn=None, pw=None):
        """ldapmodify (changetype records allowed); raises LdapError."""
        _run(self._tool("ldapmodify", binddn, pw, []), "ldapmodify",
             input=ldif)

    def delete(self, dn, binddn=None, pw=None, recursive=False):
        """ldapdelete [-r]; raises LdapError."""
        extra = (["-r"] if recursive else []) + [dn]
        _run(self._tool("ldapdelete", binddn, pw, extra), "ldapdelete")

    def try_modify(self, ldif, binddn, pw):
        """ldapmodify that never raises: (rc, output). rc is the LDAP
        result code (50 insufficientAccess, 32 noSuchObject, ...)."""
        rc, out, _ = _run(self._tool("ldapmodify", binddn, pw, []),
                          "ldapmodify", input=ldif, check=False)
        return rc, out

    def search(self, base, filt="(objectClass=*)", attrs=(), scope="sub",
               binddn=None, pw=None):
        """ldapsearch -LLL: [(dn, {attr_lower: [values]})] in server
        order. noSuchObject (32) gives []; other errors raise LdapError.
        attrs may name "+" (operational) and "*"."""
        return parse_ldif(self.search_text(base, filt, attrs, scope,
                                           binddn, pw))

    def search_text(self, base, filt="(objectClass=*)", attrs=(),
                    scope="sub", binddn=None, pw=None):
        """As search(), but ldapsearch's LDIF text as it is (attribute
        names as slapd sent them, no line wrapping)."""
        extra = ["-LLL", "-o", "ldif-wrap=no", "-b", base, "-s", scope,
                 filt] + list(attrs)
        rc, out, stdout = _run(self._tool("ldapsearch", binddn, pw, extra),
                               "ldapsearch", check=False)
        if rc == 32:
            return ""
        if rc != 0:
            raise LdapError("ldapsearch", rc, out)
        return stdout

    def whoami(self, binddn, pw):
        """ldapwhoami: the authzId ("dn:...") or raises (bind failure)."""
        _, _, stdout = _run(self._tool("ldapwhoami", binddn, pw, []),
                            "ldapwhoami")
        return stdout.strip()
