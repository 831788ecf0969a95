#!/bin/sh
# Syscalls through the server's ring, from the shell: every tetherctl
# invocation is a new controller.  A blocking read whose tetherctl is
# killed -9 stays pending (pending, --json pending) and is collected by a
# later one after a write; call --async prints an id, cancel, collect of
# cancelled / unknown ids, call --timeout (ETIMEDOUT), an O_NONBLOCK read
# (EAGAIN at once), nanosleep through the ring, batch (- with a
# here-doc using $K references, a failing entry with and without --stop,
# bad references), and submit (ids collected later, --wait in completion
# order, --timeout leaving a read running, what it refuses), against a
# real tetherd.
# Needs $TETHERCTL and $TETHERD (make check exports both).
#
# Prints "scenario_async: N passed, M failed"; exits 1 if M > 0.
SCENARIO=async
. "$(dirname "$0")/scenario_lib.sh"
BPID=

# A tetherctl blocked in a read, if one is left.
scen_cleanup_more() {
	if [ -n "$BPID" ]; then
		kill -9 "$BPID" 2>/dev/null
		wait "$BPID" 2>/dev/null
	fi
}

# is_id NAME VALUE: a positive decimal.
is_id() {
	case $2 in
	'' | *[!0-9]* | 0) bad "$1" "not an id: '$2'" ;;
	*) ok "$1" ;;
	esac
}

# line N TEXT: the N-th line of TEXT.
line() {
	printf '%s\n' "$2" | sed -n "$1p"
}

# Milliseconds of the monotonic-ish wall clock (date +%s%N when it
# works, else seconds * 1000).
now_ms() {
	n=$(date +%s%N 2>/dev/null)
	case $n in
	*N | '') echo $(($(date +%s) * 1000)) ;;
	*) echo $((n / 1000000)) ;;
	esac
}

# fds_of HEX: the two little-endian int32 fds of a pipe2 buffer, as
# "R W" ("0300000004000000" -> "3 4").
fds_of() {
	h=$1
	r=$(printf '%s' "$h" | cut -c1-8)
	w=$(printf '%s' "$h" | cut -c9-16)
	set -- "$r" "$w"
	for x in "$@"; do
		le=$(printf '%s' "$x" | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/')
		printf '%d ' "0x$le"
	done
}

# pipe NAME FLAGS: a pipe in the server, its fds in $R and $W.
pipe() {
	pname=$1
	R=
	W=
	if ctl "$pname" 0 --json call pipe2 @8 "$2"; then
		hex=$(printf '%s' "$out" |
			sed -n 's/.*"outs_hex":\["\([0-9a-f]*\)"\].*/\1/p')
		set -- $(fds_of "$hex")
		R=${1:-}
		W=${2:-}
	fi
	case $R$W in
	'' | *[!0-9]*)
		bad "$pname gives two fds" "stdout: $out"
		R=0
		W=0
		;;
	esac
}

# pending_has PATTERN: `--json pending` matches it now.
pending_has() {
	ctl_any --json pending
	case $out in
	*$1*) return 0 ;;
	esac
	return 1
}

# wait_pending PATTERN: poll until it does (5 s).
wait_pending() {
	wait_until 5 pending_has "$1"
}

# ---- start ------------------------------------------------------------

if ! ctl "start" 0 start; then
	echo "scenario_async: $pass passed, $((fail + 1)) failed"
	exit 1
fi
SPID=$out
case $SPID in
'' | *[!0-9]*)
	bad "start prints the pid" "got '$SPID'"
	echo "scenario_async: $pass passed, $fail failed"
	exit 1
	;;
*) ok "start prints the pid" ;;
esac

# ---- a read in flight outlives its tetherctl ----------------------------

pipe "pipe2 (blocking)" 0
"$TETHERCTL" -s "$S" call read "$R" @64 64 >"$D/bg.out" 2>"$D/bg.err" &
BPID=$!
if wait_pending '"syscall":"read","nr":0,"state":"running"'; then
	ok "the blocking read is running in the ring"
else
	bad "the blocking read is running in the ring" "pending: $out"
fi
kill -9 "$BPID" 2>/dev/null
wait "$BPID" 2>/dev/null
BPID=
ok "tetherctl blocked in read killed -9"

