#!/bin/sh
# funclen.sh: no function of ours longer than 150 lines (STYLE.md).
# Functions are found the KNF way: a line that starts a name and "(" in
# column 0 after a type line, its body from "{" to "}" both in column 0.
# Prints "ok"/"FAIL" and "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2
MAX=${MAX:-150}
bad=$(find common master smtpd pop3d imapd ftpd authd filter admin \
    -name '*.c' 2>/dev/null | sort | xargs awk -v max="$MAX" '
	FNR == 1 { name = ""; start = 0 }
	/^[A-Za-z_][A-Za-z0-9_]*\(/ { name = $0; sub(/\(.*/, "", name) }
	/^\{/ { start = FNR }
	/^\}/ && start > 0 {
		if (FNR - start - 1 > max)
			printf "  %s:%d: %s is %d lines\n", FILENAME, start,
			    name, FNR - start - 1
		start = 0
	}')
if [ -n "$bad" ]; then
	echo "$bad"
	echo "FAIL - functions_at_most_${MAX}_lines"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "ok - functions_at_most_${MAX}_lines"
echo "1 passed, 0 failed"
