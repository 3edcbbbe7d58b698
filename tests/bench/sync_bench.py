"""Benchmark of vdsync, the LDAP -> CDB table sync (a benchmark, not a
test: never run in CI; loopback only; every wait is bounded).

    python3 tests/bench/sync_bench.py                  # 10,000 domains
    DOMAINS=100 python3 tests/bench/sync_bench.py      # a quick run

Builds build/rel/{vdsync,vdctl,vdmaild}, generates DOMAINS domains with
USERS_PER_DOMAIN users and one 5-member list each (tests/bench/gen_tree.py),
slapadds them into a real slapd (tests/e2e/ldapd.py, mdb + syncprov) and
measures:
  ldapsearch floor   ldapsearch of the whole tree as the sync account
  full sync          vdsync full (wall, peak RSS)
  incremental        vdsync incremental with no change, and after one
                     ldapmodify of one user's mailQuota
  change visible     vdsync follow running: time from ldapmodify returning
                     until `cdb -q users.cdb KEY` shows the new quota
                     (REPS repetitions, median)
  lookups            tests/bench/lookup_bench.c: tbl_lookup_address +
                     tbl_lookup_user on random existing keys, and raw
                     tinycdb cdb_find, LOOKUP_SECS each
The table goes to stdout and tests/bench/results/sync-STAMP.txt.

Knobs (environment): DOMAINS (10000), USERS_PER_DOMAIN (10), REPS (5),
LOOKUP_SECS (2), FOLLOW_DELAY (unset: vdsync's default), B (build
directory, "build"), NO_BUILD=1 (use the binaries as they are),
VDMAIL_KEEP_SLAPD=1 (keep the slapd directory), KEEP=1 (keep the work
directory with the tables and logs).
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, HERE)

import gen_tree            # noqa: E402
from ldapd import Slapd, _run   # noqa: E402

DOMAINS = int(os.environ.get("DOMAINS", "10000"))
USERS = int(os.environ.get("USERS_PER_DOMAIN", "10"))
REPS = int(os.environ.get("REPS", "5"))
LOOKUP_SECS = float(os.environ.get("LOOKUP_SECS", "2"))
FOLLOW_DELAY = os.environ.get("FOLLOW_DELAY")
BUILD = os.path.join(ROOT, os.environ.get("B", "build"), "rel")
VDSYNC = os.path.join(BUILD, "vdsync")
TIME = "/usr/bin/time"
RUN_TIMEOUT = 600          # seconds for one vdsync / slapadd / ldapsearch
VISIBLE_TIMEOUT = 15       # seconds to wait for a change to show
MDB_MAXSIZE = 8 << 30      # the harness's 256 MiB is too small for 110k


class BenchSlapd(Slapd):
    """The harness's slapd with room for a large tree."""

    def config_ldif(self):
        text = Slapd.config_ldif(self)
        old = "olcDbMaxSize: 268435456"
        assert old in text, "ldapd.py changed: no olcDbMaxSize line"
        return text.replace(old, "olcDbMaxSize: %d" % MDB_MAXSIZE)

    def bulk_load(self, path):
        """slapadd -q of an LDIF file (before start)."""
        _run(["slapadd", "-q", "-F", self.confdir, "-b", self.suffix,
              "-l", path], "slapadd (bench tree)", timeout=RUN_TIMEOUT)


def timed(args, log, timeout=RUN_TIMEOUT, stdout=subprocess.DEVNULL):
    """Runs args under /usr/bin/time -v: (rc, wall s, peak RSS KiB, stderr
    of args). stderr goes to log (appended)."""
    tv = log + ".time"
    t0 = time.monotonic()
    with open(log, "a") as errf:
        errf.write("$ %s\n" % " ".join(args))
        errf.flush()
        p = subprocess.run([TIME, "-v", "-o", tv] + args, stdout=stdout,
                           stderr=errf, timeout=timeout)
    wall = time.monotonic() - t0
    rss = None
    with open(tv) as f:
        tvtext = f.read()
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", tvtext)
    if m:
        rss = int(m.group(1))
    m = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)",
                  tvtext)
    if m:
        wall = (int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60
                + float(m.group(3)))
    with open(log) as f:
        text = f.read()
    out = text[text.rfind("$ %s\n" % " ".join(args)):]
    return p.returncode, wall, rss, out


CRASH_NOTE = ("vdsync exits by SIGSEGV after its work is done: "
              "run_once() calls sync_teardown() -> ldap_sync_destroy(), "
              "which unbinds ls->ls_ld, then disconnect_ldap() unbinds the "
              "same LDAP* again (use after free in tools/dir_sync.c; also "
              "after each refresh/persist round of follow); valgrind shows "
              "the invalid read in ldap_unbind_ext")


