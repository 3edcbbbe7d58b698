"""TLS: STARTTLS and implicit TLS through BearSSL, the certificate chosen by
SNI, TLS 1.2 with ECDHE and AEAD only, the plaintext-injection rule of
RFC 3207 section 4, handshake limits and certificate reload on SIGHUP."""
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from harness import (DEMO_TABLES, HOSTNAME, Runner, Server, cert_dir,  # noqa
                     client_tls, make_cert, read_reply)

warnings.simplefilter("ignore", DeprecationWarning)
r = Runner("starttls")
srv = Server(DEMO_TABLES, implicit_tls=True, sni=("example.net",),
             config="timeout_tls = 2")


def peer_cn(sock):
    der = sock.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                          "-subject"], input=der, capture_output=True,
                         timeout=10)
    return out.stdout.decode().strip().split("CN = ")[-1]


def starttls(server_hostname=None):
    """STARTTLS sending server_hostname as SNI (None: no SNI at all)."""
    s = srv.smtp()
    s.ehlo("client.test")
    # smtplib takes the SNI name from its connect host; an IP sends none.
    s._host = server_hostname or "127.0.0.1"
    s.starttls(context=client_tls())
    return s


@r.test
def certificate_by_sni():
    for sni, cn in (("example.net", "example.net"),
                    ("mx.example.net", "example.net"),
                    ("EXAMPLE.NET", "example.net"),
                    (HOSTNAME, HOSTNAME), ("unknown.test", HOSTNAME),
                    (None, HOSTNAME)):
        s = starttls(sni)
        assert peer_cn(s.sock) == cn, (sni, peer_cn(s.sock))
        assert s.sock.version() == "TLSv1.2", s.sock.version()
        s.quit()


@r.test
def mail_over_starttls_is_marked():
    s = starttls("example.net")
    code, caps = s.ehlo("client.test")
    assert code == 250 and b"STARTTLS" not in caps, caps
    s.sendmail("tls@remote.test", ["alice@example.com"],
               "Message-ID: <tls-1@test>\r\n\r\nover TLS\r\n")
    s.quit()
    for path in srv.wait_messages("example.com/alice", 1):
        data = open(path, "rb").read()
        if b"<tls-1@test>" in data:
            assert b"with ESMTPS id" in data, data[:400]
            assert b"(using TLSv1.2 with cipher ECDHE-" in data, data[:400]
            return
    raise AssertionError("message not delivered")


@r.test
def implicit_tls_listener():
    with smtplib.SMTP_SSL("127.0.0.1", srv.tls_port, timeout=10,
                          context=client_tls()) as s:
        assert s.sock.version() == "TLSv1.2"
        code, caps = s.ehlo("client.test")
        assert b"STARTTLS" not in caps
        s.sendmail("tls@remote.test", ["bob@example.com"],
                   "Message-ID: <tls-2@test>\r\n\r\nimplicit\r\n")
    assert len(srv.wait_messages("example.com/bob", 1)) == 1


def handshake_fails(ctx):
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), 10)
    try:
        ctx.wrap_socket(raw, server_hostname="x.test").close()
        return False
    except (ssl.SSLError, OSError):
        return True
    finally:
        raw.close()


@r.test
def old_protocols_refused():
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        ctx = client_tls()
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = version
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        assert handshake_fails(ctx), version


@r.test
def weak_ciphers_refused():
    for ciphers in ("AES128-SHA", "ECDHE-ECDSA-AES128-SHA",
                    "ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256"):
        ctx = client_tls()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        assert handshake_fails(ctx), ciphers
    ctx = client_tls()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305")
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), 10)
    tls = ctx.wrap_socket(raw, server_hostname="x.test")
    assert "CHACHA20" in tls.cipher()[0]
    tls.close()


@r.test
def starttls_rules():
    s, f = srv.raw()
    s.sendall(b"EHLO x\r\nSTARTTLS now\r\n")
    read_reply(f)
    code, _ = read_reply(f)
    assert code == 501, code
    s.sendall(b"MAIL FROM:<a@remote.test>\r\nSTARTTLS\r\n")
    read_reply(f)
    code, _ = read_reply(f)
    assert code == 503, code
    s.close()
    s = starttls("example.net")
    code, msg = s.docmd("STARTTLS")
    assert code == 503, (code, msg)
    s.close()


