/*
 * fuzz_maildir: libFuzzer target for the maildir names (chapar/maildir.h):
 * folder names from IMAP clients and file names found on disk.  Checks
 * that a folder name that maps to a directory gives a single path
 * component starting with '.', without '/', "..", or control characters,
 * that maps back to the same name; and that a parsed file name's base is
 * a prefix of it and its flags are known bits.  A broken invariant
 * aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/maildir.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
folder(struct sv name)
{
	struct buf dir, back;
	const char *err;
	size_t i;

	buf_init(&dir, 0);
	buf_init(&back, 0);
	if (maildir_folder_dir(name, &dir, &err) == 0 && dir.len > 0) {
		if (dir.data[0] != '.' || memchr(dir.data, '/', dir.len) ||
		    strstr(buf_cstr(&dir), "..") != NULL)
			abort();
		for (i = 0; i < dir.len; i++)
			if ((unsigned char)dir.data[i] < 0x20 ||
			    dir.data[i] == 0x7f)
				abort();
		if (maildir_dir_folder(buf_cstr(&dir), &back) != 0 ||
		    back.len != name.n || memcmp(back.data, name.p, name.n))
			abort();
	}
	buf_free(&dir);
	buf_free(&back);
}

static void
file(const char *name, size_t len)
{
	struct maildir_name mn;
	struct buf again;

	if (maildir_name_parse(name, &mn) != 0)
		return;
	if (mn.base.p != name || mn.base.n > len ||
	    (mn.flags & ~(unsigned)MF_ALL) != 0)
		abort();
	buf_init(&again, 0);
	maildir_name_make(mn.base, mn.uid ? mn.uid : 1, mn.flags, &again);
	if (maildir_name_parse(buf_cstr(&again), &mn) != 0 ||
	    (mn.flags & ~(unsigned)MF_ALL) != 0)
		abort();
	buf_free(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	folder(sv_make((const char *)data, size));
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	file(s, strlen(s));
	free(s);
	return 0;
}
