/*
 * chapard: the supervisor (DESIGN.md 3).  Runs as root, binds the
 * listening sockets, starts and watches every other process, and never
 * reads a byte from a client: workers accept on the sockets it binds.
 */
#ifndef CHAPARD_H
#define CHAPARD_H

#include <sys/types.h>

#include <poll.h>

#include <stdint.h>

#include "chapar/buf.h"
#include "chapar/config.h"
#include "chapar/net.h"
#include "chapar/rec.h"

#define MAX_LISTENERS 64
#define BACKOFF_START_MS 1000	/* a crashing service's first wait */

enum proc_state { P_STARTING, P_IDLE, P_BUSY, P_QUITTING, P_RUNNING,
	P_SESSION, P_FRONT };
enum svc_kind { SVC_POOL, SVC_DAEMON };

struct service;

struct proc {
	pid_t pid;
	struct service *svc;
	int status_fd;		/* -1 for daemons */
	enum proc_state state;
	int quit_asked;		/* chapard told it to go: a clean exit */
	int session;		/* a post-login process */
	int front;		/* the service's smtpfront(8), not a worker */
	int listens;		/* got the listening sockets (may send CONN) */
	int handed;		/* its current connection was handed over */
	pid_t origin;		/* session: the worker that handed it over */
	pid_t origin_authd;	/* ... and the authd running at the time */
	int hello;		/* said HELLO */
	char ip[NET_ADDRSTRLEN];
	char user[128];
	int64_t since;		/* when the state last changed */
	uint64_t started_ms;
	unsigned served;
	struct proc *next;
};

struct listener {
	struct listen_addr addr;
	int fd;
	int tls;
};

struct iptable;

struct service {
	char *name;
	char *program;
	enum svc_kind kind;
	struct listener ls[MAX_LISTENERS];
	int nls;
	/* settings, from the configuration */
	unsigned prefork, max_procs, max_sessions;
	uint64_t idle_timeout;
	unsigned conn_limit, rate_limit;
	int front;		/* front = yes: smtpfront(8) holds the sockets */
	char *front_program;
	/* the program of its post-login sessions: PROGRAM-session when
	 * there is one (no TLS code in it), else NULL (PROGRAM -P) */
	char *session_program;
	struct netmask *exc;
	size_t nexc;
	/* state */
	struct proc *procs;
	unsigned nprocs;
	unsigned long served, refused, crashes;
	unsigned failures;	/* abnormal exits in a row */
	uint64_t backoff_until;	/* ms; no new processes before */
	uint64_t backoff;	/* ms, doubles, capped */
	int gone;		/* dropped by a reload: drains, then freed */
	struct iptable *ips;
	int front_waiting;	/* the front was told "busy" since its last
				 * wake-up */
	struct service *next;
};

struct chapard {
	struct config *cf;
	const char *conf_path;
	char *pid_path;		/* locked at start; removed at stop */
	int foreground;
	int debug;
	int stopping;
	uint64_t stop_deadline;	/* ms */
	int64_t started;
	int64_t loaded;		/* when the configuration was loaded */
	struct service *services;
	char self_dir[4096];	/* where chapard's own binary is */
	unsigned char tickets[2][80];	/* TLS ticket keys, newest first */
	int64_t tickets_rotated;
};

extern struct chapard M;

enum spawn_kind { SPAWN_WORKER, SPAWN_FRONT };

/* service.c: the services from the configuration */
void service_free(struct service *);
void close_listeners(struct service *);

/* spawn.c: a post-login session to start: its client and what the login
 * side said */
struct session_args {
	int client;
	const char *token, *state, *peer, *log_id;
};
struct proc *proc_spawn_as(struct service *, const struct session_args *,
    enum spawn_kind);

/* pool.c */
void proc_quit(struct proc *);
pid_t authd_pid(void);
int services_load(struct config *, struct buf *err);
void services_maintain(void);
void services_stop_begin(void);
void services_stop_step(void);
void service_reap(pid_t, int status);
void proc_message(struct proc *);
void proc_status_lost(struct proc *);
unsigned service_idle(const struct service *);
struct proc *proc_by_fd(int fd);
void tickets_rotate(int force);
int accounts_ensure(struct config *, struct buf *err);
size_t services_waiting_fds(struct pollfd *, struct service **, size_t max);
void service_wanted(struct service *);
/* for front.c */
struct proc *proc_spawn(struct service *, enum spawn_kind);
int proc_tell(struct proc *, int type, const struct rec *, int fd);
void proc_drop(struct proc *, const char *why);
void proc_set(struct proc *, enum proc_state);
/* Workers of the service that are not quitting (sessions and the front
 * are not workers). */
unsigned service_live(const struct service *);

/* front.c: the SMTP front of a service with front = yes (smtpfront(8)) */
void front_pass(struct proc *front, struct rec *, int fd);
void front_worker_free(struct service *);
void front_maintain(struct service *);

/* limits.c: per client address, per service */
struct iptable *iptable_new(void);
void iptable_free(struct iptable **);
/* 0 admitted (counted), or -1 with the reason. */
int iptable_admit(struct service *, const char *ip, const char **reason);
void iptable_release(struct service *, const char *ip);
void iptable_tick(struct service *);

/* control.c: the status socket ("chapar status", "reload", "stop") */
int control_open(const char *path, struct buf *err);
void control_close(void);
size_t control_pollfds(struct pollfd *, size_t max);
void control_handle(const struct pollfd *, size_t n);

/* health.c: authd must answer */
void health_tick(void);
size_t health_pollfd(struct pollfd *);
void health_handle(const struct pollfd *);

/* main.c */
void chapard_reload(void);
void chapard_stop(void);

#endif
