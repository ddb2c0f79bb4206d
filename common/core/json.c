/*
 * json.c: JSON string escaping (RFC 8259 section 7).
 */
#include "chapar/json.h"
#include "chapar/log.h"
#include "chapar/utf8.h"

void
json_string(struct buf *b, struct sv v)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)v.p;
	uint32_t cp;
	size_t i = 0;
	int l, r = buf_try_putc(b, '"');

	while (i < v.n && r == 0) {
		if (p[i] == '"' || p[i] == '\\') {
			r = buf_try_putc(b, '\\') | buf_try_putc(b, (char)p[i]);
			i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			r = buf_try_puts(b, "\\u00") | buf_try_putc(b, hex[p[i] >> 4]) |
			    buf_try_putc(b, hex[p[i] & 15]);
			i++;
		} else if (p[i] < 0x80) {
			r = buf_try_putc(b, (char)p[i]);
			i++;
		} else if ((l = utf8_decode(p + i, v.n - i, &cp)) > 0 &&
		    cp < 0xa0) {
			/* C1 controls, escaped like C0: a terminal may obey
			 * them */
			r = buf_try_puts(b, "\\u00") | buf_try_putc(b, hex[cp >> 4]) |
			    buf_try_putc(b, hex[cp & 15]);
			i += (size_t)l;
		} else if (l > 0) {
			r = buf_try_append(b, p + i, (size_t)l);
			i += (size_t)l;
		} else {
			r = buf_try_puts(b, "\\ufffd");
			i++;
		}
	}
	if (r != 0 || buf_try_putc(b, '"') == -1)
		log_fatal("json_string: output too large");
}
