/* Fuzz target: SAS token parsing and verification must never crash or read out of bounds. */
#include <stddef.h>
#include <stdint.h>

#include "sas.h"

const char *fuzz_target_name = "fuzz_sas";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sas_token tok;

	if (sas_parse((const char *)data, size, &tok) == 0) {
		sas_verify(&tok, "q6sPBcJqexPqUHpVUH6lbxLm0HlZ1KLHhP1rQ1Q3z+8=", 1900000000);
		sas_scope_covers(tok.sr, "hub.local/devices/dev1");
	}
	return 0;
}
