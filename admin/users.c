/*
 * users.c: "chapar domain", "chapar user" and "chapar alias".
 *
 * The database is opened only in children of db_run (child.c), as the
 * owner of db_dir; the parent reads passwords (it has the terminal) and
 * starts a child as mail_user to remove a purged user's mail.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/addr.h"
#include "chapar/dict.h"
#include "chapar/home.h"
#include "chapar/log.h"
#include "chapar/passwd.h"
#include "chapar/store.h"
#include "chapar/util.h"

/* Map a userdb result to a message and an exit code. */
int
check(int r, const struct buf *err, const char *what, const char *name)
{
	switch (r) {
	case DICT_OK:
		return EX_OK;
	case DICT_NOTFOUND:
		die(EX_FAIL, "%s", err->len ? buf_cstr(err) : "not found");
	case DICT_EXISTS:
		if (err->len)
			die(EX_FAIL, "%s", buf_cstr(err));
		die(EX_FAIL, "%s %s already exists", what, name);
	default:
		die(EX_TEMP, "%s", err->len ? buf_cstr(err) :
		    "database error");
	}
}

static void
fmt_time(const char *secs, char *out, size_t len)
{
	uint64_t v;
	time_t t;
	struct tm tm;

	out[0] = '\0';
	if (secs == NULL || parse_u64(sv_from(secs), INT64_MAX, &v) == -1 ||
	    v == 0)
		return;
	t = (time_t)v;
	gmtime_r(&t, &tm);
	if (strftime(out, len, "%Y-%m-%d %H:%M", &tm) == 0)
		out[0] = '\0';
}

static void
fmt_quota(const char *q, char *out, size_t len)
{
	uint64_t v;

	if (q == NULL || parse_u64(sv_from(q), UINT64_MAX, &v) == -1)
		(void)xsnprintf(out, len, "?");
	else if (v == 0)
		(void)xsnprintf(out, len, "unlimited");
	else
		fmt_size(out, len, v);
}

/* --- domains ------------------------------------------------------------- */

static int
domain_row(const char *key, const struct rec *r, void *arg)
{
	char created[32], quota[32];
	const char *cells[3];

	fmt_time(rec_get_str(r, "created"), created, sizeof(created));
	fmt_quota(rec_get_str(r, "quota") ? rec_get_str(r, "quota") : "0",
	    quota, sizeof(quota));
	cells[0] = key;
	cells[1] = created;
	cells[2] = quota;
	table_row(arg, cells);
	return 0;
}

static uint64_t quota_arg(const char *);

/* chapar domain quota DOMAIN SIZE */
static void
domain_quota(struct config *cf, const char *dom, uint64_t q, const char *size)
{
	struct userdb *u;
	struct buf err;
	struct rec r;
	int ret;

	buf_init(&err, 1024);
	rec_init(&r);
	u = open_userdb(cf, 0);
	ret = userdb_domain_get(u, dom, &r, &err);
	if (ret == DICT_OK) {
		rec_set_u64(&r, "quota", q);
		ret = userdb_domain_put(u, dom, &r, &err);
	}
	close_userdb(&u);
	if (ret == DICT_NOTFOUND && err.len == 0)
		buf_printf(&err, "no such domain: %s", dom);
	check(ret, &err, "domain", dom);
	printf("quota of domain %s set to %s\n", dom, esc(size));
	rec_free(&r);
	buf_free(&err);
}

struct dom_args {
	struct config *cf;
	const char *verb, *dom, *size;
	uint64_t quota;
};

/* In a child of db_run. */
static int
domain_work(void *arg)
{
	static const char *const hdr[] = { "DOMAIN", "CREATED", "QUOTA" };
	struct dom_args *a = arg;
	struct userdb *u;
	struct table *t;
	struct buf err;
	int r;

	buf_init(&err, 1024);
	if (strcmp(a->verb, "list") == 0) {
		t = table_new(3, hdr);
		u = open_userdb(a->cf, 0);
		r = userdb_iter(u, "domains", NULL, domain_row, t, &err);
		close_userdb(&u);
		check(r, &err, "", "");
		table_print(t, opt.json);
		table_free(&t);
	} else if (strcmp(a->verb, "add") == 0) {
		u = open_userdb(a->cf, 0);
		r = userdb_domain_add(u, a->dom, &err);
		close_userdb(&u);
		check(r, &err, "domain", a->dom);
		printf("added domain %s\n", a->dom);
	} else if (strcmp(a->verb, "quota") == 0)
		domain_quota(a->cf, a->dom, a->quota, a->size);
	else {
		u = open_userdb(a->cf, 0);
		r = userdb_domain_del(u, a->dom, &err);
		close_userdb(&u);
		if (r == DICT_NOTFOUND && err.len == 0)
			buf_printf(&err, "no such domain: %s", a->dom);
		check(r, &err, "domain", a->dom);
		printf("deleted domain %s\n", a->dom);
	}
	buf_free(&err);
	return EX_OK;
}

