/* Fuzz target: import file lines (JSON lines, and CSV with the first line as the header) must never crash,
 * leak or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "import_line.h"

const char *fuzz_target_name = "fuzz_import_line";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const char *nl = memchr(text, '\n', size);
	size_t first = nl ? (size_t)(nl - text) : size;
	import_csv *h = NULL;
	json_t *e = NULL;

	if (import_line_json(text, size, &e) == 0)
		json_decref(e);
	if (import_csv_header(text, first, &h) == 0) {
		const char *row = nl ? nl + 1 : text + size;
		e = NULL;
		if (import_csv_row(h, row, (size_t)(text + size - row), &e) == 0)
			json_decref(e);
		import_csv_free(h);
	}
	return 0;
}
