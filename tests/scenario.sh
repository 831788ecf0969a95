#!/bin/sh
# Drive the real tetherctl against a real tetherd on a private socket:
# start, status, calls whose fds outlive the invocation that opened
# them, errors and exit codes, a refused second start, shutdown.
#
# Needs $TETHERCTL and $TETHERD (make check exports both).  Prints one
# line per check and "scenario: N passed, M failed"; exits 1 on any
# failure.
set -u

: "${TETHERCTL:?set TETHERCTL to the tetherctl binary}"
: "${TETHERD:?set TETHERD to the tetherd binary}"
export TETHERD

pass=0
fail=0
pid=
dir=$(mktemp -d /tmp/tsc.XXXXXX) || exit 1
sock=$dir/s.sock
out=$dir/out
err=$dir/err

# Guard every command against a hang, where the tool exists.
guard=
if command -v timeout >/dev/null 2>&1; then
	guard="timeout 30"
fi

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
	pass=$((pass + 1))
	echo "ok   - $1"
}

not_ok() {
	fail=$((fail + 1))
	echo "FAIL - $1"
	shift
	for line in "$@"; do
		echo "       $line"
	done
	if [ -s "$out" ]; then
		sed 's/^/       stdout: /' "$out"
	fi
	if [ -s "$err" ]; then
		sed 's/^/       stderr: /' "$err"
	fi
}

# ctl ARGS...: run tetherctl on our socket; stdout in $out, stderr in
# $err, exit status in $rc.
ctl() {
	$guard "$TETHERCTL" -s "$sock" "$@" >"$out" 2>"$err"
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
	got=$(cat "$out")
	if [ "$rc" -eq 0 ] && [ "$got" = "$2" ]; then
		ok "$1"
	else
		not_ok "$1" "exit status $rc, want 0" "want stdout: $2"
	fi
}

# gone PID: true once PID no longer runs (a zombie counts as gone: it
# is not our child, and init may be slow to reap it).
gone() {
	if ! kill -0 "$1" 2>/dev/null; then
		return 0
	fi
	if [ -r "/proc/$1/stat" ]; then
		state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)
		[ "$state" = Z ] && return 0
	fi
	return 1
}

nap() {
	sleep 0.1 2>/dev/null || sleep 1
}

# wait_gone PID: poll up to ~10 s.
wait_gone() {
	i=0
	while ! gone "$1"; do
		i=$((i + 1))
		[ "$i" -gt 100 ] && return 1
		nap
	done
	return 0
}

file=$dir/hello.txt
printf 'hello\n' >"$file"

# ---- start -------------------------------------------------------------
ctl start
pid=$(cat "$out")
case $pid in
'' | *[!0-9]*)
	not_ok "start prints a pid" "got '$pid'"
	pid=
	;;
*)
	if [ "$rc" -eq 0 ] && kill -0 "$pid" 2>/dev/null; then
		ok "start prints a pid ($pid) and returns"
	else
		not_ok "start prints a pid" "exit status $rc, pid $pid"
	fi
	;;
esac
if [ -z "$pid" ]; then
	echo "scenario: $pass passed, $fail failed (no server to go on with)"
	exit 1
fi

if [ -S "$sock" ]; then
	ok "socket exists"
else
	not_ok "socket exists" "no socket at $sock"
fi

# ---- status --------------------------------------------------------------
ctl status
if [ "$rc" -eq 0 ] && grep -q "^pid  *$pid\$" "$out" &&
	grep -q "^persistent  *yes\$" "$out"; then
	ok "status names the pid, persistent"
else
	not_ok "status names the pid, persistent" "exit status $rc"
fi

ctl --json status
if [ "$rc" -eq 0 ] && grep -q "\"pid\":$pid[,}]" "$out" &&
	grep -q '"persistent":true' "$out"; then
	ok "--json status"
else
	not_ok "--json status" "want \"pid\":$pid and \"persistent\":true"
fi

# ---- calls; fds outlive the invocation ------------------------------------
ctl call openat AT_FDCWD "\"$file\"" O_RDONLY
fd=$(sed -n 's/^openat(AT_FDCWD, "\(.*\)", O_RDONLY) = \([0-9][0-9]*\)$/\2/p' "$out")
if [ "$rc" -eq 0 ] && [ -n "$fd" ] &&
	grep -q "^openat(AT_FDCWD, \"$file\", O_RDONLY) = $fd\$" "$out"; then
	ok "call openat prints openat(AT_FDCWD, \"FILE\", O_RDONLY) = $fd"
else
	not_ok "call openat" "exit status $rc"
	fd=9999
fi

ctl call read "$fd" @64 64
expect_out "a later call reads the fd it opened" \
	"read($fd, \"hello\\n\", 64) = 6"

ctl call read "$fd" @64 64
expect_out "the fd's offset persists across invocations" \
	"read($fd, \"\", 64) = 0"

ctl call lseek "$fd" 1 SEEK_SET
expect_out "lseek with a symbolic whence" "lseek($fd, 1, SEEK_SET) = 1"

ctl --json call getpid
if [ "$rc" -eq 0 ] && grep -q "\"ret\":$pid[,}]" "$out"; then
	ok "--json call getpid has \"ret\":$pid"
else
	not_ok "--json call getpid" "want \"ret\":$pid"
fi

ctl call write "$fd" "'x'" 1
if [ "$rc" -eq 1 ] && grep -q '= -1 EBADF (Bad file descriptor)$' "$out"; then
	ok "write to a read-only fd: -1 EBADF, exit 1"
