/* Unit tests for server/configuration*.c: ids, content paths, ranking and conflict resolution, the
 * desired patches, and one reconciliation pass against a real store (with `configurations.[[id]].status`
 * in queries). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "configuration.h"
#include "crypto.h"
#include "err.h"
#include "json_util.h"
#include "query.h"
#include "registry.h"
#include "store.h"
#include "test_util.h"
#include "twin.h"

#include <jansson.h>

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);

	if (!v)
		print_error("bad test JSON [%s]: %s\n", text, e.text);
	assert_non_null(v);
	return v;
}

static void assert_json(const json_t *got, const char *want_text)
{
	json_t *want = parse(want_text);

	if (!json_equal(got, want)) {
		char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
		print_error("got  %s\nwant %s\n", g ? g : "NULL", want_text);
		free(g);
	}
	assert_true(json_equal(got, want));
	json_decref(want);
}

/* ---- ids and content -------------------------------------------------------------------------------- */

static void test_configuration__id_rules(void **state)
{
	char long_id[CONFIGURATION_ID_MAX + 2];

	assert_int_equal(configuration_validate_id("fw-rollout_2.0:eu(1)'x'%$@;=,!?*#+"), 0);
	memset(long_id, 'a', sizeof(long_id));
	long_id[CONFIGURATION_ID_MAX] = '\0';
	assert_int_equal(configuration_validate_id(long_id), 0);
	long_id[CONFIGURATION_ID_MAX] = 'a';
	long_id[CONFIGURATION_ID_MAX + 1] = '\0';
	assert_int_equal(configuration_validate_id(long_id), DH_EINVAL);
	assert_int_equal(configuration_validate_id(""), DH_EINVAL);
	assert_int_equal(configuration_validate_id("Upper"), DH_EINVAL);
	assert_int_equal(configuration_validate_id("a b"), DH_EINVAL);
	assert_int_equal(configuration_validate_id("caf\xc3\xa9"), DH_EINVAL);
	for (const char *c = "&^[]{}\\|\"<>/"; *c; c++) {
		char id[4] = {'a', *c, 'b', 0};
		assert_int_equal(configuration_validate_id(id), DH_EINVAL);
	}
}

static void test_configuration__content_entries(void **state)
{
	json_t *content =
	    parse("{\"deviceContent\":{\"properties.desired.fw\":{\"version\":\"1.0\"},"
		  "\"properties.desired.net.wifi.ssid\":\"x\",\"properties.desired\":{\"rate\":5,\"off\":null}},"
		  "\"modulesContent\":{}}");
	json_t *entries = NULL;

	assert_int_equal(configuration_content_entries(content, &entries), 0);
	assert_json(entries, "[[[\"fw\"],{\"version\":\"1.0\"}],[[\"net\",\"wifi\",\"ssid\"],\"x\"],"
			     "[[\"rate\"],5],[[\"off\"],null]]");
	json_decref(entries);
	json_decref(content);
}

static void content_fails(const char *text, const char *want)
{
	json_t *content = parse(text), *entries = (json_t *)1;

	assert_int_equal(configuration_content_entries(content, &entries), DH_EINVAL);
	assert_null(entries);
	if (!strstr(err_message(), want))
		print_error("[%s]: message '%s'\n", text, err_message());
	assert_non_null(strstr(err_message(), want));
	json_decref(content);
}

static void test_configuration__content_rejects(void **state)
{
	content_fails("{\"deviceContent\":{\"tags.a\":1}}", "must start with 'properties.desired'");
	content_fails("{\"deviceContent\":{\"properties.desiredX\":1}}", "must start with 'properties.desired'");
	content_fails("{\"deviceContent\":{\"properties.reported.a\":1}}", "must start with");
	content_fails("{\"deviceContent\":{\"properties.desired\":3}}", "must be a JSON object");
	content_fails("{\"deviceContent\":{\"properties.desired.a..b\":3}}", "empty property name");
	content_fails("{\"deviceContent\":{\"properties.desired.\":3}}", "empty property name");
	content_fails("{\"deviceContent\":{\"properties.desired.a\":1,\"properties.desired.a.b\":2}}", "overlap");
	content_fails("{\"deviceContent\":{\"properties.desired\":{\"a\":{}},\"properties.desired.a.b\":2}}",
		      "overlap");
	content_fails("{\"deviceContent\":{\"properties.desired.a b\":1}}", "contains ' '");
	content_fails("{\"deviceContent\":{\"properties.desired.$x\":1}}", "$");
	content_fails("{\"moduleContent\":{\"m\":{}},\"deviceContent\":{}}", "not supported");
	content_fails("{\"deviceContent\":{}, \"other\":{}}", "unknown content member");
	content_fails("{}", "deviceContent must be a JSON object");
	content_fails("[]", "content must be a JSON object");
}

