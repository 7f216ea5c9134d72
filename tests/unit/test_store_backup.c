/* Unit tests for server/store_backup.c: a copy taken while another thread writes, its checks, restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "store.h"
#include "store_backup.h"
#include "test_util.h"

#define PRE_ROWS 6000   /* ~7 MB: a copy of many steps, so the writer overlaps it */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One committed transaction that sets name to a 1 KB value. */
static void put(store *s, const char *name)
{
	char value[1024];

	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	assert_int_equal(store_begin_write(s), 0);
	assert_int_equal(store_setting_put(s, name, value), 0);
	assert_int_equal(store_commit(s), 0);
}

static int64_t count_rows(const char *path, const char *like)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM hub_settings WHERE name LIKE ?1", -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, like, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

typedef struct writer {
	const char *path;
	atomic_int stop, backing_up;
	atomic_int written, written_during_backup;
	int64_t slowest_ms;
} writer;

/* Another connection, as a request thread would be, committing one row after another. */
static void *write_loop(void *arg)
{
	writer *w = arg;
	store *s = NULL;
	char name[32];

	if (store_open(w->path, &s) != 0)
		return NULL;
	for (int i = 0; !atomic_load(&w->stop); i++) {
		int64_t t0 = now_ms(), took;
		snprintf(name, sizeof(name), "w-%d", i);
		put(s, name);
		took = now_ms() - t0;
		if (took > w->slowest_ms)
			w->slowest_ms = took;
		atomic_fetch_add(&w->written, 1);
		if (atomic_load(&w->backing_up))
			atomic_fetch_add(&w->written_during_backup, 1);
	}
	store_close(s);
	return NULL;
}

static void fill(const char *path)
{
	store *s = NULL;
	char name[32], value[1024];

	memset(value, 'p', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(store_begin_write(s), 0);
	for (int i = 0; i < PRE_ROWS; i++) {
		snprintf(name, sizeof(name), "pre-%d", i);
		assert_int_equal(store_setting_put(s, name, value), 0);
	}
	assert_int_equal(store_commit(s), 0);
	store_close(s);
}

static void test_store_backup__copy_while_another_thread_writes(void **state)
{
	char dir[256], path[300], dest[300], tmp[310];
	writer w = {0};
	pthread_t t;
	store_backup_stats st = {0};
	unsigned char header[20];
	FILE *f;
	int version = 0;

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/devicehub.db", dir);
	snprintf(dest, sizeof(dest), "%s/copy.db", dir);
	fill(path);
	w.path = path;
	assert_int_equal(pthread_create(&t, NULL, write_loop, &w), 0);
	while (atomic_load(&w.written) < 10)
		;
	int before = atomic_load(&w.written);
	atomic_store(&w.backing_up, 1);
	assert_int_equal(store_backup_copy(path, dest, &st), 0);
	atomic_store(&w.backing_up, 0);
	atomic_store(&w.stop, 1);
	pthread_join(t, NULL);

	/* Writers went on during the copy, none of them held up for long. */
	assert_true(atomic_load(&w.written_during_backup) > 0);
	assert_true(w.slowest_ms < 1000);
	assert_true(st.pages > 256 && st.steps > 1 && st.size_bytes > PRE_ROWS * 1024);
	/* The copy: a checked devicehub database with every row committed before it began. */
	assert_int_equal(store_backup_verify(dest, &version), 0);
	assert_true(version > 0);
	assert_int_equal(count_rows(dest, "pre-%"), PRE_ROWS);
	assert_true(count_rows(dest, "w-%") >= before);
	assert_true(count_rows(dest, "w-%") <= atomic_load(&w.written));
	/* One self-contained file: rollback-journal header, no .tmp, no -wal beside it. */
	assert_non_null(f = fopen(dest, "rb"));
	assert_int_equal(fread(header, 1, sizeof(header), f), sizeof(header));
	fclose(f);
	assert_int_equal(header[18], 1);
	snprintf(tmp, sizeof(tmp), "%s.tmp", dest);
	assert_int_not_equal(access(tmp, F_OK), 0);
	snprintf(tmp, sizeof(tmp), "%s-wal", dest);
	assert_int_not_equal(access(tmp, F_OK), 0);
	test_rmdir(dir);
}

static void test_store_backup__refuses_an_existing_destination(void **state)
{
	char dir[256], path[300], dest[300];

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/devicehub.db", dir);
	snprintf(dest, sizeof(dest), "%s/copy.db", dir);
	fill(path);
	assert_int_equal(store_backup_copy(path, dest, NULL), 0);
	assert_int_equal(store_backup_copy(path, dest, NULL), DH_EINVAL);
	assert_int_equal(store_backup_copy("/nonexistent-dir/db", dest, NULL), DH_EINVAL); /* dest first */
	test_rmdir(dir);
}

static void test_store_backup__verify_rejects_what_is_not_a_hub_database(void **state)
{
	char dir[256], path[300];
	sqlite3 *db = NULL;
	FILE *f;

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/plain.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (a)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_backup_verify(path, NULL), DH_EINVAL);
	snprintf(path, sizeof(path), "%s/garbage.db", dir);
	assert_non_null(f = fopen(path, "wb"));
	fputs("this is not a database, not even close; it is long enough to have a header though......", f);
	fclose(f);
	assert_int_equal(store_backup_verify(path, NULL), DH_EINVAL);
	assert_int_equal(store_backup_verify("/nonexistent-dir/db", NULL), DH_EINVAL);
	test_rmdir(dir);
}

