"""vdsync end to end: a real slapd (syncprov, sessionlog) holding the Schema 2
and Schema 1 trees of ldap_trees.py, vdsync writing the tables of a real
vdmaild, and every change checked twice: in the text form vdsync keeps
(STATE/TABLE.txt) and in what vdmaild answers over SMTP (and delivers).

Covers: full sync of both layouts; incremental adds, modifies and deletes
of users, addresses, domains and lists (one change kind at a time, with the
"1 domains regenerated" and "0 tables replaced" log lines); follow mode
(changes visible within 2 s, slapd lost and back); the shrink guard (and
--force, and a base matching nothing); malformed entries skipped with a
log line; a refused sync cookie leading to a full refresh; config errors.

Every vdsync run is also checked for sanitizer reports and its exit
status. Checks inside one test are soft: a test reports every failed
check it made, so one broken exit status does not hide the table and SMTP
results behind it.
"""
import os
import re
import signal
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, VDCTL, Runner, Server  # noqa: E402
import ldap_trees  # noqa: E402
from ldapd import Slapd  # noqa: E402

VDSYNC = os.path.join(BUILD, "vdsync")
S = "o=isp"
ABC = "o=abc.com," + S
PEOPLE = "ou=people," + ABC
GROUPS = "ou=groups," + ABC
XYZ = "o=xyz.gov," + S
SENDER = "sender@remote.test"

r = Runner("vdsync")
SANITIZER = []          # (command, excerpt) of every vdsync sanitizer report

# ---------------------------------------------------------------- set-up
ld = Slapd(sessionlog=True)
ld.start()
ld.add(ldap_trees.schema2_tree(S))
ld.add(ldap_trees.schema1_tree(S))

WORK = tempfile.mkdtemp(prefix="vdsync-e2e-")
STATE = os.path.join(WORK, "state")
srv = Server({}, start=False)
TABLE_DIR = srv.table_dir


def write_conf(path, extra="", base=S, bind_dn=None, bind_pw=None,
               state=STATE, mode=0o600, uri=None):
    lines = ["uri = " + (uri or ld.uri),
             "bind_dn = " + (bind_dn or ld.syncdn),
             "bind_pw = " + (bind_pw or ld.syncpw),
             "base = " + base,
             "table_dir = " + TABLE_DIR,
             "state_dir = " + state,
             "follow_delay = 0.2",
             "backoff_max = 2"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + extra)
    os.chmod(path, mode)
    return path


CONF = write_conf(os.path.join(WORK, "vdsync.conf"))


def sanitizer_excerpt(text):
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "AddressSanitizer:DEADLYSIGNAL"):
        if marker in text:
            i = text.index(marker)
            return text[max(0, i - 100):i + 1200]
    return None


def vdsync(*args, conf=None, timeout=60):
    """Runs vdsync; returns (exit status, stderr)."""
    cmd = [VDSYNC, "-c", conf or CONF] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    rep = sanitizer_excerpt(p.stderr)
    if rep:
        SANITIZER.append((" ".join(args), rep))
    return p.returncode, p.stderr


def table(name):
    """STATE/name.txt as {key: value}."""
    out = {}
    with open(os.path.join(STATE, name + ".txt")) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            k, _, v = line.partition(" ")
            out[k] = v
    return out


def fields(value, name):
    """Every value of field name= in a table value."""
    return [f[len(name) + 1:] for f in value.split() if
            f.startswith(name + "=")]


def rcpt(addr):
    """(code, reply text) of RCPT TO:<addr>."""
    with srv.smtp() as s:
        s.ehlo("client.remote.test")
        code, msg = s.mail(SENDER)
        if code != 250:
            return code, msg.decode("utf-8", "replace")
        code, msg = s.rcpt(addr)
        s.rset()
        s.quit()
    return code, msg.decode("utf-8", "replace")


def reply_ok(got, code, enh=None):
    return got[0] == code and (enh is None or enh in got[1])


def wait_rcpt(addr, code, enh=None, timeout=3.0):
    """Polls RCPT until it answers code (and enh); returns the last reply
    and the seconds it took."""
    start = time.time()
    got = rcpt(addr)
    while not reply_ok(got, code, enh) and time.time() - start < timeout:
        time.sleep(0.05)
        got = rcpt(addr)
    return got, time.time() - start


_serial = [0]


def send(rcpts):
    """One message to rcpts; returns {rcpt: (code, text)} of the refused."""
    _serial[0] += 1
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: vdsync %d\r\n"
           "Message-ID: <vdsync-%d@remote.test>\r\n\r\nHello %d.\r\n"
           % (SENDER, rcpts[0], _serial[0], _serial[0], _serial[0]))
    with srv.smtp() as s:
        s.ehlo("client.remote.test")
        try:
            refused = s.sendmail(SENDER, rcpts, msg)
        except smtplib.SMTPRecipientsRefused as e:
            refused = e.recipients
        s.quit()
    return refused


