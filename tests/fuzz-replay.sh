#!/bin/sh
# The server fuzz target's seeds and the inputs of every bug it found,
# replayed in process (tests/fuzz/replay.c): a bug that comes back fails
# here, without clang or libFuzzer.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${srcdir:-$here/..}
case $src in /*) ;; *) src=$(pwd)/$src ;; esac
replay=${REPLAY_SERVER:-./tests/fuzz/replay-server}
exec "$replay" "$src/tests/fuzz/corpus-server" "$src/tests/fuzz/crashes"