int
cmd_domain(int argc, char **argv)
{
	struct dom_args a;
	struct buf dom;

	if (argc < 2)
		usage();
	buf_init(&dom, 1024);
	memset(&a, 0, sizeof(a));
	a.verb = argv[1];
	if (strcmp(argv[1], "list") == 0 && argc == 2)
		;
	else if ((strcmp(argv[1], "add") == 0 || strcmp(argv[1], "del") ==
	    0) && argc == 3)
		arg_domain(argv[2], &dom);
	else if (strcmp(argv[1], "quota") == 0 && argc == 4) {
		arg_domain(argv[2], &dom);
		a.quota = quota_arg(argv[3]);
		a.size = argv[3];
	} else
		usage();
	a.dom = buf_cstr(&dom);
	a.cf = load_config();
	(void)db_run(a.cf, domain_work, &a, NULL, NULL);
	config_free(&a.cf);
	buf_free(&dom);
	return EX_OK;
}

/* --- users --------------------------------------------------------------- */

static void
set_password(struct rec *r, const struct config *cf)
{
	struct scram_keys k;
	struct buf pw, out;
	const char *e;

	buf_init(&pw, 4096);
	buf_init(&out, 1024);
	read_password(1, &pw);
	if (passwd_hash(pw.data, pw.len, &out, &e) == -1)
		die(EX_FAIL, "hashing the password: %s", e);
	rec_set(r, "hash", buf_sv(&out));
	buf_reset(&out);
	if (scram_keys_derive(pw.data, pw.len, NULL, 0,
	    (uint32_t)config_num(cf, NULL, "scram_iterations"), &k) == -1)
		die(EX_FAIL, "deriving SCRAM keys failed");
	scram_keys_format(&k, &out);
	rec_set(r, "scram", buf_sv(&out));
	explicit_bzero(&k, sizeof(k));
	explicit_bzero(pw.data, pw.cap);
	buf_free(&pw);
	buf_free(&out);
}

static uint64_t
quota_arg(const char *s)
{
	uint64_t q;

	/* the same bound as default_quota in chapar.conf */
	if (cfg_parse_size(sv_from(s), &q) == -1 || q > (1024ULL << 40))
		die(EX_USAGE, "%s: expected a size from 0 (unlimited) to 1024T, "
		    "like 500M or 2G", log_esc_str(s));
	return q;
}

/* In a child of db_run: one user's record / a change to it. */
static void
user_get_db(struct config *cf, const char *key, struct rec *r)
{
	struct userdb *u;
	struct buf err;
	int ret;

	buf_init(&err, 1024);
	u = open_userdb(cf, 0);
	ret = userdb_user_get(u, key, r, &err);
	close_userdb(&u);
	if (ret == DICT_NOTFOUND)
		die(EX_FAIL, "no such user: %s", key);
	check(ret, &err, "user", key);
	buf_free(&err);
}

/* Change fields of one user atomically, for passwd/del/restore/quota/...
 * The record holds the fields to set. */
static void
user_change_db(struct config *cf, const char *key, const struct rec *set)
{
	struct userdb *u;
	struct buf err;
	int r;

	buf_init(&err, 1024);
	u = open_userdb(cf, 0);
	r = userdb_user_update(u, key, set, &err);
	close_userdb(&u);
	if (r == DICT_NOTFOUND)
		die(EX_FAIL, "no such user: %s", key);
	check(r, &err, "user", key);
	buf_free(&err);
}

static const char *
state_of(const struct rec *r)
{
	const char *s = rec_get_str(r, "state");

	return s != NULL ? s : USER_ACTIVE;
}

/* What the parent learns of a user: never the password's hash or keys. */
static const char *const told[] = { "home", "quota", "state", "deleted",
	NULL };