def route(addr):
    p = subprocess.run([VDCTL, "-c", srv.conf, "route", addr],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


class Soft:
    """Collects failed checks; .done() raises with all of them."""

    def __init__(self):
        self.failures = []

    def __call__(self, ok, what):
        if not ok:
            self.failures.append(what)
        return ok

    def rc(self, got, want, log, what):
        if sanitizer_excerpt(log):
            # the same crash every time: keep the message short (the
            # sanitizer check at the end shows one report in full)
            last = [l for l in log.splitlines() if "vdsync:" in l][-1:]
            kind = ("SEGV" if "SEGV" in log else
                    sanitizer_excerpt(log).strip().splitlines()[0][:200])
            return self(False, "%s: exit %r, want %r, with a sanitizer "
                        "report (%s) after: %s" % (
                            what, got, want, kind, last[0][-160:] if last
                            else "-"))
        return self(got == want, "%s: exit %r, want %r; log:\n%s"
                    % (what, got, want, log[-1500:]))

    def done(self):
        if self.failures:
            raise AssertionError("\n---\n".join(self.failures))


def user_ldif(uid, domain_dn=ABC, domain="abc.com", extra=""):
    return ("dn: uid={u},ou=people,{d}\nobjectClass: inetOrgPerson\n"
            "objectClass: inetUser\nobjectClass: inetMailUser\n"
            "objectClass: inetLocalMailRecipient\nuid: {u}\ncn: {u}\n"
            "sn: {u}\nmail: {u}@{dom}\n{x}").format(u=uid, d=domain_dn,
                                                    dom=domain, x=extra)


def domain_ldif(name, aliases=(), status="active"):
    """A Schema 2 domain node o=NAME with ou=people below it."""
    dn = "o=%s,%s" % (name, S)
    assoc = "".join("associatedDomain: %s\n" % a for a in (name,) + aliases)
    return ("dn: {n}\nobjectClass: organization\n"
            "objectClass: sunManagedOrganization\nobjectClass: mailDomain\n"
            "o: {d}\nsunPreferredDomain: {d}\n{a}inetDomainStatus: {s}\n\n"
            "dn: ou=people,{n}\nobjectClass: organizationalUnit\n"
            "ou: people\n\n").format(n=dn, d=name, a=assoc, s=status)


def incr(soft, what):
    rc, log = vdsync("incremental")
    soft.rc(rc, 0, log, "incremental after " + what)
    return log


# First full sync: the tables vdmaild starts with.
FIRST_RC, FIRST_LOG = vdsync("full")
srv.start()


# ---------------------------------------------------------------- 1. full
@r.test
def full_sync_both_layouts():
    t = Soft()
    t.rc(FIRST_RC, 0, FIRST_LOG, "first full")
    for n in ("domains", "addresses", "users", "lists", "passwords",
              "routes"):
        t(os.path.exists(os.path.join(TABLE_DIR, n + ".cdb")),
          "no %s.cdb" % n)
    dom = table("domains")
    t(dom.get("abc.net") == "alias=abc.com", "abc.net: %r" % dom.get("abc.net"))
    a = dom.get("abc.com", "")
    t("status=active" in a.split() and "mailstatus=active" in a.split()
      and "postmaster=pm@abc.com" in a.split()
      and fields(a, "admin") == ["cn=abcadmin,o=isp"], "abc.com: %r" % a)
    t("status=active" in dom.get("xyz.gov", "").split(),
      "xyz.gov (Schema 1): %r" % dom.get("xyz.gov"))
    adr = table("addresses")
    want = {"alice@abc.com": "user=alice@abc.com",
            "a.liddell@abc.com": "user=alice@abc.com",
            "bob@abc.com": "user=bob@abc.com",
            "bobby@abc.com": "user=bob@abc.com",
            "carol@abc.com": "user=carol@abc.com",
            "dan@xyz.gov": "user=dan@xyz.gov",
            "staff@abc.com": "list=staff@abc.com",
            "everyone@abc.com": "list=everyone@abc.com"}
    for k, v in want.items():
        t(adr.get(k) == v, "addresses %s: %r, want %r" % (k, adr.get(k), v))
    us = table("users")
    t(set(us) == {"alice@abc.com", "bob@abc.com", "carol@abc.com",
                  "dan@xyz.gov"}, "users keys: %r" % sorted(us))
    t("quota=50M" in us.get("bob@abc.com", "").split()
      and "delivery=mailbox" in us.get("bob@abc.com", "").split(),
      "bob: %r" % us.get("bob@abc.com"))
    t("status=inactive" in us.get("carol@abc.com", "").split(),
      "carol: %r" % us.get("carol@abc.com"))
    ls = table("lists")
    t(sorted(fields(ls.get("staff@abc.com", ""), "member")) ==
      ["alice@abc.com", "bob@abc.com", "ext@remote.test"],
      "staff: %r" % ls.get("staff@abc.com"))
    t("status=active" in ls.get("staff@abc.com", "").split(), "staff status")
    t(sorted(fields(ls.get("everyone@abc.com", ""), "member")) ==
      ["alice@abc.com", "bob@abc.com", "carol@abc.com"],
      "everyone (dynamic): %r" % ls.get("everyone@abc.com"))
    pw = table("passwords")
    t(list(pw) == ["alice@abc.com"] and
      pw["alice@abc.com"].startswith("{SSHA}"), "passwords: %r" % pw)
    for p in (os.path.join(TABLE_DIR, "passwords.cdb"),
              os.path.join(STATE, "passwords.txt")):
        mode = os.stat(p).st_mode & 0o777
        t(mode == 0o600, "%s mode %03o" % (p, mode))
    # real behaviour
    for addr, user in (("a.liddell@abc.com", "alice@abc.com"),
                       ("bobby@abc.com", "bob@abc.com"),
                       ("alice@abc.net", "alice@abc.com"),
                       ("dan@xyz.gov", "dan@xyz.gov")):
        rc, out = route(addr)
        t(rc == 0 and ("user " + user) in out.replace("  ", " ")
          or (rc == 0 and user in out), "route %s: %d\n%s" % (addr, rc, out))
        got = rcpt(addr)
        t(reply_ok(got, 250), "RCPT %s: %r" % (addr, got))
    got = rcpt("carol@abc.com")
    t(reply_ok(got, 450, "4.2.1"), "RCPT carol (inactive): %r" % (got,))
    got = rcpt("nobody@abc.com")
    t(reply_ok(got, 550, "5.1.1"), "RCPT nobody: %r" % (got,))
    got = rcpt("staff@abc.com")
    t(reply_ok(got, 250, "2.1.5"),
      "RCPT staff (a remote member, queued for outbound): %r" % (got,))
    got = rcpt("x@elsewhere.test")
    t(reply_ok(got, 554, "5.7.1"), "RCPT non-local: %r" % (got,))
    n = len(srv.messages("xyz.gov/dan"))
    refused = send(["dan@xyz.gov"])
    t(not refused, "dan refused: %r" % refused)
    t(len(srv.wait_messages("xyz.gov/dan", n + 1)) == n + 1,
      "dan's message did not land")
    t.done()


# --------------------------------------------------------- 2. incremental
@r.test
def incremental_no_change_replaces_nothing():
    t = Soft()
    st = os.stat(os.path.join(TABLE_DIR, "users.cdb"))
    rc, log = vdsync("incremental")
    t(re.search(r"\b0 tables replaced", log) is not None,
      "no '0 tables replaced':\n" + log[-1500:])
    st2 = os.stat(os.path.join(TABLE_DIR, "users.cdb"))
    t(st.st_ino == st2.st_ino, "users.cdb replaced without a change")
    t.rc(rc, 0, log, "incremental without change")
    t.done()


@r.test
def incremental_add_user():
    t = Soft()
    ld.add(user_ldif("erin", extra="mailQuota: 20M\n"))
    log = incr(t, "add erin")
    t(re.search(r"\b1 domains? regenerated", log) is not None,
      "a change in abc.com only should regenerate 1 domain:\n" + log[-1500:])
    us = table("users")
    t("erin@abc.com" in us, "erin not in users.txt")
    t(table("addresses").get("erin@abc.com") == "user=erin@abc.com",
      "erin address")
    got, _ = wait_rcpt("erin@abc.com", 250)
    t(reply_ok(got, 250), "RCPT erin: %r" % (got,))
    refused = send(["erin@abc.com"])
    t(not refused, "erin refused: %r" % refused)
    t(len(srv.wait_messages("abc.com/erin", 1)) == 1, "erin got no message")
    t.done()


@r.test
def incremental_modify_quota_and_status():
    t = Soft()
    ld.modify("dn: uid=erin,%s\nchangetype: modify\nreplace: mailQuota\n"
              "mailQuota: 30M\n" % PEOPLE)
    incr(t, "mailQuota")
    v = table("users").get("erin@abc.com", "")
    t("quota=30M" in v.split(), "erin quota: %r" % v)
    ld.modify("dn: uid=erin,%s\nchangetype: modify\nreplace: inetUserStatus\n"
              "inetUserStatus: inactive\n" % PEOPLE)
    log = incr(t, "inetUserStatus inactive")
    t(re.search(r"\b1 domains? regenerated", log) is not None,
      "1 domain regenerated expected:\n" + log[-800:])
    v = table("users").get("erin@abc.com", "")
    t("status=inactive" in v.split(), "erin status: %r" % v)
    got, _ = wait_rcpt("erin@abc.com", 450, "4.2.1")
    t(reply_ok(got, 450, "4.2.1"), "RCPT inactive erin: %r" % (got,))
    t.done()


@r.test
def incremental_delete_user():
    t = Soft()
    ld.delete("uid=erin," + PEOPLE)
    incr(t, "delete erin")
    t("erin@abc.com" not in table("users"), "erin still in users.txt")
    t("erin@abc.com" not in table("addresses"), "erin still in addresses")
    got, _ = wait_rcpt("erin@abc.com", 550, "5.1.1")
    t(reply_ok(got, 550, "5.1.1"), "RCPT deleted erin: %r" % (got,))
    t.done()


@r.test
def incremental_alternate_address():
    t = Soft()
    ld.modify("dn: uid=bob,%s\nchangetype: modify\nadd: mailAlternateAddress\n"
              "mailAlternateAddress: robert@abc.com\n" % PEOPLE)
    incr(t, "add mailAlternateAddress")
    t(table("addresses").get("robert@abc.com") == "user=bob@abc.com",
      "robert: %r" % table("addresses").get("robert@abc.com"))
    got, _ = wait_rcpt("robert@abc.com", 250)
    t(reply_ok(got, 250), "RCPT robert: %r" % (got,))
    rc, out = route("robert@abc.com")
    t(rc == 0 and "bob@abc.com" in out, "route robert:\n" + out)
    ld.modify("dn: uid=bob,%s\nchangetype: modify\n"
              "delete: mailAlternateAddress\n"
              "mailAlternateAddress: robert@abc.com\n" % PEOPLE)
    incr(t, "delete mailAlternateAddress")
    t("robert@abc.com" not in table("addresses"), "robert still there")
    got, _ = wait_rcpt("robert@abc.com", 550, "5.1.1")
    t(reply_ok(got, 550, "5.1.1"), "RCPT removed robert: %r" % (got,))
    t(reply_ok(rcpt("bobby@abc.com"), 250), "bobby lost")
    t.done()


NEW = "o=new.test," + S


@r.test
def incremental_add_domain():
    t = Soft()
    ld.add(domain_ldif("new.test") + user_ldif("nina", NEW, "new.test"))
    log = incr(t, "add domain new.test")
    d = table("domains").get("new.test")
    t(d is not None and "alias=" not in (d or ""), "new.test: %r" % d)
    t("nina@new.test" in table("users"), "nina not in users")
    got, _ = wait_rcpt("nina@new.test", 250)
    t(reply_ok(got, 250), "RCPT nina: %r" % (got,))
    refused = send(["nina@new.test"])
    t(not refused, "nina refused: %r" % refused)
    t(len(srv.wait_messages("new.test/nina", 1)) == 1, "nina got nothing")
    t(reply_ok(rcpt("alice@abc.com"), 250), "alice lost")
    t.done()


def set_domain_status(status):
    ld.modify("dn: %s\nchangetype: modify\nreplace: inetDomainStatus\n"
              "inetDomainStatus: %s\n" % (NEW, status))


@r.test
def incremental_domain_status():
    t = Soft()
    set_domain_status("inactive")
    incr(t, "domain inactive")
    t("status=inactive" in table("domains").get("new.test", "").split(),
      "domains new.test: %r" % table("domains").get("new.test"))
    got, _ = wait_rcpt("nina@new.test", 450, "4.2.1")
    t(reply_ok(got, 450, "4.2.1"), "RCPT in inactive domain: %r" % (got,))
    set_domain_status("deleted")
    incr(t, "domain deleted")
    t("status=deleted" in table("domains").get("new.test", "").split(),
      "domains new.test: %r" % table("domains").get("new.test"))
    got, _ = wait_rcpt("nina@new.test", 550, "5.1.2")
    t(reply_ok(got, 550, "5.1.2"), "RCPT in deleted domain: %r" % (got,))
    set_domain_status("active")
    incr(t, "domain active again")
    got, _ = wait_rcpt("nina@new.test", 250)
    t(reply_ok(got, 250), "RCPT in reactivated domain: %r" % (got,))
    t.done()


GONE = "o=gone.test," + S


@r.test
def incremental_delete_domain():
    t = Soft()
    ld.add(domain_ldif("gone.test", ("gone.example",)) +
           user_ldif("gil", GONE, "gone.test"))
    incr(t, "add domain gone.test")
    got, _ = wait_rcpt("gil@gone.example", 250)
    t(reply_ok(got, 250), "RCPT gil via the alias domain: %r" % (got,))
    ld.delete(GONE, recursive=True)
    log = incr(t, "delete domain gone.test")
    t("1 domains regenerated" in log or "0 domains regenerated" in log,
      "deleting one domain regenerated others:\n" + log[-800:])
    for k in ("gone.test", "gone.example"):
        t(k not in table("domains"), "%s still in domains" % k)
    t("gil@gone.test" not in table("users"), "gil still in users")
    for a in ("gil@gone.test", "gil@gone.example"):
        got, _ = wait_rcpt(a, 554, "5.7.1")
        t(reply_ok(got, 554, "5.7.1"), "RCPT %s after the domain went: %r"
          % (a, got))
    code, out = route("gil@gone.test")
    t(code == 1 and "not a local domain" in out, "vdctl route: %r" % out)
    t(reply_ok(rcpt("alice@abc.com"), 250), "alice lost")
    t.done()


TEAM = "cn=team," + GROUPS


@r.test
def incremental_lists():
    t = Soft()
    ld.add("dn: {t}\nobjectClass: groupOfUniqueNames\n"
           "objectClass: inetMailGroup\nobjectClass: inetLocalMailRecipient\n"
           "cn: team\nmail: team@abc.com\nuniqueMember: uid=alice,{p}\n"
           "uniqueMember: uid=bob,{p}\ninetMailGroupStatus: active\n"
           "mailDeliveryOption: members\n".format(t=TEAM, p=PEOPLE))
    incr(t, "add list team")
    v = table("lists").get("team@abc.com", "")
    t(sorted(fields(v, "member")) == ["alice@abc.com", "bob@abc.com"],
      "team: %r" % v)
    t(table("addresses").get("team@abc.com") == "list=team@abc.com",
      "team address")
    got, _ = wait_rcpt("team@abc.com", 250)
    t(reply_ok(got, 250), "RCPT team: %r" % (got,))
    na, nb = len(srv.messages("abc.com/alice")), len(srv.messages("abc.com/bob"))
    t(not send(["team@abc.com"]), "team refused")
    t(len(srv.wait_messages("abc.com/alice", na + 1)) == na + 1,
      "alice did not get the list message")
    t(len(srv.wait_messages("abc.com/bob", nb + 1)) == nb + 1,
      "bob did not get the list message")
    # add a member (dan, in xyz.gov: still local)
    ld.modify("dn: %s\nchangetype: modify\nadd: uniqueMember\n"
              "uniqueMember: uid=dan,ou=people,%s\n" % (TEAM, XYZ))
    incr(t, "add uniqueMember dan")
    v = table("lists").get("team@abc.com", "")
    t(sorted(fields(v, "member")) ==
      ["alice@abc.com", "bob@abc.com", "dan@xyz.gov"], "team+dan: %r" % v)
    time.sleep(0.6)     # table_check_interval
    nd = len(srv.messages("xyz.gov/dan"))
    na, nb = len(srv.messages("abc.com/alice")), len(srv.messages("abc.com/bob"))
    t(not send(["team@abc.com"]), "team refused (2)")
    t(len(srv.wait_messages("xyz.gov/dan", nd + 1)) == nd + 1,
      "new member dan did not get the list message")
    t(len(srv.wait_messages("abc.com/alice", na + 1)) == na + 1, "alice (2)")
    # remove bob
    ld.modify("dn: %s\nchangetype: modify\ndelete: uniqueMember\n"
              "uniqueMember: uid=bob,%s\n" % (TEAM, PEOPLE))
    incr(t, "delete uniqueMember bob")
    v = table("lists").get("team@abc.com", "")
    t(sorted(fields(v, "member")) == ["alice@abc.com", "dan@xyz.gov"],
      "team-bob: %r" % v)
    time.sleep(0.6)
    na, nb = len(srv.messages("abc.com/alice")), len(srv.messages("abc.com/bob"))
    t(not send(["team@abc.com"]), "team refused (3)")
    t(len(srv.wait_messages("abc.com/alice", na + 1)) == na + 1, "alice (3)")
    time.sleep(0.5)
    t(len(srv.messages("abc.com/bob")) == nb,
      "removed member bob still got the list message")
    # delete the list
    ld.delete(TEAM)
    incr(t, "delete list team")
    t("team@abc.com" not in table("lists"), "team still in lists")
    t("team@abc.com" not in table("addresses"), "team still in addresses")
    got, _ = wait_rcpt("team@abc.com", 550)
    t(reply_ok(got, 550), "RCPT deleted list: %r" % (got,))
    t.done()


# ------------------------------------------------------- 5. malformed
@r.test
def malformed_entries_skipped():
    t = Soft()
    ld.add(user_ldif("greedy", extra="mailQuota: lots\n") + "\n" +
           "dn: uid=broken,%s\nobjectClass: inetOrgPerson\n"
           "objectClass: inetUser\nobjectClass: inetMailUser\nuid: broken\n"
           "cn: broken\nsn: broken\nmail: not-an-address\n\n" % PEOPLE +
           user_ldif("fine"))
    rc, log = vdsync("incremental")
    t.rc(rc, 0, log, "incremental with malformed entries")
    for dn, attr in (("uid=greedy," + PEOPLE, "mailquota"),
                     ("uid=broken," + PEOPLE, "mail")):
        m = re.search(r'skipped entry dn="%s": attribute %s\b'
                      % (re.escape(dn), attr), log, re.I)
        t(m is not None, "no skip line naming %s / %s:\n%s"
          % (dn, attr, log[-1500:]))
    us, adr = table("users"), table("addresses")
    t("greedy@abc.com" not in us and "greedy@abc.com" not in adr,
      "greedy (bad quota) in the tables")
    t(not any("not-an-address" in k or "broken" in k for k in
              list(us) + list(adr)), "broken entry in the tables")
    t("fine@abc.com" in us, "the good entry next to them is missing")
    for k in ("alice@abc.com", "bob@abc.com", "carol@abc.com",
              "dan@xyz.gov", "nina@new.test"):
        t(k in us, "%s lost" % k)
    got, _ = wait_rcpt("fine@abc.com", 250)
    t(reply_ok(got, 250), "RCPT fine: %r" % (got,))
    t(reply_ok(rcpt("greedy@abc.com"), 550, "5.1.1"), "greedy accepted")
    # full sync says the same
    rc, log = vdsync("full")
    t.rc(rc, 0, log, "full with malformed entries")
    t("greedy@abc.com" not in table("users") and
      "fine@abc.com" in table("users"), "full: malformed handling differs")
    ld.delete("uid=greedy," + PEOPLE)
    ld.delete("uid=broken," + PEOPLE)
    incr(t, "removing the malformed entries")
    t.done()


# ----------------------------------------------------- 6. cookie refused
def set_cookie(cookie):
    path = os.path.join(STATE, "cache")
    with open(path) as f:
        lines = f.read().split("\n")
    old = [l for l in lines if l.startswith("C ")]
    lines = [("C " + cookie) if l.startswith("C ") else l for l in lines]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return old


@r.test
def cookie_refused_full_refresh():
    t = Soft()
    # syncprov answers e-syncRefreshRequired (rather than silently running
    # a present phase) only with olcSpReloadHint TRUE, for a cookie whose
    # CSN is older than the sessionlog and than every entry.
    ld.modify("dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config\n"
              "changetype: modify\nreplace: olcSpReloadHint\n"
              "olcSpReloadHint: TRUE\n", binddn=ld.configdn, pw=ld.configpw)
    users_before = set(table("users"))
    old = set_cookie("rid=000,csn=19700101000000.000000Z#000000#000#000000")
    t(len(old) == 1, "cache had %d cookie lines" % len(old))
    ld.add(user_ldif("cookie"))          # a change to pick up
    rc, log = vdsync("incremental")
    t.rc(rc, 0, log, "incremental with a refused cookie")
    refused = "refused the stored cookie (e-syncRefreshRequired): full refresh"
    t(refused in log, "no full-refresh line:\n" + log[-1500:])
    us = table("users")
    t(set(us) == users_before | {"cookie@abc.com"},
      "users after the refresh: missing %r, extra %r" % (
          sorted((users_before | {"cookie@abc.com"}) - set(us)),
          sorted(set(us) - users_before - {"cookie@abc.com"}))
      + "\nlog:\n" + "\n".join(l for l in log.splitlines()
                                if "vdsync:" in l)[-1500:])
    t("erin@abc.com" not in us, "deleted erin came back")
    got, _ = wait_rcpt("cookie@abc.com", 250)
    t(reply_ok(got, 250), "RCPT cookie: %r" % (got,))
    ld.modify("dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config\n"
              "changetype: modify\nreplace: olcSpReloadHint\n"
              "olcSpReloadHint: FALSE\n", binddn=ld.configdn, pw=ld.configpw)
    rc, log = vdsync("incremental")
    t.rc(rc, 0, log, "incremental with the good cookie")
    t("refused the stored cookie" not in log, "good cookie refused")
    t.done()


@r.test
def corrupt_cache_full_refresh():
    t = Soft()
    path = os.path.join(STATE, "cache")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])       # truncated mid-entry
    rc, log = vdsync("incremental")
    t.rc(rc, 0, log, "incremental with a truncated cache")
    t("full refresh" in log, "no full-refresh line:\n" + log[-1500:])
    us = table("users")
    for k in ("alice@abc.com", "bob@abc.com", "dan@xyz.gov", "cookie@abc.com"):
        t(k in us, "%s missing" % k)
    t(reply_ok(rcpt("alice@abc.com"), 250), "alice after the refresh")
    t.done()


