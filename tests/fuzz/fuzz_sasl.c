/*
 * libFuzzer target: SASL PLAIN and the SCRAM-SHA-256 server (sasl.c).
 *
 * Input convention: the whole input goes to sasl_plain_parse.  For SCRAM
 * it is split at the first '\n': the part before is the
 * client-first-message, the part after (if any) the client-final-message.
 * The server nonce is forced to RFC 7677's and the keys are RFC 7677's
 * ("pencil"), so the seeds replaying the RFC example reach a good proof.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "chapar/sasl.h"
#include "chapar/util.h"

int LLVMFuzzerInitialize(int *, char ***);
int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct scram_keys keys;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* base64 "W22ZaJ0SNY7soEsUEjb6gQ==" */
	static const unsigned char salt[] = { 0x5b, 0x6d, 0x99, 0x68, 0x9d,
	    0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81 };

	(void)argc;
	(void)argv;
	if (scram_keys_derive("pencil", 6, salt, sizeof(salt), 4096,
	    &keys) == -1)
		__builtin_trap();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct sv msg = sv_make(data, len), c1, z, c, p;
	struct scram_server s;
	struct buf out;
	const char *err;

	(void)sasl_plain_parse(msg, &z, &c, &p, &err);
	(void)sv_split(&msg, '\n', &c1);
	scram_server_init(&s);
	buf_init(&out, 0);
	if (scram_server_client_first(&s, c1, &err) == 0 &&
	    scram_server_set_nonce_for_test(&s,
	    SV_LIT("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")) == 0 &&
	    scram_server_first(&s, &keys, &out) == 0)
		(void)scram_server_client_final(&s, msg, &out, &err);
	buf_free(&out);
	scram_server_free(&s);
	return 0;
}
