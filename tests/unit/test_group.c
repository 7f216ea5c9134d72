/* Unit tests for server/group.c: names, CRUD with etags, live member counts, member pages and the
 * "group" target of jobs and configurations, against a real store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "crypto.h"
#include "err.h"
#include "group.h"
#include "json_util.h"
#include "registry.h"
#include "store.h"
#include "test_util.h"
#include "twin.h"

#include <jansson.h>
#include <stdlib.h>

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

static int store_setup(void **state)
{
	char path[300];

	test_tmpdir(test_dir);
	snprintf(path, sizeof(path), "%s/devicehub.db", test_dir);
	return store_global_init(path);
}

static int store_teardown(void **state)
{
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

static int put(const char *name, const char *body_text, const char *if_match, json_t **out, int *created)
{
	json_t *b = parse(body_text);
	int rc = group_put(name, b, if_match, out, created);

	json_decref(b);
	return rc;
}

static json_int_t count_of(const char *name)
{
	json_t *g = NULL;
	json_int_t n;

	assert_int_equal(group_get(name, &g), 0);
	n = json_integer_value(json_object_get(g, "memberCount"));
	json_decref(g);
	return n;
}

static void test_group__names(void **state)
{
	assert_true(group_name_valid("eu-floor_1.a:b"));
	assert_false(group_name_valid(""));
	assert_false(group_name_valid("a b"));
	assert_false(group_name_valid("a/b"));
}

static void test_group__crud_with_etags(void **state)
{
	json_t *g = NULL, *list = NULL;
	int created = 0;
	char etag[32];

	assert_int_equal(put("eu", "{\"condition\": \"tags.location = 'eu'\", \"description\": \"EU\"}", NULL, &g, &created), 0);
	assert_true(created);
	assert_int_equal(json_integer_value(json_object_get(g, "memberCount")), 0);
	snprintf(etag, sizeof(etag), "%s", json_string_value(json_object_get(g, "etag")));
	json_decref(g);
	assert_int_equal(put("eu", "{\"condition\": \"tags.location = 'eu' AND\"}", NULL, &g, &created), DH_EQUERY);
	assert_null(g);
	assert_int_equal(put("eu", "{\"description\": \"x\"}", NULL, &g, &created), DH_EINVAL);
	assert_int_equal(put("eu", "{\"name\": \"us\", \"condition\": \"true\"}", NULL, &g, &created), DH_EINVAL);
	assert_int_equal(put("bad name", "{\"condition\": \"true\"}", NULL, &g, &created), DH_EINVAL);
	assert_int_equal(put("missing", "{\"condition\": \"true\"}", "*", &g, &created), DH_ENOROUTE);
	assert_int_equal(put("eu", "{\"condition\": \"tags.location = 'eu'\"}", "stale", &g, &created), DH_EETAG);
	assert_int_equal(put("eu", "{\"condition\": \"tags.location IN ['eu', 'uk']\"}", etag, &g, &created), 0);
	assert_false(created);
	assert_string_not_equal(json_string_value(json_object_get(g, "etag")), etag);
	json_decref(g);
	assert_int_equal(group_list(&list), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "condition")),
			    "tags.location IN ['eu', 'uk']");
	json_decref(list);
	assert_int_equal(group_delete("eu", etag), DH_EETAG);
	assert_int_equal(group_delete("eu", NULL), 0);
	assert_int_equal(group_get("eu", &g), DH_ENOROUTE);
	assert_string_equal(err_message(), "group 'eu' not found");
	assert_int_equal(group_delete("eu", NULL), DH_ENOROUTE);
}

static void test_group__live_count_and_members(void **state)
{
	json_t *g = NULL, *items = NULL, *b;
	char *next = NULL, *first;
	const char *type = NULL;
	int created;

	make_device("d1", "{\"location\": \"eu\"}");
	make_device("d2", "{\"location\": \"us\"}");
	assert_int_equal(put("eu", "{\"condition\": \"tags.location = 'eu'\"}", NULL, &g, &created), 0);
	json_decref(g);
	assert_int_equal(count_of("eu"), 1);
	b = parse("{\"tags\": {\"location\": \"eu\"}}");
	assert_int_equal(twin_update("d2", "", b, 0, NULL, &g), 0);
	json_decref(g);
	json_decref(b);
	assert_int_equal(count_of("eu"), 2);
	assert_int_equal(group_devices("eu", 1, NULL, &items, &next, &type), 0);
	assert_string_equal(type, "twin");
	assert_int_equal(json_array_size(items), 1);
	assert_non_null(next);
	json_decref(items);
	first = next;
	assert_int_equal(group_devices("eu", 1, first, &items, &next, &type), 0);
	free(first);
	assert_int_equal(json_array_size(items), 1);
	assert_null(next);
	json_decref(items);
	assert_int_equal(group_devices("nope", 1, NULL, &items, &next, &type), DH_ENOROUTE);
}

static void test_group__resolve_target(void **state)
{
	json_t *g = NULL, *body;
	char *cond = NULL;
	int created;

	assert_int_equal(put("eu", "{\"condition\": \"tags.location = 'eu'\"}", NULL, &g, &created), 0);
	json_decref(g);
	body = parse("{\"group\": \"eu\"}");
	assert_int_equal(group_resolve_target(body, "queryCondition", &cond), 0);
	assert_string_equal(cond, "tags.location = 'eu'");
	free(cond);
	json_decref(body);
	body = parse("{\"group\": \"eu\", \"queryCondition\": \"true\"}");
	assert_int_equal(group_resolve_target(body, "queryCondition", &cond), DH_EINVAL);
	json_decref(body);
	body = parse("{\"group\": \"asia\"}");
	assert_int_equal(group_resolve_target(body, "queryCondition", &cond), DH_EINVAL);
	assert_string_equal(err_message(), "group 'asia' does not exist");
	json_decref(body);
	body = parse("{\"queryCondition\": \"true\"}");
	assert_int_equal(group_resolve_target(body, "queryCondition", &cond), 0);
	assert_null(cond);
	json_decref(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group__names),
	    cmocka_unit_test_setup_teardown(test_group__crud_with_etags, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_group__live_count_and_members, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_group__resolve_target, store_setup, store_teardown),
	};

	json_util_init();
	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("group", tests, NULL, NULL);
}
