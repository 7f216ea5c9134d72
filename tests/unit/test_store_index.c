/* Unit tests for server/store_index.c: --index paths become expression indexes that compiled queries use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "err.h"
#include "query.h"
#include "store.h"
#include "store_index.h"
#include "test_util.h"

static char dir[256];
static store *db;

static int setup(void **state)
{
	char path[300];

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/db", dir);
	return store_open(path, &db);
}

static int teardown(void **state)
{
	store_close(db);
	test_rmdir(dir);
	return 0;
}

static int count_indexes(void)
{
	sqlite3_stmt *st;
	int n;

	assert_int_equal(store_prepare(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'twin_ix_%'", &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The query plan of a compiled query, as one string. */
static void plan_of(const char *text, char *out, size_t n)
{
	query *q = NULL;
	query_error qe;
	query_sql sql;
	query_page page = {100, 0, 0};
	buf b = BUF_INIT;
	sqlite3_stmt *st;

	assert_int_equal(query_parse(text, strlen(text), &q, &qe), 0);
	assert_int_equal(query_compile(q, store_dialect_sqlite(), &page, &sql, &qe), 0);
	buf_printf(&b, "EXPLAIN QUERY PLAN %s", sql.sql);
	assert_int_equal(store_prepare(db, b.data, &st), 0);
	out[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW)
		strncat(out, (const char *)sqlite3_column_text(st, 3), n - strlen(out) - 1);
	sqlite3_finalize(st);
	buf_release(&b);
	query_sql_release(&sql);
	query_free(q);
}

static void test_store_index__queries_on_indexed_path_use_the_index(void **state)
{
	char *paths[] = {"tags.location.region", "properties.reported.firmware.version"};
	char plan[1024];

	assert_int_equal(store_index_sync(db, paths, 2), 0);
	assert_int_equal(count_indexes(), 2);
	plan_of("SELECT * FROM devices WHERE tags.location.region = 'eu'", plan, sizeof(plan));
	assert_non_null(strstr(plan, "twin_ix_"));
	plan_of("SELECT COUNT() AS n FROM devices WHERE properties.reported.firmware.version = '1.2'", plan, sizeof(plan));
	assert_non_null(strstr(plan, "twin_ix_"));
	/* A path without an index scans. */
	plan_of("SELECT * FROM devices WHERE tags.floor = 3", plan, sizeof(plan));
	assert_null(strstr(plan, "twin_ix_"));
}

static void test_store_index__unlisted_indexes_are_dropped(void **state)
{
	char *two[] = {"tags.a", "tags.b"};
	char *one[] = {"tags.b"};

	assert_int_equal(store_index_sync(db, two, 2), 0);
	assert_int_equal(count_indexes(), 2);
	assert_int_equal(store_index_sync(db, one, 1), 0);
	assert_int_equal(count_indexes(), 1);
	assert_int_equal(store_index_sync(db, NULL, 0), 0);
	assert_int_equal(count_indexes(), 0);
}

static void test_store_index__bad_path_is_refused_and_changes_nothing(void **state)
{
	char *good[] = {"tags.a"};
	char *bad[] = {"tags.b", "nosuchroot.x"};

	assert_int_equal(store_index_sync(db, good, 1), 0);
	assert_int_equal(store_index_sync(db, bad, 2), DH_EINVAL);
	assert_non_null(strstr(err_message(), "nosuchroot.x"));
	assert_int_equal(count_indexes(), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_index__queries_on_indexed_path_use_the_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_index__unlisted_indexes_are_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_index__bad_path_is_refused_and_changes_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
