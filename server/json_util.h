/*
 * json_util: jansson helpers shared by every module that reads JSON. Leaf module.
 */
#ifndef DH_JSON_UTIL_H
#define DH_JSON_UTIL_H

#include <jansson.h>
#include <stddef.h>

/* Deepest nesting any body may have. IoT Hub limits twins to depth 10 below the section; bodies carry a few
 * wrapper levels (properties.desired...), so the parser allows a margin and twin checks the exact limit. */
#define JSON_UTIL_MAX_DEPTH 16

/* Parses text[0..len) rejecting duplicate keys and nesting deeper than max_depth (jansson has no depth
 * option, so the text is scanned first, which also keeps a hostile body from recursing the parser deep).
 * OUT: *out, a new reference the caller owns. Returns 0 or DH_EINVAL with err_message() naming the position. */
int json_util_parse(const char *text, size_t len, int max_depth, json_t **out);

/* Depth of a parsed value: scalars 0, {} or [] 1, and so on. */
int json_util_depth(const json_t *v);

/* Serialises compactly. Caller owns the returned string (free()). Aborts on out of memory. */
char *json_util_dump(const json_t *v);

/* jansson allocators that abort on failure (the server's out-of-memory policy); call once at start-up. */
void json_util_init(void);

/* Convenience getters returning NULL / fallback when the key is missing or of another type. */
const char *json_util_str(const json_t *obj, const char *key);
json_t *json_util_obj(const json_t *obj, const char *key);

#endif
