#!/bin/bash
# The POP3 benchmark (a measurement, never part of `make test` or CI):
# vdmaild and Dovecot on this machine, in one run, under the same load from
# the shared harness (../shared/bench/load):
#   - sessions/s at concurrency CONCS (mailload.py pop3 --mode session:
#     connect, USER, PASS, STAT, RETR n, QUIT; n is random among the 20
#     messages of ~4 KiB, all of one size, so it costs what RETR 1 does);
#   - RETR throughput at RETR_CONC clients (--mode retr: one login, then
#     RETR after RETR), in RETR/s and MiB/s of message data;
#   - server CPU per session / per RETR and peak RSS/PSS of each server's
#     whole process tree (procmem.py: vdmaild + its flush child + password
#     workers; Dovecot's master and every process below it);
#   - memory per idle logged-in POP3 connection (idleconn.py --login,
#     IDLE_COUNT connections, PSS growth / N, from a freshly started server).
# Every account has an {SSHA} password on both sides (same hash, one SHA-1),
# so the hash does not hide the server's own cost. Dovecot is a private
# instance derived from the harness's dovecot.conf ("dovecot": stock, one
# pop3 process per session; "dovecot-tuned": pop3 process reuse and the
# auth cache), POP3 only, on its own port and its own hard-linked copy of the
# harness's maildirs; vdmaild (-O2 build) serves a CRLF copy of the same
# messages (both send the same bytes: checked). Loopback only; every loop
# is bounded by a count and a time.
#
# The 2 cores are shared by the servers, the Python generator (about 0.7 of a
# core in retr loops) and whatever else runs on the machine (tests of other
# sessions): figures are noisy. Each row gives the generator's CPU and the
# share of the machine others used in its window ("others").
#
# usage (as root):  tests/bench/pop3_bench.sh        QUICK=1 for a short run
# knobs: RUNS (3) DURATION (20 s per load run; the generator is time-bounded,
#        so the session count is a result, not a knob) CONCS ("1 10 50")
#        RETR_CONC (50) PROCS (2 generator processes) IDLE_COUNT (500)
#        AUTH_WORKERS (2) DOVECOTS ("dovecot dovecot-tuned") PROFILE (0; 1:
#        perf + strace -c of vdmaild under the session load at the end)
# Results: tests/bench/results/pop3-<UTC stamp>.txt (the tables) and .jsonl
# (every run, one JSON line each; ../shared/bench/peers/summarize.py reads it).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/bench
SHARED=${SHARED_BENCH:-$(cd "$ROOT/.." && pwd)/shared/bench}
LOAD=$SHARED/load
BR=${BENCH_ROOT:-/var/tmp/mailbench}
if [ "${QUICK:-0}" = 1 ]; then
	: "${RUNS:=1}" "${DURATION:=5}" "${CONCS:=1 50}" "${IDLE_COUNT:=100}"
fi
RUNS=${RUNS:-3} DURATION=${DURATION:-20} CONCS=${CONCS:-1 10 50}
RETR_CONC=${RETR_CONC:-50} PROCS=${PROCS:-2} IDLE_COUNT=${IDLE_COUNT:-500}
AUTH_WORKERS=${AUTH_WORKERS:-2} DOVECOTS=${DOVECOTS:-dovecot dovecot-tuned}
PROFILE=${PROFILE:-0}
B=${B:-build}
USERS=$BR/etc/users.txt

[ "$(id -u)" = 0 ] || { echo "run as root (Dovecot and the harness need it)" >&2; exit 1; }
[ -f "$LOAD/mailload.py" ] || { echo "no shared bench harness at $SHARED" >&2; exit 1; }
if [ ! -f "$USERS" ] || ! command -v dovecot >/dev/null; then
	BENCH_ROOT=$BR "$SHARED/peers/setup.sh" || exit 1
