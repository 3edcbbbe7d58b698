#!/bin/bash
# The SMTP benchmark (a measurement, never part of `make test`): the same
# load against Postfix and against vdmaild, in one run, with the shared
# server-agnostic suite of ../shared/bench/load:
#   - 10,000 messages of 4 KiB at concurrency 1, 10 and 50 (smtp-source,
#     one session per message), timed until every message is a file in
#     the sink's Maildir; peak RSS/PSS of the whole process tree;
#   - IDLE_COUNT idle SMTP connections held open, memory per connection.
# Postfix is the shared harness's private instance (127.0.0.1:2525, fsync
# on); vdmaild runs from a temporary directory with the -O2 build.
#
# usage (as root):  tests/bench/smtp_bench.sh      or   make bench
# knobs: RUNS (3) SMTP_MSGS (10000) SMTP_CONCS ("1 10 50") IDLE_COUNT (1000)
#        SYNC_METHOD (syncfs) SKIP_POSTFIX=1 (reuse nothing, measure us only)
# Results: tests/bench/results/<UTC stamp>/ (results.jsonl, summary.md).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED_BENCH:-$(cd "$ROOT/.." && pwd)/shared/bench}
LOAD=$SHARED/load
CTL=$SHARED/peers/ctl.sh
export BENCH_ROOT=${BENCH_ROOT:-/var/tmp/mailbench}
export RUNS=${RUNS:-3} SMTP_MSGS=${SMTP_MSGS:-10000}
export SMTP_CONCS=${SMTP_CONCS:-1 10 50} IDLE_COUNT=${IDLE_COUNT:-1000}
B=${B:-build}

[ "$(id -u)" = 0 ] || { echo "run as root (the peers' setup needs it)" >&2; exit 1; }
[ -x "$LOAD/suite.sh" ] || { echo "no shared bench harness at $SHARED" >&2; exit 1; }
if [ ! -f "$BENCH_ROOT/etc/users.txt" ]; then
	"$SHARED/peers/setup.sh" || exit 1
fi
command -v smtp-source >/dev/null || { echo "smtp-source missing (postfix)" >&2; exit 1; }
make -C "$ROOT" --no-print-directory all >/dev/null || exit 1

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES=$ROOT/tests/bench/results/$STAMP
mkdir -p "$RES"
export OUT=$RES/results.jsonl HOST=127.0.0.1 SINK_ADDR=sink@d1.test
WORK=$(mktemp -d /var/tmp/vdmail-bench.XXXXXX)
VDPID=""
cleanup() {
	[ -n "$VDPID" ] && kill "$VDPID" 2>/dev/null
	"$CTL" stop postfix >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

{
	echo "date_utc: $STAMP"
	echo "host: $(uname -srm)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc)"
	echo "fs: $(findmnt -no FSTYPE,OPTIONS --target /var/tmp)"
	echo "vdmail: $(git -C "$ROOT" rev-parse --short HEAD) sync_method=${SYNC_METHOD:-syncfs}"
	echo "params: RUNS=$RUNS SMTP_MSGS=$SMTP_MSGS SMTP_CONCS='$SMTP_CONCS' IDLE_COUNT=$IDLE_COUNT"
} | tee "$RES/machine.txt"

# ---- Postfix (the shared harness's instance)
if [ "${SKIP_POSTFIX:-0}" != 1 ]; then
	"$CTL" stop all >/dev/null 2>&1
	"$CTL" start postfix
	LABEL=postfix SMTP_PORT=2525 SMTP_PIDS="$("$CTL" pid postfix)" \
		SINK_MAILDIR="$BENCH_ROOT/vmail/d1.test/sink" TESTS=smtp \
		timeout 3600 "$LOAD/suite.sh"
	"$CTL" stop postfix
	# Idle connections from a freshly started server each run.
	for r in $(seq 1 "$RUNS"); do
		"$CTL" start postfix; sleep 2
		LABEL=postfix RUNS=1 RUN_FIRST=$r SMTP_PORT=2525 \
			SMTP_PIDS="$("$CTL" pid postfix)" TESTS=idle_smtp \
			timeout 600 "$LOAD/suite.sh"
		"$CTL" stop postfix
	done
fi

# ---- vdmaild
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/etc" "$WORK/cdb"
printf 'd1.test status=active\n' >"$WORK/etc/domains.txt"
printf 'sink@d1.test user=sink@d1.test\n' >"$WORK/etc/addresses.txt"
printf 'sink@d1.test status=active\n' >"$WORK/etc/users.txt"
"$ROOT/$B/rel/vdctl" cdb build-all "$WORK/etc" "$WORK/cdb" >/dev/null || exit 1
cat >"$WORK/vdmaild.conf" <<EOF
hostname = bench.test
table_dir = cdb
spool_dir = spool
store_dir = store
pid_file = vdmaild.pid
listen = smtp 127.0.0.1:$PORT
max_connections = 5000
max_connections_per_ip = 5000
sync_method = ${SYNC_METHOD:-syncfs}
EOF

start_vd() {
	"$ROOT/$B/rel/vdmaild" -c "$WORK/vdmaild.conf" >>"$WORK/vdmaild.log" 2>&1 &
	VDPID=$!
	for _ in $(seq 1 100); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1).close()" \
			2>/dev/null && return 0
		sleep 0.1
	done
	echo "vdmaild did not start" >&2
	cat "$WORK/vdmaild.log" >&2
	exit 1
}
stop_vd() {
	kill "$VDPID"
	for _ in $(seq 1 100); do kill -0 "$VDPID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$VDPID" 2>/dev/null
	VDPID=""
}

start_vd
# The sink's Maildir exists once the first message is delivered.
python3 -c "import smtplib; s=smtplib.SMTP('127.0.0.1',$PORT); s.sendmail('w@x.test',['sink@d1.test'],'Subject: warm-up\r\n\r\n.'); s.quit()"
sleep 1
LABEL=vdmail SMTP_PORT=$PORT SMTP_PIDS=$VDPID \
	SINK_MAILDIR="$WORK/store/d1.test/sink" TESTS=smtp \
	timeout 3600 "$LOAD/suite.sh"
stop_vd
for r in $(seq 1 "$RUNS"); do
	start_vd; sleep 2
	LABEL=vdmail RUNS=1 RUN_FIRST=$r SMTP_PORT=$PORT SMTP_PIDS=$VDPID \
		TESTS=idle_smtp timeout 600 "$LOAD/suite.sh"
	stop_vd
done
if grep -E "warning|critical|fatal" "$WORK/vdmaild.log" | grep -v "running as root" >"$RES/vdmaild-problems.log"; then
	echo "vdmaild logged problems: see $RES/vdmaild-problems.log" >&2
fi

python3 "$SHARED/peers/summarize.py" "$OUT" | tee "$RES/summary.md"
python3 "$ROOT/tests/bench/ratio.py" "$OUT" | tee -a "$RES/summary.md"
echo "results in $RES"
