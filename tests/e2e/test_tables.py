"""Tables: the text form round-trips byte for byte through tinycdb's own
`cdb` tool and vdctl builds exactly the file `cdb -c -m` builds; vdctl
refuses bad records naming FILE:LINE and the field and never replaces a
table from a bad source; `vdctl check` and `vdmaild -t` find cross-table
problems; `vdctl route` explains each branch (golden files in data/); and
a running vdmaild swaps in a replaced table within a second without
dropping a session, keeping the old table when the new file is bad.

VDMAIL_UPDATE_GOLDEN=1 rewrites data/route-*.ref from the current output
(then read the diff before committing it)."""
import filecmp
import glob
import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (DEMO_TABLES, ROOT, VDCTL, VDMAILD, Runner,  # noqa: E402
                     Server, read_reply)

r = Runner("tables")
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
# The live-swap session collects 550s while it polls; more than the
# default ten would close it for too many errors.
srv = Server(DEMO_TABLES, config="max_errors = 100")
WORK = os.path.join(srv.dir, "work")
os.makedirs(WORK)


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True,
                          timeout=60, **kw)


def put(name, data):
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path


def leftovers():
    """Temporary files a builder left behind in WORK."""
    return [n for n in os.listdir(WORK) if ".tmp" in n]


# ---- (a) byte for byte with tinycdb ----

def same_as_tinycdb(table, src):
    """vdctl and `cdb` agree on build and dump; returns the dump."""
    base = os.path.basename(src)
    theirs = os.path.join(WORK, base + ".theirs.cdb")
    ours = os.path.join(WORK, base + ".ours.cdb")
    out = run("cdb", "-c", "-m", theirs, src)
    assert out.returncode == 0, out.stderr
    out = run(VDCTL, "cdb", "build", table, src, ours)
    assert out.returncode == 0, (src, out.stderr.decode())
    assert filecmp.cmp(ours, theirs, shallow=False), src
    dumped = run("cdb", "-d", "-m", theirs)
    assert dumped.returncode == 0
    mine = run(VDCTL, "cdb", "dump", ours)
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout == dumped.stdout, (src, mine.stdout[:200],
                                          dumped.stdout[:200])
    # vdctl dumps a table tinycdb built, too.
    assert run(VDCTL, "cdb", "dump", theirs).stdout == dumped.stdout
    return dumped.stdout


@r.test
def etc_tables_round_trip_through_tinycdb():
    sources = sorted(glob.glob(os.path.join(ROOT, "etc", "*.txt")))
    names = [os.path.basename(s)[:-4] for s in sources]
    assert sorted(names) == ["addresses", "domains", "passwords", "users"], \
        names
    for src in sources:
        table = os.path.basename(src)[:-4]
        dumped = same_as_tinycdb(table, src)
        with open(src, "rb") as f:
            assert dumped == f.read(), src
        assert run(VDCTL, "cdb", "check", table, src).returncode == 0


@r.test
def demo_tables_round_trip_through_tinycdb():
    for table, text in DEMO_TABLES.items():
        src = put(table + ".demo.txt", text)
        # A key without a value dumps as "KEY \n".
        want = "".join(line + ("\n" if " " in line else " \n")
                       for line in text.splitlines())
        assert same_as_tinycdb(table, src) == want.encode(), table


@r.test
def text_form_edge_cases_build_identically():
    # Comments, blank lines, tabs, runs of blanks, a missing final
    # newline: tinycdb's own reading of the map form is the reference.
    cases = [
        "a@x.test\tstatus=active\n",
        "a@x.test   quota=1\n",
        "a@x.test status=active \n",
        "# comment\n\na@x.test\n\n# end\n",
        "a@x.test\n",
        "a@x.test status=active",
        "a@x.test \t quota=1\tstatus=active\n",
    ]
    for i, text in enumerate(cases):
        same_as_tinycdb("users", put("edge%d.txt" % i, text))


