#!/bin/sh
# The data socket from the shell: every tetherctl invocation is a new
# controller.  put (silent, --json report, --mode, from stdin, several
# chunks), get (to a file, to stdout, --json, a missing file named
# ENOENT and leaving nothing behind), take (fd printed, label shown by
# fds) and give (to a command's stdin, as another fd, its exit status),
# against a real tetherd.  Needs $TETHERCTL and $TETHERD (make check
# exports both).
#
# Prints "scenario_data: N passed, M failed"; exits 1 if M > 0.
SCENARIO=data
. "$(dirname "$0")/scenario_lib.sh"

# ---- a persistent server ---------------------------------------------

if ! ctl "start" 0 start --tetherd "$TETHERD"; then
	echo "scenario_data: $pass passed, $((fail + 1)) failed"
	exit 1
fi
SPID=$out

printf 'hello over the data socket\nsecond line\n' >"$D/small"
# Several chunks (chunks are 1 MiB), not a multiple of anything.
dd if=/dev/urandom of="$D/multi" bs=1024 count=3073 2>/dev/null
printf 'x' >>"$D/multi"

# ---- put -------------------------------------------------------------------

ctl "put LOCAL REMOTE" 0 put "$D/small" "$D/r.small"
expect "put is silent" "" "$out"
same "put: the remote file matches" "$D/small" "$D/r.small"

ctl "put of several chunks" 0 put "$D/multi" "$D/r.multi"
same "put of several chunks: the remote file matches" "$D/multi" \
	"$D/r.multi"

