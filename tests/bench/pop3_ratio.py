#!/usr/bin/env python3
"""The tables of tests/bench/pop3_bench.sh: for each server (label) the
median over runs of sessions/s per concurrency, RETR/s and MiB/s, server
CPU per operation, peak RSS/PSS and memory per idle logged-in connection,
and the ratio vdmail / each Dovecot variant; then the noise of every row.

usage: pop3_ratio.py pop3-STAMP.jsonl"""
import json
import statistics
import sys
from collections import defaultdict

MIB = 1048576.0


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=None):
    if x is None:
        return "-"
    if nd is None:
        nd = 0 if abs(x) >= 100 else (1 if abs(x) >= 10 else 2)
    return ("%%.%df" % nd) % x


def rng(xs, nd=None):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return ""
    return " (%s..%s)" % (fmt(min(xs), nd), fmt(max(xs), nd))


def others_pct(srv, res):
    """share of the machine (all cores, the window) that neither the
    server's tree nor the generator used: other people's load"""
    cap = (srv.get("wall_s") or 0) * (srv.get("ncpu") or 0)
    if not cap:
        return None
    used = srv.get("sys_busy_s", 0) + srv.get("sys_nice_s", 0)
    mine = srv.get("cpu_s", 0) + res.get("client_cpu_s", 0)
    return max(0.0, 100.0 * (used - mine) / cap)