@r.test
def a_large_table_builds_identically():
    # Enough records to fill many of tinycdb's 256 hash tables.
    rnd = random.Random(20261122)
    statuses = ["active", "inactive", "disabled", "deleted", "hold",
                "overquota"]
    lines = []
    for i in range(5000):
        fields = []
        if rnd.random() < 0.5:
            fields.append("status=" + rnd.choice(statuses))
        if rnd.random() < 0.3:
            fields.append("quota=%d%s" % (rnd.randint(1, 999),
                                           rnd.choice(["", "K", "M", "G"])))
        if rnd.random() < 0.2:
            fields.append("msgquota=%d" % rnd.randint(1, 100000))
        if rnd.random() < 0.1:
            fields.append("mailbox=d%d/u%d" % (i % 37, i))
        if rnd.random() < 0.1:
            fields.append("services=%2Bimap:ALL%24%25")
        key = "user%d.%s@dom%d.example" % (i, "x" * rnd.randint(0, 40),
                                            i % 53)
        lines.append(key + (" " + " ".join(fields) if fields else " ") +
                     "\n")
    text = "".join(lines)
    assert same_as_tinycdb("users", put("large.txt", text)) == text.encode()


# ---- (b) validation ----

BAD = [
    # (table, text, what the message must say, what it names)
    ("users", "a@x.test color=red\n", "users.txt:1: field 'color'",
     "unknown field"),
    ("users", "a@x.test quota=lots\n", "users.txt:1: field 'quota'",
     "bad quota"),
    ("users", "a@x.test\nb@x.test msgquota=-5K\n",
     "users.txt:2: field 'msgquota'", "bad message quota"),
    ("users", "ok@x.test\nAlice@x.test\n", "users.txt:2: key",
     "upper-case key"),
    ("domains", "X.test status=active\n", "domains.txt:1: key",
     "upper-case domain"),
    ("users", "a@x.test\nb@x.test\na@x.test quota=1\n",
     "users.txt:3: key 'a@x.test': given twice", "duplicate key"),
    ("domains", "x.test status=active\ny.test\nx.test status=inactive\n",
     "domains.txt:3: key 'x.test': given twice", "duplicate domain"),
    ("domains", "x.test alias=y.test status=active\n",
     "domains.txt:1: field 'alias'", "alias with another field"),
    ("addresses", "a@x.test\n", "addresses.txt:1: field 'user' or 'list': missing",
     "address without user="),
    ("addresses", "a@x.test mailbox=x\n", "addresses.txt:1: field "
     "'mailbox'", "address with a user's field"),
    ("users", "a@x.test mailbox=../x\n", "users.txt:1: field 'mailbox'",
     "unsafe mailbox path"),
    ("users", "a@x.test mailbox=/etc\n", "users.txt:1: field 'mailbox'",
     "absolute mailbox path"),
    ("users", "a@x.test mailbox=d/../../x\n", "users.txt:1: field "
     "'mailbox'", "unsafe mailbox path inside"),
    ("users", "a@x.test\nb@x.test status=active\r\n", "users.txt:2:",
     "DOS line ending"),
    ("users", "a@x.test services=%zz\n", "users.txt:1: field 'services'",
     "bad %-escape"),
    ("users", "a@x.test services=ab%4\n", "users.txt:1: field 'services'",
     "truncated %-escape"),
    ("users", "a@x.test status=active status=hold\n",
     "users.txt:1: field 'status'", "field given twice"),
    ("passwords", "a@x.test secret\n", "passwords.txt:1: password",
     "password without scheme"),
]


@r.test
def bad_records_name_file_line_and_field():
    for table, text, want, why in BAD:
        src = put(table + ".txt", text)
        dest = os.path.join(WORK, "new-" + table + ".cdb")
        if os.path.exists(dest):
            os.unlink(dest)
        out = run(VDCTL, "cdb", "build", table, src, dest)
        err = out.stderr.decode()
        assert out.returncode == 1, (why, out.returncode, err)
        assert want in err, (why, want, err)
        assert not os.path.exists(dest), (why, "table created")
        assert leftovers() == [], (why, leftovers())
        out = run(VDCTL, "cdb", "check", table, src)
        assert out.returncode == 1, (why, "check", out.returncode)
        assert want in out.stderr.decode(), (why, out.stderr.decode())
    # The DOS line ending is named as such.
    out = run(VDCTL, "cdb", "check", "users",
              put("users.txt", "a@x.test\r\n"))
    assert "CR" in out.stderr.decode() or "DOS" in out.stderr.decode(), \
        out.stderr


@r.test
def every_bad_record_is_reported():
    src = put("users.txt", "a@x.test color=red\nok@x.test\n"
              "b@x.test quota=lots\nC@x.test\n")
    out = run(VDCTL, "cdb", "check", "users", src)
    err = out.stderr.decode()
    assert out.returncode == 1
    for want in ("users.txt:1:", "users.txt:3:", "users.txt:4:"):
        assert want in err, (want, err)
    assert "users.txt:2:" not in err, err


