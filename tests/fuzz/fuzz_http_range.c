/* Fuzz target: the Range header parser of artifact downloads must never crash, and a range it accepts
 * must lie inside the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_artifact.h"

const char *fuzz_target_name = "fuzz_http_range";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = {1, 2, 1000, UINT64_MAX};
	char *text = malloc(size + 1);

	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t first = 0, last = 0;
		if (http_artifact__range(text, sizes[i], &first, &last) == 1 && (first > last || last >= sizes[i]))
			abort();
	}
	free(text);
	return 0;
}
