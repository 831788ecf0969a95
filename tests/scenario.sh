#!/bin/sh
# Drive the real tetherctl against a real tetherd on a private socket:
# start, status, calls whose fds outlive the invocation that opened
# them, errors and exit codes, a refused second start, shutdown.
#
# Needs $TETHERCTL and $TETHERD (make check exports both).  Prints one
# line per check and "scenario: N passed, M failed"; exits 1 on any
# failure.
SCENARIO=cli
. "$(dirname "$0")/scenario_lib.sh"

# not_ok NAME LINES...: bad, with what the last run printed.
not_ok() {
	bad "$@"
	if [ -s "$D/out" ]; then
		sed 's/^/       stdout: /' "$D/out"
	fi
	if [ -s "$D/err" ]; then
		sed 's/^/       stderr: /' "$D/err"
	fi
}

# run ARGS...: run tetherctl on our socket; stdout in $D/out, stderr in
# $D/err, exit status in $rc.
run() {
	$GUARD "$TETHERCTL" -s "$S" "$@" >"$D/out" 2>"$D/err"
	rc=$?
}

# expect_rc NAME WANT: check $rc.
expect_rc() {
	if [ "$rc" -eq "$2" ]; then
		ok "$1"
	else
		not_ok "$1" "exit status $rc, want $2"
	fi
}

# expect_out NAME LINE: stdout is exactly LINE (and the exit status 0).
expect_out() {
	got=$(cat "$D/out")
	if [ "$rc" -eq 0 ] && [ "$got" = "$2" ]; then
		ok "$1"
	else
		not_ok "$1" "exit status $rc, want 0" "want stdout: $2"
	fi
}

# wait_gone PID: poll up to 10 s.
wait_gone() {
	wait_while 10 alive "$1"
}

file=$D/hello.txt
printf 'hello\n' >"$file"

# ---- start -------------------------------------------------------------
run start
SPID=$(cat "$D/out")
case $SPID in
'' | *[!0-9]*)
	not_ok "start prints a pid" "got '$SPID'"
	SPID=
	;;
*)
	if [ "$rc" -eq 0 ] && kill -0 "$SPID" 2>/dev/null; then
		ok "start prints a pid ($SPID) and returns"
	else
		not_ok "start prints a pid" "exit status $rc, pid $SPID"
	fi
	;;
esac
if [ -z "$SPID" ]; then
	echo "scenario: $pass passed, $fail failed (no server to go on with)"
	exit 1
fi

if [ -S "$S" ]; then
	ok "socket exists"
else
	not_ok "socket exists" "no socket at $S"
fi

# ---- status --------------------------------------------------------------
run status
if [ "$rc" -eq 0 ] && grep -q "^pid  *$SPID\$" "$D/out" &&
	grep -q "^persistent  *yes\$" "$D/out"; then
	ok "status names the pid, persistent"
else
	not_ok "status names the pid, persistent" "exit status $rc"
fi

run --json status
if [ "$rc" -eq 0 ] && grep -q "\"pid\":$SPID[,}]" "$D/out" &&
	grep -q '"persistent":true' "$D/out"; then
	ok "--json status"
else
	not_ok "--json status" "want \"pid\":$SPID and \"persistent\":true"
fi

# ---- calls; fds outlive the invocation ------------------------------------
run call openat AT_FDCWD "\"$file\"" O_RDONLY
fd=$(sed -n 's/^openat(AT_FDCWD, "\(.*\)", O_RDONLY) = \([0-9][0-9]*\)$/\2/p' "$D/out")
if [ "$rc" -eq 0 ] && [ -n "$fd" ] &&
	grep -q "^openat(AT_FDCWD, \"$file\", O_RDONLY) = $fd\$" "$D/out"; then
	ok "call openat prints openat(AT_FDCWD, \"FILE\", O_RDONLY) = $fd"
else
	not_ok "call openat" "exit status $rc"
	fd=9999
fi

run call read "$fd" @64 64
expect_out "a later call reads the fd it opened" \
	"read($fd, \"hello\\n\", 64) = 6"

run call read "$fd" @64 64
expect_out "the fd's offset persists across invocations" \
	"read($fd, \"\", 64) = 0"

run call lseek "$fd" 1 SEEK_SET
expect_out "lseek with a symbolic whence" "lseek($fd, 1, SEEK_SET) = 1"

run --json call getpid
if [ "$rc" -eq 0 ] && grep -q "\"ret\":$SPID[,}]" "$D/out"; then
	ok "--json call getpid has \"ret\":$SPID"
