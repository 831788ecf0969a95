#!/bin/sh
# Reconnect from the shell: every tetherctl invocation is a new
# controller.  Labels, fds, gc, attach scripts, a held attach session
# (busy, observer, take-over) and a killed one, all against a real
# tetherd.  Needs $TETHERCTL and $TETHERD (make check exports both).
#
# Prints "scenario_reconnect: N passed, M failed"; exits 1 if M > 0.
SCENARIO=reconnect
. "$(dirname "$0")/scenario_lib.sh"
APID=

# The attach session, if one runs, and our end of its fifo.
scen_cleanup_more() {
	exec 7>&- 2>/dev/null
	if [ -n "$APID" ]; then
		kill -9 "$APID" 2>/dev/null
		wait "$APID" 2>/dev/null
	fi
}

# The fd of "name(...) = FD" in $out.
ret_of() {
	printf '%s\n' "$out" | sed -n 's/^.*) = \([0-9][0-9]*\).*$/\1/p' | tail -n 1
}

# wait_for FILE NEEDLE: poll up to 5 s.
wait_for() {
	wait_until 5 grep -qs -- "$2" "$1"
}

# getpid on a connection of its own, output in $D/out and $D/err.
call_getpid() {
	"$TETHERCTL" -s "$S" call getpid >"$D/out" 2>"$D/err"
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
has "label says so" "labeled db" "$out"

ctl "fds" 0 fds
has "fds shows the label" "db" "$(row_of "$DB")"
has "fds shows the target" "$D/f1" "$(row_of "$DB")"
has "fds lists internal fds" "internal" "$out"

ctl "--json fds" 0 --json fds
has "--json fds has the label" '"label":"db"' "$out"
has "--json fds has internal entries" '"internal":true' "$out"
has "--json fds names roles" '"role":"listen"' "$out"

ctl "label of an unopened fd fails" 1 label 900 nothing
ctl "duplicate label fails" 1 label 0 db
ctl "unlabel of a missing label fails" 1 unlabel nothing

# ---- gc ------------------------------------------------------------------

ctl "open orphan 1" 0 call openat AT_FDCWD "\"$D/f2\"" O_RDONLY
O1=$(ret_of)
ctl "open orphan 2" 0 call openat AT_FDCWD "\"$D/f3\"" O_RDONLY
O2=$(ret_of)

ctl "gc --dry-run" 0 gc --dry-run
has "dry run lists the orphans" "would close 2 fds: $O1 $O2" "$out"
ctl "fds after dry run" 0 fds
[ -n "$(row_of "$O1")" ] && [ -n "$(row_of "$O2")" ] &&
	ok "dry run closed nothing" || bad "dry run closed nothing" "$out"

ctl "gc --keep" 0 gc --keep "$O1"
has "gc --keep closes the other orphan" "closed 1 fd: $O2" "$out"
ctl "fds after gc --keep" 0 fds
[ -n "$(row_of "$O1")" ] && ok "kept fd still open" ||
	bad "kept fd still open" "$out"
[ -z "$(row_of "$O2")" ] && ok "collected fd gone" ||
	bad "collected fd gone" "$out"
[ -n "$(row_of "$DB")" ] && ok "labeled fd survives gc" ||
	bad "labeled fd survives gc" "$out"
ctl "--json gc --dry-run" 0 --json gc --dry-run
has "--json gc lists the kept orphan now" "\"closed\":[$O1]" "$out"

# ---- attach < script -------------------------------------------------------

cat >"$D/good.txt" <<EOF
getpid
openat AT_FDCWD '"$D/f2"' O_RDONLY
fds
label $O1 second
gc
EOF
"$TETHERCTL" -s "$S" attach <"$D/good.txt" >"$D/out" 2>"$D/err"
st=$?
out=$(cat "$D/out")
[ $st -eq 0 ] && ok "attach script exits 0" ||
	bad "attach script exits 0" "status $st" "$(cat "$D/err")"
has "attach ran the syscall" "getpid() = $SPID" "$out"
has "attach ran fds" "FD " "$out"
has "attach labeled" "fd $O1 labeled second" "$out"
N=$(ret_of)
has "attach's gc closed its orphan" "closed 1 fd: $N" "$out"
ctl "fds after the script" 0 --json fds
has "script's label is there" '"label":"second"' "$out"

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
has "lines after the failing one still ran" "EBADF" "$(cat "$D/out")"
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

ctl "second controller is refused (6, a conflict)" 6 call getpid
has "refusal names the attached pid" "attached by pid $APID" "$err"
has "refusal says another controller is attached" \
	"another controller is attached" "$err"
has "refusal names the socket" "$S" "$err"
# take and give send their request right behind the HELLO (pipelined):
# the refusal still reads as the connect's, and nothing is taken
callerr=$err
ctl "pipelined take is refused the same (6)" 6 take /dev/null --label piped
[ "$err" = "$callerr" ] && ok "pipelined take: the connect's words" ||
	bad "pipelined take: the connect's words" "$err" "$callerr"
ctl "pipelined give is refused the same (6)" 6 give 0 -- true
[ "$err" = "$callerr" ] && ok "pipelined give: the connect's words" ||
	bad "pipelined give: the connect's words" "$err" "$callerr"
ctl "pipelined take of a missing file: still the connect's (6)" 6 \
	take "$D/no-such-file"
ctl "status works while attached (observer)" 0 status
has "status names the controller" "attached (pid $APID" "$out"
ctl "--json status while attached" 0 --json status
has "--json status: attached" '"attached":true' "$out"
has "--json status: controller pid" "\"controller_pid\":$APID" "$out"
ctl "fds works while attached (observer)" 0 fds
lacks "the refused pipelined take took nothing" "piped" "$out"
ctl "label refused while attached" 6 label "$DB" other

ctl "--take-over call getpid" 0 --take-over call getpid
has "take-over ran the call" "getpid() = $SPID" "$out"
# The session ends at the take-over itself, its script still open (no
# next line needed): it has closed the FIFO's reading end by now.
wait "$APID"
st=$?
APID=
exec 7>&-
case $st in
6) ok "taken-over attach session exits 6" ;;
*) bad "taken-over attach session exits 6" "status $st" \
	"$(cat "$D/attach.err")" ;;
