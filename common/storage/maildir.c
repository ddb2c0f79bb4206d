/*
 * maildir.c: Maildir++ names and files (see maildir.h).
 *
 * Folder names come from IMAP clients and are hostile: every one goes
 * through maildir_folder_dir(), which can only produce "" or a single
 * path component starting with '.', with no '/' in it.
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chapar/maildir.h"
#include "chapar/utf8.h"
#include "chapar/util.h"

static const char hex[] = "0123456789ABCDEF";

int
maildir_is_inbox(struct sv name)
{
	return sv_caseeq_str(name, "INBOX");
}

/* A byte that must be written %XX in a level's directory name. */
static int
needs_escape(unsigned char c)
{
	return c < 0x20 || c == 0x7f || c == '.' || c == '%';
}

int
maildir_folder_dir(struct sv name, struct buf *dir, const char **error_r)
{
	struct sv rest = name, level;
	char x[3] = { '%', 0, 0 };
	size_t i;

	buf_reset(dir);
	if (name.n == 0) {
		*error_r = "empty folder name";
		return -1;
	}
	if (maildir_is_inbox(name))
		return 0;
	if (name.n > MAILDIR_NAME_MAX) {
		*error_r = "folder name too long";
		return -1;
	}
	if (sv_has_nul(name) || !utf8_valid(name.p, name.n)) {
		*error_r = "folder name is not valid UTF-8";
		return -1;
	}
	while (rest.n > 0 || dir->len == 0) {
		(void)sv_split(&rest, '/', &level);
		if (level.n == 0 || sv_eq_str(level, ".") ||
		    sv_eq_str(level, "..")) {
			*error_r = "empty, \".\" or \"..\" level in folder name";
			buf_reset(dir);
			return -1;
		}
		/* a level escaped is up to three times the name: the
		 * caller's dir may be too small for it (checked below) */
		if (buf_try_putc(dir, '.') == -1)
			goto long_name;
		for (i = 0; i < level.n; i++) {
			unsigned char c = (unsigned char)level.p[i];

			x[1] = hex[c >> 4];
			x[2] = hex[c & 15];
			if (needs_escape(c) ? buf_try_append(dir, x, 3) == -1 :
			    buf_try_putc(dir, (char)c) == -1)
				goto long_name;
		}
		if (rest.n == 0 && name.p[name.n - 1] == '/') {
			*error_r = "folder name ends with \"/\"";
			buf_reset(dir);
			return -1;
		}
	}
	/* One directory entry: NAME_MAX is 255 on every file system we
	 * care about. */
	if (dir->len > 255)
		goto long_name;
	return 0;
long_name:
	*error_r = "folder name too long once escaped";
	buf_reset(dir);
	return -1;
}

static int
unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
maildir_dir_folder(const char *e, struct buf *name)
{
	size_t i, n = strlen(e);
	int h, l;
	char c;

	buf_reset(name);
	if (n < 2 || e[0] != '.' || strcmp(e, "..") == 0)
		return -1;
	for (i = 1; i < n; i++) {
		if (e[i] == '.') {
			if (i + 1 == n || e[i + 1] == '.')
				return -1;	/* empty level */
			c = '/';
		} else if (e[i] == '%' && i + 2 < n &&
		    (h = unhex((unsigned char)e[i + 1])) >= 0 &&
		    (l = unhex((unsigned char)e[i + 2])) >= 0) {
			c = (char)(h << 4 | l);
			i += 2;
		} else
			c = e[i];
		/* an entry of the disk, which anyone with the mail
		 * user's rights may have named */
		if (buf_try_putc(name, c) == -1)
			return -1;
	}
	if (name->len == 0 || !utf8_valid(name->data, name->len) ||
	    sv_has_nul(buf_sv(name)))
		return -1;
	return 0;
}

/* RFC-less but universal: Maildir info ":2," then flags in ASCII order. */
static const struct {
	char letter;
	unsigned flag;
} letters[] = {
	{ 'D', MF_DRAFT }, { 'F', MF_FLAGGED }, { 'P', MF_FORWARDED },
	{ 'R', MF_ANSWERED }, { 'S', MF_SEEN }, { 'T', MF_DELETED },
};

void
maildir_flags_str(unsigned flags, struct buf *out)
{
	size_t i;

	for (i = 0; i < NELEM(letters); i++)
		if (flags & letters[i].flag)
			buf_putc(out, letters[i].letter);
}

