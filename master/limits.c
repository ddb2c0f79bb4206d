/*
 * limits.c: per client address, per service: how many connections it has
 * now (client_conn_limit) and how many it opened in the last minute
 * (client_rate_limit).  Refusals are logged once a minute per address
 * with a count, never once per connection: a storm must not become a log
 * storm.  The table is bounded; addresses with nothing to remember are
 * swept every tick.
 */
#include <stdlib.h>
#include <string.h>

#include "chapard.h"
#include "chapar/log.h"
#include "chapar/util.h"

#define NBUCKETS 4096
#define MAX_ENTRIES 100000

struct ipent {
	char ip[NET_ADDRSTRLEN];
	unsigned conns;		/* open now */
	int64_t minute;		/* the minute counted in cur */
	unsigned cur, prev;	/* connections this and the last minute */
	unsigned long refused;	/* not yet logged */
	int64_t logged;		/* last refusal log line */
	struct ipent *next;
};

struct iptable {
	struct ipent *b[NBUCKETS];
	size_t n;
	uint64_t seed;
};

struct iptable *
iptable_new(void)
{
	struct iptable *t = xcalloc(1, sizeof(*t));

	rand_bytes(&t->seed, sizeof(t->seed));
	return t;
}

void
iptable_free(struct iptable **tp)
{
	struct iptable *t = *tp;
	struct ipent *e;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < NBUCKETS; i++)
		while ((e = t->b[i]) != NULL) {
			t->b[i] = e->next;
			free(e);
		}
	free(t);
	*tp = NULL;
}

static size_t
hash(const struct iptable *t, const char *ip)
{
	uint64_t h = 1469598103934665603ULL ^ t->seed;

	while (*ip != '\0') {
		h ^= (unsigned char)*ip++;
		h *= 1099511628211ULL;
	}
	return (size_t)(h % NBUCKETS);
}

static struct ipent *
find(struct iptable *t, const char *ip, int create)
{
	struct ipent *e;
	size_t h = hash(t, ip);

	for (e = t->b[h]; e != NULL; e = e->next)
		if (strcmp(e->ip, ip) == 0)
			return e;
	if (!create || t->n >= MAX_ENTRIES)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	(void)xsnprintf(e->ip, sizeof(e->ip), "%s", ip);
	e->minute = now_sec() / 60;
	e->next = t->b[h];
	t->b[h] = e;
	t->n++;
	return e;
}

/* Connections over the last 60 seconds, from two one-minute buckets. */
static unsigned
rate(struct ipent *e, int64_t now)
{
	int64_t m = now / 60;
	unsigned frac;

	if (m != e->minute) {
		e->prev = m == e->minute + 1 ? e->cur : 0;
		e->cur = 0;
		e->minute = m;
	}
	/* the older minute weighs as much as it still overlaps */
	frac = (unsigned)(60 - now % 60);
	return e->cur + (unsigned)((unsigned long)e->prev * frac / 60);
}

static void
log_refusal(struct service *s, struct ipent *e, const char *why)
{
	int64_t now = now_sec();

	e->refused++;
	if (now - e->logged < 60)
		return;
	if (e->logged == 0 || e->refused == 1)
		log_warning("service %s: refusing %s: %s", s->name, e->ip, why);
	else
		log_warning("service %s: refused %s %lu times in the last "
		    "minute: %s", s->name, e->ip, e->refused, why);
	e->refused = 0;
	e->logged = now;
}

int
iptable_admit(struct service *s, const char *ip, const char **reason)
{
	struct ipent *e;
	int64_t now = now_sec();

	/* UNIX-domain clients are this machine's own programs */
	if (strcmp(ip, "local") == 0)
		return 0;
	if (s->nexc > 0 && netmask_match(s->exc, s->nexc, ip))
		return 0;
	if ((e = find(s->ips, ip, 1)) == NULL) {
		/* The table is full of live entries: admit, untracked. */
		return 0;
	}
	if (s->conn_limit > 0 && e->conns >= s->conn_limit) {
		*reason = "too many connections from your address";
		log_refusal(s, e, *reason);
		return -1;
	}
	if (s->rate_limit > 0 && rate(e, now) >= s->rate_limit) {
		*reason = "too many connections from your address in the "
		    "last minute";
		log_refusal(s, e, *reason);
		return -1;
	}
	(void)rate(e, now);
	e->cur++;
	e->conns++;
	return 0;
}

void
iptable_release(struct service *s, const char *ip)
{
	struct ipent *e;

	if (s->ips != NULL && (e = find(s->ips, ip, 0)) != NULL &&
	    e->conns > 0)
		e->conns--;
}

/* Once a second: flush refusal counts, forget idle addresses. */
void
iptable_tick(struct service *s)
{
	struct ipent **ep, *e;
	int64_t now = now_sec();
	size_t i;

	if (s->ips == NULL)
		return;
	for (i = 0; i < NBUCKETS; i++) {
		for (ep = &s->ips->b[i]; (e = *ep) != NULL;) {
			if (e->refused > 0 && now - e->logged >= 60) {
				log_warning("service %s: refused %s %lu times "
				    "in the last minute", s->name, e->ip,
				    e->refused);
				e->refused = 0;
				e->logged = now;
			}
			if (e->conns == 0 && e->refused == 0 &&
			    rate(e, now) == 0 && now - e->logged >= 60) {
				*ep = e->next;
				free(e);
				s->ips->n--;
			} else
				ep = &e->next;
		}
	}
}