else
	not_ok "write to a read-only fd" "exit status $rc, want 1 and EBADF"
fi

ctl call close "$fd"
expect_out "close" "close($fd) = 0"

ctl call read "$fd" @64 64
if [ "$rc" -eq 1 ] && grep -q '= -1 EBADF' "$out"; then
	ok "read after close: EBADF, exit 1"
else
	not_ok "read after close" "exit status $rc"
fi

# ---- errors and exit codes -----------------------------------------------
ctl call openat AT_FDCWD "\"$dir/missing\"" O_RDONLY
if [ "$rc" -eq 1 ] &&
	grep -q '= -1 ENOENT (No such file or directory)$' "$out"; then
	ok "failed syscall prints = -1 ENOENT (...) and exits 1"
else
	not_ok "failed syscall" "exit status $rc, want 1 and ENOENT"
fi

ctl --json call openat AT_FDCWD "\"$dir/missing\"" O_RDONLY
if [ "$rc" -eq 1 ] && grep -q '"errno":"ENOENT"' "$out"; then
	ok "--json failed syscall names errno"
else
	not_ok "--json failed syscall" "exit status $rc"
fi

ctl no-such-verb
expect_rc "unknown verb exits 2" 2

ctl call
expect_rc "call without a name exits 2" 2

ctl call no_such_syscall 1
expect_rc "unknown syscall name exits 2" 2

ctl call read NOT_A_SYMBOL @4 4
expect_rc "unknown symbol exits 2" 2

# ---- calls checked against the syscall table ----------------------------
ctl call read 0
if [ "$rc" -eq 2 ] && grep -q "read takes 3 arguments, got 1" "$err"; then
	ok "call read 0: too few arguments, exit 2"
else
	not_ok "call read 0" "exit status $rc, want 2 and the arity"
fi

ctl call getpid 1 2 3
if [ "$rc" -eq 2 ] && grep -q "getpid takes 0 arguments, got 3" "$err"; then
	ok "call getpid 1 2 3: too many arguments, exit 2"
else
	not_ok "call getpid 1 2 3" "exit status $rc, want 2 and the arity"
fi

ctl call uname @1
if [ "$rc" -eq 2 ] && grep -q "(390 bytes); @1 is too small" "$err"; then
	ok "call uname @1: struct too small, exit 2"
else
	not_ok "call uname @1" "exit status $rc, want 2"
fi

ctl call mkdirat AT_FDCWD "\"$dir/made\"" 0700 0
if [ "$rc" -eq 2 ] && [ ! -e "$dir/made" ]; then
	ok "a refused call never reaches the server"
else
	not_ok "a refused call never reaches the server" "exit status $rc"
fi

ctl call uname @
sysname=$(uname -s)
if [ "$rc" -eq 0 ] && grep -qF "uname(\"$sysname\\x00" "$out"; then
	ok "call uname @ prints the system name ($sysname)"
else
	not_ok "call uname @" "exit status $rc, want 0 and \"$sysname\""
fi

printf 'mkdirat AT_FDCWD "%s" 0700\nread 0 @8 100\n' "$dir/made" \
	>"$dir/batch"
ctl batch "$dir/batch"
if [ "$rc" -eq 2 ] && grep -q "batch line 2: read: argument 3 (100)" "$err" &&
	[ ! -e "$dir/made" ]; then
	ok "batch: a line the table refuses is a usage error, nothing runs"
else
	not_ok "batch with a refused line" "exit status $rc, want 2"
fi

$guard "$TETHERCTL" -s "$dir/nobody.sock" status >"$out" 2>"$err"
rc=$?
expect_rc "unreachable socket exits 3" 3

$guard "$TETHERCTL" -s "$dir/nobody.sock" call getpid >"$out" 2>"$err"
rc=$?
expect_rc "call on an unreachable socket exits 3" 3

$guard "$TETHERCTL" -s "$dir/nobody.sock" call read 0 >"$out" 2>"$err"
rc=$?
expect_rc "a refused call needs no server: exits 2 before connecting" 2

# ---- a second server on the same socket ------------------------------------
ctl start
if [ "$rc" -ne 0 ] && grep -q "another tetherd" "$err" &&
	grep -q "$pid" "$err"; then
	ok "second start refused, naming pid $pid"
else
	not_ok "second start refused" "exit status $rc"
fi
ctl status
if [ "$rc" -eq 0 ] && grep -q "^pid  *$pid\$" "$out"; then
	ok "first server unharmed by the second start"
else
	not_ok "first server unharmed" "exit status $rc"
fi

# ---- shutdown --------------------------------------------------------------
ctl shutdown
if [ "$rc" -eq 0 ] && wait_gone "$pid"; then
	ok "shutdown stops it (pid $pid gone)"
else
	not_ok "shutdown stops it" "exit status $rc"
fi
if [ ! -e "$sock" ]; then
	ok "socket removed"
else
	not_ok "socket removed" "$sock still there"
fi
ctl status
expect_rc "status after shutdown exits 3" 3

# ---- start again on the same socket ----------------------------------------
ctl start
pid2=$(cat "$out")
if [ "$rc" -eq 0 ] && [ -n "$pid2" ] && [ "$pid2" != "$pid" ]; then
	ok "start again after shutdown ($pid2)"
	pid=$pid2
	ctl shutdown
	wait_gone "$pid" || not_ok "second shutdown" "pid $pid still there"
else
	not_ok "start again after shutdown" "exit status $rc"
fi

echo "scenario: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
