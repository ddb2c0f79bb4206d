#!/bin/sh
# tools/run.sh BUILD: "make run".  Creates an instance in ./run (once),
# adds the demo domain and account, and starts what exists today in the
# foreground.  Ctrl-C stops it.
set -u
BUILD=${1:-build/cc}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
bin="$top/$BUILD/bin"
dir="$top/run"
conf="$dir/chapar.conf"
chapar() { "$bin/chapar" -c "$conf" "$@"; }

"$bin/chapar" init "$dir" >/dev/null || exit 1
chapar domain add example.test >/dev/null 2>&1
if ! chapar user show demo@example.test >/dev/null 2>&1; then
	echo demo | chapar user add demo@example.test --name "Demo User" \
	    --password-stdin >/dev/null || exit 1
fi

cat <<EOT

Chapar instance: $dir
  configuration   $conf
  demo account    demo@example.test, password "demo"

Running now: chapard, the supervisor, and under it authd
(authentication and user look-ups) on $dir/run/auth.sock

Try it from another terminal:
  $bin/chapar -c $conf status
  echo demo | $bin/chapar -c $conf auth test demo@example.test --password-stdin
  $bin/chapar -c $conf auth lookup demo+news@example.test
  $bin/chapar -c $conf user list

Not there yet: the SMTP, IMAP, POP3 and FTP services.  They arrive with
the next pieces of work (see README.md); chapard will run them from
[smtpd], [imapd], ... sections of $conf.

Stop with Ctrl-C.
EOT
exec "$bin/chapard" -f -c "$conf"
