/* Unit tests for server/import_line.c: JSON-lines and CSV lines into IoT Hub's import entry shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "err.h"
#include "import_line.h"
#include "json_util.h"

static json_t *csv_entry(const char *header, const char *row)
{
	import_csv *h = NULL;
	json_t *e = NULL;

	assert_int_equal(import_csv_header(header, strlen(header), &h), 0);
	assert_int_equal(import_csv_row(h, row, strlen(row), &e), 0);
	import_csv_free(h);
	return e;
}

static int csv_row_rc(const char *header, const char *row)
{
	import_csv *h = NULL;
	json_t *e = NULL;
	int rc;

	assert_int_equal(import_csv_header(header, strlen(header), &h), 0);
	rc = import_csv_row(h, row, strlen(row), &e);
	assert_true(rc != 0 || e != NULL);
	json_decref(e);
	import_csv_free(h);
	return rc;
}

static void test_import_line__json_object_with_id(void **state)
{
	const char line[] = "{\"id\":\"d1\",\"importMode\":\"create\",\"tags\":{\"a\":1}}";
	json_t *e = NULL;

	assert_int_equal(import_line_json(line, strlen(line), &e), 0);
	assert_string_equal(json_util_str(e, "id"), "d1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "tags"), "a")), 1);
	json_decref(e);
	assert_int_equal(import_line_json("{\"deviceId\":\"d2\"}", 17, &e), 0);
	json_decref(e);
}

static void test_import_line__json_refuses_non_entries(void **state)
{
	static const char *const bad[] = {
	    "", "[]", "42", "{\"id\":7}", "{\"importMode\":\"create\"}", "{\"id\":\"x\"", "{\"id\":\"x\"} trailing"};
	json_t *e = (json_t *)1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(import_line_json(bad[i], strlen(bad[i]), &e), 0);
		assert_null(e);
	}
}

static void test_import_line__csv_columns_map_to_the_entry(void **state)
{
	json_t *e = csv_entry("deviceId,importMode,status,eTag,primaryKey,secondaryKey,tags.site,tags.loc.floor,"
			      "desired.interval\r\n",
			      "d1,update,disabled,MQ==,AAAA,BBBB,north,3,\"{\"\"a\"\":true}\"\r\n");

	assert_string_equal(json_util_str(e, "id"), "d1");
	assert_string_equal(json_util_str(e, "importMode"), "update");
	assert_string_equal(json_util_str(e, "status"), "disabled");
	assert_string_equal(json_util_str(e, "eTag"), "MQ==");
	assert_string_equal(
	    json_util_str(json_object_get(json_object_get(e, "authentication"), "symmetricKey"), "secondaryKey"),
	    "BBBB");
	assert_string_equal(json_util_str(json_object_get(e, "tags"), "site"), "north");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(json_object_get(e, "tags"), "loc"), "floor")), 3);
	assert_true(json_is_true(json_object_get(
	    json_object_get(json_object_get(json_object_get(e, "properties"), "desired"), "interval"), "a")));
	json_decref(e);
}

static void test_import_line__csv_quotes_and_empty_cells(void **state)
{
	json_t *e = csv_entry("deviceId,tags.note,status", "\"d,1\",\"say \"\"hi\"\"\",");

	assert_string_equal(json_util_str(e, "id"), "d,1");
	assert_string_equal(json_util_str(json_object_get(e, "tags"), "note"), "say \"hi\"");
	assert_null(json_object_get(e, "status"));
	assert_null(json_object_get(e, "authentication"));
	json_decref(e);
}

static void test_import_line__csv_refuses_bad_rows(void **state)
{
	const char *h = "deviceId,tags.a";

	assert_int_equal(csv_row_rc(h, "d1,\"open"), DH_EINVAL);
	assert_int_equal(csv_row_rc(h, "d1,\"x\"y"), DH_EINVAL);
	assert_int_equal(csv_row_rc(h, "d1,a\"b"), DH_EINVAL);
	assert_int_equal(csv_row_rc(h, "d1,a,extra"), DH_EINVAL);
	assert_int_equal(csv_row_rc(h, ",a"), DH_EINVAL);
	assert_int_equal(csv_row_rc(h, "d1"), 0);
}

static void test_import_line__csv_header_rules(void **state)
{
	static const char *const bad[] = {"importMode,status", "deviceId,colour", "deviceId,tags.",
					  "deviceId,tags.a..b", "deviceId,\"tags"};
	import_csv *h = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(import_csv_header(bad[i], strlen(bad[i]), &h), DH_EINVAL);
		assert_null(h);
	}
	assert_int_equal(import_csv_header("id,DESIRED.x", 12, &h), DH_EINVAL);
	assert_int_equal(import_csv_header("ID,desired.x", 12, &h), 0);
	import_csv_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_import_line__json_object_with_id),
	    cmocka_unit_test(test_import_line__json_refuses_non_entries),
	    cmocka_unit_test(test_import_line__csv_columns_map_to_the_entry),
	    cmocka_unit_test(test_import_line__csv_quotes_and_empty_cells),
	    cmocka_unit_test(test_import_line__csv_refuses_bad_rows),
	    cmocka_unit_test(test_import_line__csv_header_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
