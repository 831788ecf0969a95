#!/bin/sh
# Sanitizer builds: fail if any process of the run (a test, tetherd,
# tetherctl) wrote an ASan/LSan/UBSan report.  Criterion passes a test
# whose worker leaked, and a daemon's report reaches nobody otherwise.
set -u
n=$(find "${SAN_LOG_DIR:?}" -type f 2>/dev/null | wc -l)
if [ "$n" -gt 0 ]; then
	for f in "$SAN_LOG_DIR"/*; do
		echo "==== $f"
		head -60 "$f"
	done
	echo "sanitizers: $n report(s)"
	exit 1
fi
echo "sanitizers: no reports"
