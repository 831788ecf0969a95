#!/bin/sh
# Run the benchmarks with both endpoints on one CPU, then on two.
# usage: bench/run.sh [BENCH|all [TETHERD [extra bench options...]]]
# BENCH is one bench executable; all (the default) runs
# ./bench/bench_roundtrip, bench_reconnect, bench_workers, bench_async,
# bench_data, bench_policy, bench_s6 (which skips without s6), then
# bench_scale.
# Run from the build directory; the defaults are relative to it.
set -u

bench=${1:-all}
tetherd=${2:-./server/tetherd}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift

check() {
	if [ ! -x "$1" ]; then
		echo "run.sh: $1: not an executable (build first?)" >&2
		exit 2
	fi
}

# run_one BENCH [extra options...]: same, then cross.
run_one() {
	b=$1
	shift
	for pin in same cross; do
		if [ "$pin" = cross ] && [ "$(nproc)" -lt 2 ]; then
			echo "== ${b##*/}, pin cross: skipped, needs 2 CPUs"
			continue
		fi
		echo "== ${b##*/}, pin $pin"
		"$b" --pin "$pin" --tetherd "$tetherd" "$@" || status=1
		echo
	done
}

if [ "$bench" = all ]; then
	check ./bench/bench_roundtrip
	check ./bench/bench_reconnect
	check ./bench/bench_workers
	check ./bench/bench_async
	check ./bench/bench_data
	check ./bench/bench_policy
	check ./bench/bench_s6
	check ./bench/bench_scale
else
	check "$bench"
fi
check "$tetherd"

status=0
if [ "$bench" = all ]; then
	run_one ./bench/bench_roundtrip "$@"
	run_one ./bench/bench_reconnect "$@"
	run_one ./bench/bench_workers "$@"
	run_one ./bench/bench_async "$@"
	run_one ./bench/bench_data "$@"
	run_one ./bench/bench_policy "$@"
	run_one ./bench/bench_s6 "$@"
	run_one ./bench/bench_scale "$@"
else
	run_one "$bench" "$@"
fi
exit $status