fi
make -C "$ROOT" --no-print-directory -j2 "$B/rel/vdmaild" "$B/rel/vdctl" >/dev/null || exit 1
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((IDLE_COUNT * 2 + 200)) ] ||
	{ echo "open-file limit $(ulimit -n) too low for IDLE_COUNT=$IDLE_COUNT" >&2; exit 1; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESDIR=$ROOT/tests/bench/results
mkdir -p "$RESDIR"
OUT=$RESDIR/pop3-$STAMP.jsonl
TXT=$RESDIR/pop3-$STAMP.txt
WORK=$(mktemp -d /var/tmp/vdmail-pop3bench.XXXXXX)
chmod 755 "$WORK"
VDPID="" MON=""
declare -A PORT DCCONF
cleanup() {
	[ -n "$VDPID" ] && stop_vd
	for l in $DOVECOTS; do stop_dc "$l"; done
	[ -n "${MON:-}" ] && kill "$MON" 2>/dev/null
	rm -rf "$WORK" "${TXT:-}.head"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

# ---- vdmaild
start_vd() {
	"$WORK/vdmaild" -c "$WORK/vd/vdmaild.conf" >>"$WORK/vd/vdmaild.log" 2>&1 &
	VDPID=$!
	port_up 127.0.0.1 "${PORT[vdmail]}" || { echo "vdmaild did not start" >&2; cat "$WORK/vd/vdmaild.log" >&2; exit 1; }
}
stop_vd() {
	kill "$VDPID" 2>/dev/null
	wait_gone "$VDPID" 35
	wait "$VDPID" 2>/dev/null
	VDPID=""
}
# ---- Dovecot (private instances, by their own master.pid)
dc_pid() { head -1 "$WORK/dc/$1/run/master.pid" 2>/dev/null | tr -d ' \n'; }
start_dc() {
	dovecot -c "${DCCONF[$1]}" || { echo "dovecot $1 did not start" >&2; exit 1; }
	port_up 127.0.0.1 "${PORT[$1]}" || { echo "dovecot $1 does not listen" >&2; tail "$WORK/dc/$1/dovecot.log" >&2; exit 1; }
}
stop_dc() {
	local m; m=$(dc_pid "$1")
	[ -n "$m" ] && kill -0 "$m" 2>/dev/null || return 0
	local kids; kids=$(ps -o pid= --ppid "$m" | tr -d ' ')
	kill "$m"
	wait_gone "$m" 30
	for k in $kids; do wait_gone "$k" 5; done
}
pids_of() { if [ "$1" = vdmail ]; then echo "$VDPID"; else dc_pid "$1"; fi; }
start_srv() { if [ "$1" = vdmail ]; then start_vd; else start_dc "$1"; fi; }
stop_srv() { if [ "$1" = vdmail ]; then stop_vd; else stop_dc "$1"; fi; }

emit() {  # label test run key=json...
	python3 - "$@" >>"$OUT" <<'EOF'
import json, sys
d = {"label": sys.argv[1], "test": sys.argv[2], "run": int(sys.argv[3])}
for a in sys.argv[4:]:
    k, _, v = a.partition("=")
    try:
        d[k] = json.loads(v)
    except ValueError:
        d[k] = v
print(json.dumps(d))
EOF
	tail -1 "$OUT" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read()); r = d.get("result") or {}; s = d.get("server") or {}
if not r:
    sys.exit(0)
ps = r.get("per_s", {})
print("  %-14s %-16s run %d: %s  server cpu %.2fs peak pss %.1f MiB  errors %s" % (
    d["label"], d["test"], d["run"],
    ", ".join("%s %s/s" % (k, ps[k]) for k in ("session", "retr") if k in ps) or "-",
    s.get("cpu_s", 0), (s.get("peak_pss_kb") or 0) / 1024, r.get("errors")))' 2>/dev/null
}

measure() {  # label test mode conc run
	local label=$1 test=$2 mode=$3 conc=$4 run=$5 pids res
	pids=$(pids_of "$label")
	rm -f "$WORK/stop" "$WORK/mon.json"
	python3 "$LOAD/procmem.py" monitor --pid "$pids" --pss --interval 0.5 \
		--stop-file "$WORK/stop" --max-seconds $((DURATION + 180)) --out "$WORK/mon.json" &
	MON=$!
	sleep 0.3
	res=$(timeout $((DURATION + 150)) python3 "$LOAD/mailload.py" pop3 --port "${PORT[$label]}" \
		--users "$USERS" --conc "$conc" --procs "$PROCS" --duration "$DURATION" --mode "$mode" \
		--label "$label")
	touch "$WORK/stop"
	wait "$MON"
	MON=""
	[ -n "$res" ] || res='{"error": "generator gave no result"}'
	emit "$label" "$test" "$run" "result=$res" "server=$(cat "$WORK/mon.json")"
}

idle_run() {  # label run
	local label=$1 run=$2 pids base held ip n
	pids=$(pids_of "$label")
	base=$(python3 "$LOAD/procmem.py" snapshot --pid "$pids" --pss)
	rm -f "$WORK/ready" "$WORK/release"
	timeout 600 python3 "$LOAD/idleconn.py" --proto pop3 --login --users "$USERS" \
		--port "${PORT[$label]}" --count "$IDLE_COUNT" --ready-file "$WORK/ready" \
		--release-file "$WORK/release" --hold 300 >"$WORK/idle.out" &
	ip=$!
	n=0
	while [ ! -e "$WORK/ready" ] && [ $n -lt 1200 ] && kill -0 "$ip" 2>/dev/null; do
		sleep 0.1; n=$((n + 1))
	done
	sleep 3
	held=$(python3 "$LOAD/procmem.py" snapshot --pid "$pids" --pss --by-name)
	touch "$WORK/release"
	wait "$ip"
	emit "$label" idle_pop3_auth "$run" "conns=$(cat "$WORK/idle.out" 2>/dev/null || echo '{}')" \
		"base=$base" "held=$held"
	python3 -c '
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])][-1]
n = max(1, d["conns"].get("established", 0))
print("  %-14s idle run %s: %s conns, PSS +%.1f KiB/conn, RSS +%.1f KiB/conn" % (
    d["label"], d["run"], d["conns"].get("established"),
    (d["held"]["pss_kb"] - d["base"]["pss_kb"]) / n, (d["held"]["rss_kb"] - d["base"]["rss_kb"]) / n))' "$OUT"
}

