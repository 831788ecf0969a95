#!/bin/sh
# Remote controllers over real ssh: a private sshd on 127.0.0.1 (its own
# host key, an authorized key for root, a config of its own), the
# client's ssh a wrapper earlier on PATH that adds -F (tetherctl runs
# the ssh on PATH), and tetherctl -H ssh://root@127.0.0.1:PORT/SOCKET
# doing what a local controller does: reconnect, labels, take-over,
# workers, logs, data, async; give and take refused; ssh killed in the
# middle of a request and the controller killed -9 in the middle of
# one, the server and its workers untouched and a new -H controller
# attaching after.  Skips (77) when sshd cannot start here.
#
# Prints "scenario_ssh: N passed, M failed"; exits 1 if M > 0.
SCENARIO=ssh
. "$(dirname "$0")/scenario_lib.sh"
SSHD_PID=
BPID=

scen_cleanup_more() {
	[ -n "$BPID" ] && kill -9 "$BPID" 2>/dev/null
	exec 7>&- 2>/dev/null
	if [ -n "$SSHD_PID" ]; then
		kill "$SSHD_PID" 2>/dev/null
		wait_while 5 alive "$SSHD_PID"
	fi
}

skip() {
	echo "scenario_ssh: SKIP: $*"
	exit 77
}

# ---- a private sshd ---------------------------------------------------

SSHD=${SSHD:-/usr/sbin/sshd}
[ -x "$SSHD" ] || skip "no $SSHD (Debian: openssh-server)"
command -v ssh-keygen >/dev/null 2>&1 || skip "no ssh-keygen"
REAL_SSH=$(command -v ssh) || skip "no ssh client"
[ "$(id -u)" = 0 ] || skip "sshd logs in root only when run as root"
# OpenSSH's privilege separation directory (the Debian unit makes it)
[ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd 2>/dev/null ||
	skip "cannot create /run/sshd"

chmod 700 "$D"
ssh-keygen -q -t ed25519 -N '' -f "$D/host_key" >/dev/null 2>&1 &&
	ssh-keygen -q -t ed25519 -N '' -f "$D/id" >/dev/null 2>&1 ||
	skip "ssh-keygen failed"
cp "$D/id.pub" "$D/authorized_keys"

# sshd_config on PORT; sshd -t checks it before the real start
sshd_config() {
	cat >"$D/sshd_config" <<EOF
Port $1
ListenAddress 127.0.0.1
HostKey $D/host_key
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
LogLevel ERROR
EOF
}

# listening: sshd answers with its banner
sshd_up() {
	alive "$SSHD_PID" || return 2
	"$REAL_SSH" -F "$D/ssh_config" -o BatchMode=yes root@127.0.0.1 \
		-p "$PORT" true >/dev/null 2>&1
}

cat >"$D/ssh_config" <<EOF
Host *
	IdentityFile $D/id
	IdentitiesOnly yes
	UserKnownHostsFile $D/known_hosts
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	LogLevel ERROR
	ControlMaster no
	ControlPath none
EOF

tries=0
while :; do
	PORT=$((20000 + ($$ + tries * 7919) % 40000))
	printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 \
		"$D/host_key.pub")" >"$D/known_hosts"
	sshd_config "$PORT"
	"$SSHD" -t -f "$D/sshd_config" >"$D/sshd.err" 2>&1 ||
		skip "sshd -t refuses the config: $(cat "$D/sshd.err")"
	"$SSHD" -D -e -f "$D/sshd_config" 2>>"$D/sshd.err" &
	SSHD_PID=$!
	if wait_until 10 sshd_up; then
		break
	fi
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=
	tries=$((tries + 1))
	[ "$tries" -lt 3 ] || skip "sshd did not start: $(cat "$D/sshd.err")"
done
ok "a private sshd on 127.0.0.1:$PORT"

