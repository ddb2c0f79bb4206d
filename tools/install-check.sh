#!/bin/sh
# install-check.sh: "make install" as a packager runs it, checked.
#
#   sh tools/install-check.sh [make arguments, e.g. CC=gcc]
#
# Builds (or keeps) the tree with the default paths, then installs into a
# scratch DESTDIR with PREFIX=/usr SYSCONFDIR=/etc LOCALSTATEDIR=/var/lib,
# so that the paths change between "make" and "make install" as they do
# in a package build, and checks:
#   - every file INSTALL lists is there, with its mode, and nothing else;
#   - INSTALL lists every program of the Makefile's PROGS (but the echod
#     fixture) and every page in man/;
#   - the installed programs carry the install's paths, not the build's;
#   - nothing was given a group or a set-id bit of the build host;
#   - INSTALL's Debian package list is tools/deps.sh's.
# Prints "ok"/"FAIL" lines and "N passed, N failed".  The build tree is
# put back to the default paths at the end.
set -u
cd "$(dirname "$0")/.." || exit 2
pass=0 fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "FAIL - $1"; fail=$((fail + 1)); }

PREFIX=/usr SYSCONFDIR=/etc LOCALSTATEDIR=/var/lib
paths="PREFIX=$PREFIX SYSCONFDIR=$SYSCONFDIR LOCALSTATEDIR=$LOCALSTATEDIR"
dest=$(mktemp -d /tmp/chapar-install.XXXXXX) || exit 2
list=$(mktemp /tmp/chapar-install-list.XXXXXX) || exit 2
trap 'rm -rf "$dest" "$list" "$list".*' EXIT
mk() { make --no-print-directory -s "$@"; }
var() { mk "$@" $paths print-"$v"; }

if mk "$@" all >"$list.out" 2>&1 && make --no-print-directory "$@" \
    $paths DESTDIR="$dest" install >>"$list.out" 2>&1; then
	ok "make_then_make_install_with_other_paths"
else
	cat "$list.out"
	bad "make_then_make_install_with_other_paths"
	echo "$pass passed, $fail failed"
	exit 1
fi
for v in SBINDIR LIBEXECDIR MANDIR SYSCONFDIR PROGS; do
	eval "$v=\$(var \"\$@\")"
done

# What make install tells a packager to do by hand.
if grep -q "chgrp chapar $SBINDIR/sendmail" "$list.out" &&
    grep -q "chmod 2755 $SBINDIR/sendmail" "$list.out"; then
	ok "install_prints_the_post_install_steps"
else
	cat "$list.out"
	bad "install_prints_the_post_install_steps"
fi

# INSTALL's list: "    $(VAR)/path    what it is", expanded.
sed -n 's/^    \$(\([A-Z]*\))\(\/[^ ]*\).*/\1 \2/p' INSTALL |
while read -r v rest; do
	eval "echo \"\$$v$rest\""
done | sed 's:/$::' >"$list"
[ -s "$list" ] || bad "INSTALL_lists_the_installed_files"

missing=""
while read -r f; do
	p="$dest$f"
	case $f in
	*/mailq)
		[ -L "$p" ] && [ "$(readlink "$p")" = sendmail ] ||
		    missing="$missing $f" ;;
	"$SYSCONFDIR"/chapar)
		[ -d "$p" ] || missing="$missing $f" ;;
	"$MANDIR"/*)
		[ -f "$p" ] && [ "$(stat -c %a "$p")" = 644 ] ||
		    missing="$missing $f" ;;
	*)
		[ -f "$p" ] && [ "$(stat -c %a "$p")" = 755 ] ||
		    missing="$missing $f" ;;
	esac
done <"$list"
if [ -z "$missing" ]; then
	ok "every_file_INSTALL_lists_is_installed"
else
	echo "#   missing or wrong mode:$missing"
	bad "every_file_INSTALL_lists_is_installed"
fi

extra=""
for p in $(find "$dest" \( -type f -o -type l \) | sort); do
	f=${p#"$dest"}
	grep -qx "$f" "$list" || extra="$extra $f"
done
if [ -z "$extra" ]; then
	ok "nothing_installed_that_INSTALL_does_not_list"
else
	echo "#   not in INSTALL:$extra"
	bad "nothing_installed_that_INSTALL_does_not_list"
fi

unlisted=""
for prog in $PROGS; do
	[ "$prog" = echod ] && continue
	grep -qE "^($SBINDIR|$LIBEXECDIR)/$prog\$" "$list" ||
	    unlisted="$unlisted $prog"
done
for m in man/*.[1-9]; do
	n=${m#man/}
	grep -qx "$MANDIR/man${n##*.}/$n" "$list" || unlisted="$unlisted $m"
done
if [ -z "$unlisted" ]; then
	ok "INSTALL_lists_every_program_and_page"
else
	echo "#   not in INSTALL:$unlisted"
	bad "INSTALL_lists_every_program_and_page"
fi

# The paths of the install, not of the first "make".
conf="$SYSCONFDIR/chapar/chapar.conf"
h=$(env -u CHAPAR_CONF "$dest$SBINDIR/chapard" -h 2>&1)
if echo "$h" | grep -q "default configuration: $conf\$" &&
    echo "$h" | grep -q "programs: $LIBEXECDIR "; then
	ok "installed_chapard_reads_$(echo "$conf" | tr / _)"
else
	echo "$h" | sed 's/^/#   /'
	bad "installed_chapard_reads_$(echo "$conf" | tr / _)"
fi
wrong=""
for b in "$SBINDIR/chapar" "$SBINDIR/sendmail" "$LIBEXECDIR/authd"; do
	grep -aq "$conf" "$dest$b" || wrong="$wrong $b"
	grep -aq "/usr/local/etc/chapar" "$dest$b" && wrong="$wrong $b(old)"
done
grep -aq "$LOCALSTATEDIR/chapar" "$dest$SBINDIR/chapar" ||
    wrong="$wrong $SBINDIR/chapar(data_dir)"
if [ -z "$wrong" ]; then
	ok "installed_programs_carry_the_install_paths"
else
	echo "#   wrong paths in:$wrong"
	bad "installed_programs_carry_the_install_paths"
fi

# No group, owner or set-id bit from the build host.
odd=$(find "$dest" \( ! -user "$(id -u)" -o ! -group "$(id -g)" -o \
    -perm /6000 \) -print)
if [ -z "$odd" ]; then
	ok "no_build_host_group_or_setid_in_DESTDIR"
else
	ls -ld $odd | sed 's/^/#   /'
	bad "no_build_host_group_or_setid_in_DESTDIR"
fi

want=$(sh tools/deps.sh list build)
have=$(sed -n '/^1\. Build dependencies/,/^2\. /p' INSTALL |
    sed -n '/^    gcc /,/^$/p' | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
if [ "$want" = "$have" ]; then
	ok "INSTALL_lists_the_Debian_packages_of_deps_sh"
else
	echo "#   deps.sh: $want"
	echo "#   INSTALL: $have"
	bad "INSTALL_lists_the_Debian_packages_of_deps_sh"
fi

# Back to the build's own paths (this rebuilds the few files using them).
mk "$@" all >/dev/null 2>&1 || bad "rebuild_with_default_paths"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