struct uargs {
	struct config *cf;
	const char *key;
	struct rec *r;		/* user_get: what came back */
	const struct rec *set;	/* user_add, user_passwd: to store */
	int argc;
	char **argv;
};

static int
get_work(void *arg)
{
	struct uargs *a = arg;
	struct rec r, t;
	size_t i;

	rec_init(&r);
	rec_init(&t);
	user_get_db(a->cf, a->key, &r);
	rec_set_str(&t, "op", "user");
	for (i = 0; told[i] != NULL; i++)
		if (rec_get(&r, told[i]) != NULL)
			rec_set(&t, told[i], buf_sv(rec_get(&r, told[i])));
	child_tell(&t);
	rec_free(&r);
	rec_free(&t);
	return EX_OK;
}

static int
get_serve(void *arg, const struct rec *req, struct rec *rep, int *fd)
{
	struct uargs *a = arg;
	size_t i;

	(void)rep;
	(void)fd;
	if (strcmp(child_op(req), "user") != 0 || rec_get(a->r, "op") != NULL)
		return -1;
	rec_set_str(a->r, "op", "user");
	for (i = 0; told[i] != NULL; i++)
		if (rec_get(req, told[i]) != NULL)
			rec_set(a->r, told[i], buf_sv(rec_get(req, told[i])));
	return 0;
}

void
user_get(struct config *cf, const char *key, struct rec *r)
{
	struct uargs a;

	memset(&a, 0, sizeof(a));
	a.cf = cf;
	a.key = key;
	a.r = r;
	rec_clear(r);
	(void)db_run(cf, get_work, &a, get_serve, &a);
	if (rec_get(r, "op") == NULL)
		die(EX_FAIL, "%s: the user database said nothing", key);
	rec_del(r, "op");
}

static int
add_check_work(void *arg)
{
	struct uargs *a = arg;
	struct userdb *u;
	struct buf err;
	struct rec r;
	int ret;

	buf_init(&err, 1024);
	rec_init(&r);
	u = open_userdb(a->cf, 0);
	ret = userdb_domain_get(u, strrchr(a->key, '@') + 1, &r, &err);
	if (ret == DICT_OK) {
		ret = userdb_user_get(u, a->key, &r, &err);
		if (ret == DICT_OK)
			ret = DICT_EXISTS;
		else if (ret == DICT_NOTFOUND)
			ret = DICT_OK;
	}
	close_userdb(&u);
	if (ret == DICT_NOTFOUND)
		die(EX_FAIL, "no such domain: %s (add it with \"chapar domain "
		    "add\")", strrchr(a->key, '@') + 1);
	check(ret, &err, "user", a->key);
	rec_free(&r);
	buf_free(&err);
	return EX_OK;
}

static int
add_put_work(void *arg)
{
	struct uargs *a = arg;
	struct userdb *u;
	struct buf err;
	int ret;

	buf_init(&err, 1024);
	u = open_userdb(a->cf, 0);
	ret = userdb_user_put(u, a->key, a->set, DICT_NEW, &err);
	close_userdb(&u);
	check(ret, &err, "user", a->key);
	printf("added user %s\n", a->key);
	buf_free(&err);
	return EX_OK;
}

static int
user_add(struct config *cf, const char *key)
{
	struct uargs a;
	struct buf home;
	struct rec r;

	buf_init(&home, 1024);
	rec_init(&r);
	memset(&a, 0, sizeof(a));
	a.cf = cf;
	a.key = key;
	a.set = &r;
	/* Say what is wrong before asking for a password. */
	if (opt.quota != NULL)
		(void)quota_arg(opt.quota);
	(void)db_run(cf, add_check_work, &a, NULL, NULL);
	set_password(&r, cf);
	rec_set_u64(&r, "quota", opt.quota ? quota_arg(opt.quota) :
	    config_num(cf, NULL, "default_quota"));
	rec_set_str(&r, "state", USER_ACTIVE);
	if (opt.name != NULL)
		rec_set_str(&r, "name", opt.name);
	rec_set_u64(&r, "created", (uint64_t)now_sec());
	userdb_home(key, &home);
	rec_set_str(&r, "home", buf_cstr(&home));
	(void)db_run(cf, add_put_work, &a, NULL, NULL);
	rec_free(&r);
	buf_free(&home);
	return EX_OK;
}

