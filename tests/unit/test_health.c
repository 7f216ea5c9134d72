/* Unit tests for server/health.c: rule validation (names, condition positions, threshold, severity,
 * description), CRUD, and evaluation against a real store (counts, breaking, device ids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "crypto.h"
#include "err.h"
#include "events.h"
#include "health.h"
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
	json_t *v = json_loads(text, 0, &e);

	if (!v)
		print_error("bad test JSON [%s]: %s\n", text, e.text);
	assert_non_null(v);
	return v;
}

static int check(const char *name, const char *body_text, store_health_rule *r)
{
	json_t *b = parse(body_text);
	int rc = health_rule_check(name, b, r);

	json_decref(b);
	return rc;
}

static void check_fails(const char *name, const char *body_text, int code, const char *want)
{
	store_health_rule r;

	assert_int_equal(check(name, body_text, &r), code);
	if (!strstr(err_message(), want))
		print_error("[%s]: message '%s' lacks '%s'\n", body_text, err_message(), want);
	assert_non_null(strstr(err_message(), want));
}

static void test_health__rule_check(void **state)
{
	store_health_rule r;

	assert_int_equal(check("hot", "{\"condition\":\"properties.reported.t > 80\",\"severity\":\"critical\","
				      "\"threshold\":3,\"description\":\"Too hot\"}", &r), 0);
	assert_string_equal(r.name, "hot");
	assert_string_equal(r.condition, "properties.reported.t > 80");
	assert_int_equal(r.threshold, 3);
	assert_string_equal(r.severity, "critical");
	assert_string_equal(r.description, "Too hot");
	assert_int_equal(check("a.b_c:d-1", "{\"condition\":\"lastActivityTime < AGO(60)\",\"severity\":\"warning\"}", &r), 0);
	assert_int_equal(r.threshold, 0);
	assert_string_equal(r.description, "");

	check_fails("bad name", "{\"condition\":\"x = 1\",\"severity\":\"warning\"}", DH_EINVAL, "not a valid health rule name");
	check_fails("", "{\"condition\":\"x = 1\",\"severity\":\"warning\"}", DH_EINVAL, "not a valid");
	check_fails("r", "{\"severity\":\"warning\"}", DH_EINVAL, "condition is required");
	/* Positions count from the condition's first byte. */
	check_fails("r", "{\"condition\":\"x = \",\"severity\":\"warning\"}", DH_EQUERY, "condition: syntax error at position 4");
	check_fails("r", "{\"condition\":\"NOPE(x)\",\"severity\":\"warning\"}", DH_EQUERY, "position 0: unknown function");
	check_fails("r", "{\"condition\":\"x < AGO('a')\",\"severity\":\"warning\"}", DH_EQUERY, "position 8: AGO takes a number");
	check_fails("r", "{\"condition\":\"x = 1\",\"severity\":\"info\"}", DH_EINVAL, "severity");
	check_fails("r", "{\"condition\":\"x = 1\"}", DH_EINVAL, "severity");
	check_fails("r", "{\"condition\":\"x = 1\",\"severity\":\"warning\",\"threshold\":-1}", DH_EINVAL, "threshold");
	check_fails("r", "{\"condition\":\"x = 1\",\"severity\":\"warning\",\"threshold\":\"2\"}", DH_EINVAL, "threshold");
	check_fails("r", "{\"condition\":\"x = 1\",\"severity\":\"warning\",\"name\":\"s\"}", DH_EINVAL, "does not match");
	check_fails("r", "{\"condition\":\"x = 1\",\"severity\":\"warning\",\"description\":7}", DH_EINVAL, "description");

	/* 256 characters are fine even when they take more bytes; 257 are not. */
	char body[2048];
	char desc[1100] = "";
	for (int i = 0; i < 256; i++)
		strcat(desc, "\xc3\xa9"); /* é */
	snprintf(body, sizeof(body), "{\"condition\":\"x = 1\",\"severity\":\"warning\",\"description\":\"%s\"}", desc);
	assert_int_equal(check("r", body, &r), 0);
	strcat(desc, "e");
	snprintf(body, sizeof(body), "{\"condition\":\"x = 1\",\"severity\":\"warning\",\"description\":\"%s\"}", desc);
	check_fails("r", body, DH_EINVAL, "at most 256 characters");
}

static int store_setup(void **state)
{
	char path[300];

	test_tmpdir(test_dir);
	snprintf(path, sizeof(path), "%s/devicehub.db", test_dir);
	health_reset();
	events_reset();
	return store_global_init(path);
}

static int store_teardown(void **state)
{
	health_reset();
	store_global_shutdown();
	test_rmdir(test_dir);
	return 0;
}

