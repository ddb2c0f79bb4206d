#!/bin/sh
# deps.sh: install the Debian packages Chapar needs, when they are missing.
#
#   sh tools/deps.sh build   what "make" needs
#   sh tools/deps.sh test    that plus what "make check" needs
#   sh tools/deps.sh fuzz    that plus clang-14's libFuzzer
#   sh tools/deps.sh list build|test|fuzz   only print the list
#
# libunbound-dev is linked as -lunbound, without pkg-config: libevent-dev,
# which its .pc file names for static links only, is not needed.
# As root, missing packages are installed with apt-get.  As anyone else,
# the missing ones are listed with the apt-get line to run, and the script
# fails.  On a system without dpkg it says so and lets the build try.
set -u

BUILD_PKGS="gcc make libc6-dev libdb5.3-dev db5.3-util libssl-dev
libcrypt-dev libidn2-dev openssl libunbound-dev"
TEST_PKGS="python3 mandoc procps socat ucspi-tcp postfix swaks
libnet-ssleay-perl python3-dnslib python3-dkim python3-nacl curl fetchmail
msmtp"
FUZZ_PKGS="clang-14 libclang-rt-14-dev llvm-14"

list=0
if [ "${1:-}" = list ]; then
	list=1
	shift
fi
case "${1:-build}" in
build) want="$BUILD_PKGS" ;;
test)  want="$BUILD_PKGS $TEST_PKGS" ;;
fuzz)  want="$BUILD_PKGS $TEST_PKGS $FUZZ_PKGS" ;;
*) echo "usage: $0 [list] build|test|fuzz" >&2; exit 2 ;;
esac
if [ $list = 1 ]; then
	echo $want
	exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: no dpkg here; make sure the equivalents of these" \
	    "Debian packages are installed:" $want >&2
	exit 0
fi

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "Chapar needs these Debian packages:$missing" >&2
	echo "Install them as root with:" >&2
	echo "  apt-get install$missing" >&2
	exit 1
fi

echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Try without a package-list update first (fast, offline-friendly).
if ! apt-get install -y -q --no-install-recommends $missing; then
	apt-get update -q && apt-get install -y -q --no-install-recommends \
	    $missing || exit 1
fi
