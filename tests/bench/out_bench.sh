#!/bin/bash
# The outbound benchmark (a measurement, never part of `make test`):
# vdmaild and Postfix relaying the same load to the same smtp-sink, in one
# run, on loopback:
#   - flood:C  MSGS messages of 4 KiB, one recipient each (u1@out.bench),
#     submitted by smtp-source at concurrency C (CONCS, one session per
#     message), relayed to the sink at 127.0.1.1; timed from the first
#     connection until the sink counted MSGS transactions and the server's
#     queue is empty: messages/s;
#   - fanout   one message of 4 KiB to NDEST*PER_DEST (100*10 = 1,000)
#     recipients uK@dD.bench on NDEST destinations 127.0.1.D (one pipelined
#     transaction from a Python client), timed until the queue is empty and
#     every sink has its transaction: recipients/s;
#   - per test: server CPU per message (its whole process tree, reaped
#     children included), peak RSS/PSS of the tree, the sinks' and the
#     client's CPU, and the machine's load from others in the window.
# vdmaild (-O2 build, copied) relays because its users have a mailhost
# that is another host: `users.cdb` records `u1@out.bench
# mailhost=127.0.1.1`, `outbound_port` = the sink's port. Postfix is a
# private copy of the shared harness's instance (../shared/bench/peers:
# main.cf and master.cf copied into the work directory with their own
# queue, port and log, started with peers/ctl.sh; the harness's own files
# are not touched), relaying the same domains with a transport map
# (`out.bench smtp:[127.0.1.1]:SINKPORT`, `dD.bench smtp:[127.0.1.D]:...`).
# Both get the same outbound concurrency: OUT_CONC connections in all
# (vdmaild outbound_concurrency; Postfix smtp process_limit) and
# OUT_DEST_CONC per destination (outbound_dest_concurrency;
# smtp_destination_concurrency_limit): 100 and 20, each side's default.
# The sinks are one `smtp-sink -c` per destination address 127.0.1.D
# (loopback only, no 0.0.0.0 listener), counted by their -c counters; the
# servers' logs give status=sent/deferred/bounced per recipient.
# A warm-up (run 0, listed but not in the tables) sends 200 messages, then
# at once the fan-out, through each server; measured tests start 3 s apart
# (both servers close idle outbound connections after 2 s).
# Tests rotate the servers' order each run; every loop is bounded in count
# and time; every process started here is stopped on exit.
#
# usage (as root):  tests/bench/out_bench.sh       QUICK=1 for a short run
# knobs: RUNS (3) MSGS (10000) CONCS ("10 50") SIZE (4096) NDEST (100)
#        PER_DEST (10) FANOUT_RUNS (5) OUT_CONC (100) OUT_DEST_CONC (20)
#        OUT_TLS (none: smtp-sink has no STARTTLS; vdmaild outbound_tls and
#        Postfix smtp_tls_security_level) SYNC_METHOD (syncfs)
#        PF_NOFSYNC=1 (Postfix under libeatmydata, ctl.sh's nofsync)
#        SERVERS ("vdmail postfix") TIMEOUT (600 s per test)
#        VD_EXTRA ('key = value;...': more vdmaild.conf lines, e.g.
#        'delivery_wait = 0')
# Results: tests/bench/results/out-<UTC stamp>.txt (tables) and .jsonl.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/bench
SHARED=${SHARED_BENCH:-$(cd "$ROOT/.." && pwd)/shared/bench}
export SHARED_BENCH=$SHARED
CTL=$SHARED/peers/ctl.sh
BR=${BENCH_ROOT:-/var/tmp/mailbench}
if [ "${QUICK:-0}" = 1 ]; then
	: "${RUNS:=1}" "${MSGS:=1000}" "${FANOUT_RUNS:=3}"
fi
RUNS=${RUNS:-3} MSGS=${MSGS:-10000} CONCS=${CONCS:-10 50} SIZE=${SIZE:-4096}
NDEST=${NDEST:-100} PER_DEST=${PER_DEST:-10} FANOUT_RUNS=${FANOUT_RUNS:-5}
OUT_CONC=${OUT_CONC:-100} OUT_DEST_CONC=${OUT_DEST_CONC:-20} OUT_TLS=${OUT_TLS:-none}
SYNC_METHOD=${SYNC_METHOD:-syncfs} PF_NOFSYNC=${PF_NOFSYNC:-0}
SERVERS=${SERVERS:-vdmail postfix} TIMEOUT=${TIMEOUT:-600}
B=${B:-build}

