/*
 * queue.c: "chapar queue" -- list and show read the queue directly; hold,
 * release, delete and flush are asked of qmgr(8) through its FIFO, so
 * that only the queue manager ever changes an envelope it holds.  All of
 * it runs in a child as queue_user, chrooted (as root) into queue_dir
 * (child.c): the queue is that user's to write.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/config.h"
#include "chapar/log.h"
#include "chapar/queue.h"
#include "chapar/util.h"

struct entry {
	char id[QUEUE_ID_MAX];
	const char *where;	/* "todo" (new) or "info" (taken) */
};

struct entries {
	struct entry *e;
	size_t n;
};

static int
entry_one(void *arg, const char *where, const char *id)
{
	struct entries *es = arg;

	es->e = xreallocarray(es->e, es->n + 1, sizeof(*es->e));
	(void)xsnprintf(es->e[es->n].id, sizeof(es->e[es->n].id), "%s", id);
	es->e[es->n++].where = where;
	return 0;
}

/* Every message's id and where its envelope is (queue_walk). */
static size_t
entries(struct entry **out)
{
	struct entries es = { NULL, 0 };

	(void)queue_walk(QUEUE_WALK_TODO | QUEUE_WALK_INFO, entry_one, &es);
	*out = es.e;
	return es.n;
}

static int
load(const struct entry *en, struct queue_env *e)
{
	struct buf err;
	int r;

	buf_init(&err, 1024);
	r = queue_env_load(en->where, en->id, e, &err);
	buf_free(&err);
	return r;
}

static void
when(const struct rec *head, const char *field, char *out, size_t len)
{
	uint64_t t;
	time_t tt;

	if (rec_get_u64(head, field, &t) == -1) {
		(void)xsnprintf(out, len, "-");
		return;
	}
	tt = (time_t)t;
	(void)strftime(out, len, "%Y-%m-%d %H:%M:%S", gmtime(&tt));
}

static const char *
state_of(const struct rec *head, const char *where)
{
	if (rec_get_str(head, "quarantine") != NULL)
		return "quarantined";
	if (rec_get_str(head, "held") != NULL)
		return "held";
	if (strcmp(where, "todo") == 0)
		return "new";
	return rec_get_str(head, "tries") ? "deferred" : "active";
}

static int
queue_list(void)
{
	static const char *const hdr[] = { "id", "state", "size", "arrival",
		"sender", "recipients", "pending" };
	struct entry *en;
	struct table *t = table_new(7, hdr);
	struct queue_env e;
	char size[32], arrival[32], nrcpt[32], pending[32];
	size_t n, i, k, left;

	n = entries(&en);
	for (i = 0; i < n; i++) {
		const char *cells[7];

		queue_env_init(&e);
		if (load(&en[i], &e) == -1) {
			queue_env_free(&e);
			continue;
		}
		for (k = left = 0; k < e.nrcpt; k++)
			if (rec_get_str(&e.rcpts[k], "state") == NULL)
				left++;
		(void)xsnprintf(size, sizeof(size), "%s",
		    rec_get_str(&e.head, "size") ? rec_get_str(&e.head,
		    "size") : "0");
		when(&e.head, "time", arrival, sizeof(arrival));
		(void)xsnprintf(nrcpt, sizeof(nrcpt), "%zu", e.nrcpt);
		(void)xsnprintf(pending, sizeof(pending), "%zu", left);
		cells[0] = en[i].id;
		cells[1] = state_of(&e.head, en[i].where);
		cells[2] = size;
		cells[3] = arrival;
		cells[4] = rec_get_str(&e.head, "sender")[0] ?
		    rec_get_str(&e.head, "sender") : "<>";
		cells[5] = nrcpt;
		cells[6] = pending;
		table_row(t, cells);
		queue_env_free(&e);
	}
	table_print(t, opt.json);
	table_free(&t);
	free(en);
	return EX_OK;
}

