#!/bin/sh
# The Python client (python/tether) against real tetherds: its pytest
# suites in python/tests, run by Debian's /usr/bin/python3 (the one with
# python3-msgpack and python3-pytest; a python3 earlier on PATH may lack
# them).  Each test starts its own tetherd ($TETHERD) in a private
# directory, kills Python controllers with SIGKILL mid-request and
# recovers from new processes.  Skipped (77) when a package is missing.
: "${TETHERD:?set TETHERD to the tetherd binary}"
PY=${TETHER_PYTHON:-/usr/bin/python3}
TOP=$(cd "$(dirname "$0")/.." && pwd)

if ! [ -x "$PY" ]; then
	echo "scenario_python: SKIP: no $PY (apt-get install python3)"
	exit 77
fi
for mod in msgpack pytest; do
	if ! "$PY" -c "import $mod" 2>/dev/null; then
		echo "scenario_python: SKIP: $PY cannot import $mod" \
			"(apt-get install python3-$mod)"
		exit 77
	fi
done
"$PY" -c 'import xxhash' 2>/dev/null ||
	echo "scenario_python: no python3-xxhash: transfers checked by size only"

# Nothing written into the source tree (make distcheck's is read-only).
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$TOP/python"
exec "$PY" -m pytest -q -p no:cacheprovider "$TOP/python/tests"
