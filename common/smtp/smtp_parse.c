/*
 * smtp_parse.c: the syntax of SMTP command lines (RFC 5321 4.1), apart
 * from the session so that it can be unit-tested and fuzzed.  Everything
 * takes (data, len) views and does no I/O.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "chapar/smtp.h"

static int
is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int
smtp_split(struct sv line, struct sv *verb, struct sv *args)
{
	size_t i = 0;

	while (i < line.n && is_alpha((unsigned char)line.p[i]))
		i++;
	if (i == 0 || i > 12)
		return -1;
	*verb = sv_make(line.p, i);
	if (i == line.n)
		*args = sv_make(line.p + i, 0);
	else if (line.p[i] == ' ')
		*args = sv_make(line.p + i + 1, line.n - i - 1);
	else
		return -1;
	return 0;
}

int
smtp_path_args(struct sv args, const char *prefix, struct sv *path,
    struct sv *params, const char **error_r)
{
	size_t n = strlen(prefix), i;
	int quoted = 0;

	if (args.n < n || strncasecmp(args.p, prefix, n) != 0) {
		*error_r = "syntax";
		return -1;
	}
	args.p += n;
	args.n -= n;
	while (args.n > 0 && args.p[0] == ' ') {
		args.p++;
		args.n--;
	}
	if (args.n == 0 || args.p[0] != '<') {
		*error_r = "the address must be in angle brackets";
		return -1;
	}
	/* the path ends at the '>' outside a quoted string */
	for (i = 1; i < args.n; i++) {
		if (quoted && args.p[i] == '\\' && i + 1 < args.n)
			i++;
		else if (args.p[i] == '"')
			quoted = !quoted;
		else if (!quoted && args.p[i] == '>')
			break;
	}
	if (i == args.n) {
		*error_r = "no closing angle bracket";
		return -1;
	}
	*path = sv_make(args.p, i + 1);
	*params = sv_make(args.p + i + 1, args.n - i - 1);
	if (params->n > 0 && params->p[0] != ' ') {
		*error_r = "syntax after the address";
		return -1;
	}
	return 0;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-");
 * esmtp-value = 1*(%d33-60 / %d62-126) */
