/*
 * config.c: the chapar.conf(5) parser.
 *
 * The file is trusted to the extent that root wrote it, but it is parsed as
 * if it were hostile: every line is bounded, every value is typed and
 * checked, and every error names FILE:LINE and the form that was expected.
 *
 * Syntax (modelled on Postfix's main.cf): a logical line starts in column
 * one; a line starting with white space continues the previous one; lines
 * whose first non-blank character is '#' are comments; "[name]" starts a
 * service section.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapar/config.h"
#include "chapar/log.h"
#include "chapar/paths.h"
#include "chapar/util.h"

#define CFG_MAX_FILE (1024 * 1024)
#define CFG_MAX_DEPTH 8

struct cfg_val {
	int set;		/* given in the file (else: default) */
	int line;
	char *raw;		/* as written (or the default) */
	char *str;		/* after $expansion */
	uint64_t num;
	int b;
	char **items;
	size_t nitems;
};

struct cfg_section {
	char *name;
	int custom;		/* not a built-in service: needs program */
	int line;		/* of its first [name] header */
	struct cfg_val *vals;	/* cfg_nkeys entries; only set ones used */
	struct cfg_section *next;
};

struct config {
	char *file;
	char *dir;		/* directory of the file: $config_dir */
	struct cfg_val *global;
	struct cfg_section *sections;
};

const char *
config_default_path(void)
{
	const char *e = getenv("CHAPAR_CONF");

	return e != NULL && *e != '\0' ? e : CHAPAR_SYSCONFDIR "/chapar.conf";
}

static int
key_index(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < cfg_nkeys; i++)
		if (strlen(cfg_keys[i].name) == n &&
		    memcmp(cfg_keys[i].name, name, n) == 0)
			return (int)i;
	return -1;
}

/* Levenshtein distance, bounded, for "did you mean" hints. */
static size_t
edit_distance(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b), i, j, prev, cur, tmp;
	size_t row[64];

	if (an >= 63 || bn >= 63)
		return 99;
	for (j = 0; j <= bn; j++)
		row[j] = j;
	for (i = 1; i <= an; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= bn; j++) {
			cur = row[j];
			tmp = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < tmp)
				tmp = row[j] + 1;
			if (row[j - 1] + 1 < tmp)
				tmp = row[j - 1] + 1;
			row[j] = tmp;
			prev = cur;
		}
	}
	return row[bn];
}

static const char *
suggest_key(const char *name, size_t n)
{
	size_t i, best = 3, d;
	const char *hit = NULL;

	for (i = 0; i < cfg_nkeys; i++) {
		d = edit_distance(name, n, cfg_keys[i].name);
		if (d < best) {
			best = d;
			hit = cfg_keys[i].name;
		}
	}
	return hit;
}

static void
val_clear(struct cfg_val *v)
{
	size_t i;

	free(v->raw);
	free(v->str);
	for (i = 0; i < v->nitems; i++)
		free(v->items[i]);
	free(v->items);
	memset(v, 0, sizeof(*v));
}

static struct cfg_val *
vals_new(void)
{
	return xcalloc(cfg_nkeys, sizeof(struct cfg_val));
}

static void
vals_free(struct cfg_val *vals)
{
	size_t i;

	if (vals == NULL)
		return;
	for (i = 0; i < cfg_nkeys; i++)
		val_clear(&vals[i]);
	free(vals);
}

void
config_free(struct config **cp)
{
	struct config *c = *cp;
	struct cfg_section *s, *n;

	if (c == NULL)
		return;
	vals_free(c->global);
	for (s = c->sections; s != NULL; s = n) {
		n = s->next;
		vals_free(s->vals);
		free(s->name);
		free(s);
	}
	free(c->file);
	free(c->dir);
	free(c);
	*cp = NULL;
}

/* --- value parsers ------------------------------------------------------ */

