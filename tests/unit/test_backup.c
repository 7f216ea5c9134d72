/* Unit tests for server/backup.c: backup names stay inside <data-dir>/backups; one backup at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "backup.h"
#include "err.h"
#include "store.h"
#include "store_backup.h"
#include "test_util.h"

static void test_backup__names_cannot_leave_the_directory(void **state)
{
	const char *bad[] = {"", "../x", "..", ".", "a/b", "/etc/passwd", ".hidden", "x.db.tmp", "a b", "a\\b",
			     "caf\xc3\xa9.db"};
	char longname[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(backup_name_check(bad[i]), DH_EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(backup_name_check(longname), DH_EINVAL);
	assert_int_equal(backup_name_check("nightly-2025_01.db"), 0);
	assert_int_equal(backup_name_check("a..b"), 0); /* no '/': cannot climb */
}

static void test_backup__create_writes_into_the_backups_dir(void **state)
{
	char dir[256], path[300];
	json_t *out = NULL;

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/devicehub.db", dir);
	assert_int_equal(store_global_init(path), 0);
	assert_int_equal(backup_init(dir), 0);
	assert_int_equal(backup_create(NULL, &out), 0);
	const char *written = json_string_value(json_object_get(out, "path"));
	assert_non_null(written);
	assert_int_equal(strncmp(written, dir, strlen(dir)), 0);
	assert_non_null(strstr(written, "/backups/devicehub-"));
	assert_true(json_integer_value(json_object_get(out, "sizeBytes")) > 0);
	assert_true(json_integer_value(json_object_get(out, "pages")) > 0);
	assert_int_equal(store_backup_verify(written, NULL), 0);
	json_decref(out);
	assert_int_equal(backup_create("named.db", &out), 0);
	json_decref(out);
	assert_int_equal(backup_create("named.db", &out), DH_EINVAL); /* taken */
	assert_null(out);
	assert_int_equal(backup_create("../escape.db", &out), DH_EINVAL);
	backup_shutdown();
	store_global_shutdown();
	test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backup__names_cannot_leave_the_directory),
		cmocka_unit_test(test_backup__create_writes_into_the_backups_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
