/* Fuzz target: request bodies go through json_util_parse (depth pre-scan, duplicate keys); it must never
 * crash, and what it accepts must respect the depth limit. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "json_util.h"

const char *fuzz_target_name = "fuzz_json_body";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v = NULL;

	if (json_util_parse((const char *)data, size, JSON_UTIL_MAX_DEPTH, &v) == 0) {
		if (json_util_depth(v) > JSON_UTIL_MAX_DEPTH)
			abort();
		free(json_util_dump(v));
		json_decref(v);
	}
	return 0;
}