t0=$(now_ms)
ctl "pending after the kill" 0 pending
t1=$(now_ms)
echo "     (attach + pending took $((t1 - t0)) ms)"
has "pending lists the read" "read" "$out"
has "pending shows it running" "running" "$out"
has "pending has a header" "STATE" "$out"

ctl "--json pending" 0 --json pending
json=$out
RID=$(printf '%s' "$json" |
	sed -n 's/.*"id":\([0-9]*\),"syscall":"read","nr":0,"state":"running".*/\1/p')
is_id "--json pending gives the read's id" "$RID"
for f in '"id":' '"syscall":"read"' '"state":"running"' '"since":"' \
	'"since_ms":' '"generation":' '"batch":false' '"waited":false'; do
	has "--json pending has $f" "$f" "$json"
done
case $json in
*'"since":"'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*Z'"'*)
	ok "--json since is an ISO-8601 UTC time" ;;
*) bad "--json since is an ISO-8601 UTC time" "$json" ;;
esac

ctl "write to the pipe" 0 call write "$W" "'hello'" 5
expect "write prints its result" "write($W, 'hello', 5) = 5" "$out"
ctl "collect the killed read" 0 collect "$RID"
expect "collect prints the read" "read($R, \"hello\", 64) = 5" "$out"
ctl "pending after collect" 0 --json pending
lacks "the collected read is gone" "\"id\":$RID," "$out"
ctl "collect it again" 1 collect "$RID"
has "second collect: no such request" "no pending request" "$err"

# ---- async, cancel --------------------------------------------------------

ctl "call --async" 0 call --async read "$R" @64 64
AID=$out
is_id "call --async prints an id" "$AID"
ctl "pending lists the async read" 0 pending
has "async read in pending" "$AID" "$out"
ctl "cancel ID" 0 cancel "$AID"
expect "cancel prints what it did" "request $AID cancelled" "$out"
ctl "collect the cancelled read" 1 collect "$AID"
has "cancelled read is ECANCELED" "= -1 ECANCELED" "$out"
ctl "cancel a collected id" 1 cancel "$AID"
has "cancel of a gone id: no such request" "no pending request" "$err"
ctl "cancel an unknown id" 1 cancel 99999
has "cancel of an unknown id: no such request" "no pending request" \
	"$err"
ctl "collect an unknown id" 1 collect 99999
has "collect of an unknown id: no such request" "no pending request" \
	"$err"

ctl "write one byte" 0 call write "$W" "'z'" 1
ctl "call --async on a full pipe" 0 call --async read "$R" @64 64
FID=$out
is_id "it prints an id" "$FID"
if wait_pending "\"id\":$FID,\"syscall\":\"read\",\"nr\":0,\"state\":\"done\""; then
	ok "the finished read is parked as done"
else
	bad "the finished read is parked as done" "pending: $out"
fi
ctl "cancel a finished request" 1 cancel "$FID"
has "cancel of a finished request: completed (EALREADY)" "completed" \
	"$err"
ctl "collect the finished request" 0 collect "$FID"
expect "it kept its result" "read($R, \"z\", 64) = 1" "$out"

# ---- timeout, nonblocking, nanosleep ----------------------------------------

ctl "call --timeout 0.2 on an empty pipe" 4 call --timeout 0.2 read "$R" \
	@64 64
has "it prints -1 ETIMEDOUT" "= -1 ETIMEDOUT" "$out"
ctl "pending after the timeout" 0 --json pending
expect "nothing left pending" "[]" "$out"

pipe "pipe2 O_NONBLOCK" O_NONBLOCK
t0=$(now_ms)
ctl "read of an empty O_NONBLOCK pipe" 1 call read "$R" @8 8
t1=$(now_ms)
has "it prints -1 EAGAIN" "= -1 EAGAIN" "$out"
if [ $((t1 - t0)) -lt 5000 ]; then
	ok "EAGAIN at once ($((t1 - t0)) ms)"
else
	bad "EAGAIN at once" "took $((t1 - t0)) ms"
fi

# 100 ms: tv_sec 0, tv_nsec 100,000,000 = 0x05f5e100, little-endian.
ctl "nanosleep 100 ms through the ring" 0 call nanosleep \
	x:000000000000000000e1f50500000000 0