[ "$(id -u)" = 0 ] || { echo "run as root (Postfix and smtp-sink need it)" >&2; exit 1; }
[ -x "$CTL" ] || { echo "no shared bench harness at $SHARED" >&2; exit 1; }
[ "$NDEST" -ge 1 ] && [ "$NDEST" -le 254 ] || { echo "NDEST must be 1..254" >&2; exit 1; }
case $OUT_TLS in none|may) ;; *) echo "OUT_TLS must be none or may" >&2; exit 1 ;; esac
if [ ! -f "$BR/postfix/etc/main.cf" ]; then
	BENCH_ROOT=$BR "$SHARED/peers/setup.sh" || exit 1
fi
for c in smtp-source smtp-sink postfix postconf postmap; do
	command -v $c >/dev/null || { echo "$c missing (Debian package postfix)" >&2; exit 1; }
done
BUILD_NOTE=""
if ! make -C "$ROOT" --no-print-directory -j2 "$B/rel/vdmaild" "$B/rel/vdctl" >/dev/null 2>"/tmp/out_bench.make.$$"; then
	# the tree is shared with people editing it: measure the last good build
	[ -x "$ROOT/$B/rel/vdmaild" ] && [ -x "$ROOT/$B/rel/vdctl" ] ||
		{ cat "/tmp/out_bench.make.$$" >&2; rm -f "/tmp/out_bench.make.$$"; exit 1; }
	BUILD_NOTE=" -- make failed (the tree is being edited), so this is the last good build"
	echo "warning: make failed, using the existing $B/rel/vdmaild:" >&2
	head -3 "/tmp/out_bench.make.$$" >&2
