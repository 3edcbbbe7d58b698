#!/usr/bin/env python3
"""The short table of tests/bench/smtp_bench.sh: delivered msg/s per
concurrency (median of the runs), peak RSS and PSS, idle memory per 1,000
connections, for each label, and vdmail's ratio to postfix.

usage: ratio.py results.jsonl"""
import json
import statistics
import sys
from collections import defaultdict


def main(path):
    rate = defaultdict(list)          # (label, conc) -> [msg/s]
    cpu = defaultdict(list)           # (label, conc) -> [server ms/msg]
    peak = defaultdict(list)          # (label, conc) -> [(rss, pss) MiB]
    idle = defaultdict(list)          # label -> [KiB per 1,000 conns]
    for line in open(path):
        d = json.loads(line)
        label = d.get("label")
        if d.get("test") == "smtp":
            res, srv = d["result"], d["server"]
            if not res.get("complete"):
                continue
            key = (label, res["conc"])
            rate[key].append(res["deliver_per_s"])
            cpu[key].append(1000.0 * srv["cpu_s"] / res["msgs"])
            peak[key].append((srv["peak_rss_kb"] / 1024.0,
                              srv.get("peak_pss_kb", 0) / 1024.0))
        elif d.get("test") == "idle_smtp":
            held, base = d["held"], d["base"]
            n = d["conns"]["established"] or 1
            idle[label].append((held.get("pss_kb", held["rss_kb"]) -
                                base.get("pss_kb", base["rss_kb"]))
                               * 1000.0 / n)
    labels = sorted({k[0] for k in rate} | set(idle))
    concs = sorted({k[1] for k in rate})
    med = statistics.median
    print("\n## SMTP accept-and-deliver, 4 KiB messages (median of runs)\n")
    print("| conc | " + " | ".join("%s msg/s" % l for l in labels) +
          " | vdmail / postfix | " +
          " | ".join("%s CPU ms/msg" % l for l in labels) + " | " +
          " | ".join("%s peak RSS / PSS MiB" % l for l in labels) + " |")
    print("|---:|" + "---:|" * (3 * len(labels) + 1))
    for c in concs:
        cells = []
        for l in labels:
            cells.append("%.0f" % med(rate[(l, c)]) if rate[(l, c)] else "-")
        ratio = "-"
        if rate[("vdmail", c)] and rate[("postfix", c)]:
            ratio = "%.2f" % (med(rate[("vdmail", c)]) /
                              med(rate[("postfix", c)]))
        cpus = ["%.2f" % med(cpu[(l, c)]) if cpu[(l, c)] else "-"
                for l in labels]
        peaks = ["%.1f / %.1f" % (max(p[0] for p in peak[(l, c)]),
                                  max(p[1] for p in peak[(l, c)]))
                 if peak[(l, c)] else "-" for l in labels]
        print("| %d | %s | %s | %s | %s |" % (c, " | ".join(cells), ratio,
                                              " | ".join(cpus),
                                              " | ".join(peaks)))
    print("\n## Idle SMTP connections: memory per 1,000 (PSS growth, "
          "median)\n")
    print("| server | KiB per 1,000 | KiB per connection |")
    print("|---|---:|---:|")
    for l in labels:
        if idle[l]:
            m = med(idle[l])
            print("| %s | %.0f | %.1f |" % (l, m, m / 1000.0))


if __name__ == "__main__":
    main(sys.argv[1])