int
cfg_parse_size(struct sv v, uint64_t *out)
{
	uint64_t n, mul = 1;
	size_t i = 0;

	v = sv_trim(v);
	while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9')
		i++;
	if (i == 0 || parse_u64(sv_make(v.p, i), UINT64_MAX, &n) == -1)
		return -1;
	if (i < v.n) {
		switch (v.p[i]) {
		case 'k': case 'K': mul = 1024ULL; break;
		case 'm': case 'M': mul = 1024ULL * 1024; break;
		case 'g': case 'G': mul = 1024ULL * 1024 * 1024; break;
		case 't': case 'T': mul = 1024ULL * 1024 * 1024 * 1024; break;
		case 'b': case 'B': mul = 1; i--; break;
		default: return -1;
		}
		i++;
		if (i < v.n && (v.p[i] == 'b' || v.p[i] == 'B'))
			i++;
		if (i != v.n)
			return -1;
	}
	if (n > UINT64_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

int
cfg_parse_duration(struct sv v, uint64_t *out)
{
	uint64_t total = 0, n, mul;
	size_t i = 0, start;

	v = sv_trim(v);
	if (v.n == 0)
		return -1;
	while (i < v.n) {
		start = i;
		while (i < v.n && v.p[i] >= '0' && v.p[i] <= '9')
			i++;
		if (i == start ||
		    parse_u64(sv_make(v.p + start, i - start), UINT64_MAX,
		    &n) == -1)
			return -1;
		mul = 1;
		if (i < v.n) {
			switch (v.p[i]) {
			case 's': mul = 1; break;
			case 'm': mul = 60; break;
			case 'h': mul = 3600; break;
			case 'd': mul = 86400; break;
			case 'w': mul = 7 * 86400; break;
			default: return -1;
			}
			i++;
		} else if (start != 0)
			return -1;	/* "1h30" is ambiguous */
		if (n > UINT64_MAX / mul || total > UINT64_MAX - n * mul)
			return -1;
		total += n * mul;
	}
	*out = total;
	return 0;
}

int
cfg_parse_bool(struct sv v, int *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t i;

	v = sv_trim(v);
	for (i = 0; i < NELEM(yes); i++) {
		if (sv_caseeq_str(v, yes[i])) {
			*out = 1;
			return 0;
		}
		if (sv_caseeq_str(v, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* --- parsing ------------------------------------------------------------ */

struct parser {
	struct config *c;
	const char *name;
	struct buf *err;
	struct cfg_section *cur;	/* NULL: global */
};

static int
perr(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
perr(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	/* the file's name and what it said, cut to the caller's err */
	buf_reset(p->err);
	if (line > 0)
		buf_cut_printf(p->err, "%s:%d: ", p->name, line);
	else
		buf_cut_printf(p->err, "%s: ", p->name);
	va_start(ap, fmt);
	buf_cut_vprintf(p->err, fmt, ap);
	va_end(ap);
	return -1;
}

static int
is_keychar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int
parse_section(struct parser *p, struct sv l, int line)
{
	struct cfg_section *s;
	struct sv name;
	size_t i;

	l = sv_trim(l);
	if (l.n < 3 || l.p[l.n - 1] != ']')
		return perr(p, line, "expected a section header like "
		    "\"[authd]\"");
	name = sv_trim(sv_make(l.p + 1, l.n - 2));
	for (i = 0; cfg_services[i] != NULL; i++)
		if (sv_eq_str(name, cfg_services[i]))
			break;
	if (name.n == 0 || name.n > 64)
		return perr(p, line, "expected a service name of 1 to 64 "
		    "characters");
	for (i = 0; i < name.n; i++)
		if (!is_keychar((unsigned char)name.p[i]) && name.p[i] != '-')
			return perr(p, line, "service names are made of a-z, "
			    "0-9, '_' and '-'");
	for (s = p->c->sections; s != NULL; s = s->next)
		if (sv_eq_str(name, s->name))
			break;
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->name = sv_strdup(name);
		s->line = line;
		for (i = 0; cfg_services[i] != NULL; i++)
			if (sv_eq_str(name, cfg_services[i]))
				break;
		s->custom = cfg_services[i] == NULL;
		s->vals = vals_new();
		s->next = p->c->sections;
		p->c->sections = s;
	}
	p->cur = s;
	return 0;
}

static int
parse_assignment(struct parser *p, struct sv l, int line)
{
	struct cfg_val *v;
	const char *hint;
	size_t k = 0;
	int idx;

	while (k < l.n && is_keychar((unsigned char)l.p[k]))
		k++;
	if (k == 0)
		return perr(p, line, "expected \"key = value\" or \"[service]\"");
	idx = key_index(l.p, k);
	if (idx < 0) {
		hint = suggest_key(l.p, k);
		if (hint != NULL)
			return perr(p, line, "unknown key \"%s\" (did you mean "
			    "\"%s\"?)", log_esc(l.p, k), hint);
		return perr(p, line, "unknown key \"%s\"", log_esc(l.p, k));
	}
	l.p += k;
	l.n -= k;
	l = sv_trim(l);
	if (l.n == 0 || l.p[0] != '=')
		return perr(p, line, "expected \"=\" after \"%s\"",
		    cfg_keys[idx].name);
	l = sv_trim(sv_make(l.p + 1, l.n - 1));
	if (p->cur != NULL && !(cfg_keys[idx].flags & CFG_SERVICE))
		return perr(p, line, "%s cannot be set for one service; set "
		    "it before the first [section]", cfg_keys[idx].name);
	if (p->cur == NULL && (cfg_keys[idx].flags & CFG_SECTION))
		return perr(p, line, "%s belongs to a service: set it in the "
		    "service's [section]", cfg_keys[idx].name);
	v = p->cur != NULL ? &p->cur->vals[idx] : &p->c->global[idx];
	if (v->set)
		return perr(p, line, "%s is already set at line %d",
		    cfg_keys[idx].name, v->line);
	v->set = 1;
	v->line = line;
	v->raw = sv_strdup(l);
	return 0;
}

static int
parse_logical(struct parser *p, struct buf *l, int line)
{
	struct sv v = buf_sv(l);

	if (v.n == 0)
		return 0;
	if (v.p[0] == '[')
		return parse_section(p, v, line);
	return parse_assignment(p, v, line);
}

/* Split text into logical lines and hand each to parse_logical. */
static int
parse_text(struct parser *p, const char *text, size_t len)
{
	struct buf logical;
	struct sv rest = sv_make(text, len), phys, t;
	int lineno = 0, start = 0, r = 0;

	buf_init(&logical, 65536);
	while (r == 0 && rest.n > 0) {
		(void)sv_split(&rest, '\n', &phys);
		lineno++;
		if (phys.n > 0 && phys.p[phys.n - 1] == '\r')
			phys.n--;
		t = sv_trim(phys);
		if (t.n == 0 || t.p[0] == '#')
			continue;
		if (phys.p[0] == ' ' || phys.p[0] == '\t') {
			if (logical.len == 0) {
				r = perr(p, lineno, "continuation line (it "
				    "starts with white space) without a "
				    "\"key = value\" line before it");
				break;
			}
			if (buf_try_putc(&logical, ' ') == -1 ||
			    buf_try_append_sv(&logical, t) == -1)
				r = perr(p, lineno, "logical line too long");
			continue;
		}
		r = parse_logical(p, &logical, start);
		buf_reset(&logical);
		start = lineno;
		if (r == 0 && buf_try_append_sv(&logical, t) == -1)
			r = perr(p, lineno, "line too long");
	}
	if (r == 0)
		r = parse_logical(p, &logical, start);
	buf_free(&logical);
	return r;
}

/* --- expansion and typing ----------------------------------------------- */

static const char *
raw_value(struct config *c, struct cfg_section *s, int idx)
{
	if (s != NULL && s->vals[idx].set)
		return s->vals[idx].raw;
	if (c->global[idx].set)
		return c->global[idx].raw;
	return cfg_keys[idx].def;
}

static int
expand(struct parser *p, struct cfg_section *s, const char *in, int line,
    int depth, struct buf *out)
{
	size_t i, n, j;
	int idx, brace;

	if (depth > CFG_MAX_DEPTH)
		return perr(p, line, "$variables nested too deeply (a loop?)");
	n = strlen(in);
	for (i = 0; i < n; i++) {
		if (in[i] != '$') {
			if (buf_try_putc(out, in[i]) == -1)
				return perr(p, line, "value too long");
			continue;
		}
		if (i + 1 < n && in[i + 1] == '$') {
			/* out may be full of a variable's value already */
			if (buf_try_putc(out, '$') == -1)
				return perr(p, line, "value too long");
			i++;
			continue;
		}
		brace = i + 1 < n && in[i + 1] == '{';
		j = i + 1 + (size_t)brace;
		while (j < n && is_keychar((unsigned char)in[j]))
			j++;
		if (j == i + 1 + (size_t)brace ||
		    (brace && (j >= n || in[j] != '}')))
			return perr(p, line, "expected a variable name after "
			    "\"$\" (write \"$$\" for a dollar sign)");
		if (j - i - 1 - (size_t)brace == 10 &&
		    memcmp(in + i + 1 + brace, "config_dir", 10) == 0) {
			if (buf_try_puts(out, p->c->dir) == -1)
				return perr(p, line, "value too long");
		} else {
			idx = key_index(in + i + 1 + brace,
			    j - i - 1 - (size_t)brace);
			if (idx < 0)
				return perr(p, line, "unknown variable \"$%s\"",
				    log_esc(in + i + 1 + brace,
				    j - i - 1 - (size_t)brace));
			if (expand(p, s, raw_value(p->c, s, idx), line,
			    depth + 1, out) == -1)
				return -1;
		}
		i = j - 1 + (size_t)brace;
	}
	return 0;
}

static int
split_list(struct cfg_val *v)
{
	struct sv rest = sv_from(v->str), item;
	size_t i, start;

	while (rest.n > 0) {
		i = 0;
		while (i < rest.n && (rest.p[i] == ',' || rest.p[i] == ' ' ||
		    rest.p[i] == '\t'))
			i++;
		start = i;
		while (i < rest.n && rest.p[i] != ',' && rest.p[i] != ' ' &&
		    rest.p[i] != '\t')
			i++;
		item = sv_make(rest.p + start, i - start);
		rest.p += i;
		rest.n -= i;
		if (item.n == 0)
			continue;
		v->items = xreallocarray(v->items, v->nitems + 1,
		    sizeof(char *));
		v->items[v->nitems++] = sv_strdup(item);
	}
	return 0;
}

/* Is word one of the space-separated choices? */
static int
is_choice(const char *choices, const char *word)
{
	size_t n = strlen(word);
	const char *c = choices, *end;

	while (*c != '\0') {
		end = strchr(c, ' ');
		if (end == NULL)
			end = c + strlen(c);
		if ((size_t)(end - c) == n && n > 0 && memcmp(c, word, n) == 0)
			return 1;
		c = *end ? end + 1 : end;
	}
	return 0;
}

static int
type_value(struct parser *p, struct cfg_section *s, int idx,
    struct cfg_val *v)
{
	const struct cfg_key *k = &cfg_keys[idx];
	const char *where = v->set ? "" : " (default)";
	struct buf out;
	char lo[32], hi[32];
	struct sv sv;

	if (v->raw == NULL)
		v->raw = xstrdup(k->def);
	buf_init(&out, 65536);
	if (expand(p, s, v->raw, v->line, 0, &out) == -1) {
		buf_free(&out);
		return -1;
	}
	v->str = buf_detach(&out);
	sv = sv_from(v->str);
	switch (k->type) {
	case CFG_STR:
		if ((k->flags & CFG_ABSPATH) && v->str[0] != '\0' &&
		    v->str[0] != '/')
			return perr(p, v->line, "%s = \"%s\"%s: expected an "
			    "absolute path (or nothing)", k->name,
			    log_esc_str(v->str), where);
		if (k->choices != NULL && !is_choice(k->choices, v->str))
			return perr(p, v->line, "%s = \"%s\"%s: expected one "
			    "of: %s", k->name, log_esc_str(v->str), where,
			    k->choices);
		return 0;
	case CFG_PATH:
		if (v->str[0] != '/')
			return perr(p, v->line, "%s = \"%s\"%s: expected an "
			    "absolute path", k->name, log_esc_str(v->str),
			    where);
		return 0;
	case CFG_LIST:
		return split_list(v);
	case CFG_BOOL:
		if (cfg_parse_bool(sv, &v->b) == -1)
			return perr(p, v->line, "%s = \"%s\"%s: expected yes "
			    "or no", k->name, log_esc_str(v->str), where);
		return 0;
	case CFG_INT:
		if (parse_u64(sv_trim(sv), UINT64_MAX, &v->num) == -1 ||
		    v->num < k->min || v->num > k->max)
			return perr(p, v->line, "%s = \"%s\"%s: expected a "
			    "whole number from %llu to %llu", k->name,
			    log_esc_str(v->str), where,
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
		return 0;
	case CFG_SIZE:
		fmt_size(lo, sizeof(lo), k->min);
		fmt_size(hi, sizeof(hi), k->max);
		if (cfg_parse_size(sv, &v->num) == -1 || v->num < k->min ||
		    v->num > k->max)
			return perr(p, v->line, "%s = \"%s\"%s: expected a "
			    "size from %s to %s (a number with an optional "
			    "K, M, G or T suffix, like 25M)", k->name,
			    log_esc_str(v->str), where, lo, hi);
		return 0;
	case CFG_DURATION:
		fmt_duration(lo, sizeof(lo), k->min);
		fmt_duration(hi, sizeof(hi), k->max);
		if (cfg_parse_duration(sv, &v->num) == -1 ||
		    v->num < k->min || v->num > k->max)
			return perr(p, v->line, "%s = \"%s\"%s: expected a "
			    "duration from %s to %s (a number with s, m, h, "
			    "d or w, like 30s, 5m or 1h30m)", k->name,
			    log_esc_str(v->str), where, lo, hi);
		return 0;
	}
	return perr(p, v->line, "internal: bad type");
}

/* front = yes (smtpfront(8)) speaks plaintext SMTP on TCP: not on an
 * implicit-TLS or a UNIX-domain listener, nor for another protocol. */
static int
check_front(struct parser *p, const struct cfg_section *s)
{
	static const char *const other[] = { "authd", "enqueue", "lmtp",
		"pop3", "pop3s" };
	int fi = key_index("front", 5), li = key_index("listen", 6);
	int ti = key_index("listen_tls", 10);
	const struct cfg_val *v = &s->vals[fi];
	size_t i;

	if (!v->set || !v->b)
		return 0;
	for (i = 0; i < NELEM(other); i++)
		if (strcmp(s->name, other[i]) == 0)
			return perr(p, v->line, "front = yes is for SMTP "
			    "services; [%s] is not one", s->name);
	if (s->vals[ti].set && s->vals[ti].nitems > 0)
		return perr(p, v->line, "front = yes needs plaintext "
		    "listeners, but [%s] has listen_tls (line %d): the front "
		    "cannot hand a TLS session to a worker", s->name,
		    s->vals[ti].line);
	for (i = 0; s->vals[li].set && i < s->vals[li].nitems; i++)
		if (s->vals[li].items[i][0] == '/')
			return perr(p, v->line, "front = yes needs TCP "
			    "listeners, but [%s] listens on %s", s->name,
			    s->vals[li].items[i]);
	return 0;
}

static int
type_all(struct parser *p)
{
	struct cfg_section *s;
	size_t i;
	int prog = key_index("program", 7);

	for (i = 0; i < cfg_nkeys; i++)
		if (type_value(p, NULL, (int)i, &p->c->global[i]) == -1)
			return -1;
	for (s = p->c->sections; s != NULL; s = s->next) {
		for (i = 0; i < cfg_nkeys; i++)
			if (s->vals[i].set &&
			    type_value(p, s, (int)i, &s->vals[i]) == -1)
				return -1;
		if (check_front(p, s) == -1)
			return -1;
		if (s->custom && (!s->vals[prog].set ||
		    s->vals[prog].str[0] != '/')) {
			perr(p, s->line, "unknown service \"%s\": a service "
			    "of your own needs \"program = /path\"; the "
			    "built-in ones are:", s->name);
			for (i = 0; cfg_services[i] != NULL; i++)
				buf_cut_printf(p->err, " %s",
				    cfg_services[i]);
			return -1;
		}
	}
	return 0;
}

static char *
dir_of(const char *path)
{
	char cwd[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct buf b;

	/* the working directory and the path of the command line: as
	 * long as they are */
	buf_init(&b, 0);
	if (slash == NULL || path[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			buf_puts(&b, ".");
		else
			buf_puts(&b, cwd);
		if (slash != NULL) {
			buf_putc(&b, '/');
			buf_append(&b, path, (size_t)(slash - path));
		}
	} else if (slash == path)
		buf_puts(&b, "/");
	else
		buf_append(&b, path, (size_t)(slash - path));
	return buf_detach(&b);
}

int
config_parse(const char *name, const char *text, size_t len,
    struct config **cp, struct buf *err)
{
	struct parser p;
	struct config *c;

	*cp = NULL;
	c = xcalloc(1, sizeof(*c));
	c->file = xstrdup(name);
	c->dir = dir_of(name);
	c->global = vals_new();
	p.c = c;
	p.name = name;
	p.err = err;
	p.cur = NULL;
	if (memchr(text, '\0', len) != NULL) {
		perr(&p, 0, "the file contains a NUL byte");
		config_free(&c);
		return -1;
	}
	if (parse_text(&p, text, len) == -1 || type_all(&p) == -1) {
		config_free(&c);
		return -1;
	}
	*cp = c;
	return 0;
}

int
config_load(const char *path, struct config **cp, struct buf *err)
{
	struct buf text;
	struct stat st;
	int r;

	*cp = NULL;
	buf_init(&text, CFG_MAX_FILE + 1);
	if (file_read(path, CFG_MAX_FILE, &text) == -1) {
		buf_reset(err);
		buf_cut_printf(err, "%s: cannot read: %s", path,
		    errno == EFBIG ? "larger than 1 MB" : strerror(errno));
		buf_free(&text);
		return -1;
	}
	if (stat(path, &st) == 0 && (st.st_mode & S_IWOTH)) {
		buf_reset(err);
		buf_cut_printf(err, "%s: refusing a file that anyone may "
		    "write (chmod o-w %s)", path, path);
		buf_free(&text);
		return -1;
	}
	r = config_parse(path, buf_cstr(&text), text.len, cp, err);
	buf_free(&text);
	return r;
}

/* --- lookups ------------------------------------------------------------ */

static const struct cfg_val *
lookup(const struct config *c, const char *svc, const char *key,
    enum cfg_type want)
{
	const struct cfg_section *s;
	int idx = key_index(key, strlen(key));

	if (idx < 0)
		log_panic("config: no such key \"%s\"", key);
	if (cfg_keys[idx].type != want &&
	    !(want == CFG_INT && (cfg_keys[idx].type == CFG_SIZE ||
	    cfg_keys[idx].type == CFG_DURATION)) &&
	    !(want == CFG_STR && cfg_keys[idx].type == CFG_PATH))
		log_panic("config: key \"%s\" looked up with the wrong type",
		    key);
	if (svc != NULL)
		for (s = c->sections; s != NULL; s = s->next)
			if (strcmp(s->name, svc) == 0 && s->vals[idx].set)
				return &s->vals[idx];
	return &c->global[idx];
}

const char *
config_str(const struct config *c, const char *svc, const char *key)
{
	return lookup(c, svc, key, CFG_STR)->str;
}

uint64_t
config_num(const struct config *c, const char *svc, const char *key)
{
	return lookup(c, svc, key, CFG_INT)->num;
}

int
config_bool(const struct config *c, const char *svc, const char *key)
{
	return lookup(c, svc, key, CFG_BOOL)->b;
}

size_t
config_list(const struct config *c, const char *svc, const char *key,
    const char *const **items)
{
	const struct cfg_val *v = lookup(c, svc, key, CFG_LIST);

	*items = (const char *const *)v->items;
	return v->nitems;
}

const char *
config_file(const struct config *c)
{
	return c->file;
}

size_t
config_sections(const struct config *c, const char **names, size_t max)
{
	const struct cfg_section *s;
	size_t n = 0;

	for (s = c->sections; s != NULL; s = s->next)
		if (n < max)
			names[n++] = s->name;
	return n;
}

int
config_has_section(const struct config *c, const char *svc)
{
	const struct cfg_section *s;

	for (s = c->sections; s != NULL; s = s->next)
		if (strcmp(s->name, svc) == 0)
			return 1;
	return 0;
}

void
config_show(const struct config *c, FILE *fp, int nondefault, int expand)
{
	const struct cfg_section *s;
	size_t i;

	for (i = 0; i < cfg_nkeys; i++) {
		if (nondefault && !c->global[i].set)
			continue;
		fprintf(fp, "%s = %s\n", cfg_keys[i].name, expand ?
		    c->global[i].str : c->global[i].raw);
	}
	for (s = c->sections; s != NULL; s = s->next) {
		fprintf(fp, "\n[%s]\n", s->name);
		for (i = 0; i < cfg_nkeys; i++)
			if (s->vals[i].set)
				fprintf(fp, "%s = %s\n", cfg_keys[i].name,
				    expand ? s->vals[i].str : s->vals[i].raw);
	}
}

void
config_hostname(const struct config *cf, char *out, size_t len)
{
	(void)xsnprintf(out, len, "%s", config_str(cf, NULL, "hostname"));
	if (out[0] == '\0' && gethostname(out, len - 1) == -1)
		(void)xsnprintf(out, len, "localhost");
	out[len - 1] = '\0';
}

void
config_log_setup(const struct config *cf, const char *svc, int debug)
{
	enum log_level lvl;
	int fac;

	if (log_facility_parse(config_str(cf, NULL, "log_facility"), &fac) ==
	    0)
		log_set_facility(fac);
	if (log_level_parse(config_str(cf, svc, "log_level"), &lvl) == 0)
		log_set_level(lvl);
	if (debug)
		log_set_level(LOGL_DEBUG);
}
