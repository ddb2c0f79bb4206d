/*
 * alias.c: "chapar alias" -- the user database's aliases, worked on in a
 * child of db_run (child.c) as the owner of db_dir.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "chapar/addr.h"
#include "chapar/dict.h"
#include "chapar/log.h"
#include "chapar/util.h"

static int
alias_row(const char *key, const struct rec *r, void *arg)
{
	struct buf dests;
	const char *cells[2];
	size_t i;

	buf_init(&dests, 0);
	/* a record of the database: its size is not ours to choose */
	for (i = 0; i < r->n; i++)
		if (strcmp(r->names[i], "dest") == 0 &&
		    ((dests.len && buf_try_puts(&dests, ", ") == -1) ||
		    buf_try_append(&dests, r->vals[i].data,
		    r->vals[i].len) == -1))
			die(EX_FAIL, "alias %s: too many destinations to show",
			    key);
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
	else if (buf_try_puts(key, d) == -1)
		die(EX_FAIL, "a destination of %zu bytes (at most %zu)",
		    strlen(d), key->max);
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
			if (buf_try_set(&d, argv[i], strlen(argv[i])) == -1)
				die(EX_USAGE, "a destination of %zu bytes (at "
				    "most %zu)", strlen(argv[i]), d.max);
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

struct alias_args {
	struct config *cf;
	const char *verb, *key;
	int argc;
	char **argv;
};

/* In a child of db_run. */
static int
alias_work(void *arg)
{
	static const char *const hdr[] = { "ALIAS", "DESTINATIONS" };
	struct alias_args *a = arg;
	struct userdb *u;
	struct table *t;
	struct buf err;
	int r;

	buf_init(&err, 1024);
	if (strcmp(a->verb, "list") == 0) {
		t = table_new(2, hdr);
		u = open_userdb(a->cf, 0);
		r = userdb_iter(u, "aliases", a->key, alias_row, t, &err);
		close_userdb(&u);
		check(r, &err, "", "");
		table_print(t, opt.json);
		table_free(&t);
	} else
		alias_edit(a->cf, a->key, strcmp(a->verb, "add") == 0,
		    a->argc, a->argv);
	buf_free(&err);
	return EX_OK;
}

int
cmd_alias(int argc, char **argv)
{
	struct alias_args a;
	struct buf key;

	if (argc < 2)
		usage();
	buf_init(&key, 1024);
	memset(&a, 0, sizeof(a));
	a.verb = argv[1];
	if (strcmp(argv[1], "list") == 0 && argc <= 3) {
		if (argc == 3)
			arg_domain(argv[2], &key);
		a.key = argc == 3 ? buf_cstr(&key) : NULL;
	} else if ((strcmp(argv[1], "add") == 0 && argc >= 4) ||
	    (strcmp(argv[1], "del") == 0 && argc >= 3)) {
		arg_key(argv[2], 1, &key);
		a.key = buf_cstr(&key);
		a.argc = argc - 3;
		a.argv = argv + 3;
	} else
		usage();
	a.cf = load_config();
	(void)db_run(a.cf, alias_work, &a, NULL, NULL);
	config_free(&a.cf);
	buf_free(&key);
	return EX_OK;
}
