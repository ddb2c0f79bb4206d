/*
 * users.c: "chapar domain", "chapar user" and "chapar alias".
 */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/addr.h"
#include "chapar/dict.h"
#include "chapar/log.h"
#include "chapar/passwd.h"
#include "chapar/util.h"

/* Map a userdb result to a message and an exit code. */
static int
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
domain_quota(struct config *cf, const char *dom, const char *size)
{
	struct userdb *u;
	struct buf err;
	struct rec r;
	uint64_t q = quota_arg(size);
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
	printf("quota of domain %s set to %s\n", dom, size);
	rec_free(&r);
	buf_free(&err);
}

int
cmd_domain(int argc, char **argv)
{
	static const char *const hdr[] = { "DOMAIN", "CREATED", "QUOTA" };
	struct config *cf;
	struct userdb *u;
	struct buf dom, err;
	struct table *t;
	int r;

	if (argc < 2)
		usage();
	buf_init(&dom, 1024);
	buf_init(&err, 1024);
	cf = load_config();
	if (strcmp(argv[1], "list") == 0 && argc == 2) {
		t = table_new(3, hdr);
		u = open_userdb(cf, 0);
		r = userdb_iter(u, "domains", NULL, domain_row, t, &err);
		close_userdb(&u);
		check(r, &err, "", "");
		table_print(t, opt.json);
		table_free(&t);
	} else if (strcmp(argv[1], "add") == 0 && argc == 3) {
		arg_domain(argv[2], &dom);
		u = open_userdb(cf, 0);
		r = userdb_domain_add(u, buf_cstr(&dom), &err);
		close_userdb(&u);
		check(r, &err, "domain", buf_cstr(&dom));
		printf("added domain %s\n", buf_cstr(&dom));
	} else if (strcmp(argv[1], "quota") == 0 && argc == 4) {
		arg_domain(argv[2], &dom);
		domain_quota(cf, buf_cstr(&dom), argv[3]);
	} else if (strcmp(argv[1], "del") == 0 && argc == 3) {
		arg_domain(argv[2], &dom);
		u = open_userdb(cf, 0);
		r = userdb_domain_del(u, buf_cstr(&dom), &err);
		close_userdb(&u);
		if (r == DICT_NOTFOUND && err.len == 0)
			buf_printf(&err, "no such domain: %s",
			    buf_cstr(&dom));
		check(r, &err, "domain", buf_cstr(&dom));
		printf("deleted domain %s\n", buf_cstr(&dom));
	} else
		usage();
	config_free(&cf);
	buf_free(&dom);
	buf_free(&err);
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

static int
user_add(struct config *cf, const char *key)
{
	struct userdb *u;
	struct buf err, home;
	struct rec r;
	int ret;

	buf_init(&err, 1024);
	buf_init(&home, 1024);
	rec_init(&r);
	/* Say what is wrong before asking for a password. */
	if (opt.quota != NULL)
		(void)quota_arg(opt.quota);
	u = open_userdb(cf, 0);
	ret = userdb_domain_get(u, strrchr(key, '@') + 1, &r, &err);
	if (ret == DICT_OK) {
		ret = userdb_user_get(u, key, &r, &err);
		if (ret == DICT_OK)
			ret = DICT_EXISTS;
		else if (ret == DICT_NOTFOUND)
			ret = DICT_OK;
	}
	close_userdb(&u);
	if (ret == DICT_NOTFOUND)
		die(EX_FAIL, "no such domain: %s (add it with \"chapar domain "
		    "add\")", strrchr(key, '@') + 1);
	check(ret, &err, "user", key);
	rec_clear(&r);
	set_password(&r, cf);
	rec_set_u64(&r, "quota", opt.quota ? quota_arg(opt.quota) :
	    config_num(cf, NULL, "default_quota"));
	rec_set_str(&r, "state", USER_ACTIVE);
	if (opt.name != NULL)
		rec_set_str(&r, "name", opt.name);
	rec_set_u64(&r, "created", (uint64_t)now_sec());
	userdb_home(key, &home);
	rec_set_str(&r, "home", buf_cstr(&home));
	u = open_userdb(cf, 0);
	ret = userdb_user_put(u, key, &r, DICT_NEW, &err);
	close_userdb(&u);
	check(ret, &err, "user", key);
	printf("added user %s\n", key);
	rec_free(&r);
	buf_free(&err);
	buf_free(&home);
	return EX_OK;
}

/* Change fields of one user atomically, for passwd/del/restore/quota/...
 * The record holds the fields to set. */
static void
user_change(struct config *cf, const char *key, const struct rec *set)
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

static void
user_get(struct config *cf, const char *key, struct rec *r)
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

static const char *
state_of(const struct rec *r)
{
	const char *s = rec_get_str(r, "state");

	return s != NULL ? s : USER_ACTIVE;
}

static void
user_passwd(struct config *cf, const char *key)
{
	struct rec r, tmp;

	rec_init(&r);
	rec_init(&tmp);
	user_get(cf, key, &tmp);	/* fail before asking for a password */
	set_password(&r, cf);
	user_change(cf, key, &r);
	printf("changed the password of %s\n", key);
	rec_free(&r);
	rec_free(&tmp);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP || flag == FTW_D)
		return rmdir(path) == -1 && errno != ENOENT ? -1 : 0;
	return unlink(path) == -1 && errno != ENOENT ? -1 : 0;
}

