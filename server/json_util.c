/* json_util: parsing with limits, dumping, allocators. Includes nothing of the server but buf/err. */
#include "json_util.h"

#include "buf.h"
#include "err.h"

#include <stdlib.h>

/* Scans JSON text for bracket depth, skipping strings, so that depth is known before jansson recurses. */
static int text_depth_exceeds(const char *text, size_t len, int max_depth, size_t *where)
{
	int depth = 0;
	int in_string = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		if (c == '"') {
			in_string = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > max_depth) {
				*where = i;
				return 1;
			}
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 0;
}

int json_util_parse(const char *text, size_t len, int max_depth, json_t **out)
{
	json_error_t jerr;
	size_t where = 0;

	*out = NULL;
	if (text_depth_exceeds(text, len, max_depth, &where))
		return err_set(DH_EINVAL, "JSON nesting deeper than %d at offset %zu", max_depth, where);
	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!*out)
		return err_set(DH_EINVAL, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
			       jerr.text);
	return 0;
}

int json_util_depth(const json_t *v)
{
	int best = 0;

	if (json_is_object(v)) {
		const char *key;
		json_t *child;
		json_object_foreach((json_t *)v, key, child) {
			int d = json_util_depth(child);
			if (d > best)
				best = d;
		}
		return best + 1;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *child;
		json_array_foreach(v, i, child) {
			int d = json_util_depth(child);
			if (d > best)
				best = d;
		}
		return best + 1;
	}
	return 0;
}

char *json_util_dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (!s)
		abort(); /* only fails on allocation, and our allocator already aborts */
	return s;
}

static void *json_alloc(size_t n)
{
	return xmalloc(n);
}

void json_util_init(void)
{
	json_set_alloc_funcs(json_alloc, free);
}

const char *json_util_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

json_t *json_util_obj(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_object(v) ? v : NULL;
}
