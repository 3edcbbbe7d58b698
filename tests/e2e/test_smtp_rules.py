"""Recipient rules: every branch of cdb/route.h (the virtual-host patent's
Fig. 5 with Sun status precedence), each asked by a real SMTP session
against the demo directory. Refusals are checked by reply code and
enhanced code; accepted mail is followed into the right Maildir and
compared byte for byte. Quotas (bytes, messages, declared SIZE) and the
single-instance store (one file hard-linked into every mailbox) too."""
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_TABLES, Runner, Server  # noqa: E402

r = Runner("smtp_rules")
srv = Server(DEMO_TABLES)
SENDER = "sender@remote.test"
_serial = [0]


def body(tag, extra=b""):
    """A message whose Subject names the test, so files can be told apart."""
    _serial[0] += 1
    return (b"From: " + SENDER.encode() + b"\r\nTo: someone\r\n"
            b"Subject: rules " + tag.encode() + b" #%d\r\n"
            b"Message-ID: <rules-%d@remote.test>\r\n\r\n"
            % (_serial[0], _serial[0]) +
            b"Body of " + tag.encode() + b".\r\n" + extra)


def session(rcpts, text=None, sender=SENDER, mail_opts=()):
    """One transaction: MAIL, every RCPT, DATA if any was accepted.
    Returns ({rcpt: (code, reply text)}, (code, text) of DATA or None)."""
    answers = {}
    data = None
    with srv.smtp() as s:
        code, msg = s.ehlo("client.remote.test")
        assert code == 250, (code, msg)
        code, msg = s.mail(sender, list(mail_opts))
        assert code == 250, (code, msg)
        for rc in rcpts:
            answers[rc] = s.rcpt(rc)
        if text is not None and any(c == 250 for c, _ in answers.values()):
            data = s.data(text)
        else:
            s.rset()
        s.quit()
    return answers, data


def qid_of(data_reply):
    code, msg = data_reply
    assert code == 250, data_reply
    assert msg.startswith(b"2.0.0 "), data_reply
    qid = msg.split()[-1].decode()
    assert qid and qid.isalnum(), data_reply
    return qid


def find(mailbox, qid, count=1, timeout=10):
    """Files of mailbox holding the message queued as qid (by its name)."""
    deadline = time.time() + timeout
    while True:
        found = [p for p in srv.messages(mailbox)
                 if (".V%s." % qid) in os.path.basename(p)]
        if len(found) >= count or time.time() > deadline:
            return found
        time.sleep(0.05)


def assert_delivered(mailbox, qid, text, sender=SENDER):
    files = find(mailbox, qid)
    assert len(files) == 1, (mailbox, qid, srv.messages(mailbox))
    data = open(files[0], "rb").read()
    assert data.startswith(b"Return-Path: <" + sender.encode() + b">\r\n"), \
        data[:100]
    assert b"\r\nReceived: from client.remote.test " in data[:300], data[:300]
    assert data.endswith(text), (data[-300:], text)
    assert ",S=%d" % len(data) in os.path.basename(files[0]), files[0]
    return files[0]


def refused(rcpt, code, enh):
    """RCPT answered code/enh, and the transaction then has no recipient."""
    answers, _ = session([rcpt])
    got, msg = answers[rcpt]
    assert got == code, (rcpt, got, msg)
    assert msg.startswith(enh.encode() + b" "), (rcpt, msg)
    assert rcpt.lower().encode() in msg.lower(), (rcpt, msg)


def accepted(rcpt, mailbox):
    text = body(rcpt)
    answers, data = session([rcpt], text)
    code, msg = answers[rcpt]
    assert (code, msg[:6]) == (250, b"2.1.5 "), (rcpt, code, msg)
    return assert_delivered(mailbox, qid_of(data), text)


def all_mailboxes():
    """Every message file in the store, by mailbox."""
    out = {}
    for dom in (os.listdir(srv.store) if os.path.isdir(srv.store) else []):
        for local in os.listdir(os.path.join(srv.store, dom)):
            box = dom + "/" + local
            out[box] = srv.messages(box)
    return out


# ---- accepted: the paths to a mailbox ----

@r.test
def alice_accepted_and_delivered():
    accepted("alice@example.com", "example.com/alice")


@r.test
def address_case_is_folded():
    accepted("Alice@EXAMPLE.Com", "example.com/alice")


@r.test
def alias_domain_delivers_to_canonical_mailbox():
    accepted("alice@example.net", "example.com/alice")
    assert not os.path.exists(srv.mailbox("example.net")), \
        os.listdir(srv.store)


@r.test
def alternate_address_delivers_to_alice():
    accepted("a.liddell@example.com", "example.com/alice")


@r.test
def alternate_address_through_alias_domain():
    accepted("a.liddell@example.net", "example.com/alice")