has "nanosleep returns 0" ") = 0" "$out"

# ---- batch -----------------------------------------------------------------

printf 'tether batch\n' >"$D/f"
ctl "batch - with \$0 references" 0 batch - <<EOF
openat AT_FDCWD '"$D/f"' O_RDONLY
read \$0 @64 64
close \$0
EOF
expect "batch prints one line per entry" 3 "$(printf '%s\n' "$out" | wc -l |
	tr -d ' ')"
has "openat line" "openat(AT_FDCWD, \"$D/f\", O_RDONLY) = " \
	"$(line 1 "$out")"
expect "read(\$0) line" "read(\$0, \"tether batch\\n\", 64) = 13" \
	"$(line 2 "$out")"
expect "close(\$0) line" "close(\$0) = 0" "$(line 3 "$out")"

ctl "batch - with a failing entry" 1 batch - <<'EOF'
getpid
call close 9999
getpid
EOF
expect "all three ran" 3 "$(printf '%s\n' "$out" | wc -l | tr -d ' ')"
expect "first entry" "getpid() = $SPID" "$(line 1 "$out")"
has "the failing entry reports its errno" "close(9999) = -1 EBADF" \
	"$(line 2 "$out")"
expect "the entry after the failure ran" "getpid() = $SPID" \
	"$(line 3 "$out")"

ctl "batch --stop with a failing entry" 1 batch --stop - <<'EOF'
getpid
close 9999
getpid
EOF
has "the failing entry reports its errno" "close(9999) = -1 EBADF" \
	"$(line 2 "$out")"
has "the rest is ECANCELED" "getpid() = -1 ECANCELED" "$(line 3 "$out")"
has "batch --stop says where it stopped" "stopped at entry 1" "$out"

ctl "batch with a reference to a later entry" 1 batch - <<'EOF'
getpid
dup $2
getpid
EOF
has "reference to a later entry is EINVAL" "= -1 EINVAL" "$(line 2 "$out")"
expect "the others ran" "getpid() = $SPID" "$(line 3 "$out")"

ctl "batch with a reference to a failed entry" 1 batch - <<'EOF'
openat AT_FDCWD '"/nonexistent/tether"' O_RDONLY
read $0 @8 8
EOF
has "the failed entry" "= -1 ENOENT" "$(line 1 "$out")"
has "reference to it is ECANCELED" "= -1 ECANCELED" "$(line 2 "$out")"

ctl "empty batch is a usage error" 2 batch - </dev/null

# ---- submit ----------------------------------------------------------------

# Side by side: a read that waits on an empty pipe does not hold up the
# calls after it, and stays running for a later tetherctl to collect.
pipe "pipe2 (for submit)" 0
ctl "submit - prints one id per call" 0 submit - <<EOF
read $R @64 64
getpid
openat AT_FDCWD '"/nonexistent/tether"' O_RDONLY
EOF
expect "three ids" 3 "$(printf '%s\n' "$out" | wc -l | tr -d ' ')"
RID=$(line 1 "$out")
GID=$(line 2 "$out")
OID=$(line 3 "$out")
is_id "the read's id" "$RID"
ctl "pending lists the read as running" 0 --json pending
has "the read runs on" \
	"{\"id\":$RID,\"syscall\":\"read\",\"nr\":0,\"state\":\"running\"" "$out"
ctl "collect the getpid of the submit" 0 collect "$GID"
expect "its result" "getpid() = $SPID" "$out"
ctl "collect the failed openat of the submit" 1 collect "$OID"
has "its errno" "= -1 ENOENT" "$out"
ctl "write into the pipe" 0 call write "$W" "'sub\n'" 4
ctl "collect the submitted read" 0 collect "$RID"
expect "it read what was written" "read($R, \"sub\\n\", 64) = 4" "$out"

# --wait: results in the order they complete, entry and id on each.
# 200 ms: tv_nsec 200,000,000 = 0x0bebc200, little-endian.
cat >"$D/sub" <<'CALLS'
# the slow one first
nanosleep x:000000000000000000c2eb0b00000000 0
getpid
close 9999
CALLS
ctl "submit --wait, one entry failing" 1 submit --wait "$D/sub"
expect "three lines" 3 "$(printf '%s\n' "$out" | wc -l | tr -d ' ')"
expect "the getpid came first" "[entry 1] getpid() = $SPID" \
	"$(line 1 "$out")"
