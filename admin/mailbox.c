/*
 * mailbox.c: chapar mailbox, reindex and quota -- a user's store seen
 * from the admin command.
 *
 * The store belongs to mail_user and every session of the user writes
 * it, so it is opened only by a child process (child.c) that runs as
 * mail_user, chrooted (when chapar runs as root) into the user's
 * directory, which the parent reached with home_open (no link followed
 * at any level) and passes as a descriptor.  A link planted in the store
 * leads nowhere outside it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/dict.h"
#include "chapar/domusage.h"
#include "chapar/home.h"
#include "chapar/ipc.h"
#include "chapar/log.h"
#include "chapar/priv.h"
#include "chapar/store.h"
#include "chapar/util.h"

/* The mail user's ids (the process's own when not root). */
void
mail_ids(struct config *cf, uid_t *uid, gid_t *gid)
{
	struct buf err;

	if (geteuid() != 0) {
		*uid = geteuid();
		*gid = getegid();
		return;
	}
	buf_init(&err, 1024);
	if (priv_lookup(config_str(cf, NULL, "mail_user"), uid, gid, &err) ==
	    -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	buf_free(&err);
}

/* The home a record names, or the one its key gives when it names none
 * that can be under mail_dir (home_open checks the rest). */
void
user_home(const char *key, const char *h, struct buf *home)
{
	buf_reset(home);
	if (h == NULL || h[0] == '/' || strstr(h, "..") != NULL)
		userdb_home(key, home);
	else if (buf_try_puts(home, h) == -1)
		die(EX_FAIL, "%s: unusable home (%zu bytes)", key, strlen(h));
}

/* The user's directory, reached and made as delivery would. */
static void
muser_dir(struct config *cf, struct muser *mu)
{
	struct buf err;
	uid_t uid;
	gid_t gid;

	buf_init(&err, 4096);
	mail_ids(cf, &uid, &gid);
	mu->hfd = home_open(config_str(cf, NULL, "mail_dir"),
	    buf_cstr(&mu->home), uid, gid, &err);
	if (mu->hfd == -1)
		die(EX_FAIL, "mail directory of %s: %s", buf_cstr(&mu->key),
		    buf_cstr(&err));
	buf_free(&err);
}

void
muser_open(struct config *cf, const char *arg, struct muser *mu)
{
	struct rec r;

	buf_init(&mu->key, 1024);
	buf_init(&mu->home, 4096);
	mu->hfd = -1;
	rec_init(&r);
	arg_key(arg, 0, &mu->key);
	user_get(cf, buf_cstr(&mu->key), &r);
	user_home(buf_cstr(&mu->key), rec_get_str(&r, "home"), &mu->home);
	if (rec_get_u64(&r, "quota", &mu->quota) == -1)
		mu->quota = 0;
	muser_dir(cf, mu);
	rec_free(&r);
}

void
muser_close(struct muser *mu)
{
	if (mu->hfd >= 0)
		close(mu->hfd);
	mu->hfd = -1;
	buf_free(&mu->key);
	buf_free(&mu->home);
}

int
mail_run(struct config *cf, const struct muser *mu, struct child *c)
{
	c->whom = AS_MAIL;
	c->dirfd = mu->hfd;
	return child_run(cf, c);
}

struct store *
store_here(struct config *cf, const struct muser *mu)
{
	struct store_opts o;
	struct store *st;
	struct buf err;

	buf_init(&err, 4096);
	memset(&o, 0, sizeof(o));
	o.quota_bytes = mu->quota;
	o.quota_messages = config_num(cf, NULL, "quota_messages");
	if (store_open(".", &o, &st, &err) == -1)
		die(EX_FAIL, "store of %s: %s", buf_cstr(&mu->key),
		    buf_cstr(&err));
	buf_free(&err);
	return st;
}

static void
fail_store(int r, const char *what, const struct buf *err)
{
	if (r == STORE_EXISTS)
		die(EX_FAIL, "%s: exists already", what);
	if (r == STORE_NOTFOUND)
		die(EX_FAIL, "%s: no such folder", what);
	if (r != 0)
		die(EX_FAIL, "%s: %s", what, buf_cstr(err));
}

/* --- mailbox ------------------------------------------------------------- */

static int
list_row(const struct folder_info *fi, void *arg)
{
	char n[32], u[32], b[32];
	const char *cells[6];

	(void)xsnprintf(n, sizeof(n), "%u", fi->messages);
	(void)xsnprintf(u, sizeof(u), "%u", fi->unseen);
	(void)xsnprintf(b, sizeof(b), "%llu", (unsigned long long)fi->bytes);
	cells[0] = fi->name;
	cells[1] = n;
	cells[2] = u;
	cells[3] = b;
	cells[4] = fi->special;
	cells[5] = fi->subscribed ? "yes" : "no";
	table_row(arg, cells);
	return 0;
}

static const char *const special_uses[] = {
	"\\Drafts", "\\Sent", "\\Junk", "\\Trash", "\\Archive", NULL
};

struct job {
	struct config *cf;
	const struct muser *mu;
	int argc;
	char **argv;
};

/* In the child: list, create, delete, rename. */
static int
mailbox_work(void *arg)
{
	static const char *const hdr[] = { "folder", "messages", "unseen",
		"bytes", "special", "subscribed" };
	struct job *j = arg;
	const char *sub = j->argv[1], *key = buf_cstr(&j->mu->key);
	char **argv = j->argv;
	struct store *st;
	struct table *t;
	struct buf err;

	buf_init(&err, 4096);
	st = store_here(j->cf, j->mu);
	if (strcmp(sub, "list") == 0) {
		t = table_new(6, hdr);
		if (store_folders(st, list_row, t, &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
		table_print(t, opt.json);
		table_free(&t);
	} else if (strcmp(sub, "create") == 0) {
		fail_store(store_folder_create(st, argv[3], j->argc == 5 ?
		    argv[4] : NULL, &err), argv[3], &err);
		printf("created %s for %s\n", esc(argv[3]), esc(key));
	} else if (strcmp(sub, "delete") == 0) {
		fail_store(store_folder_delete(st, argv[3], &err), argv[3],
		    &err);
		printf("deleted %s of %s\n", esc(argv[3]), esc(key));
	} else {
		fail_store(store_folder_rename(st, argv[3], argv[4], &err),
		    argv[3], &err);
		printf("renamed %s to %s for %s\n", esc(argv[3]),
		    esc(argv[4]), esc(key));
	}
	store_close(&st);
	buf_free(&err);
	return EX_OK;
}

int
cmd_mailbox(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	struct child c;
	struct muser mu;
	struct job j;
	int i;

	if (!(strcmp(sub, "list") == 0 && argc == 3) &&
	    !(strcmp(sub, "create") == 0 && (argc == 4 || argc == 5)) &&
	    !(strcmp(sub, "delete") == 0 && argc == 4) &&
	    !(strcmp(sub, "rename") == 0 && argc == 5))
		usage();
	if (strcmp(sub, "create") == 0 && argc == 5) {
		for (i = 0; special_uses[i] != NULL &&
		    strcasecmp(special_uses[i], argv[4]) != 0; i++)
			;
		if (special_uses[i] == NULL)
			die(EX_USAGE, "%s: not a special use (\\Drafts, "
			    "\\Sent, \\Junk, \\Trash or \\Archive)",
			    log_esc_str(argv[4]));
	}
	j.cf = load_config();
	muser_open(j.cf, argv[2], &mu);
	j.mu = &mu;
	j.argc = argc;
	j.argv = argv;
	memset(&c, 0, sizeof(c));
	c.fn = mailbox_work;
	c.arg = &j;
	(void)mail_run(j.cf, &mu, &c);
	muser_close(&mu);
	config_free(&j.cf);
	return EX_OK;
}

/* --- reindex ------------------------------------------------------------- */

struct names {
	char **v;
	size_t n;
};

static int
add_name(const struct folder_info *fi, void *arg)
{
	struct names *nm = arg;

	nm->v = xreallocarray(nm->v, nm->n + 1, sizeof(char *));
	nm->v[nm->n++] = xstrdup(fi->name);
	return 0;
}

static void
resync_one(struct store *st, const char *name)
{
	struct mbox_status ms;
	struct mbox *mb;
	struct buf err;

	buf_init(&err, 4096);
	fail_store(mbox_open(st, name, &mb, &err), name, &err);
	if (mbox_resync(mb, &err) == -1 || mbox_status(mb, &ms, &err) == -1)
		die(EX_FAIL, "%s: %s", name, buf_cstr(&err));
	printf("%s: %u messages, uidvalidity %u, uidnext %u\n", esc(name),
	    ms.messages, ms.uidvalidity, ms.uidnext);
	mbox_close(&mb);
	buf_free(&err);
}

static int
reindex_work(void *arg)
{
	struct job *j = arg;
	struct store *st;
	struct names nm;
	struct buf err;
	size_t i;

	buf_init(&err, 4096);
	st = store_here(j->cf, j->mu);
	if (opt.force) {
		/* the index goes aside; store_open builds a new one */
		store_close(&st);
		if (store_index_reset(".", &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
		st = store_here(j->cf, j->mu);
	}
	memset(&nm, 0, sizeof(nm));
	if (j->argc == 3)
		resync_one(st, j->argv[2]);
	else {
		if (store_folders(st, add_name, &nm, &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
		for (i = 0; i < nm.n; i++) {
			resync_one(st, nm.v[i]);
			free(nm.v[i]);
		}
		free(nm.v);
	}
	if (store_usage_recalc(st, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	store_close(&st);
	buf_free(&err);
	return EX_OK;
}

/* chapar reindex USER [FOLDER] [--force]: bring the index in line with
 * the maildir; --force builds it anew. */
int
cmd_reindex(int argc, char **argv)
{
	struct child c;
	struct muser mu;
	struct job j;

	if (argc != 2 && argc != 3)
		usage();
	j.cf = load_config();
	muser_open(j.cf, argv[1], &mu);
	j.mu = &mu;
	j.argc = argc;
	j.argv = argv;
	memset(&c, 0, sizeof(c));
	c.fn = reindex_work;
	c.arg = &j;
	(void)mail_run(j.cf, &mu, &c);
	muser_close(&mu);
	config_free(&j.cf);
	return EX_OK;
}

/* --- quota --------------------------------------------------------------- */

static void
pct(char *out, size_t len, uint64_t used, uint64_t limit)
{
	if (limit == 0)
		(void)xsnprintf(out, len, "-");
	else
		(void)xsnprintf(out, len, "%llu%%", (unsigned long long)(used *
		    100 / limit));
}

/* In the child: the usage (counted again first with recalc); tells it
 * (op=usage, bytes=, messages=) with print 0, or prints the user's row. */
struct usage_job {
	struct config *cf;
	const struct muser *mu;
	int recalc, print;
};

static int
usage_work(void *arg)
{
	static const char *const hdr[] = { "user", "bytes", "bytes_limit",
		"bytes_used", "messages", "messages_limit", "messages_used" };
	struct usage_job *j = arg;
	const char *cells[7];
	char c[6][32];
	struct store *st;
	struct table *t;
	struct buf err;
	struct rec r;
	uint64_t bytes, msgs, qm;

	buf_init(&err, 4096);
	st = store_here(j->cf, j->mu);
	if (j->recalc && store_usage_recalc(st, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	if (store_usage(st, &bytes, &msgs, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	store_close(&st);
	buf_free(&err);
	if (!j->print) {
		rec_init(&r);
		rec_set_str(&r, "op", "usage");
		rec_set_u64(&r, "bytes", bytes);
		rec_set_u64(&r, "messages", msgs);
		child_tell(&r);
		rec_free(&r);
		return EX_OK;
	}
	qm = config_num(j->cf, NULL, "quota_messages");
	(void)xsnprintf(c[0], 32, "%llu", (unsigned long long)bytes);
	(void)xsnprintf(c[1], 32, "%llu", (unsigned long long)j->mu->quota);
	pct(c[2], 32, bytes, j->mu->quota);
	(void)xsnprintf(c[3], 32, "%llu", (unsigned long long)msgs);
	(void)xsnprintf(c[4], 32, "%llu", (unsigned long long)qm);
	pct(c[5], 32, msgs, qm);
	cells[0] = buf_cstr(&j->mu->key);
	cells[1] = c[0];
	cells[2] = c[1];
	cells[3] = c[2];
	cells[4] = c[3];
	cells[5] = c[4];
	cells[6] = c[5];
	t = table_new(7, hdr);
	table_row(t, cells);
	table_print(t, opt.json);
	table_free(&t);
	return EX_OK;
}

/* --- a domain's quota ---------------------------------------------------- */

struct dom_user {
	char *key, *home;
	uint64_t quota, bytes, msgs;
};

struct dom_job {
	struct config *cf;
	const char *dom;
	int recalc;
	uint64_t quota;		/* the domain's */
	int got_domain;
	struct dom_user *u;
	size_t n;
	uint64_t bytes, msgs;	/* the total */
	int got_total;
};

/* In a child as db_dir's owner: the domain's quota, and with recalc its
 * users (op=user, key=, home=, quota=). */
static int
tell_user(const char *key, const struct rec *r, void *arg)
{
	struct rec t;

	(void)arg;
	rec_init(&t);
	rec_set_str(&t, "op", "user");
	rec_set_str(&t, "key", key);
	if (rec_get_str(r, "home") != NULL)
		rec_set_str(&t, "home", rec_get_str(r, "home"));
	if (rec_get_str(r, "quota") != NULL)
		rec_set_str(&t, "quota", rec_get_str(r, "quota"));
	child_tell(&t);
	rec_free(&t);
	return 0;
}

static int
dom_db_work(void *arg)
{
	struct dom_job *j = arg;
	struct userdb *u;
	struct buf err;
	struct rec r, t;
	uint64_t q = 0;
	int ret;

	buf_init(&err, 1024);
	rec_init(&r);
	rec_init(&t);
	u = open_userdb(j->cf, 0);
	ret = userdb_domain_get(u, j->dom, &r, &err);
	if (ret == DICT_OK) {
		(void)rec_get_u64(&r, "quota", &q);
		rec_set_str(&t, "op", "domain");
		rec_set_u64(&t, "quota", q);
		child_tell(&t);
		if (j->recalc)
			ret = userdb_iter(u, "users", j->dom, tell_user, NULL,
			    &err);
	}
	close_userdb(&u);
	if (ret == DICT_NOTFOUND)
		die(EX_FAIL, "no such domain: %s", j->dom);
	if (ret != DICT_OK)
		die(EX_TEMP, "user database: %s", buf_cstr(&err));
	rec_free(&r);
	rec_free(&t);
	buf_free(&err);
	return EX_OK;
}

static int
dom_db_serve(void *arg, const struct rec *req, struct rec *rep, int *fd)
{
	struct dom_job *j = arg;
	struct dom_user *du;
	const char *key = rec_get_str(req, "key");

	(void)rep;
	(void)fd;
	if (strcmp(child_op(req), "domain") == 0 && !j->got_domain &&
	    rec_get_u64(req, "quota", &j->quota) == 0) {
		j->got_domain = 1;
		return 0;
	}
	if (strcmp(child_op(req), "user") != 0 || !j->recalc || key == NULL)
		return -1;
	j->u = xreallocarray(j->u, j->n + 1, sizeof(*j->u));
	du = &j->u[j->n++];
	memset(du, 0, sizeof(*du));
	du->key = xstrdup(key);
	du->home = rec_get_str(req, "home") ? xstrdup(rec_get_str(req,
	    "home")) : NULL;
	if (rec_get_u64(req, "quota", &du->quota) == -1)
		du->quota = 0;
	return 0;
}

static int
usage_serve(void *arg, const struct rec *req, struct rec *rep, int *fd)
{
	struct dom_user *du = arg;

	(void)rep;
	(void)fd;
	if (strcmp(child_op(req), "usage") != 0 ||
	    rec_get_u64(req, "bytes", &du->bytes) == -1 ||
	    rec_get_u64(req, "messages", &du->msgs) == -1)
		return -1;
	return 0;
}

/* In a child as mail_user in mail_dir/DOMAIN: with recalc, the usage
 * database made anew from what the users' stores said; the total. */
static int
dom_usage_work(void *arg)
{
	struct dom_job *j = arg;
	struct domusage *du;
	struct buf err, home;
	struct rec r;
	size_t i;

	buf_init(&err, 1024);
	buf_init(&home, 4096);
	if (j->recalc && store_rm_tree_at(AT_FDCWD, ".usage") == -1 &&
	    errno != ENOENT)
		die(EX_FAIL, ".usage: %s", strerror(errno));
	if (domusage_open(".", &du, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	for (i = 0; j->recalc && i < j->n; i++) {
		/* the user's directory as userdb_home names it */
		userdb_home(j->u[i].key, &home);
		if (domusage_report(du, strchr(buf_cstr(&home), '/') + 1,
		    j->u[i].bytes, j->u[i].msgs, &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
	}
	if (domusage_total(du, &j->bytes, &j->msgs, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	domusage_close(&du);
	rec_init(&r);
	rec_set_str(&r, "op", "total");
	rec_set_u64(&r, "bytes", j->bytes);
	rec_set_u64(&r, "messages", j->msgs);
	child_tell(&r);
	rec_free(&r);
	buf_free(&err);
	buf_free(&home);
	return EX_OK;
}

static int
total_serve(void *arg, const struct rec *req, struct rec *rep, int *fd)
{
	struct dom_job *j = arg;

	(void)rep;
	(void)fd;
	if (strcmp(child_op(req), "total") != 0 || j->got_total ||
	    rec_get_u64(req, "bytes", &j->bytes) == -1 ||
	    rec_get_u64(req, "messages", &j->msgs) == -1)
		return -1;
	j->got_total = 1;
	return 0;
}

/* mail_dir/DOMAIN, made if missing, as home_open makes it. */
static int
domain_dir(struct config *cf, const char *dom)
{
	struct buf name, err;
	uid_t uid;
	gid_t gid;
	int fd;

	buf_init(&name, 1024);
	buf_init(&err, 1024);
	userdb_home(dom, &name);
	mail_ids(cf, &uid, &gid);
	if ((fd = home_open_dir(config_str(cf, NULL, "mail_dir"),
	    buf_cstr(&name), uid, gid, &err)) == -1)
		die(EX_FAIL, "mail directory of %s: %s", dom, buf_cstr(&err));
	buf_free(&name);
	buf_free(&err);
	return fd;
}

/* chapar quota show|recalc @DOMAIN: the usage domusage.h keeps; recalc
 * asks every user's store again. */
static int
quota_domain(struct config *cf, const char *verb, const char *arg)
{
	static const char *const hdr[] = { "domain", "bytes", "bytes_limit",
		"bytes_used", "messages" };
	const char *cells[5];
	char c[4][32];
	struct dom_job j;
	struct usage_job uj;
	struct child ch;
	struct muser mu;
	struct table *t;
	struct buf dom;
	size_t i;

	buf_init(&dom, 1024);
	arg_domain(arg, &dom);
	memset(&j, 0, sizeof(j));
	j.cf = cf;
	j.dom = buf_cstr(&dom);
	j.recalc = strcmp(verb, "recalc") == 0;
	(void)db_run(cf, dom_db_work, &j, dom_db_serve, &j);
	if (!j.got_domain)
		die(EX_FAIL, "no such domain: %s", j.dom);
	/* each user's store, in a child of its own chrooted into it */
	for (i = 0; i < j.n; i++) {
		/* a key from the database came in one message */
		buf_init(&mu.key, IPC_MAX);
		buf_init(&mu.home, 4096);
		buf_puts(&mu.key, j.u[i].key);
		user_home(j.u[i].key, j.u[i].home, &mu.home);
		mu.quota = j.u[i].quota;
		muser_dir(cf, &mu);
		memset(&uj, 0, sizeof(uj));
		uj.cf = cf;
		uj.mu = &mu;
		memset(&ch, 0, sizeof(ch));
		ch.fn = usage_work;
		ch.arg = &uj;
		ch.serve = usage_serve;
		ch.sarg = &j.u[i];
		(void)mail_run(cf, &mu, &ch);
		muser_close(&mu);
	}
	memset(&ch, 0, sizeof(ch));
	ch.whom = AS_MAIL;
	ch.dirfd = domain_dir(cf, j.dom);
	ch.fn = dom_usage_work;
	ch.arg = &j;
	ch.serve = total_serve;
	ch.sarg = &j;
	(void)child_run(cf, &ch);
	close(ch.dirfd);
	if (!j.got_total)
		die(EX_FAIL, "%s: no usage came back", j.dom);
	(void)xsnprintf(c[0], 32, "%llu", (unsigned long long)j.bytes);
	(void)xsnprintf(c[1], 32, "%llu", (unsigned long long)j.quota);
	pct(c[2], 32, j.bytes, j.quota);
	(void)xsnprintf(c[3], 32, "%llu", (unsigned long long)j.msgs);
	cells[0] = j.dom;
	cells[1] = c[0];
	cells[2] = c[1];
	cells[3] = c[2];
	cells[4] = c[3];
	t = table_new(5, hdr);
	table_row(t, cells);
	table_print(t, opt.json);
	table_free(&t);
	for (i = 0; i < j.n; i++) {
		free(j.u[i].key);
		free(j.u[i].home);
	}
	free(j.u);
	buf_free(&dom);
	return EX_OK;
}

int
cmd_quota(int argc, char **argv)
{
	struct usage_job uj;
	struct config *cf;
	struct child c;
	struct muser mu;
	int r;

	if (argc != 3 || (strcmp(argv[1], "show") != 0 &&
	    strcmp(argv[1], "recalc") != 0))
		usage();
	cf = load_config();
	if (argv[2][0] == '@') {
		r = quota_domain(cf, argv[1], argv[2] + 1);
		config_free(&cf);
		return r;
	}
	muser_open(cf, argv[2], &mu);
	memset(&uj, 0, sizeof(uj));
	uj.cf = cf;
	uj.mu = &mu;
	uj.recalc = strcmp(argv[1], "recalc") == 0;
	uj.print = 1;
	memset(&c, 0, sizeof(c));
	c.fn = usage_work;
	c.arg = &uj;
	(void)mail_run(cf, &mu, &c);
	muser_close(&mu);
	config_free(&cf);
	return EX_OK;
}
