/*
 * penalty.c: count failed logins per client address and per account over
 * auth_fail_window.  The table is bounded: when it is full, expired
 * entries are swept; if it is still full, the oldest bucket entry is
 * reused, so a flood of new addresses cannot exhaust memory.  The hash is
 * keyed with a per-run random seed so that a client cannot aim collisions.
 */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "chapar/log.h"
#include "chapar/util.h"

#define NBUCKETS 16384
#define MAX_ENTRIES 200000

struct pen {
	char *key;
	unsigned count;
	int64_t first;		/* start of the counting window */
	struct pen *next;
};

static struct pen *buckets[NBUCKETS];
static size_t nentries;
static uint64_t seed;
static int64_t last_warning;

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

static uint64_t
window(void)
{
	return config_num(authd.cf, "authd", "auth_fail_window");
}

static int
expired(const struct pen *p, int64_t now)
{
	return now - p->first >= (int64_t)window();
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

static struct pen *
find(const char *kind, const char *key, int create)
{
	struct buf k;
	struct pen *p;
	uint32_t h;

	/* Keys are a client address (AUTH_RIP_MAX) or an account key (an
	 * address): a longer one cannot come, and is not counted if it
	 * does. */
	buf_init(&k, 2048);
	if (buf_try_printf(&k, "%s:%s", kind, key) == -1) {
		buf_free(&k);
		return NULL;
	}
	h = hash(buf_cstr(&k));
	for (p = buckets[h]; p != NULL; p = p->next)
		if (strcmp(p->key, buf_cstr(&k)) == 0)
			break;
	if (p == NULL && create) {
		if (nentries >= MAX_ENTRIES)
			sweep();
		if (nentries >= MAX_ENTRIES) {
			/* Still full: recycle the oldest entry (a chain's
			 * tail) of this or the next non-empty bucket, so the
			 * table never grows. */
			struct pen **pp;
			uint32_t b = h;

			while (buckets[b] == NULL)
				b = (b + 1) % NBUCKETS;
			for (pp = &buckets[b]; (*pp)->next != NULL;
			    pp = &(*pp)->next)
				;
			p = *pp;
			*pp = NULL;
			free(p->key);
			p->next = buckets[h];
			buckets[h] = p;
			if (now_sec() - last_warning >= 60) {
				last_warning = now_sec();
				log_warning("failed-login table full (%zu "
				    "entries): recycling the oldest", nentries);
			}
		} else {
			p = xcalloc(1, sizeof(*p));
			p->next = buckets[h];
			buckets[h] = p;
			nentries++;
		}
		p->key = buf_detach(&k);
		p->count = 0;
		p->first = now_sec();
	}
	buf_free(&k);
	return p;
}

unsigned
penalty_count(const char *kind, const char *key)
{
	struct pen *p;

	/* No client address (a local tool): nothing to count by. */
	if (key[0] == '\0')
		return 0;
	p = find(kind, key, 0);
	if (p == NULL || expired(p, now_sec()))
		return 0;
	return p->count;
}

void
penalty_fail(const char *kind, const char *key)
{
	struct pen *p;

	if (key[0] == '\0')
		return;
	if ((p = find(kind, key, 1)) == NULL)
		return;
	if (expired(p, now_sec())) {
		p->count = 0;
		p->first = now_sec();
	}
	if (p->count < 1000000)
		p->count++;
}

void
penalty_clear(const char *kind, const char *key)
{
	struct pen *p = find(kind, key, 0);

	if (p != NULL)
		p->count = 0;
}

size_t
penalty_entries(void)
{
	return nentries;
}
