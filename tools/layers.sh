#!/bin/sh
# layers.sh: hold common/'s libraries to their layers.
#
# Each library is a directory common/LIB with its public headers in
# common/LIB/chapar/.  The Makefile's LAYERS_LIB line lists the libraries
# LIB may use; this script fails when a file of LIB includes a public
# header of any other library (a lower library never includes a higher
# one, and libraries of one layer stay apart), or a private header ("x.h")
# of another directory.  Prints "ok"/"FAIL" lines and "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2

pass=0 fail=0
libs=$(sed -n 's/^LIBDIRS *= *//p' Makefile)
[ -n "$libs" ] || { echo "FAIL - layers (no LIBDIRS in Makefile)"; echo "0 passed, 1 failed"; exit 1; }

# header name -> library
owner() {
	for l in $libs; do
		if [ -f "common/$l/chapar/$1" ]; then
			echo "$l"
			return
		fi
	done
}

for lib in $libs; do
	allowed="$lib $(sed -n "s/^LAYERS_$lib *= *//p" Makefile)"
	bad=""
	for f in common/"$lib"/*.c common/"$lib"/*.h common/"$lib"/chapar/*.h; do
		[ -f "$f" ] || continue
		for inc in $(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
			case $inc in
			chapar/*)
				o=$(owner "${inc#chapar/}")
				if [ -z "$o" ]; then
					bad="$bad\n  $f: $inc is no library's header"
					continue
				fi
				case " $allowed " in
				*" $o "*) ;;
				*) bad="$bad\n  $f: includes $inc of $o (allowed: $allowed)" ;;
				esac
				;;
			*)
				[ -f "common/$lib/$inc" ] ||
				    bad="$bad\n  $f: private header $inc is not in common/$lib"
				;;
			esac
		done
	done
	if [ -z "$bad" ]; then
		echo "ok - layers_$lib"
		pass=$((pass + 1))
	else
		printf '%b\n' "$bad" | sed '/^$/d'
		echo "FAIL - layers_$lib"
		fail=$((fail + 1))
	fi
done

# No library may be left out of the stack.
for d in common/*/; do
	d=${d%/}
	case " $libs " in
	*" ${d#common/} "*) ;;
	*) echo "FAIL - layers_listed (${d#common/} is not in LIBDIRS)"
	   fail=$((fail + 1)) ;;
	esac
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
