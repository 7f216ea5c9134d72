/* Fuzz target: the tag schema document parser (tag_schema__normalize) and the check it drives must never
 * crash; a schema it accepts must normalise to itself, and checking sample tags against it must not fail
 * in any way other than an error return. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "json_util.h"
#include "tag_schema.h"

const char *fuzz_target_name = "fuzz_tag_schema";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = NULL, *schema = NULL, *again = NULL;
	static const char *samples[] = {"\"eu\"", "3", "true", "{\"a\":1}", "[1,2]", "null"};

	if (json_util_parse((const char *)data, size, JSON_UTIL_MAX_DEPTH, &body) != 0)
		return 0;
	if (tag_schema__normalize(body, &schema) == 0) {
		if (tag_schema__normalize(schema, &again) != 0 || !json_equal(schema, again))
			abort(); /* a normalised schema must be a fixed point */
		const char *key;
		json_t *v;
		json_object_foreach(json_object_get(schema, "keys"), key, v) {
			for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
				json_t *value = json_loads(samples[i], JSON_DECODE_ANY, NULL);
				tag_schema__check(schema, key, value);
				json_decref(value);
			}
		}
		tag_schema__check(schema, "unlisted", json_true());
	}
	json_decref(again);
	json_decref(schema);
	json_decref(body);
	return 0;
}
