#!/bin/sh
# Workers from the shell: every tetherctl invocation is a new controller.
# spawn (pid printed, exec failures named), ps (table and --json), wait
# (timeout, exit records), kill, stop (cooperative and stubborn), logs
# (whole, --from, -f until the worker exits), ack, and shutdown with
# workers running (refused, then --force), against a real tetherd.
# Needs $TETHERCTL and $TETHERD (make check exports both).
#
# Prints "scenario_workers: N passed, M failed"; exits 1 if M > 0.
SCENARIO=workers
. "$(dirname "$0")/scenario_lib.sh"
WPIDS=

# Live processes in process group $1 (read from /proc with builtins).
group_alive() {
	g=$1
	for f in /proc/[0-9]*/stat; do
		line=
		read -r line 2>/dev/null <"$f" || continue
		set -- ${line##*") "}
		[ $# -ge 3 ] && [ "$3" = "$g" ] && [ "$1" != Z ] && return 0
	done
	return 1
}

# Workers are process-group leaders: their groups go too.
scen_cleanup_more() {
	for p in $WPIDS; do
		kill -9 -- "-$p" 2>/dev/null
		kill -9 "$p" 2>/dev/null
	done
}

# spawn_w LABEL [SPAWN-OPTIONS] -- CMD...: spawn, remember the pid in $wpid.
spawn_w() {
	wname=$1
	shift
	wpid=
	if ctl "spawn $wname" 0 spawn --label "$wname" "$@"; then
		case $out in
		'' | *[!0-9]*)
			bad "spawn $wname prints a pid" "stdout: $out"
			return 1
			;;
		esac
		wpid=$out
		WPIDS="$WPIDS $wpid"
		return 0
	fi
	return 1
}

# log_has LABEL NEEDLE: the worker's log holds NEEDLE now.
log_has() {
	ctl_any logs "$1"
	case $out in
	*"$2"*) return 0 ;;
	esac
	return 1
}

# wait_log NAME LABEL NEEDLE: poll logs until they hold NEEDLE (10 s).
wait_log() {
	if wait_until 10 log_has "$2" "$3"; then
		ok "$1"
		return 0
	fi
	bad "$1" "log of $2 never showed \"$3\"" "last: $out"
	return 1
}

# ---- a persistent server ---------------------------------------------

if ! ctl "start" 0 start --tetherd "$TETHERD"; then
	echo "scenario_workers: $pass passed, $((fail + 1)) failed"
	exit 1
fi
SPID=$out

# ---- spawn --------------------------------------------------------------

spawn_w talker --capture -- sh -c 'printf "0123456789abcdef\n"; exec sleep 100'
TALKER=$wpid
if [ -n "$TALKER" ] && alive "$TALKER"; then
	ok "spawned pid $TALKER runs"
else
	bad "spawned pid runs" "pid: $TALKER"
fi

ctl_any spawn -- /nonexistent
if [ "$st" -ne 0 ]; then
	ok "spawn /nonexistent exits non-zero ($st)"
else
	bad "spawn /nonexistent exits non-zero" "stdout: $out"
	WPIDS="$WPIDS $out"
fi
has "spawn /nonexistent names ENOENT" ENOENT "$err"

ctl_any spawn --label talker -- sleep 100
if [ "$st" -ne 0 ]; then
	ok "second running \"talker\" refused ($st)"
else
	bad "second running \"talker\" refused" "stdout: $out"
	WPIDS="$WPIDS $out"
fi
has "label conflict names EEXIST" EEXIST "$err"

# ---- ps ------------------------------------------------------------------

wait_log "talker's output is captured" talker 0123456789abcdef
if ctl "ps" 0 ps; then
	head=$(printf '%s\n' "$out" | sed -n 1p)
	has "ps header has PID" PID "$head"
	has "ps header has LABEL" LABEL "$head"
	has "ps header has STATE" STATE "$head"
	row=$(printf '%s\n' "$out" | grep "^$TALKER ")
	has "ps row has the label" talker "$row"
	has "ps row says running" running "$row"
	has "ps row has the command" "exec sleep 100" "$row"
fi

if ctl "--json ps" 0 --json ps; then
	for f in '"pid":'"$TALKER" '"label":"talker"' \
		'"argv":["sh","-c","printf' '"state":"running"' \
		'"exit_code":null' '"signal":null' '"started":"' \
		'"rusage":{'; do
		has "--json ps has $f" "$f" "$out"
	done
	if command -v jq >/dev/null 2>&1; then
		if printf '%s' "$out" | jq -e \
			'.[0] | has("pid") and has("label") and has("argv") and
			 has("state") and has("exit_code") and has("signal") and
			 has("started") and has("rusage")' >/dev/null 2>&1; then
			ok "--json ps parses, every field there (jq)"
		else
			bad "--json ps parses, every field there (jq)" "$out"
		fi
	fi