esac
has "taken-over attach session says who took over" \
	"tetherctl: taken over by pid" "$(cat "$D/attach.err")"
ctl "--json status after the take-over" 0 --json status
has "detached after the take-over" '"attached":false' "$out"

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
wait_until 5 call_getpid
has "next controller after a SIGKILL" "getpid() = $SPID" "$(cat "$D/out")"
ctl "labels survive the crash" 0 --json fds
has "db label still there" '"label":"db"' "$out"
has "second label still there" '"label":"second"' "$out"

# ---- a controller blocked in a call is taken over -----------------------
# It hears at once who took over, exits 6, not on its next command.

# Reads of the server's running: a blocked read shows up there.
reads_running() {
	"$TETHERCTL" -s "$S" pending 2>/dev/null | grep -c ' read  *running'
}
more_reads_than() {
	[ "$(reads_running)" -gt "$1" ]
}

# blocked_then_taken NAME [TETHERCTL-OPTION]: a `call read` that blocks,
# then a take-over from another tetherctl; the first must exit 6 naming
# the second's pid and our uid, in one line.
blocked_then_taken() {
	name=$1
	shift
	n=$(reads_running)
	"$TETHERCTL" -s "$S" "$@" call read "$EV" @8 8 >"$D/a.out" \
		2>"$D/a.err" &
	APID=$!
	if ! wait_until 5 more_reads_than "$n"; then
		bad "$name: the read blocks in the server" \
			"$("$TETHERCTL" -s "$S" pending 2>&1)" "$(cat "$D/a.err")"
		return
	fi
	"$TETHERCTL" -s "$S" --take-over call getpid >"$D/b.out" \
		2>"$D/b.err" &
	BPID=$!
	wait "$BPID"
	bst=$?
	expect "$name: the take-over ran" 0 "$bst"
	if wait_while 5 alive "$APID"; then
		wait "$APID"
		st=$?
	else
		kill -9 "$APID"
		wait "$APID" 2>/dev/null
		st=timeout
	fi
	APID=
	expect "$name: the blocked call exits 6" 6 "$st"
	expect "$name: one line saying who took over" \
		"tetherctl: taken over by pid $BPID uid $(id -u)" \
		"$(cat "$D/a.err")"
}

ctl "an eventfd to block on" 0 call eventfd2 0 0
EV=$(ret_of)
is_fd "eventfd2 gave an fd" "$EV"
blocked_then_taken "call read"
blocked_then_taken "--json call read" --json
ctl "the server serves the next controller" 0 call getpid
has "getpid after the take-overs" "getpid() = $SPID" "$out"

# ---- connect failures name the socket once -------------------------------

ctl "no tetherd: unreachable" 3 -s "$D/none.sock" status
expect "no tetherd: the message names the socket once" \
	"tetherctl: no tetherd at $D/none.sock" "$err"

# ---- shutdown --------------------------------------------------------------

ctl "shutdown" 0 shutdown
wait_while 5 alive "$SPID" && ok "server exited" ||
	bad "server exited" "pid $SPID alive"
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
