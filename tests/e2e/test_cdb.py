"""Tables: the text form round-trips byte for byte through tinycdb's own
tool, vdctl validates with file, line and field, replaces atomically,
explains routes (golden files in data/), and vdmaild swaps a replaced table
in within a second without dropping a session, keeping the old one when
the new one is bad."""
import filecmp
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (DEMO_TABLES, ROOT, VDCTL, VDMAILD, Runner,  # noqa
                     Server, read_reply)

r = Runner("cdb")
HERE = os.path.dirname(os.path.abspath(__file__))
srv = Server(DEMO_TABLES)


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, timeout=30, **kw)


def tmpfile(name, text):
    path = os.path.join(srv.dir, name)
    with open(path, "w" if isinstance(text, str) else "wb") as f:
        f.write(text)
    return path


@r.test
def text_form_round_trips_through_tinycdb():
    for name in ("domains", "addresses", "users", "passwords"):
        src = os.path.join(ROOT, "etc", name + ".txt")
        ours = os.path.join(srv.dir, name + ".ours.cdb")
        theirs = os.path.join(srv.dir, name + ".theirs.cdb")
        assert run(VDCTL, "cdb", "build", name, src, ours).returncode == 0
        assert run("cdb", "-c", "-m", theirs, src).returncode == 0
        assert filecmp.cmp(ours, theirs, shallow=False), name
        dumped = run("cdb", "-d", "-m", theirs).stdout
        assert dumped == open(src, "rb").read(), name
        assert run(VDCTL, "cdb", "dump", ours).stdout == dumped, name


BAD = [
    ("users", "alice@example.com quota=lots\n", "users.txt:1: field 'quota'"),
    ("users", "ok@example.com\nAlice@example.com\n", "users.txt:2: key"),
    ("users", "a@example.com color=red\n", "users.txt:1: field 'color'"),
    ("users", "a@example.com mailbox=../../etc\n",
     "users.txt:1: field 'mailbox'"),
    ("users", "a@example.com status=active\r\n", "users.txt:1: line ends "
     "with CR"),
    ("users", "a@example.com services=%zz\n", "users.txt:1: field "
     "'services': bad %-escape"),
    ("domains", "x.test alias=y.test status=active\n",
     "domains.txt:1: field 'alias'"),
    ("domains", "x.test status=active\nx.test status=inactive\n",
     "domains.txt:2: key 'x.test': given twice"),
    ("addresses", "a@x.test\n", "addresses.txt:1: field 'user': missing"),
    ("addresses", "a@x.test user=B@x.test\n", "addresses.txt:1: field "
     "'user'"),
    ("passwords", "a@x.test secret\n", "passwords.txt:1: password"),
]


@r.test
def validation_names_file_line_and_field():
    for table, text, want in BAD:
        src = tmpfile(table + ".txt", text)
        dest = os.path.join(srv.dir, "bad-" + table + ".cdb")
        if os.path.exists(dest):
            os.unlink(dest)
        out = run(VDCTL, "cdb", "build", table, src, dest)
        err = out.stderr.decode()
        assert out.returncode == 1, (text, out.returncode, err)
        assert want in err, (want, err)
        assert not os.path.exists(dest), dest
        assert [n for n in os.listdir(srv.dir) if ".tmp." in n] == []
        out = run(VDCTL, "cdb", "check", table, src)
        assert out.returncode == 1 and want in out.stderr.decode(), want


@r.test
def a_bad_source_never_replaces_a_table():
    dest = os.path.join(srv.dir, "keep.cdb")
    good = tmpfile("good.txt", "a@x.test status=active\n")
    bad = tmpfile("bad.txt", "a@x.test status=active quota=x\n")
    assert run(VDCTL, "cdb", "build", "users", good, dest).returncode == 0
    before = open(dest, "rb").read()
    assert run(VDCTL, "cdb", "build", "users", bad, dest).returncode == 1
    assert open(dest, "rb").read() == before


@r.test
def cross_table_check():
    assert run(VDCTL, "-c", srv.conf, "check").returncode == 0
    out = run(VDMAILD, "-t", "-c", srv.conf)
    assert out.returncode == 0 and b"ok" in out.stdout, out
    broken = Server({"domains": "a.test postmaster=pm@a.test\n"
                                "b.test alias=nowhere.test\n",
                     "addresses": "x@a.test user=ghost@a.test\n",
                     "users": "y@c.test\n"}, start=False)
    out = run(VDCTL, "-c", broken.conf, "check")
    text = out.stdout.decode()
    assert out.returncode == 1, text
    for want in ("alias of an unknown domain", "its user is not in",
                 "postmaster is not in the addresses table",
                 "users: key 'y@c.test': its domain is not"):
        assert want in text, (want, text)
    out = run(VDMAILD, "-t", "-c", broken.conf)
    assert out.returncode == 1, out
    broken.cleanup()


ROUTES = ["alice@example.com", "alice@example.net", "a.liddell@example.com",
          "alice+tag@example.com", "nobody@example.com",
          "carol@suspended.example", "dave@deleted.example",
          "erin@example.com", "frank@example.com", "gina@example.com",
          "zed@example.com", "wes@weird.example", "anything@catchall.example",
          "postmaster", "someone@remote.test"]


@r.test
def route_explains_every_branch():
    update = os.environ.get("VDMAIL_UPDATE_GOLDEN") == "1"
    for addr in ROUTES:
        out = run(VDCTL, "-c", srv.conf, "route", addr)
        ref = os.path.join(HERE, "data", "route-%s.ref" % addr)
        if update:
            with open(ref, "wb") as f:
                f.write(out.stdout)
        want = open(ref, "rb").read()
        assert out.stdout == want, (addr, out.stdout.decode())
        delivered = b"decision   accept and deliver" in want
        assert out.returncode == (0 if delivered else 1), addr
    assert srv.dir.encode() not in b"".join(
        open(os.path.join(HERE, "data", "route-%s.ref" % a), "rb").read()
        for a in ROUTES)


def rcpt(s, f, addr):
    s.sendall(b"RCPT TO:<%s>\r\n" % addr.encode())
    return read_reply(f)[0]


@r.test
def live_table_swap_without_dropping_sessions():
    s, f = srv.raw()
    s.sendall(b"EHLO x\r\nMAIL FROM:<swap@remote.test>\r\n")
    read_reply(f)
    read_reply(f)
    assert rcpt(s, f, "newbie@example.com") == 550
    tables = dict(DEMO_TABLES)
    tables["users"] += "newbie@example.com\n"
    tables["addresses"] += "newbie@example.com user=newbie@example.com\n"
    srv.write_tables(tables)
    deadline = time.time() + 1.5
    code = None
    while time.time() < deadline:
        code = rcpt(s, f, "newbie@example.com")
        if code == 250:
            break
        time.sleep(0.05)
    assert code == 250, code
    # A broken file renamed over the table: the last good one stays.
    junk = os.path.join(srv.table_dir, "users.cdb.junk")
    with open(junk, "wb") as fh:
        fh.write(os.urandom(5000))
    os.rename(junk, os.path.join(srv.table_dir, "users.cdb"))
    assert srv.wait_log("new file rejected", 5)
    assert rcpt(s, f, "newbie@example.com") == 250
    # A good table again is picked up.
    srv.write_tables(DEMO_TABLES)
    deadline = time.time() + 1.5
    while time.time() < deadline and rcpt(s, f, "newbie@example.com") != 550:
        time.sleep(0.05)
    assert rcpt(s, f, "newbie@example.com") == 550
    s.sendall(b"QUIT\r\n")
    assert read_reply(f)[0] == 221
    s.close()


r.finish(srv)