int
smtp_param_next(struct sv *params, struct sv *key, struct sv *value)
{
	size_t i = 0, start;
	unsigned char c;

	while (i < params->n && params->p[i] == ' ')
		i++;
	if (i == params->n)
		return 0;
	start = i;
	while (i < params->n && params->p[i] != ' ' && params->p[i] != '=') {
		c = (unsigned char)params->p[i];
		if (!is_alpha(c) && !(c >= '0' && c <= '9') &&
		    !(c == '-' && i > start))
			return -1;
		i++;
	}
	if (i == start)
		return -1;
	*key = sv_make(params->p + start, i - start);
	*value = sv_make(params->p + i, 0);
	if (i < params->n && params->p[i] == '=') {
		start = ++i;
		while (i < params->n && params->p[i] != ' ') {
			c = (unsigned char)params->p[i];
			if (c < 33 || c > 126 || c == '=')
				return -1;
			i++;
		}
		if (i == start)
			return -1;
		*value = sv_make(params->p + start, i - start);
	}
	params->p += i;
	params->n -= i;
	return 1;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* xtext = *( xchar / hexchar ); hexchar = "+" 2(%x30-39 / %x41-46).
 * What it encodes must be printable US-ASCII or a space (RFC 3461 4.2,
 * 4.4): a control character, CR and LF above all, would reach the
 * envelope and every report made from it. */
int
xtext_decode(struct sv in, struct buf *out)
{
	size_t i;
	int hi, lo;

	buf_reset(out);
	for (i = 0; i < in.n; i++) {
		unsigned char c = (unsigned char)in.p[i];

		if (c == '+') {
			if (i + 2 >= in.n)
				return -1;
			hi = hexval((unsigned char)in.p[i + 1]);
			lo = hexval((unsigned char)in.p[i + 2]);
			if (hi < 0 || lo < 0 || (hi << 4 | lo) < 0x20 ||
			    (hi << 4 | lo) > 0x7e)
				return -1;
			if (buf_try_putc(out, (char)(hi << 4 | lo)) == -1)
				return -1;
			i += 2;
		} else if (c >= 33 && c <= 126 && c != '=') {
			if (buf_try_putc(out, (char)c) == -1)
				return -1;
		} else
			return -1;
	}
	return 0;
}

void
xtext_encode(struct sv in, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	unsigned char c;

	for (i = 0; i < in.n; i++) {
		c = (unsigned char)in.p[i];
		if (c >= 33 && c <= 126 && c != '+' && c != '=')
			buf_putc(out, (char)c);
		else {
			buf_putc(out, '+');
			buf_putc(out, hex[c >> 4]);
			buf_putc(out, hex[c & 15]);
		}
	}
}

int
smtp_helo_ok(struct sv name)
{
	size_t i;

	if (name.n == 0 || name.n > 255)
		return 0;
	for (i = 0; i < name.n; i++)
		if ((unsigned char)name.p[i] <= ' ' ||
		    (unsigned char)name.p[i] == 0x7f)
			return 0;
	return 1;
}

int
smtp_not_smtp(struct sv line)
{
	static const char *const http[] = { "GET ", "POST ", "HEAD ", "PUT ",
		"CONNECT ", "OPTIONS ", "DELETE ", NULL };
	size_t i;

	for (i = 0; http[i] != NULL; i++)
		if (line.n >= strlen(http[i]) &&
		    strncmp(line.p, http[i], strlen(http[i])) == 0)
			return 1;
	/* "Name: value" -- a header field, say from a proxy or a client
	 * that takes us for HTTP */
	for (i = 0; i < line.n && (is_alpha((unsigned char)line.p[i]) ||
	    line.p[i] == '-'); i++)
		;
	return i > 0 && i < line.n && line.p[i] == ':';
}

int
smtp_reply_ok(struct sv r, char cls)
{
	size_t i;

	/* "4XY 4.Y.Z " at the least */
	if (r.n < 10 || r.n > 500 || r.p[0] != cls || !isdigit((unsigned
	    char)r.p[1]) || !isdigit((unsigned char)r.p[2]) || r.p[3] != ' ' ||
	    r.p[4] != cls || r.p[5] != '.')
		return 0;
	for (i = 0; i < r.n; i++)
		if ((unsigned char)r.p[i] < 0x20 || (unsigned char)r.p[i] >=
		    0x7f)
			return 0;
	/* 1*3digit "." 1*3digit, then a space */
	for (i = 6; i < r.n && i < 9 && isdigit((unsigned char)r.p[i]); i++)
		;
	if (i == 6 || i >= r.n || r.p[i] != '.')
		return 0;
	r.p += i + 1;
	r.n -= i + 1;
	for (i = 0; i < r.n && i < 4 && isdigit((unsigned char)r.p[i]); i++)
		;
	return i > 0 && i < 4 && i < r.n && r.p[i] == ' ';
}

int
smtp_grant_match(const char *const *grants, size_t n, const char *login,
    const char *address)
{
	const char *colon, *pat, *at = strrchr(address, '@');
	size_t i;

	for (i = 0; i < n; i++) {
		if ((colon = strchr(grants[i], ':')) == NULL ||
		    (size_t)(colon - grants[i]) != strlen(login) ||
		    strncasecmp(grants[i], login, strlen(login)) != 0)
			continue;
		pat = colon + 1;
		if (strcmp(pat, "*") == 0 || strcasecmp(pat, address) == 0)
			return 1;
		if (pat[0] == '*' && pat[1] == '@' && at != NULL &&
		    strcasecmp(pat + 2, at + 1) == 0)
			return 1;
	}
	return 0;
}

/* n digits as a number; -1 if not all digits */
static int
digits(const char *p, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* RFC 3339 5.6 date-time, as RFC 4865 HOLDUNTIL takes it. */
int
smtp_rfc3339_parse(struct sv v, int64_t *epoch)
{
	struct tm tm;
	size_t i = 19;
	int y, mo, d, h, mi, sec, oh, om, sign;
	time_t t;

	if (v.n < 20 || v.n > 64 || v.p[4] != '-' || v.p[7] != '-' ||
	    (v.p[10] != 'T' && v.p[10] != 't') || v.p[13] != ':' ||
	    v.p[16] != ':')
		return -1;
	y = digits(v.p, 4);
	mo = digits(v.p + 5, 2);
	d = digits(v.p + 8, 2);
	h = digits(v.p + 11, 2);
	mi = digits(v.p + 14, 2);
	sec = digits(v.p + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -1;
	if (v.p[i] == '.') {		/* time-secfrac: ignored */
		for (i++; i < v.n && isdigit((unsigned char)v.p[i]); i++)
			;
		if (v.p[i - 1] == '.')
			return -1;
	}
	if (i == v.n - 1 && (v.p[i] == 'Z' || v.p[i] == 'z'))
		oh = om = sign = 0;
	else if (i == v.n - 6 && (v.p[i] == '+' || v.p[i] == '-') &&
	    v.p[i + 3] == ':') {
		sign = v.p[i] == '+' ? 1 : -1;
		oh = digits(v.p + i + 1, 2);
		om = digits(v.p + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
	} else
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	/* a day that does not exist (Feb 30) comes back changed */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -1;
	*epoch = (int64_t)t - sign * (oh * 3600 + om * 60);
	return 0;
}

int
smtp_reply_line(struct sv line, int *code, int *more, struct sv *text)
{
	if (line.n < 3 || line.p[0] < '2' || line.p[0] > '5' ||
	    !isdigit((unsigned char)line.p[1]) ||
	    !isdigit((unsigned char)line.p[2]) ||
	    (line.n > 3 && line.p[3] != ' ' && line.p[3] != '-'))
		return -1;
	*code = (line.p[0] - '0') * 100 + (line.p[1] - '0') * 10 +
	    (line.p[2] - '0');
	*more = line.n > 3 && line.p[3] == '-';
	*text = line.n > 4 ? sv_make(line.p + 4, line.n - 4) : sv_make("", 0);
	return 0;
}

void
smtp_caps_line(struct sv text, struct smtp_caps *c)
{
	struct sv w, rest = text;
	uint64_t v;

	(void)sv_split(&rest, ' ', &w);
	if (sv_caseeq_str(w, "PIPELINING"))
		c->pipelining = 1;
	else if (sv_caseeq_str(w, "8BITMIME"))
		c->eightbit = 1;
	else if (sv_caseeq_str(w, "SMTPUTF8"))
		c->smtputf8 = 1;
	else if (sv_caseeq_str(w, "DSN"))
		c->dsn = 1;
	else if (sv_caseeq_str(w, "STARTTLS"))
		c->starttls = 1;
	else if (sv_caseeq_str(w, "SIZE")) {
		c->size = 1;
		(void)sv_split(&rest, ' ', &w);
		if (parse_u64(w, UINT64_MAX, &v) == 0)
			c->size_max = v;
	} else if (sv_caseeq_str(w, "AUTH")) {
		while (rest.n > 0) {
			(void)sv_split(&rest, ' ', &w);
			if (sv_caseeq_str(w, "PLAIN"))
				c->auth_plain = 1;
		}
	}
}
