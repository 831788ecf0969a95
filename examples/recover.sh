#!/bin/sh
# recover.sh: a supervisor died; take its tetherd back and put its state
# in order without guessing.  Every decision is made from what the server
# says (tetherctl --json); nothing is remembered from before the crash.
#
#   sh examples/recover.sh [-n] [--restart on-failure|always|never]
#                          [--results FILE] SOCKET
#
# The recovery loop (tetherctl(1), RECOVERY):
#   1. status   is a server there?  None: exit 3, nothing to recover.
#   2. ps       running workers are kept as they are; each dead one has
#               its end reported and, per --restart, is started again
#               from the spec the server kept (tetherctl respawn).
#   3. pending  each parked request that finished while nobody was
#               attached is collected; its result goes to --results as
#               one JSON line.  Requests still running are left to run.
#   4. fds      labeled fds and the fds workers' fd maps name are kept;
#               every other fd the dead supervisor left is closed (gc).
#   5. resume   stdout gets one JSON line per action; a new supervisor
#               starts from the state it describes.
# -n only says what it would do.  Needs tetherctl (TETHERCTL=path) and jq.
# Exit: 0 recovered, 1 an action failed, 2 usage, 3 no server at SOCKET.
set -u
ctl=${TETHERCTL:-tetherctl}
dry=
restart=on-failure
results=/dev/null

usage() {
	echo "usage: recover.sh [-n] [--restart on-failure|always|never]" \
		"[--results FILE] SOCKET" >&2
	exit 2
}
while [ $# -gt 1 ]; do
	case $1 in
	-n | --dry-run) dry=1 ;;
	--restart) restart=$2; shift ;;
	--results) results=$2; shift ;;
	*) usage ;;
	esac
	shift
done
[ $# -eq 1 ] || usage
case $restart in on-failure | always | never) ;; *) usage ;; esac
sock=$1
failed=0

# tc VERB ARGS...: tetherctl --json on our socket; stdout is its JSON
tc() { "$ctl" --json -s "$sock" "$@"; }
# act JSON: report one action on stdout
act() { printf '%s\n' "$1"; }
# run ACTION-JSON VERB ARGS...: do it (unless -n), report it with its outcome
run() {
	what=$1
	shift
	if [ -n "$dry" ]; then
		act "$(jq -nc --argjson a "$what" '$a + {dry_run: true}')"
		return 0
	fi
	if out=$(tc "$@"); then
		act "$(jq -nc --argjson a "$what" --argjson r "${out:-null}" \
			'$a + {ok: true, result: $r}')"
	else
		st=$?
		act "$(jq -nc --argjson a "$what" --argjson r "${out:-null}" \
			--argjson x "$st" '$a + {ok: false, exit: $x, result: $r}')"
		failed=1
	fi
}

# 1. status: exit 3 is "no server", anything else non-zero is a failure
status=$(tc status)
st=$?
if [ $st -ne 0 ]; then
	[ $st -eq 3 ] && echo "recover.sh: no tetherd at $sock" >&2
	exit $st
fi
act "$(printf '%s' "$status" | jq -c '{action: "status", pid, generation}')"

# 2. workers
ps=$(tc ps) || exit $?
printf '%s' "$ps" | jq -c '.[] | select(.state == "running" or
	.state == "stopping") | {action: "keep", pid, label: .label, state}'
printf '%s' "$ps" | jq -c --arg r "$restart" '.[] |
	select(.state == "exited" or .state == "killed") |
	{pid, label: .label, state, exit_code, signal,
	 restart: ($r == "always" or ($r == "on-failure" and
		   (.state == "killed" or .exit_code != 0)))}' | {
while read -r w; do
	target=$(printf '%s' "$w" | jq -r '.label // .pid')
	if [ "$(printf '%s' "$w" | jq -r .restart)" = true ]; then
		run "$(printf '%s' "$w" | jq -c '{action: "respawn", pid,
			label: .label, state, exit_code, signal}')" respawn "$target"
	else
		act "$(printf '%s' "$w" | jq -c '{action: "ended", pid, label: .label,
			state, exit_code, signal}')"
	fi
done
exit $failed
} || failed=1

# 3. parked requests: collect what is done, report what still runs
pending=$(tc pending) || exit $?
for id in $(printf '%s' "$pending" | jq -r '.[] | select(.state == "done") |
		.id'); do
	if [ -n "$dry" ]; then
		act "{\"action\":\"collect\",\"id\":$id,\"dry_run\":true}"
		continue
	fi
	if out=$(tc collect --no-wait "$id"); then
		printf '%s\n' "$out" >>"$results"
		act "$(jq -nc --argjson id "$id" --argjson r "$out" \
			'{action: "collect", id: $id, ok: true, result: $r}')"
	else
		act "{\"action\":\"collect\",\"id\":$id,\"ok\":false}"
		failed=1
	fi
done
printf '%s' "$pending" | jq -c '.[] | select(.state != "done") |
	{action: "still-running", id, syscall, since}'

# 4. fds: keep labeled ones (gc keeps those itself) and what workers use
ps=$(tc ps) || exit $?
keep=$(printf '%s' "$ps" | jq -r '[.[] | .fds[]? | .server_fd] | unique |
	map(tostring) | join(",")')
if [ -n "$dry" ]; then
	out=$(tc gc ${keep:+--keep "$keep"} --dry-run) || exit $?
	act "$(jq -nc --argjson r "$out" '{action: "gc", dry_run: true,
		result: $r}')"
else
	run '{"action":"gc"}' gc ${keep:+--keep "$keep"}
fi
exit $failed
