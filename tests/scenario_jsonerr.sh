#!/bin/sh
# Scripted recovery from the shell: with --json every failure is one
# JSON object on stdout (a connect failure, usage errors, a failed
# syscall, a request the server refused), and the exit status tells the
# cause apart: 1 the syscall failed, 3 no server, 4 --timeout ran out,
# 5 refused by the policy (the same EPERM the syscall itself gives is 1)
# or by the role (a read-only uid), 6 another controller attached, 2
# usage.  Results a script can read:
# a parked batch collected as JSON, get REMOTE - with stdout holding the
# file's bytes alone, a label café as real UTF-8, bytes that are not
# UTF-8 as {"hex": ...}.  Every JSON output is checked with python3's
# json module.  Needs $TETHERCTL and $TETHERD (make check exports both).
#
# Prints "scenario_jsonerr: N passed, M failed"; exits 1 if M > 0.
SCENARIO=jsonerr
. "$(dirname "$0")/scenario_lib.sh"
BPID=

scen_cleanup_more() {
	if [ -n "$BPID" ]; then
		kill -9 "$BPID" 2>/dev/null
		wait "$BPID" 2>/dev/null
	fi
}

if ! command -v python3 >/dev/null 2>&1; then
	echo "scenario_jsonerr: python3 is needed (scripts/dev installs it)"
	echo "scenario_jsonerr: 0 passed, 1 failed"
	exit 1
fi