fi

# ---- wait ----------------------------------------------------------------

# Numbers that are not: NaN seconds (which pass "< 0" and "> 1e9"
# alike), negative counts (which strtoull takes) are usage errors.
ctl "wait --timeout nan is a usage error" 2 wait --timeout nan talker
ctl "stop --grace nan is a usage error" 2 stop --grace nan talker
ctl "spawn --log-max -5 is a usage error" 2 spawn --log-max -5 -c -- true
ctl "logs --from -1 is a usage error" 2 logs --from -1 talker
ctl "collect -1 is a usage error" 2 collect -- -1
ctl "--fd 5=3x is a usage error" 2 spawn --fd 5=3x -- true
ctl "--fd twice for one child fd is a usage error" 2 spawn --fd 2=0 \
	--fd 2=0 -- true

# Options come before the operand (usage: wait [--timeout S] LABEL|PID).
ctl "wait --timeout 0.2 on a running worker exits 4" 4 \
	wait --timeout 0.2 talker
has "wait says it timed out" "timed out" "$out"
ctl "--json wait --timeout on a running worker exits 4" 4 \
	--json wait --timeout 0.2 talker
has "its JSON says timed_out true" '"timed_out":true' "$out"
has "and still running" '"state":"running"' "$out"
expect "that record is the one object" 1 "$(printf '%s\n' "$out" | wc -l)"
has "stderr says it timed out" "timed out" "$err"
expect "argv is null, not an empty list" null \
	"$(printf '%s' "$out" | jq -c .argv)"

spawn_w three -- sh -c 'exit 3'
ctl "wait for a worker that exits 3" 0 wait three
expect "wait reports the exit code" "three: exited 3" "$out"
ctl "--json wait --timeout for an ended worker exits 0" 0 \
	--json wait --timeout 5 three
has "its JSON says timed_out false" '"timed_out":false' "$out"
has "and the exit code" '"exit_code":3' "$out"

spawn_w later -- sh -c 'sleep 0.3; exit 7'
ctl "wait for a worker that exits later" 0 wait later
expect "wait reports its record" "later: exited 7" "$out"

# ---- kill ----------------------------------------------------------------

ctl "kill -KILL talker" 0 kill -KILL talker
ctl "wait for the killed worker" 0 wait talker
expect "wait says killed by SIGKILL" "talker: killed by SIGKILL" "$out"
if ctl "--json ps after kill" 0 --json ps; then
	rec=$(printf '%s' "$out" | sed 's/},{"pid"/}\n{"pid"/g' |
		grep "\"pid\":$TALKER,")
	has "killed record: state killed" '"state":"killed"' "$rec"
	has "killed record: signal SIGKILL" '"signal":"SIGKILL"' "$rec"
	has "killed record: exit_code null" '"exit_code":null' "$rec"
fi
ctl "kill of an ended worker fails" 1 kill -TERM talker

# A label with a newline and a quote: one line of text, valid JSON; the
# real-time signals by name.
NL='odd
"one'
spawn_w "$NL" -- sleep 100
ctl "kill -0 of an odd label" 0 --json kill -0 "$NL"
expect "its JSON names it" "$NL" "$(printf '%s' "$out" | jq -r .target)"
expect "signal 0 is said so" "signal 0" "$(printf '%s' "$out" | jq -r .signal)"
ctl "kill -RTMIN+1 by name" 0 kill -RTMIN+1 "$NL"
expect "its text is one line, escaped" 'SIGRTMIN+1 sent to odd\n"one' "$out"
ctl "wait for it" 0 wait "$NL"
expect "wait's text is one line" 'odd\n"one: killed by SIGRTMIN+1' "$out"
ctl "kill -RTMAX-99 is a usage error" 2 kill -RTMAX-99 talker

# ---- stop ----------------------------------------------------------------

spawn_w coop -- sleep 100
ctl "stop a cooperative worker" 0 stop --grace 5 coop
has "it ends by SIGTERM" "coop: killed by SIGTERM after" "$out"

spawn_w stubborn --capture -- sh -c 'trap "" TERM; echo ready; while :; do sleep 0.1; done'
STUBBORN=$wpid
wait_log "stubborn ignores SIGTERM now" stubborn ready
ctl "stop --grace 1 stubborn" 0 stop --grace 1 stubborn
expect "stubborn needed SIGKILL" \
	"stubborn: killed by SIGKILL after 1.0 s grace" "$out"
if wait_while 5 group_alive "$STUBBORN"; then
	ok "nothing of stubborn's group remains"
else
	bad "nothing of stubborn's group remains" "pgid $STUBBORN"
