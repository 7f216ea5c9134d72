/* Unit tests for server/twin_batch.c: batched reported patches against a real SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "err.h"
#include "json_util.h"
#include "registry.h"
#include "store.h"
#include "test_util.h"
#include "twin.h"
#include "twin_batch.h"

#define N 300

typedef struct results {
	pthread_mutex_t lock;
	int done, failed;
	int64_t last_version;
	char last_error[256];
} results;

static void on_done(void *ctx, int code, int64_t version, const char *message)
{
	results *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->done++;
	if (code) {
		r->failed++;
		snprintf(r->last_error, sizeof(r->last_error), "%s", message);
	} else if (version > r->last_version) {
		r->last_version = version;
	}
	pthread_mutex_unlock(&r->lock);
}

static char dir[256];

static int setup(void **state)
{
	char path[300];
	json_t *body = json_object(), *out = NULL;
	int created;

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/db", dir);
	crypto_init();
	if (store_global_init(path) || twin_batch_start())
		return -1;
	registry_put("dev1", "", body, NULL, &out, &created);
	json_decref(out);
	json_decref(body);
	return 0;
}

static int teardown(void **state)
{
	twin_batch_stop();
	store_global_shutdown();
	test_rmdir(dir);
	return 0;
}

static void wait_for(results *r, int n)
{
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&r->lock);
		int done = r->done;
		pthread_mutex_unlock(&r->lock);
		if (done >= n)
			return;
		usleep(10000);
	}
}

static void test_twin_batch__applies_in_order_and_bad_patches_fail_alone(void **state)
{
	results r = {.lock = PTHREAD_MUTEX_INITIALIZER};
	json_t *twin = NULL;

	for (int i = 0; i < N; i++) {
		json_t *patch = json_pack("{s:i}", "counter", i);
		if (i == 100)
			json_object_set_new(patch, "bad.key", json_true());
		twin_batch_submit("dev1", "", patch, on_done, &r);
	}
	twin_batch_submit("nobody", "", json_pack("{s:i}", "x", 1), on_done, &r);
	wait_for(&r, N + 1);
	assert_int_equal(r.done, N + 1);
	assert_int_equal(r.failed, 2);
	/* reported $version starts at 1; N - 1 patches applied */
	assert_int_equal(r.last_version, N);
	assert_int_equal(twin_get("dev1", "", &twin), 0);
	json_t *reported = json_object_get(json_object_get(twin, "properties"), "reported");
	assert_int_equal(json_integer_value(json_object_get(reported, "counter")), N - 1);
	assert_null(json_object_get(reported, "bad.key"));
	json_decref(twin);
}

static void test_twin_batch__after_stop_submissions_fail_at_once(void **state)
{
	results r = {.lock = PTHREAD_MUTEX_INITIALIZER};

	twin_batch_stop();
	twin_batch_submit("dev1", "", json_pack("{s:i}", "x", 1), on_done, &r);
	assert_int_equal(r.done, 1);
	assert_int_equal(r.failed, 1);
}

int main(void)
{
	json_util_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_twin_batch__applies_in_order_and_bad_patches_fail_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_twin_batch__after_stop_submissions_fail_at_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
