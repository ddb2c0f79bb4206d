/*
 * json: just enough JSON output for "--json" listings (RFC 8259).
 */
#ifndef CHAPAR_JSON_H
#define CHAPAR_JSON_H

#include "chapar/buf.h"

/* Append v as a JSON string, quotes included; invalid UTF-8 bytes are
 * replaced by U+FFFD so the output is always valid JSON. */
void json_string(struct buf *, struct sv v);

#endif
