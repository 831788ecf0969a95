#!/bin/sh
# Reconnect from the shell: every tetherctl invocation is a new
# controller.  Labels, fds, gc, attach scripts, a held attach session
# (busy, observer, take-over) and a killed one, all against a real
# tetherd.  Needs $TETHERCTL and $TETHERD (make check exports both).
#
# Prints "scenario_reconnect: N passed, M failed"; exits 1 if M > 0.
set -u

: "${TETHERCTL:?set TETHERCTL to the tetherctl binary}"
: "${TETHERD:?set TETHERD to the tetherd binary}"
export TETHERD

D=$(mktemp -d /tmp/tscen.XXXXXX) || exit 1
S=$D/s.sock
SPID=
APID=
pass=0
fail=0

cleanup() {
	exec 7>&- 2>/dev/null
	if [ -n "$APID" ]; then
		kill -9 "$APID" 2>/dev/null
		wait "$APID" 2>/dev/null
	fi
	if [ -n "$SPID" ] && alive "$SPID"; then
		"$TETHERCTL" -s "$S" --take-over shutdown >/dev/null 2>&1
		kill -9 "$SPID" 2>/dev/null
	fi
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ok() {
	pass=$((pass + 1))
	echo "ok   $1"
}

bad() {
	fail=$((fail + 1))
	echo "FAIL $1"
	shift
	for l in "$@"; do
		echo "     $l"
	done
}

# Running, not a zombie nobody reaped.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null)
	case $state in
	'' | Z | X) return 1 ;;
	esac
	return 0
}

nap() {
	sleep 0.05 2>/dev/null || sleep 1
}

# ctl NAME WANT_STATUS ARGS...: run tetherctl, output in $out/$err.
ctl() {
	name=$1
	want=$2
	shift 2
	"$TETHERCTL" -s "$S" "$@" >"$D/out" 2>"$D/err"
	st=$?
	out=$(cat "$D/out")
	err=$(cat "$D/err")
	if [ "$st" -eq "$want" ]; then
		ok "$name"
		return 0
	fi
	bad "$name" "tetherctl $* exited $st, expected $want" \
		"stdout: $out" "stderr: $err"
	return 1
}

# has NAME TEXT NEEDLE: TEXT contains NEEDLE.
has() {
	case $2 in
	*"$3"*) ok "$1" ;;
	*) bad "$1" "no '$3' in:" "$2" ;;
	esac
}

hasnt() {
	case $2 in
	*"$3"*) bad "$1" "unexpected '$3' in:" "$2" ;;
	*) ok "$1" ;;
	esac
}

# The fd of "name(...) = FD" in $out.
ret_of() {
	printf '%s\n' "$out" | sed -n 's/^.*) = \([0-9][0-9]*\).*$/\1/p' | tail -n 1
}

# wait_for FILE NEEDLE: poll up to 5 s.
wait_for() {
	i=0
	while [ $i -lt 100 ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		nap
		i=$((i + 1))
	done
	return 1
}

# The fds row of fd N in $out (text output of `fds`).
row_of() {
	printf '%s\n' "$out" | awk -v fd="$1" '$1 == fd { print; exit }'
}

# ---- start ------------------------------------------------------------

ctl "status before start cannot reach" 3 status
if ! ctl "start" 0 start; then
	echo "scenario_reconnect: $pass passed, $fail failed"
	exit 1
fi
SPID=$out
case $SPID in
'' | *[!0-9]*) bad "start prints the pid" "got '$SPID'" ;;
*) ok "start prints the pid" ;;
esac

printf 'one\n' >"$D/f1"
printf 'two\n' >"$D/f2"
printf 'three\n' >"$D/f3"

# ---- one invocation opens, another labels ------------------------------

ctl "call openat" 0 call openat AT_FDCWD "\"$D/f1\"" O_RDONLY
DB=$(ret_of)
[ -n "$DB" ] && ok "openat returned an fd ($DB)" ||
	bad "openat returned an fd" "$out"
ctl "label in a new invocation" 0 label "$DB" db
has "label says so" "$out" "labeled db"

ctl "fds" 0 fds
has "fds shows the label" "$(row_of "$DB")" "db"
has "fds shows the target" "$(row_of "$DB")" "$D/f1"
has "fds lists internal fds" "$out" "internal"

ctl "--json fds" 0 --json fds
has "--json fds has the label" "$out" '"label":"db"'
has "--json fds has internal entries" "$out" '"internal":true'
has "--json fds names roles" "$out" '"role":"listen"'

ctl "label of an unopened fd fails" 1 label 900 nothing
ctl "duplicate label fails" 1 label 0 db
ctl "unlabel of a missing label fails" 1 unlabel nothing

# ---- gc ------------------------------------------------------------------

ctl "open orphan 1" 0 call openat AT_FDCWD "\"$D/f2\"" O_RDONLY
O1=$(ret_of)
ctl "open orphan 2" 0 call openat AT_FDCWD "\"$D/f3\"" O_RDONLY
O2=$(ret_of)

ctl "gc --dry-run" 0 gc --dry-run
has "dry run lists the orphans" "$out" "would close 2 fds: $O1 $O2"
ctl "fds after dry run" 0 fds
[ -n "$(row_of "$O1")" ] && [ -n "$(row_of "$O2")" ] &&
	ok "dry run closed nothing" || bad "dry run closed nothing" "$out"