static void test_store_backup__restore_installs_the_copy_and_keeps_the_old(void **state)
{
	char dir[256], path[300], copy[300], aside[400];
	store *s = NULL;

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/devicehub.db", dir);
	snprintf(copy, sizeof(copy), "%s/copy.db", dir);
	fill(path);
	assert_int_equal(store_backup_copy(path, copy, NULL), 0);
	assert_int_equal(store_open(path, &s), 0);
	put(s, "after-backup");
	/* A connection holds the database: a restore would pull it from under a server. */
	assert_int_equal(store_backup_restore(path, copy, aside, sizeof(aside)), DH_EBUSY);
	store_close(s);
	assert_int_equal(count_rows(path, "after-backup"), 1);

	assert_int_equal(store_backup_restore(path, copy, aside, sizeof(aside)), 0);
	assert_non_null(strstr(aside, "devicehub.db.before-restore-"));
	assert_int_equal(count_rows(path, "after-backup"), 0);
	assert_int_equal(count_rows(path, "pre-%"), PRE_ROWS);
	assert_int_equal(count_rows(aside, "after-backup"), 1);
	assert_int_equal(count_rows(copy, "pre-%"), PRE_ROWS); /* the backup itself is untouched */
	/* The restored file opens as the server opens it. */
	assert_int_equal(store_open(path, &s), 0);
	store_close(s);
	test_rmdir(dir);
}

static void test_store_backup__restore_into_an_empty_data_dir(void **state)
{
	char dir[256], path[300], copy[300], target[300], aside[400];

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/devicehub.db", dir);
	snprintf(copy, sizeof(copy), "%s/copy.db", dir);
	snprintf(target, sizeof(target), "%s/fresh.db", dir);
	fill(path);
	assert_int_equal(store_backup_copy(path, copy, NULL), 0);
	assert_int_equal(store_backup_restore(target, copy, aside, sizeof(aside)), 0);
	assert_string_equal(aside, "");
	assert_int_equal(count_rows(target, "pre-%"), PRE_ROWS);
	/* Not a hub database: refused, and nothing is installed or left behind. */
	sqlite3 *db = NULL;
	snprintf(copy, sizeof(copy), "%s/plain.db", dir);
	assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (a)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	snprintf(target, sizeof(target), "%s/other.db", dir);
	assert_int_equal(store_backup_restore(target, copy, aside, sizeof(aside)), DH_EINVAL);
	assert_int_not_equal(access(target, F_OK), 0);
	snprintf(target, sizeof(target), "%s/other.db.restore", dir);
	assert_int_not_equal(access(target, F_OK), 0);
	test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_backup__copy_while_another_thread_writes),
		cmocka_unit_test(test_store_backup__refuses_an_existing_destination),
		cmocka_unit_test(test_store_backup__verify_rejects_what_is_not_a_hub_database),
		cmocka_unit_test(test_store_backup__restore_installs_the_copy_and_keeps_the_old),
		cmocka_unit_test(test_store_backup__restore_into_an_empty_data_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
