"""Local submission end to end (tools/sendmail.c, spool/pickup.c):
vdmail-sendmail run from a pipe and from a shell writes one file into
SPOOL/maildrop/, and vdmaild's pickup turns it into a queue file and a
delivery. Checks the sendmail options (-t, -f, -F, -i/-oi, the ignored
ones, the refused modes), the headers it adds, the exit codes, the
recipient decisions (unknown, deferred, remote), hostile maildrop files
dropped by hand (all go to corrupt/ with a log line and the server goes
on), a file dropped while vdmaild is stopped, and a non-root dropper
(uid 65534 through setpriv, when the test runs as root)."""

import email
import email.policy
import os
import pwd
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BUILD, DEMO_TABLES, HOSTNAME, VDCTL, VDMAILD,  # noqa: E402
                     Runner, Server, free_port)

SM = os.path.join(BUILD, "vdmail-sendmail")
ALICE, BOB, CAT = "example.com/alice", "example.com/bob", \
    "catchall.example/cat"
ERIN, POSTMASTER = "example.com/erin", "example.com/postmaster"
ROOT = os.geteuid() == 0
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
          "--"]

r = Runner("sendmail")

# Outbound delivery, when this vdmaild has it, gets a name server that
# never answers: a remote recipient then stays deferred in the queue.
with open(VDMAILD, "rb") as _f:
    _HAS_DNS = b"dns_servers" in _f.read()
CONF = ("dns_servers = 127.0.0.1:%d\n" % free_port()) if _HAS_DNS else ""
srv = Server(DEMO_TABLES, config=CONF)
if ROOT:
    os.chmod(srv.dir, 0o711)  # mkdtemp's 0700 would keep uid 65534 out
LOGIN = pwd.getpwuid(os.getuid()).pw_name
MAILDROP = os.path.join(srv.spool, "maildrop")
CORRUPT = os.path.join(srv.spool, "corrupt")
_n = [0]
# The port answers once bound, a little before pickup made its directory.
_deadline = time.time() + 10
while not os.path.isdir(MAILDROP) and time.time() < _deadline:
    time.sleep(0.05)


def marker(tag):
    _n[0] += 1
    return "sm-%s-%d-%d" % (tag, os.getpid(), _n[0])


def sendmail(args, data, conf=None, as_nobody=False, timeout=30):
    """Runs vdmail-sendmail with data on stdin; returns the process."""
    cmd = (NOBODY if as_nobody else []) + [SM, "-C", conf or srv.conf] + \
        list(args)
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)
    assert b"Sanitizer" not in p.stderr, p.stderr.decode()[-3000:]
    return p


def ok(p):
    assert p.returncode == 0, (p.returncode, p.stderr.decode())
    return p


def fails(p, code, text):
    err = p.stderr.decode()
    assert p.returncode == code, (p.returncode, err)
    assert err.startswith("vdmail-sendmail: "), err
    assert text in err, err
    return err


def find_in(box, mk, count=1, timeout=10):
    """Files of box holding mk, once there are count of them (bounded)."""
    deadline = time.time() + timeout
    while True:
        hits = [f for f in srv.messages(box)
                if mk.encode() in open(f, "rb").read()]
        if len(hits) >= count or time.time() > deadline:
            return hits
        time.sleep(0.05)


def read(path):
    return open(path, "rb").read()


def wait_log(text, timeout=10):
    assert srv.wait_log(text, timeout), "not in the log: %r\n%s" % (
        text, srv.log()[-3000:])


def maildrop_names():
    return sorted(n for n in os.listdir(MAILDROP))


def header_of(data):
    return data.split(b"\r\n\r\n", 1)[0]


def count_field(data, name):
    return len(re.findall(rb"(?im)^" + name.encode() + rb":",
                          header_of(data)))


def message(mk, extra=b"", body=b"hello\n"):
    return b"Subject: " + mk.encode() + b"\n" + extra + b"\n" + body