static int
change_work(void *arg)
{
	struct uargs *a = arg;

	user_change_db(a->cf, a->key, a->set);
	return EX_OK;
}

static void
user_passwd(struct config *cf, const char *key)
{
	struct uargs a;
	struct rec r, tmp;

	rec_init(&r);
	rec_init(&tmp);
	user_get(cf, key, &tmp);	/* fail before asking for a password */
	set_password(&r, cf);
	memset(&a, 0, sizeof(a));
	a.cf = cf;
	a.key = key;
	a.set = &r;
	(void)db_run(cf, change_work, &a, NULL, NULL);
	printf("changed the password of %s\n", key);
	rec_free(&r);
	rec_free(&tmp);
}

/* --- purge --------------------------------------------------------------- */

/* In a child as mail_user in mail_dir/DOMAIN: the user's directory
 * goes, a link in it removed and never followed. */
static int
rm_work(void *arg)
{
	const char *user = arg;

	if (store_rm_tree_at(AT_FDCWD, user) == -1 && errno != ENOENT)
		die(EX_FAIL, "removing %s: %s", user, strerror(errno));
	return EX_OK;
}

static int
del_work(void *arg)
{
	struct uargs *a = arg;
	struct userdb *u;
	struct buf err;
	int ret;

	buf_init(&err, 1024);
	u = open_userdb(a->cf, 0);
	ret = userdb_user_del(u, a->key, &err);
	close_userdb(&u);
	check(ret, &err, "user", a->key);
	buf_free(&err);
	return EX_OK;
}

/* Remove the user's mail, then the record. */
static void
user_purge_one(struct config *cf, const char *key, const struct rec *r)
{
	struct child c;
	struct uargs a;
	struct buf home, dom, err;
	const char *slash, *user;
	uid_t uid;
	gid_t gid;

	buf_init(&home, 4096);
	buf_init(&dom, 4096);
	buf_init(&err, 1024);
	user_home(key, rec_get_str(r, "home"), &home);
	/* DOMAIN/USER, each one name (home_open_dir checks DOMAIN) */
	if ((slash = strchr(buf_cstr(&home), '/')) == NULL ||
	    strchr(slash + 1, '/') != NULL || slash[1] == '\0' ||
	    strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0)
		die(EX_FAIL, "%s: unusable home \"%s\"", key,
		    buf_cstr(&home));
	user = slash + 1;
	buf_append(&dom, buf_cstr(&home), (size_t)(slash -
	    buf_cstr(&home)));
	mail_ids(cf, &uid, &gid);
	memset(&c, 0, sizeof(c));
	c.whom = AS_MAIL;
	if ((c.dirfd = home_open_dir(config_str(cf, NULL, "mail_dir"),
	    buf_cstr(&dom), uid, gid, &err)) == -1)
		die(EX_FAIL, "mail directory of %s: %s", key, buf_cstr(&err));
	c.fn = rm_work;
	c.arg = (void *)(uintptr_t)user;
	(void)child_run(cf, &c);
	close(c.dirfd);
	memset(&a, 0, sizeof(a));
	a.cf = cf;
	a.key = key;
	(void)db_run(cf, del_work, &a, NULL, NULL);
	printf("purged %s (mail in %s/%s removed)\n", key,
	    config_str(cf, NULL, "mail_dir"), esc(buf_cstr(&home)));
	buf_free(&home);
	buf_free(&dom);
	buf_free(&err);
}

struct expired {
	struct config *cf;
	uint64_t grace;
	char **keys;		/* the parent's: users to purge */
	char **homes;
	size_t n;
};

static int
collect_expired(const char *key, const struct rec *r, void *arg)
{
	struct expired *e = arg;
	struct rec t;
	uint64_t when;

	if (strcmp(state_of(r), USER_DELETED) == 0 &&
	    rec_get_u64(r, "deleted", &when) == 0 &&
	    when + e->grace <= (uint64_t)now_sec()) {
		rec_init(&t);
		rec_set_str(&t, "op", "user");
		rec_set_str(&t, "key", key);
		if (rec_get_str(r, "home") != NULL)
			rec_set_str(&t, "home", rec_get_str(r, "home"));
		child_tell(&t);
		rec_free(&t);
	}
	return 0;
}

static int
expired_work(void *arg)
{
	struct expired *e = arg;
	struct userdb *u;
	struct buf err;
	int ret;

	buf_init(&err, 1024);
	u = open_userdb(e->cf, 0);
	ret = userdb_iter(u, "users", NULL, collect_expired, e, &err);
	close_userdb(&u);
	check(ret, &err, "", "");
	buf_free(&err);
	return EX_OK;
}

