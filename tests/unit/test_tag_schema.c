/* Unit tests for server/tag_schema.c: schema documents, the per-key check and its messages, enforcement
 * through twin_apply_patch / twin_apply_replace, and the violations report against a real store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "crypto.h"
#include "err.h"
#include "json_util.h"
#include "registry.h"
#include "store.h"
#include "tag_schema.h"
#include "test_util.h"
#include "twin.h"

#include <jansson.h>

static char test_dir[256];

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

	if (!v)
		print_error("bad test JSON [%s]: %s\n", text, e.text);
	assert_non_null(v);
	return v;
}

static const char *SCHEMA = "{\"keys\": {\"location\": {\"type\": \"string\", \"values\": [\"eu\", \"us\"]},"
			    " \"floor\": {\"type\": \"number\"}, \"site\": {\"type\": \"object\"},"
			    " \"ok\": {\"type\": \"boolean\"}, \"zones\": {\"type\": \"array\"}}, \"additionalKeys\": false}";

static json_t *normalized(const char *text)
{
	json_t *body = parse(text), *out = NULL;

	assert_int_equal(tag_schema__normalize(body, &out), 0);
	json_decref(body);
	return out;
}

static int check(const json_t *schema, const char *key, const char *value_text)
{
	json_t *v = parse(value_text);
	int rc = tag_schema__check(schema, key, v);

	json_decref(v);
	return rc;
}

static void test_tag_schema__normalize_rejects_bad_documents(void **state)
{
	const char *bad[] = {
	    "[]",
	    "{}",
	    "{\"keys\": []}",
	    "{\"keys\": {\"a\": {\"type\": \"date\"}}}",
	    "{\"keys\": {\"a\": {}}}",
	    "{\"keys\": {\"a\": {\"type\": \"object\", \"values\": [{}]}}}",
	    "{\"keys\": {\"a\": {\"type\": \"string\", \"values\": [1]}}}",
	    "{\"keys\": {\"a\": {\"type\": \"string\", \"values\": []}}}",
	    "{\"keys\": {\"$a\": {\"type\": \"string\"}}}",
	    "{\"keys\": {}, \"additionalKeys\": \"no\"}",
	};
	json_t *out = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *body = parse(bad[i]);
		if (tag_schema__normalize(body, &out) != DH_EINVAL)
			print_error("accepted %s\n", bad[i]);
		assert_null(out);
		json_decref(body);
	}
}

static void test_tag_schema__additional_keys_default_allowed(void **state)
{
	json_t *s = normalized("{\"keys\": {\"floor\": {\"type\": \"number\"}}}");

	assert_true(json_is_true(json_object_get(s, "additionalKeys")));
	assert_int_equal(check(s, "anything", "\"x\""), 0);
	json_decref(s);
}

static void test_tag_schema__check_names_the_key(void **state)
{
	json_t *s = normalized(SCHEMA);

	assert_int_equal(check(s, "floor", "3"), 0);
	assert_int_equal(check(s, "floor", "3.5"), 0);
	assert_int_equal(check(s, "floor", "\"3\""), DH_EINVAL);
	assert_string_equal(err_message(), "tag 'floor' must be a number");
	assert_int_equal(check(s, "location", "\"eu\""), 0);
	assert_int_equal(check(s, "location", "\"asia\""), DH_EINVAL);
	assert_string_equal(err_message(), "tag 'location' must be one of [\"eu\",\"us\"]");
	assert_int_equal(check(s, "site", "{\"a\":1}"), 0);
	assert_int_equal(check(s, "site", "[1]"), DH_EINVAL);
	assert_string_equal(err_message(), "tag 'site' must be an object");
	assert_int_equal(check(s, "ok", "true"), 0);
	assert_int_equal(check(s, "zones", "[1, 2]"), 0);
	assert_int_equal(check(s, "colour", "\"red\""), DH_EINVAL);
	assert_string_equal(err_message(), "tag 'colour' is not allowed by the tag schema");
	/* A delete is always allowed: it is how a twin that breaks the schema is fixed. */
	assert_int_equal(check(s, "colour", "null"), 0);
	assert_int_equal(tag_schema__check(NULL, "colour", json_true()), 0);
	json_decref(s);
}

static void test_tag_schema__number_values_match_by_value(void **state)
{
	json_t *s = normalized("{\"keys\": {\"floor\": {\"type\": \"number\", \"values\": [1, 2]}}}");

	assert_int_equal(check(s, "floor", "1.0"), 0);
	assert_int_equal(check(s, "floor", "3"), DH_EINVAL);
	json_decref(s);
}

/* ---- with a store ----------------------------------------------------------------------------------- */

static int store_setup(void **state)
{
	char path[300];
	int rc;

	test_tmpdir(test_dir);
	snprintf(path, sizeof(path), "%s/devicehub.db", test_dir);
	if ((rc = store_global_init(path)) != 0)
		return rc;
	return tag_schema_init();
}