# ------------------------------------------------------- 4. shrink guard
def users_cdb_stat():
    st = os.stat(os.path.join(TABLE_DIR, "users.cdb"))
    return st.st_ino, st.st_mtime_ns


@r.test
def shrink_guard():
    t = Soft()
    ld.add("\n".join(user_ldif("bulk%02d" % i) for i in range(20)))
    incr(t, "adding 20 users")
    us = table("users")
    t(len([k for k in us if k.startswith("bulk")]) == 20, "20 users missing")
    got, _ = wait_rcpt("bulk00@abc.com", 250)
    before = users_cdb_stat()
    before_txt = table("users")
    for i in range(8):                  # 8 of ~29 users: > 10 %, > 5
        ld.delete("uid=bulk%02d,%s" % (i, PEOPLE))
    rc, log = vdsync("incremental")
    t.rc(rc, 1, log, "incremental removing 8 users")
    t("refused" in log and "would remove" in log, "no refusal:\n" + log[-1500:])
    t(users_cdb_stat() == before, "users.cdb was replaced")
    t(table("users") == before_txt, "users.txt changed")
    time.sleep(0.5)
    t(reply_ok(rcpt("bulk00@abc.com"), 250), "deleted user no longer served")
    # still refused on the next run (the refusal is not forgotten)
    rc, log = vdsync("incremental")
    t.rc(rc, 1, log, "second incremental removing 8 users")
    t(users_cdb_stat() == before, "users.cdb replaced on the second run")
    rc, log = vdsync("incremental", "--force")
    t.rc(rc, 0, log, "incremental --force")
    us = table("users")
    t(not any(("bulk%02d@abc.com" % i) in us for i in range(8)),
      "forced removal did not happen")
    t(all(("bulk%02d@abc.com" % i) in us for i in range(8, 20)),
      "forced removal took too much")
    got, _ = wait_rcpt("bulk00@abc.com", 550, "5.1.1")
    t(reply_ok(got, 550, "5.1.1"), "RCPT forced-deleted: %r" % (got,))
    t.done()


