/*
 * libFuzzer target: the chapar.conf parser.  Any input must either parse
 * or fail with a "NAME:LINE:"-style message; a parsed configuration must
 * answer every typed look-up and print itself without crashing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chapar/config.h"
#include "chapar/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct config *c = NULL;
	struct buf err;
	size_t i;

	if (devnull == NULL) {
		log_open("fuzz", LOG_TO_STDERR);
		log_set_level(LOGL_FATAL);
		devnull = fopen("/dev/null", "w");
	}
	buf_init(&err, 0);
	if (config_parse("/fuzz/chapar.conf", (const char *)data, size, &c,
	    &err) == 0) {
		for (i = 0; i < cfg_nkeys; i++) {
			switch (cfg_keys[i].type) {
			case CFG_STR:
			case CFG_PATH:
				(void)config_str(c, "authd", cfg_keys[i].name);
				break;
			case CFG_INT:
			case CFG_SIZE:
			case CFG_DURATION:
				(void)config_num(c, "authd", cfg_keys[i].name);
				break;
			case CFG_BOOL:
				(void)config_bool(c, NULL, cfg_keys[i].name);
				break;
			case CFG_LIST: {
				const char *const *items;

				(void)config_list(c, NULL, cfg_keys[i].name,
				    &items);
				break;
			}
			}
		}
		config_show(c, devnull, 0, 0);
		config_show(c, devnull, 1, 1);
		config_free(&c);
	} else if (strncmp(buf_cstr(&err), "/fuzz/chapar.conf:", 18) != 0)
		abort();
	buf_free(&err);
	return 0;
}
