/* Unit tests for server/registry.c and registry_bulk.c against a real SQLite file. */
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
#include "test_util.h"

static char dir[256];

static int setup(void **state)
{
	char path[300];

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/db", dir);
	crypto_init();
	return store_global_init(path);
}

static int teardown(void **state)
{
	store_global_shutdown();
	test_rmdir(dir);
	return 0;
}

static json_t *parse(const char *text)
{
	json_t *v = NULL;

	assert_int_equal(json_util_parse(text, strlen(text), 16, &v), 0);
	return v;
}

static void test_registry__id_rules(void **state)
{
	char long_id[130];

	assert_true(registry_id_valid("dev-1.a_b*c?d!e(f)g,h:i=j@k$l'm%n"));
	assert_false(registry_id_valid(""));
	assert_false(registry_id_valid("a b"));
	assert_false(registry_id_valid("a#b"));
	assert_false(registry_id_valid("a+b"));
	assert_false(registry_id_valid("a/b"));
	assert_false(registry_id_valid("caf\xc3\xa9"));
	memset(long_id, 'a', 128);
	long_id[128] = '\0';
	assert_true(registry_id_valid(long_id));
	long_id[128] = 'a';
	long_id[129] = '\0';
	assert_false(registry_id_valid(long_id));
}

static void test_registry__create_generates_keys_and_refuses_duplicates(void **state)
{
	json_t *body = parse("{\"authentication\":{\"type\":\"sas\",\"symmetricKey\":{\"primaryKey\":\"\",\"secondaryKey\":\"\"}}}");
	json_t *out = NULL, *again = NULL;
	int created = 0;

	assert_int_equal(registry_put("d1", "", body, NULL, &out, &created), 0);
	assert_true(created);
	const char *pk = json_string_value(json_object_get(json_object_get(json_object_get(out, "authentication"), "symmetricKey"), "primaryKey"));
	assert_non_null(pk);
	assert_int_equal(strlen(pk), 44);
	assert_string_equal(json_string_value(json_object_get(out, "etag")), "MA==");
	assert_int_equal(registry_put("d1", "", body, NULL, &again, &created), DH_EEXISTS);
	assert_null(again);
	json_decref(out);
	json_decref(body);
}

static void test_registry__replace_checks_etag(void **state)
{
	json_t *body = parse("{\"status\":\"disabled\",\"statusReason\":\"maintenance\"}");
	json_t *out = NULL;
	int created;

	assert_int_equal(registry_put("d2", "", body, NULL, &out, &created), 0);
	json_decref(out);
	assert_int_equal(registry_put("d2", "", body, "bm90LXRoZS1ldGFn", &out, &created), DH_EETAG);
	assert_int_equal(registry_put("d2", "", body, "MA==", &out, &created), 0);
	assert_string_equal(json_string_value(json_object_get(out, "etag")), "MQ==");
	assert_string_equal(json_string_value(json_object_get(out, "status")), "disabled");
	json_decref(out);
	assert_int_equal(registry_put("absent", "", body, "*", &out, &created), DH_ENODEVICE);
	json_decref(body);
}

static void test_registry__bad_input_stores_nothing(void **state)
{
	static const char *bad[] = {
		"{\"status\":\"sleeping\"}",
		"{\"authentication\":{\"symmetricKey\":{\"primaryKey\":\"not base64!\"}}}",
		"{\"authentication\":{\"symmetricKey\":{\"primaryKey\":\"c2hvcnQ=\"}}}",
		"{\"authentication\":{\"type\":\"magic\"}}",
		"{\"authentication\":{\"x509Thumbprint\":{\"primaryThumbprint\":\"xyz\"}}}",
		"{\"capabilities\":{\"iotEdge\":\"yes\"}}",
		"{\"deviceId\":\"someone-else\"}",
		"[]",
	};
	json_t *out = NULL;
	int created;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *body = parse(bad[i]);
		assert_int_equal(registry_put("bad", "", body, NULL, &out, &created), DH_EINVAL);
		json_decref(body);
	}
	assert_int_equal(registry_get("bad", "", &out), DH_ENODEVICE);
}