/* ---- ranking and conflicts -------------------------------------------------------------------------- */

static configuration_claim claim(const char *id, int64_t prio, const char *created, int64_t seq, const json_t *entries)
{
	return (configuration_claim){id, prio, created, seq, entries};
}

static void test_configuration__ranking(void **state)
{
	configuration_claim c[4] = {
	    claim("old-low", 1, "2026-01-01T00:00:00.000Z", 1, NULL),
	    claim("old-high", 9, "2026-01-01T00:00:00.000Z", 2, NULL),
	    claim("new-high", 9, "2026-02-01T00:00:00.000Z", 3, NULL),
	    claim("same-ms", 9, "2026-02-01T00:00:00.000Z", 4, NULL),
	};

	assert_true(configuration_outranks(&c[1], &c[0])); /* priority first */
	assert_false(configuration_outranks(&c[0], &c[1]));
	assert_true(configuration_outranks(&c[2], &c[1])); /* equal priority: newer wins */
	assert_true(configuration_outranks(&c[3], &c[2])); /* equal times: later creation wins */
	assert_false(configuration_outranks(&c[2], &c[2]));
	configuration_sort(c, 4);
	assert_string_equal(c[0].id, "same-ms");
	assert_string_equal(c[1].id, "new-high");
	assert_string_equal(c[2].id, "old-high");
	assert_string_equal(c[3].id, "old-low");
}

static void test_configuration__resolve_by_path(void **state)
{
	json_t *high = parse("[[[\"fw\"],{\"version\":\"2.0\"}]]");
	json_t *low = parse("[[[\"fw\"],{\"version\":\"1.0\"}],[[\"mode\"],\"eco\"]]");
	json_t *deep = parse("[[[\"mode\",\"level\"],3],[[\"other\"],true]]");
	configuration_claim c[3] = {claim("high", 10, "T", 1, high), claim("low", 1, "T", 2, low),
				    claim("deep", 0, "T", 3, deep)};
	int applied[3];
	json_t *settings = configuration_resolve(c, 3, applied);

	/* fw goes to high; low keeps mode; deep loses mode.level (under low's mode) but keeps other. */
	assert_json(settings, "{\"[\\\"fw\\\"]\":{\"c\":\"high\",\"v\":{\"version\":\"2.0\"}},"
			      "\"[\\\"mode\\\"]\":{\"c\":\"low\",\"v\":\"eco\"},"
			      "\"[\\\"other\\\"]\":{\"c\":\"deep\",\"v\":true}}");
	assert_int_equal(applied[0], 1);
	assert_int_equal(applied[1], 0);
	assert_int_equal(applied[2], 0);
	json_decref(settings);

	settings = configuration_resolve(c + 1, 1, applied); /* alone, low applies fully */
	assert_int_equal(applied[0], 1);
	assert_int_equal(json_object_size(settings), 2);
	json_decref(settings);
	settings = configuration_resolve(NULL, 0, applied);
	assert_int_equal(json_object_size(settings), 0);
	json_decref(settings);
	json_decref(high);
	json_decref(low);
	json_decref(deep);
}

static void test_configuration__patch(void **state)
{
	json_t *before = parse("{\"[\\\"fw\\\"]\":{\"c\":\"a\",\"v\":{\"version\":\"1.0\"}},"
			       "\"[\\\"gone\\\",\\\"x\\\"]\":{\"c\":\"a\",\"v\":1},"
			       "\"[\\\"was_null\\\"]\":{\"c\":\"a\",\"v\":null},"
			       "\"[\\\"same\\\"]\":{\"c\":\"a\",\"v\":[1,2]}}");
	json_t *after = parse("{\"[\\\"fw\\\"]\":{\"c\":\"b\",\"v\":{\"version\":\"2.0\"}},"
			      "\"[\\\"same\\\"]\":{\"c\":\"b\",\"v\":[1,2]},"
			      "\"[\\\"new\\\",\\\"deep\\\"]\":{\"c\":\"b\",\"v\":\"v\"}}");
	json_t *patch = configuration_patch(before, after);

	/* Changed value set, removed path deleted, unchanged value (even from another config) not rewritten,
	 * a recorded deletion not repeated. */
	assert_json(patch, "{\"fw\":{\"version\":\"2.0\"},\"gone\":{\"x\":null},\"new\":{\"deep\":\"v\"}}");
	json_decref(patch);
	assert_null(configuration_patch(after, after));
	patch = configuration_patch(after, before);
	assert_json(patch,
		    "{\"fw\":{\"version\":\"1.0\"},\"gone\":{\"x\":1},\"was_null\":null,\"new\":{\"deep\":null}}");
	json_decref(patch);
	json_decref(before);
	json_decref(after);
}

