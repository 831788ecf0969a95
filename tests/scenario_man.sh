#!/bin/sh
# The manual pages: every function tether.h declares has a page once
# installed (make install's symlink to libtether(3), so `man tether_x`
# and `man -l .../man3/tether_x.3` work) and libtether(3) names it;
# every cross-reference NAME(N) in man/ resolves, to a page of man/, a
# function's page, or a page this system has (man -w); mandoc -T lint
# finds nothing at WARNING or worse and man --warnings says nothing.
# Needs $TETHER_MAN3DIR: the man3 directory make installed the pages
# in for this test (Makefile.am, tests/man-inst.stamp).
#
# Prints "scenario_man: N passed, M failed"; exits 1 if M > 0.
SCENARIO=man
: "${TETHERCTL:=unused}" "${TETHERD:=unused}"
. "$(dirname "$0")/scenario_lib.sh"
top=$(cd "$(dirname "$0")/.." && pwd)
: "${TETHER_MAN3DIR:?set TETHER_MAN3DIR to the installed man3 directory}"

funcs=$(sh "$top/tools/tether-funcs" "$top/controller/lib/tether.h")
n=$(printf '%s\n' "$funcs" | wc -l)
if [ "$n" -ge 60 ]; then
	ok "tools/tether-funcs finds tether.h's $n functions"
else
	bad "tools/tether-funcs finds tether.h's functions" "only $n"
fi

# ---- a page for every function ------------------------------------------

missing=
unnamed=
unrendered=
for f in $funcs; do
	page=$TETHER_MAN3DIR/$f.3
	if [ ! -e "$page" ]; then
		missing="$missing $f"
		continue
	fi
	# man -l from anywhere: the page must not depend on the directory
	# it is read from (a .so would)
	if ! (cd / && MANWIDTH=80 man -l "$page" 2>/dev/null) |
		grep -q "$f"; then
		unrendered="$unrendered $f"
	fi
	grep -q "^\.BI* .*[ *]$f(" "$top/man/libtether.3" ||
		unnamed="$unnamed $f"
done
expect "every function of tether.h has an installed page" "" "$missing"
expect "man -l renders each one, naming the function" "" "$unrendered"
expect "libtether(3)'s SYNOPSIS declares every function" "" "$unnamed"
MANPATH=$(dirname "$TETHER_MAN3DIR") man -w tether_connect >"$D/w" 2>&1
has "man tether_connect finds libtether.3" "libtether.3" "$(cat "$D/w")"

# ---- cross-references ----------------------------------------------------

# NAME SECTION per line: .BR name (N) and \fBname\fP(N)
refs() {
	awk '{
		line = $0
		if (match(line, /^\.[BI]R +"?[A-Za-z0-9_.\\-]+"? +\(?[0-9][a-z]*\)/)) {
			s = substr(line, RSTART, RLENGTH)
			sub(/^\.[BI]R +/, "", s); gsub(/"/, "", s)
			split(s, a, / +\(/); sub(/\).*/, "", a[2])
			gsub(/\\-/, "-", a[1]); print a[1], a[2]
		}
		while (match(line, /\\f[BI][A-Za-z0-9_.\\-]+\\f[PR]\([0-9][a-z]*\)/)) {
			s = substr(line, RSTART + 3, RLENGTH - 3)
			line = substr(line, RSTART + RLENGTH)
			sub(/\\f[PR]\(/, " ", s); sub(/\)$/, "", s)
			split(s, a, " "); gsub(/\\-/, "-", a[1]); print a[1], a[2]
		}
	}' "$@" | sort -u
}

refs "$top"/man/*.[1-8] >"$D/refs"
nrefs=$(wc -l <"$D/refs")
if [ "$nrefs" -ge 20 ]; then
	ok "found $nrefs distinct cross-references"
else
	bad "found the cross-references" "only $nrefs"
fi
dangling=
while read -r name sec; do
	[ -f "$top/man/$name.$sec" ] && continue
	[ "$sec" = 3 ] && printf '%s\n' "$funcs" | grep -qx "$name" && continue
	man -w "$sec" "$name" >/dev/null 2>&1 && continue
	dangling="$dangling $name($sec)"
done <"$D/refs"
expect "every cross-reference resolves (man/, a function, this system)" \
	"" "$dangling"
# tetherd(8)'s SEE ALSO in particular: only pages that exist.
see=$(sed -n '/^\.SH SEE ALSO/,/^\.SH/p' "$top/man/tetherd.8" >"$D/see.8" &&
	refs "$D/see.8" | wc -l)
if [ "$see" -ge 3 ]; then
	ok "tetherd(8) SEE ALSO names $see pages, all checked above"
else
	bad "tetherd(8) SEE ALSO" "found $see references"
fi

# ---- lint -----------------------------------------------------------------

if command -v mandoc >/dev/null 2>&1; then
	if mandoc -T lint -W warning "$top"/man/*.[1-8] >"$D/lint" 2>&1; then
		ok "mandoc -T lint: no warnings"
	else
		bad "mandoc -T lint: no warnings" "$(cat "$D/lint")"
	fi
else
	echo "skip mandoc -T lint (apt-get install mandoc)"
fi
warned=
for p in "$top"/man/*.[1-8]; do
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" 2>"$D/warn" >/dev/null
	[ -s "$D/warn" ] && warned="$warned $(basename "$p"): $(head -3 "$D/warn")"
done
expect "man --warnings: nothing on any page" "" "$warned"

echo "scenario_man: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
