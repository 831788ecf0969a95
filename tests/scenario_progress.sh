#!/bin/sh
# put and get progress on stderr, as a script sees it (stderr is a file
# here, not a terminal): nothing unless asked; --progress=json is one
# JSON object a line, each parsed, the last with "done":true and every
# byte counted; --progress draws the bar anyway (a rate, 100 %);
# --no-progress and --quiet silence it; get - keeps stdout to the
# bytes.  Needs $TETHERCTL and $TETHERD (make check exports both).
# No timing is asserted: how many lines come before the last depends on
# the machine.
#
# Prints "scenario_progress: N passed, M failed"; exits 1 if M > 0.
SCENARIO=progress
. "$(dirname "$0")/scenario_lib.sh"

# jlines NAME FILE EXPR WANT: every line of FILE is a JSON object with
# the progress keys, the counts never go back; EXPR (python, on the last
# line j, and n the number of lines) printed is WANT.
jlines() {
	got=$(python3 -c '
import json, sys
lines = [l for l in open(sys.argv[1], "rb").read().decode().split("\n") if l]
if not lines:
	sys.exit("no lines")
prev = -1
for l in lines:
	j = json.loads(l)
	keys = sorted(j)
	if keys != ["bytes", "done", "elapsed", "eta", "progress", "rate", "total"]:
		sys.exit("keys: %s" % keys)
	if j["bytes"] < prev or j["elapsed"] < 0 or j["rate"] < 0:
		sys.exit("went back: %s" % l)
	prev = j["bytes"]
	if not j["done"] and l is lines[-1]:
		sys.exit("the last line is not done")
	if j["done"] and l is not lines[-1]:
		sys.exit("done before the last line")
n = len(lines)
print(eval(sys.argv[2]))
' "$2" "$3" 2>&1)
	expect "$1" "$4" "$got"
}

if ! ctl "start" 0 start --tetherd "$TETHERD"; then
	echo "scenario_progress: $pass passed, $((fail + 1)) failed"
	exit 1
fi
SPID=$out

dd if=/dev/urandom of="$D/big" bs=1024 count=5121 2>/dev/null
size=$(wc -c <"$D/big" | tr -d ' ')

ctl "put, stderr not a terminal" 0 put "$D/big" "$D/r1"
expect "no progress unless asked" "" "$err"

ctl "put --progress=json" 0 put --progress=json "$D/big" "$D/r2"
cp "$D/err" "$D/p.put"
jlines "put: JSON lines, the last done with every byte" "$D/p.put" \
	'(j["progress"], j["bytes"], j["total"], j["eta"])' \
	"('put', $size, $size, 0)"
expect "put --progress=json: stdout untouched" "" "$out"
same "put --progress=json: the file arrived" "$D/big" "$D/r2"

cat "$D/big" | $GUARD "$TETHERCTL" -s "$S" put --progress=json - "$D/r3" \
	2>"$D/p.stdin"
expect "put - --progress=json from a pipe exits 0" 0 "$?"
jlines "from a pipe: total unknown (null)" "$D/p.stdin" \
	'(j["bytes"], j["total"], j["eta"])' "($size, None, 0)"

ctl "get --progress=json" 0 get --progress=json "$D/r2" "$D/g1"
cp "$D/err" "$D/p.get"
jlines "get: JSON lines, the last done with every byte" "$D/p.get" \
	'(j["progress"], j["bytes"], j["total"])' "('get', $size, $size)"
same "get --progress=json: the file came" "$D/big" "$D/g1"

$GUARD "$TETHERCTL" -s "$S" get --progress=json "$D/r2" - >"$D/g2" \
	2>"$D/p.get2"
expect "get - --progress=json exits 0" 0 "$?"
same "get -: stdout is the bytes alone" "$D/big" "$D/g2"
jlines "get -: the progress on stderr" "$D/p.get2" 'j["bytes"]' "$size"

ctl "--json put --progress=json" 0 --json put --progress=json "$D/big" \
	"$D/r4"
cp "$D/err" "$D/p.both"
jlines "the summary on stdout, progress on stderr" "$D/p.both" 'j["done"]' \
	True
has "--json summary still on stdout" '"op":"put"' "$out"

ctl "put --progress (a bar, asked)" 0 put --progress "$D/big" "$D/r5"
has "the bar reaches 100 %" "100%" "$err"
has "the bar shows a rate" "/s" "$err"
has "and the time it took" " in " "$err"

ctl "get --progress --no-progress" 0 get --progress --no-progress \
	"$D/r2" "$D/g3"
expect "--no-progress: nothing" "" "$err"
ctl "put --progress=json --quiet" 0 put --progress=json --quiet "$D/big" \
	"$D/r6"
expect "--quiet: nothing" "" "$err"
ctl "put -q" 0 put -q "$D/big" "$D/r7"
expect "-q: nothing" "" "$err"

ctl "--progress=bogus is a usage error" 2 put --progress=bogus "$D/big" \
	"$D/r8"
has "it says the usage" "--progress[=bar|json]" "$err"

shutdown_force
echo "scenario_progress: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