static int
expired_serve(void *arg, const struct rec *req, struct rec *rep, int *fd)
{
	struct expired *e = arg;
	const char *key = rec_get_str(req, "key");

	(void)rep;
	(void)fd;
	if (strcmp(child_op(req), "user") != 0 || key == NULL ||
	    strchr(key, '@') == NULL)
		return -1;
	e->keys = xreallocarray(e->keys, e->n + 1, sizeof(char *));
	e->homes = xreallocarray(e->homes, e->n + 1, sizeof(char *));
	e->keys[e->n] = xstrdup(key);
	e->homes[e->n++] = rec_get_str(req, "home") ?
	    xstrdup(rec_get_str(req, "home")) : NULL;
	return 0;
}

static void
user_purge(struct config *cf, const char *key)
{
	struct expired e;
	struct rec r;
	size_t i;

	rec_init(&r);
	if (key != NULL) {
		user_get(cf, key, &r);
		if (strcmp(state_of(&r), USER_DELETED) != 0 && !opt.force)
			die(EX_FAIL, "%s is not deleted; \"chapar user del\" "
			    "it first, or use --force", key);
		user_purge_one(cf, key, &r);
		rec_free(&r);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.cf = cf;
	e.grace = config_num(cf, NULL, "user_delete_grace");
	(void)db_run(cf, expired_work, &e, expired_serve, &e);
	for (i = 0; i < e.n; i++) {
		rec_clear(&r);
		if (e.homes[i] != NULL)
			rec_set_str(&r, "home", e.homes[i]);
		user_purge_one(cf, e.keys[i], &r);
		free(e.keys[i]);
		free(e.homes[i]);
	}
	printf("%zu expired user%s purged\n", e.n, e.n == 1 ? "" : "s");
	free(e.keys);
	free(e.homes);
	rec_free(&r);
}

/* --- listing and the rest, in a child of db_run -------------------------- */

static const char *const user_hdr[] = { "ADDRESS", "STATE", "QUOTA", "NAME",
	"CREATED", "LAST-LOGIN", "HOME" };

static void
user_cells(const char *key, const struct rec *r, char bufs[3][32],
    const char **cells)
{
	fmt_quota(rec_get_str(r, "quota"), bufs[0], 32);
	fmt_time(rec_get_str(r, "created"), bufs[1], 32);
	fmt_time(rec_get_str(r, "last_login"), bufs[2], 32);
	cells[0] = key;
	cells[1] = state_of(r);
	cells[2] = bufs[0];
	cells[3] = rec_get_str(r, "name");
	cells[4] = bufs[1];
	cells[5] = bufs[2];
	cells[6] = rec_get_str(r, "home");
}

static int
user_row(const char *key, const struct rec *r, void *arg)
{
	char bufs[3][32];
	const char *cells[7];

	if (!opt.all && strcmp(state_of(r), USER_DELETED) == 0)
		return 0;
	user_cells(key, r, bufs, cells);
	table_row(arg, cells);
	return 0;
}

static void
user_list(struct config *cf, const char *domain)
{
	struct userdb *u;
	struct table *t;
	struct buf err;
	int r;

	buf_init(&err, 1024);
	t = table_new(7, user_hdr);
	u = open_userdb(cf, 0);
	r = userdb_iter(u, "users", domain, user_row, t, &err);
	close_userdb(&u);
	check(r, &err, "", "");
	table_print(t, opt.json);
	table_free(&t);
	buf_free(&err);
}

static void
user_show(struct config *cf, const char *key)
{
	char bufs[3][32];
	const char *cells[7];
	struct table *t;
	struct rec r;
	size_t i;

	rec_init(&r);
	user_get_db(cf, key, &r);
	user_cells(key, &r, bufs, cells);
	if (opt.json) {
		t = table_new(7, user_hdr);
		table_row(t, cells);
		table_print(t, 1);
		table_free(&t);
	} else {
		for (i = 0; i < 7; i++)
			printf("%-12s %s\n", user_hdr[i], cells[i] ?
			    esc(cells[i]) : "");
		printf("%-12s %s\n", "PASSWORD", rec_get(&r, "hash") ?
		    "set" : "none");
		printf("%-12s %s\n", "SCRAM", rec_get(&r, "scram") ?
		    "SCRAM-SHA-256 keys stored" : "none");
	}
	rec_free(&r);
}

static int
user_work(void *arg)
{
	struct uargs *a = arg;
	struct config *cf = a->cf;
	const char *sub = a->argv[1], *key = a->key;
	struct rec r, set;
	char q[32];

	rec_init(&r);
	rec_init(&set);
	if (strcmp(sub, "list") == 0)
		user_list(cf, key);
	else if (strcmp(sub, "show") == 0)
		user_show(cf, key);
	else if (strcmp(sub, "quota") == 0) {
		rec_set_u64(&set, "quota", quota_arg(a->argv[3]));
		user_change_db(cf, key, &set);
		printf("quota of %s set to %s\n", key, esc(a->argv[3]));
	} else if (strcmp(sub, "del") == 0) {
		user_get_db(cf, key, &r);
		if (strcmp(state_of(&r), USER_DELETED) == 0)
			die(EX_FAIL, "%s is already deleted", key);
		rec_set_u64(&set, "deleted", (uint64_t)now_sec());
		rec_set_str(&set, "state", USER_DELETED);
		user_change_db(cf, key, &set);
		fmt_duration(q, sizeof(q),
		    config_num(cf, NULL, "user_delete_grace"));
		printf("deleted %s; its mail is kept for %s (chapar user "
		    "restore brings it back)\n", key, q);
	} else if (strcmp(sub, "restore") == 0) {
		user_get_db(cf, key, &r);
		if (strcmp(state_of(&r), USER_DELETED) != 0)
			die(EX_FAIL, "%s is not deleted", key);
		rec_set_str(&set, "state", USER_ACTIVE);
		rec_set_str(&set, "deleted", "0");
		user_change_db(cf, key, &set);
		printf("restored %s\n", key);
	} else {
		user_get_db(cf, key, &r);
		if (strcmp(state_of(&r), USER_DELETED) == 0)
			die(EX_FAIL, "%s is deleted; restore it first", key);
		rec_set_str(&set, "state", sub[0] == 'd' ? USER_DISABLED :
		    USER_ACTIVE);
		user_change_db(cf, key, &set);
		printf("%sd %s\n", sub, key);
	}
	rec_free(&r);
	rec_free(&set);
	return EX_OK;
}

int
cmd_user(int argc, char **argv)
{
	struct uargs a;
	struct config *cf;
	struct buf key;
	const char *sub;

	if (argc < 2)
		usage();
	sub = argv[1];
	buf_init(&key, 1024);
	memset(&a, 0, sizeof(a));
	a.argc = argc;
	a.argv = argv;
	if (strcmp(sub, "list") == 0 && argc <= 3) {
		if (argc == 3)
			arg_domain(argv[2], &key);
		a.key = argc == 3 ? buf_cstr(&key) : NULL;
		a.cf = cf = load_config();
		(void)db_run(cf, user_work, &a, NULL, NULL);
		goto out;
	}
	if (strcmp(sub, "purge") == 0 && argc == 2 && opt.expired) {
		cf = load_config();
		user_purge(cf, NULL);
		goto out;
	}
	if (argc < 3)
		usage();
	if (!((argc == 3 && (strcmp(sub, "add") == 0 ||
	    strcmp(sub, "passwd") == 0 || strcmp(sub, "show") == 0 ||
	    strcmp(sub, "purge") == 0 || strcmp(sub, "del") == 0 ||
	    strcmp(sub, "restore") == 0 || strcmp(sub, "disable") == 0 ||
	    strcmp(sub, "enable") == 0)) ||
	    (argc == 4 && strcmp(sub, "quota") == 0)))
		usage();
	arg_key(argv[2], 0, &key);
	if (strcmp(sub, "quota") == 0)
		(void)quota_arg(argv[3]);
	cf = load_config();
	a.cf = cf;
	a.key = buf_cstr(&key);
	if (strcmp(sub, "add") == 0)
		user_add(cf, a.key);
	else if (strcmp(sub, "passwd") == 0)
		user_passwd(cf, a.key);
	else if (strcmp(sub, "purge") == 0)
		user_purge(cf, a.key);
	else
		(void)db_run(cf, user_work, &a, NULL, NULL);
out:
	config_free(&cf);
	buf_free(&key);
	return EX_OK;
}