fi
rm -f "/tmp/out_bench.make.$$"
ulimit -n "$(ulimit -Hn)"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESDIR=$ROOT/tests/bench/results
mkdir -p "$RESDIR"
OUT=$RESDIR/out-$STAMP.jsonl
TXT=$RESDIR/out-$STAMP.txt
WORK=$(mktemp -d /var/tmp/vdmail-outbench.XXXXXX)
chmod 755 "$WORK"  # Postfix's daemons (user postfix) live below it
PBR=$WORK/br       # BENCH_ROOT of our Postfix copy, for ctl.sh
PF=$PBR/postfix/etc
VDPID="" PF_UP=0 SINK_PIDS=() MPID=""
cleanup() {
	[ -n "$MPID" ] && { kill "$MPID" 2>/dev/null; wait "$MPID" 2>/dev/null; }
	[ -n "$VDPID" ] && stop_vd
	[ "$PF_UP" = 1 ] && stop_pf
	for p in "${SINK_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${SINK_PIDS[@]}"; do wait_gone "$p" 5; done
	rm -rf "$WORK" "${TXT:-}.head"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

SINKPORT=$(free_port 0.0.0.0)
VDPORT=$(free_port 0.0.0.0)
PFPORT=$(free_port 0.0.0.0)

# ---------------------------------------------------------------- sinks
mkdir -p "$WORK/sink"
for d in $(seq 1 "$NDEST"); do
	smtp-sink -u nobody -c "127.0.1.$d:$SINKPORT" 1000 >"$WORK/sink/$d.out" 2>"$WORK/sink/$d.err" &
	SINK_PIDS+=($!)
done
for d in $(seq 1 "$NDEST"); do
	port_up "127.0.1.$d" "$SINKPORT" ||
		{ echo "smtp-sink on 127.0.1.$d:$SINKPORT did not start" >&2; cat "$WORK/sink/$d.err" >&2; exit 1; }
done
SINK1=(--sink "$WORK/sink/1.out")
SINKALL=()
for d in $(seq 1 "$NDEST"); do SINKALL+=(--sink "$WORK/sink/$d.out"); done
SINKPIDARGS=()
for p in "${SINK_PIDS[@]}"; do SINKPIDARGS+=(--sink-pid "$p"); done

# ---------------------------------------------------------------- fixtures
python3 "$HERE/out_bench.py" fixture --dir "$WORK" --ndest "$NDEST" --per "$PER_DEST" \
	--sink-port "$SINKPORT" || exit 1

# vdmaild: our own copy (other sessions may rebuild build/rel meanwhile)
mkdir -p "$WORK/vd/cdb"
cp "$ROOT/$B/rel/vdmaild" "$WORK/vdmaild" || exit 1
"$ROOT/$B/rel/vdctl" cdb build-all "$WORK/vd" "$WORK/vd/cdb" >/dev/null || exit 1
cat >"$WORK/vd/vdmaild.conf" <<EOF
hostname = bench.test
table_dir = cdb
spool_dir = spool
store_dir = store
pid_file = vdmaild.pid
listen = smtp 127.0.0.1:$VDPORT
max_connections = 5000
max_connections_per_ip = 5000
max_recipients = 1000
sync_method = $SYNC_METHOD
outbound_port = $SINKPORT
outbound_tls = $OUT_TLS
outbound_concurrency = $OUT_CONC
outbound_dest_concurrency = $OUT_DEST_CONC
EOF
[ -n "${VD_EXTRA:-}" ] && echo "$VD_EXTRA" | tr ';' '\n' >>"$WORK/vd/vdmaild.conf"
"$WORK/vdmaild" -t -c "$WORK/vd/vdmaild.conf" >/dev/null || exit 1
"$ROOT/$B/rel/vdctl" -c "$WORK/vd/vdmaild.conf" route u1@out.bench 2>&1 | grep -i nexthop >"$WORK/vd/route.txt"

# Postfix: a copy of the harness's instance, relaying to the sinks
mkdir -p "$PF" "$PBR/postfix/spool" "$PBR/postfix/lib" "$PBR/log"
cp -p "$BR/postfix/etc/"* "$PF/" || exit 1
sed -i "s#$BR#$PBR#g" "$PF/main.cf"
sed -i -E "s#^127\.0\.0\.1:[0-9]+( +inet )#127.0.0.1:$PFPORT\1#" "$PF/master.cf"
grep -q "^127.0.0.1:$PFPORT " "$PF/master.cf" || { echo "no smtpd listener in $PF/master.cf" >&2; exit 1; }
MAPTYPE=cdb
postconf -c "$PF" -m | grep -qx cdb || MAPTYPE=hash
cp "$WORK/transport" "$PF/transport"
postmap -c "$PF" "$MAPTYPE:$PF/transport" || exit 1
PF_SET=(
	"relay_domains = $MAPTYPE:$PF/transport"
	"transport_maps = $MAPTYPE:$PF/transport"
	"smtpd_recipient_limit = 1000"
	"smtp_destination_concurrency_limit = $OUT_DEST_CONC"
	"smtp_tls_security_level = $([ "$OUT_TLS" = may ] && echo may || echo none)"
)
for s in "${PF_SET[@]}"; do postconf -c "$PF" -e "$s" || exit 1; done
postconf -c "$PF" -F -e "smtp/unix/process_limit = $OUT_CONC" || exit 1
postfix -c "$PF" check >/dev/null 2>&1
chown postfix:postfix "$PBR/postfix/lib"
postfix -c "$PF" check || exit 1
PFQ=()
for q in incoming active deferred hold maildrop; do PFQ+=(--queue "$PBR/postfix/spool/$q"); done

# ---------------------------------------------------------------- servers
start_vd() {
	"$WORK/vdmaild" -c "$WORK/vd/vdmaild.conf" >>"$WORK/vd/vdmaild.log" 2>&1 &
	VDPID=$!
	port_up 127.0.0.1 "$VDPORT" || { echo "vdmaild did not start" >&2; tail "$WORK/vd/vdmaild.log" >&2; exit 1; }
}
stop_vd() {
	kill "$VDPID" 2>/dev/null
	wait_gone "$VDPID" 35
	wait "$VDPID" 2>/dev/null
	VDPID=""
}
start_pf() {
	BENCH_ROOT=$PBR SMTP_PORT=$PFPORT "$CTL" start postfix "$([ "$PF_NOFSYNC" = 1 ] && echo nofsync)" >/dev/null ||
		{ tail "$PBR/log/postfix.log" >&2; exit 1; }
	PF_UP=1
	port_up 127.0.0.1 "$PFPORT" || { echo "postfix does not listen" >&2; tail "$PBR/log/postfix.log" >&2; exit 1; }
}
stop_pf() {
	BENCH_ROOT=$PBR "$CTL" stop postfix >/dev/null 2>&1
	PF_UP=0
}
srv_args() {  # label: the measuring helper's server arguments
	if [ "$1" = vdmail ]; then
		echo "--port $VDPORT --pid $VDPID --queue $WORK/vd/spool/queue --log $WORK/vd/vdmaild.log"
	else
		echo "--port $PFPORT --pid $(BENCH_ROOT=$PBR "$CTL" pid postfix) ${PFQ[*]} --log $PBR/log/postfix.log"
	fi
}
measure() {  # label test run [jsonl]
	local label=$1 test=$2 run=$3 out=${4:-$OUT} kind c
	kind=${test%%:*} c=${test#*:}
	if [ "$kind" = flood ]; then
		# shellcheck disable=SC2046
		timeout $((TIMEOUT + 60)) python3 "$HERE/out_bench.py" flood --label "$label" \
			--test "flood-c$c" --run "$run" $(srv_args "$label") "${SINK1[@]}" "${SINKPIDARGS[@]}" \
			--conc "$c" --msgs "${MSGS_NOW:-$MSGS}" --size "$SIZE" --timeout "$TIMEOUT" >>"$out" &
	else
		# shellcheck disable=SC2046
		timeout $((TIMEOUT + 60)) python3 "$HERE/out_bench.py" fanout --label "$label" \
			--test "fanout-$((NDEST * PER_DEST))" --run "$run" $(srv_args "$label") "${SINKALL[@]}" \
			"${SINKPIDARGS[@]}" --ndest "$NDEST" --per "$PER_DEST" --size "$SIZE" \
			--timeout "$TIMEOUT" >>"$out" &
	fi
	# in the background, so that a signal stops the run at once (a trap
	# waits for a foreground command)
	MPID=$!
	wait "$MPID"
	MPID=""
	tail -1 "$out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("  %-8s %-12s run %s: %8.1f msgs/s %8.1f rcpts/s  done %.2fs (accept %.2fs)  cpu %.2fs  rss %.1f MiB  sent %d/%d%s" % (
    r["label"], r["test"], r["run"], r["msgs_per_s"] or 0, r["rcpts_per_s"] or 0, r["done_s"], r["accept_s"],
    r["server_cpu_s"] or 0, r["peak_rss_kb"] / 1024, r["log_sent"], r["rcpts"],
    "" if r["complete"] else "  INCOMPLETE: %s (queue %d, sink %d)" % (r["error"], r["queue_after"], r["sink_transactions"])))' ||
		echo "  $label $test run $run: no result" >&2
}