ctl "--json put" 0 --json put "$D/multi" "$D/r.multi2"
json=$out
size=$(wc -c <"$D/multi" | tr -d ' ')
has "--json put: op" '"op":"put"' "$json"
has "--json put: bytes" "\"bytes\":$size," "$json"
has "--json put: verified" '"verified":true' "$json"
lx=$(printf '%s\n' "$json" | sed -n 's/.*"local_xxh3":"\([0-9a-f]*\)".*/\1/p')
rx=$(printf '%s\n' "$json" | sed -n 's/.*"remote_xxh3":"\([0-9a-f]*\)".*/\1/p')
if [ ${#lx} -eq 16 ] && [ "$lx" = "$rx" ]; then
	ok "--json put: local_xxh3 = remote_xxh3 ($lx)"
else
	bad "--json put: local_xxh3 = remote_xxh3" "local: '$lx'" \
		"remote: '$rx'"
fi
same "--json put: the remote file matches" "$D/multi" "$D/r.multi2"

printf 'came from stdin\n' | $GUARD "$TETHERCTL" -s "$S" put - "$D/r.stdin" \
	>"$D/out" 2>"$D/err"
st=$?
expect "put - REMOTE exits 0" 0 "$st"
expect "put - REMOTE: the remote file has stdin" "came from stdin" \
	"$(cat "$D/r.stdin" 2>/dev/null)"

ctl "put --mode 600" 0 put --mode 600 "$D/small" "$D/r.mode"
# shellcheck disable=SC2012 # one known name: ls -l is the POSIX way
perm=$(ls -ln "$D/r.mode" 2>/dev/null | cut -c1-10)
expect "put --mode 600: the file is -rw-------" "-rw-------" "$perm"

printf 'the old content\n' >"$D/r.over"
ctl "put over an existing file" 0 put "$D/small" "$D/r.over"
same "put over an existing file replaces it" "$D/small" "$D/r.over"

ctl "put into a missing directory fails" 1 put "$D/small" \
	"$D/no/such/dir/f"
has "put into a missing directory names ENOENT" "No such file" "$err"
# An existing file whose directory takes no new one: the temporary is
# what fails, and the error says so rather than "no such file".
ctl "put over a /proc file fails" 1 put "$D/small" /proc/sys/kernel/hostname
has "it names the temporary" "creating the temporary file" "$err"

leftover=0
for f in "$D"/*tether-* "$D"/.*tether-*; do
	[ -e "$f" ] && leftover=$((leftover + 1))
done
expect "no temporary left next to the targets" 0 "$leftover"

# ---- get -------------------------------------------------------------------

ctl "get REMOTE LOCAL" 0 get "$D/r.multi" "$D/l.multi"
expect "get is silent" "" "$out"
same "get: the local file matches" "$D/multi" "$D/l.multi"

ctl "get REMOTE -" 0 get "$D/r.multi" -
same "get REMOTE -: stdout matches" "$D/multi" "$D/out"

ctl "get REMOTE - (text)" 0 get "$D/r.small" -
expect "get REMOTE -: the text" "$(cat "$D/small")" "$out"

ctl "--json get" 0 --json get "$D/r.small" "$D/l.json"
has "--json get: op" '"op":"get"' "$out"
has "--json get: verified" '"verified":true' "$out"
same "--json get: the local file matches" "$D/small" "$D/l.json"

ctl "get /nonexistent x fails with 1" 1 get /nonexistent "$D/x"
case $err in
*ENOENT* | *"No such file"*) ok "get /nonexistent names ENOENT" ;;
*) bad "get /nonexistent names ENOENT" "stderr: $err" ;;
esac
left=
for f in "$D/x" "$D"/x.*; do
	[ -e "$f" ] && left="$left $f"
done
expect "a failed get leaves no local file (nor its temporary)" "" "$left"

# A device or a FIFO is written to, not replaced by a file.
ctl "get REMOTE /dev/null" 0 get "$D/r.multi" /dev/null
if [ -c /dev/null ]; then
	ok "/dev/null is still a character device"
else
	bad "/dev/null is still a character device" "$(ls -l /dev/null)"
	rm -f /dev/null && mknod -m 666 /dev/null c 1 3
fi
mkfifo "$D/fifo"
cat "$D/fifo" >"$D/from-fifo" &
CPID=$!
# On failure the reader may still wait for a writer: a read-write open
# of a FIFO never blocks, and its close gives the reader its EOF.
if ! ctl "get REMOTE FIFO" 0 get "$D/r.multi" "$D/fifo"; then
	exec 9<>"$D/fifo"
	exec 9>&-
fi
wait "$CPID"
same "get into a FIFO: the reader got the file" "$D/multi" "$D/from-fifo"
if [ -p "$D/fifo" ]; then
	ok "the FIFO is still a FIFO"
else
	bad "the FIFO is still a FIFO" "$(ls -l "$D/fifo")"
fi
ctl "get into a directory fails" 1 get "$D/r.small" "$D"
has "get into a directory: EISDIR" "directory" "$err"

# ---- take and give ---------------------------------------------------------

ctl "take LOCALPATH --label L" 0 take "$D/small" --label L
FD=$out
is_fd "take prints an fd" "$FD"
ctl "fds" 0 fds
lab=$(printf '%s\n' "$out" | awk -v fd="$FD" '$1 == fd { print $5; exit }')
expect "fds shows label L on fd $FD" "L" "$lab"

ctl "--json take" 0 --json take "$D/small"
has "--json take names the fd" '"fd":' "$out"
FD2=$(printf '%s\n' "$out" | sed -n 's/.*"fd":\([0-9]*\).*/\1/p')
is_fd "--json take's fd" "$FD2"

ctl "give FD -- cat" 0 give "$FD" -- cat
expect "give FD -- cat prints the file" "$(cat "$D/small")" "$out"

# A second fd: the first one's offset is at EOF now (GIVE hands over a
# duplicate, one file description).
ctl "give FD --as 5 -- sh -c 'cat <&5'" 0 give "$FD2" --as 5 -- \
	sh -c 'cat <&5'
expect "give --as 5 prints the file" "$(cat "$D/small")" "$out"

ctl "give passes the command's exit status" 3 give "$FD" -- sh -c 'exit 3'

ctl "give of a closed fd fails" 1 give 999 -- cat

# Inside attach a command's status is not the session's: its 3 or 6 is
# a failed line (1), said, and the lines after it run.
printf "give %s -- sh -c 'exit 3'\ngive %s -- sh -c 'exit 6'\nlabel %s after-give\n" \
	"$FD" "$FD" "$FD" >"$D/give.txt"
ctl "attach: a command's exit 3 and 6 are failed lines" 1 attach <"$D/give.txt"
has "attach: the command's status is said" "sh exited with status 6" "$err"
lacks "attach: not a take-over" "took over" "$err"
ctl "attach: the lines after it ran" 0 --json fds
has "attach: the label of the last line" "after-give" "$out"
ctl "unlabel it" 0 unlabel after-give

# From the shell give becomes the command (no fork, no wait): the
# command's parent is whoever ran tetherctl, not a tetherctl.
ctl "give execs the command" 0 give "$FD2" -- sh -c 'cat /proc/$PPID/comm'
lacks "give's command is not tetherctl's child" tetherctl "$out"
ctl "give of a missing command is 127" 127 give "$FD2" -- /nonexistent/cmd
has "give names the missing command" "/nonexistent/cmd" "$err"
ctl "status after the give: nobody attached" 0 --json status
has "give left no controller behind" '"attached":false' "$out"
ctl "take of a missing path fails" 1 take "$D/nonexistent"

# take opens read-only unless --rw: the server gets no more than asked.
printf 'keep\n' >"$D/ro"
ctl "take (read-only by default)" 0 take "$D/ro"
RO=$out
is_fd "take prints the read-only fd" "$RO"
ctl "write on a read-only take: the call ran" 1 call write "$RO" "'x'" 1
has "write on a read-only take fails EBADF" "= -1 EBADF" "$out"
expect "the file is untouched" "keep" "$(cat "$D/ro")"
ctl "read on a read-only take works" 0 call read "$RO" @4 4
has "read on a read-only take reads" '"keep"' "$out"
ctl "take --rw" 0 take --rw "$D/ro"
RW=$out
is_fd "take --rw prints an fd" "$RW"
ctl "write on a --rw take works" 0 call write "$RW" "'K'" 1
has "write on a --rw take wrote 1 byte" "= 1" "$out"
expect "the file was written" "Keep" "$(cat "$D/ro")"
chmod 0400 "$D/ro"
if [ "$(id -u)" -ne 0 ]; then
	ctl "take --rw of a read-only file fails" 1 take --rw "$D/ro"
	has "... saying why" "Permission denied" "$err"
fi
ctl "take of a read-only file works without --rw" 0 take "$D/ro"

# ---- and the server is fine ---------------------------------------------------

ctl "status after it all" 0 status
if alive "$SPID"; then
	ok "server still runs"
else
	bad "server still runs" "pid $SPID is gone"
fi
shutdown_force

echo "scenario_data: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