@r.test
def shrink_guard_empty_base():
    t = Soft()
    ld.add("dn: ou=nothing,%s\nobjectClass: organizationalUnit\n"
           "ou: nothing\n" % S)
    conf = write_conf(os.path.join(WORK, "nothing.conf"),
                      base="ou=nothing," + S,
                      state=os.path.join(WORK, "state-nothing"))
    before = users_cdb_stat()
    rc, log = vdsync("full", conf=conf)
    t.rc(rc, 1, log, "full with an empty base")
    t("refused" in log, "no refusal:\n" + log[-1500:])
    t(users_cdb_stat() == before, "users.cdb replaced by an empty base")
    time.sleep(0.5)
    t(reply_ok(rcpt("alice@abc.com"), 250), "alice lost")
    t.done()


# --------------------------------------------------------------- 7. config
@r.test
def config_errors():
    t = Soft()
    p = write_conf(os.path.join(WORK, "open.conf"), mode=0o644)
    rc, log = vdsync("incremental", conf=p)
    t.rc(rc, 2, log, "bind_pw in a 0644 file")
    t("bind_pw" in log and "600" in log, "message: " + log)
    p = write_conf(os.path.join(WORK, "badpw.conf"), bind_pw="wrong",
                   state=os.path.join(WORK, "state-badpw"))
    st = users_cdb_stat()
    rc, log = vdsync("full", conf=p)
    t.rc(rc, 3, log, "wrong bind password")
    t("bind" in log.lower(), "message: " + log)
    t(users_cdb_stat() == st, "tables touched after a failed bind")
    p = write_conf(os.path.join(WORK, "unknown.conf"), extra="colour = blue\n")
    rc, log = vdsync("incremental", conf=p)
    t.rc(rc, 2, log, "unknown key")
    t("unknown.conf:9" in log and "colour" in log,
      "message should name file:line and key: " + log)
    rc, log = vdsync("sideways")
    t.rc(rc, 2, log, "unknown command")
    t.done()


