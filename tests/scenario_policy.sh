#!/bin/sh
# Syscall policies from the shell: tetherd --check-policy (good file:
# rules printed; bad file: every error as FILE:LINE), tetherctl start
# --policy, the policy verb (text and --json), allowed and denied calls
# (the rule named, nothing done), the conditional kill rule through the
# kill verb, audit lines in the log, the seccomp filter in
# /proc/PID/status, and a bad policy refusing to start.  Needs
# $TETHERCTL and $TETHERD (make check exports both).
#
# Prints "scenario_policy: N passed, M failed"; exits 1 if M > 0.
SCENARIO=policy
. "$(dirname "$0")/scenario_lib.sh"

# ---- tetherd --check-policy -----------------------------------------------

cat >"$D/good.policy" <<'POL'
# what a supervisor's tetherd may do
default deny EPERM
allow @info
allow getpid
allow openat arg2 & O_ACCMODE == O_RDONLY
allow read
allow close
allow fstat
allow execve
allow kill arg1 == SIGTERM
deny mkdirat EACCES
POL
cat >"$D/bad.policy" <<'POL'
default allow
alow getpid
allow openat arg9 == 0
allow kill arg1 == SIGTERMX
deny nosuchcall
POL

$GUARD "$TETHERD" --check-policy "$D/good.policy" >"$D/out" 2>"$D/err"
expect "check-policy of a good file exits 0" 0 $?
has "check-policy prints resolved rules" "allow openat" "$(cat "$D/out")"
has "check-policy prints the condition" "arg2 & 0x3 == 0x0" "$(cat "$D/out")"
$GUARD "$TETHERD" --check-policy "$D/bad.policy" >"$D/out" 2>"$D/err"
expect "check-policy of a bad file exits 1" 1 $?
err=$(cat "$D/err")
has "error on line 2" "$D/bad.policy:2:" "$err"
has "error on line 3" "$D/bad.policy:3:" "$err"
has "error on line 4" "$D/bad.policy:4:" "$err"
has "error on line 5" "$D/bad.policy:5:" "$err"
has "the unknown constant is named" "SIGTERMX" "$err"

# ---- a server under the policy -------------------------------------------

if ! ctl "start --policy" 0 start --tetherd "$TETHERD" --policy "$D/good.policy"; then
	echo "scenario_policy: $pass passed, $((fail + 1)) failed"
	exit 1
fi
SPID=$out
LOG=$S.log

ctl "policy" 0 policy
has "policy names the file" "$D/good.policy" "$out"
has "policy shows the default" "default: deny EPERM" "$out"
has "policy shows line 5" "5: allow openat" "$out"
ctl "--json policy" 0 --json policy
has "json policy is active" '"active":true' "$out"
has "json policy has rules" '"rules":[' "$out"

ctl "allowed call runs" 0 call getpid
expect "getpid is the server's pid" "getpid() = $SPID" "$out"
ctl "denied call fails" 5 call mkdirat AT_FDCWD "\"$D/made\"" 0700
has "the refusal names the rule" "line 11" "$err"
has "the refusal says policy" "denied by policy" "$err"
if [ -e "$D/made" ]; then
	bad "nothing was made" "$D/made exists"
else
	ok "nothing was made"
fi
ctl "default deny" 5 call getpgrp
has "default refusal" "default: deny EPERM" "$err"
ctl "reading is allowed" 0 call openat AT_FDCWD "\"$D/good.policy\"" O_RDONLY
ctl "writing is not" 5 call openat AT_FDCWD "\"$D/w\"" 'O_WRONLY|O_CREAT' 0600

# Workers: spawning needs execve, signals follow the kill rule.
ctl "spawn under the policy" 0 spawn --label napper -- sleep 300
ctl "kill -TERM is allowed" 0 kill -TERM napper
ctl "spawn another" 0 spawn --label napper2 -- sleep 300
ctl "kill -KILL is not" 5 kill -KILL napper2
has "KILL names the policy" "denied by policy" "$err"
ctl "stop is not (it may send SIGCONT and SIGKILL)" 5 stop napper2
has "STOP names the policy" "STOP needs syscall" "$err"
ctl "ps still lists it" 0 ps
has "napper2 runs" "napper2" "$out"

if grep -q "audit:" "$LOG" 2>/dev/null; then
	ok "denials are audited in the log"
else
	bad "denials are audited in the log" "no audit: line in $LOG"
fi
if grep -q "^Seccomp:[[:space:]]*2" "/proc/$SPID/status"; then
	ok "the server runs under a seccomp filter"
else
	bad "the server runs under a seccomp filter" "$(grep Seccomp "/proc/$SPID/status")"
fi

shutdown_force

# ---- transfers under a policy that denies the data syscalls --------------

# GET is checked as openat, PUT as openat for writing (tetherd(8)); the
# server's own reads and writes of the file go through its ring, whose
# READ and WRITE must stay open whatever the policy says of read and
# write, streamed or not.
cat >"$D/noio.policy" <<'POL'
default allow
deny read EPERM
deny pread64 EPERM
deny write EPERM
deny pwrite64 EPERM
POL
S=$D/s3.sock
if ctl "start --policy denying read and write" 0 start --tetherd "$TETHERD" \
	--policy "$D/noio.policy"; then
	SPID=$out
	printf 'under a policy\n' >"$D/src"
	for way in stream fd; do
		[ $way = stream ] && nofd=1 || nofd=0
		TETHER_NO_FDPASS=$nofd ctl "GET ($way) under it" 0 get "$D/src" -
		expect "GET ($way) brings the bytes" "under a policy" "$out"
		TETHER_NO_FDPASS=$nofd ctl "PUT ($way) under it" 0 put "$D/src" \
			"$D/dst.$way"
		same "PUT ($way) wrote the bytes" "$D/src" "$D/dst.$way"
	done
	ctl "a controller's read is still denied" 5 call read 0 @8 8
	has "as the policy says" "denied by policy" "$err"
	shutdown_force
fi

# ---- a bad policy: the server does not start ----------------------------

S=$D/s2.sock
ctl "start with a bad policy fails" 1 start --tetherd "$TETHERD" --policy "$D/bad.policy"
has "start names FILE:LINE" "bad.policy:2:" "$err"

echo "scenario_policy: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
