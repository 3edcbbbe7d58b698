#!/usr/bin/env python3
"""Helper of tests/bench/out_bench.sh (the outbound benchmark; a
measurement, never part of `make test`).

  out_bench.py fixture --dir D --ndest N --per K --sink-port P
      writes D/vd/{domains,addresses,users}.txt (vdmaild's tables: out.bench
      with u1 and loader, dD.bench with uK, every user's mailhost 127.0.1.D)
      and D/transport (Postfix: each domain -> smtp:[127.0.1.D]:P).
  out_bench.py flood  --label L --port P --pid PID ... --queue DIR ...
                      --sink FILE --log FILE --conc C --msgs N [--size S]
      smtp-source -s C -m N -l S (one session per message, one recipient
      u1@out.bench) into the server, then waits (bounded) until the sink
      counted N more transactions and the server's queue is empty.
  out_bench.py fanout --label L --port P --pid PID ... --queue DIR ...
                      --sink FILE ... --log FILE --ndest N --per K [--size S]
      one message of S bytes to N*K recipients uK@dD.bench in one
      pipelined SMTP transaction, then waits until the queue is empty and
      the sinks counted at least N more transactions.
  out_bench.py report FILE.jsonl
      the tables: medians over runs, ratios vdmail/postfix.

Both measurements print one JSON line: wall times (t0 = just before the
client connects; accept = every message got its 250; done = first poll,
every 0.01 s, that sees the sinks' counters and an empty queue), the
server's process-tree CPU (procmem.py: utime+stime of the tree, reaped
children included) between t0 and done, peak RSS/PSS sampled every 0.5 s,
the sinks' and the client's CPU, the machine's busy CPU in the window, and
the server log's status=sent/deferred/bounced lines written since t0.
Every wait is bounded (--timeout)."""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pop3_ratio import fmt, med, rng as span  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")
SHARED = os.environ.get("SHARED_BENCH") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "bench")
sys.path.insert(0, os.path.join(SHARED, "load"))
try:
    import procmem  # the shared harness's /proc reader
except ImportError:  # pragma: no cover
    procmem = None


