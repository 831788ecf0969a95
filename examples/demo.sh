#!/bin/sh
# The tether demo: a supervisor starts a persistent tetherd that runs two
# workers, and is killed with SIGKILL.  The server, the workers, their
# output and the server's fds all survive; a new supervisor process
# reconnects, checks all of it, and cleans up.  (examples/supervisor.c)
#   sh examples/demo.sh [BUILD_DIR]
# Exit status: supervisor recover's (0 when every check held).
set -eu
build=${1:-.}
sup="$build/examples/supervisor"
ctl="$build/controller/tetherctl"
TETHERD="$build/server/tetherd"
export TETHERD
for f in "$sup" "$ctl" "$TETHERD"; do
	if [ ! -x "$f" ]; then
		echo "demo: $f is missing; build first (make in $build)" >&2
		exit 2
	fi
done
dir=$(mktemp -d /tmp/tether-demo.XXXXXX)
sock="$dir/tetherd.sock"
state="$sock.state"
sup_pid=

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# field NAME: a number supervisor start recorded in its state file
field() { sed -n "s/^$1 \\([0-9]*\\).*/\\1/p" "$state" 2>/dev/null; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# ours PID: a live process of this demo (pids get reused)
ours() {
	[ -n "$1" ] && tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" |
		grep -q -F -e "$dir" -e 'tick $i'
}

cleanup() {
	st=$?
	trap - EXIT INT TERM
	if alive "$sup_pid"; then
		kill -9 "$sup_pid" 2>/dev/null || true
	fi
	# Normally supervisor recover has shut tetherd down already.
	if "$ctl" -s "$sock" status >/dev/null 2>&1; then
		"$ctl" -s "$sock" --take-over shutdown --force >/dev/null 2>&1 ||
			true
		n=0
		while "$ctl" -s "$sock" status >/dev/null 2>&1 &&
			[ "$n" -lt 100 ]; do
			sleep 0.1
			n=$((n + 1))
		done
	fi
	# Last resort, for a tetherd that hangs or has crashed: kill -9 it
	# and the process groups of its workers.
	server=$(field server)
	if ours "$server"; then
		echo "demo: tetherd $server is still there; kill -9" >&2
		kill -9 "$server" 2>/dev/null || true
	fi
	for w in $(field counter) $(field echo); do
		if ours "$w"; then
			echo "demo: worker $w is still there; kill -9" >&2
			kill -9 "-$w" 2>/dev/null || true
		fi
	done
	rm -rf "$dir"
	exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "supervisor #1 starts tetherd and two workers through it"
printf '$ %s start %s &\n' "$sup" "$sock"
"$sup" start "$sock" &
sup_pid=$!
# Ready when it has written its state file (or dead: then give up).
n=0
while [ ! -s "$state" ]; do
	if ! alive "$sup_pid"; then
		wait "$sup_pid" || true
		echo "demo: supervisor start failed" >&2
		exit 1
	fi
	if [ $n -ge 300 ]; then
		echo "demo: supervisor start not ready after 30 s" >&2
		exit 1
	fi
	sleep 0.1
	n=$((n + 1))
done
sleep 1

say "kill -9 supervisor #1 (pid $sup_pid): no cleanup, no goodbye"
run kill -9 "$sup_pid"
wait "$sup_pid" 2>/dev/null || true
sup_pid=
echo "Killed.  tetherd and its workers carry on without a supervisor."

say "meanwhile, tetherctl (an observer) looks at the server"
run "$ctl" -s "$sock" ps
run "$ctl" -s "$sock" fds
# A good second of ticks with no supervisor at all: wait for twenty,
# however long a loaded machine takes.
first=
n=0
while :; do
	if ! out=$("$ctl" -s "$sock" logs counter 2>&1); then
		printf '%s\n' "$out" | tail -n 1 >&2
		break
	fi
	now=$(printf '%s\n' "$out" | sed -n '$s/^tick \([0-9]*\)$/\1/p')
	first=${first:-${now:-0}}
	if [ -n "$now" ] && [ "$now" -ge $((first + 20)) ]; then
		break
	fi
	if [ $n -ge 150 ]; then
		echo "demo: the counter is stuck at tick ${now:-?}" >&2
		break
	fi
	sleep 0.2
	n=$((n + 1))
done
printf '$ %s -s %s logs counter | tail -n 3\n' "$ctl" "$sock"
"$ctl" -s "$sock" logs counter | tail -n 3

say "supervisor #2, a fresh process, reconnects and checks everything"
printf '$ %s recover %s\n' "$sup" "$sock"
set +e
"$sup" recover "$sock"
rc=$?
set -e
exit $rc
