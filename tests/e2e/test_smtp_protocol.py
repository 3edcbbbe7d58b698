"""SMTP protocol conformance (RFC 5321 and the extensions vdmaild offers),
mostly over raw sockets so the exact bytes are under control: EHLO,
command sequencing, the simple commands, PIPELINING (one write, byte at a
time), limits (line lengths, SIZE, recipients, errors, timeouts), SMTP
smuggling, dot-stuffing, 8BITMIME, SMTPUTF8, BDAT/CHUNKING and address
syntax. Accepted mail is followed into its Maildir by queue id and
compared byte for byte; refused mail must not appear anywhere."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO_TABLES, HOSTNAME, Runner, Server, read_reply  # noqa: E402

SIZE_LIMIT = 10000
r = Runner("smtp_protocol")
srv = Server(DEMO_TABLES, config="message_size_limit = %d" % SIZE_LIMIT)
errs = Server(DEMO_TABLES, config="max_errors = 3")
slow = Server(DEMO_TABLES, config="timeout_command = 1\ntimeout_data = 1")
SENDER = b"sender@remote.test"
_serial = [0]


def marker(tag):
    """A unique string to find (or not find) a message by its content."""
    _serial[0] += 1
    return ("proto-%s-%d-%d" % (tag, os.getpid(), _serial[0])).encode()


class Sess:
    """A raw SMTP connection: exact bytes out, replies parsed in."""

    def __init__(self, server=srv, ehlo=True, timeout=10):
        self.sock, self.f = server.raw(timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ehlo:
            self.cmd(b"EHLO client.remote.test", 250)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        return read_reply(self.f)

    def expect(self, code, enh=None):
        got, text = self.reply()
        assert got == code, (code, enh, text)
        if enh is not None:
            first = text.split("\n")[-1]
            assert first[4:].startswith(enh + " "), (code, enh, text)
        return text

    def cmd(self, line, code, enh=None):
        self.send(line + b"\r\n")
        return self.expect(code, enh)

    def until_eof(self, limit=50):
        """Every reply code until the server closes (bounded)."""
        codes = []
        for _ in range(limit):
            try:
                codes.append(self.reply()[0])
            except EOFError:
                return codes
        raise AssertionError("no EOF after %r" % codes)

    def assert_closed(self):
        assert self.f.read() == b"", "connection still open"

    def transaction(self, rcpts=(b"alice@example.com",), sender=SENDER,
                    mail_opts=b""):
        self.cmd(b"MAIL FROM:<" + sender + b">" + mail_opts, 250, "2.1.0")
        for rc in rcpts:
            self.cmd(b"RCPT TO:<" + rc + b">", 250, "2.1.5")

    def data(self, raw):
        """DATA, then raw (which must carry its own CRLF.CRLF); the qid."""
        self.cmd(b"DATA", 354)
        self.send(raw)
        return qid_of(self.expect(250, "2.0.0"))


def qid_of(text):
    assert "queued as " in text, text
    qid = text.rsplit(" ", 1)[-1]
    assert qid.isalnum(), text
    return qid


def find(box, qid, server=srv, timeout=10):
    deadline = time.time() + timeout
    while True:
        found = [p for p in server.messages(box)
                 if (".V%s." % qid) in os.path.basename(p)]
        if found or time.time() > deadline:
            return found
        time.sleep(0.05)


def stored_text(path):
    """The message as the client sent it: without our Return-Path and
    (folded) Received header."""
    data = open(path, "rb").read()
    assert data.startswith(b"Return-Path: <"), data[:80]
    rest = data[data.index(b"\r\n") + 2:]
    assert rest.startswith(b"Received: "), rest[:80]
    i = rest.index(b"\r\n")
    while rest[i + 2:i + 3] in (b"\t", b" "):
        i = rest.index(b"\r\n", i + 2)
    return rest[i + 2:]


def delivered(box, qid, server=srv):
    files = find(box, qid, server)
    assert len(files) == 1, (box, qid, server.messages(box))
    return files[0]


def assert_text(box, qid, text, server=srv):
    path = delivered(box, qid, server)
    got = stored_text(path)
    assert got == text, (got[-200:], text[-200:])
    return path


def nowhere(mark, server=srv, boxes=("example.com/alice", "example.com/bob",
                                     "catchall.example/cat",
                                     "example.com/postmaster")):
    """No message containing mark reached any of the boxes."""
    assert server.wait_queue_empty(), server.queue()
    for box in boxes:
        for p in server.messages(box):
            assert mark not in open(p, "rb").read(), (box, p)


def msg(mark, extra=b""):
    return (b"From: <sender@remote.test>\r\nSubject: " + mark + b"\r\n\r\n"
            b"Hello.\r\n" + extra)


# ---- EHLO, HELO and the simple commands ----

@r.test
def ehlo_lists_extensions():
    with Sess(ehlo=False) as s:
        text = s.cmd(b"EHLO client.remote.test", 250)
        lines = text.split("\n")
        assert lines[0].startswith("250-" + HOSTNAME + " "), lines
        assert all(x.startswith("250-") for x in lines[:-1]), lines
        assert lines[-1].startswith("250 "), lines
        kw = {x[4:] for x in lines[1:]}
        for want in ("PIPELINING", "SIZE %d" % SIZE_LIMIT, "8BITMIME",
                     "ENHANCEDSTATUSCODES", "STARTTLS", "SMTPUTF8",
                     "CHUNKING"):
            assert want in kw, (want, kw)


@r.test
def ehlo_twice_and_helo_after_ehlo():
    with Sess() as s:
        s.cmd(b"EHLO again.remote.test", 250)
        s.cmd(b"EHLO [127.0.0.1]", 250)
        s.cmd(b"EHLO [IPv6:::1]", 250)
        s.cmd(b"HELO plain.remote.test", 250, "2.0.0")
        s.transaction()
        m = marker("helo-after-ehlo")
        qid = s.data(msg(m) + b".\r\n")
    data = open(delivered("example.com/alice", qid), "rb").read()
    assert b"Received: from plain.remote.test " in data, data[:300]
    assert b" with SMTP id " in data, data[:300]


@r.test
def helo_session_delivers():
    with Sess(ehlo=False) as s:
        text = s.cmd(b"HELO client.remote.test", 250, "2.0.0")
        assert HOSTNAME in text, text
        s.transaction()
        m = marker("helo")
        body = msg(m)
        qid = s.data(body + b".\r\n")
        s.cmd(b"QUIT", 221)
    path = assert_text("example.com/alice", qid, body)
    assert b" with SMTP id " + qid.encode() in open(path, "rb").read()


@r.test
def helo_and_ehlo_need_a_name():
    with Sess(ehlo=False) as s:
        s.cmd(b"HELO", 501, "5.5.4")
        s.cmd(b"EHLO", 501, "5.5.4")
        s.cmd(b"MAIL FROM:<a@remote.test>", 503, "5.5.1")


@r.test
def mail_before_ehlo_503():
    with Sess(ehlo=False) as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 503, "5.5.1")
        s.cmd(b"RCPT TO:<alice@example.com>", 503, "5.5.1")
        s.cmd(b"EHLO client.remote.test", 250)
        s.cmd(b"MAIL FROM:<a@remote.test>", 250, "2.1.0")


@r.test
def rcpt_before_mail_503():
    with Sess() as s:
        s.cmd(b"RCPT TO:<alice@example.com>", 503, "5.5.1")
        s.cmd(b"NOOP", 250)


@r.test
def data_before_mail_503():
    with Sess() as s:
        s.cmd(b"DATA", 503, "5.5.1")
        s.cmd(b"NOOP", 250)


@r.test
def data_without_valid_rcpt_554():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        s.cmd(b"RCPT TO:<nosuch@example.com>", 550, "5.1.1")
        s.cmd(b"DATA", 554, "5.5.1")
        s.cmd(b"NOOP", 250)
        # The transaction is still open: a good RCPT makes DATA work.
        s.cmd(b"RCPT TO:<alice@example.com>", 250)
        m = marker("after-554")
        body = msg(m)
        qid = s.data(body + b".\r\n")
    assert_text("example.com/alice", qid, body)


@r.test
def nested_mail_503():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        s.cmd(b"MAIL FROM:<b@remote.test>", 503, "5.5.1")
        s.cmd(b"RCPT TO:<alice@example.com>", 250)
        s.cmd(b"MAIL FROM:<b@remote.test>", 503, "5.5.1")


@r.test
def rset_clears_the_transaction():
    with Sess() as s:
        s.transaction()
        s.cmd(b"RSET", 250, "2.0.0")
        s.cmd(b"RCPT TO:<alice@example.com>", 503, "5.5.1")
        s.cmd(b"DATA", 503, "5.5.1")
        s.cmd(b"RSET", 250, "2.0.0")
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        s.cmd(b"RSET now", 501, "5.5.4")


@r.test
def noop_with_and_without_args():
    with Sess() as s:
        s.cmd(b"NOOP", 250, "2.0.0")
        s.cmd(b"NOOP some arguments here", 250, "2.0.0")
        s.transaction()
        s.cmd(b"NOOP", 250, "2.0.0")
        # NOOP did not disturb the transaction.
        m = marker("noop")
        s.data(msg(m) + b".\r\n")


@r.test
def help_214():
    with Sess() as s:
        s.cmd(b"HELP", 214)
        s.cmd(b"HELP MAIL", 214)


@r.test
def vrfy_252_and_without_arg_501():
    with Sess() as s:
        s.cmd(b"VRFY alice", 252, "2.5.2")
        s.cmd(b"VRFY nosuch@example.com", 252, "2.5.2")
        s.cmd(b"VRFY", 501, "5.5.4")


@r.test
def expn_502():
    with Sess() as s:
        s.cmd(b"EXPN staff", 502, "5.5.1")
        s.cmd(b"NOOP", 250)


@r.test
def quit_221_then_close():
    with Sess() as s:
        s.cmd(b"QUIT now", 501, "5.5.4")
        text = s.cmd(b"QUIT", 221, "2.0.0")
        assert HOSTNAME in text, text
        s.assert_closed()


@r.test
def quit_in_transaction_queues_nothing():
    with Sess() as s:
        s.transaction()
        s.cmd(b"QUIT", 221)
        s.assert_closed()


@r.test
def unknown_command_500_session_goes_on():
    with Sess() as s:
        s.cmd(b"FOO bar", 500, "5.5.2")
        s.cmd(b"MAILFROM:<a@remote.test>", 500, "5.5.2")
        s.cmd(b"NOOP", 250)


@r.test
def empty_line_500():
    with Sess() as s:
        s.cmd(b"", 500, "5.5.2")
        s.cmd(b"NOOP", 250)


@r.test
def lower_and_mixed_case_verbs():
    with Sess(ehlo=False) as s:
        s.cmd(b"ehlo client.remote.test", 250)
        s.cmd(b"mAiL fRoM:<a@remote.test>", 250, "2.1.0")
        s.cmd(b"RcPt tO:<alice@example.com>", 250, "2.1.5")
        s.cmd(b"noop", 250)
        s.cmd(b"data", 354)
        m = marker("case")
        body = msg(m)
        s.send(body + b".\r\n")
        qid = qid_of(s.expect(250, "2.0.0"))
        s.cmd(b"quit", 221)
    assert_text("example.com/alice", qid, body)


@r.test
def null_sender_several_recipients():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<>", 250, "2.1.0")
        for rc in (b"alice@example.com", b"bob@example.com", b"postmaster"):
            s.cmd(b"RCPT TO:<" + rc + b">", 250, "2.1.5")
        m = marker("null")
        body = msg(m)
        qid = s.data(body + b".\r\n")
    for box in ("example.com/alice", "example.com/bob",
                "example.com/postmaster"):
        path = assert_text(box, qid, body)
        assert open(path, "rb").read().startswith(b"Return-Path: <>\r\n")


@r.test
def space_after_colon_accepted():
    with Sess() as s:
        s.cmd(b"MAIL FROM: <a@remote.test>", 250, "2.1.0")
        s.cmd(b"RCPT TO: <alice@example.com>", 250, "2.1.5")


# ---- PIPELINING ----

def pipelined_group(m1, m2):
    b1 = msg(m1)
    b2 = msg(m2)
    group = (b"EHLO client.remote.test\r\n"
             b"MAIL FROM:<a@remote.test>\r\n"
             b"RCPT TO:<alice@example.com>\r\n"
             b"RCPT TO:<nosuch@example.com>\r\n"
             b"RCPT TO:<bob@example.com>\r\n"
             b"DATA\r\n" + b1 + b".\r\n"
             b"MAIL FROM:<b@remote.test>\r\n"
             b"RCPT TO:<erin@example.com>\r\n"
             b"RCPT TO:<bob@example.com>\r\n"
             b"DATA\r\n" + b2 + b".\r\n"
             b"NOOP\r\nQUIT\r\n")
    want = [250, 250, 250, 550, 250, 354, 250, 250, 450, 250, 354, 250,
            250, 221]
    return group, want, b1, b2


def check_pipelined(s, want, b1, b2):
    got = []
    texts = []
    for _ in want:
        code, text = s.reply()
        got.append(code)
        texts.append(text)
    assert got == want, (got, texts)
    s.assert_closed()
    q1, q2 = qid_of(texts[6]), qid_of(texts[11])
    assert_text("example.com/alice", q1, b1)
    assert_text("example.com/bob", q1, b1)
    assert_text("example.com/bob", q2, b2)
    assert not find("example.com/alice", q2, timeout=0)


@r.test
def pipelining_whole_session_in_one_write():
    group, want, b1, b2 = pipelined_group(marker("pipe1"), marker("pipe2"))
    with Sess(ehlo=False) as s:
        s.send(group)
        check_pipelined(s, want, b1, b2)


@r.test
def pipelining_byte_at_a_time():
    group, want, b1, b2 = pipelined_group(marker("byte1"), marker("byte2"))
    with Sess(ehlo=False) as s:
        for i in range(len(group)):
            s.send(group[i:i + 1])
            if i % 4 == 0:
                time.sleep(0.0005)
        check_pipelined(s, want, b1, b2)


@r.test
def pipelining_failed_rcpts_then_data_554():
    m = marker("pipe-fail")
    with Sess() as s:
        s.send(b"MAIL FROM:<a@remote.test>\r\n"
               b"RCPT TO:<nosuch@example.com>\r\n"
               b"RCPT TO:<x@elsewhere.test>\r\n"
               b"DATA\r\n"
               b"RSET\r\n"
               b"MAIL FROM:<a@remote.test>\r\n"
               b"RCPT TO:<alice@example.com>\r\n"
               b"DATA\r\n")
        got = [s.reply()[0] for _ in range(8)]
        assert got == [250, 550, 554, 554, 250, 250, 250, 354], got
        body = msg(m)
        s.send(body + b".\r\nQUIT\r\n")
        qid = qid_of(s.expect(250, "2.0.0"))
        s.expect(221)
    assert_text("example.com/alice", qid, body)


# ---- limits ----

@r.test
def command_line_of_1000_octets_accepted():
    line = b"NOOP " + b"x" * (998 - 5)
    assert len(line + b"\r\n") == 1000
    with Sess() as s:
        s.cmd(line, 250)
        local = b"a" * 64
        dom = b"d" * 60 + b"." + b"e" * 60 + b"." + b"f" * 60 + b".test"
        s.cmd(b"MAIL FROM:<" + local + b"@" + dom + b">", 250, "2.1.0")


@r.test
def command_line_of_1001_octets_500_then_in_sync():
    line = b"NOOP " + b"x" * (999 - 5)
    assert len(line + b"\r\n") == 1001
    with Sess() as s:
        s.cmd(line, 500, "5.5.2")
        s.cmd(b"NOOP", 250)
        s.cmd(b"QUIT", 221)
        s.assert_closed()


@r.test
def very_long_command_line_one_500():
    with Sess() as s:
        s.send(b"MAIL FROM:<" + b"y" * 20000 + b"@remote.test>\r\nNOOP\r\n")
        s.expect(500, "5.5.2")
        s.expect(250)
        s.cmd(b"QUIT", 221)
        assert s.until_eof() == []


@r.test
def data_line_of_1000_octets_accepted():
    line = b"z" * 998 + b"\r\n"
    m = marker("line1000")
    body = msg(m, line + b"end\r\n")
    with Sess() as s:
        s.transaction()
        qid = s.data(body + b".\r\n")
    assert_text("example.com/alice", qid, body)


@r.test
def data_line_of_1001_octets_554_after_dot():
    m = marker("line1001")
    body = msg(m, b"z" * 999 + b"\r\nend\r\n")
    with Sess() as s:
        s.transaction()
        s.cmd(b"DATA", 354)
        s.send(body + b".\r\n")
        s.expect(554, "5.6.0")
        s.cmd(b"NOOP", 250)
        s.cmd(b"RCPT TO:<alice@example.com>", 503)
    nowhere(m)


@r.test
def data_line_stuffing_dot_not_counted():
    # RFC 5321 4.5.3.1.6: 1000 octets "not counting the leading dot
    # duplicated for transparency": 1001 on the wire is still legal.
    m = marker("stuffed1000")
    line = b"." + b"." + b"d" * 997 + b"\r\n"
    assert len(line) == 1001
    with Sess() as s:
        s.transaction()
        qid = s.data(msg(m, line) + b".\r\n")
    assert_text("example.com/alice", qid, msg(m, line[1:]))


@r.test
def size_declared_over_limit_552_at_mail():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test> SIZE=%d" % (SIZE_LIMIT + 1), 552,
              "5.3.4")
        s.cmd(b"MAIL FROM:<a@remote.test> SIZE=18446744073709551615", 552,
              "5.3.4")
        s.cmd(b"MAIL FROM:<a@remote.test> SIZE=%d" % SIZE_LIMIT, 250,
              "2.1.0")


@r.test
def size_of_twenty_digits_552_not_syntax_error():
    # RFC 1870: size-value ::= 1*20DIGIT, so a value past 2^64-1 is still
    # valid syntax, merely too large (Postfix answers 552 5.3.4 as well).
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test> SIZE=99999999999999999999", 552,
              "5.3.4")
        s.cmd(b"MAIL FROM:<a@remote.test> SIZE=abc", 501, "5.5.4")
        s.cmd(b"MAIL FROM:<a@remote.test> SIZE=", 501, "5.5.4")


def sized_body(m, n):
    """A message of exactly n octets (n >= 200), lines of 100 octets."""
    head = msg(m)
    rest = n - len(head)
    lines = b"".join(b"s" * 98 + b"\r\n" for _ in range(rest // 100))
    tail = rest - len(lines)
    if tail:
        lines += b"t" * (tail - 2) + b"\r\n"
    out = head + lines
    assert len(out) == n, len(out)
    return out


@r.test
def message_of_exactly_the_limit_accepted():
    m = marker("exact")
    body = sized_body(m, SIZE_LIMIT)
    with Sess() as s:
        s.transaction(mail_opts=b" SIZE=%d" % SIZE_LIMIT)
        qid = s.data(body + b".\r\n")
    assert_text("example.com/alice", qid, body)


@r.test
def size_exceeded_in_data_552_after_dot_in_sync():
    m = marker("toobig")
    body = sized_body(m, SIZE_LIMIT + 3)
    with Sess() as s:
        s.transaction()
        s.cmd(b"DATA", 354)
        s.send(body + b".\r\n")
        s.expect(552, "5.3.4")
        s.cmd(b"NOOP", 250)
        m2 = marker("after-toobig")
        s.transaction()
        body2 = msg(m2)
        qid = s.data(body2 + b".\r\n")
    assert_text("example.com/alice", qid, body2)
    nowhere(m)


@r.test
def size_exceeded_by_far_in_data_still_in_sync():
    m = marker("waytoobig")
    body = msg(m) + (b"w" * 998 + b"\r\n") * 200
    with Sess() as s:
        s.transaction()
        s.cmd(b"DATA", 354)
        s.send(body + b".\r\nNOOP\r\n")
        s.expect(552, "5.3.4")
        s.expect(250)
    nowhere(m)


@r.test
def hundred_recipients_then_452():
    m = marker("hundred")
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        group = b"".join(b"RCPT TO:<r%d@catchall.example>\r\n" % i
                         for i in range(102))
        s.send(group)
        for i in range(100):
            s.expect(250, "2.1.5")
        s.expect(452, "4.5.3")
        s.expect(452, "4.5.3")
        body = msg(m)
        qid = s.data(body + b".\r\n")
    assert_text("catchall.example/cat", qid, body)
    deadline = time.time() + 5
    while time.time() < deadline and "%s: client=" % qid not in srv.log():
        time.sleep(0.05)
    line = [x for x in srv.log().splitlines() if "%s: client=" % qid in x]
    assert line and " nrcpt=100 " in line[0], line


@r.test
def max_errors_421_and_close():
    with Sess(errs) as s:
        s.cmd(b"FOO", 500, "5.5.2")
        s.cmd(b"RCPT TO:<alice@example.com>", 503, "5.5.1")
        s.cmd(b"NOOP", 250)
        s.cmd(b"BAR", 500, "5.5.2")
        s.expect(421, "4.7.0")
        s.assert_closed()


@r.test
def max_errors_counts_refused_recipients():
    with Sess(errs) as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        s.cmd(b"RCPT TO:<nosuch@example.com>", 550)
        s.cmd(b"RCPT TO:<x@elsewhere.test>", 554)
        s.cmd(b"RCPT TO:<frank@example.com>", 550)
        s.expect(421, "4.7.0")
        s.assert_closed()


@r.test
def max_errors_not_reached_by_4xx():
    with Sess(errs) as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        for _ in range(5):
            s.cmd(b"RCPT TO:<erin@example.com>", 450, "4.2.1")
        s.cmd(b"NOOP", 250)


@r.test
def timeout_idle_client_421_closed():
    with Sess(slow, ehlo=False) as s:
        start = time.time()
        s.expect(421, "4.4.2")
        s.assert_closed()
        took = time.time() - start
    assert 0.8 <= took <= 4, took


@r.test
def timeout_after_ehlo_421_closed():
    with Sess(slow) as s:
        s.transaction()
        start = time.time()
        s.expect(421, "4.4.2")
        s.assert_closed()
        assert 0.8 <= time.time() - start <= 4


@r.test
def timeout_stalled_data_closed_nothing_queued():
    m = marker("stalled")
    with Sess(slow) as s:
        s.transaction()
        s.cmd(b"DATA", 354)
        start = time.time()
        s.send(msg(m) + b"partial line")
        s.expect(421, "4.4.2")
        s.assert_closed()
        assert 0.8 <= time.time() - start <= 4
    nowhere(m, slow)


@r.test
def timeout_is_reset_by_activity():
    with Sess(slow) as s:
        start = time.time()
        while time.time() - start < 2.5:
            time.sleep(0.3)
            s.cmd(b"NOOP", 250)
        s.cmd(b"QUIT", 221)


# ---- SMTP smuggling: only CRLF.CRLF ends DATA ----

def smuggle(tag, sep):
    """After DATA, a first message whose 'end' is sep, then a pipelined
    second transaction, then the real CRLF.CRLF. One 5xx must answer the
    whole thing and neither message may be delivered."""
    m1, m2 = marker(tag + "-first"), marker(tag + "-smuggled")
    payload = (b"Subject: " + m1 + b"\r\n\r\nfirst part" + sep +
               b"MAIL FROM:<attacker@remote.test>\r\n"
               b"RCPT TO:<bob@example.com>\r\n"
               b"DATA\r\n"
               b"Subject: " + m2 + b"\r\n\r\nsmuggled\r\n"
               b".\r\n")
    with Sess() as s:
        s.transaction()
        s.cmd(b"DATA", 354)
        s.send(payload)
        s.send(b"QUIT\r\n")
        codes = s.until_eof()
    assert len(codes) == 2 and 500 <= codes[0] < 600 and codes[1] == 221, \
        codes
    nowhere(m1)
    nowhere(m2)


@r.test
def smuggling_lf_dot_lf():
    smuggle("lf-dot-lf", b"\n.\n")


@r.test
def smuggling_cr_dot_cr():
    smuggle("cr-dot-cr", b"\r.\r")


@r.test
def smuggling_crlf_dot_lf():
    smuggle("crlf-dot-lf", b"\r\n.\n")


@r.test
def smuggling_lf_dot_crlf():
    smuggle("lf-dot-crlf", b"\n.\r\n")


@r.test
def smuggling_nul_byte():
    smuggle("nul", b"\r\n\x00.\r\n")


@r.test
def smuggling_cr_dot_crlf():
    smuggle("cr-dot-crlf", b"\r.\r\n")


@r.test
def nul_byte_in_text_554():
    m = marker("nul")
    with Sess() as s:
        s.transaction()
        s.cmd(b"DATA", 354)
        s.send(msg(m, b"a\x00b\r\n") + b".\r\n")
        s.expect(554, "5.6.0")
        s.cmd(b"NOOP", 250)
    nowhere(m)


# ---- DATA transparency and body types ----

@r.test
def dot_stuffing_removed():
    m = marker("dots")
    sent = (b"Subject: " + m + b"\r\n\r\n"
            b"..x\r\n"
            b".y\r\n"
            b"..\r\n"
            b". \r\n"
            b"...\r\n"
            b"a.b\r\n")
    want = (b"Subject: " + m + b"\r\n\r\n"
            b".x\r\n"
            b"y\r\n"
            b".\r\n"
            b" \r\n"
            b"..\r\n"
            b"a.b\r\n")
    with Sess() as s:
        s.transaction()
        qid = s.data(sent + b".\r\n")
    assert_text("example.com/alice", qid, want)


@r.test
def empty_message_delivered():
    with Sess() as s:
        s.transaction(rcpts=(b"bob@example.com",))
        qid = s.data(b".\r\n")
    path = assert_text("example.com/bob", qid, b"")
    assert os.path.getsize(path) > 0


@r.test
def eightbitmime_body_arrives_intact():
    m = marker("8bit")
    high = bytes(b for b in range(0x80, 0x100))
    body = (b"Subject: " + m + b"\r\nContent-Type: text/plain; "
            b"charset=latin1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
            high[:64] + b"\r\n" + high[64:] + b"\r\n" +
            "Grüße, ½ € ✓\r\n".encode("utf-8") +
            bytes(range(1, 10)) + bytes(range(11, 13)) +
            bytes(range(14, 32)) + b"\x7f\r\n")
    with Sess() as s:
        s.transaction(mail_opts=b" BODY=8BITMIME")
        qid = s.data(body + b".\r\n")
    assert_text("example.com/alice", qid, body)


@r.test
def body_7bit_accepted():
    m = marker("7bit")
    with Sess() as s:
        s.transaction(mail_opts=b" BODY=7BIT SIZE=500")
        qid = s.data(msg(m) + b".\r\n")
    assert_text("example.com/alice", qid, msg(m))


@r.test
def body_binarymime_555():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test> BODY=BINARYMIME", 555, "5.5.4")
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)


@r.test
def unknown_mail_parameter_555():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test> FOO=bar", 555, "5.5.4")
        s.cmd(b"MAIL FROM:<a@remote.test> SIZE=10 XYZZY", 555, "5.5.4")
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)


@r.test
def rcpt_parameter_555():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        s.cmd(b"RCPT TO:<alice@example.com> NOTIFY=NEVER", 555, "5.5.4")
        s.cmd(b"RCPT TO:<alice@example.com>", 250)


# ---- SMTPUTF8 ----

@r.test
def smtputf8_sender_accepted():
    sender = "jösé@remote.test".encode("utf-8")
    m = marker("utf8")
    body = msg(m, "Ünïcödé body\r\n".encode("utf-8"))
    with Sess() as s:
        s.transaction(sender=sender, mail_opts=b" SMTPUTF8 BODY=8BITMIME")
        qid = s.data(body + b".\r\n")
    path = assert_text("example.com/alice", qid, body)
    data = open(path, "rb").read()
    assert data.startswith(b"Return-Path: <" + sender + b">\r\n"), data[:80]
    assert b" with UTF8SMTP id " in data, data[:300]


@r.test
def smtputf8_recipient_with_parameter_routed():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test> SMTPUTF8", 250)
        # Syntax accepted; the address is simply not a user here.
        s.cmd("ålice@example.com".join(["RCPT TO:<", ">"]).encode("utf-8"),
              550, "5.1.1")


@r.test
def utf8_sender_without_smtputf8_553():
    with Sess() as s:
        s.cmd("MAIL FROM:<jösé@remote.test>".encode("utf-8"), 553, "5.6.7")
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)


@r.test
def utf8_recipient_without_smtputf8_553():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        s.cmd("RCPT TO:<ålice@example.com>".encode("utf-8"), 553, "5.6.7")
        s.cmd(b"RCPT TO:<alice@example.com>", 250)


# ---- BDAT (CHUNKING) ----

@r.test
def bdat_one_chunk_last():
    m = marker("bdat1")
    body = msg(m)
    with Sess() as s:
        s.transaction()
        s.send(b"BDAT %d LAST\r\n" % len(body) + body)
        qid = qid_of(s.expect(250, "2.0.0"))
        s.cmd(b"NOOP", 250)
    assert_text("example.com/alice", qid, body)


@r.test
def bdat_several_chunks_byte_identical():
    m = marker("bdatN")
    # Dots at line starts stay (no stuffing in BDAT); chunks split lines
    # and even CRLF pairs.
    body = (b"Subject: " + m + b"\r\n\r\n.leading dot\r\n..two\r\n.\r\n"
            b"last line\r\n") + b"q" * 300 + b"\r\n"
    cuts = [0, 7, 30, 31, 45, 46, 200, len(body)]
    with Sess() as s:
        s.transaction()
        total = 0
        for a, b in zip(cuts, cuts[1:-1] + [None]):
            chunk = body[a:b]
            total += len(chunk)
            if b is None:
                s.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
                qid = qid_of(s.expect(250, "2.0.0"))
            else:
                s.send(b"BDAT %d\r\n" % len(chunk) + chunk)
                text = s.expect(250, "2.0.0")
                assert ("%d octets" % total) in text, (total, text)
    assert_text("example.com/alice", qid, body)


@r.test
def bdat_chunks_pipelined_in_one_write():
    m = marker("bdat-pipe")
    body = msg(m, b"second line\r\n")
    half = len(body) // 2
    with Sess(ehlo=False) as s:
        s.send(b"EHLO c.remote.test\r\nMAIL FROM:<a@remote.test>\r\n"
               b"RCPT TO:<alice@example.com>\r\n"
               b"BDAT %d\r\n" % half + body[:half] +
               b"BDAT %d LAST\r\n" % (len(body) - half) + body[half:] +
               b"QUIT\r\n")
        codes = []
        texts = []
        for _ in range(6):
            code, text = s.reply()
            codes.append(code)
            texts.append(text)
        assert codes == [250, 250, 250, 250, 250, 221], (codes, texts)
        s.assert_closed()
    assert_text("example.com/alice", qid_of(texts[4]), body)


@r.test
def bdat_zero_last_ends_message():
    m = marker("bdat0")
    body = msg(m)
    with Sess(timeout=3) as s:
        s.transaction()
        s.send(b"BDAT %d\r\n" % len(body) + body)
        s.expect(250, "2.0.0")
        s.send(b"BDAT 0 LAST\r\n")
        qid = qid_of(s.expect(250, "2.0.0"))
    assert_text("example.com/alice", qid, body)


@r.test
def bdat_zero_last_alone_is_an_empty_message():
    with Sess(timeout=3) as s:
        s.transaction(rcpts=(b"bob@example.com",))
        s.send(b"BDAT 0 LAST\r\n")
        qid = qid_of(s.expect(250, "2.0.0"))
    assert_text("example.com/bob", qid, b"")


@r.test
def bdat_over_size_limit_552_in_sync():
    m = marker("bdat-big")
    body = sized_body(m, SIZE_LIMIT + 1000)
    with Sess() as s:
        s.transaction()
        s.send(b"BDAT %d LAST\r\n" % len(body) + body + b"NOOP\r\n")
        s.expect(552, "5.3.4")
        s.expect(250)
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
    nowhere(m)


@r.test
def bdat_before_mail_503_chunk_consumed():
    with Sess() as s:
        s.send(b"BDAT 6\r\nQUIT\r\n")
        s.expect(503, "5.5.1")
        s.cmd(b"NOOP", 250)
        s.send(b"BDAT 12 LAST\r\nRSET\r\nQUIT\r\n")
        s.expect(503, "5.5.1")
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)


@r.test
def bdat_after_failed_rcpts_554():
    m = marker("bdat-norcpt")
    chunk = msg(m)
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        s.cmd(b"RCPT TO:<nosuch@example.com>", 550)
        s.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        s.expect(554, "5.5.1")
        s.cmd(b"NOOP", 250)
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
    nowhere(m)


@r.test
def bdat_then_data_503():
    m = marker("bdat-data")
    chunk = msg(m)
    with Sess() as s:
        s.transaction()
        s.send(b"BDAT %d\r\n" % len(chunk) + chunk)
        s.expect(250, "2.0.0")
        s.cmd(b"DATA", 503, "5.5.1")
        s.cmd(b"MAIL FROM:<b@remote.test>", 503, "5.5.1")
        s.cmd(b"RSET", 250)
        s.cmd(b"QUIT", 221)
    nowhere(m)


@r.test
def bdat_bare_lf_refused():
    m = marker("bdat-lf")
    chunk = b"Subject: " + m + b"\r\n\r\nbare\nlf\r\n"
    with Sess() as s:
        s.transaction()
        s.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        s.expect(554, "5.5.2")
        s.cmd(b"NOOP", 250)
    nowhere(m)


# ---- address syntax ----

@r.test
def source_route_accepted_and_ignored():
    m = marker("route")
    with Sess() as s:
        s.cmd(b"MAIL FROM:<@relay.test:a@remote.test>", 250, "2.1.0")
        s.cmd(b"RCPT TO:<@a.test,@b.test:alice@example.com>", 250, "2.1.5")
        qid = s.data(msg(m) + b".\r\n")
    path = assert_text("example.com/alice", qid, msg(m))
    assert open(path, "rb").read().startswith(
        b"Return-Path: <a@remote.test>\r\n")


@r.test
def quoted_local_part_delivered():
    m = marker("quoted")
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        s.cmd(b'RCPT TO:<"alice"@example.com>', 250, "2.1.5")
        qid = s.data(msg(m) + b".\r\n")
    assert_text("example.com/alice", qid, msg(m))


@r.test
def quoted_local_part_with_space_is_syntax_ok():
    with Sess() as s:
        s.cmd(b'MAIL FROM:<"john doe"@remote.test>', 250)
        s.cmd(b'RCPT TO:<"john doe"@example.com>', 550, "5.1.1")
        s.cmd(b'RCPT TO:<"a\\"b"@example.com>', 550, "5.1.1")


@r.test
def local_part_64_ok_65_501():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        s.cmd(b"RCPT TO:<" + b"l" * 64 + b"@example.com>", 550, "5.1.1")
        s.cmd(b"RCPT TO:<" + b"l" * 65 + b"@example.com>", 501)
        s.cmd(b"RCPT TO:<alice@example.com>", 250)
        s.cmd(b"RSET", 250)
        s.cmd(b"MAIL FROM:<" + b"l" * 65 + b"@remote.test>", 501)


@r.test
def missing_brackets_501():
    with Sess() as s:
        s.cmd(b"MAIL FROM:a@remote.test", 501)
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        s.cmd(b"RCPT TO:alice@example.com", 501)
        s.cmd(b"RCPT TO:<alice@example.com", 501)
        s.cmd(b"RCPT TO:<>", 501)
        s.cmd(b"RCPT TO:<alice@example.com>", 250)


@r.test
def bad_address_syntax_501():
    with Sess() as s:
        s.cmd(b"MAIL FROM:<a@remote.test>", 250)
        for bad in (b"<alice>", b"<@example.com>", b"<alice@>",
                    b"<alice@-bad.example>", b"<a..b@example.com>",
                    b"<.a@example.com>", b"<alice@exa mple.com>",
                    b"<alice@example..com>"):
            s.cmd(b"RCPT TO:" + bad, 501)
        s.cmd(b"NOOP", 250)


r.finish(srv, errs, slow)