# ---- sendmail from a pipe and from a shell ----

@r.test
def local_user_as_argument_headers_added():
    mk = marker("arg")
    body = b"line one\n.\nafter a lone dot\n..two dots\nend\n"
    ok(sendmail(["-i", "alice@example.com"], message(mk, body=body)))
    hits = find_in(ALICE, mk)
    assert len(hits) == 1, hits
    data = read(hits[0])
    lines = data.split(b"\r\n")
    assert lines[0] == b"Return-Path: <%s@%s>" % (
        LOGIN.encode(), HOSTNAME.encode()), lines[0]
    assert lines[1].startswith(b"Received: by %s (vdmail-sendmail, from "
                               b"uid %d)" % (HOSTNAME.encode(),
                                             os.getuid())), lines[1]
    assert re.match(rb"\tid [0-9A-F]{16}; \w{3}, \d\d \w{3} \d{4} ",
                    lines[2]), lines[2]
    for name in ("From", "Date", "Message-ID", "Subject"):
        assert count_field(data, name) == 1, (name, header_of(data))
    assert re.search(rb"(?m)^Message-ID: <[^@>]+@%s>\r$" %
                     re.escape(HOSTNAME.encode()), data), data[:600]
    # LF line ends became CRLF; the lone "." stayed (-i)
    assert data.endswith(b"\r\n\r\n" + body.replace(b"\n", b"\r\n")), data
    assert b"\n" not in data.replace(b"\r\n", b"")


@r.test
def lone_dot_ends_message_without_i():
    mk = marker("dot")
    ok(sendmail(["bob@example.com"],
                message(mk, body=b"before\n.\nafter the dot\n")))
    data = read(find_in(BOB, mk)[0])
    assert data.endswith(b"\r\n\r\nbefore\r\n"), data[-100:]
    mk = marker("oi")
    ok(sendmail(["-oi", "bob@example.com"],
                message(mk, body=b"before\n.\nafter the dot\n")))
    data = read(find_in(BOB, mk)[0])
    assert data.endswith(b"\r\n.\r\nafter the dot\r\n"), data[-100:]


