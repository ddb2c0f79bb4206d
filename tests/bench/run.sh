#!/bin/sh
# tests/bench/run.sh BUILD: every benchmark.  Never part of "make check":
# numbers here are measurements, not pass/fail tests.  Peers (Dovecot) are
# compared side by side when they are installed.
set -u
BUILD=${1:-build/cc}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
status=0
for b in tests/bench/bench_*.py; do
	echo "== $(basename "$b" .py)"
	"$PY" "$b" --build "$BUILD" || status=1
done
exit $status