has "then the close" "[entry 2] close(9999) = -1 EBADF" "$(line 2 "$out")"
has "the nanosleep last" "[entry 0] nanosleep(" "$(line 3 "$out")"
ctl "submit --wait --json" 1 --json submit --wait "$D/sub"
has "objects carry entry and id" '{"entry":1,"id":' "$(line 1 "$out")"
has "and the call's members" '"syscall":"getpid","nr":39' "$(line 1 "$out")"
has "the error object names the first failed entry" \
	'submit: entry 2 (close)' "$err"
ctl "nothing left pending after --wait" 0 --json pending
expect "pending is empty" "[]" "$out"

# --timeout: what has not completed runs on, its id printed.
ctl "submit --timeout 0.3 with a read that waits" 4 --json submit \
	--timeout 0.3 - <<EOF
getpid
read $R @64 64
EOF
has "the getpid came" '{"entry":0,"id":' "$(line 1 "$out")"
has "the read is still running" '"syscall":"read","state":"running"}' \
	"$(line 2 "$out")"
has "stderr says the time ran out" "--timeout ran out with 1 of 2" "$err"
RID=$(line 2 "$out" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
is_id "the running read's id" "$RID"
ctl "write into the pipe again" 0 call write "$W" "'t\n'" 2
ctl "collect the read left running" 0 collect "$RID"
expect "it read" "read($R, \"t\\n\", 64) = 2" "$out"

# Ctrl-C while --wait waits: what still runs is cancelled and taken, so
# nothing is left parked; 130 as shells report SIGINT.
"$TETHERCTL" -s "$S" submit --wait - >"$D/iout" 2>"$D/ierr" <<EOF &
getpid
read $R @64 64
read $R @64 64
EOF
BPID=$!
if wait_until 5 grep -q getpid "$D/iout"; then
	ok "submit --wait printed the getpid"
else
	bad "submit --wait printed the getpid" "$(cat "$D/iout" "$D/ierr")"
fi
kill -INT "$BPID"
wait "$BPID"
st=$?
BPID=
expect "SIGINT: exit 130" 130 "$st"
has "it says what it cancelled" "interrupted; 2 calls cancelled" \
	"$(cat "$D/ierr")"
ctl "pending after the interrupt" 0 --json pending
expect "nothing parked" "[]" "$out"

# What submit refuses before anything runs: exit 2, the line named.
ctl "submit with a \$k reference" 2 submit - <<'CALLS'
getpid
dup $0
CALLS
has "it names the line and why" "submit line 2: argument 1: \$0" "$err"
ctl "submit with a buffer over 64 KiB" 2 submit - <<'CALLS'
read 0 @70000 70000
CALLS
has "it says the buffer is too big" \
	"submit line 1: argument 2: a buffer over 64 KiB" "$err"
ctl "empty submit is a usage error" 2 submit - </dev/null
awk 'BEGIN { for (i = 0; i < 1025; i++) print "getpid" }' >"$D/many"
ctl "1025 calls is a usage error" 2 submit "$D/many"
has "it says the bound" "1025 calls; at most 1024" "$err"
ctl "after all that, pending is empty" 0 --json pending
expect "nothing ran" "[]" "$out"
awk 'BEGIN { for (i = 0; i < 1024; i++) print "getpid" }' >"$D/many"
ctl "1024 getpids with --wait" 0 submit --wait "$D/many"
expect "1024 results" 1024 \
	"$(printf '%s\n' "$out" | grep -c "getpid() = $SPID")"

# ---- shutdown -----------------------------------------------------------

pipe "pipe2 (for shutdown)" 0
ctl "call --async read of an empty pipe" 0 call --async read "$R" @8 8
ctl "shutdown --force with a read in the ring" 0 shutdown --force
if wait_while 5 alive "$SPID"; then
	ok "tetherd exits"
	SPID=
else
	bad "tetherd exits" "pid $SPID still runs"
fi

echo "scenario_async: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
