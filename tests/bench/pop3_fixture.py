#!/usr/bin/env python3
"""Fixture and helpers of tests/bench/pop3_bench.sh (a benchmark, never a
test): the shared harness's 1,001 accounts and pre-filled maildirs
(../shared/bench/load/mailfixture.py, under $BENCH_ROOT) served by vdmaild
and by a private Dovecot instance, both with the same {SSHA} passwords.

  pop3_fixture.py vdmail  --users-file U --vmail SRC --out W
      W/etc/{domains,addresses,users,passwords}.txt (for vdctl cdb build-all)
      and W/store/DOMAIN/LOCAL/{cur,new,tmp}: a copy of every fixture message
      with CRLF line ends (vdmail's store format; it sends the file as it
      is), named BASE,S=<CRLF size>:2,S.
  pop3_fixture.py dovecot --users-file U --vmail SRC --out W --conf C
                          --label L --port P --uid N --gid N [--tuned]
      W/L/passwd (passwd-file, same {SSHA} hashes), W/L/vmail/... (hard
      links to the fixture files, named BASE:2,S), W/L/dovecot.conf: the
      harness's dovecot.conf (or dovecot-tuned.conf) with its own
      base_dir/state_dir/instance/log, POP3 only, on 127.0.0.1:P.
  pop3_fixture.py warm --port P --users-file U [--threads 8] [--budget 300]
      one session per account (USER, PASS, STAT, RETR 1, QUIT): Dovecot
      builds its index files, both get the files in the page cache. Prints
      JSON with counts and the SHA-256 of u0000's RETR 1 (both servers must
      send the same bytes).

Both copies start with every message already seen (flag S), so a RETR
changes no mailbox state; the harness's own load reaches the same state
after a few sessions per account. The salt of each {SSHA} hash is 8 bytes
derived from the address (deterministic).
"""
import argparse
import base64
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import time


def users_of(path):
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 2:
                out.append((p[0], p[1]))
    return out


