"""Delivery options and distribution lists end to end: one vdmaild whose
tables give users every mailDeliveryOption (forward, hold, autoreply,
program, file, shared, and several at once) and lists with nesting,
loops, broadcaster rules, a moderator, errors-to and a size limit. Remote
hosts are Postfix's smtp-sink on 127.0.0.x, reached through the routes
table (relay=IP:PORT), so no DNS is needed. Programs are small shell
scripts run as nobody.
"""

import email
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, Server, DEMO_TABLES, VDCTL  # noqa: E402

SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
S_OK, S_REJ = "127.0.0.12", "127.0.0.13"


def common_port():
    for _ in range(50):
        with socket.socket() as s:
            s.bind((S_OK, 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind((S_REJ, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port")


PORT = common_port()


class Sink:
    def __init__(self, addr, args=()):
        self.dir = tempfile.mkdtemp(prefix="vdmail-sink-")
        os.chmod(self.dir, 0o777)
        self.proc = subprocess.Popen(
            [SINK, "-u", "nobody", "-d", os.path.join(self.dir, "%H%M%S.")] +
            list(args) + ["%s:%d" % (addr, PORT), "64"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection((addr, PORT), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def messages(self):
        out = []
        for n in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, n), "rb") as f:
                out.append(f.read())
        return out

    def wait(self, count, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.messages()) < count:
            time.sleep(0.05)
        return self.messages()

    def stop(self):
        self.proc.kill()
        self.proc.wait(10)


sink_ok = Sink(S_OK)
sink_rej = Sink(S_REJ, ["-f", "RCPT"])

# programs, as nobody: a world-readable directory, an output directory
# nobody may write
PROG = tempfile.mkdtemp(prefix="vdmail-prog-")
OUT = os.path.join(PROG, "out")
os.makedirs(OUT)
os.chmod(PROG, 0o755)
os.chmod(OUT, 0o777)
SCRIPTS = {
    "save.sh": 'cat > "%s/saved.$$"; env > "%s/env.$$"; exit 0\n' % (OUT, OUT),
    "flaky.sh": 'if [ -e "%s/flaky.ok" ]; then cat > "%s/flaky.out"; '
                'exit 0; fi; : > "%s/flaky.ok"; echo busy; exit 75\n'
                % (OUT, OUT, OUT),
    "fail.sh": 'cat > /dev/null; echo "no such customer 4711" >&2; exit 3\n',
    "hang.sh": 'sleep 30 & sleep 30\n',
}
for name, body in SCRIPTS.items():
    p = os.path.join(PROG, name)
    with open(p, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(p, 0o755)
FILES = tempfile.mkdtemp(prefix="vdmail-files-")

ADDRS = ["fwd", "both", "held", "vac", "prog", "flaky", "failp", "hangp",
         "unreg", "mbox", "shared", "multi", "loopa", "loopb"]
USERS = """\
fwd@example.com delivery=forward forward=alice@example.com forward=far@relay.test
both@example.com delivery=mailbox,forward forward=bob@example.com
held@example.com delivery=hold
vac@example.com delivery=mailbox,autoreply replytext=I%20am%20away%20until%20Monday. replysubject=Away:%20$SUBJECT replytimeout=24
prog@example.com delivery=program program=save
flaky@example.com delivery=program program=flaky
failp@example.com delivery=program program=fail
hangp@example.com delivery=program program=hang
unreg@example.com delivery=program program=nosuch
mbox@example.com delivery=file file=mail/mbox.txt
shared@example.com delivery=shared shared=sales
multi@example.com delivery=mailbox,file,program file=mail/multi.txt program=save
loopa@example.com delivery=forward forward=loopb@example.com
loopb@example.com delivery=forward,mailbox forward=loopa@example.com
owner@example.com
mod@example.com
boss@example.com
"""
LISTS = """\
outer@example.com member=alice@example.com member=inner@example.com
inner@example.com member=bob@example.com member=outer@example.com member=alice@example.com
closed@example.com member=alice@example.com broadcaster=boss@example.com
moderated@example.com member=alice@example.com broadcaster=boss@example.com moderator=mod@example.com rejectaction=toModerator
domainonly@example.com member=alice@example.com alloweddomain=example.com
errs@example.com member=alice@example.com member=nobody@reject.test member=far2@relay.test errorsto=owner@example.com
small@example.com member=alice@example.com maxsize=1000
pair@example.com member=alice@example.com member=bob@example.com
off@example.com status=disabled member=alice@example.com
"""

BIG = ["m%d@example.com" % i for i in range(150)]
tables = dict(DEMO_TABLES)
tables["users"] = DEMO_TABLES["users"] + USERS + "".join(
    "%s status=active\n" % m for m in BIG)
tables["addresses"] = DEMO_TABLES["addresses"] + "".join(
    "%s@example.com user=%s@example.com\n" % (a, a)
    for a in ADDRS + ["owner", "mod", "boss"]) + "".join(
    "%s@example.com list=%s@example.com\n" % (l, l)
    for l in ("outer", "inner", "closed", "moderated", "domainonly", "errs",
              "small", "pair", "off", "big")) + "".join(
    "%s user=%s\n" % (m, m) for m in BIG)
tables["lists"] = LISTS + "big@example.com %s\n" % " ".join(
    "member=" + m for m in BIG)
tables["routes"] = ("relay.test relay=%s:%d\nreject.test relay=%s:%d\n"
                    % (S_OK, PORT, S_REJ, PORT))
CONF = "\n".join([
    "program = save %s/save.sh" % PROG,
    "program = flaky %s/flaky.sh" % PROG,
    "program = fail %s/fail.sh" % PROG,
    "program = hang %s/hang.sh" % PROG,
    "program_timeout = 1",
    "file_dir = " + FILES,
    "max_recipients = 1000",
]) + "\n"
srv = Server(tables, config=CONF)
r = Runner("delivery")


def send(to, subject, sender="bob@example.com", body="hello\r\n",
         extra=""):
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s.%f@t>"
           "\r\n%s\r\n%s" % (sender, to if isinstance(to, str) else to[0],
                             subject, subject.replace(" ", "-"), time.time(),
                             extra, body))
    with srv.smtp() as s:
        s.sendmail(sender, [to] if isinstance(to, str) else to, msg)
    return msg


def texts(mailbox):
    out = []
    for p in srv.messages(mailbox):
        with open(p, "rb") as f:
            out.append(f.read())
    return out


def wait_text(mailbox, needle, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for t in texts(mailbox):
            if needle in t:
                return t
        time.sleep(0.05)
    return None


def wait_log(pattern, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, srv.log())
        if m:
            return m
        time.sleep(0.05)
    return None


def rcpt_reply(sender, rcpt, size=None):
    with srv.smtp() as s:
        s.ehlo()
        s.mail(sender, ["SIZE=%d" % size] if size else [])
        return s.rcpt(rcpt)


# ---- delivery options ----

@r.test
def forward_to_local_and_remote():
    send("fwd@example.com", "forward one")
    assert wait_text("example.com/alice", b"Subject: forward one")
    msgs = sink_ok.wait(1)
    assert any(b"far@relay.test" in m and b"forward one" in m for m in msgs)
    assert not srv.messages("example.com/fwd"), "forward only: no mailbox"


@r.test
def mailbox_and_forward_in_parallel():
    send("both@example.com", "both ways")
    assert wait_text("example.com/both", b"Subject: both ways")
    assert wait_text("example.com/bob", b"Subject: both ways")


@r.test
def hold_keeps_it_until_released():
    send("held@example.com", "held mail")
    m = wait_log(r"(\w+): client=.*nrcpt=1")
    time.sleep(1.0)
    assert not srv.messages("example.com/held")
    qids = srv.queue()
    assert qids, "a held delivery must stay in the queue"
    qid = [q for q in qids if "held@example.com" in subprocess.run(
        [VDCTL, "-c", srv.conf, "queue", "show", q], capture_output=True,
        text=True, timeout=10).stdout][0]
    out = subprocess.run([VDCTL, "-c", srv.conf, "queue", "release", qid],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out
    assert wait_text("example.com/held", b"Subject: held mail")
    assert wait_log(re.escape(qid) + r": removed")
    del m


@r.test
def autoreply_once_per_sender_with_rfc3834_marks():
    send("vac@example.com", "are you there")
    reply = wait_text("example.com/bob", b"Auto-Submitted: auto-replied")
    assert reply, srv.log()[-2000:]
    m = email.message_from_bytes(reply)
    assert m["Subject"] == "Away: are you there", m["Subject"]
    assert m["From"].strip("<>") == "vac@example.com"
    assert m["In-Reply-To"] and "are-you-there" in m["In-Reply-To"]
    assert b"I am away until Monday." in reply
    assert re.search(rb"Return-Path: <>", reply)
    assert wait_text("example.com/vac", b"Subject: are you there")
    send("vac@example.com", "second one")
    assert wait_text("example.com/vac", b"Subject: second one")
    assert wait_log(r"autoreply not sent: already_replied")
    replies = [t for t in texts("example.com/bob")
               if b"Auto-Submitted: auto-replied" in t]
    assert len(replies) == 1, len(replies)


@r.test
def autoreply_never_answers_lists_bulk_or_robots():
    cases = [("alice@example.com", "Precedence: bulk\r\n", "bulk"),
             ("alice@example.com", "List-Id: <l.example.com>\r\n", "list"),
             ("alice@example.com", "Auto-Submitted: auto-generated\r\n",
              "auto_submitted"),
             ("", "", "null_sender"),
             ("vac@example.com", "", "self")]
    for sender, extra, why in cases:
        send("vac@example.com", "robot %s" % why, sender=sender, extra=extra)
        assert wait_log(r"autoreply not sent: %s" % why), why
    assert not [t for t in texts("example.com/alice")
                if b"Auto-Submitted: auto-replied" in t]


@r.test
def program_gets_the_message_as_nobody():
    send("prog@example.com", "to a program", body="line one\r\n.dot\r\n")
    deadline = time.time() + 10
    while time.time() < deadline and not [
            n for n in os.listdir(OUT) if n.startswith("saved.")]:
        time.sleep(0.05)
    saved = [n for n in os.listdir(OUT) if n.startswith("saved.")]
    assert saved, srv.log()[-2000:]
    with open(os.path.join(OUT, saved[0]), "rb") as f:
        text = f.read()
    assert text.startswith(b"Return-Path: <bob@example.com>\r\n"
                           b"Delivered-To: prog@example.com\r\n"), text[:200]
    assert b"Subject: to a program" in text and b"\r\n.dot\r\n" in text
    st = os.stat(os.path.join(OUT, saved[0]))
    assert st.st_uid == 65534, st.st_uid
    env = open(os.path.join(OUT, saved[0].replace("saved", "env"))).read()
    assert "RECIPIENT=prog@example.com" in env and \
        "SENDER=bob@example.com" in env, env
    assert "VDMAIL" not in env and "ASAN" not in env, env
    assert wait_log(r"to=<prog@example\.com> relay=program:save .*"
                    r"status=sent")


@r.test
def program_fails_temporarily_then_succeeds():
    send("flaky@example.com", "flaky program")
    assert wait_log(r"to=<flaky@example\.com> relay=program:flaky .*"
                    r"status=deferred \(program flaky: exit 75")
    assert wait_log(r"to=<flaky@example\.com> relay=program:flaky .*"
                    r"status=sent", timeout=15)
    with open(os.path.join(OUT, "flaky.out"), "rb") as f:
        assert b"Subject: flaky program" in f.read()


def dsn_for(subject, mailbox="example.com/bob", timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for t in texts(mailbox):
            m = email.message_from_bytes(t)
            if m.get_content_type() == "multipart/report" and \
                    subject.encode() in t:
                return m, t
        time.sleep(0.1)
    return None, None


@r.test
def program_failure_bounces_with_its_output():
    send("failp@example.com", "failing program")
    m, raw = dsn_for("failing program")
    assert m is not None, srv.log()[-2000:]
    assert b"no such customer 4711" in raw
    assert b"Status: 5.3.0" in raw


@r.test
def program_past_its_time_limit_is_killed():
    send("hangp@example.com", "hanging program")
    assert wait_log(r"to=<hangp@example\.com> relay=program:hang .*"
                    r"status=deferred \(program hang: killed", timeout=10)
    time.sleep(0.5)
    ps = subprocess.run(["pgrep", "-f", "%s/hang.sh" % PROG],
                        capture_output=True, text=True).stdout
    # a retry may be running; none may outlive its limit
    time.sleep(1.5)
    again = subprocess.run(["pgrep", "-f", "%s/hang.sh" % PROG],
                           capture_output=True, text=True).stdout
    assert not (set(ps.split()) & set(again.split())), (ps, again)


@r.test
def unregistered_program_bounces():
    send("unreg@example.com", "unknown program")
    m, raw = dsn_for("unknown program")
    assert m is not None
    assert b"not registered" in raw


@r.test
def file_appends_mboxrd():
    send("mbox@example.com", "to a file", body="From the start\r\nbye\r\n")
    path = os.path.join(FILES, "mail", "mbox.txt")
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.exists(path):
        time.sleep(0.05)
    with open(path, "rb") as f:
        text = f.read()
    assert text.startswith(b"From bob@example.com "), text[:80]
    assert b"\n>From the start\n" in text and b"\r" not in text
    assert b"Subject: to a file\n" in text


@r.test
def shared_folder_of_the_domain():
    send("shared@example.com", "for the team")
    assert wait_text("=shared/example.com/sales", b"Subject: for the team")


@r.test
def several_options_in_parallel():
    send("multi@example.com", "many ways")
    assert wait_text("example.com/multi", b"Subject: many ways")
    path = os.path.join(FILES, "mail", "multi.txt")
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.exists(path):
        time.sleep(0.05)
    assert b"Subject: many ways" in open(path, "rb").read()
    assert wait_log(r"to=<multi@example\.com> relay=program:save .*"
                    r"status=sent")


@r.test
def forwarding_loop_is_cut():
    send("loopa@example.com", "loop mail")
    assert wait_text("example.com/loopb", b"Subject: loop mail")
    time.sleep(0.5)
    assert len([t for t in texts("example.com/loopb")
                if b"loop mail" in t]) == 1


# ---- lists ----

@r.test
def nested_lists_with_a_loop_deliver_once():
    na = len(texts("example.com/alice"))
    send("outer@example.com", "nested lists")
    assert wait_text("example.com/alice", b"Subject: nested lists")
    assert wait_text("example.com/bob", b"Subject: nested lists")
    time.sleep(0.3)
    assert len([t for t in texts("example.com/alice")
                if b"nested lists" in t]) == 1
    assert len(texts("example.com/alice")) == na + 1


@r.test
def refused_broadcaster_gets_550():
    code, text = rcpt_reply("bob@example.com", "closed@example.com")
    assert code == 550 and b"5.7.1" in text, (code, text)
    code, _ = rcpt_reply("boss@example.com", "closed@example.com")
    assert code == 250


@r.test
def refused_post_goes_to_the_moderator():
    code, _ = rcpt_reply("bob@example.com", "moderated@example.com")
    assert code == 250
    send("moderated@example.com", "please moderate")
    assert wait_text("example.com/mod", b"Subject: please moderate")
    time.sleep(0.3)
    assert not [t for t in texts("example.com/alice")
                if b"please moderate" in t]


@r.test
def allowed_domain_only():
    code, _ = rcpt_reply("someone@elsewhere.test", "domainonly@example.com")
    assert code == 550
    code, _ = rcpt_reply("bob@example.com", "domainonly@example.com")
    assert code == 250


@r.test
def errors_to_gets_the_bounces_and_is_the_sender():
    send("errs@example.com", "list with errors")
    m, raw = dsn_for("list with errors", mailbox="example.com/owner")
    assert m is not None, srv.log()[-3000:]
    assert b"nobody@reject.test" in raw
    m2, _ = dsn_for("list with errors", timeout=1)
    assert m2 is None, "the bounce went to the sender as well"
    local = wait_text("example.com/alice", b"Subject: list with errors")
    assert local.startswith(b"Return-Path: <owner@example.com>\r\n"), \
        local[:80]
    # the remote member's copy left with errors-to as its sender
    deadline = time.time() + 10
    copy = []
    while time.time() < deadline and not copy:
        copy = [m for m in sink_ok.messages() if b"list with errors" in m]
        time.sleep(0.05)
    assert len(copy) == 1, copy
    assert re.search(rb"X-Mail-Args: (FROM:)?<owner@example\.com>", copy[0]), \
        copy[0][:300]


@r.test
def list_size_limit():
    code, text = rcpt_reply("bob@example.com", "small@example.com", size=5000)
    assert code == 552 and b"5.3.4" in text, (code, text)
    # no SIZE declared: refused at the end of DATA
    with srv.smtp() as s:
        s.helo()
        assert s.mail("bob@example.com")[0] == 250
        assert s.rcpt("small@example.com")[0] == 250
        code, text = s.data(b"Subject: too long\r\n\r\n" +
                            (b"y" * 70 + b"\r\n") * 40)
        assert code == 552 and b"5.3.4" in text, (code, text)
    send("small@example.com", "short")
    assert wait_text("example.com/alice", b"Subject: short")


@r.test
def disabled_list_refused():
    code, text = rcpt_reply("bob@example.com", "off@example.com")
    assert code == 550 and b"5.2.1" in text, (code, text)


@r.test
def list_message_is_stored_once():
    send("pair@example.com", "one copy")
    a = wait_text("example.com/alice", b"Subject: one copy")
    b = wait_text("example.com/bob", b"Subject: one copy")
    assert a and b
    pa = [p for p in srv.messages("example.com/alice")
          if b"one copy" in open(p, "rb").read()][0]
    pb = [p for p in srv.messages("example.com/bob")
          if b"one copy" in open(p, "rb").read()][0]
    assert os.stat(pa).st_ino == os.stat(pb).st_ino


@r.test
def a_list_of_150_members_reaches_each_once():
    send("big@example.com", "big list")
    deadline = time.time() + 20
    missing = BIG
    while time.time() < deadline and missing:
        missing = [m for m in BIG if not srv.messages(
            "example.com/" + m.split("@")[0])]
        time.sleep(0.1)
    assert not missing, missing[:5]
    inodes = {os.stat(srv.messages("example.com/" + m.split("@")[0])[0]).st_ino
              for m in BIG}
    assert len(inodes) == 1, len(inodes)


@r.test
def vdctl_route_shows_the_expansion():
    out = subprocess.run([VDCTL, "-c", srv.conf, "route", "multi@example.com"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "deliver    multi@example.com -> example.com/multi" in out, out
    assert "file       multi@example.com -> mail/multi.txt" in out, out
    assert "program    multi@example.com -> save" in out, out
    out = subprocess.run([VDCTL, "-c", srv.conf, "route", "errs@example.com"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "errors to owner@example.com" in out, out


try:
    r.finish(srv)
finally:
    sink_ok.stop()
    sink_rej.stop()
