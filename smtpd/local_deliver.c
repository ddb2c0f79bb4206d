/*
 * deliver.c: one message into local users' stores (deliver.h).
 *
 * For each local user: authd says where the user's directory is and what
 * the quota is; home_open reaches it without following links; the store
 * takes the message (written to tmp/, fsync'd, linked into cur/ by the
 * transaction that gives its UID, cur/ fsync'd) and only then is the
 * result 250.  Nothing here trusts the message: its header is only
 * scanned for Delivered-To, with bounds.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "chapar/authc.h"
#include "chapar/domusage.h"
#include "chapar/home.h"
#include "chapar/log.h"
#include "chapar/store.h"
#include "chapar/util.h"
#include "local.h"

/* How much of a message's head is read for Delivered-To. */
#define HEAD_SCAN_MAX (256 * 1024)

static void
result(struct dlv_result *r, int code, const char *status, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
result(struct dlv_result *r, int code, const char *status, const char *fmt,
    ...)
{
	va_list ap;

	r->code = code;
	(void)xsnprintf(r->status, sizeof(r->status), "%s", status);
	va_start(ap, fmt);
	(void)vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* --- the message --------------------------------------------------------- */

/* "<Alice@Example.org>" -> "alice@example.org" */
static void
add_delivered_to(struct dlv_msg *m, struct sv v)
{
	size_t i;

	v = sv_trim(v);
	if (v.n >= 2 && v.p[0] == '<' && v.p[v.n - 1] == '>') {
		v.p++;
		v.n -= 2;
	}
	if (v.n == 0 || v.n > 1024)
		return;
	for (i = 0; i < v.n; i++)
		buf_putc(&m->delivered_to, tolower((unsigned char)v.p[i]));
	buf_putc(&m->delivered_to, '\0');
}

/* The header ends at the first empty line (CRLF or bare LF). */
static void
scan_head(struct dlv_msg *m, const char *p, size_t n)
{
	static const char name[] = "delivered-to:";
	size_t i = 0, eol, start;
	struct sv val;

	while (i < n) {
		eol = i;
		while (eol < n && p[eol] != '\n')
			eol++;
		if (eol == n)
			break;			/* cut off: not a whole line */
		if (eol == i || (eol == i + 1 && p[i] == '\r'))
			break;			/* the end of the header */
		start = i;
		i = eol + 1;
		if (eol - start < sizeof(name) - 1 ||
		    strncasecmp(p + start, name, sizeof(name) - 1) != 0)
			continue;
		/* the value, with its continuation lines (RFC 5322 2.2.3) */
		val = sv_make(p + start + sizeof(name) - 1, eol - start -
		    (sizeof(name) - 1));
		while (i < n && (p[i] == ' ' || p[i] == '\t')) {
			eol = i;
			while (eol < n && p[eol] != '\n')
				eol++;
			val.n = (size_t)(p + eol - val.p);
			i = eol < n ? eol + 1 : n;
		}
		add_delivered_to(m, val);
	}
}

void
dlv_msg_init(struct dlv_msg *m, int fd, uint64_t size, const char *sender)
{
	char *head;
	ssize_t n;
	void *p;

	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->size = size;
	m->sender = sender;
	/* each value kept (and its NUL) is shorter than the field it came
	 * from, and only HEAD_SCAN_MAX bytes of header are scanned */
	buf_init(&m->delivered_to, HEAD_SCAN_MAX);
	/* a user per recipient (LMTP takes 1000) and then some; an alias
	 * may lead to more: see deliver_user */
	buf_init(&m->done, 1024 * 1024);
	buf_init(&m->env, 1024 * 1024);
	buf_init(&m->bs, 1024 * 1024);
	head = xmalloc(HEAD_SCAN_MAX);
	n = pread(fd, head, HEAD_SCAN_MAX, 0);
	if (n > 0)
		scan_head(m, head, (size_t)n);
	free(head);
	/* the store's cache of ENVELOPE and BODYSTRUCTURE: parsed once
	 * for every user (the two lines delivery adds change neither) */
	if (size > 0) {
		p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			store_mime_parse(p, (size_t)size, &m->env, &m->bs);
			(void)munmap(p, (size_t)size);
			m->parsed = 1;
		}
	}
}

void
dlv_msg_free(struct dlv_msg *m)
{
	buf_free(&m->delivered_to);
	buf_free(&m->done);
	buf_free(&m->env);
	buf_free(&m->bs);
}

/* Is s one of the NUL-terminated strings in b? */
static int
in_list(const struct buf *b, const char *s)
{
	size_t off = 0, len;

	while (off < b->len) {
		len = strlen(b->data + off);
		if (strcmp(b->data + off, s) == 0)
			return 1;
		off += len + 1;
	}
	return 0;
}

/* --- authd --------------------------------------------------------------- */

/*
 * authd's answers are kept for ASK_TTL_MS: an LMTP transaction asks about
 * each recipient at RCPT and again at DATA, and the queue manager sends
 * one user many messages in a row.  A change (a new alias, a quota) is
 * seen within that time.  Only definite answers are kept.
 */
#define ASK_CACHE 64
#define ASK_TTL_MS 10000
#define ASK_KEEP_MAX 4096	/* a longer reply is not kept */

static struct {
	char *what;		/* "R" or "U", then the name */
	char verb[16];
	struct buf fields;	/* rec_encode'd */
	uint64_t at;
} acache[ASK_CACHE];
static size_t anext;

static int
ask_cached(int rcpt, const char *what, struct authc_reply *rep)
{
	uint64_t now = now_ms();
	size_t i;

	for (i = 0; i < ASK_CACHE; i++) {
		if (acache[i].what == NULL || now - acache[i].at > ASK_TTL_MS ||
		    acache[i].what[0] != (rcpt ? 'R' : 'U') ||
		    strcmp(acache[i].what + 1, what) != 0)
			continue;
		buf_reset(&rep->verb);
		rec_clear(&rep->fields);
		buf_puts(&rep->verb, acache[i].verb);
		if (rec_decode(buf_sv(&acache[i].fields), &rep->fields) == -1)
			return -1;
		return 0;
	}
	return -1;
}

static void
ask_keep(int rcpt, const char *what, const struct authc_reply *rep)
{
	size_t i = anext++ % ASK_CACHE;
	struct buf f;

	if (rep->verb.len >= sizeof(acache[i].verb) ||
	    !(strcmp(buf_cstr(&rep->verb), "RCPT") == 0 ||
	    strcmp(buf_cstr(&rep->verb), "USER") == 0 ||
	    strcmp(buf_cstr(&rep->verb), "NOTFOUND") == 0 ||
	    strcmp(buf_cstr(&rep->verb), "NOTLOCAL") == 0))
		return;
	buf_init(&f, 0);
	rec_encode(&rep->fields, &f);
	if (f.len > ASK_KEEP_MAX) {
		buf_free(&f);
		return;
	}
	free(acache[i].what);
	buf_free(&acache[i].fields);
	acache[i].what = xmalloc(strlen(what) + 2);
	acache[i].what[0] = rcpt ? 'R' : 'U';
	memcpy(acache[i].what + 1, what, strlen(what) + 1);
	(void)xsnprintf(acache[i].verb, sizeof(acache[i].verb), "%s",
	    buf_cstr(&rep->verb));
	acache[i].fields = f;
	acache[i].at = now_ms();
}

/* verb of a reply; -1 when authd could not be asked */
static int
ask(struct dlv_ctx *cx, int rcpt, const char *what, struct authc_reply *rep)
{
	struct authc *ac;
	struct buf err;
	int r;

	if (ask_cached(rcpt, what, rep) == 0)
		return 0;
	if ((ac = cx->auth()) == NULL)
		return -1;
	buf_init(&err, 1024);
	r = rcpt ? authc_rcpt(ac, what, rep, &err) : authc_user(ac, what, rep,
	    &err);
	if (r == -1) {
		log_error("authd: %s", buf_cstr(&err));
		cx->auth_lost();
	} else
		ask_keep(rcpt, what, rep);
	buf_free(&err);
	return r;
}

static int
verb_is(const struct authc_reply *rep, const char *v)
{
	return strcmp(buf_cstr(&rep->verb), v) == 0;
}

/* Resolve an address: 0 with its local users (and remote destinations)
 * in rep, or -1 with the result set. */
static int
resolve(struct dlv_ctx *cx, const char *address, struct authc_reply *rep,
    struct dlv_result *res)
{
	if (ask(cx, 1, address, rep) == -1) {
		result(res, 451, "4.3.0", "user database unavailable");
		return -1;
	}
	if (verb_is(rep, "RCPT"))
		return 0;
	if (verb_is(rep, "NOTFOUND"))
		result(res, 550, "5.1.1", "<%s>: no such user here",
		    log_esc_str(address));
	else if (verb_is(rep, "NOTLOCAL"))
		result(res, 550, "5.1.2", "<%s>: not a domain of this server",
		    log_esc_str(address));
	else
		result(res, 451, "4.3.0", "user database unavailable");
	return -1;
}

/* Forwarding off-site needs the queue (qmgr); until then an address that
 * leads elsewhere is deferred, never half delivered. */
static int
has_remote(const struct authc_reply *rep, struct dlv_result *res)
{
	if (rec_get(&rep->fields, "remote") == NULL)
		return 0;
	result(res, 451, "4.3.5", "address forwards to other servers; "
	    "deliver it through the queue");
	return 1;
}

/* --- stores kept open ---------------------------------------------------- */

/*
 * Opening a store (its Berkeley DB environment) costs more than a
 * delivery: a worker keeps the last few open, each for a short while, so
 * a run of messages to the same users opens each once.  A store unused
 * for STORE_IDLE seconds is closed at the next delivery (chapar reindex
 * --force wants nobody else in it).
 */
#define STORE_CACHE 64
#define STORE_IDLE 30

static struct {
	char *path;
	struct store *st;
	time_t used;
} cache[STORE_CACHE];

static void
cache_drop(size_t i)
{
	store_close(&cache[i].st);
	free(cache[i].path);
	cache[i].path = NULL;
}

/* Is the store at path open already (its home was reached safely)? */
static int
store_cached(const char *path)
{
	size_t i;

	for (i = 0; i < STORE_CACHE; i++)
		if (cache[i].path != NULL && strcmp(cache[i].path, path) == 0)
			return 1;
	return 0;
}

static struct store *
store_get(const char *path, const struct store_opts *o, struct buf *err)
{
	time_t now = time(NULL);
	size_t i, victim = 0;

	for (i = 0; i < STORE_CACHE; i++) {
		if (cache[i].path != NULL && now - cache[i].used > STORE_IDLE)
			cache_drop(i);
		if (cache[i].path != NULL && strcmp(cache[i].path, path) == 0) {
			cache[i].used = now;
			store_set_quota(cache[i].st, o->quota_bytes,
			    o->quota_messages);
			return cache[i].st;
		}
	}
	for (i = 0; i < STORE_CACHE; i++) {
		if (cache[i].path == NULL) {
			victim = i;
			break;
		}
		if (cache[i].used < cache[victim].used)
			victim = i;
	}
	if (cache[victim].path != NULL)
		cache_drop(victim);
	if (store_open(path, o, &cache[victim].st, err) == -1)
		return NULL;
	cache[victim].path = xstrdup(path);
	cache[victim].used = now;
	return cache[victim].st;
}


/* --- one user ------------------------------------------------------------ */

struct user {
	const char *key;	/* "alice@example.org" */
	struct buf path;	/* mail_root/DOMAIN/USER */
	size_t domlen;		/* path's first domlen bytes: the domain's */
	uint64_t quota;
	uint64_t domain_quota;	/* 0: none */
};

/* The usage databases of domains with a quota, kept open the same way. */
#define DOM_CACHE 4

static struct {
	char *dir;
	struct domusage *du;
	time_t used;
} dcache[DOM_CACHE];

static struct domusage *
domusage_get(const char *dir, struct buf *err)
{
	time_t now = time(NULL);
	size_t i, victim = 0;

	for (i = 0; i < DOM_CACHE; i++) {
		if (dcache[i].dir != NULL && strcmp(dcache[i].dir, dir) == 0) {
			dcache[i].used = now;
			return dcache[i].du;
		}
		if (dcache[i].dir == NULL || dcache[i].used <
		    dcache[victim].used)
			victim = i;
	}
	domusage_close(&dcache[victim].du);
	free(dcache[victim].dir);
	dcache[victim].dir = NULL;
	if (domusage_open(dir, &dcache[victim].du, err) == -1)
		return NULL;
	dcache[victim].dir = xstrdup(dir);
	dcache[victim].used = now;
	return dcache[victim].du;
}

/* The domain quota: would size more bytes pass it?  1 yes, 0 no, -1 the
 * usage cannot be read. */
static int
domain_full(struct user *u, uint64_t size, struct domusage **dup,
    struct buf *err)
{
	struct buf dir;
	uint64_t bytes, msgs;

	*dup = NULL;
	if (u->domain_quota == 0)
		return 0;
	buf_init(&dir, u->domlen + 1);
	buf_append(&dir, u->path.data, u->domlen);
	*dup = domusage_get(buf_cstr(&dir), err);
	buf_free(&dir);
	if (*dup == NULL || domusage_total(*dup, &bytes, &msgs, err) == -1)
		return -1;
	return bytes + size > u->domain_quota;
}

static int
user_lookup(struct dlv_ctx *cx, const char *key, struct user *u,
    struct dlv_result *res)
{
	struct authc_reply rep;
	struct buf err;
	const char *home;
	int fd = -1, r = -1;

	authc_reply_init(&rep);
	buf_reset(&u->path);
	/* home_open's reasons hold an escaped name (log_esc: 1.6 kB) */
	buf_init(&err, 4096);
	u->key = key;
	if (ask(cx, 0, key, &rep) == -1)
		result(res, 451, "4.3.0", "user database unavailable");
	else if (verb_is(&rep, "NOTFOUND"))
		result(res, 550, "5.1.1", "<%s>: no such user here",
		    log_esc_str(key));
	else if (!verb_is(&rep, "USER") || (home = rec_get_str(&rep.fields,
	    "home")) == NULL || strchr(home, '/') == NULL ||
	    buf_try_printf(&u->path, "%s%s%s", cx->mail_root,
	    strcmp(cx->mail_root, "/") == 0 ? "" : "/", home) == -1)
		result(res, 451, "4.3.0", "user database unavailable");
	/* a store open already was reached safely; else home_open walks
	 * to it without following a link (and makes what is missing) */
	else if (!store_cached(buf_cstr(&u->path)) && (fd =
	    home_open(cx->mail_root, home, geteuid(), getegid(), &err)) ==
	    -1) {
		log_error("to=<%s>: mail directory: %s", log_esc_str(key),
		    buf_cstr(&err));
		result(res, 451, "4.3.0", "mailbox unavailable");
	} else {
		if (fd != -1)
			close(fd);
		if (rec_get_u64(&rep.fields, "quota", &u->quota) == -1)
			u->quota = 0;
		if (rec_get_u64(&rep.fields, "domain_quota",
		    &u->domain_quota) == -1)
			u->domain_quota = 0;
		/* home_open checked it is exactly "DOMAIN/USER" */
		u->domlen = u->path.len - strlen(strrchr(home, '/'));
		r = 0;
	}
	authc_reply_free(&rep);
	buf_free(&err);
	return r;
}

static void
quota_full(struct dlv_ctx *cx, const char *key, struct dlv_result *res)
{
	uint64_t remember = config_num(cx->cf, NULL, "quota_full_remember");
	struct buf err;

	if (cx->auth_master && remember > 0 && cx->auth() != NULL) {
		buf_init(&err, 1024);
		if (authc_full(cx->auth(), key, remember, &err) == -1) {
			log_error("authd: %s", buf_cstr(&err));
			cx->auth_lost();
		}
		buf_free(&err);
	}
	if (config_bool(cx->cf, NULL, "quota_full_tempfail"))
		result(res, 452, "4.2.2", "<%s>: mailbox full",
		    log_esc_str(key));
	else
		result(res, 552, "5.2.2", "<%s>: mailbox full",
		    log_esc_str(key));
}

/* The plan for this user.  Sieve (a later issue) is called from here. */
static void
plan_for(struct dlv_ctx *cx, struct store *st, const struct dlv_msg *m,
    struct dlv_plan *plan)
{
	(void)cx;
	(void)st;
	(void)m;
	memset(plan, 0, sizeof(*plan));
	(void)xsnprintf(plan->folder, sizeof(plan->folder), "INBOX");
}

/* Write one copy: our two header lines, then the message. */
static int
store_copy(struct store *st, struct mbox *mb, const struct dlv_msg *m,
    const char *key, const struct dlv_plan *plan, uint32_t *uid,
    struct buf *err)
{
	struct store_tmp *t;
	struct buf head;
	int r = -1;

	if (store_tmp_open(st, &t, err) == -1)
		return -1;
	/* the sender is the LDA's -f argument: any length */
	buf_init(&head, strlen(m->sender) + strlen(key) + 64);
	buf_printf(&head, "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
	    m->sender, key);
	if (store_tmp_write(t, head.data, head.len) == -1 ||
	    store_tmp_copy(t, m->fd, m->size) == -1) {
		buf_reset(err);
		buf_printf(err, "writing the message: %s",
		    strerror(errno));
	} else {
		if (m->parsed)
			store_tmp_parsed(t, buf_sv(&m->env), buf_sv(&m->bs));
		if (store_tmp_finish(t, err) == 0)
			r = mbox_append(mb, t, plan->flags, plan->keywords, 0,
			    uid, err);
	}
	store_tmp_free(&t);
	buf_free(&head);
	return r;
}

static void quota_warn(struct dlv_ctx *, struct store *, struct user *);

static void
deliver_user(struct dlv_ctx *cx, struct dlv_msg *m, const char *key,
    const char *orig, struct dlv_result *res)
{
	struct store_opts o;
	struct store *st = NULL;
	struct mbox *mb = NULL;
	struct dlv_plan plan;
	struct domusage *du = NULL;
	struct user u;
	struct buf err;
	uint64_t bytes, msgs;
	uint32_t uid = 0;
	int r;

	/* RFC 5321 6.3: a message that was here before is looping */
	if (in_list(&m->delivered_to, key)) {
		result(res, 554, "5.4.6", "<%s>: mail forwarding loop",
		    log_esc_str(key));
		log_info("to=<%s>, orig_to=<%s>, status=bounced (mail "
		    "forwarding loop)", log_esc_str(key), log_esc_str(orig));
		return;
	}
	if (in_list(&m->done, key)) {
		result(res, 250, "2.0.0", "<%s>: delivered", log_esc_str(key));
		return;			/* two addresses, one mailbox */
	}
	buf_init(&err, 1024);
	/* mail_root, "/", and home_open's DOMAIN and USER (under 1024
	 * bytes each) */
	buf_init(&u.path, strlen(cx->mail_root) + 2 * 1024 + 2);
	if (user_lookup(cx, key, &u, res) == -1)
		goto out;
	memset(&o, 0, sizeof(o));
	o.quota_bytes = u.quota;
	o.quota_messages = config_num(cx->cf, NULL, "quota_messages");
	if ((st = store_get(buf_cstr(&u.path), &o, &err)) == NULL) {
		log_error("to=<%s>: store: %s", log_esc_str(key),
		    buf_cstr(&err));
		result(res, 451, "4.3.0", "mailbox unavailable");
		goto out;
	}
	switch (domain_full(&u, m->size, &du, &err)) {
	case 1:
		quota_full(cx, key, res);
		(void)xsnprintf(res->text, sizeof(res->text), "<%s>: the "
		    "domain's mail quota is used up", log_esc_str(key));
		log_info("to=<%s>, orig_to=<%s>, size=%llu, status=%s (domain "
		    "quota)", log_esc_str(key), log_esc_str(orig),
		    (unsigned long long)m->size, res->code / 100 == 4 ?
		    "deferred" : "bounced");
		goto out;
	case -1:
		log_error("to=<%s>: %s", log_esc_str(key), buf_cstr(&err));
		result(res, 451, "4.3.0", "mailbox unavailable");
		goto out;
	}
	plan_for(cx, st, m, &plan);
	r = mbox_open_append(st, plan.folder, &mb, &err);
	if (r == STORE_NOTFOUND && strcmp(plan.folder, "INBOX") != 0) {
		log_warning("to=<%s>: folder %s: %s; to INBOX",
		    log_esc_str(key), log_esc_str(plan.folder),
		    buf_cstr(&err));
		(void)xsnprintf(plan.folder, sizeof(plan.folder), "INBOX");
		r = mbox_open_append(st, plan.folder, &mb, &err);
	}
	if (r == 0)
		r = store_copy(st, mb, m, key, &plan, &uid, &err);
	if (r == STORE_OVERQUOTA) {
		quota_full(cx, key, res);
		log_info("to=<%s>, orig_to=<%s>, size=%llu, status=%s (mailbox "
		    "full)", log_esc_str(key), log_esc_str(orig),
		    (unsigned long long)m->size, res->code / 100 == 4 ?
		    "deferred" : "bounced");
	} else if (r != 0) {
		log_error("to=<%s>: %s", log_esc_str(key), buf_cstr(&err));
		result(res, 451, "4.3.0", "mailbox unavailable");
	} else {
		result(res, 250, "2.0.0", "<%s>: delivered", log_esc_str(key));
		/* with its NUL; a list too long to grow only costs a second
		 * copy if another address leads to this user again */
		if (buf_try_append(&m->done, key, strlen(key) + 1) == -1)
			log_warning("to=<%s>: too many users to remember for "
			    "this message", log_esc_str(key));
		log_info("to=<%s>, orig_to=<%s>, folder=%s, uid=%u, size=%llu, "
		    "status=sent", log_esc_str(key), log_esc_str(orig),
		    log_esc_str(plan.folder), uid,
		    (unsigned long long)m->size);
		quota_warn(cx, st, &u);
		if (du != NULL && (store_usage(st, &bytes, &msgs, &err) ==
		    -1 || domusage_report(du, buf_cstr(&u.path) + u.domlen +
		    1, bytes, msgs, &err) == -1))
			log_warning("to=<%s>: domain usage: %s",
			    log_esc_str(key), buf_cstr(&err));
	}
out:
	mbox_close(&mb);
	buf_free(&u.path);
	buf_free(&err);
}

/* --- quota warnings ------------------------------------------------------ */

/* The highest configured percentage that usage has reached, or 0. */
static unsigned
warn_level(struct dlv_ctx *cx, uint64_t used, uint64_t limit)
{
	const char *const *items;
	size_t i, n;
	uint64_t pct, v, best = 0;

	if (limit == 0)
		return 0;
	pct = used >= limit ? 100 : used * 100 / limit;
	n = config_list(cx->cf, NULL, "quota_warnings", &items);
	for (i = 0; i < n; i++)
		if (parse_u64(sv_from(items[i]), 100, &v) == 0 && v > 0 &&
		    v <= pct && v > best)
			best = v;
	return (unsigned)best;
}

static void
notice_from(struct dlv_ctx *cx, struct buf *out)
{
	const char *pm = config_str(cx->cf, NULL, "postmaster");
	const char *host = config_str(cx->cf, NULL, "hostname");
	char name[256];

	buf_reset(out);
	if (strchr(pm, '@') != NULL) {
		buf_puts(out, pm);
		return;
	}
	if (host[0] == '\0' && gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		host = name;
	}
	buf_printf(out, "%s@%s", pm, host[0] ? host : "localhost");
}

/* Tell the user once when usage crosses a configured percentage; when it
 * falls below again, the next crossing is told again. */
static void
quota_warn(struct dlv_ctx *cx, struct store *st, struct user *u)
{
	uint64_t bytes, msgs, qm = config_num(cx->cf, NULL, "quota_messages");
	unsigned level, lb, lm, old;
	struct store_tmp *t = NULL;
	struct mbox *mb = NULL;
	struct buf err, text, from;
	char date[64];
	uint32_t uid;

	buf_init(&err, 1024);
	if (store_usage(st, &bytes, &msgs, &err) == -1)
		goto out;
	lb = warn_level(cx, bytes, u->quota);
	lm = warn_level(cx, msgs, qm);
	level = lb > lm ? lb : lm;
	if (store_warn_level(st, level, &old, &err) == -1 || level <= old)
		goto out;
	buf_init(&from, strlen(config_str(cx->cf, NULL, "postmaster")) +
	    strlen(config_str(cx->cf, NULL, "hostname")) + 256 + 2);
	notice_from(cx, &from);
	buf_init(&text, 4096 + from.len + strlen(u->key));
	date_rfc5322(date, sizeof(date));
	buf_printf(&text,
	    "From: Mail System <%s>\r\n"
	    "To: <%s>\r\n"
	    "Date: %s\r\n"
	    "Subject: Your mailbox is %u%% full\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n"
	    "Your mailbox uses %llu of %llu bytes and %llu of %llu messages\r\n"
	    "(0 means no limit).  When it is full, new mail will not be\r\n"
	    "delivered.  Please delete messages you no longer need.\r\n",
	    buf_cstr(&from), u->key, date, level,
	    (unsigned long long)bytes, (unsigned long long)u->quota,
	    (unsigned long long)msgs, (unsigned long long)qm);
	if (mbox_open_append(st, "INBOX", &mb, &err) == 0 &&
	    store_tmp_open(st, &t, &err) == 0 &&
	    store_tmp_write(t, text.data, text.len) == 0 &&
	    store_tmp_finish(t, &err) == 0 &&
	    mbox_append(mb, t, 0, NULL, 0, &uid, &err) == 0)
		log_info("to=<%s>: quota warning at %u%%", log_esc_str(u->key),
		    level);
	else
		log_warning("to=<%s>: quota warning at %u%% not delivered: %s",
		    log_esc_str(u->key), level, buf_cstr(&err));
	store_tmp_free(&t);
	mbox_close(&mb);
	buf_free(&text);
	buf_free(&from);
out:
	buf_free(&err);
}

/* --- recipients ---------------------------------------------------------- */

void
dlv_check(struct dlv_ctx *cx, const char *address, struct dlv_result *res)
{
	struct authc_reply rep;

	authc_reply_init(&rep);
	if (resolve(cx, address, &rep, res) == 0 && !has_remote(&rep, res))
		result(res, 250, "2.1.5", "<%s>: recipient ok",
		    log_esc_str(address));
	authc_reply_free(&rep);
}

/* Which result speaks for an address that leads to several users: a
 * temporary failure (the sender tries again), then a permanent one. */
static int
rank(const struct dlv_result *r)
{
	return r->code / 100 == 4 ? 2 : r->code / 100 == 5 ? 1 : 0;
}

void
dlv_deliver(struct dlv_ctx *cx, struct dlv_msg *m, const char *address,
    struct dlv_result *res)
{
	struct authc_reply rep;
	struct dlv_result one;
	size_t i;
	int any = 0;

	authc_reply_init(&rep);
	if (resolve(cx, address, &rep, res) == -1 || has_remote(&rep, res))
		goto out;
	/* every local user; the worst result is the address's */
	result(res, 250, "2.0.0", "<%s>: delivered", log_esc_str(address));
	for (i = 0; i < rep.fields.n; i++) {
		if (strcmp(rep.fields.names[i], "local") != 0)
			continue;
		any = 1;
		deliver_user(cx, m, buf_cstr(&rep.fields.vals[i]), address,
		    &one);
		if (rank(&one) > rank(res))
			*res = one;
	}
	if (!any)
		result(res, 550, "5.1.1", "<%s>: no such user here",
		    log_esc_str(address));
out:
	authc_reply_free(&rep);
}

int
dlv_exit_code(const struct dlv_result *r)
{
	if (r->code / 100 == 2)
		return EX_OK;
	if (r->code / 100 == 4)
		return EX_TEMPFAIL;
	if (strcmp(r->status, "5.1.1") == 0)
		return EX_NOUSER;
	if (strcmp(r->status, "5.2.2") == 0)
		return EX_NOPERM;
	return EX_UNAVAILABLE;
}

void
dlv_close_stores(void)
{
	size_t i;

	for (i = 0; i < STORE_CACHE; i++)
		if (cache[i].path != NULL)
			cache_drop(i);
	for (i = 0; i < DOM_CACHE; i++) {
		domusage_close(&dcache[i].du);
		free(dcache[i].dir);
		dcache[i].dir = NULL;
	}
}