unsigned
maildir_flags_parse(const char *info)
{
	unsigned f = 0;
	size_t i;

	for (; *info != '\0'; info++)
		for (i = 0; i < NELEM(letters); i++)
			if (*info == letters[i].letter)
				f |= letters[i].flag;
	return f;
}

/* The host part of a name: '/' and ':' would break it (the Maildir
 * convention writes them \057 and \072). */
static void
host_part(struct buf *out)
{
	char host[256] = "localhost";
	size_t i;

	(void)gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++) {
		if (host[i] == '/')
			buf_puts(out, "\\057");
		else if (host[i] == ':')
			buf_puts(out, "\\072");
		else if (host[i] == ',')
			buf_puts(out, "\\054");
		else
			buf_putc(out, host[i]);
	}
}

void
maildir_unique(size_t size, struct buf *out)
{
	static unsigned long counter;
	struct timeval tv;
	unsigned char r[4];

	gettimeofday(&tv, NULL);
	rand_bytes(r, sizeof(r));
	buf_printf(out, "%lld.M%ldP%ldQ%luR%02x%02x%02x%02x.",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    ++counter, r[0], r[1], r[2], r[3]);
	host_part(out);
	buf_printf(out, ",S=%zu", size);
}

int
maildir_name_parse(const char *file, struct maildir_name *m)
{
	const char *info = strstr(file, ":2,");
	const char *end = info != NULL ? info : file + strlen(file);
	const char *p, *field;
	uint64_t v;
	size_t baselen;

	memset(m, 0, sizeof(*m));
	if (file[0] == '.' || file[0] == '\0')
		return -1;
	m->flags = info != NULL ? maildir_flags_parse(info + 3) : 0;
	/* ",X=value" fields after the unique part; the base keeps S= but
	 * stops before U= (which the index, not the base, identifies). */
	baselen = (size_t)(end - file);
	for (p = file; p < end && (field = memchr(p, ',', (size_t)(end -
	    p))) != NULL; p = field + 1) {
		const char *val = field + 3, *stop = memchr(field + 1, ',',
		    (size_t)(end - field - 1));

		if (stop == NULL)
			stop = end;
		if (end - field < 3 || field[2] != '=')
			continue;
		if (field[1] == 'S' && parse_u64(sv_make(val, (size_t)(stop -
		    val)), UINT64_MAX, &v) == 0) {
			m->size = v;
			m->has_size = 1;
		} else if (field[1] == 'U' && parse_u64(sv_make(val,
		    (size_t)(stop - val)), UINT32_MAX, &v) == 0 && v > 0) {
			m->uid = (uint32_t)v;
			if ((size_t)(field - file) < baselen)
				baselen = (size_t)(field - file);
		}
	}
	m->base = sv_make(file, baselen);
	return 0;
}

void
maildir_name_make(struct sv base, uint32_t uid, unsigned flags,
    struct buf *out)
{
	buf_reset(out);
	buf_append_sv(out, base);
	if (uid > 0)
		buf_printf(out, ",U=%u", uid);
	buf_puts(out, ":2,");
	maildir_flags_str(flags, out);
}

int
maildir_make(int homefd, const char *dir)
{
	static const char *subs[] = { "cur", "new", "tmp" };
	char path[512];
	size_t i;

	if (dir[0] != '\0' && mkdirat(homefd, dir, 0700) == -1 &&
	    errno != EEXIST)
		return -1;
	for (i = 0; i < NELEM(subs); i++) {
		if (xsnprintf(path, sizeof(path), "%s%s%s", dir,
		    dir[0] ? "/" : "", subs[i]) == -1) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdirat(homefd, path, 0700) == -1 && errno != EEXIST)
			return -1;
	}
	return 0;
}

int
maildir_tmp_create(int homefd, size_t size_hint, struct buf *path)
{
	int fd, tries;

	for (tries = 0; tries < 10; tries++) {
		buf_reset(path);
		buf_puts(path, "tmp/");
		maildir_unique(size_hint, path);
		fd = openat(homefd, buf_cstr(path), O_WRONLY | O_CREAT |
		    O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

int
maildir_fsync_dir(int homefd, const char *dir, const char *sub)
{
	char path[512];
	int fd, r;

	if (xsnprintf(path, sizeof(path), "%s%s%s", dir[0] ? dir : ".",
	    sub[0] ? "/" : "", sub) == -1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = openat(homefd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
	if (fd == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}