fi

# ---- logs ----------------------------------------------------------------

ctl "logs talker" 0 logs talker
expect "logs: the whole output" "0123456789abcdef" "$out"
ctl "logs --from 10 talker" 0 logs --from 10 talker
expect "logs --from 10: the rest" "abcdef" "$out"
ctl "logs --from past the end" 1 logs --from 1000 talker
has "logs --from past the end says so" "past the end" "$err"
ctl_any logs three
if [ "$st" -ne 0 ]; then
	ok "logs of an uncaptured worker fails ($st)"
else
	bad "logs of an uncaptured worker fails" "stdout: $out"
fi

spawn_w ticker --capture -- sh -c 'for i in 1 2 3 4 5; do echo n$i; sleep 0.2; done'
TICKER=$wpid
ctl "logs -f ends when the worker exits" 0 logs -f ticker
expect "logs -f: everything" "n1
n2
n3
n4
n5" "$out"
if alive "$TICKER"; then
	bad "logs -f returned only after the worker ended" "pid $TICKER runs"
else
	ok "logs -f returned only after the worker ended"
fi
ctl "wait ticker" 0 wait ticker
expect "ticker exited 0" "ticker: exited 0" "$out"

# ---- stopping: the deadline is the server's --------------------------------

# ps_stopping: ps shows a worker stopping, with the time to its SIGKILL.
ps_stopping() {
	ctl_any ps
	case $out in
	*"stopping (SIGKILL in "*s\)*) return 0 ;;
	esac
	return 1
}

spawn_w stubborn --capture -- \
	sh -c 'trap "" TERM; echo ready; while :; do sleep 0.05; done'
STUB=$wpid
# Its trap is set once it says so: a SIGTERM before would end it.
wait_log "the stubborn worker is ready" stubborn ready
# Not under $GUARD: the kill below must reach tetherctl itself.
"$TETHERCTL" -s "$S" stop --grace 60 stubborn >/dev/null 2>&1 &
STOPPER=$!
if wait_until 10 ps_stopping; then
	ok "ps shows the worker stopping, with its deadline"
else
	bad "ps shows the worker stopping, with its deadline" "$out"
fi
kill -9 "$STOPPER" 2>/dev/null
wait "$STOPPER" 2>/dev/null
if ps_stopping; then
	ok "still stopping once the stop's controller is SIGKILLed"
else
	bad "still stopping once the stop's controller is SIGKILLed" "$out"
fi
if ctl "--json ps while stopping" 0 --json ps; then
	rec=$(printf '%s' "$out" | sed 's/},{"pid"/}\n{"pid"/g' |
		grep "\"pid\":$STUB,")
	has "its state is stopping" '"state":"stopping"' "$rec"
	has "it has stop_deadline_ms" '"stop_deadline_ms":' "$rec"
	has "it has stop_signal SIGTERM" '"stop_signal":"SIGTERM"' "$rec"
fi
ctl "kill -KILL the stopping worker" 0 kill -KILL stubborn
ctl "wait for it" 0 wait stubborn
if ctl "ps once it is dead" 0 ps; then
	row=$(printf '%s\n' "$out" | grep "^$STUB ")
	has "it is killed, no longer stopping" "killed by SIGKILL" "$row"
fi

# ---- ps: escaped text, the spawn spec ------------------------------------

ODD=$(printf 'two\nlines\tand\001ctl\\')
spawn_w odd -- sh -c 'exit 0' "$ODD"
ctl "wait for the worker with odd bytes in its argv" 0 wait odd
if ctl "ps with a newline in an argument" 0 ps; then
	n=$(printf '%s\n' "$out" | grep -c " odd ")
	expect "its record is one line" 1 "$n"
	has "control bytes are escaped" 'two\nlines\tand\x01ctl\\' "$out"
fi

spawn_w spec --env 'GREETING=hello there' --cwd "$D" --fd 7=2 \
	--capture -- sleep 100
SPEC=$wpid
if ctl "--json ps with the spawn spec" 0 --json ps; then
	rec=$(printf '%s' "$out" | sed 's/},{"pid"/}\n{"pid"/g' |
		grep "\"pid\":$SPEC,")
	has "the spec has the env" '"GREETING=hello there"' "$rec"
	has "the spec has the cwd" "\"cwd\":\"$D\"" "$rec"
	has "the spec has the fd map" '{"child_fd":7,"server_fd":2,' "$rec"
	has "the spec has capture" '"capture":true' "$rec"
	has "the spec has uid" "\"uid\":$(id -u)" "$rec"
	has "the spec has the path" '"path":"/' "$rec"
	lacks "UTF-8 argv has no argv_hex" '"argv_hex"' "$rec"
	odd=$(printf '%s' "$out" | sed 's/},{"pid"/}\n{"pid"/g' |
		grep '"label":"odd"')
	has "an argv with control bytes is exact in JSON" \
		'"two\nlines\tand\u0001ctl\\"' "$odd"
