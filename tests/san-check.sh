#!/bin/sh
# Sanitizer builds: fail if any process of the run (a test, tetherd,
# tetherctl) wrote an ASan/LSan/UBSan report.  Criterion passes a test
# whose worker leaked, and a daemon's report reaches nobody otherwise.
#
# One line is not a report: "==PID==Unable to get registers from thread
# TID.", which LeakSanitizer's stop-the-world prints when a thread it
# suspends is on its way out, and then goes on with the check (a log of
# nothing else means no leak was found).  Upstream made it a verbose-only
# message (llvm-project pull request 116555); GCC 12's runtime still
# prints it, rarely (once in a full ASan run of this suite).
set -u
n=0
for f in "$SAN_LOG_DIR"/*; do
	[ -f "$f" ] || continue
	if ! grep -qv '^==[0-9]*==Unable to get registers from thread [0-9]*\.$' "$f"; then
		echo "sanitizers: $f: only LeakSanitizer's \"Unable to get registers\" line, not a report"
		continue
	fi
	echo "==== $f"
	head -60 "$f"
	n=$((n + 1))
done
if [ "$n" -gt 0 ]; then
	echo "sanitizers: $n report(s)"
	exit 1
fi
echo "sanitizers: no reports"