@r.test
def shell_pipeline_with_crlf_and_a_list_argument():
    mk = marker("shell")
    script = ("printf 'Subject: %s\\r\\nFrom: Me <me@example.com>\\r\\n"
              "Date: Mon, 1 Jan 2024 00:00:00 +0000\\r\\n"
              "Message-ID: <given@x>\\r\\n\\r\\nvia sh\\r\\n' | "
              "'%s' -C '%s' 'alice@example.com, Bob <bob@example.com>'"
              % (mk, SM, srv.conf))
    p = subprocess.run(["sh", "-c", script], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    for box in (ALICE, BOB):
        data = read(find_in(box, mk)[0])
        assert data.endswith(b"\r\n\r\nvia sh\r\n"), data
        assert b"From: Me <me@example.com>\r\n" in data
        assert b"Message-ID: <given@x>\r\n" in data
        for name in ("From", "Date", "Message-ID"):
            assert count_field(data, name) == 1, (name, data[:500])


@r.test
def t_reads_to_cc_bcc_and_removes_bcc():
    mk = marker("t")
    hdr = (b"To: Alice Liddell <alice@example.com>,\n"
           b"\t\"Bob, B.\" <bob@example.com> (the builder)\n"
           b"Cc: team: postmaster@example.com;, undisclosed-recipients:;\n"
           b"Bcc: cat@catchall.example\n")
    ok(sendmail(["-t", "-i"], message(mk, hdr)))
    for box in (ALICE, BOB, POSTMASTER, CAT):
        hits = find_in(box, mk)
        assert len(hits) == 1, (box, hits)
        data = read(hits[0])
        assert count_field(data, "Bcc") == 0, data[:600]
        assert b"cat@catchall.example" not in data, data[:600]
        assert b"(the builder)" in data


@r.test
def t_with_arguments_takes_both():
    mk = marker("tboth")
    ok(sendmail(["-t", "bob@example.com"],
                message(mk, b"To: alice@example.com\n")))
    assert len(find_in(ALICE, mk)) == 1
    assert len(find_in(BOB, mk)) == 1


@r.test
def f_sets_return_path_and_F_the_name():
    mk = marker("f")
    ok(sendmail(["-f", "sender@remote.test", "-F", "Cron Daemon",
                 "alice@example.com"], message(mk)))
    data = read(find_in(ALICE, mk)[0])
    assert data.startswith(b"Return-Path: <sender@remote.test>\r\n"), data
    assert b"\r\nFrom: Cron Daemon <sender@remote.test>\r\n" in data, data
    mk = marker("fnull")
    ok(sendmail(["-f<>", "-FJ\u00fcrgen M\u00fcller".encode(),
                 "alice@example.com"], message(mk)))
    data = read(find_in(ALICE, mk)[0])
    assert data.startswith(b"Return-Path: <>\r\n"), data[:80]
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert str(msg["From"].addresses[0].display_name) == \
        "J\u00fcrgen M\u00fcller", msg["From"]
    assert b"=?UTF-8?B?" in data
    mk = marker("r")
    ok(sendmail(["-r", "php@example.com", "-t", "-i"],
                message(mk, b"To: bob@example.com\n")))
    data = read(find_in(BOB, mk)[0])
    assert data.startswith(b"Return-Path: <php@example.com>\r\n"), data[:80]


@r.test
def ignored_options_are_accepted():
    mk = marker("ign")
    ok(sendmail(["-odi", "-odb", "-oem", "-oee", "-oQ/tmp/x", "-v",
                 "-B8BITMIME", "-N", "never", "-R", "hdrs", "-X", "/dev/null",
                 "-L", "tag", "-Am", "-U", "-h", "5", "-V", "envid", "-m",
                 "-n", "-G", "-bm", "bob@example.com"], message(mk)))
    assert len(find_in(BOB, mk)) == 1


@r.test
def eight_bit_text_is_kept():
    mk = marker("8bit")
    body = "Gr\u00fc\u00dfe aus K\u00f6ln\n".encode()
    ok(sendmail(["bob@example.com"], message(mk, body=body)))
    data = read(find_in(BOB, mk)[0])
    assert data.endswith(body.replace(b"\n", b"\r\n")), data[-80:]


@r.test
def burst_of_messages_all_arrive():
    mk = marker("burst")
    results = []

    def one(i):
        results.append(sendmail(["bob@example.com"],
                                message("%s-%d" % (mk, i))).returncode)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [0] * 40, results
    assert len(find_in(BOB, mk + "-", count=40, timeout=20)) == 40


# ---- exit codes ----

def small_conf(extra):
    path = os.path.join(srv.dir, "small-%d.conf" % len(os.listdir(srv.dir)))
    with open(path, "w") as f:
        f.write("hostname = %s\nspool_dir = %s\n%s" % (HOSTNAME, srv.spool,
                                                      extra))
    return path


@r.test
def usage_errors_are_64():
    fails(sendmail([], b"Subject: x\n\nx\n"), 64, "no recipients")
    fails(sendmail(["-t"], b"Subject: x\n\nx\n"), 64, "no recipients")
    fails(sendmail(["-t"], b"To: undisclosed-recipients:;\n\nx\n"), 64,
          "no recipients")
    fails(sendmail(["-bs"], b""), 64, "-bs")
    fails(sendmail(["-bp"], b""), 64, "vdctl queue list")
    fails(sendmail(["-bv", "alice@example.com"], b""), 64, "-bv")
    fails(sendmail(["-q"], b""), 64, "-q")
    fails(sendmail(["-q1h"], b""), 64, "-q")
    fails(sendmail(["-Z"], b""), 64, "unknown option")
    fails(sendmail(["not an address"], b"x\n"), 64, "bad recipient")
    fails(sendmail(["-f", "a b@c", "alice@example.com"], b"x\n"), 64,
          "bad sender")
    fails(sendmail(["-F", "a\nb", "alice@example.com"], b"x\n"), 64,
          "control character")
    many = ",".join("u%d@example.com" % i for i in range(101))
    fails(sendmail([many], b"x\n"), 64, "max_recipients")
    assert sendmail(["-bi"], b"").returncode == 0  # newaliases: nothing


@r.test
def data_errors_are_65():
    conf = small_conf("message_size_limit = 2K\n")
    fails(sendmail(["alice@example.com"], b"Subject: big\n\n" +
                   b"0123456789\n" * 300, conf=conf), 65,
          "message_size_limit")
    fails(sendmail(["alice@example.com"], b"Subject: x\n\n" + b"a" * 999 +
                   b"\n"), 65, "longer than 998")
    fails(sendmail(["alice@example.com"], b"Subject: x\n\na\0b\n"), 65,
          "NUL")
    fails(sendmail(["alice@example.com"], b"Subject: x\n\na\rb\n"), 65,
          "CR")
    fails(sendmail(["-t"], b"To: <unclosed@example.com\n\nx\n"), 65,
          "bad address in the To: field")
    # a message just at the limit passes (the header sendmail adds counts)
    mk = marker("limit")
    ok(sendmail(["alice@example.com"], message(mk, body=b"x" * 900 + b"\n"),
                conf=conf))
    assert len(find_in(ALICE, mk)) == 1
    # nothing half-written stays behind
    assert [n for n in maildrop_names() if n.startswith("tmp.")] == []


@r.test
def maildrop_missing_is_73():
    conf = os.path.join(srv.dir, "nospool.conf")
    with open(conf, "w") as f:
        f.write("hostname = x.test\nspool_dir = %s/nonexistent\n" % srv.dir)
    fails(sendmail(["alice@example.com"], b"x\n", conf=conf), 73,
          "maildrop")
    with open(conf, "w") as f:
        f.write("no_such_key = 1\n")
    fails(sendmail(["alice@example.com"], b"x\n", conf=conf), 78,
          "no_such_key")


# ---- recipient decisions ----

@r.test
def unknown_local_user_is_logged_and_bounced():
    mk = marker("unknown")
    ok(sendmail(["-f", "bob@example.com", "alice@example.com",
                 "nobody@example.com"], message(mk)))
    assert len(find_in(ALICE, mk)) == 1
    wait_log("to=<nobody@example.com> rejected code=550 enh=5.1.1 "
             "reason=unknown_user")
    # no SMTP reply could tell the sender: a bounce does
    dsn = find_in(BOB, mk)
    assert len(dsn) == 1, dsn
    text = read(dsn[0])
    assert b"multipart/report" in text and b"Status: 5.1.1" in text, text
    assert b"nobody@example.com" in text
    mk = marker("unknown-only")
    ok(sendmail(["-f", "bob@example.com", "nobody@example.com"],
                message(mk)))
    dsn = find_in(BOB, mk)
    assert len(dsn) == 1 and b"Status: 5.1.1" in read(dsn[0]), dsn
    wait_log("to=<nobody@example.com> relay=none delay=")


@r.test
def remote_recipient_stays_queued():
    mk = marker("remote")
    p = ok(sendmail(["-v", "someone@elsewhere.test"], message(mk)))
    name = p.stderr.decode().split("/maildrop/")[1].split()[0]
    wait_log("maildrop=%s" % name)
    qid = re.search(r"info: ([0-9A-F]{16}): uid=\d+ .*maildrop=%s" %
                    re.escape(name), srv.log()).group(1)
    path = os.path.join(srv.spool, "queue", qid)
    data = read(path)
    env = data.split(b"\x01\x01\n")[0]
    assert b"\nRsomeone@elsewhere.test\tX\n" in env or \
        b"\nWsomeone@elsewhere.test\tX\n" in env, env
    assert b"\nClocal\n" in env and b"\nPLOCAL\n" in env, env
    out = subprocess.run([VDCTL, "-c", srv.conf, "queue", "list"],
                         capture_output=True, text=True, timeout=30)
    assert re.search(r"<someone@elsewhere\.test> \(outbound delivery\)",
                     out.stdout), out.stdout
    out = subprocess.run([VDCTL, "-c", srv.conf, "queue", "show", qid],
                         capture_output=True, text=True, timeout=30)
    assert "protocol  LOCAL" in out.stdout, out.stdout
    assert "Received: by %s (vdmail-sendmail" % HOSTNAME in out.stdout


@r.test
def deferred_recipient_waits_then_gives_up():
    # hal's domain is on hold: 450, the file stays in the maildrop
    mk = marker("held")
    p = ok(sendmail(["-v", "hal@held.example"], message(mk)))
    name = p.stderr.decode().split("/maildrop/")[1].split()[0]
    wait_log("pickup: maildrop/%s: deferred (no recipient can be delivered "
             "now), retry in 1s" % name)
    assert name in maildrop_names()
    wait_log("pickup: maildrop/%s: deferred (no recipient can be delivered "
             "now), retry in 2s" % name)
    # five days old: the next try gives up, and the sender hears of it
    old = time.time() - 6 * 86400
    os.utime(os.path.join(MAILDROP, name), (old, old))
    wait_log("pickup: maildrop/%s" % name)
    wait_log("to=<hal@held.example> relay=none")
    deadline = time.time() + 10
    while time.time() < deadline and name in maildrop_names():
        time.sleep(0.05)
    assert name not in maildrop_names()
    wait_log("status=bounced (550 5.4.7 <hal@held.example>: not "
             "deliverable for 5 days")


def set_erin(status):
    users = DEMO_TABLES["users"].replace(
        "erin@example.com status=inactive", "erin@example.com status=" +
        status)
    srv.write_tables({"users": users})


@r.test
def mixed_deferred_recipient_gets_a_retry_file():
    # alice now; erin (inactive: 450) from a retry file, with the
    # dropper's uid still in its Received once erin is active again
    mk = marker("mixed")
    p = ok(sendmail(["-v", "alice@example.com", "erin@example.com"],
                    message(mk), as_nobody=ROOT))
    uid = 65534 if ROOT else os.getuid()
    name = p.stderr.decode().split("/maildrop/")[1].split()[0]
    assert len(find_in(ALICE, mk)) == 1
    wait_log("maildrop=%s" % name)
    deadline = time.time() + 10
    retry = []
    while time.time() < deadline and not retry:
        retry = [n for n in maildrop_names() if not n.startswith("tmp.") and
                 b"\nRerin@example.com\n" in read(os.path.join(MAILDROP, n))]
        time.sleep(0.05)
    assert retry and name not in maildrop_names(), maildrop_names()
    env = read(os.path.join(MAILDROP, retry[0])).split(b"\n\n")[0]
    assert b"\nRalice@example.com\n" not in env and \
        b"\nU%d\n" % uid in env, env
    set_erin("active")
    try:
        hits = find_in(ERIN, mk, timeout=15)
        assert len(hits) == 1, srv.log()[-2000:]
        assert b"(vdmail-sendmail, from uid %d)" % uid in read(hits[0])
        assert len(find_in(ALICE, mk, timeout=0)) == 1  # no second copy
    finally:
        set_erin("inactive")


# ---- hostile maildrop files ----

ENV_OK = b"VDMAILDROP1\nSx@example.com\nRalice@example.com\n"


def drop(name, data):
    """Puts a file into the maildrop the way sendmail does (tmp, rename)."""
    tmp = os.path.join(MAILDROP, "tmp." + name)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(MAILDROP, name))


