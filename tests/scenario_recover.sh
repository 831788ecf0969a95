#!/bin/sh
# A supervisor's recovery loop, end to end, with a real crash: a
# supervisor sets up workers, labeled and unlabeled fds and parked
# requests, holds the controller seat in `tetherctl attach`, and is
# killed with SIGKILL; while nobody is attached a worker fails and a
# parked request finishes.  examples/recover.sh and examples/recover.py
# (each on a fresh server) must then, from `tetherctl --json` alone:
# keep the live worker (same pid, its log unbroken), restart the failed
# one from the server's spec (same argv, its --fd map), leave the clean
# exit alone, collect the finished request, leave the running one, close
# the orphaned fd and keep the labeled and the mapped ones.  -n first
# must change nothing.  Needs $TETHERCTL, $TETHERD, jq and python3.
SCENARIO=recover
. "$(dirname "$0")/scenario_lib.sh"
EX=$(cd "$(dirname "$0")/../examples" && pwd)
SUP=
WPIDS=

scen_cleanup_more() {
	[ -n "$SUP" ] && kill -9 "$SUP" 2>/dev/null
	for p in $WPIDS; do
		kill -9 -- "-$p" 2>/dev/null
		kill -9 "$p" 2>/dev/null
	done
}

for tool in jq python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "scenario_recover: $tool is missing (sh scripts/dev installs it)"
		exit 1
	fi
done

# jget JSON FILTER: one value out of a JSON document
jget() {
	printf '%s' "$1" | jq -r "$2"
}

# field FILTER: of the last JSON on stdout ($out)
field() {
	jget "$out" "$1"
}

# crash_a_supervisor: a fresh server and the state a supervisor leaves
# when it dies mid-work.  Sets TICK (pid), FLAKY (pid), JOURNAL,
# ORPHAN, MAPPED (fds), DONE_ID, RUN_ID (request ids).
crash_a_supervisor() {
	rm -f "$S" "$D/flaky.marker"
	ctl "start" 0 start || return 1
	SPID=$out
	ctl "spawn ticker" 0 --json spawn --label ticker --capture -- sh -c \
		'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.02; done'
	TICK=$(field .pid)
	ctl "open the mapped fd" 0 --json call openat AT_FDCWD '"/dev/zero"' \
		O_RDONLY
	MAPPED=$(field .ret)
	# fails once (exit 3) while nobody is attached; runs once restarted
	ctl "spawn flaky" 0 --json spawn --label flaky --fd "3=$MAPPED" \
		-- sh -c "[ -e '$D/flaky.marker' ] && exec sleep 1000
			touch '$D/flaky.marker'; sleep 0.3; exit 3"
	FLAKY=$(field .pid)
	ctl_any --json ps
	field '.[] | select(.label == "flaky") | .argv' >"$D/flaky.argv"
	ctl "spawn oneshot" 0 --json spawn --label oneshot -- true
	WPIDS="$WPIDS $TICK $FLAKY"
	ctl "open the journal" 0 --json call openat AT_FDCWD "\"$D/journal\"" \
		O_WRONLY\|O_CREAT\|O_CLOEXEC 0600
	JOURNAL=$(field .ret)
	ctl "label the journal" 0 label "$JOURNAL" journal
	ctl "open an fd nobody will own" 0 --json call openat AT_FDCWD \
		'"/etc/passwd"' O_RDONLY\|O_CLOEXEC
	ORPHAN=$(field .ret)
	# 0.3 s: done by the time anyone is back; 60 s: still running
	ctl "park a short request" 0 --json call --async nanosleep \
		x:000000000000000000a3e11100000000 0
	DONE_ID=$(field .id)
	ctl "park a long request" 0 --json call --async nanosleep \
		x:3c000000000000000000000000000000 0
	RUN_ID=$(field .id)

	# the supervisor: a controller holding the seat, then SIGKILL
	# (its stdin a fifo we hold open: it waits for a line forever)
	rm -f "$D/fifo" && mkfifo "$D/fifo"
	"$TETHERCTL" -s "$S" attach <"$D/fifo" >/dev/null 2>&1 &
	exec 7>"$D/fifo"
	wait_until 5 attached
	SUP=$(ctl_any --json status && field .controller_pid)
	if [ -n "$SUP" ] && [ "$SUP" != 0 ] && alive "$SUP"; then
		ok "supervisor $SUP attached"
	else
		bad "supervisor attached" "status: $out"
		return 1
	fi
	kill -9 "$SUP"
	wait_while 5 alive "$SUP" && ok "supervisor killed with SIGKILL"
	wait "$SUP" 2>/dev/null
	exec 7>&-
	SUP=
	ctl "flaky fails while nobody is attached" 0 --json wait --timeout 10 \
		flaky
	expect "flaky's exit status" 3 "$(field .exit_code)"
	wait_until 5 parked_done
}

attached() {
	ctl_any --json status
	[ "$st" = 0 ] && [ "$(field .attached)" = true ]
}

parked_done() {
	ctl_any --json pending
	[ "$(field ".[] | select(.id == $DONE_ID) | .state")" = done ]
}

