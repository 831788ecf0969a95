#!/bin/sh
# Run bench_roundtrip with both endpoints on one CPU, then on two.
# usage: bench/run.sh [BENCH [TETHERD [extra bench options...]]]
# Run from the build directory; the defaults are relative to it.
set -u

bench=${1:-./bench/bench_roundtrip}
tetherd=${2:-./server/tetherd}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift

for f in "$bench" "$tetherd"; do
	if [ ! -x "$f" ]; then
		echo "run.sh: $f: not an executable (build first?)" >&2
		exit 2
	fi
done

status=0
for pin in same cross; do
	if [ "$pin" = cross ] && [ "$(nproc)" -lt 2 ]; then
		echo "== pin cross: skipped, needs 2 CPUs"
		continue
	fi
	echo "== pin $pin"
	"$bench" --pin "$pin" --tetherd "$tetherd" "$@" || status=1
	echo
done
exit $status
