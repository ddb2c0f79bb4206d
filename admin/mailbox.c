/*
 * mailbox.c: chapar mailbox, reindex and quota -- a user's store seen
 * from the admin command.
 *
 * The store belongs to mail_user: run by root, chapar works in it with
 * mail_user's effective ids (as_mail) and takes root's back only to open
 * the admin's own files (import and export sources and targets).
 */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "chapar/dict.h"
#include "chapar/domusage.h"
#include "chapar/home.h"
#include "chapar/log.h"
#include "chapar/priv.h"
#include "chapar/store.h"
#include "chapar/util.h"

static uid_t mail_uid;
static gid_t mail_gid;
static int switching;		/* root, working as mail_user */

void
as_mail(void)
{
	if (switching && (setegid(mail_gid) == -1 || seteuid(mail_uid) == -1))
		die(EX_FAIL, "cannot become the mail user: %s",
		    strerror(errno));
}

void
as_root(void)
{
	if (switching && (seteuid(0) == -1 || setegid(0) == -1))
		die(EX_FAIL, "cannot get root back: %s", strerror(errno));
}

/* The mail user's ids (the process's own when not root). */
static void
mail_ids(struct config *cf)
{
	struct buf err;

	if (geteuid() != 0 || switching) {
		if (!switching) {
			mail_uid = geteuid();
			mail_gid = getegid();
		}
		return;
	}
	buf_init(&err, 1024);
	if (priv_lookup(config_str(cf, NULL, "mail_user"), &mail_uid,
	    &mail_gid, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	buf_free(&err);
	switching = 1;
}

/*
 * The store of the user named by arg: looked up in the user database,
 * its directory made if missing.  Leaves the process working as the mail
 * user.
 */
struct store *
user_store(struct config *cf, const char *arg, struct buf *key,
    uint64_t *quota)
{
	struct userdb *u;
	struct store_opts o;
	struct store *st;
	struct buf err, home, path;
	struct rec r;
	const char *h;
	int ret, fd;

	buf_init(&err, 4096);
	buf_init(&home, 1024);
	buf_init(&path, 4096);
	rec_init(&r);
	arg_key(arg, 0, key);
	u = open_userdb(cf, 0);
	ret = userdb_user_get(u, buf_cstr(key), &r, &err);
	close_userdb(&u);
	if (ret == DICT_NOTFOUND)
		die(EX_FAIL, "no such user: %s", buf_cstr(key));
	if (ret != DICT_OK)
		die(EX_TEMP, "user database: %s", buf_cstr(&err));
	h = rec_get_str(&r, "home");
	if (h == NULL || h[0] == '/' || strstr(h, "..") != NULL) {
		userdb_home(buf_cstr(key), &home);
		h = buf_cstr(&home);
	}
	memset(&o, 0, sizeof(o));
	if (rec_get_u64(&r, "quota", &o.quota_bytes) == -1)
		o.quota_bytes = 0;
	o.quota_messages = config_num(cf, NULL, "quota_messages");
	if (quota != NULL)
		*quota = o.quota_bytes;
	mail_ids(cf);
	fd = home_open(config_str(cf, NULL, "mail_dir"), h, mail_uid,
	    mail_gid, &err);
	if (fd == -1)
		die(EX_FAIL, "mail directory of %s: %s", buf_cstr(key),
		    buf_cstr(&err));
	close(fd);
	buf_printf(&path, "%s/%s", config_str(cf, NULL, "mail_dir"), h);
	as_mail();
	if (store_open(buf_cstr(&path), &o, &st, &err) == -1)
		die(EX_FAIL, "store of %s: %s", buf_cstr(key), buf_cstr(&err));
	rec_free(&r);
	buf_free(&err);
	buf_free(&home);
	buf_free(&path);
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

int
cmd_mailbox(int argc, char **argv)
{
	static const char *const hdr[] = { "folder", "messages", "unseen",
		"bytes", "special", "subscribed" };
	const char *sub = argc > 1 ? argv[1] : "";
	struct config *cf;
	struct store *st;
	struct table *t;
	struct buf key, err;
	int r = 0, i;

	if (!(strcmp(sub, "list") == 0 && argc == 3) &&
	    !(strcmp(sub, "create") == 0 && (argc == 4 || argc == 5)) &&
	    !(strcmp(sub, "delete") == 0 && argc == 4) &&
	    !(strcmp(sub, "rename") == 0 && argc == 5))
		usage();
	cf = load_config();
	buf_init(&key, 1024);
	buf_init(&err, 4096);
	st = user_store(cf, argv[2], &key, NULL);
	if (strcmp(sub, "list") == 0) {
		t = table_new(6, hdr);
		if (store_folders(st, list_row, t, &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
		table_print(t, opt.json);
		table_free(&t);
	} else if (strcmp(sub, "create") == 0) {
		if (argc == 5) {
			for (i = 0; special_uses[i] != NULL &&
			    strcasecmp(special_uses[i], argv[4]) != 0; i++)
				;
			if (special_uses[i] == NULL)
				die(EX_USAGE, "%s: not a special use (\\Drafts, "
				    "\\Sent, \\Junk, \\Trash or \\Archive)",
				    log_esc_str(argv[4]));
		}
		r = store_folder_create(st, argv[3], argc == 5 ? argv[4] :
		    NULL, &err);
		fail_store(r, argv[3], &err);
		printf("created %s for %s\n", esc(argv[3]), esc(buf_cstr(&key)));
	} else if (strcmp(sub, "delete") == 0) {
		fail_store(store_folder_delete(st, argv[3], &err), argv[3],
		    &err);
		printf("deleted %s of %s\n", esc(argv[3]), esc(buf_cstr(&key)));
	} else {
		fail_store(store_folder_rename(st, argv[3], argv[4], &err),
		    argv[3], &err);
		printf("renamed %s to %s for %s\n", esc(argv[3]),
		    esc(argv[4]), esc(buf_cstr(&key)));
	}
	store_close(&st);
	as_root();
	config_free(&cf);
	buf_free(&key);
	buf_free(&err);
	return r == 0 ? EX_OK : EX_FAIL;
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

/* chapar reindex USER [FOLDER] [--force]: bring the index in line with
 * the maildir; --force builds it anew. */
int
cmd_reindex(int argc, char **argv)
{
	struct config *cf;
	struct store *st;
	struct names nm;
	struct buf key, err, path;
	size_t i;

	if (argc != 2 && argc != 3)
		usage();
	cf = load_config();
	buf_init(&key, 1024);
	buf_init(&err, 4096);
	buf_init(&path, 4096);
	st = user_store(cf, argv[1], &key, NULL);
	if (opt.force) {
		/* the index goes aside; store_open builds a new one */
		buf_puts(&path, store_home(st));
		store_close(&st);
		if (store_index_reset(buf_cstr(&path), &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
		if (store_open(buf_cstr(&path), NULL, &st, &err) == -1)
			die(EX_FAIL, "%s", buf_cstr(&err));
	}
	memset(&nm, 0, sizeof(nm));
	if (argc == 3)
		resync_one(st, argv[2]);
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
	as_root();
	config_free(&cf);
	buf_free(&key);
	buf_free(&err);
	buf_free(&path);
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

/* --- a domain's quota ---------------------------------------------------- */

struct keys {
	char **v;
	size_t n;
};

static int
add_key(const char *key, const struct rec *r, void *arg)
{
	struct keys *k = arg;

	(void)r;
	k->v = xreallocarray(k->v, k->n + 1, sizeof(char *));
	k->v[k->n++] = xstrdup(key);
	return 0;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)f;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
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
	struct userdb *u;
	struct domusage *du;
	struct store *st;
	struct keys k;
	struct table *t;
	struct buf dom, err, dir, key;
	struct rec r;
	uint64_t q = 0, bytes, msgs;
	size_t i;
	int ret;

	buf_init(&dom, 1024);
	buf_init(&err, 1024);
	buf_init(&dir, 4096);
	buf_init(&key, 1024);
	rec_init(&r);
	memset(&k, 0, sizeof(k));
	arg_domain(arg, &dom);
	u = open_userdb(cf, 0);
	ret = userdb_domain_get(u, buf_cstr(&dom), &r, &err);
	if (ret == DICT_OK && strcmp(verb, "recalc") == 0)
		ret = userdb_iter(u, "users", buf_cstr(&dom), add_key, &k,
		    &err);
	close_userdb(&u);
	if (ret == DICT_NOTFOUND)
		die(EX_FAIL, "no such domain: %s", buf_cstr(&dom));
	if (ret != DICT_OK)
		die(EX_TEMP, "user database: %s", buf_cstr(&err));
	(void)rec_get_u64(&r, "quota", &q);
	/* the domain's directory, as userdb_home names it */
	userdb_home(buf_cstr(&dom), &key);
	buf_printf(&dir, "%s/%s", config_str(cf, NULL, "mail_dir"),
	    buf_cstr(&key));
	mail_ids(cf);
	if (strcmp(verb, "recalc") == 0) {
		as_mail();
		buf_puts(&dir, "/.usage");
		if (nftw(buf_cstr(&dir), rm_one, 16, FTW_DEPTH | FTW_PHYS) ==
		    -1 && errno != ENOENT)
			die(EX_FAIL, "%s: %s", buf_cstr(&dir), strerror(errno));
		dir.len -= 7;
		dir.data[dir.len] = '\0';
		as_root();
		for (i = 0; i < k.n; i++) {
			st = user_store(cf, k.v[i], &key, NULL);
			if (store_usage(st, &bytes, &msgs, &err) == -1)
				die(EX_FAIL, "%s: %s", k.v[i], buf_cstr(&err));
			store_close(&st);
			userdb_home(k.v[i], &key);
			if (domusage_open(buf_cstr(&dir), &du, &err) == -1 ||
			    domusage_report(du, strchr(buf_cstr(&key), '/') +
			    1, bytes, msgs, &err) == -1)
				die(EX_FAIL, "%s", buf_cstr(&err));
			domusage_close(&du);
			as_root();
			free(k.v[i]);
		}
		free(k.v);
	}
	as_mail();
	if (mkdir(buf_cstr(&dir), 0700) == -1 && errno != EEXIST)
		die(EX_FAIL, "%s: %s", buf_cstr(&dir), strerror(errno));
	if (domusage_open(buf_cstr(&dir), &du, &err) == -1 ||
	    domusage_total(du, &bytes, &msgs, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	domusage_close(&du);
	as_root();
	(void)xsnprintf(c[0], 32, "%llu", (unsigned long long)bytes);
	(void)xsnprintf(c[1], 32, "%llu", (unsigned long long)q);
	pct(c[2], 32, bytes, q);
	(void)xsnprintf(c[3], 32, "%llu", (unsigned long long)msgs);
	cells[0] = buf_cstr(&dom);
	cells[1] = c[0];
	cells[2] = c[1];
	cells[3] = c[2];
	cells[4] = c[3];
	t = table_new(5, hdr);
	table_row(t, cells);
	table_print(t, opt.json);
	table_free(&t);
	rec_free(&r);
	buf_free(&dom);
	buf_free(&err);
	buf_free(&dir);
	buf_free(&key);
	return EX_OK;
}

int
cmd_quota(int argc, char **argv)
{
	static const char *const hdr[] = { "user", "bytes", "bytes_limit",
		"bytes_used", "messages", "messages_limit", "messages_used" };
	const char *cells[7];
	char c[6][32];
	struct config *cf;
	struct store *st;
	struct table *t;
	struct buf key, err;
	uint64_t bytes, msgs, quota, qm;
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
	buf_init(&key, 1024);
	buf_init(&err, 4096);
	st = user_store(cf, argv[2], &key, &quota);
	if (strcmp(argv[1], "recalc") == 0 &&
	    store_usage_recalc(st, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	if (store_usage(st, &bytes, &msgs, &err) == -1)
		die(EX_FAIL, "%s", buf_cstr(&err));
	qm = config_num(cf, NULL, "quota_messages");
	(void)xsnprintf(c[0], 32, "%llu", (unsigned long long)bytes);
	(void)xsnprintf(c[1], 32, "%llu", (unsigned long long)quota);
	pct(c[2], 32, bytes, quota);
	(void)xsnprintf(c[3], 32, "%llu", (unsigned long long)msgs);
	(void)xsnprintf(c[4], 32, "%llu", (unsigned long long)qm);
	pct(c[5], 32, msgs, qm);
	cells[0] = buf_cstr(&key);
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
	store_close(&st);
	as_root();
	config_free(&cf);
	buf_free(&key);
	buf_free(&err);
	return EX_OK;
}