# jq_ NAME FILE EXPR: FILE is exactly one JSON value (one line); EXPR, a
# python expression on it (j), is printed into $got.
jq_() {
	got=$(python3 -c '
import json, sys
text = open(sys.argv[1], "rb").read().decode("utf-8")
lines = [l for l in text.split("\n") if l.strip()]
if len(lines) != 1:
	sys.exit("%d lines of output, not one object" % len(lines))
j = json.loads(lines[0])
v = eval(sys.argv[2])
print(v if not isinstance(v, (dict, list)) else json.dumps(v, ensure_ascii=False))
' "$2" "$3" 2>&1)
	st_=$?
	if [ "$st_" -ne 0 ]; then
		bad "$1" "not one JSON value: $got" "output: $(cat "$2")"
		return 1
	fi
	ok "$1"
}

# jexpect NAME FILE EXPR WANT
jexpect() {
	jq_ "$1 (valid JSON)" "$2" "$3" && expect "$1" "$4" "$got"
}

# ---- before any server: connect and usage failures ----------------------

ctl "--json status with no server exits 3" 3 --json status
jexpect "the connect failure is an error object" "$D/out" \
	'(j["error"]["exit"], j["error"]["cause"])' "(3, 'connection')"
jexpect "it names the errno" "$D/out" 'j["error"]["errno"]' ECONNREFUSED
has "stderr still has the text" "no tetherd at" "$err"
ctl "--json unknown verb exits 2" 2 --json frobnicate
jexpect "unknown verb: usage object" "$D/out" \
	'(j["error"]["exit"], j["error"]["cause"])' "(2, 'usage')"
has "its message names the verb" "frobnicate" "$(cat "$D/out")"
ctl "--json call with too few arguments exits 2" 2 --json call read 0
jexpect "usage error before connecting: one object" "$D/out" \
	'j["error"]["message"]' "call: read takes 3 arguments, got 1"
ctl "--json with an unknown option exits 2" 2 --json --no-such-option status
jexpect "an unknown option: usage object" "$D/out" 'j["error"]["cause"]' \
	usage

# ---- a server with a read-only uid ------------------------------------------

chmod 755 "$D"
if ! ctl "start" 0 start --tetherd "$TETHERD" -- \
	--read-only-uid 65534; then
	echo "scenario_jsonerr: $pass passed, $((fail + 1)) failed"
	exit 1
fi
SPID=$out

ctl "failing call --json exits 1" 1 --json call openat AT_FDCWD \
	'"/nonexistent/file"' O_RDONLY
jexpect "the error names ENOENT" "$D/out" \
	'(j["error"]["errno"], j["error"]["errno_code"])' "('ENOENT', 2)"
jexpect "the cause is the syscall" "$D/out" \
	'(j["error"]["exit"], j["error"]["cause"])' "(1, 'syscall')"
jexpect "the call object comes along" "$D/out" \
	'(j["call"]["syscall"], j["call"]["ret"], j["call"]["errno"])' \
	"('openat', -1, 'ENOENT')"
has "stderr has the text too" "openat: No such file or directory" "$err"

ctl "the syscall's own EPERM exits 1" 1 --json call unlinkat AT_FDCWD \
	'"/proc/version"' 0
jexpect "EPERM from the syscall: cause syscall" "$D/out" \
	'(j["error"]["errno"], j["error"]["cause"])' "('EPERM', 'syscall')"

ctl "a refused request exits 1" 1 --json label 999 nothing
jexpect "EBADF, cause request" "$D/out" \
	'(j["error"]["errno"], j["error"]["cause"], j["error"]["exit"])' \
	"('EBADF', 'request', 1)"

# A pipe in the server: R, W.
ctl "pipe2" 0 --json call pipe2 @8 0
jq_ "pipe2 output is JSON" "$D/out" 'j["outs_hex"][0]'
R=$(python3 -c 'import sys; b = bytes.fromhex(sys.argv[1]); print(int.from_bytes(b[:4], "little"), int.from_bytes(b[4:], "little"))' "$got")
W=${R#* }
R=${R% *}

ctl "call --timeout on a blocking read exits 4" 4 --json call --timeout 0.2 \
	read "$R" @8 8
jexpect "timeout: ETIMEDOUT, cause timeout" "$D/out" \
	'(j["error"]["errno"], j["error"]["cause"], j["error"]["exit"])' \
	"('ETIMEDOUT', 'timeout', 4)"
ctl "without --json it exits 4 too" 4 call --timeout 0.2 read "$R" @8 8
has "the strace line says ETIMEDOUT" "= -1 ETIMEDOUT" "$out"

ctl "--async read" 0 call --async read "$R" @8 8
AID=$out
ctl "collect --timeout of a running call exits 4" 4 --json collect \
	--timeout 0.2 "$AID"
jexpect "collect timeout: cause timeout" "$D/out" \
	'(j["error"]["errno"], j["error"]["cause"])' "('ETIMEDOUT', 'timeout')"
ctl "cancel it" 0 cancel "$AID"
ctl "collect the cancelled call exits 1" 1 --json collect "$AID"
jexpect "a collected failure: error object and call" "$D/out" \
	'(j["error"]["errno"], j["error"]["cause"], j["call"]["syscall"])' \
	"('ECANCELED', 'syscall', 'read')"

# ---- another controller attached: 6 -----------------------------------------

mkfifo "$D/fifo" || exit 1
"$TETHERCTL" -s "$S" attach <"$D/fifo" >"$D/attach.out" 2>&1 &
BPID=$!
exec 7>"$D/fifo"
echo "call getpid" >&7
n=0
while [ "$n" -lt 100 ] && ! grep -q "getpid()" "$D/attach.out"; do
	nap
	n=$((n + 1))
done
ctl "a second controller exits 6" 6 --json call getpid
jexpect "conflict: EBUSY, cause conflict" "$D/out" \
	'(j["error"]["errno"], j["error"]["cause"], j["error"]["exit"])' \
	"('EBUSY', 'conflict', 6)"
exec 7>&-
wait "$BPID" 2>/dev/null
BPID=

# ---- --json attach: one object per failed line, none for the session ------

printf 'kill nosuch\nstart\nlabel 1 "open\nps\n' >"$D/lines"
ctl "a --json script with three failed lines exits 1" 1 --json attach \
	<"$D/lines"
expect "three error objects and the ps array, nothing more" \
	"error error error list" \
	"$(printf '%s\n' "$out" | python3 -c '
import json, sys
print(" ".join("error" if isinstance(j, dict) and "error" in j else
               "list" if isinstance(j, list) else "other"
               for j in map(json.loads, sys.stdin)))')"
printf 'label 1 x\nstatus\n' >"$D/lines"
ctl "an observer script refused a line exits 5" 5 --json attach --observe \
	<"$D/lines"
head -n 1 "$D/out" >"$D/first"
jexpect "its refusal is an object of its own" "$D/first" \
	'j["error"]["cause"]' role

# ---- strings are UTF-8, bytes that are not come as hex ---------------------

ctl "label café" 0 label "$R" café
ctl "--json fds" 0 --json fds
jexpect "the label comes back as café" "$D/out" \
	'[f["label"] for f in j if f["fd"] == '"$R"'][0]' café
has "raw UTF-8 on the wire, not \\u00c3" '"label":"café"' "$(cat "$D/out")"
ctl "write a byte that is not UTF-8" 0 call write "$W" x:ff41 2
ctl "--json read of it" 0 --json call read "$R" @8 8
jexpect "its out buffer is {hex}" "$D/out" 'j["outs"][0]' '{"hex": "ff41"}'
ctl "write a line with a quote and a tab" 0 call write "$W" "'a\"\\tb'" 4
ctl "--json read of text" 0 --json call read "$R" @8 8
jexpect "valid UTF-8 stays a string" "$D/out" 'repr(j["outs"][0])' \
	"'a\"\\tb'"

# ---- get REMOTE - keeps stdout for the data ---------------------------------

head -c 70000 /dev/urandom >"$D/blob"
printf 'caf\303\251\n' >>"$D/blob"
ctl "--json get REMOTE -" 0 --json get "$D/blob" -
same "stdout is exactly the file" "$D/blob" "$D/out"
jexpect "the summary is JSON on stderr" "$D/err" \
	'(j["op"], j["verified"], j["bytes"])' "('get', True, 70006)"
ctl "--json get of a missing file to - exits 1" 1 --json get \
	"$D/no-such-file" -
expect "nothing on stdout" "" "$out"
case $err in
*'{"error":'*) ok "the error object is on stderr" ;;
*) bad "the error object is on stderr" "stderr: $err" ;;
esac
printf '%s\n' "$err" | grep '^{' >"$D/errjson"
jexpect "stderr's object: ENOENT" "$D/errjson" 'j["error"]["errno"]' ENOENT