# The ssh on PATH: the real one with our config.  The remote tetherctl:
# this build's, with the sanitizers' settings (ssh does not pass them).
mkdir "$D/bin"
cat >"$D/bin/ssh" <<EOF
#!/bin/sh
exec "$REAL_SSH" -F "$D/ssh_config" "\$@"
EOF
cat >"$D/remote-tetherctl" <<EOF
#!/bin/sh
export ASAN_OPTIONS='${ASAN_OPTIONS:-}' UBSAN_OPTIONS='${UBSAN_OPTIONS:-}'
export LSAN_OPTIONS='${LSAN_OPTIONS:-}'
exec "$TETHERCTL" "\$@"
EOF
chmod 755 "$D/bin/ssh" "$D/remote-tetherctl"
PATH=$D/bin:$PATH
TETHER_REMOTE_TETHERCTL=$D/remote-tetherctl
export PATH TETHER_REMOTE_TETHERCTL
unset TETHER_HOST TETHER_SOCKET
H=ssh://root@127.0.0.1:$PORT$S

# hctl NAME WANT ARGS..., hctl_any ARGS...: tetherctl -H, as ctl and
# ctl_any do -s.
hctl() {
	ctl_at -H "$H" "$@"
}

hctl_any() {
	ctl_any_at -H "$H" "$@"
}

ret_of() {
	printf '%s\n' "$out" | sed -n 's/^.*) = \([0-9][0-9]*\).*$/\1/p' |
		tail -n 1
}

# No controller attached (seen locally, as an observer).
detached() {
	"$TETHERCTL" -s "$S" status 2>/dev/null | grep -q 'controller   detached'
}

# No dial-stdio for our socket left on the "remote" side.
no_dialer() {
	! pgrep -f "dial-stdio -s $S" >/dev/null 2>&1
}

# The ssh processes a tetherctl -H started (its relay's child).
ssh_of() {
	for r in $(pgrep -P "$1"); do
		pgrep -P "$r" -x ssh
	done
}

# ---- the server, started on its own host ------------------------------

if ! ctl "start (locally)" 0 start; then
	echo "scenario_ssh: $pass passed, $((fail + 1)) failed"
	exit 1
fi
SPID=$out

# ---- reconnect ---------------------------------------------------------

hctl "-H status" 0 status
has "status names the URL" "socket       $H" "$out"
has "status shows the server's pid" "pid          $SPID" "$out"
hctl "-H call getpid is the server's" 0 call getpid
expect "getpid through ssh" "getpid() = $SPID" "$out"

printf 'remote\n' >"$D/f1"
hctl "-H call openat" 0 call openat AT_FDCWD "\"$D/f1\"" O_RDONLY
FD=$(ret_of)
is_fd "openat gave an fd" "$FD"
hctl "-H label in another invocation" 0 label "$FD" remote
hctl "-H fds shows the label" 0 fds
has "fds row" "remote" "$out"
hctl "-H read through the labeled fd" 0 call read "$FD" @64 64
has "read's bytes" '"remote\n"' "$out"
hctl "-H --json call" 0 --json call lseek "$FD" 0 SEEK_SET
has "--json result" '"ret":0' "$out"
hctl "-H gc --dry-run" 0 gc --dry-run
TETHER_HOST=$H "$TETHERCTL" call getpid >"$D/out" 2>"$D/err"
st=$?
expect "TETHER_HOST instead of -H" "0 getpid() = $SPID" "$st $(cat "$D/out")"
hctl "-H and -s together is a usage error" 2 -s "$S" status
hctl "-H start is refused" 2 start
has "start's refusal says where" "on the server's" "$err"

# batch and attach work over ssh
printf 'getpid\ngetppid\n' >"$D/batch"
hctl "-H batch" 0 batch "$D/batch"
has "batch ran getpid" "getpid() = $SPID" "$out"
printf 'call getpid\nfds\n' | $GUARD "$TETHERCTL" -H "$H" attach \
	>"$D/out" 2>"$D/err"
st=$?
expect "-H attach < script" 0 "$st"
has "attach ran its lines" "getpid() = $SPID" "$(cat "$D/out")"