@r.test
def a_bad_source_never_replaces_a_table():
    dest = os.path.join(WORK, "keep.cdb")
    good = put("good.txt", "a@x.test status=active\n")
    assert run(VDCTL, "cdb", "build", "users", good, dest).returncode == 0
    with open(dest, "rb") as f:
        before = f.read()
    ino = os.stat(dest).st_ino
    for table, text, _, why in BAD:
        if table != "users":
            continue
        out = run(VDCTL, "cdb", "build", "users", put("bad.txt", text), dest)
        assert out.returncode == 1, why
        with open(dest, "rb") as f:
            assert f.read() == before, why
        assert os.stat(dest).st_ino == ino, why
        assert leftovers() == [], leftovers()
    # A good source does replace it, by rename (a new inode).
    good2 = put("good2.txt", "a@x.test status=active\nb@x.test\n")
    assert run(VDCTL, "cdb", "build", "users", good2, dest).returncode == 0
    assert os.stat(dest).st_ino != ino
    assert run(VDCTL, "cdb", "dump", dest).stdout == \
        b"a@x.test status=active\nb@x.test \n"


@r.test
def check_of_a_built_file():
    # `cdb check` reads .cdb files too; tinycdb accepts any record, we
    # do not.
    bad = put("badrec.txt", "a@x.test quota=lots\n")
    built = os.path.join(WORK, "badrec.cdb")
    assert run("cdb", "-c", "-m", built, bad).returncode == 0
    out = run(VDCTL, "cdb", "check", "users", built)
    assert out.returncode == 1 and b"quota" in out.stderr, out
    junk = put("junk.cdb", os.urandom(3000))
    out = run(VDCTL, "cdb", "check", "users", junk)
    assert out.returncode in (1, 3), out
    out = run(VDCTL, "cdb", "dump", junk)
    assert out.returncode == 3, out


# ---- (c) cross-table checks ----

BROKEN = {
    "domains": "a.test postmaster=pm@a.test\nb.test alias=nowhere.test\n"
               "c.test status=active\n",
    "addresses": "x@a.test user=ghost@a.test\npm@a.test user=u@a.test\n"
                 "y@q.test user=u@a.test\n",
    "users": "u@a.test\nv@r.test\n",
}


def broken_server(tables):
    """A server directory with tables and a config, never started."""
    return Server(tables, start=False)


@r.test
def check_is_ok_on_the_demo_tables():
    out = run(VDCTL, "-c", srv.conf, "check")
    assert out.returncode == 0, out
    assert out.stdout.decode().rstrip().endswith(": ok"), out.stdout
    out = run(VDMAILD, "-t", "-c", srv.conf)
    assert out.returncode == 0, out
    assert out.stdout.decode().rstrip().endswith(": ok"), out.stdout


@r.test
def check_finds_cross_table_problems():
    b = broken_server(BROKEN)
    try:
        out = run(VDCTL, "-c", b.conf, "check")
        text = out.stdout.decode()
        assert out.returncode == 1, text
        for want in ("domains: key 'b.test': alias of an unknown domain",
                     "addresses: key 'x@a.test': its user is not in",
                     "addresses: key 'y@q.test': its domain is not",
                     "users: key 'v@r.test': its domain is not"):
            assert want in text, (want, text)
        assert "problems found" in text, text
        out = run(VDMAILD, "-t", "-c", b.conf)
        assert out.returncode == 1, out
        assert b"problems found" in out.stdout, out.stdout
        assert b"alias of an unknown domain" in out.stderr, out.stderr
    finally:
        b.cleanup()