# ---------------------------------------------------------------- header
{
	echo "date_utc: $STAMP"
	echo "host: $(uname -srm)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "fs: $(findmnt -no FSTYPE,OPTIONS --target /var/tmp)"
	echo "vdmail: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- core protocols spool cdb 2>/dev/null || echo ' (+ uncommitted changes)'), $B/rel/vdmaild (-O2) of $(date -u -r "$ROOT/$B/rel/vdmaild" +%FT%TZ)$BUILD_NOTE"
	echo "vdmaild.conf: $(sed -n '/^max_connections /,$p' "$WORK/vd/vdmaild.conf" | paste -sd';' | sed 's/;/; /g'); keys not set here have their defaults (outbound_rcpt_max 100, outbound_idle 2, delivery_wait 0.01, ...)"
	echo "vdmaild route: $(cat "$WORK/vd/route.txt")"
	echo "postfix: $(postconf -c "$PF" -h mail_version), the harness's main.cf/master.cf (queue, port, log moved into the work dir) plus: $(printf '%s; ' "${PF_SET[@]}")smtp/unix process_limit = $OUT_CONC; fsync $([ "$PF_NOFSYNC" = 1 ] && echo 'off (libeatmydata)' || echo on); other queue settings default (initial_destination_concurrency $(postconf -c "$PF" -h initial_destination_concurrency), smtp_destination_recipient_limit $(postconf -c "$PF" -h smtp_destination_recipient_limit), smtp_connection_cache_on_demand $(postconf -c "$PF" -h smtp_connection_cache_on_demand))"
	echo "sink: smtp-sink -c, one per destination 127.0.1.1..127.0.1.$NDEST port $SINKPORT"
	echo "load: flood = smtp-source -s C -m $MSGS -l $SIZE -t u1@out.bench (one session per message), C in $CONCS; fanout = 1 message of $SIZE octets to $((NDEST * PER_DEST)) recipients on $NDEST destinations, one pipelined transaction"
	echo "params: RUNS=$RUNS FANOUT_RUNS=$FANOUT_RUNS MSGS=$MSGS CONCS='$CONCS' OUT_CONC=$OUT_CONC OUT_DEST_CONC=$OUT_DEST_CONC OUT_TLS=$OUT_TLS SYNC_METHOD=$SYNC_METHOD PF_NOFSYNC=$PF_NOFSYNC"
} | tee "$TXT.head"