# a held -H session is the controller: a second one is a conflict (6),
# an observer sees it, --take-over replaces it
mkfifo "$D/fifo"
"$TETHERCTL" -H "$H" attach <"$D/fifo" >"$D/att.out" 2>"$D/att.err" &
BPID=$!
exec 7>"$D/fifo"
echo 'call getpid' >&7
if wait_until 10 grep -qs "getpid() = $SPID" "$D/att.out"; then
	ok "a held -H attach session runs"
else
	bad "a held -H attach session runs" "$(cat "$D/att.out" "$D/att.err")"
fi
hctl "-H while another -H is attached: conflict" 6 call getpid
has "conflict names the way out" "--take-over" "$err"
hctl "-H status (an observer) alongside" 0 status
has "observer sees the controller attached" "controller   attached" "$out"
hctl "-H --take-over" 0 --take-over call getpid
# The session may have ended at the take-over already (its reading end
# closed): a line then only finds a closed FIFO.
(echo 'call getpid' >&7) 2>/dev/null || :
exec 7>&-
wait "$BPID"
st=$?
BPID=
expect "the taken-over -H session exits 6" 6 "$st"
has "it was told who took over" "taken over" "$(cat "$D/att.err")"

# ---- give and take need this host --------------------------------------

hctl "-H take is refused" 1 take "$D/f1"
has "take's refusal says why" "fds cannot cross a remote" "$err"
hctl "-H --json give is refused" 1 --json give "$FD" -- true
has "give's JSON error names EOPNOTSUPP" '"errno":"EOPNOTSUPP"' "$out"

# ---- workers -----------------------------------------------------------

hctl "-H spawn" 0 spawn --label w --capture -- \
	sh -c 'echo hello from w; exec sleep 300'
hctl "-H ps" 0 ps
has "ps shows w" "w" "$out"
WPID=$(printf '%s\n' "$out" | awk '$0 ~ / w / || $NF == "w" { print $1; exit }')
if wait_until 5 sh -c "'$TETHERCTL' -H '$H' logs w 2>/dev/null |
	grep -q 'hello from w'"; then
	ok "-H logs w"
else
	bad "-H logs w" "$("$TETHERCTL" -H "$H" logs w 2>&1)"
fi
hctl "-H spawn a worker that exits" 0 spawn --label three -- sh -c 'exit 3'
hctl "-H wait for it" 0 wait three
has "wait reports the status" "3" "$out"

# ---- data --------------------------------------------------------------

head -c 3000000 /dev/urandom >"$D/big"
hctl "-H put 3 MB" 0 put "$D/big" "$D/r.big"
same "the server's copy" "$D/big" "$D/r.big"
hctl "-H get it back" 0 get "$D/r.big" "$D/l.big"
same "the copy back" "$D/big" "$D/l.big"
printf 'from stdin\n' | $GUARD "$TETHERCTL" -H "$H" put - "$D/r.stdin" \
	>/dev/null 2>"$D/err"
expect "-H put - (stdin)" "from stdin" "$(cat "$D/r.stdin" 2>/dev/null)"
hctl "-H get REMOTE -" 0 get "$D/r.stdin" -
expect "get to stdout" "from stdin" "$out"

# ---- ssh killed in the middle of a request -----------------------------

hctl "-H pipe2" 0 --json call pipe2 @8 0
hex=$(printf '%s' "$out" | sed -n 's/.*"outs_hex":\["\([0-9a-f]*\)"\].*/\1/p')
R=$(printf '%d' "0x$(printf '%s' "$hex" | cut -c1-2)")
"$TETHERCTL" -H "$H" call read "$R" @64 64 >"$D/bg.out" 2>"$D/bg.err" &
BPID=$!
pending_read() {
	"$TETHERCTL" -s "$S" --json pending 2>/dev/null |
		grep -q '"syscall":"read","nr":0,"state":"running"'
}
if wait_until 10 pending_read; then
	ok "a -H read is blocked in the server"
else
	bad "a -H read is blocked in the server" "$(cat "$D/bg.err")"
fi
SSH_PID=$(ssh_of "$BPID")
if [ -n "$SSH_PID" ]; then
	ok "the controller's ssh is its relay's child ($SSH_PID)"
	kill -9 $SSH_PID