def envelope(text, extra=b"", z=None):
    return (ENV_OK + extra + b"Z%d\n\n" % (len(text) if z is None else z) +
            text)


@r.test
def hostile_files_go_to_corrupt():
    text = b"Subject: x\r\n\r\nhello\r\n"
    cases = {
        "g-magic": (b"HELLO\n" + envelope(text)[12:], "bad magic"),
        "g-empty": (b"", "truncated envelope"),
        "g-noenvend": (ENV_OK, "truncated envelope"),
        "g-truncated": (envelope(text, z=len(text) + 50),
                        "file size does not match Z"),
        "g-longer": (envelope(text, z=len(text) - 3),
                     "file size does not match Z"),
        "g-nul": (envelope(b"Subject: x\r\n\r\na\0b\r\n"), "NUL in the text"),
        "g-bigline": (envelope(b"Subject: x\r\n\r\n" + b"a" * 100000 +
                               b"\r\n"), "text line longer than 1000"),
        "g-envline": (ENV_OK + b"N" + b"n" * 100000 + b"\nZ0\n\n",
                      "envelope line too long"),
        "g-bare-lf": (envelope(b"Subject: x\r\n\r\na\nb\r\n"),
                      "bare CR or LF"),
        "g-no-crlf": (envelope(b"Subject: x\r\n\r\nend"),
                      "does not end with CRLF"),
        "g-rcpts": (b"VDMAILDROP1\nSx@example.com\n" +
                    b"".join(b"Ru%d@example.com\n" % i
                             for i in range(10000)) + b"Z0\n\n",
                    "more recipients than max_recipients"),
        "g-badrcpt": (envelope(text, b"Rnot-an-address\n"),
                      "bad recipient address"),
        "g-bracket": (envelope(text, b"Ra@example.com> SIZE=1\n"),
                      "bad recipient address"),
        "g-nosender": (b"VDMAILDROP1\nRalice@example.com\nZ0\n\n",
                       "is missing"),
        "g-twice": (envelope(text, b"Sy@example.com\n"), "repeated"),
        "g-unknown": (envelope(text, b"Xwhat\n"), "unknown envelope line"),
        "g-cr": (ENV_OK.replace(b"Sx@example.com\n", b"Sx@example.com\r\n")
                 + b"Z0\n\n", "CR in the envelope"),
        "g-huge-z": (ENV_OK + b"Z99999999999\n\n",
                     "larger than message_size_limit"),
        "g-badnum": (ENV_OK + b"Z12x\n\n", "bad number"),
    }
    before = set(os.listdir(CORRUPT))
    for name, (data, _) in cases.items():
        drop(name, data)
    # not files: a symlink, a FIFO, a directory, a second hard link
    os.symlink("/etc/passwd", os.path.join(MAILDROP, "g-symlink"))
    os.mkfifo(os.path.join(MAILDROP, "g-fifo"))
    os.mkdir(os.path.join(MAILDROP, "g-dir"))
    outside = os.path.join(srv.dir, "linked")
    with open(outside, "wb") as f:
        f.write(envelope(text))
    os.link(outside, os.path.join(MAILDROP, "g-hardlink"))
    cases["g-symlink"] = (None, "not a regular file")
    cases["g-fifo"] = (None, "not a regular file")
    cases["g-dir"] = (None, "not a regular file")
    cases["g-hardlink"] = (None, "other hard links")
    for name in cases:
        wait_log("pickup: maildrop/%s: " % name)
    deadline = time.time() + 10
    while time.time() < deadline and \
            any(n.startswith("g-") for n in maildrop_names()):
        time.sleep(0.05)
    assert not [n for n in maildrop_names() if n.startswith("g-")], \
        maildrop_names()
    assert len(set(os.listdir(CORRUPT)) - before) == len(cases)
    assert os.path.exists("/etc/passwd") and os.path.exists(outside)
    for name, (_, why) in cases.items():
        lines = [ln for ln in srv.log().splitlines()
                 if "pickup: maildrop/%s:" % name in ln]
        assert len(lines) == 1 and why in lines[0], (name, why, lines)
        assert "moved to corrupt/maildrop." in lines[0], lines
    # the server goes on: sendmail and SMTP both still deliver
    mk = marker("after")
    ok(sendmail(["alice@example.com"], message(mk)))
    with srv.smtp() as s:
        s.sendmail("x@remote.test", ["alice@example.com"],
                   "Subject: %s-smtp\r\n\r\nhi\r\n" % mk)
    assert len(find_in(ALICE, mk, count=2)) == 2
    assert srv.proc.poll() is None


