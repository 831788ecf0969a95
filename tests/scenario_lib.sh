# The shell side of the scenario tests, sourced by tests/scenario_*.sh
# after they set SCENARIO (their name): the private directory $D with
# the socket $S, the server pid $SPID that cleanup shuts down, and the
# checks (ok, bad, ctl, ctl_any, shutdown_force, expect, has, lacks,
# same, is_fd) counted in $pass and $fail.  Not a test itself.
set -u

: "${TETHERCTL:?set TETHERCTL to the tetherctl binary}"
: "${TETHERD:?set TETHERD to the tetherd binary}"
export TETHERD

D=$(mktemp -d "/tmp/tscen-$SCENARIO.XXXXXX") || exit 1
S=$D/s.sock
SPID=
pass=0
fail=0

# Running, not a zombie nobody reaped.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null)
	case $state in
	'' | Z | X) return 1 ;;
	esac
	return 0
}

# What a scenario must undo besides the server (processes of its own);
# it redefines this after sourcing.
scen_cleanup_more() {
	:
}

cleanup() {
	if [ -n "$SPID" ] && alive "$SPID"; then
		"$TETHERCTL" -s "$S" --take-over shutdown --force \
			>/dev/null 2>&1
		wait_while 2 alive "$SPID"
		kill -9 "$SPID" 2>/dev/null
	fi
	scen_cleanup_more
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ok() {
	pass=$((pass + 1))
	echo "ok   $1"
}

bad() {
	fail=$((fail + 1))
	echo "FAIL $1"
	shift
	for l in "$@"; do
		echo "     $l"
	done
}

nap() {
	sleep 0.05 2>/dev/null || sleep 1
}

# wait_while SECONDS CMD ARGS...: nap while CMD ARGS succeeds, SECONDS
# at most; true once it has failed.  wait_until: the other way round.
wait_while() {
	naps=$(($1 * 20))
	shift
	while "$@"; do
		[ "$naps" -gt 0 ] || return 1
		naps=$((naps - 1))
		nap
	done
}

wait_until() {
	secs=$1
	shift
	wait_while "$secs" fails "$@"
}

# fails CMD ARGS...: true when CMD ARGS fails.
fails() {
	! "$@"
}

# A guard against a verb that never returns: coreutils timeout when
# there is one.
if command -v timeout >/dev/null 2>&1; then
	GUARD="timeout 30"
else
	GUARD=
fi

# ctl_at OPT WHERE NAME WANT_STATUS ARGS...: run tetherctl OPT WHERE
# (-s SOCKET, -H URL), output in $out/$err (stdout also whole in
# $D/out).  A failure names OPT unless it is the usual -s.
ctl_at() {
	ctl_opt=$1
	ctl_where=$2
	name=$3
	want=$4
	shift 4
	$GUARD "$TETHERCTL" "$ctl_opt" "$ctl_where" "$@" >"$D/out" 2>"$D/err"
	st=$?
	out=$(cat "$D/out")
	err=$(cat "$D/err")
	if [ "$st" -eq "$want" ]; then
		ok "$name"
		return 0
	fi
	[ "$ctl_opt" = -s ] && ctl_opt= || ctl_opt="$ctl_opt "
	bad "$name" "tetherctl $ctl_opt$* exited $st, expected $want" \
		"stdout: $out" "stderr: $err"
	return 1
}

# ctl NAME WANT_STATUS ARGS...: ctl_at on the server at $S.
ctl() {
	ctl_at -s "$S" "$@"
}

# shutdown_force: shut the server down, check it is gone (within 5 s).
shutdown_force() {
	ctl "shutdown --force" 0 shutdown --force
	if wait_while 5 alive "$SPID"; then
		ok "server gone after shutdown --force"
		SPID=
	else
		bad "server gone after shutdown --force" "pid $SPID runs"
	fi
}

# ctl_any_at OPT WHERE ARGS...: run it, any status; status in $st.
ctl_any_at() {
	$GUARD "$TETHERCTL" "$@" >"$D/out" 2>"$D/err"
	st=$?
	out=$(cat "$D/out")
	err=$(cat "$D/err")
}

# ctl_any ARGS...: ctl_any_at on the server at $S.
ctl_any() {
	ctl_any_at -s "$S" "$@"
}

# expect NAME WANT GOT: exact comparison.
expect() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		bad "$1" "expected: $2" "got:      $3"
	fi
}

# has NAME NEEDLE HAYSTACK: substring.
has() {
	case $3 in
	*"$2"*) ok "$1" ;;
	*) bad "$1" "missing: $2" "in: $3" ;;
	esac
}

# lacks NAME NEEDLE HAYSTACK
lacks() {
	case $3 in
	*"$2"*) bad "$1" "unexpected: $2" "in: $3" ;;
	*) ok "$1" ;;
	esac
}

# same NAME FILE1 FILE2: byte for byte.
same() {
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		bad "$1" "$2 and $3 differ" \
			"sizes: $(wc -c <"$2" 2>/dev/null) $(wc -c <"$3" 2>/dev/null)"
	fi
}

# is_fd NAME VALUE: a non-negative decimal number.
is_fd() {
	case $2 in
	'' | *[!0-9]*) bad "$1" "not an fd number: '$2'" ;;
	*) ok "$1" ;;
	esac
}
