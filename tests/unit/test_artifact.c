/* Unit tests for server/artifact.c and server/store_artifact.c against a real SQLite file and directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "crypto.h"
#include "err.h"
#include "json_util.h"
#include "store.h"
#include "store_artifact.h"
#include "test_util.h"

#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static char dir[256];

static int setup(void **state)
{
	char path[300];

	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/db", dir);
	crypto_init();
	if (store_global_init(path) != 0)
		return -1;
	return artifact_init(dir);
}

static int teardown(void **state)
{
	store_global_shutdown();
	test_rmdir(dir);
	return 0;
}

/* Entries of <dir>/artifacts, "." and ".." aside. */
static int count_files(void)
{
	char path[300];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/artifacts", dir);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static int create(const char *id, const char *version, const char *model, const void *data, size_t len, json_t **out)
{
	json_t *models = json_string(model);
	artifact_spec spec = {.id = id, .version = version, .compatible_model = models, .content_type = NULL};
	json_t *ignored = NULL;
	int rc = artifact_create(&spec, data, len, out ? out : &ignored);

	json_decref(ignored);
	json_decref(models);
	return rc;
}

static void write_file(const char *name, const char *text)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/artifacts/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_artifact__create_records_hash_size_and_file(void **state)
{
	json_t *a = NULL;
	char path[400], bytes[8] = "";
	FILE *f;

	assert_int_equal(create("fw-1.0", "1.0.0", "sim-model", "abc", 3, &a), 0);
	assert_string_equal(json_util_str(a, "id"), "fw-1.0");
	assert_string_equal(json_util_str(a, "version"), "1.0.0");
	assert_string_equal(json_util_str(a, "compatibleModel"), "sim-model");
	assert_string_equal(json_util_str(a, "sha256"), SHA256_ABC);
	assert_int_equal(json_integer_value(json_object_get(a, "size")), 3);
	assert_string_equal(json_util_str(a, "contentType"), "application/octet-stream");
	assert_string_equal(json_util_str(a, "downloadPath"), "/devicehub/artifacts/fw-1.0/content");
	assert_non_null(json_util_str(a, "createdTimeUtc"));
	json_decref(a);
	snprintf(path, sizeof(path), "%s/artifacts/fw-1.0", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fread(bytes, 1, sizeof(bytes) - 1, f), 3);
	fclose(f);
	assert_string_equal(bytes, "abc");
	assert_int_equal(count_files(), 1);
	/* Immutable: the same id again is refused and changes nothing. */
	assert_int_equal(create("fw-1.0", "2.0.0", "sim-model", "xyz", 3, NULL), DH_EARTEXISTS);
	assert_int_equal(artifact_get("fw-1.0", &a), 0);
	assert_string_equal(json_util_str(a, "version"), "1.0.0");
	json_decref(a);
	assert_int_equal(count_files(), 1);
}

static void test_artifact__generated_id_and_model_list(void **state)
{
	json_t *models = json_pack("[s, s]", "model-a", "model-b"), *a = NULL;
	artifact_spec spec = {
	    .id = NULL, .version = "3", .compatible_model = models, .content_type = "application/x-tar"};
	const char *id;

	assert_int_equal(artifact_create(&spec, "x", 1, &a), 0);
	id = json_util_str(a, "id");
	assert_int_equal(strlen(id), 32);
	assert_int_equal(strspn(id, "0123456789abcdef"), 32);
	assert_true(json_equal(json_object_get(a, "compatibleModel"), models));
	assert_string_equal(json_util_str(a, "contentType"), "application/x-tar");
	json_decref(a);
	json_decref(models);
}

static void test_artifact__list_get_delete(void **state)
{
	json_t *list = NULL, *a = NULL;
	char path[400];
	struct stat st;

	assert_int_equal(create("one", "1", "m", "1", 1, NULL), 0);
	assert_int_equal(create("two", "2", "m", "22", 2, NULL), 0);
	assert_int_equal(artifact_list(&list), 0);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	assert_int_equal(artifact_delete("one"), 0);
	snprintf(path, sizeof(path), "%s/artifacts/one", dir);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(artifact_get("one", &a), DH_ENOARTIFACT);
	assert_null(a);
	assert_int_equal(artifact_delete("one"), DH_ENOARTIFACT);
	assert_int_equal(artifact_list(&list), 0);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_util_str(json_array_get(list, 0), "id"), "two");
	json_decref(list);
	assert_int_equal(count_files(), 1);
}

