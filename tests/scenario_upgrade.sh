#!/bin/sh
# tetherctl upgrade as an operator runs it: a server with a worker
# writing output is upgraded to another binary (tests/tetherd-unchecked)
# and back, by path and with the default; the pid, the worker and its
# log carry over, exit 0 and the JSON say so.  A binary that is not one,
# or one anybody may write, is refused with exit 1 and the worker goes on.
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

echo "scenario_upgrade: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