/* A value set below a path that is taken away lands inside the deletion's object. */
static void test_configuration__patch_nested_over_deletion(void **state)
{
	json_t *before = parse("{\"[\\\"a\\\",\\\"b\\\"]\":{\"c\":\"x\",\"v\":1}}");
	json_t *after = parse("{\"[\\\"a\\\"]\":{\"c\":\"y\",\"v\":{\"c\":2}}}");
	json_t *patch = configuration_patch(before, after);

	assert_json(patch, "{\"a\":{\"b\":null,\"c\":2}}");
	json_decref(patch);
	json_decref(before);
	json_decref(after);
}

/* ---- one reconciliation pass on a real store --------------------------------------------------------- */

static char test_dir[256];

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

static json_t *desired_of(const char *id)
{
	json_t *twin = NULL, *d;

	assert_int_equal(twin_get(id, "", &twin), 0);
	d = json_deep_copy(json_object_get(json_object_get(twin, "properties"), "desired"));
	json_decref(twin);
	json_object_del(d, "$metadata");
	json_object_del(d, "$version");
	return d;
}

static void put_config(const char *id, const char *body_text)
{
	json_t *body = parse(body_text), *out = NULL;
	int rc = configuration_put(id, body, NULL, &out);

	if (rc)
		print_error("configuration_put %s: %s\n", id, err_message());
	assert_int_equal(rc, 0);
	json_decref(out);
	json_decref(body);
}

static json_t *query_items(const char *text)
{
	json_t *items = NULL;
	char *next = NULL;
	const char *type = NULL;

	assert_int_equal(query_run(text, strlen(text), 100, NULL, &items, &next, &type), 0);
	free(next);
	return items;
}

static void test_configuration__reconcile_applies_and_takes_back(void **state)
{
	json_t *d, *cfg = NULL, *items;

	make_device("d1", "{\"env\":\"test\"}");
	make_device("d2", "{\"env\":\"prod\"}");
	put_config(
	    "low",
	    "{\"content\":{\"deviceContent\":{\"properties.desired.fw\":\"1.0\",\"properties.desired.mode\":\"eco\"}},"
	    "\"targetCondition\":\"tags.env = 'test'\",\"priority\":1,"
	    "\"metrics\":{\"queries\":{\"eco\":\"SELECT deviceId FROM devices WHERE properties.desired.mode = "
	    "'eco'\"}}}");
	put_config("high", "{\"content\":{\"deviceContent\":{\"properties.desired.fw\":\"2.0\"}},"
			   "\"targetCondition\":\"*\",\"priority\":5}");
	assert_int_equal(configuration_reconcile(), 0);
	d = desired_of("d1");
	assert_json(d, "{\"fw\":\"2.0\",\"mode\":\"eco\"}");
	json_decref(d);
	d = desired_of("d2");
	assert_json(d, "{\"fw\":\"2.0\"}");
	json_decref(d);

	assert_int_equal(configuration_get("low", &cfg), 0);
	assert_json(json_object_get(cfg, "systemMetrics"),
		    "{\"results\":{\"targetedCount\":1,\"appliedCount\":0},\"queries\":{\"targetedCount\":"
		    "\"select deviceId from devices where tags.env = 'test'\",\"appliedCount\":"
		    "\"select deviceId from devices where configurations.[[low]].status = 'Applied'\"}}");
	assert_json(json_object_get(json_object_get(cfg, "metrics"), "results"), "{\"eco\":1}");
	json_decref(cfg);

	/* The query language reads the statuses. */
	items = query_items("SELECT deviceId, configurations.[[high]].status AS s FROM devices"
			    " WHERE configurations.[[high]].status = 'Applied'");
	assert_json(items, "[{\"deviceId\":\"d1\",\"s\":\"Applied\"},{\"deviceId\":\"d2\",\"s\":\"Applied\"}]");
	json_decref(items);
	items = query_items("SELECT COUNT() AS n, configurations.[[low]].status FROM devices"
			    " GROUP BY configurations.[[low]].status");
	assert_json(items, "[{\"n\":1},{\"n\":1,\"status\":\"Targeted\"}]");
	json_decref(items);
	items = query_items("SELECT deviceId FROM devices WHERE NOT IS_DEFINED(configurations.[[low]].status)");
	assert_json(items, "[{\"deviceId\":\"d2\"}]");
	json_decref(items);

	/* high goes: low takes fw over on d1; d2 loses it. */
	assert_int_equal(configuration_delete("high", "*"), 0);
	assert_int_equal(configuration_reconcile(), 0);
	d = desired_of("d1");
	assert_json(d, "{\"fw\":\"1.0\",\"mode\":\"eco\"}");
	json_decref(d);
	d = desired_of("d2");
	assert_json(d, "{}");
	json_decref(d);

	/* d1 leaves the target set. */
	json_t *patch = parse("{\"tags\":{\"env\":null}}"), *out = NULL;
	assert_int_equal(twin_update("d1", "", patch, 0, NULL, &out), 0);
	json_decref(out);
	json_decref(patch);
	assert_int_equal(configuration_reconcile(), 0);
	d = desired_of("d1");
	assert_json(d, "{}");
	json_decref(d);
	items = query_items("SELECT deviceId FROM devices WHERE IS_DEFINED(configurations.[[low]].status)");
	assert_json(items, "[]");
	json_decref(items);
}