def sync_ok(rc, out, what, notes):
    """True when a vdsync run did its work: rc 0, or the known crash at
    exit (rc 139, SIGSEGV) after its summary line, which is noted."""
    if rc == 0:
        return True
    if rc == 128 + 11 and re.search(r"vdsync: \d+ entries", out):
        if CRASH_NOTE not in notes:
            notes.append(CRASH_NOTE)
        notes.append("%s: exit status 139 (SIGSEGV at exit) after the "
                     "summary line; timed anyway" % what)
        return True
    print(out[-3000:])
    return False


def git_state():
    """HEAD and the modified tracked files: the figures are of that tree."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "diff", "--name-only",
                                "HEAD"], capture_output=True, text=True,
                               timeout=10).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return head + (" + uncommitted changes in " + " ".join(dirty)
                   if dirty else "")


def summary(out):
    """vdsync's log lines without the timestamp prefix, joined."""
    return " | ".join(re.sub(r"^\S+ vdsync\[\d+\]: \w+: ", "", line).strip()
                      for line in out.splitlines()[1:] if line.strip())


def mib(kib):
    return "?" if kib is None else "%.0f MiB" % (kib / 1024.0)


def cdb_get(table, key):
    p = subprocess.run(["cdb", "-q", table, key], capture_output=True,
                       timeout=10)
    return p.stdout.decode("utf-8", "replace") if p.returncode == 0 else None