# --------------------------------------------------------------- 3. follow
@r.test
def follow_mode():
    t = Soft()
    logpath = os.path.join(WORK, "follow.log")
    logf = open(logpath, "w")
    proc = subprocess.Popen([VDSYNC, "-c", CONF, "follow"],
                            stdout=logf, stderr=subprocess.STDOUT)
    logf.close()

    def flog():
        with open(logpath, errors="replace") as f:
            return f.read()

    def wait_log(text, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline and text not in flog():
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        return text in flog()

    try:
        t(wait_log("vdsync: following", 10), "not following:\n" + flog())
        ld.add(user_ldif("fiona"))
        got, secs = wait_rcpt("fiona@abc.com", 250, timeout=5)
        t(reply_ok(got, 250) and secs <= 2.0,
          "follow add visible after %.2f s: %r" % (secs, got))
        seen = reply_ok(got, 250)
        ld.delete("uid=fiona," + PEOPLE)
        if seen:
            got, secs = wait_rcpt("fiona@abc.com", 550, "5.1.1", timeout=5)
            t(reply_ok(got, 550, "5.1.1") and secs <= 2.0,
              "follow delete visible after %.2f s: %r" % (secs, got))
        else:
            t(False, "follow delete not checked: the add never showed")
        # slapd goes away
        ld.stop()
        t(wait_log("vdsync: lost", 10), "no 'lost' line:\n" + flog()[-2000:])
        t(proc.poll() is None, "vdsync follow died when slapd stopped "
          "(exit %r):\n%s" % (proc.poll(), flog()[-3000:]))
        t(reply_ok(rcpt("alice@abc.com"), 250), "alice not served while "
          "slapd is down")
        ld.start()
        ld.add(user_ldif("gus"))
        got, secs = wait_rcpt("gus@abc.com", 250, timeout=20)
        t(reply_ok(got, 250), "change after slapd came back not visible "
          "after %.1f s: %r" % (secs, got))
        ev = fields(table("lists").get("everyone@abc.com", ""), "member")
        t({"alice@abc.com", "bob@abc.com", "carol@abc.com"} <= set(ev),
          "the dynamic list lost members across the outage: %r" % ev)
    finally:
        if not ld.running():
            ld.start()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait(5)
            rc = "hung"
    text = flog()
    rep = sanitizer_excerpt(text)
    if rep:
        SANITIZER.append(("follow", rep))
    t(rc == 0, "follow exit %r after SIGTERM:\n%s" % (rc, text[-3000:]))
    t.done()


FOLLOW_DOM = "o=follow.test," + S
CREW = "cn=crew,ou=groups," + ABC


@r.test
def follow_each_change_kind():
    """Every change kind of the issue through refreshAndPersist: each is
    answered over SMTP within 2 s of the LDAP write returning."""
    t = Soft()
    logpath = os.path.join(WORK, "follow-kinds.log")
    logf = open(logpath, "w")
    proc = subprocess.Popen([VDSYNC, "-c", CONF, "follow"],
                            stdout=logf, stderr=subprocess.STDOUT)
    logf.close()

    def flog():
        with open(logpath, errors="replace") as f:
            return f.read()

    def seen(what, addr, code, enh=None):
        got, secs = wait_rcpt(addr, code, enh, timeout=5)
        t(reply_ok(got, code, enh) and secs <= 2.0,
          "%s: %s wanted %d %s, got %r after %.2f s"
          % (what, addr, code, enh or "", got, secs))

    def members(addr, want, timeout=3):
        deadline = time.time() + timeout
        while True:
            got = sorted(fields(table("lists").get(addr, ""), "member"))
            if got == sorted(want) or time.time() > deadline:
                break
            time.sleep(0.05)
        t(got == sorted(want), "%s members %r, want %r" % (addr, got, want))

    try:
        deadline = time.time() + 10
        while "vdsync: following" not in flog() and time.time() < deadline:
            time.sleep(0.05)
        t("vdsync: following" in flog(), "not following:\n" + flog())
        # a user: add, modify (status), delete
        ld.add(user_ldif("hugo"))
        seen("add user", "hugo@abc.com", 250)
        ld.modify("dn: uid=hugo,%s\nchangetype: modify\nreplace: "
                  "inetUserStatus\ninetUserStatus: inactive\n" % PEOPLE)
        seen("modify user", "hugo@abc.com", 450, "4.2.1")
        # an alternate address: add, remove
        ld.modify("dn: uid=bob,%s\nchangetype: modify\nadd: "
                  "mailAlternateAddress\nmailAlternateAddress: "
                  "robert@abc.com\n" % PEOPLE)
        seen("add alternate address", "robert@abc.com", 250)
        ld.modify("dn: uid=bob,%s\nchangetype: modify\ndelete: "
                  "mailAlternateAddress\nmailAlternateAddress: "
                  "robert@abc.com\n" % PEOPLE)
        seen("delete alternate address", "robert@abc.com", 550, "5.1.1")
        # a list and its members
        ld.add("dn: {c}\nobjectClass: groupOfUniqueNames\n"
               "objectClass: inetMailGroup\n"
               "objectClass: inetLocalMailRecipient\ncn: crew\n"
               "mail: crew@abc.com\nuniqueMember: uid=alice,{p}\n"
               .format(c=CREW, p=PEOPLE))
        seen("add list", "crew@abc.com", 250)
        members("crew@abc.com", ["alice@abc.com"])
        ld.modify("dn: %s\nchangetype: modify\nadd: uniqueMember\n"
                  "uniqueMember: uid=bob,%s\n" % (CREW, PEOPLE))
        members("crew@abc.com", ["alice@abc.com", "bob@abc.com"])
        ld.modify("dn: %s\nchangetype: modify\ndelete: uniqueMember\n"
                  "uniqueMember: uid=alice,%s\n" % (CREW, PEOPLE))
        members("crew@abc.com", ["bob@abc.com"])
        ld.delete(CREW)
        seen("delete list", "crew@abc.com", 550, "5.1.1")
        # a domain: add, status, delete of its user
        ld.add(domain_ldif("follow.test") +
               user_ldif("ivy", FOLLOW_DOM, "follow.test"))
        seen("add domain", "ivy@follow.test", 250)
        ld.modify("dn: %s\nchangetype: modify\nreplace: inetDomainStatus\n"
                  "inetDomainStatus: inactive\n" % FOLLOW_DOM)
        seen("domain inactive", "ivy@follow.test", 450, "4.2.1")
        ld.modify("dn: %s\nchangetype: modify\nreplace: inetDomainStatus\n"
                  "inetDomainStatus: deleted\n" % FOLLOW_DOM)
        seen("domain deleted", "ivy@follow.test", 550, "5.1.2")
        ld.delete(FOLLOW_DOM, recursive=True)
        seen("delete domain", "ivy@follow.test", 554, "5.7.1")
        ld.delete("uid=hugo," + PEOPLE)
        seen("delete user", "hugo@abc.com", 550, "5.1.1")
        t(reply_ok(rcpt("alice@abc.com"), 250), "alice lost")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "hung"
    text = flog()
    rep = sanitizer_excerpt(text)
    if rep:
        SANITIZER.append(("follow kinds", rep))
    t(rc == 0, "follow exit %r after SIGTERM:\n%s" % (rc, text[-3000:]))
    t.done()


r.check("vdsync_no_sanitizer_reports", not SANITIZER,
        "%d runs:\n" % len(SANITIZER) +
        "\n".join("[%s]\n%s" % s for s in SANITIZER[:2]))
r.finish(srv, ld)
