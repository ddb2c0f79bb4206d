#!/bin/sh
# tests/run.sh: run every test of "make check" and end with one line,
# "N passed, N failed".  Each part prints "ok - name", "FAIL - name" or
# "skip - name (why)" lines; this script counts them.  A part that dies
# without its own summary counts as a failure.
#
#   BUILD=build/cc sh tests/run.sh [filter]
set -u
BUILD=${BUILD:-build/cc}
FILTER=${1:-}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
log=$(mktemp /tmp/chapar-check.XXXXXX)
trap 'rm -f "$log"' EXIT
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

part() {	# part NAME COMMAND...: run, show, and remember its lines
	name=$1
	shift
	echo "== $name"
	"$@" >"$log.part" 2>&1
	rc=$?
	cat "$log.part"
	cat "$log.part" >>"$log"
	if ! tail -n 1 "$log.part" | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'
	then
		echo "FAIL - $name (exited $rc without a summary)" |
		    tee -a "$log"
	elif [ $rc -ne 0 ] && ! grep -q '^FAIL - ' "$log.part"; then
		echo "FAIL - $name (exited $rc)" | tee -a "$log"
	fi
	rm -f "$log.part"
}

banned() {	# no unsafe string functions anywhere in our C
	pat='\<(strcpy|strcat|sprintf|vsprintf|gets|strtok|alloca|stpcpy)[[:space:]]*\('
	hits=$(grep -nE "$pat" $(find common master smtpd imapd pop3d ftpd \
	    authd filter admin tests -name '*.[ch]') 2>/dev/null)
	if [ -n "$hits" ]; then
		echo "$hits"
		echo "FAIL - no_banned_functions"
		echo "0 passed, 1 failed"
		return 1
	fi
	echo "ok - no_banned_functions"
	echo "1 passed, 0 failed"
}

manlint() {	# mandoc -Tlint on every page: no warnings
	p=0 f=0
	for m in man/*.[1-9]; do
		[ -e "$m" ] || continue
		out=$(mandoc -Tlint -W warning "$m" 2>&1)
		if [ -z "$out" ]; then
			echo "ok - mandoc_lint_$(basename "$m")"
			p=$((p + 1))
		else
			echo "$out"
			echo "FAIL - mandoc_lint_$(basename "$m")"
			f=$((f + 1))
		fi
	done
	# every program's page says what it runs as, touches and talks to
	for m in man/*.[18]; do
		[ -e "$m" ] || continue
		if grep -q '^\.Sh SECURITY$' "$m"; then
			echo "ok - security_section_$(basename "$m")"
			p=$((p + 1))
		else
			echo "FAIL - security_section_$(basename "$m")"
			f=$((f + 1))
		fi
	done
	echo "$p passed, $f failed"
}

if [ -z "$FILTER" ]; then
	part "static checks" banned
	part "man pages" manlint
	part "library layers" sh tools/layers.sh
	part "function length" sh tools/funclen.sh
fi
part "unit tests" "$BUILD/unit-tests" $FILTER
part "integration tests" "$PY" tests/integ/run.py --build "$BUILD" $FILTER

passed=$(grep -c '^ok - ' "$log")
failed=$(grep -c '^FAIL - ' "$log")
skipped=$(grep -c '^skip - ' "$log")
echo
if [ "$failed" -gt 0 ]; then
	echo "failed tests:"
	grep '^FAIL - ' "$log" | sed 's/^/  /'
fi
[ "$skipped" -gt 0 ] && echo "$skipped skipped (not counted as passed)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