@r.test
def catch_all_delivers_to_cat():
    accepted("anything.at.all@catchall.example", "catchall.example/cat")


@r.test
def catch_all_does_not_shadow_exact_address():
    accepted("cat@catchall.example", "catchall.example/cat")


@r.test
def recipient_delimiter_strips_detail():
    accepted("alice+tag@example.com", "example.com/alice")


@r.test
def recipient_delimiter_with_alias_domain():
    accepted("bob+lists.x@example.net", "example.com/bob")


@r.test
def postmaster_bare_accepted_and_delivered():
    accepted("postmaster", "example.com/postmaster")


@r.test
def postmaster_bare_case_insensitive():
    accepted("PostMaster", "example.com/postmaster")


@r.test
def postmaster_of_alias_domain_delivered():
    accepted("postmaster@example.net", "example.com/postmaster")


# ---- refused: domain branches ----

@r.test
def unknown_domain_relay_denied():
    refused("alice@elsewhere.test", 554, "5.7.1")


@r.test
def address_literal_relay_denied():
    refused("user@[127.0.0.1]", 554, "5.7.1")


@r.test
def domain_inactive_is_temporary():
    refused("carol@suspended.example", 450, "4.2.1")


@r.test
def domain_status_comes_before_address_lookup():
    # No such address in suspended.example, yet the domain answers first.
    refused("nobody@suspended.example", 450, "4.2.1")


@r.test
def domain_deleted():
    refused("dave@deleted.example", 550, "5.1.2")


@r.test
def domain_mail_disabled():
    refused("dora@disabled.example", 550, "5.2.1")


@r.test
def domain_mail_hold_is_temporary():
    refused("hal@held.example", 450, "4.2.1")


@r.test
def domain_overquota():
    refused("fay@full.example", 452, "4.2.2")


@r.test
def domain_unknown_status_counts_as_inactive():
    refused("wes@weird.example", 450, "4.2.1")


# ---- refused: user branches ----

@r.test
def unknown_local_part():
    refused("nosuch@example.com", 550, "5.1.1")


@r.test
def unknown_local_part_in_alias_domain():
    refused("nosuch@example.net", 550, "5.1.1")


@r.test
def unknown_local_part_with_detail():
    refused("nosuch+tag@example.com", 550, "5.1.1")


@r.test
def user_inactive():
    refused("erin@example.com", 450, "4.2.1")


@r.test
def user_deleted():
    refused("gina@example.com", 550, "5.1.1")


@r.test
def user_disabled():
    refused("frank@example.com", 550, "5.2.1")


@r.test
def user_hold():
    refused("hank@example.com", 450, "4.2.1")


@r.test
def user_overquota_status():
    refused("zed@example.com", 452, "4.2.2")


@r.test
def refused_users_got_nothing():
    assert srv.wait_queue_empty(), srv.queue()
    boxes = all_mailboxes()
    for box in ("example.com/erin", "example.com/frank", "example.com/gina",
                "example.com/hank", "example.com/zed",
                "suspended.example/carol", "deleted.example/dave",
                "disabled.example/dora", "held.example/hal",
                "full.example/fay", "weird.example/wes"):
        assert not boxes.get(box), (box, boxes.get(box))


# ---- quotas ----

def maildirsize(box):
    """(definition, bytes, count) summed over a maildirsize file."""
    with open(os.path.join(srv.mailbox(box), "maildirsize"), "rb") as f:
        lines = f.read().decode().splitlines()
    total = count = 0
    for line in lines[1:]:
        b, c = line.split()
        total += int(b)
        count += int(c)
    return lines[0], total, count


@r.test
def byte_quota_declared_size_then_full():
    box = "example.com/quinn"
    first = body("quinn-1")
    answers, data = session(["quinn@example.com"], first)
    assert answers["quinn@example.com"][0] == 250, answers
    path = assert_delivered(box, qid_of(data), first)
    used = os.path.getsize(path)
    assert used < 2000, used
    # The declared SIZE counts against what is left (2000 - used).
    left = 2000 - used
    answers, _ = session(["quinn@example.com"],
                         mail_opts=("SIZE=%d" % (left + 1),))
    code, msg = answers["quinn@example.com"]
    assert (code, msg[:6]) == (452, b"4.2.2 "), (left, code, msg)
    answers, _ = session(["quinn@example.com"],
                         mail_opts=("SIZE=%d" % (left - 100),))
    assert answers["quinn@example.com"][0] == 250, answers
    # Without SIZE the RCPT passes; the message itself may overshoot.
    big = body("quinn-2", b"x" * 70 + b"\r\n") + (b"y" * 78 + b"\r\n") * 30
    answers, data = session(["quinn@example.com"], big)
    assert answers["quinn@example.com"][0] == 250, answers
    path2 = assert_delivered(box, qid_of(data), big)
    definition, total, count = maildirsize(box)
    assert definition == "2000S", definition
    assert total == used + os.path.getsize(path2) >= 2000, (total, used)
    assert count == 2, count
    answers, _ = session(["quinn@example.com"], body("quinn-3"))
    code, msg = answers["quinn@example.com"]
    assert (code, msg[:6]) == (452, b"4.2.2 "), (code, msg)
    assert len(srv.messages(box)) == 2, srv.messages(box)


