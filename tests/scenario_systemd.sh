#!/bin/sh
# tetherd under systemd's own tools: systemd-socket-activate makes the
# listening socket (SOCK_STREAM by default, SOCK_SEQPACKET with
# --seqpacket) and starts tetherd, with no socket option, at the first
# connection; tetherctl then works on that path.  systemd-analyze checks
# the unit files.  Skips (77) what the machine lacks, saying which.
#
# Prints "scenario_systemd: N passed, M failed"; exits 1 if M > 0.
SCENARIO=systemd
. "$(dirname "$0")/scenario_lib.sh"
UNITS=$(dirname "$0")/../contrib/systemd

if ! command -v systemd-socket-activate >/dev/null 2>&1; then
	echo "SKIP: systemd-socket-activate is not installed" \
		"(Debian package systemd)"
	exit 77
fi

# activated NAME ARGS...: tetherd started by systemd-socket-activate
# ARGS on $S, as the first tetherctl connects; its pid in SPID (exec:
# the activator's pid becomes tetherd's).
activated() {
	name=$1
	shift
	rm -f "$S" "$S.lock"
	systemd-socket-activate "$@" -l "$S" "$TETHERD" \
		>"$D/act.out" 2>"$D/act.err" &
	SPID=$!
	# The socket exists before tetherd runs: wait for it, not for
	# tetherd (the first connection is what starts it).
	wait_until 5 test -S "$S" || bad "$name: activator listening" \
		"$(cat "$D/act.err")"
	ctl "$name: status on the passed socket" 0 status
	has "$name: status names tetherd's pid" "$SPID" "$out"
	has "$name: status names the path" "$S" "$out"
}

activated "stream (the default)"
ctl "call getpid" 0 call getpid
has "getpid is the activated tetherd's" "= $SPID" "$out"
wait_until 5 grep -qs "socket from the service manager, SOCK_STREAM" \
	"$D/act.err" && ok "log says whose socket, of which type" ||
	bad "log says whose socket, of which type" "$(cat "$D/act.err")"
ctl "open a file" 0 call openat AT_FDCWD '"/etc/hostname"' O_RDONLY
fd=$(printf '%s\n' "$out" | sed -n 's/^.*) = \([0-9][0-9]*\).*$/\1/p')
ctl "label it" 0 label "$fd" host
ctl "a new controller finds the label" 0 fds
has "fds lists the label" "host" "$out"
ctl "shutdown" 0 shutdown
wait_while 5 alive "$SPID" && ok "tetherd exited" ||
	bad "tetherd exited" "pid $SPID alive"
SPID=
if [ -S "$S" ]; then
	ok "the activator's socket is left for it"
else
	bad "the activator's socket is left for it" "$S is gone"
fi

activated "--seqpacket" --seqpacket --fdname=tetherd
wait_until 5 grep -qs "socket from the service manager)" "$D/act.err" &&
	ok "seqpacket: logged as passed" ||
	bad "seqpacket: logged as passed" "$(cat "$D/act.err")"
ctl "seqpacket: call getpid" 0 call getpid
has "seqpacket: getpid is tetherd's" "= $SPID" "$out"
ctl "seqpacket: shutdown" 0 shutdown
wait_while 5 alive "$SPID" && ok "seqpacket: tetherd exited" ||
	bad "seqpacket: tetherd exited" "pid $SPID alive"
SPID=

# A socket others may connect to is refused, as tetherd would never
# make one (the activator makes it 0644: made 0666 before tetherd runs).
rm -f "$S" "$S.lock"
systemd-socket-activate -l "$S" "$TETHERD" >"$D/act.out" 2>"$D/act.err" &
apid=$!
wait_until 5 test -S "$S"
chmod 0666 "$S"
ctl_any status
has "world-writable socket: tetherctl hears no server" "$S" "$err"
wait_while 5 alive "$apid" && ok "world-writable socket: tetherd exits" ||
	{ bad "world-writable socket: tetherd exits" "pid $apid alive"; kill -9 "$apid"; }
has "world-writable socket: the reason" "others could connect" \
	"$(cat "$D/act.err")"

# The unit files, as systemd reads them (ExecStart= pointed at the
# tetherd under test: verify wants it to exist).
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$D/sys" "$D/user" "$D/rt"
	cp "$UNITS/tetherd.socket" "$D/sys/"
	sed "s|@sbindir@/tetherd|$TETHERD|" "$UNITS/tetherd.service.in" \
		>"$D/sys/tetherd.service"
	cp "$UNITS/user/tetherd.socket" "$D/user/"
	sed "s|@sbindir@/tetherd|$TETHERD|" \
		"$UNITS/user/tetherd.service.in" >"$D/user/tetherd.service"
	if $GUARD systemd-analyze verify --man=no "$D/sys/tetherd.socket" \
		"$D/sys/tetherd.service" >"$D/v.out" 2>&1; then
		ok "systemd-analyze verify: system units"
	else
		bad "systemd-analyze verify: system units" "$(cat "$D/v.out")"
	fi
	if XDG_RUNTIME_DIR=$D/rt $GUARD systemd-analyze --user verify \
		--man=no "$D/user/tetherd.socket" "$D/user/tetherd.service" \
		>"$D/v.out" 2>&1; then
		ok "systemd-analyze verify: user units"
	else
		bad "systemd-analyze verify: user units" "$(cat "$D/v.out")"
	fi
else
	echo "skip: systemd-analyze is not installed (unit files unchecked)"
fi

echo "scenario_systemd: $pass passed, $fail failed"
[ $fail -eq 0 ]