static void test_registry__modules_live_and_die_with_device(void **state)
{
	json_t *empty = parse("{}");
	json_t *out = NULL, *list = NULL;
	int created;

	assert_int_equal(registry_put("nodev", "m1", empty, NULL, &out, &created), DH_ENODEVICE);
	assert_int_equal(registry_put("d3", "", empty, NULL, &out, &created), 0);
	json_decref(out);
	assert_int_equal(registry_put("d3", "m1", empty, NULL, &out, &created), 0);
	assert_true(created);
	assert_string_equal(json_string_value(json_object_get(out, "moduleId")), "m1");
	json_decref(out);
	assert_int_equal(registry_list_modules("d3", &list), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	assert_int_equal(registry_delete("d3", "", NULL), 0);
	assert_int_equal(registry_get("d3", "m1", &out), DH_ENOMODULE);
	json_decref(empty);
}

static void test_registry__bulk_applies_good_entries_and_reports_bad(void **state)
{
	json_t *body = parse("[{\"id\":\"b1\",\"importMode\":\"create\"},"
			     "{\"id\":\"b2\",\"importMode\":\"Create\",\"tags\":{\"t\":1}},"
			     "{\"id\":\"b1x\",\"importMode\":\"nonsense\"},"
			     "{\"id\":\"has space\",\"importMode\":\"create\"}]");
	json_t *out = NULL, *dev = NULL;

	assert_int_equal(registry_bulk(body, &out), DH_EBULK);
	assert_false(json_is_true(json_object_get(out, "isSuccessful")));
	assert_int_equal(json_array_size(json_object_get(out, "errors")), 2);
	assert_int_equal(registry_get("b1", "", &dev), 0);
	json_decref(dev);
	assert_int_equal(registry_get("b2", "", &dev), 0);
	json_decref(dev);
	assert_int_equal(registry_get("b1x", "", &dev), DH_ENODEVICE);
	json_decref(out);
	json_decref(body);
}

static void test_registry__bulk_duplicate_ids_apply_nothing(void **state)
{
	json_t *body = parse("[{\"id\":\"dup\",\"importMode\":\"create\"},{\"id\":\"dup\",\"importMode\":\"delete\"}]");
	json_t *out = NULL;

	assert_int_equal(registry_bulk(body, &out), DH_EDUPLICATE);
	assert_null(out);
	assert_int_equal(registry_get("dup", "", &out), DH_ENODEVICE);
	json_decref(body);
}

static void test_registry__stats_count_devices_not_modules(void **state)
{
	json_t *empty = parse("{}"), *dis = parse("{\"status\":\"disabled\"}");
	json_t *out = NULL;
	int created;

	assert_int_equal(registry_put("s1", "", empty, NULL, &out, &created), 0);
	json_decref(out);
	assert_int_equal(registry_put("s2", "", dis, NULL, &out, &created), 0);
	json_decref(out);
	assert_int_equal(registry_put("s1", "mod", empty, NULL, &out, &created), 0);
	json_decref(out);
	assert_int_equal(registry_stats_devices(&out), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "totalDeviceCount")), 2);
	assert_int_equal(json_integer_value(json_object_get(out, "disabledDeviceCount")), 1);
	json_decref(out);
	json_decref(empty);
	json_decref(dis);
}

int main(void)
{
	json_util_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry__id_rules),
		cmocka_unit_test_setup_teardown(test_registry__create_generates_keys_and_refuses_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry__replace_checks_etag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry__bad_input_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry__modules_live_and_die_with_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry__bulk_applies_good_entries_and_reports_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry__bulk_duplicate_ids_apply_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry__stats_count_devices_not_modules, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