static int store_teardown(void **state)
{
	tag_schema_shutdown();
	store_global_shutdown();
	test_rmdir(test_dir);
	return 0;
}

static void make_device(const char *id, const char *tags)
{
	char body[256];
	json_t *b, *out = NULL;
	int created = 0;

	snprintf(body, sizeof(body), "{\"deviceId\":\"%s\"}", id);
	b = parse(body);
	assert_int_equal(registry_put(id, "", b, NULL, &out, &created), 0);
	json_decref(out);
	json_decref(b);
	snprintf(body, sizeof(body), "{\"tags\":%s}", tags);
	b = parse(body);
	assert_int_equal(twin_update(id, "", b, 0, NULL, &out), 0);
	json_decref(out);
	json_decref(b);
}

static int twin_write(const char *id, const char *body_text, int replace)
{
	json_t *b = parse(body_text), *out = NULL;
	int rc = twin_update(id, "", b, replace, NULL, &out);

	json_decref(out);
	json_decref(b);
	return rc;
}

static void put_schema(const char *text)
{
	json_t *b = parse(text), *out = NULL;

	assert_int_equal(tag_schema_put(b, &out), 0);
	json_decref(out);
	json_decref(b);
}

static void test_tag_schema__enforced_on_twin_writes(void **state)
{
	json_t *got = NULL;

	make_device("d1", "{\"floor\": 1}");
	put_schema(SCHEMA);
	assert_int_equal(twin_write("d1", "{\"tags\": {\"floor\": \"two\"}}", 0), DH_EINVAL);
	assert_string_equal(err_message(), "tag 'floor' must be a number");
	assert_int_equal(twin_write("d1", "{\"tags\": {\"floor\": 2, \"location\": \"eu\"}}", 0), 0);
	assert_int_equal(twin_write("d1", "{\"tags\": {\"location\": \"mars\"}}", 1), DH_EINVAL);
	assert_string_equal(err_message(), "tag 'location' must be one of [\"eu\",\"us\"]");
	assert_int_equal(twin_write("d1", "{\"tags\": {\"site\": {\"b\": 1}}}", 1), 0);
	/* The schema survives a restart of the module (it is stored). */
	tag_schema_shutdown();
	assert_int_equal(tag_schema_init(), 0);
	assert_int_equal(tag_schema_get(&got), 0);
	assert_false(json_is_true(json_object_get(got, "additionalKeys")));
	json_decref(got);
	assert_int_equal(twin_write("d1", "{\"tags\": {\"x\": 1}}", 0), DH_EINVAL);
	assert_int_equal(tag_schema_delete(), 0);
	assert_int_equal(tag_schema_get(&got), DH_ENOROUTE);
	assert_int_equal(twin_write("d1", "{\"tags\": {\"x\": 1}}", 0), 0);
	assert_int_equal(tag_schema_delete(), DH_ENOROUTE);
}

static void test_tag_schema__violations_reported_not_changed(void **state)
{
	json_t *report = NULL, *twin = NULL;

	make_device("a", "{\"floor\": \"one\"}");
	make_device("b", "{\"floor\": 1}");
	make_device("c", "{\"colour\": \"red\", \"floor\": 2}");
	assert_int_equal(tag_schema_violations(&report), DH_ENOROUTE);
	put_schema(SCHEMA);
	assert_int_equal(tag_schema_violations(&report), 0);
	assert_int_equal(json_integer_value(json_object_get(report, "count")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(report, "violations"), 0),
							      "deviceId")),
			    "a");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(report, "violations"), 1),
							      "key")),
			    "colour");
	json_decref(report);
	assert_int_equal(twin_get("a", "", &twin), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(twin, "tags"), "floor")), "one");
	json_decref(twin);
	/* Deleting the offending key is allowed and clears the report for that twin. */
	assert_int_equal(twin_write("c", "{\"tags\": {\"colour\": null}}", 0), 0);
	assert_int_equal(tag_schema_violations(&report), 0);
	assert_int_equal(json_integer_value(json_object_get(report, "count")), 1);
	json_decref(report);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_tag_schema__normalize_rejects_bad_documents),
	    cmocka_unit_test(test_tag_schema__additional_keys_default_allowed),
	    cmocka_unit_test(test_tag_schema__check_names_the_key),
	    cmocka_unit_test(test_tag_schema__number_values_match_by_value),
	};
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test_setup_teardown(test_tag_schema__enforced_on_twin_writes, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_tag_schema__violations_reported_not_changed, store_setup,
					    store_teardown),
	};
	int failed;

	json_util_init();
	if (crypto_init() != 0)
		return 1;
	failed = cmocka_run_group_tests_name("tag_schema", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("tag_schema_store", stored, NULL, NULL);
	return failed;
}