static int
queue_show(const char *id)
{
	static const char *const hdr[] = { "recipient", "state", "dsn",
		"reply" };
	struct entry *en;
	struct queue_env e;
	struct table *t;
	char arrival[32], next[32];
	size_t n, i, k;
	int rc = EX_FAIL;

	n = entries(&en);
	for (i = 0; i < n && strcmp(en[i].id, id) != 0; i++)
		;
	queue_env_init(&e);
	if (i == n || load(&en[i], &e) == -1) {
		free(en);
		queue_env_free(&e);
		die(EX_FAIL, "%s: no such message in the queue", esc(id));
	}
	when(&e.head, "time", arrival, sizeof(arrival));
	when(&e.head, "next", next, sizeof(next));
	if (!opt.json)
		printf("id: %s\nstate: %s\nsender: <%s>\narrival: %s\n"
		    "next try: %s\nsize: %s\n\n", id, state_of(&e.head,
		    en[i].where), esc(rec_get_str(&e.head, "sender")),
		    arrival, next, rec_get_str(&e.head, "size") ?
		    esc(rec_get_str(&e.head, "size")) : "0");
	t = table_new(4, hdr);
	for (k = 0; k < e.nrcpt; k++) {
		const char *cells[4];
		const struct rec *r = &e.rcpts[k];

		cells[0] = rec_get_str(r, "rcpt");
		cells[1] = rec_get_str(r, "state") ? rec_get_str(r, "state") :
		    "pending";
		cells[2] = rec_get_str(r, "dsn") ? rec_get_str(r, "dsn") : "";
		cells[3] = rec_get_str(r, "reply") ? rec_get_str(r, "reply") :
		    "";
		table_row(t, cells);
	}
	table_print(t, opt.json);
	table_free(&t);
	queue_env_free(&e);
	free(en);
	rc = EX_OK;
	return rc;
}

/* A command line into qmgr's FIFO (atomic: shorter than PIPE_BUF). */
static int
tell_qmgr(const char *line)
{
	int fd = open("wake", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	size_t n = strlen(line);

	if (fd == -1)
		die(EX_TEMP, "the queue manager is not running (%s)",
		    errno == ENXIO ? "nobody reads its FIFO" :
		    strerror(errno));
	if (write(fd, line, n) != (ssize_t)n)
		die(EX_TEMP, "the queue manager's FIFO: %s", strerror(errno));
	close(fd);
	return EX_OK;
}

struct qjob {
	int argc;
	char **argv;
};

/* In a child as queue_user, in queue_dir. */
static int
queue_work(void *arg)
{
	struct qjob *j = arg;
	const char *verb = j->argv[1];
	struct buf line;
	int rc;

	buf_init(&line, 256);
	if (strcmp(verb, "list") == 0)
		rc = queue_list();
	else if (strcmp(verb, "show") == 0)
		rc = queue_show(j->argv[2]);
	else if (strcmp(verb, "flush") == 0)
		rc = tell_qmgr("flush\n");
	else {
		/* verb and id checked: they fit */
		buf_printf(&line, "%s %s\n", verb, j->argv[2]);
		rc = tell_qmgr(buf_cstr(&line));
	}
	buf_free(&line);
	return rc;
}

int
cmd_queue(int argc, char **argv)
{
	struct config *cf;
	struct qjob j;
	const char *verb;

	if (argc < 2)
		usage();
	verb = argv[1];
	if (!((strcmp(verb, "list") == 0 && argc == 2) ||
	    (strcmp(verb, "show") == 0 && argc == 3) ||
	    (strcmp(verb, "flush") == 0 && argc == 2) ||
	    ((strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0 ||
	    strcmp(verb, "delete") == 0 || strcmp(verb, "requeue") == 0) &&
	    argc == 3)))
		usage();
	if (argc == 3 && strcmp(verb, "show") != 0 && !queue_id_ok(argv[2]))
		die(EX_USAGE, "%s: not a queue id", log_esc_str(argv[2]));
	cf = load_config();
	j.argc = argc;
	j.argv = argv;
	(void)queue_run(cf, queue_work, &j);
	config_free(&cf);
	return EX_OK;
}