def main(path):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    labels = []
    for r in rows:
        if r["label"] not in labels:
            labels.append(r["label"])
    dcs = [l for l in labels if l != "vdmail"]
    m = defaultdict(list)     # (metric, label) -> values over runs
    noise = []
    concs = set()
    retr_conc = None
    for r in rows:
        lab, t = r["label"], r["test"]
        if t == "idle_mem":
            m[("base_pss", lab)].append(r["pss_kb"] / 1024.0)
            m[("base_procs", lab)].append(r["procs"])
            continue
        if t == "idle_pop3_auth":
            n = r["conns"].get("established") or 0
            if n:
                m[("idle_pss", lab)].append((r["held"]["pss_kb"] - r["base"]["pss_kb"]) / n)
                m[("idle_rss", lab)].append((r["held"]["rss_kb"] - r["base"]["rss_kb"]) / n)
                m[("idle_n", lab)].append(n)
                m[("idle_procs", lab)].append(r["held"]["procs"])
            continue
        res, srv = r.get("result") or {}, r.get("server") or {}
        if "per_s" not in res:
            continue
        ops, ps = res["ops"], res["per_s"]
        c = res["conc"]
        if t.startswith("pop3-session"):
            concs.add(c)
            key, op, scale = "sess", "session", 1000.0
        elif t == "pop3-retr":
            retr_conc = c
            key, op, scale = "retr", "retr", 1e6
            m[("mibs", lab)].append(res["payload_mb_s"] * 1e6 / MIB)
        else:
            continue
        m[(key, c, lab)].append(ps.get(op))
        if ops.get(op):
            m[(key + "_cpu", c, lab)].append(scale * srv.get("cpu_s", 0) / ops[op])
        m[(key + "_rss", c, lab)].append(srv.get("peak_rss_kb", 0) / 1024.0)
        m[(key + "_pss", c, lab)].append((srv.get("peak_pss_kb") or 0) / 1024.0)
        m[(key + "_procs", c, lab)].append(srv.get("peak_procs"))
        cap = (srv.get("wall_s") or 0) * (srv.get("ncpu") or 0)
        noise.append((lab, t, c, ps.get(op), res.get("lat_ms", {}).get("login" if op == "session" else op, {}),
                      res.get("client_cpu_s"), srv.get("cpu_s"),
                      100.0 * srv.get("sys_busy_s", 0) / cap if cap else None,
                      others_pct(srv, res), res.get("errors", 0)))

    def line(name, key, nd=None, ratio=True):
        cells = [fmt(med(m[key + (l,)]), nd) + rng(m[key + (l,)], nd) for l in labels]
        rat = []
        for d in dcs:
            a, b = med(m[key + ("vdmail",)]), med(m[key + (d,)])
            rat.append("%.2f" % (a / b) if ratio and a is not None and b else "-")
        print("| %s | %s | %s |" % (name, " | ".join(cells), " | ".join(rat)))

    print("\n## POP3: vdmail beside Dovecot (median of runs, (min..max) over runs)\n")
    print("| metric | " + " | ".join(labels) + " | " +
          " | ".join("vdmail / %s" % d for d in dcs) + " |")
    print("|---|" + "---:|" * (len(labels) + len(dcs)))
    for c in sorted(concs):
        line("sessions/s, %d client%s" % (c, "s" if c > 1 else ""), ("sess", c))
    if retr_conc is not None:
        line("RETR/s, %d clients (one login, RETR loop)" % retr_conc, ("retr", retr_conc))
        line("RETR MiB/s of message data, %d clients" % retr_conc, ("mibs",), 1)
    for c in sorted(concs):
        line("server CPU ms per session, %d client%s" % (c, "s" if c > 1 else ""), ("sess_cpu", c))
    if retr_conc is not None:
        line("server CPU us per RETR, %d clients" % retr_conc, ("retr_cpu", retr_conc))
    cmax = max(concs) if concs else None
    if cmax is not None:
        line("peak RSS sum MiB, sessions at %d" % cmax, ("sess_rss", cmax), 1)
        line("peak PSS sum MiB, sessions at %d" % cmax, ("sess_pss", cmax), 1)
        line("peak processes, sessions at %d" % cmax, ("sess_procs", cmax), 0, False)
    if retr_conc is not None:
        line("peak PSS sum MiB, RETR at %d" % retr_conc, ("retr_pss", retr_conc), 1)
    n_idle = med(m[("idle_n", "vdmail")])
    line("idle logged-in conn: KiB PSS each (%s conns)" % fmt(n_idle, 0), ("idle_pss",), 1)
    line("idle logged-in conn: KiB RSS-sum each", ("idle_rss",), 1)
    line("processes while idle conns held", ("idle_procs",), 0, False)
    line("no clients: PSS sum MiB", ("base_pss",), 1)
    line("no clients: processes", ("base_procs",), 0, False)
    print("\nRatios: above 1 in the rates means vdmail is faster; below 1 in CPU and")
    print("memory means vdmail spends less. Aim: sessions/s and RETR at least 3x Dovecot.")
    for d in dcs:
        parts = []
        for c in sorted(concs):
            a, b = med(m[("sess", c, "vdmail")]), med(m[("sess", c, d)])
            if a and b:
                parts.append("sessions@%d %.2fx" % (c, a / b))
        if retr_conc is not None:
            a, b = med(m[("retr", retr_conc, "vdmail")]), med(m[("retr", retr_conc, d)])
            if a and b:
                parts.append("RETR@%d %.2fx" % (retr_conc, a / b))
        print("  vs %s: %s" % (d, ", ".join(parts)))

    print("\n## Noise, every load run\n")
    print("Machine busy = all cores over the window (server + generator + others);")
    print("others = busy minus the server's tree and the generator (other sessions' tests).\n")
    print("| server | test | conc | rate /s | p50 / p99 ms (login or RETR) | generator CPU s | server CPU s | machine busy | others | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for lab, t, c, rate, lat, ccpu, scpu, busy, oth, err in noise:
        print("| %s | %s | %d | %s | %s / %s | %s | %s | %s%% | %s%% | %s |" % (
            lab, t, c, fmt(rate), fmt(lat.get("p50"), 2), fmt(lat.get("p99"), 1),
            fmt(ccpu), fmt(scpu), fmt(busy, 0), fmt(oth, 0), err))


if __name__ == "__main__":
    main(sys.argv[1])
