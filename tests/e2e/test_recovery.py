"""Crash safety (issue 2 section 6, research/testing.md section 6): a message
that got its 250 reaches every recipient exactly once whatever the moment
of a kill -9; the 250 never goes out before the message is on disk; I/O
errors give 4xx, never a 250 and never a lost message."""
import collections
import os
import random
import re
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_TABLES, Runner, Server, read_reply  # noqa: E402

r = Runner("recovery")
BOXES = {"alice@example.com": "example.com/alice",
         "bob@example.com": "example.com/bob",
         "postmaster@example.com": "example.com/postmaster"}
TRACED = ("openat,write,pwrite64,ftruncate,fsync,fdatasync,syncfs,renameat,"
          "renameat2,linkat,unlinkat,sendto,copy_file_range")


def message(mid, size):
    head = ("From: tester@remote.test\r\nTo: someone@example.com\r\n"
            "Message-ID: %s\r\nSubject: crash test\r\n\r\n" % mid)
    line = "0123456789abcdefghijklmnopqrstuvwxyz" * 2 + "\r\n"
    return head + line * max(1, size // len(line))


def ids_in(srv, mailbox):
    """Counter of Message-IDs over every message file of a mailbox."""
    found = collections.Counter()
    for path in srv.messages(mailbox):
        with open(path, "rb") as f:
            head = f.read(2048)
        m = re.search(rb"\r\nMessage-ID: (<[^>]+>)", head)
        if m:
            found[m.group(1).decode()] += 1
    return found


def maildir_tmp_files(srv):
    out = []
    for mailbox in BOXES.values():
        d = os.path.join(srv.store, mailbox, "tmp")
        if os.path.isdir(d):
            # The one quota scratch name is reused, never litter.
            out += [n for n in os.listdir(d) if n != "maildirsize.new"]
    return out


def check_exactly_once(srv, acked, attempted):
    """Acked messages: once per recipient; the others at most once."""
    counts = {box: ids_in(srv, box) for box in BOXES.values()}
    problems = []
    for mid, rcpts in attempted.items():
        for rcpt in rcpts:
            n = counts[BOXES[rcpt]][mid]
            if mid in acked and n != 1:
                problems.append("%s to %s: %d copies (acked)" % (mid, rcpt, n))
            if mid not in acked and n > 1:
                problems.append("%s to %s: %d copies" % (mid, rcpt, n))
    return problems


@r.test
def kill9_soak_loses_and_doubles_nothing():
    srv = Server(DEMO_TABLES)
    acked, attempted = {}, {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        rng = random.Random(n)
        i = 0
        deadline = time.time() + 60
        while not stop.is_set() and i < 150 and time.time() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", srv.port, timeout=5) as s:
                    while not stop.is_set() and i < 150:
                        mid = "<soak-%d-%d@test>" % (n, i)
                        i += 1
                        rcpts = rng.choice([["alice@example.com"],
                                            list(BOXES)])
                        with lock:
                            attempted[mid] = rcpts
                        s.sendmail("soak@remote.test", rcpts,
                                   message(mid, rng.randint(1000, 120000)))
                        with lock:
                            acked[mid] = rcpts
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    rng = random.Random(42)
    kills = 0
    for _ in range(12):
        time.sleep(rng.uniform(0.05, 0.5))
        srv.kill9()
        kills += 1
        srv.start()
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join(30)
    if not srv.wait_queue_empty(60):
        print(srv.log()[-6000:])
        assert False, ("stuck in queue", srv.queue(), srv.dir)
    problems = check_exactly_once(srv, acked, attempted)
    print("  sent %d, acked %d, kills %d" % (len(attempted), len(acked), kills))
    assert not problems, problems[:10]
    assert len(acked) > 50, len(acked)
    assert maildir_tmp_files(srv) == []
    assert os.listdir(os.path.join(srv.spool, "corrupt")) == []
    srv.stop()
    assert srv.sanitizer_report() is None, srv.sanitizer_report()
    srv.cleanup()


class Trace:
    """An strace -f output file, as ordered completed system calls."""

    LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")

    def __init__(self, path):
        self.calls = []  # (pid, name, text of the whole call)
        pending = {}
        with open(path, errors="replace") as f:
            for raw in f:
                m = self.LINE.match(raw.rstrip("\n"))
                if not m:
                    continue
                pid, resumed, name, rest = m.groups()
                if resumed:
                    start = pending.pop((pid, resumed), "")
                    self.calls.append((pid, resumed, start + rest))
                elif rest.endswith("<unfinished ...>"):
                    pending[(pid, name)] = rest[:-len("<unfinished ...>")]
                else:
                    self.calls.append((pid, name, rest))

    def index(self, name, pattern=".*", after=-1):
        """The first call named name matching pattern after index after."""
        rx = re.compile(pattern)
        for i in range(after + 1, len(self.calls)):
            if self.calls[i][1] == name and rx.search(self.calls[i][2]):
                return i
        return None

    def rindex(self, name, pattern=".*", before=None):
        rx = re.compile(pattern)
        end = len(self.calls) if before is None else before
        for i in range(end - 1, -1, -1):
            if self.calls[i][1] == name and rx.search(self.calls[i][2]):
                return i
        return None


def traced_delivery(sync_method):
    """One message under strace; returns (trace, queue id)."""
    srv = Server(DEMO_TABLES, config="sync_method = %s" % sync_method,
                 start=False)
    path = os.path.join(srv.dir, "strace.out")
    srv.start(wrapper=["strace", "-f", "-qq", "-s", "80", "-o", path,
                       "-e", "trace=" + TRACED])
    with srv.smtp() as s:
        s.ehlo("tracer")
        s.mail("tracer@remote.test")
        s.rcpt("alice@example.com")
        code, text = s.data(message("<trace@test>", 3000))
    assert code == 250, (code, text)
    qid = text.decode().split()[-1]
    assert len(srv.wait_messages("example.com/alice", 1)) == 1
    assert srv.wait_queue_empty()
    assert srv.stop() == 0
    trace = Trace(path)
    srv.cleanup()
    return trace, qid


def check_commit_order(t, qid, sync_method):
    rename = t.index("renameat2", r'"%s", RENAME_NOREPLACE' % qid)
    assert rename is not None, "no renameat2 into queue/"
    spool_fd = re.search(r'^(\d+), "', t.calls[rename][2])
    assert spool_fd, t.calls[rename]
    zwrite = t.rindex("pwrite64", r"\"0{6,}\d+ [0-9a-f]{8}\"", rename)
    assert zwrite is not None, "no size written before the rename"
    reply = t.index("sendto", r'"250 2\.0\.0 Ok: queued as %s' % qid)
    assert reply is not None and reply > rename
    if sync_method == "syncfs":
        # Renamed first; one syncfs makes data and name durable together.
        flush = t.index("syncfs", r"= 0", rename)
        assert flush is not None and zwrite < rename < flush < reply, (
            zwrite, rename, flush, reply)
        return
    flush = t.index("fdatasync", r"= 0", zwrite)
    names = t.index("fsync", r"= 0", rename)
    assert flush is not None and zwrite < flush < rename, (zwrite, flush,
                                                            rename)
    assert names is not None and rename < names < reply, (rename, names,
                                                          reply)


def check_delivery_order(t, qid, sync_method):
    tmp = t.index("openat", r"O_TMPFILE")
    assert tmp is not None, "no O_TMPFILE open for the message"
    fd = t.calls[tmp][2].rsplit("=", 1)[1].strip()
    copy = t.index("copy_file_range", r", %s, NULL" % fd, tmp)
    link = t.index("linkat", r'"/proc/self/fd/%s", \d+, "new/' % fd, tmp)
    assert copy is not None and link is not None and copy < link
    recycle = t.index("renameat", r'"%s", \d+, "%s"' % (qid, qid), link)
    assert recycle is not None, "queue file not removed after delivery"
    if sync_method == "syncfs":
        data = t.index("syncfs", r"= 0", copy)
        names = t.index("syncfs", r"= 0", link)
    else:
        data = t.index("fdatasync", r"^%s\)" % fd, copy)
        names = t.index("fsync", r"= 0", link)
    assert data is not None and copy < data < link, (copy, data, link)
    assert names is not None and link < names < recycle, (link, names,
                                                          recycle)


@r.test
def syscall_order_syncfs():
    t, qid = traced_delivery("syncfs")
    check_commit_order(t, qid, "syncfs")
    check_delivery_order(t, qid, "syncfs")


@r.test
def syscall_order_fsync():
    t, qid = traced_delivery("fsync")
    check_commit_order(t, qid, "fsync")
    check_delivery_order(t, qid, "fsync")


def send_two(srv, mid):
    """One message to alice and bob; True if it got its 250."""
    try:
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
            s.sendmail("crash@remote.test",
                       ["alice@example.com", "bob@example.com"],
                       message(mid, 5000))
        return True
    except (OSError, smtplib.SMTPException):
        return False


def crash_point(syscall, k, extra=()):
    """Kills vdmaild at the k-th call of syscall; restarts; checks."""
    srv = Server(DEMO_TABLES, start=False)
    srv.start(wrapper=["strace", "-f", "-qq", "-o", "/dev/null",
                       "-e", "trace=" + syscall,
                       "-e", "inject=%s:signal=KILL:when=%d" % (syscall, k)]
              + list(extra))
    mid = "<crash-%s-%d@test>" % (syscall, k)
    acked = send_two(srv, mid)
    # The kill either happened, or the message was delivered first.
    deadline = time.time() + 10
    while time.time() < deadline and srv.proc.poll() is None:
        if len(srv.messages("example.com/bob")) and not srv.queue():
            break
        time.sleep(0.05)
    srv.kill9()
    srv.start()
    assert srv.wait_queue_empty(20), srv.queue()
    attempted = {mid: ["alice@example.com", "bob@example.com"]}
    problems = check_exactly_once(srv, {mid: 1} if acked else {}, attempted)
    assert not problems, (syscall, k, acked, problems)
    assert maildir_tmp_files(srv) == [], (syscall, k, maildir_tmp_files(srv))
    srv.stop()
    assert srv.sanitizer_report() is None, srv.sanitizer_report()
    srv.cleanup()
    return acked


@r.test
def crash_points_through_commit_and_delivery():
    seen = {}
    for syscall, ks in (("pwrite64", (1,)), ("renameat2", (1,)),
                        ("linkat", (1, 2)), ("renameat", (1, 2, 3)),
                        ("copy_file_range", (1,)), ("fsync", (1, 2)),
                        ("syncfs", (1, 2, 3))):
        for k in ks:
            seen["%s@%d" % (syscall, k)] = crash_point(syscall, k)
    # Kills before the rename are never acknowledged; later ones are.
    assert seen["pwrite64@1"] is False, seen
    assert seen["renameat2@1"] is False, seen
    assert seen["linkat@1"] is True, seen


def expect_4xx(srv):
    try:
        with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as s:
            s.sendmail("io@remote.test", ["alice@example.com"],
                       message("<io@test>", 20000))
    except smtplib.SMTPDataError as e:
        return e.smtp_code
    return 250


def attach_strace(srv, *args):
    """strace attached to the running vdmaild; terminate() detaches."""
    import subprocess
    tracer = subprocess.Popen(["strace", "-qq", "-o", "/dev/null", "-p",
                               str(srv.pid())] + list(args))
    time.sleep(1.0)  # bounded: attaching takes milliseconds
    return tracer


@r.test
def write_enospc_gives_451_then_mail_flows():
    srv = Server(DEMO_TABLES)
    tracer = attach_strace(srv, "-e", "trace=write",
                           "-e", "inject=write:error=ENOSPC:when=1+")
    code = expect_4xx(srv)
    tracer.terminate()
    tracer.wait(10)
    assert code == 451, code
    assert srv.queue() == []
    assert srv.messages("example.com/alice") == []
    assert expect_4xx(srv) == 250
    assert len(srv.wait_messages("example.com/alice", 1)) == 1
    srv.stop()
    assert srv.sanitizer_report() is None, srv.sanitizer_report()
    srv.cleanup()


@r.test
def flush_eio_gives_451_never_250():
    srv = Server(DEMO_TABLES, start=False)
    srv.start(wrapper=["strace", "-f", "-qq", "-o", "/dev/null",
                       "-e", "trace=syncfs",
                       "-e", "inject=syncfs:error=EIO:when=1"])
    assert expect_4xx(srv) == 451
    assert srv.queue() == []
    # The next flush works: the next message goes through.
    assert expect_4xx(srv) == 250
    assert len(srv.wait_messages("example.com/alice", 1)) == 1
    assert srv.stop() == 0
    srv.cleanup()


@r.test
def link_error_defers_then_delivers_once():
    srv = Server(DEMO_TABLES, start=False)
    srv.start(wrapper=["strace", "-qq", "-o", "/dev/null",
                       "-e", "trace=linkat",
                       "-e", "inject=linkat:error=EIO:when=1"])
    assert expect_4xx(srv) == 250
    # First attempt fails, the retry (queue_retry_min = 1 s) delivers.
    assert len(srv.wait_messages("example.com/alice", 1, timeout=15)) == 1
    assert srv.wait_queue_empty()
    assert "deferred" in srv.log()
    assert ids_in(srv, "example.com/alice")["<io@test>"] == 1
    assert srv.stop() == 0
    srv.cleanup()


@r.test
def damaged_queue_files_are_kept_aside():
    srv = Server(DEMO_TABLES, start=False)
    os.makedirs(os.path.join(srv.spool, "queue"))
    env = ("V1\nI0000000000000BAD\nT1700000000\nC127.0.0.1\nHx\nPESMTP\n"
           "B7BIT\nSx@remote.test\nRalice@example.com\tLexample.com/alice\n"
           "Z00000000000000001000 1234abcd\n\x01\x01\n")
    with open(os.path.join(srv.spool, "queue", "0000000000000BAD"), "w") as f:
        f.write(env + "Subject: torn\r\n\r\nonly part of it\r\n")
    # Right size, but zeros where the text should be: a torn write.
    text = "Subject: zeroed\r\n\r\n" + "x" * 100 + "\r\n"
    import zlib
    env2 = env.replace("0000000000000BAD", "0000000000000ZER").replace(
        "Z00000000000000001000 1234abcd",
        "Z%020d %08x" % (len(text), zlib.crc32(text.encode())))
    with open(os.path.join(srv.spool, "queue", "0000000000000ZER"), "w") as f:
        f.write(env2 + "\0" * len(text))
    with open(os.path.join(srv.spool, "queue", "000000000000GARB"), "wb") as f:
        f.write(os.urandom(3000))
    srv.start()
    deadline = time.time() + 10
    corrupt = os.path.join(srv.spool, "corrupt")
    while time.time() < deadline and len(os.listdir(corrupt)) < 3:
        time.sleep(0.05)
    assert sorted(os.listdir(corrupt)) == ["0000000000000BAD",
                                           "0000000000000ZER",
                                           "000000000000GARB"]
    assert srv.queue() == []
    assert srv.messages("example.com/alice") == []
    assert srv.log().count("damaged") >= 3
    assert "does not match its CRC" in srv.log()
    srv.stop()
    srv.cleanup()


@r.test
def kill9_in_the_middle_of_data_leaves_nothing():
    srv = Server(DEMO_TABLES)
    s, f = srv.raw()
    for cmd in (b"EHLO x", b"MAIL FROM:<mid@remote.test>",
                b"RCPT TO:<alice@example.com>", b"DATA"):
        s.sendall(cmd + b"\r\n")
        code, _ = read_reply(f)
        assert code in (250, 354), code
    s.sendall(message("<half@test>", 50000).encode()[:30000])
    time.sleep(0.3)
    srv.kill9()
    s.close()
    srv.start()
    time.sleep(0.5)
    assert srv.queue() == []
    assert srv.messages("example.com/alice") == []
    assert expect_4xx(srv) == 250
    assert len(srv.wait_messages("example.com/alice", 1)) == 1
    srv.stop()
    srv.cleanup()


r.finish()