# ---------------------------------------------------------------- fixture
def fixture(a):
    vd = os.path.join(a.dir, "vd")
    os.makedirs(vd, exist_ok=True)
    dom = ["out.bench status=active"]
    adr = ["u1@out.bench user=u1@out.bench", "loader@out.bench user=loader@out.bench"]
    usr = ["u1@out.bench mailhost=127.0.1.1", "loader@out.bench mailhost=127.0.1.1"]
    tr = ["out.bench smtp:[127.0.1.1]:%d" % a.sink_port]
    for d in range(1, a.ndest + 1):
        dom.append("d%d.bench status=active" % d)
        tr.append("d%d.bench smtp:[127.0.1.%d]:%d" % (d, d, a.sink_port))
        for k in range(1, a.per + 1):
            u = "u%d@d%d.bench" % (k, d)
            adr.append("%s user=%s" % (u, u))
            usr.append("%s mailhost=127.0.1.%d" % (u, d))
    for name, lines in (("domains", dom), ("addresses", adr), ("users", usr)):
        with open(os.path.join(vd, name + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    with open(os.path.join(a.dir, "transport"), "w") as f:
        f.write("\n".join(tr) + "\n")


# ---------------------------------------------------------------- probes
SINK_RE = re.compile(rb"mesg=(\d+)")


def sink_count(path):
    """smtp-sink -c writes 'sess=N quit=N mesg=N\\r' after every session
    end, QUIT and '.': the last complete record's mesg."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 256))
            tail = f.read()
    except OSError:
        return 0
    parts = tail.split(b"\r")
    for p in reversed(parts[:-1]):  # parts[-1]: after the last \r, maybe partial
        m = SINK_RE.search(p)
        if m:
            return int(m.group(1))
    return 0


def sinks_count(paths):
    return sum(sink_count(p) for p in paths)


def queue_files(dirs):
    n = 0
    for d in dirs:
        for _, _, files in os.walk(d):
            n += len(files)
    return n


def proc_cpu(pids):
    t = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p, "rb") as f:
                s = f.read()
            fld = s[s.rfind(b")") + 2:].split()
            t += int(fld[11]) + int(fld[12])
        except (OSError, ValueError, IndexError):
            pass
    return t / HZ


def sys_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / HZ


class LogTail:
    """Counts status= lines appended to a log since construction."""
    PAT = {"sent": b"status=sent", "deferred": b"status=deferred",
           "bounced": b"status=bounced"}

    def __init__(self, path):
        self.path = path
        try:
            self.off = os.path.getsize(path)
        except OSError:
            self.off = 0
        self.rest = b""
        self.n = defaultdict(int)
        self.samples = []

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except OSError:
            return self.n
        self.off += len(data)
        data = self.rest + data
        lines = data.split(b"\n")
        self.rest = lines.pop()
        for ln in lines:
            for k, pat in self.PAT.items():
                if pat in ln:
                    self.n[k] += 1
                    if k != "sent" and len(self.samples) < 5:
                        self.samples.append(ln.decode(errors="replace")[:300])
        return self.n


class Monitor(threading.Thread):
    """peak RSS / PSS of the server's process tree, every interval s"""

    def __init__(self, pids, interval=0.5):
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.stop = threading.Event()
        self.peak_rss = self.peak_pss = self.peak_procs = 0

    def sample(self):
        if procmem is None:
            return
        s = procmem.snapshot(self.pids, pss=True)
        self.peak_rss = max(self.peak_rss, s["rss_kb"])
        self.peak_pss = max(self.peak_pss, s.get("pss_kb") or 0)
        self.peak_procs = max(self.peak_procs, s["procs"])

    def run(self):
        while not self.stop.is_set():
            try:
                self.sample()
            except Exception:  # a process vanished mid-read
                pass
            self.stop.wait(self.interval)


def tree_cpu(pids):
    if procmem is None:
        return None
    return procmem.snapshot(pids)["cpu_s"]


# ---------------------------------------------------------------- SMTP client
def smtp_fanout(host, port, sender, rcpts, size, timeout):
    """One pipelined transaction: MAIL, every RCPT and DATA in one write.
    Returns (rcpt replies not 250, final reply)."""
    s = socket.create_connection((host, port), timeout=timeout)
    f = s.makefile("rb")

    def reply():
        lines = []
        while True:
            ln = f.readline()
            if not ln:
                raise RuntimeError("connection closed; so far %r" % lines)
            lines.append(ln.decode(errors="replace").rstrip())
            if len(ln) < 4 or ln[3:4] != b"-":
                return lines[-1]

    r = reply()
    if not r.startswith("220"):
        raise RuntimeError("greeting " + r)
    s.sendall(b"EHLO client.test\r\n")
    r = reply()
    if not r.startswith("250"):
        raise RuntimeError("EHLO " + r)
    cmds = ["MAIL FROM:<%s>" % sender] + ["RCPT TO:<%s>" % x for x in rcpts] + ["DATA"]
    s.sendall(("\r\n".join(cmds) + "\r\n").encode())
    r = reply()
    if not r.startswith("250"):
        raise RuntimeError("MAIL " + r)
    bad = []
    for x in rcpts:
        r = reply()
        if not r.startswith("250"):
            bad.append("%s: %s" % (x, r))
    r = reply()
    if not r.startswith("354"):
        raise RuntimeError("DATA %s (bad rcpts: %s)" % (r, bad[:3]))
    hdr = ("From: <%s>\r\nTo: undisclosed-recipients:;\r\nSubject: fan-out %d\r\n"
           "Message-ID: <%d.%d@client.test>\r\nDate: %s\r\n\r\n" % (
               sender, len(rcpts), os.getpid(), int(time.time() * 1e6),
               time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())))
    line = ("La de da de da %s\r\n" % ("x" * 56)).encode()  # 72 octets
    body = (line * (size // len(line) + 1))[:size - 2] + b"\r\n"
    s.sendall(hdr.encode() + body + b".\r\n")
    final = reply()
    try:
        s.sendall(b"QUIT\r\n")
        reply()
    except (OSError, RuntimeError):
        pass
    s.close()
    return bad, final


# ---------------------------------------------------------------- measure
def wait_done(a, sink_base, sink_target, deadline, queue_first):
    """polls every 0.01 s; the cheaper test first (flood: the one sink's
    counter; fan-out: the queue, before reading every sink's counter)"""
    n = 0
    while time.monotonic() < deadline:
        if queue_first:
            if queue_files(a.queue) == 0:
                n = sinks_count(a.sink) - sink_base
                if n >= sink_target:
                    return True, n
        else:
            n = sinks_count(a.sink) - sink_base
            if n >= sink_target and queue_files(a.queue) == 0:
                return True, n
        time.sleep(0.01)
    return False, sinks_count(a.sink) - sink_base


def measure(a, kind):
    pids = a.pid
    log = LogTail(a.log)
    mon = Monitor(pids)
    sink_base = sinks_count(a.sink)
    q0 = queue_files(a.queue)
    cpu0, sink_cpu0, busy0 = tree_cpu(pids), proc_cpu(a.sink_pid), sys_busy()
    ru0 = os.times()
    mon.start()
    t0 = time.monotonic()
    res = {"label": a.label, "test": a.test, "run": a.run, "kind": kind, "size": a.size,
           "queue_before": q0}
    err = None
    if kind == "flood":
        cmd = [a.smtp_source, "-s", str(a.conc), "-m", str(a.msgs), "-l", str(a.size),
               "-f", a.sender, "-t", a.to, "-M", "client.test", "%s:%d" % (a.host, a.port)]
        res.update(conc=a.conc, msgs=a.msgs, rcpts=a.msgs, cmd=" ".join(cmd))
        try:
            r = subprocess.run(cmd, timeout=a.timeout, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if r.returncode != 0:
                err = "smtp-source rc=%d: %s" % (r.returncode, r.stdout.decode(errors="replace")[-500:])
        except subprocess.TimeoutExpired:
            err = "smtp-source timed out"
        want_sink, want_rcpt = a.msgs, a.msgs
    else:
        rcpts = ["u%d@d%d.bench" % (k, d) for d in range(1, a.ndest + 1)
                 for k in range(1, a.per + 1)]
        res.update(ndest=a.ndest, per=a.per, msgs=1, rcpts=len(rcpts))
        try:
            bad, final = smtp_fanout(a.host, a.port, a.sender, rcpts, a.size, a.timeout)
            res["final_reply"] = final[:120]
            if bad:
                err = "%d RCPT refused, first: %s" % (len(bad), bad[0])
            elif not final.startswith("250"):
                err = "end of DATA: " + final
        except (OSError, RuntimeError) as e:
            err = "client: %s" % e
        want_sink, want_rcpt = a.ndest, len(rcpts)
    t1 = time.monotonic()
    ok, got = wait_done(a, sink_base, want_sink, t0 + a.timeout, kind == "fanout")
    t2 = time.monotonic()
    cpu1, sink_cpu1, busy1 = tree_cpu(pids), proc_cpu(a.sink_pid), sys_busy()
    ru1 = os.times()
    mon.stop.set()
    mon.join(5)
    # the log may trail the sink by a moment (Postfix: postlogd)
    n = log.poll()
    end = time.monotonic() + 10
    while n["sent"] + n["bounced"] < want_rcpt and time.monotonic() < end:
        time.sleep(0.1)
        n = log.poll()
    wall, acc = t2 - t0, t1 - t0
    res.update({
        "error": err, "complete": ok and err is None,
        "accept_s": round(acc, 3), "done_s": round(wall, 3),
        "deliver_after_accept_s": round(t2 - t1, 3),
        "sink_transactions": got, "queue_after": queue_files(a.queue),
        "log_sent": n["sent"], "log_deferred": n["deferred"], "log_bounced": n["bounced"],
        "log_samples": log.samples,
        "msgs_per_s": round(res["msgs"] / wall, 1) if wall > 0 else None,
        "rcpts_per_s": round(res["rcpts"] / wall, 1) if wall > 0 else None,
        "server_cpu_s": round(cpu1 - cpu0, 2) if cpu0 is not None else None,
        "sink_cpu_s": round(sink_cpu1 - sink_cpu0, 2),
        "client_cpu_s": round((ru1.children_user + ru1.children_system) -
                              (ru0.children_user + ru0.children_system) +
                              (ru1.user + ru1.system) - (ru0.user + ru0.system), 2),
        "machine_busy_s": round(busy1 - busy0, 2), "ncpu": os.cpu_count(),
        "peak_rss_kb": mon.peak_rss, "peak_pss_kb": mon.peak_pss, "peak_procs": mon.peak_procs,
    })
    print(json.dumps(res))
    sys.stdout.flush()
    return 0 if res["complete"] else 1


# ---------------------------------------------------------------- report
# med, fmt and span are pop3_ratio.py's (med, fmt, rng)
def report(a):
    every = [json.loads(l) for l in open(a.jsonl) if l.strip()]
    rows = [r for r in every if r["run"] > 0]  # run 0: the warm-up
    tests, labels = [], []
    by = defaultdict(list)
    for r in rows:
        if r["test"] not in tests:
            tests.append(r["test"])
        if r["label"] not in labels:
            labels.append(r["label"])
        by[(r["test"], r["label"])].append(r)
    out = []
    out.append("## Outbound throughput (median over runs; (min..max) when several)")
    out.append("")
    out.append("| test | server | runs ok | msgs/s | rcpts/s | done s | accept s | after accept s | "
               "server CPU ms/msg (sum over runs) | ms/rcpt | peak RSS MiB | peak PSS MiB | procs | "
               "sink CPU s | client CPU s | others % |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    med_of = {}
    for t in tests:
        for l in labels:
            rs = by.get((t, l))
            if not rs:
                continue
            good = [r for r in rs if r.get("complete")]
            use = good or rs
            mps = [r["msgs_per_s"] for r in use]
            rps = [r["rcpts_per_s"] for r in use]
            # CPU: the sum over runs / the messages of every run (the
            # kernel counts in ticks of 10 ms: one fan-out is a few ticks)
            cr = [r for r in use if r["server_cpu_s"] is not None]
            cpu_sum = sum(r["server_cpu_s"] for r in cr)
            cpu_m = 1000.0 * cpu_sum / sum(r["msgs"] for r in cr) if cr else None
            cpu_r = 1000.0 * cpu_sum / sum(r["rcpts"] for r in cr) if cr else None
            oth = []
            for r in use:
                cap = r["done_s"] * r["ncpu"]
                mine = (r["server_cpu_s"] or 0) + r["sink_cpu_s"] + r["client_cpu_s"]
                if cap > 0:
                    oth.append(max(0.0, 100.0 * (r["machine_busy_s"] - mine) / cap))
            med_of[(t, l)] = {"mps": med(mps), "rps": med(rps), "cpu": cpu_m,
                              "rss": med([r["peak_rss_kb"] / 1024.0 for r in use]),
                              "pss": med([r["peak_pss_kb"] / 1024.0 for r in use]),
                              "done": med([r["done_s"] for r in use])}
            out.append("| %s | %s | %d/%d | %s%s | %s | %s%s | %s | %s | %s%s | %s | %s | %s | %s | %s | %s | %s |" % (
                t, l, len(good), len(rs), fmt(med(mps)), span(mps), fmt(med(rps)),
                fmt(med([r["done_s"] for r in use]), 2), span([r["done_s"] for r in use], 2),
                fmt(med([r["accept_s"] for r in use]), 2),
                fmt(med([r["deliver_after_accept_s"] for r in use]), 3),
                fmt(cpu_m, 3), "", fmt(cpu_r, 3),
                fmt(med([r["peak_rss_kb"] / 1024.0 for r in use]), 1),
                fmt(med([r["peak_pss_kb"] / 1024.0 for r in use]), 1),
                fmt(med([r["peak_procs"] for r in use]), 0),
                fmt(med([r["sink_cpu_s"] for r in use]), 2),
                fmt(med([r["client_cpu_s"] for r in use]), 2),
                fmt(med(oth), 0)))
    out.append("")
    out.append("## Ratios vdmail / postfix (throughput: >1 = vdmail faster; CPU and memory: "
               "postfix / vdmail, >1 = vdmail cheaper); aim: throughput >= 5")
    out.append("")
    out.append("| test | throughput vdmail/postfix | CPU per msg postfix/vdmail | "
               "peak RSS postfix/vdmail | peak PSS postfix/vdmail |")
    out.append("|---|---|---|---|---|")

    def ratio(x, y):
        return x / y if x and y else None
    for t in tests:
        v, p = med_of.get((t, "vdmail")), med_of.get((t, "postfix"))
        if not v or not p:
            continue
        out.append("| %s | %s | %s | %s | %s |" % (
            t, fmt(ratio(v["mps"], p["mps"]), 2), fmt(ratio(p["cpu"], v["cpu"]), 2),
            fmt(ratio(p["rss"], v["rss"]), 2), fmt(ratio(p["pss"], v["pss"]), 2)))
    out.append("")
    out.append("## Every run (run 0: the warm-up, not in the tables: a flood of 200 at "
               "concurrency 10, then at once the fan-out, while the flood's outbound "
               "connections are still open and idle)")
    out.append("")
    for r in every:
        out.append("  %-8s %-12s run %s: %s msgs/s (%s rcpts) done %.2fs accept %.2fs "
                   "cpu %s s sink %s/%s tx, log sent=%d deferred=%d bounced=%d queue_after=%d%s" % (
                       r["label"], r["test"], r["run"], fmt(r["msgs_per_s"]), r["rcpts"],
                       r["done_s"], r["accept_s"], r["server_cpu_s"], r["sink_transactions"],
                       r["msgs"] if r["kind"] == "flood" else r["ndest"],
                       r["log_sent"], r["log_deferred"], r["log_bounced"], r["queue_after"],
                       "" if r.get("complete") else "  INCOMPLETE: %s" % r.get("error")))
        for s in r.get("log_samples") or []:
            out.append("      log: " + s)
    print("\n".join(out))


# ---------------------------------------------------------------- main
def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fixture")
    f.add_argument("--dir", required=True)
    f.add_argument("--ndest", type=int, default=100)
    f.add_argument("--per", type=int, default=10)
    f.add_argument("--sink-port", type=int, required=True)
    for name in ("flood", "fanout"):
        m = sub.add_parser(name)
        m.add_argument("--label", required=True)
        m.add_argument("--test", required=True)
        m.add_argument("--run", type=int, default=0)
        m.add_argument("--host", default="127.0.0.1")
        m.add_argument("--port", type=int, required=True)
        m.add_argument("--pid", type=int, action="append", required=True)
        m.add_argument("--queue", action="append", required=True)
        m.add_argument("--sink", action="append", required=True, help="smtp-sink -c output file")
        m.add_argument("--sink-pid", type=int, action="append", default=[])
        m.add_argument("--log", required=True)
        m.add_argument("--size", type=int, default=4096)
        m.add_argument("--sender", default="loader@out.bench")
        m.add_argument("--timeout", type=float, default=600)
        if name == "flood":
            m.add_argument("--conc", type=int, required=True)
            m.add_argument("--msgs", type=int, required=True)
            m.add_argument("--to", default="u1@out.bench")
            m.add_argument("--smtp-source", default=shutil.which("smtp-source") or "/usr/sbin/smtp-source")
        else:
            m.add_argument("--ndest", type=int, default=100)
            m.add_argument("--per", type=int, default=10)
    r = sub.add_parser("report")
    r.add_argument("jsonl")
    a = p.parse_args()
    # SIGTERM (the script stopping) unwinds: subprocess.run kills smtp-source
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if a.cmd == "fixture":
        return fixture(a)
    if a.cmd == "report":
        return report(a)
    return measure(a, a.cmd)


if __name__ == "__main__":
    sys.exit(main() or 0)