else
	not_ok "--json call getpid" "want \"ret\":$SPID"
fi

run call write "$fd" "'x'" 1
if [ "$rc" -eq 1 ] && grep -q '= -1 EBADF (Bad file descriptor)$' "$D/out"; then
	ok "write to a read-only fd: -1 EBADF, exit 1"
else
	not_ok "write to a read-only fd" "exit status $rc, want 1 and EBADF"
fi

run call close "$fd"
expect_out "close" "close($fd) = 0"

run call read "$fd" @64 64
if [ "$rc" -eq 1 ] && grep -q '= -1 EBADF' "$D/out"; then
	ok "read after close: EBADF, exit 1"
else
	not_ok "read after close" "exit status $rc"
fi

# ---- errors and exit codes -----------------------------------------------
run call openat AT_FDCWD "\"$D/missing\"" O_RDONLY
if [ "$rc" -eq 1 ] &&
	grep -q '= -1 ENOENT (No such file or directory)$' "$D/out"; then
	ok "failed syscall prints = -1 ENOENT (...) and exits 1"
else
	not_ok "failed syscall" "exit status $rc, want 1 and ENOENT"
fi

run --json call openat AT_FDCWD "\"$D/missing\"" O_RDONLY
if [ "$rc" -eq 1 ] && grep -q '"errno":"ENOENT"' "$D/out"; then
	ok "--json failed syscall names errno"
else
	not_ok "--json failed syscall" "exit status $rc"
fi

run no-such-verb
expect_rc "unknown verb exits 2" 2

run call
expect_rc "call without a name exits 2" 2

run call no_such_syscall 1
expect_rc "unknown syscall name exits 2" 2

run call read NOT_A_SYMBOL @4 4
expect_rc "unknown symbol exits 2" 2

# ---- a stopped tetherd: scripts give up, exit 3 ---------------------------
# Its backlog still takes the connection and the HELLO; the answer
# never comes.  TETHER_CONNECT_TIMEOUT (seconds) bounds the wait.
kill -STOP "$SPID"
TETHER_CONNECT_TIMEOUT=1 run status
expect_rc "status of a stopped tetherd exits 3" 3
if grep -q "did not answer the handshake in 1 s" "$D/err"; then
	ok "and says the handshake was not answered"
else
	not_ok "stopped tetherd's message" "$(cat "$D/err")"
fi
TETHER_CONNECT_TIMEOUT=1 run --json call getpid
expect_rc "a pipelined call to a stopped tetherd exits 3" 3
if grep -q '"errno":"ETIMEDOUT".*"exit":3' "$D/out" "$D/err"; then
	ok "--json names ETIMEDOUT"
else
	not_ok "--json ETIMEDOUT" "$(cat "$D/out" "$D/err")"
fi
kill -CONT "$SPID"
run call getpid
expect_rc "and it serves again once continued" 0

# ---- SIGUSR1: the socket file again ------------------------------------------
# systemd-tmpfiles or a logout may remove the socket (and its lock) under
# a live tetherd; SIGUSR1 makes it again, and everything it holds is
# still there.  A path another tetherd took meanwhile stays that one's.
status_pid() {
	"$TETHERCTL" -s "$S" --json status 2>/dev/null |
		sed -n 's/.*"pid":\([0-9]*\).*/\1/p'
}
not_pid() {
	[ "$(status_pid)" != "$1" ]
}
run call openat AT_FDCWD "\"$file\"" O_RDONLY
run label 3 usr1-kept
kill -USR1 "$SPID"
nap
run status
expect_rc "SIGUSR1 with the socket in place changes nothing" 0
rm -f "$S" "$S.lock"
run status
expect_rc "the socket file removed: unreachable" 3
kill -USR1 "$SPID"
if wait_while 5 not_pid "$SPID"; then
	ok "SIGUSR1 makes the socket again"
else
	not_ok "SIGUSR1 makes the socket again" "status pid: $(status_pid)"
fi
run --json fds
if grep -q '"label":"usr1-kept"' "$D/out"; then
	ok "the labeled fd is still there"
else
	not_ok "labeled fd after SIGUSR1"
fi
# another tetherd on the path meanwhile: it keeps it
rm -f "$S" "$S.lock"
run start
other=$(cat "$D/out")
kill -USR1 "$SPID"
nap; nap; nap; nap
if [ "$rc" -eq 0 ] && [ "$(status_pid)" = "$other" ]; then
	ok "SIGUSR1 leaves a path another tetherd took to it"