static void test_artifact__bad_input_stores_nothing(void **state)
{
	char long_id[130];
	json_t *models;
	artifact_spec spec = {.id = "ok", .version = "1"};

	memset(long_id, 'a', 129);
	long_id[129] = '\0';
	const char *bad_ids[] = {"..", ".", ".tmp-1", "a/b", "a b", long_id, "caf\xc3\xa9"};
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
		assert_int_equal(create(bad_ids[i], "1", "m", "x", 1, NULL), DH_EINVAL);
	assert_int_equal(create("ok", NULL, "m", "x", 1, NULL), DH_EINVAL);
	assert_int_equal(create("ok", "1\n2", "m", "x", 1, NULL), DH_EINVAL);
	assert_int_equal(create("ok", "1", "a,b", "x", 1, NULL), DH_EINVAL);
	assert_int_equal(create("ok", "1", "", "x", 1, NULL), DH_EINVAL);
	assert_int_equal(create("ok", "1", "m", "", 0, NULL), DH_ENULL);
	/* The size is refused before the bytes are touched. */
	assert_int_equal(create("ok", "1", "m", "x", (size_t)ARTIFACT_MAX_BYTES + 1, NULL), DH_ETOOBIG);
	const char *bad_models[] = {"[]", "[1]", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]", "{}",
				    "null"};
	for (size_t i = 0; i < sizeof(bad_models) / sizeof(bad_models[0]); i++) {
		json_t *out = NULL;
		models = json_loads(bad_models[i], JSON_DECODE_ANY, NULL);
		spec.compatible_model = models;
		assert_int_equal(artifact_create(&spec, "x", 1, &out), DH_EINVAL);
		json_decref(models);
	}
	spec.compatible_model = NULL;
	{
		json_t *out = NULL;
		assert_int_equal(artifact_create(&spec, "x", 1, &out), DH_EINVAL);
	}
	assert_int_equal(count_files(), 0);
	{
		json_t *list = NULL;
		assert_int_equal(artifact_list(&list), 0);
		assert_int_equal(json_array_size(list), 0);
		json_decref(list);
	}
}

/* A write that fails half-way (here: the file size limit, EFBIG) leaves neither a file nor a row. */
static void test_artifact__failed_write_leaves_nothing(void **state)
{
	struct rlimit old, small = {.rlim_cur = 1024 * 1024, .rlim_max = 0};
	size_t len = 3 * 1024 * 1024;
	char *big = calloc(1, len);
	json_t *a = NULL;
	int rc;

	assert_non_null(big);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	rc = create("big", "1", "m", big, len, NULL);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	free(big);
	assert_int_equal(rc, DH_EIO);
	assert_int_equal(count_files(), 0);
	assert_int_equal(artifact_get("big", &a), DH_ENOARTIFACT);
}

/* What a crash leaves (a temporary file, a file whose row never committed or was deleted) goes at the
 * next start; complete artifacts stay. */
static void test_artifact__init_removes_leftovers(void **state)
{
	json_t *a = NULL;

	assert_int_equal(create("kept", "1", "m", "abc", 3, NULL), 0);
	write_file(".tmp-0011223344556677", "half");
	write_file("orphan", "no row");
	assert_int_equal(count_files(), 3);
	assert_int_equal(artifact_init(dir), 0);
	assert_int_equal(count_files(), 1);
	assert_int_equal(artifact_get("kept", &a), 0);
	json_decref(a);
}

static void test_artifact__open_and_ref(void **state)
{
	artifact_ref ref;
	char bytes[8] = "";
	int fd = -1;

	assert_int_equal(create("a:b", "1.2", "m", "abc", 3, NULL), 0);
	assert_int_equal(artifact_ref_get("a:b", &ref), 0);
	assert_string_equal(ref.download_path, "/devicehub/artifacts/a%3Ab/content");
	assert_string_equal(ref.sha256, SHA256_ABC);
	assert_int_equal(ref.size, 3);
	assert_string_equal(ref.version, "1.2");
	assert_int_equal(artifact_open("a:b", &fd, &ref), 0);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, bytes, sizeof(bytes)), 3);
	assert_string_equal(bytes, "abc");
	close(fd);
	assert_int_equal(artifact_ref_get("missing", &ref), DH_ENOARTIFACT);
	assert_int_equal(artifact_open("missing", &fd, &ref), DH_ENOARTIFACT);
	assert_int_equal(fd, -1);
	assert_int_equal(artifact_open("..", &fd, &ref), DH_EINVAL);
}

/* A row whose file vanished (removed by hand) is a server-side fault, not a download of nothing. */
static void test_artifact__open_without_file_is_an_error(void **state)
{
	artifact_ref ref;
	char path[400];
	int fd = -1;

	assert_int_equal(create("gone", "1", "m", "abc", 3, NULL), 0);
	snprintf(path, sizeof(path), "%s/artifacts/gone", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(artifact_open("gone", &fd, &ref), DH_EIO);
	assert_int_equal(fd, -1);
}

static void test_store_artifact__insert_get_each(void **state)
{
	store *s = store_thread();
	store_artifact a, b;

	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "row");
	snprintf(a.version, sizeof(a.version), "9");
	snprintf(a.compatible_model, sizeof(a.compatible_model), "\"m\"");
	snprintf(a.sha256, sizeof(a.sha256), "%s", SHA256_ABC);
	a.size = 3;
	snprintf(a.content_type, sizeof(a.content_type), "application/octet-stream");
	snprintf(a.created_time, sizeof(a.created_time), "2026-01-01T00:00:00.000Z");
	assert_int_equal(store_artifact_insert(s, &a), 0);
	assert_int_equal(store_artifact_insert(s, &a), DH_EARTEXISTS);
	assert_int_equal(store_artifact_get(s, "row", &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(store_artifact_exists(s, "row"), 1);
	assert_int_equal(store_artifact_delete(s, "row"), 0);
	assert_int_equal(store_artifact_exists(s, "row"), 0);
	assert_int_equal(store_artifact_delete(s, "row"), DH_ENOARTIFACT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_artifact__create_records_hash_size_and_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_artifact__generated_id_and_model_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_artifact__list_get_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_artifact__bad_input_stores_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_artifact__failed_write_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_artifact__init_removes_leftovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_artifact__open_and_ref, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_artifact__open_without_file_is_an_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_artifact__insert_get_each, setup, teardown),
	};

	json_util_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