fi
if ctl "--json ps --env-digest" 0 --json ps --env-digest; then
	rec=$(printf '%s' "$out" | sed 's/},{"pid"/}\n{"pid"/g' |
		grep "\"pid\":$SPEC,")
	has "the env is a digest" '"env_digest":"xxh3:' "$rec"
	lacks "and not the entries" 'GREETING' "$rec"
fi
BAD=$(printf 'caf\351')
spawn_w latin1 -- sh -c 'exit 0' "$BAD"
ctl "wait for the latin-1 worker" 0 wait latin1
if ctl "--json ps with a byte that is not UTF-8" 0 --json ps; then
	rec=$(printf '%s' "$out" | sed 's/},{"pid"/}\n{"pid"/g' |
		grep '"label":"latin1"')
	has "argv_hex gives every argument's bytes" \
		'"argv_hex":["7368","2d63","657869742030","636166e9"]' "$rec"
fi

# ---- respawn --------------------------------------------------------------

ctl "respawn of a running worker fails" 1 respawn spec
has "it says it still runs" "still runs" "$err"
has "it names EBUSY" EBUSY "$err"
GATE=$D/gate
spawn_w phoenix --env 'GREETING=hello there' --cwd "$D" -- \
	sh -c '[ -e gate ] && exec sleep 100; exit 5'
OLD=$wpid
ctl "wait for phoenix to exit 5" 0 wait phoenix
: >"$GATE"
if ctl "respawn phoenix" 0 respawn phoenix; then
	case $out in
	'' | *[!0-9]*) bad "respawn prints the new pid" "$out" ;;
	*)
		NEW=$out
		WPIDS="$WPIDS $NEW"
		ok "respawn prints the new pid"
		;;
	esac
fi
if [ -n "${NEW:-}" ] && wait_until 5 alive "$NEW"; then
	ok "the respawned worker runs"
	env=$(tr '\0' '\n' <"/proc/$NEW/environ")
	has "it has the same environment" "GREETING=hello there" "$env"
	expect "it has the same cwd" "$D" "$(readlink "/proc/$NEW/cwd")"
else
	bad "the respawned worker runs" "pid ${NEW:-none}"
fi
if ctl "ps after respawn" 0 ps; then
	lacks "the old record is gone" "$OLD " "$out"
	row=$(printf '%s\n' "$out" | grep "^${NEW:-x} ")
	has "the label names the new worker" phoenix "$row"
fi
ctl "kill -KILL phoenix" 0 kill -KILL phoenix
ctl "wait for it again" 0 wait phoenix
if ctl "--json respawn" 0 --json respawn phoenix; then
	has "its JSON has the label" '"label":"phoenix"' "$out"
	has "and respawned_from" "\"respawned_from\":$NEW}" "$out"
	NEW=$(printf '%s' "$out" | sed 's/.*"pid":\([0-9]*\).*/\1/')
	WPIDS="$WPIDS $NEW"
fi
ctl "kill -KILL phoenix again" 0 kill -KILL phoenix
ctl "respawn of an unknown worker fails" 1 respawn nobody
ctl "respawn without a target is a usage error" 2 respawn

# ---- ack -----------------------------------------------------------------

ctl "ack three" 0 ack three
expect "ack says what it did" "three: record and logs removed" "$out"
if ctl "ps after ack" 0 ps; then
	lacks "ps no longer lists the acknowledged worker" " three " "$out"
fi
ctl "wait for an acknowledged worker fails" 1 wait three
has "it is no such worker" "no such worker" "$err"
ctl "ack of an unknown worker fails" 1 ack three

# ---- shutdown with workers running --------------------------------------

spawn_w runner -- sleep 100
RUNNER=$wpid
ctl "shutdown with a running worker is refused" 1 shutdown
has "refusal says workers run" "running" "$err"
if alive "$SPID" && alive "$RUNNER"; then
	ok "server and worker still run after the refusal"
else
	bad "server and worker still run after the refusal"
fi
ctl "ack of a running worker fails" 1 ack runner
ctl "shutdown --force" 0 shutdown --force
if alive "$SPID"; then
	bad "server gone after shutdown --force" "pid $SPID runs"
else
	ok "server gone after shutdown --force"
	SPID=
fi
wait_while 5 alive "$RUNNER"
if alive "$RUNNER" || group_alive "$RUNNER"; then
	bad "worker gone after shutdown --force" "pid $RUNNER runs"
else
	ok "worker gone after shutdown --force"
fi

echo "scenario_workers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