static void make_device(const char *id, const char *reported)
{
	char text[256];
	json_t *b, *out = NULL;
	int created = 0;
	int64_t version;

	snprintf(text, sizeof(text), "{\"deviceId\":\"%s\"}", id);
	b = parse(text);
	assert_int_equal(registry_put(id, "", b, NULL, &out, &created), 0);
	json_decref(out);
	json_decref(b);
	b = parse(reported);
	assert_int_equal(twin_update_reported(id, "", b, &version), 0);
	json_decref(b);
}

static const json_t *rule_of(const json_t *evaluation, const char *name)
{
	size_t i;
	json_t *rule;

	json_array_foreach(json_object_get(evaluation, "rules"), i, rule)
		if (strcmp(json_string_value(json_object_get(rule, "name")), name) == 0)
			return rule;
	return NULL;
}

static int count_events(const char *name, int breaking)
{
	json_t *latest = events_latest(1000, "health.changed"), *e;
	size_t i;
	int n = 0;

	json_array_foreach(json_object_get(latest, "items"), i, e)
		n += strcmp(json_string_value(json_object_get(e, "name")), name) == 0 &&
		     json_is_true(json_object_get(e, "breaking")) == breaking;
	json_decref(latest);
	return n;
}

static void test_health__seeded_rules_and_evaluation(void **state)
{
	json_t *h = NULL, *list = NULL, *out = NULL, *b;
	const json_t *rule;
	int created = 0;

	/* Before any evaluation: the rules, count null. */
	assert_int_equal(health_get(&h), 0);
	assert_true(json_is_null(json_object_get(h, "evaluatedTime")));
	assert_int_equal(json_array_size(json_object_get(h, "rules")), 3);
	assert_true(json_is_null(json_object_get(rule_of(h, "low-battery"), "count")));
	json_decref(h);

	make_device("b1", "{\"battery\":10}");
	make_device("b2", "{\"battery\":15}");
	make_device("b3", "{\"battery\":80}");
	assert_int_equal(health_evaluate_now(), 0);
	assert_int_equal(health_get(&h), 0);
	assert_true(json_is_string(json_object_get(h, "evaluatedTime")));
	rule = rule_of(h, "low-battery");
	assert_int_equal(json_integer_value(json_object_get(rule, "count")), 2);
	assert_true(json_is_true(json_object_get(rule, "breaking")));
	assert_int_equal(json_array_size(json_object_get(rule, "devices")), 2);
	rule = rule_of(h, "firmware-error");
	assert_int_equal(json_integer_value(json_object_get(rule, "count")), 0);
	assert_true(json_is_false(json_object_get(rule, "breaking")));
	/* Never-seen devices are older than an hour. */
	assert_int_equal(json_integer_value(json_object_get(rule_of(h, "not-seen-1h"), "count")), 3);
	json_decref(h);
	assert_int_equal(count_events("low-battery", 1), 1);

	/* Same state again: no new event. A threshold of 2 stops the break (2 is not more than 2). */
	assert_int_equal(health_evaluate_now(), 0);
	assert_int_equal(count_events("low-battery", 1), 1);
	b = parse("{\"condition\":\"properties.reported.battery < 20\",\"threshold\":2,\"severity\":\"critical\"}");
	assert_int_equal(health_rule_put("low-battery", b, &out, &created), 0);
	assert_int_equal(created, 0);
	json_decref(b);
	json_decref(out);
	assert_int_equal(health_evaluate_now(), 0);
	assert_int_equal(health_get(&h), 0);
	rule = rule_of(h, "low-battery");
	assert_true(json_is_false(json_object_get(rule, "breaking")));
	assert_string_equal(json_string_value(json_object_get(rule, "severity")), "critical");
	json_decref(h);
	assert_int_equal(count_events("low-battery", 0), 1);

	/* Deleting a rule drops it from the list and from the next evaluation. */
	assert_int_equal(health_rule_delete("not-seen-1h"), 0);
	assert_int_equal(health_rule_delete("not-seen-1h"), DH_ENOROUTE);
	assert_int_equal(health_rule_list(&list), 0);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	assert_int_equal(health_evaluate_now(), 0);
	assert_int_equal(health_get(&h), 0);
	assert_null(rule_of(h, "not-seen-1h"));
	json_decref(h);
}

static void test_health__bad_rule_stores_nothing(void **state)
{
	json_t *b = parse("{\"condition\":\"properties.reported.battery <\",\"severity\":\"warning\"}"), *out = NULL, *list = NULL;
	int created = 0;

	assert_int_equal(health_rule_put("new", b, &out, &created), DH_EQUERY);
	assert_null(out);
	json_decref(b);
	assert_int_equal(health_rule_list(&list), 0);
	assert_int_equal(json_array_size(list), 3);
	json_decref(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health__rule_check),
	    cmocka_unit_test_setup_teardown(test_health__seeded_rules_and_evaluation, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_health__bad_rule_stores_nothing, store_setup, store_teardown),
	};

	json_util_init();
	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
