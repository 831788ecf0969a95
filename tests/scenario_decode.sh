#!/bin/sh
# Decoded results, end to end: the real tetherctl calls a real tetherd
# and prints what came back by type, strace style: pipe2's two fds, the
# struct stat of a file this test made (mode 0644, 11 bytes) through
# fstat, newfstatat and statx, open flags and a failed openat's errno by
# name, --raw for the bytes, and --json's "decoded" and "fds" beside
# today's fields.  Needs $TETHERCTL and $TETHERD (make check exports
# both).
#
# Prints "scenario_decode: N passed, M failed"; exits 1 if M > 0.
SCENARIO=decode
. "$(dirname "$0")/scenario_lib.sh"

if ! ctl "start" 0 start --tetherd "$TETHERD"; then
	echo "scenario_decode: $pass passed, $((fail + 1)) failed"
	exit 1
fi
SPID=$out

# A regular file of known mode and size.
printf 'eleven byte' >"$D/file"
chmod 0644 "$D/file"
ino=$(stat -c %i "$D/file")

# ---- pipe2: [R, W] ---------------------------------------------------------

ctl "call pipe2 @8 0" 0 call pipe2 @8 0
R=$(printf '%s\n' "$out" | sed -n 's/^pipe2(\[\([0-9]*\), \([0-9]*\)\], 0) = 0$/\1/p')
W=$(printf '%s\n' "$out" | sed -n 's/^pipe2(\[\([0-9]*\), \([0-9]*\)\], 0) = 0$/\2/p')
is_fd "pipe2 prints pipe2([R, W], 0) = 0 ($out)" "$R"
is_fd "pipe2's second fd" "$W"

# the fds are real: write on one end, read on the other
ctl "write to the pipe's W" 0 call write "$W" "'ping'" 4
ctl "read from the pipe's R" 0 call read "$R" @16 16
expect "the bytes went through the pipe pipe2 named" \
	"read($R, \"ping\", 16) = 4" "$out"

ctl "call pipe2 @ O_CLOEXEC" 0 call pipe2 @ O_CLOEXEC
has "pipe2's flags by name" "], O_CLOEXEC) = 0" "$out"

ctl "--json call pipe2" 0 --json call pipe2 @8 0
has "--json pipe2: \"fds\"" '"fds":[' "$out"
has "--json pipe2: \"decoded\"" '"decoded":[[' "$out"
has "--json pipe2: today's \"outs_hex\" is still there" '"outs_hex":["' "$out"
has "--json pipe2: today's \"args\" is still there" '"args":[{"out":' "$out"

# ---- fstat, newfstatat, statx of the file ----------------------------------

ctl "openat the file" 0 call openat AT_FDCWD "\"$D/file\"" 0
fd=$(printf '%s\n' "$out" | sed -n 's/^openat(AT_FDCWD, ".*", O_RDONLY) = \([0-9]*\)$/\1/p')
is_fd "openat with 0 prints O_RDONLY ($out)" "$fd"

ctl "call fstat FD @" 0 call fstat "$fd" @
has "fstat: st_mode=S_IFREG|0644" "st_mode=S_IFREG|0644," "$out"
has "fstat: st_size=11" "st_size=11," "$out"
has "fstat: st_ino is the file's" "st_ino=$ino," "$out"
has "fstat: strace's shape" "fstat($fd, {st_dev=makedev(" "$out"
has "fstat: times with their date" "st_mtime=" "$out"
lacks "fstat: no raw bytes" '\x00' "$out"

ctl "call newfstatat" 0 call newfstatat AT_FDCWD "\"$D/file\"" @ 0
has "newfstatat: mode and size" "st_mode=S_IFREG|0644, st_nlink=1" "$out"
has "newfstatat: its size" "st_size=11," "$out"

ctl "call statx" 0 call statx AT_FDCWD "\"$D/file\"" 0 0x7ff @
has "statx: stx_mode" "stx_mode=S_IFREG|0644," "$out"
has "statx: stx_size" "stx_size=11," "$out"

ctl "--json call fstat" 0 --json call fstat "$fd" @
has "--json fstat: st_mode as a number" '"st_mode":33188,' "$out"
has "--json fstat: st_mode by name" '"st_mode_name":"S_IFREG|0644"' "$out"
has "--json fstat: st_size" '"st_size":11,' "$out"

ctl "call --raw fstat" 0 call --raw fstat "$fd" @144
has "--raw: the bytes, as before" "fstat($fd, \"" "$out"
lacks "--raw: no fields" "st_mode" "$out"

ctl "--json call --raw fstat" 0 --json call --raw fstat "$fd" @
lacks "--json --raw: no \"decoded\"" '"decoded"' "$out"

# ---- errors and flags by name ----------------------------------------------

ctl "openat of a missing path" 1 call openat AT_FDCWD "\"$D/missing\"" 0x80000
expect "failed openat: flags and errno by name" \
	"openat(AT_FDCWD, \"$D/missing\", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)" \
	"$out"

ctl "--json openat of a missing path" 1 --json call openat AT_FDCWD \
	"\"$D/missing\"" O_RDONLY
has "--json failed openat: errno" '"errno":"ENOENT"' "$out"

ctl "kill 0 0" 0 call kill "$SPID" 0
expect "kill prints its signal" "kill($SPID, 0) = 0" "$out"

# ---- the server is fine ----------------------------------------------------
ctl "status after decoding" 0 status

shutdown_force
echo "scenario_decode: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
