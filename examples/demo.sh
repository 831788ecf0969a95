#!/bin/sh
# The tether demo: a server outlives the controllers that use it, and
# what one controller opened, the next one finds.
#   sh examples/demo.sh [BUILD_DIR]
set -eu
build=${1:-.}
ctl="$build/controller/tetherctl"
export TETHERD="$build/server/tetherd"
dir=$(mktemp -d /tmp/tether-demo.XXXXXX)
sock="$dir/tetherd.sock"
file="$dir/notes.txt"
trap '"$ctl" -s "$sock" shutdown >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "start a persistent tetherd (tetherctl exits; the server stays)"
pid=$(run "$ctl" -s "$sock" start)
echo "$pid"
run "$ctl" -s "$sock" status

say "controller #1 opens a file in the server and writes to it, then exits"
out=$("$ctl" -s "$sock" call openat AT_FDCWD "\"$file\"" 'O_RDWR|O_CREAT|O_CLOEXEC' 0600)
echo "$out"
fd=${out##*= }
run "$ctl" -s "$sock" call write "$fd" "'written by controller #1\n'" 25

say "controller #2, a new process, finds fd $fd still open in the server"
run "$ctl" -s "$sock" call lseek "$fd" 0 SEEK_SET
run "$ctl" -s "$sock" call read "$fd" @64 64

say "a controller that dies by SIGKILL mid-session loses nothing"
sh -c "exec \"$ctl\" -s \"$sock\" call nanosleep x:01000000000000000000000000000000 0" &
victim=$!
sleep 0.3
kill -9 "$victim" 2>/dev/null || true
wait "$victim" 2>/dev/null || true
run "$ctl" -s "$sock" call pread64 "$fd" @64 64 0
run "$ctl" -s "$sock" --json call getpid

say "errors come back as errno, strace-style (exit status 1)"
run "$ctl" -s "$sock" call openat AT_FDCWD '"/nonexistent"' O_RDONLY || true

say "shut it down"
run "$ctl" -s "$sock" shutdown
trap 'rm -rf "$dir"' EXIT