@r.test
def hand_dropped_valid_file_is_taken():
    mk = marker("hand")
    text = ("Subject: %s\r\n\r\nby hand\r\n" % mk).encode()
    drop("hand-1", envelope(text, b"U12345\nNsomeone\n"))
    data = read(find_in(ALICE, mk)[0])
    # a file of vdmaild's own user: its U line is believed (retry files)
    assert b"(vdmail-sendmail, from uid 12345)" in data, data[:300]
    assert data.endswith(text)


@r.test
def stale_tmp_file_is_removed():
    path = os.path.join(MAILDROP, "tmp.stale-test")
    with open(path, "wb") as f:
        f.write(b"VDMAILDROP1\n")
    old = time.time() - 2 * 86400
    os.utime(path, (old, old))
    drop("poke", b"junk")  # any change makes pickup look
    wait_log("pickup: removed maildrop/tmp.stale-test")
    assert not os.path.exists(path)


# ---- restart, permissions, non-root ----

@r.test
def file_dropped_while_stopped_is_delivered_after_start():
    srv.stop()
    mk = marker("stopped")
    ok(sendmail(["alice@example.com"], message(mk)))
    assert len(maildrop_names()) >= 1
    assert find_in(ALICE, mk, timeout=0) == []
    srv.start()
    assert len(find_in(ALICE, mk)) == 1


