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
# delivery by LMTP, on a UNIX socket and an unprivileged port
if ! grep -q '^\[lmtp\]' "$conf"; then
	cat >>"$conf" <<EOC

[lmtp]
listen = $dir/run/lmtp.sock, 127.0.0.1:2424
prefork = 1
EOC
fi

# SMTP: MX, submission with STARTTLS and with implicit TLS (unprivileged
# ports; the mail waits in the queue until the queue manager arrives)
if ! grep -q '^\[smtpd\]' "$conf"; then
	cat >>"$conf" <<EOC

[smtpd]
listen = 127.0.0.1:2525
prefork = 2

[submission]
listen = 127.0.0.1:5587
prefork = 1
smtpd_auth_required = yes

[smtps]
listen_tls = 127.0.0.1:4465
prefork = 1
smtpd_auth_required = yes
EOC
	"$bin/chapar" init "$dir" >/dev/null || exit 1	# their accounts
fi

# POP3 with STLS, and with implicit TLS
if ! grep -q '^\[pop3\]' "$conf"; then
	cat >>"$conf" <<EOC

[pop3]
listen = 127.0.0.1:1110
prefork = 1

[pop3s]
listen_tls = 127.0.0.1:1995
prefork = 1
EOC
	"$bin/chapar" init "$dir" >/dev/null || exit 1	# their accounts
fi

cat <<EOT

Chapar instance: $dir
  configuration   $conf
  demo account    demo@example.test, password "demo"

Running now: chapard, the supervisor, and under it authd
(authentication and user look-ups) on $dir/run/auth.sock, local
(delivery by LMTP) on $dir/run/lmtp.sock and 127.0.0.1:2424, enqueue
(the queue's writer), qmgr (the queue manager) and smtpd: MX on 127.0.0.1:2525, submission
(STARTTLS, AUTH required) on 127.0.0.1:5587 and implicit TLS on
127.0.0.1:4465; pop3d: POP3 on 127.0.0.1:1110 (STLS) and 127.0.0.1:1995
(implicit TLS)

Try it from another terminal:
  $bin/chapar -c $conf status
  echo demo | $bin/chapar -c $conf auth test demo@example.test --password-stdin
  $bin/chapar -c $conf auth lookup demo+news@example.test
  $bin/chapar -c $conf user list
  printf 'Subject: hello\\n\\nHi.\\n' |
      $bin/local -c $conf -d demo@example.test -f me@example.test
  python3 -c 'import smtplib; smtplib.LMTP("127.0.0.1", 2424).sendmail(
      "me@example.test", ["demo@example.test"], "Subject: hi\\n\\nHi.\\n")'
  $bin/chapar -c $conf mailbox list demo@example.test
  ls $dir/mail/example.test/demo/cur
  swaks --server 127.0.0.1:2525 --to demo@example.test
  curl -k --ssl-reqd --user 'demo@example.test:demo' pop3://127.0.0.1:1110/
  swaks --server 127.0.0.1:5587 -tls --auth PLAIN \\
      --auth-user demo@example.test --auth-password demo \\
      --from demo@example.test --to someone@example.net
  ls $dir/mail/example.test/demo/cur

qmgr delivers what is queued for example.test to the demo mailbox, and
remote sends mail for other domains to their MX.
Not there yet: IMAP and FTP.  They arrive with the next pieces of work
(see README.md); chapard will run them from sections of $conf, as it
runs [smtpd], [lmtp] and [pop3].

Stop with Ctrl-C.
EOT
exec "$bin/chapard" -f -c "$conf"