else
	bad "the controller's ssh is its relay's child" "$(ps -ef)"
fi
wait "$BPID"
st=$?
BPID=
expect "ssh killed: the controller cannot reach the server (3)" 3 "$st"
if alive "$SPID"; then ok "the server survives"; else bad "the server survives"; fi
if wait_until 10 detached; then
	ok "the server saw the controller go"
else
	bad "the server saw the controller go" "$("$TETHERCTL" -s "$S" status 2>&1)"
fi
if wait_until 10 no_dialer; then
	ok "dial-stdio ended with its ssh session"
else
	bad "dial-stdio ended with its ssh session" "$(pgrep -af dial-stdio)"
fi
hctl "a new -H controller attaches" 0 ps
has "the worker runs on" "running" "$out"
[ -n "$WPID" ] && alive "$WPID" && ok "the worker's process is alive" ||
	bad "the worker's process is alive" "pid '$WPID'"
hctl "-H pending shows the read" 0 pending
has "the read outlived its controller" "read" "$out"
hctl "-H labels are still there" 0 fds
has "label remote" "remote" "$out"

# ---- the controller killed -9 in the middle of a request ---------------

"$TETHERCTL" -H "$H" call --timeout 60 read "$R" @64 64 \
	>"$D/bg.out" 2>"$D/bg.err" &
BPID=$!
wait_until 10 sh -c "[ -n \"\$(pgrep -P $BPID)\" ]"
two_reads() {
	[ "$("$TETHERCTL" -s "$S" --json pending 2>/dev/null |
		grep -o '"syscall":"read"' | wc -l)" -ge 2 ]
}
if wait_until 10 two_reads; then
	ok "a second -H read is blocked in the server"
else
	bad "a second -H read is blocked in the server" "$(cat "$D/bg.err")"
fi
RELAY=$(pgrep -P "$BPID")
kill -9 "$BPID"
wait "$BPID" 2>/dev/null
BPID=
if wait_until 10 detached; then
	ok "controller killed: the server saw it go"
else
	bad "controller killed: the server saw it go"
fi
if wait_until 10 no_dialer; then
	ok "controller killed: dial-stdio ended"
else
	bad "controller killed: dial-stdio ended" "$(pgrep -af dial-stdio)"
fi
gone() {
	for p in "$@"; do
		alive "$p" && return 1
	done
	return 0
}
if wait_until 15 gone $RELAY; then
	ok "controller killed: its relay and ssh ended"
else
	bad "controller killed: its relay and ssh ended" "$(ps -ef | grep -e ssh -e tetherctl)"
fi
hctl "-H reconnects after the kill" 0 call getpid
if alive "$SPID" && [ -n "$WPID" ] && alive "$WPID"; then
	ok "server and worker untouched"
else
	bad "server and worker untouched"
fi

# ---- failures, each named ----------------------------------------------

hctl_any status
H_SAVE=$H
H=ssh://root@127.0.0.1:$PORT$D/nothing.sock
hctl "-H to a missing socket: unreachable (3)" 3 status
has "says no tetherd there" "no tetherd at $D/nothing.sock" "$err"
H=ssh://root@127.0.0.1:1$S
hctl "-H to a port without sshd: unreachable (3)" 3 status
has "says ssh failed" "ssh 127.0.0.1 failed (exit 255)" "$err"
H=$H_SAVE
TETHER_REMOTE_TETHERCTL=/nonexistent/tetherctl hctl \
	"-H with no tetherctl on the far side (3)" 3 status
has "says tetherctl is missing" "no tetherctl there" "$err"
H=ftp://x/y
hctl "-H with another scheme (2)" 2 status
H=$H_SAVE

hctl "-H stop the worker" 0 stop --grace 1 w
shutdown_force
if wait_until 10 no_dialer; then
	ok "no dial-stdio left"
else
	bad "no dial-stdio left" "$(pgrep -af dial-stdio)"
fi

echo "scenario_ssh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
