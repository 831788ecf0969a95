#!/bin/sh
# tetherctl dial-stdio (the far end of -H ssh://) against a hostile
# stream, no ssh needed: frames written by hand (tether-protocol(7),
# REMOTE CONNECTIONS) -- garbage, lying lengths, bad channels and
# reserved bytes, a handshake frame while relaying, data after EOF,
# credit never earned, frames cut short.  Each ends dial-stdio with a
# message naming the fault; the server only sees a controller leave.
#
# Prints "scenario_dial: N passed, M failed"; exits 1 if M > 0.
SCENARIO=dial
. "$(dirname "$0")/scenario_lib.sh"
FPID=

scen_cleanup_more() {
	exec 7>&- 2>/dev/null
	[ -n "$FPID" ] && kill -9 "$FPID" 2>/dev/null
}

# Bytes by value: b 1 0 255 ...
b() {
	f=
	for x; do
		f="$f\\$(printf '%03o' "$x")"
	done
	printf "$f"
}

u32() {
	b $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255))
}

# hdr TYPE CHAN LEN [RESERVED]
hdr() {
	b "$1" "$2" 0 "${4:-0}"
	u32 "$3"
}

# open_frame [FLAGS [VERSION]]
open_frame() {
	hdr 1 0 12
	u32 "${2:-1}"
	u32 "${1:-0}"
	u32 4294967295
}

# dial NAME WANT [SOCKET]: dial-stdio with $D/in as its stream; its
# stdout (the stream back) in $D/dout, stderr in $err.
dial() {
	$GUARD "$TETHERCTL" dial-stdio -s "${3:-$S}" <"$D/in" >"$D/dout" \
		2>"$D/derr"
	st=$?
	err=$(cat "$D/derr")
	if [ "$st" -eq "$2" ]; then
		ok "$1"
	else
		bad "$1" "dial-stdio exited $st, expected $2" "stderr: $err"
	fi
}

# Bytes of the answer stream, in decimal: the first N, or N from OFF.
dout_bytes() {
	od -An -tu1 -j "${2:-0}" -N "$1" "$D/dout" | tr -s ' \n' '  ' |
		sed 's/^ //; s/ $//'
}

# err_frame NAME ERRNO: the stream back is one ERROR frame with it.
err_frame() {
	expect "$1: an ERROR frame" "3 0 0 0" "$(dout_bytes 4)"
	expect "$1: errno $2" "0 0 0 $2" "$(dout_bytes 4 8)"
}

detached() {
	"$TETHERCTL" -s "$S" status 2>/dev/null | grep -q 'controller   detached'
}

if ! ctl "start" 0 start; then
	echo "scenario_dial: $pass passed, $((fail + 1)) failed"
	exit 1
fi
SPID=$out

# ---- before the handshake -------------------------------------------------

: >"$D/in"
dial "an empty stream ends it (1)" 1
has "says no OPEN came" "before an OPEN" "$err"

printf 'Welcome to host!\n' >"$D/in"
dial "a login banner instead of frames (1)" 1
has "names the unknown type" "unknown type 87" "$err"

hdr 1 0 12 >"$D/in"
dial "a frame cut short (1)" 1
has "says it ended in a frame" "ended in a frame" "$err"

{ hdr 1 0 12 1; u32 1; u32 0; u32 0; } >"$D/in"
dial "reserved bytes set (1)" 1
has "names the reserved bytes" "reserved" "$err"

{ hdr 4 1 1; b 0; } >"$D/in"
dial "DATA before OPEN (1)" 1
has "names the unexpected frame" "unexpected frame of type 4" "$err"

# a lying length is refused at once, not after waiting for its payload:
# the stream stays open here and dial-stdio must end anyway
mkfifo "$D/fifo"
"$TETHERCTL" dial-stdio -s "$S" <"$D/fifo" >"$D/dout" 2>"$D/derr" &
FPID=$!
exec 7>"$D/fifo"
hdr 1 0 4294967295 >&7
if wait_while 10 alive "$FPID"; then
	ok "a 4 GiB OPEN length ends it before any payload"
else
	bad "a 4 GiB OPEN length ends it before any payload"
