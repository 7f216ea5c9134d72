/* Unit tests for server/store.c: migrations, reopening, transactions, settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "embed.h"
#include "err.h"
#include "store.h"
#include "test_util.h"

static int latest_migration(void)
{
	int n = 0;

	for (const embed_file *m = embed_migrations; m->name; m++)
		n = atoi(m->name) > n ? atoi(m->name) : n;
	return n;
}

static void test_store__migrates_once_and_reopens(void **state)
{
	char dir[256], path[300], value[64];
	store *s = NULL;

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(store_schema_version(s), latest_migration());
	assert_int_equal(store_setting_put(s, "k", "v1"), 0);
	store_close(s);
	/* A second open applies nothing and keeps data. */
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(store_schema_version(s), latest_migration());
	assert_int_equal(store_setting_get(s, "k", value, sizeof(value)), 0);
	assert_string_equal(value, "v1");
	store_close(s);
	test_rmdir(dir);
}

static void test_store__rollback_discards(void **state)
{
	char dir[256], path[300], value[64];
	store *s = NULL;

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(store_begin_write(s), 0);
	assert_int_equal(store_setting_put(s, "gone", "x"), 0);
	store_rollback(s);
	assert_int_equal(store_setting_get(s, "gone", value, sizeof(value)), DH_ENOROUTE);
	assert_int_equal(store_begin_write(s), 0);
	assert_int_equal(store_setting_put(s, "kept", "y"), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_setting_get(s, "kept", value, sizeof(value)), 0);
	store_close(s);
	test_rmdir(dir);
}

static void test_store__wal_mode_is_on(void **state)
{
	char dir[256], path[300];
	store *s = NULL;
	sqlite3_stmt *st;

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(store_prepare(s, "PRAGMA journal_mode", &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	store_close(s);
	test_rmdir(dir);
}

static void test_store__an_unrecorded_lower_migration_still_runs(void **state)
{
	char dir[256], path[300];
	store *s = NULL;
	sqlite3_stmt *st;

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/db", dir);
	assert_int_equal(store_open(path, &s), 0);
	/* As if migration 2 had been merged after a database already reached a higher number. */
	assert_int_equal(store_prepare(s, "DELETE FROM schema_migrations WHERE version = 2", &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(store_prepare(s, "DROP TABLE job_devices", &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	assert_int_equal(store_prepare(s, "DROP TABLE jobs", &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	store_close(s);
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(store_prepare(s, "SELECT count(*) FROM jobs", &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	sqlite3_finalize(st);
	store_close(s);
	test_rmdir(dir);
}

static void test_store__unopenable_path_is_an_error(void **state)
{
	store *s = NULL;

	assert_int_equal(store_open("/nonexistent-dir/x/db", &s), DH_EIO);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store__migrates_once_and_reopens),
		cmocka_unit_test(test_store__rollback_discards),
		cmocka_unit_test(test_store__wal_mode_is_on),
		cmocka_unit_test(test_store__an_unrecorded_lower_migration_still_runs),
		cmocka_unit_test(test_store__unopenable_path_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
