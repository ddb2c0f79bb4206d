/*
 * penalty.c: the failed-login policy (authd(8), "Failed logins").
 *
 * Failures are counted per client address, per account and per pair of
 * the two, over auth_fail_window from the first; an address that logs in
 * to an account is remembered as known to it for a day.  The per-address
 * limit is fail2ban's: an address that failed too often is refused
 * everything.  The per-account limit must not let an attacker lock the
 * owner out (what a plain account lock does): a locked account refuses
 * only the addresses that failed for it and are not known to it, so the
 * right password from anywhere else still gets in, while each address
 * of a distributed attack gets one guess.  Dovecot slows failures per
 * address only; we slow them per address and per account.
 *
 * The table is bounded: when it is full, expired entries are swept (at
 * most once a second); if it is still full, the oldest bucket entry is
 * reused, so a flood of new addresses cannot exhaust memory or time.  The
 * hash is keyed with a per-run random seed so that a client cannot aim
 * collisions.  It trusts its callers: rip is at most AUTH_RIP_MAX bytes,
 * an account key an address.
 */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "chapar/authc.h"
#include "chapar/log.h"
#include "chapar/util.h"

#define NBUCKETS 16384
#define MAX_ENTRIES 200000
#define KNOWN_TTL 86400		/* s: an address stays known to an account */
#define COUNT_MAX 1000000

struct pen {
	char *key;		/* "kind:..." */
	unsigned count;
	int64_t first;		/* start of the counting window */
	int64_t ttl;		/* its length */
	struct pen *next;
};

static struct pen *buckets[NBUCKETS];
static size_t nentries;
static uint64_t seed;
static int64_t last_warning, last_sweep;

void
penalty_init(void)
{
	rand_bytes(&seed, sizeof(seed));
}

static uint32_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL ^ seed;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return (uint32_t)(h ^ (h >> 32)) % NBUCKETS;
}

static int64_t
window(void)
{
	return (int64_t)config_num(authd.cf, "authd", "auth_fail_window");
}

static int
expired(const struct pen *p, int64_t now)
{
	return now - p->first >= p->ttl;
}

static void
sweep(void)
{
	struct pen **pp, *p;
	int64_t now = now_sec();
	size_t i;

	for (i = 0; i < NBUCKETS; i++) {
		pp = &buckets[i];
		while ((p = *pp) != NULL) {
			if (expired(p, now)) {
				*pp = p->next;
				free(p->key);
				free(p);
				nentries--;
			} else
				pp = &p->next;
		}
	}
}

/* Make room for one more entry in bucket h: an entry to fill in. */
static struct pen *
room(uint32_t h)
{
	struct pen **pp, *p;
	uint32_t b = h;

	if (nentries >= MAX_ENTRIES && now_sec() != last_sweep) {
		last_sweep = now_sec();
		sweep();
	}
	if (nentries < MAX_ENTRIES) {
		p = xcalloc(1, sizeof(*p));
		nentries++;
	} else {
		/* Still full: recycle the oldest entry (a chain's tail) of
		 * this or the next non-empty bucket, so the table never
		 * grows. */
		while (buckets[b] == NULL)
			b = (b + 1) % NBUCKETS;
		for (pp = &buckets[b]; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		p = *pp;
		*pp = NULL;
		free(p->key);
		if (now_sec() - last_warning >= 60) {
			last_warning = now_sec();
			log_warning("failed-login table full (%zu entries): "
			    "recycling the oldest", nentries);
		}
	}
	p->next = buckets[h];
	buckets[h] = p;
	return p;
}

/* The entry of kind for key (key2 after it, for a pair), or NULL; with
 * create, a new one (count 0, lasting ttl from now) if there is none. */
static struct pen *
find(const char *kind, const char *key, const char *key2, int create,
    int64_t ttl)
{
	struct buf k;
	struct pen *p;
	uint32_t h;
	int r;

	/* A pair's key says where the account key ends: keys and addresses
	 * may hold any byte. */
	buf_init(&k, 2048);
	r = key2 == NULL ? buf_try_printf(&k, "%s:%s", kind, key) :
	    buf_try_printf(&k, "%s:%zu:%s%s", kind, strlen(key), key, key2);
	if (r == -1) {
		buf_free(&k);
		return NULL;	/* cannot come (see above): not counted */
	}
	h = hash(buf_cstr(&k));
	for (p = buckets[h]; p != NULL; p = p->next)
		if (strcmp(p->key, buf_cstr(&k)) == 0)
			break;
	if (p == NULL && create) {
		p = room(h);
		p->key = buf_detach(&k);
		p->count = 0;
		p->first = now_sec();
		p->ttl = ttl;
	}
	buf_free(&k);
	return p;
}

static unsigned
count(const char *kind, const char *key, const char *key2)
{
	struct pen *p = find(kind, key, key2, 0, 0);

	if (p == NULL || expired(p, now_sec()))
		return 0;
	return p->count;
}

static unsigned
add(const char *kind, const char *key, const char *key2)
{
	struct pen *p = find(kind, key, key2, 1, window());

	if (p == NULL)
		return 0;
	if (expired(p, now_sec())) {
		p->count = 0;
		p->first = now_sec();
		p->ttl = window();
	}
	if (p->count < COUNT_MAX)
		p->count++;
	return p->count;
}

int
penalty_refused(const char *rip, const char *user)
{
	uint64_t iplim = config_num(authd.cf, "authd", "auth_fail_ip_limit");
	uint64_t ulim = config_num(authd.cf, "authd", "auth_fail_user_limit");
	unsigned pair;
	int locked;

	if (rip[0] != '\0' && count("ip", rip, NULL) >= iplim)
		return 1;
	if (user == NULL || user[0] == '\0' || ulim == 0)
		return 0;
	locked = count("user", user, NULL) >= ulim;
	/* no address to tell the owner from the attacker by */
	if (rip[0] == '\0')
		return locked;
	pair = count("pair", user, rip);
	if (pair >= ulim)
		return 1;
	/* The lock holds against an address that failed for the account,
	 * unless the account logged in from it before. */
	return locked && pair > 0 && count("known", user, rip) == 0;
}

unsigned
penalty_failed(const char *rip, const char *user)
{
	unsigned n = 0, nu;

	if (rip[0] != '\0')
		n = add("ip", rip, NULL);
	if (user != NULL && user[0] != '\0') {
		if ((nu = add("user", user, NULL)) > n)
			n = nu;
		if (rip[0] != '\0')
			(void)add("pair", user, rip);
	}
	return n;
}

void
penalty_succeeded(const char *rip, const char *user)
{
	struct pen *p;

	/* The account's count stays: the owner's logins must not reopen
	 * the account to the addresses that were guessing. */
	if (rip[0] == '\0')
		return;
	if ((p = find("pair", user, rip, 0, 0)) != NULL)
		p->count = 0;
	if ((p = find("known", user, rip, 1, KNOWN_TTL)) != NULL) {
		p->count = 1;
		p->first = now_sec();
		p->ttl = KNOWN_TTL;
	}
}

size_t
penalty_entries(void)
{
	return nentries;
}
