#!/bin/sh
# tetherctl upgrade as an operator runs it: a server with a worker
# writing output is upgraded to another binary (tests/tetherd-unchecked)
# and back, by path and with the default; the pid, the worker and its
# log carry over, exit 0 and the JSON say so.  A binary that is not one,
# or one anybody may write, is refused with exit 1 and the worker goes on.
# A one-shot verb refused for an upgrade is sent again.
# Needs $TETHERCTL, $TETHERD, $TETHERD_UNCHECKED and jq.
SCENARIO=upgrade
. "$(dirname "$0")/scenario_lib.sh"
: "${TETHERD_UNCHECKED:?set TETHERD_UNCHECKED to tests/tetherd-unchecked}"

ctl "start" 0 start || exit 1
SPID=$out
ctl "spawn a ticker" 0 --json spawn --label ticker --capture -- sh -c \
	'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.02; done'
TICK=$(printf '%s' "$out" | jq -r .pid)
sleep 0.3
ctl "logs before" 0 logs ticker
printf '%s\n' "$out" >"$D/before"

ctl "upgrade to another binary" 0 --json upgrade --tetherd "$TETHERD_UNCHECKED"
expect "same pid" "$SPID" "$(printf '%s' "$out" | jq -r .pid)"
expect "one upgrade" 1 "$(printf '%s' "$out" | jq -r .upgrades)"
has "now the unchecked build" "+unchecked" "$(printf '%s' "$out" | jq -r .to)"
ctl "status says it" 0 --json status
expect "status: one upgrade, none failed, 8 spare slots" "1 0 8" \
	"$(printf '%s' "$out" | jq -r '"\(.upgrades) \(.upgrade_failures) \(.spare_fds)"')"
has "status: the unchecked build" "+unchecked" \
	"$(printf '%s' "$out" | jq -r .server_version)"
expect "status: the server's fd limit" \
	"$(awk '/^Max open files/ { print $4 }' "/proc/$SPID/limits")" \
	"$(printf '%s' "$out" | jq -r .fd_limit)"
ctl "ps after" 0 --json ps
expect "the ticker is the same process" "$TICK" \
	"$(printf '%s' "$out" | jq -r '.[] | select(.label=="ticker") | .pid')"
ctl "logs after" 0 logs ticker
printf '%s\n' "$out" | head -c "$(wc -c <"$D/before")" >"$D/after"
same "the log kept what it had" "$D/before" "$D/after"

printf '#!/bin/sh\n' >"$D/notelf"
chmod 755 "$D/notelf"
ctl "a script is refused" 1 upgrade --tetherd "$D/notelf"
has "it says why" "not an ELF" "$err"
cp "$TETHERD" "$D/tetherd-rw" && chmod 777 "$D/tetherd-rw"
ctl "a binary anybody may write is refused" 1 upgrade --tetherd "$D/tetherd-rw"
has "it says why" "writable by nobody else" "$err"
ctl "the server goes on" 0 --json status
expect "same pid still" "$SPID" "$(printf '%s' "$out" | jq -r .pid)"

ctl "upgrade back by path" 0 upgrade --tetherd "$TETHERD"
has "text says it" "tetherd pid $SPID upgraded" "$out"
ctl "upgrade again with the default (the binary it runs)" 0 upgrade
alive "$TICK" && ok "the ticker survived three upgrades" ||
	bad "the ticker survived three upgrades" "pid $TICK is gone"
shutdown_force

# A one-shot verb refused because the server is upgrading (the request
# did not run) is sent again, and says nothing of it; a server that
# keeps refusing is given up after 10 s: exit 3, its words once.  A call
# is not sent again (a syscall running at a drain may have started).
# The unchecked build refuses its first $TETHERD_TEST_REFUSE_UPGRADING
# requests as a draining server does.
refusing_server() {
	TETHERD_TEST_REFUSE_UPGRADING=$1 setsid "$TETHERD_UNCHECKED" \
		--socket "$S" --log "$D/refusing.log" </dev/null >/dev/null 2>&1 &
	SPID=$!
	wait_until 5 test -S "$S"
}
refusing_server 3
ctl "status, refused 3 times, is answered" 0 --json status
expect "by the server" "$SPID" "$(printf '%s' "$out" | jq -r .pid)"
expect "and nothing is said of the refusals" "" "$err"
ctl "label after them goes at once" 0 label 0 stdin-of-tetherd
shutdown_force
refusing_server 1000000
t0=$(date +%s)
ctl "a server that keeps refusing: exit 3" 3 --json fds
t1=$(date +%s)
[ $((t1 - t0)) -ge 9 ] && [ $((t1 - t0)) -le 20 ] &&
	ok "given up after 10 s" || bad "given up after 10 s" "$((t1 - t0)) s"
expect "one line on stderr" 1 "$(printf '%s\n' "$err" | wc -l)"
has "the server's words" "tetherd is upgrading" "$err"
expect "one JSON error" "EAGAIN 3 connection" \
	"$(printf '%s' "$out" | jq -r '.error | "\(.errno) \(.exit) \(.cause)"')"
t0=$(date +%s)
ctl "a call is not sent again" 3 call getpid
t1=$(date +%s)
[ $((t1 - t0)) -le 2 ] && ok "the call failed at once" ||
	bad "the call failed at once" "$((t1 - t0)) s"
kill "$SPID"
wait_while 5 alive "$SPID"
SPID=

echo "scenario_upgrade: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
