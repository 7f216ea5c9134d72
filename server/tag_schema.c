/*
 * tag_schema: the optional tag schema (tag_schema.h). The document is normalized once on PUT, so the
 * check on every twin write is a few hash lookups under a read lock. Decisions (docs/groups.md):
 *  - only top-level tag keys are governed; "object" and "array" say nothing of what is inside.
 *  - "number" accepts integers and reals; "values" is allowed for string, number and boolean only.
 *  - a deleted tag (null in a patch) is always allowed, so a twin that breaks the schema can be fixed.
 */
#include "tag_schema.h"

#include "err.h"
#include "json_util.h"
#include "store.h"
#include "store_group.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETTING_NAME "tag_schema"
#define TAG_SCHEMA_MAX_KEYS 256
#define TAG_SCHEMA_MAX_VALUES 256

static pthread_rwlock_t schema_lock = PTHREAD_RWLOCK_INITIALIZER;
static json_t *active; /* normalized document, or NULL: no schema. Replaced, never edited in place. */

static const char *const TYPES[] = {"string", "number", "boolean", "object", "array"};

static int type_known(const char *type)
{
	for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++)
		if (strcmp(TYPES[i], type) == 0)
			return 1;
	return 0;
}

static int type_matches(const char *type, const json_t *v)
{
	if (strcmp(type, "string") == 0)
		return json_is_string(v);
	if (strcmp(type, "number") == 0)
		return json_is_number(v);
	if (strcmp(type, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(type, "object") == 0)
		return json_is_object(v);
	return json_is_array(v);
}

/* One key's rule {"type": t, "values": [...]}. OUT: *out normalized (new reference). */
static int normalize_rule(const char *key, const json_t *rule, json_t **out)
{
	const char *type = json_util_str(rule, "type");
	const json_t *values = json_object_get(rule, "values");
	size_t i;
	json_t *v;

	*out = NULL;
	if (!json_is_object(rule) || !type || !type_known(type))
		return err_set(DH_EINVAL, "tag schema key '%s': type must be string, number, boolean, object or array", key);
	if (values && !json_is_null(values)) {
		if (!json_is_array(values) || json_array_size(values) == 0 || json_array_size(values) > TAG_SCHEMA_MAX_VALUES)
			return err_set(DH_EINVAL, "tag schema key '%s': values must be a non-empty array of at most %d",
				       key, TAG_SCHEMA_MAX_VALUES);
		if (strcmp(type, "object") == 0 || strcmp(type, "array") == 0)
			return err_set(DH_EINVAL, "tag schema key '%s': values are allowed only for string, number or boolean", key);
		json_array_foreach(values, i, v) {
			if (!type_matches(type, v))
				return err_set(DH_EINVAL, "tag schema key '%s': every value must be a %s", key, type);
		}
		*out = json_pack("{s:s, s:O}", "type", type, "values", values);
	} else {
		*out = json_pack("{s:s}", "type", type);
	}
	return 0;
}

int tag_schema__normalize(const json_t *body, json_t **out)
{
	const json_t *keys = json_object_get(body, "keys");
	const json_t *additional = json_object_get(body, "additionalKeys");
	json_t *norm_keys = NULL, *rule;
	const char *key;
	const json_t *value;
	int rc = 0;

	*out = NULL;
	if (!json_is_object(body))
		return err_set(DH_EINVAL, "the tag schema must be a JSON object {\"keys\": {...}, \"additionalKeys\": bool}");
	if (!json_is_object(keys))
		return err_set(DH_EINVAL, "the tag schema needs \"keys\": {\"<tag>\": {\"type\": \"string\"}, ...}");
	if (json_object_size(keys) > TAG_SCHEMA_MAX_KEYS)
		return err_set(DH_EINVAL, "the tag schema may name at most %d keys", TAG_SCHEMA_MAX_KEYS);
	if (additional && !json_is_null(additional) && !json_is_boolean(additional))
		return err_set(DH_EINVAL, "additionalKeys must be true or false");
	norm_keys = json_object();
	json_object_foreach((json_t *)keys, key, value) {
		if (!*key || key[0] == '$' || strchr(key, '.') || strchr(key, ' ')) {
			rc = err_set(DH_EINVAL, "tag schema key '%s' is not a valid tag name", key);
			goto out;
		}
		if ((rc = normalize_rule(key, value, &rule)) != 0)
			goto out;
		json_object_set_new(norm_keys, key, rule);
	}
	/* Absent additionalKeys means allowed: a schema that lists a few keys should not forbid the rest
	 * unless it says so. */
	*out = json_pack("{s:O, s:b}", "keys", norm_keys, "additionalKeys", additional ? json_is_true(additional) : 1);
out:
	json_decref(norm_keys);
	return rc;
}

/* "one of "eu", "us"" into msg, cut short politely when long. */
static void values_text(const json_t *values, char *msg, size_t n)
{
	char *list = json_dumps(values, JSON_COMPACT | JSON_ENCODE_ANY);

	snprintf(msg, n, "%s", list ? list : "[]");
	if (strlen(msg) == n - 1 && n > 4)
		memcpy(msg + n - 4, "...", 4);
	free(list);
}

int tag_schema__check(const json_t *schema, const char *key, const json_t *value)
{
	const json_t *rule = json_object_get(json_object_get(schema, "keys"), key);
	const char *type;
	const json_t *values;
	char list[200];
	size_t i;
	json_t *v;

	if (!schema || !value || json_is_null(value))
		return 0;
	if (!rule) {
		if (json_is_true(json_object_get(schema, "additionalKeys")))
			return 0;
		return err_set(DH_EINVAL, "tag '%s' is not allowed by the tag schema", key);
	}
	type = json_string_value(json_object_get(rule, "type"));
	if (!type_matches(type, value))
		return err_set(DH_EINVAL, "tag '%s' must be %s %s", key,
			       strcmp(type, "object") == 0 || strcmp(type, "array") == 0 ? "an" : "a", type);
	values = json_object_get(rule, "values");
	if (!values)
		return 0;
	json_array_foreach(values, i, v) {
		/* 1 and 1.0 are the same number to a JSON client. */
		if (json_equal(v, value) || (json_is_number(v) && json_is_number(value) &&
					     json_number_value(v) == json_number_value(value)))
			return 0;
	}
	values_text(values, list, sizeof(list));
	return err_set(DH_EINVAL, "tag '%s' must be one of %s", key, list);
}

int tag_schema_check_tag(const char *key, const json_t *value)
{
	int rc;

	pthread_rwlock_rdlock(&schema_lock);
	rc = tag_schema__check(active, key, value);
	pthread_rwlock_unlock(&schema_lock);
	return rc;
}

/* Takes over doc (NULL = no schema) as the active schema. */
static void swap_take(json_t *doc)
{
	json_t *old;

	pthread_rwlock_wrlock(&schema_lock);
	old = active;
	active = doc;
	pthread_rwlock_unlock(&schema_lock);
	json_decref(old);
}

int tag_schema_init(void)
{
	store *s = store_thread();
	char *text = NULL;
	json_t *doc = NULL, *norm = NULL;
	int rc;

	if (!s)
		return DH_EIO;
	text = calloc(1, TAG_SCHEMA_MAX_BYTES + 1);
	if (!text)
		abort(); /* out of memory aborts (docs/architecture.md) */
	rc = store_setting_get(s, SETTING_NAME, text, TAG_SCHEMA_MAX_BYTES + 1);
	if (rc == DH_ENOROUTE) {
		rc = 0;
		swap_take(NULL);
		goto out;
	}
	if (rc)
		goto out;
	if ((rc = json_util_parse(text, strlen(text), 8, &doc)) != 0 || (rc = tag_schema__normalize(doc, &norm)) != 0)
		goto out;
	swap_take(norm);
	norm = NULL;
out:
	json_decref(doc);
	json_decref(norm);
	free(text);
	return rc;
}

void tag_schema_shutdown(void)
{
	swap_take(NULL);
}

int tag_schema_put(const json_t *body, json_t **out)
{
	store *s = store_thread();
	json_t *norm = NULL;
	char *text = NULL;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = tag_schema__normalize(body, &norm)) != 0)
		goto out;
	text = json_util_dump(norm);
	if (strlen(text) > TAG_SCHEMA_MAX_BYTES) {
		rc = err_set(DH_ETOOBIG, "the tag schema exceeds %d bytes", TAG_SCHEMA_MAX_BYTES);
		goto out;
	}
	if ((rc = store_begin_write(s)) != 0)
		goto out;
	if ((rc = store_setting_put(s, SETTING_NAME, text)) != 0 || (rc = store_commit(s)) != 0) {
		store_rollback(s);
		goto out;
	}
	*out = json_incref(norm);
	swap_take(norm);
	norm = NULL;
