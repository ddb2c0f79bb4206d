/*
 * userdb.c: domains, users and aliases on the dict interface.
 *
 * Inside the databases a key is "domain NUL local" so that one domain's
 * users and aliases are a prefix range (listing a domain never scans the
 * whole table, which matters with millions of users).  Callers see the
 * usual "local@domain" form.  Trusts its callers (authd, chapar) but not
 * the record contents, which are decoded strictly.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/dict.h"
#include "chapar/log.h"
#include "chapar/userdb.h"
#include "chapar/util.h"

#define KEY_MAX 1024

struct userdb {
	struct dict_env *env;
	struct dict *domains, *users, *aliases;
};

/* An error message in the caller's err, which the caller sized: names
 * in it come from the caller or the database, so a message that does not
 * fit is cut, never a reason to abort. */
static void __attribute__((format(printf, 2, 3)))
errf(struct buf *err, const char *fmt, ...)
{
	char cut[256];
	va_list ap;
	int r;

	buf_reset(err);
	va_start(ap, fmt);
	r = buf_try_vprintf(err, fmt, ap);
	va_end(ap);
	if (r == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(cut, sizeof(cut), fmt, ap);	/* cut on purpose */
	va_end(ap);
	if (buf_try_puts(err, cut) == -1)
		buf_reset(err);		/* err cannot even hold that */
}

int
userdb_open(const struct config *cf, int create, struct userdb **up,
    struct buf *err)
{
	return userdb_open_dir(config_str(cf, NULL, "db_dir"), create, up,
	    err);
}

int
userdb_open_dir(const char *dir, int create, struct userdb **up,
    struct buf *err)
{
	struct userdb *u = xcalloc(1, sizeof(*u));

	*up = NULL;
	if (create && mkdir_p(dir, 0700) == -1) {
		errf(err, "%s: cannot create: %s", dir, strerror(errno));
		free(u);
		return -1;
	}
	if (dict_env_open(dir, create, &u->env, err) != 0 ||
	    dict_open(u->env, "domains.db", create, &u->domains, err) != 0 ||
	    dict_open(u->env, "users.db", create, &u->users, err) != 0 ||
	    dict_open(u->env, "aliases.db", create, &u->aliases, err) != 0) {
		userdb_close(&u);
		return -1;
	}
	*up = u;
	return 0;
}

void
userdb_close(struct userdb **up)
{
	struct userdb *u = *up;

	if (u == NULL)
		return;
	dict_close(&u->domains);
	dict_close(&u->users);
	dict_close(&u->aliases);
	dict_env_close(&u->env);
	free(u);
	*up = NULL;
}

/* "local@domain" -> "domain\0local"; "@domain" is the catch-all. */
static int
db_key(const char *key, struct buf *out)
{
	const char *at = strrchr(key, '@');

	buf_reset(out);
	if (at == NULL || at[1] == '\0')
		return -1;
	if (buf_try_puts(out, at + 1) == -1 || buf_try_putc(out, '\0') == -1 ||
	    buf_try_append(out, key, (size_t)(at - key)) == -1)
		return -1;
	return 0;
}

/* "domain\0local" -> "local@domain" */
static void
user_key(struct sv k, struct buf *out)
{
	const char *nul = memchr(k.p, '\0', k.n);

	buf_reset(out);
	if (nul == NULL) {
		buf_append(out, k.p, k.n);
		return;
	}
	buf_append(out, nul + 1, k.n - (size_t)(nul - k.p) - 1);
	buf_putc(out, '@');
	buf_append(out, k.p, (size_t)(nul - k.p));
}

static struct dict *
table(struct userdb *u, const char *name)
{
	if (strcmp(name, "domains") == 0)
		return u->domains;
	if (strcmp(name, "users") == 0)
		return u->users;
	if (strcmp(name, "aliases") == 0)
		return u->aliases;
	log_panic("userdb: no table %s", name);
}

/* --- single-record operations in a transaction --------------------------- */

struct op {
	struct userdb *u;
	struct dict *d;
	struct sv key;
	const struct rec *in;
	struct rec *out;
	int flags;
	enum { OP_GET, OP_PUT, OP_DEL, OP_USER_ADD, OP_DOMAIN_DEL,
		OP_UPDATE } kind;
	const struct rec *set;	/* OP_UPDATE */
	struct buf *err;
};

static int
decode_into(struct buf *val, struct rec *out, struct buf *err)
{
	if (rec_decode(buf_sv(val), out) == -1) {
		errf(err, "corrupt record in the user database");
		return DICT_ERROR;
	}
	return DICT_OK;
}

/* Count keys of one domain in a table (stops at the first). */
static int
count_one(struct sv k, struct sv v, void *arg)
{
	(void)k;
	(void)v;
	(*(int *)arg)++;
	return 1;
}

static int
domain_in_use(struct op *o, struct dict_txn *t, int *inuse)
{
	struct buf prefix;
	int r;

	buf_init(&prefix, 0);	/* the caller's domain, of any length */
	buf_append(&prefix, o->key.p, o->key.n);
	buf_putc(&prefix, '\0');
	*inuse = 0;
	r = dict_scan(o->u->users, t, buf_sv(&prefix), count_one, inuse);
	if (r >= 0 && r != DICT_OK && r != 1)
		r = DICT_ERROR;
	if (r == DICT_OK || r == 1)
		r = dict_scan(o->u->aliases, t, buf_sv(&prefix), count_one,
		    inuse);
	buf_free(&prefix);
	return r == 1 ? DICT_OK : r;
}

static int
op_run(struct dict_txn *t, void *arg)
{
	struct op *o = arg;
	struct buf val, dom;
	int r, inuse;
	const char *nul;

	buf_init(&val, 1024 * 1024);
	switch (o->kind) {
	case OP_GET:
		r = dict_get(o->d, t, o->key, &val);
		if (r == DICT_OK)
			r = decode_into(&val, o->out, o->err);
		break;
	case OP_USER_ADD:
		nul = memchr(o->key.p, '\0', o->key.n);
		buf_init(&dom, KEY_MAX);
		buf_append(&dom, o->key.p, (size_t)(nul - o->key.p));
		r = dict_get(o->u->domains, t, buf_sv(&dom), &val);
		if (r == DICT_NOTFOUND) {
			errf(o->err, "no such domain: %s (add it "
			    "with \"chapar domain add\")", buf_cstr(&dom));
		}
		buf_free(&dom);
		buf_reset(&val);
		if (r != DICT_OK)
			break;
		/* FALLTHROUGH */
	case OP_PUT:
		rec_encode(o->in, &val);
		r = dict_put(o->d, t, o->key, buf_sv(&val), o->flags);
		break;
	case OP_UPDATE:
		r = dict_get(o->d, t, o->key, &val);
		if (r == DICT_OK)
			r = decode_into(&val, o->out, o->err);
		if (r != DICT_OK)
			break;
		for (size_t i = 0; i < o->set->n; i++)
			rec_set(o->out, o->set->names[i],
			    buf_sv(&o->set->vals[i]));
		buf_reset(&val);
		rec_encode(o->out, &val);
		r = dict_put(o->d, t, o->key, buf_sv(&val), 0);
		break;
	case OP_DOMAIN_DEL:
		if ((r = domain_in_use(o, t, &inuse)) != DICT_OK)
			break;
		if (inuse) {
			errf(o->err, "domain %s still has users "
			    "or aliases; remove them first",
			    log_esc(o->key.p, o->key.n));
			r = DICT_EXISTS;
			break;
		}
		/* FALLTHROUGH */
	case OP_DEL:
		r = dict_del(o->d, t, o->key);
		break;
	default:
		r = DICT_ERROR;
	}
	buf_free(&val);
	return r;
}

static int
op_do(struct userdb *u, struct dict *d, int kind, struct sv key,
    const struct rec *in, struct rec *out, int flags, struct buf *err)
{
	struct op o;
	int r;

	o.u = u;
	o.d = d;
	o.key = key;
	o.in = in;
	o.out = out;
	o.flags = flags;
	o.kind = kind;
	o.err = err;
	o.set = NULL;
	if (out != NULL)
		rec_clear(out);
	r = dict_txn_run(u->env, op_run, &o, err);
	return r;
}

static int
keyed(struct userdb *u, struct dict *d, int kind, const char *key,
    const struct rec *in, struct rec *out, int flags, struct buf *err)
{
	struct buf k;
	int r;

	buf_init(&k, KEY_MAX);
	if (db_key(key, &k) == -1) {
		errf(err, "not an address: %s", log_esc_str(key));
		buf_free(&k);
		return DICT_ERROR;
	}
	r = op_do(u, d, kind, buf_sv(&k), in, out, flags, err);
	buf_free(&k);
	return r;
}

int
userdb_domain_add(struct userdb *u, const char *domain, struct buf *err)
{
	struct rec r;
	int ret;

	rec_init(&r);
	rec_set_u64(&r, "created", (uint64_t)now_sec());
	ret = op_do(u, u->domains, OP_PUT, sv_from(domain), &r, NULL,
	    DICT_NEW, err);
	rec_free(&r);
	return ret;
}

int
userdb_domain_del(struct userdb *u, const char *domain, struct buf *err)
{
	return op_do(u, u->domains, OP_DOMAIN_DEL, sv_from(domain), NULL, NULL,
	    0, err);
}

int
userdb_domain_get(struct userdb *u, const char *domain, struct rec *out,
    struct buf *err)
{
	return op_do(u, u->domains, OP_GET, sv_from(domain), NULL, out, 0,
	    err);
}

int
userdb_domain_put(struct userdb *u, const char *domain, const struct rec *r,
    struct buf *err)
{
	return op_do(u, u->domains, OP_PUT, sv_from(domain), r, NULL, 0, err);
}

int
userdb_user_get(struct userdb *u, const char *key, struct rec *out,
    struct buf *err)
{
	return keyed(u, u->users, OP_GET, key, NULL, out, 0, err);
}

int
userdb_user_put(struct userdb *u, const char *key, const struct rec *in,
    int flags, struct buf *err)
{
	return keyed(u, u->users, (flags & DICT_NEW) ? OP_USER_ADD : OP_PUT,
	    key, in, NULL, flags, err);
}

int
userdb_user_update(struct userdb *u, const char *key, const struct rec *set,
    struct buf *err)
{
	struct buf k;
	struct rec tmp;
	struct op o;
	int r;

	buf_init(&k, KEY_MAX);
	if (db_key(key, &k) == -1) {
		buf_free(&k);
		errf(err, "not an address: %s", log_esc_str(key));
		return DICT_ERROR;
	}
	rec_init(&tmp);
	memset(&o, 0, sizeof(o));
	o.u = u;
	o.d = u->users;
	o.key = buf_sv(&k);
	o.out = &tmp;
	o.kind = OP_UPDATE;
	o.set = set;
	o.err = err;
	r = dict_txn_run(u->env, op_run, &o, err);
	rec_free(&tmp);
	buf_free(&k);
	return r;
}

int
userdb_user_del(struct userdb *u, const char *key, struct buf *err)
{
	return keyed(u, u->users, OP_DEL, key, NULL, NULL, 0, err);
}

int
userdb_alias_get(struct userdb *u, const char *key, struct rec *out,
    struct buf *err)
{
	return keyed(u, u->aliases, OP_GET, key, NULL, out, 0, err);
}

int
userdb_alias_put(struct userdb *u, const char *key, const struct rec *in,
    struct buf *err)
{
	return keyed(u, u->aliases, OP_USER_ADD, key, in, NULL, 0, err);
}

int
userdb_alias_del(struct userdb *u, const char *key, struct buf *err)
{
	return keyed(u, u->aliases, OP_DEL, key, NULL, NULL, 0, err);
}

/* --- iteration ----------------------------------------------------------- */

struct iter {
	userdb_iter_fn fn;
	void *arg;
	int users_form;		/* convert "domain\0local" keys */
	struct buf key;
	struct rec rec;
	int bad;
};

static int
iter_one(struct sv k, struct sv v, void *arg)
{
	struct iter *it = arg;

	if (it->users_form)
		user_key(k, &it->key);
	else
		buf_set(&it->key, k.p, k.n);
	if (rec_decode(v, &it->rec) == -1) {
		it->bad = 1;
		return 1;
	}
	return it->fn(buf_cstr(&it->key), &it->rec, it->arg);
}

int
userdb_iter(struct userdb *u, const char *name, const char *domain,
    userdb_iter_fn fn, void *arg, struct buf *err)
{
	struct iter it;
	struct buf prefix;
	int r;

	it.fn = fn;
	it.arg = arg;
	it.users_form = strcmp(name, "domains") != 0;
	it.bad = 0;
	/* keys of any length the database holds; a domain of any length */
	buf_init(&it.key, 0);
	rec_init(&it.rec);
	buf_init(&prefix, 0);
	if (domain != NULL) {
		buf_puts(&prefix, domain);
		if (it.users_form)
			buf_putc(&prefix, '\0');
	}
	r = dict_scan(table(u, name), NULL, buf_sv(&prefix), iter_one, &it);
	if (it.bad) {
		errf(err, "corrupt record in %s at %s", name,
		    log_esc_str(buf_cstr(&it.key)));
		r = DICT_ERROR;
	} else if (r == DICT_ERROR && err->len == 0)
		errf(err, "cannot read %s", name);
	buf_free(&it.key);
	buf_free(&prefix);
	rec_free(&it.rec);
	return r;
}

/* --- recipient resolution ------------------------------------------------ */

/* Internal result: the key exists (an alias, a deleted user, a loop) but
 * yields no recipient; unlike DICT_NOTFOUND it must not fall back to the
 * base address or the catch-all. */
#define R_FINAL 20
#define R_MAX_LOOKUPS 2000

struct resolve {
	struct userdb *u;
	const char *delims;
	struct rec *out;
	struct rec path;	/* aliases being expanded, outermost first */
	int nresults;
	int nlookups;
	int limited;		/* gave up: too many look-ups */
	struct buf *err;
};

static void
add_result(struct resolve *rs, const char *kind, const char *addr)
{
	size_t i;

	for (i = 0; i < rs->out->n; i++)
		if (strcmp(rs->out->names[i], kind) == 0 &&
		    strcmp(buf_cstr(&rs->out->vals[i]), addr) == 0)
			return;
	if (rs->nresults++ < USERDB_ALIAS_MAX)
		rec_add(rs->out, kind, sv_from(addr));
}

static int
on_path(struct resolve *rs, const char *key)
{
	size_t i;

	for (i = 0; i < rs->path.n; i++)
		if (strcmp(buf_cstr(&rs->path.vals[i]), key) == 0)
			return 1;
	return 0;
}

static int resolve_key(struct resolve *, const char *local,
    const char *domain, int depth);

/* Count one database look-up; -1 once there have been too many (a
 * configuration problem, not a passing one: the answer is a permanent
 * NOTFOUND). */
static int
charge(struct resolve *rs, const char *what)
{
	if (rs->limited)
		return -1;
	if (++rs->nlookups <= R_MAX_LOOKUPS)
		return 0;
	log_warning("alias expansion needs more than %d look-ups; stopped at "
	    "%s", R_MAX_LOOKUPS, log_esc_str(what));
	rs->limited = 1;
	return -1;
}

/* Expand the dest= fields of an alias record: DICT_OK if any destination
 * gave a recipient, R_FINAL if none did. */
static int
expand_alias(struct resolve *rs, const struct rec *al, int depth)
{
	struct addr a;
	struct buf key;
	const char *err;
	size_t i;
	int r = R_FINAL, one;

	addr_init(&a);
	buf_init(&key, KEY_MAX);
	for (i = 0; i < al->n; i++) {
		if (strcmp(al->names[i], "dest") != 0)
			continue;
		if (addr_parse(buf_sv(&al->vals[i]), ADDR_UTF8, &a,
		    &err) == -1) {
			log_warning("alias destination \"%s\" ignored: %s",
			    log_esc_str(buf_cstr(&al->vals[i])), err);
			continue;
		}
		one = resolve_key(rs, buf_cstr(&a.local), buf_cstr(&a.domain),
		    depth + 1);
		if (one == USERDB_NOTLOCAL) {
			addr_format(&a, &key);
			add_result(rs, "remote", buf_cstr(&key));
			one = DICT_OK;
		} else if (one == DICT_NOTFOUND && !rs->limited) {
			addr_key(&a, &key);
			log_warning("alias destination %s does not exist",
			    log_esc_str(buf_cstr(&key)));
		}
		if (rs->limited)
			break;
		if (one == DICT_ERROR || one == DICT_RETRY) {
			r = one;
			break;
		}
		if (one == DICT_OK)
			r = DICT_OK;
	}
	addr_free(&a);
	buf_free(&key);
	return r;
}

/* One key: an alias (unless it is already being expanded: then it is a
 * loop, or an identity mapping when a user has that address), then a
 * user. */
static int
try_key(struct resolve *rs, const char *key, int depth)
{
	const char *st;
	struct rec r;
	int ret, loop = on_path(rs, key);

	if (charge(rs, key) == -1)
		return R_FINAL;
	rec_init(&r);
	if (!loop && depth < USERDB_ALIAS_DEPTH) {
		ret = userdb_alias_get(rs->u, key, &r, rs->err);
		if (ret == DICT_OK) {
			rec_add(&rs->path, "k", sv_from(key));
			ret = expand_alias(rs, &r, depth);
			rec_pop(&rs->path);
			rec_free(&r);
			return ret;
		}
		if (ret != DICT_NOTFOUND) {
			rec_free(&r);
			return ret;
		}
	} else if (!loop)
		log_warning("alias expansion of %s too deep; stopped",
		    log_esc_str(key));
	ret = userdb_user_get(rs->u, key, &r, rs->err);
	if (ret == DICT_OK) {
		st = rec_get_str(&r, "state");
		if (st != NULL && strcmp(st, USER_DELETED) == 0)
			ret = R_FINAL;	/* bounce, never the catch-all */
		else
			add_result(rs, "local", key);
	} else if (ret == DICT_NOTFOUND && loop) {
		log_warning("alias loop at %s", log_esc_str(key));
		ret = R_FINAL;
	}
	rec_free(&r);
	return ret;
}

static int
resolve_key(struct resolve *rs, const char *local, const char *domain,
    int depth)
{
	struct buf key, lower;
	struct rec dom;
	struct sv base, ext;
	size_t i;
	int r;

	if (charge(rs, domain) == -1)
		return R_FINAL;
	rec_init(&dom);
	r = userdb_domain_get(rs->u, domain, &dom, rs->err);
	rec_free(&dom);
	if (r == DICT_NOTFOUND)
		return USERDB_NOTLOCAL;
	if (r != DICT_OK)
		return r;
	buf_init(&key, KEY_MAX);
	buf_init(&lower, KEY_MAX);
	/* Keys fold ASCII case, as addr_key does. */
	for (i = 0; local[i] != '\0'; i++)
		buf_putc(&lower, local[i] >= 'A' && local[i] <= 'Z' ?
		    local[i] + 32 : local[i]);
	buf_printf(&key, "%s@%s", buf_cstr(&lower), domain);
	r = try_key(rs, buf_cstr(&key), depth);
	if (r == DICT_NOTFOUND &&
	    addr_split_ext(buf_sv(&lower), rs->delims, &base, &ext)) {
		buf_reset(&key);
		buf_append_sv(&key, base);
		buf_printf(&key, "@%s", domain);
		r = try_key(rs, buf_cstr(&key), depth);
	}
	if (r == DICT_NOTFOUND) {
		buf_reset(&key);
		buf_printf(&key, "@%s", domain);
		/* Inside the catch-all's own expansion, a missing address
		 * is just missing (not a loop through the catch-all). */
		if (!on_path(rs, buf_cstr(&key)))
			r = try_key(rs, buf_cstr(&key), depth);
	}
	if (r == R_FINAL)
		r = DICT_NOTFOUND;
	buf_free(&key);
	buf_free(&lower);
	return r;
}

int
userdb_resolve(struct userdb *u, const struct addr *a, const char *delims,
    struct rec *out, struct buf *err)
{
	struct resolve rs;
	int r;

	rs.u = u;
	rs.delims = delims ? delims : "";
	rs.out = out;
	rs.nresults = 0;
	rs.nlookups = 0;
	rs.limited = 0;
	rs.err = err;
	rec_init(&rs.path);
	rec_clear(out);
	r = resolve_key(&rs, buf_cstr(&a->local), buf_cstr(&a->domain), 0);
	if (rs.limited) {
		/* all or nothing: never a part of an expansion */
		rec_clear(out);
		if (r == DICT_OK)
			r = DICT_NOTFOUND;
	}
	if (r == DICT_OK && out->n == 0)
		r = DICT_NOTFOUND;
	if (rs.nresults > USERDB_ALIAS_MAX)
		log_warning("alias expansion cut at %d destinations",
		    USERDB_ALIAS_MAX);
	rec_free(&rs.path);
	return r;
}

/* Append bytes to a path component, writing anything that is not plainly
 * safe in a file name (and a leading dot) as %XX, so that neither the
 * domain nor the local part can climb out of mail_dir or hide. */
static void
path_escape(struct buf *out, const char *p, size_t n, const char *extra)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	size_t i;

	if (n == 0) {
		buf_puts(out, "%40");
		return;
	}
	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '+' || (c == '.' && i > 0) ||
		    c >= 0x80 || (c != 0 && strchr(extra, c) != NULL)) {
			buf_putc(out, (char)c);
			continue;
		}
		buf_putc(out, '%');
		buf_putc(out, hex[c >> 4]);
		buf_putc(out, hex[c & 15]);
	}
}

void
userdb_home(const char *key, struct buf *out)
{
	const char *at = strrchr(key, '@');

	buf_reset(out);
	if (at == NULL) {
		path_escape(out, key, strlen(key), "");
		return;
	}
	path_escape(out, at + 1, strlen(at + 1), "[]:");
	buf_putc(out, '/');
	path_escape(out, key, (size_t)(at - key), "");
}