# ---- a parked batch, collected as JSON ---------------------------------------

"$TETHERCTL" -s "$S" batch - >"$D/bg.out" 2>"$D/bg.err" <<EOF &
read $R @8 8
getpid
close 999
EOF
BPID=$!
n=0
BID=
while [ "$n" -lt 100 ] && [ -z "$BID" ]; do
	ctl_any --json pending
	BID=$(python3 -c 'import json,sys
for p in json.load(open(sys.argv[1])):
	if p["batch"] and p["state"] == "running": print(p["id"])' "$D/out")
	[ -n "$BID" ] || nap
	n=$((n + 1))
done
kill -9 "$BPID" 2>/dev/null
wait "$BPID" 2>/dev/null
BPID=
if [ -n "$BID" ]; then
	ok "the batch is running in the server"
else
	bad "the batch is running in the server" "pending: $out"
fi
ctl "write so the batch ends" 0 call write "$W" "'x'" 1
ctl "--json collect of the parked batch" 0 --json collect "$BID"
jexpect "its record is JSON" "$D/out" \
	'(j["id"], j["batch"], j["completed"], j["stopped_at"])' \
	"($BID, True, 3, None)"
jexpect "entry 0 read what was written" "$D/out" \
	'(j["results"][0]["ret"], j["results"][0]["outs"])' "(1, ['x'])"
jexpect "entry 1 is the server's pid" "$D/out" 'j["results"][1]["ret"]' \
	"$SPID"
jexpect "entry 2 failed with EBADF" "$D/out" \
	'(j["results"][2]["ret"], j["results"][2]["errno"])' "(-1, 'EBADF')"

ctl "batch --json with a failing entry exits 1" 1 --json batch - <<'EOF'
getpid
close 999
EOF
python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(lines) == 3, lines
assert lines[1]["errno"] == "EBADF", lines[1]
e = lines[2]["error"]
assert (e["errno"], e["cause"], e["exit"]) == ("EBADF", "syscall", 1), e
' "$D/out" 2>"$D/py.err"
expect "batch --json: the entries, then the error object" "" \
	"$(cat "$D/py.err")"

# ---- a read-only uid is refused a control op: 5 -------------------------------

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
	asnobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	# the server admits the uid; the socket file must let it connect
	chmod 666 "$S"
	$GUARD $asnobody "$TETHERCTL" -s "$S" --json status >"$D/out" \
		2>"$D/err"
	expect "uid 65534 may look (status)" 0 $?
	$GUARD $asnobody "$TETHERCTL" -s "$S" --json call getpid >"$D/out" \
		2>"$D/err"
	expect "uid 65534 calling exits 5" 5 $?
	jexpect "read-only refusal: cause role" "$D/out" \
		'(j["error"]["errno"], j["error"]["cause"])' "('EACCES', 'role')"
else
	ok "role test skipped (needs root and setpriv)"
fi

shutdown_force

# ---- a policy's refusal is 5, with its errno ---------------------------------

S=$D/s2.sock
cat >"$D/p.policy" <<'POL'
default allow
deny mkdirat EPERM
POL
if ctl "start --policy" 0 start --tetherd "$TETHERD" --policy "$D/p.policy"
then
	SPID=$out
	ctl "a denied call exits 5" 5 --json call mkdirat AT_FDCWD \
		"\"$D/made\"" 0700
	jexpect "the policy's EPERM: cause policy" "$D/out" \
		'(j["error"]["errno"], j["error"]["cause"], j["error"]["exit"])' \
		"('EPERM', 'policy', 5)"
	has "stderr names the rule" "denied by policy" "$err"
	ctl "the syscall's own EPERM is still 1" 1 --json call unlinkat \
		AT_FDCWD '"/proc/version"' 0
	jexpect "and its cause is syscall" "$D/out" 'j["error"]["cause"]' \
		syscall

	# SIGINT ends a wait with 130, and the object says 130 too.
	ctl "spawn a sleeper" 0 spawn --label sleeper -- sleep 100
	"$TETHERCTL" -s "$S" --json wait sleeper >"$D/int.out" 2>"$D/int.err" &
	WPID=$!
	sleep 0.5
	kill -INT "$WPID"
	wait "$WPID"
	expect "an interrupted wait exits 130" 130 "$?"
	jexpect "and its object says 130, interrupted" "$D/int.out" \
		'(j["error"]["exit"], j["error"]["cause"])' "(130, 'interrupted')"
	shutdown_force
fi

echo "scenario_jsonerr: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