static void test_configuration__rest_errors(void **state)
{
	json_t *body = parse("{\"content\":{\"deviceContent\":{}},\"targetCondition\":\"\"}"), *out = NULL;

	assert_int_equal(configuration_put("c", body, NULL, &out), 0);
	json_decref(out);
	assert_int_equal(configuration_put("c", body, NULL, &out), DH_ECONFIGEXISTS);
	assert_int_equal(configuration_put("c", body, "Mg==", &out), DH_EETAG);
	assert_int_equal(configuration_put("c", body, "MQ==", &out), 0);
	assert_string_equal(json_util_str(out, "etag"), "Mg==");
	json_decref(out);
	assert_int_equal(configuration_put("missing", body, "*", &out), DH_ENOCONFIG);
	assert_int_equal(configuration_get("missing", &out), DH_ENOCONFIG);
	assert_int_equal(configuration_delete("c", "MQ=="), DH_EETAG);
	assert_int_equal(configuration_delete("c", NULL), 0);
	assert_int_equal(configuration_delete("c", NULL), DH_ENOCONFIG);
	for (int i = 0; i < CONFIGURATION_MAX_COUNT; i++) {
		char id[16];
		snprintf(id, sizeof(id), "q%d", i);
		assert_int_equal(configuration_put(id, body, NULL, &out), 0);
		json_decref(out);
	}
	assert_int_equal(configuration_put("one-more", body, NULL, &out), DH_EQUOTA);
	assert_int_equal(configuration_list(0, &out), 0);
	assert_int_equal(json_array_size(out), CONFIGURATION_MAX_COUNT);
	json_decref(out);
	json_decref(body);
	body = parse("{\"content\":{\"deviceContent\":{}},\"metrics\":{\"queries\":{\"a\":\"SELECT\",\"b\":\"x\"}}}");
	assert_int_equal(configuration_put("q0", body, "*", &out), DH_EQUERY);
	json_decref(body);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_configuration__id_rules),
	    cmocka_unit_test(test_configuration__content_entries),
	    cmocka_unit_test(test_configuration__content_rejects),
	    cmocka_unit_test(test_configuration__ranking),
	    cmocka_unit_test(test_configuration__resolve_by_path),
	    cmocka_unit_test(test_configuration__patch),
	    cmocka_unit_test(test_configuration__patch_nested_over_deletion),
	};
	const struct CMUnitTest stored[] = {
	    cmocka_unit_test_setup_teardown(test_configuration__reconcile_applies_and_takes_back, store_setup,
					    store_teardown),
	    cmocka_unit_test_setup_teardown(test_configuration__rest_errors, store_setup, store_teardown),
	};
	int failed;

	json_util_init();
	if (crypto_init() != 0)
		return 1;
	failed = cmocka_run_group_tests_name("configuration", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("configuration_store", stored, NULL, NULL);
	return failed;
}