def injection(pipelined):
    """STARTTLS with a command pipelined behind it in the same write."""
    raw, f = srv.raw()
    raw.sendall(b"EHLO x\r\n")
    read_reply(f)
    raw.sendall(b"STARTTLS\r\n" + pipelined)
    code, _ = read_reply(f)
    assert code == 220, code
    tls = client_tls().wrap_socket(raw, server_hostname="example.net")
    tf = tls.makefile("rb")
    tls.sendall(b"NOOP first-after-tls\r\n")
    code, text = read_reply(tf)
    # The first reply after the handshake must be the NOOP's, not the
    # answer to the command injected before it.
    assert code == 250 and "Ok" in text, (code, text)
    tls.sendall(b"QUIT\r\n")
    code, _ = read_reply(tf)
    assert code == 221
    tls.close()


@r.test
def starttls_injection_is_discarded():
    injection(b"RSET\r\n")
    injection(b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<alice@example.com>"
              b"\r\n")
    # The injected MAIL was forgotten: a RCPT now needs MAIL first.
    s = starttls("example.net")
    s.ehlo("x")
    code, _ = s.docmd("RCPT TO:<alice@example.com>")
    assert code == 503, code
    s.close()


@r.test
def handshake_timeout_and_garbage():
    start = time.time()
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), 10)
    raw.settimeout(10)
    assert raw.recv(100) == b""  # closed by timeout_tls = 2
    assert time.time() - start < 8
    raw.close()
    raw = socket.create_connection(("127.0.0.1", srv.tls_port), 10)
    raw.settimeout(10)
    raw.sendall(os.urandom(600))
    try:
        rest = raw.recv(1000)
        while rest:
            rest = raw.recv(1000)
    except ConnectionResetError:
        pass
    raw.close()
    # The server is fine afterwards.
    s = starttls("example.net")
    s.quit()


@r.test
def no_certificate_no_starttls():
    plain = Server(DEMO_TABLES, tls=False)
    try:
        with plain.smtp() as s:
            code, caps = s.ehlo("x")
            assert b"STARTTLS" not in caps
            code, _ = s.docmd("STARTTLS")
            assert code == 454, code
    finally:
        plain.stop()
        plain.cleanup()


@r.test
def sighup_reloads_certificates():
    # Replace the default certificate with a new one, then SIGHUP.
    conf = open(srv.conf).read()
    cert = [l.split("= ")[1] for l in conf.splitlines()
            if l.startswith("tls_cert")][0]
    key = [l.split("= ")[1] for l in conf.splitlines()
           if l.startswith("tls_key")][0]
    saved = (open(cert, "rb").read(), open(key, "rb").read())
    fresh = os.path.join(srv.dir, "fresh")
    os.makedirs(fresh)
    c2, k2 = make_cert(fresh, "renewed.test")
    try:
        shutil.copy(c2, cert)
        shutil.copy(k2, key)
        srv.reload()
        deadline = time.time() + 10
        cn = None
        while time.time() < deadline:
            s = starttls(None)
            cn = peer_cn(s.sock)
            s.quit()
            if cn == "renewed.test":
                break
            time.sleep(0.1)
        assert cn == "renewed.test", cn
        # A bad file and SIGHUP: the certificate in service stays.
        with open(cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\ngarbage\n")
        srv.reload()
        assert srv.wait_log("configuration kept")
        s = starttls(None)
        assert peer_cn(s.sock) == "renewed.test"
        s.quit()
    finally:
        open(cert, "wb").write(saved[0])
        open(key, "wb").write(saved[1])


@r.test
def rsa_certificates_work_too():
    d = os.path.join(srv.dir, "rsa")
    os.makedirs(d)
    cert, key = make_cert(d, "rsa.example", rsa=True)
    other = Server(DEMO_TABLES, sni=(), config="tls_sni = rsa.example %s %s"
                   % (cert, key))
    try:
        s = other.smtp()
        s.ehlo("x")
        s._host = "rsa.example"
        s.starttls(context=client_tls())
        assert peer_cn(s.sock) == "rsa.example"
        assert s.sock.cipher()[0].startswith("ECDHE-RSA-"), s.sock.cipher()
        s.quit()
    finally:
        other.stop()
        other.cleanup()


@r.test
def mismatched_key_is_refused_at_start():
    d = os.path.join(srv.dir, "mismatch")
    os.makedirs(d)
    c1, _ = make_cert(d, "one.example")
    _, k2 = make_cert(d, "two.example")
    bad = Server(DEMO_TABLES, sni=(), config="tls_sni = one.example %s %s"
                 % (c1, k2), start=False)
    out = subprocess.run([bad.binary, "-t", "-c", bad.conf],
                         capture_output=True, timeout=30)
    assert out.returncode != 0
    assert b"does not match the key" in out.stderr, out.stderr
    bad.cleanup()


r.finish(srv)