out:
	free(text);
	json_decref(norm);
	return rc;
}

int tag_schema_get(json_t **out)
{
	pthread_rwlock_rdlock(&schema_lock);
	*out = active ? json_deep_copy(active) : NULL;
	pthread_rwlock_unlock(&schema_lock);
	return *out ? 0 : err_set(DH_ENOROUTE, "no tag schema is set");
}

int tag_schema_delete(void)
{
	store *s = store_thread();
	int rc;

	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	rc = store_setting_delete(s, SETTING_NAME);
	if (rc == 0)
		rc = store_commit(s);
	if (rc) {
		store_rollback(s);
		return rc == DH_ENOROUTE ? err_set(rc, "no tag schema is set") : rc;
	}
	swap_take(NULL);
	return 0;
}

typedef struct scan {
	const json_t *schema;
	json_t *list;
	int64_t count;
} scan;

static int scan_twin(const char *device_id, const char *module_id, const json_t *tags, void *ctx)
{
	scan *sc = ctx;
	const char *key;
	const json_t *value;

	json_object_foreach((json_t *)tags, key, value) {
		if (tag_schema__check(sc->schema, key, value) == 0)
			continue;
		sc->count++;
		if (json_array_size(sc->list) < TAG_SCHEMA_VIOLATIONS_MAX) {
			json_t *v = json_pack("{s:s, s:s, s:s}", "deviceId", device_id, "key", key, "message", err_message());
			if (*module_id)
				json_object_set_new(v, "moduleId", json_string(module_id));
			json_array_append_new(sc->list, v);
		}
		break;
	}
	err_clear();
	return 0;
}

int tag_schema_violations(json_t **out)
{
	store *s = store_thread();
	scan sc = {NULL, NULL, 0};
	int rc;

	*out = NULL;
	if ((rc = tag_schema_get((json_t **)&sc.schema)) != 0)
		return rc;
	if (!s) {
		rc = DH_EIO;
		goto out;
	}
	sc.list = json_array();
	if ((rc = store_begin_read(s)) != 0)
		goto out;
	rc = store_group_each_tagged(s, scan_twin, &sc);
	store_rollback(s);
	if (rc == 0)
		*out = json_pack("{s:I, s:b, s:O}", "count", (json_int_t)sc.count, "truncated",
				 sc.count > (int64_t)json_array_size(sc.list), "violations", sc.list);
out:
	json_decref((json_t *)sc.schema);
	json_decref(sc.list);
	return rc;
}