/* Remove the user's mail, then the record. */
static void
user_purge_one(struct config *cf, const char *key, const struct rec *r)
{
	struct userdb *u;
	struct buf path, err, home;
	const char *h = rec_get_str(r, "home");
	int ret;

	buf_init(&path, 4096);
	buf_init(&err, 1024);
	buf_init(&home, 1024);
	if (h == NULL || h[0] == '/' || strstr(h, "..") != NULL) {
		userdb_home(key, &home);
		h = buf_cstr(&home);
	}
	buf_printf(&path, "%s/%s", config_str(cf, NULL, "mail_dir"), h);
	if (nftw(buf_cstr(&path), rm_one, 32, FTW_DEPTH | FTW_PHYS) == -1 &&
	    errno != ENOENT)
		die(EX_FAIL, "removing %s: %s", buf_cstr(&path),
		    strerror(errno));
	u = open_userdb(cf, 0);
	ret = userdb_user_del(u, key, &err);
	close_userdb(&u);
	check(ret, &err, "user", key);
	printf("purged %s (mail in %s removed)\n", key, buf_cstr(&path));
	buf_free(&path);
	buf_free(&err);
	buf_free(&home);
}

struct expired {
	uint64_t grace;
	struct rec keys;	/* key=... of users to purge */
};

static int
collect_expired(const char *key, const struct rec *r, void *arg)
{
	struct expired *e = arg;
	uint64_t when;

	if (strcmp(state_of(r), USER_DELETED) == 0 &&
	    rec_get_u64(r, "deleted", &when) == 0 &&
	    when + e->grace <= (uint64_t)now_sec())
		rec_add(&e->keys, "key", sv_from(key));
	return 0;
}

static void
user_purge(struct config *cf, const char *key)
{
	struct expired e;
	struct userdb *u;
	struct buf err;
	struct rec r;
	size_t i;
	int ret;

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
	buf_init(&err, 1024);
	e.grace = config_num(cf, NULL, "user_delete_grace");
	rec_init(&e.keys);
	u = open_userdb(cf, 0);
	ret = userdb_iter(u, "users", NULL, collect_expired, &e, &err);
	close_userdb(&u);
	check(ret, &err, "", "");
	for (i = 0; i < e.keys.n; i++) {
		user_get(cf, buf_cstr(&e.keys.vals[i]), &r);
		user_purge_one(cf, buf_cstr(&e.keys.vals[i]), &r);
	}
	printf("%zu expired user%s purged\n", e.keys.n,
	    e.keys.n == 1 ? "" : "s");
	rec_free(&e.keys);
	rec_free(&r);
	buf_free(&err);
}

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
	struct buf dom, err;
	int r;

	buf_init(&dom, 1024);
	buf_init(&err, 1024);
	if (domain != NULL)
		arg_domain(domain, &dom);
	t = table_new(7, user_hdr);
	u = open_userdb(cf, 0);
	r = userdb_iter(u, "users", domain ? buf_cstr(&dom) : NULL, user_row,
	    t, &err);
	close_userdb(&u);
	check(r, &err, "", "");
	table_print(t, opt.json);
	table_free(&t);
	buf_free(&dom);
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
	user_get(cf, key, &r);
	user_cells(key, &r, bufs, cells);
	if (opt.json) {
		t = table_new(7, user_hdr);
		table_row(t, cells);
		table_print(t, 1);
		table_free(&t);
	} else {
		for (i = 0; i < 7; i++)
			printf("%-12s %s\n", user_hdr[i], cells[i] ?
			    cells[i] : "");
		printf("%-12s %s\n", "PASSWORD", rec_get(&r, "hash") ?
		    "set" : "none");
		printf("%-12s %s\n", "SCRAM", rec_get(&r, "scram") ?
		    "SCRAM-SHA-256 keys stored" : "none");
	}
	rec_free(&r);
}