# ---------------------------------------------------------------- set-up
LABELS="vdmail $DOVECOTS"
{
	echo "date_utc: $STAMP"
	echo "host: $(uname -srm)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "fs: $(findmnt -no FSTYPE,OPTIONS --target /var/tmp)"
	echo "vdmail: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- core protocols spool cdb 2>/dev/null || echo ' (+ uncommitted changes)') auth_workers=$AUTH_WORKERS, $B/rel/vdmaild (-O2) of $(date -u -r "$ROOT/$B/rel/vdmaild" +%FT%TZ)"
	echo "dovecot: $(dovecot --version)"
	echo "params: RUNS=$RUNS DURATION=$DURATION CONCS='$CONCS' RETR_CONC=$RETR_CONC PROCS=$PROCS IDLE_COUNT=$IDLE_COUNT DOVECOTS='$DOVECOTS'"
	echo "passwords: {SSHA} (salted SHA-1) on every side"
} | tee "$TXT.head"

mkdir -p "$WORK/vd" "$WORK/dc"
# our own copy: other sessions may rebuild build/rel while this runs
cp "$ROOT/$B/rel/vdmaild" "$WORK/vdmaild" || exit 1
python3 "$HERE/pop3_fixture.py" vdmail --users-file "$USERS" --vmail "$BR/vmail" --out "$WORK/vd" || exit 1
mkdir -p "$WORK/vd/cdb"
"$ROOT/$B/rel/vdctl" cdb build-all "$WORK/vd/etc" "$WORK/vd/cdb" >/dev/null || exit 1
PORT[vdmail]=$(free_port)
cat >"$WORK/vd/vdmaild.conf" <<EOF
hostname = bench.test
table_dir = cdb
spool_dir = spool
store_dir = store
pid_file = vdmaild.pid
listen = pop3 127.0.0.1:${PORT[vdmail]}
max_connections = $((IDLE_COUNT + 1000))
max_connections_per_ip = $((IDLE_COUNT + 1000))
auth_workers = $AUTH_WORKERS
EOF
"$WORK/vdmaild" -t -c "$WORK/vd/vdmaild.conf" >/dev/null || exit 1
VUID=$(id -u vmail) VGID=$(id -g vmail)
for l in $DOVECOTS; do
	case $l in
	dovecot) src=$BR/dovecot/etc/dovecot.conf ;;
	dovecot-tuned) src=$BR/dovecot/etc/dovecot-tuned.conf ;;
	*) echo "unknown Dovecot variant $l" >&2; exit 1 ;;
	esac
	PORT[$l]=$(free_port)
	python3 "$HERE/pop3_fixture.py" dovecot --users-file "$USERS" --vmail "$BR/vmail" \
		--out "$WORK/dc" --conf "$src" --label "$l" --port "${PORT[$l]}" \
		--uid "$VUID" --gid "$VGID" >/dev/null || exit 1
	DCCONF[$l]=$WORK/dc/$l/dovecot.conf
	dovecot -c "${DCCONF[$l]}" -n >/dev/null || exit 1
done

for l in $LABELS; do start_srv "$l"; done
sleep 1
echo "warm-up (one session per account, every server):"
sha=""
for l in $LABELS; do
	w=$(timeout 400 python3 "$HERE/pop3_fixture.py" warm --port "${PORT[$l]}" --users-file "$USERS") ||
		{ echo "$l: warm-up failed: $w" >&2; exit 1; }
	echo "  $l: $w"
	s=$(echo "$w" | python3 -c 'import json,sys; print(json.load(sys.stdin)["u0000_retr1_sha256"])')
	[ -z "$sha" ] && sha=$s
	[ "$s" = "$sha" ] || { echo "$l sends other bytes for RETR 1 than vdmail" >&2; exit 1; }