@r.test
def check_finds_each_problem_alone():
    # One problem at a time: each alone is enough for exit status 1.
    base = {"domains": "a.test\n", "addresses": "u@a.test user=u@a.test\n",
            "users": "u@a.test\n"}
    faults = [
        ("addresses", "u@a.test user=u@a.test\nz@a.test user=none@a.test\n",
         "its user is not in the users table"),
        ("domains", "a.test\nal.test alias=gone.test\n",
         "alias of an unknown domain"),
        ("domains", "a.test\nb.test alias=a.test\nc.test alias=b.test\n",
         "alias of an alias"),
        ("domains", "a.test postmaster=pm@elsewhere.test\n",
         "postmaster is in an unknown domain"),
    ]
    b = broken_server(base)
    try:
        assert run(VDCTL, "-c", b.conf, "check").returncode == 0
        for table, text, want in faults:
            b.write_tables(dict(base, **{table: text}))
            out = run(VDCTL, "-c", b.conf, "check")
            assert out.returncode == 1, (want, out.stdout)
            assert want in out.stdout.decode(), (want, out.stdout)
            assert run(VDMAILD, "-t", "-c", b.conf).returncode == 1, want
        b.write_tables(base)
        assert run(VDCTL, "-c", b.conf, "check").returncode == 0
    finally:
        b.cleanup()


@r.test
def check_finds_a_postmaster_that_routes_nowhere():
    # cdb/tbl_check.h: "every domain's postmaster routes somewhere".
    # postmaster@a.test goes to pm@a.test, which is not an address, so
    # RCPT TO:<postmaster@a.test> is refused (RFC 5321 4.5.1 says it must
    # be accepted). The check should say so.
    tables = {"domains": "a.test postmaster=pm@a.test\n",
              "addresses": "u@a.test user=u@a.test\n", "users": "u@a.test\n"}
    b = broken_server(tables)
    try:
        route = run(VDCTL, "-c", b.conf, "route", "postmaster@a.test")
        assert route.returncode == 1, route.stdout
        out = run(VDCTL, "-c", b.conf, "check")
        assert out.returncode == 1 and b"postmaster" in out.stdout, \
            (out.stdout.decode(), route.stdout.decode())
    finally:
        b.cleanup()


@r.test
def vdmaild_t_on_a_corrupt_table():
    b = broken_server(DEMO_TABLES)
    try:
        assert run(VDMAILD, "-t", "-c", b.conf).returncode == 0
        with open(os.path.join(b.table_dir, "users.cdb"), "wb") as f:
            f.write(os.urandom(4000))
        out = run(VDMAILD, "-t", "-c", b.conf)
        assert out.returncode == 1, out
        assert b"users.cdb" in out.stderr, out.stderr
        os.unlink(os.path.join(b.table_dir, "users.cdb"))
        out = run(VDMAILD, "-t", "-c", b.conf)
        assert out.returncode == 1 and b"users.cdb" in out.stderr, out
    finally:
        b.cleanup()


# ---- (d) vdctl route golden files ----

ROUTES = ["alice@example.com", "alice@example.net", "a.liddell@example.com",
          "nobody@example.com", "carol@suspended.example",
          "dave@deleted.example", "erin@example.com", "frank@example.com",
          "postmaster", "someone@remote.test"]


@r.test
def route_golden_outputs():
    update = os.environ.get("VDMAIL_UPDATE_GOLDEN") == "1"
    for addr in ROUTES:
        out = run(VDCTL, "-c", srv.conf, "route", addr)
        ref = os.path.join(DATA, "route-%s.ref" % addr)
        if update:
            with open(ref, "wb") as f:
                f.write(out.stdout)
        with open(ref, "rb") as f:
            want = f.read()
        assert srv.dir.encode() not in out.stdout, out.stdout
        assert b"/tmp/" not in out.stdout, out.stdout
        assert out.stdout == want, (addr, out.stdout.decode())
        assert out.stderr == b"", (addr, out.stderr)
        delivered = b"decision   accept and deliver" in want
        assert out.returncode == (0 if delivered else 1), \
            (addr, out.returncode)
    # The golden files themselves hold no temporary path either.
    for addr in ROUTES:
        with open(os.path.join(DATA, "route-%s.ref" % addr), "rb") as f:
            assert b"/tmp/" not in f.read(), addr


@r.test
def route_agrees_with_the_server():
    # What vdctl route says is what RCPT gets.
    s, f = srv.raw()
    s.sendall(b"EHLO x\r\nMAIL FROM:<r@remote.test>\r\n")
    read_reply(f)
    read_reply(f)
    for addr in ROUTES:
        out = run(VDCTL, "-c", srv.conf, "route", addr)
        reply = out.stdout.decode().splitlines()[-1].split()
        want = int(reply[1])
        s.sendall(b"RCPT TO:<%s>\r\n" % addr.encode())
        code, text = read_reply(f)
        assert code == want, (addr, code, text, reply)
        assert reply[2] in text, (addr, text, reply)
    s.sendall(b"QUIT\r\n")
    assert read_reply(f)[0] == 221
    s.close()


