/*
 * config_keys.c: every chapar.conf key, its type, default and bounds.
 *
 * This table is the single source of defaults: the parser, "chapar config
 * show" and chapar.conf(5) all follow it.  Keep it sorted by topic and keep
 * man/chapar.conf.5 in step.
 */
#include <stdint.h>

#include "chapar/config.h"
#include "chapar/paths.h"

#define KB 1024ULL
#define MB (1024ULL * KB)
#define GB (1024ULL * MB)
#define TB (1024ULL * GB)
#define DAY 86400ULL

const struct cfg_key cfg_keys[] = {
	/* identity and layout */
	{ "hostname", CFG_STR, "", 0, 0, 0,
	    "this host's name; empty: the system's host name", NULL },
	{ "data_dir", CFG_PATH, CHAPAR_LOCALSTATEDIR, 0, 0, 0,
	    "top of the instance's data", NULL },
	{ "db_dir", CFG_PATH, "${data_dir}/db", 0, 0, 0,
	    "Berkeley DB environment of the user database", NULL },
	{ "mail_dir", CFG_PATH, "${data_dir}/mail", 0, 0, 0,
	    "top of the mail store: mail_dir/DOMAIN/USER", NULL },
	{ "run_dir", CFG_PATH, "${data_dir}/run", 0, 0, 0,
	    "sockets", NULL },
	{ "queue_dir", CFG_PATH, "${data_dir}/queue", 0, 0, 0,
	    "the mail queue (chapar-queue(5))", NULL },
	{ "tls_cert_file", CFG_PATH, "${config_dir}/tls/cert.pem", 0, 0,
	    CFG_SERVICE, "PEM certificate chain", NULL },
	{ "tls_key_file", CFG_PATH, "${config_dir}/tls/key.pem", 0, 0,
	    CFG_SERVICE, "PEM private key", NULL },
	{ "tls_sni_dir", CFG_STR, "", 0, 0, CFG_SERVICE | CFG_ABSPATH,
	    "per-domain certificates NAME.crt + NAME.key chosen by SNI; "
	    "empty: none", NULL },
	{ "tls_min_version", CFG_STR, "TLSv1.2", 0, 0, CFG_SERVICE,
	    "oldest TLS version accepted", "TLSv1.2 TLSv1.3" },
	{ "tls_ciphers", CFG_STR, "", 0, 0, CFG_SERVICE,
	    "TLS 1.2 cipher list (OpenSSL syntax); empty: a modern default",
	    NULL },
	{ "tls_ciphersuites", CFG_STR, "", 0, 0, CFG_SERVICE,
	    "TLS 1.3 cipher suites; empty: OpenSSL's default", NULL },
	{ "tls_groups", CFG_STR, "X25519:P-256", 0, 0, CFG_SERVICE,
	    "key-exchange groups, most preferred first", NULL },
	{ "tls_ocsp_file", CFG_STR, "", 0, 0, CFG_SERVICE | CFG_ABSPATH,
	    "DER OCSP response stapled for the default certificate; empty: "
	    "none", NULL },

	/* chapard: services and their pools ([service] sections) */
	{ "program", CFG_STR, "", 0, 0,
	    CFG_SERVICE | CFG_SECTION | CFG_ABSPATH,
	    "the service's program; required for a service of your own",
	    NULL },
	{ "listen", CFG_LIST, "", 0, 0, CFG_SERVICE | CFG_SECTION,
	    "addresses to listen on: host:port, [ipv6]:port or *:port", NULL },
	{ "listen_tls", CFG_LIST, "", 0, 0, CFG_SERVICE | CFG_SECTION,
	    "addresses whose connections start with TLS (implicit TLS)",
	    NULL },
	{ "listen_backlog", CFG_INT, "0", 0, 65535, CFG_SERVICE,
	    "listen(2) backlog (0: SOMAXCONN)", NULL },
	{ "prefork", CFG_INT, "1", 0, 10000, CFG_SERVICE,
	    "idle workers kept ready", NULL },
	{ "max_procs", CFG_INT, "100", 1, 100000, CFG_SERVICE,
	    "most workers of the service at once", NULL },
	{ "max_use", CFG_INT, "100", 1, 1000000, CFG_SERVICE,
	    "connections a worker serves before it exits", NULL },
	{ "idle_timeout", CFG_DURATION, "60s", 1, DAY, CFG_SERVICE,
	    "an idle worker beyond prefork exits after this long", NULL },
	{ "service_user", CFG_STR, "", 0, 0, CFG_SERVICE,
	    "account the service's workers run as; empty: chapar-SERVICE",
	    NULL },
	{ "chroot_dir", CFG_STR, "${run_dir}/empty", 0, 0, CFG_SERVICE | CFG_ABSPATH,
	    "directory workers chroot into before serving; empty: none", NULL },
	{ "client_conn_limit", CFG_INT, "20", 0, 100000, CFG_SERVICE,
	    "connections one client address may have at once (0: no limit)",
	    NULL },
	{ "client_rate_limit", CFG_INT, "300", 0, 1000000, CFG_SERVICE,
	    "connections one client address may open a minute (0: no limit)",
	    NULL },
	{ "client_limit_exceptions", CFG_LIST, "", 0, 0, CFG_SERVICE,
	    "networks the two limits above do not apply to", NULL },
	{ "process_memory_limit", CFG_SIZE, "512M", 0, 1024 * GB,
	    CFG_SERVICE, "address-space limit of a worker (0: none)", NULL },
	{ "process_fd_limit", CFG_INT, "1024", 16, 1048576, CFG_SERVICE,
	    "descriptors a worker may have open", NULL },
	{ "max_sessions", CFG_INT, "5000", 1, 1000000, CFG_SERVICE,
	    "post-login sessions of the service at once", NULL },
	{ "front", CFG_BOOL, "no", 0, 0, CFG_SERVICE | CFG_SECTION,
	    "an SMTP service with plaintext listeners only: smtpfront(8) "
	    "holds its clients until they send a first command, and only "
	    "then hands them to a worker", NULL },
	{ "front_program", CFG_STR, "", 0, 0,
	    CFG_SERVICE | CFG_SECTION | CFG_ABSPATH,
	    "the front's program; empty: smtpfront", NULL },
	{ "front_max_connections", CFG_INT, "10000", 1, 1000000,
	    CFG_SERVICE, "clients the front holds at once (then 421 4.7.0)",
	    NULL },
	{ "front_client_limit", CFG_INT, "50", 0, 1000000, CFG_SERVICE,
	    "clients of one address the front holds at once (then 421 "
	    "4.7.0; 0: no limit)", NULL },
	{ "health_check_interval", CFG_DURATION, "10s", 0, 3600, 0,
	    "how often chapard checks that authd answers, and how long it "
	    "waits (0: never)", NULL },
	{ "shutdown_grace", CFG_DURATION, "30s", 0, 3600, 0,
	    "on stop, how long busy sessions may take to finish", NULL },
	{ "status_socket", CFG_PATH, "${run_dir}/chapard.sock", 0, 0, 0,
	    "control socket of chapard (chapar status, reload, stop)", NULL },
	{ "pid_file", CFG_PATH, "${run_dir}/chapard.pid", 0, 0, 0,
	    "chapard's pid file, locked while it runs", NULL },

	/* logging */
	{ "log_facility", CFG_STR, "mail", 0, 0, 0, "syslog facility",
	    "mail daemon local0 local1 local2 local3 local4 local5 local6 "
	    "local7" },
	{ "log_level", CFG_STR, "info", 0, 0, CFG_SERVICE,
	    "least important messages logged", "debug info warning error" },

	/* users and mailboxes */
	{ "default_quota", CFG_SIZE, "2G", 0, 1024 * TB, 0,
	    "quota of a new user (0: unlimited)", NULL },
	{ "recipient_delimiter", CFG_STR, "+", 0, 0, 0,
	    "characters that start an address extension (user+tag); empty: "
	    "none", NULL },
	{ "user_delete_grace", CFG_DURATION, "30d", 0, 3650 * DAY, 0,
	    "how long a deleted user's mail is kept for restore", NULL },
	{ "quota_messages", CFG_INT, "0", 0, 1000000000, 0,
	    "most messages a user may keep (0: no limit)", NULL },
	{ "quota_full_tempfail", CFG_BOOL, "yes", 0, 0, 0,
	    "a delivery to a full mailbox fails temporarily (4.2.2) rather "
	    "than permanently (5.2.2)", NULL },
	{ "quota_full_remember", CFG_DURATION, "10m", 0, DAY, 0,
	    "how long smtpd refuses mail at RCPT (4.2.2 or 5.2.2, as "
	    "quota_full_tempfail says) for a mailbox the delivery agent "
	    "found full; 0: never at RCPT", NULL },
	{ "quota_warnings", CFG_LIST, "80 95", 0, 0, 0,
	    "usage percentages at which a user is told once that the mailbox "
	    "is filling up", NULL },
	{ "message_size_limit", CFG_SIZE, "25M", 0, 4 * GB, 0,
	    "largest message accepted (0: no limit)", NULL },
	/* smtpd */
	{ "relay_networks", CFG_LIST, "127.0.0.0/8 ::1", 0, 0, CFG_SERVICE,
	    "clients that may relay without authenticating", NULL },
	{ "smtpd_auth_required", CFG_BOOL, "no", 0, 0, CFG_SERVICE,
	    "MAIL only after AUTH, from the user's own addresses "
	    "(submission)", NULL },
	{ "smtpd_max_recipients", CFG_INT, "1000", 1, 100000, CFG_SERVICE,
	    "recipients of one message (then 452 4.5.3)", NULL },
	{ "smtpd_max_errors", CFG_INT, "10", 1, 10000, CFG_SERVICE,
	    "error replies before the session is closed", NULL },
	{ "smtpd_max_commands", CFG_INT, "10000", 1, 10000000, CFG_SERVICE,
	    "commands in one session", NULL },
	{ "smtpd_max_received", CFG_INT, "100", 1, 10000, CFG_SERVICE,
	    "Received fields a message may have (a loop: 554 5.4.0)", NULL },
	{ "smtpd_max_header", CFG_SIZE, "1M", 1024, 64 * MB, CFG_SERVICE,
	    "size of a message's header", NULL },
	{ "smtpd_bare_newline", CFG_STR, "reject", 0, 0, CFG_SERVICE,
	    "a bare CR or LF in DATA: refuse the message, or make it CRLF",
	    "reject normalize" },
	{ "smtpd_greet_pause", CFG_DURATION, "0s", 0, 60, CFG_SERVICE,
	    "wait this long before the greeting; a client that talks "
	    "meanwhile is refused", NULL },
	{ "smtpd_timeout", CFG_DURATION, "5m", 1, 3600, CFG_SERVICE,
	    "the time a client has for a whole command line, and for each "
	    "wait during DATA and BDAT (RFC 5321 4.5.3.2)", NULL },
	{ "smtpd_min_data_rate", CFG_INT, "500", 0, 1000000000, CFG_SERVICE,
	    "bytes a second a client must keep up in DATA and BDAT: each "
	    "byte received gives it 1/rate seconds more beyond "
	    "smtpd_timeout (0: no minimum)", NULL },
	{ "smtpd_futurerelease_max", CFG_DURATION, "7d", 0, 365 * DAY,
	    CFG_SERVICE, "FUTURERELEASE (RFC 4865) on services with "
	    "smtpd_auth_required: the longest hold; 0: not offered", NULL },
	{ "smtpd_sender_grants", CFG_LIST, "", 0, 0, CFG_SERVICE,
	    "LOGIN:ADDRESS, LOGIN:*@DOMAIN or LOGIN:*: addresses a "
	    "submission user may send as besides its own and its aliases",
	    NULL },
	{ "smtpd_policy_filters", CFG_LIST, "", 0, 0, CFG_SERVICE,
	    "UNIX sockets of filters asked about each recipient "
	    "(chapar-filter(7))", NULL },
	{ "smtpd_content_filters", CFG_LIST, "", 0, 0, CFG_SERVICE,
	    "UNIX sockets of filters that judge each message before it is "
	    "queued (chapar-filter(7))", NULL },
	{ "smtpd_filter_timeout", CFG_DURATION, "30s", 1, 3600, CFG_SERVICE,
	    "longest wait for a filter's verdict", NULL },
	{ "smtpd_filter_unavailable", CFG_STR, "tempfail", 0, 0, CFG_SERVICE,
	    "mail when a filter is down: wait (4xx) or pass it by",
	    "tempfail accept" },
	/* pop3d */
	{ "pop3_timeout", CFG_DURATION, "10m", 30, 3600, CFG_SERVICE,
	    "idle time before a POP3 session is ended (RFC 1939 3: at least "
	    "10 minutes)", NULL },
	{ "pop3_login_delay", CFG_DURATION, "0s", 0, DAY, CFG_SERVICE,
	    "the least time between two POP3 logins of a user (RFC 2449 "
	    "LOGIN-DELAY); 0: none", NULL },
	{ "pop3_retr_seen", CFG_BOOL, "yes", 0, 0, CFG_SERVICE,
	    "a message retrieved with RETR gets \\Seen (at QUIT)", NULL },
	{ "pop3_delete", CFG_STR, "expunge", 0, 0, CFG_SERVICE,
	    "what DELE does at QUIT: remove the message, or move it to the "
	    "Trash folder", "expunge trash" },
	{ "queue_delivery", CFG_BOOL, "yes", 0, 0, 0,
	    "run the queue manager; no: messages wait in the queue", NULL },
	{ "qmgr_lmtp", CFG_STR, "${run_dir}/lmtp.sock", 0, 0, 0,
	    "where the queue manager reaches local(8): a UNIX socket path or "
	    "host:port", NULL },
	{ "local_process_limit", CFG_INT, "10", 1, 1000, 0,
	    "deliveries into local mailboxes at once (connections from the "
	    "queue manager to the LMTP agent)", NULL },
	{ "queue_retry_min", CFG_DURATION, "5m", 1, DAY, 0,
	    "first wait before a deferred message is tried again (then "
	    "doubling)", NULL },
	{ "queue_retry_max", CFG_DURATION, "1h", 1, DAY, 0,
	    "longest wait between two tries", NULL },
	{ "queue_lifetime", CFG_DURATION, "5d", 1, 100 * DAY, 0,
	    "how long a message may wait before what is left of it "
	    "returns to the sender", NULL },
	{ "remote_socket", CFG_PATH, "${run_dir}/remote.sock", 0, 0, 0,
	    "where remote(8) takes jobs from the queue manager", NULL },
	{ "remote_smtp_port", CFG_INT, "25", 1, 65535, 0,
	    "the port of mail exchangers (RFC 5321 4.5.4.2: 25)", NULL },
	{ "remote_connect_timeout", CFG_DURATION, "30s", 1, 600, 0,
	    "how long to wait for a mail exchanger to take the connection",
	    NULL },
	{ "remote_command_timeout", CFG_DURATION, "5m", 1, 3600, 0,
	    "each wait for a mail exchanger's reply (RFC 5321 4.5.3.2)",
	    NULL },
	{ "remote_data_timeout", CFG_DURATION, "10m", 1, 3600, 0,
	    "the wait for the reply to the end of a message (RFC 5321 "
	    "4.5.3.2.6)", NULL },
	{ "remote_connection_cache_time", CFG_DURATION, "2s", 0, 300, 0,
	    "how long an idle connection waits for the next message to the "
	    "same destination; 0: a connection per message", NULL },
	{ "remote_connection_reuse_time", CFG_DURATION, "300s", 1, DAY, 0,
	    "the longest a connection is used for one message after "
	    "another", NULL },
	{ "remote_process_limit", CFG_INT, "50", 1, 1000, 0,
	    "deliveries to other servers at once (remote(8) processes)",
	    NULL },
	{ "remote_destination_concurrency", CFG_INT, "20", 1, 1000, 0,
	    "deliveries at once to one destination domain", NULL },
	{ "remote_destination_rate_delay", CFG_DURATION, "0s", 0, 3600, 0,
	    "the pause between two deliveries to one destination (then one "
	    "at a time); 0: none", NULL },
	{ "remote_tls", CFG_STR, "may", 0, 0, 0,
	    "STARTTLS to mail exchangers: when offered, required, required "
	    "with a verified certificate, or never", "may encrypt verify none" },
	{ "remote_tls_policy", CFG_LIST, "", 0, 0, 0,
	    "DOMAIN=none|may|encrypt|verify entries: remote_tls for that "
	    "destination", NULL },
	{ "remote_tls_ca_file", CFG_STR, "/etc/ssl/certs/ca-certificates.crt",
	    0, 0, CFG_ABSPATH, "CA certificates to check servers with", NULL },
	{ "remote_ipv6", CFG_BOOL, "yes", 0, 0, 0,
	    "try a mail exchanger's IPv6 addresses (before IPv4)", NULL },
	{ "relayhost", CFG_STR, "", 0, 0, 0,
	    "send all remote mail through this host[:port] (a smarthost); "
	    "empty: to each domain's MX", NULL },
	{ "relayhost_auth_file", CFG_STR, "", 0, 0, CFG_ABSPATH,
	    "\"USER PASSWORD\" for AUTH PLAIN at the relayhost (over TLS "
	    "only); empty: no AUTH", NULL },
	{ "transport_map", CFG_LIST, "", 0, 0, 0,
	    "DOMAIN=HOST[:PORT] entries: mail for the domain goes to that "
	    "host, not to its MX", NULL },
	{ "dkim_dir", CFG_PATH, "${data_dir}/dkim", 0, 0, 0,
	    "DKIM signing keys: DIR/DOMAIN/SELECTOR.key (chapar dkim)", NULL },
	{ "delay_warning_time", CFG_DURATION, "4h", 0, 100 * DAY, 0,
	    "tell the sender once when a message has waited this long "
	    "(NOTIFY=DELAY, RFC 3464); 0: never", NULL },
	{ "dns_servers", CFG_LIST, "", 0, 0, 0,
	    "nameservers to ask, ADDRESS or ADDRESS@PORT, in order; empty: "
	    "those of /etc/resolv.conf", NULL },
	{ "postmaster", CFG_STR, "postmaster", 0, 0, 0,
	    "sender of the server's own notices (a local part, or an "
	    "address)", NULL },

	/* authd */
	{ "auth_socket", CFG_PATH, "${run_dir}/auth.sock", 0, 0, 0,
	    "UNIX socket on which authd answers", NULL },
	{ "auth_master_socket", CFG_PATH, "${run_dir}/auth-master.sock", 0, 0,
	    0, "root-only socket on which logins are handed over", NULL },
	{ "mail_user", CFG_STR, "chapar-mail", 0, 0, 0,
	    "account post-login processes and delivery run as", NULL },
	{ "enqueue_socket", CFG_PATH, "${run_dir}/enqueue.sock", 0, 0, 0,
	    "UNIX socket on which enqueue takes new messages", NULL },
	{ "queue_user", CFG_STR, "chapar-queue", 0, 0, 0,
	    "account enqueue and the queue manager run as", NULL },
	{ "auth_user", CFG_STR, "chapar-auth", 0, 0, 0,
	    "account authd runs as when started by root", NULL },
	{ "auth_default_domain", CFG_STR, "", 0, 0, 0,
	    "domain added to login names given without one; empty: none", NULL },
	{ "auth_allow_plaintext", CFG_BOOL, "no", 0, 0, CFG_SERVICE,
	    "allow PLAIN and LOGIN on connections that are not secured (TLS "
	    "or local)", NULL },
	{ "auth_workers", CFG_INT, "0", 0, 256, 0,
	    "processes that check password hashes (0: one per CPU)", NULL },
	{ "auth_max_clients", CFG_INT, "1000", 1, 100000, 0,
	    "most connections authd serves at once", NULL },
	{ "auth_session_timeout", CFG_DURATION, "60s", 1, 3600, 0,
	    "how long authd waits for the next step of a SASL exchange", NULL },
	{ "auth_fail_window", CFG_DURATION, "15m", 1, DAY, 0,
	    "period over which failed logins are counted", NULL },
	{ "auth_fail_delay_after", CFG_INT, "3", 0, 1000, 0,
	    "failures (per address or account) before replies are slowed", NULL },
	{ "auth_fail_delay", CFG_DURATION, "2s", 0, 60, 0,
	    "delay added to each reply once slowing starts", NULL },
	{ "auth_fail_ip_limit", CFG_INT, "20", 1, 100000, 0,
	    "failures from one client address before it is refused", NULL },
	{ "auth_fail_user_limit", CFG_INT, "10", 0, 100000, 0,
	    "failures for one account before logins to it are refused "
	    "(0: never)", NULL },
	{ "scram_iterations", CFG_INT, "4096", 4096, 1000000, 0,
	    "PBKDF2 iterations of stored SCRAM-SHA-256 keys (RFC 7677)", NULL },
};

const size_t cfg_nkeys = sizeof(cfg_keys) / sizeof(cfg_keys[0]);

/* Sections a file may have; each later service adds its name here. */
const char *const cfg_services[] = {
	"authd",
	"enqueue",
	"lmtp",
	"smtpd",
	"submission",
	"smtps",
	"pop3",
	"pop3s",
	NULL
};
