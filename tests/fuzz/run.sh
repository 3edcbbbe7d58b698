#!/bin/bash
# Builds the libFuzzer targets and runs each for SECONDS (default 10)
# from its seed corpus. Ends with one line "fuzz: N passed, N failed";
# a target passes when it ran its time without a finding.
# usage: tests/fuzz/run.sh [SECONDS]
set -u
cd "$(dirname "$0")/../.."
secs=${1:-10}
out=${B:-build}/fuzz
mkdir -p "$out"
flags=(-std=c17 -D_GNU_SOURCE -I. -O1 -g -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all)
declare -A srcs=(
	[fuzz_smtp]="protocols/smtp_parse.c protocols/smtp_data.c core/buf.c core/util.c"
	[fuzz_tbl_rec]="cdb/tbl_rec.c core/util.c"
	[fuzz_pop3]="protocols/pop3_parse.c core/util.c"
	[fuzz_sasl]="core/sasl.c core/util.c"
	[fuzz_env]="spool/spool_env.c core/buf.c core/util.c cdb/tbl_rec.c"
	[fuzz_autoreply]="spool/autoreply.c spool/autoreply_once.c core/buf.c core/util.c"
	[fuzz_bounce]="spool/bounce.c core/buf.c core/util.c"
	[fuzz_dircache]="tools/dir_cache.c tools/dir_entry.c tools/strmap.c tools/dir_gen.c tools/dir_map.c cdb/tbl_rec.c cdb/tbl.c cdb/tbl_build.c core/util.c core/log.c core/buf.c -lcdb"
)
pass=0
fail=0
for t in fuzz_smtp fuzz_tbl_rec fuzz_dircache fuzz_pop3 fuzz_sasl fuzz_env \
	fuzz_autoreply fuzz_bounce; do
	# shellcheck disable=SC2086
	if ! clang "${flags[@]}" "tests/fuzz/$t.c" ${srcs[$t]} -o "$out/$t" \
		>"$out/$t.build.log" 2>&1; then
		echo "$t: build failed"; cat "$out/$t.build.log"
		fail=$((fail + 1))
		continue
	fi
	corpus=$(mktemp -d)
	cp tests/fuzz/seeds/$t/* "$corpus/" 2>/dev/null
	if (cd "$out" && "./$t" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=1024 -print_final_stats=1 "$corpus" >"$t.log" 2>&1); then
		echo "$t ... ok ($(grep -a -m1 -o 'stat::number_of_executed_units: [0-9]*' "$out/$t.log" | awk '{print $2}') runs)"
		pass=$((pass + 1))
	else
		echo "$t ... FAILED (see $out/$t.log and $out/crash-*)"
		tail -30 "$out/$t.log"
		fail=$((fail + 1))
	fi
	rm -rf "$corpus"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