ctl "gc --keep" 0 gc --keep "$O1"
has "gc --keep closes the other orphan" "$out" "closed 1 fd: $O2"
ctl "fds after gc --keep" 0 fds
[ -n "$(row_of "$O1")" ] && ok "kept fd still open" ||
	bad "kept fd still open" "$out"
[ -z "$(row_of "$O2")" ] && ok "collected fd gone" ||
	bad "collected fd gone" "$out"
[ -n "$(row_of "$DB")" ] && ok "labeled fd survives gc" ||
	bad "labeled fd survives gc" "$out"
ctl "--json gc --dry-run" 0 --json gc --dry-run
has "--json gc lists the kept orphan now" "$out" "\"closed\":[$O1]"

# ---- attach < script -------------------------------------------------------

cat >"$D/good.txt" <<EOF
getpid
openat AT_FDCWD "$D/f2" O_RDONLY
fds
label $O1 second
gc
EOF
"$TETHERCTL" -s "$S" attach <"$D/good.txt" >"$D/out" 2>"$D/err"
st=$?
out=$(cat "$D/out")
[ $st -eq 0 ] && ok "attach script exits 0" ||
	bad "attach script exits 0" "status $st" "$(cat "$D/err")"
has "attach ran the syscall" "$out" "getpid() = $SPID"
has "attach ran fds" "$out" "FD "
has "attach labeled" "$out" "fd $O1 labeled second"
N=$(ret_of)
has "attach's gc closed its orphan" "$out" "closed 1 fd: $N"
ctl "fds after the script" 0 --json fds
has "script's label is there" "$out" '"label":"second"'

cat >"$D/bad.txt" <<EOF
getpid
close 987
getpid
EOF
"$TETHERCTL" -s "$S" attach <"$D/bad.txt" >"$D/out" 2>"$D/err"
st=$?
[ $st -eq 1 ] && ok "attach script with a failing line exits 1" ||
	bad "attach script with a failing line exits 1" "status $st" \
		"$(cat "$D/out")" "$(cat "$D/err")"
has "lines after the failing one still ran" "$(cat "$D/out")" \
	"EBADF"
[ "$(grep -c "getpid() = $SPID" "$D/out")" -eq 2 ] &&
	ok "both getpid lines ran" || bad "both getpid lines ran" \
	"$(cat "$D/out")"

# ---- a held attach session: busy, observer, take-over ------------------

mkfifo "$D/fifo" || exit 1
"$TETHERCTL" -s "$S" attach <"$D/fifo" >"$D/attach.out" 2>"$D/attach.err" &
APID=$!
exec 7>"$D/fifo"
echo getpid >&7
if wait_for "$D/attach.out" "getpid() = $SPID"; then
	ok "attach session answers"
else
	bad "attach session answers" "$(cat "$D/attach.out")" \
		"$(cat "$D/attach.err")"
fi

ctl "second controller is refused" 3 call getpid
has "refusal names the attached pid" "$err" "attached by pid $APID"
ctl "status works while attached (observer)" 0 status
has "status names the controller" "$out" "attached (pid $APID"
ctl "--json status while attached" 0 --json status
has "--json status: attached" "$out" '"attached":true'
has "--json status: controller pid" "$out" "\"controller_pid\":$APID"
ctl "fds works while attached (observer)" 0 fds
ctl "label refused while attached" 3 label "$DB" other

ctl "--take-over call getpid" 0 --take-over call getpid
has "take-over ran the call" "$out" "getpid() = $SPID"
echo getpid >&7
exec 7>&-
wait "$APID"
st=$?
APID=
[ $st -eq 3 ] && ok "taken-over attach session exits 3" ||
	bad "taken-over attach session exits 3" "status $st" \
		"$(cat "$D/attach.err")"
ctl "--json status after the take-over" 0 --json status
has "detached after the take-over" "$out" '"attached":false'

# ---- an attach session killed: the next controller gets in -------------

"$TETHERCTL" -s "$S" attach <"$D/fifo" >"$D/attach.out" 2>"$D/attach.err" &
APID=$!
exec 7>"$D/fifo"
echo getpid >&7
wait_for "$D/attach.out" "getpid() = $SPID" && ok "second session attached" ||
	bad "second session attached" "$(cat "$D/attach.err")"
kill -9 "$APID"
wait "$APID" 2>/dev/null
APID=
exec 7>&-
i=0
while :; do
	"$TETHERCTL" -s "$S" call getpid >"$D/out" 2>"$D/err" && break
	i=$((i + 1))
	[ $i -ge 100 ] && break
	nap
done
has "next controller after a SIGKILL" "$(cat "$D/out")" "getpid() = $SPID"
ctl "labels survive the crash" 0 --json fds
has "db label still there" "$out" '"label":"db"'
has "second label still there" "$out" '"label":"second"'

# ---- shutdown --------------------------------------------------------------

ctl "shutdown" 0 shutdown
i=0
while alive "$SPID" && [ $i -lt 100 ]; do
	nap
	i=$((i + 1))
done
alive "$SPID" && bad "server exited" "pid $SPID alive" || ok "server exited"
ctl "status after shutdown cannot reach" 3 status
# A sanitizer build of tetherd reports into its log (beside the socket).
if grep -q -e Sanitizer -e 'runtime error' "$S.log" 2>/dev/null; then
	bad "no sanitizer reports in the server log" \
		"$(grep -A5 -e Sanitizer -e 'runtime error' "$S.log" | head -20)"
else
	ok "no sanitizer reports in the server log"
fi

echo "scenario_reconnect: $pass passed, $fail failed"
[ $fail -eq 0 ]
