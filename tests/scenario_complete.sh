#!/bin/sh
# The bash completion (contrib/completion/tetherctl.bash) as bash runs
# it: sourced, `complete -p tetherctl` registered, and _tetherctl called
# with COMP_WORDS/COMP_CWORD set as bash sets them at a Tab.  Verbs,
# global and verb options (from the usage lines), syscall names, file
# names where a verb takes a local file, and from a real tetherd its
# labels, fds and worker pids.  Needs $TETHERCTL, $TETHERD and
# $TETHER_BASH_COMPLETION (make check exports them).
#
# Prints "scenario_complete: N passed, M failed"; exits 1 if M > 0.
SCENARIO=complete
. "$(dirname "$0")/scenario_lib.sh"
: "${TETHER_BASH_COMPLETION:?set TETHER_BASH_COMPLETION to the script}"

if ! command -v bash >/dev/null 2>&1; then
	echo "scenario_complete: no bash; skipped"
	exit 77
fi

# comp WORD...: what _tetherctl offers for the last word (COMP_CWORD),
# sorted, one a line, in $out.
comp() {
	out=$(bash --norc --noprofile -c '
		. "$1" || exit 9
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_tetherctl tetherctl "${COMP_WORDS[COMP_CWORD]}" \
			"${COMP_WORDS[COMP_CWORD-1]}" || exit 8
		printf "%s\n" "${COMPREPLY[@]}" | sort' \
		sh "$TETHER_BASH_COMPLETION" "$TETHERCTL" "$@" 2>&1)
}

# line NAME WANT: WANT is one of the lines of $out.
line() {
	if printf '%s\n' "$out" | grep -qxF -- "$2"; then
		ok "$1"
	else
		bad "$1" "no line '$2' in:" "$(printf '%s\n' "$out" | head -20)"
	fi
}

# noline NAME UNWANTED
noline() {
	if printf '%s\n' "$out" | grep -qxF -- "$2"; then
		bad "$1" "unexpected line '$2'"
	else
		ok "$1"
	fi
}

reg=$(bash --norc --noprofile -c '. "$1" && complete -p tetherctl' sh \
	"$TETHER_BASH_COMPLETION" 2>&1)
expect "complete -p tetherctl after sourcing it" \
	"complete -F _tetherctl tetherctl" "$reg"

# ---- without a server ------------------------------------------------------

comp -s "$S" ''
line "verbs at the first word" status
line "... every verb of the table" respawn
noline "... not the hidden helper" complete
noline "... no syscall names there (attach only)" openat
comp -s "$S" st
expect "a verb's beginning" "$(printf 'start\nstatus\nstop')" "$out"
comp --js
expect "a global option" "--json" "$out"
comp -s "$S" --json call ope
line "syscall names after call" openat
line "... all that begin so" open_tree
comp -s "$S" call --ti
expect "call's options, from its usage line" "--timeout" "$out"
comp -s "$S" logs -
line "logs -f" "-f"
line "--help for every verb" "--help"
comp -s "$S" help sp
expect "help VERB" spawn "$out"
comp -s "$S" unlabel ''
expect "no server: no labels, and no error" "" "$out"

mkdir "$D/files" && : >"$D/files/local one" && : >"$D/files/other"
comp -s "$S" put "$D/files/lo"
expect "put LOCAL: file names (bash quotes them: -o filenames)" \
	"$D/files/local one" "$out"
comp -s "$S" put --mode 600 "$D/files/o"
expect "put --mode M LOCAL: file names" "$D/files/other" "$out"
comp -s "$S" batch "$D/files/o"
expect "batch FILE: file names" "$D/files/other" "$out"
comp -s "$S" get /etc/hostname "$D/files/o"
expect "get REMOTE LOCAL: file names" "$D/files/other" "$out"
comp -s "$D/files/o"
expect "-s PATH: file names" "$D/files/other" "$out"
comp -s "$S" call --timeout ''
expect "an option's word: nothing" "" "$out"

# zsh's script, when there is a zsh: its function run with compadd and
# _files standing in for the completion system's.
zcomp() {
	out=$(zsh -f -c '
		compadd() { [[ $1 == -- ]] && shift; print -l -- "$@" }
		_files() { print FILES }
		zfile=$1; shift
		words=("$@"); CURRENT=$#; PREFIX=${words[CURRENT]}
		_tetherctl() { source "$zfile" }
		_tetherctl' sh "$(dirname "$0")/../contrib/completion/_tetherctl" \
		"$TETHERCTL" "$@" 2>&1 | sort)
}
if command -v zsh >/dev/null 2>&1; then
	zcomp -s "$S" st
	expect "zsh: a verb's beginning" "$(printf 'start\nstatus\nstop')" \
		"$out"
	zcomp -s "$S" put ''
	expect "zsh: put LOCAL: its file completion" FILES "$out"
	zcomp -s "$S" call --ti
	expect "zsh: call's options" "--timeout" "$out"
else
	echo "skip zsh (not installed)"
fi

# A server that accepts and never answers: no candidates, and no hang.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
print("ready", flush=True)
time.sleep(60)
' "$D/hung.sock" >"$D/hung.out" 2>&1 &
HUNG=$!
scen_cleanup_more() {
	kill "$HUNG" 2>/dev/null
}
wait_until 10 grep -q ready "$D/hung.out"
comp -s "$D/hung.sock" unlabel ''
expect "a server that never answers: nothing offered, Tab returns" "" "$out"
kill "$HUNG" 2>/dev/null

# ---- from a running server ---------------------------------------------

if ! ctl "start" 0 start --tetherd "$TETHERD"; then
	echo "scenario_complete: $pass passed, $((fail + 1)) failed"
	exit 1
fi
SPID=$out
ctl "take a file" 0 take "$D/files/other" --label "my file"
fd=$out
ctl "label another" 0 take "$D/files/other" --label cfg
ctl "spawn a worker" 0 spawn --label sleeper -- sleep 600
wpid=$out

comp -s "$S" unlabel ''
line "unlabel: the server's labels" cfg
line "... quoted when they have a blank" 'my\ file'
comp -s "$S" unlabel c
expect "unlabel c: one label" cfg "$out"
comp -s "$S" label ''
line "label FD: the server's fds" "$fd"
comp -s "$S" gc --keep ''
line "gc --keep: fds" "$fd"
comp -s "$S" kill ''
line "kill: worker pids" "$wpid"
line "kill: worker labels" sleeper
comp -s "$S" stop sl
expect "stop sl: the label" sleeper "$out"
comp "--socket=$S" wait sl
expect "--socket=PATH is the server asked" sleeper "$out"
comp -s "$S" call read ''
line "call's arguments: fd numbers" "$fd"

ctl "kill the worker" 0 kill -KILL sleeper
shutdown_force

echo "scenario_complete: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
