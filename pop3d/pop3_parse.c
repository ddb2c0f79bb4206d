/*
 * pop3_parse.c: what pop3d reads from clients -- pure functions on
 * (data, length), no I/O (messages go out through common/smtp's stuffer).
 */
#include <stdio.h>
#include <string.h>

#include "chapar/util.h"
#include "pop3.h"

static int
is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* RFC 1939 3: "Commands in the POP3 consist of a case-insensitive
 * keyword, possibly followed by one or more arguments ... separated by a
 * single SPACE character.  Keywords are three or four characters long." */
int
pop3_split(struct sv line, struct sv *verb, struct sv *args)
{
	size_t i = 0;

	while (i < line.n && is_alpha((unsigned char)line.p[i]))
		i++;
	if (i < 3 || i > 4)
		return -1;
	*verb = sv_make(line.p, i);
	if (i == line.n)
		*args = sv_make(line.p + i, 0);
	else if (line.p[i] == ' ' && i + 1 < line.n)
		*args = sv_make(line.p + i + 1, line.n - i - 1);
	else
		return -1;
	return 0;
}

int
pop3_number(struct sv arg, uint64_t limit, uint64_t *n)
{
	uint64_t v = 0, d;
	size_t i;
	int big = 0;

	if (arg.n == 0)
		return -1;
	for (i = 0; i < arg.n; i++) {
		if (arg.p[i] < '0' || arg.p[i] > '9')
			return -1;
		d = (uint64_t)(arg.p[i] - '0');
		if (big || v > (UINT64_MAX - d) / 10)
			big = 1;
		else
			v = v * 10 + d;
	}
	if (big || v > limit)
		return -2;
	*n = v;
	return 0;
}

int
pop3_msgnum(struct sv arg, uint32_t max, uint32_t *n)
{
	uint64_t v = 0;
	int r;

	if ((r = pop3_number(arg, UINT64_MAX, &v)) == -1)
		return -1;
	if (r == -2 || v == 0 || v > max)
		return -2;
	*n = (uint32_t)v;
	return 0;
}

void
pop3_uidl(uint32_t uid, uint32_t uidvalidity, char out[POP3_UIDL_LEN + 1])
{
	(void)snprintf(out, POP3_UIDL_LEN + 1, "%08X%08X", uid, uidvalidity);
}

static const struct pop3_cmd cmds[] = {
	{ "CAPA", P_CAPA, POP3_AUTHORIZATION | POP3_TRANSACTION },
	{ "STLS", P_STLS, POP3_AUTHORIZATION },
	{ "USER", P_USER, POP3_AUTHORIZATION },
	{ "PASS", P_PASS, POP3_AUTHORIZATION },
	{ "AUTH", P_AUTH, POP3_AUTHORIZATION },
	{ "APOP", P_APOP, POP3_AUTHORIZATION },
	{ "UTF8", P_UTF8, POP3_AUTHORIZATION },
	{ "QUIT", P_QUIT, POP3_AUTHORIZATION | POP3_TRANSACTION },
	{ "STAT", P_STAT, POP3_TRANSACTION },
	{ "LIST", P_LIST, POP3_TRANSACTION },
	{ "UIDL", P_UIDL, POP3_TRANSACTION },
	{ "RETR", P_RETR, POP3_TRANSACTION },
	{ "TOP", P_TOP, POP3_TRANSACTION },
	{ "DELE", P_DELE, POP3_TRANSACTION },
	{ "RSET", P_RSET, POP3_TRANSACTION },
	{ "NOOP", P_NOOP, POP3_TRANSACTION },
};

const struct pop3_cmd *
pop3_cmd_lookup(struct sv verb)
{
	size_t i;

	for (i = 0; i < NELEM(cmds); i++)
		if (sv_caseeq_str(verb, cmds[i].name))
			return &cmds[i];
	return NULL;
}
