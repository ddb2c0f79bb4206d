#!/bin/sh
# tests/fuzz/run.sh BUILDDIR SECONDS: run every libFuzzer target for
# SECONDS each, starting from its seed corpus in tests/fuzz/corpus/NAME
# (copied, so the repository keeps only the hand-made seeds).  A crash,
# leak or timeout is a failure; its input is kept in tests/fuzz/ as
# crash-*/leak-*/timeout-* for reproduction.
set -u
dir=$(cd "${1:?usage: run.sh BUILDDIR SECONDS}" && pwd)
secs=${2:-20}
top=$(cd "$(dirname "$0")/../.." && pwd)
passed=0
failed=0
for f in "$dir"/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f" | sed 's/^fuzz_//')
	work=$(mktemp -d /tmp/chapar-fuzz.XXXXXX)
	if [ -d "$top/tests/fuzz/corpus/$name" ]; then
		cp "$top/tests/fuzz/corpus/$name"/* "$work"/ 2>/dev/null
	fi
	if (cd "$top/tests/fuzz" && "$f" -max_total_time="$secs" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    "$work" >"$work.log" 2>&1); then
		echo "ok - fuzz_$name ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$') runs in ${secs}s)"
		passed=$((passed + 1))
	else
		tail -n 40 "$work.log" | sed 's/^/#   /'
		echo "FAIL - fuzz_$name"
		failed=$((failed + 1))
	fi
	rm -rf "$work" "$work.log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