@r.test
def maildrop_directory_mode():
    st = os.stat(MAILDROP)
    assert st.st_mode & 0o7777 == 0o3733, oct(st.st_mode)
    assert os.stat(srv.spool).st_mode & 0o011 == 0o011


@r.test
def non_root_user_can_submit():
    if not ROOT:
        print("non_root_user_can_submit: SKIPPED (needs root for setpriv "
              "to uid 65534)")
        return
    mk = marker("nobody")
    p = sendmail(["-v", "bob@example.com"], message(mk), as_nobody=True)
    ok(p)
    data = read(find_in(BOB, mk)[0])
    assert b"(vdmail-sendmail, from uid 65534)" in data, data[:300]
    assert re.search(rb"Return-Path: <nobody@" + re.escape(
        HOSTNAME.encode()) + rb">", data), data[:200]
    # nobody may drop, but may not list the maildrop
    ls = subprocess.run(NOBODY + ["ls", MAILDROP], capture_output=True,
                        timeout=30)
    assert ls.returncode != 0, ls.stdout
    # a forged U line in a file of nobody's is not believed
    mk = marker("forged")
    text = ("Subject: %s\r\n\r\nforged\r\n" % mk).encode()
    forged = envelope(text, b"U0\n")
    script = ("umask 077; cat > '%s/tmp.forged' && chmod 640 "
              "'%s/tmp.forged' && mv '%s/tmp.forged' '%s/forged'"
              % ((MAILDROP,) * 4))
    w = subprocess.run(NOBODY + ["sh", "-c", script], input=forged,
                       capture_output=True, timeout=30)
    assert w.returncode == 0, w.stderr
    data = read(find_in(ALICE, mk)[0])
    assert b"(vdmail-sendmail, from uid 65534)" in data, data[:300]


r.finish(srv)