else
	not_ok "path taken meanwhile" "start $rc, status pid $(status_pid)"
fi
run shutdown
wait_gone "$other" || not_ok "the other tetherd stops" "pid $other"
kill -USR1 "$SPID"
if wait_while 5 not_pid "$SPID"; then
	ok "and takes the path back once it is free"
else
	not_ok "path back" "status pid: $(status_pid)"
fi

# ---- calls checked against the syscall table ----------------------------
run call read 0
if [ "$rc" -eq 2 ] && grep -q "read takes 3 arguments, got 1" "$D/err"; then
	ok "call read 0: too few arguments, exit 2"
else
	not_ok "call read 0" "exit status $rc, want 2 and the arity"
fi

run call getpid 1 2 3
if [ "$rc" -eq 2 ] && grep -q "getpid takes 0 arguments, got 3" "$D/err"; then
	ok "call getpid 1 2 3: too many arguments, exit 2"
else
	not_ok "call getpid 1 2 3" "exit status $rc, want 2 and the arity"
fi

run call uname @1
if [ "$rc" -eq 2 ] && grep -q "(390 bytes); @1 is too small" "$D/err"; then
	ok "call uname @1: struct too small, exit 2"
else
	not_ok "call uname @1" "exit status $rc, want 2"
fi

run call mkdirat AT_FDCWD "\"$D/made\"" 0700 0
if [ "$rc" -eq 2 ] && [ ! -e "$D/made" ]; then
	ok "a refused call never reaches the server"
else
	not_ok "a refused call never reaches the server" "exit status $rc"
fi

run call uname @
sysname=$(uname -s)
if [ "$rc" -eq 0 ] && grep -qF "uname({sysname=\"$sysname\"" "$D/out"; then
	ok "call uname @ prints the system name ($sysname)"
else
	not_ok "call uname @" "exit status $rc, want 0 and \"$sysname\""
fi

printf 'mkdirat AT_FDCWD '\''"%s"'\'' 0700\nread 0 @8 100\n' "$D/made" \
	>"$D/batch"
run batch "$D/batch"
if [ "$rc" -eq 2 ] && grep -q "batch line 2: read: argument 3 (100)" "$D/err" &&
	[ ! -e "$D/made" ]; then
	ok "batch: a line the table refuses is a usage error, nothing runs"
else
	not_ok "batch with a refused line" "exit status $rc, want 2"
fi

$GUARD "$TETHERCTL" -s "$D/nobody.sock" status >"$D/out" 2>"$D/err"
rc=$?
expect_rc "unreachable socket exits 3" 3

$GUARD "$TETHERCTL" -s "$D/nobody.sock" call getpid >"$D/out" 2>"$D/err"
rc=$?
expect_rc "call on an unreachable socket exits 3" 3

$GUARD "$TETHERCTL" -s "$D/nobody.sock" call read 0 >"$D/out" 2>"$D/err"
rc=$?
expect_rc "a refused call needs no server: exits 2 before connecting" 2

# ---- a second server on the same socket ------------------------------------
run start
if [ "$rc" -ne 0 ] && grep -q "another tetherd" "$D/err" &&
	grep -q "$SPID" "$D/err"; then
	ok "second start refused, naming pid $SPID"
else
	not_ok "second start refused" "exit status $rc"
fi
run status
if [ "$rc" -eq 0 ] && grep -q "^pid  *$SPID\$" "$D/out"; then
	ok "first server unharmed by the second start"
else
	not_ok "first server unharmed" "exit status $rc"
fi

# ---- shutdown --------------------------------------------------------------
run shutdown
if [ "$rc" -eq 0 ] && wait_gone "$SPID"; then
	ok "shutdown stops it (pid $SPID gone)"
else
	not_ok "shutdown stops it" "exit status $rc"
fi
if [ ! -e "$S" ]; then
	ok "socket removed"
else
	not_ok "socket removed" "$S still there"
fi
run status
expect_rc "status after shutdown exits 3" 3

# ---- start again on the same socket ----------------------------------------
run start
pid2=$(cat "$D/out")
if [ "$rc" -eq 0 ] && [ -n "$pid2" ] && [ "$pid2" != "$SPID" ]; then
	ok "start again after shutdown ($pid2)"
	SPID=$pid2
	run shutdown
	wait_gone "$SPID" || not_ok "second shutdown" "pid $SPID still there"
else
	not_ok "start again after shutdown" "exit status $rc"
fi

echo "scenario: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