done
sleep 2
for l in $LABELS; do  # footprint with no client (summarize.py's idle_mem rows)
	python3 "$LOAD/procmem.py" snapshot --pid "$(pids_of "$l")" --pss |
		python3 -c 'import json,sys; d=json.load(sys.stdin); d.update(label=sys.argv[1], test="idle_mem", run=0); print(json.dumps(d))' "$l" >>"$OUT"
done

# ---------------------------------------------------------------- load
# Runs interleave the servers (the order rotates each run), so a burst of
# other load on the machine hits every server rather than one.
TESTS=""
for c in $CONCS; do TESTS="$TESTS session:$c"; done
TESTS="$TESTS retr:$RETR_CONC"
set -- $LABELS
NL=$#
for r in $(seq 1 "$RUNS"); do
	echo "run $r of $RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	for t in $TESTS; do
		mode=${t%%:*} c=${t#*:}
		if [ "$mode" = session ]; then test=pop3-session-c$c; else test=pop3-retr; fi
		i=0
		for l in $LABELS; do ORDER[$(((i + r - 1) % NL))]=$l; i=$((i + 1)); done
		for l in "${ORDER[@]}"; do
			sleep 1
			measure "$l" "$test" "$mode" "$c" "$r"
		done
	done
done

# ---------------------------------------------------------------- idle
echo "idle logged-in POP3 connections ($IDLE_COUNT), each run from freshly started servers:"
for r in $(seq 1 "$RUNS"); do
	for l in $LABELS; do
		stop_srv "$l"; start_srv "$l"; sleep 3
		idle_run "$l" "$r"
	done
done

# ---------------------------------------------------------------- profile
if [ "$PROFILE" = 1 ]; then
	echo "profile of vdmaild under the session load (conc $RETR_CONC):"
	stop_vd; start_vd; sleep 1
	KIDS=$(ps -o pid= --ppid "$VDPID" | tr -d ' ' | paste -sd,)
	( timeout $((DURATION + 60)) python3 "$LOAD/mailload.py" pop3 --port "${PORT[vdmail]}" --users "$USERS" \
		--conc "$RETR_CONC" --procs "$PROCS" --duration "$DURATION" --mode session >"$WORK/prof-load.json" ) &
	LP=$!
	sleep 2
	if command -v perf >/dev/null; then
		timeout $((DURATION + 30)) perf record -q -F 999 -p "$VDPID${KIDS:+,$KIDS}" -o "$WORK/perf.data" -- sleep $((DURATION / 3 + 1)) 2>/dev/null
		perf report -i "$WORK/perf.data" --stdio --sort dso,sym --percent-limit 1 2>/dev/null |
			grep -E '^ +[0-9]' | head -40 >"$RESDIR/pop3-$STAMP.perf.txt"
		perf report -i "$WORK/perf.data" --stdio --sort comm,dso --percent-limit 0.5 2>/dev/null |
			grep -E '^ +[0-9]' | head -20 >>"$RESDIR/pop3-$STAMP.perf.txt"
	fi
	timeout $((DURATION / 3 + 5)) strace -c -f -p "$VDPID" -o "$RESDIR/pop3-$STAMP.strace.txt" 2>/dev/null
	wait "$LP"
	echo "  load during the profile (perf and strace slow it): $(cut -c1-200 "$WORK/prof-load.json")"
	echo "  perf: $RESDIR/pop3-$STAMP.perf.txt  strace -c: $RESDIR/pop3-$STAMP.strace.txt"
fi

for l in $LABELS; do stop_srv "$l"; done
if grep -E "warning|critical|fatal|error" "$WORK/vd/vdmaild.log" | grep -v "running as root" >"$WORK/vd-problems"; then
	echo "vdmaild logged problems (first lines):" >&2; head -5 "$WORK/vd-problems" >&2
fi
for l in $DOVECOTS; do
	grep -iE "error|fatal|panic" "$WORK/dc/$l/dovecot.log" | head -3 | sed "s/^/$l: /" >&2
done

{
	cat "$TXT.head"
	echo "end load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	python3 "$HERE/pop3_ratio.py" "$OUT"
	echo
	echo "## Every row (../shared/bench/peers/summarize.py)"
	python3 "$SHARED/peers/summarize.py" "$OUT"
} >"$TXT"
rm -f "$TXT.head"
python3 "$HERE/pop3_ratio.py" "$OUT"
echo "results: $TXT (every run: $OUT)"