@r.test
def message_quota_third_refused():
    box = "example.com/mona"
    for i in (1, 2):
        text = body("mona-%d" % i)
        answers, data = session(["mona@example.com"], text)
        assert answers["mona@example.com"][0] == 250, (i, answers)
        assert_delivered(box, qid_of(data), text)
    definition, total, count = maildirsize(box)
    assert definition == "2C", definition
    assert count == 2, count
    assert total == sum(os.path.getsize(p) for p in srv.messages(box)), total
    answers, _ = session(["mona@example.com"], body("mona-3"))
    code, msg = answers["mona@example.com"]
    assert (code, msg[:6]) == (452, b"4.2.2 "), (code, msg)
    assert len(srv.messages(box)) == 2, srv.messages(box)


@r.test
def maildirsize_counts_what_arrives():
    # bob has a 50M quota: his maildirsize must count what arrives.
    box = "example.com/bob"
    texts = [body("bob-%d" % i) for i in range(3)]
    for t in texts:
        answers, data = session(["bob@example.com"], t)
        assert answers["bob@example.com"][0] == 250, answers
        assert_delivered(box, qid_of(data), t)
    definition, total, count = maildirsize(box)
    assert definition == "%dS" % (50 * 1024 * 1024), definition
    files = srv.messages(box)
    assert count == len(files), (count, files)
    assert total == sum(os.path.getsize(p) for p in files), total


# ---- one transaction, mixed recipients: single instance ----

@r.test
def mixed_recipients_single_instance():
    before = all_mailboxes()
    rcpts = ["alice@example.com", "erin@example.com", "bob@example.net",
             "nosuch@example.com", "frank@example.com",
             "someone@catchall.example", "carol@suspended.example",
             "x@elsewhere.test", "postmaster"]
    want = {"alice@example.com": (250, "2.1.5"),
            "erin@example.com": (450, "4.2.1"),
            "bob@example.net": (250, "2.1.5"),
            "nosuch@example.com": (550, "5.1.1"),
            "frank@example.com": (550, "5.2.1"),
            "someone@catchall.example": (250, "2.1.5"),
            "carol@suspended.example": (450, "4.2.1"),
            "x@elsewhere.test": (554, "5.7.1"),
            "postmaster": (250, "2.1.5")}
    text = body("mixed")
    answers, data = session(rcpts, text)
    for rc, (code, enh) in want.items():
        got, msg = answers[rc]
        assert (got, msg[:6]) == (code, enh.encode() + b" "), (rc, got, msg)
    qid = qid_of(data)
    inodes = set()
    for box in ("example.com/alice", "example.com/bob",
                "catchall.example/cat", "example.com/postmaster"):
        path = assert_delivered(box, qid, text)
        inodes.add((os.stat(path).st_dev, os.stat(path).st_ino))
    assert len(inodes) == 1, inodes
    st = os.stat(path)
    assert st.st_nlink == 4, st.st_nlink
    assert srv.wait_queue_empty(), srv.queue()
    after = all_mailboxes()
    for box, files in after.items():
        new = set(files) - set(before.get(box, []))
        holds = [p for p in new if (".V%s." % qid) in p]
        if box in ("example.com/alice", "example.com/bob",
                   "catchall.example/cat", "example.com/postmaster"):
            assert len(holds) == 1, (box, holds)
        else:
            assert not holds, (box, holds)


@r.test
def same_mailbox_thrice_in_one_transaction_one_copy():
    # Three addresses of bob's one mailbox: one file, counted once.
    box = "example.com/bob"
    text = body("thrice")
    answers, data = session(["bob@example.com", "bob@example.net",
                             "bob+x@example.com"], text)
    assert all(c == 250 for c, _ in answers.values()), answers
    qid = qid_of(data)
    assert srv.wait_queue_empty(), srv.queue()
    files = find(box, qid)
    assert len(files) == 1, files
    assert open(files[0], "rb").read().endswith(text)
    assert os.stat(files[0]).st_nlink == 1, os.stat(files[0]).st_nlink
    _, total, count = maildirsize(box)
    all_files = srv.messages(box)
    assert count == len(all_files), (count, all_files)
    assert total == sum(os.path.getsize(p) for p in all_files), total


