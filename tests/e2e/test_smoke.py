"""Smoke: the demo directory accepts mail for alice (directly, by alias
domain and alternate address) and lands it in her Maildir, byte for byte."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_TABLES, Runner, Server  # noqa: E402

r = Runner("smoke")
srv = Server(DEMO_TABLES)

BODY = (b"From: sender@remote.test\r\nTo: alice@example.com\r\n"
        b"Subject: smoke\r\n\r\nHello Alice.\r\n.leading dot\r\n")


@r.test
def delivers_to_alice_three_ways():
    with srv.smtp() as s:
        for rcpt in ("alice@example.com", "alice@example.net",
                     "a.liddell@example.com"):
            s.sendmail("sender@remote.test", [rcpt], BODY)
    files = srv.wait_messages("example.com/alice", 3)
    assert len(files) == 3, files
    for path in files:
        data = open(path, "rb").read()
        assert data.startswith(b"Return-Path: <sender@remote.test>\r\n"), data[:80]
        assert b"\r\nReceived: from " in data[:200], data[:300]
        assert data.endswith(BODY), data[-200:]
        assert (",S=%d" % len(data)) in os.path.basename(path), path


@r.test
def swaks_with_starttls_and_pipelining():
    import subprocess
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % srv.port, "--tls",
         "--tls-sni", "example.net", "--pipeline", "--from",
         "swaks@remote.test", "--to", "bob@example.net",
         "--header", "Message-ID: <swaks-1@test>", "--body", "via swaks"],
        capture_output=True, timeout=60)
    assert out.returncode == 0, out.stdout.decode()[-2000:]
    files = srv.wait_messages("example.com/bob", 1)
    data = open(files[-1], "rb").read()
    assert b"<swaks-1@test>" in data and b"with ESMTPS" in data, data[:500]


@r.test
def queue_is_empty_after_delivery():
    assert srv.wait_queue_empty(), srv.queue()


@r.test
def symlinked_mailbox_is_not_followed():
    # A link planted in the store must not send mail outside it.
    import tempfile
    outside = tempfile.mkdtemp(prefix="vdmail-outside-")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(outside, sub))
    os.makedirs(os.path.join(srv.store, "example.com"), exist_ok=True)
    os.symlink(outside, os.path.join(srv.store, "example.com", "postmaster"))
    with srv.smtp() as s:
        s.sendmail("sender@remote.test", ["postmaster@example.com"], BODY)
    assert srv.wait_log("deferred", 5)
    assert os.listdir(os.path.join(outside, "new")) == []
    assert len(srv.queue()) == 1, srv.queue()
    os.unlink(os.path.join(srv.store, "example.com", "postmaster"))
    # Once the link is gone the retry delivers into the real mailbox.
    assert len(srv.wait_messages("example.com/postmaster", 1, timeout=10)) == 1
    assert srv.wait_queue_empty()
    import shutil
    shutil.rmtree(outside)


r.finish(srv)