# check_recovered TOOL: what one tool's recovery left behind
check_recovered() {
	tool=$1
	log=$D/$tool.actions
	expect "$tool: ticker kept" "$TICK" \
		"$(jq -r 'select(.action == "keep" and .label == "ticker") |
			.pid' "$log")"
	alive "$TICK" && ok "$tool: ticker still runs, same process"
	has "$tool: flaky respawned" '"ok":true' \
		"$(jq -c 'select(.action == "respawn" and .label == "flaky")' \
			"$log")"
	expect "$tool: oneshot's clean exit left alone" 0 \
		"$(jq -r 'select(.action == "ended" and .label == "oneshot") |
			.exit_code' "$log")"
	expect "$tool: the finished request collected" 0 \
		"$(jq -r "select(.action == \"collect\" and .id == $DONE_ID) |
			.result.ret" "$log")"
	expect "$tool: the running request left to run" "$RUN_ID" \
		"$(jq -r 'select(.action == "still-running") | .id' "$log")"
	ctl "$tool: ps after" 0 --json ps
	nf=$(field '.[] | select(.label == "flaky" and .state == "running") |
		.pid')
	WPIDS="$WPIDS $nf"
	if [ -n "$nf" ] && [ "$nf" != "$FLAKY" ] && alive "$nf"; then
		ok "$tool: a new flaky runs ($nf)"
		field '.[] | select(.label == "flaky") | .argv' \
			>"$D/flaky.argv.new"
		same "$tool: flaky's argv as spawned" "$D/flaky.argv" \
			"$D/flaky.argv.new"
		# (sh adds PWD of its own)
		tr '\0' '\n' <"/proc/$nf/environ" | jq -R . | jq -s . \
			>"$D/flaky.environ"
		expect "$tool: flaky's env as spawned" "[]" \
			"$(field '.[] | select(.label == "flaky") | .env' |
				jq -c --slurpfile p "$D/flaky.environ" '. - $p[0]')"
		expect "$tool: flaky's fd 3 is the mapped fd" /dev/zero \
			"$(readlink "/proc/$nf/fd/3")"
	else
		bad "$tool: a new flaky runs" "ps: $out"
	fi
	ctl "$tool: fds after" 0 --json fds
	expect "$tool: the journal kept, labeled" journal \
		"$(field ".[] | select(.fd == $JOURNAL) | .label")"
	expect "$tool: the mapped fd kept" /dev/zero \
		"$(field ".[] | select(.fd == $MAPPED) | .target")"
	expect "$tool: the orphaned fd closed" "" \
		"$(field ".[] | select(.fd == $ORPHAN) | .target")"
	ctl "$tool: ticker's log" 0 logs ticker
	n=$(printf '%s\n' "$out" | grep -c '^tick ')
	last=$(printf '%s\n' "$out" | tail -n 1)
	expect "$tool: ticker's log has every tick, none lost" \
		"tick $((n - 1))" "$last"
}

# recover_with TOOL CMD...: crash a supervisor, then recover with CMD
recover_with() {
	tool=$1
	shift
	crash_a_supervisor || return
	ctl_any --json fds
	before_fds=$(field '[.[] | .fd] | join(",")')
	"$@" -n "$S" >"$D/$tool.dry" 2>"$D/$tool.err"
	expect "$tool -n exits 0" 0 $?
	ctl_any --json fds
	expect "$tool -n closes nothing" "$before_fds" \
		"$(field '[.[] | .fd] | join(",")')"
	has "$tool -n would close the orphan" "$ORPHAN" \
		"$(jq -c 'select(.action == "gc")' "$D/$tool.dry")"
	ctl_any --json ps
	expect "$tool -n restarts nothing" "$FLAKY" \
		"$(field '.[] | select(.label == "flaky") | .pid')"
	"$@" --results "$D/$tool.results" "$S" >"$D/$tool.actions" \
		2>"$D/$tool.err"
	st=$?
	expect "$tool exits 0" 0 "$st"
	[ "$st" = 0 ] || cat "$D/$tool.actions" "$D/$tool.err"
	if jq -e . "$D/$tool.actions" >/dev/null; then
		ok "$tool: every line of its report is JSON"
	else
		bad "$tool: every line of its report is JSON" \
			"$(cat "$D/$tool.actions")"
	fi
	expect "$tool: results file holds the collected request" 0 \
		"$(jq -r .ret "$D/$tool.results")"
	check_recovered "$tool"
	# resume: a new supervisor takes the seat and ends the run
	ctl "$tool: the new supervisor cancels the long request" 0 \
		cancel "$RUN_ID"
	shutdown_force
}

export TETHERCTL
recover_with recover.sh sh "$EX/recover.sh"
recover_with recover.py python3 "$EX/recover.py"

# no server: exit 3 for both, and the reason on stderr
rm -f "$S"
sh "$EX/recover.sh" "$S" >/dev/null 2>"$D/err"
expect "recover.sh without a server exits 3" 3 $?
python3 "$EX/recover.py" "$S" >/dev/null 2>"$D/err"
expect "recover.py without a server exits 3" 3 $?

echo "scenario_recover: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