def vm_hwm(pid):
    """Peak RSS (KiB) of a running process, from /proc."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main():
    results = []         # (name, figure, aim, command)
    notes = []

    def report(name, figure, aim, cmd):
        results.append((name, figure, aim, cmd))
        print("%-28s %-36s %s" % (name + ":", figure,
                                  "(aim %s)" % aim if aim else ""),
              flush=True)

    if shutil.which("cdb") is None:
        sys.exit("sync_bench: the cdb tool is missing (apt-get install "
                 "tinycdb)")
    if not os.access(TIME, os.X_OK):
        sys.exit("sync_bench: %s is missing (apt-get install time)" % TIME)
    if not os.environ.get("NO_BUILD"):
        subprocess.run(["make", "-j2", "-C", ROOT,
                        "B=" + os.environ.get("B", "build"),
                        BUILD + "/vdsync", BUILD + "/vdctl",
                        BUILD + "/vdmaild"], check=True, timeout=600,
                       stdout=subprocess.DEVNULL)

    work = tempfile.mkdtemp(prefix="vdmail-syncbench-")
    table_dir = os.path.join(work, "tables")
    state_dir = os.path.join(work, "state")
    os.makedirs(table_dir)
    os.makedirs(state_dir)
    log = os.path.join(work, "vdsync.log")
    nusers = DOMAINS * USERS
    nlists = DOMAINS if USERS else 0
    print("sync_bench: %d domains, %d users, %d lists; work dir %s"
          % (DOMAINS, nusers, nlists, work), flush=True)

    # -- the tree ----------------------------------------------------------
    ldif = os.path.join(work, "tree.ldif")
    t0 = time.monotonic()
    with open(ldif, "w") as f:
        nentries = gen_tree.write_tree(f, DOMAINS, USERS)
    gen_s = time.monotonic() - t0
    ld = BenchSlapd(suffix="o=isp", sessionlog=True)
    t0 = time.monotonic()
    ld.bulk_load(ldif)
    slapadd_s = time.monotonic() - t0
    ld.start(timeout=60)
    print("sync_bench: %d entries generated in %.1f s, slapadd -q %.1f s; "
          "slapd at %s (%s)" % (nentries, gen_s, slapadd_s, ld.uri, ld.dir),
          flush=True)

    conf = os.path.join(work, "vdsync.conf")
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("uri = %s\nbind_dn = %s\nbind_pw = %s\nbase = %s\n"
                "table_dir = %s\nstate_dir = %s\n"
                % (ld.uri, ld.syncdn, ld.syncpw, ld.suffix, table_dir,
                   state_dir))
        if FOLLOW_DELAY is not None:
            f.write("follow_delay = %s\n" % FOLLOW_DELAY)
    users_cdb = os.path.join(table_dir, "users.cdb")

    # -- (0) the LDAP floor ------------------------------------------------
    search = ["ldapsearch", "-x", "-H", ld.uri, "-D", ld.syncdn, "-w",
              ld.syncpw, "-b", ld.suffix, "-LLL", "(objectClass=*)"]
    rc, wall, rss, _ = timed(search, log)
    assert rc == 0, "ldapsearch failed (rc %d); see %s" % (rc, log)
    report("ldapsearch floor", "%.2f s, peak RSS %s" % (wall, mib(rss)),
           "", " ".join(search) + " > /dev/null")

    rc, wall, rss, _ = timed(search + ["*", "+"], log)
    assert rc == 0, "ldapsearch failed (rc %d); see %s" % (rc, log)
    report("ldapsearch floor, * +", "%.2f s, peak RSS %s" % (wall, mib(rss)),
           "", " ".join(search) + " '*' '+' > /dev/null  (what vdsync "
           "asks for)")

    # -- (a) full ----------------------------------------------------------
    full = [VDSYNC, "-c", conf, "full"]
    rc, wall, rss, out = timed(full, log)
    if not sync_ok(rc, out, "full", notes):
        if "sizelimit" in out.lower() or "size limit" in out.lower():
            notes.append("vdsync full hit the LDAP size limit")
        sys.exit("sync_bench: vdsync full failed (rc %d); log %s" % (rc, log))
    report("full sync", "%.2f s, peak RSS %s" % (wall, mib(rss)), "< 10 s",
           " ".join(full))
    for line in out.splitlines():
        m = re.search(r"info: (vdsync: \d+ entries.*)", line)
        if m:
            notes.append("full: " + m.group(1))
    sizes = []
    for name in sorted(os.listdir(table_dir)):
        if name.endswith(".cdb"):
            sizes.append("%s %.1f MiB" % (
                name, os.path.getsize(os.path.join(table_dir, name)) / 2**20))
    notes.append("tables: " + ", ".join(sizes))
    cache = os.path.join(state_dir, "cache")
    if os.path.exists(cache):
        notes.append("state_dir cache %.1f MiB (rewritten by every "
                     "publish)" % (os.path.getsize(cache) / 2**20))

    # the user changed below: the middle domain's last user
    di, ui = DOMAINS // 2, max(USERS - 1, 0)
    key = gen_tree.user_mail(di, ui)
    dn = gen_tree.user_dn(di, ui, ld.suffix)
    rec = cdb_get(users_cdb, key)
    assert rec is not None and str(gen_tree.QUOTA) in rec, \
        "users.cdb has no quota %d for %s: %r" % (gen_tree.QUOTA, key, rec)

    def change(quota):
        ld.modify("dn: %s\nchangetype: modify\nreplace: mailQuota\n"
                  "mailQuota: %d\n" % (dn, quota))

    # -- (c) incremental, nothing changed ---------------------------------
    inc = [VDSYNC, "-c", conf, "incremental"]
    rc, wall, rss, out = timed(inc, log)
    assert sync_ok(rc, out, "incremental (no change)", notes), \
        "vdsync incremental failed (rc %d)" % rc
    report("incremental, no change", "%.2f s, peak RSS %s" % (wall, mib(rss)),
           "", " ".join(inc))
    notes.append("incremental (no change): " + summary(out))

    # -- (b) incremental after one changed user ---------------------------
    quota = gen_tree.QUOTA + 1
    change(quota)
    rc, wall, rss, out = timed(inc, log)
    assert sync_ok(rc, out, "incremental (1 user)", notes), \
        "vdsync incremental failed (rc %d)" % rc
    rec = cdb_get(users_cdb, key)
    ok = rec is not None and ("%d" % quota) in rec
    report("incremental, 1 user", "%.2f s, peak RSS %s%s" % (
        wall, mib(rss), "" if ok else " (CHANGE NOT IN users.cdb)"),
        "", "ldapmodify (mailQuota of %s); %s" % (key, " ".join(inc)))
    notes.append("incremental (1 user): " + summary(out))

    # -- (b') change visible with vdsync follow ---------------------------
    follow_log = os.path.join(work, "follow.log")
    ferr = open(follow_log, "w")
    follow_rss = None
    fp = subprocess.Popen([VDSYNC, "-c", conf, "follow"],
                          stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=ferr)
    lat, lat_total = [], []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with open(follow_log) as f:
                if "following" in f.read():
                    break
            if fp.poll() is not None:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("vdsync follow not ready in 120 s")
        if fp.poll() is not None:
            raise RuntimeError("vdsync follow exited: %s" % open(
                follow_log).read()[-2000:])
        time.sleep(1.5)         # let the first publish settle
        for rep in range(REPS):
            quota += 1
            want = "%d" % quota
            t_start = time.monotonic()
            change(quota)
            t_mod = time.monotonic()
            seen = None
            while time.monotonic() - t_mod < VISIBLE_TIMEOUT:
                rec = cdb_get(users_cdb, key)
                if rec is not None and want in rec:
                    seen = time.monotonic()
                    break
                time.sleep(0.002)
            if seen is None:
                notes.append("follow rep %d: change not visible in %d s"
                             % (rep, VISIBLE_TIMEOUT))
                continue
            lat.append(seen - t_mod)
            lat_total.append(seen - t_start)
            time.sleep(0.5)     # separate the bursts
    finally:
        follow_rss = vm_hwm(fp.pid)
        fp.terminate()          # vdsync finishes the step and exits
        try:
            fp.wait(15)
        except subprocess.TimeoutExpired:
            fp.kill()
            fp.wait(5)
        ferr.close()
    if lat:
        report("change visible (follow)",
               "median %.3f s (min %.3f, max %.3f; %d/%d)" % (
                   statistics.median(lat), min(lat), max(lat), len(lat),
                   REPS), "< 1 s",
               "%s -c CONF follow & ldapmodify; until `cdb -q %s %s` "
               "shows it" % (VDSYNC, users_cdb, key))
        notes.append("change visible incl. the ldapmodify run itself: "
                     "median %.3f s" % statistics.median(lat_total))
    else:
        report("change visible (follow)", "NEVER (see %s)" % follow_log,
               "< 1 s", "%s -c CONF follow" % VDSYNC)
    notes.append("follow_delay %s (vdsync gathers changes that long "
                 "before it publishes; part of the latency)"
                 % (FOLLOW_DELAY or "default"))
    notes.append("follow peak RSS %s (initial refresh from the cache "
                 "included)" % mib(follow_rss))
    with open(follow_log) as f:
        fl = [line.strip() for line in f if line.strip()]
    notes.append("follow log (last lines): " + " | ".join(fl[-6:]))

    # -- (d) lookups --------------------------------------------------------
    lb = os.path.join(work, "lookup_bench")
    cc = ["gcc", "-std=c17", "-D_GNU_SOURCE", "-O2", "-I" + ROOT, "-o", lb,
          os.path.join(HERE, "lookup_bench.c")] + \
        [os.path.join(ROOT, s) for s in ("cdb/tbl.c", "cdb/tbl_rec.c",
                                         "core/util.c", "core/log.c")] + \
        ["-lcdb"]
    subprocess.run(cc, check=True, timeout=120)
    if USERS:
        p = subprocess.run([lb, table_dir, str(DOMAINS), str(USERS),
                            str(LOOKUP_SECS)], capture_output=True,
                           text=True, timeout=4 * LOOKUP_SECS + 30)
        if p.returncode != 0:
            notes.append("lookup_bench failed: " + p.stderr.strip())
        for line in p.stdout.splitlines():
            what, rate, miss = line.split()
            if what == "tbl":
                report("lookups (tbl, 1 thread)",
                       "%.2f M/s (%s misses)" % (float(rate) / 1e6, miss),
                       "1 M/s", "%s TABLE_DIR %d %d %s  (tbl_lookup_address"
                       " + tbl_lookup_user, 2 lookups)" % (
                           lb, DOMAINS, USERS, LOOKUP_SECS))
            else:
                report("lookups (raw cdb_find)",
                       "%.2f M/s (%s misses)" % (float(rate) / 1e6, miss),
                       "", "same program, cdb_find on users.cdb")

    slapd_rss = vm_hwm(ld.proc.pid) if ld.proc else None
    notes.append("slapd peak RSS %s" % mib(slapd_rss))
    ld.stop()

    # -- the report ---------------------------------------------------------
    stamp = time.strftime("%Y%m%d-%H%M%S")
    lines = ["vdsync benchmark %s: %d domains, %d users, %d lists (%d "
             "entries), %d CPUs, %s" % (stamp, DOMAINS, nusers, nlists,
                                        nentries, os.cpu_count(),
                                        os.uname().release),
             "command: DOMAINS=%d USERS_PER_DOMAIN=%d python3 "
             "tests/bench/sync_bench.py" % (DOMAINS, USERS),
             "source: %s" % git_state(),
             "tree: generated in %.1f s, slapadd -q %.1f s" % (gen_s,
                                                               slapadd_s),
             ""]
    lines.append("%-26s %-44s %s" % ("what", "figure", "aim"))
    for name, figure, aim, _ in results:
        lines.append("%-26s %-44s %s" % (name, figure, aim or "-"))
    lines += ["", "commands:"]
    for name, _, _, cmd in results:
        lines.append("  %s: %s" % (name, cmd))
    lines += ["", "notes:"] + ["  " + n for n in notes]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    rdir = os.path.join(HERE, "results")
    os.makedirs(rdir, exist_ok=True)
    path = os.path.join(rdir, "sync-%s.txt" % stamp)
    with open(path, "w") as f:
        f.write(text)
    print("written to %s" % path)
    if os.environ.get("KEEP"):
        print("work directory kept: %s" % work)
    else:
        shutil.rmtree(work, True)


if __name__ == "__main__":
    main()
