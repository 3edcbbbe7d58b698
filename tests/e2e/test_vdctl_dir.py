"""vdctl's directory commands end to end (seed 002 Fig. 6): a real slapd
(with the delegated-administration ACLs), a real BIND 9 primary taking
TSIG-signed RFC 2136 updates, and a real vdmaild whose tables vdsync
writes, supervised by vdmaild itself in the last tests (sync_config).

    vdctl domain add on a fresh tree: every missing component once, the
        domain node, and the MX answered by the name server; run again:
        nothing changes
    vdctl user add/passwd/suspend/activate/delete, domain
        suspend/activate/delete: the statuses the server reads, and mail
        follows at once (250, 450 4.2.1, 550 5.1.2, 550 5.1.1)
    a domain administrator manages its own domain and is refused on another
    bad input: names, addresses, passwords, options, DNS refused, no slapd
    vdmaild with sync_config: changes reach SMTP through the supervised
        vdsync follow, and a killed vdsync is restarted
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, VDCTL, Runner, Server  # noqa: E402
from dnsd import Named  # noqa: E402
from ldapd import Slapd  # noqa: E402

VDSYNC = os.path.join(BUILD, "vdsync")
S = "o=isp"
SENDER = "sender@remote.test"
MX_HOST = "mail.example.com"

r = Runner("vdctl_dir")

ld = Slapd(sessionlog=True, acl=True)
ld.start()
ns = Named(zones={"example": "key"})
ns.start()

WORK = tempfile.mkdtemp(prefix="vdctl-dir-e2e-")
STATE = os.path.join(WORK, "state")
CONF = os.path.join(WORK, "vdsync.conf")
srv = Server({}, start=False, config="sync_config = " + CONF)


def write_conf(path, key=None, uri=None, admin=True):
    lines = ["uri = " + (uri or ld.uri),
             "bind_dn = " + ld.syncdn,
             "bind_pw = " + ld.syncpw,
             "base = " + S,
             "table_dir = " + srv.table_dir,
             "state_dir = " + STATE,
             "follow_delay = 0.1",
             "backoff_max = 2",
             "mx_host = " + MX_HOST,
             "dns_server = 127.0.0.1",
             "dns_port = %d" % ns.port,
             "dns_key = " + (key or ns.key_text())]
    if admin:
        lines += ["admin_dn = " + ld.rootdn, "admin_pw = " + ld.rootpw]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


write_conf(CONF)


def vdctl(*args, stdin="", conf=CONF, timeout=60):
    p = subprocess.run([VDCTL, "-c", srv.conf, "-s", conf] + list(args),
                       input=stdin, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def all_dns():
    return sorted(dn.lower() for dn, _ in ld.search(S))


def rcpt(addr):
    with srv.smtp() as s:
        s.ehlo("client.remote.test")
        s.mail(SENDER)
        code, msg = s.rcpt(addr)
        s.rset()
        s.quit()
    return code, msg.decode("utf-8", "replace")


def expect_rcpt(addr, code, enh=None):
    # vdmaild takes a replaced table within table_check_interval (0.2 s).
    deadline = time.time() + 3
    got = rcpt(addr)
    while got[0] != code and time.time() < deadline:
        time.sleep(0.05)
        got = rcpt(addr)
    assert got[0] == code and (enh is None or enh in got[1]), \
        (addr, got, code, enh)


def bind_ok(dn, pw):
    try:
        ld.whoami(dn, pw)
        return True
    except Exception:
        return False


# The tables start empty; vdsync full makes them, then vdmaild starts.
subprocess.run([VDSYNC, "-c", CONF, "full"], check=True,
               capture_output=True, timeout=60)
srv.start()

ABC_ORG = "o=abc.example," + S
DC_TREE = ["o=internet," + S, "dc=example,o=internet," + S,
           "dc=abc,dc=example,o=internet," + S]


@r.test
def domain_add_creates_each_missing_component_once():
    before = all_dns()
    rc, out, err = vdctl("domain", "add", "abc.example", "--postmaster",
                         "pm@abc.example", "--admin", "cn=abcadmin," + S)
    assert rc == 0, (rc, out, err)
    after = all_dns()
    new = sorted(set(after) - set(before))
    want = sorted(dn.lower() for dn in DC_TREE + [
        ABC_ORG, "ou=people," + ABC_ORG, "ou=groups," + ABC_ORG])
    assert new == want, (new, want)
    assert out.count("created") == len(want), out
    dc = ld.search(DC_TREE[-1], scope="base")[0][1]
    assert [v.lower() for v in dc["inetdomainbasedn"]] == [ABC_ORG], dc
    org = ld.search(ABC_ORG, scope="base")[0][1]
    assert org["sunpreferreddomain"] == ["abc.example"], org
    assert org["inetdomainstatus"] == ["active"], org
    assert org["vdmaildomainpostmaster"] == ["pm@abc.example"], org
    mx = ns.query("abc.example", "MX")
    assert mx == ["10 %s." % MX_HOST], mx
    assert "MX of abc.example" in out, out
    # The sync ran: the domain is served (postmaster@ routes to pm@, which
    # does not exist yet: a domain known to vdmaild answers 550, not 554).
    expect_rcpt("nobody@abc.example", 550, "5.1.1")


@r.test
def domain_add_again_changes_nothing():
    before = all_dns()
    rc, out, err = vdctl("domain", "add", "abc.example")
    assert rc == 0, (rc, out, err)
    assert "created" not in out and "modified" not in out, out
    assert all_dns() == before
    assert ns.query("abc.example", "MX") == ["10 %s." % MX_HOST]


@r.test
def a_second_domain_reuses_the_shared_components():
    rc, out, err = vdctl("domain", "add", "xyz.example", "--admin",
                         "cn=xyzadmin," + S)
    assert rc == 0, (rc, out, err)
    created = re.findall(r"created\s+(\S+)", out)
    assert "dc=example,o=internet," + S not in created, created
    assert "o=internet," + S not in created, created
    assert "dc=xyz,dc=example,o=internet," + S in created, created
    assert ns.query("xyz.example", "MX") == ["10 %s." % MX_HOST]


@r.test
def user_add_then_mail_is_delivered():
    rc, out, err = vdctl("user", "add", "alice@abc.example",
                         stdin="alice-pw\n")
    assert rc == 0, (rc, out, err)
    dn = "uid=alice,ou=people," + ABC_ORG
    assert "created  " + dn in out, out
    assert bind_ok(dn, "alice-pw")
    e = ld.search(dn, scope="base", attrs=("userPassword",))[0][1]
    pw = e["userpassword"][0]
    pw = pw.decode() if isinstance(pw, bytes) else pw
    assert pw.startswith("{CRYPT}$y$"), pw
    expect_rcpt("alice@abc.example", 250)
    with srv.smtp() as s:
        s.sendmail(SENDER, ["alice@abc.example"],
                   "Subject: hi\r\n\r\nHello Alice.\r\n")
    srv.wait_messages("abc.example/alice", 1)
    rc, out, err = vdctl("user", "add", "alice@abc.example", stdin="x\n")
    assert rc == 0 and "exists" in out and "created" not in out, (out, err)
    assert bind_ok(dn, "alice-pw"), "a second add must not change it"


@r.test
def user_statuses_and_password():
    dn = "uid=alice,ou=people," + ABC_ORG
    assert vdctl("user", "suspend", "alice@abc.example")[0] == 0
    expect_rcpt("alice@abc.example", 450, "4.2.1")
    assert vdctl("user", "activate", "alice@abc.example")[0] == 0
    expect_rcpt("alice@abc.example", 250)
    rc, out, err = vdctl("user", "passwd", "alice@abc.example",
                         stdin="new-pw\n")
    assert rc == 0, (rc, out, err)
    assert bind_ok(dn, "new-pw") and not bind_ok(dn, "alice-pw")
    assert vdctl("user", "add", "bob@abc.example", stdin="bob-pw\n")[0] == 0
    expect_rcpt("bob@abc.example", 250)
    assert vdctl("user", "delete", "bob@abc.example")[0] == 0
    expect_rcpt("bob@abc.example", 550, "5.1.1")


@r.test
def domain_statuses_follow_at_once():
    assert vdctl("domain", "suspend", "abc.example")[0] == 0
    expect_rcpt("alice@abc.example", 450, "4.2.1")
    assert vdctl("domain", "delete", "abc.example")[0] == 0
    expect_rcpt("alice@abc.example", 550, "5.1.2")
    assert vdctl("domain", "activate", "abc.example")[0] == 0
    expect_rcpt("alice@abc.example", 250)
    org = ld.search(ABC_ORG, scope="base")[0][1]
    assert org["inetdomainstatus"] == ["active"], org


@r.test
def domain_admin_manages_its_own_domain_only():
    pwfile = os.path.join(WORK, "admin.pw")
    with open(pwfile, "w") as f:
        f.write("abcadmin-pw\n")
    ld.add("dn: cn=abcadmin,%s\nobjectClass: person\nobjectClass: "
           "simpleSecurityObject\ncn: abcadmin\nsn: admin\n"
           "userPassword: abcadmin-pw\n" % S)
    admin = ["-D", "cn=abcadmin," + S, "-y", pwfile]
    rc, out, err = vdctl(*admin, "user", "add", "carol@abc.example",
                         stdin="carol-pw\n")
    assert rc == 0, (rc, out, err)
    expect_rcpt("carol@abc.example", 250)
    rc, out, err = vdctl(*admin, "user", "suspend", "carol@abc.example")
    assert rc == 0, (rc, out, err)
    expect_rcpt("carol@abc.example", 450, "4.2.1")
    # Another domain: refused, and nothing is written.
    before = all_dns()
    rc, out, err = vdctl(*admin, "user", "add", "eve@xyz.example",
                         stdin="eve-pw\n")
    assert rc == 1, (rc, out, err)
    assert all_dns() == before
    # Its own domain node's status is the provider's, not the admin's.
    rc, out, err = vdctl(*admin, "domain", "suspend", "abc.example")
    assert rc == 1 and "Insufficient access" in err, (rc, out, err)
    rc, out, err = vdctl(*admin, "domain", "add", "evil.example")
    assert rc == 1 and "Insufficient access" in err, (rc, out, err)
    expect_rcpt("alice@abc.example", 250)


@r.test
def bad_input_is_refused_clearly():
    cases = [
        (("domain", "add", "not a domain"), "", 1, "not a domain name"),
        (("domain", "add", "a..example"), "", 1, "not a domain name"),
        (("domain", "add", "localhost"), "", 1, "not a domain name"),
        (("domain", "add", "x" * 300 + ".example"), "", 1, "too long"),
        (("domain", "suspend", "nowhere.example"), "", 1, "no such domain"),
        (("user", "add", "a,b@abc.example"), "pw\n", 1, "local part"),
        (("user", "add", "noat"), "pw\n", 1, "not an address"),
        (("user", "add", "dan@nowhere.example"), "pw\n", 1,
         "no such domain"),
        (("user", "add", "dan@abc.example"), "", 2, "stdin"),
        (("user", "add", "dan@abc.example"), "\n", 1, "empty password"),
        (("user", "passwd", "ghost@abc.example"), "pw\n", 1, "no such user"),
        (("user", "frobnicate", "alice@abc.example"), "", 2, "usage"),
        (("domain", "add", "q.example", "--admin"), "", 2, "usage"),
        (("-D", "cn=x," + S, "user", "suspend", "alice@abc.example"), "", 2,
         "-y"),
    ]
    for args, stdin, want, text in cases:
        rc, out, err = vdctl(*args, stdin=stdin)
        assert rc == want and text in err, (args, rc, want, text, out, err)
    expect_rcpt("alice@abc.example", 250)


@r.test
def dns_refused_and_ldap_down():
    bad = write_conf(os.path.join(WORK, "badkey.conf"),
                     key="vdmail-key hmac-sha256 " + "QUJD" * 11)
    rc, out, err = vdctl("domain", "add", "dnsfail.example", conf=bad)
    assert rc == 1 and "DNS update" in err, (rc, out, err)
    assert ns.query("dnsfail.example", "MX") == []
    down = write_conf(os.path.join(WORK, "down.conf"),
                      uri="ldap://127.0.0.1:1/")
    rc, out, err = vdctl("domain", "add", "down.example", conf=down)
    assert rc == 3 and "Can't contact" in err, (rc, out, err)
    lax = os.path.join(WORK, "lax.conf")
    write_conf(lax)
    os.chmod(lax, 0o644)
    rc, out, err = vdctl("user", "suspend", "alice@abc.example", conf=lax)
    assert rc == 2 and "600" in err, (rc, out, err)


def child_pid():
    m = re.findall(r"vdsync: started \S+ \(pid (\d+)\)", srv.log())
    return int(m[-1]) if m else None


@r.test
def vdmaild_runs_vdsync_follow():
    srv.wait_log("vdsync: following", timeout=10)
    # A change made straight in the directory reaches SMTP through follow.
    ld.add("dn: uid=dave,ou=people,%s\nobjectClass: inetOrgPerson\n"
           "objectClass: inetUser\nobjectClass: inetMailUser\n"
           "objectClass: inetLocalMailRecipient\nuid: dave\ncn: dave\n"
           "sn: dave\nmail: dave@abc.example\n" % ABC_ORG)
    t0 = time.time()
    expect_rcpt("dave@abc.example", 250)
    assert time.time() - t0 < 2.5, time.time() - t0
    pid = child_pid()
    assert pid is not None, srv.log()[-2000:]
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while (child_pid() in (pid, None)) and time.time() < deadline:
        time.sleep(0.1)
    assert child_pid() not in (pid, None), srv.log()[-2000:]
    assert "vdsync: exited (signal 9)" in srv.log()
    srv.wait_log("vdsync: following", timeout=10)
    ld.modify("dn: uid=dave,ou=people,%s\nchangetype: modify\n"
              "replace: inetUserStatus\ninetUserStatus: inactive\n" % ABC_ORG)
    expect_rcpt("dave@abc.example", 450, "4.2.1")


@r.test
def vdmaild_stops_its_vdsync():
    pid = child_pid()
    srv.stop()
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("vdsync %d outlived vdmaild" % pid)


r.finish(srv, ld)
