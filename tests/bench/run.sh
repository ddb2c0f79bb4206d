#!/bin/sh
# tests/bench/run.sh BUILD [ARGS...]: every benchmark, then their goals.
# Never part of "make check": numbers here are measurements, not tests.
# Each script runs Chapar and its peer (Postfix, Dovecot) interleaved
# when the peer is installed, and Chapar alone when it is not.  ARGS go
# to every script: --pairs N (default 3), --quick (small counts, to check
# the scripts themselves).  Each script is bounded by BENCH_TIMEOUT
# seconds (default 900).
set -u
BUILD=${1:-build/gcc}
[ $# -gt 0 ] && shift
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
limit=${BENCH_TIMEOUT:-900}
out=$(mktemp "${TMPDIR:-/tmp}/chapar-bench-out.XXXXXX") || exit 2
rcf=$(mktemp "${TMPDIR:-/tmp}/chapar-bench-rc.XXXXXX") || exit 2
trap 'rm -f "$out" "$rcf"' EXIT

echo "== the machine: $(nproc) CPUs, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== peers: postfix $(postconf -h mail_version 2>/dev/null || echo 'not installed')," \
	"dovecot $(dovecot --version 2>/dev/null || echo 'not installed')"
echo "== build: $BUILD; arguments: ${*:-(none)}"
status=0
start=$(date +%s)
# the ones that leave few files behind first; each waits for the disk
# after the previous one's deletes (benchlib.pause_disk)
for name in auth chapard pop3 lmtp smtpd qmgr remote; do
	b=tests/bench/bench_$name.py
	t0=$(date +%s)
	echo "== bench_$name"
	{ timeout -k 30 "$limit" "$PY" "$b" --build "$BUILD" "$@"
	  echo $? >"$rcf"; } 2>&1 | tee -a "$out"
	rc=$(cat "$rcf")
	[ "$rc" = 0 ] || status=1
	echo "== bench_$name: $(( $(date +%s) - t0 )) s, exit status $rc"
done
echo "== goals (all benchmarks, $(( $(date +%s) - start )) s in all)"
grep '^goal:' "$out" || echo "(no goal line: see above)"
exit $status