fi
wait "$FPID"
expect "... with status 1" 1 "$?"
FPID=
exec 7>&-
has "names the length" "length 4294967295 outside 12..12" "$(cat "$D/derr")"

# ---- OPEN refused: an ERROR frame, then the end ---------------------------

open_frame 0 2 >"$D/in"
dial "an unknown stream version is refused (3)" 3
err_frame "version" 93

open_frame 256 >"$D/in"
dial "unknown connect flags are refused (3)" 3
err_frame "flags" 22

# 0x4 is a connect flag libtether knows (PIPELINE), but not one the
# stream takes: refused the same, not dropped unsaid.
open_frame 4 >"$D/in"
dial "the pipeline flag is refused (3)" 3
err_frame "flags" 22

open_frame >"$D/in"
dial "no tetherd at the socket (3)" 3 "$D/none.sock"
err_frame "no tetherd" 111
has "the frame's text names the socket" "no tetherd at $D/none.sock" \
	"$(tail -c +17 "$D/dout")"

# ---- attached, then broken rules ------------------------------------------

open_frame >"$D/in"
dial "OPEN, then the stream ends: a clean end (0)" 0
expect "ANSWER frame first" "2 0 0 0" "$(dout_bytes 4)"
if wait_until 5 detached; then ok "the server saw it leave"; else
	bad "the server saw it leave"; fi

# broken NAME NEEDLE FRAMES...: OPEN, then the frames; exit 1 naming it
broken() {
	name=$1
	needle=$2
	shift 2
	{ open_frame; "$@"; } >"$D/in"
	dial "$name (1)" 1
	has "$name: says so" "$needle" "$err"
	expect "$name: only the ANSWER went out" "2 0 0 0" "$(dout_bytes 4)"
	if wait_until 5 detached; then ok "$name: the server saw it leave"
	else bad "$name: the server saw it leave"; fi
}

f_big() { hdr 4 1 65537; }
f_chan0() { hdr 4 0 1; b 0; }
f_chan3() { hdr 4 3 1; b 0; }
f_open() { open_frame; }
f_eof2() { hdr 5 2 0; hdr 5 2 0; }
f_after() { hdr 5 1 0; hdr 4 1 1; b 0; }
f_credit() { hdr 6 2 4; u32 1; }
f_credit_big() { hdr 6 1 4; u32 4294967295; }
f_cut() { hdr 4 1 100; b 1 2 3; }
f_reserved() { hdr 5 1 0 7; }
f_empty() { hdr 4 2 0; }
f_eoflen() { hdr 5 1 4; u32 0; }

# 2.5 MB on the data socket without waiting for credit: more than the
# window plus what the (idle) socket can hold
f_flood() {
	i=0
	while [ "$i" -lt 40 ]; do
		hdr 4 2 65536
		head -c 65536 /dev/zero
		i=$((i + 1))
	done
}
broken "DATA beyond the window" "DATA beyond the window" f_flood
broken "DATA longer than a frame may be" "length 65537 outside" f_big
broken "DATA on the control channel" "type 4 on channel 0" f_chan0
broken "DATA on channel 3" "type 4 on channel 3" f_chan3
broken "a second OPEN" "handshake frame while relaying" f_open
broken "a second EOF" "second EOF" f_eof2
broken "DATA after EOF" "DATA after EOF" f_after
broken "CREDIT never earned" "CREDIT for more than was sent" f_credit
broken "CREDIT of 4 GiB" "CREDIT for more than was sent" f_credit_big
broken "empty DATA" "length 0 outside 1..65536" f_empty
broken "EOF with a payload" "length 4 outside 0..0" f_eoflen
broken "reserved bytes while relaying" "reserved" f_reserved
# a frame cut short by the stream's end is a peer gone, not a fault
{ open_frame; f_cut; } >"$D/in"
dial "a DATA frame cut short by EOF: the peer left (0)" 0

# ---- the server is untouched ------------------------------------------------

ctl "status after all that" 0 status
has "still our server" "pid          $SPID" "$out"
has "nobody attached" "controller   detached" "$out"
if pgrep -f "dial-stdio -s $S" >/dev/null 2>&1; then
	bad "no dial-stdio left" "$(pgrep -af dial-stdio)"
else
	ok "no dial-stdio left"
fi
shutdown_force

echo "scenario_dial: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