int
cmd_user(int argc, char **argv)
{
	struct config *cf;
	struct buf key;
	struct rec r, set;
	char q[32];
	const char *sub;

	if (argc < 2)
		usage();
	sub = argv[1];
	buf_init(&key, 1024);
	rec_init(&r);
	rec_init(&set);
	cf = load_config();
	if (strcmp(sub, "list") == 0 && argc <= 3) {
		user_list(cf, argc == 3 ? argv[2] : NULL);
		goto out;
	}
	if (strcmp(sub, "purge") == 0 && argc == 2 && opt.expired) {
		user_purge(cf, NULL);
		goto out;
	}
	if (argc < 3)
		usage();
	arg_key(argv[2], 0, &key);
	if (strcmp(sub, "add") == 0 && argc == 3)
		user_add(cf, buf_cstr(&key));
	else if (strcmp(sub, "passwd") == 0 && argc == 3)
		user_passwd(cf, buf_cstr(&key));
	else if (strcmp(sub, "show") == 0 && argc == 3)
		user_show(cf, buf_cstr(&key));
	else if (strcmp(sub, "purge") == 0 && argc == 3)
		user_purge(cf, buf_cstr(&key));
	else if (strcmp(sub, "quota") == 0 && argc == 4) {
		rec_set_u64(&set, "quota", quota_arg(argv[3]));
		user_change(cf, buf_cstr(&key), &set);
		printf("quota of %s set to %s\n", buf_cstr(&key), argv[3]);
	} else if (strcmp(sub, "del") == 0 && argc == 3) {
		user_get(cf, buf_cstr(&key), &r);
		if (strcmp(state_of(&r), USER_DELETED) == 0)
			die(EX_FAIL, "%s is already deleted", buf_cstr(&key));
		rec_set_u64(&set, "deleted", (uint64_t)now_sec());
		rec_set_str(&set, "state", USER_DELETED);
		user_change(cf, buf_cstr(&key), &set);
		fmt_duration(q, sizeof(q),
		    config_num(cf, NULL, "user_delete_grace"));
		printf("deleted %s; its mail is kept for %s (chapar user "
		    "restore brings it back)\n", buf_cstr(&key), q);
	} else if (strcmp(sub, "restore") == 0 && argc == 3) {
		user_get(cf, buf_cstr(&key), &r);
		if (strcmp(state_of(&r), USER_DELETED) != 0)
			die(EX_FAIL, "%s is not deleted", buf_cstr(&key));
		rec_set_str(&set, "state", USER_ACTIVE);
		rec_set_str(&set, "deleted", "0");
		user_change(cf, buf_cstr(&key), &set);
		printf("restored %s\n", buf_cstr(&key));
	} else if ((strcmp(sub, "disable") == 0 ||
	    strcmp(sub, "enable") == 0) && argc == 3) {
		user_get(cf, buf_cstr(&key), &r);
		if (strcmp(state_of(&r), USER_DELETED) == 0)
			die(EX_FAIL, "%s is deleted; restore it first",
			    buf_cstr(&key));
		rec_set_str(&set, "state", sub[0] == 'd' ? USER_DISABLED :
		    USER_ACTIVE);
		user_change(cf, buf_cstr(&key), &set);
		printf("%sd %s\n", sub, buf_cstr(&key));
	} else
		usage();
out:
	config_free(&cf);
	buf_free(&key);
	rec_free(&r);
	rec_free(&set);
	return EX_OK;
}

/* --- aliases ------------------------------------------------------------- */

static int
alias_row(const char *key, const struct rec *r, void *arg)
{
	struct buf dests;
	const char *cells[2];
	size_t i;

	buf_init(&dests, 0);
	for (i = 0; i < r->n; i++)
		if (strcmp(r->names[i], "dest") == 0) {
			if (dests.len)
				buf_puts(&dests, ", ");
			buf_append(&dests, r->vals[i].data,
			    r->vals[i].len);
		}
	cells[0] = key;
	cells[1] = buf_cstr(&dests);
	table_row(arg, cells);
	buf_free(&dests);
	return 0;
}

/* The look-up key of a destination; one that no longer parses (stored by
 * an older version) is its own key, so that it can still be removed. */
static void
dest_key(const char *d, struct buf *key)
{
	struct addr a;
	const char *err;

	buf_reset(key);
	addr_init(&a);
	if (addr_parse(sv_from(d), ADDR_UTF8, &a, &err) == 0)
		addr_key(&a, key);
	else
		buf_puts(key, d);
	addr_free(&a);
}

/* Index of the destination with the same look-up key as d, or -1.
 * (Bob@Example.org and bob@example.org are one destination.) */