def ssha(addr, pw):
    salt = hashlib.sha256(b"pop3-bench:" + addr.encode()).digest()[:8]
    digest = hashlib.sha1(pw.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def fixture_msgs(vmail, addr):
    """[(base, path)] of the account's messages in the harness's maildir."""
    lp, dom = addr.split("@")
    out = []
    for sub in ("cur", "new"):
        d = os.path.join(vmail, dom, lp, sub)
        if not os.path.isdir(d):
            continue
        for fn in sorted(os.listdir(d)):
            if fn.startswith("."):
                continue
            out.append((fn.split(":", 1)[0], os.path.join(d, fn)))
    return out


def mkmaildir(path, uid=None, gid=None):
    for sub in ("", "cur", "new", "tmp"):
        p = os.path.join(path, sub)
        os.makedirs(p, exist_ok=True)
        if uid is not None:
            os.chown(p, uid, gid)


def cmd_vdmail(a):
    users = users_of(a.users_file)
    etc = os.path.join(a.out, "etc")
    store = os.path.join(a.out, "store")
    os.makedirs(etc, exist_ok=True)
    doms = sorted({u.split("@")[1] for u, _ in users})
    with open(os.path.join(etc, "domains.txt"), "w") as f:
        for d in doms:
            f.write("%s status=active\n" % d)
    with open(os.path.join(etc, "addresses.txt"), "w") as f:
        for u, _ in users:
            f.write("%s user=%s\n" % (u, u))
    with open(os.path.join(etc, "users.txt"), "w") as f:
        for u, _ in users:
            f.write("%s status=active\n" % u)   # mailbox: DOMAIN/LOCAL
    with open(os.path.join(etc, "passwords.txt"), "w") as f:
        for u, pw in users:
            f.write("%s %s\n" % (u, ssha(u, pw)))
    n = 0
    for u, _ in users:
        lp, dom = u.split("@")
        md = os.path.join(store, dom, lp)
        mkmaildir(md)
        for base, path in fixture_msgs(a.vmail, u):
            with open(path, "rb") as f:
                data = f.read()
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            base = re.sub(r",S=\d+", "", base) + ",S=%d" % len(data)
            with open(os.path.join(md, "cur", base + ":2,S"), "wb") as f:
                f.write(data)
            n += 1
    print(json.dumps({"vdmail_accounts": len(users), "messages": n}))


DOVECOT_SUBST = [
    (r"(?m)^base_dir = .*$", "base_dir = {d}/run"),
    (r"(?m)^state_dir = .*$", "state_dir = {d}/lib"),
    (r"(?m)^instance_name = .*$", "instance_name = pop3bench-{label}"),
    (r"(?m)^protocols = .*$", "protocols = pop3"),
    (r"(?m)^log_path = .*$", "log_path = {d}/dovecot.log"),
    (r"(?m)^mail_location = .*$", "mail_location = maildir:{d}/vmail/%d/%n"),
    (r"(?m)^(\s*args = )scheme=\S+ (username_format=%u) \S+$",
     r"\1scheme=SSHA \2 {d}/passwd"),
    (r"(?m)^(\s*args = )(username_format=%u) \S+$", r"\1\2 {d}/passwd"),
]


def cmd_dovecot(a):
    users = users_of(a.users_file)
    d = os.path.join(a.out, a.label)
    if os.path.exists(d):
        shutil.rmtree(d)
    for sub in ("run", "lib"):
        os.makedirs(os.path.join(d, sub))
    os.chmod(a.out, 0o755)
    os.chmod(d, 0o755)
    vm = os.path.join(d, "vmail")
    os.makedirs(vm)
    os.chown(vm, a.uid, a.gid)
    n = 0
    with open(os.path.join(d, "passwd"), "w") as f:
        for u, pw in users:
            lp, dom = u.split("@")
            home = os.path.join(vm, dom, lp)
            f.write("%s:%s:%d:%d::%s::\n" % (u, ssha(u, pw), a.uid, a.gid, home))
            dd = os.path.join(vm, dom)
            if not os.path.isdir(dd):
                os.makedirs(dd)
                os.chown(dd, a.uid, a.gid)
            mkmaildir(home, a.uid, a.gid)
            for base, path in fixture_msgs(a.vmail, u):
                os.link(path, os.path.join(home, "cur", base + ":2,S"))
                n += 1
    try:
        import grp
        os.chown(os.path.join(d, "passwd"), 0, grp.getgrnam("dovecot").gr_gid)
        os.chmod(os.path.join(d, "passwd"), 0o640)
    except KeyError:
        pass
    conf = open(a.conf).read()
    for pat, rep in DOVECOT_SUBST:
        conf, k = re.subn(pat, rep.replace("{d}", d).replace("{label}", a.label), conf)
        if k == 0:
            sys.exit("dovecot.conf: no line matches %r (harness changed?)" % pat)
    # listeners: POP3 on our port; IMAP is not served (protocols = pop3)
    conf, k = re.subn(r"(inet_listener pop3 \{\s*address = 127\.0\.0\.1\s*port = )\d+",
                      r"\g<1>%d" % a.port, conf)
    if k != 1:
        sys.exit("dovecot.conf: no pop3 listener found")
    conf = re.sub(r"(inet_listener imap \{\s*address = 127\.0\.0\.1\s*port = )\d+",
                  r"\g<1>0", conf)
    with open(os.path.join(d, "dovecot.conf"), "w") as f:
        f.write("# pop3_bench.sh: derived from %s\n" % a.conf + conf)
    print(json.dumps({"dovecot": a.label, "accounts": len(users), "links": n,
                      "conf": os.path.join(d, "dovecot.conf")}))


# ---------------------------------------------------------------- warm-up
class Pop:
    def __init__(self, port, timeout):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.s.makefile("rb")

    def line(self):
        ln = self.f.readline(4096)
        if not ln.startswith(b"+OK"):
            raise RuntimeError("pop3 %r" % ln[:100])
        return ln

    def cmd(self, c):
        self.s.sendall(c + b"\r\n")
        return self.line()

    def multi(self, c):
        self.cmd(c)
        out = bytearray()
        for _ in range(1000000):
            ln = self.f.readline(1 << 16)
            if not ln:
                raise RuntimeError("eof in multi-line")
            if ln == b".\r\n":
                return bytes(out)
            out += ln
        raise RuntimeError("multi-line too long")

    def close(self):
        self.s.close()


def one_session(port, user, pw, timeout):
    p = Pop(port, timeout)
    try:
        p.line()
        p.cmd(b"USER " + user.encode())
        p.cmd(b"PASS " + pw.encode())
        n = int(p.cmd(b"STAT").split()[1])
        body = p.multi(b"RETR 1") if n else b""
        p.cmd(b"QUIT")
        return n, body
    finally:
        p.close()


def cmd_warm(a):
    users = [u for u in users_of(a.users_file) if not u[0].startswith("sink@")]
    deadline = time.monotonic() + a.budget
    ok, errs, msgs, first = 0, [], 0, None

    def job(u):
        if time.monotonic() > deadline:
            raise RuntimeError("warm-up budget exhausted")
        return one_session(a.port, u[0], u[1], a.timeout)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(a.threads) as ex:
        for u, fut in [(u, ex.submit(job, u)) for u in users]:
            try:
                n, body = fut.result(timeout=max(1, deadline - time.monotonic() + a.timeout))
                ok += 1
                msgs += n
                if u[0].startswith("u0000@"):
                    first = (len(body), hashlib.sha256(body).hexdigest())
            except Exception as e:  # noqa: BLE001 - counted and shown
                errs.append("%s: %r" % (u[0], e))
    print(json.dumps({"port": a.port, "sessions_ok": ok, "errors": len(errs),
                      "err_samples": errs[:3], "messages_seen": msgs,
                      "u0000_retr1_bytes": first[0] if first else None,
                      "u0000_retr1_sha256": first[1] if first else None,
                      "seconds": round(time.monotonic() - t0, 1)}))
    return 0 if not errs else 1


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="cmd", required=True)
    v = sp.add_parser("vdmail")
    v.add_argument("--users-file", required=True)
    v.add_argument("--vmail", required=True)
    v.add_argument("--out", required=True)
    d = sp.add_parser("dovecot")
    d.add_argument("--users-file", required=True)
    d.add_argument("--vmail", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--conf", required=True)
    d.add_argument("--label", required=True)
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--uid", type=int, required=True)
    d.add_argument("--gid", type=int, required=True)
    w = sp.add_parser("warm")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--users-file", required=True)
    w.add_argument("--threads", type=int, default=8)
    w.add_argument("--timeout", type=float, default=15)
    w.add_argument("--budget", type=float, default=300)
    a = p.parse_args()
    return {"vdmail": cmd_vdmail, "dovecot": cmd_dovecot, "warm": cmd_warm}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
