/*
 * token.c: one-time login tokens.
 *
 * A successful login hands the protocol daemon a token (128 random bits).
 * The daemon's unprivileged login side passes the token, never a user
 * name, to chapard, and the post-login process redeems it here over the
 * master socket, which only root can open.  So a compromised login
 * process can hand over only sessions that really logged in.  A token
 * lives 60 seconds and works once.
 */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "chapar/log.h"
#include "chapar/util.h"

#define TOKEN_TTL 60
#define MAX_TOKENS 10000

struct token {
	char id[33];
	int64_t expires;
	struct rec info;	/* user, home, quota, service */
	struct token *next;
};

static struct token *tokens;
static size_t ntokens;

static void
token_free(struct token *t)
{
	explicit_bzero(t->id, sizeof(t->id));
	rec_free(&t->info);
	free(t);
}

static void
expire(void)
{
	struct token **tp, *t;
	int64_t now = now_sec();

	for (tp = &tokens; (t = *tp) != NULL;) {
		if (t->expires <= now) {
			*tp = t->next;
			token_free(t);
			ntokens--;
		} else
			tp = &t->next;
	}
}

/* Make a token for a session that just logged in; out gets its id. */
void
token_issue(const struct rec *info, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[16];
	struct token *t;
	size_t i;

	expire();
	if (ntokens >= MAX_TOKENS) {
		/* drop the oldest (the list's tail) */
		struct token **tp = &tokens;

		while ((*tp)->next != NULL)
			tp = &(*tp)->next;
		token_free(*tp);
		*tp = NULL;
		ntokens--;
	}
	rand_bytes(r, sizeof(r));
	t = xcalloc(1, sizeof(*t));
	for (i = 0; i < sizeof(r); i++) {
		t->id[2 * i] = hex[r[i] >> 4];
		t->id[2 * i + 1] = hex[r[i] & 15];
	}
	t->expires = now_sec() + TOKEN_TTL;
	rec_init(&t->info);
	for (i = 0; i < info->n; i++)
		rec_add(&t->info, info->names[i], buf_sv(&info->vals[i]));
	t->next = tokens;
	tokens = t;
	ntokens++;
	memcpy(out, t->id, sizeof(t->id));
	explicit_bzero(r, sizeof(r));
}

/* Take a token: 0 and its information (the token is gone), or -1. */
int
token_redeem(struct sv id, struct rec *out)
{
	struct token **tp, *t;
	size_t i;

	expire();
	if (id.n != 32)
		return -1;
	for (tp = &tokens; (t = *tp) != NULL; tp = &t->next)
		if (ct_equal(t->id, id.p, 32)) {
			*tp = t->next;
			for (i = 0; i < t->info.n; i++)
				rec_add(out, t->info.names[i],
				    buf_sv(&t->info.vals[i]));
			token_free(t);
			ntokens--;
			return 0;
		}
	return -1;
}