static int
find_dest(const struct rec *r, const char *d)
{
	struct buf want, have;
	size_t i;
	int found = -1;

	buf_init(&want, 1024);
	buf_init(&have, 1024);
	dest_key(d, &want);
	for (i = 0; i < r->n && found < 0; i++) {
		if (strcmp(r->names[i], "dest") != 0)
			continue;
		dest_key(buf_cstr(&r->vals[i]), &have);
		if (sv_eq(buf_sv(&want), buf_sv(&have)))
			found = (int)i;
	}
	buf_free(&want);
	buf_free(&have);
	return found;
}

/* A destination as stored: canonical form (domain folded, A-labels), the
 * local part as written. */
static void
dest_arg(const char *arg, struct buf *out)
{
	struct addr a;
	const char *err;

	addr_init(&a);
	if (addr_parse(sv_from(arg), ADDR_UTF8, &a, &err) == -1)
		die(EX_USAGE, "%s: not a valid address: %s", log_esc_str(arg),
		    err);
	buf_reset(out);
	addr_format(&a, out);
	addr_free(&a);
}

static void
alias_edit(struct config *cf, const char *key, int add, int argc,
    char **argv)
{
	struct userdb *u;
	struct buf err, d;
	struct rec r;
	int i, ret;

	buf_init(&err, 1024);
	buf_init(&d, 1024);
	rec_init(&r);
	u = open_userdb(cf, 0);
	ret = userdb_alias_get(u, key, &r, &err);
	if (ret != DICT_OK && ret != DICT_NOTFOUND)
		check(ret, &err, "alias", key);
	if (!add && ret == DICT_NOTFOUND)
		die(EX_FAIL, "no such alias: %s", key);
	for (i = 0; i < argc; i++) {
		int j;

		if (add)
			dest_arg(argv[i], &d);
		else	/* removal also takes destinations that no longer
			 * parse, as written */
			buf_set(&d, argv[i], strlen(argv[i]));
		j = find_dest(&r, buf_cstr(&d));
		if (add && j < 0)
			rec_add(&r, "dest", buf_sv(&d));
		else if (!add) {
			if (j < 0)
				die(EX_FAIL, "%s is not a destination of %s",
				    log_esc_str(buf_cstr(&d)), key);
			buf_set(&r.vals[j], "", 0);
		}
	}
	if (!add) {
		/* drop emptied destinations */
		struct rec keep;
		size_t j;

		rec_init(&keep);
		for (j = 0; j < r.n; j++)
			if (r.vals[j].len > 0)
				rec_add(&keep, r.names[j], buf_sv(&r.vals[j]));
		rec_free(&r);
		r = keep;
	}
	if (add && r.n > USERDB_ALIAS_MAX)
		die(EX_FAIL, "%s would have %zu destinations; at most %d are "
		    "allowed", key, r.n, USERDB_ALIAS_MAX);
	if (!add && (argc == 0 || rec_get(&r, "dest") == NULL))
		ret = userdb_alias_del(u, key, &err);
	else
		ret = userdb_alias_put(u, key, &r, &err);
	close_userdb(&u);
	check(ret, &err, "alias", key);
	printf("%s alias %s\n", add ? "updated" : argc == 0 ||
	    rec_get(&r, "dest") == NULL ? "deleted" : "updated", key);
	rec_free(&r);
	buf_free(&err);
	buf_free(&d);
}

int
cmd_alias(int argc, char **argv)
{
	static const char *const hdr[] = { "ALIAS", "DESTINATIONS" };
	struct config *cf;
	struct userdb *u;
	struct table *t;
	struct buf key, err;
	int r;

	if (argc < 2)
		usage();
	buf_init(&key, 1024);
	buf_init(&err, 1024);
	cf = load_config();
	if (strcmp(argv[1], "list") == 0 && argc <= 3) {
		if (argc == 3)
			arg_domain(argv[2], &key);
		t = table_new(2, hdr);
		u = open_userdb(cf, 0);
		r = userdb_iter(u, "aliases", argc == 3 ? buf_cstr(&key) :
		    NULL, alias_row, t, &err);
		close_userdb(&u);
		check(r, &err, "", "");
		table_print(t, opt.json);
		table_free(&t);
	} else if (strcmp(argv[1], "add") == 0 && argc >= 4) {
		arg_key(argv[2], 1, &key);
		alias_edit(cf, buf_cstr(&key), 1, argc - 3, argv + 3);
	} else if (strcmp(argv[1], "del") == 0 && argc >= 3) {
		arg_key(argv[2], 1, &key);
		alias_edit(cf, buf_cstr(&key), 0, argc - 3, argv + 3);
	} else
		usage();
	config_free(&cf);
	buf_free(&key);
	buf_free(&err);
	return EX_OK;
}
