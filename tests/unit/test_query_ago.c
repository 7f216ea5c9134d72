/* Unit tests for AGO(seconds) in server/query_parse.c and server/query_compile.c: argument checks with
 * positions, the bound time (hub clock minus the seconds, in lastActivityTime's form), and a run against
 * a real store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "err.h"
#include "json_util.h"
#include "query.h"
#include "registry.h"
#include "store.h"
#include "test_util.h"

#include <jansson.h>
#include <stdlib.h>

static char test_dir[256];

static void parse_fails(const char *text, size_t pos, const char *want)
{
	query *q = NULL;
	query_error e;

	assert_int_equal(query_parse(text, strlen(text), &q, &e), DH_EQUERY);
	assert_null(q);
	if (e.position != pos || !strstr(e.message, want))
		print_error("[%s]: got position %zu message '%s'\n", text, e.position, e.message);
	assert_int_equal(e.position, pos);
	assert_non_null(strstr(e.message, want));
}

/* Compiles text; OUT: *out (caller releases). */
static void compile_ok(const char *text, query_sql *out)
{
	query *q = NULL;
	query_error e;
	query_page page = {100, 0, 0};

	assert_int_equal(query_parse(text, strlen(text), &q, &e), 0);
	if (query_compile(q, store_dialect_sqlite(), &page, out, &e) != 0)
		print_error("compile error for [%s] at %zu: %s\n", text, e.position, e.message);
	assert_non_null(out->sql);
	query_free(q);
}

static void test_query_ago__bad_arguments_have_positions(void **state)
{
	/* "SELECT * FROM devices WHERE lastActivityTime < " is 47 bytes. */
	parse_fails("SELECT * FROM devices WHERE lastActivityTime < AGO()", 47, "AGO takes 1 argument, not 0");
	parse_fails("SELECT * FROM devices WHERE lastActivityTime < AGO(1, 2)", 47, "AGO takes 1 argument, not 2");
	parse_fails("SELECT * FROM devices WHERE lastActivityTime < AGO('1h')", 51, "AGO takes a number of seconds");
	parse_fails("SELECT * FROM devices WHERE lastActivityTime < AGO(tags.x)", 51, "AGO takes a number of seconds");
	parse_fails("SELECT * FROM devices WHERE lastActivityTime < AGO(-1)", 51, "AGO takes from 0 to");
	parse_fails("SELECT * FROM devices WHERE lastActivityTime < AGO(1 + 1)", 53, "AGO takes a number of seconds");
	parse_fails("SELECT * FROM devices WHERE lastActivityTime < AGO(3155760001)", 51, "AGO takes from 0 to");
	parse_fails("SELECT * FROM devices WHERE lastActivityTime < AGO(1e300)", 51, "AGO takes from 0 to");
	parse_fails("SELECT * FROM devices WHERE lastActivityTime < AGO(3600", 55, "')'");
}

static void test_query_ago__binds_hub_now_minus_seconds(void **state)
{
	query_sql qs = {0};
	int64_t before, after, bound;

	clock_set_hub_offset_ms(-86400000LL); /* the hub clock, not the wall clock */
	before = clock_hub_ms();
	compile_ok("SELECT * FROM devices WHERE lastActivityTime < ago(3600)", &qs);
	after = clock_hub_ms();
	clock_set_hub_offset_ms(0);
	assert_int_equal(qs.nparams >= 1, 1);
	const query_param *p = NULL;
	for (size_t i = 0; i < qs.nparams; i++)
		if (qs.params[i].kind == QUERY_PARAM_TEXT)
			p = &qs.params[i];
	assert_non_null(p);
	/* The form of lastActivityTime: 2026-11-26T14:00:00.123Z. */
	assert_int_equal(strlen(p->text), 24);
	assert_int_equal(p->text[23], 'Z');
	assert_int_equal(clock_parse_iso(p->text, &bound), 0);
	assert_true(bound >= before - 3600000 && bound <= after - 3600000);
	query_sql_release(&qs);

	/* Fractions and zero; as a bare condition it is undefined, never an error. */
	compile_ok("SELECT * FROM devices WHERE lastActivityTime > AGO(0.5)", &qs);
	query_sql_release(&qs);
	compile_ok("SELECT * FROM devices WHERE AGO(0)", &qs);
	query_sql_release(&qs);
	compile_ok("SELECT deviceId FROM devices WHERE properties.reported.seen > AGO(60) AND AGO(60) < lastActivityTime", &qs);
	query_sql_release(&qs);
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

static json_int_t count(const char *text)
{
	json_t *items = NULL;
	char *next = NULL;
	const char *type;
	json_int_t n;

	assert_int_equal(query_run(text, strlen(text), 10, NULL, &items, &next, &type), 0);
	n = json_integer_value(json_object_get(json_array_get(items, 0), "n"));
	json_decref(items);
	free(next);
	return n;
}

static void test_query_ago__runs_against_last_activity(void **state)
{
	json_t *body = json_pack("{s:s}", "deviceId", "never"), *out = NULL;
	int created = 0;

	assert_int_equal(registry_put("never", "", body, NULL, &out, &created), 0);
	json_decref(out);
	json_decref(body);
	/* A device never seen has lastActivityTime 0001-01-01T00:00:00Z: older than any AGO. */
	assert_int_equal(count("SELECT COUNT() AS n FROM devices WHERE lastActivityTime < AGO(3600)"), 1);
	assert_int_equal(count("SELECT COUNT() AS n FROM devices WHERE lastActivityTime > AGO(3155760000)"), 0);
	assert_int_equal(count("SELECT COUNT() AS n FROM devices WHERE NOT (lastActivityTime < AGO(0))"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query_ago__bad_arguments_have_positions),
	    cmocka_unit_test(test_query_ago__binds_hub_now_minus_seconds),
	    cmocka_unit_test_setup_teardown(test_query_ago__runs_against_last_activity, store_setup, store_teardown),
	};

	json_util_init();
	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("query_ago", tests, NULL, NULL);
}
