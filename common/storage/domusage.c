/*
 * domusage.c: a domain's mail usage, per user and in total (domusage.h).
 *
 *	"T"		bytes=..., msgs=...	the total
 *	"u" USER	bytes=..., msgs=...	what USER last reported
 */
#include <stdlib.h>
#include <string.h>

#include "chapar/dict.h"
#include "chapar/domusage.h"
#include "chapar/rec.h"
#include "chapar/util.h"

struct domusage {
	struct dict_env *env;
	struct dict *db;
};

int
domusage_open(const char *dir, struct domusage **dp, struct buf *err)
{
	struct domusage *d = xcalloc(1, sizeof(*d));
	struct buf path;

	*dp = NULL;
	buf_init(&path, 4096);
	if (buf_try_printf(&path, "%s/.usage", dir) == -1) {
		buf_reset(err);
		buf_cut_printf(err, "%s: path too long", dir);
		buf_free(&path);
		domusage_close(&d);
		return -1;
	}
	/* a counter that "chapar quota recalc" can make again */
	if (dict_env_open(buf_cstr(&path), DICT_ENV_CREATE | DICT_ENV_NOSYNC,
	    &d->env, err) != DICT_OK ||
	    dict_open(d->env, "usage.db", 1, &d->db, err) != DICT_OK) {
		buf_free(&path);
		domusage_close(&d);
		return -1;
	}
	buf_free(&path);
	*dp = d;
	return 0;
}

void
domusage_close(struct domusage **dp)
{
	struct domusage *d = *dp;

	if (d == NULL)
		return;
	dict_close(&d->db);
	dict_env_close(&d->env);
	free(d);
	*dp = NULL;
}

static int
get(struct domusage *d, struct dict_txn *t, struct sv key, uint64_t *bytes,
    uint64_t *msgs)
{
	struct buf v;
	struct rec r;
	int ret;

	*bytes = *msgs = 0;
	buf_init(&v, 4096);
	rec_init(&r);
	ret = dict_get(d->db, t, key, &v);
	if (ret == DICT_OK && rec_decode(buf_sv(&v), &r) == 0) {
		(void)rec_get_u64(&r, "bytes", bytes);
		(void)rec_get_u64(&r, "msgs", msgs);
	}
	rec_free(&r);
	buf_free(&v);
	return ret == DICT_NOTFOUND ? DICT_OK : ret;
}

static int
put(struct domusage *d, struct dict_txn *t, struct sv key, uint64_t bytes,
    uint64_t msgs)
{
	struct buf v;
	struct rec r;
	int ret;

	buf_init(&v, 4096);
	rec_init(&r);
	rec_set_u64(&r, "bytes", bytes);
	rec_set_u64(&r, "msgs", msgs);
	rec_encode(&r, &v);
	ret = dict_put(d->db, t, key, buf_sv(&v), 0);
	rec_free(&r);
	buf_free(&v);
	return ret;
}

int
domusage_total(struct domusage *d, uint64_t *bytes, uint64_t *msgs,
    struct buf *err)
{
	int r = get(d, NULL, SV_LIT("T"), bytes, msgs);

	if (r != DICT_OK) {
		buf_reset(err);
		buf_puts(err, "domain usage: cannot read");
		return -1;
	}
	return 0;
}

struct report {
	struct domusage *d;
	struct buf key;
	uint64_t bytes, msgs;
};

static uint64_t
adjust(uint64_t total, uint64_t old, uint64_t now)
{
	if (now >= old)
		return total + (now - old);
	return total > old - now ? total - (old - now) : 0;
}

static int
report_txn(struct dict_txn *t, void *arg)
{
	struct report *rp = arg;
	uint64_t ob, om, tb, tm;
	int r;

	if ((r = get(rp->d, t, buf_sv(&rp->key), &ob, &om)) != DICT_OK ||
	    (r = get(rp->d, t, SV_LIT("T"), &tb, &tm)) != DICT_OK)
		return r;
	if (ob == rp->bytes && om == rp->msgs)
		return DICT_OK;
	if ((r = put(rp->d, t, buf_sv(&rp->key), rp->bytes, rp->msgs)) !=
	    DICT_OK)
		return r;
	return put(rp->d, t, SV_LIT("T"), adjust(tb, ob, rp->bytes),
	    adjust(tm, om, rp->msgs));
}

int
domusage_report(struct domusage *d, const char *user, uint64_t bytes,
    uint64_t msgs, struct buf *err)
{
	struct report rp;
	int r;

	rp.d = d;
	rp.bytes = bytes;
	rp.msgs = msgs;
	buf_init(&rp.key, 1024);
	buf_putc(&rp.key, 'u');
	if (buf_try_puts(&rp.key, user) == -1) {
		buf_reset(err);
		buf_puts(err, "domain usage: user name too long");
		buf_free(&rp.key);
		return -1;
	}
	r = dict_txn_run(d->env, report_txn, &rp, err);
	buf_free(&rp.key);
	return r == DICT_OK ? 0 : -1;
}