for l in $SERVERS; do
	case $l in vdmail) start_vd ;; postfix) start_pf ;; *) echo "unknown server $l" >&2; exit 1 ;; esac
done
sleep 1

echo "warm-up (run 0, not in the tables): 200 messages at concurrency 10, then at once one fan-out, per server"
for l in $SERVERS; do
	MSGS_NOW=200 measure "$l" flood:10 0
	measure "$l" fanout 0
done

TESTS=""
for c in $CONCS; do TESTS="$TESTS flood:$c"; done
set -- $SERVERS
NS=$#
for r in $(seq 1 "$RUNS"); do
	echo "run $r of $RUNS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	T=$TESTS
	[ "$r" -le "$FANOUT_RUNS" ] && T="$T fanout"
	for t in $T; do
		i=0
		for l in $SERVERS; do ORDER[$(((i + r - 1) % NS))]=$l; i=$((i + 1)); done
		for l in "${ORDER[@]}"; do
			sleep 3  # outbound connections of the previous test idle out (2 s on both)
			measure "$l" "$t" "$r"
		done
	done
done
if [ "$FANOUT_RUNS" -gt "$RUNS" ]; then
	for r in $(seq $((RUNS + 1)) "$FANOUT_RUNS"); do
		i=0
		for l in $SERVERS; do ORDER[$(((i + r - 1) % NS))]=$l; i=$((i + 1)); done
		for l in "${ORDER[@]}"; do sleep 3; measure "$l" fanout "$r"; done
	done
fi

# ---------------------------------------------------------------- problems
[ -n "$VDPID" ] && stop_vd
[ "$PF_UP" = 1 ] && stop_pf
PROB=$WORK/problems.txt
: >"$PROB"
if [ -f "$WORK/vd/vdmaild.log" ]; then
	grep -E "warning|critical|fatal|error|status=(deferred|bounced)|corrupt" "$WORK/vd/vdmaild.log" |
		grep -v "running as root" >"$WORK/vd-problems"
	if [ -s "$WORK/vd-problems" ]; then
		echo "vdmaild: $(wc -l <"$WORK/vd-problems") problem lines, first ones:" >>"$PROB"
		head -10 "$WORK/vd-problems" | sed 's/^/  /' >>"$PROB"
	fi
	echo "vdmaild log: $(grep -c 'status=sent' "$WORK/vd/vdmaild.log") status=sent lines in all (warm-up included)" >>"$PROB"
fi
if [ -f "$PBR/log/postfix.log" ]; then
	grep -E "warning|fatal|panic|error|status=(deferred|bounced)" "$PBR/log/postfix.log" |
		grep -vE "not owned by postfix|import_environment" >"$WORK/pf-problems"
	if [ -s "$WORK/pf-problems" ]; then
		echo "postfix: $(wc -l <"$WORK/pf-problems") problem lines, first ones:" >>"$PROB"
		head -10 "$WORK/pf-problems" | sed 's/^/  /' >>"$PROB"
	fi
	echo "postfix log: $(grep -c 'status=sent' "$PBR/log/postfix.log") status=sent lines in all (warm-up included)" >>"$PROB"
fi
for d in $(seq 1 "$NDEST"); do
	[ -s "$WORK/sink/$d.err" ] && { echo "smtp-sink $d: $(head -3 "$WORK/sink/$d.err")" >>"$PROB"; }
done
cat "$PROB" >&2

{
	cat "$TXT.head"
	echo "end load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	python3 "$HERE/out_bench.py" report "$OUT"
	echo
	echo "## Logs"
	cat "$PROB"
} >"$TXT"
rm -f "$TXT.head"
python3 "$HERE/out_bench.py" report "$OUT" | sed -n '/^## Outbound/,/^## Every run/p' | sed '$d'
echo "results: $TXT (every run: $OUT)"