# ---- (e) live table swap ----

def rcpt(s, f, addr):
    s.sendall(b"RCPT TO:<%s>\r\n" % addr.encode())
    return read_reply(f)[0]


def build_into_server(tables):
    """Builds each table into the served directory (users first)."""
    order = sorted(tables, key=lambda t: t != "users")
    for name in order:
        src = put("live-" + name + ".txt", tables[name])
        out = run(VDCTL, "cdb", "build", name, src,
                  os.path.join(srv.table_dir, name + ".cdb"))
        assert out.returncode == 0, out.stderr


def poll_rcpt(s, f, addr, want, seconds):
    """RCPT until it answers want or seconds pass; returns the codes."""
    codes = []
    deadline = time.time() + seconds
    while True:
        codes.append(rcpt(s, f, addr))
        if codes[-1] == want or time.time() >= deadline:
            return codes
        time.sleep(0.05)


@r.test
def live_swap_keeps_the_session():
    s, f = srv.raw()
    s.sendall(b"EHLO x\r\nMAIL FROM:<swap@remote.test>\r\n")
    assert read_reply(f)[0] == 250
    assert read_reply(f)[0] == 250
    assert rcpt(s, f, "newbie@example.com") == 550
    added = dict(DEMO_TABLES)
    added["users"] += "newbie@example.com\n"
    added["addresses"] += "newbie@example.com user=newbie@example.com\n"
    build_into_server(added)
    codes = poll_rcpt(s, f, "newbie@example.com", 250, 1.0)
    assert codes[-1] == 250, codes
    assert set(codes) <= {550, 250}, codes
    # Garbage renamed over users.cdb: the last good table stays.
    rejected = srv.log().count("new file rejected")
    junk = os.path.join(srv.table_dir, ".users.junk")
    with open(junk, "wb") as fh:
        fh.write(os.urandom(5000))
    os.rename(junk, os.path.join(srv.table_dir, "users.cdb"))
    deadline = time.time() + 3
    while time.time() < deadline and \
            srv.log().count("new file rejected") == rejected:
        time.sleep(0.05)
    assert srv.log().count("new file rejected") == rejected + 1, \
        srv.log()[-1000:]
    assert rcpt(s, f, "newbie@example.com") == 250
    assert rcpt(s, f, "alice@example.com") == 250
    # A bad file is logged once, not at every check.
    time.sleep(0.8)
    assert srv.log().count("new file rejected") == rejected + 1
    # A well-formed cdb with a bad record is rejected too.
    bad = put("badrec.txt", DEMO_TABLES["users"] + "newbie@example.com "
              "quota=lots\n")
    tmp = os.path.join(srv.table_dir, ".users.badrec")
    assert run("cdb", "-c", "-m", tmp, bad).returncode == 0
    os.rename(tmp, os.path.join(srv.table_dir, "users.cdb"))
    deadline = time.time() + 3
    while time.time() < deadline and \
            srv.log().count("new file rejected") == rejected + 1:
        time.sleep(0.05)
    assert srv.log().count("new file rejected") == rejected + 2
    assert rcpt(s, f, "newbie@example.com") == 250
    # A good table again is picked up: newbie is gone.
    build_into_server({"users": DEMO_TABLES["users"]})
    codes = poll_rcpt(s, f, "newbie@example.com", 451, 1.0)
    assert codes[-1] == 451, codes  # address left dangling: retry later
    build_into_server(DEMO_TABLES)
    codes = poll_rcpt(s, f, "newbie@example.com", 550, 1.0)
    assert codes[-1] == 550, codes
    # The same session all along.
    s.sendall(b"QUIT\r\n")
    assert read_reply(f)[0] == 221
    s.close()


@r.test
def live_swap_survives_a_deleted_table():
    # The file vanishes for a moment (an admin's mv): lookups go on.
    path = os.path.join(srv.table_dir, "addresses.cdb")
    aside = os.path.join(WORK, "addresses.aside")
    shutil.move(path, aside)
    time.sleep(0.5)
    with srv.smtp() as c:
        c.ehlo("x")
        c.mail("a@remote.test")
        assert c.rcpt("alice@example.com")[0] == 250
    shutil.move(aside, path)


r.finish(srv)