# ---- Sun precedence, postmaster fallbacks and broken tables ----
# A second server with a directory made for these branches. vdctl builds
# each table on its own, so dangling references reach the server as an
# admin's mistake would.

PREC_TABLES = {
    "domains": """\
prec.example status=active
both.example status=inactive mailstatus=disabled
maildel.example status=active mailstatus=deleted
removed.example mailstatus=removed
example.com
gone.example status=deleted mailstatus=hold
pm.example postmaster=ann@prec.example
nopm.example
dangling.example alias=nowhere.example
""",
    "addresses": """\
ann@prec.example user=ann@prec.example
u1@prec.example user=u1@prec.example
u2@prec.example user=u2@prec.example
u3@prec.example user=u3@prec.example
u4@prec.example user=u4@prec.example
u5@prec.example user=u5@prec.example
ghost@prec.example user=ghost@prec.example
bad@both.example user=u1@prec.example
postmaster@prec.example user=postmaster@prec.example
u6@prec.example user=u6@prec.example
postmaster@example.com user=postmaster@example.com
""",
    "users": """\
ann@prec.example
postmaster@prec.example
u1@prec.example status=inactive mailstatus=disabled
u2@prec.example status=active mailstatus=deleted
u3@prec.example mailstatus=removed
u4@prec.example status=disabled
u6@prec.example status=deleted mailstatus=hold
postmaster@example.com
u5@prec.example mailstatus=overquota
""",
}

prec = Server(PREC_TABLES)


def prec_rcpt(rcpt, text=None):
    with prec.smtp() as s:
        s.ehlo("client.remote.test")
        assert s.mail(SENDER)[0] == 250
        code, msg = s.rcpt(rcpt)
        data = s.data(text) if text is not None and code == 250 else None
        s.quit()
    return code, msg, data


def prec_refused(rcpt, code, enh):
    got, msg, _ = prec_rcpt(rcpt)
    assert (got, msg[:6]) == (code, enh.encode() + b" "), (rcpt, got, msg)


@r.test
def precedence_domain_status_before_mailstatus():
    # inactive (inetDomainStatus) wins over disabled (mailDomainStatus).
    prec_refused("anyone@both.example", 450, "4.2.1")


@r.test
def precedence_domain_before_user():
    # The user is inactive+disabled too, but the domain answers first.
    prec_refused("bad@both.example", 450, "4.2.1")


@r.test
def precedence_domain_mailstatus_when_status_active():
    prec_refused("x@maildel.example", 550, "5.1.2")


@r.test
def precedence_domain_deleted_before_hold():
    prec_refused("x@gone.example", 550, "5.1.2")


@r.test
def domain_removed():
    prec_refused("x@removed.example", 550, "5.1.2")


@r.test
def precedence_user_status_before_mailstatus():
    prec_refused("u1@prec.example", 450, "4.2.1")
    prec_refused("u6@prec.example", 550, "5.1.1")


@r.test
def user_status_illegal_value_counts_as_inactive():
    # inetUserStatus takes active|inactive|deleted only; "disabled" there
    # is an illegal value, which the Sun rule reads as inactive.
    prec_refused("u4@prec.example", 450, "4.2.1")


@r.test
def user_mailstatus_deleted_when_status_active():
    prec_refused("u2@prec.example", 550, "5.1.1")


@r.test
def user_mailstatus_removed():
    prec_refused("u3@prec.example", 550, "5.1.1")


@r.test
def user_mailstatus_overquota():
    prec_refused("u5@prec.example", 452, "4.2.2")


def prec_delivered(rcpt, box):
    text = body(rcpt)
    code, msg, data = prec_rcpt(rcpt, text)
    assert (code, msg[:6]) == (250, b"2.1.5 "), (rcpt, code, msg)
    qid = qid_of(data)
    deadline = time.time() + 10
    while time.time() < deadline and not any(
            (".V%s." % qid) in p for p in prec.messages(box)):
        time.sleep(0.05)
    files = [p for p in prec.messages(box) if (".V%s." % qid) in p]
    assert len(files) == 1, (box, prec.messages(box))
    assert open(files[0], "rb").read().endswith(text)


@r.test
def postmaster_falls_back_to_domain_postmaster():
    prec_delivered("postmaster@pm.example", "prec.example/ann")


@r.test
def postmaster_falls_back_to_server_postmaster():
    # nopm.example names no postmaster: the server's one gets it.
    prec_delivered("postmaster@nopm.example", "example.com/postmaster")


@r.test
def postmaster_address_of_its_own_wins():
    prec_delivered("postmaster@prec.example", "prec.example/postmaster")


@r.test
def dangling_address_is_temporary():
    prec_refused("ghost@prec.example", 451, "4.3.0")


@r.test
def dangling_alias_domain_is_temporary():
    prec_refused("x@dangling.example", 451, "4.3.0")


r.finish(srv, prec)
