/* Unit tests for server/fleet.c and server/store_fleet.c against a real store: the trigger-kept counters,
 * samples and pruning, downsampling of a long history, and twin paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "err.h"
#include "fleet.h"
#include "json_util.h"
#include "registry.h"
#include "store.h"
#include "store_fleet.h"
#include "test_util.h"
#include "twin.h"

#include <jansson.h>
#include <stdlib.h>

static char test_dir[256];

static int store_setup(void **state)
{
	char path[300];

	test_tmpdir(test_dir);
	snprintf(path, sizeof(path), "%s/devicehub.db", test_dir);
	fleet_twin_paths_forget();
	return store_global_init(path);
}

static int store_teardown(void **state)
{
	fleet_twin_paths_forget();
	store_global_shutdown();
	test_rmdir(test_dir);
	return 0;
}

static void make(const char *id, const char *module, const char *status)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "deviceId", id, "moduleId", module, "status", status), *out = NULL;
	int created = 0;

	if (!*module)
		json_object_del(body, "moduleId");
	assert_int_equal(registry_put(id, module, body, NULL, &out, &created), 0);
	json_decref(out);
	json_decref(body);
}

static void test_fleet__counters_follow_the_registry(void **state)
{
	json_t *f = NULL, *stats = NULL;

	make("a", "", "enabled");
	make("b", "", "disabled");
	make("c", "", "enabled");
	make("a", "m1", "enabled"); /* modules are not devices */
	assert_int_equal(registry_delete("c", "", NULL), 0);
	assert_int_equal(fleet_get(&f), 0);
	assert_int_equal(json_integer_value(json_object_get(f, "total")), 2);
	assert_int_equal(json_integer_value(json_object_get(f, "enabled")), 1);
	assert_int_equal(json_integer_value(json_object_get(f, "disabled")), 1);
	assert_int_equal(json_integer_value(json_object_get(f, "connected")), 0);
	assert_true(json_is_string(json_object_get(f, "time")));
	assert_int_equal(registry_stats_devices(&stats), 0);
	assert_int_equal(json_integer_value(json_object_get(stats, "totalDeviceCount")), 2);
	assert_int_equal(json_integer_value(json_object_get(stats, "enabledDeviceCount")), 1);
	json_decref(f);
	json_decref(stats);
}

static void test_fleet__samples_prune_and_downsample(void **state)
{
	store *s = store_thread();
	int64_t now = clock_hub_ms();
	char since[CLOCK_ISO_LEN], until[CLOCK_ISO_LEN];
	json_t *h = NULL, *points;
	store_fleet_sample old = {now - 40LL * 86400000, 9, 9, 9};

	make("a", "", "enabled");
	/* A sample older than the 30 days kept goes at the next sample. */
	assert_int_equal(store_fleet_history_add(s, &old), 0);
	assert_int_equal(fleet_sample_now(), 0);
	clock_iso_from_ms(now - 50LL * 86400000, since);
	assert_int_equal(fleet_history(since, NULL, &h), 0);
	points = json_object_get(h, "points");
	assert_int_equal(json_array_size(points), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(points, 0), "total")), 1);
	json_decref(h);

	/* 5000 samples a second apart, total alternating 10 and 20: at most 2000 points, each the rounded
	 * average of its bucket (2.5 s wide here). */
	int64_t base = now - 100000000;
	assert_int_equal(store_begin_write(s), 0);
	for (int i = 0; i < 5000; i++) {
		store_fleet_sample x = {base + i * 1000LL, i % 2 ? 20 : 10, 5, i};
		assert_int_equal(store_fleet_history_add(s, &x), 0);
	}
	assert_int_equal(store_commit(s), 0);
	clock_iso_from_ms(base, since);
	clock_iso_from_ms(base + 4999 * 1000LL, until);
	assert_int_equal(fleet_history(since, until, &h), 0);
	points = json_object_get(h, "points");
	assert_true(json_array_size(points) <= 2000);
	assert_true(json_array_size(points) >= 1600);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(points, 0), "enabled")), 5);
	json_int_t t = json_integer_value(json_object_get(json_array_get(points, 0), "total"));
	assert_true(t >= 13 && t <= 17); /* two or three samples per bucket: 15, 13 or 17 */
	assert_string_equal(json_string_value(json_object_get(json_array_get(points, 0), "time")), since);
	assert_true(json_integer_value(json_object_get(h, "intervalSeconds")) >= 2);
	json_decref(h);

	/* Fewer samples than the limit: every one, oldest first. */
	clock_iso_from_ms(base + 10 * 1000LL, until);
	assert_int_equal(fleet_history(since, until, &h), 0);
	assert_int_equal(json_array_size(json_object_get(h, "points")), 11);
	json_decref(h);

	assert_int_equal(fleet_history("not a time", NULL, &h), DH_EINVAL);
	assert_int_equal(fleet_history(until, since, &h), DH_EINVAL);
}

static int has_path(const json_t *paths, const char *want)
{
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(paths, "paths"), i, p)
		if (strcmp(json_string_value(p), want) == 0)
			return 1;
	return 0;
}

static void test_fleet__twin_paths(void **state)
{
	json_t *patch;
	json_t *tags = json_pack("{s:{s:{s:s}}}", "tags", "site", "room", "a1"), *out = NULL, *paths = NULL;
	int64_t version;

	make("a", "", "enabled");
	patch = json_pack("{s:{s:f}, s:[i,i]}", "temp", "c", 21.5, "list", 1, 2);
	assert_int_equal(twin_update_reported("a", "", patch, &version), 0);
	assert_int_equal(twin_update("a", "", tags, 0, NULL, &out), 0);
	json_decref(out);
	assert_int_equal(fleet_twin_paths(&paths), 0);
	assert_true(has_path(paths, "properties.reported.temp.c"));
	assert_true(has_path(paths, "properties.reported.list"));
	assert_true(has_path(paths, "tags.site.room"));
	assert_false(has_path(paths, "properties.reported.list[0]"));
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(paths, "paths"), i, p)
		assert_null(strchr(json_string_value(p), '$'));
	json_decref(paths);
	json_decref(patch);
	json_decref(tags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fleet__counters_follow_the_registry, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_fleet__samples_prune_and_downsample, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_fleet__twin_paths, store_setup, store_teardown),
	};

	json_util_init();
	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests_name("fleet", tests, NULL, NULL);
}
